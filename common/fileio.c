/* SPDX-License-Identifier: MIT */
/* Whole-file reads and crash-safe whole-file writes. */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* Buffers of at least this many bytes are read into huge pages where the
 * kernel has them (a 5 MB ~/.claude.json: 3 page faults, not 1,300). */
#define FILEIO_HUGE ((size_t)2 << 20)

/*
 * A buffer for a file of cap bytes: a large one aligned to and advised for
 * huge pages (freed with free() all the same). NULL on ENOMEM.
 */
static char *fileio_buffer(size_t cap)
{
	void *p;

	size_t whole = (cap + FILEIO_HUGE - 1) & ~(FILEIO_HUGE - 1);

	if (cap < FILEIO_HUGE || whole < cap)
		return malloc(cap);
	/* Whole huge pages: the tail too is one page fault. */
	if (posix_memalign(&p, FILEIO_HUGE, whole) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	/* Only advice: without it the pages are the usual ones. */
	(void)madvise(p, whole, MADV_HUGEPAGE);
#endif
	return p;
}

int fileio_read(const char *path, size_t max, char **data, size_t *len)
{
	struct stat st;
	char *p = NULL;
	size_t cap, n = 0;
	ssize_t got;
	int fd, r = 0, saved;

	/* Without blocking: opening a FIFO for reading would wait for a
	 * writer for ever. Only a regular file is read. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return errno == ENOENT ? -ERR_NOENT : -ERR_IO;
	if (fstat(fd, &st) != 0) {
		r = -ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		r = -ERR_IO;
		goto out;
	}
	/* A regular file ignores O_NONBLOCK; cleared all the same. */
	(void)fcntl(fd, F_SETFL, 0);
	if ((size_t)st.st_size > max) {
		r = -ERR_TOOBIG;
		goto out;
	}
	/* The size can change under us; read until EOF, within max. Room
	 * for the NUL and one byte more: a file that did not grow meets its
	 * EOF without the buffer growing (a copy of a 5 MB file). */
	cap = (size_t)st.st_size + 2;
	if ((p = fileio_buffer(cap)) == NULL) {
		r = -ERR_NOMEM;
		goto out;
	}
	for (;;) {
		if (n + 1 >= cap) {
			char *np;

			if (cap > max + 1) {
				r = -ERR_TOOBIG;
				goto out;
			}
			cap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			if ((np = realloc(p, cap)) == NULL) {
				r = -ERR_NOMEM;
				goto out;
			}
			p = np;
		}
		got = read(fd, p + n, cap - n - 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			r = -ERR_IO;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > max) {
		r = -ERR_TOOBIG;
		goto out;
	}
	p[n] = '\0';
	*data = p;
	*len = n;
	p = NULL;
out:
	saved = errno;
	free(p);
	close(fd);
	errno = saved;
	return r;
}

/* Writes every piece, whatever short writes the kernel makes. */
static int fileio_writev_all(int fd, const struct iovec *iov, int n)
{
	struct iovec part[16];
	ssize_t w;
	int i, k;

	if (n < 0 || n > 16) {
		errno = EINVAL;
		return -ERR_IO;
	}
	for (i = k = 0; i < n; i++)
		if (iov[i].iov_len > 0)
			part[k++] = iov[i];
	i = 0;
	while (i < k) {
		w = writev(fd, part + i, k - i);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -ERR_IO;
		}
		while (i < k && (size_t)w >= part[i].iov_len)
			w -= (ssize_t)part[i++].iov_len;
		if (i < k) {
			part[i].iov_base = (char *)part[i].iov_base + w;
			part[i].iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int fileio_fsync_dir(const char *path)
{
	char *dir;
	int fd, r = 0;

	if ((dir = fileio_dirname(path)) == NULL)
		return -ERR_NOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -ERR_IO;
	if (fsync(fd) != 0 && errno != EINVAL)
		r = -ERR_IO;
	close(fd);
	return r;
}

int fileio_write_atomic(const char *path, const void *data, size_t len,
                        mode_t mode, unsigned flags)
{
	return fileio_write_atomic_st(path, data, len, mode, flags, NULL);
}

int fileio_write_atomic_st(const char *path, const void *data, size_t len,
                           mode_t mode, unsigned flags, struct stat *out_st)
{
	struct iovec one = {(void *)(uintptr_t)data, len};

	return fileio_write_atomic_iov(path, &one, 1, mode, flags, out_st,
	                               NULL);
}

int fileio_write_atomic_iov(const char *path, const struct iovec *iov, int n,
                            mode_t mode, unsigned flags, struct stat *out_st,
                            const struct fileio_gate *gate)
{
	struct stat st, after;
	char tmp[4096], *real = NULL;
	int fd = -1, r = 0, w, saved;
	bool have_old = false;

	/* A dotfile manager's symlink stays a symlink: write its target. */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		if ((real = realpath(path, NULL)) == NULL)
			return -ERR_IO;
		path = real;
	}
	if (stat(path, &st) == 0) {
		if (!(flags & FILEIO_FORCE_MODE))
			mode = st.st_mode & 07777;
		have_old = true;
	}
	w = snprintf(tmp, sizeof(tmp), "%s.mcpfleet-XXXXXX", path);
	if (w < 0 || (size_t)w >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		r = -ERR_IO;
		goto out;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		r = -ERR_IO;
		goto out;
	}
	if ((r = fileio_writev_all(fd, iov, n)) != 0)
		goto fail;
	/* mkstemp creates 0600; give the file the owner's mode bits, and
	 * keep its owner where we are allowed to (root editing a user file). */
	if (fchmod(fd, mode) != 0) {
		r = -ERR_IO;
		goto fail;
	}
	if (have_old && (st.st_uid != geteuid() || st.st_gid != getegid()))
		(void)!fchown(fd, st.st_uid, st.st_gid);
	if (fsync(fd) != 0 || (out_st != NULL && fstat(fd, out_st) != 0)) {
		r = -ERR_IO;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = -ERR_IO;
		goto fail;
	}
	fd = -1;
	if (gate != NULL && (r = gate->pass(gate->ctx)) != 0)
		goto fail;
	if (rename(tmp, path) != 0) {
		r = -ERR_IO;
		goto fail;
	}
	/* The rename moves the file's ctime: the status as written is the
	 * one after it, when nobody has changed the file meanwhile. */
	if (out_st != NULL && stat(path, &after) == 0 &&
	    after.st_dev == out_st->st_dev && after.st_ino == out_st->st_ino &&
	    after.st_size == out_st->st_size &&
	    after.st_mtim.tv_sec == out_st->st_mtim.tv_sec &&
	    after.st_mtim.tv_nsec == out_st->st_mtim.tv_nsec)
		*out_st = after;
	r = fileio_fsync_dir(path);
	goto out;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
out:
	saved = errno;
	free(real);
	errno = saved;
	return r;
}

int fileio_backup(const char *path, const char *bak, const void *data,
                  size_t len)
{
	struct stat st;

	if (unlink(bak) != 0 && errno != ENOENT)
		return -ERR_IO;
	/* The old version stays as it is, under a second name: the rename
	 * that follows gives path a new file. */
	if (linkat(AT_FDCWD, path, AT_FDCWD, bak, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EPERM && errno != EXDEV && errno != EMLINK &&
	    errno != ENOSYS && errno != EOPNOTSUPP)
		return -ERR_IO;
	/* No hard links on this file system (some network and FUSE ones). */
	if (stat(path, &st) != 0)
		st.st_mode = 0600;
	return fileio_write_atomic(bak, data, len, st.st_mode & 07777,
	                           FILEIO_FORCE_MODE);
}

int fileio_clean_temps(const char *path)
{
	const char *base = strrchr(path, '/');
	char *dir, tmp[4096];
	struct dirent *de;
	size_t blen;
	DIR *d;
	int n = 0;

	base = base ? base + 1 : path;
	blen = strlen(base);
	if ((dir = fileio_dirname(path)) == NULL)
		return 0;
	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		int w;

		if (strncmp(de->d_name, base, blen) != 0 ||
		    strncmp(de->d_name + blen, ".mcpfleet-", 10) != 0 ||
		    strlen(de->d_name + blen + 10) != 6)
			continue;
		w = snprintf(tmp, sizeof(tmp), "%s/%s", dir, de->d_name);
		if (w > 0 && (size_t)w < sizeof(tmp) && unlink(tmp) == 0)
			n++;
	}
	closedir(d);
	free(dir);
	return n;
}

bool fileio_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

bool fileio_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fileio_mkdirs(const char *path, mode_t mode)
{
	char *p, *s;
	int r = 0;

	if (fileio_is_dir(path))
		return 0;
	if ((p = strdup(path)) == NULL)
		return -ERR_NOMEM;
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			r = -ERR_IO;
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) != 0 && errno != EEXIST)
		r = -ERR_IO;
	else if (!fileio_is_dir(p)) {
		errno = ENOTDIR;
		r = -ERR_IO;
	}
out:
	free(p);
	return r;
}

char *fileio_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p;

	while (la > 1 && a[la - 1] == '/')
		la--;
	if ((p = malloc(la + lb + 2)) == NULL)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

char *fileio_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n;
	char *p;

	if (slash == NULL)
		return strdup(".");
	n = slash == path ? 1 : (size_t)(slash - path);
	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, path, n);
	p[n] = '\0';
	return p;
}
