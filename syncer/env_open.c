/* env_open.c: find an env's files and its last txn id without changing
 * anything: read-only, and without creating a lock file the host does not
 * use (MDB_NOLOCK hosts such as postfix have none). */
#include "env_open.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "journal.h"

int env_where(const char *path, struct env_where *w)
{
	char lock[4200];
	struct stat st;

	memset(w, 0, sizeof(*w));
	if (stat(path, &st) != 0)
		return errno;
	w->nosubdir = !S_ISDIR(st.st_mode);
	snprintf(lock, sizeof(lock), w->nosubdir ? "%s-lock" : "%s/lock.mdb", path);
	w->nolock = stat(lock, &st) != 0;
	return jnl_companion_dir(path, w->nosubdir, w->companion, sizeof(w->companion));
}

int env_last_txnid(const char *path, const struct env_where *w, uint64_t *txnid,
		   char *err, size_t errlen)
{
	unsigned int flags = MDB_RDONLY | (w->nosubdir ? MDB_NOSUBDIR : 0) |
			     (w->nolock ? MDB_NOLOCK : 0);
	MDB_envinfo info;
	MDB_env *env;
	int rc;

	rc = mdb_env_create(&env);
	if (rc) {
		snprintf(err, errlen, "mdb_env_create: %s", mdb_strerror(rc));
		return rc;
	}
	/* A map size of 0 takes the size recorded in the file. */
	rc = mdb_env_open(env, path, flags, 0644);
	if (rc == 0)
		rc = mdb_env_info(env, &info);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
	else
		*txnid = info.me_last_txnid;
	mdb_env_close(env);
	return rc;
}
