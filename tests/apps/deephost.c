/* deephost.c: a host that loads its LMDB code only through a plugin, as
 * PHP (RTLD_DEEPBIND) or postfix/pdns (RTLD_LOCAL) do. It does not link
 * liblmdb itself, so liblmdb never enters the global scope.
 *
 * usage: deephost deepbind|local PLUGIN ENVDIR */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	int flags = RTLD_NOW;
	void *h;
	int (*write_fn)(const char *);

	if (argc != 4 || (strcmp(argv[1], "deepbind") && strcmp(argv[1], "local"))) {
		fprintf(stderr, "usage: deephost deepbind|local PLUGIN ENVDIR\n");
		return 2;
	}
	flags |= strcmp(argv[1], "deepbind") ? RTLD_LOCAL : RTLD_DEEPBIND;
	h = dlopen(argv[2], flags);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	*(void **)&write_fn = dlsym(h, "plugin_write");
	if (!write_fn) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return 2;
	}
	return write_fn(argv[3]) ? 1 : 0;
}
