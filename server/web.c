/* SPDX-License-Identifier: MIT */
/* The admin console's static files, served from the table the build
 * embedded (server/web.h). */
#include "web.h"

#include <string.h>

const struct web_asset *web_find(const char *path)
{
	size_t i;

	if (path == NULL)
		return NULL;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (i = 0; i < web_nassets; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			return &web_assets[i];
	return NULL;
}

/* The headers of every answer, an error page's included. */
static void web_security_headers(struct net_response *resp)
{
	(void)net_response_header(resp, "Content-Security-Policy", WEB_CSP);
	(void)net_response_header(resp, "X-Content-Type-Options", "nosniff");
	(void)net_response_header(resp, "Referrer-Policy", "no-referrer");
	(void)net_response_header(resp, "X-Frame-Options", "DENY");
	(void)net_response_header(resp, "Cross-Origin-Opener-Policy",
	                          "same-origin");
}

static void web_text(struct net_response *resp, int status, const char *msg)
{
	resp->status = status;
	buf_reset(&resp->body);
	(void)net_response_type(resp, "text/plain; charset=utf-8");
	(void)net_response_header(resp, "Cache-Control", "no-store");
	if (buf_puts(&resp->body, msg) != 0)
		buf_reset(&resp->body);
}

void web_serve(const struct net_request *req, struct net_response *resp)
{
	const struct web_asset *a = web_find(req->path);
	bool get =
	    strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

	web_security_headers(resp);
	if (a == NULL) {
		web_text(resp, 404, "not found\n");
		return;
	}
	if (!get) {
		(void)net_response_header(resp, "Allow", "GET, HEAD");
		web_text(resp, 405, "use GET or HEAD\n");
		return;
	}
	buf_reset(&resp->body);
	if (buf_append(&resp->body, a->data, a->len) != 0) {
		web_text(resp, 500, "out of memory\n");
		return;
	}
	(void)net_response_type(resp, a->type);
	/* The names are not versioned: ask every time, so that an upgraded
	 * mcpfleetd never runs with yesterday's script. */
	(void)net_response_header(resp, "Cache-Control", "no-cache");
	resp->status = 200;
}
