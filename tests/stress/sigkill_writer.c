/* sigkill_writer.c: a host that writes random transactions until it is
 * killed (or until NTXN, when NTXN > 0).
 *
 *   sigkill_writer ENV SEED NTXN [nosync] [hold] [ready]
 *
 * With "ready", it prints "ready" once the env and its DBIs are open.
 * NTXN 0 is no limit; with "hold", the writer waits (up to 60 s) to be
 * killed once it has committed NTXN txns, instead of exiting (it bounds the
 * journal's growth on a fast machine).
 *
 * DBIs: "plain", "dups" (DUPSORT) and "intent". Every committed txn also
 * puts, as its last write, its own description into "intent": key = its txn
 * id (8 bytes, big-endian), value = the element ops that succeeded, in
 * order, as text: "dbi,op,KEY[,VALUE] ..." (hex; the value for DUPSORT
 * only). The description commits atomically with the data, so whatever
 * moment the process is killed at, the env itself says exactly what each
 * committed txn wrote: the harness compares that with the journal.
 *
 * The mix: plain puts (some MDB_NOOVERWRITE, some MDB_RESERVE, some through
 * a cursor, values up to 6000 bytes), plain deletes (mdb_del, cursor),
 * DUPSORT puts (some MDB_NODUPDATA), pair deletes, delete-all; failed calls
 * (KEYEXIST, NOTFOUND) are not ops; nested txns committed or aborted; some
 * txns aborted; now and then a large txn, so that commits take longer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress_common.h"

static MDB_env *env;
static MDB_dbi plain, dups, intent;
static struct rng r;
static struct sbuf ops;

static MDB_val plain_key(char *buf)
{
	unsigned n = rnd(&r, 3000);
	size_t len = (size_t)sprintf(buf, "k%u", n);

	if (n % 5 == 0) { /* binary keys too */
		memcpy(buf + len, "\0\xff\x01", 3);
		len += 3;
	}
	return mkval(buf, len);
}

static MDB_val random_bytes(char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)rng_next(&r);
	return mkval(buf, len);
}

static MDB_val dup_key(char *buf)
{
	return mkval(buf, (size_t)sprintf(buf, "d%u", rnd(&r, 100)));
}

static MDB_val dup_val(char *buf)
{
	unsigned n = rnd(&r, 30);

	/* Lengths 1..9: a mix of sizes under one key. */
	memset(buf, 'a' + (int)(n % 26), 9);
	return mkval(buf, 1 + n % 9);
}

static void must_ok_or(int rc, int allowed, const char *what)
{
	if (rc && rc != allowed) {
		fprintf(stderr, "sigkill_writer: %s: %s\n", what, mdb_strerror(rc));
		exit(3);
	}
}

static void random_op(MDB_txn *txn)
{
	static char kb[64], vb[8192];
	unsigned kind = rnd(&r, 12);
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (kind < 5) {
		unsigned how = rnd(&r, 6);
		size_t len = rnd(&r, 8) == 0 ? rnd(&r, 6000) : rnd(&r, 200);

		k = plain_key(kb);
		v = random_bytes(vb, len);
		if (how == 0) {
			rc = mdb_put(txn, plain, &k, &v, MDB_NOOVERWRITE);
		} else if (how == 1) {
			MDB_val res = mkval(NULL, len);

			rc = mdb_put(txn, plain, &k, &res, MDB_RESERVE);
			if (rc == 0 && len)
				memcpy(res.mv_data, vb, len);
		} else if (how == 2) {
			must_ok_or(mdb_cursor_open(txn, plain, &c), 0, "cursor_open");
			rc = mdb_cursor_put(c, &k, &v, 0);
			mdb_cursor_close(c);
		} else {
			rc = mdb_put(txn, plain, &k, &v, 0);
		}
		must_ok_or(rc, MDB_KEYEXIST, "put plain");
		if (rc == 0)
			sb_op(&ops, "plain", "put", &k, NULL);
	} else if (kind < 7) {
		k = plain_key(kb);
		if (kind == 5) {
			rc = mdb_del(txn, plain, &k, NULL);
		} else {
			must_ok_or(mdb_cursor_open(txn, plain, &c), 0, "cursor_open");
			rc = mdb_cursor_get(c, &k, NULL, MDB_SET);
			if (rc == 0)
				rc = mdb_cursor_del(c, 0);
			mdb_cursor_close(c);
		}
		must_ok_or(rc, MDB_NOTFOUND, "del plain");
		if (rc == 0)
			sb_op(&ops, "plain", "del", &k, NULL);
	} else if (kind < 10) {
		k = dup_key(kb);
		v = dup_val(vb);
		rc = mdb_put(txn, dups, &k, &v, kind == 9 ? MDB_NODUPDATA : 0);
		must_ok_or(rc, MDB_KEYEXIST, "put dups");
		if (rc == 0)
			sb_op(&ops, "dups", "put", &k, &v);
	} else if (kind == 10) {
		k = dup_key(kb);
		v = dup_val(vb);
		rc = mdb_del(txn, dups, &k, &v);
		must_ok_or(rc, MDB_NOTFOUND, "del dups pair");
		if (rc == 0)
			sb_op(&ops, "dups", "del", &k, &v);
	} else {
		k = dup_key(kb);
		rc = mdb_del(txn, dups, &k, NULL);
		must_ok_or(rc, MDB_NOTFOUND, "del dups key");
		if (rc == 0)
			sb_op(&ops, "dups", "delall", &k, NULL);
	}
}

static void child(MDB_txn *parent, int depth)
{
	size_t mark = ops.len;
	MDB_txn *c;

	must_ok_or(mdb_txn_begin(env, parent, 0, &c), 0, "begin child");
	for (unsigned i = 1 + rnd(&r, 5); i > 0; i--) {
		random_op(c);
		if (depth < 3 && rnd(&r, 6) == 0)
			child(c, depth + 1);
	}
	if (rnd(&r, 10) < 6) {
		must_ok_or(mdb_txn_commit(c), 0, "commit child");
	} else {
		mdb_txn_abort(c);
		sb_trunc(&ops, mark);
	}
}

static void one_txn(void)
{
	MDB_txn *txn;
	unsigned char idkey[8];
	uint64_t id;
	unsigned n = rnd(&r, 40) == 0 ? 300 + rnd(&r, 300) : 1 + rnd(&r, 12);
	MDB_val k, v;

	sb_trunc(&ops, 0);
	must_ok_or(mdb_txn_begin(env, NULL, 0, &txn), 0, "begin");
	id = mdb_txn_id(txn);
	for (unsigned i = 0; i < n; i++) {
		random_op(txn);
		if (rnd(&r, 15) == 0)
			child(txn, 1);
	}
	if (rnd(&r, 20) == 0) {
		mdb_txn_abort(txn);
		return;
	}
	for (int i = 0; i < 8; i++)
		idkey[i] = (unsigned char)(id >> (56 - 8 * i));
	k = mkval(idkey, 8);
	v = mkval(ops.p ? ops.p : "", ops.len);
	must_ok_or(mdb_put(txn, intent, &k, &v, MDB_NOOVERWRITE), 0, "put intent");
	must_ok_or(mdb_txn_commit(txn), 0, "commit");
}

int main(int argc, char **argv)
{
	MDB_txn *txn;
	unsigned long ntxn;
	int nosync = 0, hold = 0, ready = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: sigkill_writer ENV SEED NTXN [nosync] [hold] [ready]\n");
		return 2;
	}
	for (int i = 4; i < argc; i++) {
		nosync |= !strcmp(argv[i], "nosync");
		hold |= !strcmp(argv[i], "hold");
		ready |= !strcmp(argv[i], "ready");
	}
	rng_seed(&r, strtoull(argv[2], NULL, 10));
	ntxn = strtoul(argv[3], NULL, 10);
	must_ok_or(mdb_env_create(&env), 0, "env_create");
	must_ok_or(mdb_env_set_mapsize(env, (size_t)1 << 30), 0, "set_mapsize");
	must_ok_or(mdb_env_set_maxdbs(env, 4), 0, "set_maxdbs");
	must_ok_or(mdb_env_open(env, argv[1], nosync ? MDB_NOSYNC : 0,
				0644), 0, "env_open");
	must_ok_or(mdb_txn_begin(env, NULL, 0, &txn), 0, "begin");
	must_ok_or(mdb_dbi_open(txn, "plain", MDB_CREATE, &plain), 0, "dbi_open plain");
	must_ok_or(mdb_dbi_open(txn, "dups", MDB_CREATE | MDB_DUPSORT, &dups), 0, "dbi_open dups");
	must_ok_or(mdb_dbi_open(txn, "intent", MDB_CREATE, &intent), 0, "dbi_open intent");
	must_ok_or(mdb_txn_commit(txn), 0, "commit");
	if (ready) {
		printf("ready\n");
		fflush(stdout);
	}
	for (unsigned long i = 0; ntxn == 0 || i < ntxn; i++)
		one_txn();
	if (hold)
		sleep(60); /* bounded: an orphan never lingers for long */
	mdb_env_close(env);
	sb_free(&ops);
	return 0;
}
