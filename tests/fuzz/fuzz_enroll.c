/* SPDX-License-Identifier: MIT */
/* Fuzz target: POST /v1/enroll bodies (network input, before any
 * authentication) through enroll_handle() against a real store and CA. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "enroll.h"
#include "fileio.h"
#include "mcpfleet.pb-c.h"
#include "pki.h"
#include "store.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The corpus's requests carry this token, so they reach the store. */
#define FUZZ_ENROLL_TOKEN "fuzz-enroll-token"

static struct {
	char dir[4096];
	struct crypto_rng *rng;
	struct pki pki;
	struct store *st;
	struct enroll_ctx ctx;
} fuzz_enroll_env;

/* Removes the temporary data directory when the process ends. */
static void fuzz_enroll_cleanup(void)
{
	static const char *const files[] = {
	    PKI_CA_CERT_FILE,     PKI_CA_KEY_FILE,
	    PKI_SERVER_CERT_FILE, PKI_SERVER_KEY_FILE,
	    PKI_SIGNER_KEY_FILE,  PKI_MASTER_KEY_FILE,
	    PKI_DB_FILE,          PKI_DB_FILE "-wal",
	    PKI_DB_FILE "-shm",   PKI_DB_FILE "-journal",
	};
	char *p;
	size_t i;

	store_close(fuzz_enroll_env.st);
	pki_free(&fuzz_enroll_env.pki);
	crypto_rng_free(fuzz_enroll_env.rng);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((p = fileio_join(fuzz_enroll_env.dir, files[i])) != NULL)
			(void)unlink(p);
		free(p);
	}
	(void)rmdir(fuzz_enroll_env.dir);
}

/* Sets up a data directory, a store with user "fuzz" and a token with
 * plenty of uses, once per process. */
static const struct enroll_ctx *fuzz_enroll_setup(void)
{
	static bool ready;
	const char *tmp = getenv("TMPDIR");
	struct pki_conf conf;
	char hash[CRYPTO_HEX_LEN + 1];
	struct diag d;
	int64_t user = 0;
	char *db;
	int w;

	if (ready)
		return &fuzz_enroll_env.ctx;
	w = snprintf(fuzz_enroll_env.dir, sizeof(fuzz_enroll_env.dir),
	             "%s/mcpfleet-fuzz-enroll-XXXXXX",
	             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (w < 0 || (size_t)w >= sizeof(fuzz_enroll_env.dir) ||
	    mkdtemp(fuzz_enroll_env.dir) == NULL)
		abort();
	pki_conf_defaults(&conf);
	if (crypto_rng_new("fuzz_enroll", &fuzz_enroll_env.rng, &d) != 0 ||
	    pki_create(fuzz_enroll_env.dir, &conf, fuzz_enroll_env.rng, &d) !=
	        0 ||
	    pki_load(fuzz_enroll_env.dir, &fuzz_enroll_env.pki, &d) != 0)
		abort();
	if ((db = fileio_join(fuzz_enroll_env.dir, PKI_DB_FILE)) == NULL ||
	    store_open("sqlite", db, &fuzz_enroll_env.st, &d) != 0)
		abort();
	free(db);
	if (atexit(fuzz_enroll_cleanup) != 0)
		abort();
	if (store_user_add(fuzz_enroll_env.st, "fuzz", NULL, &user, &d) != 0 ||
	    token_hash(FUZZ_ENROLL_TOKEN, hash) != 0 ||
	    store_token_create(fuzz_enroll_env.st, hash, user,
	                       (int64_t)time(NULL) + 10 * 365 * 86400LL,
	                       1000000, "fuzz", NULL, &d) != 0)
		abort();
	fuzz_enroll_env.ctx.st = fuzz_enroll_env.st;
	fuzz_enroll_env.ctx.pki = &fuzz_enroll_env.pki;
	fuzz_enroll_env.ctx.rng = fuzz_enroll_env.rng;
	fuzz_enroll_env.ctx.device_days = 30;
	fuzz_enroll_env.ctx.agent_port = 7443;
	ready = true;
	return &fuzz_enroll_env.ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct enroll_ctx *ctx = fuzz_enroll_setup();
	Mcpfleet__V1__EnrollResponse *rsp;
	struct enroll_result res;
	struct buf out = BUF_INIT;
	struct diag d;
	int status = 0, r;

	diag_clear(&d);
	r = enroll_handle(ctx, "192.0.2.1", data, size, &status, &out, &res,
	                  &d);
	/* Whatever comes in, the answer is one of the documented ones and
	 * agrees with the return code. */
	if (r == 0) {
		if (status != 200)
			abort();
		rsp = mcpfleet__v1__enroll_response__unpack(
		    NULL, out.len, (const uint8_t *)out.data);
		if (rsp == NULL || strcmp(rsp->device_id, res.device_id) != 0 ||
		    crypto_cert_verify((const char *)rsp->certificate_pem.data,
		                       rsp->certificate_pem.len,
		                       ctx->pki->ca_pem, ctx->pki->ca_len,
		                       CRYPTO_PURPOSE_CLIENT, NULL) != 0)
			abort();
		mcpfleet__v1__enroll_response__free_unpacked(rsp, NULL);
	} else {
		if (status != 400 && status != 403 && status != 413 &&
		    status != 500)
			abort();
		if (out.len == 0 || strcmp(out.data, d.msg) != 0)
			abort();
	}
	buf_free(&out);
	return 0;
}
