/* jdir.c: see jdir.h. */
#define _GNU_SOURCE /* O_TMPFILE */
#include "jdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int jdir_env_stat(const char *env_path, int nosubdir, struct stat *st)
{
	char p[4200];

	if ((size_t)snprintf(p, sizeof(p), "%s%s", env_path, nosubdir ? "" : "/data.mdb") >=
	    sizeof(p))
		return ENAMETOOLONG;
	return stat(p, st) == 0 ? 0 : errno;
}

void jdir_trust_of(const struct stat *st, mode_t mode, struct jdir_trust *t)
{
	t->uid = st ? st->st_uid : geteuid();
	t->gid = st ? st->st_gid : getegid();
	t->mode = (st ? st->st_mode : (mode ? mode : 0644)) & 0664;
}

/* The process's umask, read without changing it (umask(2) would race with
 * the host's other threads); 022 when /proc does not say. */
static mode_t current_umask(void)
{
	char buf[1024];
	mode_t m = 022;
	ssize_t n;
	char *p;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return m;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return m;
	buf[n] = 0;
	p = strstr(buf, "\nUmask:");
	if (p)
		m = (mode_t)strtoul(p + 7, NULL, 8) & 0777;
	return m;
}

static int owner_ok(uid_t owner, const struct jdir_trust *t)
{
	return owner == t->uid || owner == geteuid() || owner == 0;
}

/* No write bit for others, and a group write bit only when that group is
 * the data file's and may write the data file: a group that cannot write
 * the env must not be able to truncate a journal the host has mapped. */
static int writers_ok(const struct stat *st, const struct jdir_trust *t)
{
	if (st->st_mode & 0002)
		return 0;
	return !(st->st_mode & 0020) || (st->st_gid == t->gid && (t->mode & 0020));
}

/* What we just created, with no group bits yet (so that no other group
 * can reach it meanwhile), becomes the env's: root gives it to the env's
 * owner and group, anyone else gives it the data file's group (allowed
 * when we are in that group). mode is what it should have: its group bits
 * are set only when its group is the data file's; a file left in another
 * group (our egid) gives that group no more than the data file gives
 * others. */
static void give_to_owner(int fd, const struct jdir_trust *t, mode_t mode)
{
	struct stat st;

	if (geteuid() == 0 && t->uid != 0)
		(void)!fchown(fd, t->uid, t->gid);
	else
		(void)!fchown(fd, (uid_t)-1, t->gid);
	if (fstat(fd, &st) != 0 || st.st_gid != t->gid)
		mode = (mode & ~(mode_t)0070) | (mode & ((mode & 0005) << 3));
	(void)fchmod(fd, mode);
}

/* The mode a new file gets: t's, less the umask. */
static mode_t file_mode(const struct jdir_trust *t)
{
	return t->mode & ~current_umask() & 0664;
}

int jdir_open(const char *dir, const struct jdir_trust *t, int create, int *dirfd)
{
	/* Directories need x wherever they have r (a umask of 033 keeps r
	 * and strips x): set it once the directory is ours. */
	mode_t dmode = t->mode & ~current_umask() & 0664;
	struct stat st;
	int fd, made = 0;

	dmode = (dmode | ((dmode & 0444) >> 2) | 0700) & ~(mode_t)0002;
	*dirfd = -1;
	if (create) {
		if (mkdir(dir, dmode & ~(mode_t)0070) == 0)
			made = 1;
		else if (errno != EEXIST)
			return errno;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? EPERM : errno;
	if (made)
		give_to_owner(fd, t, dmode);
	if (fstat(fd, &st) != 0) {
		int rc = errno;

		close(fd);
		return rc;
	}
	if (!S_ISDIR(st.st_mode) || !owner_ok(st.st_uid, t) || !writers_ok(&st, t)) {
		close(fd);
		return EPERM;
	}
	*dirfd = fd;
	return 0;
}

int jdir_check_file(int fd, const struct jdir_trust *t)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return errno;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || !owner_ok(st.st_uid, t) ||
	    !writers_ok(&st, t))
		return EPERM;
	/* A file made by an older version may be wider than the env. */
	if (st.st_uid == geteuid() && (st.st_mode & 0777 & ~t->mode))
		(void)fchmod(fd, st.st_mode & 0777 & t->mode);
	return 0;
}

int jdir_openat(int dirfd, const char *name, int flags, const struct jdir_trust *t, int *fdp)
{
	int base = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	int fd = -1, rc;

	*fdp = -1;
	if (flags & O_CREAT) { /* ours if we made it: give it to the owner */
		fd = openat(dirfd, name, (flags | O_EXCL | base), t->mode & 0600);
		if (fd >= 0)
			give_to_owner(fd, t, file_mode(t));
		else if (errno != EEXIST)
			return errno == ELOOP ? EPERM : errno;
	}
	if (fd < 0)
		fd = openat(dirfd, name, (flags & ~(O_CREAT | O_EXCL)) | base);
	if (fd < 0)
		return errno == ELOOP ? EPERM : errno;
	rc = jdir_check_file(fd, t);
	if (!rc && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
		rc = errno;
	if (rc) {
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

int jdir_create_tmp(int dirfd, const struct jdir_trust *t, char *tmpname, size_t cap, int *fdp)
{
	static unsigned seq;
	int fd = -1;

	*fdp = -1;
	if (!tmpname) {
		fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, t->mode & 0600);
		if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return errno;
	}
	for (int i = 0; fd < 0 && i < 100; i++) {
		char name[64];

		snprintf(name, sizeof(name), ".tmp.%ld.%u", (long)getpid(),
			 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, t->mode & 0600);
		if (fd < 0 && errno != EEXIST)
			return errno;
		if (fd >= 0 && !tmpname)
			(void)unlinkat(dirfd, name, 0);
		else if (fd >= 0)
			snprintf(tmpname, cap, "%s", name);
	}
	if (fd < 0)
		return EEXIST;
	give_to_owner(fd, t, file_mode(t));
	*fdp = fd;
	return 0;
}

int jdir_link(int dirfd, const char *tmpname, const char *name)
{
	int rc = 0;

	/* link(2), unlike rename(2), never replaces: the name only ever
	 * points at a whole file, and never at a file we did not make. */
	if (linkat(dirfd, tmpname, dirfd, name, 0) != 0)
		rc = errno;
	(void)unlinkat(dirfd, tmpname, 0);
	return rc;
}

int jdir_private_subdir(int dirfd, const char *name, int *fdp)
{
	struct stat st;
	int fd;

	*fdp = -1;
	if (mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST)
		return errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ? EPERM : errno;
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 0022)) {
		close(fd);
		return EPERM;
	}
	if (st.st_mode & 0077)
		(void)fchmod(fd, st.st_mode & 0700);
	*fdp = fd;
	return 0;
}
