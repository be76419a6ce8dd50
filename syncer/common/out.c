/* out.c: printing untrusted bytes without ever emitting raw control
 * characters or invalid UTF-8. */
#include "out.h"

#include <string.h>

/* "..." with \" and \\, printable ASCII as is, any other byte as C's
 * \xHH or, for JSON, \u00HH. */
static void quoted(FILE *f, const unsigned char *s, size_t n, int json)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fprintf(f, "\\%c", s[i]);
		else if (s[i] >= 0x20 && s[i] < 0x7f)
			fputc(s[i], f);
		else
			fprintf(f, json ? "\\u%04x" : "\\x%02x", s[i]);
	}
	fputc('"', f);
}

void out_quoted(FILE *f, const void *p, size_t n)
{
	quoted(f, p, n, 0);
}

char *out_escape(char *dst, size_t cap, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t o = 0;

	if (!cap)
		return dst;
	for (size_t i = 0; i < n; i++) {
		char one[5];
		size_t k;

		if (s[i] == '\\')
			k = (size_t)snprintf(one, sizeof(one), "\\\\");
		else if (s[i] >= 0x20 && s[i] < 0x7f)
			k = (size_t)snprintf(one, sizeof(one), "%c", s[i]);
		else
			k = (size_t)snprintf(one, sizeof(one), "\\x%02x", s[i]);
		/* room for this, and for "..." unless it is the last byte */
		if (o + k + (i + 1 < n ? 3 : 0) >= cap) {
			if (o + 3 < cap) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, one, k);
		o += k;
	}
	dst[o] = 0;
	return dst;
}

void out_hex(FILE *f, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", s[i]);
}

void out_json_str(FILE *f, const void *p, size_t n)
{
	quoted(f, p, n, 1);
}
