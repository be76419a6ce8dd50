/* fuzz_names.c: libFuzzer target for object names (syncer/codec/objname.c), which
 * come from store listings, and journal record bodies (shim/journal/record.c),
 * which come from a file any writer of the env can write. A name that
 * parses must format back to itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objname.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void names(const uint8_t *data, size_t size)
{
	char in[600], out[600];
	struct objname o;

	if (size >= sizeof(in))
		return;
	memcpy(in, data, size);
	in[size] = 0;
	if (objname_parse(in, &o) != 0)
		return;
	if (objname_format(&o, out, sizeof(out)) != 0 || strcmp(in, out) != 0) {
		fprintf(stderr, "objname: '%s' parses but formats as '%s'\n", in, out);
		abort();
	}
}

static void record(const uint8_t *data, size_t size)
{
	struct record_iter it;
	struct record_op op;
	volatile size_t seen = 0;
	unsigned nnames, nops;
	int rc;

	if (size < 2)
		return;
	nnames = data[0];
	nops = data[1];
	if (record_iter_init(&it, data + 2, size - 2, nnames, nops) != 0)
		return;
	while ((rc = record_iter_next(&it, &op)) == 1) {
		const char *name;
		size_t len;

		seen += op.klen + op.vlen + op.name_len;
		if (op.klen)
			seen += ((const uint8_t *)op.key)[op.klen - 1];
		if (op.vlen)
			seen += ((const uint8_t *)op.val)[op.vlen - 1];
		if (record_name(&it, op.name_index, &name, &len) == 0 && len)
			seen += (uint8_t)name[len - 1];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	names(data, size);
	record(data, size);
	return 0;
}
