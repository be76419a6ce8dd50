/* cfg_args.c: the flags of `mdbtap sync` into a struct cfg
 * (cfg_parse_args), and their help (cfg_usage). */
#include "config.h"
#include "cfg_impl.h"
#include "err.h"
#include "opt.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_ENV = 256, OPT_NAME, OPT_STORE, OPT_INSTANCE, OPT_INCLUDE, OPT_EXCLUDE,
	OPT_ONCE, OPT_POLL, OPT_FULL, OPT_LOG, OPT_FULL_NOW, OPT_KEEP, OPT_RETENTION,
	OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_LISTEN, OPT_CREATE_STORE, OPT_MAP_SIZE, OPT_BATCH,
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "env", required_argument, NULL, OPT_ENV },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "instance", required_argument, NULL, OPT_INSTANCE },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "full-now", no_argument, NULL, OPT_FULL_NOW },
	{ "poll-interval", required_argument, NULL, OPT_POLL },
	{ "batch-window", required_argument, NULL, OPT_BATCH },
	{ "full-interval", required_argument, NULL, OPT_FULL },
	{ "map-size", required_argument, NULL, OPT_MAP_SIZE },
	{ "keep-interval", required_argument, NULL, OPT_KEEP },
	{ "tombstone-retention", required_argument, NULL, OPT_RETENTION },
	{ "log-file", required_argument, NULL, OPT_LOG },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "create-store", no_argument, NULL, OPT_CREATE_STORE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The flags as given: pointers into argv. */
struct flags {
	const char *config, *env, *name, *store, *instance, *poll, *full, *log, *keep,
		*retention, *log_level, *log_format, *listen, *map_size, *batch;
	const char **include, **exclude;
	size_t ninclude, nexclude;
	int once, full_now, verbose, create_store;
	const char *env_flag;     /* an env-only flag seen, for the mixing rule */
};

static const char *opt_name(int opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static int once_only(const char **slot, const char *v, int opt, char *err, size_t errlen)
{
	if (*slot) {
		err_setf(err, errlen, "--%s given twice%s", opt_name(opt),
			opt == OPT_ENV ? ": use a config file for several envs" : "");
		return EINVAL;
	}
	*slot = v;
	return 0;
}

static int push(const char ***v, size_t *n, const char *s)
{
	const char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (!nv)
		return ENOMEM;
	nv[(*n)++] = s;
	*v = nv;
	return 0;
}

static int take_opt(struct flags *f, int opt, const char *v, char *err, size_t errlen)
{
	if (opt == OPT_ENV || opt == OPT_NAME || opt == OPT_STORE || opt == OPT_INCLUDE ||
	    opt == OPT_EXCLUDE || opt == OPT_FULL || opt == OPT_POLL || opt == OPT_KEEP ||
	    opt == OPT_RETENTION || opt == OPT_MAP_SIZE || opt == OPT_BATCH)
		f->env_flag = opt_name(opt);
	switch (opt) {
	case 'c':
		return once_only(&f->config, v, opt, err, errlen);
	case OPT_ENV:
		return once_only(&f->env, v, opt, err, errlen);
	case OPT_NAME:
		return once_only(&f->name, v, opt, err, errlen);
	case OPT_STORE:
		return once_only(&f->store, v, opt, err, errlen);
	case OPT_INSTANCE:
		return once_only(&f->instance, v, opt, err, errlen);
	case OPT_POLL:
		return once_only(&f->poll, v, opt, err, errlen);
	case OPT_BATCH:
		return once_only(&f->batch, v, opt, err, errlen);
	case OPT_FULL:
		return once_only(&f->full, v, opt, err, errlen);
	case OPT_MAP_SIZE:
		return once_only(&f->map_size, v, opt, err, errlen);
	case OPT_KEEP:
		return once_only(&f->keep, v, opt, err, errlen);
	case OPT_RETENTION:
		return once_only(&f->retention, v, opt, err, errlen);
	case OPT_LOG:
		return once_only(&f->log, v, opt, err, errlen);
	case OPT_LOG_LEVEL:
		return once_only(&f->log_level, v, opt, err, errlen);
	case OPT_LOG_FORMAT:
		return once_only(&f->log_format, v, opt, err, errlen);
	case OPT_LISTEN:
		return once_only(&f->listen, v, opt, err, errlen);
	case 'v':
		f->verbose = 1;
		return 0;
	case OPT_CREATE_STORE:
		f->create_store = 1;
		return 0;
	case OPT_INCLUDE:
		return push(&f->include, &f->ninclude, v);
	case OPT_EXCLUDE:
		return push(&f->exclude, &f->nexclude, v);
	case OPT_ONCE:
		f->once = 1;
		return 0;
	case OPT_FULL_NOW:
		f->full_now = 1;
		return 0;
	}
	return EINVAL;
}

static int flag_duration(const char *flag, const char *v, uint64_t *ns, char *err,
			 size_t errlen)
{
	int rc = dur_parse(v, ns);

	if (rc)
		err_setf(err, errlen, "--%s '%s': %s", flag, v, rc == ERANGE ? "too long" :
			"not a duration (e.g. 0, 250ms, 1s, 1h30m, 2d)");
	return rc;
}

/* The env that --env and its flags describe. */
static int env_from_flags(struct cfg *c, const struct flags *f, const char *cwd,
			  char *err, size_t errlen)
{
	struct cfg_env *e;
	int rc;

	if (f->name && !cfg_env_name_ok(f->name)) {
		err_setf(err, errlen, "--name '%s': use 1 to %d lower-case letters and digits",
			f->name, CFG_ENV_NAME_MAX);
		return EINVAL;
	}
	rc = cfg_add_env(c, &e);
	if (!rc)
		rc = cfg_set_str(&e->name, f->name ? f->name : CFG_DEFAULT_ENV_NAME);
	if (!rc)
		rc = cfg_set_path(&e->path, cwd, f->env);
	if (!rc && f->store)
		rc = cfg_set_store(&e->store, cwd, f->store);
	for (size_t i = 0; !rc && i < f->ninclude; i++)
		rc = cfg_list_add(&e->include, &e->ninclude, f->include[i]);
	for (size_t i = 0; !rc && i < f->nexclude; i++)
		rc = cfg_list_add(&e->exclude, &e->nexclude, f->exclude[i]);
	if (!rc && f->full)
		rc = flag_duration("full-interval", f->full, &e->full_interval_ns, err, errlen);
	if (!rc && f->map_size && cfg_parse_size(f->map_size, &e->map_size)) {
		err_setf(err, errlen, "--map-size '%s': not a size of at least 1K (e.g. 64M, 2G)",
			f->map_size);
		rc = EINVAL;
	}
	return rc;
}

static int flag_empty(const struct flags *f)
{
	const char *v[] = { f->config, f->env, f->name, f->store, f->instance, f->poll,
			    f->full, f->log, f->keep, f->retention, f->log_level,
			    f->log_format, f->listen, f->map_size, f->batch };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i] && !v[i][0])
			return 1;
	for (size_t i = 0; i < f->ninclude; i++)
		if (!f->include[i][0])
			return 1;
	for (size_t i = 0; i < f->nexclude; i++)
		if (!f->exclude[i][0])
			return 1;
	return 0;
}

/* --create-store: the store option create, for every env's store. */
static int add_create(struct cfg_env *e)
{
	struct store_opt *nv = realloc(e->store_opts, (e->nstore_opts + 1) * sizeof(*nv));
	char *k, *v;

	if (!nv)
		return ENOMEM;
	e->store_opts = nv;
	k = strdup("create");
	v = strdup("true");
	if (!k || !v) {
		free(k);
		free(v);
		return ENOMEM;
	}
	nv[e->nstore_opts++] = (struct store_opt){ k, v };
	return 0;
}

/* Apply the flags, read in full, to c. */
static int apply_flags(struct cfg *c, const struct flags *f, char *err, size_t errlen)
{
	char *cwd = NULL;
	int rc = 0;

	if (flag_empty(f)) {
		err_setf(err, errlen, "an option has an empty value");
		return EINVAL;
	}
	if (f->config && f->env_flag) {
		err_setf(err, errlen, "--%s cannot be combined with --config: set it in the "
			"file (only --instance, --once, --full-now, --create-store, --listen, --verbose and "
			"the --log-* flags override it)", f->env_flag);
		return EINVAL;
	}
	if (!f->env && (f->name || f->store || f->ninclude || f->nexclude || f->full ||
			f->map_size)) {
		err_setf(err, errlen, "--%s needs --env PATH",
			f->name ? "name" : f->store ? "store" : f->ninclude ? "include" :
			f->nexclude ? "exclude" : f->full ? "full-interval" : "map-size");
		return EINVAL;
	}
	if (f->instance && !cfg_instance_ok(f->instance)) {
		err_setf(err, errlen, "--instance '%s': use 1 to %d letters, digits and '-'",
			f->instance, CFG_INSTANCE_MAX);
		return EINVAL;
	}
	if (f->verbose && f->log_level) {
		err_setf(err, errlen, "--verbose and --log-level: give one");
		return EINVAL;
	}
	if (f->config)
		rc = cfg_load_file(c, f->config, err, errlen);
	if (!rc && (f->env || f->log)) {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			rc = errno;
	}
	if (!rc && f->env)
		rc = env_from_flags(c, f, cwd, err, errlen);
	if (!rc && f->poll)
		rc = flag_duration("poll-interval", f->poll, &c->poll_interval_ns, err, errlen);
	if (!rc && f->batch)
		rc = flag_duration("batch-window", f->batch, &c->batch_window_ns, err, errlen);
	if (!rc && f->keep)
		rc = flag_duration("keep-interval", f->keep, &c->keep_ns, err, errlen);
	if (!rc && f->retention)
		rc = flag_duration("tombstone-retention", f->retention, &c->tombstone_retention_ns,
				   err, errlen);
	if (!rc && f->instance)
		rc = cfg_set_str(&c->instance, f->instance);
	if (!rc && f->log)
		rc = cfg_set_path(&c->log_file, cwd, f->log);
	if (!rc && f->log_level && log_level_parse(f->log_level, &c->log_level)) {
		err_setf(err, errlen, "--log-level '%s': use error, warning, info or debug",
			f->log_level);
		rc = EINVAL;
	}
	if (!rc && f->verbose)
		c->log_level = MDBTAP_LOG_DEBUG;
	if (!rc && f->log_format && log_format_parse(f->log_format, &c->log_format)) {
		err_setf(err, errlen, "--log-format '%s': use text or json", f->log_format);
		rc = EINVAL;
	}
	if (!rc && f->listen)
		rc = cfg_set_str(&c->http_listen, f->listen);
	if (!rc && f->once)
		c->once = 1;
	if (!rc && f->full_now)
		c->full_now = 1;
	for (size_t i = 0; !rc && f->create_store && i < c->nenvs; i++)
		rc = add_create(&c->envs[i]);
	free(cwd);
	return rc;
}

int cfg_parse_args(struct cfg *c, int argc, char **argv, char *err, size_t errlen)
{
	struct flags f;
	int opt, rc = 0, help = 0;

	memset(&f, 0, sizeof(f));
	err_setf(err, errlen, "ok");
	optind = 0;     /* glibc: start afresh, even after an earlier parse */
	opterr = 0;     /* library code: the messages go to err */
	/* Read every option, so that -h counts wherever it is; the first
	 * error is the one reported. */
	while ((opt = getopt_long(argc, argv, ":c:hv", long_opts, NULL)) != -1) {
		if (opt == 'h') {
			help = 1;
		} else if (rc) {
			continue;
		} else if (opt == '?' || opt == ':') {
			opt_error(err, errlen, opt, argv);
			rc = EINVAL;
		} else {
			rc = take_opt(&f, opt, optarg, err, errlen);
		}
	}
	if (help) {
		free(f.include);
		free(f.exclude);
		return CFG_HELP;
	}
	if (!rc && optind < argc) {
		err_setf(err, errlen, "unexpected argument '%s'", argv[optind]);
		rc = EINVAL;
	}
	if (!rc)
		rc = apply_flags(c, &f, err, errlen);
	if (rc == ENOMEM)
		err_setf(err, errlen, "out of memory");
	free(f.include);
	free(f.exclude);
	return rc;
}

void cfg_usage(FILE *f)
{
	fprintf(f,
		"  -c, --config FILE       YAML config (see mdbtap.example.yaml); $VAR and\n"
		"                          ${VAR} in it are taken from the environment\n"
		"      --env PATH          the env to sync: its directory, or its data file\n"
		"                          (MDB_NOSUBDIR)\n"
		"      --name NAME         its name in the store: lower-case letters and\n"
		"                          digits (default: main)\n"
		"      --store URL         file:///DIR or /DIR (a directory), or\n"
		"                          s3://BUCKET/PREFIX?OPTIONS (see the README)\n"
		"      --create-store      create a directory store that does not exist\n"
		"                          (without it, a missing one is refused)\n"
		"      --include DBI       sync only this DBI (repeatable; '-' = unnamed DBI)\n"
		"      --exclude DBI       sync every DBI but this one (repeatable)\n"
		"      --full-interval DUR full snapshot period (default 4h; 0 = at start only)\n"
		"      --map-size SIZE     the env's map if mdbtap creates it (a new instance\n"
		"                          receiving before its program ran; default 64G)\n"
		"      --poll-interval DUR export and receive period (default 1s, >= 10ms)\n"
		"      --batch-window DUR  a local commit is exported once no other came for\n"
		"                          this long (default 2ms, at most 1s; 0: at once)\n"
		"      --keep-interval DUR how long our objects superseded by a newer full\n"
		"                          snapshot stay in the store (default 10m)\n"
		"      --tombstone-retention DUR\n"
		"                          forget deletes older than this (default 0: never);\n"
		"                          longer than any instance may be away, and at\n"
		"                          least twice the full interval\n"
		"      --instance NAME     this instance's name: letters, digits, '-'\n"
		"                          (default: the host name)\n"
		"      --once              one round of export and receive, then exit\n"
		"      --full-now          make the first export a full snapshot\n"
		"      --log-file FILE     log there instead of stderr (SIGHUP reopens it)\n"
		"      --log-level LEVEL   error, warning, info (default) or debug\n"
		"  -v, --verbose           the same as --log-level debug\n"
		"      --log-format FMT    text (default) or json: one object per line\n"
		"      --listen ADDR       serve /metrics, /healthz and /readyz over HTTP on\n"
		"                          PORT (loopback), HOST:PORT or [V6]:PORT\n"
		"  -h, --help              this text\n"
		"\n"
		"Give either --config FILE, or --env PATH --store URL and their options;\n"
		"with --config, only --instance, --once, --full-now, --create-store, --listen,\n"
		"--verbose and the --log-* flags may be added.\n"
		"SIGTERM ends the cycle under way, then exits 0.\n"
		"DUR: 0, or numbers with units, largest first: 2d, 4h, 1h30m, 1.5s, 250ms.\n");
}
