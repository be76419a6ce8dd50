/* hist.c: see hist.h. */
#include "hist.h"

const double hist_bounds[HIST_NBOUNDS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
	2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
};

void hist_observe_ns(struct hist *h, uint64_t ns)
{
	double s = (double)ns / 1e9;
	unsigned i = 0;

	while (i < HIST_NBOUNDS && s > hist_bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}

uint64_t hist_cumulative(const struct hist *h, unsigned i)
{
	uint64_t n = 0;

	for (unsigned k = 0; k <= i && k <= HIST_NBOUNDS; k++)
		n += h->bucket[k];
	return n;
}

double hist_quantile_bound(const struct hist *h, double q)
{
	if (!h->count)
		return 0;
	for (unsigned i = 0; i < HIST_NBOUNDS; i++)
		if ((double)hist_cumulative(h, i) >= q * (double)h->count)
			return hist_bounds[i];
	return -1;
}
