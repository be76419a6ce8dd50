/* statfile.c: the syncer's counters in a shared mapped file. */
#include "statfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "out.h"

#define MAGIC 0x3141545354424d44ull   /* "DMBTSTA1" little-endian */
#define READ_TRIES 1000
#define BACKLOG_MAX 1000000    /* records counted at most; beyond, a lower bound */

struct layout {
	uint64_t magic;
	uint64_t size;                /* sizeof(struct layout): a changed layout is refused */
	uint64_t seq;                 /* odd while the syncer writes */
	struct statfile_data d;
};

/* The file is read by `mdbtap stats` of the same build (size checks the
 * rest at run time); the header's place must never move. */
_Static_assert(offsetof(struct layout, size) == 8, "statfile: size at 8");
_Static_assert(offsetof(struct layout, seq) == 16, "statfile: seq at 16");
_Static_assert(offsetof(struct layout, d) == 24, "statfile: data at 24");
_Static_assert(sizeof(struct layout) % 8 == 0, "statfile: whole 8-byte words");

struct statfile {
	struct layout *map;
};

static void path_of(char *p, size_t n, const char *companion)
{
	snprintf(p, n, "%s/%s", companion, STATFILE_NAME);
}

int statfile_open(const char *companion, const struct jdir_trust *t, struct statfile **out)
{
	struct statfile *f = calloc(1, sizeof(*f));
	int dfd, fd = -1, rc;

	*out = NULL;
	if (!f)
		return ENOMEM;
	/* Checked like every file of the companion dir (jdir.h): it is
	 * truncated and written, never through a link. */
	rc = jdir_open(companion, t, 0, &dfd);
	if (!rc) {
		rc = jdir_openat(dfd, STATFILE_NAME, O_RDWR | O_CREAT, t, &fd);
		close(dfd);
	}
	if (!rc && ftruncate(fd, sizeof(struct layout)))
		rc = errno;
	if (!rc) {
		f->map = mmap(NULL, sizeof(struct layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (f->map == MAP_FAILED)
			rc = errno;
	}
	if (fd >= 0)
		close(fd);
	if (rc) {
		free(f);
		return rc;
	}
	__atomic_store_n(&f->map->seq, 1, __ATOMIC_RELAXED);
	f->map->size = sizeof(struct layout);
	__atomic_store_n(&f->map->magic, MAGIC, __ATOMIC_RELEASE);
	memset(&f->map->d, 0, sizeof(f->map->d));
	__atomic_store_n(&f->map->seq, 2, __ATOMIC_RELEASE);
	*out = f;
	return 0;
}

void statfile_update(struct statfile *f, const struct statfile_data *d)
{
	uint64_t seq = __atomic_load_n(&f->map->seq, __ATOMIC_RELAXED) | 1;

	__atomic_store_n(&f->map->seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(&f->map->d, d, sizeof(*d));
	__atomic_store_n(&f->map->seq, seq + 1, __ATOMIC_RELEASE);
}

void statfile_close(struct statfile *f)
{
	if (f) {
		munmap(f->map, sizeof(struct layout));
		free(f);
	}
}

int statfile_read(const char *companion, struct statfile_data *d)
{
	char path[PATH_MAX];
	struct layout *m;
	struct stat st;
	int fd, rc = EAGAIN;

	path_of(path, sizeof(path), companion);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) || st.st_size != (off_t)sizeof(struct layout)) {
		close(fd);
		return EPROTO;
	}
	m = mmap(NULL, sizeof(*m), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return errno;
	if (__atomic_load_n(&m->magic, __ATOMIC_ACQUIRE) != MAGIC || m->size != sizeof(*m))
		rc = EPROTO;
	for (int i = 0; rc == EAGAIN && i < READ_TRIES; i++) {
		uint64_t s1 = __atomic_load_n(&m->seq, __ATOMIC_ACQUIRE);

		if (s1 & 1)
			continue;
		memcpy(d, &m->d, sizeof(*d));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&m->seq, __ATOMIC_RELAXED) == s1)
			rc = 0;
	}
	/* Strings end inside their arrays, whatever the file holds. */
	d->store_url[sizeof(d->store_url) - 1] = 0;
	d->misfits[sizeof(d->misfits) - 1] = 0;
	d->last_error[sizeof(d->last_error) - 1] = 0;
	for (size_t i = 0; i < STATFILE_MAX_REMOTES; i++)
		d->remotes[i].name[sizeof(d->remotes[i].name) - 1] = 0;
	munmap(m, sizeof(*m));
	return rc;
}

static int add_remote(void *ctx, const char *instance, const struct meta_remote *r)
{
	struct statfile_data *d = ctx;

	if (d->nremotes < STATFILE_MAX_REMOTES) {
		struct statfile_remote *o = &d->remotes[d->nremotes];

		snprintf(o->name, sizeof(o->name), "%s", instance);
		o->newest_ns = r->name_ns;
		o->to = r->to;
	}
	d->nremotes++;
	return 0;
}

/* One record of refusals into d: counted, and told in d->misfits while
 * it has room (cut to fit). */
static int add_misfit(void *ctx, const char *name, size_t len, const char *instance,
		      const struct meta_misfit *mf)
{
	struct statfile_data *d = ctx;
	size_t at = strnlen(d->misfits, sizeof(d->misfits));
	char shown[200]; /* a remote's DBI name: escaped */

	d->misfits_held += mf->n;
	d->misfit_pairs++;
	if (at + 1 < sizeof(d->misfits)) /* else full: cut, as the counts say */
		snprintf(d->misfits + at, sizeof(d->misfits) - at, "%s%s from %s: %llu",
			 at ? "; " : "",
			 len ? out_escape(shown, sizeof(shown), name, len) : "(unnamed)", instance,
			 (unsigned long long)mf->n);
	return 0;
}

/* The records in [tail, head): what the next folds have to read. */
static void backlog(struct journal *j, struct statfile_data *d)
{
	struct mdbtap_journal_header *h = journal_header(j);
	struct journal_reader rd = { 0 };
	struct journal_entry e;
	uint64_t pos = journal_load(&h->tail), head = journal_load(&h->head);

	d->journal_capacity = h->capacity;
	d->journal_dropped = journal_load(&h->dropped);
	d->backlog_bytes = head > pos ? head - pos : 0;
	d->backlog_records = 0;
	while (pos < head && d->backlog_records < BACKLOG_MAX &&
	       journal_read(j, pos, &rd, &e) == 1) {
		d->backlog_records += !e.pad;
		pos = e.next;
	}
	journal_reader_free(&rd);
}

int statfile_gather(struct senv *s, struct statfile_data *d)
{
	struct meta_state st;
	MDB_txn *txn;
	int rc;

	if (s->jnl)
		backlog(s->jnl, d);
	d->nremotes = 0;
	if (!s->meta)
		return 0; /* no syncer has run: the journal says it all */
	rc = mdb_txn_begin(meta_env(s->meta), NULL, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	rc = meta_state_get(txn, s->meta, &st);
	if (!rc) {
		d->accounted = st.accounted;
		d->exported = st.exported;
		d->last_obj_ns = st.last_obj_ns;
		d->last_full_ns = st.last_full_ns;
		rc = meta_remote_each(txn, s->meta, add_remote, d);
	}
	d->misfits[0] = 0;
	d->misfits_held = d->misfit_pairs = 0;
	if (!rc)
		rc = meta_misfit_each(txn, s->meta, add_misfit, d);
	mdb_txn_abort(txn);
	return rc;
}
