/* cmd_digest.c: `mdbtap digest` and `mdbtap dump`: what the syncer knows
 * of an env's elements, read-only. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "err.h"
#include "elem.h"
#include "out.h"
#include "senv.h"
#include "snap.h"

struct reader {
	struct senv s;
	MDB_txn *host, *mt;
	struct dset ds;
	int json;
	uint8_t sum[16];
};

/* digest: the host's live elements with their timestamps ... */
static int digest_host(struct reader *r, struct dctx *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(r->host, c->host, &cur);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const MDB_val *dv = c->h.dupsort ? &v : NULL;
		struct meta_elem m, e = { 0 };

		if (c->len == 0 && senv_is_dbi_record(&r->s, r->host, &k, &v))
			continue;
		if (meta_elem_get(r->mt, &c->h, &k, dv, &m) == 0)
			e.ts = m.ts; /* 0: not folded yet, shows as a difference */
		if (!c->h.dupsort)
			meta_hash(v.mv_data, v.mv_size, e.hash);
		meta_elem_digest(&k, dv, &e, 1, r->sum);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ... and the tombstones of those it no longer has. */
static int digest_gone(void *ctx, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
		       const struct meta_elem *m)
{
	struct reader *r = ctx;
	struct meta_elem e = { .ts = m->ts, .flags = META_DELETED };
	int live, rc = elem_host_get(&r->ds, c, key, dupval, NULL, &live);

	if (rc)
		return rc;
	if (!live)
		meta_elem_digest(key, dupval, &e, 1, r->sum);
	return 0;
}

static int dump_elem(void *ctx, struct dctx *c, const MDB_val *key, const MDB_val *dupval,
		     const struct meta_elem *e)
{
	struct reader *r = ctx;
	MDB_val v = { 0, NULL };
	int live, rc = elem_host_get(&r->ds, c, key, dupval, &v, &live);

	if (rc)
		return rc;
	if (dupval)
		v = *dupval;
	fputs("{\"dbi\":", stdout);
	if (c->len)
		out_json_str(stdout, c->name, c->len);
	else
		fputs("null", stdout);
	fputs(",\"key\":\"", stdout);
	out_hex(stdout, key->mv_data, key->mv_size);
	fputs("\",\"value\":", stdout);
	if (live || dupval) {
		putchar('"');
		out_hex(stdout, v.mv_data, v.mv_size);
		putchar('"');
	} else {
		fputs("null", stdout);
	}
	printf(",\"ts\":%" PRIu64 ",\"deleted\":%s", e->ts,
	       (e->flags & META_DELETED) ? "true" : "false");
	if (!(e->flags & META_DELETED) != !!live)
		fputs(",\"unfolded\":true", stdout); /* the host changed since the last fold */
	fputs("}\n", stdout);
	return 0;
}

/* A name as is when it is plain printable ASCII (and not "-"), else quoted. */
static void print_name(const struct dctx *c)
{
	int plain = c->len && c->name[0] != '-' && c->name[0] != '"';

	for (size_t i = 0; i < c->len && plain; i++)
		plain = c->name[i] > ' ' && c->name[i] < 0x7f && c->name[i] != '\\';
	if (!c->len)
		fputs("-", stdout);
	else if (plain)
		fwrite(c->name, 1, c->len, stdout);
	else
		out_quoted(stdout, c->name, c->len);
}

static int each_dbi(void *ctx, const char *name, size_t len, const struct meta_dbi *d)
{
	struct reader *r = ctx;
	struct dctx *c;
	int rc;

	(void)d;
	rc = elem_set_get(&r->ds, name, len, 0, &c);
	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (r->json)
		return elem_each(&r->ds, c, 0, dump_elem, r);
	memset(r->sum, 0, sizeof(r->sum));
	rc = c->host_exists ? digest_host(r, c) : 0;
	if (!rc)
		rc = elem_each(&r->ds, c, 0, digest_gone, r);
	if (rc)
		return rc;
	if (!memcmp(r->sum, (uint8_t[16]){ 0 }, sizeof(r->sum)))
		return 0; /* no elements: a DBI that exists only here says nothing */
	print_name(c);
	putchar(' ');
	out_hex(stdout, r->sum, sizeof(r->sum));
	putchar('\n');
	return 0;
}

static int run(const char *cmd, const char *path, int json)
{
	struct reader r = { .json = json };
	struct meta_state st;
	char err[512];
	int rc = senv_open(&r.s, path, NULL, 1, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "mdbtap %s: %s\n", cmd, err);
		return MDBTAP_EXIT_FAIL;
	}
	if (!r.s.meta) { /* as for metadata that adopted nothing yet */
		fprintf(stderr, "mdbtap %s: %s: not synced yet (no `mdbtap sync` has run on it)\n",
			cmd, path);
		senv_close(&r.s);
		return MDBTAP_EXIT_OK;
	}
	rc = senv_lock(&r.s, 0); /* a MDB_NOLOCK host's protocol */
	if (!rc)
		rc = mdb_txn_begin(r.s.host, NULL, MDB_RDONLY, &r.host);
	if (!rc)
		rc = mdb_txn_begin(meta_env(r.s.meta), NULL, MDB_RDONLY, &r.mt);
	if (!rc)
		rc = meta_state_get(r.mt, r.s.meta, &st);
	if (!rc && !st.adopted)
		fprintf(stderr, "mdbtap %s: %s: not synced yet (no `mdbtap sync` has run on it)\n",
			cmd, path);
	elem_set_init(&r.ds, &r.s, r.host, r.mt);
	if (!rc)
		rc = meta_dbi_each(r.mt, r.s.meta, each_dbi, &r);
	elem_set_flush(&r.ds, 1);
	if (r.mt)
		mdb_txn_abort(r.mt);
	if (r.host)
		mdb_txn_abort(r.host);
	senv_unlock(&r.s);
	if (rc)
		fprintf(stderr, "mdbtap %s: %s: %s\n", cmd, path,
			err_str(rc));
	senv_close(&r.s);
	return rc ? MDBTAP_EXIT_FAIL : MDBTAP_EXIT_OK;
}

/* digest and dump take one ENV_PATH and no option of their own. */
static int one_path(const char *cmd, int argc, char **argv, int json)
{
	static const struct option opts[] = { CLI_OPTS_END };
	struct cli cl;
	int rc;

	cli_begin(&cl, cmd);
	while (cli_next(&cl, argc, argv, "", opts) != -1)
		;
	rc = cli_done(&cl, argc, 1, 1);
	if (rc != CLI_GO)
		return rc;
	return run(cmd, argv[optind], json);
}

int cmd_digest(int argc, char **argv)
{
	return one_path("digest", argc, argv, 0);
}

int cmd_dump(int argc, char **argv)
{
	return one_path("dump", argc, argv, 1);
}
