/* cmd_stats.c: `mdbtap stats`: the counters a running (or the last)
 * syncer of an env published (statfile.h). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "err.h"
#include "env.h"
#include "hlc.h"
#include "out.h"
#include "statfile.h"

static void table(const char *path, const struct statfile_data *d, int alive)
{
	const struct store_stats *s = &d->store;
	const struct senv_stats *e = &d->env;
	uint64_t now = hlc_wall_ns();
	double up = (double)(d->updated_ns - d->started_ns) / 1e9;

	printf("env       %s\n", path);
	printf("store     %s\n", d->store_url);
	printf("syncer    pid %" PRIu64 " (%s), %" PRIu64 " cycles in %.0f s, last %.1f s ago\n",
	       d->pid, alive ? "running" : "not running", d->cycles, up,
	       now > d->updated_ns ? (double)(now - d->updated_ns) / 1e9 : 0.0);
	printf("requests  PUT %" PRIu64 ", GET %" PRIu64 ", LIST %" PRIu64 ", DELETE %" PRIu64
	       "; %" PRIu64 " failed, %" PRIu64 " retries\n",
	       s->put, s->get, s->list, s->del, s->errors, s->retries);
	if (up >= 1)
		printf("per min   PUT %.1f, GET %.1f, LIST %.1f\n", (double)s->put * 60 / up,
		       (double)s->get * 60 / up, (double)s->list * 60 / up);
	printf("bytes     %" PRIu64 " out, %" PRIu64 " in\n", s->bytes_out, s->bytes_in);
	printf("objects   %" PRIu64 " out, %" PRIu64 " in, %" PRIu64 " refused, %" PRIu64
	       " refused (future, per listing)\n", e->objects_out, e->objects_in, e->objects_bad,
	       e->objects_future);
	/* Refusals for the DBIs' flags as the metadata holds them: over
	 * every syncer run, until the condition ends (meta.h). */
	printf("elements  %" PRIu64 " merged, %" PRIu64 " refused (future), %" PRIu64
	       " refused (DBI flags)\n", e->elems_merged, e->elems_refused, d->misfits_held);
	if (e->elems_old_shape)
		printf("          %" PRIu64 " skipped (a DBI shape dropped here since)\n",
		       e->elems_old_shape);
	if (d->misfits[0])
		printf("misfits   %.*s\n", (int)sizeof(d->misfits), d->misfits);
	if (e->dbis_over_limit)
		printf("DBIs      %" PRIu64 " not synced: over the limit of DBIs per env\n",
		       e->dbis_over_limit);
	if (e->readoptions)
		printf("env       found replaced and re-adopted %" PRIu64 " times\n", e->readoptions);
	printf("journal   %" PRIu64 " records folded, %" PRIu64 " rescans, %" PRIu64
	       " ops skipped (no DBI can hold their element)\n", e->records, e->rescans,
	       e->elems_unfoldable);
	printf("tombstones %" PRIu64 " swept, %" PRIu64 " old ones not taken in\n",
	       e->tombstones_swept, e->tombstones_ignored);
	if (e->merges_map_full)
		printf("map full  %" PRIu64 " merges stopped by the host's full map\n",
		       e->merges_map_full);
}

static void json(const char *path, const struct statfile_data *d, int alive)
{
	const struct store_stats *s = &d->store;
	const struct senv_stats *e = &d->env;

	fputs("{\"env\":", stdout);
	out_json_str(stdout, path, strlen(path));
	fputs(",\"store\":", stdout);
	out_json_str(stdout, d->store_url, strlen(d->store_url));
	printf(",\"pid\":%" PRIu64 ",\"running\":%s,\"started_ns\":%" PRIu64
	       ",\"updated_ns\":%" PRIu64 ",\"cycles\":%" PRIu64 ",\"poll_interval_ns\":%" PRIu64
	       ",\"put\":%" PRIu64 ",\"get\":%" PRIu64 ",\"list\":%" PRIu64 ",\"delete\":%" PRIu64
	       ",\"failed\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"bytes_out\":%" PRIu64
	       ",\"bytes_in\":%" PRIu64 ",\"objects_out\":%" PRIu64 ",\"objects_in\":%" PRIu64
	       ",\"objects_refused\":%" PRIu64 ",\"elements_merged\":%" PRIu64
	       ",\"elements_refused\":%" PRIu64 ",\"records\":%" PRIu64 ",\"rescans\":%" PRIu64
	       ",\"tombstones_swept\":%" PRIu64 ",\"tombstones_ignored\":%" PRIu64
	       ",\"elements_misfit\":%" PRIu64 ",\"readoptions\":%" PRIu64
	       ",\"merges_map_full\":%" PRIu64 ",\"unfoldable_ops\":%" PRIu64
	       ",\"elements_old_shape\":%" PRIu64 ",\"merges_deferred\":%" PRIu64
	       ",\"objects_future\":%" PRIu64 ",\"dbis_over_limit\":%" PRIu64
	       ",\"misfits\":",
	       d->pid, alive ? "true" : "false", d->started_ns, d->updated_ns, d->cycles,
	       d->poll_interval_ns, s->put, s->get, s->list, s->del, s->errors, s->retries,
	       s->bytes_out, s->bytes_in, e->objects_out, e->objects_in, e->objects_bad,
	       e->elems_merged, e->elems_refused, e->records, e->rescans, e->tombstones_swept,
	       e->tombstones_ignored, d->misfits_held, e->readoptions, e->merges_map_full,
	       e->elems_unfoldable, e->elems_old_shape, e->merges_deferred,
	       e->objects_future, e->dbis_over_limit);
	out_json_str(stdout, d->misfits, strnlen(d->misfits, sizeof(d->misfits)));
	fputs("}\n", stdout);
}

int cmd_stats(int argc, char **argv)
{
	struct env_where w;
	struct statfile_data d;
	const char *path;
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, CLI_OPTS_END };
	int as_json = 0, rc, alive;
	struct cli cl;

	cli_begin(&cl, "stats");
	while (cli_next(&cl, argc, argv, "", opts) != -1)
		as_json = 1;
	rc = cli_done(&cl, argc, 1, 1);
	if (rc != CLI_GO)
		return rc;
	path = argv[optind];
	rc = env_where(path, &w);
	if (!rc)
		rc = statfile_read(w.companion, &d);
	if (rc) {
		fprintf(stderr, "mdbtap stats: %s: %s\n", path,
			rc == ENOENT ? "no syncer has run for this env" :
			rc == EPROTO ? "the stats file is not mdbtap's (or of another version)" :
			err_str(rc));
		return MDBTAP_EXIT_FAIL;
	}
	/* A pid may be reused; good enough to tell a stopped syncer. */
	alive = d.pid && (kill((pid_t)d.pid, 0) == 0 || errno == EPERM);
	if (as_json)
		json(path, &d, alive);
	else
		table(path, &d, alive);
	return MDBTAP_EXIT_OK;
}
