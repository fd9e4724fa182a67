/*
 * vault.h — the Vault client: authenticated JSON requests on the event
 * loop, over lib/http.c.
 *
 * One struct vault per Vault cluster.  It owns the token and its
 * lifecycle (login, lookup-self, renew-self at 2/3 of the TTL, re-login
 * when renewal is refused or the max TTL nears), tries the configured
 * addresses in order when one is unreachable, follows a standby's 307 to
 * the active node with the token (the Location comes from a TLS-verified
 * Vault node), and sends X-Vault-Namespace when configured.
 *
 * Asynchronous shape as everywhere: vault_request() returns a cancellable
 * handle, the callback fires exactly once from the loop, never from inside
 * vault_request(), and never after vault_cancel().  Requests made while a
 * login is in progress wait for it (one login at a time), unless the token
 * in use is still good (a re-login ahead of its expiry).
 *
 * Outcomes are classified for the caller (see enum vault_class):
 *   transient  connection errors, timeouts, 429, 5xx, sealed (503)
 *   permanent  400 (role/name/TTL refusals, bad request), 404 (no such
 *              mount, role or path)
 *   auth       403 after one re-authentication and retry: "permission
 *              denied" naming the path
 * Secrets (tokens, secret IDs, JWTs) are never put in an error message,
 * and are wiped when no longer needed.  Leaf module: never logs; events
 * worth logging (login, renewal, re-login, failover) are reported through
 * the optional event callback.
 */
#ifndef CERTD_VAULT_H
#define CERTD_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "http.h"

struct event_base;
struct vault;
struct vault_op;

enum vault_auth_method {
	VAULT_AUTH_TOKEN = 0,   /* VAULT_TOKEN, or token_file (re-read when it changes) */
	VAULT_AUTH_APPROLE,
	VAULT_AUTH_CERT,        /* TLS certificate auth: tls.cert_file/key_file */
	VAULT_AUTH_KUBERNETES,
	VAULT_AUTH_JWT,
};

struct vault_auth_config {
	enum vault_auth_method method;
	const char *mount;            /* NULL: the method's default path */
	/* token */
	const char *token_file;       /* NULL: the VAULT_TOKEN environment variable */
	/* approle */
	const char *role_id_file;
	const char *secret_id_file;
	bool secret_id_wrapped;       /* the file holds a response-wrapping token */
	bool remove_secret_id_file;   /* delete the file once read */
	/* cert */
	const char *cert_role;        /* "name" in the login body; NULL: any */
	/* kubernetes, jwt */
	const char *role;
	const char *jwt_file;
};

struct vault_config {
	const char *const *addresses; /* "https://vault.example:8200", in order */
	size_t n_addresses;
	const char *namespace_;       /* X-Vault-Namespace, or NULL */
	struct http_tls tls;          /* cert_file/key_file: mTLS, and cert auth */
	long connect_timeout_ms;      /* 0: http.h's default */
	long timeout_ms;              /* per request; 0: http.h's default */
	size_t max_response;          /* 0: http.h's default */
	struct vault_auth_config auth;
};

enum vault_class {
	VAULT_OK = 0,        /* 2xx */
	VAULT_TRANSIENT,     /* retry with backoff */
	VAULT_PERMANENT,     /* the request itself is refused */
	VAULT_DENIED,        /* 403 after re-authentication, or login refused */
};

struct vault_response {
	enum vault_class cls;
	long status;              /* last HTTP status, 0 when none */
	json_t *json;             /* parsed body when it is JSON, else NULL */
	json_t *data;             /* json's "data" (borrowed), or NULL */
	json_t *warnings;         /* json's "warnings" array (borrowed), or NULL */
	struct buf body;          /* raw body (bare-PEM endpoints); the callback may steal it */
	const char *content_type; /* or NULL */
	long retry_after;         /* seconds, -1 when absent */
	const char *address;      /* the address that answered, or the last one tried */
	enum http_outcome outcome;/* of the last HTTP exchange: HTTP_OUTCOME_CONNECT_FAILED
				   * and _TLS_ERROR mean the request reached no server */
	char error[512];          /* when cls != VAULT_OK: Vault's errors joined with "; ",
				   * or the transport failure; untrusted text */
};

/* resp is valid during the call only (json is released afterwards). */
typedef void (*vault_done_cb)(struct vault_response *resp, void *arg);

enum vault_event {
	VAULT_EV_LOGIN,          /* logged in; detail: method and token TTL */
	VAULT_EV_RENEWED,        /* token renewed; detail: new TTL */
	VAULT_EV_RELOGIN,        /* renewal impossible, logging in again; detail: why */
	VAULT_EV_FAILOVER,       /* an address failed, trying the next; detail: which, why */
	VAULT_EV_LOGIN_FAILED,   /* detail: why */
};
typedef void (*vault_event_cb)(enum vault_event ev, const char *detail, void *arg);

/* cfg and the strings it points to must outlive the client.  http is
 * shared (not owned).  Never NULL. */
struct vault *vault_new(struct event_base *base, struct http *http,
			const struct vault_config *cfg);
void vault_set_event_cb(struct vault *v, vault_event_cb cb, void *arg);
/* Cancels everything in flight (no callback fires) and wipes the token. */
void vault_free(struct vault *v);

/* method: "GET", "POST", "PUT", "DELETE", "LIST".  path: relative to /v1/
 * ("pki/sign/web").  body: JSON or NULL (not stolen).  Returns the handle;
 * never NULL. */
struct vault_op *vault_request(struct vault *v, const char *method, const char *path,
			       const json_t *body, vault_done_cb cb, void *arg);
void vault_cancel(struct vault_op *op);

/* Per-request options.  once: the request is not idempotent (it creates
 * something, e.g. a Sectigo enrollment), so after it may have reached a
 * server (a timeout, a dropped connection, any answer but 503) it is never
 * sent to another address; the caller finds out what happened.
 * timeout_ms: this request's own total timeout (0: the client's). */
struct vault_request_opts {
	long timeout_ms;
	bool once;
};
struct vault_op *vault_request_opts(struct vault *v, const char *method, const char *path,
				    const json_t *body, const struct vault_request_opts *o,
				    vault_done_cb cb, void *arg);

/* Counters for tests, status and metrics. */
struct vault_stats {
	uint64_t requests;   /* requests sent, logins and renewals included */
	uint64_t logins;
	uint64_t renewals;
	uint64_t failovers;
};
void vault_get_stats(const struct vault *v, struct vault_stats *out);

#endif
