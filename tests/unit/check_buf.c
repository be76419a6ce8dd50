/* check_buf.c: the common helpers that replaced copies: the growable
 * buffer (common/buf.h) and the percent-decoders with their named rules
 * (common/pct.h). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "unit.h"
#include "pct.h"

START_TEST(buf_grows_and_stays_a_string)
{
	struct buf b = { 0 };
	char piece[100];

	memset(piece, 'x', sizeof(piece));
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(buf_add(&b, piece, sizeof(piece)), 0);
	ck_assert_uint_eq(b.len, 5000);
	ck_assert_uint_gt(b.cap, b.len);
	ck_assert_uint_eq(strlen((char *)b.p), 5000);
	ck_assert_int_eq(buf_add(&b, "", 0), 0);
	ck_assert_uint_eq(b.len, 5000);
	buf_free(&b);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(buf_max_is_a_bound)
{
	struct buf b = { .max = 10 };

	ck_assert_int_eq(buf_add(&b, "0123456789", 10), 0);
	ck_assert_int_eq(buf_add(&b, "a", 1), EFBIG);
	ck_assert_uint_eq(b.len, 10); /* unchanged on error */
	ck_assert_str_eq((char *)b.p, "0123456789");
	ck_assert_int_eq(buf_reserve(&b, (size_t)-1), EFBIG);
	buf_free(&b);
}
END_TEST

static const struct pct_case {
	int (*fn)(const char *, size_t, char **);
	const char *name, *in, *out; /* out NULL: refused (EINVAL) */
} pct_cases[] = {
	{ pct_decode_path, "path", "/a%20b/c+d", "/a b/c+d" },
	{ pct_decode_path, "path", "%2f%2F", "//" },
	{ pct_decode_path, "path", "a%0ab", "a\nb" }, /* controls are a path's */
	{ pct_decode_path, "path", "a%00b", NULL },   /* never a NUL */
	{ pct_decode_path, "path", "a%2", NULL },
	{ pct_decode_path, "path", "a%g0", NULL },
	{ pct_decode_path, "path", "%", NULL },
	{ pct_decode_text, "text", "k%3Dv+w", "k=v+w" },
	{ pct_decode_text, "text", "a%0ab", NULL }, /* no controls in text */
	{ pct_decode_text, "text", "a\tb", NULL },
	{ pct_decode_text, "text", "a%7fb", NULL },
	{ pct_decode_text, "text", "%C3%A9", "\xc3\xa9" },
	{ pct_decode_form, "form", "a+b%2Bc", "a b+c" }, /* '+' is a space */
	{ pct_decode_form, "form", "a%0ab", "a\nb" },
	{ pct_decode_form, "form", "a%00", NULL },
};

START_TEST(pct_rules)
{
	const struct pct_case *c = &pct_cases[_i];
	char *out = NULL;
	int rc = c->fn(c->in, strlen(c->in), &out);

	if (!c->out) {
		ck_assert_msg(rc == EINVAL, "%s '%s': %d, not EINVAL", c->name, c->in, rc);
		return;
	}
	ck_assert_msg(rc == 0, "%s '%s': %d", c->name, c->in, rc);
	ck_assert_str_eq(out, c->out);
	free(out);
}
END_TEST

START_TEST(pct_decodes_only_n_bytes)
{
	char *out = NULL;

	ck_assert_int_eq(pct_decode_text("ab%41cd", 5, &out), 0);
	ck_assert_str_eq(out, "abA");
	free(out);
	ck_assert_int_eq(pct_decode_text("ab%41", 4, &out), EINVAL); /* "%4" */
	ck_assert_int_eq(pct_hexval('F'), 15);
	ck_assert_int_eq(pct_hexval('a'), 10);
	ck_assert_int_eq(pct_hexval('g'), -1);
}
END_TEST

Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("helpers");

	tcase_add_test(tc, buf_grows_and_stays_a_string);
	tcase_add_test(tc, buf_max_is_a_bound);
	tcase_add_loop_test(tc, pct_rules, 0, (int)(sizeof(pct_cases) / sizeof(pct_cases[0])));
	tcase_add_test(tc, pct_decodes_only_n_bytes);
	suite_add_tcase(s, tc);
	return s;
}

