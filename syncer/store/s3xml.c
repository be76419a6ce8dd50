/* s3xml.c: ListObjectsV2 pages and error documents, through libxml2. */
#include "s3xml.h"
#include "pct.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
