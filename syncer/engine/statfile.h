/* statfile.h: a running syncer's counters, readable by `mdbtap stats`.
 *
 * Each synced env has a small file, <companion>/syncer.stats, that the
 * syncer maps shared and updates in place after every cycle: requests to
 * the store by type, bytes, retries, objects and elements in and out. A
 * reader maps it too and copies it under a sequence number, so it never
 * sees half an update; the file costs the syncer no system call per
 * cycle. The counters start at zero with each syncer process.
 */
#ifndef MDBTAP_STATFILE_H
#define MDBTAP_STATFILE_H

#include <stddef.h>
#include <stdint.h>

#include "jdir.h"

#include "senv.h"
#include "store.h"

#define STATFILE_NAME "syncer.stats"

#define STATFILE_MAX_REMOTES 64

/* A remote instance's progress here (meta_remote). */
struct statfile_remote {
	char name[72];
	uint64_t newest_ns;           /* name time of its newest object applied */
	uint64_t to;                  /* that object's last txn id */
};

/* What the file holds. Native byte order: only read on this machine. */
struct statfile_data {
	uint64_t pid;                 /* the syncer's */
	uint64_t started_ns;          /* wall clock, when it started */
	uint64_t updated_ns;          /* wall clock, its last cycle */
	uint64_t cycles;
	uint64_t poll_interval_ns;
	struct store_stats store;
	struct senv_stats env;
	char store_url[512];          /* store_url(): no secrets */
	char misfits[1024];           /* statfile_gather: the refusals held,
					 "DBI from INSTANCE: N; ..." */
	/* The cycles (sync.c). */
	uint64_t failed_cycles;
	uint64_t last_cycle_ns;       /* how long the last one took */
	uint64_t last_ok_ns;          /* wall clock: the last one without an error */
	uint64_t last_error_ns;       /* wall clock: the last one with one; 0 */
	char last_error[256];         /* what it was, in short */
	struct hist cycle;            /* every cycle's duration */
	/* statfile_gather: the metadata and the journal, after the cycle. */
	uint64_t accounted, exported; /* meta_state: txn ids folded, exported */
	uint64_t last_obj_ns, last_full_ns;
	uint64_t backlog_records;     /* journal records not yet folded */
	uint64_t backlog_bytes;       /* their bytes in the ring */
	uint64_t journal_capacity;    /* the ring's size; 0: no journal */
	uint64_t journal_dropped;     /* records that did not fit (for ever) */
	uint64_t nremotes;            /* remote instances known (more than the
					 array holds: the rest left out) */
	struct statfile_remote remotes[STATFILE_MAX_REMOTES];
	/* statfile_gather: remote elements refused for the local DBIs'
	 * flags, as the metadata holds them (meta_misfit: over every syncer
	 * run, until the condition ends). */
	uint64_t misfits_held;        /* elements */
	uint64_t misfit_pairs;        /* (DBI, instance) pairs */
};

struct statfile;

/* Create or reuse the file in companion dir and map it; a syncer calls
 * this once per env. Returns 0 or an errno value. */
int statfile_open(const char *companion, const struct jdir_trust *t, struct statfile **out);

/* Publish d. */
void statfile_update(struct statfile *f, const struct statfile_data *d);

/* Unmap and free; the file stays for readers. NULL is fine. */
void statfile_close(struct statfile *f);

/* Fill d's metadata and journal part from s (its meta env and journal
 * as they are now): what `mdbtap status` shows with or without a running
 * syncer. Returns 0 or an LMDB code. */
int statfile_gather(struct senv *s, struct statfile_data *d);

/* Read the counters a syncer of the env whose companion dir is given
 * published. ENOENT: no syncer ever ran there; EPROTO: not such a file;
 * EAGAIN: it kept changing while read. */
int statfile_read(const char *companion, struct statfile_data *d);

#endif
