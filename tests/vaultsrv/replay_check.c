/*
 * replay_check.c — how the replay test compares vaultsrv's answer with the
 * recorded one.
 *
 * JSON bodies by shape: the same keys recursively (none missing, none
 * extra), the same JSON types (integer and real are both "number"), an
 * array empty exactly when the recording's is (elements compared against
 * the recording's element at the same index, else its first), a string PEM
 * exactly when the recording's is, with the same BEGIN line.  Strings under
 * "errors" must be equal (or equal up to the first ':' for messages that
 * embed a Go parser's wording).  Bare PEM bodies: same block type, same
 * number of blocks, each one parseable.  On top of the shape, issued
 * certificates are checked for real (parse, signed by issuing_ca, match the
 * private key), the TTL clamp of the recording is checked to be silent, and
 * login/renew answers carry the recorded policies and lease.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "buf.h"
#include "replay.h"
#include "xalloc.h"

void
rp_why(struct buf *why, const char *fmt, ...)
{
	va_list ap;

	buf_reset(why);
	va_start(ap, fmt);
	buf_vprintf(why, fmt, ap);
	va_end(ap);
}

/* ---- comparison ---- */

static const char *
type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static bool
is_pem(const char *s)
{
	return strncmp(s, "-----BEGIN ", 11) == 0;
}

static size_t
first_line_len(const char *s)
{
	return strcspn(s, "\n");
}

static int
compare(json_t *want, json_t *got, struct buf *path, bool errors_prefix,
    struct buf *why)
{
	size_t len = path->len, i;
	const char *key, *ws, *gs;
	json_t *v;
	int rc = 0;

	if (strcmp(type_name(want), type_name(got)) != 0) {
		rp_why(why, "%s: expected %s, got %s", buf_str(path),
		    type_name(want), type_name(got));
		return -1;
	}
	switch (json_typeof(want)) {
	case JSON_OBJECT:
		json_object_foreach(want, key, v) {
			buf_printf(path, ".%s", key);
			if (json_object_get(got, key) == NULL) {
				rp_why(why, "%s: missing", buf_str(path));
				return -1;
			}
			if ((rc = compare(v, json_object_get(got, key), path,
			    errors_prefix, why)) < 0)
				return rc;
			path->len = len;
			path->data[len] = '\0';
		}
		json_object_foreach(got, key, v) {
			if (json_object_get(want, key) == NULL) {
				rp_why(why, "%s.%s: unexpected key", buf_str(path), key);
				return -1;
			}
		}
		break;
	case JSON_ARRAY:
		if (json_array_size(want) == 0 && json_array_size(got) != 0) {
			rp_why(why, "%s: expected an empty array, got %zu elements",
			    buf_str(path), json_array_size(got));
			return -1;
		}
		if (json_array_size(want) != 0 && json_array_size(got) == 0) {
			rp_why(why, "%s: expected a non-empty array, got an empty one",
			    buf_str(path));
			return -1;
		}
		json_array_foreach(got, i, v) {
			size_t w = i < json_array_size(want) ? i : 0;

			buf_printf(path, "[%zu]", i);
			if ((rc = compare(json_array_get(want, w), v, path,
			    errors_prefix, why)) < 0)
				return rc;
			path->len = len;
			path->data[len] = '\0';
		}
		break;
	case JSON_STRING:
		ws = json_string_value(want);
		gs = json_string_value(got);
		if (is_pem(ws) != is_pem(gs) || (is_pem(ws) &&
		    (first_line_len(ws) != first_line_len(gs) ||
		    strncmp(ws, gs, first_line_len(ws)) != 0))) {
			rp_why(why, "%s: expected a value like \"%.*s\", got \"%.40s\"",
			    buf_str(path), (int)first_line_len(ws), ws, gs);
			return -1;
		}
		if (strncmp(buf_str(path), "$.errors[", 9) == 0) {
			size_t n = errors_prefix ? strcspn(ws, ":") : strlen(ws) + 1;

			if (strncmp(ws, gs, n) != 0) {
				/* JSON-quoted: error texts carry newlines and tabs. */
				char *wq = json_dumps(want, JSON_ENCODE_ANY);
				char *gq = json_dumps(got, JSON_ENCODE_ANY);

				rp_why(why, "%s: expected %s, got %s", buf_str(path), wq, gq);
				free(wq);
				free(gq);
				return -1;
			}
		}
		break;
	default:
		break;
	}
	return 0;
}

static int
count_pem(const char *s, const char *label)
{
	int n = 0;

	while ((s = strstr(s, label)) != NULL) {
		n++;
		s += strlen(label);
	}
	return n;
}

/* Bare PEM bodies: same block type and count, and every block parses. */
static int
compare_pem(const char *want, const char *got, struct buf *why)
{
	char label[80];
	size_t n = first_line_len(want);
	BIO *bio;
	int blocks = 0, want_blocks;

	if (n >= sizeof(label) || !is_pem(want)) {
		rp_why(why, "fixture body is neither JSON nor PEM");
		return -1;
	}
	memcpy(label, want, n);
	label[n] = '\0';
	if (strncmp(got, label, n) != 0) {
		rp_why(why, "body: expected PEM starting \"%s\", got \"%.40s\"",
		    label, got);
		return -1;
	}
	want_blocks = count_pem(want, label);
	bio = BIO_new_mem_buf(got, -1);
	for (;;) {
		void *obj = strstr(label, "CRL") ?
		    (void *)PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) :
		    (void *)PEM_read_bio_X509(bio, NULL, NULL, NULL);

		if (obj == NULL)
			break;
		if (strstr(label, "CRL"))
			X509_CRL_free(obj);
		else
			X509_free(obj);
		blocks++;
	}
	BIO_free(bio);
	ERR_clear_error();
	if (blocks != want_blocks || blocks != count_pem(got, label)) {
		rp_why(why, "body: expected %d parseable PEM block(s), got %d of %d",
		    want_blocks, blocks, count_pem(got, label));
		return -1;
	}
	return 0;
}

/* ---- value checks on top of the shape ---- */

/* Standard base64 to bytes; EVP_DecodeBlock counts '=' padding as
 * output, so the padding is subtracted. */
static unsigned char *
b64_decode(const char *s, int *len)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *der = xmalloc(n + 1);

	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	*len = EVP_DecodeBlock(der, (const unsigned char *)s, (int)n);
	if (*len >= (int)pad)
		*len -= (int)pad;
	return der;
}

static X509 *
cert_from(const char *s)
{
	BIO *bio;
	X509 *x = NULL;
	unsigned char *der;
	const unsigned char *p;
	int len;

	if (s == NULL)
		return NULL;
	if (is_pem(s)) {
		/* pem_bundle starts with the key; take the first certificate. */
		const char *c = strstr(s, "-----BEGIN CERTIFICATE-----");

		bio = BIO_new_mem_buf(c ? c : s, -1);
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
		return x;
	}
	der = b64_decode(s, &len);
	p = der;
	if (len > 0)
		x = d2i_X509(NULL, &p, len);
	free(der);
	return x;
}

static EVP_PKEY *
key_from(const char *s)
{
	BIO *bio;
	EVP_PKEY *k;
	unsigned char *der;
	const unsigned char *p;
	int len;

	if (is_pem(s)) {
		bio = BIO_new_mem_buf(s, -1);
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
		return k;
	}
	der = b64_decode(s, &len);
	p = der;
	k = len > 0 ? d2i_AutoPrivateKey(NULL, &p, len) : NULL;
	OPENSSL_cleanse(der, strlen(s) + 1);
	free(der);
	return k;
}

int
rp_check_issued(const struct fixture *f, json_t *got, struct buf *why)
{
	json_t *d = json_object_get(got, "data");
	const char *pk = json_string_value(json_object_get(d, "private_key"));
	X509 *cert = cert_from(json_string_value(json_object_get(d,
	    "certificate")));
	X509 *ca = cert_from(json_string_value(json_object_get(d, "issuing_ca")));
	EVP_PKEY *key = pk ? key_from(pk) : NULL;
	int rc = -1;

	(void)f;
	if (cert == NULL || ca == NULL) {
		rp_why(why, "$.data.certificate / issuing_ca: do not parse");
	} else if (X509_verify(cert, X509_get0_pubkey(ca)) != 1) {
		rp_why(why, "$.data.certificate: not signed by issuing_ca");
	} else if (pk != NULL && (key == NULL ||
	    X509_check_private_key(cert, key) != 1)) {
		rp_why(why, "$.data.private_key: does not match the certificate");
	} else {
		rc = 0;
	}
	ERR_clear_error();
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc;
}

/* The recording's point: ttl 8760h on a 72h role is clamped, silently. */
int
rp_check_clamped(const struct fixture *f, json_t *got, struct buf *why)
{
	json_int_t exp = json_integer_value(json_object_get(json_object_get(got,
	    "data"), "expiration"));
	json_int_t now = (json_int_t)time(NULL);

	if (rp_check_issued(f, got, why) < 0)
		return -1;
	if (exp < now + 72 * 3600 - 300 || exp > now + 72 * 3600 + 60) {
		rp_why(why, "$.data.expiration: %lld s from now, expected the "
		    "role's max_ttl of 259200 s", (long long)(exp - now));
		return -1;
	}
	if (!json_is_null(json_object_get(got, "warnings"))) {
		rp_why(why, "$.warnings: the clamp must be silent");
		return -1;
	}
	return 0;
}

int
rp_check_auth(const struct fixture *f, json_t *got, struct buf *why)
{
	json_t *want = json_loads(f->resp, 0, NULL);
	json_t *wa = json_object_get(want, "auth"), *ga = json_object_get(got,
	    "auth");
	int rc = 0;

	if (!json_equal(json_object_get(wa, "policies"),
	    json_object_get(ga, "policies"))) {
		rp_why(why, "$.auth.policies: differ from the recording");
		rc = -1;
	} else if (json_integer_value(json_object_get(wa, "lease_duration")) <
	    json_integer_value(json_object_get(ga, "lease_duration")) ||
	    json_integer_value(json_object_get(ga, "lease_duration")) <
	    json_integer_value(json_object_get(wa, "lease_duration")) - 5) {
		rp_why(why, "$.auth.lease_duration: %lld, recorded %lld",
		    (long long)json_integer_value(json_object_get(ga,
		    "lease_duration")), (long long)json_integer_value(
		    json_object_get(wa, "lease_duration")));
		rc = -1;
	}
	json_decref(want);
	return rc;
}

int
rp_compare_response(const struct fixture *f, const struct setup *su,
    struct response *r, struct buf *why)
{
	const char *key, *want_body = f->resp, *got_body = buf_str(&r->body);
	json_t *v, *want = NULL, *got = NULL;
	struct buf path = BUF_INIT;
	int rc = -1;

	if (r->status != f->status) {
		rp_why(why, "status: expected %ld, got %ld (%.200s)", f->status,
		    r->status, got_body);
		return -1;
	}
	json_object_foreach(f->headers, key, v) {
		const char *g = json_string_value(json_object_get(r->headers, key));
		bool value = strcmp(key, "content-type") == 0 ||
		    strcmp(key, "cache-control") == 0;

		if (g == NULL || (value && strcmp(g, json_string_value(v)) != 0)) {
			rp_why(why, "header %s: expected \"%s\", got \"%s\"", key,
			    json_string_value(v), g ? g : "(none)");
			return -1;
		}
	}
	while (*want_body == '\n')
		want_body++;
	if (*want_body == '\0') {
		if (*got_body != '\0') {
			rp_why(why, "body: expected none, got \"%.60s\"", got_body);
			return -1;
		}
		return 0;
	}
	if (*want_body != '{' && *want_body != '[')
		return compare_pem(want_body, got_body, why);
	want = json_loads(want_body, 0, NULL);
	got = json_loads(got_body, 0, NULL);
	if (want == NULL) {
		rp_why(why, "fixture body is not valid JSON");
	} else if (got == NULL) {
		rp_why(why, "body: not JSON: \"%.80s\"", got_body);
	} else {
		buf_puts(&path, "$");
		rc = compare(want, got, &path, su->errors_prefix, why);
		if (rc == 0 && su->check != NULL)
			rc = su->check(f, got, why);
	}
	buf_free(&path);
	json_decref(want);
	json_decref(got);
	return rc;
}
