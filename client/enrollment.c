/* SPDX-License-Identifier: MIT */
/* The workstation's fleet enrollment: "mcpfleet enroll LINK" and the files
 * it installs. */
#include "enrollment.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "buf.h"
#include "envelope.h"
#include "fileio.h"
#include "jsonutil.h"
#include "netclient.h"
#include "spool.h"
#include "state.h"
#include "sync.h"
#include "token.h"

#define ENROLLMENT_JSON_MAX     (64u * 1024)
#define ENROLLMENT_RESPONSE_MAX (256u * 1024)
#define ENROLLMENT_REASON_MAX   300 /* bytes of a server's refusal shown */
#define ENROLLMENT_CSR_CN       "mcpfleet-device" /* the server picks the CN */
#define ENROLLMENT_TMP_SUFFIX   ".enroll-new"

/* One file of the enrollment on its way in. */
struct enrollment_file {
	const char *name;
	const char *data;
	size_t len;
	mode_t mode;
	char *tmp;   /* the temporary name, once written */
	char *final; /* the real name */
	bool placed; /* renamed into place */
};

static int enrollment_error(const struct enrollment_opts *o, int code,
                            const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int enrollment_error(const struct enrollment_opts *o, int code,
                            const char *fmt, ...)
{
	va_list ap;

	fputs("mcpfleet: enroll: ", o->err);
	va_start(ap, fmt);
	vfprintf(o->err, fmt, ap);
	va_end(ap);
	fputc('\n', o->err);
	return code;
}

bool enrollment_exists(const char *home)
{
	char *path = fileio_join(home, ENROLLMENT_FILE);
	bool e = path != NULL && fileio_exists(path);

	free(path);
	return e;
}

/* A device id: a certificate CN we also use in file names and logs. */
static bool enrollment_id_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > ENROLLMENT_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("._-", s[i]) == NULL)
			return false;
	return true;
}

/* A user name as the server spells it: printable ASCII, no spaces. */
static bool enrollment_user_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > ENROLLMENT_USER_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]))
			return false;
	return true;
}

static bool enrollment_pin_ok(const char *s)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != ENROLLMENT_PIN_LEN)
		return false;
	for (i = 7; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    isupper((unsigned char)s[i]))
			return false;
	return true;
}

/* Copies a string field of enrollment.json into dst, or says why not. */
static int enrollment_field(const json_t *root, const char *path,
                            const char *key, char *dst, size_t size,
                            struct diag *d)
{
	const json_t *v = json_object_get(root, key);

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: %s: must be a string of 1 to %zu bytes",
		                path, key, size - 1);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int enrollment_port(const json_t *root, const char *path,
                           const char *key, int *dst, struct diag *d)
{
	const json_t *v = json_object_get(root, key);

	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 65535)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: %s: must be a port number (1 to 65535)",
		                path, key);
	*dst = (int)json_integer_value(v);
	return 0;
}

/*
 * Reads path (at most ENROLLMENT_JSON_MAX bytes) as JSON into *root. When
 * the file is absent returns -ERR_NOENT with d set to "%s: " absent (the
 * caller's words); any other failure names the file and the reason.
 */
static int enrollment_json_read(const char *path, const char *absent,
                                json_t **root, struct diag *d)
{
	json_error_t je;
	char *text = NULL;
	size_t len;
	int r;

	*root = NULL;
	r = fileio_read(path, ENROLLMENT_JSON_MAX, &text, &len);
	if (r == -ERR_NOENT)
		return diag_set(d, ERR_NOENT, 0, 0, "%s: %s", path, absent);
	if (r != 0)
		return diag_set(d, r, 0, 0, "%s: cannot read (%s)", path,
		                r == -ERR_IO ? strerror(errno) : err_str(r));
	*root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (*root == NULL)
		return diag_set(d, ERR_PARSE, (unsigned)je.line,
		                (unsigned)je.column, "%s:%d:%d: %s", path,
		                je.line, je.column, je.text);
	return 0;
}

int enrollment_load(const char *home, struct enrollment *out, struct diag *d)
{
	struct enrollment e;
	json_t *root = NULL;
	const json_t *v;
	char *path = NULL;
	int r;

	memset(&e, 0, sizeof(e));
	if ((path = fileio_join(home, ENROLLMENT_FILE)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = enrollment_json_read(path, "", &root, d)) != 0) {
		if (r == -ERR_NOENT)
			r = diag_set(d, ERR_NOENT, 0, 0,
			             "not enrolled (no %s; enroll with "
			             "'mcpfleet enroll LINK')",
			             path);
		goto out;
	}
	if (!json_is_object(root)) {
		r = diag_set(d, ERR_INVALID, 0, 0, "%s: must be an object",
		             path);
		goto out;
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) ||
	    json_integer_value(v) != ENROLLMENT_VERSION) {
		r = diag_set(d, ERR_INVALID, 0, 0, "%s: version: must be %d",
		             path, ENROLLMENT_VERSION);
		goto out;
	}
	if ((r = enrollment_field(root, path, "server", e.server,
	                          sizeof(e.server), d)) != 0 ||
	    (r = enrollment_field(root, path, "device_id", e.device_id,
	                          sizeof(e.device_id), d)) != 0 ||
	    (r = enrollment_field(root, path, "user", e.user, sizeof(e.user),
	                          d)) != 0 ||
	    (r = enrollment_field(root, path, "ca_pin", e.ca_pin,
	                          sizeof(e.ca_pin), d)) != 0 ||
	    (r = enrollment_port(root, path, "api_port", &e.api_port, d)) !=
	        0 ||
	    (r = enrollment_port(root, path, "agent_port", &e.agent_port, d)) !=
	        0)
		goto out;
	if (!enrollment_id_ok(e.device_id)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: device_id: must be 1 to %d letters, digits, "
		             "'.', '_' or '-'",
		             path, ENROLLMENT_ID_MAX);
		goto out;
	}
	if (!enrollment_user_ok(e.user, strlen(e.user))) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: user: must be printable, without spaces",
		             path);
		goto out;
	}
	if (!enrollment_pin_ok(e.ca_pin)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: ca_pin: must be sha256: and 64 lowercase "
		             "hex digits",
		             path);
		goto out;
	}
	v = json_object_get(root, "enrolled_at");
	if (v != NULL && !json_is_integer(v)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: enrolled_at: must be Unix seconds", path);
		goto out;
	}
	e.enrolled_at = json_integer_value(v);
	*out = e;
	r = 0;
out:
	json_decref(root);
	free(path);
	return r;
}

/* Returns a new JSON text for e, or NULL on ENOMEM. */
static char *enrollment_json(const struct enrollment *e, size_t *len)
{
	json_t *root;
	char *text;

	root = json_pack("{s:i,s:s,s:i,s:i,s:s,s:s,s:s,s:I}", "version",
	                 ENROLLMENT_VERSION, "server", e->server, "api_port",
	                 e->api_port, "agent_port", e->agent_port, "device_id",
	                 e->device_id, "user", e->user, "ca_pin", e->ca_pin,
	                 "enrolled_at", (json_int_t)e->enrolled_at);
	if (root == NULL)
		return NULL;
	text = jsonutil_dump_pretty(root, len);
	json_decref(root);
	return text;
}

int enrollment_save(const char *home, const struct enrollment *e)
{
	char *path = NULL, *text = NULL;
	size_t len;
	int r = -ERR_NOMEM;

	if ((path = fileio_join(home, ENROLLMENT_FILE)) == NULL ||
	    (text = enrollment_json(e, &len)) == NULL)
		goto out;
	r = fileio_write_atomic(path, text, len, 0600, FILEIO_FORCE_MODE);
out:
	free(text);
	free(path);
	return r;
}

/* ---- The replica set ---- */

int enrollment_replicas_set(struct enrollment_replicas *out,
                            const char *const *v, size_t n, const char *what,
                            struct diag *d)
{
	size_t i;
	int r;

	if ((r = replicas_list_check(v, n, what, d)) != 0)
		return r;
	for (i = 0; i < n; i++)
		memcpy(out->v[i], v[i], strlen(v[i]) + 1);
	out->n = n;
	return 0;
}

int enrollment_replicas_load(const char *home, struct enrollment_replicas *out,
                             struct diag *d)
{
	const char *v[REPLICAS_MAX];
	struct diag sub;
	json_t *root = NULL;
	const json_t *a, *e;
	char *path = NULL;
	size_t i;
	int r;

	if ((path = fileio_join(home, ENROLLMENT_REPLICAS)) == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	if ((r = enrollment_json_read(path, "none", &root, d)) != 0)
		goto out;
	if (!json_is_object(root) ||
	    !json_is_integer(json_object_get(root, "version")) ||
	    json_integer_value(json_object_get(root, "version")) !=
	        ENROLLMENT_VERSION) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: must be an object with version %d", path,
		             ENROLLMENT_VERSION);
		goto out;
	}
	a = json_object_get(root, "addresses");
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > REPLICAS_MAX) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: addresses: must be an array of 1 to %d "
		             "strings",
		             path, REPLICAS_MAX);
		goto out;
	}
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e) ||
		    strlen(json_string_value(e)) != json_string_length(e)) {
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s: addresses[%zu]: must be a string",
			             path, i);
			goto out;
		}
		v[i] = json_string_value(e);
	}
	diag_clear(&sub);
	if ((r = enrollment_replicas_set(out, v, json_array_size(a),
	                                 "addresses", &sub)) != 0) {
		r = diag_set(d, r, 0, 0, "%s: %s", path, sub.msg);
		goto out;
	}
	r = 0;
out:
	json_decref(root);
	free(path);
	return r;
}

/* Returns a new JSON text for r, or NULL on ENOMEM. */
static char *enrollment_replicas_json(const struct enrollment_replicas *r,
                                      size_t *len)
{
	json_t *root, *a = json_array();
	char *text;
	size_t i;

	for (i = 0; a != NULL && i < r->n; i++)
		if (json_array_append_new(a, json_string(r->v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	root = json_pack("{s:i,s:o?,s:I}", "version", ENROLLMENT_VERSION,
	                 "addresses", a, "updated_at", (json_int_t)time(NULL));
	if (root == NULL)
		return NULL;
	text = jsonutil_dump_pretty(root, len);
	json_decref(root);
	return text;
}

int enrollment_replicas_save(const char *home,
                             const struct enrollment_replicas *r)
{
	char *path = NULL, *text = NULL;
	size_t len;
	int rc = -ERR_NOMEM;

	if ((path = fileio_join(home, ENROLLMENT_REPLICAS)) == NULL ||
	    (text = enrollment_replicas_json(r, &len)) == NULL)
		goto out;
	rc = fileio_write_atomic(path, text, len, 0600, FILEIO_FORCE_MODE);
out:
	free(text);
	free(path);
	return rc;
}

/* Reads home/name (at most CRYPTO_PEM_MAX bytes) or says why not. */
static int enrollment_read(const char *home, const char *name, char **data,
                           size_t *len, struct diag *d)
{
	char *path = fileio_join(home, name);
	int r;

	if (path == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	r = fileio_read(path, CRYPTO_PEM_MAX, data, len);
	if (r != 0)
		r = diag_set(d, r, 0, 0, "%s: cannot read (%s)", path,
		             r == -ERR_IO ? strerror(errno) : err_str(r));
	free(path);
	return r;
}

int enrollment_creds_load(const char *home, struct enrollment_creds *out,
                          struct diag *d)
{
	struct enrollment_creds c;
	struct crypto_key *key = NULL;
	char *signer = NULL;
	size_t signer_len = 0;
	struct diag inner;
	int r;

	memset(&c, 0, sizeof(c));
	diag_clear(&inner);
	if ((r = enrollment_read(home, ENROLLMENT_KEY, &c.key_pem, &c.key_len,
	                         d)) != 0 ||
	    (r = enrollment_read(home, ENROLLMENT_CERT, &c.cert_pem,
	                         &c.cert_len, d)) != 0 ||
	    (r = enrollment_read(home, ENROLLMENT_CA, &c.ca_pem, &c.ca_len,
	                         d)) != 0 ||
	    (r = enrollment_read(home, ENROLLMENT_SIGNER, &signer, &signer_len,
	                         d)) != 0)
		goto out;
	if ((r = crypto_key_load_private(c.key_pem, c.key_len, &key, &inner)) !=
	    0) {
		r = diag_set(d, r, 0, 0, "%s/%s: %s", home, ENROLLMENT_KEY,
		             inner.msg);
		goto out;
	}
	if ((r = crypto_cert_parse(c.cert_pem, c.cert_len, NULL, NULL,
	                           &inner)) != 0) {
		r = diag_set(d, r, 0, 0, "%s/%s: %s", home, ENROLLMENT_CERT,
		             inner.msg);
		goto out;
	}
	if ((r = crypto_key_load_public(signer, signer_len, &c.signer,
	                                &inner)) != 0) {
		r = diag_set(d, r, 0, 0, "%s/%s: %s", home, ENROLLMENT_SIGNER,
		             inner.msg);
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
out:
	crypto_key_free(key);
	free(signer);
	enrollment_creds_clear(&c);
	return r;
}

void enrollment_creds_clear(struct enrollment_creds *c)
{
	if (c == NULL)
		return;
	crypto_secret_free(c->key_pem, c->key_len);
	free(c->cert_pem);
	free(c->ca_pem);
	crypto_key_free(c->signer);
	memset(c, 0, sizeof(*c));
}

int enrollment_data_key_load(const char *home, uint8_t key[32], struct diag *d)
{
	char *path = fileio_join(home, ENROLLMENT_DATAKEY), *data = NULL;
	size_t len = 0;
	int r;

	if (path == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	r = fileio_read(path, 64, &data, &len);
	if (r == 0 && len != 32)
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "%s: %zu bytes, not a 32-byte data key", path,
		             len);
	else if (r == -ERR_IO)
		r = diag_set(d, ERR_IO, 0, 0, "%s: cannot read: %s", path,
		             strerror(errno));
	else if (r == 0)
		memcpy(key, data, 32);
	if (data != NULL)
		crypto_secret_free(data, len);
	free(path);
	return r;
}

int enrollment_data_key_save(const char *home, const uint8_t key[32])
{
	char *path = fileio_join(home, ENROLLMENT_DATAKEY);
	int r;

	if (path == NULL)
		return -ERR_NOMEM;
	r = fileio_write_atomic(path, key, 32, 0600, FILEIO_FORCE_MODE);
	free(path);
	return r;
}

int enrollment_remove(const char *home, struct diag *d)
{
	/* enrollment.json first: from then on the machine is not
	 * enrolled, whatever else a crash leaves behind. */
	static const char *const names[] = {
	    ENROLLMENT_FILE,    ENROLLMENT_CATALOGUE, ENROLLMENT_REPLICAS,
	    ENROLLMENT_DATAKEY, ENROLLMENT_KEY,       ENROLLMENT_CERT,
	    ENROLLMENT_RENEWED, ENROLLMENT_CA,        ENROLLMENT_SIGNER,
	    SPOOL_FILE,         SPOOL_HELD_FILE,
	};
	struct buf tmp = BUF_INIT;
	size_t i;
	int r = 0;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *path = fileio_join(home, names[i]);

		if (path == NULL) {
			if (r == 0)
				r = diag_set(d, ERR_NOMEM, 0, 0,
				             "out of memory");
			continue;
		}
		if (unlink(path) != 0 && errno != ENOENT && r == 0)
			r = diag_set(d, ERR_IO, 0, 0, "%s: cannot remove: %s",
			             path, strerror(errno));
		free(path);
		/* What an enrollment cut short may have left, the key
		 * included. */
		if (buf_printf(&tmp, "%s/.%s%s", home, names[i],
		               ENROLLMENT_TMP_SUFFIX) == 0)
			(void)unlink(tmp.data);
		buf_reset(&tmp);
	}
	buf_free(&tmp);
	return r;
}

/* ---- Enrolling ---- */

/* The facts the admin sees; strings point into the buffers given. */
struct enrollment_facts {
	char hostname[256];
	char os_version[65];
	char username[256];
};

static void enrollment_facts_get(const struct enrollment_opts *o,
                                 struct enrollment_facts *f)
{
	struct utsname u;
	const struct passwd *pw;
	const char *name = o->username;

	memset(f, 0, sizeof(*f));
	if (o->hostname != NULL)
		(void)snprintf(f->hostname, sizeof(f->hostname), "%s",
		               o->hostname);
	else if (gethostname(f->hostname, sizeof(f->hostname) - 1) != 0)
		f->hostname[0] = '\0';
	f->hostname[sizeof(f->hostname) - 1] = '\0';
	if (uname(&u) == 0)
		(void)snprintf(f->os_version, sizeof(f->os_version), "%s",
		               u.release);
	/* getlogin() has no answer without a terminal (a systemd unit). */
	if (name == NULL)
		name = getlogin();
	if (name == NULL && (pw = getpwuid(getuid())) != NULL)
		name = pw->pw_name;
	if (name != NULL)
		(void)snprintf(f->username, sizeof(f->username), "%s", name);
}

static const char *enrollment_os(void)
{
#if defined(__APPLE__)
	return "macos";
#elif defined(_WIN32)
	return "windows";
#else
	return "linux";
#endif
}

/* Packs the EnrollRequest. Returns a new buffer (caller frees) or NULL. */
static uint8_t *enrollment_request(const char *token, const char *csr,
                                   size_t csr_len,
                                   const struct enrollment_facts *f,
                                   size_t *len)
{
	Mcpfleet__V1__EnrollRequest req;
	Mcpfleet__V1__DeviceFacts facts;
	uint8_t *buf;

	mcpfleet__v1__enroll_request__init(&req);
	mcpfleet__v1__device_facts__init(&facts);
	/* protobuf-c's message structs are not const-correct. */
	facts.hostname = (char *)(uintptr_t)f->hostname;
	facts.os = (char *)(uintptr_t)enrollment_os();
	facts.os_version = (char *)(uintptr_t)f->os_version;
	facts.agent_version = (char *)(uintptr_t)AGENT_VERSION;
	facts.username = (char *)(uintptr_t)f->username;
	req.token = (char *)(uintptr_t)token;
	req.csr_pem.data = (uint8_t *)(uintptr_t)csr;
	req.csr_pem.len = csr_len;
	req.facts = &facts;
	*len = mcpfleet__v1__enroll_request__get_packed_size(&req);
	if ((buf = malloc(*len > 0 ? *len : 1)) == NULL)
		return NULL;
	mcpfleet__v1__enroll_request__pack(&req, buf);
	return buf;
}

/* Copies a server's text answer for printing: one line, printable. */
static void enrollment_reason(const struct netclient_response *resp, char *out,
                              size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < resp->len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)resp->body[i];

		if (c == '\n' || c == '\r') {
			if (i + 1 < resp->len)
				out[o++] = ' ';
			continue;
		}
		out[o++] = isprint(c) ? (char)c : '?';
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* Says what a failed exchange means for the person enrolling. */
static int enrollment_net_error(const struct enrollment_opts *o,
                                const char *url, enum netclient_fail fail,
                                const struct diag *d)
{
	switch (fail) {
	case NETCLIENT_FAIL_PIN:
		return enrollment_error(
		    o, EXIT_NOT_ENROLLED,
		    "the server's CA does not match the link's pin (%s); "
		    "check the link, or ask your administrator",
		    d->msg);
	case NETCLIENT_FAIL_CONNECT:
	case NETCLIENT_FAIL_TIMEOUT:
	case NETCLIENT_FAIL_PROTOCOL:
		return enrollment_error(o, EXIT_NOT_ENROLLED,
		                        "cannot reach the server: %s", d->msg);
	case NETCLIENT_FAIL_TLS:
		return enrollment_error(o, EXIT_NOT_ENROLLED,
		                        "the server is not trusted: %s",
		                        d->msg);
	case NETCLIENT_FAIL_USAGE:
		return enrollment_error(o, EXIT_CONFIG, "%s: %s", url, d->msg);
	default:
		return enrollment_error(o, EXIT_NOT_ENROLLED, "%s: %s", url,
		                        d->msg);
	}
}

/* Says why the server turned the request down. */
static int enrollment_http_error(const struct enrollment_opts *o,
                                 const struct netclient_response *resp)
{
	char reason[ENROLLMENT_REASON_MAX + 1];

	enrollment_reason(resp, reason, sizeof(reason));
	switch (resp->status) {
	case 403:
		return enrollment_error(o, EXIT_NOT_ENROLLED,
		                        "the server refused the token: %s",
		                        reason[0] ? reason : "forbidden");
	case 429:
		return enrollment_error(
		    o, EXIT_NOT_ENROLLED,
		    "too many enrollment attempts from this "
		    "address; try again in a minute (%s)",
		    reason);
	case 404:
		return enrollment_error(o, EXIT_NOT_ENROLLED,
		                        "the server has no /v1/enroll (is the "
		                        "link's port the API port?)");
	default:
		return enrollment_error(
		    o, EXIT_NOT_ENROLLED, "the server answered %d: %s",
		    resp->status, reason[0] ? reason : "(no reason)");
	}
}

/* A PEM field of the answer: present and not over the cap. */
static int enrollment_pem(const ProtobufCBinaryData *b, const char *what,
                          struct diag *d)
{
	if (b->len == 0 || b->len > CRYPTO_PEM_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: missing or over %u bytes", what,
		                CRYPTO_PEM_MAX);
	return 0;
}

int enrollment_cert_check(const char *cert, size_t cert_len, const char *ca,
                          size_t ca_len, const char *device_id,
                          struct crypto_key *key, struct crypto_cert_info *out,
                          struct diag *d)
{
	struct crypto_cert_info info;
	struct crypto_key *pub = NULL;
	char want[CRYPTO_HEX_LEN + 1], got[CRYPTO_HEX_LEN + 1];
	struct diag inner;
	int r;

	diag_clear(&inner);
	if ((r = crypto_cert_verify(cert, cert_len, ca, ca_len,
	                            CRYPTO_PURPOSE_CLIENT, &inner)) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "certificate_pem: does not chain to the fleet CA: "
		             "%s",
		             inner.msg);
		goto out;
	}
	if ((r = crypto_cert_parse(cert, cert_len, &info, &pub, &inner)) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0, "certificate_pem: %s",
		             inner.msg);
		goto out;
	}
	if (strcmp(info.cn, device_id) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "certificate_pem: its CN '%s' is not the device "
		             "id '%s'",
		             jsonutil_printable(info.cn), device_id);
		goto out;
	}
	if (crypto_key_id(key, want) != 0 || crypto_key_id(pub, got) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "cannot hash a public key");
		goto out;
	}
	if (strcmp(want, got) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "certificate_pem: certifies another key than the "
		             "one this device generated");
		goto out;
	}
	if (out != NULL)
		*out = info;
	r = 0;
out:
	crypto_key_free(pub);
	return r;
}

/*
 * Checks an EnrollResponse before anything is written: every field, the CA
 * against the pin, the certificate against the CA, our key and the device
 * id. Returns 0, or -ERR_VERIFY when the CA is not the pinned one, another
 * negative code otherwise; d says which check failed.
 */
static int enrollment_check(const Mcpfleet__V1__EnrollResponse *a,
                            const char *pin, struct crypto_key *key,
                            struct diag *d)
{
	struct crypto_key *signer = NULL;
	struct diag inner;
	int r;

	diag_clear(&inner);
	if (a->device_id == NULL || !enrollment_id_ok(a->device_id)) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "device_id: must be 1 to %d letters, digits, '.', "
		             "'_' or '-'",
		             ENROLLMENT_ID_MAX);
		goto out;
	}
	if (a->user == NULL || !enrollment_user_ok(a->user, strlen(a->user))) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "user: must be 1 to %d printable bytes",
		             ENROLLMENT_USER_MAX);
		goto out;
	}
	if (a->agent_port > 65535) {
		r = diag_set(d, ERR_INVALID, 0, 0,
		             "agent_port: %u is not a port", a->agent_port);
		goto out;
	}
	if (a->n_agent_addresses > 0 &&
	    (r = replicas_list_check((const char *const *)a->agent_addresses,
	                             a->n_agent_addresses, "agent_addresses",
	                             d)) != 0)
		goto out;
	if ((r = enrollment_pem(&a->ca_pem, "ca_pem", d)) != 0 ||
	    (r = enrollment_pem(&a->certificate_pem, "certificate_pem", d)) !=
	        0 ||
	    (r = enrollment_pem(&a->signer_public_pem, "signer_public_pem",
	                        d)) != 0)
		goto out;
	r = crypto_cert_pin_check((const char *)a->ca_pem.data, a->ca_pem.len,
	                          pin, &inner);
	if (r != 0) {
		r = diag_set(d, r == -ERR_VERIFY ? ERR_VERIFY : ERR_INVALID, 0,
		             0,
		             "ca_pem: the server's CA does not match the "
		             "link's pin: %s",
		             inner.msg);
		goto out;
	}
	if ((r = enrollment_cert_check(
	         (const char *)a->certificate_pem.data, a->certificate_pem.len,
	         (const char *)a->ca_pem.data, a->ca_pem.len, a->device_id, key,
	         NULL, d)) != 0)
		goto out;
	if ((r = crypto_key_load_public((const char *)a->signer_public_pem.data,
	                                a->signer_public_pem.len, &signer,
	                                &inner)) != 0) {
		r = diag_set(d, ERR_INVALID, 0, 0, "signer_public_pem: %s",
		             inner.msg);
		goto out;
	}
	r = 0;
out:
	crypto_key_free(signer);
	return r;
}

static int enrollment_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -ERR_IO;
	if (fsync(fd) != 0)
		r = -ERR_IO;
	close(fd);
	return r;
}

/*
 * Installs the files all or nothing: each is first written whole under a
 * temporary name, then all are renamed into place, enrollment.json last.
 * On failure every file this call wrote is removed again. Returns 0 or
 * -ERR_IO / -ERR_NOMEM with d naming the file.
 */
static int enrollment_install(const char *home, struct enrollment_file *files,
                              size_t n, struct diag *d)
{
	struct buf b = BUF_INIT;
	size_t i;
	int r = 0;

	for (i = 0; i < n; i++) {
		struct enrollment_file *f = &files[i];

		buf_reset(&b);
		if ((f->final = fileio_join(home, f->name)) == NULL ||
		    buf_printf(&b, "%s/.%s%s", home, f->name,
		               ENROLLMENT_TMP_SUFFIX) != 0 ||
		    (f->tmp = buf_steal(&b, NULL)) == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			goto fail;
		}
		if (fileio_write_atomic(f->tmp, f->data, f->len, f->mode,
		                        FILEIO_FORCE_MODE) != 0) {
			r = diag_set(d, ERR_IO, 0, 0, "%s: cannot write: %s",
			             f->tmp, strerror(errno));
			goto fail;
		}
	}
	for (i = 0; i < n; i++) {
		if (rename(files[i].tmp, files[i].final) != 0) {
			r = diag_set(d, ERR_IO, 0, 0, "%s: cannot rename: %s",
			             files[i].final, strerror(errno));
			goto fail;
		}
		files[i].placed = true;
	}
	if (enrollment_fsync_dir(home) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: cannot sync: %s", home,
		             strerror(errno));
		goto fail;
	}
	goto out;
fail:
	/* Undo in reverse: enrollment.json, placed last, goes first. */
	for (i = n; i-- > 0;) {
		if (files[i].tmp != NULL && !files[i].placed)
			(void)unlink(files[i].tmp);
		if (files[i].placed)
			(void)unlink(files[i].final);
	}
out:
	buf_free(&b);
	return r;
}

/* A new enrollment starts from revision 0: the server it joined numbers
 * its own revisions, and a stale one would refuse them all as replays. */
static void enrollment_reset_revision(const struct enrollment_opts *o)
{
	struct agent_state st = {0};
	struct diag d;
	char *path = fileio_join(o->home, "state.json");

	diag_clear(&d);
	if (path != NULL && state_load(path, &st, &d) == 0 &&
	    st.revision != 0) {
		st.revision = 0;
		if (state_save(path, &st) != 0)
			fprintf(o->err,
			        "mcpfleet: warning: %s: cannot write: %s\n",
			        path, strerror(errno));
	}
	state_clear(&st);
	free(path);
}

/* Makes $MCPFLEET_HOME exist and be the owner's only. */
static int enrollment_home(const struct enrollment_opts *o)
{
	struct stat sb;

	if (fileio_mkdirs(o->home, 0700) != 0 || stat(o->home, &sb) != 0)
		return enrollment_error(o, EXIT_CONFIG, "%s: cannot create: %s",
		                        o->home, strerror(errno));
	if ((sb.st_mode & 077) != 0 && chmod(o->home, 0700) != 0)
		return enrollment_error(o, EXIT_CONFIG,
		                        "%s: cannot make it private (0700): %s",
		                        o->home, strerror(errno));
	return EXIT_OK;
}

int enrollment_enroll(const struct enrollment_opts *o, const char *link)
{
	struct token_link_parts lp;
	struct enrollment e, old;
	struct enrollment_facts facts;
	struct crypto_rng *rng = NULL;
	struct crypto_key *key = NULL;
	struct netclient_request req;
	struct netclient_response resp = {0};
	struct netclient_header hdr = {"Content-Type",
	                               "application/x-protobuf"};
	Mcpfleet__V1__EnrollResponse *ans = NULL;
	struct enrollment_file files[6];
	struct enrollment_replicas reps;
	enum netclient_fail fail = NETCLIENT_OK;
	struct buf url = BUF_INIT;
	struct diag d;
	char *csr = NULL, *key_pem = NULL, *json = NULL, *cat = NULL;
	char *reps_json = NULL, *reps_path = NULL;
	uint8_t *body = NULL;
	size_t csr_len = 0, key_len = 0, json_len = 0, body_len = 0;
	size_t reps_len = 0, nfiles;
	int code = EXIT_CONFIG, r;

	diag_clear(&d);
	memset(&lp, 0, sizeof(lp));
	memset(files, 0, sizeof(files));
	if (token_link_parse(link, &lp, &d) != 0) {
		code = enrollment_error(o, EXIT_CONFIG, "%s", d.msg);
		goto out;
	}
	if (enrollment_exists(o->home)) {
		if (enrollment_load(o->home, &old, &d) == 0)
			code = enrollment_error(
			    o, EXIT_CONFIG,
			    "already enrolled as %s (user %s, server %s); run "
			    "'mcpfleet unenroll' first",
			    old.device_id, old.user, old.server);
		else
			code = enrollment_error(
			    o, EXIT_CONFIG, "%s; run 'mcpfleet unenroll' first",
			    d.msg);
		goto out;
	}
	if ((code = enrollment_home(o)) != EXIT_OK)
		goto out;
	code = EXIT_CONFIG;
	/* The device key is made here and never leaves the machine. */
	if (crypto_rng_new("mcpfleet enroll", &rng, &d) != 0 ||
	    crypto_key_generate(rng, &key, &d) != 0 ||
	    crypto_csr_create(rng, key, ENROLLMENT_CSR_CN, &csr, &csr_len,
	                      &d) != 0 ||
	    crypto_key_write_private(key, &key_pem, &key_len, &d) != 0) {
		code = enrollment_error(
		    o, EXIT_CONFIG, "cannot make the device key: %s", d.msg);
		goto out;
	}
	enrollment_facts_get(o, &facts);
	if ((body = enrollment_request(lp.token, csr, csr_len, &facts,
	                               &body_len)) == NULL ||
	    buf_printf(&url, "https://%s%s%s:%d/v1/enroll",
	               strchr(lp.host, ':') ? "[" : "", lp.host,
	               strchr(lp.host, ':') ? "]" : "", lp.port) != 0) {
		code = enrollment_error(o, EXIT_CONFIG, "out of memory");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url.data;
	req.headers = &hdr;
	req.nheaders = 1;
	req.body = body;
	req.body_len = body_len;
	req.pin = lp.pin; /* the pinned CA is the only trust anchor */
	req.timeout_ms = o->timeout_ms;
	req.max_response = ENROLLMENT_RESPONSE_MAX;
	if (netclient_https(&req, &resp, &fail, &d) != 0) {
		code = enrollment_net_error(o, url.data, fail, &d);
		goto out;
	}
	if (resp.status != 200) {
		code = enrollment_http_error(o, &resp);
		goto out;
	}
	ans = mcpfleet__v1__enroll_response__unpack(NULL, resp.len,
	                                            (const uint8_t *)resp.body);
	if (ans == NULL) {
		code = enrollment_error(o, EXIT_NOT_ENROLLED,
		                        "%s: the answer is not an "
		                        "EnrollResponse",
		                        url.data);
		goto out;
	}
	if ((r = enrollment_check(ans, lp.pin, key, &d)) != 0) {
		code = enrollment_error(
		    o, EXIT_NOT_ENROLLED, "%s: %s%s", url.data,
		    r == -ERR_VERIFY ? "" : "the answer does not verify: ",
		    d.msg);
		goto out;
	}
	memset(&e, 0, sizeof(e));
	(void)snprintf(e.server, sizeof(e.server), "%s", lp.host);
	e.api_port = lp.port;
	e.agent_port = ans->agent_port != 0 ? (int)ans->agent_port
	                                    : ENROLLMENT_DEFAULT_AGENT_PORT;
	(void)snprintf(e.device_id, sizeof(e.device_id), "%s", ans->device_id);
	(void)snprintf(e.user, sizeof(e.user), "%s", ans->user);
	(void)snprintf(e.ca_pin, sizeof(e.ca_pin), "%s", lp.pin);
	e.enrolled_at = (int64_t)time(NULL);
	if ((json = enrollment_json(&e, &json_len)) == NULL) {
		code = enrollment_error(o, EXIT_CONFIG, "out of memory");
		goto out;
	}
	/* A catalogue of an earlier enrollment would never verify again;
	 * its replica set belongs to another fleet. */
	if ((cat = fileio_join(o->home, ENROLLMENT_CATALOGUE)) != NULL)
		(void)unlink(cat);
	if ((reps_path = fileio_join(o->home, ENROLLMENT_REPLICAS)) != NULL)
		(void)unlink(reps_path);
	memset(&reps, 0, sizeof(reps));
	if (ans->n_agent_addresses > 0 &&
	    (enrollment_replicas_set(
	         &reps, (const char *const *)ans->agent_addresses,
	         ans->n_agent_addresses, "agent_addresses", &d) != 0 ||
	     (reps_json = enrollment_replicas_json(&reps, &reps_len)) ==
	         NULL)) {
		code = enrollment_error(o, EXIT_CONFIG, "out of memory");
		goto out;
	}
	files[0] = (struct enrollment_file){.name = ENROLLMENT_KEY,
	                                    .data = key_pem,
	                                    .len = key_len,
	                                    .mode = 0600};
	files[1] = (struct enrollment_file){
	    .name = ENROLLMENT_CERT,
	    .data = (const char *)ans->certificate_pem.data,
	    .len = ans->certificate_pem.len,
	    .mode = 0644};
	files[2] =
	    (struct enrollment_file){.name = ENROLLMENT_CA,
	                             .data = (const char *)ans->ca_pem.data,
	                             .len = ans->ca_pem.len,
	                             .mode = 0644};
	files[3] = (struct enrollment_file){
	    .name = ENROLLMENT_SIGNER,
	    .data = (const char *)ans->signer_public_pem.data,
	    .len = ans->signer_public_pem.len,
	    .mode = 0644};
	nfiles = 4;
	if (reps_json != NULL)
		files[nfiles++] =
		    (struct enrollment_file){.name = ENROLLMENT_REPLICAS,
		                             .data = reps_json,
		                             .len = reps_len,
		                             .mode = 0600};
	files[nfiles++] = (struct enrollment_file){.name = ENROLLMENT_FILE,
	                                           .data = json,
	                                           .len = json_len,
	                                           .mode = 0600};
	enrollment_reset_revision(o);
	if (enrollment_install(o->home, files, nfiles, &d) != 0) {
		code = enrollment_error(o, EXIT_CONFIG, "%s", d.msg);
		goto out;
	}
	fprintf(o->out,
	        "enrolled as %s (user %s) with %s; run 'mcpfleet run' (or "
	        "start the mcpfleet user service) to receive the fleet "
	        "catalogue\n",
	        e.device_id, e.user, url.data);
	code = EXIT_OK;
out:
	for (r = 0; r < 6; r++) {
		free(files[r].tmp);
		free(files[r].final);
	}
	free(reps_json);
	free(reps_path);
	if (ans != NULL)
		mcpfleet__v1__enroll_response__free_unpacked(ans, NULL);
	netclient_response_free(&resp);
	buf_free(&url);
	free(body);
	free(csr);
	free(json);
	free(cat);
	crypto_secret_free(key_pem, key_len);
	crypto_key_free(key);
	crypto_rng_free(rng);
	crypto_wipe(&lp, sizeof(lp));
	return code;
}
