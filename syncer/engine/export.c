/* export.c: see export.h. */
#include "export.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "elem.h"
#include "hlc.h"
#include "log.h"
#include "objname.h"
#include "progress.h"
#include "snap.h"
#include "store.h"

/* A full snapshot reads the host in read txns of this many elements each
 * (docs/DESIGN.md §21, §24.3). */
#define TXN_MAX_ELEMS 10000

struct export_ctx {
	struct senv *s;
	MDB_txn **host, *mt;
	struct snap_writer *w;
	int full;
	uint64_t elems;
	struct dset *ds;          /* of the DBI being written */
	struct snap_dbi sd;       /* its header, written before its first element */
	int dbi_started;
	unsigned in_txn;          /* elements read in the current host txn */
	unsigned txns;            /* host read txns used */
};

/* A full snapshot moves on to a newer host read txn every so often, so
 * that the host's old pages are not pinned for the whole export. It stays
 * labelled with what the fold accounted for (at most the txn it started
 * from): an element the host changed
 * since then may go out with its new value and old timestamp, or not at
 * all, and the next delta, which starts from that label, carries it with
 * its own. (A MDB_NOLOCK host gets its lock back in between.) */
static int next_host_txn(struct export_ctx *x)
{
	MDB_txn *t = NULL;
	int rc;

	mdb_txn_commit(*x->host); /* a read txn: keeps the DBI handles it opened */
	*x->host = NULL;
	senv_unlock(x->s);
	rc = senv_lock(x->s, 0);
	if (rc)
		return rc;
	rc = mdb_txn_begin(x->s->host, NULL, MDB_RDONLY, &t);
	if (rc == MDB_MAP_RESIZED && !(rc = mdb_env_set_mapsize(x->s->host, 0)))
		rc = mdb_txn_begin(x->s->host, NULL, MDB_RDONLY, &t);
	if (rc)
		return rc;
	*x->host = t;
	x->ds->host = t;
	x->in_txn = 0;
	x->txns++;
	return 0;
}

/* One element: its metadata and, when live, its value from the host. */
static int emit(void *ctx, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
		const struct meta_elem *e)
{
	struct export_ctx *x = ctx;
	struct snap_kv kv = { 0 };
	MDB_val v = { 0, NULL };
	int rc;

	if (x->full && ++x->in_txn > TXN_MAX_ELEMS && (rc = next_host_txn(x)) != 0)
		return rc;
	if (c->h.dupsort) {
		v = *dupval; /* a DUPSORT tombstone names its value too */
	} else if (!(e->flags & META_DELETED)) {
		int live;

		rc = elem_host_get(x->ds, c, key, NULL, &v, &live);
		if (rc)
			return rc;
		if (!live)
			return 0; /* deleted after the fold: the next one stamps it */
	}
	if (!x->dbi_started) {
		rc = snap_writer_dbi(x->w, &x->sd);
		if (rc)
			return rc;
		x->dbi_started = 1;
	}
	kv.key = key->mv_data;
	kv.klen = key->mv_size;
	kv.val = v.mv_data;
	kv.vlen = v.mv_size;
	kv.ts = e->ts;
	kv.flags = (e->flags & META_DELETED) ? SNAP_KV_DELETED : 0;
	x->elems++;
	if (x->full)
		progress_tick();
	return snap_writer_kv(x->w, &kv);
}

static int export_dbi(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	struct export_ctx *x = ctx;
	struct dset ds;
	struct dctx *c;
	int rc;

	if (!senv_selected(x->s, name, len))
		return 0;
	elem_set_init(&ds, x->s, *x->host, x->mt);
	rc = elem_set_get(&ds, name, len, 0, &c);
	if (rc) {
		elem_set_flush(&ds, 1);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	x->ds = &ds;
	/* c->d, not d: the DBI may have been found re-created just now. Its
	 * elements are all of the shape that began at c->d.epoch: an old
	 * shape's metadata went when it was dropped. */
	(void)d;
	x->sd = (struct snap_dbi){ name, len, c->d.flags,
				   c->h.dupsort ? SNAP_TRANSFORM_DUPSORT : "",
				   c->d.epoch, c->d.prev_epoch };
	x->dbi_started = 0;
	rc = elem_each(&ds, c, !x->full, emit, x);
	if (!rc)
		rc = mdb_drop(x->mt, c->h.changed, 0); /* exported: forget (in mt) */
	elem_set_flush(&ds, 1);
	return rc;
}

static int add_count(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	(void)name;
	(void)len;
	*(uint64_t *)ctx += d->count;
	return 0;
}

/* Elements the metadata knows, tombstones included: a full snapshot's size. */
static uint64_t count_elems(MDB_txn *mt, struct meta *m)
{
	uint64_t n = 0;

	meta_dbi_each(mt, m, add_count, &n);
	return n;
}

static int add_changed(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	struct export_ctx *x = ctx;
	struct meta_handles h;
	MDB_stat ms;

	(void)d;
	if (meta_dbi_open(x->mt, x->s->meta, name, len, 0, 0, &h) == 0 &&
	    mdb_stat(x->mt, h.changed, &ms) == 0)
		x->elems += ms.ms_entries;
	return 0;
}

/* About the uncompressed size of a delta, for zstd's tables. */
static size_t changed_bytes(MDB_txn *mt, struct senv *s)
{
	struct export_ctx x = { .s = s, .mt = mt };

	meta_dbi_each(mt, s->meta, add_changed, &x);
	return (size_t)x.elems * 128 + 256;
}

static int changed_any(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	struct export_ctx *x = ctx;
	struct meta_handles h;
	MDB_stat ms;

	(void)d;
	if (!senv_selected(x->s, name, len) ||
	    meta_dbi_open(x->mt, x->s->meta, name, len, 0, 0, &h) != 0 ||
	    mdb_stat(x->mt, h.changed, &ms) != 0)
		return 0;
	return ms.ms_entries ? 1 : 0;
}

int export_build(struct senv *s, MDB_txn **host, MDB_txn *mt, const struct meta_state *st,
		 const struct export_args *a, struct export_obj *o)
{
	struct export_ctx x = { .s = s, .host = host, .mt = mt, .full = a->full, .txns = 1 };
	struct objname on;
	struct snap_meta sm;
	char gen[24];
	/* The label claims what the fold accounted for, never more: a txn
	 * the host snapshot holds but the fold has not folded yet (its record
	 * still PENDING) goes out with the next object, whose range must
	 * still be new to receivers that keep up (they skip ranges they have). */
	uint64_t to = st->accounted < a->upto ? st->accounted : a->upto, floor;
	int rc;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (!x.full) {
		rc = meta_dbi_each(mt, s->meta, changed_any, &x);
		if (rc < 0 || rc > 1)
			return rc;
		if (rc == 0)
			return 0;
		/* Changes without a new txn id: only a new chain's (the fold
		 * marks nothing past what it accounts for): a full one says it all. */
		if (a->full_if_changed || to <= st->exported)
			x.full = 1;
	}
	o->made_ns = hlc_wall_ns();
	memset(&on, 0, sizeof(on));
	snprintf(on.db, sizeof(on.db), "%s", a->db);
	snprintf(on.instance, sizeof(on.instance), "%s", a->instance);
	/* After our last object, and after our name's objects of other
	 * chains listed when this one began (past_ns): receivers follow an
	 * instance's newest-named chain, and a clock since corrected may
	 * have dated those ahead (docs/DESIGN.md §11). */
	floor = st->last_obj_ns;
	if (st->past_gen == st->generation && st->past_ns > floor)
		floor = st->past_ns;
	on.ts_ns = o->made_ns > floor ? o->made_ns : floor + 1;
	on.generation = st->generation;
	on.full = x.full;
	on.from_txnid = x.full ? 0 : st->exported;
	on.to_txnid = to;
	rc = objname_format(&on, o->name, sizeof(o->name));
	if (rc)
		return rc;
	snprintf(gen, sizeof(gen), "G%016llx", (unsigned long long)st->generation);
	memset(&sm, 0, sizeof(sm));
	sm.generation = gen;
	sm.instance = a->instance;
	sm.hostname = a->hostname;
	sm.database = a->db;
	sm.txnid = (int64_t)to;
	sm.from_txnid = (int64_t)on.from_txnid;
	sm.ts_ns = on.ts_ns;
	o->fd = senv_tmpfile(s);
	if (o->fd < 0)
		return errno;
	rc = snap_writer_new(&x.w, &sm, 3, x.full ? 0 : changed_bytes(mt, s), snap_write_fd_sink,
			     &o->fd);
	if (x.full)
		progress_start("full snapshot", count_elems(mt, s->meta));
	if (!rc)
		rc = meta_dbi_each(mt, s->meta, export_dbi, &x);
	progress_end();
	if (!rc)
		rc = snap_writer_finish(x.w);
	snap_writer_free(x.w);
	if (rc) {
		log_msg(MDBTAP_LOG_ERROR, "%s: export of %s failed: %s", s->path, o->name,
			err_str(rc));
		export_discard(o);
		return rc;
	}
	o->ts_ns = on.ts_ns;
	o->upto = to;
	o->full = x.full;
	o->elems = x.elems;
	o->host_txns = x.txns;
	return 0;
}

int export_upload(struct senv *s, struct store *store, struct meta_state *st,
		  struct export_obj *o)
{
	int rc = store_put(store, o->name, o->fd);

	if (rc) {
		log_msg(MDBTAP_LOG_ERROR, "%s: export failed: %s", s->path, store_error(store));
		export_discard(o);
		return rc;
	}
	log_msg(MDBTAP_LOG_INFO, "%s: uploaded %s (%llu elements, read in %u host txn%s)", s->path,
		o->name, (unsigned long long)o->elems, o->host_txns, o->host_txns == 1 ? "" : "s");
	export_discard(o);
	s->stats.objects_out++;
	s->stats.elems_out += o->elems;
	st->exported = o->upto;
	st->last_obj_ns = o->ts_ns;
	if (o->full) {
		st->last_full_ns = o->made_ns;
		st->last_full_name = o->ts_ns;
	}
	return 0;
}

void export_discard(struct export_obj *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
}
