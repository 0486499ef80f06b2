/*
 * mcpfleetd backup and restore: one archive file of a data directory (the
 * SQLite store copied with SQLite's online backup API while the daemon
 * serves, the key files and mcpfleetd.conf), and its restore into a new
 * directory. The format is docs/design.md's "Backup archive":
 *
 *   MCPFLEET-BACKUP 1\n
 *   FILE <name> <mode octal> <length> <sha256 hex>\n <length bytes> \n
 *   ...
 *   END <files> <sha256 hex of every byte before "END">\n
 */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <dirent.h>

#include "buf.h"
#include "crypto.h"
#include "fileio.h"
#include "pki.h"
#include "store.h"

#define BACKUP_MAGIC    "MCPFLEET-BACKUP 1\n"
#define BACKUP_FILE_MAX ((size_t)1 << 34) /* 16 GiB */

/* The files of a data directory a backup holds, and whether each must be
 * there (audit.key appears on the first serve). */
static const struct {
	const char *name;
	bool required;
} backup_files[] = {
    {PKI_CONF_FILE, true},       {PKI_CA_CERT_FILE, true},
    {PKI_CA_KEY_FILE, true},     {PKI_SERVER_CERT_FILE, true},
    {PKI_SERVER_KEY_FILE, true}, {PKI_SIGNER_KEY_FILE, true},
    {PKI_MASTER_KEY_FILE, true}, {PKI_AUDIT_KEY_FILE, false},
    {PKI_DB_FILE, false},
};
#define BACKUP_NFILES (sizeof(backup_files) / sizeof(backup_files[0]))

static int backup_known(const char *name)
{
	for (size_t i = 0; i < BACKUP_NFILES; i++)
		if (strcmp(backup_files[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void backup_hex(const uint8_t h[CRYPTO_HASH_LEN], char out[65])
{
	static const char x[] = "0123456789abcdef";
	for (size_t i = 0; i < CRYPTO_HASH_LEN; i++) {
		out[2 * i] = x[h[i] >> 4];
		out[2 * i + 1] = x[h[i] & 15];
	}
	out[64] = '\0';
}

/* Appends one FILE frame to b. */
static int backup_frame(struct buf *b, const char *name, mode_t mode,
                        const char *data, size_t len, struct diag *d)
{
	uint8_t h[CRYPTO_HASH_LEN];
	char hex[65];

	if (crypto_sha256(data, len, h) != 0)
		return diag_set(d, ERR_CRYPTO, 0, 0, "%s: SHA-256 failed",
		                name);
	backup_hex(h, hex);
	if (buf_printf(b, "FILE %s %o %zu %s\n", name, (unsigned)(mode & 0777),
	               len, hex) != 0 ||
	    buf_append(b, data, len) != 0 || buf_append(b, "\n", 1) != 0)
		return diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
	return 0;
}

/* Copies the SQLite database at src into the new file dst with the online
 * backup API: a consistent snapshot while a daemon writes to src. */
static int backup_sqlite(const char *src, const char *dst, struct diag *d)
{
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *bk;
	int r = 0, rc;

	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: %s", src,
		             from != NULL ? sqlite3_errmsg(from)
		                          : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(from, 10000);
	if (sqlite3_open_v2(dst, &to,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: %s", dst,
		             to != NULL ? sqlite3_errmsg(to) : "cannot open");
		goto out;
	}
	if ((bk = sqlite3_backup_init(to, "main", from, "main")) == NULL) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: backup: %s", src,
		             sqlite3_errmsg(to));
		goto out;
	}
	/* Step in pages, waiting while the daemon holds a lock. */
	for (int tries = 0;;) {
		rc = sqlite3_backup_step(bk, 256);
		if (rc == SQLITE_DONE)
			break;
		if (rc == SQLITE_OK)
			continue;
		if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) &&
		    ++tries < 400) {
			sqlite3_sleep(25);
			continue;
		}
		break;
	}
	if (sqlite3_backup_finish(bk) != SQLITE_OK || rc != SQLITE_DONE)
		r = diag_set(d, ERR_IO, 0, 0, "%s: backup: %s", src,
		             sqlite3_errstr(rc));
out:
	sqlite3_close(from);
	sqlite3_close(to);
	return r;
}

int backup_write(const char *data, const char *to, bool *postgres,
                 struct diag *d)
{
	struct pki_conf conf;
	struct buf b;
	const char *backend = NULL;
	char *db = NULL, *path = NULL, *tmp = NULL, *text = NULL, *p = NULL;
	size_t len = 0, nfiles = 0;
	uint8_t h[CRYPTO_HASH_LEN];
	char hex[65];
	struct stat sb;
	struct iovec iov;
	int r;

	*postgres = false;
	memset(&b, 0, sizeof(b));
	if ((r = pki_conf_load(data, &conf, d)) != 0)
		goto out;
	if ((db = fileio_join(data, PKI_DB_FILE)) == NULL) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	if ((r = store_location(conf.store, db, &backend, &path, d)) != 0)
		goto out;
	*postgres = strcmp(backend, "sqlite") != 0;
	if (buf_append(&b, BACKUP_MAGIC, strlen(BACKUP_MAGIC)) != 0) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < BACKUP_NFILES; i++) {
		const char *name = backup_files[i].name;

		free(p);
		free(text);
		p = text = NULL;
		if (strcmp(name, PKI_DB_FILE) == 0) {
			if (*postgres)
				continue;
			size_t tl = strlen(to) + sizeof(".db-XXXXXX");
			if ((tmp = malloc(tl)) != NULL)
				snprintf(tmp, tl, "%s.db-XXXXXX", to);
			if (tmp == NULL) {
				r = diag_set(d, ERR_NOMEM, 0, 0,
				             "out of memory");
				goto out;
			}
			int fd = mkstemp(tmp);
			if (fd < 0) {
				r = diag_set(d, ERR_IO, 0, 0, "%s: %s", tmp,
				             strerror(errno));
				free(tmp);
				tmp = NULL;
				goto out;
			}
			close(fd);
			if ((r = backup_sqlite(path, tmp, d)) != 0)
				goto out;
			if (fileio_read(tmp, BACKUP_FILE_MAX, &text, &len) !=
			    0) {
				r = diag_set(d, ERR_IO, 0, 0, "%s: %s", tmp,
				             strerror(errno));
				goto out;
			}
			unlink(tmp);
			free(tmp);
			tmp = NULL;
			sb.st_mode = 0600;
		} else {
			if ((p = fileio_join(data, name)) == NULL) {
				r = diag_set(d, ERR_NOMEM, 0, 0,
				             "out of memory");
				goto out;
			}
			if (stat(p, &sb) != 0 && errno == ENOENT &&
			    !backup_files[i].required)
				continue;
			if ((r = fileio_read(p, BACKUP_FILE_MAX, &text,
			                     &len)) != 0) {
				r = diag_set(d, ERR_IO, 0, 0, "%s: %s", p,
				             r == -ERR_NOENT ? "no such file"
				                             : strerror(errno));
				goto out;
			}
		}
		if ((r = backup_frame(&b, name, sb.st_mode, text, len, d)) != 0)
			goto out;
		nfiles++;
	}
	if ((r = crypto_sha256(b.data, b.len, h)) != 0) {
		r = diag_set(d, ERR_CRYPTO, 0, 0, "SHA-256 failed");
		goto out;
	}
	backup_hex(h, hex);
	if (buf_printf(&b, "END %zu %s\n", nfiles, hex) != 0) {
		r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	/* 0600 whatever umask: the archive holds the CA key and master key. */
	iov.iov_base = b.data;
	iov.iov_len = b.len;
	if ((r = fileio_write_atomic_iov(to, &iov, 1, 0600, FILEIO_FORCE_MODE,
	                                 NULL, NULL)) != 0)
		r = diag_set(d, ERR_IO, 0, 0, "%s: %s", to, strerror(errno));
out:
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	if (text != NULL)
		crypto_wipe(text, len);
	free(text);
	free(p);
	if (b.data != NULL)
		crypto_wipe(b.data, b.len);
	buf_free(&b);
	free(db);
	free(path);
	return r;
}

/* Whether dir is absent or an empty directory. */
static int backup_empty_dir(const char *dir, struct diag *d)
{
	DIR *dp = opendir(dir);
	struct dirent *e;

	if (dp == NULL) {
		if (errno == ENOENT)
			return 0;
		return diag_set(d, ERR_IO, 0, 0, "%s: %s", dir,
		                strerror(errno));
	}
	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			closedir(dp);
			return diag_set(
			    d, ERR_EXISTS, 0, 0,
			    "%s: not empty: restore writes only into a "
			    "new or empty directory",
			    dir);
		}
	closedir(dp);
	return 0;
}

struct backup_entry {
	char name[64];
	unsigned mode;
	const char *data;
	size_t len;
};

/* Parses and checks the whole archive before anything is written. */
static int backup_parse(const char *from, const char *a, size_t n,
                        struct backup_entry *e, size_t *ne, struct diag *d)
{
	size_t off = strlen(BACKUP_MAGIC), nf;
	uint8_t h[CRYPTO_HASH_LEN];
	char hex[65], want[65];

	*ne = 0;
	if (n < off || memcmp(a, BACKUP_MAGIC, off) != 0)
		return diag_set(
		    d, ERR_PARSE, 0, 0,
		    "%s: not an mcpfleetd backup (no \"%.*s\" header)", from,
		    (int)off - 1, BACKUP_MAGIC);
	for (;;) {
		const char *nl = memchr(a + off, '\n', n - off);
		char line[256], name[64];
		unsigned mode;
		size_t len;
		int k;

		if (nl == NULL || (size_t)(nl - (a + off)) >= sizeof(line))
			return diag_set(
			    d, ERR_PARSE, 0, 0,
			    "%s: truncated at byte %zu (no END line)", from,
			    off);
		memcpy(line, a + off, (size_t)(nl - (a + off)));
		line[nl - (a + off)] = '\0';
		if (strncmp(line, "END ", 4) == 0) {
			if (sscanf(line, "END %zu %64s", &nf, want) != 2 ||
			    strlen(want) != 64)
				return diag_set(d, ERR_PARSE, 0, 0,
				                "%s: bad END line", from);
			if (crypto_sha256(a, off, h) != 0)
				return diag_set(d, ERR_CRYPTO, 0, 0,
				                "SHA-256 failed");
			backup_hex(h, hex);
			if (strcmp(hex, want) != 0)
				return diag_set(
				    d, ERR_VERIFY, 0, 0,
				    "%s: archive checksum mismatch: "
				    "corrupted",
				    from);
			if (nf != *ne)
				return diag_set(
				    d, ERR_PARSE, 0, 0,
				    "%s: END says %zu files, archive "
				    "holds %zu",
				    from, nf, *ne);
			if ((size_t)(nl + 1 - a) != n)
				return diag_set(d, ERR_PARSE, 0, 0,
				                "%s: bytes after END", from);
			return 0;
		}
		if (sscanf(line, "FILE %63s %o %zu %64s", name, &mode, &len,
		           want) != 4 ||
		    strlen(want) != 64)
			return diag_set(d, ERR_PARSE, 0, 0,
			                "%s: bad frame header at byte %zu",
			                from, off);
		if ((k = backup_known(name)) < 0)
			return diag_set(d, ERR_PARSE, 0, 0,
			                "%s: unknown file '%s' in archive",
			                from, name);
		for (size_t i = 0; i < *ne; i++)
			if (strcmp(e[i].name, name) == 0)
				return diag_set(d, ERR_PARSE, 0, 0,
				                "%s: '%s' twice", from, name);
		off = (size_t)(nl + 1 - a);
		if (len > n - off || n - off - len < 1 || a[off + len] != '\n')
			return diag_set(d, ERR_PARSE, 0, 0,
			                "%s: truncated in '%s' (%zu bytes "
			                "announced)",
			                from, name, len);
		if (crypto_sha256(a + off, len, h) != 0)
			return diag_set(d, ERR_CRYPTO, 0, 0, "SHA-256 failed");
		backup_hex(h, hex);
		if (strcmp(hex, want) != 0)
			return diag_set(d, ERR_VERIFY, 0, 0,
			                "%s: '%s' does not match its SHA-256: "
			                "corrupted",
			                from, name);
		snprintf(e[*ne].name, sizeof(e[*ne].name), "%s", name);
		e[*ne].mode = mode & 0700; /* owner only, whatever was saved */
		e[*ne].data = a + off;
		e[*ne].len = len;
		(*ne)++;
		off += len + 1;
	}
}

int backup_restore(const char *from, const char *data, struct diag *d)
{
	struct backup_entry e[BACKUP_NFILES];
	char *a = NULL, *p = NULL;
	size_t n = 0, ne = 0;
	int r;

	if ((r = backup_empty_dir(data, d)) != 0)
		return r;
	if ((r = fileio_read(from, BACKUP_FILE_MAX * 2, &a, &n)) != 0)
		return diag_set(d, -r, 0, 0, "%s: %s", from,
		                r == -ERR_NOENT ? "no such file"
		                                : strerror(errno));
	if ((r = backup_parse(from, a, n, e, &ne, d)) != 0)
		goto out;
	for (size_t i = 0; i < BACKUP_NFILES; i++) {
		bool have = false;
		for (size_t j = 0; j < ne; j++)
			have = have ||
			       strcmp(e[j].name, backup_files[i].name) == 0;
		if (backup_files[i].required && !have) {
			r = diag_set(d, ERR_PARSE, 0, 0, "%s: holds no %s",
			             from, backup_files[i].name);
			goto out;
		}
	}
	if (fileio_mkdirs(data, 0700) != 0 || chmod(data, 0700) != 0) {
		r = diag_set(d, ERR_IO, 0, 0, "%s: %s", data, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < ne; i++) {
		free(p);
		if ((p = fileio_join(data, e[i].name)) == NULL) {
			r = diag_set(d, ERR_NOMEM, 0, 0, "out of memory");
			goto out;
		}
		if (fileio_write_atomic(p, e[i].data, e[i].len,
		                        e[i].mode | 0600,
		                        FILEIO_FORCE_MODE) != 0) {
			r = diag_set(d, ERR_IO, 0, 0, "%s: %s", p,
			             strerror(errno));
			goto out;
		}
	}
out:
	free(p);
	if (a != NULL)
		crypto_wipe(a, n);
	free(a);
	return r;
}
