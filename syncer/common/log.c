/* log.c: see log.h. */
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static FILE *log_file;
static char *log_path;
static enum log_level log_level = MDBTAP_LOG_DEFAULT_LEVEL;
static enum log_format log_format = MDBTAP_LOG_TEXT;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static FILE *open_file(const char *path)
{
	FILE *f = fopen(path, "ae");

	if (f)
		setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

int log_open(const char *path, enum log_level level, enum log_format format)
{
	log_close();
	log_level = level;
	log_format = format;
	if (!path)
		return 0;
	log_path = strdup(path);
	if (!log_path)
		return ENOMEM;
	log_file = open_file(path);
	if (!log_file) {
		int rc = errno;

		free(log_path);
		log_path = NULL;
		return rc;
	}
	return 0;
}

int log_reopen(void)
{
	FILE *f;

	if (!log_path)
		return 0;
	f = open_file(log_path);
	if (!f)
		return errno;
	if (log_file)
		fclose(log_file);
	log_file = f;
	return 0;
}

void log_close(void)
{
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	free(log_path);
	log_path = NULL;
}

int log_enabled(enum log_level level)
{
	return level <= log_level;
}

int log_level_parse(const char *s, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(s, level_names[i])) {
			*level = (enum log_level)i;
			return 0;
		}
	if (!strcmp(s, "warn")) {
		*level = MDBTAP_LOG_WARN;
		return 0;
	}
	return EINVAL;
}

int log_format_parse(const char *s, enum log_format *format)
{
	if (!strcmp(s, "text"))
		*format = MDBTAP_LOG_TEXT;
	else if (!strcmp(s, "json"))
		*format = MDBTAP_LOG_JSON;
	else
		return EINVAL;
	return 0;
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

void log_mask_secrets(char *s)
{
	static const char *const keys[] = {
		"secret_key", "session_token", "access_key", "X-Amz-Signature",
		"X-Amz-Security-Token", "X-Amz-Credential", "Signature", "Authorization",
	};

	for (char *p = s; *p; p++) {
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			size_t n = strlen(keys[k]);
			char *v, *end;

			if (strncasecmp(p, keys[k], n) || (p[n] != '=' && p[n] != ':'))
				continue;
			v = p + n + 1;
			while (*v == ' ')
				v++;
			/* An Authorization header's value has spaces and commas. */
			end = v;
			if (k == sizeof(keys) / sizeof(keys[0]) - 1)
				end += strcspn(v, "\r\n\"");
			else
				end += strcspn(v, " &,;\"'\r\n)");
			if (end - v < 3) {      /* never longer than what it hides */
				memset(v, '*', (size_t)(end - v));
			} else {
				memmove(v + 3, end, strlen(end) + 1);
				memcpy(v, "***", 3);
				end = v + 3;
			}
			p = end - 1;   /* the for loop steps past it */
			break;
		}
	}
}

static void write_json(FILE *f, const char *when, enum log_level level, const char *msg)
{
	json_object *o = json_object_new_object();

	if (o && !json_object_object_add(o, "time", json_object_new_string(when)) &&
	    !json_object_object_add(o, "level", json_object_new_string(level_names[level])) &&
	    !json_object_object_add(o, "msg", json_object_new_string(msg)))
		fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE));
	else    /* out of memory: the message still goes out, as text */
		fprintf(f, "%s %s: %s\n", when, level_names[level], msg);
	json_object_put(o);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	FILE *f = log_file ? log_file : stderr;
	struct timespec ts;
	struct tm tm;
	char when[64], day[32], msg[4096];
	va_list ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when, sizeof(when), "%s.%03ldZ", day, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_mask_secrets(msg);
	if (log_format == MDBTAP_LOG_JSON)
		write_json(f, when, level, msg);
	else
		fprintf(f, "%s %s: %s\n", when, level_names[level], msg);
}
