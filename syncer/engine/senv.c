/* senv.c: see senv.h. */
#define _GNU_SOURCE /* O_TMPFILE */
#include "senv.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "jdir.h"
#include "log.h"
#include "ownmap.h"
#include "ownorder.h"
#include "quarantine.h"
#include "env.h"

/* Handles of host DBIs: every DBI of the host may be looked at (its
 * record in the unnamed DBI), synced or not (META_DBI_LIMIT). */
#define SENV_MAX_DBS 32768

const char *const senv_rescan_names[SENV_RESCAN_NWHY] = {
	[SENV_RESCAN_UNACCOUNTED] = "unaccounted", [SENV_RESCAN_IN_DOUBT] = "in_doubt",
	[SENV_RESCAN_LOSSY] = "lossy", [SENV_RESCAN_CORRUPT] = "corrupt_record",
	[SENV_RESCAN_DIRTY] = "dirty_dbi", [SENV_RESCAN_WENT_BACK] = "went_back",
};

static int env_has_data(const char *dir)
{
	char p[4200];
	struct stat st;

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	return stat(p, &st) == 0;
}

/* Why jdir refused a companion entry, for the operator. */
static const char *refusal(int rc)
{
	return rc == EPERM ? "not used: a symlink, a special file, owned by another user or "
			     "writable by others"
			   : err_str(rc);
}

/* One syncer per env (docs/DESIGN.md §10): a flock on
 * SENV_SYNCER_LOCK in the companion dir, held for the syncer's life (the
 * kernel lets go when it dies, SIGKILL too), with the holder's PID in
 * the file for the message. The dir must exist: when it does not, no
 * syncer ever ran on the env. */
static int take_syncer_lock(struct senv *s, char *err, size_t errlen)
{
	char pid[32] = "";
	struct stat data;
	int dfd, fd, rc;

	rc = jdir_env_stat(s->path, s->nosubdir, &data);
	if (!rc) {
		jdir_trust_of(&data, 0, &s->trust);
		rc = jdir_open(s->companion, &s->trust, 0, &dfd);
	}
	if (!rc) {
		rc = jdir_openat(dfd, SENV_SYNCER_LOCK, O_RDWR | O_CREAT, &s->trust, &fd);
		close(dfd);
	}
	if (rc) {
		snprintf(err, errlen, "%s/%s: %s", s->companion, SENV_SYNCER_LOCK, refusal(rc));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		ssize_t n;

		rc = errno;
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		close(fd);
		if (rc != EWOULDBLOCK) {
			snprintf(err, errlen, "%s/%s: %s", s->companion, SENV_SYNCER_LOCK, err_str(rc));
			return rc;
		}
		snprintf(err, errlen, "%s: another syncer runs on this env (PID %s): "
			 "one syncer per env", s->path, pid[0] ? pid : "unknown");
		return EBUSY;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid)) {
		rc = errno;
		snprintf(err, errlen, "%s/%s: %s", s->companion, SENV_SYNCER_LOCK, err_str(rc));
		close(fd);
		return rc;
	}
	s->syncfd = fd;
	return 0;
}

/* A file given as the env (MDB_NOSUBDIR) must be one already: LMDB
 * would make an empty or special file into a new env (docs/DESIGN.md §12: bad
 * input changes nothing). */
static int check_env_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		int rc = errno;

		snprintf(err, errlen, "%s: %s", path, err_str(rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		snprintf(err, errlen, "%s: not an LMDB env (%s): give the env's directory, or the "
			 "data file of an env its program opened with MDB_NOSUBDIR", path,
			 S_ISREG(st.st_mode) ? "an empty file" : "not a regular file");
		return EINVAL;
	}
	return 0;
}

static int dir_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The meta env lives in a subdirectory only this process's user can
 * write, opened through its fd: whoever else can write the companion
 * directory (the env's owner, when the syncer is root) cannot swap it for
 * a symlink between our check and LMDB's open. */
static int open_meta(struct senv *s, char *err, size_t errlen)
{
	char p[64];
	int dfd, mfd, rc;

	rc = jdir_open(s->companion, &s->trust, 0, &dfd);
	if (!rc) {
		rc = jdir_private_subdir(dfd, "meta", &mfd);
		close(dfd);
	}
	if (rc) {
		snprintf(err, errlen, "%s/meta: %s", s->companion, refusal(rc));
		return rc;
	}
	snprintf(p, sizeof(p), "/proc/self/fd/%d", mfd);
	if (faccessat(mfd, "data.mdb", F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    faccessat(mfd, "lock.mdb", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		/* they are in our private directory: ours unless planted
		 * before it was; LMDB would follow a symlink */
		struct stat st;
		const char *names[] = { "data.mdb", "lock.mdb" };

		for (int i = 0; i < 2; i++)
			if (fstatat(mfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid()))
				rc = EPERM;
	}
	if (access(p, F_OK) != 0) /* no /proc: the path, checked just now */
		snprintf(p, sizeof(p), "%s", "");
	if (!rc && *p)
		rc = meta_open_path(p, &s->meta);
	else if (!rc)
		rc = meta_open(s->companion, &s->meta);
	close(mfd);
	if (rc)
		snprintf(err, errlen, "%s/meta: %s", s->companion, refusal(rc));
	return rc;
}

/* A journal is made under a temporary name (jdir_create_tmp) and linked
 * once whole: a writer killed meanwhile leaves the temporary file. Remove
 * those older than an hour (a live writer takes milliseconds). */
static void remove_stale_tmp(const struct senv *s)
{
	struct dirent *de;
	DIR *d;
	int dfd;

	if (jdir_open(s->companion, &s->trust, 0, &dfd) != 0)
		return;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!strncmp(de->d_name, ".tmp.", 5) &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_mtime + 3600 < time(NULL))
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* Whether dir's metadata env exists (its data file, not followed). */
static int meta_exists(const char *dir)
{
	char p[4200];
	struct stat st;

	return (size_t)snprintf(p, sizeof(p), "%s/meta/data.mdb", dir) < sizeof(p) &&
	       lstat(p, &st) == 0;
}

/* The companion directory, its journal and the syncer's metadata, under
 * the rules of jdir.h: no wider than the env's data file, the env owner's. */
static int open_companion(struct senv *s, int readonly, const MDB_envinfo *info, char *err,
			  size_t errlen)
{
	struct journal_open_opts jo = { 0 };
	struct stat data;
	int rc;

	rc = jdir_env_stat(s->path, s->nosubdir, &data);
	if (rc) {
		snprintf(err, errlen, "%s: %s", s->path, err_str(rc));
		return rc;
	}
	jdir_trust_of(&data, 0, &s->trust);
	jo.writable = !readonly;
	jo.create = !readonly;
	jo.env_data = &data;
	jo.base_txnid = info->me_last_txnid;
	rc = journal_open(s->companion, &jo, &s->jnl);
	if (rc == MDBTAP_E_VERSION && !readonly &&
	    journal_replace_older(s->companion, &jo) == 0) {
		/* An older format of ours (an upgrade): hosts that still map
		 * it leave their txn ids unaccounted here, so they are
		 * rescanned. */
		log_msg(MDBTAP_LOG_WARN, "%s: journal of an older format replaced by a new one",
			s->companion);
		rc = journal_open(s->companion, &jo, &s->jnl);
	}
	if (rc && !(readonly && rc == ENOENT)) {
		snprintf(err, errlen, "%s: journal: %s", s->companion, refusal(rc));
		return rc;
	}
	if (!readonly)
		remove_stale_tmp(s);
	/* The companion dir exists now: a syncer that started on an env
	 * without one takes the lock here, before the metadata. */
	if (!readonly && s->syncfd < 0 && (rc = take_syncer_lock(s, err, errlen)))
		return rc;
	/* Looking only (status, digest): no metadata yet stays none, rather
	 * than a meta/ made as the caller's user (root, often), which the
	 * syncer running as the env's owner would then refuse. */
	if (readonly && !meta_exists(s->companion))
		s->meta = NULL;
	else
		rc = open_meta(s, err, errlen);
	if (!rc && (rc = quarantine_load(s)) != 0)
		snprintf(err, errlen, "%s/%s: %s", s->companion, QUARANTINE_FILE, refusal(rc));
	if (!rc && (rc = ownorder_load(s)) != 0)
		snprintf(err, errlen, "%s/%s: %s", s->companion, OWNORDER_FILE, refusal(rc));
	return rc;
}

/* No env in directory path: it may become one only if it is empty but for
 * what an env's deleted data leaves (LMDB's lock file, our companion). */
static int check_empty_dir(const char *path, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int rc = 0;

	if (!d) {
		rc = errno;
		snprintf(err, errlen, "%s: %s", path, err_str(rc));
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "lock.mdb") ||
		    !strcmp(de->d_name, MDBTAP_COMPANION_SUBDIR))
			continue;
		snprintf(err, errlen, "%s: not an LMDB env (no data.mdb) and not empty (it holds "
			 "'%.200s'): give the env's own directory; an env is created only in an "
			 "empty directory", path, de->d_name);
		rc = ENOTEMPTY;
		break;
	}
	closedir(d);
	return rc;
}

/* The PID holding an exclusive flock on the file of st, from
 * /proc/locks; 0 when it cannot be told. */
static long flock_holder(const struct stat *st)
{
	char line[256];
	long pid = 0;
	FILE *f = fopen("/proc/locks", "re");

	if (!f)
		return 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;
		long p;

		/* "1: FLOCK  ADVISORY  WRITE 1234 08:02:5678 0 EOF"; waiters
		 * ("1: -> FLOCK ...") do not match */
		if (sscanf(line, "%*d: FLOCK %*s WRITE %ld %x:%x:%lu", &p, &maj, &min, &ino) == 4 &&
		    maj == major(st->st_dev) && min == minor(st->st_dev) && ino == st->st_ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

/* One syncer per env, whatever path names it (docs/DESIGN.md §10): the
 * companion dir follows the path, and a hard link of a NOSUBDIR file, or
 * DIR/data.mdb of a MDB_NOLOCK directory env, is another path to the same
 * data file. So the lock follows the file: an exclusive flock on the data
 * file, held for the syncer's life. flock and not fcntl: LMDB takes no
 * lock of any kind on its data file (its fcntl locks are on the lock file,
 * and MDB_NOLOCK takes none), but MDB_NOLOCK hosts (postfix) and senv_lock
 * take whole-file fcntl locks on it, which cover every byte to the end of
 * all offsets: an fcntl or OFD lock on any byte range would block them.
 * Linux keeps flock and fcntl locks apart (not on NFS, where LMDB does not
 * work anyway). No data file yet (a new env): taken once it is made. */
static int take_data_lock(struct senv *s, char *err, size_t errlen)
{
	char data[4200];
	struct stat st;
	long pid;
	int fd, rc;

	snprintf(data, sizeof(data), "%s%s", s->path, s->nosubdir ? "" : "/data.mdb");
	fd = open(data, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "%s: %s", data, err_str(rc));
		return rc;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		rc = errno;
		close(fd);
		if (rc != EWOULDBLOCK) {
			snprintf(err, errlen, "%s: lock: %s", data, err_str(rc));
			return rc;
		}
		pid = flock_holder(&st);
		if (pid > 0)
			snprintf(err, errlen, "%s: another syncer runs on this env's data file (PID "
				 "%ld), maybe through another path (a hard link, a directory env and "
				 "its data.mdb): one syncer per env", s->path, pid);
		else
			snprintf(err, errlen, "%s: another syncer runs on this env's data file "
				 "through another path (a hard link, a directory env and its "
				 "data.mdb) or PID namespace: one syncer per env", s->path);
		return EBUSY;
	}
	s->datafd = fd;
	return 0;
}

/* The first half of senv_open: the path resolved and checked, and for a
 * writable open the env's locks taken where the env exists. Creates
 * nothing. */
static int prepare(struct senv *s, const char *path, const struct cfg_env *cfg, int readonly,
		   char *err, size_t errlen)
{
	struct env_where w;
	uint64_t size, need;
	int rc;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->lockfd = -1;
	s->syncfd = -1;
	s->datafd = -1;
	if (strlen(path) >= sizeof(s->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return ENAMETOOLONG;
	}
	strcpy(s->path, path);
	rc = env_where(path, &w);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, err_str(rc));
		return rc;
	}
	if (w.dir_data_file) {
		/* Taken as a file env, it would get a companion of its own
		 * (not the one the tap journals in), and without a lock.mdb
		 * no LMDB lock: a second syncer, merging without the host's
		 * lock. */
		snprintf(err, errlen, "%s: the data file of the env in its directory (a lock.mdb "
			 "or an mdbtap directory beside it): give the env's directory", path);
		return EINVAL;
	}
	/* From here on the env is named by its resolved path only. */
	strcpy(s->path, w.path);
	path = s->path;
	s->nosubdir = w.nosubdir;
	s->nolock = w.nolock;
	s->readonly = readonly;
	if (s->nosubdir && !readonly && (rc = check_env_file(path, err, errlen)))
		return rc;
	if (senv_file_short(s, &size, &need)) {
		/* Being copied over in place: LMDB would fault on it, or
		 * take an empty file for a new env and write meta pages into
		 * the copy. A supervisor starts us again. */
		snprintf(err, errlen, "%s: the data file has %llu bytes, its env needs %llu "
			 "(written over in place?): not opened now", path,
			 (unsigned long long)size, (unsigned long long)need);
		return EAGAIN;
	}
	snprintf(s->companion, sizeof(s->companion), "%s", w.companion);
	if (!readonly && !s->nosubdir && !env_has_data(path)) {
		/* No env here: only an empty directory becomes one (an
		 * instance joining before its program ever ran), not a
		 * directory of other files (a typo'd --env). */
		if ((rc = check_empty_dir(path, err, errlen)))
			return rc;
		s->nolock = 0; /* created with LMDB's lock file */
		s->fresh = 1;
	}
	if (readonly)
		return 0;
	/* Before anything is opened or created: a second syncer changes
	 * nothing. The companion's lock names the other syncer's PID; the
	 * data file's catches one given another path to the file. */
	if (dir_exists(s->companion) && !s->fresh && (rc = take_syncer_lock(s, err, errlen)))
		return rc;
	if (!s->fresh && (rc = take_data_lock(s, err, errlen)))
		return rc;
	return 0;
}

/* The second half: the host env opened (created when fresh), then its
 * companion. */
static int finish(struct senv *s, char *err, size_t errlen)
{
	const struct cfg_env *cfg = s->cfg;
	const char *path = s->path;
	unsigned flags = MDB_NOTLS;
	MDB_envinfo info;
	int rc, dead, opened = 0;

	/* Made here, once every env is claimed, so that a failed open
	 * removes only what we made (ownmap.h). */
	if (s->fresh && !s->readonly && (rc = ownmap_claim(path)) != 0) {
		if (rc == EEXIST) {
			snprintf(err, errlen, "%s: a program is creating the env: not opened now",
				 path);
			rc = EAGAIN; /* next time it is the program's */
		} else {
			snprintf(err, errlen, "%s: creating the env: %s", path, err_str(rc));
		}
		goto fail;
	}
	flags |= (s->nosubdir ? MDB_NOSUBDIR : 0) | (s->nolock ? MDB_NOLOCK : 0) |
		 (s->readonly ? MDB_RDONLY : 0);
	if (s->nolock) {
		char data[4200];

		snprintf(data, sizeof(data), "%s%s", path, s->nosubdir ? "" : "/data.mdb");
		s->lockfd = open(data, (s->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (s->lockfd < 0) {
			rc = errno;
			snprintf(err, errlen, "%s: %s", data, err_str(rc));
			goto fail;
		}
	}
	rc = mdb_env_create(&s->host);
	if (!rc)
		rc = mdb_env_set_maxdbs(s->host, SENV_MAX_DBS);
	/* No map size set: LMDB takes the host's from the file, and the
	 * syncer never grows the host's map (docs/DESIGN.md §21). A new env gets room
	 * to receive (map_size); its program's own size replaces it in the
	 * program when it opens it (§21 says what follows). */
	if (!rc && s->fresh)
		rc = mdb_env_set_mapsize(s->host, (size_t)(cfg ? cfg->map_size :
							    CFG_DEFAULT_MAP_SIZE));
	/* Opening reads the meta pages: under the host's lock too. */
	if (!rc && !(rc = senv_lock(s, 0))) {
		rc = mdb_env_open(s->host, path, flags, 0644);
		senv_unlock(s);
		opened = !rc;
	}
	if (rc && s->fresh && !s->readonly && !opened) {
		snprintf(err, errlen, "%s: creating the env with a map of %llu MiB (map_size): %s; "
			 "the files it made are removed", path,
			 (unsigned long long)((cfg ? cfg->map_size : CFG_DEFAULT_MAP_SIZE) >> 20),
			 err_str(rc));
		senv_close(s);
		ownmap_unclaim(path, 1);
		return rc;
	}
	if (!rc && !s->nolock)
		rc = mdb_reader_check(s->host, &dead); /* a killed syncer's slot */
	if (!rc)
		rc = mdb_env_info(s->host, &info);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, err_str(rc));
		goto fail;
	}
	/* A fresh env's data file exists now: its lock, as for any other. */
	if (!s->readonly && s->datafd < 0 && (rc = take_data_lock(s, err, errlen)))
		goto fail;
	rc = open_companion(s, s->readonly, &info, err, errlen);
	if (!rc && !s->readonly)
		rc = ownmap_apply(s, s->fresh, err, errlen);
	if (rc)
		goto fail;
	return 0;
fail:
	senv_close(s);
	return rc;
}

int senv_open(struct senv *s, const char *path, const struct cfg_env *cfg, int readonly,
	      char *err, size_t errlen)
{
	int rc = prepare(s, path, cfg, readonly, err, errlen);

	if (rc) {
		senv_close(s);
		return rc;
	}
	return finish(s, err, errlen);
}

int senv_claim(struct senv *s, const char *path, const struct cfg_env *cfg, char *err,
	       size_t errlen)
{
	int rc = prepare(s, path, cfg, 0, err, errlen);

	if (rc)
		senv_close(s);
	return rc;
}

int senv_open_claimed(struct senv *s, char *err, size_t errlen)
{
	return finish(s, err, errlen);
}

/* A whole-file lock of type (or F_UNLCK), without waiting. */
static int fcntl_lock(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };

	while (fcntl(fd, F_SETLK, &fl) != 0) {
		if (errno != EINTR)
			return errno;
	}
	return 0;
}

int senv_lock(struct senv *s, int exclusive)
{
	struct timespec pause = { 0, 1000000 };
	uint64_t waited_ms = 0;
	int rc;

	if (s->lockfd < 0)
		return 0;
	/* Polled rather than F_SETLKW: a stuck host must not stop the
	 * syncer for good. */
	while ((rc = fcntl_lock(s->lockfd, exclusive ? F_WRLCK : F_RDLCK)) == EAGAIN ||
	       rc == EACCES) {
		if (waited_ms >= SENV_LOCK_WAIT_MS)
			return ETIMEDOUT;
		nanosleep(&pause, NULL);
		waited_ms += (uint64_t)pause.tv_nsec / 1000000;
		if (pause.tv_nsec < 50000000)
			pause.tv_nsec *= 2;
	}
	return rc;
}

void senv_unlock(struct senv *s)
{
	if (s->lockfd >= 0)
		fcntl_lock(s->lockfd, F_UNLCK);
}

static int bad_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

void senv_mark_bad(struct senv *s, const char *name)
{
	char *copy = strdup(name), **at;

	if (!copy)
		return; /* it is fetched again next time: no harm */
	at = tsearch(copy, &s->bad, bad_cmp);
	if (!at || *at != copy) {
		free(copy); /* out of memory, or there already */
		return;
	}
	s->nbad++;
}

int senv_is_bad(const struct senv *s, const char *name)
{
	return tfind(name, &s->bad, bad_cmp) != NULL;
}

void senv_forget_dbis(struct senv *s)
{
	for (size_t i = 0; i < s->ndbis; i++)
		free(s->dbis[i].name);
	free(s->dbis);
	s->dbis = NULL;
	s->ndbis = 0;
}

void senv_close(struct senv *s)
{
	tdestroy(s->bad, free);
	s->bad = NULL;
	s->nbad = 0;
	quarantine_waits_free(s);
	ownorder_free(s);
	senv_forget_dbis(s);
	meta_close(s->meta);
	s->meta = NULL;
	journal_close(s->jnl);
	s->jnl = NULL;
	if (s->host)
		mdb_env_close(s->host);
	s->host = NULL;
	if (s->lockfd >= 0)
		close(s->lockfd);
	s->lockfd = -1;
	if (s->syncfd >= 0)
		close(s->syncfd); /* the syncer lock goes with it */
	s->syncfd = -1;
	if (s->datafd >= 0)
		close(s->datafd); /* and the data file's */
	s->datafd = -1;
}

int senv_selected(const struct senv *s, const char *name, size_t len)
{
	return (!s->cfg || cfg_dbi_selected(s->cfg, name, len)) &&
	       (!s->nown_order || !ownorder_has(s, name, len));
}

static void data_file(const struct senv *s, char *p, size_t cap)
{
	snprintf(p, cap, "%s%s", s->path, s->nosubdir ? "" : "/data.mdb");
}

int senv_file_id(const struct senv *s, uint64_t *dev, uint64_t *ino)
{
	char p[4200];
	struct stat st;

	data_file(s, p, sizeof(p));
	if (stat(p, &st) != 0)
		return errno;
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	return 0;
}

uint64_t senv_file_btime(const struct senv *s)
{
	char p[4200];
	struct statx stx;

	data_file(s, p, sizeof(p));
	if (statx(AT_FDCWD, p, 0, STATX_BTIME, &stx) != 0 || !(stx.stx_mask & STATX_BTIME))
		return 0;
	return (uint64_t)stx.stx_btime.tv_sec * 1000000000u + stx.stx_btime.tv_nsec;
}

/* LMDB's meta page (lmdb 0.9, mdb.c): a 16-byte page header, then
 * MDB_meta: magic, version (4 each), address, mapsize (8 each), two
 * MDB_db of 48 bytes, last page and txn id (8 each). The digest leaves
 * out the map size and address, which a later commit may change. */
#define SENV_META_MAPSIZE 32
#define SENV_META_DBS 40
#define SENV_META_TXNID 144

#define SENV_META_READ (SENV_META_TXNID + 8)
#define SENV_META_MAGIC 16
#define SENV_LMDB_MAGIC 0xBEEFC0DEu
#define SENV_META_PSIZE SENV_META_DBS /* the free DB's md_pad: the page size */
#define SENV_DB_ROOT 40 /* md_root in an MDB_db */

int senv_file_short(const struct senv *s, uint64_t *size, uint64_t *need)
{
	unsigned char page[2][SENV_META_READ];
	uint32_t psize;
	uint64_t txn[2];
	struct stat st;
	char p[4200];
	int fd, n = 0, newest;

	data_file(s, p, sizeof(p));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* gone: reopen_if_replaced's, not a short file */
	if (fstat(fd, &st) != 0) {
		close(fd);
		return 0;
	}
	*size = (uint64_t)st.st_size;
	if (pread(fd, page[0], SENV_META_READ, 0) == SENV_META_READ) {
		uint32_t magic;

		memcpy(&magic, page[0] + SENV_META_MAGIC, 4);
		memcpy(&psize, page[0] + SENV_META_PSIZE, 4);
		if (magic != SENV_LMDB_MAGIC) {
			close(fd);
			return 0; /* not an LMDB file: LMDB's to refuse */
		}
		if (psize >= 512 && psize <= 65536 && !(psize & (psize - 1)) &&
		    pread(fd, page[1], SENV_META_READ, psize) == SENV_META_READ)
			n = 2;
	}
	close(fd);
	if (n < 2) { /* not even two meta pages (an empty file among them) */
		*need = 2 * 4096;
		return 1;
	}
	for (int i = 0; i < 2; i++)
		memcpy(&txn[i], page[i] + SENV_META_TXNID, 8);
	newest = txn[1] > txn[0];
	/* Not the last page used: LMDB does not write pages a txn freed
	 * again before its commit, so a whole file may end before it. The
	 * two roots were written, and a copy under way rarely has them yet
	 * (they are among the newest pages). */
	*need = 2 * (uint64_t)psize;
	for (int d = 0; d < 2; d++) {
		uint64_t root;

		memcpy(&root, page[newest] + SENV_META_DBS + d * 48 + SENV_DB_ROOT, 8);
		if (root != UINT64_MAX && (root + 1) * psize > *need)
			*need = (root + 1) * psize;
	}
	return *size < *need;
}

/* Read the start of both meta pages of the data file into page[0..1]
 * (*n: how many were whole). Returns 0 or an LMDB/errno code. */
static int read_meta_pages(struct senv *s, unsigned char page[2][SENV_META_READ], int *n)
{
	char p[4200];
	MDB_stat ms;
	int fd, rc = mdb_env_stat(s->host, &ms);

	if (rc)
		return rc;
	data_file(s, p, sizeof(p));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	for (*n = 0; *n < 2; (*n)++)
		if (pread(fd, page[*n], SENV_META_READ, (off_t)*n * ms.ms_psize) != SENV_META_READ)
			break;
	close(fd);
	return 0;
}

static uint64_t meta_txnid(const unsigned char *page)
{
	uint64_t t;

	memcpy(&t, page + SENV_META_TXNID, 8);
	return t;
}

/* LMDB's page layout (lmdb 0.9): a 16-byte header (page number, pad,
 * flags at 10, the free space's lower and upper bounds at 12 and 14),
 * then the 2-byte offsets of its nodes. A leaf node: its data size (two
 * 16-bit halves, low first on a little-endian machine), flags, key size,
 * the key, then the data; a named DB's node (F_SUBDATA) holds its MDB_db
 * record, whose root is at SENV_DB_ROOT. */
#define SENV_PAGE_FLAGS 10
#define SENV_PAGE_LOWER 12
#define SENV_PAGE_HDR 16
#define SENV_P_LEAF 0x02
#define SENV_NODE_HDR 8
#define SENV_F_SUBDATA 0x02
#define SENV_MDB_DB 48
#define SENV_FP_SUBDBS 8 /* named DBs whose root pages the digest covers */

static uint16_t get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

/* Digest of page pgno (psize bytes) into out; its named DBs' roots (when
 * it is a leaf of the main DB: sub != NULL) into sub[0..*nsub). 0, or an
 * errno code (a page past the file's end: EIO). */
static int page_digest(int fd, uint64_t pgno, uint32_t psize, unsigned char *buf,
		       uint8_t out[16], uint64_t *sub, int *nsub)
{
	uint16_t lower;

	if (pgno == UINT64_MAX) { /* an empty DB */
		memset(out, 0, 16);
		return 0;
	}
	if (pgno > (uint64_t)INT64_MAX / psize ||
	    pread(fd, buf, psize, (off_t)(pgno * psize)) != (ssize_t)psize)
		return EIO;
	meta_hash(buf, psize, out);
	if (!sub || !(get16(buf + SENV_PAGE_FLAGS) & SENV_P_LEAF))
		return 0;
	lower = get16(buf + SENV_PAGE_LOWER);
	for (uint32_t i = SENV_PAGE_HDR; i + 2 <= lower && i + 2 <= psize &&
	     *nsub < SENV_FP_SUBDBS; i += 2) {
		uint32_t off = get16(buf + i), dsize, ksize;
		const unsigned char *nd = buf + off;

		if (off + SENV_NODE_HDR > psize || !(get16(nd + 4) & SENV_F_SUBDATA))
			continue;
		dsize = get16(nd) | (uint32_t)get16(nd + 2) << 16;
		ksize = get16(nd + 6);
		if (dsize != SENV_MDB_DB || off + SENV_NODE_HDR + ksize + SENV_MDB_DB > psize)
			continue;
		memcpy(&sub[*nsub], nd + SENV_NODE_HDR + ksize + SENV_DB_ROOT, 8);
		(*nsub)++;
	}
	return 0;
}

/* The digest of txn txnid's meta page (its two DB records, last page and
 * txn id: not the map size or address, which a later commit may change)
 * and of the pages its tree starts at: the main DB's root and the roots
 * of the first named DBs it lists (when that root is a leaf), so that a
 * file of the same shape but other content differs.
 *
 * Those pages are still txn txnid's while one of the two meta pages holds
 * it: LMDB never writes a committed page again (copy on write); a page
 * that txn N stops using goes to the free list under N, and a writer
 * takes from it only pages freed by txns older than every reader and than
 * its own txn's predecessor. So txnid's pages are freed by txnid + 1 at
 * the earliest and written again by txnid + 3 at the earliest, whose
 * predecessor txnid + 2 has already written its meta page over txnid's
 * (the two alternate). The meta page is read again after the roots: if it
 * still holds txnid, the roots read were txnid's. */
int senv_meta_fp(struct senv *s, uint64_t txnid, uint8_t fp[16])
{
	unsigned char page[SENV_META_READ], *buf = NULL;
	uint8_t dig[2 + SENV_FP_SUBDBS][16];
	uint64_t sub[SENV_FP_SUBDBS], root;
	int fd, nsub = 0, slot, rc = 0;
	char p[4200];
	MDB_stat ms;

	if ((rc = mdb_env_stat(s->host, &ms)) != 0)
		return rc;
	data_file(s, p, sizeof(p));
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return errno;
	for (slot = 0; slot < 2; slot++)
		if (pread(fd, page, SENV_META_READ, (off_t)slot * ms.ms_psize) == SENV_META_READ &&
		    meta_txnid(page) == txnid)
			break;
	if (slot == 2 || !(buf = malloc(ms.ms_psize))) {
		rc = slot == 2 ? MDB_NOTFOUND : ENOMEM;
		goto out;
	}
	memset(dig, 0, sizeof(dig));
	meta_hash(page + SENV_META_DBS, SENV_META_READ - SENV_META_DBS, dig[0]);
	memcpy(&root, page + SENV_META_DBS + SENV_MDB_DB + SENV_DB_ROOT, 8); /* the main DB's */
	rc = page_digest(fd, root, ms.ms_psize, buf, dig[1], sub, &nsub);
	for (int i = 0; !rc && i < nsub; i++)
		rc = page_digest(fd, sub[i], ms.ms_psize, buf, dig[2 + i], NULL, NULL);
	if (!rc && (pread(fd, page, SENV_META_READ, (off_t)slot * ms.ms_psize) != SENV_META_READ ||
		    meta_txnid(page) != txnid))
		rc = MDB_NOTFOUND; /* overwritten meanwhile: the roots may be another txn's */
	if (!rc)
		meta_hash(dig, sizeof(dig), fp);
out:
	free(buf);
	close(fd);
	return rc;
}

int senv_file_txnid(struct senv *s, uint64_t *txnid)
{
	unsigned char page[2][SENV_META_READ];
	int n, rc = read_meta_pages(s, page, &n);

	if (rc)
		return rc;
	if (n < 2)
		return MDB_CORRUPTED;
	*txnid = 0;
	for (int i = 0; i < 2; i++)
		if (meta_txnid(page[i]) > *txnid)
			*txnid = meta_txnid(page[i]);
	return 0;
}

int senv_file_map(struct senv *s, uint64_t *mapsize, uint64_t *txnid)
{
	unsigned char page[2][SENV_META_READ];
	int n, rc = read_meta_pages(s, page, &n), newest = 0;

	if (rc)
		return rc;
	if (n < 2)
		return MDB_CORRUPTED;
	if (meta_txnid(page[1]) > meta_txnid(page[0]))
		newest = 1;
	*txnid = meta_txnid(page[newest]);
	memcpy(mapsize, page[newest] + SENV_META_MAPSIZE, 8);
	return 0;
}

uint64_t senv_last_txnid(struct senv *s)
{
	MDB_envinfo info;

	return mdb_env_info(s->host, &info) ? 0 : info.me_last_txnid;
}

static struct senv_dbi *find_dbi(struct senv *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->ndbis; i++)
		if (s->dbis[i].len == len && (!len || !memcmp(s->dbis[i].name, name, len)))
			return &s->dbis[i];
	return NULL;
}

/* Whether the handle h of the DBI named (name, len) names a DBI in txn:
 * 0, or MDB_NOTFOUND (gone) or MDB_INCOMPATIBLE (its name is now a plain
 * key, or the DBI was re-created with other flags), as LMDB says when it
 * reads the name's record again for a handle opened in an older txn. */
static int dbi_check(MDB_txn *txn, MDB_dbi h, const char *name, size_t len)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, h, &c);

	if (rc)
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return rc;
	k.mv_size = len; /* empty, or gone: its record tells */
	k.mv_data = (void *)name;
	return mdb_get(txn, 1 /* the unnamed DBI */, &k, &v);
}

static int cache_dbi(struct senv *s, char *cname, size_t len, MDB_dbi h)
{
	struct senv_dbi *nd = realloc(s->dbis, (s->ndbis + 1) * sizeof(*nd));

	if (!nd)
		return ENOMEM;
	s->dbis = nd;
	s->dbis[s->ndbis++] = (struct senv_dbi){ cname, len, h };
	return 0;
}

static void uncache_dbi(struct senv *s, struct senv_dbi *d)
{
	free(d->name);
	*d = s->dbis[--s->ndbis];
}

/* Open (name, len) afresh: LMDB hands back the handle it has for a name
 * without reading its record again, so a stale one is closed first.
 * MDB_INCOMPATIBLE from LMDB: the name is a plain key of the unnamed DBI,
 * which is no DBI (MDB_NOTFOUND) unless asked to create one. */
static int open_named(struct senv *s, MDB_txn *txn, const char *cname, size_t len,
		      unsigned create_flags, MDB_dbi *h)
{
	int rc = mdb_dbi_open(txn, cname, 0, h), chk;

	if (rc == 0 && (chk = dbi_check(txn, *h, cname, len)) != 0) {
		if (chk != MDB_NOTFOUND && chk != MDB_INCOMPATIBLE)
			return chk;
		/* Deleted, or re-created with other flags, since the handle
		 * was opened: a single-threaded syncer holds it alone. */
		mdb_dbi_close(s->host, *h);
		rc = mdb_dbi_open(txn, cname, 0, h);
	}
	if (rc == MDB_NOTFOUND && create_flags)
		rc = mdb_dbi_open(txn, cname, create_flags, h);
	if (rc == MDB_INCOMPATIBLE && !create_flags)
		rc = MDB_NOTFOUND;
	return rc;
}

int senv_host_dbi(struct senv *s, MDB_txn *txn, const char *name, size_t len,
		  unsigned create_flags, MDB_dbi *dbi)
{
	struct senv_dbi *d = find_dbi(s, name, len);
	char *cname = NULL;
	int rc;

	if (d && (!len || dbi_check(txn, d->dbi, name, len) == 0)) {
		*dbi = d->dbi;
		return 0;
	}
	if (d)
		uncache_dbi(s, d); /* stale: opened afresh below */
	if (!len) {
		rc = mdb_dbi_open(txn, NULL, create_flags, dbi);
		return rc ? rc : cache_dbi(s, NULL, 0, *dbi);
	}
	cname = malloc(len + 1);
	if (!cname)
		return ENOMEM;
	memcpy(cname, name, len);
	cname[len] = 0;
	rc = open_named(s, txn, cname, len, create_flags, dbi);
	if (!rc)
		rc = cache_dbi(s, cname, len, *dbi);
	if (rc)
		free(cname);
	return rc;
}

int senv_is_dbi_record(struct senv *s, MDB_txn *txn, const MDB_val *key, const MDB_val *val)
{
	MDB_dbi dbi;

	/* A DBI record holds an MDB_db (48 bytes) and its key is the name,
	 * with no NUL. Only LMDB can tell for sure: opening it succeeds only
	 * for a DBI record (MDB_INCOMPATIBLE for data). */
	if (val->mv_size != 48 || !key->mv_size || memchr(key->mv_data, 0, key->mv_size))
		return 0;
	return senv_host_dbi(s, txn, key->mv_data, key->mv_size, 0, &dbi) == 0;
}

int senv_each_host_dbi(struct senv *s, MDB_txn *txn, senv_dbi_fn fn, void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = fn(ctx, NULL, 0);

	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, 1 /* the unnamed DBI */, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (senv_is_dbi_record(s, txn, &k, &v)) {
			rc = fn(ctx, k.mv_data, k.mv_size);
			if (rc)
				break;
		}
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int senv_tmpfile(const struct senv *s)
{
	int dfd, fd = -1, rc;

	rc = jdir_open(s->companion, &s->trust, 0, &dfd);
	if (!rc) {
		rc = jdir_create_tmp(dfd, &s->trust, NULL, 0, &fd);
		close(dfd);
	}
	if (rc) {
		errno = rc;
		return -1;
	}
	return fd;
}
