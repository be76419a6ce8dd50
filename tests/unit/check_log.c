/* check_log.c: the syncer's log (common/log.h): levels that filter,
 * one JSON object per line, credentials masked, a reopened file. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "out.h"
#include "unit.h"

static char path[4096];

static void setup(void)
{
	const char *tmp = getenv("MDBTAP_TEST_TMP");

	ck_assert_ptr_nonnull(tmp);
	snprintf(path, sizeof(path), "%s", tmp);
	for (char *p = path + 1; *p; p++)       /* mkdir -p */
		if (*p == '/') {
			*p = 0;
			mkdir(path, 0700);
			*p = '/';
		}
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/log.txt", tmp);
	unlink(path);
}

/* The whole file, NUL-terminated (caller frees). */
static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *s = calloc(1, 1 << 16);
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(s);
	n = fread(s, 1, (1 << 16) - 1, f);
	s[n] = 0;
	fclose(f);
	return s;
}

START_TEST(levels_filter)
{
	char *s;

	ck_assert_int_eq(log_open(path, MDBTAP_LOG_WARN, MDBTAP_LOG_TEXT), 0);
	log_msg(MDBTAP_LOG_DEBUG, "a debug line");
	log_msg(MDBTAP_LOG_INFO, "an info line");
	log_msg(MDBTAP_LOG_WARN, "a warning line");
	log_msg(MDBTAP_LOG_ERROR, "an error line");
	log_close();
	s = slurp(path);
	ck_assert_ptr_null(strstr(s, "debug line"));
	ck_assert_ptr_null(strstr(s, "info line"));
	ck_assert_ptr_nonnull(strstr(s, "Z warning: a warning line\n"));
	ck_assert_ptr_nonnull(strstr(s, "Z error: an error line\n"));
	free(s);
	ck_assert_int_eq(log_open(path, MDBTAP_LOG_DEBUG, MDBTAP_LOG_TEXT), 0);
	log_msg(MDBTAP_LOG_DEBUG, "now debug");
	log_close();
	s = slurp(path);
	ck_assert_ptr_nonnull(strstr(s, "Z debug: now debug\n"));
	free(s);
}
END_TEST

START_TEST(names_parse)
{
	enum log_level l;
	enum log_format f;

	ck_assert_int_eq(log_level_parse("debug", &l), 0);
	ck_assert_int_eq(l, MDBTAP_LOG_DEBUG);
	ck_assert_int_eq(log_level_parse("warn", &l), 0);
	ck_assert_int_eq(l, MDBTAP_LOG_WARN);
	ck_assert_int_eq(log_level_parse("warning", &l), 0);
	ck_assert_int_eq(log_level_parse("loud", &l), EINVAL);
	ck_assert_int_eq(log_format_parse("json", &f), 0);
	ck_assert_int_eq(f, MDBTAP_LOG_JSON);
	ck_assert_int_eq(log_format_parse("xml", &f), EINVAL);
}
END_TEST

START_TEST(json_one_object_per_line)
{
	char *s, *line, *save = NULL;
	int n = 0;

	ck_assert_int_eq(log_open(path, MDBTAP_LOG_INFO, MDBTAP_LOG_JSON), 0);
	log_msg(MDBTAP_LOG_INFO, "quote \" backslash \\ newline\n tab\t end");
	log_msg(MDBTAP_LOG_ERROR, "second %d", 2);
	log_close();
	s = slurp(path);
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(line), *v;

		ck_assert_msg(o != NULL, "not JSON: %s", line);
		ck_assert(json_object_object_get_ex(o, "time", &v));
		ck_assert(json_object_object_get_ex(o, "level", &v));
		ck_assert_str_eq(json_object_get_string(v), n ? "error" : "info");
		ck_assert(json_object_object_get_ex(o, "msg", &v));
		ck_assert_str_eq(json_object_get_string(v),
				 n ? "second 2" : "quote \" backslash \\ newline\n tab\t end");
		json_object_put(o);
		n++;
	}
	ck_assert_int_eq(n, 2);
	free(s);
}
END_TEST

START_TEST(secrets_masked)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "s3://b/p?secret_key=abcdEFGH123&region=x", "s3://b/p?secret_key=***&region=x" },
		{ "session_token: TOKEN/with+chars end", "session_token: *** end" },
		{ "X-Amz-Signature=0123456789abcdef", "X-Amz-Signature=***" },
		{ "Authorization: AWS4-HMAC-SHA256 Credential=AK/x, Signature=ff\nnext",
		  "Authorization: ***\nnext" },
		{ "access_key=ab", "access_key=**" },
		{ "secret_key=", "secret_key=" },
		{ "nothing secret here", "nothing secret here" },
	};
	char buf[256], *s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		log_mask_secrets(buf);
		ck_assert_str_eq(buf, cases[i].out);
	}
	/* and log_msg masks whatever the caller formatted */
	ck_assert_int_eq(log_open(path, MDBTAP_LOG_INFO, MDBTAP_LOG_JSON), 0);
	log_msg(MDBTAP_LOG_ERROR, "url %s", "s3://b?secret_key=TOPSECRET");
	log_close();
	s = slurp(path);
	ck_assert_ptr_null(strstr(s, "TOPSECRET"));
	ck_assert_ptr_nonnull(strstr(s, "secret_key=***"));
	free(s);
}
END_TEST

START_TEST(reopen_after_rotation)
{
	char moved[4200], *s;

	ck_assert_int_eq(log_open(path, MDBTAP_LOG_INFO, MDBTAP_LOG_TEXT), 0);
	log_msg(MDBTAP_LOG_INFO, "before");
	snprintf(moved, sizeof(moved), "%s.1", path);
	ck_assert_int_eq(rename(path, moved), 0);
	log_msg(MDBTAP_LOG_INFO, "still old");
	ck_assert_int_eq(log_reopen(), 0);
	log_msg(MDBTAP_LOG_INFO, "after");
	log_close();
	s = slurp(moved);
	ck_assert_ptr_nonnull(strstr(s, "before"));
	ck_assert_ptr_nonnull(strstr(s, "still old"));
	ck_assert_ptr_null(strstr(s, "after"));
	free(s);
	s = slurp(path);
	ck_assert_ptr_nonnull(strstr(s, "after"));
	ck_assert_ptr_null(strstr(s, "before"));
	free(s);
	unlink(moved);
}
END_TEST

/* Bytes from outside in a log line (out_escape): never a control byte,
 * cut to fit with "...". */
START_TEST(escape_for_a_line)
{
	char b[16];

	ck_assert_str_eq(out_escape(b, sizeof(b), "a\nb\\c\x1b", 6), "a\\x0ab\\\\c\\x1b");
	ck_assert_str_eq(out_escape(b, sizeof(b), "abcdefghijklmnopq", 17), "abcdefghijkl...");
	ck_assert_str_eq(out_escape(b, sizeof(b), "abcdefghijklmno", 15), "abcdefghijklmno");
	ck_assert_str_eq(out_escape(b, 4, "\n\n", 2), "...");
	ck_assert_str_eq(out_escape(b, sizeof(b), "", 0), "");
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, levels_filter);
	tcase_add_test(tc, names_parse);
	tcase_add_test(tc, json_one_object_per_line);
	tcase_add_test(tc, secrets_masked);
	tcase_add_test(tc, reopen_after_rotation);
	tcase_add_test(tc, escape_for_a_line);
	suite_add_tcase(s, tc);
	return s;
}
