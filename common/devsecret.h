/* SPDX-License-Identifier: MIT */
/* Secrets at rest on a workstation: each device's data key, and the secret
 * values of its catalogue sealed under it (docs/design.md, "Edge launcher"). */
#ifndef MCPFLEET_DEVSECRET_H
#define MCPFLEET_DEVSECRET_H

#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "crypto.h"
#include "err.h"

#define DEVSECRET_KEY_LEN CRYPTO_SEAL_KEY_LEN
#define DEVSECRET_AAD_MAX 512

/*
 * The server gives every device its own data key (devsecret_derive()) and
 * seals each secret value of that device's catalogue under it with
 * AES-256-GCM, the associated data binding the value to the
 * device, the secret's name and its version:
 *
 *   "mcpfleet-devsecret-v1\n" DEVICE_ID "\n" NAME "\n" VERSION
 *
 * The strings of the catalogue keep their ${secret:NAME} placeholders, so
 * catalogue.pb stays the exact signed envelope and holds no value in
 * clear. The agent opens values in memory only, when a launcher asks (or
 * to render a server the fleet wants rendered natively). Deleting the key
 * (revocation, unenroll) makes every sealed copy useless.
 */

/*
 * The data key of device_id: HKDF-SHA256 of the server's master key with
 * the salt "mcpfleet-device-data-key-v1" and the device id as info. It is
 * random to anyone without master.key, and needs no storage: the server
 * derives it again for every revision, and only the device keeps a copy
 * (data.key), which revocation and unenroll delete. Returns 0 or
 * -ERR_CRYPTO.
 */
int devsecret_derive(const uint8_t master[CRYPTO_SEAL_KEY_LEN],
                     const char *device_id, uint8_t key[DEVSECRET_KEY_LEN]);

/* Writes the hex SHA-256 of key (its id, as Hello and DeviceKey carry). */
int devsecret_key_id(const uint8_t key[DEVSECRET_KEY_LEN],
                     char out[CRYPTO_HEX_LEN + 1]);

/* Writes the associated data above into out. Returns 0 with *len, or
 * -ERR_TRUNC. */
int devsecret_aad(const char *device_id, const char *name, int64_t version,
                  char out[DEVSECRET_AAD_MAX], size_t *len);

/* Seals value for device_id. Returns 0 with *out (free()) of *outlen
 * bytes, or a negative code with d. */
int devsecret_seal(struct crypto_rng *rng, const uint8_t key[DEVSECRET_KEY_LEN],
                   const char *device_id, const char *name, int64_t version,
                   const char *value, size_t len, uint8_t **out, size_t *outlen,
                   struct diag *d);

/*
 * Fills every ${secret:NAME} in the command, args, env values, URL and
 * header values of s with the value of NAME in s->secrets, opened with key
 * for device_id, into a new server *out (without sealed values; free with
 * server_wipe()). The filled-in text is not scanned again. Returns 0,
 * -ERR_VERIFY with d naming the server and the secret when a value is
 * missing or does not open (another device's, a replaced key), -ERR_NOMEM.
 */
int devsecret_fill(const struct server *s, const uint8_t key[DEVSECRET_KEY_LEN],
                   const char *device_id, struct server *out, struct diag *d);

/* Overwrites the strings of s that may hold secret values (command, args,
 * env, URL, headers), then server_clear(). NULL-safe. */
void server_wipe(struct server *s);

#endif
