/*
 * check_vaultsrv_sectigo.c — the test server's Sectigo Vault PKI plugin
 * paths (tests/vaultsrv/vs_sectigo.c): tests/vaultsrv/vaultsrv runs as a
 * child process on 127.0.0.1 (path from $VAULTSRV, else BUILDDIR) with a
 * Sectigo mount "sectigo", is driven with blocking libcurl calls and
 * steered through /_test/sectigo.  These tests pin down what the daemon's
 * Sectigo tests rely on: slow collection, TimedoutStateSaved, ErrorCode
 * until approval, an enroll that never answers but is stored, renew /
 * replace / revoke / fetch / profiles, and exact per-config call counters.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "buf.h"
#include "testutil.h"
#include "xalloc.h"

#define ROOT_TOKEN "root-token-0123456789"
#define CERTD_TOKEN "s.certd-sectigo-0123456789"
#define SCM_PASSWORD "scm-Passw0rd-never-in-a-url"
#define MOUNT "/v1/sectigo"

/* The server: a Sectigo mount with two configs, an SCM profile and a
 * token whose policy covers only the plugin paths certd uses. */
static const char server_config[] =
    "{\"policies\": {\"certd\": {"
    "   \"sectigo/enroll/scm\": [\"update\"], \"sectigo/certs/scm\": [\"list\"],"
    "   \"sectigo/certs/scm/*\": [\"read\"], \"sectigo/readcert/scm/*\": [\"read\"],"
    "   \"sectigo/renew/scm/*\": [\"update\"], \"sectigo/replace/scm/*\": [\"update\"],"
    "   \"sectigo/revoke/scm/*\": [\"update\"]}},"
    " \"tokens\": ["
    "   {\"id\": \"" ROOT_TOKEN "\", \"policies\": [\"root\"]},"
    "   {\"id\": \"" CERTD_TOKEN "\", \"policies\": [\"certd\"], \"ttl\": \"1h\"}],"
    " \"sectigo\": [{\"path\": \"sectigo\", \"customer_uri\": \"fallback\","
    "   \"configs\": {"
    "     \"scm\": {\"sectigo_cm_base_url\": \"https://cert-manager.com/\","
    "       \"sectigo_cm_user\": \"certd\", \"sectigo_cm_password\": \"" SCM_PASSWORD "\","
    "       \"sectigo_cm_uri\": \"murray\", \"sectigo_cm_org_id\": 123,"
    "       \"sectigo_config_type\": \"ssl_cert\"},"
    "     \"clients\": {\"sectigo_cm_password\": \"" SCM_PASSWORD "\","
    "       \"sectigo_config_type\": \"client_cert\"}},"
    "   \"scm_profiles\": {\"101\": {\"id\": 101, \"name\": \"OV RSA\", \"terms\": [365],"
    "     \"keyTypes\": {\"RSA\": [\"2048\", \"4096\"]}}},"
    "   \"script\": {}}]}";

struct server {
	pid_t pid;
	char *dir;
	char addr[64];
};

static struct server srv;

/* ------------------------------------------------------------ the server */

static char *
read_port_file(const char *path, long ms)
{
	char *s;
	long waited;

	for (waited = 0; waited < ms; waited += 10) {
		s = tu_read_file(path, NULL);
		if (s != NULL && s[0] != '\0')
			return s;
		free(s);
		usleep(10000);
	}
	return NULL;
}

static void
srv_start(void)
{
	const char *bin = getenv("VAULTSRV");
	char *cfgfile, *pf, *text;

	if (bin == NULL || *bin == '\0')
		bin = BUILDDIR "/tests/vaultsrv/vaultsrv";
	memset(&srv, 0, sizeof(srv));
	srv.dir = tu_mkdtemp();
	cfgfile = tu_path(srv.dir, "vaultsrv.json");
	pf = tu_path(srv.dir, "port");
	tu_write_file(cfgfile, server_config, 0600);
	srv.pid = fork();
	ck_assert_int_ge(srv.pid, 0);
	if (srv.pid == 0) {
#ifdef __linux__
		/* A failed test skips its teardown: the server goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
		execl(bin, bin, "--config", cfgfile, "--port", "0", "--port-file", pf, "--quiet",
		      (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	text = read_port_file(pf, 10000);
	ck_assert_msg(text != NULL, "vaultsrv (%s) did not start", bin);
	snprintf(srv.addr, sizeof(srv.addr), "http://127.0.0.1:%ld", strtol(text, NULL, 10));
	free(text);
	free(cfgfile);
	free(pf);
}

/* Stop the server; it must exit 0 (under ASan: also without leaks), even
 * with a request still parked. */
static void
srv_stop(void)
{
	int status = 0;

	if (srv.pid > 0) {
		kill(srv.pid, SIGTERM);
		waitpid(srv.pid, &status, 0);
		srv.pid = 0;
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "vaultsrv did not exit cleanly (status %d)", status);
	}
	if (srv.dir != NULL) {
		tu_rm_rf(srv.dir);
		free(srv.dir);
		srv.dir = NULL;
	}
}

static void
setup(void)
{
	srv_start();
}

static void
teardown(void)
{
	if (srv.pid > 0) {
		kill(srv.pid, SIGTERM);
		waitpid(srv.pid, NULL, 0);
		srv.pid = 0;
	}
	if (srv.dir != NULL) {
		tu_rm_rf(srv.dir);
		free(srv.dir);
		srv.dir = NULL;
	}
}

static size_t
collect_body(char *data, size_t size, size_t n, void *arg)
{
	buf_append(arg, data, size * n);
	return size * n;
}

/* A blocking request; returns the JSON answer (NULL when none), the status
 * and the curl result (timeout_ms 0: none). */
static json_t *
http_ex(const char *method, const char *path, const char *token, const char *body, long *status,
	long timeout_ms, CURLcode *cc)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf b = BUF_INIT;
	char *url = xasprintf("%s%s", srv.addr, path);
	char *th = token ? xasprintf("X-Vault-Token: %s", token) : NULL;
	long st = 0;
	json_t *j;
	CURLcode rc;

	ck_assert_ptr_nonnull(c);
	if (th != NULL)
		h = curl_slist_append(h, th);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (timeout_ms > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c);
	if (cc != NULL)
		*cc = rc;
	else
		ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	if (status != NULL)
		*status = st;
	j = b.len > 0 ? json_loadb(b.data, b.len, 0, NULL) : NULL;
	buf_free(&b);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(url);
	free(th);
	return j;
}

static json_t *
http(const char *method, const char *path, const char *token, const char *body, long *status)
{
	return http_ex(method, path, token, body, status, 0, NULL);
}

/* A plugin call that must answer want; returns its "data" (caller decrefs). */
static json_t *
api(const char *method, const char *path, const char *body, long want)
{
	long st;
	json_t *j = http(method, path, CERTD_TOKEN, body, &st), *d;

	ck_assert_msg(st == want, "%s %s: HTTP %ld, want %ld", method, path, st, want);
	d = json_incref(json_object_get(j, "data"));
	json_decref(j);
	return d;
}

static void
ctl(const char *path, const char *body)
{
	long st;
	json_t *j = http("POST", path, NULL, body, &st);

	ck_assert_msg(st >= 200 && st < 300, "POST %s: HTTP %ld", path, st);
	json_decref(j);
}

static void
script(const char *knobs)
{
	char *body = xasprintf("{\"script\": %s}", knobs);

	ctl("/_test/sectigo/script", body);
	free(body);
}

/* The call counter op of config "scm" (from /_test/counters). */
static long
counter(const char *op)
{
	json_t *j = http("GET", "/_test/counters", NULL, NULL, NULL);
	json_t *c = json_object_get(json_object_get(json_object_get(j, "sectigo"), "sectigo"), "scm");
	long n;

	ck_assert_ptr_nonnull(c);
	n = (long)json_integer_value(json_object_get(c, op));
	json_decref(j);
	return n;
}

/* ------------------------------------------------------------ entries */

static const char *
dstr(json_t *d, const char *key)
{
	return json_string_value(json_object_get(d, key));
}

static const char *
last_status(json_t *d)
{
	json_t *st = json_object_get(d, "state");

	ck_assert_int_gt(json_array_size(st), 0);
	return dstr(json_array_get(st, json_array_size(st) - 1), "status");
}

struct keypair {
	char *csr;     /* PEM */
	char *key;     /* PEM */
	EVP_PKEY *pkey;
};

static char *
bio_str(BIO *bio)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	char *s = xstrndup(p, (size_t)n);

	BIO_free(bio);
	return s;
}

static void
keypair_new(struct keypair *kp, const char *cn)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	BIO *bio;

	kp->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(kp->pkey);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				   0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, kp->pkey);
	ck_assert_int_gt(X509_REQ_sign(req, kp->pkey, EVP_sha256()), 0);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509_REQ(bio, req);
	kp->csr = bio_str(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, kp->pkey, NULL, NULL, 0, NULL, NULL);
	kp->key = bio_str(bio);
	X509_NAME_free(name);
	X509_REQ_free(req);
}

static void
keypair_free(struct keypair *kp)
{
	free(kp->csr);
	free(kp->key);
	EVP_PKEY_free(kp->pkey);
}

/* The enroll body for a CSR, numbers as numbers. */
static char *
enroll_body(const struct keypair *kp)
{
	json_t *o = json_pack("{ss si si ss ss ss}", "sectigo_csr", kp->csr,
			      "sectigo_ssl_cert_type", 101, "sectigo_ssl_cert_validity", 365,
			      "sectigo_ssl_cert_format_type", "X509",
			      "sectigo_ssl_cert_subject_alt_names", "www.example.com,alt.example.com",
			      "sectigo_ssl_cert_comments", "certd test");
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* {"sectigo_csr": csr} */
static char *
csr_body(const struct keypair *kp)
{
	json_t *o = json_pack("{ss}", "sectigo_csr", kp->csr);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* The leaf of the entry's certificate; asserts it is there. */
static X509 *
entry_cert(json_t *d)
{
	const char *pem = dstr(d, "certificate");
	BIO *bio;
	X509 *x;

	ck_assert_msg(pem != NULL && *pem != '\0', "no certificate in the entry");
	bio = BIO_new_mem_buf(pem, -1);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ck_assert_ptr_nonnull(x);
	return x;
}

static void
assert_issued_for(json_t *d, EVP_PKEY *key)
{
	X509 *x = entry_cert(d);

	ck_assert_str_eq(last_status(d), "Issued");
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1);
	ck_assert_int_ge(X509_cmp_current_time(X509_get0_notAfter(x)), 1);
	X509_free(x);
}

static char *
cert_path(const char *op, const char *id)
{
	return xasprintf(MOUNT "/%s/scm/%s", op, id);
}

/* Enroll kp under "scm"; returns the entry's data. */
static json_t *
enroll(const struct keypair *kp)
{
	char *body = enroll_body(kp);
	json_t *d = api("POST", MOUNT "/enroll/scm", body, 200);

	free(body);
	ck_assert_ptr_nonnull(d);
	return d;
}

static json_t *
read_entry(const char *op, const char *id, long want)
{
	char *path = cert_path(op, id);
	json_t *d = api("GET", path, NULL, want);

	free(path);
	return d;
}

/* The ids LIST certs/scm shows (an empty array on 404). */
static json_t *
list_ids(void)
{
	long st;
	json_t *j = http("LIST", MOUNT "/certs/scm", CERTD_TOKEN, NULL, &st), *keys;

	ck_assert_msg(st == 200 || st == 404, "LIST: HTTP %ld", st);
	keys = json_object_get(json_object_get(j, "data"), "keys");
	keys = keys ? json_incref(keys) : json_array();
	json_decref(j);
	return keys;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_enroll_collect_after_reads)
{
	struct keypair kp;
	json_t *d;
	char *id;
	int i;

	script("{\"collect_after_reads\": 3}");
	keypair_new(&kp, "www.example.com");
	d = enroll(&kp);
	id = xstrdup(dstr(d, "cert_unique_id"));
	ck_assert_str_eq(id, "44166_murray");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "ssl_id")), 44166);
	ck_assert_str_eq(dstr(d, "certificate_type"), "ssl_cert");
	ck_assert_str_eq(dstr(d, "ssl_format"), "X509");
	ck_assert_str_eq(dstr(d, "domain"), "www.example.com");
	ck_assert_str_eq(dstr(d, "private_key"), "");
	ck_assert_str_eq(dstr(d, "csr"), kp.csr);
	ck_assert_ptr_nonnull(dstr(d, "renew_id"));
	ck_assert_ptr_null(json_object_get(d, "certificate"));
	ck_assert_str_eq(last_status(d), "Applied");
	json_decref(d);
	for (i = 1; i <= 2; i++) {
		d = read_entry("certs", id, 200);
		ck_assert_ptr_null(json_object_get(d, "certificate"));
		ck_assert_str_eq(last_status(d), "Applied");
		ck_assert_int_eq(json_array_size(json_object_get(d, "state")), 1);
		json_decref(d);
	}
	d = read_entry("certs", id, 200);
	assert_issued_for(d, kp.pkey);
	json_decref(d);
	ck_assert_int_eq(counter("enroll"), 1);
	ck_assert_int_eq(counter("collect"), 3);
	ck_assert_int_eq(counter("read"), 3);
	ck_assert_int_eq(counter("issued"), 1);
	ck_assert_int_eq(counter("renew"), 0);
	free(id);
	keypair_free(&kp);
	srv_stop();
}
END_TEST

START_TEST(test_collect_after_seconds_and_readcert)
{
	struct keypair kp;
	json_t *d;
	char *id;

	/* "empty": the pending entry carries certificate "" instead of none. */
	script("{\"collect_after\": 1, \"pending_certificate\": \"empty\"}");
	keypair_new(&kp, "www.example.com");
	d = enroll(&kp);
	id = xstrdup(dstr(d, "cert_unique_id"));
	ck_assert_str_eq(dstr(d, "certificate"), "");
	json_decref(d);
	d = read_entry("certs", id, 200);
	ck_assert_str_eq(dstr(d, "certificate"), "");
	json_decref(d);
	usleep(1100 * 1000);
	/* readcert is Vault's local storage: it never collects by default. */
	d = read_entry("readcert", id, 200);
	ck_assert_str_eq(dstr(d, "certificate"), "");
	json_decref(d);
	d = read_entry("certs", id, 200);
	assert_issued_for(d, kp.pkey);
	json_decref(d);
	d = read_entry("readcert", id, 200);
	assert_issued_for(d, kp.pkey);
	json_decref(d);
	ck_assert_int_eq(counter("readcert"), 2);
	ck_assert_int_eq(counter("collect"), 2);
	ck_assert_int_eq(counter("enroll"), 1);
	free(id);
	keypair_free(&kp);
	srv_stop();
}
END_TEST

START_TEST(test_timed_out_state_saved)
{
	struct keypair kp;
	json_t *d, *ids;
	char *id;

	script("{\"timeout_on_enroll\": true, \"collect_after_reads\": 2, \"timeout_on_read\": "
	       "true}");
	keypair_new(&kp, "www.example.com");
	d = enroll(&kp);
	id = xstrdup(dstr(d, "cert_unique_id"));
	ck_assert_str_eq(last_status(d), "TimedoutStateSaved");
	ck_assert_ptr_null(json_object_get(d, "certificate"));
	json_decref(d);
	ids = list_ids();
	ck_assert_int_eq(json_array_size(ids), 1);
	ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), id);
	json_decref(ids);
	d = read_entry("certs", id, 200);
	ck_assert_str_eq(last_status(d), "TimedoutStateSaved");
	ck_assert_int_eq(json_array_size(json_object_get(d, "state")), 1);
	json_decref(d);
	d = read_entry("certs", id, 200);
	assert_issued_for(d, kp.pkey);
	json_decref(d);
	ck_assert_int_eq(counter("enroll"), 1);
	free(id);
	keypair_free(&kp);
	srv_stop();
}
END_TEST

START_TEST(test_error_code_until_approved)
{
	struct keypair kp;
	json_t *d;
	char *id, *body;
	long st;

	script("{\"error\": {\"code\": -7, \"description\": \"Manual approval required\"}}");
	keypair_new(&kp, "www.example.com");
	d = enroll(&kp);
	id = xstrdup(dstr(d, "cert_unique_id"));
	ck_assert_str_eq(last_status(d), "ErrorCode");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "ErrorCode")), -7);
	ck_assert_str_eq(dstr(d, "ErrorDescription"), "Manual approval required");
	ck_assert_ptr_null(json_object_get(d, "certificate"));
	json_decref(d);
	d = read_entry("certs", id, 200);
	ck_assert_str_eq(last_status(d), "ErrorCode");
	ck_assert_int_eq(json_array_size(json_object_get(d, "state")), 1);
	json_decref(d);
	/* Approving an unknown id is a 404 of the control API. */
	json_decref(http("POST", "/_test/sectigo/approve", NULL, "{\"id\": \"1_x\"}", &st));
	ck_assert_int_eq(st, 404);
	body = xasprintf("{\"id\": \"%s\"}", id);
	ctl("/_test/sectigo/approve", body);
	free(body);
	d = read_entry("certs", id, 200);
	assert_issued_for(d, kp.pkey);
	ck_assert_ptr_null(json_object_get(d, "ErrorCode"));
	ck_assert_ptr_null(json_object_get(d, "ErrorDescription"));
	json_decref(d);
	ck_assert_int_eq(counter("enroll"), 1);
	free(id);
	keypair_free(&kp);
	srv_stop();
}
END_TEST

START_TEST(test_enroll_hangs_but_stores)
{
	struct keypair kp;
	json_t *d, *ids, *state;
	char *body, *id;
	CURLcode cc;
	struct timespec t0, t1;
	long st, ms;

	script("{\"answer_delay_ms\": {\"enroll\": -1}}");
	keypair_new(&kp, "www.example.com");
	ids = list_ids();
	ck_assert_int_eq(json_array_size(ids), 0);
	json_decref(ids);
	body = enroll_body(&kp);
	d = http_ex("POST", MOUNT "/enroll/scm", CERTD_TOKEN, body, &st, 400, &cc);
	ck_assert_int_eq(cc, CURLE_OPERATION_TIMEDOUT);
	ck_assert_ptr_null(d);
	state = http("GET", "/_test/state", NULL, NULL, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(state, "pending_requests")), 1);
	json_decref(state);
	ids = list_ids();
	ck_assert_int_eq(json_array_size(ids), 1);
	id = xstrdup(json_string_value(json_array_get(ids, 0)));
	json_decref(ids);
	d = read_entry("certs", id, 200);
	assert_issued_for(d, kp.pkey);
	json_decref(d);
	ck_assert_int_eq(counter("enroll"), 1);

	/* A delayed answer arrives after the delay. */
	script("{\"answer_delay_ms\": {\"enroll\": 300}}");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	d = http_ex("POST", MOUNT "/enroll/scm", CERTD_TOKEN, body, &st, 5000, &cc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_eq(cc, CURLE_OK);
	ck_assert_int_eq(st, 200);
	ck_assert_int_ge(ms, 300);
	ck_assert_str_ne(dstr(json_object_get(d, "data"), "cert_unique_id"), id);
	json_decref(d);
	ck_assert_int_eq(counter("enroll"), 2);
	free(body);
	free(id);
	keypair_free(&kp);
	/* The parked request does not keep the server from a clean exit. */
	srv_stop();
}
END_TEST

START_TEST(test_renew_replace_revoke)
{
	struct keypair kp, kp2, kp3;
	json_t *d, *ids;
	char *id, *rid, *path, *body;
	X509 *a, *b;

	keypair_new(&kp, "www.example.com");
	keypair_new(&kp2, "www.example.com");
	keypair_new(&kp3, "www.example.com");
	d = enroll(&kp);
	assert_issued_for(d, kp.pkey);
	id = xstrdup(dstr(d, "cert_unique_id"));
	a = entry_cert(d);
	json_decref(d);

	/* renew: a new order, same CSR and key, a new id. */
	path = cert_path("renew", id);
	d = api("POST", path, "{}", 200);
	free(path);
	rid = xstrdup(dstr(d, "cert_unique_id"));
	ck_assert_str_ne(rid, id);
	ck_assert_str_eq(dstr(d, "csr"), kp.csr);
	assert_issued_for(d, kp.pkey);
	b = entry_cert(d);
	ck_assert_int_ne(X509_cmp(a, b), 0);
	X509_free(a);
	X509_free(b);
	json_decref(d);
	d = read_entry("readcert", id, 200);
	ck_assert_str_eq(last_status(d), "Renewed");
	json_decref(d);

	/* replace: a new CSR, the same id (replace_new_id false). */
	body = csr_body(&kp2);
	path = cert_path("replace", rid);
	d = api("POST", path, body, 200);
	free(body);
	free(path);
	ck_assert_str_eq(dstr(d, "cert_unique_id"), rid);
	ck_assert_str_eq(dstr(d, "csr"), kp2.csr);
	assert_issued_for(d, kp2.pkey);
	json_decref(d);

	/* replace with a new id. */
	script("{\"replace_new_id\": true, \"collect_after_reads\": 1}");
	body = csr_body(&kp3);
	path = cert_path("replace", rid);
	d = api("POST", path, body, 200);
	free(body);
	free(path);
	ck_assert_str_ne(dstr(d, "cert_unique_id"), rid);
	ck_assert_ptr_null(json_object_get(d, "certificate"));
	free(rid);
	rid = xstrdup(dstr(d, "cert_unique_id"));
	json_decref(d);
	d = read_entry("certs", rid, 200);
	assert_issued_for(d, kp3.pkey);
	json_decref(d);

	/* revoke: the entry stays, revoked; it cannot be renewed. */
	path = cert_path("revoke", id);
	d = api("POST", path, "{\"reason\": \"superseded\"}", 200);
	free(path);
	ck_assert_str_eq(last_status(d), "Revoked");
	ck_assert_ptr_nonnull(dstr(d, "certificate"));
	json_decref(d);
	ids = list_ids();
	ck_assert_int_eq(json_array_size(ids), 3);
	json_decref(ids);
	path = cert_path("renew", id);
	d = api("POST", path, "{}", 400);
	free(path);
	json_decref(d);
	path = cert_path("renew", "999_murray");
	d = api("POST", path, "{}", 400);
	free(path);
	json_decref(d);

	ck_assert_int_eq(counter("enroll"), 1);
	ck_assert_int_eq(counter("renew"), 3);
	ck_assert_int_eq(counter("replace"), 2);
	ck_assert_int_eq(counter("revoke"), 1);
	free(id);
	free(rid);
	keypair_free(&kp);
	keypair_free(&kp2);
	keypair_free(&kp3);
	srv_stop();
}
END_TEST

START_TEST(test_plugin_key_delete_fetch)
{
	json_t *d, *ids;
	const char *key;
	char *id, *path;
	EVP_PKEY *pk;
	BIO *bio;

	d = api("POST", MOUNT "/enroll/scm",
		"{\"sectigo_csr_domain\": \"gen.example.com\", \"sectigo_csr_country\": \"CA\","
		" \"sectigo_csr_organization\": \"Test\", \"sectigo_csr_key_algo\": \"EC\","
		" \"sectigo_csr_key_size\": \"256\"}",
		200);
	key = dstr(d, "private_key");
	ck_assert_ptr_nonnull(strstr(key, "PRIVATE KEY"));
	bio = BIO_new_mem_buf(key, -1);
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ck_assert_ptr_nonnull(pk);
	assert_issued_for(d, pk);
	ck_assert_str_eq(dstr(d, "domain"), "gen.example.com");
	id = xstrdup(dstr(d, "cert_unique_id"));
	json_decref(d);
	EVP_PKEY_free(pk);

	/* No CSR and no domain: refused, but the call is counted. */
	d = api("POST", MOUNT "/enroll/scm", "{}", 400);
	json_decref(d);
	ck_assert_int_eq(counter("enroll"), 2);

	/* Delete from Vault: gone from list and read; fetch brings it back. */
	path = cert_path("certs", id);
	json_decref(http("DELETE", path, ROOT_TOKEN, NULL, NULL));
	free(path);
	ids = list_ids();
	ck_assert_int_eq(json_array_size(ids), 0);
	json_decref(ids);
	d = read_entry("certs", id, 404);
	json_decref(d);
	path = cert_path("fetch", id);
	json_decref(http("POST", path, ROOT_TOKEN, "{}", NULL));
	free(path);
	ids = list_ids();
	ck_assert_int_eq(json_array_size(ids), 1);
	json_decref(ids);
	ck_assert_int_eq(counter("fetch"), 1);
	ck_assert_int_eq(counter("delete"), 1);
	free(id);
	srv_stop();
}
END_TEST

START_TEST(test_auto_renew_on_read)
{
	struct keypair kp;
	json_t *d;
	char *id;

	script("{\"auto_renew\": true, \"validity\": \"1h\", \"renew_window\": \"2h\"}");
	keypair_new(&kp, "www.example.com");
	d = enroll(&kp);
	id = xstrdup(dstr(d, "cert_unique_id"));
	json_decref(d);
	/* readcert never renews. */
	d = read_entry("readcert", id, 200);
	ck_assert_str_eq(dstr(d, "cert_unique_id"), id);
	json_decref(d);
	ck_assert_int_eq(counter("auto_renew"), 0);
	d = read_entry("certs", id, 200);
	ck_assert_str_ne(dstr(d, "cert_unique_id"), id);
	assert_issued_for(d, kp.pkey);
	json_decref(d);
	ck_assert_int_eq(counter("auto_renew"), 1);
	ck_assert_int_eq(counter("renew"), 0);
	/* The old entry is renewed once only. */
	d = read_entry("certs", id, 200);
	ck_assert_str_eq(dstr(d, "cert_unique_id"), id);
	ck_assert_str_eq(last_status(d), "Renewed");
	json_decref(d);
	ck_assert_int_eq(counter("auto_renew"), 1);
	free(id);
	keypair_free(&kp);
	srv_stop();
}
END_TEST

START_TEST(test_profiles)
{
	struct keypair kp;
	json_t *d, *j;
	char *body;
	long st;

	keypair_new(&kp, "www.example.com");
	j = http("POST", MOUNT "/profile/scm/101", ROOT_TOKEN, "{}", &st);
	ck_assert_int_eq(st, 200);
	ck_assert_str_eq(dstr(json_object_get(j, "data"), "name"), "OV RSA");
	json_decref(j);
	j = http("POST", MOUNT "/profile/scm/999", ROOT_TOKEN, "{}", &st);
	ck_assert_int_eq(st, 400);
	json_decref(j);
	j = http("LIST", MOUNT "/profile/scm", ROOT_TOKEN, NULL, &st);
	ck_assert_int_eq(st, 200);
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_object_get(json_object_get(j, "data"), "keys"), 0)),
			 "101");
	json_decref(j);
	/* The profile allows RSA only: an EC CSR is refused. */
	body = enroll_body(&kp);
	d = api("POST", MOUNT "/enroll/scm", body, 400);
	json_decref(d);
	json_decref(http("DELETE", MOUNT "/profile/scm/101", ROOT_TOKEN, NULL, &st));
	ck_assert_int_eq(st, 204);
	d = api("POST", MOUNT "/enroll/scm", body, 200);
	assert_issued_for(d, kp.pkey);
	json_decref(d);
	free(body);
	keypair_free(&kp);
	srv_stop();
}
END_TEST

START_TEST(test_configs_acl_and_urls)
{
	struct keypair kp;
	json_t *j, *d, *log, *rec;
	char *path;
	const char *url;
	size_t i;
	long st;
	bool seen = false;

	keypair_new(&kp, "client@example.com");
	j = http("LIST", MOUNT "/configs", ROOT_TOKEN, NULL, &st);
	ck_assert_int_eq(st, 200);
	ck_assert_int_eq(json_array_size(json_object_get(json_object_get(j, "data"), "keys")), 2);
	json_decref(j);
	j = http("GET", MOUNT "/configs/scm", ROOT_TOKEN, NULL, &st);
	ck_assert_int_eq(st, 200);
	ck_assert_str_eq(dstr(json_object_get(j, "data"), "sectigo_cm_uri"), "murray");
	ck_assert_ptr_null(json_object_get(json_object_get(j, "data"), "sectigo_cm_password"));
	json_decref(j);
	j = http("POST", MOUNT "/configs/bad", ROOT_TOKEN, "{\"sectigo_config_type\": \"x\"}", &st);
	ck_assert_int_eq(st, 400);
	json_decref(j);
	/* The certd token may not touch configs or another config's paths. */
	j = http("GET", MOUNT "/configs/scm", CERTD_TOKEN, NULL, &st);
	ck_assert_int_eq(st, 403);
	json_decref(j);
	j = http("POST", MOUNT "/enroll/clients", CERTD_TOKEN, "{}", &st);
	ck_assert_int_eq(st, 403);
	json_decref(j);
	j = http("POST", MOUNT "/enroll/scm", NULL, "{}", &st);
	ck_assert_int_eq(st, 400);
	json_decref(j);
	/* A client_cert config: order_number, no ssl_id / ssl_format. */
	path = csr_body(&kp);
	j = http("POST", MOUNT "/enroll/clients", ROOT_TOKEN, path, &st);
	free(path);
	ck_assert_int_eq(st, 200);
	d = json_object_get(j, "data");
	ck_assert_str_eq(dstr(d, "certificate_type"), "client_cert");
	ck_assert_ptr_nonnull(json_object_get(d, "order_number"));
	ck_assert_ptr_null(json_object_get(d, "ssl_id"));
	ck_assert_ptr_null(json_object_get(d, "ssl_format"));
	ck_assert_str_eq(dstr(d, "cert_unique_id"), "44166_fallback");
	json_decref(j);
	/* Unknown script keys are refused. */
	j = http("POST", "/_test/sectigo/script", NULL, "{\"script\": {\"colect\": 1}}", &st);
	ck_assert_int_eq(st, 400);
	json_decref(j);

	/* The request log records URLs with their query: a read that put the
	 * password in the query string would be caught. */
	path = xasprintf(MOUNT "/certs/scm/1_murray?sectigo_cm_password=%s", SCM_PASSWORD);
	json_decref(http("GET", path, CERTD_TOKEN, NULL, &st));
	free(path);
	log = http("GET", "/_test/requests", NULL, NULL, NULL);
	json_array_foreach(json_object_get(log, "requests"), i, rec) {
		url = dstr(rec, "query");
		if (url != NULL && strstr(url, SCM_PASSWORD) != NULL)
			seen = true;
		ck_assert_ptr_null(strstr(dstr(rec, "path"), "PRIVATE"));
	}
	ck_assert(seen);
	json_decref(log);
	/* /_test/sectigo shows the mount's state. */
	j = http("GET", "/_test/sectigo", NULL, NULL, &st);
	ck_assert_int_eq(st, 200);
	d = json_object_get(json_object_get(j, "mounts"), "sectigo");
	ck_assert_int_eq(json_object_size(json_object_get(d, "entries")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(json_object_get(d, "counters"), "clients"), "enroll")),
			 1);
	json_decref(j);
	keypair_free(&kp);
	srv_stop();
}
END_TEST

static Suite *
sectigo_suite(void)
{
	Suite *s = suite_create("vaultsrv-sectigo");
	TCase *tc = tcase_create("plugin");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, test_enroll_collect_after_reads);
	tcase_add_test(tc, test_collect_after_seconds_and_readcert);
	tcase_add_test(tc, test_timed_out_state_saved);
	tcase_add_test(tc, test_error_code_until_approved);
	tcase_add_test(tc, test_enroll_hangs_but_stores);
	tcase_add_test(tc, test_renew_replace_revoke);
	tcase_add_test(tc, test_plugin_key_delete_fetch);
	tcase_add_test(tc, test_auto_renew_on_read);
	tcase_add_test(tc, test_profiles);
	tcase_add_test(tc, test_configs_acl_and_urls);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sectigo_suite());
	int failed;

	/* Loopback must not go through a proxy from the environment. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
