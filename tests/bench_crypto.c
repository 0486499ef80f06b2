/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: what signing a revision costs. Prints medians of: a P-256
 * signature, its verification, the Merkle root over LEAVES views of
 * LEAF_BYTES each, one inclusion proof and its verification, and then the
 * two schemes for one revision: signing every view separately versus one
 * Merkle root, one signature and a proof per view. Not a test: it prints
 * figures.
 *   usage: bench_crypto [RUNS] [LEAVES] [LEAF_BYTES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "crypto.h"

static void bench_die(const char *what, const struct diag *d)
{
	fprintf(stderr, "bench_crypto: %s: %s\n", what,
	        d != NULL ? d->msg : "failed");
	exit(1);
}

static size_t bench_arg(int argc, char **argv, int i, size_t def)
{
	char *end;
	unsigned long v;

	if (argc <= i)
		return def;
	v = strtoul(argv[i], &end, 10);
	if (*end != '\0' || v == 0 || v > 10000000ul) {
		fprintf(stderr, "bench_crypto: bad argument \"%s\"\n", argv[i]);
		exit(2);
	}
	return (size_t)v;
}

int main(int argc, char **argv)
{
	size_t runs = bench_arg(argc, argv, 1, 201);
	size_t nleaves = bench_arg(argc, argv, 2, 10000);
	size_t leafbytes = bench_arg(argc, argv, 3, 2048);
	size_t mruns = runs / 20 < 5 ? 5 : runs / 20;
	struct crypto_rng *rng = NULL;
	struct crypto_key *key = NULL;
	struct crypto_merkle *t = NULL;
	struct crypto_leaf *leaves;
	uint8_t *views, sig[CRYPTO_SIG_MAX], root[CRYPTO_HASH_LEN],
	    path[CRYPTO_MERKLE_PROOF_MAX];
	size_t siglen = 0, plen = 0, i, j, pathsum = 0;
	double *v, t0, sign_ms, verify_ms, root_ms, proof_us, pverify_us;
	struct diag d;

	v = calloc(runs > mruns ? runs : mruns, sizeof(*v));
	leaves = calloc(nleaves, sizeof(*leaves));
	views = malloc(nleaves * leafbytes);
	if (v == NULL || leaves == NULL || views == NULL)
		bench_die("out of memory", NULL);
	if (crypto_rng_new("bench_crypto", &rng, &d) != 0)
		bench_die("rng", &d);
	if (crypto_key_generate(rng, &key, &d) != 0)
		bench_die("key", &d);
	if (crypto_random(rng, views, nleaves * leafbytes) != 0)
		bench_die("random views", NULL);
	for (i = 0; i < nleaves; i++) {
		leaves[i].data = views + i * leafbytes;
		leaves[i].len = leafbytes;
	}

	/* One signature over a view-sized message, and its verification. */
	for (i = 0; i < runs; i++) {
		t0 = bench_now_ms();
		if (crypto_sign(key, rng, views, leafbytes, sig, &siglen, &d))
			bench_die("sign", &d);
		v[i] = bench_now_ms() - t0;
	}
	sign_ms = bench_median(v, runs);
	for (i = 0; i < runs; i++) {
		t0 = bench_now_ms();
		if (crypto_verify(key, views, leafbytes, sig, siglen, &d))
			bench_die("verify", &d);
		v[i] = bench_now_ms() - t0;
	}
	verify_ms = bench_median(v, runs);

	/* The Merkle root over every view of a revision. */
	for (i = 0; i < mruns; i++) {
		crypto_merkle_free(t);
		t = NULL;
		t0 = bench_now_ms();
		if (crypto_merkle_build(leaves, nleaves, &t, &d) != 0)
			bench_die("merkle", &d);
		v[i] = bench_now_ms() - t0;
	}
	root_ms = bench_median(v, mruns);
	crypto_merkle_root(t, root);

	/* A proof per view: time them all, per proof. */
	for (i = 0; i < mruns; i++) {
		t0 = bench_now_ms();
		for (j = 0; j < nleaves; j++)
			if (crypto_merkle_proof(t, j, path, &plen) != 0)
				bench_die("proof", NULL);
		v[i] = (bench_now_ms() - t0) * 1e3 / (double)nleaves;
	}
	proof_us = bench_median(v, mruns);
	for (j = 0; j < nleaves; j++) {
		if (crypto_merkle_proof(t, j, path, &plen) != 0)
			bench_die("proof", NULL);
		pathsum += plen;
	}
	/* What an agent does with its envelope: check its proof. */
	for (i = 0; i < runs; i++) {
		j = (i * 7919) % nleaves;
		if (crypto_merkle_proof(t, j, path, &plen) != 0)
			bench_die("proof", NULL);
		t0 = bench_now_ms();
		if (crypto_merkle_verify(leaves[j].data, leaves[j].len, j,
		                         nleaves, path, plen, root) != 0)
			bench_die("proof verify", NULL);
		v[i] = (bench_now_ms() - t0) * 1e3;
	}
	pverify_us = bench_median(v, runs);

	printf("mbedTLS P-256, %zu runs; %zu views of %zu bytes\n", runs,
	       nleaves, leafbytes);
	printf("  sign (SHA-256 + ECDSA)       %8.3f ms\n", sign_ms);
	printf("  verify                       %8.3f ms\n", verify_ms);
	printf("  merkle root, %zu leaves   %8.2f ms\n", nleaves, root_ms);
	printf("  inclusion proof              %8.3f us  (mean %zu bytes)\n",
	       proof_us, pathsum / nleaves);
	printf("  proof verify (leaf hashed)   %8.3f us\n", pverify_us);
	printf("one revision, %zu views:\n", nleaves);
	printf("  sign every view              %8.1f ms\n",
	       sign_ms * (double)nleaves);
	printf("  root + 1 signature + proofs  %8.1f ms  (%.0fx less)\n",
	       root_ms + sign_ms + proof_us * (double)nleaves / 1e3,
	       sign_ms * (double)nleaves /
	           (root_ms + sign_ms + proof_us * (double)nleaves / 1e3));
	printf("  agent: verify sig + proof    %8.3f ms\n",
	       verify_ms + pverify_us / 1e3);

	crypto_merkle_free(t);
	crypto_key_free(key);
	crypto_rng_free(rng);
	free(views);
	free(leaves);
	free(v);
	return 0;
}
