/*
 * fuzz_sectigo_entry.c — libFuzzer harness for the parser of the Sectigo
 * Vault PKI plugin's entries (lib/sectigo_entry.c).
 *
 * Input: an HTTP response body from the plugin.  As in issuer_sectigo.c
 * (and classify() in vault.c) it is parsed with json_loadb(); the "data"
 * member (null counts as none) goes to sectigo_entry_parse() and to
 * sectigo_list_ids(), the way enroll/renew/read and LIST answers are used.
 * When the body has no "data", the whole value is given to the parser as
 * well, so that the fuzzer reaches it without the wrapper.
 *
 * Invariants checked (sectigo_entry.h): the result is 0 or -EBADMSG with a
 * message; on failure the entry is empty; on success every id is empty or
 * a plausible path segment, the texts shown in status and logs hold no
 * control characters, each PEM field is NULL or a non-empty string, the
 * status class follows the status string and the error, and freeing twice
 * is harmless; every listed id is a plausible id.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "sectigo_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_sectigo_entry: invariant violated: %s\n", what);
	abort();
}

static void
check_text(const char *s, size_t size, const char *what)
{
	const char *end = memchr(s, '\0', size);

	if (end == NULL)
		fail(what);
	for (; s < end; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fail(what);
}

static void
check_id(const char *id, size_t size)
{
	if (memchr(id, '\0', size) == NULL)
		fail("id not terminated");
	if (id[0] != '\0' && !sectigo_id_ok(id))
		fail("an id that is not a plausible path segment");
}

static void
check_pem(const char *pem)
{
	if (pem != NULL && pem[0] == '\0')
		fail("an empty PEM field that is not NULL");
}

static void
parse(const json_t *d)
{
	static const struct sectigo_entry zero;
	struct sectigo_entry en;
	struct err e = {{0}};
	enum sectigo_status want;
	int rc;

	memset(&en, 0xa5, sizeof(en));
	rc = sectigo_entry_parse(d, &en, &e);
	if (rc < 0) {
		if (rc != -EBADMSG || e.msg[0] == '\0')
			fail("failure other than -EBADMSG with a message");
		if (memcmp(&en, &zero, sizeof(en)) != 0)
			fail("the entry is not empty after a failure");
		sectigo_entry_free(&en);
		return;
	}
	if (rc != 0)
		fail("positive return value");
	check_id(en.id, sizeof(en.id));
	check_id(en.ssl_id, sizeof(en.ssl_id));
	check_id(en.renew_id, sizeof(en.renew_id));
	check_text(en.certificate_type, sizeof(en.certificate_type), "certificate_type");
	check_text(en.status, sizeof(en.status), "status");
	check_text(en.status_time, sizeof(en.status_time), "status_time");
	check_text(en.error_description, sizeof(en.error_description), "error_description");
	check_pem(en.certificate);
	check_pem(en.private_key);
	check_pem(en.csr);
	want = sectigo_status_classify(en.status);
	if (en.has_error && want != SECTIGO_ST_REVOKED)
		want = SECTIGO_ST_ERROR;
	if (en.status_class != want)
		fail("status class does not follow the status and the error");
	if (sectigo_status_name(en.status_class) == NULL)
		fail("status without a name");
	if (en.n_states == 0 && en.status[0] != '\0')
		fail("a status without a status history");
	sectigo_entry_free(&en);
	sectigo_entry_free(&en);
}

static void
list(const json_t *d)
{
	json_t *ids = sectigo_list_ids(d), *v;
	size_t i;

	if (!json_is_array(ids))
		fail("list is not an array");
	json_array_foreach(ids, i, v)
		if (!json_is_string(v) || !sectigo_id_ok(json_string_value(v)))
			fail("a listed id that is not plausible");
	json_decref(ids);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *json, *d = NULL;

	json = json_loadb((const char *)data, size, 0, NULL);
	if (json == NULL)
		return 0;
	if (json_is_object(json)) {
		d = json_object_get(json, "data");
		if (json_is_null(d))
			d = NULL;
	}
	if (d != NULL) {
		parse(d);
		list(d);
	} else {
		parse(json);
		list(json);
	}
	/* 404 on a LIST: no data at all. */
	list(NULL);
	json_decref(json);
	return 0;
}
