/* s3xml.h: reading the XML documents S3 answers with: a ListObjectsV2
 * page, an error, and the answers of multipart uploads (initiate,
 * complete, a ListMultipartUploads page). libxml2 parses; no network, no DTDs, no entities
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

/* Longest upload id we take (S3's are about 100-200 bytes). */
#define S3XML_UPLOAD_ID_MAX 1024

/* Whether id is one we take: 1..S3XML_UPLOAD_ID_MAX bytes of printable
 * ASCII, no space (it goes into URLs %-encoded, and into messages). */
int s3xml_upload_id_ok(const char *id);

/* The UploadId of an InitiateMultipartUploadResult, into id (idlen
 * bytes, at least S3XML_UPLOAD_ID_MAX + 1). Returns 0, or EPROTO if the
 * document is not one or its UploadId is missing or not s3xml_upload_id_ok. */
int s3xml_upload_id(const char *xml, size_t len, char *id, size_t idlen);

/* The answer to CompleteMultipartUpload, which S3 may send with status
 * 200 and an Error document in it. Returns 0 for a
 * CompleteMultipartUploadResult; EAGAIN for an Error document, with its
 * Code and Message in code and msg (as s3xml_error); EPROTO otherwise. */
int s3xml_complete(const char *xml, size_t len, char *code, size_t codelen, char *msg,
		   size_t msglen);

/* s3xml_uploads_page calls this once per unfinished upload: its key, id
 * and when it was initiated (UTC ns since the epoch). A nonzero return
 * stops it and is returned. */
typedef int (*s3xml_upload_fn)(void *ctx, const char *key, const char *upload_id,
			       uint64_t initiated_ns);

/* One page of a ListMultipartUploads listing. The markers are owned by
 * the caller (free). */
struct s3xml_uploads_page {
	int truncated;          /* IsTruncated: more pages follow */
	char *next_key;         /* NextKeyMarker, when truncated */
	char *next_upload_id;   /* NextUploadIdMarker, when truncated (may be "") */
};

/* Parse a ListMultipartUploads answer. Keys are %-decoded when it says
 * EncodingType url. Returns 0, EPROTO if it is not such a document, an
 * upload lacks a Key, a good UploadId or an Initiated time
 * (YYYY-MM-DDTHH:MM:SS[.fff]Z), or a truncated page has no NextKeyMarker;
 * ENOMEM, or fn's return. */
int s3xml_uploads_page(const char *xml, size_t len, struct s3xml_uploads_page *pg,
		       s3xml_upload_fn fn, void *ctx);

#endif
