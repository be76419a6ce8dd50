/* wake.c: see wake.h. */
#include "wake.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "dur.h"
#include "log.h"
#include "objname.h"
#include "store.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

/* A syncer waits this much longer than it asked for before the taps
 * stop waking it: a stopped syncer, or one killed while waiting, costs
 * them nothing after that. */
#define ARM_SLACK_NS 1000000000ull
/* A commit this many batch windows (more than the last wait) after an
 * export is still part of the same burst. */
#define BURST_WINDOWS 10
/* futex_waitv's limit is 128 words: one is ours. More journals than
 * this are waited for in groups, one thread per group after the first. */
#define GROUP 127

struct watch {
	struct store *s;             /* NULL: none */
	const char *db, *self;
	int fd;
	size_t owner;                /* the watch whose store reads fd: envs
					sharing a store directory share one
					inotify instance */
};

struct wake {
	uint32_t word;               /* futex: bumped by the thread and signals */
	int *remote;                 /* atomic, per env */
	struct watch *watches;       /* per env; guarded by lock */
	size_t n;
	pthread_mutex_t lock;
	pthread_t thread;
	int started;
	int ctl;                     /* eventfd: rebuild the poll set, or stop */
	int stop;                    /* atomic */
};

static struct wake *current;     /* for wake_interrupt */

uint64_t wake_now_ns(void)
{
	return dur_mono_ns();
}

static void bump(struct wake *w)
{
	int saved = errno;

	__atomic_fetch_add(&w->word, 1, __ATOMIC_RELEASE);
	/* All: the groups' threads wait on it too. */
	(void)syscall(SYS_futex, &w->word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	errno = saved;
}

void wake_interrupt(void)
{
	struct wake *w = __atomic_load_n(&current, __ATOMIC_ACQUIRE);

	if (w)
		bump(w);
}

int wake_open(size_t n, struct wake **out)
{
	struct wake *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return ENOMEM;
	w->n = n;
	w->remote = calloc(n ? n : 1, sizeof(*w->remote));
	w->watches = calloc(n ? n : 1, sizeof(*w->watches));
	w->ctl = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!w->remote || !w->watches || w->ctl < 0) {
		int rc = w->ctl < 0 ? errno : ENOMEM;

		if (w->ctl >= 0)
			close(w->ctl);
		free(w->remote);
		free(w->watches);
		free(w);
		return rc;
	}
	pthread_mutex_init(&w->lock, NULL);
	__atomic_store_n(&current, w, __ATOMIC_RELEASE);
	*out = w;
	return 0;
}

struct seen {
	struct wake *w;
	size_t owner;                /* the watch read */
	int fresh;                   /* out: a flag went up */
};

static void flag(struct seen *sn, size_t i)
{
	if (!__atomic_exchange_n(&sn->w->remote[i], 1, __ATOMIC_ACQ_REL))
		sn->fresh = 1;
}

/* For every env watching through the owner's fd (called under lock). */
static void on_object(void *ctx, const char *name)
{
	struct seen *sn = ctx;
	struct objname o;
	int parsed = name && !objname_parse(name, &o);

	if (name && !parsed)
		return;
	for (size_t i = 0; i < sn->w->n; i++) {
		struct watch *wa = &sn->w->watches[i];

		/* Our own objects (and other envs') are nothing to receive;
		 * NULL: events were lost, any env may have one. */
		if (!wa->s || wa->owner != sn->owner ||
		    (name && (strcmp(o.db, wa->db) || !strcmp(o.instance, wa->self))))
			continue;
		flag(sn, i);
	}
}

/* The thread: poll the watch descriptors; an object that arrived sets its
 * env's flag, then bumps the word (flag first: wake_wait loads the word,
 * then looks at the flags). */
static void *watch_thread(void *arg)
{
	struct wake *w = arg;
	struct pollfd *pf = calloc(w->n + 1, sizeof(*pf));
	size_t *idx = calloc(w->n + 1, sizeof(*idx));

	if (!pf || !idx) {
		free(pf);
		free(idx);
		return NULL;
	}
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		size_t k = 1;
		uint64_t v;

		pf[0].fd = w->ctl;
		pf[0].events = POLLIN;
		pthread_mutex_lock(&w->lock);
		for (size_t i = 0; i < w->n; i++)
			if (w->watches[i].s && w->watches[i].owner == i) {
				pf[k].fd = w->watches[i].fd;
				pf[k].events = POLLIN;
				idx[k++] = i;
			}
		pthread_mutex_unlock(&w->lock);
		if (poll(pf, k, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(MDBTAP_LOG_WARN, "watching the stores: %s; they are polled",
				err_str(errno));
			break;
		}
		if (pf[0].revents)
			(void)!read(w->ctl, &v, sizeof(v));
		for (size_t j = 1; j < k; j++) {
			struct seen sn = { w, idx[j], 0 };

			if (!pf[j].revents)
				continue;
			/* Under lock: on_object walks the watches. */
			pthread_mutex_lock(&w->lock);
			if (store_watch_read(w->watches[idx[j]].s, on_object, &sn) != 0)
				on_object(&sn, NULL);
			pthread_mutex_unlock(&w->lock);
			if (sn.fresh)
				bump(w);
		}
	}
	free(pf);
	free(idx);
	return NULL;
}

static void poke(struct wake *w)
{
	uint64_t one = 1;

	(void)!write(w->ctl, &one, sizeof(one));
}

int wake_watch_store(struct wake *w, size_t i, struct store *s, const char *db,
		     const char *self)
{
	sigset_t all, old;
	int fd, rc;

	if (i >= w->n)
		return EINVAL;
	/* One inotify instance per store directory, however many envs use
	 * it: the per-user limit (fs.inotify.max_user_instances, often 128)
	 * is soon reached otherwise. Only the thread reads the watches. */
	pthread_mutex_lock(&w->lock);
	for (size_t j = 0; j < w->n; j++)
		if (j != i && w->watches[j].s && w->watches[j].owner == j &&
		    !strcmp(store_url(w->watches[j].s), store_url(s))) {
			w->watches[i] = (struct watch){ s, db, self, w->watches[j].fd, j };
			pthread_mutex_unlock(&w->lock);
			return 0; /* the thread is running: it has the fd */
		}
	pthread_mutex_unlock(&w->lock);
	rc = store_watch(s, &fd);
	if (rc)
		return rc;
	pthread_mutex_lock(&w->lock);
	w->watches[i] = (struct watch){ s, db, self, fd, i };
	pthread_mutex_unlock(&w->lock);
	if (w->started) {
		poke(w);
		return 0;
	}
	/* Signals go to the main thread, whose wait they end. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->thread, NULL, watch_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pthread_mutex_lock(&w->lock);
		w->watches[i].s = NULL;
		pthread_mutex_unlock(&w->lock);
		return rc;
	}
	w->started = 1;
	return 0;
}

void wake_close(struct wake *w)
{
	if (!w)
		return;
	__atomic_store_n(&current, NULL, __ATOMIC_RELEASE);
	if (w->started) {
		__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
		poke(w);
		pthread_join(w->thread, NULL);
	}
	pthread_mutex_destroy(&w->lock);
	close(w->ctl);
	free(w->remote);
	free(w->watches);
	free(w);
}

static int moved(struct wake_env *e)
{
	struct journal_mark m = e->mark;

	journal_mark(e->jnl, &m);
	return m.last != e->mark.last || m.pending != e->mark.pending;
}

/* Flags set by the thread, taken. */
static int take_remote(struct wake *w, struct wake_env *ev, size_t n)
{
	int any = 0;

	for (size_t i = 0; i < n && i < w->n; i++)
		if (__atomic_exchange_n(&w->remote[i], 0, __ATOMIC_ACQ_REL)) {
			ev[i].remote = 1;
			any = 1;
		}
	return any;
}

/* One futex_waitv over up to GROUP journals and our word. */
struct group {
	struct wake *w;
	struct futex_waitv fv[GROUP + 1];
	size_t k;                    /* journals; fv[k] is the word */
	const struct timespec *until;
	pthread_t thread;
	int started;
};

static long group_wait(struct group *g)
{
	return syscall(SYS_futex_waitv, g->fv, g->k + 1, 0, g->until, CLOCK_MONOTONIC);
}

/* A group's thread: a commit on one of its journals (or one that came
 * before it waited) ends the wait of all, through the word. */
static void *group_thread(void *arg)
{
	struct group *g = arg;
	long rc = group_wait(g);

	if ((rc >= 0 && (size_t)rc < g->k) || (rc < 0 && errno == EAGAIN))
		bump(g->w);
	return NULL;
}

/* Group gi (from 1) in a thread of its own; signals stay with the
 * caller's thread. */
static void group_start(struct group *g)
{
	static int warned;
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	g->started = pthread_create(&g->thread, NULL, group_thread, g) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!g->started && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		log_msg(MDBTAP_LOG_WARN, "no thread to wait for %zu envs' commits: they are "
			"exported at the poll interval", g->k);
}

void wake_wait(struct wake *w, struct wake_env *ev, size_t n, uint64_t deadline_ns)
{
	struct group one;            /* up to GROUP journals: no allocation */
	struct group *gs = &one;
	size_t *env_of = NULL, ng = 1, k = 0;
	uint32_t word = __atomic_load_n(&w->word, __ATOMIC_ACQUIRE);
	struct timespec until = { (time_t)(deadline_ns / 1000000000u),
				  (long)(deadline_ns % 1000000000u) };
	size_t one_env_of[GROUP];
	int any = take_remote(w, ev, n);
	long rc;

	for (size_t i = 0; i < n; i++)
		k += ev[i].jnl != NULL;
	if (k > GROUP) {
		ng = (k + GROUP - 1) / GROUP;
		gs = calloc(ng, sizeof(*gs));
		env_of = calloc(k, sizeof(*env_of));
		if (!gs || !env_of) {
			/* The first GROUP journals only, this time. */
			free(gs);
			free(env_of);
			gs = &one;
			env_of = NULL;
			ng = 1;
		}
	}
	if (!env_of)
		env_of = one_env_of;
	memset(gs, 0, sizeof(*gs));
	/* Arm every journal, then look at it once more: a commit that
	 * ended before the taps could see the deadline shows here. */
	k = 0;
	for (size_t i = 0; i < n && k < ng * GROUP; i++) {
		struct group *g = &gs[k / GROUP];

		if (!ev[i].jnl)
			continue;
		g->fv[g->k++] = (struct futex_waitv){
			.val = journal_arm(ev[i].jnl, deadline_ns + ARM_SLACK_NS),
			.uaddr = (uintptr_t)journal_wake_word(ev[i].jnl),
			.flags = FUTEX_32,
		};
		env_of[k++] = i;
		if (moved(&ev[i]))
			any = ev[i].local = 1;
	}
	if (!any && wake_now_ns() < deadline_ns) {
		for (size_t g = 0; g < ng; g++) {
			gs[g].w = w;
			gs[g].until = &until;
			gs[g].fv[gs[g].k] = (struct futex_waitv){
				.val = word, .uaddr = (uintptr_t)&w->word,
				.flags = FUTEX_32 | FUTEX_PRIVATE_FLAG };
			if (g)
				group_start(&gs[g]);
		}
		rc = group_wait(&gs[0]);
		if (rc < 0 && errno == ENOSYS) {
			/* Before Linux 5.16: stores and signals only; local
			 * commits wait for the poll. */
			uint64_t now = wake_now_ns();
			struct timespec rel = { 0, 0 };

			if (now < deadline_ns) {
				rel.tv_sec = (time_t)((deadline_ns - now) / 1000000000u);
				rel.tv_nsec = (long)((deadline_ns - now) % 1000000000u);
				(void)syscall(SYS_futex, &w->word, FUTEX_WAIT_PRIVATE, word, &rel,
					      NULL, 0);
			}
		}
		if (ng > 1) {
			bump(w); /* the groups' waits end too */
			for (size_t g = 1; g < ng; g++)
				if (gs[g].started)
					pthread_join(gs[g].thread, NULL);
		}
	}
	for (size_t j = 0; j < k; j++) {
		struct wake_env *e = &ev[env_of[j]];

		journal_disarm(e->jnl);
		if (!e->local && (__atomic_load_n(journal_wake_word(e->jnl), __ATOMIC_ACQUIRE) !=
				      (uint32_t)gs[j / GROUP].fv[j % GROUP].val || moved(e)))
			e->local = 1;
	}
	if (gs != &one) {
		free(gs);
		free(env_of);
	}
	take_remote(w, ev, n);
}

uint64_t wake_batch_delay(struct wake_batch *b, uint64_t window_ns, uint64_t cap_ns,
			  uint64_t burst_ns, uint64_t now_ns)
{
	uint64_t d = window_ns;

	if (!window_ns)
		return 0;
	for (unsigned k = 0; k < b->level && d < cap_ns; k++)
		d <<= 1;
	if (d > cap_ns)
		d = cap_ns;
	/* Woken again soon after the last export (within its wait and ten
	 * windows more, or burst_ns): still a burst, wait longer. */
	if (b->last_end_ns && (now_ns - b->last_end_ns < d + BURST_WINDOWS * window_ns ||
			       now_ns - b->last_end_ns < burst_ns)) {
		if (d < cap_ns)
			b->level++;
		d = d << 1 < cap_ns ? d << 1 : cap_ns;
	} else {
		b->level = 0;
		d = window_ns < cap_ns ? window_ns : cap_ns;
	}
	return d;
}
