/* quarantine.h: remote objects that failed to apply, remembered for good.
 *
 * An object that cannot be applied (corrupt, too large, or content the
 * local env refuses) is never fetched again, across restarts: its name is
 * kept in the companion file "quarantine" (one name a line) and in the
 * senv's list (senv_mark_bad), and counted in objects_bad. Receiving from
 * every other instance, and from the same instance's later objects, goes
 * on.
 */
#ifndef MDBTAP_QUARANTINE_H
#define MDBTAP_QUARANTINE_H

#include "senv.h"

#define QUARANTINE_FILE "quarantine"
#define QUARANTINE_MAX 100000      /* names kept; beyond, memory only */

/* Load the names quarantined by earlier runs into s. Returns 0 or errno
 * (a refused or unreadable file: said by the caller; nothing loaded). */
int quarantine_load(struct senv *s);

/* Quarantine name for good: log why, count it, remember it. */
void quarantine_add(struct senv *s, const char *name, const char *why);

/* Whether a failure rc of applying a fetched object is the object's own
 * fault (quarantine it) rather than the local env's or the machine's
 * (full disk, read-only, out of memory: retried later). */
int quarantine_is_object_fault(int rc);

/* Objects that cannot be fetched or applied for now, through no fault of
 * theirs that is certain (unreadable: a 403, EACCES; elements ahead of
 * max_future): not fetched again before a time, so that each costs one
 * GET per wait rather than one per cycle. In memory only (a restart
 * tries each once more); at most QUARANTINE_MAX of them.
 * quarantine_wait: until_ns 0 waits twice as long as the last time,
 * QUARANTINE_WAIT_MIN at first, at most QUARANTINE_WAIT_MAX. */
#define QUARANTINE_WAIT_MIN (60ull * 1000000000ull)
#define QUARANTINE_WAIT_MAX (3600ull * 1000000000ull)
void quarantine_wait(struct senv *s, const char *name, uint64_t now_ns, uint64_t until_ns);
/* Whether name waits past now_ns. */
int quarantine_waits(const struct senv *s, const char *name, uint64_t now_ns);
void quarantine_waits_free(struct senv *s);

#endif
