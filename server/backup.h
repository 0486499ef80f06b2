/*
 * mcpfleetd backup and restore of a data directory (server/backup.c,
 * docs/design.md "Backup archive").
 */
#ifndef MCPFLEET_BACKUP_H
#define MCPFLEET_BACKUP_H

#include <stdbool.h>

#include "err.h"

/*
 * Writes the archive file to (0600, through a temporary file, fsync and
 * rename): data's mcpfleetd.conf and key files and, for a SQLite store, a
 * consistent copy of fleet.db taken with SQLite's online backup API (the
 * daemon may be serving). *postgres is set when the store is PostgreSQL:
 * the archive then holds no database, which pg_dump must save. Returns 0 or
 * -ERR_* with d naming the file and reason.
 */
int backup_write(const char *data, const char *to, bool *postgres,
                 struct diag *d);

/*
 * Restores the archive from into data, which must be absent or empty. The
 * whole archive is checked (header, each file's SHA-256, the END line's
 * count and checksum) before anything is written. Returns 0 or -ERR_*.
 */
int backup_restore(const char *from, const char *data, struct diag *d);

#endif
