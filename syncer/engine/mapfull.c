/* mapfull.c: see mapfull.h. */
#include "mapfull.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static struct senv_full *find(struct senv *s, const char *name)
{
	for (unsigned i = 0; i < SENV_FULL_SLOTS; i++)
		if (s->full[i].name[0] && !strcmp(s->full[i].name, name))
			return &s->full[i];
	return NULL;
}

int mapfull_wait(struct senv *s, const char *name, uint64_t *skip)
{
	struct senv_full *f = find(s, name);
	MDB_envinfo info;
	uint64_t mapsize, txnid;

	*skip = 0;
	if (!f)
		return 0;
	if (senv_file_map(s, &mapsize, &txnid))
		return 0; /* cannot tell: try, the merge says what fails */
	if (mapsize == f->mapsize && txnid == f->txnid)
		return 1;
	/* The program recorded a larger map: take it, as on MDB_MAP_RESIZED
	 * (never a size of our own). No txn of ours is open here. */
	if (!mdb_env_info(s->host, &info) && mapsize > info.me_mapsize &&
	    !senv_lock(s, 0)) {
		int rc = mdb_env_set_mapsize(s->host, 0);

		senv_unlock(s);
		if (rc)
			log_msg(MDBTAP_LOG_WARN, "%s: taking the map size the data file records: %s",
				s->path, mdb_strerror(rc));
		else
			log_msg(MDBTAP_LOG_INFO, "%s: the host's map is now %llu MiB", s->path,
				(unsigned long long)(mapsize >> 20));
	}
	*skip = f->done;
	if (f->done)
		log_msg(MDBTAP_LOG_INFO, "%s: %s: the host's data file changed, the merge resumes "
			"after the %llu elements merged before the map was full", s->path, name,
			(unsigned long long)f->done);
	return 0;
}

void mapfull_stopped(struct senv *s, const char *name, uint64_t done)
{
	struct senv_full *f = find(s, name);
	MDB_envinfo info;
	uint64_t mapsize = 0, txnid = 0;

	s->stats.merges_map_full++;
	if (!f && strlen(name) < SENV_FULL_NAME) {
		f = &s->full[s->full_next++ % SENV_FULL_SLOTS];
		snprintf(f->name, sizeof(f->name), "%s", name);
		f->done = 0;
	}
	if (mdb_env_info(s->host, &info))
		info.me_mapsize = 0;
	if (f) {
		/* What the file says after the failed txn (aborted: nothing
		 * of it committed), to see when it changes. */
		if (senv_file_map(s, &mapsize, &txnid))
			mapsize = txnid = UINT64_MAX; /* unknown: try again next cycle */
		if (done > f->done)
			f->done = done;
		f->mapsize = mapsize;
		f->txnid = txnid;
	}
	if (s->full_logged) {
		log_msg(MDBTAP_LOG_DEBUG, "%s: %s still does not fit in the host's map", s->path,
			name);
		return;
	}
	s->full_logged = 1;
	if (s->created) {
		/* The syncer made this env and sizes its map (ownmap.h). */
		log_msg(MDBTAP_LOG_ERROR, "%s: the map (%llu MiB) of the env the syncer created "
			"is full: merging %s stopped after %llu elements. Raise map_size "
			"(--map-size) and restart the syncer: the merge then resumes where it "
			"stopped (keep it no larger than the map size of the program that will use "
			"the env). Logged once, counted in `mdbtap stats` (merges "
			"stopped by a full map)", s->path,
			(unsigned long long)(info.me_mapsize >> 20), name,
			(unsigned long long)(f ? f->done : done));
		return;
	}
	log_msg(MDBTAP_LOG_ERROR, "%s: the host's map (%llu MiB) is full: merging %s stopped "
		"after %llu elements and waits for room. Raise the map size of the program "
		"that uses this env (PowerDNS: lmdb-map-size; postfix: lmdb_map_size; "
		"py-lmdb: lmdb.open(map_size=...); LMDB's C API: mdb_env_set_mapsize) and let "
		"it commit a write with the new size, or delete data: the merge then resumes "
		"where it stopped. mdbtap never grows a program's map. The host keeps working; "
		"logged once, counted in `mdbtap stats` (merges stopped by a full map)",
		s->path, (unsigned long long)(info.me_mapsize >> 20), name,
		(unsigned long long)(f ? f->done : done));
}

/* Whether object name (db__instance__...) is one of instance's. */
static int of_instance(const char *name, const char *instance)
{
	const char *p = strstr(name, "__");
	size_t n = strlen(instance);

	return p && !strncmp(p + 2, instance, n) && !strncmp(p + 2 + n, "__", 2);
}

void mapfull_applied(struct senv *s, const char *name, const char *instance)
{
	int left = 0;

	/* An instance's objects are applied in order: one applied means
	 * those of its that stopped before are done or superseded (a newer
	 * full snapshot). */
	for (unsigned i = 0; i < SENV_FULL_SLOTS; i++) {
		struct senv_full *f = &s->full[i];

		if (f->name[0] && (!strcmp(f->name, name) || of_instance(f->name, instance)))
			memset(f, 0, sizeof(*f));
		left |= f->name[0] != 0;
	}
	if (s->full_logged && !left) {
		s->full_logged = 0;
		log_msg(MDBTAP_LOG_INFO, "%s: the host's map has room again: %s applied",
			s->path, name);
	}
}

void mapfull_forget(struct senv *s)
{
	memset(s->full, 0, sizeof(s->full));
}
