/* journal.c: the journal file, a ring of records in a shared mapping.
 *
 * Why a mapped ring in a companion file rather than a DBI in the host's
 * env: appending is a memcpy (no syscall, no extra B-tree commit), nothing
 * of ours is visible in the host's env, map or DBI slots, and a killed
 * process loses nothing (the page cache keeps the mapping's writes). The
 * price is that the record is not in the host's transaction: it is written
 * PENDING before the commit and marked after it (see include/mdbtap.h).
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "hlc.h"
#include "jdir.h"

struct journal {
	int fd;
	size_t map_len;
	struct mdbtap_journal_header *hdr;
	uint8_t *ring;
	uint64_t capacity;
};

static uint64_t align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

/* The writer's pid for every record, without a system call per record:
 * getpid() enters the kernel (about 2 us on a VM with the usual
 * mitigations: a fifth of a one-put NOSYNC commit). It is kept on a page
 * the kernel zeroes in the child of any kind of fork (MADV_WIPEONFORK,
 * Linux 4.14; fork handlers would miss _Fork and raw clone), so a child
 * never writes its parent's pid. Without that page, getpid() every time. */
static uint32_t *pid_cache;
static pthread_once_t pid_cache_once = PTHREAD_ONCE_INIT;

static void pid_cache_init(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return;
	if (madvise(p, (size_t)page, MADV_WIPEONFORK) != 0) {
		munmap(p, (size_t)page);
		return;
	}
	pid_cache = p;
}

static uint32_t writer_pid(void)
{
	uint32_t pid;

	if (pthread_once(&pid_cache_once, pid_cache_init) != 0 || !pid_cache)
		return (uint32_t)getpid();
	pid = __atomic_load_n(pid_cache, __ATOMIC_RELAXED);
	if (!pid) {
		pid = (uint32_t)getpid();
		__atomic_store_n(pid_cache, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

int journal_companion_dir(const char *env_path, int nosubdir, char *buf, size_t cap)
{
	char real[PATH_MAX];
	int n;

	/* One env, one companion, whatever path names it (a symlink, "..",
	 * a bind of its directory): the syncer lock and the journal live
	 * there (docs/DESIGN.md §10). A path that does not resolve is kept. */
	if (realpath(env_path, real))
		env_path = real;
	n = nosubdir
		? snprintf(buf, cap, "%s%s", env_path, MDBTAP_COMPANION_SUFFIX)
		: snprintf(buf, cap, "%s/%s", env_path, MDBTAP_COMPANION_SUBDIR);

	return n < 0 || (size_t)n >= cap ? ENAMETOOLONG : 0;
}

/* Fill a new file: reserve the blocks first, so that a full disk shows
 * now as an error and never later as SIGBUS in the host. */
static int init_file(int fd, const struct journal_open_opts *o)
{
	struct mdbtap_journal_header h;
	uint64_t cap = o->capacity ? align8(o->capacity) : MDBTAP_JOURNAL_DEFAULT_CAPACITY;
	int rc;

	if (cap < MDBTAP_JOURNAL_MIN_CAPACITY)
		cap = MDBTAP_JOURNAL_MIN_CAPACITY;
	if (cap > (1ull << 30))
		cap = 1ull << 30; /* pad records hold their size in 32 bits */
	rc = posix_fallocate(fd, 0, (off_t)(MDBTAP_JOURNAL_HEADER_SIZE + cap));
	if (rc == EOPNOTSUPP || rc == EINVAL) {
		if (ftruncate(fd, (off_t)(MDBTAP_JOURNAL_HEADER_SIZE + cap)) != 0)
			return errno;
	} else if (rc) {
		return rc;
	}
	memset(&h, 0, sizeof(h));
	h.version = MDBTAP_JOURNAL_VERSION;
	h.header_size = MDBTAP_JOURNAL_HEADER_SIZE;
	h.capacity = cap;
	h.base_txnid = o->base_txnid;
	h.accounted_txnid = o->base_txnid;
	h.created_ns = hlc_wall_ns();
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return errno ? errno : EIO;
	/* The magic goes last: a file without it was never whole. */
	if (pwrite(fd, MDBTAP_JOURNAL_MAGIC, 8, 0) != 8)
		return errno ? errno : EIO;
	return 0;
}

/* Whether a header read from a file of file_size bytes may be mapped and
 * written into: every field the writers index the mapping with is in
 * bounds and aligned (a file swapped in by someone else must not make a
 * host write outside its mapping). */
int journal_check_header(const struct mdbtap_journal_header *h, uint64_t file_size)
{
	if (memcmp(h->magic, MDBTAP_JOURNAL_MAGIC, 8) != 0)
		return MDBTAP_E_FORMAT;
	if (h->version != MDBTAP_JOURNAL_VERSION)
		return MDBTAP_E_VERSION;
	if (h->header_size != MDBTAP_JOURNAL_HEADER_SIZE || h->capacity % 8 ||
	    h->capacity < MDBTAP_JOURNAL_MIN_CAPACITY || h->capacity > (1ull << 30) ||
	    file_size < MDBTAP_JOURNAL_HEADER_SIZE + h->capacity)
		return MDBTAP_E_CORRUPT;
	if (h->head % 8 || h->tail % 8 || h->tail > h->head || h->head - h->tail > h->capacity)
		return MDBTAP_E_CORRUPT;
	return 0;
}

/* A new journal: made whole under a temporary name, then linked to its
 * name, which never replaces anything. So the name only ever points at a
 * whole journal, and only a file this process just created is ever
 * initialised (anything else at the name is validated, never rewritten). */
static int create_file(int dfd, const struct jdir_trust *t, const struct journal_open_opts *o,
		       int *fdp)
{
	char tmp[64];
	int fd, rc;

	rc = jdir_create_tmp(dfd, t, tmp, sizeof(tmp), &fd);
	if (rc)
		return rc;
	rc = init_file(fd, o);
	if (rc) {
		(void)unlinkat(dfd, tmp, 0);
		close(fd);
		return rc;
	}
	rc = jdir_link(dfd, tmp, MDBTAP_JOURNAL_FILE);
	if (rc == EEXIST) { /* another process made it meanwhile: use theirs */
		close(fd);
		return jdir_openat(dfd, MDBTAP_JOURNAL_FILE, O_RDWR, t, fdp);
	}
	if (rc) {
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

static int open_file(const char *dir, const struct journal_open_opts *o, int *fdp)
{
	struct jdir_trust t;
	int dfd, rc;

	jdir_trust_of(o->env_data, o->mode, &t);
	rc = jdir_open(dir, &t, o->create && o->writable, &dfd);
	if (rc)
		return rc;
	rc = jdir_openat(dfd, MDBTAP_JOURNAL_FILE, o->writable ? O_RDWR : O_RDONLY, &t, fdp);
	if (rc == ENOENT && o->create && o->writable)
		rc = create_file(dfd, &t, o, fdp);
	close(dfd);
	return rc;
}

int journal_open(const char *dir, const struct journal_open_opts *o, struct journal **out)
{
	struct mdbtap_journal_header h;
	struct journal *j;
	struct stat st;
	void *map;
	int fd, rc;

	*out = NULL;
	rc = open_file(dir, o, &fd);
	if (rc)
		return rc;
	if (fstat(fd, &st) != 0) {
		rc = errno;
		goto out_close;
	}
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		rc = MDBTAP_E_FORMAT;
		goto out_close;
	}
	rc = journal_check_header(&h, (uint64_t)st.st_size);
	if (rc)
		goto out_close;
	j = calloc(1, sizeof(*j));
	if (!j) {
		rc = ENOMEM;
		goto out_close;
	}
	j->map_len = MDBTAP_JOURNAL_HEADER_SIZE + h.capacity;
	map = mmap(NULL, j->map_len, PROT_READ | (o->writable ? PROT_WRITE : 0),
		   MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = errno;
		free(j);
		goto out_close;
	}
	j->fd = fd;
	j->hdr = map;
	j->ring = (uint8_t *)map + MDBTAP_JOURNAL_HEADER_SIZE;
	j->capacity = h.capacity;
	*out = j;
	return 0;

out_close:
	close(fd);
	return rc;
}

int journal_replace_older(const char *dir, const struct journal_open_opts *o)
{
	struct mdbtap_journal_header h;
	struct jdir_trust t;
	char tmp[64];
	int dfd, fd, rc;

	if (!o->writable)
		return EINVAL;
	jdir_trust_of(o->env_data, o->mode, &t);
	rc = jdir_open(dir, &t, 0, &dfd);
	if (rc)
		return rc;
	/* The old one is checked like any journal we would use: ours. */
	rc = jdir_openat(dfd, MDBTAP_JOURNAL_FILE, O_RDONLY, &t, &fd);
	if (rc)
		goto out;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h.magic, MDBTAP_JOURNAL_MAGIC, 8) != 0)
		rc = MDBTAP_E_FORMAT;
	else if (h.version == 0 || h.version >= MDBTAP_JOURNAL_VERSION)
		rc = MDBTAP_E_VERSION; /* a newer syncer's: not ours to judge */
	close(fd);
	if (rc)
		goto out;
	rc = jdir_create_tmp(dfd, &t, tmp, sizeof(tmp), &fd);
	if (rc)
		goto out;
	rc = init_file(fd, o);
	/* rename(2) replaces the name at once: an opener sees the old file
	 * or the new whole one, never none. */
	if (rc == 0 && renameat(dfd, tmp, dfd, MDBTAP_JOURNAL_FILE) != 0)
		rc = errno;
	if (rc)
		(void)unlinkat(dfd, tmp, 0);
	close(fd);
out:
	close(dfd);
	return rc;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	munmap(j->hdr, j->map_len);
	close(j->fd);
	free(j);
}

struct mdbtap_journal_header *journal_header(struct journal *j) { return j->hdr; }

uint64_t journal_clock_next(struct journal *j)
{
	uint64_t last = __atomic_load_n(&j->hdr->clock, __ATOMIC_RELAXED);
	uint64_t next;

	do {
		next = hlc_next(hlc_wall_ns(), last);
	} while (!__atomic_compare_exchange_n(&j->hdr->clock, &last, next, 0,
					      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return next;
}

void journal_clock_observe(struct journal *j, uint64_t ts)
{
	uint64_t last = __atomic_load_n(&j->hdr->clock, __ATOMIC_RELAXED);

	while (hlc_observe(last, ts) != last &&
	       !__atomic_compare_exchange_n(&j->hdr->clock, &last, ts, 0,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		;
}

size_t journal_max_body(const struct journal *j)
{
	/* A record may need a pad before it; half the ring always fits
	 * once the syncer has consumed everything. */
	return (size_t)(j->capacity / 2 - sizeof(struct mdbtap_record) - 8);
}

static uint32_t record_crc(const struct mdbtap_record *r, const void *body, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);

	c = crc32(c, (const Bytef *)r + MDBTAP_RECORD_CRC_OFFSET, MDBTAP_RECORD_CRC_LEN);
	c = crc32_z(c, body, len);
	return (uint32_t)c;
}

int journal_append(struct journal *j, const struct journal_append_in *in, struct journal_slot *slot)
{
	struct mdbtap_journal_header *h = j->hdr;
	size_t body_len = in->names_len + in->ops_len;
	uint64_t size = align8(sizeof(struct mdbtap_record) + body_len);
	uint64_t head = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
	uint64_t tail = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
	uint64_t off = head % j->capacity, pad = 0, pos;
	struct mdbtap_record *r;

	slot->state = NULL;
	slot->hdr = h; /* a dropped record wakes the syncer too: it rescans */
	if (tail > head || head - tail > j->capacity)
		return MDBTAP_E_CORRUPT;
	if (off + size > j->capacity)
		pad = j->capacity - off;
	if (body_len > journal_max_body(j) || head + pad + size - tail > j->capacity) {
		__atomic_fetch_add(&h->dropped, 1, __ATOMIC_RELAXED);
		return MDBTAP_E_FULL;
	}
	if (pad) {
		struct mdbtap_record *p = (struct mdbtap_record *)(j->ring + off);

		p->magic = MDBTAP_PAD_MAGIC;
		p->size = (uint32_t)pad;
	}
	pos = head + pad;
	r = (struct mdbtap_record *)(j->ring + pos % j->capacity);
	r->magic = MDBTAP_RECORD_MAGIC;
	r->size = (uint32_t)size;
	r->txnid = in->txnid;
	r->ts = in->ts;
	r->pid = writer_pid();
	r->flags = in->flags;
	r->nnames = in->nnames;
	r->nops = in->nops;
	r->body_len = (uint32_t)body_len;
	if (in->names_len) /* a record may have no names and no ops */
		memcpy(r + 1, in->names, in->names_len);
	if (in->ops_len)
		memcpy((uint8_t *)(r + 1) + in->names_len, in->ops, in->ops_len);
	memset((uint8_t *)(r + 1) + body_len, 0, size - sizeof(*r) - body_len);
	r->crc = record_crc(r, r + 1, body_len);
	__atomic_store_n(&r->state, pos | MDBTAP_STATE_PENDING, __ATOMIC_RELAXED);
	/* Publish: a reader that sees the new head sees the whole record. */
	__atomic_store_n(&h->head, pos + size, __ATOMIC_RELEASE);
	slot->state = &r->state;
	slot->pos = pos;
	return 0;
}

void journal_consume(struct journal *j, uint64_t pos, uint64_t accounted_txnid)
{
	struct mdbtap_journal_header *h = j->hdr;

	/* accounted first: a reader that sees the new tail sees it too. */
	__atomic_store_n(&h->accounted_txnid, accounted_txnid, __ATOMIC_RELEASE);
	if (pos > journal_load(&h->tail) && pos <= journal_load(&h->head))
		__atomic_store_n(&h->tail, pos, __ATOMIC_RELEASE);
}

void journal_finish(const struct journal_slot *slot, int committed)
{
	uint64_t expect = slot->pos | MDBTAP_STATE_PENDING;

	if (!slot->state)
		return;
	__atomic_compare_exchange_n(slot->state, &expect,
				    slot->pos | (committed ? MDBTAP_STATE_COMMITTED
							   : MDBTAP_STATE_ABORTED),
				    0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED); /* SEQ_CST: journal_notify */
}

void journal_reader_free(struct journal_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

int journal_read(struct journal *j, uint64_t pos, struct journal_reader *rd, struct journal_entry *e)
{
	const struct mdbtap_journal_header *h = j->hdr;
	uint64_t head = journal_load(&h->head);
	uint64_t off = pos % j->capacity;
	const struct mdbtap_record *r = (const void *)(j->ring + off);
	uint32_t magic, size;
	uint64_t state;

	memset(e, 0, sizeof(*e));
	e->pos = pos;
	if (pos >= head)
		return 0;
	if (pos % 8 || j->capacity - off < 8)
		return MDBTAP_E_CORRUPT;
	magic = __atomic_load_n(&r->magic, __ATOMIC_RELAXED);
	size = __atomic_load_n(&r->size, __ATOMIC_RELAXED);
	if (size < 8 || size % 8 || size > j->capacity - off || size > head - pos)
		return MDBTAP_E_CORRUPT;
	if (magic == MDBTAP_PAD_MAGIC) {
		e->pad = 1;
		e->next = pos + size;
		return 1;
	}
	if (magic != MDBTAP_RECORD_MAGIC || size < sizeof(*r))
		return MDBTAP_E_CORRUPT;
	if (rd->cap < size) {
		uint8_t *nb = realloc(rd->buf, size);

		if (!nb)
			return ENOMEM;
		rd->buf = nb;
		rd->cap = size;
	}
	state = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
	memcpy(rd->buf, r, size);
	/* The copy is whole unless the syncer consumed the record meanwhile. */
	if (journal_load(&h->tail) > pos)
		return EAGAIN;
	memcpy(&e->hdr, rd->buf, sizeof(e->hdr));
	if ((state & ~(uint64_t)MDBTAP_STATE_MASK) != pos ||
	    e->hdr.body_len > size - sizeof(*r))
		return MDBTAP_E_CORRUPT;
	e->body = rd->buf + sizeof(*r);
	if (record_crc(&e->hdr, e->body, e->hdr.body_len) != e->hdr.crc)
		return MDBTAP_E_CORRUPT;
	e->state = (unsigned)(state & MDBTAP_STATE_MASK);
	e->next = pos + size;
	return 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void journal_notify(const struct journal_slot *slot)
{
	struct mdbtap_journal_header *h = slot->hdr;
	uint64_t until;
	int saved;

	if (!h)
		return;
	/* Pairs with journal_arm's fence: the syncer sees our record's state,
	 * or we see its deadline. journal_finish's compare and swap is
	 * sequentially consistent, and so is this load (on x86 a locked
	 * instruction and a plain load: no fence of our own); a record that
	 * was dropped had none. */
	if (!slot->state)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	until = __atomic_load_n(&h->wake_until, __ATOMIC_SEQ_CST);
	if (!until)
		return;
	if (mono_ns() > until) { /* its syncer died waiting: forget it */
		__atomic_compare_exchange_n(&h->wake_until, &until, 0, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
		return;
	}
	saved = errno;
	__atomic_fetch_add(&h->wake_seq, 1, __ATOMIC_RELEASE);
	(void)syscall(SYS_futex, &h->wake_seq, FUTEX_WAKE, 1, NULL, NULL, 0);
	errno = saved;
}

uint32_t journal_arm(struct journal *j, uint64_t deadline_ns)
{
	__atomic_store_n(&j->hdr->wake_until, deadline_ns ? deadline_ns : 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&j->hdr->wake_seq, __ATOMIC_ACQUIRE);
}

void journal_disarm(struct journal *j)
{
	__atomic_store_n(&j->hdr->wake_until, 0, __ATOMIC_RELAXED);
}

uint32_t *journal_wake_word(struct journal *j) { return &j->hdr->wake_seq; }

void journal_mark(struct journal *j, struct journal_mark *m)
{
	const struct mdbtap_journal_header *h = j->hdr;
	uint64_t head = journal_load(&h->head), pos = journal_load(&h->tail);
	uint64_t pending = 0;

	if (m->last > head) /* a new journal */
		m->last = 0;
	/* Headers only, with the bounds journal_read checks: the walk stops
	 * at anything that is not a whole record. */
	while (pos < head && pos % 8 == 0) {
		uint64_t off = pos % j->capacity;
		const struct mdbtap_record *r = (const void *)(j->ring + off);
		uint32_t magic, size, flags;
		uint64_t state;

		if (j->capacity - off < 8)
			break;
		magic = __atomic_load_n(&r->magic, __ATOMIC_RELAXED);
		size = __atomic_load_n(&r->size, __ATOMIC_RELAXED);
		if (size < 8 || size % 8 || size > j->capacity - off || size > head - pos)
			break;
		if (magic == MDBTAP_RECORD_MAGIC && size >= sizeof(*r)) {
			flags = __atomic_load_n(&r->flags, __ATOMIC_RELAXED);
			state = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
			if (!(flags & MDBTAP_REC_SYNCER)) {
				if (pos + size > m->last)
					m->last = pos + size;
				if ((state & MDBTAP_STATE_MASK) == MDBTAP_STATE_PENDING)
					pending++;
			}
		} else if (magic != MDBTAP_PAD_MAGIC) {
			break;
		}
		pos += size;
	}
	m->pending = pending;
}
