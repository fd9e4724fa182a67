/*
 * metrics.c — the Prometheus endpoint (see metrics.h) and the helpers that
 * write the text exposition format (version 0.0.4).
 *
 * The listener is an evhttp on the daemon's event_base, so the render
 * callback runs on the loop thread, once per GET or HEAD of /metrics, and
 * may read job state without locks.  The socket is made here rather than
 * with evhttp_bind_socket_with_handle(): that goes through getaddrinfo(),
 * keeps only its first answer (so ":port" would be IPv4 or IPv6 depending
 * on gai.conf), lets libevent print warnings on failure and does not
 * reliably leave errno behind.  Doing socket/bind/listen ourselves gives
 * an exact errno for the message, no logging from a leaf, and a dual-stack
 * wildcard for ":port".  Only numeric addresses are accepted, so binding
 * never waits on DNS.
 *
 * Limits: request headers are capped at 8 KiB, no request body is
 * accepted (evhttp answers 413 to one), and a connection that is idle or
 * slow for 10 s is dropped.  Every method is let through evhttp (it would
 * answer 501 to disallowed ones) so that we can answer 405 with Allow.
 *
 * Metric and label names come from code, not users: an invalid one is a
 * programming error and aborts, because a single bad line makes Prometheus
 * reject the whole scrape.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "metrics.h"
#include "xalloc.h"

#define MAX_HEADERS_SIZE 8192
#define MAX_BODY_SIZE 0
#define CONN_TIMEOUT_SEC 10
#define LISTEN_BACKLOG 64
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define ALLOWED "GET, HEAD"

/* Every method evhttp can parse; see the top comment for why. */
#define ALL_METHODS                                                                         \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |              \
	 EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |   \
	 EVHTTP_REQ_PATCH)

struct metrics {
	struct evhttp *http;
	metrics_render_cb cb;
	void *arg;
	int port;
};

/* ------------------------------------------------------------ address */

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	bool any;    /* ":port": all addresses, both families if possible */
};

static int
parse_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -1;
	}
	*out = (uint16_t)v;
	return 0;
}

static void
set_in4(struct listen_addr *a, const struct in_addr *ia, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr = *ia;
	memset(&a->ss, 0, sizeof(a->ss));
	memcpy(&a->ss, &sin, sizeof(sin));
	a->len = sizeof(sin);
}

static void
set_in6(struct listen_addr *a, const struct in6_addr *ia, uint16_t port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	sin6.sin6_addr = *ia;
	memset(&a->ss, 0, sizeof(a->ss));
	memcpy(&a->ss, &sin6, sizeof(sin6));
	a->len = sizeof(sin6);
}

static int
bad_listen(struct err *e, const char *s, const char *why)
{
	return err_set(e, EINVAL, "metrics listen \"%.80s\": %s", s, why);
}

/* "a.b.c.d:port", "[v6]:port" or ":port"; numeric only. */
static int
parse_listen(const char *s, struct listen_addr *a, struct err *e)
{
	static const char usage[] = "expected IPv4:port, [IPv6]:port or :port";
	char host[INET6_ADDRSTRLEN];
	const char *h, *end, *p;
	struct in6_addr a6;
	struct in_addr a4;
	uint16_t port;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		h = s + 1;
		end = strchr(h, ']');
		if (end == NULL || end[1] != ':')
			return bad_listen(e, s, usage);
		p = end + 2;
	} else {
		h = s;
		end = strrchr(s, ':');
		if (end == NULL)
			return bad_listen(e, s, usage);
		p = end + 1;
		if (memchr(h, ':', (size_t)(end - h)) != NULL)
			return bad_listen(e, s, "an IPv6 address goes in brackets");
	}
	if (parse_port(p, &port) != 0)
		return bad_listen(e, s, "port must be 0..65535");
	hlen = (size_t)(end - h);
	if (hlen >= sizeof(host))
		return bad_listen(e, s, "not an IP address");
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return bad_listen(e, s, "not an IPv6 address");
		set_in6(a, &a6, port);
	} else if (hlen == 0) {
		a->any = true;
		set_in6(a, &in6addr_any, port);
	} else {
		if (inet_pton(AF_INET, host, &a4) != 1)
			return bad_listen(e, s, "not an IPv4 address (names are not resolved; "
						"IPv6 goes in brackets)");
		set_in4(a, &a4, port);
	}
	return 0;
}

/* socket, bind, listen.  Returns 0 and *fdp, or a negative errno. */
static int
open_listener(const struct listen_addr *a, int *fdp)
{
	int fd, one = 1, v6only = a->any ? 0 : 1, rc;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restart must not fail on connections still in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
		goto fail;
	if (listen(fd, LISTEN_BACKLOG) != 0)
		goto fail;
	*fdp = fd;
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ------------------------------------------------------------ HTTP */

static void
free_body(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* Send a response.  body is owned by this function (freed in every case).
 * HEAD gets the headers a GET would get and no body: evhttp would send
 * whatever is in the output buffer. */
static void
reply(struct evhttp_request *req, int code, const char *reason, const char *ctype, char *body,
      size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	char clen[32];

	evhttp_add_header(h, "Content-Type", ctype);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(clen, sizeof(clen), "%zu", len);
		evhttp_add_header(h, "Content-Length", clen);
		free(body);
	} else if (len == 0) {
		free(body);
	} else if (evbuffer_add_reference(out, body, len, free_body, NULL) != 0) {
		free(body);
		abort();    /* allocation failure, as in xalloc */
	}
	evhttp_send_reply(req, code, reason, NULL);
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	reply(req, code, reason, "text/plain; charset=utf-8", xstrdup(text), strlen(text));
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct buf b = BUF_INIT;
	size_t len;

	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", ALLOWED);
		reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
		return;
	}
	/* The query string is ignored: Prometheus may add scrape params. */
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		reply_text(req, 404, "Not Found", "not found\n");
		return;
	}
	m->cb(&b, m->arg);
	len = b.len;
	reply(req, 200, "OK", CONTENT_TYPE, buf_steal(&b), len);
}

/* ------------------------------------------------------------ public */

int
metrics_listen(struct event_base *base, const char *listen, metrics_render_cb cb, void *arg,
	       struct metrics **out, struct err *e)
{
	struct listen_addr a;
	struct metrics *m = NULL;
	int fd = -1, rc;

	if (base == NULL || listen == NULL || cb == NULL || out == NULL)
		return err_set(e, EINVAL, "metrics_listen: NULL argument");
	rc = parse_listen(listen, &a, e);
	if (rc != 0)
		goto out;
	rc = open_listener(&a, &fd);
	if (rc == -EAFNOSUPPORT && a.any) {
		/* IPv6 disabled in the kernel: all IPv4 addresses, then. */
		struct in_addr any4 = {htonl(INADDR_ANY)};

		set_in4(&a, &any4, ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port));
		rc = open_listener(&a, &fd);
	}
	if (rc != 0) {
		err_set(e, -rc, "metrics: cannot listen on %.80s: %s", listen, strerror(-rc));
		goto out;
	}
	m = xcalloc(1, sizeof(*m));
	m->cb = cb;
	m->arg = arg;
	m->port = bound_port(fd);
	if (m->port < 0) {
		rc = m->port;
		err_set(e, -rc, "metrics: %.80s: getsockname: %s", listen, strerror(-rc));
		goto out;
	}
	m->http = evhttp_new(base);
	if (m->http == NULL)
		abort();
	evhttp_set_max_headers_size(m->http, MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(m->http, MAX_BODY_SIZE);
	evhttp_set_timeout(m->http, CONN_TIMEOUT_SEC);
	evhttp_set_allowed_methods(m->http, ALL_METHODS);
	evhttp_set_gencb(m->http, on_request, m);
	/* On success the listener owns fd and evhttp_free() closes it. */
	if (evhttp_accept_socket_with_handle(m->http, fd) == NULL) {
		rc = err_set(e, ENOMEM, "metrics: cannot listen on %.80s: %s", listen,
			     "evhttp refused the socket");
		goto out;
	}
	fd = -1;
	*out = m;
	m = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	metrics_free(m);
	return rc;
}

int
metrics_port(const struct metrics *m)
{
	return m->port;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	/* Closes the listening socket and every open connection. */
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}

/* ------------------------------------------------------------ exposition */

static bool
name_ok(const char *s, bool colon)
{
	const char *p;

	if (s == NULL || *s == '\0')
		return false;
	for (p = s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		    (colon && *p == ':'))
			continue;
		if (p != s && *p >= '0' && *p <= '9')
			continue;
		return false;
	}
	return true;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static void
check_metric_name(const char *s)
{
	if (!name_ok(s, true))
		abort();
}

/* [a-zA-Z_][a-zA-Z0-9_]*, and "__" is reserved for Prometheus itself. */
static void
check_label_name(const char *s)
{
	if (!name_ok(s, false) || strncmp(s, "__", 2) == 0)
		abort();
}

/* HELP text escapes \ and newline; label values also escape ". */
static void
put_escaped(struct buf *out, const char *s, bool quote)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\' && *s != '\n' && !(quote && *s == '"'))
			continue;
		buf_append(out, run, (size_t)(s - run));
		buf_puts(out, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"");
		run = s + 1;
	}
	buf_puts(out, run);
}

/* Prometheus' spelling of the specials; integers in plain digits while
 * every integer is exact (|v| <= 2^53: unix times, counters), where %g
 * would give 1.764e+09; otherwise the shortest %g that reads back as the
 * same double (%.17g always does), which may still be plain digits when
 * the exponent is below the precision.  Relies on the C locale for '.'
 * (certd never calls setlocale). */
static void
put_value(struct buf *out, double v)
{
	char s[32];
	int prec;

	if (isnan(v)) {
		buf_puts(out, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_puts(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v >= -0x1p53 && v <= 0x1p53 && (double)(int64_t)v == v) {
		buf_printf(out, "%" PRId64, (int64_t)v);
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	if (prec == 17)
		snprintf(s, sizeof(s), "%.17g", v);
	buf_puts(out, s);
}

void
metrics_header(struct buf *out, const char *name, const char *type, const char *help)
{
	static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
	size_t i;

	check_metric_name(name);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (type != NULL && strcmp(type, types[i]) == 0)
			break;
	if (i == sizeof(types) / sizeof(types[0]))
		abort();
	if (help != NULL) {
		buf_printf(out, "# HELP %s ", name);
		put_escaped(out, help, false);
		buf_putc(out, '\n');
	}
	buf_printf(out, "# TYPE %s %s\n", name, type);
}

void
metrics_sample(struct buf *out, const char *name, double value, ...)
{
	const char *k, *v;
	bool first = true;
	va_list ap;

	check_metric_name(name);
	buf_puts(out, name);
	va_start(ap, value);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		check_label_name(k);
		if (v == NULL)
			abort();    /* odd number of label arguments */
		buf_puts(out, first ? "{" : ",");
		buf_printf(out, "%s=\"", k);
		put_escaped(out, v, true);
		buf_putc(out, '"');
		first = false;
	}
	va_end(ap);
	if (!first)
		buf_putc(out, '}');
	buf_putc(out, ' ');
	put_value(out, value);
	buf_putc(out, '\n');
}
