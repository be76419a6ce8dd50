/* cfg_yaml.c: a config file's YAML document (libyaml's document API)
 * into a struct cfg, strictly: every message says the file and line. */
#include "cfg_impl.h"
#include "buf.h"
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct loader {
	const char *file;     /* for messages */
	const char *dir;      /* the file's directory: base of relative paths */
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

/* A byte count (cfg_parse_size): digits, then maybe K, M, G or T. */
static int byte_size(struct loader *l, const yaml_node_t *n, const char *what, uint64_t *out)
{
	const char *v;
	int rc = scalar(l, n, what, &v);

	if (rc)
		return rc;
	if (cfg_parse_size(v, out))
		return lerr(l, n, "%s '%s' is not a size of at least 1K (e.g. 64M, 2G)", what, v);
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
			rc = cfg_list_add(v, count, name);
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
	const char *s = NULL;
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
		return rc ? rc : cfg_set_path(&e->path, l->dir, s);
	}
	if (!strcmp(key, "store")) {
		rc = scalar(l, v, "store", &s);
		return rc ? rc : cfg_set_store(&e->store, l->dir, s);
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
	if (!strcmp(key, "map_size"))
		return byte_size(l, v, "map_size", &e->map_size);
	return lerr(l, k, "unknown key '%s' in env '%s' (known: path, store, store_options, "
		    "include, exclude, full_interval, map_size)", key, e->name);
}

static int env_entry(struct loader *l, const char *name, yaml_node_t *k, yaml_node_t *v,
		     void *ctx)
{
	struct env_ctx x = { NULL, NULL, NULL };
	char what[64];
	int rc;

	(void)ctx;
	if (!cfg_env_name_ok(name))
		return lerr(l, k, "env name '%s': use 1 to %d lower-case letters and digits",
			    name, CFG_ENV_NAME_MAX);
	snprintf(what, sizeof(what), "env '%s'", name);
	rc = mapping(l, v, what);
	if (!rc)
		rc = cfg_add_env(l->c, &x.e);
	if (!rc)
		rc = cfg_set_str(&x.e->name, name);
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
		if (!rc && !cfg_instance_ok(s))
			return lerr(l, v, "instance '%s': use 1 to %d letters, digits and '-'",
				    s, CFG_INSTANCE_MAX);
		return rc ? rc : cfg_set_str(&c->instance, s);
	}
	if (!strcmp(key, "poll_interval"))
		return duration(l, v, "poll_interval", &c->poll_interval_ns);
	if (!strcmp(key, "batch_window"))
		return duration(l, v, "batch_window", &c->batch_window_ns);
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
		return rc ? rc : cfg_set_path(&c->log_file, l->dir, s);
	}
	if (!strcmp(key, "http_listen")) {
		rc = scalar(l, v, "http_listen", &s);
		return rc ? rc : cfg_set_str(&c->http_listen, s);
	}
	if (!strcmp(key, "log_level")) {
		rc = scalar(l, v, "log_level", &s);
		if (!rc && log_level_parse(s, &c->log_level))
			return lerr(l, v, "log_level '%s': use error, warning, info or debug", s);
		return rc;
	}
	if (!strcmp(key, "log_format")) {
		rc = scalar(l, v, "log_format", &s);
		if (!rc && log_format_parse(s, &c->log_format))
			return lerr(l, v, "log_format '%s': use text or json", s);
		return rc;
	}
	if (!strcmp(key, "envs")) {
		rc = mapping(l, v, "envs");
		if (!rc && v->data.mapping.pairs.start == v->data.mapping.pairs.top)
			return lerr(l, v, "envs is empty");
		return rc ? rc : each_pair(l, v, "envs", env_entry, NULL);
	}
	return lerr(l, k, "unknown key '%s' (known: instance, poll_interval, batch_window, max_future, "
		    "keep_interval, tombstone_retention, max_object_size, max_object_expanded, "
		    "log_file, log_level, log_format, http_listen, envs)", key);
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
		struct buf b = { 0 };
		int rc;

		if (n->type != YAML_SCALAR_NODE ||
		    !memchr(n->data.scalar.value, '$', n->data.scalar.length))
			continue;
		rc = cfg_text_expand(l->file, n->start_mark.line + 1,
				 (const char *)n->data.scalar.value, n->data.scalar.length,
				 &b, l->err, l->errlen);
		if (rc) {
			buf_free(&b);
			return rc;
		}
		/* libyaml allocates with malloc and frees with free. */
		free(n->data.scalar.value);
		n->data.scalar.value = (yaml_char_t *)b.p;
		n->data.scalar.length = b.len;
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

int cfg_yaml_load(struct cfg *c, const char *file, const char *dir, const char *text, size_t n,
		  char *err, size_t errlen)
{
	struct loader l = { .file = file, .dir = dir, .c = c, .err = err, .errlen = errlen };

	return load_text(&l, text, n);
}
