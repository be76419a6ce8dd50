/* fuzz_s3xml.c: libFuzzer target for the S3 answer parsers (syncer/store/s3xml.c):
 * whatever a server, or anything between us and it, answers: listings,
 * errors, and the answers of multipart uploads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_key(void *ctx, const char *key, uint64_t size)
{
	*(volatile size_t *)ctx += strlen(key) + (size_t)(size & 1);
	return 0;
}

static int on_upload(void *ctx, const char *key, const char *id, uint64_t ns)
{
	*(volatile size_t *)ctx += strlen(key) + strlen(id) + (size_t)(ns & 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3xml_uploads_page up = { 0 };
	char id[S3XML_UPLOAD_ID_MAX + 1];
	struct s3xml_page pg = { 0 };
	volatile size_t seen = 0;
	char code[64], msg[256];

	if (s3xml_list_page((const char *)data, size, &pg, on_key, (void *)&seen) == 0 &&
	    pg.next_token)
		seen += strlen(pg.next_token);
	free(pg.next_token);
	s3xml_error((const char *)data, size, code, sizeof(code), msg, sizeof(msg));
	seen += strlen(code) + strlen(msg);
	if (s3xml_upload_id((const char *)data, size, id, sizeof(id)) == 0)
		seen += strlen(id);
	s3xml_complete((const char *)data, size, code, sizeof(code), msg, sizeof(msg));
	seen += strlen(code) + strlen(msg);
	if (s3xml_uploads_page((const char *)data, size, &up, on_upload, (void *)&seen) == 0 &&
	    up.next_key)
		seen += strlen(up.next_key) + strlen(up.next_upload_id);
	free(up.next_key);
	free(up.next_upload_id);
	return 0;
}
