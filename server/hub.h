/* SPDX-License-Identifier: MIT */
/* The agent hub: mcpfleetd's websocket side, on the service thread. */
#ifndef MCPFLEET_HUB_H
#define MCPFLEET_HUB_H

#include "core.h"
#include "mcpfleet.pb-c.h"
#include "net.h"

/* Creates the hub for c. Returns 0 or -ERR_NOMEM. */
int hub_new(struct core *c, struct hub **out);
/* Frees the hub (connections are gone by then). NULL-safe. */
void hub_free(struct hub *h);

/*
 * The sync report of an agent frame as the store keeps it: a JSON object
 * {"revision", "synced_at", "hosts": [{"host", "status", "message",
 * "managed", "drift"}]}, with at most 64 hosts, 1024 names per host and
 * 1024 bytes per string kept, invalid UTF-8 replaced by "?". Returns a new
 * string (caller frees with free()), or NULL on ENOMEM.
 */
char *hub_report_json(const Mcpfleet__V1__SyncReport *rep);

/* The keepalive ping as net sends it (net_config.ping_message): a packed
 * ServerFrame with an empty Ping, which the agent answers with a Pong.
 * Returns its length. */
size_t hub_ping_message(uint8_t out[NET_PING_MAX]);

/* The net callbacks, with arg = the core. */
extern const struct net_callbacks hub_callbacks;

#endif
