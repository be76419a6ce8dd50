/* err.c: one text for every code the syncer passes around (err.h). */
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mdbtap.h"

static const char *snap_text(int code)
{
	switch (code) {
	case MDBTAP_E_SNAP_CORRUPT: return "malformed snapshot object";
	case MDBTAP_E_SNAP_TRUNCATED: return "snapshot object cut short";
	case MDBTAP_E_SNAP_CHECKSUM: return "snapshot object checksum mismatch";
	case MDBTAP_E_SNAP_VERSION: return "snapshot format version not supported";
	case MDBTAP_E_SNAP_LIMIT: return "snapshot object or message too large";
	case MDBTAP_E_SNAP_ZSTD: return "zstd error";
	}
	return NULL;
}

const char *err_str(int code)
{
	static __thread char unknown[32];
	const char *s = NULL;

	if (code == 0)
		return "success";
	if (code > 0)
		return strerror(code);
	if (code >= MDB_KEYEXIST && code <= MDB_LAST_ERRCODE)
		return mdb_strerror(code);
	if (code >= MDBTAP_E_FORMAT && code <= MDBTAP_E_LAST)
		return mdbtap_strerror(code);
	if (code >= MDBTAP_E_SNAP_FIRST && code <= MDBTAP_E_SNAP_LAST)
		s = snap_text(code);
	if (s)
		return s;
	snprintf(unknown, sizeof(unknown), "unknown error %d", code);
	return unknown;
}

void err_setf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
