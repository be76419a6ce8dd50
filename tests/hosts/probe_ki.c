/* probe_ki.c: the tap's look at a cursor (MDB_GET_CURRENT, before
 * mdb_cursor_del and MDB_CURRENT puts) must not move it. LMDB 0.9.24
 * leaves a sub-cursor index past its key's last value when a cursor
 * deletes a single-value key and lands on a key with several (the index
 * of the key it came from), and MDB_GET_CURRENT then sets it to the value
 * count: the host's next MDB_PREV_DUP or MDB_PREV starts from another
 * place. Prints what the host sees; the test runs it with and without the
 * tap and compares.
 *
 *   probe_ki DIR     (DIR exists and is empty)
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int failed;

#define CK(x) do { int rc_ = (x); if (rc_) { printf("%s: %s\n", #x, mdb_strerror(rc_)); failed = 1; return; } } while (0)

static void show(const char *what, int rc, const MDB_val *k, const MDB_val *v)
{
	printf("%s: %d", what, rc);
	if (rc == 0) {
		printf(" %.*s ", (int)k->mv_size, (const char *)k->mv_data);
		for (size_t i = 0; i < v->mv_size; i++)
			printf("%02x", ((const unsigned char *)v->mv_data)[i]);
	}
	printf("\n");
}

static void put(MDB_txn *t, MDB_dbi dbi, const char *key, char val)
{
	MDB_val k = { 1, (void *)key }, v = { 1, &val };
	int rc = mdb_put(t, dbi, &k, &v, 0);

	if (rc) {
		printf("put: %s\n", mdb_strerror(rc));
		failed = 1;
	}
}

/* a:{1..6} b:{1} c:{1..4}; from (a,6) to b, delete b (the cursor is on
 * c, its sub-cursor index still 5), delete again (NOTFOUND; the tap looks
 * first), then op. */
static void one(const char *dir, unsigned flags, MDB_cursor_op op)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k = { 1, "a" }, v;

	printf("-- flags %#x op %d\n", flags, (int)op);
	CK(mdb_env_create(&env));
	CK(mdb_env_set_maxdbs(env, 2));
	CK(mdb_env_open(env, dir, MDB_NOSYNC, 0644));
	CK(mdb_txn_begin(env, NULL, 0, &t));
	CK(mdb_dbi_open(t, "d", MDB_CREATE | flags, &dbi));
	for (char i = '1'; i <= '6'; i++)
		put(t, dbi, "a", i);
	put(t, dbi, "b", '1');
	for (char i = '1'; i <= '4'; i++)
		put(t, dbi, "c", i);
	CK(mdb_txn_commit(t));
	CK(mdb_txn_begin(env, NULL, 0, &t));
	CK(mdb_cursor_open(t, dbi, &c));
	show("SET", mdb_cursor_get(c, &k, &v, MDB_SET), &k, &v);
	show("LAST_DUP", mdb_cursor_get(c, &k, &v, MDB_LAST_DUP), &k, &v);
	show("NEXT_NODUP", mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP), &k, &v);
	printf("del: %d\n", mdb_cursor_del(c, 0));
	printf("del: %d\n", mdb_cursor_del(c, 0));
	show("then", mdb_cursor_get(c, &k, &v, op), &k, &v);
	mdb_cursor_close(c);
	mdb_txn_abort(t);
	mdb_env_close(env);
}

int main(int argc, char **argv)
{
	static const MDB_cursor_op ops[] = { MDB_PREV_DUP, MDB_PREV, MDB_NEXT_DUP, MDB_NEXT,
					     MDB_GET_CURRENT };
	static const unsigned flags[] = { MDB_DUPSORT, MDB_DUPSORT | MDB_DUPFIXED };
	char dir[4096];
	int n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: probe_ki DIR\n");
		return 2;
	}
	for (size_t f = 0; f < 2; f++)
		for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
			snprintf(dir, sizeof(dir), "%s/%d", argv[1], n++);
			if (mkdir(dir, 0755) != 0) {
				perror(dir);
				return 1;
			}
			one(dir, flags[f], ops[o]);
		}
	return failed;
}
