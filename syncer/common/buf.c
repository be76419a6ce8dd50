/* buf.c: see buf.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_FIRST_CAP 256

int buf_reserve(struct buf *b, size_t more)
{
	size_t need, cap = b->cap ? b->cap : BUF_FIRST_CAP;
	uint8_t *np;

	if (b->max && (more > b->max || b->len > b->max - more))
		return EFBIG;
	if (more > SIZE_MAX - b->len - 1)
		return ENOMEM;
	need = b->len + more + 1;
	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	np = realloc(b->p, cap);
	if (!np)
		return ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
