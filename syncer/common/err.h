/* err.h: the syncer's error codes and their text.
 *
 * One code space, told apart by range, so that any function may pass on
 * any code it got and any caller may print it:
 *   0                  success
 *   > 0                an errno value
 *   MDB_KEYEXIST..MDB_LAST_ERRCODE (-30799..)  LMDB's codes
 *   MDBTAP_E_*         (-31900..) the journal format's (include/mdbtap.h)
 *   MDBTAP_E_SNAP_*         (-32000..) a snapshot object's (codec/snap.h)
 * err_str() turns any of them into text; check_err proves that none of
 * ours prints as unknown.
 */
#ifndef MDBTAP_ERR_H
#define MDBTAP_ERR_H

#include <stddef.h>

#define MDBTAP_E_SNAP_CORRUPT (-32000)   /* malformed protobuf, or data after the frame */
#define MDBTAP_E_SNAP_TRUNCATED (-32001) /* the stream ends before the object does */
#define MDBTAP_E_SNAP_CHECKSUM (-32002)  /* zstd frame checksum mismatch */
#define MDBTAP_E_SNAP_VERSION (-32003)   /* formatVersion < 1 or compatVersion > 3 */
#define MDBTAP_E_SNAP_LIMIT (-32004)     /* a message over SNAP_MAX_MESSAGE, or an
				       object over the configured bound */
#define MDBTAP_E_SNAP_ZSTD (-32005)      /* another zstd error */
#define MDBTAP_E_SNAP_FIRST MDBTAP_E_SNAP_ZSTD
#define MDBTAP_E_SNAP_LAST MDBTAP_E_SNAP_CORRUPT

/* Text for any code above. Never NULL; an unknown code gives "unknown
 * error N" in a thread-local buffer that the next call may overwrite. */
const char *err_str(int code);

/* Format a message into err (errlen bytes; NULL or 0: nothing), for
 * functions that return an error code and say why in a caller's buffer. */
void err_setf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
