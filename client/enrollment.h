/* SPDX-License-Identifier: MIT */
/* The workstation's fleet enrollment: joining with a link ("mcpfleet
 * enroll"), the files it leaves in $MCPFLEET_HOME, and leaving again. */
#ifndef MCPFLEET_ENROLLMENT_H
#define MCPFLEET_ENROLLMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "crypto.h"
#include "err.h"
#include "replicas.h"

/*
 * The files, in $MCPFLEET_HOME. enrollment.json is written last and
 * removed first: the machine is enrolled exactly when it exists.
 */
#define ENROLLMENT_FILE "enrollment.json"
#define ENROLLMENT_KEY  "device.key" /* 0600, never leaves the machine */
#define ENROLLMENT_CERT "device.crt"
/* 0600: a renewed key and certificate, until they replace device.key and
 * device.crt (client/certrenew.c) */
#define ENROLLMENT_RENEWED   "device.renewed"
#define ENROLLMENT_CA        "ca.crt"
#define ENROLLMENT_SIGNER    "signer.pub"
#define ENROLLMENT_CATALOGUE "catalogue.pb" /* the last verified envelope */
#define ENROLLMENT_DATAKEY   "data.key"     /* 0600: opens the sealed secrets */
#define ENROLLMENT_REPLICAS  "replicas.json" /* the replica set's addresses */

#define ENROLLMENT_VERSION            1
#define ENROLLMENT_HOST_MAX           255
#define ENROLLMENT_ID_MAX             64 /* device id (a certificate CN) */
#define ENROLLMENT_USER_MAX           255
#define ENROLLMENT_PIN_LEN            (7 + CRYPTO_HEX_LEN) /* "sha256:" + hex */
#define ENROLLMENT_DEFAULT_AGENT_PORT 7443

/* What enrollment.json records. */
struct enrollment {
	char server[ENROLLMENT_HOST_MAX + 1]; /* host name or IP, no brackets */
	int api_port;
	int agent_port;
	char device_id[ENROLLMENT_ID_MAX + 1];
	char user[ENROLLMENT_USER_MAX + 1];
	char ca_pin[ENROLLMENT_PIN_LEN + 1];
	int64_t enrolled_at; /* Unix seconds */
};

/* The replica set's agent addresses (docs/design.md, "Replicas: the agents'
 * side"), as replicas.json keeps them: replicas_list_check() holds. */
struct enrollment_replicas {
	char v[REPLICAS_MAX][REPLICAS_ADDR_MAX + 1];
	size_t n;
};

/* The credentials the agent needs, loaded from $MCPFLEET_HOME. */
struct enrollment_creds {
	char *key_pem; /* free with crypto_secret_free */
	size_t key_len;
	char *cert_pem;
	size_t cert_len;
	char *ca_pem;
	size_t ca_len;
	struct crypto_key *signer; /* the catalogue signing key (public) */
};

/* Options of enrollment_enroll. */
struct enrollment_opts {
	const char *home; /* $MCPFLEET_HOME */
	FILE *out;
	FILE *err;
	unsigned timeout_ms; /* the HTTPS exchange; 0: 30000 */
	/* Device facts; NULL: from the system (gethostname, uname, the login
	 * name). Tests set them. */
	const char *hostname;
	const char *username;
};

/*
 * Runs "mcpfleet enroll LINK": parses the link, refuses when already
 * enrolled, makes the P-256 device key and a CSR here, POSTs
 * https://HOST:PORT/v1/enroll trusting only the CA whose SHA-256 the link
 * pins, checks the answer (the CA is the pinned one, the certificate chains
 * to it, holds our key and names the device id it came with; the replica
 * set's addresses, when given, are valid) and installs device.key,
 * device.crt, ca.crt, signer.pub, replicas.json (when the server sent the
 * replica set) and then enrollment.json, all or nothing. Returns the exit code:
 * EXIT_OK; EXIT_CONFIG for a bad link, an existing enrollment or an unusable
 * $MCPFLEET_HOME; EXIT_NOT_ENROLLED when the server cannot be reached, is not
 * the pinned one, refuses the token (the server's reason is printed) or answers
 * something that does not verify. o->err says why.
 */
int enrollment_enroll(const struct enrollment_opts *o, const char *link);

/* True when $MCPFLEET_HOME holds an enrollment (enrollment.json exists). */
bool enrollment_exists(const char *home);

/*
 * Loads enrollment.json. Returns 0 with *out, -ERR_NOENT when not
 * enrolled, or -ERR_IO / -ERR_PARSE / -ERR_INVALID with d naming the file
 * and the field.
 */
int enrollment_load(const char *home, struct enrollment *out, struct diag *d);

/*
 * Writes enrollment.json (0600) as e says, crash-safely. Returns 0,
 * -ERR_IO or -ERR_NOMEM. (enrollment_enroll uses it; tests too.)
 */
int enrollment_save(const char *home, const struct enrollment *e);

/*
 * The device's data key (common/devsecret.h), 32 bytes, which the server
 * sends over the agent's connection. Load returns 0 with key, -ERR_NOENT
 * when none has come, or -ERR_INVALID / -ERR_IO with d naming the file.
 * Save writes it 0600, crash-safely: 0 or -ERR_IO.
 */
int enrollment_data_key_load(const char *home, uint8_t key[32], struct diag *d);
int enrollment_data_key_save(const char *home, const uint8_t key[32]);

/*
 * Fills *out from n addresses as the server sent them, after checking
 * them with replicas_list_check() (what names them in d's message).
 * Returns 0, or -ERR_INVALID with d saying which address and why.
 */
int enrollment_replicas_set(struct enrollment_replicas *out,
                            const char *const *v, size_t n, const char *what,
                            struct diag *d);

/*
 * Loads replicas.json. Returns 0 with *out, -ERR_NOENT when there is none
 * (an enrollment with a server that predates replicas: the agent uses the
 * enrolled server and agent port), or -ERR_IO / -ERR_PARSE / -ERR_INVALID
 * with d naming the file and the field.
 */
int enrollment_replicas_load(const char *home, struct enrollment_replicas *out,
                             struct diag *d);

/* Writes replicas.json (0600), crash-safely: a reader sees the old list or
 * the new one. Returns 0, -ERR_IO or -ERR_NOMEM. */
int enrollment_replicas_save(const char *home,
                             const struct enrollment_replicas *r);

/*
 * Loads the device key and certificate, the CA and the signing key.
 * Returns 0 with *out (free with enrollment_creds_clear), or a negative
 * code with d naming the file and the reason.
 */
int enrollment_creds_load(const char *home, struct enrollment_creds *out,
                          struct diag *d);

/*
 * Checks a client certificate the server issued to this device: it chains
 * to ca (the fleet CA) for TLS client use, its CN is device_id and it
 * certifies key (the one this device generated). Returns 0 with *out (may
 * be NULL) describing it, or -ERR_INVALID / -ERR_CRYPTO with d naming the
 * check ("certificate_pem: ...").
 */
int enrollment_cert_check(const char *cert, size_t cert_len, const char *ca,
                          size_t ca_len, const char *device_id,
                          struct crypto_key *key, struct crypto_cert_info *out,
                          struct diag *d);

/* Frees what creds hold (wiping the key) and zeroes them. NULL-safe. */
void enrollment_creds_clear(struct enrollment_creds *c);

/*
 * Deletes the enrollment: enrollment.json first (the machine is then no
 * longer enrolled), then catalogue.pb, replicas.json, the device key,
 * certificate, CA and signing key. A file already gone is
 * not an error. Returns 0, or -ERR_IO with d naming the first file that
 * could not be removed (the others are still tried).
 */
int enrollment_remove(const char *home, struct diag *d);

#endif
