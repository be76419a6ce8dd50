/* quarantine.c: see quarantine.h. */
#define _GNU_SOURCE /* tdestroy */
#include "quarantine.h"

#include <errno.h>
#include <search.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jdir.h"
#include "err.h"
#include "log.h"
#include "out.h"
#include "store.h"

static int open_file(struct senv *s, int flags, int *fd)
{
	int dfd, rc = jdir_open(s->companion, &s->trust, 0, &dfd);

	if (rc)
		return rc;
	rc = jdir_openat(dfd, QUARANTINE_FILE, flags, &s->trust, fd);
	close(dfd);
	return rc;
}

int quarantine_load(struct senv *s)
{
	char line[STORE_NAME_MAX + 2];
	size_t n = 0;
	FILE *f;
	int fd, rc = open_file(s, O_RDONLY, &fd);

	if (rc)
		return rc == ENOENT ? 0 : rc;
	f = fdopen(fd, "r");
	if (!f) {
		rc = errno;
		close(fd);
		return rc;
	}
	while (n < QUARANTINE_MAX && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (store_valid_name(line) && !senv_is_bad(s, line)) {
			senv_mark_bad(s, line);
			n++;
		}
	}
	fclose(f);
	return 0;
}

void quarantine_add(struct senv *s, const char *name, const char *why)
{
	char shown[512]; /* why may quote the object's bytes: never raw in a log line */
	int fd, rc;

	log_msg(MDBTAP_LOG_ERROR, "%s: object %s is not applied and is quarantined (never fetched again): %s",
		s->path, name, out_escape(shown, sizeof(shown), why, strlen(why)));
	s->stats.objects_bad++;
	if (senv_is_bad(s, name))
		return;
	senv_mark_bad(s, name);
	if (s->nbad > QUARANTINE_MAX || !store_valid_name(name))
		return;
	rc = open_file(s, O_WRONLY | O_APPEND | O_CREAT, &fd);
	if (!rc) {
		char line[STORE_NAME_MAX + 2];
		int n = snprintf(line, sizeof(line), "%s\n", name);

		if (write(fd, line, (size_t)n) != n)
			rc = errno ? errno : EIO;
		close(fd);
	}
	if (rc)
		log_msg(MDBTAP_LOG_WARN, "%s: %s/%s: %s: the quarantine of %s lasts until the "
			"syncer restarts", s->path, s->companion, QUARANTINE_FILE, err_str(rc), name);
}

int quarantine_is_object_fault(int rc)
{
	switch (rc) {
	case 0:
	case EROFS:
	case ENOSPC:
	case EDQUOT:
	case ENOMEM:
	case EIO:
	case EAGAIN:
	case EINTR:
	case EMFILE:
	case ENFILE:
	case MDB_MAP_FULL:
	case MDB_READERS_FULL:
	case MDB_PANIC:
	case MDB_MAP_RESIZED:
		return 0;
	default:
		return 1;
	}
}

struct wait {
	char *name;
	uint64_t until;
	uint64_t last;     /* the last wait's length */
};

static int wait_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wait *)a)->name, ((const struct wait *)b)->name);
}

void quarantine_wait(struct senv *s, const char *name, uint64_t now_ns, uint64_t until_ns)
{
	struct wait k = { (char *)name, 0, 0 }, *w, **at = tfind(&k, &s->waits, wait_cmp);

	if (at) {
		w = *at;
	} else {
		if (s->nwaits >= QUARANTINE_MAX || !(w = calloc(1, sizeof(*w))))
			return; /* fetched again next cycle: no harm */
		if (!(w->name = strdup(name)) || !(at = tsearch(w, &s->waits, wait_cmp))) {
			free(w->name);
			free(w);
			return;
		}
		s->nwaits++;
	}
	if (!until_ns) {
		w->last = w->last ? 2 * w->last : QUARANTINE_WAIT_MIN;
		if (w->last > QUARANTINE_WAIT_MAX)
			w->last = QUARANTINE_WAIT_MAX;
		until_ns = now_ns + w->last;
	}
	w->until = until_ns;
}

int quarantine_waits(const struct senv *s, const char *name, uint64_t now_ns)
{
	struct wait k = { (char *)name, 0, 0 }, **at = tfind(&k, &s->waits, wait_cmp);

	return at && (*at)->until > now_ns;
}

static void wait_free(void *p)
{
	struct wait *w = p;

	free(w->name);
	free(w);
}

void quarantine_waits_free(struct senv *s)
{
	tdestroy(s->waits, wait_free);
	s->waits = NULL;
	s->nwaits = 0;
}
