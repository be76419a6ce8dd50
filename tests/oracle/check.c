/* check.c: run a program with and without the tap and judge the traces
 * and the journal (see oracle.h). */
#define _GNU_SOURCE
#include "oracle.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "record.h"

static void msgf(char *msg, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
}

/* A fresh env directory: remove what a previous program left. */
static void clean_env(const char *dir)
{
	static const char *const files[] = { "data.mdb", "lock.mdb", "mdbtap/journal" };
	char p[4300];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/mdbtap", dir);
	rmdir(p);
	mkdir(dir, 0755);
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	*buf = NULL;
	if (!f)
		return errno;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return EIO;
	}
	*buf = malloc((size_t)n + 1);
	if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		return EIO;
	}
	fclose(f);
	*len = (size_t)n;
	return 0;
}

static pid_t spawn(const struct oracle_cfg *cfg, int tap, const char *env, const char *prog,
		   const char *trace, const char *side)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (tap) {
		setenv("LD_PRELOAD", cfg->preload, 1);
		setenv("MDBTAP_JOURNAL_SIZE", "1M", 1);
	} else {
		unsetenv("LD_PRELOAD");
	}
	unsetenv("MDBTAP_DISABLE");
	execl(cfg->child, cfg->child, env, prog, trace, side, (char *)NULL);
	_exit(127);
}

/* The child's wait status, or -1. */
static int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* Trace reading. */
struct rd {
	const uint8_t *p;
	size_t len, off;
	int bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->len - r->off < n) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static unsigned get_u8(struct rd *r) { const uint8_t *p = take(r, 1); return p ? *p : 0; }

static int32_t get_i32(struct rd *r)
{
	int32_t v = 0;
	const uint8_t *p = take(r, 4);

	if (p)
		memcpy(&v, p, 4);
	return v;
}

static uint64_t get_u64(struct rd *r)
{
	uint64_t v = 0;
	const uint8_t *p = take(r, 8);

	if (p)
		memcpy(&v, p, 8);
	return v;
}

struct bytes {
	const uint8_t *p;
	uint32_t n;     /* 0xffffffff: none */
};

static struct bytes get_val(struct rd *r)
{
	struct bytes b = { NULL, (uint32_t)get_i32(r) };

	if (b.n != 0xffffffffu)
		b.p = take(r, b.n);
	return b;
}

/* A dump: elements sorted by (dbi, key, data). */
struct elem {
	unsigned d;
	struct bytes k, v;
};

struct dump {
	struct elem *e;
	size_t n, cap;
	unsigned present;        /* bit d: DBI d exists */
	unsigned flags[16];
};

static int cmp_bytes(const struct bytes *a, const struct bytes *b)
{
	size_t n = a->n < b->n ? a->n : b->n;
	int c = n ? memcmp(a->p, b->p, n) : 0;

	return c ? c : (a->n > b->n) - (a->n < b->n);
}

static int cmp_elem(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	int c;

	if (a->d != b->d)
		return a->d < b->d ? -1 : 1;
	c = cmp_bytes(&a->k, &b->k);
	return c ? c : cmp_bytes(&a->v, &b->v);
}

static int read_dump(struct rd *r, struct dump *dp)
{
	unsigned d = 0;

	dp->n = 0;
	dp->present = 0;
	if (get_u8(r) != ORACLE_EV_DUMP)
		return -1;
	for (;;) {
		unsigned ev = get_u8(r);

		if (r->bad)
			return -1;
		if (ev == ORACLE_EV_DUMP_END)
			break;
		if (ev == ORACLE_EV_DBI) {
			d = get_u8(r);
			if (d >= 16)
				return -1;
			dp->present |= 1u << d;
			dp->flags[d] = (unsigned)get_i32(r);
		} else if (ev == ORACLE_EV_ELEM) {
			if (dp->n == dp->cap) {
				size_t nc = dp->cap ? dp->cap * 2 : 256;
				struct elem *ne = realloc(dp->e, nc * sizeof(*ne));

				if (!ne)
					return -1;
				dp->e = ne;
				dp->cap = nc;
			}
			dp->e[dp->n].d = d;
			dp->e[dp->n].k = get_val(r);
			dp->e[dp->n].v = get_val(r);
			dp->n++;
		} else {
			return -1;
		}
	}
	if (dp->n)
		qsort(dp->e, dp->n, sizeof(dp->e[0]), cmp_elem);
	return r->bad ? -1 : 0;
}

/* The records of one commit: those in [from, to) of the journal. */
struct recs {
	struct journal_entry e[4];
	uint8_t *body[4];
	int n;
};

static int read_records(struct journal *j, uint64_t from, uint64_t to, struct recs *rs,
			char *msg, size_t cap)
{
	struct journal_reader rd = { 0 };
	uint64_t pos = from;

	rs->n = 0;
	while (pos < to) {
		struct journal_entry e;
		int rc = journal_read(j, pos, &rd, &e);

		if (rc != 1) {
			msgf(msg, cap, "journal_read at %llu: %d", (unsigned long long)pos, rc);
			journal_reader_free(&rd);
			return -1;
		}
		if (!e.pad) {
			if (rs->n == 4) {
				msgf(msg, cap, "more than 4 records for one commit");
				journal_reader_free(&rd);
				return 1;
			}
			rs->body[rs->n] = malloc(e.hdr.body_len + 1);
			if (!rs->body[rs->n])
				return -1;
			memcpy(rs->body[rs->n], e.body, e.hdr.body_len);
			rs->e[rs->n] = e;
			rs->e[rs->n].body = rs->body[rs->n];
			rs->n++;
		}
		pos = e.next;
	}
	journal_reader_free(&rd);
	return 0;
}

static void free_records(struct recs *rs)
{
	for (int i = 0; i < rs->n; i++)
		free(rs->body[i]);
	rs->n = 0;
}

static int same(const void *a, size_t an, const struct bytes *b)
{
	return an == b->n && (an == 0 || memcmp(a, b->p, an) == 0);
}

/* Whether the record covers a changed element of DBI d. */
static int covered(const struct journal_entry *e, const struct elem *x, int dupsort)
{
	struct record_iter it;
	struct record_op op;
	char name[8];
	int rc;

	if (e->hdr.flags & MDBTAP_REC_LOSSY)
		return 1;
	snprintf(name, sizeof(name), "d%u", x->d - 1);
	if (record_iter_init(&it, e->body, e->hdr.body_len, e->hdr.nnames, e->hdr.nops))
		return 0;
	while ((rc = record_iter_next(&it, &op)) == 1) {
		if (x->d == 0 ? op.name != NULL
			      : !op.name || op.name_len != strlen(name) ||
				memcmp(op.name, name, op.name_len) != 0)
			continue;
		switch (op.type) {
		case MDBTAP_OP_DROP:
		case MDBTAP_OP_DELETE_DBI:
		case MDBTAP_OP_DIRTY:
			return 1;
		case MDBTAP_OP_PUT:
		case MDBTAP_OP_DEL:
			if (!same(op.key, op.klen, &x->k))
				break;
			if (!dupsort || (op.val && same(op.val, op.vlen, &x->v)))
				return 1;
			break;
		case MDBTAP_OP_DELALL:
			if (same(op.key, op.klen, &x->k))
				return 1;
			break;
		}
	}
	return 0;
}

static void describe(char *msg, size_t cap, const char *what, const struct elem *x,
		     uint64_t txnid)
{
	char k[80] = "", v[80] = "";

	for (uint32_t i = 0, o = 0; i < x->k.n && o < sizeof(k) - 5; i++)
		o += (unsigned)snprintf(k + o, sizeof(k) - o,
					x->k.p[i] >= 32 && x->k.p[i] < 127 ? "%c" : "\\%02x",
					x->k.p[i]);
	for (uint32_t i = 0, o = 0; i < x->v.n && o < sizeof(v) - 5; i++)
		o += (unsigned)snprintf(v + o, sizeof(v) - o,
					x->v.p[i] >= 32 && x->v.p[i] < 127 ? "%c" : "\\%02x",
					x->v.p[i]);
	msgf(msg, cap, "txn %llu: %s element of DBI %s%u key '%s' (%u bytes) data '%s' (%u bytes) "
	     "is not in its record", (unsigned long long)txnid, what,
	     x->d ? "d" : "unnamed", x->d ? x->d - 1 : 0, k, x->k.n, v, x->v.n);
}

/* Every element in one dump and not the other must be covered. */
/* The DBI index of an op's name (0: unnamed, i: "d<i-1>"), or -1. */
static int op_dbi(const struct record_op *op)
{
	if (!op->name)
		return 0;
	if (op->name_len == 2 && op->name[0] == 'd' && op->name[1] >= '0' && op->name[1] <= '9')
		return op->name[1] - '0' + 1;
	return -1;
}

/* The first element of DBI d at or after (k, v) in the sorted dump
 * (v NULL: the key's first value). */
static size_t lower_bound(const struct dump *dp, unsigned d, const struct bytes *k,
			  const struct bytes *v)
{
	static const struct bytes none = { (const uint8_t *)"", 0 };
	struct elem key = { d, *k, v ? *v : none };
	size_t lo = 0, hi = dp->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_elem(&dp->e[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether the dump holds key k of DBI d (with value v, unless v is NULL). */
static int holds(const struct dump *dp, unsigned d, const struct bytes *k, const struct bytes *v)
{
	size_t i = lower_bound(dp, d, k, v);

	return i < dp->n && dp->e[i].d == d && !cmp_bytes(&dp->e[i].k, k) &&
	       (!v || !cmp_bytes(&dp->e[i].v, v));
}

/* Whether a later op of the record has the last word on the element an
 * op names: the same element, every value of its key, or the whole DBI. */
static int overridden(const struct journal_entry *e, unsigned nth, const struct record_op *op)
{
	struct record_iter it;
	struct record_op o;
	unsigned i = 0;

	if (record_iter_init(&it, e->body, e->hdr.body_len, e->hdr.nnames, e->hdr.nops))
		return 1;
	while (record_iter_next(&it, &o) == 1) {
		if (i++ <= nth || op_dbi(&o) != op_dbi(op) || o.type == MDBTAP_OP_ORDER)
			continue;
		if (o.type != MDBTAP_OP_PUT && o.type != MDBTAP_OP_DEL && o.type != MDBTAP_OP_DELALL)
			return 1; /* DROP, DELETE_DBI, DIRTY, CREATE */
		if (o.klen != op->klen || (o.klen && memcmp(o.key, op->key, o.klen)))
			continue;
		if (o.type == MDBTAP_OP_DELALL || !o.val || !op->val ||
		    (o.vlen == op->vlen && (!o.vlen || !memcmp(o.val, op->val, o.vlen))))
			return 1;
	}
	return 0;
}

/* Soundness: the last op of the record on each element agrees with the
 * env after the commit (a PUT of an element that is not there, or a DEL
 * of one that is, would reach the other instances as a wrong write). */
static int check_sound(const struct dump *b, const struct journal_entry *e, uint64_t txnid,
		       char *msg, size_t cap)
{
	struct record_iter it;
	struct record_op op;
	unsigned nth = 0;

	if ((e->hdr.flags & MDBTAP_REC_LOSSY) ||
	    record_iter_init(&it, e->body, e->hdr.body_len, e->hdr.nnames, e->hdr.nops))
		return 0;
	for (; record_iter_next(&it, &op) == 1; nth++) {
		int d = op_dbi(&op), has;
		struct bytes k = { op.key, op.klen }, v = { op.val, op.vlen };

		if (d < 0 || (op.type != MDBTAP_OP_PUT && op.type != MDBTAP_OP_DEL &&
			      op.type != MDBTAP_OP_DELALL) || overridden(e, nth, &op))
			continue;
		has = holds(b, (unsigned)d, &k, op.type == MDBTAP_OP_DELALL || !op.val ? NULL : &v);
		if (has != (op.type == MDBTAP_OP_PUT)) {
			msgf(msg, cap, "txn %llu: the record's last op %u (%s) on an element of DBI %d "
			     "disagrees with the env after the commit (the element is %s)",
			     (unsigned long long)txnid, nth, record_op_name(op.type), d,
			     has ? "there" : "not there");
			return 1;
		}
	}
	return 0;
}

static int check_diff(const struct dump *a, const struct dump *b, const struct journal_entry *e,
		      uint64_t txnid, struct oracle_stats *st, char *msg, size_t cap)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		const struct elem *x;
		const char *what;
		int c = i == a->n ? 1 : j == b->n ? -1 : cmp_elem(&a->e[i], &b->e[j]);
		unsigned f;

		if (c == 0) {
			i++;
			j++;
			continue;
		}
		x = c < 0 ? &a->e[i++] : &b->e[j++];
		what = c < 0 ? "removed" : "added";
		f = (b->present & (1u << x->d)) ? b->flags[x->d] : a->flags[x->d];
		st->elements++;
		if (!e) {
			describe(msg, cap, what, x, txnid);
			return 1;
		}
		if (!covered(e, x, (f & MDB_DUPSORT) != 0)) {
			describe(msg, cap, what, x, txnid);
			return 1;
		}
	}
	return 0;
}

static int first_difference(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = an < bn ? an : bn;

	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (int)i;
	return (int)n;
}

/* Walk trace a (== trace b) with the side file and the journal. */
static int judge(const struct oracle_cfg *cfg, const uint8_t *t, size_t tlen, const uint8_t *s,
		 size_t slen, struct oracle_stats *st, char *msg, size_t cap)
{
	struct rd r = { t, tlen, 0, 0 }, sr = { s, slen, 0, 0 };
	struct dump prev = { 0 }, cur = { 0 };
	struct journal *j = NULL;
	char jdir[4300];
	int ret = -1;

	snprintf(jdir, sizeof(jdir), "%s/A/mdbtap", cfg->work);
	{
		struct journal_open_opts o = { .writable = 0 };
		int rc = journal_open(jdir, &o, &j);

		if (rc) {
			msgf(msg, cap, "the run with the tap has no journal: %s", mdbtap_strerror(rc));
			return 1;
		}
	}
	if (read_dump(&r, &prev)) {
		msgf(msg, cap, "trace: no first dump");
		goto out;
	}
	for (;;) {
		unsigned ev = get_u8(&r);
		struct recs rs = { .n = 0 };
		uint64_t before, after, h0, h1;
		int rc, crc;

		if (r.bad) {
			msgf(msg, cap, "trace: cut short");
			goto out;
		}
		if (ev == ORACLE_EV_END) {
			st->ops += get_u64(&r);
			ret = 0;
			goto out;
		}
		if (ev == ORACLE_EV_OP) {
			take(&r, 1 + 4);
			get_val(&r);
			get_val(&r);
			get_u64(&r);
			continue;
		}
		if (ev != ORACLE_EV_COMMIT && ev != ORACLE_EV_ABORT) {
			msgf(msg, cap, "trace: event %u at %zu", ev, r.off - 1);
			goto out;
		}
		crc = get_i32(&r);
		before = get_u64(&r);
		after = get_u64(&r);
		h0 = get_u64(&sr);
		h1 = get_u64(&sr);
		if (sr.bad || read_dump(&r, &cur)) {
			msgf(msg, cap, "trace or side file: cut short");
			goto out;
		}
		rc = read_records(j, h0, h1, &rs, msg, cap);
		if (rc) {
			ret = rc;
			goto out;
		}
		for (int i = 0; i < rs.n; i++)
			if (rs.e[i].state == MDBTAP_STATE_PENDING) {
				msgf(msg, cap, "txn %llu: record still pending after the commit returned",
				     (unsigned long long)rs.e[i].hdr.txnid);
				free_records(&rs);
				ret = 1;
				goto out;
			}
		/* Only COMMITTED records count from here on. */
		{
			int k = 0;

			for (int i = 0; i < rs.n; i++)
				if (rs.e[i].state == MDBTAP_STATE_COMMITTED)
					rs.e[k] = rs.e[i], rs.body[k] = rs.body[i], k++;
				else
					free(rs.body[i]);
			rs.n = k;
		}
		if (ev == ORACLE_EV_ABORT || crc != 0 || after == before) {
			if (ev == ORACLE_EV_COMMIT && crc == 0)
				st->empty_commits++;
			if (rs.n) {
				msgf(msg, cap, "a committed record (txn %llu) for a txn that %s",
				     (unsigned long long)rs.e[0].hdr.txnid,
				     ev == ORACLE_EV_ABORT ? "was aborted"
				     : crc ? "failed to commit" : "took no txn id (empty commit)");
				free_records(&rs);
				ret = 1;
				goto out;
			}
		} else {
			const struct journal_entry *e = rs.n ? &rs.e[0] : NULL;

			st->commits++;
			if (after != before + 1 || rs.n > 1 || (e && e->hdr.txnid != after)) {
				msgf(msg, cap, "txn %llu (last id before %llu): %d records, the first for txn %llu",
				     (unsigned long long)after, (unsigned long long)before, rs.n,
				     e ? (unsigned long long)e->hdr.txnid : 0ull);
				free_records(&rs);
				ret = 1;
				goto out;
			}
			if (!e) {
				st->unaccounted++;
			} else {
				st->records++;
				if (e->hdr.flags & MDBTAP_REC_LOSSY)
					st->lossy++;
				if (check_diff(&prev, &cur, e, after, st, msg, cap) ||
				    check_sound(&cur, e, after, msg, cap)) {
					free_records(&rs);
					ret = 1;
					goto out;
				}
			}
		}
		free_records(&rs);
		{
			struct dump t2 = prev;

			prev = cur;
			cur = t2;
		}
	}
out:
	free(prev.e);
	free(cur.e);
	journal_close(j);
	return ret;
}

int oracle_check(const struct oracle_cfg *cfg, const uint8_t *prog, size_t len,
		 struct oracle_stats *st, char *msg, size_t cap)
{
	char a[4200], b[4200], pf[4200], ta[4200], tb[4200], sa[4200], sb[4200];
	uint8_t *bufa = NULL, *bufb = NULL, *side = NULL;
	size_t la = 0, lb = 0, ls = 0;
	FILE *f;
	pid_t pa, pb;
	int ra, rb, ret = -1;

	msg[0] = 0;
	snprintf(a, sizeof(a), "%s/A", cfg->work);
	snprintf(b, sizeof(b), "%s/B", cfg->work);
	snprintf(pf, sizeof(pf), "%s/program", cfg->work);
	snprintf(ta, sizeof(ta), "%s/A.trace", cfg->work);
	snprintf(tb, sizeof(tb), "%s/B.trace", cfg->work);
	snprintf(sa, sizeof(sa), "%s/A.side", cfg->work);
	snprintf(sb, sizeof(sb), "%s/B.side", cfg->work);
	clean_env(a);
	clean_env(b);
	f = fopen(pf, "wb");
	if (!f || (len && fwrite(prog, 1, len, f) != len) || fclose(f)) {
		msgf(msg, cap, "cannot write %s", pf);
		return -1;
	}
	pa = spawn(cfg, 1, a, pf, ta, sa);
	ra = pa > 0 ? wait_status(pa) : -1;
	pb = spawn(cfg, 0, b, pf, tb, sb);
	rb = pb > 0 ? wait_status(pb) : -1;
	if (ra != 0 || rb != 0) {
		/* LMDB 0.9.24 itself asserts or crashes on some programs (after
		 * an assertion, how it dies, and whether, varies): such a program
		 * says nothing about the tap. A run that dies only with the tap
		 * is a mismatch. */
		if (rb != 0 && rb != -1 && !(WIFEXITED(rb) && WEXITSTATUS(rb) == 127)) {
			st->lmdb_failed++;
			return 0;
		}
		msgf(msg, cap, "the child with the tap %s %d, without %s %d",
		     WIFSIGNALED(ra) ? "got signal" : "exited", WIFSIGNALED(ra) ? WTERMSIG(ra) : WEXITSTATUS(ra),
		     WIFSIGNALED(rb) ? "got signal" : "exited", WIFSIGNALED(rb) ? WTERMSIG(rb) : WEXITSTATUS(rb));
		return 1;
	}
	if (read_file(ta, &bufa, &la) || read_file(tb, &bufb, &lb) || read_file(sa, &side, &ls)) {
		msgf(msg, cap, "cannot read the traces");
		goto out;
	}
	st->programs++;
	if (la != lb || memcmp(bufa, bufb, la) != 0) {
		msgf(msg, cap, "invisibility: the traces differ at byte %d (of %zu and %zu)",
		     first_difference(bufa, la, bufb, lb), la, lb);
		ret = 1;
		goto out;
	}
	ret = judge(cfg, bufa, la, side, ls, st, msg, cap);
out:
	free(bufa);
	free(bufb);
	free(side);
	return ret;
}
