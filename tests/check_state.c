/*
 * check_state.c — state records on a real file system (what an operator
 * would find in <state_dir>/certs/: content, modes, no leftovers) and the
 * request fingerprint (which config changes re-issue and which do not).
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"
#include "state.h"
#include "testutil.h"
#include "xalloc.h"

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

static char *
record_path(const char *name)
{
	return xasprintf("%s/certs/%s.json", dir, name);
}

/* Everything in certs/ except the records themselves. */
static unsigned
count_strays(void)
{
	char *d = tu_path(dir, "certs");
	DIR *dh = opendir(d);
	struct dirent *de;
	unsigned n = 0;
	size_t len;

	ck_assert_msg(dh != NULL, "opendir %s", d);
	while ((de = readdir(dh)) != NULL) {
		len = strlen(de->d_name);
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			n++;
	}
	closedir(dh);
	free(d);
	return n;
}

static void
assert_mode(const char *path, mode_t want)
{
	struct stat st;

	ck_assert_msg(lstat(path, &st) == 0, "stat %s", path);
	ck_assert_msg((st.st_mode & 07777) == want, "%s: mode %04o, want %04o", path,
		      (unsigned)(st.st_mode & 07777), (unsigned)want);
}

static void
fill_record(struct state_record *r)
{
	json_error_t jerr;

	memset(r, 0, sizeof(*r));
	snprintf(r->serial, sizeof(r->serial), "%s", "3a:7f:00:12:9c");
	r->not_before = 1700000000;
	r->not_after = 1702592000;
	snprintf(r->request_fp, sizeof(r->request_fp), "%s",
		 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	r->last_success = 1700000100;
	r->last_attempt = 1700000200;
	r->last_issued = 1700000050;
	r->issued_total = 42;
	r->failures = 3;
	snprintf(r->last_error, sizeof(r->last_error), "%s",
		 "vault-pki: permission denied (\"pki/sign/web\")");
	r->issuer_state = json_loads("{\"order\": 1234, \"ids\": [\"a\", \"b\"], "
				     "\"nested\": {\"x\": null}}", 0, &jerr);
	ck_assert_ptr_nonnull(r->issuer_state);
}

START_TEST(test_round_trip)
{
	struct state_record w, r;
	struct err e = {""};
	char *path = record_path("web"), *certs = tu_path(dir, "certs"), *text;

	fill_record(&w);
	ck_assert_int_eq(state_save(dir, "web", &w, &e), 0);
	assert_mode(path, 0600);
	assert_mode(certs, 0700);
	ck_assert_uint_eq(count_strays(), 0);

	text = tu_read_file(path, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "\"version\": 1"));
	ck_assert_ptr_nonnull(strstr(text, "\"serial\": \"3a:7f:00:12:9c\""));
	free(text);

	memset(&r, 0xa5, sizeof(r));
	ck_assert_int_eq(state_load(dir, "web", &r, &e), 0);
	ck_assert_str_eq(r.serial, w.serial);
	ck_assert_int_eq(r.not_before, w.not_before);
	ck_assert_int_eq(r.not_after, w.not_after);
	ck_assert_str_eq(r.request_fp, w.request_fp);
	ck_assert_int_eq(r.last_success, w.last_success);
	ck_assert_int_eq(r.last_attempt, w.last_attempt);
	ck_assert_int_eq(r.last_issued, w.last_issued);
	ck_assert_uint_eq(r.issued_total, 42);
	ck_assert_uint_eq(r.failures, 3);
	ck_assert_str_eq(r.last_error, w.last_error);
	ck_assert_ptr_nonnull(r.issuer_state);
	ck_assert(json_equal(r.issuer_state, w.issuer_state));

	/* Saving again replaces the record, still with nothing left over. */
	r.failures = 0;
	r.last_error[0] = '\0';
	json_decref(r.issuer_state);
	r.issuer_state = NULL;
	ck_assert_int_eq(state_save(dir, "web", &r, &e), 0);
	state_record_clear(&r);
	ck_assert_int_eq(state_load(dir, "web", &r, &e), 0);
	ck_assert_uint_eq(r.failures, 0);
	ck_assert_str_eq(r.last_error, "");
	ck_assert_ptr_null(r.issuer_state);
	ck_assert_str_eq(r.serial, w.serial);
	assert_mode(path, 0600);
	ck_assert_uint_eq(count_strays(), 0);

	state_record_clear(&r);
	state_record_clear(&w);
	free(certs);
	free(path);
}
END_TEST

START_TEST(test_extremes_round_trip)
{
	struct state_record w, r;
	struct err e = {""};

	memset(&w, 0, sizeof(w));
	memset(w.serial, 'f', sizeof(w.serial) - 1);
	w.not_before = INT64_MIN;
	w.not_after = INT64_MAX;
	w.issued_total = (uint64_t)INT64_MAX;
	w.failures = UINT_MAX;
	memset(w.last_error, 'x', sizeof(w.last_error) - 1);
	ck_assert_int_eq(state_save(dir, "a-B_9", &w, &e), 0);
	ck_assert_int_eq(state_load(dir, "a-B_9", &r, &e), 0);
	ck_assert_str_eq(r.serial, w.serial);
	ck_assert_int_eq(r.not_before, INT64_MIN);
	ck_assert_int_eq(r.not_after, INT64_MAX);
	ck_assert_uint_eq(r.issued_total, (uint64_t)INT64_MAX);
	ck_assert_uint_eq(r.failures, UINT_MAX);
	ck_assert_str_eq(r.last_error, w.last_error);
	state_record_clear(&r);
}
END_TEST

/* A CA's reason is untrusted bytes and a message cut at 511 bytes can end
 * in half a character: the record is still written, readable, with '?'. */
START_TEST(test_invalid_utf8_error_text)
{
	struct state_record w, r;
	struct err e = {""};

	memset(&w, 0, sizeof(w));
	snprintf(w.last_error, sizeof(w.last_error), "bad \xff byte, caf\xc3\xa9, cut \xc3");
	ck_assert_int_eq(state_save(dir, "web", &w, &e), 0);
	ck_assert_int_eq(state_load(dir, "web", &r, &e), 0);
	ck_assert_str_eq(r.last_error, "bad ? byte, caf\xc3\xa9, cut ?");
	state_record_clear(&r);
}
END_TEST

START_TEST(test_missing_file)
{
	struct state_record r;
	struct err e = {""};
	char *path = record_path("web");

	memset(&r, 0x5a, sizeof(r));
	ck_assert_int_eq(state_load(dir, "web", &r, &e), -ENOENT);
	ck_assert_ptr_nonnull(strstr(e.msg, path));
	ck_assert_str_eq(r.serial, "");
	ck_assert_int_eq(r.not_after, 0);
	ck_assert_uint_eq(r.issued_total, 0);
	ck_assert_uint_eq(r.failures, 0);
	ck_assert_ptr_null(r.issuer_state);
	state_record_clear(&r);
	free(path);
}
END_TEST

static void
write_record(const char *name, const char *text)
{
	char *certs = tu_path(dir, "certs"), *path = record_path(name);

	ck_assert_int_eq(mkdir(certs, 0700), 0);
	tu_write_file(path, text, 0600);
	free(path);
	free(certs);
}

static const char *const damaged[] = {
	"",
	"{",
	"{\"version\": 1, \"serial\": \"ab\"",
	"not json at all",
	"\x89PNG\r\n",
	"{\"version\": 1, \"serial\": \"a\", \"serial\": \"b\"}",
	"[{\"version\": 1}]",
	"\"version\"",
	"null",
};

START_TEST(test_damaged)
{
	struct state_record r;
	struct err e = {""};
	char *path = record_path("web");

	write_record("web", damaged[_i]);
	memset(&r, 0x5a, sizeof(r));
	ck_assert_int_eq(state_load(dir, "web", &r, &e), -EBADMSG);
	ck_assert_msg(strncmp(e.msg, path, strlen(path)) == 0 && e.msg[strlen(path)] == ':',
		      "message does not start with the path: %s", e.msg);
	ck_assert_str_eq(r.serial, "");
	ck_assert_ptr_null(r.issuer_state);

	/* The next save replaces the damaged record. */
	r.failures = 1;
	ck_assert_int_eq(state_save(dir, "web", &r, &e), 0);
	ck_assert_int_eq(state_load(dir, "web", &r, &e), 0);
	ck_assert_uint_eq(r.failures, 1);
	state_record_clear(&r);
	free(path);
}
END_TEST

static const struct {
	const char *field;
	const char *json;
} wrong[] = {
	{"serial", "{\"version\": 1, \"serial\": 12}"},
	{"serial", "{\"version\": 1, \"serial\": [\"ab\"]}"},
	{"not_before", "{\"version\": 1, \"not_before\": \"1700000000\"}"},
	{"not_after", "{\"version\": 1, \"not_after\": 1.5}"},
	{"request_fp", "{\"version\": 1, \"request_fp\": true}"},
	{"request_fp", "{\"version\": 1, \"request_fp\": \"abc\"}"},
	{"request_fp", "{\"version\": 1, \"request_fp\": "
		       "\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}"},
	{"last_success", "{\"version\": 1, \"last_success\": {}}"},
	{"last_attempt", "{\"version\": 1, \"last_attempt\": false}"},
	{"last_issued", "{\"version\": 1, \"last_issued\": \"x\"}"},
	{"issued_total", "{\"version\": 1, \"issued_total\": -1}"},
	{"failures", "{\"version\": 1, \"failures\": 4294967296}"},
	{"failures", "{\"version\": 1, \"failures\": -2}"},
	{"last_error", "{\"version\": 1, \"last_error\": 5}"},
	{"issuer_state", "{\"version\": 1, \"issuer_state\": [1, 2]}"},
	{"issuer_state", "{\"version\": 1, \"issuer_state\": \"id\"}"},
	{"version", "{\"serial\": \"ab\"}"},
	{"version", "{\"version\": \"1\"}"},
	{"version", "{\"version\": 2}"},
};

START_TEST(test_wrong_type)
{
	struct state_record r;
	struct err e = {""};
	char *path = record_path("web"), *quoted = xasprintf("\"%s\"", wrong[_i].field);

	write_record("web", wrong[_i].json);
	ck_assert_int_eq(state_load(dir, "web", &r, &e), -EBADMSG);
	ck_assert_msg(strstr(e.msg, path) != NULL, "no path in: %s", e.msg);
	ck_assert_msg(strstr(e.msg, quoted) != NULL, "no field %s in: %s", quoted, e.msg);
	ck_assert_str_eq(r.serial, "");
	ck_assert_ptr_null(r.issuer_state);
	free(quoted);
	free(path);
}
END_TEST

START_TEST(test_too_long_serial)
{
	struct state_record r;
	struct err e = {""};
	struct buf b = BUF_INIT;
	size_t i;

	buf_puts(&b, "{\"version\": 1, \"serial\": \"");
	for (i = 0; i < sizeof(r.serial); i++)
		buf_putc(&b, 'a');
	buf_puts(&b, "\"}");
	write_record("web", buf_str(&b));
	ck_assert_int_eq(state_load(dir, "web", &r, &e), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(e.msg, "\"serial\""));
	buf_free(&b);
}
END_TEST

START_TEST(test_unknown_and_missing_fields)
{
	struct state_record r;
	struct err e = {""};

	write_record("web", "{\"version\": 1, \"not_after\": 1702592000, "
		     "\"from_the_future\": {\"a\": [1]}, \"serial\": null, "
		     "\"issuer_state\": null}");
	ck_assert_int_eq(state_load(dir, "web", &r, &e), 0);
	ck_assert_int_eq(r.not_after, 1702592000);
	ck_assert_str_eq(r.serial, "");
	ck_assert_str_eq(r.request_fp, "");
	ck_assert_uint_eq(r.issued_total, 0);
	ck_assert_ptr_null(r.issuer_state);
	state_record_clear(&r);
}
END_TEST

static const char *const bad_names[] = {
	"", "../web", "web/../../etc", "a/b", ".", "..", "web.json", "web ", "w\xc3\xa9",
	"web\n", "*",
};

START_TEST(test_bad_name)
{
	struct state_record r;
	struct err e = {""};
	char *certs = tu_path(dir, "certs");
	struct stat st;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(state_save(dir, bad_names[_i], &r, &e), -EINVAL);
	ck_assert_int_eq(state_load(dir, bad_names[_i], &r, &e), -EINVAL);
	ck_assert_int_eq(state_remove(dir, bad_names[_i], &e), -EINVAL);
	/* Nothing was touched, not even the directory. */
	ck_assert_int_eq(lstat(certs, &st), -1);
	free(certs);
}
END_TEST

START_TEST(test_bad_args)
{
	struct state_record r;
	struct err e = {""};

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(state_save(dir, NULL, &r, &e), -EINVAL);
	ck_assert_int_eq(state_save("relative/dir", "web", &r, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "relative/dir"));
	ck_assert_int_eq(state_load("", "web", &r, &e), -EINVAL);
	r.issuer_state = json_array();
	ck_assert_int_eq(state_save(dir, "web", &r, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "issuer_state"));
	state_record_clear(&r);
}
END_TEST

START_TEST(test_creates_state_dir)
{
	struct state_record r;
	struct err e = {""};
	char *sd = xasprintf("%s/var/lib/certd/", dir), *p;

	memset(&r, 0, sizeof(r));
	r.failures = 7;
	ck_assert_int_eq(state_save(sd, "web", &r, &e), 0);
	p = xasprintf("%s/var/lib/certd/certs", dir);
	assert_mode(p, 0700);
	free(p);
	p = xasprintf("%s/var/lib/certd/certs/web.json", dir);
	assert_mode(p, 0600);
	free(p);
	ck_assert_int_eq(state_load(sd, "web", &r, &e), 0);
	ck_assert_uint_eq(r.failures, 7);
	free(sd);
}
END_TEST

START_TEST(test_save_fails)
{
	struct state_record r;
	struct err e = {""};
	char *certs = tu_path(dir, "certs");

	/* certs/ is a file: nothing can be written, and the error says where. */
	tu_write_file(certs, "x", 0600);
	memset(&r, 0, sizeof(r));
	ck_assert_int_lt(state_save(dir, "web", &r, &e), 0);
	ck_assert_msg(strstr(e.msg, certs) != NULL, "no path in: %s", e.msg);
	free(certs);
}
END_TEST

START_TEST(test_remove)
{
	struct state_record r;
	struct err e = {""};
	char *path = record_path("web");
	struct stat st;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(state_save(dir, "web", &r, &e), 0);
	ck_assert_int_eq(state_save(dir, "api", &r, &e), 0);
	ck_assert_int_eq(state_remove(dir, "web", &e), 0);
	ck_assert_int_eq(lstat(path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(state_load(dir, "web", &r, &e), -ENOENT);
	ck_assert_int_eq(state_load(dir, "api", &r, &e), 0);
	/* Already gone, or never there (not even certs/): not an error. */
	ck_assert_int_eq(state_remove(dir, "web", &e), 0);
	tu_rm_rf(dir);
	ck_assert_int_eq(state_remove(dir, "web", &e), 0);
	free(path);
}
END_TEST

/* ---- fingerprint ---- */

static char *dns_ab[] = {"a.example.com", "b.example.com"};
static char *dns_ba[] = {"b.example.com", "a.example.com"};
static char *dns_bab[] = {"b.example.com", "a.example.com", "b.example.com"};
static char *dns_abc[] = {"a.example.com", "b.example.com", "c.example.com"};
static char *ips_12[] = {"10.0.0.1", "192.0.2.7"};
static char *ips_21[] = {"192.0.2.7", "10.0.0.1"};
static char *ips_1[] = {"10.0.0.1"};
static char *uris_1[] = {"spiffe://example/web"};
static char *uris_2[] = {"spiffe://example/web", "spiffe://example/api"};
static char *moved_a[] = {"a.example.com"};
static char *moved_b[] = {"b.example.com", "spiffe://example/web"};
static char *smuggled[] = {"a.example.com\n - b.example.com"};

static struct conf_cert
base_cert(void)
{
	struct conf_cert cc;

	memset(&cc, 0, sizeof(cc));
	cc.name = "web";
	cc.issuer = "vault-pki";
	cc.issuer_kind = CONF_ISSUER_VAULT_PKI;
	cc.common_name = "web.example.com";
	cc.alt_names.v = dns_ab;
	cc.alt_names.n = 2;
	cc.ip_sans.v = ips_12;
	cc.ip_sans.n = 2;
	cc.uri_sans.v = uris_1;
	cc.uri_sans.n = 1;
	cc.ttl = 86400;
	cc.key_type_name = "ec";
	cc.key_type = X509_KEY_EC_P256;
	cc.mount = "pki";
	cc.role = "web";
	cc.pki_mode_name = "sign";
	cc.pki_mode = CONF_PKI_SIGN;
	cc.cert_path = "/etc/ssl/web.crt";
	cc.key_path = "/etc/ssl/web.key";
	cc.mode = 0644;
	cc.key_mode = 0600;
	cc.owner.uid = (uid_t)-1;
	cc.owner.gid = (gid_t)-1;
	cc.renew_at_percent = 67;
	cc.jitter_percent = 5;
	return cc;
}

static void
fp(const struct conf_cert *cc, char out[65])
{
	size_t i;

	memset(out, 'Z', 65);
	state_request_fingerprint(cc, out);
	ck_assert_uint_eq(strlen(out), 64);
	for (i = 0; i < 64; i++)
		ck_assert_msg((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'),
			      "not lower-case hex: %s", out);
}

START_TEST(test_fp_stable)
{
	struct conf_cert a = base_cert(), b = base_cert();
	char fa[65], fb[65];

	fp(&a, fa);
	fp(&a, fb);
	ck_assert_str_eq(fa, fb);

	/* Equal content in different storage and order. */
	b.common_name = xstrdup("web.example.com");
	b.alt_names.v = dns_ba;
	b.ip_sans.v = ips_21;
	fp(&b, fb);
	ck_assert_str_eq(fa, fb);
	/* A name listed twice asks for the same certificate. */
	b.alt_names.v = dns_bab;
	b.alt_names.n = 3;
	fp(&b, fb);
	ck_assert_str_eq(fa, fb);
	free(b.common_name);
}
END_TEST

/* Each change of a covered field must re-issue. */
static void
mut_issuer(struct conf_cert *c)
{
	c->issuer_kind = CONF_ISSUER_LOCAL;
	c->issuer = "local";
}

static void
mut_cn(struct conf_cert *c)
{
	c->common_name = "api.example.com";
}

static void
mut_cn_null(struct conf_cert *c)
{
	c->common_name = NULL;
}

static void
mut_cn_empty(struct conf_cert *c)
{
	c->common_name = "";
}

static void
mut_dns_add(struct conf_cert *c)
{
	c->alt_names.v = dns_abc;
	c->alt_names.n = 3;
}

static void
mut_dns_drop(struct conf_cert *c)
{
	c->alt_names.n = 1;
}

static void
mut_ip(struct conf_cert *c)
{
	c->ip_sans.v = ips_1;
	c->ip_sans.n = 1;
}

static void
mut_uri(struct conf_cert *c)
{
	c->uri_sans.v = uris_2;
	c->uri_sans.n = 2;
}

static void
mut_uri_none(struct conf_cert *c)
{
	c->uri_sans.n = 0;
}

static void
mut_exclude(struct conf_cert *c)
{
	c->exclude_cn_from_sans = true;
}

static void
mut_key(struct conf_cert *c)
{
	c->key_type = X509_KEY_RSA_2048;
	c->key_type_name = "rsa";
}

static void
mut_key_bits(struct conf_cert *c)
{
	c->key_type = X509_KEY_EC_P384;
	c->key_bits = 384;
}

static void
mut_ttl(struct conf_cert *c)
{
	c->ttl = 86401;
}

static void
mut_mount(struct conf_cert *c)
{
	c->mount = "pki_int";
}

static void
mut_role(struct conf_cert *c)
{
	c->role = "web2";
}

static void
mut_mode(struct conf_cert *c)
{
	c->pki_mode = CONF_PKI_ISSUE;
	c->pki_mode_name = "issue";
}

/* The same strings in other lists: framing must keep them apart. */
static void
mut_moved(struct conf_cert *c)
{
	c->alt_names.v = moved_a;
	c->alt_names.n = 1;
	c->uri_sans.v = moved_b;
	c->uri_sans.n = 2;
}

/* One value that spells two in a naive text: the lengths keep them apart. */
static void
mut_smuggled(struct conf_cert *c)
{
	c->alt_names.v = smuggled;
	c->alt_names.n = 1;
}

static const struct {
	const char *what;
	void (*mut)(struct conf_cert *);
} covered[] = {
	{"issuer", mut_issuer},
	{"common_name", mut_cn},
	{"common_name unset", mut_cn_null},
	{"common_name empty", mut_cn_empty},
	{"alt_names added", mut_dns_add},
	{"alt_names dropped", mut_dns_drop},
	{"ip_sans", mut_ip},
	{"uri_sans", mut_uri},
	{"uri_sans none", mut_uri_none},
	{"exclude_cn_from_sans", mut_exclude},
	{"key_type", mut_key},
	{"key_bits", mut_key_bits},
	{"ttl", mut_ttl},
	{"mount", mut_mount},
	{"role", mut_role},
	{"pki_mode", mut_mode},
	{"name moved between lists", mut_moved},
	{"two names smuggled in one", mut_smuggled},
};

START_TEST(test_fp_covered)
{
	struct conf_cert a = base_cert(), b = base_cert();
	char fa[65], fb[65];

	fp(&a, fa);
	covered[_i].mut(&b);
	fp(&b, fb);
	ck_assert_msg(strcmp(fa, fb) != 0, "%s: fingerprint did not change", covered[_i].what);
}
END_TEST

/* CN unset and CN empty are different requests, too. */
START_TEST(test_fp_cn_null_vs_empty)
{
	struct conf_cert a = base_cert(), b = base_cert();
	char fa[65], fb[65];

	a.common_name = NULL;
	b.common_name = "";
	fp(&a, fa);
	fp(&b, fb);
	ck_assert_str_ne(fa, fb);
}
END_TEST

static struct conf_output outs[1];

/* Re-rendered, not re-issued. */
static void
nc_paths(struct conf_cert *c)
{
	c->cert_path = "/srv/web.crt";
	c->key_path = "/srv/web.key";
	c->chain_path = "/srv/chain.pem";
	c->fullchain_path = "/srv/full.pem";
}
static void
nc_modes(struct conf_cert *c)
{
	c->mode = 0640;
	c->key_mode = 0400;
}

static void
nc_owner(struct conf_cert *c)
{
	c->owner_name = "www-data";
	c->group_name = "ssl-cert";
	c->owner.uid = 33;
	c->owner.gid = 110;
}
static void
nc_timing(struct conf_cert *c)
{
	c->renew_before = 3600;
	c->renew_at_percent = 50;
	c->jitter_percent = 0;
}
static void
nc_anchor(struct conf_cert *c)
{
	c->trust_anchor = "/etc/ssl/root.pem";
}

static void
nc_outputs(struct conf_cert *c)
{
	outs[0].name = "bundle";
	outs[0].path = "/srv/bundle.pem";
	outs[0].mode = 0600;
	c->outputs = outs;
	c->n_outputs = 1;
}
static void
nc_name(struct conf_cert *c)
{
	c->name = "web2";
	c->file = "/etc/certd.conf.d/x.conf";
	c->line = 9;
}

static void
nc_issuer_text(struct conf_cert *c)
{
	c->issuer = "VAULT-PKI";
}

/* The role picks the key in issue mode: key_type is not sent. */
static void
nc_key_issue_mode(struct conf_cert *c)
{
	c->pki_mode = CONF_PKI_ISSUE;
	c->key_type = X509_KEY_RSA_4096;
}

static const struct {
	const char *what;
	void (*base)(struct conf_cert *);   /* applied to both, may be NULL */
	void (*mut)(struct conf_cert *);
} not_covered[] = {
	{"output paths", NULL, nc_paths},
	{"modes", NULL, nc_modes},
	{"owner", NULL, nc_owner},
	{"renewal timing", NULL, nc_timing},
	{"trust_anchor", NULL, nc_anchor},
	{"template outputs", NULL, nc_outputs},
	{"section name and location", NULL, nc_name},
	{"issuer spelling", NULL, nc_issuer_text},
	{"key type in issue mode", mut_mode, nc_key_issue_mode},
	{"mount for the local CA", mut_issuer, mut_mount},
	{"role for the local CA", mut_issuer, mut_role},
	{"pki_mode for the local CA", mut_issuer, mut_mode},
};

START_TEST(test_fp_not_covered)
{
	struct conf_cert a = base_cert(), b = base_cert();
	char fa[65], fb[65];

	if (not_covered[_i].base != NULL) {
		not_covered[_i].base(&a);
		not_covered[_i].base(&b);
	}
	fp(&a, fa);
	not_covered[_i].mut(&b);
	fp(&b, fb);
	ck_assert_msg(strcmp(fa, fb) == 0, "%s: fingerprint changed", not_covered[_i].what);
}
END_TEST

/* The local CA generates the key here: its type is part of the request. */
START_TEST(test_fp_local_key_type)
{
	struct conf_cert a = base_cert(), b = base_cert();
	char fa[65], fb[65];

	mut_issuer(&a);
	mut_issuer(&b);
	b.key_type = X509_KEY_ED25519;
	fp(&a, fa);
	fp(&b, fb);
	ck_assert_str_ne(fa, fb);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("records");
	TCase *tf = tcase_create("fingerprint");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_extremes_round_trip);
	tcase_add_test(tc, test_invalid_utf8_error_text);
	tcase_add_test(tc, test_missing_file);
	tcase_add_loop_test(tc, test_damaged, 0, N(damaged));
	tcase_add_loop_test(tc, test_wrong_type, 0, N(wrong));
	tcase_add_test(tc, test_too_long_serial);
	tcase_add_test(tc, test_unknown_and_missing_fields);
	tcase_add_loop_test(tc, test_bad_name, 0, N(bad_names));
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_creates_state_dir);
	tcase_add_test(tc, test_save_fails);
	tcase_add_test(tc, test_remove);
	suite_add_tcase(s, tc);

	tcase_add_test(tf, test_fp_stable);
	tcase_add_loop_test(tf, test_fp_covered, 0, N(covered));
	tcase_add_test(tf, test_fp_cn_null_vs_empty);
	tcase_add_loop_test(tf, test_fp_not_covered, 0, N(not_covered));
	tcase_add_test(tf, test_fp_local_key_type);
	suite_add_tcase(s, tf);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(state_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
