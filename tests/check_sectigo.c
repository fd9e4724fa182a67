/*
 * check_sectigo.c — the Sectigo plugin's entries as certd reads them
 * (lib/sectigo_entry.c) and the checks of a sectigo certificate's keys
 * (lib/conf_sectigo.c).  The flow against a server is tests/sectigo_daemon.sh.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "sectigo_entry.h"

static json_t *
J(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	ck_assert_msg(j != NULL, "bad test JSON: %s: %s", text, je.text);
	return j;
}

START_TEST(test_documented_entry)
{
	/* The shape of the plugin's documentation (ids as numbers). */
	json_t *d = J("{\"cert_unique_id\": \"44166_murray\", \"certificate\": \"-----BEGIN CERTIFICATE-----\\nX\\n-----END CERTIFICATE-----\\n\","
		      " \"certificate_type\": \"ssl_cert\", \"csr\": \"\", \"domain\": \"a.example\","
		      " \"private_key\": \"\", \"renew_id\": \"abc-1\", \"ssl_format\": \"x509\", \"ssl_id\": 44166,"
		      " \"state\": [{\"status\": \"Applied\", \"time_stamp\": \"t1\"}, {\"status\": \"Issued\", \"time_stamp\": \"t2\"}]}");
	struct sectigo_entry en;
	struct err e = {{0}};

	ck_assert_int_eq(sectigo_entry_parse(d, &en, &e), 0);
	ck_assert_str_eq(en.id, "44166_murray");
	ck_assert_str_eq(en.ssl_id, "44166");
	ck_assert_str_eq(en.renew_id, "abc-1");
	ck_assert_str_eq(en.status, "Issued");
	ck_assert_str_eq(en.status_time, "t2");
	ck_assert_int_eq(en.status_class, SECTIGO_ST_ISSUED);
	ck_assert_uint_eq(en.n_states, 2);
	ck_assert_ptr_nonnull(en.certificate);
	ck_assert_ptr_null(en.private_key);   /* "" is none */
	ck_assert_ptr_null(en.csr);
	ck_assert(!en.has_error);
	sectigo_entry_free(&en);
	json_decref(d);
}
END_TEST

START_TEST(test_client_cert_and_pending)
{
	json_t *d = J("{\"cert_unique_id\": \"900_acme\", \"order_number\": \"900\","
		      " \"state\": [{\"status\": \"TimedoutStateSaved\"}]}");
	struct sectigo_entry en;
	struct err e = {{0}};

	ck_assert_int_eq(sectigo_entry_parse(d, &en, &e), 0);
	ck_assert_str_eq(en.ssl_id, "900");
	ck_assert_int_eq(en.status_class, SECTIGO_ST_TIMEOUT);
	ck_assert_ptr_null(en.certificate);
	sectigo_entry_free(&en);
	json_decref(d);
}
END_TEST

START_TEST(test_error_fields)
{
	/* Top-level ErrorCode (number) wins; a state's error_code (string) too. */
	json_t *d1 = J("{\"cert_unique_id\": \"1_x\", \"ErrorCode\": -7, \"ErrorDescription\": \"needs\\u0007 approval\","
		       " \"state\": [{\"status\": \"ErrorCode\"}]}");
	json_t *d2 = J("{\"cert_unique_id\": \"2_x\", \"state\": [{\"status\": \"Applied\", \"error_code\": \"-12\", \"error_description\": \"refused\"}]}");
	struct sectigo_entry en;
	struct err e = {{0}};

	ck_assert_int_eq(sectigo_entry_parse(d1, &en, &e), 0);
	ck_assert(en.has_error);
	ck_assert_int_eq(en.error_code, -7);
	ck_assert_str_eq(en.error_description, "needs? approval");   /* control chars neutralised */
	ck_assert_int_eq(en.status_class, SECTIGO_ST_ERROR);
	sectigo_entry_free(&en);
	ck_assert_int_eq(sectigo_entry_parse(d2, &en, &e), 0);
	ck_assert(en.has_error);
	ck_assert_int_eq(en.error_code, -12);
	ck_assert_str_eq(en.error_description, "refused");
	/* An error on an entry with a pending status is still an error. */
	ck_assert_int_eq(en.status_class, SECTIGO_ST_ERROR);
	sectigo_entry_free(&en);
	json_decref(d1);
	json_decref(d2);
}
END_TEST

START_TEST(test_unknown_status_and_empty)
{
	json_t *d = J("{\"cert_unique_id\": \"3_x\", \"state\": [{\"status\": \"Awaiting DCV\"}]}");
	json_t *empty = J("{}");
	struct sectigo_entry en;
	struct err e = {{0}};

	ck_assert_int_eq(sectigo_entry_parse(d, &en, &e), 0);
	ck_assert_int_eq(en.status_class, SECTIGO_ST_UNKNOWN);
	ck_assert_str_eq(en.status, "Awaiting DCV");
	sectigo_entry_free(&en);
	ck_assert_int_eq(sectigo_entry_parse(empty, &en, &e), 0);
	ck_assert_str_eq(en.id, "");
	ck_assert_int_eq(en.status_class, SECTIGO_ST_NONE);
	sectigo_entry_free(&en);
	json_decref(d);
	json_decref(empty);
}
END_TEST

/* Shapes that must be refused, each naming the field, leaving the entry
 * empty (sectigo_entry.h). */
static const struct {
	const char *json;
	const char *field;
} bad_cases[] = {
	{"[]", "data"},
	{"{\"cert_unique_id\": \"../../sys/seal\"}", "cert_unique_id"},
	{"{\"cert_unique_id\": {\"a\": 1}}", "cert_unique_id"},
	{"{\"ssl_id\": 1.5}", "ssl_id"},
	{"{\"certificate\": 12}", "certificate"},
	{"{\"state\": \"Issued\"}", "state"},
	{"{\"state\": [1]}", "state"},
	/* tests/fuzz/fuzz_sectigo_entry.c: the history's length stayed in the entry. */
	{"{\"cert_unique_id\": \"1_a\", \"state\": [{\"status\": \"Issued\"}, \"x\"]}", "state"},
	{"{\"state\": [{\"status\": [\"x\"]}]}", "status"},
	{"{\"ErrorCode\": true}", "ErrorCode"},
};

START_TEST(test_bad_shapes)
{
	static const struct sectigo_entry empty;
	json_t *d = J(bad_cases[_i].json);
	struct sectigo_entry en;
	struct err e = {{0}};

	ck_assert_int_lt(sectigo_entry_parse(d, &en, &e), 0);
	ck_assert_msg(strstr(e.msg, bad_cases[_i].field) != NULL, "%s: message \"%s\"",
		      bad_cases[_i].json, e.msg);
	ck_assert_ptr_null(en.certificate);
	ck_assert_msg(memcmp(&en, &empty, sizeof(en)) == 0, "%s: entry not empty (%zu states)",
		      bad_cases[_i].json, en.n_states);
	json_decref(d);
}
END_TEST

START_TEST(test_big_and_nul_pem)
{
	size_t n = 300 * 1024;
	char *big = malloc(n + 1);
	json_t *d, *nul;
	struct sectigo_entry en;
	struct err e = {{0}};

	memset(big, 'A', n);
	big[n] = '\0';
	d = json_pack("{s:s}", "certificate", big);
	ck_assert_int_lt(sectigo_entry_parse(d, &en, &e), 0);
	ck_assert(strstr(e.msg, "too large") != NULL);
	nul = json_pack("{s:s%}", "private_key", "ab\0cd", (size_t)5);
	ck_assert_int_lt(sectigo_entry_parse(nul, &en, &e), 0);
	ck_assert(strstr(e.msg, "NUL") != NULL);
	json_decref(d);
	json_decref(nul);
	free(big);
}
END_TEST

START_TEST(test_list_ids)
{
	json_t *d = J("{\"keys\": [\"44166_murray\", 7, \"../x\", \"44167_murray\", \"\"]}");
	json_t *ids = sectigo_list_ids(d), *none = sectigo_list_ids(NULL);

	ck_assert_uint_eq(json_array_size(ids), 2);
	ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), "44166_murray");
	ck_assert_str_eq(json_string_value(json_array_get(ids, 1)), "44167_murray");
	ck_assert_uint_eq(json_array_size(none), 0);
	json_decref(ids);
	json_decref(none);
	json_decref(d);
}
END_TEST

/* ---- conf_sectigo_check ---- */

struct reports {
	char text[4096];
	int errors, warnings;
};

static void
collect(void *ctx, const char *key, int warning, const char *msg)
{
	struct reports *r = ctx;
	size_t n = strlen(r->text);

	snprintf(r->text + n, sizeof(r->text) - n, "%s%s: %s\n", warning ? "W " : "E ", key, msg);
	if (warning)
		r->warnings++;
	else
		r->errors++;
}

static struct conf_cert
good_cert(void)
{
	struct conf_cert cc;

	memset(&cc, 0, sizeof(cc));
	cc.name = "web";
	cc.mount = "sectigo-vault-pki";
	cc.sectigo_config = "scm";
	cc.sectigo_poll_initial = 30;
	cc.sectigo_poll_max = 3600;
	cc.sectigo_timeout = 600;
	cc.sectigo_vault_limit = 90;
	cc.key_type_name = "ec";
	return cc;
}

START_TEST(test_conf_good)
{
	struct conf_cert cc = good_cert();
	struct reports r = {"", 0, 0};

	cc.sectigo_params = "{\"sectigo_ssl_cert_num_servers\": 1, \"sectigo_max_timeout\": 60}";
	conf_sectigo_check(&cc, collect, &r);
	ck_assert_msg(r.errors == 0 && r.warnings == 0, "%s", r.text);
	ck_assert_int_eq(conf_sectigo_max_timeout(&cc), 60);
}
END_TEST

START_TEST(test_conf_problems)
{
	struct conf_cert cc = good_cert();
	struct reports r = {"", 0, 0};

	cc.mount = "/abs/";
	cc.sectigo_config = "a/b";
	cc.sectigo_params = "{\"sectigo_cm_password\": \"x\", \"sectigo_csr\": \"y\", \"other\": 1,"
			    " \"sectigo_list\": [1]}";
	cc.sectigo_poll_max = 10;
	conf_sectigo_check(&cc, collect, &r);
	ck_assert_int_eq(r.errors, 7);
	ck_assert(strstr(r.text, "E mount:") != NULL);
	ck_assert(strstr(r.text, "E sectigo_config:") != NULL);
	ck_assert(strstr(r.text, "\"sectigo_cm_password\" is not allowed") != NULL);
	ck_assert(strstr(r.text, "\"sectigo_csr\" is not allowed") != NULL);
	ck_assert(strstr(r.text, "\"other\" is not allowed") != NULL);
	ck_assert(strstr(r.text, "\"sectigo_list\": only strings") != NULL);
	ck_assert(strstr(r.text, "E sectigo_poll_max: shorter than sectigo_poll_initial") != NULL);
}
END_TEST

START_TEST(test_conf_nesting)
{
	struct conf_cert cc = good_cert();
	struct reports r = {"", 0, 0};

	/* plugin 120 s > Vault 90 s; certd 60 s < Vault 90 s: three warnings. */
	cc.sectigo_params = "{\"sectigo_max_timeout\": \"120\"}";
	cc.sectigo_timeout = 60;
	conf_sectigo_check(&cc, collect, &r);
	ck_assert_msg(r.errors == 0 && r.warnings == 3, "%s", r.text);
	ck_assert(strstr(r.text, "W sectigo_timeout: 1m is not longer than Vault's request limit") != NULL);
	ck_assert(strstr(r.text, "sectigo_max_timeout (120s) does not fit inside Vault's request limit") != NULL);
	ck_assert(strstr(r.text, "sectigo_max_timeout (120s) does not fit inside certd's sectigo_timeout") != NULL);
}
END_TEST

START_TEST(test_conf_required_and_json)
{
	struct conf_cert cc = good_cert();
	struct reports r = {"", 0, 0};

	cc.mount = NULL;
	cc.sectigo_config = NULL;
	cc.sectigo_params = "{not json";
	cc.sectigo_key = CONF_SECTIGO_KEY_PLUGIN;
	cc.key_type_name = "ED25519";
	conf_sectigo_check(&cc, collect, &r);
	ck_assert_msg(r.errors == 4, "%s", r.text);
	ck_assert(strstr(r.text, "E mount: required with issuer = sectigo") != NULL);
	ck_assert(strstr(r.text, "E sectigo_config: required") != NULL);
	ck_assert(strstr(r.text, "E sectigo_params: not valid JSON") != NULL);
	ck_assert(strstr(r.text, "E key_type: ed25519 keys cannot be made by the Sectigo plugin") != NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sectigo");
	TCase *tc = tcase_create("entry");
	TCase *tconf = tcase_create("conf");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_documented_entry);
	tcase_add_test(tc, test_client_cert_and_pending);
	tcase_add_test(tc, test_error_fields);
	tcase_add_test(tc, test_unknown_status_and_empty);
	tcase_add_loop_test(tc, test_bad_shapes, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_big_and_nul_pem);
	tcase_add_test(tc, test_list_ids);
	tcase_add_test(tconf, test_conf_good);
	tcase_add_test(tconf, test_conf_problems);
	tcase_add_test(tconf, test_conf_nesting);
	tcase_add_test(tconf, test_conf_required_and_json);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tconf);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
