/* merge.h: last writer wins (docs/DESIGN.md §5, §19), and applying a
 * remote object to the host through the real LMDB API. */
#ifndef MDBTAP_MERGE_H
#define MDBTAP_MERGE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "rescan.h"
#include "senv.h"

/* One side of an element: what the metadata and the host say locally,
 * or what an object says. A tombstone's value counts as empty. */
struct merge_side {
	int exists;              /* local only: the element is known */
	uint64_t ts;
	int deleted;
	const void *val;
	size_t vlen;
};

/* 1 if the remote element replaces the local one: a newer timestamp wins;
 * on equal timestamps the lower application value wins (Lightning
 * Stream's rule), so a delete (empty) wins a tie, against a live empty
 * value too (one winner everywhere); 0 otherwise. */
int merge_remote_wins(const struct merge_side *local, const struct merge_side *remote);

/* Elements per host write txn: bounds how long the host waits for the
 * writer lock. */
#define MERGE_BATCH 10000

/* merge_apply's code when elements were refused for max_future: the rest
 * is applied but the progress is not advanced, so that the object is
 * applied again later (logged and counted in elems_refused). An element
 * more than max_future ahead of the object's own name time (progress'
 * name_ns) cannot come from a clock that is merely ahead: no writer's
 * clock runs further ahead of its wall clock than max_future. It is
 * refused for good, counted, and does not hold the object back. */
#define MERGE_RETRY EAGAIN

/* merge_apply's code when a batch's fold would have to rescan more than
 * one scan chunk (elem_scan_chunk) under the host's writer lock: nothing
 * of that batch is applied, earlier batches stay, the progress does not
 * advance. The caller stops receiving and runs a local step, which does
 * the rescan in chunks of short txns; the object is applied again after
 * it (docs/DESIGN.md §16, "A merge defers a long rescan"). After
 * MERGE_DEFER_MAX such batches in a row the next one rescans in its own
 * txn, as a small env's does: receiving is delayed by one local step,
 * never stopped. */
#define MERGE_DEFERRED RESCAN_TOO_LONG
#define MERGE_DEFER_MAX 1

struct merge_args {
	const char *name;            /* the object's name, for logs */
	const char *instance;        /* its instance */
	const struct meta_remote *progress; /* written with the last batch */
	uint64_t max_future_ns;      /* refuse timestamps this far ahead */
	uint64_t tombstone_cutoff_ns; /* ignore older tombstones of elements
					 unknown here (sweep_load_cutoff) */
	uint64_t skip;               /* the object's first elements merged already
					(a merge stopped by a full map, mapfull.h) */
	uint64_t *done;              /* NULL, or set to how many of its first
					elements are merged and committed */
	uint64_t *retry_ns;          /* out, with MERGE_RETRY (may be NULL): the
					wall time from which every refused
					element is acceptable */
	int own_past;                /* an object of our own older chain: only
					a full snapshot of ours carries what it
					brings back, so the txn that records its
					progress also marks that one is owed */
	uint64_t *newest_ts;         /* out (may be NULL): the newest element
					timestamp (its commit) in the object;
					0 when all are 0 (adopted data) */
};

/* Check that fd holds a whole, valid object (to its end: checksum,
 * versions, DBI transforms, key sizes). 0 or an error code; err says
 * what is wrong. */
int merge_verify(struct senv *s, int fd, char *err, size_t errlen);

/* Apply a verified object (fd) to the host and the metadata, in batches
 * of MERGE_BATCH elements; each batch first folds the journal, so local
 * writes are weighed too. Returns 0, or an error (nothing of the failing
 * batch applied; earlier batches stay: re-applying is harmless). */
int merge_apply(struct senv *s, int fd, const struct merge_args *a);

#endif
