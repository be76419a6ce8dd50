/* dur.h: durations as people write them in configs and flags. */
#ifndef MDBTAP_DUR_H
#define MDBTAP_DUR_H

#include <stdint.h>

#define DUR_NS_PER_SEC 1000000000ull

/* A duration: "0", or numbers each followed by a unit, largest unit
 * first, each unit once: d (24 h), h, m, s, ms, us, ns. A number may have
 * a fraction: "1.5s", "0.25h". Examples: "250ms", "1h30m", "2d", "1m0.5s".
 * No sign, no spaces. Fractions of a nanosecond are dropped. Returns 0,
 * EINVAL (syntax) or ERANGE (more than UINT64_MAX ns). */
int dur_parse(const char *s, uint64_t *ns);

/* CLOCK_MONOTONIC in ns: for intervals and deadlines, never for stamps. */
uint64_t dur_mono_ns(void);

#endif
