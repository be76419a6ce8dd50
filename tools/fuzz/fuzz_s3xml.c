/* fuzz_s3xml.c: libFuzzer target for the S3 answer parser (syncer/store/s3xml.c):
 * whatever a server, or anything between us and it, answers. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3xml_page pg = { 0 };
	volatile size_t seen = 0;
	char code[64], msg[256];

	if (s3xml_list_page((const char *)data, size, &pg, on_key, (void *)&seen) == 0 &&
	    pg.next_token)
		seen += strlen(pg.next_token);
	free(pg.next_token);
	s3xml_error((const char *)data, size, code, sizeof(code), msg, sizeof(msg));
	seen += strlen(code) + strlen(msg);
	return 0;
}
