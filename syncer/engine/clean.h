/* clean.h: an instance's own objects: which it still needs, which it can
 * delete, and when its next export should be a full snapshot.
 *
 * A receiver needs, of each instance, its newest full snapshot F and the
 * objects after F: one that stands before F has a gap in that chain and
 * loads F (receive.h). Objects older than F are kept `keep` longer, so
 * that receivers a little behind go on with deltas, then deleted. Each
 * instance deletes only its own objects (the objects of an instance gone
 * for good are left for an operator).
 *
 * A full snapshot replaces the deltas since the last one when they are
 * many (CLEAN_MAX_DELTAS: a listing costs one LIST per 1,000 objects), when
 * they weigh as much as the last full snapshot, or when the instance has
 * been idle for `keep`: then its old deltas can go and an idle store lists
 * in one request.
 */
#ifndef MDBTAP_CLEAN_H
#define MDBTAP_CLEAN_H

#include <stddef.h>
#include <stdint.h>

#include "objname.h"

struct store;

#define CLEAN_MAX_DELTAS 500

/* What clean_own says of the next export. */
enum clean_want {
	CLEAN_DELTA,         /* a delta, as usual */
	CLEAN_FULL_NEXT,     /* a full snapshot when something changes */
	CLEAN_FULL_NOW,      /* a full snapshot now: idle for keep, with deltas */
};

/* What our metadata says we uploaded (the chain we write, our last full
 * snapshot's name time, our last object's): only objects of ours that
 * match it are ours. Anyone who can write to the store can put names
 * under our instance, any generation, any time up to max_future: taken
 * for our newest full snapshot, such a name would have our real objects
 * deleted (docs/DESIGN.md §18.6). */
struct clean_self {
	uint64_t generation;
	uint64_t full_ns;       /* 0: unknown, nothing is deleted */
	uint64_t last_ns;
};

/* One of our objects, as listed. */
struct clean_obj {
	const char *name;
	struct objname on;
	uint64_t size;
};

/* Delete objects v[0..n) of our name (any order) that are older than our
 * newest full snapshot (the one me names; absent from the listing:
 * nothing is deleted) and than now - keep_ns. Only the objects of our
 * chain between it and our last object count as our deltas; any other
 * name after it is not ours: neither counted nor deleted. Deletion
 * failures are logged (env names the env) and left for the next pass.
 * Returns how many were deleted; *want says what the next export should
 * be (see above). */
unsigned clean_own(struct store *store, const char *env, const struct clean_obj *v, size_t n,
		   uint64_t now_ns, const struct clean_self *me, uint64_t keep_ns,
		   enum clean_want *want);

/* How often clean_uploads looks at most (a listing of uploads costs a
 * request; an idle syncer makes one per poll and no more). */
#define CLEAN_UPLOADS_EVERY_NS (10ull * 60 * 1000000000ull)

/* Abort our own unfinished uploads (store_abort_uploads: a killed or
 * failed upload of ours, of env db and instance self) begun more than
 * keep_ns before now: none of ours takes that long. Runs when now_ns is at
 * or after *next_ns (0: at once), then sets *next_ns. Failures are logged
 * (env names the env) and left for the next pass. Returns how many were
 * aborted. */
unsigned clean_uploads(struct store *store, const char *env, const char *db, const char *self,
		       uint64_t now_ns, uint64_t keep_ns, uint64_t *next_ns);

#endif
