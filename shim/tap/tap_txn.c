/* tap_txn.c: build one journal record per committed write transaction. */
#include "tap_txn.h"

#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "tap_config.h"
#include "tap_lock.h"
#include "tap_resolve.h"

/* Buffers above this are freed after a commit, so that one huge
 * transaction does not pin memory for the life of the host. */
#define TAP_KEEP_BUFFER (1u << 20)

static void set_levels(struct tap_env *e, unsigned n)
{
	__atomic_store_n(&e->nlevels, n, __ATOMIC_RELEASE);
}

static void deep_set(struct tap_env *e, unsigned n)
{
	e->ndeep = n;
	__atomic_store_n(&e->deep_top, n ? e->deep[n - 1].txn : NULL, __ATOMIC_RELEASE);
}

/* Untracked children from index i on ended with their parent (LMDB
 * commits a txn's live child when it commits it, and aborts it when it
 * aborts): on a commit, what they wrote goes to that parent, or makes
 * the record lossy when the parent is tracked. */
static void deep_end_from(struct tap_env *e, unsigned i, int committed)
{
	int wrote = 0;

	if (i >= e->ndeep)
		return;
	for (unsigned k = i; k < e->ndeep; k++)
		wrote |= e->deep[k].wrote;
	if (committed && wrote) {
		if (i > 0)
			e->deep[i - 1].wrote = 1;
		else
			e->record_flags |= MDBTAP_REC_LOSSY;
	}
	deep_set(e, i);
}

static void reset(struct tap_env *e)
{
	deep_set(e, 0);
	for (unsigned i = 0; i < e->nlevels; i++)
		__atomic_store_n(&e->levels[i].txn, NULL, __ATOMIC_RELEASE);
	set_levels(e, 0);
	e->ops_len = 0;
	e->nops = 0;
	e->names_len = 0;
	e->nnames = 0;
	e->overflow = 0;
	e->touched = 0;
	e->record_flags = 0;
	if (e->ops_cap > TAP_KEEP_BUFFER) {
		free(e->ops);
		e->ops = NULL;
		e->ops_cap = 0;
	}
}

/* A child beyond TAP_MAX_LEVELS. Out of memory: the record says the
 * tap missed something (it cannot tell whether the child will write). */
static void deep_push(struct tap_env *e, MDB_txn *txn)
{
	if (e->ndeep == e->deep_cap) {
		unsigned cap = e->deep_cap ? 2 * e->deep_cap : 8;
		struct tap_deep *nd = realloc(e->deep, cap * sizeof(*nd));

		if (!nd) {
			e->record_flags |= MDBTAP_REC_LOSSY;
			return;
		}
		e->deep = nd;
		e->deep_cap = cap;
	}
	e->deep[e->ndeep].txn = txn;
	e->deep[e->ndeep].wrote = 0;
	deep_set(e, e->ndeep + 1);
}

void tap_txn_begin(struct tap_env *e, MDB_txn *parent, MDB_txn *txn)
{
	if (!parent) {
		reset(e); /* anything left over is from an end path we missed */
		__atomic_store_n(&e->deep_owner, pthread_self(), __ATOMIC_RELAXED);
		e->seq++;
		e->levels[0].txn = txn;
		e->levels[0].ops_mark = 0;
		e->levels[0].nops_mark = 0;
		e->levels[0].touched_mark = 0;
		set_levels(e, 1);
		return;
	}
	if (tap_env_current(e) == parent && e->nlevels == TAP_MAX_LEVELS && !e->ndeep) {
		deep_push(e, txn);
		return;
	}
	if (e->ndeep && tap_env_deep_current(e) == parent) {
		deep_push(e, txn);
		return;
	}
	if (tap_env_current(e) != parent || e->ndeep)
		return; /* a child of a txn we do not track */
	e->levels[e->nlevels].ops_mark = e->ops_len;
	e->levels[e->nlevels].nops_mark = e->nops;
	e->levels[e->nlevels].touched_mark = e->touched;
	e->levels[e->nlevels].flags_mark = e->record_flags;
	__atomic_store_n(&e->levels[e->nlevels].txn, txn, __ATOMIC_RELEASE);
	set_levels(e, e->nlevels + 1);
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 4096;
	uint8_t *nb;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	nb = realloc(*buf, n);
	if (!nb)
		return -1;
	*buf = nb;
	*cap = n;
	return 0;
}

/* The index of n in this txn's names, adding it on first use. */
static int name_index(struct tap_env *e, struct tap_name *n, unsigned *idx)
{
	size_t sz;

	if (n->stamp == e->seq) {
		*idx = n->idx;
		return 0;
	}
	sz = record_name_size(n->len);
	if (e->nnames >= MDBTAP_NAME_UNNAMED ||
	    reserve(&e->namebuf, &e->names_cap, e->names_len + sz))
		return -1;
	record_put_name(e->namebuf + e->names_len, n->name, n->len);
	e->names_len += sz;
	n->stamp = e->seq;
	n->idx = e->nnames++;
	*idx = n->idx;
	return 0;
}

/* Too many ops to list: from now on the record only says which DBIs may
 * have changed (every name listed so far, and every name used later). */
static void enter_overflow(struct tap_env *e)
{
	e->overflow = 1;
	e->ops_len = 0;
	e->nops = 0;
}

static size_t ops_limit(const struct tap_env *e)
{
	size_t limit = tap_config()->txn_limit;
	size_t max = journal_max_body(e->jnl);

	/* Leave room for the names (each at most 2 + 511 bytes in practice). */
	max = max > (1u << 20) ? max - (1u << 19) : max / 2;
	return limit < max ? limit : max;
}

void tap_txn_op(struct tap_env *e, unsigned type, struct tap_name *n,
		const MDB_val *key, const MDB_val *val)
{
	size_t klen = key ? key->mv_size : 0, vlen = val ? val->mv_size : 0;
	size_t sz = record_op_size(klen, vlen);
	unsigned idx;

	if (e->ndeep) {
		e->deep[e->ndeep - 1].wrote = 1;
		return;
	}
	if (name_index(e, n, &idx)) {
		e->record_flags |= MDBTAP_REC_LOSSY;
		return;
	}
	if (e->overflow)
		return;
	if (e->ops_len + sz > ops_limit(e) ||
	    reserve(&e->ops, &e->ops_cap, e->ops_len + sz)) {
		enter_overflow(e);
		return;
	}
	record_put_op(e->ops + e->ops_len, type, val ? MDBTAP_OPF_VALUE : 0, idx,
		   key ? key->mv_data : NULL, klen, val ? val->mv_data : NULL, vlen);
	e->ops_len += sz;
	e->nops++;
}

void tap_txn_lossy(struct tap_env *e)
{
	if (e->ndeep)
		e->deep[e->ndeep - 1].wrote = 1;
	else
		e->record_flags |= MDBTAP_REC_LOSSY;
}

void tap_txn_touched(struct tap_env *e)
{
	if (e->ndeep)
		e->deep[e->ndeep - 1].wrote = 1;
	else
		e->touched = 1;
}

int tap_txn_deep_end(struct tap_env *e, MDB_txn *txn, int committed)
{
	/* Any thread: only the writer's, with untracked children live, reads
	 * on (deep_top's release store orders deep_owner before it). */
	if (!tap_env_deep_current(e) ||
	    !pthread_equal(__atomic_load_n(&e->deep_owner, __ATOMIC_RELAXED), pthread_self()))
		return 0;
	for (unsigned i = e->ndeep; i-- > 0;)
		if (e->deep[i].txn == txn) {
			deep_end_from(e, i, committed);
			return 1;
		}
	return 0;
}

void tap_txn_child_end(struct tap_env *e, int level, int committed)
{
	if (level <= 0 || (unsigned)level >= e->nlevels)
		return;
	deep_end_from(e, 0, committed); /* before the flags mark is restored */
	if (!committed) {
		e->touched = e->levels[level].touched_mark;
		/* What an aborted child missed never happened. */
		e->record_flags = e->levels[level].flags_mark;
		if (!e->overflow) {
			e->ops_len = e->levels[level].ops_mark;
			e->nops = e->levels[level].nops_mark;
		}
	}
	/* An aborted child leaves its names listed: harmless, and in overflow
	 * mode a DIRTY for a DBI that did not change costs only a digest pass. */
	for (unsigned i = (unsigned)level; i < e->nlevels; i++)
		__atomic_store_n(&e->levels[i].txn, NULL, __ATOMIC_RELEASE);
	set_levels(e, (unsigned)level);
}

void tap_txn_abort(struct tap_env *e)
{
	reset(e);
}

/* Overflow: one DIRTY op per listed name. Returns 0 or -1 (no memory). */
static int build_dirty_ops(struct tap_env *e)
{
	size_t sz = record_op_size(0, 0);

	if (reserve(&e->ops, &e->ops_cap, (size_t)e->nnames * sz))
		return -1;
	for (unsigned i = 0; i < e->nnames; i++)
		record_put_op(e->ops + i * sz, MDBTAP_OP_DIRTY, 0, i, NULL, 0, NULL, 0);
	e->ops_len = (size_t)e->nnames * sz;
	e->nops = e->nnames;
	return 0;
}

/* One ORDER op for each DBI of this record that the host orders with its
 * own comparator (the syncer leaves those DBIs alone). At the end of the
 * record, outside the ops limit: the syncer reads the whole record before
 * it exports anything. Names stay listed after a child's abort: ORDER
 * is true of them all the same. Returns 0 or -1 (no memory). */
static int add_order_ops(struct tap_env *e)
{
	size_t sz = record_op_size(0, 0);
	int rc = 0;

	if (!__atomic_load_n(&e->own_order, __ATOMIC_ACQUIRE))
		return 0;
	tap_lock(); /* the list of names grows under it */
	for (struct tap_name *n = e->names; n && !rc; n = n->next) {
		if (n->stamp != e->seq || !__atomic_load_n(&n->own_order, __ATOMIC_ACQUIRE))
			continue;
		if (reserve(&e->ops, &e->ops_cap, e->ops_len + sz)) {
			rc = -1;
			break;
		}
		record_put_op(e->ops + e->ops_len, MDBTAP_OP_ORDER, 0, n->idx, NULL, 0, NULL, 0);
		e->ops_len += sz;
		e->nops++;
	}
	tap_unlock();
	return rc;
}

void tap_txn_order(struct tap_env *e, struct tap_name *n)
{
	tap_lock();
	if (!n->own_order) {
		__atomic_store_n(&n->own_order, 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&e->own_order, 1, __ATOMIC_RELEASE);
	}
	tap_unlock();
}

void tap_txn_prepare_commit(struct tap_env *e, MDB_txn *txn, struct journal_slot *slot)
{
	struct journal_append_in in;
	int rc;

	slot->state = NULL;
	deep_end_from(e, 0, 1); /* LMDB commits live children with their parent */
	if (e->overflow && build_dirty_ops(e))
		e->record_flags |= MDBTAP_REC_LOSSY;
	/* A txn that wrote nothing: LMDB commits it without a txn id (no
	 * dirty pages), so a record would claim an id some other writer gets.
	 * A txn whose only calls failed after LMDB touched its pages
	 * (e->touched: MDB_NODUPDATA's refusal comes after mdb_cursor_touch)
	 * does take an id: its record accounts for it. Refusals that come
	 * before any page is touched (MDB_NOOVERWRITE, MDB_APPEND) do not set
	 * touched (tap_wrap.c), and an aborted child's touched is undone. */
	if (e->nops == 0 && !e->touched && !(e->record_flags & MDBTAP_REC_LOSSY)) {
		reset(e);
		return;
	}
	if (add_order_ops(e))
		e->record_flags |= MDBTAP_REC_LOSSY;
	memset(&in, 0, sizeof(in));
	in.txnid = real_mdb_txn_id(txn);
	in.ts = journal_clock_next(e->jnl);
	in.flags = e->record_flags;
	in.nnames = e->nnames;
	in.nops = e->nops;
	in.names = e->namebuf;
	in.names_len = e->names_len;
	in.ops = e->ops;
	in.ops_len = e->ops_len;
	rc = journal_append(e->jnl, &in, slot);
	if (rc)
		tap_log("txn %llu not journaled: %s (the syncer will rescan)",
			(unsigned long long)in.txnid, mdbtap_strerror(rc));
	reset(e);
}
