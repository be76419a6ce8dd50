/* log.h: the syncer's log: one line per event, UTC time first, to stderr
 * or to a file, as text or as one JSON object per line (journald, log
 * shippers). Library code of the syncer logs through here, never with
 * printf. Values that look like credentials (secret_key=..., a
 * signature, an Authorization header) are masked before anything is
 * written, whatever the caller formatted. Not thread-safe: the syncer
 * logs from one thread. */
#ifndef MDBTAP_LOG_H
#define MDBTAP_LOG_H

#include <stddef.h>

enum log_level { MDBTAP_LOG_ERROR, MDBTAP_LOG_WARN, MDBTAP_LOG_INFO, MDBTAP_LOG_DEBUG };
enum log_format { MDBTAP_LOG_TEXT, MDBTAP_LOG_JSON };

#define MDBTAP_LOG_DEFAULT_LEVEL MDBTAP_LOG_INFO

/* Log to path (appended) instead of stderr; NULL: stderr. Lines above
 * level are dropped. Returns 0 or errno. */
int log_open(const char *path, enum log_level level, enum log_format format);

/* Open the log file again (after logrotate moved it: SIGHUP). The old
 * file stays in use if the new one cannot be opened. Returns 0 or errno;
 * 0 when logging to stderr. */
int log_reopen(void);

/* Close the log file (back to stderr). */
void log_close(void);

/* Whether a line of this level is written (to skip costly formatting). */
int log_enabled(enum log_level level);

/* "error", "warning" (or "warn"), "info", "debug" -> *level; "text",
 * "json" -> *format. Return 0 or EINVAL. */
int log_level_parse(const char *s, enum log_level *level);
int log_format_parse(const char *s, enum log_format *format);

/* The name of a level, as written in the log. */
const char *log_level_name(enum log_level level);

/* Mask credential values in the NUL-terminated s, in place: what follows
 * secret_key, session_token, access_key, X-Amz-Signature,
 * X-Amz-Security-Token, X-Amz-Credential, Signature or Authorization
 * (then '=' or ':') up to a separator becomes "***". */
void log_mask_secrets(char *s);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
