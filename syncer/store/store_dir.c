/* store_dir.c: the directory store. Each object is a file of the same
 * name in one directory.
 *
 * A put writes a temp file whose name starts with '.' (so listings never
 * show it), fsyncs it, renames it over the name and fsyncs the directory,
 * as Lightning Stream's fs backend does: rename is atomic, so a reader
 * opens the old file or the new one, and a file once open stays whole
 * even if it is replaced or deleted meanwhile. Two processes putting the
 * same name each write their own temp file (pid and random in its name,
 * O_EXCL), and the last rename wins; a delete racing a put leaves the
 * object there or not, never half of it.
 *
 * All file operations are relative to a descriptor of the directory, so
 * the store keeps working on the same directory whatever happens to the
 * path (the inotify watch too: it is added through /proc/self/fd).
 */
#include "store.h"
#include "pct.h"
#include "err.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)             /* copy buffer: objects may be large */
#define STALE_SEC (60 * 60)            /* temp files older than this are dead */
#define TMP_SUFFIX ".tmp."
#define TMP_NAME_PART 200              /* keeps temp names within NAME_MAX */
#define TMP_TRIES 8

struct dir_store {
	struct store base;       /* first: a struct store * is a struct dir_store * */
	int dirfd;
	int watchfd;             /* inotify, or -1 */
};


static struct dir_store *ds(struct store *s)
{
	return (struct dir_store *)s;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t read_some(int fd, char *buf, size_t n, off_t off, int positional)
{
	ssize_t r;

	do
		r = positional ? pread(fd, buf, n, off) : read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static int fsync_retry(int fd)
{
	int rc;

	do
		rc = fsync(fd);
	while (rc != 0 && errno == EINTR);
	return rc ? errno : 0;
}

/* The directory's entry for a rename or unlink must reach the disk too.
 * Some file systems cannot fsync a directory (EINVAL): nothing more can
 * be done there. */
static int sync_dir(struct dir_store *d)
{
	int rc = fsync_retry(d->dirfd);

	return rc == EINVAL ? 0 : rc;
}

static uint64_t random64(void)
{
	static uint64_t counter;
	struct timespec ts;
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* No entropy yet (early boot): O_EXCL still keeps names apart. */
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 40) ^ ++counter;
}

/* ".<name>.tmp.<pid>.<16 hex>": the shape is_tmp_name recognises. */
static void tmp_name(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, ".%.*s" TMP_SUFFIX "%ld.%016llx", TMP_NAME_PART, name,
		 (long)getpid(), (unsigned long long)random64());
}

/* Whether n is a temp file of ours, read from the end. */
static int is_tmp_name(const char *n)
{
	size_t len = strlen(n), i, digits = 0;

	if (n[0] != '.' || len < 1 + strlen(TMP_SUFFIX) + 1 + 1 + 16)
		return 0;
	for (i = len - 16; i < len; i++)
		if (pct_lowerhexval((unsigned char)n[i]) < 0)
			return 0;
	i = len - 17;
	if (n[i] != '.')
		return 0;
	while (i > 0 && n[i - 1] >= '0' && n[i - 1] <= '9') {
		i--;
		digits++;
	}
	if (!digits || i < strlen(TMP_SUFFIX) + 1)
		return 0;
	return !strncmp(n + i - strlen(TMP_SUFFIX), TMP_SUFFIX, strlen(TMP_SUFFIX));
}

/* Remove temp files a killed writer left behind. Fresh ones may belong
 * to a put in progress in another process: a writer's writes keep its
 * temp file's mtime recent. Best effort: a failure here does not stop
 * the store from working. */
static void remove_stale(struct dir_store *d)
{
	time_t now = time(NULL);
	struct dirent *e;
	struct stat st;
	DIR *dir;
	int fd;

	fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((e = readdir(dir)) != NULL) {
		if (!is_tmp_name(e->d_name))
			continue;
		if (fstatat(d->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (now - st.st_mtime > STALE_SEC)
			unlinkat(d->dirfd, e->d_name, 0);
	}
	closedir(dir);
}

/* Copy fd (from offset 0 to its end) to out; *total: the bytes copied. */
static int copy_from_start(int fd, int out, char *buf, uint64_t *total)
{
	off_t off = 0;

	for (;;) {
		ssize_t r = read_some(fd, buf, CHUNK, off, 1);
		int rc;

		*total = (uint64_t)off;
		if (r < 0)
			return errno;
		if (r == 0)
			return 0;
		rc = write_all(out, buf, (size_t)r);
		if (rc)
			return rc;
		off += r;
	}
}

static int create_tmp(struct dir_store *d, const char *name, char *tmp, size_t cap)
{
	for (int i = 0; i < TMP_TRIES; i++) {
		int fd;

		tmp_name(tmp, cap, name);
		fd = openat(d->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    d->base.file_mode ? d->base.file_mode : 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

static int dir_put(struct store *s, const char *name, int fd)
{
	struct dir_store *d = ds(s);
	char tmp[NAME_MAX + 1];
	uint64_t total = 0;
	char *buf;
	int out, rc;

	/* Refuse a pipe before creating anything. */
	if (lseek(fd, 0, SEEK_CUR) < 0)
		return errno;
	buf = malloc(CHUNK);
	if (!buf)
		return ENOMEM;
	out = create_tmp(d, name, tmp, sizeof(tmp));
	if (out < 0) {
		rc = errno;
		free(buf);
		return rc;
	}
	rc = copy_from_start(fd, out, buf, &total);
	free(buf);
	if (!rc)
		rc = fsync_retry(out);
	if (close(out) != 0 && !rc)
		rc = errno;
	if (!rc && renameat(d->dirfd, tmp, d->dirfd, name) != 0)
		rc = errno;
	if (rc) {
		unlinkat(d->dirfd, tmp, 0);
		return rc;
	}
	rc = sync_dir(d);
	if (!rc)
		s->stats.bytes_out += total; /* as the S3 store counts them */
	return rc;
}

/* Where a get starts writing, and whether it may cut fd back to there on
 * failure: only when it was writing past the end, so that nothing the
 * caller had is lost. -1: not seekable. */
static off_t get_start(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	off_t at;

	if (fl < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	at = (fl & O_APPEND) ? st.st_size : lseek(fd, 0, SEEK_CUR);
	return at >= st.st_size ? at : -1;
}

static int copy_all(int in, int out, uint64_t max, uint64_t *total)
{
	char *buf = malloc(CHUNK);
	int rc = 0;

	if (!buf)
		return ENOMEM;
	*total = 0;
	for (;;) {
		ssize_t r = read_some(in, buf, CHUNK, 0, 0);

		if (r < 0) {
			rc = errno;
			break;
		}
		if (r == 0)
			break;
		if (max && *total + (uint64_t)r > max) {
			rc = EFBIG;
			break;
		}
		rc = write_all(out, buf, (size_t)r);
		if (rc)
			break;
		*total += (uint64_t)r;
	}
	free(buf);
	return rc;
}

static int dir_get(struct store *s, const char *name, int fd)
{
	struct dir_store *d = ds(s);
	uint64_t total;
	struct stat st;
	off_t start;
	int in, rc;

	/* O_NONBLOCK: a FIFO of that name must not block us; it is no
	 * object. O_NOFOLLOW: nor is a symlink (list skips both). */
	in = openat(d->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (in < 0)
		return errno == ELOOP ? ENOENT : errno;
	if (fstat(in, &st) != 0) {
		rc = errno;
		close(in);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(in);
		return ENOENT;
	}
	if (s->max_get && (uint64_t)st.st_size > s->max_get) {
		close(in); /* not a byte of it spooled */
		return EFBIG;
	}
	start = get_start(fd);
	rc = copy_all(in, fd, s->max_get, &total);
	close(in);
	/* Our puts never change a file in place; something else did. */
	if (!rc && total != (uint64_t)st.st_size)
		rc = EIO;
	if (rc && start >= 0 && ftruncate(fd, start) == 0)
		lseek(fd, start, SEEK_SET);
	if (!rc)
		s->stats.bytes_in += total;
	return rc;
}

struct entry {
	char *name;
	uint64_t size;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static int entries_add(struct entries *es, const char *name, uint64_t size)
{
	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 64;
		struct entry *v = realloc(es->v, cap * sizeof(*v));

		if (!v)
			return ENOMEM;
		es->v = v;
		es->cap = cap;
	}
	es->v[es->n].name = strdup(name);
	if (!es->v[es->n].name)
		return ENOMEM;
	es->v[es->n++].size = size;
	return 0;
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		free(es->v[i].name);
	free(es->v);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* Read the directory: the objects whose names start with prefix. */
static int read_entries(struct dir_store *d, const char *prefix, struct entries *es)
{
	size_t plen = strlen(prefix);
	struct dirent *e;
	struct stat st;
	DIR *dir;
	int fd, rc = 0;

	/* A descriptor of its own: readdir must start at the beginning
	 * whatever another listing did with d->dirfd's offset. */
	fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	dir = fdopendir(fd);
	if (!dir) {
		rc = errno;
		close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		e = readdir(dir);
		if (!e) {
			rc = errno;
			break;
		}
		if (strncmp(e->d_name, prefix, plen) || !store_valid_name(e->d_name))
			continue;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		if (fstatat(d->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue; /* deleted meanwhile */
			rc = errno;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		rc = entries_add(es, e->d_name, (uint64_t)st.st_size);
		if (rc)
			break;
	}
	closedir(dir);
	return rc;
}

static int dir_list(struct store *s, const char *prefix, store_list_fn fn, void *ctx)
{
	struct entries es = { NULL, 0, 0 };
	int rc;

	rc = read_entries(ds(s), prefix, &es);
	if (!rc && es.n) {
		qsort(es.v, es.n, sizeof(*es.v), entry_cmp);
		for (size_t i = 0; i < es.n && !rc; i++)
			rc = fn(ctx, es.v[i].name, es.v[i].size);
	}
	entries_free(&es);
	return rc;
}

static int dir_del(struct store *s, const char *name)
{
	struct dir_store *d = ds(s);

	if (unlinkat(d->dirfd, name, 0) != 0)
		return errno == ENOENT ? 0 : errno;
	return sync_dir(d);
}

/* A put ends with a rename into the directory (IN_MOVED_TO); a file
 * written in place by something else, with its close (IN_CLOSE_WRITE). */
static int dir_watch(struct store *s, int *fd)
{
	struct dir_store *d = ds(s);
	char path[64];

	if (d->watchfd < 0) {
		int w = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

		if (w < 0)
			return errno;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", d->dirfd);
		if (inotify_add_watch(w, path, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR) < 0) {
			int rc = errno;

			close(w);
			return rc;
		}
		d->watchfd = w;
	}
	*fd = d->watchfd;
	return 0;
}

static int dir_watch_read(struct store *s, store_watch_fn fn, void *ctx)
{
	struct dir_store *d = ds(s);
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (d->watchfd < 0)
		return EINVAL;
	for (;;) {
		ssize_t n = read(d->watchfd, buf, sizeof(buf));

		if (n < 0)
			return errno == EAGAIN ? 0 : errno == EINTR ? 0 : errno;
		if (n == 0)
			return 0;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				fn(ctx, NULL);
			else if (ev->len && store_valid_name(ev->name)) /* not temp files */
				fn(ctx, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
}

static void dir_close(struct store *s)
{
	struct dir_store *d = ds(s);

	if (d->watchfd >= 0)
		close(d->watchfd);
	close(d->dirfd);
	free(s->url);
	free(d);
}

static const struct store_ops dir_ops = {
	.put = dir_put,
	.get = dir_get,
	.list = dir_list,
	.del = dir_del,
	.close = dir_close,
};

static const struct store_watch_ops dir_watch_ops = { dir_watch, dir_watch_read };

/* mkdir -p: each missing component with mode 0755. */
static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(path))
		return ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != 0)
			continue;
		if (path[i - 1] == '/')
			continue; /* "//" */
		path[i] = 0;
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return errno;
		path[i] = i < n ? '/' : 0;
	}
	return 0;
}

int store_dir_open(const char *dir, int create, struct store **out, char *err, size_t errlen)
{
	struct stat st;
	struct dir_store *d;
	size_t n;
	int rc;

	*out = NULL;
	if (!dir || dir[0] != '/') {
		err_setf(err, errlen, "store directory '%s' is not an absolute path",
			dir ? dir : "");
		return EINVAL;
	}
	if (!create && stat(dir, &st) != 0) {
		rc = errno;
		err_setf(err, errlen, "store directory %s: %s%s", dir, err_str(rc),
			 rc == ENOENT ? " (a typo would split the fleet: give --create-store, or "
					"store_options create: true, to create it)" : "");
		return rc;
	}
	rc = create ? mkdir_p(dir) : 0;
	if (rc) {
		err_setf(err, errlen, "store directory %s: cannot create it: %s", dir,
			err_str(rc));
		return rc;
	}
	d = calloc(1, sizeof(*d));
	n = strlen(dir) + sizeof("file://");
	if (d)
		d->base.url = malloc(n);
	if (!d || !d->base.url) {
		if (d)
			free(d);
		err_setf(err, errlen, "out of memory");
		return ENOMEM;
	}
	snprintf(d->base.url, n, "file://%s", dir);
	d->base.ops = &dir_ops;
	d->base.watch_ops = &dir_watch_ops;
	d->watchfd = -1;
	d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0) {
		rc = errno;
		err_setf(err, errlen, "store directory %s: %s", dir, err_str(rc));
		free(d->base.url);
		free(d);
		return rc;
	}
	remove_stale(d);
	*out = &d->base;
	return 0;
}
