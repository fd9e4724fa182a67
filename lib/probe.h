/*
 * probe.h — does a TLS endpoint serve the certificate we just published?
 *
 * One TLS handshake (per attempt) to host:port, with SNI when asked, on the
 * libevent loop: a non-blocking socket and SSL_do_handshake() driven by
 * read/write events, a timer for the deadline and for the delay between
 * attempts.  Nothing blocks the loop: the host must be a numeric IPv4/IPv6
 * address or "localhost" (which means 127.0.0.1); any other name is refused
 * (the request's error, through the callback) because resolving it would
 * need a resolver this module does not own.  Consumers are probed on the
 * host certd runs on or next to, by address.
 *
 * The peer is NOT verified (SSL_VERIFY_NONE, no name check, no chain): the
 * probe only asks whether the leaf served is byte for byte the expected one
 * (SHA-256 of its DER).  Whether that certificate is trustworthy was
 * settled by verify before it was published; a handshake that "succeeds"
 * here proves nothing else, and no data is sent over it.
 *
 * One asynchronous shape: probe_start() copies what it needs from the
 * request and returns a handle; the callback fires exactly once, from the
 * loop, never from inside probe_start(); probe_cancel() guarantees it never
 * fires.  Every failed attempt (refused, TLS error, timeout, or the wrong
 * certificate: a consumer may still be reloading) is retried after the
 * delay until attempts are used up; the result describes the last one.
 *
 * The handshake writes with write(2) (OpenSSL's socket BIO): the process
 * must ignore SIGPIPE, as the daemon does.  Leaf module: never logs.
 */
#ifndef CERTD_PROBE_H
#define CERTD_PROBE_H

#include <openssl/x509.h>

#include "err.h"

struct event_base;
struct probe;

#define PROBE_TIMEOUT_DEFAULT_MS 10000L
#define PROBE_ATTEMPTS_DEFAULT 3U
#define PROBE_RETRY_DELAY_DEFAULT_MS 1000L

struct probe_request {
	const char *host;      /* "127.0.0.1", "::1", "localhost" */
	unsigned port;         /* 1..65535 */
	const char *sni;       /* server name to send; NULL or "": none */
	X509 *expect;          /* the leaf that must be served; only its
				* DER fingerprint and serial are kept */
	long timeout_ms;       /* per attempt, connect + handshake;
				* 0: PROBE_TIMEOUT_DEFAULT_MS */
	unsigned attempts;     /* 0: PROBE_ATTEMPTS_DEFAULT */
	long retry_delay_ms;   /* between attempts; 0: the default; < 0: none */
};

enum probe_outcome {
	PROBE_OK,              /* the expected leaf was served */
	PROBE_MISMATCH,        /* another certificate was served */
	PROBE_REFUSED,         /* connection refused */
	PROBE_CONNECT_FAILED,  /* other connect errors (unreachable, ...) */
	PROBE_TLS_ERROR,       /* handshake failed, or no certificate */
	PROBE_TIMEOUT,         /* connect or handshake took too long */
	PROBE_BAD_REQUEST,     /* host not numeric, port 0, no expect... */
};

struct probe_result {
	enum probe_outcome outcome;
	unsigned attempts;         /* attempts made (1..attempts) */
	char served_serial[64];    /* last leaf served ("" when none), in
				    * x509_serial_string() form */
	char served_sha256[65];    /* its DER SHA-256, lower-case hex, or "" */
	struct err error;          /* for every outcome but OK: why, e.g.
				    * "served serial 0a, expected 0b",
				    * "connection refused",
				    * "handshake failed: ...", "timed out ..." */
};

/* res is the module's and valid only during the call. */
typedef void (*probe_done_cb)(const struct probe_result *res, void *arg);

/* Start probing.  req and what it points to may be freed when this
 * returns (expect too; its fingerprint is copied).  Returns the handle,
 * valid until the callback returns or probe_cancel(); NULL only when base,
 * req or cb is NULL.  A bad request (see PROBE_BAD_REQUEST) is reported
 * through the callback like any failure.  May be called from a loop
 * callback, a probe_done_cb included. */
struct probe *probe_start(struct event_base *base, const struct probe_request *req,
			  probe_done_cb cb, void *arg);

/* Stop p: its callback never fires, its socket is closed, p is freed.
 * NULL is a no-op, and so is calling it from p's own callback.  May be
 * called from any loop callback. */
void probe_cancel(struct probe *p);

/* "ok", "mismatch", "refused", ...: static strings for logs and metrics. */
const char *probe_outcome_str(enum probe_outcome o);

#endif
