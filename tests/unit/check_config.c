/* check_config.c: the syncer's configuration (syncer/config.h). */
#include <check.h>
#include <errno.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

#define S DUR_NS_PER_SEC
#define MS 1000000ull

static char dir[4096];    /* this test's scratch directory */
static char err[512];

static void setup(void)
{
	ck_assert_int_eq(testlib_fresh_dir(dir, sizeof(dir), "/tmp/mdbtap-check-config"), 0);
	err[0] = 0;
}

/* Write text to dir/name; returns the path (static). */
static const char *file_with(const char *name, const char *text)
{
	static char path[4300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static int load(struct cfg *c, const char *text)
{
	cfg_init(c);
	return cfg_load_file(c, file_with("t.yaml", text), err, sizeof(err));
}

static int parse(struct cfg *c, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	cfg_init(c);
	return cfg_parse_args(c, argc, argv, err, sizeof(err));
}

START_TEST(defaults)
{
	char host[256], want[80];
	struct cfg c;

	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = 0;
	snprintf(want, sizeof(want), "%.64s", host);
	for (char *p = want; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			*p = '-';
	cfg_init(&c);
	ck_assert_str_eq(c.instance, want);
	ck_assert_uint_eq(c.poll_interval_ns, 1 * S);
	ck_assert_uint_eq(c.max_future_ns, 3600 * S);
	ck_assert_uint_eq(c.tombstone_retention_ns, 0);
	ck_assert_ptr_null(c.log_file);
	ck_assert_int_eq(c.once, 0);
	ck_assert_uint_eq(c.nenvs, 0);
	/* Defaults alone do not run: there is nothing to sync. */
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), EINVAL);
	ck_assert(strstr(err, "no env to sync") != NULL);
	cfg_free(&c);
	ck_assert_ptr_null(c.instance);
	cfg_free(&c);   /* twice is fine */
	cfg_free(NULL);
}
END_TEST

START_TEST(full_file)
{
	struct cfg c;
	char want[4400];

	ck_assert_msg(load(&c,
		"# a comment\n"
		"instance: dns1\n"
		"poll_interval: 250ms\n"
		"batch_window: 5ms\n"
		"max_future: 30m\n"
		"tombstone_retention: 7d\n"
		"log_file: logs/mdbtap.log\n"
		"envs:\n"
		"  main:\n"
		"    path: /var/lib/powerdns/pdns.lmdb\n"
		"    store: file:///srv/mdbtap\n"
		"    exclude: [pdns, \"-\"]\n"
		"    full_interval: 4h\n"
		"  shard2:\n"
		"    path: data/shard.mdb\n"
		"    store: objects\n"
		"    include:\n"
		"      - a\n"
		"      - 'b c'\n") == 0, "%s", err);
	ck_assert_msg(cfg_check(&c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.instance, "dns1");
	ck_assert_uint_eq(c.poll_interval_ns, 250 * MS);
	ck_assert_uint_eq(c.batch_window_ns, 5 * MS);
	ck_assert_uint_eq(c.max_future_ns, 1800 * S);
	ck_assert_uint_eq(c.tombstone_retention_ns, 7 * 86400 * S);
	/* Relative paths are taken from the file's directory. */
	snprintf(want, sizeof(want), "%s/logs/mdbtap.log", dir);
	ck_assert_str_eq(c.log_file, want);
	ck_assert_uint_eq(c.nenvs, 2);
	ck_assert_str_eq(c.envs[0].name, "main");
	ck_assert_str_eq(c.envs[0].path, "/var/lib/powerdns/pdns.lmdb");
	ck_assert_str_eq(c.envs[0].store, "file:///srv/mdbtap");
	ck_assert_uint_eq(c.envs[0].nexclude, 2);
	ck_assert_str_eq(c.envs[0].exclude[0], "pdns");
	ck_assert_str_eq(c.envs[0].exclude[1], "-");
	ck_assert_uint_eq(c.envs[0].ninclude, 0);
	ck_assert_uint_eq(c.envs[0].full_interval_ns, 4 * 3600 * S);
	ck_assert_str_eq(c.envs[1].name, "shard2");
	snprintf(want, sizeof(want), "%s/data/shard.mdb", dir);
	ck_assert_str_eq(c.envs[1].path, want);
	snprintf(want, sizeof(want), "%s/objects", dir);
	ck_assert_str_eq(c.envs[1].store, want);
	ck_assert_uint_eq(c.envs[1].ninclude, 2);
	ck_assert_str_eq(c.envs[1].include[1], "b c");
	ck_assert_uint_eq(c.envs[1].full_interval_ns, 4 * 3600 * S); /* the default */
	cfg_free(&c);
}
END_TEST

START_TEST(minimal_file)
{
	struct cfg c;

	ck_assert_msg(load(&c, "envs: {main: {path: /e, store: /s}}\n") == 0, "%s", err);
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.poll_interval_ns, 1 * S);
	ck_assert_ptr_nonnull(c.instance);          /* the host's */
	ck_assert_ptr_null(c.log_file);
	ck_assert_uint_eq(c.envs[0].ninclude + c.envs[0].nexclude, 0);
	cfg_free(&c);
}
END_TEST

START_TEST(example_file_is_valid)
{
	char path[4200];
	struct cfg c;

	/* tools/mdbtap.example.yaml, from this source file's place. */
	char src[4096];

	snprintf(src, sizeof(src), "%s", __FILE__);
	snprintf(path, sizeof(path), "%s/../../tools/mdbtap.example.yaml", dirname(src));
	cfg_init(&c);
	ck_assert_msg(cfg_load_file(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(cfg_check(&c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.instance, "dns1");
	ck_assert_uint_eq(c.nenvs, 1);
	ck_assert_str_eq(c.envs[0].name, "main");
	ck_assert_str_eq(c.envs[0].exclude[0], "pdns");
	/* It shows the defaults. */
	ck_assert_uint_eq(c.poll_interval_ns, CFG_DEFAULT_POLL);
	ck_assert_uint_eq(c.batch_window_ns, CFG_DEFAULT_BATCH);
	ck_assert_uint_eq(c.max_future_ns, CFG_DEFAULT_MAX_FUTURE);
	ck_assert_uint_eq(c.tombstone_retention_ns, 0);
	ck_assert_uint_eq(c.envs[0].full_interval_ns, CFG_DEFAULT_FULL_INTERVAL);
	ck_assert_uint_eq(c.envs[0].map_size, CFG_DEFAULT_MAP_SIZE);
	cfg_free(&c);
}
END_TEST

/* map_size: the map of an env the syncer creates (config.h). */
START_TEST(map_size)
{
	char *a1[] = { "sync", "--env", "/e", "--store", "/s", "--map-size", "2G", NULL };
	char *a2[] = { "sync", "--env", "/e", "--store", "/s", "--map-size", "512K", NULL };
	char *a3[] = { "sync", "--map-size", "1G", NULL };
	struct cfg c;
	uint64_t v;

	ck_assert_msg(load(&c, "envs: {main: {path: /e, store: /s}}\n") == 0, "%s", err);
	ck_assert_uint_eq(c.envs[0].map_size, CFG_DEFAULT_MAP_SIZE);
	ck_assert_uint_eq(c.envs[0].map_size, sizeof(size_t) > 4 ? 64ull << 30 : 1ull << 30);
	cfg_free(&c);
	ck_assert_msg(load(&c, "envs: {main: {path: /e, store: /s, map_size: 512M}}\n") == 0,
		      "%s", err);
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.envs[0].map_size, 512ull << 20);
	cfg_free(&c);
	/* Below LMDB's own 1 MiB default: refused by the check. */
	ck_assert_int_eq(load(&c, "envs: {main: {path: /e, store: /s, map_size: 64K}}\n"), 0);
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "map_size"));
	cfg_free(&c);
	ck_assert_int_eq(load(&c, "envs: {main: {path: /e, store: /s, map_size: big}}\n"), EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "map_size"));
	cfg_free(&c);
	ck_assert_msg(parse(&c, a1) == 0, "%s", err);
	ck_assert_uint_eq(c.envs[0].map_size, 2ull << 30);
	cfg_free(&c);
	ck_assert_int_eq(parse(&c, a2), 0);  /* parsed, refused by the check */
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), EINVAL);
	cfg_free(&c);
	ck_assert_int_eq(parse(&c, a3), EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--map-size needs --env"));
	cfg_free(&c);
	ck_assert_int_eq(cfg_parse_size("1T", &v), 0);
	ck_assert_uint_eq(v, 1ull << 40);
	ck_assert_int_eq(cfg_parse_size("3k", &v), 0);
	ck_assert_uint_eq(v, 3072);
	ck_assert_int_eq(cfg_parse_size("1023", &v), EINVAL);
	ck_assert_int_eq(cfg_parse_size("99999999999999999999G", &v), EINVAL);
	ck_assert_int_eq(cfg_parse_size("17179869184G", &v), ERANGE);
	ck_assert_int_eq(cfg_parse_size("1GB", &v), EINVAL);
	ck_assert_int_eq(cfg_parse_size("-1G", &v), EINVAL);
}
END_TEST

/* A unit is one of K, M, G, T right after the digits, and nothing may
 * follow: "4 " once took the space for a unit (4 PiB). */
START_TEST(size_trailing_junk)
{
	static const char *bad[] = { "4 ", "4G ", " 4G", "4\t", "4\n", "4 G", "4G\n", "1024 " };
	char *a[] = { "sync", "--env", "/e", "--store", "/s", "--map-size", "4 ", NULL };
	struct cfg c;
	uint64_t v = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cfg_parse_size(bad[i], &v) == EINVAL, "\"%s\" was taken", bad[i]);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(cfg_parse_size("4g", &v), 0);
	ck_assert_uint_eq(v, 4ull << 30);
	/* The same parser behind the YAML key and the flag. */
	ck_assert_int_eq(load(&c, "envs: {main: {path: /e, store: /s, map_size: \"4 \"}}\n"),
			 EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "map_size"));
	cfg_free(&c);
	ck_assert_int_eq(parse(&c, a), EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--map-size"));
	cfg_free(&c);
}
END_TEST

#define CFG_ENV_OK "envs:\n  main:\n    path: /e\n    store: /s\n"

static const struct bad_file {
	const char *text;
	const char *says;   /* in the message, with the file name before it */
} bad_files[] = {
	{ "instance: a\nfoo: 1\n" CFG_ENV_OK, "t.yaml:2: unknown key 'foo'" },
	{ CFG_ENV_OK "    pathh: /x\n", "t.yaml:5: unknown key 'pathh' in env 'main'" },
	{ "poll_interval: 5x\n" CFG_ENV_OK, "t.yaml:1: poll_interval '5x' is not a duration" },
	{ "poll_interval: -1s\n", "t.yaml:1: poll_interval '-1s' is not a duration" },
	{ "max_future: 1s1h\n", "t.yaml:1: max_future '1s1h' is not a duration" },
	{ "tombstone_retention: 99999999999999999d\n", "t.yaml:1: tombstone_retention "
	  "'99999999999999999d' is too long" },
	{ CFG_ENV_OK "    full_interval: [1s]\n", "t.yaml:5: full_interval must be a single value" },
	{ "instance: a.b\n", "t.yaml:1: instance 'a.b': use 1 to 64 letters" },
	{ "instance: [a]\n", "t.yaml:1: instance must be a single value, not a list" },
	{ "envs:\n  Main:\n    path: /e\n    store: /s\n", "t.yaml:2: env name 'Main'" },
	{ "envs:\n  a_b:\n    path: /e\n    store: /s\n", "t.yaml:2: env name 'a_b'" },
	{ "envs:\n  main:\n    store: /s\n", "t.yaml:2: env 'main' has no path" },
	{ "envs:\n  main:\n    path: /e\n", "t.yaml:2: env 'main' has no store" },
	{ "envs:\n  main:\n    path:\n    store: /s\n", "t.yaml:3: path has no value" },
	{ "envs:\n  main:\n    path: ~\n    store: /s\n", "t.yaml:3: path has no value" },
	{ CFG_ENV_OK "  main:\n    path: /f\n    store: /s\n",
	  "t.yaml:5: duplicate key 'main' in envs (first on line 2)" },
	{ CFG_ENV_OK "    path: /x\n", "t.yaml:5: duplicate key 'path' in env 'main' (first on line 3)" },
	{ "instance: a\ninstance: b\n", "t.yaml:2: duplicate key 'instance' in the config file" },
	{ CFG_ENV_OK "    include: [a]\n    exclude: [b]\n",
	  "t.yaml:6: env 'main' has both include and exclude" },
	{ CFG_ENV_OK "    include: a\n", "t.yaml:5: include must be a list" },
	{ CFG_ENV_OK "    exclude: []\n", "t.yaml:5: exclude is empty" },
	{ CFG_ENV_OK "    exclude: [[a]]\n", "t.yaml:5: exclude must be a single value" },
	{ "- a\n- b\n", "t.yaml:1: the config file must be a mapping (key: value), not a list" },
	{ "just text\n", "t.yaml:1: the config file must be a mapping" },
	{ "envs: [main]\n", "t.yaml:1: envs must be a mapping" },
	{ "envs:\n  main: /var/lib/x\n", "t.yaml:2: env 'main' must be a mapping" },
	{ "envs: {}\n", "t.yaml:1: envs is empty" },
	{ "? [a, b]\n: 1\n", "t.yaml:1: a key in the config file must be a single value" },
	{ "", "t.yaml: empty config file" },
	{ "# only a comment\n\n", "t.yaml: empty config file" },
	{ "instance: x\n---\ninstance: y\n", "t.yaml:3: more than one YAML document" },
	{ "instance: x\nenvs: [a\n", "t.yaml:3: YAML: did not find expected" },
	{ "instance: 'x\n", "t.yaml:2: YAML:" },
	{ "instance: \"a\\0b\"\n", "t.yaml:1: instance contains a NUL byte" },
	{ "instance: a\n\n# caf\xe9\n", "t.yaml:3: not valid UTF-8" },
	{ "instance: \xc0\xafx\n", "t.yaml:1: not valid UTF-8" },             /* overlong */
	{ "instance: \xed\xa0\x80x\n", "t.yaml:1: not valid UTF-8" },         /* surrogate */
	{ "instance: a\nlog_file: \x01\n", "t.yaml:2: control character 0x01" },
	{ "instance: ${MDBTAP_CHECK_UNSET}\n", "t.yaml:1: environment variable "
	  "MDBTAP_CHECK_UNSET is not set" },
	{ "\n\nlog_file: /x/$MDBTAP_CHECK_UNSET/y\n", "t.yaml:3: environment variable" },
	{ "instance: ${1abc}\n", "t.yaml:1: bad ${...}" },
	{ "instance: ${abc\n", "t.yaml:1: bad ${...}" },
};

START_TEST(file_errors)
{
	const struct bad_file *b = &bad_files[_i];
	struct cfg c;

	unsetenv("MDBTAP_CHECK_UNSET");
	ck_assert_msg(load(&c, b->text) == EINVAL, "accepted: %s", b->text);
	ck_assert_msg(strstr(err, b->says) != NULL, "for %s\nwant: %s\ngot:  %s", b->text,
		      b->says, err);
	ck_assert(strncmp(err, dir, strlen(dir)) == 0);   /* the file's path first */
	cfg_free(&c);
}
END_TEST

START_TEST(file_unreadable)
{
	char path[4300];
	struct cfg c;

	cfg_init(&c);
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	ck_assert_int_eq(cfg_load_file(&c, path, err, sizeof(err)), ENOENT);
	ck_assert(strstr(err, "cannot read config file") && strstr(err, path));
	ck_assert_int_eq(cfg_load_file(&c, dir, err, sizeof(err)), EINVAL);
	ck_assert(strstr(err, "not a regular file") != NULL);
	cfg_free(&c);
}
END_TEST

START_TEST(env_vars_expanded)
{
	struct cfg c;

	unsetenv("MDBTAP_CHECK_UNSET");
	setenv("MDBTAP_T_ROOT", "/data/x", 1);
	setenv("MDBTAP_T_INST", "node-7", 1);
	ck_assert_msg(load(&c,
		"# comments are left alone: $MDBTAP_CHECK_UNSET\n"
		"instance: $MDBTAP_T_INST\n"
		"log_file: /var/log/a$$b$ $5\n"
		"envs:\n"
		"  main:\n"
		"    path: ${MDBTAP_T_ROOT}/env\n"
		"    store: file://${MDBTAP_T_ROOT}/store\n") == 0, "%s", err);
	ck_assert_str_eq(c.instance, "node-7");
	ck_assert_str_eq(c.log_file, "/var/log/a$b$ $5");  /* a lone '$' stays */
	ck_assert_str_eq(c.envs[0].path, "/data/x/env");
	ck_assert_str_eq(c.envs[0].store, "file:///data/x/store");
	cfg_free(&c);

	/* A value may hold what YAML would not: quotes, '#', ": ". */
	setenv("MDBTAP_T_SECRET", "a\"b' #c: d", 1);
	ck_assert_msg(load(&c, "log_file: \"/x/${MDBTAP_T_SECRET}\"\n"
			   "tombstone_retention: 0 # $MDBTAP_T_SECRET\n") == 0, "%s", err);
	ck_assert_str_eq(c.log_file, "/x/a\"b' #c: d");
	cfg_free(&c);

	/* And is checked as any value. */
	setenv("MDBTAP_T_INST", "bad name", 1);
	ck_assert_int_eq(load(&c, "instance: $MDBTAP_T_INST\n"), EINVAL);
	ck_assert(strstr(err, "t.yaml:1: instance 'bad name'") != NULL);
	cfg_free(&c);
	setenv("MDBTAP_T_INST", "", 1);
	ck_assert_int_eq(load(&c, "instance: $MDBTAP_T_INST\n"), EINVAL);
	cfg_free(&c);
}
END_TEST

START_TEST(flags_alone)
{
	char *argv[] = { "sync", "--env", "rel/env", "--store", "objs", "--name", "shard1",
			 "--include", "a", "--include", "-", "--once", "--poll-interval",
			 "250ms", "--full-interval", "0", "--instance", "i-1", "--log-file",
			 "x.log", NULL };
	char cwd[4096], want[4200];
	struct cfg c;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_msg(parse(&c, argv) == 0, "%s", err);
	ck_assert_msg(cfg_check(&c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.nenvs, 1);
	ck_assert_str_eq(c.envs[0].name, "shard1");
	snprintf(want, sizeof(want), "%s/rel/env", cwd);
	ck_assert_str_eq(c.envs[0].path, want);
	snprintf(want, sizeof(want), "%s/objs", cwd);
	ck_assert_str_eq(c.envs[0].store, want);
	ck_assert_uint_eq(c.envs[0].ninclude, 2);
	ck_assert_str_eq(c.envs[0].include[0], "a");
	ck_assert_str_eq(c.envs[0].include[1], "-");
	ck_assert_uint_eq(c.envs[0].full_interval_ns, 0);
	ck_assert_int_eq(c.once, 1);
	ck_assert_uint_eq(c.poll_interval_ns, 250 * MS);
	ck_assert_str_eq(c.instance, "i-1");
	snprintf(want, sizeof(want), "%s/x.log", cwd);
	ck_assert_str_eq(c.log_file, want);
	cfg_free(&c);
}
END_TEST

START_TEST(flags_minimal_and_help)
{
	char *a1[] = { "sync", "--env=/e", "--store=s3://bucket/p", NULL };
	char *a2[] = { "sync", "-h", NULL };
	char *a3[] = { "sync", "--env", "/e", "--help", "--bogus", NULL };
	char *a4[] = { "sync", "--bogus", "stray", "-h", NULL };  /* -h anywhere */
	struct cfg c;

	ck_assert_msg(parse(&c, a1) == 0, "%s", err);
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.envs[0].name, "main");
	ck_assert_str_eq(c.envs[0].path, "/e");
	ck_assert_str_eq(c.envs[0].store, "s3://bucket/p");
	ck_assert_uint_eq(c.envs[0].full_interval_ns, CFG_DEFAULT_FULL_INTERVAL);
	ck_assert_int_eq(c.once, 0);
	cfg_free(&c);
	ck_assert_int_eq(parse(&c, a2), CFG_HELP);
	cfg_free(&c);
	ck_assert_int_eq(parse(&c, a3), CFG_HELP);
	cfg_free(&c);
	ck_assert_int_eq(parse(&c, a4), CFG_HELP);
	cfg_free(&c);
}
END_TEST

static const struct bad_args {
	const char *args[8];
	const char *says;
} bad_args[] = {
	{ { "--bogus" }, "unknown option '--bogus'" },
	{ { "-x" }, "unknown option '-x'" },
	{ { "--once=1" }, "option '--once' takes no value" },
	{ { "--env" }, "option '--env' needs a value" },
	{ { "-c" }, "option '-c' needs a value" },
	{ { "--env", "/e", "extra" }, "unexpected argument 'extra'" },
	{ { "--env", "/e", "--env", "/f" }, "--env given twice: use a config file" },
	{ { "--env", "/e", "--store", "/s", "--store", "/t" }, "--store given twice" },
	{ { "--store", "/s" }, "--store needs --env" },
	{ { "--include", "a" }, "--include needs --env" },
	{ { "--env", "/e", "--name", "Bad" }, "--name 'Bad'" },
	{ { "--env", "/e", "--poll-interval", "1" }, "--poll-interval '1': not a duration" },
	{ { "--env", "/e", "--full-interval", "fast" }, "--full-interval 'fast': not a duration" },
	{ { "--instance", "a_b" }, "--instance 'a_b'" },
	{ { "--env", "" }, "empty value" },
	{ { "-c", "/nonexistent/mdbtap.yaml" }, "cannot read config file" },
};

START_TEST(flag_errors)
{
	const struct bad_args *b = &bad_args[_i];
	char *argv[10] = { "sync" };
	struct cfg c;
	int argc = 1;

	for (int i = 0; b->args[i]; i++)
		argv[argc++] = (char *)b->args[i];
	cfg_init(&c);
	ck_assert_int_ne(cfg_parse_args(&c, argc, argv, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, b->says) != NULL, "want: %s\ngot:  %s", b->says, err);
	cfg_free(&c);
}
END_TEST

START_TEST(flags_and_file)
{
	const char *path = file_with("c.yaml", "instance: fromfile\n" CFG_ENV_OK);
	char *ok[] = { "sync", "--instance", "override", "--log-file", "/l", "-c",
		       (char *)path, "--once", NULL };
	char *plain[] = { "sync", "--config", (char *)path, NULL };
	static const char *refused[] = { "--env", "--store", "--name", "--include",
					 "--exclude", "--full-interval", "--poll-interval",
					 "--tombstone-retention" };
	struct cfg c;

	/* The overrides apply whatever their place on the line. */
	ck_assert_msg(parse(&c, ok) == 0, "%s", err);
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.instance, "override");
	ck_assert_str_eq(c.log_file, "/l");
	ck_assert_int_eq(c.once, 1);
	ck_assert_uint_eq(c.nenvs, 1);
	ck_assert_str_eq(c.envs[0].path, "/e");
	cfg_free(&c);
	ck_assert_msg(parse(&c, plain) == 0, "%s", err);
	ck_assert_str_eq(c.instance, "fromfile");
	ck_assert_int_eq(c.once, 0);
	cfg_free(&c);

	/* Everything else belongs in the file. */
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char *argv[] = { "sync", "-c", (char *)path, (char *)refused[i], "1s", NULL };

		ck_assert_int_eq(parse(&c, argv), EINVAL);
		ck_assert_msg(strstr(err, refused[i]) && strstr(err, "cannot be combined "
			      "with --config"), "%s: %s", refused[i], err);
		cfg_free(&c);
	}
	{
		char *twice[] = { "sync", "-c", (char *)path, "-c", (char *)path, NULL };

		ck_assert_int_eq(parse(&c, twice), EINVAL);
		ck_assert(strstr(err, "--config given twice") != NULL);
		cfg_free(&c);
	}
}
END_TEST

/* A config that passes cfg_check, to break one thing at a time. */
static void good(struct cfg *c)
{
	ck_assert_int_eq(load(c, "instance: i1\n" CFG_ENV_OK
			      "  two:\n    path: /e2\n    store: /s\n"), 0);
	ck_assert_msg(cfg_check(c, err, sizeof(err)) == 0, "%s", err);
}

static void check_fails(struct cfg *c, const char *says)
{
	ck_assert_int_ne(cfg_check(c, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, says) != NULL, "want: %s\ngot:  %s", says, err);
	cfg_free(c);
}

START_TEST(check_rules)
{
	struct cfg c;

	good(&c);
	free(c.envs[1].name);
	c.envs[1].name = strdup("main");
	check_fails(&c, "env 'main' is configured twice");

	good(&c);
	free(c.envs[1].path);
	c.envs[1].path = strdup("/e");
	check_fails(&c, "envs 'main' and 'two' have the same path /e");

	good(&c);
	free(c.envs[1].path);
	c.envs[1].path = strdup("relative");
	check_fails(&c, "env 'two': path relative is not absolute");

	good(&c);
	free(c.envs[1].path);
	c.envs[1].path = NULL;
	check_fails(&c, "env 'two' has no path");

	good(&c);
	free(c.envs[0].store);
	c.envs[0].store = NULL;
	check_fails(&c, "env 'main' has no store");

	good(&c);
	free(c.envs[0].name);
	c.envs[0].name = strdup("a-b");
	check_fails(&c, "env name 'a-b'");

	good(&c);
	c.envs[0].include = calloc(1, sizeof(char *));
	c.envs[0].include[0] = strdup("a");
	c.envs[0].ninclude = 1;
	c.envs[0].exclude = calloc(1, sizeof(char *));
	c.envs[0].exclude[0] = strdup("b");
	c.envs[0].nexclude = 1;
	check_fails(&c, "env 'main' has both include and exclude");

	good(&c);
	c.batch_window_ns = 1001 * MS;
	check_fails(&c, "batch_window must be at most 1s");
	good(&c);
	c.batch_window_ns = 0;            /* no batching */
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), 0);
	cfg_free(&c);
	good(&c);
	c.poll_interval_ns = 9 * MS;
	check_fails(&c, "poll_interval must be between 10ms and 1h");
	good(&c);
	c.poll_interval_ns = 3601 * S;
	check_fails(&c, "poll_interval must be between 10ms and 1h");
	good(&c);
	c.poll_interval_ns = 10 * MS;     /* the limits themselves are fine */
	c.envs[0].full_interval_ns = 10 * MS;
	ck_assert_int_eq(cfg_check(&c, err, sizeof(err)), 0);
	c.envs[0].full_interval_ns = 9 * MS;
	check_fails(&c, "env 'main': full_interval must be 0 or between poll_interval");
	good(&c);
	c.envs[1].full_interval_ns = 400 * 86400 * S;
	check_fails(&c, "env 'two': full_interval");
	good(&c);
	c.max_future_ns = 0;
	check_fails(&c, "max_future must be between 1s and 366d");
	good(&c);
	c.tombstone_retention_ns = 3661 * 86400 * S;
	check_fails(&c, "tombstone_retention must be 0 (for ever) or between 1s and 3660d");
	good(&c);
	c.tombstone_retention_ns = 500 * MS;
	check_fails(&c, "tombstone_retention must be 0 (for ever) or between 1s and 3660d");
	good(&c);
	c.tombstone_retention_ns = 370 * 86400 * S; /* Lightning Stream's default */
	ck_assert_msg(cfg_check(&c, err, sizeof(err)) == 0, "%s", err);
	cfg_free(&c);
	/* full snapshots must be younger than the retention (sweep.h) */
	good(&c);
	c.tombstone_retention_ns = 8 * 3600 * S;
	c.envs[1].full_interval_ns = 4 * 3600 * S;      /* half: fine */
	ck_assert_msg(cfg_check(&c, err, sizeof(err)) == 0, "%s", err);
	c.envs[1].full_interval_ns = 4 * 3600 * S + 1;
	check_fails(&c, "env 'two': with tombstone_retention, full_interval must be set and "
		    "at most half of it");
	good(&c);
	c.tombstone_retention_ns = 8 * 3600 * S;
	c.envs[0].full_interval_ns = 0;                 /* only at start */
	check_fails(&c, "env 'main': with tombstone_retention, full_interval");

	good(&c);
	free(c.instance);
	c.instance = NULL;
	check_fails(&c, "no instance name");
	good(&c);
	free(c.instance);
	c.instance = strdup("a b");
	check_fails(&c, "instance 'a b'");
	good(&c);
	c.log_file = strdup("x.log");
	check_fails(&c, "log_file x.log is not absolute");

	/* Loading two files that both name an env. */
	good(&c);
	ck_assert_int_eq(cfg_load_file(&c, file_with("u.yaml", CFG_ENV_OK), err, sizeof(err)), 0);
	check_fails(&c, "env 'main' is configured twice");
}
END_TEST

static const struct dur {
	const char *s;
	int rc;
	uint64_t ns;
} durs[] = {
	{ "0", 0, 0 },
	{ "0s", 0, 0 },
	{ "1ns", 0, 1 },
	{ "1us", 0, 1000 },
	{ "250ms", 0, 250 * MS },
	{ "1s", 0, 1 * S },
	{ "1.5s", 0, 1500 * MS },
	{ "0.25h", 0, 900 * S },
	{ "1.000000001s", 0, 1 * S + 1 },
	{ "1.0000000019s", 0, 1 * S + 1 },     /* below a ns: dropped */
	{ "4h", 0, 4 * 3600 * S },
	{ "1h30m", 0, 5400 * S },
	{ "2d", 0, 2 * 86400 * S },
	{ "1d2h3m4s5ms6us7ns", 0, 93784 * S + 5 * MS + 6000 + 7 },
	{ "90m", 0, 5400 * S },
	{ "18446744073709551615ns", 0, UINT64_MAX },
	{ "18446744073709551616ns", ERANGE, 0 },
	{ "213503d", 0, 213503ull * 86400 * S },
	{ "213504d", ERANGE, 0 },
	{ "213503d23h59m59s", ERANGE, 0 },
	{ "", EINVAL, 0 },
	{ "1", EINVAL, 0 },
	{ "00", EINVAL, 0 },
	{ "s", EINVAL, 0 },
	{ "-1s", EINVAL, 0 },
	{ "+1s", EINVAL, 0 },
	{ " 1s", EINVAL, 0 },
	{ "1s ", EINVAL, 0 },
	{ "1 s", EINVAL, 0 },
	{ "1.s", EINVAL, 0 },
	{ ".5s", EINVAL, 0 },
	{ "1x", EINVAL, 0 },
	{ "1w", EINVAL, 0 },
	{ "1S", EINVAL, 0 },
	{ "1s1h", EINVAL, 0 },
	{ "1s1s", EINVAL, 0 },
	{ "1m1ms1m", EINVAL, 0 },
	{ "1h30", EINVAL, 0 },
	{ "1e3s", EINVAL, 0 },
};

START_TEST(durations)
{
	const struct dur *d = &durs[_i];
	uint64_t ns = 12345;
	int rc = dur_parse(d->s, &ns);

	ck_assert_msg(rc == d->rc, "'%s': rc %d, want %d", d->s, rc, d->rc);
	if (!d->rc)
		ck_assert_msg(ns == d->ns, "'%s': %llu ns, want %llu", d->s,
			      (unsigned long long)ns, (unsigned long long)d->ns);
	else
		ck_assert_uint_eq(ns, 12345);   /* untouched on error */
}
END_TEST

START_TEST(dbi_selection)
{
	char *inc[] = { "abc", "-" };
	char *exc[] = { "pdns" };
	struct cfg_env e;

	memset(&e, 0, sizeof(e));
	ck_assert(cfg_dbi_selected(&e, "anything", 8));
	ck_assert(cfg_dbi_selected(&e, NULL, 0));

	e.include = inc;
	e.ninclude = 2;
	ck_assert(cfg_dbi_selected(&e, "abc", 3));
	ck_assert(cfg_dbi_selected(&e, "abcdef", 3));   /* (name, len) is "abc" */
	ck_assert(!cfg_dbi_selected(&e, "ab", 2));
	ck_assert(!cfg_dbi_selected(&e, "abcd", 4));
	ck_assert(cfg_dbi_selected(&e, NULL, 0));       /* "-" */
	ck_assert(!cfg_dbi_selected(&e, "pdns", 4));

	memset(&e, 0, sizeof(e));
	e.exclude = exc;
	e.nexclude = 1;
	ck_assert(!cfg_dbi_selected(&e, "pdns", 4));
	ck_assert(cfg_dbi_selected(&e, "pdns2", 5));
	ck_assert(cfg_dbi_selected(&e, "pdn", 3));
	ck_assert(cfg_dbi_selected(&e, NULL, 0));
}
END_TEST

START_TEST(usage_names_every_option)
{
	static const char *opts[] = { "--config", "--env", "--name", "--store", "--include",
				      "--exclude", "--full-interval", "--poll-interval",
				      "--keep-interval", "--tombstone-retention",
				      "--instance", "--once", "--log-file", "--help" };
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	ck_assert_ptr_nonnull(f);
	cfg_usage(f);
	ck_assert_int_eq(fclose(f), 0);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		ck_assert_msg(strstr(text, opts[i]) != NULL, "%s missing", opts[i]);
	free(text);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, full_file);
	tcase_add_test(tc, minimal_file);
	tcase_add_test(tc, example_file_is_valid);
	tcase_add_test(tc, map_size);
	tcase_add_loop_test(tc, file_errors, 0, sizeof(bad_files) / sizeof(bad_files[0]));
	tcase_add_test(tc, file_unreadable);
	tcase_add_test(tc, env_vars_expanded);
	tcase_add_test(tc, flags_alone);
	tcase_add_test(tc, flags_minimal_and_help);
	tcase_add_loop_test(tc, flag_errors, 0, sizeof(bad_args) / sizeof(bad_args[0]));
	tcase_add_test(tc, flags_and_file);
	tcase_add_test(tc, check_rules);
	tcase_add_loop_test(tc, durations, 0, sizeof(durs) / sizeof(durs[0]));
	tcase_add_test(tc, dbi_selection);
	tcase_add_test(tc, usage_names_every_option);
	tcase_add_test(tc, size_trailing_junk);
	suite_add_tcase(s, tc);
	return s;
}
