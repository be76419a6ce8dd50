/* tap_resolve.c: find the real LMDB behind our wrappers.
 *
 * Three places, in order (docs/DESIGN.md §3: the host never fails because of us):
 *  1. dlsym(RTLD_NEXT): the host links liblmdb, or it is in the global
 *     scope; also the deepbind variant, whose own DT_NEEDED is liblmdb.
 *  2. dlopen("liblmdb.so.0", RTLD_NOLOAD): the host dlopen'ed a module
 *     that needs liblmdb with RTLD_LOCAL (python3-lmdb, PowerDNS and
 *     postfix plugins), where RTLD_NEXT finds nothing.
 *  3. Any loaded object whose name contains "liblmdb" and is not us.
 * A candidate that resolves to our own wrapper is refused, and all
 * functions come from the same object.
 */
#define _GNU_SOURCE
#include "tap_resolve.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAP_DEFINE_REAL(ret, name, args) ret(*real_##name) args;
TAP_WRAPPED_FUNCS(TAP_DEFINE_REAL)
TAP_CALLED_FUNCS(TAP_DEFINE_REAL)
#undef TAP_DEFINE_REAL

static int resolved;
static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;

/* A fork while another thread resolves (the first mdb_* call of a host
 * that starts LMDB in one thread and forks in another) would leave the
 * child with resolve_lock held by a thread it does not have: its first
 * mdb_* call would wait for ever. fork() waits for the resolver instead.
 * Registered by a constructor, before the host can have threads. */
static void resolve_prepare(void) { pthread_mutex_lock(&resolve_lock); }
static void resolve_release(void) { pthread_mutex_unlock(&resolve_lock); }

__attribute__((constructor)) static void resolve_atfork(void)
{
	pthread_atfork(resolve_prepare, resolve_release, resolve_release);
}

/* MDBTAP_TEST_RESOLVE_DELAY_MS: hold the resolver lock that long, so a
 * test can fork in that window (tests/hosts/fork_resolve.c). */
static void test_delay(void)
{
	const char *s = getenv("MDBTAP_TEST_RESOLVE_DELAY_MS");

	if (s && *s) {
		struct timespec ts = { 0, (long)(atoi(s) % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
}

/* Whether handle gives the real mdb_put, not ours. */
static int is_real(void *handle)
{
	void *f = dlsym(handle, "mdb_put");

	return f && f != (void *)mdb_put;
}

static int fill_from(void *handle)
{
#define TAP_LOOKUP(ret, name, args)                                   \
	*(void **)&real_##name = dlsym(handle, #name);                \
	if (!real_##name || (void *)real_##name == (void *)name)      \
		return 0;
	TAP_WRAPPED_FUNCS(TAP_LOOKUP)
#undef TAP_LOOKUP
#define TAP_LOOKUP_CALLED(ret, name, args)                            \
	*(void **)&real_##name = dlsym(handle, #name);                \
	if (!real_##name)                                             \
		return 0;
	TAP_CALLED_FUNCS(TAP_LOOKUP_CALLED)
#undef TAP_LOOKUP_CALLED
	return 1;
}

struct scan {
	const char *self;
	char found[8][512];
	int n;
};

static int scan_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *s = arg;
	const char *name = info->dlpi_name;

	(void)size;
	if (s->n < 8 && name && strstr(name, "liblmdb") && strcmp(name, s->self) != 0 &&
	    strlen(name) < sizeof(s->found[0]))
		strcpy(s->found[s->n++], name);
	return 0;
}

/* Step 3. dlopen is called outside the dl_iterate_phdr callback, which
 * holds the loader's lock. */
static int from_loaded_objects(void)
{
	struct scan s = { .self = "" };
	Dl_info self;

	if (dladdr((void *)mdb_put, &self) && self.dli_fname)
		s.self = self.dli_fname;
	dl_iterate_phdr(scan_object, &s);
	for (int i = 0; i < s.n; i++) {
		void *h = dlopen(s.found[i], RTLD_LAZY | RTLD_NOLOAD);

		if (h && is_real(h) && fill_from(h))
			return 1;
	}
	return 0;
}

static int resolve_all(void)
{
	void *h;

	dlerror();
	if (is_real(RTLD_NEXT) && fill_from(RTLD_NEXT))
		return 1;
	h = dlopen("liblmdb.so.0", RTLD_LAZY | RTLD_NOLOAD);
	if (h && is_real(h) && fill_from(h))
		return 1;
	return from_loaded_objects();
}

int tap_resolve(void)
{
	if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
		return 1;
	pthread_mutex_lock(&resolve_lock);
	if (!resolved)
		test_delay();
	if (!resolved && resolve_all())
		__atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&resolve_lock);
	return resolved;
}

/* Callers seen so far, one entry per object (its loaded segments'
 * range). Appended under resolve_lock, read without it: an entry is
 * complete before ncallers counts it. An object unloaded and another
 * loaded at the same place would inherit its entry: hosts that unload
 * modules with their own LMDB are not known. A full table, or a caller
 * in no object (generated code), takes the slow path on every call. */
#define TAP_MAX_CALLERS 32
struct caller_obj {
	uintptr_t lo, hi;
	int own;                     /* defines its own mdb_put */
	char name[512];              /* "" for the main program */
	void *fn[TAP_NFUNCS];        /* own definitions found so far */
};
static struct caller_obj callers[TAP_MAX_CALLERS];
static unsigned ncallers;

struct find_obj {
	uintptr_t addr;
	int found;
	struct caller_obj o;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find_obj *f = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	int in = 0;

	(void)size;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s, e;

		if (ph->p_type != PT_LOAD)
			continue;
		s = info->dlpi_addr + ph->p_vaddr;
		e = s + ph->p_memsz;
		lo = s < lo ? s : lo;
		hi = e > hi ? e : hi;
		in |= f->addr >= s && f->addr < e;
	}
	if (!in)
		return 0;
	f->found = 1;
	f->o.lo = lo;
	f->o.hi = hi;
	snprintf(f->o.name, sizeof(f->o.name), "%s", info->dlpi_name ? info->dlpi_name : "");
	return 1;
}

/* name's definition in the object o itself (not in its dependencies,
 * which dlsym on its handle also searches), or NULL. */
static void *own_symbol(const struct caller_obj *o, const char *name)
{
	void *h = o->name[0] ? dlopen(o->name, RTLD_LAZY | RTLD_NOLOAD) : dlopen(NULL, RTLD_LAZY);
	void *f;

	if (!h)
		return NULL;
	f = dlsym(h, name);
	dlclose(h); /* it stays loaded: it holds the caller */
	return f && (uintptr_t)f >= o->lo && (uintptr_t)f < o->hi ? f : NULL;
}

static struct caller_obj *lookup_caller(uintptr_t a)
{
	unsigned n = __atomic_load_n(&ncallers, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++)
		if (a - callers[i].lo < callers[i].hi - callers[i].lo)
			return &callers[i];
	return NULL;
}

/* Slow path: find the object that holds a, keep it, and return it
 * (NULL: in no object). *tmp holds it when the table is full. The loader
 * is asked without resolve_lock held: a host's constructor that calls
 * LMDB inside dlopen holds the loader's lock and may wait for ours. */
static struct caller_obj *add_caller(uintptr_t a, struct caller_obj *tmp)
{
	struct find_obj f = { .addr = a };
	struct caller_obj *c;
	unsigned n;

	dl_iterate_phdr(find_object, &f);
	if (!f.found)
		return NULL;
	f.o.own = own_symbol(&f.o, "mdb_put") != NULL;
	pthread_mutex_lock(&resolve_lock);
	c = lookup_caller(a); /* another thread may have added it */
	if (c) {
		pthread_mutex_unlock(&resolve_lock);
		return c;
	}
	n = ncallers;
	if (n < TAP_MAX_CALLERS) {
		callers[n] = f.o;
		__atomic_store_n(&ncallers, n + 1, __ATOMIC_RELEASE);
		c = &callers[n];
	} else {
		*tmp = f.o;
		c = tmp;
	}
	pthread_mutex_unlock(&resolve_lock);
	return c;
}

int tap_caller_plain(const void *caller)
{
	const struct caller_obj *c = lookup_caller((uintptr_t)caller);

	if (__builtin_expect(c != NULL, 1))
		return !c->own;
	return !tap_own_def(caller, TAP_FN_mdb_put, "mdb_put");
}

void *tap_own_def(const void *caller, unsigned idx, const char *name)
{
	struct caller_obj tmp;
	uintptr_t a = (uintptr_t)caller;
	struct caller_obj *c = lookup_caller(a);
	void *f;

	if (!c)
		c = add_caller(a, &tmp);
	if (!c || !c->own || idx >= TAP_NFUNCS)
		return NULL;
	f = __atomic_load_n(&c->fn[idx], __ATOMIC_ACQUIRE);
	if (f)
		return f;
	f = own_symbol(c, name);
	__atomic_store_n(&c->fn[idx], f, __ATOMIC_RELEASE);
	return f;
}
