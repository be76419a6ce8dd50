/* txnprobe.c: a tiny LD_PRELOAD probe (not the tap) that logs the shape of
 * a program's LMDB write transactions to $TXNPROBE_LOG, so that app tests can
 * show the program really used what they claim to test (child txns, aborted
 * children, failed calls), independently of the tap.
 *
 * Lines: "B txn parent" (write txn begun; parent 0 for top level),
 * "C txn rc" (commit), "A txn" (abort), "W txn call rc" (a write call).
 * Like the tap, it finds LMDB with dlsym(RTLD_NEXT) or, when the program
 * loads liblmdb with dlopen, in the library already loaded. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *logf_;

static void *real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		void *h = dlopen("liblmdb.so.0", RTLD_LAZY | RTLD_NOLOAD);

		if (h)
			f = dlsym(h, name);
	}
	if (!f)
		abort();
	return f;
}

__attribute__((format(printf, 1, 2)))
static void logline(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&mu);
	if (!logf_) {
		const char *p = getenv("TXNPROBE_LOG");

		logf_ = fopen(p ? p : "/dev/null", "a");
		if (logf_)
			setvbuf(logf_, NULL, _IOLBF, 0);
	}
	if (logf_) {
		va_start(ap, fmt);
		vfprintf(logf_, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&mu);
}

#define REAL(ret, name, ...) ((ret(*)(__VA_ARGS__))real(#name))

__attribute__((visibility("default")))
int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags, MDB_txn **txn)
{
	int rc = REAL(int, mdb_txn_begin, MDB_env *, MDB_txn *, unsigned, MDB_txn **)(env, parent, flags, txn);

	if (rc == 0 && !(flags & MDB_RDONLY))
		logline("B %p %p\n", (void *)*txn, (void *)parent);
	return rc;
}

__attribute__((visibility("default")))
int mdb_txn_commit(MDB_txn *txn)
{
	int rc = REAL(int, mdb_txn_commit, MDB_txn *)(txn);

	logline("C %p %d\n", (void *)txn, rc);
	return rc;
}

__attribute__((visibility("default")))
void mdb_txn_abort(MDB_txn *txn)
{
	logline("A %p\n", (void *)txn);
	REAL(void, mdb_txn_abort, MDB_txn *)(txn);
}

static MDB_txn *ctxn(MDB_cursor *c)
{
	return REAL(MDB_txn *, mdb_cursor_txn, MDB_cursor *)(c);
}

__attribute__((visibility("default")))
int mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags)
{
	int rc = REAL(int, mdb_put, MDB_txn *, MDB_dbi, MDB_val *, MDB_val *, unsigned)(txn, dbi, k, v, flags);

	logline("W %p put %d\n", (void *)txn, rc);
	return rc;
}

__attribute__((visibility("default")))
int mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
	int rc = REAL(int, mdb_del, MDB_txn *, MDB_dbi, MDB_val *, MDB_val *)(txn, dbi, k, v);

	logline("W %p del %d\n", (void *)txn, rc);
	return rc;
}

__attribute__((visibility("default")))
int mdb_cursor_put(MDB_cursor *c, MDB_val *k, MDB_val *v, unsigned flags)
{
	MDB_txn *txn = ctxn(c);
	int rc = REAL(int, mdb_cursor_put, MDB_cursor *, MDB_val *, MDB_val *, unsigned)(c, k, v, flags);

	logline("W %p cursor_put %d\n", (void *)txn, rc);
	return rc;
}

__attribute__((visibility("default")))
int mdb_cursor_del(MDB_cursor *c, unsigned flags)
{
	MDB_txn *txn = ctxn(c);
	int rc = REAL(int, mdb_cursor_del, MDB_cursor *, unsigned)(c, flags);

	logline("W %p cursor_del %d\n", (void *)txn, rc);
	return rc;
}

__attribute__((visibility("default")))
int mdb_drop(MDB_txn *txn, MDB_dbi dbi, int del)
{
	int rc = REAL(int, mdb_drop, MDB_txn *, MDB_dbi, int)(txn, dbi, del);

	logline("W %p drop %d\n", (void *)txn, rc);
	return rc;
}
