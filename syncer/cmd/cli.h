/* cli.h: how every command reads its arguments, the same way: getopt_long
 * (options and operands in any order, "--" ends the options), -h/--help
 * anywhere prints the command's help on stdout and exits 0, and a bad
 * option or operand is named on stderr with a pointer to the help and
 * exits MDBTAP_EXIT_USAGE.
 *
 *   struct cli cl;
 *   cli_begin(&cl, "stats");
 *   while ((opt = cli_next(&cl, argc, argv, "", opts)) != -1)
 *           ...;                                  (never 'h', '?' or ':')
 *   if ((rc = cli_done(&cl, argc, 1, 1)) != CLI_GO)
 *           return rc;
 *   ... argv[optind] is the operand
 */
#ifndef MDBTAP_CLI_H
#define MDBTAP_CLI_H

#include <getopt.h>

#include "commands.h"

#define CLI_GO (-1)   /* cli_done: the arguments are good, go on */

/* Every command's long options end with these. */
#define CLI_OPTS_END { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }

struct cli {
	const struct command *cmd;
	int help;             /* -h/--help seen */
	char bad[160];        /* the first bad option, or "" */
	char shortopts[32];
	char **argv;          /* as getopt_long left it (operands last) */
};

/* Start reading the arguments of the command called name (in the table). */
void cli_begin(struct cli *cl, const char *name);

/* getopt_long's next option of the command's own (shortopts as
 * getopt's, without 'h'; a leading '+' stops at the first operand), or
 * -1 at the end (optind: the first operand). -h and bad options are
 * noted for cli_done, not returned. */
int cli_next(struct cli *cl, int argc, char **argv, const char *shortopts,
	     const struct option *longopts);

/* After the options: the help if asked for (exit 0), else the first bad
 * option, or fewer operands than min or more than max (exit 2), else
 * CLI_GO. */
int cli_done(const struct cli *cl, int argc, int min, int max);

/* "mdbtap NAME: MESSAGE" and where the help is, on stderr; returns
 * MDBTAP_EXIT_USAGE. */
int cli_bad(const struct cli *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
