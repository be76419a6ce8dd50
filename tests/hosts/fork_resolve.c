/* fork_resolve.c: issue 9, bug 6. A thread makes the process's first
 * mdb_* call (the tap resolves LMDB under a lock) while the main thread
 * forks; the child's own first mdb_* call must not wait for ever on a lock
 * that no thread of the child holds. Run with the tap preloaded and
 * MDBTAP_TEST_RESOLVE_DELAY_MS set, which holds the resolver lock long
 * enough for the fork to land inside it. Prints "ok" or why not. */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *first_call(void *arg)
{
	(void)arg;
	mdb_txn_abort(NULL); /* legal, and a wrapped entry point */
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* One host process: returns 0 when its child finished. */
static int one_round(void)
{
	pthread_t t;
	pid_t child;
	int status;

	if (pthread_create(&t, NULL, first_call, NULL) != 0)
		return 2;
	sleep_ms(20); /* the thread is inside the resolver now */
	child = fork();
	if (child == 0) {
		mdb_txn_abort(NULL);
		_exit(0);
	}
	pthread_join(t, NULL);
	if (child < 0)
		return 2;
	/* A bounded wait that polls: 10 s is ages for a call that takes
	 * microseconds once the lock is free. */
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(child, &status, WNOHANG);

		if (r == child)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 2;
		sleep_ms(10);
	}
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	return 1;
}

int main(void)
{
	const int rounds = 5;

	if (!getenv("MDBTAP_TEST_RESOLVE_DELAY_MS")) {
		fprintf(stderr, "set MDBTAP_TEST_RESOLVE_DELAY_MS\n");
		return 2;
	}
	/* Each round in a fresh process: the tap resolves once per process. */
	for (int i = 0; i < rounds; i++) {
		pid_t host = fork();
		int status;

		if (host == 0)
			_exit(one_round());
		if (host < 0 || waitpid(host, &status, 0) != host || !WIFEXITED(status)) {
			printf("round %d: the host process failed\n", i);
			return 1;
		}
		if (WEXITSTATUS(status) == 1) {
			printf("round %d: the child of a fork during the tap's first call hung\n", i);
			return 1;
		}
		if (WEXITSTATUS(status) != 0) {
			printf("round %d: error\n", i);
			return 1;
		}
	}
	printf("ok\n");
	return 0;
}
