/*
 * http.h — the daemon's one HTTP client: libcurl's multi interface driven
 * by a libevent event_base.  Nothing here blocks the loop: sockets and
 * timers are libevent events, and name resolution runs in libcurl's
 * threaded resolver (http_global_init() refuses a libcurl without one).
 *
 * One asynchronous shape: http_start() copies the request, returns a
 * handle, and later calls the callback exactly once, from the loop, never
 * from inside http_start().  http_cancel() guarantees the callback never
 * fires.  TLS peer verification is always on unless tls.insecure is set.
 *
 * Leaf module: never logs.  Failures come back in the response.  Like
 * any libcurl user it honours http_proxy/https_proxy/no_proxy from the
 * environment.
 */
#ifndef CERTD_HTTP_H
#define CERTD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

struct event_base;
struct http;
struct http_op;

#define HTTP_MAX_RESPONSE_DEFAULT (1024 * 1024)
#define HTTP_CONNECT_TIMEOUT_DEFAULT_MS 10000L
#define HTTP_TIMEOUT_DEFAULT_MS 60000L
#define HTTP_MAX_REDIRECTS_DEFAULT 5

struct http_header {
	const char *name;   /* a token: letters, digits, "-" and the like */
	const char *value;  /* no CR or LF; "" sends an empty header */
	bool secret;        /* dropped on a redirect to another origin */
};

/* Authorization, Cookie, Proxy-Authorization and X-Vault-Token are always
 * treated as secret, whatever their flag says. */

struct http_tls {
	const char *ca_file;      /* PEM bundle; when set (without ca_path) it
				   * is the only trust anchor, not added to the
				   * system store */
	const char *ca_path;      /* hashed directory (c_rehash) */
	const char *cert_file;    /* client certificate (PEM) for mTLS */
	const char *key_file;     /* its key (PEM); NULL: in cert_file */
	const char *server_name;  /* SNI and verified name, when the URL's
				   * host is only where to connect (below) */
	bool insecure;            /* skip peer and name verification */
};

/*
 * tls.server_name: the URL's host is replaced by server_name, so that SNI,
 * certificate name verification and the Host header all use it, while
 * CURLOPT_CONNECT_TO "server_name:port:urlhost:port" makes libcurl connect
 * to the URL's original host.  Example: url "https://127.0.0.1:8200/v1/x"
 * with server_name "vault.test" verifies a certificate for vault.test
 * served on 127.0.0.1:8200.
 */

struct http_request {
	const char *method;          /* NULL: "GET" */
	const char *url;             /* http:// or https:// only */
	const struct http_header *headers;
	size_t n_headers;
	const void *body;            /* NULL: none; may hold secrets */
	size_t body_len;
	long connect_timeout_ms;     /* 0: HTTP_CONNECT_TIMEOUT_DEFAULT_MS */
	long timeout_ms;             /* whole request, redirects included;
				      * 0: HTTP_TIMEOUT_DEFAULT_MS */
	size_t max_response;         /* body cap; 0: HTTP_MAX_RESPONSE_DEFAULT */
	int max_redirects;           /* 307/308 hops; 0: default; <0: none */
	bool fresh_connect;          /* a new connection and TLS session, not
				      * kept afterwards: the client certificate
				      * files may have changed since the last
				      * handshake (Vault's TLS certificate login) */
	struct http_tls tls;
};

/*
 * Redirects: only 307 and 308 are followed (other 3xx come back as
 * responses), with method and body unchanged.  A hop to another origin
 * (scheme, host or port differs) goes without the secret headers; the body
 * does go along.  https -> http is refused.  libcurl's own
 * CURLOPT_FOLLOWLOCATION is not used because 7.88 re-sends custom headers
 * such as X-Vault-Token to any host.
 */

enum http_outcome {
	/* Not HTTP_OK & co.: <event2/http.h> defines those as status codes. */
	HTTP_OUTCOME_OK,             /* a response arrived (any status) */
	HTTP_OUTCOME_CONNECT_FAILED, /* name not resolved, refused, unreachable */
	HTTP_OUTCOME_TIMEOUT,        /* connect or total timeout */
	HTTP_OUTCOME_TLS_ERROR,      /* handshake, verification, client cert */
	HTTP_OUTCOME_TOO_LARGE,      /* body over max_response; transfer aborted */
	HTTP_OUTCOME_CANCELLED,      /* for the caller's own records: a cancelled
				      * op's callback never fires */
	HTTP_OUTCOME_OTHER,          /* bad request, too many redirects, I/O... */
};

struct http_response {
	enum http_outcome outcome;
	long status;              /* final HTTP status; 0 when none */
	char *content_type;       /* NULL when absent */
	long retry_after;         /* Retry-After in seconds, saturated at
				   * INT_MAX; -1 when absent or unparsable (an
				   * HTTP-date counts from now) */
	struct buf body;          /* the callback may buf_steal() it */
	int curl_code;            /* CURLcode; 0 on success */
	unsigned redirects;       /* 307/308 hops followed */
	char *location;           /* a 3xx that was not followed: its Location
				   * as an absolute URL (libcurl resolves a
				   * relative one); NULL otherwise */
	struct err error;         /* why, when outcome is not OK; names no URL
				   * path or header value */
};

/* resp is owned by the module and valid only during the call; the body is
 * wiped and freed afterwards unless the callback stole it. */
typedef void (*http_done_cb)(struct http_response *resp, void *arg);

/* Process-wide set-up: curl_global_init() and the check that libcurl has an
 * asynchronous resolver (CURL_VERSION_ASYNCHDNS) and TLS.  Call once from
 * main before any other thread exists; later calls return 0.  Returns 0,
 * -EIO (init failed) or -ENOTSUP (DNS would block, or no TLS), with e set. */
int http_global_init(struct err *e);
void http_global_cleanup(void);

/* A client bound to base.  Never NULL (allocation failure aborts).
 * http_global_init() must have succeeded. */
struct http *http_new(struct event_base *base);

/* Cancel every operation in flight (their callbacks never fire), close
 * connections and free h.  NULL is a no-op.  May be called from a loop
 * callback, including from an http_done_cb of this h. */
void http_free(struct http *h);

/* Start req.  Everything req points to is copied; the caller may free it
 * when this returns.  Returns 0 and *out, a handle valid until the callback
 * returns or http_cancel(); problems with the request itself (bad URL,
 * header, method) are reported through the callback with HTTP_OUTCOME_OTHER.
 * Returns -EINVAL only for a NULL h, req, req->url, cb or out.  May be
 * called from any loop callback, an http_done_cb included. */
int http_start(struct http *h, const struct http_request *req, http_done_cb cb, void *arg,
	       struct http_op **out);

/* Abort op; its callback never fires.  NULL is a no-op, and so is calling
 * it from op's own callback.  op must not be used afterwards.  May be
 * called from any loop callback. */
void http_cancel(struct http_op *op);

/* "ok", "connect failed", "timeout", ...: static strings for log lines. */
const char *http_outcome_str(enum http_outcome outcome);

#endif
