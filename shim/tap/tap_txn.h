/* tap_txn.h: the ops of the live write transaction of an env, and the
 * record they become at commit.
 *
 * Ops are encoded as they happen, in the record's own format, into one
 * buffer per env. A child transaction is a mark in that buffer: its commit
 * keeps what follows the mark, its abort cuts it off. All functions are
 * called by the thread that holds the env's LMDB writer lock.
 */
#ifndef MDBTAP_TAP_TXN_H
#define MDBTAP_TAP_TXN_H

#include <lmdb.h>

#include "journal.h"
#include "tap_env.h"

/* A write txn began: top-level if parent is NULL, else a child. */
void tap_txn_begin(struct tap_env *e, MDB_txn *parent, MDB_txn *txn);

/* Record an op on DBI n. key may be NULL (DBI-wide ops); val is NULL
 * unless the op carries a DUPSORT value. */
void tap_txn_op(struct tap_env *e, unsigned type, struct tap_name *n,
		const MDB_val *key, const MDB_val *val);

/* Something was written that the tap could not describe: the record
 * tells the syncer to rescan. */
void tap_txn_lossy(struct tap_env *e);

/* A call failed after LMDB had already touched pages, so the txn will
 * take a txn id at commit even if nothing else changes: it gets a record
 * (with no ops) to account for that id. */
void tap_txn_touched(struct tap_env *e);

/* The child at level (>0) ended; a commit keeps its ops. Deeper levels
 * (children LMDB ended with it) go too. */
void tap_txn_child_end(struct tap_env *e, int level, int committed);

/* txn, a child beyond the tracked levels, ended (children of it too).
 * Returns 0 when txn is no such child (then nothing is read: any thread
 * may call it). */
int tap_txn_deep_end(struct tap_env *e, MDB_txn *txn, int committed);

/* The host set its own comparator on DBI n (mdb_set_compare,
 * mdb_set_dupsort): every later record that lists n says so (ORDER).
 * Any thread. */
void tap_txn_order(struct tap_env *e, struct tap_name *n);

/* The top-level txn was aborted: forget everything. */
void tap_txn_abort(struct tap_env *e);

/* The top-level txn txn is about to commit: append its record (PENDING)
 * and forget the txn's state. *slot says what to finish once the real
 * commit has returned (nothing when the txn wrote nothing). */
void tap_txn_prepare_commit(struct tap_env *e, MDB_txn *txn, struct journal_slot *slot);

#endif
