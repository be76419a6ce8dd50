/* mapfull.h: merges stopped by the host's full map (docs/DESIGN.md §21).
 *
 * The syncer never grows a host's map: a merge that does not fit stops
 * with MDB_MAP_FULL, its batches committed so far kept. It is said once
 * (which setting of the program to raise, and the map's size), counted
 * (merges_map_full), and the object waits, unfetched, until the host's
 * data file changed: a larger map recorded in it (the program opened the
 * env with a larger size and wrote) or any commit (data deleted). The
 * syncer then takes the recorded size as its own and applies the object
 * again from the first element not yet merged. Nothing is quarantined
 * for it, and the host goes on as it was.
 *
 * The positions live in the senv (SENV_FULL_SLOTS objects): a restarted
 * syncer applies the object from its start again, which writes nothing
 * twice (the elements merged already do not win again).
 */
#ifndef MDBTAP_MAPFULL_H
#define MDBTAP_MAPFULL_H

#include <stdint.h>

#include "senv.h"

/* Before fetching object name: 1 if it stopped on a full map and the
 * host's file has not changed since (skip it for now), else 0 with *skip
 * the number of its elements merged already (0 if none is known). When
 * the file records a larger map than the syncer's, the syncer takes it. */
int mapfull_wait(struct senv *s, const char *name, uint64_t *skip);

/* The merge of object name stopped on a full map, done of its elements
 * merged and committed: remember where, count it, say it (once until
 * mapfull_applied says the end). */
void mapfull_stopped(struct senv *s, const char *name, uint64_t done);

/* Object name of instance was applied to its end: forget its position
 * and those of the instance's earlier objects; once no object waits, say
 * that there is room again. */
void mapfull_applied(struct senv *s, const char *name, const char *instance);

/* Forget every position (the env was re-adopted: what was merged into
 * the old file may be gone). */
void mapfull_forget(struct senv *s);

#endif
