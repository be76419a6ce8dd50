/* elfinfo.c: see elfinfo.h. The file is mapped read-only and every offset
 * checked against its size before use: any file may be given. */
#define _GNU_SOURCE /* memmem */
#include "elfinfo.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A message of mdb_strerror's, in every copy of LMDB's code. */
#define LMDB_TELLTALE "MDB_KEYEXIST: Key/data pair already exists"

struct img {
	const unsigned char *p;
	size_t n;
};

/* p[off .. off+len) lies in the file. */
static int in(const struct img *m, uint64_t off, uint64_t len)
{
	return off <= m->n && len <= m->n - off;
}

static const char *str_at(const struct img *m, uint64_t tab, uint64_t tabsz, uint64_t i)
{
	if (!in(m, tab, tabsz) || i >= tabsz || !memchr(m->p + tab + i, 0, tabsz - i))
		return NULL;
	return (const char *)m->p + tab + i;
}

/* Whether a symbol table section defines sym (undef 0), or needs it from
 * another object (undef 1). */
static int has_sym(const struct img *m, const Elf64_Shdr *sh, const Elf64_Shdr *strsh,
		   const char *sym, int undef)
{
	if (sh->sh_entsize != sizeof(Elf64_Sym) || !in(m, sh->sh_offset, sh->sh_size))
		return 0;
	for (uint64_t i = 0; i < sh->sh_size / sizeof(Elf64_Sym); i++) {
		Elf64_Sym s;
		const char *name;

		memcpy(&s, m->p + sh->sh_offset + i * sizeof(s), sizeof(s));
		if ((s.st_shndx == SHN_UNDEF) != undef ||
		    (!undef && ELF64_ST_TYPE(s.st_info) != STT_FUNC))
			continue;
		name = str_at(m, strsh->sh_offset, strsh->sh_size, s.st_name);
		if (name && !strcmp(name, sym))
			return 1;
	}
	return 0;
}

static void scan(const struct img *m, struct elfinfo *e)
{
	Elf64_Ehdr eh;

	if (!in(m, 0, sizeof(eh)))
		return;
	memcpy(&eh, m->p, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB :
				    ELFDATA2MSB))
		return;
	e->is_elf = 1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		uint64_t off = eh.e_phoff + (uint64_t)i * eh.e_phentsize;
		Elf64_Phdr ph;

		if (eh.e_phentsize != sizeof(ph) || !in(m, off, sizeof(ph)))
			break;
		memcpy(&ph, m->p + off, sizeof(ph));
		if (ph.p_type == PT_INTERP && in(m, ph.p_offset, ph.p_filesz) && ph.p_filesz &&
		    ph.p_filesz < sizeof(e->interp))
			memcpy(e->interp, m->p + ph.p_offset, ph.p_filesz - 1);
	}
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		uint64_t off = eh.e_shoff + (uint64_t)i * eh.e_shentsize;
		Elf64_Shdr sh, link;

		if (eh.e_shentsize != sizeof(sh) || !in(m, off, sizeof(sh)))
			break;
		memcpy(&sh, m->p + off, sizeof(sh));
		off = eh.e_shoff + (uint64_t)sh.sh_link * eh.e_shentsize;
		if (sh.sh_link >= eh.e_shnum || !in(m, off, sizeof(link)))
			continue;
		memcpy(&link, m->p + off, sizeof(link));
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			if (has_sym(m, &sh, &link, "mdb_env_open", 0))
				e->defines_lmdb = 1;
			if (sh.sh_type == SHT_DYNSYM &&
			    (has_sym(m, &sh, &link, "mdb_set_compare", 1) ||
			     has_sym(m, &sh, &link, "mdb_set_dupsort", 1)))
				e->own_order = 1;
		} else if (sh.sh_type == SHT_DYNAMIC && in(m, sh.sh_offset, sh.sh_size)) {
			e->dynamic = 1;
			for (uint64_t j = 0; j + sizeof(Elf64_Dyn) <= sh.sh_size; j += sizeof(Elf64_Dyn)) {
				Elf64_Dyn d;
				const char *name;

				memcpy(&d, m->p + sh.sh_offset + j, sizeof(d));
				if (d.d_tag != DT_NEEDED)
					continue;
				name = str_at(m, link.sh_offset, link.sh_size, d.d_un.d_val);
				if (!name || e->nneeded >= MAX_NEEDED_LIBS)
					continue;
				snprintf(e->needed[e->nneeded++], sizeof(e->needed[0]), "%s", name);
				if (!strncmp(name, "liblmdb.so", 10))
					e->needs_lmdb = 1;
			}
		}
	}
}

int elfinfo_read(const char *path, struct elfinfo *e)
{
	struct stat st;
	struct img m;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(e, 0, sizeof(*e));
	if (fd < 0)
		return errno;
	if (fstat(fd, &st)) {
		int rc = errno;

		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return errno;
	m.p = p;
	m.n = (size_t)st.st_size;
	scan(&m, e);
	/* Stripped files name no symbol: LMDB's own messages give it away. */
	if (e->is_elf && !e->needs_lmdb && memmem(m.p, m.n, LMDB_TELLTALE, strlen(LMDB_TELLTALE)))
		e->defines_lmdb = 1;
	munmap(p, m.n);
	return 0;
}
