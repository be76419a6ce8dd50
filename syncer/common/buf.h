/* buf.h: a growable byte buffer, for messages built piece by piece (a
 * snapshot's protobuf, an S3 answer, a config value after $VAR
 * expansion).
 *
 * Zero-initialise one ({ 0 }), optionally set max, add to it, then
 * buf_free it. Functions return 0, ENOMEM, or EFBIG when max would be
 * passed; on error the buffer is unchanged. */
#ifndef MDBTAP_BUF_H
#define MDBTAP_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *p;     /* owned; NULL until the first byte is reserved */
	size_t len;     /* bytes in use */
	size_t cap;     /* bytes allocated; always > len once p is set */
	size_t max;     /* 0: no bound; else len never grows past it */
};

/* Make room for `more` bytes after p[len], and one more for a NUL: the
 * caller writes them and adds them to len itself. */
int buf_reserve(struct buf *b, size_t more);

/* Append n bytes of p and keep a NUL after them, so that a buffer of
 * text is a C string ((char *)b->p) after each call. */
int buf_add(struct buf *b, const void *p, size_t n);

/* Free what b owns and zero it, max included. */
void buf_free(struct buf *b);

#endif
