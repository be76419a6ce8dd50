/* check_snap.c: snapshot objects (syncer/snap.c): the Lightning Stream
 * protobuf, zstd, streaming, and every kind of bad input. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_frameHeaderSize */
#include <zstd.h>

#include "snap.h"
#include "unit.h"

/* A growable in-memory object. */
struct mem {
	uint8_t *p;
	size_t len, cap, pos, step; /* step: the source's largest read (0: any) */
};

static int mem_sink(void *ctx, const void *buf, size_t len)
{
	struct mem *m = ctx;

	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->p = realloc(m->p, m->cap);
		ck_assert_ptr_nonnull(m->p);
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

static int mem_source(void *ctx, void *buf, size_t cap, size_t *got)
{
	struct mem *m = ctx;
	size_t n = m->len - m->pos;

	if (n > cap)
		n = cap;
	if (m->step && n > m->step)
		n = m->step;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	*got = n;
	return 0;
}

static const struct snap_meta META = { "G0123456789abcdef", "a", "host", "main", 42, 7,
				       1795550000123456789ull, 0, 0 };

/* A small object: the unnamed DBI, a named one, a DUPSORT one. */
static struct mem small_object(void)
{
	struct mem m = { 0 };
	struct snap_writer *w;
	struct snap_dbi d0 = { "", 0, 0, "", 0, 0 }, d1 = { "names", 5, 0x8, "", 0, 0 },
			d2 = { "tags", 4, 0x4, SNAP_TRANSFORM_DUPSORT, 0, 0 };
	struct snap_kv kv = { "k1", 2, "v1", 2, 5, 0 };

	ck_assert_int_eq(snap_writer_new(&w, &META, 3, 0, mem_sink, &m), 0);
	ck_assert_int_eq(snap_writer_dbi(w, &d0), 0);
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	kv = (struct snap_kv){ "gone", 4, NULL, 0, 6, SNAP_KV_DELETED };
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	ck_assert_int_eq(snap_writer_dbi(w, &d1), 0);
	kv = (struct snap_kv){ "\0\0\0\1", 4, "", 0, 0, 0 }; /* an empty value, ts 0 */
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	ck_assert_int_eq(snap_writer_dbi(w, &d2), 0);
	kv = (struct snap_kv){ "k", 1, "red", 3, UINT64_MAX, 0 };
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	kv = (struct snap_kv){ "k", 1, "blue", 4, 9, SNAP_KV_DELETED };
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	ck_assert_int_eq(snap_writer_finish(w), 0);
	snap_writer_free(w);
	return m;
}

/* Read all of m; returns the final code (0 after SNAP_EV_END). */
static int read_all(struct mem *m, unsigned *kvs)
{
	struct snap_reader *r;
	struct snap_event ev;
	int rc;

	m->pos = 0;
	*kvs = 0;
	ck_assert_int_eq(snap_reader_new(&r, mem_source, m), 0);
	while ((rc = snap_reader_next(r, &ev)) == 0 && ev.type != SNAP_EV_END)
		*kvs += ev.type == SNAP_EV_KV;
	snap_reader_free(r);
	return rc;
}

START_TEST(round_trip)
{
	struct mem m = small_object();
	struct snap_reader *r;
	struct snap_event ev;
	const char *want_dbis[] = { "", "names", "tags" };
	int ndbi = 0, nkv = 0;

	m.step = 1; /* the source hands out one byte at a time */
	ck_assert_int_eq(snap_reader_new(&r, mem_source, &m), 0);
	ck_assert_int_eq(snap_reader_next(r, &ev), 0);
	ck_assert_int_eq(ev.type, SNAP_EV_META);
	ck_assert_str_eq(ev.meta.generation, META.generation);
	ck_assert_str_eq(ev.meta.instance, "a");
	ck_assert_str_eq(ev.meta.hostname, "host");
	ck_assert_str_eq(ev.meta.database, "main");
	ck_assert_int_eq(ev.meta.txnid, 42);
	ck_assert_int_eq(ev.meta.from_txnid, 7);
	ck_assert_uint_eq(ev.meta.ts_ns, META.ts_ns);
	ck_assert_uint_eq(ev.meta.format_version, SNAP_FORMAT_VERSION);
	ck_assert_uint_eq(ev.meta.compat_version, SNAP_COMPAT_VERSION);
	while (snap_reader_next(r, &ev) == 0 && ev.type != SNAP_EV_END) {
		if (ev.type == SNAP_EV_DBI) {
			ck_assert_uint_eq(ev.dbi.name_len, strlen(want_dbis[ndbi]));
			ck_assert(!memcmp(ev.dbi.name, want_dbis[ndbi], ev.dbi.name_len));
			ndbi++;
			continue;
		}
		nkv++;
		if (nkv == 2) {
			ck_assert(!memcmp(ev.kv.key, "gone", 4));
			ck_assert_uint_eq(ev.kv.flags, SNAP_KV_DELETED);
			ck_assert_uint_eq(ev.kv.ts, 6);
		} else if (nkv == 3) {
			ck_assert_uint_eq(ev.kv.vlen, 0);
			ck_assert_uint_eq(ev.kv.ts, 0);
			ck_assert_uint_eq(ev.kv.flags, 0);
		} else if (nkv == 4) {
			ck_assert_uint_eq(ev.kv.ts, UINT64_MAX);
			ck_assert(!memcmp(ev.kv.val, "red", 3));
		} else if (nkv == 5) {
			ck_assert(!memcmp(ev.kv.val, "blue", 4)); /* a DUPSORT tombstone keeps its value */
			ck_assert_uint_eq(ev.kv.flags, SNAP_KV_DELETED);
		}
	}
	ck_assert_int_eq(ev.type, SNAP_EV_END);
	ck_assert_int_eq(ndbi, 3);
	ck_assert_int_eq(nkv, 5);
	snap_reader_free(r);
	free(m.p);
}
END_TEST

/* The protobuf bytes, by hand from Lightning Stream's schema:
 * Snapshot{formatVersion(1)=3, compatVersion(4)=1, meta(2){instanceID(2)="a",
 * lmdbTxnID(4)=5}, databases(3){name(1)="n", entries(2){key(1)="k",
 * value(2)="v", timestampNano(3)=2 as fixed64}}}. */
START_TEST(golden_protobuf)
{
	static const uint8_t want[] = {
		0x08, 0x03,                         /* 1: varint 3 */
		0x20, 0x01,                         /* 4: varint 1 */
		0x12, 0x05, 0x12, 0x01, 'a', 0x20, 0x05, /* 2: Meta{2:"a", 4:5} */
		0x1a, 0x14,                         /* 3: DBI, 20 bytes */
		0x0a, 0x01, 'n',                    /*   1: "n" */
		0x12, 0x0f,                         /*   2: KV, 15 bytes */
		0x0a, 0x01, 'k', 0x12, 0x01, 'v',   /*     1: "k", 2: "v" */
		0x19, 2, 0, 0, 0, 0, 0, 0, 0,       /*     3: fixed64 2 */
	};
	struct snap_meta meta = { 0 };
	struct snap_dbi d = { "n", 1, 0, "", 0, 0 }; /* epochs 0: not written */
	struct snap_kv kv = { "k", 1, "v", 1, 2, 0 };
	struct mem m = { 0 };
	struct snap_writer *w;
	uint8_t plain[256];
	size_t n;

	meta.instance = "a";
	meta.txnid = 5;
	ck_assert_int_eq(snap_writer_new(&w, &meta, 1, 100, mem_sink, &m), 0);
	ck_assert_int_eq(snap_writer_dbi(w, &d), 0);
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	ck_assert_int_eq(snap_writer_finish(w), 0);
	snap_writer_free(w);
	n = ZSTD_decompress(plain, sizeof(plain), m.p, m.len);
	ck_assert(!ZSTD_isError(n));
	ck_assert_uint_eq(n, sizeof(want));
	ck_assert_mem_eq(plain, want, sizeof(want));
	free(m.p);
}
END_TEST

/* A DBI's shape epochs (mdbtap's fields 1001 and 1002, fixed64) are
 * written when set, read back, and absent (Lightning Stream's objects,
 * older ones of ours) reads as 0; a DBI message without them is as
 * before (golden_protobuf). */
START_TEST(shape_epochs)
{
	static const uint8_t want_head[] = {
		0x1a, 0x33,                         /* 3: DBI, 51 bytes */
		0x0a, 0x01, 'n',                    /*   1: "n" */
		0x18, 0x04,                         /*   3: flags 4 */
		0x22, 0x11, 'm', 'd', 'b', 't', 'a', 'p', '_', 'd', 'u', 'p', 's', 'o', 'r',
		't', '_', 'v', '1',                 /*   4: transform */
		0xc9, 0x3e, 0x02, 0x01, 0, 0, 0, 0, 0, 0, /* 1001: fixed64 0x102 */
	};
	struct snap_meta meta = { 0 };
	struct snap_dbi d = { "n", 1, 0x4, SNAP_TRANSFORM_DUPSORT, 0x102, 0 },
			d2 = { "m", 1, 0, "", 1795550000123456789ull, 1795540000000000000ull },
			d3 = { "o", 1, 0, "", 0, 0 };
	struct snap_kv kv = { "k", 1, "v", 1, 2, 0 };
	struct mem m = { 0 };
	struct snap_writer *w;
	struct snap_reader *r;
	struct snap_event ev;
	uint8_t plain[512];
	uint64_t got[3][2];
	int ndbi = 0;
	size_t n;

	meta.instance = "a";
	ck_assert_int_eq(snap_writer_new(&w, &meta, 1, 100, mem_sink, &m), 0);
	ck_assert_int_eq(snap_writer_dbi(w, &d), 0);
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	ck_assert_int_eq(snap_writer_dbi(w, &d2), 0);
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	ck_assert_int_eq(snap_writer_dbi(w, &d3), 0);
	ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	ck_assert_int_eq(snap_writer_finish(w), 0);
	snap_writer_free(w);
	n = ZSTD_decompress(plain, sizeof(plain), m.p, m.len);
	ck_assert(!ZSTD_isError(n));
	/* after formatVersion, compatVersion and Meta{2:"a"} */
	ck_assert_uint_ge(n, 9 + sizeof(want_head));
	ck_assert_mem_eq(plain + 9, want_head, sizeof(want_head));
	ck_assert_int_eq(snap_reader_new(&r, mem_source, &m), 0);
	while (snap_reader_next(r, &ev) == 0 && ev.type != SNAP_EV_END) {
		if (ev.type != SNAP_EV_DBI)
			continue;
		ck_assert_int_lt(ndbi, 3);
		got[ndbi][0] = ev.dbi.epoch;
		got[ndbi][1] = ev.dbi.prev_epoch;
		ndbi++;
	}
	snap_reader_free(r);
	ck_assert_int_eq(ndbi, 3);
	ck_assert_uint_eq(got[0][0], 0x102);
	ck_assert_uint_eq(got[0][1], 0);
	ck_assert_uint_eq(got[1][0], 1795550000123456789ull);
	ck_assert_uint_eq(got[1][1], 1795540000000000000ull);
	ck_assert_uint_eq(got[2][0], 0);
	ck_assert_uint_eq(got[2][1], 0);
	free(m.p);
}
END_TEST

/* A big DBI is written in chunks; the writer never holds much. */
START_TEST(big_dbi_is_chunked_and_bounded)
{
	struct snap_dbi d = { "big", 3, 0, "", 7, 3 };
	struct mem m = { 0 };
	struct snap_writer *w;
	struct snap_reader *r;
	struct snap_event ev;
	char key[16], big[512];
	unsigned dbis = 0, kvs = 0, n = 200000;
	uint8_t *huge = calloc(1, 1 << 20);

	memset(big, 'k', sizeof(big));
	ck_assert_int_eq(snap_writer_new(&w, &META, 1, 0, mem_sink, &m), 0);
	ck_assert_int_eq(snap_writer_dbi(w, &d), 0);
	for (unsigned i = 0; i < n; i++) {
		struct snap_kv kv = { key, (size_t)snprintf(key, sizeof(key), "%08u", i), "value", 5,
				      i + 1, 0 };

		ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
		ck_assert_uint_le(snap_writer_buffered(w), SNAP_CHUNK + 64);
	}
	{
		struct snap_kv kv = { big, 511, huge, 1 << 20, 1, 0 }; /* 511-byte key, 1 MiB value */

		ck_assert_int_eq(snap_writer_kv(w, &kv), 0);
	}
	ck_assert_int_eq(snap_writer_finish(w), 0);
	snap_writer_free(w);
	ck_assert_int_eq(snap_reader_new(&r, mem_source, &m), 0);
	while (snap_reader_next(r, &ev) == 0 && ev.type != SNAP_EV_END) {
		if (ev.type == SNAP_EV_DBI) {
			dbis++;
			ck_assert_uint_eq(ev.dbi.name_len, 3);
			/* every chunk's message carries the DBI's shape */
			ck_assert_uint_eq(ev.dbi.epoch, 7);
			ck_assert_uint_eq(ev.dbi.prev_epoch, 3);
		} else if (ev.type == SNAP_EV_KV && kvs++ < n) {
			ck_assert_uint_eq(ev.kv.ts, kvs); /* in order */
		} else if (ev.type == SNAP_EV_KV) {
			ck_assert_uint_eq(ev.kv.klen, 511);
			ck_assert_uint_eq(ev.kv.vlen, 1 << 20);
		}
	}
	ck_assert_int_eq(ev.type, SNAP_EV_END);
	ck_assert_uint_eq(kvs, n + 1);
	ck_assert_uint_gt(dbis, 2); /* several DBI messages of the same DBI */
	snap_reader_free(r);
	free(m.p);
	free(huge);
}
END_TEST

/* Cut anywhere: an error, never the end. */
START_TEST(truncated_anywhere)
{
	struct mem m = small_object(), cut;
	unsigned kvs;

	for (size_t len = 0; len < m.len; len++) {
		cut = m;
		cut.len = len;
		ck_assert_msg(read_all(&cut, &kvs) != 0, "cut at %zu of %zu read whole", len, m.len);
	}
	ck_assert_int_eq(read_all(&m, &kvs), 0);
	ck_assert_uint_eq(kvs, 5);
	free(m.p);
}
END_TEST

START_TEST(flipped_bytes_and_trailers)
{
	struct mem m = small_object(), two = { 0 };
	unsigned kvs;

	/* From the end of the frame header: some header bits (the window
	 * size) may change without changing the content, which the checksum
	 * covers. */
	size_t hdr = ZSTD_frameHeaderSize(m.p, m.len);

	ck_assert(!ZSTD_isError(hdr));
	for (size_t i = hdr; i < m.len; i++) {
		m.p[i] ^= 0x20;
		ck_assert_msg(read_all(&m, &kvs) != 0, "flip at %zu read whole", i);
		m.p[i] ^= 0x20;
	}
	mem_sink(&two, m.p, m.len);
	mem_sink(&two, m.p, m.len); /* a second frame */
	ck_assert_int_eq(read_all(&two, &kvs), MDBTAP_E_SNAP_CORRUPT);
	two.len = m.len + 1; /* one byte of garbage */
	ck_assert_int_eq(read_all(&two, &kvs), MDBTAP_E_SNAP_CORRUPT);
	free(m.p);
	free(two.p);
}
END_TEST

/* Hand-made protobuf, compressed with a checksum. */
static struct mem compress(const uint8_t *pb, size_t n)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	struct mem m = { 0 };
	size_t cap = ZSTD_compressBound(n), got;

	m.p = malloc(cap);
	ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
	got = ZSTD_compress2(z, m.p, cap, pb, n);
	ck_assert(!ZSTD_isError(got));
	m.len = got;
	ZSTD_freeCCtx(z);
	return m;
}

static int read_pb(const uint8_t *pb, size_t n, unsigned *kvs, uint32_t *flags)
{
	struct mem m = compress(pb, n);
	struct snap_reader *r;
	struct snap_event ev;
	int rc;

	*kvs = 0;
	ck_assert_int_eq(snap_reader_new(&r, mem_source, &m), 0);
	while ((rc = snap_reader_next(r, &ev)) == 0 && ev.type != SNAP_EV_END)
		if (ev.type == SNAP_EV_KV) {
			(*kvs)++;
			*flags = ev.kv.flags;
		}
	snap_reader_free(r);
	free(m.p);
	return rc;
}

START_TEST(versions)
{
	static const uint8_t v0[] = { 0x12, 0x00, 0x1a, 0x00 };            /* no formatVersion */
	static const uint8_t compat4[] = { 0x08, 0x03, 0x20, 0x04, 0x12, 0x00 };
	static const uint8_t v1_empty[] = { 0x08, 0x01, 0x12, 0x00, 0x1a, 0x07, 0x12, 0x05,
					    0x0a, 0x01, 'k', 0x12, 0x00 };
	static const uint8_t v2_empty[] = { 0x08, 0x02, 0x12, 0x00, 0x1a, 0x05, 0x12, 0x03,
					    0x0a, 0x01, 'k' };
	unsigned kvs;
	uint32_t flags = 0;

	ck_assert_int_eq(read_pb(v0, sizeof(v0), &kvs, &flags), MDBTAP_E_SNAP_VERSION);
	ck_assert_int_eq(read_pb(compat4, sizeof(compat4), &kvs, &flags), MDBTAP_E_SNAP_VERSION);
	ck_assert_int_eq(read_pb(v1_empty, sizeof(v1_empty), &kvs, &flags), 0);
	ck_assert_uint_eq(kvs, 1);
	ck_assert_uint_eq(flags, SNAP_KV_DELETED); /* format 1: an empty value is a delete */
	flags = 0;
	ck_assert_int_eq(read_pb(v2_empty, sizeof(v2_empty), &kvs, &flags), 0);
	ck_assert_uint_eq(flags, 0);
}
END_TEST

/* Unknown fields of every wire type, at every level, are skipped. */
START_TEST(unknown_fields_are_skipped)
{
	static const uint8_t pb[] = {
		0x08, 0x03, 0x20, 0x01,
		0x78, 0x05,                                  /* 15: varint */
		0x79, 1, 2, 3, 4, 5, 6, 7, 8,                /* 15: fixed64 */
		0x7d, 1, 2, 3, 4,                            /* 15: fixed32 */
		0x7a, 0x02, 'x', 'y',                        /* 15: bytes */
		0x12, 0x05, 0x12, 0x01, 'a', 0x78, 0x01,     /* Meta with an unknown varint */
		0x1a, 0x18,                                  /* DBI, 24 bytes */
		0x0a, 0x01, 'n', 0x7d, 0, 0, 0, 0,           /*   name, unknown fixed32 */
		0x12, 0x0c,                                  /*   KV, 12 bytes */
		0x0a, 0x01, 'k', 0x79, 1, 2, 3, 4, 5, 6, 7, 8, /* key, unknown fixed64 */
		0x3a, 0x00,                                  /*   7: empty bytes, in the DBI */
	};
	unsigned kvs;
	uint32_t flags;

	ck_assert_int_eq(read_pb(pb, sizeof(pb), &kvs, &flags), 0);
	ck_assert_uint_eq(kvs, 1);
}
END_TEST

START_TEST(malformed_protobuf)
{
	static const uint8_t bad_len[] = { 0x08, 0x03, 0x12, 0x00, 0x1a, 0x7f, 0x0a };
	static const uint8_t group[] = { 0x08, 0x03, 0x12, 0x00, 0x7b };       /* wire type 3 */
	static const uint8_t long_varint[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					       0xff, 0xff, 0xff, 0x01 };
	static const uint8_t field0[] = { 0x08, 0x03, 0x12, 0x00, 0x00, 0x00 };
	static const uint8_t huge[] = { 0x08, 0x03, 0x12, 0x00, 0x1a, 0x80, 0x80, 0x80, 0x80, 0x01 };
	static const uint8_t dbi_first[] = { 0x1a, 0x00, 0x08, 0x03, 0x12, 0x00 };
	unsigned kvs;
	uint32_t flags;

	ck_assert_int_ne(read_pb(bad_len, sizeof(bad_len), &kvs, &flags), 0);
	ck_assert_int_eq(read_pb(group, sizeof(group), &kvs, &flags), MDBTAP_E_SNAP_CORRUPT);
	ck_assert_int_eq(read_pb(long_varint, sizeof(long_varint), &kvs, &flags), MDBTAP_E_SNAP_CORRUPT);
	ck_assert_int_eq(read_pb(field0, sizeof(field0), &kvs, &flags), MDBTAP_E_SNAP_CORRUPT);
	ck_assert_int_eq(read_pb(huge, sizeof(huge), &kvs, &flags), MDBTAP_E_SNAP_LIMIT);
	ck_assert_int_ne(read_pb(dbi_first, sizeof(dbi_first), &kvs, &flags), 0);
}
END_TEST

Suite *snap_suite(void)
{
	Suite *s = suite_create("snap");
	TCase *tc = tcase_create("snap");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, golden_protobuf);
	tcase_add_test(tc, shape_epochs);
	tcase_add_test(tc, big_dbi_is_chunked_and_bounded);
	tcase_add_test(tc, truncated_anywhere);
	tcase_add_test(tc, flipped_bytes_and_trailers);
	tcase_add_test(tc, versions);
	tcase_add_test(tc, unknown_fields_are_skipped);
	tcase_add_test(tc, malformed_protobuf);
	suite_add_tcase(s, tc);
	return s;
}
