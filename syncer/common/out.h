/* out.h: printing bytes safely (text and JSON). */
#ifndef MDBTAP_OUT_H
#define MDBTAP_OUT_H

#include <stddef.h>
#include <stdio.h>

/* "..." with C escapes: printable ASCII as is, \" \\ and \xHH otherwise. */
void out_quoted(FILE *f, const void *p, size_t n);

/* Bytes from outside made fit for a log line: printable ASCII as is, \\
 * and any other byte as \xHH (never a newline or a terminal escape), cut
 * to fit dst (cap bytes with the NUL) with "..." at the end when cut.
 * Returns dst. */
char *out_escape(char *dst, size_t cap, const void *p, size_t n);

/* Lower-case hex, no separators. */
void out_hex(FILE *f, const void *p, size_t n);

/* A JSON string: control bytes and bytes >= 0x80 as \u00XX, so the
 * output is always valid UTF-8 whatever the input. */
void out_json_str(FILE *f, const void *p, size_t n);

#endif
