/*
 * check_issuer_local.c — the embedded CA through the issuer interface, on
 * a real event loop: creation on first use (key 0600), what it signs, the
 * max_ttl clamp, refusals, the exactly-once / never-synchronous callback,
 * cancellation, and reuse of the CA by a second instance.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "issuer.h"
#include "testutil.h"
#include "x509.h"
#include "xalloc.h"

static char *dir;
static struct event_base *base;

struct outcome {
	int calls;
	struct issuer_result *res;
};

static void
setup(void)
{
	dir = tu_mkdtemp();
	base = event_base_new();
}

static void
teardown(void)
{
	event_base_free(base);
	tu_rm_rf(dir);
	free(dir);
}

static void
on_done(struct issuer_result *res, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	issuer_result_free(o->res);
	o->res = res;
}

static struct issuer *
new_ca(int64_t max_ttl)
{
	struct conf_local_ca cfg = {.common_name = "test local CA", .max_ttl = max_ttl, .ca_ttl = 86400 * 10};
	struct issuer *iss = NULL;
	struct err e = {{0}};

	ck_assert_int_eq(issuer_local_new(base, dir, &cfg, &iss, &e), 0);
	return iss;
}

static X509_REQ *
make_csr(const char *cn, const char *const *dns, size_t n_dns, EVP_PKEY **key_out)
{
	struct x509_names names = {.common_name = cn, .dns = dns, .n_dns = n_dns};
	struct err e = {{0}};
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;

	ck_assert_int_eq(x509_key_generate(X509_KEY_EC_P256, &key, &e), 0);
	ck_assert_int_eq(x509_csr_create(key, &names, false, &req, &e), 0);
	*key_out = key;
	return req;
}

static struct outcome
run(struct issuer *iss, const struct issuer_request *req)
{
	struct outcome o = {0};

	issuer_start(iss, req, on_done, &o);
	/* never from inside issuer_start */
	ck_assert_int_eq(o.calls, 0);
	event_base_dispatch(base);
	ck_assert_int_eq(o.calls, 1);
	return o;
}

START_TEST(test_first_use_creates_ca_and_signs)
{
	static const char *const dns[] = {"www.example.com", "example.com"};
	struct issuer *iss = new_ca(86400);
	EVP_PKEY *key;
	X509_REQ *csr = make_csr("www.example.com", dns, 2, &key);
	struct x509_names want = {.common_name = "www.example.com", .dns = dns, .n_dns = 2};
	struct issuer_request req = {.cert_name = "web", .names = want, .ttl = 3600, .csr = csr};
	char *ca_dir = tu_path(dir, "local-ca"), *key_path = tu_path(dir, "local-ca/ca.key");
	char *log_path = tu_path(dir, "local-ca/issued.log"), *log, serial[128];
	struct err e = {{0}};
	struct stat st;
	struct outcome o;
	time_t nb, na, now = time(NULL);
	STACK_OF(X509) *anchors;

	/* Nothing exists before the first request, and asking for the
	 * anchors creates nothing: without a CA they are unknown (NULL), so
	 * certificates in place are not judged against a CA that never
	 * signed them (a lost state_dir must not replace a valid set). */
	ck_assert_int_eq(stat(ca_dir, &st), -1);
	ck_assert_ptr_null(issuer_anchors(iss, NULL));
	ck_assert_int_eq(stat(ca_dir, &st), -1);

	o = run(iss, &req);
	ck_assert_int_eq(o.res->outcome, ISSUER_ISSUED);
	/* Creating the CA is said once, with the issuance that caused it. */
	ck_assert_msg(strstr(o.res->warning, "created a new local CA in ") != NULL &&
		      strstr(o.res->warning, "/local-ca/ca.crt") != NULL, "%s", o.res->warning);
	ck_assert_int_eq(stat(key_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(ca_dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(x509_key_matches_cert(key, o.res->cert, &e), 0);
	ck_assert_msg(x509_verify_chain(o.res->cert, o.res->chain, o.res->anchors, 0, &e) == 0, "%s",
		      e.msg);
	ck_assert_msg(x509_check_names(o.res->cert, &want, false, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(x509_lifetime(o.res->cert, &nb, &na, &e), 0);
	ck_assert_int_le(na - now, 3600);
	ck_assert_int_ge(na - now, 3590);
	ck_assert_int_le(nb, now - 29); /* backdated 30 s for a 1 h certificate */
	/* the serial is on record */
	x509_serial_string(o.res->cert, serial, sizeof(serial));
	log = tu_read_file(log_path, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, serial) != NULL && strstr(log, " web\n") != NULL, "log: %s", log);
	/* now the CA verifies its certificates */
	anchors = issuer_anchors(iss, NULL);
	ck_assert_int_eq(sk_X509_num(anchors), 1);
	ck_assert_int_eq(x509_verify_chain(o.res->cert, NULL, anchors, 0, &e), 0);
	x509_chain_free(anchors);
	issuer_result_free(o.res);
	/* The next issuance by the same CA says nothing. */
	o = run(iss, &req);
	ck_assert_int_eq(o.res->outcome, ISSUER_ISSUED);
	ck_assert_str_eq(o.res->warning, "");

	issuer_result_free(o.res);
	issuer_free(iss);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	free(ca_dir);
	free(key_path);
	free(log_path);
	free(log);
}
END_TEST

START_TEST(test_ttl_clamped_to_max)
{
	static const char *const dns[] = {"a.example"};
	struct issuer *iss = new_ca(600);
	EVP_PKEY *key;
	X509_REQ *csr = make_csr(NULL, dns, 1, &key);
	struct issuer_request req = {.cert_name = "a", .names = {.dns = dns, .n_dns = 1},
				     .ttl = 86400, .csr = csr};
	struct outcome o = run(iss, &req);
	time_t nb, na, now = time(NULL);

	ck_assert_int_eq(o.res->outcome, ISSUER_ISSUED);
	ck_assert_ptr_nonnull(strstr(o.res->warning, "max_ttl"));
	ck_assert_int_eq(x509_lifetime(o.res->cert, &nb, &na, NULL), 0);
	ck_assert_int_le(na - now, 600);
	ck_assert_int_ge(na - now, 590);
	issuer_result_free(o.res);
	issuer_free(iss);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_refusals)
{
	static const char *const dns[] = {"a.example"};
	struct issuer *iss = new_ca(600);
	EVP_PKEY *key, *other;
	X509_REQ *csr = make_csr(NULL, dns, 1, &key);
	struct issuer_request req = {.cert_name = "a", .names = {.dns = dns, .n_dns = 1}, .ttl = 60};
	struct outcome o;
	struct err e = {{0}};

	/* no CSR: the local CA does not generate keys */
	o = run(iss, &req);
	ck_assert_int_eq(o.res->outcome, ISSUER_REJECTED);
	ck_assert_ptr_nonnull(strstr(o.res->reason, "signs CSRs only"));
	issuer_result_free(o.res);

	/* a CSR whose signature does not match its public key */
	ck_assert_int_eq(x509_key_generate(X509_KEY_EC_P256, &other, &e), 0);
	ck_assert(X509_REQ_set_pubkey(csr, other));
	req.csr = csr;
	o = run(iss, &req);
	ck_assert_int_eq(o.res->outcome, ISSUER_REJECTED);
	ck_assert_ptr_nonnull(strstr(o.res->reason, "CSR signature does not verify"));
	issuer_result_free(o.res);

	issuer_free(iss);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(test_cancel_means_no_callback)
{
	static const char *const dns[] = {"a.example"};
	struct issuer *iss = new_ca(600);
	EVP_PKEY *key;
	X509_REQ *csr = make_csr(NULL, dns, 1, &key);
	struct issuer_request req = {.cert_name = "a", .names = {.dns = dns, .n_dns = 1},
				     .ttl = 60, .csr = csr};
	struct outcome o = {0};
	struct issuer_op *op;

	op = issuer_start(iss, &req, on_done, &o);
	issuer_cancel(op);
	/* a refused request is cancellable too */
	req.csr = NULL;
	op = issuer_start(iss, &req, on_done, &o);
	issuer_cancel(op);
	event_base_dispatch(base);
	ck_assert_int_eq(o.calls, 0);
	issuer_free(iss);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_second_instance_reuses_ca)
{
	static const char *const dns[] = {"a.example"};
	struct issuer *one = new_ca(600), *two;
	EVP_PKEY *key;
	X509_REQ *csr = make_csr(NULL, dns, 1, &key);
	struct issuer_request req = {.cert_name = "a", .names = {.dns = dns, .n_dns = 1},
				     .ttl = 60, .csr = csr};
	struct outcome a, b;
	char fa[65], fb[65];

	a = run(one, &req);
	two = new_ca(600);
	b = run(two, &req);
	ck_assert_int_eq(b.res->outcome, ISSUER_ISSUED);
	x509_fingerprint_sha256(sk_X509_value(a.res->anchors, 0), fa);
	x509_fingerprint_sha256(sk_X509_value(b.res->anchors, 0), fb);
	ck_assert_str_eq(fa, fb);
	issuer_result_free(a.res);
	issuer_result_free(b.res);
	issuer_free(one);
	issuer_free(two);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_exposed_ca_key_refused)
{
	static const char *const dns[] = {"a.example"};
	struct issuer *one = new_ca(600), *two;
	EVP_PKEY *key;
	X509_REQ *csr = make_csr(NULL, dns, 1, &key);
	struct issuer_request req = {.cert_name = "a", .names = {.dns = dns, .n_dns = 1},
				     .ttl = 60, .csr = csr};
	char *key_path = tu_path(dir, "local-ca/ca.key");
	struct outcome o;

	o = run(one, &req);
	issuer_result_free(o.res);
	ck_assert_int_eq(chmod(key_path, 0644), 0);
	two = new_ca(600);
	o = run(two, &req);
	ck_assert_int_eq(o.res->outcome, ISSUER_UNAVAILABLE);
	ck_assert_msg(strstr(o.res->reason, "lets others read the CA key") != NULL, "%s",
		      o.res->reason);
	issuer_result_free(o.res);
	issuer_free(one);
	issuer_free(two);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	free(key_path);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("issuer_local");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_first_use_creates_ca_and_signs);
	tcase_add_test(tc, test_ttl_clamped_to_max);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_cancel_means_no_callback);
	tcase_add_test(tc, test_second_instance_reuses_ca);
	tcase_add_test(tc, test_exposed_ca_key_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
