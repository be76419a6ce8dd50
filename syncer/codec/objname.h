/* objname.h: names of objects in a store.
 *
 *   <db>__<instance>__<YYYYMMDD-HHMMSS-nnnnnnnnn>__G<generation>__<kind>.pb.zst
 *
 * as Lightning Stream names its snapshots (its `.pb.gz` objects are not
 * ours), with: generation, 16 lowercase hex digits, the id of the
 * instance's chain of objects; kind, `F<to>` for a full snapshot read at
 * txn id `to` or `D<from>-<to>` for a delta of the elements changed in txn
 * ids (from, to], decimal without leading zeros. The timestamp is UTC with
 * nanoseconds and fixed width, so one instance's names sort by time.
 */
#ifndef MDBTAP_OBJNAME_H
#define MDBTAP_OBJNAME_H

#include <stddef.h>
#include <stdint.h>

struct objname {
	char db[65];           /* [a-z0-9]{1,64} */
	char instance[65];     /* [A-Za-z0-9-]{1,64} */
	uint64_t ts_ns;        /* UTC ns since the epoch */
	uint64_t generation;
	int full;
	uint64_t from_txnid;   /* deltas: exclusive lower bound; full: 0 */
	uint64_t to_txnid;
};

/* Format o into buf. Returns 0, EINVAL (a field out of its rules) or
 * ENAMETOOLONG. */
int objname_format(const struct objname *o, char *buf, size_t len);

/* Parse a name strictly. Returns 0, or EINVAL for anything else. */
int objname_parse(const char *name, struct objname *o);

#endif
