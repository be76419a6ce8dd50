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

/* One byte as out_escape shows it; its length. */
static size_t escape_one(unsigned char c, char one[5])
{
	if (c == '\\')
		return (size_t)snprintf(one, 5, "\\\\");
	if (c >= 0x20 && c < 0x7f)
		return (size_t)snprintf(one, 5, "%c", c);
	return (size_t)snprintf(one, 5, "\\x%02x", c);
}

char *out_escape(char *dst, size_t cap, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t o = 0, all = 0, room;
	char one[5];

	if (!cap)
		return dst;
	for (size_t i = 0; i < n && all < cap; i++)
		all += escape_one(s[i], one);
	/* all of it when it fits, else what fits before "..." */
	room = all < cap ? cap - 1 : (cap > 3 ? cap - 4 : 0);
	for (size_t i = 0; i < n; i++) {
		size_t k = escape_one(s[i], one);

		if (o + k > room)
			break;
		memcpy(dst + o, one, k);
		o += k;
	}
	if (all >= cap && cap > 3) {
		memcpy(dst + o, "...", 3);
		o += 3;
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
