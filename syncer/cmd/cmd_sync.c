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
#include "log.h"
#include "notify.h"
#include "store.h"
#include "sync.h"

static volatile sig_atomic_t stopping, reopen;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reopen = 1;
	else
		stopping = 1;
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

/* Sleep ns, or less if asked to stop; SIGHUP reopens the log and the
 * sleep goes on. */
static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	while (!stopping && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		reopen_log();
	reopen_log();
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
	rc = sync_open(e, ce, err, sizeof(err));
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

int cmd_sync(int argc, char **argv)
{
	struct sigaction sa;
	struct sync_env *envs;
	struct cfg c;
	char err[512];
	int rc, failed = 0, once, *opened, ready = 0;

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
	envs = calloc(c.nenvs, sizeof(*envs));
	if (!envs) {
		cfg_free(&c);
		return MDBTAP_EXIT_FAIL;
	}
	opened = calloc(c.nenvs, sizeof(*opened));
	for (size_t i = 0; opened && i < c.nenvs; i++) {
		rc = open_env(&envs[i], &c, i, &opened[i]);
		if (rc) {
			for (size_t k = 0; k < i; k++)
				if (opened[k])
					sync_close(&envs[k]);
			free(opened);
			free(envs);
			cfg_free(&c);
			return MDBTAP_EXIT_FAIL;
		}
	}
	if (!opened) {
		free(envs);
		cfg_free(&c);
		return MDBTAP_EXIT_FAIL;
	}
	do {
		failed = 0;
		/* A SIGTERM lets the cycle finish over every env: each env's
		 * state in the store is then whole, and the exit status 0. */
		for (size_t i = 0; i < c.nenvs; i++) {
			reopen_log();
			if (!opened[i] && open_env(&envs[i], &c, i, &opened[i]))
				failed = 1;
			if (opened[i] && sync_cycle(&envs[i], &c))
				failed = 1;
		}
		if (!failed && !ready) {
			/* The initial sync: every env has applied what the store
			 * held; a server may now be put in rotation. */
			ready = 1;
			log_msg(MDBTAP_LOG_INFO, "initial sync done: ready");
			notify_ready("initial sync done; syncing");
		}
		notify_watchdog();
		if (c.once || stopping)
			break;
		sleep_ns(c.poll_interval_ns);
	} while (!stopping);
	if (stopping) {
		notify_stopping();
		log_msg(MDBTAP_LOG_INFO, "stopping: the cycle is done");
	}
	for (size_t i = 0; i < c.nenvs; i++)
		if (opened[i])
			sync_close(&envs[i]);
	log_close();
	free(opened);
	free(envs);
	once = c.once;
	cfg_free(&c);
	return once && failed ? MDBTAP_EXIT_FAIL : MDBTAP_EXIT_OK;
}
