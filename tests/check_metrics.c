/*
 * check_metrics.c — the Prometheus endpoint and the exposition helpers.
 *
 * Each HTTP test listens on 127.0.0.1:0 inside its own event_base and
 * drives the listener from a client thread (libcurl easy, or a raw socket
 * where the exact bytes matter) while the loop runs on the test thread;
 * the client writes to a pipe when it is done, which stops the loop.  The
 * render callback records what it produced and on which thread, so the
 * tests compare what a scraper received with what was rendered.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "buf.h"
#include "err.h"
#include "metrics.h"
#include "xalloc.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ------------------------------------------------------------ render */

struct render {
	int calls;
	bool off_loop;          /* a call came from a thread other than the loop's */
	pthread_t loop_thread;
	struct buf last;        /* what the last call rendered */
};

static void
render_cb(struct buf *out, void *arg)
{
	struct render *r = arg;

	if (!pthread_equal(pthread_self(), r->loop_thread))
		r->off_loop = true;
	r->calls++;
	metrics_header(out, "certd_up", "gauge", "Whether certd is running.");
	metrics_sample(out, "certd_up", 1.0, NULL);
	metrics_header(out, "certd_scrapes_total", "counter", "Scrapes so far.");
	metrics_sample(out, "certd_scrapes_total", (double)r->calls, NULL);
	metrics_header(out, "certd_cert_not_after_seconds", "gauge", NULL);
	metrics_sample(out, "certd_cert_not_after_seconds", 1764000000.0, "cert", "www", NULL);
	buf_reset(&r->last);
	buf_append(&r->last, out->data, out->len);
}

static void
render_init(struct render *r)
{
	memset(r, 0, sizeof(*r));
	r->loop_thread = pthread_self();
}

/* ------------------------------------------------------------ harness */

struct server {
	struct event_base *base;
	struct metrics *m;
	struct render r;
	int port;
};

static void
server_start(struct server *s)
{
	struct err e = {""};

	memset(s, 0, sizeof(*s));
	render_init(&s->r);
	s->base = event_base_new();
	ck_assert_ptr_nonnull(s->base);
	ck_assert_msg(metrics_listen(s->base, "127.0.0.1:0", render_cb, &s->r, &s->m, &e) == 0,
		      "listen: %s", e.msg);
	s->port = metrics_port(s->m);
	ck_assert_int_gt(s->port, 0);
	ck_assert_int_le(s->port, 65535);
}

static void
server_stop(struct server *s)
{
	metrics_free(s->m);
	event_base_free(s->base);
	buf_free(&s->r.last);
}

struct client {
	void (*fn)(void *);
	void *arg;
	int wfd;
};

static void *
client_main(void *p)
{
	struct client *c = p;

	c->fn(c->arg);
	if (write(c->wfd, "x", 1) != 1)
		abort();
	return NULL;
}

static void
on_client_done(evutil_socket_t fd, short what, void *arg)
{
	bool *done = arg;

	(void)fd;
	*done = (what & EV_READ) != 0;
}

/* Run fn(arg) on a thread while base's loop serves; returns when it is done. */
static void
run_client(struct event_base *base, void (*fn)(void *), void *arg)
{
	struct timeval limit = {30, 0};
	struct client c = {fn, arg, -1};
	struct event *ev;
	pthread_t t;
	bool done = false;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	c.wfd = p[1];
	ev = event_new(base, p[0], EV_READ, on_client_done, &done);
	ck_assert_ptr_nonnull(ev);
	ck_assert_int_eq(event_add(ev, &limit), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, client_main, &c), 0);
	while (event_pending(ev, EV_READ | EV_TIMEOUT, NULL))
		ck_assert_int_ge(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_msg(done, "client did not finish within 30 s");
	pthread_join(t, NULL);
	event_free(ev);
	close(p[0]);
	close(p[1]);
}

/* ------------------------------------------------------------ curl client */

struct fetch {
	/* in */
	int port;
	const char *host;          /* default 127.0.0.1 */
	const char *method;        /* default GET; HEAD uses CURLOPT_NOBODY */
	const char *path;
	const char *header;        /* one extra request header, or NULL */
	const char *body;          /* request body, or NULL */
	/* out */
	CURLcode rc;
	long status;
	struct buf resp;
	char ctype[128];
	char allow[64];
	long clen;                 /* Content-Length header, -1 if absent */
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	buf_append(arg, p, size * n);
	return size * n;
}

/* Copy the value of header name from line into dst (trimmed). */
static void
grab(const char *line, size_t len, const char *name, char *dst, size_t dstlen)
{
	size_t nlen = strlen(name);

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return;
	line += nlen + 1;
	len -= nlen + 1;
	while (len > 0 && line[0] == ' ') {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, line, len);
	dst[len] = '\0';
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	char clen[32] = "";

	grab(p, size * n, "Allow", f->allow, sizeof(f->allow));
	grab(p, size * n, "Content-Length", clen, sizeof(clen));
	if (clen[0] != '\0')
		f->clen = strtol(clen, NULL, 10);
	return size * n;
}

static void
do_fetch(void *arg)
{
	struct fetch *f = arg;
	struct curl_slist *hdrs = NULL;
	char *url, *ct = NULL;
	CURL *c;

	f->clen = -1;
	url = xasprintf("http://%s:%d%s", f->host ? f->host : "127.0.0.1", f->port,
			f->path ? f->path : "/metrics");
	c = curl_easy_init();
	if (c == NULL)
		abort();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &f->resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
	if (f->method != NULL && strcmp(f->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (f->method != NULL)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, f->method);
	if (f->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body));
	}
	if (f->header != NULL) {
		hdrs = curl_slist_append(NULL, f->header);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	f->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
		snprintf(f->ctype, sizeof(f->ctype), "%s", ct);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(url);
}

/* ------------------------------------------------------------ raw client */

struct raw {
	int port;
	const char *request;
	struct buf resp;
	int err;               /* errno of the first failure, or 0 */
};

static int
raw_connect(int port)
{
	struct sockaddr_in sin;
	struct timeval tv = {15, 0};
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send the request and read until the server closes. */
static void
do_raw(void *arg)
{
	struct raw *r = arg;
	size_t off = 0, len = strlen(r->request);
	char tmp[4096];
	ssize_t n;
	int fd;

	fd = raw_connect(r->port);
	if (fd < 0) {
		r->err = errno;
		return;
	}
	while (off < len) {
		n = send(fd, r->request + off, len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			r->err = errno;
			goto out;
		}
		off += (size_t)n;
	}
	while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
		buf_append(&r->resp, tmp, (size_t)n);
	if (n < 0)
		r->err = errno;
out:
	close(fd);
}

/* Value of header name in a raw response, or NULL (static storage). */
static const char *
raw_header(const char *resp, const char *name)
{
	static char val[256];
	const char *p = resp, *eol;

	while ((eol = strstr(p, "\r\n")) != NULL && eol != p) {
		val[0] = '\0';
		grab(p, (size_t)(eol - p), name, val, sizeof(val));
		if (val[0] != '\0')
			return val;
		p = eol + 2;
	}
	return NULL;
}

/* ------------------------------------------------------------ HTTP tests */

START_TEST(test_get_metrics)
{
	struct server s;
	struct fetch f1 = {0}, f2 = {0};
	char *expect;

	server_start(&s);
	f1.port = f2.port = s.port;
	run_client(s.base, do_fetch, &f1);
	ck_assert_int_eq(f1.rc, CURLE_OK);
	ck_assert_int_eq(f1.status, 200);
	ck_assert_str_eq(f1.ctype, CONTENT_TYPE);
	ck_assert_str_eq(buf_str(&f1.resp), buf_str(&s.r.last));
	ck_assert_int_eq(f1.clen, (long)f1.resp.len);
	ck_assert_str_eq(buf_str(&f1.resp),
			 "# HELP certd_up Whether certd is running.\n"
			 "# TYPE certd_up gauge\n"
			 "certd_up 1\n"
			 "# HELP certd_scrapes_total Scrapes so far.\n"
			 "# TYPE certd_scrapes_total counter\n"
			 "certd_scrapes_total 1\n"
			 "# TYPE certd_cert_not_after_seconds gauge\n"
			 "certd_cert_not_after_seconds{cert=\"www\"} 1764000000\n");

	/* Rendered again for the next scrape, on the loop thread. */
	run_client(s.base, do_fetch, &f2);
	ck_assert_int_eq(f2.status, 200);
	ck_assert_int_eq(s.r.calls, 2);
	ck_assert(!s.r.off_loop);
	expect = xasprintf("certd_scrapes_total %d\n", 2);
	ck_assert_ptr_nonnull(strstr(buf_str(&f2.resp), expect));
	ck_assert_str_eq(buf_str(&f2.resp), buf_str(&s.r.last));
	free(expect);
	buf_free(&f1.resp);
	buf_free(&f2.resp);
	server_stop(&s);
}
END_TEST

START_TEST(test_get_query_ignored)
{
	struct server s;
	struct fetch f = {0};

	server_start(&s);
	f.port = s.port;
	f.path = "/metrics?name%5B%5D=certd_up";
	run_client(s.base, do_fetch, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_str_eq(buf_str(&f.resp), buf_str(&s.r.last));
	buf_free(&f.resp);
	server_stop(&s);
}
END_TEST

/* HEAD: GET's headers, including the length, and not one byte of body. */
START_TEST(test_head)
{
	struct server s;
	struct raw r = {0};
	struct fetch f = {0};
	const char *hdr_end, *v;

	server_start(&s);
	r.port = s.port;
	r.request = "HEAD /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	run_client(s.base, do_raw, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(s.r.calls, 1);
	ck_assert_msg(strncmp(buf_str(&r.resp), "HTTP/1.0 200 ", 13) == 0 ||
			  strncmp(buf_str(&r.resp), "HTTP/1.1 200 ", 13) == 0,
		      "status line: %s", buf_str(&r.resp));
	hdr_end = strstr(buf_str(&r.resp), "\r\n\r\n");
	ck_assert_ptr_nonnull(hdr_end);
	ck_assert_str_eq(hdr_end + 4, "");
	v = raw_header(strstr(r.resp.data, "\r\n") + 2, "Content-Type");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, CONTENT_TYPE);
	v = raw_header(strstr(r.resp.data, "\r\n") + 2, "Content-Length");
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(strtol(v, NULL, 10), (long)s.r.last.len);

	/* And through curl, which reuses nothing of it. */
	f.port = s.port;
	f.method = "HEAD";
	run_client(s.base, do_fetch, &f);
	ck_assert_int_eq(f.rc, CURLE_OK);
	ck_assert_int_eq(f.status, 200);
	ck_assert_str_eq(f.ctype, CONTENT_TYPE);
	ck_assert_uint_eq(f.resp.len, 0);
	buf_free(&r.resp);
	buf_free(&f.resp);
	server_stop(&s);
}
END_TEST

static const char *const bad_methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"};

START_TEST(test_method_not_allowed)
{
	struct server s;
	struct fetch f = {0};

	server_start(&s);
	f.port = s.port;
	f.method = bad_methods[_i];
	run_client(s.base, do_fetch, &f);
	ck_assert_int_eq(f.rc, CURLE_OK);
	ck_assert_int_eq(f.status, 405);
	ck_assert_str_eq(f.allow, "GET, HEAD");
	ck_assert_int_eq(s.r.calls, 0);
	buf_free(&f.resp);
	server_stop(&s);
}
END_TEST

/* No request body is read: a POST that carries one is refused before the
 * handler sees it (413 from evhttp), and the server goes on serving. */
START_TEST(test_post_with_body)
{
	struct server s;
	struct fetch f = {0}, g = {0};

	server_start(&s);
	f.port = g.port = s.port;
	f.method = "POST";
	f.body = "a=1";
	run_client(s.base, do_fetch, &f);
	ck_assert_msg(f.status == 413 || f.status == 405, "status %ld", f.status);
	ck_assert_int_eq(s.r.calls, 0);
	run_client(s.base, do_fetch, &g);
	ck_assert_int_eq(g.status, 200);
	buf_free(&f.resp);
	buf_free(&g.resp);
	server_stop(&s);
}
END_TEST

static const char *const other_paths[] = {"/other", "/", "/metrics/", "/metricsx", "/METRICS",
					  "/metrics/../metrics"};

START_TEST(test_not_found)
{
	struct server s;
	struct fetch f = {0}, h = {0};

	server_start(&s);
	f.port = h.port = s.port;
	f.path = h.path = other_paths[_i];
	run_client(s.base, do_fetch, &f);
	ck_assert_int_eq(f.rc, CURLE_OK);
	ck_assert_int_eq(f.status, 404);
	h.method = "HEAD";
	run_client(s.base, do_fetch, &h);
	ck_assert_int_eq(h.rc, CURLE_OK);
	ck_assert_int_eq(h.status, 404);
	ck_assert_uint_eq(h.resp.len, 0);
	ck_assert_int_eq(s.r.calls, 0);
	buf_free(&f.resp);
	buf_free(&h.resp);
	server_stop(&s);
}
END_TEST

/* A 20 KB header is over the 8 KiB cap: refused (4xx or closed) without
 * rendering, and the next scraper is served normally. */
START_TEST(test_big_header)
{
	struct server s;
	struct fetch f = {0}, g = {0};
	size_t n = 20 * 1024;
	char *h;

	server_start(&s);
	h = xmalloc(n + 1);
	memcpy(h, "X-Big: ", 7);
	memset(h + 7, 'a', n - 7);
	h[n] = '\0';
	f.port = g.port = s.port;
	f.header = h;
	run_client(s.base, do_fetch, &f);
	ck_assert_msg(f.rc != CURLE_OK || (f.status >= 400 && f.status < 500),
		      "rc %d status %ld", (int)f.rc, f.status);
	ck_assert_int_eq(s.r.calls, 0);
	run_client(s.base, do_fetch, &g);
	ck_assert_int_eq(g.rc, CURLE_OK);
	ck_assert_int_eq(g.status, 200);
	ck_assert_str_eq(buf_str(&g.resp), buf_str(&s.r.last));
	free(h);
	buf_free(&f.resp);
	buf_free(&g.resp);
	server_stop(&s);
}
END_TEST

/* Garbage instead of HTTP gets a 400 or a close, and does not stop the server. */
START_TEST(test_garbage_request)
{
	struct server s;
	struct raw r = {0};
	struct fetch g = {0};

	server_start(&s);
	r.port = g.port = s.port;
	r.request = "\x16\x03\x01\x02\xa5\x01 not http\r\n\r\n";   /* no NUL: strlen */
	run_client(s.base, do_raw, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_msg(r.resp.len == 0 || strncmp(r.resp.data, "HTTP/1.1 400", 12) == 0,
		      "response: %s", buf_str(&r.resp));
	ck_assert_int_eq(s.r.calls, 0);
	run_client(s.base, do_fetch, &g);
	ck_assert_int_eq(g.status, 200);
	buf_free(&r.resp);
	buf_free(&g.resp);
	server_stop(&s);
}
END_TEST

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* metrics_free with a half-sent request open closes that connection too. */
START_TEST(test_free_with_open_connection)
{
	struct timeval tv = {0, 200 * 1000};
	struct server s;
	char tmp[64];
	ssize_t n;
	int fd;

	server_start(&s);
	fd = raw_connect(s.port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(send(fd, "GET /metr", 9, MSG_NOSIGNAL), 9);
	/* Let the loop accept the connection and read the partial request. */
	ck_assert_int_eq(event_base_once(s.base, -1, EV_TIMEOUT, on_timer, s.base, &tv), 0);
	event_base_dispatch(s.base);
	metrics_free(s.m);
	s.m = NULL;
	n = recv(fd, tmp, sizeof(tmp), 0);
	ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET), "recv %zd errno %d", n, errno);
	close(fd);
	ck_assert_int_eq(s.r.calls, 0);
	server_stop(&s);
}
END_TEST

/* An explicit port: the one just released by a :0 listener. */
START_TEST(test_explicit_port)
{
	struct server s;
	struct fetch f = {0};
	struct err e = {""};
	char *addr;
	int port;

	server_start(&s);
	port = s.port;
	metrics_free(s.m);
	s.m = NULL;
	addr = xasprintf("127.0.0.1:%d", port);
	ck_assert_msg(metrics_listen(s.base, addr, render_cb, &s.r, &s.m, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(metrics_port(s.m), port);
	f.port = port;
	run_client(s.base, do_fetch, &f);
	ck_assert_int_eq(f.status, 200);
	free(addr);
	buf_free(&f.resp);
	server_stop(&s);
}
END_TEST

START_TEST(test_ipv6_loopback)
{
	struct server s;
	struct fetch f = {0};
	struct err e = {""};
	int rc;

	memset(&s, 0, sizeof(s));
	render_init(&s.r);
	s.base = event_base_new();
	rc = metrics_listen(s.base, "[::1]:0", render_cb, &s.r, &s.m, &e);
	if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
		/* No IPv6 loopback in this sandbox: nothing to test. */
		event_base_free(s.base);
		return;
	}
	ck_assert_msg(rc == 0, "%s", e.msg);
	f.port = metrics_port(s.m);
	f.host = "[::1]";
	run_client(s.base, do_fetch, &f);
	ck_assert_int_eq(f.rc, CURLE_OK);
	ck_assert_int_eq(f.status, 200);
	ck_assert_str_eq(buf_str(&f.resp), buf_str(&s.r.last));
	buf_free(&f.resp);
	server_stop(&s);
}
END_TEST

/* ------------------------------------------------------------ listen errors */

static const char *const bad_listen[] = {
	"", "127.0.0.1", "1.2.3.4:99999", "[::1", "host:port", ":", ":-1", ":+80", ": 80",
	"127.0.0.1:", "127.0.0.1:80x", "127.0.0.1:0x10", "::1:80", "[::1]80", "[::1]:",
	"[::1]:65536", "[127.0.0.1]:80", "[]:80", "localhost:80", "1.2.3:80", " 127.0.0.1:80",
	"127.0.0.1 :80", "[fe80::1%lo]:80", "127.0.0.1:99999999999999999999999",
};

START_TEST(test_bad_listen)
{
	struct event_base *base = event_base_new();
	struct metrics *m = (struct metrics *)&base;    /* must stay untouched */
	struct err e = {""};

	ck_assert_int_eq(metrics_listen(base, bad_listen[_i], render_cb, NULL, &m, &e), -EINVAL);
	ck_assert_ptr_eq(m, (struct metrics *)&base);
	ck_assert_msg(strstr(e.msg, "metrics listen") != NULL, "message: %s", e.msg);
	event_base_free(base);
}
END_TEST

START_TEST(test_port_in_use)
{
	struct server s;
	struct metrics *m2 = NULL;
	struct err e = {""};
	char *addr;
	int rc;

	server_start(&s);
	addr = xasprintf("127.0.0.1:%d", s.port);
	rc = metrics_listen(s.base, addr, render_cb, &s.r, &m2, &e);
	ck_assert_int_eq(rc, -EADDRINUSE);
	ck_assert_ptr_null(m2);
	ck_assert_msg(strstr(e.msg, addr) != NULL, "message: %s", e.msg);
	ck_assert_msg(strstr(e.msg, strerror(EADDRINUSE)) != NULL, "message: %s", e.msg);
	free(addr);
	server_stop(&s);
}
END_TEST

START_TEST(test_listen_null_args)
{
	struct event_base *base = event_base_new();
	struct metrics *m = NULL;
	struct err e = {""};

	ck_assert_int_eq(metrics_listen(NULL, "127.0.0.1:0", render_cb, NULL, &m, &e), -EINVAL);
	ck_assert_int_eq(metrics_listen(base, NULL, render_cb, NULL, &m, &e), -EINVAL);
	ck_assert_int_eq(metrics_listen(base, "127.0.0.1:0", NULL, NULL, &m, &e), -EINVAL);
	ck_assert_int_eq(metrics_listen(base, "127.0.0.1:0", render_cb, NULL, NULL, &e), -EINVAL);
	ck_assert_ptr_null(m);
	metrics_free(NULL);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------------------ formatting */

static const struct {
	double v;
	const char *want;
} values[] = {
	{0.0, "0"},
	{-0.0, "0"},
	{1.0, "1"},
	{-1.0, "-1"},
	{42.0, "42"},
	{1764000000.0, "1764000000"},
	{4102444800.0, "4102444800"},
	{1764000000.5, "1764000000.5"},
	{9007199254740992.0, "9007199254740992"},       /* 2^53: still exact */
	{-9007199254740992.0, "-9007199254740992"},
	{9007199254740994.0, "9007199254740994"},       /* past 2^53: %g's choice */
	{1e16, "1e+16"},
	{1e20, "1e+20"},
	{0.5, "0.5"},
	{0.1, "0.1"},
	{-2.25, "-2.25"},
	{0.1 + 0.2, "0.30000000000000004"},
	{1.0 / 3.0, "0.3333333333333333"},
	{123456.789, "123456.789"},
	{1e-5, "1e-05"},
	{DBL_MAX, "1.7976931348623157e+308"},
	{DBL_MIN, "2.2250738585072014e-308"},
	{5e-324, "5e-324"},
	{NAN, "NaN"},
	{-NAN, "NaN"},
	{INFINITY, "+Inf"},
	{-INFINITY, "-Inf"},
};

START_TEST(test_sample_values)
{
	struct buf b = BUF_INIT;
	char *want = xasprintf("certd_x %s\n", values[_i].want);

	metrics_sample(&b, "certd_x", values[_i].v, NULL);
	ck_assert_str_eq(buf_str(&b), want);
	/* What we print reads back as the same number. */
	if (!isnan(values[_i].v))
		ck_assert(strtod(values[_i].want[0] == '+' ? values[_i].want + 1 : values[_i].want,
				 NULL) == values[_i].v);
	free(want);
	buf_free(&b);
}
END_TEST

START_TEST(test_sample_labels)
{
	struct buf b = BUF_INIT;

	metrics_sample(&b, "certd_a", 1, "cert", "www", NULL);
	metrics_sample(&b, "certd_b", 2, "cert", "a\"b\\c\nd", NULL);
	metrics_sample(&b, "certd_c", 3, "cert", "www", "issuer", "vault", "state", "", NULL);
	metrics_sample(&b, "ns:certd_d_total", 4, "_x", "caf\xc3\xa9 {},=", NULL);
	metrics_sample(&b, "certd_e", 5, "cert", "\\\\\"\"\n\n", NULL);
	ck_assert_str_eq(buf_str(&b), "certd_a{cert=\"www\"} 1\n"
				      "certd_b{cert=\"a\\\"b\\\\c\\nd\"} 2\n"
				      "certd_c{cert=\"www\",issuer=\"vault\",state=\"\"} 3\n"
				      "ns:certd_d_total{_x=\"caf\xc3\xa9 {},=\"} 4\n"
				      "certd_e{cert=\"\\\\\\\\\\\"\\\"\\n\\n\"} 5\n");
	buf_free(&b);
}
END_TEST

START_TEST(test_header)
{
	struct buf b = BUF_INIT;

	metrics_header(&b, "certd_x", "gauge", "Plain help.");
	metrics_header(&b, "certd_y_total", "counter", "Back\\slash, \"quotes\" and\nnewline.");
	metrics_header(&b, "certd_z", "histogram", NULL);
	metrics_header(&b, "certd_s", "summary", "");
	metrics_header(&b, "certd_u", "untyped", "u");
	ck_assert_str_eq(buf_str(&b),
			 "# HELP certd_x Plain help.\n"
			 "# TYPE certd_x gauge\n"
			 "# HELP certd_y_total Back\\\\slash, \"quotes\" and\\nnewline.\n"
			 "# TYPE certd_y_total counter\n"
			 "# TYPE certd_z histogram\n"
			 "# HELP certd_s \n"
			 "# TYPE certd_s summary\n"
			 "# HELP certd_u u\n"
			 "# TYPE certd_u untyped\n");
	buf_free(&b);
}
END_TEST

/* Names come from code: a bad one is a bug and aborts (SIGABRT). */
static void
bad_name_case(int i)
{
	struct buf b = BUF_INIT;

	switch (i) {
	case 0: metrics_sample(&b, "", 1, NULL); break;
	case 1: metrics_sample(&b, "1abc", 1, NULL); break;
	case 2: metrics_sample(&b, "certd-x", 1, NULL); break;
	case 3: metrics_sample(&b, "certd x", 1, NULL); break;
	case 4: metrics_sample(&b, "certd_x", 1, "__name__", "v", NULL); break;
	case 5: metrics_sample(&b, "certd_x", 1, "a:b", "v", NULL); break;
	case 6: metrics_sample(&b, "certd_x", 1, "9a", "v", NULL); break;
	case 7: metrics_sample(&b, "certd_x", 1, "", "v", NULL); break;
	case 8: metrics_sample(&b, "certd_x", 1, "k", (const char *)NULL, NULL); break;
	case 9: metrics_header(&b, "certd_x", "bogus", "h"); break;
	case 10: metrics_header(&b, "certd_x", NULL, "h"); break;
	case 11: metrics_header(&b, "certd.x", "gauge", "h"); break;
	case 12: metrics_sample(&b, NULL, 1, NULL); break;
	default: break;
	}
	buf_free(&b);
}

START_TEST(test_bad_names_abort)
{
	bad_name_case(_i);
}
END_TEST

#define NELEM(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *http = tcase_create("http");
	TCase *lis = tcase_create("listen");
	TCase *fmt = tcase_create("format");
	TCase *crash;
	const char *fork = getenv("CK_FORK");

	tcase_set_timeout(http, 60);
	tcase_add_test(http, test_get_metrics);
	tcase_add_test(http, test_get_query_ignored);
	tcase_add_test(http, test_head);
	tcase_add_loop_test(http, test_method_not_allowed, 0, NELEM(bad_methods));
	tcase_add_test(http, test_post_with_body);
	tcase_add_loop_test(http, test_not_found, 0, NELEM(other_paths));
	tcase_add_test(http, test_big_header);
	tcase_add_test(http, test_garbage_request);
	tcase_add_test(http, test_free_with_open_connection);
	tcase_add_test(http, test_explicit_port);
	tcase_add_test(http, test_ipv6_loopback);
	suite_add_tcase(s, http);

	tcase_add_loop_test(lis, test_bad_listen, 0, NELEM(bad_listen));
	tcase_add_test(lis, test_port_in_use);
	tcase_add_test(lis, test_listen_null_args);
	suite_add_tcase(s, lis);

	tcase_add_loop_test(fmt, test_sample_values, 0, NELEM(values));
	tcase_add_test(fmt, test_sample_labels);
	tcase_add_test(fmt, test_header);
	suite_add_tcase(s, fmt);

	/* An abort can only be observed from a forked test. */
	if (fork == NULL || strcmp(fork, "no") != 0) {
		crash = tcase_create("bad_names");
		tcase_add_loop_test_raise_signal(crash, test_bad_names_abort, SIGABRT, 0, 13);
		suite_add_tcase(s, crash);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EXIT_FAILURE;
	srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY=verbose lists every test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
