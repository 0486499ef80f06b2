/* SPDX-License-Identifier: MIT */
/* mcpfleetd: the control plane's entry point, `init` and `serve`. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "core.h"
#include "fileio.h"
#include "netclient.h"
#include "backup.h"
#include "pki.h"
#include "store.h"
#include "token.h"

#define MCPFLEETD_VERSION "0.1.0"

/* The most open files serve asks for: libwebsockets allocates tables sized
 * by the limit, so an unlimited hard limit is not taken at its word. */
#define MCPFLEETD_NOFILE_MAX ((rlim_t)1 << 20)

enum {
	MCPFLEETD_EXIT_OK = 0,
	MCPFLEETD_EXIT_FAIL = 1,
	MCPFLEETD_EXIT_USAGE = 2,
};

static struct core *mcpfleetd_core; /* for the signal handler only */

static void mcpfleetd_usage(FILE *f)
{
	fputs(
	    "usage: mcpfleetd init --data DIR [--name HOST]... "
	    "[--listen ADDR]\n"
	    "                      [--agent-port P] [--api-port P] "
	    "[--store LOCATION]\n"
	    "       mcpfleetd init --join FIRST_DIR --data DIR "
	    "[--name HOST]...\n"
	    "                      [--listen ADDR] [--agent-port P] "
	    "[--api-port P]\n"
	    "       mcpfleetd serve --data DIR [--listen ADDR] "
	    "[--agent-port P]\n"
	    "                       [--api-port P] [-v]\n"
	    "       mcpfleetd migrate --data DIR --to LOCATION\n"
	    "       mcpfleetd audit-verify --data DIR [--checkpoint FILE]\n"
	    "       mcpfleetd backup --data DIR --to FILE\n"
	    "       mcpfleetd restore --from FILE --data NEWDIR\n"
	    "       mcpfleetd cert renew --data DIR [--days N]\n"
	    "       mcpfleetd version\n"
	    "\n"
	    "init creates DIR (0700) with the store, the fleet CA, the "
	    "server's TLS\n"
	    "certificate for the --name values (default localhost and "
	    "127.0.0.1), the\n"
	    "catalogue signing key, the master key and the audit key, and "
	    "prints the first\n"
	    "admin token.\n"
	    "--store keeps the store in PostgreSQL instead of DIR/fleet.db: "
	    "postgres://...\n"
	    "or postgres:KEYWORD=VALUE... (libpq's; PGSERVICE, PGPASSFILE "
	    "and the other\n"
	    "PG* variables apply). It must name an empty database and hold "
	    "no password:\n"
	    "put that in a password or service file. serve uses what init "
	    "recorded.\n"
	    "init --join makes DIR another replica of the fleet in FIRST_DIR, "
	    "whose store\n"
	    "must be PostgreSQL: it copies the fleet CA, the signing, master "
	    "and audit\n"
	    "keys, makes DIR's own server certificate for its --name values, "
	    "and takes\n"
	    "FIRST_DIR's settings and store; --listen and the ports "
	    "override them.\n"
	    "migrate copies DIR's SQLite store into an empty PostgreSQL "
	    "database at\n"
	    "LOCATION (ids, audit chain, revisions, delivery history) and "
	    "makes it DIR's\n"
	    "store; stop serve first.\n"
	    "backup writes DIR's store (copied online, while serve runs), "
	    "keys and\n"
	    "mcpfleetd.conf into FILE (0600: it holds the CA and master "
	    "keys; with a\n"
	    "PostgreSQL store, save the database with pg_dump). restore "
	    "checks FILE\n"
	    "whole, writes it into NEWDIR (new or empty) and verifies the "
	    "audit chain.\n"
	    "audit-verify checks DIR's audit chain offline, under DIR's "
	    "audit key, and\n"
	    "with --checkpoint a checkpoint from 'mcpfleetctl audit "
	    "checkpoint' against\n"
	    "it and DIR's signing key: for an auditor's copy of DIR, with a "
	    "trusted build.\n"
	    "cert renew replaces DIR/server.crt with a new certificate for "
	    "the same key\n"
	    "and names (mcpfleetd.conf), signed by the fleet CA, valid N "
	    "days (default\n"
	    "825); serve uses it from its next start. Agents pin the CA, "
	    "not this\n"
	    "certificate: they reconnect without enrolling again. Device "
	    "certificates\n"
	    "(device_days) the agents renew themselves over their "
	    "connection.\n"
	    "serve runs the agent port (mutual TLS, default 7443) and the API "
	    "port\n"
	    "(default 7444) until SIGTERM or SIGINT. In a DIR from before "
	    "audit keys, serve\n"
	    "(or migrate) first creates DIR/audit.key, keying the audit chain "
	    "from the next\n"
	    "row on. Several serve replicas may share one PostgreSQL store "
	    "and copies of the\n"
	    "key files; each registers its agent_address (mcpfleetd.conf; "
	    "default the first\n"
	    "name and the agent port) for the agents.\n",
	    f);
}

static int mcpfleetd_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int mcpfleetd_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mcpfleetd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\n", stderr);
	mcpfleetd_usage(stderr);
	return MCPFLEETD_EXIT_USAGE;
}

static int mcpfleetd_port(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < 0 || v > 65535)
		return -ERR_INVALID;
	*out = (int)v;
	return 0;
}

/* The options init and serve share. */
struct mcpfleetd_opts {
	const char *data;
	const char *listen;
	int agent_port;
	int api_port;
	const char *names[PKI_NAMES_MAX];
	size_t nnames;
	const char *store;
	const char *join;
	int verbose;
};

static int mcpfleetd_parse(int argc, char **argv, bool init,
                           struct mcpfleetd_opts *o)
{
	static const struct option longopts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"name", required_argument, NULL, 'n'},
	    {"listen", required_argument, NULL, 'l'},
	    {"agent-port", required_argument, NULL, 'a'},
	    {"api-port", required_argument, NULL, 'p'},
	    {"store", required_argument, NULL, 's'},
	    {"join", required_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->agent_port = -1;
	o->api_port = -1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:n:l:a:p:vh", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'd':
			o->data = optarg;
			break;
		case 'n':
			if (!init)
				return mcpfleetd_usage_error(
				    "--name is an init option (%s)", optarg);
			if (o->nnames == PKI_NAMES_MAX)
				return mcpfleetd_usage_error(
				    "too many --name values (at %s)", optarg);
			o->names[o->nnames++] = optarg;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 's':
			/* Not echoed: it might hold a password. */
			if (!init)
				return mcpfleetd_usage_error(
				    "%s", "--store is an init option (serve "
				          "uses the store init recorded)");
			o->store = optarg;
			break;
		case 'j':
			if (!init)
				return mcpfleetd_usage_error(
				    "--join is an init option (%s)", optarg);
			o->join = optarg;
			break;
		case 'a':
			if (mcpfleetd_port(optarg, &o->agent_port) != 0)
				return mcpfleetd_usage_error(
				    "--agent-port: '%s' is not a port", optarg);
			break;
		case 'p':
			if (mcpfleetd_port(optarg, &o->api_port) != 0)
				return mcpfleetd_usage_error(
				    "--api-port: '%s' is not a port", optarg);
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			mcpfleetd_usage(stdout);
			exit(MCPFLEETD_EXIT_OK);
		default:
			return mcpfleetd_usage_error("%s", "bad option");
		}
	}
	if (optind < argc)
		return mcpfleetd_usage_error("unexpected argument '%s'",
		                             argv[optind]);
	if (o->data == NULL)
		return mcpfleetd_usage_error("%s", "--data DIR is required");
	return 0;
}

/*
 * For a store outside the data directory: refuses one that already holds
 * a fleet (users, admin tokens or audit rows), before anything is written,
 * since init would otherwise add a second first admin token to it.
 */
static int mcpfleetd_check_store_empty(const char *backend, const char *path,
                                       struct diag *d)
{
	struct store *st = NULL;
	struct store_audit_list al = {NULL, 0};
	struct store_admin_token_list tl = {NULL, 0};
	struct store_user_list ul = {NULL, 0};
	int r;

	if ((r = store_open(backend, path, &st, d)) != 0)
		return r;
	if ((r = store_audit_list(st, 0, 0, 1, &al, d)) == 0 &&
	    (r = store_admin_token_list(st, &tl, d)) == 0 &&
	    (r = store_user_list(st, &ul, d)) == 0 &&
	    (al.n > 0 || tl.n > 0 || ul.n > 0))
		r = diag_set(d, ERR_EXISTS, 0, 0,
		             "the store already holds a fleet (audit rows, "
		             "admin tokens or users): init wants an empty "
		             "database; nothing was changed");
	store_audit_list_free(&al);
	store_admin_token_list_free(&tl);
	store_user_list_free(&ul);
	store_close(st);
	return r;
}

/* Refuses a data directory that already holds the store or the
 * configuration; pki_create() refuses its own key and certificate files
 * the same way, before it writes anything. */
static int mcpfleetd_check_empty(const char *dir, struct diag *d)
{
	static const char *const files[] = {PKI_DB_FILE, PKI_CONF_FILE};
	size_t i;
	char *p;
	bool exists;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = fileio_join(dir, files[i]);
		if (p == NULL)
			return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		exists = fileio_exists(p);
		free(p);
		if (exists)
			return diag_set(d, ERR_EXISTS, 0, 0,
			                "%s/%s already exists: this directory "
			                "is initialised; nothing was changed",
			                dir, files[i]);
	}
	return 0;
}

/*
 * mcpfleetd init --join FIRST --data DIR: another replica of FIRST's fleet
 * (docs/design.md, "Replicas"). FIRST's configuration with this replica's
 * names, address and ports; FIRST's shared key material (pki_join()); the
 * same PostgreSQL store, which must answer, and an audit row
 * "replica.join". No admin token: the fleet has its own already.
 */
static int mcpfleetd_join(const struct mcpfleetd_opts *o)
{
	struct pki_conf conf;
	struct crypto_rng *rng = NULL;
	struct store *st = NULL;
	struct pki pki;
	const char *backend = NULL;
	char *path = NULL, *db = NULL;
	struct diag d;
	size_t i;
	int r, rc = MCPFLEETD_EXIT_FAIL;

	memset(&pki, 0, sizeof(pki));
	diag_clear(&d);
	if (o->store != NULL)
		return mcpfleetd_usage_error(
		    "%s", "--store and --join: a replica uses the store of "
		          "the fleet it joins");
	if ((r = pki_conf_load(o->join, &conf, &d)) != 0) {
		if (r == -ERR_NOENT)
			fprintf(stderr,
			        "mcpfleetd: init --join: %s has no %s: it is "
			        "not the data directory of an initialised "
			        "replica\n",
			        o->join, PKI_CONF_FILE);
		else
			fprintf(stderr, "mcpfleetd: init --join: %s\n", d.msg);
		return MCPFLEETD_EXIT_FAIL;
	}
	if ((db = fileio_join(o->join, PKI_DB_FILE)) == NULL ||
	    store_location(conf.store, db, &backend, &path, &d) != 0)
		goto out;
	if (strcmp(backend, "postgres") != 0) {
		diag_set(&d, ERR_INVALID, 0, 0,
		         "%s keeps its store in SQLite, which one daemon "
		         "serves alone: replicas share a PostgreSQL store "
		         "('mcpfleetd migrate --data %s --to postgres://...' "
		         "first)",
		         o->join, o->join);
		goto out;
	}
	if (o->nnames > 0) {
		conf.nnames = 0;
		for (i = 0; i < o->nnames; i++) {
			if (strlen(o->names[i]) > PKI_NAME_MAX ||
			    o->names[i][0] == '\0') {
				rc = mcpfleetd_usage_error(
				    "--name: '%s' is not a host name",
				    o->names[i]);
				goto out;
			}
			memcpy(conf.names[conf.nnames++], o->names[i],
			       strlen(o->names[i]) + 1);
		}
	}
	if (o->listen != NULL) {
		if (strlen(o->listen) >= sizeof(conf.listen)) {
			rc = mcpfleetd_usage_error("--listen: '%s' is too long",
			                           o->listen);
			goto out;
		}
		memcpy(conf.listen, o->listen, strlen(o->listen) + 1);
	}
	if (o->agent_port >= 0)
		conf.agent_port = o->agent_port;
	if (o->api_port >= 0)
		conf.api_port = o->api_port;
	if (fileio_mkdirs(o->data, 0700) != 0) {
		diag_set(&d, ERR_IO, 0, 0, "%s: cannot create: %s", o->data,
		         strerror(errno));
		goto out;
	}
	(void)chmod(o->data, 0700);
	if (mcpfleetd_check_empty(o->data, &d) != 0 ||
	    store_open(backend, path, &st, &d) != 0 ||
	    crypto_rng_new("mcpfleetd init --join", &rng, &d) != 0 ||
	    pki_join(o->join, o->data, &conf, rng, &d) != 0 ||
	    pki_load(o->data, &pki, &d) != 0)
		goto out;
	if (store_begin(st, &d) != 0 ||
	    store_audit_append(st, "system", "replica.join", o->data, NULL,
	                       NULL, &d) != 0 ||
	    store_commit(st, &d) != 0)
		goto out;
	if (pki_conf_write(o->data, &conf, &d) != 0)
		goto out;
	printf("mcpfleetd: %s joined the fleet of %s\n"
	       "  agent port %d, API port %d, names:",
	       o->data, o->join, conf.agent_port, conf.api_port);
	for (i = 0; i < conf.nnames; i++)
		printf(" %s", conf.names[i]);
	printf("\n  fleet CA pin: %s (the same as every replica's)\n"
	       "\nNext: mcpfleetd serve --data %s\n",
	       pki.ca_pin, o->data);
	rc = MCPFLEETD_EXIT_OK;
out:
	if (rc == MCPFLEETD_EXIT_FAIL)
		fprintf(stderr, "mcpfleetd: init --join: %s\n", d.msg);
	store_close(st);
	pki_free(&pki);
	crypto_rng_free(rng);
	free(db);
	free(path);
	return rc;
}

static int mcpfleetd_init(int argc, char **argv)
{
	struct mcpfleetd_opts o;
	struct pki_conf conf;
	struct crypto_rng *rng = NULL;
	struct store *st = NULL;
	struct pki pki;
	char token[TOKEN_LEN + 1], hash[CRYPTO_HEX_LEN + 1];
	struct diag d;
	const char *backend = NULL;
	char *db = NULL, *path = NULL;
	size_t i;
	int r, rc = MCPFLEETD_EXIT_FAIL;

	memset(&pki, 0, sizeof(pki));
	r = mcpfleetd_parse(argc, argv, true, &o);
	if (r != 0)
		return r;
	if (o.join != NULL)
		return mcpfleetd_join(&o);
	diag_clear(&d);
	pki_conf_defaults(&conf);
	if (o.nnames > 0) {
		conf.nnames = 0;
		for (i = 0; i < o.nnames; i++) {
			if (strlen(o.names[i]) > PKI_NAME_MAX ||
			    o.names[i][0] == '\0')
				return mcpfleetd_usage_error(
				    "--name: '%s' is not a host name",
				    o.names[i]);
			memcpy(conf.names[conf.nnames++], o.names[i],
			       strlen(o.names[i]) + 1);
		}
	}
	if (o.listen != NULL) {
		if (strlen(o.listen) >= sizeof(conf.listen))
			return mcpfleetd_usage_error(
			    "--listen: '%s' is too long", o.listen);
		memcpy(conf.listen, o.listen, strlen(o.listen) + 1);
	}
	if (o.agent_port >= 0)
		conf.agent_port = o.agent_port;
	if (o.api_port >= 0)
		conf.api_port = o.api_port;
	if (o.store != NULL) {
		if (strlen(o.store) > PKI_STORE_MAX)
			return mcpfleetd_usage_error(
			    "--store: longer than %d bytes", PKI_STORE_MAX);
		if (store_location(o.store, "-", &backend, &path, &d) != 0)
			return mcpfleetd_usage_error("--store: %s", d.msg);
		free(path);
		path = NULL;
		memcpy(conf.store, o.store, strlen(o.store) + 1);
	}

	if (fileio_mkdirs(o.data, 0700) != 0) {
		fprintf(stderr, "mcpfleetd: %s: cannot create: %s\n", o.data,
		        strerror(errno));
		return MCPFLEETD_EXIT_FAIL;
	}
	(void)chmod(o.data, 0700);
	if ((db = fileio_join(o.data, PKI_DB_FILE)) == NULL) {
		diag_set(&d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if (mcpfleetd_check_empty(o.data, &d) != 0 ||
	    store_location(conf.store, db, &backend, &path, &d) != 0 ||
	    (strcmp(backend, "sqlite") != 0 &&
	     mcpfleetd_check_store_empty(backend, path, &d) != 0) ||
	    crypto_rng_new("mcpfleetd init", &rng, &d) != 0 ||
	    pki_create(o.data, &conf, rng, &d) != 0 ||
	    pki_load(o.data, &pki, &d) != 0)
		goto out;
	if (store_open(backend, path, &st, &d) != 0 ||
	    pki_audit_attach(o.data, &pki, st, rng, NULL, &d) != 0)
		goto out;
	if (token_new(rng, token, hash) != 0) {
		diag_set(&d, ERR_CRYPTO, 0, 0, "cannot make a token");
		goto out;
	}
	if (store_begin(st, &d) != 0 ||
	    store_admin_token_add(st, "initial", ROLE_OWNER, hash, NULL, &d) !=
	        0 ||
	    store_audit_append(st, "system", "init", o.data, NULL, NULL, &d) !=
	        0 ||
	    store_commit(st, &d) != 0)
		goto out;
	/* The configuration last: its presence says init completed. */
	if (pki_conf_write(o.data, &conf, &d) != 0)
		goto out;
	printf("mcpfleetd: initialised %s\n"
	       "  agent port %d, API port %d, names:",
	       o.data, conf.agent_port, conf.api_port);
	for (i = 0; i < conf.nnames; i++)
		printf(" %s", conf.names[i]);
	printf("\n  fleet CA pin: %s\n"
	       "\n"
	       "The first admin token (shown once, store it safely):\n"
	       "  %s\n"
	       "\n"
	       "Next: mcpfleetd serve --data %s\n"
	       "      export MCPFLEET_SERVER=https://%s:%d MCPFLEET_TOKEN=... "
	       "MCPFLEET_CA=%s/ca.crt\n",
	       pki.ca_pin, token, o.data, conf.names[0], conf.api_port, o.data);
	rc = MCPFLEETD_EXIT_OK;
out:
	if (rc != MCPFLEETD_EXIT_OK)
		fprintf(stderr, "mcpfleetd: init: %s\n", d.msg);
	crypto_wipe(token, sizeof(token));
	store_close(st);
	free(db);
	free(path);
	pki_free(&pki);
	crypto_rng_free(rng);
	return rc;
}

/*
 * The options of a command on a data directory: --data DIR, one more
 * (--OTHER VALUE: --to, --from, --checkpoint, --days), --help, and no
 * argument besides. With other_required, --OTHER must be given. Returns 0
 * or an exit status.
 */
static int mcpfleetd_data_args(int argc, char **argv, const char *other,
                               bool other_required, const char **data,
                               const char **value)
{
	const struct option longopts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {other, required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			*data = optarg;
			break;
		case 'o':
			*value = optarg;
			break;
		case 'h':
			mcpfleetd_usage(stdout);
			exit(MCPFLEETD_EXIT_OK);
		default:
			return mcpfleetd_usage_error("%s", "bad option");
		}
	}
	if (optind < argc)
		return mcpfleetd_usage_error("unexpected argument '%s'",
		                             argv[optind]);
	if (*data == NULL || (other_required && *value == NULL))
		return other_required
		           ? mcpfleetd_usage_error(
		                 "--data and --%s are required", other)
		           : mcpfleetd_usage_error("%s",
		                                   "--data DIR is required");
	return 0;
}

/*
 * mcpfleetd migrate --data DIR --to LOCATION: copies the data directory's
 * SQLite store into an empty PostgreSQL database (store_copy(): every
 * row with its ids, the audit chain verified before the commit), records
 * the move in the copied audit log and points mcpfleetd.conf at the new
 * store. fleet.db is kept as it was, unused. Stop serve first: the copy
 * holds the SQLite write lock, and a running daemon keeps the old store
 * until it restarts.
 */
static int mcpfleetd_migrate(int argc, char **argv)
{
	const char *data = NULL, *to = NULL, *backend = NULL;
	struct store *src = NULL, *dst = NULL;
	struct crypto_rng *rng = NULL;
	struct pki_conf conf;
	struct pki pki;
	struct diag d;
	char *db = NULL, *path = NULL;
	int64_t rows = 0, checked = 0;
	int rc = MCPFLEETD_EXIT_FAIL;

	memset(&pki, 0, sizeof(pki));
	if ((rc = mcpfleetd_data_args(argc, argv, "to", true, &data, &to)) != 0)
		return rc;
	rc = MCPFLEETD_EXIT_FAIL;
	diag_clear(&d);
	if (strlen(to) > PKI_STORE_MAX)
		return mcpfleetd_usage_error("--to: longer than %d bytes",
		                             PKI_STORE_MAX);
	if (store_location(to, "-", &backend, &path, &d) != 0)
		return mcpfleetd_usage_error("--to: %s", d.msg);
	if (strcmp(backend, "postgres") != 0) {
		free(path);
		return mcpfleetd_usage_error(
		    "%s", "--to: migrate copies to PostgreSQL "
		          "(postgres://... or postgres:KEYWORD=VALUE...)");
	}
	if (pki_conf_load(data, &conf, &d) != 0)
		goto out;
	if (conf.store[0] != '\0') {
		diag_set(&d, ERR_INVALID, 0, 0,
		         "%s: the store is already in PostgreSQL (the store "
		         "key of mcpfleetd.conf); nothing was changed",
		         data);
		goto out;
	}
	if ((db = fileio_join(data, PKI_DB_FILE)) == NULL) {
		diag_set(&d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if (!fileio_exists(db)) {
		diag_set(&d, ERR_NOENT, 0, 0, "%s: no such store", db);
		goto out;
	}
	/* The chain is copied as it is and must verify under the data
	 * directory's audit key on both sides; one from before audit keys
	 * gets its key first, as serve would give it. */
	if (pki_load(data, &pki, &d) != 0 ||
	    crypto_rng_new("mcpfleetd migrate", &rng, &d) != 0 ||
	    store_open("sqlite", db, &src, &d) != 0 ||
	    pki_audit_attach(data, &pki, src, rng, NULL, &d) != 0 ||
	    store_open(backend, path, &dst, &d) != 0 ||
	    pki_audit_attach(data, &pki, dst, rng, NULL, &d) != 0 ||
	    store_copy(src, dst, &rows, &d) != 0)
		goto out;
	/* The move is the first row the new store appends; the location
	 * holds no password (store_location() refused one). */
	if (store_audit_append(dst, "system", "store.migrate", to,
	                       "{\"from\": \"sqlite\"}", NULL, &d) != 0 ||
	    store_audit_verify(dst, &checked, NULL, &d) != 0)
		goto out;
	memcpy(conf.store, to, strlen(to) + 1);
	if (pki_conf_write(data, &conf, &d) != 0)
		goto out;
	printf("mcpfleetd: migrated %s to PostgreSQL: %lld rows copied, "
	       "audit chain of %lld rows verified\n"
	       "  %s/mcpfleetd.conf now names the new store; %s is kept, "
	       "unused.\n"
	       "Next: mcpfleetd serve --data %s\n",
	       db, (long long)rows, (long long)checked, data, db, data);
	rc = MCPFLEETD_EXIT_OK;
out:
	if (rc != MCPFLEETD_EXIT_OK)
		fprintf(stderr, "mcpfleetd: migrate: %s\n", d.msg);
	store_close(dst);
	store_close(src);
	pki_free(&pki);
	crypto_rng_free(rng);
	free(db);
	free(path);
	return rc;
}

/*
 * mcpfleetd audit-verify --data DIR [--checkpoint FILE]: what
 * GET /api/v1/audit/verify and POST /api/v1/audit/verify do, without the
 * daemon: on a copy of the data directory an auditor trusts more than the
 * running server. Changes nothing (a directory without audit.key is
 * verified unkeyed, and says so).
 */
static int mcpfleetd_audit_verify(int argc, char **argv)
{
	const char *data = NULL, *file = NULL, *backend = NULL;
	struct store_audit_head want, head;
	struct checkpoint cp;
	struct store *st = NULL;
	struct pki_conf conf;
	struct pki pki;
	struct diag d, sub;
	char *db = NULL, *path = NULL, *text = NULL;
	size_t len = 0;
	int64_t bad = 0;
	int r, rc = MCPFLEETD_EXIT_FAIL;

	memset(&pki, 0, sizeof(pki));
	memset(&cp, 0, sizeof(cp));
	if ((r = mcpfleetd_data_args(argc, argv, "checkpoint", false, &data,
	                             &file)) != 0)
		return r;
	diag_clear(&d);
	diag_clear(&sub);
	if (file != NULL) {
		if ((r = fileio_read(file, CHECKPOINT_MAX, &text, &len)) != 0) {
			diag_set(&d, -r, 0, 0, "%s: %s", file,
			         r == -ERR_TOOBIG  ? "larger than a checkpoint"
			         : r == -ERR_NOENT ? "no such file"
			                           : strerror(errno));
			goto out;
		}
		if ((r = checkpoint_parse(text, len, &cp, &sub)) != 0) {
			diag_set(&d, -r, 0, 0, "%s: %s", file, sub.msg);
			goto out;
		}
	}
	if (pki_conf_load(data, &conf, &d) != 0 ||
	    pki_load(data, &pki, &d) != 0)
		goto out;
	if (file != NULL &&
	    (r = checkpoint_verify(&cp, pki.signer_key_id, &sub)) != 0) {
		diag_set(&d, -r, 0, 0, "%s: %s", file, sub.msg);
		goto out;
	}
	if ((db = fileio_join(data, PKI_DB_FILE)) == NULL) {
		diag_set(&d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if (store_location(conf.store, db, &backend, &path, &d) != 0 ||
	    store_open(backend, path, &st, &d) != 0)
		goto out;
	if (pki.audit_keyed &&
	    store_audit_key(st, pki.audit_key, pki.audit_keyed_from, &d) != 0)
		goto out;
	memset(&want, 0, sizeof(want));
	want.rows = cp.rows;
	want.at = cp.head_at;
	memcpy(want.hash, cp.head_hash, sizeof(want.hash));
	want.keyed_from = cp.keyed_from;
	if (store_audit_verify_head(st, file != NULL ? &want : NULL, &head,
	                            &bad, &d) != 0)
		goto out;
	if (head.keyed_from > 0)
		printf(
		    "mcpfleetd: %s: audit chain of %lld rows verified, keyed "
		    "(HMAC-SHA-256) from row %lld\n",
		    data, (long long)head.rows, (long long)head.keyed_from);
	else
		printf("mcpfleetd: %s: audit chain of %lld rows verified, "
		       "unkeyed (no %s yet: serve creates it)\n",
		       data, (long long)head.rows, PKI_AUDIT_KEY_FILE);
	if (file != NULL)
		printf(
		    "  the checkpoint of %lld rows in %s holds: no row up to "
		    "it was removed or changed\n",
		    (long long)cp.rows, file);
	rc = MCPFLEETD_EXIT_OK;
out:
	if (rc != MCPFLEETD_EXIT_OK)
		fprintf(stderr, "mcpfleetd: audit-verify: %s\n", d.msg);
	store_close(st);
	pki_free(&pki);
	checkpoint_clear(&cp);
	free(text);
	free(db);
	free(path);
	return rc;
}

/* mcpfleetd backup --data DIR --to FILE (README, "Backup and restore"). */
static int mcpfleetd_backup(int argc, char **argv)
{
	const char *data = NULL, *to = NULL;
	struct diag d;
	bool pg = false;
	int r;

	if ((r = mcpfleetd_data_args(argc, argv, "to", true, &data, &to)) != 0)
		return r;
	diag_clear(&d);
	if (backup_write(data, to, &pg, &d) != 0) {
		fprintf(stderr, "mcpfleetd: backup: %s\n", d.msg);
		return MCPFLEETD_EXIT_FAIL;
	}
	printf("mcpfleetd: %s: backed up to %s (0600: it holds the CA key "
	       "and the master key)\n",
	       data, to);
	if (pg)
		printf(
		    "  the store is PostgreSQL: %s holds the keys and %s but "
		    "no database;\n"
		    "  save the database with pg_dump (e.g. pg_dump -Fc -f "
		    "fleet.dump DBNAME)\n"
		    "  and keep both: one without the other restores "
		    "nothing\n",
		    to, PKI_CONF_FILE);
	return MCPFLEETD_EXIT_OK;
}

/* mcpfleetd restore --from FILE --data NEWDIR, then audit-verify. */
static int mcpfleetd_restore(int argc, char **argv)
{
	const char *data = NULL, *from = NULL;
	struct diag d;
	int r;

	if ((r = mcpfleetd_data_args(argc, argv, "from", true, &data, &from)) !=
	    0)
		return r;
	diag_clear(&d);
	if (backup_restore(from, data, &d) != 0) {
		fprintf(stderr, "mcpfleetd: restore: %s\n", d.msg);
		return MCPFLEETD_EXIT_FAIL;
	}
	printf("mcpfleetd: %s: restored from %s\n", data, from);
	fflush(stdout);
	char a0[] = "audit-verify", a1[] = "--data";
	char *dir = strdup(data);
	if (dir == NULL) {
		fprintf(stderr, "mcpfleetd: restore: out of memory\n");
		return MCPFLEETD_EXIT_FAIL;
	}
	char *av[] = {a0, a1, dir, NULL};
	r = mcpfleetd_audit_verify(3, av);
	free(dir);
	return r;
}

static void mcpfleetd_on_signal(int sig)
{
	(void)sig;
	if (mcpfleetd_core != NULL)
		core_stop(mcpfleetd_core);
}

static void mcpfleetd_lws_log(int level, const char *line)
{
	(void)level;
	fprintf(stderr, "mcpfleetd: libwebsockets: %s", line);
}

/*
 * Raises the soft limit on open files to the hard one (at most
 * MCPFLEETD_NOFILE_MAX): every connected agent holds a socket, and the
 * usual soft limit of 1024 would cap the fleet at about a thousand. It
 * must come before the libwebsockets context exists, which sizes itself by
 * the limit in force. Returns that limit (0 when unknown).
 */
static rlim_t mcpfleetd_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	want = rl.rlim_max;
	if (want == RLIM_INFINITY || want > MCPFLEETD_NOFILE_MAX)
		want = MCPFLEETD_NOFILE_MAX;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return rl.rlim_cur;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 &&
	    getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	return rl.rlim_cur;
}

static int mcpfleetd_serve(int argc, char **argv)
{
	struct mcpfleetd_opts o;
	struct sigaction sa;
	struct core c;
	struct diag d;
	rlim_t nofile;
	int r;

	r = mcpfleetd_parse(argc, argv, false, &o);
	if (r != 0)
		return r;
	nofile = mcpfleetd_raise_nofile();
	netclient_lws_log(o.verbose > 1 ? NETCLIENT_LOG_ERR | NETCLIENT_LOG_WARN
	                                : 0,
	                  mcpfleetd_lws_log);
	diag_clear(&d);
	r = core_open(&c, o.data, o.listen, o.agent_port, o.api_port, &d);
	if (r != 0) {
		fprintf(stderr, "mcpfleetd: serve: %s\n", d.msg);
		core_close(&c);
		return MCPFLEETD_EXIT_FAIL;
	}
	c.verbose = o.verbose;
	mcpfleetd_core = &c;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mcpfleetd_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fprintf(stderr,
	        "mcpfleetd: serving %s: agent port %d, API port %d, CA %s, "
	        "open files limit %llu\n",
	        o.data, net_agent_port(c.net), net_api_port(c.net),
	        c.pki.ca_pin, (unsigned long long)nofile);
	fflush(stderr);
	r = core_run(&c);
	mcpfleetd_core = NULL;
	core_close(&c);
	fprintf(stderr, "mcpfleetd: stopped\n");
	return r == 0 ? MCPFLEETD_EXIT_OK : MCPFLEETD_EXIT_FAIL;
}

/*
 * mcpfleetd cert renew --data DIR [--days N]: a new server certificate for
 * the same key and names, signed by the fleet CA (pki_server_renew()).
 */
static int mcpfleetd_cert(int argc, char **argv)
{
	const char *data = NULL, *dayss = NULL;
	struct crypto_cert_info info;
	struct crypto_rng *rng = NULL;
	unsigned long days = PKI_SERVER_DAYS;
	char *end, when[32];
	struct diag d;
	struct tm tm;
	time_t t;
	int rc = MCPFLEETD_EXIT_FAIL;

	if (argc < 2 || strcmp(argv[1], "renew") != 0)
		return mcpfleetd_usage_error(
		    "%s", argc < 2 ? "cert: which? ('cert renew')"
		                   : "cert: the only one is 'cert renew'");
	if ((rc = mcpfleetd_data_args(argc - 1, argv + 1, "days", false, &data,
	                              &dayss)) != 0)
		return rc;
	rc = MCPFLEETD_EXIT_FAIL;
	if (dayss != NULL) {
		errno = 0;
		days = strtoul(dayss, &end, 10);
		if (errno != 0 || end == dayss || *end != '\0' ||
		    dayss[0] == '-' || days < 1 || days > PKI_DAYS_MAX)
			return mcpfleetd_usage_error(
			    "--days: '%s' is not 1 to %d", dayss, PKI_DAYS_MAX);
	}
	diag_clear(&d);
	if (crypto_rng_new("mcpfleetd cert renew", &rng, &d) == 0 &&
	    pki_server_renew(data, (unsigned)days, rng, &info, &d) == 0) {
		t = info.not_after;
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
		             &tm) == 0)
			(void)snprintf(when, sizeof(when), "%lld",
			               (long long)info.not_after);
		printf("%s/%s: renewed, serial %s, valid until %s; restart "
		       "serve to use it\n",
		       data, PKI_SERVER_CERT_FILE, info.serial, when);
		rc = MCPFLEETD_EXIT_OK;
	} else {
		fprintf(stderr, "mcpfleetd: cert renew: %s\n", d.msg);
	}
	crypto_rng_free(rng);
	return rc;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN); /* docs/transport.md, G14 */
	if (argc < 2) {
		mcpfleetd_usage(stderr);
		return MCPFLEETD_EXIT_USAGE;
	}
	if (strcmp(argv[1], "init") == 0)
		return mcpfleetd_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return mcpfleetd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "migrate") == 0)
		return mcpfleetd_migrate(argc - 1, argv + 1);
	if (strcmp(argv[1], "audit-verify") == 0)
		return mcpfleetd_audit_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "backup") == 0)
		return mcpfleetd_backup(argc - 1, argv + 1);
	if (strcmp(argv[1], "restore") == 0)
		return mcpfleetd_restore(argc - 1, argv + 1);
	if (strcmp(argv[1], "cert") == 0)
		return mcpfleetd_cert(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0) {
		printf("mcpfleetd %s\n", MCPFLEETD_VERSION);
		return MCPFLEETD_EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		mcpfleetd_usage(stdout);
		return MCPFLEETD_EXIT_OK;
	}
	return mcpfleetd_usage_error("unknown command '%s'", argv[1]);
}
