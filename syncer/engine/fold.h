/* fold.h: fold the journal into the metadata (docs/DESIGN.md §1, §2, §16).
 *
 * Every record of a committed local txn stamps the elements it names
 * with its timestamp (reading their state from the host); the syncer's
 * own records only account for their txn ids (acct.h says which records
 * account for which ids). A record whose writer died (or stalled) before
 * marking it is in doubt: it is folded after every other record up to the
 * host snapshot, stamps only elements whose value digest changed, and
 * accounts for its id only if its changes show. Txn ids nobody accounts
 * for, lossy records, and an env whose txn ids went backwards trigger a
 * rescan, which runs once every record up to the snapshot is folded, so
 * that it stamps with its own time only what no record explains.
 */
#ifndef MDBTAP_FOLD_H
#define MDBTAP_FOLD_H

#include "elem.h"

struct fold_result {
	uint64_t tail;        /* consume the journal up to here once committed */
	uint64_t records;     /* records folded */
	uint64_t stamped;     /* elements stamped */
	int rescanned;        /* a rescan ran */
	int waiting;          /* stopped at a record whose commit is in flight */
	int restarted;        /* the env's txn ids went backwards: new chain */
	uint64_t chunks_before; /* ds->chunks before the last rescan (its log) */
};

/* Fold records with txn ids in (st->accounted, upto] (upto: the last txn
 * id the host txn of ds sees) into ds's meta txn, and advance
 * st->accounted: to upto, or, while a live writer's record at or below
 * upto is PENDING (res->waiting), to the id before it (or before the first
 * id that needs a rescan or an in-doubt check, which wait too). Nothing is
 * folded past st->accounted, and objects are labelled with it, never more. The caller commits the meta
 * txn, then calls journal_consume(tail, st->accounted). no_wait: the
 * caller holds the host's writer lock (a merge), so a PENDING record at or
 * below upto is not waited for but folded in doubt. With ds->scan_max set
 * (a merge), a rescan longer than that returns RESCAN_TOO_LONG (rescan.h)
 * and the caller aborts both txns: nothing it folded is kept. */
int fold_journal(struct dset *ds, struct meta_state *st, uint64_t upto, int no_wait,
		 struct fold_result *res);

#endif
