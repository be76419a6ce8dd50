/* pct.c: see pct.h. One decoder; the variants differ only in rules. */
#include <errno.h>
#include <stdlib.h>

#include "pct.h"

#define PCT_PLUS_IS_SPACE 1u
#define PCT_NO_CONTROL 2u

int pct_lowerhexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int pct_hexval(int c)
{
	if (pct_lowerhexval(c) >= 0)
		return pct_lowerhexval(c);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int decode(const char *s, size_t n, unsigned rules, char **out)
{
	char *d = malloc(n + 1);
	size_t j = 0;

	if (!d)
		return ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < n ? pct_hexval((unsigned char)s[i + 1]) : -1;
			int lo = hi >= 0 ? pct_hexval((unsigned char)s[i + 2]) : -1;

			if (lo < 0)
				goto bad;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+' && (rules & PCT_PLUS_IS_SPACE)) {
			c = ' ';
		}
		if (c == 0 || ((rules & PCT_NO_CONTROL) && (c < 0x20 || c == 0x7f)))
			goto bad;
		d[j++] = (char)c;
	}
	d[j] = 0;
	*out = d;
	return 0;
bad:
	free(d);
	return EINVAL;
}

int pct_decode_path(const char *s, size_t n, char **out)
{
	return decode(s, n, 0, out);
}

int pct_decode_text(const char *s, size_t n, char **out)
{
	return decode(s, n, PCT_NO_CONTROL, out);
}

int pct_decode_form(const char *s, size_t n, char **out)
{
	return decode(s, n, PCT_PLUS_IS_SPACE, out);
}
