/* receive.c: see receive.h. */
#include "receive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clean.h"
#include "err.h"
#include "hlc.h"
#include "log.h"
#include "mapfull.h"
#include "merge.h"
#include "objname.h"
#include "quarantine.h"
#include "snap.h"
#include "store.h"
#include "sweep.h"

struct obj {
	char *name;
	struct objname on;
	uint64_t size;              /* as listed */
};

struct listing {
	const struct receive_args *a;
	struct obj *v;              /* the other instances' objects */
	size_t n, cap;
	struct clean_obj *own;      /* ours (names owned) */
	size_t nown, capown;
	uint64_t now_ns;            /* wall clock at the listing */
	unsigned future;            /* names ignored for max_future */
};

/* Make room for one more element of size sz in *v (n used, *cap room). */
static int grow(void *v, size_t n, size_t *cap, size_t sz)
{
	void **pv = v, *nv;
	size_t c = *cap ? 2 * *cap : 64;

	if (n < *cap)
		return 0;
	nv = realloc(*pv, c * sz);
	if (!nv)
		return ENOMEM;
	*pv = nv;
	*cap = c;
	return 0;
}

static int collect(void *ctx, const char *name, uint64_t size)
{
	struct listing *l = ctx;
	struct objname on;
	char *dup;

	if (objname_parse(name, &on) != 0 || strcmp(on.db, l->a->db) != 0)
		return 0; /* foreign, or another env's */
	if (on.ts_ns > l->now_ns && on.ts_ns - l->now_ns > l->a->max_future_ns) {
		/* No clock of ours or theirs can be that far ahead (merge.c
		 * refuses such elements): taken for the newest object, it
		 * would be recorded as progress and every real object after
		 * it skipped until then. */
		log_msg(MDBTAP_LOG_DEBUG, "object %s is dated more than max_future ahead: ignored",
			name);
		l->future++;
		return 0;
	}
	if (!(dup = strdup(name)))
		return ENOMEM;
	if (!strcmp(on.instance, l->a->self)) {
		if (grow(&l->own, l->nown, &l->capown, sizeof(*l->own))) {
			free(dup);
			return ENOMEM;
		}
		l->own[l->nown++] = (struct clean_obj){ dup, on, size };
		return 0;
	}
	if (grow(&l->v, l->n, &l->cap, sizeof(*l->v))) {
		free(dup);
		return ENOMEM;
	}
	l->v[l->n++] = (struct obj){ dup, on, size };
	return 0;
}

static int by_instance_then_time(const void *pa, const void *pb)
{
	const struct obj *a = pa, *b = pb;
	int c = strcmp(a->on.instance, b->on.instance);

	if (c)
		return c;
	return a->on.ts_ns < b->on.ts_ns ? -1 : a->on.ts_ns > b->on.ts_ns;
}

/* Bounds and quarantine (quarantine.h) around fetching and applying o:
 * before the fetch, an object listed larger than the bound is refused
 * unread. Returns 0 to go on, or EINVAL (quarantined: skip it). */
static int bound_before_fetch(struct senv *s, const struct receive_args *a, const struct obj *o)
{
	char why[128];

	if (!a->max_object_size || o->size <= a->max_object_size)
		return 0;
	snprintf(why, sizeof(why), "%llu bytes, more than max_object_size (%llu)",
		 (unsigned long long)o->size, (unsigned long long)a->max_object_size);
	quarantine_add(s, o->name, why);
	return EINVAL;
}

/* After a fetch (rc: store_get's) or an apply (merge_apply's) failed:
 * the object's own fault is quarantined for good (EINVAL: skip it), the
 * rest is returned as it is, to be retried. */
static int quarantine_fault(struct senv *s, const struct obj *o, int rc, int fetched)
{
	if (rc == EFBIG) {
		quarantine_add(s, o->name, fetched ? "it decompresses to more than "
				"max_object_expanded" : "larger than max_object_size");
		return EINVAL;
	}
	if (!fetched || !quarantine_is_object_fault(rc))
		return rc;
	quarantine_add(s, o->name, err_str(rc));
	return EINVAL;
}

/* apply_obj's code for an object this reader cannot fetch while the
 * store answers (EACCES, an S3 403, ...): skipped for this pass, tried
 * again next cycle (permissions may be mended: not quarantined). */
#define OBJ_UNREADABLE (-2)

/* Whether store_get's rc concerns that one object rather than the store
 * (unreachable, timed out, interrupted, out of memory: the cycle stops).
 * The store answered the listing, so an answer it cannot give for one
 * object (an error status after the retries: EIO; one we cannot read:
 * EPROTO) is that object's: it must not stop every instance after it. */
static int unreadable(int rc)
{
	return rc == EACCES || rc == EPERM || rc == EISDIR || rc == ELOOP || rc == ENXIO ||
	       rc == ENODEV || rc == ENAMETOOLONG || rc == EINVAL || rc == EIO || rc == EPROTO;
}

/* Whether the verified object in fd says, in its own meta, what its name
 * o says: instance, db, chain, full or delta and its txn range. The name
 * drives progress (a remote's chain and txn id), so a copy of one
 * instance's object renamed as another's, or given a larger txn range,
 * would skip that instance's real objects for good. */
static int meta_matches_name(int fd, const char *db, const struct obj *o)
{
	struct snap_reader *r = NULL;
	struct snap_event ev;
	char gen[24];
	int ok;

	snprintf(gen, sizeof(gen), "G%016llx", (unsigned long long)o->on.generation);
	ok = lseek(fd, 0, SEEK_SET) == 0 && snap_reader_new(&r, snap_read_fd_source, &fd) == 0 &&
	     snap_reader_next(r, &ev) == 0 && ev.type == SNAP_EV_META && ev.meta.instance &&
	     !strcmp(ev.meta.instance, o->on.instance) && ev.meta.database &&
	     !strcmp(ev.meta.database, db) && ev.meta.generation &&
	     !strcmp(ev.meta.generation, gen) && ev.meta.txnid >= 0 &&
	     (uint64_t)ev.meta.txnid == o->on.to_txnid && ev.meta.from_txnid >= 0 &&
	     (uint64_t)ev.meta.from_txnid == (o->on.full ? 0 : o->on.from_txnid);
	snap_reader_free(r);
	return ok;
}

#define NAME_MISMATCH "its meta (instance, db, chain or txn range) is not what its name says"

/* Download, verify and apply one object; advance *p on success. */
static int apply_obj(struct senv *s, struct store *store, const struct receive_args *a,
		     const struct obj *o, struct meta_remote *p)
{
	struct meta_remote next = { o->on.generation, o->on.to_txnid, o->on.ts_ns };
	uint64_t done = 0, retry_ns = 0, newest = 0;
	struct merge_args ma = { o->name, o->on.instance, &next, a->max_future_ns,
				 sweep_load_cutoff(hlc_wall_ns(), a->tombstone_retention_ns), 0,
				 &done, &retry_ns, !strcmp(o->on.instance, a->self), &newest };
	char err[256];
	int fd, rc;

	if ((rc = bound_before_fetch(s, a, o)))
		return rc;
	/* Stopped by a full map and nothing changed since: not fetched
	 * again, it waits (the instance's later objects after it). */
	if (mapfull_wait(s, o->name, &ma.skip))
		return MDB_MAP_FULL;
	if ((fd = senv_tmpfile(s)) < 0)
		return errno;
	rc = store_get(store, o->name, fd);
	if (rc == ENOENT) {
		close(fd);
		return rc; /* deleted since the listing: the next pass sees */
	}
	if (rc == EFBIG) {
		close(fd);
		return quarantine_fault(s, o, rc, 0);
	}
	if (rc) {
		log_msg(MDBTAP_LOG_ERROR, "%s: %s", s->path, store_error(store));
		if (unreadable(rc)) {
			/* Not fetched again for a while (quarantine.h): one GET
			 * per wait, not one per cycle. */
			quarantine_wait(s, o->name, hlc_wall_ns(), 0);
			close(fd);
			return OBJ_UNREADABLE;
		}
	}
	if (!rc && merge_verify(s, fd, err, sizeof(err)) != 0) {
		quarantine_add(s, o->name, err);
		close(fd);
		return EINVAL;
	}
	if (!rc && !meta_matches_name(fd, a->db, o)) {
		quarantine_add(s, o->name, NAME_MISMATCH);
		close(fd);
		return EINVAL;
	}
	if (!rc) {
		rc = merge_apply(s, fd, &ma);
		if (rc == MDB_MAP_FULL)
			mapfull_stopped(s, o->name, done);
		else if (!rc || rc == MERGE_RETRY)
			mapfull_applied(s, o->name, o->on.instance);
		if (rc == MERGE_RETRY) /* fetched again when acceptable */
			quarantine_wait(s, o->name, hlc_wall_ns(), retry_ns);
		else if (rc && rc != MERGE_DEFERRED) /* that one: not the object's fault */
			rc = quarantine_fault(s, o, rc, 1);
	}
	close(fd);
	if (!rc) {
		uint64_t now = hlc_wall_ns(), from = newest ? newest : o->on.ts_ns;

		*p = next;
		/* The lag: from the newest commit the object carries (its
		 * newest element's timestamp; the object's making when it
		 * holds only adopted data, stamped 0) to its merge here. */
		hist_observe_ns(&s->stats.lag, now > from ? now - from : 0);
		log_msg(MDBTAP_LOG_DEBUG, "%s: applied %s", s->path, o->name);
	}
	return rc;
}

/* With a tombstone retention R, a running instance makes a full snapshot
 * at least every R/2 (config.c). One whose newest object is older has
 * stopped, and its objects may still hold elements deleted since, whose
 * tombstones may be swept already: loading them would bring those back.
 * Whatever it wrote reached the others' full snapshots meanwhile. */
static int stale(const struct receive_args *a, const struct obj *newest)
{
	uint64_t now = hlc_wall_ns();

	return a->tombstone_retention_ns && now > newest->on.ts_ns &&
	       now - newest->on.ts_ns > a->tombstone_retention_ns / 2;
}

/* Apply what the objects of chain gen among one instance's objects
 * v[0..n) offer past progress p (have: p is in that chain). */
static int follow_gen(struct senv *s, struct store *store, const struct receive_args *a,
		      const struct obj *v, size_t n, uint64_t gen, struct meta_remote *p, int have,
		      unsigned *applied)
{
	/* skip[i]: quarantined, or unreadable this pass. Looked up once:
	 * each object that fails is skipped without a lookup per pass. */
	char *skip = calloc(n ? n : 1, 1);
	uint64_t now = hlc_wall_ns();
	int rc = 0;

	if (!skip)
		return ENOMEM;
	for (size_t i = 0; i < n; i++)
		skip[i] = v[i].on.generation == gen &&
			  (senv_is_bad(s, v[i].name) || quarantine_waits(s, v[i].name, now));
	for (;;) {
		const struct obj *next = NULL, *full = NULL;
		int more = 0;

		if (store_interrupted()) {
			rc = EINTR; /* SIGTERM: stop between objects */
			break;
		}
		for (size_t i = 0; i < n; i++) {
			const struct objname *on = &v[i].on;

			if (on->generation != gen || (have && on->ts_ns <= p->name_ns) || skip[i])
				continue;
			if (have && on->to_txnid <= p->to)
				continue; /* nothing new in it */
			more = 1;
			if (on->full)
				full = &v[i]; /* the newest wins */
			else if (have && !next && on->from_txnid <= p->to)
				next = &v[i];
		}
		if (!more)
			break;
		if (!next && !full) {
			log_msg(MDBTAP_LOG_DEBUG, "%s: instance %s: a gap and no full snapshot after it yet",
				s->path, v[0].on.instance);
			break;
		}
		rc = apply_obj(s, store, a, next ? next : full, p);
		if (rc == EINVAL || rc == OBJ_UNREADABLE) {
			/* bad (for good) or unreadable (this pass): skipped;
			 * look again */
			skip[(next ? next : full) - v] = 1;
			rc = 0;
			continue;
		}
		if (rc == ENOENT || rc == MERGE_RETRY) {
			/* deleted since the listing, or applied again next
			 * pass (merge.h): the next pass sees */
			rc = 0;
			break;
		}
		if (rc)
			break;
		have = 1;
		(*applied)++;
	}
	free(skip);
	return rc;
}

/* Apply what one instance's objects v[0..n) offer past progress p. When
 * it started a new chain, what is left of the one followed so far comes
 * first: its last deltas may hold writes that no full snapshot of the new
 * chain carries (an env wiped or restored after exporting them). */
static int follow(struct senv *s, struct store *store, const struct receive_args *a,
		  const struct obj *v, size_t n, struct meta_remote *p, int have,
		  unsigned *applied)
{
	uint64_t gen = v[n - 1].on.generation;
	int rc;

	if (have && p->generation != gen) {
		rc = follow_gen(s, store, a, v, n, p->generation, p, 1, applied);
		if (rc)
			return rc;
		log_msg(MDBTAP_LOG_INFO, "%s: instance %s started a new chain", s->path, v[0].on.instance);
		have = 0;
	}
	return follow_gen(s, store, a, v, n, gen, p, have, applied);
}

/* The newest of own[0..nown) not of chain gen: 0 when none. */
static uint64_t newest_other(const struct clean_obj *own, size_t nown, uint64_t gen)
{
	uint64_t newest = 0;

	for (size_t i = 0; i < nown; i++)
		if (own[i].on.generation != gen && own[i].on.ts_ns > newest)
			newest = own[i].on.ts_ns;
	return newest;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	for (size_t i = 0; i < l->nown; i++)
		free((char *)l->own[i].name);
	free(l->own);
}

int receive_own_newest(struct store *store, const struct receive_args *a, uint64_t gen,
		       uint64_t *newest)
{
	struct listing l = { a, NULL, 0, 0, NULL, 0, 0, 0, 0 };
	char prefix[STORE_NAME_MAX + 1];
	int rc;

	*newest = 0;
	if ((size_t)snprintf(prefix, sizeof(prefix), "%s__%s__", a->db, a->self) >= sizeof(prefix))
		return ENAMETOOLONG;
	l.now_ns = hlc_wall_ns();
	rc = store_list(store, prefix, collect, &l); /* collect drops those past max_future */
	if (!rc)
		*newest = newest_other(l.own, l.nown, gen);
	listing_free(&l);
	return rc;
}

/* Whether o, an object of our name from a chain this env did not start,
 * newer than ours, was really written by another env using the name: a
 * whole object whose own meta names our instance, our db and the chain
 * of its name. A name planted to stop us (any bytes, or another
 * instance's object renamed) is not: quarantined (one GET, for good),
 * and this env goes on. *real says which. Returns 0, or the store's
 * failure (the cycle stops). */
static int other_env_wrote(struct senv *s, struct store *store, const struct receive_args *a,
			   const struct obj *o, int *real)
{
	char err[256];
	int fd, rc;

	*real = 0;
	if (senv_is_bad(s, o->name) || bound_before_fetch(s, a, o))
		return 0;
	if ((fd = senv_tmpfile(s)) < 0)
		return errno;
	rc = store_get(store, o->name, fd);
	if (rc == ENOENT || rc == EFBIG || (rc && unreadable(rc))) {
		if (rc == EFBIG)
			quarantine_fault(s, o, rc, 0);
		close(fd);
		return 0; /* gone, too large, or unreadable this pass */
	}
	if (rc) {
		log_msg(MDBTAP_LOG_ERROR, "%s: %s", s->path, store_error(store));
		close(fd);
		return rc;
	}
	if (merge_verify(s, fd, err, sizeof(err)) != 0) {
		quarantine_add(s, o->name, err);
		close(fd);
		return 0;
	}
	/* o's instance is ours (a->self) */
	*real = meta_matches_name(fd, a->db, o);
	close(fd);
	if (!*real)
		quarantine_add(s, o->name, "named as ours, but not an object of our instance and "
			       "of the chain its name says");
	return 0;
}

void receive_own_note(struct senv *s, const struct meta_state *st)
{
	if (s->own_gen == st->generation)
		return;
	s->own_gen = st->generation;
	s->own_from_ns = st->last_obj_ns;
	s->own_first_ns = 0;
}

void receive_own_made(struct senv *s, uint64_t generation, uint64_t name_ns)
{
	if (s->own_gen == generation && !s->own_first_ns)
		s->own_first_ns = name_ns;
}

/* Whether our current chain in the store is ahead of the metadata (see
 * receive.h): objects of it named after the last one the metadata knew
 * when this process took the chain up, and before this process's first,
 * made by neither. They are applied here first, oldest first (our own
 * data: what the env wrote after the copy it was restored from; an object
 * that is not whole or not ours is quarantined, and counts for nothing):
 * the chain forked, so following it later by its txn ranges could skip
 * them. Then a new chain begins, in the metadata: the old one is our past
 * (follow_own_past), and receivers that skipped our objects below their
 * progress load the new chain's full snapshot. Until every one is applied
 * (one unreadable, dated ahead, a merge deferred), the chain stays and
 * the next pass tries again. A syncer killed between an upload and the
 * metadata's commit leaves such an object too: a new chain costs one full
 * snapshot there, and loses nothing. *applied: objects applied. */
static int own_ahead(struct senv *s, struct store *store, const struct receive_args *a,
		     const struct clean_obj *own, size_t nown, unsigned *applied,
		     unsigned *restarted)
{
	struct meta_remote p = { 0 };
	struct meta_state st;
	struct obj *v = NULL;
	size_t n = 0, cap = 0;
	unsigned ok = 0;
	MDB_txn *txn;
	int rc = mdb_txn_begin(meta_env(s->meta), NULL, MDB_RDONLY, &txn), later = 0;

	if (rc)
		return rc;
	rc = meta_state_get(txn, s->meta, &st);
	mdb_txn_abort(txn);
	if (rc || !st.generation)
		return rc;
	receive_own_note(s, &st);
	for (size_t i = 0; i < nown; i++) {
		const struct objname *on = &own[i].on;

		if (on->generation != st.generation || on->ts_ns <= s->own_from_ns ||
		    (s->own_first_ns && on->ts_ns >= s->own_first_ns) || senv_is_bad(s, own[i].name))
			continue;
		if (grow(&v, n, &cap, sizeof(*v))) {
			free(v);
			return ENOMEM;
		}
		v[n++] = (struct obj){ (char *)own[i].name, *on, own[i].size };
	}
	if (n)
		qsort(v, n, sizeof(*v), by_instance_then_time);
	for (size_t i = 0; !rc && i < n; i++) {
		rc = apply_obj(s, store, a, &v[i], &p);
		if (!rc)
			ok++;
		else if (rc == EINVAL || rc == ENOENT)
			rc = 0; /* not ours (quarantined), or gone */
		else if (rc == OBJ_UNREADABLE || rc == MERGE_RETRY)
			later = 1, rc = 0;
	}
	if (rc || !ok) {
		free(v);
		return rc;
	}
	*applied += ok;
	if (later) {
		free(v);
		return 0;
	}
	log_msg(MDBTAP_LOG_INFO, "%s: our own chain in the store is ahead of this metadata (%s and "
		"%zu more are not among its objects): the env or its companion dir was restored from "
		"an older copy; a new chain begins", s->path, v[0].name, n - 1);
	free(v);
	if ((rc = mdb_txn_begin(meta_env(s->meta), NULL, 0, &txn)) != 0)
		return rc;
	rc = meta_state_get(txn, s->meta, &st); /* the merges changed it */
	st.generation = meta_new_generation();
	st.chain_ns = hlc_wall_ns();
	st.last_full_ns = 0;   /* the new chain's full snapshot is owed */
	st.last_full_name = 0; /* the cleaner deletes none of ours before it */
	if (!rc)
		rc = meta_state_put(txn, s->meta, &st);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (!rc) {
		s->stats.readoptions++;
		*restarted = 1;
	}
	return rc;
}

/* At the first listing of our chain: the newest of our name's objects of
 * other chains, then listed, kept in the state (past_gen, past_ns).
 * Usually the local step listed them already, before it exported the
 * chain's first object (sync.c); here when that export failed. */
static int note_past(struct senv *s, const struct clean_obj *own, size_t nown,
		     struct meta_state *st)
{
	uint64_t newest = newest_other(own, nown, st->generation);
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(meta_env(s->meta), NULL, 0, &txn)) != 0)
		return rc;
	rc = meta_state_get(txn, s->meta, st);
	if (!rc) {
		st->past_gen = st->generation;
		st->past_ns = newest;
		rc = meta_state_put(txn, s->meta, st);
	}
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* Our own objects of other chains (docs/DESIGN.md §10, §11). Those
 * listed when our chain began, or older than it, are this env's past
 * (before it was wiped or replaced, or a new chain began): followed like
 * a remote's chain, so that what only they hold comes back. One newer
 * than both that appeared since was written by another env using our
 * instance name: RECEIVE_NAME_CLASH, this env stops. A clock that ran
 * ahead and was corrected dates our past after our chain: not a clash. */
static int follow_own_past(struct senv *s, struct store *store, const struct receive_args *a,
			   const struct clean_obj *own, size_t nown, unsigned *applied)
{
	struct meta_state st;
	struct meta_remote p = { 0 };
	struct obj *v = NULL;
	size_t n = 0, cap = 0;
	MDB_txn *txn;
	int rc = mdb_txn_begin(meta_env(s->meta), NULL, MDB_RDONLY, &txn), have;

	if (rc)
		return rc;
	rc = meta_state_get(txn, s->meta, &st);
	if (!rc)
		rc = meta_remote_get(txn, s->meta, a->self, &p);
	mdb_txn_abort(txn);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	have = rc == 0;
	rc = 0;
	if (!st.generation || !st.chain_ns)
		return 0; /* no chain of ours yet */
	if (st.past_gen != st.generation && (rc = note_past(s, own, nown, &st)) != 0)
		return rc;
	for (size_t i = 0; i < nown; i++) {
		if (own[i].on.generation == st.generation)
			continue;
		if (own[i].on.ts_ns > st.chain_ns && own[i].on.ts_ns > st.past_ns) {
			int real;

			rc = other_env_wrote(s, store, a, &(struct obj){ (char *)own[i].name,
						own[i].on, own[i].size }, &real);
			if (rc) {
				free(v);
				return rc;
			}
			if (!real)
				continue;
			log_msg(MDBTAP_LOG_ERROR, "%s: instance name '%s' is used by another env: its "
				"object %s belongs to a chain this env did not start, newer than its own; "
				"this env stops syncing (give each env its own --instance)",
				s->path, a->self, own[i].name);
			free(v);
			return RECEIVE_NAME_CLASH;
		}
		if (grow(&v, n, &cap, sizeof(*v))) {
			free(v);
			return ENOMEM;
		}
		v[n++] = (struct obj){ (char *)own[i].name, own[i].on, own[i].size };
	}
	if (n)
		qsort(v, n, sizeof(*v), by_instance_then_time);
	/* Every older chain, oldest first: a chain begun by an env wiped
	 * twice holds in its full snapshots nothing of the chain before. */
	for (size_t i = 0; !rc && i < n; i++) {
		uint64_t gen = v[i].on.generation, last = 0;
		int seen = 0;

		for (size_t k = 0; k < i; k++)
			seen |= v[k].on.generation == gen;
		if (seen)
			continue; /* done at its first object */
		for (size_t k = i; k < n; k++)
			if (v[k].on.generation == gen)
				last = v[k].on.ts_ns;
		if (have && gen != p.generation && last <= p.name_ns)
			continue; /* followed before the one in progress */
		rc = follow_gen(s, store, a, v, n, gen, &p, have && gen == p.generation, applied);
		if (rc == EROFS || rc == MDB_MAP_FULL)
			rc = 0; /* said in the log */
		have = 1;
	}
	free(v);
	return rc;
}

/* What our metadata says we uploaded, for the cleaner (clean.h). */
static int own_chain(struct senv *s, struct clean_self *me)
{
	struct meta_state st;
	MDB_txn *txn;
	int rc = mdb_txn_begin(meta_env(s->meta), NULL, MDB_RDONLY, &txn);

	if (rc)
		return rc;
	rc = meta_state_get(txn, s->meta, &st);
	mdb_txn_abort(txn);
	*me = (struct clean_self){ st.generation, st.last_full_name, st.last_obj_ns };
	return rc;
}

int receive_once(struct senv *s, struct store *store, const struct receive_args *a,
		 struct receive_out *out)
{
	struct clean_self me;
	struct listing l = { a, NULL, 0, 0, NULL, 0, 0, 0, 0 };
	unsigned *applied = &out->applied;
	char prefix[128];
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(prefix, sizeof(prefix), "%s__", a->db);
	l.now_ns = hlc_wall_ns();
	rc = store_list(store, prefix, collect, &l);
	s->stats.objects_future += l.future;
	if (!rc && l.future)
		log_msg(MDBTAP_LOG_WARN, "%s: %u objects in the store are dated more than max_future "
			"ahead of our clock: ignored", s->path, l.future);
	if (rc) {
		log_msg(MDBTAP_LOG_ERROR, "%s: %s", s->path, store_error(store));
		goto out;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), by_instance_then_time);
	for (size_t i = 0, j; i < l.n; i = j) {
		struct meta_remote p = { 0 };
		MDB_txn *txn;
		int have;

		for (j = i + 1; j < l.n && !strcmp(l.v[j].on.instance, l.v[i].on.instance); j++)
			;
		if (stale(a, &l.v[j - 1])) {
			log_msg(MDBTAP_LOG_DEBUG, "%s: instance %s has uploaded nothing for more than half "
				"the tombstone retention: its objects are not loaded", s->path,
				l.v[i].on.instance);
			continue;
		}
		rc = mdb_txn_begin(meta_env(s->meta), NULL, MDB_RDONLY, &txn);
		if (rc)
			goto out;
		rc = meta_remote_get(txn, s->meta, l.v[i].on.instance, &p);
		mdb_txn_abort(txn);
		if (rc && rc != MDB_NOTFOUND)
			goto out;
		have = rc == 0;
		rc = follow(s, store, a, l.v + i, j - i, &p, have, applied);
		if (rc == MERGE_DEFERRED)
			goto deferred;
		if (rc == EROFS || rc == MDB_MAP_FULL) {
			out->blocked = rc;
			rc = 0; /* said in the log; the other instances may still fit */
		}
		if (rc)
			goto out;
	}
	rc = own_ahead(s, store, a, l.own, l.nown, &out->past, &out->restarted);
	if (rc == MERGE_DEFERRED)
		goto deferred;
	if (rc == EROFS || rc == MDB_MAP_FULL) {
		out->blocked = rc;
		rc = 0; /* said in the log */
	}
	if (rc)
		goto out;
	rc = follow_own_past(s, store, a, l.own, l.nown, &out->past);
	*applied += out->past;
	if (rc == MERGE_DEFERRED)
		goto deferred;
	if (rc)
		goto out;
	rc = own_chain(s, &me);
	if (rc)
		goto out;
	out->deleted = clean_own(store, s->path, l.own, l.nown, hlc_wall_ns(), &me, a->keep_ns,
				 &out->want);
	clean_uploads(store, s->path, a->db, a->self, hlc_wall_ns(), a->keep_ns, &s->uploads_next_ns);
	goto out;
deferred:
	/* Nothing more is merged before the local step's rescan (merge.h);
	 * our own objects are cleaned next time. */
	out->deferred = 1;
	rc = 0;
out:
	listing_free(&l);
	return rc;
}
