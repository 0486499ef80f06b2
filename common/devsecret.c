/* SPDX-License-Identifier: MIT */
/* Device data keys and the secret values sealed under them. */
#include "devsecret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define DEVSECRET_REF "${secret:"

int devsecret_derive(const uint8_t master[CRYPTO_SEAL_KEY_LEN],
                     const char *device_id, uint8_t key[DEVSECRET_KEY_LEN])
{
	static const char salt[] = "mcpfleet-device-data-key-v1";

	return crypto_hkdf_sha256(salt, sizeof(salt) - 1, master,
	                          CRYPTO_SEAL_KEY_LEN, device_id,
	                          strlen(device_id), key, DEVSECRET_KEY_LEN);
}

int devsecret_key_id(const uint8_t key[DEVSECRET_KEY_LEN],
                     char out[CRYPTO_HEX_LEN + 1])
{
	uint8_t h[CRYPTO_HASH_LEN];
	int r;

	if ((r = crypto_sha256(key, DEVSECRET_KEY_LEN, h)) != 0)
		return r;
	return crypto_hex(h, sizeof(h), out, CRYPTO_HEX_LEN + 1);
}

int devsecret_aad(const char *device_id, const char *name, int64_t version,
                  char out[DEVSECRET_AAD_MAX], size_t *len)
{
	int n = snprintf(out, DEVSECRET_AAD_MAX,
	                 "mcpfleet-devsecret-v1\n%s\n%s\n%lld", device_id, name,
	                 (long long)version);

	if (n < 0 || n >= DEVSECRET_AAD_MAX)
		return -ERR_TRUNC;
	*len = (size_t)n;
	return 0;
}

int devsecret_seal(struct crypto_rng *rng, const uint8_t key[DEVSECRET_KEY_LEN],
                   const char *device_id, const char *name, int64_t version,
                   const char *value, size_t len, uint8_t **out, size_t *outlen,
                   struct diag *d)
{
	char aad[DEVSECRET_AAD_MAX];
	size_t aadlen;

	if (devsecret_aad(device_id, name, version, aad, &aadlen) != 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "secret %s: the device id or name is too long",
		                name);
	return crypto_seal(rng, key, aad, aadlen, value, len, out, outlen, d);
}

static void devsecret_wipe_str(char *s)
{
	if (s != NULL)
		crypto_secret_free(s, strlen(s));
}

void server_wipe(struct server *s)
{
	size_t i;

	if (s == NULL)
		return;
	devsecret_wipe_str(s->command);
	devsecret_wipe_str(s->url);
	s->command = s->url = NULL;
	for (i = 0; i < s->args.n; i++) {
		devsecret_wipe_str(s->args.v[i]);
		s->args.v[i] = NULL;
	}
	for (i = 0; i < s->env.n; i++) {
		devsecret_wipe_str(s->env.v[i].value);
		s->env.v[i].value = NULL;
	}
	for (i = 0; i < s->headers.n; i++) {
		devsecret_wipe_str(s->headers.v[i].value);
		s->headers.v[i].value = NULL;
	}
	server_clear(s);
}

/* Fills the placeholders of one string in place. */
static int devsecret_fill_str(const struct server *s,
                              const uint8_t key[DEVSECRET_KEY_LEN],
                              const char *device_id, char **sp, struct diag *d)
{
	struct buf b = BUF_INIT;
	const char *p = *sp, *open, *close;
	char name[256], aad[DEVSECRET_AAD_MAX];
	size_t n, aadlen, ptlen;
	uint8_t *pt;
	int r = 0;

	if (p == NULL || strstr(p, DEVSECRET_REF) == NULL)
		return 0;
	while ((open = strstr(p, DEVSECRET_REF)) != NULL) {
		const struct sealed_secret *sec;

		if ((r = buf_append(&b, p, (size_t)(open - p))) != 0)
			goto out;
		open += strlen(DEVSECRET_REF);
		if ((close = strchr(open, '}')) == NULL ||
		    (n = (size_t)(close - open)) == 0 || n >= sizeof(name)) {
			r = diag_set(d, ERR_VERIFY, 0, 0,
			             "server %s: a malformed ${secret:...}",
			             s->name);
			goto out;
		}
		memcpy(name, open, n);
		name[n] = '\0';
		if ((sec = sealed_list_find(&s->secrets, name)) == NULL) {
			r = diag_set(
			    d, ERR_VERIFY, 0, 0,
			    "server %s: no sealed value came for secret "
			    "%s",
			    s->name, name);
			goto out;
		}
		if (devsecret_aad(device_id, name, sec->version, aad,
		                  &aadlen) != 0 ||
		    crypto_open(key, aad, aadlen, sec->data, sec->len, &pt,
		                &ptlen, NULL) != 0) {
			r = diag_set(
			    d, ERR_VERIFY, 0, 0,
			    "server %s: the value of secret %s (version "
			    "%lld) does not open with this device's "
			    "data key",
			    s->name, name, (long long)sec->version);
			goto out;
		}
		r = buf_append(&b, pt, ptlen);
		crypto_secret_free(pt, ptlen);
		if (r != 0)
			goto out;
		p = close + 1;
	}
	if ((r = buf_puts(&b, p)) != 0)
		goto out;
	devsecret_wipe_str(*sp);
	if ((*sp = buf_steal(&b, NULL)) == NULL)
		r = -ERR_NOMEM;
out:
	if (b.data != NULL)
		crypto_secret_free(b.data, b.cap);
	return r;
}

int devsecret_fill(const struct server *s, const uint8_t key[DEVSECRET_KEY_LEN],
                   const char *device_id, struct server *out, struct diag *d)
{
	struct server c;
	size_t i;
	int r;

	if ((r = server_copy(s, &c)) != 0)
		return r;
	sealed_list_clear(&c.secrets);
	if ((r = devsecret_fill_str(s, key, device_id, &c.command, d)) != 0 ||
	    (r = devsecret_fill_str(s, key, device_id, &c.url, d)) != 0)
		goto fail;
	for (i = 0; i < c.args.n; i++)
		if ((r = devsecret_fill_str(s, key, device_id, &c.args.v[i],
		                            d)) != 0)
			goto fail;
	for (i = 0; i < c.env.n; i++)
		if ((r = devsecret_fill_str(s, key, device_id,
		                            &c.env.v[i].value, d)) != 0)
			goto fail;
	for (i = 0; i < c.headers.n; i++)
		if ((r = devsecret_fill_str(s, key, device_id,
		                            &c.headers.v[i].value, d)) != 0)
			goto fail;
	*out = c;
	return 0;
fail:
	server_wipe(&c);
	return r;
}
