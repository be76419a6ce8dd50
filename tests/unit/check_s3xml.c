/* check_s3xml: reading S3's XML answers: ListObjectsV2 pages (raw and
 * url-encoded keys, truncation, tokens), error documents, and the answers
 * of multipart uploads (initiate, complete, ListMultipartUploads pages);
 * anything else is refused, never crashes. */
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

#define INIT "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult " \
	"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>p/k</Key>"

START_TEST(upload_id)
{
	char id[S3XML_UPLOAD_ID_MAX + 1], big[S3XML_UPLOAD_ID_MAX + 400], small[8];
	const char *doc = INIT "<UploadId>VXBsb2FkIElE+/=-_.~</UploadId>"
			  "</InitiateMultipartUploadResult>";
	static const char *bad[] = {
		"",
		"not xml",
		"<Error><Code>InternalError</Code></Error>",
		INIT "</InitiateMultipartUploadResult>",                          /* no id */
		INIT "<UploadId></UploadId></InitiateMultipartUploadResult>",     /* empty */
		INIT "<UploadId>a b</UploadId></InitiateMultipartUploadResult>",  /* a space */
		INIT "<UploadId>a\nb</UploadId></InitiateMultipartUploadResult>",
		INIT "<UploadId>caf\xc3\xa9</UploadId></InitiateMultipartUploadResult>",
		INIT "<UploadId>abc</UploadId>",                                  /* cut short */
		"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		"<InitiateMultipartUploadResult><UploadId>&e;</UploadId>"
		"</InitiateMultipartUploadResult>",
	};
	size_t n;

	ck_assert_int_eq(s3xml_upload_id(doc, strlen(doc), id, sizeof(id)), 0);
	ck_assert_str_eq(id, "VXBsb2FkIElE+/=-_.~");
	/* an id longer than the caller's room, or than any S3 sends */
	ck_assert_int_eq(s3xml_upload_id(doc, strlen(doc), small, sizeof(small)), EPROTO);
	ck_assert_str_eq(small, "");
	n = (size_t)snprintf(big, sizeof(big), INIT "<UploadId>");
	memset(big + n, 'a', S3XML_UPLOAD_ID_MAX + 1);
	snprintf(big + n + S3XML_UPLOAD_ID_MAX + 1, sizeof(big) - n - S3XML_UPLOAD_ID_MAX - 1,
		 "</UploadId></InitiateMultipartUploadResult>");
	ck_assert_int_eq(s3xml_upload_id(big, strlen(big), id, sizeof(id)), EPROTO);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = s3xml_upload_id(bad[i], strlen(bad[i]), id, sizeof(id));

		ck_assert_msg(rc == EPROTO, "case %zu: rc %d", i, rc);
		ck_assert_msg(!id[0], "case %zu: id '%s'", i, id);
	}
	ck_assert_int_eq(s3xml_upload_id(NULL, 0, id, sizeof(id)), EPROTO);
	ck_assert_int_eq(s3xml_upload_id_ok("x"), 1);
	ck_assert_int_eq(s3xml_upload_id_ok(""), 0);
	ck_assert_int_eq(s3xml_upload_id_ok(NULL), 0);
	ck_assert_int_eq(s3xml_upload_id_ok("a\x7f"), 0);
}
END_TEST

START_TEST(complete)
{
	char code[16], msg[32];
	const char *ok = "<?xml version=\"1.0\"?><CompleteMultipartUploadResult><Location>l"
			 "</Location><Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
			 "</CompleteMultipartUploadResult>";
	const char *err = "<?xml version=\"1.0\"?>\n\n<Error><Code>InternalError</Code>"
			  "<Message>We encountered an internal error. Please try again.</Message>"
			  "</Error>";

	ck_assert_int_eq(s3xml_complete(ok, strlen(ok), code, sizeof(code), msg, sizeof(msg)), 0);
	ck_assert_str_eq(code, "");
	/* 200 with an error in the body: S3 does that to a complete */
	ck_assert_int_eq(s3xml_complete(err, strlen(err), code, sizeof(code), msg, sizeof(msg)),
			 EAGAIN);
	ck_assert_str_eq(code, "InternalError");
	ck_assert_str_eq(msg, "We encountered an internal erro");
	ck_assert_int_eq(s3xml_complete("", 0, code, sizeof(code), msg, sizeof(msg)), EPROTO);
	ck_assert_int_eq(s3xml_complete("<X/>", 4, code, sizeof(code), msg, sizeof(msg)), EPROTO);
	ck_assert_int_eq(s3xml_complete("<Error></Error>", 15, code, sizeof(code), msg,
					sizeof(msg)), EPROTO);
	ck_assert_int_eq(s3xml_complete("<CompleteMultipartUploadResult>", 31, code, sizeof(code),
					msg, sizeof(msg)), EPROTO); /* cut short */
	ck_assert_int_eq(s3xml_complete(NULL, 0, code, sizeof(code), msg, sizeof(msg)), EPROTO);
}
END_TEST

struct ups {
	char buf[2048];
	int n, stop_at;
};

static int add_upload(void *ctx, const char *key, const char *id, uint64_t ns)
{
	struct ups *u = ctx;
	size_t used = strlen(u->buf);

	snprintf(u->buf + used, sizeof(u->buf) - used, "%s %s %llu;", key, id,
		 (unsigned long long)ns);
	return ++u->n == u->stop_at ? 42 : 0;
}

static int uploads(const char *xml, struct s3xml_uploads_page *pg, struct ups *u)
{
	memset(u, 0, sizeof(*u));
	return s3xml_uploads_page(xml, strlen(xml), pg, add_upload, u);
}

#define UHEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult " \
	"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
#define UP(key, id, when) "<Upload><Key>" key "</Key><UploadId>" id "</UploadId>" \
	"<Initiator><ID>x</ID></Initiator><Initiated>" when "</Initiated></Upload>"

START_TEST(uploads_page)
{
	struct s3xml_uploads_page pg;
	struct ups u;

	ck_assert_int_eq(uploads(UHEAD "<IsTruncated>false</IsTruncated>"
				 UP("p/a+b", "id1", "2026-11-29T23:55:07.000Z")
				 UP("p/c", "id2", "1970-01-01T00:00:01.123456789123Z")
				 UP("p/d", "id3", "2000-02-29T12:00:00Z")
				 "</ListMultipartUploadsResult>", &pg, &u), 0);
	ck_assert_str_eq(u.buf, "p/a+b id1 1795996507000000000;p/c id2 1123456789;"
			 "p/d id3 951825600000000000;");
	ck_assert_int_eq(pg.truncated, 0);
	ck_assert_ptr_null(pg.next_key);
	ck_assert_ptr_null(pg.next_upload_id);

	/* url-encoded keys and marker; a truncated page gives its markers */
	ck_assert_int_eq(uploads(UHEAD "<EncodingType>url</EncodingType>"
				 "<IsTruncated>true</IsTruncated>"
				 "<NextKeyMarker>p/caf%C3%A9+x</NextKeyMarker>"
				 "<NextUploadIdMarker>id/2=</NextUploadIdMarker>"
				 UP("p/caf%C3%A9+x", "id/2=", "2026-01-01T00:00:00.5Z")
				 "</ListMultipartUploadsResult>", &pg, &u), 0);
	ck_assert_str_eq(u.buf, "p/caf\xc3\xa9 x id/2= 1767225600500000000;");
	ck_assert_int_eq(pg.truncated, 1);
	ck_assert_str_eq(pg.next_key, "p/caf\xc3\xa9 x");
	ck_assert_str_eq(pg.next_upload_id, "id/2=");
	free(pg.next_key);
	free(pg.next_upload_id);

	/* no uploads at all */
	ck_assert_int_eq(uploads(UHEAD "<IsTruncated>false</IsTruncated>"
				 "</ListMultipartUploadsResult>", &pg, &u), 0);
	ck_assert_int_eq(u.n, 0);

	/* the callback stops it; nothing is left to free */
	memset(&u, 0, sizeof(u));
	u.stop_at = 1;
	{
		static const char doc[] = UHEAD "<IsTruncated>true</IsTruncated>"
			"<NextKeyMarker>k</NextKeyMarker>"
			UP("a", "1", "2026-01-01T00:00:00Z") UP("b", "2", "2026-01-01T00:00:00Z")
			"</ListMultipartUploadsResult>";

		ck_assert_int_eq(s3xml_uploads_page(doc, strlen(doc), &pg, add_upload, &u), 42);
	}
	ck_assert_int_eq(u.n, 1);
	ck_assert_ptr_null(pg.next_key);
	ck_assert_ptr_null(pg.next_upload_id);
}
END_TEST

START_TEST(uploads_refused)
{
	static const char *bad[] = {
		"",
		"not xml",
		"<Error><Code>NotImplemented</Code></Error>",
		UHEAD "<IsTruncated>true</IsTruncated></ListMultipartUploadsResult>", /* no marker */
		UHEAD "<IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker>"
		      "<NextUploadIdMarker>a b</NextUploadIdMarker></ListMultipartUploadsResult>",
		UHEAD "<Upload><UploadId>1</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated>"
		      "</Upload></ListMultipartUploadsResult>",                       /* no key */
		UHEAD UP("k", "", "2026-01-01T00:00:00Z") "</ListMultipartUploadsResult>",
		UHEAD UP("k", "a b", "2026-01-01T00:00:00Z") "</ListMultipartUploadsResult>",
		UHEAD "<Upload><Key>k</Key><UploadId>1</UploadId></Upload>"
		      "</ListMultipartUploadsResult>",                                /* no time */
		UHEAD UP("k", "1", "2026-01-01 00:00:00Z") "</ListMultipartUploadsResult>",
		UHEAD UP("k", "1", "2026-13-01T00:00:00Z") "</ListMultipartUploadsResult>",
		UHEAD UP("k", "1", "2026-01-01T00:00:00") "</ListMultipartUploadsResult>",
		UHEAD UP("k", "1", "2026-01-01T00:00:00.Z") "</ListMultipartUploadsResult>",
		UHEAD UP("k", "1", "2026-01-01T00:00:00Zx") "</ListMultipartUploadsResult>",
		UHEAD UP("k", "1", "1969-12-31T23:59:59Z") "</ListMultipartUploadsResult>",
		UHEAD UP("k", "1", "") "</ListMultipartUploadsResult>",
		UHEAD "<EncodingType>url</EncodingType>" UP("k%zz", "1", "2026-01-01T00:00:00Z")
		      "</ListMultipartUploadsResult>",
		UHEAD "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
		      "<NextKeyMarker>k%00</NextKeyMarker></ListMultipartUploadsResult>",
		UHEAD UP("k", "1", "2026-01-01T00:00:00Z"),                       /* cut short */
		"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		"<ListMultipartUploadsResult>" UP("&e;", "1", "2026-01-01T00:00:00Z")
		"</ListMultipartUploadsResult>",
	};
	struct s3xml_uploads_page pg;
	struct ups u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = uploads(bad[i], &pg, &u);

		ck_assert_msg(rc == EPROTO, "case %zu: rc %d", i, rc);
		ck_assert_ptr_null(pg.next_key);
		ck_assert_ptr_null(pg.next_upload_id);
		ck_assert_msg(!strstr(u.buf, "root:"), "case %zu read a file", i);
	}
	ck_assert_int_eq(s3xml_uploads_page(NULL, 0, &pg, add_upload, &u), EPROTO);
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
	tcase_add_test(tc, upload_id);
	tcase_add_test(tc, complete);
	tcase_add_test(tc, uploads_page);
	tcase_add_test(tc, uploads_refused);
	suite_add_tcase(s, tc);
	return s;
}
