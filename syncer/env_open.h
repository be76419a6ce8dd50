/* env_open.h: look at a host's env from the outside, read-only. */
#ifndef MDBTAP_ENV_OPEN_H
#define MDBTAP_ENV_OPEN_H

#include <stddef.h>
#include <stdint.h>

/* What an env path is. */
struct env_where {
	int nosubdir;          /* a file (MDB_NOSUBDIR) rather than a directory */
	int nolock;            /* no lock file: the host uses MDB_NOLOCK */
	char companion[4096];  /* our companion directory */
};

/* Find out from the files alone. Returns 0, or errno (ENOENT: no env). */
int env_where(const char *path, struct env_where *w);

/* The env's last committed txn id, from a read-only open that follows the
 * host's locking choice. Returns 0 or an errno/LMDB code; err gets a
 * message. */
int env_last_txnid(const char *path, const struct env_where *w, uint64_t *txnid,
		   char *err, size_t errlen);

#endif
