/* tapfind.h: where the tap is, for `mdbtap run` and `mdbtap doctor`:
 * next to this mdbtap binary (a build tree), else where it was installed
 * (MDBTAP_TAP_DIR, set at build time). */
#ifndef MDBTAP_TAPFIND_H
#define MDBTAP_TAPFIND_H

#include <stddef.h>

#define TAPFIND_PLAIN "libmdbtap.so"
#define TAPFIND_DEEPBIND "libmdbtap-deepbind.so"

/* The tap (deepbind: its RTLD_DEEPBIND variant) into path. Returns 0, or
 * ENOENT with path saying where it was looked for. */
int tapfind(int deepbind, char *path, size_t len);

/* The part of p after its last '/'. */
const char *tapfind_basename(const char *p);

#endif
