/* hlc.c: the wall clock side of the hybrid logical clock. */
#define _GNU_SOURCE /* secure_getenv */
#include "hlc.h"

#include <stdlib.h>
#include <time.h>

static int64_t offset_ns(void)
{
	/* Read once per process. Two threads racing here compute the same
	 * value, so relaxed atomics are enough. */
	static int64_t offset;
	static int loaded;

	if (!__atomic_load_n(&loaded, __ATOMIC_ACQUIRE)) {
		const char *s = secure_getenv("MDBTAP_TEST_CLOCK_OFFSET_NS");

		__atomic_store_n(&offset, s && *s ? strtoll(s, NULL, 10) : 0,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&offset, __ATOMIC_RELAXED);
}

uint64_t hlc_wall_ns(void)
{
	struct timespec ts;
	int64_t off = offset_ns();
	uint64_t now;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0; /* hlc_next then counts up from the last timestamp */
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (off < 0 && (uint64_t)-off > now)
		return 0;
	return now + (uint64_t)off;
}
