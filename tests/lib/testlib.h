/* testlib.h: helpers the C tests share (header only, so any test target
 * can include it without another library).
 */
#ifndef MDBTAP_TESTLIB_H
#define MDBTAP_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* testlib_fresh_dir: make DIR an empty directory of this process under
 * $MDBTAP_TEST_TMP (set by ctest per test; else under /tmp with FALLBACK in
 * its name). Returns 0, or -1 if it could not. */
static inline int testlib_fresh_dir(char *dir, size_t size, const char *fallback)
{
	const char *base = getenv("MDBTAP_TEST_TMP");
	char cmd[8400];
	int n;

	n = snprintf(dir, size, "%s/%ld", base ? base : fallback, (long)getpid());
	if (n < 0 || (size_t)n >= size || (size_t)n * 2 + 32 >= sizeof(cmd) ||
	    strchr(dir, '\''))
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
