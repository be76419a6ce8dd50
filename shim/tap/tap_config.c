/* tap_config.c: MDBTAP_* variables and the optional log file.
 *
 * A setuid or otherwise secure-execution process (AT_SECURE) takes
 * nothing from its environment, which its less privileged caller set:
 * secure_getenv() returns NULL there, so the defaults apply and nothing
 * is logged. */
#define _GNU_SOURCE /* secure_getenv */
#include "tap_config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mdbtap.h"

#define TAP_LOG_MAX_LINES 500

static struct tap_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static unsigned log_lines;

int tap_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (!s || !*s)
		return EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s)
		return EINVAL;
	switch (*end) {
	case 'k': case 'K': n <<= 10; end++; break;
	case 'm': case 'M': n <<= 20; end++; break;
	case 'g': case 'G': n <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return EINVAL;
	*out = n;
	return 0;
}

static void load_config(void)
{
	const char *s;
	uint64_t n;

	s = secure_getenv("MDBTAP_DISABLE");
	config.disabled = s && *s && strcmp(s, "0") != 0;
	config.journal_size = MDBTAP_JOURNAL_DEFAULT_CAPACITY;
	if (tap_parse_size(secure_getenv("MDBTAP_JOURNAL_SIZE"), &n) == 0)
		config.journal_size = n;
	config.txn_limit = TAP_DEFAULT_TXN_LIMIT;
	if (tap_parse_size(secure_getenv("MDBTAP_TXN_LIMIT"), &n) == 0 && n >= 4096)
		config.txn_limit = (size_t)n;
}

const struct tap_config *tap_config(void)
{
	int saved = errno;

	pthread_once(&config_once, load_config);
	errno = saved;
	return &config;
}

/* Open the log file at path, following no symlink in any component: a
 * directory on the way that another user can write could otherwise be
 * replaced by a link to one only the (root) host may write. Each
 * directory is opened relative to the one before, O_NOFOLLOW. -1 when
 * refused or failed. */
static int open_log(const char *path)
{
	char buf[4096], *comp, *slash;
	int dfd, fd;

	if (strlen(path) >= sizeof(buf))
		return -1;
	memcpy(buf, path, strlen(path) + 1);
	comp = buf;
	if (*comp == '/') {
		dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -1;
	} else {
		dfd = AT_FDCWD;
	}
	while ((slash = strchr(comp, '/'))) {
		int next;

		*slash = 0;
		if (*comp) {
			struct stat st;

			next = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next >= 0 && (fstat(next, &st) != 0 || !S_ISDIR(st.st_mode))) {
				close(next);
				next = -1;
			}
			if (dfd != AT_FDCWD)
				close(dfd);
			if (next < 0)
				return -1;
			dfd = next;
		}
		comp = slash + 1;
	}
	fd = -1;
	if (*comp)
		fd = openat(dfd, comp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
			    O_NOCTTY | O_NONBLOCK, 0644);
	if (dfd != AT_FDCWD)
		close(dfd);
	return fd;
}

void tap_log(const char *fmt, ...)
{
	const char *path = secure_getenv("MDBTAP_LOG");
	char line[1024];
	va_list ap;
	int saved = errno, fd, n;

	if (!path || !*path ||
	    __atomic_fetch_add(&log_lines, 1, __ATOMIC_RELAXED) >= TAP_LOG_MAX_LINES)
		goto out;
	n = snprintf(line, sizeof(line), "mdbtap[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Never through a symlink (in any component), never a FIFO or
	 * device (a FIFO would block the open, or the write, for ever): the
	 * host may be root in a directory others can write. O_NONBLOCK only
	 * for the open. */
	fd = open_log(path);
	if (fd >= 0) {
		struct stat st;

		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    fcntl(fd, F_SETFL, O_APPEND) == 0) {
			ssize_t w = write(fd, line, (size_t)n);

			(void)w;
		}
		close(fd);
	}
out:
	errno = saved;
}
