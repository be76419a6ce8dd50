/* ownorder.c: see ownorder.h. */
#include "ownorder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "jdir.h"
#include "log.h"

#define LINE_MAX_BYTES (2 * 511 + 2) /* a 511-byte name in hex, "\n", NUL */

int ownorder_has(const struct senv *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->nown_order; i++)
		if (s->own_order[i].len == len && (!len || !memcmp(s->own_order[i].name, name, len)))
			return 1;
	return 0;
}

static int remember(struct senv *s, const char *name, size_t len)
{
	struct senv_name *nv = realloc(s->own_order, (s->nown_order + 1) * sizeof(*nv));
	char *copy = malloc(len ? len : 1);

	if (nv)
		s->own_order = nv;
	if (!nv || !copy) {
		free(copy);
		return ENOMEM;
	}
	if (len)
		memcpy(copy, name, len);
	nv[s->nown_order].name = copy;
	nv[s->nown_order].len = len;
	s->nown_order++;
	s->stats.dbis_own_order = s->nown_order;
	return 0;
}

/* A line of the file: hex, or "-". Returns the name's length, or -1. */
static long decode(const char *line, char *out, size_t cap)
{
	size_t n = strlen(line), i;

	if (!strcmp(line, "-"))
		return 0;
	if (!n || n % 2 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(line + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (char)v;
	}
	return (long)i;
}

static int open_file(const char *companion, const struct jdir_trust *t, int flags, int *fd)
{
	int dfd, rc = jdir_open(companion, t, 0, &dfd);

	if (rc)
		return rc;
	rc = jdir_openat(dfd, OWNORDER_FILE, flags, t, fd);
	close(dfd);
	return rc;
}

static int read_file(int fd, void (*fn)(void *ctx, const char *name, size_t len), void *ctx)
{
	char line[LINE_MAX_BYTES], name[511];
	FILE *f = fdopen(fd, "r");

	if (!f) {
		int rc = errno;

		close(fd);
		return rc;
	}
	while (fgets(line, sizeof(line), f)) {
		long len;

		line[strcspn(line, "\n")] = 0;
		if ((len = decode(line, name, sizeof(name))) >= 0)
			fn(ctx, name, (size_t)len);
	}
	fclose(f);
	return 0;
}

static void load_one(void *ctx, const char *name, size_t len)
{
	struct senv *s = ctx;

	if (s->nown_order < OWNORDER_MAX && !ownorder_has(s, name, len))
		(void)remember(s, name, len); /* no memory: found again in the journal */
}

int ownorder_load(struct senv *s)
{
	int fd, rc = open_file(s->companion, &s->trust, O_RDONLY, &fd);

	if (rc)
		return rc == ENOENT ? 0 : rc;
	return read_file(fd, load_one, s);
}

int ownorder_each(const char *companion, void (*fn)(void *ctx, const char *name, size_t len),
		  void *ctx)
{
	char path[4300];
	int fd;

	/* A reader (doctor): the file as it is, no ownership checks needed
	 * to print names. */
	snprintf(path, sizeof(path), "%s/%s", companion, OWNORDER_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	return read_file(fd, fn, ctx);
}

void ownorder_add(struct senv *s, const char *name, size_t len)
{
	char line[LINE_MAX_BYTES];
	size_t n = 0;
	int fd, rc;

	if (ownorder_has(s, name, len))
		return;
	log_msg(MDBTAP_LOG_WARN, "%s: DBI '%.*s' has the host's own order (mdb_set_compare or "
		"mdb_set_dupsort): it is not synced from now on (neither exported nor merged)",
		s->path, len ? (int)len : 9, len ? name : "(unnamed)");
	if (remember(s, name, len) || s->nown_order > OWNORDER_MAX || len > 511)
		return;
	if (!len)
		line[n++] = '-';
	for (size_t i = 0; i < len; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%02x", (unsigned char)name[i]);
	line[n++] = '\n';
	rc = open_file(s->companion, &s->trust, O_WRONLY | O_APPEND | O_CREAT, &fd);
	if (!rc) {
		if (write(fd, line, n) != (ssize_t)n)
			rc = errno ? errno : EIO;
		close(fd);
	}
	if (rc)
		log_msg(MDBTAP_LOG_WARN, "%s: %s/%s: %s: it is said again after a restart",
			s->path, s->companion, OWNORDER_FILE, err_str(rc));
}

void ownorder_free(struct senv *s)
{
	for (size_t i = 0; i < s->nown_order; i++)
		free(s->own_order[i].name);
	free(s->own_order);
	s->own_order = NULL;
	s->nown_order = 0;
}
