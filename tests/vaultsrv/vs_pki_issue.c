/*
 * vs_pki_issue.c — certificate issuance of vaultsrv's PKI engine:
 * <mount>/issue/<role>, <mount>/sign/<role> and <mount>/sign-verbatim.
 *
 * Follows Vault 1.7's generateCreationBundle() step by step so that the
 * same request fails with the same message: common name (from the CSR when
 * use_csr_common_name), SANs (CSR or alt_names), name checks, IP and URI
 * SANs, then the TTL — request, else role ttl, else the mount default,
 * silently clamped to the role's max_ttl (else the mount max), an error
 * only when the result would outlive the CA.  Certificates carry what
 * Vault's do: KU/EKU from the role, SKI, AKI, AIA and CRL DP when
 * configured, SAN; notBefore is backdated by not_before_duration.  Response
 * formats pem, der and pem_bundle as certutil renders them.  Key generation
 * runs on the loop thread: acceptable in a test server (RSA-2048 takes tens
 * of milliseconds), and it keeps the server single-threaded.
 *
 * vs_pki_mutate() serves the "mutate" fault: it rewrites the certificate
 * of a successful response into one a client must refuse (another key,
 * another name, expired, a chain from an unrelated CA, trailing garbage),
 * still signed by the mount's CA unless the chain is the point.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "vs.h"
#include "xalloc.h"

struct issue {
	struct vs_req *r;
	struct vs_mount *m;
	struct vs_pki *p;
	json_t *role;              /* borrowed */
	X509_REQ *csr;
	EVP_PKEY *key;             /* issue: generated private key */
	X509 *cert;
	char *cn;
	json_t *dns, *emails, *ips, *uris, *warnings;
	time_t not_after;
	char err[1024];
};

static int __attribute__((format(printf, 2, 3)))
user_error(struct issue *is, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(is->err, sizeof(is->err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *
param_str(struct issue *is, const char *key)
{
	const char *s = vs_jstr(is->r->json, key);

	return s ? s : "";
}

static void
add_unique(json_t *list, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return;
	json_array_append_new(list, json_string(s));
}

static int
jstr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* strutil.ParseDedupLowercaseAndSortStrings over a comma list. */
static json_t *
lower_sorted(json_t *v)
{
	json_t *in = vs_jlist(v), *out = json_array();
	size_t n = json_array_size(in), i;
	char **s = xcalloc(n + 1, sizeof(*s)), *c;

	for (i = 0; i < n; i++) {
		s[i] = xstrdup(json_string_value(json_array_get(in, i)));
		for (c = s[i]; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	qsort(s, n, sizeof(*s), jstr_cmp);
	for (i = 0; i < n; i++) {
		if (i == 0 || strcmp(s[i], s[i - 1]) != 0)
			json_array_append_new(out, json_string(s[i]));
		free(s[i]);
	}
	free(s);
	json_decref(in);
	return out;
}

/* ---- CSR ---- */

static int
parse_csr(struct issue *is)
{
	const char *pem = param_str(is, "csr");
	BIO *bio;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *q;
	long len = 0;
	EVP_PKEY *pub;
	int rc = 0;

	if (*pem == '\0')
		return user_error(is, "\"csr\" is empty");
	bio = BIO_new_mem_buf(pem, -1);
	if (PEM_read_bio(bio, &name, &header, &der, &len) != 1) {
		rc = user_error(is, "csr contains no data");
		goto out;
	}
	q = der;
	is->csr = d2i_X509_REQ(NULL, &q, len);
	if (is->csr == NULL) {
		unsigned long code = ERR_peek_last_error();
		const char *reason = ERR_reason_error_string(code);

		rc = user_error(is, "certificate request could not be parsed: %s",
		    reason ? reason : "malformed ASN.1");
		goto out;
	}
	/* Stricter than Vault 1.7, which did not check: a CSR whose
	 * signature is wrong is a client bug worth failing on. */
	pub = X509_REQ_get0_pubkey(is->csr);
	if (pub == NULL || X509_REQ_verify(is->csr, pub) != 1)
		rc = user_error(is, "certificate request signature is invalid");
out:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	return rc;
}

static int
check_csr_key(struct issue *is)
{
	const char *want = vs_jstr(is->role, "key_type");
	EVP_PKEY *pub = X509_REQ_get0_pubkey(is->csr);
	const char *have = vs_key_type(pub);
	long bits = EVP_PKEY_get_bits(pub), min = vs_jint(is->role, "key_bits", 0);

	if (strcmp(want, "any") != 0 && strcmp(want, have) != 0)
		return user_error(is, "role requires keys of type %s", want);
	if (strcmp(have, "rsa") == 0 && bits < 2048)
		return user_error(is, "RSA keys < 2048 bits are unsafe and not "
		    "supported");
	if (strcmp(want, "any") != 0 && strcmp(have, "ed25519") != 0 && bits < min)
		return user_error(is, "role requires a minimum of a %ld-bit key, "
		    "but CSR's key is %ld bits", min, bits);
	return 0;
}

/* ---- names ---- */

static int
collect_names(struct issue *is)
{
	json_t *role = is->role, *csr_dns = NULL, *csr_ips = NULL,
	    *csr_em = NULL, *csr_uris = NULL, *alt, *v, *list;
	bool csr_sans = is->csr && vs_jbool(role, "use_csr_sans", true);
	char *csr_cn = NULL;
	const char *bad;
	size_t i;
	int rc = 0;

	is->dns = json_array();
	is->emails = json_array();
	is->ips = json_array();
	is->uris = json_array();
	if (is->csr != NULL)
		vs_csr_names(is->csr, &csr_cn, &csr_dns, &csr_ips, &csr_em,
		    &csr_uris);
	if (is->csr != NULL && vs_jbool(role, "use_csr_common_name", true) &&
	    *csr_cn != '\0')
		is->cn = xstrdup(csr_cn);
	else
		is->cn = xstrdup(param_str(is, "common_name"));
	if (*is->cn == '\0' && vs_jbool(role, "require_cn", true)) {
		rc = user_error(is, "the common_name field is required, or must be "
		    "provided in a CSR with \"use_csr_common_name\" set to true, "
		    "unless \"require_cn\" is set to false");
		goto out;
	}
	if (csr_sans) {
		json_array_foreach(csr_dns, i, v)
			add_unique(is->dns, json_string_value(v));
		json_array_foreach(csr_em, i, v)
			add_unique(is->emails, json_string_value(v));
	}
	if (*is->cn != '\0' && !vs_jbool(is->r->json, "exclude_cn_from_sans",
	    false)) {
		if (strchr(is->cn, '@') != NULL)
			add_unique(is->emails, is->cn);
		else if (vs_pki_hostname(is->cn))
			add_unique(is->dns, is->cn);
	}
	if (!csr_sans) {
		alt = lower_sorted(json_object_get(is->r->json, "alt_names"));
		json_array_foreach(alt, i, v) {
			const char *s = json_string_value(v);

			if (strchr(s, '@') != NULL)
				add_unique(is->emails, s);
			else if (vs_pki_hostname(s))
				add_unique(is->dns, s);
		}
		json_decref(alt);
	}
	if (*is->cn != '\0') {
		json_t *one = json_pack("[s]", is->cn);

		bad = vs_pki_bad_name(role, one);
		if (bad != NULL)
			rc = user_error(is, "common name %s not allowed by this role",
			    bad);
		json_decref(one);
		if (rc < 0)
			goto out;
	}
	if ((bad = vs_pki_bad_name(role, is->dns)) != NULL) {
		rc = user_error(is, "subject alternate name %s not allowed by this "
		    "role", bad);
		goto out;
	}
	if ((bad = vs_pki_bad_name(role, is->emails)) != NULL) {
		rc = user_error(is, "email address %s not allowed by this role", bad);
		goto out;
	}
	/* IP SANs */
	list = csr_sans ? json_incref(csr_ips) :
	    vs_jlist(json_object_get(is->r->json, "ip_sans"));
	if (json_array_size(list) > 0 && !vs_jbool(role, "allow_ip_sans", true)) {
		if (csr_sans) {
			rc = user_error(is, "IP Subject Alternative Names are not "
			    "allowed in this role, but was provided some via CSR");
		} else {
			struct buf b = BUF_INIT;

			json_array_foreach(list, i, v)
				buf_printf(&b, "%s%s", i ? " " : "", json_string_value(v));
			rc = user_error(is, "IP Subject Alternative Names are not "
			    "allowed in this role, but was provided [%s]", buf_str(&b));
			buf_free(&b);
		}
	}
	json_array_foreach(list, i, v) {
		unsigned char addr[16];
		const char *s = json_string_value(v);

		if (rc < 0)
			break;
		if (inet_pton(AF_INET, s, addr) != 1 &&
		    inet_pton(AF_INET6, s, addr) != 1)
			rc = user_error(is, "the value '%s' is not a valid IP address", s);
		else
			add_unique(is->ips, s);
	}
	json_decref(list);
	if (rc < 0)
		goto out;
	/* URI SANs against allowed_uri_sans globs */
	list = csr_sans ? json_incref(csr_uris) :
	    vs_jlist(json_object_get(is->r->json, "uri_sans"));
	json_array_foreach(list, i, v) {
		json_t *allowed = json_object_get(role, "allowed_uri_sans"), *a;
		size_t j;
		bool ok = false;

		json_array_foreach(allowed, j, a)
			if (vs_glob(json_string_value(a), json_string_value(v)))
				ok = true;
		if (json_array_size(allowed) == 0) {
			rc = user_error(is, "URI Subject Alternative Names are not "
			    "allowed in this role, but were provided via %s",
			    csr_sans ? "CSR" : "the API");
			break;
		}
		if (!ok) {
			rc = user_error(is, "URI Subject Alternative Names were "
			    "provided via CSR which are not valid for this role");
			break;
		}
		add_unique(is->uris, json_string_value(v));
	}
	json_decref(list);
out:
	free(csr_cn);
	json_decref(csr_dns);
	json_decref(csr_ips);
	json_decref(csr_em);
	json_decref(csr_uris);
	return rc;
}

/* ---- TTL ---- */

static int
compute_not_after(struct issue *is, time_t now)
{
	json_t *v = json_object_get(is->r->json, "ttl");
	long ttl = 0, max;
	const ASN1_TIME *ca_end = X509_get0_notAfter(is->p->ca);
	time_t ca_t = 0;
	struct tm tm;
	char *a, *b;

	if (v != NULL && !json_is_null(v) && vs_duration(v, &ttl) < 0)
		return user_error(is, "error converting input %s for field \"ttl\"",
		    json_is_string(v) ? json_string_value(v) : "value");
	if (ttl == 0)
		ttl = vs_jint(is->role, "ttl", 0);
	max = vs_jint(is->role, "max_ttl", 0);
	if (ttl == 0)
		ttl = is->p->default_ttl;
	if (max == 0)
		max = is->p->max_ttl;
	if (ttl > max)
		ttl = max;	/* Vault clamps silently, no warning */
	is->not_after = now + ttl;
	if (ASN1_TIME_to_tm(ca_end, &tm) == 1)
		ca_t = timegm(&tm);
	if (ca_t != 0 && is->not_after > ca_t) {
		a = vs_rfc3339(is->not_after, 0);
		b = vs_rfc3339(ca_t, 0);
		user_error(is, "cannot satisfy request, as TTL would result in "
		    "notAfter %s that is beyond the expiration of the CA "
		    "certificate at %s", a, b);
		free(a);
		free(b);
		return -EINVAL;
	}
	return 0;
}

/* ---- subject and usages ---- */

static X509_NAME *
build_subject(struct issue *is)
{
	static const struct {
		const char *field;
		const char *sn;
	} parts[] = {
		{"country", "C"}, {"province", "ST"}, {"locality", "L"},
		{"street_address", "street"}, {"postal_code", "postalCode"},
		{"organization", "O"}, {"ou", "OU"},
	};
	X509_NAME *n = X509_NAME_new();
	size_t i, j;
	json_t *v;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		json_array_foreach(json_object_get(is->role, parts[i].field), j, v)
			X509_NAME_add_entry_by_txt(n, parts[i].sn, MBSTRING_UTF8,
			    (const unsigned char *)json_string_value(v), -1, -1, 0);
	if (*is->cn != '\0')
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
		    (const unsigned char *)is->cn, -1, -1, 0);
	return n;
}

static unsigned int
key_usage_bits(json_t *list)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} map[] = {
		{"digitalsignature", KU_DIGITAL_SIGNATURE},
		{"contentcommitment", KU_NON_REPUDIATION},
		{"keyencipherment", KU_KEY_ENCIPHERMENT},
		{"dataencipherment", KU_DATA_ENCIPHERMENT},
		{"keyagreement", KU_KEY_AGREEMENT},
		{"certsign", KU_KEY_CERT_SIGN},
		{"crlsign", KU_CRL_SIGN},
		{"encipheronly", KU_ENCIPHER_ONLY},
		{"decipheronly", KU_DECIPHER_ONLY},
	};
	unsigned int bits = 0;
	size_t i, k;
	json_t *v;

	json_array_foreach(list, i, v)
		for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
			if (strcasecmp(json_string_value(v), map[k].name) == 0)
				bits |= map[k].bit;
	return bits;
}

static unsigned int
ext_usage_bits(json_t *role)
{
	unsigned int b = 0;
	json_t *v;
	size_t i;

	if (vs_jbool(role, "server_flag", true))
		b |= VS_EKU_SERVER;
	if (vs_jbool(role, "client_flag", true))
		b |= VS_EKU_CLIENT;
	if (vs_jbool(role, "code_signing_flag", false))
		b |= VS_EKU_CODE;
	if (vs_jbool(role, "email_protection_flag", false))
		b |= VS_EKU_EMAIL;
	json_array_foreach(json_object_get(role, "ext_key_usage"), i, v) {
		const char *s = json_string_value(v);

		if (strcasecmp(s, "ServerAuth") == 0)
			b |= VS_EKU_SERVER;
		else if (strcasecmp(s, "ClientAuth") == 0)
			b |= VS_EKU_CLIENT;
		else if (strcasecmp(s, "CodeSigning") == 0)
			b |= VS_EKU_CODE;
		else if (strcasecmp(s, "EmailProtection") == 0)
			b |= VS_EKU_EMAIL;
		else if (strcasecmp(s, "Any") == 0)
			b |= VS_EKU_ANY;
	}
	return b;
}

static int
sign_it(struct issue *is, bool verbatim, time_t now)
{
	struct vs_certspec spec = {0};
	X509_NAME *subj = NULL;
	struct err e = {{0}};
	int rc;

	subj = verbatim ? X509_NAME_dup(X509_REQ_get_subject_name(is->csr)) :
	    build_subject(is);
	spec.subject = subj;
	spec.pubkey = is->csr ? X509_REQ_get0_pubkey(is->csr) : is->key;
	spec.dns = is->dns;
	spec.emails = is->emails;
	spec.ips = is->ips;
	spec.uris = is->uris;
	spec.not_before = now - vs_jint(is->role, "not_before_duration", 30);
	spec.not_after = is->not_after;
	spec.max_path_len = -1;
	spec.ku = key_usage_bits(json_object_get(is->role, "key_usage"));
	spec.eku = ext_usage_bits(is->role);
	spec.bc_non_ca = vs_jbool(is->role, "basic_constraints_valid_for_non_ca",
	    false);
	spec.aia = is->p->aia_urls;
	spec.crl_dp = is->p->crl_urls;
	rc = vs_sign_cert(&spec, is->p->ca, is->p->ca_key, &is->cert, &e);
	X509_NAME_free(subj);
	if (rc < 0)
		return user_error(is, "error signing certificate: %s", e.msg);
	if (!vs_jbool(is->role, "no_store", false))
		vs_pki_store(is->p, is->cert);
	json_object_set_new(is->r->st->issued, is->m->path, json_integer(
	    vs_jint(is->r->st->issued, is->m->path, 0) + 1));
	return 0;
}

/* ---- response ---- */

static void
respond(struct issue *is, const char *format)
{
	struct vs_pki *p = is->p;
	bool der = strcmp(format, "der") == 0;
	bool pkcs8 = strcmp(param_str(is, "private_key_format"), "pkcs8") == 0;
	json_t *data = json_object(), *chain = json_array();
	struct vs_resp resp = {0};
	struct buf bundle = BUF_INIT;
	char *cert, *key = NULL, *s;
	int i;

	for (i = 0; i < sk_X509_num(p->chain); i++) {
		s = der ? vs_b64_cert(sk_X509_value(p->chain, i)) :
		    vs_pem_cert(sk_X509_value(p->chain, i));
		json_array_append_new(chain, json_string(s));
		free(s);
	}
	if (json_array_size(chain) > 0)
		json_object_set(data, "ca_chain", chain);
	cert = der ? vs_b64_cert(is->cert) : vs_pem_cert(is->cert);
	if (is->key != NULL)
		key = der ? vs_b64_key(is->key, pkcs8) : vs_pem_key(is->key, pkcs8);
	if (strcmp(format, "pem_bundle") == 0) {
		/* certutil.CertBundle.ToPEMBundle: key, cert, chain. */
		if (key != NULL)
			buf_printf(&bundle, "%s\n", key);
		buf_puts(&bundle, cert);
		for (i = 0; i < (int)json_array_size(chain); i++)
			buf_printf(&bundle, "\n%s",
			    json_string_value(json_array_get(chain, i)));
		json_object_set_new(data, "certificate", json_string(buf_str(&bundle)));
		buf_free_secret(&bundle);
	} else {
		json_object_set_new(data, "certificate", json_string(cert));
	}
	json_object_set_new(data, "expiration", json_integer((json_int_t)
	    is->not_after));
	s = der ? vs_b64_cert(p->ca) : vs_pem_cert(p->ca);
	json_object_set_new(data, "issuing_ca", json_string(s));
	free(s);
	if (key != NULL) {
		json_object_set_new(data, "private_key", json_string(key));
		json_object_set_new(data, "private_key_type",
		    json_string(vs_key_type(is->key)));
		xfree_secret(key, strlen(key));
	}
	s = vs_serial_str(X509_get0_serialNumber(is->cert));
	json_object_set_new(data, "serial_number", json_string(s));
	free(s);
	free(cert);
	json_decref(chain);
	resp.data = data;
	resp.warnings = is->warnings;
	is->warnings = NULL;
	vs_reply_resp(is->r, &resp);
}

static void
issue_free(struct issue *is)
{
	X509_REQ_free(is->csr);
	EVP_PKEY_free(is->key);
	X509_free(is->cert);
	free(is->cn);
	json_decref(is->dns);
	json_decref(is->emails);
	json_decref(is->ips);
	json_decref(is->uris);
	json_decref(is->warnings);
}

static void
warn(struct issue *is, const char *msg)
{
	if (is->warnings == NULL)
		is->warnings = json_array();
	json_array_append_new(is->warnings, json_string(msg));
}

/* Default sign-verbatim role: any name, usages from the request. */
static json_t *
verbatim_role(struct vs_req *r)
{
	json_t *in = json_object(), *role = NULL;
	struct err e;

	json_object_set_new(in, "allow_any_name", json_true());
	json_object_set_new(in, "enforce_hostnames", json_false());
	json_object_set_new(in, "key_type", json_string("any"));
	json_object_set_new(in, "server_flag", json_false());
	json_object_set_new(in, "client_flag", json_false());
	if (json_object_get(r->json, "key_usage") != NULL)
		json_object_set(in, "key_usage", json_object_get(r->json,
		    "key_usage"));
	if (json_object_get(r->json, "ext_key_usage") != NULL)
		json_object_set(in, "ext_key_usage", json_object_get(r->json,
		    "ext_key_usage"));
	if (vs_role_normalize(in, &role, &e) < 0)
		role = NULL;
	json_decref(in);
	return role;
}

void
vs_pki_issue(struct vs_req *r, struct vs_mount *m, const char *role_name,
    bool sign, bool verbatim)
{
	struct issue is = {0};
	const char *format = vs_jstr(r->json, "format");
	json_t *owned_role = NULL;
	time_t now = time(NULL);
	struct err e = {{0}};

	is.r = r;
	is.m = m;
	is.p = m->pki;
	if (verbatim) {
		is.role = owned_role = verbatim_role(r);
	} else if ((is.role = json_object_get(m->pki->roles, role_name)) == NULL) {
		vs_reply_errorf(r, 400, "unknown role: %s", role_name);
		return;
	}
	if (format == NULL || *format == '\0')
		format = "pem";
	if (strcmp(format, "pem") != 0 && strcmp(format, "der") != 0 &&
	    strcmp(format, "pem_bundle") != 0) {
		vs_reply_error(r, 400, "the \"format\" path parameter must be "
		    "\"pem\", \"der\", or \"pem_bundle\"");
		goto out;
	}
	if (!sign && strcmp(vs_jstr(is.role, "key_type"), "any") == 0) {
		vs_reply_error(r, 400, "role key type \"any\" not allowed for "
		    "issuing certificates, only signing");
		goto out;
	}
	if (sign && (parse_csr(&is) < 0 || check_csr_key(&is) < 0))
		goto user_err;
	if (collect_names(&is) < 0 || compute_not_after(&is, now) < 0)
		goto user_err;
	if (!sign && vs_keygen(vs_jstr(is.role, "key_type"),
	    vs_jint(is.role, "key_bits", 0), &is.key, &e) < 0) {
		user_error(&is, "%s", e.msg);
		goto user_err;
	}
	if (sign_it(&is, verbatim, now) < 0)
		goto user_err;
	if (sign && vs_jbool(is.role, "use_csr_common_name", true) &&
	    *param_str(&is, "common_name") != '\0')
		warn(&is, "the common_name field was provided but the role is set "
		    "with \"use_csr_common_name\" set to true");
	if (sign && vs_jbool(is.role, "use_csr_sans", true) &&
	    *param_str(&is, "alt_names") != '\0')
		warn(&is, "the alt_names field was provided but the role is set "
		    "with \"use_csr_sans\" set to true");
	respond(&is, format);
	goto out;
user_err:
	vs_reply_error(r, 400, is.err);
out:
	issue_free(&is);
	json_decref(owned_role);
}

/* ---- "mutate" faults ---- */

#define MUTATE_OTHER_NAME "other-name.example.net"

static void
drop_ext(X509 *x, int nid)
{
	int i;

	while ((i = X509_get_ext_by_NID(x, nid, -1)) >= 0)
		X509_EXTENSION_free(X509_delete_ext(x, i));
}

/* Replace extension nid of x by value (config syntax), issued by ca. */
static int
replace_ext(X509 *x, X509 *ca, int nid, const char *value, struct err *e)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	drop_ext(x, nid);
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	if (!ok) {
		err_set(e, EIO, "cannot set extension %s", OBJ_nid2sn(nid));
		err_add_openssl(e);
		return -EIO;
	}
	return 0;
}

/* A copy of orig, changed as kind says, signed again by the mount's CA. */
static int
mutate_cert(struct vs_pki *p, X509 *orig, enum vs_mutate kind, X509 **out,
    struct err *e)
{
	X509 *x = X509_dup(orig);
	EVP_PKEY *pub = X509_get0_pubkey(orig), *key = NULL;
	X509_NAME *name = NULL;
	time_t now = time(NULL);
	int rc = 0;

	if (x == NULL || pub == NULL) {
		X509_free(x);
		return err_set(e, EIO, "cannot copy the certificate");
	}
	switch (kind) {
	case VS_MUTATE_WRONG_KEY:
		/* A key of the same type and size: only comparing the public
		 * key with the client's own tells them apart. */
		rc = vs_keygen(vs_key_type(pub), strcmp(vs_key_type(pub),
		    "ed25519") == 0 ? 0 : EVP_PKEY_get_bits(pub), &key, e);
		if (rc == 0 && X509_set_pubkey(x, key) != 1)
			rc = err_set(e, EIO, "cannot set the public key");
		if (rc == 0)
			rc = replace_ext(x, p->ca, NID_subject_key_identifier,
			    "hash", e);
		break;
	case VS_MUTATE_WRONG_NAME:
		name = X509_NAME_new();
		if (name == NULL || X509_NAME_add_entry_by_txt(name, "CN",
		    MBSTRING_UTF8, (const unsigned char *)MUTATE_OTHER_NAME, -1, -1,
		    0) != 1 ||
		    X509_set_subject_name(x, name) != 1)
			rc = err_set(e, EIO, "cannot set the subject");
		if (rc == 0)
			rc = replace_ext(x, p->ca, NID_subject_alt_name,
			    "DNS:" MUTATE_OTHER_NAME, e);
		break;
	case VS_MUTATE_EXPIRED:
		if (ASN1_TIME_set(X509_getm_notBefore(x), now - 2 * 86400) ==
		    NULL || ASN1_TIME_set(X509_getm_notAfter(x), now - 86400) ==
		    NULL)
			rc = err_set(e, EIO, "cannot set the validity");
		break;
	default:
		rc = err_set(e, EINVAL, "not a certificate mutation");
		break;
	}
	if (rc == 0)
		rc = vs_resign_cert(x, p->ca_key, e);
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	if (rc < 0) {
		X509_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

/* A self-signed CA that has nothing to do with any mount. */
static int
unrelated_ca(X509 **out, struct err *e)
{
	struct vs_certspec spec = {0};
	X509_NAME *name = X509_NAME_new();
	EVP_PKEY *key = NULL;
	time_t now = time(NULL);
	int rc;

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"vaultsrv unrelated CA", -1, -1, 0);
	rc = vs_keygen("ec", 256, &key, e);
	if (rc == 0) {
		spec.subject = name;
		spec.pubkey = key;
		spec.not_before = now - 30;
		spec.not_after = now + 86400;
		spec.is_ca = true;
		spec.max_path_len = -1;
		spec.ku = KU_KEY_CERT_SIGN | KU_CRL_SIGN;
		rc = vs_sign_cert(&spec, NULL, key, out, e);
	}
	EVP_PKEY_free(key);
	X509_NAME_free(name);
	return rc;
}

int
vs_pki_mutate(struct vs_state *st, const char *path, enum vs_mutate kind,
    json_t *resp, struct err *e)
{
	const char *rest = NULL;
	struct vs_mount *m = vs_mount_find(st, path, &rest);
	json_t *data = json_object_get(resp, "data");
	const char *pem = vs_jstr(data, "certificate");
	X509 *orig = NULL, *x = NULL;
	char *s;
	int rc;

	if (m == NULL || m->type != VS_MOUNT_PKI || pem == NULL)
		return 0;
	switch (kind) {
	case VS_MUTATE_NONE:
		return 0;
	case VS_MUTATE_TRAILING_GARBAGE:
		s = xasprintf("%s\nthis is not PEM: trailing garbage\n", pem);
		json_object_set_new(data, "certificate", json_string(s));
		free(s);
		return 0;
	case VS_MUTATE_BAD_CHAIN:
		if ((rc = unrelated_ca(&x, e)) < 0)
			return rc;
		s = vs_pem_cert(x);
		json_object_set_new(data, "ca_chain", json_pack("[s]", s));
		json_object_set_new(data, "issuing_ca", json_string(s));
		free(s);
		X509_free(x);
		return 0;
	case VS_MUTATE_WRONG_KEY:
	case VS_MUTATE_WRONG_NAME:
	case VS_MUTATE_EXPIRED:
		break;
	}
	if ((orig = vs_pem_to_cert(pem)) == NULL)
		return err_set(e, EINVAL, "the certificate is not PEM (mutate "
		    "needs format pem)");
	rc = mutate_cert(m->pki, orig, kind, &x, e);
	X509_free(orig);
	if (rc < 0)
		return rc;
	s = vs_pem_cert(x);
	json_object_set_new(data, "certificate", json_string(s));
	free(s);
	s = vs_serial_str(X509_get0_serialNumber(x));
	json_object_set_new(data, "serial_number", json_string(s));
	free(s);
	if (kind == VS_MUTATE_EXPIRED) {
		const ASN1_TIME *na = X509_get0_notAfter(x);
		struct tm tm;

		if (ASN1_TIME_to_tm(na, &tm) == 1)
			json_object_set_new(data, "expiration",
			    json_integer((json_int_t)timegm(&tm)));
	}
	X509_free(x);
	return 0;
}
