/* record.c: the body of a journal record, as include/mdbtap.h defines it.
 *
 * Every read is bounds-checked: a body comes from a file that other
 * processes write, so it is untrusted input.
 */
#include "record.h"

#include <string.h>

void record_put_name(uint8_t *dst, const char *name, size_t len)
{
	uint16_t n = name ? (uint16_t)len : (uint16_t)MDBTAP_NAME_UNNAMED;

	memcpy(dst, &n, 2);
	if (name)
		memcpy(dst + 2, name, len);
}

void record_put_op(uint8_t *dst, unsigned type, unsigned flags, unsigned name_index,
		const void *key, size_t klen, const void *val, size_t vlen)
{
	struct mdbtap_op_header h = {
		.type = (uint8_t)type,
		.flags = (uint8_t)flags,
		.name = (uint16_t)name_index,
		.klen = (uint32_t)klen,
		.vlen = (uint32_t)vlen,
	};

	memcpy(dst, &h, MDBTAP_OP_HEADER_SIZE);
	if (klen)
		memcpy(dst + MDBTAP_OP_HEADER_SIZE, key, klen);
	if (vlen)
		memcpy(dst + MDBTAP_OP_HEADER_SIZE + klen, val, vlen);
}

/* Offset just past name i, starting from the name at *off. */
static int skip_name(const uint8_t *body, size_t len, size_t *off)
{
	uint16_t n;

	if (len - *off < 2)
		return MDBTAP_E_CORRUPT;
	memcpy(&n, body + *off, 2);
	*off += 2;
	if (n == MDBTAP_NAME_UNNAMED)
		return 0;
	if (len - *off < n)
		return MDBTAP_E_CORRUPT;
	*off += n;
	return 0;
}

int record_iter_init(struct record_iter *it, const void *body, size_t len,
		  unsigned nnames, unsigned nops)
{
	size_t off = 0;

	memset(it, 0, sizeof(*it));
	it->body = body;
	it->len = len;
	it->nnames = nnames;
	it->nops = nops;
	if (nnames > MDBTAP_NAME_UNNAMED)
		return MDBTAP_E_CORRUPT;
	for (unsigned i = 0; i < nnames; i++) {
		if (i < sizeof(it->names_off) / sizeof(it->names_off[0]))
			it->names_off[i] = off;
		int rc = skip_name(it->body, len, &off);
		if (rc)
			return rc;
	}
	it->off = off;
	return 0;
}

int record_name(const struct record_iter *it, unsigned i, const char **name, size_t *len)
{
	const size_t cached = sizeof(it->names_off) / sizeof(it->names_off[0]);
	size_t off;
	uint16_t n;

	if (i >= it->nnames)
		return MDBTAP_E_CORRUPT;
	if (i < cached) {
		off = it->names_off[i];
	} else {
		off = it->names_off[cached - 1];
		for (unsigned j = cached - 1; j < i; j++)
			if (skip_name(it->body, it->len, &off))
				return MDBTAP_E_CORRUPT;
	}
	/* record_iter_init checked every name, so these reads are in bounds. */
	memcpy(&n, it->body + off, 2);
	if (n == MDBTAP_NAME_UNNAMED) {
		*name = NULL;
		*len = 0;
	} else {
		*name = (const char *)it->body + off + 2;
		*len = n;
	}
	return 0;
}

int record_iter_next(struct record_iter *it, struct record_op *op)
{
	struct mdbtap_op_header h;
	size_t left = it->len - it->off;

	if (it->ops_read == it->nops)
		return left == 0 ? 0 : MDBTAP_E_CORRUPT;
	if (left < MDBTAP_OP_HEADER_SIZE)
		return MDBTAP_E_CORRUPT;
	memcpy(&h, it->body + it->off, MDBTAP_OP_HEADER_SIZE);
	left -= MDBTAP_OP_HEADER_SIZE;
	if (h.type < MDBTAP_OP_PUT || h.type > MDBTAP_OP_ORDER)
		return MDBTAP_E_CORRUPT;
	if (h.klen > left || h.vlen > left - h.klen)
		return MDBTAP_E_CORRUPT;
	if (!(h.flags & MDBTAP_OPF_VALUE) && h.vlen && h.type != MDBTAP_OP_CREATE)
		return MDBTAP_E_CORRUPT;
	memset(op, 0, sizeof(*op));
	op->type = h.type;
	op->flags = h.flags;
	op->name_index = h.name;
	if (record_name(it, h.name, &op->name, &op->name_len))
		return MDBTAP_E_CORRUPT;
	op->key = it->body + it->off + MDBTAP_OP_HEADER_SIZE;
	op->klen = h.klen;
	op->vlen = h.vlen;
	op->val = h.vlen || (h.flags & MDBTAP_OPF_VALUE)
		? (const uint8_t *)op->key + h.klen : NULL;
	it->off += MDBTAP_OP_HEADER_SIZE + h.klen + h.vlen;
	it->ops_read++;
	return 1;
}

const char *record_op_name(unsigned type)
{
	static const char *const names[] = {
		[MDBTAP_OP_PUT] = "put",
		[MDBTAP_OP_DEL] = "del",
		[MDBTAP_OP_DELALL] = "delall",
		[MDBTAP_OP_DROP] = "drop",
		[MDBTAP_OP_DELETE_DBI] = "delete-dbi",
		[MDBTAP_OP_CREATE] = "create",
		[MDBTAP_OP_DIRTY] = "dirty",
		[MDBTAP_OP_ORDER] = "order",
	};

	if (type >= sizeof(names) / sizeof(names[0]) || !names[type])
		return "?";
	return names[type];
}
