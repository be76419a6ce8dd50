/* opt.h: what getopt_long's complaints mean, in words: one message for
 * the syncer's flags (config) and every command's (cmd/cli.c). */
#ifndef MDBTAP_OPT_H
#define MDBTAP_OPT_H

#include <stddef.h>

/* After getopt_long returned '?' or ':' (with opterr 0 and ':' leading
 * its optstring), put into err (errlen bytes) what was wrong, naming
 * the option: "unknown option '--x'", "option '--a' takes no value",
 * "option '-c' needs a value". */
void opt_error(char *err, size_t errlen, int ret, char *const *argv);

#endif
