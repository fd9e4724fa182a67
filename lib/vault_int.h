/*
 * vault_int.h — what vault.c (requests: addresses, failover, redirects,
 * classification, the queue behind a login) and vault_auth.c (login
 * methods, secret input files, the token and its lifecycle) share.
 * Internal to those two files; not a public interface.
 *
 * Re-entrancy: every loop callback of either file brackets its work with
 * vault_enter()/vault_leave().  A user callback or event callback that runs
 * inside may call vault_free(): the client is then marked freed, everything
 * in flight is cancelled at once, and the memory is released by the
 * outermost vault_leave().  Code that has called out to the user checks
 * v->freed before it touches anything else.
 */
#ifndef CERTD_VAULT_INT_H
#define CERTD_VAULT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "buf.h"
#include "http.h"
#include "vault.h"

struct vault_auth;

struct vault {
	struct event_base *base;
	struct http *http;
	const struct vault_config *cfg;
	vault_event_cb ev_cb;
	void *ev_arg;
	struct vault_stats stats;
	size_t preferred;             /* index of the address that answered last */
	TAILQ_HEAD(, vault_op) ops;   /* every live op, internal ones included */
	TAILQ_HEAD(, vault_op) waiting; /* user ops waiting for a token */
	unsigned depth;               /* our loop callbacks on the stack */
	bool freed;                   /* vault_free() ran inside one of them */
	struct vault_auth *auth;      /* vault_auth.c */
};

/* Options of an internal op (logins, lookup, renewal, unwrap): it never
 * waits for a token and a 403 is its answer, not a reason to log in. */
struct vault_iop {
	const char *method;
	const char *path;
	const struct buf *body;       /* JSON text or NULL; copied, may be secret */
	const char *token;            /* X-Vault-Token or NULL; copied, wiped */
	bool fresh_connect;           /* cert login: present the current client cert */
};

/* ---- vault.c ---- */
void vault_enter(struct vault *v);
/* Returns true when v is gone (freed by the outermost leave). */
bool vault_leave(struct vault *v);
/* Start an internal op; cb fires exactly once from the loop unless the op
 * is cancelled with vault_cancel().  Never NULL. */
struct vault_op *vault_iop_start(struct vault *v, const struct vault_iop *o, vault_done_cb cb,
				 void *arg);
/* The login that user ops wait for ended: fail == NULL sends them with the
 * new token, otherwise each gets a copy of *fail (cls, status, address,
 * error).  Calls user callbacks: check v->freed afterwards. */
void vault_login_done(struct vault *v, const struct vault_response *fail);
/* Report an event (detail formatted like printf).  May call vault_free:
 * check v->freed afterwards. */
void vault_emit(struct vault *v, enum vault_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set r->error from fmt, the secrets the client holds replaced by
 * "[redacted]". */
void vault_set_error(struct vault *v, struct vault_response *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Overwrite every string of j that nobody else holds a reference to, before
 * j is released: responses carry tokens, secret IDs and private keys. */
void vault_json_wipe(json_t *j);
/* Append s as a JSON string literal (quoted and escaped) to b. */
void vault_json_str(struct buf *b, const char *s);
/* Append the string items of json's "errors" array (json may be NULL or
 * anything else: nothing is appended) to b, joined with "; ", without
 * go-multierror's "N errors occurred:" wrapper, one item per line, control
 * characters as spaces.  Pure; the fuzz harness tests/fuzz/fuzz_vault.c
 * calls it directly. */
void vault_errors(const json_t *json, struct buf *b);
int64_t vault_now_ms(void);

/* ---- vault_auth.c ---- */
int vault_auth_new(struct vault *v);
/* Stop timers, cancel its ops (idempotent); then free, wiping secrets. */
void vault_auth_stop(struct vault *v);
void vault_auth_free(struct vault *v);
/* The token to send now, or NULL when a login must come first (checks a
 * token_file for changes).  *gen identifies the token. */
const char *vault_auth_token(struct vault *v, uint64_t *gen);
/* Start a login unless one is running; it always proceeds from the loop. */
void vault_auth_login(struct vault *v);
/* A user op sent with token gen got 403 on path.  True when a retry can
 * help (a newer token exists, a login is running or was started, or the
 * token file changed); false when the same token would be sent again. */
bool vault_auth_denied(struct vault *v, uint64_t gen, const char *path);
/* Replace the secrets held by the client that occur in b. */
void vault_auth_redact(const struct vault *v, struct buf *b);

#endif
