/* s3imds.h: the temporary credentials of an EC2 instance's role, from the
 * instance metadata service (IMDSv2: a session token first, then the role
 * name, then its credentials as JSON), for S3 stores with
 * instance_profile=true. */
#ifndef MDBTAP_S3IMDS_H
#define MDBTAP_S3IMDS_H

#include <stddef.h>
#include <stdint.h>

/* What the service gives; the strings are the caller's (s3imds_free
 * wipes and frees them). */
struct s3imds_creds {
	char *access_key, *secret_key, *session_token;
	uint64_t expires_ns;     /* UTC ns since the epoch */
};

/* Ask the service at endpoint (http://HOST[:PORT], no '/' after), with
 * short timeouts (it answers from the instance itself). Returns 0, or an
 * errno value with err saying what failed; never a secret in err.
 * EINTR: store_interrupt was called (a SIGTERM), before or during it. */
int s3imds_fetch(const char *endpoint, struct s3imds_creds *out, char *err, size_t errlen);

void s3imds_free(struct s3imds_creds *c);

#endif
