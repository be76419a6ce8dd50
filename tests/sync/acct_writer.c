/* acct_writer: a C program that writes an LMDB env through the system's
 * shared liblmdb, one write txn per argument, for tests that preload the
 * tap (and tests/sync/commitstop.c after it) or run it without the tap.
 *
 *   acct_writer ENV TXN...
 *
 * A TXN is a comma-separated list of ops on the unnamed DBI: KEY=VALUE
 * (put) or -KEY (delete). Prints "txn ID" after each commit. */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int one_txn(MDB_env *env, MDB_dbi dbi, char *spec)
{
	MDB_txn *txn;
	size_t id;
	char *save = NULL;
	int rc = mdb_txn_begin(env, NULL, 0, &txn);

	if (rc)
		return rc;
	for (char *op = strtok_r(spec, ",", &save); op && !rc; op = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(op, '=');
		MDB_val k, v;

		if (op[0] == '-') {
			k = (MDB_val){ strlen(op + 1), op + 1 };
			rc = mdb_del(txn, dbi, &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		} else if (eq) {
			k = (MDB_val){ (size_t)(eq - op), op };
			v = (MDB_val){ strlen(eq + 1), eq + 1 };
			rc = mdb_put(txn, dbi, &k, &v, 0);
		} else {
			rc = EINVAL;
		}
	}
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	id = mdb_txn_id(txn);
	rc = mdb_txn_commit(txn);
	if (!rc) {
		printf("txn %zu\n", id);
		fflush(stdout);
	}
	return rc;
}

int main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: acct_writer ENV TXN...\n");
		return 2;
	}
	rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_set_maxdbs(env, 4);
	if (!rc)
		rc = mdb_env_set_mapsize(env, 1 << 26);
	if (!rc)
		rc = mdb_env_open(env, argv[1], 0, 0644);
	if (!rc && !(rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))) {
		rc = mdb_dbi_open(txn, NULL, 0, &dbi);
		mdb_txn_abort(txn);
	}
	for (int i = 2; !rc && i < argc; i++)
		rc = one_txn(env, dbi, argv[i]);
	if (rc)
		fprintf(stderr, "acct_writer: %s\n", mdb_strerror(rc));
	mdb_env_close(env);
	return rc ? 1 : 0;
}
