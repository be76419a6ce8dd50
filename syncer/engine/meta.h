/* meta.h: the syncer's metadata of one host env, in a companion LMDB env
 * ("<companion dir>/meta") that the host never sees.
 *
 * For every element of every synced DBI (a key; a (key, value) pair in a
 * DUPSORT DBI) it keeps the timestamp of its last write, whether that write
 * deleted it, and a digest of its value. Per DBI:
 *   "p:NAME"  plain DBI: host key -> struct meta_elem
 *   "s:NAME"  DUPSORT DBI: host key -> each value ever seen (DUPSORT), and
 *   "t:NAME"  DUPSORT DBI: meta_pair_id(key, value) -> struct meta_elem
 *   "c:NAME"  elements changed locally since the last export (plain: key ->
 *             ""; DUPSORT: key -> value, DUPSORT)
 * The "p:", "s:" and "c:" DBIs take the host DBI's ordering flags, so they
 * iterate in the host's order. NAME is "-" for the unnamed DBI. Also:
 *   "dbis"    NAME -> struct meta_dbi (host flags, digest)
 *   "state"   small named values (struct meta_state; remote progress; an
 *             adoption under way, struct meta_adopt; refused remote
 *             elements, struct meta_misfit)
 * Keys and values have the host's limits (511-byte keys and dup values),
 * so every mirror fits.
 *
 * All functions return 0, MDB_NOTFOUND where said, or an LMDB or errno
 * code. Transactions are the caller's: meta_* calls never commit.
 */
#ifndef MDBTAP_META_H
#define MDBTAP_META_H

#include <lmdb.h>
#include <stdint.h>

#define META_DELETED 1u   /* meta_elem.flags: the last write deleted it */

/* One element's metadata. hash: XXH3-128 of the value (live elements). */
struct meta_elem {
	uint64_t ts;
	uint8_t flags;
	uint8_t hash[16];
};

/* A synced DBI. */
struct meta_dbi {
	uint32_t flags;          /* the host DBI's persistent flags */
	uint32_t exists;         /* 0 after the host deleted the DBI */
	uint64_t count;          /* elements, tombstones included */
	uint8_t digest[16];      /* sum of meta_elem_digest() over elements */
	/* The DBI's shape (docs/DESIGN.md §22, "shape epochs"): HLC ns of
	 * when its current flags began here or on the instance it was taken
	 * from (0: as found), and the epoch of the shape it replaced. A
	 * record written before these fields reads as 0, 0. */
	uint64_t epoch;
	uint64_t prev_epoch;
};

/* The syncer's progress for this env. */
struct meta_state {
	uint64_t generation;     /* this instance's chain of objects */
	uint64_t accounted;      /* every host txn id up to here is folded */
	uint64_t exported;       /* the last object's `to` txn id */
	uint64_t last_obj_ns;    /* name timestamp of the last object */
	uint64_t last_full_ns;   /* when the last full snapshot was made */
	uint64_t adopted;        /* 1 once the existing data was adopted */
	uint64_t rescans;        /* rescans done, for the logs */
	/* The env's identity (docs/DESIGN.md §11), as of the last local
	 * step: the data file's device and inode, and a digest of LMDB's
	 * meta page of txn fp_txnid (0: none taken). A copy put in place of
	 * the file differs in one of them while that page is still there. */
	uint64_t dev, ino;
	uint64_t fp_txnid;
	uint8_t fp[16];
	uint64_t chain_ns;       /* wall ns when this chain (generation) began */
	/* The journal as last looked at: every committed record before jpos
	 * had a txn id of at most jmax. A committed record after it with a
	 * txn id not above jmax was written by another env's writer. */
	uint64_t jpos, jmax;
	uint64_t last_full_name; /* name timestamp of our last full snapshot:
				    the only one of our name the cleaner
				    trusts as ours (clean.h); 0: unknown */
	uint64_t selection;      /* the include/exclude the host's DBIs were
				    last looked for under (sync.c); 0: never */
	uint64_t swept_ns;       /* wall ns of the last whole tombstone sweep */
	uint64_t name_id;        /* hash of the (instance, db) names the chain
				    is exported under (sync.c); 0: unknown */
	/* Objects of our name from other chains listed when this chain
	 * began (at the first listing of chain past_gen): the newest one's
	 * name timestamp. Those are our past, however far ahead a clock
	 * since corrected dated them (receive.c). */
	uint64_t past_gen, past_ns;
	uint64_t btime_ns;       /* the data file's birth time (statx), part of
				    the identity: a new file given the old
				    inode number; 0: unknown (an older
				    syncer's metadata, or no btime here) */
	uint64_t fp_kind;        /* what fp digests (SENV_META_FP_KIND): one
				    of an older syncer is not compared */
	uint64_t created;        /* 1: the syncer created the env (ownmap.h) */
};

/* Progress of the objects of one remote instance. */
struct meta_remote {
	uint64_t generation;     /* the chain being followed */
	uint64_t to;             /* its last applied object's `to` */
	uint64_t name_ns;        /* its last applied object's name timestamp */
};

/* Remote elements of one DBI from one remote instance refused because
 * they do not fit the local DBI's real flags (docs/DESIGN.md §12), kept
 * in "state" so that `mdbtap stats` and `mdbtap doctor` show them across
 * syncer restarts. Written in the meta txn of the merge that refused
 * them; cleared when the condition ends: the DBI's metadata is dropped
 * here (meta_dbi_forget: re-created with other flags, or a newer shape
 * taken from the fleet), the remote's DBI comes with other flags
 * (merge.c), every remote's progress is forgotten (meta_remote_forget:
 * their objects are applied, and refused, again) or the metadata is
 * reset. Grows at its end only: an older record reads new fields as 0. */
struct meta_misfit {
	uint64_t n;              /* elements refused since the record began */
	uint64_t first_ns;       /* wall ns of the first refusal */
	uint64_t last_ns;        /* and of the last */
	uint32_t remote_flags;   /* the remote DBI's flags, as its object says */
	uint32_t local_flags;    /* the local DBI's flags then */
};

/* An adoption under way (docs/DESIGN.md §16, "Adoption"): saved in the
 * meta txn of every chunk it commits, so that a syncer restarted after
 * a kill goes on from there instead of starting over. */
#define META_POS_MAX 512
struct meta_adopt {
	uint64_t upto;           /* the host txn id it began at */
	uint64_t fold_from;      /* then fold the journal from this id on */
	uint64_t consume_pos;    /* first consume the journal to here
				    (a re-adoption); UINT64_MAX: not */
	uint64_t done;           /* elements read so far, over all runs */
	uint64_t chunks;         /* chunks committed, over all runs */
	uint64_t runs;           /* syncer runs that worked on it */
	uint32_t at;             /* 1: the position below is set */
	uint32_t name_len, key_len, val_len; /* the DBI and element last done */
	uint8_t name[META_POS_MAX], key[META_POS_MAX], val[META_POS_MAX];
	/* The identity of the data file it adopts (as in struct meta_state;
	 * docs/DESIGN.md §11): taken when a run begins, the meta page's
	 * digest at each chunk (fp_txnid: the chunk's host txn). A resumed
	 * adoption over another file starts over. 0: unknown (a record of an
	 * older syncer). */
	uint64_t dev, ino, btime_ns;
	uint64_t fp_txnid;
	uint8_t fp[16];
};

struct meta;

/* DBIs one env syncs at most: the first this many the metadata takes
 * keep syncing; later ones are skipped (elem.c). The meta env holds up to
 * three LMDB handles per DBI, and LMDB allocates arrays of maxdbs entries
 * per txn (about 60 bytes each for a write txn): 12k handles keep that
 * under a megabyte. */
#define META_DBI_LIMIT 4096

/* How many DBIs the metadata knows (deleted ones too). */
int meta_dbi_count(MDB_txn *txn, struct meta *m, uint64_t *n);

/* A DBI's handles in the meta env. */
struct meta_handles {
	int dupsort;
	MDB_dbi elems;   /* "p:" or "t:" */
	MDB_dbi vals;    /* "s:" (DUPSORT only) */
	MDB_dbi changed; /* "c:" */
};

/* Open (creating if needed) the meta env in the companion directory dir.
 * *out is owned by the caller; release with meta_close. */
int meta_open(const char *dir, struct meta **out);

/* The same, for a meta directory that exists (path: the directory). */
int meta_open_path(const char *path, struct meta **out);
void meta_close(struct meta *m);
MDB_env *meta_env(struct meta *m);

int meta_state_get(MDB_txn *txn, struct meta *m, struct meta_state *st);
int meta_state_put(MDB_txn *txn, struct meta *m, const struct meta_state *st);
int meta_remote_get(MDB_txn *txn, struct meta *m, const char *instance,
		    struct meta_remote *r);   /* MDB_NOTFOUND: never seen */
int meta_remote_put(MDB_txn *txn, struct meta *m, const char *instance,
		    const struct meta_remote *r);
/* Call fn for every remote instance with progress, in name order; a
 * nonzero return stops and is returned. */
typedef int (*meta_remote_fn)(void *ctx, const char *instance, const struct meta_remote *r);
int meta_remote_each(MDB_txn *txn, struct meta *m, meta_remote_fn fn, void *ctx);

/* Forget every remote instance's progress (ours too), so that the next
 * receive loads each one's newest full snapshot again; *n: how many.
 * The refusals counted against them (meta_misfit) go too: they are
 * counted again as their objects are applied again. */
int meta_remote_forget(MDB_txn *txn, struct meta *m, uint64_t *n);

/* The refusals of DBI (name, len) (len 0: unnamed) from instance:
 * MDB_NOTFOUND when there are none. */
int meta_misfit_get(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		    const char *instance, struct meta_misfit *mf);
int meta_misfit_put(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		    const char *instance, const struct meta_misfit *mf);
/* Drop the refusals of DBI (name, len) from instance, or from every
 * instance when instance is NULL; *n (may be NULL): how many records. */
int meta_misfit_del(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		    const char *instance, uint64_t *n);
/* Call fn for every record of refusals (DBI name, instance); a nonzero
 * return stops and is returned. */
typedef int (*meta_misfit_fn)(void *ctx, const char *name, size_t len, const char *instance,
			      const struct meta_misfit *mf);
int meta_misfit_each(MDB_txn *txn, struct meta *m, meta_misfit_fn fn, void *ctx);

/* The adoption under way: MDB_NOTFOUND when none is. */
int meta_adopt_get(MDB_txn *txn, struct meta *m, struct meta_adopt *a);
int meta_adopt_put(MDB_txn *txn, struct meta *m, const struct meta_adopt *a);
int meta_adopt_del(MDB_txn *txn, struct meta *m);

/* Forget everything: every DBI's metadata, the state and every remote's
 * progress (an env re-adopted after its file was replaced). The caller
 * commits. */
int meta_reset(MDB_txn *txn, struct meta *m);

/* A new chain's generation: random, never 0. */
uint64_t meta_new_generation(void);

/* The DBI named (name, len) (len 0: the unnamed DBI). meta_dbi_open
 * creates the meta DBIs when create is set and records host_flags; it
 * returns MDB_NOTFOUND for a DBI never seen when create is 0. */
int meta_dbi_open(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		  unsigned host_flags, int create, struct meta_handles *h);
/* A DBI the host re-created with other ordering flags (plain <-> DUPSORT
 * and the like) than the metadata knows it by: drop all its metadata
 * (mirrors, changed set, record), so that it is taken anew with its new
 * flags; *dropped says whether it was, and *old gets the dropped record
 * (its epoch begins the next shape's history). */
int meta_dbi_reshaped(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		      unsigned host_flags, int *dropped, struct meta_dbi *old);
/* Drop all the metadata of a DBI (mirrors, changed set, record, the
 * refusals of remote elements against it): its shape was dropped by the
 * fleet, or here. Handles to its mirrors are gone. */
int meta_dbi_forget(MDB_txn *txn, struct meta *m, const char *name, size_t len);
/* Whether the persistent flags a and b order elements differently (the
 * mirrors would have to be made anew). */
int meta_flags_differ(unsigned a, unsigned b);
int meta_dbi_get(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		 struct meta_dbi *d);
int meta_dbi_put(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		 const struct meta_dbi *d);

/* Call fn for every DBI known, in name order (len 0: unnamed). */
typedef int (*meta_dbi_fn)(void *ctx, const char *name, size_t len, const struct meta_dbi *d);
int meta_dbi_each(MDB_txn *txn, struct meta *m, meta_dbi_fn fn, void *ctx);

/* The element (key[, val]) of a DBI; val is NULL for plain DBIs. */
int meta_elem_get(MDB_txn *txn, const struct meta_handles *h, const MDB_val *key,
		  const MDB_val *val, struct meta_elem *e);   /* MDB_NOTFOUND */
/* Store e for the element, keep the DBI's count and digest in *d up to
 * date (old: the element's previous metadata, NULL if new), and add it to
 * the changed set when changed is set. */
int meta_elem_put(MDB_txn *txn, const struct meta_handles *h, struct meta_dbi *d,
		  const MDB_val *key, const MDB_val *val, const struct meta_elem *old,
		  const struct meta_elem *e, int changed);
/* The same for a new element of a plain DBI whose key sorts after every
 * key the metadata holds (a scan in order over fresh metadata): appended
 * without a search (MDB_APPEND). MDB_KEYEXIST when it does not sort
 * last: then nothing changed. */
int meta_elem_append(MDB_txn *txn, const struct meta_handles *h, struct meta_dbi *d,
		     const MDB_val *key, const struct meta_elem *e);

/* Forget an element for good (a swept tombstone): cur is a cursor of the
 * meta txn on h->elems (plain DBI) or h->vals (DUPSORT DBI) positioned on
 * the element (key[, val]) whose metadata is e. Deletes it there (and its
 * "t:" entry) and takes it out of *d's count and digest; cur then stands
 * where mdb_cursor_del leaves it (MDB_NEXT gives the next element). */
int meta_elem_forget(MDB_cursor *cur, const struct meta_handles *h, struct meta_dbi *d,
		     const MDB_val *key, const MDB_val *val, const struct meta_elem *e);

/* Digest of one element: XXH3-128 of (key, [val,] ts, flags, hash), added
 * into sum (mod 2^128), or subtracted when sign < 0. */
void meta_elem_digest(const MDB_val *key, const MDB_val *val, const struct meta_elem *e,
		      int sign, uint8_t sum[16]);

/* XXH3-128 of a value, as stored in meta_elem.hash. */
void meta_hash(const void *p, size_t n, uint8_t out[16]);

#endif
