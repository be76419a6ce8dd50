/* cmd_status.c: `mdbtap status`: one screen per env for an operator: the
 * syncer (running or not), its last cycle and error, the local txn ids
 * folded and exported, the journal's backlog, each remote instance and the
 * age of its newest object applied here, lag, rescans, refusals,
 * tombstones.
 *
 * The metadata and the journal are read as they are now (statfile_gather,
 * read-only), so this works while the syncer runs and when it does not;
 * the counters are the stats file's, as the syncer last published them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "config.h"
#include "err.h"
#include "hlc.h"
#include "out.h"
#include "senv.h"
#include "statfile.h"

/* What status knows of one env. */
struct view {
	const char *name;            /* from the config, or NULL */
	const char *path;
	struct statfile_data d;
	int have_stats;              /* the stats file was read */
	int running;                 /* a syncer holds the env's syncer lock */
	long pid;                    /* its PID (from the lock file), or 0 */
	uint64_t host_txnid;         /* the env's last txn id */
	uint64_t now;
};

/* Whether a syncer holds the lock (senv.h: SENV_SYNCER_LOCK): exact,
 * unlike a PID that may have been reused. */
static int syncer_running(const char *companion, long *pid)
{
	char p[4400], buf[32];
	ssize_t n;
	int fd, held;

	*pid = 0;
	snprintf(p, sizeof(p), "%s/%s", companion, SENV_SYNCER_LOCK);
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	if (held)
		sscanf(buf, "%ld", pid);
	close(fd);
	return held;
}

/* "3.2 s", "4 min", "2.0 h", "3 d" ago. */
static const char *ago(char *b, size_t n, uint64_t now, uint64_t then)
{
	double s = now > then ? (double)(now - then) / 1e9 : 0;

	if (!then)
		snprintf(b, n, "never");
	else if (s < 120)
		snprintf(b, n, "%.1f s ago", s);
	else if (s < 7200)
		snprintf(b, n, "%.0f min ago", s / 60);
	else if (s < 172800)
		snprintf(b, n, "%.1f h ago", s / 3600);
	else
		snprintf(b, n, "%.0f d ago", s / 86400);
	return b;
}

static const char *bytes(char *b, size_t n, uint64_t v)
{
	if (v < 10240)
		snprintf(b, n, "%" PRIu64 " B", v);
	else if (v < 10u << 20)
		snprintf(b, n, "%.0f KiB", (double)v / 1024);
	else
		snprintf(b, n, "%.0f MiB", (double)v / 1048576);
	return b;
}

/* Open the env read-only and gather what its metadata and journal say. */
static int look(struct view *v, char *err, size_t errlen)
{
	struct senv s;
	MDB_envinfo info;
	int rc = senv_open(&s, v->path, NULL, 1, err, errlen);

	if (rc == ENOENT && access(v->path, F_OK) == 0)
		snprintf(err, errlen, "%s: no syncer has run on this env yet (it has no metadata)",
			 v->path);
	if (rc)
		return rc;
	v->running = syncer_running(s.companion, &v->pid);
	rc = statfile_read(s.companion, &v->d);
	v->have_stats = rc == 0;
	if (rc && rc != ENOENT)
		fprintf(stderr, "mdbtap status: %s/%s: %s (counters left out)\n", s.companion,
			STATFILE_NAME, rc == EPROTO ? "not mdbtap's, or of another version" :
			err_str(rc));
	if (!v->have_stats)
		memset(&v->d, 0, sizeof(v->d));
	if (!mdb_env_info(s.host, &info))
		v->host_txnid = info.me_last_txnid;
	rc = statfile_gather(&s, &v->d);
	if (rc)
		snprintf(err, errlen, "%s: the syncer's metadata: %s", v->path, err_str(rc));
	senv_close(&s);
	return rc;
}

static void text(const struct view *v)
{
	const struct statfile_data *d = &v->d;
	const struct senv_stats *e = &d->env;
	char a[64], b[64], c[64];
	uint64_t rescans = 0;

	printf("env %s%s%s\n", v->name ? v->name : v->path, v->name ? ": " : "",
	       v->name ? v->path : "");
	if (d->store_url[0])
		printf("  store       %s\n", d->store_url);
	if (v->running)
		printf("  syncer      running, pid %ld", v->pid);
	else
		printf("  syncer      NOT RUNNING");
	if (v->have_stats)
		printf("%s started %s, %" PRIu64 " cycles, the last %s, took %.3f s\n",
		       v->running ? "," : "; the last one", ago(a, sizeof(a), v->now, d->started_ns),
		       d->cycles, ago(b, sizeof(b), v->now, d->updated_ns),
		       (double)d->last_cycle_ns / 1e9);
	else
		printf("%s\n", v->running ? "" : "; no syncer has run here");
	if (v->have_stats) {
		printf("  errors      %" PRIu64 " failed cycles, %" PRIu64 " failed store requests",
		       d->failed_cycles, d->store.errors);
		if (d->last_error_ns)
			printf("; last %s: %s\n", ago(a, sizeof(a), v->now, d->last_error_ns),
			       d->last_error);
		else
			printf("\n");
		printf("  last ok     %s\n", ago(a, sizeof(a), v->now, d->last_ok_ns));
	}
	printf("  local       txn %" PRIu64 " in the env, %" PRIu64 " folded, %" PRIu64
	       " exported; last object %s, last full snapshot %s\n", v->host_txnid, d->accounted,
	       d->exported, ago(a, sizeof(a), v->now, d->last_obj_ns),
	       ago(b, sizeof(b), v->now, d->last_full_ns));
	if (d->journal_capacity)
		printf("  journal     %" PRIu64 " records (%s) not yet folded, of a %s ring; %" PRIu64
		       " dropped since it was made%s\n", d->backlog_records,
		       bytes(a, sizeof(a), d->backlog_bytes), bytes(b, sizeof(b), d->journal_capacity),
		       d->journal_dropped, d->journal_dropped ? " (each one rescans)" : "");
	else
		printf("  journal     none (no tapped program has opened the env)\n");
	printf("  instances   %" PRIu64 " other instance%s\n", d->nremotes,
	       d->nremotes == 1 ? "" : "s");
	for (uint64_t i = 0; i < d->nremotes && i < STATFILE_MAX_REMOTES; i++)
		printf("    %-16s newest object applied was made %s (its txn %" PRIu64 ")\n",
		       d->remotes[i].name, ago(a, sizeof(a), v->now, d->remotes[i].newest_ns),
		       d->remotes[i].to);
	if (d->nremotes > STATFILE_MAX_REMOTES)
		printf("    ... and %" PRIu64 " more\n", d->nremotes - STATFILE_MAX_REMOTES);
	if (!v->have_stats)
		return;
	if (e->lag.count) {
		double p50 = hist_quantile_bound(&e->lag, 0.5), p99 = hist_quantile_bound(&e->lag, 0.99);

		snprintf(a, sizeof(a), p50 < 0 ? "over %g s" : "%g s", p50 < 0 ? 3600 : p50);
		snprintf(b, sizeof(b), p99 < 0 ? "over %g s" : "%g s", p99 < 0 ? 3600 : p99);
		printf("  lag         %" PRIu64 " objects applied: half within %s, 99%% within %s "
		       "of the newest commit they carry\n", e->lag.count, a, b);
	}
	for (unsigned r = 0; r < SENV_RESCAN_NWHY; r++)
		rescans += e->rescans_by[r];
	printf("  rescans     %" PRIu64, rescans);
	for (unsigned r = 0, first = 1; r < SENV_RESCAN_NWHY; r++)
		if (e->rescans_by[r]) {
			printf("%s%s %" PRIu64, first ? " (" : ", ", senv_rescan_names[r],
			       e->rescans_by[r]);
			first = 0;
		}
	printf("%s; %" PRIu64 " lossy records; %" PRIu64 " unfoldable journal ops; env "
	       "replaced %" PRIu64 " times\n", rescans ? ")" : "", e->lossy, e->elems_unfoldable,
	       e->readoptions);
	printf("  refused     %" PRIu64 " objects quarantined, %" PRIu64 " objects and %" PRIu64
	       " elements from the future, %" PRIu64 " that do not fit the DBI's flags\n",
	       e->objects_bad, e->objects_future, e->elems_refused, d->misfits_held);
	if (d->misfits[0])
		printf("    %.*s\n", (int)sizeof(d->misfits), d->misfits);
	printf("  traffic     %" PRIu64 " objects out (%s), %" PRIu64 " in (%s); %" PRIu64
	       " elements exported, %" PRIu64 " merged\n", e->objects_out,
	       bytes(a, sizeof(a), d->store.bytes_out), e->objects_in,
	       bytes(b, sizeof(b), d->store.bytes_in), e->elems_out, e->elems_merged);
	printf("  conflicts   %" PRIu64 " won by the remote version, %" PRIu64 " lost to the local "
	       "one\n", e->conflicts_won, e->conflicts_lost);
	if (e->dbis_own_order)
		printf("  not synced  %" PRIu64 " DBIs the program orders itself (`mdbtap doctor "
		       "ENV` names them)\n", e->dbis_own_order);
	printf("  tombstones  %" PRIu64 " held (counted %s), %" PRIu64 " swept\n", e->tombstones,
	       ago(c, sizeof(c), v->now, e->tombstones_counted_ns), e->tombstones_swept);
}

static void json_u(const char *k, uint64_t v, int comma)
{
	printf("%s\"%s\":%" PRIu64, comma ? "," : "", k, v);
}

static void json(const struct view *v)
{
	const struct statfile_data *d = &v->d;
	const struct senv_stats *e = &d->env;

	fputs("{\"env\":", stdout);
	out_json_str(stdout, v->path, strlen(v->path));
	if (v->name) {
		fputs(",\"name\":", stdout);
		out_json_str(stdout, v->name, strlen(v->name));
	}
	printf(",\"running\":%s,\"pid\":%ld,\"stats\":%s", v->running ? "true" : "false", v->pid,
	       v->have_stats ? "true" : "false");
	fputs(",\"store\":", stdout);
	out_json_str(stdout, d->store_url, strnlen(d->store_url, sizeof(d->store_url)));
	json_u("now_ns", v->now, 1);
	json_u("started_ns", d->started_ns, 1);
	json_u("updated_ns", d->updated_ns, 1);
	json_u("cycles", d->cycles, 1);
	json_u("failed_cycles", d->failed_cycles, 1);
	json_u("last_cycle_ns", d->last_cycle_ns, 1);
	json_u("last_ok_ns", d->last_ok_ns, 1);
	json_u("last_error_ns", d->last_error_ns, 1);
	fputs(",\"last_error\":", stdout);
	out_json_str(stdout, d->last_error, strnlen(d->last_error, sizeof(d->last_error)));
	json_u("host_txnid", v->host_txnid, 1);
	json_u("folded_txnid", d->accounted, 1);
	json_u("exported_txnid", d->exported, 1);
	json_u("last_object_ns", d->last_obj_ns, 1);
	json_u("last_full_ns", d->last_full_ns, 1);
	json_u("backlog_records", d->backlog_records, 1);
	json_u("backlog_bytes", d->backlog_bytes, 1);
	json_u("journal_capacity", d->journal_capacity, 1);
	json_u("journal_dropped", d->journal_dropped, 1);
	json_u("lossy_records", e->lossy, 1);
	json_u("unfoldable_ops", e->elems_unfoldable, 1);
	fputs(",\"rescans\":{", stdout);
	for (unsigned r = 0; r < SENV_RESCAN_NWHY; r++)
		json_u(senv_rescan_names[r], e->rescans_by[r], r > 0);
	fputs("},\"instances\":[", stdout);
	for (uint64_t i = 0; i < d->nremotes && i < STATFILE_MAX_REMOTES; i++) {
		fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
		out_json_str(stdout, d->remotes[i].name, strnlen(d->remotes[i].name,
								 sizeof(d->remotes[i].name)));
		json_u("newest_ns", d->remotes[i].newest_ns, 1);
		json_u("txnid", d->remotes[i].to, 1);
		putchar('}');
	}
	putchar(']');
	json_u("instances_known", d->nremotes, 1);
	json_u("objects_out", e->objects_out, 1);
	json_u("objects_in", e->objects_in, 1);
	json_u("objects_quarantined", e->objects_bad, 1);
	json_u("objects_future", e->objects_future, 1);
	json_u("dbis_over_limit", e->dbis_over_limit, 1);
	json_u("elements_exported", e->elems_out, 1);
	json_u("elements_merged", e->elems_merged, 1);
	json_u("conflicts_won", e->conflicts_won, 1);
	json_u("conflicts_lost", e->conflicts_lost, 1);
	json_u("dbis_own_order", e->dbis_own_order, 1);
	json_u("elements_refused", e->elems_refused, 1);
	json_u("elements_misfit", d->misfits_held, 1);
	json_u("lag_count", e->lag.count, 1);
	json_u("lag_sum_ns", e->lag.sum_ns, 1);
	json_u("tombstones", e->tombstones, 1);
	json_u("tombstones_swept", e->tombstones_swept, 1);
	json_u("store_errors", d->store.errors, 1);
	fputs("}\n", stdout);
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "config", required_argument, NULL, 'c' },
					      CLI_OPTS_END };
	const char *config = NULL;
	int as_json = 0, rc, opt, failed = 0;
	struct cfg c;
	struct cli cl;
	char err[1024];

	cli_begin(&cl, "status");
	while ((opt = cli_next(&cl, argc, argv, "c:", opts)) != -1) {
		if (opt == 'j')
			as_json = 1;
		else
			config = optarg;
	}
	rc = cli_done(&cl, argc, config ? 0 : 1, 1 << 20);
	if (rc != CLI_GO)
		return rc;
	cfg_init(&c);
	if (config && cfg_load_file(&c, config, err, sizeof(err))) {
		fprintf(stderr, "mdbtap status: %s\n", err);
		cfg_free(&c);
		return MDBTAP_EXIT_FAIL;
	}
	/* Operands name envs: paths, or with -c the config's env names. */
	for (int i = optind; config && i < argc; i++) {
		size_t k = 0;

		while (k < c.nenvs && strcmp(c.envs[k].name, argv[i]))
			k++;
		if (k == c.nenvs) {
			cfg_free(&c);
			return cli_bad(&cl, "'%s': no env of that name in %s", argv[i], config);
		}
	}
	size_t n = config ? c.nenvs : (size_t)(argc - optind);
	for (size_t i = 0; i < n; i++) {
		struct view v = { 0 };

		if (config) {
			int wanted = optind == argc;

			for (int k = optind; k < argc; k++)
				wanted |= !strcmp(argv[k], c.envs[i].name);
			if (!wanted)
				continue;
			v.name = c.envs[i].name;
			v.path = c.envs[i].path;
		} else {
			v.path = argv[optind + (int)i];
		}
		v.now = hlc_wall_ns();
		if (look(&v, err, sizeof(err))) {
			fprintf(stderr, "mdbtap status: %s\n", err);
			failed = 1;
			continue;
		}
		if (as_json)
			json(&v);
		else
			text(&v);
	}
	cfg_free(&c);
	return failed ? MDBTAP_EXIT_FAIL : MDBTAP_EXIT_OK;
}
