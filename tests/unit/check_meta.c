/* check_meta.c: element metadata and DBI digests (syncer/meta.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta.h"
#include "unit.h"

static char dir[4096];
static struct meta *m;

static void setup(void)
{
	ck_assert_int_eq(testlib_fresh_dir(dir, sizeof(dir), "/tmp/mdbtap-check-meta"), 0);
	ck_assert_int_eq(meta_open(dir, &m), 0);
}

static void teardown(void)
{
	meta_close(m);
}

static MDB_val V(const char *s)
{
	return (MDB_val){ strlen(s), (void *)s };
}

/* Put elements k0..kn-1 in the given order into DBI name; return its digest. */
static void put_all(const char *name, unsigned flags, const int *order, int n,
		    uint8_t digest[16])
{
	struct meta_handles h;
	struct meta_dbi d;
	MDB_txn *txn;
	char key[16], val[16];

	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, 0, &txn), 0);
	ck_assert_int_eq(meta_dbi_open(txn, m, name, strlen(name), flags, 1, &h), 0);
	ck_assert_int_eq(meta_dbi_get(txn, m, name, strlen(name), &d), 0);
	for (int i = 0; i < n; i++) {
		struct meta_elem e = { .ts = 1000 + (uint64_t)order[i] };
		MDB_val k, v;

		snprintf(key, sizeof(key), "k%d", order[i]);
		snprintf(val, sizeof(val), "v%d", order[i] % 3);
		k = V(key);
		v = V(val);
		meta_hash(val, strlen(val), e.hash);
		ck_assert_int_eq(meta_elem_put(txn, &h, &d, &k, h.dupsort ? &v : NULL, NULL, &e, 0), 0);
	}
	ck_assert_int_eq(meta_dbi_put(txn, m, name, strlen(name), &d), 0);
	ck_assert_uint_eq(d.count, (uint64_t)n);
	memcpy(digest, d.digest, 16);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

START_TEST(digest_ignores_order)
{
	int fwd[50], rev[50];
	uint8_t a[16], b[16], zero[16] = { 0 };

	for (int i = 0; i < 50; i++) {
		fwd[i] = i;
		rev[i] = 49 - i;
	}
	put_all("a", 0, fwd, 50, a);
	put_all("b", 0, rev, 50, b);
	ck_assert_mem_eq(a, b, 16);
	ck_assert(memcmp(a, zero, 16) != 0);
	put_all("c", MDB_DUPSORT, fwd, 50, a);
	put_all("d", MDB_DUPSORT, rev, 50, b);
	ck_assert_mem_eq(a, b, 16);
}
END_TEST

/* Changing an element and changing it back restores the digest, and
 * the digest sees timestamps and deletion. */
START_TEST(digest_follows_changes)
{
	struct meta_handles h;
	struct meta_dbi d = { 0 };
	struct meta_elem e1 = { .ts = 5 }, e2 = { .ts = 6 }, e3 = { .ts = 6, .flags = META_DELETED },
			 got;
	MDB_val k = V("key");
	uint8_t before[16], after[16];
	MDB_txn *txn;

	meta_hash("x", 1, e1.hash);
	memcpy(e2.hash, e1.hash, 16);
	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, 0, &txn), 0);
	ck_assert_int_eq(meta_dbi_open(txn, m, NULL, 0, 0, 1, &h), 0);
	ck_assert_int_eq(meta_elem_put(txn, &h, &d, &k, NULL, NULL, &e1, 1), 0);
	memcpy(before, d.digest, 16);
	ck_assert_int_eq(meta_elem_put(txn, &h, &d, &k, NULL, &e1, &e2, 0), 0);
	memcpy(after, d.digest, 16);
	ck_assert(memcmp(before, after, 16) != 0); /* the timestamp counts */
	ck_assert_int_eq(meta_elem_put(txn, &h, &d, &k, NULL, &e2, &e3, 0), 0);
	ck_assert(memcmp(after, d.digest, 16) != 0); /* so does deletion */
	ck_assert_int_eq(meta_elem_put(txn, &h, &d, &k, NULL, &e3, &e1, 0), 0);
	ck_assert_mem_eq(before, d.digest, 16);
	ck_assert_uint_eq(d.count, 1);
	ck_assert_int_eq(meta_elem_get(txn, &h, &k, NULL, &got), 0);
	ck_assert_uint_eq(got.ts, 5);
	ck_assert_int_eq(got.flags, 0);
	ck_assert_int_eq(meta_elem_get(txn, &h, &(MDB_val){ 1, "z" }, NULL, &got), MDB_NOTFOUND);
	mdb_txn_abort(txn);
}
END_TEST

/* DUPSORT elements are (key, value) pairs, each with its own metadata. */
START_TEST(dupsort_pairs_are_separate)
{
	struct meta_handles h;
	struct meta_dbi d = { 0 };
	struct meta_elem e1 = { .ts = 1 }, e2 = { .ts = 2, .flags = META_DELETED }, got;
	MDB_val k = V("k"), v1 = V("one"), v2 = V("two");
	MDB_txn *txn;

	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, 0, &txn), 0);
	ck_assert_int_eq(meta_dbi_open(txn, m, "dup", 3, MDB_DUPSORT, 1, &h), 0);
	ck_assert_int_eq(h.dupsort, 1);
	ck_assert_int_eq(meta_elem_put(txn, &h, &d, &k, &v1, NULL, &e1, 0), 0);
	ck_assert_int_eq(meta_elem_put(txn, &h, &d, &k, &v2, NULL, &e2, 0), 0);
	ck_assert_int_eq(meta_elem_get(txn, &h, &k, &v1, &got), 0);
	ck_assert_uint_eq(got.ts, 1);
	ck_assert_int_eq(meta_elem_get(txn, &h, &k, &v2, &got), 0);
	ck_assert_uint_eq(got.ts, 2);
	ck_assert_int_eq(got.flags, META_DELETED);
	ck_assert_int_eq(meta_elem_get(txn, &h, &k, &(MDB_val){ 3, "six" }, &got), MDB_NOTFOUND);
	ck_assert_uint_eq(d.count, 2);
	mdb_txn_abort(txn);
}
END_TEST

/* Forgetting an element (a swept tombstone) takes it out of the DBI as if
 * it had never been put: count, digest, lookups, the DUPSORT mirror. */
static void forget_one(unsigned flags)
{
	static const int five[] = { 0, 1, 2, 3, 4 }, six[] = { 0, 1, 2, 3, 4, 5 };
	uint8_t want[16], have[16];
	struct meta_handles h;
	struct meta_dbi d;
	struct meta_elem e;
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k = V("k5"), v = V("v2"), ck, cv;

	put_all("five", flags, five, 5, want);
	put_all("six", flags, six, 6, have);
	ck_assert_mem_ne(want, have, 16);
	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, 0, &txn), 0);
	ck_assert_int_eq(meta_dbi_open(txn, m, "six", 3, 0, 0, &h), 0);
	ck_assert_int_eq(meta_dbi_get(txn, m, "six", 3, &d), 0);
	ck_assert_int_eq(meta_elem_get(txn, &h, &k, h.dupsort ? &v : NULL, &e), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, h.dupsort ? h.vals : h.elems, &cur), 0);
	ck = k;
	cv = v;
	ck_assert_int_eq(mdb_cursor_get(cur, &ck, &cv, h.dupsort ? MDB_GET_BOTH : MDB_SET), 0);
	ck_assert_int_eq(meta_elem_forget(cur, &h, &d, &ck, h.dupsort ? &cv : NULL, &e), 0);
	mdb_cursor_close(cur);
	ck_assert_uint_eq(d.count, 5);
	ck_assert_mem_eq(d.digest, want, 16);
	ck_assert_int_eq(meta_elem_get(txn, &h, &k, h.dupsort ? &v : NULL, &e), MDB_NOTFOUND);
	if (h.dupsort) {
		ck = k;
		cv = v;
		ck_assert_int_eq(mdb_cursor_open(txn, h.vals, &cur), 0);
		ck_assert_int_eq(mdb_cursor_get(cur, &ck, &cv, MDB_GET_BOTH), MDB_NOTFOUND);
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
}

START_TEST(forget_undoes_put)
{
	forget_one(0);
}
END_TEST

START_TEST(forget_undoes_put_dupsort)
{
	forget_one(MDB_DUPSORT);
}
END_TEST

START_TEST(state_and_remote_progress_persist)
{
	struct meta_state st = { .generation = 42, .accounted = 7 }, got;
	struct meta_remote r = { 9, 10, 11 }, rg;
	MDB_txn *txn;

	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, 0, &txn), 0);
	ck_assert_int_eq(meta_state_get(txn, m, &got), 0);
	ck_assert_uint_eq(got.generation, 0); /* a new meta env */
	ck_assert_int_eq(meta_state_put(txn, m, &st), 0);
	ck_assert_int_eq(meta_remote_get(txn, m, "b", &rg), MDB_NOTFOUND);
	ck_assert_int_eq(meta_remote_put(txn, m, "b", &r), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	meta_close(m);
	ck_assert_int_eq(meta_open(dir, &m), 0);
	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(meta_state_get(txn, m, &got), 0);
	ck_assert_uint_eq(got.generation, 42);
	ck_assert_uint_eq(got.accounted, 7);
	ck_assert_int_eq(meta_remote_get(txn, m, "b", &rg), 0);
	ck_assert_uint_eq(rg.to, 10);
	mdb_txn_abort(txn);
}
END_TEST

struct seen_dbi {
	int n, old_ok, long_ok, new_ok, newlong_ok;
};

static int see_dbi(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	struct seen_dbi *s = ctx;

	s->n++;
	if (len == 3 && !memcmp(name, "old", 3))
		s->old_ok = d->flags == MDB_DUPSORT && d->count == 5 && d->epoch == 0 &&
			    d->prev_epoch == 0;
	else if (len == 500 && name[0] == 'L')
		s->long_ok = d->flags == MDB_INTEGERKEY && d->count == 6 && d->epoch == 0;
	else if (len == 3 && !memcmp(name, "new", 3))
		s->new_ok = d->epoch == 77 && d->prev_epoch == 66 && d->count == 2;
	else if (len == 500 && name[0] == 'N')
		s->newlong_ok = d->epoch == 99 && d->prev_epoch == 88 && d->count == 3;
	return 0;
}

/* A DBI record written before the shape epochs were added (32 bytes, a
 * long name's after them) reads as epochs 0, its name intact; a new one
 * keeps its epochs, long name or not. */
START_TEST(old_dbi_records_read_as_epoch_0)
{
	char lname[500], nname[500], key[40];
	uint8_t rec[32 + 500] = { 0 }, h[16];
	struct meta_dbi d, nd = { .count = 2, .epoch = 77, .prev_epoch = 66 };
	struct seen_dbi seen = { 0 };
	uint32_t flags;
	uint64_t count;
	MDB_dbi dbis;
	MDB_txn *txn;
	MDB_val k, v;

	memset(lname, 'L', sizeof(lname));
	memset(nname, 'N', sizeof(nname));
	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "dbis", 0, &dbis), 0);
	flags = MDB_DUPSORT; /* the old layout: flags, exists, count, digest */
	count = 5;
	memcpy(rec, &flags, 4);
	memcpy(rec + 8, &count, 8);
	k = V("=old");
	v = (MDB_val){ 32, rec };
	ck_assert_int_eq(mdb_put(txn, dbis, &k, &v, 0), 0);
	flags = MDB_INTEGERKEY;
	count = 6;
	memcpy(rec, &flags, 4);
	memcpy(rec + 8, &count, 8);
	memcpy(rec + 32, lname, sizeof(lname));
	meta_hash(lname, sizeof(lname), h);
	key[0] = '#';
	for (int i = 0; i < 16; i++)
		snprintf(key + 1 + 2 * i, 3, "%02x", h[i]);
	k = (MDB_val){ 33, key };
	v = (MDB_val){ 32 + sizeof(lname), rec };
	ck_assert_int_eq(mdb_put(txn, dbis, &k, &v, 0), 0);
	ck_assert_int_eq(meta_dbi_put(txn, m, "new", 3, &nd), 0);
	nd = (struct meta_dbi){ .count = 3, .epoch = 99, .prev_epoch = 88 };
	ck_assert_int_eq(meta_dbi_put(txn, m, nname, sizeof(nname), &nd), 0);

	ck_assert_int_eq(meta_dbi_get(txn, m, "old", 3, &d), 0);
	ck_assert_uint_eq(d.flags, MDB_DUPSORT);
	ck_assert_uint_eq(d.count, 5);
	ck_assert_uint_eq(d.epoch, 0);
	ck_assert_uint_eq(d.prev_epoch, 0);
	ck_assert_int_eq(meta_dbi_get(txn, m, lname, sizeof(lname), &d), 0);
	ck_assert_uint_eq(d.flags, MDB_INTEGERKEY);
	ck_assert_uint_eq(d.count, 6);
	ck_assert_uint_eq(d.epoch, 0);
	ck_assert_int_eq(meta_dbi_get(txn, m, "new", 3, &d), 0);
	ck_assert_uint_eq(d.epoch, 77);
	ck_assert_uint_eq(d.prev_epoch, 66);
	ck_assert_int_eq(meta_dbi_get(txn, m, nname, sizeof(nname), &d), 0);
	ck_assert_uint_eq(d.epoch, 99);
	ck_assert_uint_eq(d.prev_epoch, 88);
	ck_assert_int_eq(meta_dbi_each(txn, m, see_dbi, &seen), 0);
	ck_assert_int_eq(seen.n, 4);
	ck_assert(seen.old_ok && seen.long_ok && seen.new_ok && seen.newlong_ok);
	/* forgetting one takes its record too */
	ck_assert_int_eq(meta_dbi_forget(txn, m, "new", 3), 0);
	ck_assert_int_eq(meta_dbi_get(txn, m, "new", 3, &d), MDB_NOTFOUND);
	mdb_txn_abort(txn);
}
END_TEST

struct seen_misfits {
	int n, long_ok, unnamed_ok;
	uint64_t total;
};

static int see_misfit(void *ctx, const char *name, size_t len, const char *instance,
		      const struct meta_misfit *mf)
{
	struct seen_misfits *s = ctx;

	s->n++;
	s->total += mf->n;
	if (len == 511 && name[0] == 'L' && name[510] == 'L' && !strcmp(instance, "b"))
		s->long_ok = mf->n == 3 && mf->remote_flags == MDB_DUPSORT;
	if (len == 0 && !strcmp(instance, "c"))
		s->unnamed_ok = mf->n == 4;
	return 0;
}

/* Refused remote elements (struct meta_misfit) persist per DBI and
 * instance, long and unnamed DBIs too; forgetting a DBI drops its
 * records for every instance and no other's; forgetting the remotes'
 * progress drops them all; a shorter (older) record reads its missing
 * fields as 0. */
START_TEST(misfits_persist_and_clear)
{
	char lname[511];
	struct meta_misfit mf = { .n = 1, .first_ns = 5, .last_ns = 6, .remote_flags = 0 }, got;
	struct seen_misfits seen = { 0 };
	uint64_t n;
	MDB_txn *txn;

	memset(lname, 'L', sizeof(lname));
	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, 0, &txn), 0);
	ck_assert_int_eq(meta_misfit_get(txn, m, "x", 1, "a", &got), MDB_NOTFOUND);
	ck_assert_int_eq(meta_misfit_put(txn, m, "x", 1, "a", &mf), 0);
	mf.n = 2;
	ck_assert_int_eq(meta_misfit_put(txn, m, "x", 1, "b", &mf), 0);
	mf.n = 3;
	mf.remote_flags = MDB_DUPSORT;
	ck_assert_int_eq(meta_misfit_put(txn, m, lname, sizeof(lname), "b", &mf), 0);
	mf.n = 4;
	ck_assert_int_eq(meta_misfit_put(txn, m, NULL, 0, "c", &mf), 0);
	/* progress of instance "a": not a record of refusals */
	ck_assert_int_eq(meta_remote_put(txn, m, "a", &(struct meta_remote){ 1, 2, 3 }), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	meta_close(m);
	ck_assert_int_eq(meta_open(dir, &m), 0);

	ck_assert_int_eq(mdb_txn_begin(meta_env(m), NULL, 0, &txn), 0);
	ck_assert_int_eq(meta_misfit_get(txn, m, "x", 1, "b", &got), 0);
	ck_assert_uint_eq(got.n, 2);
	ck_assert_uint_eq(got.first_ns, 5);
	ck_assert_uint_eq(got.last_ns, 6);
	ck_assert_int_eq(meta_misfit_each(txn, m, see_misfit, &seen), 0);
	ck_assert_int_eq(seen.n, 4);
	ck_assert_uint_eq(seen.total, 10);
	ck_assert(seen.long_ok && seen.unnamed_ok);
	/* one instance's record of a DBI */
	ck_assert_int_eq(meta_misfit_del(txn, m, "x", 1, "a", &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(meta_misfit_get(txn, m, "x", 1, "a", &got), MDB_NOTFOUND);
	ck_assert_int_eq(meta_misfit_get(txn, m, "x", 1, "b", &got), 0);
	/* a DBI forgotten: its records go, for every instance; others stay */
	mf.n = 7;
	ck_assert_int_eq(meta_misfit_put(txn, m, "x", 1, "a", &mf), 0);
	ck_assert_int_eq(meta_dbi_forget(txn, m, "x", 1), 0);
	ck_assert_int_eq(meta_misfit_get(txn, m, "x", 1, "a", &got), MDB_NOTFOUND);
	ck_assert_int_eq(meta_misfit_get(txn, m, "x", 1, "b", &got), MDB_NOTFOUND);
	ck_assert_int_eq(meta_misfit_get(txn, m, lname, sizeof(lname), "b", &got), 0);
	ck_assert_uint_eq(got.n, 3);
	/* a record of an older layout: only n, then the name */
	{
		uint8_t h[16], rec[4 + 8 + 3];
		uint32_t head = 8;
		uint64_t nold = 9;
		char key[2 + 32 + 1 + 1];
		MDB_dbi state;
		MDB_val k, v;

		meta_hash("old", 3, h);
		memcpy(key, "m/", 2);
		for (int i = 0; i < 16; i++)
			snprintf(key + 2 + 2 * i, 3, "%02x", h[i]);
		key[34] = 'z';
		memcpy(rec, &head, 4);
		memcpy(rec + 4, &nold, 8);
		memcpy(rec + 12, "old", 3);
		k = (MDB_val){ 35, key };
		v = (MDB_val){ sizeof(rec), rec };
		ck_assert_int_eq(mdb_dbi_open(txn, "state", 0, &state), 0);
		ck_assert_int_eq(mdb_put(txn, state, &k, &v, 0), 0);
		ck_assert_int_eq(meta_misfit_get(txn, m, "old", 3, "z", &got), 0);
		ck_assert_uint_eq(got.n, 9);
		ck_assert_uint_eq(got.first_ns, 0);
		ck_assert_uint_eq(got.remote_flags, 0);
	}
	/* every remote's progress forgotten: the refusals with it */
	ck_assert_int_eq(meta_remote_forget(txn, m, &n), 0);
	ck_assert_uint_eq(n, 1); /* instance a's progress, not the records */
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(meta_misfit_each(txn, m, see_misfit, &seen), 0);
	ck_assert_int_eq(seen.n, 0);
	mdb_txn_abort(txn);
}
END_TEST

Suite *meta_suite(void)
{
	Suite *s = suite_create("meta");
	TCase *tc = tcase_create("meta");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, digest_ignores_order);
	tcase_add_test(tc, digest_follows_changes);
	tcase_add_test(tc, dupsort_pairs_are_separate);
	tcase_add_test(tc, state_and_remote_progress_persist);
	tcase_add_test(tc, forget_undoes_put);
	tcase_add_test(tc, forget_undoes_put_dupsort);
	tcase_add_test(tc, old_dbi_records_read_as_epoch_0);
	tcase_add_test(tc, misfits_persist_and_clear);
	suite_add_tcase(s, tc);
	return s;
}
