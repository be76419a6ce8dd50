/* sync.h: the syncer's cycle for one env: fold the journal, export a
 * delta (or a full snapshot), receive and merge the other instances'
 * objects. `mdbtap sync` runs it every poll interval for each env. */
#ifndef MDBTAP_SYNC_H
#define MDBTAP_SYNC_H

#include "senv.h"
#include "statfile.h"

struct cfg;
struct cfg_env;
struct store;
struct statfile;

struct sync_env {
	struct senv s;
	struct store *store;
	const struct cfg_env *ce;    /* not owned */
	int force_full;              /* the next export is a full snapshot */
	int compact;                 /* the next change exports a full snapshot */
	struct statfile *stats;      /* for `mdbtap stats`; NULL if it failed */
	int waiting;                 /* its path did not exist yet (cmd_sync) */
	uint64_t started_ns, cycles;
	uint64_t swept_ns;           /* when tombstones were last swept */
	uint64_t dev, ino;           /* the data file the env was opened on */
	int adopting;                /* no local step committed since the env
					was opened, or an adoption is under way:
					nothing is received meanwhile (sync.c) */
	int halted;                  /* stopped for good (another env uses our
					instance name, or reopening failed) */
	struct statfile_data pub;    /* what the last cycle published (the
					stats file, /metrics) */
	struct journal_mark mark;    /* the journal when the last local step
					began (wake.h) */
	int claimed;                 /* sync_claim done, sync_open not yet */
};

/* What a cycle does: both on every poll; the local step alone after a
 * local commit woke the syncer, receiving alone after an object came. */
#define SYNC_LOCAL 1u
#define SYNC_RECEIVE 2u
#define SYNC_ALL (SYNC_LOCAL | SYNC_RECEIVE)

/* Check the env's store (store_check) and claim the env (senv_claim),
 * creating nothing: a syncer of several envs claims them all before it
 * opens any (docs/DESIGN.md §12: bad input changes nothing). A store that
 * cannot be reached now (or refuses our credentials, which may be
 * rotated) is only logged; one that does not exist (no such bucket or
 * directory) is refused. sync_close releases a
 * claim. err says what failed. */
int sync_claim(struct sync_env *e, const struct cfg_env *ce, char *err, size_t errlen);

/* Claim (sync_claim) and open the env and its store, creating a
 * directory store that the option create names. err says what failed. */
int sync_open(struct sync_env *e, const struct cfg_env *ce, char *err, size_t errlen);

/* The same for an env sync_claim claimed (e->ce); on failure the claim is
 * released. */
int sync_open_claimed(struct sync_env *e, char *err, size_t errlen);
void sync_close(struct sync_env *e);

/* One cycle, of what (SYNC_*). Returns 0 when every step succeeded (errors are logged).
 * An env whose data file was replaced under it is reopened first (then
 * re-adopted). Sets e->halted, and the env is closed, when it must not
 * sync any more. */
int sync_cycle(struct sync_env *e, const struct cfg *c, unsigned what);

#endif
