/* vec.c: see vec.h. */
#include "vec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int vec_grow(void *pv, size_t n, size_t *cap, size_t sz)
{
	void **p = pv, *nv;
	size_t c = *cap ? 2 * *cap : 16;

	if (n < *cap)
		return 0;
	if (c > SIZE_MAX / sz)
		return ENOMEM;
	nv = realloc(*p, c * sz);
	if (!nv)
		return ENOMEM;
	*p = nv;
	*cap = c;
	return 0;
}
