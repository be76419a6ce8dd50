/* jnl_record: append a COMMITTED journal record with the given ops, as
 * the tap would for a txn whose calls LMDB refused (an empty key, a key
 * over LMDB's limit): the syncer's fold must skip what no DBI can hold.
 *
 *   jnl_record COMPANION_DIR TXNID DBI:KEYLEN:KEYBYTE[:VALUE]...
 *
 * Each op is a put in DBI ("-": the unnamed one) of a key of KEYLEN
 * bytes, all KEYBYTE (one character), with VALUE (a DUPSORT element's
 * value) if given. For tests of the syncer's fold (tests/sync). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "journal.h"
#include "record.h"

#define MAX_OPS 8
#define MAX_KEY 4096

int main(int argc, char **argv)
{
	struct journal_open_opts o = { .writable = 1 };
	struct journal_append_in in = { 0 };
	struct journal_slot slot;
	struct journal *j;
	static uint8_t names[MAX_OPS * 600], ops[MAX_OPS * (MAX_KEY + 700)], key[MAX_KEY];
	size_t nl = 0, ol = 0;
	int rc;

	if (argc < 4 || argc - 3 > MAX_OPS) {
		fprintf(stderr, "usage: jnl_record COMPANION_DIR TXNID DBI:KEYLEN:KEYBYTE[:VALUE]...\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		char *dbi = strtok(argv[i], ":"), *klen = strtok(NULL, ":"),
		     *kb = strtok(NULL, ":"), *val = strtok(NULL, "");
		size_t kl = klen ? strtoul(klen, NULL, 10) : MAX_KEY + 1;
		int unnamed = dbi && !strcmp(dbi, "-");

		if (!dbi || !kb || kl > MAX_KEY || strlen(dbi) > 500 || (val && strlen(val) > 600)) {
			fprintf(stderr, "jnl_record: bad op %s\n", argv[i]);
			return 2;
		}
		memset(key, kb[0], kl);
		record_put_name(names + nl, unnamed ? NULL : dbi, unnamed ? 0 : strlen(dbi));
		nl += record_name_size(unnamed ? 0 : strlen(dbi));
		record_put_op(ops + ol, MDBTAP_OP_PUT, val ? MDBTAP_OPF_VALUE : 0,
			      (unsigned)(i - 3), key, kl, val, val ? strlen(val) : 0);
		ol += record_op_size(kl, val ? strlen(val) : 0);
	}
	rc = journal_open(argv[1], &o, &j);
	if (rc) {
		fprintf(stderr, "jnl_record: %s: %d\n", argv[1], rc);
		return 1;
	}
	in.txnid = strtoull(argv[2], NULL, 10);
	in.ts = hlc_wall_ns();
	in.nnames = in.nops = (uint32_t)(argc - 3);
	in.names = names;
	in.names_len = nl;
	in.ops = ops;
	in.ops_len = ol;
	rc = journal_append(j, &in, &slot);
	if (rc) {
		fprintf(stderr, "jnl_record: append: %d\n", rc);
		return 1;
	}
	journal_finish(&slot, 1);
	journal_close(j);
	return 0;
}
