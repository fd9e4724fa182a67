/*
 * vault.c — the Vault client's requests: addresses and failover, a
 * standby's 307, classification of Vault's answers, and the queue of
 * requests waiting for a token.  Logins and the token's lifecycle are in
 * vault_auth.c; what the two share is in vault_int.h.
 *
 * Owns, per struct vault: every op alive (v->ops), user ops waiting for a
 * login (v->waiting), the preferred address and the counters.  Per op: a
 * copy of the path, the JSON body (wiped when freed: bodies carry secret
 * IDs, JWTs and keys written to KV), the token it sends (wiped) and the
 * http op in flight.
 *
 * Invariants:
 *  - A callback never runs inside vault_request(): everything completes
 *    from an http callback, a login step, or a zero-timeout event
 *    (op->defer) for requests refused before they are sent.
 *  - An op is in exactly one state: waiting for a token (on v->waiting),
 *    sending (op->hop), deferred (op->defer) or delivering (off v->ops;
 *    vault_cancel() is then a no-op).  No user code runs while an op of
 *    ours is half-way between two states (events are reported after the
 *    op is re-armed), so vault_free() from any callback finds every op in
 *    a state it can cancel.
 *  - Addresses are tried in order from the one that answered last; a
 *    connection failure, timeout, TLS failure or 503 moves the same
 *    request to the next address, once per address.  503 is included
 *    although the address answered: a sealed node (say, restarted and not
 *    yet unsealed) must not keep certd from the unsealed ones.
 *  - http.c is asked not to follow redirects: it would drop X-Vault-Token
 *    on a hop to another origin, and a standby's 307 names the active node
 *    at another origin by design.  We follow at most MAX_HOPS 307/308
 *    hops with method, body and token (the Location comes from a Vault
 *    node we verified), never from https to http.  The hops are one
 *    request in the counters.
 *  - Error strings hold Vault's own text (untrusted: the caller escapes it
 *    before logging), never a token or secret ID: every message passes
 *    through vault_set_error(), which redacts what the client holds.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "http.h"
#include "vault.h"
#include "vault_int.h"
#include "xalloc.h"

#define MAX_HOPS 3

/* RFC 3986 pchar, '/', and a query ("?list=true&..."); '%' for escapes. */
#define PATH_CHARS                                                                               \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%"

enum op_state {
	OP_NEW,
	OP_WAITING,     /* on v->waiting */
	OP_SENDING,     /* op->hop in flight */
	OP_DEFERRED,    /* op->defer armed, op->fail to deliver */
	OP_DELIVERING,  /* callback running; off v->ops */
};

struct vault_op {
	struct vault *v;
	TAILQ_ENTRY(vault_op) entry;   /* v->ops */
	TAILQ_ENTRY(vault_op) wait;    /* v->waiting */
	enum op_state state;
	bool internal;                 /* a login step or renewal (vault_auth.c) */
	bool retried;                  /* a 403 already led to a new token */
	bool fresh_connect;
	bool once;                     /* vault_request_opts: not re-sent elsewhere */
	long timeout_ms;               /* 0: the client's */
	const char *method;            /* as sent ("GET" for LIST) */
	bool list;
	char *path;                    /* relative to /v1/, as given */
	struct buf body;               /* JSON text, wiped */
	bool has_body;
	char *token;                   /* X-Vault-Token, wiped; NULL: none */
	uint64_t gen;                  /* of the client token in token */
	vault_done_cb cb;
	void *arg;
	struct http_op *hop;
	struct event *defer;
	size_t addr;                   /* index of the address being tried */
	size_t tried;                  /* addresses tried for this send */
	unsigned hops;                 /* 307/308 followed for this address */
	char *url;                     /* as sent */
	char *origin;                  /* scheme://host:port of url, for messages */
	struct vault_response fail;    /* OP_DEFERRED */
};

static void op_submit(struct vault_op *op);

/* ------------------------------------------------------------ helpers */

int64_t
vault_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
vault_enter(struct vault *v)
{
	v->depth++;
}

static void
vault_destroy(struct vault *v)
{
	vault_auth_free(v);
	free(v);
}

bool
vault_leave(struct vault *v)
{
	if (--v->depth > 0 || !v->freed)
		return v->freed;
	vault_destroy(v);
	return true;
}

void
vault_emit(struct vault *v, enum vault_event ev, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (v->ev_cb == NULL || v->freed)
		return;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	vault_auth_redact(v, &b);
	v->ev_cb(ev, buf_str(&b), v->ev_arg);
	buf_free(&b);
}

void
vault_set_error(struct vault *v, struct vault_response *r, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	vault_auth_redact(v, &b);
	snprintf(r->error, sizeof(r->error), "%s", buf_str(&b));
	buf_free(&b);
}

void
vault_json_wipe(json_t *j)
{
	const char *key;
	json_t *child;
	size_t i;

	/* A value someone else holds (the callback kept a reference) is
	 * theirs to release. */
	if (j == NULL || j->refcount != 1)
		return;
	switch (json_typeof(j)) {
	case JSON_STRING:
		OPENSSL_cleanse((char *)json_string_value(j), json_string_length(j));
		break;
	case JSON_OBJECT:
		json_object_foreach(j, key, child)
			vault_json_wipe(child);
		break;
	case JSON_ARRAY:
		json_array_foreach(j, i, child)
			vault_json_wipe(child);
		break;
	default:
		break;
	}
}

void
vault_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;

	buf_putc(b, '"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)*p);
		} else if (*p < 0x20) {
			buf_puts(b, "\\u00");
			buf_putc(b, hex[*p >> 4]);
			buf_putc(b, hex[*p & 0xf]);
		} else {
			buf_putc(b, (char)*p);
		}
	}
	buf_putc(b, '"');
}

static bool
ctype_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	return ct != NULL && strncasecmp(ct, want, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static size_t
addr_len(const char *address)
{
	size_t n = strlen(address);

	while (n > 0 && address[n - 1] == '/')
		n--;
	return n;
}

/* scheme://host:port of an absolute URL, or NULL. */
static char *
url_origin(const char *url, bool *https)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *o = NULL;

	if (u == NULL)
		abort();
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		goto out;
	*https = strcasecmp(scheme, "https") == 0;
	o = xasprintf("%s://%s:%s", scheme, host, port);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return o;
}

/* Append s to b with go-multierror's wrapper removed ("1 error
 * occurred:\n\t* permission denied\n\n" → "permission denied"), one item
 * per line, items and lines joined with "; ", other control characters
 * as spaces. */
static void
append_flat(struct buf *b, const char *s)
{
	const char *p = s, *nl;
	size_t d = strspn(s, "0123456789"), n, i;

	if (d > 0 && (strncmp(s + d, " error occurred:", 16) == 0 ||
		      strncmp(s + d, " errors occurred:", 17) == 0)) {
		nl = strchr(s, '\n');
		p = nl != NULL ? nl + 1 : s + strlen(s);
	}
	while (*p != '\0') {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n >= 2 && p[0] == '*' && p[1] == ' ') {
			p += 2;
			n -= 2;
		}
		while (n > 0 && strchr(" \t\r", p[n - 1]) != NULL)
			n--;
		if (n > 0) {
			if (b->len > 0)
				buf_puts(b, "; ");
			for (i = 0; i < n; i++)
				buf_putc(b, (unsigned char)p[i] < 0x20 ? ' ' : p[i]);
		}
		/* Past the whole line, not just what was kept of it: a last line
		 * ending in "\r" (n trimmed to 0) must not be scanned forever. */
		p = nl != NULL ? nl + 1 : p + strlen(p);
	}
}

/* Vault's {"errors": [...]}, joined (see vault_int.h). */
void
vault_errors(const json_t *json, struct buf *b)
{
	const json_t *errs = json_object_get(json, "errors"), *e;
	size_t i;

	if (!json_is_array(errs))
		return;
	for (i = 0; i < json_array_size(errs); i++) {
		e = json_array_get(errs, i);
		if (json_is_string(e))
			append_flat(b, json_string_value(e));
	}
}

/* ------------------------------------------------------------ ops */

static struct vault_op *
op_new(struct vault *v, const char *method, const char *path, vault_done_cb cb, void *arg)
{
	struct vault_op *op = xcalloc(1, sizeof(*op));

	op->v = v;
	op->state = OP_NEW;
	op->cb = cb;
	op->arg = arg;
	op->list = strcmp(method, "LIST") == 0;
	op->method = op->list ? "GET" : method;
	while (*path == '/')
		path++;
	op->path = xstrdup(path);
	op->fail.retry_after = -1;
	TAILQ_INSERT_TAIL(&v->ops, op, entry);
	return op;
}

static void
op_free(struct vault_op *op)
{
	buf_free_secret(&op->body);
	if (op->token != NULL)
		xfree_secret(op->token, strlen(op->token));
	free(op->path);
	free(op->url);
	free(op->origin);
	free(op);
}

/* Stop whatever op is doing and free it; its callback never fires. */
static void
op_cancel(struct vault_op *op)
{
	struct vault *v = op->v;

	switch (op->state) {
	case OP_WAITING:
		TAILQ_REMOVE(&v->waiting, op, wait);
		break;
	case OP_SENDING:
		http_cancel(op->hop);
		break;
	case OP_DEFERRED:
		event_free(op->defer);
		break;
	case OP_NEW:
	case OP_DELIVERING:
		break;
	}
	TAILQ_REMOVE(&v->ops, op, entry);
	op_free(op);
}

/* Hand r to the callback, then release r's contents and op. */
static void
op_deliver(struct vault_op *op, struct vault_response *r)
{
	TAILQ_REMOVE(&op->v->ops, op, entry);
	op->state = OP_DELIVERING;
	op->cb(r, op->arg);
	vault_json_wipe(r->json);
	json_decref(r->json);
	buf_free_secret(&r->body);
	op_free(op);
}

static void
defer_event(evutil_socket_t fd, short what, void *arg)
{
	struct vault_op *op = arg;
	struct vault *v = op->v;

	(void)fd;
	(void)what;
	vault_enter(v);
	event_free(op->defer);
	op->defer = NULL;
	op_deliver(op, &op->fail);
	vault_leave(v);
}

/* Answer op from the loop with cls and the message. */
static void
op_defer(struct vault_op *op, enum vault_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
op_defer(struct vault_op *op, enum vault_class cls, const char *fmt, ...)
{
	struct vault *v = op->v;
	struct timeval now = {0, 0};
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	op->fail.cls = cls;
	vault_set_error(v, &op->fail, "%s", buf_str(&b));
	buf_free(&b);
	if (op->origin == NULL && v->cfg->n_addresses > 0)
		op->origin = xstrndup(v->cfg->addresses[v->preferred],
				      addr_len(v->cfg->addresses[v->preferred]));
	op->fail.address = op->origin;
	op->state = OP_DEFERRED;
	op->defer = event_new(v->base, -1, 0, defer_event, op);
	if (op->defer == NULL)
		abort();
	evtimer_add(op->defer, &now);
}

static void on_http(struct http_response *hr, void *arg);

/* Send op to op->url. */
static void
op_http(struct vault_op *op)
{
	const struct vault_config *cfg = op->v->cfg;
	struct http_header hdrs[4];
	struct http_request req;
	size_t n = 0;

	memset(&req, 0, sizeof(req));
	if (op->token != NULL)
		hdrs[n++] = (struct http_header){"X-Vault-Token", op->token, true};
	if (cfg->namespace_ != NULL && cfg->namespace_[0] != '\0')
		hdrs[n++] = (struct http_header){"X-Vault-Namespace", cfg->namespace_, false};
	/* As Vault's own client: Vault Agent's listener can insist on it. */
	hdrs[n++] = (struct http_header){"X-Vault-Request", "true", false};
	if (op->has_body)
		hdrs[n++] = (struct http_header){"Content-Type", "application/json", false};
	req.method = op->method;
	req.url = op->url;
	req.headers = hdrs;
	req.n_headers = n;
	req.body = op->has_body ? op->body.data : NULL;
	req.body_len = op->has_body ? op->body.len : 0;
	req.connect_timeout_ms = cfg->connect_timeout_ms;
	req.timeout_ms = op->timeout_ms > 0 ? op->timeout_ms : cfg->timeout_ms;
	req.max_response = cfg->max_response;
	req.max_redirects = -1;
	req.fresh_connect = op->fresh_connect;
	req.tls = cfg->tls;
	op->state = OP_SENDING;
	if (http_start(op->v->http, &req, on_http, op, &op->hop) != 0)
		abort();    /* only for NULL arguments */
}

/* (Re)start op at address op->addr. */
static void
op_try_address(struct vault_op *op)
{
	const char *a = op->v->cfg->addresses[op->addr];
	size_t n = addr_len(a);
	const char *q = op->list ? (strchr(op->path, '?') != NULL ? "&list=true" : "?list=true") : "";

	free(op->url);
	free(op->origin);
	op->url = xasprintf("%.*s/v1/%s%s", (int)n, a, op->path, q);
	op->origin = xstrndup(a, n);
	op->hops = 0;
	op_http(op);
}

static void
op_send(struct vault_op *op)
{
	struct vault *v = op->v;

	v->stats.requests++;
	op->addr = v->preferred;
	op->tried = 1;
	op_try_address(op);
}

/* User ops: with the current token, or behind a login. */
static void
op_submit(struct vault_op *op)
{
	struct vault *v = op->v;
	const char *token = vault_auth_token(v, &op->gen);

	if (token == NULL) {
		op->state = OP_WAITING;
		TAILQ_INSERT_TAIL(&v->waiting, op, wait);
		vault_auth_login(v);
		return;
	}
	if (op->token != NULL)
		xfree_secret(op->token, strlen(op->token));
	op->token = xstrdup(token);
	op_send(op);
}

/* ------------------------------------------------------------ answers */

static bool
transport_failed(const struct http_response *hr)
{
	return hr->outcome == HTTP_OUTCOME_CONNECT_FAILED || hr->outcome == HTTP_OUTCOME_TIMEOUT ||
	    hr->outcome == HTTP_OUTCOME_TLS_ERROR;
}

/* Why an address is being left, in words. */
static void
failure_text(const struct http_response *hr, struct buf *b)
{
	json_t *json;

	if (hr->outcome != HTTP_OUTCOME_OK) {
		buf_puts(b, hr->error.msg[0] != '\0' ? hr->error.msg : http_outcome_str(hr->outcome));
		return;
	}
	json = json_loadb(hr->body.data != NULL ? hr->body.data : "", hr->body.len, 0, NULL);
	vault_errors(json, b);
	json_decref(json);
	if (b->len == 0)
		buf_printf(b, "HTTP %ld", hr->status);
}

/* Follow a 307/308.  Returns true when op was re-sent. */
static bool
op_redirect(struct vault_op *op, const struct http_response *hr, struct vault_response *r)
{
	bool from_https = strncasecmp(op->url, "https:", 6) == 0, to_https = false;
	char *origin;

	r->cls = VAULT_TRANSIENT;
	if (op->hops >= MAX_HOPS) {
		vault_set_error(op->v, r, "%s: more than %d redirects", op->origin, MAX_HOPS);
		return false;
	}
	origin = url_origin(hr->location, &to_https);
	if (origin == NULL) {
		vault_set_error(op->v, r, "%s: redirect to an invalid or unsupported URL",
				op->origin);
		return false;
	}
	if (from_https && !to_https) {
		vault_set_error(op->v, r, "%s: refusing redirect from https to %s", op->origin,
				origin);
		free(origin);
		return false;
	}
	free(op->url);
	free(op->origin);
	op->url = xstrdup(hr->location);
	op->origin = origin;
	op->hops++;
	op_http(op);
	return true;
}

/* Status and body → class, error, json. */
static void
classify(struct vault_op *op, struct http_response *hr, struct vault_response *r)
{
	struct vault *v = op->v;
	const char *ct = hr->content_type;
	struct buf text = BUF_INIT;
	long s = hr->status;
	bool json_ct = ctype_is(ct, "application/json");

	r->status = s;
	r->content_type = ct;
	r->retry_after = hr->retry_after;
	r->body = hr->body;
	hr->body = (struct buf)BUF_INIT;
	if (r->body.len > 0 && (json_ct || ct == NULL))
		r->json = json_loadb(r->body.data, r->body.len, 0, NULL);
	if (json_is_object(r->json)) {
		r->data = json_object_get(r->json, "data");
		if (json_is_null(r->data))
			r->data = NULL;
		r->warnings = json_object_get(r->json, "warnings");
		if (!json_is_array(r->warnings))
			r->warnings = NULL;
	}
	if (s >= 200 && s < 300) {
		if (json_ct && r->body.len > 0 && r->json == NULL) {
			r->cls = VAULT_TRANSIENT;
			vault_set_error(v, r, "invalid JSON from %s", op->origin);
		} else if (ctype_is(ct, "text/html")) {
			/* A proxy's or portal's page, not Vault. */
			r->cls = VAULT_TRANSIENT;
			vault_set_error(v, r, "%s: unexpected text/html response (HTTP %ld)",
					op->origin, s);
		} else {
			r->cls = VAULT_OK;
		}
		return;
	}
	vault_errors(r->json, &text);
	if (s == 403) {
		r->cls = VAULT_DENIED;
		if (op->internal)
			vault_set_error(v, r, "%s", text.len > 0 ? buf_str(&text) : "permission denied");
		else
			vault_set_error(v, r, "permission denied on %s: %s", op->path,
					text.len > 0 ? buf_str(&text) : "HTTP 403");
	} else if (s == 404 && text.len == 0) {
		r->cls = VAULT_PERMANENT;
		vault_set_error(v, r, "not found: %s", op->path);
	} else if (s == 408 || s == 412 || s == 429 || s >= 500 || s < 400) {
		/* 412: a performance standby without the index asked for yet. */
		r->cls = VAULT_TRANSIENT;
		if (text.len > 0)
			vault_set_error(v, r, "%s: %s", op->origin, buf_str(&text));
		else
			vault_set_error(v, r, "%s: %sHTTP %ld", op->origin,
					s < 400 ? "unexpected " : "", s);
	} else {
		r->cls = VAULT_PERMANENT;
		if (text.len > 0)
			vault_set_error(v, r, "%s", buf_str(&text));
		else
			vault_set_error(v, r, "HTTP %ld", s);
	}
	buf_free(&text);
}

/* The next address for op after a failure, or false when all were tried.
 * The event is reported after op is re-armed (see the invariants). */
static bool
op_failover(struct vault_op *op, const struct http_response *hr)
{
	struct vault *v = op->v;
	struct buf why = BUF_INIT;
	char *from;

	if (op->tried >= v->cfg->n_addresses)
		return false;
	failure_text(hr, &why);
	from = op->origin;
	op->origin = NULL;
	op->addr = (op->addr + 1) % v->cfg->n_addresses;
	op->tried++;
	v->stats.failovers++;
	op_try_address(op);
	vault_emit(v, VAULT_EV_FAILOVER, "%s: %s; trying %s", from, buf_str(&why), op->origin);
	free(from);
	buf_free(&why);
	return true;
}

static void
on_http(struct http_response *hr, void *arg)
{
	struct vault_op *op = arg;
	struct vault *v = op->v;
	struct vault_response r;
	struct buf why = BUF_INIT;

	memset(&r, 0, sizeof(r));
	r.retry_after = -1;
	vault_enter(v);
	op->hop = NULL;
	if ((transport_failed(hr) || (hr->outcome == HTTP_OUTCOME_OK && hr->status == 503)) &&
	    (!op->once || hr->outcome != HTTP_OUTCOME_TIMEOUT)) {
		if (op_failover(op, hr))
			goto out;
	}
	r.address = op->origin;
	r.outcome = hr->outcome;
	if (hr->outcome != HTTP_OUTCOME_OK) {
		failure_text(hr, &why);
		r.cls = VAULT_TRANSIENT;
		vault_set_error(v, &r, "%s: %s", op->origin, buf_str(&why));
		buf_free(&why);
		op_deliver(op, &r);
		goto out;
	}
	if ((hr->status == 307 || hr->status == 308) && hr->location != NULL) {
		if (op_redirect(op, hr, &r))
			goto out;
		r.status = hr->status;
		op_deliver(op, &r);
		goto out;
	}
	if (hr->status != 503)
		v->preferred = op->addr;
	if (!op->internal && hr->status == 403 && !op->retried) {
		/* The token may have expired or been revoked: log in again (or
		 * re-read the token file) once, then send the request again. */
		op->retried = true;
		if (vault_auth_denied(v, op->gen, op->path)) {
			op_submit(op);
			goto out;
		}
	}
	classify(op, hr, &r);
	op_deliver(op, &r);
out:
	vault_leave(v);
}

/* ------------------------------------------------------------ shared with vault_auth.c */

struct vault_op *
vault_iop_start(struct vault *v, const struct vault_iop *o, vault_done_cb cb, void *arg)
{
	struct vault_op *op = op_new(v, o->method, o->path, cb, arg);

	op->internal = true;
	op->fresh_connect = o->fresh_connect;
	if (o->token != NULL)
		op->token = xstrdup(o->token);
	if (o->body != NULL) {
		op->has_body = true;
		buf_reserve(&op->body, o->body->len);
		buf_append(&op->body, o->body->data != NULL ? o->body->data : "", o->body->len);
	}
	if (v->cfg->n_addresses == 0)
		op_defer(op, VAULT_PERMANENT, "no Vault address is configured");
	else
		op_send(op);
	return op;
}

void
vault_login_done(struct vault *v, const struct vault_response *fail)
{
	struct vault_op *op;
	struct vault_response r;
	size_t n = 0, i;

	/* Only those waiting now: a callback may queue new ones, which go
	 * behind the next login. */
	TAILQ_FOREACH(op, &v->waiting, wait)
		n++;
	for (i = 0; i < n && !v->freed && (op = TAILQ_FIRST(&v->waiting)) != NULL; i++) {
		TAILQ_REMOVE(&v->waiting, op, wait);
		op->state = OP_NEW;
		if (fail == NULL) {
			op_submit(op);
			continue;
		}
		memset(&r, 0, sizeof(r));
		r.cls = fail->cls;
		r.status = fail->status;
		r.retry_after = fail->retry_after;
		memcpy(r.error, fail->error, sizeof(r.error));
		free(op->origin);
		op->origin = NULL;
		if (fail->address != NULL)
			op->origin = xstrdup(fail->address);
		else if (v->cfg->n_addresses > 0)   /* nothing was sent */
			op->origin = xstrndup(v->cfg->addresses[v->preferred],
					      addr_len(v->cfg->addresses[v->preferred]));
		r.address = op->origin;
		op_deliver(op, &r);
	}
}

/* ------------------------------------------------------------ API */

struct vault *
vault_new(struct event_base *base, struct http *http, const struct vault_config *cfg)
{
	struct vault *v = xcalloc(1, sizeof(*v));

	v->base = base;
	v->http = http;
	v->cfg = cfg;
	TAILQ_INIT(&v->ops);
	TAILQ_INIT(&v->waiting);
	vault_auth_new(v);
	return v;
}

void
vault_set_event_cb(struct vault *v, vault_event_cb cb, void *arg)
{
	v->ev_cb = cb;
	v->ev_arg = arg;
}

void
vault_free(struct vault *v)
{
	struct vault_op *op;

	if (v == NULL || v->freed)
		return;
	v->freed = true;
	while ((op = TAILQ_FIRST(&v->ops)) != NULL)
		op_cancel(op);
	vault_auth_stop(v);
	if (v->depth == 0)
		vault_destroy(v);
}

static bool
method_ok(const char *m)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "LIST", "PATCH"};
	size_t i;

	for (i = 0; m != NULL && i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i]) == 0)
			return true;
	return false;
}

struct vault_op *
vault_request(struct vault *v, const char *method, const char *path, const json_t *body,
	      vault_done_cb cb, void *arg)
{
	return vault_request_opts(v, method, path, body, NULL, cb, arg);
}

struct vault_op *
vault_request_opts(struct vault *v, const char *method, const char *path, const json_t *body,
		   const struct vault_request_opts *o, vault_done_cb cb, void *arg)
{
	struct vault_op *op;
	size_t n;

	if (!method_ok(method)) {
		op = op_new(v, "GET", path != NULL ? path : "", cb, arg);
		op_defer(op, VAULT_PERMANENT, "unsupported method %.16s", method ? method : "(null)");
		return op;
	}
	op = op_new(v, method, path != NULL ? path : "", cb, arg);
	if (o != NULL) {
		op->once = o->once;
		op->timeout_ms = o->timeout_ms;
	}
	if (op->path[0] == '\0' || op->path[strspn(op->path, PATH_CHARS)] != '\0') {
		op_defer(op, VAULT_PERMANENT, "invalid Vault path");
		return op;
	}
	if (body != NULL) {
		/* Sized first, then written in place: no stray copies of
		 * secrets in the body from a growing buffer. */
		n = json_dumpb(body, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
		if (n == 0) {
			op_defer(op, VAULT_PERMANENT, "the request body cannot be encoded");
			return op;
		}
		buf_reserve(&op->body, n);
		json_dumpb(body, op->body.data, n, JSON_COMPACT | JSON_ENCODE_ANY);
		op->body.len = n;
		op->body.data[n] = '\0';
		op->has_body = true;
	}
	if (v->cfg->n_addresses == 0) {
		op_defer(op, VAULT_PERMANENT, "no Vault address is configured");
		return op;
	}
	op_submit(op);
	return op;
}

void
vault_cancel(struct vault_op *op)
{
	if (op == NULL || op->state == OP_DELIVERING)
		return;
	op_cancel(op);
}

void
vault_get_stats(const struct vault *v, struct vault_stats *out)
{
	*out = v->stats;
}
