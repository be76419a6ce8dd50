/* sync.c: see sync.h. */
#include "sync.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "elem.h"
#include "export.h"
#include "fold.h"
#include "hlc.h"
#include "log.h"
#include "receive.h"
#include "rescan.h"
#include "snap.h"
#include "statfile.h"
#include "store.h"
#include "sweep.h"

int sync_open(struct sync_env *e, const struct cfg_env *ce, char *err, size_t errlen)
{
	int rc;

	memset(e, 0, sizeof(*e));
	e->ce = ce;
	rc = senv_open(&e->s, ce->path, ce, 0, err, errlen);
	if (rc)
		return rc;
	rc = store_open(ce->store, ce->store_opts, ce->nstore_opts, &e->store, err, errlen);
	if (rc) {
		senv_close(&e->s);
		return rc;
	}
	store_set_file_mode(e->store, e->s.trust.mode);
	e->started_ns = hlc_wall_ns();
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

static uint64_t new_generation(void)
{
	uint64_t g = 0;

	if (getrandom(&g, sizeof(g), 0) != (ssize_t)sizeof(g))
		g = hlc_wall_ns() ^ ((uint64_t)getpid() << 32);
	return g ? g : 1;
}

/* First sight of an env: its data gets timestamp 0, so that any real
 * write anywhere wins over it (Lightning Stream's migration advice). Then
 * the writes the tap journaled since the journal began (before this
 * syncer ever ran) are folded as usual and keep their own timestamps;
 * txn ids no record accounts for keep timestamp 0. */
static int adopt(struct dset *ds, struct meta_state *st, uint64_t upto,
		 struct fold_result *fr)
{
	uint64_t n = 0, base = journal_header(ds->s->jnl)->base_txnid;
	int rc;

	log_msg(MDBTAP_LOG_INFO, "%s: adopting the env (txn %llu): existing data gets timestamp 0, "
		"writes journaled since txn %llu their own", ds->s->path,
		(unsigned long long)upto, (unsigned long long)base);
	rc = rescan_all(ds, 0, 0, &n);
	if (rc)
		return rc;
	st->adopted = 1;
	st->generation = new_generation();
	st->accounted = base < upto ? base : upto;
	st->exported = upto;
	log_msg(MDBTAP_LOG_INFO, "%s: adopted %llu elements", ds->s->path, (unsigned long long)n);
	return fold_journal(ds, st, upto, 0, fr);
}

static const char *hostname(void)
{
	static char name[256];

	if (!name[0] && gethostname(name, sizeof(name) - 1) != 0)
		snprintf(name, sizeof(name), "unknown");
	return name;
}

static int local_step(struct sync_env *e, const struct cfg *c)
{
	struct senv *s = &e->s;
	struct export_args xa = { e->ce->name, c->instance, hostname(), 0, 0, 0 };
	struct fold_result fr = { 0 };
	struct meta_state st;
	struct export_obj obj = { .fd = -1 };
	MDB_txn *host = NULL, *mt = NULL, *xt = NULL;
	struct dset ds;
	uint64_t now = hlc_wall_ns();
	struct timespec t0, t1;
	int rc, made = 0, adopted_now = 0, upload_rc = 0;
	const char *phase = "opening txns"; /* for the log, when it fails */

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
	elem_set_init(&ds, s, host, mt);
	rc = meta_state_get(mt, s->meta, &st);
	if (!rc && !st.adopted) {
		rc = adopt(&ds, &st, xa.upto, &fr);
		adopted_now = 1;
	} else if (!rc) {
		rc = fold_journal(&ds, &st, xa.upto, 0, &fr);
		if (!rc && fr.restarted) {
			st.generation = new_generation();
			st.exported = xa.upto;
			e->force_full = 1;
		}
	}
	if (!rc)
		rc = elem_set_flush(&ds, 0);
	else
		elem_set_flush(&ds, 1);
	if (rc)
		goto out;
	xa.full = adopted_now || e->force_full || !st.last_full_ns ||
		  (e->ce->full_interval_ns && now - st.last_full_ns >= e->ce->full_interval_ns);
	xa.full_if_changed = e->compact;
	/* The export forgets the changed sets in a child txn: if the upload
	 * fails, only that is undone, and the fold (an adoption's rescan too)
	 * is kept rather than done again every cycle while the store is down. */
	phase = "exporting";
	rc = mdb_txn_begin(meta_env(s->meta), mt, 0, &xt);
	if (!rc)
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
	} else {
		rc = mdb_txn_commit(xt);
	}
	xt = NULL;
	if (rc)
		goto out;
	phase = "committing the metadata";
	rc = meta_state_put(mt, s->meta, &st);
	if (!rc)
		rc = mdb_txn_commit(mt);
	mt = NULL;
	if (!rc)
		rc = mdb_env_sync(meta_env(s->meta), 1);
	if (rc)
		goto out;
	journal_consume(s->jnl, fr.tail, st.accounted);
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
		log_msg(MDBTAP_LOG_ERROR, "%s: local step, uploading: %s (%d); the changes go with the "
			"next object", s->path, err_str(upload_rc), upload_rc);
	return rc ? rc : upload_rc;
}

/* Forget tombstones past the retention, every sweep_interval(). */
static int sweep_step(struct sync_env *e, const struct cfg *c)
{
	uint64_t now = hlc_wall_ns(), swept = 0;
	struct timespec t0, t1;
	int rc;

	if (!c->tombstone_retention_ns ||
	    now - e->swept_ns < sweep_interval(c->tombstone_retention_ns))
		return 0;
	e->swept_ns = now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sweep_env(&e->s, sweep_cutoff(now, c->tombstone_retention_ns), &swept);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	e->s.stats.tombstones_swept += swept;
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

int sync_cycle(struct sync_env *e, const struct cfg *c)
{
	struct receive_args ra = { e->ce->name, c->instance, c->max_future_ns, c->keep_ns,
				   c->tombstone_retention_ns, c->max_object_size };
	struct receive_out ro;
	int rc = sweep_step(e, c), rc2; /* first: a full snapshot now leaves them out */

	if (!rc)
		rc = local_step(e, c);

	store_set_max_get(e->store, c->max_object_size);
	snap_set_max_expanded(c->max_object_expanded);
	rc2 = receive_once(&e->s, e->store, &ra, &ro);
	if (ro.want == CLEAN_FULL_NEXT)
		e->compact = 1;
	if (!rc && !rc2 && ro.want == CLEAN_FULL_NOW) {
		/* Idle: a full snapshot now supersedes our deltas (clean.h); the
		 * next listing lets them go. */
		e->force_full = 1;
		rc = local_step(e, c);
	}
	e->cycles++;
	if (e->stats) {
		struct statfile_data d = { (uint64_t)getpid(), e->started_ns, hlc_wall_ns(),
					   e->cycles, c->poll_interval_ns, *store_stats(e->store),
					   e->s.stats, "" };

		snprintf(d.store_url, sizeof(d.store_url), "%s", store_url(e->store));
		statfile_update(e->stats, &d);
	}
	return rc ? rc : rc2;
}
