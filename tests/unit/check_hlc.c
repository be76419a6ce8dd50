/* check_hlc.c: the hybrid logical clock's rules (shim/hlc.h). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "hlc.h"
#include "unit.h"

START_TEST(next_follows_wall_clock)
{
	ck_assert_uint_eq(hlc_next(1000, 10), 1000);
}
END_TEST

START_TEST(next_never_goes_back)
{
	/* The wall clock jumped back: still strictly after the last stamp. */
	ck_assert_uint_eq(hlc_next(500, 1000), 1001);
	ck_assert_uint_eq(hlc_next(1000, 1000), 1001);
	ck_assert_uint_eq(hlc_next(0, 0), 1);
}
END_TEST

START_TEST(write_after_remote_wins)
{
	/* A local clock far behind, after merging a remote write at 5000:
	 * the next local write must be stamped after it. */
	uint64_t last = hlc_observe(100, 5000);

	ck_assert_uint_gt(hlc_next(200, last), 5000);
	/* Observing an older remote stamp does not move the clock back. */
	ck_assert_uint_eq(hlc_observe(9000, 5000), 9000);
}
END_TEST

START_TEST(too_far_ahead)
{
	ck_assert(!hlc_too_far_ahead(100, 200, 10));  /* in the past */
	ck_assert(!hlc_too_far_ahead(210, 200, 10));  /* exactly the margin */
	ck_assert(hlc_too_far_ahead(211, 200, 10));
}
END_TEST

START_TEST(wall_offset_for_tests)
{
	/* Read once per process: this test runs in its own forked child. */
	uint64_t before = hlc_wall_ns();

	ck_assert_uint_gt(before, 1600000000ull * 1000000000ull);
}
END_TEST

START_TEST(wall_offset_applies)
{
	setenv("MDBTAP_TEST_CLOCK_OFFSET_NS", "-3600000000000", 1);
	{
		uint64_t shifted = hlc_wall_ns();
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t real = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		/* an hour behind, give or take a second of scheduling */
		ck_assert_uint_lt(shifted, real - 3599000000000ull);
		ck_assert_uint_gt(shifted, real - 3601000000000ull);
	}
}
END_TEST

Suite *hlc_suite(void)
{
	Suite *s = suite_create("hlc");
	TCase *tc = tcase_create("rules");

	tcase_add_test(tc, next_follows_wall_clock);
	tcase_add_test(tc, next_never_goes_back);
	tcase_add_test(tc, write_after_remote_wins);
	tcase_add_test(tc, too_far_ahead);
	tcase_add_test(tc, wall_offset_for_tests);
	tcase_add_test(tc, wall_offset_applies);
	suite_add_tcase(s, tc);
	return s;
}
