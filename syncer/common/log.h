/* log.h: the syncer's log: one line per event, UTC time first, to stderr
 * or to a file. Library code of the syncer logs through here, never
 * with printf. */
#ifndef MDBTAP_LOG_H
#define MDBTAP_LOG_H

#include <stddef.h>

enum log_level { MDBTAP_LOG_ERROR, MDBTAP_LOG_WARN, MDBTAP_LOG_INFO, MDBTAP_LOG_DEBUG };

/* Log to path (appended) instead of stderr; NULL: stderr. Returns 0 or
 * errno. verbose enables MDBTAP_LOG_DEBUG. */
int log_open(const char *path, int verbose);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));


#endif
