/* SPDX-License-Identifier: MIT */
/* Console sign-in with OpenID Connect (oidc.h): discovery, the
 * authorization request, the code exchange and the ID token's checks. */
#include "oidc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "fileio.h"
#include "jsonutil.h"
#include "jwt.h"
#include "token.h"

#define OIDC_SECRET_MAX 4096
#define OIDC_REASON_MAX 512
/* The state cookie's attributes: Lax, not Strict, since the provider's
 * redirect back to the callback is a navigation from another site. */
#define OIDC_COOKIE_ATTRS "; HttpOnly; Secure; SameSite=Lax; Path=/"
#define OIDC_STATE_AAD    "mcpfleet oidc state v1"
#define OIDC_COOKIE_MAX   1024

struct oidc {
	struct oidc_conf conf;
	char *secret;
	char redirect[OIDC_URL_MAX + 1];
	uint8_t key[CRYPTO_SEAL_KEY_LEN]; /* seals the state cookie */
	/* The discovery document, fetched on the first sign-in and kept
	 * OIDC_CACHE_TTL seconds. */
	int64_t fetched; /* 0: none */
	char auth_ep[OIDC_URL_MAX + 1];
	char token_ep[OIDC_URL_MAX + 1];
	char jwks_uri[OIDC_URL_MAX + 1];
	bool auth_post; /* client_secret_post, not client_secret_basic */
	struct jwt_keyset *keys;
};

/* ---- Identities and roles ---- */

void oidc_identity_clear(struct oidc_identity *id)
{
	size_t i;

	for (i = 0; i < id->ngroups; i++)
		free(id->groups[i]);
	free(id->groups);
	memset(id, 0, sizeof(*id));
}

const char *oidc_role_for(const struct oidc_conf *c,
                          const struct oidc_identity *id, char *why,
                          size_t whysize)
{
	const char *role;

	if (!oidc_conf_email_ok(c, id->email)) {
		(void)snprintf(why, whysize,
		               "%s is not in an allowed email domain",
		               id->email);
		return NULL;
	}
	role = oidc_conf_role(c, (const char *const *)id->groups, id->ngroups);
	if (role == NULL)
		(void)snprintf(why, whysize,
		               "%s is in no group that has a role here "
		               "(claim '%s')",
		               id->email, c->groups_claim);
	return role;
}

/* ---- The client ---- */

void oidc_free(struct oidc *o)
{
	if (o == NULL)
		return;
	if (o->secret != NULL)
		crypto_secret_free(o->secret, strlen(o->secret));
	jwt_keyset_free(o->keys);
	crypto_wipe(o, sizeof(*o));
	free(o);
}

const char *oidc_redirect_uri(const struct oidc *o)
{
	return o->redirect;
}

int oidc_new(const struct oidc_conf *conf, const char *data_dir,
             const char *default_redirect,
             const uint8_t master[CRYPTO_SEAL_KEY_LEN], struct oidc **out,
             struct diag *d)
{
	static const char info[] = "mcpfleet oidc state cookie";
	struct oidc *o = NULL;
	char *path = NULL, *data = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (conf->issuer[0] == '\0')
		return 0;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	o->conf = *conf;
	path = conf->secret_file[0] == '/'
	           ? strdup(conf->secret_file)
	           : fileio_join(data_dir, conf->secret_file);
	if (path == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	r = fileio_read(path, OIDC_SECRET_MAX, &data, &len);
	if (r != 0) {
		r = diag_set(d, -r, 0, 0, "oidc_client_secret_file %s: %s",
		             path,
		             r == -ERR_NOENT    ? "no such file"
		             : r == -ERR_TOOBIG ? "larger than 4096 bytes"
		                                : err_str(r));
		goto out;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
	                   data[len - 1] == ' ' || data[len - 1] == '\t'))
		data[--len] = '\0';
	if (len == 0 || strlen(data) != len) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "oidc_client_secret_file %s: %s", path,
		             len == 0 ? "empty" : "holds a NUL byte");
		goto out;
	}
	o->secret = data;
	data = NULL;
	if (snprintf(o->redirect, sizeof(o->redirect), "%s",
	             conf->redirect_uri[0] != '\0'
	                 ? conf->redirect_uri
	                 : default_redirect) >= (int)sizeof(o->redirect)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "oidc: the redirect URI is too long");
		goto out;
	}
	if (crypto_hkdf_sha256(NULL, 0, master, CRYPTO_SEAL_KEY_LEN, info,
	                       sizeof(info) - 1, o->key, sizeof(o->key)) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0,
		             "oidc: key derivation failed");
		goto out;
	}
	*out = o;
	o = NULL;
	r = 0;
out:
	if (data != NULL)
		crypto_secret_free(data, len);
	free(path);
	oidc_free(o);
	return r;
}

/* ---- HTTP to the provider ---- */

static size_t oidc_http_write(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len + size * n > OIDC_HTTP_MAX ||
	    buf_append(b, p, size * n) != 0)
		return 0; /* curl fails the transfer */
	return size * n;
}

/*
 * GET url, or POST form (application/x-www-form-urlencoded) with HTTP
 * basic credentials user:pass when user is not NULL. Only https, no
 * redirects, OIDC_HTTP_SECS at most, the system's CAs or oidc_ca_file.
 * Returns 0 with the JSON object answered with status 200 in *out,
 * -ERR_NETWORK or -ERR_PARSE with d saying what.
 */
static int oidc_http(struct oidc *o, const char *what, const char *url,
                     const char *form, const char *user, const char *pass,
                     json_t **out, struct diag *d)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = NULL;
	struct buf b = BUF_INIT;
	json_error_t je;
	json_t *doc = NULL;
	long status = 0;
	CURLcode cr;
	CURL *h;
	int r;

	if ((h = curl_easy_init()) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "%s: curl: out of memory",
		                what);
	errbuf[0] = '\0';
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	(void)curl_easy_setopt(h, CURLOPT_URL, url);
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	(void)curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)OIDC_HTTP_SECS);
	(void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	(void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, oidc_http_write);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	(void)curl_easy_setopt(h, CURLOPT_USERAGENT, "mcpfleetd");
	if (o->conf.ca_file[0] != '\0')
		(void)curl_easy_setopt(h, CURLOPT_CAINFO, o->conf.ca_file);
	if (form != NULL) {
		(void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
		if (user != NULL) {
			(void)curl_easy_setopt(h, CURLOPT_HTTPAUTH,
			                       (long)CURLAUTH_BASIC);
			(void)curl_easy_setopt(h, CURLOPT_USERNAME, user);
			(void)curl_easy_setopt(h, CURLOPT_PASSWORD, pass);
		}
	}
	if ((cr = curl_easy_perform(h)) != CURLE_OK) {
		r = diag_set(d, ERR_NETWORK, 0, 0, "%s: %s: %s", what, url,
		             errbuf[0] != '\0' ? errbuf
		                               : curl_easy_strerror(cr));
		goto out;
	}
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	doc = json_loadb(b.data != NULL ? b.data : "", b.len, 0, &je);
	if (status != 200) {
		const char *e =
		    json_string_value(json_object_get(doc, "error"));
		const char *ed = json_string_value(
		    json_object_get(doc, "error_description"));

		r = diag_set(d, ERR_NETWORK, 0, 0,
		             "%s: %s answered %ld%s%.100s%s%.200s", what, url,
		             status, e != NULL ? ": " : "", e != NULL ? e : "",
		             ed != NULL ? ": " : "", ed != NULL ? ed : "");
		goto out;
	}
	if (!json_is_object(doc)) {
		r = diag_set(d, ERR_PARSE, 0, 0,
		             "%s: %s: not a JSON object (%s)", what, url,
		             doc == NULL ? je.text : "another JSON value");
		goto out;
	}
	*out = doc;
	doc = NULL;
	r = 0;
out:
	json_decref(doc);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	buf_free(&b);
	return r;
}

/* Copies the https URL member name of doc into out. */
static int oidc_doc_url(const json_t *doc, const char *name, char *out,
                        size_t size, struct diag *d)
{
	const char *v = json_string_value(json_object_get(doc, name));

	if (v == NULL || strncmp(v, "https://", 8) != 0 || strlen(v) >= size)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "the provider's discovery document: \"%s\" is "
		                "not an https URL",
		                name);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* Does the array member name of doc hold s? (absent: dflt) */
static bool oidc_doc_has(const json_t *doc, const char *name, const char *s,
                         bool dflt)
{
	const json_t *a = json_object_get(doc, name), *v;
	size_t i;

	if (!json_is_array(a))
		return dflt;
	json_array_foreach(a, i, v) if (json_is_string(v) &&
	                                strcmp(json_string_value(v), s) ==
	                                    0) return true;
	return false;
}

/* Fetches the JWKS again. */
static int oidc_jwks_fetch(struct oidc *o, struct diag *d)
{
	struct jwt_keyset *ks = NULL;
	json_t *doc = NULL;
	char *text = NULL;
	int r;

	if ((r = oidc_http(o, "the provider's JWKS", o->jwks_uri, NULL, NULL,
	                   NULL, &doc, d)) != 0)
		return r;
	if ((text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = jwt_keyset_parse(text, strlen(text), &ks, d)) != 0)
		goto out;
	jwt_keyset_free(o->keys);
	o->keys = ks;
out:
	free(text);
	json_decref(doc);
	return r;
}

/* The discovery document (OpenID Connect Discovery 1.0, section 4),
 * fetched when none is kept or it is older than OIDC_CACHE_TTL, and the
 * JWKS with it. */
static int oidc_discover(struct oidc *o, int64_t now, struct diag *d)
{
	char url[OIDC_URL_MAX + 64];
	const char *iss;
	json_t *doc = NULL;
	size_t n;
	int r;

	if (o->fetched != 0 && now - o->fetched < OIDC_CACHE_TTL)
		return 0;
	n = strlen(o->conf.issuer);
	(void)snprintf(url, sizeof(url),
	               "%.*s/.well-known/openid-configuration",
	               (int)(n > 0 && o->conf.issuer[n - 1] == '/' ? n - 1 : n),
	               o->conf.issuer);
	if ((r = oidc_http(o, "the provider's discovery document", url, NULL,
	                   NULL, NULL, &doc, d)) != 0)
		return r;
	iss = json_string_value(json_object_get(doc, "issuer"));
	if (iss == NULL || strcmp(iss, o->conf.issuer) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: its issuer '%.200s' is not oidc_issuer "
		             "'%.200s'",
		             url, iss != NULL ? iss : "(none)", o->conf.issuer);
		goto out;
	}
	if ((r = oidc_doc_url(doc, "authorization_endpoint", o->auth_ep,
	                      sizeof(o->auth_ep), d)) != 0 ||
	    (r = oidc_doc_url(doc, "token_endpoint", o->token_ep,
	                      sizeof(o->token_ep), d)) != 0 ||
	    (r = oidc_doc_url(doc, "jwks_uri", o->jwks_uri, sizeof(o->jwks_uri),
	                      d)) != 0)
		goto out;
	if (!oidc_doc_has(doc, "code_challenge_methods_supported", "S256",
	                  true)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: the provider does not support PKCE with "
		             "S256",
		             url);
		goto out;
	}
	/* client_secret_basic is the default (RFC 8414, section 2). */
	o->auth_post =
	    !oidc_doc_has(doc, "token_endpoint_auth_methods_supported",
	                  "client_secret_basic", true) &&
	    oidc_doc_has(doc, "token_endpoint_auth_methods_supported",
	                 "client_secret_post", false);
	if ((r = oidc_jwks_fetch(o, d)) != 0)
		goto out;
	o->fetched = now;
out:
	if (r != 0)
		o->fetched = 0;
	json_decref(doc);
	return r;
}

/* ---- Answers ---- */

/* Appends s to b percent-encoded for a URL query or a form. */
static int oidc_urlenc(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			if (buf_append(b, s, 1) != 0)
				return -ERR_NOMEM;
			continue;
		}
		e[0] = '%';
		e[1] = hex[ch >> 4];
		e[2] = hex[ch & 15];
		if (buf_append(b, e, 3) != 0)
			return -ERR_NOMEM;
	}
	return 0;
}

/* Appends "name=value" pairs (NULL-terminated list), '&'-separated. */
static int oidc_form(struct buf *b, const char *const *kv)
{
	size_t i;

	for (i = 0; kv[i] != NULL; i += 2)
		if ((i > 0 && buf_puts(b, "&") != 0) ||
		    oidc_urlenc(b, kv[i]) != 0 || buf_puts(b, "=") != 0 ||
		    oidc_urlenc(b, kv[i + 1]) != 0)
			return -ERR_NOMEM;
	return 0;
}

static void oidc_json(struct net_response *resp, int status, json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	resp->status = s != NULL ? status : 500;
	buf_reset(&resp->body);
	(void)net_response_type(resp, "application/json");
	(void)net_response_header(resp, "Cache-Control", "no-store");
	(void)buf_puts(&resp->body, s != NULL ? s
	                                      : "{\"error\":\"out of "
	                                        "memory\"}");
	free(s);
	json_decref(o);
}

/* Appends s HTML-escaped. */
static void oidc_html_text(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			(void)buf_puts(b, "&lt;");
			break;
		case '>':
			(void)buf_puts(b, "&gt;");
			break;
		case '&':
			(void)buf_puts(b, "&amp;");
			break;
		case '"':
			(void)buf_puts(b, "&quot;");
			break;
		case '\'':
			(void)buf_puts(b, "&#39;");
			break;
		default:
			(void)buf_append(b, s, 1);
			break;
		}
	}
}

/* A plain page that says why a sign-in was refused, and the way back. */
static void oidc_page(struct net_response *resp, int status, const char *why)
{
	resp->status = status;
	buf_reset(&resp->body);
	(void)net_response_type(resp, "text/html; charset=utf-8");
	(void)net_response_header(resp, "Cache-Control", "no-store");
	(void)net_response_header(resp, "Content-Security-Policy",
	                          "default-src 'none'; "
	                          "frame-ancestors 'none'");
	(void)net_response_header(resp, "X-Content-Type-Options", "nosniff");
	(void)net_response_header(resp, "Referrer-Policy", "no-referrer");
	(void)buf_puts(&resp->body,
	               "<!doctype html>\n<html lang=\"en\"><head><meta "
	               "charset=\"utf-8\"><title>Sign-in refused - "
	               "mcpfleet</title></head>\n<body><h1>Sign-in "
	               "refused</h1>\n<p id=\"reason\">");
	oidc_html_text(&resp->body, why);
	(void)buf_puts(&resp->body, "</p>\n<p><a href=\"/\">Back to the "
	                            "console</a></p></body></html>\n");
}

static void oidc_redirect(struct net_response *resp, const char *location)
{
	resp->status = 302;
	buf_reset(&resp->body);
	(void)net_response_type(resp, "text/plain");
	(void)net_response_header(resp, "Location", location);
	(void)net_response_header(resp, "Cache-Control", "no-store");
	(void)net_response_header(resp, "Referrer-Policy", "no-referrer");
}

/*
 * Audits a sign-in or its refusal in its own transaction (the refusal
 * stands even when its row cannot be written), like POST /session's.
 */
static int oidc_audit(struct store *st, const char *actor, const char *action,
                      const char *target, json_t *details)
{
	char *text = details != NULL ? json_dumps(details, JSON_COMPACT) : NULL;
	struct diag d;
	int r;

	json_decref(details);
	if (text == NULL)
		return -ERR_NOMEM;
	if ((r = store_begin(st, &d)) != 0)
		goto out;
	if ((r = store_audit_append(st, actor, action, target, text, NULL,
	                            &d)) != 0 ||
	    (r = store_commit(st, &d)) != 0)
		(void)store_rollback(st, NULL);
out:
	free(text);
	return r;
}

static void oidc_refuse(const struct oidc_call_ctx *x,
                        const struct net_request *req,
                        struct net_response *resp, int status,
                        const char *email, const char *why)
{
	char actor[NET_PEER_MAX + 8];
	const char *peer = req->peer != NULL ? req->peer : "";

	(void)snprintf(actor, sizeof(actor), "peer:%s", peer);
	(void)oidc_audit(
	    x->st, actor, "session.refused", peer,
	    email != NULL && *email != '\0'
	        ? json_pack("{s:s,s:s,s:s}", "reason", why, "via", "oidc",
	                    "email", email)
	        : json_pack("{s:s,s:s}", "reason", why, "via", "oidc"));
	oidc_page(resp, status, why);
	(void)net_response_header(resp, "Set-Cookie",
	                          OIDC_COOKIE "=" OIDC_COOKIE_ATTRS
	                                      "; Max-Age=0");
}

/* ---- The state cookie ---- */

/*
 * What a sign-in in progress keeps: its state, nonce, PKCE verifier and
 * deadline, sealed (AES-256-GCM under a key derived from the master key,
 * which every replica holds) into the browser's cookie, so that any
 * replica can complete it (docs/design.md, "Console sign-in with OpenID
 * Connect").
 */
struct oidc_state {
	char state[TOKEN_LEN + 1];
	char nonce[TOKEN_LEN + 1];
	char verifier[TOKEN_LEN + 1];
	int64_t expires;
};

static int oidc_state_seal(struct oidc *o, struct crypto_rng *rng,
                           const struct oidc_state *s, char *cookie,
                           size_t size)
{
	char *text = NULL;
	uint8_t *sealed = NULL;
	size_t len = 0, n;
	json_t *j;
	int r = -ERR_NOMEM;

	j = json_pack("{s:s,s:s,s:s,s:I}", "s", s->state, "n", s->nonce, "v",
	              s->verifier, "e", (json_int_t)s->expires);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL)
		goto out;
	if ((r = crypto_seal(rng, o->key, OIDC_STATE_AAD,
	                     sizeof(OIDC_STATE_AAD) - 1, text, strlen(text),
	                     &sealed, &len, NULL)) != 0)
		goto out;
	n = (size_t)snprintf(cookie, size, "%s=", OIDC_COOKIE);
	if (n >= size ||
	    (r = jwt_b64url_encode(sealed, len, cookie + n, size - n)) != 0)
		goto out;
	n = strlen(cookie);
	if (n + sizeof(OIDC_COOKIE_ATTRS) + 16 > size) {
		r = -ERR_TRUNC;
		goto out;
	}
	(void)snprintf(cookie + n, size - n, "%s; Max-Age=%d",
	               OIDC_COOKIE_ATTRS, OIDC_STATE_TTL);
	r = 0;
out:
	if (text != NULL)
		crypto_secret_free(text, strlen(text));
	free(sealed);
	json_decref(j);
	return r;
}

/* The value of cookie name in a Cookie header, into out; false if none. */
static bool oidc_cookie_get(const char *header, const char *name, char *out,
                            size_t size)
{
	const char *p = header != NULL ? header : "", *end;
	size_t n = strlen(name), len;

	for (; *p != '\0'; p = end) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = p + strcspn(p, ";");
		if ((size_t)(end - p) <= n || strncmp(p, name, n) != 0 ||
		    p[n] != '=')
			continue;
		len = (size_t)(end - p) - n - 1;
		while (len > 0 && (p[n + 1 + len - 1] == ' '))
			len--;
		if (len >= size)
			return false;
		memcpy(out, p + n + 1, len);
		out[len] = '\0';
		return true;
	}
	return false;
}

/* Opens the state cookie of a request: -ERR_NOENT when there is none,
 * -ERR_VERIFY when it was not sealed here. */
static int oidc_state_open(struct oidc *o, const char *cookie_header,
                           struct oidc_state *out)
{
	char val[OIDC_COOKIE_MAX];
	uint8_t raw[OIDC_COOKIE_MAX], *pt = NULL;
	size_t rawlen = 0, ptlen = 0;
	const char *s, *n, *v;
	json_t *j = NULL;
	int r = -ERR_VERIFY;

	if (!oidc_cookie_get(cookie_header, OIDC_COOKIE, val, sizeof(val)) ||
	    val[0] == '\0')
		return -ERR_NOENT;
	if (jwt_b64url_decode(val, strlen(val), raw, sizeof(raw), &rawlen) !=
	        0 ||
	    crypto_open(o->key, OIDC_STATE_AAD, sizeof(OIDC_STATE_AAD) - 1, raw,
	                rawlen, &pt, &ptlen, NULL) != 0)
		goto out;
	if ((j = json_loadb((const char *)pt, ptlen, 0, NULL)) == NULL)
		goto out;
	s = json_string_value(json_object_get(j, "s"));
	n = json_string_value(json_object_get(j, "n"));
	v = json_string_value(json_object_get(j, "v"));
	if (s == NULL || n == NULL || v == NULL || strlen(s) != TOKEN_LEN ||
	    strlen(n) != TOKEN_LEN || strlen(v) != TOKEN_LEN ||
	    !json_is_integer(json_object_get(j, "e")))
		goto out;
	memcpy(out->state, s, TOKEN_LEN + 1);
	memcpy(out->nonce, n, TOKEN_LEN + 1);
	memcpy(out->verifier, v, TOKEN_LEN + 1);
	out->expires = json_integer_value(json_object_get(j, "e"));
	r = 0;
out:
	if (pt != NULL)
		crypto_secret_free(pt, ptlen);
	json_decref(j);
	crypto_wipe(raw, sizeof(raw));
	return r;
}

/* ---- The flow ---- */

static int64_t oidc_now(const struct oidc_call_ctx *x)
{
	return x->now != 0 ? x->now : store_now(x->st);
}

/* GET OIDC_PREFIX "/login": to the provider, with a new state. */
static void oidc_login(struct oidc *o, const struct oidc_call_ctx *x,
                       const struct net_request *req, struct net_response *resp)
{
	char scratch[CRYPTO_HEX_LEN + 1], challenge[64];
	char cookie[OIDC_COOKIE_MAX];
	uint8_t md[CRYPTO_HASH_LEN];
	struct oidc_state s;
	struct buf url = BUF_INIT;
	struct diag d;
	int64_t now = oidc_now(x);

	memset(&s, 0, sizeof(s));
	diag_clear(&d);
	if (!session_login_allow(x->sessions, req->peer, now)) {
		oidc_page(resp, 429,
		          "too many sign-in attempts from this address; wait a "
		          "minute");
		goto out;
	}
	if (oidc_discover(o, now, &d) != 0) {
		oidc_refuse(x, req, resp, 502, NULL, d.msg);
		goto out;
	}
	if (token_new(x->rng, s.state, scratch) != 0 ||
	    token_new(x->rng, s.nonce, scratch) != 0 ||
	    token_new(x->rng, s.verifier, scratch) != 0 ||
	    crypto_sha256(s.verifier, TOKEN_LEN, md) != 0 ||
	    jwt_b64url_encode(md, sizeof(md), challenge, sizeof(challenge)) !=
	        0) {
		oidc_page(resp, 500, "cannot make a sign-in state");
		goto out;
	}
	s.expires = now + OIDC_STATE_TTL;
	if (oidc_state_seal(o, x->rng, &s, cookie, sizeof(cookie)) != 0) {
		oidc_page(resp, 500, "cannot seal the sign-in state");
		goto out;
	}
	{
		const char *kv[] = {"response_type",
		                    "code",
		                    "client_id",
		                    o->conf.client_id,
		                    "redirect_uri",
		                    o->redirect,
		                    "scope",
		                    o->conf.scopes,
		                    "state",
		                    s.state,
		                    "nonce",
		                    s.nonce,
		                    "code_challenge",
		                    challenge,
		                    "code_challenge_method",
		                    "S256",
		                    NULL};

		if (buf_puts(&url, o->auth_ep) != 0 ||
		    buf_puts(&url,
		             strchr(o->auth_ep, '?') != NULL ? "&" : "?") !=
		        0 ||
		    oidc_form(&url, kv) != 0 || buf_append(&url, "", 1) != 0) {
			oidc_page(resp, 500, "out of memory");
			goto out;
		}
	}
	oidc_redirect(resp, url.data);
	(void)net_response_header(resp, "Set-Cookie", cookie);
out:
	buf_free(&url);
	crypto_wipe(&s, sizeof(s));
	crypto_wipe(cookie, sizeof(cookie));
}

/* Reads the person from verified claims. Returns 0, or -ERR_INVALID with
 * why filled. */
static int oidc_identity_read(const struct oidc *o, const json_t *claims,
                              struct oidc_identity *id, char *why,
                              size_t whysize)
{
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	const char *email = json_string_value(json_object_get(claims, "email"));
	const json_t *ev = json_object_get(claims, "email_verified");
	const json_t *g = json_object_get(claims, o->conf.groups_claim), *v;
	size_t i, n;

	memset(id, 0, sizeof(*id));
	if (email == NULL || strlen(email) >= sizeof(id->email) ||
	    strlen(email) + 5 > SESSION_IDENTITY_MAX) {
		(void)snprintf(why, whysize,
		               "the ID token has no usable \"email\" claim "
		               "(ask for the 'email' scope)");
		return -ERR_INVALID;
	}
	/* A provider that says the address is unverified is not trusted
	 * with it; one that does not say (some omit it) is. */
	if (json_is_false(ev) ||
	    (json_is_string(ev) &&
	     strcmp(json_string_value(ev), "false") == 0)) {
		(void)snprintf(why, whysize,
		               "the provider has not verified the address %s",
		               jsonutil_printable(email));
		return -ERR_INVALID;
	}
	for (i = 0; email[i] != '\0'; i++)
		if ((unsigned char)email[i] <= 0x20 ||
		    (unsigned char)email[i] >= 0x7f) {
			(void)snprintf(why, whysize,
			               "the ID token's email is not printable "
			               "ASCII");
			return -ERR_INVALID;
		}
	(void)snprintf(id->subject, sizeof(id->subject), "%s", sub);
	memcpy(id->email, email, strlen(email) + 1);
	n = json_is_array(g) ? json_array_size(g) : json_is_string(g) ? 1 : 0;
	if (n > 256)
		n = 256;
	if (n > 0 && (id->groups = calloc(n, sizeof(char *))) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		v = json_is_array(g) ? json_array_get(g, i) : g;
		if (!json_is_string(v))
			continue;
		if ((id->groups[id->ngroups] = strdup(json_string_value(v))) ==
		    NULL)
			goto nomem;
		id->ngroups++;
	}
	return 0;
nomem:
	oidc_identity_clear(id);
	(void)snprintf(why, whysize, "out of memory");
	return -ERR_NOMEM;
}

/* Exchanges the code and verifies the ID token into *id. Returns 0, or a
 * negative code with why filled. */
static int oidc_exchange(struct oidc *o, const struct oidc_call_ctx *x,
                         const char *code, const struct oidc_state *s,
                         struct oidc_identity *id, char *why, size_t whysize)
{
	struct buf form = BUF_INIT;
	struct jwt_expect ex;
	json_t *tok = NULL, *claims = NULL;
	const char *idt;
	struct diag d;
	int r;

	diag_clear(&d);
	{
		const char *kv[] = {"grant_type",
		                    "authorization_code",
		                    "code",
		                    code,
		                    "redirect_uri",
		                    o->redirect,
		                    "code_verifier",
		                    s->verifier,
		                    "client_id",
		                    o->conf.client_id,
		                    o->auth_post ? "client_secret" : NULL,
		                    o->secret,
		                    NULL};

		if (oidc_form(&form, kv) != 0 ||
		    buf_append(&form, "", 1) != 0) {
			r = -ERR_NOMEM;
			(void)snprintf(why, whysize, "out of memory");
			goto out;
		}
	}
	if ((r = oidc_http(o, "the provider's token endpoint", o->token_ep,
	                   form.data, o->auth_post ? NULL : o->conf.client_id,
	                   o->secret, &tok, &d)) != 0) {
		(void)snprintf(why, whysize, "%s", d.msg);
		goto out;
	}
	idt = json_string_value(json_object_get(tok, "id_token"));
	if (idt == NULL) {
		r = -ERR_INVALID;
		(void)snprintf(why, whysize,
		               "the token endpoint answered no id_token");
		goto out;
	}
	ex.issuer = o->conf.issuer;
	ex.audience = o->conf.client_id;
	ex.nonce = s->nonce;
	ex.now = oidc_now(x);
	ex.leeway = JWT_LEEWAY;
	r = jwt_verify(idt, o->keys, &ex, &claims, &d);
	if (r == -ERR_NOENT) {
		/* The provider may have rolled its keys: fetch them once. */
		diag_clear(&d);
		if ((r = oidc_jwks_fetch(o, &d)) == 0)
			r = jwt_verify(idt, o->keys, &ex, &claims, &d);
	}
	if (r != 0) {
		(void)snprintf(why, whysize, "%s", d.msg);
		goto out;
	}
	r = oidc_identity_read(o, claims, id, why, whysize);
out:
	if (form.data != NULL)
		crypto_wipe(form.data, form.len);
	buf_free(&form);
	json_decref(tok);
	json_decref(claims);
	return r;
}

/* GET OIDC_PREFIX "/callback": the provider sends the browser back. */
static void oidc_callback(struct oidc *o, const struct oidc_call_ctx *x,
                          const struct net_request *req,
                          struct net_response *resp)
{
	const char *code = net_request_param(req, "code");
	const char *state = net_request_param(req, "state");
	const char *err = net_request_param(req, "error");
	const char *errd = net_request_param(req, "error_description");
	char why[OIDC_REASON_MAX], identity[SESSION_IDENTITY_MAX + 1];
	char cookie[SESSION_COOKIE_MAX];
	struct oidc_identity id;
	struct oidc_state s;
	struct session se;
	const char *role;
	struct diag d;
	int64_t now = oidc_now(x);
	int r;

	memset(&id, 0, sizeof(id));
	memset(&s, 0, sizeof(s));
	memset(&se, 0, sizeof(se));
	memset(cookie, 0, sizeof(cookie));
	diag_clear(&d);
	if (err != NULL) {
		(void)snprintf(why, sizeof(why),
		               "the identity provider refused: %.100s%s%.200s",
		               jsonutil_printable(err),
		               errd != NULL ? ": " : "",
		               errd != NULL ? jsonutil_printable(errd) : "");
		oidc_refuse(x, req, resp, 403, NULL, why);
		goto out;
	}
	r = oidc_state_open(o, req->cookie, &s);
	if (r != 0) {
		oidc_refuse(
		    x, req, resp, 400, NULL,
		    r == -ERR_NOENT
		        ? "no sign-in is under way in this browser (it "
		          "expired, or was completed already); sign in "
		          "again"
		        : "the sign-in state cookie was not made by this "
		          "server; sign in again");
		goto out;
	}
	if (now > s.expires) {
		oidc_refuse(x, req, resp, 400, NULL,
		            "the sign-in took more than 10 minutes; sign in "
		            "again");
		goto out;
	}
	if (state == NULL || strlen(state) != TOKEN_LEN ||
	    !crypto_ct_equal(state, s.state, TOKEN_LEN)) {
		oidc_refuse(x, req, resp, 400, NULL,
		            "the state the provider sent back is not this "
		            "browser's sign-in; sign in again");
		goto out;
	}
	if (code == NULL || *code == '\0' || strlen(code) > 2048) {
		oidc_refuse(x, req, resp, 400, NULL,
		            "the provider sent no authorization code");
		goto out;
	}
	if (oidc_discover(o, now, &d) != 0) {
		oidc_refuse(x, req, resp, 502, NULL, d.msg);
		goto out;
	}
	if (oidc_exchange(o, x, code, &s, &id, why, sizeof(why)) != 0) {
		oidc_refuse(x, req, resp, 403, id.email, why);
		goto out;
	}
	if ((role = oidc_role_for(&o->conf, &id, why, sizeof(why))) == NULL) {
		oidc_refuse(x, req, resp, 403, id.email, why);
		goto out;
	}
	/* oidc_identity_read() refused an address too long for this. */
	r = snprintf(identity, sizeof(identity), "oidc:%s", id.email);
	if (r < 0 || (size_t)r >= sizeof(identity) ||
	    session_new_identity(x->rng, identity, role, now, &se, cookie,
	                         sizeof(cookie)) != 0) {
		oidc_page(resp, 500, "cannot make a session");
		goto out;
	}
	/* The session and its audit row commit together. */
	if (store_begin(x->st, &d) != 0) {
		oidc_page(resp, 500, "the store is not available; try again");
		goto out;
	}
	{
		json_t *det =
		    json_pack("{s:s,s:s,s:s,s:s}", "peer",
		              req->peer != NULL ? req->peer : "", "via", "oidc",
		              "subject", id.subject, "role", role);
		char *text = det != NULL ? json_dumps(det, JSON_COMPACT) : NULL;

		json_decref(det);
		r = text == NULL
		        ? -ERR_NOMEM
		        : session_install(x->sessions, req->cookie, &se, now);
		if (r == 0)
			r = store_audit_append(x->st, identity, "session.login",
			                       identity, text, NULL, &d);
		if (r == 0)
			r = store_commit(x->st, &d);
		free(text);
		if (r != 0) {
			(void)store_rollback(x->st, NULL);
			oidc_page(resp, 500,
			          "cannot store the session; try again");
			goto out;
		}
	}
	oidc_redirect(resp, "/");
	(void)net_response_header(resp, "Set-Cookie", cookie);
	(void)net_response_header(resp, "Set-Cookie",
	                          OIDC_COOKIE "=" OIDC_COOKIE_ATTRS
	                                      "; Max-Age=0");
out:
	oidc_identity_clear(&id);
	crypto_wipe(&s, sizeof(s));
	crypto_wipe(&se, sizeof(se));
	crypto_wipe(cookie, sizeof(cookie));
}

void oidc_handle(struct oidc *o, const struct oidc_call_ctx *x,
                 const struct net_request *req, struct net_response *resp)
{
	const char *rest = req->path + strlen(OIDC_PREFIX);
	bool get =
	    strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

	if (strcmp(rest, "") != 0 && strcmp(rest, "/login") != 0 &&
	    strcmp(rest, "/callback") != 0) {
		oidc_json(resp, 404, json_pack("{s:s}", "error", "not found"));
		return;
	}
	if (!get) {
		oidc_json(resp, 405, json_pack("{s:s}", "error", "use GET"));
		(void)net_response_header(resp, "Allow", "GET, HEAD");
		return;
	}
	if (*rest == '\0') {
		oidc_json(resp, 200,
		          o == NULL ? json_pack("{s:b}", "enabled", 0)
		                    : json_pack("{s:b,s:s,s:s}", "enabled", 1,
		                                "label",
		                                o->conf.label[0] != '\0'
		                                    ? o->conf.label
		                                    : "your identity provider",
		                                "login", OIDC_PREFIX "/login"));
		return;
	}
	if (o == NULL || x->sessions == NULL) {
		oidc_json(
		    resp, 404,
		    json_pack("{s:s}", "error",
		              "sign-in with OpenID Connect is not "
		              "configured (oidc_issuer in mcpfleetd.conf)"));
		return;
	}
	if (strcmp(rest, "/login") == 0)
		oidc_login(o, x, req, resp);
	else
		oidc_callback(o, x, req, resp);
}
