/* clean.c: see clean.h. */
#include "clean.h"

#include "log.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

/* A name dated further ahead than our clock can be (the wall clock plus
 * max_future, which bounds what the merge lets the clock observe) was not
 * made by us: planted, it would pass for our newest full snapshot and
 * have our real objects deleted. */
static int future(const struct clean_obj *o, uint64_t now_ns, uint64_t max_future_ns)
{
	return o->on.ts_ns > now_ns && o->on.ts_ns - now_ns > max_future_ns;
}

unsigned clean_own(struct store *store, const char *env, const struct clean_obj *v, size_t n,
		   uint64_t now_ns, uint64_t max_future_ns, uint64_t keep_ns, enum clean_want *want)
{
	const struct clean_obj *full = NULL;
	uint64_t newest = 0, delta_bytes = 0;
	unsigned deleted = 0, deltas = 0;

	*want = CLEAN_DELTA;
	for (size_t i = 0; i < n; i++) {
		if (future(&v[i], now_ns, max_future_ns))
			continue;
		/* Dated after now: maybe ours (our clock may run ahead by up
		 * to max_future) but maybe planted, so never the full that
		 * supersedes the rest. */
		if (v[i].on.full && v[i].on.ts_ns <= now_ns &&
		    (!full || v[i].on.ts_ns > full->on.ts_ns))
			full = &v[i];
		if (v[i].on.ts_ns > newest)
			newest = v[i].on.ts_ns;
	}
	if (!full)
		return 0; /* never uploaded one: the next export is one anyway */
	for (size_t i = 0; i < n; i++) {
		if (future(&v[i], now_ns, max_future_ns))
			continue; /* neither kept count of nor deleted */
		if (v[i].on.ts_ns > full->on.ts_ns) {
			deltas++;
			delta_bytes += v[i].size;
		} else if (&v[i] != full && now_ns > v[i].on.ts_ns &&
			   now_ns - v[i].on.ts_ns > keep_ns) {
			int rc = store_del(store, v[i].name);

			if (rc)
				log_msg(MDBTAP_LOG_WARN, "%s: %s", env, store_error(store));
			else
				deleted++;
		}
	}
	if (deltas && now_ns > newest && now_ns - newest >= keep_ns)
		*want = CLEAN_FULL_NOW;
	else if (deltas >= CLEAN_MAX_DELTAS || (deltas && delta_bytes >= full->size))
		*want = CLEAN_FULL_NEXT;
	if (deleted)
		log_msg(MDBTAP_LOG_INFO, "%s: deleted %u of our objects older than our newest full "
			"snapshot", env, deleted);
	return deleted;
}

struct upick {
	const char *db, *self;
	uint64_t now_ns, keep_ns;
};

/* Ours (the prefix listed may take in longer names) and old enough. */
static int stale_upload(void *ctx, const char *name, uint64_t initiated_ns)
{
	const struct upick *p = ctx;
	struct objname on;

	if (objname_parse(name, &on) || strcmp(on.db, p->db) || strcmp(on.instance, p->self))
		return 0;
	return initiated_ns < p->now_ns && p->now_ns - initiated_ns > p->keep_ns;
}

unsigned clean_uploads(struct store *store, const char *env, const char *db, const char *self,
		       uint64_t now_ns, uint64_t keep_ns, uint64_t *next_ns)
{
	struct upick p = { db, self, now_ns, keep_ns };
	char prefix[STORE_NAME_MAX + 1];
	unsigned aborted = 0;
	int rc;

	if (now_ns < *next_ns)
		return 0;
	*next_ns = now_ns + CLEAN_UPLOADS_EVERY_NS;
	if ((size_t)snprintf(prefix, sizeof(prefix), "%s__%s__", db, self) >= sizeof(prefix))
		return 0;
	rc = store_abort_uploads(store, prefix, stale_upload, &p, &aborted);
	if (rc)
		log_msg(MDBTAP_LOG_WARN, "%s: unfinished uploads: %s", env, store_error(store));
	if (aborted)
		log_msg(MDBTAP_LOG_INFO, "%s: aborted %u of our uploads left unfinished", env, aborted);
	return aborted;
}
