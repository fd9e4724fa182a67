#include "config.h"

/*
 * http.c — HTTP client: libcurl's multi interface driven by libevent.
 *
 * Owns, per struct http: one CURLM, one libevent timer standing for
 * libcurl's single timeout (CURLMOPT_TIMERFUNCTION), one event per socket
 * libcurl wants watched (CURLMOPT_SOCKETFUNCTION; struct sock, listed so
 * that http_free can release what curl_multi_cleanup leaves), and the ops
 * in flight, each with an easy handle and its own copy of the request.
 *
 * Invariants:
 *  - curl_multi_socket_action() runs only from this file's event
 *    callbacks, so no user callback runs inside http_start or http_cancel
 *    and libcurl's callbacks never re-enter the API.  A request that is bad
 *    from the start is answered through a zero-timeout event (op->defer).
 *  - A user callback runs after its op has left h->ops and its easy handle
 *    has left the multi handle: it may start or cancel ops, or free h
 *    (check_done notices through h->dead and stops touching h).
 *  - Redirects are followed here, not with CURLOPT_FOLLOWLOCATION: libcurl
 *    7.88.1 re-sends custom headers, X-Vault-Token included, to whatever
 *    host a Location names (it holds back only Authorization and Cookie;
 *    checked with curl -L against two loopback listeners).  Each 307/308
 *    hop re-adds the easy handle with op->hdrs_public, the list without
 *    secret headers, when the origin (scheme, host, port) differs from the
 *    request's, as libcurl does for Authorization.  Method and body are
 *    kept (RFC 9110 15.4.8, 15.4.9); other 3xx are returned as responses;
 *    https -> http is refused.  The total timeout covers all hops.
 *  - DNS never blocks the loop: http_global_init insists on
 *    CURL_VERSION_ASYNCHDNS (Debian's 7.88 uses the threaded resolver,
 *    which signals completion over a socketpair we watch like any socket),
 *    and CURLOPT_QUICK_EXIT keeps libcurl from joining a resolver thread
 *    still in getaddrinfo() when an op is cancelled or times out (7.88's
 *    Curl_resolver_kill waits for it otherwise); the thread is detached
 *    and frees its own state.
 *  - The request body copy, header lines and response body are wiped
 *    before they are freed.  libcurl's internal send and receive buffers
 *    are beyond reach.
 */

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "xalloc.h"

struct sock {
	struct http *h;
	struct event *ev;
	LIST_ENTRY(sock) entry;
};

struct http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	LIST_HEAD(, sock) socks;
	LIST_HEAD(, http_op) ops;
	bool *dead;            /* non-NULL while check_done runs */
};

struct origin {
	char *scheme, *host, *port;
};

struct http_op {
	struct http *h;        /* NULL once detached */
	LIST_ENTRY(http_op) entry;
	CURL *easy;
	bool in_multi;
	bool delivering;       /* the callback is running */
	struct event *defer;   /* answers a request that failed at start */
	http_done_cb cb;
	void *arg;

	struct curl_slist *hdrs;        /* all of the caller's headers */
	struct curl_slist *hdrs_public; /* the same without secret ones */
	char *body;            /* NULL when the method sends none */
	size_t body_len;
	struct curl_slist *connect_to;
	struct origin origin;  /* of the URL as sent (after server_name) */
	size_t max_response;
	int max_redirects;
	int64_t deadline_ms;   /* CLOCK_MONOTONIC */

	bool too_large;
	char errbuf[CURL_ERROR_SIZE];
	struct http_response resp;
};

#ifdef PACKAGE_VERSION
#define USER_AGENT "certd/" PACKAGE_VERSION
#else
#define USER_AGENT "certd"
#endif

static bool global_done;

/* Headers that are secret whatever the caller says. */
static const char *const secret_names[] = {
	"Authorization", "Cookie", "Proxy-Authorization", "X-Vault-Token",
};

static const CURLcode tls_codes[] = {
	CURLE_SSL_CONNECT_ERROR, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
	CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_PEER_FAILED_VERIFICATION,
	CURLE_USE_SSL_FAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CACERT_BADFILE,
	CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
	CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS,
#if LIBCURL_VERSION_NUM >= 0x074d00
	CURLE_SSL_CLIENTCERT,
#endif
};

#define TOKEN_CHARS "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DNS_CHARS "-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const outcome_names[] = {
	[HTTP_OUTCOME_OK] = "ok",
	[HTTP_OUTCOME_CONNECT_FAILED] = "connect failed",
	[HTTP_OUTCOME_TIMEOUT] = "timeout",
	[HTTP_OUTCOME_TLS_ERROR] = "TLS error",
	[HTTP_OUTCOME_TOO_LARGE] = "response too large",
	[HTTP_OUTCOME_CANCELLED] = "cancelled",
	[HTTP_OUTCOME_OTHER] = "error",
};

static void check_done(struct http *h);

/* ------------------------------------------------------------ helpers */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct event *
xevent_new(struct event_base *base, evutil_socket_t fd, short what, event_callback_fn fn,
	   void *arg)
{
	struct event *ev = event_new(base, fd, what, fn, arg);

	if (ev == NULL)
		abort();
	return ev;
}

/* Record the first failure of a run of curl_easy_setopt calls. */
static void
keep(CURLcode *first, CURLcode c)
{
	if (*first == CURLE_OK)
		*first = c;
}

static struct curl_slist *
xslist_append(struct curl_slist *l, const char *s)
{
	struct curl_slist *n = curl_slist_append(l, s);

	if (n == NULL)
		abort();
	return n;
}

static void
slist_free_secret(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* An RFC 9110 5.6.2 token (methods, header names), or a DNS name. */
static bool
only(const char *s, const char *chars)
{
	return *s != '\0' && s[strspn(s, chars)] == '\0';
}

/* A copy of one part of u (NULL when absent), in our allocator. */
static char *
url_part(CURLU *u, CURLUPart what, unsigned flags)
{
	char *s = NULL, *copy;

	if (curl_url_get(u, what, &s, flags) != CURLUE_OK || s == NULL)
		return NULL;
	copy = xstrdup(s);
	curl_free(s);
	return copy;
}

static CURLU *
xcurl_url(void)
{
	CURLU *u = curl_url();

	if (u == NULL)
		abort();
	return u;
}

static void
origin_free(struct origin *o)
{
	free(o->scheme);
	free(o->host);
	free(o->port);
	o->scheme = o->host = o->port = NULL;
}

/* Scheme (http or https), host and port of an absolute URL. */
static int
origin_get(CURLU *u, struct origin *o)
{
	o->scheme = url_part(u, CURLUPART_SCHEME, 0);
	o->host = url_part(u, CURLUPART_HOST, 0);
	o->port = url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
	if (o->scheme == NULL || o->host == NULL || o->port == NULL ||
	    (strcasecmp(o->scheme, "http") != 0 && strcasecmp(o->scheme, "https") != 0)) {
		origin_free(o);
		return -EINVAL;
	}
	return 0;
}

static int
origin_parse(const char *url, struct origin *o)
{
	CURLU *u = xcurl_url();
	int rc = -EINVAL;

	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
		rc = origin_get(u, o);
	curl_url_cleanup(u);
	return rc;
}

static bool
origin_eq(const struct origin *a, const struct origin *b)
{
	return strcasecmp(a->scheme, b->scheme) == 0 && strcasecmp(a->host, b->host) == 0 &&
	    strcmp(a->port, b->port) == 0;
}

/* ------------------------------------------------------------ libcurl callbacks */

/* Grow without leaving copies behind: the old block is wiped, not
 * realloc'd, because response bodies carry tokens and private keys. */
static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_op *op = arg;
	struct buf *b = &op->resp.body;
	struct buf grown = BUF_INIT;
	size_t len = size * n;

	if (len > op->max_response - b->len) {
		op->too_large = true;
		return 0;      /* CURLE_WRITE_ERROR: the transfer stops here */
	}
	if (b->len + len + 1 > b->cap) {
		buf_reserve(&grown, b->len + len > 2 * b->cap ? b->len + len : 2 * b->cap);
		buf_append(&grown, b->data, b->len);
		buf_free_secret(b);
		*b = grown;
	}
	buf_append(b, data, len);
	return len;
}

/* Retry-After (RFC 9110 10.2.3): delta-seconds or an HTTP-date.  Returns
 * seconds from now, saturated at INT_MAX, or -1 when unparsable. */
static long
parse_retry_after(const char *s, size_t len)
{
	char v[64];
	long secs = 0;
	time_t t, now;
	size_t i;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && strchr(" \t\r\n", s[len - 1]) != NULL)
		len--;
	if (len == 0 || len >= sizeof(v))
		return -1;
	memcpy(v, s, len);
	v[len] = '\0';
	for (i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++)
		if (secs < INT_MAX)
			secs = secs * 10 + (v[i] - '0');
	if (i == len)
		return secs < INT_MAX ? secs : INT_MAX;
	t = curl_getdate(v, NULL);
	if (t == -1)
		return -1;
	now = time(NULL);
	return t <= now ? 0 : (t - now > INT_MAX ? INT_MAX : (long)(t - now));
}

static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	static const char name[] = "Retry-After:";
	struct http_op *op = arg;
	size_t len = size * n;

	/* A status line starts a new response (1xx, or the next hop). */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
		op->resp.retry_after = -1;
	else if (len >= sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0)
		op->resp.retry_after =
		    parse_retry_after(data + sizeof(name) - 1, len - (sizeof(name) - 1));
	return len;
}

static void
sock_free(struct sock *s)
{
	LIST_REMOVE(s, entry);
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

static void
sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct sock *s = arg;
	struct http *h = s->h;     /* s may be gone after socket_action */
	int action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, action, &running);
	check_done(h);
}

static int
sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sock *s = socketp;
	short flags = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			sock_free(s);
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->h = h;
		LIST_INSERT_HEAD(&h->socks, s, entry);
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		flags |= EV_READ;
	if (what & CURL_POLL_OUT)
		flags |= EV_WRITE;
	/* Re-arm in place: this may run inside s->ev's own callback. */
	if (s->ev == NULL) {
		s->ev = xevent_new(h->base, fd, flags, sock_event, s);
	} else {
		event_del(s->ev);
		event_assign(s->ev, h->base, fd, flags, sock_event, s);
	}
	event_add(s->ev, NULL);
	return 0;
}

static void
timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

/* libcurl asks for one timer; 0 means "as soon as possible", which is a
 * zero-timeout event rather than a call from here (libcurl forbids
 * calling socket_action from inside its callbacks). */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

/* ------------------------------------------------------------ ops */

static void
op_fail(struct http_op *op, enum http_outcome outcome, CURLcode code, int err, const char *what)
{
	op->resp.outcome = outcome;
	op->resp.curl_code = code;
	err_set(&op->resp.error, err, "%s", what);
}

/* Release everything but the response, the callback and its argument. */
static void
op_detach(struct http_op *op)
{
	if (op->in_multi)
		curl_multi_remove_handle(op->h->multi, op->easy);
	LIST_REMOVE(op, entry);
	op->h = NULL;
	if (op->easy != NULL)
		curl_easy_cleanup(op->easy);
	if (op->defer != NULL)
		event_free(op->defer);
	xfree_secret(op->body, op->body_len);
	slist_free_secret(op->hdrs);
	slist_free_secret(op->hdrs_public);
	curl_slist_free_all(op->connect_to);
	origin_free(&op->origin);
}

static void
op_free(struct http_op *op)
{
	free(op->resp.content_type);
	free(op->resp.location);
	buf_free_secret(&op->resp.body);
	free(op);
}

static void
op_deliver(struct http_op *op)
{
	op_detach(op);
	op->delivering = true;
	op->cb(&op->resp, op->arg);
	op_free(op);
}

static void
defer_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	op_deliver(arg);
}

static bool
header_is_secret(const struct http_header *hd)
{
	size_t i;

	for (i = 0; i < NELEM(secret_names); i++)
		if (strcasecmp(hd->name, secret_names[i]) == 0)
			return true;
	return hd->secret;
}

/* Two header lists: all, and the public ones for other origins.  No
 * "Expect: 100-continue" round trip, and no made-up
 * application/x-www-form-urlencoded for a body of unknown type. */
static int
op_headers(struct http_op *op, const struct http_request *req, bool has_body)
{
	const struct http_header *hd;
	bool has_ctype = false;
	char *line;
	size_t i;

	for (i = 0; i < req->n_headers; i++) {
		hd = &req->headers[i];
		if (hd->name == NULL || hd->value == NULL || !only(hd->name, TOKEN_CHARS) ||
		    strpbrk(hd->value, "\r\n") != NULL) {
			op_fail(op, HTTP_OUTCOME_OTHER, CURLE_OK, EINVAL, "invalid request header");
			return -EINVAL;
		}
		/* "Name;" is libcurl's spelling of an empty header. */
		line = hd->value[0] == '\0' ? xasprintf("%s;", hd->name)
					    : xasprintf("%s: %s", hd->name, hd->value);
		op->hdrs = xslist_append(op->hdrs, line);
		if (!header_is_secret(hd))
			op->hdrs_public = xslist_append(op->hdrs_public, line);
		xfree_secret(line, strlen(line));
		has_ctype = has_ctype || strcasecmp(hd->name, "Content-Type") == 0;
	}
	op->hdrs = xslist_append(op->hdrs, "Expect:");
	op->hdrs_public = xslist_append(op->hdrs_public, "Expect:");
	if (has_body && !has_ctype) {
		op->hdrs = xslist_append(op->hdrs, "Content-Type:");
		op->hdrs_public = xslist_append(op->hdrs_public, "Content-Type:");
	}
	return 0;
}

/* The URL to send, with tls.server_name applied (see http.h). */
static int
op_prepare_url(struct http_op *op, const struct http_request *req, char **url)
{
	const char *sn = req->tls.server_name;
	struct origin o = {NULL, NULL, NULL};
	CURLU *u = xcurl_url();
	char *line = NULL;
	int rc = -EINVAL;

	if (curl_url_set(u, CURLUPART_URL, req->url, 0) != CURLUE_OK || origin_get(u, &o) != 0) {
		op_fail(op, HTTP_OUTCOME_OTHER, CURLE_URL_MALFORMAT, EINVAL,
			"invalid or unsupported URL");
		goto out;
	}
	if (sn != NULL) {
		if (!only(sn, DNS_CHARS) || curl_url_set(u, CURLUPART_HOST, sn, 0) != CURLUE_OK) {
			op_fail(op, HTTP_OUTCOME_OTHER, CURLE_BAD_FUNCTION_ARGUMENT, EINVAL,
				"invalid tls server_name");
			goto out;
		}
		line = xasprintf("%s:%s:%s:%s", sn, o.port, o.host, o.port);
		op->connect_to = xslist_append(NULL, line);
	}
	*url = url_part(u, CURLUPART_URL, 0);
	if (*url == NULL || origin_get(u, &op->origin) != 0) {
		op_fail(op, HTTP_OUTCOME_OTHER, CURLE_URL_MALFORMAT, EINVAL, "invalid URL");
		goto out;
	}
	rc = 0;
out:
	free(line);
	origin_free(&o);
	curl_url_cleanup(u);
	return rc;
}

static bool
sends_body(const struct http_request *req, const char *m)
{
	return req->body != NULL || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
	    strcmp(m, "PATCH") == 0;
}

/* Method and body.  POSTFIELDS is not copied by libcurl: op->body lives as
 * long as the easy handle and is what every redirect hop re-sends. */
static void
op_set_method(struct http_op *op, const struct http_request *req, const char *m, CURLcode *c)
{
	CURL *e = op->easy;

	if (sends_body(req, m)) {
		op->body_len = req->body != NULL ? req->body_len : 0;
		op->body = xmalloc(op->body_len);
		if (op->body_len > 0)
			memcpy(op->body, req->body, op->body_len);
		keep(c, curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)op->body_len));
		keep(c, curl_easy_setopt(e, CURLOPT_POSTFIELDS, op->body));
		if (strcmp(m, "POST") != 0)
			keep(c, curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m));
	} else if (strcmp(m, "HEAD") == 0) {
		keep(c, curl_easy_setopt(e, CURLOPT_NOBODY, 1L));
	} else if (strcmp(m, "GET") == 0) {
		keep(c, curl_easy_setopt(e, CURLOPT_HTTPGET, 1L));
	} else {
		keep(c, curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m));
	}
}

static void
op_set_tls(struct http_op *op, const struct http_tls *t, CURLcode *c)
{
	CURL *e = op->easy;

	keep(c, curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2));
	keep(c, curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t->insecure ? 0L : 1L));
	keep(c, curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t->insecure ? 0L : 2L));
	if (t->ca_file != NULL) {
		keep(c, curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file));
		/* Debian builds in --with-ca-path=/etc/ssl/certs; a private CA
		 * must not quietly widen into the system store. */
		keep(c, curl_easy_setopt(e, CURLOPT_CAPATH, t->ca_path));
	} else if (t->ca_path != NULL) {
		keep(c, curl_easy_setopt(e, CURLOPT_CAPATH, t->ca_path));
	}
	if (t->cert_file != NULL) {
		keep(c, curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file));
		keep(c, curl_easy_setopt(e, CURLOPT_SSLKEY,
					 t->key_file != NULL ? t->key_file : t->cert_file));
	}
	if (op->connect_to != NULL)
		keep(c, curl_easy_setopt(e, CURLOPT_CONNECT_TO, op->connect_to));
}

/* Copy req into op and configure the easy handle for every hop. */
static int
op_setup(struct http_op *op, const struct http_request *req, char **url)
{
	const char *m = req->method != NULL ? req->method : "GET";
	CURLcode c = CURLE_OK;
	CURL *e;

	op->max_response = req->max_response ? req->max_response : HTTP_MAX_RESPONSE_DEFAULT;
	op->max_redirects = req->max_redirects ? req->max_redirects : HTTP_MAX_REDIRECTS_DEFAULT;
	op->deadline_ms =
	    now_ms() + (req->timeout_ms > 0 ? req->timeout_ms : HTTP_TIMEOUT_DEFAULT_MS);
	if (!only(m, TOKEN_CHARS)) {
		op_fail(op, HTTP_OUTCOME_OTHER, CURLE_BAD_FUNCTION_ARGUMENT, EINVAL,
			"invalid method");
		return -EINVAL;
	}
	if (op_headers(op, req, sends_body(req, m)) != 0 || op_prepare_url(op, req, url) != 0)
		return -EINVAL;
	op->easy = e = curl_easy_init();
	if (e == NULL)
		abort();
	keep(&c, curl_easy_setopt(e, CURLOPT_PRIVATE, op));
	keep(&c, curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
#if LIBCURL_VERSION_NUM >= 0x075700
	keep(&c, curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L));
#endif
#if LIBCURL_VERSION_NUM >= 0x075500
	keep(&c, curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
#else
	keep(&c, curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)));
#endif
	keep(&c, curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L));
	keep(&c, curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT));
	keep(&c, curl_easy_setopt(e, CURLOPT_ERRORBUFFER, op->errbuf));
	keep(&c, curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb));
	keep(&c, curl_easy_setopt(e, CURLOPT_WRITEDATA, op));
	keep(&c, curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb));
	keep(&c, curl_easy_setopt(e, CURLOPT_HEADERDATA, op));
	keep(&c, curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
				  req->connect_timeout_ms > 0 ? req->connect_timeout_ms
							      : HTTP_CONNECT_TIMEOUT_DEFAULT_MS));
	/* Refuse early on Content-Length; write_cb catches the rest. */
	keep(&c, curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)op->max_response));
	if (req->fresh_connect) {
		/* A pooled connection or a resumed TLS session would present
		 * the client certificate of an earlier handshake. */
		keep(&c, curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L));
		keep(&c, curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L));
		keep(&c, curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L));
	}
	op_set_method(op, req, m, &c);
	op_set_tls(op, &req->tls, &c);
	if (c != CURLE_OK) {
		op_fail(op, HTTP_OUTCOME_OTHER, c, EINVAL, curl_easy_strerror(c));
		return -EINVAL;
	}
	return 0;
}

/* Send op (again) to url; secret headers stay home when cross_origin. */
static int
op_arm(struct http_op *op, const char *url, bool cross_origin)
{
	int64_t left = op->deadline_ms - now_ms();
	CURLcode c = CURLE_OK;
	CURLMcode mc;

	if (left <= 0) {
		op_fail(op, HTTP_OUTCOME_TIMEOUT, CURLE_OPERATION_TIMEDOUT, ETIMEDOUT,
			"timed out following redirects");
		return -ETIMEDOUT;
	}
	keep(&c, curl_easy_setopt(op->easy, CURLOPT_HTTPHEADER,
				  cross_origin ? op->hdrs_public : op->hdrs));
	keep(&c, curl_easy_setopt(op->easy, CURLOPT_URL, url));
	keep(&c, curl_easy_setopt(op->easy, CURLOPT_TIMEOUT_MS, (long)left));
	if (c != CURLE_OK) {
		op_fail(op, HTTP_OUTCOME_OTHER, c, EINVAL, curl_easy_strerror(c));
		return -EINVAL;
	}
	op->errbuf[0] = '\0';
	op->too_large = false;
	op->resp.retry_after = -1;
	mc = curl_multi_add_handle(op->h->multi, op->easy);
	if (mc != CURLM_OK) {
		op_fail(op, HTTP_OUTCOME_OTHER, CURLE_OK, EIO, curl_multi_strerror(mc));
		return -EIO;
	}
	op->in_multi = true;
	return 0;
}

/* Follow a 307/308 to loc.  0: re-armed; otherwise op->resp says why not. */
static int
op_redirect(struct http_op *op, const char *loc)
{
	struct origin o = {NULL, NULL, NULL};
	char *url = NULL;
	int rc = -EINVAL;

	if (op->resp.redirects >= (unsigned)op->max_redirects) {
		op_fail(op, HTTP_OUTCOME_OTHER, CURLE_TOO_MANY_REDIRECTS, ELOOP,
			"too many redirects");
		goto out;
	}
	if (origin_parse(loc, &o) != 0) {
		op_fail(op, HTTP_OUTCOME_OTHER, CURLE_UNSUPPORTED_PROTOCOL, EINVAL,
			"redirect to an invalid or unsupported URL");
		goto out;
	}
	if (strcasecmp(op->origin.scheme, "https") == 0 && strcasecmp(o.scheme, "https") != 0) {
		op_fail(op, HTTP_OUTCOME_OTHER, CURLE_UNSUPPORTED_PROTOCOL, EPERM,
			"refusing redirect from https to http");
		goto out;
	}
	url = xstrdup(loc);    /* loc belongs to the easy handle */
	curl_multi_remove_handle(op->h->multi, op->easy);
	op->in_multi = false;
	op->resp.redirects++;
	op->resp.status = 0;
	buf_free_secret(&op->resp.body);
	rc = op_arm(op, url, !origin_eq(&op->origin, &o));
out:
	free(url);
	origin_free(&o);
	return rc;
}

static enum http_outcome
classify(const struct http_op *op, CURLcode res)
{
	size_t i;

	switch (res) {
	case CURLE_OK:
		return HTTP_OUTCOME_OK;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return HTTP_OUTCOME_CONNECT_FAILED;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_OUTCOME_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTP_OUTCOME_TOO_LARGE;
	case CURLE_WRITE_ERROR:
		return op->too_large ? HTTP_OUTCOME_TOO_LARGE : HTTP_OUTCOME_OTHER;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		/* TLS 1.3 clients finish the handshake before the server
		 * judges their certificate, so a refusal arrives as an alert
		 * on the first read ("...tlsv13 alert certificate required"). */
		return strcasecmp(op->origin.scheme, "https") == 0 &&
			       strstr(op->errbuf, " alert ") != NULL
			   ? HTTP_OUTCOME_TLS_ERROR
			   : HTTP_OUTCOME_OTHER;
	default:
		for (i = 0; i < NELEM(tls_codes); i++)
			if (tls_codes[i] == res)
				return HTTP_OUTCOME_TLS_ERROR;
		return HTTP_OUTCOME_OTHER;
	}
}

static void
op_done(struct http_op *op, CURLcode res)
{
	struct http_response *r = &op->resp;
	char *loc = NULL, *ctype = NULL;

	curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (res == CURLE_OK && (r->status == 307 || r->status == 308) && op->max_redirects > 0 &&
	    curl_easy_getinfo(op->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL) {
		if (op_redirect(op, loc) != 0)
			op_deliver(op);
		return;
	}
	if (curl_easy_getinfo(op->easy, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK &&
	    ctype != NULL)
		r->content_type = xstrdup(ctype);
	/* Not followed (another 3xx, or max_redirects < 0): the caller may
	 * want to (vault.c follows a standby's 307 with the token). */
	if (res == CURLE_OK && r->status >= 300 && r->status < 400 &&
	    curl_easy_getinfo(op->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL)
		r->location = xstrdup(loc);
	r->curl_code = res;
	r->outcome = classify(op, res);
	if (r->outcome == HTTP_OUTCOME_TOO_LARGE) {
		r->outcome = HTTP_OUTCOME_TOO_LARGE;
		err_set(&r->error, EFBIG, "response larger than %zu bytes", op->max_response);
	} else if (res != CURLE_OK) {
		err_set(&r->error, EIO, "%s", op->errbuf[0] ? op->errbuf : curl_easy_strerror(res));
	}
	op_deliver(op);
}

/* Hand finished transfers to op_done.  A callback may free h: h->dead
 * then points at our local flag and we stop touching h. */
static void
check_done(struct http *h)
{
	CURLMsg *msg;
	CURLcode res;
	char *op;
	bool dead = false;
	int left;

	h->dead = &dead;
	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg does not survive curl_multi_remove_handle. */
		res = msg->data.result;
		op = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &op);
		op_done((struct http_op *)(void *)op, res);
		if (dead)
			return;
	}
	h->dead = NULL;
}

/* ------------------------------------------------------------ API */

int
http_global_init(struct err *e)
{
	const curl_version_info_data *v;

	if (global_done)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(e, EIO, "curl_global_init failed");
	v = curl_version_info(CURLVERSION_NOW);
	if (!(v->features & CURL_VERSION_ASYNCHDNS)) {
		curl_global_cleanup();
		return err_set(e, ENOTSUP,
			       "libcurl %s resolves names synchronously, which would block "
			       "the event loop", v->version);
	}
	if (!(v->features & CURL_VERSION_SSL)) {
		curl_global_cleanup();
		return err_set(e, ENOTSUP, "libcurl %s has no TLS support", v->version);
	}
	global_done = true;
	return 0;
}

void
http_global_cleanup(void)
{
	if (!global_done)
		return;
	curl_global_cleanup();
	global_done = false;
}

struct http *
http_new(struct event_base *base)
{
	struct http *h = xcalloc(1, sizeof(*h));

	h->base = base;
	LIST_INIT(&h->socks);
	LIST_INIT(&h->ops);
	h->multi = curl_multi_init();
	if (h->multi == NULL)
		abort();
	h->timer = xevent_new(base, -1, 0, timer_event, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
http_free(struct http *h)
{
	struct http_op *op;

	if (h == NULL)
		return;
	if (h->dead != NULL)
		*h->dead = true;
	while ((op = LIST_FIRST(&h->ops)) != NULL) {
		op_detach(op);
		op_free(op);
	}
	curl_multi_cleanup(h->multi);
	while (!LIST_EMPTY(&h->socks))
		sock_free(LIST_FIRST(&h->socks));
	event_free(h->timer);
	free(h);
}

int
http_start(struct http *h, const struct http_request *req, http_done_cb cb, void *arg,
	   struct http_op **out)
{
	struct http_op *op;
	char *url = NULL;
	struct timeval now = {0, 0};

	if (h == NULL || req == NULL || req->url == NULL || cb == NULL || out == NULL)
		return -EINVAL;
	op = xcalloc(1, sizeof(*op));
	op->h = h;
	op->cb = cb;
	op->arg = arg;
	op->resp.retry_after = -1;
	LIST_INSERT_HEAD(&h->ops, op, entry);
	if (op_setup(op, req, &url) != 0 || op_arm(op, url, false) != 0) {
		/* Answer from the loop, never from here. */
		op->defer = xevent_new(h->base, -1, 0, defer_event, op);
		evtimer_add(op->defer, &now);
	}
	free(url);
	*out = op;
	return 0;
}

void
http_cancel(struct http_op *op)
{
	if (op == NULL || op->delivering)
		return;
	op_detach(op);
	op_free(op);
}

const char *
http_outcome_str(enum http_outcome outcome)
{
	if ((unsigned)outcome >= NELEM(outcome_names))
		return "unknown";
	return outcome_names[outcome];
}
