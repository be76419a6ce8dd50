/* sync.c: see sync.h. */
#include "sync.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "config.h"
#include "elem.h"
#include "export.h"
#include "fold.h"
#include "hlc.h"
#include "dur.h"
#include "log.h"
#include "mapfull.h"
#include "receive.h"
#include "rescan.h"
#include "snap.h"
#include "statfile.h"
#include "store.h"
#include "sweep.h"

int sync_claim(struct sync_env *e, const struct cfg_env *ce, char *err, size_t errlen)
{
	int rc, answered;

	memset(e, 0, sizeof(*e));
	e->ce = ce;
	/* The store first: bad input must be refused before the env's files
	 * (data.mdb, lock.mdb, the journal) are created. */
	rc = store_check(ce->store, ce->store_opts, ce->nstore_opts, &e->store, &answered, err,
			 errlen);
	if (rc && answered)
		return rc;
	if (rc)
		log_msg(MDBTAP_LOG_WARN, "%s: %s: tried again every cycle", ce->path, err);
	rc = senv_claim(&e->s, ce->path, ce, err, errlen);
	if (rc) {
		store_close(e->store);
		e->store = NULL;
		return rc;
	}
	e->claimed = 1;
	return 0;
}

int sync_open(struct sync_env *e, const struct cfg_env *ce, char *err, size_t errlen)
{
	int rc = sync_claim(e, ce, err, errlen);

	return rc ? rc : sync_open_claimed(e, err, errlen);
}

int sync_open_claimed(struct sync_env *e, char *err, size_t errlen)
{
	const struct cfg_env *ce = e->ce;
	int rc;

	e->claimed = 0;
	/* The env is ours: a store to create is created now. */
	rc = e->store ? 0 : store_open(ce->store, ce->store_opts, ce->nstore_opts, &e->store,
				       err, errlen);
	if (rc) {
		senv_close(&e->s);
		return rc;
	}
	rc = senv_open_claimed(&e->s, err, errlen);
	if (rc) {
		store_close(e->store);
		e->store = NULL;
		return rc;
	}
	store_set_file_mode(e->store, e->s.trust.mode);
	if (senv_file_id(&e->s, &e->dev, &e->ino))
		e->dev = e->ino = 0;
	e->started_ns = hlc_wall_ns();
	e->adopting = 1; /* until a local step commits: an adoption may be half done */
	rc = statfile_open(e->s.companion, &e->s.trust, &e->stats);
	if (rc) /* only `mdbtap stats` misses it */
		log_msg(MDBTAP_LOG_WARN, "%s: %s/%s: %s: `mdbtap stats` will not see this syncer",
			e->s.path, e->s.companion, STATFILE_NAME, err_str(rc));
	return 0;
}

void sync_close(struct sync_env *e)
{
	statfile_close(e->stats);
	e->stats = NULL;
	store_close(e->store);
	e->store = NULL;
	senv_close(&e->s);
}

static int readopt(struct dset *ds, struct meta_state *st, uint64_t upto, const char *why,
		   uint64_t newrecs, struct meta_adopt *ad);

/* The identity of the file an adoption reads (struct meta_adopt), as of
 * host txn txnid; each chunk adds its own txn's meta page (rescan.c). */
static void adopt_identity(struct senv *s, struct meta_adopt *ad, uint64_t txnid)
{
	if (senv_file_id(s, &ad->dev, &ad->ino))
		ad->dev = ad->ino = 0;
	ad->btime_ns = senv_file_btime(s);
	ad->fp_txnid = senv_meta_fp(s, txnid, ad->fp) ? 0 : txnid;
}

/* Whether the data file is not the one whose identity was taken (device
 * and inode, birth time, meta pages at fp_txnid and their digest fp; 0:
 * unknown, not compared; fp0 NULL: the digest not compared): why, or NULL. The meta page of a txn is
 * rewritten only two commits later: read twice, so that a page being
 * written is not taken for another. A copy written over the file in
 * place keeps its inode, and the lock file (shared with the env's
 * programs) still gives our read txn the old txn id: the file's own meta
 * pages show it went back. */
static const char *file_moved(struct senv *s, uint64_t dev0, uint64_t ino0, uint64_t btime0,
			      uint64_t fp_txnid, const uint8_t fp0[16])
{
	uint64_t dev, ino, btime, ftxn;
	uint8_t fp[16];

	if (ino0 && !senv_file_id(s, &dev, &ino) && (dev != dev0 || ino != ino0))
		return "its data file is another file";
	/* A new file may get the inode number the old one freed (ext4
	 * often does): its birth time differs. */
	if (btime0 && (btime = senv_file_btime(s)) && btime != btime0)
		return "its data file is another file (born at another time)";
	if (fp_txnid && !senv_file_txnid(s, &ftxn) && ftxn < fp_txnid)
		return "its data file holds an older txn than the one accounted for";
	for (int i = 0; fp_txnid && fp0; i++) {
		if (senv_meta_fp(s, fp_txnid, fp) || !memcmp(fp, fp0, sizeof(fp)))
			break;
		if (i == 1)
			return "its data file holds another txn under the same id";
		usleep(10000);
	}
	return NULL;
}

/* Whether the data file is not the one the adoption under way read (the
 * checks of replaced(), against what ad saved): why, or NULL. upto: the
 * host's txn id now. */
static const char *adopt_moved(struct senv *s, const struct meta_adopt *ad, uint64_t upto)
{
	if (upto < ad->upto || upto < ad->fp_txnid)
		return "its txn id went back";
	return file_moved(s, ad->dev, ad->ino, ad->btime_ns, ad->fp_txnid, ad->fp);
}

/* Adoption (docs/DESIGN.md §16, "Adoption"), first sight of an env or
 * a re-adoption: its data gets timestamp 0, so that any real write
 * anywhere wins over it (Lightning Stream's migration advice), read in
 * chunks of short host read txns, each chunk's metadata committed with
 * the position reached (ad), so that a killed syncer goes on from there.
 * Then the journal is folded from ad->fold_from up to the host snapshot
 * the scan ended in: the writes the tap journaled since the journal began
 * (or, for a re-adoption, since the new file's first record) and while
 * the scan ran keep their own timestamps; ids no record accounts for
 * are rescanned. *upto: the host txn id the fold went to. The caller
 * deletes nothing: ad is deleted here, in the meta txn the caller commits
 * with st, which says adopted only then. */
static int adopt(struct dset *ds, struct meta_state *st, struct meta_adopt *ad,
		 uint64_t *upto, struct fold_result *fr)
{
	struct senv *s = ds->s;
	uint64_t n = 0;
	int rc;

	ad->runs++;
	adopt_identity(s, ad, mdb_txn_id(ds->host));
	rc = meta_adopt_put(ds->mt, s->meta, ad); /* committed with the first chunk */
	if (!rc)
		rc = rescan_adopt(ds, ad, &n);
	if (rc)
		return rc;
	*upto = mdb_txn_id(ds->host);
	rc = meta_adopt_del(ds->mt, s->meta);
	if (rc)
		return rc;
	log_msg(MDBTAP_LOG_INFO, "%s: adopted %llu elements (host txns %llu to %llu, %llu chunks, "
		"%llu run%s)", s->path, (unsigned long long)ad->done, (unsigned long long)ad->upto,
		(unsigned long long)*upto, (unsigned long long)ad->chunks + 1,
		(unsigned long long)ad->runs, ad->runs == 1 ? "" : "s");
	memset(fr, 0, sizeof(*fr));
	st->adopted = 1;
	st->generation = meta_new_generation();
	st->chain_ns = hlc_wall_ns();
	st->exported = *upto;
	st->accounted = ad->fold_from;
	if (ad->consume_pos != UINT64_MAX) /* the old file's records go unread */
		journal_consume(s->jnl, ad->consume_pos, ad->fold_from);
	return fold_journal(ds, st, *upto, 0, fr);
}

/* An adoption to begin or to go on with, in ad; first sight of the env.
 * One saved by a run killed half-way over another data file (a backup
 * restored meanwhile) starts over: what it read was the old file's. */
static int adopt_first(struct dset *ds, struct meta_state *st, struct meta_adopt *ad,
		       uint64_t upto)
{
	struct senv *s = ds->s;
	uint64_t base = journal_header(s->jnl)->base_txnid;
	int rc = meta_adopt_get(ds->mt, s->meta, ad);
	const char *why;

	if (rc == 0 && (why = adopt_moved(s, ad, upto)) != NULL)
		return readopt(ds, st, upto, why, UINT64_MAX, ad);
	if (rc == 0) {
		log_msg(MDBTAP_LOG_INFO, "%s: resuming the adoption begun at txn %llu: %llu elements "
			"done in %llu chunks by %llu earlier run%s", s->path,
			(unsigned long long)ad->upto, (unsigned long long)ad->done,
			(unsigned long long)ad->chunks, (unsigned long long)ad->runs,
			ad->runs == 1 ? "" : "s");
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return rc;
	log_msg(MDBTAP_LOG_INFO, "%s: adopting the env (txn %llu): existing data gets timestamp 0, "
		"writes journaled since txn %llu their own", s->path, (unsigned long long)upto,
		(unsigned long long)base);
	memset(ad, 0, sizeof(*ad));
	ad->upto = upto;
	ad->fold_from = base < upto ? base : upto;
	ad->consume_pos = UINT64_MAX;
	return 0;
}

/* Whether the journal holds a committed record, written since the last
 * look, whose txn id is not above an earlier committed one's: a writer
 * of another file (a restored copy) reused txn ids. *at: where the first
 * such record is (the new file's records start there); *low: where the
 * first committed record not above upto is (UINT64_MAX: none). Updates
 * st->jpos and st->jmax. */
static int journal_reused(struct senv *s, struct meta_state *st, uint64_t upto, uint64_t *at,
			  uint64_t *low)
{
	struct mdbtap_journal_header *h = journal_header(s->jnl);
	struct journal_reader rd = { 0 };
	struct journal_entry e;
	uint64_t pos = journal_load(&h->tail), head = journal_load(&h->head);
	int reused = 0, rc;

	if (st->jpos > head) /* a new journal: start over */
		st->jpos = st->jmax = 0;
	if (st->jpos > pos)
		pos = st->jpos;
	/* A writer's record precedes its commit, so the records of ids up to
	 * the accounted one were all there at our last look, but for our own
	 * merges' (accounted at once): a tapped one seen now is the new
	 * file's, even when we had read none of the old file's records
	 * (adopted from its data). Not before a first look (jpos 0): from the
	 * tail, records already folded may still be there. */
	uint64_t old_ids = st->jpos ? st->accounted : 0;
	while ((rc = journal_read(s->jnl, pos, &rd, &e)) == 1) {
		/* A record left PENDING (its writer died after LMDB's commit)
		 * counts too: its txn may be the new file's only tapped one
		 * below the accounted id, the next ones above it. */
		if (!e.pad && !reused && e.state == MDBTAP_STATE_PENDING && e.hdr.txnid &&
		    e.hdr.txnid <= old_ids && !(e.hdr.flags & MDBTAP_REC_SYNCER)) {
			reused = 1;
			*at = pos;
		}
		if (!e.pad && e.state == MDBTAP_STATE_COMMITTED) {
			if (*low == UINT64_MAX && e.hdr.txnid <= upto)
				*low = pos;
			if (!reused && ((st->jmax && e.hdr.txnid <= st->jmax) ||
					(e.hdr.txnid <= old_ids && !(e.hdr.flags & MDBTAP_REC_SYNCER)))) {
				reused = 1;
				*at = pos;
			}
			st->jmax = e.hdr.txnid;
		}
		pos = e.next;
	}
	st->jpos = pos;
	journal_reader_free(&rd);
	return reused;
}

/* Whether the file under the companion dir is no longer the one the
 * metadata accounts for (docs/DESIGN.md §11); why, in *why. *newrecs:
 * where the journal's records of the new file begin, when known, else
 * UINT64_MAX. */
static int replaced(struct senv *s, struct meta_state *st, uint64_t upto, const char **why,
		    uint64_t *newrecs)
{
	uint64_t low = UINT64_MAX;
	int reused = journal_reused(s, st, upto, newrecs, &low);

	if (!reused)
		*newrecs = UINT64_MAX;
	if (upto < st->accounted) {
		/* Records written since the last look by the old file have
		 * txn ids above the accounted one, so above upto: the first
		 * one not above it is the new file's first. */
		if (!reused)
			*newrecs = low;
		*why = "its txn id went back";
		return 1;
	}
	/* An older syncer's digest (fp_kind) is not compared. */
	*why = file_moved(s, st->dev, st->ino, st->btime_ns, st->fp_txnid,
			  st->fp_kind == SENV_META_FP_KIND ? st->fp : NULL);
	if (*why)
		return 1;
	if (reused) {
		*why = "the journal shows its txn ids written again";
		return 1;
	}
	return 0;
}

/* Take the env as new: forget all metadata (remote progress too, so that
 * the fleet's full snapshots are loaded again) and adopt what the file
 * holds at timestamp 0, so that nothing missing from it is a delete and
 * nothing in it beats a real write. The journal's records of the old file
 * are consumed unread; those of the new one (from newrecs, when known;
 * else those written from now on) are folded, keeping their timestamps,
 * as at a first adoption. Sets up ad for adopt(), in the meta txn the
 * reset is in (committed with adopt()'s first chunk). */
static int readopt(struct dset *ds, struct meta_state *st, uint64_t upto, const char *why,
		   uint64_t newrecs, struct meta_adopt *ad)
{
	struct senv *s = ds->s;
	struct mdbtap_journal_header *h = journal_header(s->jnl);
	struct journal_reader rd = { 0 };
	struct journal_entry e;
	uint64_t first = 0;
	int rc;

	log_msg(MDBTAP_LOG_WARN, "%s: the env was replaced (%s): re-adopting it at timestamp 0 "
		"as a new chain; nothing missing from it is deleted elsewhere", s->path, why);
	rc = meta_reset(ds->mt, s->meta);
	if (rc)
		return rc;
	memset(st, 0, sizeof(*st));
	memset(ad, 0, sizeof(*ad));
	ad->upto = upto;
	if (newrecs != UINT64_MAX && journal_read(s->jnl, newrecs, &rd, &e) == 1 &&
	    e.hdr.txnid > 0 && e.hdr.txnid <= upto)
		first = e.hdr.txnid;
	journal_reader_free(&rd);
	if (first) { /* the old file's records go; the fold starts at the new file's */
		ad->consume_pos = newrecs;
		ad->fold_from = first - 1;
	} else { /* every record so far is the old file's, or accounted in upto */
		ad->consume_pos = journal_load(&h->head);
		ad->fold_from = upto;
	}
	s->stats.readoptions++;
	mapfull_forget(s); /* what was merged into the old file may be gone */
	return 0;
}

/* The env's identity as of txn upto, for replaced() next time. */
static void take_identity(struct senv *s, struct meta_state *st, uint64_t upto)
{
	if (senv_file_id(s, &st->dev, &st->ino))
		st->dev = st->ino = 0;
	st->btime_ns = senv_file_btime(s);
	st->fp_txnid = senv_meta_fp(s, upto, st->fp) ? 0 : upto;
	st->fp_kind = SENV_META_FP_KIND;
}

static const char *hostname(void)
{
	static char name[256];

	if (!name[0] && gethostname(name, sizeof(name) - 1) != 0)
		snprintf(name, sizeof(name), "unknown");
	return name;
}

/* Which DBIs are synced (include/exclude), as a number kept in the
 * metadata: when it changes, the host's DBIs are looked for new ones. */
static uint64_t selection_id(const struct cfg_env *ce)
{
	XXH64_state_t *x = XXH64_createState();
	uint64_t id = 0;

	if (x && XXH64_reset(x, 0) == XXH_OK) {
		XXH64_update(x, ce->ninclude ? "i" : "e", 1);
		for (size_t i = 0; i < ce->ninclude + ce->nexclude; i++) {
			const char *n = ce->ninclude ? ce->include[i] : ce->exclude[i];

			XXH64_update(x, n, strlen(n) + 1);
		}
		id = XXH64_digest(x);
	}
	XXH64_freeState(x);
	return id | 1; /* 0: metadata that never looked */
}

/* The names our objects go under (instance, db), as a number kept in the
 * metadata: a chain is exported under one name only (receivers follow a
 * chain by its name). */
static uint64_t name_id(const char *instance, const char *db)
{
	uint64_t id = XXH64(instance, strlen(instance) + 1, XXH64(db, strlen(db) + 1, 0));

	return id | 1; /* 0: metadata that never kept it */
}

/* Before a new chain's first object: the newest object of our name of
 * another chain in the store (its past, docs/DESIGN.md §11), kept in st
 * (past_gen, past_ns) so that the chain's names sort after it
 * (export.c): receivers follow an instance's newest-named chain. The
 * host's read txn and lock are let go while the store lists (it may be
 * slow) and taken again: the export is a full snapshot, which may read
 * newer host txns (§18.3). *listed: the store's failure (then nothing is
 * exported this step); returns the host's. */
static int list_own_past(struct sync_env *e, const struct cfg *c, MDB_txn **host,
			 struct meta_state *st, int *listed)
{
	struct receive_args ra = { e->ce->name, c->instance, c->max_future_ns, 0, 0, 0 };
	struct senv *s = &e->s;
	uint64_t newest = 0;
	int rc;

	mdb_txn_commit(*host); /* a read txn: keeps the DBI handles it opened */
	*host = NULL;
	senv_unlock(s);
	*listed = receive_own_newest(e->store, &ra, st->generation, &newest);
	if (*listed) {
		log_msg(MDBTAP_LOG_ERROR, "%s: listing our objects: %s", s->path,
			store_error(e->store));
	} else {
		st->past_gen = st->generation;
		st->past_ns = newest;
	}
	rc = senv_lock(s, 0);
	if (rc)
		return rc;
	rc = mdb_txn_begin(s->host, NULL, MDB_RDONLY, host);
	if (rc == MDB_MAP_RESIZED && !(rc = mdb_env_set_mapsize(s->host, 0)))
		rc = mdb_txn_begin(s->host, NULL, MDB_RDONLY, host);
	return rc;
}

static int local_step(struct sync_env *e, const struct cfg *c)
{
	struct senv *s = &e->s;
	struct export_args xa = { e->ce->name, c->instance, hostname(), 0, 0, 0 };
	struct fold_result fr = { 0 };
	struct meta_state st;
	struct meta_adopt ad;
	struct export_obj obj = { .fd = -1 };
	MDB_txn *host = NULL, *mt = NULL, *xt = NULL;
	struct dset ds;
	uint64_t now = hlc_wall_ns();
	struct timespec t0, t1;
	int rc, made = 0, adopted_now = 0, upload_rc = 0, listed = 0;
	const char *phase = "opening txns"; /* for the log, when it fails */
	const char *why = NULL;
	uint64_t newrecs;

	clock_gettime(CLOCK_MONOTONIC, &t0);

	rc = senv_lock(s, 0);
	if (rc) {
		log_msg(MDBTAP_LOG_WARN, "%s: the host's lock: %s", s->path, err_str(rc));
		return rc;
	}
	rc = mdb_txn_begin(s->host, NULL, MDB_RDONLY, &host);
	if (rc == MDB_MAP_RESIZED && !(rc = mdb_env_set_mapsize(s->host, 0)))
		rc = mdb_txn_begin(s->host, NULL, MDB_RDONLY, &host);
	if (!rc)
		rc = mdb_txn_begin(meta_env(s->meta), NULL, 0, &mt);
	if (rc)
		goto out;
	xa.upto = mdb_txn_id(host);
	phase = "folding the journal";
	elem_set_init(&ds, s, host, mt); /* no metadata handle cached before a reset */
	ds.chunk = elem_scan_chunk(); /* adoption and rescans: docs/DESIGN.md §16 */
	rc = meta_state_get(mt, s->meta, &st);
	if (!rc && st.adopted && replaced(s, &st, xa.upto, &why, &newrecs)) {
		e->adopting = 1;
		rc = readopt(&ds, &st, xa.upto, why, newrecs, &ad);
		if (!rc)
			rc = adopt(&ds, &st, &ad, &xa.upto, &fr);
		if (!rc)
			st.jpos = journal_load(&journal_header(s->jnl)->head);
		adopted_now = 1;
	} else if (!rc && !st.adopted) {
		e->adopting = 1;
		rc = adopt_first(&ds, &st, &ad, xa.upto);
		if (!rc)
			rc = adopt(&ds, &st, &ad, &xa.upto, &fr);
		adopted_now = 1;
	} else if (!rc) {
		rc = fold_journal(&ds, &st, xa.upto, 0, &fr);
		if (!rc && fr.restarted) {
			st.generation = meta_new_generation();
			st.chain_ns = hlc_wall_ns();
			st.exported = xa.upto;
			e->force_full = 1;
		}
	}
	if (adopted_now)
		st.selection = selection_id(e->ce); /* it adopted every selected DBI */
	if (!rc && !adopted_now && st.name_id && st.name_id != name_id(c->instance, e->ce->name)) {
		/* Renamed: receivers take the new name for a new instance and
		 * wait for its full snapshot; the old chain's deltas would be
		 * skipped. */
		log_msg(MDBTAP_LOG_INFO, "%s: its instance or env name changed (now '%s', '%s'): "
			"a new chain begins with a full snapshot", s->path, c->instance, e->ce->name);
		st.generation = meta_new_generation();
		st.chain_ns = hlc_wall_ns();
		st.exported = xa.upto;
		e->force_full = 1;
	}
	st.name_id = name_id(c->instance, e->ce->name);
	if (!rc && !adopted_now && !fr.waiting && st.selection != selection_id(e->ce)) {
		/* A DBI an include/exclude change selected: its data is
		 * adopted (with the journal folded, every other DBI the host
		 * has is known by now). Only when the selection changed:
		 * listing the host's DBIs walks its unnamed DBI, which may
		 * hold all of its data; a DBI made later is known from the
		 * journal, or from the rescan of a txn id nobody accounted
		 * for. */
		uint64_t n = 0, dbis = 0, forgot = 0;

		rc = rescan_unknown(&ds, &n, &dbis);
		/* What the others wrote to a DBI we skipped is in their
		 * objects we applied without it: their newest full snapshots
		 * (and the deltas after) are loaded again (idempotent). */
		if (!rc)
			rc = meta_remote_forget(ds.mt, s->meta, &forgot);
		if (!rc)
			st.selection = selection_id(e->ce);
		if (!rc && forgot)
			log_msg(MDBTAP_LOG_INFO, "%s: the DBIs synced changed: the newest full snapshots "
				"of %llu instance(s) are loaded again", s->path,
				(unsigned long long)forgot);
		if (!rc && dbis)
			log_msg(MDBTAP_LOG_INFO, "%s: adopted %llu newly synced DBI(s): %llu elements "
				"at timestamp 0", s->path, (unsigned long long)dbis,
				(unsigned long long)n);
		/* Their data came with no new txn id: an object of this chain
		 * would claim a range receivers that keep up already have, and
		 * they would skip it. A new chain's full snapshot they load. */
		if (!rc && n) {
			st.generation = meta_new_generation();
			st.chain_ns = hlc_wall_ns();
			st.exported = xa.upto;
			e->force_full = 1;
		}
	}
	if (!rc)
		rc = elem_set_flush(&ds, 0);
	else
		elem_set_flush(&ds, 1);
	host = ds.host; /* a chunked scan moved on to newer txns */
	mt = ds.mt;
	if (rc)
		goto out;
	xa.full = adopted_now || e->force_full || !st.last_full_ns ||
		  (e->ce->full_interval_ns && now - st.last_full_ns >= e->ce->full_interval_ns);
	xa.full_if_changed = e->compact;
	if (xa.full && st.past_gen != st.generation) {
		phase = "listing our objects";
		rc = list_own_past(e, c, &host, &st, &listed);
		if (rc)
			goto out;
	}
	/* The export forgets the changed sets in a child txn: if the upload
	 * fails, only that is undone, and the fold (an adoption's rescan too)
	 * is kept rather than done again every cycle while the store is down
	 * (or could not list our objects). */
	phase = "exporting";
	receive_own_note(s, &st); /* before our first object of this chain */
	if (!listed) /* else exported next time */
		rc = mdb_txn_begin(meta_env(s->meta), mt, 0, &xt);
	if (!rc && xt)
		rc = export_build(s, &host, xt, &st, &xa, &obj);
	if (rc)
		goto out;
	/* The object is whole in its file: let go of the host's snapshot and
	 * lock before the upload, which may take long (docs/DESIGN.md
	 * §21). */
	mdb_txn_commit(host); /* a read txn: keeps the DBI handles it opened */
	host = NULL;
	senv_unlock(s);
	made = obj.fd >= 0;
	phase = "uploading";
	if (made)
		upload_rc = export_upload(s, e->store, &st, &obj);
	if (upload_rc) {
		made = 0;
		mdb_txn_abort(xt);
	} else if (xt) {
		if (made)
			receive_own_made(s, st.generation, st.last_obj_ns);
		rc = mdb_txn_commit(xt);
	} else {
		upload_rc = listed;
	}
	xt = NULL;
	if (rc)
		goto out;
	phase = "committing the metadata";
	if (!st.chain_ns)
		st.chain_ns = now; /* metadata of a version that did not keep it */
	take_identity(s, &st, xa.upto);
	rc = meta_state_put(mt, s->meta, &st);
	if (!rc)
		rc = mdb_txn_commit(mt);
	mt = NULL;
	if (!rc)
		rc = mdb_env_sync(meta_env(s->meta), 1);
	if (rc)
		goto out;
	journal_consume(s->jnl, fr.tail, st.accounted);
	e->adopting = 0;
	if (made && (xa.full || xa.full_if_changed))
		e->force_full = e->compact = 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (made || fr.records)
		log_msg(MDBTAP_LOG_INFO, "%s: local step: %llu records folded, %s in %.3f ms", s->path,
			(unsigned long long)fr.records,
			!made ? "nothing exported" :
			xa.full || xa.full_if_changed ? "full snapshot" : "delta",
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
out:
	export_discard(&obj);
	if (xt)
		mdb_txn_abort(xt);
	if (mt)
		mdb_txn_abort(mt);
	if (host)
		mdb_txn_commit(host);
	senv_unlock(s);
	if (rc)
		log_msg(MDBTAP_LOG_ERROR, "%s: local step, %s: %s (%d)", s->path, phase, err_str(rc),
			rc);
	else if (upload_rc)
		log_msg(MDBTAP_LOG_ERROR, "%s: local step, %s: %s (%d); the changes go with the "
			"next object", s->path, listed ? "listing our objects" : "uploading",
			err_str(upload_rc), upload_rc);
	return rc ? rc : upload_rc;
}

/* Was the last sweep of this env, by any run, less than every ago? */
static int sweep_recent(struct sync_env *e, uint64_t now, uint64_t every)
{
	struct meta_state st;
	MDB_txn *t;
	int rc = mdb_txn_begin(meta_env(e->s.meta), NULL, MDB_RDONLY, &t);

	if (rc)
		return 0;
	rc = meta_state_get(t, e->s.meta, &st);
	mdb_txn_abort(t);
	return !rc && st.swept_ns && st.swept_ns <= now && now - st.swept_ns < every;
}

/* Keep the time of a whole sweep for the next run (sweep_recent). */
static int sweep_remember(struct sync_env *e, uint64_t now)
{
	struct meta_state st;
	MDB_txn *t;
	int rc = mdb_txn_begin(meta_env(e->s.meta), NULL, 0, &t);

	if (rc)
		return rc;
	rc = meta_state_get(t, e->s.meta, &st);
	if (!rc) {
		st.swept_ns = now;
		rc = meta_state_put(t, e->s.meta, &st);
	}
	if (rc) {
		mdb_txn_abort(t);
		return rc;
	}
	return mdb_txn_commit(t);
}

/* Forget tombstones past the retention, every sweep_interval(); count
 * those held (hourly when none are forgotten, retention 0). */
static int sweep_step(struct sync_env *e, const struct cfg *c)
{
	uint64_t now = hlc_wall_ns(), swept = 0, held = 0;
	uint64_t every = c->tombstone_retention_ns ? sweep_interval(c->tombstone_retention_ns) :
		SWEEP_COUNT_INTERVAL;
	struct timespec t0, t1;
	int rc;

	if (!e->swept_ns && c->once && sweep_recent(e, now, every))
		return 0; /* a --once run: no pass over every element unless due */
	if (e->swept_ns && now - e->swept_ns < every)
		return 0;
	e->swept_ns = now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sweep_env(&e->s, sweep_cutoff(now, c->tombstone_retention_ns), &swept, &held);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	e->s.stats.tombstones_swept += swept;
	if (!rc) {
		e->s.stats.tombstones = held;
		e->s.stats.tombstones_counted_ns = now;
	}
	if (!rc)
		rc = sweep_remember(e, now);
	if (rc)
		log_msg(MDBTAP_LOG_ERROR, "%s: sweeping tombstones: %s (%d)", e->s.path, err_str(rc),
			rc);
	else if (swept)
		log_msg(MDBTAP_LOG_INFO, "%s: swept %llu tombstones older than the retention in %.3f ms",
			e->s.path, (unsigned long long)swept,
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				(double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return rc;
}

/* A data file replaced while we run (mv, rm and restore): our map still
 * shows the old file. Open the new one; local_step then re-adopts it. */
static int reopen_if_replaced(struct sync_env *e)
{
	uint64_t dev, ino;
	char err[1024];
	int rc;

	if (!e->ino || senv_file_id(&e->s, &dev, &ino) || (dev == e->dev && ino == e->ino))
		return 0;
	log_msg(MDBTAP_LOG_WARN, "%s: its data file was replaced: opening the new one",
		e->s.path);
	senv_close(&e->s);
	rc = senv_open(&e->s, e->ce->path, e->ce, 0, err, sizeof(err));
	if (rc) {
		log_msg(MDBTAP_LOG_ERROR, "%s; this env stops syncing", err);
		e->halted = 1;
		return rc;
	}
	if (senv_file_id(&e->s, &e->dev, &e->ino))
		e->dev = e->ino = 0;
	return 0;
}

/* After a cycle that began at t0 (dur_mono_ns) and ended with rc (what: the
 * store's words for it, or NULL): e->pub, and the stats file. */
static void publish(struct sync_env *e, const struct cfg *c, uint64_t t0, int rc,
		    const char *what)
{
	struct statfile_data *d = &e->pub;
	uint64_t took = dur_mono_ns() - t0, now = hlc_wall_ns();

	d->pid = (uint64_t)getpid();
	d->started_ns = e->started_ns;
	d->updated_ns = now;
	d->cycles = e->cycles;
	d->poll_interval_ns = c->poll_interval_ns;
	d->store = *store_stats(e->store);
	d->env = e->s.stats;
	snprintf(d->store_url, sizeof(d->store_url), "%s", store_url(e->store));
	d->last_cycle_ns = took;
	hist_observe_ns(&d->cycle, took);
	if (rc) {
		d->failed_cycles++;
		d->last_error_ns = now;
		snprintf(d->last_error, sizeof(d->last_error), "%s",
			 what && *what ? what : err_str(rc));
	} else {
		d->last_ok_ns = now;
	}
	if (e->s.meta && (rc = statfile_gather(&e->s, d)) != 0)
		log_msg(MDBTAP_LOG_DEBUG, "%s: reading the metadata for the stats: %s", e->s.path,
			err_str(rc));
	if (e->stats)
		statfile_update(e->stats, d);
}

int sync_cycle(struct sync_env *e, const struct cfg *c, unsigned what)
{
	uint64_t t0 = dur_mono_ns();
	struct receive_args ra = { e->ce->name, c->instance, c->max_future_ns, c->keep_ns,
				   c->tombstone_retention_ns, c->max_object_size };
	struct receive_out ro = { 0 };
	uint64_t size, need;
	int rc, rc2 = 0;

	rc = reopen_if_replaced(e);
	if (rc)
		return rc;
	if (senv_file_short(&e->s, &size, &need)) {
		/* Being copied over in place (cp truncates first): LMDB's map
		 * would fault past the file's end. The next cycle looks again,
		 * and local_step re-adopts the file once whole. A file that
		 * shrinks after this check is cmd_sync's SIGBUS handler's. */
		log_msg(MDBTAP_LOG_WARN, "%s: the data file has %llu bytes, its env needs %llu "
			"(written over in place?): this cycle skipped", e->s.path,
			(unsigned long long)size, (unsigned long long)need);
		publish(e, c, t0, EAGAIN, "the data file is shorter than the env needs");
		return EAGAIN;
	}
	if (what & SYNC_LOCAL) {
		/* Before the fold: a commit that ends after this shows as a
		 * change when the syncer next decides whether to sleep. */
		journal_mark(e->s.jnl, &e->mark);
		rc = sweep_step(e, c); /* first: a full snapshot now leaves them out */
		if (!rc)
			rc = local_step(e, c);
	}
	if (e->adopting) {
		/* Not merged into before the adoption ends (a local step
		 * committed it): a merge's fold would take the data not
		 * adopted yet for unseen writes (stamped now, not at 0). */
		e->cycles++;
		return rc;
	}
	if (!(what & SYNC_RECEIVE))
		goto done;

	store_set_max_get(e->store, c->max_object_size);
	snap_set_max_expanded(c->max_object_expanded);
	rc2 = receive_once(&e->s, e->store, &ra, &ro);
	if (!rc && !rc2 && ro.deferred) {
		/* A merge left a long rescan to the local step (merge.h):
		 * done now, in chunks, then receiving goes on. The merge then
		 * does not defer again (MERGE_DEFER_MAX): if the local step
		 * could not rescan (a live writer's PENDING record holds its
		 * fold) or a writer without the tap committed again, it
		 * rescans in its own txn, as before. */
		struct receive_out first = ro;

		journal_mark(e->s.jnl, &e->mark);
		rc = local_step(e, c);
		if (!rc)
			rc2 = receive_once(&e->s, e->store, &ra, &ro);
		ro.applied += first.applied;
		ro.past += first.past;
		ro.restarted |= first.restarted;
		if (!ro.blocked)
			ro.blocked = first.blocked;
	}
	if (rc2 == RECEIVE_NAME_CLASH) {
		e->halted = 1;
		publish(e, c, t0, rc2, "another env writes objects under this instance name: "
			"stopped");
		senv_close(&e->s);
		return rc2;
	}
	if (ro.want == CLEAN_FULL_NEXT)
		e->compact = 1;
	if (ro.past || ro.restarted) /* our own older chains' data: only a
				      * full snapshot of ours can carry it to
				      * those who never followed them; a new
				      * chain begins with one */
		ro.want = CLEAN_FULL_NOW;
	if (!rc && !rc2 && ro.want == CLEAN_FULL_NOW) {
		/* Idle: a full snapshot now supersedes our deltas (clean.h); the
		 * next listing lets them go. */
		e->force_full = 1;
		rc = local_step(e, c);
	}
done:
	e->cycles++;
	if (!rc && !rc2 && ro.blocked) {
		/* The env cannot take another instance's data: the cycle
		 * failed (not ready, /healthz unwell), whatever else it did. */
		publish(e, c, t0, ro.blocked, ro.blocked == MDB_MAP_FULL ?
			"objects of other instances do not fit in the host's map" : NULL);
		return ro.blocked;
	}
	publish(e, c, t0, rc ? rc : rc2, rc ? NULL : rc2 ? store_error(e->store) : NULL);
	return rc ? rc : rc2;
}
