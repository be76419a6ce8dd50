/* wake.h: what `mdbtap sync` waits for between cycles (docs/DESIGN.md
 * §25): the next poll, a local commit (the tap wakes a futex word in the
 * env's journal, include/mdbtap.h "Waking the syncer"), an object of
 * another instance arriving in a store that can be watched (a directory
 * store, through inotify), or a signal, whichever comes first. One
 * futex_waitv(2) waits for all of them: a thread of ours turns the
 * stores' watch descriptors into a futex wake of a word of this process.
 * futex_waitv takes 128 words: past 127 journals, each further group of
 * 127 is waited for by a thread of its own, which wakes the word. Envs
 * whose stores are the same directory share one inotify instance.
 */
#ifndef MDBTAP_WAKE_H
#define MDBTAP_WAKE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct store;
struct wake;

/* One env, as the wait sees it. */
struct wake_env {
	struct journal *jnl;        /* NULL: the env is not open (no local wake) */
	struct journal_mark mark;   /* the journal when its last local step began */
	int local, remote;          /* out: a local commit, an object came */
};

/* Make a waiter for n envs. Returns 0 or an errno value. */
int wake_open(size_t n, struct wake **out);

/* Stop the watching thread and free; NULL is fine. Before the stores
 * are closed. */
void wake_close(struct wake *w);

/* Watch env i's store, if it can be (store_watch): objects of db put by
 * an instance other than self set env i's `remote`. The strings must
 * outlive w. Returns 0, ENOTSUP (polled) or an errno value. */
int wake_watch_store(struct wake *w, size_t i, struct store *s, const char *db,
		     const char *self);

/* Wait until deadline_ns (CLOCK_MONOTONIC), a local commit on one of
 * the envs (one whose journal differs from its mark sets `local`), an
 * object in a watched store (`remote`) or wake_interrupt. Returns at
 * once when one of those happened already. */
void wake_wait(struct wake *w, struct wake_env *ev, size_t n, uint64_t deadline_ns);

/* How long a local commit waits for others before its export
 * (docs/DESIGN.md §25): window_ns after a quiet spell; while commits keep
 * coming (the next wake less than the last wait plus ten windows after an
 * export), twice the last wait each time, up to cap_ns. So a lone commit goes at once, a
 * burst makes a handful of objects and a steady stream one per cap. */
struct wake_batch {
	unsigned level;             /* the wait is window << level */
	uint64_t last_end_ns;       /* when the last local export ended */
};

/* A local commit woke us at now_ns: the wait before exporting it. A
 * wake less than burst_ns after an export also counts as the same burst
 * (0: only the rule above). */
uint64_t wake_batch_delay(struct wake_batch *b, uint64_t window_ns, uint64_t cap_ns,
			  uint64_t burst_ns, uint64_t now_ns);

/* End the wait under way now (async-signal-safe: for a signal handler,
 * whichever thread it runs on). */
void wake_interrupt(void);

/* CLOCK_MONOTONIC in ns. */
uint64_t wake_now_ns(void);

#endif
