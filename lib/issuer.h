/*
 * issuer.h — the one interface every certificate authority sits behind.
 *
 * Back-ends: issuer_local.c (the embedded CA), later issuer_vault.c (Vault
 * PKI) and issuer_sectigo.c (the Sectigo plugin).  The shape is the house
 * asynchronous shape: issuer_start() returns a cancellable handle, and the
 * callback fires exactly once, from the event loop, never from inside
 * issuer_start() — even when the request is refused at once.  After
 * issuer_cancel() the callback never fires.
 *
 * The outcome is a value, not a return code: ISSUED (cert and chain, and
 * the key when the CA generated it), PENDING (ask again after retry_after:
 * the back-end keeps its own progress — Sectigo's enroll-then-collect),
 * REJECTED (permanent:
 * role refusal, name not allowed; reason is the CA's text) or UNAVAILABLE
 * (transient: connection, timeout, sealed; retry with backoff).
 */
#ifndef CERTD_ISSUER_H
#define CERTD_ISSUER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "err.h"
#include "x509.h"

enum issuer_outcome {
	ISSUER_ISSUED = 0,
	ISSUER_PENDING,
	ISSUER_REJECTED,
	ISSUER_UNAVAILABLE,
};

struct conf_cert;

struct issuer_request {
	const struct conf_cert *cc;     /* the certificate's settings (back-end keys: mount, role...) */
	const char *cert_name;          /* for the CA's records and messages */
	struct x509_names names;
	bool exclude_cn_from_sans;
	int64_t ttl;                    /* seconds */
	X509_REQ *csr;                  /* NULL: the CA generates the key */
	EVP_PKEY *key;                  /* csr's key: a back-end that must keep it across
					 * restarts (Sectigo: collected days later) stores it */
	bool renewal;                   /* a valid certificate of this very request is in
					 * place (due, or a forced renewal) */
	bool forced;                    /* the operator asked (renew --force) */
};

struct issuer_result {
	enum issuer_outcome outcome;
	X509 *cert;                     /* ISSUED */
	STACK_OF(X509) *chain;          /* ISSUED: CA certificates, leaf excluded, nearest first */
	STACK_OF(X509) *anchors;        /* ISSUED: what to verify the chain against */
	EVP_PKEY *key;                  /* ISSUED, when the CA generated the key, or when the
					 * request was made with a key kept from earlier */
	int64_t retry_after;            /* PENDING/UNAVAILABLE: seconds, -1 when unknown */
	char reason[512];               /* REJECTED/UNAVAILABLE; untrusted: escape before logging */
	char warning[512];              /* ISSUED: e.g. lifetime shortened by the CA */
};

/* The callback owns res and releases it with issuer_result_free(). */
typedef void (*issuer_done_cb)(struct issuer_result *res, void *arg);

struct issuer;
struct issuer_op;

/* What a back-end provides.  start() must not complete synchronously: it
 * arranges for issuer_complete(op, ...) to be called later from the loop.
 * On a synchronous refusal it returns a negative errno with e set, and the
 * generic layer turns that into a deferred REJECTED result.  cancel()
 * guarantees issuer_complete() will not be called for op.  anchors()
 * (optional) returns the CA certificates that cc's certificates verify
 * against right now, or NULL when unknown (caller frees).  wants_csr()
 * (optional, default yes) says whether cc's requests carry a CSR made
 * here, or the CA generates the key. */
struct issuer_backend {
	const char *name;
	int (*start)(void *impl, struct issuer_op *op, const struct issuer_request *req,
		     struct err *e);
	void (*cancel)(void *impl, struct issuer_op *op);
	STACK_OF(X509) *(*anchors)(void *impl, const struct conf_cert *cc);
	bool (*wants_csr)(void *impl, const struct conf_cert *cc);
	/* Optional: revoke cc's current certificate at the CA (ISSUED means
	 * done), and describe cc's progress at the CA for status (a JSON
	 * object the caller owns, or NULL). */
	int (*revoke)(void *impl, struct issuer_op *op, const struct conf_cert *cc,
		      const char *reason, struct err *e);
	json_t *(*describe)(void *impl, const struct conf_cert *cc);
	void (*free)(void *impl);
};

/* Wrap a back-end.  impl is owned by the issuer and freed by backend->free. */
struct issuer *issuer_new(const struct issuer_backend *backend, void *impl,
			  struct event_base *base);
void issuer_free(struct issuer *iss);
const char *issuer_name(const struct issuer *iss);
struct event_base *issuer_base(const struct issuer *iss);

/* Start a request.  Never fails: problems arrive as a result. */
struct issuer_op *issuer_start(struct issuer *iss, const struct issuer_request *req,
			       issuer_done_cb cb, void *arg);
/* The callback of op will not fire; op is freed. */
void issuer_cancel(struct issuer_op *op);
/* See struct issuer_backend.  Caller frees with x509_chain_free. */
STACK_OF(X509) *issuer_anchors(struct issuer *iss, const struct conf_cert *cc);
bool issuer_wants_csr(struct issuer *iss, const struct conf_cert *cc);
/* Revoke cc's current certificate; the result's outcome ISSUED means it was
 * revoked.  A back-end without revocation answers REJECTED. */
struct issuer_op *issuer_revoke(struct issuer *iss, const struct conf_cert *cc,
				const char *reason, issuer_done_cb cb, void *arg);
/* Back-end helpers.  The certificates of cc's trust_anchor file, or NULL
 * (unset, or e set when it cannot be read or parsed). */
STACK_OF(X509) *issuer_trust_anchor(const struct conf_cert *cc, struct err *e);
/* res->anchors: cc's trust_anchor, else the top of res->chain (which then
 * proves only that the chain holds together). */
int issuer_result_set_anchors(struct issuer_result *res, const struct conf_cert *cc,
			      struct err *e);
/* See struct issuer_backend; NULL when the back-end has nothing to say. */
json_t *issuer_describe(struct issuer *iss, const struct conf_cert *cc);

/* Back-end side: per-op storage, and delivery of the one result.
 * issuer_complete must be called from a loop callback; it frees op. */
void issuer_op_set_data(struct issuer_op *op, void *data);
void *issuer_op_data(const struct issuer_op *op);
void issuer_complete(struct issuer_op *op, struct issuer_result *res);

struct issuer_result *issuer_result_new(enum issuer_outcome outcome);
/* A result without a certificate: outcome, retry hint (-1: none), reason. */
struct issuer_result *issuer_result_errorf(enum issuer_outcome outcome, int64_t retry_after,
					   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void issuer_result_free(struct issuer_result *res);
const char *issuer_outcome_name(enum issuer_outcome o);

/* The embedded local CA (issuer_local.c).  Nothing is touched until the
 * first request: the CA key and certificate are then loaded from, or on
 * first use created in, <state_dir>/local-ca/ (key 0600).  Every issued
 * serial is appended to <state_dir>/local-ca/issued.log. */
struct conf_local_ca;
int issuer_local_new(struct event_base *base, const char *state_dir,
		     const struct conf_local_ca *cfg, struct issuer **out, struct err *e);

/* Vault's PKI secrets engine (issuer_vault.c), through the Vault client v
 * (not owned; must outlive the issuer).  Per certificate: mount, role,
 * pki_mode (sign: CSR to <mount>/sign/<role>; issue: <mount>/issue/<role>)
 * and an optional trust_anchor file. */
struct vault;
struct issuer *issuer_vault_new(struct event_base *base, struct vault *v);
/* The parsing half of a Vault PKI sign/issue answer, without the loop:
 * from data (the response's "data" object, or NULL) into res, made by the
 * caller with issuer_result_new(ISSUER_ISSUED): res->chain (ca_chain, else
 * issuing_ca; may be empty: the caller then fetches <mount>/ca_chain),
 * res->cert and, when data has one, res->key, whose PEM text in data is
 * wiped as soon as it is parsed.  need_key: issue mode, where a missing
 * private_key is an error.  Returns 0, or a negative errno (-EBADMSG) with
 * e naming the field; res keeps what was parsed (issuer_result_free
 * releases it).  Pure: no I/O, no logging. */
int issuer_vault_parse_issued(json_t *data, bool need_key, struct issuer_result *res,
			      struct err *e);

/* The Sectigo Vault PKI plugin (issuer_sectigo.c), through v.  Its own
 * progress per certificate (intent, ids, status history, and the key of a
 * pending request) is kept under <state_dir>/sectigo/. */
struct issuer *issuer_sectigo_new(struct event_base *base, struct vault *v,
				  const char *state_dir);

#endif
