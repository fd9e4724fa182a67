/*
 * check_publish_gen.c — generations and crash-safe publication against a
 * real file system: what prev/ holds (content, modes, owners, manifest),
 * rollback byte for byte, and recovery from every crash point the test
 * hook can simulate (publish_test_crash_after), with temporaries lost or
 * damaged.  Sets are key + certificate pairs with distinct content per
 * generation, and after every recovery the pair on disk must be one
 * generation, never a mixture.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/fs.h>
#endif

#include <jansson.h>

#include "err.h"
#include "publish.h"
#include "testutil.h"
#include "xalloc.h"

#define NOBODY 65534

static char *dir;      /* output files */
static char *state;    /* state directory */
static char *key, *crt;

static void
setup(void)
{
	char *top = tu_mkdtemp();

	dir = tu_path(top, "out");
	state = tu_path(top, "state");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	key = tu_path(dir, "x.key");
	crt = tu_path(dir, "x.crt");
	free(top);
	publish_test_crash_after = -1;
}

static void
teardown(void)
{
	char *top = xstrndup(dir, strlen(dir) - strlen("/out"));

	publish_test_crash_after = -1;
	tu_rm_rf(top);
	free(top);
	free(dir);
	free(state);
	free(key);
	free(crt);
}

static struct publish_file
pf(const char *path, const char *data, mode_t mode)
{
	struct publish_file f = {path, data, strlen(data), (uid_t)-1, (gid_t)-1, mode};

	return f;
}

/* Generation g of the pair: "KEY g\n" (0600) and "CRT g\n" (0644). */
struct pair {
	char k[32], c[32];
	struct publish_file f[2];
};

static void
pair_make(struct pair *p, int g)
{
	snprintf(p->k, sizeof(p->k), "KEY %d\n", g);
	snprintf(p->c, sizeof(p->c), "CRT %d\n", g);
	p->f[0] = pf(key, p->k, 0600);
	p->f[1] = pf(crt, p->c, 0644);
}

static int
publish_gen(int g, struct err *e)
{
	struct pair p;

	pair_make(&p, g);
	return publish_set_durable(state, "web", p.f, 2, NULL, e);
}

static void
assert_text(const char *path, const char *text, mode_t mode)
{
	struct stat st;
	char *got;

	ck_assert_msg(lstat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	ck_assert_msg(S_ISREG(st.st_mode), "%s is not a regular file", path);
	ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %04o, want %04o", path,
		      (unsigned)(st.st_mode & 07777), (unsigned)mode);
	got = tu_read_file(path, NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, text);
	free(got);
}

static void
assert_absent(const char *path)
{
	ck_assert_msg(access(path, F_OK) == -1 && errno == ENOENT, "%s exists", path);
}

/* The pair on disk is generation g, with the generation's modes. */
static void
assert_gen(int g)
{
	struct pair p;

	pair_make(&p, g);
	assert_text(key, p.k, 0600);
	assert_text(crt, p.c, 0644);
}

/* Which generation the pair on disk is; fails on a mixture. */
static int
gen_on_disk(void)
{
	char *k = tu_read_file(key, NULL), *c = tu_read_file(crt, NULL);
	int gk = -1, gc = -2;

	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(sscanf(k, "KEY %d", &gk), 1);
	ck_assert_int_eq(sscanf(c, "CRT %d", &gc), 1);
	ck_assert_msg(gk == gc, "key of generation %d with certificate of generation %d", gk,
		      gc);
	free(k);
	free(c);
	return gk;
}

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

/* The temporary for target in its directory (there must be exactly one),
 * or NULL. */
static char *
temp_of(const char *target)
{
	const char *base = strrchr(target, '/') + 1;
	char *prefix = xasprintf(".%s.certd-", base), *found = NULL;
	DIR *dh = opendir(dir);
	struct dirent *de;

	ck_assert_ptr_nonnull(dh);
	while ((de = readdir(dh)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		ck_assert_msg(found == NULL, "two temporaries for %s", target);
		found = tu_path(dir, de->d_name);
	}
	closedir(dh);
	free(prefix);
	return found;
}

static char *
gen_path(const char *rel)
{
	return xasprintf("%s/generations/web/%s", state, rel);
}

static json_t *
manifest(void)
{
	char *p = gen_path("prev/manifest.json");
	json_error_t jerr;
	json_t *m = json_load_file(p, 0, &jerr);

	ck_assert_msg(m != NULL, "%s: %s", p, jerr.text);
	free(p);
	return m;
}

static void
assert_mode(const char *path, mode_t mode)
{
	struct stat st;

	ck_assert_msg(lstat(path, &st) == 0, "stat %s", path);
	ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %04o, want %04o", path,
		      (unsigned)(st.st_mode & 07777), (unsigned)mode);
}

static bool
intent_exists(void)
{
	char *p = gen_path("intent.json");
	bool yes = access(p, F_OK) == 0;

	free(p);
	return yes;
}

static enum publish_recovery
recover(void)
{
	enum publish_recovery r = (enum publish_recovery)99;
	struct err e = {""};
	int rc;

	publish_test_crash_after = -1;
	rc = publish_recover(state, "web", &r, &e);
	ck_assert_msg(rc == 0, "publish_recover: %d %s", rc, e.msg);
	ck_assert(!intent_exists());
	ck_assert_uint_eq(count_temps(dir), 0);
	return r;
}

START_TEST(test_prev_captured)
{
	struct publish_result res = {99, 99};
	struct err e = {""};
	struct pair p;
	json_t *m, *f0, *f1;
	char *copy0, *copy1, *prev;

	/* First publication: nothing existed. */
	pair_make(&p, 1);
	ck_assert_int_eq(publish_set_durable(state, "web", p.f, 2, &res, &e), 0);
	ck_assert_uint_eq(res.written, 2);
	ck_assert_uint_eq(res.unchanged, 0);
	assert_gen(1);
	m = manifest();
	ck_assert_int_eq(json_array_size(json_object_get(m, "files")), 2);
	f0 = json_array_get(json_object_get(m, "files"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f0, "path")), key);
	ck_assert(json_is_false(json_object_get(f0, "existed")));
	json_decref(m);

	/* Second: prev/ holds generation 1, as it was. */
	ck_assert_int_eq(chmod(crt, 0640), 0);
	ck_assert_int_eq(publish_gen(2, &e), 0);
	assert_gen(2);
	m = manifest();
	f0 = json_array_get(json_object_get(m, "files"), 0);
	f1 = json_array_get(json_object_get(m, "files"), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(f0, "index")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f0, "path")), key);
	ck_assert(json_is_true(json_object_get(f0, "existed")));
	ck_assert_str_eq(json_string_value(json_object_get(f0, "mode")), "0600");
	ck_assert_str_eq(json_string_value(json_object_get(f1, "path")), crt);
	ck_assert_str_eq(json_string_value(json_object_get(f1, "mode")), "0640");
	ck_assert_int_eq(json_integer_value(json_object_get(f1, "uid")), (json_int_t)geteuid());
	ck_assert_int_eq(json_integer_value(json_object_get(f1, "gid")), (json_int_t)getegid());
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(f1, "sha256"))), 64);
	json_decref(m);
	copy0 = gen_path("prev/0");
	copy1 = gen_path("prev/1");
	prev = gen_path("prev");
	assert_text(copy0, "KEY 1\n", 0600);
	assert_text(copy1, "CRT 1\n", 0600);	/* copies are 0600 whatever the original */
	assert_mode(prev, 0700);
	ck_assert(!intent_exists());
	ck_assert_uint_eq(count_temps(dir), 0);

	/* Nothing changes: prev/ keeps generation 1, not the current set. */
	ck_assert_int_eq(chmod(crt, 0644), 0);
	pair_make(&p, 2);
	ck_assert_int_eq(publish_set_durable(state, "web", p.f, 2, &res, &e), 0);
	ck_assert_uint_eq(res.written, 0);
	ck_assert_uint_eq(res.unchanged, 2);
	assert_text(copy0, "KEY 1\n", 0600);
	assert_text(copy1, "CRT 1\n", 0600);
	free(copy0);
	free(copy1);
	free(prev);
}
END_TEST

/* Only one file of the set changes: both are captured, the unchanged one
 * is left alone by the rollback. */
START_TEST(test_partial_change_and_rollback)
{
	struct publish_file f[2];
	struct publish_result res;
	struct err e = {""};

	ck_assert_int_eq(publish_gen(1, &e), 0);
	f[0] = pf(key, "KEY 1\n", 0600);
	f[1] = pf(crt, "CRT 1b\n", 0644);
	ck_assert_int_eq(publish_set_durable(state, "web", f, 2, &res, &e), 0);
	ck_assert_uint_eq(res.written, 1);
	ck_assert_uint_eq(res.unchanged, 1);
	ck_assert_int_eq(publish_rollback(state, "web", &e), 0);
	assert_gen(1);
}
END_TEST

START_TEST(test_rollback_restores)
{
	struct publish_file f[2];
	struct err e = {""};
	char *before_k, *before_c;
	size_t klen, clen;

	/* Generation 1 with unusual modes; generation 2 with others. */
	f[0] = pf(key, "KEY 1\n\0binary\xff", 0640);
	f[0].len = 14;
	f[1] = pf(crt, "CRT 1\n", 0444);
	ck_assert_int_eq(publish_set_durable(state, "web", f, 2, NULL, &e), 0);
	before_k = tu_read_file(key, &klen);
	before_c = tu_read_file(crt, &clen);
	ck_assert_int_eq(publish_gen(2, &e), 0);
	assert_gen(2);

	ck_assert_int_eq(publish_rollback(state, "web", &e), 0);
	assert_mode(key, 0640);
	assert_mode(crt, 0444);
	{
		size_t l1, l2;
		char *k = tu_read_file(key, &l1), *c = tu_read_file(crt, &l2);

		ck_assert_uint_eq(l1, klen);
		ck_assert(memcmp(k, before_k, klen) == 0);
		ck_assert_uint_eq(l2, clen);
		ck_assert(memcmp(c, before_c, clen) == 0);
		free(k);
		free(c);
	}
	ck_assert(!intent_exists());
	ck_assert_uint_eq(count_temps(dir), 0);
	/* Twice is harmless. */
	ck_assert_int_eq(publish_rollback(state, "web", &e), 0);
	assert_mode(crt, 0444);
	free(before_k);
	free(before_c);
}
END_TEST

START_TEST(test_rollback_removes_new_file)
{
	char *chain = tu_path(dir, "chain.pem");
	struct publish_file one = pf(key, "KEY 1\n", 0600);
	struct publish_file two[2] = {pf(key, "KEY 2\n", 0600), pf(chain, "CHAIN 2\n", 0644)};
	struct err e = {""};

	ck_assert_int_eq(publish_set_durable(state, "web", &one, 1, NULL, &e), 0);
	ck_assert_int_eq(publish_set_durable(state, "web", two, 2, NULL, &e), 0);
	assert_text(chain, "CHAIN 2\n", 0644);
	ck_assert_int_eq(publish_rollback(state, "web", &e), 0);
	assert_text(key, "KEY 1\n", 0600);
	assert_absent(chain);
	free(chain);
}
END_TEST

START_TEST(test_rollback_errors)
{
	struct err e = {""};
	char *copy;
	FILE *f;

	ck_assert_int_eq(publish_rollback(state, "web", &e), -ENOENT);
	ck_assert_msg(strstr(e.msg, "no previous generation") != NULL, "%s", e.msg);

	ck_assert_int_eq(publish_gen(1, &e), 0);
	ck_assert_int_eq(publish_gen(2, &e), 0);
	/* A damaged copy: nothing is touched. */
	copy = gen_path("prev/1");
	f = fopen(copy, "a");
	ck_assert_ptr_nonnull(f);
	fputs("tampered", f);
	fclose(f);
	ck_assert_int_eq(publish_rollback(state, "web", &e), -EBADMSG);
	ck_assert_msg(strstr(e.msg, "is damaged") != NULL, "%s", e.msg);
	assert_gen(2);

	ck_assert_int_eq(publish_rollback(state, "../web", &e), -EINVAL);
	ck_assert_int_eq(publish_rollback(state, "", &e), -EINVAL);
	ck_assert_int_eq(publish_rollback("relative", "web", &e), -EINVAL);
	free(copy);
}
END_TEST

START_TEST(test_recover_nothing)
{
	enum publish_recovery r = PUBLISH_RECOVERY_COMPLETED;
	struct err e = {""};

	/* No generations directory at all. */
	ck_assert_int_eq(publish_recover(state, "web", &r, &e), 0);
	ck_assert_int_eq(r, PUBLISH_RECOVERY_NOTHING);
	ck_assert_int_eq(publish_gen(1, &e), 0);
	ck_assert_int_eq(recover(), PUBLISH_RECOVERY_NOTHING);
	assert_gen(1);
	ck_assert_str_eq(publish_recovery_str(PUBLISH_RECOVERY_ROLLED_BACK), "rolled back");
}
END_TEST

/* Crash points of a two-file publication: after 0 or 1 renames. */
START_TEST(test_recover_completes)
{
	struct err e = {""};

	ck_assert_int_eq(publish_gen(1, &e), 0);
	publish_test_crash_after = _i;
	ck_assert_int_eq(publish_gen(2, &e), -EINTR);
	ck_assert(intent_exists());
	ck_assert_uint_eq(count_temps(dir), 2 - (unsigned)_i);
	/* The set is busy until recovered. */
	publish_test_crash_after = -1;
	ck_assert_int_eq(publish_gen(3, &e), -EBUSY);
	ck_assert_int_eq(publish_rollback(state, "web", &e), -EBUSY);

	ck_assert_int_eq(recover(), PUBLISH_RECOVERY_COMPLETED);
	assert_gen(2);
	/* And prev/ is still generation 1. */
	ck_assert_int_eq(publish_rollback(state, "web", &e), 0);
	assert_gen(1);
}
END_TEST

/* The same crash points, with the temporary not yet renamed lost or
 * damaged: every file goes back to generation 1. */
START_TEST(test_recover_rolls_back)
{
	struct err e = {""};
	char *tmp;
	FILE *f;
	int crash = _i / 2;
	bool damage = _i % 2 == 1;

	ck_assert_int_eq(publish_gen(1, &e), 0);
	publish_test_crash_after = crash;
	ck_assert_int_eq(publish_gen(2, &e), -EINTR);
	tmp = temp_of(crt);	/* the certificate is renamed second */
	ck_assert_ptr_nonnull(tmp);
	if (damage) {
		f = fopen(tmp, "a");
		ck_assert_ptr_nonnull(f);
		fputs("x", f);
		fclose(f);
	} else {
		ck_assert_int_eq(unlink(tmp), 0);
	}
	ck_assert_int_eq(recover(), PUBLISH_RECOVERY_ROLLED_BACK);
	assert_gen(1);
	free(tmp);
}
END_TEST

/* A first publication rolled back: the files did not exist before. */
START_TEST(test_recover_rolls_back_to_nothing)
{
	struct err e = {""};
	char *tmp;

	publish_test_crash_after = 1;
	ck_assert_int_eq(publish_gen(1, &e), -EINTR);
	assert_text(key, "KEY 1\n", 0600);
	tmp = temp_of(crt);
	ck_assert_int_eq(unlink(tmp), 0);
	ck_assert_int_eq(recover(), PUBLISH_RECOVERY_ROLLED_BACK);
	assert_absent(key);
	assert_absent(crt);
	free(tmp);
}
END_TEST

/* A crash during a rollback is finished by recovery: the set ends as the
 * previous generation either way. */
START_TEST(test_crash_during_rollback)
{
	struct err e = {""};
	enum publish_recovery r;

	ck_assert_int_eq(publish_gen(1, &e), 0);
	ck_assert_int_eq(publish_gen(2, &e), 0);
	publish_test_crash_after = _i;
	ck_assert_int_eq(publish_rollback(state, "web", &e), -EINTR);
	ck_assert(intent_exists());
	r = recover();
	ck_assert_int_eq(r, PUBLISH_RECOVERY_COMPLETED);
	assert_gen(1);
}
END_TEST

/* A crash during the rollback that recovery itself decided: the next
 * recovery finishes that rollback, never the abandoned publication. */
START_TEST(test_crash_during_recovery)
{
	enum publish_recovery r;
	struct err e = {""};
	char *tmp;

	ck_assert_int_eq(publish_gen(1, &e), 0);
	publish_test_crash_after = 1;
	ck_assert_int_eq(publish_gen(2, &e), -EINTR);
	tmp = temp_of(crt);
	ck_assert_int_eq(unlink(tmp), 0);
	/* Recovery rolls the key back: stop it before that rename. */
	publish_test_crash_after = 0;
	ck_assert_int_eq(publish_recover(state, "web", &r, &e), -EINTR);
	ck_assert(intent_exists());
	ck_assert_int_eq(recover(), PUBLISH_RECOVERY_COMPLETED);
	assert_gen(1);
	free(tmp);
}
END_TEST

/* Crash after staging but before the intent (no intent on disk): the
 * targets are untouched and recovery sweeps the set's temporaries only. */
START_TEST(test_sweep_stale_temps)
{
	char *stale = tu_path(dir, ".x.key.certd-AbC123");
	char *other = tu_path(dir, ".y.key.certd-AbC123");
	char *near = tu_path(dir, ".x.key.certd-AbC1234");
	struct err e = {""};

	ck_assert_int_eq(publish_gen(1, &e), 0);
	tu_write_file(stale, "KEY 2\n", 0600);
	tu_write_file(other, "other\n", 0600);
	tu_write_file(near, "near\n", 0600);
	publish_test_crash_after = -1;
	{
		enum publish_recovery r;

		ck_assert_int_eq(publish_recover(state, "web", &r, &e), 0);
		ck_assert_int_eq(r, PUBLISH_RECOVERY_NOTHING);
	}
	assert_absent(stale);
	ck_assert_int_eq(access(other, F_OK), 0);
	ck_assert_int_eq(access(near, F_OK), 0);
	assert_gen(1);
	free(stale);
	free(other);
	free(near);
}
END_TEST

/* A malformed intent is reported, not guessed at; one naming a file
 * outside the target's directory is refused. */
START_TEST(test_bad_intent)
{
	static const char *const bad[] = {
		"{",
		"{\"version\": 2, \"files\": []}",
		"{\"version\": 1, \"files\": [{\"path\": \"relative\"}]}",
		"{\"version\": 1, \"files\": [{\"path\": \"/etc/x\", \"tmp\": \"/tmp/.x.certd-aaaaaa\","
		" \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}]}",
		"{\"version\": 1, \"files\": [{\"path\": \"/etc/x\", \"tmp\": \"/etc/shadow\","
		" \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}]}",
	};
	enum publish_recovery r;
	struct err e = {""};
	char *intent;

	ck_assert_int_eq(publish_gen(1, &e), 0);
	intent = gen_path("intent.json");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_write_file(intent, bad[i], 0600);
		ck_assert_int_eq(publish_recover(state, "web", &r, &e), -EBADMSG);
		ck_assert_msg(strstr(e.msg, "intent.json") != NULL, "%s", e.msg);
	}
	assert_gen(1);
	free(intent);
}
END_TEST

/* Many generations with crashes at every point of publication and
 * rollback, temporaries sometimes lost: after each recovery the pair on
 * disk is one whole generation, the old or the new one. */
START_TEST(test_crash_storm)
{
	struct err e = {""};
	unsigned seed = 12345;
	int g, now = 1, crash, got;
	char *tmp;

	ck_assert_int_eq(publish_gen(1, &e), 0);
	for (g = 2; g < 60; g++) {
		seed = seed * 1103515245 + 12345;
		crash = (int)((seed >> 16) % 4) - 1;	/* -1: no crash, 0..2 */
		publish_test_crash_after = crash;
		if ((seed >> 20) % 5 == 0 && g > 2) {
			/* A probe failure: roll back instead of publishing. */
			int rc = publish_rollback(state, "web", &e);

			ck_assert_msg(rc == 0 || rc == -EINTR, "%d %s", rc, e.msg);
		} else {
			int rc = publish_gen(g, &e);

			ck_assert_msg(rc == 0 || rc == -EINTR, "%d %s", rc, e.msg);
		}
		if ((seed >> 24) % 3 == 0 && (tmp = temp_of(crt)) != NULL) {
			unlink(tmp);
			free(tmp);
		}
		recover();
		got = gen_on_disk();
		ck_assert_msg(got == g || got <= now, "generation %d on disk after %d", got, g);
		now = got;
		assert_mode(key, 0600);
		assert_mode(crt, 0644);
	}
}
END_TEST

static void
assert_owner(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, uid);
	ck_assert_uint_eq(st.st_gid, gid);
}

START_TEST(test_owner_restored_as_root)
{
	struct publish_file f[2];
	struct err e = {""};
	json_t *m;

	if (geteuid() != 0) {
		fprintf(stderr, "check_publish_gen: owner case skipped (needs root)\n");
		return;
	}
	f[0] = pf(key, "KEY 1\n", 0640);
	f[0].uid = NOBODY;
	f[0].gid = NOBODY;
	f[1] = pf(crt, "CRT 1\n", 0644);
	ck_assert_int_eq(publish_set_durable(state, "web", f, 2, NULL, &e), 0);
	ck_assert_int_eq(publish_gen(2, &e), 0);
	assert_owner(key, geteuid(), getegid());
	m = manifest();
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_array_get(json_object_get(m, "files"), 0), "uid")), NOBODY);
	json_decref(m);
	ck_assert_int_eq(publish_rollback(state, "web", &e), 0);
	assert_text(key, "KEY 1\n", 0640);
	assert_owner(key, NOBODY, NOBODY);
	assert_owner(crt, geteuid(), getegid());
}
END_TEST

#ifdef __linux__
/* A rename that really fails part-way (the certificate is immutable):
 * the key already replaced is put back at once, no intent stays. */
START_TEST(test_rename_fails_rolls_back)
{
	struct err e = {""};
	int fd, flags = 0, rc;

	ck_assert_int_eq(publish_gen(1, &e), 0);
	fd = open(crt, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ne(fd, -1);
	if (geteuid() != 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0 ||
	    (flags |= FS_IMMUTABLE_FL, ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0)) {
		fprintf(stderr, "check_publish_gen: rename-fails case skipped "
			"(needs root and the immutable flag)\n");
		close(fd);
		return;
	}
	rc = publish_gen(2, &e);
	flags &= ~FS_IMMUTABLE_FL;
	ck_assert_int_eq(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
	close(fd);
	ck_assert_int_eq(rc, -EPERM);
	ck_assert_msg(strstr(e.msg, "rename into place: Operation not permitted") != NULL &&
		      strstr(e.msg, "the previous files were restored") != NULL, "%s", e.msg);
	assert_gen(1);
	ck_assert(!intent_exists());
	ck_assert_uint_eq(count_temps(dir), 0);
}
END_TEST
#endif

static Suite *
gen_suite(void)
{
	Suite *s = suite_create("publish_gen");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_prev_captured);
	tcase_add_test(tc, test_partial_change_and_rollback);
	tcase_add_test(tc, test_rollback_restores);
	tcase_add_test(tc, test_rollback_removes_new_file);
	tcase_add_test(tc, test_rollback_errors);
	tcase_add_test(tc, test_recover_nothing);
	tcase_add_loop_test(tc, test_recover_completes, 0, 2);
	tcase_add_loop_test(tc, test_recover_rolls_back, 0, 4);
	tcase_add_test(tc, test_recover_rolls_back_to_nothing);
	tcase_add_loop_test(tc, test_crash_during_rollback, 0, 2);
	tcase_add_test(tc, test_crash_during_recovery);
	tcase_add_test(tc, test_sweep_stale_temps);
	tcase_add_test(tc, test_bad_intent);
	tcase_add_test(tc, test_crash_storm);
	tcase_add_test(tc, test_owner_restored_as_root);
#ifdef __linux__
	tcase_add_test(tc, test_rename_fails_rolls_back);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(gen_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
