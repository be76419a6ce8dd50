/* fuzz_journal.c: libFuzzer target for the journal file (shim/journal):
 * header validation, then reading every record and appending one, on a
 * hostile file. The input is the start of a file of the smallest journal's
 * size (the rest zeros), as a local user could swap in. Nothing may read
 * or write outside the mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_SIZE (MDBTAP_JOURNAL_HEADER_SIZE + MDBTAP_JOURNAL_MIN_CAPACITY)

static char dir[64];
static char path[128];

static void setup(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "%s/fuzz_journal.XXXXXX", P_tmpdir);
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/%s", dir, MDBTAP_JOURNAL_FILE);
}

static void read_all(struct journal *j)
{
	struct journal_reader rd = { 0 };
	struct journal_entry e;
	uint64_t pos = journal_load(&journal_header(j)->tail);

	for (int i = 0; i < 10000; i++) {
		int rc = journal_read(j, pos, &rd, &e);

		if (rc != 1)
			break;
		pos = e.next;
	}
	journal_reader_free(&rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal_open_opts o = { .writable = 1, .mode = 0600 };
	struct journal *j = NULL;
	struct mdbtap_journal_header h;
	static const uint8_t zeros[4096];
	int fd;

	setup();
	if (size > FILE_SIZE)
		size = FILE_SIZE;
	memset(&h, 0, sizeof(h));
	memcpy(&h, data, size < sizeof(h) ? size : sizeof(h));
	(void)journal_check_header(&h, FILE_SIZE);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	for (size_t off = size; off < FILE_SIZE;) {
		size_t n = FILE_SIZE - off < sizeof(zeros) ? FILE_SIZE - off : sizeof(zeros);

		if (write(fd, zeros, n) != (ssize_t)n)
			abort();
		off += n;
	}
	close(fd);
	if (journal_open(dir, &o, &j) == 0) {
		struct journal_append_in in = { .txnid = 1, .ts = 1, .ops = "x", .ops_len = 1,
						.nops = 1 };
		struct journal_slot slot;

		read_all(j);
		if (journal_append(j, &in, &slot) == 0)
			journal_finish(&slot, 1);
		read_all(j);
		journal_close(j);
	}
	return 0;
}
