/* snap.c: see snap.h. The protobuf is written and read by hand, as
 * Lightning Stream does: the schema is small and fixed, and a library's
 * decoded form would cost memory per entry. */
#include "snap.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "buf.h"
#include "mdbtap.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---- encoding into a growable buffer ---- */

static size_t varint_enc(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

static int put_varint(struct buf *b, uint64_t v)
{
	int rc = buf_reserve(b, 10);

	if (!rc)
		b->len += varint_enc(b->p + b->len, v);
	return rc;
}

static int put_tag(struct buf *b, unsigned field, unsigned wt)
{
	return put_varint(b, (uint64_t)field << 3 | wt);
}

static int put_uint(struct buf *b, unsigned field, uint64_t v)
{
	int rc = 0;

	if (v) /* proto3: defaults are not written */
		rc = put_tag(b, field, WT_VARINT) ? ENOMEM : put_varint(b, v);
	return rc;
}

static int put_fixed64(struct buf *b, unsigned field, uint64_t v)
{
	int rc;

	if (!v)
		return 0;
	rc = put_tag(b, field, WT_I64);
	if (!rc)
		rc = buf_reserve(b, 8);
	if (rc)
		return rc;
	for (int i = 0; i < 8; i++)
		b->p[b->len++] = (uint8_t)(v >> (8 * i));
	return 0;
}

static int put_bytes(struct buf *b, unsigned field, const void *p, size_t n)
{
	int rc;

	if (!n)
		return 0;
	rc = put_tag(b, field, WT_LEN);
	if (!rc)
		rc = put_varint(b, n);
	return rc ? rc : buf_add(b, p, n);
}

static int put_str(struct buf *b, unsigned field, const char *s)
{
	return s ? put_bytes(b, field, s, strlen(s)) : 0;
}

/* ---- writer ---- */

struct snap_writer {
	ZSTD_CStream *z;
	snap_sink_fn sink;
	void *ctx;
	uint8_t *out;
	size_t out_cap;
	struct buf head;       /* the current DBI's fields but entries */
	struct buf chunk;      /* its entries not written yet */
	struct buf msg;        /* scratch */
	int in_dbi;
};

int snap_write_fd_sink(void *fdp, const void *buf, size_t len)
{
	int fd = *(int *)fdp;
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int zpush(struct snap_writer *w, const void *p, size_t n, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;

	do {
		ZSTD_outBuffer out = { w->out, w->out_cap, 0 };
		int rc;

		left = ZSTD_compressStream2(w->z, &out, &in, end);
		if (ZSTD_isError(left))
			return MDBTAP_E_SNAP_ZSTD;
		if (out.pos && (rc = w->sink(w->ctx, w->out, out.pos)) != 0)
			return rc;
	} while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

/* Table sizes for small objects: level 3's defaults (a 2 MiB window, 768
 * KiB of tables) take longer to clear than a small delta takes to write. */
static int small_tables(ZSTD_CStream *z, size_t hint)
{
	int log = 10; /* ZSTD_WINDOWLOG_MIN */

	if (!hint || hint >= (1u << 20))
		return 0;
	while ((1ull << log) < hint)
		log++;
	return ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_windowLog, log)) ||
	       ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_hashLog, log)) ||
	       ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_chainLog, log));
}

int snap_writer_new(struct snap_writer **out, const struct snap_meta *m, int level,
		    size_t size_hint, snap_sink_fn sink, void *ctx)
{
	struct snap_writer *w = calloc(1, sizeof(*w));
	struct buf meta = { 0 };
	int rc = ENOMEM;

	*out = w;
	if (!w)
		return ENOMEM;
	w->sink = sink;
	w->ctx = ctx;
	w->out_cap = ZSTD_CStreamOutSize();
	w->out = malloc(w->out_cap);
	w->z = ZSTD_createCStream();
	if (!w->out || !w->z)
		return ENOMEM;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(w->z, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->z, ZSTD_c_checksumFlag, 1)) ||
	    small_tables(w->z, size_hint))
		return MDBTAP_E_SNAP_ZSTD;
	/* Lightning Stream's order: Meta strings 1, 2, 3, 7, then 4, 5, 8. */
	if (put_str(&meta, 1, m->generation) || put_str(&meta, 2, m->instance) ||
	    put_str(&meta, 3, m->hostname) || put_str(&meta, 7, m->database) ||
	    put_uint(&meta, 4, (uint64_t)m->txnid) || put_fixed64(&meta, 5, m->ts_ns) ||
	    put_uint(&meta, 8, (uint64_t)m->from_txnid))
		goto out;
	/* Snapshot: formatVersion(1), compatVersion(4), meta(2), then DBIs. */
	if (put_uint(&w->msg, 1, SNAP_FORMAT_VERSION) || put_uint(&w->msg, 4, SNAP_COMPAT_VERSION) ||
	    put_tag(&w->msg, 2, WT_LEN) || put_varint(&w->msg, meta.len) ||
	    buf_add(&w->msg, meta.p, meta.len))
		goto out;
	rc = zpush(w, w->msg.p, w->msg.len, ZSTD_e_continue);
	w->msg.len = 0;
out:
	buf_free(&meta);
	return rc;
}

/* Write the DBI's header and pending entries as one DBI message. */
static int flush_chunk(struct snap_writer *w)
{
	uint8_t pre[24];
	size_t n;
	int rc;

	if (!w->in_dbi || !w->chunk.len)
		return 0;
	n = varint_enc(pre, (uint64_t)3 << 3 | WT_LEN);
	n += varint_enc(pre + n, w->head.len + w->chunk.len);
	rc = zpush(w, pre, n, ZSTD_e_continue);
	if (!rc)
		rc = zpush(w, w->head.p, w->head.len, ZSTD_e_continue);
	if (!rc)
		rc = zpush(w, w->chunk.p, w->chunk.len, ZSTD_e_continue);
	w->chunk.len = 0;
	return rc;
}

int snap_writer_dbi(struct snap_writer *w, const struct snap_dbi *d)
{
	int rc = flush_chunk(w);

	if (rc)
		return rc;
	w->head.len = 0;
	w->in_dbi = 1;
	/* DBI: name(1), flags(3), transform(4), our epochs, then entries(2). */
	rc = put_bytes(&w->head, 1, d->name, d->name_len);
	if (!rc)
		rc = put_uint(&w->head, 3, d->flags);
	if (!rc)
		rc = put_str(&w->head, 4, d->transform);
	if (!rc)
		rc = put_fixed64(&w->head, SNAP_FIELD_EPOCH, d->epoch);
	if (!rc)
		rc = put_fixed64(&w->head, SNAP_FIELD_PREV_EPOCH, d->prev_epoch);
	return rc;
}

int snap_writer_kv(struct snap_writer *w, const struct snap_kv *kv)
{
	int rc;

	if (!w->in_dbi)
		return EINVAL;
	/* KV: key(1), value(2), flags(4), timestampNano(3). */
	w->msg.len = 0;
	if (put_bytes(&w->msg, 1, kv->key, kv->klen) || put_bytes(&w->msg, 2, kv->val, kv->vlen) ||
	    put_uint(&w->msg, 4, kv->flags) || put_fixed64(&w->msg, 3, kv->ts))
		return ENOMEM;
	if (!w->msg.len)
		return 0; /* all fields empty: nothing to say (as LS does) */
	if (w->chunk.len + w->msg.len + 16 > SNAP_CHUNK && (rc = flush_chunk(w)) != 0)
		return rc;
	return put_bytes(&w->chunk, 2, w->msg.p, w->msg.len);
}

int snap_writer_finish(struct snap_writer *w)
{
	int rc = flush_chunk(w);

	return rc ? rc : zpush(w, NULL, 0, ZSTD_e_end);
}

size_t snap_writer_buffered(const struct snap_writer *w)
{
	return w->head.len + w->chunk.len;
}

void snap_writer_free(struct snap_writer *w)
{
	if (!w)
		return;
	ZSTD_freeCStream(w->z);
	free(w->out);
	buf_free(&w->head);
	buf_free(&w->chunk);
	buf_free(&w->msg);
	free(w);
}

/* ---- reader ---- */

struct snap_reader {
	ZSTD_DStream *z;
	snap_source_fn src;
	void *ctx;
	uint8_t *in, *out;
	size_t in_cap, in_len, in_pos;
	size_t out_cap, out_len, out_pos;
	int src_eof;
	int frame_done;          /* the frame ended and was checked */
	uint32_t format, compat;
	int have_format, have_meta, started;
	struct buf meta;         /* the Meta message */
	struct buf dbi;          /* the current DBI message */
	size_t dbi_pos;          /* next entry search position in it */
	struct snap_meta m;
	char *mstr[4];           /* Meta's strings, NUL-terminated */
	char *transform;
	int ended;
	uint64_t expanded;       /* bytes decompressed so far */
};

/* The bound on what one object decompresses to (snap_set_max_expanded). */
static uint64_t max_expanded = SNAP_DEFAULT_MAX_EXPANDED;

void snap_set_max_expanded(uint64_t max)
{
	__atomic_store_n(&max_expanded, max ? max : SNAP_DEFAULT_MAX_EXPANDED, __ATOMIC_RELAXED);
}

int snap_read_fd_source(void *fdp, void *buf, size_t cap, size_t *got)
{
	int fd = *(int *)fdp;
	ssize_t n;

	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	*got = (size_t)n;
	return 0;
}

int snap_reader_new(struct snap_reader **out, snap_source_fn src, void *ctx)
{
	struct snap_reader *r = calloc(1, sizeof(*r));

	*out = r;
	if (!r)
		return ENOMEM;
	r->src = src;
	r->ctx = ctx;
	r->in_cap = ZSTD_DStreamInSize();
	r->out_cap = ZSTD_DStreamOutSize();
	r->in = malloc(r->in_cap);
	r->out = malloc(r->out_cap);
	r->z = ZSTD_createDStream();
	if (!r->in || !r->out || !r->z)
		return ENOMEM;
	if (ZSTD_isError(ZSTD_initDStream(r->z)))
		return MDBTAP_E_SNAP_ZSTD;
	return 0;
}

void snap_reader_free(struct snap_reader *r)
{
	if (!r)
		return;
	ZSTD_freeDStream(r->z);
	free(r->in);
	free(r->out);
	buf_free(&r->meta);
	buf_free(&r->dbi);
	for (int i = 0; i < 4; i++)
		free(r->mstr[i]);
	free(r->transform);
	free(r);
}

static int fill_in(struct snap_reader *r)
{
	size_t got = 0;
	int rc;

	if (r->in_pos < r->in_len || r->src_eof)
		return 0;
	rc = r->src(r->ctx, r->in, r->in_cap, &got);
	if (rc)
		return rc;
	r->in_len = got;
	r->in_pos = 0;
	r->src_eof = got == 0;
	return 0;
}

/* Decompress more. Returns 0 with output, 1 at the frame's checked end,
 * or an error. */
static int more_output(struct snap_reader *r)
{
	for (;;) {
		ZSTD_inBuffer in;
		ZSTD_outBuffer out = { r->out, r->out_cap, 0 };
		size_t ret;
		int rc;

		if (r->frame_done)
			return 1;
		rc = fill_in(r);
		if (rc)
			return rc;
		if (r->in_pos == r->in_len && r->src_eof)
			return MDBTAP_E_SNAP_TRUNCATED;
		in = (ZSTD_inBuffer){ r->in, r->in_len, r->in_pos };
		ret = ZSTD_decompressStream(r->z, &out, &in);
		r->in_pos = in.pos;
		if (ZSTD_isError(ret))
			return ZSTD_getErrorCode(ret) == ZSTD_error_checksum_wrong ? MDBTAP_E_SNAP_CHECKSUM
										    : MDBTAP_E_SNAP_CORRUPT;
		if (ret == 0)
			r->frame_done = 1; /* whole frame, checksum verified, flushed */
		if (out.pos) {
			/* Stop at the bound: a small object must not expand
			 * without end. */
			r->expanded += out.pos;
			if (r->expanded > __atomic_load_n(&max_expanded, __ATOMIC_RELAXED))
				return EFBIG;
			r->out_len = out.pos;
			r->out_pos = 0;
			return 0;
		}
	}
}

/* Copy n decompressed bytes to dst (NULL: skip them). eof_ok: a clean
 * end before the first byte returns 1. */
static int read_bytes(struct snap_reader *r, uint8_t *dst, size_t n, int eof_ok)
{
	size_t done = 0;

	while (done < n) {
		size_t k;

		if (r->out_pos == r->out_len) {
			int rc = more_output(r);

			if (rc == 1)
				return done == 0 && eof_ok ? 1 : MDBTAP_E_SNAP_TRUNCATED;
			if (rc)
				return rc;
		}
		k = r->out_len - r->out_pos;
		if (k > n - done)
			k = n - done;
		if (dst)
			memcpy(dst + done, r->out + r->out_pos, k);
		r->out_pos += k;
		done += k;
	}
	return 0;
}

/* Byte i of a varint into *x: 0 when it was the last, 1 when more follow,
 * MDBTAP_E_SNAP_CORRUPT past 64 bits. */
static int varint_byte(uint64_t *x, int i, uint8_t b)
{
	if (i == 9 && b > 1)
		return MDBTAP_E_SNAP_CORRUPT;
	*x |= (uint64_t)(b & 0x7f) << (7 * i);
	return (b & 0x80) ? 1 : 0;
}

static int read_varint(struct snap_reader *r, uint64_t *v, int eof_ok)
{
	uint64_t x = 0;

	for (int i = 0; i < 10; i++) {
		uint8_t b;
		int rc = read_bytes(r, &b, 1, eof_ok && i == 0);

		if (rc)
			return rc;
		rc = varint_byte(&x, i, b);
		if (rc <= 0) {
			*v = x;
			return rc;
		}
	}
	return MDBTAP_E_SNAP_CORRUPT;
}

/* Decoding inside a message held in memory. */
struct cur {
	const uint8_t *p, *end;
};

static int cur_varint(struct cur *c, uint64_t *v)
{
	uint64_t x = 0;

	for (int i = 0; i < 10 && c->p < c->end; i++) {
		int rc = varint_byte(&x, i, *c->p++);

		if (rc <= 0) {
			*v = x;
			return rc;
		}
	}
	return MDBTAP_E_SNAP_CORRUPT;
}

/* One field: its number, wire type, and value (varint/fixed in *v,
 * length-delimited in *p and *n). */
static int cur_field(struct cur *c, unsigned *field, unsigned *wt, uint64_t *v,
		     const uint8_t **p, size_t *n)
{
	uint64_t tag, len;
	int rc = cur_varint(c, &tag);

	if (rc)
		return rc;
	*field = (unsigned)(tag >> 3);
	*wt = (unsigned)(tag & 7);
	if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
		return MDBTAP_E_SNAP_CORRUPT;
	switch (*wt) {
	case WT_VARINT:
		return cur_varint(c, v);
	case WT_I64:
	case WT_I32: {
		size_t k = *wt == WT_I64 ? 8 : 4;

		if ((size_t)(c->end - c->p) < k)
			return MDBTAP_E_SNAP_CORRUPT;
		*v = 0;
		for (size_t i = 0; i < k; i++)
			*v |= (uint64_t)c->p[i] << (8 * i);
		c->p += k;
		return 0;
	}
	case WT_LEN:
		rc = cur_varint(c, &len);
		if (rc)
			return rc;
		if (len > (uint64_t)(c->end - c->p))
			return MDBTAP_E_SNAP_CORRUPT;
		*p = c->p;
		*n = (size_t)len;
		c->p += len;
		return 0;
	default:
		return MDBTAP_E_SNAP_CORRUPT; /* groups are not used by this schema */
	}
}

static int dup_str(char **dst, const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		return ENOMEM;
	memcpy(s, p, n);
	s[n] = 0;
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_meta(struct snap_reader *r)
{
	struct cur c = { r->meta.p, r->meta.p + r->meta.len };
	struct snap_meta *m = &r->m;

	memset(m, 0, sizeof(*m));
	while (c.p < c.end) {
		unsigned f, wt;
		uint64_t v = 0;
		const uint8_t *p = NULL;
		size_t n = 0;
		int rc = cur_field(&c, &f, &wt, &v, &p, &n), slot = -1;

		if (rc)
			return rc;
		if (wt == WT_LEN)
			slot = f == 1 ? 0 : f == 2 ? 1 : f == 3 ? 2 : f == 7 ? 3 : -1;
		if (slot >= 0 && (rc = dup_str(&r->mstr[slot], p, n)) != 0)
			return rc;
		if (f == 4 && wt == WT_VARINT)
			m->txnid = (int64_t)v;
		else if (f == 5 && wt == WT_I64)
			m->ts_ns = v;
		else if (f == 8 && wt == WT_VARINT)
			m->from_txnid = (int64_t)v;
	}
	m->generation = r->mstr[0];
	m->instance = r->mstr[1];
	m->hostname = r->mstr[2];
	m->database = r->mstr[3];
	return 0;
}

/* Read a length-delimited top-level field into b. */
static int read_message(struct snap_reader *r, struct buf *b)
{
	uint64_t len = 0; /* gcc -O3 cannot see read_varint set it */
	int rc = read_varint(r, &len, 0);

	if (rc)
		return rc;
	if (len > SNAP_MAX_MESSAGE)
		return MDBTAP_E_SNAP_LIMIT;
	b->len = 0;
	rc = buf_reserve(b, (size_t)len + 1);
	if (!rc)
		rc = read_bytes(r, b->p, (size_t)len, 0);
	b->len = (size_t)len;
	return rc;
}

static int check_versions(struct snap_reader *r)
{
	if (!r->have_format || r->format < 1 || r->compat > SNAP_FORMAT_VERSION)
		return MDBTAP_E_SNAP_VERSION;
	return r->have_meta ? 0 : MDBTAP_E_SNAP_CORRUPT;
}

/* The DBI message's own fields; entries are read one by one later. */
static int parse_dbi(struct snap_reader *r, struct snap_event *ev)
{
	struct cur c = { r->dbi.p, r->dbi.p + r->dbi.len };
	struct snap_dbi *d = &ev->dbi;
	const uint8_t *tp = NULL;
	size_t tn = 0;

	memset(d, 0, sizeof(*d));
	d->name = ""; /* the unnamed DBI: never NULL for callers */
	while (c.p < c.end) {
		unsigned f, wt;
		uint64_t v = 0;
		const uint8_t *p = NULL;
		size_t n = 0;
		int rc = cur_field(&c, &f, &wt, &v, &p, &n);

		if (rc)
			return rc;
		if (f == 1 && wt == WT_LEN) {
			d->name = (const char *)p;
			d->name_len = n;
		} else if (f == 3 && wt == WT_VARINT) {
			d->flags = v;
		} else if (f == 4 && wt == WT_LEN) {
			tp = p;
			tn = n;
		} else if (f == SNAP_FIELD_EPOCH && wt == WT_I64) {
			d->epoch = v;
		} else if (f == SNAP_FIELD_PREV_EPOCH && wt == WT_I64) {
			d->prev_epoch = v;
		}
	}
	if (dup_str(&r->transform, tp ? tp : (const uint8_t *)"", tn))
		return ENOMEM;
	d->transform = r->transform;
	r->dbi_pos = 0;
	ev->type = SNAP_EV_DBI;
	return 0;
}

/* The next entry of the current DBI message: 1 with ev filled, 0 when
 * there is none left. */
static int next_kv(struct snap_reader *r, struct snap_event *ev)
{
	struct cur c = { r->dbi.p + r->dbi_pos, r->dbi.p + r->dbi.len };

	while (c.p < c.end) {
		unsigned f, wt;
		uint64_t v = 0;
		const uint8_t *p = NULL;
		size_t n = 0;
		struct cur kc;
		struct snap_kv *kv = &ev->kv;
		int rc = cur_field(&c, &f, &wt, &v, &p, &n);

		if (rc)
			return rc;
		if (f != 2 || wt != WT_LEN)
			continue;
		memset(kv, 0, sizeof(*kv));
		kv->key = kv->val = "";
		kc = (struct cur){ p, p + n };
		while (kc.p < kc.end) {
			const uint8_t *fp = NULL;
			size_t fn = 0;

			rc = cur_field(&kc, &f, &wt, &v, &fp, &fn);
			if (rc)
				return rc;
			if (f == 1 && wt == WT_LEN) {
				kv->key = fp;
				kv->klen = fn;
			} else if (f == 2 && wt == WT_LEN) {
				kv->val = fp;
				kv->vlen = fn;
			} else if (f == 3 && wt == WT_I64) {
				kv->ts = v;
			} else if (f == 4 && wt == WT_VARINT) {
				kv->flags = (uint32_t)(v & SNAP_KV_DELETED);
			}
		}
		if (r->format < 2 && kv->vlen == 0)
			kv->flags |= SNAP_KV_DELETED; /* format 1: empty means deleted */
		r->dbi_pos = (size_t)(c.p - r->dbi.p);
		ev->type = SNAP_EV_KV;
		return 1;
	}
	r->dbi_pos = r->dbi.len;
	return 0;
}

/* After the frame: nothing may follow it. */
static int check_trailer(struct snap_reader *r)
{
	int rc;

	for (;;) {
		if (r->in_pos < r->in_len)
			return MDBTAP_E_SNAP_CORRUPT;
		if (r->src_eof)
			return 0;
		rc = fill_in(r);
		if (rc)
			return rc;
	}
}

int snap_reader_next(struct snap_reader *r, struct snap_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (r->ended)
		return MDBTAP_E_SNAP_CORRUPT;
	if (r->dbi.len && r->dbi_pos < r->dbi.len) {
		int rc = next_kv(r, ev);

		if (rc)
			return rc < 0 ? rc : 0;
	}
	for (;;) {
		uint64_t tag, v;
		int rc = read_varint(r, &tag, 1);

		if (rc == 1) { /* the frame ended cleanly between fields */
			rc = check_versions(r);
			if (!rc)
				rc = check_trailer(r);
			if (rc)
				return rc;
			r->ended = 1;
			ev->type = SNAP_EV_END;
			return 0;
		}
		if (rc)
			return rc;
		switch ((unsigned)tag) {
		case 1 << 3 | WT_VARINT:
		case 4 << 3 | WT_VARINT:
			rc = read_varint(r, &v, 0);
			if (rc)
				return rc;
			if (r->started)
				return MDBTAP_E_SNAP_CORRUPT; /* versions come first */
			if (tag >> 3 == 1) {
				r->format = v > UINT32_MAX ? 0 : (uint32_t)v;
				r->have_format = 1;
			} else {
				r->compat = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
			}
			continue;
		case 2 << 3 | WT_LEN:
			if (r->started || r->have_meta)
				return MDBTAP_E_SNAP_CORRUPT;
			rc = read_message(r, &r->meta);
			if (!rc)
				rc = parse_meta(r);
			if (rc)
				return rc;
			r->have_meta = 1;
			ev->type = SNAP_EV_META;
			ev->meta = r->m;
			ev->meta.format_version = r->format;
			ev->meta.compat_version = r->compat;
			return 0;
		case 3 << 3 | WT_LEN:
			if (!r->started && (rc = check_versions(r)) != 0)
				return rc;
			r->started = 1;
			rc = read_message(r, &r->dbi);
			return rc ? rc : parse_dbi(r, ev);
		}
		/* An unknown field: skip it by its wire type. */
		if (tag >> 3 == 0)
			return MDBTAP_E_SNAP_CORRUPT;
		switch ((unsigned)(tag & 7)) {
		case WT_VARINT:
			rc = read_varint(r, &v, 0);
			break;
		case WT_I64:
			rc = read_bytes(r, NULL, 8, 0);
			break;
		case WT_I32:
			rc = read_bytes(r, NULL, 4, 0);
			break;
		case WT_LEN:
			rc = read_varint(r, &v, 0);
			if (!rc && v > SNAP_MAX_MESSAGE)
				rc = MDBTAP_E_SNAP_LIMIT;
			if (!rc)
				rc = read_bytes(r, NULL, (size_t)v, 0);
			break;
		default:
			rc = MDBTAP_E_SNAP_CORRUPT;
		}
		if (rc)
			return rc;
	}
}
