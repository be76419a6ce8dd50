/* elem.h: elements of the synced DBIs, seen through one host txn and
 * one meta txn at a time.
 *
 * A `struct dset` caches, per DBI touched, the host handle, the meta
 * handles and the DBI's metadata (count, digest), which elem_set_flush()
 * writes back. elem_stamp() brings one element's metadata in line with the
 * host: the heart of the journal fold and of rescans.
 */
#ifndef MDBTAP_ELEM_H
#define MDBTAP_ELEM_H

#include <lmdb.h>

#include "meta.h"
#include "senv.h"

struct dctx {
	char *name;               /* owned; NULL: the unnamed DBI */
	size_t len;
	int host_exists;          /* the host has the DBI now */
	int created;              /* dset_get created it in the host */
	MDB_dbi host;
	unsigned flags;           /* the host DBI's flags */
	struct meta_handles h;
	struct meta_dbi d;
	int dirty;                /* d changed */
	int over;                 /* beyond META_DBI_LIMIT: not synced */
};

struct dset {
	struct senv *s;
	MDB_txn *host, *mt;
	struct dctx *v;
	size_t n;
	/* Long scans (adoption, rescans) over a host read txn go in chunks
	 * of this many elements (0: in one txn, as over a merge's write
	 * txn): at each chunk's end the meta txn commits and the host read
	 * txn moves on (elem_set_renew; docs/DESIGN.md §16, §21). The
	 * caller takes host and mt back from here after a scan. */
	unsigned chunk;
	uint64_t in_chunk;          /* elements counted since the last chunk */
	uint64_t chunk_done;        /* elements of the chunk elem_chunk_due ended */
	/* Metadata writes since the last chunk that were not appends: each
	 * may dirty a page of its own (a DUPSORT element's "t:" entry is
	 * keyed by a hash), so a chunk also ends after ELEM_CHUNK_WRITES. */
	uint64_t writes;
	uint64_t chunks;            /* meta txns committed by elem_set_renew */
	/* A scan in one txn (chunk 0: a merge's, under the host's writer
	 * lock) over more elements than this is not done: the rescan returns
	 * RESCAN_TOO_LONG, for a local step to do it in chunks (rescan.h;
	 * docs/DESIGN.md §16). 0: no bound. */
	uint64_t scan_max;
	uint64_t scanned;           /* host elements scanned in one txn so far */
	/* Called just before each such commit, in the meta txn (an
	 * adoption saves its position there). */
	int (*before_commit)(struct dset *ds, void *ctx);
	void *hook_ctx;
	/* The timestamp of the journal record being folded (0: none): a
	 * DBI found re-created with other flags begins its new shape then
	 * (the txn that re-created it, or one soon after), else now. */
	uint64_t rec_ts;
};

void elem_set_init(struct dset *ds, struct senv *s, MDB_txn *host, MDB_txn *mt);

/* The scan chunk for local steps: MDBTAP_TEST_SCAN_CHUNK when set (tests),
 * else ELEM_SCAN_CHUNK. */
#define ELEM_SCAN_CHUNK 50000
/* A chunk ends after this many writes that may land anywhere in the
 * metadata (dset.writes) too: LMDB keeps a write txn's dirty pages in
 * memory, and scattered writes dirty up to one 4 KiB page each (16 MiB;
 * docs/DESIGN.md §8). */
#define ELEM_CHUNK_WRITES 4096
unsigned elem_scan_chunk(void);

/* Count one element of a long scan: 1 when its chunk is full (the caller
 * notes where it is, then calls elem_set_renew; ds->chunk_done says how
 * many elements the chunk had), else 0. A chunk is full at ds->chunk
 * elements or ELEM_CHUNK_WRITES scattered writes. */
int elem_chunk_due(struct dset *ds);

/* End a chunk: write back the DBIs' metadata (the contexts stay), call
 * before_commit, commit the meta txn and begin the next one, and move to
 * a new host read txn. The caller's cursors are gone: it reopens them
 * where it was. On error ds->host and ds->mt are NULL where they ended. */
int elem_set_renew(struct dset *ds);

/* The context of DBI (name, len). MDB_NOTFOUND when the DBI is not synced
 * (config) or neither the host nor the meta knows it. create_flags
 * (MDB_CREATE | flags) creates a missing host DBI: write txns only. */
int elem_set_get(struct dset *ds, const char *name, size_t len, unsigned create_flags,
	     struct dctx **out);

/* The fleet dropped the DBI's shape (docs/DESIGN.md §22): empty the host
 * DBI (create_flags as for elem_set_get: MDB_CREATE and the new shape's
 * flags; a DBI of other flags is deleted and created again), forget its
 * metadata, and take it anew with epoch and prev_epoch. Write txns only.
 * *out as for elem_set_get. */
int elem_set_reset(struct dset *ds, const char *name, size_t len, unsigned create_flags,
		   uint64_t epoch, uint64_t prev_epoch, struct dctx **out);

/* Write back the DBIs' metadata and free the contexts. With err set,
 * only free. */
int elem_set_flush(struct dset *ds, int err);

/* *live: whether the host holds the element now; for a live plain
 * element, *val (may be NULL) gets its value (valid until the host txn
 * ends). Returns 0 or an LMDB/errno code. */
int elem_host_get(struct dset *ds, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
		  MDB_val *val, int *live);

/* Call fn for every element the metadata knows in DBI c (only those in
 * the changed set if changed_only), in the host's order: key, dupval
 * (DUPSORT DBIs, else NULL) and its metadata. A nonzero return stops. */
typedef int (*elem_fn)(void *ctx, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
		       const struct meta_elem *e);
int elem_each(struct dset *ds, struct dctx *c, int changed_only, elem_fn fn, void *ctx);

#define STAMP_IF_CHANGED 1u  /* only when the host differs from the metadata */
#define STAMP_MARK 2u        /* add to the changed set (a local change) */
#define STAMP_ONLY_DELETED 4u /* only when the host no longer has it */

/* Bring the element (key[, dupval]) in line with the host, stamped ts.
 * Never lowers an element's timestamp (a newer write, e.g. a merge, was
 * seen already). *stamped is incremented when something was written. */
int elem_stamp(struct dset *ds, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
	  uint64_t ts, unsigned how, uint64_t *stamped);

#define STAMP_FRESH 8u /* the scan goes in order over metadata that does not
			  know the element yet: try appending (meta_elem_append) */

/* elem_stamp for an element the caller just read live from the host's
 * cursor (val: its value; a DUPSORT DBI's element is (key, val)). */
int elem_stamp_seen(struct dset *ds, struct dctx *c, const MDB_val *key, const MDB_val *val,
		    uint64_t ts, unsigned how, uint64_t *stamped);

#endif
