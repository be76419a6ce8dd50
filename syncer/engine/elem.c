/* elem.c: see elem.h. */
#include "elem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "journal.h"
#include "log.h"
#include "out.h"

void elem_set_init(struct dset *ds, struct senv *s, MDB_txn *host, MDB_txn *mt)
{
	memset(ds, 0, sizeof(*ds));
	ds->s = s;
	ds->host = host;
	ds->mt = mt;
}

static struct dctx *find(struct dset *ds, const char *name, size_t len)
{
	for (size_t i = 0; i < ds->n; i++)
		if (ds->v[i].len == len && (!len || !memcmp(ds->v[i].name, name, len)))
			return &ds->v[i];
	return NULL;
}

/* A DBI the metadata does not know while it knows META_DBI_LIMIT: kept
 * in ds as skipped (over), and -1 returned; 0 for a DBI to sync, or an
 * error. Those known stay synced, whatever order they are met in. */
static int over_limit(struct dset *ds, const char *name, size_t len)
{
	struct meta_dbi d;
	struct dctx *nv;
	uint64_t n;
	int rc = meta_dbi_get(ds->mt, ds->s->meta, name, len, &d);

	if (rc != MDB_NOTFOUND)
		return rc;
	if ((rc = meta_dbi_count(ds->mt, ds->s->meta, &n)) != 0)
		return rc;
	if (n < META_DBI_LIMIT)
		return 0;
	nv = realloc(ds->v, (ds->n + 1) * sizeof(*nv));
	if (!nv)
		return ENOMEM;
	ds->v = nv;
	memset(&nv[ds->n], 0, sizeof(*nv));
	if (len && !(nv[ds->n].name = malloc(len)))
		return ENOMEM;
	if (len)
		memcpy(nv[ds->n].name, name, len);
	nv[ds->n].len = len;
	nv[ds->n].over = 1;
	ds->n++;
	return -1;
}

int elem_set_get(struct dset *ds, const char *name, size_t len, unsigned create_flags,
	     struct dctx **out)
{
	struct dctx *c = find(ds, name, len), *nv;
	char shown[200]; /* the name in a log line: it may be a remote's */
	struct meta_dbi old;
	unsigned hflags = 0;
	int rc, fresh = !c, dropped = 0;

	if (c && c->over)
		return MDB_NOTFOUND;
	if (c && (c->host_exists || !create_flags)) {
		*out = c;
		return 0;
	}
	if (!senv_selected(ds->s, name, len))
		return MDB_NOTFOUND;
	if (!c && (rc = over_limit(ds, name, len)) != 0)
		return rc < 0 ? MDB_NOTFOUND : rc;
	if (!c) {
		nv = realloc(ds->v, (ds->n + 1) * sizeof(*nv));
		if (!nv)
			return ENOMEM;
		ds->v = nv;
		c = &ds->v[ds->n];
		memset(c, 0, sizeof(*c));
		if (len && !(c->name = malloc(len)))
			return ENOMEM;
		if (len)
			memcpy(c->name, name, len);
		c->len = len;
		ds->n++;
	}
	rc = senv_host_dbi(ds->s, ds->host, name, len, 0, &c->host);
	if (rc == MDB_NOTFOUND && create_flags) {
		rc = senv_host_dbi(ds->s, ds->host, name, len, create_flags, &c->host);
		c->created = rc == 0;
	}
	if (rc == 0) {
		c->host_exists = 1;
		rc = mdb_dbi_flags(ds->host, c->host, &hflags);
	} else if (rc == MDB_NOTFOUND) {
		rc = 0;
	}
	if (rc)
		goto fail;
	c->flags = hflags;
	if (c->host_exists) {
		rc = meta_dbi_reshaped(ds->mt, ds->s->meta, name, len, hflags, &dropped, &old);
		if (rc)
			goto fail;
		if (dropped)
			log_msg(MDBTAP_LOG_WARN, "%s: DBI '%s' was re-created with other flags: "
				"its old metadata is dropped and it syncs with its new flags",
				ds->s->path, len ? out_escape(shown, sizeof(shown), name, len) : "-");
	}
	/* A DBI the host lacks but the meta knows (deleted, or not created
	 * here yet) keeps its recorded flags. */
	rc = meta_dbi_open(ds->mt, ds->s->meta, name, len, hflags, c->host_exists, &c->h);
	if (rc)
		goto fail;
	rc = meta_dbi_get(ds->mt, ds->s->meta, name, len, &c->d);
	if (rc)
		goto fail;
	if (dropped) {
		/* A new shape: it begins after the one it replaces, at the
		 * record that showed it or now (docs/DESIGN.md §22). */
		uint64_t t = ds->rec_ts ? ds->rec_ts : journal_clock_next(ds->s->jnl);

		c->d.epoch = t > old.epoch ? t : old.epoch + 1;
		c->d.prev_epoch = old.epoch;
		/* Now: an export's contexts are never written back. */
		rc = meta_dbi_put(ds->mt, ds->s->meta, name, len, &c->d);
		if (rc)
			goto fail;
	}
	if (!c->host_exists)
		c->flags = c->d.flags;
	else if (!c->d.exists) {
		c->d.exists = 1;
		c->dirty = 1;
	}
	*out = c;
	return 0;
fail:
	/* MDB_INCOMPATIBLE on creating: the name is a plain key of the
	 * unnamed DBI here; the merge refuses such elements and says so. */
	if (rc != MDB_NOTFOUND && !(rc == MDB_INCOMPATIBLE && create_flags))
		log_msg(MDBTAP_LOG_ERROR, "%s: DBI '%s': %s", ds->s->path,
			len ? out_escape(shown, sizeof(shown), name, len) : "-", err_str(rc));
	if (fresh) {
		free(c->name);
		ds->n--;
	}
	return rc;
}

int elem_set_reset(struct dset *ds, const char *name, size_t len, unsigned create_flags,
		   uint64_t epoch, uint64_t prev_epoch, struct dctx **out)
{
	struct dctx *c = find(ds, name, len);
	MDB_dbi dbi;
	unsigned f;
	int rc;

	if (c) { /* its handles go with what is dropped below */
		free(c->name);
		*c = ds->v[--ds->n];
	}
	rc = senv_host_dbi(ds->s, ds->host, name, len, 0, &dbi);
	if (rc == 0) {
		rc = mdb_dbi_flags(ds->host, dbi, &f);
		/* Other flags need a new DBI: LMDB keeps a DBI's flags. */
		if (!rc)
			rc = mdb_drop(ds->host, dbi, meta_flags_differ(f, create_flags));
		if (!rc && meta_flags_differ(f, create_flags))
			senv_forget_dbis(ds->s); /* the handle is closed */
	} else if (rc == MDB_NOTFOUND) {
		rc = 0;
	}
	if (!rc)
		rc = meta_dbi_forget(ds->mt, ds->s->meta, name, len);
	if (!rc)
		rc = elem_set_get(ds, name, len, create_flags, out);
	if (rc)
		return rc;
	(*out)->created = 1; /* the host changed: the txn takes an id */
	(*out)->d.epoch = epoch;
	(*out)->d.prev_epoch = prev_epoch;
	(*out)->dirty = 1;
	return 0;
}

int elem_set_flush(struct dset *ds, int err)
{
	uint64_t over = 0;
	const struct dctx *first = NULL;
	int rc = 0;

	for (size_t i = 0; i < ds->n; i++)
		if (ds->v[i].over && !over++)
			first = &ds->v[i];
	/* Said as an error once a run per new high, not every cycle. */
	if (over > ds->s->stats.dbis_over_limit) {
		ds->s->stats.dbis_over_limit = over;
		log_msg(MDBTAP_LOG_ERROR, "%s: %llu DBI(s) are not synced, such as '%.*s%s': an env "
			"syncs at most %d DBIs (the first ones it saw)", ds->s->path,
			(unsigned long long)over, (int)(first->len > 64 ? 64 : first->len),
			first->len ? first->name : "-", first->len > 64 ? "..." : "",
			META_DBI_LIMIT);
	}
	for (size_t i = 0; i < ds->n; i++) {
		struct dctx *c = &ds->v[i];

		if (!err && !rc && c->dirty)
			rc = meta_dbi_put(ds->mt, ds->s->meta, c->name, c->len, &c->d);
		free(c->name);
	}
	free(ds->v);
	ds->v = NULL;
	ds->n = 0;
	return rc;
}

int elem_host_get(struct dset *ds, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
		  MDB_val *val, int *live)
{
	MDB_cursor *cur;
	MDB_val k = *key, v;
	int rc;

	*live = 0;
	if (!c->host_exists)
		return 0;
	if (!c->h.dupsort) {
		rc = mdb_get(ds->host, c->host, &k, &v);
		if (rc == 0 && c->len == 0 && senv_is_dbi_record(ds->s, ds->host, &k, &v))
			return 0; /* a DBI's record in the unnamed DBI is not data */
		if (rc == 0 && val)
			*val = v;
	} else {
		v = *dupval;
		rc = mdb_cursor_open(ds->host, c->host, &cur);
		if (rc)
			return rc;
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH);
		mdb_cursor_close(cur);
	}
	*live = rc == 0;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* elem_stamp, the host's side known: live, and v its value (plain DBI)
 * or NULL to read it. */
static int stamp(struct dset *ds, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
		 const MDB_val *seen, uint64_t ts, unsigned how, uint64_t *stamped)
{
	struct meta_elem old, e = { 0 };
	MDB_val v = { 0, NULL };
	int rc, have, live = 1;

	if (c->h.dupsort && !dupval)
		return EINVAL;
	if (seen && (how & STAMP_FRESH) && !c->h.dupsort && !(how & STAMP_MARK)) {
		e.ts = ts;
		meta_hash(seen->mv_data, seen->mv_size, e.hash);
		rc = meta_elem_append(ds->mt, &c->h, &c->d, key, &e);
		if (rc != MDB_KEYEXIST) {
			if (!rc) {
				c->dirty = 1;
				if (stamped)
					(*stamped)++;
			}
			return rc;
		}
		memset(&e, 0, sizeof(e)); /* known already: the usual way */
	}
	rc = meta_elem_get(ds->mt, &c->h, key, dupval, &old);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	have = rc == 0;
	if (have && old.ts > ts)
		return 0; /* a newer write is recorded already */
	if (seen && !c->h.dupsort)
		v = *seen;
	else if (!seen && (rc = elem_host_get(ds, c, key, dupval, &v, &live)) != 0)
		return rc;
	if (!live && !have && (how & STAMP_IF_CHANGED))
		return 0;
	if (live && (how & STAMP_ONLY_DELETED))
		return 0;
	e.ts = ts;
	e.flags = live ? 0 : META_DELETED;
	if (live && !c->h.dupsort)
		meta_hash(v.mv_data, v.mv_size, e.hash);
	if (have && (how & STAMP_IF_CHANGED) && old.flags == e.flags &&
	    !memcmp(old.hash, e.hash, sizeof(e.hash)))
		return 0;
	if (have && old.ts == ts && old.flags == e.flags && !memcmp(old.hash, e.hash, 16))
		return 0; /* folded already */
	rc = meta_elem_put(ds->mt, &c->h, &c->d, key, dupval, have ? &old : NULL, &e,
			   !!(how & STAMP_MARK));
	if (rc)
		return rc;
	ds->writes++;
	c->dirty = 1;
	if (stamped)
		(*stamped)++;
	return 0;
}

int elem_stamp(struct dset *ds, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
	  uint64_t ts, unsigned how, uint64_t *stamped)
{
	return stamp(ds, c, key, dupval, NULL, ts, how, stamped);
}

int elem_stamp_seen(struct dset *ds, struct dctx *c, const MDB_val *key, const MDB_val *val,
		    uint64_t ts, unsigned how, uint64_t *stamped)
{
	return stamp(ds, c, key, c->h.dupsort ? val : NULL, val, ts, how, stamped);
}

unsigned elem_scan_chunk(void)
{
	const char *v = getenv("MDBTAP_TEST_SCAN_CHUNK");
	char *end;
	unsigned long n;

	if (!v || !*v)
		return ELEM_SCAN_CHUNK;
	n = strtoul(v, &end, 10);
	return *end || n > (1ul << 30) ? ELEM_SCAN_CHUNK : (unsigned)n;
}

/* MDBTAP_TEST_CHUNK_DELAY_MS: a pause after each chunk's commit, so that
 * tests can kill a syncer between chunks of a small env. */
static void chunk_delay(void)
{
	const char *v = getenv("MDBTAP_TEST_CHUNK_DELAY_MS");
	unsigned long ms = v ? strtoul(v, NULL, 10) : 0;
	struct timespec t = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	if (ms && ms < 10000)
		nanosleep(&t, NULL);
}

int elem_chunk_due(struct dset *ds)
{
	++ds->in_chunk;
	if (!ds->chunk || (ds->in_chunk < ds->chunk && ds->writes < ELEM_CHUNK_WRITES))
		return 0;
	ds->chunk_done = ds->in_chunk;
	ds->in_chunk = 0;
	ds->writes = 0;
	return 1;
}

int elem_set_renew(struct dset *ds)
{
	MDB_txn *t = NULL;
	int rc = 0;

	for (size_t i = 0; i < ds->n && !rc; i++) {
		struct dctx *c = &ds->v[i];

		if (c->dirty)
			rc = meta_dbi_put(ds->mt, ds->s->meta, c->name, c->len, &c->d);
		c->dirty = 0; /* written: the next chunk's txn has it */
	}
	if (!rc && ds->before_commit)
		rc = ds->before_commit(ds, ds->hook_ctx);
	if (rc)
		return rc;
	/* The metadata first: the host's new snapshot may only add changes
	 * that the fold or a rescan stamps later (docs/DESIGN.md §16). */
	rc = mdb_txn_commit(ds->mt);
	ds->mt = NULL;
	if (rc)
		return rc;
	ds->chunks++;
	chunk_delay();
	rc = mdb_txn_begin(meta_env(ds->s->meta), NULL, 0, &t);
	if (rc)
		return rc;
	ds->mt = t;
	/* As a chunked full snapshot does (export.c): a read txn keeps the
	 * DBI handles it opened; a MDB_NOLOCK host gets its lock back. */
	mdb_txn_commit(ds->host);
	ds->host = NULL;
	senv_unlock(ds->s);
	rc = senv_lock(ds->s, 0);
	if (rc)
		return rc;
	t = NULL;
	rc = mdb_txn_begin(ds->s->host, NULL, MDB_RDONLY, &t);
	if (rc == MDB_MAP_RESIZED && !(rc = mdb_env_set_mapsize(ds->s->host, 0)))
		rc = mdb_txn_begin(ds->s->host, NULL, MDB_RDONLY, &t);
	if (rc)
		return rc;
	ds->host = t;
	return 0;
}

int elem_each(struct dset *ds, struct dctx *c, int changed_only, elem_fn fn, void *ctx)
{
	MDB_dbi dbi = changed_only ? c->h.changed : c->h.dupsort ? c->h.vals : c->h.elems;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(ds->mt, dbi, &cur);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const MDB_val *dv = c->h.dupsort ? &v : NULL;
		struct meta_elem e;

		rc = meta_elem_get(ds->mt, &c->h, &k, dv, &e);
		if (rc == MDB_NOTFOUND)
			continue; /* a changed-set entry without metadata: nothing to say */
		if (!rc)
			rc = fn(ctx, c, &k, dv, &e);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}
