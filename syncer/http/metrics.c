/* metrics.c: the /metrics text (Prometheus exposition format 0.0.4). */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"

#ifndef MDBTAP_VERSION
#define MDBTAP_VERSION "unknown"
#endif

struct out {
	struct buf b;
	int failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || buf_add(&o->b, line, (size_t)n))
		o->failed = 1;
}

/* One family: HELP, TYPE, then a sample per env. Env and instance names
 * are [a-z0-9] and [A-Za-z0-9-] (config.h): no label escaping needed. */
static void family(struct out *o, const struct http_env *e, size_t n, const char *name,
		   const char *type, const char *help, const char *label, size_t off)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < n; i++) {
		uint64_t v = *(const uint64_t *)((const char *)&e[i] + off);

		put(o, "%s{env=\"%s\",instance=\"%s\"%s} %llu\n", name, e[i].name, e[i].instance,
		    label ? label : "", (unsigned long long)v);
	}
}

#define AT(f) offsetof(struct http_env, f)

char *http_metrics(const struct http_env *e, size_t n, int ready)
{
	static const struct { const char *name, *help; size_t off; } counters[] = {
		{ "mdbtap_journal_records_folded_total", "Journal records folded.",
		  AT(env.records) },
		{ "mdbtap_rescans_total", "Rescans of the env (writes the tap did not see).",
		  AT(env.rescans) },
		{ "mdbtap_objects_uploaded_total", "Objects uploaded.", AT(env.objects_out) },
		{ "mdbtap_objects_applied_total", "Objects of other instances applied.",
		  AT(env.objects_in) },
		{ "mdbtap_objects_quarantined_total",
		  "Objects refused: corrupt, truncated or unknown.", AT(env.objects_bad) },
		{ "mdbtap_elements_merged_total", "Remote elements that won the merge.",
		  AT(env.elems_merged) },
		{ "mdbtap_tombstones_swept_total", "Tombstones forgotten after the retention.",
		  AT(env.tombstones_swept) },
		{ "mdbtap_merges_map_full_total", "Merges stopped by the host's full map "
		  "(they resume when there is room).", AT(env.merges_map_full) },
		{ "mdbtap_store_request_errors_total", "Store requests that failed.",
		  AT(store.errors) },
		{ "mdbtap_store_retries_total", "Store requests repeated after a transient "
		  "failure.", AT(store.retries) },
		{ "mdbtap_store_uploaded_bytes_total", "Object bytes uploaded.",
		  AT(store.bytes_out) },
		{ "mdbtap_store_downloaded_bytes_total", "Object bytes downloaded.",
		  AT(store.bytes_in) },
		{ "mdbtap_cycles_total", "Sync cycles.", AT(cycles) },
		{ "mdbtap_cycles_failed_total", "Sync cycles with an error.", AT(failed_cycles) },
	};
	static const struct { const char *type; size_t off; } requests[] = {
		{ "put", AT(store.put) }, { "get", AT(store.get) },
		{ "list", AT(store.list) }, { "delete", AT(store.del) },
	};
	struct out o = { { 0 }, 0 };

	put(&o, "# HELP mdbtap_build_info The syncer's version.\n"
		"# TYPE mdbtap_build_info gauge\nmdbtap_build_info{version=\"%s\"} 1\n",
	    MDBTAP_VERSION);
	put(&o, "# HELP mdbtap_ready Whether the initial sync is done (/readyz).\n"
		"# TYPE mdbtap_ready gauge\nmdbtap_ready %d\n", ready);
	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++)
		family(&o, e, n, counters[k].name, "counter", counters[k].help, NULL,
		       counters[k].off);
	put(&o, "# HELP mdbtap_elements_refused_total Remote elements refused, by reason.\n"
		"# TYPE mdbtap_elements_refused_total counter\n");
	for (size_t i = 0; i < n; i++)
		put(&o, "mdbtap_elements_refused_total{env=\"%s\",instance=\"%s\",reason=\"future\"} "
			"%llu\n", e[i].name, e[i].instance,
		    (unsigned long long)e[i].env.elems_refused);
	put(&o, "# HELP mdbtap_store_requests_total Store requests, by type.\n"
		"# TYPE mdbtap_store_requests_total counter\n");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(requests) / sizeof(requests[0]); k++)
			put(&o, "mdbtap_store_requests_total{env=\"%s\",instance=\"%s\",type=\"%s\"} "
				"%llu\n", e[i].name, e[i].instance, requests[k].type,
			    (unsigned long long)*(const uint64_t *)((const char *)&e[i] +
								    requests[k].off));
	put(&o, "# HELP mdbtap_env_up Whether the env is open (0 while its path does not "
		"exist yet).\n# TYPE mdbtap_env_up gauge\n");
	for (size_t i = 0; i < n; i++)
		put(&o, "mdbtap_env_up{env=\"%s\",instance=\"%s\"} %d\n", e[i].name, e[i].instance,
		    e[i].opened);
	put(&o, "# HELP mdbtap_last_successful_cycle_timestamp_seconds When the last cycle "
		"without an error ended.\n"
		"# TYPE mdbtap_last_successful_cycle_timestamp_seconds gauge\n");
	for (size_t i = 0; i < n; i++)
		put(&o, "mdbtap_last_successful_cycle_timestamp_seconds{env=\"%s\",instance=\"%s\"} "
			"%.3f\n", e[i].name, e[i].instance, (double)e[i].last_ok_ns / 1e9);
	put(&o, "# HELP mdbtap_last_cycle_duration_seconds How long the last cycle took.\n"
		"# TYPE mdbtap_last_cycle_duration_seconds gauge\n");
	for (size_t i = 0; i < n; i++)
		put(&o, "mdbtap_last_cycle_duration_seconds{env=\"%s\",instance=\"%s\"} %.6f\n",
		    e[i].name, e[i].instance, e[i].last_cycle_s);
	if (o.failed || buf_add(&o.b, "", 0) || !o.b.p) {
		buf_free(&o.b);
		return NULL;
	}
	return (char *)o.b.p;
}
