/* config.c: the syncer's configuration, from a YAML file (libyaml's
 * document API) and from the flags of `mdbtap sync`. */
#include "config.h"
#include "err.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define FILE_MAX (1024 * 1024)   /* a config file is small; refuse anything huge */


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
	c->max_future_ns = CFG_DEFAULT_MAX_FUTURE;
	c->keep_ns = CFG_DEFAULT_KEEP;
	c->max_object_size = CFG_DEFAULT_MAX_OBJECT;
	c->max_object_expanded = CFG_DEFAULT_MAX_EXPANDED;
	c->tombstone_retention_ns = 0;
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
	memset(c, 0, sizeof(*c));
}

/* A new env at the end of c->envs, with its defaults. */
static int add_env(struct cfg *c, struct cfg_env **out)
{
	struct cfg_env *v = realloc(c->envs, (c->nenvs + 1) * sizeof(*v));

	if (!v)
		return ENOMEM;
	c->envs = v;
	*out = &v[c->nenvs++];
	memset(*out, 0, sizeof(**out));
	(*out)->full_interval_ns = CFG_DEFAULT_FULL_INTERVAL;
	return 0;
}

static int list_add(char ***v, size_t *n, const char *s)
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
static int set_str(char **dst, const char *s)
{
	char *d = strdup(s);

	if (!d)
		return ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* ---- names, paths ---- */

static int env_name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= CFG_ENV_NAME_MAX ||
		    !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return i > 0;
}

static int instance_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= CFG_INSTANCE_MAX || !instance_char((unsigned char)s[i]))
			return 0;
	return i > 0;
}

/* p made absolute against base (a directory); lexical only: the path
 * need not exist yet. */
static int abs_path(const char *base, const char *p, char **out)
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

static int set_path(char **dst, const char *base, const char *p)
{
	char *abs;
	int rc = abs_path(base, p, &abs);

	if (rc)
		return rc;
	free(*dst);
	*dst = abs;
	return 0;
}

/* A store given as a relative directory is a path like the others;
 * anything with a ':' is a URL for store_open to judge. */
static int set_store(char **dst, const char *base, const char *url)
{
	if (url[0] == '/' || strchr(url, ':'))
		return set_str(dst, url);
	return set_path(dst, base, url);
}

/* ---- durations ---- */

/* ---- the file's text: UTF-8 check, $VAR expansion ---- */

/* Length of the UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong, surrogate, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* libyaml also refuses these, but without saying where: we say the line. */
static int check_text(const char *file, const char *t, size_t n, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)t;
	size_t line = 1, i = 0;

	while (i < n) {
		size_t len = utf8_len(p + i, n - i);

		if (!len) {
			err_setf(err, errlen, "%s:%zu: not valid UTF-8", file, line);
			return EINVAL;
		}
		if (len == 1 && ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') ||
				 p[i] == 0x7f)) {
			err_setf(err, errlen, "%s:%zu: control character 0x%02x", file, line, p[i]);
			return EINVAL;
		}
		if (p[i] == '\n')
			line++;
		i += len;
	}
	return 0;
}

struct buf {
	char *p;
	size_t n, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

static int name_start(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int name_char(int ch)
{
	return name_start(ch) || (ch >= '0' && ch <= '9');
}

/* Replace $VAR and ${VAR} in t (n bytes, from line `line` of file) by
 * the environment's values. */
static int expand_vars(const char *file, size_t line, const char *t, size_t n,
		       struct buf *out, char *err, size_t errlen)
{
	size_t i = 0;
	int rc = buf_add(out, "", 0);

	while (!rc && i < n) {
		size_t start, end;
		char name[256];
		const char *val;
		int braced;

		if (t[i] != '$') {
			line += t[i] == '\n';
			rc = buf_add(out, t + i++, 1);
			continue;
		}
		if (i + 1 < n && t[i + 1] == '$') {
			rc = buf_add(out, "$", 1);
			i += 2;
			continue;
		}
		braced = i + 1 < n && t[i + 1] == '{';
		start = end = i + 1 + (size_t)braced;
		while (end < n && (end == start ? name_start(t[end]) : name_char(t[end])))
			end++;
		if (!braced && end == start) {
			rc = buf_add(out, t + i++, 1);  /* a lone '$' */
			continue;
		}
		if (braced && (end == start || end >= n || t[end] != '}')) {
			err_setf(err, errlen, "%s:%zu: bad ${...}: expected ${NAME}", file, line);
			return EINVAL;
		}
		if (end - start >= sizeof(name)) {
			err_setf(err, errlen, "%s:%zu: variable name too long", file, line);
			return EINVAL;
		}
		memcpy(name, t + start, end - start);
		name[end - start] = 0;
		val = getenv(name);
		if (!val) {
			err_setf(err, errlen, "%s:%zu: environment variable %s is not set "
				"(write $$ for a '$')", file, line, name);
			return EINVAL;
		}
		rc = buf_add(out, val, strlen(val));
		i = end + (size_t)braced;
	}
	return rc;
}

/* ---- the YAML document ---- */

struct loader {
	const char *file;     /* for messages */
	char *dir;            /* the file's directory: base of relative paths */
	yaml_document_t doc;
	struct cfg *c;
	char *err;
	size_t errlen;
};

static int lerr(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "FILE:LINE: message"; returns EINVAL. */
static int lerr(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_setf(l->err, l->errlen, "%s:%zu: %s", l->file, n->start_mark.line + 1, msg);
	return EINVAL;
}

static yaml_node_t *node(struct loader *l, int id)
{
	return yaml_document_get_node(&l->doc, id);
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a single value";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int is_null(const yaml_node_t *n)
{
	static const char *nulls[] = { "", "~", "null", "Null", "NULL" };
	const char *v = (const char *)n->data.scalar.value;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(v, nulls[i]))
			return 1;
	return 0;
}

/* The value of a scalar node that must be a non-empty string. */
static int scalar(struct loader *l, const yaml_node_t *n, const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return lerr(l, n, "%s must be a single value, not %s", what, kind(n));
	if (is_null(n) || !n->data.scalar.length)
		return lerr(l, n, "%s has no value", what);
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return lerr(l, n, "%s contains a NUL byte", what);
	*out = (const char *)n->data.scalar.value;
	return 0;
}

static int duration(struct loader *l, const yaml_node_t *n, const char *what, uint64_t *ns)
{
	const char *v;
	int rc = scalar(l, n, what, &v);

	if (rc)
		return rc;
	rc = dur_parse(v, ns);
	if (rc == ERANGE)
		return lerr(l, n, "%s '%s' is too long", what, v);
	if (rc)
		return lerr(l, n, "%s '%s' is not a duration (e.g. 0, 250ms, 1s, 1h30m, 2d)",
			    what, v);
	return 0;
}

/* A byte count: digits, then maybe K, M or G (powers of 1024); >= 1K. */
static int byte_size(struct loader *l, const yaml_node_t *n, const char *what, uint64_t *out)
{
	const char *v;
	char *end;
	unsigned long long x;
	int rc = scalar(l, n, what, &v), shift = 0;

	if (rc)
		return rc;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (errno || end == v || *end || !(v[0] >= '0' && v[0] <= '9') || x > (~0ull >> shift) ||
	    (x << shift) < 1024)
		return lerr(l, n, "%s '%s' is not a size of at least 1K (e.g. 64M, 2G)", what, v);
	*out = (uint64_t)x << shift;
	return 0;
}

static int mapping(struct loader *l, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_MAPPING_NODE)
		return lerr(l, n, "%s must be a mapping (key: value), not %s", what, kind(n));
	return 0;
}

/* Each key of a mapping: a string, and never twice. */
typedef int (*pair_fn)(struct loader *l, const char *key, yaml_node_t *k, yaml_node_t *v,
		       void *ctx);

static int each_pair(struct loader *l, yaml_node_t *map, const char *what, pair_fn fn,
		     void *ctx)
{
	yaml_node_pair_t *first = map->data.mapping.pairs.start;
	yaml_node_pair_t *top = map->data.mapping.pairs.top;

	for (yaml_node_pair_t *p = first; p < top; p++) {
		yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
		const char *key;
		int rc;

		if (!k || !v)
			return lerr(l, map, "broken YAML document");
		if (k->type != YAML_SCALAR_NODE)
			return lerr(l, k, "a key in %s must be a single value, not %s", what,
				    kind(k));
		key = (const char *)k->data.scalar.value;
		for (yaml_node_pair_t *q = first; q < p; q++) {
			yaml_node_t *prev = node(l, q->key);

			if (prev && prev->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)prev->data.scalar.value, key))
				return lerr(l, k, "duplicate key '%s' in %s (first on line %zu)",
					    key, what, prev->start_mark.line + 1);
		}
		rc = fn(l, key, k, v, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

static int dbi_list(struct loader *l, yaml_node_t *n, const char *what, char ***v,
		    size_t *count)
{
	yaml_node_item_t *it;

	if (n->type != YAML_SEQUENCE_NODE)
		return lerr(l, n, "%s must be a list of DBI names ([a, b]; \"-\" for the "
			    "unnamed DBI), not %s", what, kind(n));
	if (n->data.sequence.items.start == n->data.sequence.items.top)
		return lerr(l, n, "%s is empty: leave it out to sync every DBI", what);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *item = node(l, *it);
		const char *name;
		int rc;

		if (!item)
			return lerr(l, n, "broken YAML document");
		rc = scalar(l, item, what, &name);
		if (!rc)
			rc = list_add(v, count, name);
		if (rc)
			return rc;
	}
	return 0;
}

static int store_opt(struct loader *l, const char *key, yaml_node_t *k, yaml_node_t *v,
		     void *ctx)
{
	struct cfg_env *e = ctx;
	struct store_opt *nv;
	const char *s;
	int rc = scalar(l, v, key, &s);

	(void)k;
	if (rc)
		return rc;
	nv = realloc(e->store_opts, (e->nstore_opts + 1) * sizeof(*nv));
	if (!nv)
		return ENOMEM;
	e->store_opts = nv;
	nv[e->nstore_opts].key = strdup(key);
	nv[e->nstore_opts].value = strdup(s);
	e->nstore_opts++;
	return nv[e->nstore_opts - 1].key && nv[e->nstore_opts - 1].value ? 0 : ENOMEM;
}

struct env_ctx {
	struct cfg_env *e;
	yaml_node_t *include, *exclude;
};

static int env_key(struct loader *l, const char *key, yaml_node_t *k, yaml_node_t *v,
		   void *ctx)
{
	struct env_ctx *x = ctx;
	struct cfg_env *e = x->e;
	const char *s;
	int rc;

	(void)k;
	if (!strcmp(key, "path")) {
		rc = scalar(l, v, "path", &s);
		return rc ? rc : set_path(&e->path, l->dir, s);
	}
	if (!strcmp(key, "store")) {
		rc = scalar(l, v, "store", &s);
		return rc ? rc : set_store(&e->store, l->dir, s);
	}
	if (!strcmp(key, "store_options")) {
		rc = mapping(l, v, "store_options");
		return rc ? rc : each_pair(l, v, "store_options", store_opt, e);
	}
	if (!strcmp(key, "include")) {
		x->include = v;
		return dbi_list(l, v, "include", &e->include, &e->ninclude);
	}
	if (!strcmp(key, "exclude")) {
		x->exclude = v;
		return dbi_list(l, v, "exclude", &e->exclude, &e->nexclude);
	}
	if (!strcmp(key, "full_interval"))
		return duration(l, v, "full_interval", &e->full_interval_ns);
	return lerr(l, k, "unknown key '%s' in env '%s' (known: path, store, store_options, "
		    "include, exclude, full_interval)", key, e->name);
}

static int env_entry(struct loader *l, const char *name, yaml_node_t *k, yaml_node_t *v,
		     void *ctx)
{
	struct env_ctx x = { NULL, NULL, NULL };
	char what[64];
	int rc;

	(void)ctx;
	if (!env_name_ok(name))
		return lerr(l, k, "env name '%s': use 1 to %d lower-case letters and digits",
			    name, CFG_ENV_NAME_MAX);
	snprintf(what, sizeof(what), "env '%s'", name);
	rc = mapping(l, v, what);
	if (!rc)
		rc = add_env(l->c, &x.e);
	if (!rc)
		rc = set_str(&x.e->name, name);
	if (!rc)
		rc = each_pair(l, v, what, env_key, &x);
	if (rc)
		return rc;
	if (!x.e->path)
		return lerr(l, k, "env '%s' has no path", name);
	if (!x.e->store)
		return lerr(l, k, "env '%s' has no store", name);
	if (x.include && x.exclude)
		return lerr(l, x.exclude, "env '%s' has both include and exclude: "
			    "use one", name);
	return 0;
}

static int top_key(struct loader *l, const char *key, yaml_node_t *k, yaml_node_t *v,
		   void *ctx)
{
	struct cfg *c = l->c;
	const char *s;
	int rc;

	(void)ctx;
	if (!strcmp(key, "instance")) {
		rc = scalar(l, v, "instance", &s);
		if (!rc && !instance_ok(s))
			return lerr(l, v, "instance '%s': use 1 to %d letters, digits and '-'",
				    s, CFG_INSTANCE_MAX);
		return rc ? rc : set_str(&c->instance, s);
	}
	if (!strcmp(key, "poll_interval"))
		return duration(l, v, "poll_interval", &c->poll_interval_ns);
	if (!strcmp(key, "max_future"))
		return duration(l, v, "max_future", &c->max_future_ns);
	if (!strcmp(key, "keep_interval"))
		return duration(l, v, "keep_interval", &c->keep_ns);
	if (!strcmp(key, "tombstone_retention"))
		return duration(l, v, "tombstone_retention", &c->tombstone_retention_ns);
	if (!strcmp(key, "max_object_size"))
		return byte_size(l, v, "max_object_size", &c->max_object_size);
	if (!strcmp(key, "max_object_expanded"))
		return byte_size(l, v, "max_object_expanded", &c->max_object_expanded);
	if (!strcmp(key, "log_file")) {
		rc = scalar(l, v, "log_file", &s);
		return rc ? rc : set_path(&c->log_file, l->dir, s);
	}
	if (!strcmp(key, "envs")) {
		rc = mapping(l, v, "envs");
		if (!rc && v->data.mapping.pairs.start == v->data.mapping.pairs.top)
			return lerr(l, v, "envs is empty");
		return rc ? rc : each_pair(l, v, "envs", env_entry, NULL);
	}
	return lerr(l, k, "unknown key '%s' (known: instance, poll_interval, max_future, "
		    "keep_interval, tombstone_retention, max_object_size, max_object_expanded, "
		    "log_file, envs)", key);
}

static int yaml_fail(struct loader *l, yaml_parser_t *p)
{
	const char *what = p->problem ? p->problem : "cannot parse";

	if (p->error == YAML_READER_ERROR || p->error == YAML_MEMORY_ERROR)
		err_setf(l->err, l->errlen, "%s: YAML: %s", l->file, what);
	else if (p->context)
		err_setf(l->err, l->errlen, "%s:%zu: YAML: %s %s (started on line %zu)", l->file,
			p->problem_mark.line + 1, what, p->context, p->context_mark.line + 1);
	else
		err_setf(l->err, l->errlen, "%s:%zu: YAML: %s", l->file,
			p->problem_mark.line + 1, what);
	return p->error == YAML_MEMORY_ERROR ? ENOMEM : EINVAL;
}

/* Expand the variables in every scalar (keys and values) of the
 * document. Doing it on scalars rather than on the text keeps comments
 * out of it, and a value (a secret) may hold any character, quotes and
 * '#' included, without breaking the YAML around it. */
static int expand_doc(struct loader *l)
{
	for (yaml_node_t *n = l->doc.nodes.start; n < l->doc.nodes.top; n++) {
		struct buf b = { NULL, 0, 0 };
		int rc;

		if (n->type != YAML_SCALAR_NODE ||
		    !memchr(n->data.scalar.value, '$', n->data.scalar.length))
			continue;
		rc = expand_vars(l->file, n->start_mark.line + 1,
				 (const char *)n->data.scalar.value, n->data.scalar.length,
				 &b, l->err, l->errlen);
		if (rc) {
			free(b.p);
			return rc;
		}
		/* libyaml allocates with malloc and frees with free. */
		free(n->data.scalar.value);
		n->data.scalar.value = (yaml_char_t *)b.p;
		n->data.scalar.length = b.n;
	}
	return 0;
}

/* Parse the text: exactly one document, a mapping. */
static int load_text(struct loader *l, const char *text, size_t n)
{
	yaml_document_t extra;
	yaml_parser_t p;
	yaml_node_t *root;
	int rc;

	if (!yaml_parser_initialize(&p))
		return ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	if (!yaml_parser_load(&p, &l->doc)) {
		rc = yaml_fail(l, &p);
		yaml_parser_delete(&p);
		return rc;
	}
	root = yaml_document_get_root_node(&l->doc);
	if (!root) {
		err_setf(l->err, l->errlen, "%s: empty config file", l->file);
		rc = EINVAL;
	} else if (!yaml_parser_load(&p, &extra)) {
		rc = yaml_fail(l, &p);
	} else {
		yaml_node_t *r2 = yaml_document_get_root_node(&extra);

		rc = r2 ? lerr(l, r2, "more than one YAML document") : 0;
		yaml_document_delete(&extra);
	}
	yaml_parser_delete(&p);
	if (!rc)
		rc = expand_doc(l);
	if (!rc)
		rc = mapping(l, root, "the config file");
	if (!rc)
		rc = each_pair(l, root, "the config file", top_key, NULL);
	yaml_document_delete(&l->doc);
	return rc;
}

static int read_file(const char *path, char **text, size_t *n, char *err, size_t errlen)
{
	struct stat st;
	ssize_t r;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = errno;
		err_setf(err, errlen, "cannot read config file %s: %s", path, err_str(rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
		err_setf(err, errlen, "config file %s: %s", path,
			S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
		close(fd);
		return S_ISREG(st.st_mode) ? EFBIG : EINVAL;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (!*text) {
		close(fd);
		return ENOMEM;
	}
	/* Read to the end even if the file grew since fstat, up to the cap. */
	while (got < (size_t)st.st_size) {
		r = read(fd, *text + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? errno : 0;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	if (rc) {
		err_setf(err, errlen, "cannot read config file %s: %s", path, err_str(rc));
		free(*text);
		return rc;
	}
	(*text)[got] = 0;
	*n = got;
	return 0;
}

/* The directory of the file at path, absolute. */
static int file_dir(const char *path, char **dir)
{
	char *cwd = NULL, *abs, *slash;
	int rc;

	if (path[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return errno;
	}
	rc = abs_path(cwd, path, &abs);
	free(cwd);
	if (rc)
		return rc;
	slash = strrchr(abs, '/');
	slash[slash == abs ? 1 : 0] = 0;
	*dir = abs;
	return 0;
}

int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen)
{
	struct loader l = { .file = path, .c = c, .err = err, .errlen = errlen };
	char *text = NULL;
	size_t n = 0;
	int rc;

	err_setf(err, errlen, "ok");
	rc = read_file(path, &text, &n, err, errlen);
	if (rc)
		return rc;
	rc = check_text(path, text, n, err, errlen);
	if (!rc)
		rc = file_dir(path, &l.dir);
	if (!rc)
		rc = load_text(&l, text, n);
	if (rc == ENOMEM)
		err_setf(err, errlen, "%s: out of memory", path);
	free(text);
	free(l.dir);
	return rc;
}

/* ---- flags ---- */

enum {
	OPT_ENV = 256, OPT_NAME, OPT_STORE, OPT_INSTANCE, OPT_INCLUDE, OPT_EXCLUDE,
	OPT_ONCE, OPT_POLL, OPT_FULL, OPT_LOG, OPT_FULL_NOW, OPT_KEEP, OPT_RETENTION,
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
	{ "full-interval", required_argument, NULL, OPT_FULL },
	{ "keep-interval", required_argument, NULL, OPT_KEEP },
	{ "tombstone-retention", required_argument, NULL, OPT_RETENTION },
	{ "log-file", required_argument, NULL, OPT_LOG },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The flags as given: pointers into argv. */
struct flags {
	const char *config, *env, *name, *store, *instance, *poll, *full, *log, *keep,
		*retention;
	const char **include, **exclude;
	size_t ninclude, nexclude;
	int once, full_now;
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
	    opt == OPT_RETENTION)
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
	case OPT_FULL:
		return once_only(&f->full, v, opt, err, errlen);
	case OPT_KEEP:
		return once_only(&f->keep, v, opt, err, errlen);
	case OPT_RETENTION:
		return once_only(&f->retention, v, opt, err, errlen);
	case OPT_LOG:
		return once_only(&f->log, v, opt, err, errlen);
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

	if (f->name && !env_name_ok(f->name)) {
		err_setf(err, errlen, "--name '%s': use 1 to %d lower-case letters and digits",
			f->name, CFG_ENV_NAME_MAX);
		return EINVAL;
	}
	rc = add_env(c, &e);
	if (!rc)
		rc = set_str(&e->name, f->name ? f->name : CFG_DEFAULT_ENV_NAME);
	if (!rc)
		rc = set_path(&e->path, cwd, f->env);
	if (!rc && f->store)
		rc = set_store(&e->store, cwd, f->store);
	for (size_t i = 0; !rc && i < f->ninclude; i++)
		rc = list_add(&e->include, &e->ninclude, f->include[i]);
	for (size_t i = 0; !rc && i < f->nexclude; i++)
		rc = list_add(&e->exclude, &e->nexclude, f->exclude[i]);
	if (!rc && f->full)
		rc = flag_duration("full-interval", f->full, &e->full_interval_ns, err, errlen);
	return rc;
}

static int flag_empty(const struct flags *f)
{
	const char *v[] = { f->config, f->env, f->name, f->store, f->instance, f->poll,
			    f->full, f->log, f->keep, f->retention };

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
			"file (only --instance, --once, --full-now and --log-file override it)", f->env_flag);
		return EINVAL;
	}
	if (!f->env && (f->name || f->store || f->ninclude || f->nexclude || f->full)) {
		err_setf(err, errlen, "--%s needs --env PATH",
			f->name ? "name" : f->store ? "store" : f->ninclude ? "include" :
			f->nexclude ? "exclude" : "full-interval");
		return EINVAL;
	}
	if (f->instance && !instance_ok(f->instance)) {
		err_setf(err, errlen, "--instance '%s': use 1 to %d letters, digits and '-'",
			f->instance, CFG_INSTANCE_MAX);
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
	if (!rc && f->keep)
		rc = flag_duration("keep-interval", f->keep, &c->keep_ns, err, errlen);
	if (!rc && f->retention)
		rc = flag_duration("tombstone-retention", f->retention, &c->tombstone_retention_ns,
				   err, errlen);
	if (!rc && f->instance)
		rc = set_str(&c->instance, f->instance);
	if (!rc && f->log)
		rc = set_path(&c->log_file, cwd, f->log);
	if (!rc && f->once)
		c->once = 1;
	if (!rc && f->full_now)
		c->full_now = 1;
	free(cwd);
	return rc;
}

int cfg_parse_args(struct cfg *c, int argc, char **argv, char *err, size_t errlen)
{
	struct flags f;
	int opt, rc = 0;

	memset(&f, 0, sizeof(f));
	err_setf(err, errlen, "ok");
	optind = 0;     /* glibc: start afresh, even after an earlier parse */
	opterr = 0;     /* library code: the messages go to err */
	while (!rc && (opt = getopt_long(argc, argv, "+:c:h", long_opts, NULL)) != -1) {
		if (opt == 'h') {
			rc = CFG_HELP;
		} else if (opt == '?') {
			if (optopt && optopt < 256)
				err_setf(err, errlen, "unknown option '-%c'", optopt);
			else if (optopt)
				err_setf(err, errlen, "option '%s' takes no value", argv[optind - 1]);
			else
				err_setf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			rc = EINVAL;
		} else if (opt == ':') {
			err_setf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			rc = EINVAL;
		} else {
			rc = take_opt(&f, opt, optarg, err, errlen);
		}
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

/* ---- checks ---- */

static int check_env(const struct cfg *c, size_t i, char *err, size_t errlen)
{
	const struct cfg_env *e = &c->envs[i];
	const char *n = e->name ? e->name : "";

	if (!env_name_ok(n)) {
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
	if (!instance_ok(c->instance)) {
		err_setf(err, errlen, "instance '%s': use 1 to %d letters, digits and '-'",
			c->instance, CFG_INSTANCE_MAX);
		return EINVAL;
	}
	if (c->poll_interval_ns < CFG_MIN_POLL || c->poll_interval_ns > CFG_MAX_POLL) {
		err_setf(err, errlen, "poll_interval must be between 10ms and 1h");
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
		"      --include DBI       sync only this DBI (repeatable; '-' = unnamed DBI)\n"
		"      --exclude DBI       sync every DBI but this one (repeatable)\n"
		"      --full-interval DUR full snapshot period (default 4h; 0 = at start only)\n"
		"      --poll-interval DUR export and receive period (default 1s, >= 10ms)\n"
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
		"      --log-file FILE     log there instead of stderr\n"
		"  -h, --help              this text\n"
		"\n"
		"Give either --config FILE, or --env PATH --store URL and their options;\n"
		"with --config, only --instance, --once, --full-now and --log-file may be added.\n"
		"DUR: 0, or numbers with units, largest first: 2d, 4h, 1h30m, 1.5s, 250ms.\n");
}
