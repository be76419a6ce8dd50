/* check_unit: the one runner of the unit tests.
 *
 *   check_unit [SUITE...]
 *
 * Runs the named suites (all of them when none is named) in one SRunner, and
 * exits non-zero if a test failed or a name is unknown. ctest registers one
 * test per suite (unit_NAME), so a failure names its module. Check's own
 * CK_RUN_SUITE / CK_RUN_CASE variables still select within the run.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

static const struct {
	const char *name;
	Suite *(*make)(void);
} suites[] = {
#define UNIT_SUITE(n) { #n, n##_suite },
#include "unit_suites.h"
#undef UNIT_SUITE
};

#define NSUITES (sizeof(suites) / sizeof(suites[0]))

static int find(const char *name)
{
	for (size_t i = 0; i < NSUITES; i++)
		if (strcmp(suites[i].name, name) == 0)
			return (int)i;
	return -1;
}

int main(int argc, char **argv)
{
	SRunner *sr = NULL;
	int failed;

	/* Check's default of 4 s per test fails slow machines and sanitizer
	 * builds for nothing: ctest bounds the whole run. Suites that set
	 * their own timeout keep it; CK_DEFAULT_TIMEOUT still wins. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	for (int i = 1; i < argc; i++) {
		int k = find(argv[i]);

		if (k < 0) {
			fprintf(stderr, "check_unit: no suite '%s'; suites:", argv[i]);
			for (size_t j = 0; j < NSUITES; j++)
				fprintf(stderr, " %s", suites[j].name);
			fputc('\n', stderr);
			if (sr)
				srunner_free(sr);
			return EXIT_FAILURE;
		}
		if (!sr)
			sr = srunner_create(suites[k].make());
		else
			srunner_add_suite(sr, suites[k].make());
	}
	for (size_t j = 0; argc < 2 && j < NSUITES; j++) {
		if (!sr)
			sr = srunner_create(suites[j].make());
		else
			srunner_add_suite(sr, suites[j].make());
	}
	/* Every test in its own process: hlc reads its clock offset once per
	 * process, and a crash must fail one test, not the run. */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
