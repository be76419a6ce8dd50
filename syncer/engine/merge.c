/* merge.c: see merge.h. */
#include "merge.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elem.h"
#include "fold.h"
#include "hlc.h"
#include "log.h"
#include "out.h"
#include "snap.h"

/* Persistent DBI flags a remote may ask a DBI to be created with. */
#define MERGE_DBI_FLAGS (MDB_REVERSEKEY | MDB_DUPSORT | MDB_INTEGERKEY | MDB_DUPFIXED | \
			 MDB_INTEGERDUP | MDB_REVERSEDUP)

int merge_remote_wins(const struct merge_side *local, const struct merge_side *remote)
{
	size_t ll, rl, n;
	int c;

	if (!local->exists || remote->ts > local->ts)
		return 1;
	if (remote->ts < local->ts)
		return 0;
	ll = local->deleted ? 0 : local->vlen;
	rl = remote->deleted ? 0 : remote->vlen;
	n = ll < rl ? ll : rl;
	c = n ? memcmp(remote->val, local->val, n) : 0;
	if (c == 0)
		c = rl < ll ? -1 : rl > ll ? 1 : 0;
	/* The same bytes (a tombstone and a live empty value): the tombstone
	 * wins on both sides, so that every pair has one winner everywhere
	 * (docs/DESIGN.md §14; Lightning Stream keeps the local one). */
	if (c == 0)
		return remote->deleted && !local->deleted;
	return c < 0;
}

static int rewind_fd(int fd)
{
	return lseek(fd, 0, SEEK_SET) == 0 ? 0 : errno;
}

static int check_dbi(const struct snap_dbi *d, char *err, size_t errlen)
{
	int dupsort = !!(d->flags & MDB_DUPSORT);

	if (d->name_len && memchr(d->name, 0, d->name_len)) {
		snprintf(err, errlen, "a DBI name holds a NUL byte");
		return EINVAL;
	}
	if (d->flags & ~(uint64_t)MERGE_DBI_FLAGS) {
		snprintf(err, errlen, "DBI flags 0x%llx are not persistent LMDB flags",
			 (unsigned long long)d->flags);
		return EINVAL;
	}
	if (dupsort != (d->transform && !strcmp(d->transform, SNAP_TRANSFORM_DUPSORT)) ||
	    (!dupsort && d->transform && d->transform[0])) {
		snprintf(err, errlen, "DBI transform '%s' does not match its flags 0x%llx",
			 d->transform ? d->transform : "", (unsigned long long)d->flags);
		return EINVAL;
	}
	return 0;
}

static int check_kv(const struct snap_dbi *d, const struct snap_kv *kv, size_t maxkey,
		    char *err, size_t errlen)
{
	if (!kv->klen || kv->klen > maxkey) {
		snprintf(err, errlen, "a key of %zu bytes", kv->klen);
		return EINVAL;
	}
	if ((d->flags & MDB_INTEGERKEY) && kv->klen != 4 && kv->klen != 8) {
		snprintf(err, errlen, "an INTEGERKEY key of %zu bytes", kv->klen);
		return EINVAL;
	}
	if ((d->flags & MDB_DUPSORT) && kv->vlen > maxkey) {
		snprintf(err, errlen, "a DUPSORT value of %zu bytes", kv->vlen);
		return EINVAL;
	}
	return 0;
}

int merge_verify(struct senv *s, int fd, char *err, size_t errlen)
{
	size_t maxkey = (size_t)mdb_env_get_maxkeysize(s->host);
	struct snap_reader *r = NULL;
	struct snap_event ev;
	struct snap_dbi cur = { 0 };
	char tf[64] = "";
	int rc = rewind_fd(fd), in_dbi = 0;

	err[0] = 0;
	if (!rc)
		rc = snap_reader_new(&r, snap_read_fd_source, &fd);
	while (!rc && (rc = snap_reader_next(r, &ev)) == 0 && ev.type != SNAP_EV_END) {
		if (ev.type == SNAP_EV_DBI) {
			rc = check_dbi(&ev.dbi, err, errlen);
			cur = ev.dbi;
			snprintf(tf, sizeof(tf), "%s", ev.dbi.transform ? ev.dbi.transform : "");
			cur.transform = tf;
			cur.name = NULL; /* not kept past the event */
			in_dbi = 1;
		} else if (ev.type == SNAP_EV_KV) {
			if (!in_dbi) {
				snprintf(err, errlen, "an entry outside any DBI");
				rc = EINVAL;
			} else {
				rc = check_kv(&cur, &ev.kv, maxkey, err, errlen);
			}
		}
	}
	if (rc && !err[0])
		snprintf(err, errlen, "%s", err_str(rc));
	snap_reader_free(r);
	return rc;
}

/* One batch: a host write txn and a meta txn, the journal folded first. */
struct batch {
	struct senv *s;
	MDB_txn *w, *mt;
	struct dset ds;
	struct meta_state st;
	struct fold_result fr;
	uint64_t max_ts;
	size_t n;
	int wrote;
	uint64_t future;    /* elements of this object refused for max_future */
	uint64_t future_max; /* the newest of them */
	int own_past;       /* merge_args.own_past */
	uint64_t merged;    /* elements won in this batch: counted once committed */
	uint64_t won, lost; /* conflicts of this batch: counted once committed */
	int shape;          /* the current DBI message's shape: SHAPE_* */
	int mf_checked;     /* the current DBI message's refusals looked at
			       (misfit_recheck) */
	uint64_t misfits;   /* elements refused for the local DBI's flags in
			       this batch: counted once committed */
	uint64_t old_shape; /* elements of this object skipped: SHAPE_OLD */
};

/* What the elements of a DBI message are to the local DBI's shape
 * (shape_decide): not looked at yet, applied, or skipped as elements
 * of a shape this instance knows was dropped. */
enum { SHAPE_UNKNOWN, SHAPE_APPLY, SHAPE_OLD };

static void batch_abort(struct batch *b)
{
	elem_set_flush(&b->ds, 1);
	if (b->w) {
		mdb_txn_abort(b->w);
		senv_unlock(b->s);
		senv_forget_dbis(b->s); /* handles opened in it are gone */
	}
	if (b->mt)
		mdb_txn_abort(b->mt);
	b->w = b->mt = NULL;
}

/* Whether the data file's own meta pages hold an older txn than the one
 * the env's identity was last taken at: a copy written over it in place
 * since the last local step (docs/DESIGN.md §11). A merge must not write
 * on it: LMDB takes a write txn's id from the lock file, not the file,
 * so the merge's txn would continue the old ids, and its identity taken
 * at that txn (own_txn) would hide the copy from the local step for
 * good. The local step re-adopts it (sync.c, replaced). */
static int file_went_back(struct senv *s, const struct meta_state *st)
{
	uint64_t ftxn;

	return st->fp_txnid && !senv_file_txnid(s, &ftxn) && ftxn < st->fp_txnid;
}

static int batch_begin(struct batch *b)
{
	int rc = senv_lock(b->s, 1);

	if (rc) {
		log_msg(MDBTAP_LOG_WARN, "%s: the host's lock: %s", b->s->path, err_str(rc));
		return rc;
	}
	rc = mdb_txn_begin(b->s->host, NULL, 0, &b->w);
	if (rc == MDB_MAP_RESIZED) {
		/* The host grew its map: adopt its size, never a new one. */
		rc = mdb_env_set_mapsize(b->s->host, 0);
		if (!rc)
			rc = mdb_txn_begin(b->s->host, NULL, 0, &b->w);
	}
	if (rc) {
		b->w = NULL;
		senv_unlock(b->s);
		return rc;
	}
	rc = mdb_txn_begin(meta_env(b->s->meta), NULL, 0, &b->mt);
	if (rc) {
		b->mt = NULL;
		batch_abort(b);
		return rc;
	}
	elem_set_init(&b->ds, b->s, b->w, b->mt);
	b->n = 0;
	b->merged = 0;
	b->won = b->lost = 0;
	b->misfits = 0;
	b->wrote = 0;
	b->max_ts = 0;
	/* A rescan here holds the host's writer lock: past one chunk it is
	 * left to the local step, which reads in chunks (merge.h). */
	if (b->s->merge_defers < MERGE_DEFER_MAX)
		b->ds.scan_max = elem_scan_chunk();
	rc = meta_state_get(b->mt, b->s->meta, &b->st);
	if (!rc && file_went_back(b->s, &b->st)) {
		log_msg(MDBTAP_LOG_INFO, "%s: a merge deferred: the data file holds an older txn "
			"than the one accounted for (written over in place?), left to the local "
			"step", b->s->path);
		batch_abort(b);
		return MERGE_DEFERRED;
	}
	if (!rc)
		rc = fold_journal(&b->ds, &b->st, mdb_txn_id(b->w) - 1, 1, &b->fr);
	if (rc == RESCAN_TOO_LONG) {
		b->s->merge_defers++;
		b->s->stats.merges_deferred++;
		log_msg(MDBTAP_LOG_INFO, "%s: a merge deferred: its fold needs a rescan longer than "
			"%u elements, left to the local step (in chunks), not done under the host's "
			"writer lock", b->s->path, elem_scan_chunk());
		rc = MERGE_DEFERRED;
	} else if (!rc) {
		b->s->merge_defers = 0;
	}
	if (rc)
		batch_abort(b);
	return rc;
}

/* The merge's own txn id is accounted for, and the env's identity taken
 * at it: a restored copy of the file without it (a backup taken before
 * the merge) then shows its txn id gone back or another txn under that
 * id, instead of passing for this file while the metadata claims the
 * merged elements (DESIGN.md invariant 11). */
static void own_txn(struct senv *s, struct meta_state *st, uint64_t id)
{
	uint8_t fp[16];

	st->accounted = id;
	if (senv_meta_fp(s, id, fp) == 0) {
		st->fp_txnid = id;
		st->fp_kind = SENV_META_FP_KIND;
		memcpy(st->fp, fp, sizeof(fp));
	}
}

static int batch_commit(struct batch *b, const char *instance, const struct meta_remote *prog)
{
	struct journal_slot slot = { 0 };
	uint64_t id = b->w ? mdb_txn_id(b->w) : 0;
	int rc = elem_set_flush(&b->ds, 0);

	if (!rc && prog)
		rc = meta_remote_put(b->mt, b->s->meta, instance, prog);
	if (prog && b->own_past)
		b->st.last_full_ns = 0; /* a full snapshot is owed: made by the next
					 * local step, even after a restart */
	if (rc)
		goto fail;
	journal_clock_observe(b->s->jnl, b->max_ts);
	if (b->wrote) {
		/* Account for this txn id: the syncer's, not to be exported. */
		struct journal_append_in in = { .txnid = mdb_txn_id(b->w),
					    .ts = journal_clock_next(b->s->jnl),
					    .flags = MDBTAP_REC_SYNCER };

		if (journal_append(b->s->jnl, &in, &slot))
			log_msg(MDBTAP_LOG_WARN, "%s: journal full: the merge's txn has no record "
				"(its id is accounted for all the same)", b->s->path);
		rc = mdb_txn_commit(b->w);
		journal_finish(&slot, rc == 0);
	} else {
		/* Nothing written: LMDB ends it without a txn id, and a
		 * commit keeps the DBI handles opened in it. */
		rc = mdb_txn_commit(b->w);
	}
	b->w = NULL;
	senv_unlock(b->s);
	if (rc) {
		senv_forget_dbis(b->s);
		goto fail;
	}
	/* Only now merged: an aborted batch (a full map) merged nothing. */
	b->s->stats.elems_merged += b->merged;
	b->s->stats.conflicts_won += b->won;
	b->s->stats.conflicts_lost += b->lost;
	b->s->stats.elems_misfit += b->misfits;
	if (b->wrote && b->st.accounted + 1 == id)
		own_txn(b->s, &b->st, id);
	rc = meta_state_put(b->mt, b->s->meta, &b->st);
	if (!rc)
		rc = mdb_txn_commit(b->mt);
	else
		mdb_txn_abort(b->mt);
	b->mt = NULL;
	if (!rc)
		rc = mdb_env_sync(meta_env(b->s->meta), 1);
	if (!rc)
		journal_consume(b->s->jnl, b->fr.tail, b->st.accounted);
	return rc;
fail:
	batch_abort(b);
	return rc;
}

static int same_val(const MDB_val *a, const void *p, size_t n)
{
	return a->mv_size == n && (!n || !memcmp(a->mv_data, p, n));
}

/* LMDB holds an empty DUPSORT value only as its key's one value: a put
 * of another value drops it without a word, and a put of the empty value
 * beside others fails (MDB_BAD_VALSIZE, which would refuse the whole
 * object). Either would leave the host and the metadata apart. */
static const char *empty_dup_misfit(struct batch *b, const struct dctx *c,
				    const struct snap_kv *kv)
{
	MDB_val k = { kv->klen, (void *)kv->key }, v;
	MDB_cursor *cur;
	const char *why = NULL;
	size_t n = 0;

	if (mdb_cursor_open(b->w, c->host, &cur))
		return NULL;
	if (mdb_cursor_get(cur, &k, &v, MDB_SET_KEY) == 0 && mdb_cursor_count(cur, &n) == 0) {
		if (!kv->vlen && (n > 1 || v.mv_size))
			why = "an empty value beside other values of its key, which LMDB cannot hold";
		else if (kv->vlen && n == 1 && !v.mv_size)
			why = "a value for a key whose one value is empty, which LMDB would drop";
	}
	mdb_cursor_close(cur);
	return why;
}

/* Why a remote element does not fit the local DBI as it really is
 * (docs/DESIGN.md §12: same-named DBIs may differ in flags between
 * instances), or NULL. LMDB would take some of these and break: a
 * DUPFIXED DBI reads every value at its fixed size, an INTEGERKEY DBI
 * orders keys of mixed sizes wrongly. */
static const char *misfit(struct batch *b, const struct dctx *c, const struct snap_dbi *d,
			  const struct snap_kv *kv)
{
	unsigned f = c->flags;
	int dup = !!(f & MDB_DUPSORT);
	MDB_cursor *cur;
	MDB_val k, v;
	const char *why = NULL;

	if (!d->name_len && c->host_exists) {
		/* LMDB keeps DBI names as keys of the unnamed DBI: a put there
		 * fails (MDB_INCOMPATIBLE), a delete would delete the DBI. */
		k = (MDB_val){ kv->klen, (void *)kv->key };
		if (mdb_get(b->w, c->host, &k, &v) == 0 && senv_is_dbi_record(b->s, b->w, &k, &v))
			return "dbi_name_clash: the key names a DBI here";
	}
	if (dup != !!(d->flags & MDB_DUPSORT))
		return dup ? "a plain DBI's element for a DUPSORT DBI" :
			     "a DUPSORT DBI's element for a plain DBI";
	/* LMDB gives such a DBI leaf2 pages (for its own sub-DBs): keys of
	 * the first value's size and no values, read past shorter buffers. */
	if (!dup && (f & MDB_DUPFIXED))
		return "a DBI with DUPFIXED but not DUPSORT, which LMDB cannot hold elements in";
	if ((f & MDB_INTEGERKEY) && kv->klen != sizeof(unsigned) && kv->klen != sizeof(size_t))
		return "a key of a size INTEGERKEY does not take";
	if (dup && (f & MDB_INTEGERDUP) && kv->vlen != sizeof(unsigned) &&
	    kv->vlen != sizeof(size_t))
		return "a value of a size INTEGERDUP does not take";
	if (dup && !(kv->flags & SNAP_KV_DELETED) && c->host_exists &&
	    (why = empty_dup_misfit(b, c, kv)) != NULL)
		return why;
	if (!(f & (MDB_INTEGERKEY | MDB_INTEGERDUP | MDB_DUPFIXED)) || !c->host_exists ||
	    mdb_cursor_open(b->w, c->host, &cur))
		return NULL;
	/* Every key (INTEGERKEY) and every value (DUPFIXED, INTEGERDUP)
	 * has one size: the first one's. */
	if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0) {
		if ((f & MDB_INTEGERKEY) && k.mv_size != kv->klen)
			why = "a key of another size than this INTEGERKEY DBI's";
		else if (dup && (f & (MDB_DUPFIXED | MDB_INTEGERDUP)) && v.mv_size != kv->vlen)
			why = "a value of another size than this DUPFIXED DBI's";
	}
	mdb_cursor_close(cur);
	return why;
}

/* Whether the host's unnamed DBI is DUPFIXED without DUPSORT: LMDB gives
 * it leaf2 pages (fixed-size keys, no values), and a named DBI created
 * there would have its record written as such a key, breaking the
 * unnamed DBI (LMDB refuses named DBIs only beside DUPSORT and
 * INTEGERKEY ones). */
static int leaf2_main(struct batch *b)
{
	unsigned f;

	return mdb_dbi_flags(b->w, 1 /* the unnamed DBI */, &f) == 0 &&
	       (f & (MDB_DUPSORT | MDB_DUPFIXED)) == MDB_DUPFIXED;
}

/* Count a refused element in the metadata, in the merge's meta txn
 * (meta_misfit: shown by `mdbtap stats` and `doctor` across restarts),
 * and log it when its (DBI, instance) pair has no record yet: once per
 * condition, whatever the restarts (a batch that aborts after logging
 * logs again when it is redone). local_flags: the local DBI's (0 when
 * there is none). */
static int refuse_misfit(struct batch *b, const struct snap_dbi *d, const char *instance,
			 unsigned local_flags, const char *why)
{
	char name[200]; /* a remote DBI name: never raw bytes in a log line */
	struct meta_misfit mf;
	uint64_t now = hlc_wall_ns();
	int rc = meta_misfit_get(b->mt, b->s->meta, d->name, d->name_len, instance, &mf);

	if (rc == MDB_NOTFOUND) {
		memset(&mf, 0, sizeof(mf));
		mf.first_ns = now;
		mf.remote_flags = (uint32_t)d->flags;
		mf.local_flags = local_flags;
		log_msg(MDBTAP_LOG_ERROR, "%s: DBI '%s': elements from instance '%s' do not fit "
			"this DBI's flags (%s): refused (counted in `mdbtap stats` and `mdbtap "
			"doctor` until the DBI changes shape here or there; logged once)",
			b->s->path, d->name_len ? out_escape(name, sizeof(name), d->name, d->name_len)
			: "(unnamed)", instance, why);
		rc = 0;
	}
	if (rc)
		return rc;
	mf.n++;
	mf.last_ns = now;
	b->misfits++;
	return meta_misfit_put(b->mt, b->s->meta, d->name, d->name_len, instance, &mf);
}

/* At a DBI message's first element: refusals of its elements from this
 * instance recorded under other remote flags ended when the remote's DBI
 * changed shape; what still does not fit is refused, counted and logged
 * anew. */
static int misfit_recheck(struct batch *b, const struct snap_dbi *d, const char *instance)
{
	char name[200];
	struct meta_misfit mf;
	int rc = meta_misfit_get(b->mt, b->s->meta, d->name, d->name_len, instance, &mf);

	b->mf_checked = 1;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc || mf.remote_flags == (uint32_t)d->flags)
		return rc;
	rc = meta_misfit_del(b->mt, b->s->meta, d->name, d->name_len, instance, NULL);
	if (!rc)
		log_msg(MDBTAP_LOG_INFO, "%s: DBI '%s': instance '%s' now has it with flags 0x%x "
			"(0x%x before): its %llu refused elements are no longer counted", b->s->path,
			d->name_len ? out_escape(name, sizeof(name), d->name, d->name_len)
			: "(unnamed)", instance, (unsigned)d->flags, mf.remote_flags,
			(unsigned long long)mf.n);
	return rc;
}

static void log_reset(struct batch *b, const struct snap_dbi *d, const char *instance,
		      const char *why)
{
	log_msg(MDBTAP_LOG_WARN, "%s: DBI '%.*s': instance '%s' %s: this instance's older "
		"shape of it is dropped and the DBI taken anew with flags 0x%llx", b->s->path,
		d->name_len ? (int)(d->name_len > 64 ? 64 : d->name_len) : 9,
		d->name_len ? d->name : "(unnamed)", instance, why,
		(unsigned long long)d->flags);
}

/* The remote DBI message d's shape (epoch R, prev_epoch Rp, flags) against
 * the local DBI's (docs/DESIGN.md §22, "shape epochs"): set b->shape, and
 * when the remote's shape replaced the local one, drop the local one
 * (host DBI emptied or made anew with the remote's flags, metadata
 * forgotten) and take the remote's epochs. create: as for elem_set_get. */
static int shape_decide(struct batch *b, const struct snap_dbi *d, unsigned create,
			const char *instance)
{
	uint64_t R = d->epoch, Rp = d->prev_epoch, L, Lp;
	struct dctx *c;
	int rc = elem_set_get(&b->ds, d->name, d->name_len, 0, &c), differ;

	b->shape = SHAPE_APPLY;
	if (rc == MDB_NOTFOUND) {
		if (!senv_selected(b->s, d->name, d->name_len))
			return 0;
		/* Unknown here: created with the remote's flags and shape. */
		rc = elem_set_get(&b->ds, d->name, d->name_len, create, &c);
		if (rc == MDB_INCOMPATIBLE && d->name_len)
			return 0; /* a plain key here: apply_kv refuses each element */
		if (rc)
			return rc;
		c->d.epoch = R;
		c->d.prev_epoch = Rp;
		c->dirty = 1;
		b->wrote |= c->created;
		goto took;
	}
	if (rc)
		return rc;
	L = c->d.epoch;
	Lp = c->d.prev_epoch;
	differ = meta_flags_differ(c->flags, (unsigned)d->flags);
	/* The unnamed DBI's flags cannot change: misfit() refuses what
	 * does not fit it. */
	if (R == L && (c->host_exists || !differ))
		return 0;
	if (differ && d->name_len) {
		if (R < L) {
			b->shape = SHAPE_OLD; /* a shape re-created here since */
			return 0;
		}
		rc = elem_set_reset(&b->ds, d->name, d->name_len, create, R, Rp, &c);
		if (rc)
			return rc;
		b->wrote = 1;
		log_reset(b, d, instance, "re-created it with other flags");
		goto took;
	}
	if (differ)
		return 0;
	/* The same flags: the same shape unless the other side's began
	 * before the shape the newer one replaced (a DBI re-created back to
	 * earlier flags). Two instances that re-created it on their own
	 * (one upgrade, two epochs) keep both sides' elements. */
	if (R < Lp) {
		b->shape = SHAPE_OLD;
		return 0;
	}
	if (L < Rp) {
		rc = elem_set_reset(&b->ds, d->name, d->name_len, create, R, Rp, &c);
		if (rc)
			return rc;
		b->wrote = 1;
		log_reset(b, d, instance, "dropped and re-created it since");
		goto took;
	}
	if (R < L && R > Lp) { /* one shape: every instance ends on one epoch */
		c->d.epoch = R;
		c->dirty = 1;
	}
	return 0;
took:
	if (R > b->max_ts)
		b->max_ts = R; /* our clock's next shapes begin after it */
	return 0;
}

/* One remote element against the local one. */
static int apply_kv(struct batch *b, const struct snap_dbi *d, const struct snap_kv *kv,
		    const struct merge_args *a)
{
	MDB_val key = { kv->klen, (void *)kv->key }, val = { kv->vlen, (void *)kv->val };
	struct merge_side local = { 0 }, remote = { 0 };
	struct meta_elem old, e = { 0 };
	MDB_val hv = { 0, NULL };
	unsigned create;
	struct dctx *c;
	const char *why;
	int rc, live, conflict, deleted = !!(kv->flags & SNAP_KV_DELETED);

	/* Against the wall clock only: the journal's clock has observed
	 * accepted remote timestamps, and a bound that followed it would let
	 * each object push the next one further ahead. */
	if (kv->ts > hlc_wall_ns() + a->max_future_ns ||
	    d->epoch > hlc_wall_ns() + a->max_future_ns) { /* its shape's time too */
		uint64_t t = kv->ts > d->epoch ? kv->ts : d->epoch;

		b->s->stats.elems_refused++;
		if (a->progress && t > a->progress->name_ns &&
		    t - a->progress->name_ns > a->max_future_ns)
			return 0; /* ahead of its own object's time: for good (merge.h) */
		b->future++; /* the object is applied again later (merge_apply) */
		if (t > b->future_max)
			b->future_max = t;
		return 0;
	}
	/* A missing DBI is created with the remote's flags, for tombstones
	 * too: they are part of the DBI's state (and of its digest). */
	create = MDB_CREATE | (unsigned)(d->flags & MERGE_DBI_FLAGS);
	if (!(create & MDB_DUPSORT)) /* flags LMDB means for DUPSORT only (misfit) */
		create &= ~(unsigned)(MDB_DUPFIXED | MDB_INTEGERDUP | MDB_REVERSEDUP);
	if (!b->mf_checked && (rc = misfit_recheck(b, d, a->instance)) != 0)
		return rc;
	if (d->name_len && leaf2_main(b))
		return refuse_misfit(b, d, a->instance, 0, "a named DBI in an env whose unnamed "
				     "DBI is DUPFIXED but not DUPSORT (LMDB would write its record "
				     "there wrongly)");
	if (b->shape == SHAPE_UNKNOWN && (rc = shape_decide(b, d, create, a->instance)) != 0)
		return rc;
	if (b->shape == SHAPE_OLD) {
		b->old_shape++;
		b->s->stats.elems_old_shape++;
		return 0;
	}
	rc = elem_set_get(&b->ds, d->name, d->name_len, create, &c);
	if (rc == MDB_NOTFOUND)
		return 0; /* not synced here */
	if (rc == MDB_INCOMPATIBLE && d->name_len)
		return refuse_misfit(b, d, a->instance, 0, "dbi_name_clash: the DBI's name is a "
				     "plain key of the unnamed DBI here");
	if (rc)
		return rc;
	if (c->created)
		b->wrote = 1; /* the new DBI takes a txn id even if nothing else does */
	if ((why = misfit(b, c, d, kv)) != NULL)
		return refuse_misfit(b, d, a->instance, c->flags, why);
	rc = meta_elem_get(b->mt, &c->h, &key, c->h.dupsort ? &val : NULL, &old);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	local.exists = rc == 0;
	local.ts = old.ts;
	local.deleted = local.exists && (old.flags & META_DELETED);
	rc = elem_host_get(&b->ds, c, &key, c->h.dupsort ? &val : NULL, &hv, &live);
	if (rc)
		return rc;
	if (deleted && !local.exists && !live && kv->ts < a->tombstone_cutoff_ns) {
		b->s->stats.tombstones_ignored++;
		return 0; /* it would only be swept again (sweep.h) */
	}
	if (c->h.dupsort) {
		local.val = val.mv_data;
		local.vlen = val.mv_size;
	} else {
		local.val = hv.mv_data;
		local.vlen = hv.mv_size;
	}
	remote.ts = kv->ts;
	remote.deleted = deleted;
	remote.val = kv->val;
	remote.vlen = kv->vlen;
	/* A conflict: a local version of another time, decided by last
	 * writer wins (docs/DESIGN.md §5). */
	conflict = local.exists && local.ts != remote.ts;
	if (!merge_remote_wins(&local, &remote)) {
		b->lost += conflict;
		return 0;
	}
	if (deleted && live) {
		rc = mdb_del(b->w, c->host, &key, c->h.dupsort ? &val : NULL);
		b->wrote = 1;
	} else if (!deleted && !(live && (c->h.dupsort || same_val(&hv, kv->val, kv->vlen)))) {
		rc = mdb_put(b->w, c->host, &key, &val, c->h.dupsort ? MDB_NODUPDATA : 0);
		b->wrote = 1;
	}
	if (rc == MDB_NOTFOUND || rc == MDB_KEYEXIST)
		rc = 0;
	if (rc)
		return rc;
	e.ts = kv->ts;
	e.flags = deleted ? META_DELETED : 0;
	if (!deleted && !c->h.dupsort)
		meta_hash(kv->val, kv->vlen, e.hash);
	rc = meta_elem_put(b->mt, &c->h, &c->d, &key, c->h.dupsort ? &val : NULL,
			   local.exists ? &old : NULL, &e, 0);
	if (rc)
		return rc;
	c->dirty = 1;
	/* A remote write that wins replaces any local change not sent yet. */
	rc = mdb_del(b->mt, c->h.changed, &key, c->h.dupsort ? &val : NULL);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (kv->ts > b->max_ts)
		b->max_ts = kv->ts;
	b->merged++;
	b->won += conflict;
	return rc;
}

static int retry_later(struct senv *s, const struct merge_args *a, uint64_t n)
{
	log_msg(MDBTAP_LOG_WARN, "%s: %s: %llu elements are more than max_future ahead of our "
		"clock: refused for now; the object is applied again until they are acceptable",
		s->path, a->name, (unsigned long long)n);
	return MERGE_RETRY;
}

int merge_apply(struct senv *s, int fd, const struct merge_args *a)
{
	struct snap_reader *r = NULL;
	struct snap_event ev;
	struct snap_dbi cur = { 0 };
	struct batch b = { .s = s, .own_past = a->own_past };
	char *name = NULL, tf[64] = "";
	int rc = rewind_fd(fd), open = 0;
	uint64_t kvs = 0; /* elements read */

	if (a->done)
		*a->done = a->skip;
	if (s->readonly)
		return EROFS;
	if (!rc)
		rc = snap_reader_new(&r, snap_read_fd_source, &fd);
	while (!rc && (rc = snap_reader_next(r, &ev)) == 0) {
		if (!open) {
			rc = batch_begin(&b);
			if (rc)
				break;
			open = 1;
		}
		if (ev.type == SNAP_EV_END) {
			/* With elements refused for max_future, the progress
			 * stays before this object: it is applied again until
			 * the clocks agree (re-applying changes nothing else). */
			rc = batch_commit(&b, a->instance, b.future ? NULL : a->progress);
			open = 0;
			if (!rc && b.future) {
				rc = retry_later(s, a, b.future);
				if (a->retry_ns)
					*a->retry_ns = b.future_max - a->max_future_ns;
			}
			break;
		}
		if (ev.type == SNAP_EV_DBI) {
			char *nn = ev.dbi.name_len ? realloc(name, ev.dbi.name_len) : name;

			if (ev.dbi.name_len && !nn) {
				rc = ENOMEM;
				break;
			}
			name = nn;
			if (ev.dbi.name_len)
				memcpy(name, ev.dbi.name, ev.dbi.name_len);
			cur = ev.dbi;
			cur.name = name;
			snprintf(tf, sizeof(tf), "%s", ev.dbi.transform ? ev.dbi.transform : "");
			cur.transform = tf;
			b.shape = SHAPE_UNKNOWN; /* decided at its first element */
			b.mf_checked = 0;
			continue;
		}
		if (ev.type != SNAP_EV_KV || kvs++ < a->skip)
			continue;
		if (a->newest_ts && ev.kv.ts > *a->newest_ts)
			*a->newest_ts = ev.kv.ts;
		rc = apply_kv(&b, &cur, &ev.kv, a);
		if (!rc && ++b.n >= MERGE_BATCH) {
			rc = batch_commit(&b, a->instance, NULL);
			open = 0;
			/* Where a retry may start: not past an element refused
			 * for max_future, which must be applied again. */
			if (!rc && !b.future && a->done)
				*a->done = kvs;
		}
	}
	if (open)
		batch_abort(&b);
	snap_reader_free(r);
	free(name);
	if (rc == MDB_MAP_FULL || rc == MERGE_DEFERRED)
		; /* said once by the caller (mapfull.h), or by batch_begin */
	else if (rc && rc != MERGE_RETRY)
		log_msg(MDBTAP_LOG_ERROR, "%s: applying %s: %s", s->path, a->name, err_str(rc));
	else
		s->stats.objects_in++;
	if (b.old_shape)
		log_msg(MDBTAP_LOG_INFO, "%s: %s: %llu elements of DBI shapes dropped here since "
			"(a DBI re-created with other flags): skipped", s->path, a->name,
			(unsigned long long)b.old_shape);
	return rc;
}
