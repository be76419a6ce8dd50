/* wake.c: see wake.h. */
#include "wake.h"

#include <errno.h>
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
/* futex_waitv's limit is 128 words: one is ours. */
#define MAX_JOURNALS 127

struct watch {
	struct store *s;             /* NULL: none */
	const char *db, *self;
	int fd;
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
	(void)syscall(SYS_futex, &w->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
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
	size_t i;
};

static void on_object(void *ctx, const char *name)
{
	struct seen *sn = ctx;
	struct watch *wa = &sn->w->watches[sn->i];
	struct objname o;

	/* Our own objects (and other envs') are nothing to receive. */
	if (name && (objname_parse(name, &o) || strcmp(o.db, wa->db) ||
		     !strcmp(o.instance, wa->self)))
		return;
	__atomic_store_n(&sn->w->remote[sn->i], 1, __ATOMIC_RELEASE);
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
			if (w->watches[i].s) {
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
			struct seen sn = { w, idx[j] };
			int was;

			if (!pf[j].revents)
				continue;
			was = __atomic_load_n(&w->remote[idx[j]], __ATOMIC_ACQUIRE);
			if (store_watch_read(w->watches[idx[j]].s, on_object, &sn) != 0)
				__atomic_store_n(&w->remote[idx[j]], 1, __ATOMIC_RELEASE);
			if (!was && __atomic_load_n(&w->remote[idx[j]], __ATOMIC_ACQUIRE))
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
	rc = store_watch(s, &fd);
	if (rc)
		return rc;
	pthread_mutex_lock(&w->lock);
	w->watches[i] = (struct watch){ s, db, self, fd };
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

void wake_wait(struct wake *w, struct wake_env *ev, size_t n, uint64_t deadline_ns)
{
	struct futex_waitv fv[MAX_JOURNALS + 1];
	size_t env_of[MAX_JOURNALS];
	uint32_t word = __atomic_load_n(&w->word, __ATOMIC_ACQUIRE);
	struct timespec until = { (time_t)(deadline_ns / 1000000000u),
				  (long)(deadline_ns % 1000000000u) };
	size_t k = 0;
	int any = take_remote(w, ev, n);
	long rc;

	/* Arm every journal, then look at it once more: a commit that
	 * ended before the taps could see the deadline shows here. */
	for (size_t i = 0; i < n && k < MAX_JOURNALS; i++) {
		if (!ev[i].jnl)
			continue;
		fv[k] = (struct futex_waitv){
			.val = journal_arm(ev[i].jnl, deadline_ns + ARM_SLACK_NS),
			.uaddr = (uintptr_t)journal_wake_word(ev[i].jnl),
			.flags = FUTEX_32,
		};
		env_of[k++] = i;
		if (moved(&ev[i]))
			any = ev[i].local = 1;
	}
	if (!any && wake_now_ns() < deadline_ns) {
		fv[k] = (struct futex_waitv){ .val = word, .uaddr = (uintptr_t)&w->word,
					      .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG };
		rc = syscall(SYS_futex_waitv, fv, k + 1, 0, &until, CLOCK_MONOTONIC);
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
	}
	for (size_t j = 0; j < k; j++) {
		struct wake_env *e = &ev[env_of[j]];

		journal_disarm(e->jnl);
		if (!e->local && (__atomic_load_n(journal_wake_word(e->jnl), __ATOMIC_ACQUIRE) !=
				      (uint32_t)fv[j].val || moved(e)))
			e->local = 1;
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
