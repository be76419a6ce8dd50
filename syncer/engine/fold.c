/* fold.c: see fold.h. */
#include "fold.h"
#include "err.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "acct.h"
#include "hlc.h"
#include "log.h"
#include "out.h"
#include "ownorder.h"
#include "record.h"
#include "rescan.h"

/* How long a record may stay PENDING with its txn committed and its
 * writer alive before the fold stops waiting and treats it as in doubt. */
#define FOLD_PENDING_PATIENCE_NS (10ull * 1000000000ull)

/* What an in-doubt record's ops show of its commit (bits). */
#define SHOW_YES 1u   /* an element it names changed, and nothing newer explains it */
#define SHOW_NO 2u    /* one it names did not change, or an op nothing can show */

/* Whether the element (key[, dupval]) shows a write at ts: the host
 * differs from its metadata. An element whose metadata is as new as ts
 * or newer (a later record, a merge) shows nothing either way. */
static int elem_shows(struct dset *ds, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
		      uint64_t ts, unsigned *show)
{
	struct meta_elem old;
	uint8_t hash[16] = { 0 };
	MDB_val v;
	int rc = meta_elem_get(ds->mt, &c->h, key, dupval, &old), have, live, same;

	if (rc && rc != MDB_NOTFOUND)
		return rc;
	have = rc == 0;
	if (have && old.ts >= ts)
		return 0;
	rc = elem_host_get(ds, c, key, dupval, &v, &live);
	if (rc)
		return rc;
	if (live && !c->h.dupsort)
		meta_hash(v.mv_data, v.mv_size, hash);
	if (!have)
		same = !live;
	else if (old.flags & META_DELETED)
		same = !live;
	else
		same = live && !memcmp(old.hash, hash, sizeof(hash));
	*show |= same ? SHOW_NO : SHOW_YES;
	return 0;
}

/* DUPSORT: every value the key had (all that the metadata knows): stamp
 * each (show NULL), or add what each shows of a write at ts to *show. */
static int each_key_value(struct dset *ds, struct dctx *c, const MDB_val *key, uint64_t ts,
			  unsigned how, uint64_t *stamped, unsigned *show)
{
	MDB_cursor *cur;
	MDB_val k = *key, v;
	int rc = mdb_cursor_open(ds->mt, c->h.vals, &cur);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		rc = show ? elem_shows(ds, c, &k, &v, ts, show) :
			    elem_stamp(ds, c, &k, &v, ts, how, stamped);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Why an element op names what no LMDB DBI can hold (an empty key, one
 * over the env's limit: the tap journals calls LMDB refused), or NULL.
 * LMDB refuses such a key in the metadata too (MDB_BAD_VALSIZE), which
 * would stop the fold at this record for ever. */
static const char *unholdable(const struct dset *ds, const struct dctx *c,
			      const struct record_op *op)
{
	size_t maxkey = (size_t)mdb_env_get_maxkeysize(ds->s->host);

	if (op->type != MDBTAP_OP_PUT && op->type != MDBTAP_OP_DEL &&
	    op->type != MDBTAP_OP_DELALL)
		return NULL;
	if (!op->klen)
		return "an empty key, which LMDB cannot hold";
	if (op->klen > maxkey)
		return "a key over LMDB's size limit";
	if (c->h.dupsort && (op->flags & MDBTAP_OPF_VALUE) && op->vlen > maxkey)
		return "a DUPSORT value over LMDB's size limit";
	return NULL;
}

/* Skip an element op the fold cannot take: logged, counted, and the rest
 * of the record and of the journal folded (such an element cannot be in
 * the host, so nothing is lost). */
static void skip_op(struct dset *ds, const struct record_op *op, uint64_t txnid,
		    const char *why, const char *then)
{
	char shown[200];

	ds->s->stats.elems_unfoldable++;
	log_msg(MDBTAP_LOG_WARN, "%s: txn %llu: DBI '%s': %s: %s (counted as unfoldable "
		"in `mdbtap stats`)", ds->s->path, (unsigned long long)txnid,
		op->name_len ? out_escape(shown, sizeof(shown), op->name, op->name_len) : "-",
		why, then);
}

/* After a rescan that returned rc: counted, unless it was left to a
 * local step (RESCAN_TOO_LONG: it runs again there, and counts there);
 * one done in chunks says so. */
static int rescanned(struct dset *ds, enum senv_rescan_why why, struct fold_result *res, int rc)
{
	if (rc == RESCAN_TOO_LONG)
		return rc;
	res->rescanned = 1;
	senv_count_rescan(&ds->s->stats, why);
	if (why == SENV_RESCAN_LOSSY)
		ds->s->stats.lossy++;
	if (!rc && ds->chunk && ds->chunks > res->chunks_before)
		log_msg(MDBTAP_LOG_INFO, "%s: rescan (%s) done in %llu chunks of up to %u elements",
			ds->s->path, senv_rescan_names[why],
			(unsigned long long)(ds->chunks - res->chunks_before + 1), ds->chunk);
	res->chunks_before = ds->chunks;
	return rc;
}

static int fold_op(struct dset *ds, const struct record_op *op, uint64_t txnid, uint64_t ts,
		   unsigned how, struct fold_result *res)
{
	MDB_val key = { op->klen, (void *)op->key }, val = { op->vlen, (void *)op->val };
	struct dctx *c;
	const char *why;
	int rc;

	if (op->type == MDBTAP_OP_ORDER) {
		ownorder_add(ds->s, op->name, op->name_len);
		return 0;
	}
	ds->rec_ts = ts; /* a DBI found re-created begins its shape here */
	rc = elem_set_get(ds, op->name, op->name_len, 0, &c);
	ds->rec_ts = 0;
	if (rc == MDB_NOTFOUND)
		return 0; /* not synced, or created and deleted unseen */
	if (rc == MDB_BAD_VALSIZE) {
		skip_op(ds, op, txnid, "a DBI name LMDB refuses", "skipped");
		return 0;
	}
	if (rc || op->type == MDBTAP_OP_CREATE)
		return rc; /* a created DBI is now known to the metadata */
	if ((why = unholdable(ds, c, op)) != NULL) {
		skip_op(ds, op, txnid, why, "skipped");
		return 0;
	}
	switch (op->type) {
	case MDBTAP_OP_PUT:
	case MDBTAP_OP_DEL:
	case MDBTAP_OP_DELALL:
		if (!c->h.dupsort)
			rc = elem_stamp(ds, c, &key, NULL, ts, how, &res->stamped);
		else if (op->type == MDBTAP_OP_DELALL || !(op->flags & MDBTAP_OPF_VALUE))
			rc = each_key_value(ds, c, &key, ts, how, &res->stamped, NULL);
		else
			rc = elem_stamp(ds, c, &key, &val, ts, how, &res->stamped);
		if (rc != MDB_BAD_VALSIZE)
			return rc;
		/* Another element LMDB refuses (checked before it writes):
		 * the DBI is taken as dirty, rescanned by digest. */
		skip_op(ds, op, txnid, "an element LMDB refuses (MDB_BAD_VALSIZE)",
			"the DBI is rescanned");
		return rescanned(ds, SENV_RESCAN_DIRTY, res,
				 rescan_dbi(ds, op->name, op->name_len, ts, how, &res->stamped));
	case MDBTAP_OP_DELETE_DBI:
		if (!c->host_exists && c->d.exists) {
			c->d.exists = 0; /* its elements become tombstones below */
			c->dirty = 1;
		}
		/* fall through */
	case MDBTAP_OP_DROP:
		return rescan_deleted(ds, c, ts, how, &res->stamped);
	case MDBTAP_OP_DIRTY:
		return rescanned(ds, SENV_RESCAN_DIRTY, res,
				 rescan_dbi(ds, op->name, op->name_len, ts, how, &res->stamped));
	default:
		return 0; /* a newer op type: the record's other ops still count */
	}
}

static int fold_record(struct dset *ds, const struct journal_entry *e, int in_doubt,
		       struct fold_result *res)
{
	unsigned how = STAMP_MARK | (in_doubt ? STAMP_IF_CHANGED : 0);
	struct record_iter it;
	struct record_op op;
	int rc;

	if (e->hdr.flags & MDBTAP_REC_SYNCER)
		return 0; /* the syncer's own merge: accounted, never exported */
	if (e->hdr.flags & MDBTAP_REC_LOSSY) {
		log_msg(MDBTAP_LOG_INFO, "%s: txn %llu: the tap could not list its writes: rescan",
			ds->s->path, (unsigned long long)e->hdr.txnid);
		return rescanned(ds, SENV_RESCAN_LOSSY, res,
				 rescan_all(ds, e->hdr.ts, STAMP_MARK, &res->stamped));
	}
	rc = record_iter_init(&it, e->body, e->hdr.body_len, e->hdr.nnames, e->hdr.nops);
	while (!rc && (rc = record_iter_next(&it, &op)) == 1) {
		rc = fold_op(ds, &op, e->hdr.txnid, e->hdr.ts, how, res);
		if (rc)
			return rc;
	}
	if (rc == MDBTAP_E_CORRUPT) {
		log_msg(MDBTAP_LOG_WARN, "%s: txn %llu: unreadable record body: rescan", ds->s->path,
			(unsigned long long)e->hdr.txnid);
		return rescanned(ds, SENV_RESCAN_CORRUPT, res,
				 rescan_all(ds, e->hdr.ts, STAMP_MARK, &res->stamped));
	}
	return rc;
}

/* A rescan for txn ids no record accounts for: it runs once every record
 * up to the host snapshot is folded, so that it stamps, with its own time,
 * only what no record explains (issue 9, bug 8). */
static int rescan_now(struct dset *ds, enum senv_rescan_why why, struct fold_result *res)
{
	return rescanned(ds, why, res, rescan_all(ds, journal_clock_next(ds->s->jnl), STAMP_MARK,
						  &res->stamped));
}

static int rescan_gap(struct dset *ds, uint64_t from, uint64_t to, enum senv_rescan_why why,
		      struct fold_result *res)
{
	log_msg(MDBTAP_LOG_WARN, "%s: txn ids %llu-%llu: no journal record (a writer without the "
		"tap, or a lost journal): rescan", ds->s->path, (unsigned long long)from,
		(unsigned long long)to);
	return rescan_now(ds, why, res);
}

/* Whether the changes of e (a PENDING record whose writer is gone) are
 * in the host, so that its elements keep the record's timestamp; the id
 * is rescanned all the same (docs/DESIGN.md §1: trust only a changed value
 * digest). Call it after every
 * other record up to the snapshot is folded, before folding e. */
static int record_shows(struct dset *ds, const struct journal_entry *e, int *shown)
{
	struct record_iter it;
	struct record_op op;
	unsigned show = 0;
	int rc;

	*shown = 0;
	if (e->hdr.flags & MDBTAP_REC_LOSSY)
		return 0;
	rc = record_iter_init(&it, e->body, e->hdr.body_len, e->hdr.nnames, e->hdr.nops);
	while (!rc && (rc = record_iter_next(&it, &op)) == 1) {
		MDB_val key = { op.klen, (void *)op.key }, val = { op.vlen, (void *)op.val };
		struct dctx *c;

		rc = elem_set_get(ds, op.name, op.name_len, 0, &c);
		if (rc == MDB_NOTFOUND || rc == MDB_BAD_VALSIZE) {
			rc = 0; /* not synced, or no DBI's name: says nothing */
			continue;
		}
		if (rc)
			return rc;
		if (unholdable(ds, c, &op))
			continue; /* not in the host: shows nothing (skipped by the fold) */
		switch (op.type) {
		case MDBTAP_OP_PUT:
		case MDBTAP_OP_DEL:
		case MDBTAP_OP_DELALL:
			if (c->h.dupsort && (op.type == MDBTAP_OP_DELALL ||
					     !(op.flags & MDBTAP_OPF_VALUE)))
				rc = each_key_value(ds, c, &key, e->hdr.ts, 0, NULL, &show);
			else
				rc = elem_shows(ds, c, &key, c->h.dupsort ? &val : NULL, e->hdr.ts,
						&show);
			break;
		case MDBTAP_OP_CREATE:
		case MDBTAP_OP_ORDER: /* says nothing about elements */
			break;
		default:
			show |= SHOW_NO; /* a DBI-wide op: no element shows it */
			break;
		}
	}
	if (rc == MDBTAP_E_CORRUPT)
		return 0;
	if (rc < 0 || rc > 1)
		return rc;
	*shown = show == SHOW_YES;
	return 0;
}

/* The PENDING records that are the last of their ids, once every other
 * record up to the snapshot is folded. *unshown: ids to rescan for. */
static int fold_doubts(struct dset *ds, struct journal_reader *rd, const struct acct *a,
		       struct fold_result *res, uint64_t *unshown)
{
	struct journal_entry e;
	int rc = 0, shown;

	for (size_t i = 0; i < a->ndoubt && !rc; i++) {
		const struct acct_doubt *d = &a->doubt[i];

		rc = journal_read(ds->s->jnl, d->pos, rd, &e);
		if (rc != 1 || e.pad || e.hdr.txnid != d->txnid) {
			rc = 0; /* cannot be: the ring holds it until we consume it */
			(*unshown)++;
			continue;
		}
		rc = 0;
		if (e.state == MDBTAP_STATE_ABORTED) { /* marked meanwhile */
			(*unshown)++;
			continue;
		}
		res->records++;
		if (e.state == MDBTAP_STATE_COMMITTED) {
			rc = fold_record(ds, &e, 0, res);
			continue;
		}
		if (e.hdr.flags & MDBTAP_REC_SYNCER)
			continue; /* a syncer died in its merge: a rescan would echo the
				     merged elements as local writes (invariant 6); the
				     object is applied again instead */
		rc = record_shows(ds, &e, &shown);
		if (!rc)
			rc = fold_record(ds, &e, 1, res);
		if (rc)
			continue;
		/* Even when its changes show, they do not prove that this txn
		 * committed: a writer without the tap may have taken the id and
		 * written the same keys, and more. Only a rescan by digest
		 * accounts for the id (docs/DESIGN.md §1, §2). */
		log_msg(MDBTAP_LOG_WARN, "%s: txn %llu: its writer (pid %u) left its record pending "
			"(its changes %s): the txn may not have committed, and another writer may "
			"have taken its id: rescan", ds->s->path, (unsigned long long)d->txnid, d->pid,
			shown ? "show" : "do not show");
		(*unshown)++;
	}
	return rc;
}

/* Whether the fold waits for the PENDING record e at pos: its writer is
 * alive and between LMDB's commit and its mark, which takes microseconds;
 * after FOLD_PENDING_PATIENCE_NS (a stopped writer) it is folded in doubt. */
static int wait_for_mark(struct dset *ds, const struct journal_entry *e, uint64_t pos)
{
	uint64_t now = hlc_wall_ns();

	if (!acct_writer_alive(e->hdr.pid))
		return 0;
	if (ds->s->pending_pos != pos) {
		ds->s->pending_pos = pos;
		ds->s->pending_since = now;
	}
	return now - ds->s->pending_since < FOLD_PENDING_PATIENCE_NS;
}

/* The first id that needs a rescan or an in-doubt check; 0: none. */
static uint64_t first_problem(const struct acct *a)
{
	uint64_t first = a->ngaps ? a->gaps[0].first : 0;

	if (a->ndoubt && (!first || a->doubt[0].txnid < first))
		first = a->doubt[0].txnid;
	return first;
}

/* Fold the COMMITTED records from pos on, up to the one at stop (or a
 * record past upto), accounting ids in (from, upto] afresh: the records
 * after the first gap or in-doubt id, once the fold knows it will not wait. */
static int fold_from(struct dset *ds, struct journal_reader *rd, uint64_t pos, uint64_t stop,
		     uint64_t from, uint64_t upto, struct fold_result *res)
{
	struct journal_entry e;
	struct acct b;
	int rc = 0;

	acct_init(&b, from, upto);
	while (pos != stop && journal_read(ds->s->jnl, pos, rd, &e) == 1) {
		enum acct_kind kind;

		rc = acct_add(&b, &e, &kind);
		if (rc || kind == ACCT_AHEAD)
			break;
		if (kind == ACCT_COMMITTED) {
			rc = fold_record(ds, &e, 0, res);
			if (rc)
				break;
			res->records++;
		}
		pos = e.next;
	}
	acct_free(&b);
	return rc;
}

int fold_journal(struct dset *ds, struct meta_state *st, uint64_t upto, int no_wait,
		 struct fold_result *res)
{
	struct journal *j = ds->s->jnl;
	struct mdbtap_journal_header *h = journal_header(j);
	struct journal_reader rd = { 0 };
	struct journal_entry e;
	struct acct a;
	uint64_t pos, done, unshown = 0, problem = 0, problem_pos = 0;
	int rc = 0, retries = 0;

	memset(res, 0, sizeof(*res));
	res->chunks_before = ds->chunks;
	if (upto < st->accounted) {
		/* A copy of an older env, or a new env at the same path. */
		log_msg(MDBTAP_LOG_WARN, "%s: txn id %llu is below the %llu accounted for: the env was "
			"replaced; rescan and start a new chain", ds->s->path,
			(unsigned long long)upto, (unsigned long long)st->accounted);
		res->restarted = 1;
		res->tail = journal_load(&h->head);
		rc = rescan_gap(ds, upto, st->accounted, SENV_RESCAN_WENT_BACK, res);
		st->accounted = upto;
		return rc;
	}
	pos = journal_load(&h->tail);
	done = upto;
	acct_init(&a, st->accounted, upto);
	for (;;) {
		enum acct_kind kind;

		rc = journal_read(j, pos, &rd, &e);
		if (rc == 0)
			break;
		if (rc == EAGAIN && retries++ < 3) {
			pos = journal_load(&h->tail);
			continue;
		}
		if (rc != 1) {
			/* Nothing after a broken record can be trusted to be
			 * whole: drop the rest; its ids are unaccounted. */
			log_msg(MDBTAP_LOG_WARN, "%s: journal record at %llu: %s: skipping the rest",
				ds->s->path, (unsigned long long)pos, err_str(rc));
			pos = journal_load(&h->head);
			rc = 0;
			break;
		}
		rc = acct_add(&a, &e, &kind);
		if (rc || kind == ACCT_AHEAD)
			break; /* after the snapshot we read: the next fold's */
		if (kind == ACCT_PENDING && !no_wait && wait_for_mark(ds, &e, pos)) {
			res->waiting = 1;
			done = e.hdr.txnid - 1;
			break;
		}
		if (!problem && (problem = first_problem(&a)) != 0)
			problem_pos = pos; /* from here on, fold once the fold knows
					      it will not wait (below) */
		if (kind == ACCT_COMMITTED && !problem) {
			rc = fold_record(ds, &e, 0, res);
			if (rc)
				break;
			res->records++;
		}
		pos = e.next;
	}
	if (!rc)
		rc = acct_finish(&a, done);
	if (!rc && !problem && (problem = first_problem(&a)) != 0)
		problem_pos = pos; /* ids after the last record, or before the one waited for */
	if (!rc && problem && res->waiting) {
		/* A rescan and an in-doubt check read the host snapshot, which
		 * holds the txn waited for and those after it, not folded yet:
		 * both wait for them, and so does every record after the first
		 * id they need, so that nothing is folded (and exported) past
		 * what is accounted for. */
		done = problem - 1;
		pos = problem_pos;
	} else if (!rc && problem) {
		rc = fold_from(ds, &rd, problem_pos, pos, problem - 1, done, res);
		if (!rc)
			rc = fold_doubts(ds, &rd, &a, res, &unshown);
		if (!rc && a.ngaps)
			log_msg(MDBTAP_LOG_WARN, "%s: txn ids %llu-%llu%s: no journal record (a writer "
				"without the tap, or a lost journal): rescan", ds->s->path,
				(unsigned long long)a.gaps[0].first,
				(unsigned long long)a.gaps[0].last, a.ngaps > 1 ? " and more" : "");
		if (!rc && (a.ngaps || unshown))
			rc = rescan_now(ds, a.ngaps ? SENV_RESCAN_UNACCOUNTED :
					SENV_RESCAN_IN_DOUBT, res);
	}
	journal_reader_free(&rd);
	acct_free(&a);
	if (rc)
		return rc;
	ds->s->stats.records += res->records;
	st->accounted = done > st->accounted ? done : st->accounted;
	res->tail = pos;
	return 0;
}
