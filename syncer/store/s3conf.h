/* s3conf.h: what an S3 store needs to know, read from its URL, the
 * config file's store_options and the usual AWS_* variables.
 *
 *   s3://BUCKET[/PREFIX][?OPTION=VALUE&...]
 *
 * PREFIX may hold any character but '?' and '#' (write them %3F, %23);
 * %XX escapes are decoded, '+' is a '+'. Objects are the keys PREFIX/NAME
 * (a '/' is added to a PREFIX that does not end in one).
 *
 * Options (URL query and store_options alike, each at most once in all):
 *   endpoint          http(s)://HOST[:PORT]; default https://s3.REGION.amazonaws.com
 *   region            default $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1
 *   force_path_style  true: http://HOST/BUCKET/KEY; false: http://BUCKET.HOST/KEY.
 *                     Default false for AWS, true for an endpoint given as
 *                     an IP address or localhost (no virtual hosts there)
 *   instance_profile  true: the credentials of the EC2 instance's role, from
 *                     the instance metadata service ($AWS_EC2_METADATA_SERVICE_ENDPOINT,
 *                     else http://169.254.169.254), refreshed before they
 *                     expire (s3imds.h); no other credentials then
 *   access_key, secret_key, session_token   (the last two: not in the URL)
 *   access_key_file, secret_key_file, session_token_file
 *                     one line each (spaces trimmed); read at open and again
 *                     whenever one of them changes (s3conf_reload), so
 *                     that rotated credentials are picked up
 *                     Without any of these: $AWS_ACCESS_KEY_ID,
 *                     $AWS_SECRET_ACCESS_KEY and $AWS_SESSION_TOKEN.
 *   ca_file           CA bundle for TLS; default $AWS_CA_BUNDLE, else the
 *                     system's
 *   tls_verify        default true; false accepts any certificate
 *   connect_timeout   default 10s
 *   timeout           a whole request; default 15m
 *   low_speed_time    a request that moves no byte this long fails; 30s
 *   retries           more attempts after a failed one; default 5
 *   page_size         keys per listing page, 1..1000; default 1000
 *   part_size         objects larger than this are uploaded in parts of this
 *                     size (S3 multipart upload), each retried on its own;
 *                     5M..5G (K, M, G: powers of 1024); default 64M
 * Booleans: true/false/yes/no/1/0. Durations: dur_parse.
 *
 * Secrets (secret_key, session_token) are never put in messages.
 */
#ifndef MDBTAP_S3CONF_H
#define MDBTAP_S3CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store_opt;

/* S3's bounds on a part (but the last, which may be smaller), and ours. */
#define S3CONF_PART_MIN (5ull << 20)
#define S3CONF_PART_MAX (5ull << 30)
#define S3CONF_PART_DEFAULT (64ull << 20)

struct s3conf {
	char *bucket;
	char *prefix;            /* decoded; "" or ending in '/' */
	char *endpoint;          /* scheme://host[:port], no '/' after */
	char *host;              /* host[:port] part of endpoint */
	int https;
	char *region;
	int path_style;
	char *access_key, *secret_key, *session_token;   /* secrets: wiped on free */
	int instance_profile;    /* credentials from the instance metadata service */
	char *imds_endpoint;     /* its http://HOST[:PORT] */
	char *cred_file[3];      /* files of access_key, secret_key, session_token,
				    or NULL: paths, not secrets */
	struct s3conf_file_id {  /* what cred_file[i] was when last read */
		dev_t dev;
		ino_t ino;
		off_t size;
		int64_t mtime_ns;
	} cred_id[3];
	char *ca_file;
	int tls_verify;
	uint64_t connect_timeout_ns, timeout_ns, low_speed_time_ns;
	unsigned retries;
	unsigned page_size;
	uint64_t part_size;      /* multipart above this (S3CONF_PART_*) */
	char *display;           /* s3://BUCKET/PREFIX, for logs: no query */
};

/* Fill c from url (s3://...) and opts[0..nopts), then the environment
 * for what they leave out. Returns 0 or EINVAL with err saying why; c
 * must be s3conf_free'd either way. */
int s3conf_parse(struct s3conf *c, const char *url, const struct store_opt *opts,
		 size_t nopts, char *err, size_t errlen);

/* If a credentials file changed since it was read, read them all again
 * (a rotation changes them together). Returns 0, with *changed set when
 * the credentials are new, or an error with err saying why; the old
 * credentials then stay. Costs a stat() per file when nothing changed. */
int s3conf_reload(struct s3conf *c, int *changed, char *err, size_t errlen);

/* Overwrite a secret string, then free it; NULL is fine. */
void s3conf_wipe_free(char *s);

/* Free c's strings (secrets overwritten first) and zero it. */
void s3conf_free(struct s3conf *c);

/* Percent-encode src into a new string (RFC 3986: all but A-Z a-z 0-9
 * - _ . ~, and '/' too unless keep_slash), as SigV4 wants paths and query
 * values. NULL if out of memory. */
char *s3conf_uri_encode(const char *src, int keep_slash);

#endif
