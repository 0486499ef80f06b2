/* SPDX-License-Identifier: MIT */
/* Replicas: the listening thread (replica.h; docs/design.md, "Replicas"). */
#include "replica.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "store.h"

/* How long the thread waits between attempts to listen again. */
#define REPLICA_RETRY_MS 1000

struct replica {
	struct core *c;
	char *backend;
	char *path;
	int stop_pipe[2]; /* written once by replica_stop() */
	pthread_t thread;
	bool started;
};

/* Waits up to ms for fd (-1: none) to be readable; true when the stop
 * pipe was written instead. *ready says whether fd was. */
static bool replica_wait(struct replica *r, int fd, int ms, bool *ready)
{
	struct pollfd p[2];
	int n;

	p[0].fd = r->stop_pipe[0];
	p[0].events = POLLIN;
	p[1].fd = fd;
	p[1].events = POLLIN;
	*ready = false;
	do
		n = poll(p, fd >= 0 ? 2 : 1, ms);
	while (n < 0 && errno == EINTR);
	if (n > 0 && (p[0].revents & POLLIN) != 0)
		return true;
	*ready = n > 0 && fd >= 0 &&
	         (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
	return false;
}

/* One notification, for the core. */
static void replica_note(void *arg, const char *payload)
{
	core_remote_changed(arg, payload);
}

static void *replica_thread(void *arg)
{
	struct replica *r = arg;
	struct store_listener *l = NULL;
	bool ready, down_logged = false;
	struct diag d;
	size_t n;

	for (;;) {
		if (l == NULL) {
			diag_clear(&d);
			if (store_listen(r->backend, r->path, &l, &d) != 0) {
				if (!down_logged)
					core_log(r->c, CORE_LOG_WARN,
					         "replicas: cannot listen for "
					         "changes (%s); trying again "
					         "every %d ms",
					         d.msg, REPLICA_RETRY_MS);
				down_logged = true;
				l = NULL;
				if (replica_wait(r, -1, REPLICA_RETRY_MS,
				                 &ready))
					break;
				continue;
			}
			core_log(r->c,
			         down_logged ? CORE_LOG_WARN : CORE_LOG_INFO,
			         "replicas: listening for changes on %s",
			         STORE_CHANNEL);
			down_logged = false;
			/* Whatever was committed while nobody listened. */
			core_remote_changed(r->c, NULL);
		}
		if (replica_wait(r, store_listener_fd(l), -1, &ready))
			break;
		if (!ready)
			continue;
		diag_clear(&d);
		if (store_listener_read(l, replica_note, r->c, &n, &d) != 0) {
			core_log(r->c, CORE_LOG_WARN, "replicas: %s", d.msg);
			store_listener_close(l);
			l = NULL;
			down_logged = true;
			continue;
		}
	}
	store_listener_close(l);
	return NULL;
}

void replica_stop(struct replica *r)
{
	if (r == NULL)
		return;
	if (r->started) {
		(void)!write(r->stop_pipe[1], "x", 1);
		pthread_join(r->thread, NULL);
	}
	if (r->stop_pipe[0] >= 0)
		close(r->stop_pipe[0]);
	if (r->stop_pipe[1] >= 0)
		close(r->stop_pipe[1]);
	free(r->backend);
	free(r->path);
	free(r);
}

int replica_start(struct core *c, const char *backend, const char *path,
                  struct replica **out, struct diag *d)
{
	struct replica *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return diag_set(d, ERR_NOMEM, 0, 0, "replicas: out of memory");
	r->c = c;
	r->stop_pipe[0] = r->stop_pipe[1] = -1;
	if ((r->backend = strdup(backend)) == NULL ||
	    (r->path = strdup(path)) == NULL) {
		replica_stop(r);
		return diag_set(d, ERR_NOMEM, 0, 0, "replicas: out of memory");
	}
	if (pipe(r->stop_pipe) != 0) {
		replica_stop(r);
		return diag_set(d, ERR_IO, 0, 0, "replicas: pipe: %s",
		                strerror(errno));
	}
	(void)fcntl(r->stop_pipe[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(r->stop_pipe[1], F_SETFD, FD_CLOEXEC);
	if (pthread_create(&r->thread, NULL, replica_thread, r) != 0) {
		replica_stop(r);
		return diag_set(d, ERR_INTERNAL, 0, 0,
		                "replicas: cannot start the listening thread");
	}
	r->started = true;
	*out = r;
	return 0;
}
