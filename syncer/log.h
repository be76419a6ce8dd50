/* log.h: the syncer's log: one line per event, UTC time first, to stderr
 * or to a file. Library code of the syncer logs through here, never
 * with printf. */
#ifndef MDBTAP_LOG_H
#define MDBTAP_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Log to path (appended) instead of stderr; NULL: stderr. Returns 0 or
 * errno. verbose enables LOG_DEBUG. */
int log_open(const char *path, int verbose);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Format a message into err (errlen bytes; NULL or 0: nothing), for
 * functions that return an error code and say why in a caller's buffer. */
void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
