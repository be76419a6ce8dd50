/* metrics.c: the /metrics text (Prometheus exposition format 0.0.4).
 *
 * Every family has its HELP and TYPE lines and then a sample per env
 * (labels env and instance: this syncer's instance; remote instances go
 * in the label remote, so that a scrape with honor_labels keeps them
 * apart from the target's own instance label). Histograms print
 * cumulative buckets ending with le="+Inf", then _sum and _count.
 */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hist.h"

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

/* A label value as the format wants it: backslash, quote and newline
 * escaped. Env and instance names are plain ([a-z0-9], [A-Za-z0-9-]), but
 * a remote instance's name comes from the store. */
static const char *esc(char *dst, size_t cap, const char *v)
{
	size_t n = 0;

	for (; *v && n + 3 < cap; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			dst[n++] = '\\';
			dst[n++] = *v == '\n' ? 'n' : *v;
		} else {
			dst[n++] = *v;
		}
	}
	dst[n] = 0;
	return dst;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Room for env="<40>",instance="<159>",<k>="<159>": labels() never truncates. */
#define LBL_CAP 448

/* name{env="..",instance=".."[,k="v"]}: into lbl. */
static const char *labels(char *lbl, size_t cap, const struct http_env *e, const char *k,
			  const char *v)
{
	char a[160], b[160];

	esc(a, sizeof(a), e->instance);
	if (k)
		snprintf(lbl, cap, "env=\"%s\",instance=\"%s\",%s=\"%s\"", e->name, a, k,
			 esc(b, sizeof(b), v));
	else
		snprintf(lbl, cap, "env=\"%s\",instance=\"%s\"", e->name, a);
	return lbl;
}

static void sample_u(struct out *o, const char *name, const struct http_env *e, const char *k,
		     const char *v, uint64_t x)
{
	char lbl[LBL_CAP];

	put(o, "%s{%s} %llu\n", name, labels(lbl, sizeof(lbl), e, k, v), (unsigned long long)x);
}

static void sample_f(struct out *o, const char *name, const struct http_env *e, const char *k,
		     const char *v, double x)
{
	char lbl[LBL_CAP];

	put(o, "%s{%s} %.9g\n", name, labels(lbl, sizeof(lbl), e, k, v), x);
}

/* A wall-clock time in ns as Unix seconds (0 stays 0: never). */
static void sample_ts(struct out *o, const char *name, const struct http_env *e, uint64_t ns)
{
	char lbl[LBL_CAP];

	put(o, "%s{%s} %.3f\n", name, labels(lbl, sizeof(lbl), e, NULL, NULL), (double)ns / 1e9);
}

/* One histogram's series: cumulative buckets, then _sum and _count. */
static void hist_series(struct out *o, const char *name, const struct http_env *e, const char *k,
			const char *v, const struct hist *h)
{
	char lbl[LBL_CAP];

	labels(lbl, sizeof(lbl), e, k, v);
	for (unsigned i = 0; i < HIST_NBOUNDS; i++)
		put(o, "%s_bucket{%s,le=\"%g\"} %llu\n", name, lbl, hist_bounds[i],
		    (unsigned long long)hist_cumulative(h, i));
	put(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, lbl, (unsigned long long)h->count);
	put(o, "%s_sum{%s} %.9g\n", name, lbl, (double)h->sum_ns / 1e9);
	put(o, "%s_count{%s} %llu\n", name, lbl, (unsigned long long)h->count);
}

#define AT(f) offsetof(struct http_env, f)
#define U64(e, off) (*(const uint64_t *)((const char *)(e) + (off)))

/* Families of one uint64_t each per env. */
static const struct {
	const char *name, *type, *help;
	size_t off;
} plain[] = {
	{ "mdbtap_journal_records_folded_total", "counter", "Journal records folded.",
	  AT(d.env.records) },
	{ "mdbtap_journal_lossy_records_total", "counter",
	  "Journal records the tap could not fill (each one rescans the env).", AT(d.env.lossy) },
	{ "mdbtap_dbis_own_order", "gauge",
	  "DBIs not synced because the program orders them with its own comparator.",
	  AT(d.env.dbis_own_order) },
	{ "mdbtap_journal_dropped_records_total", "counter",
	  "Journal records that did not fit in the ring, since the journal was made.",
	  AT(d.journal_dropped) },
	{ "mdbtap_journal_backlog_records", "gauge",
	  "Journal records not yet folded, after the last cycle.", AT(d.backlog_records) },
	{ "mdbtap_journal_backlog_bytes", "gauge",
	  "Bytes of the journal ring not yet consumed, after the last cycle.",
	  AT(d.backlog_bytes) },
	{ "mdbtap_journal_capacity_bytes", "gauge", "Size of the journal ring.",
	  AT(d.journal_capacity) },
	{ "mdbtap_txnid_folded", "gauge", "Last local txn id the journal fold accounted for.",
	  AT(d.accounted) },
	{ "mdbtap_txnid_exported", "gauge", "Last local txn id exported to the store.",
	  AT(d.exported) },
	{ "mdbtap_env_replaced_total", "counter",
	  "Times the env's file was found replaced and re-adopted.", AT(d.env.readoptions) },
	{ "mdbtap_objects_uploaded_total", "counter", "Objects uploaded.", AT(d.env.objects_out) },
	{ "mdbtap_objects_applied_total", "counter", "Objects of other instances applied.",
	  AT(d.env.objects_in) },
	{ "mdbtap_objects_quarantined_total", "counter",
	  "Objects refused: corrupt, truncated or unknown.", AT(d.env.objects_bad) },
	{ "mdbtap_objects_future_total", "counter",
	  "Listed objects named more than max_future ahead: ignored until acceptable, counted "
	  "at each listing.", AT(d.env.objects_future) },
	{ "mdbtap_dbis_over_limit", "gauge",
	  "DBIs not synced: beyond the limit of DBIs per env (most seen at once).",
	  AT(d.env.dbis_over_limit) },
	{ "mdbtap_elements_old_shape_total", "counter",
	  "Remote elements skipped: of a DBI shape (flags) this env dropped since.",
	  AT(d.env.elems_old_shape) },
	{ "mdbtap_journal_unfoldable_ops_total", "counter",
	  "Journal ops naming an element no DBI can hold (an empty or oversized key): skipped.",
	  AT(d.env.elems_unfoldable) },
	{ "mdbtap_elements_exported_total", "counter",
	  "Elements written into objects uploaded (deltas and full snapshots).",
	  AT(d.env.elems_out) },
	{ "mdbtap_elements_merged_total", "counter", "Remote elements that won the merge.",
	  AT(d.env.elems_merged) },
	{ "mdbtap_tombstones", "gauge",
	  "Tombstones held, as counted at the start and at each sweep (at least hourly).",
	  AT(d.env.tombstones) },
	{ "mdbtap_tombstones_swept_total", "counter", "Tombstones forgotten after the retention.",
	  AT(d.env.tombstones_swept) },
	{ "mdbtap_tombstones_ignored_total", "counter",
	  "Remote tombstones of unknown elements older than the retention, not taken in.",
	  AT(d.env.tombstones_ignored) },
	{ "mdbtap_merges_map_full_total", "counter", "Merges stopped by the host's full map "
	  "(they resume when there is room).", AT(d.env.merges_map_full) },
	{ "mdbtap_merges_deferred_total", "counter", "Merge batches that left a long rescan to "
	  "the local step, not done under the host's writer lock.", AT(d.env.merges_deferred) },
	{ "mdbtap_store_request_errors_total", "counter", "Store requests that failed.",
	  AT(d.store.errors) },
	{ "mdbtap_store_retries_total", "counter",
	  "Store requests repeated after a transient failure.", AT(d.store.retries) },
	{ "mdbtap_store_uploaded_bytes_total", "counter", "Object bytes uploaded.",
	  AT(d.store.bytes_out) },
	{ "mdbtap_store_downloaded_bytes_total", "counter", "Object bytes downloaded.",
	  AT(d.store.bytes_in) },
	{ "mdbtap_cycles_total", "counter", "Sync cycles (waiting for the env included).",
	  AT(cycles) },
	{ "mdbtap_cycles_failed_total", "counter", "Sync cycles with an error.",
	  AT(failed_cycles) },
};

static const char *const op_names[STORE_NOPS] = { "put", "get", "list", "delete" };
static const char *const outcome_names[STORE_NOUTCOMES] = { "ok", "error", "not_found" };

static void per_env(struct out *o, const struct http_env *e, size_t n, uint64_t now)
{
	for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++) {
		head(o, plain[k].name, plain[k].type, plain[k].help);
		for (size_t i = 0; i < n; i++)
			sample_u(o, plain[k].name, &e[i], NULL, NULL, U64(&e[i], plain[k].off));
	}
	head(o, "mdbtap_rescans_total", "counter",
	     "Rescans of the env (writes the tap did not see), by reason.");
	for (size_t i = 0; i < n; i++)
		for (unsigned r = 0; r < SENV_RESCAN_NWHY; r++)
			sample_u(o, "mdbtap_rescans_total", &e[i], "reason", senv_rescan_names[r],
				 e[i].d.env.rescans_by[r]);
	head(o, "mdbtap_elements_refused_total", "counter", "Remote elements refused, by reason.");
	for (size_t i = 0; i < n; i++) {
		sample_u(o, "mdbtap_elements_refused_total", &e[i], "reason", "future",
			 e[i].d.env.elems_refused);
		sample_u(o, "mdbtap_elements_refused_total", &e[i], "reason", "dbi_flags",
			 e[i].d.env.elems_misfit);
	}
	head(o, "mdbtap_merge_conflicts_total", "counter",
	     "Remote elements met by a local version of another timestamp, by result: won (the "
	     "remote one replaced it) or lost (the local one stayed).");
	for (size_t i = 0; i < n; i++) {
		sample_u(o, "mdbtap_merge_conflicts_total", &e[i], "result", "won",
			 e[i].d.env.conflicts_won);
		sample_u(o, "mdbtap_merge_conflicts_total", &e[i], "result", "lost",
			 e[i].d.env.conflicts_lost);
	}
	head(o, "mdbtap_store_requests_total", "counter",
	     "Store requests, by type and outcome (not_found: a get or delete of a missing "
	     "object).");
	for (size_t i = 0; i < n; i++)
		for (unsigned t = 0; t < STORE_NOPS; t++)
			for (unsigned r = 0; r < STORE_NOUTCOMES; r++) {
				char lbl[LBL_CAP];

				labels(lbl, sizeof(lbl), &e[i], "type", op_names[t]);
				put(o, "mdbtap_store_requests_total{%s,outcome=\"%s\"} %llu\n", lbl,
				    outcome_names[r],
				    (unsigned long long)e[i].d.store.outcomes[t][r]);
			}
	head(o, "mdbtap_store_request_duration_seconds", "histogram",
	     "Store requests' duration, retries and every page of a listing included, by type.");
	for (size_t i = 0; i < n; i++)
		for (unsigned t = 0; t < STORE_NOPS; t++)
			hist_series(o, "mdbtap_store_request_duration_seconds", &e[i], "type",
				    op_names[t], &e[i].d.store.latency[t]);
	head(o, "mdbtap_merge_lag_seconds", "histogram",
	     "Per remote object applied: the time from the newest remote commit it carries to "
	     "its merge here.");
	for (size_t i = 0; i < n; i++)
		hist_series(o, "mdbtap_merge_lag_seconds", &e[i], NULL, NULL, &e[i].d.env.lag);
	head(o, "mdbtap_cycle_duration_seconds", "histogram",
	     "Sync cycles' duration (fold, export, receive and merge).");
	for (size_t i = 0; i < n; i++)
		hist_series(o, "mdbtap_cycle_duration_seconds", &e[i], NULL, NULL, &e[i].d.cycle);
	head(o, "mdbtap_remote_newest_object_timestamp_seconds", "gauge",
	     "Per remote instance: the time in the name of its newest object applied here.");
	for (size_t i = 0; i < n; i++)
		for (size_t r = 0; r < e[i].d.nremotes && r < STATFILE_MAX_REMOTES; r++)
			sample_f(o, "mdbtap_remote_newest_object_timestamp_seconds", &e[i], "remote",
				 e[i].d.remotes[r].name, (double)e[i].d.remotes[r].newest_ns / 1e9);
	head(o, "mdbtap_remote_newest_object_age_seconds", "gauge",
	     "Per remote instance: seconds since the making of its newest object applied here.");
	for (size_t i = 0; i < n; i++)
		for (size_t r = 0; r < e[i].d.nremotes && r < STATFILE_MAX_REMOTES; r++) {
			uint64_t ts = e[i].d.remotes[r].newest_ns;

			sample_f(o, "mdbtap_remote_newest_object_age_seconds", &e[i], "remote",
				 e[i].d.remotes[r].name, now > ts ? (double)(now - ts) / 1e9 : 0);
		}
	head(o, "mdbtap_env_up", "gauge", "Whether the env is open (0 while its path does not "
	     "exist yet).");
	for (size_t i = 0; i < n; i++)
		sample_u(o, "mdbtap_env_up", &e[i], NULL, NULL, (uint64_t)e[i].opened);
	head(o, "mdbtap_last_successful_cycle_timestamp_seconds", "gauge",
	     "When the last cycle without an error ended.");
	for (size_t i = 0; i < n; i++)
		sample_ts(o, "mdbtap_last_successful_cycle_timestamp_seconds", &e[i], e[i].last_ok_ns);
	head(o, "mdbtap_last_export_timestamp_seconds", "gauge",
	     "The time in the name of this instance's last object.");
	for (size_t i = 0; i < n; i++)
		sample_ts(o, "mdbtap_last_export_timestamp_seconds", &e[i], e[i].d.last_obj_ns);
	head(o, "mdbtap_last_cycle_duration_seconds", "gauge", "How long the last cycle took.");
	for (size_t i = 0; i < n; i++)
		sample_f(o, "mdbtap_last_cycle_duration_seconds", &e[i], NULL, NULL,
			 e[i].last_cycle_s);
}

char *http_metrics(const struct http_env *e, size_t n, int ready, uint64_t now_ns)
{
	struct out o = { { 0 }, 0 };
	char inst[160];

	/* This syncer's instance label on these too: with honor_labels,
	 * a sample without one would get the target's host:port. */
	esc(inst, sizeof(inst), n ? e[0].instance : "");
	head(&o, "mdbtap_build_info", "gauge", "The syncer's version.");
	put(&o, "mdbtap_build_info{instance=\"%s\",version=\"%s\"} 1\n", inst, MDBTAP_VERSION);
	head(&o, "mdbtap_ready", "gauge", "Whether the initial sync is done (/readyz).");
	put(&o, "mdbtap_ready{instance=\"%s\"} %d\n", inst, ready);
	per_env(&o, e, n, now_ns);
	if (o.failed || buf_add(&o.b, "", 0) || !o.b.p) {
		buf_free(&o.b);
		return NULL;
	}
	return (char *)o.b.p;
}
