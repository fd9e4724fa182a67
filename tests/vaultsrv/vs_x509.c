/*
 * vs_x509.c — vaultsrv's own small OpenSSL layer: key generation, signing
 * of certificates and CRLs, and the encodings Vault uses in its responses.
 *
 * Deliberately independent of lib/x509.c: the test server must not share
 * code with what it tests.  Encodings follow Vault 1.7's certutil: PEM
 * blocks without a trailing newline, EC/RSA private keys in their
 * "traditional" (SEC1 / PKCS#1) form unless PKCS#8 is asked for, DER as
 * single-line standard base64.  Serial numbers are 20 random bytes (top bit
 * clear), printed as lower-case colon-separated hex.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "vs.h"
#include "xalloc.h"

int
vs_keygen(const char *type, long bits, EVP_PKEY **out, struct err *e)
{
	EVP_PKEY *k = NULL;
	const char *curve;

	if (strcmp(type, "ec") == 0) {
		switch (bits) {
		case 224: curve = "P-224"; break;
		case 0:
		case 256: curve = "P-256"; break;
		case 384: curve = "P-384"; break;
		case 521: curve = "P-521"; break;
		default:
			return err_set(e, EINVAL,
			    "unsupported bit length for EC key: %ld", bits);
		}
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	} else if (strcmp(type, "rsa") == 0) {
		if (bits == 0)
			bits = 2048;
		if (bits != 2048 && bits != 3072 && bits != 4096 && bits != 8192)
			return err_set(e, EINVAL,
			    "unsupported bit length for RSA key: %ld", bits);
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	} else if (strcmp(type, "ed25519") == 0) {
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	} else {
		return err_set(e, EINVAL, "unknown key type %s", type);
	}
	if (k == NULL) {
		err_set(e, EIO, "key generation failed");
		err_add_openssl(e);
		return -EIO;
	}
	*out = k;
	return 0;
}

const char *
vs_key_type(EVP_PKEY *k)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA: return "rsa";
	case EVP_PKEY_EC: return "ec";
	case EVP_PKEY_ED25519: return "ed25519";
	default: return "unknown";
	}
}

/* The digest Go's x509 picks for a signing key; NULL for Ed25519. */
static const EVP_MD *
sign_md(EVP_PKEY *k)
{
	int bits = EVP_PKEY_get_bits(k);

	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_ED25519:
		return NULL;
	case EVP_PKEY_EC:
		if (bits > 384)
			return EVP_sha512();
		if (bits > 256)
			return EVP_sha384();
		return EVP_sha256();
	default:
		return EVP_sha256();
	}
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, struct err *e)
{
	X509_EXTENSION *ext;
	int rc;

	ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (ext == NULL) {
		err_set(e, EINVAL, "bad extension %s=%s", OBJ_nid2sn(nid), value);
		err_add_openssl(e);
		return -EINVAL;
	}
	rc = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return rc == 1 ? 0 : err_set(e, EIO, "cannot add extension");
}

static const struct {
	unsigned int bit;
	const char *name;
} ku_names[] = {
	{KU_DIGITAL_SIGNATURE, "digitalSignature"},
	{KU_NON_REPUDIATION, "nonRepudiation"},
	{KU_KEY_ENCIPHERMENT, "keyEncipherment"},
	{KU_DATA_ENCIPHERMENT, "dataEncipherment"},
	{KU_KEY_AGREEMENT, "keyAgreement"},
	{KU_KEY_CERT_SIGN, "keyCertSign"},
	{KU_CRL_SIGN, "cRLSign"},
	{KU_ENCIPHER_ONLY, "encipherOnly"},
	{KU_DECIPHER_ONLY, "decipherOnly"},
};

static const struct {
	unsigned int bit;
	const char *name;
} eku_names[] = {
	{VS_EKU_ANY, "anyExtendedKeyUsage"},
	{VS_EKU_SERVER, "serverAuth"},
	{VS_EKU_CLIENT, "clientAuth"},
	{VS_EKU_CODE, "codeSigning"},
	{VS_EKU_EMAIL, "emailProtection"},
};

static int
add_names(GENERAL_NAMES *gens, json_t *list, int type)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		GENERAL_NAME *g;

		if (s == NULL)
			continue;
		g = GENERAL_NAME_new();
		if (type == GEN_IPADD) {
			ASN1_OCTET_STRING *o = a2i_IPADDRESS(s);

			if (o == NULL) {
				GENERAL_NAME_free(g);
				return -EINVAL;
			}
			GENERAL_NAME_set0_value(g, GEN_IPADD, o);
		} else {
			ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

			ASN1_STRING_set(ia5, s, (int)strlen(s));
			GENERAL_NAME_set0_value(g, type, ia5);
		}
		sk_GENERAL_NAME_push(gens, g);
	}
	return 0;
}

static int
add_san(X509 *x, const struct vs_certspec *s, struct err *e)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int rc = 0;

	if (add_names(gens, s->dns, GEN_DNS) < 0 ||
	    add_names(gens, s->emails, GEN_EMAIL) < 0 ||
	    add_names(gens, s->ips, GEN_IPADD) < 0 ||
	    add_names(gens, s->uris, GEN_URI) < 0) {
		rc = err_set(e, EINVAL, "bad subject alternative name");
		goto out;
	}
	if (sk_GENERAL_NAME_num(gens) > 0 &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) != 1)
		rc = err_set(e, EIO, "cannot add subjectAltName");
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static void
url_list(struct buf *b, json_t *urls, const char *prefix)
{
	size_t i;
	json_t *v;

	json_array_foreach(urls, i, v) {
		if (json_string_value(v) == NULL)
			continue;
		buf_printf(b, "%s%s%s", b->len ? "," : "", prefix,
		    json_string_value(v));
	}
}

static int
add_extensions(X509 *x, X509 *issuer, const struct vs_certspec *s,
    struct err *e)
{
	X509V3_CTX ctx;
	struct buf b = BUF_INIT;
	size_t i;
	int rc;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (s->is_ca || s->bc_non_ca) {
		if (s->is_ca && s->max_path_len >= 0)
			buf_printf(&b, "critical,CA:TRUE,pathlen:%d", s->max_path_len);
		else
			buf_puts(&b, s->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
		if ((rc = add_ext(x, &ctx, NID_basic_constraints, b.data, e)) < 0)
			goto out;
		buf_reset(&b);
	}
	if (s->ku != 0) {
		buf_puts(&b, "critical");
		for (i = 0; i < sizeof(ku_names) / sizeof(ku_names[0]); i++)
			if (s->ku & ku_names[i].bit)
				buf_printf(&b, ",%s", ku_names[i].name);
		if ((rc = add_ext(x, &ctx, NID_key_usage, b.data, e)) < 0)
			goto out;
		buf_reset(&b);
	}
	if (s->eku != 0) {
		for (i = 0; i < sizeof(eku_names) / sizeof(eku_names[0]); i++)
			if (s->eku & eku_names[i].bit)
				buf_printf(&b, "%s%s", b.len ? "," : "", eku_names[i].name);
		if ((rc = add_ext(x, &ctx, NID_ext_key_usage, b.data, e)) < 0)
			goto out;
		buf_reset(&b);
	}
	/* SKI before AKI: for a self-signed certificate the AKI is read back
	 * from the SKI just added. */
	if ((rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash", e)) < 0)
		goto out;
	if ((rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always",
	    e)) < 0)
		goto out;
	url_list(&b, s->aia, "caIssuers;URI:");
	if (b.len > 0 &&
	    (rc = add_ext(x, &ctx, NID_info_access, b.data, e)) < 0)
		goto out;
	buf_reset(&b);
	if ((rc = add_san(x, s, e)) < 0)
		goto out;
	url_list(&b, s->crl_dp, "URI:");
	if (b.len > 0 &&
	    (rc = add_ext(x, &ctx, NID_crl_distribution_points, b.data, e)) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

static int
random_serial(X509 *x)
{
	unsigned char raw[20];
	BIGNUM *bn;
	int rc = -EIO;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	raw[0] &= 0x7f;
	if (raw[0] == 0)
		raw[0] = 0x01;
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

int
vs_sign_cert(const struct vs_certspec *s, X509 *issuer, EVP_PKEY *issuer_key,
    X509 **out, struct err *e)
{
	X509 *x = X509_new();
	int rc;

	if (X509_set_version(x, X509_VERSION_3) != 1 || random_serial(x) < 0 ||
	    X509_set_subject_name(x, s->subject) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    s->subject) != 1 ||
	    X509_set_pubkey(x, s->pubkey) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), s->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), s->not_after) == NULL) {
		rc = err_set(e, EIO, "cannot build certificate");
		err_add_openssl(e);
		goto fail;
	}
	if ((rc = add_extensions(x, issuer, s, e)) < 0)
		goto fail;
	if (X509_sign(x, issuer_key, sign_md(issuer_key)) <= 0) {
		rc = err_set(e, EIO, "cannot sign certificate");
		err_add_openssl(e);
		goto fail;
	}
	*out = x;
	return 0;
fail:
	X509_free(x);
	return rc;
}

int
vs_resign_cert(X509 *x, EVP_PKEY *issuer_key, struct err *e)
{
	if (random_serial(x) < 0)
		return err_set(e, EIO, "cannot make a serial number");
	if (X509_sign(x, issuer_key, sign_md(issuer_key)) <= 0) {
		err_set(e, EIO, "cannot sign certificate");
		err_add_openssl(e);
		return -EIO;
	}
	return 0;
}

X509_CRL *
vs_make_crl(struct vs_pki *p, struct err *e)
{
	X509_CRL *crl = X509_CRL_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *t = NULL;
	struct vs_cert *c;
	time_t now = time(NULL);

	X509_CRL_set_version(crl, X509_CRL_VERSION_2);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(p->ca));
	t = ASN1_TIME_set(NULL, now);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_set(t, now + 72 * 3600);
	X509_CRL_set1_nextUpdate(crl, t);
	for (c = p->certs; c != NULL; c = c->next) {
		X509_REVOKED *rv;

		if (c->revoked == 0)
			continue;
		rv = X509_REVOKED_new();
		X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(c->x509));
		ASN1_TIME_set(t, c->revoked);
		X509_REVOKED_set_revocationDate(rv, t);
		X509_CRL_add0_revoked(crl, rv);
	}
	X509V3_set_ctx(&ctx, p->ca, NULL, NULL, crl, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always");
	if (ext != NULL) {
		X509_CRL_add_ext(crl, ext, -1);
		X509_EXTENSION_free(ext);
	}
	num = ASN1_INTEGER_new();
	ASN1_INTEGER_set(num, (long)++p->crl_number);
	X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0);
	X509_CRL_sort(crl);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	if (X509_CRL_sign(crl, p->ca_key, sign_md(p->ca_key)) <= 0) {
		err_set(e, EIO, "cannot sign CRL");
		err_add_openssl(e);
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/* Take a memory BIO's content as a string without trailing newlines. */
static char *
bio_string(BIO *bio, bool secret)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s;

	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	s = xstrndup(data, (size_t)n);
	if (secret)
		OPENSSL_cleanse(data, (size_t)n);
	return s;
}

char *
vs_pem_cert(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s;

	PEM_write_bio_X509(bio, x);
	s = bio_string(bio, false);
	BIO_free(bio);
	return s;
}

char *
vs_pem_crl(X509_CRL *c)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s;

	PEM_write_bio_X509_CRL(bio, c);
	s = bio_string(bio, false);
	BIO_free(bio);
	return s;
}

int
vs_der_b64(const unsigned char *der, size_t len, char **out)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	char *s = xmalloc(cap);

	EVP_EncodeBlock((unsigned char *)s, der, (int)len);
	*out = s;
	return 0;
}

char *
vs_b64_cert(X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	char *s = NULL;

	if (len <= 0)
		return xstrdup("");
	vs_der_b64(der, (size_t)len, &s);
	OPENSSL_free(der);
	return s;
}

/* Ed25519 has no traditional form; it is always PKCS#8. */
static bool
want_pkcs8(EVP_PKEY *k, bool pkcs8)
{
	return pkcs8 || EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519;
}

char *
vs_pem_key(EVP_PKEY *k, bool pkcs8)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *s;

	if (want_pkcs8(k, pkcs8))
		PEM_write_bio_PKCS8PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL, 0, NULL,
		    NULL);
	s = bio_string(bio, true);
	BIO_free(bio);
	return s;
}

char *
vs_b64_key(EVP_PKEY *k, bool pkcs8)
{
	unsigned char *der = NULL;
	int len;
	char *s = NULL;

	if (want_pkcs8(k, pkcs8)) {
		PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);

		len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
		PKCS8_PRIV_KEY_INFO_free(p8);
	} else {
		len = i2d_PrivateKey(k, &der);
	}
	if (len <= 0)
		return xstrdup("");
	vs_der_b64(der, (size_t)len, &s);
	OPENSSL_clear_free(der, (size_t)len);
	return s;
}

char *
vs_hex_colon(const unsigned char *p, size_t n)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%02x", i ? ":" : "", p[i]);
	return buf_steal(&b);
}

char *
vs_serial_str(const ASN1_INTEGER *s)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);
	unsigned char raw[64];
	int n;
	char *out;

	n = bn ? BN_bn2bin(bn, raw) : 0;
	if (n <= 0 || n > (int)sizeof(raw)) {
		BN_free(bn);
		return xstrdup("00");
	}
	out = vs_hex_colon(raw, (size_t)n);
	BN_free(bn);
	return out;
}

X509 *
vs_pem_to_cert(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	BIO_free(bio);
	ERR_clear_error();
	return x;
}

STACK_OF(X509) *
vs_pem_to_certs(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		sk_X509_push(sk, x);
	BIO_free(bio);
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return NULL;
	}
	return sk;
}

EVP_PKEY *
vs_pem_to_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	BIO_free(bio);
	ERR_clear_error();
	return k;
}

char *
vs_name_cn(const X509_NAME *n)
{
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *s;
	int len;

	if (i < 0)
		return xstrdup("");
	len = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (len < 0)
		return xstrdup("");
	s = xstrndup((const char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return s;
}

static void
collect_names(GENERAL_NAMES *gens, json_t *dns, json_t *ips, json_t *emails,
    json_t *uris)
{
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int type;
		ASN1_STRING *str = GENERAL_NAME_get0_value(g, &type);
		char ip[INET6_ADDRSTRLEN];
		const unsigned char *d = ASN1_STRING_get0_data(str);
		int len = ASN1_STRING_length(str);

		switch (type) {
		case GEN_DNS:
			json_array_append_new(dns, json_stringn((const char *)d,
			    (size_t)len));
			break;
		case GEN_EMAIL:
			json_array_append_new(emails, json_stringn(
			    (const char *)d, (size_t)len));
			break;
		case GEN_URI:
			json_array_append_new(uris, json_stringn((const char *)d,
			    (size_t)len));
			break;
		case GEN_IPADD:
			if (len == 4 || len == 16) {
				inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip,
				    sizeof(ip));
				json_array_append_new(ips, json_string(ip));
			}
			break;
		default:
			break;
		}
	}
}

json_t *
vs_cert_dns_names(X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	json_t *dns = json_array(), *ips = json_array(), *em = json_array(),
	    *uris = json_array();

	if (gens != NULL)
		collect_names(gens, dns, ips, em, uris);
	GENERAL_NAMES_free(gens);
	json_decref(ips);
	json_decref(em);
	json_decref(uris);
	return dns;
}

int
vs_csr_names(X509_REQ *req, char **cn, json_t **dns, json_t **ips,
    json_t **emails, json_t **uris)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *gens = NULL;

	*cn = vs_name_cn(X509_REQ_get_subject_name(req));
	*dns = json_array();
	*ips = json_array();
	*emails = json_array();
	*uris = json_array();
	if (exts != NULL)
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	if (gens != NULL)
		collect_names(gens, *dns, *ips, *emails, *uris);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
	return 0;
}
