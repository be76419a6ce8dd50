/* cfg_text.c: the config file's text before YAML reads it: a UTF-8 and
 * control-character check that says the line, and $VAR expansion. */
#include "cfg_impl.h"
#include "err.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong, surrogate, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* libyaml also refuses these, but without saying where: we say the line. */
int cfg_text_check(const char *file, const char *t, size_t n, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)t;
	size_t line = 1, i = 0;

	while (i < n) {
		size_t len = utf8_len(p + i, n - i);

		if (!len) {
			err_setf(err, errlen, "%s:%zu: not valid UTF-8", file, line);
			return EINVAL;
		}
		if (len == 1 && ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') ||
				 p[i] == 0x7f)) {
			err_setf(err, errlen, "%s:%zu: control character 0x%02x", file, line, p[i]);
			return EINVAL;
		}
		if (p[i] == '\n')
			line++;
		i += len;
	}
	return 0;
}

static int name_start(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int name_char(int ch)
{
	return name_start(ch) || (ch >= '0' && ch <= '9');
}

/* Replace $VAR and ${VAR} in t (n bytes, from line `line` of file) by
 * the environment's values. */
int cfg_text_expand(const char *file, size_t line, const char *t, size_t n,
		       struct buf *out, char *err, size_t errlen)
{
	size_t i = 0;
	int rc = buf_add(out, "", 0);

	while (!rc && i < n) {
		size_t start, end;
		char name[256];
		const char *val;
		int braced;

		if (t[i] != '$') {
			line += t[i] == '\n';
			rc = buf_add(out, t + i++, 1);
			continue;
		}
		if (i + 1 < n && t[i + 1] == '$') {
			rc = buf_add(out, "$", 1);
			i += 2;
			continue;
		}
		braced = i + 1 < n && t[i + 1] == '{';
		start = end = i + 1 + (size_t)braced;
		while (end < n && (end == start ? name_start(t[end]) : name_char(t[end])))
			end++;
		if (!braced && end == start) {
			rc = buf_add(out, t + i++, 1);  /* a lone '$' */
			continue;
		}
		if (braced && (end == start || end >= n || t[end] != '}')) {
			err_setf(err, errlen, "%s:%zu: bad ${...}: expected ${NAME}", file, line);
			return EINVAL;
		}
		if (end - start >= sizeof(name)) {
			err_setf(err, errlen, "%s:%zu: variable name too long", file, line);
			return EINVAL;
		}
		memcpy(name, t + start, end - start);
		name[end - start] = 0;
		val = getenv(name);
		if (!val) {
			err_setf(err, errlen, "%s:%zu: environment variable %s is not set "
				"(write $$ for a '$')", file, line, name);
			return EINVAL;
		}
		rc = buf_add(out, val, strlen(val));
		i = end + (size_t)braced;
	}
	return rc;
}
