/* fold.h: fold the journal into the metadata (docs/DESIGN.md §1, §2, §16).
 *
 * Every record of a committed local txn stamps the elements it names
 * with its timestamp (reading their state from the host); the syncer's
 * own records only account for their txn ids; a record whose writer died
 * before its commit returned is "in doubt" and stamps only elements whose
 * value digest changed. Txn ids that no record accounts for, lossy
 * records, and an env whose txn ids went backwards trigger a rescan.
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
};

/* Fold records with txn ids in (st->accounted, upto] (upto: the last txn
 * id the host txn of ds sees) into ds's meta txn, and advance
 * st->accounted. The caller commits the meta txn, then calls
 * journal_consume(tail, st->accounted). no_wait: the caller holds the host's
 * writer lock (a merge), so a PENDING record at or below upto is not
 * waited for but folded in doubt. */
int fold_journal(struct dset *ds, struct meta_state *st, uint64_t upto, int no_wait,
		 struct fold_result *res);

#endif
