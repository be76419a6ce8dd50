/* oracle.h: the oracle of the tap's exactness and invisibility (issue 9).
 *
 * oracle_child runs a random LMDB program (generated from a byte string)
 * and writes a trace; oracle_check runs it twice, with the tap preloaded
 * and without, and checks:
 *  1. invisibility: both traces are the same bytes (every return code,
 *     every read, the env's dump after every top-level txn);
 *  2. completeness: every element that a committed txn changed (the diff
 *     of the dumps around it) is covered by that txn's journal record (an
 *     op on it, a DBI-wide op, or a lossy record), or the txn has no
 *     record (its id is unaccounted: the syncer rescans); no committed
 *     record for a txn that did not commit or took no txn id;
 *  3. soundness: the last op of a record on an element agrees with the
 *     env after the commit (a PUT's element is there, a DEL's is not),
 *     unless a later DBI-wide op or the lossy flag covers it.
 */
#ifndef MDBTAP_ORACLE_H
#define MDBTAP_ORACLE_H

#include <stddef.h>
#include <stdint.h>

/* Trace events (first byte). */
enum {
	ORACLE_EV_OP = 1,       /* u8 code, i32 rc, val key, val data, u64 extra */
	ORACLE_EV_COMMIT,       /* i32 rc, u64 last txn id before, after */
	ORACLE_EV_ABORT,        /* i32 0, u64 before, after */
	ORACLE_EV_DUMP,         /* then DBI/ELEM events, then DUMP_END */
	ORACLE_EV_DBI,          /* u8 index (0: unnamed, i: "d<i-1>"), i32 flags */
	ORACLE_EV_ELEM,         /* val key, val data: of the last DBI */
	ORACLE_EV_DUMP_END,
	ORACLE_EV_END,          /* u64 ops run */
};
/* A val: u32 length (0xffffffff: none), then the bytes. */

/* Op codes. */
enum {
	ORACLE_OP_PUT = 1, ORACLE_OP_GET, ORACLE_OP_DEL, ORACLE_OP_CURSOR_READ,
	ORACLE_OP_CURSOR_PUT, ORACLE_OP_CURSOR_DEL, ORACLE_OP_DROP, ORACLE_OP_CREATE,
	ORACLE_OP_BEGIN, ORACLE_OP_COMMIT, ORACLE_OP_ABORT,
};

struct oracle_cfg {
	const char *child;      /* the oracle_child program */
	const char *preload;    /* LD_PRELOAD value with the tap */
	const char *work;       /* a scratch directory of ours */
};

struct oracle_stats {
	uint64_t programs;
	uint64_t ops;           /* LMDB calls made, per run */
	uint64_t commits;       /* top-level commits that took a txn id */
	uint64_t records;       /* of them, with a record that was checked */
	uint64_t unaccounted;   /* of them, without a record */
	uint64_t lossy;         /* records marked lossy */
	uint64_t elements;      /* changed elements checked against records */
	uint64_t empty_commits; /* commits that took no txn id */
	uint64_t lmdb_failed;   /* programs LMDB itself crashed on, with and without the tap alike */
};

/* Run the program prog (len bytes) with and without the tap. Returns 0
 * (the oracle holds), 1 (a mismatch, described in msg) or -1 (the check
 * itself failed, described in msg). */
int oracle_check(const struct oracle_cfg *cfg, const uint8_t *prog, size_t len,
		 struct oracle_stats *st, char *msg, size_t msgcap);

#endif
