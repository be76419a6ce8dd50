/* check_store.c: the store interface and the directory store
 * (syncer/store.h). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "s3conf.h"
#include "store.h"
#include "unit.h"

/* The same contract is run on the directory store and, when
 * MDBTAP_TEST_STORE_URL names one (s3://BUCKET/PREFIX?OPTIONS), on an S3
 * store: each test then gets a prefix of its own under PREFIX. */
static char dir[4096];      /* this test's scratch directory */
static char sdir[4200];     /* the store's directory in it */
static char url[8600];      /* the store this test uses */

static const char *s3_base(void)
{
	const char *base = getenv("MDBTAP_TEST_STORE_URL");

	return base && base[0] ? base : NULL;
}

static void setup(void)
{
	ck_assert_int_eq(testlib_fresh_dir(dir, sizeof(dir), "/tmp/mdbtap-check-store"), 0);
	snprintf(sdir, sizeof(sdir), "%s/a/b/store", dir);
	if (s3_base()) {
		const char *b = s3_base(), *q = strchr(b, '?');
		int n = q ? (int)(q - b) : (int)strlen(b);

		/* each test runs in a process of its own: its pid is unique */
		snprintf(url, sizeof(url), "%.*s/t%ld%s", n, b, (long)getpid(), q ? q : "");
	} else {
		snprintf(url, sizeof(url), "file://%s", sdir);
	}
}

static struct store *open_store(void)
{
	static const struct store_opt create[] = { { "create", "true" } };
	char err[512];
	struct store *s = NULL;

	ck_assert_msg(store_open(url, create, 1, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* An unlinked scratch file holding n bytes of p. */
static int file_with(const void *p, size_t n)
{
	char path[4300];
	int fd;

	snprintf(path, sizeof(path), "%s/scratch.XXXXXX", dir);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	return fd;
}

/* fd's whole content, NUL-terminated; *n gets its size. */
static char *content(int fd, size_t *n)
{
	struct stat st;
	char *buf;

	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	buf[st.st_size] = 0;
	*n = (size_t)st.st_size;
	return buf;
}

static void put_str(struct store *s, const char *name, const char *text)
{
	int fd = file_with(text, strlen(text));

	ck_assert_int_eq(store_put(s, name, fd), 0);
	close(fd);
}

static int get_str(struct store *s, const char *name, char **text)
{
	size_t n;
	int fd = file_with("", 0), rc;

	rc = store_get(s, name, fd);
	*text = content(fd, &n);
	close(fd);
	return rc;
}

/* Listing into one string: "name:size,name:size,". */
struct listing {
	char buf[4096];
	int calls;
	int stop_after;   /* 0: never */
};

static int collect(void *ctx, const char *name, uint64_t size)
{
	struct listing *l = ctx;
	size_t used = strlen(l->buf);

	snprintf(l->buf + used, sizeof(l->buf) - used, "%s:%llu,", name,
		 (unsigned long long)size);
	l->calls++;
	return l->stop_after && l->calls == l->stop_after ? 7 : 0;
}

static const char *list_str(struct store *s, const char *prefix, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	ck_assert_int_eq(store_list(s, prefix, collect, l), 0);
	return l->buf;
}

START_TEST(round_trip)
{
	struct store *s = open_store();
	struct listing l;
	char *text;

	put_str(s, "obj1", "hello");
	ck_assert_int_eq(get_str(s, "obj1", &text), 0);
	ck_assert_str_eq(text, "hello");
	free(text);
	ck_assert_str_eq(list_str(s, "", &l), "obj1:5,");

	/* A put replaces. */
	put_str(s, "obj1", "a longer text");
	ck_assert_int_eq(get_str(s, "obj1", &text), 0);
	ck_assert_str_eq(text, "a longer text");
	free(text);
	ck_assert_str_eq(list_str(s, "", &l), "obj1:13,");

	/* An empty object is an object. */
	put_str(s, "empty", "");
	ck_assert_int_eq(get_str(s, "empty", &text), 0);
	ck_assert_str_eq(text, "");
	free(text);
	ck_assert_str_eq(list_str(s, "", &l), "empty:0,obj1:13,");

	ck_assert_int_eq(store_del(s, "obj1"), 0);
	ck_assert_int_eq(store_del(s, "empty"), 0);
	ck_assert_str_eq(list_str(s, "", &l), "");
	ck_assert_int_eq(get_str(s, "obj1", &text), ENOENT);
	free(text);
	store_close(s);

	/* The objects are files of the same name in the directory. */
	s = open_store();
	put_str(s, "kept", "x");
	store_close(s);
	s = open_store();
	ck_assert_int_eq(get_str(s, "kept", &text), 0);
	ck_assert_str_eq(text, "x");
	free(text);
	store_close(s);
}
END_TEST

START_TEST(put_reads_from_offset_zero)
{
	struct store *s = open_store();
	int fd = file_with("0123456789", 10);
	char *text;

	/* The offset is at the end after writing: put still takes it all,
	 * and leaves the offset alone. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 10);
	ck_assert_int_eq(store_put(s, "digits", fd), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 10);
	lseek(fd, 3, SEEK_SET);
	ck_assert_int_eq(store_put(s, "digits2", fd), 0);
	close(fd);
	ck_assert_int_eq(get_str(s, "digits2", &text), 0);
	ck_assert_str_eq(text, "0123456789");
	free(text);
	store_close(s);
}
END_TEST

START_TEST(get_appends)
{
	struct store *s = open_store();
	int fd = file_with("head:", 5);
	size_t n;
	char *text;

	put_str(s, "o", "body");
	ck_assert_int_eq(store_get(s, "o", fd), 0);
	ck_assert_int_eq(store_get(s, "o", fd), 0);
	/* A missing object leaves fd as it was. */
	ck_assert_int_eq(store_get(s, "missing", fd), ENOENT);
	text = content(fd, &n);
	ck_assert_str_eq(text, "head:bodybody");
	free(text);
	close(fd);
	store_close(s);
}
END_TEST

START_TEST(large_object)
{
	/* More than a few copy chunks, and not a multiple of one. */
	size_t n = 3 * 256 * 1024 + 12345, got;
	struct store *s = open_store();
	char *buf = malloc(n), *back;
	int fd, out;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 7 + i / 1000);
	fd = file_with(buf, n);
	ck_assert_int_eq(store_put(s, "big", fd), 0);
	close(fd);
	out = file_with("", 0);
	ck_assert_int_eq(store_get(s, "big", out), 0);
	back = content(out, &got);
	ck_assert_uint_eq(got, n);
	ck_assert(memcmp(buf, back, n) == 0);
	free(back);
	free(buf);
	close(out);
	store_close(s);
}
END_TEST

START_TEST(list_order_and_prefix)
{
	static const char *names[] = { "b2", "a", "b10", "B", "b1", "c", "b-", "b_" };
	struct store *s = open_store();
	struct listing l;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put_str(s, names[i], "xy");
	/* Byte order, as strcmp: '-' < digits < upper < '_' < lower. */
	ck_assert_str_eq(list_str(s, "", &l),
			 "B:2,a:2,b-:2,b1:2,b10:2,b2:2,b_:2,c:2,");
	ck_assert_str_eq(list_str(s, NULL, &l),
			 "B:2,a:2,b-:2,b1:2,b10:2,b2:2,b_:2,c:2,");
	ck_assert_str_eq(list_str(s, "b", &l), "b-:2,b1:2,b10:2,b2:2,b_:2,");
	ck_assert_str_eq(list_str(s, "b1", &l), "b1:2,b10:2,");
	ck_assert_str_eq(list_str(s, "b10", &l), "b10:2,");
	ck_assert_str_eq(list_str(s, "zz", &l), "");

	/* The callback stops the listing and its value comes back. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	ck_assert_int_eq(store_list(s, "", collect, &l), 7);
	ck_assert_int_eq(l.calls, 2);
	ck_assert_str_eq(l.buf, "B:2,a:2,");
	store_close(s);
}
END_TEST

START_TEST(missing_objects)
{
	struct store *s = open_store();
	char *text;

	ck_assert_int_eq(get_str(s, "nothing", &text), ENOENT);
	ck_assert_str_eq(text, "");
	free(text);
	ck_assert_int_eq(store_del(s, "nothing"), 0);
	ck_assert_int_eq(store_del(s, "nothing"), 0);
	store_close(s);
}
END_TEST

START_TEST(invalid_names)
{
	static const char *bad[] = {
		"", ".", "..", ".hidden", "a/b", "/abs", "a b", "tab\t", "nl\n",
		"caf\xc3\xa9", "star*", "q?", "a:b", "back\\slash",
	};
	struct store *s = open_store();
	char long_name[300];
	struct listing l;
	int fd = file_with("x", 1);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!store_valid_name(bad[i]), "'%s' accepted", bad[i]);
		ck_assert_int_eq(store_put(s, bad[i], fd), EINVAL);
		ck_assert_int_eq(store_get(s, bad[i], fd), EINVAL);
		ck_assert_int_eq(store_del(s, bad[i]), EINVAL);
	}
	ck_assert(!store_valid_name(NULL));
	ck_assert_int_eq(store_put(s, NULL, fd), EINVAL);
	ck_assert(store_valid_name("a"));
	ck_assert(store_valid_name("db__inst-1__20240102-030405-000000001__G1.pb.zst"));
	ck_assert(store_valid_name("a..b"));

	/* 255 bytes is the limit; the temp file's longer name still fits. */
	memset(long_name, 'n', 256);
	long_name[256] = 0;
	ck_assert(!store_valid_name(long_name));
	ck_assert_int_eq(store_put(s, long_name, fd), EINVAL);
	long_name[255] = 0;
	ck_assert(store_valid_name(long_name));
	if (s3_base())   /* s3rver adds a suffix to the file name and dies of it */
		long_name[200] = 0;
	ck_assert_int_eq(store_put(s, long_name, fd), 0);
	ck_assert_int_eq(store_del(s, long_name), 0);

	/* Prefixes follow the same rules; a bad one is refused. */
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_list(s, "a/", collect, &l), EINVAL);
	ck_assert_int_eq(store_list(s, ".", collect, &l), EINVAL);
	ck_assert_int_eq(store_list(s, "", NULL, &l), EINVAL);
	ck_assert_int_eq(l.calls, 0);
	/* Nothing was written by the refused calls. */
	ck_assert_str_eq(list_str(s, "", &l), "");
	close(fd);
	store_close(s);
}
END_TEST

static void touch(const char *name, time_t age)
{
	char path[4500];
	struct timespec ts[2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "partial", 7), 7);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	ck_assert_int_eq(futimens(fd, ts), 0);
	close(fd);
}

static int exists(const char *name)
{
	char path[4500];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	return lstat(path, &st) == 0;
}

START_TEST(temp_files_invisible_and_cleaned)
{
	struct store *s = open_store();
	char path[4500];
	struct listing l;
	char *text;

	put_str(s, "real", "abc");
	touch(".real.tmp.123.0123456789abcdef", 0);             /* a put in progress */
	touch(".old.tmp.99.fedcba9876543210", 2 * 3600);        /* a dead writer's */
	touch(".keep", 2 * 3600);                               /* not ours */
	touch(".x.tmp.1.nothex-nothex-xx", 2 * 3600);           /* not ours either */
	touch("bad name", 0);                                   /* not a valid name */
	snprintf(path, sizeof(path), "%s/adir", sdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);                 /* not a file */
	snprintf(path, sizeof(path), "%s/alink", sdir);
	ck_assert_int_eq(symlink("real", path), 0);             /* not a file */
	snprintf(path, sizeof(path), "%s/afifo", sdir);
	ck_assert_int_eq(mkfifo(path, 0644), 0);                /* not a file */

	ck_assert_str_eq(list_str(s, "", &l), "real:3,");
	ck_assert_int_eq(get_str(s, "adir", &text), ENOENT);
	free(text);
	ck_assert_int_eq(get_str(s, "alink", &text), ENOENT);
	free(text);
	ck_assert_int_eq(get_str(s, "afifo", &text), ENOENT);    /* without blocking */
	free(text);
	store_close(s);

	/* Opening removes only our temp files older than an hour. */
	s = open_store();
	ck_assert(exists(".real.tmp.123.0123456789abcdef"));
	ck_assert(!exists(".old.tmp.99.fedcba9876543210"));
	ck_assert(exists(".keep"));
	ck_assert(exists(".x.tmp.1.nothex-nothex-xx"));
	ck_assert(exists("real"));
	ck_assert_str_eq(list_str(s, "", &l), "real:3,");
	store_close(s);
}
END_TEST

START_TEST(put_leaves_no_temp_file)
{
	struct store *s = open_store();
	int p[2];
	char cmd[4500];

	/* A pipe cannot be read from offset 0: refused up front. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(store_put(s, "piped", p[0]), ESPIPE);
	close(p[0]);
	close(p[1]);
	put_str(s, "ok", "1");
	/* The directory holds "ok" and nothing else. */
	snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = ok", sdir);
	ck_assert_int_eq(system(cmd), 0);
	store_close(s);
}
END_TEST

START_TEST(bad_urls)
{
	static const struct {
		const char *url;
		int rc;
		const char *says;
	} cases[] = {
		{ "", EINVAL, "empty" },
		{ "relative/dir", EINVAL, "expected file:///DIR" },
		{ "http://example.com/x", EINVAL, "expected file:///DIR" },
		{ "file:relative", EINVAL, "expected file:///DIR" },
		{ "file://somehost/x", EINVAL, "absolute path on this host" },
		{ "file://", EINVAL, "absolute path on this host" },
		{ "file:///x%2", EINVAL, "bad % escape" },
		{ "file:///x%zz", EINVAL, "bad % escape" },
		{ "file:///x%00y", EINVAL, "bad % escape" },
		{ "file:///x?y", EINVAL, "%3F" },
	};
	static const struct store_opt create[] = { { "create", "true" } };
	static const struct store_opt nocreate[] = { { "create", "false" } };
	static const struct store_opt badcreate[] = { { "create", "maybe" } };
	struct store *s = (struct store *)1;
	char err[256], path[4400];
	int fd;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = 0;
		ck_assert_int_eq(store_open(cases[i].url, NULL, 0, &s, err, sizeof(err)), cases[i].rc);
		ck_assert_ptr_null(s);
		ck_assert_msg(strstr(err, cases[i].says), "%s: '%s'", cases[i].url, err);
	}
	ck_assert_int_eq(store_open(NULL, NULL, 0, &s, err, sizeof(err)), EINVAL);
	ck_assert_int_eq(store_open("", NULL, 0, &s, NULL, 0), EINVAL);

	/* A file where the directory should be. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(store_open(path, NULL, 0, &s, err, sizeof(err)), ENOTDIR);
	ck_assert(strstr(err, path) != NULL);
	snprintf(path, sizeof(path), "%s/file/sub", dir);
	ck_assert_int_eq(store_open(path, NULL, 0, &s, err, sizeof(err)), ENOTDIR);
	ck_assert_int_eq(store_open(path, create, 1, &s, err, sizeof(err)), ENOTDIR);
	ck_assert(strstr(err, "cannot create") != NULL);

	/* A missing directory is refused unless created on purpose: a typo
	 * would split the fleet. */
	snprintf(path, sizeof(path), "%s/plain", dir);
	ck_assert_int_eq(store_open(path, NULL, 0, &s, err, sizeof(err)), ENOENT);
	ck_assert_ptr_null(s);
	ck_assert(strstr(err, "--create-store") != NULL);
	ck_assert(access(path, F_OK) != 0);
	ck_assert_int_eq(store_open(path, nocreate, 1, &s, err, sizeof(err)), ENOENT);
	ck_assert_int_eq(store_open(path, badcreate, 1, &s, err, sizeof(err)), EINVAL);
	ck_assert(access(path, F_OK) != 0);

	/* The forms that work, and the URL they show. */
	ck_assert_int_eq(store_open(path, create, 1, &s, err, sizeof(err)), 0);
	snprintf(url, sizeof(url), "file://%s", path);
	ck_assert_str_eq(store_url(s), url);
	store_close(s);
	ck_assert_int_eq(store_open(path, NULL, 0, &s, err, sizeof(err)), 0); /* there now */
	store_close(s);
	snprintf(url, sizeof(url), "file://localhost%s/sp%%20ace", dir);
	ck_assert_int_eq(store_open(url, create, 1, &s, err, sizeof(err)), 0);
	snprintf(url, sizeof(url), "file://%s/sp ace", dir);
	ck_assert_str_eq(store_url(s), url);
	store_close(s);
	snprintf(path, sizeof(path), "%s/sp ace", dir);
	ck_assert(access(path, F_OK) == 0);
	store_close(NULL);
}
END_TEST

static int fail_cb(void *ctx, const char *name, uint64_t size)
{
	(void)ctx;
	(void)name;
	(void)size;
	return -1;
}

START_TEST(stats_count_requests)
{
	struct store *s = open_store();
	const struct store_stats *st = store_stats(s);
	struct listing l;
	char *text;
	int p[2];

	ck_assert_uint_eq(st->put + st->get + st->list + st->del + st->errors, 0);
	put_str(s, "a", "1");
	put_str(s, "b", "2");
	ck_assert_int_eq(get_str(s, "a", &text), 0);
	free(text);
	ck_assert_int_eq(get_str(s, "zz", &text), ENOENT);  /* an answer, not an error */
	free(text);
	list_str(s, "", &l);
	ck_assert_int_eq(store_list(s, "", fail_cb, NULL), -1); /* the caller's stop */
	ck_assert_int_eq(store_del(s, "a"), 0);
	ck_assert_int_eq(store_del(s, "a"), 0);
	ck_assert_uint_eq(st->put, 2);
	ck_assert_uint_eq(st->get, 2);
	ck_assert_uint_eq(st->list, 2);
	ck_assert_uint_eq(st->del, 2);
	ck_assert_uint_eq(st->errors, 0);

	/* A failed request counts as one of its type and an error. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(store_put(s, "c", p[0]), ESPIPE);
	close(p[0]);
	close(p[1]);
	ck_assert_uint_eq(st->put, 3);
	ck_assert_uint_eq(st->errors, 1);
	/* A refused name is no request. */
	ck_assert_int_eq(store_del(s, ".x"), EINVAL);
	ck_assert_uint_eq(st->del, 2);
	ck_assert_uint_eq(st->errors, 1);
	store_close(s);
}
END_TEST

/* Object bytes put and got are counted (mdbtap_store_*_bytes_total), by
 * every store: the directory store once counted none. */
START_TEST(stats_count_bytes)
{
	struct store *s = open_store();
	const struct store_stats *st = store_stats(s);
	char *text;

	put_str(s, "a", "12345");
	put_str(s, "b", "1234567");
	ck_assert_uint_eq(st->bytes_out, 12);
	ck_assert_int_eq(get_str(s, "b", &text), 0);
	free(text);
	ck_assert_int_eq(get_str(s, "zz", &text), ENOENT);  /* no bytes */
	free(text);
	ck_assert_uint_eq(st->bytes_in, 7);
	store_close(s);
}
END_TEST

/* Atomicity: objects of OBJ_SIZE bytes whose last 8 bytes are the
 * XXH64 of the rest. A reader that ever got part of one, or a mix of
 * two, would see a bad checksum or size. */
#define OBJ_SIZE (1024 * 1024)
#define NOBJ 3
#define MAXLIST (NOBJ * 2)

static void fill_object(unsigned char *buf, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1, h;

	for (size_t i = 0; i + 8 <= OBJ_SIZE - 8; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	h = XXH64(buf, OBJ_SIZE - 8, 0);
	memcpy(buf + OBJ_SIZE - 8, &h, 8);
}

/* The writer: put and delete the objects over and over until killed,
 * or until its parent is gone (a failed assertion ends the parent). */
static void writer(pid_t parent, uint64_t seed)
{
	unsigned char *buf = malloc(OBJ_SIZE);
	struct store *s;
	char err[512], name[32];
	char path[4300];
	int fd;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
	snprintf(path, sizeof(path), "%s/writer.XXXXXX", dir);
	if (!buf || store_open(url, NULL, 0, &s, err, sizeof(err)) || (fd = mkstemp(path)) < 0)
		_exit(2);
	unlink(path);
	while (getppid() == parent) {
		fill_object(buf, seed);
		if (pwrite(fd, buf, OBJ_SIZE, 0) != OBJ_SIZE)
			_exit(3);
		snprintf(name, sizeof(name), "obj-%d", (int)(seed % NOBJ));
		if (store_put(s, name, fd))
			_exit(4);
		if (seed % 5 == 0) {
			snprintf(name, sizeof(name), "obj-%d", (int)((seed / 5) % NOBJ));
			if (store_del(s, name))
				_exit(5);
		}
		seed++;
	}
	_exit(0);
}

struct names {
	char v[MAXLIST][32];
	int n;
};

static int add_name(void *ctx, const char *name, uint64_t size)
{
	struct names *ns = ctx;

	/* Whatever list shows is a whole object. */
	ck_assert_uint_eq(size, OBJ_SIZE);
	ck_assert_int_lt(ns->n, MAXLIST);
	snprintf(ns->v[ns->n++], sizeof(ns->v[0]), "%s", name);
	return 0;
}

/* Two writers put and delete the same names at once, while the parent
 * lists and reads. A writer whose put or del fails exits, which the
 * parent sees. */
START_TEST(readers_never_see_partial_objects)
{
	struct store *s = open_store();
	char path[4300];
	int verified = 0, status, fd;
	time_t end = time(NULL) + 3;
	pid_t pid[2], self = getpid();

	for (int w = 0; w < 2; w++) {
		pid[w] = fork();
		ck_assert_int_ge(pid[w], 0);
		if (pid[w] == 0)
			writer(self, 1 + (uint64_t)w * 1000000);
	}
	snprintf(path, sizeof(path), "%s/reader.XXXXXX", dir);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	while (time(NULL) < end || verified < 20) {
		struct names ns = { .n = 0 };

		ck_assert_int_eq(store_list(s, "obj-", add_name, &ns), 0);
		for (int i = 0; i < ns.n; i++) {
			unsigned char *buf;
			uint64_t h, want;
			size_t n;
			int rc;

			ck_assert_int_eq(ftruncate(fd, 0), 0);
			ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
			rc = store_get(s, ns.v[i], fd);
			if (rc == ENOENT)   /* deleted since the listing */
				continue;
			ck_assert_int_eq(rc, 0);
			buf = (unsigned char *)content(fd, &n);
			ck_assert_uint_eq(n, OBJ_SIZE);
			memcpy(&want, buf + OBJ_SIZE - 8, 8);
			h = XXH64(buf, OBJ_SIZE - 8, 0);
			ck_assert_msg(h == want, "%s: partial or mixed object", ns.v[i]);
			free(buf);
			verified++;
		}
		for (int w = 0; w < 2; w++)   /* both writers still at work */
			ck_assert_int_eq(waitpid(pid[w], &status, WNOHANG), 0);
		if (time(NULL) > end + 30)
			break;
	}
	for (int w = 0; w < 2; w++) {
		kill(pid[w], SIGKILL);
		ck_assert_int_eq(waitpid(pid[w], &status, 0), pid[w]);
		ck_assert(WIFSIGNALED(status));
	}
	ck_assert_int_ge(verified, 20);
	close(fd);
	store_close(s);
}
END_TEST

/* ---- S3 ---- */

/* Opening checks the settings without asking the server anything. */
START_TEST(s3_settings)
{
	static const struct {
		const char *url;
		const char *says;
	} bad[] = {
		{ "s3://ab/x", "bucket name of 3 to 63" },
		{ "s3://bu/cket", "bucket name of 3 to 63" },
		{ "s3://bucket/x?secret_key=hush", "cannot be in the URL" },
		{ "s3://bucket/x?session_token=hush", "cannot be in the URL" },
		{ "s3://bucket/x?nope=1", "unknown S3 store option 'nope'" },
		{ "s3://bucket/x?region=us-east-1&region=eu-west-1", "given twice" },
		{ "s3://bucket/x?region=", "has no value" },
		{ "s3://bucket/x?region", "is not OPTION=VALUE" },
		{ "s3://bucket/x?region=EU", "S3 region 'EU'" },
		{ "s3://bucket/x?endpoint=ftp://h", "expected http://HOST" },
		{ "s3://bucket/x?endpoint=http://h/path", "only the scheme, host and port" },
		{ "s3://bucket/x?force_path_style=maybe", "not true or false" },
		{ "s3://bucket/x?page_size=0", "1..1000" },
		{ "s3://bucket/x?page_size=1001", "1..1000" },
		{ "s3://bucket/x?retries=-1", "0..100" },
		{ "s3://bucket/x?part_size=4M", "from 5M to 5G" },
		{ "s3://bucket/x?part_size=6G", "from 5M to 5G" },
		{ "s3://bucket/x?part_size=5T", "from 5M to 5G" },
		{ "s3://bucket/x?part_size=-5M", "from 5M to 5G" },
		{ "s3://bucket/x?part_size=99999999999999999999", "from 5M to 5G" },
		{ "s3://bucket/x?timeout=soon", "not a duration" },
		{ "s3://bucket/x?low_speed_time=10ms", "low_speed_time 1s" },
		{ "s3://bucket/x%zz", "bad % escape" },
		{ "s3://bucket/x%0a", "control character" },
		{ "s3://bucket/x#frag", "%23" },
	};
	struct store_opt creds[] = { { "access_key", "AK" }, { "secret_key", "hush" } };
	struct store_opt twice[] = { { "secret_key", "hush" }, { "secret_key", "hush" } };
	struct store_opt key_file[] = { { "access_key_file", "/nonexistent/ak" },
					{ "secret_key_file", "/nonexistent/sk" } };
	struct store *s = (struct store *)1;
	char err[512], path[4400];
	FILE *f;

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		ck_assert_int_eq(store_open(bad[i].url, creds, 2, &s, err, sizeof(err)), EINVAL);
		ck_assert_ptr_null(s);
		ck_assert_msg(strstr(err, bad[i].says), "%s: '%s'", bad[i].url, err);
		ck_assert_msg(!strstr(err, "hush"), "a secret in '%s'", err);
	}
	/* Options come from the URL and the config alike, once in all. */
	ck_assert_int_eq(store_open("s3://bucket/x?region=eu-west-1",
				    (struct store_opt[]){ { "region", "eu-west-1" } }, 1, &s, err,
				    sizeof(err)), EINVAL);
	ck_assert(strstr(err, "given twice"));
	ck_assert_int_eq(store_open("s3://bucket/x", twice, 2, &s, err, sizeof(err)), EINVAL);
	ck_assert(!strstr(err, "hush"));

	/* Credentials: from options, files or the environment; else an error. */
	ck_assert_int_eq(store_open("s3://bucket/x", NULL, 0, &s, err, sizeof(err)), EINVAL);
	ck_assert_msg(strstr(err, "AWS_ACCESS_KEY_ID"), "%s", err);
	ck_assert_int_eq(store_open("s3://bucket/x", key_file, 2, &s, err, sizeof(err)), EINVAL);
	ck_assert_msg(strstr(err, "/nonexistent/ak"), "%s", err);
	snprintf(path, sizeof(path), "%s/secret", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("  hush \n", f);
	fclose(f);
	ck_assert_int_eq(store_open("s3://bucket/x",
				    (struct store_opt[]){ { "access_key", "AK" },
							  { "secret_key_file", path } },
				    2, &s, err, sizeof(err)), 0);
	store_close(s);
	setenv("AWS_ACCESS_KEY_ID", "AK", 1);
	ck_assert_int_eq(store_open("s3://bucket/x", NULL, 0, &s, err, sizeof(err)), EINVAL);
	ck_assert_msg(strstr(err, "no secret key"), "%s", err);
	setenv("AWS_SECRET_ACCESS_KEY", "hush", 1);

	/* The URL shown in logs: decoded prefix ending in '/', no options. */
	ck_assert_int_eq(store_open("s3://my.bucket/a%20b+c%25~%C3%A9?region=eu-west-1"
				    "&endpoint=https://s3.example.net:8443/&force_path_style=1"
				    "&retries=0&page_size=1&timeout=1m&tls_verify=false&part_size=5M",
				    NULL, 0, &s, err, sizeof(err)), 0);
	ck_assert_str_eq(store_url(s), "s3://my.bucket/a b+c%~\xc3\xa9/");
	store_close(s);
	ck_assert_int_eq(store_open("s3://bucket", NULL, 0, &s, err, sizeof(err)), 0);
	ck_assert_str_eq(store_url(s), "s3://bucket/");
	store_close(s);
	ck_assert_int_eq(store_open("s3://bucket/x?part_size=5G",
				    (struct store_opt[]){ { "timeout", "1m" } }, 1, &s, err,
				    sizeof(err)), 0);
	store_close(s);
	ck_assert_int_eq(store_open("s3://bucket/x", (struct store_opt[]){ { "part_size",
				    "5242880" } }, 1, &s, err, sizeof(err)), 0);
	store_close(s);

	/* store_options belong to S3 stores only. */
	ck_assert_int_eq(store_open(sdir, creds, 2, &s, err, sizeof(err)), EINVAL);
	ck_assert(strstr(err, "store_options other than create are for S3 stores"));
}
END_TEST

/* Credentials files are read at open and again when they change; a
 * file that cannot be read then leaves the credentials as they were. */
static void write_file(const char *path, const char *text)
{
	char tmp[4500];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, path), 0); /* as rotations do: atomically */
}

START_TEST(s3_credentials_files)
{
	char ak[4400], sk[4400], tk[4400], err[512] = "";
	struct store_opt opts[3] = { { "access_key_file", ak }, { "secret_key_file", sk },
				     { "session_token_file", tk } };
	struct s3conf c;
	int changed = -1;

	snprintf(ak, sizeof(ak), "%s/ak", dir);
	snprintf(sk, sizeof(sk), "%s/sk", dir);
	snprintf(tk, sizeof(tk), "%s/tk", dir);
	write_file(ak, "AK1\n");
	write_file(sk, " hush1 \n");
	write_file(tk, "tok1");
	ck_assert_msg(s3conf_parse(&c, "s3://bucket/x", opts, 3, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_str_eq(c.access_key, "AK1");
	ck_assert_str_eq(c.secret_key, "hush1");
	ck_assert_str_eq(c.session_token, "tok1");
	ck_assert_int_eq(s3conf_reload(&c, &changed, err, sizeof(err)), 0);
	ck_assert_int_eq(changed, 0);

	/* rotated: all three are read again */
	write_file(sk, "hush2\n");
	write_file(tk, "tok2\n");
	ck_assert_int_eq(s3conf_reload(&c, &changed, err, sizeof(err)), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_str_eq(c.access_key, "AK1");
	ck_assert_str_eq(c.secret_key, "hush2");
	ck_assert_str_eq(c.session_token, "tok2");
	ck_assert_int_eq(s3conf_reload(&c, &changed, err, sizeof(err)), 0);
	ck_assert_int_eq(changed, 0);

	/* gone, empty or bad: an error, the last good ones stay */
	ck_assert_int_eq(unlink(sk), 0);
	ck_assert_int_ne(s3conf_reload(&c, &changed, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, sk), "%s", err);
	ck_assert_str_eq(c.secret_key, "hush2");
	write_file(sk, "\n");
	ck_assert_int_ne(s3conf_reload(&c, &changed, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "expected one line"), "%s", err);
	write_file(sk, "hush3");
	write_file(ak, "A:K");
	ck_assert_int_ne(s3conf_reload(&c, &changed, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "cannot hold ':'"), "%s", err);
	ck_assert_str_eq(c.access_key, "AK1");
	ck_assert_str_eq(c.secret_key, "hush2");
	ck_assert_msg(!strstr(err, "hush"), "a secret in '%s'", err);
	write_file(ak, "AK3");
	ck_assert_int_eq(s3conf_reload(&c, &changed, err, sizeof(err)), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_str_eq(c.access_key, "AK3");
	ck_assert_str_eq(c.secret_key, "hush3");
	s3conf_free(&c);

	/* a value and its file: one or the other */
	ck_assert_int_eq(s3conf_parse(&c, "s3://bucket/x",
				      (struct store_opt[]){ { "session_token", "t" },
							    { "session_token_file", tk },
							    { "access_key", "AK" },
							    { "secret_key", "s" } },
				      4, err, sizeof(err)), EINVAL);
	ck_assert_msg(strstr(err, "session_token or session_token_file"), "%s", err);
	s3conf_free(&c);
}
END_TEST

/* A listing over many pages gives every name once, in order, and each
 * page is a request. */
START_TEST(s3_pages)
{
	struct store *s;
	struct listing l;
	char err[512], name[16], want[4096] = "", paged[9000];

	snprintf(paged, sizeof(paged), "%s&page_size=3", url);
	ck_assert_msg(store_open(paged, NULL, 0, &s, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		put_str(s, name, "abc");
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s:3,", name);
	}
	put_str(s, "other", "x");
	ck_assert_str_eq(list_str(s, "n", &l), want);
	ck_assert_int_eq(l.calls, 10);
	ck_assert_uint_eq(store_stats(s)->list, 4);  /* 3 + 3 + 3 + 1 */
	ck_assert_str_eq(list_str(s, "n0", &l), "n00:3,n01:3,n02:3,n03:3,n04:3,n05:3,n06:3,"
			 "n07:3,n08:3,n09:3,");
	ck_assert_str_eq(list_str(s, "o", &l), "other:1,");
	store_close(s);
}
END_TEST

/* Answers that are not worth a retry fail at once, and say why; failures
 * that may pass are retried as often as asked. */
START_TEST(s3_refusals)
{
	struct store_opt wrong[] = { { "access_key", "S3RVER" }, { "secret_key", "wrong" } };
	struct store *s;
	struct listing l;
	char err[512], other[9000], *text;
	const char *b = strstr(url, "s3://") ? url + 5 : url;

	/* A wrong secret: the signature is refused (403), no retry. */
	ck_assert_msg(store_open(url, wrong, 2, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(get_str(s, "x", &text), EACCES);
	free(text);
	ck_assert_msg(strstr(store_error(s), "403"), "%s", store_error(s));
	ck_assert(!strstr(store_error(s), "wrong"));
	ck_assert_uint_eq(store_stats(s)->retries, 0);
	ck_assert_uint_eq(store_stats(s)->errors, 1);
	store_close(s);

	/* A bucket that is not there. */
	snprintf(other, sizeof(other), "s3://no-such-bucket%s", strchr(b, '/'));
	ck_assert_msg(store_open(other, NULL, 0, &s, err, sizeof(err)) == 0, "%s", err);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_list(s, "", collect, &l), ENOENT);
	ck_assert_msg(strstr(store_error(s), "NoSuchBucket"), "%s", store_error(s));
	store_close(s);

	/* Nobody listening: retried, then ECONNREFUSED. */
	snprintf(other, sizeof(other), "s3://bucket/x?endpoint=http://127.0.0.1:1&retries=2");
	ck_assert_msg(store_open(other, NULL, 0, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(store_list(s, "", collect, &l), ECONNREFUSED);
	ck_assert_uint_eq(store_stats(s)->retries, 2);
	ck_assert_msg(strstr(store_error(s), "3 attempts"), "%s", store_error(s));
	store_close(s);
}
END_TEST

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create(s3_base() ? "s3" : "dir");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, s3_settings);
	tcase_add_test(tc, s3_credentials_files);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, put_reads_from_offset_zero);
	tcase_add_test(tc, get_appends);
	tcase_add_test(tc, large_object);
	tcase_add_test(tc, list_order_and_prefix);
	tcase_add_test(tc, missing_objects);
	tcase_add_test(tc, invalid_names);
	tcase_add_test(tc, stats_count_requests);
	tcase_add_test(tc, stats_count_bytes);
	if (s3_base()) {
		tcase_add_test(tc, s3_pages);
		tcase_add_test(tc, s3_refusals);
	} else {
		/* s3rver writes objects in place, so only here (S3 itself is atomic) */
		tcase_add_test(tc, readers_never_see_partial_objects);
		tcase_add_test(tc, temp_files_invisible_and_cleaned);
		tcase_add_test(tc, put_leaves_no_temp_file);
		tcase_add_test(tc, bad_urls);
	}
	suite_add_tcase(s, tc);
	return s;
}
