/* check_wake.c: how long a local commit waits before its export
 * (wake_batch_delay, syncer/engine/wake.h; docs/DESIGN.md §25). */
#include <check.h>
#include <stdint.h>

#include "unit.h"
#include "wake.h"

#define MS 1000000ull
#define WINDOW (2 * MS)
#define CAP (1000 * MS)

START_TEST(lone_commit_waits_one_window)
{
	struct wake_batch b = { 0, 0 };

	ck_assert_uint_eq(wake_batch_delay(&b, WINDOW, CAP, 0, 5000 * MS), WINDOW);
	ck_assert_uint_eq(b.level, 0);
	/* A commit long after the last export: a quiet spell, one window. */
	b.last_end_ns = 5000 * MS;
	ck_assert_uint_eq(wake_batch_delay(&b, WINDOW, CAP, 0, 6000 * MS), WINDOW);
}
END_TEST

START_TEST(window_zero_exports_at_once)
{
	struct wake_batch b = { 3, 100 * MS };

	ck_assert_uint_eq(wake_batch_delay(&b, 0, CAP, 0, 101 * MS), 0);
}
END_TEST

START_TEST(stream_doubles_up_to_cap)
{
	struct wake_batch b = { 0, 0 };
	uint64_t now = 10000 * MS, last = 0, d;

	/* Each commit comes right after the export before it ends: the wait
	 * doubles each time and stops at the cap. */
	for (int i = 0; i < 20; i++) {
		d = wake_batch_delay(&b, WINDOW, CAP, 0, now);
		ck_assert_uint_le(d, CAP);
		if (i > 0)
			ck_assert(d == CAP || d == 2 * last);
		last = d;
		b.last_end_ns = now + d;
		now += d + MS;
	}
	ck_assert_uint_eq(d, CAP);
	/* Then a quiet spell: back to one window. */
	ck_assert_uint_eq(wake_batch_delay(&b, WINDOW, CAP, 0, now + 60000 * MS), WINDOW);
	ck_assert_uint_eq(b.level, 0);
}
END_TEST

START_TEST(listed_store_burst_is_a_quarter_poll)
{
	/* On S3 (burst_ns = a quarter of a 1 s poll): a commit 900 ms after
	 * the last export is not its burst (it would wait up to a poll more),
	 * one 200 ms after is. */
	struct wake_batch b = { 0, 1000 * MS };

	ck_assert_uint_eq(wake_batch_delay(&b, WINDOW, CAP, 250 * MS, 1900 * MS), WINDOW);
	b.last_end_ns = 1900 * MS;
	ck_assert_uint_gt(wake_batch_delay(&b, WINDOW, CAP, 250 * MS, 2100 * MS), WINDOW);
	ck_assert_uint_eq(b.level, 1);
}
END_TEST

Suite *wake_suite(void)
{
	Suite *s = suite_create("wake");
	TCase *tc = tcase_create("batch");

	tcase_add_test(tc, lone_commit_waits_one_window);
	tcase_add_test(tc, window_zero_exports_at_once);
	tcase_add_test(tc, stream_doubles_up_to_cap);
	tcase_add_test(tc, listed_store_burst_is_a_quarter_poll);
	suite_add_tcase(s, tc);
	return s;
}
