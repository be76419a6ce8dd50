/* bundled_mod.c: a module with "LMDB compiled in": it defines and exports
 * the mdb_* functions it uses (here tiny stand-ins that count their
 * calls), as a plugin that bundles LMDB does. bundled_host dlopens it
 * RTLD_LOCAL; its calls to its own mdb_* functions go through the global
 * scope, i.e. through the preloaded tap (issue 9, bug 5). */
#include <lmdb.h>
#include <errno.h>
#include <stddef.h>

static int calls;
static MDB_env *the_env = (MDB_env *)&calls;
static MDB_txn *the_txn = (MDB_txn *)&the_env;

__attribute__((visibility("default"))) int mdb_env_create(MDB_env **env) { calls++; *env = the_env; return 0; }
__attribute__((visibility("default"))) int mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode)
{
	(void)path, (void)flags, (void)mode;
	calls++;
	return env == the_env ? 0 : EINVAL;
}
__attribute__((visibility("default"))) void mdb_env_close(MDB_env *env) { (void)env; calls++; }
__attribute__((visibility("default"))) int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
	(void)env, (void)parent, (void)flags;
	calls++;
	*txn = the_txn;
	return 0;
}
__attribute__((visibility("default"))) int mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags)
{
	(void)dbi, (void)key, (void)data, (void)flags;
	calls++;
	return txn == the_txn ? 0 : EINVAL;
}
__attribute__((visibility("default"))) int mdb_txn_commit(MDB_txn *txn) { calls++; return txn == the_txn ? 0 : EINVAL; }

int bundled_run(void);

/* The module's entry point: returns how many of its own calls ran, or
 * minus the failing call's error. */
__attribute__((visibility("default"))) int bundled_run(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_val k = { 1, "k" }, v = { 1, "v" };
	int rc;

	calls = 0;
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_open(env, "unused", 0, 0644)) ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_put(txn, 1, &k, &v, 0)) ||
	    (rc = mdb_txn_commit(txn)))
		return rc > 0 ? -rc : rc;
	mdb_env_close(env);
	return calls;
}
