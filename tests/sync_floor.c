/* SPDX-License-Identifier: MIT */
/*
 * The floor bench_sync_process measures mcpfleet sync against: a program
 * that reads the given files and, with "write", writes each back the way
 * any crash-safe writer must (a temporary file beside it, fsync, rename,
 * fsync of the directory), the files in parallel as sync writes its
 * hosts. "read" only reads them. It links nothing of mcpfleet.
 *   usage: sync_floor read|write FILE...
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct floor_file {
	const char *path;
	char *data;
	size_t len;
	pthread_t tid;
	int r;
};

static int floor_read(struct floor_file *f)
{
	struct stat st;
	size_t n = 0;
	ssize_t got;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0 ||
	    (f->data = malloc((size_t)st.st_size + 1)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (n < (size_t)st.st_size &&
	       (got = read(fd, f->data + n, (size_t)st.st_size - n)) > 0)
		n += (size_t)got;
	close(fd);
	f->len = n;
	return 0;
}

static int floor_write(struct floor_file *f)
{
	char tmp[4096], dir[4096];
	const char *slash = strrchr(f->path, '/');
	size_t off = 0;
	ssize_t w;
	int fd, dfd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.floor-XXXXXX", f->path) >=
	        sizeof(tmp) ||
	    slash == NULL || (size_t)(slash - f->path) >= sizeof(dir))
		return -1;
	memcpy(dir, f->path, (size_t)(slash - f->path));
	dir[slash - f->path] = '\0';
	if ((fd = mkstemp(tmp)) < 0)
		return -1;
	while (off < f->len && (w = write(fd, f->data + off, f->len - off)) > 0)
		off += (size_t)w;
	if (off != f->len || fsync(fd) != 0 || close(fd) != 0 ||
	    rename(tmp, f->path) != 0) {
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (fsync(dfd) != 0 && errno != EINVAL) {
		close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

static void *floor_thread(void *arg)
{
	struct floor_file *f = arg;

	f->r = floor_write(f);
	return NULL;
}

int main(int argc, char **argv)
{
	struct floor_file *files;
	int i, n = argc - 2, r = 0, write_back;

	if (argc < 3 ||
	    (strcmp(argv[1], "read") != 0 && strcmp(argv[1], "write") != 0)) {
		fprintf(stderr, "usage: sync_floor read|write FILE...\n");
		return 2;
	}
	write_back = strcmp(argv[1], "write") == 0;
	if ((files = calloc((size_t)n, sizeof(*files))) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		files[i].path = argv[i + 2];
		if (floor_read(&files[i]) != 0) {
			fprintf(stderr, "sync_floor: %s: %s\n", files[i].path,
			        strerror(errno));
			return 1;
		}
	}
	for (i = 0; write_back && i < n; i++)
		if (pthread_create(&files[i].tid, NULL, floor_thread,
		                   &files[i]) != 0)
			return 1;
	for (i = 0; write_back && i < n; i++) {
		pthread_join(files[i].tid, NULL);
		if (files[i].r != 0) {
			fprintf(stderr, "sync_floor: %s: cannot write\n",
			        files[i].path);
			r = 1;
		}
	}
	for (i = 0; i < n; i++)
		free(files[i].data);
	free(files);
	return r;
}
