/*
 * vs_pki.c — vaultsrv's PKI secrets engine outside issuance: CA set-up
 * (generated root or intermediate, or loaded from files), the request
 * router of a PKI mount, fetch (ca, ca/pem, ca_chain, cert/<serial>, crl,
 * crl/pem), LIST certs, revoke, roles and config/urls.
 *
 * Every certificate is kept by serial, the CA's own too (Vault lists it),
 * unless the role says no_store.  ca_chain is the mount's CA alone, as the
 * recorded intermediate shows, unless ca_chain_include_root asks for the
 * issuers too.  Bare PEM is served without a trailing newline, as Vault does.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "vs.h"
#include "xalloc.h"

void
vs_pki_store(struct vs_pki *p, X509 *x)
{
	struct vs_cert *c = xcalloc(1, sizeof(*c));

	X509_up_ref(x);
	c->x509 = x;
	c->serial = vs_serial_str(X509_get0_serialNumber(x));
	c->next = p->certs;
	p->certs = c;
	p->ncerts++;
}

/* ---- fetch, list, revoke ---- */

static struct vs_cert *
find_cert(struct vs_pki *p, const char *serial)
{
	char *norm = xstrdup(serial), *c;
	struct vs_cert *x;

	for (c = norm; *c != '\0'; c++)
		*c = *c == '-' ? ':' : (char)tolower((unsigned char)*c);
	for (x = p->certs; x != NULL; x = x->next)
		if (strcmp(x->serial, norm) == 0)
			break;
	free(norm);
	return x;
}

static void
send_pem(struct vs_req *r, const char *ctype, char *pem)
{
	vs_send(r, 200, ctype, pem, strlen(pem), NULL);
	free(pem);
}

static char *
chain_pem(struct vs_pki *p)
{
	struct buf b = BUF_INIT;
	char *s;
	int i;

	for (i = 0; i < sk_X509_num(p->chain); i++) {
		s = vs_pem_cert(sk_X509_value(p->chain, i));
		buf_printf(&b, "%s%s", i ? "\n" : "", s);
		free(s);
	}
	return buf_steal(&b);
}

static void
send_crl(struct vs_req *r, struct vs_pki *p, bool pem)
{
	struct err e = {{0}};
	X509_CRL *crl = vs_make_crl(p, &e);
	unsigned char *der = NULL;
	int len;

	if (crl == NULL) {
		vs_reply_error(r, 500, e.msg);
		return;
	}
	if (pem) {
		send_pem(r, "application/pkix-crl", vs_pem_crl(crl));
	} else {
		len = i2d_X509_CRL(crl, &der);
		vs_send(r, 200, "application/pkix-crl", der, len > 0 ? (size_t)len : 0,
		    NULL);
		OPENSSL_free(der);
	}
	X509_CRL_free(crl);
}

static void
fetch_cert(struct vs_req *r, struct vs_pki *p, const char *serial)
{
	struct vs_cert *c;
	char *pem;
	json_t *data;

	if (strcmp(serial, "ca") == 0)
		pem = vs_pem_cert(p->ca);
	else if (strcmp(serial, "ca_chain") == 0)
		pem = chain_pem(p);
	else if (strcmp(serial, "crl") == 0) {
		X509_CRL *crl = vs_make_crl(p, NULL);

		pem = crl ? vs_pem_crl(crl) : xstrdup("");
		X509_CRL_free(crl);
	} else if ((c = find_cert(p, serial)) != NULL) {
		pem = vs_pem_cert(c->x509);
		data = json_pack("{ss sI}", "certificate", pem,
		    "revocation_time", (json_int_t)c->revoked);
		free(pem);
		vs_reply_data(r, data);
		return;
	} else {
		vs_reply_error(r, 404, NULL);
		return;
	}
	data = json_pack("{ss sI}", "certificate", pem, "revocation_time",
	    (json_int_t)0);
	free(pem);
	vs_reply_data(r, data);
}

static int
serial_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	    json_string_value(*(json_t *const *)b));
}

static void
list_certs(struct vs_req *r, struct vs_pki *p)
{
	json_t **v = xcalloc(p->ncerts + 1, sizeof(*v)), *keys = json_array();
	struct vs_cert *c;
	size_t n = 0, i;
	char *s, *q;

	for (c = p->certs; c != NULL; c = c->next) {
		s = xstrdup(c->serial);
		for (q = s; *q != '\0'; q++)
			if (*q == ':')
				*q = '-';
		v[n++] = json_string(s);
		free(s);
	}
	qsort(v, n, sizeof(*v), serial_cmp);
	for (i = 0; i < n; i++)
		json_array_append_new(keys, v[i]);
	free(v);
	vs_reply_data(r, json_pack("{so}", "keys", keys));
}

static void
revoke(struct vs_req *r, struct vs_pki *p)
{
	const char *serial = vs_jstr(r->json, "serial_number");
	struct vs_cert *c;
	char *t;

	if (serial == NULL || *serial == '\0') {
		vs_reply_error(r, 400, "The serial number must be provided");
		return;
	}
	if ((c = find_cert(p, serial)) == NULL) {
		vs_reply_errorf(r, 400, "certificate with serial %s not found",
		    serial);
		return;
	}
	if (X509_cmp(c->x509, p->ca) == 0) {
		vs_reply_error(r, 400, "adding CA to CRL is not allowed");
		return;
	}
	if (c->revoked == 0)
		vs_now(&c->revoked, &c->revoked_nsec);
	t = vs_rfc3339(c->revoked, c->revoked_nsec);
	vs_reply_data(r, json_pack("{sI ss}", "revocation_time",
	    (json_int_t)c->revoked, "revocation_time_rfc3339", t));
	free(t);
}

/* ---- roles and config ---- */

static void
roles(struct vs_req *r, struct vs_pki *p, const char *name)
{
	json_t *role, *merged, *norm;
	const char *k;
	json_t *v;
	struct err e = {{0}};

	if (*name == '\0') {
		json_t *keys = json_array();

		if (r->method != VS_LIST) {
			vs_reply_errorf(r, 405, "unsupported operation");
			return;
		}
		json_object_foreach(p->roles, k, v)
			json_array_append_new(keys, json_string(k));
		vs_reply_data(r, json_pack("{so}", "keys", keys));
		return;
	}
	role = json_object_get(p->roles, name);
	switch (r->method) {
	case VS_GET:
		if (role == NULL)
			vs_reply_error(r, 404, NULL);
		else
			vs_reply_data(r, json_deep_copy(role));
		return;
	case VS_DELETE:
		json_object_del(p->roles, name);
		vs_reply_204(r);
		return;
	case VS_POST:
	case VS_PUT:
		merged = role ? json_deep_copy(role) : json_object();
		json_object_update(merged, r->json);
		if (vs_role_normalize(merged, &norm, &e) < 0) {
			vs_reply_error(r, 400, e.msg);
		} else {
			json_object_set_new(p->roles, name, norm);
			vs_reply_204(r);
		}
		json_decref(merged);
		return;
	default:
		vs_reply_errorf(r, 405, "unsupported operation");
	}
}

static void
config_urls(struct vs_req *r, struct vs_pki *p)
{
	json_t *v;

	if (r->method == VS_GET) {
		vs_reply_data(r, json_pack("{sO sO s[]}", "issuing_certificates",
		    p->aia_urls, "crl_distribution_points", p->crl_urls,
		    "ocsp_servers"));
		return;
	}
	if ((v = json_object_get(r->json, "issuing_certificates")) != NULL) {
		json_decref(p->aia_urls);
		p->aia_urls = vs_jlist(v);
	}
	if ((v = json_object_get(r->json, "crl_distribution_points")) != NULL) {
		json_decref(p->crl_urls);
		p->crl_urls = vs_jlist(v);
	}
	vs_reply_204(r);
}

bool
vs_pki_unauthenticated(const char *rest)
{
	return strcmp(rest, "ca") == 0 || strcmp(rest, "ca/pem") == 0 ||
	    strcmp(rest, "ca_chain") == 0 || strcmp(rest, "crl") == 0 ||
	    strcmp(rest, "crl/pem") == 0 || strncmp(rest, "cert/", 5) == 0;
}

void
vs_pki_handle(struct vs_req *r, struct vs_mount *m, const char *rest)
{
	struct vs_pki *p = m->pki;
	bool get = r->method == VS_GET || r->method == VS_HEAD;
	bool write = r->method == VS_POST || r->method == VS_PUT;
	unsigned char *der = NULL;
	int len;

	if (write && strncmp(rest, "issue/", 6) == 0)
		vs_pki_issue(r, m, rest + 6, false, false);
	else if (write && strncmp(rest, "sign/", 5) == 0)
		vs_pki_issue(r, m, rest + 5, true, false);
	else if (write && (strcmp(rest, "sign-verbatim") == 0 ||
	    strncmp(rest, "sign-verbatim/", 14) == 0))
		vs_pki_issue(r, m, "", true, true);
	else if (get && strcmp(rest, "ca/pem") == 0)
		send_pem(r, "application/pkix-cert", vs_pem_cert(p->ca));
	else if (get && strcmp(rest, "ca") == 0) {
		len = i2d_X509(p->ca, &der);
		vs_send(r, 200, "application/pkix-cert", der,
		    len > 0 ? (size_t)len : 0, NULL);
		OPENSSL_free(der);
	} else if (get && strcmp(rest, "ca_chain") == 0)
		send_pem(r, "application/pkix-cert", chain_pem(p));
	else if (get && strcmp(rest, "crl/pem") == 0)
		send_crl(r, p, true);
	else if (get && strcmp(rest, "crl") == 0)
		send_crl(r, p, false);
	else if (get && strncmp(rest, "cert/", 5) == 0)
		fetch_cert(r, p, rest + 5);
	else if (r->method == VS_LIST && strcmp(rest, "certs") == 0)
		list_certs(r, p);
	else if (write && strcmp(rest, "revoke") == 0)
		revoke(r, p);
	else if (strcmp(rest, "roles") == 0)
		roles(r, p, "");
	else if (strncmp(rest, "roles/", 6) == 0)
		roles(r, p, rest + 6);
	else if (strcmp(rest, "config/urls") == 0)
		config_urls(r, p);
	else
		vs_reply_errorf(r, 404, "no handler for route '%s'", r->path);
}

/* ---- set-up ---- */

void
vs_pki_free(struct vs_pki *p)
{
	struct vs_cert *c, *n;

	for (c = p->certs; c != NULL; c = n) {
		n = c->next;
		X509_free(c->x509);
		free(c->serial);
		free(c);
	}
	X509_free(p->ca);
	EVP_PKEY_free(p->ca_key);
	sk_X509_pop_free(p->chain, X509_free);
	sk_X509_pop_free(p->full, X509_free);
	json_decref(p->roles);
	json_decref(p->aia_urls);
	json_decref(p->crl_urls);
	free(p);
}

static int
load_ca(struct vs_pki *p, json_t *ca, const char *where, struct err *e)
{
	const char *cf = vs_jstr(ca, "cert_file"), *kf = vs_jstr(ca, "key_file");
	const char *chf = vs_jstr(ca, "chain_file");
	char *certs = NULL, *key = NULL, *chain = NULL;
	STACK_OF(X509) *sk = NULL, *more = NULL;
	int rc = 0;

	if (kf == NULL)
		return err_set(e, EINVAL, "%s.ca: key_file is required with cert_file",
		    where);
	certs = vs_read_file(cf, 1u << 20, NULL);
	key = vs_read_file(kf, 1u << 20, NULL);
	chain = chf ? vs_read_file(chf, 1u << 20, NULL) : NULL;
	if (certs == NULL || key == NULL || (chf != NULL && chain == NULL)) {
		rc = err_set(e, ENOENT, "%s.ca: cannot read the CA files", where);
		goto out;
	}
	sk = vs_pem_to_certs(certs);
	p->ca_key = vs_pem_to_key(key);
	if (sk == NULL || p->ca_key == NULL ||
	    X509_check_private_key(sk_X509_value(sk, 0), p->ca_key) != 1) {
		rc = err_set(e, EINVAL, "%s.ca: bad CA certificate or key", where);
		goto out;
	}
	if (chain != NULL && (more = vs_pem_to_certs(chain)) != NULL)
		while (sk_X509_num(more) > 0)
			sk_X509_push(sk, sk_X509_shift(more));
	p->ca = sk_X509_value(sk, 0);
	X509_up_ref(p->ca);
	p->full = sk;
	sk = NULL;
out:
	ERR_clear_error();
	sk_X509_pop_free(sk, X509_free);
	sk_X509_pop_free(more, X509_free);
	free(certs);
	if (key != NULL)
		xfree_secret(key, strlen(key));
	free(chain);
	return rc;
}

static int
make_ca(struct vs_state *st, struct vs_pki *p, json_t *ca, const char *where,
    struct err *e)
{
	const char *issuer_name = vs_jstr(ca, "issuer");
	const char *cn = vs_jstr(ca, "common_name");
	struct vs_mount *im = NULL;
	struct vs_certspec spec = {0};
	X509_NAME *name = X509_NAME_new();
	time_t now = time(NULL);
	int rc, i;
	char *dflt = NULL;

	if (issuer_name != NULL) {
		im = vs_mount_by_name(st, issuer_name);
		if (im == NULL || im->type != VS_MOUNT_PKI || im->pki == NULL) {
			rc = err_set(e, EINVAL, "%s.ca.issuer: %s is not a PKI mount "
			    "listed before this one", where, issuer_name);
			goto out;
		}
	}
	if (cn == NULL)
		cn = dflt = xasprintf("vaultsrv %s CA", where);
	if ((rc = vs_keygen(vs_jstr(ca, "key_type") ? vs_jstr(ca, "key_type") :
	    "ec", vs_jint(ca, "key_bits", 0), &p->ca_key, e)) < 0)
		goto out;
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	spec.subject = name;
	spec.pubkey = p->ca_key;
	spec.not_before = now - 30;
	spec.not_after = now + vs_jint(ca, "ttl", im ? 43800L * 3600 :
	    87600L * 3600);
	spec.is_ca = true;
	spec.max_path_len = (int)vs_jint(ca, "max_path_length", -1);
	spec.ku = KU_KEY_CERT_SIGN | KU_CRL_SIGN;
	if (im != NULL) {
		spec.aia = im->pki->aia_urls;
		spec.crl_dp = im->pki->crl_urls;
	}
	rc = vs_sign_cert(&spec, im ? im->pki->ca : NULL,
	    im ? im->pki->ca_key : p->ca_key, &p->ca, e);
	if (rc < 0)
		goto out;
	p->full = sk_X509_new_null();
	X509_up_ref(p->ca);
	sk_X509_push(p->full, p->ca);
	for (i = 0; im != NULL && i < sk_X509_num(im->pki->full); i++) {
		X509_up_ref(sk_X509_value(im->pki->full, i));
		sk_X509_push(p->full, sk_X509_value(im->pki->full, i));
	}
	if (im != NULL)
		vs_pki_store(im->pki, p->ca);	/* the issuer lists what it signed */
out:
	X509_NAME_free(name);
	free(dflt);
	return rc;
}

static int
setup_mount(struct vs_state *st, struct vs_mount *m, struct err *e)
{
	struct vs_pki *p = xcalloc(1, sizeof(*p));
	json_t *cfg = m->cfg, *ca = json_object_get(cfg, "ca"), *role;
	const char *name;
	int rc, i;

	m->pki = p;
	p->roles = json_object();
	p->aia_urls = vs_jlist(json_object_get(cfg, "issuing_certificates"));
	p->crl_urls = vs_jlist(json_object_get(cfg, "crl_distribution_points"));
	p->default_ttl = vs_jint(cfg, "default_ttl", VS_SYSTEM_TTL);
	p->max_ttl = vs_jint(cfg, "max_ttl", VS_SYSTEM_TTL);
	if (vs_jstr(ca, "cert_file") != NULL)
		rc = load_ca(p, ca, m->path, e);
	else
		rc = make_ca(st, p, ca, m->path, e);
	if (rc < 0)
		return rc;
	p->root = sk_X509_value(p->full, sk_X509_num(p->full) - 1);
	p->chain = sk_X509_new_null();
	for (i = 0; i < sk_X509_num(p->full); i++) {
		if (i > 0 && !vs_jbool(cfg, "ca_chain_include_root", false))
			break;
		X509_up_ref(sk_X509_value(p->full, i));
		sk_X509_push(p->chain, sk_X509_value(p->full, i));
	}
	vs_pki_store(p, p->ca);
	json_object_foreach(json_object_get(cfg, "roles"), name, role) {
		json_t *norm;

		if ((rc = vs_role_normalize(role, &norm, e)) < 0)
			return err_prefix(e, EINVAL, "%s.roles.%s", m->path, name);
		json_object_set_new(p->roles, name, norm);
	}
	return 0;
}

int
vs_pki_setup(struct vs_state *st, struct err *e)
{
	struct vs_mount *m;
	int rc;

	for (m = st->mounts; m != NULL; m = m->next)
		if (m->type == VS_MOUNT_PKI && (rc = setup_mount(st, m, e)) < 0)
			return rc;
	return 0;
}

int
vs_pki_server_cert(struct vs_state *st, const char *mount, X509 **cert,
    EVP_PKEY **key, STACK_OF(X509) **chain, struct err *e)
{
	struct vs_mount *m = vs_mount_by_name(st, mount);
	struct vs_certspec spec = {0};
	X509_NAME *name = NULL;
	time_t now = time(NULL);
	int rc, i;

	if (m == NULL || m->pki == NULL)
		return err_set(e, EINVAL, "--tls-auto: no PKI mount %s", mount);
	if ((rc = vs_keygen("ec", 256, key, e)) < 0)
		return rc;
	name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"localhost", -1, -1, 0);
	spec.subject = name;
	spec.pubkey = *key;
	spec.dns = json_pack("[s]", "localhost");
	spec.ips = json_pack("[ss]", "127.0.0.1", "::1");
	spec.not_before = now - 30;
	spec.not_after = now + 30L * 86400;
	spec.max_path_len = -1;
	spec.ku = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT;
	spec.eku = VS_EKU_SERVER;
	rc = vs_sign_cert(&spec, m->pki->ca, m->pki->ca_key, cert, e);
	json_decref(spec.dns);
	json_decref(spec.ips);
	X509_NAME_free(name);
	if (rc < 0) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return rc;
	}
	*chain = sk_X509_new_null();
	for (i = 0; i < sk_X509_num(m->pki->full); i++) {
		X509_up_ref(sk_X509_value(m->pki->full, i));
		sk_X509_push(*chain, sk_X509_value(m->pki->full, i));
	}
	return 0;
}
