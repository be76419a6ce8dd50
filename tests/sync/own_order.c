/* own_order ENV put KEY... | list: a host whose DBI "r" orders keys with
 * its own comparator (mdb_set_compare: descending bytes), next to a plain
 * DBI "p". put writes each KEY to "r" and "p-KEY" to "p" in one txn;
 * list prints each DBI's keys in the host's order. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(x)                                                                          \
	do {                                                                           \
		int rc_ = (x);                                                         \
		if (rc_) {                                                             \
			fprintf(stderr, "%s: %s\n", #x, mdb_strerror(rc_));            \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

static int desc(const MDB_val *a, const MDB_val *b)
{
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = memcmp(a->mv_data, b->mv_data, n);

	if (!c)
		c = (a->mv_size > b->mv_size) - (a->mv_size < b->mv_size);
	return -c;
}

static void list(MDB_txn *t, MDB_dbi d, const char *name)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	printf("%s:", name);
	CK(mdb_cursor_open(t, d, &c));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		printf(" %.*s", (int)k.mv_size, (const char *)k.mv_data);
	if (rc != MDB_NOTFOUND)
		CK(rc);
	mdb_cursor_close(c);
	printf("\n");
}

int main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi r, p;
	char pk[256];

	if (argc < 3)
		return 2;
	CK(mdb_env_create(&env));
	CK(mdb_env_set_maxdbs(env, 4));
	CK(mdb_env_open(env, argv[1], 0, 0644));
	CK(mdb_txn_begin(env, NULL, 0, &t));
	CK(mdb_dbi_open(t, "r", MDB_CREATE, &r));
	CK(mdb_set_compare(t, r, desc));
	CK(mdb_dbi_open(t, "p", MDB_CREATE, &p));
	if (!strcmp(argv[2], "put")) {
		for (int i = 3; i < argc; i++) {
			MDB_val k = { strlen(argv[i]), argv[i] }, v = k;
			MDB_val k2 = { (size_t)snprintf(pk, sizeof(pk), "p-%s", argv[i]), pk };

			CK(mdb_put(t, r, &k, &v, 0));
			CK(mdb_put(t, p, &k2, &v, 0));
		}
	} else {
		list(t, r, "r");
		list(t, p, "p");
	}
	CK(mdb_txn_commit(t));
	mdb_env_close(env);
	return 0;
}
