/* tap_wrap.c: the LMDB entry points the tap wraps (exported by tap.map).
 *
 * Every wrapper calls the real function, returns its result unchanged and
 * keeps errno as LMDB left it. It journals only what succeeded, and only
 * in a write transaction of an env it tracks (docs/DESIGN.md §1: record
 * exactly what succeeded and committed; §3: never fail the host). A
 * thread-local depth counter lets LMDB's internal calls pass straight
 * through, in builds of liblmdb where they reach us.
 *
 * Not wrapped, on purpose: mdb_txn_reset/renew (a no-op on write txns),
 * mdb_env_set_maxdbs and mdb_env_set_mapsize (the tap takes no DBI slot
 * and no map space: the journal is a companion file).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jdir.h"
#include "journal.h"
#include "record.h"
#include "tap_config.h"
#include "tap_env.h"
#include "tap_resolve.h"
#include "tap_txn.h"

/* The wrappers are the tap's only exported symbols (tap.map). */
#define TAP_EXPORT __attribute__((visibility("default")))

static __thread unsigned tap_depth;

/* Where a call goes. A caller whose object defines its own mdb_* (LMDB
 * compiled into a module that exports them: its calls reach us through
 * the global scope) goes to those definitions, whatever other LMDB is
 * loaded, and is not journaled: its txn ids show up unaccounted, as for
 * any LMDB the tap cannot see (issue 9, bug 5). So does any call when no
 * LMDB is found where the tap looks (tap_resolve.c); EINVAL when the
 * caller has no LMDB of its own either. Never break the host. */
#define TAP_ROUTE(name, ...)                                                        \
	do {                                                                        \
		const void *ra_ = __builtin_return_address(0);                      \
		if (__builtin_expect(!tap_caller_plain(ra_) || !tap_resolve(), 0)) { \
			__typeof__(&name) own_ = (__typeof__(&name))tap_own_def(    \
				ra_, TAP_FN_##name, #name);                          \
			return own_ ? own_(__VA_ARGS__) : EINVAL;                   \
		}                                                                   \
	} while (0)
#define TAP_ROUTE_VOID(name, ...)                                                   \
	do {                                                                        \
		const void *ra_ = __builtin_return_address(0);                      \
		if (__builtin_expect(!tap_caller_plain(ra_) || !tap_resolve(), 0)) { \
			__typeof__(&name) own_ = (__typeof__(&name))tap_own_def(    \
				ra_, TAP_FN_##name, #name);                          \
			if (own_)                                                   \
				own_(__VA_ARGS__);                                  \
			return;                                                     \
		}                                                                   \
	} while (0)

/* Whether the tap should look at this call at all. */
static int tap_active(void)
{
	return tap_depth == 0 && !tap_config()->disabled;
}

/* The tracked env in which txn is the live (innermost) write txn. */
static struct tap_env *writer_env(MDB_txn *txn)
{
	struct tap_env *e;

	if (!txn)
		return NULL;
	e = tap_env_find(real_mdb_txn_env(txn));
	if (!e)
		return NULL;
	/* A child beyond the tracked levels: tap_txn.c only notes that it wrote. */
	return tap_env_current(e) == txn || tap_env_deep_current(e) == txn ? e : NULL;
}

static int is_dupsort(MDB_txn *txn, MDB_dbi dbi)
{
	unsigned int f = 0;

	return real_mdb_dbi_flags(txn, dbi, &f) == 0 && (f & MDB_DUPSORT);
}

static void record(struct tap_env *e, MDB_dbi dbi, unsigned type,
		   const MDB_val *key, const MDB_val *val)
{
	struct tap_name *n = tap_env_dbi_name(e, dbi);

	if (n)
		tap_txn_op(e, type, n, key, val);
	else
		tap_txn_lossy(e); /* a handle we never saw opened */
}

/* A copy of an MDB_val: LMDB's pointers die at the next update. */
struct val_copy {
	MDB_val v;
	uint8_t small[512];
	uint8_t *heap;
};

static int copy_val(struct val_copy *c, const MDB_val *src)
{
	uint8_t *dst = c->small;

	c->heap = NULL;
	if (src->mv_size > sizeof(c->small)) {
		c->heap = malloc(src->mv_size);
		if (!c->heap)
			return ENOMEM;
		dst = c->heap;
	}
	if (src->mv_size)
		memcpy(dst, src->mv_data, src->mv_size);
	c->v.mv_size = src->mv_size;
	c->v.mv_data = dst;
	return 0;
}

static int same_val(const MDB_val *a, const MDB_val *b)
{
	return a->mv_size == b->mv_size &&
	       (a->mv_size == 0 || memcmp(a->mv_data, b->mv_data, a->mv_size) == 0);
}

/* The element under a cursor, copied: key, and value when dupsort. */
struct cursor_elem {
	int ok;
	int dupsort;
	struct val_copy key, val;
};

/* LMDB 0.9's MDB_cursor starts with next, backup, xcursor (whose own
 * cursor comes first), txn, dbi, db, dbx, dbflag, snum, top, flags, then
 * the page stack pg[CURSOR_STACK] and index stack ki[CURSOR_STACK]
 * (CURSOR_STACK is 32 in every 0.9 release). Every mdb_cursor_get clears
 * C_DEL in flags (the cursor already points at the item after a deleted
 * one: the next MDB_NEXT must not move), for the cursor and its
 * sub-cursor; MDB_GET_CURRENT on an index past the page's last item sets
 * the index to the item count (LMDB leaves a sub-cursor there when it
 * deletes a single-value key and the cursor lands on a key with several:
 * the host's next MDB_PREV_DUP then starts from another place). The tap's
 * MDB_GET_CURRENT must leave the host's cursor as it was, so it saves the
 * flags words and top indexes of both and puts them back. The layout is
 * checked against mdb_cursor_txn and mdb_cursor_dbi first; if it does not
 * match, the tap does not read the cursor at all. */
#define LMDB_CURSOR_STACK 32
struct lmdb_cursor_head {
	void *next, *backup, *xcursor;
	MDB_txn *txn;
	MDB_dbi dbi;
	void *db, *dbx;
	unsigned char *dbflag;
	unsigned short snum, top;
	unsigned int flags;
	void *pg[LMDB_CURSOR_STACK];
	uint16_t ki[LMDB_CURSOR_STACK];
};

static unsigned int *cursor_flags_word(MDB_cursor *mc, MDB_txn *txn, MDB_dbi dbi)
{
	struct lmdb_cursor_head *h = (struct lmdb_cursor_head *)(void *)mc;

	if (h->txn != txn || h->dbi != dbi)
		return NULL;
	return &h->flags;
}

/* Read the element under mc as the host left it: 0, or -1 when the tap
 * may not or cannot read it. */
static int probe_current(MDB_cursor *mc, MDB_val *k, MDB_val *v)
{
	MDB_txn *txn = real_mdb_cursor_txn(mc);
	MDB_dbi dbi = real_mdb_cursor_dbi(mc);
	unsigned int *f = cursor_flags_word(mc, txn, dbi), *xf = NULL, saved, xsaved = 0;
	struct lmdb_cursor_head *h = (struct lmdb_cursor_head *)(void *)mc, *xh = NULL;
	uint16_t ki = 0, xki = 0;
	int rc;

	if (!f || h->top >= LMDB_CURSOR_STACK)
		return -1;
	if (h->xcursor) {
		xf = cursor_flags_word(h->xcursor, txn, dbi);
		xh = h->xcursor;
		if (!xf || xh->top >= LMDB_CURSOR_STACK)
			return -1;
		xsaved = *xf;
		xki = xh->ki[xh->top];
	}
	saved = *f;
	ki = h->ki[h->top];
	rc = real_mdb_cursor_get(mc, k, v, MDB_GET_CURRENT);
	*f = saved;
	h->ki[h->top] = ki;
	if (xh) {
		*xf = xsaved;
		xh->ki[xh->top] = xki;
	}
	return rc ? -1 : 0;
}

static void cursor_elem_get(MDB_cursor *mc, struct cursor_elem *ce)
{
	MDB_val k, v;

	memset(ce, 0, sizeof(*ce));
	ce->dupsort = is_dupsort(real_mdb_cursor_txn(mc), real_mdb_cursor_dbi(mc));
	/* Plain DBIs: no value, so an overflow value is never read. */
	if (probe_current(mc, &k, ce->dupsort ? &v : NULL) != 0)
		return;
	if (copy_val(&ce->key, &k))
		return;
	if (ce->dupsort && copy_val(&ce->val, &v)) {
		free(ce->key.heap);
		ce->key.heap = NULL;
		return;
	}
	ce->ok = 1;
}

static void cursor_elem_free(struct cursor_elem *ce)
{
	free(ce->key.heap);
	free(ce->val.heap);
}

TAP_EXPORT int mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode)
{
	unsigned int eflags = 0;
	const char *epath = NULL;
	char dir[4096];
	MDB_envinfo info;
	struct journal *j;
	struct stat data;
	int rc, saved, jrc;

	TAP_ROUTE(mdb_env_open, env, path, flags, mode);
	if (!tap_active())
		return real_mdb_env_open(env, path, flags, mode);
	tap_depth++;
	rc = real_mdb_env_open(env, path, flags, mode);
	saved = errno;
	if (rc == 0 && real_mdb_env_get_flags(env, &eflags) == 0 && !(eflags & MDB_RDONLY) &&
	    real_mdb_env_get_path(env, &epath) == 0 && epath &&
	    journal_companion_dir(epath, eflags & MDB_NOSUBDIR, dir, sizeof(dir)) == 0 &&
	    real_mdb_env_info(env, &info) == 0 &&
	    jdir_env_stat(epath, eflags & MDB_NOSUBDIR, &data) == 0) {
		struct journal_open_opts o = {
			.writable = 1,
			.create = 1,
			.env_data = &data, /* the companion is no wider than the data */
			.capacity = tap_config()->journal_size,
			.base_txnid = info.me_last_txnid,
		};

		jrc = journal_open(dir, &o, &j);
		if (jrc)
			tap_log("%s: no journal (%s): writes will be found by rescan",
				dir, mdbtap_strerror(jrc));
		else if (!tap_env_add(env, j))
			tap_log("%s: cannot track this env (memory or too many envs)", epath);
	}
	errno = saved;
	tap_depth--;
	return rc;
}

TAP_EXPORT void mdb_env_close(MDB_env *env)
{
	TAP_ROUTE_VOID(mdb_env_close, env);
	if (tap_active()) {
		int saved = errno;

		tap_env_remove(env);
		errno = saved;
	}
	tap_depth++;
	real_mdb_env_close(env);
	tap_depth--;
}

TAP_EXPORT int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
	struct tap_env *e;
	int rc;

	TAP_ROUTE(mdb_txn_begin, env, parent, flags, txn);
	if (!tap_active())
		return real_mdb_txn_begin(env, parent, flags, txn);
	tap_depth++;
	rc = real_mdb_txn_begin(env, parent, flags, txn);
	if (rc == 0 && !(flags & MDB_RDONLY) && (e = tap_env_find(env))) {
		int saved = errno;

		tap_txn_begin(e, parent, *txn);
		errno = saved;
	}
	tap_depth--;
	return rc;
}

TAP_EXPORT int mdb_txn_commit(MDB_txn *txn)
{
	struct journal_slot slot = { 0 };
	struct tap_env *e;
	int rc, level = -1, saved;

	TAP_ROUTE(mdb_txn_commit, txn);
	if (!tap_active())
		return real_mdb_txn_commit(txn);
	tap_depth++;
	saved = errno;
	e = txn ? tap_env_find(real_mdb_txn_env(txn)) : NULL;
	if (e)
		level = tap_env_level(e, txn);
	if (level == 0)
		tap_txn_prepare_commit(e, txn, &slot);
	errno = saved;
	rc = real_mdb_txn_commit(txn);
	saved = errno;
	/* After a top-level commit the writer lock is gone: only the slot,
	 * never the env's state, may be touched now. */
	if (level == 0) {
		journal_finish(&slot, rc == 0);
		if (rc == 0) /* a syncer waiting for commits exports it now */
			journal_notify(&slot);
	} else if (level > 0) {
		tap_txn_child_end(e, level, rc == 0);
	} else if (e) {
		tap_txn_deep_end(e, txn, rc == 0);
	}
	errno = saved;
	tap_depth--;
	return rc;
}

TAP_EXPORT void mdb_txn_abort(MDB_txn *txn)
{
	struct tap_env *e;
	int level;

	TAP_ROUTE_VOID(mdb_txn_abort, txn);
	if (tap_active() && txn && (e = tap_env_find(real_mdb_txn_env(txn)))) {
		int saved = errno;

		level = tap_env_level(e, txn);
		if (level == 0)
			tap_txn_abort(e);
		else if (level > 0)
			tap_txn_child_end(e, level, 0);
		else
			tap_txn_deep_end(e, txn, 0);
		errno = saved;
	}
	tap_depth++;
	real_mdb_txn_abort(txn);
	tap_depth--;
}

/* Number of entries in the unnamed DBI: a named DBI is one of them, so
 * the count grows by one exactly when mdb_dbi_open created a DBI. */
static size_t main_entries(MDB_txn *txn)
{
	MDB_stat st;

	return real_mdb_stat(txn, 1, &st) == 0 ? st.ms_entries : 0;
}

TAP_EXPORT int mdb_dbi_open(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi)
{
	struct tap_env *e = NULL, *w = NULL;
	unsigned int before = 0, after = 0;
	size_t entries = 0;
	int rc, saved;

	TAP_ROUTE(mdb_dbi_open, txn, name, flags, dbi);
	if (!tap_active())
		return real_mdb_dbi_open(txn, name, flags, dbi);
	tap_depth++;
	saved = errno;
	if (txn && (e = tap_env_find(real_mdb_txn_env(txn))))
		w = writer_env(txn);
	if (w && !name)
		real_mdb_dbi_flags(txn, 1, &before);
	else if (w && (flags & MDB_CREATE))
		entries = main_entries(txn);
	errno = saved;
	rc = real_mdb_dbi_open(txn, name, flags, dbi);
	saved = errno;
	if (rc == 0 && e && tap_env_name_dbi(e, *dbi, name) != 0 && w)
		tap_txn_lossy(w);
	if (rc == 0 && w) {
		int created = !name
			? real_mdb_dbi_flags(txn, 1, &after) == 0 && after != before
			: (flags & MDB_CREATE) && main_entries(txn) > entries;

		if (created && real_mdb_dbi_flags(txn, *dbi, &after) == 0) {
			uint32_t f = after;
			MDB_val v = { sizeof(f), &f };

			record(w, *dbi, MDBTAP_OP_CREATE, NULL, &v);
		}
	}
	errno = saved;
	tap_depth--;
	return rc;
}

TAP_EXPORT void mdb_dbi_close(MDB_env *env, MDB_dbi dbi)
{
	struct tap_env *e;

	TAP_ROUTE_VOID(mdb_dbi_close, env, dbi);
	if (tap_active() && (e = tap_env_find(env))) {
		int saved = errno;

		tap_env_unname_dbi(e, dbi);
		errno = saved;
	}
	tap_depth++;
	real_mdb_dbi_close(env, dbi);
	tap_depth--;
}

/* The names of the named DBIs, read from the unnamed DBI (where each is
 * a record whose value is an MDB_db). A plain record of that size is
 * taken for one too: a DIRTY op on a name that is no DBI costs nothing. */
struct name_list {
	char **v;
	size_t n;
	int failed;
};

static void list_named_dbis(MDB_txn *txn, struct name_list *l)
{
	const size_t db_size = 8 + 5 * sizeof(size_t); /* sizeof(MDB_db) */
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	memset(l, 0, sizeof(*l));
	if (real_mdb_cursor_open(txn, 1, &c) != 0) {
		l->failed = 1;
		return;
	}
	for (rc = real_mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = real_mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char **nv, *name;

		if (v.mv_size != db_size || !k.mv_size || memchr(k.mv_data, 0, k.mv_size))
			continue;
		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		name = malloc(k.mv_size + 1);
		if (nv)
			l->v = nv;
		if (!nv || !name) {
			free(name);
			l->failed = 1;
			break;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = 0;
		l->v[l->n++] = name;
	}
	if (rc != MDB_NOTFOUND && rc != 0)
		l->failed = 1;
	real_mdb_cursor_close(c);
}

static void free_name_list(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

TAP_EXPORT int mdb_drop(MDB_txn *txn, MDB_dbi dbi, int del)
{
	struct name_list named = { 0 };
	struct tap_name *n = NULL;
	struct tap_env *w;
	int rc, saved;

	TAP_ROUTE(mdb_drop, txn, dbi, del);
	if (!tap_active())
		return real_mdb_drop(txn, dbi, del);
	tap_depth++;
	saved = errno;
	/* The name first: LMDB closes the handle when it deletes the DBI. */
	w = writer_env(txn);
	if (w)
		n = tap_env_dbi_name(w, dbi);
	/* Emptying the unnamed DBI deletes the named DBIs' records too: those
	 * not written again in this txn are gone after the commit, with their
	 * elements (LMDB rewrites the record of a DBI that is dirty at commit,
	 * so the others survive). Which ones survive is not visible here: the
	 * record says each may have changed anywhere (DIRTY). */
	if (w && dbi == 1)
		list_named_dbis(txn, &named);
	errno = saved;
	rc = real_mdb_drop(txn, dbi, del);
	saved = errno;
	if (rc == 0 && w) {
		if (!n) {
			tap_txn_lossy(w);
		} else if (del && dbi > 1) { /* del on the unnamed DBI only empties it */
			tap_txn_op(w, MDBTAP_OP_DELETE_DBI, n, NULL, NULL);
			tap_env_unname_dbi(w, dbi);
		} else {
			tap_txn_op(w, MDBTAP_OP_DROP, n, NULL, NULL);
		}
		if (dbi == 1 && named.failed)
			tap_txn_lossy(w);
		for (size_t i = 0; dbi == 1 && i < named.n; i++) {
			struct tap_name *dn = tap_env_intern(w, named.v[i]);

			if (dn)
				tap_txn_op(w, MDBTAP_OP_DIRTY, dn, NULL, NULL);
			else
				tap_txn_lossy(w);
		}
	}
	free_name_list(&named);
	errno = saved;
	tap_depth--;
	return rc;
}

/* LMDB returns MDB_KEYEXIST for MDB_NODUPDATA and MDB_APPENDDUP only
 * after it has found the key and touched its pages (mdb_cursor_put), so
 * the txn commits with a txn id of its own even if nothing else changes.
 * MDB_APPEND's and MDB_NOOVERWRITE's refusals come before any page is
 * touched: then the txn may take no id, and a record would claim the id
 * of the next writer (who may not have the tap). */
static void note_failed_put(struct tap_env *w, int rc, unsigned flags)
{
	if (rc == MDB_KEYEXIST && (flags & (MDB_NODUPDATA | MDB_APPENDDUP)) &&
	    !(flags & (MDB_APPEND | MDB_NOOVERWRITE)))
		tap_txn_touched(w);
}

/* What a put or a del names, copied before the call: the host's key and
 * value may point into a page of this txn (taken from a cursor), which the
 * call changes. */
struct call_elem {
	int dupsort;
	int has_val;
	int had_empty;          /* DUPSORT: the key had the empty value */
	struct val_copy key, val;
};

/* Whether the first value of key in a DUPSORT DBI is the empty one (it
 * sorts first under every dup order that allows it). */
static int has_empty_value(MDB_txn *txn, MDB_dbi dbi, MDB_val *key)
{
	MDB_val v;

	return real_mdb_get(txn, dbi, key, &v) == 0 && v.mv_size == 0;
}

/* LMDB 0.9 replaces a key's only value when it is empty and another
 * value is put (mdb_cursor_put converts the single item and drops it):
 * that is a delete the host never asked for. */
static void record_put_dup(struct tap_env *w, MDB_txn *txn, MDB_dbi dbi, struct call_elem *ce)
{
	if (ce->had_empty && !has_empty_value(txn, dbi, &ce->key.v)) {
		MDB_val empty = { 0, ce->key.v.mv_data };

		record(w, dbi, MDBTAP_OP_DEL, &ce->key.v, &empty);
	}
	record(w, dbi, MDBTAP_OP_PUT, &ce->key.v, &ce->val.v);
}

static int call_elem_copy(struct call_elem *ce, MDB_txn *txn, MDB_dbi dbi, const MDB_val *key,
			  const MDB_val *val)
{
	/* No memset: the struct holds two 512-byte buffers, and this runs
	 * on every put. copy_val sets what it copies. */
	ce->has_val = 0;
	ce->had_empty = 0;
	ce->val.heap = NULL;
	ce->dupsort = is_dupsort(txn, dbi);
	if (!key || copy_val(&ce->key, key))
		return -1;
	if (ce->dupsort && val) {
		if (copy_val(&ce->val, val)) {
			free(ce->key.heap);
			ce->key.heap = NULL;
			return -1;
		}
		ce->has_val = 1;
		ce->had_empty = val->mv_size > 0 && has_empty_value(txn, dbi, &ce->key.v);
	}
	return 0;
}

static void call_elem_free(struct call_elem *ce)
{
	free(ce->key.heap);
	free(ce->val.heap);
}

TAP_EXPORT int mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags)
{
	struct call_elem ce;
	struct tap_env *w;
	int rc, saved, copied = -1;

	TAP_ROUTE(mdb_put, txn, dbi, key, data, flags);
	if (!tap_active())
		return real_mdb_put(txn, dbi, key, data, flags);
	tap_depth++;
	saved = errno;
	w = writer_env(txn);
	if (w)
		copied = call_elem_copy(&ce, txn, dbi, key, (flags & MDB_RESERVE) ? NULL : data);
	errno = saved;
	rc = real_mdb_put(txn, dbi, key, data, flags);
	saved = errno;
	if (rc == MDB_KEYEXIST && w) {
		note_failed_put(w, rc, flags);
	} else if (rc == 0 && w) {
		if (copied)
			tap_txn_lossy(w);
		else if (!ce.dupsort)
			record(w, dbi, MDBTAP_OP_PUT, &ce.key.v, NULL); /* MDB_RESERVE: value comes later */
		else if (!ce.has_val)
			tap_txn_lossy(w); /* MDB_RESERVE: the value is not written yet */
		else
			record_put_dup(w, txn, dbi, &ce);
	}
	if (!copied)
		call_elem_free(&ce);
	errno = saved;
	tap_depth--;
	return rc;
}

TAP_EXPORT int mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data)
{
	struct call_elem ce;
	struct tap_env *w;
	int rc, saved, copied = -1;

	TAP_ROUTE(mdb_del, txn, dbi, key, data);
	if (!tap_active())
		return real_mdb_del(txn, dbi, key, data);
	tap_depth++;
	saved = errno;
	w = writer_env(txn);
	if (w)
		copied = call_elem_copy(&ce, txn, dbi, key, data);
	errno = saved;
	rc = real_mdb_del(txn, dbi, key, data);
	saved = errno;
	if (rc == 0 && w) {
		if (copied)
			tap_txn_lossy(w);
		else if (!ce.dupsort)
			record(w, dbi, MDBTAP_OP_DEL, &ce.key.v, NULL);
		else if (ce.has_val)
			record(w, dbi, MDBTAP_OP_DEL, &ce.key.v, &ce.val.v);
		else
			record(w, dbi, MDBTAP_OP_DELALL, &ce.key.v, NULL);
	}
	if (!copied)
		call_elem_free(&ce);
	errno = saved;
	tap_depth--;
	return rc;
}

/* After a successful MDB_CURRENT put: LMDB writes at the cursor, and may
 * re-insert under the key argument when the size changed, so what was
 * written is read back rather than assumed. */
static void record_current_put(struct tap_env *w, MDB_cursor *mc, struct cursor_elem *old)
{
	MDB_dbi dbi = real_mdb_cursor_dbi(mc);
	struct cursor_elem now;

	cursor_elem_get(mc, &now);
	if (!old->ok || !now.ok) {
		tap_txn_lossy(w);
	} else if (same_val(&old->key.v, &now.key.v) &&
		   (!now.dupsort || same_val(&old->val.v, &now.val.v))) {
		record(w, dbi, MDBTAP_OP_PUT, &now.key.v, now.dupsort ? &now.val.v : NULL);
	} else {
		record(w, dbi, MDBTAP_OP_DEL, &old->key.v, old->dupsort ? &old->val.v : NULL);
		record(w, dbi, MDBTAP_OP_PUT, &now.key.v, now.dupsort ? &now.val.v : NULL);
	}
	cursor_elem_free(&now);
}

/* MDB_MULTIPLE combined with MDB_CURRENT or MDB_RESERVE, or on a DBI
 * without DUPSORT: LMDB 0.9's mdb_cursor_put has no defined meaning for
 * these (MDB_CURRENT|MDB_MULTIPLE|MDB_APPENDDUP returns 0 and changes
 * nothing; MDB_RESERVE moves data[0] into the page), so the tap does not
 * guess elements: the DBI may have changed anywhere (DIRTY). */
static int multiple_is_odd(MDB_cursor *mc, unsigned int flags)
{
	return (flags & (MDB_CURRENT | MDB_RESERVE)) ||
	       !is_dupsort(real_mdb_cursor_txn(mc), real_mdb_cursor_dbi(mc));
}

/* An MDB_MULTIPLE put: LMDB sets data[1].mv_size to the number of items
 * it wrote (0 first, then one more per item), but only once it has
 * checked mc and key: an EINVAL for a NULL key leaves the host's count
 * there (mdb.c 0.9.24, mdb_cursor_put). So the count is read only when
 * the key was given; items is data[0] as the host passed it. */
static void record_multiple(struct tap_env *w, MDB_cursor *mc, int rc, unsigned int flags,
			    const struct val_copy *key, const MDB_val *items, const MDB_val *data)
{
	MDB_dbi dbi = real_mdb_cursor_dbi(mc);
	size_t n = data[1].mv_size;

	if (rc && n == 0) /* an argument error, or a refusal of the first item */
		return;
	if (n == 0 || multiple_is_odd(mc, flags)) {
		record(w, dbi, MDBTAP_OP_DIRTY, NULL, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		MDB_val v = { items->mv_size, (char *)items->mv_data + i * items->mv_size };

		record(w, dbi, MDBTAP_OP_PUT, &key->v, &v);
	}
}

TAP_EXPORT int mdb_cursor_put(MDB_cursor *mc, MDB_val *key, MDB_val *data, unsigned int flags)
{
	struct cursor_elem old = { 0 };
	struct call_elem ce;
	struct val_copy mkey = { .heap = NULL };
	struct tap_env *w = NULL;
	MDB_val items = { 0, NULL };
	int rc, saved, copied = -1, mcopied = -1;

	TAP_ROUTE(mdb_cursor_put, mc, key, data, flags);
	if (!tap_active())
		return real_mdb_cursor_put(mc, key, data, flags);
	tap_depth++;
	saved = errno;
	if (mc && (w = writer_env(real_mdb_cursor_txn(mc)))) {
		if (flags & MDB_MULTIPLE) {
			items = data[0]; /* LMDB advances data[0] as it writes */
			if (key) /* NULL: EINVAL, before LMDB sets the count */
				mcopied = copy_val(&mkey, key) ? -2 : 0;
		} else if (flags & MDB_CURRENT) {
			cursor_elem_get(mc, &old);
		} else {
			copied = call_elem_copy(&ce, real_mdb_cursor_txn(mc), real_mdb_cursor_dbi(mc),
						key, (flags & MDB_RESERVE) ? NULL : data);
		}
	}
	errno = saved;
	rc = real_mdb_cursor_put(mc, key, data, flags);
	saved = errno;
	if (rc && w)
		note_failed_put(w, rc, flags);
	if (w && (flags & MDB_MULTIPLE)) {
		/* A failed call keeps the items before the failure (MDB_NODUPDATA:
		 * MDB_KEYEXIST midway): the count says how many. */
		if (mcopied == -2 && (rc == 0 || data[1].mv_size))
			tap_txn_lossy(w); /* no memory for the key */
		else if (mcopied == 0)
			record_multiple(w, mc, rc, flags, &mkey, &items, data);
	} else if (rc == 0 && w) {
		MDB_dbi dbi = real_mdb_cursor_dbi(mc);

		if (flags & MDB_CURRENT)
			record_current_put(w, mc, &old);
		else if (copied)
			tap_txn_lossy(w);
		else if (!ce.dupsort)
			record(w, dbi, MDBTAP_OP_PUT, &ce.key.v, NULL);
		else if (!ce.has_val)
			tap_txn_lossy(w);
		else
			record_put_dup(w, real_mdb_cursor_txn(mc), dbi, &ce);
	}
	if (!copied)
		call_elem_free(&ce);
	free(mkey.heap);
	cursor_elem_free(&old);
	errno = saved;
	tap_depth--;
	return rc;
}

TAP_EXPORT int mdb_cursor_del(MDB_cursor *mc, unsigned int flags)
{
	struct cursor_elem old = { 0 };
	struct tap_env *w = NULL;
	int rc, saved;

	TAP_ROUTE(mdb_cursor_del, mc, flags);
	if (!tap_active())
		return real_mdb_cursor_del(mc, flags);
	tap_depth++;
	saved = errno;
	/* The element goes away with the call: read it first. */
	if (mc && (w = writer_env(real_mdb_cursor_txn(mc))))
		cursor_elem_get(mc, &old);
	errno = saved;
	rc = real_mdb_cursor_del(mc, flags);
	saved = errno;
	if (rc && w)
		note_failed_put(w, rc, flags);
	if (rc == 0 && w) {
		MDB_dbi dbi = real_mdb_cursor_dbi(mc);

		if (!old.ok)
			tap_txn_lossy(w);
		else if (!old.dupsort)
			record(w, dbi, MDBTAP_OP_DEL, &old.key.v, NULL);
		else if (flags & MDB_NODUPDATA)
			record(w, dbi, MDBTAP_OP_DELALL, &old.key.v, NULL);
		else
			record(w, dbi, MDBTAP_OP_DEL, &old.key.v, &old.val.v);
	}
	cursor_elem_free(&old);
	errno = saved;
	tap_depth--;
	return rc;
}

/* A comparator of the host's own: LMDB orders the DBI by it, the syncer
 * by memcmp. The tap forwards the call unchanged and marks the DBI's
 * name: its records then carry ORDER, and the syncer leaves the DBI
 * alone (it would merge keys out of the host's order, and journal
 * deletes of elements that compare equal but differ in bytes). */
static void note_own_order(MDB_txn *txn, MDB_dbi dbi)
{
	struct tap_env *e;
	struct tap_name *n;

	if (!txn || !tap_active() || !(e = tap_env_find(real_mdb_txn_env(txn))))
		return;
	n = tap_env_dbi_name(e, dbi);
	if (n)
		tap_txn_order(e, n);
}

TAP_EXPORT int mdb_set_compare(MDB_txn *txn, MDB_dbi dbi, MDB_cmp_func *cmp)
{
	int rc, saved;

	TAP_ROUTE(mdb_set_compare, txn, dbi, cmp);
	rc = real_mdb_set_compare(txn, dbi, cmp);
	saved = errno;
	if (rc == 0)
		note_own_order(txn, dbi);
	errno = saved;
	return rc;
}

TAP_EXPORT int mdb_set_dupsort(MDB_txn *txn, MDB_dbi dbi, MDB_cmp_func *cmp)
{
	int rc, saved;

	TAP_ROUTE(mdb_set_dupsort, txn, dbi, cmp);
	rc = real_mdb_set_dupsort(txn, dbi, cmp);
	saved = errno;
	if (rc == 0)
		note_own_order(txn, dbi);
	errno = saved;
	return rc;
}
