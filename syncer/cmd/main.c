/* main.c: mdbtap, the companion CLI of the tap. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "mdbtap.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "doctor", cmd_doctor, "say whether the tap can see a program's writes, and why not" },
	{ "run", cmd_run, "run a program with the tap preloaded, and its syncer next to it" },
	{ "sync", cmd_sync, "keep envs in sync with other instances through a store" },
	{ "journal", cmd_journal, "print an env's journal and the txn ids it does not account for" },
	{ "digest", cmd_digest, "print a digest of each synced DBI (equal on instances in sync)" },
	{ "dump", cmd_dump, "print every element the syncer knows, with timestamps and tombstones" },
	{ "snapshots", cmd_snapshots, "list, show or dump the objects in a store" },
	{ "stats", cmd_stats, "print a syncer's counters: requests to the store, objects, retries" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: mdbtap COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'mdbtap COMMAND --help' describes a command.\n"
		   "exit codes: 0 ok, 1 failure, 2 usage, 3 unaccounted txn ids (journal --check)\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? MDBTAP_EXIT_USAGE : MDBTAP_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mdbtap %s\n", MDBTAP_VERSION_STRING);
		return MDBTAP_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "mdbtap: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return MDBTAP_EXIT_USAGE;
}
