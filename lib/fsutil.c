/*
 * fsutil.c — whole-file reads with a size cap, mkdir -p.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "xalloc.h"

int
fsutil_read_file(const char *path, size_t cap, struct buf *out, struct err *e)
{
	char chunk[8192];
	size_t start = out->len;
	ssize_t r;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(e, errno, "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if (out->len - start + (size_t)r > cap) {
			rc = err_set(e, EFBIG, "%s: larger than %zu bytes", path, cap);
			break;
		}
		buf_append(out, chunk, (size_t)r);
	}
	close(fd);
	return rc;
}

int
fsutil_mkdir_p(const char *path, mode_t mode, struct err *e)
{
	char *tmp = xstrdup(path), *p;
	int rc = 0;

	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
			rc = err_set(e, errno, "create directory %s: %s", tmp, strerror(errno));
			goto out;
		}
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		rc = err_set(e, errno, "create directory %s: %s", tmp, strerror(errno));
out:
	free(tmp);
	return rc;
}

int
fsutil_mkdir_parent(const char *path, struct err *e)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int rc;

	if (slash == NULL || slash == path)
		return 0;
	dir = xstrndup(path, (size_t)(slash - path));
	rc = fsutil_mkdir_p(dir, 0755, e);
	free(dir);
	return rc;
}
