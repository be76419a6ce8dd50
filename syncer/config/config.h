/* config.h: what `mdbtap sync` does, from a YAML file or from flags.
 *
 * The file (see tools/mdbtap.example.yaml for every key and its default):
 *
 *   instance: dns1
 *   poll_interval: 1s
 *   batch_window: 2ms
 *   max_future: 1h
 *   keep_interval: 10m
 *   tombstone_retention: 0
 *   max_object_size: 1G            # remote objects: larger ones are
 *   max_object_expanded: 16G       # quarantined (K, M, G suffixes)
 *   log_file: /var/log/mdbtap.log
 *   log_level: info                # error, warning, info, debug
 *   log_format: text               # or json: one object per line
 *   http_listen: 9321              # /metrics, /healthz, /readyz (off by default)
 *   envs:
 *     main:
 *       path: /var/lib/powerdns/pdns.lmdb
 *       store: file:///srv/mdbtap
 *       exclude: [pdns]
 *       full_interval: 4h
 *       map_size: 64G               # only for an env the syncer creates
 *     zones:
 *       path: /var/lib/zones.lmdb
 *       store: s3://bucket/mdbtap?region=eu-west-1
 *       store_options:              # S3 options (s3conf.h), secrets too
 *         secret_key: $S3_SECRET
 *
 * It is read strictly: an unknown key, a value of the wrong type, a
 * duplicate key, an empty value, text that is not UTF-8 or more than one
 * YAML document is an error whose message says the file and line.
 * $VAR and ${VAR} in keys and values are replaced by the environment's
 * values (Lightning Stream does it on the whole text; doing it on the
 * parsed values leaves comments alone and lets a value such as a secret
 * hold quotes or '#'). A variable that is not set is an error, "$$" is a
 * '$', and a '$' before anything else stays.
 * Relative paths in the file (path, log_file, a store given as a path)
 * are taken from the file's directory; on the command line, from the
 * current directory.
 *
 * Functions return 0 or a positive errno value (EINVAL: bad input, with
 * a message in err), except cfg_parse_args's CFG_HELP. err may be NULL
 * when errlen is 0. Nothing here prints, except cfg_usage.
 *
 * The files: config.c (this struct, its checks), cfg_file.c, cfg_text.c
 * and cfg_yaml.c (a file), cfg_args.c (flags); cfg_impl.h between them.
 */
#ifndef MDBTAP_CONFIG_H
#define MDBTAP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dur.h"
#include "log.h"
#include "store.h"

#define CFG_HELP (-1)                /* cfg_parse_args: -h/--help given */

#define CFG_ENV_NAME_MAX 32          /* [a-z0-9]{1,32} */
#define CFG_INSTANCE_MAX 64          /* [A-Za-z0-9-]{1,64} */
#define CFG_DEFAULT_ENV_NAME "main"
#define CFG_NS_PER_SEC DUR_NS_PER_SEC
#define CFG_DEFAULT_POLL (1 * CFG_NS_PER_SEC)
#define CFG_DEFAULT_BATCH (2 * 1000000ull)                /* 2 ms */
#define CFG_MAX_BATCH (1 * CFG_NS_PER_SEC)
#define CFG_DEFAULT_MAX_FUTURE (3600 * CFG_NS_PER_SEC)
#define CFG_DEFAULT_FULL_INTERVAL (4 * 3600 * CFG_NS_PER_SEC)
#define CFG_DEFAULT_MAX_OBJECT (1ull << 30)
#define CFG_DEFAULT_MAX_EXPANDED (16ull << 30)
#define CFG_DEFAULT_KEEP (10 * 60 * CFG_NS_PER_SEC)
/* The map of an env the syncer creates: address space, not disk (LMDB
 * grows the file as data comes); 1 GiB where addresses are 32 bits. */
#define CFG_DEFAULT_MAP_SIZE (SIZE_MAX > 0xffffffffu ? 64ull << 30 : 1ull << 30)
#define CFG_MIN_MAP_SIZE (1ull << 20)                   /* LMDB's own default */
#define CFG_MIN_POLL (10 * 1000000ull)                 /* 10 ms */
#define CFG_MAX_POLL (3600 * CFG_NS_PER_SEC)            /* 1 h */
#define CFG_MIN_MAX_FUTURE (1 * CFG_NS_PER_SEC)         /* 1 s */
#define CFG_MAX_DURATION (366 * 86400 * CFG_NS_PER_SEC) /* a year, for the rest */
#define CFG_MAX_RETENTION (3660 * 86400 * CFG_NS_PER_SEC) /* ten years */

/* One synced env. Every string is owned by the struct cfg. */
struct cfg_env {
	char *name;      /* the env's name in the store: [a-z0-9]{1,32} (objname db);
			    default "main" */
	char *path;      /* the host env: a directory, or the data file of an
			    MDB_NOSUBDIR env; absolute */
	char *store;     /* store URL (store_open) */
	struct store_opt *store_opts;   /* store_options: strings owned, values may
					   be secrets (wiped on free) */
	size_t nstore_opts;
	char **include, **exclude;   /* DBI names; "-" = the unnamed DBI */
	size_t ninclude, nexclude;   /* at most one of them is nonzero */
	uint64_t full_interval_ns;   /* full snapshot period; default 4 h; 0 = only
					at start; otherwise >= poll_interval */
	uint64_t map_size;           /* the map of the env when the syncer creates
					it (a new instance receiving before its
					program ever ran); never applied to an env
					that exists; CFG_DEFAULT_MAP_SIZE */
};

struct cfg {
	char *instance;                /* default: the host name, each byte outside
					  [A-Za-z0-9-] made '-' (as LS does), cut
					  to 64; given names must already be so */
	uint64_t poll_interval_ns;     /* default 1 s; export and receive each
					  interval; 10 ms..1 h */
	uint64_t batch_window_ns;      /* a local commit wakes the syncer, which
					  exports once no commit came for this
					  long (at most 20 windows, and the poll
					  interval, in all); default 2 ms, 0..1 s */
	uint64_t max_future_ns;        /* remote timestamps further ahead of our
					  clock are refused; default 1 h; >= 1 s */
	uint64_t keep_ns;              /* our objects older than our newest full
					  snapshot are deleted after this; 10 min */
	uint64_t tombstone_retention_ns; /* tombstones older than this are
					    forgotten (sweep.h); default 0 =
					    kept for ever; else 1 s..3660 d */
	uint64_t max_object_size;      /* a remote object larger than this (as
					  stored) is quarantined unread; 1 GiB */
	uint64_t max_object_expanded;  /* ... or decompressing to more; 16 GiB */
	char *log_file;                /* default NULL = stderr; absolute */
	enum log_level log_level;      /* default info; --verbose: debug */
	enum log_format log_format;    /* default text */
	char *http_listen;             /* default NULL = no HTTP endpoint; PORT
					  (loopback), HOST:PORT or [V6]:PORT */
	int once;                      /* --once */
	int full_now;                  /* --full-now: a full snapshot first */
	struct cfg_env *envs;          /* owned */
	size_t nenvs;
};

/* Fill c with the defaults and no env. The instance is NULL if the host
 * name cannot be had (cfg_check then says so). */
void cfg_init(struct cfg *c);

/* Free everything c owns and zero it; NULL and a freed cfg are fine. */
void cfg_free(struct cfg *c);

/* Read the YAML file at path into c: keys it sets replace c's, its envs
 * are added. On error err says why ("FILE:LINE: ..." where the line is
 * known) and c may hold part of the file (cfg_free it). Does not run
 * cfg_check. */
int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen);

/* Parse the options of `mdbtap sync` (argv[0] is the command's name):
 *   -c, --config FILE        read FILE (cfg_load_file)
 *   --env PATH               sync the env at PATH (once; a file for more)
 *   --name NAME              its name in the store (default "main")
 *   --store URL              its store
 *   --include DBI, --exclude DBI   (repeatable) the DBIs synced
 *   --full-interval DUR      its full snapshot period
 *   --map-size SIZE          its map if the syncer creates it (cfg_parse_size)
 *   --poll-interval DUR, --batch-window DUR, --keep-interval DUR
 *   --instance NAME, --once, --log-file FILE
 *   -v, --verbose (log_level debug), --log-level LEVEL, --log-format FMT
 *   --listen ADDR            http_listen
 *   -h, --help               returns CFG_HELP wherever it is, even after
 *                            a bad option; the caller prints cfg_usage
 * With --config, only --instance, --once, --full-now, --listen and the
 * --log-* and --verbose flags may be given too
 * (they override the file). Options are read in any order; positional
 * arguments are refused. Uses getopt_long (resets optind, may permute
 * argv). Does not run cfg_check. */
int cfg_parse_args(struct cfg *c, int argc, char **argv, char *err, size_t errlen);

/* Whether c can run: an instance name; at least one env; env names valid
 * and unique; paths present and absolute (and shorter than PATH_MAX); a
 * store for each env; not both include and exclude in one env;
 * intervals in range (see the fields). */
int cfg_check(const struct cfg *c, char *err, size_t errlen);

/* Whether the DBI (name, len) is synced in env e; len 0 = the unnamed DBI
 * (written "-" in include/exclude, so a DBI named "-" cannot be told
 * apart from it). */
int cfg_dbi_selected(const struct cfg_env *e, const char *name, size_t len);

/* A byte count: digits, then maybe K, M, G or T (powers of 1024), at
 * least 1K: 0, or EINVAL (ERANGE: more than 64 bits hold). */
int cfg_parse_size(const char *v, uint64_t *out);

/* The options text for `mdbtap sync --help`. */
void cfg_usage(FILE *f);

#endif
