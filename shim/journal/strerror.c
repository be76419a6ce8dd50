/* strerror.c: messages for mdbtap's error codes. */
#include <string.h>

#include "mdbtap.h"

const char *mdbtap_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case MDBTAP_E_FORMAT: return "not an mdbtap file";
	case MDBTAP_E_VERSION: return "unknown mdbtap format version";
	case MDBTAP_E_CORRUPT: return "corrupt or truncated data";
	case MDBTAP_E_FULL: return "journal full";
	default: break;
	}
	return err > 0 ? strerror(err) : "unknown error";
}
