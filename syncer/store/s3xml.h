/* s3xml.h: reading the XML documents S3 answers with: a ListObjectsV2
 * page and an error. libxml2 parses; no network, no DTDs, no entities
 * from outside. */
#ifndef MDBTAP_S3XML_H
#define MDBTAP_S3XML_H

#include <stddef.h>
#include <stdint.h>

/* s3xml_list_page calls this once per key, in the page's order; a
 * nonzero return stops it and is returned. */
typedef int (*s3xml_key_fn)(void *ctx, const char *key, uint64_t size);

/* One page of a listing. next_token is owned by the caller (free). */
struct s3xml_page {
	int truncated;          /* IsTruncated: more pages follow */
	char *next_token;       /* NextContinuationToken, or NULL */
};

/* Parse a ListObjectsV2 answer of len bytes. Keys are %-decoded when the
 * answer says EncodingType url (servers that ignore encoding-type=url
 * send them raw and say nothing). Returns 0, EPROTO if it is not such a
 * document (or a truncated page has no token), ENOMEM, or fn's return. */
int s3xml_list_page(const char *xml, size_t len, struct s3xml_page *pg, s3xml_key_fn fn,
		    void *ctx);

/* The Code and Message of an S3 error document, each cut to fit and
 * made printable; "" where absent or if xml is not an error document. */
void s3xml_error(const char *xml, size_t len, char *code, size_t codelen, char *msg,
		 size_t msglen);

#endif
