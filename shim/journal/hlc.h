/* hlc.h: the hybrid logical clock (docs/DESIGN.md §4, §20).
 *
 * A timestamp is nanoseconds since the epoch, max(wall clock, last + 1,
 * newest merged remote + 1). The clock's state (`last`) lives in the
 * journal header so that every process of an env shares it; journal.c does
 * the atomic part, these are the pure rules.
 */
#ifndef MDBTAP_HLC_H
#define MDBTAP_HLC_H

#include <stdint.h>

/* The next timestamp after `last`, given the wall clock `now`. */
static inline uint64_t hlc_next(uint64_t now, uint64_t last)
{
	return now > last ? now : last + 1;
}

/* The clock after observing a remote timestamp: later writes beat it. */
static inline uint64_t hlc_observe(uint64_t last, uint64_t remote)
{
	return remote > last ? remote : last;
}

/* Whether a remote timestamp is further ahead of `now` than `max_ahead`:
 * such a timestamp would pin the clock in the future, so it is refused. */
static inline int hlc_too_far_ahead(uint64_t remote, uint64_t now, uint64_t max_ahead)
{
	return remote > now && remote - now > max_ahead;
}

/* The wall clock in ns since the epoch, shifted by MDBTAP_TEST_CLOCK_OFFSET_NS
 * (a signed integer, read once; for tests of clocks that are behind or ahead). */
uint64_t hlc_wall_ns(void);

#endif
