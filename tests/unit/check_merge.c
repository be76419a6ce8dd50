/* check_merge.c: the last-writer-wins rule (syncer/merge.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "sweep.h"
#include "unit.h"

static struct merge_side live(uint64_t ts, const char *v)
{
	return (struct merge_side){ 1, ts, 0, v, strlen(v) };
}

static struct merge_side gone(uint64_t ts)
{
	return (struct merge_side){ 1, ts, 1, NULL, 0 };
}

START_TEST(sweep_cutoffs)
{
	const uint64_t s = 1000000000ull, now = 1000000 * s, day = 86400 * s;

	/* retention 0: nothing is ever swept or ignored */
	ck_assert_uint_eq(sweep_cutoff(now, 0), 0);
	ck_assert_uint_eq(sweep_load_cutoff(now, 0), 0);
	ck_assert_uint_eq(sweep_cutoff(now, 10 * s), now - 10 * s);
	/* loads ignore old tombstones 1 % sooner than the sweeper forgets them */
	ck_assert_uint_eq(sweep_load_cutoff(now, 100 * s), now - 99 * s);
	ck_assert_uint_gt(sweep_load_cutoff(now, 100 * s), sweep_cutoff(now, 100 * s));
	/* a retention longer than the clock has run: nothing yet */
	ck_assert_uint_eq(sweep_cutoff(5 * s, 10 * s), 0);
	ck_assert_uint_eq(sweep_load_cutoff(5 * s, 10 * s), 0);
	/* sweeps: a quarter of the retention, at most hourly */
	ck_assert_uint_eq(sweep_interval(8 * s), 2 * s);
	ck_assert_uint_eq(sweep_interval(370 * day), 3600 * s);
}
END_TEST

START_TEST(unknown_local_always_loses)
{
	struct merge_side none = { 0 }, r = gone(0);

	ck_assert_int_eq(merge_remote_wins(&none, &r), 1);
	r = live(0, "");
	ck_assert_int_eq(merge_remote_wins(&none, &r), 1);
}
END_TEST

START_TEST(newer_wins_whatever_the_values)
{
	struct merge_side l = live(100, "zzz"), r = live(101, "aaa");

	ck_assert_int_eq(merge_remote_wins(&l, &r), 1);
	r = live(99, "aaa");
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0);
	r = gone(101);
	ck_assert_int_eq(merge_remote_wins(&l, &r), 1);
	l = gone(102);
	r = live(101, "a");
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0);
}
END_TEST

/* Lightning Stream's tie-break: the lower application value wins, a
 * tombstone counts as empty; equal values keep the local one. */
START_TEST(ties_break_on_the_lower_value)
{
	struct merge_side l = live(5, "b"), r = live(5, "a");

	ck_assert_int_eq(merge_remote_wins(&l, &r), 1);
	r = live(5, "c");
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0);
	r = live(5, "b");
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0);
	r = live(5, "ba"); /* longer with the same prefix is greater */
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0);
	l = live(5, "ba");
	r = live(5, "b");
	ck_assert_int_eq(merge_remote_wins(&l, &r), 1);
	r = gone(5); /* a delete wins a tie against a value */
	ck_assert_int_eq(merge_remote_wins(&l, &r), 1);
	l = gone(5);
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0);
	r = live(5, "x");
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0);
}
END_TEST

/* A total order (docs/DESIGN.md §14): of a tombstone and a live empty
 * value with equal timestamps, the tombstone wins whichever side holds it,
 * so both instances keep the same one. */
START_TEST(a_tombstone_beats_an_empty_value_on_both_sides)
{
	struct merge_side l = live(5, ""), r = gone(5);

	ck_assert_int_eq(merge_remote_wins(&l, &r), 1);
	ck_assert_int_eq(merge_remote_wins(&r, &l), 0);
	l = live(5, "");
	r = live(5, "");
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0); /* the same version */
	l = gone(5);
	r = gone(5);
	ck_assert_int_eq(merge_remote_wins(&l, &r), 0);
}
END_TEST

/* Bytes compare unsigned, like memcmp and Go's bytes.Compare. */
START_TEST(values_compare_as_unsigned_bytes)
{
	struct merge_side l = live(7, "\x80"), r = live(7, "\x7f");

	ck_assert_int_eq(merge_remote_wins(&l, &r), 1);
	ck_assert_int_eq(merge_remote_wins(&r, &l), 0);
}
END_TEST

/* The rule is a total order: whichever side is "local", two instances
 * that see the same pair pick the same winner. */
START_TEST(both_sides_agree)
{
	const char *vals[] = { "", "a", "ab", "b", "\xff" };
	uint64_t tss[] = { 0, 1, 2 };

	for (int i = 0; i < 3 * 6; i++)
		for (int j = 0; j < 3 * 6; j++) {
			struct merge_side a = i % 6 == 5 ? gone(tss[i / 6]) : live(tss[i / 6], vals[i % 6 % 5]);
			struct merge_side b = j % 6 == 5 ? gone(tss[j / 6]) : live(tss[j / 6], vals[j % 6 % 5]);
			int ab = merge_remote_wins(&a, &b), ba = merge_remote_wins(&b, &a);

			/* never both win; when neither does, they are equal */
			ck_assert(!(ab && ba));
			if (!ab && !ba)
				ck_assert(a.ts == b.ts &&
					  (a.deleted ? 0 : a.vlen) == (b.deleted ? 0 : b.vlen));
		}
}
END_TEST

Suite *merge_suite(void)
{
	Suite *s = suite_create("merge");
	TCase *tc = tcase_create("lww");

	tcase_add_test(tc, unknown_local_always_loses);
	tcase_add_test(tc, newer_wins_whatever_the_values);
	tcase_add_test(tc, ties_break_on_the_lower_value);
	tcase_add_test(tc, a_tombstone_beats_an_empty_value_on_both_sides);
	tcase_add_test(tc, values_compare_as_unsigned_bytes);
	tcase_add_test(tc, both_sides_agree);
	tcase_add_test(tc, sweep_cutoffs);
	suite_add_tcase(s, tc);
	return s;
}
