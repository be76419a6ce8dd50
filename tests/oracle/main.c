/* main.c: the oracle's seeded runner.
 *
 *   oracle --child PATH --preload LIST --work DIR [--seed N]
 *          [--seconds S] [--programs N] [--bytes N] [--replay FILE]
 *          [--keep-going 1]
 *
 * Runs programs made of N random bytes each (seed, seed+1, ...) until S
 * seconds or N programs, whichever comes first, and prints the counts.
 * On a mismatch it prints it, keeps the program in DIR/fail-SEED.bin
 * (run it again with --replay) and exits 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "oracle.h"

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: oracle --child PATH --preload LIST --work DIR [--seed N] "
		"[--seconds S] [--programs N] [--bytes N] [--replay FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct oracle_cfg cfg = { 0 };
	struct oracle_stats st = { 0 };
	uint64_t seed = 1, programs = UINT64_MAX;
	double seconds = 60, t0;
	size_t bytes = 3000;
	const char *replay = NULL;
	int keep_going = 0;
	uint64_t mismatches = 0;
	char msg[1024];
	uint8_t *prog;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--child"))
			cfg.child = v;
		else if (!strcmp(a, "--preload"))
			cfg.preload = v;
		else if (!strcmp(a, "--work"))
			cfg.work = v;
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--seconds"))
			seconds = strtod(v, NULL);
		else if (!strcmp(a, "--programs"))
			programs = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--bytes"))
			bytes = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--replay"))
			replay = v;
		else if (!strcmp(a, "--keep-going"))
			keep_going = atoi(v);
		else
			usage();
	}
	if (!cfg.child || !cfg.preload || !cfg.work || !bytes)
		usage();
	if (mkdir(cfg.work, 0755) != 0 && errno != EEXIST) {
		perror(cfg.work);
		return 2;
	}
	prog = malloc(bytes);
	if (!prog)
		return 2;
	if (replay) {
		FILE *f = fopen(replay, "rb");
		size_t n;

		if (!f)
			return perror(replay), 2;
		free(prog);
		prog = malloc(1 << 20);
		n = prog ? fread(prog, 1, 1 << 20, f) : 0;
		fclose(f);
		int rc = oracle_check(&cfg, prog, n, &st, msg, sizeof(msg));
		printf("replay %s: %s\n", replay, rc == 0 ? "ok" : msg);
		free(prog);
		return rc == 0 ? 0 : 1;
	}
	t0 = now();
	double last_report = t0;

	for (uint64_t p = 0; p < programs && now() - t0 < seconds; p++) {
		if (keep_going && now() - last_report > 60) {
			/* Long runs: the counts so far, in case they are cut short. */
			last_report = now();
			printf("progress: %" PRIu64 " programs, %" PRIu64 " ops, %" PRIu64
			       " commits checked, %" PRIu64 " mismatches, %.0f s\n", st.programs,
			       st.ops, st.records, mismatches, last_report - t0);
			fflush(stdout);
		}
		uint64_t s = seed + p, state = s;
		int rc;

		for (size_t i = 0; i < bytes; i += 8) {
			uint64_t r = splitmix(&state);

			memcpy(prog + i, &r, bytes - i < 8 ? bytes - i : 8);
		}
		rc = oracle_check(&cfg, prog, bytes, &st, msg, sizeof(msg));
		if (rc != 0) {
			char path[4200];
			FILE *f;

			snprintf(path, sizeof(path), "%s/fail-%" PRIu64 ".bin", cfg.work, s);
			f = fopen(path, "wb");
			if (f) {
				fwrite(prog, 1, bytes, f);
				fclose(f);
			}
			printf("oracle: seed %" PRIu64 ": %s\n(program kept in %s)\n", s, msg, path);
			fflush(stdout);
			mismatches++;
			if (!keep_going) {
				free(prog);
				return 1;
			}
		}
	}
	printf("oracle: %" PRIu64 " programs, %" PRIu64 " ops (per run, each run twice), "
	       "%" PRIu64 " commits with a txn id: %" PRIu64 " with a record checked "
	       "(%" PRIu64 " lossy), %" PRIu64 " unaccounted; %" PRIu64 " empty commits; "
	       "%" PRIu64 " changed elements checked; %" PRIu64 " programs that LMDB itself "
	       "crashed on (alike with and without the tap); %.0f s; %" PRIu64 " mismatches\n",
	       st.programs, st.ops, st.commits, st.records, st.lossy, st.unaccounted,
	       st.empty_commits, st.elements, st.lmdb_failed, now() - t0, mismatches);
	free(prog);
	return st.programs && !mismatches ? 0 : 1;
}
