/* rescan.h: find what changed in the host without the journal's help, by
 * comparing every element with its metadata (value digests). Used to
 * adopt an env (ts 0: existing data loses to any real write, as Lightning
 * Stream advises) and to recover from txn ids nobody accounted for. */
#ifndef MDBTAP_RESCAN_H
#define MDBTAP_RESCAN_H

#include <errno.h>

#include "elem.h"

/* What a rescan returns, having stamped nothing yet that must stay, when
 * it would have to read more elements than ds->scan_max in one txn (a
 * merge's): the caller aborts its txns and leaves the rescan to a local
 * step, which reads in chunks. The metadata's counts are checked first,
 * then the host's elements are counted as they are read. */
#define RESCAN_TOO_LONG EINPROGRESS

/* Stamp every element of DBI (name, len) that differs from its metadata
 * with ts; how: STAMP_* flags (STAMP_IF_CHANGED is implied). */
int rescan_dbi(struct dset *ds, const char *name, size_t len, uint64_t ts, unsigned how,
	       uint64_t *stamped);

/* Only the elements the metadata holds as live and the host no longer
 * has: they were deleted at ts (a DBI emptied or deleted). */
int rescan_deleted(struct dset *ds, struct dctx *c, uint64_t ts, unsigned how,
		   uint64_t *stamped);

/* The same for every synced DBI, the host's and those only the metadata
 * still knows (deleted from the host). */
int rescan_all(struct dset *ds, uint64_t ts, unsigned how, uint64_t *stamped);

/* Adopt the env (docs/DESIGN.md §16, "Adoption"): every element of every
 * synced host DBI gets timestamp 0, not marked for export, from the
 * element after a's position on (its first run: from the start). In
 * chunks when ds->chunk is set: each chunk's meta txn saves a's position
 * (meta_adopt_put), so that a killed syncer goes on from there. */
int rescan_adopt(struct dset *ds, struct meta_adopt *a, uint64_t *stamped);

/* Adopt every synced host DBI the metadata does not know (one that an
 * `include`/`exclude` change just selected): its elements get timestamp
 * 0, as at a first adoption, and are marked for export. *adopted counts
 * the DBIs. */
int rescan_unknown(struct dset *ds, uint64_t *stamped, uint64_t *adopted);

#endif
