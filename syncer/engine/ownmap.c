/* ownmap.c: see ownmap.h. */
#include "ownmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "meta.h"

int ownmap_claim(const char *dir)
{
	char p[4200];
	int fd;

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

void ownmap_unclaim(const char *dir, int lock_made)
{
	char data[4200], lock[4200];
	/* Every process with the env open holds at least a read lock on
	 * byte 0 of LMDB's lock file: a write lock there means none does. */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int fd;

	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
	fd = open(lock, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && fcntl(fd, F_SETLK, &fl) != 0) {
		close(fd);
		log_msg(MDBTAP_LOG_WARN, "%s: another process opened the env the syncer was "
			"creating: it is left as it is", dir);
		return;
	}
	if (unlink(data) != 0 && errno != ENOENT)
		log_msg(MDBTAP_LOG_WARN, "%s: removing the data file the syncer made: %s", data,
			err_str(errno));
	if (fd >= 0 && lock_made && unlink(lock) != 0 && errno != ENOENT)
		log_msg(MDBTAP_LOG_WARN, "%s: removing the lock file the syncer made: %s", lock,
			err_str(errno));
	if (fd >= 0)
		close(fd); /* the lock goes with it */
}

/* Read meta_state.created, setting it first when fresh. */
static int remember(struct senv *s, int fresh, int *created)
{
	struct meta_state st;
	MDB_txn *t;
	int rc = mdb_txn_begin(meta_env(s->meta), NULL, fresh ? 0 : MDB_RDONLY, &t);

	if (rc)
		return rc;
	rc = meta_state_get(t, s->meta, &st);
	if (!rc && fresh && !st.created) {
		st.created = 1;
		rc = meta_state_put(t, s->meta, &st);
	}
	if (rc || !fresh) {
		mdb_txn_abort(t);
		*created = !rc && st.created;
		return rc;
	}
	rc = mdb_txn_commit(t);
	*created = !rc;
	return rc;
}

int ownmap_apply(struct senv *s, int fresh, char *err, size_t errlen)
{
	uint64_t want = s->cfg ? s->cfg->map_size : CFG_DEFAULT_MAP_SIZE;
	MDB_envinfo info;
	int rc = remember(s, fresh, &s->created);

	if (rc) {
		snprintf(err, errlen, "%s/meta: %s", s->companion, err_str(rc));
		return rc;
	}
	if (!s->created || (rc = mdb_env_info(s->host, &info)) != 0 || want <= info.me_mapsize)
		return rc;
	/* No txn of ours is open; under the host's lock, as the open. The
	 * next commit records the size in the file (LMDB keeps the larger). */
	rc = senv_lock(s, 0);
	if (!rc) {
		rc = mdb_env_set_mapsize(s->host, (size_t)want);
		senv_unlock(s);
	}
	if (rc) {
		snprintf(err, errlen, "%s: taking map_size (%llu MiB) for the env the syncer "
			 "created: %s", s->path, (unsigned long long)(want >> 20), err_str(rc));
		return rc;
	}
	log_msg(MDBTAP_LOG_INFO, "%s: the env the syncer created now has a map of %llu MiB "
		"(map_size, was %llu MiB)", s->path, (unsigned long long)(want >> 20),
		(unsigned long long)(info.me_mapsize >> 20));
	return 0;
}
