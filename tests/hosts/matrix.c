/* matrix.c: the write-path matrix. Run with the tap preloaded: every LMDB
 * write call and flag, each case on a fresh env, each checked against the
 * exact journal records it must leave (docs/DESIGN.md §1) and against the
 * env's txn ids (every committed id has exactly one record, invariant 2).
 *
 * Prints one line per case and ends with "N passed, N failed".
 */
#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "record.h"

#define MAX_OPS 64
#define MAX_RECS 16

struct xop {
	unsigned type;
	const char *dbi;   /* NULL: the unnamed DBI */
	const char *key;
	size_t klen;
	const char *val;   /* NULL: no value */
	size_t vlen;
};

struct xrec {
	int lossy;         /* the record must say MDBTAP_REC_LOSSY */
	unsigned nops;
	struct xop ops[MAX_OPS];
};

/* What a case expects: committed records in order. */
struct expect {
	unsigned nrecs;
	struct xrec recs[MAX_RECS];
};

static char root[4096];
static char envdir[4200];
static const char *case_name;
static int case_failed;
static int passed, failed;

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", case_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	case_failed = 1;
}

#define CHECK_RC(call, want)                                                       \
	do {                                                                       \
		int rc_ = (call);                                                  \
		if (rc_ != (want))                                                 \
			fail("%s:%d: %s = %d (%s), want %d", __FILE__, __LINE__,   \
			     #call, rc_, mdb_strerror(rc_), (want));               \
	} while (0)
#define OK(call) CHECK_RC(call, 0)

/* Building expectations. */
static struct xrec *new_rec(struct expect *x)
{
	struct xrec *r = &x->recs[x->nrecs++];

	memset(r, 0, sizeof(*r));
	return r;
}

static void add(struct xrec *r, unsigned type, const char *dbi, const char *key,
		const char *val)
{
	struct xop *o = &r->ops[r->nops++];

	o->type = type;
	o->dbi = dbi;
	o->key = key;
	o->klen = key ? strlen(key) : 0;
	o->val = val;
	o->vlen = val ? strlen(val) : 0;
}

static void add_create(struct xrec *r, const char *dbi, uint32_t flags)
{
	struct xop *o = &r->ops[r->nops++];
	static uint32_t store[MAX_RECS * MAX_OPS];
	static unsigned n;

	store[n % (MAX_RECS * MAX_OPS)] = flags;
	o->type = MDBTAP_OP_CREATE;
	o->dbi = dbi;
	o->val = (const char *)&store[n++ % (MAX_RECS * MAX_OPS)];
	o->vlen = 4;
}

static MDB_val V(const char *s)
{
	MDB_val v = { strlen(s), (void *)s };

	return v;
}

/* A fresh env in its own directory. */
static MDB_env *open_env(unsigned flags, size_t mapsize)
{
	MDB_env *env;
	char cmd[8500];

	snprintf(envdir, sizeof(envdir), "%s/%s", root, case_name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s-mdbtap'", envdir, envdir);
	if (system(cmd) != 0)
		fail("cannot clean %s", envdir);
	if (!(flags & MDB_NOSUBDIR) && mkdir(envdir, 0755) != 0)
		fail("mkdir %s: %s", envdir, strerror(errno));
	OK(mdb_env_create(&env));
	OK(mdb_env_set_maxdbs(env, 8));
	OK(mdb_env_set_mapsize(env, mapsize ? mapsize : 64u << 20));
	OK(mdb_env_open(env, envdir, flags | MDB_NOSYNC, 0644));
	{
		/* The unnamed DBI needs one mdb_dbi_open before handle 1 can be
		 * used; an empty commit consumes no txn id. */
		MDB_txn *txn;
		MDB_dbi main_dbi;

		OK(mdb_txn_begin(env, NULL, 0, &txn));
		OK(mdb_dbi_open(txn, NULL, 0, &main_dbi));
		OK(mdb_txn_commit(txn));
	}
	return env;
}

static MDB_dbi open_db(MDB_env *env, const char *name, unsigned flags)
{
	MDB_txn *txn;
	MDB_dbi dbi = 0;

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_dbi_open(txn, name, flags | MDB_CREATE, &dbi));
	OK(mdb_txn_commit(txn));
	return dbi;
}

/* The DBI-creation record open_db leaves. */
static void expect_create(struct expect *x, const char *name, uint32_t flags)
{
	add_create(new_rec(x), name, flags);
}

static const char *op_str(unsigned t) { return record_op_name(t); }

static void print_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		printf(s[i] >= 0x20 && s[i] < 0x7f ? "%c" : "\\x%02x", s[i]);
}

static int same(const void *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Compare the env's journal with x, and check the txn id accounting. */
static void verify(MDB_env *env, const struct expect *x, int nosubdir)
{
	struct journal_open_opts ro = { 0 };
	struct journal_reader rd = { 0 };
	struct journal_entry e;
	struct journal *j;
	char dir[4400];
	MDB_envinfo info;
	uint64_t pos, next_id;
	unsigned got = 0;
	int rc;

	OK(mdb_env_info(env, &info));
	journal_companion_dir(envdir, nosubdir, dir, sizeof(dir));
	rc = journal_open(dir, &ro, &j);
	if (rc) {
		fail("no journal in %s: %s (is the tap preloaded?)", dir, mdbtap_strerror(rc));
		return;
	}
	next_id = journal_header(j)->base_txnid + 1;
	pos = journal_load(&journal_header(j)->tail);
	while ((rc = journal_read(j, pos, &rd, &e)) == 1) {
		struct record_iter it;
		struct record_op op;
		unsigned i = 0;

		pos = e.next;
		if (e.pad || e.state == MDBTAP_STATE_ABORTED)
			continue;
		if (e.state != MDBTAP_STATE_COMMITTED)
			fail("record of txn %llu is in state %u", (unsigned long long)e.hdr.txnid, e.state);
		if (e.hdr.txnid != next_id)
			fail("record has txn id %llu, want %llu (ids must be consecutive)",
			     (unsigned long long)e.hdr.txnid, (unsigned long long)next_id);
		next_id = e.hdr.txnid + 1;
		if (got < x->nrecs && !!(e.hdr.flags & MDBTAP_REC_LOSSY) != x->recs[got].lossy)
			fail("record of txn %llu: lossy is %d", (unsigned long long)e.hdr.txnid,
			     !!(e.hdr.flags & MDBTAP_REC_LOSSY));
		if (got >= x->nrecs) {
			fail("unexpected record %u (txn %llu)", got, (unsigned long long)e.hdr.txnid);
			got++;
			continue;
		}
		const struct xrec *want = &x->recs[got++];

		if (record_iter_init(&it, e.body, e.hdr.body_len, e.hdr.nnames, e.hdr.nops)) {
			fail("corrupt record");
			continue;
		}
		while ((rc = record_iter_next(&it, &op)) == 1) {
			const struct xop *w = i < want->nops ? &want->ops[i] : NULL;
			int name_ok = w && ((!w->dbi && !op.name) ||
					    (w->dbi && op.name && same(w->dbi, strlen(w->dbi), op.name, op.name_len)));

			if (!w || w->type != op.type || !name_ok ||
			    !same(w->key, w->klen, op.key, op.klen) ||
			    !!w->val != !!op.val || (w->val && !same(w->val, w->vlen, op.val, op.vlen))) {
				printf("  record %u op %u: got %s ", got - 1, i, op_str(op.type));
				print_bytes(op.name ? op.name : "-", op.name ? op.name_len : 1);
				printf(" '");
				print_bytes(op.key, op.klen);
				printf("'");
				if (op.val) {
					printf("='");
					print_bytes(op.val, op.vlen);
					printf("'");
				}
				if (w) {
					printf(", want %s %s '%s'", op_str(w->type), w->dbi ? w->dbi : "-",
					       w->key ? w->key : "");
					if (w->val && w->type != MDBTAP_OP_CREATE)
						printf("='%s'", w->val);
				}
				printf("\n");
				fail("record %u differs at op %u", got - 1, i);
			}
			i++;
		}
		if (rc < 0)
			fail("corrupt ops");
		if (i != want->nops)
			fail("record %u has %u ops, want %u", got - 1, i, want->nops);
	}
	if (rc < 0)
		fail("journal read: %s", mdbtap_strerror(rc));
	if (got != x->nrecs)
		fail("%u records, want %u", got, x->nrecs);
	if (next_id - 1 != info.me_last_txnid)
		fail("records account up to txn %llu, the env is at %llu",
		     (unsigned long long)(next_id - 1), (unsigned long long)info.me_last_txnid);
	journal_reader_free(&rd);
	journal_close(j);
}

/* ---- the cases ---- */

static void c_put_plain(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi dbi;
	MDB_txn *txn;
	MDB_val k1 = V("k1"), v1 = V("v1"), k2 = V("k2"), r = { 5, NULL };
	struct xrec *rec;

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_dbi_open(txn, NULL, 0, &dbi));
	OK(mdb_put(txn, dbi, &k1, &v1, 0));
	OK(mdb_put(txn, dbi, &k2, &r, MDB_RESERVE));
	memcpy(r.mv_data, "later", 5); /* the value comes after the call */
	v1 = V("v1");
	OK(mdb_put(txn, dbi, &k1, &v1, 0)); /* the same bytes again still count */
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, NULL, "k1", NULL);
	add(rec, MDBTAP_OP_PUT, NULL, "k2", NULL);
	add(rec, MDBTAP_OP_PUT, NULL, "k1", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_failed_calls(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn;
	MDB_val k = V("k5"), v = V("v5"), other = V("zz"), small = V("a"), missing = V("nope");

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, 1, &k, &v, 0));
	CHECK_RC(mdb_put(txn, 1, &k, &other, MDB_NOOVERWRITE), MDB_KEYEXIST);
	if (other.mv_size != 2 || memcmp(other.mv_data, "v5", 2) != 0)
		fail("NOOVERWRITE must hand back the existing value");
	CHECK_RC(mdb_del(txn, 1, &missing, NULL), MDB_NOTFOUND);
	CHECK_RC(mdb_put(txn, 1, &small, &v, MDB_APPEND), MDB_KEYEXIST);
	CHECK_RC(mdb_put(txn, 1, &k, &v, MDB_CURRENT), EINVAL); /* not for mdb_put */
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "k5", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_append(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn;
	MDB_val v = V("v");
	struct xrec *rec = new_rec(x);
	const char *keys[] = { "a1", "a2", "a3" };

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	for (int i = 0; i < 3; i++) {
		MDB_val k = V(keys[i]);

		OK(mdb_put(txn, 1, &k, &v, MDB_APPEND));
		add(rec, MDBTAP_OP_PUT, NULL, keys[i], NULL);
	}
	OK(mdb_txn_commit(txn));
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_del_plain(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn;
	MDB_val k = V("k"), v = V("v"), wrong = V("not-the-value");
	struct xrec *rec;

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, 1, &k, &v, 0));
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "k", NULL);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_del(txn, 1, &k, &wrong)); /* data is ignored without DUPSORT */
	CHECK_RC(mdb_del(txn, 1, &k, NULL), MDB_NOTFOUND);
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_DEL, NULL, "k", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_dupsort(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi d = open_db(env, "d", MDB_DUPSORT);
	MDB_txn *txn;
	MDB_val a = V("a"), b = V("b"), one = V("1"), two = V("2"), bx = V("x"), by = V("y");
	struct xrec *rec;

	expect_create(x, "d", MDB_DUPSORT);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, d, &a, &one, 0));
	OK(mdb_put(txn, d, &a, &two, 0));
	OK(mdb_put(txn, d, &a, &one, 0)); /* the same pair again: a write */
	CHECK_RC(mdb_put(txn, d, &a, &two, MDB_NODUPDATA), MDB_KEYEXIST);
	OK(mdb_del(txn, d, &a, &one));
	OK(mdb_put(txn, d, &b, &bx, 0));
	OK(mdb_put(txn, d, &b, &by, MDB_APPENDDUP));
	CHECK_RC(mdb_put(txn, d, &b, &bx, MDB_APPENDDUP), MDB_KEYEXIST);
	OK(mdb_del(txn, d, &b, NULL));
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, "d", "a", "1");
	add(rec, MDBTAP_OP_PUT, "d", "a", "2");
	add(rec, MDBTAP_OP_PUT, "d", "a", "1");
	add(rec, MDBTAP_OP_DEL, "d", "a", "1");
	add(rec, MDBTAP_OP_PUT, "d", "b", "x");
	add(rec, MDBTAP_OP_PUT, "d", "b", "y");
	add(rec, MDBTAP_OP_DELALL, "d", "b", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_cursor_plain(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = V("k1"), k2 = V("k2"), v = V("v1"), same = V("w1"), longer = V("a longer value");
	MDB_val gv;
	struct xrec *rec = new_rec(x);

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, 1, &c));
	OK(mdb_cursor_put(c, &k, &v, 0));
	OK(mdb_cursor_put(c, &k2, &v, MDB_NOOVERWRITE));
	CHECK_RC(mdb_cursor_put(c, &k2, &v, MDB_NOOVERWRITE), MDB_KEYEXIST);
	OK(mdb_cursor_get(c, &k, &gv, MDB_SET));
	OK(mdb_cursor_put(c, &k, &same, MDB_CURRENT));   /* same size: in place */
	OK(mdb_cursor_put(c, &k, &longer, MDB_CURRENT)); /* size change: re-inserted */
	OK(mdb_cursor_del(c, 0));
	/* After a delete the cursor sits on the next key: delete it too. */
	OK(mdb_cursor_del(c, 0));
	if (mdb_cursor_del(c, 0) == 0) /* nothing left: LMDB says EINVAL */
		fail("deleted from an empty DBI");
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	add(rec, MDBTAP_OP_PUT, NULL, "k1", NULL);
	add(rec, MDBTAP_OP_PUT, NULL, "k2", NULL);
	add(rec, MDBTAP_OP_PUT, NULL, "k1", NULL);
	add(rec, MDBTAP_OP_PUT, NULL, "k1", NULL);
	add(rec, MDBTAP_OP_DEL, NULL, "k1", NULL);
	add(rec, MDBTAP_OP_DEL, NULL, "k2", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

/* MDB_CURRENT ignores the key argument unless the value's size changes,
 * and then re-inserts under it (LMDB's mdb_cursor_put): the journal
 * must say what LMDB really did. */
static void c_cursor_current_other_key(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val a1 = V("a1"), v = V("v1"), wrong = V("zz"), same = V("v2"), longer = V("longer"),
		got;
	struct xrec *rec;

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, 1, &a1, &v, 0));
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "a1", NULL);

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, 1, &c));
	OK(mdb_cursor_get(c, &a1, &got, MDB_SET));
	OK(mdb_cursor_put(c, &wrong, &same, MDB_CURRENT));
	rec = new_rec(x);
	if (mdb_get(txn, 1, &a1, &got) == 0)
		add(rec, MDBTAP_OP_PUT, NULL, "a1", NULL);
	else
		fail("same-size MDB_CURRENT moved the key");
	OK(mdb_cursor_get(c, &a1, &got, MDB_SET));
	OK(mdb_cursor_put(c, &wrong, &longer, MDB_CURRENT));
	if (mdb_get(txn, 1, &wrong, &got) == 0) {
		add(rec, MDBTAP_OP_DEL, NULL, "a1", NULL);
		add(rec, MDBTAP_OP_PUT, NULL, "zz", NULL);
	} else {
		add(rec, MDBTAP_OP_PUT, NULL, "a1", NULL);
	}
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_cursor_dupsort(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi d = open_db(env, "d", MDB_DUPSORT);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = V("k"), one = V("1"), two = V("2"), three = V("3"), m = V("m");
	struct xrec *rec;

	expect_create(x, "d", MDB_DUPSORT);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, d, &c));
	OK(mdb_cursor_put(c, &k, &one, 0));
	OK(mdb_cursor_put(c, &k, &two, 0));
	OK(mdb_cursor_put(c, &k, &three, MDB_NODUPDATA));
	CHECK_RC(mdb_cursor_put(c, &k, &three, MDB_NODUPDATA), MDB_KEYEXIST);
	OK(mdb_cursor_put(c, &m, &one, 0));
	OK(mdb_cursor_get(c, &k, &two, MDB_GET_BOTH));
	OK(mdb_cursor_del(c, 0));            /* just (k, 2) */
	OK(mdb_cursor_get(c, &k, NULL, MDB_SET));
	OK(mdb_cursor_del(c, MDB_NODUPDATA)); /* every value of k */
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, "d", "k", "1");
	add(rec, MDBTAP_OP_PUT, "d", "k", "2");
	add(rec, MDBTAP_OP_PUT, "d", "k", "3");
	add(rec, MDBTAP_OP_PUT, "d", "m", "1");
	add(rec, MDBTAP_OP_DEL, "d", "k", "2");
	add(rec, MDBTAP_OP_DELALL, "d", "k", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_cursor_multiple(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi f = open_db(env, "f", MDB_DUPSORT | MDB_DUPFIXED);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = V("k");
	char items[] = "aaaabbbbccccdddd";
	MDB_val data[2] = { { 4, items }, { 4, NULL } };
	struct xrec *rec;

	expect_create(x, "f", MDB_DUPSORT | MDB_DUPFIXED);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, f, &c));
	OK(mdb_cursor_put(c, &k, data, MDB_MULTIPLE));
	if (data[1].mv_size != 4)
		fail("MDB_MULTIPLE wrote %zu items", data[1].mv_size);
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, "f", "k", "aaaa");
	add(rec, MDBTAP_OP_PUT, "f", "k", "bbbb");
	add(rec, MDBTAP_OP_PUT, "f", "k", "cccc");
	add(rec, MDBTAP_OP_PUT, "f", "k", "dddd");
	verify(env, x, 0);
	mdb_env_close(env);
}

/* Issue 9, bug 1: MDB_NOOVERWRITE|MDB_NODUPDATA (and |MDB_APPENDDUP) on a
 * key that exists fails before LMDB touches a page: the txn commits with
 * no txn id, so it must leave no record (a record would account for the
 * next writer's id). */
static void c_keyexist_takes_no_id(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi d = open_db(env, "d", MDB_DUPSORT);
	MDB_txn *txn;
	MDB_val k = V("k"), one = V("1"), two = V("2");
	MDB_envinfo before, after;

	expect_create(x, "d", MDB_DUPSORT);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, d, &k, &one, 0));
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, "d", "k", "1");
	OK(mdb_env_info(env, &before));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	CHECK_RC(mdb_put(txn, d, &k, &two, MDB_NOOVERWRITE | MDB_NODUPDATA), MDB_KEYEXIST);
	CHECK_RC(mdb_put(txn, d, &k, &two, MDB_NOOVERWRITE | MDB_APPENDDUP), MDB_KEYEXIST);
	OK(mdb_txn_commit(txn));
	OK(mdb_env_info(env, &after));
	if (after.me_last_txnid != before.me_last_txnid)
		fail("LMDB gave the failed txn an id: the case tests nothing");
	verify(env, x, 0);
	mdb_env_close(env);
}

/* Issue 9, bug 2: MDB_MULTIPLE|MDB_NODUPDATA that fails midway keeps the
 * items before the failure (data[1].mv_size says how many). */
static void c_multiple_partial(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi f = open_db(env, "f", MDB_DUPSORT | MDB_DUPFIXED);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = V("k"), cc = V("cccc");
	char items[] = "aaaabbbbccccdddd";
	MDB_val data[2] = { { 4, items }, { 4, NULL } };
	struct xrec *rec;

	expect_create(x, "f", MDB_DUPSORT | MDB_DUPFIXED);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, f, &k, &cc, 0));
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, "f", "k", "cccc");
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, f, &c));
	CHECK_RC(mdb_cursor_put(c, &k, data, MDB_MULTIPLE | MDB_NODUPDATA), MDB_KEYEXIST);
	if (data[1].mv_size != 2)
		fail("MDB_MULTIPLE kept %zu items, want 2", data[1].mv_size);
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, "f", "k", "aaaa");
	add(rec, MDBTAP_OP_PUT, "f", "k", "bbbb");
	verify(env, x, 0);
	mdb_env_close(env);
}

/* Issue 9, bug 3: mdb_del with the key a cursor gave, pointing into a page
 * that the delete changes (delete while iterating). */
static void c_del_key_from_cursor(struct expect *x)
{
	static const char *const keys[] = { "key01", "key02", "key03", "key04", "key05",
					    "key06", "key07", "key08" };
	MDB_env *env = open_env(0, 0);
	MDB_dbi p = open_db(env, "p", 0);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v = V("value");
	struct xrec *rec;
	int rc;

	expect_create(x, "p", 0);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	rec = new_rec(x);
	for (int i = 0; i < 8; i++) {
		k = V(keys[i]);
		OK(mdb_put(txn, p, &k, &v, 0));
		add(rec, MDBTAP_OP_PUT, "p", keys[i], NULL);
	}
	OK(mdb_txn_commit(txn));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, p, &c));
	rec = new_rec(x);
	for (rc = mdb_cursor_get(c, &k, NULL, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, NULL, MDB_NEXT)) {
		add(rec, MDBTAP_OP_DEL, "p", keys[rec->nops], NULL);
		OK(mdb_del(txn, p, &k, NULL));
	}
	CHECK_RC(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	verify(env, x, 0);
	mdb_env_close(env);
}

/* Issue 9, bug 4: cursor_del leaves the cursor on the next item (LMDB's
 * C_DEL): the tap's look at the cursor must not change what the host's
 * next call returns. Three deletes from (a,1) of a:{1,2} b:{1,2}, then
 * MDB_NEXT_DUP: MDB_NOTFOUND in LMDB. */
static void c_cursor_del_state(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi d = open_db(env, "d", MDB_DUPSORT);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val a = V("a"), b = V("b"), one = V("1"), two = V("2"), k, v;
	struct xrec *rec;

	expect_create(x, "d", MDB_DUPSORT);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, d, &a, &one, 0));
	OK(mdb_put(txn, d, &a, &two, 0));
	OK(mdb_put(txn, d, &b, &one, 0));
	OK(mdb_put(txn, d, &b, &two, 0));
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, "d", "a", "1");
	add(rec, MDBTAP_OP_PUT, "d", "a", "2");
	add(rec, MDBTAP_OP_PUT, "d", "b", "1");
	add(rec, MDBTAP_OP_PUT, "d", "b", "2");
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, d, &c));
	OK(mdb_cursor_get(c, &a, &v, MDB_SET));
	OK(mdb_cursor_del(c, 0));
	OK(mdb_cursor_del(c, 0));
	OK(mdb_cursor_del(c, 0));
	CHECK_RC(mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP), MDB_NOTFOUND);
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_DEL, "d", "a", "1");
	add(rec, MDBTAP_OP_DEL, "d", "a", "2");
	add(rec, MDBTAP_OP_DEL, "d", "b", "1");
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_drop(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi d = open_db(env, "x", 0), d2;
	MDB_txn *txn;
	MDB_val k = V("k"), v = V("v");
	struct xrec *rec;

	expect_create(x, "x", 0);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, d, &k, &v, 0));
	OK(mdb_drop(txn, d, 0));
	OK(mdb_put(txn, d, &v, &v, 0));
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, "x", "k", NULL);
	add(rec, MDBTAP_OP_DROP, "x", NULL, NULL);
	add(rec, MDBTAP_OP_PUT, "x", "v", NULL);

	/* Delete "x", then create "y" in the same txn: LMDB may hand out the
	 * same handle number; the journal must keep the names apart. */
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_drop(txn, d, 1));
	OK(mdb_dbi_open(txn, "y", MDB_CREATE, &d2));
	OK(mdb_put(txn, d2, &k, &v, 0));
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_DELETE_DBI, "x", NULL, NULL);
	add_create(rec, "y", 0);
	add(rec, MDBTAP_OP_PUT, "y", "k", NULL);

	/* The unnamed DBI: del=1 only empties it. */
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, 1, &k, &v, 0));
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "k", NULL);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_drop(txn, 1, 1));
	OK(mdb_txn_commit(txn));
	/* It held y's record too: y is gone unless written again in the
	 * txn (issue 9, bug 9), so y may have changed anywhere. */
	rec = new_rec(x);
	add(rec, MDBTAP_OP_DROP, NULL, NULL, NULL);
	add(rec, MDBTAP_OP_DIRTY, "y", NULL, NULL);

	/* Emptying an empty DBI still commits (LMDB marks it dirty). */
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_drop(txn, d2, 0));
	OK(mdb_drop(txn, d2, 0));
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_DROP, "y", NULL, NULL);
	add(rec, MDBTAP_OP_DROP, "y", NULL, NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_create_only(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn;
	MDB_dbi d;
	MDB_envinfo before, after;

	open_db(env, "new", MDB_INTEGERKEY);
	expect_create(x, "new", MDB_INTEGERKEY);
	/* Opening it again with MDB_CREATE creates nothing: no record, and
	 * the commit consumes no txn id. */
	OK(mdb_env_info(env, &before));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_dbi_open(txn, "new", MDB_CREATE | MDB_INTEGERKEY, &d));
	OK(mdb_txn_commit(txn));
	OK(mdb_env_info(env, &after));
	if (after.me_last_txnid != before.me_last_txnid)
		fail("re-opening a DBI consumed a txn id");
	/* A read txn opening it records nothing either. */
	OK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	OK(mdb_dbi_open(txn, "new", 0, &d));
	mdb_txn_abort(txn);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_main_flags(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn;
	MDB_dbi d;

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_dbi_open(txn, NULL, MDB_REVERSEKEY, &d));
	OK(mdb_txn_commit(txn));
	add_create(new_rec(x), NULL, MDB_REVERSEKEY);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void put1(MDB_txn *txn, const char *key)
{
	MDB_val k = V(key), v = V("v");

	OK(mdb_put(txn, 1, &k, &v, 0));
}

static void c_nested(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *top, *c1, *c2, *c3, *g, *c4;
	struct xrec *rec;

	OK(mdb_txn_begin(env, NULL, 0, &top));
	put1(top, "a");
	OK(mdb_txn_begin(env, top, 0, &c1));
	put1(c1, "b");
	OK(mdb_txn_commit(c1));             /* kept */
	OK(mdb_txn_begin(env, top, 0, &c2));
	put1(c2, "c");
	mdb_txn_abort(c2);                  /* gone */
	OK(mdb_txn_begin(env, top, 0, &c3));
	put1(c3, "d");
	OK(mdb_txn_begin(env, c3, 0, &g));
	put1(g, "e");
	OK(mdb_txn_commit(g));              /* into c3 ... */
	mdb_txn_abort(c3);                  /* ... which is gone */
	OK(mdb_txn_begin(env, top, 0, &c4));
	put1(c4, "f");
	OK(mdb_txn_commit(top));            /* LMDB commits the open c4 */
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, NULL, "a", NULL);
	add(rec, MDBTAP_OP_PUT, NULL, "b", NULL);
	add(rec, MDBTAP_OP_PUT, NULL, "f", NULL);

	/* A parent aborted with a child open: nothing. */
	OK(mdb_txn_begin(env, NULL, 0, &top));
	put1(top, "x");
	OK(mdb_txn_begin(env, top, 0, &c1));
	put1(c1, "y");
	mdb_txn_abort(top);

	/* A child whose parent only commits it: the parent's record. */
	OK(mdb_txn_begin(env, NULL, 0, &top));
	OK(mdb_txn_begin(env, top, 0, &c1));
	put1(c1, "z");
	OK(mdb_txn_commit(c1));
	OK(mdb_txn_commit(top));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "z", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_abort_empty_readonly(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn;
	MDB_envinfo before, after;
	MDB_val k = V("a"), v;

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	put1(txn, "a");
	mdb_txn_abort(txn);
	OK(mdb_env_info(env, &before));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_txn_commit(txn)); /* empty: no txn id, no record */
	OK(mdb_env_info(env, &after));
	if (before.me_last_txnid != after.me_last_txnid)
		fail("an empty commit consumed a txn id");
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	put1(txn, "b");
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "b", NULL);
	OK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	CHECK_RC(mdb_put(txn, 1, &k, &k, 0), EACCES);
	CHECK_RC(mdb_get(txn, 1, &k, &v), MDB_NOTFOUND);
	OK(mdb_txn_commit(txn));
	mdb_txn_abort(NULL); /* legal, and a no-op */
	verify(env, x, 0);
	mdb_env_close(env);
}

/* A put fails with MDB_MAP_FULL: the txn can only fail to commit, and its
 * record must not be counted as committed. */
static void c_failed_commit(struct expect *x)
{
	MDB_env *env = open_env(0, 64 << 10);
	MDB_txn *txn;
	char big[2000], key[16];
	MDB_val v = { sizeof(big), big };
	int rc = 0, i;

	memset(big, 'x', sizeof(big));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	put1(txn, "first");
	for (i = 0; i < 1000 && rc == 0; i++) {
		MDB_val k = { (size_t)snprintf(key, sizeof(key), "k%04d", i), key };

		rc = mdb_put(txn, 1, &k, &v, 0);
	}
	CHECK_RC(rc, MDB_MAP_FULL);
	if (mdb_txn_commit(txn) == 0)
		fail("a commit after MDB_MAP_FULL succeeded");
	/* The env goes on: a small txn commits and is journaled. */
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	put1(txn, "after");
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "after", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static void c_nosubdir(struct expect *x)
{
	MDB_env *env = open_env(MDB_NOSUBDIR, 0);
	MDB_txn *txn;

	OK(mdb_txn_begin(env, NULL, 0, &txn));
	put1(txn, "k");
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "k", NULL);
	verify(env, x, 1);
	mdb_env_close(env);
}

static void c_binary_keys(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi d = open_db(env, "bin", MDB_DUPSORT);
	MDB_txn *txn;
	static const char key[] = { 0, (char)0xff, '\n', '"', 0 };
	static const char val[] = { (char)0x80, 0 };
	MDB_val k = { sizeof(key), (void *)key }, v = { sizeof(val), (void *)val };
	struct xrec *rec;

	expect_create(x, "bin", MDB_DUPSORT);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, d, &k, &v, 0));
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, "bin", NULL, NULL);
	rec->ops[0].key = key;
	rec->ops[0].klen = sizeof(key);
	rec->ops[0].val = val;
	rec->ops[0].vlen = sizeof(val);
	verify(env, x, 0);
	mdb_env_close(env);
}

/* Nesting deeper than the tap tracks: the record says it is lossy (the
 * syncer rescans), and still lists what the tracked levels wrote. */
static void c_deep_nesting(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn[40];
	char key[8];
	struct xrec *rec = new_rec(x);
	static char keys[40][8];

	OK(mdb_txn_begin(env, NULL, 0, &txn[0]));
	for (int i = 1; i < 40; i++)
		OK(mdb_txn_begin(env, txn[i - 1], 0, &txn[i]));
	for (int i = 39; i >= 1; i--) {
		snprintf(key, sizeof(key), "k%02d", i);
		put1(txn[i], key);
		OK(mdb_txn_commit(txn[i]));
	}
	OK(mdb_txn_commit(txn[0]));
	rec->lossy = 1;
	/* The tap tracks 32 levels (0..31): the keys of levels 31..1. */
	for (int i = 31; i >= 1; i--) {
		snprintf(keys[i], sizeof(keys[i]), "k%02d", i);
		add(rec, MDBTAP_OP_PUT, NULL, keys[i], NULL);
	}
	verify(env, x, 0);
	mdb_env_close(env);
}

/* A txn that takes no txn id must leave no record (it would account for
 * the next writer's id): the case fails itself if LMDB gave it one. */
static void expect_no_id(MDB_env *env, const MDB_envinfo *before)
{
	MDB_envinfo after;

	OK(mdb_env_info(env, &after));
	if (after.me_last_txnid != before->me_last_txnid)
		fail("LMDB gave the txn an id: the case tests nothing");
}

/* MDB_MULTIPLE with a NULL key: EINVAL before LMDB sets data[1] (the
 * host's count stays there): nothing written, no record. */
static void c_multiple_null_key(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi f = open_db(env, "f", MDB_DUPSORT | MDB_DUPFIXED);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_envinfo before;
	char items[] = "aaaabbbbcccc";
	MDB_val data[2] = { { 4, items }, { 3, NULL } };

	expect_create(x, "f", MDB_DUPSORT | MDB_DUPFIXED);
	OK(mdb_env_info(env, &before));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, f, &c));
	CHECK_RC(mdb_cursor_put(c, NULL, data, MDB_MULTIPLE), EINVAL);
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	expect_no_id(env, &before);
	verify(env, x, 0);
	mdb_env_close(env);
}

/* MDB_MULTIPLE|MDB_CURRENT|MDB_APPENDDUP: LMDB returns 0 and its effect is
 * not defined; the tap says the DBI may have changed (DIRTY), never a
 * delete of one element and a put of another. */
static void c_multiple_current(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi f = open_db(env, "f", MDB_DUPSORT | MDB_DUPFIXED);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = V("x"), v;
	char items[] = "5555666677771111222233334444";
	MDB_val data[2] = { { 4, items }, { 3, NULL } };
	struct xrec *rec;

	expect_create(x, "f", MDB_DUPSORT | MDB_DUPFIXED);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	rec = new_rec(x);
	for (int i = 0; i < 4; i++) {
		v.mv_size = 4;
		v.mv_data = items + 12 + 4 * i;
		OK(mdb_put(txn, f, &k, &v, 0));
	}
	add(rec, MDBTAP_OP_PUT, "f", "x", "1111");
	add(rec, MDBTAP_OP_PUT, "f", "x", "2222");
	add(rec, MDBTAP_OP_PUT, "f", "x", "3333");
	add(rec, MDBTAP_OP_PUT, "f", "x", "4444");
	OK(mdb_txn_commit(txn));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_cursor_open(txn, f, &c));
	v = V("2222");
	OK(mdb_cursor_get(c, &k, &v, MDB_GET_BOTH));
	k = V("x");
	OK(mdb_cursor_put(c, &k, data, MDB_MULTIPLE | MDB_CURRENT | MDB_APPENDDUP));
	mdb_cursor_close(c);
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_DIRTY, "f", NULL, NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

/* Children beyond the tracked depth that wrote nothing, or whose writes
 * were aborted: the txn takes no id when nothing else wrote (no record),
 * and is not lossy when a tracked level wrote. */
static void c_deep_nesting_no_write(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_txn *txn[40];
	MDB_envinfo before;

	/* 33 children: the deepest aborted, the others committed. */
	OK(mdb_env_info(env, &before));
	OK(mdb_txn_begin(env, NULL, 0, &txn[0]));
	for (int i = 1; i <= 33; i++)
		OK(mdb_txn_begin(env, txn[i - 1], 0, &txn[i]));
	mdb_txn_abort(txn[33]);
	for (int i = 32; i >= 1; i--)
		OK(mdb_txn_commit(txn[i]));
	OK(mdb_txn_commit(txn[0]));
	expect_no_id(env, &before);
	/* 36 children, none writes, all committed. */
	OK(mdb_txn_begin(env, NULL, 0, &txn[0]));
	for (int i = 1; i <= 36; i++)
		OK(mdb_txn_begin(env, txn[i - 1], 0, &txn[i]));
	for (int i = 36; i >= 1; i--)
		OK(mdb_txn_commit(txn[i]));
	OK(mdb_txn_commit(txn[0]));
	expect_no_id(env, &before);
	/* Writes at levels 35 and 34 aborted by the abort of level 33, a
	 * write at level 1 kept; the top commits with live children (LMDB
	 * commits them with it: none wrote). */
	OK(mdb_txn_begin(env, NULL, 0, &txn[0]));
	for (int i = 1; i <= 35; i++)
		OK(mdb_txn_begin(env, txn[i - 1], 0, &txn[i]));
	put1(txn[35], "deep35");
	OK(mdb_txn_commit(txn[35]));
	put1(txn[34], "deep34");
	mdb_txn_abort(txn[33]);
	for (int i = 32; i >= 2; i--)
		OK(mdb_txn_commit(txn[i]));
	put1(txn[1], "k01");
	OK(mdb_txn_begin(env, txn[1], 0, &txn[2]));
	OK(mdb_txn_commit(txn[0]));
	add(new_rec(x), MDBTAP_OP_PUT, NULL, "k01", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static int reverse_cmp(const MDB_val *a, const MDB_val *b)
{
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = memcmp(b->mv_data, a->mv_data, n);

	return c ? c : (a->mv_size > b->mv_size) - (a->mv_size < b->mv_size);
}

/* A comparator of the host's own (mdb_set_compare, mdb_set_dupsort):
 * each record that lists the DBI ends with ORDER for it; a DBI without
 * one, or a txn that only sets one, gets none. */
static void c_own_order(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi c = open_db(env, "c", 0), d = open_db(env, "d", MDB_DUPSORT), p = open_db(env, "p", 0);
	MDB_txn *txn;
	MDB_val k = V("k"), v = V("v");
	MDB_envinfo before;
	struct xrec *rec;

	expect_create(x, "c", 0);
	expect_create(x, "d", MDB_DUPSORT);
	expect_create(x, "p", 0);
	OK(mdb_env_info(env, &before));
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_set_compare(txn, c, reverse_cmp));
	OK(mdb_set_dupsort(txn, d, reverse_cmp));
	OK(mdb_txn_commit(txn));
	expect_no_id(env, &before);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_set_compare(txn, c, reverse_cmp));
	OK(mdb_set_dupsort(txn, d, reverse_cmp));
	OK(mdb_put(txn, c, &k, &v, 0));
	OK(mdb_put(txn, p, &k, &v, 0));
	OK(mdb_put(txn, d, &k, &v, 0));
	OK(mdb_txn_commit(txn));
	rec = new_rec(x);
	add(rec, MDBTAP_OP_PUT, "c", "k", NULL);
	add(rec, MDBTAP_OP_PUT, "p", "k", NULL);
	add(rec, MDBTAP_OP_PUT, "d", "k", "v");
	add(rec, MDBTAP_OP_ORDER, "d", NULL, NULL); /* names newest first */
	add(rec, MDBTAP_OP_ORDER, "c", NULL, NULL);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_put(txn, p, &k, &k, 0));
	OK(mdb_txn_commit(txn));
	add(new_rec(x), MDBTAP_OP_PUT, "p", "k", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

/* Handles closed and reopened: names stay right. */
static void c_dbi_close_reopen(struct expect *x)
{
	MDB_env *env = open_env(0, 0);
	MDB_dbi a = open_db(env, "a", 0), b;
	MDB_txn *txn;
	MDB_val k = V("k");

	expect_create(x, "a", 0);
	mdb_dbi_close(env, a);
	b = open_db(env, "b", MDB_DUPSORT); /* may reuse a's number */
	expect_create(x, "b", MDB_DUPSORT);
	OK(mdb_txn_begin(env, NULL, 0, &txn));
	OK(mdb_dbi_open(txn, "a", 0, &a));
	OK(mdb_put(txn, b, &k, &k, 0));
	OK(mdb_put(txn, a, &k, &k, 0));
	OK(mdb_txn_commit(txn));
	struct xrec *rec = new_rec(x);

	add(rec, MDBTAP_OP_PUT, "b", "k", "k");
	add(rec, MDBTAP_OP_PUT, "a", "k", NULL);
	verify(env, x, 0);
	mdb_env_close(env);
}

static const struct {
	const char *name;
	void (*run)(struct expect *x);
} cases[] = {
	{ "put_plain", c_put_plain },
	{ "failed_calls", c_failed_calls },
	{ "keyexist_takes_no_id", c_keyexist_takes_no_id },
	{ "multiple_partial", c_multiple_partial },
	{ "del_key_from_cursor", c_del_key_from_cursor },
	{ "cursor_del_state", c_cursor_del_state },
	{ "append", c_append },
	{ "del_plain", c_del_plain },
	{ "dupsort", c_dupsort },
	{ "cursor_plain", c_cursor_plain },
	{ "cursor_current_other_key", c_cursor_current_other_key },
	{ "cursor_dupsort", c_cursor_dupsort },
	{ "cursor_multiple", c_cursor_multiple },
	{ "drop", c_drop },
	{ "create_only", c_create_only },
	{ "main_flags", c_main_flags },
	{ "nested", c_nested },
	{ "abort_empty_readonly", c_abort_empty_readonly },
	{ "failed_commit", c_failed_commit },
	{ "nosubdir", c_nosubdir },
	{ "binary_keys", c_binary_keys },
	{ "deep_nesting", c_deep_nesting },
	{ "dbi_close_reopen", c_dbi_close_reopen },
	{ "multiple_null_key", c_multiple_null_key },
	{ "multiple_current", c_multiple_current },
	{ "deep_nesting_no_write", c_deep_nesting_no_write },
	{ "own_order", c_own_order },
};

int main(int argc, char **argv)
{
	const char *tmp = getenv("MDBTAP_TEST_TMP");
	char cmd[8300];

	snprintf(root, sizeof(root), "%s", tmp ? tmp : "/tmp/mdbtap-matrix");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", root, root);
	if (system(cmd) != 0)
		return 2;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct expect x;

		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		memset(&x, 0, sizeof(x));
		case_name = cases[i].name;
		case_failed = 0;
		cases[i].run(&x);
		printf("%s %s\n", case_failed ? "not ok" : "ok", case_name);
		if (case_failed)
			failed++;
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed || !passed ? 1 : 0;
}
