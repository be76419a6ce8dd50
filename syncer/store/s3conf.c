#define _GNU_SOURCE /* asprintf, strndup */
/* s3conf.c: an S3 store's settings from its URL, store_options and the
 * environment (see s3conf.h for every option). */
#include "s3conf.h"
#include "err.h"
#include "dur.h"
#include "log.h"
#include "pct.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define SECRET_FILE_MAX 4096

enum opt_kind { O_STR, O_SECRET, O_BOOL, O_DUR, O_UINT, O_SIZE };

/* Every option: its name, what it holds, where it goes. */
struct opt_def {
	const char *name;
	enum opt_kind kind;
	size_t off;            /* into struct s3conf */
	uint64_t max;          /* O_UINT, O_SIZE: largest value */
};

#define AT(f) offsetof(struct s3conf, f)
static const struct opt_def defs[] = {
	{ "endpoint", O_STR, AT(endpoint), 0 },
	{ "region", O_STR, AT(region), 0 },
	{ "force_path_style", O_BOOL, AT(path_style), 0 },
	{ "access_key", O_STR, AT(access_key), 0 },
	{ "secret_key", O_SECRET, AT(secret_key), 0 },
	{ "session_token", O_SECRET, AT(session_token), 0 },
	{ "access_key_file", O_STR, AT(cred_file[0]), 0 },
	{ "secret_key_file", O_STR, AT(cred_file[1]), 0 },
	{ "session_token_file", O_STR, AT(cred_file[2]), 0 },
	{ "ca_file", O_STR, AT(ca_file), 0 },
	{ "tls_verify", O_BOOL, AT(tls_verify), 0 },
	{ "instance_profile", O_BOOL, AT(instance_profile), 0 },
	{ "connect_timeout", O_DUR, AT(connect_timeout_ns), 0 },
	{ "timeout", O_DUR, AT(timeout_ns), 0 },
	{ "low_speed_time", O_DUR, AT(low_speed_time_ns), 0 },
	{ "retries", O_UINT, AT(retries), 100 },
	{ "page_size", O_UINT, AT(page_size), 1000 },
	{ "part_size", O_SIZE, AT(part_size), S3CONF_PART_MAX },
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

/* What parsing collects before the defaults and the environment. */
struct seen {
	int set[NDEFS];
};

void s3conf_wipe_free(char *s)
{
	if (s) {
		volatile char *p = s;

		while (*p)
			*p++ = 0;
		free(s);
	}
}

void s3conf_free(struct s3conf *c)
{
	if (!c)
		return;
	free(c->bucket);
	free(c->prefix);
	free(c->endpoint);
	free(c->host);
	free(c->region);
	free(c->access_key);
	s3conf_wipe_free(c->secret_key);
	s3conf_wipe_free(c->session_token);
	free(c->ca_file);
	free(c->imds_endpoint);
	free(c->display);
	for (int i = 0; i < 3; i++)
		free(c->cred_file[i]);
	memset(c, 0, sizeof(*c));
}

static int unreserved(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

char *s3conf_uri_encode(const char *src, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(src) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = 0;
	return out;
}

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "true", "yes", "1" }, *const no[] = { "false", "no", "0" };

	for (size_t i = 0; i < 3; i++) {
		if (!strcmp(v, yes[i]))
			return *out = 1, 0;
		if (!strcmp(v, no[i]))
			return *out = 0, 0;
	}
	return EINVAL;
}

/* Set option key to v (decoded), from the URL (in_url) or the config. */
static int set_opt(struct s3conf *c, struct seen *sn, const char *key, const char *v,
		   int in_url, char *err, size_t errlen)
{
	const struct opt_def *d = NULL;
	char *dup;
	size_t i;

	for (i = 0; i < NDEFS && !d; i++)
		if (!strcmp(defs[i].name, key))
			d = &defs[i];
	if (!d) {
		char known[512];
		size_t n = 0;

		/* the list from the table, so that it names every option */
		for (i = 0; i < NDEFS && n < sizeof(known); i++)
			n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "",
					      defs[i].name);
		err_setf(err, errlen, "unknown S3 store option '%s' (known: %s)", key, known);
		return EINVAL;
	}
	i = (size_t)(d - defs);
	if (d->kind == O_SECRET && in_url) {
		err_setf(err, errlen, "S3 store option '%s' is a secret and cannot be in the URL: "
		     "put it in the config file's store_options, a file or the environment", key);
		return EINVAL;
	}
	if (sn->set[i]) {
		err_setf(err, errlen, "S3 store option '%s' is given twice", key);
		return EINVAL;
	}
	sn->set[i] = 1;
	if (!v[0]) {
		err_setf(err, errlen, "S3 store option '%s' has no value", key);
		return EINVAL;
	}
	switch (d->kind) {
	case O_BOOL:
		if (parse_bool(v, (int *)((char *)c + d->off))) {
			err_setf(err, errlen, "S3 store option '%s': '%s' is not true or false", key, v);
			return EINVAL;
		}
		return 0;
	case O_DUR:
		if (dur_parse(v, (uint64_t *)((char *)c + d->off))) {
			err_setf(err, errlen, "S3 store option '%s': '%s' is not a duration (e.g. 10s, "
			     "1m30s)", key, v);
			return EINVAL;
		}
		return 0;
	case O_UINT: {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (!isdigit((unsigned char)v[0]) || *end || errno || n > d->max ||
		    (d->off == AT(page_size) && !n)) {
			err_setf(err, errlen, "S3 store option '%s': '%s' is not a number in %s..%llu",
			     key, v, d->off == AT(page_size) ? "1" : "0",
			     (unsigned long long)d->max);
			return EINVAL;
		}
		*(unsigned *)((char *)c + d->off) = (unsigned)n;
		return 0;
	}
	case O_SIZE: {
		char *end;
		unsigned long long n;
		int shift = 0;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (*end == 'K' || *end == 'k')
			shift = 10;
		else if (*end == 'M' || *end == 'm')
			shift = 20;
		else if (*end == 'G' || *end == 'g')
			shift = 30;
		if (shift)
			end++;
		if (!isdigit((unsigned char)v[0]) || *end || errno || n > (d->max >> shift) ||
		    (n << shift) < S3CONF_PART_MIN) {
			err_setf(err, errlen, "S3 store option '%s': '%s' is not a size from 5M to 5G "
				 "(e.g. 64M)", key, v);
			return EINVAL;
		}
		*(uint64_t *)((char *)c + d->off) = (uint64_t)n << shift;
		return 0;
	}
	case O_STR:
	case O_SECRET:
		break;
	}
	dup = strdup(v);
	if (!dup)
		return ENOMEM;
	*(char **)((char *)c + d->off) = dup;
	return 0;
}

/* The query part of the URL: OPTION=VALUE pairs joined by '&'. */
static int parse_query(struct s3conf *c, struct seen *sn, const char *q, char *err,
		       size_t errlen)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		char *key = NULL, *v = NULL;
		int rc;

		if (!eq) {
			/* not echoed: it may be a secret typed without its key */
			err_setf(err, errlen, "S3 store URL: an option (%zu bytes) is not OPTION=VALUE",
				 n);
			return EINVAL;
		}
		rc = pct_decode_text(q, (size_t)(eq - q), &key);
		if (!rc)
			rc = pct_decode_text(eq + 1, n - (size_t)(eq - q) - 1, &v);
		if (rc == EINVAL)
			err_setf(err, errlen, "S3 store URL: bad %% escape or control character in "
			     "'%.*s'", (int)(eq - q), q);
		if (!rc)
			rc = set_opt(c, sn, key, v, 1, err, errlen);
		free(key);
		s3conf_wipe_free(v);
		if (rc)
			return rc;
		q += n + (q[n] == '&');
	}
	return 0;
}

static int bucket_ok(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)b[i]) && !strchr(".-_", b[i]))
			return 0;
	return 1;
}

/* Whether a decoded prefix has a segment "." or "..". */
static int dot_segment(const char *p)
{
	while (*p) {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

static int parse_url(struct s3conf *c, struct seen *sn, const char *url, char *err,
		     size_t errlen)
{
	const char *p = url + 5, *q = strchr(p, '?');
	size_t blen = strcspn(p, "/?"), plen;
	char *prefix;
	int rc;

	if (strncmp(url, "s3://", 5) || !bucket_ok(p, blen)) {
		err_setf(err, errlen, "S3 store URL '%.*s': expected s3://BUCKET/PREFIX with a "
		     "bucket name of 3 to 63 letters, digits, '.', '-' or '_'",
		     (int)(q ? (size_t)(q - url) : strlen(url)), url);
		return EINVAL;
	}
	if (strchr(p, '#')) {
		err_setf(err, errlen, "S3 store URL: write '#' as %%23");
		return EINVAL;
	}
	c->bucket = strndup(p, blen);
	if (!c->bucket)
		return ENOMEM;
	p += blen;
	if (*p == '/')
		p++;
	plen = q ? (size_t)(q - p) : strlen(p);
	rc = pct_decode_text(p, plen, &prefix);
	if (rc == EINVAL)
		err_setf(err, errlen, "S3 store URL: bad %% escape or control character in the prefix");
	if (rc)
		return rc;
	if (dot_segment(prefix)) {
		free(prefix);
		err_setf(err, errlen, "S3 store URL: the prefix has a '.' or '..' segment (URLs "
			 "resolve them: it would name other keys, or another bucket)");
		return EINVAL;
	}
	plen = strlen(prefix);
	c->prefix = malloc(plen + 2);
	if (!c->prefix) {
		free(prefix);
		return ENOMEM;
	}
	snprintf(c->prefix, plen + 2, "%s%s", prefix, plen && prefix[plen - 1] != '/' ? "/" : "");
	free(prefix);
	if (asprintf(&c->display, "s3://%s/%s", c->bucket, c->prefix) < 0) {
		c->display = NULL;
		return ENOMEM;
	}
	return q ? parse_query(c, sn, q + 1, err, errlen) : 0;
}

/* Split endpoint into scheme and host; a default from the region. */
static int check_endpoint(struct s3conf *c, char *err, size_t errlen)
{
	const char *h;
	size_t n;

	if (!c->endpoint && asprintf(&c->endpoint, "https://s3.%s.amazonaws.com", c->region) < 0) {
		c->endpoint = NULL;
		return ENOMEM;
	}
	n = strlen(c->endpoint);
	if (n && c->endpoint[n - 1] == '/')
		c->endpoint[--n] = 0;
	c->https = !strncmp(c->endpoint, "https://", 8);
	if (!c->https && strncmp(c->endpoint, "http://", 7)) {
		err_setf(err, errlen, "S3 endpoint '%s': expected http://HOST[:PORT] or "
		     "https://HOST[:PORT]", c->endpoint);
		return EINVAL;
	}
	h = c->endpoint + (c->https ? 8 : 7);
	if (!h[0] || strpbrk(h, "/?#@ ")) {
		err_setf(err, errlen, "S3 endpoint '%s': give only the scheme, host and port",
		     c->endpoint);
		return EINVAL;
	}
	c->host = strdup(h);
	return c->host ? 0 : ENOMEM;
}

/* Virtual-hosted addressing needs a DNS name to put the bucket in front of. */
static int host_is_address(const char *host)
{
	if (host[0] == '[' || !strncmp(host, "localhost", 9))
		return 1;
	for (; *host && *host != ':'; host++)
		if (!isdigit((unsigned char)*host) && *host != '.')
			return 0;
	return 1;
}

static int read_secret_file(const char *path, char **out, char *err, size_t errlen)
{
	char buf[SECRET_FILE_MAX + 1];
	FILE *f = fopen(path, "re");
	size_t n, i = 0;
	int rc = 0;

	if (!f) {
		rc = errno;
		err_setf(err, errlen, "S3 credentials file %s: %s", path, err_str(rc));
		return rc == ENOENT || rc == EACCES ? EINVAL : rc;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f))
		rc = EIO;
	fclose(f);
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	while (i < n && isspace((unsigned char)buf[i]))
		i++;
	buf[n] = 0;
	if (!rc && (n - i == 0 || n >= SECRET_FILE_MAX || memchr(buf + i, 0, n - i) ||
		    strpbrk(buf + i, "\r\n"))) {
		err_setf(err, errlen, "S3 credentials file %s: expected one line with the value", path);
		rc = EINVAL;
	}
	if (!rc && !(*out = strdup(buf + i)))
		rc = ENOMEM;
	memset(buf, 0, sizeof(buf));
	return rc;
}

static int from_env(char **dst, const char *var)
{
	const char *v = getenv(var);

	if (*dst || !v || !v[0])
		return 0;
	*dst = strdup(v);
	return *dst ? 0 : ENOMEM;
}

/* The credentials held in c, in cred_file's order. */
static char **cred_slot(struct s3conf *c, int i)
{
	return i == 0 ? &c->access_key : i == 1 ? &c->secret_key : &c->session_token;
}

static const char *const cred_names[3] = { "access_key", "secret_key", "session_token" };

static int file_id(const char *path, struct s3conf_file_id *id)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

static int same_id(const struct s3conf_file_id *a, const struct s3conf_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

/* Read every credentials file into fresh[] and their ids into id[]. */
static int read_cred_files(struct s3conf *c, char *fresh[3], struct s3conf_file_id id[3],
			   char *err, size_t errlen)
{
	int rc = 0;

	for (int i = 0; !rc && i < 3; i++) {
		if (!c->cred_file[i])
			continue;
		/* The id first: a change while reading shows at the next look. */
		rc = file_id(c->cred_file[i], &id[i]);
		if (rc)
			err_setf(err, errlen, "S3 credentials file %s: %s", c->cred_file[i],
			     err_str(rc));
		else
			rc = read_secret_file(c->cred_file[i], &fresh[i], err, errlen);
	}
	if (rc)
		for (int i = 0; i < 3; i++) {
			s3conf_wipe_free(fresh[i]);
			fresh[i] = NULL;
		}
	return rc;
}

int s3conf_reload(struct s3conf *c, int *changed, char *err, size_t errlen)
{
	struct s3conf_file_id id[3] = { { 0 } };
	char *fresh[3] = { NULL, NULL, NULL };
	int rc, same = 1;

	*changed = 0;
	for (int i = 0; i < 3; i++) {
		if (!c->cred_file[i])
			continue;
		rc = file_id(c->cred_file[i], &id[i]);
		if (rc || !same_id(&id[i], &c->cred_id[i]))
			same = 0;
	}
	if (same)
		return 0;
	rc = read_cred_files(c, fresh, id, err, errlen);
	if (!rc && fresh[0] && strchr(fresh[0], ':')) {
		err_setf(err, errlen, "S3 credentials file %s: the access key cannot hold ':'",
		     c->cred_file[0]);
		rc = EINVAL;
	}
	if (rc) {
		for (int i = 0; i < 3; i++)
			s3conf_wipe_free(fresh[i]);
		return rc;
	}
	for (int i = 0; i < 3; i++) {
		if (!c->cred_file[i])
			continue;
		s3conf_wipe_free(*cred_slot(c, i));
		*cred_slot(c, i) = fresh[i];
		c->cred_id[i] = id[i];
	}
	*changed = 1;
	return 0;
}

/* instance_profile: the store fetches the credentials (s3imds.h). */
static int instance_profile(struct s3conf *c, char *err, size_t errlen)
{
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"), *off;
	size_t n;

	if (c->access_key || c->secret_key || c->session_token || c->cred_file[0] ||
	    c->cred_file[1] || c->cred_file[2]) {
		err_setf(err, errlen, "S3 store: instance_profile takes the instance role's "
		     "credentials: give no access_key, secret_key, session_token or their files");
		return EINVAL;
	}
	off = getenv("AWS_EC2_METADATA_DISABLED");
	if (off && !strcasecmp(off, "true")) {
		err_setf(err, errlen, "S3 store: instance_profile, but AWS_EC2_METADATA_DISABLED is "
		     "true");
		return EINVAL;
	}
	if (!ep || !ep[0])
		ep = "http://169.254.169.254";
	n = strlen(ep);
	while (n && ep[n - 1] == '/')
		n--;
	if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) {
		err_setf(err, errlen, "AWS_EC2_METADATA_SERVICE_ENDPOINT %s: expected http://HOST", ep);
		return EINVAL;
	}
	c->imds_endpoint = strndup(ep, n);
	return c->imds_endpoint ? 0 : ENOMEM;
}

static int credentials(struct s3conf *c, char *err, size_t errlen)
{
	char *fresh[3] = { NULL, NULL, NULL };
	int rc = 0;

	if (c->instance_profile)
		return instance_profile(c, err, errlen);
	for (int i = 0; i < 3; i++)
		if (c->cred_file[i] && *cred_slot(c, i)) {
			err_setf(err, errlen, "S3 store: give %s or %s_file, not both", cred_names[i],
			     cred_names[i]);
			return EINVAL;
		}
	rc = read_cred_files(c, fresh, c->cred_id, err, errlen);
	if (rc)
		return rc == ENOENT || rc == EACCES ? EINVAL : rc;
	for (int i = 0; i < 3; i++)
		if (c->cred_file[i])
			*cred_slot(c, i) = fresh[i];
	/* The environment's credentials come as a set: never mix a configured
	 * key with a secret from the environment. */
	if (!c->access_key && !c->secret_key) {
		rc = from_env(&c->access_key, "AWS_ACCESS_KEY_ID");
		if (!rc)
			rc = from_env(&c->secret_key, "AWS_SECRET_ACCESS_KEY");
		if (!rc && !c->session_token)
			rc = from_env(&c->session_token, "AWS_SESSION_TOKEN");
		if (rc)
			return rc;
	}
	if (!c->access_key || !c->secret_key) {
		err_setf(err, errlen, "S3 store %s: no %s: set access_key and secret_key (or "
		     "access_key_file and secret_key_file) in store_options, or "
		     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or instance_profile=true "
		     "on EC2", c->display,
		     c->access_key ? "secret key" : "access key");
		return EINVAL;
	}
	if (strchr(c->access_key, ':')) {
		err_setf(err, errlen, "S3 store %s: the access key cannot hold ':'", c->display);
		return EINVAL;
	}
	return 0;
}

static int region_ok(const char *r)
{
	if (!r[0] || strlen(r) > 64)
		return 0;
	for (; *r; r++)
		if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '-')
			return 0;
	return 1;
}

int s3conf_parse(struct s3conf *c, const char *url, const struct store_opt *opts,
		 size_t nopts, char *err, size_t errlen)
{
	struct seen sn = { { 0 } };
	int rc;

	memset(c, 0, sizeof(*c));
	c->path_style = -1;  /* not given */
	c->tls_verify = 1;
	c->connect_timeout_ns = 10 * DUR_NS_PER_SEC;
	c->timeout_ns = 15 * 60 * DUR_NS_PER_SEC;
	c->low_speed_time_ns = 30 * DUR_NS_PER_SEC;
	c->retries = 5;
	c->page_size = 1000;
	c->part_size = S3CONF_PART_DEFAULT;
	rc = parse_url(c, &sn, url, err, errlen);
	for (size_t i = 0; !rc && i < nopts; i++)
		rc = set_opt(c, &sn, opts[i].key, opts[i].value, 0, err, errlen);
	if (!rc)
		rc = from_env(&c->region, "AWS_REGION");
	if (!rc)
		rc = from_env(&c->region, "AWS_DEFAULT_REGION");
	if (!rc && !c->region && !(c->region = strdup("us-east-1")))
		rc = ENOMEM;
	if (!rc && !region_ok(c->region)) {
		err_setf(err, errlen, "S3 region '%s': expected lower-case letters, digits and '-'",
		     c->region);
		rc = EINVAL;
	}
	if (!rc)
		rc = check_endpoint(c, err, errlen);
	if (!rc && c->path_style < 0)
		c->path_style = host_is_address(c->host);
	if (!rc)
		rc = from_env(&c->ca_file, "AWS_CA_BUNDLE");
	if (!rc)
		rc = credentials(c, err, errlen);
	if (!rc && (c->connect_timeout_ns < 1000000 || c->timeout_ns < 1000000 ||
		    c->low_speed_time_ns < DUR_NS_PER_SEC)) {
		err_setf(err, errlen, "S3 store: timeouts must be at least 1ms, low_speed_time 1s");
		rc = EINVAL;
	}
	return rc;
}
