/* stress_common.h: small helpers shared by the stress host programs.
 *
 * These programs are "hosts": plain LMDB programs that know nothing of the
 * tap. They run with it preloaded and log what they committed, so that the
 * harness can compare the journal with the truth.
 */
#ifndef STRESS_COMMON_H
#define STRESS_COMMON_H

#include <lmdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: a per-thread random stream. */
struct rng {
	uint64_t s;
};

static inline void rng_seed(struct rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	if (!r->s)
		r->s = 1;
}

static inline uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n). */
static inline unsigned rnd(struct rng *r, unsigned n)
{
	return (unsigned)((rng_next(r) >> 11) % n);
}

/* A growing string. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static inline void sb_reserve(struct sbuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;

	while (cap < b->len + more + 1)
		cap *= 2;
	char *np = realloc(b->p, cap);

	if (!np) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	b->p = np;
	b->cap = cap;
}

static inline void sb_add(struct sbuf *b, const void *p, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
}

__attribute__((format(printf, 2, 3)))
static inline void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static inline void sb_hex(struct sbuf *b, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *s = p;

	sb_reserve(b, 2 * n);
	for (size_t i = 0; i < n; i++) {
		b->p[b->len++] = digits[s[i] >> 4];
		b->p[b->len++] = digits[s[i] & 15];
	}
	b->p[b->len] = 0;
}

static inline void sb_trunc(struct sbuf *b, size_t len)
{
	b->len = len;
	if (b->p)
		b->p[len] = 0;
}

static inline void sb_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Log one element op the way the harness reads it: " dbi,op,KEY[,VALUE]"
 * (dbi "-" is the unnamed DBI; the value only for DUPSORT elements). */
static inline void sb_op(struct sbuf *b, const char *dbi, const char *op,
			 const MDB_val *key, const MDB_val *val)
{
	sb_printf(b, " %s,%s,", dbi ? dbi : "-", op);
	sb_hex(b, key->mv_data, key->mv_size);
	if (val) {
		sb_add(b, ",", 1);
		sb_hex(b, val->mv_data, val->mv_size);
	}
}

static inline void die_rc(const char *what, int rc)
{
	fprintf(stderr, "%s: %s\n", what, mdb_strerror(rc));
	exit(2);
}

/* An LMDB call that must succeed. */
#define MUST(call)                                  \
	do {                                        \
		int must_rc_ = (call);              \
		if (must_rc_)                       \
			die_rc(#call, must_rc_);    \
	} while (0)

static inline MDB_val mkval(const void *p, size_t n)
{
	MDB_val v;

	v.mv_size = n;
	v.mv_data = (void *)p;
	return v;
}

#endif
