/* store_s3.c: the S3 store. Each object is the key PREFIX/NAME in one
 * bucket, read and written with libcurl, which also signs each request
 * with AWS Signature V4 (CURLOPT_AWS_SIGV4).
 *
 * libcurl 7.88 signs what it is given, with two gaps we fill here: it
 * does not sort the query string (so every query below is written in
 * sorted order, each value %-encoded), and it neither sends nor computes
 * x-amz-content-sha256 for an upload read from a callback (so we hash the
 * body and send the header; S3 then checks the body against it).
 *
 * Every request is retried with exponential backoff and jitter on what
 * may pass: connection failures, timeouts, bodies cut short, HTTP 5xx,
 * 429 and S3's SlowDown / RequestTimeout. Other answers (403, 404, ...)
 * fail at once with what S3 said in store_error. One curl handle per
 * store keeps its connections open between requests.
 *
 * Objects larger than part_size go up as a multipart upload: started,
 * sent part by part from the file (each part hashed, signed and retried
 * on its own, never held in memory), then completed; an upload that
 * fails is aborted, and those a killed writer left are found and
 * aborted by store_abort_uploads (the cleaner's).
 *
 * Errors: EACCES (401, 403), ENOENT (a missing object or bucket),
 * ETIMEDOUT, ECONNREFUSED, EPROTO (an answer we cannot read), EFBIG
 * (over 5 TiB: a multipart upload's limit), ENOTSUP (the server answers
 * NotImplemented), EIO (the rest, after the retries).
 */
#define _GNU_SOURCE /* asprintf */
#include "store.h"
#include "buf.h"
#include "err.h"
#include "hlc.h"
#include "s3conf.h"
#include "s3imds.h"
#include "s3xml.h"
#include "log.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHA256_OF_NOTHING "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PUT_MAX (5ull << 40)             /* S3's limit for an object */
#define PARTS_MAX 10000u                 /* and for the parts of one upload */
#define ETAG_MAX 256                     /* a part's ETag we take (S3's: 34 bytes) */
#define BODY_MAX (16u << 20)             /* an answer we keep in memory */
#define ANSWER_ERR_MAX (64u << 10)         /* an error answer: the start is enough */
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 10000

struct s3_store {
	struct store base;       /* first: a struct store * is a struct s3_store * */
	struct s3conf c;
	CURL *curl;
	char *base_url;          /* scheme://host[/bucket] or scheme://bucket.host */
	char *sigv4;             /* "aws:amz:REGION:s3" */
	uint64_t rng;
	int creds_failing;       /* re-reading the credentials files fails */
	int creds_logged;        /* instance_profile: said once where they come from */
	uint64_t creds_expire_ns; /* instance_profile: when they expire */
	uint64_t creds_retry_ns; /* and, after a failed fetch, when to try again */
};

/* Instance-role credentials are renewed this long before they expire
 * (the service has new ones ready five minutes before). */
#define IMDS_EARLY_NS (4ull * 60 * 1000000000ull)
#define IMDS_RETRY_NS (5ull * 1000000000ull)   /* after a failed fetch */

/* One request and what came back. */
struct req {
	const char *method;      /* GET, PUT, DELETE */
	const char *verb;        /* for messages: the method, or LIST */
	const char *name;        /* for messages: the object or prefix */
	char *url;               /* owned */
	int in_fd;               /* PUT: the body, from offset in_base */
	const char *in_mem;      /* or POST: the body in memory */
	uint64_t in_base, in_size, in_off;
	char sha[65];            /* the body's SHA-256, hex */
	int out_fd;              /* GET: 2xx bodies go here, else to body */
	off_t out_start;
	uint64_t got;            /* bytes written to out_fd */
	uint64_t max_got;        /* GET: more fails with EFBIG (0: no bound) */
	int write_err;           /* errno of a failed write to out_fd */
	struct buf body;
	long status;
	uint64_t deadline_ms;    /* monotonic: the whole request, retries too */
	char etag[ETAG_MAX + 1]; /* the answer's ETag header ("" if none) */
	int etag_bad;            /* it had one we do not take */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Called by curl at least once a second: a SIGTERM (store_interrupt)
 * ends the transfer at once, even one that trickles a byte at a time. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ctx, (void)dt, (void)dn, (void)ut, (void)un;
	return store_interrupted();
}

static struct s3_store *s3(struct store *s)
{
	return (struct s3_store *)s;
}

/* ---- curl callbacks ---- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct req *r = ctx;
	size_t n = size * nmemb;

	if (r->out_fd >= 0 && r->status / 100 == 2) {
		if (r->max_got && r->got + n > r->max_got) {
			r->write_err = EFBIG; /* stop while it streams */
			return 0;
		}
		for (size_t done = 0; done < n;) {
			ssize_t w = write(r->out_fd, p + done, n - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r->write_err = errno;
				return 0;
			}
			done += (size_t)w;
		}
		r->got += n;
		return n;
	}
	if (r->status / 100 != 2 && r->body.len + n > r->body.max)
		return n; /* the start of an error answer says enough */
	return buf_add(&r->body, p, n) ? 0 : n;
}

/* The status line comes before any body: note it for on_body. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct req *r = ctx;
	size_t n = size * nmemb;
	char line[64]; /* curl's header line is not NUL-terminated */
	int code;

	if (n > 9 && !strncmp(p, "HTTP/", 5)) {
		size_t len = n < sizeof(line) - 1 ? n : sizeof(line) - 1;

		memcpy(line, p, len);
		line[len] = 0;
		if (sscanf(line, "HTTP/%*s %3d", &code) == 1 && code >= 200) {
			r->status = code; /* the last status line counts: skips "100 Continue" */
			r->etag[0] = 0;
			r->etag_bad = 0;
		}
	} else if (n > 5 && !strncasecmp(p, "etag:", 5)) {
		size_t i = 5, len;

		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		for (len = n - i; len && (p[i + len - 1] == '\r' || p[i + len - 1] == '\n' ||
					  p[i + len - 1] == ' '); len--)
			;
		r->etag_bad = !len || len > ETAG_MAX;
		for (size_t k = 0; k < len && !r->etag_bad; k++)
			r->etag_bad = p[i + k] < 0x21 || p[i + k] > 0x7e;
		if (!r->etag_bad) {
			memcpy(r->etag, p + i, len);
			r->etag[len] = 0;
		}
	}
	return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct req *r = ctx;
	size_t want = size * nmemb;
	ssize_t got;

	if (r->in_off >= r->in_size)
		return 0;
	if (want > r->in_size - r->in_off)
		want = (size_t)(r->in_size - r->in_off);
	if (r->in_mem) {
		memcpy(p, r->in_mem + r->in_off, want);
		r->in_off += want;
		return want;
	}
	do
		got = pread(r->in_fd, p, want, (off_t)(r->in_base + r->in_off));
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return CURL_READFUNC_ABORT; /* the file shrank or failed: not a whole object */
	r->in_off += (uint64_t)got;
	return (size_t)got;
}

static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct req *r = ctx;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->in_size)
		return CURL_SEEKFUNC_FAIL;
	r->in_off = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* ---- one attempt ---- */

static long ms(uint64_t ns)
{
	return (long)(ns / 1000000 ? ns / 1000000 : 1);
}

static CURLcode attempt(struct s3_store *s, struct req *r, struct curl_slist *hdrs)
{
	CURL *h = s->curl;
	CURLcode cc;

	curl_easy_reset(h); /* keeps the connections and caches */
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms(s->c.connect_timeout_ns));
	{
		/* What is left of the request's total deadline. */
		uint64_t now = mono_ms(), left = r->deadline_ms > now ? r->deadline_ms - now : 1;

		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	}
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)(s->c.low_speed_time_ns / 1000000000));
	curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, (long)s->c.tls_verify);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, s->c.tls_verify ? 2L : 0L);
	if (s->c.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, s->c.ca_file);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->c.access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->c.secret_key);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
		/* an upload from the callback; POST keeps its body that way too */
		if (!strcmp(r->method, "POST"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->in_size);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
	} else if (!strcmp(r->method, "DELETE")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	r->status = 0;
	r->in_off = 0;
	r->got = 0;
	r->write_err = 0;
	r->body.len = 0;
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	return cc;
}

static int transient_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* NotImplemented (501) will not pass by trying again. */
static int transient_status(long status, const char *code)
{
	return (status >= 500 && status != 501 && strcmp(code, "NotImplemented")) ||
	       status == 429 || !strcmp(code, "SlowDown") || !strcmp(code, "RequestTimeout");
}

static int errno_of(CURLcode cc, long status, const char *code)
{
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return ETIMEDOUT;
	if (cc == CURLE_COULDNT_CONNECT)
		return ECONNREFUSED;
	if (cc != CURLE_OK)
		return EIO;
	if (status == 401 || status == 403)
		return EACCES;
	if (status == 404 || !strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchBucket") ||
	    !strcmp(code, "NoSuchUpload"))
		return ENOENT;
	if (status == 501 || !strcmp(code, "NotImplemented"))
		return ENOTSUP;
	return EIO;
}

/* A random pause before attempt n (1, 2, ...): half of the capped
 * exponential step plus a random part of the other half, so that
 * instances that failed together do not retry together. */
static void backoff(struct s3_store *s, unsigned n)
{
	uint64_t step = BACKOFF_BASE_MS << (n < 8 ? n - 1 : 7), wait;
	struct timespec ts;

	if (step > BACKOFF_CAP_MS)
		step = BACKOFF_CAP_MS;
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	wait = step / 2 + s->rng % (step / 2 + 1);
	ts.tv_sec = (time_t)(wait / 1000);
	ts.tv_nsec = (long)(wait % 1000) * 1000000;
	while (nanosleep(&ts, &ts) && errno == EINTR && !store_interrupted())
		;
}

/* The instance role's credentials, fetched when missing or about to
 * expire; if that fails, the ones held go on being used while valid. */
static void instance_credentials(struct s3_store *s)
{
	struct s3imds_creds cr;
	char err[512];
	uint64_t now = hlc_wall_ns();
	int rc;

	if ((s->c.access_key && now + IMDS_EARLY_NS < s->creds_expire_ns) ||
	    now < s->creds_retry_ns)
		return;
	rc = s3imds_fetch(s->c.imds_endpoint, &cr, err, sizeof(err));
	if (rc == EINTR)
		return; /* SIGTERM: the request that follows ends at once too */
	if (rc) {
		/* from the end of the fetch: a slow service (seconds per
		 * answer) must not be asked again before every request */
		s->creds_retry_ns = hlc_wall_ns() + IMDS_RETRY_NS;
		if (!s->creds_failing)
			log_msg(MDBTAP_LOG_WARN, "%s: %s%s", s->base.url, err, s->c.access_key &&
				now < s->creds_expire_ns ? "; the credentials held are used until "
				"they expire" : "");
		s->creds_failing = 1;
		return;
	}
	free(s->c.access_key);
	s3conf_wipe_free(s->c.secret_key);
	s3conf_wipe_free(s->c.session_token);
	s->c.access_key = cr.access_key;
	s->c.secret_key = cr.secret_key;
	s->c.session_token = cr.session_token;
	s->creds_expire_ns = cr.expires_ns;
	if (s->creds_failing || !s->creds_logged)
		log_msg(MDBTAP_LOG_INFO, "%s: credentials of the instance's role, valid for %.0f min",
			s->base.url, cr.expires_ns > now ? (double)(cr.expires_ns - now) / 60e9 : 0.0);
	s->creds_failing = 0;
	s->creds_logged = 1;
}

/* Rotated credentials files are read again before the next request; if
 * that fails (a file half-written, gone), the old ones go on being used,
 * and the log says so once. */
static void reload_credentials(struct s3_store *s)
{
	char err[512];
	int changed, rc;

	if (s->c.instance_profile) {
		instance_credentials(s);
		return;
	}
	rc = s3conf_reload(&s->c, &changed, err, sizeof(err));
	if (rc && !s->creds_failing)
		log_msg(MDBTAP_LOG_WARN, "%s: %s; the credentials read before are still used",
			s->base.url, err);
	else if (!rc && (changed || s->creds_failing))
		log_msg(MDBTAP_LOG_INFO, "%s: credentials read again from their files", s->base.url);
	s->creds_failing = rc != 0;
}

/* Run r with retries. 2xx: 0. Otherwise an errno value, and the reason
 * in s->base.error. */
static int perform(struct s3_store *s, struct req *r)
{
	struct curl_slist *hdrs = NULL, *h;
	char line[128], code[64] = "", msg[256] = "";
	CURLcode cc = CURLE_OK;
	unsigned n;

	reload_credentials(s);
	if (!s->c.access_key || !s->c.secret_key) {
		snprintf(s->base.error, sizeof(s->base.error), "%s %s%s: no credentials yet "
			 "(see the log)", r->verb, s->base.url, r->name);
		return EACCES;
	}

	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", r->sha[0] ? r->sha : SHA256_OF_NOTHING);
	hdrs = curl_slist_append(NULL, line);
	if (hdrs && s->c.session_token) {
		size_t len = strlen(s->c.session_token) + 32;
		char *t = malloc(len);

		h = NULL;
		if (t) {
			snprintf(t, len, "x-amz-security-token: %s", s->c.session_token);
			h = curl_slist_append(hdrs, t);
			memset(t, 0, len);
			free(t);
		}
		if (!h) {
			curl_slist_free_all(hdrs);
			hdrs = NULL;
		}
	}
	if (!hdrs)
		return ENOMEM;
	r->deadline_ms = mono_ms() + ms(s->c.timeout_ns);
	for (n = 0;; n++) {
		if (n)
			backoff(s, n);
		if (store_interrupted() || (n && mono_ms() >= r->deadline_ms)) {
			cc = store_interrupted() ? CURLE_ABORTED_BY_CALLBACK : CURLE_OPERATION_TIMEDOUT;
			break;
		}
		if (r->out_fd >= 0 && (ftruncate(r->out_fd, r->out_start) ||
				       lseek(r->out_fd, r->out_start, SEEK_SET) < 0)) {
			cc = CURLE_WRITE_ERROR;
			r->write_err = errno;
			break;
		}
		cc = attempt(s, r, hdrs);
		code[0] = msg[0] = 0;
		if (cc == CURLE_OK && r->status / 100 != 2)
			s3xml_error((const char *)r->body.p, r->body.len, code, sizeof(code), msg, sizeof(msg));
		if (cc == CURLE_OK && r->status / 100 == 2)
			break;
		if (n >= s->c.retries ||
		    !(cc == CURLE_OK ? transient_status(r->status, code) : transient_curl(cc)))
			break;
		s->base.stats.retries++;
	}
	curl_slist_free_all(hdrs);
	if (cc == CURLE_OK && r->status / 100 == 2)
		return 0;
	if (r->out_fd >= 0 && ftruncate(r->out_fd, r->out_start) == 0)
		lseek(r->out_fd, r->out_start, SEEK_SET);
	if (cc == CURLE_WRITE_ERROR && r->write_err) {
		snprintf(s->base.error, sizeof(s->base.error), "%s %s%s: writing it here: %s",
			 r->verb, s->base.url, r->name, err_str(r->write_err));
		return r->write_err;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(s->base.error, sizeof(s->base.error), "%s %s%s: interrupted",
			 r->verb, s->base.url, r->name);
		return EINTR;
	}
	if (cc != CURLE_OK)
		snprintf(s->base.error, sizeof(s->base.error), "%s %s%s: %s (%u attempts)",
			 r->verb, s->base.url, r->name, curl_easy_strerror(cc), n + 1);
	else
		snprintf(s->base.error, sizeof(s->base.error), "%s %s%s: HTTP %ld%s%s%s%s%s",
			 r->verb, s->base.url, r->name, r->status, code[0] ? " " : "", code,
			 msg[0] ? ": " : "", msg,
			 transient_status(r->status, code) ? " (after retries)" : "");
	return errno_of(cc, r->status, code);
}

/* The URL of key PREFIX/name with query q (sorted, encoded) or none;
 * name "": a bucket request. */
static int make_url(struct s3_store *s, struct req *r, const char *name, const char *q)
{
	size_t len = strlen(s->c.prefix) + strlen(name) + 1;
	char *key = malloc(len), *enc;
	int n;

	if (!key)
		return ENOMEM;
	snprintf(key, len, "%s%s", name[0] ? s->c.prefix : "", name);
	enc = s3conf_uri_encode(key, 1);
	free(key);
	if (!enc)
		return ENOMEM;
	n = asprintf(&r->url, "%s/%s%s%s", s->base_url, enc, q ? "?" : "", q ? q : "");
	free(enc);
	if (n < 0) {
		r->url = NULL;
		return ENOMEM;
	}
	return 0;
}

static void req_init(struct req *r, const char *method, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->method = r->verb = method;
	r->name = name;
	r->in_fd = -1;
	r->out_fd = -1;
	r->body.max = ANSWER_ERR_MAX;
}

static void req_free(struct req *r)
{
	free(r->url);
	buf_free(&r->body);
}

/* ---- the operations ---- */

/* The SHA-256 of size bytes of fd from base, or of mem when fd < 0. */
static int sha256_of(int fd, const char *mem, uint64_t base, uint64_t size, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32], buf[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t off = 0;
	int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? 0 : ENOMEM;

	if (!rc && fd < 0) {
		rc = EVP_DigestUpdate(ctx, mem, (size_t)size) ? 0 : EIO;
		off = size;
	}
	while (!rc && off < size) {
		size_t want = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		ssize_t got = pread(fd, buf, want, (off_t)(base + off));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			rc = got < 0 ? errno : EIO;
		else if (!EVP_DigestUpdate(ctx, buf, (size_t)got))
			rc = EIO;
		else
			off += (uint64_t)got;
	}
	if (!rc && !EVP_DigestFinal_ex(ctx, md, NULL))
		rc = EIO;
	EVP_MD_CTX_free(ctx);
	for (int i = 0; !rc && i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = 0;
	return rc;
}

/* ---- multipart uploads ---- */

/* One upload in progress: its id, %-encoded for queries, and the body of
 * CompleteMultipartUpload, a part at a time (about 80 bytes each). */
struct mp {
	const char *name;
	char id[S3XML_UPLOAD_ID_MAX + 1];
	char *qid;
	struct buf done;
};

/* Append s to b, escaped for XML text. */
static int xml_text(struct buf *b, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" :
				*s == '"' ? "&quot;" : NULL;

		rc = e ? buf_add(b, e, strlen(e)) : buf_add(b, s, 1);
	}
	return rc;
}

static int mp_start(struct s3_store *s, struct mp *m)
{
	struct req r;
	int rc;

	req_init(&r, "POST", m->name);
	r.verb = "START UPLOAD";
	rc = make_url(s, &r, m->name, "uploads=");
	if (!rc)
		rc = perform(s, &r);
	if (!rc && s3xml_upload_id((const char *)r.body.p, r.body.len, m->id, sizeof(m->id))) {
		snprintf(s->base.error, sizeof(s->base.error), "START UPLOAD %s%s: the answer "
			 "holds no UploadId we can use (%zu bytes)", s->base.url, m->name, r.body.len);
		rc = EPROTO;
	}
	if (!rc && !(m->qid = s3conf_uri_encode(m->id, 0)))
		rc = ENOMEM;
	req_free(&r);
	return rc;
}

/* Part n (1, 2, ...) of nparts: size bytes of fd from base. */
static int mp_part(struct s3_store *s, struct mp *m, int fd, unsigned n, unsigned nparts,
		   uint64_t base, uint64_t size)
{
	char label[STORE_NAME_MAX + 32], *q = NULL;
	struct req r;
	int rc;

	snprintf(label, sizeof(label), "%s part %u/%u", m->name, n, nparts);
	req_init(&r, "PUT", label);
	r.verb = "PUT PART";
	r.in_fd = fd;
	r.in_base = base;
	r.in_size = size;
	rc = sha256_of(fd, NULL, base, size, r.sha);
	/* sorted: partNumber < uploadId */
	if (!rc && asprintf(&q, "partNumber=%u&uploadId=%s", n, m->qid) < 0) {
		q = NULL;
		rc = ENOMEM;
	}
	if (!rc) {
		/* the URL is the object's; label is for messages only */
		rc = make_url(s, &r, m->name, q);
	}
	free(q);
	if (!rc)
		rc = perform(s, &r);
	if (!rc && (r.etag_bad || !r.etag[0])) {
		snprintf(s->base.error, sizeof(s->base.error), "PUT PART %s%s: the answer has %s",
			 s->base.url, label, r.etag_bad ? "an ETag we do not take" : "no ETag");
		rc = EPROTO;
	}
	if (!rc) {
		char num[64];

		snprintf(num, sizeof(num), "<Part><PartNumber>%u</PartNumber><ETag>", n);
		rc = buf_add(&m->done, num, strlen(num));
		if (!rc)
			rc = xml_text(&m->done, r.etag);
		if (!rc)
			rc = buf_add(&m->done, "</ETag></Part>", 14);
		s->base.stats.bytes_out += size;
	}
	req_free(&r);
	return rc;
}

/* CompleteMultipartUpload. S3 may answer 200 and then, in the body, an
 * error: a transient one is tried again like any request. */
static int mp_complete(struct s3_store *s, struct mp *m)
{
	static const char end[] = "</CompleteMultipartUpload>";
	char code[64], msg[256], *q = NULL;
	struct req r;
	unsigned n;
	int rc = buf_add(&m->done, end, sizeof(end) - 1);

	if (!rc && asprintf(&q, "uploadId=%s", m->qid) < 0) {
		q = NULL;
		rc = ENOMEM;
	}
	for (n = 0; !rc; n++) {
		req_init(&r, "POST", m->name);
		r.verb = "COMPLETE UPLOAD";
		r.in_mem = (const char *)m->done.p;
		r.in_size = m->done.len;
		rc = sha256_of(-1, r.in_mem, 0, r.in_size, r.sha);
		if (!rc)
			rc = make_url(s, &r, m->name, q);
		if (!rc)
			rc = perform(s, &r);
		if (!rc) {
			rc = s3xml_complete((const char *)r.body.p, r.body.len, code, sizeof(code),
					    msg, sizeof(msg));
			if (rc)
				snprintf(s->base.error, sizeof(s->base.error), "COMPLETE UPLOAD %s%s: %s%s%s%s",
					 s->base.url, m->name, rc == EAGAIN ? "HTTP 200 with error " :
					 "the answer is not a CompleteMultipartUploadResult", code,
					 msg[0] ? ": " : "", msg);
		}
		req_free(&r);
		if (rc != EAGAIN)
			break;
		if (n >= s->c.retries || !transient_status(200, code) || store_interrupted()) {
			rc = EIO;
			break;
		}
		s->base.stats.retries++;
		backoff(s, n + 1);
		rc = 0;
	}
	free(q);
	return rc;
}

/* AbortMultipartUpload of key PREFIX/name's upload id. A gone upload is
 * success (aborted, or completed after all). */
static int mp_abort(struct s3_store *s, const char *name, const char *id)
{
	char *qid = s3conf_uri_encode(id, 0), *q = NULL;
	struct req r;
	int rc = qid ? 0 : ENOMEM;

	req_init(&r, "DELETE", name);
	r.verb = "ABORT UPLOAD";
	if (!rc && asprintf(&q, "uploadId=%s", qid) < 0) {
		q = NULL;
		rc = ENOMEM;
	}
	if (!rc)
		rc = make_url(s, &r, name, q);
	if (!rc)
		rc = perform(s, &r);
	free(q);
	free(qid);
	req_free(&r);
	return rc == ENOENT ? 0 : rc;
}

/* An object of size bytes (more than part_size) in parts of part_size,
 * larger if it would take more than PARTS_MAX of them. On failure the
 * upload is aborted, and the error says what failed and whether the
 * abort did too (an upload left is found by the cleaner). */
static int put_multipart(struct s3_store *s, const char *name, int fd, uint64_t size)
{
	static const char head[] = "<CompleteMultipartUpload "
				   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
	struct mp m = { .name = name, .done = { .max = (size_t)PARTS_MAX * 512 } };
	uint64_t part = s->c.part_size;
	unsigned nparts;
	int rc, arc;

	if ((size + part - 1) / part > PARTS_MAX)
		part = ((size + PARTS_MAX - 1) / PARTS_MAX + (1u << 20) - 1) & ~((1ull << 20) - 1);
	nparts = (unsigned)((size + part - 1) / part);
	rc = buf_add(&m.done, head, sizeof(head) - 1);
	if (!rc)
		rc = mp_start(s, &m);
	if (rc) {
		buf_free(&m.done);
		return rc;
	}
	log_msg(MDBTAP_LOG_DEBUG, "%s%s: uploading %llu bytes in %u parts", s->base.url, name,
		(unsigned long long)size, nparts);
	for (unsigned n = 1; !rc && n <= nparts; n++) {
		uint64_t base = (uint64_t)(n - 1) * part;

		rc = mp_part(s, &m, fd, n, nparts, base, size - base < part ? size - base : part);
	}
	if (!rc)
		rc = mp_complete(s, &m);
	if (rc) {
		char why[sizeof(s->base.error)];

		memcpy(why, s->base.error, sizeof(why));
		arc = store_interrupted() ? EINTR : mp_abort(s, name, m.id);
		if (!arc)
			snprintf(s->base.error, sizeof(s->base.error), "%.400s; the upload was aborted",
				 why);
		else if (arc == EINTR)
			snprintf(s->base.error, sizeof(s->base.error), "%.400s; the upload is left "
				 "for the cleaner", why);
		else {
			char abort_why[sizeof(s->base.error)];

			memcpy(abort_why, s->base.error, sizeof(abort_why));
			snprintf(s->base.error, sizeof(s->base.error), "%.280s; the upload is left "
				 "for the cleaner: %.180s", why, abort_why);
		}
	}
	free(m.qid);
	buf_free(&m.done);
	return rc;
}

static int s3_put(struct store *st, const char *name, int fd)
{
	struct s3_store *s = s3(st);
	struct req r;
	struct stat sb;
	int rc;

	if (fstat(fd, &sb))
		return errno;
	if (!S_ISREG(sb.st_mode))
		return ESPIPE;
	if ((uint64_t)sb.st_size > PUT_MAX)
		return EFBIG;
	if ((uint64_t)sb.st_size > s->c.part_size)
		return put_multipart(s, name, fd, (uint64_t)sb.st_size);
	req_init(&r, "PUT", name);
	r.in_fd = fd;
	r.in_size = (uint64_t)sb.st_size;
	rc = sha256_of(fd, NULL, 0, r.in_size, r.sha);
	if (!rc)
		rc = make_url(s, &r, name, NULL);
	if (!rc)
		rc = perform(s, &r);
	if (!rc)
		s->base.stats.bytes_out += r.in_size;
	req_free(&r);
	return rc;
}

static int s3_get(struct store *st, const char *name, int fd)
{
	struct s3_store *s = s3(st);
	struct req r;
	int rc;

	req_init(&r, "GET", name);
	r.out_fd = fd;
	r.max_got = st->max_get;
	r.out_start = lseek(fd, 0, SEEK_CUR);
	if (r.out_start < 0)
		return errno;
	rc = make_url(s, &r, name, NULL);
	if (!rc)
		rc = perform(s, &r);
	if (!rc)
		s->base.stats.bytes_in += r.got;
	req_free(&r);
	return rc;
}

static int s3_del(struct store *st, const char *name)
{
	struct s3_store *s = s3(st);
	struct req r;
	int rc;

	req_init(&r, "DELETE", name);
	rc = make_url(s, &r, name, NULL);
	if (!rc)
		rc = perform(s, &r);
	req_free(&r);
	return rc == ENOENT ? 0 : rc;
}

#define S3_KEY_MAX 1024

/* Keys under our prefix go to the caller without it; store.c passes on
 * only those that are object names. */
struct list_ctx {
	const char *prefix;
	store_list_fn fn;
	void *ctx;
	char last[S3_KEY_MAX + 1]; /* the previous key: keys only ever ascend */
	int have_last, out_of_order;
};

/* A listing must end: S3 lists keys in ascending order, so a key that
 * does not come after the one before means the server is going round
 * (a repeated continuation token, or a cycle of them). */
#define LIST_MAX_PAGES 100000

static int list_key(void *ctx, const char *key, uint64_t size)
{
	struct list_ctx *l = ctx;
	size_t plen = strlen(l->prefix);

	/* S3 keys are at most 1024 bytes: a longer one is no S3 answer,
	 * and compared cut short it would hide a repeat. */
	if (strlen(key) > S3_KEY_MAX)
		return EPROTO;
	if (l->have_last && strcmp(key, l->last) <= 0) {
		l->out_of_order = 1;
		return EPROTO;
	}
	snprintf(l->last, sizeof(l->last), "%s", key);
	l->have_last = 1;

	return strncmp(key, l->prefix, plen) ? 0 : l->fn(l->ctx, key + plen, size);
}

/* ListObjectsV2 with its parameters in sorted order, as SigV4 signs
 * them (libcurl 7.88 does not sort). */
static int list_query(struct s3_store *s, const char *prefix, const char *token, char **out)
{
	size_t len = strlen(s->c.prefix) + strlen(prefix) + 1;
	char *full = malloc(len), *ep, *et = NULL;
	int n = -1;

	if (!full)
		return ENOMEM;
	snprintf(full, len, "%s%s", s->c.prefix, prefix);
	ep = s3conf_uri_encode(full, 0);
	if (token)
		et = s3conf_uri_encode(token, 0);
	if (ep && (et || !token))
		n = asprintf(out, "%s%s%sencoding-type=url&list-type=2&max-keys=%u&prefix=%s",
			     et ? "continuation-token=" : "", et ? et : "", et ? "&" : "",
			     s->c.page_size, ep);
	free(full);
	free(ep);
	free(et);
	if (n < 0) {
		*out = NULL;
		return ENOMEM;
	}
	return 0;
}

/* A continuation token (or a pair of upload markers) the server sends
 * back is bounded: AWS's are a few hundred bytes, and each one is kept
 * for cycle detection, so a server sending huge fresh tokens would
 * otherwise grow our memory by their size on every page. */
#define LIST_TOKEN_MAX 4096
#define LIST_TOKENS_KEPT_MAX (32u << 20)

/* The tokens sent so far in one listing. */
struct token_set {
	void *tree;   /* tsearch tree of strings */
	size_t bytes; /* their total length */
};

static int token_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Whether token was seen before in this listing; remembers it. A cycle of
 * tokens (A, B, A, ...) would otherwise go round until LIST_MAX_PAGES.
 * 1: seen, 0: new, -ENOMEM, -E2BIG: the token, or all kept, too long. */
static int token_seen(struct token_set *set, const char *token)
{
	size_t len = strlen(token);
	char *copy, **at;

	if (len > LIST_TOKEN_MAX || set->bytes + len > LIST_TOKENS_KEPT_MAX)
		return -E2BIG;
	copy = strdup(token);
	if (!copy)
		return -ENOMEM;
	at = tsearch(copy, &set->tree, token_cmp);
	if (!at) {
		free(copy);
		return -ENOMEM;
	}
	if (*at != copy) {
		free(copy);
		return 1;
	}
	set->bytes += len;
	return 0;
}

static int s3_list(struct store *st, const char *prefix, store_list_fn fn, void *ctx)
{
	struct s3_store *s = s3(st);
	struct list_ctx l = { s->c.prefix, fn, ctx, "", 0, 0 };
	char *token = NULL; /* the continuation token to send */
	struct token_set seen = { NULL, 0 }; /* the tokens sent so far */
	uint64_t pages = 0;
	int rc;

	do {
		struct s3xml_page pg = { 0 };
		struct req r;
		char *q = NULL;

		req_init(&r, "GET", prefix);
		r.verb = "LIST";
		r.body.max = BODY_MAX;
		rc = list_query(s, prefix, token, &q);
		if (!rc)
			rc = make_url(s, &r, "", q);
		free(q);
		if (!rc)
			rc = perform(s, &r);
		pages++;
		if (!rc) {
			rc = s3xml_list_page((const char *)r.body.p, r.body.len, &pg, list_key, &l);
			if (rc == EPROTO)
				snprintf(s->base.error, sizeof(s->base.error),
					 "LIST %s%s: %s", s->base.url, prefix, l.out_of_order
					 ? "the server lists keys again (a repeated continuation token?)"
					 : "the answer is not a ListObjectsV2 page");
		}
		req_free(&r);
		if (!rc && pg.next_token) {
			int again = token_seen(&seen, pg.next_token);

			if (again == -E2BIG) {
				snprintf(s->base.error, sizeof(s->base.error), "LIST %s%s: a "
					 "continuation token longer than %u bytes, or more than %u "
					 "bytes of them in one listing", s->base.url, prefix,
					 LIST_TOKEN_MAX, LIST_TOKENS_KEPT_MAX);
				rc = EPROTO;
			} else if (again < 0) {
				rc = -again;
			} else if (again || pages >= LIST_MAX_PAGES) {
				snprintf(s->base.error, sizeof(s->base.error), "LIST %s%s: %s",
					 s->base.url, prefix, pages >= LIST_MAX_PAGES
					 ? "more pages than a listing may have"
					 : "a continuation token repeats");
				rc = EPROTO;
			}
		}
		free(token);
		token = rc ? NULL : pg.next_token;
		if (rc)
			free(pg.next_token);
	} while (!rc && token);
	free(token);
	tdestroy(seen.tree, free);
	/* store.c counts the first (or the one that failed); those before
	 * it were answered */
	s->base.stats.list += pages - 1;
	s->base.stats.outcomes[STORE_OP_LIST][STORE_OK] += pages - 1;
	return rc;
}

/* ---- unfinished uploads (the cleaner's) ---- */

struct uploads_ctx {
	struct s3_store *s;
	store_upload_fn pick;
	void *ctx;
	unsigned *aborted;
};

static int one_upload(void *ctx, const char *key, const char *id, uint64_t initiated_ns)
{
	struct uploads_ctx *u = ctx;
	struct s3_store *s = u->s;
	size_t plen = strlen(s->c.prefix);
	const char *name = key + plen;
	int rc;

	if (strncmp(key, s->c.prefix, plen) || !store_valid_name(name))
		return 0; /* not one of our objects */
	rc = u->pick(u->ctx, name, initiated_ns);
	if (rc != 1)
		return rc;
	rc = mp_abort(s, name, id);
	if (!rc) {
		(*u->aborted)++;
		store_count(&s->base.stats, STORE_OP_DEL, 0);
		log_msg(MDBTAP_LOG_INFO, "%s%s: aborted an upload left unfinished", s->base.url, name);
	} else if (rc == EINTR) {
		return rc;
	} else {
		store_count(&s->base.stats, STORE_OP_DEL, rc == ENOENT ? EIO : rc);
		/* left for the next pass */
		log_msg(rc == ENOTSUP ? MDBTAP_LOG_DEBUG : MDBTAP_LOG_WARN, "%s", s->base.error);
	}
	return 0;
}

/* ListMultipartUploads with its parameters in sorted order. */
static int uploads_query(struct s3_store *s, const char *prefix, const char *key_marker,
			 const char *id_marker, char **out)
{
	size_t len = strlen(s->c.prefix) + strlen(prefix) + 1;
	char *full = malloc(len), *ep, *ek = NULL, *ei = NULL;
	int n = -1;

	if (!full)
		return ENOMEM;
	snprintf(full, len, "%s%s", s->c.prefix, prefix);
	ep = s3conf_uri_encode(full, 0);
	if (key_marker) {
		ek = s3conf_uri_encode(key_marker, 0);
		ei = s3conf_uri_encode(id_marker, 0);
	}
	if (ep && (!key_marker || (ek && ei)))
		n = asprintf(out, "encoding-type=url%s%s&max-uploads=1000&prefix=%s%s%s&uploads=",
			     ek ? "&key-marker=" : "", ek ? ek : "", ep,
			     ei && ei[0] ? "&upload-id-marker=" : "", ei && ei[0] ? ei : "");
	free(full);
	free(ep);
	free(ek);
	free(ei);
	if (n < 0) {
		*out = NULL;
		return ENOMEM;
	}
	return 0;
}

/* token_seen for a pair of upload markers (either may be absent). */
static int markers_seen(struct token_set *set, const char *key, const char *id)
{
	char *pair = NULL;
	int rc;

	/* the key's length first: no key and id can make another pair's text */
	if (asprintf(&pair, "%zu:%s%s", key ? strlen(key) : 0, key ? key : "", id ? id : "") < 0)
		return -ENOMEM;
	rc = token_seen(set, pair);
	free(pair);
	return rc;
}

static int s3_abort_uploads(struct store *st, const char *prefix, store_upload_fn pick,
			    void *ctx, unsigned *aborted)
{
	struct s3_store *s = s3(st);
	struct uploads_ctx u = { s, pick, ctx, aborted };
	char *key = NULL, *id = NULL; /* the markers to send */
	struct token_set seen = { NULL, 0 }; /* the pairs sent so far */
	uint64_t pages = 0;
	int rc;

	do {
		struct s3xml_uploads_page pg = { 0 };
		struct req r;
		char *q = NULL;

		req_init(&r, "GET", prefix);
		r.verb = "LIST UPLOADS";
		r.body.max = BODY_MAX;
		rc = uploads_query(s, prefix, key, id, &q);
		if (!rc)
			rc = make_url(s, &r, "", q);
		free(q);
		if (!rc)
			rc = perform(s, &r);
		pages++;
		if (rc == ENOTSUP) {
			/* s3rver, and other servers without the call: they keep no
			 * unfinished uploads we could abort */
			log_msg(MDBTAP_LOG_DEBUG, "%s: the server cannot list unfinished uploads "
				"(NotImplemented): nothing to clean", s->base.url);
			s->base.error[0] = 0;
			rc = 0;
			req_free(&r);
			break;
		}
		if (!rc) {
			rc = s3xml_uploads_page((const char *)r.body.p, r.body.len, &pg, one_upload, &u);
			if (rc == EPROTO)
				snprintf(s->base.error, sizeof(s->base.error), "LIST UPLOADS %s%s: the "
					 "answer is not a ListMultipartUploads page", s->base.url, prefix);
		}
		req_free(&r);
		/* markers go forward; any pair sent before again (A, B, A, ...)
		 * would go round */
		if (!rc && pg.truncated) {
			int again = markers_seen(&seen, pg.next_key, pg.next_upload_id);

			if (again < 0 && again != -E2BIG) {
				rc = -again;
			} else if (again || pages >= LIST_MAX_PAGES) {
				snprintf(s->base.error, sizeof(s->base.error), "LIST UPLOADS %s%s: %s",
					 s->base.url, prefix, again == -E2BIG
					 ? "markers too long" : "the listing does not move on");
				rc = EPROTO;
			}
		}
		free(key);
		free(id);
		key = id = NULL;
		if (!rc && pg.truncated) {
			key = pg.next_key;
			id = pg.next_upload_id;
		} else {
			free(pg.next_key);
			free(pg.next_upload_id);
		}
	} while (!rc && key);
	free(key);
	free(id);
	tdestroy(seen.tree, free);
	/* store.c counts the first (or the one that failed); those before
	 * it were answered */
	s->base.stats.list += pages - 1;
	s->base.stats.outcomes[STORE_OP_LIST][STORE_OK] += pages - 1;
	return rc;
}

static void s3_close(struct store *st)
{
	struct s3_store *s = s3(st);

	curl_easy_cleanup(s->curl);
	s3conf_free(&s->c);
	free(s->base_url);
	free(s->sigv4);
	free(s->base.url);
	free(s);
}

static const struct store_ops s3_ops = { s3_put, s3_get, s3_list, s3_del, s3_close,
					 s3_abort_uploads };

int store_s3_open(const char *url, const struct store_opt *opts, size_t nopts,
		  struct store **out, char *err, size_t errlen)
{
	static int curl_ready;
	struct s3_store *s = calloc(1, sizeof(*s));
	const char *scheme;
	int rc;

	*out = NULL;
	if (!s)
		return ENOMEM;
	rc = s3conf_parse(&s->c, url, opts, nopts, err, errlen);
	if (!rc && !curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
			err_setf(err, errlen, "libcurl cannot start");
			rc = EIO;
		}
		curl_ready = !rc;
	}
	scheme = s->c.https ? "https" : "http";
	if (!rc && (s->c.path_style
		    ? asprintf(&s->base_url, "%s://%s/%s", scheme, s->c.host, s->c.bucket)
		    : asprintf(&s->base_url, "%s://%s.%s", scheme, s->c.bucket, s->c.host)) < 0) {
		s->base_url = NULL;
		rc = ENOMEM;
	}
	if (!rc && asprintf(&s->sigv4, "aws:amz:%s:s3", s->c.region) < 0) {
		s->sigv4 = NULL;
		rc = ENOMEM;
	}
	if (!rc && !(s->base.url = strdup(s->c.display)))
		rc = ENOMEM;
	if (!rc && !(s->curl = curl_easy_init())) {
		err_setf(err, errlen, "libcurl cannot make a handle");
		rc = ENOMEM;
	}
	if (!rc && getrandom(&s->rng, sizeof(s->rng), 0) != sizeof(s->rng))
		s->rng = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	s->rng |= 1; /* xorshift never leaves 0 */
	if (rc) {
		s->base.ops = &s3_ops;
		s3_close(&s->base);
		return rc;
	}
	s->base.ops = &s3_ops;
	*out = &s->base;
	return 0;
}
