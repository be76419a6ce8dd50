/* fuzz_merge.c: libFuzzer target for the receive and merge path
 * (syncer/engine/receive.c, merge.c; docs/DESIGN.md §12): one remote
 * object, read from a directory store by a real syncer cycle, against a
 * local env whose DBIs have random flags (DUPSORT, INTEGERKEY, DUPFIXED,
 * INTEGERDUP, REVERSEKEY, REVERSEDUP) and a few elements.
 *
 * The input says, in order: the local DBIs' flags, the local elements,
 * then the object: either raw bytes (compressed here, with the frame
 * checksum, so that the protobuf decoder is reached) or a structured
 * description written with snap_writer, so that most objects verify and
 * reach apply_kv with keys and values of every size, tombstones,
 * timestamps far ahead, DBIs of other flags, names at LMDB's limits.
 *
 * After the cycle, besides what ASan and UBSan catch:
 * - every DBI of the host still holds only what its flags allow (keys no
 *   longer than LMDB's limit, INTEGERKEY keys of one size, 4 or 8 bytes,
 *   DUPFIXED and INTEGERDUP values of one size per DBI);
 * - the metadata and the host agree: a rescan by value digest finds
 *   nothing to stamp (nothing was written half-right: an element either
 *   went in with its metadata or was refused and left both alone).
 * A failed check aborts, so the fuzzer keeps the input.
 *
 * Built with -DFUZZ_MERGE_MAIN it is a plain program instead (ctest
 * trust_fuzz_merge): `fuzz_merge_seeded SEED COUNT [FILE...]` runs each
 * FILE, then COUNT inputs from a fixed pseudo-random generator. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "config.h"
#include "elem.h"
#include "err.h"
#include "hlc.h"
#include "jdir.h"
#include "journal.h"
#include "log.h"
#include "objname.h"
#include "rescan.h"
#include "snap.h"
#include "sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDBI 4                  /* the unnamed DBI and "a", "b", "c" */
static const char *const names[] = { "", "a", "b", "c", "zz" };
static const unsigned flag_bits[] = { MDB_REVERSEKEY, MDB_DUPSORT, MDB_INTEGERKEY,
				      MDB_DUPFIXED, MDB_INTEGERDUP, MDB_REVERSEDUP };
static char root[4096];
static struct senv_stats total; /* what the inputs did, for the summary */

struct in {
	const uint8_t *p;
	size_t n, off;
};

static unsigned u8(struct in *in)
{
	return in->off < in->n ? in->p[in->off++] : 0;
}

static uint64_t u64(struct in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | u8(in);
	return v;
}

static unsigned flags_of(unsigned b)
{
	unsigned f = 0;

	for (unsigned i = 0; i < 6; i++)
		if (b & (1u << i))
			f |= flag_bits[i];
	return f;
}

/* n bytes for a key or value: taken from the input, cycled. */
static void fill(struct in *in, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(u8(in) ^ (uint8_t)i);
}

/* A key: few distinct bytes, so that remote keys meet local ones. */
static void fill_key(struct in *in, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(u8(in) & 1);
}

/* A size: mostly small, sometimes at LMDB's limits and past them. */
static size_t size_of(struct in *in, int key)
{
	static const size_t special[] = { 0, 4, 8, 2, 511, 512, 600, 1000, 4096, 70000 };
	unsigned b = u8(in);

	if (b < 240)
		return (size_t)key + b % 12;
	return special[b % (sizeof(special) / sizeof(special[0]))];
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st, (void)type, (void)f;
	return remove(p);
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_merge: %s\n", what);
	abort();
}

/* The local env: DBIs with random flags and a few elements that fit
 * them, written with plain LMDB (no tap: the syncer adopts them). */
static void make_local(struct in *in, const char *path, unsigned *lflags)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[NDBI];
	int ok[NDBI] = { 0 };
	size_t ksz[NDBI], vsz[NDBI];
	unsigned nd = u8(in) % NDBI, ne;

	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
	    mdb_env_set_mapsize(env, 8u << 20) || mdb_env_open(env, path, 0, 0600))
		die("local env");
	if (mdb_txn_begin(env, NULL, 0, &txn))
		die("local txn");
	/* The unnamed DBI is plain when named ones exist (LMDB keeps their
	 * records there), else of any flags. */
	lflags[0] = nd ? 0 : flags_of(u8(in));
	ok[0] = mdb_dbi_open(txn, NULL, lflags[0] | MDB_CREATE, &dbi[0]) == 0;
	for (unsigned i = 1; i <= nd; i++) {
		lflags[i] = flags_of(u8(in));
		ok[i] = mdb_dbi_open(txn, names[i], lflags[i] | MDB_CREATE, &dbi[i]) == 0;
	}
	for (unsigned i = 0; i < NDBI; i++) {
		ksz[i] = u8(in) & 1 ? 8 : 4;
		vsz[i] = (lflags[i] & MDB_INTEGERDUP) ? (u8(in) & 1 ? 8 : 4) : 1 + u8(in) % 9;
	}
	ne = u8(in) % 8;
	for (unsigned j = 0; j < ne; j++) {
		unsigned i = u8(in) % NDBI;
		uint8_t k[16], v[16];
		MDB_val key, val;

		if (!ok[i])
			continue;
		if ((lflags[i] & (MDB_DUPSORT | MDB_DUPFIXED)) == MDB_DUPFIXED)
			continue; /* LMDB cannot hold elements there (leaf2) */
		key.mv_size = (lflags[i] & MDB_INTEGERKEY) ? ksz[i] : 1 + u8(in) % 8;
		val.mv_size = (lflags[i] & (MDB_DUPFIXED | MDB_INTEGERDUP)) ? vsz[i] : u8(in) % 9;
		fill_key(in, k, key.mv_size);
		fill(in, v, val.mv_size);
		key.mv_data = k;
		val.mv_data = v;
		if (i == 0 && nd)
			k[0] = 'd'; /* not a DBI's name */
		(void)mdb_put(txn, dbi[i], &key, &val, 0);
	}
	if (mdb_txn_commit(txn))
		die("local commit");
	mdb_env_close(env);
}

static int sink(void *ctx, const void *buf, size_t len)
{
	return snap_write_fd_sink(ctx, buf, len);
}

/* The object, as described by the rest of the input. */
static void make_object(struct in *in, int fd)
{
	char gen[24], bigname[700];
	struct snap_meta m = { gen, "fz", "host", "main", 5, 0, 0, 0, 0 };
	struct snap_writer *w = NULL;
	uint64_t now = hlc_wall_ns();
	unsigned nd;

	if (u8(in) >= 0xe0) {
		/* Raw: the rest of the input is the protobuf. */
		size_t n = in->n - in->off, cap = ZSTD_compressBound(n);
		void *z = malloc(cap);
		ZSTD_CCtx *c = ZSTD_createCCtx();

		if (!z || !c)
			die("memory");
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
		cap = ZSTD_compress2(c, z, cap, in->p + in->off, n);
		if (!ZSTD_isError(cap) && write(fd, z, cap) != (ssize_t)cap)
			die("write");
		ZSTD_freeCCtx(c);
		free(z);
		return;
	}
	snprintf(gen, sizeof(gen), "G%016llx", 1ull);
	m.ts_ns = now;
	if (snap_writer_new(&w, &m, 1, 0, sink, &fd))
		die("writer");
	nd = u8(in) % 5;
	for (unsigned d = 0; d < nd; d++) {
		unsigned sel = u8(in) % 7, fb = u8(in), nkv, t;
		struct snap_dbi dbi = { names[sel % 5], strlen(names[sel % 5]), flags_of(fb), "",
					0, 0 };

		if (sel == 5) { /* a name at and past LMDB's limits */
			dbi.name_len = size_of(in, 1);
			if (dbi.name_len > sizeof(bigname))
				dbi.name_len = sizeof(bigname);
			memset(bigname, 'n', dbi.name_len);
			dbi.name = bigname;
		} else if (sel == 6) {
			dbi.name = "d"; /* maybe a data key of the unnamed DBI */
			dbi.name_len = 1;
		}
		/* Rarely a flag that is not persistent, or a transform that
		 * does not match DUPSORT: the object is refused whole. */
		t = u8(in);
		if (t % 16 == 0)
			dbi.flags |= 0x10000;
		dbi.transform = !(dbi.flags & MDB_DUPSORT) == (t % 16 != 1) ? "" :
				SNAP_TRANSFORM_DUPSORT;
		/* The DBI's shape (merge.c, shape_decide), from bits of the same
		 * byte: none, a recent one (a newer shape than the local DBI's
		 * epoch 0: it is made anew), an old small one, one too far ahead. */
		switch ((t >> 4) & 3) {
		case 1:
			dbi.epoch = now - (t >> 6) * 1000;
			dbi.prev_epoch = t >> 6;
			break;
		case 2:
			dbi.epoch = (t >> 6) + 1;
			break;
		case 3:
			dbi.epoch = now + 7200000000000ull;
			break;
		}
		if (snap_writer_dbi(w, &dbi))
			break;
		nkv = u8(in) % 16;
		for (unsigned j = 0; j < nkv; j++) {
			static uint8_t k[70000], v[70000];
			struct snap_kv kv = { k, size_of(in, 1), v, size_of(in, 0), 0, 0 };
			/* Mostly the sizes the object's own flags call for. */
			if ((dbi.flags & MDB_INTEGERKEY) && u8(in) % 8)
				kv.klen = u8(in) & 1 ? 8 : 4;
			if ((dbi.flags & MDB_DUPSORT) &&
			    (dbi.flags & (MDB_INTEGERDUP | MDB_DUPFIXED)) && u8(in) % 8)
				kv.vlen = u8(in) & 1 ? 8 : 4;
			t = u8(in);

			fill_key(in, k, kv.klen < 64 ? kv.klen : 64);
			fill(in, v, kv.vlen < 64 ? kv.vlen : 64);
			kv.ts = t % 5 == 0 ? 0 : t % 5 == 1 ? now - (t >> 3) :
				t % 5 == 2 ? now + 7200000000000ull : t % 5 == 3 ? (uint64_t)t : u64(in);
			kv.flags = (t & 0x80) ? SNAP_KV_DELETED : 0;
			if (snap_writer_kv(w, &kv))
				break;
		}
	}
	(void)snap_writer_finish(w);
	snap_writer_free(w);
}

/* Every element of a host DBI fits its flags. */
static void check_dbi(MDB_txn *txn, MDB_dbi dbi, size_t maxkey)
{
	MDB_cursor *c;
	MDB_val k, v;
	unsigned f;
	size_t ks = 0, vs = 0;
	int rc;

	if (mdb_dbi_flags(txn, dbi, &f) || mdb_cursor_open(txn, dbi, &c))
		die("host dbi");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (!k.mv_size || k.mv_size > maxkey) {
			fprintf(stderr, "fuzz_merge: a key of %zu bytes, DBI flags 0x%x\n",
				k.mv_size, f);
			die("a key of a size LMDB does not take");
		}
		/* LMDB makes the pages of such a DBI leaf2 pages (fixed-size
		 * keys, no values): nothing may be written there. */
		if ((f & (MDB_DUPSORT | MDB_DUPFIXED)) == MDB_DUPFIXED)
			die("an element in a DUPFIXED DBI without DUPSORT");
		if (f & MDB_INTEGERKEY) {
			if ((k.mv_size != 4 && k.mv_size != 8) || (ks && k.mv_size != ks))
				die("INTEGERKEY keys of mixed sizes");
			ks = k.mv_size;
		}
		if ((f & MDB_DUPSORT) && v.mv_size > maxkey)
			die("a DUPSORT value over the key limit");
		if ((f & MDB_DUPSORT) && (f & (MDB_DUPFIXED | MDB_INTEGERDUP))) {
			if (vs && v.mv_size != vs)
				die("DUPFIXED values of mixed sizes");
			if ((f & MDB_INTEGERDUP) && v.mv_size != 4 && v.mv_size != 8)
				die("INTEGERDUP values of a size it does not take");
			vs = v.mv_size;
		}
	}
	if (rc != MDB_NOTFOUND)
		die("host cursor");
	mdb_cursor_close(c);
}

static void check(struct sync_env *e)
{
	struct senv *s = &e->s;
	size_t maxkey = (size_t)mdb_env_get_maxkeysize(s->host);
	MDB_txn *host, *mt;
	MDB_cursor *c;
	MDB_val k, v;
	struct dset ds;
	uint64_t n = 0;
	int rc;

	if (mdb_txn_begin(s->host, NULL, MDB_RDONLY, &host))
		die("host txn");
	check_dbi(host, 1 /* the unnamed DBI */, maxkey);
	if (mdb_cursor_open(host, 1, &c))
		die("main cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char name[600];
		MDB_dbi d;

		if (!senv_is_dbi_record(s, host, &k, &v) || k.mv_size >= sizeof(name))
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = 0;
		if (mdb_dbi_open(host, name, 0, &d) == 0)
			check_dbi(host, d, maxkey);
	}
	mdb_cursor_close(c);
	/* Metadata and host agree: a rescan finds nothing to stamp. */
	if (mdb_txn_begin(meta_env(s->meta), NULL, 0, &mt))
		die("meta txn");
	elem_set_init(&ds, s, host, mt);
	rc = rescan_all(&ds, 1, STAMP_IF_CHANGED, &n);
	elem_set_flush(&ds, 1);
	mdb_txn_abort(mt);
	mdb_txn_commit(host);
	if (rc)
		die("rescan failed");
	if (n) {
		fprintf(stderr, "fuzz_merge: %llu elements differ from their metadata\n",
			(unsigned long long)n);
		die("the host and the metadata disagree after the merge");
	}
}

static void setup(void)
{
	const char *t = getenv("TMPDIR");

	if (root[0])
		return;
	snprintf(root, sizeof(root), "%s/fuzz_merge.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(root))
		die("mkdtemp");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size, 0 };
	char env[4200], store[4200], url[4300], obj[4400], logf[4200], comp[4300], err[1024];
	unsigned lflags[NDBI] = { 0 };
	struct objname on = { "main", "fz", 0, 1, 1, 0, 5 };
	struct cfg c;
	struct cfg_env ce;
	struct sync_env e;
	struct stat st;
	struct journal *j;
	struct journal_open_opts jo = { 1, 1, 0600, NULL, 65536, 0 };
	char *inst;
	int fd;

	setup();
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(env, sizeof(env), "%s/env", root);
	snprintf(store, sizeof(store), "%s/store", root);
	snprintf(logf, sizeof(logf), "%s.log", root);
	if (mkdir(root, 0700) || mkdir(env, 0700) || mkdir(store, 0700))
		die("mkdir");
	log_open(logf, MDBTAP_LOG_ERROR, MDBTAP_LOG_TEXT);
	make_local(&in, env, lflags);
	/* A small journal (the default reserves 64 MiB). */
	if (jdir_env_stat(env, 0, &st) || journal_companion_dir(env, 0, comp, sizeof(comp)))
		die("companion");
	jo.env_data = &st;
	if (journal_open(comp, &jo, &j))
		die("journal");
	journal_close(j);

	on.ts_ns = hlc_wall_ns() - 1000000000ull;
	if (objname_format(&on, obj, sizeof(obj) - strlen(store) - 2))
		die("name");
	{
		char path[8900];

		snprintf(path, sizeof(path), "%s/%s", store, obj);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			die("object file");
		make_object(&in, fd);
		close(fd);
	}

	cfg_init(&c);
	inst = c.instance;
	c.instance = "me";
	c.once = 1;
	memset(&ce, 0, sizeof(ce));
	snprintf(url, sizeof(url), "file://%s", store);
	ce.name = "main";
	ce.path = env;
	ce.store = url;
	if (sync_open(&e, &ce, err, sizeof(err))) {
		fprintf(stderr, "fuzz_merge: %s\n", err);
		die("sync_open");
	}
	(void)sync_cycle(&e, &c, SYNC_ALL);
	if (!e.halted) {
		check(&e);
		total.objects_in += e.s.stats.objects_in;
		total.objects_bad += e.s.stats.objects_bad;
		total.elems_merged += e.s.stats.elems_merged;
		total.elems_misfit += e.s.stats.elems_misfit;
		total.elems_refused += e.s.stats.elems_refused;
	}
	sync_close(&e);
	c.instance = inst;
	cfg_free(&c);
	log_close();
	return 0;
}

#ifdef FUZZ_MERGE_MAIN
static uint64_t rng;

static uint8_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 24);
}

int main(int argc, char **argv)
{
	uint8_t buf[4096];
	unsigned long count;

	if (argc < 3) {
		fprintf(stderr, "usage: fuzz_merge_seeded SEED COUNT [FILE...]\n");
		return 2;
	}
	rng = strtoull(argv[1], NULL, 0) * 0x9e3779b97f4a7c15ull | 1;
	count = strtoul(argv[2], NULL, 0);
	for (int i = 3; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
	}
	for (unsigned long i = 0; i < count; i++) {
		size_t n = 16 + next() * 4u;

		for (size_t k = 0; k < n; k++)
			buf[k] = next();
		if (getenv("FUZZ_MERGE_SAVE")) { /* the input, to run it again alone */
			FILE *f = fopen(getenv("FUZZ_MERGE_SAVE"), "wb");

			if (f) {
				fwrite(buf, 1, n, f);
				fclose(f);
			}
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	strcat(root, ".log");
	if (!getenv("FUZZ_MERGE_KEEP_LOG"))
		unlink(root);
	printf("fuzz_merge: %lu inputs, %d files: no crash, every check held (objects: %llu "
	       "applied, %llu quarantined; elements: %llu merged, %llu misfits, %llu future)\n",
	       count, argc - 3, (unsigned long long)total.objects_in,
	       (unsigned long long)total.objects_bad, (unsigned long long)total.elems_merged,
	       (unsigned long long)total.elems_misfit, (unsigned long long)total.elems_refused);
	return 0;
}
#endif
