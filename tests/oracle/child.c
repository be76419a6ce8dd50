/* child.c: run one random LMDB program and trace what LMDB answered.
 *
 *   oracle_child ENVDIR PROGRAM TRACE SIDE
 *
 * PROGRAM is a file of random bytes; the program is generated from them
 * as it runs (the same bytes give the same program). The oracle runs this
 * twice, with the tap preloaded and without, in two fresh envs. TRACE gets
 * every call's return code and every read's result, and after each
 * top-level transaction its outcome (txn ids before and after) and a dump
 * of the env: both runs must write the same TRACE byte for byte. SIDE gets
 * the journal's head before and after each top-level commit, so that the
 * oracle knows which records each commit wrote (nothing when no journal).
 *
 * The write paths and flags covered are those of issue 9: mdb_put and
 * mdb_cursor_put with every flag, mdb_del with and without data and with
 * pointers taken from a cursor, mdb_cursor_del repeated, mdb_drop 0/1 of
 * named DBIs and of the unnamed one, DBIs of every flag, nested txns
 * committed and aborted, failing calls, cursor reads between writes.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "journal.h"
#include "oracle.h"

#define NDBI 6          /* named DBIs d0..d5, plus the unnamed one */
#define MAX_DEPTH 3     /* nested txns below the top-level one */

static const uint8_t *prog;
static size_t prog_len, prog_off;
static FILE *trace, *side;
static MDB_env *env;
static struct journal *journal_;
static unsigned dbi_flags[NDBI + 1];    /* [0]: the unnamed DBI */
static MDB_dbi handles[NDBI + 1];       /* last handle of each named DBI */
static int main_dropped;                /* this txn emptied the unnamed DBI */
static int top_open[NDBI + 1];          /* opened by the top-level txn */
static uint64_t nops;
static int verbose;   /* ORACLE_VERBOSE=1: every op on stderr */

/* A random number below n from the program bytes; 0 once they run out. */
static unsigned rnd(unsigned n)
{
	unsigned v = 0;

	for (int i = 0; i < 3 && prog_off < prog_len; i++)
		v = v << 8 | prog[prog_off++];
	return n ? v % n : 0;
}

static int prog_done(void) { return prog_off >= prog_len; }

/* Ops added after seeds were recorded (red team 9: MDB_MULTIPLE with a
 * NULL key or with MDB_CURRENT, nesting beyond the tap's 32 tracked
 * levels) draw from a second stream, seeded by the program's bytes, so
 * rnd() gives every old program the same choices; ORACLE_EXT=0 leaves
 * them out (the recorded programs of oracle_found run as they were). */
static uint64_t ext_state;
static int ext_on;

static unsigned rnd2(unsigned n)
{
	uint64_t x = ext_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	ext_state = x;
	return n ? (unsigned)((x * 0x2545f4914f6cdd1dull) >> 33) % n : 0;
}

static void ext_seed(void)
{
	const char *e = getenv("ORACLE_EXT");
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	ext_on = !e || strcmp(e, "0") != 0;
	for (size_t i = 0; i < prog_len; i++)
		h = (h ^ prog[i]) * 1099511628211ull;
	ext_state = h | 1;
}

__attribute__((noreturn)) static void die(const char *what, int rc)
{
	fprintf(stderr, "oracle_child: %s: %s\n", what, mdb_strerror(rc));
	exit(2);
}

static void out(const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, trace) != n)
		die("write trace", errno);
}

static void out_u8(unsigned v) { uint8_t b = (uint8_t)v; out(&b, 1); }
static void out_i32(int v) { int32_t x = v; out(&x, 4); }
static void out_u64(uint64_t v) { out(&v, 8); }

static void out_val(const MDB_val *v)
{
	uint32_t n = v ? (uint32_t)v->mv_size : 0xffffffffu;

	out(&n, 4);
	if (v && v->mv_size)
		out(v->mv_data, v->mv_size);
}

/* One op's result: its code, its rc, what it read and one more number
 * (the cursor op, an MDB_MULTIPLE count...). */
static void out_op_x(unsigned code, int rc, const MDB_val *k, const MDB_val *v, uint64_t extra)
{
	out_u8(ORACLE_EV_OP);
	out_u8(code);
	out_i32(rc);
	out_val(rc == 0 ? k : NULL);
	out_val(rc == 0 || rc == MDB_KEYEXIST ? v : NULL);
	out_u64(extra);
	nops++;
	/* LMDB says its B-tree is broken (LMDB 0.9.24 bugs the program hit):
	 * stop, so that the oracle skips the program if this happens without
	 * the tap, and flags it if only with the tap. */
	if (rc == MDB_PAGE_NOTFOUND || rc == MDB_CORRUPTED || rc == MDB_PANIC) {
		fflush(trace);
		exit(3);
	}
	if (verbose)
		fprintf(stderr, "op %llu: code %u rc %d extra %llu\n", (unsigned long long)nops,
			code, rc, (unsigned long long)extra);
}

static void out_op(unsigned code, int rc, const MDB_val *k, const MDB_val *v)
{
	out_op_x(code, rc, k, v, 0);
}

static void dbi_name(unsigned i, char *buf)
{
	snprintf(buf, 8, "d%u", i - 1);
}

/* Keys: small spaces so that ops collide; sometimes long, empty or too
 * long (MDB_BAD_VALSIZE). */
struct kbuf {
	uint8_t b[600];
	MDB_val v;
};

static void gen_key(unsigned d, struct kbuf *k)
{
	unsigned n = rnd(24), r = rnd(100);

	if (dbi_flags[d] & MDB_INTEGERKEY) {
		uint32_t x = n;

		memcpy(k->b, &x, 4);
		k->v.mv_size = 4;
	} else if (r < 1) {
		k->v.mv_size = 0;
	} else if (r < 2) {
		memset(k->b, 'K', 512);
		k->v.mv_size = 512;
	} else if (r < 8) {
		memset(k->b, 'a' + n % 3, 400);
		k->v.mv_size = 300 + n;
	} else if (d == 0 && r < 11) {
		/* A named DBI's record in the unnamed DBI. */
		dbi_name(1 + n % NDBI, (char *)k->b);
		k->v.mv_size = 2;
	} else {
		k->v.mv_size = (size_t)snprintf((char *)k->b, sizeof(k->b), "k%02u", n);
	}
	k->v.mv_data = k->b;
}

struct vbuf {
	uint8_t *b;
	uint8_t small[1024];
	MDB_val v;
};

static void gen_val(unsigned d, struct vbuf *v)
{
	unsigned n = rnd(16), r = rnd(1000);
	size_t len;

	v->b = v->small;
	if (dbi_flags[d] & (MDB_DUPFIXED | MDB_INTEGERDUP)) {
		uint32_t x = n;

		/* Always 4 bytes: LMDB 0.9.24 does not refuse another size in
		 * a DUPFIXED DBI, it loses values. */
		memcpy(v->b, &x, 4);
		v->v.mv_size = 4;
		(void)r;
		v->v.mv_data = v->b;
		return;
	}
	if ((dbi_flags[d] & MDB_DUPSORT) && r >= 500) {
		/* Few values per key: deletes then empty keys. */
		v->b[0] = (uint8_t)('1' + n % 2);
		v->v.mv_size = 1;
		v->v.mv_data = v->b;
		return;
	}
	if (r < 5)
		len = 100000 + rnd(200000);     /* MDB_MAP_FULL in small maps */
	else if (r < 40)
		len = 500 + rnd(4000);          /* overflow pages, BAD_VALSIZE in DUPSORT */
	else
		len = rnd(12);
	if (len > sizeof(v->small)) {
		v->b = malloc(len);
		if (!v->b)
			die("malloc", ENOMEM);
	}
	for (size_t i = 0; i < len; i++)
		v->b[i] = (uint8_t)('A' + (n + i) % 7);
	v->v.mv_size = len;
	v->v.mv_data = v->b;
}

static void free_val(struct vbuf *v)
{
	if (v->b != v->small)
		free(v->b);
}

/* Per txn level: its txn and one cursor per DBI, opened on demand. */
struct level {
	MDB_txn *txn;
	MDB_cursor *cur[NDBI + 1];
};

static struct level lv[MAX_DEPTH + 1];

/* The handle of DBI d in txn, opened (maybe created) by name now: handles
 * die with aborted txns and dropped DBIs, names do not. */
static int open_dbi(struct level *l, unsigned d, int create, MDB_dbi *dbi)
{
	char name[8];
	int rc;

	if (d == 0)
		return mdb_dbi_open(l->txn, NULL, 0, dbi);
	dbi_name(d, name);
	/* A child txn uses only DBIs its top-level txn opened: LMDB 0.9.24
	 * reads uninitialised memory or asserts (root > 1) otherwise. */
	if (l != &lv[0] && !top_open[d])
		return MDB_NOTFOUND;
	rc = mdb_dbi_open(l->txn, name, dbi_flags[d] | (create ? MDB_CREATE : 0), dbi);
	if (verbose)
		fprintf(stderr, "open %s at depth %d: rc %d handle %u\n", name, (int)(l - lv), rc,
			rc == 0 ? (unsigned)*dbi : 0u);
	if (rc == 0)
		handles[d] = *dbi;
	if (rc == 0 && l == &lv[0])
		top_open[d] = 1;
	return rc;
}

static MDB_cursor *cursor(struct level *l, unsigned d, int *rcp)
{
	MDB_dbi dbi;
	int rc;

	*rcp = 0;
	if (l->cur[d])
		return l->cur[d];
	rc = open_dbi(l, d, 0, &dbi);
	if (rc == 0)
		rc = mdb_cursor_open(l->txn, dbi, &l->cur[d]);
	*rcp = rc;
	return rc ? NULL : l->cur[d];
}

static const MDB_cursor_op read_ops[] = {
	MDB_FIRST, MDB_NEXT, MDB_NEXT, MDB_PREV, MDB_LAST, MDB_SET, MDB_SET_KEY,
	MDB_SET_RANGE, MDB_GET_BOTH, MDB_GET_BOTH_RANGE, MDB_NEXT_DUP, MDB_PREV_DUP,
	MDB_FIRST_DUP, MDB_LAST_DUP, MDB_NEXT_NODUP, MDB_PREV_NODUP, MDB_GET_CURRENT,
	MDB_GET_MULTIPLE, MDB_NEXT_MULTIPLE,
};

/* LMDB 0.9.24 asserts (root > 1) or crashes on a backward move of a
 * DUPSORT cursor whose sub-cursor a delete left uninitialised: the oracle
 * tests the tap, not that. */
static int no_prev(unsigned d, MDB_cursor_op op)
{
	return (dbi_flags[d] & MDB_DUPSORT) &&
	       (op == MDB_PREV || op == MDB_PREV_DUP || op == MDB_PREV_NODUP || op == MDB_LAST_DUP);
}

/* A cursor read; the cursor op is traced with the result. */
static void op_cursor_read(struct level *l, unsigned d, unsigned code)
{
	struct kbuf k;
	struct vbuf v;
	MDB_cursor_op op = read_ops[rnd(sizeof(read_ops) / sizeof(read_ops[0]))];
	MDB_cursor *c;
	int rc;

	gen_key(d, &k);
	gen_val(d, &v);
	if (no_prev(d, op))
		op = MDB_NEXT;
	c = cursor(l, d, &rc);
	if (c)
		rc = mdb_cursor_get(c, &k.v, &v.v, op);
	out_op_x(code, rc, &k.v, &v.v, op);
	/* LMDB 0.9.24: a DUPSORT cursor whose positioning failed (say
	 * GET_BOTH_RANGE past the last value) keeps a sub-cursor into the
	 * node's sub-page; a put on that key moves the node without
	 * refreshing it, and a NEXT_DUP then returns bytes read from stale
	 * memory (a key of 16 KiB holding heap addresses, unlike in each
	 * process). A new cursor instead. */
	if (c && rc != 0 && (dbi_flags[d] & MDB_DUPSORT)) {
		mdb_cursor_close(c);
		l->cur[d] = NULL;
	}
	free_val(&v);
}

static const unsigned put_flag_bits[] = {
	MDB_NOOVERWRITE, MDB_NODUPDATA, MDB_APPEND, MDB_APPENDDUP, MDB_RESERVE,
};

static unsigned gen_put_flags(unsigned d)
{
	unsigned f = 0, r = rnd(100);

	if (r < 40)
		return 0;
	for (unsigned i = 0; i < 5; i++)
		if (rnd(3) == 0)
			f |= put_flag_bits[i];
	/* lmdb.h: MDB_RESERVE must not be used on a DUPSORT DBI. */
	if (dbi_flags[d] & MDB_DUPSORT)
		f &= ~(unsigned)MDB_RESERVE;
	return f;
}

/* LMDB 0.9.24: MDB_APPENDDUP on a DUPSORT key whose only value is empty
 * appends through a sub-cursor whose page pointer is stale (valgrind: a
 * read inside a cursor that an earlier commit freed, from mdb_cursor_last
 * in the sub-cursor's put): MDB_PAGE_NOTFOUND or success depending on
 * what earlier calls left in memory, so unlike with and without the tap.
 * The generator leaves that flag out there. */
static unsigned sane_put_flags(MDB_txn *txn, MDB_dbi dbi, unsigned d, MDB_val *key, unsigned f)
{
	MDB_val v;

	if ((f & MDB_APPENDDUP) && (dbi_flags[d] & MDB_DUPSORT) &&
	    mdb_get(txn, dbi, key, &v) == 0 && v.mv_size == 0)
		f &= ~(unsigned)MDB_APPENDDUP;
	return f;
}

/* After an MDB_RESERVE put, the host fills the space. */
static void fill_reserved(int rc, unsigned flags, MDB_val *data, size_t want)
{
	if (rc == 0 && (flags & MDB_RESERVE) && data->mv_data && data->mv_size >= want)
		memset(data->mv_data, 'R', want);
}

static void op_put(struct level *l, unsigned d)
{
	struct kbuf k;
	struct vbuf v;
	unsigned flags = gen_put_flags(d);
	MDB_dbi dbi = 0;        /* printed when the open failed too */
	size_t want;
	int rc;

	gen_key(d, &k);
	gen_val(d, &v);
	want = v.v.mv_size;
	rc = open_dbi(l, d, rnd(4) == 0, &dbi);
	if (verbose)
		fprintf(stderr, "put dbi %u key '%.*s' (%zu) value %zu bytes flags %#x\n", dbi,
			(int)(k.v.mv_size < 16 ? k.v.mv_size : 16), (char *)k.v.mv_data,
			k.v.mv_size, v.v.mv_size, flags);
	if (rc == 0)
		flags = sane_put_flags(l->txn, dbi, d, &k.v, flags);
	if (rc == 0)
		rc = mdb_put(l->txn, dbi, &k.v, &v.v, flags);
	fill_reserved(rc, flags, &v.v, want);
	/* NOOVERWRITE's KEYEXIST gives the value that is there. */
	out_op(ORACLE_OP_PUT, rc, NULL, rc == MDB_KEYEXIST ? &v.v : NULL);
	free_val(&v);
}

static void op_get(struct level *l, unsigned d)
{
	struct kbuf k;
	MDB_val v = { 0, NULL };
	MDB_dbi dbi;
	int rc;

	gen_key(d, &k);
	rc = open_dbi(l, d, 0, &dbi);
	if (rc == 0)
		rc = mdb_get(l->txn, dbi, &k.v, &v);
	out_op(ORACLE_OP_GET, rc, &k.v, &v);
}

/* mdb_del, with the key (and value) generated or taken from a cursor:
 * then they point into a page that the delete changes. */
static void op_del(struct level *l, unsigned d)
{
	struct kbuf k;
	struct vbuf v;
	MDB_val ck, cv, *key = &k.v, *data = NULL;
	MDB_cursor *c;
	MDB_dbi dbi;
	int rc, from_cursor = rnd(2), with_data = rnd(2);

	gen_key(d, &k);
	gen_val(d, &v);
	rc = open_dbi(l, d, 0, &dbi);
	if (rc == 0 && from_cursor && (c = cursor(l, d, &rc)) &&
	    (rc = mdb_cursor_get(c, &ck, &cv, MDB_GET_CURRENT)) == 0) {
		key = &ck;
		if (with_data)
			data = &cv;
	} else if (with_data) {
		data = &v.v;
	}
	if (rc == 0)
		rc = mdb_del(l->txn, dbi, key, data);
	out_op_x(ORACLE_OP_DEL, rc, NULL, NULL, (uint64_t)from_cursor);
	/* LMDB 0.9.24: deleting one value of a key whose values sit in a
	 * sub-page updates another cursor's sub-cursor page (mdb_cursor_del0,
	 * XCURSOR_REFRESH) but not its count (mx_db.md_entries). If that
	 * cursor was on this key, its own mdb_cursor_del of the last value
	 * then sees "sub-DB still has entries", shrinks the sub-page to no
	 * values and keeps the key: it reads back with a value of stale
	 * bytes, with and without the tap. A new cursor instead. */
	if (rc == 0 && data && (dbi_flags[d] & MDB_DUPSORT) && l->cur[d]) {
		mdb_cursor_close(l->cur[d]);
		l->cur[d] = NULL;
	}
	free_val(&v);
}

static void op_cursor_put(struct level *l, unsigned d)
{
	struct kbuf k;
	struct vbuf v;
	MDB_val ck, cv, mv[2];
	MDB_cursor *c;
	unsigned flags, r = rnd(100);
	uint32_t items[16];
	size_t want;
	int rc;

	gen_key(d, &k);
	gen_val(d, &v);
	want = v.v.mv_size;
	c = cursor(l, d, &rc);
	if (!c) {
		out_op(ORACLE_OP_CURSOR_PUT, rc, NULL, NULL);
		free_val(&v);
		return;
	}
	if (r < 15) {
		/* MDB_MULTIPLE: DUPFIXED only, maybe with MDB_NODUPDATA. */
		unsigned n = 1 + rnd(12);

		for (unsigned i = 0; i < n; i++)
			items[i] = rnd(4) ? i * 2 + rnd(3) : rnd(16);
		mv[0].mv_size = 4;
		mv[0].mv_data = items;
		mv[1].mv_size = n;
		mv[1].mv_data = NULL;
		flags = MDB_MULTIPLE | (rnd(2) ? MDB_NODUPDATA : 0) | (rnd(4) ? 0 : MDB_APPENDDUP);
		/* Extensions: a NULL key (EINVAL before LMDB sets the count:
		 * nothing written), and MDB_CURRENT|MDB_APPENDDUP on the
		 * cursor put on the key (no defined meaning: LMDB 0.9.24
		 * returns 0 and changes nothing, or reorders the values;
		 * without MDB_APPENDDUP it crashes). */
		r = ext_on ? rnd2(8) : 2;
		if (r == 1) {
			MDB_val cv0;

			rc = mdb_cursor_get(c, &k.v, &cv0, MDB_SET);
			out_op(ORACLE_OP_CURSOR_READ, rc, &k.v, &cv0);
			if (rc == 0 && rnd2(2)) { /* not on the first value */
				MDB_val k0;

				rc = mdb_cursor_get(c, &k0, &cv0, MDB_NEXT_DUP);
				out_op(ORACLE_OP_CURSOR_READ, rc, &k0, &cv0);
			}
			flags = rc ? flags : MDB_MULTIPLE | MDB_CURRENT | MDB_APPENDDUP;
		}
		rc = mdb_cursor_put(c, r == 0 ? NULL : &k.v, mv, flags);
		out_op_x(ORACLE_OP_CURSOR_PUT, rc, NULL, NULL, mv[1].mv_size);
		free_val(&v);
		return;
	}
	if (r < 35) {
		/* MDB_CURRENT: the key must be the cursor's (lmdb.h; LMDB does
		 * not check, and another key breaks the B-tree's order), and in
		 * a DUPSORT DBI the value must sort to the same place. */
		flags = MDB_CURRENT | (rnd(5) == 0 && !(dbi_flags[d] & MDB_DUPSORT) ? MDB_RESERVE : 0);
		rc = mdb_cursor_get(c, &ck, &cv, MDB_GET_CURRENT);
		if (rc || ck.mv_size > sizeof(k.b) || cv.mv_size > sizeof(v.small)) {
			out_op(ORACLE_OP_CURSOR_PUT, rc ? rc : EINVAL, NULL, NULL);
			free_val(&v);
			return;
		}
		/* A copy: LMDB 0.9.24 re-inserts under the key argument after
		 * it deleted the node it points into. */
		memcpy(k.b, ck.mv_data, ck.mv_size);
		k.v.mv_size = ck.mv_size;
		if (dbi_flags[d] & MDB_DUPSORT) {
			free_val(&v);
			v.b = v.small;
			memcpy(v.b, cv.mv_data, cv.mv_size);
			v.v.mv_data = v.b;
			v.v.mv_size = cv.mv_size;
			want = v.v.mv_size;
		}
	} else {
		flags = sane_put_flags(l->txn, mdb_cursor_dbi(c), d, &k.v, gen_put_flags(d));
	}
	rc = mdb_cursor_put(c, &k.v, &v.v, flags);
	fill_reserved(rc, flags, &v.v, want);
	out_op(ORACLE_OP_CURSOR_PUT, rc, NULL, rc == MDB_KEYEXIST ? &v.v : NULL);
	free_val(&v);
}

/* mdb_cursor_del, repeated, then a read on the same cursor. */
static void op_cursor_del(struct level *l, unsigned d)
{
	MDB_cursor *c;
	MDB_val k, v;
	unsigned times = 1 + rnd(4);
	int rc, deleted = 0, lost = 0;

	c = cursor(l, d, &rc);
	if (c && rnd(2)) {
		/* From the first value of a key: deletes then run across keys. */
		struct kbuf kb;

		gen_key(d, &kb);
		rc = mdb_cursor_get(c, &kb.v, &v, MDB_SET_RANGE);
		out_op(ORACLE_OP_CURSOR_READ, rc, &kb.v, &v);
		lost = rc != 0;
	}
	for (unsigned i = 0; c && i < times; i++) {
		rc = mdb_cursor_del(c, rnd(3) == 0 ? MDB_NODUPDATA : 0);
		out_op(ORACLE_OP_CURSOR_DEL, rc, NULL, NULL);
		deleted |= rc == 0;
	}
	if (verbose && c)
		fprintf(stderr, "deleted %d\n", deleted);
	if (c && rnd(2) && deleted) {
		static const MDB_cursor_op after[] = { MDB_NEXT_DUP, MDB_NEXT, MDB_GET_CURRENT,
						       MDB_PREV, MDB_NEXT_NODUP };
		MDB_cursor_op op = after[rnd(5)];

		if (no_prev(d, op))
			op = MDB_NEXT;

		rc = mdb_cursor_get(c, &k, &v, op);
		out_op_x(ORACLE_OP_CURSOR_READ, rc, &k, &v, op);
	} else if (!c) {
		out_op(ORACLE_OP_CURSOR_DEL, rc, NULL, NULL);
	}
	/* LMDB 0.9.24 (and 0.9.31), mdb_cursor_set: a positioned cursor whose
	 * MDB_SET_RANGE finds no key at or after the one asked for, on the
	 * last leaf, gets mc_ki = NUMKEYS without C_EOF ("There are no other
	 * pages"). mdb_cursor_del then says MDB_NOTFOUND, but in a DUPSORT
	 * DBI the next MDB_NEXT or MDB_NEXT_DUP (mdb_cursor_next) reads
	 * NODEPTR(mp, NUMKEYS): a stale slot past mp_lower. Its node may be
	 * a deleted key (returned, with another key's values through the
	 * sub-cursor) or any offset (a key of KiBs read past the page, heap
	 * addresses unlike in each process, with or without the tap). A new
	 * cursor instead, as op_cursor_read does after a failed positioning. */
	if (c && lost && (dbi_flags[d] & MDB_DUPSORT)) {
		mdb_cursor_close(c);
		l->cur[d] = NULL;
	}
}

/* Cursors of DBI d (or of every DBI when d is the unnamed one and del)
 * are not used after a drop. */
static void forget_cursors(unsigned depth, unsigned d)
{
	for (unsigned i = 0; i <= depth; i++)
		lv[i].cur[d] = NULL;
}

static void op_drop(unsigned depth, unsigned d)
{
	struct level *l = &lv[depth];
	MDB_dbi dbi;
	int del = rnd(2), rc;

	/* LMDB 0.9.24 closes the handle in the env as soon as a drop with del
	 * returns, even in a child txn: if that child then aborts, the DBI
	 * still exists, and opening it again in the parent (where it is
	 * dirty) reloads its committed record over the parent's, losing the
	 * parent's writes and reusing their pages (d5 then shows d1's data).
	 * Deleting a DBI is a top-level txn's business. */
	if (depth > 0)
		del = 0;

	rc = open_dbi(l, d, 0, &dbi);
	if (rc == 0)
		rc = mdb_drop(l->txn, dbi, del);
	out_op(ORACLE_OP_DROP, rc, NULL, NULL);
	if (rc == 0 && del)
		top_open[d] = 0;
	if (rc == 0) {
		forget_cursors(depth, d);
		/* A dropped unnamed DBI takes the named DBIs' records. */
		if (d == 0) {
			for (unsigned i = 1; i <= NDBI; i++)
				forget_cursors(depth, i);
			main_dropped = 1;
			memset(top_open, 0, sizeof(top_open));
		}
	}
}

static void op_create(struct level *l, unsigned d)
{
	MDB_dbi dbi;
	int rc = open_dbi(l, d, 1, &dbi);

	out_op(ORACLE_OP_CREATE, rc, NULL, NULL);
}

static void body(unsigned depth);

/* A child txn: its ops, then commit or abort. */
static void op_child(unsigned depth)
{
	struct level *c = &lv[depth + 1];
	int rc;

	memset(c, 0, sizeof(*c));
	rc = mdb_txn_begin(env, lv[depth].txn, 0, &c->txn);
	out_op(ORACLE_OP_BEGIN, rc, NULL, NULL);
	if (rc)
		return;
	body(depth + 1);
	if (rnd(3) == 0) {
		mdb_txn_abort(c->txn);
		out_op(ORACLE_OP_ABORT, 0, NULL, NULL);
	} else {
		rc = mdb_txn_commit(c->txn);
		out_op(ORACLE_OP_COMMIT, rc, NULL, NULL);
	}
	c->txn = NULL;
	/* The child's cursors died with it, and a drop in it invalidated the
	 * parent's: open new ones. */
	memset(lv[depth].cur, 0, sizeof(lv[depth].cur));
}

/* Extension: a chain of 30 to 37 children below depth (past the tap's
 * 32 tracked levels), writing now and then into the unnamed DBI at the
 * innermost live level, ended from the inside out, sometimes several at
 * once by ending an outer one (LMDB ends its children with it). */
static void op_deep(unsigned depth)
{
	MDB_txn *t[40];
	MDB_dbi main_dbi;
	unsigned n = 30 + rnd2(8), cur;
	int rc, can_put = open_dbi(&lv[depth], 0, 0, &main_dbi) == 0;

	t[0] = lv[depth].txn;
	for (cur = 1; cur <= n; cur++) {
		rc = mdb_txn_begin(env, t[cur - 1], 0, &t[cur]);
		out_op(ORACLE_OP_BEGIN, rc, NULL, NULL);
		if (rc)
			break;
	}
	cur--;
	while (cur >= 1) {
		unsigned j = cur;

		if (can_put && rnd2(3) == 0) {
			char kb[16];
			MDB_val k = { (size_t)snprintf(kb, sizeof(kb), "deep%02u", rnd2(40)), kb };
			MDB_val v = { 1, "v" };

			rc = mdb_put(t[cur], main_dbi, &k, &v, 0);
			out_op(ORACLE_OP_PUT, rc, NULL, NULL);
		}
		if (cur > 1 && rnd2(8) == 0)
			j = 1 + rnd2(cur);
		if (rnd2(3) == 0) {
			mdb_txn_abort(t[j]);
			out_op(ORACLE_OP_ABORT, 0, NULL, NULL);
		} else {
			rc = mdb_txn_commit(t[j]);
			out_op(ORACLE_OP_COMMIT, rc, NULL, NULL);
		}
		cur = j - 1;
	}
	memset(lv[depth].cur, 0, sizeof(lv[depth].cur));
}

static void body(unsigned depth)
{
	struct level *l = &lv[depth];
	unsigned n = rnd(depth ? 6 : 14);

	for (unsigned i = 0; i < n && !prog_done(); i++) {
		unsigned d = rnd(NDBI + 2);
		unsigned r = rnd(100);

		d = d > NDBI ? 0 : d;
		if (verbose)
			fprintf(stderr, "depth %u dbi %u r %u\n", depth, d, r);
		if (ext_on && rnd2(200) == 0)
			op_deep(depth);
		if (r < 22)
			op_put(l, d);
		else if (r < 30)
			op_get(l, d);
		else if (r < 40)
			op_del(l, d);
		else if (r < 55)
			op_cursor_read(l, d, ORACLE_OP_CURSOR_READ);
		else if (r < 70)
			op_cursor_put(l, d);
		else if (r < 82)
			op_cursor_del(l, d);
		else if (r < 85)
			op_drop(depth, d);
		else if (r < 90)
			op_create(l, d);
		else if (depth < MAX_DEPTH && r < 97)
			op_child(depth);
		else
			op_cursor_read(l, d, ORACLE_OP_CURSOR_READ);
	}
}

static uint64_t last_txnid(void)
{
	MDB_envinfo info;
	int rc = mdb_env_info(env, &info);

	if (rc)
		die("mdb_env_info", rc);
	return info.me_last_txnid;
}

static uint64_t journal_head(void)
{
	return journal_ ? journal_load(&journal_header(journal_)->head) : 0;
}

/* Every element of every DBI, read in a read txn. The unnamed DBI's
 * records of named DBIs are DBIs, not elements. */
static void dump(void)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_dbi dbi;
	MDB_val k, v;
	int rc;

	rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc)
		die("dump: txn_begin", rc);
	out_u8(ORACLE_EV_DUMP);
	for (unsigned d = 0; d <= NDBI; d++) {
		char name[8];
		unsigned f = 0;

		if (d == 0) {
			rc = mdb_dbi_open(txn, NULL, 0, &dbi);
		} else {
			dbi_name(d, name);
			rc = mdb_dbi_open(txn, name, 0, &dbi);
			if (rc == 0)
				handles[d] = dbi;
		}
		if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
			continue; /* no such DBI, or a plain record of that name */
		if (rc)
			die("dump: dbi_open", rc);
		mdb_dbi_flags(txn, dbi, &f);
		out_u8(ORACLE_EV_DBI);
		out_u8(d);
		out_i32((int)f);
		rc = mdb_cursor_open(txn, dbi, &c);
		if (rc)
			die("dump: cursor_open", rc);
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (d == 0 && k.mv_size == 2 && ((char *)k.mv_data)[0] == 'd' &&
			    v.mv_size == 48) {
				char n2[3] = { 'd', ((char *)k.mv_data)[1], 0 };
				MDB_dbi sub;

				if (mdb_dbi_open(txn, n2, 0, &sub) == 0)
					continue; /* a named DBI's record */
			}
			out_u8(ORACLE_EV_ELEM);
			out_val(&k);
			out_val(&v);
		}
		if (rc != MDB_NOTFOUND)
			die("dump: cursor_get", rc);
		mdb_cursor_close(c);
	}
	out_u8(ORACLE_EV_DUMP_END);
	/* Commit, not abort: an abort would close the handles it opened. */
	rc = mdb_txn_commit(txn);
	if (rc)
		die("dump: commit", rc);
}

static void side_out(uint64_t a, uint64_t b)
{
	if (fwrite(&a, 8, 1, side) != 1 || fwrite(&b, 8, 1, side) != 1)
		die("write side", errno);
}

static void run(void)
{
	dump();
	while (!prog_done()) {
		uint64_t before, after, h0, h1;
		int rc, commit;

		memset(lv, 0, sizeof(lv));
		memset(top_open, 0, sizeof(top_open));
		rc = mdb_txn_begin(env, NULL, 0, &lv[0].txn);
		out_op(ORACLE_OP_BEGIN, rc, NULL, NULL);
		if (rc)
			die("txn_begin", rc);
		/* LMDB 0.9.24 asserts (root > 1) when a child txn is the first
		 * to use a named DBI in a new txn: use each one here first. */
		for (unsigned d = 1; d <= NDBI; d++) {
			MDB_dbi dbi;
			MDB_stat stat;

			if (open_dbi(&lv[0], d, 0, &dbi) == 0)
				mdb_stat(lv[0].txn, dbi, &stat);
		}
		body(0);
		commit = rnd(5) != 0;
		before = last_txnid();
		h0 = journal_head();
		if (commit) {
			rc = mdb_txn_commit(lv[0].txn);
		} else {
			mdb_txn_abort(lv[0].txn);
			rc = 0;
		}
		h1 = journal_head();
		after = last_txnid();
		if (verbose)
			fprintf(stderr, "top-level %s: rc %d txn ids %llu -> %llu\n",
				commit ? "commit" : "abort", rc, (unsigned long long)before,
				(unsigned long long)after);
		out_u8(commit ? ORACLE_EV_COMMIT : ORACLE_EV_ABORT);
		out_i32(rc);
		out_u64(before);
		out_u64(after);
		side_out(h0, h1);
		if (main_dropped) {
			/* The named DBIs' records may be gone: their handles
			 * must not be used again (LMDB crashes), as a host
			 * that empties the unnamed DBI knows. */
			for (unsigned d = 1; d <= NDBI; d++)
				if (handles[d])
					mdb_dbi_close(env, handles[d]);
			memset(handles, 0, sizeof(handles));
			main_dropped = 0;
		}
		dump();
	}
	out_u8(ORACLE_EV_END);
	out_u64(nops);
}

int main(int argc, char **argv)
{
	char jdir[4200];
	struct stat st;
	FILE *pf;
	long len;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: oracle_child ENVDIR PROGRAM TRACE SIDE\n");
		return 2;
	}
	verbose = getenv("ORACLE_VERBOSE") != NULL;
	pf = fopen(argv[2], "rb");
	if (!pf || fseek(pf, 0, SEEK_END) || (len = ftell(pf)) < 0 || fseek(pf, 0, SEEK_SET))
		die("program file", errno);
	prog = malloc((size_t)len + 1);
	if (!prog || fread((void *)prog, 1, (size_t)len, pf) != (size_t)len)
		die("read program", errno);
	fclose(pf);
	prog_len = (size_t)len;
	ext_seed();
	trace = fopen(argv[3], "wb");
	side = fopen(argv[4], "wb");
	if (!trace || !side)
		die("open trace", errno);

	/* The program's first bytes: the map size and the DBIs' flags. */
	static const unsigned fl[] = { 0, MDB_DUPSORT, MDB_DUPSORT | MDB_DUPFIXED,
				       MDB_INTEGERKEY, MDB_DUPSORT | MDB_INTEGERDUP | MDB_DUPFIXED,
				       MDB_REVERSEKEY, MDB_DUPSORT | MDB_REVERSEDUP,
				       MDB_DUPSORT | MDB_INTEGERKEY };
	size_t mapsize = rnd(8) == 0 ? (1u << 20) : (32u << 20);

	for (unsigned d = 1; d <= NDBI; d++)
		dbi_flags[d] = fl[rnd(sizeof(fl) / sizeof(fl[0]))];
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, NDBI + 2)) ||
	    (rc = mdb_env_set_mapsize(env, mapsize)) ||
	    (rc = mdb_env_open(env, argv[1], MDB_NOSYNC, 0644)))
		die("env open", rc);
	if (journal_companion_dir(argv[1], 0, jdir, sizeof(jdir)) == 0 && stat(jdir, &st) == 0) {
		struct journal_open_opts o = { .writable = 0 };

		if ((rc = journal_open(jdir, &o, &journal_)) != 0)
			die("journal open", rc);
	}
	run();
	journal_close(journal_);
	mdb_env_close(env);
	if (fclose(trace) || fclose(side))
		die("close trace", errno);
	free((void *)prog);
	return 0;
}
