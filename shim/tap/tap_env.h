/* tap_env.h: what the tap knows about each env the host opened.
 *
 * An env is tracked from a successful writable mdb_env_open to
 * mdb_env_close. The table is read without locks on every write call;
 * adding and removing envs, and naming DBI handles, take tap_lock.
 */
#ifndef MDBTAP_TAP_ENV_H
#define MDBTAP_TAP_ENV_H

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct journal;

/* A DBI name, interned per env, alive until the env is closed (ops of a
 * live transaction point at it). */
struct tap_name {
	struct tap_name *next;  /* the env's list of every name */
	char *name;             /* NULL: the unnamed DBI */
	size_t len;
	uint64_t stamp;         /* writer only: txn seq that last listed it */
	unsigned idx;           /* writer only: its index in that record */
	int own_order;          /* atomic: the host set a comparator on it */
};

/* Nested write transactions: unlimited in LMDB, tracked to this depth.
 * Deeper children are not tracked op by op: the tap only notes whether
 * each wrote anything (struct tap_deep); one that did and committed into
 * a tracked parent makes the record lossy, and the syncer rescans. */
#define TAP_MAX_LEVELS 32

struct tap_deep {
	MDB_txn *txn;
	int wrote;              /* it, or a child that committed into it, wrote */
};

struct tap_level {
	MDB_txn *txn;           /* atomic: other threads compare it */
	size_t ops_mark;        /* the op log's length when it began */
	uint32_t nops_mark;
	int touched_mark;
	uint32_t flags_mark;    /* record_flags when it began */
};

struct tap_env {
	MDB_env *env;
	struct journal *jnl;

	/* DBI handle -> name. The array is replaced when it grows; old ones
	 * are kept until close because a reader may still hold them. */
	struct tap_name **slots;        /* atomic pointer */
	unsigned nslots;                /* atomic */
	struct tap_name *names;         /* every interned name */
	struct tap_name ***retired;     /* replaced slot arrays */
	unsigned nretired;

	/* The live write transaction: only the thread that holds LMDB's
	 * writer lock for this env touches what follows, except the atomic
	 * txn pointers, which any thread may compare with its own txn. */
	unsigned nlevels;               /* atomic */
	struct tap_level levels[TAP_MAX_LEVELS];
	uint64_t seq;                   /* counts top-level write txns */
	uint32_t record_flags;             /* MDBTAP_REC_* for this txn */
	int overflow;                   /* ops over the limit: record DIRTY */
	int touched;                    /* a failed call dirtied pages */
	uint8_t *ops;                   /* encoded ops (record.h) */
	size_t ops_len, ops_cap;
	uint32_t nops;
	uint8_t *namebuf;               /* encoded names of this txn */
	size_t names_len, names_cap;
	uint32_t nnames;
	unsigned own_order;             /* atomic: names with own_order set */

	/* Children beyond TAP_MAX_LEVELS, outermost first. deep_top is the
	 * innermost (atomic: other threads compare it); deep_owner the
	 * thread of the write txn, the only one that reads deep. */
	struct tap_deep *deep;
	unsigned ndeep, deep_cap;
	MDB_txn *deep_top;
	pthread_t deep_owner;
};

/* The tracked env, or NULL. Lock-free. */
struct tap_env *tap_env_find(MDB_env *env);

/* Start tracking env with journal j (owned from now on). Returns NULL
 * when out of memory or slots (then j is closed and nothing is tracked). */
struct tap_env *tap_env_add(MDB_env *env, struct journal *j);

/* Stop tracking env and free its state. */
void tap_env_remove(MDB_env *env);

/* Name handle dbi (name NULL: the unnamed DBI). Returns 0 or ENOMEM. */
int tap_env_name_dbi(struct tap_env *e, MDB_dbi dbi, const char *name);

/* The interned name (NULL: the unnamed DBI), added if new; NULL when out
 * of memory. */
struct tap_name *tap_env_intern(struct tap_env *e, const char *name);

/* Forget handle dbi (closed or deleted). */
void tap_env_unname_dbi(struct tap_env *e, MDB_dbi dbi);

/* The name of handle dbi, or NULL if the tap never saw it opened. */
struct tap_name *tap_env_dbi_name(struct tap_env *e, MDB_dbi dbi);

/* The innermost tracked write txn of e, and the top-level one. */
static inline MDB_txn *tap_env_current(struct tap_env *e)
{
	unsigned n = __atomic_load_n(&e->nlevels, __ATOMIC_ACQUIRE);

	return n ? __atomic_load_n(&e->levels[n - 1].txn, __ATOMIC_ACQUIRE) : NULL;
}

/* The untracked child (beyond TAP_MAX_LEVELS) in which writes happen
 * now, or NULL. */
static inline MDB_txn *tap_env_deep_current(struct tap_env *e)
{
	return __atomic_load_n(&e->deep_top, __ATOMIC_ACQUIRE);
}

/* The level of txn in e's live write txn, or -1 (a read txn, or a txn
 * the tap does not track). Safe from any thread. */
int tap_env_level(struct tap_env *e, MDB_txn *txn);

#endif
