/*
 * vs_http.c — the request pipeline of vaultsrv, and every way it replies.
 *
 * Order of checks for a /v1 request, as Vault 1.7 does it:
 *   control API (/_test, never logged or faulted) → request log →
 *   injected fault → standby redirect (307, except sys/health,
 *   sys/seal-status, sys/leader) → sealed (503) → JSON body parse
 *   (400 "error parsing JSON") → token check (400 "missing client token",
 *   403 "permission denied") → ACL (403 wrapped "1 error occurred") →
 *   route (404 "no handler for route") → handler.
 * Every reply goes through vs_send(), which records the status in the log,
 * applies a "truncate" or "drop" fault to the real reply, and frees the
 * struct vs_req; vs_reply_json() applies a "mutate" fault to the JSON of a
 * 200 reply (vs_pki_mutate) before that.  Requests parked by a fault
 * (delay, hang, drop, close) or by vs_reply_json_after() (a handler that
 * has done its work but answers late or never, as the Sectigo plugin's
 * slow enroll) sit on st->pending until their timer fires or shutdown
 * flushes them; a parked request whose client went away is detached by
 * libevent (its connection pointer becomes NULL) but never freed behind
 * our back.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "buf.h"
#include <openssl/bn.h>

#include "vs.h"
#include "xalloc.h"

/* libevent 2.1 hands every method it does not know to the callback with
 * this type and no name; vaultsrv takes it for Vault's LIST. */
#define EVHTTP_REQ_UNKNOWN (1 << 15)

void
vs_now(time_t *sec, long *nsec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	if (nsec != NULL)
		*nsec = ts.tv_nsec;
}

char *
vs_rfc3339(time_t t, long nsec)
{
	struct tm tm;
	char s[64];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	if (nsec > 0)
		return xasprintf("%s.%09ldZ", s, nsec);
	return xasprintf("%sZ", s);
}

char *
vs_uuid(void)
{
	unsigned char b[16];

	RAND_bytes(b, sizeof(b));
	return xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

char *
vs_random_id(const char *prefix, size_t n)
{
	static const char alnum[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t plen = strlen(prefix), i;
	unsigned char r;
	char *s = xmalloc(plen + n + 1);

	memcpy(s, prefix, plen);
	for (i = 0; i < n; i++) {
		do
			RAND_bytes(&r, 1);
		while (r >= 248);	/* 248 = 4 * 62: no modulo bias */
		s[plen + i] = alnum[r % 62];
	}
	s[plen + n] = '\0';
	return s;
}

const char *
vs_query(struct vs_req *r, const char *key, char *out, size_t len)
{
	struct evkeyvalq q;
	const char *v;
	const char *res = NULL;

	if (r->query == NULL)
		return NULL;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(r->query, &q) == 0 &&
	    (v = evhttp_find_header(&q, key)) != NULL) {
		snprintf(out, len, "%s", v);
		res = out;
	}
	evhttp_clear_headers(&q);
	return res;
}

/* ---- request log ---- */

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

static void
log_request(struct vs_req *r)
{
	struct vs_state *st = r->st;
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(r->ev);
	struct evkeyval *h;
	json_t *rec = json_object(), *headers = json_object(), *body;
	const char *ns;
	char *key;
	size_t blen = r->body_len;
	time_t now;
	long nsec;

	TAILQ_FOREACH(h, hdrs, next) {
		if (evutil_ascii_strcasecmp(h->key, "X-Vault-Token") == 0 ||
		    evutil_ascii_strcasecmp(h->key, "Authorization") == 0) {
			char *hash = token_hash(h->value);

			json_object_set_new(headers, h->key, json_string(hash));
			free(hash);
		} else {
			json_t *v = json_string(h->value);

			json_object_set_new(headers, h->key,
			    v ? v : json_string("(non-UTF-8)"));
		}
	}
	json_object_set_new(rec, "seq", json_integer((json_int_t)++st->seq));
	vs_now(&now, &nsec);
	json_object_set_new(rec, "time", json_integer((json_int_t)now));
	/* Milliseconds, for tests that measure the gaps between retries. */
	json_object_set_new(rec, "time_ms",
	    json_integer((json_int_t)now * 1000 + (json_int_t)(nsec / 1000000)));
	json_object_set_new(rec, "method", json_string(r->method_name));
	json_object_set_new(rec, "path", json_string(r->uri_path));
	json_object_set_new(rec, "query", r->query ? json_string(r->query) :
	    json_null());
	json_object_set_new(rec, "headers", headers);
	if (blen > VS_LOG_BODY_CAP) {
		blen = VS_LOG_BODY_CAP;
		json_object_set_new(rec, "body_truncated", json_true());
	}
	body = json_stringn(r->body ? r->body : "", blen);
	if (body != NULL) {
		json_object_set_new(rec, "body", body);
	} else {
		char *b64 = NULL;

		vs_der_b64((const unsigned char *)r->body, blen, &b64);
		json_object_set_new(rec, "body_base64", json_string(b64));
		free(b64);
	}
	json_object_set_new(rec, "tls", json_boolean(r->tls));
	if (r->peer != NULL) {
		char *cn = vs_name_cn(X509_get_subject_name(r->peer));

		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(r->peer), NULL);
		char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

		json_object_set_new(rec, "client_cert", json_string(cn));
		/* Upper-case hex as `openssl x509 -serial` prints it. */
		json_object_set_new(rec, "client_cert_serial", hex ? json_string(hex) : json_null());
		OPENSSL_free(hex);
		BN_free(bn);
		free(cn);
	} else {
		json_object_set_new(rec, "client_cert", json_null());
		json_object_set_new(rec, "client_cert_serial", json_null());
	}
	ns = evhttp_find_header(hdrs, "X-Vault-Namespace");
	json_object_set_new(rec, "namespace", ns ? json_string(ns) : json_null());
	json_object_set_new(rec, "status", json_null());
	if (json_array_size(st->log) >= VS_LOG_MAX_ENTRIES)
		json_array_remove(st->log, 0);
	json_array_append_new(st->log, rec);
	r->record = json_incref(rec);

	key = xasprintf("%s %s", r->method_name, r->uri_path);
	json_object_set_new(st->counters, key,
	    json_integer(vs_jint(st->counters, key, 0) + 1));
	free(key);
}

void
vs_log_record_status(struct vs_req *r, int status)
{
	/* The request holds its own reference: the record may already have
	 * been rotated out of a full log. */
	if (r->record != NULL)
		json_object_set_new(r->record, "status", json_integer(status));
}

/* ---- request lifecycle ---- */

static void
pending_remove(struct vs_req *r)
{
	struct vs_req **pp;

	for (pp = &r->st->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
}

static void
req_free(struct vs_req *r)
{
	pending_remove(r);
	if (r->revoke_after != NULL) {
		vs_token_revoke(r->st, r->revoke_after);
		free(r->revoke_after);
	}
	if (r->timer != NULL)
		event_free(r->timer);
	json_decref(r->json);
	json_decref(r->record);
	json_decref(r->later);
	X509_free(r->peer);
	free(r->uri_path);
	free(r->query);
	if (r->body != NULL)
		xfree_secret(r->body, r->body_len);
	free(r);
}

static const char *
status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 412: return "Precondition Failed";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* Tear down a connection from outside libevent's own callbacks. */
static void
kill_connection(struct vs_req *r)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);

	if (evcon != NULL)
		evhttp_connection_free(evcon);	/* frees the request too */
	else
		evhttp_request_free(r->ev);	/* detached: ours to free */
	r->ev = NULL;
	req_free(r);
}

static void
kill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kill_connection(arg);
}

static void
park(struct vs_req *r, long ms, event_callback_fn cb)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	r->next = r->st->pending;
	r->st->pending = r;
	if (cb != NULL) {
		r->timer = evtimer_new(r->st->base, cb, r);
		evtimer_add(r->timer, &tv);
	}
}

static void
schedule_kill(struct vs_req *r, long ms)
{
	park(r, ms, kill_timer_cb);
}

void
vs_send(struct vs_req *r, int status, const char *ctype, const void *body,
    size_t len, json_t *headers)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
	struct evbuffer *eb = evbuffer_new();
	const char *key;
	json_t *v;
	char clen[32];

	evhttp_add_header(out, "Cache-Control", "no-store");
	if (ctype != NULL)
		evhttp_add_header(out, "Content-Type", ctype);
	json_object_foreach(headers, key, v)
		if (json_is_string(v))
			evhttp_add_header(out, key, json_string_value(v));
	vs_log_record_status(r, status);
	if (r->post_fault != NULL && r->post_fault->action == VS_FAULT_TRUNCATE &&
	    len > 1)
		len /= 2;
	if (r->post_fault != NULL && r->post_fault->action == VS_FAULT_DROP) {
		/* Promise the whole body, deliver half, then hang up. */
		snprintf(clen, sizeof(clen), "%zu", len);
		evhttp_add_header(out, "Content-Length", clen);
		evhttp_send_reply_start(r->ev, status, status_reason(status));
		evbuffer_add(eb, body, len / 2);
		evhttp_send_reply_chunk(r->ev, eb);
		evbuffer_free(eb);
		r->post_fault = NULL;
		schedule_kill(r, 100);
		return;
	}
	if (len > 0)
		evbuffer_add(eb, body, len);
	evhttp_send_reply(r->ev, status, status_reason(status), eb);
	evbuffer_free(eb);
	req_free(r);
}

void
vs_reply_json(struct vs_req *r, int status, json_t *body)
{
	char *s;
	size_t n;

	if (r->mutate != VS_MUTATE_NONE && status == 200) {
		/* A "mutate" fault: the request was executed; its answer is
		 * rewritten into one the client must refuse. */
		struct err e = {{0}};
		enum vs_mutate kind = r->mutate;

		r->mutate = VS_MUTATE_NONE;
		if (vs_pki_mutate(r->st, r->path, kind, body, &e) < 0) {
			json_decref(body);
			vs_reply_errorf(r, 500, "vaultsrv: mutate fault: %s", e.msg);
			return;
		}
	}
	s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	n = strlen(s);

	s = xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	vs_send(r, status, "application/json", s, n, NULL);
	/* Responses carry private keys and tokens. */
	xfree_secret(s, n);
	json_decref(body);
}

static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vs_req *r = arg;
	json_t *body = r->later;

	(void)fd;
	(void)what;
	event_free(r->timer);
	r->timer = NULL;
	r->later = NULL;
	pending_remove(r);
	vs_reply_json(r, r->later_status, body);
}

void
vs_reply_json_after(struct vs_req *r, int status, json_t *body, long ms)
{
	if (ms == 0) {
		vs_reply_json(r, status, body);
		return;
	}
	r->later = body;
	r->later_status = status;
	if (ms < 0) {
		r->hung = true;
		park(r, 0, NULL);
	} else {
		park(r, ms, later_cb);
	}
}

void
vs_reply_error(struct vs_req *r, int status, const char *msg)
{
	json_t *errs = json_array();

	if (msg != NULL)
		json_array_append_new(errs, json_string(msg));
	vs_reply_json(r, status, json_pack("{so}", "errors", errs));
}

void
vs_reply_errorf(struct vs_req *r, int status, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	vs_reply_error(r, status, buf_str(&b));
	buf_free(&b);
}

void
vs_reply_denied(struct vs_req *r)
{
	vs_reply_error(r, 403, "1 error occurred:\n\t* permission denied\n\n");
}

void
vs_reply_204(struct vs_req *r)
{
	vs_send(r, 204, "application/json", NULL, 0, NULL);
}

json_t *
vs_envelope(struct vs_resp *resp)
{
	char *id = vs_uuid();
	json_t *o = json_pack("{ss ss sb sI so sn so so}",
	    "request_id", id,
	    "lease_id", resp->lease_id ? resp->lease_id : "",
	    "renewable", resp->renewable,
	    "lease_duration", (json_int_t)resp->lease_duration,
	    "data", resp->data ? resp->data : json_null(),
	    "wrap_info",
	    "warnings", resp->warnings ? resp->warnings : json_null(),
	    "auth", resp->auth ? resp->auth : json_null());

	free(id);
	return o;
}

void
vs_reply_resp(struct vs_req *r, struct vs_resp *resp)
{
	json_t *o = vs_envelope(resp);
	long ttl;

	/* Response wrapping (X-Vault-Wrap-TTL): the whole response is stored
	 * under a single-use token and only wrap_info is returned. */
	if (r->wrap_ttl != NULL && vs_duration_str(r->wrap_ttl, &ttl) == 0 &&
	    ttl > 0) {
		struct vs_resp w = {0};
		json_t *info = vs_wrap_response(r->st, NULL, o, ttl, r->path);

		json_decref(o);
		o = vs_envelope(&w);
		json_object_set_new(o, "wrap_info", info);
	}
	vs_reply_json(r, 200, o);
}

void
vs_reply_data(struct vs_req *r, json_t *data)
{
	struct vs_resp resp = {0};

	resp.data = data;
	vs_reply_resp(r, &resp);
}

/* ---- sys/health, sys/seal-status, sys/leader ---- */

static int
query_code(struct vs_req *r, const char *key, int def)
{
	char buf[16];
	const char *v = vs_query(r, key, buf, sizeof(buf));
	long n;

	if (v == NULL || vs_duration_str(v, &n) < 0 || n < 100 || n > 599)
		return def;
	return (int)n;
}

static void
sys_health(struct vs_req *r)
{
	struct vs_state *st = r->st;
	char buf[16];
	bool standbyok = vs_query(r, "standbyok", buf, sizeof(buf)) != NULL &&
	    strcmp(buf, "false") != 0;
	json_t *o;
	int status;

	o = json_pack("{sb sb sb sb ss ss sI ss}",
	    "initialized", 1,
	    "sealed", st->sealed,
	    "standby", st->sealed || st->standby,
	    "performance_standby", 0,
	    "replication_performance_mode", st->sealed ? "unknown" : "disabled",
	    "replication_dr_mode", st->sealed ? "unknown" : "disabled",
	    "server_time_utc", (json_int_t)time(NULL),
	    "version", VS_VERSION);
	if (!st->sealed) {
		json_object_set_new(o, "cluster_name", json_string(st->cluster_name));
		json_object_set_new(o, "cluster_id", json_string(st->cluster_id));
	}
	if (st->sealed)
		status = query_code(r, "sealedcode", 503);
	else if (st->standby && !standbyok)
		status = query_code(r, "standbycode", 429);
	else
		status = query_code(r, "activecode", 200);
	vs_reply_json(r, status, o);
}

static void
sys_seal_status(struct vs_req *r)
{
	struct vs_state *st = r->st;
	json_t *o = json_pack("{ss sb sb si si si ss ss sb sb ss}",
	    "type", "shamir", "initialized", 1, "sealed", st->sealed,
	    "t", 1, "n", 1, "progress", 0, "nonce", "", "version", VS_VERSION,
	    "migration", 0, "recovery_seal", 0, "storage_type", "inmem");

	if (!st->sealed) {
		json_object_set_new(o, "cluster_name", json_string(st->cluster_name));
		json_object_set_new(o, "cluster_id", json_string(st->cluster_id));
	}
	vs_reply_json(r, 200, o);
}

static void
sys_leader(struct vs_req *r)
{
	struct vs_state *st = r->st;

	vs_reply_json(r, 200, json_pack("{sb sb ss ss sb si}",
	    "ha_enabled", st->standby, "is_self", !st->standby,
	    "leader_address", st->standby && st->standby_redirect ?
	    st->standby_redirect : "",
	    "leader_cluster_address", "", "performance_standby", 0,
	    "performance_standby_last_remote_wal", 0));
}

/* ---- dispatch ---- */

static const char *
method_cap(struct vs_req *r)
{
	switch (r->method) {
	case VS_GET:
	case VS_HEAD: return "read";
	case VS_LIST: return "list";
	case VS_DELETE: return "delete";
	default: return "update";
	}
}

static bool
unauthenticated(struct vs_req *r, struct vs_mount *m, const char *rest)
{
	if (strcmp(r->path, "sys/wrapping/lookup") == 0)
		return true;
	if (m == NULL)
		return false;
	if (m->type == VS_MOUNT_PKI)
		return vs_pki_unauthenticated(rest);
	if (m->type == VS_MOUNT_SECTIGO)
		return false;
	return vs_auth_unauthenticated(m, rest);
}

/* Token check; returns false after replying. */
static bool
check_token(struct vs_req *r)
{
	json_t *tok;

	if (r->token_id == NULL || *r->token_id == '\0') {
		vs_reply_error(r, 400, "missing client token");
		return false;
	}
	tok = vs_token_find(r->st, r->token_id);
	if (tok == NULL || !vs_token_valid(tok) ||
	    (vs_jbool(tok, "_wrapping", false) &&
	    strncmp(r->path, "sys/wrapping/", 13) != 0)) {
		vs_reply_error(r, 403, "permission denied");
		return false;
	}
	r->token = tok;
	return true;
}

/* Spend one use of a limited-use token.  The last use still runs; the
 * token is revoked when the request is done (req_free), as in Vault. */
static void
use_token(struct vs_req *r)
{
	long uses = vs_jint(r->token, "num_uses", 0);

	if (uses <= 0)
		return;
	if (uses == 1)
		r->revoke_after = xstrdup(r->token_id);
	json_object_set_new(r->token, "num_uses", json_integer(uses - 1));
}

static void
dispatch(struct vs_req *r)
{
	struct vs_state *st = r->st;
	struct vs_mount *m;
	const char *rest = "";
	const char *cap;
	json_error_t jerr;

	if (strncmp(r->uri_path, "/v1/", 4) != 0) {
		vs_reply_error(r, 404, NULL);
		return;
	}
	if (st->standby && strcmp(r->path, "sys/health") != 0 &&
	    strcmp(r->path, "sys/seal-status") != 0 &&
	    strcmp(r->path, "sys/leader") != 0) {
		/* A standby node sends clients to the active one. */
		json_t *h = json_object();
		char *loc = xasprintf("%s%s%s%s", st->standby_redirect ?
		    st->standby_redirect : "", r->uri_path, r->query ? "?" : "",
		    r->query ? r->query : "");

		json_object_set_new(h, "Location", json_string(loc));
		vs_send(r, 307, NULL, NULL, 0, h);
		json_decref(h);
		free(loc);
		return;
	}
	if (strcmp(r->path, "sys/health") == 0) {
		sys_health(r);
		return;
	}
	if (strcmp(r->path, "sys/seal-status") == 0) {
		sys_seal_status(r);
		return;
	}
	if (strcmp(r->path, "sys/leader") == 0) {
		sys_leader(r);
		return;
	}
	if (st->sealed) {
		vs_reply_error(r, 503, r->token_id ?
		    "error performing token check: Vault is sealed" :
		    "Vault is sealed");
		return;
	}
	if (r->body_len > 0 && r->method != VS_GET && r->method != VS_HEAD) {
		r->json = json_loadb(r->body, r->body_len, 0, &jerr);
		if (!json_is_object(r->json)) {
			vs_reply_error(r, 400, "error parsing JSON");
			return;
		}
	}
	if (r->json == NULL)
		r->json = json_object();
	if (strcmp(r->path, "sys/wrapping/unwrap") == 0) {
		vs_unwrap(r);
		return;
	}
	m = vs_mount_find(st, r->path, &rest);
	if (!unauthenticated(r, m, rest)) {
		if (!check_token(r))
			return;
		cap = method_cap(r);
		if ((m != NULL && (m->type == VS_MOUNT_KV1 ||
		    m->type == VS_MOUNT_KV2)) && strcmp(cap, "update") == 0 &&
		    !vs_kv_exists(m, rest))
			cap = "create";
		if (!vs_acl_allows(st, r->token, r->path, cap)) {
			vs_reply_denied(r);
			return;
		}
		use_token(r);
	}
	if (strncmp(r->path, "auth/token/", 11) == 0) {
		vs_token_handle(r, r->path + 11);
		return;
	}
	if (strcmp(r->path, "sys/wrapping/lookup") == 0) {
		vs_wrap_lookup(r);
		return;
	}
	if (m == NULL) {
		vs_reply_errorf(r, 404, "no handler for route '%s'", r->path);
		return;
	}
	switch (m->type) {
	case VS_MOUNT_PKI:
		vs_pki_handle(r, m, rest);
		break;
	case VS_MOUNT_KV1:
	case VS_MOUNT_KV2:
		vs_kv_handle(r, m, rest);
		break;
	case VS_MOUNT_SECTIGO:
		vs_sectigo_handle(r, m, rest);
		break;
	default:
		vs_auth_handle(r, m, rest);
		break;
	}
}

/* ---- faults applied before the handler ---- */

static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vs_req *r = arg;

	(void)fd;
	(void)what;
	event_free(r->timer);
	r->timer = NULL;
	vs_http_resume(r);
}

void
vs_http_resume(struct vs_req *r)
{
	pending_remove(r);
	dispatch(r);
}

static void
send_huge(struct vs_req *r, size_t size)
{
	char *body;

	if (size < 16)
		size = 16;
	body = xmalloc(size);
	memset(body, 'A', size);
	memcpy(body, "{\"data\":\"", 9);
	memcpy(body + size - 3, "\"}\n", 3);
	vs_send(r, 200, "application/json", body, size, NULL);
	free(body);
}

/* Returns true when the fault consumed the request. */
static bool
apply_fault(struct vs_req *r, struct vs_fault *f)
{
	static const char html[] =
	    "<html><body><h1>502 Bad Gateway</h1></body></html>\n";
	const char *body;

	switch (f->action) {
	case VS_FAULT_STATUS:
		body = f->body ? f->body : "{\"errors\":[\"injected fault\"]}\n";
		vs_send(r, f->status, f->content_type ? f->content_type :
		    "application/json", body, strlen(body), f->headers);
		return true;
	case VS_FAULT_NONJSON:
		vs_send(r, f->status ? f->status : 200, "text/html", html,
		    sizeof(html) - 1, f->headers);
		return true;
	case VS_FAULT_HUGE:
		send_huge(r, f->size ? f->size : 16u * 1024u * 1024u);
		return true;
	case VS_FAULT_HANG:
		r->hung = true;
		park(r, 0, NULL);
		return true;
	case VS_FAULT_DELAY:
		park(r, f->delay_ms, delay_cb);
		return true;
	case VS_FAULT_CLOSE:
		schedule_kill(r, 0);
		return true;
	case VS_FAULT_DROP:
	case VS_FAULT_TRUNCATE:
		r->post_fault = f;
		return false;
	case VS_FAULT_MUTATE:
		r->mutate = f->mutate;
		return false;
	}
	return false;
}

/* ---- entry point ---- */

static enum vs_method
map_method(struct evhttp_request *ev, const char **name)
{
	switch ((int)evhttp_request_get_command(ev)) {
	case EVHTTP_REQ_GET: *name = "GET"; return VS_GET;
	case EVHTTP_REQ_POST: *name = "POST"; return VS_POST;
	case EVHTTP_REQ_PUT: *name = "PUT"; return VS_PUT;
	case EVHTTP_REQ_DELETE: *name = "DELETE"; return VS_DELETE;
	case EVHTTP_REQ_HEAD: *name = "HEAD"; return VS_HEAD;
	case EVHTTP_REQ_UNKNOWN: *name = "LIST"; return VS_LIST;
	default: *name = "OTHER"; return VS_OTHER;
	}
}

static struct vs_req *
req_new(struct vs_state *st, struct evhttp_request *ev)
{
	struct vs_req *r = xcalloc(1, sizeof(*r));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	struct evkeyvalq *in = evhttp_request_get_input_headers(ev);
	struct evbuffer *eb = evhttp_request_get_input_buffer(ev);
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct bufferevent *bev;
	SSL *ssl;
	const char *p, *q, *auth;
	char listq[16];
	size_t n;

	r->st = st;
	r->ev = ev;
	r->method = map_method(ev, &r->method_name);
	p = uri ? evhttp_uri_get_path(uri) : NULL;
	r->uri_path = evhttp_uridecode(p ? p : "/", 0, NULL);
	q = uri ? evhttp_uri_get_query(uri) : NULL;
	r->query = q ? xstrdup(q) : NULL;
	r->path = r->uri_path + (strncmp(r->uri_path, "/v1/", 4) == 0 ? 4 : 0);
	n = strlen(r->path);
	while (n > 0 && r->path[n - 1] == '/')
		r->path[--n] = '\0';
	r->body_len = evbuffer_get_length(eb);
	r->body = xmalloc(r->body_len + 1);
	evbuffer_copyout(eb, r->body, r->body_len);
	r->body[r->body_len] = '\0';
	r->token_id = evhttp_find_header(in, "X-Vault-Token");
	auth = evhttp_find_header(in, "Authorization");
	if (r->token_id == NULL && auth != NULL &&
	    evutil_ascii_strncasecmp(auth, "Bearer ", 7) == 0)
		r->token_id = auth + 7;
	r->wrap_ttl = evhttp_find_header(in, "X-Vault-Wrap-TTL");
	if (r->method == VS_GET && vs_query(r, "list", listq, sizeof(listq)) &&
	    strcmp(listq, "true") == 0) {
		r->method = VS_LIST;
		r->method_name = "LIST";
	}
	bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (ssl != NULL) {
		r->tls = true;
		r->peer = SSL_get1_peer_certificate(ssl);
		r->peer_chain = SSL_get_peer_cert_chain(ssl);
	}
	return r;
}

void
vs_http_cb(struct evhttp_request *ev, void *arg)
{
	struct vs_state *st = arg;
	struct vs_req *r = req_new(st, ev);
	struct vs_fault *f;

	if (strcmp(r->uri_path, "/_test") == 0 ||
	    strncmp(r->uri_path, "/_test/", 7) == 0) {
		vs_ctl_handle(r);
		return;
	}
	log_request(r);
	f = vs_fault_match(st, r);
	if (f != NULL && apply_fault(r, f))
		return;
	dispatch(r);
}

void
vs_http_flush_pending(struct vs_state *st)
{
	struct vs_req *r;

	while ((r = st->pending) != NULL) {
		if (r->timer != NULL && r->post_fault == NULL &&
		    evtimer_pending(r->timer, NULL) &&
		    event_get_callback(r->timer) == kill_timer_cb) {
			kill_connection(r);
			continue;
		}
		pending_remove(r);
		vs_reply_error(r, 503, "vaultsrv is shutting down");
	}
}
