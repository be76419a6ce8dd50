/* tapfind.c: see tapfind.h. */
#include "tapfind.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef MDBTAP_TAP_DIR
#define MDBTAP_TAP_DIR "/usr/local/lib/mdbtap"
#endif

const char *tapfind_basename(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

int tapfind(int deepbind, char *path, size_t len)
{
	const char *name = deepbind ? TAPFIND_DEEPBIND : TAPFIND_PLAIN;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		*strrchr(self, '/') = 0;
		snprintf(path, len, "%s/%s", self, name);
		if (access(path, R_OK) == 0)
			return 0;
	}
	snprintf(path, len, "%s/%s", MDBTAP_TAP_DIR, name);
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(path, len, "%s not found next to mdbtap nor in %s", name, MDBTAP_TAP_DIR);
	return ENOENT;
}
