/* meta.c: the syncer's per-element metadata, in a companion LMDB env. */
#define _GNU_SOURCE /* strndup */
#include "meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "hlc.h"

/* The meta env only grows with the host's data; LMDB maps it lazily. */
#define META_MAP_SIZE (64ull << 30)
#define META_MAX_DBS (3 * META_DBI_LIMIT + 16) /* "dbis", "state" and spare */

/* Host flags the mirrors copy: the ones that decide order. */
#define META_ORDER_FLAGS (MDB_REVERSEKEY | MDB_INTEGERKEY | MDB_DUPSORT | MDB_INTEGERDUP | \
			  MDB_REVERSEDUP | MDB_DUPFIXED)

struct meta {
	MDB_env *env;
	MDB_dbi dbis, state;
};

MDB_env *meta_env(struct meta *m)
{
	return m->env;
}

static int open_fixed(struct meta *m)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(m->env, NULL, 0, &txn);

	if (rc)
		return rc;
	rc = mdb_dbi_open(txn, "dbis", MDB_CREATE, &m->dbis);
	if (!rc)
		rc = mdb_dbi_open(txn, "state", MDB_CREATE, &m->state);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

int meta_open(const char *dir, struct meta **out)
{
	char path[4200];

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/meta", dir) >= sizeof(path))
		return ENAMETOOLONG;
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return errno;
	return meta_open_path(path, out);
}

int meta_open_path(const char *path, struct meta **out)
{
	struct meta *m;
	int rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return ENOMEM;
	rc = mdb_env_create(&m->env);
	if (!rc)
		rc = mdb_env_set_mapsize(m->env, META_MAP_SIZE);
	if (!rc)
		rc = mdb_env_set_maxdbs(m->env, META_MAX_DBS);
	/* NOSYNC is safe here: a lost meta commit only makes the syncer fold
	 * the journal again, which tolerates it (see fold.c). The syncer
	 * calls mdb_env_sync before it advances the journal's tail. */
	if (!rc)
		rc = mdb_env_open(m->env, path, MDB_NOSYNC | MDB_NOTLS, 0600);
	if (!rc) {
		int dead;

		rc = mdb_reader_check(m->env, &dead);
	}
	if (!rc)
		rc = open_fixed(m);
	if (rc) {
		if (m->env)
			mdb_env_close(m->env);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	mdb_env_close(m->env);
	free(m);
}

/* ---- small named values ---- */

static int get_blob(MDB_txn *txn, MDB_dbi dbi, const char *name, size_t nlen, void *out,
		    size_t len)
{
	MDB_val k = { nlen, (void *)name }, v;
	int rc = mdb_get(txn, dbi, &k, &v);

	if (rc)
		return rc;
	memset(out, 0, len);
	memcpy(out, v.mv_data, v.mv_size < len ? v.mv_size : len);
	return 0;
}

static int put_blob(MDB_txn *txn, MDB_dbi dbi, const char *name, size_t nlen, const void *in,
		    size_t len)
{
	MDB_val k = { nlen, (void *)name }, v = { len, (void *)in };

	return mdb_put(txn, dbi, &k, &v, 0);
}

int meta_state_get(MDB_txn *txn, struct meta *m, struct meta_state *st)
{
	int rc = get_blob(txn, m->state, "env", 3, st, sizeof(*st));

	if (rc == MDB_NOTFOUND) {
		memset(st, 0, sizeof(*st));
		rc = 0;
	}
	return rc;
}

int meta_state_put(MDB_txn *txn, struct meta *m, const struct meta_state *st)
{
	return put_blob(txn, m->state, "env", 3, st, sizeof(*st));
}

int meta_adopt_get(MDB_txn *txn, struct meta *m, struct meta_adopt *a)
{
	return get_blob(txn, m->state, "adopt", 5, a, sizeof(*a));
}

int meta_adopt_put(MDB_txn *txn, struct meta *m, const struct meta_adopt *a)
{
	return put_blob(txn, m->state, "adopt", 5, a, sizeof(*a));
}

int meta_adopt_del(MDB_txn *txn, struct meta *m)
{
	MDB_val k = { 5, "adopt" };
	int rc = mdb_del(txn, m->state, &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Remote progress lives under "r/INSTANCE". */
static int remote_key(const char *instance, char *buf, size_t cap, size_t *len)
{
	int n = snprintf(buf, cap, "r/%s", instance);

	if (n < 0 || (size_t)n >= cap)
		return EINVAL;
	*len = (size_t)n;
	return 0;
}

int meta_remote_get(MDB_txn *txn, struct meta *m, const char *instance, struct meta_remote *r)
{
	char key[128];
	size_t len;
	int rc = remote_key(instance, key, sizeof(key), &len);

	return rc ? rc : get_blob(txn, m->state, key, len, r, sizeof(*r));
}

int meta_remote_put(MDB_txn *txn, struct meta *m, const char *instance,
		    const struct meta_remote *r)
{
	char key[128];
	size_t len;
	int rc = remote_key(instance, key, sizeof(key), &len);

	return rc ? rc : put_blob(txn, m->state, key, len, r, sizeof(*r));
}

int meta_remote_each(MDB_txn *txn, struct meta *m, meta_remote_fn fn, void *ctx)
{
	char name[128];
	MDB_cursor *c;
	MDB_val k = { 2, (void *)"r/" }, v;
	int rc = mdb_cursor_open(txn, m->state, &c);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct meta_remote r = { 0 };

		if (k.mv_size < 2 || memcmp(k.mv_data, "r/", 2))
			break;
		if (k.mv_size - 2 >= sizeof(name))
			continue;
		memcpy(name, (char *)k.mv_data + 2, k.mv_size - 2);
		name[k.mv_size - 2] = 0;
		memcpy(&r, v.mv_data, v.mv_size < sizeof(r) ? v.mv_size : sizeof(r));
		if ((rc = fn(ctx, name, &r)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Delete every key of dbi that begins with prefix; *n: how many. */
static int del_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen, uint64_t *n)
{
	MDB_cursor *c;
	MDB_val k = { plen, (void *)prefix }, v;
	int rc = mdb_cursor_open(txn, dbi, &c);

	*n = 0;
	if (rc)
		return rc;
	/* Sought again after each delete: where a cursor stands after
	 * one at a page's end is LMDB's business. */
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) == 0) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen))
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		(*n)++;
		k = (MDB_val){ plen, (void *)prefix };
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Refused remote elements live under "m/" (MISFIT_PREFIX). */
#define MISFIT_PREFIX "m/"

int meta_remote_forget(MDB_txn *txn, struct meta *m, uint64_t *n)
{
	uint64_t mf;
	int rc = del_prefix(txn, m->state, "r/", 2, n);

	return rc ? rc : del_prefix(txn, m->state, MISFIT_PREFIX, 2, &mf);
}

int meta_reset(MDB_txn *txn, struct meta *m)
{
	MDB_cursor *c;
	MDB_val k, v;
	MDB_dbi main, d;
	char **names = NULL;
	size_t n = 0;
	int rc = mdb_dbi_open(txn, NULL, 0, &main);

	if (!rc)
		rc = mdb_cursor_open(txn, main, &c);
	if (rc)
		return rc;
	/* Names first: dropping a DBI deletes its record under the cursor. */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char **nn = realloc(names, (n + 1) * sizeof(*nn));

		if (!nn || !(nn[n] = strndup(k.mv_data, k.mv_size))) {
			if (nn)
				names = nn;
			rc = ENOMEM;
			break;
		}
		names = nn;
		n++;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		if (!strcmp(names[i], "dbis") || !strcmp(names[i], "state"))
			continue;
		rc = mdb_dbi_open(txn, names[i], 0, &d);
		if (!rc)
			rc = mdb_drop(txn, d, 1);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!rc)
		rc = mdb_drop(txn, m->dbis, 0);
	if (!rc)
		rc = mdb_drop(txn, m->state, 0);
	return rc;
}

/* ---- DBIs ---- */

/* A DBI name longer than this (LMDB allows 511 bytes) is known in the
 * meta env by its digest: "=NAME" and the mirrors' "K:=NAME" would not
 * fit LMDB's key size. Its "dbis" value then holds the name after the
 * struct meta_dbi. */
#define META_LONG_NAME 480

static void long_id(const char *name, size_t len, char hex[33])
{
	uint8_t h[16];

	meta_hash(name, len, h);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

/* "-" stands for the unnamed DBI: LMDB never names a DBI "" and "-" is
 * written with a prefix, so a DBI really named "-" is "=-"; a long name
 * is "#" and its digest in hex. */
static int dbi_key(const char *name, size_t len, char *buf, size_t cap, size_t *out)
{
	if (len == 0) {
		buf[0] = '-';
		*out = 1;
		return 0;
	}
	if (len > META_LONG_NAME) {
		buf[0] = '#';
		long_id(name, len, buf + 1);
		*out = 33;
		return 0;
	}
	if (len + 1 > cap)
		return EINVAL;
	buf[0] = '=';
	memcpy(buf + 1, name, len);
	*out = len + 1;
	return 0;
}

/* The size of struct meta_dbi before its epochs were added: an older
 * record is that long (and reads as epochs 0). */
#define META_DBI_OLD_SIZE 32

/* Decode a "dbis" record (k, v) into *d and the DBI's name. A long
 * name's record holds the name after the struct, whose size depends on
 * the version that wrote it: the one whose name hashes to the key. */
static int dbi_decode(const MDB_val *k, const MDB_val *v, struct meta_dbi *d,
		      const char **name, size_t *len)
{
	size_t head = v->mv_size;

	memset(d, 0, sizeof(*d));
	*name = (const char *)k->mv_data + 1;
	*len = k->mv_size ? k->mv_size - 1 : 0;
	if (k->mv_size && *(const char *)k->mv_data == '#') {
		char hex[33];

		head = sizeof(*d);
		if (v->mv_size > head) {
			long_id((const char *)v->mv_data + head, v->mv_size - head, hex);
			if (k->mv_size != 33 || memcmp(hex, (const char *)k->mv_data + 1, 32))
				head = META_DBI_OLD_SIZE;
		} else {
			head = META_DBI_OLD_SIZE;
		}
		if (v->mv_size <= head)
			return MDB_CORRUPTED; /* cannot be: written with its name */
		*name = (const char *)v->mv_data + head;
		*len = v->mv_size - head;
	}
	memcpy(d, v->mv_data, head < sizeof(*d) ? head : sizeof(*d));
	return 0;
}

int meta_dbi_count(MDB_txn *txn, struct meta *m, uint64_t *n)
{
	MDB_stat st;
	int rc = mdb_stat(txn, m->dbis, &st);

	*n = rc ? 0 : st.ms_entries;
	return rc;
}

int meta_dbi_get(MDB_txn *txn, struct meta *m, const char *name, size_t len, struct meta_dbi *d)
{
	char key[520];
	size_t klen, nlen;
	const char *nm;
	MDB_val k, v;
	int rc = dbi_key(name, len, key, sizeof(key), &klen);

	if (rc)
		return rc;
	k.mv_size = klen;
	k.mv_data = key;
	rc = mdb_get(txn, m->dbis, &k, &v);
	return rc ? rc : dbi_decode(&k, &v, d, &nm, &nlen);
}

int meta_dbi_put(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		 const struct meta_dbi *d)
{
	char key[520];
	uint8_t val[sizeof(*d) + 512];
	size_t klen;
	int rc = dbi_key(name, len, key, sizeof(key), &klen);

	if (rc)
		return rc;
	if (key[0] != '#')
		return put_blob(txn, m->dbis, key, klen, d, sizeof(*d));
	if (len > 512)
		return EINVAL;
	memcpy(val, d, sizeof(*d));
	memcpy(val + sizeof(*d), name, len);
	return put_blob(txn, m->dbis, key, klen, val, sizeof(*d) + len);
}

int meta_dbi_each(MDB_txn *txn, struct meta *m, meta_dbi_fn fn, void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, m->dbis, &c);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct meta_dbi d;
		const char *name;
		size_t len;

		if (dbi_decode(&k, &v, &d, &name, &len))
			continue;
		rc = fn(ctx, name, len, &d);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- refused remote elements ---- */

/* "m/", the DBI name's digest in hex (so that any name fits a key, and
 * a DBI's records are together) and the instance. */
#define MISFIT_DBI_KEY 34
#define MISFIT_KEY_MAX (MISFIT_DBI_KEY + 128)

static int misfit_key(const char *name, size_t len, const char *instance, char *buf,
		      size_t *klen)
{
	size_t il = instance ? strlen(instance) : 0;

	memcpy(buf, MISFIT_PREFIX, 2);
	long_id(name, len, buf + 2);
	if (il >= MISFIT_KEY_MAX - MISFIT_DBI_KEY)
		return EINVAL;
	if (il)
		memcpy(buf + MISFIT_DBI_KEY, instance, il);
	*klen = MISFIT_DBI_KEY + il;
	return 0;
}

/* The value: the size of the struct as written (uint32), the struct, the
 * DBI's name. */
static int misfit_decode(const MDB_val *v, struct meta_misfit *mf, const char **name,
			 size_t *len)
{
	uint32_t head;

	memset(mf, 0, sizeof(*mf));
	if (v->mv_size < sizeof(head))
		return MDB_CORRUPTED;
	memcpy(&head, v->mv_data, sizeof(head));
	if (head > v->mv_size - sizeof(head))
		return MDB_CORRUPTED;
	memcpy(mf, (const char *)v->mv_data + sizeof(head), head < sizeof(*mf) ? head : sizeof(*mf));
	*name = (const char *)v->mv_data + sizeof(head) + head;
	*len = v->mv_size - sizeof(head) - head;
	return 0;
}

int meta_misfit_get(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		    const char *instance, struct meta_misfit *mf)
{
	char key[MISFIT_KEY_MAX];
	const char *nm;
	size_t klen, nlen;
	MDB_val k, v;
	int rc = misfit_key(name, len, instance, key, &klen);

	if (rc)
		return rc;
	k = (MDB_val){ klen, key };
	rc = mdb_get(txn, m->state, &k, &v);
	return rc ? rc : misfit_decode(&v, mf, &nm, &nlen);
}

int meta_misfit_put(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		    const char *instance, const struct meta_misfit *mf)
{
	char key[MISFIT_KEY_MAX];
	uint8_t val[4 + sizeof(*mf) + 512];
	uint32_t head = sizeof(*mf);
	size_t klen;
	int rc = misfit_key(name, len, instance, key, &klen);

	if (rc)
		return rc;
	if (len > 512)
		return EINVAL;
	memcpy(val, &head, 4);
	memcpy(val + 4, mf, sizeof(*mf));
	if (len)
		memcpy(val + 4 + sizeof(*mf), name, len);
	return put_blob(txn, m->state, key, klen, val, 4 + sizeof(*mf) + len);
}

int meta_misfit_del(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		    const char *instance, uint64_t *n)
{
	char key[MISFIT_KEY_MAX];
	size_t klen;
	uint64_t got = 0;
	int rc = misfit_key(name, len, instance, key, &klen);

	if (!rc && instance) {
		MDB_val k = { klen, key };

		rc = mdb_del(txn, m->state, &k, NULL);
		got = rc == 0;
		if (rc == MDB_NOTFOUND)
			rc = 0;
	} else if (!rc) {
		rc = del_prefix(txn, m->state, key, MISFIT_DBI_KEY, &got);
	}
	if (n)
		*n = got;
	return rc;
}

int meta_misfit_each(MDB_txn *txn, struct meta *m, meta_misfit_fn fn, void *ctx)
{
	char inst[128];
	MDB_cursor *c;
	MDB_val k = { 2, (void *)MISFIT_PREFIX }, v;
	int rc = mdb_cursor_open(txn, m->state, &c);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct meta_misfit mf;
		const char *name;
		size_t len, il;

		if (k.mv_size < 2 || memcmp(k.mv_data, MISFIT_PREFIX, 2))
			break;
		if (k.mv_size <= MISFIT_DBI_KEY || misfit_decode(&v, &mf, &name, &len))
			continue; /* not one of ours: left alone */
		il = k.mv_size - MISFIT_DBI_KEY;
		if (il >= sizeof(inst))
			continue;
		memcpy(inst, (const char *)k.mv_data + MISFIT_DBI_KEY, il);
		inst[il] = 0;
		if ((rc = fn(ctx, name, len, inst, &mf)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Mirror DBI names: KIND ":-" for the unnamed DBI, KIND ":=" NAME else,
 * KIND ":#" and the digest for a long name. */
static int open_one(MDB_txn *txn, char kind, const char *name, size_t len, unsigned flags,
		    MDB_dbi *dbi)
{
	char dname[520], hex[33];
	int n;

	if (len > META_LONG_NAME) {
		long_id(name, len, hex);
		n = snprintf(dname, sizeof(dname), "%c:#%s", kind, hex);
	} else if (len) {
		if (memchr(name, 0, len))
			return EINVAL; /* LMDB's DBI names are C strings */
		n = snprintf(dname, sizeof(dname), "%c:=%.*s", kind, (int)len, name);
	} else {
		n = snprintf(dname, sizeof(dname), "%c:-", kind);
	}
	if (n < 0 || (size_t)n >= sizeof(dname))
		return EINVAL;
	return mdb_dbi_open(txn, dname, flags, dbi);
}

int meta_flags_differ(unsigned a, unsigned b)
{
	return !!((a ^ b) & META_ORDER_FLAGS);
}

int meta_dbi_forget(MDB_txn *txn, struct meta *m, const char *name, size_t len)
{
	static const char kinds[] = "pstc";
	char key[520];
	size_t klen;
	int rc;

	for (int i = 0; kinds[i]; i++) {
		MDB_dbi dbi;

		rc = open_one(txn, kinds[i], name, len, 0, &dbi);
		if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
			continue;
		if (rc || (rc = mdb_drop(txn, dbi, 1)) != 0)
			return rc;
	}
	rc = dbi_key(name, len, key, sizeof(key), &klen);
	if (!rc) {
		MDB_val k = { klen, key };

		rc = mdb_del(txn, m->dbis, &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	/* A new shape here: refusals against the old one end with it. */
	if (!rc)
		rc = meta_misfit_del(txn, m, name, len, NULL, NULL);
	return rc;
}

int meta_dbi_reshaped(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		      unsigned host_flags, int *dropped, struct meta_dbi *old)
{
	int rc = meta_dbi_get(txn, m, name, len, old);

	*dropped = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc || !meta_flags_differ(old->flags, host_flags))
		return rc;
	rc = meta_dbi_forget(txn, m, name, len);
	*dropped = rc == 0;
	return rc;
}

int meta_dbi_open(MDB_txn *txn, struct meta *m, const char *name, size_t len,
		  unsigned host_flags, int create, struct meta_handles *h)
{
	struct meta_dbi d;
	unsigned order = host_flags & META_ORDER_FLAGS, cf;
	int rc;

	memset(h, 0, sizeof(*h));
	rc = meta_dbi_get(txn, m, name, len, &d);
	if (rc == MDB_NOTFOUND) {
		if (!create)
			return rc;
		memset(&d, 0, sizeof(d));
		d.flags = host_flags;
		d.exists = 1;
		rc = meta_dbi_put(txn, m, name, len, &d);
	} else if (rc == 0) {
		order = d.flags & META_ORDER_FLAGS; /* what the mirrors were made with */
	}
	if (rc)
		return rc;
	cf = create ? MDB_CREATE : 0;
	h->dupsort = !!(order & MDB_DUPSORT);
	if (!h->dupsort) {
		/* DUPFIXED without DUPSORT makes LMDB keep keys of one size
		 * and no values (leaf2 pages): never for the mirrors. */
		order &= ~(unsigned)(MDB_DUPFIXED | MDB_INTEGERDUP | MDB_REVERSEDUP);
		rc = open_one(txn, 'p', name, len, cf | order, &h->elems);
		if (!rc)
			rc = open_one(txn, 'c', name, len, cf | order, &h->changed);
		return rc;
	}
	/* DUPFIXED would tie the mirrors to one value size per DBI, which a
	 * host may not keep across DBI re-creations: leave it out. */
	order &= ~MDB_DUPFIXED;
	rc = open_one(txn, 's', name, len, cf | order, &h->vals);
	if (!rc)
		rc = open_one(txn, 't', name, len, cf, &h->elems);
	if (!rc)
		rc = open_one(txn, 'c', name, len, cf | order, &h->changed);
	return rc;
}

uint64_t meta_new_generation(void)
{
	uint64_t g = 0;

	if (getrandom(&g, sizeof(g), 0) != (ssize_t)sizeof(g))
		g = hlc_wall_ns() ^ ((uint64_t)getpid() << 32);
	return g ? g : 1;
}

/* ---- elements ---- */

void meta_hash(const void *p, size_t n, uint8_t out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(out, c.digest, 16);
}

/* Hash of length-prefixed parts, in one call: keys and DUPSORT values
 * are at most 511 bytes, so the buffer is small. */
static void hash_parts(const MDB_val *a, const MDB_val *b, const void *c, size_t clen,
		       uint8_t out[16])
{
	uint8_t buf[4 + 2 * 512 + 64];
	uint32_t alen = (uint32_t)a->mv_size;
	size_t n = 0, blen = b ? b->mv_size : 0;
	XXH128_canonical_t can;

	if (a->mv_size > 512 || blen > 512 || clen > 64) {
		/* Not an LMDB key or dup value: hash the parts' hashes. */
		uint8_t hs[48];

		meta_hash(a->mv_data, a->mv_size, hs);
		meta_hash(b ? b->mv_data : "", blen, hs + 16);
		meta_hash(c, clen, hs + 32);
		meta_hash(hs, sizeof(hs), out);
		return;
	}
	memcpy(buf, &alen, 4);
	n = 4;
	memcpy(buf + n, a->mv_data, a->mv_size);
	n += a->mv_size;
	if (blen)
		memcpy(buf + n, b->mv_data, blen);
	n += blen;
	if (clen)
		memcpy(buf + n, c, clen);
	n += clen;
	XXH128_canonicalFromHash(&can, XXH3_128bits(buf, n));
	memcpy(out, can.digest, 16);
}

/* The "t:" key of a DUPSORT element. */
static void pair_id(const MDB_val *key, const MDB_val *val, uint8_t out[16])
{
	hash_parts(key, val, NULL, 0, out);
}

#define META_ELEM_SIZE 25 /* ts (8, little endian as stored), flags (1), hash (16) */

static void elem_encode(const struct meta_elem *e, uint8_t buf[META_ELEM_SIZE])
{
	memcpy(buf, &e->ts, 8);
	buf[8] = e->flags;
	memcpy(buf + 9, e->hash, 16);
}

static int elem_decode(const MDB_val *v, struct meta_elem *e)
{
	if (v->mv_size != META_ELEM_SIZE)
		return MDB_CORRUPTED;
	memcpy(&e->ts, v->mv_data, 8);
	e->flags = ((const uint8_t *)v->mv_data)[8];
	memcpy(e->hash, (const uint8_t *)v->mv_data + 9, 16);
	return 0;
}

int meta_elem_get(MDB_txn *txn, const struct meta_handles *h, const MDB_val *key,
		  const MDB_val *val, struct meta_elem *e)
{
	uint8_t id[16];
	MDB_val k = *key, v;
	int rc;

	if (h->dupsort) {
		pair_id(key, val, id);
		k.mv_size = sizeof(id);
		k.mv_data = id;
	}
	rc = mdb_get(txn, h->elems, &k, &v);
	return rc ? rc : elem_decode(&v, e);
}

static void add128(uint8_t sum[16], const uint8_t x[16], int sign)
{
	unsigned carry = 0;

	/* Little-endian 128-bit add or subtract: order-independent. */
	for (int i = 0; i < 16; i++) {
		unsigned s = sign >= 0 ? (unsigned)sum[i] + x[i] + carry
				       : (unsigned)sum[i] - x[i] - carry;

		carry = sign >= 0 ? s >> 8 : (s >> 8) & 1;
		sum[i] = (uint8_t)s;
	}
}

void meta_elem_digest(const MDB_val *key, const MDB_val *val, const struct meta_elem *e,
		      int sign, uint8_t sum[16])
{
	uint8_t buf[META_ELEM_SIZE], h[16];
	struct meta_elem norm = *e;

	/* A tombstone's value hash means nothing: leave it out. */
	if (norm.flags & META_DELETED)
		memset(norm.hash, 0, sizeof(norm.hash));
	elem_encode(&norm, buf);
	hash_parts(key, val, buf, sizeof(buf), h);
	add128(sum, h, sign);
}

int meta_elem_put(MDB_txn *txn, const struct meta_handles *h, struct meta_dbi *d,
		  const MDB_val *key, const MDB_val *val, const struct meta_elem *old,
		  const struct meta_elem *e, int changed)
{
	uint8_t id[16], buf[META_ELEM_SIZE];
	MDB_val k = *key, v = { sizeof(buf), buf }, empty = { 0, NULL };
	int rc;

	if (h->dupsort) {
		MDB_val kk = *key, vv = *val;

		pair_id(key, val, id);
		k.mv_size = sizeof(id);
		k.mv_data = id;
		if (!old) {
			rc = mdb_put(txn, h->vals, &kk, &vv, MDB_NODUPDATA);
			if (rc && rc != MDB_KEYEXIST)
				return rc;
		}
	}
	elem_encode(e, buf);
	rc = mdb_put(txn, h->elems, &k, &v, 0);
	if (rc)
		return rc;
	if (old)
		meta_elem_digest(key, h->dupsort ? val : NULL, old, -1, d->digest);
	else
		d->count++;
	meta_elem_digest(key, h->dupsort ? val : NULL, e, 1, d->digest);
	if (changed) {
		MDB_val kk = *key, vv = h->dupsort ? *val : empty;

		rc = mdb_put(txn, h->changed, &kk, &vv, h->dupsort ? MDB_NODUPDATA : 0);
		if (rc == MDB_KEYEXIST)
			rc = 0;
	}
	return rc;
}

int meta_elem_append(MDB_txn *txn, const struct meta_handles *h, struct meta_dbi *d,
		     const MDB_val *key, const struct meta_elem *e)
{
	uint8_t buf[META_ELEM_SIZE];
	MDB_val k = *key, v = { sizeof(buf), buf };
	int rc;

	if (h->dupsort)
		return MDB_KEYEXIST;
	elem_encode(e, buf);
	rc = mdb_put(txn, h->elems, &k, &v, MDB_APPEND);
	if (rc)
		return rc;
	d->count++;
	meta_elem_digest(key, NULL, e, 1, d->digest);
	return 0;
}

int meta_elem_forget(MDB_cursor *cur, const struct meta_handles *h, struct meta_dbi *d,
		     const MDB_val *key, const MDB_val *val, const struct meta_elem *e)
{
	uint8_t id[16];
	int rc;

	/* Digest first: key and val point into pages the deletes may free. */
	meta_elem_digest(key, h->dupsort ? val : NULL, e, -1, d->digest);
	if (h->dupsort) {
		MDB_val k = { sizeof(id), id };

		pair_id(key, val, id);
		rc = mdb_del(mdb_cursor_txn(cur), h->elems, &k, NULL);
		if (rc)
			return rc;
	}
	rc = mdb_cursor_del(cur, 0);
	if (!rc && d->count)
		d->count--;
	return rc;
}
