/* cmd_run.c: `mdbtap run`: start a program with the tap preloaded and,
 * if asked, its syncer next to it for as long as the program runs. */
#define _GNU_SOURCE /* environ */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "err.h"
#include "tapfind.h"

#define WAIT_FOR_ENVS_MS 60000   /* how long the syncer waits for its envs to appear */

static volatile sig_atomic_t child_pid;

/* Pass a signal on to the program, unless the terminal sent it (Ctrl-C):
 * the terminal signals its whole foreground process group, the program
 * too, and a second copy would make it think Ctrl-C was pressed twice. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (child_pid > 0 && !(si && si->si_code == SI_KERNEL))
		kill(child_pid, sig);
}

/* Whether the loader can preload path: LD_PRELOAD splits on spaces and
 * colons, and expands $LIB, $ORIGIN and $PLATFORM: a path with any of
 * them would be silently dropped or another file loaded. */
static int preloadable(const char *path)
{
	return !strpbrk(path, " :\t\n$");
}

/* LD_PRELOAD with what the environment had, then the tap: what is there
 * may have to come first (a sanitizer's runtime does). */
static int set_preload(const char *tap)
{
	const char *old = getenv("LD_PRELOAD");
	char *v;
	int rc;

	if (old && old[0]) {
		if (asprintf(&v, "%s:%s", old, tap) < 0)
			return ENOMEM;
	} else if (!(v = strdup(tap))) {
		return ENOMEM;
	}
	rc = setenv("LD_PRELOAD", v, 1) ? errno : 0;
	free(v);
	return rc;
}

/* Whether every --env PATH of the sync options exists yet. */
static int envs_exist(char **sync, int nsync)
{
	struct stat st;

	for (int i = 0; i + 1 < nsync; i++)
		if (!strcmp(sync[i], "--env") && stat(sync[i + 1], &st) != 0)
			return 0;
	return 1;
}

static pid_t spawn(char **argv, int exec_self)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* The syncer in a process group of its own: a Ctrl-C meant for
		 * the program does not stop it; mdbtap run stops it after. */
		if (exec_self)
			(void)setpgid(0, 0);
		if (exec_self)
			execv("/proc/self/exe", argv);
		else
			execvp(argv[0], argv);
		fprintf(stderr, "mdbtap run: %s: %s\n", argv[0], err_str(errno));
		_exit(127);
	}
	return pid;
}

/* Start the syncer (mdbtap sync SYNC...) once its envs exist, unless the
 * program ends first. Returns its pid, 0 if it was not started, -1. */
static pid_t start_syncer(char **sync, int nsync, pid_t program, int *program_status,
			  int *program_done)
{
	struct timespec pause = { 0, 50 * 1000000L };
	char **argv = calloc((size_t)nsync + 2, sizeof(*argv));
	pid_t pid = -1;

	if (!argv)
		return -1;
	argv[0] = "mdbtap";
	argv[1] = "sync";
	memcpy(argv + 2, sync, (size_t)nsync * sizeof(*argv));
	for (int waited = 0; !envs_exist(sync, nsync); waited += 50) {
		if (waitpid(program, program_status, WNOHANG) == program) {
			*program_done = 1;
			free(argv);
			return 0;
		}
		if (waited >= WAIT_FOR_ENVS_MS) {
			fprintf(stderr, "mdbtap run: the env to sync did not appear in %d s: "
				"no syncer\n", WAIT_FOR_ENVS_MS / 1000);
			free(argv);
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	/* argv[0..] is mdbtap's own: the syncer must not get the tap */
	pid = spawn(argv, 1);
	free(argv);
	return pid;
}

int cmd_run(int argc, char **argv)
{
	enum { OPT_TAP = 256, OPT_TAP_LOG, OPT_DEEPBIND, OPT_SYNC };
	static const struct option opts[] = {
		{ "tap", required_argument, NULL, OPT_TAP },
		{ "tap-log", required_argument, NULL, OPT_TAP_LOG },
		{ "deepbind", no_argument, NULL, OPT_DEEPBIND },
		{ "sync", no_argument, NULL, OPT_SYNC },
		CLI_OPTS_END,
	};
	struct cli cl;
	int opt;
	char tap[PATH_MAX];
	const char *tap_opt = NULL, *tap_log = NULL;
	char **sync = NULL, **cmd = NULL;
	int deepbind = 0, nsync = 0, status = 0, done = 0, rc;
	struct sigaction sa;
	pid_t syncer = 0;

	/* '+': the options end at "--" (or at COMMAND, which needs "--") */
	cli_begin(&cl, "run");
	while ((opt = cli_next(&cl, argc, argv, "+", opts)) != -1) {
		if (opt == OPT_TAP) {
			tap_opt = optarg;
		} else if (opt == OPT_TAP_LOG) {
			tap_log = optarg;
		} else if (opt == OPT_DEEPBIND) {
			deepbind = 1;
		} else {
			/* --sync: its options are the words up to "--" */
			sync = argv + optind;
			for (nsync = 0; optind < argc && strcmp(argv[optind], "--"); optind++)
				nsync++;
		}
	}
	rc = cli_done(&cl, argc, 1, INT_MAX);
	if (rc != CLI_GO)
		return rc;
	if (strcmp(argv[optind - 1], "--"))
		return cli_bad(&cl, "'--' must come before COMMAND");
	if (tap_opt && deepbind)
		return cli_bad(&cl, "--tap and --deepbind exclude each other");
	cmd = argv + optind;
	if (!deepbind && !tap_opt && !strncmp(tapfind_basename(cmd[0]), "php", 3))
		deepbind = 1;
	if (tap_opt) {
		snprintf(tap, sizeof(tap), "%s", tap_opt);
		rc = access(tap, R_OK) ? errno : 0;
	} else {
		rc = tapfind(deepbind, tap, sizeof(tap));
	}
	if (rc) {
		fprintf(stderr, "mdbtap run: the tap%s: %s\n", tap_opt ? "" : " (not installed?)",
			tap_opt ? err_str(rc) : tap);
		return MDBTAP_EXIT_FAIL;
	}
	if (!preloadable(tap)) {
		fprintf(stderr, "mdbtap run: the tap %s: LD_PRELOAD cannot hold a path with a space, "
			"a colon or a '$': copy or link it to a path without\n", tap);
		return tap_opt ? MDBTAP_EXIT_USAGE : MDBTAP_EXIT_FAIL;
	}
	if ((rc = set_preload(tap)) != 0 || (tap_log && setenv("MDBTAP_LOG", tap_log, 1))) {
		fprintf(stderr, "mdbtap run: %s\n", err_str(rc ? rc : errno));
		return MDBTAP_EXIT_FAIL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	child_pid = spawn(cmd, 0);
	if (child_pid < 0) {
		fprintf(stderr, "mdbtap run: fork: %s\n", err_str(errno));
		return MDBTAP_EXIT_FAIL;
	}
	if (sync) {
		unsetenv("LD_PRELOAD"); /* the syncer runs without the tap */
		syncer = start_syncer(sync, nsync, child_pid, &status, &done);
		if (syncer < 0)
			fprintf(stderr, "mdbtap run: the syncer: %s\n", err_str(errno));
	}
	while (!done) {
		pid_t w = waitpid(child_pid, &status, 0);

		if (w == child_pid)
			done = 1;
		else if (w < 0 && errno != EINTR)
			break;
	}
	child_pid = 0;
	if (syncer > 0) {
		kill(syncer, SIGTERM);
		while (waitpid(syncer, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : MDBTAP_EXIT_FAIL;
}
