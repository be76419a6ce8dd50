/* commands.c: the table of mdbtap's commands: names, summaries and help
 * texts in one place, for `mdbtap help`, `mdbtap help CMD` and each
 * command's --help. */
#include <ctype.h>
#include <string.h>

#include "commands.h"
#include "config.h"

const struct command commands_table[] = {
	{ "doctor", cmd_doctor, "COMMAND | PID | ENV_PATH",
	  "say whether the tap can see a program's writes, and why not",
	  "  COMMAND   a program (found in PATH) or script: setuid, static linking,\n"
	  "            LMDB compiled in or bundled (pip wheels), dynamic liblmdb,\n"
	  "            run-time loading, PHP's RTLD_DEEPBIND\n"
	  "  PID       a running program: the same for its executable, whether the\n"
	  "            tap and liblmdb are loaded in it, and the envs it has mapped\n"
	  "  ENV_PATH  an env: its layout, MDB_NOLOCK (and the lock protocol the\n"
	  "            syncer then follows), whether the tap has journaled it,\n"
	  "            readers in other PID namespaces (containers)\n"
	  "Exit 0 when the tap can see the writes (or it is likely), 1 when it\n"
	  "cannot, 2 on bad arguments.\n", NULL },
	{ "run", cmd_run,
	  "[--tap PATH | --deepbind] [--tap-log FILE]\n"
	  "                  [--sync SYNC-OPTIONS...] -- COMMAND [ARGS...]",
	  "run a program with the tap preloaded, and its syncer next to it",
	  "Run COMMAND with the tap preloaded (added to LD_PRELOAD), so that its LMDB\n"
	  "writes are journaled. Exit with its status.\n"
	  "\n"
	  "  --tap PATH      the tap to preload (default: the one installed with\n"
	  "                  this mdbtap, or next to it in a build tree)\n"
	  "  --deepbind      the tap's RTLD_DEEPBIND variant, for programs that load\n"
	  "                  liblmdb's users with RTLD_DEEPBIND (PHP's dba, Samba's\n"
	  "                  ldb); chosen by itself for php* commands.\n"
	  "                  `mdbtap doctor COMMAND` says which a program needs\n"
	  "  --tap-log FILE  the tap's diagnostics (MDBTAP_LOG)\n"
	  "  --sync ...      everything up to -- is given to `mdbtap sync`, which\n"
	  "                  runs while COMMAND does: started once each --env PATH\n"
	  "                  it names exists (COMMAND may create it), stopped with\n"
	  "                  SIGTERM when COMMAND exits. Give it --log-file, or it\n"
	  "                  logs to this stderr.\n"
	  "  -h, --help      this text\n"
	  "\n"
	  "SIGTERM, SIGINT and SIGHUP are passed on to COMMAND.\n"
	  "\n"
	  "Example: mdbtap run --sync --env /var/lib/powerdns/pdns.lmdb --store\n"
	  "         file:///srv/mdbtap --exclude pdns -- pdns_server --daemon=no\n", NULL },
	{ "sync", cmd_sync, "[OPTIONS]",
	  "keep envs in sync with other instances through a store",
	  "", cfg_usage },
	{ "journal", cmd_journal, "[--json] [--check] ENV_PATH",
	  "print an env's journal and the txn ids it does not account for",
	  "Print the journal of the env at ENV_PATH (a directory env, or the file of\n"
	  "an MDB_NOSUBDIR env): one line per record, oldest first, with its txn id,\n"
	  "timestamp (UTC), state, and each op with its DBI ('-' is the unnamed DBI)\n"
	  "and key (and value, for DUPSORT DBIs). Then a summary, including the txn\n"
	  "ids of the env that no committed record accounts for: writes the tap did\n"
	  "not see. Opens the env read-only and changes nothing.\n"
	  "\n"
	  "  --json   JSON Lines: one object per record (keys and values in hex),\n"
	  "           then one {\"summary\": ...} object\n"
	  "  --check  exit 3 if any txn id is unaccounted\n", NULL },
	{ "digest", cmd_digest, "ENV_PATH",
	  "print a digest of each synced DBI (equal on instances in sync)",
	  "Print one line per synced DBI: its name ('-' for the unnamed DBI) and a\n"
	  "digest of its elements: keys, values, timestamps, tombstones. The digest\n"
	  "does not depend on the order of writes: two instances that have seen the\n"
	  "same writes print the same lines; a DBI without elements is not listed.\n"
	  "Reads the host's data and the syncer's metadata; changes nothing.\n", NULL },
	{ "dump", cmd_dump, "ENV_PATH",
	  "print every element the syncer knows, with timestamps and tombstones",
	  "Print every element the syncer knows in the env, live or deleted, as JSON\n"
	  "Lines: {\"dbi\": NAME or null for the unnamed DBI, \"key\": HEX, \"value\": HEX\n"
	  "or null, \"ts\": NANOSECONDS, \"deleted\": BOOL}; \"unfolded\": true marks an\n"
	  "element the host changed since the syncer last read its journal. Changes\n"
	  "nothing.\n", NULL },
	{ "snapshots", cmd_snapshots,
	  "list STORE_URL [PREFIX]\n"
	  "       mdbtap snapshots show STORE_URL NAME\n"
	  "       mdbtap snapshots dump STORE_URL NAME\n"
	  "       mdbtap snapshots retire [--now] STORE_URL INSTANCE",
	  "list, show or dump the objects in a store",
	  "list: one line per object: its name, instance, kind (full or delta), txn\n"
	  "      range, time (UTC) and size; objects whose names are not mdbtap's are\n"
	  "      listed as 'foreign'.\n"
	  "show: an object's metadata and, per DBI, its entries and tombstones;\n"
	  "      checks the whole object (exit 1 if it is corrupt or truncated).\n"
	  "dump: an object's entries as JSON Lines: {\"dbi\", \"key\", \"value\", \"ts\",\n"
	  "      \"deleted\"}, keys and values in hex.\n"
	  "retire: delete every object of an instance gone for good (a running\n"
	  "      instance deletes only its own old objects). Refused while its newest\n"
	  "      object is less than a day old, unless --now: the others may not have\n"
	  "      loaded its last changes yet.\n"
	  "STORE_URL: as for `mdbtap sync --store` (S3 credentials from the AWS_*\n"
	  "variables). Only retire changes anything.\n", NULL },
	{ "status", cmd_status, "[--json] ENV_PATH...\n"
	  "       mdbtap status [--json] -c CONFIG [NAME...]",
	  "show each env's sync at a glance: syncer, instances, lag, backlog, errors",
	  "One screen per env for an operator: whether its syncer runs, its last\n"
	  "cycle and last error, the local txn ids in the env, folded and exported,\n"
	  "the journal records not yet folded and those dropped, each other\n"
	  "instance with the age of its newest object applied here, the lag of the\n"
	  "objects applied, rescans by reason, refused objects and elements,\n"
	  "tombstones held. The metadata and the journal are read as they are now\n"
	  "(read-only, with or without a running syncer); the counters are those the\n"
	  "syncer last published, and count from its start.\n"
	  "\n"
	  "  -c, --config FILE  the envs of a syncer's config file (mdbtap.yaml(5)),\n"
	  "                     all of them or those NAMEd\n"
	  "  --json             one JSON object per env (times in Unix nanoseconds)\n"
	  "Exit 1 if an env cannot be read.\n", NULL },
	{ "stats", cmd_stats, "[--json] ENV_PATH",
	  "print a syncer's counters: requests to the store, objects, retries",
	  "Print the counters the env's syncer published after its last cycle:\n"
	  "requests to the store by type (PUT, GET, LIST, DELETE), failed requests,\n"
	  "retries, bytes, objects and elements in and out, rescans, tombstones\n"
	  "swept. They count from the syncer's start. --json prints one JSON\n"
	  "object instead of a table.\n"
	  "Exit 1 if no syncer ever ran for the env.\n", NULL },
};

const size_t commands_count = sizeof(commands_table) / sizeof(commands_table[0]);

const struct command *commands_find(const char *name)
{
	for (size_t i = 0; i < commands_count; i++)
		if (!strcmp(commands_table[i].name, name))
			return &commands_table[i];
	return NULL;
}

void commands_help(FILE *f, const struct command *c)
{
	fprintf(f, "usage: mdbtap %s %s\n%c%s.\n\n%s", c->name, c->synopsis,
		toupper((unsigned char)c->summary[0]), c->summary + 1, c->details);
	if (c->more)
		c->more(f);
}

void commands_list(FILE *f)
{
	fprintf(f, "usage: mdbtap COMMAND [ARGS]\n"
		   "       mdbtap help [COMMAND]\n"
		   "       mdbtap --version\n\ncommands:\n");
	for (size_t i = 0; i < commands_count; i++)
		fprintf(f, "  %-10s %s\n", commands_table[i].name, commands_table[i].summary);
	fprintf(f, "\n'mdbtap help COMMAND' or 'mdbtap COMMAND --help' describes a command.\n"
		   "exit codes: 0 ok, 1 failure, 2 usage, 3 unaccounted txn ids (journal --check),\n"
		   "4 sync: a mapped file shrank under it (SIGBUS; start it again)\n");
}
