/* SPDX-License-Identifier: MIT */
/* The admin console: web/'s files, embedded at build time, served on the
 * API port at "/". */
#ifndef MCPFLEET_WEB_H
#define MCPFLEET_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"

/* One embedded file. The build generates the table from web/
 * (scripts/embed-web.cmake). */
struct web_asset {
	const char *path;          /* "/app.js" */
	const char *type;          /* its Content-Type */
	const unsigned char *data; /* len bytes, then a NUL */
	size_t len;
	const char *etag;        /* "\"HEX\"": the file's SHA-256, 128 bits */
	const unsigned char *gz; /* gzlen bytes gzipped, or NULL */
	size_t gzlen;
	const char *etag_gz; /* the gzipped form's: "\"HEX-gz\"" */
};

extern const struct web_asset web_assets[];
extern const size_t web_nassets;

/* The security policy every answer of web_serve() carries: only this
 * origin's own files, no framing. */
#define WEB_CSP                                                                \
	"default-src 'self'; base-uri 'none'; form-action 'self'; "            \
	"frame-ancestors 'none'"

/* Does an Accept-Encoding value take gzip ("gzip", "x-gzip" or "*",
 * without q=0)? NULL and "" do not. */
bool web_accepts_gzip(const char *accept_encoding);
/* Does an If-None-Match value name etag ("*", or one of a list, weak
 * comparison: W/ ignored)? NULL and "" do not. */
bool web_etag_matches(const char *if_none_match, const char *etag);

/* The asset served at path ("/" is "/index.html"), or NULL. */
const struct web_asset *web_find(const char *path);

/*
 * Answers a request for the console: GET or HEAD of "/" or of an embedded
 * file gets 200 with its bytes, Content-Type and Cache-Control; another
 * method on such a path 405 (Allow: GET, HEAD); any other path 404. Every
 * answer carries the security headers (Content-Security-Policy,
 * X-Content-Type-Options, Referrer-Policy, X-Frame-Options). A HEAD answer
 * keeps its body, so its Content-Length is right: net.c sends none of it.
 * A file is sent gzipped when the request's Accept-Encoding takes gzip and
 * the build kept a gzipped form (Content-Encoding: gzip, Vary:
 * Accept-Encoding); every file carries its ETag, and an If-None-Match that
 * names it (or "*") gets 304 without a body.
 */
void web_serve(const struct net_request *req, struct net_response *resp);

#endif
