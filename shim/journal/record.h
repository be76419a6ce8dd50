/* record.h: encode and decode the body of a journal record (names, ops).
 *
 * Shared by the tap (which encodes) and the syncer (which decodes). Pure
 * code: no I/O, no allocation. The layout is defined in include/mdbtap.h.
 */
#ifndef MDBTAP_RECORD_H
#define MDBTAP_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "mdbtap.h"

/* A decoded op. Pointers point into the record body. */
struct record_op {
	unsigned type;          /* MDBTAP_OP_* */
	unsigned flags;         /* MDBTAP_OPF_* */
	unsigned name_index;
	const char *name;       /* NULL for the unnamed DBI */
	size_t name_len;
	const void *key;
	size_t klen;
	const void *val;        /* NULL unless MDBTAP_OPF_VALUE */
	size_t vlen;
};

/* Iterates over a record body. */
struct record_iter {
	const uint8_t *body;
	size_t len;
	size_t off;             /* next op */
	unsigned nnames;
	unsigned nops;
	unsigned ops_read;
	size_t names_off[64];   /* offsets of the first names, for fast lookup */
};

/* Encoded size of a name (2-byte length + bytes). */
static inline size_t record_name_size(size_t len) { return 2 + len; }

/* Encoded size of an op. */
static inline size_t record_op_size(size_t klen, size_t vlen)
{
	return MDBTAP_OP_HEADER_SIZE + klen + vlen;
}

/* Write a name at dst (record_name_size(len) bytes); name NULL = unnamed DBI. */
void record_put_name(uint8_t *dst, const char *name, size_t len);

/* Write an op at dst (record_op_size(klen, vlen) bytes). */
void record_put_op(uint8_t *dst, unsigned type, unsigned flags, unsigned name_index,
		const void *key, size_t klen, const void *val, size_t vlen);

/* Check the names and start iterating. Returns 0 or MDBTAP_E_CORRUPT. */
int record_iter_init(struct record_iter *it, const void *body, size_t len,
		  unsigned nnames, unsigned nops);

/* Next op: 1 and *op filled, 0 at the end, or MDBTAP_E_CORRUPT. A body
 * with bytes left over after the last op is corrupt. */
int record_iter_next(struct record_iter *it, struct record_op *op);

/* Name number i of the body: 0, or MDBTAP_E_CORRUPT if out of range. */
int record_name(const struct record_iter *it, unsigned i, const char **name, size_t *len);

/* Name of an op type ("put", "del", ...), or "?" */
const char *record_op_name(unsigned type);

#endif
