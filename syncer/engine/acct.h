/* acct.h: txn-id accounting (docs/DESIGN.md §2): one reading of the
 * journal, shared by the syncer's fold and `mdbtap journal`, so that the
 * two never disagree on which txn ids the journal accounts for.
 *
 * Committed txn ids of an env are consecutive, and records are appended
 * under the env's writer lock, so their ids never go down in ring order
 * (several records of one id mean that all but the last never committed:
 * the next writer got the same id). Of the ids in (from, upto]:
 *  - a COMMITTED record accounts for its id (the tap's or the syncer's);
 *  - an id whose last record is PENDING is in doubt: the writer may have
 *    died (or stalled) before or after LMDB's commit. It counts as
 *    accounted only where its commit is shown, by its changes (the fold
 *    checks value digests, docs/DESIGN.md §1); `mdbtap journal`
 *    cannot tell, so it reports it unaccounted and in doubt;
 *  - any other id (no record, or only ABORTED ones) is a gap: a writer the
 *    tap could not see, or a lost record.
 * Ids above upto are the next snapshot's.
 *
 * Functions return 0 or ENOMEM.
 */
#ifndef MDBTAP_ACCT_H
#define MDBTAP_ACCT_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"

/* What a record means for the ids (acct_add). */
enum acct_kind {
	ACCT_SKIP,      /* a pad, an ABORTED record, an id accounted before */
	ACCT_COMMITTED, /* accounts for its id: fold it now */
	ACCT_PENDING,   /* claims its id unless a later record of the id comes */
	ACCT_AHEAD,     /* its id is above upto */
};

/* Ids first..last, inclusive. */
struct acct_range {
	uint64_t first, last;
};

/* A PENDING record that is the last of its id: where it is in the ring. */
struct acct_doubt {
	uint64_t txnid, pos;
	uint32_t pid;         /* the writer's */
};

struct acct {
	uint64_t from, upto;      /* accounting ids in (from, upto] */
	uint64_t cur;             /* the id of the last record added (0: none) */
	unsigned cur_state;       /* MDBTAP_STATE_* of its last record */
	struct acct_range *gaps;  /* ascending, disjoint */
	size_t ngaps, capgaps;
	struct acct_doubt *doubt; /* ascending ids */
	size_t ndoubt, capdoubt;
	int finished;
};

/* Start accounting the ids in (from, upto]. */
void acct_init(struct acct *a, uint64_t from, uint64_t upto);
void acct_free(struct acct *a);

/* Add the next record e, read in ring order (pads too), and say in *kind
 * what it means. A PENDING record is added to a->doubt (and taken out
 * again if a later record of its id comes); the caller may instead stop
 * before it (a writer about to mark it): then acct_finish(a, id - 1). */
int acct_add(struct acct *a, const struct journal_entry *e, enum acct_kind *kind);

/* No more records: every id in (from, last] (last <= upto) without one is
 * a gap; what was added above last is forgotten. */
int acct_finish(struct acct *a, uint64_t last);

/* Call fn for each range of ids that no COMMITTED record accounts for
 * (gaps and in-doubt ids merged), ascending. After acct_finish. A nonzero
 * return stops and is returned. */
typedef int (*acct_range_fn)(void *ctx, uint64_t first, uint64_t last);
int acct_each_unaccounted(const struct acct *a, acct_range_fn fn, void *ctx);

/* Whether the writer process pid may still be running. */
int acct_writer_alive(uint32_t pid);

#endif
