/* snap.h: snapshot objects: Lightning Stream's `Snapshot` protobuf
 * (format 3, readable by format-1 readers), compressed with zstd with its
 * frame checksum, written and read as streams.
 *
 * Memory stays bounded whatever the object's size: the writer holds at
 * most SNAP_CHUNK bytes of one DBI's entries and then writes them as one
 * `databases` DBI message, so a large DBI becomes several messages with
 * the same name, flags and transform (Lightning Stream's loaders merge
 * per key, so this is valid). The reader holds one message at a time and
 * refuses any over SNAP_MAX_MESSAGE.
 *
 * DUPSORT DBIs carry DBI.transform = SNAP_TRANSFORM_DUPSORT: one entry per
 * (key, value) element, key and value as they are (no dupsort_hack_v1
 * encoding); the tombstone of an element carries its value. The unnamed
 * DBI is the DBI with the empty name (LMDB never names a DBI "").
 *
 * Functions return 0, an errno value or a MDBTAP_E_SNAP_* code.
 */
#ifndef MDBTAP_SNAP_H
#define MDBTAP_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SNAP_FORMAT_VERSION 3
#define SNAP_COMPAT_VERSION 1
#define SNAP_KV_DELETED 1u                  /* KV.flags: a tombstone */
#define SNAP_TRANSFORM_DUPSORT "mdbtap_dupsort_v1"
#define SNAP_CHUNK (1u << 20)
#define SNAP_MAX_MESSAGE (64u << 20)
/* DBI message fields of mdbtap's own, fixed64, far from Lightning
 * Stream's (1 to 4), which its readers skip as unknown. */
#define SNAP_FIELD_EPOCH 1001
#define SNAP_FIELD_PREV_EPOCH 1002



struct snap_meta {
	const char *generation, *instance, *hostname, *database;
	int64_t txnid;          /* lmdbTxnID: the txn the object was read at */
	int64_t from_txnid;     /* fromLmdbTxnID: deltas only, else 0 */
	uint64_t ts_ns;         /* timestampNano */
	uint32_t format_version, compat_version; /* set by the reader */
};

struct snap_dbi {
	const char *name;       /* not NUL-terminated; name_len 0: unnamed */
	size_t name_len;
	uint64_t flags;         /* the DBI's persistent LMDB flags */
	const char *transform;  /* "" or SNAP_TRANSFORM_DUPSORT */
	/* mdbtap's own fields (SNAP_FIELD_*; absent, as Lightning Stream
	 * writes, means 0): HLC ns of when the DBI's current shape (flags)
	 * began, and the epoch of the shape it replaced (docs/DESIGN.md §22). */
	uint64_t epoch;
	uint64_t prev_epoch;
};

struct snap_kv {
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	uint64_t ts;            /* ns; 0 is omitted on the wire */
	uint32_t flags;         /* SNAP_KV_DELETED */
};

/* Where the writer's compressed bytes go: 0 or an errno value. */
typedef int (*snap_sink_fn)(void *ctx, const void *buf, size_t len);
/* ctx is an int * (a file descriptor): writes all of buf. */
int snap_write_fd_sink(void *fdp, const void *buf, size_t len);

struct snap_writer;
/* Start an object with meta m (copied); level: zstd level; size_hint: the
 * uncompressed size expected, 0 if unknown (a small hint gives zstd small
 * tables, so that a delta of a few elements costs little to start).
 * *out is owned by the caller: snap_writer_free. */
int snap_writer_new(struct snap_writer **out, const struct snap_meta *m, int level,
		    size_t size_hint, snap_sink_fn sink, void *ctx);
/* Start a DBI: the entries that follow belong to it. */
int snap_writer_dbi(struct snap_writer *w, const struct snap_dbi *d);
int snap_writer_kv(struct snap_writer *w, const struct snap_kv *kv);
/* Write the last chunk and end the zstd frame. */
int snap_writer_finish(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);
/* Bytes of entries the writer holds (tests: memory stays bounded). */
size_t snap_writer_buffered(const struct snap_writer *w);

/* Where the reader's compressed bytes come from: *got = 0 at the end. */
typedef int (*snap_source_fn)(void *ctx, void *buf, size_t cap, size_t *got);
/* ctx is an int * (a file descriptor), read from its current offset. */
int snap_read_fd_source(void *fdp, void *buf, size_t cap, size_t *got);

enum snap_event_type { SNAP_EV_META, SNAP_EV_DBI, SNAP_EV_KV, SNAP_EV_END };

/* Pointers in an event stay valid until the next snap_reader_next(). */
struct snap_event {
	enum snap_event_type type;
	struct snap_meta meta;
	struct snap_dbi dbi;
	struct snap_kv kv;
};

/* Every reader stops with EFBIG once an object has decompressed to more
 * than this many bytes (0: back to the default). The syncer sets it from
 * its config (max_object_expanded) before reading. */
#define SNAP_DEFAULT_MAX_EXPANDED (16ull << 30)
void snap_set_max_expanded(uint64_t max);

struct snap_reader;
int snap_reader_new(struct snap_reader **out, snap_source_fn src, void *ctx);
/* The next event, or an error code (then stop). SNAP_EV_END comes only
 * after the whole zstd frame was read, its checksum verified, and nothing
 * follows it: verify an object to its end before applying any of it. */
int snap_reader_next(struct snap_reader *r, struct snap_event *ev);
void snap_reader_free(struct snap_reader *r);

#endif
