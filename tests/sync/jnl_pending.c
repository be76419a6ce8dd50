/* journal_pending: leave a PENDING record in an env's journal, as a writer
 * that died (or stalls) between the tap's append and its commit does.
 *
 *   journal_pending COMPANION_DIR TXNID [HOLD_SECONDS [KEY]]
 *
 * Appends a record for TXNID with this process's pid (and, given KEY, one
 * put of KEY in the unnamed DBI), never marks it, and exits at once (a
 * dead writer) or after HOLD_SECONDS (a live one). For tests of the
 * syncer's fold (tests/sync). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string.h>

#include "hlc.h"
#include "journal.h"
#include "record.h"

int main(int argc, char **argv)
{
	struct journal_open_opts o = { .writable = 1 };
	struct journal_append_in in = { 0 };
	struct journal_slot slot;
	struct journal *j;
	uint8_t name[8], op[512];
	int rc;

	if (argc < 3 || argc > 5 || (argc == 5 && strlen(argv[4]) > 256)) {
		fprintf(stderr, "usage: journal_pending COMPANION_DIR TXNID [HOLD_SECONDS [KEY]]\n");
		return 2;
	}
	rc = journal_open(argv[1], &o, &j);
	if (rc) {
		fprintf(stderr, "journal_pending: %s: %d\n", argv[1], rc);
		return 1;
	}
	in.txnid = strtoull(argv[2], NULL, 10);
	in.ts = hlc_wall_ns();
	if (argc == 5) {
		record_put_name(name, NULL, 0);
		record_put_op(op, MDBTAP_OP_PUT, 0, 0, argv[4], strlen(argv[4]), NULL, 0);
		in.nnames = in.nops = 1;
		in.names = name;
		in.names_len = record_name_size(0);
		in.ops = op;
		in.ops_len = record_op_size(strlen(argv[4]), 0);
	}
	rc = journal_append(j, &in, &slot);
	if (rc) {
		fprintf(stderr, "journal_pending: append: %d\n", rc);
		return 1;
	}
	printf("pending %llu\n", (unsigned long long)in.txnid);
	fflush(stdout);
	if (argc >= 4)
		sleep((unsigned)atoi(argv[3]));
	_exit(0); /* never journal_finish: the record stays PENDING */
}
