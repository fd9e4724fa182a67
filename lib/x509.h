/*
 * x509.h — keys, CSRs, certificates and chains, on OpenSSL 3 EVP APIs only.
 *
 * Everything here is a leaf: no logging, no event loop.  Functions that
 * fail return a negative errno and describe the cause in a struct err.
 * Key generation can take seconds (RSA 4096): never call x509_key_generate
 * from the event-loop thread; the job runs it on a worker.
 */
#ifndef CERTD_X509_H
#define CERTD_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "buf.h"
#include "err.h"

enum x509_key_type {
	X509_KEY_EC_P256 = 0,
	X509_KEY_EC_P384,
	X509_KEY_RSA_2048,
	X509_KEY_RSA_3072,
	X509_KEY_RSA_4096,
	X509_KEY_ED25519,
};

/* Map a config pair (key_type = ec|rsa|ed25519, key_bits) to a key type.
 * bits == 0 picks the default for the type (ec: 256, rsa: 2048); ed25519
 * takes no bits.  type compares case-insensitively.  Returns -EINVAL with a
 * message listing the allowed values otherwise. */
int x509_key_type_parse(const char *type, unsigned bits, enum x509_key_type *out, struct err *e);
/* "ec-p256", "rsa-2048", "ed25519"... (static string). */
const char *x509_key_type_name(enum x509_key_type t);
/* The key type of an existing key, or -EINVAL when it is none of ours. */
int x509_key_type_of(EVP_PKEY *key, enum x509_key_type *out);

/* Generate a new private key (RSA with e = 65537).  Blocking and CPU-bound
 * (see above).  *out is the caller's (EVP_PKEY_free). */
int x509_key_generate(enum x509_key_type t, EVP_PKEY **out, struct err *e);
/* PKCS#8 PEM, unencrypted.  out receives secret material: free it with
 * buf_free_secret. */
int x509_key_to_pem(EVP_PKEY *key, struct buf *out, struct err *e);
/* Parse exactly one private key (PKCS#8 or traditional RSA/EC PEM; not
 * encrypted).  Same strict scanning as x509_chain_from_pem; -EBADMSG. */
int x509_key_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct err *e);

/* The names a certificate is requested for.  Arrays of NUL-terminated
 * strings; any of them may be empty.  ips are textual IPv4/IPv6. */
struct x509_names {
	const char *common_name;        /* may be NULL */
	const char *const *dns;
	size_t n_dns;
	const char *const *ips;
	size_t n_ips;
	const char *const *uris;
	size_t n_uris;
};

/* Build and sign (with key) a CSR for names: subject CN plus a
 * subjectAltName extension with DNS, IP and URI entries.  Unless
 * exclude_cn_from_sans, the CN is also added to the SANs: as an IP SAN when
 * it is an IPv4/IPv6 literal, as a DNS SAN when it looks like a DNS name
 * (only letters, digits, '-', '_', '.', '*'), and not at all otherwise (a
 * CN such as "Build Farm" is a label, not a name).  The CN comes first,
 * duplicates are dropped (DNS case-insensitively, IPs in binary form), and
 * the SAN extension is critical when there is no CN (RFC 5280 4.2.1.6).
 * Signed with SHA-256, or no digest for Ed25519.  -EINVAL for a malformed
 * name or no name at all.  *out is the caller's (X509_REQ_free). */
int x509_csr_create(EVP_PKEY *key, const struct x509_names *names, bool exclude_cn_from_sans,
		    X509_REQ **out, struct err *e);
int x509_csr_to_pem(X509_REQ *req, struct buf *out, struct err *e);
int x509_csr_from_pem(const char *pem, size_t len, X509_REQ **out, struct err *e);

/* Parse a PEM text holding one or more CERTIFICATE blocks.  Text between
 * and around blocks that is only whitespace is accepted; anything else
 * (other PEM types, garbage, a truncated block, PEM headers) is -EBADMSG
 * naming the byte offset.  At most 16 certificates and 1 MiB of input.
 * An empty (or all-whitespace) input yields an empty stack when
 * allow_empty.  Free *out with x509_chain_free. */
int x509_chain_from_pem(const char *pem, size_t len, bool allow_empty, STACK_OF(X509) **out,
			struct err *e);
/* Exactly one certificate. */
int x509_cert_from_pem(const char *pem, size_t len, X509 **out, struct err *e);
int x509_cert_to_pem(X509 *cert, struct buf *out, struct err *e);
/* Concatenated PEM of every certificate in chain, in order. */
int x509_chain_to_pem(STACK_OF(X509) *chain, struct buf *out, struct err *e);
void x509_chain_free(STACK_OF(X509) *chain);

/* 0 when key is the private half of cert's public key (EC, RSA, Ed25519),
 * -EKEYREJECTED with a message otherwise. */
int x509_key_matches_cert(EVP_PKEY *key, X509 *cert, struct err *e);

/* Verify leaf up to one of anchors, using untrusted as intermediates, at
 * time `at` (0: now).  Any anchor ends the chain, even one that is not
 * self-signed (X509_V_FLAG_PARTIAL_CHAIN): the CA an issuer tells us to
 * trust is often itself an intermediate.  Returns 0, or -EBADMSG with
 * OpenSSL's reason and the depth/subject of the certificate it failed on;
 * -EINVAL when anchors is empty. */
int x509_verify_chain(X509 *leaf, STACK_OF(X509) *untrusted, STACK_OF(X509) *anchors, time_t at,
		      struct err *e);

/* 0 when cert's CN and SANs are exactly the requested names (order does not
 * matter; DNS names compare case-insensitively, IPs in binary form; the CN,
 * when requested, is also expected among the SANs by the same rule as
 * x509_csr_create).  Only DNS, IP and URI SANs are compared: other types
 * (e-mail, otherName) cannot be requested and are ignored.  When no CN is
 * requested the certificate's CN is not checked (issuers often copy the
 * first SAN into it).  -EBADMSG naming the CN mismatch or the first
 * missing, then the first unexpected, name; -EINVAL for malformed want. */
int x509_check_names(X509 *cert, const struct x509_names *want, bool exclude_cn_from_sans,
		     struct err *e);

/* notBefore/notAfter as time_t. */
int x509_lifetime(X509 *cert, time_t *not_before, time_t *not_after, struct err *e);
/* 0 when not_before <= at < not_after, -ERANGE with a message otherwise.
 * at is taken literally (0 is 1970, not now). */
int x509_check_valid_at(X509 *cert, time_t at, struct err *e);

/* Serial number as lower-case hex pairs separated by ':' (Vault's form,
 * e.g. "03:e1:.."): the minimal big-endian magnitude, as Go's
 * big.Int.Bytes(), so DER's 00 sign octet is not shown; "00" for zero, a
 * leading '-' for a (non-conforming) negative serial.  out must hold at
 * least 3*20+1 bytes; -ENOSPC when a longer serial does not fit. */
int x509_serial_string(X509 *cert, char *out, size_t outlen);
/* SHA-256 of the DER certificate as 64 lower-case hex chars + NUL; -EIO. */
int x509_fingerprint_sha256(X509 *cert, char out[65]);
/* Subject CN (first, UTF-8), or "" when none; out is truncated to outlen
 * (never inside a UTF-8 sequence). */
void x509_subject_cn(X509 *cert, char *out, size_t outlen);

#endif
