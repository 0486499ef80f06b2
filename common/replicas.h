/* SPDX-License-Identifier: MIT */
/* The replica set's agent addresses ("host:port"): their syntax, the
 * bounds of a list, and the order in which an agent tries them
 * (docs/design.md, "Replicas: the agents' side"). */
#ifndef MCPFLEET_REPLICAS_H
#define MCPFLEET_REPLICAS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define REPLICAS_MAX      32  /* addresses in one list */
#define REPLICAS_HOST_MAX 253 /* a DNS name, or an IP literal */
/* "[" host "]:" port: the longest address spelled. */
#define REPLICAS_ADDR_MAX (REPLICAS_HOST_MAX + 8)

/*
 * Parses one agent address: HOST:PORT, where HOST is a DNS name (labels of
 * 1 to 63 letters, digits and '-', not starting or ending with '-', at most
 * REPLICAS_HOST_MAX bytes in all), an IPv4 literal, or an IPv6 literal in
 * brackets ("[::1]:7443"), and PORT is 1 to 65535 in decimal. Returns 0
 * with host (without brackets, REPLICAS_HOST_MAX + 1 bytes) and *port
 * filled (either may be NULL), or -ERR_INVALID with d saying what is wrong.
 */
int replicas_addr_parse(const char *s, char *host, int *port, struct diag *d);

/*
 * Spells host and port as an address (brackets around an IPv6 literal)
 * into out (REPLICAS_ADDR_MAX + 1 bytes). Returns 0, or -ERR_INVALID when
 * the result would not parse.
 */
int replicas_addr_format(const char *host, int port, char *out, struct diag *d);

/*
 * Checks a whole list: 1 to REPLICAS_MAX addresses, each one valid and
 * none twice. what names the list in the message ("replicas.json:
 * addresses"). Returns 0 or -ERR_INVALID with d naming the entry.
 */
int replicas_list_check(const char *const *v, size_t n, const char *what,
                        struct diag *d);

/*
 * Where an agent starts in a list of n addresses: a position in [0, n)
 * derived from its device id (FNV-1a), so that the agents of a fleet
 * spread over the replicas, each one always at the same place. 0 when n
 * is 0.
 */
size_t replicas_start(const char *device_id, size_t n);

/*
 * The position tried after position cur in a list of n addresses: the
 * next one, wrapping around. 0 when n is 0.
 */
size_t replicas_next(size_t cur, size_t n);

#endif
