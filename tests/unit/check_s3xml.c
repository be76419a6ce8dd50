/* check_s3xml: reading S3's XML answers: ListObjectsV2 pages (raw and
 * url-encoded keys, truncation, tokens) and error documents; anything
 * else is refused, never crashes. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3xml.h"
#include "unit.h"

struct keys {
	char buf[2048];
	int n, stop_at;
};

static int add_key(void *ctx, const char *key, uint64_t size)
{
	struct keys *k = ctx;
	size_t used = strlen(k->buf);

	snprintf(k->buf + used, sizeof(k->buf) - used, "%s=%llu;", key, (unsigned long long)size);
	return ++k->n == k->stop_at ? 42 : 0;
}

static int page(const char *xml, struct s3xml_page *pg, struct keys *k)
{
	memset(k, 0, sizeof(*k));
	return s3xml_list_page(xml, strlen(xml), pg, add_key, k);
}

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" \
	"<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"

START_TEST(raw_keys)
{
	struct s3xml_page pg;
	struct keys k;

	ck_assert_int_eq(page(HEAD "<IsTruncated>false</IsTruncated>"
			      "<Contents><Key>p/a+b%20c</Key><Size>5</Size><ETag>\"x\"</ETag></Contents>"
			      "<Contents><Key>p/caf&#xE9; &amp;</Key><Size>0</Size></Contents>"
			      "</ListBucketResult>", &pg, &k), 0);
	/* no EncodingType in the answer: keys are as sent, '+' and '%' too */
	ck_assert_str_eq(k.buf, "p/a+b%20c=5;p/caf\xc3\xa9 &=0;");
	ck_assert_int_eq(pg.truncated, 0);
	ck_assert_ptr_null(pg.next_token);
}
END_TEST

START_TEST(encoded_keys_and_token)
{
	struct s3xml_page pg;
	struct keys k;

	ck_assert_int_eq(page(HEAD "<EncodingType>url</EncodingType>"
			      "<Contents><Key>p/a%2Bb+c%C3%A9%01</Key><Size>18446744073709551615</Size>"
			      "</Contents><IsTruncated>true</IsTruncated>"
			      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
			      "</NextContinuationToken></ListBucketResult>", &pg, &k), 0);
	ck_assert_str_eq(k.buf, "p/a+b c\xc3\xa9\x01=18446744073709551615;");
	ck_assert_int_eq(pg.truncated, 1);
	ck_assert_str_eq(pg.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	free(pg.next_token);
}
END_TEST

START_TEST(callback_stops)
{
	struct s3xml_page pg;
	struct keys k;

	static const char doc[] = HEAD "<IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>t</NextContinuationToken>"
		"<Contents><Key>a</Key><Size>1</Size></Contents>"
		"<Contents><Key>b</Key><Size>1</Size></Contents>"
		"</ListBucketResult>";

	memset(&k, 0, sizeof(k));
	k.stop_at = 1;
	ck_assert_int_eq(s3xml_list_page(doc, strlen(doc), &pg, add_key, &k), 42);
	ck_assert_int_eq(k.n, 1);
	ck_assert_ptr_null(pg.next_token);  /* freed on any failure */
}
END_TEST

START_TEST(refused)
{
	static const char *bad[] = {
		"",
		"not xml",
		"<Error><Code>AccessDenied</Code></Error>",
		HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>",          /* no token */
		HEAD "<Contents><Size>1</Size></Contents></ListBucketResult>",      /* no key */
		HEAD "<Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
		HEAD "<Contents><Key>a</Key><Size>1x</Size></Contents></ListBucketResult>",
		HEAD "<Contents><Key>a</Key><Size>99999999999999999999</Size></Contents>"
		     "</ListBucketResult>",
		HEAD "<EncodingType>url</EncodingType><Contents><Key>a%zz</Key><Size>1</Size>"
		     "</Contents></ListBucketResult>",
		HEAD "<EncodingType>url</EncodingType><Contents><Key>a%00</Key><Size>1</Size>"
		     "</Contents></ListBucketResult>",
		HEAD "<Contents><Key>a</Key><Size>1</Size></Contents>",             /* cut short */
		"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		"<ListBucketResult><Contents><Key>&e;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
	};
	struct s3xml_page pg;
	struct keys k;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = page(bad[i], &pg, &k);

		ck_assert_msg(rc == EPROTO, "case %zu: rc %d", i, rc);
		ck_assert_ptr_null(pg.next_token);
		ck_assert_msg(!strstr(k.buf, "root:"), "case %zu read a file", i);
	}
	ck_assert_int_eq(s3xml_list_page(NULL, 0, &pg, add_key, &k), EPROTO);
}
END_TEST

START_TEST(errors)
{
	char code[16], msg[32];
	const char *doc = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
			  "<Message>The request signature we calculated does not match</Message>"
			  "<RequestId>1</RequestId></Error>";

	s3xml_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(code, "SignatureDoesNo");        /* cut to fit */
	ck_assert_str_eq(msg, "The request signature we calcul");
	doc = "<Error><Code>Slow\nDown</Code></Error>";
	s3xml_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(code, "Slow?Down");
	ck_assert_str_eq(msg, "");
	s3xml_error("<html>502</html>", 16, code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(code, "");
	s3xml_error(NULL, 0, code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(code, "");
	ck_assert_str_eq(msg, "");
}
END_TEST

Suite *s3xml_suite(void)
{
	Suite *s = suite_create("s3xml");
	TCase *tc = tcase_create("s3xml");

	tcase_add_test(tc, raw_keys);
	tcase_add_test(tc, encoded_keys_and_token);
	tcase_add_test(tc, callback_stops);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, errors);
	suite_add_tcase(s, tc);
	return s;
}
