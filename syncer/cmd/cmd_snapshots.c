/* cmd_snapshots.c: `mdbtap snapshots list|show|dump|retire`: the objects
 * in a store; retire deletes a retired instance's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "err.h"
#include "hlc.h"
#include "objname.h"
#include "out.h"
#include "snap.h"
#include "store.h"

#define RETIRE_MIN_AGE_NS (86400ull * 1000000000ull)

static void utc(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%09" PRIu64 "Z", ns % 1000000000u);
}

static int list_one(void *ctx, const char *name, uint64_t size)
{
	struct objname on;
	char when[64], range[64];

	(void)ctx;
	if (objname_parse(name, &on) != 0) {
		printf("%s foreign - - - %" PRIu64 "\n", name, size);
		return 0;
	}
	utc(on.ts_ns, when, sizeof(when));
	if (on.full)
		snprintf(range, sizeof(range), "..%" PRIu64, on.to_txnid);
	else
		snprintf(range, sizeof(range), "%" PRIu64 "..%" PRIu64, on.from_txnid, on.to_txnid);
	printf("%s %s %s %s %s %" PRIu64 "\n", name, on.instance, on.full ? "full" : "delta",
	       range, when, size);
	return 0;
}

struct dbi_count {
	uint64_t live, deleted;
	int open;
};

static void show_dbi_end(struct dbi_count *c)
{
	if (c->open)
		printf(" entries=%" PRIu64 " tombstones=%" PRIu64 "\n", c->live, c->deleted);
	memset(c, 0, sizeof(*c));
}

/* show (dump = 0) or dump (dump = 1) the object in fd. */
static int read_object(int fd, int dump)
{
	struct snap_reader *r = NULL;
	struct snap_event ev;
	struct dbi_count count = { 0 };
	char name[1024] = "";
	size_t nlen = 0;
	int rc = snap_reader_new(&r, snap_read_fd_source, &fd);

	while (!rc && (rc = snap_reader_next(r, &ev)) == 0 && ev.type != SNAP_EV_END) {
		if (ev.type == SNAP_EV_META && !dump) {
			char when[64];

			utc(ev.meta.ts_ns, when, sizeof(when));
			printf("format %u (readers from %u)\ninstance %s\nhostname %s\n"
			       "database %s\ngeneration %s\ntxn %" PRId64 "\nfrom txn %" PRId64
			       "\ntime %s\n", ev.meta.format_version, ev.meta.compat_version,
			       ev.meta.instance ? ev.meta.instance : "",
			       ev.meta.hostname ? ev.meta.hostname : "",
			       ev.meta.database ? ev.meta.database : "",
			       ev.meta.generation ? ev.meta.generation : "", ev.meta.txnid,
			       ev.meta.from_txnid, when);
		} else if (ev.type == SNAP_EV_DBI) {
			nlen = ev.dbi.name_len < sizeof(name) ? ev.dbi.name_len : sizeof(name);
			if (nlen)
				memcpy(name, ev.dbi.name, nlen);
			if (dump)
				continue;
			show_dbi_end(&count);
			fputs("dbi ", stdout);
			if (nlen)
				out_quoted(stdout, name, nlen);
			else
				fputs("-", stdout);
			printf(" flags=0x%" PRIx64 "%s%s", ev.dbi.flags,
			       ev.dbi.transform && ev.dbi.transform[0] ? " transform=" : "",
			       ev.dbi.transform ? ev.dbi.transform : "");
			count.open = 1;
		} else if (ev.type == SNAP_EV_KV && !dump) {
			if (ev.kv.flags & SNAP_KV_DELETED)
				count.deleted++;
			else
				count.live++;
		} else if (ev.type == SNAP_EV_KV) {
			fputs("{\"dbi\":", stdout);
			if (nlen)
				out_json_str(stdout, name, nlen);
			else
				fputs("null", stdout);
			fputs(",\"key\":\"", stdout);
			out_hex(stdout, ev.kv.key, ev.kv.klen);
			fputs("\",\"value\":\"", stdout);
			out_hex(stdout, ev.kv.val, ev.kv.vlen);
			printf("\",\"ts\":%" PRIu64 ",\"deleted\":%s}\n", ev.kv.ts,
			       (ev.kv.flags & SNAP_KV_DELETED) ? "true" : "false");
		}
	}
	if (!dump)
		show_dbi_end(&count);
	snap_reader_free(r);
	return rc;
}

struct retiring {
	const char *instance;
	char **names;
	size_t n;
	uint64_t newest_ns;
	int err;
};

static int retire_pick(void *ctx, const char *name, uint64_t size)
{
	struct retiring *r = ctx;
	struct objname on;
	char **v;

	(void)size;
	if (objname_parse(name, &on) != 0 || strcmp(on.instance, r->instance))
		return 0;
	v = realloc(r->names, (r->n + 1) * sizeof(*v));
	if (!v || !(v[r->n] = strdup(name))) {
		if (v)
			r->names = v;
		return ENOMEM;
	}
	r->names = v;
	r->n++;
	if (on.ts_ns > r->newest_ns)
		r->newest_ns = on.ts_ns;
	return 0;
}

/* Oldest first (names sort by time per instance): a receiver listing
 * meanwhile still finds a chain, or the newest full snapshot. */
static int retire(struct store *st, const char *instance, int now)
{
	struct retiring r = { instance, NULL, 0, 0, 0 };
	uint64_t age;
	size_t done = 0;
	int rc = store_list(st, "", retire_pick, &r);

	if (rc) {
		fprintf(stderr, "mdbtap snapshots: %s\n", rc == ENOMEM ? err_str(rc) :
			store_error(st));
		goto out;
	}
	if (!r.n) {
		fprintf(stderr, "mdbtap snapshots: instance '%s' has no object in %s\n", instance,
			store_url(st));
		rc = ENOENT;
		goto out;
	}
	age = hlc_wall_ns() > r.newest_ns ? hlc_wall_ns() - r.newest_ns : 0;
	if (!now && age < RETIRE_MIN_AGE_NS) {
		fprintf(stderr, "mdbtap snapshots: instance '%s' uploaded %.0f minutes ago: it "
			"may still run, or the others may not have its last changes; stop it, wait "
			"a day, or give --now\n", instance, (double)age / 60e9);
		rc = EBUSY;
		goto out;
	}
	for (size_t i = 0; i < r.n; i++) {
		int e = store_del(st, r.names[i]);

		if (e && e != ENOENT) {
			fprintf(stderr, "mdbtap snapshots: %s\n", store_error(st));
			rc = e;
			continue;
		}
		printf("deleted %s\n", r.names[i]);
		done++;
	}
	printf("%zu of %zu objects of instance '%s' deleted\n", done, r.n, instance);
out:
	for (size_t i = 0; i < r.n; i++)
		free(r.names[i]);
	free(r.names);
	return rc;
}

/* The subcommand's operands after SUB STORE_URL: how many, at least and
 * at most. */
static int operands(const char *sub, int *min, int *max)
{
	static const struct { const char *sub; int min, max; } subs[] = {
		{ "list", 0, 1 }, { "show", 1, 1 }, { "dump", 1, 1 }, { "retire", 1, 1 },
	};

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(sub, subs[i].sub)) {
			*min = subs[i].min + 2;
			*max = subs[i].max + 2;
			return 0;
		}
	return EINVAL;
}

int cmd_snapshots(int argc, char **argv)
{
	enum { OPT_NOW = 256 };
	static const struct option opts[] = { { "now", no_argument, NULL, OPT_NOW }, CLI_OPTS_END };
	struct store *st;
	struct cli cl;
	FILE *tf;
	char err[512];
	const char *sub, *arg;
	int rc, fd, now = 0, min = 2, max = 3;

	cli_begin(&cl, "snapshots");
	while (cli_next(&cl, argc, argv, "", opts) != -1)
		now = 1;
	sub = optind < argc ? argv[optind] : "";
	if (!cl.help && !cl.bad[0] && optind < argc && operands(sub, &min, &max))
		return cli_bad(&cl, "unknown subcommand '%s' (list, show, dump, retire)", sub);
	rc = cli_done(&cl, argc, min, max);
	if (rc != CLI_GO)
		return rc;
	if (now && strcmp(sub, "retire"))
		return cli_bad(&cl, "--now goes with retire only");
	arg = optind + 2 < argc ? argv[optind + 2] : "";
	if (!strcmp(sub, "retire") && !arg[0])
		return cli_bad(&cl, "retire: empty INSTANCE");
	rc = store_open(argv[optind + 1], NULL, 0, &st, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "mdbtap snapshots: %s\n", err);
		return MDBTAP_EXIT_FAIL;
	}
	if (!strcmp(sub, "retire")) {
		rc = retire(st, arg, now);
		store_close(st);
		return rc ? MDBTAP_EXIT_FAIL : MDBTAP_EXIT_OK;
	}
	if (!strcmp(sub, "list")) {
		rc = store_list(st, arg, list_one, NULL);
		if (rc)
			fprintf(stderr, "mdbtap snapshots: %s\n", store_error(st));
		store_close(st);
		return rc ? MDBTAP_EXIT_FAIL : MDBTAP_EXIT_OK;
	}
	tf = tmpfile();
	fd = tf ? fileno(tf) : -1;
	if (fd < 0)
		fprintf(stderr, "mdbtap snapshots: a temp file: %s\n", err_str(rc = errno));
	else if ((rc = store_get(st, arg, fd)) != 0)
		fprintf(stderr, "mdbtap snapshots: %s\n", store_error(st));
	else if (lseek(fd, 0, SEEK_SET) != 0)
		fprintf(stderr, "mdbtap snapshots: a temp file: %s\n", err_str(rc = errno));
	else if ((rc = read_object(fd, !strcmp(sub, "dump"))) != 0)
		fprintf(stderr, "mdbtap snapshots: %s: %s\n", arg, err_str(rc));
	if (tf)
		fclose(tf);
	store_close(st);
	return rc ? MDBTAP_EXIT_FAIL : MDBTAP_EXIT_OK;
}
