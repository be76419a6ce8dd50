/* sweep.c: see sweep.h. */
#include "sweep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define SWEEP_CHUNK 10000            /* elements looked at per meta write txn */
#define SWEEP_MAX_INTERVAL (3600ull * 1000000000ull)

uint64_t sweep_cutoff(uint64_t now_ns, uint64_t retention_ns)
{
	return retention_ns && now_ns > retention_ns ? now_ns - retention_ns : 0;
}

uint64_t sweep_load_cutoff(uint64_t now_ns, uint64_t retention_ns)
{
	return sweep_cutoff(now_ns, retention_ns - retention_ns / 100);
}

uint64_t sweep_interval(uint64_t retention_ns)
{
	uint64_t i = retention_ns / 4;

	return i < SWEEP_MAX_INTERVAL ? i : SWEEP_MAX_INTERVAL;
}

/* Where the next chunk of a DBI starts: the element it stopped before. */
struct sweep_pos {
	int started, done;
	size_t klen, vlen;
	uint8_t k[1024], v[1024];
};

static int save_pos(struct sweep_pos *p, const MDB_val *k, const MDB_val *v, int dupsort)
{
	if (k->mv_size > sizeof(p->k) || (dupsort && v->mv_size > sizeof(p->v)))
		return E2BIG; /* LMDB's keys and dup values are far smaller */
	p->klen = k->mv_size;
	memcpy(p->k, k->mv_data, k->mv_size);
	p->vlen = dupsort ? v->mv_size : 0;
	if (dupsort)
		memcpy(p->v, v->mv_data, v->mv_size);
	return 0;
}

static int goto_pos(MDB_cursor *cur, int dupsort, const struct sweep_pos *p, MDB_val *k,
		    MDB_val *v)
{
	int rc;

	if (!p->started)
		return mdb_cursor_get(cur, k, v, MDB_FIRST);
	*k = (MDB_val){ p->klen, (void *)p->k };
	if (!dupsort)
		return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	*v = (MDB_val){ p->vlen, (void *)p->v };
	rc = mdb_cursor_get(cur, k, v, MDB_GET_BOTH_RANGE);
	if (rc != MDB_NOTFOUND)
		return rc;
	/* No value at or after it left under that key: the next key. */
	*k = (MDB_val){ p->klen, (void *)p->k };
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (!rc && k->mv_size == p->klen && !memcmp(k->mv_data, p->k, p->klen))
		rc = mdb_cursor_get(cur, k, v, MDB_NEXT_NODUP);
	return rc;
}

/* Is the element in the changed set (a local change not exported yet)? */
static int pending(MDB_txn *txn, const struct meta_handles *h, const MDB_val *key,
		   const MDB_val *val, int *yes)
{
	MDB_val k = *key, v = { 0, NULL };
	MDB_cursor *c;
	int rc;

	if (!h->dupsort) {
		rc = mdb_get(txn, h->changed, &k, &v);
	} else {
		v = *val;
		rc = mdb_cursor_open(txn, h->changed, &c);
		if (rc)
			return rc;
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH);
		mdb_cursor_close(c);
	}
	*yes = rc == 0;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One meta write txn's worth of one DBI, from p on. */
static int sweep_chunk(struct senv *s, const char *name, size_t len, uint64_t cutoff,
		       struct sweep_pos *p, uint64_t *swept, uint64_t *held)
{
	struct meta_handles h;
	struct meta_dbi d;
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	uint64_t n = 0, kept = 0;
	unsigned seen = 0;
	/* Cutoff 0 only counts: no write txn. */
	int rc = mdb_txn_begin(meta_env(s->meta), NULL, cutoff ? 0 : MDB_RDONLY, &txn);

	if (rc)
		return rc;
	rc = meta_dbi_open(txn, s->meta, name, len, 0, 0, &h);
	if (!rc)
		rc = meta_dbi_get(txn, s->meta, name, len, &d);
	if (!rc)
		rc = mdb_cursor_open(txn, h.dupsort ? h.vals : h.elems, &cur);
	if (!rc)
		rc = goto_pos(cur, h.dupsort, p, &k, &v);
	p->started = 1;
	while (!rc) {
		const MDB_val *dv = h.dupsort ? &v : NULL;
		struct meta_elem e;
		int wait = 0;

		if (seen++ == SWEEP_CHUNK) {
			rc = save_pos(p, &k, &v, h.dupsort);
			break;
		}
		rc = meta_elem_get(txn, &h, &k, dv, &e);
		if (rc == MDB_NOTFOUND) {
			rc = 0; /* a mirror entry without metadata: not ours to judge */
		} else if (!rc && (e.flags & META_DELETED) && e.ts < cutoff &&
			   !(rc = pending(txn, &h, &k, dv, &wait)) && !wait) {
			rc = meta_elem_forget(cur, &h, &d, &k, dv, &e);
			n += !rc;
		} else if (!rc && (e.flags & META_DELETED)) {
			kept++;
		}
		if (!rc)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND) {
		p->done = 1;
		rc = 0;
	}
	if (cur)
		mdb_cursor_close(cur);
	if (!rc && n)
		rc = meta_dbi_put(txn, s->meta, name, len, &d);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (!rc) {
		*swept += n;
		*held += kept;
	}
	return rc;
}

/* The DBIs with elements, by name (len 0: the unnamed one). */
struct names {
	struct name {
		char *p;
		size_t len;
	} *v;
	size_t n;
};

static int add_name(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	struct names *ns = ctx;
	struct name *v;

	if (d->count == 0)
		return 0; /* nothing to sweep */
	v = realloc(ns->v, (ns->n + 1) * sizeof(*v));
	if (!v)
		return ENOMEM;
	ns->v = v;
	v[ns->n].len = len;
	if (!(v[ns->n].p = malloc(len ? len : 1)))
		return ENOMEM;
	memcpy(v[ns->n++].p, name, len);
	return 0;
}

int sweep_env(struct senv *s, uint64_t cutoff, uint64_t *swept, uint64_t *held)
{
	struct names ns = { NULL, 0 };
	struct sweep_pos *p;
	MDB_txn *txn;
	int rc;

	*swept = *held = 0;
	if (!(p = malloc(sizeof(*p))))
		return ENOMEM;
	rc = mdb_txn_begin(meta_env(s->meta), NULL, MDB_RDONLY, &txn);
	if (!rc) {
		rc = meta_dbi_each(txn, s->meta, add_name, &ns);
		mdb_txn_abort(txn);
	}
	for (size_t i = 0; !rc && i < ns.n; i++) {
		memset(p, 0, sizeof(*p));
		while (!rc && !p->done)
			rc = sweep_chunk(s, ns.v[i].p, ns.v[i].len, cutoff, p, swept, held);
	}
	for (size_t i = 0; i < ns.n; i++)
		free(ns.v[i].p);
	free(ns.v);
	free(p);
	return rc;
}
