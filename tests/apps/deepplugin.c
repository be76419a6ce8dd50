/* deepplugin.c: the plugin deephost loads; linked against liblmdb. Writes a
 * fixed pattern into the directory env it is given and prints every return
 * code, so that runs with and without the tap can be compared.
 *
 * Committed txns and what they write (the tests expect exactly this):
 *   1: create "items" (DUPSORT); put items k1=a, k1=b; put main "alpha"
 *   2: del items k1=a; put main "beta"; put main "kept" (from a child txn
 *      that commits; a child that puts "dropped" aborts; two calls fail:
 *      NOOVERWRITE put of "alpha", del of "missing")
 *   -: an aborted txn that puts "gamma"
 *   3: cursor put main "delta", "epsilon"; cursor del at "delta" */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#define V(s) (MDB_val){ strlen(s), (void *)(s) }

static int step(const char *what, int rc)
{
	printf("%s: %d\n", what, rc);
	return rc;
}

__attribute__((visibility("default"))) int plugin_write(const char *path);

int plugin_write(const char *path)
{
	MDB_env *env;
	MDB_txn *txn, *child;
	MDB_dbi main_dbi, items;
	MDB_cursor *cur;
	MDB_val k, v;
	int bad = 0;

	if (step("env_create", mdb_env_create(&env)))
		return 1;
	mdb_env_set_maxdbs(env, 4);
	mdb_env_set_mapsize(env, 1 << 22);
	if (step("env_open", mdb_env_open(env, path, 0, 0644)))
		return 1;

	bad |= step("begin1", mdb_txn_begin(env, NULL, 0, &txn));
	bad |= step("dbi_open items", mdb_dbi_open(txn, "items", MDB_CREATE | MDB_DUPSORT, &items));
	bad |= step("dbi_open main", mdb_dbi_open(txn, NULL, 0, &main_dbi));
	k = V("k1"); v = V("a");
	bad |= step("put items k1=a", mdb_put(txn, items, &k, &v, 0));
	k = V("k1"); v = V("b");
	bad |= step("put items k1=b", mdb_put(txn, items, &k, &v, 0));
	k = V("alpha"); v = V("1");
	bad |= step("put alpha", mdb_put(txn, main_dbi, &k, &v, 0));
	bad |= step("commit1", mdb_txn_commit(txn));

	bad |= step("begin2", mdb_txn_begin(env, NULL, 0, &txn));
	k = V("k1"); v = V("a");
	bad |= step("del items k1=a", mdb_del(txn, items, &k, &v));
	k = V("beta"); v = V("2");
	bad |= step("put beta", mdb_put(txn, main_dbi, &k, &v, 0));
	k = V("alpha"); v = V("x");
	bad |= step("put alpha NOOVERWRITE", mdb_put(txn, main_dbi, &k, &v, MDB_NOOVERWRITE)) != MDB_KEYEXIST;
	k = V("missing");
	bad |= step("del missing", mdb_del(txn, main_dbi, &k, NULL)) != MDB_NOTFOUND;
	bad |= step("begin child aborted", mdb_txn_begin(env, txn, 0, &child));
	k = V("dropped"); v = V("c");
	bad |= step("put dropped", mdb_put(child, main_dbi, &k, &v, 0));
	mdb_txn_abort(child);
	bad |= step("begin child kept", mdb_txn_begin(env, txn, 0, &child));
	k = V("kept"); v = V("c");
	bad |= step("put kept", mdb_put(child, main_dbi, &k, &v, 0));
	bad |= step("commit child", mdb_txn_commit(child));
	bad |= step("commit2", mdb_txn_commit(txn));

	bad |= step("begin aborted", mdb_txn_begin(env, NULL, 0, &txn));
	k = V("gamma"); v = V("3");
	bad |= step("put gamma", mdb_put(txn, main_dbi, &k, &v, 0));
	mdb_txn_abort(txn);

	bad |= step("begin3", mdb_txn_begin(env, NULL, 0, &txn));
	bad |= step("cursor_open", mdb_cursor_open(txn, main_dbi, &cur));
	k = V("delta"); v = V("4");
	bad |= step("cursor_put delta", mdb_cursor_put(cur, &k, &v, 0));
	k = V("epsilon"); v = V("5");
	bad |= step("cursor_put epsilon", mdb_cursor_put(cur, &k, &v, 0));
	k = V("delta");
	bad |= step("cursor_get delta", mdb_cursor_get(cur, &k, &v, MDB_SET));
	bad |= step("cursor_del", mdb_cursor_del(cur, 0));
	mdb_cursor_close(cur);
	bad |= step("commit3", mdb_txn_commit(txn));

	mdb_env_close(env);
	return bad;
}
