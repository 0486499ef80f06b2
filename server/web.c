/* SPDX-License-Identifier: MIT */
/* The admin console's static files, served from the table the build
 * embedded (server/web.h). */
#include "web.h"

#include <string.h>
#include <strings.h>

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

/* Skips spaces and tabs. */
static const char *web_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Is the parameter list p (after a coding's ';', up to ',' or NUL) a
 * q of zero ("q=0", "q=0.0", ..., RFC 9110, 12.4.2)? */
static bool web_q_zero(const char *p)
{
	for (;;) {
		p = web_ows(p);
		if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			p += 2;
			if (*p++ != '0')
				return false;
			if (*p == '.')
				for (p++; *p == '0'; p++)
					;
			p = web_ows(p);
			return *p == '\0' || *p == ',' || *p == ';';
		}
		while (*p != '\0' && *p != ';' && *p != ',')
			p++;
		if (*p != ';')
			return false;
		p++;
	}
}

/* The next element of the comma-separated list at *p (a header value),
 * without the spaces around it: its start, with *len, or NULL at the end
 * (and for NULL). Moves *p past the element and its comma. */
static const char *web_list_next(const char **p, size_t *len)
{
	const char *s, *end;

	if (*p == NULL || **p == '\0')
		return NULL;
	s = web_ows(*p);
	end = strchr(s, ',');
	*p = end != NULL ? end + 1 : s + strlen(s);
	if (end == NULL)
		end = *p;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*len = (size_t)(end - s);
	return s;
}

bool web_accepts_gzip(const char *ae)
{
	const char *p = ae, *s, *params;
	size_t n, len;

	while ((s = web_list_next(&p, &len)) != NULL) {
		for (n = 0;
		     n < len && s[n] != ';' && s[n] != ' ' && s[n] != '\t'; n++)
			;
		params = web_ows(s + n);
		if (((n == 4 && strncasecmp(s, "gzip", 4) == 0) ||
		     (n == 6 && strncasecmp(s, "x-gzip", 6) == 0) ||
		     (n == 1 && *s == '*')) &&
		    !(*params == ';' && web_q_zero(params + 1)))
			return true;
	}
	return false;
}

bool web_etag_matches(const char *inm, const char *etag)
{
	const char *p = inm, *s;
	size_t n = strlen(etag), len;

	while ((s = web_list_next(&p, &len)) != NULL) {
		if (len > 0 && *s == '*')
			return true;
		if (len >= 2 && s[0] == 'W' && s[1] == '/') {
			s += 2;
			len -= 2;
		}
		if (len == n && memcmp(s, etag, n) == 0)
			return true;
	}
	return false;
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
	const char *etag;
	bool gz;

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
	gz = a->gz != NULL && web_accepts_gzip(req->accept_encoding);
	etag = gz ? a->etag_gz : a->etag;
	buf_reset(&resp->body);
	(void)net_response_type(resp, a->type);
	/* The names are not versioned: ask every time, so that an upgraded
	 * mcpfleetd never runs with yesterday's script; the ETag makes the
	 * asking cheap. */
	(void)net_response_header(resp, "Cache-Control", "no-cache");
	(void)net_response_header(resp, "ETag", etag);
	if (a->gz != NULL)
		(void)net_response_header(resp, "Vary", "Accept-Encoding");
	if (web_etag_matches(req->if_none_match, etag)) {
		resp->status = 304;
		return;
	}
	if (gz)
		(void)net_response_header(resp, "Content-Encoding", "gzip");
	if (buf_append(&resp->body, gz ? a->gz : a->data,
	               gz ? a->gzlen : a->len) != 0) {
		web_text(resp, 500, "out of memory\n");
		return;
	}
	resp->status = 200;
}
