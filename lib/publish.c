/*
 * publish.c — replace a set of files so that each path holds its old or its
 * complete new content, never a mixture (acme-client, Redis rdb.c).
 *
 * Owns: the temporaries ".<name>.certd-XXXXXX" it creates next to each
 * target, from mkostemp until they are renamed over the target or unlinked.
 *
 * Invariants:
 *  - A target path only changes by rename(2) of a temporary that is complete,
 *    fsync'd and closed, and that had its final owner and mode before its
 *    first byte was written: a reader never sees a prefix of the new content
 *    nor the new content under a wider mode.
 *  - Nothing is renamed until every temporary of the set is complete, so a
 *    failure while staging leaves every target as it was.
 *  - No temporary survives a return from publish_set, on any path; only a
 *    crash can leave one behind (see publish.h).
 *  - Each distinct directory that received a rename is fsync'd once, after
 *    all renames, so a return of 0 means the new names are durable.
 *  - Symlinks are never followed: the comparison opens with O_NOFOLLOW and
 *    rename(2) replaces a link itself, never the file it points to.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "publish.h"
#include "publish_int.h"
#include "xalloc.h"

/* Bytes of the target's name kept in its temporary's name, so that
 * ".<name>.certd-XXXXXX" fits NAME_MAX (255) whatever the target's name. */
#define TMP_NAME_KEEP 200

/* Read size when comparing an existing file with the new content. */
#define CMP_CHUNK 16384

struct staged {
	char *dir;     /* the target's directory; "/" at the top */
	char *tmp;     /* complete temporary not yet renamed, or NULL */
	bool renamed;  /* tmp has replaced the target */
};

static int
check_file(const struct publish_file *f, struct err *e)
{
	const char *p = f->path, *base;

	if (p == NULL || *p == '\0')
		return err_set(e, EINVAL, "empty path");
	if (p[0] != '/')
		return err_set(e, EINVAL, "%s: not an absolute path", p);
	if (p[strlen(p) - 1] == '/')
		return err_set(e, EINVAL, "%s: path ends in '/'", p);
	base = strrchr(p, '/') + 1;
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return err_set(e, EINVAL, "%s: path does not name a file", p);
	if (f->data == NULL && f->len > 0)
		return err_set(e, EINVAL, "%s: no data for %zu bytes", p, f->len);
	if ((f->mode & ~(mode_t)07777) != 0)
		return err_set(e, EINVAL, "%s: mode %o is not permission bits",
			       p, (unsigned)f->mode);
	return 0;
}

char *
publish_dir_of(const char *path)
{
	size_t n = (size_t)(strrchr(path, '/') - path);

	while (n > 0 && path[n - 1] == '/')
		n--;
	return n == 0 ? xstrdup("/") : xstrndup(path, n);
}

/* A symlink is allowed: rename(2) replaces the link itself, which is what a
 * config naming that path means. */
int
publish_check_target(const char *path, struct err *e)
{
	struct stat st;
	int errnum;

	if (lstat(path, &st) == -1) {
		errnum = errno;
		/* Absent, or its directory is: creating the temporary reports
		 * a missing directory, naming the step that needs it. */
		if (errnum == ENOENT || errnum == ENOTDIR)
			return 0;
		return err_set(e, errnum, "%s: stat: %s", path, strerror(errnum));
	}
	if (S_ISDIR(st.st_mode))
		return err_set(e, EISDIR, "%s: is a directory; refusing to replace it", path);
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return err_set(e, EINVAL, "%s: is not a regular file or symlink; "
			       "refusing to replace it", path);
	return 0;
}

/* Returns 0 or a negative errno. */
static int
write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len < SSIZE_MAX ? len : SSIZE_MAX);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;	/* no progress and no reason: don't spin */
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static intmax_t
id_or_minus_one(uintmax_t id, uintmax_t none)
{
	return id == none ? -1 : (intmax_t)id;
}

int
publish_stage(const struct publish_file *f, const char *dir, char **tmp_out, struct err *e)
{
	const char *base = strrchr(f->path, '/') + 1;
	size_t keep = strlen(base);
	char *tmp = NULL;
	bool created = false;
	struct stat st;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int fd = -1, rc = 0, cfd;

	if (keep > TMP_NAME_KEEP)
		keep = TMP_NAME_KEEP;
	tmp = xasprintf("%s%s.%.*s.certd-XXXXXX", dir, strcmp(dir, "/") == 0 ? "" : "/",
			(int)keep, base);
	/* mkostemp opens O_CREAT|O_EXCL with mode 0600, so the file is never
	 * readable by others, even before fchmod. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1) {
		rc = err_set(e, errno, "%s: create temporary in %s: %s", f->path, dir,
			     strerror(errno));
		goto out;
	}
	created = true;

	/* Owner before mode: chown clears set-id bits, and the mode must be
	 * final before the first byte of (possibly secret) content. */
	if (fstat(fd, &st) == -1) {
		rc = err_set(e, errno, "%s: stat temporary: %s", f->path, strerror(errno));
		goto out;
	}
	if (f->uid != (uid_t)-1 && f->uid != st.st_uid)
		uid = f->uid;
	if (f->gid != (gid_t)-1 && f->gid != st.st_gid)
		gid = f->gid;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) == -1) {
		rc = err_set(e, errno, "%s: set owner %jd:%jd: %s", f->path,
			     id_or_minus_one(f->uid, (uid_t)-1),
			     id_or_minus_one(f->gid, (gid_t)-1), strerror(errno));
		goto out;
	}
	if (fchmod(fd, f->mode) == -1) {
		rc = err_set(e, errno, "%s: set mode %04o: %s", f->path, (unsigned)f->mode,
			     strerror(errno));
		goto out;
	}

	if ((rc = write_all(fd, f->data, f->len)) != 0) {
		rc = err_set(e, -rc, "%s: write: %s", f->path, strerror(-rc));
		goto out;
	}
	if (fsync(fd) == -1) {
		rc = err_set(e, errno, "%s: fsync: %s", f->path, strerror(errno));
		goto out;
	}
	/* close can report a deferred write error (NFS).  The descriptor is
	 * gone whatever it returns; EINTR after a successful fsync loses
	 * nothing. */
	cfd = fd;
	fd = -1;
	if (close(cfd) == -1 && errno != EINTR) {
		rc = err_set(e, errno, "%s: close: %s", f->path, strerror(errno));
		goto out;
	}

out:
	if (fd != -1)
		close(fd);
	if (rc != 0) {
		if (created)
			unlink(tmp);
		free(tmp);
	} else {
		*tmp_out = tmp;
	}
	return rc;
}

/* fsync each distinct directory that received a rename, once.  Returns the
 * first failure; the others are still attempted. */
static int
sync_dirs(const struct staged *s, size_t n, struct err *e)
{
	size_t i, j;
	int fd, rc = 0, errnum;

	for (i = 0; i < n; i++) {
		if (!s[i].renamed)
			continue;
		for (j = 0; j < i; j++)
			if (s[j].renamed && strcmp(s[j].dir, s[i].dir) == 0)
				break;
		if (j < i)
			continue;
		fd = open(s[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1) {
			errnum = errno;
			if (rc == 0)
				rc = err_set(e, errnum, "%s: open directory to fsync it "
					     "(files in it were replaced): %s",
					     s[i].dir, strerror(errnum));
			continue;
		}
		/* EINVAL: this file system cannot fsync a directory (as Redis
		 * treats it); there is nothing more to do for it. */
		if (fsync(fd) == -1 && errno != EINVAL) {
			errnum = errno;
			if (rc == 0)
				rc = err_set(e, errnum, "%s: fsync directory "
					     "(files in it were replaced): %s",
					     s[i].dir, strerror(errnum));
		}
		close(fd);
	}
	return rc;
}

/* Name what a failed rename of files[k] left behind, for the operator. */
static int
rename_failed(const struct publish_file *files, const struct staged *s, size_t k,
	      int errnum, struct err *e)
{
	struct buf b = BUF_INIT;
	bool any = false;
	size_t i;
	int rc;

	buf_printf(&b, "%s: rename into place: %s", files[k].path, strerror(errnum));
	for (i = 0; i < k; i++) {
		if (!s[i].renamed)
			continue;
		buf_puts(&b, any ? ", " : "; already replaced: ");
		buf_puts(&b, files[i].path);
		any = true;
	}
	if (!any)
		buf_puts(&b, "; no file was replaced");
	rc = err_set(e, errnum, "%s", buf_str(&b));
	buf_free(&b);
	return rc;
}

int
publish_check_set(const struct publish_file *files, size_t n, struct err *e)
{
	size_t i, j;
	int rc;

	if (n > 0 && files == NULL)
		return err_set(e, EINVAL, "no files given");
	for (i = 0; i < n; i++) {
		if ((rc = check_file(&files[i], e)) != 0)
			return rc;
		for (j = 0; j < i; j++)
			if (strcmp(files[i].path, files[j].path) == 0)
				return err_set(e, EINVAL, "%s: appears twice in one set",
					       files[i].path);
	}
	return 0;
}

int
publish_set(const struct publish_file *files, size_t n, struct publish_result *res,
	    struct err *e)
{
	struct publish_result r = {0, 0};
	struct staged *s = NULL;
	size_t i;
	int rc = 0;

	/* Reject a bad set before touching the file system. */
	if ((rc = publish_check_set(files, n, e)) != 0)
		return rc;

	s = xcalloc(n, sizeof(*s));
	for (i = 0; i < n; i++) {
		s[i].dir = publish_dir_of(files[i].path);
		if (publish_is_current(&files[i])) {
			r.unchanged++;
			continue;
		}
		if ((rc = publish_check_target(files[i].path, e)) != 0)
			goto out;
		if ((rc = publish_stage(&files[i], s[i].dir, &s[i].tmp, e)) != 0)
			goto out;
	}

	/* Every temporary is complete: only now replace targets, in order.  A
	 * failure part-way leaves the earlier targets replaced; the intent
	 * record of publish_set_durable (publish_gen.c) is what lets a later
	 * run finish or undo it. */
	for (i = 0; i < n; i++) {
		if (s[i].tmp == NULL)
			continue;
		if (rename(s[i].tmp, files[i].path) == -1) {
			rc = rename_failed(files, s, i, errno, e);
			break;
		}
		free(s[i].tmp);
		s[i].tmp = NULL;
		s[i].renamed = true;
		r.written++;
	}
	/* Make whatever was renamed durable, even after a failed rename; that
	 * first error is the one reported. */
	if (rc == 0)
		rc = sync_dirs(s, n, e);
	else
		sync_dirs(s, n, NULL);

out:
	for (i = 0; i < n; i++) {
		if (s[i].tmp != NULL)
			unlink(s[i].tmp);
		free(s[i].tmp);
		free(s[i].dir);
	}
	free(s);
	if (rc == 0 && res != NULL)
		*res = r;
	return rc;
}

bool
publish_is_current(const struct publish_file *f)
{
	unsigned char chunk[CMP_CHUNK];
	const unsigned char *want = f->data;
	struct stat st;
	size_t off = 0, ask;
	ssize_t got;
	bool same = false;
	int fd = -1;

	if (f->path == NULL || f->path[0] != '/' || (f->data == NULL && f->len > 0))
		return false;
	/* O_NOFOLLOW: a symlink is never current, so publishing replaces it
	 * with a regular file.  O_NONBLOCK: don't hang opening a FIFO. */
	fd = open(f->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		goto out;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto out;
	if (f->uid != (uid_t)-1 && st.st_uid != f->uid)
		goto out;
	if (f->gid != (gid_t)-1 && st.st_gid != f->gid)
		goto out;
	if ((st.st_mode & 07777) != (f->mode & 07777))
		goto out;
	if (st.st_size < 0 || (uintmax_t)st.st_size != f->len)
		goto out;

	/* The size can change under us: read at most len+1 bytes, enough to
	 * tell a longer file from an equal one without reading all of it. */
	for (;;) {
		ask = f->len - off < sizeof(chunk) ? f->len - off + 1 : sizeof(chunk);
		got = read(fd, chunk, ask);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (got == 0)
			break;
		if ((size_t)got > f->len - off || memcmp(chunk, want + off, (size_t)got) != 0)
			goto out;
		off += (size_t)got;
	}
	same = off == f->len;

out:
	/* The old content may be a private key. */
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (fd != -1)
		close(fd);
	return same;
}
