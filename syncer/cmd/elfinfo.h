/* elfinfo.h: what `mdbtap doctor` reads from an ELF file: the libraries
 * it needs and whether it defines LMDB itself (linked in statically or
 * bundled). 64-bit little- and big-endian files of this machine's byte
 * order; nothing is loaded or run. */
#ifndef MDBTAP_ELFINFO_H
#define MDBTAP_ELFINFO_H

#include <stddef.h>

#define MAX_NEEDED_LIBS 64

struct elfinfo {
	int is_elf;                          /* 0: not an ELF file of ours */
	int dynamic;                         /* has a dynamic section */
	int defines_lmdb;                    /* LMDB's code is in it: defines
						mdb_env_open, or holds LMDB's
						messages without needing liblmdb */
	int needs_lmdb;                      /* NEEDED liblmdb.so* */
	int own_order;                       /* calls mdb_set_compare or
						mdb_set_dupsort (ownorder.h) */
	char needed[MAX_NEEDED_LIBS][128];
	size_t nneeded;
	char interp[256];                    /* PT_INTERP, "" if none */
};

/* Read path. Returns 0 (e->is_elf says whether it was ELF) or an errno
 * value when it cannot be read. */
int elfinfo_read(const char *path, struct elfinfo *e);

#endif
