/* host_errors.c: an LMDB program that walks error paths and prints every
 * return code, errno and the data it ends up with. The harness runs it with
 * and without the tap: the output must be byte-identical
 * (docs/DESIGN.md §3). It never prints paths, pids or addresses.
 *
 *   host_errors ROOT
 *
 * ROOT must hold the empty directories "env", "tiny" and "nodup".
 * errno is set to a sentinel before each call, so the output shows whether
 * the call changed it.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL 4242

static char root[4000];

static const char *at(const char *sub)
{
	static char buf[4200];

	snprintf(buf, sizeof(buf), "%s/%s", root, sub);
	return buf;
}

static void show(const char *what, int rc)
{
	int e = errno;

	printf("%-44s rc=%d (%s) errno=%d\n", what, rc, rc ? mdb_strerror(rc) : "ok", e);
}

/* Call, then print its rc and errno. */
#define CALL(what, call) \
	do {                 \
		errno = SENTINEL; \
		show(what, (call)); \
	} while (0)

/* A void call, then errno. */
#define VCALL(what, call)                                 \
	do {                                              \
		errno = SENTINEL;                         \
		call;                                     \
		printf("%-44s errno=%d\n", what, errno);  \
	} while (0)

static void print_val(const char *label, const MDB_val *v)
{
	printf("  %s[%zu]=", label, v->mv_size);
	for (size_t i = 0; i < v->mv_size && i < 64; i++)
		printf("%02x", ((unsigned char *)v->mv_data)[i]);
	printf("\n");
}

static MDB_val V(const char *s)
{
	MDB_val v;

	v.mv_size = strlen(s);
	v.mv_data = (void *)s;
	return v;
}

static void last_txnid(MDB_env *env)
{
	MDB_envinfo info;

	errno = SENTINEL;
	show("env_info", mdb_env_info(env, &info));
	printf("  last txnid %zu\n", info.me_last_txnid);
}

static void dump_dbi(MDB_env *env, const char *name, unsigned flags)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	printf("dump %s\n", name);
	CALL("  txn_begin rdonly", mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	CALL("  dbi_open", mdb_dbi_open(txn, name, flags, &dbi));
	CALL("  cursor_open", mdb_cursor_open(txn, dbi, &c));
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		print_val("k", &k);
		print_val("v", &v);
	}
	show("  end of dump", rc);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
}

static void main_env(void)
{
	MDB_env *env, *bad;
	MDB_txn *txn, *child;
	MDB_dbi plain, dups, missing;
	MDB_cursor *c;
	MDB_val k, v;
	char big[700];

	memset(big, 'b', sizeof(big));

	CALL("env_create (for a missing dir)", mdb_env_create(&bad));
	CALL("env_open missing dir", mdb_env_open(bad, at("missing/sub"), 0, 0644));
	VCALL("env_close", mdb_env_close(bad));
	CALL("env_create (for a missing dir, rdonly)", mdb_env_create(&bad));
	CALL("env_open missing dir rdonly", mdb_env_open(bad, at("missing"), MDB_RDONLY, 0644));
	VCALL("env_close", mdb_env_close(bad));
	CALL("env_create (for a file)", mdb_env_create(&bad));
	CALL("env_open a regular file as a dir", mdb_env_open(bad, at("afile"), 0, 0644));
	VCALL("env_close", mdb_env_close(bad));

	CALL("env_create", mdb_env_create(&env));
	CALL("env_set_maxdbs", mdb_env_set_maxdbs(env, 4));
	CALL("env_set_mapsize", mdb_env_set_mapsize(env, 1 << 22));
	CALL("env_open", mdb_env_open(env, at("env"), 0, 0644));
	last_txnid(env);

	CALL("txn_begin", mdb_txn_begin(env, NULL, 0, &txn));
	CALL("dbi_open plain create", mdb_dbi_open(txn, "plain", MDB_CREATE, &plain));
	CALL("dbi_open dups create", mdb_dbi_open(txn, "dups", MDB_CREATE | MDB_DUPSORT, &dups));
	CALL("dbi_open missing (no create)", mdb_dbi_open(txn, "missing", 0, &missing));
	k = V("k1"), v = V("v1");
	CALL("put k1", mdb_put(txn, plain, &k, &v, 0));
	k = V("k2"), v = V("v2");
	CALL("put k2", mdb_put(txn, plain, &k, &v, 0));
	CALL("txn_commit", mdb_txn_commit(txn));
	last_txnid(env);

	CALL("txn_begin", mdb_txn_begin(env, NULL, 0, &txn));
	k = V("k1"), v = V("other");
	CALL("put k1 NOOVERWRITE (exists)", mdb_put(txn, plain, &k, &v, MDB_NOOVERWRITE));
	print_val("existing", &v);
	k = V("nokey");
	CALL("del missing key", mdb_del(txn, plain, &k, NULL));
	k = V("d"), v = V("a");
	CALL("put dups d=a", mdb_put(txn, dups, &k, &v, 0));
	CALL("put dups d=a again", mdb_put(txn, dups, &k, &v, 0));
	CALL("put dups d=a NODUPDATA (exists)", mdb_put(txn, dups, &k, &v, MDB_NODUPDATA));
	v = V("zz");
	CALL("del dups d=zz (missing pair)", mdb_del(txn, dups, &k, &v));
	k = V("nokey");
	CALL("del dups missing key", mdb_del(txn, dups, &k, NULL));
	k = V("k3"), v = V("v3");
	CALL("put bad dbi", mdb_put(txn, 99, &k, &v, 0));
	CALL("del bad dbi", mdb_del(txn, 99, &k, NULL));
	CALL("drop bad dbi", mdb_drop(txn, 99, 0));
	k = V("");
	CALL("put empty key", mdb_put(txn, plain, &k, &v, 0));
	k.mv_size = sizeof(big), k.mv_data = big;
	CALL("put key too long", mdb_put(txn, plain, &k, &v, 0));
	k = V("d"), v.mv_size = sizeof(big), v.mv_data = big;
	CALL("put dups value too long", mdb_put(txn, dups, &k, &v, 0));
	CALL("cursor_open plain", mdb_cursor_open(txn, plain, &c));
	k = V("k3"), v = V("v3");
	CALL("cursor_put CURRENT unpositioned", mdb_cursor_put(c, &k, &v, MDB_CURRENT));
	CALL("cursor_del unpositioned", mdb_cursor_del(c, 0));
	CALL("cursor_get LAST", mdb_cursor_get(c, &k, &v, MDB_LAST));
	CALL("cursor_get NEXT (past the end)", mdb_cursor_get(c, &k, &v, MDB_NEXT));
	CALL("cursor_del after NEXT failed", mdb_cursor_del(c, 0));
	k = V("a0");
	v = V("v0");
	CALL("cursor_put APPEND out of order", mdb_cursor_put(c, &k, &v, MDB_APPEND));
	VCALL("cursor_close", mdb_cursor_close(c));
	CALL("txn_begin child", mdb_txn_begin(env, txn, 0, &child));
	k = V("kc"), v = V("vc");
	CALL("put kc in child", mdb_put(child, plain, &k, &v, 0));
	CALL("put kc NOOVERWRITE in child (exists)", mdb_put(child, plain, &k, &v, MDB_NOOVERWRITE));
	VCALL("txn_abort child", mdb_txn_abort(child));
	CALL("txn_commit", mdb_txn_commit(txn));
	last_txnid(env);

	/* Only failed calls: LMDB commits without a new txn id. */
	CALL("txn_begin", mdb_txn_begin(env, NULL, 0, &txn));
	k = V("k1"), v = V("v1");
	CALL("put k1 NOOVERWRITE (exists)", mdb_put(txn, plain, &k, &v, MDB_NOOVERWRITE));
	k = V("nokey");
	CALL("del missing key", mdb_del(txn, plain, &k, NULL));
	CALL("txn_commit (nothing written)", mdb_txn_commit(txn));
	last_txnid(env);

	/* A read-only txn. */
	CALL("txn_begin rdonly", mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	k = V("k9"), v = V("v9");
	CALL("put in rdonly txn", mdb_put(txn, plain, &k, &v, 0));
	CALL("del in rdonly txn", mdb_del(txn, plain, &k, NULL));
	CALL("drop in rdonly txn", mdb_drop(txn, plain, 0));
	CALL("dbi_open create in rdonly txn", mdb_dbi_open(txn, "newdb", MDB_CREATE, &missing));
	CALL("txn_begin child of rdonly", mdb_txn_begin(env, txn, 0, &child));
	CALL("cursor_open", mdb_cursor_open(txn, plain, &c));
	CALL("cursor_get FIRST", mdb_cursor_get(c, &k, &v, MDB_FIRST));
	CALL("cursor_put in rdonly txn", mdb_cursor_put(c, &k, &v, 0));
	CALL("cursor_del in rdonly txn", mdb_cursor_del(c, 0));
	VCALL("cursor_close", mdb_cursor_close(c));
	CALL("txn_commit rdonly", mdb_txn_commit(txn));
	last_txnid(env);

	dump_dbi(env, "plain", 0);
	dump_dbi(env, "dups", MDB_DUPSORT);
	VCALL("env_close", mdb_env_close(env));
}

/* A 64 KiB map: put until MDB_MAP_FULL, then abort; again, then commit. */
static void tiny_env(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	char key[32], val[100];
	int rc = 0;

	memset(val, 'v', sizeof(val));
	CALL("tiny env_create", mdb_env_create(&env));
	CALL("tiny env_set_mapsize 64k", mdb_env_set_mapsize(env, 64 << 10));
	CALL("tiny env_open", mdb_env_open(env, at("tiny"), 0, 0644));
	for (int round = 0; round < 2; round++) {
		unsigned n = 0;

		CALL("tiny txn_begin", mdb_txn_begin(env, NULL, 0, &txn));
		CALL("tiny dbi_open main", mdb_dbi_open(txn, NULL, 0, &dbi));
		do {
			MDB_val k, v = { sizeof(val), val };

			k.mv_size = (size_t)sprintf(key, "key%06u", n);
			k.mv_data = key;
			errno = SENTINEL;
			rc = mdb_put(txn, dbi, &k, &v, 0);
			n++;
		} while (rc == 0 && n < 100000);
		printf("tiny round %d: %u puts\n", round, n);
		show("tiny put until full", rc);
		if (round == 0)
			VCALL("tiny txn_abort", mdb_txn_abort(txn));
		else
			CALL("tiny txn_commit after MAP_FULL", mdb_txn_commit(txn));
		last_txnid(env);
	}
	/* Some that fit. */
	rc = 0;
	CALL("tiny txn_begin", mdb_txn_begin(env, NULL, 0, &txn));
	for (unsigned n = 0; n < 20; n++) {
		MDB_val k, v = { sizeof(val), val };

		k.mv_size = (size_t)sprintf(key, "fits%02u", n);
		k.mv_data = key;
		rc |= mdb_put(txn, dbi, &k, &v, 0);
	}
	show("tiny 20 puts", rc);
	CALL("tiny txn_commit", mdb_txn_commit(txn));
	last_txnid(env);
	VCALL("tiny env_close", mdb_env_close(env));

	CALL("tiny env_create (rdonly)", mdb_env_create(&env));
	CALL("tiny env_open rdonly", mdb_env_open(env, at("tiny"), MDB_RDONLY, 0644));
	CALL("tiny write txn_begin on rdonly env", mdb_txn_begin(env, NULL, 0, &txn));
	dump_dbi(env, NULL, 0);
	VCALL("tiny env_close", mdb_env_close(env));
}

/* A txn whose only write call failed with MDB_KEYEXIST (MDB_NODUPDATA) after
 * LMDB had touched pages: it commits with a new txn id. */
static void nodup_env(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = V("k"), v = V("v");

	CALL("nodup env_create", mdb_env_create(&env));
	CALL("nodup env_set_maxdbs", mdb_env_set_maxdbs(env, 2));
	CALL("nodup env_open", mdb_env_open(env, at("nodup"), 0, 0644));
	CALL("nodup txn_begin", mdb_txn_begin(env, NULL, 0, &txn));
	CALL("nodup dbi_open dups create", mdb_dbi_open(txn, "dups", MDB_CREATE | MDB_DUPSORT, &dbi));
	CALL("nodup put k=v", mdb_put(txn, dbi, &k, &v, 0));
	CALL("nodup txn_commit", mdb_txn_commit(txn));
	last_txnid(env);
	CALL("nodup txn_begin", mdb_txn_begin(env, NULL, 0, &txn));
	CALL("nodup put k=v NODUPDATA (exists)", mdb_put(txn, dbi, &k, &v, MDB_NODUPDATA));
	CALL("nodup txn_commit", mdb_txn_commit(txn));
	last_txnid(env);
	VCALL("nodup env_close", mdb_env_close(env));
}

int main(int argc, char **argv)
{
	if (argc != 2 || strlen(argv[1]) >= sizeof(root)) {
		fprintf(stderr, "usage: host_errors ROOT\n");
		return 2;
	}
	strcpy(root, argv[1]);
	main_env();
	tiny_env();
	nodup_env();
	fprintf(stderr, "host_errors: done\n");
	return 7; /* an exit code of its own, compared too */
}
