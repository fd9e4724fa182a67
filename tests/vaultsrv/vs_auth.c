/*
 * vs_auth.c — the login methods of vaultsrv: AppRole (login, role-id,
 * secret-id), TLS certificates, Kubernetes and JWT, and their set-up from
 * the config.
 *
 * Kubernetes and JWT logins check the JWT's compact form and compare it
 * with the role's accepted token (inline, or read from a file at each login
 * so tests can rotate it); signatures are not verified.  Cert login
 * verifies the TLS client certificate against each entry's trusted
 * certificates, every one of which is a trust anchor as in Go's x509 (hence
 * X509_V_FLAG_PARTIAL_CHAIN), for the clientAuth purpose, then applies the
 * entry's allowed_common_names.  Error texts are Vault 1.7's.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "vs.h"
#include "xalloc.h"

/* ---- AppRole ---- */

static json_t *
secret_id_new(struct vs_state *st, struct vs_mount *m, const char *role,
    const char *id, long ttl, long uses)
{
	char *sid = id ? xstrdup(id) : vs_uuid(), *acc = vs_uuid();
	time_t now = time(NULL);
	json_t *s = json_pack("{ss ss ss ss sI sI sI}", "secret_id", sid,
	    "secret_id_accessor", acc, "role", role, "mount", m->path,
	    "expire", (json_int_t)(ttl > 0 ? now + ttl : 0),
	    "uses_left", (json_int_t)uses, "secret_id_ttl", (json_int_t)ttl);

	json_object_set_new(st->secret_ids, sid, s);
	free(sid);
	free(acc);
	return s;
}

static void
approle_login(struct vs_req *r, struct vs_mount *m)
{
	const char *role_id = vs_jstr(r->json, "role_id");
	const char *secret = vs_jstr(r->json, "secret_id");
	const char *name = NULL, *k;
	json_t *role = NULL, *v, *s = NULL, *pol, *meta, *tok;
	long exp, uses;

	if (role_id == NULL || *role_id == '\0') {
		vs_reply_error(r, 400, "missing role_id");
		return;
	}
	json_object_foreach(m->roles, k, v) {
		if (vs_jstr(v, "role_id") && strcmp(vs_jstr(v, "role_id"), role_id) == 0) {
			name = k;
			role = v;
		}
	}
	if (role == NULL) {
		vs_reply_error(r, 400, "invalid role ID");
		return;
	}
	if (vs_jbool(role, "bind_secret_id", true)) {
		if (secret == NULL || *secret == '\0') {
			vs_reply_error(r, 400, "missing secret_id");
			return;
		}
		s = json_object_get(r->st->secret_ids, secret);
		exp = vs_jint(s, "expire", 0);
		if (s == NULL || strcmp(vs_jstr(s, "role"), name) != 0 ||
		    strcmp(vs_jstr(s, "mount"), m->path) != 0 ||
		    (exp != 0 && time(NULL) >= exp)) {
			vs_reply_error(r, 400, "invalid secret id");
			return;
		}
		uses = vs_jint(s, "uses_left", 0);
		if (uses == 1)
			json_object_del(r->st->secret_ids, secret);
		else if (uses > 1)
			json_object_set_new(s, "uses_left", json_integer(uses - 1));
	}
	pol = vs_policy_list(json_object_get(role, "token_policies"),
	    !vs_jbool(role, "token_no_default_policy", false));
	meta = json_pack("{ss}", "role_name", name);
	tok = vs_token_create(r->st, NULL, pol, meta, "approle",
	    "auth/approle/login", vs_jint(role, "token_ttl", VS_SYSTEM_TTL),
	    vs_jint(role, "token_max_ttl", 0), true,
	    vs_jint(role, "token_num_uses", 0));
	json_decref(pol);
	json_decref(meta);
	vs_reply_auth(r, tok, NULL);
}

static void
approle_role(struct vs_req *r, struct vs_mount *m, const char *rest)
{
	char name[256];
	const char *slash = strchr(rest, '/'), *op;
	json_t *role, *s;
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

	if (*rest == '\0' && r->method == VS_LIST) {
		json_t *keys = json_array();
		const char *k;
		json_t *v;

		json_object_foreach(m->roles, k, v)
			json_array_append_new(keys, json_string(k));
		vs_reply_data(r, json_pack("{so}", "keys", keys));
		return;
	}
	if (n >= sizeof(name) || (role = json_object_get(m->roles,
	    (snprintf(name, sizeof(name), "%.*s", (int)n, rest), name))) == NULL) {
		vs_reply_errorf(r, 400, "role \"%.*s\" does not exist", (int)n, rest);
		return;
	}
	op = slash ? slash + 1 : "";
	if (strcmp(op, "role-id") == 0 && r->method == VS_GET) {
		vs_reply_data(r, json_pack("{ss}", "role_id", vs_jstr(role,
		    "role_id")));
	} else if (strcmp(op, "secret-id") == 0 &&
	    (r->method == VS_POST || r->method == VS_PUT)) {
		s = secret_id_new(r->st, m, name, NULL,
		    vs_jint(role, "secret_id_ttl", 0),
		    vs_jint(role, "secret_id_num_uses", 0));
		vs_reply_data(r, json_pack("{sssssI}",
		    "secret_id", vs_jstr(s, "secret_id"),
		    "secret_id_accessor", vs_jstr(s, "secret_id_accessor"),
		    "secret_id_ttl", (json_int_t)vs_jint(s, "secret_id_ttl", 0)));
	} else if (*op == '\0' && r->method == VS_GET) {
		json_t *o = json_deep_copy(role);

		json_object_del(o, "role_id");
		json_object_del(o, "secret_ids");
		json_object_del(o, "wrapped_secret_ids");
		vs_reply_data(r, o);
	} else {
		vs_reply_errorf(r, 405, "unsupported operation");
	}
}

/* ---- TLS certificates ---- */

static bool
cert_verifies(struct vs_cert_role *c, X509 *leaf, STACK_OF(X509) *chain)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;
	int i;

	for (i = 0; i < sk_X509_num(c->trusted); i++)
		X509_STORE_add_cert(store, sk_X509_value(c->trusted, i));
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	if (X509_STORE_CTX_init(ctx, store, leaf, chain) == 1) {
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
		ok = X509_verify_cert(ctx) == 1;
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static bool
cert_constraints(struct vs_cert_role *c, const char *cn)
{
	size_t i;
	json_t *v;

	if (json_array_size(c->allowed_common_names) == 0)
		return true;
	json_array_foreach(c->allowed_common_names, i, v)
		if (fnmatch(json_string_value(v), cn, 0) == 0)
			return true;
	return false;
}

static char *
octets_hex(const ASN1_OCTET_STRING *o)
{
	if (o == NULL)
		return xstrdup("");
	return vs_hex_colon(ASN1_STRING_get0_data(o), (size_t)ASN1_STRING_length(o));
}

static void
cert_login(struct vs_req *r, struct vs_mount *m)
{
	const char *name = vs_jstr(r->json, "name");
	struct vs_cert_role *c, *match = NULL;
	bool verified = false;
	char *cn, *ski, *aki, *dec, *dn;
	BIGNUM *bn;
	json_t *meta, *pol, *tok;

	if (!r->tls) {
		vs_reply_error(r, 400, "tls connection required");
		return;
	}
	if (r->peer == NULL) {
		vs_reply_error(r, 400, "client certificate must be supplied");
		return;
	}
	cn = vs_name_cn(X509_get_subject_name(r->peer));
	for (c = m->cert_roles; c != NULL && match == NULL; c = c->next) {
		if (name != NULL && *name != '\0' && strcmp(name, c->name) != 0)
			continue;
		if (!cert_verifies(c, r->peer, r->peer_chain))
			continue;
		verified = true;
		if (cert_constraints(c, cn))
			match = c;
	}
	if (match == NULL) {
		vs_reply_error(r, 400, verified ? "no chain matching all constraints "
		    "could be found for this login certificate" :
		    "invalid certificate or no client certificate supplied");
		free(cn);
		return;
	}
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(r->peer), NULL);
	dec = BN_bn2dec(bn);
	ski = octets_hex(X509_get0_subject_key_id(r->peer));
	aki = octets_hex(X509_get0_authority_key_id(r->peer));
	meta = json_pack("{ss ss ss ss ss}", "authority_key_id", aki,
	    "cert_name", match->name, "common_name", cn,
	    "serial_number", dec, "subject_key_id", ski);
	pol = vs_policy_list(match->policies, true);
	dn = xasprintf("cert-%s", match->display_name ? match->display_name :
	    match->name);
	tok = vs_token_create(r->st, NULL, pol, meta, dn, "auth/cert/login",
	    match->ttl > 0 ? match->ttl : VS_SYSTEM_TTL, match->max_ttl, true, 0);
	vs_reply_auth(r, tok, NULL);
	json_decref(pol);
	json_decref(meta);
	OPENSSL_free(dec);
	BN_free(bn);
	free(ski);
	free(aki);
	free(cn);
	free(dn);
}

/* ---- Kubernetes and JWT ---- */

/* Decode one base64url JWT segment as a JSON object. */
static json_t *
jwt_segment(const char *s, size_t n)
{
	size_t pad = (4 - n % 4) % 4, i;
	char *b64 = xmalloc(n + pad + 1);
	unsigned char *raw = xmalloc(n + pad + 1);
	int len;
	json_t *o = NULL;

	for (i = 0; i < n; i++)
		b64[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	for (i = 0; i < pad; i++)
		b64[n + i] = '=';
	len = EVP_DecodeBlock(raw, (unsigned char *)b64, (int)(n + pad));
	if (len >= 0) {
		len -= (int)pad;	/* EVP_DecodeBlock counts padding bytes */
		if (len >= 0)
			o = json_loadb((const char *)raw, (size_t)len, 0, NULL);
	}
	free(b64);
	free(raw);
	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Check the compact JWS form; returns the claims or NULL. */
static json_t *
jwt_claims(const char *jwt)
{
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	json_t *hdr, *claims;

	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL ||
	    d2[1] == '\0')
		return NULL;
	hdr = jwt_segment(jwt, (size_t)(d1 - jwt));
	if (hdr == NULL || vs_jstr(hdr, "alg") == NULL) {
		json_decref(hdr);
		return NULL;
	}
	json_decref(hdr);
	claims = jwt_segment(d1 + 1, (size_t)(d2 - d1 - 1));
	return claims;
}

static char *
accepted_jwt(json_t *role)
{
	const char *file = vs_jstr(role, "jwt_file");
	char *s;
	size_t n;

	if (file == NULL)
		return xstrdup(vs_jstr(role, "jwt") ? vs_jstr(role, "jwt") : "");
	s = vs_read_file(file, 1u << 20, &n);
	if (s == NULL)
		return xstrdup("");
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

static bool
bound_ok(json_t *role, const char *key, const char *value)
{
	json_t *list = json_object_get(role, key), *v;
	size_t i;

	if (json_array_size(list) == 0)
		return true;
	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), "*") == 0 ||
		    strcmp(json_string_value(v), value) == 0)
			return true;
	return false;
}

static void
jwt_login(struct vs_req *r, struct vs_mount *m)
{
	bool k8s = m->type == VS_MOUNT_K8S;
	const char *name = vs_jstr(r->json, "role");
	const char *jwt = vs_jstr(r->json, "jwt");
	json_t *role, *claims = NULL, *meta = NULL, *pol = NULL, *tok;
	const char *sa, *ns, *sub;
	char *want = NULL, *dn = NULL, *login_path = NULL;

	if (name == NULL || *name == '\0') {
		vs_reply_error(r, 400, "missing role");
		return;
	}
	if (jwt == NULL || *jwt == '\0') {
		vs_reply_error(r, 400, "missing jwt");
		return;
	}
	if ((role = json_object_get(m->roles, name)) == NULL) {
		if (k8s)
			vs_reply_errorf(r, 400, "invalid role name \"%s\"", name);
		else
			vs_reply_errorf(r, 400, "role \"%s\" could not be found", name);
		return;
	}
	if ((claims = jwt_claims(jwt)) == NULL) {
		vs_reply_error(r, 400, k8s ? "not a compact JWS" :
		    "error validating token: malformed JWT");
		return;
	}
	want = accepted_jwt(role);
	if (strcmp(want, jwt) != 0) {
		if (k8s)
			vs_reply_error(r, 403, "permission denied");
		else
			vs_reply_error(r, 400, "error validating token: invalid "
			    "signature");
		goto out;
	}
	sa = vs_jstr(claims, "kubernetes.io/serviceaccount/service-account.name");
	ns = vs_jstr(claims, "kubernetes.io/serviceaccount/namespace");
	sub = vs_jstr(claims, "sub");
	if (k8s && !bound_ok(role, "bound_service_account_names", sa ? sa : "")) {
		vs_reply_error(r, 403, "service account name not authorized");
		goto out;
	}
	if (k8s && !bound_ok(role, "bound_service_account_namespaces",
	    ns ? ns : "")) {
		vs_reply_error(r, 403, "namespace not authorized");
		goto out;
	}
	if (k8s) {
		meta = json_pack("{ss ss ss ss ss}", "role", name,
		    "service_account_name", sa ? sa : "",
		    "service_account_namespace", ns ? ns : "",
		    "service_account_secret_name", vs_jstr(claims,
		    "kubernetes.io/serviceaccount/secret.name") ? vs_jstr(claims,
		    "kubernetes.io/serviceaccount/secret.name") : "",
		    "service_account_uid", vs_jstr(claims,
		    "kubernetes.io/serviceaccount/service-account.uid") ?
		    vs_jstr(claims,
		    "kubernetes.io/serviceaccount/service-account.uid") : "");
		dn = xasprintf("%s-%s-%s", "kubernetes", ns ? ns : "", sa ? sa : "");
	} else {
		meta = json_pack("{ss}", "role", name);
		dn = xasprintf("%s-%s", "jwt", sub ? sub : "");
	}
	pol = vs_policy_list(json_object_get(role, "policies"), true);
	login_path = xasprintf("%s/login", m->path);
	tok = vs_token_create(r->st, NULL, pol, meta, dn, login_path,
	    vs_jint(role, "ttl", VS_SYSTEM_TTL), vs_jint(role, "max_ttl", 0),
	    true, 0);
	vs_reply_auth(r, tok, NULL);
out:
	json_decref(claims);
	json_decref(meta);
	json_decref(pol);
	free(want);
	free(dn);
	free(login_path);
}

/* ---- dispatch and setup ---- */

bool
vs_auth_unauthenticated(struct vs_mount *m, const char *rest)
{
	(void)m;
	return strcmp(rest, "login") == 0;
}

void
vs_auth_handle(struct vs_req *r, struct vs_mount *m, const char *rest)
{
	bool write = r->method == VS_POST || r->method == VS_PUT;

	if (strcmp(rest, "login") == 0 && write) {
		switch (m->type) {
		case VS_MOUNT_APPROLE: approle_login(r, m); return;
		case VS_MOUNT_CERT: cert_login(r, m); return;
		default: jwt_login(r, m); return;
		}
	}
	if (m->type == VS_MOUNT_APPROLE && (strcmp(rest, "role") == 0 ||
	    strncmp(rest, "role/", 5) == 0)) {
		approle_role(r, m, rest[4] == '/' ? rest + 5 : "");
		return;
	}
	vs_reply_errorf(r, 404, "no handler for route '%s'", r->path);
}

void
vs_cert_role_free(struct vs_cert_role *c)
{
	struct vs_cert_role *n;

	for (; c != NULL; c = n) {
		n = c->next;
		free(c->name);
		free(c->display_name);
		free(c->ca_mount);
		sk_X509_pop_free(c->trusted, X509_free);
		json_decref(c->policies);
		json_decref(c->allowed_common_names);
		free(c);
	}
}

static int
setup_cert_entry(struct vs_state *st, struct vs_mount *m, const char *name,
    json_t *cfg, struct err *e)
{
	static const char *const keys[] = {"certificate", "certificate_file",
	    "ca_mount", "policies", "token_policies", "ttl", "token_ttl",
	    "max_ttl", "token_max_ttl", "allowed_common_names", "display_name",
	    NULL};
	struct vs_cert_role *c = xcalloc(1, sizeof(*c));
	const char *key, *pem = vs_jstr(cfg, "certificate");
	const char *file = vs_jstr(cfg, "certificate_file");
	const char *mount = vs_jstr(cfg, "ca_mount");
	struct vs_mount *pm;
	char *data = NULL;
	json_t *v;
	size_t i;

	c->name = xstrdup(name);
	c->next = m->cert_roles;
	m->cert_roles = c;
	json_object_foreach(cfg, key, v) {
		for (i = 0; keys[i] != NULL && strcmp(keys[i], key) != 0; i++)
			;
		if (keys[i] == NULL)
			return err_set(e, EINVAL, "%s.certs.%s: unknown key '%s'",
			    m->path, name, key);
	}
	if (file != NULL && (data = vs_read_file(file, 1u << 20, NULL)) == NULL)
		return err_set(e, ENOENT, "%s.certs.%s: cannot read %s", m->path,
		    name, file);
	if (data != NULL || pem != NULL)
		c->trusted = vs_pem_to_certs(data ? data : pem);
	free(data);
	if (mount != NULL) {
		pm = vs_mount_by_name(st, mount);
		if (pm == NULL || pm->pki == NULL)
			return err_set(e, EINVAL, "%s.certs.%s: no PKI mount %s",
			    m->path, name, mount);
		if (c->trusted == NULL)
			c->trusted = sk_X509_new_null();
		X509_up_ref(pm->pki->ca);
		sk_X509_push(c->trusted, pm->pki->ca);
	}
	if (c->trusted == NULL)
		return err_set(e, EINVAL, "%s.certs.%s: certificate, "
		    "certificate_file or ca_mount is required", m->path, name);
	c->policies = vs_jlist(json_object_get(cfg, "policies") ?
	    json_object_get(cfg, "policies") : json_object_get(cfg,
	    "token_policies"));
	c->ttl = vs_jint(cfg, "ttl", vs_jint(cfg, "token_ttl", 0));
	c->max_ttl = vs_jint(cfg, "max_ttl", vs_jint(cfg, "token_max_ttl", 0));
	c->allowed_common_names = vs_jlist(json_object_get(cfg,
	    "allowed_common_names"));
	if (vs_jstr(cfg, "display_name") != NULL)
		c->display_name = xstrdup(vs_jstr(cfg, "display_name"));
	return 0;
}

/* A wrapping token with a known id, as if "vault write -wrap-ttl=..
 * auth/approle/role/<name>/secret-id" had been run: tests can hand it to
 * certd without an API call.  v is "s.token" or {"token", "ttl"}. */
static void
wrap_secret_id(struct vs_state *st, struct vs_mount *m, const char *name,
    json_t *role, json_t *v)
{
	const char *id = json_is_string(v) ? json_string_value(v) :
	    vs_jstr(v, "token");
	struct vs_resp resp = {0};
	json_t *s, *env, *info;
	char *path;

	s = secret_id_new(st, m, name, NULL, vs_jint(role, "secret_id_ttl", 0),
	    vs_jint(role, "secret_id_num_uses", 0));
	resp.data = json_pack("{ss ss sI}", "secret_id", vs_jstr(s, "secret_id"),
	    "secret_id_accessor", vs_jstr(s, "secret_id_accessor"),
	    "secret_id_ttl", (json_int_t)vs_jint(s, "secret_id_ttl", 0));
	env = vs_envelope(&resp);
	path = xasprintf("%s/role/%s/secret-id", m->path, name);
	info = vs_wrap_response(st, id, env, vs_jint(v, "ttl", 3600), path);
	json_decref(info);
	json_decref(env);
	free(path);
}

static int
setup_role(struct vs_state *st, struct vs_mount *m, const char *name,
    json_t *cfg, struct err *e)
{
	static const char *const approle_keys[] = {"role_id", "secret_ids",
	    "bind_secret_id", "secret_id_ttl", "secret_id_num_uses",
	    "token_policies", "policies", "token_ttl", "token_max_ttl",
	    "token_num_uses", "token_no_default_policy", "wrapped_secret_ids",
	    NULL};
	static const char *const jwt_keys[] = {"jwt", "jwt_file", "policies",
	    "token_policies", "ttl", "token_ttl", "max_ttl", "token_max_ttl",
	    "bound_service_account_names", "bound_service_account_namespaces",
	    NULL};
	const char *const *keys = m->type == VS_MOUNT_APPROLE ? approle_keys :
	    jwt_keys;
	json_t *role = json_object(), *v;
	const char *key;
	size_t i;

	json_object_foreach(cfg, key, v) {
		for (i = 0; keys[i] != NULL && strcmp(keys[i], key) != 0; i++)
			;
		if (keys[i] == NULL) {
			json_decref(role);
			return err_set(e, EINVAL, "%s.roles.%s: unknown key '%s'",
			    m->path, name, key);
		}
		if (strcmp(key, "policies") == 0 || strcmp(key, "token_policies") == 0)
			json_object_set_new(role, m->type == VS_MOUNT_APPROLE ?
			    "token_policies" : "policies", vs_jlist(v));
		else if (strncmp(key, "bound_", 6) == 0)
			json_object_set_new(role, key, vs_jlist(v));
		else if (strcmp(key, "token_ttl") == 0 && m->type != VS_MOUNT_APPROLE)
			json_object_set(role, "ttl", v);
		else if (strcmp(key, "token_max_ttl") == 0 &&
		    m->type != VS_MOUNT_APPROLE)
			json_object_set(role, "max_ttl", v);
		else
			json_object_set(role, key, v);
	}
	if (m->type == VS_MOUNT_APPROLE) {
		char *rid = vs_uuid();

		if (vs_jstr(role, "role_id") == NULL)
			json_object_set_new(role, "role_id", json_string(rid));
		free(rid);
		json_array_foreach(json_object_get(cfg, "secret_ids"), i, v) {
			const char *sid = json_is_string(v) ? json_string_value(v) :
			    vs_jstr(v, "secret_id");

			if (sid == NULL) {
				json_decref(role);
				return err_set(e, EINVAL, "%s.roles.%s.secret_ids[%zu]: "
				    "expected a string or {secret_id, ttl, num_uses}",
				    m->path, name, i);
			}
			secret_id_new(st, m, name, sid, vs_jint(v, "ttl",
			    vs_jint(role, "secret_id_ttl", 0)), vs_jint(v, "num_uses",
			    vs_jint(role, "secret_id_num_uses", 0)));
		}
		json_array_foreach(json_object_get(cfg, "wrapped_secret_ids"), i, v)
			wrap_secret_id(st, m, name, role, v);
	}
	json_object_set_new(m->roles, name, role);
	return 0;
}

int
vs_auth_setup(struct vs_state *st, struct err *e)
{
	struct vs_mount *m;
	const char *name;
	json_t *cfg;
	int rc;

	for (m = st->mounts; m != NULL; m = m->next) {
		if (m->type == VS_MOUNT_CERT) {
			json_object_foreach(json_object_get(m->cfg, "certs"), name, cfg)
				if ((rc = setup_cert_entry(st, m, name, cfg, e)) < 0)
					return rc;
		} else if (m->type == VS_MOUNT_APPROLE || m->type == VS_MOUNT_K8S ||
		    m->type == VS_MOUNT_JWT) {
			json_object_foreach(json_object_get(m->cfg, "roles"), name, cfg)
				if ((rc = setup_role(st, m, name, cfg, e)) < 0)
					return rc;
		}
	}
	return 0;
}
