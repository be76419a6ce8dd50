/* check_clean: which of an instance's own objects are deleted and when
 * the next export should be a full snapshot (clean.h), on a directory
 * store. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clean.h"
#include "store.h"
#include "unit.h"

#define S 1000000000ull
#define MIN (60 * S)
#define T0 (1700000000ull * S)
#define HOUR (60 * MIN)

static struct store *st;
static struct clean_obj v[600];
static char names[600][128];
static size_t n;
static struct clean_self me; /* what "our metadata" says: add() keeps it */

static void setup(void)
{
	char dir[4096], err[256];

	ck_assert_int_eq(testlib_fresh_dir(dir, sizeof(dir), "/tmp/mdbtap-check-clean"), 0);
	ck_assert_msg(store_open(dir, NULL, 0, &st, err, sizeof(err)) == 0, "%s", err);
	n = 0;
	me = (struct clean_self){ 1, 0, 0 };
}

static void teardown(void)
{
	store_close(st);
}

/* An object of our name at ts, of chain gen: full (to = txn) or a delta
 * (txn-1, txn]. */
static void add_named(int full, uint64_t ts, uint64_t txn, uint64_t size, uint64_t gen)
{
	struct clean_obj *o = &v[n];
	FILE *f = tmpfile();

	memset(&o->on, 0, sizeof(o->on));
	strcpy(o->on.db, "main");
	strcpy(o->on.instance, "a");
	o->on.ts_ns = ts;
	o->on.generation = gen;
	o->on.full = full;
	o->on.from_txnid = full ? 0 : txn - 1;
	o->on.to_txnid = txn;
	o->size = size;
	ck_assert_int_eq(objname_format(&o->on, names[n], sizeof(names[n])), 0);
	o->name = names[n];
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(store_put(st, o->name, fileno(f)), 0);
	fclose(f);
	n++;
}

/* One we uploaded: our metadata says so. */
static void add(int full, uint64_t ts, uint64_t txn, uint64_t size)
{
	add_named(full, ts, txn, size, 1);
	if (full && ts > me.full_ns)
		me.full_ns = ts;
	if (ts > me.last_ns)
		me.last_ns = ts;
}

/* One someone else put under our name. */
static void plant(int full, uint64_t ts, uint64_t txn, uint64_t gen)
{
	add_named(full, ts, txn, 10, gen);
}

static int count_cb(void *ctx, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	(*(int *)ctx)++;
	return 0;
}

static int left(void)
{
	int c = 0;

	ck_assert_int_eq(store_list(st, "", count_cb, &c), 0);
	return c;
}

static int exists(size_t i)
{
	FILE *f = tmpfile();
	int rc = store_get(st, names[i], fileno(f));

	fclose(f);
	return rc == 0;
}

START_TEST(nothing_before_a_full)
{
	enum clean_want want;

	add(0, T0, 2, 100);
	add(0, T0 + S, 3, 100);
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 + 60 * MIN, &me, 0, &want), 0);
	ck_assert_int_eq(want, CLEAN_DELTA);   /* the next export is a full one anyway */
	ck_assert_int_eq(left(), 2);
}
END_TEST

START_TEST(superseded_objects_go_after_keep)
{
	enum clean_want want;

	add(1, T0, 1, 10000);            /* 0: an old full */
	add(0, T0 + S, 2, 100);          /* 1, 2: deltas after it */
	add(0, T0 + 2 * S, 3, 100);
	add(1, T0 + 3 * S, 3, 10000);    /* 3: the newest full */
	add(0, T0 + 4 * S, 4, 100);      /* 4: a delta after it */
	/* within keep: nothing goes */
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 + 5 * MIN, &me, 10 * MIN, &want), 0);
	ck_assert_int_eq(want, CLEAN_DELTA);
	ck_assert_int_eq(left(), 5);
	/* past keep: what came before the newest full goes, it and after stay */
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 + 3 * S + 10 * MIN + 1, &me, 10 * MIN, &want),
			  3);
	ck_assert(!exists(0) && !exists(1) && !exists(2));
	ck_assert(exists(3) && exists(4));
	/* a second pass finds nothing more (deletes of missing names are fine) */
	ck_assert_uint_eq(clean_own(st, "env", v + 3, 2, T0 + 3 * S + 10 * MIN + 1, &me, 10 * MIN,
				    &want), 0);
}
END_TEST

/* A full snapshot planted under our name, dated a year ahead, must not
 * pass for our newest one: our real objects stay. */
START_TEST(future_names_never_drive_the_cleaner)
{
	enum clean_want want;

	add(1, T0, 1, 10000);                    /* 0: our full */
	add(0, T0 + S, 2, 100);                  /* 1: a delta after it */
	plant(1, T0 + 365ull * 24 * HOUR, 9, 1); /* 2: planted */
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 + 2 * HOUR, &me, 10 * MIN, &want), 0);
	ck_assert(exists(0) && exists(1) && exists(2));
}
END_TEST

/* Planted inside max_future (30 minutes ahead): still not our newest
 * full, so our real full snapshots, past keep, stay. */
START_TEST(names_after_now_never_supersede)
{
	enum clean_want want;

	add(1, T0, 1, 10000);                    /* 0: our older full */
	add(1, T0 + MIN, 2, 10000);              /* 1: our newest full */
	plant(1, T0 + 2 * HOUR + 30 * MIN, 9, 1); /* 2: planted, 30 min ahead */
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 + 2 * HOUR, &me, S, &want), 1);
	ck_assert(!exists(0) && exists(1) && exists(2));
}
END_TEST

/* Planted inside max_future in our own chain, then the clock passes it:
 * it is still not ours (our metadata names our newest full), so our real
 * objects stay; the same for a newer name of another chain. */
START_TEST(planted_names_never_supersede_once_past)
{
	enum clean_want want;

	add(1, T0, 1, 10000);                    /* 0: our full */
	add(0, T0 + S, 2, 100);                  /* 1: our delta */
	plant(1, T0 + 30 * MIN, 9, 1);           /* 2: planted in our chain */
	plant(1, T0 + 40 * MIN, 9, 7);           /* 3: planted, another chain */
	plant(0, T0 + 50 * MIN, 10, 1);          /* 4: a planted delta */
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 + 2 * HOUR, &me, S, &want), 0);
	ck_assert(exists(0) && exists(1) && exists(2) && exists(3) && exists(4));
	/* the planted delta is not counted as ours: idle since our delta */
	ck_assert_int_eq(want, CLEAN_FULL_NOW);
	/* our next full supersedes ours and the planted names before it */
	add(1, T0 + 3 * HOUR, 11, 10000);        /* 5 */
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 + 4 * HOUR, &me, S, &want), 5);
	ck_assert(exists(5));
}
END_TEST

/* A metadata that never recorded our full snapshot's name (an older
 * version's) deletes nothing until our next full snapshot. */
START_TEST(unknown_full_keeps_everything)
{
	enum clean_want want;

	add(1, T0, 1, 10000);
	add(1, T0 + MIN, 2, 10000);
	me.full_ns = 0;
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 + 2 * HOUR, &me, S, &want), 0);
	ck_assert_int_eq(left(), 2);
}
END_TEST

START_TEST(full_when_deltas_are_many)
{
	enum clean_want want;

	add(1, T0, 1, 1u << 30);
	for (uint64_t i = 0; i < CLEAN_MAX_DELTAS - 1; i++)
		add(0, T0 + (i + 1) * S / 1000, i + 2, 100);
	clean_own(st, "env", v, n, T0 + S, &me, 10 * MIN, &want);
	ck_assert_int_eq(want, CLEAN_DELTA);
	add(0, T0 + S / 2, CLEAN_MAX_DELTAS + 1, 100);
	clean_own(st, "env", v, n, T0 + S, &me, 10 * MIN, &want);
	ck_assert_int_eq(want, CLEAN_FULL_NEXT);
}
END_TEST

START_TEST(full_when_deltas_weigh_as_much)
{
	enum clean_want want;

	add(1, T0, 1, 1000);
	add(0, T0 + S, 2, 600);
	clean_own(st, "env", v, n, T0 + 2 * S, &me, 10 * MIN, &want);
	ck_assert_int_eq(want, CLEAN_DELTA);
	add(0, T0 + 2 * S, 3, 400);
	clean_own(st, "env", v, n, T0 + 3 * S, &me, 10 * MIN, &want);
	ck_assert_int_eq(want, CLEAN_FULL_NEXT);
}
END_TEST

START_TEST(full_when_idle_for_keep)
{
	enum clean_want want;

	add(1, T0, 1, 1000);
	add(0, T0 + S, 2, 10);
	clean_own(st, "env", v, n, T0 + S + 10 * MIN - 1, &me, 10 * MIN, &want);
	ck_assert_int_eq(want, CLEAN_DELTA);
	clean_own(st, "env", v, n, T0 + S + 10 * MIN, &me, 10 * MIN, &want);
	ck_assert_int_eq(want, CLEAN_FULL_NOW);
	/* a clock behind the objects' times deletes nothing and asks nothing */
	ck_assert_uint_eq(clean_own(st, "env", v, n, T0 - MIN, &me, 0, &want), 0);
	ck_assert_int_eq(want, CLEAN_DELTA);
	ck_assert_int_eq(left(), 2);
}
END_TEST

Suite *clean_suite(void)
{
	Suite *s = suite_create("clean");
	TCase *tc = tcase_create("clean");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, nothing_before_a_full);
	tcase_add_test(tc, superseded_objects_go_after_keep);
	tcase_add_test(tc, future_names_never_drive_the_cleaner);
	tcase_add_test(tc, names_after_now_never_supersede);
	tcase_add_test(tc, planted_names_never_supersede_once_past);
	tcase_add_test(tc, unknown_full_keeps_everything);
	tcase_add_test(tc, full_when_deltas_are_many);
	tcase_add_test(tc, full_when_deltas_weigh_as_much);
	tcase_add_test(tc, full_when_idle_for_keep);
	suite_add_tcase(s, tc);
	return s;
}
