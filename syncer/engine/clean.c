/* clean.c: see clean.h. */
#include "clean.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store.h"

unsigned clean_own(struct store *store, const char *env, const struct clean_obj *v, size_t n,
		   uint64_t now_ns, const struct clean_self *me, uint64_t keep_ns,
		   enum clean_want *want)
{
	const struct clean_obj *full = NULL;
	uint64_t newest, delta_bytes = 0;
	unsigned deleted = 0, deltas = 0;

	*want = CLEAN_DELTA;
	/* Our newest full snapshot is the one our metadata says we uploaded,
	 * never merely the newest name that looks like one: a planted name
	 * (dated ahead, or in our chain) would pass for it. */
	for (size_t i = 0; me->full_ns && i < n; i++)
		if (v[i].on.full && v[i].on.generation == me->generation &&
		    v[i].on.ts_ns == me->full_ns)
			full = &v[i];
	if (!full)
		return 0; /* none yet, or not listed: keep everything */
	newest = full->on.ts_ns;
	for (size_t i = 0; i < n; i++) {
		if (v[i].on.ts_ns > full->on.ts_ns) {
			if (v[i].on.generation != me->generation || v[i].on.ts_ns > me->last_ns)
				continue; /* not ours: neither kept count of nor deleted */
			deltas++;
			delta_bytes += v[i].size;
			if (v[i].on.ts_ns > newest)
				newest = v[i].on.ts_ns;
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
