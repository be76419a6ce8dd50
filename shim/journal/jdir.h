/* jdir.h: the companion directory's trust rules, shared by the tap and
 * the syncer.
 *
 * The companion directory sits next to an env that other local users may
 * reach, and a root host may write into it. So: it and every file in it
 * are created no wider than the env's data file and the umask allow and
 * owned by the env's owner; a directory or file that is owned by another
 * user, writable by others (or by a group the data file is not writable
 * by), a symlink, a special file or a file with another link is refused;
 * every open is relative to the directory's fd and never follows a
 * symlink. Functions return 0 or a positive errno value (EPERM: refused
 * by these rules), and never print.
 */
#ifndef MDBTAP_JDIR_H
#define MDBTAP_JDIR_H

#include <sys/stat.h>
#include <sys/types.h>

/* Who may own the companion's entries and how wide they may be. */
struct jdir_trust {
	uid_t uid;             /* the env's owner (our euid also passes) */
	gid_t gid;             /* the env's group, for what we create */
	mode_t mode;           /* the widest file mode: the data file's, never o+w */
};

/* The env's data file ("PATH/data.mdb", or PATH itself for MDB_NOSUBDIR). */
int jdir_env_stat(const char *env_path, int nosubdir, struct stat *st);

/* The trust of an env whose data file is st; NULL: our own ids and mode
 * (then 0644 when mode is 0). */
void jdir_trust_of(const struct stat *st, mode_t mode, struct jdir_trust *t);

/* Open the companion directory dir (creating it if create), checked;
 * *dirfd gets an O_DIRECTORY fd. */
int jdir_open(const char *dir, const struct jdir_trust *t, int create, int *dirfd);

/* Whether an open fd's file may be used under t (a regular file, one
 * link, the right owner, no stray write bit); ours gets its mode narrowed
 * to t's. */
int jdir_check_file(int fd, const struct jdir_trust *t);

/* Open name in the directory, never following a symlink, nor blocking on
 * a FIFO; checked with jdir_check_file. flags: O_RDONLY or O_RDWR, maybe
 * O_CREAT (then made with t's mode, less the umask, and owner). */
int jdir_openat(int dirfd, const char *name, int flags, const struct jdir_trust *t, int *fdp);

/* A new anonymous file in the directory (O_TMPFILE, else a named file
 * made with O_EXCL; *tmpname then gets its name, else ""), read-write,
 * with t's mode and owner. */
int jdir_create_tmp(int dirfd, const struct jdir_trust *t, char *tmpname, size_t cap, int *fdp);

/* Give a file made by jdir_create_tmp its name, atomically and without
 * replacing anything (EEXIST when name is taken). */
int jdir_link(int dirfd, const char *tmpname, const char *name);

/* Make (or check) a subdirectory for our process alone: owned by our
 * euid, mode 0700 or narrower; *fdp gets its O_DIRECTORY fd. */
int jdir_private_subdir(int dirfd, const char *name, int *fdp);

#endif
