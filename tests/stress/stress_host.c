/* stress_host.c: an ordinary LMDB program, run by the stress harnesses with
 * the tap preloaded. It writes random transactions and logs exactly what it
 * committed; the harness compares that log with the journal and the env.
 *
 *   stress_host init ENV
 *       create the env and its DBIs ("data", plain; "dups", DUPSORT). Run
 *       without the tap, so that the journal starts after it.
 *   stress_host write ENV LOG NTXN NWRITERS NREADERS SEED
 *       NWRITERS threads each commit NTXN write txns (random puts, deletes,
 *       cursor writes, failing calls, nested txns committed or aborted, some
 *       txns aborted) while NREADERS threads run read txns; then LOG gets
 *       one line per committed txn: "TXN txnid pid dbi,op,KEY[,VALUE] ...".
 *   stress_host fork ENV LOGDIR NTXN SEED [quiet]
 *       write NTXN txns, fork (a reader thread running, unless "quiet"); the
 *       child opens its own env handle on ENV and commits NTXN txns while the
 *       parent commits NTXN more. Each process logs to LOGDIR/PID.log.
 *   stress_host big ENV LOG NPUTS
 *       one txn of NPUTS puts into "data" and 3 into "dups", read back after
 *       commit; LOG gets "BIG txnid pid".
 *
 * Keys of plain puts are "p<pid>t<thread>k<n>" and their value is
 * "<key>@<txnid>", followed by 3000 'x' when n % 8 == 0 (overflow pages):
 * the harness recomputes it to check the env's final state.
 * Exit status 0, or 2 with a message on stderr when anything went wrong.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stress_common.h"

#define PLAIN_KEYS 400
#define DUP_KEYS 50
#define DUP_VALS 20

static MDB_env *env_open_path(const char *path)
{
	MDB_env *env;
	const char *ns = getenv("STRESS_NOSYNC");

	MUST(mdb_env_create(&env));
	MUST(mdb_env_set_mapsize(env, (size_t)1 << 30));
	MUST(mdb_env_set_maxdbs(env, 8));
	MUST(mdb_env_open(env, path, ns && *ns == '1' ? MDB_NOSYNC : 0, 0644));
	return env;
}

static void open_dbis(MDB_env *env, unsigned flags, MDB_dbi *data, MDB_dbi *dups)
{
	MDB_txn *txn;

	MUST(mdb_txn_begin(env, NULL, 0, &txn));
	MUST(mdb_dbi_open(txn, "data", flags, data));
	MUST(mdb_dbi_open(txn, "dups", flags | MDB_DUPSORT, dups));
	MUST(mdb_txn_commit(txn));
}

static size_t plain_value(char *buf, const char *key, uint64_t txnid, unsigned n)
{
	size_t len = (size_t)sprintf(buf, "%s@%" PRIu64, key, txnid);

	if (n % 8 == 0) {
		memset(buf + len, 'x', 3000);
		len += 3000;
	}
	return len;
}

struct worker {
	pthread_t th;
	MDB_env *env;
	MDB_dbi data, dups;
	unsigned id, ntxn;
	unsigned long pid;
	struct rng r;
	struct sbuf log;        /* committed txns */
	struct sbuf ops;        /* the live txn's ops */
	int failed;
};

static void fail(struct worker *w, const char *what, int rc)
{
	fprintf(stderr, "worker %u: %s: %s\n", w->id, what, mdb_strerror(rc));
	w->failed = 1;
}

/* One random element op in txn; logs it in w->ops when it succeeded. */
static void random_op(struct worker *w, MDB_txn *txn, uint64_t txnid)
{
	char key[64], val[4096];
	unsigned kind = rnd(&w->r, 12), n;
	MDB_val k, v;
	MDB_cursor *c;
	int rc;

	if (kind < 5) { /* plain put */
		unsigned how = rnd(&w->r, 6);

		n = rnd(&w->r, PLAIN_KEYS);
		k = mkval(key, (size_t)sprintf(key, "p%lut%uk%u", w->pid, w->id, n));
		v = mkval(val, plain_value(val, key, txnid, n));
		if (how == 0) {
			rc = mdb_put(txn, w->data, &k, &v, MDB_NOOVERWRITE);
			if (rc == MDB_KEYEXIST)
				return;
		} else if (how == 1) {
			MDB_val r = mkval(NULL, v.mv_size);

			rc = mdb_put(txn, w->data, &k, &r, MDB_RESERVE);
			if (rc == 0)
				memcpy(r.mv_data, val, v.mv_size);
		} else if (how == 2) {
			MUST(mdb_cursor_open(txn, w->data, &c));
			rc = mdb_cursor_put(c, &k, &v, 0);
			mdb_cursor_close(c);
		} else {
			rc = mdb_put(txn, w->data, &k, &v, 0);
		}
		if (rc)
			{ fail(w, "put data", rc); return; }
		sb_op(&w->ops, "data", "put", &k, NULL);
	} else if (kind < 7) { /* plain delete */
		n = rnd(&w->r, PLAIN_KEYS);
		k = mkval(key, (size_t)sprintf(key, "p%lut%uk%u", w->pid, w->id, n));
		if (kind == 5) {
			rc = mdb_del(txn, w->data, &k, NULL);
		} else {
			MUST(mdb_cursor_open(txn, w->data, &c));
			rc = mdb_cursor_get(c, &k, NULL, MDB_SET);
			if (rc == 0)
				rc = mdb_cursor_del(c, 0);
			mdb_cursor_close(c);
		}
		if (rc == MDB_NOTFOUND)
			return;
		if (rc)
			{ fail(w, "del data", rc); return; }
		sb_op(&w->ops, "data", "del", &k, NULL);
	} else { /* DUPSORT */
		n = rnd(&w->r, DUP_KEYS);
		k = mkval(key, (size_t)sprintf(key, "p%lut%ud%u", w->pid, w->id, n));
		v = mkval(val, (size_t)sprintf(val, "v%u", rnd(&w->r, DUP_VALS)));
		if (kind < 9) {
			rc = mdb_put(txn, w->dups, &k, &v, kind == 8 ? MDB_NODUPDATA : 0);
			if (rc == MDB_KEYEXIST)
				return;
			if (rc)
				{ fail(w, "put dups", rc); return; }
			sb_op(&w->ops, "dups", "put", &k, &v);
		} else if (kind == 9) {
			rc = mdb_del(txn, w->dups, &k, &v);
			if (rc == MDB_NOTFOUND)
				return;
			if (rc)
				{ fail(w, "del dups pair", rc); return; }
			sb_op(&w->ops, "dups", "del", &k, &v);
		} else if (kind == 10) {
			rc = mdb_del(txn, w->dups, &k, NULL);
			if (rc == MDB_NOTFOUND)
				return;
			if (rc)
				{ fail(w, "del dups key", rc); return; }
			sb_op(&w->ops, "dups", "delall", &k, NULL);
		} else { /* cursor: delete one pair, or every value of the key */
			int all = rnd(&w->r, 2);
			MDB_val want = v; /* the cursor points v into the page */

			MUST(mdb_cursor_open(txn, w->dups, &c));
			rc = mdb_cursor_get(c, &k, &v, all ? MDB_SET : MDB_GET_BOTH);
			if (rc == 0)
				rc = mdb_cursor_del(c, all ? MDB_NODUPDATA : 0);
			mdb_cursor_close(c);
			if (rc == MDB_NOTFOUND)
				return;
			if (rc)
				{ fail(w, "cursor del dups", rc); return; }
			sb_op(&w->ops, "dups", all ? "delall" : "del", &k, all ? NULL : &want);
		}
	}
}

/* A child of parent with some ops; maybe a grandchild; committed or
 * aborted (then its ops leave the log). */
static void child_txn(struct worker *w, MDB_txn *parent, uint64_t txnid, int depth)
{
	size_t mark = w->ops.len;
	MDB_txn *c;
	int rc;

	rc = mdb_txn_begin(w->env, parent, 0, &c);
	if (rc)
		{ fail(w, "begin child", rc); return; }
	for (unsigned i = 1 + rnd(&w->r, 4); i > 0; i--)
		random_op(w, c, txnid);
	if (depth < 3 && rnd(&w->r, 3) == 0)
		child_txn(w, c, txnid, depth + 1);
	if (rnd(&w->r, 2) == 0)
		random_op(w, c, txnid);
	if (rnd(&w->r, 10) < 7) {
		rc = mdb_txn_commit(c);
		if (rc)
			{ fail(w, "commit child", rc); return; }
	} else {
		mdb_txn_abort(c);
		sb_trunc(&w->ops, mark);
	}
}

/* One top-level write txn. */
static void one_txn(struct worker *w)
{
	MDB_txn *txn;
	uint64_t txnid;
	int rc;

	sb_trunc(&w->ops, 0);
	rc = mdb_txn_begin(w->env, NULL, 0, &txn);
	if (rc)
		{ fail(w, "begin", rc); return; }
	txnid = mdb_txn_id(txn);
	for (unsigned i = 1 + rnd(&w->r, 8); i > 0; i--) {
		random_op(w, txn, txnid);
		if (rnd(&w->r, 12) == 0)
			child_txn(w, txn, txnid, 1);
	}
	if (rnd(&w->r, 20) == 0) {
		mdb_txn_abort(txn);
		return;
	}
	if (w->ops.len == 0) {
		/* Only failed calls so far: write something, so that every
		 * commit here has a txn id (see test_host_unchanged.py for the
		 * case of a commit with failed calls only). */
		char key[64], val[4096];
		MDB_val k = mkval(key, (size_t)sprintf(key, "p%lut%uk%u", w->pid, w->id, 1u));
		MDB_val v = mkval(val, plain_value(val, key, txnid, 1));

		rc = mdb_put(txn, w->data, &k, &v, 0);
		if (rc) {
			mdb_txn_abort(txn);
			{ fail(w, "put data", rc); return; }
		}
		sb_op(&w->ops, "data", "put", &k, NULL);
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		{ fail(w, "commit", rc); return; }
	sb_printf(&w->log, "TXN %" PRIu64 " %lu%s\n", txnid, w->pid, w->ops.p);
}

static void *writer_main(void *arg)
{
	struct worker *w = arg;

	for (unsigned i = 0; i < w->ntxn && !w->failed; i++)
		one_txn(w);
	return NULL;
}

static int stop_readers;

struct reader {
	pthread_t th;
	MDB_env *env;
	MDB_dbi data, dups;
	unsigned nwriters;
	unsigned long pid;
	struct rng r;
	unsigned long reads;
	int failed;
};

/* Read txns until told to stop: gets of this process's keys (a value
 * found must be "<key>@..."), short cursor walks, and every way to end a
 * read txn (commit, abort, reset + renew). */
static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	MDB_txn *txn = NULL;

	while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE) && !rd->failed) {
		int rc = txn ? mdb_txn_renew(txn) : mdb_txn_begin(rd->env, NULL, MDB_RDONLY, &txn);
		unsigned how;

		if (rc) {
			fprintf(stderr, "reader: begin/renew: %s\n", mdb_strerror(rc));
			rd->failed = 1;
			break;
		}
		for (int i = 0; i < 20; i++) {
			char key[64];
			unsigned n = rnd(&rd->r, PLAIN_KEYS);
			MDB_val k = mkval(key, (size_t)sprintf(key, "p%lut%uk%u", rd->pid,
							       rnd(&rd->r, rd->nwriters), n));
			MDB_val v;

			rc = mdb_get(txn, rd->data, &k, &v);
			if (rc == 0 && (v.mv_size <= k.mv_size ||
					memcmp(v.mv_data, k.mv_data, k.mv_size) != 0 ||
					((char *)v.mv_data)[k.mv_size] != '@')) {
				fprintf(stderr, "reader: %s has a wrong value\n", key);
				rd->failed = 1;
			} else if (rc && rc != MDB_NOTFOUND) {
				fprintf(stderr, "reader: mdb_get: %s\n", mdb_strerror(rc));
				rd->failed = 1;
			}
			rd->reads++;
		}
		{
			MDB_cursor *c;
			MDB_val k, v;

			if (mdb_cursor_open(txn, rnd(&rd->r, 2) ? rd->data : rd->dups, &c) == 0) {
				rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
				for (int i = 0; rc == 0 && i < 20; i++)
					rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
				mdb_cursor_close(c);
			}
		}
		how = rnd(&rd->r, 3);
		if (how == 0) {
			rc = mdb_txn_commit(txn);
			txn = NULL;
			if (rc) {
				fprintf(stderr, "reader: commit: %s\n", mdb_strerror(rc));
				rd->failed = 1;
			}
		} else if (how == 1) {
			mdb_txn_abort(txn);
			txn = NULL;
		} else {
			mdb_txn_reset(txn);
		}
	}
	if (txn)
		mdb_txn_abort(txn);
	return NULL;
}

static int write_file(const char *path, const struct sbuf *s)
{
	FILE *f = fopen(path, "w");

	if (!f || (s->len && fwrite(s->p, 1, s->len, f) != s->len) || fclose(f) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/* Run nwriters writers and nreaders readers on env to the end; append the
 * writers' logs to log. Returns nonzero on any failure. */
static int run_workers(MDB_env *env, MDB_dbi data, MDB_dbi dups, unsigned ntxn,
		       unsigned nwriters, unsigned nreaders, uint64_t seed, struct sbuf *log)
{
	struct worker *w = calloc(nwriters ? nwriters : 1, sizeof(*w));
	struct reader *rd = calloc(nreaders ? nreaders : 1, sizeof(*rd));
	unsigned long pid = (unsigned long)getpid();
	int failed = 0;

	if (!w || !rd) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	__atomic_store_n(&stop_readers, 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < nreaders; i++) {
		rd[i] = (struct reader){ .env = env, .data = data, .dups = dups,
					 .nwriters = nwriters ? nwriters : 1, .pid = pid };
		rng_seed(&rd[i].r, seed * 1000 + 500 + i);
		if (pthread_create(&rd[i].th, NULL, reader_main, &rd[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(2);
		}
	}
	for (unsigned i = 0; i < nwriters; i++) {
		w[i] = (struct worker){ .env = env, .data = data, .dups = dups, .id = i,
					.ntxn = ntxn, .pid = pid };
		rng_seed(&w[i].r, seed * 1000 + i);
		if (pthread_create(&w[i].th, NULL, writer_main, &w[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(2);
		}
	}
	for (unsigned i = 0; i < nwriters; i++) {
		pthread_join(w[i].th, NULL);
		failed |= w[i].failed;
		if (w[i].log.len)
			sb_add(log, w[i].log.p, w[i].log.len);
		sb_free(&w[i].log);
		sb_free(&w[i].ops);
	}
	__atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < nreaders; i++) {
		pthread_join(rd[i].th, NULL);
		failed |= rd[i].failed;
	}
	free(w);
	free(rd);
	return failed;
}

static int cmd_init(const char *path)
{
	MDB_env *env = env_open_path(path);
	MDB_dbi data, dups;

	open_dbis(env, MDB_CREATE, &data, &dups);
	mdb_env_close(env);
	return 0;
}

static int cmd_write(int argc, char **argv)
{
	struct sbuf log = { 0 };
	MDB_env *env;
	MDB_dbi data, dups;
	int failed;

	if (argc != 8) {
		fprintf(stderr, "usage: stress_host write ENV LOG NTXN NWRITERS NREADERS SEED\n");
		return 2;
	}
	env = env_open_path(argv[2]);
	open_dbis(env, 0, &data, &dups);
	failed = run_workers(env, data, dups, (unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]),
			     (unsigned)atoi(argv[6]), strtoull(argv[7], NULL, 10), &log);
	mdb_env_close(env);
	failed |= write_file(argv[3], &log);
	sb_free(&log);
	return failed ? 2 : 0;
}

static int cmd_fork(int argc, char **argv)
{
	struct sbuf log = { 0 };
	char path[4200];
	MDB_env *env;
	MDB_dbi data, dups;
	unsigned ntxn;
	uint64_t seed;
	struct reader rd;
	pid_t child;
	int failed, status, quiet;

	if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "quiet"))) {
		fprintf(stderr, "usage: stress_host fork ENV LOGDIR NTXN SEED [quiet]\n");
		return 2;
	}
	quiet = argc == 7;
	ntxn = (unsigned)atoi(argv[4]);
	seed = strtoull(argv[5], NULL, 10);
	env = env_open_path(argv[2]);
	open_dbis(env, 0, &data, &dups);
	failed = run_workers(env, data, dups, ntxn, 1, 0, seed, &log);

	/* Fork while a reader thread of the parent is in the middle of things
	 * (quiet: start it after the fork). */
	memset(&rd, 0, sizeof(rd));
	rd.env = env;
	rd.data = data;
	rd.dups = dups;
	rd.nwriters = 1;
	rd.pid = (unsigned long)getpid();
	rng_seed(&rd.r, seed + 77);
	__atomic_store_n(&stop_readers, 0, __ATOMIC_RELEASE);
	if (!quiet) {
		if (pthread_create(&rd.th, NULL, reader_main, &rd) != 0)
			return 2;
		usleep(20000);
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		perror("fork");
		return 2;
	}
	if (child == 0) {
		/* LMDB: never use the parent's env after fork, not even to
		 * close it. A handle of our own on the same path. */
		struct sbuf clog = { 0 };
		MDB_env *cenv = env_open_path(argv[2]);
		MDB_dbi cdata, cdups;
		int cfailed;

		open_dbis(cenv, 0, &cdata, &cdups);
		cfailed = run_workers(cenv, cdata, cdups, ntxn, 1, 1, seed + 1, &clog);
		mdb_env_close(cenv);
		snprintf(path, sizeof(path), "%s/%ld.log", argv[3], (long)getpid());
		cfailed |= write_file(path, &clog);
		_exit(cfailed ? 2 : 0);
	}
	if (quiet && pthread_create(&rd.th, NULL, reader_main, &rd) != 0)
		return 2;
	failed |= run_workers(env, data, dups, ntxn, 1, 0, seed + 2, &log);
	__atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
	pthread_join(rd.th, NULL);
	failed |= rd.failed;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "child failed (status 0x%x)\n", status);
		failed = 1;
	}
	mdb_env_close(env);
	snprintf(path, sizeof(path), "%s/%ld.log", argv[3], (long)getpid());
	failed |= write_file(path, &log);
	sb_free(&log);
	return failed ? 2 : 0;
}

static int cmd_big(int argc, char **argv)
{
	struct sbuf log = { 0 };
	char key[64], val[4096];
	MDB_env *env;
	MDB_dbi data, dups;
	MDB_txn *txn;
	uint64_t txnid;
	unsigned nputs;
	int failed = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: stress_host big ENV LOG NPUTS\n");
		return 2;
	}
	nputs = (unsigned)atoi(argv[4]);
	env = env_open_path(argv[2]);
	open_dbis(env, 0, &data, &dups);
	MUST(mdb_txn_begin(env, NULL, 0, &txn));
	txnid = mdb_txn_id(txn);
	for (unsigned i = 0; i < nputs; i++) {
		MDB_val k = mkval(key, (size_t)sprintf(key, "big%06u", i));
		MDB_val v = mkval(val, (size_t)sprintf(val, "%s@%" PRIu64, key, txnid));

		MUST(mdb_put(txn, data, &k, &v, 0));
	}
	for (unsigned i = 0; i < 3; i++) {
		MDB_val k = mkval("bigdup", 6);
		MDB_val v = mkval(val, (size_t)sprintf(val, "v%u", i));

		MUST(mdb_put(txn, dups, &k, &v, 0));
	}
	MUST(mdb_txn_commit(txn));
	/* Read it all back. */
	MUST(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	for (unsigned i = 0; i < nputs; i++) {
		MDB_val k = mkval(key, (size_t)sprintf(key, "big%06u", i));
		MDB_val v;
		size_t n = (size_t)sprintf(val, "%s@%" PRIu64, key, txnid);
		int rc = mdb_get(txn, data, &k, &v);

		if (rc || v.mv_size != n || memcmp(v.mv_data, val, n) != 0) {
			fprintf(stderr, "big: %s: %s\n", key, rc ? mdb_strerror(rc) : "wrong value");
			failed = 1;
			break;
		}
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	sb_printf(&log, "BIG %" PRIu64 " %ld\n", txnid, (long)getpid());
	failed |= write_file(argv[3], &log);
	sb_free(&log);
	return failed ? 2 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "init"))
		return cmd_init(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "write"))
		return cmd_write(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "fork"))
		return cmd_fork(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "big"))
		return cmd_big(argc, argv);
	fprintf(stderr, "usage: stress_host init|write|fork|big ...\n");
	return 2;
}
