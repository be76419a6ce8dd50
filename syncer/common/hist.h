/* hist.h: a fixed-bucket histogram of durations, for /metrics and
 * `mdbtap status`.
 *
 * Plain data (no pointers), so that it can be copied whole into the
 * stats file and to the HTTP thread. Every histogram shares the same
 * bucket bounds: from a millisecond (a local store request) to an hour (a
 * remote instance's object applied long after it was made). Buckets hold
 * the observations in their own interval; Prometheus's cumulative counts
 * are summed when printed (hist_cumulative).
 */
#ifndef MDBTAP_HIST_H
#define MDBTAP_HIST_H

#include <stdint.h>

#define HIST_NBOUNDS 20

/* Upper bounds of the buckets, in seconds, ascending; +Inf follows. */
extern const double hist_bounds[HIST_NBOUNDS];

struct hist {
	uint64_t bucket[HIST_NBOUNDS + 1]; /* [i]: in (bounds[i-1], bounds[i]];
					      the last one above every bound */
	uint64_t count;
	uint64_t sum_ns;
};

/* Count one observation of ns nanoseconds. */
void hist_observe_ns(struct hist *h, uint64_t ns);

/* Observations of at most hist_bounds[i] (i == HIST_NBOUNDS: all). */
uint64_t hist_cumulative(const struct hist *h, unsigned i);

/* The smallest bound under which at least q (0..1) of the observations
 * fall: an upper estimate of that quantile, in seconds. -1 when the
 * quantile lies above the last bound; 0 when there is none. */
double hist_quantile_bound(const struct hist *h, double q);

#endif
