/* check_err.c: every error code the project defines has its own text
 * (common/err.h): err_str never calls one of ours "unknown". */
#include <check.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "unit.h"
#include "mdbtap.h"

/* The codes the project defines, range by range (err.h). */
static const struct range {
	const char *family;
	int first, last;
} ranges[] = {
	{ "LMDB", MDB_KEYEXIST, MDB_LAST_ERRCODE },
	{ "MDBTAP_E", MDBTAP_E_FORMAT, MDBTAP_E_LAST },
	{ "ERR_SNAP", MDBTAP_E_SNAP_FIRST, MDBTAP_E_SNAP_LAST },
};

#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

static int is_unknown(const char *s)
{
	return !s || !s[0] || !strncasecmp(s, "unknown error", strlen("unknown error"));
}

START_TEST(every_code_has_a_text)
{
	const struct range *r = &ranges[_i];

	ck_assert_int_le(r->first, r->last);
	for (int code = r->first; code <= r->last; code++) {
		const char *s = err_str(code);

		ck_assert_msg(!is_unknown(s), "%s code %d prints as '%s'", r->family, code,
			      s ? s : "(null)");
	}
}
END_TEST

START_TEST(texts_are_distinct)
{
	/* Two codes with one text would be two failures a reader cannot tell
	 * apart. */
	for (size_t i = 0; i < NRANGES; i++)
		for (int a = ranges[i].first; a <= ranges[i].last; a++)
			for (size_t j = 0; j < NRANGES; j++)
				for (int b = ranges[j].first; b <= ranges[j].last; b++) {
					char ta[256];

					if (a == b)
						continue;
					/* err_str may use a buffer the next call overwrites */
					snprintf(ta, sizeof(ta), "%s", err_str(a));
					ck_assert_msg(strcmp(ta, err_str(b)) != 0,
						      "codes %d and %d both print '%s'", a, b, ta);
				}
}
END_TEST

START_TEST(errno_and_success)
{
	ck_assert_str_eq(err_str(0), "success");
	ck_assert_str_eq(err_str(ENOENT), strerror(ENOENT));
	ck_assert(!is_unknown(err_str(EINVAL)));
}
END_TEST

START_TEST(outside_the_ranges_is_unknown)
{
	/* The ranges end where err.h says: a code past them is not ours, and
	 * says so with its number. */
	ck_assert_str_eq(err_str(MDBTAP_E_SNAP_FIRST - 1), "unknown error -32006");
	ck_assert(is_unknown(err_str(MDBTAP_E_LAST + 1)));
	ck_assert(is_unknown(err_str(-1)));
}
END_TEST

Suite *err_suite(void)
{
	Suite *s = suite_create("err");
	TCase *tc = tcase_create("texts");

	tcase_add_loop_test(tc, every_code_has_a_text, 0, (int)NRANGES);
	tcase_add_test(tc, texts_are_distinct);
	tcase_add_test(tc, errno_and_success);
	tcase_add_test(tc, outside_the_ranges_is_unknown);
	suite_add_tcase(s, tc);
	return s;
}

