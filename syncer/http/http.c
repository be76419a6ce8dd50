/* http.c: see http.h. */
#define _GNU_SOURCE    /* asprintf */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

struct http {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;        /* guards envs and ready */
	struct http_env *envs;
	size_t nenvs;
	int ready;
	uint64_t fail_ns;
};

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO;   /* out of memory: libmicrohttpd drops the connection */
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* /healthz: the first env found unwell, as a JSON body. */
static char *health(const struct http *h, unsigned *status)
{
	uint64_t now = wall_ns();
	char *body = NULL;

	for (size_t i = 0; i < h->nenvs; i++) {
		const struct http_env *e = &h->envs[i];

		if (e->failing_since_ns && now - e->failing_since_ns > h->fail_ns) {
			*status = MHD_HTTP_SERVICE_UNAVAILABLE;
			if (asprintf(&body, "{\"status\":\"failing\",\"env\":\"%s\",\"reason\":"
				     "\"its cycles have failed for %.0f s (store or env; see the "
				     "log)\"}\n", e->name, (double)(now - e->failing_since_ns) / 1e9) < 0)
				return NULL;
			return body;
		}
	}
	for (size_t i = 0; i < h->nenvs; i++) {
		const struct http_env *e = &h->envs[i];

		if (e->dropped_ns && now - e->dropped_ns < h->fail_ns) {
			*status = MHD_HTTP_SERVICE_UNAVAILABLE;
			if (asprintf(&body, "{\"status\":\"dropping\",\"env\":\"%s\",\"reason\":"
				     "\"its journal dropped records %.0f s ago (%llu since it was "
				     "made): the ring is too small for the writes between cycles; "
				     "they are rescanned\"}\n", e->name,
				     (double)(now - e->dropped_ns) / 1e9,
				     (unsigned long long)e->d.journal_dropped) < 0)
				return NULL;
			return body;
		}
	}
	*status = MHD_HTTP_OK;
	return strdup("{\"status\":\"ok\"}\n");
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **state)
{
	struct http *h = cls;
	unsigned status = MHD_HTTP_OK;
	char *body;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     strdup("GET only\n"));
	if (!strcmp(url, "/metrics")) {
		pthread_mutex_lock(&h->lock);
		body = http_metrics(h->envs, h->nenvs, h->ready, wall_ns());
		pthread_mutex_unlock(&h->lock);
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body);
	}
	if (!strcmp(url, "/healthz")) {
		pthread_mutex_lock(&h->lock);
		body = health(h, &status);
		pthread_mutex_unlock(&h->lock);
		return reply(c, status, "application/json", body);
	}
	if (!strcmp(url, "/readyz")) {
		int ready;

		pthread_mutex_lock(&h->lock);
		ready = h->ready;
		pthread_mutex_unlock(&h->lock);
		return reply(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			     "application/json", strdup(ready ? "{\"status\":\"ready\"}\n" :
				"{\"status\":\"syncing\",\"reason\":\"the initial sync is not "
				"done\"}\n"));
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
		     strdup("not found: /metrics, /healthz, /readyz\n"));
}

/* "PORT", "HOST:PORT", "[V6]:PORT" into a numeric address. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM }, *res = NULL;
	char host[128];
	const char *port = strrchr(addr, ':');
	size_t hl;

	if (!port) {
		port = addr;
		snprintf(host, sizeof(host), "127.0.0.1");    /* loopback by default */
	} else {
		hl = (size_t)(port - addr);
		port++;
		if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
			addr++;
			hl -= 2;
		}
		if (!hl || hl >= sizeof(host))
			goto bad;
		memcpy(host, addr, hl);
		host[hl] = 0;
	}
	/* 1 to 65535 (atoi of "4294967297" was 1: port 1; 0 a port nobody
	 * knows). */
	if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
	    atoi(port) < 1 || atoi(port) > 65535 || getaddrinfo(host, port, &hints, &res) || !res)
		goto bad;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
bad:
	err_setf(err, errlen, "listen address '%s': give PORT, HOST:PORT or [V6]:PORT with a "
		 "numeric host and a port from 1 to 65535", addr);
	return EINVAL;
}

int http_start(const char *addr, size_t nenvs, uint64_t fail_ns, struct http **out, char *err,
	       size_t errlen)
{
	struct sockaddr_storage ss;
	struct http *h;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
	int rc = parse_addr(addr, &ss, err, errlen);

	if (rc)
		return rc;
	h = calloc(1, sizeof(*h));
	if (!h || !(h->envs = calloc(nenvs ? nenvs : 1, sizeof(*h->envs)))) {
		free(h);
		return ENOMEM;
	}
	h->nenvs = nenvs;
	h->fail_ns = fail_ns;
	pthread_mutex_init(&h->lock, NULL);
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, serve, h, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 64u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!h->d) {
		rc = errno ? errno : EADDRINUSE;
		err_setf(err, errlen, "listening on %s: %s", addr, err_str(rc));
		pthread_mutex_destroy(&h->lock);
		free(h->envs);
		free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void http_publish(struct http *h, size_t i, const struct http_env *e)
{
	if (!h || i >= h->nenvs)
		return;
	pthread_mutex_lock(&h->lock);
	h->envs[i] = *e;
	pthread_mutex_unlock(&h->lock);
}

void http_set_ready(struct http *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->ready = 1;
	pthread_mutex_unlock(&h->lock);
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->lock);
	free(h->envs);
	free(h);
}
