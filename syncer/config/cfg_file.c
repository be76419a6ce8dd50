/* cfg_file.c: cfg_load_file: read a config file whole, check its text,
 * and hand it to the YAML loader with its directory. */
#include "config.h"
#include "cfg_impl.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX (1024 * 1024)   /* a config file is small; refuse anything huge */

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
	rc = cfg_abs_path(cwd, path, &abs);
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
	char *text = NULL, *dir = NULL;
	size_t n = 0;
	int rc;

	err_setf(err, errlen, "ok");
	rc = read_file(path, &text, &n, err, errlen);
	if (rc)
		return rc;
	rc = cfg_text_check(path, text, n, err, errlen);
	if (!rc)
		rc = file_dir(path, &dir);
	if (!rc)
		rc = cfg_yaml_load(c, path, dir, text, n, err, errlen);
	if (rc == ENOMEM)
		err_setf(err, errlen, "%s: out of memory", path);
	free(text);
	free(dir);
	return rc;
}
