/* SPDX-License-Identifier: MIT */
/* Whole-file reads and crash-safe whole-file writes. */
#ifndef MCPFLEET_FILEIO_H
#define MCPFLEET_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/types.h>

/*
 * Reads a regular file of at most max bytes. Returns 0 with *data a new
 * NUL-terminated buffer (caller frees) and *len, -ERR_NOENT when it does not
 * exist, -ERR_TOOBIG when it is larger than max, -ERR_IO (errno kept)
 * otherwise, a path that is not a regular file included (EINVAL).
 */
int fileio_read(const char *path, size_t max, char **data, size_t *len);

#define FILEIO_FORCE_MODE 0x1u /* give the file mode even when it exists */

/*
 * Replaces path with data, crash-safely: a temporary file in the same
 * directory, written fully, fsync'd, given the old file's mode and owner
 * (or mode when path does not exist yet, or always with FILEIO_FORCE_MODE;
 * the umask does not apply), renamed over path, and the directory fsync'd.
 * At every instant path is either the old or the new content. Returns 0, or
 * -ERR_IO (errno kept) with the temporary file removed.
 */
int fileio_write_atomic(const char *path, const void *data, size_t len,
                        mode_t mode, unsigned flags);

/*
 * As fileio_write_atomic, and fills *st (when not NULL) with the new file's
 * status as written, before anyone else could change it: taken before the
 * rename, with the ctime the rename gave it when the file after the rename
 * is the same one (device, inode, size, mtime).
 */
int fileio_write_atomic_st(const char *path, const void *data, size_t len,
                           mode_t mode, unsigned flags, struct stat *st);

/*
 * A step between a write's two halves: called once the new content is
 * durable in the temporary file, before it is renamed over the path. A
 * nonzero return abandons the write (the temporary file removed, the path
 * untouched) and is what the write returns.
 */
struct fileio_gate {
	int (*pass)(void *ctx);
	void *ctx;
};

/*
 * As fileio_write_atomic_st, the content given as n pieces (at most 16),
 * written in order (an edited file's unchanged head and tail around its new
 * part), and the rename held until gate (when not NULL) lets it happen.
 */
int fileio_write_atomic_iov(const char *path, const struct iovec *iov, int n,
                            mode_t mode, unsigned flags, struct stat *st,
                            const struct fileio_gate *gate);

/*
 * Makes bak a backup of path as it is now (its last version, which data
 * and len hold): a hard link to the same file when the file system allows
 * it, which costs no copy and keeps the mode; else a copy with path's mode.
 * An existing bak is replaced. Returns 0 or -ERR_IO (errno kept).
 */
int fileio_backup(const char *path, const char *bak, const void *data,
                  size_t len);

/*
 * Removes the temporary files fileio_write_atomic leaves for path when it
 * is killed before its rename (path.mcpfleet-XXXXXX). Call it only while
 * holding the lock that serialises writers of path. Returns the number
 * removed.
 */
int fileio_clean_temps(const char *path);

/* True when path exists (as anything, a dangling symlink included). */
bool fileio_exists(const char *path);
/* True when path is a directory (following symlinks). */
bool fileio_is_dir(const char *path);

/*
 * Creates directory path and its missing parents with mode. Returns 0 (also
 * when it already exists as a directory) or -ERR_IO.
 */
int fileio_mkdirs(const char *path, mode_t mode);

/*
 * Joins a and b with one '/'. Returns a new string (caller frees) or NULL on
 * ENOMEM.
 */
char *fileio_join(const char *a, const char *b);

/* Returns a new string holding the directory part of path, or NULL on ENOMEM.
 */
char *fileio_dirname(const char *path);

#endif
