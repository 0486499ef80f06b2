/* SPDX-License-Identifier: MIT */
/* mcpfleetd's data directory: the fleet CA, the server's TLS certificate,
 * the catalogue signing key, the master key that seals secrets, and the
 * daemon's configuration file. */
#ifndef MCPFLEET_PKI_H
#define MCPFLEET_PKI_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "oidcconf.h"
#include "replicas.h"

struct store;

/* File names inside the data directory (docs/design.md). Every file
 * pki_create() and pki_conf_write() write is 0600 (certificates too: the
 * directory is 0700 anyway). master.key holds the 32 bytes as 64 lowercase hex
 * digits and a newline, so that an admin can copy it into a password manager.
 * audit.key, the key of the audit chain's HMACs (store_audit_key()), is
 * written the same way; it has a second line "keyed_from=N" when the key
 * came after the chain began (an installation from before audit keys:
 * pki_audit_attach()), N the first row it keys.
 */
#define PKI_DB_FILE          "fleet.db"
#define PKI_CA_CERT_FILE     "ca.crt"
#define PKI_CA_KEY_FILE      "ca.key"
#define PKI_SERVER_CERT_FILE "server.crt"
#define PKI_SERVER_KEY_FILE  "server.key"
#define PKI_SIGNER_KEY_FILE  "signer.key"
#define PKI_MASTER_KEY_FILE  "master.key"
#define PKI_AUDIT_KEY_FILE   "audit.key"
#define PKI_CONF_FILE        "mcpfleetd.conf"

#define PKI_DEFAULT_AGENT_PORT 7443
#define PKI_DEFAULT_API_PORT   7444
#define PKI_NAMES_MAX          16  /* --name values */
#define PKI_STORE_MAX          512 /* the store key's value */
#define PKI_NAME_MAX           253 /* one DNS name or IP literal */
#define PKI_PIN_LEN            (7 + CRYPTO_HEX_LEN) /* "sha256:" + hex */
#define PKI_CA_YEARS           20
#define PKI_SERVER_DAYS        825
#define PKI_DEVICE_DAYS        365 /* validity of an issued device cert */
#define PKI_DEFAULT_HEARTBEAT  10  /* replica_heartbeat, seconds */

/*
 * mcpfleetd.conf, a "key = value" file ('#' starts a comment line):
 *   listen = 127.0.0.1            address both ports bind, an IPv4 or
 *                                 IPv6 literal (default 0.0.0.0, written
 *                                 by init as 0.0.0.0)
 *   agent_port = 7443             1..65535, the two ports differ
 *   api_port = 7444
 *   name = fleet.example.com      repeated; the first is the host that
 *   name = 10.0.0.5               enrollment links and mcpfleetctl use;
 *                                 the file's names replace the defaults
 *   device_days = 365             validity of device certificates, 1..36500
 *   token_ttl = 86400             default enrollment token lifetime, s,
 *                                 60 s to 366 days
 *   enroll_rate = 10              enrollment attempts per address per
 *                                 minute, 1..100000
 *   agent_address = host:port     where agents reach this replica
 *                                 (replicas_addr_parse(); its host one of
 *                                 the names, which the server certificate
 *                                 holds); default the first name and the
 *                                 agent port
 *   replica_heartbeat = 10        seconds between a replica's heartbeats
 *                                 in the store, 1..3600; one not heard of
 *                                 for three is dropped from the replica set
 * Unknown keys, a key other than name given twice and malformed values
 * are errors naming file and line.
 */
struct pki_conf {
	char listen[64];
	int agent_port;
	int api_port;
	char names[PKI_NAMES_MAX][PKI_NAME_MAX + 1];
	size_t nnames;
	unsigned device_days;
	int64_t token_ttl;
	unsigned enroll_rate;
	/* The launchers (docs/design.md, "Edge launcher"): how long an agent
	 * that cannot reach the server may still run fleet servers, how many
	 * bytes of call records it keeps meanwhile, and how long the server
	 * keeps calls (seconds). */
	int64_t offline_grace;
	int64_t call_spool_max;
	int64_t calls_retention;
	/* Where the store is (store_location()): "" for SQLite in the data
	 * directory, else a PostgreSQL location without a password. */
	char store[PKI_STORE_MAX + 1];
	/* The replica set (docs/design.md, "Replicas: the agents' side"): this
	 * replica's agent address ("" for the default), and its heartbeat
	 * period. */
	char agent_address[REPLICAS_ADDR_MAX + 1];
	int64_t replica_heartbeat;
	/* Console sign-in with OpenID Connect: the oidc_* keys
	 * (server/oidcconf.h). */
	struct oidc_conf oidc;
};

/* Fills c with the defaults (names: "localhost", "127.0.0.1"). */
void pki_conf_defaults(struct pki_conf *c);
/* Reads dir/mcpfleetd.conf over the defaults. Returns 0, -ERR_NOENT,
 * -ERR_PARSE / -ERR_INVALID with d naming the line, -ERR_IO. */
int pki_conf_load(const char *dir, struct pki_conf *c, struct diag *d);
/* Writes dir/mcpfleetd.conf (0600, atomically). */
int pki_conf_write(const char *dir, const struct pki_conf *c, struct diag *d);

/* Everything mcpfleetd serves with, loaded from the data directory. */
struct pki {
	char *ca_pem; /* the fleet CA certificate, NUL-terminated */
	size_t ca_len;
	struct crypto_key *ca_key;
	char ca_pin[PKI_PIN_LEN + 1]; /* "sha256:" + hex of the CA's DER */
	char *server_cert_pem;
	size_t server_cert_len;
	char *server_key_pem; /* wiped on free */
	size_t server_key_len;
	struct crypto_key *signer; /* catalogue signing key (private) */
	char *signer_pub_pem;      /* its public key, PEM */
	size_t signer_pub_len;
	char signer_key_id[CRYPTO_HEX_LEN + 1];
	uint8_t master[CRYPTO_SEAL_KEY_LEN]; /* wiped on free */
	/* audit.key: absent (audit_keyed false) in a data directory from
	 * before audit keys until pki_audit_attach() creates it. */
	bool audit_keyed;
	int64_t audit_keyed_from;
	uint8_t audit_key[CRYPTO_SEAL_KEY_LEN]; /* wiped on free */
};

/*
 * Creates the key material in dir (which must exist, 0700): a P-256 fleet
 * CA valid PKI_CA_YEARS, the server key and certificate (serverAuth, SAN =
 * conf->names) signed by it, a separate catalogue signing key, 32
 * random bytes of master key and 32 of audit key (keying the chain from row
 * 1). Every key file is written 0600, atomically.
 * Refuses (-ERR_EXISTS, d naming the file) when any of these files already
 * exists, and then writes nothing. Returns 0 or a negative code.
 */
int pki_create(const char *dir, const struct pki_conf *conf,
               struct crypto_rng *rng, struct diag *d);

/*
 * Makes dir (which must exist, 0700) the data directory of another replica
 * of the fleet whose data directory is from (docs/design.md, "Replicas"):
 * copies from's fleet CA certificate and key, catalogue signing key,
 * master key and audit key, which every replica shares, and makes the replica's
 * own server key and certificate (SAN = conf->names) signed by that CA. from
 * must load as pki_load() loads it. Refuses (-ERR_EXISTS) as pki_create()
 * does, writing nothing. Returns 0 or a negative code with d set.
 */
int pki_join(const char *from, const char *dir, const struct pki_conf *conf,
             struct crypto_rng *rng, struct diag *d);

/*
 * Loads what pki_create() wrote (audit.key may be absent: p->audit_keyed
 * false). Checks that each key file is not readable
 * by group or others (-ERR_PERM naming it), that the server certificate
 * chains to the CA and that the CA key matches the CA certificate. Returns
 * 0 with *out (free with pki_free()), or a negative code with d naming the
 * file and the reason.
 */
int pki_load(const char *dir, struct pki *out, struct diag *d);

/*
 * Gives st the audit key of p (store_audit_key()). When the data directory
 * has none (an installation from before audit keys), creates it first,
 * inside one write transaction on st: keyed from the next row id, written
 * to dir/audit.key (0600), and the row "audit.key" (actor "system",
 * details {"keyed_from": N}) appended as the first row under it, which pins
 * every unkeyed row before it. Refuses (-ERR_CONFLICT) a store whose chain
 * some other audit.key already keys. Returns 0 with *created (may be NULL)
 * N, or 0 when the key existed; a negative code with d naming the file or
 * the store's reason, nothing written.
 */
int pki_audit_attach(const char *dir, struct pki *p, struct store *st,
                     struct crypto_rng *rng, int64_t *created, struct diag *d);

/* Frees and wipes. NULL-safe. */
void pki_free(struct pki *p);

#endif
