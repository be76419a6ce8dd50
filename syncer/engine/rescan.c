/* rescan.c: see rescan.h. */
#include "rescan.h"

#include <string.h>

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "progress.h"

/* Where a chunked scan stands: the last element done. */
struct pos {
	uint8_t key[META_POS_MAX], val[META_POS_MAX];
	size_t klen, vlen;
};

static int pos_set(struct pos *p, const MDB_val *k, const MDB_val *v, int dup)
{
	if (k->mv_size > sizeof(p->key) || (dup && v->mv_size > sizeof(p->val)))
		return MDB_BAD_VALSIZE; /* not an LMDB key or dup value */
	memcpy(p->key, k->mv_data, k->mv_size);
	p->klen = k->mv_size;
	p->vlen = dup ? v->mv_size : 0;
	if (dup)
		memcpy(p->val, v->mv_data, v->mv_size);
	return 0;
}

/* Whether a scan in one txn over n elements (the metadata's count, known
 * before it begins) is longer than ds->scan_max allows (rescan.h). */
static int too_long(const struct dset *ds, uint64_t n)
{
	return !ds->chunk && ds->scan_max && n > ds->scan_max;
}

/* Put cur on the first element after p in its DBI's order (a new txn's
 * cursor, after elem_set_renew): k, v get it. MDB_NOTFOUND: none. */
static int seek_after(MDB_cursor *cur, int dup, const struct pos *p, MDB_val *k, MDB_val *v)
{
	MDB_txn *txn = mdb_cursor_txn(cur);
	MDB_dbi dbi = mdb_cursor_dbi(cur);
	MDB_val key = { p->klen, (void *)p->key }, val = { p->vlen, (void *)p->val };
	int rc;

	*k = key;
	if (dup) {
		*v = val;
		rc = mdb_cursor_get(cur, k, v, MDB_GET_BOTH_RANGE);
		if (rc == 0 && mdb_dcmp(txn, dbi, v, &val) == 0)
			rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
		if (rc != MDB_NOTFOUND)
			return rc;
		*k = key; /* no value of the key at or after it: the next key */
	}
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (rc == 0 && mdb_cmp(txn, dbi, k, &key) == 0)
		rc = mdb_cursor_get(cur, k, v, dup ? MDB_NEXT_NODUP : MDB_NEXT);
	return rc;
}

/* Every element of the host's DBI c, from the one after *at (NULL: the
 * first); *at follows where the scan is, for an adoption to save. */
static int host_pass(struct dset *ds, struct dctx *c, uint64_t ts, unsigned how,
		     uint64_t *stamped, struct pos *at, int resume)
{
	struct pos here;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(ds->host, c->host, &cur);

	if (rc)
		return rc;
	if (!at)
		at = &here;
	rc = resume ? seek_after(cur, c->h.dupsort, at, &k, &v) :
		      mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		progress_tick();
		if (c->len == 0 && senv_is_dbi_record(ds->s, ds->host, &k, &v)) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		/* The host may hold more than the metadata knows (what an
		 * unseen writer added): counted as read. */
		if (!ds->chunk && ds->scan_max && ++ds->scanned > ds->scan_max) {
			rc = RESCAN_TOO_LONG;
			break;
		}
		rc = elem_stamp_seen(ds, c, &k, &v, ts, how | STAMP_IF_CHANGED, stamped);
		if (rc)
			break;
		if (elem_chunk_due(ds)) {
			rc = pos_set(at, &k, &v, c->h.dupsort);
			mdb_cursor_close(cur);
			cur = NULL;
			if (!rc)
				rc = elem_set_renew(ds);
			if (!rc)
				rc = mdb_cursor_open(ds->host, c->host, &cur);
			if (!rc)
				rc = seek_after(cur, c->h.dupsort, at, &k, &v);
			continue;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur)
		mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int rescan_deleted(struct dset *ds, struct dctx *c, uint64_t ts, unsigned how,
		   uint64_t *stamped)
{
	MDB_dbi dbi = c->h.dupsort ? c->h.vals : c->h.elems;
	struct pos at;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (too_long(ds, c->d.count))
		return RESCAN_TOO_LONG;
	rc = mdb_cursor_open(ds->mt, dbi, &cur);
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		rc = elem_stamp(ds, c, &k, c->h.dupsort ? &v : NULL, ts,
			   how | STAMP_IF_CHANGED | STAMP_ONLY_DELETED, stamped);
		if (rc)
			break;
		if (elem_chunk_due(ds)) {
			rc = pos_set(&at, &k, &v, c->h.dupsort);
			mdb_cursor_close(cur);
			cur = NULL;
			if (!rc)
				rc = elem_set_renew(ds);
			if (!rc)
				rc = mdb_cursor_open(ds->mt, dbi, &cur);
			if (!rc)
				rc = seek_after(cur, c->h.dupsort, &at, &k, &v);
			continue;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur)
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
	if (!rc && too_long(ds, c->d.count))
		rc = RESCAN_TOO_LONG;
	if (!rc && c->host_exists)
		rc = host_pass(ds, c, ts, how, stamped, NULL, 0);
	if (!rc)
		rc = rescan_deleted(ds, c, ts, how, stamped);
	if (!rc && !c->host_exists && c->d.exists) {
		c->d.exists = 0;
		c->dirty = 1;
	}
	return rc;
}

/* DBI names, copied: a chunked scan ends the txns the lists come from. */
struct names {
	char **v;
	size_t *len, n;
	int err;
};

static int add_name(struct names *l, const char *name, size_t len)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	size_t *nl;

	if (nv)
		l->v = nv;
	nl = nv ? realloc(l->len, (l->n + 1) * sizeof(*nl)) : NULL;
	if (!nl)
		return ENOMEM;
	l->len = nl;
	l->v[l->n] = malloc(len + 1);
	if (!l->v[l->n])
		return ENOMEM;
	if (len)
		memcpy(l->v[l->n], name, len);
	l->v[l->n][len] = 0;
	l->len[l->n++] = len;
	return 0;
}

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

static int host_name(void *ctx, const char *name, size_t len)
{
	return add_name(ctx, name, len);
}

static int meta_name(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	return d->exists ? add_name(ctx, name, len) : 0; /* else its tombstones are in place */
}

static int count_host(void *ctx, const char *name, size_t len)
{
	void **e = ctx;
	struct dset *ds = e[0];
	MDB_stat st;
	MDB_dbi dbi;

	if (senv_selected(ds->s, name, len) &&
	    senv_host_dbi(ds->s, ds->host, name, len, 0, &dbi) == 0 &&
	    mdb_stat(ds->host, dbi, &st) == 0)
		*(uint64_t *)e[1] += st.ms_entries;
	return 0;
}

static uint64_t host_elems(struct dset *ds)
{
	uint64_t total = 0;
	void *e[2] = { ds, &total };

	senv_each_host_dbi(ds->s, ds->host, count_host, e);
	return total;
}

static int count_meta(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	(void)name;
	(void)len;
	*(uint64_t *)ctx += d->count;
	return 0;
}

int rescan_all(struct dset *ds, uint64_t ts, unsigned how, uint64_t *stamped)
{
	struct names hn = { 0 }, mn = { 0 };
	uint64_t known = 0;
	MDB_dbi dbi;
	int rc;

	/* Before listing the host's DBIs, which walks its unnamed DBI. */
	if (!ds->chunk && ds->scan_max) {
		rc = meta_dbi_each(ds->mt, ds->s->meta, count_meta, &known);
		if (rc)
			return rc;
		if (too_long(ds, known))
			return RESCAN_TOO_LONG;
	}
	progress_start(ts ? "rescan" : "adopting", host_elems(ds));
	rc = senv_each_host_dbi(ds->s, ds->host, host_name, &hn);
	if (!rc)
		rc = meta_dbi_each(ds->mt, ds->s->meta, meta_name, &mn);
	for (size_t i = 0; !rc && i < hn.n; i++)
		rc = rescan_dbi(ds, hn.v[i], hn.len[i], ts, how, stamped);
	/* The DBIs only the metadata still knows: deleted from the host. */
	for (size_t i = 0; !rc && i < mn.n; i++)
		if (senv_host_dbi(ds->s, ds->host, mn.v[i], mn.len[i], 0, &dbi) != 0)
			rc = rescan_dbi(ds, mn.v[i], mn.len[i], ts, how, stamped);
	progress_end();
	names_free(&hn);
	names_free(&mn);
	return rc;
}

/* An adoption's chunk ends: its position goes into the same meta txn. */
struct adopt_ctx {
	struct meta_adopt *a;
	struct pos at;            /* in the DBI named below */
	char *name;
	size_t len;
};

static int save_adopt(struct dset *ds, void *ctx)
{
	struct adopt_ctx *x = ctx;
	struct meta_adopt *a = x->a;

	a->at = 1;
	a->name_len = (uint32_t)x->len;
	memcpy(a->name, x->name, x->len);
	a->key_len = (uint32_t)x->at.klen;
	memcpy(a->key, x->at.key, x->at.klen);
	a->val_len = (uint32_t)x->at.vlen;
	memcpy(a->val, x->at.val, x->at.vlen);
	a->chunks++;
	a->done += ds->chunk_done;
	/* What this chunk read: a file found holding another txn under this
	 * id when the adoption resumes is another file (sync.c). */
	if (senv_meta_fp(ds->s, mdb_txn_id(ds->host), a->fp) == 0)
		a->fp_txnid = mdb_txn_id(ds->host);
	log_msg(MDBTAP_LOG_DEBUG, "%s: adopting: %llu elements done (%llu chunks)", ds->s->path,
		(unsigned long long)a->done, (unsigned long long)a->chunks);
	return meta_adopt_put(ds->mt, ds->s->meta, a);
}

int rescan_adopt(struct dset *ds, struct meta_adopt *a, uint64_t *stamped)
{
	struct adopt_ctx x = { .a = a };
	struct names hn = { 0 };
	int rc, seeking = a->at;

	ds->before_commit = save_adopt;
	ds->hook_ctx = &x;
	progress_start("adopting", host_elems(ds));
	rc = senv_each_host_dbi(ds->s, ds->host, host_name, &hn);
	for (int pass = 0; !rc && pass < 2; pass++) {
		for (size_t i = 0; !rc && i < hn.n; i++) {
			struct dctx *c;
			int resume = 0;

			if (seeking) {
				if (hn.len[i] != a->name_len ||
				    memcmp(hn.v[i], a->name, hn.len[i]))
					continue; /* adopted before */
				seeking = 0;
				resume = 1;
				memcpy(x.at.key, a->key, a->key_len);
				x.at.klen = a->key_len;
				memcpy(x.at.val, a->val, a->val_len);
				x.at.vlen = a->val_len;
			}
			rc = elem_set_get(ds, hn.v[i], hn.len[i], 0, &c);
			if (rc == MDB_NOTFOUND) {
				rc = 0;
				continue;
			}
			x.name = hn.v[i];
			x.len = hn.len[i];
			if (!rc && c->host_exists)
				rc = host_pass(ds, c, 0, STAMP_FRESH, stamped, &x.at, resume);
		}
		if (!seeking)
			break;
		/* The DBI it stopped in is gone: go over them all again
		 * (what is adopted already is skipped, as folded). */
		seeking = 0;
	}
	a->done += ds->in_chunk;
	progress_end();
	names_free(&hn);
	ds->before_commit = NULL;
	ds->hook_ctx = NULL;
	return rc;
}
int rescan_unknown(struct dset *ds, uint64_t *stamped, uint64_t *adopted)
{
	struct names hn = { 0 };
	struct meta_dbi d;
	int rc = senv_each_host_dbi(ds->s, ds->host, host_name, &hn);

	for (size_t i = 0; !rc && i < hn.n; i++) {
		if (!senv_selected(ds->s, hn.v[i], hn.len[i]))
			continue;
		rc = meta_dbi_get(ds->mt, ds->s->meta, hn.v[i], hn.len[i], &d);
		if (rc != MDB_NOTFOUND)
			continue;
		(*adopted)++;
		rc = rescan_dbi(ds, hn.v[i], hn.len[i], 0, STAMP_MARK, stamped);
	}
	names_free(&hn);
	return rc;
}
