/* commitstop.c: an LD_PRELOAD module, loaded after the tap, that stops or
 * kills its process around LMDB's real commit of one write txn, i.e.
 * between the tap's record and the tap's mark:
 *
 *   COMMITSTOP=N:before:KILL  the Nth mdb_txn_commit dies before LMDB commits
 *                             (the tap's record stays PENDING, the txn never
 *                             commits and its id is free for the next writer)
 *   COMMITSTOP=N:after:STOP   the Nth commit goes through, then the process
 *                             stops (SIGSTOP) before the tap marks its record
 *   COMMITSTOP=N:after:KILL   ... or dies there
 *
 * It writes "commitstop TXNID\n" to stdout just before the signal. The tap
 * takes its mdb_txn_commit from the next object (RTLD_NEXT), which is this
 * one; this one calls LMDB's. For tests/sync/test_acct.py. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int calls;

static void say(MDB_txn *txn_or_null, size_t id)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "commitstop %zu\n", id);

	(void)txn_or_null;
	if (n > 0 && write(1, line, (size_t)n) < 0)
		_exit(99);
}

__attribute__((visibility("default")))
int mdb_txn_commit(MDB_txn *txn)
{
	int (*real)(MDB_txn *) = (int (*)(MDB_txn *))dlsym(RTLD_NEXT, "mdb_txn_commit");
	const char *spec = getenv("COMMITSTOP");
	char when[16] = "", sig[16] = "";
	int n = 0, rc;
	size_t id;

	if (!real)
		abort();
	if (!spec || sscanf(spec, "%d:%15[a-z]:%15[A-Z]", &n, when, sig) != 3 || ++calls != n)
		return real(txn);
	id = mdb_txn_id(txn);
	if (!strcmp(when, "before")) {
		say(txn, id);
		raise(!strcmp(sig, "STOP") ? SIGSTOP : SIGKILL);
		return real(txn);
	}
	rc = real(txn);
	say(txn, id);
	raise(!strcmp(sig, "STOP") ? SIGSTOP : SIGKILL);
	return rc;
}
