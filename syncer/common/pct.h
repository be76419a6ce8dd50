/* pct.h: percent-decoding (%XX, RFC 3986) of what comes from outside,
 * with the rules each source needs named in the function.
 *
 * Every variant decodes s[0..n) into a new NUL-terminated string (*out,
 * free it) and refuses a '%' not followed by two hex digits and a %00
 * (the result is a C string). Returns 0, EINVAL (bad input) or ENOMEM. */
#ifndef MDBTAP_PCT_H
#define MDBTAP_PCT_H

#include <stddef.h>

/* The value of hex digit c (either case), or -1. */
int pct_hexval(int c);

/* The same for lowercase digits only (the names we write), -1 otherwise. */
int pct_lowerhexval(int c);

/* A path: every other byte stands for itself ('+' too). For file URLs. */
int pct_decode_path(const char *s, size_t n, char **out);

/* A text value: control characters (0x00-0x1f, 0x7f), written or
 * escaped, are refused too. For S3 URL options and keys. */
int pct_decode_text(const char *s, size_t n, char **out);

/* A form-encoded value: '+' is a space. For the keys of an S3 listing
 * asked with encoding-type=url. */
int pct_decode_form(const char *s, size_t n, char **out);

#endif
