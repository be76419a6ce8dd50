/* env.h: look at a host's env from the outside, read-only. */
#ifndef MDBTAP_ENV_H
#define MDBTAP_ENV_H

#include <stddef.h>
#include <stdint.h>

/* What an env path is. */
struct env_where {
	int nosubdir;          /* a file (MDB_NOSUBDIR) rather than a directory */
	int nolock;            /* no lock file: the host uses MDB_NOLOCK */
	int dir_data_file;     /* the data.mdb of a directory env (a lock.mdb, or
				  an mdbtap dir and no FILE-mdbtap,
				  beside it, no FILE-lock): not an env */
	char path[4096];       /* the path resolved (realpath): one name per env */
	char companion[4096];  /* our companion directory */
};

/* Find out from the files alone, after resolving the path (symlinks, "..").
 * Returns 0, or errno (ENOENT: no env; ENAMETOOLONG). */
int env_where(const char *path, struct env_where *w);

/* The env's last committed txn id, from a read-only open that follows the
 * host's locking choice. Returns 0 or an errno/LMDB code; err gets a
 * message. */
int env_last_txnid(const char *path, const struct env_where *w, uint64_t *txnid,
		   char *err, size_t errlen);

/* A process with a slot in an env's reader table. */
struct env_reader {
	long pid;      /* as the slot records it: in the reader's PID namespace */
	long holder;   /* who holds LMDB's lock for that PID, in ours: pid when it
			  is the same process here; another number or 0 (not
			  visible here): another PID namespace; -1: none, a
			  dead process's slot; -2: could not tell */
};

/* The processes in the env's reader table (each once, at most cap); none
 * for a MDB_NOLOCK env. Returns 0 or an errno/LMDB code. */
int env_readers(const char *path, const struct env_where *w, struct env_reader *v,
		size_t cap, size_t *n, char *err, size_t errlen);

#endif
