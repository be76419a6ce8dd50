/* fork_pid.c: every journal record names the process that wrote it, also
 * in the child of a fork made after the parent wrote records (the tap
 * keeps the pid on a page the kernel wipes in a forked child; a stale
 * parent pid would make the syncer judge a child's in-doubt record by the
 * wrong process). The parent commits one put, closes the env, then forks
 * twice: with fork() and with _Fork() (which runs no fork handlers); each
 * child opens the env and commits one put. Prints the three writers' pids
 * in commit order, one per line, for the test to compare with the
 * journal's records. Run with the tap preloaded. */
#define _GNU_SOURCE
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int put_one(const char *dir, const char *key)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 0, (void *)key }, v = { 1, "v" };
	int rc;

	for (k.mv_size = 0; key[k.mv_size]; k.mv_size++)
		;
	if ((rc = mdb_env_create(&env)) != 0)
		return rc;
	if ((rc = mdb_env_open(env, dir, 0, 0600)) == 0 &&
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
		if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) == 0 &&
		    (rc = mdb_put(txn, dbi, &k, &v, 0)) == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return rc;
}

/* Runs put_one in a child made by how(); 0 when it committed. */
static int in_child(const char *dir, const char *key, pid_t (*how)(void))
{
	int status;
	pid_t child = how();

	if (child == 0)
		_exit(put_one(dir, key) == 0 ? 0 : 1);
	if (child < 0 || waitpid(child, &status, 0) != child)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	printf("%ld\n", (long)child);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fork_pid DIR\n");
		return 2;
	}
	if (put_one(argv[1], "parent") != 0)
		return 1;
	printf("%ld\n", (long)getpid());
	fflush(stdout);
	if (in_child(argv[1], "fork", fork) || in_child(argv[1], "_Fork", _Fork))
		return 1;
	return 0;
}
