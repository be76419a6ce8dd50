/* http.h: the syncer's HTTP endpoint (libmicrohttpd), off unless asked
 * for (--listen / http_listen): /metrics in Prometheus's text format,
 * /healthz and /readyz for an orchestrator.
 *
 * The sync loop publishes each env's state after its cycle
 * (http_publish); the server's thread only reads copies of it, under a
 * lock, so serving never touches LMDB or the store. */
#ifndef MDBTAP_HTTP_H
#define MDBTAP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "statfile.h"

/* What /metrics and /healthz say of one env: copied after each cycle. */
struct http_env {
	char name[40];               /* the env's name in the store */
	char instance[72];           /* this instance */
	struct statfile_data d;      /* what its last cycle published (sync.h);
					zeros while it is not open */
	uint64_t cycles, failed_cycles; /* these count waiting for the env too */
	uint64_t last_ok_ns;         /* wall clock of the last successful cycle; 0 */
	uint64_t failing_since_ns;   /* first failed cycle of the current run; 0 */
	double last_cycle_s;         /* how long the last cycle took */
	int opened;                  /* 0 while its path does not exist yet */
	int published;               /* d holds a cycle's state */
	uint64_t dropped_ns;         /* wall clock of the last cycle that found
					more journal records dropped than the one
					before (this run); 0 */
};

struct http;

/* Listen on addr: "PORT" (loopback), "HOST:PORT" or "[V6]:PORT"; nenvs
 * envs are published. An env whose cycles have failed for longer than
 * fail_ns, or whose journal dropped records within the last fail_ns,
 * makes /healthz 503. Returns 0, EINVAL (bad address, message in
 * err) or an errno value. */
int http_start(const char *addr, size_t nenvs, uint64_t fail_ns, struct http **out, char *err,
	       size_t errlen);

/* Publish env i's state. */
void http_publish(struct http *h, size_t i, const struct http_env *e);

/* The initial sync is done: /readyz answers 200 from now on. */
void http_set_ready(struct http *h);

/* Stop serving and free; NULL is fine. */
void http_stop(struct http *h);

/* The /metrics text of envs[0..n) (ready: 0 or 1) at wall clock now_ns
 * (for ages), into a malloc'd string (NULL: out of memory). */
char *http_metrics(const struct http_env *envs, size_t n, int ready, uint64_t now_ns);

#endif
