/*
 * fuzz_x509.c — libFuzzer harness for certd's PEM handling (lib/x509.c):
 * the strict PEM scanner and what runs on what it accepts.
 *
 * Input: PEM text (what Vault's certificate/ca_chain/private_key fields
 * and the files certd reads back hold).  Every input goes through
 * x509_cert_from_pem, x509_chain_from_pem (allow_empty from the length's
 * parity), x509_key_from_pem and x509_csr_from_pem.  What parses is then
 * used as certd uses it: serial, fingerprint, subject CN, lifetime and
 * validity, name check against a fixed request, key type, key/cert
 * match (a parsed certificate against a fixed key, a parsed key against a
 * certificate of a fixed key: one input is never both), chain
 * verification (leaf to the last certificate), and a write and re-read of
 * the PEM.
 *
 * Invariants checked (x509.h): out-parameters are written only on success,
 * a failure carries a message, the serial is hex pairs, the subject CN is
 * terminated within its buffer, and what certd writes it can read back
 * (the same DER for a certificate).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "buf.h"
#include "err.h"
#include "x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2027-01-01T00:00:00Z: verification and validity at a fixed time. */
#define FIXED_TIME ((time_t)1798761600)

static EVP_PKEY *fixed_key;
static X509 *fixed_cert;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_x509: invariant violated: %s\n", what);
	abort();
}

/* A P-256 key and a self-signed certificate of it, made once. */
static void
setup(void)
{
	struct err e = {{0}};
	X509_NAME *name;

	if (x509_key_generate(X509_KEY_EC_P256, &fixed_key, &e) < 0)
		fail(e.msg);
	fixed_cert = X509_new();
	name = X509_NAME_new();
	if (fixed_cert == NULL || name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"fixed", -1, -1, 0) ||
	    !X509_set_subject_name(fixed_cert, name) || !X509_set_issuer_name(fixed_cert, name) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(fixed_cert), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(fixed_cert), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(fixed_cert), 3600) ||
	    !X509_set_pubkey(fixed_cert, fixed_key) ||
	    !X509_sign(fixed_cert, fixed_key, EVP_sha256()))
		fail("cannot make the fixed certificate");
	X509_NAME_free(name);
}

static void
check_failure(int rc, const struct err *e, const void *out, const void *sentinel)
{
	if (rc >= 0)
		return;
	if (out != sentinel)
		fail("out-parameter written on failure");
	if (e->msg[0] == '\0')
		fail("failure without a message");
}

static int
same_der(X509 *a, X509 *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_X509(a, &da), lb = i2d_X509(b, &db), same;

	same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

static void
use_cert(X509 *cert)
{
	static const char *const dns[] = {"www.example.com", "example.com"};
	static const char *const ips[] = {"192.0.2.1", "2001:db8::1"};
	static const char *const uris[] = {"spiffe://example.com/web"};
	const struct x509_names want = {"www.example.com", dns, 2, ips, 2, uris, 1};
	struct err e = {{0}};
	char serial[64], fpr[65], cn[32];
	struct buf pem = BUF_INIT;
	X509 *again = NULL;
	time_t nb, na;
	size_t i;

	if (x509_serial_string(cert, serial, sizeof(serial)) == 0) {
		for (i = 0; serial[i] != '\0'; i++)
			if (strchr("0123456789abcdef:-", serial[i]) == NULL)
				fail("serial is not hex pairs");
	}
	if (x509_fingerprint_sha256(cert, fpr) == 0 && strlen(fpr) != 64)
		fail("fingerprint length");
	memset(cn, 'x', sizeof(cn));
	x509_subject_cn(cert, cn, sizeof(cn));
	if (memchr(cn, '\0', sizeof(cn)) == NULL)
		fail("subject CN not terminated");
	if (x509_lifetime(cert, &nb, &na, &e) == 0)
		x509_check_valid_at(cert, FIXED_TIME, &e);
	x509_check_names(cert, &want, false, &e);
	x509_check_names(cert, &want, true, &e);
	x509_key_matches_cert(fixed_key, cert, &e);

	if (x509_cert_to_pem(cert, &pem, &e) == 0) {
		if (x509_cert_from_pem(pem.data, pem.len, &again, &e) < 0)
			fail("a certificate certd wrote does not read back");
		if (!same_der(cert, again))
			fail("a certificate does not read back as the same DER");
		X509_free(again);
	}
	buf_free(&pem);
}

static void
use_key(EVP_PKEY *key)
{
	struct err e = {{0}};
	enum x509_key_type kt;
	struct buf pem = BUF_INIT;
	EVP_PKEY *again = NULL;

	x509_key_type_of(key, &kt);
	x509_key_matches_cert(key, fixed_cert, &e);
	if (x509_key_to_pem(key, &pem, &e) == 0) {
		if (x509_key_from_pem(pem.data, pem.len, &again, &e) < 0)
			fail("a key certd wrote does not read back");
		if (EVP_PKEY_eq(key, again) != 1)
			fail("a key does not read back as the same key");
		EVP_PKEY_free(again);
	}
	buf_free_secret(&pem);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *pem = (const char *)data;
	X509 *cert = (X509 *)&pem, *cert_sentinel = cert;
	STACK_OF(X509) *chain = (STACK_OF(X509) *)&pem, *chain_sentinel = chain;
	EVP_PKEY *key = (EVP_PKEY *)&pem, *key_sentinel = key;
	X509_REQ *csr = (X509_REQ *)&pem, *csr_sentinel = csr;
	struct err e1 = {{0}}, e2 = {{0}}, e3 = {{0}}, e4 = {{0}};
	int rc_cert, rc_chain, rc_key, rc_csr;

	if (fixed_key == NULL)
		setup();
	rc_cert = x509_cert_from_pem(pem, size, &cert, &e1);
	check_failure(rc_cert, &e1, cert, cert_sentinel);
	rc_chain = x509_chain_from_pem(pem, size, size % 2 == 0, &chain, &e2);
	check_failure(rc_chain, &e2, chain, chain_sentinel);
	rc_key = x509_key_from_pem(pem, size, &key, &e3);
	check_failure(rc_key, &e3, key, key_sentinel);
	rc_csr = x509_csr_from_pem(pem, size, &csr, &e4);
	check_failure(rc_csr, &e4, csr, csr_sentinel);
	/* One certificate is also a chain of one. */
	if (rc_cert == 0 && (rc_chain != 0 || sk_X509_num(chain) != 1))
		fail("a certificate is not a chain of one");

	if (rc_cert == 0)
		use_cert(cert);
	if (rc_chain == 0 && sk_X509_num(chain) > 0) {
		struct err e = {{0}};
		STACK_OF(X509) *anchors = sk_X509_new_null();
		X509 *top = sk_X509_value(chain, sk_X509_num(chain) - 1);
		int i;

		if (anchors == NULL || !X509_up_ref(top) || !sk_X509_push(anchors, top))
			abort();
		x509_verify_chain(sk_X509_value(chain, 0), chain, anchors, FIXED_TIME, &e);
		x509_chain_free(anchors);
		for (i = 1; i < sk_X509_num(chain); i++)
			use_cert(sk_X509_value(chain, i));
		if (rc_cert != 0)
			use_cert(sk_X509_value(chain, 0));
	}
	if (rc_key == 0)
		use_key(key);

	if (rc_cert == 0)
		X509_free(cert);
	if (rc_chain == 0)
		x509_chain_free(chain);
	if (rc_key == 0)
		EVP_PKEY_free(key);
	if (rc_csr == 0)
		X509_REQ_free(csr);
	ERR_clear_error();
	return 0;
}
