/* acct.c: see acct.h. */
#include "acct.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

void acct_init(struct acct *a, uint64_t from, uint64_t upto)
{
	memset(a, 0, sizeof(*a));
	a->from = from;
	a->upto = upto;
}

void acct_free(struct acct *a)
{
	free(a->gaps);
	free(a->doubt);
	memset(a, 0, sizeof(*a));
}

static int add_gap(struct acct *a, uint64_t first, uint64_t last)
{
	struct acct_range *g = a->ngaps ? &a->gaps[a->ngaps - 1] : NULL;

	if (first > last)
		return 0;
	if (g && g->last + 1 >= first) {
		if (last > g->last)
			g->last = last;
		return 0;
	}
	if (vec_grow(&a->gaps, a->ngaps, &a->capgaps, sizeof(*a->gaps)))
		return ENOMEM;
	a->gaps[a->ngaps++] = (struct acct_range){ first, last };
	return 0;
}

/* The first id not settled yet. */
static uint64_t next_id(const struct acct *a)
{
	return a->cur ? a->cur + 1 : a->from + 1;
}

/* The records of id a->cur are all in: only ABORTED ones leave it a gap. */
static int settle(struct acct *a)
{
	if (a->cur && a->cur_state == MDBTAP_STATE_ABORTED)
		return add_gap(a, a->cur, a->cur);
	return 0;
}

static int claim(struct acct *a, const struct journal_entry *e, enum acct_kind *kind)
{
	a->cur_state = e->state;
	switch (e->state) {
	case MDBTAP_STATE_COMMITTED:
		*kind = ACCT_COMMITTED;
		return 0;
	case MDBTAP_STATE_PENDING:
		if (vec_grow(&a->doubt, a->ndoubt, &a->capdoubt, sizeof(*a->doubt)))
			return ENOMEM;
		a->doubt[a->ndoubt++] = (struct acct_doubt){ e->hdr.txnid, e->pos, e->hdr.pid };
		*kind = ACCT_PENDING;
		return 0;
	default:
		a->cur_state = MDBTAP_STATE_ABORTED; /* an unknown state counts for nothing */
		*kind = ACCT_SKIP;
		return 0;
	}
}

int acct_add(struct acct *a, const struct journal_entry *e, enum acct_kind *kind)
{
	uint64_t t = e->hdr.txnid;
	int rc;

	*kind = ACCT_SKIP;
	if (e->pad || t <= a->from)
		return 0;
	if (t > a->upto) {
		*kind = ACCT_AHEAD;
		return 0;
	}
	if (t < a->cur)
		return 0; /* ids never go down in one env's ring (a replaced env is the fold's) */
	if (t == a->cur) {
		if (a->cur_state == MDBTAP_STATE_COMMITTED)
			return 0; /* nothing can follow a commit of the same id */
		if (a->cur_state == MDBTAP_STATE_PENDING)
			a->ndoubt--; /* that writer's commit never happened: this one got its id */
		return claim(a, e, kind);
	}
	rc = settle(a);
	if (!rc)
		rc = add_gap(a, next_id(a), t - 1);
	if (rc)
		return rc;
	a->cur = t;
	return claim(a, e, kind);
}

int acct_finish(struct acct *a, uint64_t last)
{
	int rc = 0;

	if (last > a->upto)
		last = a->upto;
	if (a->cur > last) {
		/* The caller stopped before id a->cur: forget it and what follows. */
		while (a->ndoubt && a->doubt[a->ndoubt - 1].txnid > last)
			a->ndoubt--;
		while (a->ngaps && a->gaps[a->ngaps - 1].first > last)
			a->ngaps--;
		if (a->ngaps && a->gaps[a->ngaps - 1].last > last)
			a->gaps[a->ngaps - 1].last = last;
	} else {
		rc = settle(a);
		if (!rc)
			rc = add_gap(a, next_id(a), last);
	}
	a->cur = last > a->from ? last : 0;
	a->cur_state = MDBTAP_STATE_COMMITTED;
	a->finished = 1;
	return rc;
}

int acct_each_unaccounted(const struct acct *a, acct_range_fn fn, void *ctx)
{
	size_t g = 0, d = 0;
	struct acct_range run = { 0, 0 };
	int have = 0, rc;

	while (g < a->ngaps || d < a->ndoubt) {
		struct acct_range r;

		if (d >= a->ndoubt || (g < a->ngaps && a->gaps[g].first < a->doubt[d].txnid)) {
			r = a->gaps[g++];
		} else {
			r.first = r.last = a->doubt[d++].txnid;
		}
		if (have && run.last + 1 >= r.first) {
			if (r.last > run.last)
				run.last = r.last;
			continue;
		}
		if (have && (rc = fn(ctx, run.first, run.last)) != 0)
			return rc;
		run = r;
		have = 1;
	}
	return have ? fn(ctx, run.first, run.last) : 0;
}

int acct_writer_alive(uint32_t pid)
{
	return pid && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}
