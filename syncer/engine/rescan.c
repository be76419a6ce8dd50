/* rescan.c: see rescan.h. */
#include "rescan.h"

#include <string.h>

#include "progress.h"

static int host_pass(struct dset *ds, struct dctx *c, uint64_t ts, unsigned how,
		     uint64_t *stamped)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(ds->host, c->host, &cur);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		progress_tick();
		if (c->len == 0 && senv_is_dbi_record(ds->s, ds->host, &k, &v))
			continue;
		rc = elem_stamp(ds, c, &k, c->h.dupsort ? &v : NULL, ts, how | STAMP_IF_CHANGED,
			   stamped);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int rescan_deleted(struct dset *ds, struct dctx *c, uint64_t ts, unsigned how,
		   uint64_t *stamped)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(ds->mt, c->h.dupsort ? c->h.vals : c->h.elems, &cur);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		rc = elem_stamp(ds, c, &k, c->h.dupsort ? &v : NULL, ts,
			   how | STAMP_IF_CHANGED | STAMP_ONLY_DELETED, stamped);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int rescan_dbi(struct dset *ds, const char *name, size_t len, uint64_t ts, unsigned how,
	       uint64_t *stamped)
{
	struct dctx *c;
	int rc = elem_set_get(ds, name, len, 0, &c);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (!rc && c->host_exists)
		rc = host_pass(ds, c, ts, how, stamped);
	if (!rc)
		rc = rescan_deleted(ds, c, ts, how, stamped);
	if (!rc && !c->host_exists && c->d.exists) {
		c->d.exists = 0;
		c->dirty = 1;
	}
	return rc;
}

struct each_ctx {
	struct dset *ds;
	uint64_t ts;
	unsigned how;
	uint64_t *stamped;
};

static int each_host(void *ctx, const char *name, size_t len)
{
	struct each_ctx *e = ctx;

	return rescan_dbi(e->ds, name, len, e->ts, e->how, e->stamped);
}

static int each_meta(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	struct each_ctx *e = ctx;
	MDB_dbi dbi;

	if (!d->exists)
		return 0; /* its tombstones are in place */
	if (senv_host_dbi(e->ds->s, e->ds->host, name, len, 0, &dbi) == 0)
		return 0; /* done by the host pass */
	return rescan_dbi(e->ds, name, len, e->ts, e->how, e->stamped);
}

static int count_host(void *ctx, const char *name, size_t len)
{
	struct each_ctx *e = ctx;
	MDB_stat st;
	MDB_dbi dbi;

	if (senv_selected(e->ds->s, name, len) &&
	    senv_host_dbi(e->ds->s, e->ds->host, name, len, 0, &dbi) == 0 &&
	    mdb_stat(e->ds->host, dbi, &st) == 0)
		*e->stamped += st.ms_entries; /* borrowed as the counter */
	return 0;
}

int rescan_all(struct dset *ds, uint64_t ts, unsigned how, uint64_t *stamped)
{
	uint64_t total = 0;
	struct each_ctx e = { ds, ts, how, &total };
	int rc = senv_each_host_dbi(ds->s, ds->host, count_host, &e);

	progress_start(ts ? "rescan" : "adopting", total);
	e.stamped = stamped;
	if (!rc)
		rc = senv_each_host_dbi(ds->s, ds->host, each_host, &e);
	if (!rc)
		rc = meta_dbi_each(ds->mt, ds->s->meta, each_meta, &e);
	progress_end();
	return rc;
}

struct unknown_ctx {
	struct dset *ds;
	uint64_t *stamped, *adopted;
};

static int each_unknown(void *ctx, const char *name, size_t len)
{
	struct unknown_ctx *u = ctx;
	struct meta_dbi d;
	int rc;

	if (!senv_selected(u->ds->s, name, len))
		return 0;
	rc = meta_dbi_get(u->ds->mt, u->ds->s->meta, name, len, &d);
	if (rc != MDB_NOTFOUND)
		return rc;
	(*u->adopted)++;
	return rescan_dbi(u->ds, name, len, 0, STAMP_MARK, u->stamped);
}

int rescan_unknown(struct dset *ds, uint64_t *stamped, uint64_t *adopted)
{
	struct unknown_ctx u = { ds, stamped, adopted };

	return senv_each_host_dbi(ds->s, ds->host, each_unknown, &u);
}
