/*
 * check_vault.c — the Vault client against the in-tree Vault-compatible
 * server: tests/vaultsrv/vaultsrv runs as a child process on 127.0.0.1
 * (path from $VAULTSRV, else BUILDDIR), configured by the JSON below, and
 * is inspected and steered through its /_test control API (request log,
 * counters, faults, seal, standby, token revocation) with blocking libcurl
 * calls from the test.  No traffic leaves loopback.
 *
 * Every request goes through call(), which asserts that the callback does
 * not run inside vault_request() and runs exactly once, and that no token,
 * secret ID, wrapping token or JWT known to the test appears in the error
 * string; event details are checked the same way.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "buf.h"
#include "http.h"
#include "testutil.h"
#include "vault.h"
#include "vault_int.h"
#include "xalloc.h"

#define ROOT_TOKEN "root-token-0123456789"
#define TOKEN_ONE "s.certd-token-one-0123456789"
#define TOKEN_TWO "s.certd-token-two-0123456789"
#define SECRET_ID "secret-certd-0123456789"
#define SECRET_ONCE "secret-once-0123456789"
#define WRAPPED "s.wrapped-0123456789"
#define WRAPPED_USED "s.wrapped-used-0123456789"
#define K8S_JWT                                                                                 \
	"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwia3Vi" \
	"ZXJuZXRlcy5pby9zZXJ2aWNlYWNjb3VudC9uYW1lc3BhY2UiOiJkZWZhdWx0Iiwia3ViZXJuZXRlcy5pby9zZXJ2" \
	"aWNlYWNjb3VudC9zZXJ2aWNlLWFjY291bnQubmFtZSI6ImNlcnRkIiwia3ViZXJuZXRlcy5pby9zZXJ2aWNlYWNj" \
	"b3VudC9zZWNyZXQubmFtZSI6ImNlcnRkLXRva2VuIiwia3ViZXJuZXRlcy5pby9zZXJ2aWNlYWNjb3VudC9zZXJ2" \
	"aWNlLWFjY291bnQudWlkIjoiMTIzNCIsInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpkZWZhdWx0OmNlcnRk" \
	"In0.c2lnbmF0dXJl"
#define JWT                                                                                     \
	"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsInN1" \
	"YiI6ImNlcnRkLW5vZGUiLCJhdWQiOiJ2YXVsdCJ9.c2lnbmF0dXJl"

/* The server's state: policies, tokens, PKI, KV and every login method. */
static const char server_config[] =
    "{\"policies\": {\"certd\": {"
    "   \"pki_int/issue/*\": [\"update\"], \"pki_int/certs\": [\"list\"],"
    "   \"kv/*\": [\"create\", \"read\", \"update\", \"list\"]}},"
    " \"tokens\": ["
    "   {\"id\": \"" ROOT_TOKEN "\", \"policies\": [\"root\"]},"
    "   {\"id\": \"" TOKEN_ONE "\", \"policies\": [\"certd\", \"default\"], \"ttl\": \"1h\"},"
    "   {\"id\": \"" TOKEN_TWO "\", \"policies\": [\"certd\", \"default\"], \"ttl\": \"1h\"}],"
    " \"pki\": ["
    "   {\"path\": \"pki\", \"ca\": {\"common_name\": \"Test Root CA\", \"key_type\": \"ec\","
    "    \"key_bits\": 256}},"
    "   {\"path\": \"pki_int\", \"ca\": {\"common_name\": \"Test Intermediate CA\","
    "    \"issuer\": \"pki\", \"key_type\": \"ec\", \"key_bits\": 256},"
    "    \"roles\": {\"web\": {\"allowed_domains\": [\"example.com\"], \"allow_subdomains\": true,"
    "     \"key_type\": \"ec\", \"key_bits\": 256, \"ttl\": \"24h\", \"max_ttl\": \"72h\"}}}],"
    " \"kv\": [{\"path\": \"kv\", \"version\": 1, \"data\": {\"app/x\": {\"a\": \"b\"}}}],"
    " \"approle\": {\"path\": \"approle\", \"roles\": {"
    "   \"certd\": {\"role_id\": \"role-certd\", \"secret_ids\": [\"" SECRET_ID "\","
    "     {\"secret_id\": \"" SECRET_ONCE "\", \"num_uses\": 1}],"
    "     \"wrapped_secret_ids\": [\"" WRAPPED "\", \"" WRAPPED_USED "\"],"
    "     \"token_policies\": [\"certd\"], \"token_ttl\": \"1h\", \"token_max_ttl\": \"4h\"},"
    "   \"short\": {\"role_id\": \"role-short\", \"secret_ids\": [\"" SECRET_ID "-short\"],"
    "     \"token_policies\": [\"certd\"], \"token_ttl\": 3, \"token_max_ttl\": 60},"
    "   \"capped\": {\"role_id\": \"role-capped\", \"secret_ids\": [\"" SECRET_ID "-capped\"],"
    "     \"token_policies\": [\"certd\"], \"token_ttl\": 3, \"token_max_ttl\": 4}}},"
    " \"cert\": {\"path\": \"cert\", \"certs\": {\"node\": {\"ca_mount\": \"pki_int\","
    "   \"policies\": [\"certd\"], \"ttl\": \"30m\","
    "   \"allowed_common_names\": [\"*.example.com\"]}}},"
    " \"kubernetes\": {\"path\": \"kubernetes\", \"roles\": {\"certd\": {\"jwt\": \"" K8S_JWT "\","
    "   \"policies\": [\"certd\"], \"ttl\": \"1h\", \"bound_service_account_names\": [\"certd\"],"
    "   \"bound_service_account_namespaces\": [\"*\"]}}},"
    " \"jwt\": {\"path\": \"jwt\", \"roles\": {\"certd\": {\"jwt\": \"" JWT "\","
    "   \"policies\": [\"certd\"], \"ttl\": \"1h\"}}}}";

struct server {
	pid_t pid;
	int port;
	int tls_port;
	char *dir;
	char *ca_file;       /* --tls-ca-out */
	char addr[64];       /* http://127.0.0.1:port */
	char tls_addr[64];   /* https://127.0.0.1:tls_port */
};

struct result {
	bool done;
	int calls;
	enum vault_class cls;
	long status;
	char *body;
	json_t *json;        /* a copy */
	bool had_json;
	char *content_type;
	long retry_after;
	char address[128];
	char error[512];
};

struct event_rec {
	enum vault_event ev;
	char detail[512];
};

static struct event_base *base;
static struct http *client;
static char *tmpdir;
static struct server srv, srv2;
static struct vault_config cfg;
static const char *addrs[4];
static struct vault *vc;
static bool in_request;
static struct event_rec events[64];
static size_t n_events;
static char *secrets[32];
static size_t n_secrets;

/* ------------------------------------------------------------ secrets */

static void
secret_add(const char *s)
{
	ck_assert_uint_lt(n_secrets, sizeof(secrets) / sizeof(secrets[0]));
	secrets[n_secrets++] = xstrdup(s);
}

static void
assert_no_secret(const char *what, const char *text)
{
	size_t i;

	for (i = 0; i < n_secrets; i++)
		ck_assert_msg(strstr(text, secrets[i]) == NULL, "%s holds a secret: %s", what, text);
}

/* ------------------------------------------------------------ the loop */

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Run the loop until *flag is set or ms pass (flag NULL: just ms). */
static void
run_until(const bool *flag, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	bool expired = false;
	struct event *t = evtimer_new(base, on_deadline, &expired);

	evtimer_add(t, &tv);
	while ((flag == NULL || !*flag) && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}

static void
on_event(enum vault_event ev, const char *detail, void *arg)
{
	(void)arg;
	assert_no_secret("event detail", detail);
	if (n_events < sizeof(events) / sizeof(events[0])) {
		events[n_events].ev = ev;
		snprintf(events[n_events].detail, sizeof(events[n_events].detail), "%s", detail);
		n_events++;
	}
}

static const struct event_rec *
event_find(enum vault_event ev, size_t nth)
{
	size_t i;

	for (i = 0; i < n_events; i++)
		if (events[i].ev == ev && nth-- == 0)
			return &events[i];
	return NULL;
}

static void
done_cb(struct vault_response *resp, void *arg)
{
	struct result *r = arg;

	ck_assert_msg(!in_request, "callback ran inside vault_request");
	r->calls++;
	ck_assert_int_eq(r->calls, 1);
	r->done = true;
	r->cls = resp->cls;
	r->status = resp->status;
	r->body = xstrdup(resp->body.data != NULL ? resp->body.data : "");
	r->had_json = resp->json != NULL;
	r->json = resp->json != NULL ? json_deep_copy(resp->json) : NULL;
	r->content_type = resp->content_type != NULL ? xstrdup(resp->content_type) : NULL;
	r->retry_after = resp->retry_after;
	snprintf(r->address, sizeof(r->address), "%s", resp->address ? resp->address : "");
	snprintf(r->error, sizeof(r->error), "%s", resp->error);
	if (resp->cls == VAULT_OK)
		ck_assert_msg(resp->data == json_object_get(resp->json, "data") || resp->data == NULL,
			      "data is not json's data");
	else
		ck_assert_msg(resp->error[0] != '\0', "no error text for class %d", resp->cls);
	assert_no_secret("response error", resp->error);
}

static void
result_free(struct result *r)
{
	free(r->body);
	free(r->content_type);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static struct vault_op *
start(const char *method, const char *path, const json_t *body, struct result *r)
{
	struct vault_op *op;

	memset(r, 0, sizeof(*r));
	in_request = true;
	op = vault_request(vc, method, path, body, done_cb, r);
	in_request = false;
	ck_assert_ptr_nonnull(op);
	ck_assert_int_eq(r->calls, 0);
	return op;
}

static void
call(const char *method, const char *path, const json_t *body, struct result *r)
{
	start(method, path, body, r);
	run_until(&r->done, 10000);
	ck_assert_msg(r->done, "no callback within 10 s for %s %s", method, path);
}

static const char *
rdata_str(const struct result *r, const char *key)
{
	return json_string_value(json_object_get(json_object_get(r->json, "data"), key));
}

/* ------------------------------------------------------------ the server */

static char *
read_port_file(const char *path, long ms)
{
	char *s = NULL;
	long waited;

	for (waited = 0; waited < ms; waited += 10) {
		s = tu_read_file(path, NULL);
		if (s != NULL && s[0] != '\0')
			return s;
		free(s);
		s = NULL;
		usleep(10000);
	}
	return NULL;
}

static int
parse_port(const char *s)
{
	char *end;
	long v;

	ck_assert_ptr_nonnull(s);
	v = strtol(s, &end, 10);
	ck_assert_msg(v > 0 && v < 65536, "bad port %s", s);
	return (int)v;
}

static void
srv_start(struct server *s, bool tls)
{
	const char *bin = getenv("VAULTSRV");
	char *cfgfile, *pf, *tpf, *text;

	if (bin == NULL || *bin == '\0')
		bin = BUILDDIR "/tests/vaultsrv/vaultsrv";
	memset(s, 0, sizeof(*s));
	s->dir = tu_mkdtemp();
	cfgfile = tu_path(s->dir, "vaultsrv.json");
	pf = tu_path(s->dir, "port");
	tpf = tu_path(s->dir, "tls-port");
	s->ca_file = tu_path(s->dir, "ca.pem");
	tu_write_file(cfgfile, server_config, 0600);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
#ifdef __linux__
		/* A failed test skips its teardown: the server goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
		if (tls)
			execl(bin, bin, "--config", cfgfile, "--port", "0", "--port-file", pf,
			      "--tls-port", "0", "--tls-port-file", tpf, "--tls-auto", "pki_int",
			      "--tls-ca-out", s->ca_file, "--quiet", (char *)NULL);
		else
			execl(bin, bin, "--config", cfgfile, "--port", "0", "--port-file", pf,
			      "--quiet", (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	text = read_port_file(pf, 10000);
	ck_assert_msg(text != NULL, "vaultsrv (%s) did not start", bin);
	s->port = parse_port(text);
	free(text);
	snprintf(s->addr, sizeof(s->addr), "http://127.0.0.1:%d", s->port);
	if (tls) {
		text = read_port_file(tpf, 10000);
		s->tls_port = parse_port(text);
		free(text);
		snprintf(s->tls_addr, sizeof(s->tls_addr), "https://127.0.0.1:%d", s->tls_port);
	}
	free(cfgfile);
	free(pf);
	free(tpf);
}

static void
srv_stop(struct server *s)
{
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, &status, 0);
	}
	tu_rm_rf(s->dir);
	free(s->dir);
	free(s->ca_file);
	memset(s, 0, sizeof(*s));
}

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	buf_append(arg, data, size * n);
	return size * n;
}

/* A blocking request to s (control API or Vault API); returns the JSON
 * answer (NULL when none) and the status. */
static json_t *
srv_http(const struct server *s, const char *method, const char *path, const char *token,
	 const char *body, long *status)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf b = BUF_INIT;
	char *url = xasprintf("%s%s", s->addr, path);
	char *th = token ? xasprintf("X-Vault-Token: %s", token) : NULL;
	long st = 0;
	json_t *j;

	ck_assert_ptr_nonnull(c);
	if (th != NULL)
		h = curl_slist_append(h, th);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
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

static void
ctl(const struct server *s, const char *method, const char *path, const char *body)
{
	long st;
	json_t *j = srv_http(s, method, path, NULL, body, &st);

	ck_assert_msg(st >= 200 && st < 300, "%s %s: HTTP %ld", method, path, st);
	json_decref(j);
}

/* The request log: an array (caller decrefs the returned object). */
static json_t *
srv_log(const struct server *s)
{
	json_t *j = srv_http(s, "GET", "/_test/requests", NULL, NULL, NULL);

	ck_assert_ptr_nonnull(j);
	return j;
}

static long
srv_count(const struct server *s, const char *key)
{
	json_t *j = srv_http(s, "GET", "/_test/counters", NULL, NULL, NULL);
	long n = (long)json_integer_value(json_object_get(json_object_get(j, "requests"), key));

	json_decref(j);
	return n;
}

/* The last logged request for method and path, or NULL (borrowed from
 * *log, which the caller decrefs). */
static json_t *
log_last(const struct server *s, const char *method, const char *path, json_t **log)
{
	json_t *reqs, *rec, *found = NULL;
	size_t i;

	*log = srv_log(s);
	reqs = json_object_get(*log, "requests");
	json_array_foreach(reqs, i, rec) {
		if (strcmp(json_string_value(json_object_get(rec, "method")), method) == 0 &&
		    strcmp(json_string_value(json_object_get(rec, "path")), path) == 0)
			found = rec;
	}
	return found;
}

/* How vaultsrv logs a token: "sha256:" and the first 16 hex digits. */
static char *
token_hash(const char *token)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[17];
	size_t i;

	SHA256((const unsigned char *)token, strlen(token), md);
	for (i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("sha256:%s", hex);
}

static const char *
rec_header(const json_t *rec, const char *name)
{
	return json_string_value(json_object_get(json_object_get(rec, "headers"), name));
}

/* ------------------------------------------------------------ set-up */

static char *
file_in_tmp(const char *name, const char *content, mode_t mode)
{
	char *p = tu_path(tmpdir, name);

	tu_write_file(p, content, mode);
	return p;
}

/* A client for the given addresses (NULL-terminated), auth from cfg. */
static void
client_new(const char *a0, const char *a1)
{
	addrs[0] = a0;
	addrs[1] = a1;
	cfg.addresses = addrs;
	cfg.n_addresses = a1 != NULL ? 2 : 1;
	cfg.connect_timeout_ms = 2000;
	cfg.timeout_ms = 5000;
	vc = vault_new(base, client, &cfg);
	vault_set_event_cb(vc, on_event, NULL);
}

static void
approle_files(const char *role_id, const char *secret)
{
	cfg.auth.method = VAULT_AUTH_APPROLE;
	cfg.auth.role_id_file = file_in_tmp("role-id", role_id, 0644);
	cfg.auth.secret_id_file = file_in_tmp("secret-id", secret, 0600);
}

static void
setup(void)
{
	struct err e = {""};
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	unsetenv("VAULT_TOKEN");
	ck_assert_int_eq(http_global_init(&e), 0);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	client = http_new(base);
	tmpdir = tu_mkdtemp();
	memset(&cfg, 0, sizeof(cfg));
	n_events = 0;
	n_secrets = 0;
	{
		static const char *const known[] = {ROOT_TOKEN, TOKEN_ONE, TOKEN_TWO, SECRET_ID,
						    SECRET_ONCE, WRAPPED, WRAPPED_USED, K8S_JWT,
						    JWT};
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			secret_add(known[i]);
	}
	srv_start(&srv, false);
}

static void
teardown(void)
{
	size_t i;

	vault_free(vc);
	vc = NULL;
	http_free(client);
	client = NULL;
	event_base_free(base);
	srv_stop(&srv);
	if (srv2.pid > 0)
		srv_stop(&srv2);
	free((char *)cfg.auth.token_file);
	free((char *)cfg.auth.role_id_file);
	free((char *)cfg.auth.secret_id_file);
	free((char *)cfg.auth.jwt_file);
	free((char *)cfg.tls.cert_file);
	free((char *)cfg.tls.key_file);
	tu_rm_rf(tmpdir);
	free(tmpdir);
	for (i = 0; i < n_secrets; i++)
		free(secrets[i]);
	http_global_cleanup();
}

/* The client token in use, learnt through the client itself (and added
 * to the secrets that must not show up anywhere). */
static char *
client_token_accessor(void)
{
	struct result r;
	char *acc;

	call("GET", "auth/token/lookup-self", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_OK);
	secret_add(rdata_str(&r, "id"));
	acc = xstrdup(rdata_str(&r, "accessor"));
	result_free(&r);
	return acc;
}

static void
revoke_client_token(void)
{
	char *acc = client_token_accessor();
	char *body = xasprintf("{\"token\": \"%s\"}", acc);

	ctl(&srv, "POST", "/_test/revoke-token", body);
	free(body);
	free(acc);
}

static void
expect_ok_kv(void)
{
	struct result r;

	call("GET", "kv/app/x", NULL, &r);
	ck_assert_msg(r.cls == VAULT_OK, "kv/app/x: class %d: %s", r.cls, r.error);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(rdata_str(&r, "a"), "b");
	ck_assert_str_eq(r.address, srv.addr);
	result_free(&r);
}

/* ------------------------------------------------------------ token */

START_TEST(test_token_env)
{
	struct vault_stats st;
	const struct event_rec *ev;

	setenv("VAULT_TOKEN", " " TOKEN_ONE "\n", 1);
	client_new(srv.addr, NULL);
	unsetenv("VAULT_TOKEN");     /* read once, at vault_new */
	expect_ok_kv();
	expect_ok_kv();
	vault_get_stats(vc, &st);
	ck_assert_uint_eq(st.logins, 1);
	ck_assert_uint_eq(st.requests, 3);    /* lookup-self and two reads */
	ck_assert_int_eq(srv_count(&srv, "GET /v1/auth/token/lookup-self"), 1);
	ev = event_find(VAULT_EV_LOGIN, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_msg(strstr(ev->detail, "VAULT_TOKEN") && strstr(ev->detail, "ttl 3"),
		      "login event: %s", ev->detail);
}
END_TEST

/* A root token has TTL 0: it never expires and is never renewed. */
START_TEST(test_token_root_never_expires)
{
	const struct event_rec *ev;

	setenv("VAULT_TOKEN", ROOT_TOKEN, 1);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	ev = event_find(VAULT_EV_LOGIN, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_msg(strstr(ev->detail, "never expires") != NULL, "%s", ev->detail);
}
END_TEST

START_TEST(test_token_file_changes)
{
	json_t *log, *rec;
	char *h1 = token_hash(TOKEN_ONE), *h2 = token_hash(TOKEN_TWO);

	cfg.auth.token_file = file_in_tmp("token", TOKEN_ONE "\n", 0600);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	rec = log_last(&srv, "GET", "/v1/kv/app/x", &log);
	ck_assert_str_eq(rec_header(rec, "X-Vault-Token"), h1);
	json_decref(log);
	/* Rewritten (a new inode, as an agent's sink does): the next request
	 * looks the new token up and sends it. */
	unlink(cfg.auth.token_file);
	tu_write_file(cfg.auth.token_file, "  " TOKEN_TWO "  \n", 0600);
	expect_ok_kv();
	rec = log_last(&srv, "GET", "/v1/kv/app/x", &log);
	ck_assert_str_eq(rec_header(rec, "X-Vault-Token"), h2);
	json_decref(log);
	ck_assert_int_eq(srv_count(&srv, "GET /v1/auth/token/lookup-self"), 2);
	free(h1);
	free(h2);
}
END_TEST

/* A secret readable by others is refused, naming the file and its mode. */
START_TEST(test_token_file_mode)
{
	struct result r;

	cfg.auth.token_file = file_in_tmp("token", TOKEN_ONE "\n", 0644);
	client_new(srv.addr, NULL);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_DENIED);
	ck_assert_msg(strstr(r.error, cfg.auth.token_file) && strstr(r.error, "0644"), "%s",
		      r.error);
	ck_assert_int_eq(srv_count(&srv, "GET /v1/auth/token/lookup-self"), 0);
	ck_assert_ptr_nonnull(event_find(VAULT_EV_LOGIN_FAILED, 0));
	result_free(&r);
}
END_TEST

/* A token without the default policy cannot look itself up: it is used
 * as it is (no renewal), and works for what its policies allow. */
START_TEST(test_token_no_lookup)
{
	const struct event_rec *ev;

	ctl(&srv, "POST", "/_test/tokens",
	    "{\"id\": \"s.no-default-0123456789\", \"policies\": [\"certd\"], \"ttl\": 60}");
	secret_add("s.no-default-0123456789");
	cfg.auth.token_file = file_in_tmp("token", "s.no-default-0123456789", 0600);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	ev = event_find(VAULT_EV_LOGIN, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_msg(strstr(ev->detail, "TTL unknown") != NULL, "%s", ev->detail);
}
END_TEST

/* Credential files that cannot be used: a missing one may still come
 * (transient); anything else refuses the login, naming the file. */
static const struct {
	enum vault_auth_method method;
	const char *file;       /* NULL: none is written */
	mode_t mode;
	bool dir;               /* a directory where the file should be */
	enum vault_class cls;
	const char *error;      /* after "<key> <path>" */
} cred_cases[] = {
	{VAULT_AUTH_TOKEN, NULL, 0, false, VAULT_TRANSIENT, ": No such file or directory"},
	{VAULT_AUTH_TOKEN, "", 0600, false, VAULT_DENIED, ": empty"},
	{VAULT_AUTH_TOKEN, "two words", 0600, false, VAULT_DENIED, ": not a single word"},
	{VAULT_AUTH_TOKEN, NULL, 0, true, VAULT_DENIED, ": not a regular file"},
	{VAULT_AUTH_APPROLE, SECRET_ID, 0640, false, VAULT_DENIED, ": mode 0640"},
	{VAULT_AUTH_JWT, JWT, 0604, false, VAULT_DENIED, ": mode 0604"},
	{VAULT_AUTH_KUBERNETES, NULL, 0, false, VAULT_TRANSIENT, ": No such file or directory"},
};

START_TEST(test_credential_files)
{
	struct result r;
	char *path = tu_path(tmpdir, "cred"), *want;
	const char *key;

	cfg.auth.method = cred_cases[_i].method;
	if (cred_cases[_i].dir)
		ck_assert_int_eq(mkdir(path, 0700), 0);
	else if (cred_cases[_i].file != NULL)
		tu_write_file(path, cred_cases[_i].file, cred_cases[_i].mode);
	switch (cfg.auth.method) {
	case VAULT_AUTH_TOKEN:
		cfg.auth.token_file = path;
		key = "token_file";
		break;
	case VAULT_AUTH_APPROLE:
		cfg.auth.role_id_file = file_in_tmp("role-id", "role-certd", 0644);
		cfg.auth.secret_id_file = path;
		key = "secret_id_file";
		break;
	default:
		cfg.auth.role = "certd";
		cfg.auth.jwt_file = path;
		key = "jwt_file";
		break;
	}
	client_new(srv.addr, NULL);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, cred_cases[_i].cls);
	want = xasprintf("%s %s%s", key, path, cred_cases[_i].error);
	ck_assert_msg(strncmp(r.error, want, strlen(want)) == 0, "%s", r.error);
	ck_assert_str_eq(r.address, srv.addr);
	ck_assert_int_eq(srv_count(&srv, "GET /v1/kv/app/x"), 0);
	free(want);
	result_free(&r);
}
END_TEST

/* A token that is not renewable is forgotten at expiry and looked up
 * again from its file. */
START_TEST(test_token_expiry)
{
	struct result r;

	ctl(&srv, "POST", "/_test/tokens",
	    "{\"id\": \"s.brief-0123456789\", \"policies\": [\"certd\", \"default\"],"
	    " \"ttl\": 2, \"renewable\": false}");
	secret_add("s.brief-0123456789");
	cfg.auth.token_file = file_in_tmp("token", "s.brief-0123456789", 0600);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	run_until(NULL, 2300);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_DENIED);
	ck_assert_int_eq(srv_count(&srv, "GET /v1/auth/token/lookup-self"), 2);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/token/renew-self"), 0);
	result_free(&r);
}
END_TEST

/* A revoked token whose file did not change: nothing better to send. */
START_TEST(test_token_revoked)
{
	struct result r;

	cfg.auth.token_file = file_in_tmp("token", TOKEN_ONE, 0600);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	ctl(&srv, "POST", "/_test/revoke-token", "{\"token\": \"" TOKEN_ONE "\"}");
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_DENIED);
	ck_assert_int_eq(r.status, 403);
	ck_assert_str_eq(r.error, "permission denied on kv/app/x: permission denied");
	result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ approle */

START_TEST(test_approle_login)
{
	struct vault_stats st;
	json_t *log, *rec;

	approle_files("role-certd\n", SECRET_ID "\n");
	client_new(srv.addr, NULL);
	expect_ok_kv();
	expect_ok_kv();
	vault_get_stats(vc, &st);
	ck_assert_uint_eq(st.logins, 1);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 1);
	rec = log_last(&srv, "POST", "/v1/auth/approle/login", &log);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "body")),
			 "{\"role_id\":\"role-certd\",\"secret_id\":\"" SECRET_ID "\"}");
	ck_assert_str_eq(rec_header(rec, "Content-Type"), "application/json");
	ck_assert_ptr_null(rec_header(rec, "X-Vault-Token"));
	json_decref(log);
	ck_assert_int_eq(access(cfg.auth.secret_id_file, F_OK), 0);   /* not asked to remove */
}
END_TEST

START_TEST(test_approle_bad_secret)
{
	struct result r, r2;
	const struct event_rec *ev;

	approle_files("role-certd", "nope-nope-nope-nope");
	secret_add("nope-nope-nope-nope");
	client_new(srv.addr, NULL);
	/* Two requests wait for the same login, and both hear of it. */
	start("GET", "kv/app/x", NULL, &r);
	start("GET", "kv/app/x", NULL, &r2);
	run_until(&r2.done, 5000);
	run_until(&r.done, 5000);
	ck_assert_int_eq(r.cls, VAULT_DENIED);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(r.error, "approle login at auth/approle refused: invalid secret id");
	ck_assert_str_eq(r.address, srv.addr);
	ck_assert_str_eq(r2.error, r.error);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 1);
	ev = event_find(VAULT_EV_LOGIN_FAILED, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_ptr_nonnull(strstr(ev->detail, "invalid secret id"));
	result_free(&r);
	result_free(&r2);
}
END_TEST

START_TEST(test_approle_wrapped)
{
	char *h = token_hash(WRAPPED);
	json_t *log, *rec;

	approle_files("role-certd", WRAPPED "\n");
	cfg.auth.secret_id_wrapped = true;
	client_new(srv.addr, NULL);
	expect_ok_kv();
	rec = log_last(&srv, "POST", "/v1/sys/wrapping/unwrap", &log);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "body")), "");
	ck_assert_str_eq(rec_header(rec, "X-Vault-Token"), h);
	json_decref(log);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 1);
	/* The wrapping token is spent; a re-login uses the unwrapped secret
	 * ID kept in memory. */
	revoke_client_token();
	expect_ok_kv();
	ck_assert_int_eq(srv_count(&srv, "POST /v1/sys/wrapping/unwrap"), 1);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 2);
	free(h);
}
END_TEST

START_TEST(test_approle_wrapped_used)
{
	struct result r;
	long st;
	json_t *j;

	/* Someone unwrapped it first: Vault says so, and certd says Vault did. */
	j = srv_http(&srv, "POST", "/v1/sys/wrapping/unwrap", WRAPPED_USED, NULL, &st);
	ck_assert_int_eq(st, 200);
	json_decref(j);
	approle_files("role-certd", WRAPPED_USED);
	cfg.auth.secret_id_wrapped = true;
	client_new(srv.addr, NULL);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_DENIED);
	ck_assert_msg(strstr(r.error, "wrapping token is not valid or does not exist") != NULL,
		      "%s", r.error);
	ck_assert_ptr_nonnull(strstr(r.error, cfg.auth.secret_id_file));
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 0);
	result_free(&r);
}
END_TEST

START_TEST(test_approle_remove_secret_id_file)
{
	struct result r;

	approle_files("role-certd", _i == 0 ? SECRET_ID : SECRET_ONCE);
	cfg.auth.remove_secret_id_file = true;
	client_new(srv.addr, NULL);
	expect_ok_kv();
	ck_assert_int_eq(access(cfg.auth.secret_id_file, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* A re-login after the file is gone: the kept secret ID works when it
	 * is reusable; a single-use one is refused, and the error says why. */
	revoke_client_token();
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 2);
	if (_i == 0) {
		ck_assert_int_eq(r.cls, VAULT_OK);
	} else {
		ck_assert_int_eq(r.cls, VAULT_DENIED);
		ck_assert_msg(strstr(r.error, "invalid secret id") &&
				  strstr(r.error, "secret ID file was consumed"),
			      "%s", r.error);
		result_free(&r);
		/* And from then on, without asking Vault. */
		call("GET", "kv/app/x", NULL, &r);
		ck_assert_int_eq(r.cls, VAULT_DENIED);
		ck_assert_msg(strstr(r.error, "consumed") != NULL, "%s", r.error);
		ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 2);
	}
	result_free(&r);
}
END_TEST

/* 403 on a request: one new login, the request again, success. */
START_TEST(test_denied_relogin_retry)
{
	struct vault_stats st;
	const struct event_rec *ev;

	approle_files("role-certd", SECRET_ID);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	revoke_client_token();
	expect_ok_kv();
	vault_get_stats(vc, &st);
	ck_assert_uint_eq(st.logins, 2);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 2);
	ck_assert_int_eq(srv_count(&srv, "GET /v1/kv/app/x"), 3);
	ev = event_find(VAULT_EV_RELOGIN, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_msg(strstr(ev->detail, "kv/app/x") != NULL, "%s", ev->detail);
}
END_TEST

/* Still 403 after the new login: denied, naming the path, Vault's
 * go-multierror wrapper removed. */
START_TEST(test_denied_after_relogin)
{
	struct result r;

	approle_files("role-certd", SECRET_ID);
	client_new(srv.addr, NULL);
	call("POST", "pki/issue/web", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_DENIED);
	ck_assert_int_eq(r.status, 403);
	ck_assert_str_eq(r.error, "permission denied on pki/issue/web: permission denied");
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 2);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/pki/issue/web"), 2);
	result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ cert, kubernetes, jwt */

static void
issue_client_cert(const char *cn, const char *cert_path, const char *key_path)
{
	char *body = xasprintf("{\"common_name\": \"%s\"}", cn);
	json_t *j = srv_http(&srv, "POST", "/v1/pki_int/issue/web", ROOT_TOKEN, body, NULL);
	json_t *data = json_object_get(j, "data");

	ck_assert_ptr_nonnull(json_string_value(json_object_get(data, "certificate")));
	unlink(cert_path);
	unlink(key_path);
	tu_write_file(cert_path, json_string_value(json_object_get(data, "certificate")), 0644);
	tu_write_file(key_path, json_string_value(json_object_get(data, "private_key")), 0600);
	json_decref(j);
	free(body);
}

static const char *
last_cert_login_cn(void)
{
	static char cn[128];
	json_t *log, *rec = log_last(&srv, "POST", "/v1/auth/cert/login", &log);

	ck_assert_ptr_nonnull(rec);
	ck_assert(json_is_true(json_object_get(rec, "tls")));
	snprintf(cn, sizeof(cn), "%s",
		 json_string_value(json_object_get(rec, "client_cert")) != NULL
		     ? json_string_value(json_object_get(rec, "client_cert"))
		     : "(none)");
	json_decref(log);
	return cn;
}

START_TEST(test_cert_login_mtls)
{
	struct result r;

	srv_stop(&srv);
	srv_start(&srv, true);
	cfg.tls.cert_file = tu_path(tmpdir, "client.crt");
	cfg.tls.key_file = tu_path(tmpdir, "client.key");
	cfg.tls.ca_file = srv.ca_file;
	issue_client_cert("node1.example.com", cfg.tls.cert_file, cfg.tls.key_file);
	cfg.auth.method = VAULT_AUTH_CERT;
	cfg.auth.cert_role = "node";
	client_new(srv.tls_addr, NULL);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_msg(r.cls == VAULT_OK, "%s", r.error);
	ck_assert_str_eq(r.address, srv.tls_addr);
	result_free(&r);
	ck_assert_str_eq(last_cert_login_cn(), "node1.example.com");
	/* The client certificate is renewed on disk; the next login (here
	 * after a revocation) presents the new one, without a restart. */
	issue_client_cert("node2.example.com", cfg.tls.cert_file, cfg.tls.key_file);
	revoke_client_token();
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_msg(r.cls == VAULT_OK, "%s", r.error);
	result_free(&r);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/cert/login"), 2);
	ck_assert_str_eq(last_cert_login_cn(), "node2.example.com");
}
END_TEST

/* Without a client certificate Vault refuses the login: denied, Vault's
 * reason. */
START_TEST(test_cert_login_no_cert)
{
	struct result r;

	srv_stop(&srv);
	srv_start(&srv, true);
	cfg.tls.ca_file = srv.ca_file;
	cfg.auth.method = VAULT_AUTH_CERT;
	client_new(srv.tls_addr, NULL);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_DENIED);
	ck_assert_str_eq(r.error,
			 "cert login at auth/cert refused: client certificate must be supplied");
	result_free(&r);
}
END_TEST

START_TEST(test_jwt_logins)
{
	bool k8s = _i == 0;
	json_t *log, *rec;
	char *want;

	cfg.auth.method = k8s ? VAULT_AUTH_KUBERNETES : VAULT_AUTH_JWT;
	cfg.auth.role = "certd";
	cfg.auth.jwt_file = file_in_tmp("sa.jwt", k8s ? K8S_JWT "\n" : JWT "\n", 0600);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	rec = log_last(&srv, "POST", k8s ? "/v1/auth/kubernetes/login" : "/v1/auth/jwt/login",
		       &log);
	ck_assert_ptr_nonnull(rec);
	want = xasprintf("{\"role\":\"certd\",\"jwt\":\"%s\"}", k8s ? K8S_JWT : JWT);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "body")), want);
	free(want);
	json_decref(log);
}
END_TEST

/* A JWT that Vault does not accept: its reason, and not the JWT. */
START_TEST(test_jwt_refused)
{
	struct result r;

	cfg.auth.method = VAULT_AUTH_JWT;
	cfg.auth.role = "certd";
	cfg.auth.jwt_file = file_in_tmp("sa.jwt", K8S_JWT, 0600);
	client_new(srv.addr, NULL);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_DENIED);
	ck_assert_str_eq(r.error,
			 "jwt login at auth/jwt refused: error validating token: invalid signature");
	result_free(&r);
}
END_TEST

/* ------------------------------------------------------------ token lifecycle */

static bool
log_has(const struct server *s, const char *method, const char *path)
{
	json_t *log;
	bool found = log_last(s, method, path, &log) != NULL;

	json_decref(log);
	return found;
}

/* renew-self at 2/3 of a 3 s TTL: before 2.5 s have passed. */
START_TEST(test_renewal)
{
	struct timespec t0, t1;
	struct vault_stats st;
	const struct event_rec *ev;
	double secs;

	if (_i == 0) {
		approle_files("role-short", SECRET_ID "-short");
		secret_add(SECRET_ID "-short");
	} else {
		ctl(&srv, "POST", "/_test/tokens",
		    "{\"id\": \"s.short-lived-0123456789\", \"policies\": [\"certd\", \"default\"],"
		    " \"ttl\": 3}");
		secret_add("s.short-lived-0123456789");
		cfg.auth.token_file = file_in_tmp("token", "s.short-lived-0123456789", 0600);
	}
	client_new(srv.addr, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_ok_kv();
	while (!log_has(&srv, "POST", "/v1/auth/token/renew-self")) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		ck_assert_msg(secs < 2.5, "no renew-self within 2.5 s");
		run_until(NULL, 50);
	}
	run_until(NULL, 100);
	vault_get_stats(vc, &st);
	ck_assert_uint_eq(st.renewals, 1);
	ck_assert_uint_eq(st.logins, 1);
	ev = event_find(VAULT_EV_RENEWED, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_msg(strstr(ev->detail, "ttl 3s") != NULL, "%s", ev->detail);
	expect_ok_kv();
}
END_TEST

/* token_ttl 3 s, token_max_ttl 4 s: the renewal comes back capped, and a
 * new login follows before the token expires. */
START_TEST(test_relogin_at_max_ttl)
{
	struct vault_stats st;
	const struct event_rec *ev;
	int i;

	approle_files("role-capped", SECRET_ID "-capped");
	secret_add(SECRET_ID "-capped");
	client_new(srv.addr, NULL);
	expect_ok_kv();
	for (i = 0; i < 100; i++) {
		vault_get_stats(vc, &st);
		if (st.logins == 2)
			break;
		run_until(NULL, 50);
	}
	ck_assert_uint_eq(st.logins, 2);
	ck_assert_uint_ge(st.renewals, 1);
	ev = event_find(VAULT_EV_RELOGIN, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_msg(strstr(ev->detail, "max TTL") != NULL, "%s", ev->detail);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/auth/approle/login"), 2);
	expect_ok_kv();
}
END_TEST

/* ------------------------------------------------------------ failures */

START_TEST(test_sealed)
{
	struct result r;

	setenv("VAULT_TOKEN", TOKEN_ONE, 1);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	ctl(&srv, "POST", "/_test/seal", NULL);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_TRANSIENT);
	ck_assert_int_eq(r.status, 503);
	ck_assert_msg(strstr(r.error, "Vault is sealed") && strstr(r.error, srv.addr), "%s",
		      r.error);
	result_free(&r);
}
END_TEST

/* A port nothing listens on. */
static int
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

START_TEST(test_failover)
{
	char dead[64];
	struct vault_stats st;
	const struct event_rec *ev;

	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", closed_port());
	setenv("VAULT_TOKEN", TOKEN_ONE, 1);
	client_new(dead, srv.addr);
	expect_ok_kv();
	vault_get_stats(vc, &st);
	ck_assert_uint_eq(st.failovers, 1);
	ev = event_find(VAULT_EV_FAILOVER, 0);
	ck_assert_ptr_nonnull(ev);
	ck_assert_msg(strstr(ev->detail, dead) && strstr(ev->detail, srv.addr), "%s", ev->detail);
	/* The address that answered is tried first from now on. */
	expect_ok_kv();
	vault_get_stats(vc, &st);
	ck_assert_uint_eq(st.failovers, 1);
	ck_assert_ptr_null(event_find(VAULT_EV_FAILOVER, 1));
}
END_TEST

START_TEST(test_all_addresses_fail)
{
	char a[64], b[64];
	struct result r;

	snprintf(a, sizeof(a), "http://127.0.0.1:%d", closed_port());
	snprintf(b, sizeof(b), "http://127.0.0.1:%d/", closed_port());
	setenv("VAULT_TOKEN", TOKEN_ONE, 1);
	client_new(a, b);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_TRANSIENT);
	ck_assert_int_eq(r.status, 0);
	b[strlen(b) - 1] = '\0';
	ck_assert_str_eq(r.address, b);
	ck_assert_msg(strncmp(r.error, b, strlen(b)) == 0 && strstr(r.error, "onnect") != NULL,
		      "%s", r.error);
	result_free(&r);
}
END_TEST

/* A standby sends the request to the active node: same method, body and
 * token, one request for the counters. */
START_TEST(test_standby_redirect)
{
	struct vault_stats st;
	struct result r;
	json_t *body = json_pack("{ss}", "k", "v"), *log, *rec;
	char *h = token_hash(TOKEN_ONE), *sb;

	srv_start(&srv2, false);
	sb = xasprintf("{\"enabled\": true, \"redirect\": \"%s\"}", srv2.addr);
	ctl(&srv, "POST", "/_test/standby", sb);
	free(sb);
	setenv("VAULT_TOKEN", TOKEN_ONE, 1);
	client_new(srv.addr, NULL);
	call("POST", "kv/app/y", body, &r);
	ck_assert_msg(r.cls == VAULT_OK, "%s", r.error);
	ck_assert_int_eq(r.status, 204);
	ck_assert_str_eq(r.address, srv2.addr);
	result_free(&r);
	rec = log_last(&srv2, "POST", "/v1/kv/app/y", &log);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "body")), "{\"k\":\"v\"}");
	ck_assert_str_eq(rec_header(rec, "X-Vault-Token"), h);
	json_decref(log);
	ck_assert_int_eq(srv_count(&srv, "POST /v1/kv/app/y"), 1);   /* the 307 */
	vault_get_stats(vc, &st);
	ck_assert_uint_eq(st.requests, 2);   /* lookup-self, the write */
	ck_assert_uint_eq(st.failovers, 0);
	json_decref(body);
	free(h);
}
END_TEST

START_TEST(test_redirect_loop)
{
	struct result r;
	char *sb = xasprintf("{\"enabled\": true, \"redirect\": \"%s\"}", srv.addr);

	setenv("VAULT_TOKEN", ROOT_TOKEN, 1);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	ctl(&srv, "POST", "/_test/standby", sb);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_TRANSIENT);
	ck_assert_msg(strstr(r.error, "more than 3 redirects") != NULL, "%s", r.error);
	ck_assert_int_eq(srv_count(&srv, "GET /v1/kv/app/x"), 1 + 4);
	free(sb);
	result_free(&r);
}
END_TEST

static const struct {
	const char *method;
	const char *path;
	const char *body;
	enum vault_class cls;
	long status;
	const char *error;
} refusal_cases[] = {
	{"POST", "pki_int/issue/web", "{\"common_name\": \"www.evil.org\"}", VAULT_PERMANENT, 400,
	 "common name www.evil.org not allowed by this role"},
	{"POST", "pki_int/issue/nosuch", "{\"common_name\": \"a.example.com\"}", VAULT_PERMANENT,
	 400, "unknown role: nosuch"},
	{"POST", "nosuchpki/issue/web", "{\"common_name\": \"a.example.com\"}", VAULT_PERMANENT, 404,
	 "no handler for route 'nosuchpki/issue/web'"},
	{"GET", "kv/nothing/here", NULL, VAULT_PERMANENT, 404, "not found: kv/nothing/here"},
	{"BREW", "kv/app/x", NULL, VAULT_PERMANENT, 0, "unsupported method BREW"},
	{"GET", "kv/app x", NULL, VAULT_PERMANENT, 0, "invalid Vault path"},
};

START_TEST(test_refusals)
{
	struct result r;
	json_t *body = refusal_cases[_i].body ? json_loads(refusal_cases[_i].body, 0, NULL) : NULL;

	setenv("VAULT_TOKEN", ROOT_TOKEN, 1);
	client_new(srv.addr, NULL);
	call(refusal_cases[_i].method, refusal_cases[_i].path, body, &r);
	ck_assert_int_eq(r.cls, refusal_cases[_i].cls);
	ck_assert_int_eq(r.status, refusal_cases[_i].status);
	ck_assert_str_eq(r.error, refusal_cases[_i].error);
	if (refusal_cases[_i].status != 0)
		ck_assert(r.had_json);
	result_free(&r);
	json_decref(body);
}
END_TEST

static const struct {
	const char *fault;
	const char *error;      /* after "<address>: " or "... from <address>" */
	long retry_after;
	long status;
} fault_cases[] = {
	{"{\"path\": \"kv/app/x\", \"action\": \"status\", \"status\": 429, \"retry_after\": 7,"
	 " \"json\": {\"errors\": [\"rate limit quota exceeded\"]}}",
	 "rate limit quota exceeded", 7, 429},
	{"{\"path\": \"kv/app/x\", \"action\": \"status\", \"status\": 500}", "injected fault", -1,
	 500},
	{"{\"path\": \"kv/app/x\", \"action\": \"status\", \"status\": 502, \"content_type\":"
	 " \"text/html\", \"body\": \"<html>bad gateway</html>\"}",
	 "HTTP 502", -1, 502},
	{"{\"path\": \"kv/app/x\", \"action\": \"nonjson\"}", "unexpected text/html response", -1,
	 200},
	{"{\"path\": \"kv/app/x\", \"action\": \"truncate\"}", "invalid JSON from", -1, 200},
	{"{\"path\": \"kv/app/x\", \"action\": \"close\", \"count\": 0}", "", -1, 0},
	/* tests/fuzz/fuzz_vault.c: an error whose last line ends in "\r" made
	 * the client join Vault's errors forever, freezing the event loop. */
	{"{\"path\": \"kv/app/x\", \"action\": \"status\", \"status\": 429,"
	 " \"json\": {\"errors\": [\"2 errors occurred:\\n\\t* quota\\n\\t* exceeded\\r\\r\"]}}",
	 ": quota; exceeded", -1, 429},
};

START_TEST(test_transient_faults)
{
	struct result r;

	setenv("VAULT_TOKEN", ROOT_TOKEN, 1);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	ctl(&srv, "POST", "/_test/faults", fault_cases[_i].fault);
	call("GET", "kv/app/x", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_TRANSIENT);
	ck_assert_int_eq(r.status, fault_cases[_i].status);
	ck_assert_int_eq(r.retry_after, fault_cases[_i].retry_after);
	ck_assert_msg(strstr(r.error, fault_cases[_i].error) != NULL && strstr(r.error, srv.addr),
		      "%s", r.error);
	ck_assert(!r.had_json || r.status >= 400);
	result_free(&r);
	ctl(&srv, "DELETE", "/_test/faults", NULL);
	expect_ok_kv();
}
END_TEST

/* vault_errors() on its own: the message a user sees for Vault's "errors". */
static const struct {
	const char *json;
	const char *text;
} errors_cases[] = {
	{"{\"errors\": [\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}",
	 "permission denied"},
	{"{\"errors\": [\"a\\r\\nb\", \" c\\t\", 7, null, \"d\\u0001e\"]}", "a; b; c; d e"},
	{"{\"errors\": \"not a list\"}", ""},
	{"[\"errors\"]", ""},
	/* The reproducer of tests/fuzz/fuzz_vault.c: it never returned. */
	{"{\"errors\": [\"1 error occurre:d\\n\\t* permission denied\\n\\n\", \"2 bitserrors "
	 "occurred:\\n\\t* a\\n\\t* b\\r\\r\", \" x\\t\", 6, null]}",
	 "1 error occurre:d; permission denied; 2 bitserrors occurred:; a; b; x"},
	{"{\"errors\": [\"x \\r\", \"\\r\", \"y\"]}", "x; y"},
};

START_TEST(test_errors_text)
{
	json_t *j = json_loads(errors_cases[_i].json, 0, NULL);
	struct buf b = BUF_INIT;

	ck_assert_ptr_nonnull(j);
	vault_errors(j, &b);
	ck_assert_str_eq(buf_str(&b), errors_cases[_i].text);
	buf_free(&b);
	json_decref(j);
}
END_TEST

START_TEST(test_bare_pem)
{
	struct result r;

	setenv("VAULT_TOKEN", TOKEN_ONE, 1);
	client_new(srv.addr, NULL);
	call("GET", _i == 0 ? "pki_int/ca/pem" : "pki_int/ca_chain", NULL, &r);
	ck_assert_int_eq(r.cls, VAULT_OK);
	ck_assert(!r.had_json);
	ck_assert_str_eq(r.content_type, "application/pkix-cert");
	ck_assert_msg(strncmp(r.body, "-----BEGIN CERTIFICATE-----", 27) == 0, "%s", r.body);
	result_free(&r);
}
END_TEST

START_TEST(test_list)
{
	struct result r;
	json_t *log, *rec;

	setenv("VAULT_TOKEN", TOKEN_ONE, 1);
	client_new(srv.addr, NULL);
	call("LIST", "pki_int/certs", NULL, &r);
	ck_assert_msg(r.cls == VAULT_OK, "%s", r.error);
	ck_assert(json_is_array(json_object_get(json_object_get(r.json, "data"), "keys")));
	rec = log_last(&srv, "LIST", "/v1/pki_int/certs", &log);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "query")), "list=true");
	json_decref(log);
	result_free(&r);
}
END_TEST

START_TEST(test_namespace)
{
	json_t *log, *rec;

	cfg.namespace_ = "team-a/certs";
	approle_files("role-certd", SECRET_ID);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	rec = log_last(&srv, "POST", "/v1/auth/approle/login", &log);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "namespace")), "team-a/certs");
	json_decref(log);
	rec = log_last(&srv, "GET", "/v1/kv/app/x", &log);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "namespace")), "team-a/certs");
	ck_assert_str_eq(rec_header(rec, "X-Vault-Request"), "true");
	json_decref(log);
}
END_TEST

/* ------------------------------------------------------------ lifecycle */

START_TEST(test_cancel)
{
	struct result r, r2;
	struct vault_op *op;

	/* _i 0: in flight; 1: waiting for a (slow) login. */
	if (_i == 0) {
		setenv("VAULT_TOKEN", ROOT_TOKEN, 1);
		client_new(srv.addr, NULL);
		expect_ok_kv();
		ctl(&srv, "POST", "/_test/faults",
		    "{\"path\": \"kv/app/x\", \"action\": \"delay\", \"delay_ms\": 300}");
	} else {
		approle_files("role-certd", SECRET_ID);
		ctl(&srv, "POST", "/_test/faults",
		    "{\"path\": \"auth/approle/login\", \"action\": \"delay\", \"delay_ms\": 300}");
		client_new(srv.addr, NULL);
	}
	op = start("GET", "kv/app/x", NULL, &r);
	start("GET", "kv/app/x", NULL, &r2);
	run_until(NULL, 100);
	vault_cancel(op);
	run_until(&r2.done, 5000);
	run_until(NULL, 300);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_int_eq(r2.cls, VAULT_OK);
	result_free(&r2);
}
END_TEST

/* Cancelled at once, including a request refused before it was sent. */
START_TEST(test_cancel_before_loop)
{
	struct result r, r2;

	setenv("VAULT_TOKEN", ROOT_TOKEN, 1);
	client_new(srv.addr, NULL);
	vault_cancel(start("GET", "kv/app/x", NULL, &r));
	vault_cancel(start("BREW", "kv/app/x", NULL, &r2));
	run_until(NULL, 300);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(r2.calls, 0);
}
END_TEST

START_TEST(test_free_in_flight)
{
	struct result r, r2;

	approle_files("role-certd", SECRET_ID);
	ctl(&srv, "POST", "/_test/faults",
	    "{\"path\": \"auth/approle/login\", \"action\": \"delay\", \"delay_ms\": 300}");
	client_new(srv.addr, NULL);
	start("GET", "kv/app/x", NULL, &r);     /* waiting for the login */
	run_until(NULL, 20);
	vault_free(vc);
	vc = NULL;
	run_until(NULL, 300);
	ck_assert_int_eq(r.calls, 0);
	/* And with a request in flight and a renewal timer armed. */
	cfg.auth.method = VAULT_AUTH_TOKEN;
	setenv("VAULT_TOKEN", TOKEN_ONE, 1);
	client_new(srv.addr, NULL);
	expect_ok_kv();
	start("GET", "kv/app/x", NULL, &r2);
	vault_free(vc);
	vc = NULL;
	run_until(NULL, 300);
	ck_assert_int_eq(r2.calls, 0);
}
END_TEST

/* A callback that frees the client while other requests are pending (the
 * daemon does so on shutdown): no other callback, nothing touched after. */
static struct result free_r2;

static void
free_cb(struct vault_response *resp, void *arg)
{
	done_cb(resp, arg);
	vault_free(vc);
	vc = NULL;
}

START_TEST(test_free_in_callback)
{
	struct result r;

	/* _i 0: from a response; 1: from a login failure with two waiting. */
	if (_i == 0) {
		setenv("VAULT_TOKEN", ROOT_TOKEN, 1);
		client_new(srv.addr, NULL);
		expect_ok_kv();
	} else {
		approle_files("role-certd", "nope-nope-nope-nope");
		secret_add("nope-nope-nope-nope");
		client_new(srv.addr, NULL);
	}
	ctl(&srv, "POST", "/_test/faults",
	    "{\"path\": \"kv/app/z\", \"action\": \"delay\", \"delay_ms\": 500}");
	memset(&r, 0, sizeof(r));
	vault_request(vc, "GET", "kv/app/x", NULL, free_cb, &r);
	start("GET", "kv/app/z", NULL, &free_r2);
	run_until(&r.done, 5000);
	run_until(NULL, 200);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_ptr_null(vc);
	ck_assert_int_eq(free_r2.calls, 0);
	result_free(&r);
}
END_TEST

/* A request made from a callback goes out (no deadlock behind a login). */
static struct result chained;

static void
chain_cb(struct vault_response *resp, void *arg)
{
	done_cb(resp, arg);
	start("GET", "kv/app/x", NULL, &chained);
}

START_TEST(test_request_from_callback)
{
	struct result r;

	approle_files("role-certd", SECRET_ID);
	client_new(srv.addr, NULL);
	memset(&r, 0, sizeof(r));
	vault_request(vc, "GET", "kv/app/x", NULL, chain_cb, &r);
	run_until(&r.done, 5000);
	run_until(&chained.done, 5000);
	ck_assert_int_eq(r.cls, VAULT_OK);
	ck_assert_int_eq(chained.cls, VAULT_OK);
	result_free(&r);
	result_free(&chained);
}
END_TEST

static Suite *
vault_suite(void)
{
	Suite *s = suite_create("vault");
	TCase *auth = tcase_create("auth");
	TCase *life = tcase_create("token lifecycle");
	TCase *fail = tcase_create("failures");
	TCase *ops = tcase_create("ops");
	TCase *all[] = {auth, life, fail, ops};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		tcase_add_checked_fixture(all[i], setup, teardown);
		tcase_set_timeout(all[i], 30);
		suite_add_tcase(s, all[i]);
	}
	tcase_add_test(auth, test_token_env);
	tcase_add_test(auth, test_token_root_never_expires);
	tcase_add_test(auth, test_token_file_changes);
	tcase_add_test(auth, test_token_file_mode);
	tcase_add_test(auth, test_token_no_lookup);
	tcase_add_test(auth, test_token_revoked);
	tcase_add_loop_test(auth, test_credential_files, 0,
			    sizeof(cred_cases) / sizeof(cred_cases[0]));
	tcase_add_test(auth, test_approle_login);
	tcase_add_test(auth, test_approle_bad_secret);
	tcase_add_test(auth, test_approle_wrapped);
	tcase_add_test(auth, test_approle_wrapped_used);
	tcase_add_loop_test(auth, test_approle_remove_secret_id_file, 0, 2);
	tcase_add_test(auth, test_denied_relogin_retry);
	tcase_add_test(auth, test_denied_after_relogin);
	tcase_add_test(auth, test_cert_login_mtls);
	tcase_add_test(auth, test_cert_login_no_cert);
	tcase_add_loop_test(auth, test_jwt_logins, 0, 2);
	tcase_add_test(auth, test_jwt_refused);

	tcase_add_loop_test(life, test_renewal, 0, 2);
	tcase_add_test(life, test_relogin_at_max_ttl);
	tcase_add_test(life, test_token_expiry);

	tcase_add_test(fail, test_sealed);
	tcase_add_test(fail, test_failover);
	tcase_add_test(fail, test_all_addresses_fail);
	tcase_add_test(fail, test_standby_redirect);
	tcase_add_test(fail, test_redirect_loop);
	tcase_add_loop_test(fail, test_refusals, 0, sizeof(refusal_cases) / sizeof(refusal_cases[0]));
	tcase_add_loop_test(fail, test_transient_faults, 0,
			    sizeof(fault_cases) / sizeof(fault_cases[0]));
	tcase_add_loop_test(fail, test_errors_text, 0,
			    sizeof(errors_cases) / sizeof(errors_cases[0]));

	tcase_add_loop_test(ops, test_bare_pem, 0, 2);
	tcase_add_test(ops, test_list);
	tcase_add_test(ops, test_namespace);
	tcase_add_loop_test(ops, test_cancel, 0, 2);
	tcase_add_test(ops, test_cancel_before_loop);
	tcase_add_test(ops, test_free_in_flight);
	tcase_add_loop_test(ops, test_free_in_callback, 0, 2);
	tcase_add_test(ops, test_request_from_callback);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(vault_suite());
	int failed;

	/* Loopback must not go through a proxy from the environment. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY=verbose lists every test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
