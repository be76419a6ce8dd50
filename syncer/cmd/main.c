/* main.c: mdbtap, the companion CLI of the tap: mdbtap's own options,
 * `mdbtap help [COMMAND]`, and the command table (commands.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "mdbtap.h"

enum { OPT_VERSION = 256 };

/* `mdbtap help [COMMAND]` */
static int help(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2 || (argc == 2 && !strcmp(argv[1], "help"))) {
		commands_list(stdout);
		return MDBTAP_EXIT_OK;
	}
	c = commands_find(argv[1]);
	if (argc > 2 || !c) {
		fprintf(stderr, "mdbtap help: %s '%s'\nTry 'mdbtap help'.\n",
			c ? "unexpected argument" : "unknown command", argv[c ? 2 : 1]);
		return MDBTAP_EXIT_USAGE;
	}
	commands_help(stdout, c);
	return MDBTAP_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *c;
	int opt;

	opterr = 0;
	/* '+': mdbtap's own options end at the command's name */
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (opt == 'h') {
			commands_list(stdout);
			return MDBTAP_EXIT_OK;
		}
		if (opt == OPT_VERSION) {
			printf("mdbtap %s\n", MDBTAP_VERSION_STRING);
			return MDBTAP_EXIT_OK;
		}
		fprintf(stderr, "mdbtap: unknown option '%s'\nTry 'mdbtap help'.\n",
			argv[optind - 1]);
		return MDBTAP_EXIT_USAGE;
	}
	if (optind >= argc) {
		commands_list(stderr);
		return MDBTAP_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(argv[0], "help"))
		return help(argc, argv);
	c = commands_find(argv[0]);
	if (c)
		return c->run(argc, argv);
	fprintf(stderr, "mdbtap: unknown command '%s'\nTry 'mdbtap help'.\n", argv[0]);
	return MDBTAP_EXIT_USAGE;
}
