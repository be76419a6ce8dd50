/* config.c: the struct cfg: defaults, freeing, setting its strings and
 * paths, and the checks that it can run (config.h). Reading it from a
 * file is cfg_file.c and cfg_yaml.c; from flags, cfg_args.c. */
#include "config.h"
#include "cfg_impl.h"
#include "err.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- defaults and freeing ---- */

static int instance_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-';
}

/* The host name as Lightning Stream makes an instance name of it. */
static char *host_instance(void)
{
	char host[256];
	size_t i;

	if (gethostname(host, sizeof(host)) != 0)
		return NULL;
	host[sizeof(host) - 1] = 0;
	host[CFG_INSTANCE_MAX] = 0;
	if (!host[0])
		return NULL;
	for (i = 0; host[i]; i++)
		if (!instance_char((unsigned char)host[i]))
			host[i] = '-';
	return strdup(host);
}

void cfg_init(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->instance = host_instance();
	c->poll_interval_ns = CFG_DEFAULT_POLL;
	c->batch_window_ns = CFG_DEFAULT_BATCH;
	c->max_future_ns = CFG_DEFAULT_MAX_FUTURE;
	c->keep_ns = CFG_DEFAULT_KEEP;
	c->max_object_size = CFG_DEFAULT_MAX_OBJECT;
	c->max_object_expanded = CFG_DEFAULT_MAX_EXPANDED;
	c->tombstone_retention_ns = 0;
	c->log_level = MDBTAP_LOG_DEFAULT_LEVEL;
	c->log_format = MDBTAP_LOG_TEXT;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void env_free(struct cfg_env *e)
{
	free(e->name);
	free(e->path);
	free(e->store);
	for (size_t i = 0; i < e->nstore_opts; i++) {
		char *v = (char *)e->store_opts[i].value;

		free((char *)e->store_opts[i].key);
		if (v)
			explicit_bzero(v, strlen(v));
		free(v);
	}
	free(e->store_opts);
	free_list(e->include, e->ninclude);
	free_list(e->exclude, e->nexclude);
	memset(e, 0, sizeof(*e));
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nenvs; i++)
		env_free(&c->envs[i]);
	free(c->envs);
	free(c->instance);
	free(c->log_file);
	free(c->http_listen);
	memset(c, 0, sizeof(*c));
}

/* A new env at the end of c->envs, with its defaults. */
int cfg_add_env(struct cfg *c, struct cfg_env **out)
{
	struct cfg_env *v = realloc(c->envs, (c->nenvs + 1) * sizeof(*v));

	if (!v)
		return ENOMEM;
	c->envs = v;
	*out = &v[c->nenvs++];
	memset(*out, 0, sizeof(**out));
	(*out)->full_interval_ns = CFG_DEFAULT_FULL_INTERVAL;
	(*out)->map_size = CFG_DEFAULT_MAP_SIZE;
	return 0;
}

int cfg_list_add(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (!nv)
		return ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return ENOMEM;
	(*n)++;
	return 0;
}

/* Replace *dst by a copy of s. */
int cfg_set_str(char **dst, const char *s)
{
	char *d = strdup(s);

	if (!d)
		return ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* ---- names, paths ---- */

int cfg_env_name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= CFG_ENV_NAME_MAX ||
		    !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return i > 0;
}

int cfg_instance_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= CFG_INSTANCE_MAX || !instance_char((unsigned char)s[i]))
			return 0;
	return i > 0;
}

/* p made absolute against base (a directory); lexical only: the path
 * need not exist yet. */
int cfg_abs_path(const char *base, const char *p, char **out)
{
	size_t n;

	if (p[0] == '/' || !base)
		return (*out = strdup(p)) ? 0 : ENOMEM;
	n = strlen(base) + 1 + strlen(p) + 1;
	*out = malloc(n);
	if (!*out)
		return ENOMEM;
	snprintf(*out, n, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", p);
	return 0;
}

int cfg_set_path(char **dst, const char *base, const char *p)
{
	char *abs;
	int rc = cfg_abs_path(base, p, &abs);

	if (rc)
		return rc;
	free(*dst);
	*dst = abs;
	return 0;
}

/* A store given as a relative directory is a path like the others;
 * anything with a ':' is a URL for store_open to judge. */
int cfg_set_store(char **dst, const char *base, const char *url)
{
	if (url[0] == '/' || strchr(url, ':'))
		return cfg_set_str(dst, url);
	return cfg_set_path(dst, base, url);
}

/* ---- checks ---- */

static int check_env(const struct cfg *c, size_t i, char *err, size_t errlen)
{
	const struct cfg_env *e = &c->envs[i];
	const char *n = e->name ? e->name : "";

	if (!cfg_env_name_ok(n)) {
		err_setf(err, errlen, "env name '%s': use 1 to %d lower-case letters and digits",
			n, CFG_ENV_NAME_MAX);
		return EINVAL;
	}
	for (size_t j = 0; j < i; j++) {
		if (!strcmp(c->envs[j].name, n)) {
			err_setf(err, errlen, "env '%s' is configured twice", n);
			return EINVAL;
		}
		if (e->path && c->envs[j].path && !strcmp(c->envs[j].path, e->path)) {
			err_setf(err, errlen, "envs '%s' and '%s' have the same path %s",
				c->envs[j].name, n, e->path);
			return EINVAL;
		}
	}
	if (!e->path || !e->path[0]) {
		err_setf(err, errlen, "env '%s' has no path", n);
		return EINVAL;
	}
	if (e->path[0] != '/') {
		err_setf(err, errlen, "env '%s': path %s is not absolute", n, e->path);
		return EINVAL;
	}
	if (strlen(e->path) >= PATH_MAX) {
		err_setf(err, errlen, "env '%s': path too long", n);
		return ENAMETOOLONG;
	}
	if (!e->store || !e->store[0]) {
		err_setf(err, errlen, "env '%s' has no store", n);
		return EINVAL;
	}
	if (e->ninclude && e->nexclude) {
		err_setf(err, errlen, "env '%s' has both include and exclude: use one", n);
		return EINVAL;
	}
	if (e->full_interval_ns &&
	    (e->full_interval_ns < c->poll_interval_ns || e->full_interval_ns > CFG_MAX_DURATION)) {
		err_setf(err, errlen, "env '%s': full_interval must be 0 or between "
			"poll_interval and 366d", n);
		return EINVAL;
	}
	if (e->map_size < CFG_MIN_MAP_SIZE || e->map_size > SIZE_MAX) {
		err_setf(err, errlen, "env '%s': map_size must be at least 1M%s", n,
			SIZE_MAX > 0xffffffffu ? "" : " and less than 4G on this machine");
		return EINVAL;
	}
	/* Each instance's newest full snapshot must be younger than the
	 * retention: an older one still holds elements deleted since, whose
	 * tombstones may be swept already, and a joiner loading it would
	 * bring them back. */
	if (c->tombstone_retention_ns &&
	    (!e->full_interval_ns || e->full_interval_ns > c->tombstone_retention_ns / 2)) {
		err_setf(err, errlen, "env '%s': with tombstone_retention, full_interval must be "
			"set and at most half of it", n);
		return EINVAL;
	}
	return 0;
}

int cfg_check(const struct cfg *c, char *err, size_t errlen)
{
	int rc;

	err_setf(err, errlen, "ok");
	if (!c->instance) {
		err_setf(err, errlen, "no instance name: the host name could not be read; "
			"set one with instance: or --instance");
		return EINVAL;
	}
	if (!cfg_instance_ok(c->instance)) {
		err_setf(err, errlen, "instance '%s': use 1 to %d letters, digits and '-'",
			c->instance, CFG_INSTANCE_MAX);
		return EINVAL;
	}
	if (c->poll_interval_ns < CFG_MIN_POLL || c->poll_interval_ns > CFG_MAX_POLL) {
		err_setf(err, errlen, "poll_interval must be between 10ms and 1h");
		return EINVAL;
	}
	if (c->batch_window_ns > CFG_MAX_BATCH) {
		err_setf(err, errlen, "batch_window must be at most 1s");
		return EINVAL;
	}
	if (c->max_future_ns < CFG_MIN_MAX_FUTURE || c->max_future_ns > CFG_MAX_DURATION) {
		err_setf(err, errlen, "max_future must be between 1s and 366d");
		return EINVAL;
	}
	if (c->keep_ns > CFG_MAX_DURATION) {
		err_setf(err, errlen, "keep_interval must be at most 366d");
		return EINVAL;
	}
	if (c->tombstone_retention_ns &&
	    (c->tombstone_retention_ns < DUR_NS_PER_SEC ||
	     c->tombstone_retention_ns > CFG_MAX_RETENTION)) {
		err_setf(err, errlen, "tombstone_retention must be 0 (for ever) or between 1s and "
			"3660d");
		return EINVAL;
	}
	if (c->log_file && c->log_file[0] != '/') {
		err_setf(err, errlen, "log_file %s is not absolute", c->log_file);
		return EINVAL;
	}
	if (!c->nenvs) {
		err_setf(err, errlen, "no env to sync: give --config FILE or --env PATH --store URL");
		return EINVAL;
	}
	for (size_t i = 0; i < c->nenvs; i++) {
		rc = check_env(c, i, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int cfg_dbi_selected(const struct cfg_env *e, const char *name, size_t len)
{
	char **v = e->ninclude ? e->include : e->exclude;
	size_t n = e->ninclude ? e->ninclude : e->nexclude;

	for (size_t i = 0; i < n; i++) {
		int hit = len ? strlen(v[i]) == len && !memcmp(v[i], name, len)
			      : !strcmp(v[i], "-");

		if (hit)
			return e->ninclude != 0;
	}
	return e->ninclude == 0;
}

int cfg_parse_size(const char *v, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	char *end;
	unsigned long long x;
	int shift = 0;

	if (!(v[0] >= '0' && v[0] <= '9'))
		return EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	/* A space masked to upper case is 0, which strchr finds as
	 * units' terminator: "4 " was 4 PiB. */
	if (*end && (*end & ~0x20) && (u = strchr(units, *end & ~0x20)) != NULL) {
		shift = 10 * (int)(u - units + 1);
		end++;
	}
	if (errno || *end)
		return EINVAL;
	if (x > (~0ull >> shift))
		return ERANGE;
	if ((x << shift) < 1024)
		return EINVAL;
	*out = (uint64_t)x << shift;
	return 0;
}
