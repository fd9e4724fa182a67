/*
 * check_render.c — what each output file holds: the plain PEM files, and
 * template outputs rendered from the context in each escape mode (a JSON
 * template must produce JSON that parses back to the exact PEM).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "render.h"
#include "tmpl.h"
#include "x509.h"

static EVP_PKEY *ca_key, *leaf_key;
static X509 *ca, *leaf;
static STACK_OF(X509) *chain;

/* A CA and a leaf it signed, built here with OpenSSL directly. */
static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *c = X509_new();
	time_t now = time(NULL);

	ck_assert_ptr_nonnull(c);
	X509_set_version(c, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(c), issuer ? 4242 : 1);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(issuer ? issuer : c));
	X509_time_adj_ex(X509_getm_notBefore(c), 0, 0, &now);
	X509_time_adj_ex(X509_getm_notAfter(c), 1, 0, &now);
	X509_set_pubkey(c, key);
	ck_assert_int_gt(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()), 0);
	return c;
}

static void
setup(void)
{
	struct err e = {{0}};

	ck_assert_int_eq(x509_key_generate(X509_KEY_EC_P256, &ca_key, &e), 0);
	ck_assert_int_eq(x509_key_generate(X509_KEY_EC_P256, &leaf_key, &e), 0);
	ca = make_cert("render test CA", ca_key, NULL, NULL);
	leaf = make_cert("web.example.com", leaf_key, ca, ca_key);
	chain = sk_X509_new_null();
	X509_up_ref(ca);
	sk_X509_push(chain, ca);
}

static void
teardown(void)
{
	x509_chain_free(chain);
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(ca_key);
}

static void
add_output(struct conf_cert *cc, const char *name, const char *path, const char *text,
	   enum tmpl_escape esc)
{
	struct conf_output *o = &cc->outputs[cc->n_outputs++];
	struct err e = {{0}};
	unsigned line = 0;

	memset(o, 0, sizeof(*o));
	o->name = (char *)name;
	o->path = (char *)path;
	o->escape = esc;
	o->mode = 0600;
	o->owner.uid = (uid_t)-1;
	o->owner.gid = (gid_t)-1;
	ck_assert_int_eq(tmpl_compile(text, strlen(text), &o->template.tmpl, &line, &e), 0);
}

START_TEST(test_outputs)
{
	struct conf_output outs[3];
	static char *dns[] = {"web.example.com", "www.example.com"};
	struct conf_cert cc = {
		.name = "web", .issuer = "local",
		.alt_names = {dns, 2},
		.cert_path = "/o/web.crt", .key_path = "/o/web.key",
		.chain_path = "/o/chain.pem", .fullchain_path = "/o/full.pem",
		.owner = {(uid_t)-1, (gid_t)-1}, .mode = 0644, .key_mode = 0600,
		.outputs = outs,
	};
	struct render_out out = {0};
	struct buf cert_pem = BUF_INIT, key_pem = BUF_INIT, ca_pem = BUF_INIT, full = BUF_INIT;
	struct err e = {{0}};
	json_error_t jerr;
	json_t *doc;
	size_t i;

	add_output(&cc, "json", "/o/web.json", "{\"name\": \"{{name}}\", \"cert\": \"{{cert}}\", "
		   "\"key\": \"{{key}}\", \"sans\": [{{#alt_names}}\"{{.}}\",{{/alt_names}}\"end\"], "
		   "\"serial\": \"{{serial}}\", \"not_after\": {{not_after_unix}}}", TMPL_ESCAPE_JSON);
	add_output(&cc, "html", "/o/web.html", "<p title=\"{{common_name}}\">{{ca}}</p>", TMPL_ESCAPE_HTML);
	add_output(&cc, "combined", "/o/web.pem", "{{cert}}{{chain}}{{key}}", TMPL_ESCAPE_NONE);
	ck_assert_int_eq(render_outputs(&cc, leaf, chain, leaf_key, &out, &e), 0);
	x509_cert_to_pem(leaf, &cert_pem, &e);
	x509_key_to_pem(leaf_key, &key_pem, &e);
	x509_cert_to_pem(ca, &ca_pem, &e);
	buf_puts(&full, buf_str(&cert_pem));
	buf_puts(&full, buf_str(&ca_pem));

	/* order: cert, chain, fullchain, templates, key last */
	ck_assert_uint_eq(out.n, 7);
	ck_assert_str_eq(out.files[0].path, "/o/web.crt");
	ck_assert_str_eq(out.files[1].path, "/o/chain.pem");
	ck_assert_str_eq(out.files[2].path, "/o/full.pem");
	ck_assert_str_eq(out.files[3].path, "/o/web.json");
	ck_assert_str_eq(out.files[6].path, "/o/web.key");
	ck_assert_str_eq(out.files[0].data, buf_str(&cert_pem));
	ck_assert_str_eq(out.files[1].data, buf_str(&ca_pem));
	ck_assert_str_eq(out.files[2].data, buf_str(&full));
	ck_assert_str_eq(out.files[6].data, buf_str(&key_pem));
	ck_assert_uint_eq(out.files[0].mode, 0644);
	ck_assert_uint_eq(out.files[6].mode, 0600);
	for (i = 0; i < out.n; i++)
		ck_assert_uint_eq(out.files[i].len, strlen(out.files[i].data));

	/* JSON escaping yields a document that parses back to the PEM */
	doc = json_loadb(out.files[3].data, out.files[3].len, 0, &jerr);
	ck_assert_msg(doc != NULL, "not JSON: %s\n%s", jerr.text, (const char *)out.files[3].data);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "cert")), buf_str(&cert_pem));
	ck_assert_str_eq(json_string_value(json_object_get(doc, "key")), buf_str(&key_pem));
	ck_assert_str_eq(json_string_value(json_object_get(doc, "name")), "web");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "serial")), "10:92");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "sans")), 3);
	ck_assert(json_integer_value(json_object_get(doc, "not_after")) > time(NULL));
	json_decref(doc);

	/* HTML escaping leaves PEM (no & < > ") unchanged and names intact */
	ck_assert_ptr_nonnull(strstr(out.files[4].data, "title=\"web.example.com\""));
	ck_assert_ptr_nonnull(strstr(out.files[4].data, buf_str(&ca_pem)));

	/* none: byte for byte */
	{
		struct buf want = BUF_INIT;
		buf_puts(&want, buf_str(&cert_pem));
		buf_puts(&want, buf_str(&ca_pem));
		buf_puts(&want, buf_str(&key_pem));
		ck_assert_str_eq(out.files[5].data, buf_str(&want));
		buf_free(&want);
	}
	render_out_free(&out);
	ck_assert_ptr_null(out.files);
	for (i = 0; i < cc.n_outputs; i++)
		tmpl_free(outs[i].template.tmpl);
	buf_free(&cert_pem);
	buf_free_secret(&key_pem);
	buf_free(&ca_pem);
	buf_free(&full);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_outputs);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
