/*
 * check_publish.c — publish_set/publish_is_current against a real file
 * system: content, modes, owners and mtimes as a user would stat them,
 * no temporary left behind, and targets untouched when a set fails.
 *
 * Some cases need root (chown, the immutable flag) or need not to be root
 * (a read-only directory); they drop privileges in a child or are skipped
 * with a note on stderr.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/fs.h>
#include <sys/inotify.h>
#endif

#include "err.h"
#include "publish.h"
#include "testutil.h"
#include "xalloc.h"

#define OLD_MTIME 946684800	/* 2000-01-01, far from "now" */
#define NOBODY 65534

static char *dir;

static void
setup(void)
{
	dir = tu_mkdtemp();
}

static void
teardown(void)
{
	tu_rm_rf(dir);
	free(dir);
	dir = NULL;
}

static struct publish_file
pf(const char *path, const char *data, mode_t mode)
{
	struct publish_file f = {path, data, strlen(data), (uid_t)-1, (gid_t)-1, mode};

	return f;
}

/* Entries of d that look like our temporaries. */
static unsigned
count_temps(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *de;
	unsigned n = 0;

	ck_assert_msg(dh != NULL, "opendir %s", d);
	while ((de = readdir(dh)) != NULL)
		if (strstr(de->d_name, ".certd-") != NULL)
			n++;
	closedir(dh);
	return n;
}

static void
assert_file(const char *path, const void *data, size_t len, mode_t mode)
{
	struct stat st;
	size_t got_len;
	char *got;

	ck_assert_msg(lstat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	ck_assert_msg(S_ISREG(st.st_mode), "%s is not a regular file", path);
	ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %04o, want %04o", path,
		      (unsigned)(st.st_mode & 07777), (unsigned)mode);
	got = tu_read_file(path, &got_len);
	ck_assert_msg(got != NULL, "read %s", path);
	ck_assert_msg(got_len == len, "%s: %zu bytes, want %zu", path, got_len, len);
	ck_assert_msg(memcmp(got, data, len) == 0, "%s: content differs", path);
	free(got);
}

static void
assert_text(const char *path, const char *text, mode_t mode)
{
	assert_file(path, text, strlen(text), mode);
}

static void
set_old_mtime(const char *path)
{
	struct timespec ts[2] = {{OLD_MTIME, 0}, {OLD_MTIME, 0}};

	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static time_t
mtime_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	return st.st_mtim.tv_sec;
}

START_TEST(test_new_set)
{
	char *key = tu_path(dir, "x.key"), *crt = tu_path(dir, "x.crt");
	char *chain = tu_path(dir, "chain.pem");
	struct publish_file f[3] = {
		pf(key, "KEY\n", 0600), pf(crt, "CERT\n", 0644), pf(chain, "CHAIN\n", 0644),
	};
	struct publish_result res = {99, 99};
	struct err e = {""};

	ck_assert_int_eq(publish_set(f, 3, &res, &e), 0);
	ck_assert_uint_eq(res.written, 3);
	ck_assert_uint_eq(res.unchanged, 0);
	assert_text(key, "KEY\n", 0600);
	assert_text(crt, "CERT\n", 0644);
	assert_text(chain, "CHAIN\n", 0644);
	ck_assert_uint_eq(count_temps(dir), 0);
	for (int i = 0; i < 3; i++)
		ck_assert(publish_is_current(&f[i]));
	free(key);
	free(crt);
	free(chain);
}
END_TEST

START_TEST(test_identical_is_left_alone)
{
	char *p[3] = {tu_path(dir, "a.key"), tu_path(dir, "a.crt"), tu_path(dir, "ca.pem")};
	struct publish_file f[3] = {
		pf(p[0], "KEY\n", 0600), pf(p[1], "CERT\n", 0644), pf(p[2], "CA\n", 0644),
	};
	struct publish_result res;
	struct err e = {""};

	ck_assert_int_eq(publish_set(f, 3, &res, &e), 0);
	for (int i = 0; i < 3; i++)
		set_old_mtime(p[i]);
	ck_assert_int_eq(publish_set(f, 3, &res, &e), 0);
	ck_assert_uint_eq(res.written, 0);
	ck_assert_uint_eq(res.unchanged, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(mtime_of(p[i]), OLD_MTIME);
		free(p[i]);
	}
	ck_assert_uint_eq(count_temps(dir), 0);
}
END_TEST

START_TEST(test_only_changed_file_rewritten)
{
	char *p[3] = {tu_path(dir, "a.key"), tu_path(dir, "a.crt"), tu_path(dir, "ca.pem")};
	struct publish_file f[3] = {
		pf(p[0], "KEY\n", 0600), pf(p[1], "CERT\n", 0644), pf(p[2], "CA\n", 0644),
	};
	struct publish_result res;
	struct err e = {""};

	ck_assert_int_eq(publish_set(f, 3, &res, &e), 0);
	for (int i = 0; i < 3; i++)
		set_old_mtime(p[i]);
	/* Same length, different bytes: the size check alone can't tell. */
	f[1] = pf(p[1], "CERU\n", 0644);
	ck_assert_int_eq(publish_set(f, 3, &res, &e), 0);
	ck_assert_uint_eq(res.written, 1);
	ck_assert_uint_eq(res.unchanged, 2);
	assert_text(p[1], "CERU\n", 0644);
	ck_assert_int_ne(mtime_of(p[1]), OLD_MTIME);
	ck_assert_int_eq(mtime_of(p[0]), OLD_MTIME);
	ck_assert_int_eq(mtime_of(p[2]), OLD_MTIME);
	ck_assert_uint_eq(count_temps(dir), 0);
	for (int i = 0; i < 3; i++)
		free(p[i]);
}
END_TEST

START_TEST(test_mode_change_only)
{
	char *p = tu_path(dir, "a.key");
	struct publish_file f = pf(p, "KEY\n", 0644);
	struct publish_result res;
	struct err e = {""};

	ck_assert_int_eq(publish_set(&f, 1, NULL, &e), 0);
	set_old_mtime(p);
	f.mode = 0600;
	ck_assert(!publish_is_current(&f));
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	ck_assert_uint_eq(res.written, 1);
	assert_text(p, "KEY\n", 0600);
	ck_assert_int_ne(mtime_of(p), OLD_MTIME);
	free(p);
}
END_TEST

/* The third file cannot be staged: the first two targets keep their old
 * content and mtime, and no temporary is left in any directory. */
static void
check_failed_third(const char *third, int want_rc, const char *want_msg)
{
	char *p0 = tu_path(dir, "a.key"), *p1 = tu_path(dir, "a.crt");
	struct publish_file f[3] = {
		pf(p0, "NEWKEY\n", 0600), pf(p1, "NEWCERT\n", 0644), pf(third, "CA\n", 0644),
	};
	struct publish_result res = {99, 99};
	struct err e = {""};

	tu_write_file(p0, "OLDKEY\n", 0600);
	tu_write_file(p1, "OLDCERT\n", 0644);
	set_old_mtime(p0);
	set_old_mtime(p1);
	ck_assert_int_eq(publish_set(f, 3, &res, &e), want_rc);
	ck_assert_str_eq(e.msg, want_msg);
	ck_assert_uint_eq(res.written, 99);	/* not written on failure */
	assert_text(p0, "OLDKEY\n", 0600);
	assert_text(p1, "OLDCERT\n", 0644);
	ck_assert_int_eq(mtime_of(p0), OLD_MTIME);
	ck_assert_int_eq(mtime_of(p1), OLD_MTIME);
	ck_assert_uint_eq(count_temps(dir), 0);
	free(p0);
	free(p1);
}

START_TEST(test_missing_directory)
{
	char *third = xasprintf("%s/nodir/ca.pem", dir);
	char *want = xasprintf("%s: create temporary in %s/nodir: No such file or directory",
			       third, dir);

	check_failed_third(third, -ENOENT, want);
	ck_assert_int_eq(access(third, F_OK), -1);
	free(third);
	free(want);
}
END_TEST

START_TEST(test_parent_is_a_file)
{
	char *file = tu_path(dir, "plain");
	char *third = xasprintf("%s/ca.pem", file);
	char *want = xasprintf("%s: create temporary in %s: Not a directory", third, file);

	tu_write_file(file, "x", 0644);
	check_failed_third(third, -ENOTDIR, want);
	free(file);
	free(third);
	free(want);
}
END_TEST

/* Run fn in a child, as nobody when we are root, and return its exit
 * status; 77 means the case could not be set up (reported, not failed). */
static int
in_child(int (*fn)(void), bool as_nobody)
{
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		if (as_nobody && geteuid() == 0 &&
		    (setgroups(0, NULL) == -1 || setgid(NOBODY) == -1 || setuid(NOBODY) == -1))
			_exit(77);
		_exit(fn());
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		fprintf(stderr, "check_publish: a case could not be set up and was skipped\n");
	return WEXITSTATUS(status);
}

/* 0 when publish_set(f, n) fails with want_rc and exactly want_msg. */
static int
expect_failure(const struct publish_file *f, size_t n, int want_rc, const char *want_msg)
{
	struct err e = {""};
	int rc = publish_set(f, n, NULL, &e);

	if (rc == want_rc && strcmp(e.msg, want_msg) == 0)
		return 0;
	fprintf(stderr, "rc %d, msg \"%s\"; want %d, \"%s\"\n", rc, e.msg, want_rc, want_msg);
	return 1;
}

/* dir/rw is writable by anyone, dir/ro by no one but root. */
static void
make_rw_ro(void)
{
	char *rw = tu_path(dir, "rw"), *ro = tu_path(dir, "ro");

	ck_assert_int_eq(mkdir(rw, 0777), 0);
	ck_assert_int_eq(mkdir(ro, 0555), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chmod(rw, 0777), 0);
	free(rw);
	free(ro);
}

static int
publish_into_ro(void)
{
	char *rw = tu_path(dir, "rw"), *ro = tu_path(dir, "ro");
	char *p0 = tu_path(rw, "a.key"), *p1 = tu_path(ro, "a.crt");
	struct publish_file f[2] = {pf(p0, "KEY\n", 0600), pf(p1, "CERT\n", 0644)};
	char *want = xasprintf("%s: create temporary in %s: Permission denied", p1, ro);

	if (access(rw, W_OK) != 0)
		return 77;	/* $TMPDIR not reachable by nobody */
	return expect_failure(f, 2, -EACCES, want);
}

/* A directory we may not write: the first file's complete temporary is
 * unlinked, not renamed. */
START_TEST(test_read_only_directory)
{
	char *rw = tu_path(dir, "rw"), *ro = tu_path(dir, "ro"), *p0 = tu_path(rw, "a.key");

	make_rw_ro();
	ck_assert_int_ne(in_child(publish_into_ro, true), 1);
	ck_assert_int_eq(access(p0, F_OK), -1);
	ck_assert_uint_eq(count_temps(rw), 0);
	ck_assert_uint_eq(count_temps(ro), 0);
	free(rw);
	free(ro);
	free(p0);
}
END_TEST

static int
publish_owned_by_root(void)
{
	char *rw = tu_path(dir, "rw"), *p0 = tu_path(rw, "a.key");
	struct publish_file f = pf(p0, "KEY\n", 0600);
	char *want = xasprintf("%s: set owner 0:-1: Operation not permitted", p0);

	if (geteuid() == 0 || access(rw, W_OK) != 0)
		return 77;
	f.uid = 0;
	return expect_failure(&f, 1, -EPERM, want);
}

/* Failing after the temporary exists (fchown as non-root): it is unlinked. */
START_TEST(test_chown_denied)
{
	char *rw = tu_path(dir, "rw"), *p0 = tu_path(rw, "a.key");

	make_rw_ro();
	ck_assert_int_ne(in_child(publish_owned_by_root, true), 1);
	ck_assert_int_eq(access(p0, F_OK), -1);
	ck_assert_uint_eq(count_temps(rw), 0);
	free(rw);
	free(p0);
}
END_TEST

static int
publish_too_large(void)
{
	struct rlimit lim = {1000, 1000};
	char *p0 = tu_path(dir, "a.crt"), *p1 = tu_path(dir, "b.crt");
	char *want = xasprintf("%s: write: File too large", p1);
	struct publish_file f[2] = {pf(p0, "SMALL\n", 0644), pf(p1, "", 0644)};
	char *big = xmalloc(4097);

	memset(big, 'x', 4096);
	big[4096] = '\0';
	f[1].data = big;
	f[1].len = 4096;
	/* The first write is cut short at the limit, the next one fails. */
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &lim) == -1)
		return 77;
	return expect_failure(f, 2, -EFBIG, want);
}

/* A write that fails half-way: old targets kept, no temporary left. */
START_TEST(test_write_fails)
{
	char *p0 = tu_path(dir, "a.crt"), *p1 = tu_path(dir, "b.crt");

	tu_write_file(p1, "OLD\n", 0644);
	ck_assert_int_ne(in_child(publish_too_large, false), 1);
	ck_assert_int_eq(access(p0, F_OK), -1);
	assert_text(p1, "OLD\n", 0644);
	ck_assert_uint_eq(count_temps(dir), 0);
	free(p0);
	free(p1);
}
END_TEST

static const struct {
	const char *path;
	const char *msg;   /* after "<path>: ", or the whole message when empty */
} bad_paths[] = {
	{"relative/x.pem", "not an absolute path"},
	{"x.pem", "not an absolute path"},
	{"", "empty path"},
	{"/tmp/x/", "path ends in '/'"},
	{"/", "path ends in '/'"},
	{"/tmp/..", "path does not name a file"},
	{"/tmp/.", "path does not name a file"},
};

/* Bad paths are refused before anything is touched, even a good file
 * listed before them. */
START_TEST(test_bad_path_rejected)
{
	const char *bad = bad_paths[_i].path;
	char *good = tu_path(dir, "good.pem");
	struct publish_file f[2] = {pf(good, "X\n", 0644), pf(bad, "Y\n", 0644)};
	struct publish_result res = {99, 99};
	struct err e = {""};
	char *want = *bad ? xasprintf("%s: %s", bad, bad_paths[_i].msg)
			  : xstrdup(bad_paths[_i].msg);

	ck_assert_int_eq(publish_set(f, 2, &res, &e), -EINVAL);
	ck_assert_str_eq(e.msg, want);
	ck_assert_uint_eq(res.written, 99);
	ck_assert_int_eq(access(good, F_OK), -1);
	ck_assert_uint_eq(count_temps(dir), 0);
	ck_assert(!publish_is_current(&f[1]));
	free(good);
	free(want);
}
END_TEST

START_TEST(test_bad_set_rejected)
{
	char *p = tu_path(dir, "a.pem");
	struct publish_file f[2] = {pf(p, "X\n", 0644), pf(p, "Y\n", 0644)};
	struct err e = {""};
	char *want = xasprintf("%s: appears twice in one set", p);

	ck_assert_int_eq(publish_set(f, 2, NULL, &e), -EINVAL);
	ck_assert_str_eq(e.msg, want);
	ck_assert_int_eq(access(p, F_OK), -1);

	f[1] = pf(p, "Y\n", 0100644);	/* file type bits are not a mode */
	ck_assert_int_eq(publish_set(&f[1], 1, NULL, &e), -EINVAL);
	f[1] = pf(p, "Y\n", 0644);
	f[1].data = NULL;
	ck_assert_int_eq(publish_set(&f[1], 1, NULL, &e), -EINVAL);
	ck_assert_int_eq(publish_set(NULL, 1, NULL, &e), -EINVAL);
	ck_assert_int_eq(access(p, F_OK), -1);
	free(p);
	free(want);
}
END_TEST

START_TEST(test_directory_target_rejected)
{
	char *p0 = tu_path(dir, "a.key"), *d = tu_path(dir, "a.crt");
	struct publish_file f[2] = {pf(p0, "NEW\n", 0600), pf(d, "CERT\n", 0644)};
	struct err e = {""};
	char *want = xasprintf("%s: is a directory; refusing to replace it", d);
	struct stat st;

	tu_write_file(p0, "OLD\n", 0600);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	ck_assert_int_eq(publish_set(f, 2, NULL, &e), -EISDIR);
	ck_assert_str_eq(e.msg, want);
	ck_assert_int_eq(lstat(d, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	assert_text(p0, "OLD\n", 0600);
	ck_assert_uint_eq(count_temps(dir), 0);
	ck_assert(!publish_is_current(&f[1]));
	free(p0);
	free(d);
	free(want);
}
END_TEST

/* A symlink target is replaced by a regular file; what it pointed to is
 * not written through, and a link is never "current". */
START_TEST(test_symlink_target_replaced)
{
	char *real = tu_path(dir, "real.pem"), *link = tu_path(dir, "link.pem");
	struct publish_file f = pf(link, "SAME\n", 0644);
	struct publish_result res;
	struct err e = {""};

	tu_write_file(real, "SAME\n", 0644);
	ck_assert_int_eq(symlink(real, link), 0);
	ck_assert(!publish_is_current(&f));
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	ck_assert_uint_eq(res.written, 1);
	assert_text(link, "SAME\n", 0644);	/* lstat: now a regular file */
	assert_text(real, "SAME\n", 0644);

	/* A dangling link, too. */
	ck_assert_int_eq(unlink(link), 0);
	ck_assert_int_eq(symlink("/nonexistent/x", link), 0);
	f = pf(link, "NEW\n", 0600);
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	assert_text(link, "NEW\n", 0600);
	ck_assert_uint_eq(count_temps(dir), 0);
	free(real);
	free(link);
}
END_TEST

START_TEST(test_large_round_trip)
{
	size_t len = 1024 * 1024;
	char *data = xmalloc(len + 1), *p = tu_path(dir, "big.pem");
	struct publish_file f = {p, data, len, (uid_t)-1, (gid_t)-1, 0640};
	struct publish_result res;
	struct err e = {""};
	unsigned x = 12345;
	int fd;

	/* Every byte value, NULs included. */
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (char)(x >> 16);
	}
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	ck_assert_uint_eq(res.written, 1);
	assert_file(p, data, len, 0640);
	ck_assert(publish_is_current(&f));
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	ck_assert_uint_eq(res.unchanged, 1);

	/* The last byte differs; then one byte more; then one byte less. */
	data[len - 1] ^= 1;
	ck_assert(!publish_is_current(&f));
	data[len - 1] ^= 1;
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "z", 1), 1);
	close(fd);
	ck_assert(!publish_is_current(&f));
	ck_assert_int_eq(truncate(p, (off_t)len - 1), 0);
	ck_assert(!publish_is_current(&f));
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	ck_assert_uint_eq(res.written, 1);
	assert_file(p, data, len, 0640);
	free(data);
	free(p);
}
END_TEST

START_TEST(test_empty_and_long_names)
{
	char name[256];
	char *empty = tu_path(dir, "empty.pem"), *longp;
	struct publish_file f[2];
	struct publish_result res = {99, 99};
	struct err e = {""};

	/* NAME_MAX long: the temporary's name must be cut to fit. */
	memset(name, 'n', 255);
	name[255] = '\0';
	longp = tu_path(dir, name);
	f[0] = pf(empty, "", 0600);
	f[1] = pf(longp, "LONG\n", 0644);
	ck_assert_msg(publish_set(f, 2, &res, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(res.written, 2);
	assert_text(empty, "", 0600);
	assert_text(longp, "LONG\n", 0644);
	ck_assert(publish_is_current(&f[0]));
	ck_assert_uint_eq(count_temps(dir), 0);

	ck_assert_int_eq(publish_set(NULL, 0, &res, &e), 0);
	ck_assert_uint_eq(res.written, 0);
	ck_assert_uint_eq(res.unchanged, 0);
	free(empty);
	free(longp);
}
END_TEST

START_TEST(test_is_current_cases)
{
	char *p = tu_path(dir, "a.pem");
	struct publish_file f = pf(p, "ABCD\n", 0644);

	ck_assert(!publish_is_current(&f));	/* missing */
	tu_write_file(p, "ABCD\n", 0644);
	ck_assert(publish_is_current(&f));
	f.uid = geteuid();
	f.gid = getegid();
	ck_assert(publish_is_current(&f));
	f.uid = geteuid() + 1;
	ck_assert(!publish_is_current(&f));
	f.uid = (uid_t)-1;
	f.gid = getegid() + 1;
	ck_assert(!publish_is_current(&f));
	f.gid = (gid_t)-1;
	f.mode = 0640;
	ck_assert(!publish_is_current(&f));
	f.mode = 0644;
	tu_write_file(p, "ABCE\n", 0644);
	ck_assert(!publish_is_current(&f));
	tu_write_file(p, "ABCD\n", 0644);
	ck_assert(publish_is_current(&f));
	f.len = 4;	/* the file is one byte longer */
	ck_assert(!publish_is_current(&f));
	f.len = 5;
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	ck_assert(!publish_is_current(&f));	/* and does not block */
#ifdef __linux__
	{
		char *comm, *first;

		/* stat says 0 bytes but reading yields more: the len+1 cap must stop
		 * the comparison at len, before it runs past the caller's data (a
		 * 1-byte buffer matching the first byte, so ASan sees any overrun). */
		comm = tu_read_file("/proc/self/comm", NULL);
		ck_assert(comm != NULL && comm[0] != '\0');
		first = xmalloc(1);
		first[0] = comm[0];
		f = pf("/proc/self/comm", "", 0644);
		f.data = first;
		ck_assert(!publish_is_current(&f));
		free(comm);
		free(first);
	}
#endif
	free(p);
}
END_TEST

#ifdef __linux__
/* Owner and mode are set before the first byte: watch the directory and
 * require, for every temporary, an IN_ATTRIB (fchown/fchmod) before its
 * first IN_MODIFY (write).  With umask 0 nothing else narrows the mode. */
START_TEST(test_mode_before_first_byte)
{
	char *key = tu_path(dir, "x.key"), *crt = tu_path(dir, "x.crt");
	struct publish_file f[2] = {pf(key, "SECRET KEY\n", 0600), pf(crt, "CERT\n", 0640)};
	char evbuf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct {
		char name[256];
		int attrib, modify;
	} seen[8];
	unsigned nseen = 0, i;
	struct err e = {""};
	ssize_t n;
	int ifd, idx = 0;
	mode_t old_umask;

	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ck_assert_int_ne(ifd, -1);
	ck_assert_int_ne(inotify_add_watch(ifd, dir, IN_ATTRIB | IN_MODIFY), -1);
	old_umask = umask(0);
	ck_assert_int_eq(publish_set(f, 2, NULL, &e), 0);
	umask(old_umask);
	assert_text(key, "SECRET KEY\n", 0600);
	assert_text(crt, "CERT\n", 0640);

	n = read(ifd, evbuf, sizeof(evbuf));
	ck_assert_int_gt(n, 0);
	for (char *p = evbuf; p < evbuf + n; idx++) {
		struct inotify_event *ev = (struct inotify_event *)p;

		p += sizeof(*ev) + ev->len;
		if (ev->len == 0 || strstr(ev->name, ".certd-") == NULL)
			continue;
		for (i = 0; i < nseen; i++)
			if (strcmp(seen[i].name, ev->name) == 0)
				break;
		if (i == nseen) {
			ck_assert_uint_lt(nseen, 8);
			snprintf(seen[i].name, sizeof(seen[i].name), "%s", ev->name);
			seen[i].attrib = seen[i].modify = -1;
			nseen++;
		}
		if ((ev->mask & IN_ATTRIB) && seen[i].attrib == -1)
			seen[i].attrib = idx;
		if ((ev->mask & IN_MODIFY) && seen[i].modify == -1)
			seen[i].modify = idx;
	}
	close(ifd);
	ck_assert_uint_eq(nseen, 2);
	for (i = 0; i < nseen; i++) {
		ck_assert_msg(seen[i].modify != -1, "%s: no write seen", seen[i].name);
		ck_assert_msg(seen[i].attrib != -1 && seen[i].attrib < seen[i].modify,
			      "%s: written before its mode was set", seen[i].name);
	}
	free(key);
	free(crt);
}
END_TEST

/* A rename that fails part-way (the 2nd target is immutable): the 1st is
 * replaced and named in the message, the 2nd and 3rd keep their content,
 * and the 3rd's temporary is unlinked.  Needs root and FS_IOC_SETFLAGS. */
START_TEST(test_rename_fails_mid_set)
{
	char *p[3] = {tu_path(dir, "a.key"), tu_path(dir, "a.crt"), tu_path(dir, "ca.pem")};
	struct publish_file f[3] = {
		pf(p[0], "NEWKEY\n", 0600), pf(p[1], "NEWCERT\n", 0644), pf(p[2], "NEWCA\n", 0644),
	};
	struct publish_result res = {99, 99};
	struct err e = {""};
	char *want = xasprintf("%s: rename into place: Operation not permitted; "
			       "already replaced: %s", p[1], p[0]);
	int fd, flags, rc;

	tu_write_file(p[0], "OLDKEY\n", 0600);
	tu_write_file(p[1], "OLDCERT\n", 0644);
	tu_write_file(p[2], "OLDCA\n", 0644);
	fd = open(p[1], O_RDONLY | O_CLOEXEC);
	ck_assert_int_ne(fd, -1);
	flags = 0;
	if (geteuid() == 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0)
		flags |= FS_IMMUTABLE_FL;
	if (!(flags & FS_IMMUTABLE_FL) || ioctl(fd, FS_IOC_SETFLAGS, &flags) == -1) {
		fprintf(stderr, "check_publish: rename-fails-mid-set case skipped "
			"(needs root and the immutable flag)\n");
		close(fd);
		goto out;
	}
	rc = publish_set(f, 3, &res, &e);
	flags &= ~FS_IMMUTABLE_FL;
	ck_assert_int_eq(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
	close(fd);

	ck_assert_int_eq(rc, -EPERM);
	ck_assert_str_eq(e.msg, want);
	ck_assert_uint_eq(res.written, 99);
	assert_text(p[0], "NEWKEY\n", 0600);
	assert_text(p[1], "OLDCERT\n", 0644);
	assert_text(p[2], "OLDCA\n", 0644);
	ck_assert_uint_eq(count_temps(dir), 0);
out:
	for (int i = 0; i < 3; i++)
		free(p[i]);
	free(want);
}
END_TEST
#endif

START_TEST(test_owner_as_root)
{
	char *p = tu_path(dir, "a.key");
	struct publish_file f = pf(p, "KEY\n", 0640);
	struct publish_result res;
	struct err e = {""};
	struct stat st;

	if (geteuid() != 0) {
		fprintf(stderr, "check_publish: owner case skipped (needs root)\n");
		free(p);
		return;
	}
	f.uid = NOBODY;
	f.gid = NOBODY;
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	ck_assert_uint_eq(res.written, 1);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, NOBODY);
	ck_assert_uint_eq(st.st_gid, NOBODY);
	assert_text(p, "KEY\n", 0640);
	ck_assert(publish_is_current(&f));
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	ck_assert_uint_eq(res.unchanged, 1);

	/* Group only: rewritten, owner kept as asked. */
	f.gid = 0;
	ck_assert(!publish_is_current(&f));
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	ck_assert_uint_eq(res.written, 1);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, NOBODY);
	ck_assert_uint_eq(st.st_gid, 0);

	/* Set-id bits survive: the mode is applied after the owner. */
	f.mode = 02750;
	ck_assert_int_eq(publish_set(&f, 1, &res, &e), 0);
	assert_text(p, "KEY\n", 02750);
	ck_assert_uint_eq(count_temps(dir), 0);
	free(p);
}
END_TEST

static Suite *
publish_suite(void)
{
	Suite *s = suite_create("publish");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_set);
	tcase_add_test(tc, test_identical_is_left_alone);
	tcase_add_test(tc, test_only_changed_file_rewritten);
	tcase_add_test(tc, test_mode_change_only);
	tcase_add_test(tc, test_missing_directory);
	tcase_add_test(tc, test_parent_is_a_file);
	tcase_add_test(tc, test_read_only_directory);
	tcase_add_test(tc, test_chown_denied);
	tcase_add_test(tc, test_write_fails);
	tcase_add_loop_test(tc, test_bad_path_rejected, 0,
			    (int)(sizeof(bad_paths) / sizeof(bad_paths[0])));
	tcase_add_test(tc, test_bad_set_rejected);
	tcase_add_test(tc, test_directory_target_rejected);
	tcase_add_test(tc, test_symlink_target_replaced);
	tcase_add_test(tc, test_large_round_trip);
	tcase_add_test(tc, test_empty_and_long_names);
	tcase_add_test(tc, test_is_current_cases);
#ifdef __linux__
	tcase_add_test(tc, test_mode_before_first_byte);
	tcase_add_test(tc, test_rename_fails_mid_set);
#endif
	tcase_add_test(tc, test_owner_as_root);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(publish_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
