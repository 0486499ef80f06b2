/* SPDX-License-Identifier: MIT */
/* Unit tests: server/web.c, the embedded web console: what is served, with
 * which headers, and that the files stay fit for a strict CSP. */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "net.h"
#include "web.h"

/* One answer of web_serve(). */
struct tw_answer {
	int status;
	char type[128];
	struct buf body;
	struct buf headers;
};

/* Answers method path with the request headers Accept-Encoding ae and
 * If-None-Match inm (NULL: absent, as net.c never gives). */
static void tw_serve_with(const char *method, const char *path, const char *ae,
                          const char *inm, struct tw_answer *out)
{
	struct net_request req;
	struct net_response resp;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = method;
	req.path = path;
	req.accept_encoding = ae != NULL ? ae : "";
	req.if_none_match = inm != NULL ? inm : "";
	req.host = "fleet.example:7444";
	req.origin = "";
	req.authorization = "";
	req.content_type = "";
	req.cookie = "";
	req.csrf_token = "";
	req.body = "";
	req.peer = "127.0.0.1";
	web_serve(&req, &resp);
	memset(out, 0, sizeof(*out));
	out->status = resp.status;
	(void)snprintf(out->type, sizeof(out->type), "%s", resp.content_type);
	out->body = resp.body;
	out->headers = resp.headers;
}

static void tw_serve(const char *method, const char *path,
                     struct tw_answer *out)
{
	tw_serve_with(method, path, NULL, NULL, out);
}

static void tw_free(struct tw_answer *a)
{
	buf_free(&a->body);
	buf_free(&a->headers);
}

static void tw_expect_header(const struct tw_answer *a, const char *name,
                             const char *value)
{
	char got[512];

	if (!tu_header(&a->headers, name, got, sizeof(got)))
		fail_msg("no %s header", name);
	assert_string_equal(got, value);
}

/* The headers every answer carries, errors included. */
static void tw_expect_security(const struct tw_answer *a)
{
	tw_expect_header(a, "Content-Security-Policy", WEB_CSP);
	tw_expect_header(a, "X-Content-Type-Options", "nosniff");
	tw_expect_header(a, "Referrer-Policy", "no-referrer");
	tw_expect_header(a, "X-Frame-Options", "DENY");
	assert_non_null(strstr(WEB_CSP, "default-src 'self'"));
	assert_non_null(strstr(WEB_CSP, "frame-ancestors 'none'"));
}

static void test_web_index(void **state)
{
	const struct web_asset *idx = web_find("/index.html");
	struct tw_answer a;

	(void)state;
	assert_non_null(idx);
	assert_ptr_equal(web_find("/"), idx);
	tw_serve("GET", "/", &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.type, "text/html; charset=utf-8");
	assert_int_equal(a.body.len, idx->len);
	assert_memory_equal(a.body.data, idx->data, idx->len);
	assert_true(strncmp(a.body.data, "<!DOCTYPE html>", 15) == 0);
	tw_expect_security(&a);
	tw_expect_header(&a, "Cache-Control", "no-cache");
	tw_free(&a);
	tw_serve("GET", "/index.html", &a);
	assert_int_equal(a.status, 200);
	assert_int_equal(a.body.len, idx->len);
	tw_free(&a);
}

/* Every file in web/ is served, byte for byte, with its type. */
static void test_web_assets(void **state)
{
	static const struct {
		const char *file;
		const char *type;
	} want[] = {
	    {"index.html", "text/html; charset=utf-8"},
	    {"app.css", "text/css; charset=utf-8"},
	    {"app.js", "text/javascript; charset=utf-8"},
	    {"live.js", "text/javascript; charset=utf-8"},
	    {"favicon.svg", "image/svg+xml"},
	};
	char path[64], rel[64];
	struct tw_answer a;
	size_t i, len;
	char *src;

	(void)state;
	assert_int_equal(web_nassets, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		(void)snprintf(path, sizeof(path), "/%s", want[i].file);
		(void)snprintf(rel, sizeof(rel), "../web/%s", want[i].file);
		src = tu_read_data(rel, &len);
		tw_serve("GET", path, &a);
		assert_int_equal(a.status, 200);
		assert_string_equal(a.type, want[i].type);
		assert_int_equal(a.body.len, len);
		assert_memory_equal(a.body.data, src, len);
		/* The table keeps a NUL after the bytes. */
		assert_int_equal(web_find(path)->data[len], 0);
		tw_expect_security(&a);
		tw_expect_header(&a, "Cache-Control", "no-cache");
		tw_free(&a);
		free(src);
	}
}

/* What gzip -dc makes of n bytes. */
static char *tw_gunzip(const void *data, size_t n, size_t *outlen)
{
	char *dir = tu_mkdtemp(), path[512], cmd[600];
	char *out;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/x.gz", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	(void)snprintf(cmd, sizeof(cmd), "gzip -dc '%s' > '%s/x'", path, dir);
	assert_int_equal(system(cmd), 0);
	(void)snprintf(path, sizeof(path), "%s/x", dir);
	out = tu_read(path, outlen);
	tu_rmtree(dir);
	free(dir);
	return out;
}

/* Accept-Encoding with gzip gets the build's gzipped form, which gzip
 * reads back to the file; without it, or with q=0, the file itself. Both
 * say Vary: Accept-Encoding, each with its own ETag. */
static void test_web_gzip(void **state)
{
	static const char *const takes[] = {
	    "gzip", "gzip, deflate, br",       "br;q=1.0, GZIP;q=0.5", "x-gzip",
	    "*",    "deflate , gzip ; q=0.001"};
	static const char *const refuses[] = {
	    "",      "identity", "br, deflate", "gzip;q=0", "gzip; q=0.000, br",
	    "gzipx", "*;q=0"};
	const struct web_asset *js = web_find("/app.js");
	struct tw_answer a;
	size_t i, n = 0;
	char *plain, enc[64];

	(void)state;
	for (i = 0; i < sizeof(takes) / sizeof(takes[0]); i++)
		if (!web_accepts_gzip(takes[i]))
			fail_msg("'%s' takes gzip", takes[i]);
	for (i = 0; i < sizeof(refuses) / sizeof(refuses[0]); i++)
		if (web_accepts_gzip(refuses[i]))
			fail_msg("'%s' does not take gzip", refuses[i]);
	assert_false(web_accepts_gzip(NULL));
	assert_non_null(js->gz);
	assert_true(js->gzlen < js->len / 2);
	tw_serve_with("GET", "/app.js", "gzip, deflate, br", NULL, &a);
	assert_int_equal(a.status, 200);
	tw_expect_header(&a, "Content-Encoding", "gzip");
	tw_expect_header(&a, "Vary", "Accept-Encoding");
	tw_expect_header(&a, "ETag", js->etag_gz);
	tw_expect_security(&a);
	assert_int_equal(a.body.len, js->gzlen);
	plain = tw_gunzip(a.body.data, a.body.len, &n);
	assert_int_equal(n, js->len);
	assert_memory_equal(plain, js->data, n);
	free(plain);
	tw_free(&a);
	tw_serve_with("GET", "/app.js", "gzip;q=0", NULL, &a);
	assert_false(
	    tu_header(&a.headers, "Content-Encoding", enc, sizeof(enc)));
	tw_expect_header(&a, "Vary", "Accept-Encoding");
	tw_expect_header(&a, "ETag", js->etag);
	assert_int_equal(a.body.len, js->len);
	tw_free(&a);
	assert_string_not_equal(js->etag, js->etag_gz);
}

/* If-None-Match naming the ETag of the form that would be sent gets 304
 * with no body (and the ETag); another tag, or the other form's, 200. */
static void test_web_etag(void **state)
{
	const struct web_asset *css = web_find("/app.css");
	char list[256], weak[128];
	struct tw_answer a;
	size_t i;

	(void)state;
	for (i = 0; i < web_nassets; i++) {
		const char *t = web_assets[i].etag;

		/* A quoted SHA-256 prefix of 128 bits. */
		assert_int_equal(strlen(t), 34);
		assert_true(t[0] == '"' && t[33] == '"');
		assert_int_equal(strspn(t + 1, "0123456789abcdef"), 32);
	}
	tw_serve_with("GET", "/app.css", NULL, css->etag, &a);
	assert_int_equal(a.status, 304);
	assert_int_equal(a.body.len, 0);
	tw_expect_header(&a, "ETag", css->etag);
	tw_expect_header(&a, "Cache-Control", "no-cache");
	tw_expect_security(&a);
	tw_free(&a);
	(void)snprintf(list, sizeof(list), "\"abc\", %s , \"def\"",
	               css->etag_gz);
	tw_serve_with("GET", "/app.css", "gzip", list, &a);
	assert_int_equal(a.status, 304);
	tw_free(&a);
	(void)snprintf(weak, sizeof(weak), "W/%s", css->etag);
	tw_serve_with("HEAD", "/app.css", NULL, weak, &a);
	assert_int_equal(a.status, 304);
	tw_free(&a);
	tw_serve_with("GET", "/app.css", NULL, "*", &a);
	assert_int_equal(a.status, 304);
	tw_free(&a);
	/* The gzipped form's tag does not stand for the file, nor the
	 * reverse, nor a tag of another file or an older build. */
	tw_serve_with("GET", "/app.css", NULL, css->etag_gz, &a);
	assert_int_equal(a.status, 200);
	assert_int_equal(a.body.len, css->len);
	tw_free(&a);
	tw_serve_with("GET", "/app.css", "gzip", css->etag, &a);
	assert_int_equal(a.status, 200);
	assert_int_equal(a.body.len, css->gzlen);
	tw_free(&a);
	tw_serve_with("GET", "/app.css", NULL, web_find("/app.js")->etag, &a);
	assert_int_equal(a.status, 200);
	tw_free(&a);
	tw_serve_with("GET", "/app.css", NULL,
	              "\"00000000000000000000000000000000\"", &a);
	assert_int_equal(a.status, 200);
	tw_free(&a);
	assert_false(web_etag_matches(NULL, css->etag));
	assert_false(web_etag_matches("", css->etag));
}

/* HEAD answers as GET would, body included: net.c sends its length as
 * Content-Length and none of its bytes. */
static void test_web_head(void **state)
{
	struct tw_answer get, head;

	(void)state;
	tw_serve("GET", "/app.js", &get);
	tw_serve("HEAD", "/app.js", &head);
	assert_int_equal(head.status, 200);
	assert_string_equal(head.type, get.type);
	assert_int_equal(head.body.len, get.body.len);
	assert_int_equal(head.headers.len, get.headers.len);
	assert_memory_equal(head.headers.data, get.headers.data,
	                    get.headers.len);
	tw_free(&get);
	tw_free(&head);
	tw_serve("HEAD", "/nope", &head);
	assert_int_equal(head.status, 404);
	tw_free(&head);
}

static void test_web_not_found(void **state)
{
	static const char *const paths[] = {
	    "/nope", "/index.htm", "/app.js/", "/APP.JS",
	    "",      "/app.js.",   "//",       "/web/app.js",
	};
	struct tw_answer a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		tw_serve("GET", paths[i], &a);
		if (a.status != 404)
			fail_msg("%s: %d", paths[i], a.status);
		assert_string_equal(a.type, "text/plain; charset=utf-8");
		tw_expect_security(&a);
		tw_expect_header(&a, "Cache-Control", "no-store");
		tw_free(&a);
	}
	assert_null(web_find(NULL));
}

static void test_web_methods(void **state)
{
	static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH",
	                                      "OPTIONS"};
	struct tw_answer a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		tw_serve(methods[i], "/", &a);
		assert_int_equal(a.status, 405);
		tw_expect_header(&a, "Allow", "GET, HEAD");
		tw_expect_security(&a);
		tw_free(&a);
	}
	tw_serve("POST", "/nope", &a);
	assert_int_equal(a.status, 404);
	tw_free(&a);
}

/* Does text hold needle, ignoring ASCII case? */
static bool tw_has(const char *text, const char *needle)
{
	size_t n = strlen(needle);
	const char *p;

	for (p = text; *p != '\0'; p++)
		if (strncasecmp(p, needle, n) == 0)
			return true;
	return false;
}

/*
 * What the CSP (default-src 'self', no 'unsafe-inline') requires of the
 * files, and what the console promises: no inline script, style or event
 * handler, nothing from another origin, and no markup built from strings.
 */
static void test_web_csp_friendly(void **state)
{
	static const char *const html_bad[] = {
	    "<style",     " style=",     " onclick=", " onload=", " onerror=",
	    " onsubmit=", "javascript:", "http://",   "https://", "//cdn",
	};
	static const char *const js_bad[] = {
	    "innerHTML",
	    "outerHTML",
	    "insertAdjacentHTML",
	    "document.write",
	    "eval(",
	    "new Function",
	    "setAttribute('style'",
	    ".cssText",
	    "import(",
	    "XMLHttpRequest",
	};
	const struct web_asset *idx = web_find("/index.html");
	const struct web_asset *js = web_find("/app.js");
	const struct web_asset *live = web_find("/live.js");
	const struct web_asset *css = web_find("/app.css");
	const char *p, *q;
	size_t i, scripts = 0;

	(void)state;
	for (i = 0; i < sizeof(html_bad) / sizeof(html_bad[0]); i++)
		if (tw_has((const char *)idx->data, html_bad[i]))
			fail_msg("index.html holds '%s'", html_bad[i]);
	/* Every <script> has a src on this origin and is empty. */
	for (p = (const char *)idx->data; (p = strstr(p, "<script")) != NULL;
	     p++) {
		char tag[256];

		q = strchr(p, '>');
		assert_non_null(q);
		assert_true((size_t)(q - p) < sizeof(tag));
		memcpy(tag, p, (size_t)(q - p));
		tag[q - p] = '\0';
		assert_non_null(strstr(tag, " src=\"/"));
		assert_true(strncmp(q, "></script>", 10) == 0);
		scripts++;
	}
	assert_int_equal(scripts, 2); /* app.js, live.js */
	for (i = 0; i < sizeof(js_bad) / sizeof(js_bad[0]); i++) {
		if (strstr((const char *)js->data, js_bad[i]) != NULL)
			fail_msg("app.js holds '%s'", js_bad[i]);
		if (strstr((const char *)live->data, js_bad[i]) != NULL)
			fail_msg("live.js holds '%s'", js_bad[i]);
	}
	assert_null(strstr((const char *)css->data, "@import"));
	assert_null(strstr((const char *)css->data, "url("));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_web_index),
	    cmocka_unit_test(test_web_assets),
	    cmocka_unit_test(test_web_head),
	    cmocka_unit_test(test_web_gzip),
	    cmocka_unit_test(test_web_etag),
	    cmocka_unit_test(test_web_not_found),
	    cmocka_unit_test(test_web_methods),
	    cmocka_unit_test(test_web_csp_friendly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
