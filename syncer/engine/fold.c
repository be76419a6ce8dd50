/* fold.c: see fold.h. */
#include "fold.h"
#include "err.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "hlc.h"
#include "log.h"
#include "record.h"
#include "rescan.h"

/* How long a record may stay PENDING with its txn committed and its
 * writer alive before the fold stops waiting and treats it as in doubt. */
#define FOLD_PENDING_PATIENCE_NS (10ull * 1000000000ull)

static int pid_alive(uint32_t pid)
{
	return pid && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* DUPSORT: every value the key had (all that the metadata knows). */
static int stamp_key_values(struct dset *ds, struct dctx *c, const MDB_val *key, uint64_t ts,
			    unsigned how, uint64_t *stamped)
{
	MDB_cursor *cur;
	MDB_val k = *key, v;
	int rc = mdb_cursor_open(ds->mt, c->h.vals, &cur);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		rc = elem_stamp(ds, c, &k, &v, ts, how, stamped);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int fold_op(struct dset *ds, const struct record_op *op, uint64_t ts, unsigned how,
		   struct fold_result *res)
{
	MDB_val key = { op->klen, (void *)op->key }, val = { op->vlen, (void *)op->val };
	struct dctx *c;
	int rc = elem_set_get(ds, op->name, op->name_len, 0, &c);

	if (rc == MDB_NOTFOUND)
		return 0; /* not synced, or created and deleted unseen */
	if (rc || op->type == MDBTAP_OP_CREATE)
		return rc; /* a created DBI is now known to the metadata */
	switch (op->type) {
	case MDBTAP_OP_PUT:
	case MDBTAP_OP_DEL:
		if (c->h.dupsort && !(op->flags & MDBTAP_OPF_VALUE))
			return stamp_key_values(ds, c, &key, ts, how, &res->stamped);
		return elem_stamp(ds, c, &key, c->h.dupsort ? &val : NULL, ts, how, &res->stamped);
	case MDBTAP_OP_DELALL:
		if (!c->h.dupsort)
			return elem_stamp(ds, c, &key, NULL, ts, how, &res->stamped);
		return stamp_key_values(ds, c, &key, ts, how, &res->stamped);
	case MDBTAP_OP_DELETE_DBI:
		if (!c->host_exists && c->d.exists) {
			c->d.exists = 0; /* its elements become tombstones below */
			c->dirty = 1;
		}
		/* fall through */
	case MDBTAP_OP_DROP:
		return rescan_deleted(ds, c, ts, how, &res->stamped);
	case MDBTAP_OP_DIRTY:
		res->rescanned = 1;
		return rescan_dbi(ds, op->name, op->name_len, ts, how, &res->stamped);
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
		res->rescanned = 1;
		return rescan_all(ds, e->hdr.ts, STAMP_MARK, &res->stamped);
	}
	rc = record_iter_init(&it, e->body, e->hdr.body_len, e->hdr.nnames, e->hdr.nops);
	while (!rc && (rc = record_iter_next(&it, &op)) == 1) {
		rc = fold_op(ds, &op, e->hdr.ts, how, res);
		if (rc)
			return rc;
	}
	if (rc == MDBTAP_E_CORRUPT) {
		log_msg(MDBTAP_LOG_WARN, "%s: txn %llu: unreadable record body: rescan", ds->s->path,
			(unsigned long long)e->hdr.txnid);
		res->rescanned = 1;
		return rescan_all(ds, e->hdr.ts, STAMP_MARK, &res->stamped);
	}
	return rc;
}

static int rescan_gap(struct dset *ds, uint64_t from, uint64_t to, struct fold_result *res)
{
	log_msg(MDBTAP_LOG_WARN, "%s: txn ids %llu-%llu: no journal record (a writer without the "
		"tap, or a lost journal): rescan", ds->s->path, (unsigned long long)from,
		(unsigned long long)to);
	res->rescanned = 1;
	ds->s->stats.rescans++;
	return rescan_all(ds, journal_clock_next(ds->s->jnl), STAMP_MARK, &res->stamped);
}

int fold_journal(struct dset *ds, struct meta_state *st, uint64_t upto, int no_wait,
		 struct fold_result *res)
{
	struct journal *j = ds->s->jnl;
	struct mdbtap_journal_header *h = journal_header(j);
	struct journal_reader rd = { 0 };
	struct journal_entry e;
	uint64_t pos, expected, done;
	int rc = 0, retries = 0;

	memset(res, 0, sizeof(*res));
	if (upto < st->accounted) {
		/* A copy of an older env, or a new env at the same path. */
		log_msg(MDBTAP_LOG_WARN, "%s: txn id %llu is below the %llu accounted for: the env was "
			"replaced; rescan and start a new chain", ds->s->path,
			(unsigned long long)upto, (unsigned long long)st->accounted);
		res->restarted = 1;
		res->tail = journal_load(&h->head);
		rc = rescan_gap(ds, upto, st->accounted, res);
		st->accounted = upto;
		return rc;
	}
	pos = journal_load(&h->tail);
	expected = st->accounted + 1;
	done = upto;
	for (;;) {
		int in_doubt = 0;

		rc = journal_read(j, pos, &rd, &e);
		if (rc == 0)
			break;
		if (rc == EAGAIN && retries++ < 3) {
			pos = journal_load(&h->tail);
			continue;
		}
		if (rc != 1) {
			/* Nothing after a broken record can be trusted to be
			 * whole: drop the rest; the gap check rescans. */
			log_msg(MDBTAP_LOG_WARN, "%s: journal record at %llu: %s: skipping the rest",
				ds->s->path, (unsigned long long)pos, err_str(rc));
			pos = journal_load(&h->head);
			rc = 0;
			break;
		}
		if (e.pad) {
			pos = e.next;
			continue;
		}
		if (e.hdr.txnid > upto) {
			rc = 0; /* after the snapshot we read: the next fold's */
			break;
		}
		if (e.hdr.txnid <= st->accounted || e.state == MDBTAP_STATE_ABORTED) {
			pos = e.next;
			continue;
		}
		if (e.state == MDBTAP_STATE_PENDING) {
			/* The txn is committed (the host txn sees it) unless a
			 * later record reuses its id; the writer marks it in a
			 * moment, unless it died. */
			uint64_t now = hlc_wall_ns();

			if (!no_wait && pid_alive(e.hdr.pid) &&
			    (ds->s->pending_pos != pos || now - ds->s->pending_since <
							   FOLD_PENDING_PATIENCE_NS)) {
				if (ds->s->pending_pos != pos) {
					ds->s->pending_pos = pos;
					ds->s->pending_since = now;
				}
				res->waiting = 1;
				done = e.hdr.txnid - 1;
				rc = 0;
				break;
			}
			in_doubt = 1;
		}
		rc = fold_record(ds, &e, in_doubt, res);
		if (rc)
			break;
		res->records++;
		if (e.hdr.txnid >= expected) {
			if (e.hdr.txnid > expected)
				rc = rescan_gap(ds, expected, e.hdr.txnid - 1, res);
			if (rc)
				break;
			expected = e.hdr.txnid + 1;
		}
		pos = e.next;
	}
	journal_reader_free(&rd);
	if (!rc && expected <= done)
		rc = rescan_gap(ds, expected, done, res);
	if (rc)
		return rc;
	ds->s->stats.records += res->records;
	st->accounted = done > st->accounted ? done : st->accounted;
	res->tail = pos;
	return 0;
}
