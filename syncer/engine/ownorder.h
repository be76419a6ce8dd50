/* ownorder.h: DBIs the host orders with its own comparator, left alone.
 *
 * A host that calls mdb_set_compare or mdb_set_dupsort on a DBI keeps its
 * keys (or values) in an order of its own, where the syncer's memcmp
 * order would put merged elements in the wrong place of the B-tree, and
 * where two elements may compare equal with different bytes (a delete of
 * one deletes the other). The tap says so in the records (op ORDER); the
 * syncer then neither exports nor merges nor rescans that DBI, for good:
 * the names are kept in the companion file "own-order" (one a line, hex;
 * "-" for the unnamed DBI), said once in the log, counted in the stats,
 * and listed by `mdbtap doctor ENV`.
 */
#ifndef MDBTAP_OWNORDER_H
#define MDBTAP_OWNORDER_H

#include <stddef.h>

#include "senv.h"

#define OWNORDER_FILE "own-order"
#define OWNORDER_MAX 4096          /* names kept; beyond, memory only */

/* Load the names found by earlier runs into s. Returns 0 or errno (a
 * refused or unreadable file: said by the caller). */
int ownorder_load(struct senv *s);

/* The DBI (len 0: unnamed) has the host's own order: remember it, say it
 * once. */
void ownorder_add(struct senv *s, const char *name, size_t len);

/* Whether the DBI has the host's own order. */
int ownorder_has(const struct senv *s, const char *name, size_t len);

/* Free s's list. */
void ownorder_free(struct senv *s);

/* Read the names of the companion directory's file, for `mdbtap doctor`:
 * calls fn for each (len 0: unnamed). Returns 0 (also when there is no
 * file) or errno. */
int ownorder_each(const char *companion, void (*fn)(void *ctx, const char *name, size_t len),
		  void *ctx);

#endif
