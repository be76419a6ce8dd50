/* senv.h: one synced env as the syncer holds it: the host's LMDB env
 * (opened by the syncer with the host's flags), its journal, its
 * metadata, and the host DBIs opened so far.
 *
 * Functions return 0 or an LMDB, errno or MDBTAP_E_* code.
 */
#ifndef MDBTAP_SENV_H
#define MDBTAP_SENV_H

#include <lmdb.h>
#include <stdint.h>

#include "hist.h"
#include "jdir.h"
#include "journal.h"
#include "meta.h"

struct cfg_env;

/* A host DBI the syncer has opened. */
struct senv_dbi {
	char *name;        /* owned; NULL for the unnamed DBI */
	size_t len;        /* 0 for the unnamed DBI */
	MDB_dbi dbi;
};

/* Why the env was rescanned (whole, or one DBI for SENV_RESCAN_DIRTY). */
enum senv_rescan_why {
	SENV_RESCAN_UNACCOUNTED,   /* txn ids without a journal record */
	SENV_RESCAN_IN_DOUBT,      /* a dead writer's pending record */
	SENV_RESCAN_LOSSY,         /* a record the tap could not fill */
	SENV_RESCAN_CORRUPT,       /* a record body that does not decode */
	SENV_RESCAN_DIRTY,         /* a DIRTY op: one DBI, changed anywhere */
	SENV_RESCAN_WENT_BACK,     /* the env's txn id went back */
	SENV_RESCAN_NWHY
};

/* The reasons' names, for /metrics and the CLI ("unaccounted", ...). */
extern const char *const senv_rescan_names[SENV_RESCAN_NWHY];

/* Counters, for logs and the CLI. */
struct senv_stats {
	uint64_t records;          /* journal records folded */
	uint64_t rescans;          /* rescans done */
	uint64_t objects_out;      /* objects uploaded */
	uint64_t objects_in;       /* objects applied */
	uint64_t objects_bad;      /* objects refused: corrupt, truncated, unknown */
	uint64_t elems_merged;     /* remote elements that won */
	uint64_t elems_refused;    /* remote elements too far in the future */
	uint64_t tombstones_swept; /* tombstones forgotten after the retention */
	uint64_t readoptions;      /* the env found replaced and re-adopted */
	uint64_t elems_misfit;     /* remote elements that do not fit the local
				      DBI's flags, refused by this process (the
				      ones held: meta_misfit) */
	uint64_t tombstones_ignored; /* remote tombstones of unknown elements older
					than the retention (sweep.h) */
	uint64_t rescans_by[SENV_RESCAN_NWHY]; /* rescans, by reason */
	uint64_t lossy;            /* lossy journal records folded */
	uint64_t elems_unfoldable; /* journal ops naming an element LMDB cannot
				      hold (an empty key...): skipped (fold.c) */
	uint64_t tombstones;       /* tombstones held, as counted by the last
				      sweep (sync.c); 0 before one */
	uint64_t tombstones_counted_ns; /* when they were counted (wall) */
	struct hist lag;           /* per remote object applied: now minus its
				      newest element's timestamp (the remote
				      commit), or the time in its name */
	uint64_t merges_map_full;  /* merges stopped by the host's full map
				      (mapfull.h) */
	uint64_t elems_out;        /* elements written into objects uploaded
				      (deltas and full snapshots) */
	uint64_t conflicts_won;    /* remote elements that replaced a local
				      version of another timestamp */
	uint64_t conflicts_lost;   /* remote elements a local version of
				      another timestamp kept out */
	uint64_t elems_old_shape;  /* remote elements of a DBI shape dropped
				      here since (merge.c, shape_decide) */
	uint64_t merges_deferred;  /* merge batches that left a long rescan
				      to the local step (merge.h) */
	uint64_t dbis_own_order;   /* DBIs not synced: the host's own order
				      (ownorder.h) */
	uint64_t objects_future;   /* listed objects named more than max_future
				      ahead: ignored (retried), per listing */
	uint64_t dbis_over_limit;  /* most DBIs seen at once beyond
				      META_DBI_LIMIT, not synced (elem.c) */
};

/* A DBI name (len 0: the unnamed DBI). */
struct senv_name {
	char *name;
	size_t len;
};

/* A merge stopped by the host's full map (mapfull.h): the object, how
 * many of its elements were merged and committed before, and the host's
 * data file as it was then. */
#define SENV_FULL_SLOTS 8
#define SENV_FULL_NAME 320
struct senv_full {
	char name[SENV_FULL_NAME];   /* "" = a free slot */
	uint64_t done;               /* elements (in the object's order) merged */
	uint64_t mapsize, txnid;     /* senv_file_map then */
};

/* Count a rescan (stats.rescans and its reason). */
static inline void senv_count_rescan(struct senv_stats *st, enum senv_rescan_why why)
{
	st->rescans++;
	st->rescans_by[why]++;
}

struct senv {
	const struct cfg_env *cfg;   /* not owned */
	char path[4096];             /* the host env */
	char companion[4200];        /* its companion directory */
	struct jdir_trust trust;     /* its owner and widest mode (jdir.h) */
	int nosubdir, nolock;
	int readonly;                /* opened for reading only */
	int lockfd;                  /* MDB_NOLOCK hosts: the data file, for fcntl
					locks (senv_lock); else -1 */
	int syncfd;                  /* writable opens: the syncer lock
					(SENV_SYNCER_LOCK), else -1 */
	int datafd;                  /* writable opens: the data file, flocked
					for the syncer's life (senv.c
					take_data_lock), else -1 */
	int fresh;                   /* an empty directory: the env is created */
	MDB_env *host;
	struct journal *jnl;
	struct meta *meta;
	struct senv_dbi *dbis;
	size_t ndbis;
	struct senv_stats stats;
	uint64_t pending_pos;        /* the PENDING record the fold waits for */
	uint64_t pending_since;      /* since when (wall ns) */
	void *bad;                   /* objects that failed to verify: a
				      * tsearch tree of names (many planted
				      * ones stay O(log n) to look up) */
	size_t nbad;
	void *waits;                 /* objects not to fetch before a time
				      * (quarantine_wait): a tsearch tree */
	size_t nwaits;
	uint64_t uploads_next_ns;    /* clean_uploads: when it looks next */
	struct senv_full full[SENV_FULL_SLOTS]; /* mapfull.h */
	unsigned full_next;          /* the slot to take next */
	int full_logged;             /* a full map was said, not yet its end */
	int created;                 /* the syncer created the env (ownmap.h) */
	unsigned merge_defers;       /* merge batches in a row that deferred a
					long rescan (MERGE_DEFER_MAX) */
	struct senv_name *own_order; /* DBIs left alone (ownorder.h) */
	size_t nown_order;
	/* Our objects of chain own_gen that this process knows of
	 * (receive.h, receive_own_note): the metadata's, named up to
	 * own_from_ns when the process took up the chain, and its own, from
	 * own_first_ns on (0: none yet). */
	uint64_t own_gen, own_from_ns, own_first_ns;
};

/* The file in the companion dir whose flock a syncer holds for its life;
 * it holds the syncer's PID. */
#define SENV_SYNCER_LOCK "syncer.lock"

/* Open the host env at path (as the host does: MDB_NOSUBDIR, MDB_NOLOCK),
 * its journal (created if the host never ran with the tap) and its
 * metadata. cfg may be NULL (CLI readers: every DBI selected). A writable
 * open takes the syncer lock first: EBUSY (err names the holder's PID)
 * while another syncer runs on the env. On error, err says what failed. */
int senv_open(struct senv *s, const char *path, const struct cfg_env *cfg, int readonly,
	      char *err, size_t errlen);

/* A writable senv_open in two steps, so that a syncer can check every env
 * and take every env's lock before it creates anything (docs/DESIGN.md
 * §12: bad input changes nothing). senv_claim resolves and checks the
 * path (an env, or an empty directory to create one in) and takes the
 * env's locks where the env exists (EBUSY, err naming the other syncer,
 * while one runs), creating nothing; senv_close releases them.
 * senv_open_claimed then opens (or creates) the env, its journal and its
 * metadata; on failure s is closed. */
int senv_claim(struct senv *s, const char *path, const struct cfg_env *cfg, char *err,
	       size_t errlen);
int senv_open_claimed(struct senv *s, char *err, size_t errlen);
void senv_close(struct senv *s);

/* Hosts that open their env with MDB_NOLOCK (postfix) protect every txn,
 * from start to end, with a whole-file fcntl lock on the data file:
 * shared to read, exclusive to write (lmdb_table(5)). The syncer follows
 * the same protocol around each of its host txns: senv_lock before the
 * txn begins, senv_unlock after it ends. For other hosts (LMDB's own lock
 * file) both do nothing. Waits up to SENV_LOCK_WAIT_MS for the host to let
 * go; then ETIMEDOUT. */
#define SENV_LOCK_WAIT_MS 60000
int senv_lock(struct senv *s, int exclusive);
void senv_unlock(struct senv *s);

/* Whether the DBI (len 0: unnamed) is synced: under the config, and not
 * ordered by the host's own comparator (ownorder.h). */
int senv_selected(const struct senv *s, const char *name, size_t len);

/* The host DBI named (name, len). create_flags: 0 to open an existing
 * DBI only (MDB_NOTFOUND if missing), else MDB_CREATE | flags, in a write
 * txn. The handle stays valid for the env's life once txn commits (read
 * txns too: commit them, do not abort them). */
int senv_host_dbi(struct senv *s, MDB_txn *txn, const char *name, size_t len,
		  unsigned create_flags, MDB_dbi *dbi);

/* Forget the cached host DBI handles: after a txn that may have opened
 * some was aborted (LMDB closes those). Reopening is cheap. */
void senv_forget_dbis(struct senv *s);

/* Call fn for the unnamed DBI and then every named DBI of the host, in
 * name order. */
typedef int (*senv_dbi_fn)(void *ctx, const char *name, size_t len);
int senv_each_host_dbi(struct senv *s, MDB_txn *txn, senv_dbi_fn fn, void *ctx);

/* Whether an entry of the unnamed DBI is a named DBI's record rather
 * than data. */
int senv_is_dbi_record(struct senv *s, MDB_txn *txn, const MDB_val *key, const MDB_val *val);

/* Remember an object that failed to verify, so that it is not fetched
 * again; senv_is_bad tells. */
void senv_mark_bad(struct senv *s, const char *name);
int senv_is_bad(const struct senv *s, const char *name);

/* An anonymous read-write file in the companion directory (objects on
 * their way out or in), gone when closed, even after a kill. -1 and
 * errno on failure. */
int senv_tmpfile(const struct senv *s);

/* The host's data file's device and inode. */
int senv_file_id(const struct senv *s, uint64_t *dev, uint64_t *ino);

/* The host's data file's birth time in ns (statx STATX_BTIME), or 0 when
 * the file system does not give it or the file cannot be looked at. */
uint64_t senv_file_btime(const struct senv *s);

/* Whether the host's data file is shorter than its own newest meta page
 * says the env needs (two meta pages, and the free and main DBs' root
 * pages), read with pread, never through the map: a file being copied over in place (cp truncates it first),
 * which LMDB's map would fault on (SIGBUS). *size, *need: in bytes. */
int senv_file_short(const struct senv *s, uint64_t *size, uint64_t *need);

/* A digest of LMDB's meta page of txn id txnid in the host's data file
 * (its DB roots, page counts and last page) and of the pages the txn's
 * tree starts at (the main DB's root, the roots of the named DBs it
 * lists), read with pread, while one of the file's two meta pages still
 * holds that txn: else MDB_NOTFOUND. */
int senv_meta_fp(struct senv *s, uint64_t txnid, uint8_t fp[16]);

/* What senv_meta_fp digests, kept beside a digest (meta_state.fp_kind):
 * a digest of another kind (an older syncer's: the meta page alone) is
 * not compared. */
#define SENV_META_FP_KIND 2

/* The newest txn id of the two meta pages of the host's data file, read
 * from the file (not from the lock file, which a copy over the data file
 * leaves as it was). 0 or an errno / MDB_* code. */
int senv_file_txnid(struct senv *s, uint64_t *txnid);

/* The map size recorded in the host's data file (the largest any
 * program committed with: LMDB never lowers it) and its newest txn id,
 * read from its newest meta page. 0 or an errno / MDB_* code. */
int senv_file_map(struct senv *s, uint64_t *mapsize, uint64_t *txnid);

/* The host's last committed txn id. */
uint64_t senv_last_txnid(struct senv *s);

#endif
