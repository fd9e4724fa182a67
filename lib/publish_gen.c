/*
 * publish_gen.c — generations and crash-safe publication of a file set:
 * the previous generation kept for rollback, and an intent record around
 * the renames so that a crash between them is finished or undone at the
 * next start (layout and steps in publish.h).
 *
 * Owns: <state_dir>/generations/<name>/ (0700), its intent.json, prev/
 * (0700) with manifest.json and the copies 0, 1, ... (0600; they may hold
 * private keys), and the temporaries of the sets it publishes.
 *
 * Invariants:
 *  - prev/ is valid only while prev/manifest.json exists: the manifest is
 *    removed before the copies are replaced and written (atomically, after
 *    them) last.  Every copy's SHA-256 is in the manifest and checked
 *    before it is restored.
 *  - intent.json is written (atomically, fsync'd with its directory) only
 *    after prev/ is committed and every temporary is complete, and removed
 *    only after every rename is durable.  So when it exists, each target
 *    holds either its old content (= prev/) or its new one (hash in the
 *    intent), and each new content not yet in place is in its temporary
 *    unless something destroyed it.
 *  - Recovery decides "complete" only when every entry is in place or
 *    staged intact, else "roll back".  Rolling back first unlinks the
 *    intent's temporaries, so a crash during a rollback can never turn
 *    into a completion at the next start: the decision is stable, and
 *    both paths are idempotent.  A rollback is itself published under an
 *    intent (it replaces the old one atomically), whose fallback is again
 *    prev/: the same goal.
 *  - Files already equal to what they should become are never rewritten.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "publish.h"
#include "publish_int.h"
#include "xalloc.h"

/* Largest file kept in prev/ (and so published durably), and largest
 * intent or manifest read back. */
#define GEN_FILE_MAX (64UL * 1024 * 1024)
#define GEN_JSON_MAX (4UL * 1024 * 1024)
#define GEN_VERSION 1
#define CHUNK 16384

int publish_test_crash_after = -1;

struct gen_paths {
	char *top;       /* <state_dir>/generations */
	char *dir;       /* <top>/<name> */
	char *prev;      /* <dir>/prev */
	char *manifest;  /* <prev>/manifest.json */
	char *intent;    /* <dir>/intent.json */
};

/* One target of an intent: put f's content in place, or remove it. */
struct entry {
	struct publish_file f;  /* f.path and f.data are owned by whoever
				 * built the entry (see entries_free) */
	bool remove;
	char *dir;
	char *tmp;              /* staged, not yet renamed */
	char sha[65];           /* of f's content */
	bool todo;              /* differs from what is on disk */
};

/* A file as the manifest records it. */
struct prev_file {
	char *path;
	bool existed;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	char sha[65];
};

static void
gen_paths_free(struct gen_paths *gp)
{
	free(gp->top);
	free(gp->dir);
	free(gp->prev);
	free(gp->manifest);
	free(gp->intent);
}

static int
gen_paths_init(const char *state_dir, const char *name, struct gen_paths *gp, struct err *e)
{
	const char *p;

	memset(gp, 0, sizeof(*gp));
	if (state_dir == NULL || state_dir[0] != '/')
		return err_set(e, EINVAL, "state directory \"%s\" is not an absolute path",
			       state_dir != NULL ? state_dir : "");
	if (name == NULL || *name == '\0')
		return err_set(e, EINVAL, "empty certificate name");
	/* The name becomes a directory: never '/', "." or "..". */
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return err_set(e, EINVAL, "certificate name \"%.64s\": only letters, "
				       "digits, '_' and '-' are allowed", name);
	gp->top = xasprintf("%s/generations", state_dir);
	gp->dir = xasprintf("%s/%s", gp->top, name);
	gp->prev = xasprintf("%s/prev", gp->dir);
	gp->manifest = xasprintf("%s/manifest.json", gp->prev);
	gp->intent = xasprintf("%s/intent.json", gp->dir);
	return 0;
}

/* fsync a directory; EINVAL (cannot fsync directories here) is success. */
static int
sync_dir(const char *dir, struct err *e)
{
	int fd, rc = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return err_set(e, errno, "%s: open directory to fsync it: %s", dir,
			       strerror(errno));
	if (fsync(fd) == -1 && errno != EINVAL)
		rc = err_set(e, errno, "%s: fsync directory: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

/* mkdir path 0700 (its parent must exist), make sure it is a directory of
 * ours and not a symlink, narrow its mode to 0700 if it was wider. */
static int
ensure_dir(const char *path, struct err *e)
{
	struct stat st;
	char *parent;
	int rc;

	if (mkdir(path, 0700) == 0) {
		parent = publish_dir_of(path);
		rc = sync_dir(parent, e);
		free(parent);
		if (rc != 0)
			return rc;
	} else if (errno != EEXIST) {
		return err_set(e, errno, "create directory %s: %s", path, strerror(errno));
	}
	if (lstat(path, &st) == -1)
		return err_set(e, errno, "%s: stat: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ENOTDIR, "%s: not a directory", path);
	if (st.st_uid != geteuid())
		return err_set(e, EPERM, "%s: owned by uid %ju, not by us", path,
			       (uintmax_t)st.st_uid);
	if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) == -1)
		return err_set(e, errno, "%s: set mode 0700: %s", path, strerror(errno));
	return 0;
}

static int
ensure_dirs(const struct gen_paths *gp, struct err *e)
{
	int rc;

	if ((rc = ensure_dir(gp->top, e)) != 0 || (rc = ensure_dir(gp->dir, e)) != 0)
		return rc;
	return ensure_dir(gp->prev, e);
}

static void
hex_of(const unsigned char *md, unsigned len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned i;

	for (i = 0; i < len && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * i] = '\0';
}

static void
sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		abort();	/* no SHA-256 in libcrypto: nothing works */
	hex_of(md, mdlen, out);
}

/* Read all of fd into out, at most cap bytes: -EFBIG beyond. */
static int
read_fd(int fd, size_t cap, struct buf *out)
{
	char chunk[CHUNK];
	ssize_t r;
	int rc = 0;

	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		if (out->len + (size_t)r > cap) {
			rc = -EFBIG;
			break;
		}
		buf_append(out, chunk, (size_t)r);
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}

/* SHA-256 of the regular file at path (never through a symlink).  Any
 * failure, or anything but a regular file, is -errno / -EINVAL. */
static int
hash_file(const char *path, char out[65])
{
	struct buf b = BUF_INIT;
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if ((rc = read_fd(fd, GEN_FILE_MAX, &b)) == 0)
		sha256_hex(b.data != NULL ? b.data : "", b.len, out);
	close(fd);
	buf_free_secret(&b);
	return rc;
}

/* Write data to path atomically with mode 0600 (temporary, fsync, rename,
 * fsync the directory). */
static int
write_atomic(const char *path, const char *data, size_t len, struct err *e)
{
	struct publish_file f = {path, data, len, (uid_t)-1, (gid_t)-1, 0600};
	char *dir = publish_dir_of(path), *tmp = NULL;
	int rc;

	if ((rc = publish_stage(&f, dir, &tmp, e)) != 0)
		goto out;
	if (rename(tmp, path) == -1) {
		rc = err_set(e, errno, "%s: rename into place: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = sync_dir(dir, e);
out:
	free(tmp);
	free(dir);
	return rc;
}

static int
write_json(const char *path, json_t *doc, struct err *e)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int rc;

	if (text == NULL)
		abort();	/* jansson fails only on allocation */
	rc = write_atomic(path, text, strlen(text), e);
	free(text);
	return rc;
}

/* Parse the JSON file at path; -ENOENT passes through untouched (no
 * message) so callers can tell "none" from "bad". */
static int
read_json(const char *path, json_t **out, struct err *e)
{
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *doc;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return -ENOENT;
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	}
	rc = read_fd(fd, GEN_JSON_MAX, &b);
	close(fd);
	if (rc != 0) {
		rc = err_set(e, -rc, "%s: %s", path, strerror(-rc));
		goto out;
	}
	doc = json_loadb(b.data != NULL ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || !json_is_object(doc) ||
	    json_integer_value(json_object_get(doc, "version")) != GEN_VERSION ||
	    !json_is_array(json_object_get(doc, "files"))) {
		rc = err_set(e, EBADMSG, "%s: %s", path,
			     doc == NULL ? jerr.text : "not a version 1 record with \"files\"");
		json_decref(doc);
		goto out;
	}
	*out = doc;
out:
	buf_free(&b);
	return rc;
}

static bool
is_sha_hex(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

static void
entries_free(struct entry *en, size_t n, bool own)
{
	size_t i;

	for (i = 0; en != NULL && i < n; i++) {
		if (en[i].tmp != NULL)
			unlink(en[i].tmp);
		free(en[i].tmp);
		free(en[i].dir);
		if (own) {
			free((char *)en[i].f.path);
			xfree_secret((void *)en[i].f.data, en[i].f.len);
		}
	}
	free(en);
}

static void
prev_free(struct prev_file *pf, size_t n)
{
	size_t i;

	for (i = 0; pf != NULL && i < n; i++)
		free(pf[i].path);
	free(pf);
}

/* ---- the previous generation ---- */

/* Remove the manifest (prev/ is now invalid) and every old copy. */
static int
prev_clear(const struct gen_paths *gp, struct err *e)
{
	struct dirent *de;
	DIR *d;
	char *p;
	int rc;

	if (unlink(gp->manifest) == -1 && errno != ENOENT)
		return err_set(e, errno, "%s: remove: %s", gp->manifest, strerror(errno));
	if ((rc = sync_dir(gp->prev, e)) != 0)
		return rc;
	if ((d = opendir(gp->prev)) == NULL)
		return err_set(e, errno, "%s: %s", gp->prev, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", gp->prev, de->d_name);
		unlink(p);	/* a stray directory stays; it is never read */
		free(p);
	}
	closedir(d);
	return 0;
}

/* Copy the file at path, as it is now, into prev/<index>; fill pf. */
static int
prev_capture_one(const struct gen_paths *gp, size_t index, const char *path,
		 struct prev_file *pf, struct err *e)
{
	struct buf b = BUF_INIT;
	struct stat st;
	char *copy = NULL;
	int fd, rc = 0;

	pf->path = xstrdup(path);
	/* Follows a symlink on purpose: what the consumer reads is what
	 * must come back (see publish.h).  O_NONBLOCK: no hang on a FIFO. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT || errno == ENOTDIR) {
			pf->existed = false;
			return 0;
		}
		return err_set(e, errno, "%s: read for the previous generation: %s", path,
			       strerror(errno));
	}
	if (fstat(fd, &st) == -1) {
		rc = err_set(e, errno, "%s: stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(e, EINVAL, "%s: is not a regular file; refusing to replace it",
			     path);
		goto out;
	}
	if ((rc = read_fd(fd, GEN_FILE_MAX, &b)) != 0) {
		rc = err_set(e, -rc, "%s: read for the previous generation: %s", path,
			     strerror(-rc));
		goto out;
	}
	pf->existed = true;
	pf->mode = st.st_mode & 07777;
	pf->uid = st.st_uid;
	pf->gid = st.st_gid;
	sha256_hex(b.data != NULL ? b.data : "", b.len, pf->sha);
	copy = xasprintf("%s/%zu", gp->prev, index);
	rc = write_atomic(copy, b.data != NULL ? b.data : "", b.len, e);
out:
	close(fd);
	buf_free_secret(&b);
	free(copy);
	return rc;
}

static int
prev_capture(const struct gen_paths *gp, const struct publish_file *files, size_t n,
	     struct err *e)
{
	struct prev_file *pf = xcalloc(n, sizeof(*pf));
	json_t *doc = NULL, *arr, *o;
	char mode[8];
	size_t i;
	int rc;

	if ((rc = prev_clear(gp, e)) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = prev_capture_one(gp, i, files[i].path, &pf[i], e)) != 0)
			goto out;

	doc = json_pack("{s:i, s:[]}", "version", GEN_VERSION, "files");
	arr = json_object_get(doc, "files");
	for (i = 0; i < n; i++) {
		o = json_pack("{s:I, s:s, s:b}", "index", (json_int_t)i, "path", pf[i].path,
			      "existed", pf[i].existed);
		if (pf[i].existed) {
			/* Octal text: this file is read by people too. */
			snprintf(mode, sizeof(mode), "%04o", (unsigned)pf[i].mode);
			json_object_set_new(o, "mode", json_string(mode));
			json_object_set_new(o, "uid", json_integer((json_int_t)pf[i].uid));
			json_object_set_new(o, "gid", json_integer((json_int_t)pf[i].gid));
			json_object_set_new(o, "sha256", json_string(pf[i].sha));
		}
		json_array_append_new(arr, o);
	}
	/* The commit point of the generation. */
	rc = write_json(gp->manifest, doc, e);
out:
	json_decref(doc);
	prev_free(pf, n);
	return rc;
}

static int
prev_parse_one(const char *where, size_t i, json_t *o, struct prev_file *pf, struct err *e)
{
	json_t *path = json_object_get(o, "path"), *existed = json_object_get(o, "existed");
	json_t *mode = json_object_get(o, "mode"), *sha = json_object_get(o, "sha256");
	json_t *uid = json_object_get(o, "uid"), *gid = json_object_get(o, "gid");
	char *end;
	unsigned long m;

	if (json_integer_value(json_object_get(o, "index")) != (json_int_t)i ||
	    !json_is_string(path) || json_string_value(path)[0] != '/' || !json_is_boolean(existed))
		return err_set(e, EBADMSG, "%s: file %zu: bad index, path or existed", where, i);
	pf->path = xstrdup(json_string_value(path));
	pf->existed = json_is_true(existed);
	if (!pf->existed)
		return 0;
	if (!json_is_string(mode) || !json_is_string(sha) || !is_sha_hex(json_string_value(sha)) ||
	    !json_is_integer(uid) || !json_is_integer(gid) || json_integer_value(uid) < 0 ||
	    json_integer_value(gid) < 0 || json_integer_value(uid) >= (json_int_t)UINT32_MAX ||
	    json_integer_value(gid) >= (json_int_t)UINT32_MAX)
		return err_set(e, EBADMSG, "%s: %s: bad mode, uid, gid or sha256", where, pf->path);
	errno = 0;
	m = strtoul(json_string_value(mode), &end, 8);
	if (errno != 0 || *end != '\0' || end == json_string_value(mode) || m > 07777)
		return err_set(e, EBADMSG, "%s: %s: bad mode \"%s\"", where, pf->path,
			       json_string_value(mode));
	pf->mode = (mode_t)m;
	pf->uid = (uid_t)json_integer_value(uid);
	pf->gid = (gid_t)json_integer_value(gid);
	memcpy(pf->sha, json_string_value(sha), 65);
	return 0;
}

/* The manifest's files.  -ENOENT (with a message) when there is none. */
static int
prev_load(const struct gen_paths *gp, struct prev_file **out, size_t *nout, struct err *e)
{
	struct prev_file *pf = NULL;
	json_t *doc = NULL, *arr;
	size_t i, n = 0;
	int rc;

	rc = read_json(gp->manifest, &doc, e);
	if (rc == -ENOENT)
		return err_set(e, ENOENT, "%s: no previous generation", gp->prev);
	if (rc != 0)
		return rc;
	arr = json_object_get(doc, "files");
	n = json_array_size(arr);
	pf = xcalloc(n > 0 ? n : 1, sizeof(*pf));
	for (i = 0; i < n; i++)
		if ((rc = prev_parse_one(gp->manifest, i, json_array_get(arr, i), &pf[i], e)) != 0)
			goto out;
out:
	json_decref(doc);
	if (rc != 0) {
		prev_free(pf, n);
		return rc;
	}
	*out = pf;
	*nout = n;
	return 0;
}

/* Read prev/<i> and check it against the manifest.  *data is the
 * caller's (xfree_secret). */
static int
prev_read_copy(const struct gen_paths *gp, size_t i, const struct prev_file *pf, char **data,
	       size_t *len, struct err *e)
{
	struct buf b = BUF_INIT;
	char *copy = xasprintf("%s/%zu", gp->prev, i), sha[65];
	int fd, rc;

	fd = open(copy, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		rc = err_set(e, errno == ENOENT ? EBADMSG : errno, "%s: previous generation "
			     "of %s: %s", copy, pf->path, strerror(errno));
		goto out;
	}
	rc = read_fd(fd, GEN_FILE_MAX, &b);
	close(fd);
	if (rc != 0) {
		rc = err_set(e, -rc, "%s: %s", copy, strerror(-rc));
		goto out;
	}
	sha256_hex(b.data != NULL ? b.data : "", b.len, sha);
	if (strcmp(sha, pf->sha) != 0) {
		rc = err_set(e, EBADMSG, "%s: previous generation of %s is damaged "
			     "(SHA-256 differs from the manifest)", copy, pf->path);
		goto out;
	}
	*len = b.len;
	*data = buf_steal(&b);
out:
	buf_free_secret(&b);
	free(copy);
	return rc;
}

/* Entries that put prev/ back: content, owner and mode, or removal. */
static int
prev_entries(const struct gen_paths *gp, struct entry **out, size_t *nout, struct err *e)
{
	struct prev_file *pf = NULL;
	struct entry *en;
	char *data = NULL;
	size_t i, n = 0, len = 0;
	int rc;

	if ((rc = prev_load(gp, &pf, &n, e)) != 0)
		return rc;
	en = xcalloc(n > 0 ? n : 1, sizeof(*en));
	for (i = 0; i < n; i++) {
		en[i].f.path = xstrdup(pf[i].path);
		if (!pf[i].existed) {
			en[i].remove = true;
			continue;
		}
		if ((rc = prev_read_copy(gp, i, &pf[i], &data, &len, e)) != 0)
			break;
		en[i].f.data = data;
		en[i].f.len = len;
		en[i].f.uid = pf[i].uid;
		en[i].f.gid = pf[i].gid;
		en[i].f.mode = pf[i].mode;
	}
	prev_free(pf, n);
	if (rc != 0) {
		entries_free(en, n, true);
		return rc;
	}
	*out = en;
	*nout = n;
	return 0;
}

/* ---- one intent: plan, stage, record, apply ---- */

/* Decide what differs from the disk; refuse what publish_set refuses.
 * Returns 0 and the number of entries to do in *todo. */
static int
plan(struct entry *en, size_t n, size_t *todo, struct err *e)
{
	struct stat st;
	size_t i;
	int rc;

	*todo = 0;
	for (i = 0; i < n; i++) {
		en[i].dir = publish_dir_of(en[i].f.path);
		if (en[i].remove) {
			if (lstat(en[i].f.path, &st) == -1) {
				if (errno == ENOENT || errno == ENOTDIR)
					continue;
				return err_set(e, errno, "%s: stat: %s", en[i].f.path,
					       strerror(errno));
			}
			if (S_ISDIR(st.st_mode))
				return err_set(e, EISDIR, "%s: is a directory; refusing to "
					       "remove it", en[i].f.path);
		} else {
			if (publish_is_current(&en[i].f))
				continue;
			if ((rc = publish_check_target(en[i].f.path, e)) != 0)
				return rc;
			sha256_hex(en[i].f.data != NULL ? en[i].f.data : "", en[i].f.len,
				   en[i].sha);
		}
		en[i].todo = true;
		(*todo)++;
	}
	return 0;
}

static int
stage_all(struct entry *en, size_t n, struct err *e)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		if (en[i].todo && !en[i].remove &&
		    (rc = publish_stage(&en[i].f, en[i].dir, &en[i].tmp, e)) != 0)
			return rc;
	return 0;
}

static int
intent_write(const struct gen_paths *gp, const struct entry *en, size_t n, struct err *e)
{
	json_t *doc = json_pack("{s:i, s:[]}", "version", GEN_VERSION, "files");
	json_t *arr = json_object_get(doc, "files");
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (!en[i].todo)
			continue;
		if (en[i].remove)
			json_array_append_new(arr, json_pack("{s:s, s:b}", "path", en[i].f.path,
							     "remove", 1));
		else
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "path",
							     en[i].f.path, "tmp", en[i].tmp,
							     "sha256", en[i].sha));
	}
	rc = write_json(gp->intent, doc, e);
	json_decref(doc);
	return rc;
}

/* Forget the remaining temporaries without unlinking them: what a crash
 * would leave (publish_test_crash_after). */
static void
abandon_temps(struct entry *en, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(en[i].tmp);
		en[i].tmp = NULL;
	}
}

static void
unlink_temps(struct entry *en, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (en[i].tmp != NULL)
			unlink(en[i].tmp);
		free(en[i].tmp);
		en[i].tmp = NULL;
	}
}

/* Rename (or unlink) every entry to do, in order; *written counts the
 * renames.  A failure names the targets already replaced. */
static int
apply(struct entry *en, size_t n, unsigned *written, struct err *e)
{
	struct buf b = BUF_INIT;
	bool any = false;
	size_t i, j;
	int steps = 0, errnum, rc;

	*written = 0;
	for (i = 0; i < n; i++) {
		if (!en[i].todo)
			continue;
		if (publish_test_crash_after >= 0 && steps >= publish_test_crash_after) {
			abandon_temps(en, n);
			return err_set(e, EINTR, "test hook: stopped after %d renames", steps);
		}
		if (en[i].remove) {
			if (unlink(en[i].f.path) == 0 || errno == ENOENT) {
				steps++;
				continue;
			}
		} else if (en[i].tmp == NULL) {
			continue;	/* recovery: already in place */
		} else if (rename(en[i].tmp, en[i].f.path) == 0) {
			free(en[i].tmp);
			en[i].tmp = NULL;
			steps++;
			(*written)++;
			continue;
		}
		errnum = errno;
		buf_printf(&b, "%s: %s: %s", en[i].f.path,
			   en[i].remove ? "remove" : "rename into place", strerror(errnum));
		for (j = 0; j < i; j++) {
			if (!en[j].todo)
				continue;
			buf_printf(&b, "%s%s", any ? ", " : "; already done: ", en[j].f.path);
			any = true;
		}
		rc = err_set(e, errnum, "%s", buf_str(&b));
		buf_free(&b);
		return rc;
	}
	return 0;
}

/* fsync each distinct directory of the entries done, once. */
static int
sync_entry_dirs(const struct entry *en, size_t n, struct err *e)
{
	size_t i, j;
	int rc = 0, r;

	for (i = 0; i < n; i++) {
		if (!en[i].todo)
			continue;
		for (j = 0; j < i; j++)
			if (en[j].todo && strcmp(en[j].dir, en[i].dir) == 0)
				break;
		if (j < i)
			continue;
		if ((r = sync_dir(en[i].dir, rc == 0 ? e : NULL)) != 0 && rc == 0)
			rc = r;
	}
	return rc;
}

static int
intent_remove(const struct gen_paths *gp, struct err *e)
{
	if (unlink(gp->intent) == -1 && errno != ENOENT)
		return err_set(e, errno, "%s: remove: %s", gp->intent, strerror(errno));
	return sync_dir(gp->dir, e);
}

/* Steps 2-5 of publish.h for planned entries.  *mixed (may be NULL) is
 * set when a rename or removal failed part-way: the intent stays, the
 * remaining temporaries are still there for the caller to unlink. */
static int
commit(const struct gen_paths *gp, struct entry *en, size_t n, unsigned *written, bool *mixed,
       struct err *e)
{
	int rc;

	if ((rc = stage_all(en, n, e)) != 0)
		return rc;
	if ((rc = intent_write(gp, en, n, e)) != 0)
		return rc;
	if ((rc = apply(en, n, written, e)) != 0) {
		if (mixed != NULL && rc != -EINTR)
			*mixed = true;
		return rc;
	}
	if ((rc = sync_entry_dirs(en, n, e)) != 0)
		return rc;	/* the intent stays: durability unknown */
	return intent_remove(gp, e);
}

/* Put prev/ back (planned and committed under its own intent). */
static int
restore_prev(const struct gen_paths *gp, struct err *e)
{
	struct entry *en = NULL;
	size_t n = 0, todo;
	unsigned written;
	int rc;

	if ((rc = prev_entries(gp, &en, &n, e)) != 0)
		return rc;
	if ((rc = plan(en, n, &todo, e)) == 0) {
		if (todo > 0)
			rc = commit(gp, en, n, &written, NULL, e);
		else
			rc = intent_remove(gp, e);	/* nothing differs */
	}
	entries_free(en, n, true);
	return rc;
}

static bool
intent_exists(const struct gen_paths *gp)
{
	struct stat st;

	return lstat(gp->intent, &st) == 0;
}

/* ---- the API ---- */

int
publish_set_durable(const char *state_dir, const char *name, const struct publish_file *files,
		    size_t n, struct publish_result *res, struct err *e)
{
	struct gen_paths gp;
	struct entry *en = NULL;
	struct err local, first, second;
	size_t i, todo = 0;
	unsigned written = 0;
	bool mixed = false;
	int rc;

	if (e == NULL)
		e = &local;
	if ((rc = gen_paths_init(state_dir, name, &gp, e)) != 0)
		goto out;
	if ((rc = publish_check_set(files, n, e)) != 0)
		goto out;
	if (intent_exists(&gp)) {
		rc = err_set(e, EBUSY, "%s: an earlier publication of %s was interrupted; "
			     "recover it first", gp.intent, name);
		goto out;
	}
	en = xcalloc(n > 0 ? n : 1, sizeof(*en));
	for (i = 0; i < n; i++)
		en[i].f = files[i];
	if ((rc = plan(en, n, &todo, e)) != 0 || todo == 0)
		goto out;
	/* Step 1: the generation to go back to, before anything changes. */
	if ((rc = ensure_dirs(&gp, e)) != 0 || (rc = prev_capture(&gp, files, n, e)) != 0)
		goto out;
	if ((rc = commit(&gp, en, n, &written, &mixed, e)) == 0 || !mixed)
		goto out;
	/* A rename failed part-way: undo now rather than leave a mixed set
	 * to the next start. */
	unlink_temps(en, n);
	first = *e;
	if (restore_prev(&gp, &second) == 0)
		err_set(e, -rc, "%.400s; the previous files were restored", first.msg);
	else
		err_set(e, -rc, "%.200s; restoring the previous files failed too (%.200s); "
			"the intent record stays for recovery", first.msg, second.msg);
out:
	entries_free(en, n, false);
	gen_paths_free(&gp);
	if (rc == 0 && res != NULL) {
		res->written = written;
		res->unchanged = (unsigned)(n - todo);
	}
	return rc;
}

/* An intent entry: a target, and its temporary next to it, or removal. */
static int
intent_parse_one(const char *where, json_t *o, struct entry *en, struct err *e)
{
	json_t *path = json_object_get(o, "path"), *tmp = json_object_get(o, "tmp");
	json_t *sha = json_object_get(o, "sha256");
	const char *t, *base;
	char *tdir;
	bool ok;

	if (!json_is_string(path) || json_string_value(path)[0] != '/')
		return err_set(e, EBADMSG, "%s: an entry without an absolute path", where);
	en->f.path = xstrdup(json_string_value(path));
	en->dir = publish_dir_of(en->f.path);
	en->todo = true;
	if (json_is_true(json_object_get(o, "remove"))) {
		en->remove = true;
		return 0;
	}
	if (!json_is_string(tmp) || !json_is_string(sha) || !is_sha_hex(json_string_value(sha)))
		return err_set(e, EBADMSG, "%s: %s: bad tmp or sha256", where, en->f.path);
	/* Only ever rename one of our temporaries, from the target's own
	 * directory, whatever the file says. */
	t = json_string_value(tmp);
	base = strrchr(t, '/');
	tdir = t[0] == '/' ? publish_dir_of(t) : NULL;
	ok = tdir != NULL && strcmp(tdir, en->dir) == 0 && base[1] == '.' &&
	     strstr(base, ".certd-") != NULL;
	free(tdir);
	if (!ok)
		return err_set(e, EBADMSG, "%s: %s: \"%s\" is not one of its temporaries", where,
			       en->f.path, t);
	en->tmp = xstrdup(t);
	memcpy(en->sha, json_string_value(sha), 65);
	return 0;
}

/* Remove ".<name>.certd-XXXXXX" next to every file of the last manifest:
 * staged by a publication that crashed before writing its intent.  Best
 * effort: a failure here never stops a start. */
static void
sweep_temps(const struct gen_paths *gp)
{
	struct prev_file *pf = NULL;
	struct dirent *de;
	struct err ignored;
	char *dir, *prefix, *p;
	size_t i, n = 0, plen;
	const char *base;
	DIR *d;

	if (prev_load(gp, &pf, &n, &ignored) != 0)
		return;
	for (i = 0; i < n; i++) {
		dir = publish_dir_of(pf[i].path);
		base = strrchr(pf[i].path, '/') + 1;
		/* The same 200-byte cut as publish.c's temporaries. */
		prefix = xasprintf(".%.200s.certd-", base);
		plen = strlen(prefix);
		if ((d = opendir(dir)) != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (strncmp(de->d_name, prefix, plen) != 0 ||
				    strlen(de->d_name) != plen + 6)
					continue;
				p = xasprintf("%s/%s", dir, de->d_name);
				unlink(p);
				free(p);
			}
			closedir(d);
		}
		free(prefix);
		free(dir);
	}
	prev_free(pf, n);
}

int
publish_recover(const char *state_dir, const char *name, enum publish_recovery *out,
		struct err *e)
{
	struct gen_paths gp;
	struct entry *en = NULL;
	json_t *doc = NULL, *arr = NULL;
	enum publish_recovery what = PUBLISH_RECOVERY_NOTHING;
	char sha[65];
	size_t i, n = 0;
	unsigned written;
	bool complete = true;
	int rc;

	if ((rc = gen_paths_init(state_dir, name, &gp, e)) != 0)
		goto out;
	rc = read_json(gp.intent, &doc, e);
	if (rc == -ENOENT) {
		rc = 0;
		sweep_temps(&gp);
		goto out;
	}
	if (rc != 0)
		goto out;
	arr = json_object_get(doc, "files");
	n = json_array_size(arr);
	en = xcalloc(n > 0 ? n : 1, sizeof(*en));
	for (i = 0; i < n; i++)
		if ((rc = intent_parse_one(gp.intent, json_array_get(arr, i), &en[i], e)) != 0)
			goto out;

	/* Complete only when every new content is in place or staged intact. */
	for (i = 0; i < n && complete; i++) {
		if (en[i].remove)
			continue;
		if (hash_file(en[i].f.path, sha) == 0 && strcmp(sha, en[i].sha) == 0) {
			free(en[i].tmp);	/* renamed before the crash */
			en[i].tmp = NULL;
		} else if (hash_file(en[i].tmp, sha) != 0 || strcmp(sha, en[i].sha) != 0) {
			complete = false;
		}
	}
	if (complete) {
		if ((rc = apply(en, n, &written, e)) != 0 ||
		    (rc = sync_entry_dirs(en, n, e)) != 0 || (rc = intent_remove(&gp, e)) != 0)
			goto out;
		what = PUBLISH_RECOVERY_COMPLETED;
		goto out;
	}
	/* Roll back.  The temporaries go first, so that a crash from here on
	 * can only lead to another rollback (see the top of this file). */
	unlink_temps(en, n);
	if ((rc = sync_entry_dirs(en, n, e)) != 0 || (rc = restore_prev(&gp, e)) != 0)
		goto out;
	what = PUBLISH_RECOVERY_ROLLED_BACK;
out:
	json_decref(doc);
	entries_free(en, n, true);
	gen_paths_free(&gp);
	if (rc == 0 && out != NULL)
		*out = what;
	return rc;
}

int
publish_rollback(const char *state_dir, const char *name, struct err *e)
{
	struct gen_paths gp;
	int rc;

	if ((rc = gen_paths_init(state_dir, name, &gp, e)) != 0)
		goto out;
	if (intent_exists(&gp)) {
		rc = err_set(e, EBUSY, "%s: a publication of %s was interrupted; recover it "
			     "first", gp.intent, name);
		goto out;
	}
	rc = restore_prev(&gp, e);
out:
	gen_paths_free(&gp);
	return rc;
}

const char *
publish_recovery_str(enum publish_recovery r)
{
	switch (r) {
	case PUBLISH_RECOVERY_NOTHING:
		return "nothing";
	case PUBLISH_RECOVERY_COMPLETED:
		return "completed";
	case PUBLISH_RECOVERY_ROLLED_BACK:
		return "rolled back";
	}
	return "unknown";
}
