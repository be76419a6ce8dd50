/* cmd_journal.c: `mdbtap journal ENV_PATH`, the journal as the tap wrote
 * it, and the txn ids of the env that no record accounts for (writes the
 * tap could not see, docs/DESIGN.md §2). Read-only: it changes nothing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acct.h"
#include "cli.h"
#include "commands.h"
#include "err.h"
#include "env.h"
#include "journal.h"
#include "out.h"
#include "record.h"
#include "vec.h"

struct opts {
	const char *env;
	int json;
	int check;
};

/* A growable list of txn ids. */
struct ids {
	uint64_t *v;
	size_t n, cap;
};

static int ids_add(struct ids *s, uint64_t id)
{
	if (vec_grow(&s->v, s->n, &s->cap, sizeof(*s->v)))
		return ENOMEM;
	s->v[s->n++] = id;
	return 0;
}

static const char *state_name(unsigned s)
{
	switch (s) {
	case MDBTAP_STATE_PENDING: return "pending";
	case MDBTAP_STATE_COMMITTED: return "committed";
	case MDBTAP_STATE_ABORTED: return "aborted";
	default: return "?";
	}
}

static int is_element_op(unsigned type)
{
	return type == MDBTAP_OP_PUT || type == MDBTAP_OP_DEL || type == MDBTAP_OP_DELALL;
}

static void print_text(const struct journal_entry *e, struct record_iter *it)
{
	struct record_op op;
	const char *sep = ": ";
	int rc;

	time_t secs = (time_t)(e->hdr.ts / 1000000000u);
	struct tm tm;
	char when[32] = "?";

	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%" PRIu64 " %s.%09" PRIu64 "Z %s pid=%u", e->hdr.txnid, when,
	       e->hdr.ts % 1000000000u, state_name(e->state), e->hdr.pid);
	if (e->hdr.flags & MDBTAP_REC_LOSSY)
		printf(" lossy");
	if (e->hdr.flags & MDBTAP_REC_SYNCER)
		printf(" syncer");
	while ((rc = record_iter_next(it, &op)) == 1) {
		printf("%s%s ", sep, record_op_name(op.type));
		sep = "; ";
		if (op.name)
			out_quoted(stdout, op.name, op.name_len);
		else
			fputc('-', stdout);
		if (is_element_op(op.type)) {
			fputc(' ', stdout);
			out_quoted(stdout, op.key, op.klen);
			if (op.val) {
				fputc('=', stdout);
				out_quoted(stdout, op.val, op.vlen);
			}
		} else if (op.type == MDBTAP_OP_CREATE && op.vlen == 4) {
			uint32_t f;

			memcpy(&f, op.val, 4);
			printf(" flags=0x%x", f);
		}
	}
	if (rc < 0)
		printf("%s<corrupt ops>", sep);
	fputc('\n', stdout);
}

static void print_json_dbi(const struct record_op *op)
{
	printf("\"dbi\":");
	if (op->name)
		out_json_str(stdout, op->name, op->name_len);
	else
		printf("null");
}

static void print_json(const struct journal_entry *e, struct record_iter *it)
{
	struct record_op op;
	struct record_iter again = *it;
	int rc, first = 1;
	unsigned at = 0;

	printf("{\"txnid\":%" PRIu64 ",\"ts\":%" PRIu64 ",\"state\":\"%s\",\"pid\":%u,"
	       "\"lossy\":%s,\"syncer\":%s,\"entries\":[",
	       e->hdr.txnid, e->hdr.ts, state_name(e->state), e->hdr.pid,
	       e->hdr.flags & MDBTAP_REC_LOSSY ? "true" : "false",
	       e->hdr.flags & MDBTAP_REC_SYNCER ? "true" : "false");
	/* Element ops in "entries", DBI-wide ones in "events"; "at" keeps
	 * their order within the record. */
	while ((rc = record_iter_next(it, &op)) == 1) {
		if (is_element_op(op.type)) {
			printf("%s{", first ? "" : ",");
			first = 0;
			print_json_dbi(&op);
			printf(",\"op\":\"%s\",\"at\":%u,\"key\":\"", record_op_name(op.type), at);
			out_hex(stdout, op.key, op.klen);
			fputc('"', stdout);
			if (op.val) {
				printf(",\"value\":\"");
				out_hex(stdout, op.val, op.vlen);
				fputc('"', stdout);
			}
			fputc('}', stdout);
		}
		at++;
	}
	printf("],\"events\":[");
	first = 1;
	at = 0;
	while (record_iter_next(&again, &op) == 1) {
		if (!is_element_op(op.type)) {
			printf("%s{", first ? "" : ",");
			first = 0;
			print_json_dbi(&op);
			printf(",\"op\":\"%s\",\"at\":%u", record_op_name(op.type), at);
			if (op.type == MDBTAP_OP_CREATE && op.vlen == 4) {
				uint32_t f;

				memcpy(&f, op.val, 4);
				printf(",\"flags\":%u", f);
			}
			fputc('}', stdout);
		}
		at++;
	}
	printf("]%s}\n", rc < 0 ? ",\"corrupt\":true" : "");
}

struct summary {
	uint64_t last_txnid, accounted, tail, head, dropped;
	size_t committed, aborted, pending, corrupt;
	struct acct acct;  /* which ids the records account for (acct.h) */
	struct ids ahead;
};

struct gap_print {
	int json, first;
	uint64_t missing;
};

static int print_range(void *ctx, uint64_t first, uint64_t last)
{
	struct gap_print *g = ctx;

	if (g->json)
		printf("%s[%" PRIu64 ",%" PRIu64 "]", g->first ? "" : ",", first, last);
	else if (first == last)
		printf("%s%" PRIu64, g->first ? " " : ", ", first);
	else
		printf("%s%" PRIu64 "-%" PRIu64, g->first ? " " : ", ", first, last);
	g->first = 0;
	g->missing += last - first + 1;
	return 0;
}

/* The ids no committed record accounts for (gaps and ids in doubt, which
 * only the syncer can settle, by their changes). Returns how many. */
static uint64_t print_unaccounted(const struct acct *a, int json)
{
	struct gap_print g = { json, 1, 0 };

	acct_each_unaccounted(a, print_range, &g);
	if (!json && g.first)
		printf(" none");
	return g.missing;
}

static void print_doubt(const struct acct *a, int json)
{
	for (size_t i = 0; i < a->ndoubt; i++)
		printf("%s%" PRIu64, i ? (json ? "," : ", ") : (json ? "" : " "), a->doubt[i].txnid);
	if (!json && !a->ndoubt)
		printf(" none");
}

static void print_ids(const struct ids *s, int json)
{
	for (size_t i = 0; i < s->n; i++)
		printf("%s%" PRIu64, i ? (json ? "," : ", ") : (json ? "" : " "), s->v[i]);
	if (!json && !s->n)
		printf(" none");
}

static uint64_t print_summary(struct summary *s, int json)
{
	uint64_t missing;

	if (json) {
		printf("{\"summary\":{\"env_last_txnid\":%" PRIu64 ",\"accounted_txnid\":%" PRIu64
		       ",\"tail\":%" PRIu64 ",\"head\":%" PRIu64 ",\"committed\":%zu,\"aborted\":%zu,"
		       "\"pending\":%zu,\"dropped\":%" PRIu64 ",\"corrupt\":%zu,\"unaccounted\":[",
		       s->last_txnid, s->accounted, s->tail, s->head, s->committed, s->aborted,
		       s->pending, s->dropped, s->corrupt);
		missing = print_unaccounted(&s->acct, 1);
		printf("],\"in_doubt\":[");
		print_doubt(&s->acct, 1);
		printf("],\"ahead_of_env\":[");
		print_ids(&s->ahead, 1);
		printf("]}}\n");
		return missing;
	}
	printf("# env last txn id %" PRIu64 ", journal accounts from %" PRIu64 "\n",
	       s->last_txnid, s->accounted + 1);
	printf("# records: %zu committed, %zu aborted, %zu pending; %" PRIu64
	       " dropped (journal full); %zu corrupt\n",
	       s->committed, s->aborted, s->pending, s->dropped, s->corrupt);
	printf("# unaccounted txn ids:");
	missing = print_unaccounted(&s->acct, 0);
	printf("\n# in doubt (pending):");
	print_doubt(&s->acct, 0);
	printf("\n");
	if (s->ahead.n) {
		printf("# ahead of the env (restored from a copy?):");
		print_ids(&s->ahead, 0);
		printf("\n");
	}
	return missing;
}

static int account(struct summary *s, const struct journal_entry *e)
{
	enum acct_kind kind;
	int rc = acct_add(&s->acct, e, &kind);

	if (rc)
		return rc;
	switch (e->state) {
	case MDBTAP_STATE_COMMITTED:
		s->committed++;
		return kind == ACCT_AHEAD ? ids_add(&s->ahead, e->hdr.txnid) : 0;
	case MDBTAP_STATE_PENDING:
		s->pending++;
		return 0;
	default:
		s->aborted++;
		return 0;
	}
}

int cmd_journal(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_CHECK };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "check", no_argument, NULL, OPT_CHECK },
		CLI_OPTS_END,
	};
	struct cli cl;
	int opt;
	struct journal_open_opts jo = { 0 };
	struct summary s = { 0 };
	struct env_where where;
	struct journal_reader rd = { 0 };
	struct journal_entry e;
	struct opts o = { 0 };
	struct journal *j = NULL;
	char err[512];
	uint64_t pos, missing;
	int rc, ret = MDBTAP_EXIT_FAIL;

	cli_begin(&cl, "journal");
	while ((opt = cli_next(&cl, argc, argv, "", opts)) != -1) {
		if (opt == OPT_JSON)
			o.json = 1;
		else
			o.check = 1;
	}
	rc = cli_done(&cl, argc, 1, 1);
	if (rc != CLI_GO)
		return rc;
	o.env = argv[optind];
	rc = env_where(o.env, &where);
	if (rc) {
		fprintf(stderr, "mdbtap journal: %s: %s\n", o.env, err_str(rc));
		return MDBTAP_EXIT_FAIL;
	}
	rc = journal_open(where.companion, &jo, &j);
	if (rc) {
		fprintf(stderr, "mdbtap journal: %s/%s: %s%s\n", where.companion,
			MDBTAP_JOURNAL_FILE, err_str(rc),
			rc == ENOENT ? " (no program with the tap has written to this env yet)" : "");
		return MDBTAP_EXIT_FAIL;
	}
	rc = env_last_txnid(o.env, &where, &s.last_txnid, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "mdbtap journal: %s\n", err);
		goto out;
	}
	s.accounted = journal_load(&journal_header(j)->accounted_txnid);
	acct_init(&s.acct, s.accounted, s.last_txnid);
	s.dropped = journal_load(&journal_header(j)->dropped);
	s.head = journal_load(&journal_header(j)->head);
	pos = s.tail = journal_load(&journal_header(j)->tail);
	for (;;) {
		struct record_iter it;

		rc = journal_read(j, pos, &rd, &e);
		if (rc == 0)
			break;
		if (rc == EAGAIN) { /* the syncer consumed it: go on from its tail */
			pos = journal_load(&journal_header(j)->tail);
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "mdbtap journal: record at %" PRIu64 ": %s; the rest of the journal is unreadable\n",
				pos, err_str(rc));
			s.corrupt++;
			break;
		}
		if (rc != 1) {
			fprintf(stderr, "mdbtap journal: %s\n", err_str(rc));
			goto out;
		}
		pos = e.next;
		if (e.pad)
			continue;
		if (record_iter_init(&it, e.body, e.hdr.body_len, e.hdr.nnames, e.hdr.nops)) {
			fprintf(stderr, "mdbtap journal: record of txn %" PRIu64 ": corrupt names\n",
				e.hdr.txnid);
			s.corrupt++;
			continue;
		}
		if (o.json)
			print_json(&e, &it);
		else
			print_text(&e, &it);
		if (account(&s, &e)) {
			fprintf(stderr, "mdbtap journal: out of memory\n");
			goto out;
		}
	}
	if (acct_finish(&s.acct, s.last_txnid)) {
		fprintf(stderr, "mdbtap journal: out of memory\n");
		goto out;
	}
	missing = print_summary(&s, o.json);
	fflush(stdout);
	ret = o.check && (missing || s.corrupt) ? MDBTAP_EXIT_UNACCOUNTED : MDBTAP_EXIT_OK;
out:
	journal_reader_free(&rd);
	acct_free(&s.acct);
	free(s.ahead.v);
	journal_close(j);
	return ret;
}
