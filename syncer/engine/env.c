/* env.c: find an env's files and its last txn id without changing
 * anything: read-only, and without creating a lock file the host does not
 * use (MDB_NOLOCK hosts such as postfix have none). */
#include "env.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

int env_where(const char *path, struct env_where *w)
{
	char lock[4200], real[PATH_MAX];
	struct stat st;
	const char *base;

	memset(w, 0, sizeof(*w));
	/* The lock file, the companion and the syncer lock follow from the
	 * path: two names of one env must give one answer (docs/DESIGN.md §10). */
	if (!realpath(path, real))
		return errno;
	if (strlen(real) >= sizeof(w->path))
		return ENAMETOOLONG;
	strcpy(w->path, real);
	if (stat(real, &st) != 0)
		return errno;
	w->nosubdir = !S_ISDIR(st.st_mode);
	snprintf(lock, sizeof(lock), w->nosubdir ? "%s-lock" : "%s/lock.mdb", real);
	w->nolock = stat(lock, &st) != 0;
	base = strrchr(real, '/');
	if (w->nosubdir && w->nolock && base && !strcmp(base + 1, "data.mdb")) {
		/* DIR/data.mdb with DIR/lock.mdb beside it: a directory env's
		 * file, which its host opens with that lock. Or, without one
		 * (MDB_NOLOCK), with DIR/mdbtap and no FILE-mdbtap: the env was
		 * opened as DIR, and the tap journals in DIR's companion. */
		snprintf(lock, sizeof(lock), "%.*s/lock.mdb", (int)(base - real), real);
		w->dir_data_file = stat(lock, &st) == 0;
		snprintf(lock, sizeof(lock), "%.*s/%s", (int)(base - real), real,
			 MDBTAP_COMPANION_SUBDIR);
		if (!w->dir_data_file && stat(lock, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(lock, sizeof(lock), "%s%s", real, MDBTAP_COMPANION_SUFFIX);
			w->dir_data_file = stat(lock, &st) != 0;
		}
	}
	return journal_companion_dir(real, w->nosubdir, w->companion, sizeof(w->companion));
}

/* Open the env read-only, as its host does. */
static int open_ro(const char *path, const struct env_where *w, MDB_env **out, char *err,
		   size_t errlen)
{
	unsigned int flags = MDB_RDONLY | (w->nosubdir ? MDB_NOSUBDIR : 0) |
			     (w->nolock ? MDB_NOLOCK : 0);
	int rc = mdb_env_create(out);

	if (rc) {
		snprintf(err, errlen, "mdb_env_create: %s", err_str(rc));
		return rc;
	}
	/* A map size of 0 takes the size recorded in the file. */
	rc = mdb_env_open(*out, path, flags, 0644);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, err_str(rc));
		mdb_env_close(*out);
		*out = NULL;
	}
	return rc;
}

int env_last_txnid(const char *path, const struct env_where *w, uint64_t *txnid,
		   char *err, size_t errlen)
{
	MDB_envinfo info;
	MDB_env *env;
	int rc = open_ro(path, w, &env, err, errlen);

	if (rc)
		return rc;
	rc = mdb_env_info(env, &info);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, err_str(rc));
	else
		*txnid = info.me_last_txnid;
	mdb_env_close(env);
	return rc;
}

struct readers_ctx {
	struct env_reader *v;
	size_t n, cap;
};

/* mdb_reader_list's lines: "    pid     thread     txnid", then one per
 * slot in use. */
static int reader_line(const char *msg, void *ctx)
{
	struct readers_ctx *r = ctx;
	char *end;
	long pid = strtol(msg, &end, 10);

	if (end == msg || pid <= 0)
		return 0; /* the header */
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].pid == pid)
			return 0;
	if (r->n < r->cap)
		r->v[r->n++].pid = pid;
	return 0;
}

/* LMDB marks a live reader process with an fcntl lock on the byte of the
 * lock file at its PID; the kernel tells who holds it in our terms. */
static long lock_holder(int fd, long pid)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = pid, .l_len = 1 };

	if (fcntl(fd, F_GETLK, &fl) != 0)
		return -2;
	return fl.l_type == F_UNLCK ? -1 : (long)fl.l_pid;
}

int env_readers(const char *path, const struct env_where *w, struct env_reader *v,
		size_t cap, size_t *n, char *err, size_t errlen)
{
	struct readers_ctx r = { v, 0, cap };
	char lock[4200];
	MDB_env *env;
	int rc, fd;

	*n = 0;
	if (w->nolock)
		return 0; /* no reader table */
	rc = open_ro(path, w, &env, err, errlen);
	if (rc)
		return rc;
	rc = mdb_reader_list(env, reader_line, &r);
	mdb_env_close(env);
	if (rc < 0) {
		snprintf(err, errlen, "%s: reading its reader table failed", path);
		return EIO;
	}
	snprintf(lock, sizeof(lock), w->nosubdir ? "%s-lock" : "%s/lock.mdb", path);
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	for (size_t i = 0; i < r.n; i++)
		v[i].holder = fd < 0 ? -2 : lock_holder(fd, v[i].pid);
	if (fd >= 0)
		close(fd);
	*n = r.n;
	return 0;
}
