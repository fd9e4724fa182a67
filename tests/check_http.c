#include "config.h"

/*
 * check_http.c — the HTTP client against real servers in the test process:
 * libevent evhttp listeners on 127.0.0.1:0 sharing the client's
 * event_base (two plain ones, "A" and "B"; a TLS one, "T"; a TLS one that
 * requires a client certificate, "M").  Certificates come from a throwaway
 * CA made with OpenSSL's APIs per test.  No traffic leaves loopback.
 *
 * Every request goes through fetch(), which asserts that the callback does
 * not run inside http_start() and runs exactly once.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http.h"
#include "testutil.h"
#include "xalloc.h"

struct listener {
	const char *name;
	struct evhttp *http;
	int port;
};

struct result {
	bool done;
	int calls;
	enum http_outcome outcome;
	long status;
	char *body;
	size_t body_len;
	char *content_type;
	long retry_after;
	int curl_code;
	unsigned redirects;
	char *location;
	char error[sizeof(((struct err *)0)->msg)];
};

static struct event_base *base;
static struct http *client;
static struct listener lis_a = {"A", NULL, 0}, lis_b = {"B", NULL, 0};
static struct listener lis_t = {"T", NULL, 0}, lis_m = {"M", NULL, 0};
static SSL_CTX *ctx_t, *ctx_m;
static char *tmpdir, *ca_file, *ca2_file, *client_cert, *client_key;
static char redirect_to[256];   /* Location sent by /r307, /r308, /r303 */
static bool in_start;

/* ------------------------------------------------------------ PKI */

static EVP_PKEY *
genkey(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	ck_assert_ptr_nonnull(k);
	return k;
}

static void
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	ck_assert_ptr_nonnull(ext);
	ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for key; self-signed when issuer is NULL.  kind: "ca",
 * "server" or "client". */
static X509 *
mkcert(EVP_PKEY *key, const char *cn, const char *kind, const char *san, X509 *issuer,
       EVP_PKEY *issuer_key)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509V3_CTX v3;
	bool ca = strcmp(kind, "ca") == 0;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				   0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &v3, NID_key_usage,
		ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	if (!ca) {
		add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
		add_ext(x, &v3, NID_ext_key_usage,
			strcmp(kind, "client") == 0 ? "clientAuth" : "serverAuth");
	}
	if (san != NULL)
		add_ext(x, &v3, NID_subject_alt_name, san);
	ck_assert_int_gt(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()), 0);
	return x;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	if (x != NULL)
		ck_assert_int_eq(PEM_write_X509(f, x), 1);
	if (k != NULL)
		ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static SSL_CTX *
server_ctx(X509 *cert, EVP_PKEY *key, X509 *client_ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(SSL_CTX_use_certificate(ctx, cert), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
	if (client_ca != NULL) {
		ck_assert_int_eq(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), client_ca), 1);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
}

/* CA "certd test CA" signs the server certificate (vault.test and
 * localhost, deliberately no IP address) and the client certificate; a
 * second, unrelated CA is the wrong one. */
static void
pki_make(void)
{
	EVP_PKEY *ca_key = genkey(), *ca2_key = genkey(), *srv_key = genkey(),
		 *cli_key = genkey();
	X509 *ca = mkcert(ca_key, "certd test CA", "ca", NULL, NULL, NULL);
	X509 *ca2 = mkcert(ca2_key, "certd other CA", "ca", NULL, NULL, NULL);
	X509 *srv = mkcert(srv_key, "vault.test", "server", "DNS:vault.test,DNS:localhost", ca,
			   ca_key);
	X509 *cli = mkcert(cli_key, "certd-client", "client", NULL, ca, ca_key);

	tmpdir = tu_mkdtemp();
	ca_file = tu_path(tmpdir, "ca.pem");
	ca2_file = tu_path(tmpdir, "ca2.pem");
	client_cert = tu_path(tmpdir, "client.pem");
	client_key = tu_path(tmpdir, "client.key");
	write_pem(ca_file, ca, NULL);
	write_pem(ca2_file, ca2, NULL);
	write_pem(client_cert, cli, NULL);
	write_pem(client_key, NULL, cli_key);
	ctx_t = server_ctx(srv, srv_key, NULL);
	ctx_m = server_ctx(srv, srv_key, ca);
	X509_free(ca);
	X509_free(ca2);
	X509_free(srv);
	X509_free(cli);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ca2_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
}

/* ------------------------------------------------------------ servers */

static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

static const char *
hdr(struct evkeyvalq *h, const char *name)
{
	const char *v = evhttp_find_header(h, name);

	return v != NULL ? v : "-";
}

static char *
request_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *s = xmalloc(n + 1);

	evbuffer_copyout(in, s, n);
	s[n] = '\0';
	return s;
}

/* "METHOD listener host=... token=... apikey=... trace=... ctype=... body=..." */
static void
reply_inspect(struct evhttp_request *req, struct listener *l, struct evbuffer *out)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	char *body = request_body(req);

	evbuffer_add_printf(out, "%s %s host=%s token=%s apikey=%s trace=%s ctype=%s body=%s",
			    method_name(evhttp_request_get_command(req)), l->name,
			    hdr(in, "Host"), hdr(in, "X-Vault-Token"), hdr(in, "X-Api-Key"),
			    hdr(in, "X-Trace"), hdr(in, "Content-Type"), body);
	free(body);
	evhttp_send_reply(req, 200, "OK", out);
}

static void
reply_whoami(struct evhttp_request *req, struct evbuffer *out)
{
	struct bufferevent *bev =
	    evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	X509 *peer = ssl != NULL ? SSL_get1_peer_certificate(ssl) : NULL;
	char cn[128] = "-";

	if (peer != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
					  sizeof(cn));
	X509_free(peer);
	evbuffer_add_printf(out, "%s", cn);
	evhttp_send_reply(req, 200, "OK", out);
}

static void
reply_bytes(struct evhttp_request *req, size_t n, bool chunked, struct evbuffer *out)
{
	char *data = xmalloc(n);

	memset(data, 'x', n);
	evbuffer_add(out, data, n);
	free(data);
	if (!chunked) {
		evhttp_send_reply(req, 200, "OK", out);
		return;
	}
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_send_reply_chunk(req, out);
	evhttp_send_reply_end(req);
}

static void
reply_redirect(struct evhttp_request *req, int code, const char *location)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
	evhttp_send_reply(req, code, "Redirect", NULL);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct listener *l = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	char date[64];
	time_t later;

	if (strcmp(path, "/hello") == 0) {
		evhttp_add_header(oh, "Content-Type", "text/plain");
		evbuffer_add_printf(out, "hello, world");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(path, "/echo") == 0) {
		evhttp_add_header(oh, "Content-Type",
				  hdr(evhttp_request_get_input_headers(req), "Content-Type"));
		evbuffer_add_buffer(out, evhttp_request_get_input_buffer(req));
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(path, "/inspect") == 0) {
		reply_inspect(req, l, out);
	} else if (strcmp(path, "/whoami") == 0) {
		reply_whoami(req, out);
	} else if (strncmp(path, "/bytes/", 7) == 0) {
		reply_bytes(req, strtoul(path + 7, NULL, 10), false, out);
	} else if (strncmp(path, "/chunked/", 9) == 0) {
		reply_bytes(req, strtoul(path + 9, NULL, 10), true, out);
	} else if (strcmp(path, "/busy") == 0) {
		evhttp_add_header(oh, "Retry-After", "7");
		evbuffer_add_printf(out, "come back later");
		evhttp_send_reply(req, 503, "Service Unavailable", out);
	} else if (strcmp(path, "/busy-date") == 0) {
		later = time(NULL) + 3600;
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
		evhttp_add_header(oh, "Retry-After", date);
		evhttp_send_reply(req, 429, "Too Many Requests", out);
	} else if (strcmp(path, "/r307") == 0) {
		reply_redirect(req, 307, redirect_to);
	} else if (strcmp(path, "/r308") == 0) {
		reply_redirect(req, 308, redirect_to);
	} else if (strcmp(path, "/r303") == 0) {
		reply_redirect(req, 303, redirect_to);
	} else if (strcmp(path, "/loop") == 0) {
		reply_redirect(req, 307, "/loop");   /* relative */
	} else if (strcmp(path, "/hang") == 0) {
		/* never answered */
	} else {
		evbuffer_add_printf(out, "no such thing: %s", path);
		evhttp_send_reply(req, 404, "Not Found", out);
	}
	evbuffer_free(out);
}

static struct bufferevent *
tls_bevcb(struct event_base *b, void *arg)
{
	return bufferevent_openssl_socket_new(b, -1, SSL_new(arg), BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static int
sock_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static void
listen_on(struct listener *l, SSL_CTX *ctx)
{
	struct evhttp_bound_socket *bs;

	l->http = evhttp_new(base);
	ck_assert_ptr_nonnull(l->http);
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						EVHTTP_REQ_PATCH);
	if (ctx != NULL)
		evhttp_set_bevcb(l->http, tls_bevcb, ctx);
	evhttp_set_gencb(l->http, handle, l);
	bs = evhttp_bind_socket_with_handle(l->http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bs);
	l->port = sock_port(evhttp_bound_socket_get_fd(bs));
}

/* ------------------------------------------------------------ client side */

static void
result_free(struct result *r)
{
	free(r->body);
	free(r->content_type);
	free(r->location);
	memset(r, 0, sizeof(*r));
}

static void
done_cb(struct http_response *resp, void *arg)
{
	struct result *r = arg;

	ck_assert_msg(!in_start, "callback ran inside http_start");
	r->calls++;
	ck_assert_int_eq(r->calls, 1);
	r->done = true;
	r->outcome = resp->outcome;
	r->status = resp->status;
	r->body_len = resp->body.len;
	r->body = buf_steal(&resp->body);
	r->content_type = resp->content_type != NULL ? xstrdup(resp->content_type) : NULL;
	r->retry_after = resp->retry_after;
	r->curl_code = resp->curl_code;
	r->redirects = resp->redirects;
	r->location = resp->location != NULL ? xstrdup(resp->location) : NULL;
	memcpy(r->error, resp->error.msg, sizeof(r->error));
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Run the loop until *flag is set or ms pass. */
static void
run_until(const bool *flag, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	bool expired = false;
	struct event *t = evtimer_new(base, on_deadline, &expired);

	evtimer_add(t, &tv);
	while (!*flag && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}

static struct http_op *
start(const struct http_request *req, struct result *r)
{
	struct http_op *op = NULL;

	memset(r, 0, sizeof(*r));
	in_start = true;
	ck_assert_int_eq(http_start(client, req, done_cb, r, &op), 0);
	in_start = false;
	ck_assert_ptr_nonnull(op);
	ck_assert_int_eq(r->calls, 0);
	return op;
}

static void
fetch(const struct http_request *req, struct result *r)
{
	start(req, r);
	run_until(&r->done, 15000);
	ck_assert_msg(r->done, "no callback within 15 s");
}

static char *
url(const struct listener *l, const char *host, const char *path)
{
	return xasprintf("%s://%s:%d%s", l == &lis_t || l == &lis_m ? "https" : "http", host,
			 l->port, path);
}

static void
setup(void)
{
	struct err e = {""};

	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(http_global_init(&e), 0);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	client = http_new(base);
	pki_make();
	listen_on(&lis_a, NULL);
	listen_on(&lis_b, NULL);
	listen_on(&lis_t, ctx_t);
	listen_on(&lis_m, ctx_m);
}

static void
teardown(void)
{
	http_free(client);
	client = NULL;
	evhttp_free(lis_a.http);
	evhttp_free(lis_b.http);
	evhttp_free(lis_t.http);
	evhttp_free(lis_m.http);
	SSL_CTX_free(ctx_t);
	SSL_CTX_free(ctx_m);
	event_base_free(base);
	tu_rm_rf(tmpdir);
	free(tmpdir);
	free(ca_file);
	free(ca2_file);
	free(client_cert);
	free(client_key);
	http_global_cleanup();
}

/* ------------------------------------------------------------ plain HTTP */

START_TEST(test_global_init_async_dns)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	struct err e = {""};

	/* The loop never blocks on DNS only because of this feature. */
	ck_assert_msg(v->features & CURL_VERSION_ASYNCHDNS, "libcurl %s: no AsynchDNS",
		      v->version);
	ck_assert_int_eq(http_global_init(&e), 0);   /* again: a no-op */
	ck_assert_str_eq(http_outcome_str(HTTP_OUTCOME_TOO_LARGE), "response too large");
	ck_assert_str_eq(http_outcome_str((enum http_outcome)99), "unknown");
}
END_TEST

START_TEST(test_get_200)
{
	struct http_request req = {0};
	struct result r;

	req.url = url(&lis_a, "127.0.0.1", "/hello");
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "hello, world");
	ck_assert_uint_eq(r.body_len, 12);
	ck_assert_str_eq(r.content_type, "text/plain");
	ck_assert_int_eq(r.retry_after, -1);
	ck_assert_int_eq(r.curl_code, 0);
	ck_assert_uint_eq(r.redirects, 0);
	ck_assert_str_eq(r.error, "");
	result_free(&r);
	free((char *)req.url);
}
END_TEST

START_TEST(test_post_json_echo)
{
	static const char json[] = "{\"common_name\":\"www.example.com\",\"ttl\":\"24h\"}";
	static const struct http_header hd[] = {{"Content-Type", "application/json", false}};
	struct http_request req = {0};
	char *copy = xstrdup(json);
	struct result r;

	req.method = "POST";
	req.url = url(&lis_a, "127.0.0.1", "/echo");
	req.headers = hd;
	req.n_headers = 1;
	req.body = copy;
	req.body_len = strlen(copy);
	start(&req, &r);
	/* The request is copied: the caller's body may go at once. */
	memset(copy, '#', strlen(copy));
	free(copy);
	run_until(&r.done, 15000);
	ck_assert(r.done);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, json);
	ck_assert_str_eq(r.content_type, "application/json");
	result_free(&r);
	free((char *)req.url);
}
END_TEST

static const struct {
	const char *method;
	const char *body;
	const char *ctype;
	const char *want;   /* after "host=..." */
} method_cases[] = {
	{NULL, NULL, NULL, "GET A token=- apikey=- trace=- ctype=- body="},
	{"DELETE", NULL, NULL, "DELETE A token=- apikey=- trace=- ctype=- body="},
	{"PUT", "{\"a\":1}", "application/json",
	 "PUT A token=- apikey=- trace=- ctype=application/json body={\"a\":1}"},
	{"PATCH", "x=1", "text/plain", "PATCH A token=- apikey=- trace=- ctype=text/plain body=x=1"},
	/* no made-up application/x-www-form-urlencoded */
	{"POST", "raw", NULL, "POST A token=- apikey=- trace=- ctype=- body=raw"},
	{"POST", NULL, NULL, "POST A token=- apikey=- trace=- ctype=- body="},
};

/* "GET A host=... token=..." → "GET A token=..." for comparison */
static char *
drop_host(const char *s)
{
	const char *h = strstr(s, " host="), *end;
	struct buf b = BUF_INIT;

	ck_assert_ptr_nonnull(h);
	end = strchr(h + 1, ' ');
	ck_assert_ptr_nonnull(end);
	buf_append(&b, s, (size_t)(h - s));
	buf_puts(&b, end);
	return buf_steal(&b);
}

START_TEST(test_methods)
{
	struct http_header hd = {"Content-Type", method_cases[_i].ctype, false};
	struct http_request req = {0};
	struct result r;
	char *got;

	req.method = method_cases[_i].method;
	req.url = url(&lis_a, "127.0.0.1", "/inspect");
	if (method_cases[_i].ctype != NULL) {
		req.headers = &hd;
		req.n_headers = 1;
	}
	req.body = method_cases[_i].body;
	req.body_len = req.body != NULL ? strlen(req.body) : 0;
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OK);
	got = drop_host(r.body);
	ck_assert_str_eq(got, method_cases[_i].want);
	free(got);
	result_free(&r);
	free((char *)req.url);
}
END_TEST

static const struct {
	const char *path;
	long status;
	const char *body;
	long retry_after;
} status_cases[] = {
	{"/nope", 404, "no such thing: /nope", -1},
	{"/busy", 503, "come back later", 7},
};

START_TEST(test_status_passthrough)
{
	struct http_request req = {0};
	struct result r;

	req.url = url(&lis_a, "127.0.0.1", status_cases[_i].path);
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OK);   /* a response is a response */
	ck_assert_int_eq(r.status, status_cases[_i].status);
	ck_assert_str_eq(r.body, status_cases[_i].body);
	ck_assert_int_eq(r.retry_after, status_cases[_i].retry_after);
	ck_assert_str_eq(r.error, "");
	result_free(&r);
	free((char *)req.url);
}
END_TEST

START_TEST(test_retry_after_date)
{
	struct http_request req = {0};
	struct result r;

	req.url = url(&lis_a, "127.0.0.1", "/busy-date");
	fetch(&req, &r);
	ck_assert_int_eq(r.status, 429);
	ck_assert_int_ge(r.retry_after, 3590);
	ck_assert_int_le(r.retry_after, 3600);
	result_free(&r);
	free((char *)req.url);
}
END_TEST

static const struct {
	const char *path;
	size_t cap;        /* 0: default 1 MiB */
	enum http_outcome outcome;
} cap_cases[] = {
	{"/bytes/2097152", 0, HTTP_OUTCOME_TOO_LARGE},      /* Content-Length over the cap */
	{"/chunked/2097152", 0, HTTP_OUTCOME_TOO_LARGE},    /* no length: write callback */
	{"/bytes/1048576", 0, HTTP_OUTCOME_OK},             /* exactly the cap */
	{"/chunked/1048576", 0, HTTP_OUTCOME_OK},
	{"/bytes/101", 100, HTTP_OUTCOME_TOO_LARGE},
	{"/chunked/101", 100, HTTP_OUTCOME_TOO_LARGE},
	{"/chunked/100", 100, HTTP_OUTCOME_OK},
};

START_TEST(test_size_cap)
{
	struct http_request req = {0};
	size_t cap = cap_cases[_i].cap ? cap_cases[_i].cap : HTTP_MAX_RESPONSE_DEFAULT;
	struct result r;
	char *want;

	req.url = url(&lis_a, "127.0.0.1", cap_cases[_i].path);
	req.max_response = cap_cases[_i].cap;
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, cap_cases[_i].outcome);
	if (r.outcome == HTTP_OUTCOME_OK) {
		ck_assert_uint_eq(r.body_len, cap);
	} else {
		ck_assert_uint_le(r.body_len, cap);
		want = xasprintf("response larger than %zu bytes", cap);
		ck_assert_str_eq(r.error, want);
		free(want);
	}
	result_free(&r);
	free((char *)req.url);
}
END_TEST

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A server that never answers; also behind a redirect, where the total
 * timeout still covers both hops. */
START_TEST(test_timeout)
{
	struct http_request req = {0};
	struct result r;
	double t0, took;

	snprintf(redirect_to, sizeof(redirect_to), "http://127.0.0.1:%d/hang", lis_b.port);
	req.url = url(&lis_a, "127.0.0.1", _i == 0 ? "/hang" : "/r307");
	req.timeout_ms = 400;
	t0 = now_s();
	fetch(&req, &r);
	took = now_s() - t0;
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_TIMEOUT);
	ck_assert_int_eq(r.curl_code, CURLE_OPERATION_TIMEDOUT);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(took >= 0.39 && took < 2.0, "took %.3f s", took);
	ck_assert_uint_eq(r.redirects, (unsigned)_i);
	result_free(&r);
	free((char *)req.url);
}
END_TEST

START_TEST(test_connect_refused)
{
	struct sockaddr_in sin = {0};
	struct http_request req = {0};
	struct result r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* Bound but not listening: the port stays ours and refuses. */
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	req.url = xasprintf("http://127.0.0.1:%d/", sock_port(fd));
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_CONNECT_FAILED);
	ck_assert_int_eq(r.curl_code, CURLE_COULDNT_CONNECT);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.error, "onnect"));
	close(fd);
	result_free(&r);
	free((char *)req.url);
}
END_TEST

static const struct {
	const char *method;
	const char *url;
	const char *hname, *hvalue;
	const char *server_name;
	const char *error;
} bad_cases[] = {
	{NULL, "not a url", NULL, NULL, NULL, "invalid or unsupported URL"},
	{NULL, "ftp://127.0.0.1/x", NULL, NULL, NULL, "invalid or unsupported URL"},
	{"GE T", "http://127.0.0.1:1/", NULL, NULL, NULL, "invalid method"},
	{NULL, "http://127.0.0.1:1/", "X-Bad Name", "v", NULL, "invalid request header"},
	{NULL, "http://127.0.0.1:1/", "X-Ok", "v\r\nX-Injected: 1", NULL,
	 "invalid request header"},
	{NULL, "https://127.0.0.1:1/", NULL, NULL, "vault.test/evil", "invalid tls server_name"},
};

START_TEST(test_bad_request)
{
	struct http_header hd = {bad_cases[_i].hname, bad_cases[_i].hvalue, false};
	struct http_request req = {0};
	struct result r;

	req.method = bad_cases[_i].method;
	req.url = bad_cases[_i].url;
	if (hd.name != NULL) {
		req.headers = &hd;
		req.n_headers = 1;
	}
	req.tls.server_name = bad_cases[_i].server_name;
	fetch(&req, &r);   /* answered from the loop, not from http_start */
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OTHER);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.error, bad_cases[_i].error);
	result_free(&r);
}
END_TEST

START_TEST(test_start_einval)
{
	struct http_request req = {0};
	struct http_op *op = NULL;
	struct result r;

	ck_assert_int_eq(http_start(client, &req, done_cb, &r, &op), -EINVAL);
	req.url = "http://127.0.0.1:1/";
	ck_assert_int_eq(http_start(client, &req, NULL, &r, &op), -EINVAL);
	ck_assert_int_eq(http_start(NULL, &req, done_cb, &r, &op), -EINVAL);
	ck_assert_ptr_null(op);
}
END_TEST

/* ------------------------------------------------------------ redirects */

static const struct http_header secret_headers[] = {
	{"X-Vault-Token", "s.vaulttoken", false},   /* secret by name */
	{"X-Api-Key", "apikey", true},              /* secret by flag */
	{"X-Trace", "t1", false},
	{"Content-Type", "application/json", false},
};

static const struct {
	const char *path;
	const char *method;
	const char *body;
} keep_cases[] = {
	{"/r307", "POST", "{\"k\":\"v\"}"},
	{"/r308", "PUT", "{\"k\":\"w\"}"},
	{"/r307", "DELETE", NULL},
};

/* To another listener (another origin): method and body kept, secrets not. */
START_TEST(test_redirect_keeps_method_and_body)
{
	struct http_request req = {0};
	struct result r;
	char *want;

	snprintf(redirect_to, sizeof(redirect_to), "http://127.0.0.1:%d/inspect", lis_b.port);
	req.method = keep_cases[_i].method;
	req.url = url(&lis_a, "127.0.0.1", keep_cases[_i].path);
	req.headers = secret_headers;
	req.n_headers = 4;
	req.body = keep_cases[_i].body;
	req.body_len = req.body != NULL ? strlen(req.body) : 0;
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.redirects, 1);
	want = xasprintf("%s B host=127.0.0.1:%d token=- apikey=- trace=t1 "
			 "ctype=application/json body=%s",
			 keep_cases[_i].method, lis_b.port,
			 keep_cases[_i].body != NULL ? keep_cases[_i].body : "");
	ck_assert_str_eq(r.body, want);
	free(want);
	result_free(&r);
	free((char *)req.url);
}
END_TEST

/* 127.0.0.1 → localhost (same port): secrets stay home; → same origin:
 * they go along. */
START_TEST(test_redirect_secret_headers)
{
	const char *host = _i == 0 ? "localhost" : "127.0.0.1";
	struct http_request req = {0};
	struct result r;
	char *want;

	snprintf(redirect_to, sizeof(redirect_to), "http://%s:%d/inspect", host, lis_a.port);
	req.method = "POST";
	req.url = url(&lis_a, "127.0.0.1", "/r307");
	req.headers = secret_headers;
	req.n_headers = 4;
	req.body = "{}";
	req.body_len = 2;
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OK);
	ck_assert_uint_eq(r.redirects, 1);
	if (_i == 0)
		want = xasprintf("POST A host=localhost:%d token=- apikey=- trace=t1 "
				 "ctype=application/json body={}", lis_a.port);
	else
		want = xasprintf("POST A host=127.0.0.1:%d token=s.vaulttoken apikey=apikey "
				 "trace=t1 ctype=application/json body={}", lis_a.port);
	ck_assert_str_eq(r.body, want);
	free(want);
	result_free(&r);
	free((char *)req.url);
}
END_TEST

/* 303 is not followed; nor is 307 with max_redirects < 0.  Either way
 * the Location comes back for the caller. */
START_TEST(test_redirect_not_followed)
{
	struct http_request req = {0};
	struct result r;

	snprintf(redirect_to, sizeof(redirect_to), "http://127.0.0.1:%d/inspect", lis_b.port);
	req.url = url(&lis_a, "127.0.0.1", _i == 0 ? "/r303" : "/r307");
	req.max_redirects = _i == 0 ? 0 : -1;
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OK);
	ck_assert_int_eq(r.status, _i == 0 ? 303 : 307);
	ck_assert_uint_eq(r.redirects, 0);
	ck_assert_pstr_eq(r.location, redirect_to);
	result_free(&r);
	free((char *)req.url);
}
END_TEST

START_TEST(test_redirect_loop)
{
	struct http_request req = {0};
	struct result r;

	req.url = url(&lis_a, "127.0.0.1", "/loop");
	req.max_redirects = 3;
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OTHER);
	ck_assert_int_eq(r.curl_code, CURLE_TOO_MANY_REDIRECTS);
	ck_assert_int_eq(r.status, 307);
	ck_assert_uint_eq(r.redirects, 3);
	ck_assert_str_eq(r.error, "too many redirects");
	result_free(&r);
	free((char *)req.url);
}
END_TEST

START_TEST(test_redirect_https_to_http)
{
	struct http_request req = {0};
	struct result r;

	snprintf(redirect_to, sizeof(redirect_to), "http://127.0.0.1:%d/inspect", lis_a.port);
	req.url = url(&lis_t, "localhost", "/r307");
	req.headers = secret_headers;
	req.n_headers = 1;
	req.tls.ca_file = ca_file;
	fetch(&req, &r);
	ck_assert_int_eq(r.outcome, HTTP_OUTCOME_OTHER);
	ck_assert_int_eq(r.status, 307);
	ck_assert_str_eq(r.error, "refusing redirect from https to http");
	result_free(&r);
	free((char *)req.url);
}
END_TEST

/* ------------------------------------------------------------ cancel, free */

static bool never;

START_TEST(test_cancel_in_flight)
{
	struct http_request req = {0};
	struct http_op *op;
	struct result r;

	req.url = url(&lis_a, "127.0.0.1", "/hang");
	req.timeout_ms = 300;
	op = start(&req, &r);
	run_until(&never, 100);     /* connected, request sent */
	http_cancel(op);
	run_until(&never, 500);     /* past the timeout it would have hit */
	ck_assert_int_eq(r.calls, 0);
	free((char *)req.url);
}
END_TEST

/* Cancelled before the loop ran: a live request and one that failed at
 * start (its deferred answer must not fire either). */
START_TEST(test_cancel_before_loop)
{
	struct http_request good = {0}, bad = {0};
	struct result r1, r2;
	struct http_op *op1, *op2;

	good.url = url(&lis_a, "127.0.0.1", "/hello");
	bad.url = "not a url";
	op1 = start(&good, &r1);
	op2 = start(&bad, &r2);
	http_cancel(op2);
	http_cancel(op1);
	http_cancel(NULL);
	run_until(&never, 300);
	ck_assert_int_eq(r1.calls, 0);
	ck_assert_int_eq(r2.calls, 0);
	free((char *)good.url);
}
END_TEST

START_TEST(test_free_in_flight)
{
	struct http_request hang = {0}, bad = {0};
	struct result r1, r2;

	hang.url = url(&lis_a, "127.0.0.1", "/hang");
	bad.url = "not a url";
	start(&hang, &r1);
	run_until(&never, 100);     /* connected, request sent */
	start(&bad, &r2);           /* its answer still pending */
	http_free(client);
	client = NULL;
	run_until(&never, 300);
	ck_assert_int_eq(r1.calls, 0);
	ck_assert_int_eq(r2.calls, 0);
	free((char *)hang.url);
}
END_TEST

/* Callbacks that free the client, cancel themselves, or start more. */
struct chain {
	int mode;             /* 0: free client; 1: cancel self + start next */
	struct http_op *self;
	struct http_request next_req;
	struct result next;
	struct result *first;
	bool done;
};

static void
chain_cb(struct http_response *resp, void *arg)
{
	struct chain *c = arg;

	c->first->calls++;
	c->first->status = resp->status;
	if (c->mode == 0) {
		http_free(client);
		client = NULL;
		c->done = true;
		return;
	}
	http_cancel(c->self);    /* a no-op from its own callback */
	in_start = true;
	ck_assert_int_eq(http_start(client, &c->next_req, done_cb, &c->next, &c->self), 0);
	in_start = false;
	c->done = true;
}

START_TEST(test_callback_reentry)
{
	struct http_request req = {0}, other = {0};
	struct result first = {0}, second;
	struct chain c = {0};
	struct http_op *op = NULL;

	c.mode = _i;
	c.first = &first;
	req.url = url(&lis_a, "127.0.0.1", "/hello");
	other.url = url(&lis_a, "127.0.0.1", "/hang");
	c.next_req.url = url(&lis_b, "127.0.0.1", "/hello");
	ck_assert_int_eq(http_start(client, &req, chain_cb, &c, &c.self), 0);
	if (c.mode == 0)
		op = start(&other, &second);
	run_until(&c.done, 15000);
	ck_assert(c.done);
	ck_assert_int_eq(first.calls, 1);
	ck_assert_int_eq(first.status, 200);
	if (c.mode == 0) {
		(void)op;
		run_until(&never, 300);
		ck_assert_int_eq(second.calls, 0);   /* freed with the client */
	} else {
		run_until(&c.next.done, 15000);
		ck_assert_int_eq(c.next.calls, 1);
		ck_assert_str_eq(c.next.body, "hello, world");
		result_free(&c.next);
	}
	free((char *)req.url);
	free((char *)other.url);
	free((char *)c.next_req.url);
}
END_TEST

/* ------------------------------------------------------------ TLS */

static const struct {
	const char *host;
	const char *server_name;
	int ca;                /* 0: none given, 1: right, 2: wrong, 3: missing file */
	bool insecure;
	enum http_outcome outcome;
	int curl_code;
} tls_cases[] = {
	{"localhost", NULL, 1, false, HTTP_OUTCOME_OK, CURLE_OK},
	{"localhost", NULL, 2, false, HTTP_OUTCOME_TLS_ERROR, CURLE_PEER_FAILED_VERIFICATION},
	{"localhost", NULL, 0, false, HTTP_OUTCOME_TLS_ERROR, CURLE_PEER_FAILED_VERIFICATION},
	{"localhost", NULL, 3, false, HTTP_OUTCOME_TLS_ERROR, CURLE_SSL_CACERT_BADFILE},
	/* the certificate names vault.test and localhost, not 127.0.0.1 */
	{"127.0.0.1", NULL, 1, false, HTTP_OUTCOME_TLS_ERROR, CURLE_PEER_FAILED_VERIFICATION},
	{"127.0.0.1", "vault.test", 1, false, HTTP_OUTCOME_OK, CURLE_OK},
	{"127.0.0.1", "other.test", 1, false, HTTP_OUTCOME_TLS_ERROR, CURLE_PEER_FAILED_VERIFICATION},
	{"localhost", NULL, 2, true, HTTP_OUTCOME_OK, CURLE_OK},
};

START_TEST(test_tls)
{
	const char *cas[] = {NULL, ca_file, ca2_file, "/nonexistent/ca.pem"};
	struct http_request req = {0};
	struct result r;
	char *want;

	req.url = url(&lis_t, tls_cases[_i].host, "/inspect");
	req.tls.ca_file = cas[tls_cases[_i].ca];
	req.tls.server_name = tls_cases[_i].server_name;
	req.tls.insecure = tls_cases[_i].insecure;
	fetch(&req, &r);
	ck_assert_msg(r.outcome == tls_cases[_i].outcome, "outcome %s (%s)",
		      http_outcome_str(r.outcome), r.error);
	ck_assert_int_eq(r.curl_code, tls_cases[_i].curl_code);
	if (r.outcome == HTTP_OUTCOME_OK) {
		want = xasprintf("GET T host=%s:%d token=- apikey=- trace=- ctype=- body=",
				 tls_cases[_i].server_name != NULL ? tls_cases[_i].server_name
								   : tls_cases[_i].host,
				 lis_t.port);
		ck_assert_str_eq(r.body, want);
		free(want);
	} else {
		ck_assert_int_eq(r.status, 0);
		ck_assert_str_ne(r.error, "");
	}
	result_free(&r);
	free((char *)req.url);
}
END_TEST

/* The server requires a client certificate from the test CA. */
START_TEST(test_mtls)
{
	struct http_request req = {0};
	struct result r;

	req.url = url(&lis_m, "127.0.0.1", "/whoami");
	req.tls.ca_file = ca_file;
	req.tls.server_name = "vault.test";
	if (_i == 0) {
		req.tls.cert_file = client_cert;
		req.tls.key_file = client_key;
	}
	fetch(&req, &r);
	if (_i == 0) {
		ck_assert_msg(r.outcome == HTTP_OUTCOME_OK, "%s", r.error);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body, "certd-client");
	} else {
		/* TLS 1.3: the refusal arrives as an alert after the client
		 * finished its side of the handshake. */
		ck_assert_msg(r.outcome == HTTP_OUTCOME_TLS_ERROR, "outcome %s, curl %d (%s)",
			      http_outcome_str(r.outcome), r.curl_code, r.error);
		ck_assert_int_eq(r.status, 0);
	}
	result_free(&r);
	free((char *)req.url);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("plain");
	TCase *redir = tcase_create("redirect");
	TCase *life = tcase_create("lifecycle");
	TCase *tls = tcase_create("tls");
	TCase *all[] = {tc, redir, life, tls};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		tcase_add_checked_fixture(all[i], setup, teardown);
		tcase_set_timeout(all[i], 60);
		suite_add_tcase(s, all[i]);
	}
	tcase_add_test(tc, test_global_init_async_dns);
	tcase_add_test(tc, test_get_200);
	tcase_add_test(tc, test_post_json_echo);
	tcase_add_loop_test(tc, test_methods, 0, sizeof(method_cases) / sizeof(method_cases[0]));
	tcase_add_loop_test(tc, test_status_passthrough, 0,
			    sizeof(status_cases) / sizeof(status_cases[0]));
	tcase_add_test(tc, test_retry_after_date);
	tcase_add_loop_test(tc, test_size_cap, 0, sizeof(cap_cases) / sizeof(cap_cases[0]));
	tcase_add_loop_test(tc, test_timeout, 0, 2);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_loop_test(tc, test_bad_request, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_start_einval);

	tcase_add_loop_test(redir, test_redirect_keeps_method_and_body, 0,
			    sizeof(keep_cases) / sizeof(keep_cases[0]));
	tcase_add_loop_test(redir, test_redirect_secret_headers, 0, 2);
	tcase_add_loop_test(redir, test_redirect_not_followed, 0, 2);
	tcase_add_test(redir, test_redirect_loop);
	tcase_add_test(redir, test_redirect_https_to_http);

	tcase_add_test(life, test_cancel_in_flight);
	tcase_add_test(life, test_cancel_before_loop);
	tcase_add_test(life, test_free_in_flight);
	tcase_add_loop_test(life, test_callback_reentry, 0, 2);

	tcase_add_loop_test(tls, test_tls, 0, sizeof(tls_cases) / sizeof(tls_cases[0]));
	tcase_add_loop_test(tls, test_mtls, 0, 2);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
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
