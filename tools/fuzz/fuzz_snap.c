/* fuzz_snap.c: libFuzzer target for the snapshot reader (syncer/codec/snap.c),
 * which reads objects other instances (or anyone with write access to the
 * store) put there. An input that starts with zstd's magic is read as an
 * object; any other input is first compressed, with the frame checksum,
 * so that the fuzzer reaches the protobuf decoder. Every event is
 * touched, so that ASan sees any pointer past the data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "err.h"
#include "snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t n, off;
};

/* Hands the bytes out in small, odd pieces: the reader must stitch them. */
static int mem_source(void *ctx, void *buf, size_t cap, size_t *got)
{
	struct mem *m = ctx;
	size_t n = m->n - m->off;

	if (n > 777)
		n = 777;
	if (n > cap)
		n = cap;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	*got = n;
	return 0;
}

static unsigned sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	unsigned s = 0;

	for (size_t i = 0; i < n; i++)
		s += b[i];
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	struct mem m = { data, size, 0 };
	struct snap_reader *r = NULL;
	struct snap_event ev;
	uint8_t *z = NULL;
	volatile unsigned seen = 0;
	int rc;

	if (size < 4 || memcmp(data, magic, 4) != 0) {
		ZSTD_CCtx *c = ZSTD_createCCtx();
		size_t cap = ZSTD_compressBound(size), n;

		z = malloc(cap);
		if (!c || !z) {
			ZSTD_freeCCtx(c);
			free(z);
			return 0;
		}
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
		n = ZSTD_compress2(c, z, cap, data, size);
		ZSTD_freeCCtx(c);
		if (ZSTD_isError(n)) {
			free(z);
			return 0;
		}
		m = (struct mem){ z, n, 0 };
	}
	if (snap_reader_new(&r, mem_source, &m) == 0) {
		while ((rc = snap_reader_next(r, &ev)) == 0 && ev.type != SNAP_EV_END) {
			if (ev.type == SNAP_EV_DBI)
				seen += sum(ev.dbi.name, ev.dbi.name_len) +
					(unsigned)strlen(ev.dbi.transform ? ev.dbi.transform : "");
			else if (ev.type == SNAP_EV_KV)
				seen += sum(ev.kv.key, ev.kv.klen) + sum(ev.kv.val, ev.kv.vlen);
			else if (ev.type == SNAP_EV_META)
				seen += (unsigned)strlen(ev.meta.instance ? ev.meta.instance : "");
		}
		(void)err_str(rc);
	}
	snap_reader_free(r);
	free(z);
	return 0;
}
