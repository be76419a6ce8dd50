/* check_acct.c: txn-id accounting (syncer/engine/acct.c), the one reading
 * of the journal that the fold and `mdbtap journal` share. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct.h"
#include "unit.h"

#define C MDBTAP_STATE_COMMITTED
#define P MDBTAP_STATE_PENDING
#define X MDBTAP_STATE_ABORTED

static uint64_t next_pos;

static enum acct_kind add(struct acct *a, uint64_t txnid, unsigned state)
{
	struct journal_entry e;
	enum acct_kind k;

	memset(&e, 0, sizeof(e));
	e.pos = next_pos;
	next_pos += 64;
	e.next = next_pos;
	e.state = state;
	e.hdr.txnid = txnid;
	e.hdr.pid = 4242;
	ck_assert_int_eq(acct_add(a, &e, &k), 0);
	return k;
}

/* The unaccounted ranges as text: "3-4,7". */
static int put_range(void *ctx, uint64_t first, uint64_t last)
{
	char *s = ctx;
	size_t n = strlen(s);

	if (first == last)
		snprintf(s + n, 256 - n, "%s%llu", n ? "," : "", (unsigned long long)first);
	else
		snprintf(s + n, 256 - n, "%s%llu-%llu", n ? "," : "", (unsigned long long)first,
			 (unsigned long long)last);
	return 0;
}

static const char *unaccounted(const struct acct *a)
{
	static char s[256];

	s[0] = 0;
	ck_assert_int_eq(acct_each_unaccounted(a, put_range, s), 0);
	return s;
}

START_TEST(consecutive_commits)
{
	struct acct a;

	acct_init(&a, 10, 13);
	ck_assert_int_eq(add(&a, 9, C), ACCT_SKIP);   /* accounted before */
	ck_assert_int_eq(add(&a, 10, C), ACCT_SKIP);
	ck_assert_int_eq(add(&a, 11, C), ACCT_COMMITTED);
	ck_assert_int_eq(add(&a, 12, C), ACCT_COMMITTED);
	ck_assert_int_eq(add(&a, 13, C), ACCT_COMMITTED);
	ck_assert_int_eq(add(&a, 14, C), ACCT_AHEAD);
	ck_assert_int_eq(acct_finish(&a, 13), 0);
	ck_assert_str_eq(unaccounted(&a), "");
	ck_assert_uint_eq(a.ngaps, 0);
	ck_assert_uint_eq(a.ndoubt, 0);
	acct_free(&a);
}
END_TEST

START_TEST(gaps_and_aborted)
{
	struct acct a;

	acct_init(&a, 0, 9);
	ck_assert_int_eq(add(&a, 3, C), ACCT_COMMITTED);     /* 1-2 without a record */
	ck_assert_int_eq(add(&a, 4, X), ACCT_SKIP);          /* 4: only aborted */
	ck_assert_int_eq(add(&a, 5, X), ACCT_SKIP);          /* 5: aborted, then ... */
	ck_assert_int_eq(add(&a, 5, C), ACCT_COMMITTED);     /* ... committed */
	ck_assert_int_eq(add(&a, 7, C), ACCT_COMMITTED);     /* 6 without a record */
	ck_assert_int_eq(acct_finish(&a, 9), 0);             /* 8-9 without one */
	ck_assert_str_eq(unaccounted(&a), "1-2,4,6,8-9");
	acct_free(&a);
}
END_TEST

START_TEST(pending_superseded)
{
	struct acct a;

	/* A writer died before its commit: the next writer got its id. */
	acct_init(&a, 0, 4);
	ck_assert_int_eq(add(&a, 1, C), ACCT_COMMITTED);
	ck_assert_int_eq(add(&a, 2, P), ACCT_PENDING);
	ck_assert_uint_eq(a.ndoubt, 1);
	ck_assert_int_eq(add(&a, 2, C), ACCT_COMMITTED);
	ck_assert_uint_eq(a.ndoubt, 0);
	/* ... or a writer without the tap did, then a tapped one died again. */
	ck_assert_int_eq(add(&a, 3, P), ACCT_PENDING);
	ck_assert_int_eq(add(&a, 3, X), ACCT_SKIP);          /* its id is a gap now */
	ck_assert_int_eq(add(&a, 4, P), ACCT_PENDING);
	ck_assert_int_eq(acct_finish(&a, 4), 0);
	ck_assert_uint_eq(a.ngaps, 1);
	ck_assert_uint_eq(a.ndoubt, 1);
	ck_assert_uint_eq(a.doubt[0].txnid, 4);
	ck_assert_uint_eq(a.doubt[0].pid, 4242);
	/* in doubt is not accounted: the syncer checks its changes */
	ck_assert_str_eq(unaccounted(&a), "3-4");
	acct_free(&a);
}
END_TEST

START_TEST(stop_before_pending)
{
	struct acct a;

	/* The fold stops at a live writer's record (id 5): what was added
	 * from it on is forgotten, and nothing after 4 is a gap. */
	acct_init(&a, 0, 8);
	ck_assert_int_eq(add(&a, 2, P), ACCT_PENDING);
	ck_assert_int_eq(add(&a, 3, C), ACCT_COMMITTED);
	ck_assert_int_eq(add(&a, 5, P), ACCT_PENDING);
	ck_assert_int_eq(acct_finish(&a, 4), 0);
	ck_assert_uint_eq(a.ndoubt, 1);
	ck_assert_uint_eq(a.doubt[0].txnid, 2);
	ck_assert_str_eq(unaccounted(&a), "1-2,4");
	acct_free(&a);
}
END_TEST

START_TEST(nothing_above_from)
{
	struct acct a;

	acct_init(&a, 7, 7);
	ck_assert_int_eq(add(&a, 6, C), ACCT_SKIP);
	ck_assert_int_eq(add(&a, 8, P), ACCT_AHEAD);
	ck_assert_int_eq(acct_finish(&a, 7), 0);
	ck_assert_str_eq(unaccounted(&a), "");
	acct_free(&a);

	acct_init(&a, 0, 3); /* no record at all: every id */
	ck_assert_int_eq(acct_finish(&a, 3), 0);
	ck_assert_str_eq(unaccounted(&a), "1-3");
	acct_free(&a);
}
END_TEST

START_TEST(many_ids)
{
	struct acct a;
	uint64_t n = 100000;

	/* Every third id missing, every fifth pending: lists grow. */
	acct_init(&a, 0, n);
	for (uint64_t t = 1; t <= n; t++)
		if (t % 3)
			add(&a, t, t % 5 ? C : P);
	ck_assert_int_eq(acct_finish(&a, n), 0);
	ck_assert_uint_eq(a.ngaps, n / 3);
	ck_assert_uint_eq(a.ndoubt, n / 5 - n / 15);
	acct_free(&a);
}
END_TEST


Suite *acct_suite(void)
{
	Suite *s = suite_create("acct");
	TCase *tc = tcase_create("acct");

	tcase_add_test(tc, consecutive_commits);
	tcase_add_test(tc, gaps_and_aborted);
	tcase_add_test(tc, pending_superseded);
	tcase_add_test(tc, stop_before_pending);
	tcase_add_test(tc, nothing_above_from);
	tcase_add_test(tc, many_ids);
	suite_add_tcase(s, tc);
	return s;
}
