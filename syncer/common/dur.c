/* dur.c: durations written as "1h30m", "250ms", "0.5s". */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "dur.h"


static const struct unit {
	const char *name;
	uint64_t ns;
} units[] = {   /* largest first; "ms" before "m" so that it matches first */
	{ "d", 86400 * DUR_NS_PER_SEC },
	{ "h", 3600 * DUR_NS_PER_SEC },
	{ "ms", 1000000 },
	{ "m", 60 * DUR_NS_PER_SEC },
	{ "s", DUR_NS_PER_SEC },
	{ "us", 1000 },
	{ "ns", 1 },
};

static const struct unit *match_unit(const char **p)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);

		if (!strncmp(*p, units[i].name, n)) {
			*p += n;
			return &units[i];
		}
	}
	return NULL;
}

static int add_ns(uint64_t *sum, uint64_t v)
{
	if (*sum > UINT64_MAX - v)
		return ERANGE;
	*sum += v;
	return 0;
}

int dur_parse(const char *s, uint64_t *ns)
{
	uint64_t total = 0, last_unit = UINT64_MAX;
	const char *p = s;

	if (!s || !*s)
		return EINVAL;
	if (!strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	while (*p) {
		uint64_t whole = 0, scale;
		const char *frac = NULL;
		const struct unit *u;
		size_t nfrac = 0;

		if (*p < '0' || *p > '9')
			return EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			uint64_t digit = (uint64_t)(*p - '0');

			if (whole > (UINT64_MAX - digit) / 10)
				return ERANGE;
			whole = whole * 10 + digit;
		}
		if (*p == '.') {
			frac = ++p;
			for (; *p >= '0' && *p <= '9'; p++)
				nfrac++;
			if (!nfrac)
				return EINVAL;
		}
		u = match_unit(&p);
		/* Largest unit first, each once: "1m30s", never "30s1m". */
		if (!u || u->ns >= last_unit)
			return EINVAL;
		last_unit = u->ns;
		if (whole && u->ns > UINT64_MAX / whole)
			return ERANGE;
		if (add_ns(&total, whole * u->ns))
			return ERANGE;
		/* Each fraction digit in turn: exact down to the nanosecond,
		 * never overflows. */
		scale = u->ns;
		for (size_t i = 0; i < nfrac && scale >= 10; i++) {
			scale /= 10;
			if (add_ns(&total, scale * (uint64_t)(frac[i] - '0')))
				return ERANGE;
		}
	}
	*ns = total;
	return 0;
}

uint64_t dur_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
