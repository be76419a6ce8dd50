/* commands.h: the subcommands of mdbtap, their table (commands.c: the one
 * source of their summaries and help texts) and exit codes. Each command
 * takes argc/argv after the command name, parses them with cli.h's
 * conventions, and returns the process exit code. */
#ifndef MDBTAP_COMMANDS_H
#define MDBTAP_COMMANDS_H

#include <stddef.h>
#include <stdio.h>

/* Exit codes, documented in the README and in `mdbtap help`. */
#define MDBTAP_EXIT_OK 0
#define MDBTAP_EXIT_FAIL 1      /* the command could not do its job */
#define MDBTAP_EXIT_USAGE 2     /* bad arguments */
#define MDBTAP_EXIT_UNACCOUNTED 3 /* journal --check: txn ids nobody accounts for */
#define MDBTAP_EXIT_SHRANK 4    /* sync: a file it maps shrank under it (SIGBUS), such as
				   a data file copied over in place: start it again */

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;   /* what follows "usage: mdbtap NAME"; lines after
				   the first are whole usage lines */
	const char *summary;    /* one line, lower case: main's list, and the
				   first line of the help */
	const char *details;    /* the rest of the help: arguments, options */
	void (*more)(FILE *f);  /* more help printed by a module, or NULL */
};

/* Every command, in the order `mdbtap help` lists them. */
extern const struct command commands_table[];
extern const size_t commands_count;

/* The command called name, or NULL. */
const struct command *commands_find(const char *name);

/* A command's help: usage, summary, details. */
void commands_help(FILE *f, const struct command *c);

/* mdbtap's own help: usage, the commands with their summaries, exit codes. */
void commands_list(FILE *f);

int cmd_journal(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_digest(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
