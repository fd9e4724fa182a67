/*
 * fuzz_vault.c — libFuzzer harness for what certd does with the body of a
 * Vault response (lib/vault.c, lib/issuer_vault.c), without the network.
 *
 * Input: an HTTP response body.  It goes the way classify() in vault.c
 * takes it: json_loadb(), then "data" (null counts as none).
 * vault_errors() joins the "errors" array into the message a user sees;
 * when data is an object, issuer_vault_parse_issued() reads it as the
 * answer to a PKI sign/issue request (issue mode when the input's length
 * is odd); vault_json_wipe() wipes the document before it is released.
 *
 * Invariants checked: the joined error text has no control characters and
 * is not longer than the body; a failed parse says why; a successful one
 * has a certificate and a chain (and a key in issue mode); a private_key
 * string in data is wiped to zeros whether or not it parsed.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include "buf.h"
#include "err.h"
#include "issuer.h"
#include "vault.h"
#include "vault_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_vault: invariant violated: %s\n", what);
	abort();
}

static void
check_errors_text(const struct buf *b, size_t size)
{
	size_t i;

	if (b->len == 0)
		return;
	for (i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] < 0x20)
			fail("control character in the joined errors");
	if (b->len > size)
		fail("joined errors longer than the body");
}

static void
parse_issued(json_t *data, bool need_key)
{
	struct issuer_result *res = issuer_result_new(ISSUER_ISSUED);
	struct err e = {{0}};
	json_t *kv = json_object_get(data, "private_key");
	size_t i;
	int rc;

	rc = issuer_vault_parse_issued(data, need_key, res, &e);
	if (rc < 0 && e.msg[0] == '\0')
		fail("failure without a message");
	if (rc == 0 && (res->cert == NULL || res->chain == NULL))
		fail("success without a certificate and a chain");
	if (rc == 0 && need_key && res->key == NULL)
		fail("issue mode success without a key");
	if (json_is_string(kv)) {
		const char *s = json_string_value(kv);
		for (i = 0; i < json_string_length(kv); i++)
			if (s[i] != '\0')
				fail("private_key not wiped");
	}
	issuer_result_free(res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf errors = BUF_INIT;
	json_t *json, *d = NULL;

	json = json_loadb((const char *)data, size, 0, NULL);
	if (json_is_object(json)) {
		d = json_object_get(json, "data");
		if (json_is_null(d))
			d = NULL;
	}
	vault_errors(json, &errors);
	check_errors_text(&errors, size);
	buf_free(&errors);
	if (json_is_object(d))
		parse_issued(d, size % 2 == 1);
	vault_json_wipe(json);
	json_decref(json);
	ERR_clear_error();
	return 0;
}
