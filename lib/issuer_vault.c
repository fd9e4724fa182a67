/*
 * issuer_vault.c — Vault's PKI secrets engine behind the issuer interface.
 *
 * sign mode (default): the key is generated on this host and only the CSR
 * goes to POST <mount>/sign/<role>; the key never leaves the host.  issue
 * mode: POST <mount>/issue/<role>, Vault generates the key and returns it
 * (wiped from the response as soon as it is parsed).
 *
 * The chain is assembled from what Vault returns: ca_chain when it is not
 * empty, else issuing_ca (Vault 1.7 leaves ca_chain empty or omits it when
 * the mount has no chain configured), else GET <mount>/ca_chain.  It is
 * verified by the job against trust_anchor when configured, else against
 * the top certificate of that chain (so the chain at least holds together
 * and ends where Vault says it does).
 *
 * Vault clamps a TTL above the role's max_ttl silently (no warning in the
 * response; see the pki-issue-ttl-over-max fixture).  A certificate that
 * is markedly shorter than requested carries a warning in the result, and
 * the job schedules from the real lifetime.
 *
 * Outcome mapping: VAULT_OK with a usable certificate → ISSUED; transient
 * (sealed, 5xx, 429, unreachable, bad response) → UNAVAILABLE; permanent
 * refusals and permission denied → REJECTED with Vault's own reason.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "conf.h"
#include "duration.h"
#include "fsutil.h"
#include "issuer.h"
#include "vault.h"
#include "xalloc.h"

/* A lifetime shorter than requested by more than this is "clamped". */
#define CLAMP_SLACK 60

struct vault_issuer {
	struct event_base *base;
	struct vault *vault;
};

struct vop {
	struct vault_issuer *vi;
	struct issuer_op *op;
	struct vault_op *req;
	const struct conf_cert *cc;
	int64_t ttl;
	char *path;
	struct issuer_result *res;   /* kept while the chain is fetched */
};

static void
vop_free(struct vop *p)
{
	free(p->path);
	issuer_result_free(p->res);
	free(p);
}

static void
finish(struct vop *p, struct issuer_result *res)
{
	struct issuer_op *op = p->op;

	if (p->res == res)
		p->res = NULL;
	vop_free(p);
	issuer_complete(op, res);
}

#define finish_error(p, outcome, retry_after, ...) \
	finish((p), issuer_result_errorf((outcome), (retry_after), __VA_ARGS__))

static const char *
json_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* Parse one PEM certificate field of data into chain (appended). */
static int
append_certs(STACK_OF(X509) *chain, const char *pem, struct err *e)
{
	STACK_OF(X509) *sk = NULL;
	int rc, i;

	rc = x509_chain_from_pem(pem, strlen(pem), false, &sk, e);
	if (rc < 0)
		return rc;
	for (i = 0; i < sk_X509_num(sk); i++) {
		X509 *c = sk_X509_value(sk, i);
		if (!X509_up_ref(c) || !sk_X509_push(chain, c))
			abort();
	}
	x509_chain_free(sk);
	return 0;
}

static void
check_lifetime(struct vop *p, struct issuer_result *res)
{
	time_t nb, na, now = time(NULL);
	char want[32], got[32];

	if (x509_lifetime(res->cert, &nb, &na, NULL) < 0)
		return;
	if ((int64_t)(na - now) + CLAMP_SLACK >= p->ttl)
		return;
	duration_format(p->ttl, want, sizeof(want));
	duration_format((int64_t)(na - now), got, sizeof(got));
	snprintf(res->warning, sizeof(res->warning),
		 "Vault issued a certificate valid for %s, shorter than the requested ttl %s "
		 "(the role's or mount's max_ttl limits it); renewals follow the real lifetime",
		 got, want);
}

static void
on_chain(struct vault_response *r, void *arg)
{
	struct vop *p = arg;
	struct issuer_result *res = p->res;
	struct err e = {{0}};

	p->req = NULL;
	if (r->cls != VAULT_OK) {
		finish_error(p, ISSUER_UNAVAILABLE, r->retry_after, "GET %s/ca_chain: %s", p->cc->mount,
			     r->error);
		return;
	}
	if (append_certs(res->chain, buf_str(&r->body), &e) < 0 || issuer_result_set_anchors(res, p->cc, &e) < 0) {
		finish_error(p, ISSUER_UNAVAILABLE, -1, "%s/ca_chain from %s: %s", p->cc->mount,
			     r->address, e.msg);
		return;
	}
	finish(p, res);
}

int
issuer_vault_parse_issued(json_t *data, bool need_key, struct issuer_result *res,
			  struct err *e)
{
	const json_t *chain_json;
	const char *cert, *issuing, *key;
	json_t *kv;
	size_t i;

	res->chain = sk_X509_new_null();
	if (res->chain == NULL)
		abort();
	/* The private key (issue mode) is wiped in place as soon as it is parsed. */
	kv = json_object_get(data, "private_key");
	key = json_is_string(kv) ? json_string_value(kv) : NULL;
	if (key != NULL) {
		int rc = x509_key_from_pem(key, json_string_length(kv), &res->key, e);
		OPENSSL_cleanse((char *)key, json_string_length(kv));
		if (rc < 0)
			return rc;
	} else if (need_key) {
		return err_set(e, EBADMSG, "no private_key in the response");
	}
	cert = json_str(data, "certificate");
	if (cert == NULL)
		return err_set(e, EBADMSG, "no certificate in the response");
	if (x509_cert_from_pem(cert, strlen(cert), &res->cert, e) < 0)
		return err_prefix(e, EBADMSG, "certificate");
	chain_json = json_object_get(data, "ca_chain");
	for (i = 0; json_is_array(chain_json) && i < json_array_size(chain_json); i++) {
		const json_t *c = json_array_get(chain_json, i);
		if (!json_is_string(c) || append_certs(res->chain, json_string_value(c), e) < 0)
			return err_prefix(e, EBADMSG, "ca_chain[%zu]", i);
	}
	issuing = json_str(data, "issuing_ca");
	if (sk_X509_num(res->chain) == 0 && issuing != NULL &&
	    append_certs(res->chain, issuing, e) < 0)
		return err_prefix(e, EBADMSG, "issuing_ca");
	return 0;
}

static void
on_issued(struct vault_response *r, void *arg)
{
	struct vop *p = arg;
	struct issuer_result *res;
	struct err e = {{0}};

	p->req = NULL;
	switch (r->cls) {
	case VAULT_OK:
		break;
	case VAULT_TRANSIENT:
		finish_error(p, ISSUER_UNAVAILABLE, r->retry_after, "%s", r->error);
		return;
	case VAULT_PERMANENT:
	case VAULT_DENIED:
	default:
		finish_error(p, ISSUER_REJECTED, -1, "%s: %s", p->path, r->error);
		return;
	}
	res = issuer_result_new(ISSUER_ISSUED);
	p->res = res;
	if (issuer_vault_parse_issued(r->data, p->cc->pki_mode == CONF_PKI_ISSUE, res, &e) < 0)
		goto bad;
	check_lifetime(p, res);
	if (sk_X509_num(res->chain) == 0) {
		char *path = xasprintf("%s/ca_chain", p->cc->mount);
		p->req = vault_request(p->vi->vault, "GET", path, NULL, on_chain, p);
		free(path);
		return;
	}
	if (issuer_result_set_anchors(res, p->cc, &e) < 0)
		goto bad;
	finish(p, res);
	return;
bad:
	finish_error(p, ISSUER_UNAVAILABLE, -1, "invalid response to %s from %s: %s", p->path,
		     r->address, e.msg);
}

static json_t *
comma_list(const struct conf_list *l)
{
	struct buf b = BUF_INIT;
	json_t *s;
	size_t i;

	for (i = 0; i < l->n; i++)
		buf_printf(&b, "%s%s", i ? "," : "", l->v[i]);
	s = json_string(buf_str(&b));
	buf_free(&b);
	return s;
}

static int
vault_start(void *impl, struct issuer_op *op, const struct issuer_request *req, struct err *e)
{
	struct vault_issuer *vi = impl;
	const struct conf_cert *cc = req->cc;
	struct buf csr = BUF_INIT;
	struct vop *p;
	json_t *body;
	char ttl[32];

	if (cc == NULL || cc->mount == NULL || cc->role == NULL)
		return err_set(e, EINVAL, "vault-pki needs mount and role");
	body = json_object();
	if (cc->pki_mode == CONF_PKI_SIGN) {
		if (req->csr == NULL || x509_csr_to_pem(req->csr, &csr, e) < 0) {
			json_decref(body);
			buf_free(&csr);
			return req->csr == NULL ? err_set(e, EINVAL, "sign mode needs a CSR") : -EINVAL;
		}
		json_object_set_new(body, "csr", json_stringn(csr.data, csr.len));
		buf_free(&csr);
	} else {
		json_object_set_new(body, "private_key_format", json_string("pkcs8"));
	}
	if (req->names.common_name != NULL)
		json_object_set_new(body, "common_name", json_string(req->names.common_name));
	if (cc->alt_names.n > 0)
		json_object_set_new(body, "alt_names", comma_list(&cc->alt_names));
	if (cc->ip_sans.n > 0)
		json_object_set_new(body, "ip_sans", comma_list(&cc->ip_sans));
	if (cc->uri_sans.n > 0)
		json_object_set_new(body, "uri_sans", comma_list(&cc->uri_sans));
	snprintf(ttl, sizeof(ttl), "%llds", (long long)req->ttl);
	json_object_set_new(body, "ttl", json_string(ttl));
	json_object_set_new(body, "format", json_string("pem"));
	if (req->exclude_cn_from_sans)
		json_object_set_new(body, "exclude_cn_from_sans", json_true());

	p = xcalloc(1, sizeof(*p));
	p->vi = vi;
	p->op = op;
	p->cc = cc;
	p->ttl = req->ttl;
	p->path = xasprintf("%s/%s/%s", cc->mount, cc->pki_mode == CONF_PKI_SIGN ? "sign" : "issue",
			    cc->role);
	issuer_op_set_data(op, p);
	p->req = vault_request(vi->vault, "POST", p->path, body, on_issued, p);
	json_decref(body);
	return 0;
}

static void
vault_cancel_op(void *impl, struct issuer_op *op)
{
	struct vop *p = issuer_op_data(op);

	(void)impl;
	if (p == NULL)
		return;
	vault_cancel(p->req);
	vop_free(p);
}

static STACK_OF(X509) *
vault_anchors(void *impl, const struct conf_cert *cc)
{
	struct err e = {{0}};

	(void)impl;
	/* Without a configured anchor, what Vault's CA is cannot be known
	 * without asking it: unknown, and the chain check is skipped when
	 * judging files already in place. */
	return issuer_trust_anchor(cc, &e);
}

static bool
vault_wants_csr(void *impl, const struct conf_cert *cc)
{
	(void)impl;
	return cc == NULL || cc->pki_mode == CONF_PKI_SIGN;
}

static void
vault_issuer_free(void *impl)
{
	free(impl);
}

static const struct issuer_backend vault_backend = {
	.name = "vault-pki",
	.start = vault_start,
	.cancel = vault_cancel_op,
	.anchors = vault_anchors,
	.wants_csr = vault_wants_csr,
	.free = vault_issuer_free,
};

struct issuer *
issuer_vault_new(struct event_base *base, struct vault *v)
{
	struct vault_issuer *vi = xcalloc(1, sizeof(*vi));

	vi->base = base;
	vi->vault = v;
	return issuer_new(&vault_backend, vi, base);
}
