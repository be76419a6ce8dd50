/* cmd_sync.c: `mdbtap sync`: keep envs in sync through a store. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "err.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "store.h"
#include "sync.h"
#include "wake.h"

static volatile sig_atomic_t stopping, reopen;

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		reopen = 1;
		wake_interrupt(); /* reopened at once, and the wait goes on */
		return;
	}
	stopping = 1;
	store_interrupt(); /* a request in progress ends within a second */
	wake_interrupt();  /* and the wait between cycles at once */
}

/* A file we map shrank under us (a data file copied over in place: cp
 * truncates first; sync_cycle checks the size before each cycle, but the
 * file may shrink between that check and LMDB's read). Nothing can be
 * resumed inside LMDB: say so and exit with a code of its own, so that a
 * supervisor starts us again (the metadata is LMDB's: a kill loses
 * nothing), rather than dump core. Async-signal-safe calls only. */
static void on_sigbus(int sig)
{
	static const char msg[] = "mdbtap sync: SIGBUS: a file the syncer maps shrank under it "
				  "(a data file written over in place?): exiting to be restarted\n";
	ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)sig;
	(void)n;
	_exit(MDBTAP_EXIT_SHRANK);
}

/* SIGHUP (logrotate moved the file): reopen the log, between steps. */
static void reopen_log(void)
{
	int rc;

	if (!reopen)
		return;
	reopen = 0;
	rc = log_reopen();
	if (rc)
		log_msg(MDBTAP_LOG_ERROR, "reopening the log file: %s; still writing to the old "
			"one", err_str(rc));
	else
		log_msg(MDBTAP_LOG_INFO, "log file reopened (SIGHUP)");
}

/* Under a systemd watchdog, WATCHDOG=1 goes out at least every wd_ns / 2
 * while the syncer sleeps: a poll interval may be longer than
 * WatchdogSec=, and sleeping is no hang. 0: no watchdog. */
static uint64_t wd_ns;

/* The end of the next stretch of sleep towards t: t, or sooner under a
 * watchdog. */
static uint64_t wd_until(uint64_t now, uint64_t t)
{
	return wd_ns && t > now && t - now > wd_ns / 2 ? now + wd_ns / 2 : t;
}

/* Open env i. One whose path does not exist yet is waited for (its
 * program creates it, PowerDNS its record shards at the first record):
 * *opened stays 0 and the next cycle tries again; with --once that is an
 * error. Returns 0 or an errno value (then the syncer cannot run). */
static int open_env(struct sync_env *e, const struct cfg *c, size_t i, int *opened)
{
	const struct cfg_env *ce = &c->envs[i];
	char err[1024];
	int rc;

	if (access(ce->path, F_OK) != 0 && errno == ENOENT && !c->once) {
		if (!e->waiting)
			log_msg(MDBTAP_LOG_INFO, "%s: waiting for the env to appear", ce->path);
		e->waiting = 1;
		return 0;
	}
	/* claimed with the others at start (claim_envs), or now */
	rc = e->claimed ? sync_open_claimed(e, err, sizeof(err))
			: sync_open(e, ce, err, sizeof(err));
	if (rc) {
		log_msg(MDBTAP_LOG_ERROR, "%s", err);
		return rc;
	}
	e->force_full = c->full_now;
	*opened = 1;
	log_msg(MDBTAP_LOG_INFO, "%s: syncing as '%s' of instance '%s' through %s", ce->path, ce->name,
		c->instance, store_url(e->store));
	return 0;
}

/* Every env whose path exists (or, with --once, every env) checked and
 * claimed before any is opened: a bad store or a busy env anywhere in the
 * config creates nothing anywhere. On error the claims so far are
 * released. Returns 0 or an errno value. */
static int claim_envs(struct sync_env *envs, const struct cfg *c)
{
	char err[1024];
	int rc = 0;
	size_t i;

	for (i = 0; i < c->nenvs && !rc; i++) {
		const struct cfg_env *ce = &c->envs[i];

		if (access(ce->path, F_OK) != 0 && errno == ENOENT && !c->once)
			continue; /* waited for: claimed when it appears */
		rc = sync_claim(&envs[i], ce, err, sizeof(err));
		if (rc)
			log_msg(MDBTAP_LOG_ERROR, "%s", err);
	}
	for (size_t k = 0; rc && k < i; k++)
		if (envs[k].claimed) {
			sync_close(&envs[k]);
			envs[k].claimed = 0;
		}
	return rc;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One env's cycle (opening it first if needed), published to the HTTP
 * endpoint (h may be NULL). Returns 1 if it failed. */
static int cycle_env(struct sync_env *e, const struct cfg *c, size_t i, int *opened,
		     unsigned what, struct http *h, struct http_env *he)
{
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	int failed = 0;

	if (!*opened && open_env(e, c, i, opened))
		failed = 1;
	if (*opened && sync_cycle(e, c, what))
		failed = 1;
	if (!h)
		return failed;
	snprintf(he->name, sizeof(he->name), "%s", c->envs[i].name);
	snprintf(he->instance, sizeof(he->instance), "%s", c->instance);
	he->opened = *opened;
	if (*opened) {
		uint64_t before = he->d.journal_dropped;

		he->d = e->pub;
		/* Records dropped during this run (not those of before it):
		 * /healthz says so for a while. */
		if (he->published && he->d.journal_dropped > before)
			he->dropped_ns = clock_ns(CLOCK_REALTIME);
		he->published = 1;
	}
	he->cycles++;
	he->last_cycle_s = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
	if (failed) {
		he->failed_cycles++;
		if (!he->failing_since_ns)
			he->failing_since_ns = clock_ns(CLOCK_REALTIME);
	} else {
		he->failing_since_ns = 0;
		he->last_ok_ns = clock_ns(CLOCK_REALTIME);
	}
	http_publish(h, i, he);
	return failed;
}

/* Once env i is open, objects arriving in its store wake us, if the
 * store can tell (a directory); else it is listed every poll. watched[i]:
 * 0 not tried yet, 1 polled, 2 watched. */
static void watch_store(struct wake *wk, struct sync_env *envs, const struct cfg *c, size_t i,
			const int *opened, int *watched)
{
	int rc;

	if (!wk || !opened[i] || watched[i] || envs[i].halted)
		return;
	watched[i] = 1;
	rc = wake_watch_store(wk, i, envs[i].store, c->envs[i].name, c->instance);
	if (rc == 0)
		watched[i] = 2; /* objects wake us */
	if (rc == 0)
		log_msg(MDBTAP_LOG_DEBUG, "%s: watching the store for new objects",
			c->envs[i].path);
	else if (rc != ENOTSUP)
		log_msg(MDBTAP_LOG_WARN, "%s: cannot watch the store (%s): it is listed every "
			"poll interval", c->envs[i].path, err_str(rc));
}

/* Sleep until t (wake_now_ns), or less if asked to stop; SIGHUP reopens
 * the log and the sleep goes on; under a watchdog, WATCHDOG=1 on the way. */
static void sleep_until(uint64_t t)
{
	uint64_t now;

	while (!stopping && (now = wake_now_ns()) < t) {
		uint64_t end = wd_until(now, t);
		struct timespec ts = { (time_t)((end - now) / 1000000000u),
				       (long)((end - now) % 1000000000u) };

		while (!stopping && nanosleep(&ts, &ts) != 0 && errno == EINTR)
			reopen_log();
		if (end < t)
			notify_watchdog();
	}
	reopen_log();
}

/* On a listed store, a commit within poll_interval / this of the last
 * export belongs to its burst. */
#define LISTED_BURST_DIV 4

/* The longest a burst's commits wait: 512 batch windows (1 s by
 * default), and never longer than the poll interval. */
static uint64_t batch_cap(const struct cfg *c)
{
	uint64_t cap = 512 * c->batch_window_ns;

	return cap < c->poll_interval_ns ? cap : c->poll_interval_ns;
}

static int all_watched(const int *opened, const int *watched, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (opened[i] && watched[i] != 2)
			return 0;
	return 1;
}

/* Wait for the next poll, a local commit or an object; a local commit
 * then waits for the rest of its burst (batch_window). Without a waiter,
 * a plain sleep. */
static void wait_next(struct wake *wk, struct sync_env *envs, struct wake_env *wev,
		      const int *opened, const int *watched, const struct cfg *c,
		      uint64_t next_poll, struct wake_batch *batch)
{
	uint64_t delay, now;
	int local = 0;

	if (!wk) {
		sleep_until(next_poll);
		return;
	}
	for (size_t i = 0; i < c->nenvs; i++) {
		wev[i].jnl = opened[i] && !envs[i].halted ? envs[i].s.jnl : NULL;
		wev[i].mark = envs[i].mark;
		wev[i].local = wev[i].remote = 0;
	}
	while (!stopping) {
		uint64_t until = wd_until(wake_now_ns(), next_poll);

		wake_wait(wk, wev, c->nenvs, until);
		reopen_log();
		if (until < next_poll && wake_now_ns() >= until)
			notify_watchdog();
		for (size_t i = 0; i < c->nenvs; i++)
			local |= wev[i].local | wev[i].remote;
		if (local || stopping || wake_now_ns() >= next_poll)
			break;
	}
	local = 0;
	for (size_t i = 0; i < c->nenvs; i++)
		local |= wev[i].local;
	if (!local || stopping)
		return;
	/* The commits that follow within the batch window go with it. */
	now = wake_now_ns();
	/* A store that is listed (S3) charges each request: there a commit
	 * within a quarter poll of the last export is still the burst, so a
	 * stream makes at most about four objects per poll. Not a whole poll:
	 * a commit a little less than a poll after the last export would wait
	 * up to a poll more, and receivers list only every poll
	 * (docs/DESIGN.md §25). */
	delay = wake_batch_delay(batch, c->batch_window_ns, batch_cap(c),
				 all_watched(opened, watched, c->nenvs) ? 0 :
				 c->poll_interval_ns / LISTED_BURST_DIV, now);
	if (delay)
		sleep_until(now + delay);
}

static int all_opened(const int *opened, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!opened[i])
			return 0;
	return 1;
}

int cmd_sync(int argc, char **argv)
{
	struct sigaction sa;
	struct sync_env *envs;
	struct cfg c;
	char err[512];
	int rc, failed = 0, once = 0, *opened, ready = 0, *watched = NULL;
	struct http *http = NULL;
	struct wake *wk = NULL;
	struct wake_env *wev = NULL;
	uint64_t next_poll = 0;
	struct wake_batch batch = { 0, 0 };
	struct http_env *hstate = NULL;
	wd_ns = notify_watchdog_ns();

	/* Our own LMDB calls must never be journaled as the host's, even
	 * if the tap was preloaded into us by accident. */
	setenv("MDBTAP_DISABLE", "1", 1);
	cfg_init(&c);
	rc = cfg_parse_args(&c, argc, argv, err, sizeof(err));
	if (rc == CFG_HELP) {
		commands_help(stdout, commands_find("sync"));
		cfg_free(&c);
		return MDBTAP_EXIT_OK;
	}
	if (!rc)
		rc = cfg_check(&c, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "mdbtap sync: %s\nTry 'mdbtap help sync'.\n", err);
		cfg_free(&c);
		return MDBTAP_EXIT_USAGE;
	}
	rc = log_open(c.log_file, c.log_level, c.log_format);
	if (rc) {
		fprintf(stderr, "mdbtap sync: %s: %s\n", c.log_file, err_str(rc));
		cfg_free(&c);
		return MDBTAP_EXIT_FAIL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);
	if (c.http_listen) {
		/* An env whose cycles have failed for ten poll intervals (at
		 * least a second) is unwell. */
		uint64_t fail_ns = 10 * c.poll_interval_ns;

		if (fail_ns < CFG_NS_PER_SEC)
			fail_ns = CFG_NS_PER_SEC;
		hstate = calloc(c.nenvs, sizeof(*hstate));
		rc = hstate ? http_start(c.http_listen, c.nenvs, fail_ns, &http, err, sizeof(err))
			    : ENOMEM;
		if (rc) {
			fprintf(stderr, "mdbtap sync: %s\n", rc == ENOMEM ? "out of memory" : err);
			free(hstate);
			log_close();
			cfg_free(&c);
			return MDBTAP_EXIT_FAIL;
		}
		/* Each env's labels from the start: a scrape during the first
		 * cycle (a long initial sync) must not see env="". */
		for (size_t i = 0; i < c.nenvs; i++) {
			snprintf(hstate[i].name, sizeof(hstate[i].name), "%s", c.envs[i].name);
			snprintf(hstate[i].instance, sizeof(hstate[i].instance), "%s", c.instance);
			http_publish(http, i, &hstate[i]);
		}
		log_msg(MDBTAP_LOG_INFO, "serving /metrics, /healthz and /readyz on %s",
			c.http_listen);
	}
	envs = calloc(c.nenvs, sizeof(*envs));
	if (!envs) {
		http_stop(http);
		free(hstate);
		cfg_free(&c);
		return MDBTAP_EXIT_FAIL;
	}
	opened = calloc(c.nenvs, sizeof(*opened));
	rc = opened ? claim_envs(envs, &c) : 0;
	for (size_t i = 0; opened && i < c.nenvs; i++) {
		if (!rc)
			rc = open_env(&envs[i], &c, i, &opened[i]);
		if (rc) {
			for (size_t k = 0; k < c.nenvs; k++)
				if (opened[k] || envs[k].claimed)
					sync_close(&envs[k]);
			free(opened);
			free(envs);
			http_stop(http);
			free(hstate);
			cfg_free(&c);
			return MDBTAP_EXIT_FAIL;
		}
	}
	if (!opened) {
		free(envs);
		http_stop(http);
		free(hstate);
		cfg_free(&c);
		return MDBTAP_EXIT_FAIL;
	}
	wev = calloc(c.nenvs, sizeof(*wev));
	watched = calloc(c.nenvs, sizeof(*watched));
	/* --once never waits: no watch, no thread. */
	if (!c.once && (!wev || !watched || wake_open(c.nenvs, &wk))) {
		/* Polling only, as before: still correct. */
		log_msg(MDBTAP_LOG_WARN, "out of memory: local commits and new objects wait for "
			"the next poll");
		wake_close(wk);
		wk = NULL;
	}
	do {
		size_t halted = 0;
		uint64_t now = wake_now_ns();
		int due = now >= next_poll, local_round = 0;

		failed = 0;
		/* A SIGTERM lets the cycle finish over every env (a request
		 * in progress is cut short): each env's state in the store is
		 * then whole, and the exit status 0. */
		for (size_t i = 0; i < c.nenvs; i++) {
			unsigned what = SYNC_ALL;

			reopen_log();
			if (envs[i].halted) {
				halted++; /* said in the log when it stopped */
				failed = 1;
				continue;
			}
			if (!due && wk)
				what = (wev[i].local ? SYNC_LOCAL : 0) |
				       (wev[i].remote ? SYNC_RECEIVE : 0);
			if (!what)
				continue;
			local_round |= !due && (what & SYNC_LOCAL);
			if (cycle_env(&envs[i], &c, i, &opened[i], what, http,
				      hstate ? &hstate[i] : NULL))
				failed = 1;
			watch_store(wk, envs, &c, i, opened, watched);
		}
		if (!due)
			failed = 0; /* a round of some envs: says nothing of the rest */
		if (due && !failed && !ready && all_opened(opened, c.nenvs)) {
			/* The initial sync: every env has applied what the store
			 * held (an env still waiting for its path holds nothing
			 * yet); a server may now be put in rotation. */
			ready = 1;
			log_msg(MDBTAP_LOG_INFO, "initial sync done: ready");
			notify_ready("initial sync done; syncing");
			http_set_ready(http);
		}
		notify_watchdog();
		if (c.once || stopping)
			break;
		if (halted == c.nenvs) {
			log_msg(MDBTAP_LOG_ERROR, "every env has stopped syncing");
			once = 1;
			break;
		}
		if (due) {
			/* Polls keep their period whatever the cycle took (one
			 * listing per interval, a remote object waits at most
			 * one); a cycle longer than the interval still leaves a
			 * tenth of one before the next. */
			uint64_t floor = wake_now_ns() + c.poll_interval_ns / 10;

			next_poll = now + c.poll_interval_ns;
			if (next_poll < floor)
				next_poll = floor;
		}
		if (local_round)
			batch.last_end_ns = wake_now_ns();
		wait_next(wk, envs, wev, opened, watched, &c, next_poll, &batch);
	} while (!stopping);
	if (stopping) {
		notify_stopping();
		log_msg(MDBTAP_LOG_INFO, "stopping: the cycle is done");
	}
	wake_close(wk); /* its thread reads the stores: first */
	free(wev);
	free(watched);
	for (size_t i = 0; i < c.nenvs; i++)
		if (opened[i])
			sync_close(&envs[i]);
	http_stop(http);
	free(hstate);
	log_close();
	free(opened);
	free(envs);
	once |= c.once;
	cfg_free(&c);
	return once && failed ? MDBTAP_EXIT_FAIL : MDBTAP_EXIT_OK;
}
