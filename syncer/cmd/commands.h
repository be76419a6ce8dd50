/* commands.h: the subcommands of mdbtap. Each takes argc/argv after the
 * command name and returns the process exit code (see main.c). */
#ifndef MDBTAP_COMMANDS_H
#define MDBTAP_COMMANDS_H

/* Exit codes, documented in the README and in --help. */
#define MDBTAP_EXIT_OK 0
#define MDBTAP_EXIT_FAIL 1      /* the command could not do its job */
#define MDBTAP_EXIT_USAGE 2     /* bad arguments */
#define MDBTAP_EXIT_UNACCOUNTED 3 /* journal --check: txn ids nobody accounts for */

int cmd_journal(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_digest(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
