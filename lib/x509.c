/*
 * x509.c — keys, CSRs, certificates and chains on OpenSSL 3 EVP APIs only.
 *
 * This module owns three things:
 *  - key_types[], the one table of key types certd generates; parsing the
 *    config pair, naming, generating and recognising keys all read it;
 *  - pem_next(), the strict PEM scanner every parser here goes through
 *    before OpenSSL sees a byte of untrusted input;
 *  - struct want, the single definition of "the names of a request", built
 *    by want_build() and used both to write a CSR's subjectAltName and to
 *    judge a certificate in x509_check_names, so that what we ask for and
 *    what we accept cannot drift apart.
 *
 * Invariants:
 *  - PEM input is at most PEM_MAX bytes and a chain at most CHAIN_MAX
 *    certificates.  Between blocks only whitespace is allowed; a body holds
 *    only the base64 alphabet and whitespace; the END line repeats the
 *    BEGIN label.  Every complaint about input names a byte offset.
 *  - DER decoded from a block must be consumed exactly.
 *  - Private key bytes live only in OpenSSL's key objects, in secure-memory
 *    BIOs, in temporaries wiped with OPENSSL_cleanse before they are freed,
 *    or in the caller's buf, which is grown before the copy so that
 *    realloc never leaves a stray copy behind.
 *  - Out-parameters are written only on success.  The OpenSSL error queue
 *    is cleared on entry to each fallible function and drained into struct
 *    err (or cleared) before it returns, so messages never carry stale
 *    reasons from elsewhere.
 *  - Untrusted text (names, subjects from certificates) is escaped before
 *    it goes into a message.  No logging, no global mutable state.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "err.h"
#include "x509.h"
#include "xalloc.h"

#define CHAIN_MAX 16           /* certificates in one chain */
#define PEM_MAX (1024 * 1024)  /* bytes of PEM input */
#define LABEL_MAX 32           /* "NEW CERTIFICATE REQUEST" is 23 */
#define DNS_MAX 253            /* RFC 1035 2.3.4, in text form */
#define QUOTE_MAX 160          /* bytes of one quoted name in a message */

/* ---------------------------------------------------------------- helpers */

static int ossl_err(struct err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* err_set, then append (and clear) OpenSSL's queued reasons. */
static int
ossl_err(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e != NULL) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	err_add_openssl(e);
	return -code;
}

/* Render untrusted bytes for a message: printable ASCII stays, '"', '\'
 * and everything else become \xNN; cut with "..." when out is too small. */
static const char *
quote(const void *data, size_t len, char *out, size_t outlen)
{
	const unsigned char *s = data;
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (o + 8 >= outlen) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
			out[o++] = (char)s[i];
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", s[i]);
	}
	out[o] = '\0';
	return out;
}

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Locale-independent: DNS names compare case-insensitively in ASCII only. */
static bool
ascii_caseeq(const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

/* Append a memory BIO's content to out.  Reserving first means the append
 * itself never reallocates, so a secret is never left in a freed block. */
static void
bio_to_buf(BIO *bio, struct buf *out)
{
	char *data = NULL;
	long n;

	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		return;
	buf_reserve(out, (size_t)n);
	buf_append(out, data, (size_t)n);
}

static const char *
fmt_time(time_t t, char out[32])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "@%lld", (long long)t);
	return out;
}

/* ---------------------------------------------------------------- key types */

static const struct key_type {
	enum x509_key_type type;
	const char *family;  /* config key_type */
	unsigned bits;       /* config key_bits; 0: the type takes none */
	bool dflt;           /* what key_bits = 0 selects */
	const char *name;
	const char *alg;     /* OpenSSL key management name */
	const char *group;   /* EC curve, or NULL */
	int nid;             /* EC curve, or NID_undef */
} key_types[] = {
	{X509_KEY_EC_P256, "ec", 256, true, "ec-p256", "EC", "P-256", NID_X9_62_prime256v1},
	{X509_KEY_EC_P384, "ec", 384, false, "ec-p384", "EC", "P-384", NID_secp384r1},
	{X509_KEY_RSA_2048, "rsa", 2048, true, "rsa-2048", "RSA", NULL, NID_undef},
	{X509_KEY_RSA_3072, "rsa", 3072, false, "rsa-3072", "RSA", NULL, NID_undef},
	{X509_KEY_RSA_4096, "rsa", 4096, false, "rsa-4096", "RSA", NULL, NID_undef},
	{X509_KEY_ED25519, "ed25519", 0, true, "ed25519", "ED25519", NULL, NID_undef},
};

#define N_KEY_TYPES (sizeof(key_types) / sizeof(key_types[0]))

static const struct key_type *
key_type_info(enum x509_key_type t)
{
	size_t i;

	for (i = 0; i < N_KEY_TYPES; i++)
		if (key_types[i].type == t)
			return &key_types[i];
	return NULL;
}

int
x509_key_type_parse(const char *type, unsigned bits, enum x509_key_type *out, struct err *e)
{
	char allowed[64] = "";
	char q[QUOTE_MAX];
	const struct key_type *kt;
	size_t i, n = 0;
	bool known = false;

	for (i = 0; type != NULL && i < N_KEY_TYPES; i++) {
		kt = &key_types[i];
		if (strlen(type) != strlen(kt->family) ||
		    !ascii_caseeq((const unsigned char *)type, (const unsigned char *)kt->family,
				  strlen(type)))
			continue;
		known = true;
		if (bits == 0 ? kt->dflt : bits == kt->bits) {
			*out = kt->type;
			return 0;
		}
		if (kt->bits != 0)
			n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s%u",
					      n > 0 ? ", " : "", kt->bits);
	}
	if (!known)
		return err_set(e, EINVAL, "unknown key type \"%s\" (allowed: ec, rsa, ed25519)",
			       type == NULL ? "" : quote(type, strlen(type), q, sizeof(q)));
	if (n == 0)
		return err_set(e, EINVAL, "%s keys have a fixed size: key_bits %u is not allowed "
			       "(allowed: none, leave it unset)", type, bits);
	return err_set(e, EINVAL, "%s keys cannot have %u bits (allowed: %s)", type, bits, allowed);
}

const char *
x509_key_type_name(enum x509_key_type t)
{
	const struct key_type *kt = key_type_info(t);

	return kt != NULL ? kt->name : "unknown";
}

int
x509_key_type_of(EVP_PKEY *key, enum x509_key_type *out)
{
	const struct key_type *kt;
	char group[80];
	size_t i;
	int nid;

	if (key == NULL)
		return -EINVAL;
	for (i = 0; i < N_KEY_TYPES; i++) {
		kt = &key_types[i];
		if (!EVP_PKEY_is_a(key, kt->alg))
			continue;
		if (kt->nid != NID_undef) {
			if (!EVP_PKEY_get_group_name(key, group, sizeof(group), NULL))
				continue;
			if ((nid = OBJ_txt2nid(group)) == NID_undef)
				nid = EC_curve_nist2nid(group);
			if (nid != kt->nid)
				continue;
		} else if (kt->bits != 0 && EVP_PKEY_get_bits(key) != (int)kt->bits) {
			continue;
		}
		*out = kt->type;
		return 0;
	}
	ERR_clear_error();
	return -EINVAL;
}

/* Our name for key's type, or OpenSSL's for a type that is not ours. */
static const char *
key_desc(EVP_PKEY *key)
{
	enum x509_key_type t;
	const char *name;

	if (x509_key_type_of(key, &t) == 0)
		return x509_key_type_name(t);
	name = EVP_PKEY_get0_type_name(key);
	return name != NULL ? name : "unknown";
}

int
x509_key_generate(enum x509_key_type t, EVP_PKEY **out, struct err *e)
{
	const struct key_type *kt = key_type_info(t);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	OSSL_PARAM params[4], *p = params;
	unsigned int exponent = 65537;
	size_t bits;
	int rc;

	if (kt == NULL)
		return err_set(e, EINVAL, "unknown key type %d", (int)t);
	ERR_clear_error();
	bits = kt->bits;
	if (kt->group != NULL)
		*p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							(char *)kt->group, 0);
	if (strcmp(kt->alg, "RSA") == 0) {
		/* 65537 is OpenSSL's default too; say it so a change there
		 * cannot change our keys. */
		*p++ = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
		*p++ = OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_E, &exponent);
	}
	*p = OSSL_PARAM_construct_end();

	ctx = EVP_PKEY_CTX_new_from_name(NULL, kt->alg, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_params(ctx, params) <= 0 || EVP_PKEY_generate(ctx, &key) <= 0) {
		rc = ossl_err(e, EIO, "cannot generate %s key", kt->name);
		goto out;
	}
	*out = key;
	key = NULL;
	rc = 0;
out:
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* ---------------------------------------------------------------- PEM scanner */

struct pem_block {
	size_t start;           /* offset of "-----BEGIN " */
	size_t body, body_end;  /* the base64 text */
	char label[LABEL_MAX + 1];
};

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

static bool
is_label(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ';
}

static bool
has_at(const char *s, size_t len, size_t pos, const char *lit)
{
	size_t n = strlen(lit);

	return pos <= len && len - pos >= n && memcmp(s + pos, lit, n) == 0;
}

static int
pem_input_ok(const char *pem, size_t len, struct err *e)
{
	if (pem == NULL && len > 0)
		return err_set(e, EINVAL, "no PEM input");
	if (len > PEM_MAX)
		return err_set(e, EBADMSG, "PEM input is %zu bytes, more than the %d allowed", len,
			       PEM_MAX);
	return 0;
}

/*
 * Find the block at or after *pos.  Returns 1 and fills b (with *pos just
 * past its END line), 0 when only whitespace is left, or -EBADMSG.
 * RFC 7468 section 2: BEGIN and END lines repeat the same label; we accept
 * only its strict form (base64 lines, no RFC 1421 headers) because nothing
 * certd reads legitimately carries headers.
 */
static int
pem_next(const char *s, size_t len, size_t *pos, struct pem_block *b, struct err *e)
{
	char end[LABEL_MAX + 16];
	size_t p = *pos, l, line;

	while (p < len && is_ws(s[p]))
		p++;
	if (p == len) {
		*pos = p;
		return 0;
	}
	b->start = p;
	if (!has_at(s, len, p, "-----BEGIN "))
		return err_set(e, EBADMSG, "unexpected data at byte %zu (expected \"-----BEGIN\")", p);
	p += strlen("-----BEGIN ");
	for (l = 0; p + l < len && l <= LABEL_MAX && is_label(s[p + l]); l++)
		;
	if (p + l == len)
		return err_set(e, EBADMSG, "truncated PEM block at byte %zu (input ends in its "
			       "BEGIN line)", b->start);
	if (l == 0 || l > LABEL_MAX || !has_at(s, len, p + l, "-----"))
		return err_set(e, EBADMSG, "malformed PEM BEGIN line at byte %zu", b->start);
	memcpy(b->label, s + p, l);
	b->label[l] = '\0';
	p += l + 5;
	while (p < len && (s[p] == ' ' || s[p] == '\t'))
		p++;
	if (p < len && s[p] == '\r')
		p++;
	if (p < len && s[p] != '\n')
		return err_set(e, EBADMSG, "malformed PEM BEGIN line at byte %zu", b->start);
	if (p == len)
		return err_set(e, EBADMSG, "truncated PEM block at byte %zu (no END line)", b->start);
	b->body = line = ++p;

	/* Body: up to the first '-' at the start of a line. */
	for (;; p++) {
		if (p == len)
			return err_set(e, EBADMSG, "truncated PEM block at byte %zu (no END line)",
				       b->start);
		if (s[p - 1] == '\n')
			line = p;
		if (s[p] == '-' && line == p)
			break;
		if (is_ws(s[p]) || is_b64(s[p]))
			continue;
		for (l = p; l < len && s[l] != '\n' && s[l] != ':'; l++)
			;
		if (l < len && s[l] == ':')  /* RFC 1421 "Proc-Type: 4,ENCRYPTED" */
			return err_set(e, EBADMSG, "PEM block at byte %zu has headers at byte %zu "
				       "(encrypted?), which are not supported", b->start, line);
		return err_set(e, EBADMSG, "invalid character 0x%02x at byte %zu in PEM block at "
			       "byte %zu", (unsigned char)s[p], p, b->start);
	}
	b->body_end = p;
	if (has_at(s, len, p, "-----BEGIN "))
		return err_set(e, EBADMSG, "truncated PEM block at byte %zu (the next BEGIN, at "
			       "byte %zu, comes before its END line)", b->start, p);
	snprintf(end, sizeof(end), "-----END %s-----", b->label);
	if (!has_at(s, len, p, end)) {
		if (len - p < strlen(end) && memcmp(s + p, end, len - p) == 0)
			return err_set(e, EBADMSG, "truncated PEM block at byte %zu (input ends "
				       "in its END line)", b->start);
		return err_set(e, EBADMSG, "PEM END line at byte %zu does not match \"BEGIN %s\"", p,
			       b->label);
	}
	*pos = p + strlen(end);
	return 1;
}

/*
 * Decode b's body into a new buffer of *derlen bytes (*dercap allocated;
 * release with xfree_secret, as the block may be a key).  The scanner
 * already restricted the alphabet; here the padding must be canonical:
 * '=' only as the last one or two characters of a multiple of four.
 */
static int
pem_decode(const char *s, const struct pem_block *b, unsigned char **der, size_t *derlen,
	   size_t *dercap, struct err *e)
{
	size_t i, n = 0, pad = 0, txtcap = b->body_end - b->body + 1, cap = 0;
	unsigned char *txt = xmalloc(txtcap), *bin = NULL;
	int r, rc;

	for (i = b->body; i < b->body_end; i++)
		if (!is_ws(s[i]))
			txt[n++] = (unsigned char)s[i];
	while (pad < n && pad < 3 && txt[n - 1 - pad] == '=')
		pad++;
	if (n == 0 || n % 4 != 0 || pad > 2 || memchr(txt, '=', n - pad) != NULL) {
		rc = err_set(e, EBADMSG, "invalid base64 in PEM block at byte %zu", b->start);
		goto out;
	}
	cap = n / 4 * 3;
	bin = xmalloc(cap);
	r = EVP_DecodeBlock(bin, txt, (int)n);
	if (r < 0 || (size_t)r != cap) {
		rc = err_set(e, EBADMSG, "invalid base64 in PEM block at byte %zu", b->start);
		goto out;
	}
	*der = bin;
	*derlen = cap - pad;
	*dercap = cap;
	bin = NULL;
	rc = 0;
out:
	xfree_secret(txt, txtcap);
	xfree_secret(bin, cap);
	return rc;
}

/* What each parser and writer deals in.  A private key is only ever
 * unencrypted: certd has no passphrase to give. */
enum pem_kind { PEM_CERT, PEM_CSR, PEM_KEY };

static const struct pem_kind_info {
	const char *what;
	const char *labels[3];  /* the first is the canonical one */
} pem_kinds[] = {
	[PEM_CERT] = {"certificate", {"CERTIFICATE", NULL, NULL}},
	/* "NEW CERTIFICATE REQUEST" is what some older tools write. */
	[PEM_CSR] = {"CSR", {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", NULL}},
	[PEM_KEY] = {"private key", {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}},
};

static void
obj_free(enum pem_kind kind, void *obj)
{
	if (kind == PEM_CERT)
		X509_free(obj);
	else if (kind == PEM_CSR)
		X509_REQ_free(obj);
	else
		EVP_PKEY_free(obj);
}

/* Check b's label, decode its body and parse the DER as kind, which must
 * use it up exactly. */
static int
block_parse(const char *s, const struct pem_block *b, enum pem_kind kind, void **out,
	    struct err *e)
{
	const struct pem_kind_info *k = &pem_kinds[kind];
	unsigned char *der = NULL;
	const unsigned char *p;
	void *obj = NULL;
	size_t i, n = 0, cap = 0;
	int rc;

	for (i = 0; i < 3 && k->labels[i] != NULL; i++)
		if (strcmp(b->label, k->labels[i]) == 0)
			break;
	if (kind == PEM_KEY && strcmp(b->label, "ENCRYPTED PRIVATE KEY") == 0)
		return err_set(e, EBADMSG, "PEM block at byte %zu is an encrypted private key, "
			       "which is not supported", b->start);
	if (i == 3 || k->labels[i] == NULL)
		return err_set(e, EBADMSG, "PEM block at byte %zu is \"%s\", expected %s", b->start,
			       b->label, k->labels[0]);
	if ((rc = pem_decode(s, b, &der, &n, &cap, e)) < 0)
		return rc;
	p = der;
	if (kind == PEM_CERT)
		obj = d2i_X509(NULL, &p, (long)n);
	else if (kind == PEM_CSR)
		obj = d2i_X509_REQ(NULL, &p, (long)n);
	else  /* detects PKCS#8 and the traditional RSA/EC structures alike */
		obj = d2i_AutoPrivateKey(NULL, &p, (long)n);
	if (obj == NULL) {
		rc = ossl_err(e, EBADMSG, "invalid %s in PEM block at byte %zu", k->what, b->start);
	} else if (p != der + n) {
		rc = err_set(e, EBADMSG, "trailing data after the %s in PEM block at byte %zu",
			     k->what, b->start);
	} else {
		ERR_clear_error();  /* format detection leaves its attempts queued */
		*out = obj;
		obj = NULL;
		rc = 0;
	}
	obj_free(kind, obj);
	xfree_secret(der, cap);
	return rc;
}

/* Exactly one block, of kind, in pem. */
static int
pem_parse_one(const char *pem, size_t len, enum pem_kind kind, void **out, struct err *e)
{
	struct pem_block b, next;
	size_t pos = 0;
	int r;

	ERR_clear_error();
	if ((r = pem_input_ok(pem, len, e)) < 0 || (r = pem_next(pem, len, &pos, &b, e)) < 0)
		return r;
	if (r == 0)
		return err_set(e, EBADMSG, "no PEM block found (expected %s)",
			       pem_kinds[kind].labels[0]);
	if ((r = pem_next(pem, len, &pos, &next, e)) < 0)
		return r;
	if (r > 0)
		return err_set(e, EBADMSG, "second PEM block at byte %zu (expected exactly one %s)",
			       next.start, pem_kinds[kind].labels[0]);
	return block_parse(pem, &b, kind, out, e);
}

/* Append the PEM of obj, or of every certificate of chain, to out. */
static int
pem_write(enum pem_kind kind, void *obj, STACK_OF(X509) *chain, struct buf *out, struct err *e)
{
	BIO *bio;
	int i, ok, rc;

	ERR_clear_error();
	/* A key goes through a secure-heap BIO, whose memory is wiped when
	 * freed; PKCS#8 without a cipher is the unencrypted PRIVATE KEY. */
	bio = BIO_new(kind == PEM_KEY ? BIO_s_secmem() : BIO_s_mem());
	if ((ok = bio != NULL) && kind == PEM_KEY)
		ok = PEM_write_bio_PKCS8PrivateKey(bio, obj, NULL, NULL, 0, NULL, NULL);
	else if (ok && kind == PEM_CSR)
		ok = PEM_write_bio_X509_REQ(bio, obj);
	else if (ok && obj != NULL)
		ok = PEM_write_bio_X509(bio, obj);
	for (i = 0; ok && obj == NULL && i < sk_X509_num(chain); i++)
		ok = PEM_write_bio_X509(bio, sk_X509_value(chain, i));
	if (ok) {
		bio_to_buf(bio, out);
		rc = 0;
	} else {
		rc = ossl_err(e, EIO, "cannot encode %s", pem_kinds[kind].what);
	}
	BIO_free(bio);
	return rc;
}

/* ---------------------------------------------------------------- keys, PEM */

int
x509_key_to_pem(EVP_PKEY *key, struct buf *out, struct err *e)
{
	if (key == NULL)
		return err_set(e, EINVAL, "no key");
	return pem_write(PEM_KEY, key, NULL, out, e);
}

int
x509_key_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct err *e)
{
	void *obj;
	int rc;

	if ((rc = pem_parse_one(pem, len, PEM_KEY, &obj, e)) == 0)
		*out = obj;
	return rc;
}

/* ---------------------------------------------------------------- names */

/* One requested name, in the form it is compared in. */
struct wname {
	int type;                /* GEN_DNS, GEN_IPADD or GEN_URI */
	const char *text;        /* as the caller wrote it */
	unsigned char ip[16];    /* GEN_IPADD: the address, len is 4 or 16 */
	size_t len;
};

struct want {
	const char *cn;          /* NULL when none is requested */
	bool cn_dns;             /* CN compares as a DNS name */
	struct wname *v;         /* the SANs, in CSR order, no duplicates */
	size_t n;
};

static const unsigned char *
wname_data(const struct wname *w)
{
	return w->type == GEN_IPADD ? w->ip : (const unsigned char *)w->text;
}

static const char *
gen_kind(int type)
{
	return type == GEN_DNS ? "DNS name" : type == GEN_IPADD ? "IP address" : "URI";
}

static bool
name_eq(int type, const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	if (alen != blen)
		return false;
	return type == GEN_DNS ? ascii_caseeq(a, b, alen) : memcmp(a, b, alen) == 0;
}

static bool
ip_parse(const char *s, unsigned char ip[16], size_t *len)
{
	if (inet_pton(AF_INET, s, ip) == 1)
		*len = 4;
	else if (inet_pton(AF_INET6, s, ip) == 1)
		*len = 16;
	else
		return false;
	return true;
}

/* A host name or wildcard in A-label form: letters, digits, '-', '_',
 * '.', '*'.  Rules out what cannot be a DNS SAN (spaces, non-ASCII). */
static bool
dns_plausible(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > DNS_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("-_.*", s[i]) != NULL))
			return false;
	return true;
}

/* RFC 3986 scheme ':' rest, printable ASCII without spaces (IA5String). */
static bool
uri_plausible(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t i;

	if (colon == NULL || colon == s)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static int
want_add(struct want *w, int type, const char *text, struct err *e)
{
	struct wname n;
	char q[QUOTE_MAX];
	size_t i;

	memset(&n, 0, sizeof(n));
	n.type = type;
	n.text = text;
	if (text == NULL)
		return err_set(e, EINVAL, "NULL %s", gen_kind(type));
	if (type == GEN_IPADD) {
		if (!ip_parse(text, n.ip, &n.len))
			return err_set(e, EINVAL, "invalid IP address \"%s\"",
				       quote(text, strlen(text), q, sizeof(q)));
	} else {
		if (type == GEN_DNS ? !dns_plausible(text) : !uri_plausible(text))
			return err_set(e, EINVAL, "invalid %s \"%s\"", gen_kind(type),
				       quote(text, strlen(text), q, sizeof(q)));
		n.len = strlen(text);
	}
	for (i = 0; i < w->n; i++)
		if (w->v[i].type == type &&
		    name_eq(type, wname_data(&w->v[i]), w->v[i].len, wname_data(&n), n.len))
			return 0;
	w->v[w->n++] = n;
	return 0;
}

/*
 * The requested names as a set.  The CN (when set) leads the SANs: as a DNS
 * name when it is dns_plausible(), as an IP address when it parses as one,
 * and not at all otherwise (a CN like "Build Farm" is a label, not a name)
 * or with exclude_cn.
 */
static int
want_build(const struct x509_names *names, bool exclude_cn, struct want *w, struct err *e)
{
	unsigned char ip[16];
	size_t i, iplen, max;
	int rc = 0;

	memset(w, 0, sizeof(*w));
	if (names == NULL)
		return err_set(e, EINVAL, "no names");
	max = names->n_dns + names->n_ips + names->n_uris;
	if (max < names->n_dns || max + 1 == 0)
		return err_set(e, EINVAL, "too many names");
	w->v = xreallocarray(NULL, max + 1, sizeof(*w->v));
	if (names->common_name != NULL && names->common_name[0] != '\0') {
		w->cn = names->common_name;
		if (ip_parse(w->cn, ip, &iplen)) {
			if (!exclude_cn)
				rc = want_add(w, GEN_IPADD, w->cn, e);
		} else if (dns_plausible(w->cn)) {
			w->cn_dns = true;
			if (!exclude_cn)
				rc = want_add(w, GEN_DNS, w->cn, e);
		}
	}
	for (i = 0; rc == 0 && i < names->n_dns; i++)
		rc = want_add(w, GEN_DNS, names->dns[i], e);
	for (i = 0; rc == 0 && i < names->n_ips; i++)
		rc = want_add(w, GEN_IPADD, names->ips[i], e);
	for (i = 0; rc == 0 && i < names->n_uris; i++)
		rc = want_add(w, GEN_URI, names->uris[i], e);
	if (rc == 0 && w->cn == NULL && w->n == 0)
		rc = err_set(e, EINVAL, "no names requested (no CN and no subject alternative names)");
	if (rc < 0)
		free(w->v);
	return rc;
}

static bool
gens_add(GENERAL_NAMES *gens, const struct wname *w)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_STRING *s = ASN1_STRING_type_new(w->type == GEN_IPADD ? V_ASN1_OCTET_STRING
								  : V_ASN1_IA5STRING);

	if (g == NULL || s == NULL || !ASN1_STRING_set(s, wname_data(w), (int)w->len)) {
		GENERAL_NAME_free(g);
		ASN1_STRING_free(s);
		return false;
	}
	GENERAL_NAME_set0_value(g, w->type, s);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return false;
	}
	return true;
}

/* The subjectAltName extension for w; critical when the subject is empty
 * (RFC 5280 section 4.2.1.6). */
static X509_EXTENSION *
want_san_ext(const struct want *w)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	X509_EXTENSION *ext = NULL;
	size_t i;

	for (i = 0; gens != NULL && i < w->n; i++)
		if (!gens_add(gens, &w->v[i]))
			goto out;
	if (gens != NULL)
		ext = X509V3_EXT_i2d(NID_subject_alt_name, w->cn == NULL, gens);
out:
	GENERAL_NAMES_free(gens);
	return ext;
}

/* ---------------------------------------------------------------- CSRs */

int
x509_csr_create(EVP_PKEY *key, const struct x509_names *names, bool exclude_cn_from_sans,
		X509_REQ **out, struct err *e)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	X509_REQ *req = NULL;
	const EVP_MD *md;
	struct want w;
	char q[QUOTE_MAX];
	int rc;

	if (key == NULL)
		return err_set(e, EINVAL, "no key");
	if ((rc = want_build(names, exclude_cn_from_sans, &w, e)) < 0)
		return rc;
	ERR_clear_error();
	if ((req = X509_REQ_new()) == NULL || !X509_REQ_set_version(req, X509_REQ_VERSION_1)) {
		rc = ossl_err(e, EIO, "cannot create CSR");
		goto out;
	}
	if (w.cn != NULL &&
	    !X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req), NID_commonName,
					MBSTRING_UTF8, (const unsigned char *)w.cn, -1, -1, 0)) {
		rc = ossl_err(e, EINVAL, "cannot use \"%s\" as CN",
			      quote(w.cn, strlen(w.cn), q, sizeof(q)));
		goto out;
	}
	if (w.n > 0) {
		exts = sk_X509_EXTENSION_new_null();
		if (exts == NULL || (ext = want_san_ext(&w)) == NULL ||
		    !sk_X509_EXTENSION_push(exts, ext)) {
			rc = ossl_err(e, EIO, "cannot build the subjectAltName extension");
			goto out;
		}
		ext = NULL;  /* owned by exts */
		if (!X509_REQ_add_extensions(req, exts)) {
			rc = ossl_err(e, EIO, "cannot add the subjectAltName extension");
			goto out;
		}
	}
	/* EdDSA hashes internally and takes no digest (RFC 8410 section 6). */
	md = EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448") ? NULL : EVP_sha256();
	if (!X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, md) <= 0) {
		rc = ossl_err(e, EIO, "cannot sign CSR with the %s key", key_desc(key));
		goto out;
	}
	*out = req;
	req = NULL;
	rc = 0;
out:
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	free(w.v);
	return rc;
}

int
x509_csr_to_pem(X509_REQ *req, struct buf *out, struct err *e)
{
	if (req == NULL)
		return err_set(e, EINVAL, "no CSR");
	return pem_write(PEM_CSR, req, NULL, out, e);
}

int
x509_csr_from_pem(const char *pem, size_t len, X509_REQ **out, struct err *e)
{
	void *obj;
	int rc;

	if ((rc = pem_parse_one(pem, len, PEM_CSR, &obj, e)) == 0)
		*out = obj;
	return rc;
}

/* ---------------------------------------------------------------- certificates */

int
x509_chain_from_pem(const char *pem, size_t len, bool allow_empty, STACK_OF(X509) **out,
		    struct err *e)
{
	STACK_OF(X509) *chain = NULL;
	struct pem_block b;
	void *obj;
	size_t pos = 0;
	int r, rc;

	if ((rc = pem_input_ok(pem, len, e)) < 0)
		return rc;
	ERR_clear_error();
	if ((chain = sk_X509_new_null()) == NULL) {
		rc = ossl_err(e, ENOMEM, "cannot allocate a chain");
		goto out;
	}
	while ((r = pem_next(pem, len, &pos, &b, e)) > 0) {
		if (sk_X509_num(chain) == CHAIN_MAX) {
			rc = err_set(e, EBADMSG, "more than %d certificates (block at byte %zu)",
				     CHAIN_MAX, b.start);
			goto out;
		}
		if ((rc = block_parse(pem, &b, PEM_CERT, &obj, e)) < 0)
			goto out;
		if (!sk_X509_push(chain, obj)) {
			X509_free(obj);
			rc = ossl_err(e, ENOMEM, "cannot grow a chain");
			goto out;
		}
	}
	if (r < 0) {
		rc = r;
		goto out;
	}
	if (sk_X509_num(chain) == 0 && !allow_empty) {
		rc = err_set(e, EBADMSG, "no certificate found");
		goto out;
	}
	*out = chain;
	chain = NULL;
	rc = 0;
out:
	x509_chain_free(chain);
	return rc;
}

int
x509_cert_from_pem(const char *pem, size_t len, X509 **out, struct err *e)
{
	void *obj;
	int rc;

	if ((rc = pem_parse_one(pem, len, PEM_CERT, &obj, e)) == 0)
		*out = obj;
	return rc;
}

int
x509_cert_to_pem(X509 *cert, struct buf *out, struct err *e)
{
	if (cert == NULL)
		return err_set(e, EINVAL, "no certificate");
	return pem_write(PEM_CERT, cert, NULL, out, e);
}

int
x509_chain_to_pem(STACK_OF(X509) *chain, struct buf *out, struct err *e)
{
	return pem_write(PEM_CERT, NULL, chain, out, e);
}

void
x509_chain_free(STACK_OF(X509) *chain)
{
	sk_X509_pop_free(chain, X509_free);
}

int
x509_key_matches_cert(EVP_PKEY *key, X509 *cert, struct err *e)
{
	EVP_PKEY *pub;
	const char *kd, *cd;
	int r;

	if (key == NULL || cert == NULL)
		return err_set(e, EINVAL, "no key or no certificate");
	ERR_clear_error();
	if ((pub = X509_get0_pubkey(cert)) == NULL)
		return ossl_err(e, EKEYREJECTED, "the certificate's public key cannot be decoded");
	/* 1: same key; 0: same type, other key; -1: other type; -2: n/a */
	r = EVP_PKEY_eq(key, pub);
	ERR_clear_error();
	if (r == 1)
		return 0;
	kd = key_desc(key);
	cd = key_desc(pub);
	if (strcmp(kd, cd) != 0)
		return err_set(e, EKEYREJECTED, "the private key is %s but the certificate's "
			       "public key is %s", kd, cd);
	return err_set(e, EKEYREJECTED, "the private key does not match the certificate's "
		       "public key (both %s)", kd);
}

static const char *
name_text(X509_NAME *name, char *out, size_t outlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n = 0;

	/* RFC 2253 form escapes control and non-ASCII bytes. */
	if (bio != NULL && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0)
		n = BIO_get_mem_data(bio, &data);
	quote(data != NULL ? data : "", n > 0 ? (size_t)n : 0, out, outlen);
	BIO_free(bio);
	return out;
}

int
x509_verify_chain(X509 *leaf, STACK_OF(X509) *untrusted, STACK_OF(X509) *anchors, time_t at,
		  struct err *e)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509 *cur;
	char subj[QUOTE_MAX];
	int i, r, rc, verr;

	if (leaf == NULL)
		return err_set(e, EINVAL, "no certificate to verify");
	if (sk_X509_num(anchors) <= 0)
		return err_set(e, EINVAL, "no trust anchors");
	ERR_clear_error();
	if ((store = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL) {
		rc = ossl_err(e, ENOMEM, "cannot set up chain verification");
		goto out;
	}
	for (i = 0; i < sk_X509_num(anchors); i++) {
		if (!X509_STORE_add_cert(store, sk_X509_value(anchors, i))) {
			rc = ossl_err(e, EIO, "cannot add trust anchor %d", i);
			goto out;
		}
	}
	if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
		rc = ossl_err(e, EIO, "cannot set up chain verification");
		goto out;
	}
	/*
	 * The CA we are told to trust is often an intermediate (a Vault PKI
	 * mount signed by an offline root): it must end the chain without its
	 * own issuer.  PARTIAL_CHAIN lets any certificate in the store be a
	 * trust anchor; the chain must still reach one of `anchors`.
	 */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
	if (at != 0)
		X509_STORE_CTX_set_time(ctx, 0, at);  /* sets X509_V_FLAG_USE_CHECK_TIME */
	r = X509_verify_cert(ctx);
	if (r == 1) {
		rc = 0;
		goto out;
	}
	if (r < 0) {
		rc = ossl_err(e, EIO, "cannot verify certificate chain");
		goto out;
	}
	verr = X509_STORE_CTX_get_error(ctx);
	cur = X509_STORE_CTX_get_current_cert(ctx);
	rc = err_set(e, EBADMSG, "%s (depth %d, subject \"%s\")",
		     X509_verify_cert_error_string(verr), X509_STORE_CTX_get_error_depth(ctx),
		     cur != NULL ? name_text(X509_get_subject_name(cur), subj, sizeof(subj)) : "");
	ERR_clear_error();
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* The first CN of cert as UTF-8 (free with OPENSSL_free): its length, -1
 * when there is none, -2 when it cannot be decoded. */
static int
cert_cn(X509 *cert, unsigned char **out)
{
	X509_NAME *name = X509_get_subject_name(cert);
	X509_NAME_ENTRY *ent;
	int i;

	*out = NULL;
	if (name == NULL || (i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
		return -1;
	if ((ent = X509_NAME_get_entry(name, i)) == NULL ||
	    (i = ASN1_STRING_to_UTF8(out, X509_NAME_ENTRY_get_data(ent))) < 0) {
		ERR_clear_error();
		*out = NULL;
		return -2;
	}
	return i;
}

static int
check_cn(X509 *cert, const struct want *w, struct err *e)
{
	unsigned char *cn = NULL;
	char q1[QUOTE_MAX], q2[QUOTE_MAX];
	size_t wl = strlen(w->cn);
	int n, rc = 0;

	quote(w->cn, wl, q2, sizeof(q2));
	n = cert_cn(cert, &cn);
	if (n < 0)
		rc = err_set(e, EBADMSG, "certificate has %s CN, requested \"%s\"",
			     n == -1 ? "no" : "an undecodable", q2);
	else if (!name_eq(w->cn_dns ? GEN_DNS : GEN_URI /* exact */, cn, (size_t)n,
			  (const unsigned char *)w->cn, wl))
		rc = err_set(e, EBADMSG, "CN is \"%s\", requested \"%s\"",
			     quote(cn, (size_t)n, q1, sizeof(q1)), q2);
	OPENSSL_free(cn);
	return rc;
}

static bool
gen_matches(const GENERAL_NAME *g, const struct wname *w)
{
	const ASN1_STRING *s;
	int type;

	s = GENERAL_NAME_get0_value(g, &type);
	return type == w->type && s != NULL &&
	       name_eq(type, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s),
		       wname_data(w), w->len);
}

static const char *
san_text(int type, const ASN1_STRING *s, char *out, size_t outlen)
{
	const unsigned char *d = ASN1_STRING_get0_data(s);
	size_t n = (size_t)ASN1_STRING_length(s);

	if (type == GEN_IPADD && (n == 4 || n == 16) && outlen >= INET6_ADDRSTRLEN &&
	    inet_ntop(n == 4 ? AF_INET : AF_INET6, d, out, (socklen_t)outlen) != NULL)
		return out;
	return quote(d, n, out, outlen);
}

int
x509_check_names(X509 *cert, const struct x509_names *want, bool exclude_cn_from_sans,
		 struct err *e)
{
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *g;
	const ASN1_STRING *s;
	struct want w;
	char q[QUOTE_MAX];
	size_t i, k;
	int j, crit = -1, type, rc;

	if (cert == NULL)
		return err_set(e, EINVAL, "no certificate");
	if ((rc = want_build(want, exclude_cn_from_sans, &w, e)) < 0)
		return rc;
	ERR_clear_error();
	if (w.cn != NULL && (rc = check_cn(cert, &w, e)) < 0)
		goto out;
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL && crit != -1) {
		rc = ossl_err(e, EBADMSG, "certificate has %s subjectAltName extension",
			      crit == -2 ? "more than one" : "a malformed");
		goto out;
	}
	for (i = 0; i < w.n; i++) {
		for (j = 0; j < sk_GENERAL_NAME_num(gens); j++)
			if (gen_matches(sk_GENERAL_NAME_value(gens, j), &w.v[i]))
				break;
		if (j == sk_GENERAL_NAME_num(gens) || gens == NULL) {
			rc = err_set(e, EBADMSG, "certificate lacks requested %s \"%s\"",
				     gen_kind(w.v[i].type),
				     quote(w.v[i].text, strlen(w.v[i].text), q, sizeof(q)));
			goto out;
		}
	}
	/* Only the SAN types certd can request are compared: an issuer may add
	 * others (e-mail, otherName) that no config could ask for. */
	for (j = 0; j < sk_GENERAL_NAME_num(gens); j++) {
		g = sk_GENERAL_NAME_value(gens, j);
		s = GENERAL_NAME_get0_value(g, &type);
		if (s == NULL || (type != GEN_DNS && type != GEN_IPADD && type != GEN_URI))
			continue;
		for (k = 0; k < w.n; k++)
			if (gen_matches(g, &w.v[k]))
				break;
		if (k == w.n) {
			rc = err_set(e, EBADMSG, "certificate has unexpected %s \"%s\"",
				     gen_kind(type), san_text(type, s, q, sizeof(q)));
			goto out;
		}
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	free(w.v);
	return rc;
}

/* ---------------------------------------------------------------- small facts */

static int
asn1_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
		ERR_clear_error();
		return -1;
	}
	*out = timegm(&tm);
	return 0;
}

int
x509_lifetime(X509 *cert, time_t *not_before, time_t *not_after, struct err *e)
{
	time_t nb, na;

	if (cert == NULL)
		return err_set(e, EINVAL, "no certificate");
	if (asn1_time(X509_get0_notBefore(cert), &nb) < 0)
		return err_set(e, EBADMSG, "certificate has an invalid notBefore");
	if (asn1_time(X509_get0_notAfter(cert), &na) < 0)
		return err_set(e, EBADMSG, "certificate has an invalid notAfter");
	*not_before = nb;
	*not_after = na;
	return 0;
}

int
x509_check_valid_at(X509 *cert, time_t at, struct err *e)
{
	time_t nb, na;
	char t1[32], t2[32];
	int rc;

	if ((rc = x509_lifetime(cert, &nb, &na, e)) < 0)
		return rc;
	if (at < nb)
		return err_set(e, ERANGE, "certificate is not valid before %s (checked at %s)",
			       fmt_time(nb, t1), fmt_time(at, t2));
	if (at >= na)
		return err_set(e, ERANGE, "certificate expired at %s (checked at %s)",
			       fmt_time(na, t1), fmt_time(at, t2));
	return 0;
}

static const char hexdigits[] = "0123456789abcdef";

int
x509_serial_string(X509 *cert, char *out, size_t outlen)
{
	const ASN1_INTEGER *sn;
	const unsigned char *d;
	size_t i, n, o = 0, need;
	bool neg;

	if (cert == NULL || out == NULL || (sn = X509_get0_serialNumber(cert)) == NULL)
		return -EINVAL;
	/* OpenSSL keeps the magnitude, minimal, without DER's sign octet:
	 * the bytes of Go's big.Int.Bytes(), which is what Vault prints. */
	d = ASN1_STRING_get0_data(sn);
	n = (size_t)ASN1_STRING_length(sn);
	neg = ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER;
	need = (neg ? 1 : 0) + (n == 0 ? 2 : 3 * n - 1) + 1;
	if (need > outlen)
		return -ENOSPC;
	if (neg)
		out[o++] = '-';
	if (n == 0) {
		out[o++] = '0';
		out[o++] = '0';
	}
	for (i = 0; i < n; i++) {
		if (i > 0)
			out[o++] = ':';
		out[o++] = hexdigits[d[i] >> 4];
		out[o++] = hexdigits[d[i] & 0x0f];
	}
	out[o] = '\0';
	return 0;
}

int
x509_fingerprint_sha256(X509 *cert, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (cert == NULL || !X509_digest(cert, EVP_sha256(), md, &n) || n != 32) {
		ERR_clear_error();
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[md[i] >> 4];
		out[2 * i + 1] = hexdigits[md[i] & 0x0f];
	}
	out[2 * n] = '\0';
	return 0;
}

void
x509_subject_cn(X509 *cert, char *out, size_t outlen)
{
	unsigned char *cn = NULL;
	size_t m;
	int n;

	if (out == NULL || outlen == 0)
		return;
	out[0] = '\0';
	if (cert == NULL || (n = cert_cn(cert, &cn)) <= 0)
		goto out;
	m = (size_t)n < outlen - 1 ? (size_t)n : outlen - 1;
	/* Do not cut a UTF-8 sequence in half. */
	while (m > 0 && m < (size_t)n && (cn[m] & 0xc0) == 0x80)
		m--;
	memcpy(out, cn, m);
	out[m] = '\0';
out:
	OPENSSL_free(cn);
}
