/* s3imds.c: see s3imds.h. */
#define _GNU_SOURCE /* timegm */
#include "s3imds.h"
#include "err.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "s3conf.h"
#include "store.h"

#define IMDS_BODY_MAX 16384
#define IMDS_TOKEN_TTL "21600" /* seconds: the service's maximum */

struct body {
	char p[IMDS_BODY_MAX + 1];
	size_t n;
	int over;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct body *b = ctx;
	size_t n = size * nmemb;

	if (b->n + n > IMDS_BODY_MAX) {
		b->over = 1;
		return 0;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = 0;
	return n;
}

/* Called by curl at least once a second: a SIGTERM (store_interrupt) ends
 * a metadata request as it ends an S3 one, even a slow answer. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ctx, (void)dt, (void)dn, (void)ut, (void)un;
	return store_interrupted();
}

/* One request; a 2xx answer's body in b. EINTR: store_interrupt. */
static int request(CURL *h, const char *method, const char *url, const char *header,
		   struct body *b, char *err, size_t errlen)
{
	struct curl_slist *hdrs = header ? curl_slist_append(NULL, header) : NULL;
	CURLcode cc;
	long status = 0;

	if (header && !hdrs)
		return ENOMEM;
	memset(b, 0, sizeof(*b));
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* the service is on the instance */
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "PUT"))
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	cc = store_interrupted() ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		err_setf(err, errlen, "the instance metadata service (%s): interrupted", method);
		return EINTR;
	}
	if (cc != CURLE_OK && !b->over) {
		err_setf(err, errlen, "the instance metadata service (%s): %s", method,
			 curl_easy_strerror(cc));
		return EHOSTUNREACH;
	}
	if (b->over || status / 100 != 2) {
		err_setf(err, errlen, "the instance metadata service (%s): %s", method,
			 b->over ? "answer too long" : status == 404 ? "HTTP 404: no role?" :
			 "HTTP error");
		return EACCES;
	}
	return 0;
}

static char *trimmed_line(const char *s)
{
	size_t n = strcspn(s, "\r\n");

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return n ? strndup(s, n) : NULL;
}

/* "2026-11-28T08:00:00Z" */
static int parse_expiration(const char *s, uint64_t *ns)
{
	struct tm tm = { 0 };
	char z = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 || z != 'Z')
		return EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t <= 0)
		return EINVAL;
	*ns = (uint64_t)t * 1000000000u;
	return 0;
}

/* Whether s is fit for an HTTP header or a credential: visible ASCII
 * only. An answer with CR or LF would add headers to every request. */
static int header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static int take_string(json_object *o, const char *key, char **out)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
	    !(s = json_object_get_string(v)) || !s[0] || !header_safe(s))
		return EINVAL;
	*out = strdup(s);
	return *out ? 0 : ENOMEM;
}

static int parse_creds(const char *json, struct s3imds_creds *c, char *err, size_t errlen)
{
	json_object *o = json_tokener_parse(json), *code, *exp;
	int rc = o && json_object_is_type(o, json_type_object) ? 0 : EINVAL;
	const char *s;

	if (!rc && json_object_object_get_ex(o, "Code", &code) &&
	    (!(s = json_object_get_string(code)) || strcmp(s, "Success")))
		rc = EACCES;
	if (!rc)
		rc = take_string(o, "AccessKeyId", &c->access_key);
	if (!rc)
		rc = take_string(o, "SecretAccessKey", &c->secret_key);
	if (!rc)
		rc = take_string(o, "Token", &c->session_token);
	if (!rc && (!json_object_object_get_ex(o, "Expiration", &exp) ||
		    !(s = json_object_get_string(exp)) || parse_expiration(s, &c->expires_ns)))
		rc = EINVAL;
	if (!rc && strchr(c->access_key, ':'))
		rc = EINVAL;
	if (rc)
		err_setf(err, errlen, "the instance metadata service: %s",
			 rc == EACCES ? "the role's credentials are not available (Code)" :
			 rc == ENOMEM ? err_str(rc) :
			 "expected AccessKeyId, SecretAccessKey, Token and Expiration");
	json_object_put(o);
	return rc;
}

int s3imds_fetch(const char *endpoint, struct s3imds_creds *out, char *err, size_t errlen)
{
	char url[1024], hdr[1024];
	char *token = NULL, *role = NULL, *erole = NULL;
	struct body *b = calloc(1, sizeof(*b));
	CURL *h = curl_easy_init();
	int rc = b && h ? 0 : ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!rc) {
		snprintf(url, sizeof(url), "%s/latest/api/token", endpoint);
		rc = request(h, "PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL,
			     b, err, errlen);
	}
	if (!rc && !(token = trimmed_line(b->p)))
		rc = EPROTO;
	if (!rc && (strlen(token) > 900 || !header_safe(token)))
		rc = EPROTO;
	if (!rc) {
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", token);
		snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/",
			 endpoint);
		rc = request(h, "GET", url, hdr, b, err, errlen);
	}
	if (!rc && !(role = trimmed_line(b->p))) {
		err_setf(err, errlen, "the instance metadata service: the instance has no role");
		rc = EACCES;
	}
	if (!rc && !(erole = s3conf_uri_encode(role, 0)))
		rc = ENOMEM;
	if (!rc) {
		snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s",
			 endpoint, erole);
		rc = request(h, "GET", url, hdr, b, err, errlen);
	}
	if (!rc)
		rc = parse_creds(b->p, out, err, errlen);
	if (rc == EPROTO)
		err_setf(err, errlen, "the instance metadata service: no session token");
	if (rc)
		s3imds_free(out);
	s3conf_wipe_free(token);
	memset(hdr, 0, sizeof(hdr));
	if (b)
		memset(b, 0, sizeof(*b)); /* it held the secret */
	free(role);
	free(erole);
	free(b);
	curl_easy_cleanup(h);
	return rc;
}

void s3imds_free(struct s3imds_creds *c)
{
	s3conf_wipe_free(c->access_key);
	s3conf_wipe_free(c->secret_key);
	s3conf_wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}
