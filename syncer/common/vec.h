/* vec.h: growable arrays (a pointer, a count and a capacity kept by the
 * caller), so that each module does not write its own realloc loop. */
#ifndef MDBTAP_VEC_H
#define MDBTAP_VEC_H

#include <stddef.h>

/* Make room for one more item of size sz in the array *pv (n items used,
 * *cap allocated), doubling it when full. Returns 0 or ENOMEM (then *pv
 * and *cap are unchanged). pv is the address of the array pointer. */
int vec_grow(void *pv, size_t n, size_t *cap, size_t sz);

#endif
