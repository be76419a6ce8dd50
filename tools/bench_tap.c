/* bench_tap.c: one LMDB write-throughput run, for tools/bench-tap.
 *
 *   bench_tap [--nosync] [--mapsize BYTES] DIR TOTAL_PUTS PUTS_PER_TXN
 *   bench_tap --version      the version of the liblmdb it runs with
 *
 * Opens a directory env at DIR (which must exist and should be empty),
 * writes TOTAL_PUTS puts into the unnamed DBI in write transactions of
 * PUTS_PER_TXN puts each (the last one may be shorter), and prints one
 * line of key=value pairs: the wall time of the put+commit loop (what the
 * driver compares), its user and system CPU time, and the env open and
 * close times.
 *
 * Keys are 16 bytes in scattered order (a bijective 64-bit mix of the
 * put's index, then a second mix), values 100 bytes. Nothing here knows
 * about the tap: the driver runs the same binary with and without
 * LD_PRELOAD. "journal=1" in the output says that DIR/mdbtap/journal
 * exists after the open, i.e. that a tap was there to create it.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#define KEY_SIZE 16
#define VAL_SIZE 100

static void usage(void)
{
	fprintf(stderr, "usage: bench_tap [--nosync] [--mapsize BYTES] DIR TOTAL_PUTS PUTS_PER_TXN\n");
	exit(2);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_tap: %s: %s\n", what, mdb_strerror(rc));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* User and system CPU time of this process so far. */
static void cpu_s(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = tv_s(ru.ru_utime);
	*sys = tv_s(ru.ru_stime);
}

/* splitmix64's finaliser: a bijection, so distinct indexes give distinct
 * first halves, hence distinct keys. */
static uint64_t mix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static void make_key(uint8_t *k, uint64_t i)
{
	uint64_t a = mix64(i), b = mix64(a ^ UINT64_C(0x5bd1e9955bd1e995));

	/* Big-endian, so that LMDB's memcmp order follows the mix. */
	for (int n = 0; n < 8; n++) {
		k[n] = (uint8_t)(a >> (56 - 8 * n));
		k[8 + n] = (uint8_t)(b >> (56 - 8 * n));
	}
}

static void make_val(uint8_t *v, uint64_t i)
{
	uint64_t x = i;

	for (size_t n = 0; n < VAL_SIZE; n += 8) {
		x = mix64(x);
		memcpy(v + n, &x, VAL_SIZE - n < 8 ? VAL_SIZE - n : 8);
	}
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int env_flags = 0;
	uint64_t mapsize = UINT64_C(8) << 30, total, per_txn, done = 0, txns = 0;
	uint8_t kbuf[KEY_SIZE], vbuf[VAL_SIZE];
	char jpath[4096];
	const char *dir;
	struct stat st;
	double t0, t1, t2, t3, u1, u2, s1, s2;
	MDB_env *env;
	MDB_dbi dbi;
	int i, rc, journal;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		puts(mdb_version(NULL, NULL, NULL));
		return 0;
	}
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--nosync") == 0)
			env_flags |= MDB_NOSYNC;
		else if (strcmp(argv[i], "--mapsize") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], &mapsize))
				usage();
		} else
			usage();
	}
	if (argc - i != 3 || parse_u64(argv[i + 1], &total) || parse_u64(argv[i + 2], &per_txn))
		usage();
	dir = argv[i];

	t0 = now_s();
	if ((rc = mdb_env_create(&env)) != 0)
		die("mdb_env_create", rc);
	if ((rc = mdb_env_set_mapsize(env, (size_t)mapsize)) != 0)
		die("mdb_env_set_mapsize", rc);
	if ((rc = mdb_env_open(env, dir, env_flags, 0644)) != 0)
		die(dir, rc);
	t1 = now_s();
	snprintf(jpath, sizeof(jpath), "%s/mdbtap/journal", dir);
	journal = stat(jpath, &st) == 0;

	cpu_s(&u1, &s1);
	while (done < total) {
		MDB_txn *txn;
		uint64_t n = total - done < per_txn ? total - done : per_txn;

		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			die("mdb_txn_begin", rc);
		if (txns == 0 && (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
			die("mdb_dbi_open", rc);
		for (uint64_t j = 0; j < n; j++, done++) {
			MDB_val k = { KEY_SIZE, kbuf }, v = { VAL_SIZE, vbuf };

			make_key(kbuf, done);
			make_val(vbuf, done);
			if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
				die("mdb_put", rc);
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			die("mdb_txn_commit", rc);
		txns++;
	}
	t2 = now_s();
	cpu_s(&u2, &s2);
	mdb_env_close(env);
	t3 = now_s();

	printf("puts=%" PRIu64 " per_txn=%" PRIu64 " txns=%" PRIu64 " sync=%d journal=%d"
	       " loop_s=%.6f user_s=%.6f sys_s=%.6f puts_per_s=%.0f open_s=%.6f close_s=%.6f\n",
	       total, per_txn, txns, !(env_flags & MDB_NOSYNC), journal, t2 - t1, u2 - u1,
	       s2 - s1, (double)total / (t2 - t1), t1 - t0, t3 - t2);
	return 0;
}
