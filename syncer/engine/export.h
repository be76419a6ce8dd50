/* export.h: write one object (a delta of the elements changed since the
 * last object, or a full snapshot) from the metadata and the host's
 * values, and upload it (docs/DESIGN.md §18). */
#ifndef MDBTAP_EXPORT_H
#define MDBTAP_EXPORT_H

#include "meta.h"
#include "senv.h"

struct store;

struct export_args {
	const char *db;          /* the env's name in the store */
	const char *instance;    /* this instance */
	const char *hostname;
	uint64_t upto;           /* the host txn id host sees; the object is
				    labelled with no more than st->accounted */
	int full;                /* a full snapshot rather than a delta */
	int full_if_changed;     /* if anything changed, a full snapshot */
};

/* One object, written but not yet uploaded: its bytes are in an unnamed
 * temporary file, so the host's read txn (and a MDB_NOLOCK host's lock)
 * can end before the upload, which may take long. */
struct export_obj {
	int fd;                  /* the object's bytes; -1: nothing to upload */
	char name[512];
	uint64_t upto, ts_ns, made_ns, elems;
	int full;
	unsigned host_txns;      /* host read txns it was read in */
};

/* Write the object from *host (a read txn of s's host env) and mt (the
 * meta txn the fold just updated), and forget the exported changed sets in
 * mt. A full snapshot replaces *host with newer read txns as it goes (and
 * takes a MDB_NOLOCK host's lock again each time): the caller ends the one
 * left in *host, which may be NULL after an error.
 * On success o->fd < 0 if there is nothing to export (a delta with no
 * change); else the object is in o, which export_upload or export_discard
 * must end. */
int export_build(struct senv *s, MDB_txn **host, MDB_txn *mt, const struct meta_state *st,
		 const struct export_args *a, struct export_obj *o);

/* Upload o and, on success, record it in st (commit mt then). Ends o. */
int export_upload(struct senv *s, struct store *store, struct meta_state *st,
		  struct export_obj *o);

/* Close o's file, if any; safe to call twice. */
void export_discard(struct export_obj *o);

#endif
