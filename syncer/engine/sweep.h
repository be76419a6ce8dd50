/* sweep.h: forgetting old tombstones (docs/DESIGN.md §5, §19: deletes
 * "live until it is safe to forget them").
 *
 * With a tombstone_retention R, a tombstone older than R is removed from
 * the metadata, so it leaves the digests and the next full snapshots. It
 * is safe when every instance hears of every delete within R: an instance
 * away for longer may still hold the deleted element and bring it back.
 * Incoming tombstones of elements unknown here that are older than
 * sweep_load_cutoff() are not recorded: they would be swept at once, and
 * recording them would only make digests differ for a while (Lightning
 * Stream's load cutoff, with its 1 % margin).
 */
#ifndef MDBTAP_SWEEP_H
#define MDBTAP_SWEEP_H

#include <stdint.h>

#include "senv.h"

/* Tombstones with ts below this are swept (0: none; retention 0 = never). */
uint64_t sweep_cutoff(uint64_t now_ns, uint64_t retention_ns);

/* Incoming tombstones of unknown elements with ts below this are ignored
 * (0: none): now - 99 % of the retention. */
uint64_t sweep_load_cutoff(uint64_t now_ns, uint64_t retention_ns);

/* How often a syncer sweeps: a quarter of the retention, at most hourly. */
uint64_t sweep_interval(uint64_t retention_ns);

/* Remove from s's metadata every tombstone with ts < cutoff that is not
 * waiting in a changed set (not exported yet), in meta write txns of a
 * bounded size. Reads only the metadata, never the host. *swept counts
 * what was removed, *held the tombstones kept (cutoff 0: only counts
 * them, in read txns). Returns 0 or an LMDB/errno code; what earlier
 * txns removed stays removed. */
int sweep_env(struct senv *s, uint64_t cutoff, uint64_t *swept, uint64_t *held);

/* How often tombstones are counted when none are swept (retention 0). */
#define SWEEP_COUNT_INTERVAL (3600ull * 1000000000ull)

#endif
