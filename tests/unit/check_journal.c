/* check_journal.c: the journal ring file (shim/journal.c). */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "record.h"
#include "unit.h"

static char dir[4096];

/* A fresh companion directory per test (each test runs in its own child). */
static void setup(void)
{
	ck_assert_int_eq(testlib_fresh_dir(dir, sizeof(dir), "/tmp/mdbtap-check-journal"), 0);
}

static struct journal *open_new(uint64_t capacity, uint64_t base)
{
	struct journal_open_opts o = { .writable = 1, .create = 1, .mode = 0644,
				   .capacity = capacity, .base_txnid = base };
	struct journal *j = NULL;

	ck_assert_int_eq(journal_open(dir, &o, &j), 0);
	return j;
}

/* Append a record with one PUT op of key "k<txnid>". */
static int append(struct journal *j, uint64_t txnid, size_t keylen, struct journal_slot *slot)
{
	uint8_t names[8], ops[4096];
	char key[2048];
	struct journal_append_in in = { .txnid = txnid, .ts = 1000 + txnid, .nnames = 1, .nops = 1 };

	ck_assert_uint_le(keylen, sizeof(key));
	memset(key, 'x', keylen);
	snprintf(key, keylen, "k%llu", (unsigned long long)txnid);
	record_put_name(names, NULL, 0);
	record_put_op(ops, MDBTAP_OP_PUT, 0, 0, key, keylen, NULL, 0);
	in.names = names;
	in.names_len = record_name_size(0);
	in.ops = ops;
	in.ops_len = record_op_size(keylen, 0);
	return journal_append(j, &in, slot);
}

START_TEST(create_append_read)
{
	struct journal *j = open_new(0, 41);
	struct mdbtap_journal_header *h = journal_header(j);
	struct journal_reader rd = { 0 };
	struct journal_slot slot;
	struct journal_entry e;
	struct record_iter it;
	struct record_op op;

	ck_assert_mem_eq(h->magic, MDBTAP_JOURNAL_MAGIC, 8);
	ck_assert_uint_eq(h->capacity, MDBTAP_JOURNAL_DEFAULT_CAPACITY);
	ck_assert_uint_eq(h->base_txnid, 41);
	ck_assert_uint_eq(h->accounted_txnid, 41);
	ck_assert_int_eq(append(j, 42, 10, &slot), 0);

	ck_assert_int_eq(journal_read(j, 0, &rd, &e), 1);
	ck_assert_uint_eq(e.state, MDBTAP_STATE_PENDING);
	journal_finish(&slot, 1);
	ck_assert_int_eq(journal_read(j, 0, &rd, &e), 1);
	ck_assert_uint_eq(e.state, MDBTAP_STATE_COMMITTED);
	ck_assert_uint_eq(e.hdr.txnid, 42);
	ck_assert_uint_eq(e.hdr.ts, 1042);
	ck_assert_uint_eq(e.hdr.pid, (uint32_t)getpid());
	ck_assert_int_eq(record_iter_init(&it, e.body, e.hdr.body_len, e.hdr.nnames, e.hdr.nops), 0);
	ck_assert_int_eq(record_iter_next(&it, &op), 1);
	ck_assert_mem_eq(op.key, "k42", 3);
	ck_assert_int_eq(journal_read(j, e.next, &rd, &e), 0); /* the head */
	journal_reader_free(&rd);
	journal_close(j);
}
END_TEST

START_TEST(reopen_keeps_records)
{
	struct journal *j = open_new(0, 0);
	struct journal_open_opts ro = { 0 };
	struct journal_reader rd = { 0 };
	struct journal_slot slot;
	struct journal_entry e;

	ck_assert_int_eq(append(j, 1, 4, &slot), 0);
	journal_finish(&slot, 0);
	journal_close(j);
	ck_assert_int_eq(journal_open(dir, &ro, &j), 0); /* read-only, no create */
	ck_assert_int_eq(journal_read(j, 0, &rd, &e), 1);
	ck_assert_uint_eq(e.state, MDBTAP_STATE_ABORTED);
	journal_reader_free(&rd);
	journal_close(j);
}
END_TEST

START_TEST(full_ring_drops_and_wraps)
{
	struct journal *j = open_new(MDBTAP_JOURNAL_MIN_CAPACITY, 0);
	struct mdbtap_journal_header *h = journal_header(j);
	struct journal_reader rd = { 0 };
	struct journal_slot slot;
	struct journal_entry e;
	uint64_t id = 1, pads = 0;

	/* Fill it: records of ~1 KiB do not divide the ring evenly. */
	while (append(j, id, 1000, &slot) == 0)
		journal_finish(&slot, 1), id++;
	ck_assert_uint_eq(journal_load(&h->dropped), 1);
	ck_assert_uint_le(journal_load(&h->head), h->capacity);

	/* A consumer frees half; appends resume and wrap with a pad record. */
	{
		/* tail must sit on a record boundary: walk to the first one past
		 * the middle */
		uint64_t pos = 0, want = journal_load(&h->head) / 2;

		while (pos < want) {
			ck_assert_int_eq(journal_read(j, pos, &rd, &e), 1);
			pos = e.next;
		}
		__atomic_store_n(&h->tail, pos, __ATOMIC_RELEASE);
	}
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(append(j, id, 1000, &slot), 0);
		journal_finish(&slot, 1);
		id++;
	}
	/* Everything from tail to head reads back whole, in txn order. */
	uint64_t pos = journal_load(&h->tail), last = 0;
	int rc;

	while ((rc = journal_read(j, pos, &rd, &e)) == 1) {
		if (e.pad) {
			pads++;
		} else {
			ck_assert_uint_gt(e.hdr.txnid, last);
			last = e.hdr.txnid;
		}
		pos = e.next;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(last, id - 1);
	ck_assert_uint_eq(pads, 1);
	journal_reader_free(&rd);
	journal_close(j);
}
END_TEST

START_TEST(stale_finish_is_ignored)
{
	struct journal *j = open_new(0, 0);
	struct journal_reader rd = { 0 };
	struct journal_slot slot, stale;
	struct journal_entry e;

	ck_assert_int_eq(append(j, 1, 4, &slot), 0);
	stale = slot;
	stale.pos += MDBTAP_JOURNAL_DEFAULT_CAPACITY; /* the same slot, a lap later */
	journal_finish(&stale, 1);
	ck_assert_int_eq(journal_read(j, 0, &rd, &e), 1);
	ck_assert_uint_eq(e.state, MDBTAP_STATE_PENDING);
	journal_finish(&slot, 1);
	journal_finish(&slot, 0); /* only the first outcome counts */
	ck_assert_int_eq(journal_read(j, 0, &rd, &e), 1);
	ck_assert_uint_eq(e.state, MDBTAP_STATE_COMMITTED);
	journal_reader_free(&rd);
	journal_close(j);
}
END_TEST

START_TEST(corrupt_record_detected)
{
	struct journal *j = open_new(0, 0);
	struct journal_reader rd = { 0 };
	struct journal_slot slot;
	struct journal_entry e;
	char path[4200];
	int fd;
	uint8_t b;

	ck_assert_int_eq(append(j, 7, 16, &slot), 0);
	journal_finish(&slot, 1);
	journal_close(j);
	/* Flip one byte of the key, as a torn write after power loss would. */
	snprintf(path, sizeof(path), "%s/%s", dir, MDBTAP_JOURNAL_FILE);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	off_t at = MDBTAP_JOURNAL_HEADER_SIZE + sizeof(struct mdbtap_record) + 2 + 12 + 1;
	ck_assert_int_eq(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
	j = open_new(0, 0);
	ck_assert_int_eq(journal_read(j, 0, &rd, &e), MDBTAP_E_CORRUPT);
	journal_reader_free(&rd);
	journal_close(j);
}
END_TEST

/* include/mdbtap.h: the crc covers txnid up to crc. Each byte of those
 * fields flipped must be found (version 1 left nops and body_len out). */
START_TEST(crc_covers_every_header_field)
{
	for (unsigned at = offsetof(struct mdbtap_record, txnid);
	     at < offsetof(struct mdbtap_record, crc); at++) {
		struct journal *j;
		struct journal_reader rd = { 0 };
		struct journal_slot slot;
		struct journal_entry e;
		char cmd[8400];
		uint8_t *rec;

		snprintf(cmd, sizeof(cmd), "rm -f '%s/%s'", dir, MDBTAP_JOURNAL_FILE);
		ck_assert_int_eq(system(cmd), 0);
		j = open_new(MDBTAP_JOURNAL_MIN_CAPACITY, 0); /* small: 36 files */
		ck_assert_int_eq(append(j, 7, 16, &slot), 0);
		journal_finish(&slot, 1);
		rec = (uint8_t *)journal_header(j) + MDBTAP_JOURNAL_HEADER_SIZE;
		rec[at] ^= 0x01;
		ck_assert_msg(journal_read(j, 0, &rd, &e) == MDBTAP_E_CORRUPT,
			      "a flipped byte at offset %u of the record was not found", at);
		journal_reader_free(&rd);
		journal_close(j);
	}
}
END_TEST

START_TEST(foreign_file_refused)
{
	struct journal_open_opts o = { .writable = 1, .create = 1, .mode = 0644 };
	struct journal *j = NULL;
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, MDBTAP_JOURNAL_FILE);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not a journal, and it is long enough to have a header......", f);
	fclose(f);
	ck_assert_int_eq(journal_open(dir, &o, &j), MDBTAP_E_FORMAT);
	ck_assert_ptr_null(j);
}
END_TEST

/* A file at the journal's name whose first bytes are zero (an env's
 * data.mdb begins so) is someone else's: never rewritten. A journal is
 * linked to its name only once whole, so no half-made one is ever there. */
START_TEST(zero_magic_file_never_rewritten)
{
	struct journal_open_opts o = { .writable = 1, .create = 1, .mode = 0644, .base_txnid = 7 };
	struct journal *j = NULL;
	char path[4200], zeros[MDBTAP_JOURNAL_HEADER_SIZE] = { 0 }, back[sizeof(zeros)];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, MDBTAP_JOURNAL_FILE);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(fd);
	ck_assert_int_eq(journal_open(dir, &o, &j), MDBTAP_E_FORMAT);
	ck_assert_ptr_null(j);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	close(fd);
	ck_assert_mem_eq(back, zeros, sizeof(zeros));
}
END_TEST

/* Every open in the companion dir refuses symlinks and files with other
 * links: a journal name pointing at another env's data file (here: a file
 * of zeros) leaves that file as it was. */
START_TEST(symlink_and_hardlink_refused)
{
	struct journal_open_opts o = { .writable = 1, .create = 1, .mode = 0644 };
	struct journal *j = NULL;
	char path[4200], victim[4200], zeros[8192] = { 0 }, back[sizeof(zeros)];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, MDBTAP_JOURNAL_FILE);
	snprintf(victim, sizeof(victim), "%s.victim", dir);
	fd = open(victim, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	ck_assert_int_eq(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(fd);
	ck_assert_int_eq(symlink(victim, path), 0);
	ck_assert_int_eq(journal_open(dir, &o, &j), EPERM);
	unlink(path);
	ck_assert_int_eq(link(victim, path), 0);
	ck_assert_int_eq(journal_open(dir, &o, &j), EPERM);
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	ck_assert_int_eq(journal_open(dir, &o, &j), EPERM);
	unlink(path);
	fd = open(victim, O_RDONLY);
	ck_assert_int_eq(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	close(fd);
	ck_assert_mem_eq(back, zeros, sizeof(zeros));
	unlink(victim);
	/* the companion dir itself as a symlink */
	ck_assert_int_eq(journal_open(dir, &o, &j), 0);
	journal_close(j);
	snprintf(victim, sizeof(victim), "%s.link", dir);
	unlink(victim);
	ck_assert_int_eq(symlink(dir, victim), 0);
	ck_assert_int_eq(journal_open(victim, &o, &j), EPERM);
	unlink(victim);
}
END_TEST

/* A header whose head or tail is misaligned or out of bounds is never
 * mapped for writing (a writer would index the mapping with them). */
START_TEST(bad_head_tail_refused)
{
	struct journal_open_opts o = { .writable = 1, .create = 1, .mode = 0644 };
	struct mdbtap_journal_header *h;
	struct journal *j = open_new(0, 0);
	uint64_t cap;
	struct { uint64_t head, tail; } bad[] = { { 3, 0 }, { 8, 5 }, { 8, 16 }, { 0, 0 } };

	cap = journal_header(j)->capacity;
	journal_close(j);
	bad[3].head = cap + 8;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(journal_open(dir, &o, &j), 0);
		h = journal_header(j);
		h->head = bad[i].head;
		h->tail = bad[i].tail;
		journal_close(j);
		ck_assert_int_eq(journal_open(dir, &o, &j), MDBTAP_E_CORRUPT);
		/* repair for the next round, through a plain write */
		{
			char path[4200];
			uint64_t z[2] = { 0, 0 };
			int fd;

			snprintf(path, sizeof(path), "%s/%s", dir, MDBTAP_JOURNAL_FILE);
			fd = open(path, O_WRONLY);
			ck_assert_int_eq(pwrite(fd, z, sizeof(z),
						offsetof(struct mdbtap_journal_header, head)),
					 (ssize_t)sizeof(z));
			close(fd);
		}
	}
}
END_TEST

START_TEST(newer_version_refused)
{
	struct journal *j = open_new(0, 0);
	struct journal_open_opts o = { .writable = 1 };

	journal_header(j)->version = MDBTAP_JOURNAL_VERSION + 1;
	journal_close(j);
	ck_assert_int_eq(journal_open(dir, &o, &j), MDBTAP_E_VERSION);
}
END_TEST

/* An older version of ours is replaced (by rename: a host that still maps
 * it keeps a working mapping of the old file); a newer one and a foreign
 * file are left alone. */
START_TEST(older_version_replaced)
{
	struct journal *old = open_new(0, 7), *j = NULL;
	struct journal_open_opts o = { .writable = 1, .create = 1, .mode = 0644, .base_txnid = 9 };
	struct journal_slot slot;
	struct stat a, b;
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, MDBTAP_JOURNAL_FILE);
	ck_assert_int_eq(append(old, 8, 8, &slot), 0);
	journal_finish(&slot, 1);
	journal_header(old)->version = MDBTAP_JOURNAL_VERSION - 1;
	ck_assert_int_eq(journal_open(dir, &o, &j), MDBTAP_E_VERSION);
	ck_assert_int_eq(stat(path, &a), 0);
	ck_assert_int_eq(journal_replace_older(dir, &o), 0);
	ck_assert_int_eq(stat(path, &b), 0);
	ck_assert(a.st_ino != b.st_ino);
	ck_assert_uint_eq(b.st_mode & 07777, a.st_mode & 07777);
	ck_assert_int_eq(journal_open(dir, &o, &j), 0);
	ck_assert_uint_eq(journal_header(j)->version, MDBTAP_JOURNAL_VERSION);
	ck_assert_uint_eq(journal_header(j)->base_txnid, 9);
	ck_assert_uint_eq(journal_load(&journal_header(j)->head), 0);
	/* The old mapping still takes records, into the old file only. */
	ck_assert_int_eq(append(old, 9, 8, &slot), 0);
	journal_finish(&slot, 1);
	ck_assert_uint_eq(journal_load(&journal_header(j)->head), 0);
	journal_close(old);
	/* Ours now: nothing more to replace. */
	ck_assert_int_eq(journal_replace_older(dir, &o), MDBTAP_E_VERSION);
	journal_header(j)->version = MDBTAP_JOURNAL_VERSION + 1;
	journal_close(j);
	ck_assert_int_eq(journal_replace_older(dir, &o), MDBTAP_E_VERSION);
	ck_assert_int_eq(stat(path, &a), 0);
	ck_assert(a.st_ino == b.st_ino);
	{
		int fd = open(path, O_WRONLY);

		ck_assert_int_eq(pwrite(fd, "NOTOURS!", 8, 0), 8);
		close(fd);
	}
	ck_assert_int_eq(journal_replace_older(dir, &o), MDBTAP_E_FORMAT);
	ck_assert_int_eq(stat(path, &a), 0);
	ck_assert(a.st_ino == b.st_ino);
}
END_TEST

START_TEST(missing_journal)
{
	struct journal_open_opts o = { 0 };
	struct journal *j = NULL;

	ck_assert_int_eq(journal_open(dir, &o, &j), ENOENT);
}
END_TEST

START_TEST(clock_is_monotonic_and_observes)
{
	struct journal *j = open_new(0, 0);
	uint64_t a = journal_clock_next(j), b = journal_clock_next(j);
	uint64_t future = a + 3600ull * 1000000000ull;

	ck_assert_uint_gt(b, a);
	journal_clock_observe(j, future);
	ck_assert_uint_gt(journal_clock_next(j), future);
	journal_clock_observe(j, a); /* older: no effect */
	ck_assert_uint_gt(journal_clock_next(j), future);
	journal_close(j);
}
END_TEST

START_TEST(companion_dir_names)
{
	char buf[64];

	ck_assert_int_eq(journal_companion_dir("/x/db", 0, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/x/db/mdbtap");
	ck_assert_int_eq(journal_companion_dir("/x/pdns.lmdb", 1, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/x/pdns.lmdb-mdbtap");
	ck_assert_int_eq(journal_companion_dir("/a/very/long/path/that/does/not/fit/in/the/buffer/at/all",
					   1, buf, 16), ENAMETOOLONG);
}
END_TEST

Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("ring");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, create_append_read);
	tcase_add_test(tc, reopen_keeps_records);
	tcase_add_test(tc, full_ring_drops_and_wraps);
	tcase_add_test(tc, stale_finish_is_ignored);
	tcase_add_test(tc, corrupt_record_detected);
	tcase_add_test(tc, crc_covers_every_header_field);
	tcase_add_test(tc, foreign_file_refused);
	tcase_add_test(tc, zero_magic_file_never_rewritten);
	tcase_add_test(tc, symlink_and_hardlink_refused);
	tcase_add_test(tc, bad_head_tail_refused);
	tcase_add_test(tc, newer_version_refused);
	tcase_add_test(tc, older_version_replaced);
	tcase_add_test(tc, missing_journal);
	tcase_add_test(tc, clock_is_monotonic_and_observes);
	tcase_add_test(tc, companion_dir_names);
	suite_add_tcase(s, tc);
	return s;
}
