/* receive.h: find the other instances' objects in the store and apply
 * each instance's chain in order (docs/DESIGN.md §18.4):
 * after the last object applied, the next deltas; for an instance that is
 * new, changed chain, or left a gap, its newest full snapshot first. */
#ifndef MDBTAP_RECEIVE_H
#define MDBTAP_RECEIVE_H

#include <errno.h>
#include <stdint.h>

#include "clean.h"
#include "senv.h"

struct store;

struct receive_args {
	const char *db;              /* the env's name in the store */
	const char *self;            /* our instance: its objects are not applied */
	uint64_t max_future_ns;
	uint64_t keep_ns;            /* our superseded objects are kept this long
					(clean.h) */
	uint64_t tombstone_retention_ns; /* 0: tombstones kept for ever (sweep.h) */
	uint64_t max_object_size;    /* larger listed objects are quarantined
					unread (0: no bound) */
};

struct receive_out {
	unsigned applied;            /* objects applied */
	unsigned deleted;            /* our own objects deleted */
	enum clean_want want;        /* what our next export should be */
	unsigned past;               /* objects of our own older chains applied:
					a full snapshot must carry them */
	int blocked;                 /* MDB_MAP_FULL or EROFS: an instance's
					objects could not be applied (said in
					the log; the others were tried); 0 */
	int deferred;                /* a merge left a long rescan to the local
					step (MERGE_DEFERRED): receiving stopped
					there, to go on after a local step */	unsigned restarted;          /* our chain in the store was ahead of the
					metadata: a new chain began, whose full
					snapshot is owed (docs/DESIGN.md §22) */
};

/* receive_once's code when another env writes objects under our instance
 * name (docs/DESIGN.md §10): the env must stop syncing. */
#define RECEIVE_NAME_CLASH EADDRINUSE

/* The newest name time among our own instance's objects (a->self) of
 * chains other than gen, dated within max_future of the wall clock; 0:
 * none. One listing of our own names. Receivers follow an instance's
 * newest-named chain, so a new chain's objects are named after these
 * (docs/DESIGN.md §11): a clock that ran ahead dated them late. Those
 * beyond max_future move nothing (invariant 12). Returns 0 or the
 * store's failure. */
int receive_own_newest(struct store *store, const struct receive_args *a, uint64_t gen,
		       uint64_t *newest);

/* One pass: list, download, verify, apply, then clean our own objects
 * (clean.h) with what the same listing showed. Objects that fail to
 * verify or apply, or exceed the size bounds, are quarantined for good
 * (quarantine.h). Returns 0
 * unless listing or the env failed. */
int receive_once(struct senv *s, struct store *store, const struct receive_args *a,
		 struct receive_out *out);

/* Our own objects (docs/DESIGN.md §22, "restored with its metadata"): an
 * object of our current chain in the store that neither the metadata nor
 * this process made means the env and its companion dir were restored
 * from an older copy (or a syncer died between an upload and its
 * metadata's commit); receive_once then begins a new chain. To tell, a
 * process notes, before each export, the chain and st->last_obj_ns as it
 * found them (receive_own_note: once per chain), and after each upload
 * the object's name time (receive_own_made: the first one counts). */
void receive_own_note(struct senv *s, const struct meta_state *st);
void receive_own_made(struct senv *s, uint64_t generation, uint64_t name_ns);

#endif
