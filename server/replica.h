/* SPDX-License-Identifier: MIT */
/* Replicas: a thread that listens for the changes other mcpfleetd replicas
 * commit to the shared store and tells the core thread to catch up. */
#ifndef MCPFLEET_REPLICA_H
#define MCPFLEET_REPLICA_H

#include "err.h"

struct core;
struct replica;

/*
 * Starts the listening thread for store backend/path (a shared store:
 * store_listen()). It holds a connection of its own that LISTENs on
 * STORE_CHANNEL and calls core_remote_changed(c, payload) for each
 * notification; when the connection is lost it connects again (every
 * second until it can) and calls core_remote_changed(c, NULL) once it
 * listens again, so that the core reads the tables anew and loses nothing
 * that was committed meanwhile. It never touches the network thread.
 * Returns 0 with *out (stop with replica_stop()), or a negative code with
 * d set (the thread could not start).
 */
int replica_start(struct core *c, const char *backend, const char *path,
                  struct replica **out, struct diag *d);

/* Stops and joins the thread, closes its connection, frees. NULL-safe. */
void replica_stop(struct replica *r);

#endif
