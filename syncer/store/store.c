/* store.c: the store interface: URL dispatch, name checks and request
 * counting, in front of the backends' ops. */
#include "store.h"
#include "err.h"
#include "dur.h"
#include "log.h"
#include "pct.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static int name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int store_valid_name(const char *name)
{
	size_t i;

	if (!name || !name[0] || name[0] == '.')
		return 0;
	for (i = 0; name[i]; i++)
		if (i >= STORE_NAME_MAX || !name_char((unsigned char)name[i]))
			return 0;
	return 1;
}

/* A prefix is the start of some valid name, or empty. */
static int valid_prefix(const char *prefix)
{
	return !prefix[0] || store_valid_name(prefix);
}

/* The path of a file URL's path part, %XX decoded, into a new string. */
static int file_url_path(const char *p, char **out, char *err, size_t errlen)
{
	int rc;

	if (strpbrk(p, "?#")) {
		err_setf(err, errlen, "file URL with '?' or '#': write them as %%3F and %%23");
		return EINVAL;
	}
	rc = pct_decode_path(p, strlen(p), out);
	if (rc == EINVAL)
		err_setf(err, errlen, "file URL with a bad %% escape");
	return rc;
}

static volatile sig_atomic_t interrupted;

void store_interrupt(void)
{
	interrupted = 1;
}

int store_interrupted(void)
{
	return interrupted;
}

void store_set_max_get(struct store *s, uint64_t max)
{
	s->max_get = max;
}

void store_set_file_mode(struct store *s, unsigned mode)
{
	s->file_mode = mode & 0644; /* objects are never written again */
}

/* The option create, out of opts: *rest (malloc'd, NULL when empty) gets
 * the others. */
static int take_create(const struct store_opt *opts, size_t nopts, int *create,
		       struct store_opt **rest, size_t *nrest, char *err, size_t errlen)
{
	*create = 0;
	*rest = NULL;
	*nrest = 0;
	if (!nopts)
		return 0;
	*rest = malloc(nopts * sizeof(**rest));
	if (!*rest) {
		err_setf(err, errlen, "out of memory");
		return ENOMEM;
	}
	for (size_t i = 0; i < nopts; i++) {
		const char *v = opts[i].value;

		if (strcmp(opts[i].key, "create")) {
			(*rest)[(*nrest)++] = opts[i];
		} else if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
			*create = 1;
		} else if (strcmp(v, "false") && strcmp(v, "0") && strcmp(v, "no")) {
			err_setf(err, errlen, "store option create: '%s': use true or false", v);
			free(*rest);
			*rest = NULL;
			return EINVAL;
		}
	}
	return 0;
}

int store_open(const char *url, const struct store_opt *opts, size_t nopts,
	       struct store **out, char *err, size_t errlen)
{
	static const char file_pfx[] = "file://";
	struct store_opt *rest;
	char *path = NULL;
	const char *p;
	size_t nrest;
	int rc, create;

	err_setf(err, errlen, "ok");
	*out = NULL;
	if (!url || !url[0]) {
		err_setf(err, errlen, "empty store URL");
		return EINVAL;
	}
	rc = take_create(opts, nopts, &create, &rest, &nrest, err, errlen);
	if (rc)
		return rc;
	if (!strncmp(url, "s3://", 5)) {
		rc = store_s3_open(url, rest, nrest, out, err, errlen);
		free(rest);
		return rc;
	}
	free(rest);
	if (nrest) {
		err_setf(err, errlen, "store_options other than create are for S3 stores; '%s' is "
			 "a directory", url);
		return EINVAL;
	}
	if (url[0] == '/')
		return store_dir_open(url, create, out, err, errlen);
	if (strncmp(url, file_pfx, sizeof(file_pfx) - 1)) {
		err_setf(err, errlen, "store URL '%s': expected file:///DIR, an absolute "
			"path or s3://BUCKET/PREFIX", url);
		return EINVAL;
	}
	p = url + sizeof(file_pfx) - 1;
	if (!strncmp(p, "localhost/", 10))
		p += 9;
	if (p[0] != '/') {
		err_setf(err, errlen, "store URL '%s': a file URL names an absolute path "
			"on this host: file:///DIR", url);
		return EINVAL;
	}
	rc = file_url_path(p, &path, err, errlen);
	if (rc)
		return rc;
	rc = store_dir_open(path, create, out, err, errlen);
	free(path);
	return rc;
}

/* Stops the listing at the first object: one request. */
static int first_object(void *ctx, const char *name, uint64_t size)
{
	(void)ctx;
	(void)name;
	(void)size;
	return -1;
}

int store_check(const char *url, const struct store_opt *opts, size_t nopts,
		struct store **out, int *answered, char *err, size_t errlen)
{
	struct store_opt *rest;
	struct store *st;
	size_t nrest;
	int rc, create;

	*out = NULL;
	*answered = 1;
	rc = take_create(opts, nopts, &create, &rest, &nrest, err, errlen);
	if (rc)
		return rc;
	rc = store_open(url, rest, nrest, &st, err, errlen);
	free(rest);
	if (rc == ENOENT && create && strncmp(url, "s3://", 5))
		return 0; /* a directory to create, once the env is ours */
	if (rc)
		return rc;
	rc = store_list(st, "", first_object, NULL);
	if (rc == -1)
		rc = 0;
	if (rc) {
		/* a missing bucket (404) is the store's answer that the name is
		 * wrong; the rest may pass: no connection, a 5xx, a timeout, and
		 * a refusal too (credentials are rotated while we run) */
		*answered = rc == ENOENT || rc == ENOTDIR;
		err_setf(err, errlen, "store %s: %s%s", store_url(st),
			 store_error(st)[0] ? store_error(st) : err_str(rc),
			 rc == ENOENT ? " (no such bucket or directory: a typo would split "
					"the fleet)" : "");
	}
	if (rc && *answered) {
		store_close(st);
		return rc;
	}
	/* the stats count the syncer's own requests, from here on */
	memset(&st->stats, 0, sizeof(st->stats));
	*out = st;
	return rc;
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

/* Monotonic nanoseconds, for request latencies. */
/* Count a request; on failure make sure store_error says something. A
 * get or delete of a missing object is an answer, not an error. t0: when
 * it began (dur_mono_ns()), for its latency. */
void store_count(struct store_stats *st, enum store_op op, int rc)
{
	uint64_t *const total[STORE_NOPS] = { &st->put, &st->get, &st->list, &st->del };
	enum store_outcome out = STORE_OK;

	if (rc == ENOENT && (op == STORE_OP_GET || op == STORE_OP_DEL))
		out = STORE_NOT_FOUND;
	else if (rc)
		out = STORE_ERROR;
	(*total[op])++;
	st->outcomes[op][out]++;
	if (out == STORE_ERROR)
		st->errors++;
}

static int count(struct store *s, enum store_op op, uint64_t t0, const char *what,
		 const char *name, int rc)
{
	store_count(&s->stats, op, rc);
	hist_observe_ns(&s->stats.latency[op], dur_mono_ns() - t0);
	if (rc && !s->error[0])
		snprintf(s->error, sizeof(s->error), "%s '%s' in %s: %s", what, name, s->url,
			 err_str(rc));
	return rc;
}

int store_put(struct store *s, const char *name, int fd)
{
	if (!s || !store_valid_name(name) || fd < 0)
		return EINVAL;
	s->error[0] = 0;
	uint64_t t0 = dur_mono_ns();
	return count(s, STORE_OP_PUT, t0, "PUT", name, s->ops->put(s, name, fd));
}

int store_get(struct store *s, const char *name, int fd)
{
	if (!s || !store_valid_name(name) || fd < 0)
		return EINVAL;
	s->error[0] = 0;
	uint64_t t0 = dur_mono_ns();
	return count(s, STORE_OP_GET, t0, "GET", name, s->ops->get(s, name, fd));
}

/* Passes on object names only, and tells a stop asked by the caller's fn
 * from a failure of the listing. */
struct list_wrap {
	store_list_fn fn;
	void *ctx;
	int stopped;
};

static int list_cb(void *ctx, const char *name, uint64_t size)
{
	struct list_wrap *w = ctx;
	int rc;

	if (!store_valid_name(name))
		return 0; /* not an object: "dir/x", foreign files */
	rc = w->fn(w->ctx, name, size);
	if (rc)
		w->stopped = 1;
	return rc;
}

int store_list(struct store *s, const char *prefix, store_list_fn fn, void *ctx)
{
	struct list_wrap w = { fn, ctx, 0 };
	int rc;

	if (!prefix)
		prefix = "";
	if (!s || !fn || !valid_prefix(prefix))
		return EINVAL;
	s->error[0] = 0;
	uint64_t t0 = dur_mono_ns();
	rc = s->ops->list(s, prefix, list_cb, &w);
	if (w.stopped) {
		s->stats.list++;
		hist_observe_ns(&s->stats.latency[STORE_OP_LIST], dur_mono_ns() - t0);
		return rc;
	}
	return count(s, STORE_OP_LIST, t0, "LIST", prefix, rc);
}

int store_del(struct store *s, const char *name)
{
	if (!s || !store_valid_name(name))
		return EINVAL;
	s->error[0] = 0;
	uint64_t t0 = dur_mono_ns();
	return count(s, STORE_OP_DEL, t0, "DELETE", name, s->ops->del(s, name));
}

int store_abort_uploads(struct store *s, const char *prefix, store_upload_fn pick, void *ctx,
			unsigned *aborted)
{
	if (aborted)
		*aborted = 0;
	if (!prefix)
		prefix = "";
	if (!s || !pick || !aborted || !valid_prefix(prefix))
		return EINVAL;
	if (!s->ops->abort_uploads)
		return 0;
	s->error[0] = 0;
	uint64_t t0 = dur_mono_ns();
	return count(s, STORE_OP_LIST, t0, "LIST UPLOADS", prefix,
		     s->ops->abort_uploads(s, prefix, pick, ctx, aborted));
}

int store_watch(struct store *s, int *fd)
{
	if (!s || !fd)
		return EINVAL;
	return s->watch_ops ? s->watch_ops->watch(s, fd) : ENOTSUP;
}

int store_watch_read(struct store *s, store_watch_fn fn, void *ctx)
{
	if (!s || !fn)
		return EINVAL;
	return s->watch_ops ? s->watch_ops->watch_read(s, fn, ctx) : ENOTSUP;
}

const char *store_error(const struct store *s)
{
	return s->error;
}

const char *store_url(const struct store *s)
{
	return s->url;
}

const struct store_stats *store_stats(const struct store *s)
{
	return &s->stats;
}
