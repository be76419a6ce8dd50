/* objname.c: see objname.h. */
#define _GNU_SOURCE /* timegm */
#include "objname.h"
#include "pct.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define OBJNAME_EXT ".pb.zst"

static int valid_part(const char *s, size_t len, int instance)
{
	if (len == 0 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (instance && ((c >= 'A' && c <= 'Z') || c == '-'))))
			return 0;
	}
	return 1;
}

int objname_format(const struct objname *o, char *buf, size_t len)
{
	time_t t = (time_t)(o->ts_ns / 1000000000u);
	char when[32], kind[48];
	struct tm tm;
	int n;

	if (!valid_part(o->db, strlen(o->db), 0) ||
	    !valid_part(o->instance, strlen(o->instance), 1) ||
	    (!o->full && o->from_txnid >= o->to_txnid) || !gmtime_r(&t, &tm) ||
	    tm.tm_year + 1900 > 9999)
		return EINVAL;
	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", &tm);
	if (o->full)
		snprintf(kind, sizeof(kind), "F%" PRIu64, o->to_txnid);
	else
		snprintf(kind, sizeof(kind), "D%" PRIu64 "-%" PRIu64, o->from_txnid, o->to_txnid);
	n = snprintf(buf, len, "%s__%s__%s-%09" PRIu64 "__G%016" PRIx64 "__%s" OBJNAME_EXT, o->db,
		     o->instance, when, o->ts_ns % 1000000000u, o->generation, kind);
	return n < 0 || (size_t)n >= len ? ENAMETOOLONG : 0;
}

/* A decimal uint64 without leading zeros, ending at *end. */
static int parse_u64(const char *s, const char **end, uint64_t *v)
{
	uint64_t x = 0;
	const char *p = s;

	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return EINVAL;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*end = p;
	*v = x;
	return 0;
}

static int parse_digits(const char *s, int n, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return EINVAL;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return 0;
}

/* YYYYMMDD-HHMMSS-nnnnnnnnn */
static int parse_time(const char *s, uint64_t *ns)
{
	unsigned y, mo, d, h, mi, se, frac;
	struct tm tm = { 0 };
	time_t t;

	if (s[8] != '-' || s[15] != '-' || parse_digits(s, 4, &y) || parse_digits(s + 4, 2, &mo) ||
	    parse_digits(s + 6, 2, &d) || parse_digits(s + 9, 2, &h) ||
	    parse_digits(s + 11, 2, &mi) || parse_digits(s + 13, 2, &se) ||
	    parse_digits(s + 16, 9, &frac))
		return EINVAL;
	/* No leap second: timegm would move it to the next minute. */
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
		return EINVAL;
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)se;
	t = timegm(&tm);
	if (t < 0 || tm.tm_mday != (int)d) /* 31 February and the like */
		return EINVAL;
	if ((uint64_t)t > (UINT64_MAX - frac) / 1000000000u)
		return EINVAL; /* past 2554: not a uint64 of nanoseconds */
	*ns = (uint64_t)t * 1000000000u + frac;
	return 0;
}

int objname_parse(const char *name, struct objname *o)
{
	const char *p = name, *sep;
	size_t n;
	uint64_t gen = 0;

	memset(o, 0, sizeof(*o));
	sep = strstr(p, "__");
	if (!sep || !valid_part(p, (size_t)(sep - p), 0))
		return EINVAL;
	memcpy(o->db, p, (size_t)(sep - p));
	p = sep + 2;
	sep = strstr(p, "__");
	if (!sep || !valid_part(p, (size_t)(sep - p), 1))
		return EINVAL;
	memcpy(o->instance, p, (size_t)(sep - p));
	p = sep + 2;
	if (strlen(p) < 25 + 2 + 17 || parse_time(p, &o->ts_ns) || strncmp(p + 25, "__G", 3))
		return EINVAL;
	p += 28;
	for (n = 0; n < 16; n++) {
		int v = pct_lowerhexval((unsigned char)p[n]);

		if (v < 0)
			return EINVAL;
		gen = gen << 4 | (uint64_t)v;
	}
	o->generation = gen;
	p += 16;
	if (!strncmp(p, "__F", 3)) {
		o->full = 1;
		if (parse_u64(p + 3, &p, &o->to_txnid))
			return EINVAL;
	} else if (!strncmp(p, "__D", 3)) {
		if (parse_u64(p + 3, &p, &o->from_txnid) || *p++ != '-' ||
		    parse_u64(p, &p, &o->to_txnid) || o->from_txnid >= o->to_txnid)
			return EINVAL;
	} else {
		return EINVAL;
	}
	return strcmp(p, OBJNAME_EXT) ? EINVAL : 0;
}
