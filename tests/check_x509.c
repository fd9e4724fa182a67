/*
 * check_x509.c — tests for lib/x509.c.
 *
 * The suite builds its own tiny PKI once per process (an EC root, an EC
 * P-384 intermediate, a leaf issued from a CSR made by x509_csr_create,
 * plus RSA and Ed25519 certificates) with plain OpenSSL X509 calls, so
 * that what x509.c produces is judged by code that is not x509.c.  The
 * tables cover: key types (parse, name, generate, PEM round trip, type_of),
 * CSRs (names, CN rules, signatures), key/cert matching across types,
 * chain verification (partial chains, wrong anchor, expiry through `at`),
 * name checks, the strict PEM scanner (offsets in every message, every
 * prefix and many byte mutations of a chain), serials, fingerprints,
 * lifetimes and the subject CN.  Finally the same functions meet what a
 * real Vault 1.7.10 returned (tests/fixtures/vault-1.7.10): its serial
 * strings, expirations, names, keys and issuing CA must all agree.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "err.h"
#include "testutil.h"
#include "x509.h"
#include "xalloc.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

#define DAY 86400L
#define N(a) (sizeof(a) / sizeof((a)[0]))

#define ck_assert_has(msg, sub)                                                              \
	ck_assert_msg(strstr((msg), (sub)) != NULL, "message \"%s\" lacks \"%s\"", (msg), (sub))

/* ------------------------------------------------------------ the PKI */

static time_t now;
static EVP_PKEY *root_key, *inter_key, *leaf_key, *other_key, *ec2_key, *rsa_key, *rsa2_key,
    *ed_key, *ed2_key;
static X509 *root, *inter, *leaf, *other_root, *rsa_cert, *ed_cert;
static char *root_pem, *inter_pem, *leaf_pem, *key_pem;
static long next_serial = 1000;

static const char *const leaf_dns[] = {"a.example", "B.example"};
static const char *const leaf_ips[] = {"192.0.2.1", "::1"};
static const char *const leaf_uris[] = {"spiffe://example/svc"};
static const struct x509_names leaf_names = {
	"www.example", leaf_dns, 2, leaf_ips, 2, leaf_uris, 1,
};

static EVP_PKEY *
gen(enum x509_key_type t)
{
	struct err e = {""};
	EVP_PKEY *k = NULL;

	ck_assert_msg(x509_key_generate(t, &k, &e) == 0, "generate %s: %s",
		      x509_key_type_name(t), e.msg);
	ck_assert_ptr_nonnull(k);
	return k;
}

static const EVP_MD *
md_for(EVP_PKEY *k)
{
	return EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256();
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ck_assert_ptr_nonnull(ext);
	ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* An unsigned v3 certificate for pub: subject CN=cn (none when NULL),
 * issued by issuer (self-issued when NULL), serial from bytes when given. */
static X509 *
new_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, time_t nb, time_t na,
	 const unsigned char *serial, size_t serial_len)
{
	X509 *x = X509_new();
	X509_NAME *name;
	BIGNUM *bn;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
	if (serial != NULL) {
		bn = BN_bin2bn(serial, (int)serial_len, NULL);
		ck_assert_ptr_nonnull(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
		BN_free(bn);
	} else {
		ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), next_serial++), 1);
	}
	name = X509_get_subject_name(x);
	if (cn != NULL)
		ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
							    (const unsigned char *)cn, -1, -1, 0), 1);
	ck_assert_int_eq(X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
								 : name), 1);
	ck_assert_int_eq(X509_set_pubkey(x, pub), 1);
	ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notBefore(x), nb));
	ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notAfter(x), na));
	return x;
}

static X509 *
sign(X509 *x, EVP_PKEY *key)
{
	ck_assert_int_gt(X509_sign(x, key, md_for(key)), 0);
	return x;
}

static X509 *
make_ca(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, time_t nb, time_t na)
{
	X509 *x = new_cert(cn, key, issuer, nb, na, NULL, 0);

	add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	return sign(x, issuer_key != NULL ? issuer_key : key);
}

/* What a CA does with a CSR: subject, key and extensions as requested. */
static X509 *
sign_csr(X509_REQ *req, X509 *issuer, EVP_PKEY *issuer_key, time_t nb, time_t na)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	X509 *x = new_cert(NULL, X509_REQ_get0_pubkey(req), issuer, nb, na, NULL, 0);
	int i;

	ck_assert_int_eq(X509_set_subject_name(x, X509_REQ_get_subject_name(req)), 1);
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++)
		ck_assert_int_eq(X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1), 1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return sign(x, issuer_key);
}

/* A leaf for names, issued by the intermediate through a real CSR. */
static X509 *
issue(const struct x509_names *names, bool exclude, time_t nb, time_t na)
{
	struct err e = {""};
	X509_REQ *req = NULL;
	X509 *x;

	ck_assert_msg(x509_csr_create(leaf_key, names, exclude, &req, &e) == 0, "%s", e.msg);
	x = sign_csr(req, inter, inter_key, nb, na);
	X509_REQ_free(req);
	return x;
}

static char *
cert_pem(X509 *x)
{
	struct buf b = BUF_INIT;
	struct err e = {""};

	ck_assert_msg(x509_cert_to_pem(x, &b, &e) == 0, "%s", e.msg);
	return buf_steal(&b);
}

static void
pki_setup(void)
{
	struct buf b = BUF_INIT;
	struct err e = {""};

	if (root != NULL)
		return;
	now = time(NULL);
	root_key = gen(X509_KEY_EC_P256);
	inter_key = gen(X509_KEY_EC_P384);
	leaf_key = gen(X509_KEY_EC_P256);
	other_key = gen(X509_KEY_EC_P256);
	ec2_key = gen(X509_KEY_EC_P256);
	rsa_key = gen(X509_KEY_RSA_2048);
	rsa2_key = gen(X509_KEY_RSA_2048);
	ed_key = gen(X509_KEY_ED25519);
	ed2_key = gen(X509_KEY_ED25519);
	root = make_ca("Test Root", root_key, NULL, NULL, now - 10 * DAY, now + 3650 * DAY);
	inter = make_ca("Test Intermediate", inter_key, root, root_key, now - 10 * DAY,
			now + 365 * DAY);
	other_root = make_ca("Other Root", other_key, NULL, NULL, now - 10 * DAY, now + 3650 * DAY);
	leaf = issue(&leaf_names, false, now - DAY, now + 30 * DAY);
	rsa_cert = sign(new_cert("rsa.example", rsa_key, inter, now - DAY, now + DAY, NULL, 0),
			inter_key);
	/* Self-signed with Ed25519: exercises X509_sign with no digest. */
	ed_cert = sign(new_cert("ed.example", ed_key, NULL, now - DAY, now + DAY, NULL, 0), ed_key);
	root_pem = cert_pem(root);
	inter_pem = cert_pem(inter);
	leaf_pem = cert_pem(leaf);
	ck_assert_msg(x509_key_to_pem(leaf_key, &b, &e) == 0, "%s", e.msg);
	key_pem = buf_steal(&b);
}

static void
pki_free(void)
{
	EVP_PKEY *keys[] = {root_key, inter_key, leaf_key, other_key, ec2_key,
			    rsa_key,  rsa2_key,  ed_key,   ed2_key};
	X509 *certs[] = {root, inter, leaf, other_root, rsa_cert, ed_cert};
	size_t i;

	for (i = 0; i < N(keys); i++)
		EVP_PKEY_free(keys[i]);
	for (i = 0; i < N(certs); i++)
		X509_free(certs[i]);
	free(root_pem);
	free(inter_pem);
	free(leaf_pem);
	free(key_pem);
}

/* A certificate made to go through DER, as a parsed one would. */
static X509 *
reparse(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *y;
	int n = i2d_X509(x, &der);

	ck_assert_int_gt(n, 0);
	p = der;
	y = d2i_X509(NULL, &p, n);
	ck_assert_ptr_nonnull(y);
	OPENSSL_free(der);
	X509_free(x);
	return y;
}

/* "DNS:a,IP:1.2.3.4,URI:u" for a SAN list. */
static char *
gens_str(GENERAL_NAMES *gens)
{
	struct buf b = BUF_INIT;
	const ASN1_STRING *s;
	char ip[INET6_ADDRSTRLEN];
	int i, type;

	buf_puts(&b, "");
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		s = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, i), &type);
		if (i > 0)
			buf_putc(&b, ',');
		if (type == GEN_IPADD) {
			ck_assert_ptr_nonnull(inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6,
							ASN1_STRING_get0_data(s), ip, sizeof(ip)));
			buf_printf(&b, "IP:%s", ip);
		} else {
			buf_printf(&b, "%s:%.*s", type == GEN_DNS ? "DNS" : "URI",
				   ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
		}
	}
	return buf_steal(&b);
}

/* The CSR's SANs as gens_str, *crit = -1 when it has none. */
static char *
req_sans(X509_REQ *req, int *crit)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	X509_EXTENSION *ext;
	GENERAL_NAMES *gens;
	char *s;
	int i = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);

	*crit = -1;
	if (i < 0) {
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		return xstrdup("");
	}
	ext = sk_X509_EXTENSION_value(exts, i);
	*crit = X509_EXTENSION_get_critical(ext);
	gens = X509V3_EXT_d2i(ext);
	ck_assert_ptr_nonnull(gens);
	s = gens_str(gens);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return s;
}

static size_t
count(const char *const *v, size_t max)
{
	size_t n = 0;

	while (n < max && v[n] != NULL)
		n++;
	return n;
}

/* Names written as NULL-terminated rows in a table. */
struct names_row {
	const char *cn;
	const char *dns[5];
	const char *ips[4];
	const char *uris[3];
};

static struct x509_names
row_names(const struct names_row *r)
{
	struct x509_names n = {r->cn, r->dns, count(r->dns, N(r->dns)), r->ips,
			       count(r->ips, N(r->ips)), r->uris, count(r->uris, N(r->uris))};

	return n;
}

/* ------------------------------------------------------------ key types */

static const struct {
	const char *type;
	unsigned bits;
	int rc;
	enum x509_key_type want;
	const char *msg;
} parse_cases[] = {
	{"ec", 0, 0, X509_KEY_EC_P256, NULL},
	{"ec", 256, 0, X509_KEY_EC_P256, NULL},
	{"ec", 384, 0, X509_KEY_EC_P384, NULL},
	{"EC", 384, 0, X509_KEY_EC_P384, NULL},
	{"rsa", 0, 0, X509_KEY_RSA_2048, NULL},
	{"rsa", 2048, 0, X509_KEY_RSA_2048, NULL},
	{"rsa", 3072, 0, X509_KEY_RSA_3072, NULL},
	{"rsa", 4096, 0, X509_KEY_RSA_4096, NULL},
	{"ed25519", 0, 0, X509_KEY_ED25519, NULL},
	{"ed25519", 256, -EINVAL, 0, "ed25519 keys have a fixed size: key_bits 256 is not allowed"},
	{"rsa", 1024, -EINVAL, 0, "rsa keys cannot have 1024 bits (allowed: 2048, 3072, 4096)"},
	{"ec", 521, -EINVAL, 0, "ec keys cannot have 521 bits (allowed: 256, 384)"},
	{"ec", 2048, -EINVAL, 0, "(allowed: 256, 384)"},
	{"dsa", 0, -EINVAL, 0, "unknown key type \"dsa\" (allowed: ec, rsa, ed25519)"},
	{"", 0, -EINVAL, 0, "unknown key type \"\""},
	{"rsa\n", 0, -EINVAL, 0, "unknown key type \"rsa\\x0a\""},
	{NULL, 0, -EINVAL, 0, "unknown key type"},
};

START_TEST(test_key_type_parse)
{
	const enum x509_key_type sentinel = (enum x509_key_type)99;
	enum x509_key_type t = sentinel;
	struct err e = {""};
	int rc = x509_key_type_parse(parse_cases[_i].type, parse_cases[_i].bits, &t, &e);

	ck_assert_msg(rc == parse_cases[_i].rc, "%s/%u: rc %d (%s)", parse_cases[_i].type,
		      parse_cases[_i].bits, rc, e.msg);
	if (rc == 0) {
		ck_assert_int_eq(t, parse_cases[_i].want);
	} else {
		ck_assert_int_eq(t, sentinel);
		ck_assert_has(e.msg, parse_cases[_i].msg);
	}
}
END_TEST

START_TEST(test_key_type_name)
{
	static const char *const names[] = {"ec-p256",  "ec-p384",  "rsa-2048",
					    "rsa-3072", "rsa-4096", "ed25519"};
	size_t i;

	for (i = 0; i < N(names); i++)
		ck_assert_str_eq(x509_key_type_name((enum x509_key_type)i), names[i]);
	ck_assert_str_eq(x509_key_type_name((enum x509_key_type)42), "unknown");
}
END_TEST

static const struct {
	enum x509_key_type type;
	const char *alg;
	int bits;
} keygen_cases[] = {
	{X509_KEY_EC_P256, "EC", 256},	   {X509_KEY_EC_P384, "EC", 384},
	{X509_KEY_RSA_2048, "RSA", 2048}, {X509_KEY_RSA_3072, "RSA", 3072},
	{X509_KEY_RSA_4096, "RSA", 4096}, {X509_KEY_ED25519, "ED25519", 256},
};

START_TEST(test_key_roundtrip)
{
	struct buf pem = BUF_INIT, pem2 = BUF_INIT;
	struct err e = {""};
	EVP_PKEY *key = gen(keygen_cases[_i].type), *back = NULL;
	enum x509_key_type t;
	BIGNUM *exp = NULL;

	ck_assert(EVP_PKEY_is_a(key, keygen_cases[_i].alg));
	ck_assert_int_eq(EVP_PKEY_get_bits(key), keygen_cases[_i].bits);
	ck_assert_int_eq(x509_key_type_of(key, &t), 0);
	ck_assert_int_eq(t, keygen_cases[_i].type);
	if (strcmp(keygen_cases[_i].alg, "RSA") == 0) {
		ck_assert_int_eq(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &exp), 1);
		ck_assert_int_eq(BN_get_word(exp), 65537);
		BN_free(exp);
	}

	buf_puts(&pem, "kept:");  /* appends, never overwrites */
	ck_assert_msg(x509_key_to_pem(key, &pem, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(strncmp(pem.data, "kept:-----BEGIN PRIVATE KEY-----\n", 33), 0);
	ck_assert_has(pem.data, "-----END PRIVATE KEY-----\n");

	ck_assert_msg(x509_key_from_pem(pem.data + 5, pem.len - 5, &back, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(EVP_PKEY_eq(key, back), 1);
	ck_assert_int_eq(x509_key_type_of(back, &t), 0);
	ck_assert_int_eq(t, keygen_cases[_i].type);
	ck_assert_int_eq(x509_key_to_pem(back, &pem2, &e), 0);
	ck_assert_str_eq(pem2.data, pem.data + 5);

	buf_free_secret(&pem);
	buf_free_secret(&pem2);
	EVP_PKEY_free(back);
	EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_key_type_of_foreign)
{
	EVP_PKEY *keys[] = {
		EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024),
		EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"),
		EVP_PKEY_Q_keygen(NULL, NULL, "X25519"),
		EVP_PKEY_Q_keygen(NULL, NULL, "ED448"),
	};
	enum x509_key_type t = (enum x509_key_type)99;
	size_t i;

	for (i = 0; i < N(keys); i++) {
		ck_assert_ptr_nonnull(keys[i]);
		ck_assert_int_eq(x509_key_type_of(keys[i], &t), -EINVAL);
		ck_assert_int_eq(t, 99);
		EVP_PKEY_free(keys[i]);
	}
	ck_assert_int_eq(x509_key_type_of(NULL, &t), -EINVAL);
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_key_from_pem_traditional)
{
	EVP_PKEY *keys[] = {rsa_key, leaf_key};
	struct err e = {""};
	EVP_PKEY *back;
	char *data;
	long n;
	size_t i;
	BIO *bio;

	for (i = 0; i < N(keys); i++) {
		bio = BIO_new(BIO_s_mem());
		ck_assert_int_eq(
		    PEM_write_bio_PrivateKey_traditional(bio, keys[i], NULL, NULL, 0, NULL, NULL), 1);
		n = BIO_get_mem_data(bio, &data);
		ck_assert_int_eq(strncmp(data, i == 0 ? "-----BEGIN RSA PRIVATE KEY-----"
						      : "-----BEGIN EC PRIVATE KEY-----", 30), 0);
		back = NULL;
		ck_assert_msg(x509_key_from_pem(data, (size_t)n, &back, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(EVP_PKEY_eq(keys[i], back), 1);
		EVP_PKEY_free(back);
		BIO_free(bio);
	}
}
END_TEST

static char *
key_pem_with(EVP_PKEY *key, bool traditional, const EVP_CIPHER *cipher)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	if (traditional)
		ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(
				     bio, key, cipher, (unsigned char *)"secret", 6, NULL, NULL), 1);
	else
		ck_assert_int_eq(PEM_write_bio_PKCS8PrivateKey(bio, key, cipher, "secret", 6, NULL,
							       NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	s = xstrndup(data, (size_t)n);
	BIO_free(bio);
	return s;
}

START_TEST(test_key_from_pem_rejects)
{
	char *enc8 = key_pem_with(leaf_key, false, EVP_aes_128_cbc());
	char *enctrad = key_pem_with(rsa_key, true, EVP_aes_128_cbc());
	char *two = xasprintf("%s%s", key_pem, key_pem);
	char *trunc = xstrndup(key_pem, strlen(key_pem) / 2);
	char *bad_end = xasprintf("%.*sEND RSA PRIVATE KEY-----\n",
				  (int)(strstr(key_pem, "END PRIVATE") - key_pem), key_pem);
	char *msg_two = xasprintf("second PEM block at byte %zu (expected exactly one PRIVATE KEY)",
				  strlen(key_pem));
	const struct {
		const char *pem;
		const char *msg;
	} cases[] = {
		{"", "no PEM block found (expected PRIVATE KEY)"},
		{"\n\n", "no PEM block found"},
		{"junk", "unexpected data at byte 0"},
		{two, msg_two},
		{leaf_pem, "PEM block at byte 0 is \"CERTIFICATE\", expected PRIVATE KEY"},
		{enc8, "PEM block at byte 0 is an encrypted private key, which is not supported"},
		{enctrad, "PEM block at byte 0 has headers at byte 32 (encrypted?)"},
		{trunc, "truncated PEM block at byte 0 (no END line)"},
		{bad_end, "does not match \"BEGIN PRIVATE KEY\""},
		{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		 "invalid private key in PEM block at byte 0"},
	};
	EVP_PKEY *key;
	struct err e;
	size_t i;

	for (i = 0; i < N(cases); i++) {
		key = NULL;
		e.msg[0] = '\0';
		ck_assert_msg(x509_key_from_pem(cases[i].pem, strlen(cases[i].pem), &key, &e) ==
				  -EBADMSG, "case %zu accepted", i);
		ck_assert_ptr_null(key);
		ck_assert_has(e.msg, cases[i].msg);
	}
	free(enc8);
	free(enctrad);
	free(two);
	free(trunc);
	free(bad_end);
	free(msg_two);
}
END_TEST

/* ------------------------------------------------------------ CSRs */

static const struct {
	EVP_PKEY **key;
	int sig_nid;
} csr_keys[] = {
	{&leaf_key, NID_ecdsa_with_SHA256},
	{&inter_key, NID_ecdsa_with_SHA256},
	{&rsa_key, NID_sha256WithRSAEncryption},
	{&ed_key, NID_ED25519},
};

START_TEST(test_csr_roundtrip)
{
	static const char *const dns[] = {"a.example"};
	static const char *const ips[] = {"192.0.2.1", "2001:db8::1"};
	static const char *const uris[] = {"spiffe://example/svc"};
	const struct x509_names names = {"www.example", dns, 1, ips, 2, uris, 1};
	EVP_PKEY *key = *csr_keys[_i].key;
	struct buf pem = BUF_INIT, pem2 = BUF_INIT;
	struct err e = {""};
	X509_REQ *req = NULL, *back = NULL;
	char cn[64];
	char *sans;
	int crit;

	ck_assert_msg(x509_csr_create(key, &names, false, &req, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(x509_csr_to_pem(req, &pem, &e), 0);
	ck_assert_int_eq(strncmp(pem.data, "-----BEGIN CERTIFICATE REQUEST-----\n", 36), 0);
	ck_assert_msg(x509_csr_from_pem(pem.data, pem.len, &back, &e) == 0, "%s", e.msg);

	ck_assert_int_eq(X509_REQ_verify(back, key), 1);
	ck_assert_int_eq(X509_REQ_get_signature_nid(back), csr_keys[_i].sig_nid);
	ck_assert_int_eq(EVP_PKEY_eq(X509_REQ_get0_pubkey(back), key), 1);
	ck_assert_int_eq(X509_REQ_get_version(back), X509_REQ_VERSION_1);
	ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(back), NID_commonName,
						   cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "www.example");
	sans = req_sans(back, &crit);
	ck_assert_str_eq(sans, "DNS:www.example,DNS:a.example,IP:192.0.2.1,IP:2001:db8::1,"
			       "URI:spiffe://example/svc");
	ck_assert_int_eq(crit, 0);
	ck_assert_int_eq(x509_csr_to_pem(back, &pem2, &e), 0);
	ck_assert_str_eq(pem.data, pem2.data);

	free(sans);
	buf_free(&pem);
	buf_free(&pem2);
	X509_REQ_free(req);
	X509_REQ_free(back);
}
END_TEST

static const struct {
	struct names_row n;
	bool exclude;
	int rc;
	const char *sans;  /* or the error message */
	int crit;
} csr_cases[] = {
	{{"svc.example", {NULL}, {NULL}, {NULL}}, false, 0, "DNS:svc.example", 0},
	{{"svc.example", {NULL}, {NULL}, {NULL}}, true, 0, "", -1},
	{{"svc.example", {"a.example"}, {NULL}, {NULL}}, true, 0, "DNS:a.example", 0},
	{{"192.0.2.7", {NULL}, {NULL}, {NULL}}, false, 0, "IP:192.0.2.7", 0},
	{{"2001:db8::7", {"a.example"}, {NULL}, {NULL}}, false, 0, "IP:2001:db8::7,DNS:a.example", 0},
	{{"Build Farm", {NULL}, {NULL}, {NULL}}, false, 0, "", -1},
	{{"Build Farm", {"a.example"}, {NULL}, {NULL}}, false, 0, "DNS:a.example", 0},
	{{"*.example", {NULL}, {NULL}, {NULL}}, false, 0, "DNS:*.example", 0},
	{{"Svc.Example", {"svc.example", "b.example", "B.EXAMPLE"}, {NULL}, {NULL}}, false, 0,
	 "DNS:Svc.Example,DNS:b.example", 0},
	{{"10.0.0.1", {NULL}, {"10.0.0.1", "::1", "0:0:0:0:0:0:0:1"}, {NULL}}, false, 0,
	 "IP:10.0.0.1,IP:::1", 0},
	{{NULL, {"a.example"}, {NULL}, {NULL}}, false, 0, "DNS:a.example", 1},
	{{"", {NULL}, {NULL}, {"urn:x:y"}}, false, 0, "URI:urn:x:y", 1},
	{{NULL, {NULL}, {NULL}, {NULL}}, false, -EINVAL, "no names requested", 0},
	{{"", {NULL}, {NULL}, {NULL}}, true, -EINVAL, "no names requested", 0},
	{{NULL, {NULL}, {"300.1.1.1"}, {NULL}}, false, -EINVAL, "invalid IP address \"300.1.1.1\"", 0},
	{{NULL, {NULL}, {"fe80::1%eth0"}, {NULL}}, false, -EINVAL, "invalid IP address", 0},
	{{NULL, {"a b.example"}, {NULL}, {NULL}}, false, -EINVAL, "invalid DNS name \"a b.example\"", 0},
	{{NULL, {""}, {NULL}, {NULL}}, false, -EINVAL, "invalid DNS name \"\"", 0},
	{{NULL, {"h\xc3\xa9.example"}, {NULL}, {NULL}}, false, -EINVAL,
	 "invalid DNS name \"h\\xc3\\xa9.example\"", 0},
	{{NULL, {NULL}, {NULL}, {"no-scheme"}}, false, -EINVAL, "invalid URI \"no-scheme\"", 0},
	{{NULL, {NULL}, {NULL}, {"http://a b"}}, false, -EINVAL, "invalid URI", 0},
	{{"a-name-that-is-far-too-long-for-a-common-name-because-it-is-65.example", {NULL}, {NULL},
	  {NULL}}, false, -EINVAL, "cannot use \"a-name-that-is-far-too-long", 0},
};

START_TEST(test_csr_names)
{
	struct x509_names names = row_names(&csr_cases[_i].n);
	struct err e = {""};
	X509_REQ *req = NULL;
	char *sans;
	char cn[80];
	int rc, crit;

	rc = x509_csr_create(leaf_key, &names, csr_cases[_i].exclude, &req, &e);
	ck_assert_msg(rc == csr_cases[_i].rc, "rc %d: %s", rc, e.msg);
	if (rc != 0) {
		ck_assert_ptr_null(req);
		ck_assert_has(e.msg, csr_cases[_i].sans);
		return;
	}
	ck_assert_int_eq(X509_REQ_verify(req, leaf_key), 1);
	sans = req_sans(req, &crit);
	ck_assert_str_eq(sans, csr_cases[_i].sans);
	ck_assert_int_eq(crit, csr_cases[_i].crit);
	cn[0] = '\0';
	X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn));
	ck_assert_str_eq(cn, names.common_name != NULL ? names.common_name : "");
	free(sans);
	X509_REQ_free(req);
}
END_TEST

START_TEST(test_csr_from_pem)
{
	struct buf pem = BUF_INIT;
	struct err e = {""};
	X509_REQ *req = NULL, *back = NULL;
	const char *body;
	char *old, *two;

	ck_assert_int_eq(x509_csr_create(leaf_key, &leaf_names, false, &req, &e), 0);
	ck_assert_int_eq(x509_csr_to_pem(req, &pem, &e), 0);
	/* The label older tools write. */
	body = strchr(pem.data, '\n');
	old = xasprintf("-----BEGIN NEW CERTIFICATE REQUEST-----%.*s-----END NEW CERTIFICATE "
			"REQUEST-----\n", (int)(strstr(body, "-----END") - body), body);
	ck_assert_msg(x509_csr_from_pem(old, strlen(old), &back, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(X509_REQ_verify(back, leaf_key), 1);
	X509_REQ_free(back);
	back = NULL;

	ck_assert_int_eq(x509_csr_from_pem(leaf_pem, strlen(leaf_pem), &back, &e), -EBADMSG);
	ck_assert_has(e.msg, "PEM block at byte 0 is \"CERTIFICATE\", expected CERTIFICATE REQUEST");
	ck_assert_int_eq(x509_csr_from_pem("", 0, &back, &e), -EBADMSG);
	ck_assert_has(e.msg, "no PEM block found (expected CERTIFICATE REQUEST)");
	two = xasprintf("%s%s", pem.data, pem.data);
	ck_assert_int_eq(x509_csr_from_pem(two, strlen(two), &back, &e), -EBADMSG);
	ck_assert_has(e.msg, "second PEM block at byte");
	ck_assert_ptr_null(back);

	free(old);
	free(two);
	buf_free(&pem);
	X509_REQ_free(req);
}
END_TEST

/* ------------------------------------------------------------ key matches cert */

static const struct {
	EVP_PKEY **key;
	X509 **cert;
	const char *msg;  /* NULL: matches */
} match_cases[] = {
	{&leaf_key, &leaf, NULL},
	{&rsa_key, &rsa_cert, NULL},
	{&ed_key, &ed_cert, NULL},
	{&root_key, &root, NULL},
	{&ec2_key, &leaf, "the private key does not match the certificate's public key (both ec-p256)"},
	{&inter_key, &leaf, "the private key is ec-p384 but the certificate's public key is ec-p256"},
	{&rsa_key, &leaf, "the private key is rsa-2048 but the certificate's public key is ec-p256"},
	{&ed_key, &leaf, "the private key is ed25519 but the certificate's public key is ec-p256"},
	{&rsa2_key, &rsa_cert, "the private key does not match the certificate's public key (both rsa-2048)"},
	{&leaf_key, &rsa_cert, "the private key is ec-p256 but the certificate's public key is rsa-2048"},
	{&ed2_key, &ed_cert, "the private key does not match the certificate's public key (both ed25519)"},
	{&rsa_key, &ed_cert, "the private key is rsa-2048 but the certificate's public key is ed25519"},
};

START_TEST(test_key_matches_cert)
{
	struct err e = {""};
	int rc = x509_key_matches_cert(*match_cases[_i].key, *match_cases[_i].cert, &e);

	if (match_cases[_i].msg == NULL) {
		ck_assert_msg(rc == 0, "%s", e.msg);
	} else {
		ck_assert_int_eq(rc, -EKEYREJECTED);
		ck_assert_str_eq(e.msg, match_cases[_i].msg);
	}
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

/* ------------------------------------------------------------ chain verification */

static const struct {
	X509 **untrusted[3];
	X509 **anchors[3];
	bool at_set;
	long at_days;
	int rc;
	const char *msg;
} verify_cases[] = {
	{{&inter}, {&root}, false, 0, 0, NULL},
	{{&inter}, {&other_root, &root}, false, 0, 0, NULL},
	{{NULL}, {&inter}, false, 0, 0, NULL},           /* the anchor is an intermediate */
	{{&inter}, {&inter}, false, 0, 0, NULL},
	{{&inter, &other_root}, {&root}, false, 0, 0, NULL},
	{{&inter}, {&root}, true, 29, 0, NULL},
	{{&inter}, {&other_root}, false, 0, -EBADMSG,
	 "unable to get local issuer certificate (depth 1, subject \"CN=Test Intermediate\")"},
	{{NULL}, {&root}, false, 0, -EBADMSG,
	 "unable to get local issuer certificate (depth 0, subject \"CN=www.example\")"},
	{{&inter}, {&root}, true, 60, -EBADMSG,
	 "certificate has expired (depth 0, subject \"CN=www.example\")"},
	{{&inter}, {&root}, true, -5, -EBADMSG,
	 "certificate is not yet valid (depth 0, subject \"CN=www.example\")"},
	{{&inter}, {&root}, true, 400, -EBADMSG,
	 "certificate has expired (depth 1, subject \"CN=Test Intermediate\")"},
	{{&inter}, {NULL}, false, 0, -EINVAL, "no trust anchors"},
};

static STACK_OF(X509) *
stack_of(X509 **const *v, size_t max)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	size_t i;

	for (i = 0; i < max && v[i] != NULL; i++)
		ck_assert_int_gt(sk_X509_push(sk, *v[i]), 0);
	return sk;
}

START_TEST(test_verify_chain)
{
	STACK_OF(X509) *untrusted = stack_of(verify_cases[_i].untrusted, 3);
	STACK_OF(X509) *anchors = stack_of(verify_cases[_i].anchors, 3);
	time_t at = verify_cases[_i].at_set ? now + verify_cases[_i].at_days * DAY : 0;
	struct err e = {""};
	int rc = x509_verify_chain(leaf, untrusted, anchors, at, &e);

	ck_assert_msg(rc == verify_cases[_i].rc, "rc %d: %s", rc, e.msg);
	if (rc != 0)
		ck_assert_str_eq(e.msg, verify_cases[_i].msg);
	ck_assert_int_eq(ERR_peek_error(), 0);
	sk_X509_free(untrusted);  /* the certificates are the fixture's */
	sk_X509_free(anchors);
}
END_TEST

/* ------------------------------------------------------------ name checks */

/* Against the fixture's leaf: CN www.example, DNS www.example a.example
 * B.example, IP 192.0.2.1 ::1, URI spiffe://example/svc. */
static const struct {
	struct names_row n;
	bool exclude;
	int rc;
	const char *msg;
} name_cases[] = {
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1", "::1"}, {"spiffe://example/svc"}},
	 false, 0, NULL},
	{{"WWW.Example", {"b.example", "A.EXAMPLE"}, {"0:0:0:0:0:0:0:1", "192.0.2.1"},
	  {"spiffe://example/svc"}}, false, 0, NULL},
	{{"www.example", {"a.example", "a.example", "B.example", "www.example"},
	  {"192.0.2.1", "::1", "::0:1"}, {"spiffe://example/svc"}}, false, 0, NULL},
	{{NULL, {"www.example", "a.example", "B.example"}, {"192.0.2.1", "::1"},
	  {"spiffe://example/svc"}}, false, 0, NULL},
	{{"www.example", {"a.example", "B.example", "c.example"}, {"192.0.2.1", "::1"},
	  {"spiffe://example/svc"}}, false, -EBADMSG,
	 "certificate lacks requested DNS name \"c.example\""},
	{{"www.example", {"a.example"}, {"192.0.2.1", "::1"}, {"spiffe://example/svc"}}, false,
	 -EBADMSG, "certificate has unexpected DNS name \"B.example\""},
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1", "::1", "192.0.2.2"},
	  {"spiffe://example/svc"}}, false, -EBADMSG,
	 "certificate lacks requested IP address \"192.0.2.2\""},
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1"}, {"spiffe://example/svc"}}, false,
	 -EBADMSG, "certificate has unexpected IP address \"::1\""},
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1", "::ffff:192.0.2.1"},
	  {"spiffe://example/svc"}}, false, -EBADMSG,
	 "certificate lacks requested IP address \"::ffff:192.0.2.1\""},
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1", "::1"},
	  {"spiffe://example/svc", "spiffe://example/other"}}, false, -EBADMSG,
	 "certificate lacks requested URI \"spiffe://example/other\""},
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1", "::1"}, {"SPIFFE://example/svc"}},
	 false, -EBADMSG, "certificate lacks requested URI \"SPIFFE://example/svc\""},
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1", "::1"}, {NULL}}, false, -EBADMSG,
	 "certificate has unexpected URI \"spiffe://example/svc\""},
	{{"other.example", {"a.example", "B.example"}, {"192.0.2.1", "::1"},
	  {"spiffe://example/svc"}}, false, -EBADMSG, "CN is \"www.example\", requested \"other.example\""},
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1", "::1"}, {"spiffe://example/svc"}},
	 true, -EBADMSG, "certificate has unexpected DNS name \"www.example\""},
	{{"www.example", {"a.example", "B.example"}, {"192.0.2.1", "::1", "192.0.2.300"},
	  {"spiffe://example/svc"}}, false, -EINVAL, "invalid IP address \"192.0.2.300\""},
};

START_TEST(test_check_names)
{
	struct x509_names names = row_names(&name_cases[_i].n);
	struct err e = {""};
	int rc = x509_check_names(leaf, &names, name_cases[_i].exclude, &e);

	ck_assert_msg(rc == name_cases[_i].rc, "rc %d: %s", rc, e.msg);
	if (rc != 0)
		ck_assert_str_eq(e.msg, name_cases[_i].msg);
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_check_names_other_certs)
{
	static const char *const dns[] = {"a.example"};
	static const char *const ips[] = {"192.0.2.9"};
	const struct x509_names excl = {"www.example", dns, 1, NULL, 0, NULL, 0};
	const struct x509_names ipcn = {"192.0.2.9", NULL, 0, NULL, 0, NULL, 0};
	const struct x509_names ipcn2 = {"192.0.2.9", NULL, 0, ips, 1, NULL, 0};
	const struct x509_names label = {"Test Root", NULL, 0, NULL, 0, NULL, 0};
	const struct x509_names label_dns = {"Test Root", dns, 1, NULL, 0, NULL, 0};
	const struct x509_names want_cn = {"x.example", NULL, 0, NULL, 0, NULL, 0};
	struct err e = {""};
	X509 *x;

	/* Issued with the CN kept out of the SANs. */
	x = issue(&excl, true, now - DAY, now + DAY);
	ck_assert_msg(x509_check_names(x, &excl, true, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(x509_check_names(x, &excl, false, &e), -EBADMSG);
	ck_assert_str_eq(e.msg, "certificate lacks requested DNS name \"www.example\"");
	X509_free(x);

	/* An IP literal as CN goes to the IP SANs. */
	x = issue(&ipcn, false, now - DAY, now + DAY);
	ck_assert_msg(x509_check_names(x, &ipcn, false, &e) == 0, "%s", e.msg);
	ck_assert_msg(x509_check_names(x, &ipcn2, false, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(x509_check_names(x, &ipcn, true, &e), -EBADMSG);
	ck_assert_str_eq(e.msg, "certificate has unexpected IP address \"192.0.2.9\"");
	X509_free(x);

	/* No SAN extension at all, a CN that is a label. */
	ck_assert_msg(x509_check_names(root, &label, false, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(x509_check_names(root, &label_dns, false, &e), -EBADMSG);
	ck_assert_str_eq(e.msg, "certificate lacks requested DNS name \"a.example\"");

	/* No CN at all. */
	x = sign(new_cert(NULL, leaf_key, inter, now - DAY, now + DAY, NULL, 0), inter_key);
	ck_assert_int_eq(x509_check_names(x, &want_cn, true, &e), -EBADMSG);
	ck_assert_str_eq(e.msg, "certificate has no CN, requested \"x.example\"");
	X509_free(x);
}
END_TEST

/* ------------------------------------------------------------ PEM chains */

/* Replace every "\n" of s by "\r\n". */
static char *
crlf(const char *s)
{
	struct buf b = BUF_INIT;

	for (; *s != '\0'; s++) {
		if (*s == '\n')
			buf_putc(&b, '\r');
		buf_putc(&b, *s);
	}
	return buf_steal(&b);
}

static char *
repeat(const char *s, int n)
{
	struct buf b = BUF_INIT;

	while (n-- > 0)
		buf_puts(&b, s);
	return buf_steal(&b);
}

/* A CERTIFICATE block around arbitrary DER. */
static char *
pem_of(const unsigned char *der, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	ck_assert_int_gt(PEM_write_bio(bio, "CERTIFICATE", "", der, (long)len), 0);
	n = BIO_get_mem_data(bio, &data);
	s = xstrndup(data, (size_t)n);
	BIO_free(bio);
	return s;
}

/* leaf's PEM with the byte at off replaced by c. */
static char *
poke(size_t off, char c)
{
	char *s = xstrdup(leaf_pem);

	s[off] = c;
	return s;
}

struct chain_case {
	const char *pem;
	bool allow_empty;
	int n;            /* certificates, or -1 for an error */
	const char *msg;  /* expected in the error */
};

START_TEST(test_chain_from_pem)
{
	size_t ll = strlen(leaf_pem), half = ll / 2;
	unsigned char *der = NULL, *der2;
	int dlen = i2d_X509(leaf, &der);
	char *s[24], *m[24];
	struct chain_case cases[40];
	STACK_OF(X509) *chain;
	struct err e;
	size_t i, k = 0, ns = 0, nm = 0;
	int rc;

	memset(cases, 0, sizeof(cases));
#define OK(p, ae, count) cases[k++] = (struct chain_case){(p), (ae), (count), NULL}
#define BAD(p, message) cases[k++] = (struct chain_case){(p), false, -1, (message)}
	OK(leaf_pem, false, 1);
	OK(s[ns++] = xasprintf("%s%s%s", leaf_pem, inter_pem, root_pem), false, 3);
	OK(s[ns++] = xasprintf("\n \t\r\n%s\r\n\r\n  %s\n\n", leaf_pem, inter_pem), false, 2);
	OK(s[ns++] = crlf(inter_pem), false, 1);
	OK(s[ns++] = xasprintf("%.*s \t\n%s", (int)(ll - 1), leaf_pem, root_pem), false, 2);
	OK("", true, 0);
	OK(" \r\n\t\n", true, 0);
	OK(s[ns++] = repeat(leaf_pem, 16), false, 16);
	BAD("", "no certificate found");
	BAD(" \n", "no certificate found");
	BAD(s[ns++] = xasprintf("%sgarbage\n", leaf_pem),
	    m[nm++] = xasprintf("unexpected data at byte %zu (expected \"-----BEGIN\")", ll));
	BAD(s[ns++] = xasprintf("x%s", leaf_pem), "unexpected data at byte 0");
	BAD(s[ns++] = xasprintf("%.*sx\n", (int)(ll - 1), leaf_pem),
	    m[nm++] = xasprintf("unexpected data at byte %zu", ll - 1));
	BAD(s[ns++] = xasprintf("%s%s", leaf_pem, key_pem),
	    m[nm++] = xasprintf("PEM block at byte %zu is \"PRIVATE KEY\", expected CERTIFICATE", ll));
	BAD(s[ns++] = xasprintf("%s\n%s", leaf_pem, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"),
	    m[nm++] = xasprintf("PEM block at byte %zu is \"X509 CRL\"", ll + 1));
	BAD(s[ns++] = xstrndup(leaf_pem, half), "truncated PEM block at byte 0 (no END line)");
	BAD(s[ns++] = xasprintf("%s%.*s", root_pem, (int)(ll - 5), leaf_pem),
	    m[nm++] = xasprintf("truncated PEM block at byte %zu (input ends in its END line)",
				strlen(root_pem)));
	BAD(s[ns++] = xasprintf("%.*s\n%s", (int)half, leaf_pem, inter_pem),
	    "truncated PEM block at byte 0 (the next BEGIN, at byte ");
	BAD("-----BEGIN CERTIFICATE-----", "truncated PEM block at byte 0 (no END line)");
	BAD("-----BEGIN CERTIFICATE-----\r", "truncated PEM block at byte 0 (no END line)");
	BAD("-----BEGIN CERTIFI", "truncated PEM block at byte 0 (input ends in its BEGIN line)");
	BAD("-----BEGIN certificate-----\n", "malformed PEM BEGIN line at byte 0");
	BAD("-----BEGIN CERTIFICATE----- x\n", "malformed PEM BEGIN line at byte 0");
	BAD("-----BEGIN -----\n", "malformed PEM BEGIN line at byte 0");
	BAD(s[ns++] = poke(100, '!'), "invalid character 0x21 at byte 100 in PEM block at byte 0");
	BAD("-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END CERTIFICATE-----\n",
	    "PEM block at byte 0 has headers at byte 28 (encrypted?), which are not supported");
	BAD(s[ns++] = xasprintf("%.*sEND X509 CRL-----\n", (int)(strstr(leaf_pem, "END") - leaf_pem),
				leaf_pem),
	    m[nm++] = xasprintf("PEM END line at byte %zu does not match \"BEGIN CERTIFICATE\"",
				(size_t)(strstr(leaf_pem, "-----END") - leaf_pem)));
	BAD("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	    "invalid certificate in PEM block at byte 0");
	BAD("-----BEGIN CERTIFICATE-----\nAAAAA\n-----END CERTIFICATE-----\n",
	    "invalid base64 in PEM block at byte 0");
	BAD("-----BEGIN CERTIFICATE-----\nAA==AAAA\n-----END CERTIFICATE-----\n",
	    "invalid base64 in PEM block at byte 0");
	BAD("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n",
	    "invalid base64 in PEM block at byte 0");
	ck_assert_uint_le(k, N(cases));

	for (i = 0; i < k; i++) {
		chain = NULL;
		e.msg[0] = '\0';
		rc = x509_chain_from_pem(cases[i].pem, strlen(cases[i].pem), cases[i].allow_empty,
					 &chain, &e);
		if (cases[i].n >= 0) {
			ck_assert_msg(rc == 0, "case %zu: %s", i, e.msg);
			ck_assert_int_eq(sk_X509_num(chain), cases[i].n);
		} else {
			ck_assert_msg(rc == -EBADMSG, "case %zu: rc %d", i, rc);
			ck_assert_ptr_null(chain);
			ck_assert_has(e.msg, cases[i].msg);
		}
		x509_chain_free(chain);
	}
#undef OK
#undef BAD

	chain = NULL;
	/* The DER must be used up exactly. */
	der2 = xmalloc((size_t)dlen + 2);
	memcpy(der2, der, (size_t)dlen);
	der2[dlen] = 0x05;
	der2[dlen + 1] = 0x00;
	s[ns++] = pem_of(der2, (size_t)dlen + 2);
	ck_assert_int_eq(x509_chain_from_pem(s[ns - 1], strlen(s[ns - 1]), false, &chain, &e),
			 -EBADMSG);
	ck_assert_str_eq(e.msg, "trailing data after the certificate in PEM block at byte 0");

	/* Explicit lengths: a NUL inside the text is just a bad byte. */
	s[ns++] = xstrdup(leaf_pem);
	s[ns - 1][200] = '\0';
	ck_assert_int_eq(x509_chain_from_pem(s[ns - 1], ll, false, &chain, &e), -EBADMSG);
	ck_assert_has(e.msg, "invalid character 0x00 at byte 200");

	/* At most 16. */
	s[ns++] = repeat(leaf_pem, 17);
	ck_assert_int_eq(x509_chain_from_pem(s[ns - 1], strlen(s[ns - 1]), false, &chain, &e),
			 -EBADMSG);
	m[nm++] = xasprintf("more than 16 certificates (block at byte %zu)", 16 * ll);
	ck_assert_str_eq(e.msg, m[nm - 1]);
	ck_assert_ptr_null(chain);

	for (i = 0; i < ns; i++)
		free(s[i]);
	for (i = 0; i < nm; i++)
		free(m[i]);
	free(der2);
	OPENSSL_free(der);
}
END_TEST

START_TEST(test_chain_order_and_size)
{
	char *three = xasprintf("%s%s%s", leaf_pem, inter_pem, root_pem);
	X509 *want[] = {leaf, inter, root};
	STACK_OF(X509) *chain = NULL;
	struct err e = {""};
	char *big;
	int i;

	ck_assert_int_eq(x509_chain_from_pem(three, strlen(three), false, &chain, &e), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(X509_cmp(sk_X509_value(chain, i), want[i]), 0);
	x509_chain_free(chain);
	x509_chain_free(NULL);

	big = xcalloc(1, 1024 * 1024 + 2);
	memset(big, ' ', 1024 * 1024 + 1);
	chain = NULL;
	ck_assert_int_eq(x509_chain_from_pem(big, 1024 * 1024 + 1, true, &chain, &e), -EBADMSG);
	ck_assert_str_eq(e.msg, "PEM input is 1048577 bytes, more than the 1048576 allowed");
	ck_assert_int_eq(x509_chain_from_pem(big, 1024 * 1024, true, &chain, &e), 0);
	ck_assert_int_eq(sk_X509_num(chain), 0);
	x509_chain_free(chain);
	free(big);
	free(three);
}
END_TEST

/* Every prefix of a two-certificate text: an error, or exactly the
 * complete blocks it holds. */
START_TEST(test_chain_prefixes)
{
	char *two = xasprintf("%s%s", leaf_pem, inter_pem);
	size_t ll = strlen(leaf_pem), len = strlen(two), l;
	size_t e1 = ll - 1, e2 = len - 1;  /* just past each "-----END ...-----" */
	STACK_OF(X509) *chain;
	struct err e;
	int rc, want;

	for (l = 0; l <= len; l++) {
		chain = NULL;
		e.msg[0] = '\0';
		rc = x509_chain_from_pem(two, l, true, &chain, &e);
		want = l == 0 ? 0 : l < e1 ? -1 : l <= ll ? 1 : l < e2 ? -1 : 2;
		if (want < 0) {
			ck_assert_msg(rc == -EBADMSG, "prefix %zu: rc %d", l, rc);
			ck_assert_msg(e.msg[0] != '\0' && strstr(e.msg, "byte") != NULL,
				      "prefix %zu: \"%s\"", l, e.msg);
		} else {
			ck_assert_msg(rc == 0, "prefix %zu: %s", l, e.msg);
			ck_assert_int_eq(sk_X509_num(chain), want);
		}
		x509_chain_free(chain);
	}
	free(two);
}
END_TEST

/* Every byte of a chain set to a handful of values: parsing must end in a
 * chain of one or two certificates or in an error naming a byte. */
START_TEST(test_chain_mutations)
{
	static const char values[] = {'\0', '-', '=', 'A', '\n', ' ', ':', '\xff'};
	char *two = xasprintf("%s%s", leaf_pem, inter_pem);
	size_t len = strlen(two), i, v;
	STACK_OF(X509) *chain;
	struct err e;
	char saved;
	int rc;

	for (i = 0; i < len; i++) {
		saved = two[i];
		for (v = 0; v < sizeof(values); v++) {
			two[i] = values[v];
			chain = NULL;
			e.msg[0] = '\0';
			rc = x509_chain_from_pem(two, len, false, &chain, &e);
			if (rc == 0)
				ck_assert_msg(sk_X509_num(chain) >= 1 && sk_X509_num(chain) <= 2,
					      "offset %zu", i);
			else
				ck_assert_msg(rc == -EBADMSG && strstr(e.msg, "byte") != NULL,
					      "offset %zu value %zu: rc %d \"%s\"", i, v, rc, e.msg);
			x509_chain_free(chain);
		}
		two[i] = saved;
	}
	free(two);
}
END_TEST

START_TEST(test_cert_pem)
{
	char *two = xasprintf("%s%s", leaf_pem, inter_pem);
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct buf b = BUF_INIT;
	struct err e = {""};
	X509 *x = NULL;
	BIO *bio;
	char *data;
	long n;

	ck_assert_int_eq(x509_cert_from_pem(leaf_pem, strlen(leaf_pem), &x, &e), 0);
	ck_assert_int_eq(X509_cmp(x, leaf), 0);
	X509_free(x);
	x = NULL;
	ck_assert_int_eq(x509_cert_from_pem(two, strlen(two), &x, &e), -EBADMSG);
	ck_assert_has(e.msg, "second PEM block at byte");
	ck_assert_int_eq(x509_cert_from_pem("\n", 1, &x, &e), -EBADMSG);
	ck_assert_str_eq(e.msg, "no PEM block found (expected CERTIFICATE)");
	ck_assert_int_eq(x509_cert_from_pem(key_pem, strlen(key_pem), &x, &e), -EBADMSG);
	ck_assert_str_eq(e.msg, "PEM block at byte 0 is \"PRIVATE KEY\", expected CERTIFICATE");
	ck_assert_ptr_null(x);

	/* What OpenSSL writes, byte for byte. */
	bio = BIO_new(BIO_s_mem());
	ck_assert_int_eq(PEM_write_bio_X509(bio, leaf), 1);
	n = BIO_get_mem_data(bio, &data);
	ck_assert_int_eq(strlen(leaf_pem), (size_t)n);
	ck_assert_int_eq(memcmp(leaf_pem, data, (size_t)n), 0);
	BIO_free(bio);

	ck_assert_int_eq(x509_chain_to_pem(chain, &b, &e), 0);
	ck_assert_str_eq(buf_str(&b), "");
	sk_X509_push(chain, leaf);
	sk_X509_push(chain, inter);
	buf_puts(&b, ">");
	ck_assert_int_eq(x509_chain_to_pem(chain, &b, &e), 0);
	ck_assert_str_eq(b.data + 1, two);

	sk_X509_free(chain);
	buf_free(&b);
	free(two);
}
END_TEST

/* ------------------------------------------------------------ small facts */

static const struct {
	unsigned char bytes[21];
	size_t len;
	const char *want;
} serial_cases[] = {
	{{0x01}, 1, "01"},
	{{0x00}, 1, "00"},
	{{0x03, 0xe1, 0x2c}, 3, "03:e1:2c"},
	{{0x1f, 0xa3, 0x00, 0x05}, 4, "1f:a3:00:05"},
	{{0x00, 0x00, 0x7a}, 3, "7a"},
	/* DER content is 00 80 01; Vault (Go's big.Int.Bytes) shows no sign octet. */
	{{0x80, 0x01}, 2, "80:01"},
	{{0x7f, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
	  0x00, 0x0f, 0x1e, 0x2d, 0x3c},
	 20, "7f:ee:dd:cc:bb:aa:99:88:77:66:55:44:33:22:11:00:0f:1e:2d:3c"},
};

START_TEST(test_serial_string)
{
	X509 *x = reparse(sign(new_cert("s.example", leaf_key, NULL, now, now + DAY,
					serial_cases[_i].bytes, serial_cases[_i].len),
			       leaf_key));
	size_t wl = strlen(serial_cases[_i].want);
	char out[3 * 20 + 1], small[64];

	ck_assert_int_eq(x509_serial_string(x, out, sizeof(out)), 0);
	ck_assert_str_eq(out, serial_cases[_i].want);
	ck_assert_int_eq(x509_serial_string(x, small, wl + 1), 0);
	ck_assert_str_eq(small, serial_cases[_i].want);
	ck_assert_int_eq(x509_serial_string(x, small, wl), -ENOSPC);
	X509_free(x);
}
END_TEST

START_TEST(test_serial_der_sign_octet)
{
	static const unsigned char high[] = {0x80, 0x01};
	X509 *x = sign(new_cert("s.example", leaf_key, NULL, now, now + DAY, high, 2), leaf_key);
	unsigned char *der = NULL;
	int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);

	/* The encoding has the 00; the string, like Vault's, does not. */
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(memcmp(der, "\x02\x03\x00\x80\x01", 5), 0);
	OPENSSL_free(der);
	X509_free(x);
}
END_TEST

START_TEST(test_fingerprint)
{
	unsigned char *der = NULL, md[32];
	char fp[65], want[65];
	int n = i2d_X509(leaf, &der);
	size_t i;

	ck_assert_int_eq(EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", md[i]);
	ck_assert_int_eq(x509_fingerprint_sha256(leaf, fp), 0);
	ck_assert_uint_eq(strlen(fp), 64);
	ck_assert_uint_eq(strspn(fp, "0123456789abcdef"), 64);
	ck_assert_str_eq(fp, want);
	ck_assert_int_eq(x509_fingerprint_sha256(root, fp), 0);
	ck_assert_str_ne(fp, want);
	OPENSSL_free(der);
}
END_TEST

static const struct {
	time_t nb, na;
	int na_type;
} lifetime_cases[] = {
	{1700000000, 1700000000 + 90 * DAY, V_ASN1_UTCTIME},
	{946684800, 2556144000, V_ASN1_GENERALIZEDTIME},  /* 2000-01-01, 2051-01-01 */
	{0, 2524607999, V_ASN1_UTCTIME},                  /* 1970, 2049-12-31T23:59:59Z */
};

START_TEST(test_lifetime)
{
	X509 *x = reparse(sign(new_cert("t.example", leaf_key, NULL, lifetime_cases[_i].nb,
					lifetime_cases[_i].na, NULL, 0), leaf_key));
	struct err e = {""};
	time_t nb = 1, na = 1;

	ck_assert_int_eq(ASN1_STRING_type(X509_get0_notAfter(x)), lifetime_cases[_i].na_type);
	ck_assert_msg(x509_lifetime(x, &nb, &na, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(nb, lifetime_cases[_i].nb);
	ck_assert_int_eq(na, lifetime_cases[_i].na);
	X509_free(x);
}
END_TEST

START_TEST(test_check_valid_at)
{
	const time_t nb = 1700000000, na = nb + 90 * DAY;
	X509 *x = sign(new_cert("t.example", leaf_key, NULL, nb, na, NULL, 0), leaf_key);
	struct err e = {""};

	ck_assert_int_eq(x509_check_valid_at(x, nb - 1, &e), -ERANGE);
	ck_assert_str_eq(e.msg, "certificate is not valid before 2023-11-14T22:13:20Z (checked at "
				"2023-11-14T22:13:19Z)");
	ck_assert_int_eq(x509_check_valid_at(x, nb, &e), 0);
	ck_assert_int_eq(x509_check_valid_at(x, na - 1, &e), 0);
	ck_assert_int_eq(x509_check_valid_at(x, na, &e), -ERANGE);
	ck_assert_str_eq(e.msg, "certificate expired at 2024-02-12T22:13:20Z (checked at "
				"2024-02-12T22:13:20Z)");
	X509_free(x);
}
END_TEST

START_TEST(test_subject_cn)
{
	X509 *x = sign(new_cert("h\xc3\xa9llo", leaf_key, NULL, now, now + DAY, NULL, 0), leaf_key);
	X509 *none = sign(new_cert(NULL, leaf_key, NULL, now, now + DAY, NULL, 0), leaf_key);
	char out[64];

	x509_subject_cn(leaf, out, sizeof(out));
	ck_assert_str_eq(out, "www.example");
	x509_subject_cn(leaf, out, 4);
	ck_assert_str_eq(out, "www");
	x509_subject_cn(leaf, out, 1);
	ck_assert_str_eq(out, "");
	x509_subject_cn(root, out, sizeof(out));
	ck_assert_str_eq(out, "Test Root");
	x509_subject_cn(x, out, sizeof(out));
	ck_assert_str_eq(out, "h\xc3\xa9llo");
	x509_subject_cn(x, out, 3);  /* "h" + half of the e-acute */
	ck_assert_str_eq(out, "h");
	x509_subject_cn(x, out, 4);
	ck_assert_str_eq(out, "h\xc3\xa9");
	snprintf(out, sizeof(out), "stale");
	x509_subject_cn(none, out, sizeof(out));
	ck_assert_str_eq(out, "");
	X509_free(x);
	X509_free(none);
}
END_TEST

/* ------------------------------------------------------------ real Vault output */

/* A recorded exchange, whole (request line, headers and body). */
static char *
fixture(const char *name)
{
	char *path = xasprintf("%s/tests/fixtures/vault-1.7.10/%s", SRCDIR, name);
	char *data = tu_read_file(path, NULL);

	ck_assert_msg(data != NULL, "cannot read %s", path);
	free(path);
	return data;
}

/* The first string value of "key" in text, unescaped: just enough JSON
 * for PEM, serials and CSRs.  NULL when there is none. */
static char *
json_str(const char *text, const char *key)
{
	char *pat = xasprintf("\"%s\":", key);
	const char *p = strstr(text, pat);
	struct buf b = BUF_INIT;

	free(pat);
	if (p == NULL)
		return NULL;
	p += strlen(key) + 3;
	while (*p == ' ')
		p++;
	if (*p++ != '"')
		return NULL;
	buf_puts(&b, "");
	for (; *p != '\0' && *p != '"'; p++) {
		if (*p == '\\' && p[1] != '\0')
			buf_putc(&b, *++p == 'n' ? '\n' : *p);
		else
			buf_putc(&b, *p);
	}
	return buf_steal(&b);
}

static const struct {
	const char *file;
	struct names_row n;
	bool has_key;
	enum x509_key_type key_type;
} vault_cases[] = {
	{"pki-issue-ec.txt", {"www.example.com", {"api.example.com"}, {"127.0.0.1"}, {NULL}}, true,
	 X509_KEY_EC_P256},
	{"pki-issue-rsa.txt", {"www.example.com", {NULL}, {NULL}, {NULL}}, true, X509_KEY_RSA_2048},
	{"pki-sign.txt", {"www.example.com", {"api.example.com"}, {NULL}, {NULL}}, false, 0},
};

START_TEST(test_vault_fixtures)
{
	char *text = fixture(vault_cases[_i].file);
	char *crt_pem = json_str(text, "certificate"), *ca_pem = json_str(text, "issuing_ca");
	char *serial = json_str(text, "serial_number"), *pkey_pem = json_str(text, "private_key");
	char *csr_pem = json_str(text, "csr"), *exp = strstr(text, "\"expiration\": ");
	struct x509_names names = row_names(&vault_cases[_i].n);
	STACK_OF(X509) *anchors = NULL;
	struct err e = {""};
	enum x509_key_type t;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	X509 *cert = NULL;
	time_t nb, na;
	char out[64];

	ck_assert(crt_pem != NULL && ca_pem != NULL && serial != NULL && exp != NULL);
	ck_assert_msg(x509_cert_from_pem(crt_pem, strlen(crt_pem), &cert, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(x509_serial_string(cert, out, sizeof(out)), 0);
	ck_assert_str_eq(out, serial);  /* Vault's own spelling, byte for byte */
	ck_assert_int_eq(x509_lifetime(cert, &nb, &na, &e), 0);
	ck_assert_int_eq((long long)na, strtoll(exp + strlen("\"expiration\": "), NULL, 10));
	ck_assert_msg(x509_check_names(cert, &names, false, &e) == 0, "%s", e.msg);

	/* The issuing CA is an intermediate whose root Vault never sends. */
	ck_assert_msg(x509_chain_from_pem(ca_pem, strlen(ca_pem), false, &anchors, &e) == 0, "%s",
		      e.msg);
	ck_assert_msg(x509_verify_chain(cert, NULL, anchors, nb + 60, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(x509_verify_chain(cert, NULL, anchors, na + 60, &e), -EBADMSG);
	ck_assert_has(e.msg, "certificate has expired (depth 0, subject \"CN=www.example.com\")");

	if (vault_cases[_i].has_key) {
		ck_assert_ptr_nonnull(pkey_pem);
		ck_assert_msg(x509_key_from_pem(pkey_pem, strlen(pkey_pem), &key, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(x509_key_type_of(key, &t), 0);
		ck_assert_int_eq(t, vault_cases[_i].key_type);
		ck_assert_msg(x509_key_matches_cert(key, cert, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(x509_key_matches_cert(leaf_key, cert, &e), -EKEYREJECTED);
	} else {
		ck_assert_ptr_nonnull(csr_pem);
		ck_assert_msg(x509_csr_from_pem(csr_pem, strlen(csr_pem), &req, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
		ck_assert_int_eq(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), X509_get0_pubkey(cert)), 1);
	}

	X509_REQ_free(req);
	EVP_PKEY_free(key);
	X509_free(cert);
	x509_chain_free(anchors);
	free(crt_pem);
	free(ca_pem);
	free(serial);
	free(pkey_pem);
	free(csr_pem);
	free(text);
}
END_TEST

START_TEST(test_vault_pem_texts)
{
	char *ca_chain = fixture("pki-ca-chain.txt"), *bundle_text = fixture("pki-issue-pem-bundle.txt");
	char *bundle = json_str(bundle_text, "certificate");
	const char *body = strstr(ca_chain, "\n\n");
	STACK_OF(X509) *chain = NULL;
	struct err e = {""};

	/* pki/ca_chain is bare PEM, not JSON. */
	ck_assert_ptr_nonnull(body);
	ck_assert_msg(x509_chain_from_pem(body, strlen(body), false, &chain, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(sk_X509_num(chain), 1);
	x509_chain_free(chain);
	chain = NULL;

	/* format=pem_bundle mixes the key into "certificate": not a chain. */
	ck_assert_ptr_nonnull(bundle);
	ck_assert_int_eq(x509_chain_from_pem(bundle, strlen(bundle), false, &chain, &e), -EBADMSG);
	ck_assert_str_eq(e.msg, "PEM block at byte 0 is \"EC PRIVATE KEY\", expected CERTIFICATE");
	ck_assert_ptr_null(chain);

	free(bundle);
	free(bundle_text);
	free(ca_chain);
}
END_TEST

/* ------------------------------------------------------------ main */

static Suite *
x509_suite(void)
{
	Suite *s = suite_create("x509");
	TCase *tc;

	tc = tcase_create("keys");
	tcase_set_timeout(tc, 300);  /* RSA 4096 under sanitizers */
	tcase_add_unchecked_fixture(tc, pki_setup, NULL);
	tcase_add_loop_test(tc, test_key_type_parse, 0, (int)N(parse_cases));
	tcase_add_test(tc, test_key_type_name);
	tcase_add_loop_test(tc, test_key_roundtrip, 0, (int)N(keygen_cases));
	tcase_add_test(tc, test_key_type_of_foreign);
	tcase_add_test(tc, test_key_from_pem_traditional);
	tcase_add_test(tc, test_key_from_pem_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("csr");
	tcase_add_unchecked_fixture(tc, pki_setup, NULL);
	tcase_add_loop_test(tc, test_csr_roundtrip, 0, (int)N(csr_keys));
	tcase_add_loop_test(tc, test_csr_names, 0, (int)N(csr_cases));
	tcase_add_test(tc, test_csr_from_pem);
	suite_add_tcase(s, tc);

	tc = tcase_create("trust");
	tcase_add_unchecked_fixture(tc, pki_setup, NULL);
	tcase_add_loop_test(tc, test_key_matches_cert, 0, (int)N(match_cases));
	tcase_add_loop_test(tc, test_verify_chain, 0, (int)N(verify_cases));
	tcase_add_loop_test(tc, test_check_names, 0, (int)N(name_cases));
	tcase_add_test(tc, test_check_names_other_certs);
	suite_add_tcase(s, tc);

	tc = tcase_create("pem");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, pki_setup, NULL);
	tcase_add_test(tc, test_chain_from_pem);
	tcase_add_test(tc, test_chain_order_and_size);
	tcase_add_test(tc, test_chain_prefixes);
	tcase_add_test(tc, test_chain_mutations);
	tcase_add_test(tc, test_cert_pem);
	suite_add_tcase(s, tc);

	tc = tcase_create("facts");
	tcase_add_unchecked_fixture(tc, pki_setup, NULL);
	tcase_add_loop_test(tc, test_serial_string, 0, (int)N(serial_cases));
	tcase_add_test(tc, test_serial_der_sign_octet);
	tcase_add_test(tc, test_fingerprint);
	tcase_add_loop_test(tc, test_lifetime, 0, (int)N(lifetime_cases));
	tcase_add_test(tc, test_check_valid_at);
	tcase_add_test(tc, test_subject_cn);
	suite_add_tcase(s, tc);

	tc = tcase_create("vault");
	tcase_add_unchecked_fixture(tc, pki_setup, NULL);
	tcase_add_loop_test(tc, test_vault_fixtures, 0, (int)N(vault_cases));
	tcase_add_test(tc, test_vault_pem_texts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(x509_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pki_free();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
