/*
 * vs.h — internal interface of vaultsrv, the Vault-compatible test server.
 *
 * vaultsrv is one process, one thread, one libevent loop.  All state lives in
 * a single struct vs_state that is built from the JSON config at start-up
 * and changed only by requests (Vault API or the /_test control API).
 * Module split (file name = prefix):
 *   vaultsrv.c  main: options, listeners, TLS, signals, shutdown
 *   vs_http.c   request pipeline, replies, envelopes, wrapping, log, faults
 *   vs_conf.c   config loading and the small JSON/duration helpers
 *   vs_x509.c   the server's own OpenSSL code (keys, certs, CRLs, PEM)
 *   vs_pki.c    PKI engine: CA set-up, routing, fetch, list, revoke, roles
 *   vs_pki_issue.c  issue, sign, sign-verbatim
 *   vs_pki_names.c  which names a role allows
 *   vs_token.c  tokens, ACL, auth/token/..., response wrapping
 *   vs_auth.c   approle, cert, kubernetes and jwt logins
 *   vs_kv.c     KV version 1 and 2
 *   vs_sectigo.c  the Sectigo Vault PKI plugin's paths, scriptable
 *   vs_ctl.c    the /_test control API
 * Everything is test code: clarity over speed, but real crypto and Vault's
 * real response shapes.
 */
#ifndef VAULTSRV_VS_H
#define VAULTSRV_VS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"

struct evhttp_request;
struct event_base;
struct event;

#define VS_VERSION "1.7.10"
/* Vault's system default and maximum lease TTL: 768h. */
#define VS_SYSTEM_TTL 2764800L
#define VS_MAX_BODY (32u * 1024u * 1024u)
#define VS_LOG_BODY_CAP (1024u * 1024u)
#define VS_LOG_MAX_ENTRIES 100000u

enum vs_method {
	VS_GET,
	VS_POST,
	VS_PUT,
	VS_DELETE,
	VS_LIST,
	VS_HEAD,
	VS_OTHER,
};

enum vs_mount_type {
	VS_MOUNT_PKI,
	VS_MOUNT_KV1,
	VS_MOUNT_KV2,
	VS_MOUNT_APPROLE,
	VS_MOUNT_CERT,
	VS_MOUNT_K8S,
	VS_MOUNT_JWT,
	VS_MOUNT_SECTIGO,
};

/* One issued (or CA) certificate held by a PKI mount. */
struct vs_cert {
	char *serial;          /* "4a:f1:..." lower-case, colon-separated */
	X509 *x509;
	time_t revoked;        /* 0 while valid */
	long revoked_nsec;
	struct vs_cert *next;
};

struct vs_pki {
	X509 *ca;
	EVP_PKEY *ca_key;
	STACK_OF(X509) *chain;     /* ca_chain as served: ca first */
	STACK_OF(X509) *full;      /* ca and all its issuers up to the root */
	X509 *root;                /* top of full (trust anchor), borrowed */
	json_t *roles;             /* name -> role object, Vault field names */
	json_t *aia_urls;          /* array of strings */
	json_t *crl_urls;          /* array of strings */
	long default_ttl;
	long max_ttl;
	unsigned long crl_number;
	struct vs_cert *certs;
	size_t ncerts;
};

/* A cert auth entry (auth/cert/certs/<name>). */
struct vs_cert_role {
	char *name;
	char *display_name;
	STACK_OF(X509) *trusted;
	char *ca_mount;            /* trust a PKI mount's CA, resolved later */
	json_t *policies;
	json_t *allowed_common_names;
	long ttl;
	long max_ttl;
	struct vs_cert_role *next;
};

struct vs_sectigo;

struct vs_mount {
	char *path;                /* "pki_int", "auth/approle", "secret" */
	enum vs_mount_type type;
	json_t *cfg;               /* the mount's config object */
	struct vs_pki *pki;        /* VS_MOUNT_PKI */
	json_t *kv;                /* KV: path -> entry */
	bool cas_required;         /* KV2 */
	long kv_ttl;               /* KV1 lease_duration */
	json_t *roles;             /* approle/kubernetes/jwt: name -> role */
	struct vs_cert_role *cert_roles;
	struct vs_sectigo *sectigo;  /* VS_MOUNT_SECTIGO */
	struct vs_mount *next;
};

enum vs_fault_action {
	VS_FAULT_STATUS,
	VS_FAULT_DELAY,
	VS_FAULT_HANG,
	VS_FAULT_DROP,
	VS_FAULT_TRUNCATE,
	VS_FAULT_NONJSON,
	VS_FAULT_HUGE,
	VS_FAULT_CLOSE,
	VS_FAULT_MUTATE,
};

/* What a "mutate" fault does to the certificate of a successful PKI
 * response (vs_pki_mutate). */
enum vs_mutate {
	VS_MUTATE_NONE = 0,
	VS_MUTATE_WRONG_KEY,        /* same certificate, another public key */
	VS_MUTATE_WRONG_NAME,       /* CN and SAN of another name */
	VS_MUTATE_EXPIRED,          /* notAfter a day ago */
	VS_MUTATE_BAD_CHAIN,        /* ca_chain, issuing_ca: an unrelated CA */
	VS_MUTATE_TRAILING_GARBAGE, /* text after the certificate's PEM */
};

struct vs_fault {
	unsigned long id;
	char *method;              /* NULL: any */
	char *path;                /* exact, or prefix when ending in '*' */
	enum vs_fault_action action;
	int status;
	char *body;
	char *content_type;
	json_t *headers;           /* object name -> string */
	long delay_ms;
	size_t size;
	enum vs_mutate mutate;     /* VS_FAULT_MUTATE */
	unsigned long skip;        /* let this many matches through first */
	unsigned long count;       /* apply this many times; 0 = forever */
	unsigned long hits;
	unsigned long applied;
	struct vs_fault *next;
};

struct vs_req;

struct vs_state {
	struct event_base *base;
	char *config_path;
	char *cluster_name;
	char *cluster_id;
	json_t *policies;          /* name -> {path pattern -> [caps]} */
	json_t *tokens;            /* id -> token object (lookup-self shape) */
	json_t *secret_ids;        /* secret_id -> {role, accessor, ...} */
	struct vs_mount *mounts;
	bool sealed;
	bool standby;
	char *standby_redirect;    /* base URL, e.g. http://127.0.0.1:8201 */
	struct vs_fault *faults;
	unsigned long fault_seq;
	json_t *log;               /* array of request records */
	json_t *counters;          /* "METHOD /path" -> count */
	json_t *issued;            /* mount -> count */
	unsigned long seq;
	struct vs_req *pending;    /* delayed / hung / being dropped */
};

/* A request in flight.  Created on arrival, freed by vs_send(). */
struct vs_req {
	struct vs_state *st;
	struct evhttp_request *ev;
	enum vs_method method;
	const char *method_name;
	char *uri_path;            /* decoded path, "/v1/pki/issue/x" */
	char *path;                /* after "/v1/", no trailing slash */
	char *query;               /* raw query or NULL */
	char *body;
	size_t body_len;
	json_t *json;              /* parsed body object, or NULL */
	const char *token_id;      /* X-Vault-Token, or NULL */
	json_t *token;             /* resolved token (borrowed), or NULL */
	char *revoke_after;        /* last use of a limited-use token */
	bool tls;
	X509 *peer;                /* client certificate (owned) */
	STACK_OF(X509) *peer_chain; /* borrowed from the SSL */
	json_t *record;            /* log record (borrowed from st->log) */
	const char *wrap_ttl;      /* X-Vault-Wrap-TTL */
	struct vs_fault *post_fault; /* truncate / drop the real reply */
	enum vs_mutate mutate;     /* rewrite the certificate of the reply */
	struct event *timer;
	json_t *later;             /* reply parked by vs_reply_json_after */
	int later_status;
	bool hung;
	struct vs_req *next;       /* st->pending */
};

/* A Vault "secret" response envelope. */
struct vs_resp {
	json_t *data;              /* stolen; NULL -> null */
	json_t *auth;              /* stolen; NULL -> null */
	json_t *warnings;          /* stolen array; NULL -> null */
	long lease_duration;
	bool renewable;
	const char *lease_id;
};

/* ---- vs_http.c ---- */
void vs_http_cb(struct evhttp_request *ev, void *arg);
/* Continue a request that a fault delayed (called from the timer). */
void vs_http_resume(struct vs_req *r);
/* Finish every pending (hung/delayed) request; used at shutdown. */
void vs_http_flush_pending(struct vs_state *st);
void vs_send(struct vs_req *r, int status, const char *ctype,
    const void *body, size_t len, json_t *headers);
void vs_reply_json(struct vs_req *r, int status, json_t *body);
/* vs_reply_json after ms milliseconds (body stolen now); ms < 0: never,
 * the request stays parked until shutdown answers it 503. */
void vs_reply_json_after(struct vs_req *r, int status, json_t *body, long ms);
/* {"errors": [msg]}; msg NULL gives an empty errors list. */
void vs_reply_error(struct vs_req *r, int status, const char *msg);
void vs_reply_errorf(struct vs_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vs_reply_resp(struct vs_req *r, struct vs_resp *resp);
/* The full response object for resp (fields stolen), no wrapping. */
json_t *vs_envelope(struct vs_resp *resp);
void vs_reply_data(struct vs_req *r, json_t *data);
void vs_reply_204(struct vs_req *r);
/* The wrapped "1 error occurred" permission-denied form (403). */
void vs_reply_denied(struct vs_req *r);
const char *vs_query(struct vs_req *r, const char *key, char *buf, size_t len);
char *vs_uuid(void);
char *vs_random_id(const char *prefix, size_t n);
char *vs_rfc3339(time_t t, long nsec);
void vs_now(time_t *sec, long *nsec);
void vs_log_record_status(struct vs_req *r, int status);

/* ---- vs_conf.c ---- */
int vs_conf_load(struct vs_state *st, const char *path, struct err *e);
void vs_state_free(struct vs_state *st);
struct vs_mount *vs_mount_find(struct vs_state *st, const char *path,
    const char **rest);
struct vs_mount *vs_mount_by_name(struct vs_state *st, const char *name);
/* Vault duration: seconds as number or string, or "1h30m", "20m", "3d". */
int vs_duration(json_t *v, long *out);
int vs_duration_str(const char *s, long *out);
const char *vs_jstr(json_t *o, const char *key);
long vs_jint(json_t *o, const char *key, long def);
bool vs_jbool(json_t *o, const char *key, bool def);
/* Comma-separated string or array of strings -> new array. */
json_t *vs_jlist(json_t *v);
/* Normalize a PKI role (Vault field names, defaults).  Steals nothing. */
int vs_role_normalize(json_t *in, json_t **out, struct err *e);
char *vs_read_file(const char *path, size_t cap, size_t *len);

/* ---- vs_x509.c ---- */
enum {
	VS_EKU_SERVER = 1 << 0,
	VS_EKU_CLIENT = 1 << 1,
	VS_EKU_CODE = 1 << 2,
	VS_EKU_EMAIL = 1 << 3,
	VS_EKU_ANY = 1 << 4,
};

struct vs_certspec {
	X509_NAME *subject;        /* borrowed */
	EVP_PKEY *pubkey;          /* borrowed */
	json_t *dns;               /* arrays of strings, may be NULL */
	json_t *emails;
	json_t *ips;
	json_t *uris;
	time_t not_before;
	time_t not_after;
	bool is_ca;
	int max_path_len;          /* -1: none */
	unsigned int ku;           /* X509v3 KU_* bits; 0: no extension */
	unsigned int eku;          /* VS_EKU_* */
	bool bc_non_ca;
	json_t *aia;
	json_t *crl_dp;
};

int vs_keygen(const char *type, long bits, EVP_PKEY **out, struct err *e);
const char *vs_key_type(EVP_PKEY *k);
int vs_sign_cert(const struct vs_certspec *spec, X509 *issuer,
    EVP_PKEY *issuer_key, X509 **out, struct err *e);
/* Give x a new random serial and sign it again with issuer_key (after
 * its fields were changed). */
int vs_resign_cert(X509 *x, EVP_PKEY *issuer_key, struct err *e);
X509_CRL *vs_make_crl(struct vs_pki *p, struct err *e);
char *vs_pem_cert(X509 *x);
char *vs_b64_cert(X509 *x);
char *vs_pem_crl(X509_CRL *c);
char *vs_pem_key(EVP_PKEY *k, bool pkcs8);
char *vs_b64_key(EVP_PKEY *k, bool pkcs8);
char *vs_serial_str(const ASN1_INTEGER *s);
char *vs_hex_colon(const unsigned char *p, size_t n);
X509 *vs_pem_to_cert(const char *pem);
STACK_OF(X509) *vs_pem_to_certs(const char *pem);
EVP_PKEY *vs_pem_to_key(const char *pem);
int vs_der_b64(const unsigned char *der, size_t len, char **out);
json_t *vs_cert_dns_names(X509 *x);
char *vs_name_cn(const X509_NAME *n);
/* Extract CN/DNS/IP/email/URI from a CSR's requested extensions. */
int vs_csr_names(X509_REQ *req, char **cn, json_t **dns, json_t **ips,
    json_t **emails, json_t **uris);

/* ---- vs_pki_names.c ---- */
/* Vault's validateNames(): returns the first name the role refuses, or
 * NULL when all are allowed. */
const char *vs_pki_bad_name(json_t *role, json_t *names);
bool vs_pki_hostname(const char *name);
/* Go glob.Glob semantics ('*' matches anything, dots included). */
bool vs_glob(const char *pattern, const char *s);

/* ---- vs_pki_issue.c ---- */
/* Handle issue/<role> (sign false), sign/<role>, sign-verbatim. */
void vs_pki_issue(struct vs_req *r, struct vs_mount *m, const char *role,
    bool sign, bool verbatim);
/* A "mutate" fault: rewrite the certificate (or chain) of the response
 * envelope resp to a /v1 request on path (e.g. "pki_int/sign/web"), signing
 * with that path's PKI mount's CA.  A response without data.certificate,
 * or to a path outside a PKI mount, is left alone.  Returns 0, or a
 * negative errno with e set (resp is then unchanged). */
int vs_pki_mutate(struct vs_state *st, const char *path, enum vs_mutate kind,
    json_t *resp, struct err *e);

/* ---- vs_pki.c ---- */
/* Keep a certificate by serial (takes a reference). */
void vs_pki_store(struct vs_pki *p, X509 *x);
int vs_pki_setup(struct vs_state *st, struct err *e);
void vs_pki_free(struct vs_pki *p);
void vs_pki_handle(struct vs_req *r, struct vs_mount *m, const char *rest);
bool vs_pki_unauthenticated(const char *rest);
/* Issue the server's own TLS certificate (localhost, 127.0.0.1, ::1) from
 * a mount's CA; *chain is the CA and its issuers up to the root (last). */
int vs_pki_server_cert(struct vs_state *st, const char *mount,
    X509 **cert, EVP_PKEY **key, STACK_OF(X509) **chain, struct err *e);

/* ---- vs_token.c ---- */
/* Sorted, de-duplicated copy of a policy list, optionally with "default". */
json_t *vs_policy_list(json_t *in, bool add_default);
/* Reply with an "auth" block for tok; warnings (array) is stolen. */
void vs_reply_auth(struct vs_req *r, json_t *tok, json_t *warnings);
/* Create and store a token; id NULL picks a random "s." id.  policies and
 * meta are borrowed.  Returns the stored token object (borrowed). */
json_t *vs_token_create(struct vs_state *st, const char *id, json_t *policies,
    json_t *meta, const char *display_name, const char *path, long ttl,
    long max_ttl, bool renewable, long num_uses);
json_t *vs_token_auth(json_t *tok);
json_t *vs_token_find(struct vs_state *st, const char *id);
bool vs_token_valid(json_t *tok);
int vs_token_revoke(struct vs_state *st, const char *id_or_accessor);
/* "read", "update", "create", "list", "delete". */
bool vs_acl_allows(struct vs_state *st, json_t *tok, const char *path,
    const char *cap);
void vs_token_handle(struct vs_req *r, const char *rest);
void vs_unwrap(struct vs_req *r);
void vs_wrap_lookup(struct vs_req *r);
/* Store a response under a new wrapping token, return its wrap_info. */
json_t *vs_wrap_response(struct vs_state *st, const char *id,
    json_t *response, long ttl, const char *creation_path);

/* ---- vs_auth.c ---- */
void vs_auth_handle(struct vs_req *r, struct vs_mount *m, const char *rest);
bool vs_auth_unauthenticated(struct vs_mount *m, const char *rest);
void vs_cert_role_free(struct vs_cert_role *c);
int vs_auth_setup(struct vs_state *st, struct err *e);

/* ---- vs_kv.c ---- */
void vs_kv_handle(struct vs_req *r, struct vs_mount *m, const char *rest);
bool vs_kv_exists(struct vs_mount *m, const char *rest);
int vs_kv_put(struct vs_mount *m, const char *path, json_t *data,
    struct err *e);

/* ---- vs_sectigo.c ---- */
int vs_sectigo_setup(struct vs_state *st, struct err *e);
void vs_sectigo_free(struct vs_sectigo *s);
void vs_sectigo_handle(struct vs_req *r, struct vs_mount *m, const char *rest);
/* /_test/sectigo[/<op>] (op after "sectigo", "" or "/approve", ...). */
void vs_sectigo_ctl(struct vs_req *r, json_t *in, const char *op);
/* Counters of every Sectigo mount: mount -> config -> {enroll: n, ...}. */
json_t *vs_sectigo_counters(struct vs_state *st);
void vs_sectigo_counters_reset(struct vs_state *st);

/* ---- vs_ctl.c ---- */
void vs_ctl_handle(struct vs_req *r);
struct vs_fault *vs_fault_match(struct vs_state *st, struct vs_req *r);
void vs_fault_free(struct vs_fault *f);

#endif
