/* s3xml.c: ListObjectsV2 pages, error documents and the answers of
 * multipart uploads, through libxml2. */
#define _DEFAULT_SOURCE /* timegm */
#include "s3xml.h"
#include "pct.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define PARSE_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* S3 never sends a DTD: a document with one is refused whole, so that no
 * entity of it is ever looked at. */
static xmlDocPtr parse(const char *xml, size_t len)
{
	xmlDocPtr doc;

	if (!xml || !len || len > INT32_MAX)
		return NULL;
	doc = xmlReadMemory(xml, (int)len, NULL, NULL, PARSE_OPTS);
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	return doc;
}

static int named(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* The text of n's first child element called name, or NULL (xmlFree). */
static char *child_text(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (named(c, name))
			return (char *)xmlNodeGetContent(c);
	return NULL;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return EPROTO;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return *end || errno ? EPROTO : 0;
}

static int one_key(const xmlNode *c, int encoded, s3xml_key_fn fn, void *ctx)
{
	char *key = child_text(c, "Key"), *size = child_text(c, "Size"), *plain = NULL;
	uint64_t n = 0;
	int rc = key ? parse_size(size, &n) : EPROTO;

	/* a key sent with encoding-type=url: '+' is a space */
	if (!rc && encoded) {
		rc = pct_decode_form(key, strlen(key), &plain);
		if (rc == EINVAL)
			rc = EPROTO;
	}
	if (!rc)
		rc = fn(ctx, plain ? plain : key, n);
	free(plain);
	xmlFree(key);
	xmlFree(size);
	return rc;
}

int s3xml_list_page(const char *xml, size_t len, struct s3xml_page *pg, s3xml_key_fn fn,
		    void *ctx)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char *enc, *trunc, *token;
	int rc = 0, encoded;

	pg->truncated = 0;
	pg->next_token = NULL;
	if (!root || !named(root, "ListBucketResult")) {
		xmlFreeDoc(doc);
		return EPROTO;
	}
	enc = child_text(root, "EncodingType");
	trunc = child_text(root, "IsTruncated");
	token = child_text(root, "NextContinuationToken");
	encoded = enc && !strcmp(enc, "url");
	pg->truncated = trunc && !strcmp(trunc, "true");
	if (pg->truncated && (!token || !token[0]))
		rc = EPROTO;
	if (!rc && pg->truncated && !(pg->next_token = strdup(token)))
		rc = ENOMEM;
	for (const xmlNode *c = root->children; c && !rc; c = c->next)
		if (named(c, "Contents"))
			rc = one_key(c, encoded, fn, ctx);
	xmlFree(enc);
	xmlFree(trunc);
	xmlFree(token);
	xmlFreeDoc(doc);
	if (rc) {
		free(pg->next_token);
		pg->next_token = NULL;
	}
	return rc;
}

/* Copy s into dst, cut to fit, anything unprintable made '?'. */
static void printable(char *dst, size_t n, const char *s)
{
	size_t i = 0;

	if (!n)
		return;
	for (; s && s[i] && i + 1 < n; i++)
		dst[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	dst[i] = 0;
}

void s3xml_error(const char *xml, size_t len, char *code, size_t codelen, char *msg,
		 size_t msglen)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char *c = NULL, *m = NULL;

	if (root && named(root, "Error")) {
		c = child_text(root, "Code");
		m = child_text(root, "Message");
	}
	printable(code, codelen, c);
	printable(msg, msglen, m);
	xmlFree(c);
	xmlFree(m);
	xmlFreeDoc(doc);
}

int s3xml_upload_id_ok(const char *id)
{
	size_t n = 0;

	for (; id && id[n]; n++)
		if (n >= S3XML_UPLOAD_ID_MAX || !isgraph((unsigned char)id[n]) ||
		    (unsigned char)id[n] > 126)
			return 0;
	return n > 0;
}

int s3xml_upload_id(const char *xml, size_t len, char *id, size_t idlen)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char *u = NULL;
	int rc = EPROTO;

	if (idlen)
		id[0] = 0;
	if (root && named(root, "InitiateMultipartUploadResult"))
		u = child_text(root, "UploadId");
	if (u && s3xml_upload_id_ok(u) && strlen(u) < idlen) {
		memcpy(id, u, strlen(u) + 1);
		rc = 0;
	}
	xmlFree(u);
	xmlFreeDoc(doc);
	return rc;
}

int s3xml_complete(const char *xml, size_t len, char *code, size_t codelen, char *msg,
		   size_t msglen)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	int rc = EPROTO;

	printable(code, codelen, NULL);
	printable(msg, msglen, NULL);
	if (root && named(root, "CompleteMultipartUploadResult"))
		rc = 0;
	xmlFreeDoc(doc);
	if (root && rc) {
		s3xml_error(xml, len, code, codelen, msg, msglen);
		if (code[0])
			rc = EAGAIN;
	}
	return rc;
}

/* d digits of s at *i as a number, or -1. */
static int digits(const char *s, size_t *i, int d)
{
	int v = 0;

	for (int k = 0; k < d; k++, (*i)++) {
		if (!isdigit((unsigned char)s[*i]))
			return -1;
		v = v * 10 + (s[*i] - '0');
	}
	return v;
}

/* YYYY-MM-DDTHH:MM:SS[.f...]Z (what S3 sends for Initiated) to ns. */
static int parse_time(const char *s, uint64_t *out)
{
	struct tm tm = { 0 };
	size_t i = 0;
	uint64_t frac = 0, scale = 1000000000;
	int y, mo, d, h, mi, sec;
	time_t t;

	if (!s)
		return EPROTO;
	y = digits(s, &i, 4);
	mo = s[i] == '-' ? (i++, digits(s, &i, 2)) : -1;
	d = s[i] == '-' ? (i++, digits(s, &i, 2)) : -1;
	h = s[i] == 'T' ? (i++, digits(s, &i, 2)) : -1;
	mi = s[i] == ':' ? (i++, digits(s, &i, 2)) : -1;
	sec = s[i] == ':' ? (i++, digits(s, &i, 2)) : -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 60)
		return EPROTO;
	if (s[i] == '.') {
		if (!isdigit((unsigned char)s[++i]))
			return EPROTO;
		for (; isdigit((unsigned char)s[i]); i++)
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(s[i] - '0') * scale;
			}
	}
	if (s[i] != 'Z' || s[i + 1])
		return EPROTO;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t < 0 || (uint64_t)t > UINT64_MAX / 1000000000 - 1)
		return EPROTO;
	*out = (uint64_t)t * 1000000000 + frac;
	return 0;
}

static int one_upload(const xmlNode *c, int encoded, s3xml_upload_fn fn, void *ctx)
{
	char *key = child_text(c, "Key"), *id = child_text(c, "UploadId");
	char *when = child_text(c, "Initiated"), *plain = NULL;
	uint64_t ns = 0;
	int rc = key && s3xml_upload_id_ok(id) ? parse_time(when, &ns) : EPROTO;

	if (!rc && encoded) {
		rc = pct_decode_form(key, strlen(key), &plain);
		if (rc == EINVAL)
			rc = EPROTO;
	}
	if (!rc)
		rc = fn(ctx, plain ? plain : key, id, ns);
	free(plain);
	xmlFree(key);
	xmlFree(id);
	xmlFree(when);
	return rc;
}

int s3xml_uploads_page(const char *xml, size_t len, struct s3xml_uploads_page *pg,
		       s3xml_upload_fn fn, void *ctx)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char *enc, *trunc, *key, *id;
	int rc = 0, encoded;

	memset(pg, 0, sizeof(*pg));
	if (!root || !named(root, "ListMultipartUploadsResult")) {
		xmlFreeDoc(doc);
		return EPROTO;
	}
	enc = child_text(root, "EncodingType");
	trunc = child_text(root, "IsTruncated");
	key = child_text(root, "NextKeyMarker");
	id = child_text(root, "NextUploadIdMarker");
	encoded = enc && !strcmp(enc, "url");
	pg->truncated = trunc && !strcmp(trunc, "true");
	if (pg->truncated && (!key || !key[0] || (id && id[0] && !s3xml_upload_id_ok(id))))
		rc = EPROTO;
	/* NextKeyMarker is encoded like the keys; it goes back decoded (and
	 * %-encoded in the query again) */
	if (!rc && pg->truncated) {
		rc = encoded ? pct_decode_form(key, strlen(key), &pg->next_key)
			     : (pg->next_key = strdup(key)) ? 0 : ENOMEM;
		if (rc == EINVAL)
			rc = EPROTO;
		if (!rc && !(pg->next_upload_id = strdup(id ? id : "")))
			rc = ENOMEM;
	}
	for (const xmlNode *c = root->children; c && !rc; c = c->next)
		if (named(c, "Upload"))
			rc = one_upload(c, encoded, fn, ctx);
	xmlFree(enc);
	xmlFree(trunc);
	xmlFree(key);
	xmlFree(id);
	xmlFreeDoc(doc);
	if (rc) {
		free(pg->next_key);
		free(pg->next_upload_id);
		memset(pg, 0, sizeof(*pg));
		pg->truncated = 0;
	}
	return rc;
}
