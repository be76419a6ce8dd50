/* cfg_impl.h: what the files of syncer/config share; not for other
 * folders (they use config.h). Functions return 0 or a positive errno
 * value; EINVAL comes with a message in err (NULL when errlen is 0). */
#ifndef MDBTAP_CFG_IMPL_H
#define MDBTAP_CFG_IMPL_H

#include <stddef.h>

#include "buf.h"
#include "config.h"

/* ---- config.c: the struct's strings and names ---- */

/* A new env at the end of c->envs, with its defaults, in *out. */
int cfg_add_env(struct cfg *c, struct cfg_env **out);

/* Append a copy of s to the list (*v, *n). */
int cfg_list_add(char ***v, size_t *n, const char *s);

/* Replace *dst by a copy of s. */
int cfg_set_str(char **dst, const char *s);

/* p made absolute against base (a directory; NULL: p as is), into a new
 * string; lexical only: the path need not exist yet. */
int cfg_abs_path(const char *base, const char *p, char **out);

/* Replace *dst by p made absolute against base. */
int cfg_set_path(char **dst, const char *base, const char *p);

/* Replace *dst by a store URL; a relative directory is a path like the
 * others, anything with a ':' is a URL for store_open to judge. */
int cfg_set_store(char **dst, const char *base, const char *url);

/* Whether s is a valid env name ([a-z0-9]{1,CFG_ENV_NAME_MAX}). */
int cfg_env_name_ok(const char *s);

/* Whether s is a valid instance name ([A-Za-z0-9-]{1,CFG_INSTANCE_MAX}). */
int cfg_instance_ok(const char *s);

/* ---- cfg_text.c: the file's text ---- */

/* EINVAL ("FILE:LINE: ...") if the n bytes of t are not UTF-8 or hold a
 * control character other than tab, CR, LF. */
int cfg_text_check(const char *file, const char *t, size_t n, char *err, size_t errlen);

/* Append t (n bytes, from line `line` of file) to out with $VAR and
 * ${VAR} replaced by the environment's values, "$$" by '$' (config.h);
 * EINVAL for a variable that is not set or a bad ${...}. */
int cfg_text_expand(const char *file, size_t line, const char *t, size_t n, struct buf *out,
		    char *err, size_t errlen);

/* ---- cfg_yaml.c: the document ---- */

/* Load the YAML text (n bytes of file, whose directory dir is the base
 * of relative paths) into c: exactly one document, a mapping, read
 * strictly (config.h). */
int cfg_yaml_load(struct cfg *c, const char *file, const char *dir, const char *text, size_t n,
		  char *err, size_t errlen);

#endif
