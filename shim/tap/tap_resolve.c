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

void *tap_caller_def(const char *name, const void *caller, const void *self)
{
	Dl_info info;
	void *h, *f;

	if (!dladdr(caller, &info) || !info.dli_fname || !info.dli_fname[0])
		return NULL;
	h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	f = dlsym(h, name);
	dlclose(h); /* the caller's object stays loaded: it is calling us */
	return f && f != self ? f : NULL;
}
