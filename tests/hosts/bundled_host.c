/* bundled_host.c: dlopen a module with LMDB compiled in, RTLD_LOCAL, and
 * run it (see bundled_mod.c). With the tap preloaded every one of the
 * module's calls must reach the module's own functions: before any other
 * LMDB is loaded, and again after the system liblmdb was loaded
 * RTLD_LOCAL, as another plugin or python3-lmdb does (the tap then finds
 * an LMDB, but not the one this caller means). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	void *h;
	int (*run)(void);
	int n;

	if (argc != 2)
		return 2;
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 2;
	}
	*(void **)&run = dlsym(h, "bundled_run");
	if (!run)
		return 2;
	n = run();
	if (n != 6) {
		printf("the module's LMDB calls: %d, want 6 (a negative value: an error)\n", n);
		return 1;
	}
	if (!dlopen("liblmdb.so.0", RTLD_NOW | RTLD_LOCAL)) {
		printf("dlopen liblmdb.so.0: %s\n", dlerror());
		return 2;
	}
	n = run();
	if (n != 6) {
		printf("after liblmdb was loaded, the module's LMDB calls: %d, want 6\n", n);
		return 1;
	}
	printf("ok\n");
	return 0;
}
