/* export.h: write one object (a delta of the elements changed since the
 * last object, or a full snapshot) from the metadata and the host's
 * values, and upload it (DESIGN.md "Objects in the store"). */
#ifndef MDBTAP_EXPORT_H
#define MDBTAP_EXPORT_H

#include "meta.h"
#include "senv.h"

struct store;

struct export_args {
	const char *db;          /* the env's name in the store */
	const char *instance;    /* this instance */
	const char *hostname;
	uint64_t upto;           /* the host txn id host sees */
	int full;                /* a full snapshot rather than a delta */
	int full_if_changed;     /* if anything changed, a full snapshot */
};

/* Export from host (a read txn of s's host env) and mt (the meta txn the
 * fold just updated). On success *made says whether an object was
 * uploaded (a delta with nothing changed is not), and st and the changed
 * sets are updated in mt: commit it. */
int export_object(struct senv *s, struct store *store, MDB_txn *host, MDB_txn *mt,
		  struct meta_state *st, const struct export_args *a, int *made);

#endif
