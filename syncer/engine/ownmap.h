/* ownmap.h: the map of an env the syncer creates itself (docs/DESIGN.md
 * §21). An instance joining before its program ever ran gets its env from
 * the syncer, with a map of map_size. Such an env is the syncer's to size:
 * it is remembered in the metadata (meta_state.created), and a larger
 * map_size given later applies on the next open, so that a merge stopped
 * by a full map goes on once the setting is raised. An env a program made
 * keeps the program's map (the syncer never grows it).
 *
 * The data file is made here, exclusively, before LMDB opens it: so the
 * syncer knows the file is its own, and when LMDB then fails (a map the
 * machine cannot map: LMDB writes the meta pages before it maps) it
 * removes what it made rather than leave a file that records that map.
 */
#ifndef MDBTAP_OWNMAP_H
#define MDBTAP_OWNMAP_H

#include "senv.h"

/* Make dir/data.mdb, empty (LMDB takes an empty file for a new env).
 * Returns 0, EEXIST (someone made it meanwhile: not ours) or an errno
 * value. */
int ownmap_claim(const char *dir);

/* The open of an env made by ownmap_claim failed: remove dir/data.mdb,
 * and dir/lock.mdb when lock_made (it was not there before), unless
 * another process has the env open (it holds LMDB's lock). */
void ownmap_unclaim(const char *dir, int lock_made);

/* After the env and its metadata are open, writable: remember that the
 * syncer created it (fresh), set s->created from the metadata, and for
 * such an env take a map_size larger than its map now. Returns 0 or an
 * LMDB or errno code, with err set (naming map_size). */
int ownmap_apply(struct senv *s, int fresh, char *err, size_t errlen);

#endif
