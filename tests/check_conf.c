/*
 * check_conf.c — the config loader as an operator meets it: what a valid
 * file binds to, what every kind of mistake reports (file, line, section,
 * key, message), drop-in ordering, and that the docs list exactly the keys
 * of the schema table.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "conf.h"
#include "conf_schema.h"
#include "diag.h"
#include "testutil.h"
#include "xalloc.h"

static char *dir;

static void
setup(void)
{
	dir = tu_mkdtemp();
}

static void
teardown(void)
{
	tu_rm_rf(dir);
	free(dir);
}

/* Write name in the test dir; returns its path (caller frees). */
static char *
put(const char *name, const char *text)
{
	char *p = tu_path(dir, name);

	tu_write_file(p, text, 0644);
	return p;
}

/* All diagnostics, one per line, with the test dir replaced by "D". */
static char *
diags(const struct diag *d)
{
	struct buf b = BUF_INIT;
	size_t i, dl = strlen(dir);

	for (i = 0; i < d->n; i++) {
		char *s = diag_format(d, i), *p = s;
		while (*p) {
			if (strncmp(p, dir, dl) == 0) {
				buf_putc(&b, 'D');
				p += dl;
			} else {
				buf_putc(&b, *p++);
			}
		}
		buf_putc(&b, '\n');
		free(s);
	}
	return buf_steal(&b);
}

static const char *const good =
	"[certd]\n"
	"state_dir = /var/lib/x\n"
	"ttl = 72h\n"
	"key_type = rsa\n"
	"\n"
	"[local_ca]\n"
	"max_ttl = 30d\n"
	"\n"
	"[cert.web]\n"
	"common_name = www.example.com\n"
	"alt_names = www.example.com, example.com ,, api.example.com\n"
	"ip_sans = 127.0.0.1, ::1\n"
	"uri_sans = spiffe://example.com/web\n"
	"key_bits = 3072\n"
	"cert = /etc/ssl/web.crt\n"
	"key = /etc/ssl/web.key\n"
	"fullchain = /etc/ssl/web-full.pem\n"
	"mode = 0640\n"
	"renew_before = 1d\n"
	"\n"
	"[cert.web.output.pem]\n"
	"path = /etc/ssl/web.pem\n"
	"template = <<END\n"
	"{{cert}}{{chain}}{{key}}\n"
	"END\n"
	"\n"
	"[cert.api]\n"
	"alt_names = api.example.com\n"
	"ttl = 1h\n"
	"key_type = ec\n"
	"cert = /etc/ssl/api.crt\n"
	"key = /etc/ssl/api.key\n"
	"\n"
	"[cert.api.output.json]\n"
	"path = /etc/ssl/api.json\n"
	"escape = json\n"
	"template = {\"cert\": \"{{cert}}\"}\n"
	"\n"
	"[cert.api.output.html]\n"
	"path = /etc/ssl/api.html\n"
	"escape = html\n"
	"template = <pre>{{cert}}</pre>\n";

START_TEST(test_good_config_binds)
{
	char *path = put("certd.conf", good), *ds;
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;
	const struct conf_cert *web, *api;
	const char *paths[8];

	ck_assert_int_eq(conf_load(path, &c, &d), 0);
	ds = diags(&d);
	ck_assert_str_eq(ds, "");
	ck_assert_str_eq(c->state_dir, "/var/lib/x");
	ck_assert_int_eq(c->log_level, CONF_LOG_INFO);
	ck_assert_int_eq(c->local_ca.max_ttl, 30 * 86400);
	ck_assert_str_eq(c->local_ca.common_name, "certd local CA");
	ck_assert_uint_eq(c->n_certs, 2);
	web = conf_find_cert(c, "web");
	api = conf_find_cert(c, "api");
	ck_assert_ptr_nonnull(web);
	ck_assert_ptr_nonnull(api);
	ck_assert_ptr_null(conf_find_cert(c, "nope"));
	ck_assert_str_eq(web->issuer, "local");
	ck_assert_str_eq(web->common_name, "www.example.com");
	ck_assert_uint_eq(web->alt_names.n, 3);
	ck_assert_str_eq(web->alt_names.v[1], "example.com");
	ck_assert_str_eq(web->alt_names.v[2], "api.example.com");
	ck_assert_uint_eq(web->ip_sans.n, 2);
	ck_assert_str_eq(web->ip_sans.v[1], "::1");
	ck_assert_uint_eq(web->uri_sans.n, 1);
	/* [certd] defaults apply where the certificate is silent */
	ck_assert_int_eq(web->ttl, 72 * 3600);
	ck_assert_int_eq(api->ttl, 3600);
	ck_assert_int_eq(web->key_type, X509_KEY_RSA_3072);
	ck_assert_int_eq(api->key_type, X509_KEY_EC_P256);
	/* built-in defaults */
	ck_assert_uint_eq(web->mode, 0640);
	ck_assert_uint_eq(web->key_mode, 0600);
	ck_assert_uint_eq(api->mode, 0644);
	ck_assert_uint_eq(api->renew_at_percent, 67);
	ck_assert_uint_eq(api->jitter_percent, 5);
	ck_assert_int_eq(web->renew_before, 86400);
	ck_assert(web->owner.uid == (uid_t)-1);
	ck_assert_uint_eq(web->n_outputs, 1);
	ck_assert_str_eq(web->outputs[0].name, "pem");
	ck_assert_str_eq(web->outputs[0].template.text, "{{cert}}{{chain}}{{key}}\n");
	ck_assert_ptr_nonnull(web->outputs[0].template.tmpl);
	ck_assert_uint_eq(web->outputs[0].mode, 0600);
	ck_assert_int_eq(web->outputs[0].escape, TMPL_ESCAPE_NONE);
	ck_assert_uint_eq(api->n_outputs, 2);
	ck_assert_str_eq(api->outputs[0].escape_name, api->outputs[0].name);
	ck_assert_int_eq(api->outputs[0].escape, api->outputs[0].name[0] == 'j' ? TMPL_ESCAPE_JSON : TMPL_ESCAPE_HTML);
	ck_assert_str_eq(api->outputs[1].escape_name, api->outputs[1].name);
	ck_assert_int_eq(api->outputs[1].escape, api->outputs[1].name[0] == 'j' ? TMPL_ESCAPE_JSON : TMPL_ESCAPE_HTML);
	ck_assert_uint_eq(conf_cert_paths(web, paths, 8), 4);
	ck_assert_str_eq(paths[0], "/etc/ssl/web.crt");
	ck_assert_str_eq(paths[1], "/etc/ssl/web-full.pem");
	ck_assert_str_eq(paths[2], "/etc/ssl/web.pem");
	ck_assert_str_eq(paths[3], "/etc/ssl/web.key");
	free(ds);
	conf_free(c);
	diag_free(&d);
	free(path);
}
END_TEST

/* The acceptance case: four different mistakes, all reported with their
 * file and line, nothing bound. */
START_TEST(test_four_errors_reported_together)
{
	char *path = put("certd.conf",
			 "[certd]\n"
			 "state_dir = /var/lib/x\n"
			 "\n"
			 "[cert.web]\n"
			 "common_name = www.example.com\n"
			 "tll = 72h\n"
			 "renew_before = 3 days\n"
			 "cert = etc/ssl/web.crt\n"
			 "key = /etc/ssl/web.key\n"
			 "\n"
			 "[cert.web.output.list]\n"
			 "path = /etc/ssl/list.txt\n"
			 "template = <<END\n"
			 "names:\n"
			 "{{#alt_names}}\n"
			 "- {{.}}\n"
			 "END\n");
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;
	char *ds;

	ck_assert_int_eq(conf_load(path, &c, &d), -EINVAL);
	ck_assert_ptr_null(c);
	ds = diags(&d);
	ck_assert_str_eq(ds,
		"D/certd.conf:6: [cert.web] tll: unknown key; did you mean \"ttl\"?\n"
		"D/certd.conf:7: [cert.web] renew_before: \"3 days\" is not a duration (examples: 90s, 15m, 72h, 30d, 1h30m)\n"
		"D/certd.conf:8: [cert.web] cert: \"etc/ssl/web.crt\" is not an absolute path\n"
		"D/certd.conf:15: [cert.web.output.list] template: unclosed section \"alt_names\" opened on line 2\n");
	ck_assert_uint_eq(d.errors, 4);
	free(ds);
	diag_free(&d);
	free(path);
}
END_TEST

static const struct {
	const char *what;
	const char *text;
	const char *want;
} error_cases[] = {
	{"unknown section", "[sertd]\nx = 1\n",
	 "D/c.conf: warning: no [cert.NAME] section: nothing to manage\n"
	 "D/c.conf:1: [sertd] unknown section; expected [certd], [local_ca], [vault], [cert.NAME], [cert.NAME.output.OUT], [cert.NAME.reload.ACTION] or [cert.NAME.kv.FIELD] (NAME: letters, digits, _ -)\n"},
	{"unknown key far from any", "[certd]\nfrobnicate = 1\n",
	 "D/c.conf: warning: no [cert.NAME] section: nothing to manage\n"
	 "D/c.conf:2: [certd] frobnicate: unknown key\n"},
	{"cert key allowed in certd only as default", "[certd]\ncommon_name = x\n",
	 "D/c.conf: warning: no [cert.NAME] section: nothing to manage\n"
	 "D/c.conf:2: [certd] common_name: unknown key\n"},
	{"duplicate in one file", "[certd]\nlog_level = info\nlog_level = debug\n",
	 "D/c.conf: warning: no [cert.NAME] section: nothing to manage\n"
	 "D/c.conf:3: [certd] log_level: set more than once (first on line 2)\n"},
	{"bad enum", "[certd]\nlog_level = loud\n",
	 "D/c.conf: warning: no [cert.NAME] section: nothing to manage\n"
	 "D/c.conf:2: [certd] log_level: \"loud\" is not one of error|warning|info|debug\n"},
	{"missing names and paths", "[cert.a]\nttl = 1h\n",
	 "D/c.conf:1: [cert.a] cert: required key is missing\n"
	 "D/c.conf:1: [cert.a] key: required key is missing\n"
	 "D/c.conf:1: [cert.a] no name requested: set common_name, alt_names, ip_sans or uri_sans\n"},
	{"bad names", "[cert.a]\nalt_names = ok.example, bad name\nip_sans = 10.0.0.300\nuri_sans = nouri\ncert = /a\nkey = /b\n",
	 "D/c.conf:2: [cert.a] alt_names: \"bad name\" is not a DNS name\n"
	 "D/c.conf:3: [cert.a] ip_sans: \"10.0.0.300\" is not an IPv4 or IPv6 address\n"
	 "D/c.conf:4: [cert.a] uri_sans: \"nouri\" is not a URI (no scheme)\n"},
	{"bad key bits", "[cert.a]\ncommon_name = a\nkey_type = rsa\nkey_bits = 1024\ncert = /a\nkey = /b\n",
	 NULL},
	{"bad mode and bool and percent", "[cert.a]\ncommon_name = a\nmode = 0855\nexclude_cn_from_sans = maybe\nrenew_at_percent = 101\ncert = /a\nkey = /b\n",
	 "D/c.conf:3: [cert.a] mode: \"0855\" is not an octal file mode like 0640\n"
	 "D/c.conf:4: [cert.a] exclude_cn_from_sans: \"maybe\" is not a boolean (true/false, yes/no, on/off, 1/0)\n"
	 "D/c.conf:5: [cert.a] renew_at_percent: \"101\" is not a whole number from 0 to 100\n"},
	{"unknown user", "[cert.a]\ncommon_name = a\nowner = no-such-user-certd\ncert = /a\nkey = /b\n",
	 "D/c.conf:3: [cert.a] owner: no such user \"no-such-user-certd\"\n"},
	{"output of unknown cert", "[cert.b.output.x]\npath = /x\ntemplate = x\n",
	 "D/c.conf: warning: no [cert.NAME] section: nothing to manage\n"
	 "D/c.conf:1: [cert.b.output.x] output of certificate \"b\", which has no [cert.b] section\n"},
	{"output without template", "[cert.a]\ncommon_name = a\ncert = /a\nkey = /b\n[cert.a.output.x]\npath = /x\n",
	 "D/c.conf:5: [cert.a.output.x] set template or template_file\n"},
	{"two outputs write one path", "[cert.a]\ncommon_name = a\ncert = /same\nkey = /b\n[cert.b]\ncommon_name = b\ncert = /c\nkey = /same\n",
	 "D/c.conf:5: [cert.b] writes /same, which [cert.a] also writes\n"},
	{"template error line in a heredoc", "[cert.a]\ncommon_name = a\ncert = /a\nkey = /b\n[cert.a.output.x]\npath = /x\ntemplate = <<E\nok\n{{#a}}\n{{/b}}\nE\n",
	 "D/c.conf:10: [cert.a.output.x] template: closing tag \"b\" does not match open section \"a\" opened on line 2\n"},
	{"ttl over local max_ttl warns", "[local_ca]\nmax_ttl = 1h\n[cert.a]\ncommon_name = a\nttl = 2h\ncert = /a\nkey = /b\n",
	 "D/c.conf:5: warning: [cert.a] ttl: longer than [local_ca] max_ttl; certificates will be issued for max_ttl\n"},
	{"zero ttl", "[cert.a]\ncommon_name = a\nttl = 0s\ncert = /a\nkey = /b\n",
	 "D/c.conf:3: [cert.a] ttl: must be longer than 0s\n"},
	{"vault-pki without mount, role or address", "[cert.a]\nissuer = vault-pki\ncommon_name = a\ncert = /a\nkey = /b\n",
	 "D/c.conf:1: [cert.a] mount: required with issuer = vault-pki\n"
	 "D/c.conf:1: [cert.a] role: required with issuer = vault-pki\n"
	 "D/c.conf:2: [cert.a] issuer: vault-pki needs [vault] address, which is not set\n"},
	{"approle needs its files; bad address; insecure warned",
	 "[vault]\naddress = vault:8200, http://10.0.0.1:8200\nauth_method = approle\ntls_skip_verify = yes\n"
	 "[cert.a]\nissuer = vault-pki\nmount = pki\nrole = r\ncommon_name = a\ncert = /a\nkey = /b\n",
	 "D/c.conf: [vault] role_id_file: required with auth_method = approle\n"
	 "D/c.conf: [vault] secret_id_file: required with auth_method = approle\n"
	 "D/c.conf:2: [vault] address: \"vault:8200\" is not an http:// or https:// URL\n"
	 "D/c.conf:2: warning: [vault] address: \"http://10.0.0.1:8200\" is plain HTTP: the token crosses the network in clear\n"
	 "D/c.conf:4: warning: [vault] tls_skip_verify: Vault's TLS certificate will not be verified; anyone on the path can impersonate Vault\n"},
	{"jwt needs role and jwt_file", "[vault]\naddress = https://v:8200\nauth_method = jwt\n",
	 "D/c.conf: [vault] role: required with auth_method = jwt\n"
	 "D/c.conf: [vault] jwt_file: required with auth_method = jwt\n"
	 "D/c.conf: warning: no [cert.NAME] section: nothing to manage\n"},
	{"reload and kv mistakes",
	 "[cert.a]\ncommon_name = a\ncert = /a\nkey = /b\nprobe = localhost\n"
	 "[cert.a.reload.cmd]\ntype = command\ncommand = nginx -s reload\n"
	 "[cert.a.reload.sig]\ntype = signal\nsignal = BOOM\n"
	 "[cert.a.kv.crt]\nkey = a.crt\ntemplate = {{cert}}\n",
	 "D/c.conf:1: [cert.a] kv_path: required by its [cert.a.kv.*] sections\n"
	 "D/c.conf:5: [cert.a] probe: \"localhost\" is not host:port\n"
	 "D/c.conf:8: [cert.a.reload.cmd] command: the program must be an absolute path (or set shell = true)\n"
	 "D/c.conf:9: [cert.a.reload.sig] pidfile: set pidfile, or unit to signal its main process\n"
	 "D/c.conf:11: [cert.a.reload.sig] signal: not a signal certd sends (HUP INT QUIT KILL USR1 USR2 ALRM TERM CONT WINCH)\n"},
	{"bad cert name", "[cert.a/b]\n",
	 "D/c.conf: warning: no [cert.NAME] section: nothing to manage\n"
	 "D/c.conf:1: invalid character in section name (allowed: letters, digits, _ . -)\n"},
};

START_TEST(test_errors)
{
	char *path = put("c.conf", error_cases[_i].text), *ds;
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;
	int rc = conf_load(path, &c, &d);

	ds = diags(&d);
	if (error_cases[_i].want == NULL) {
		ck_assert_msg(rc == -EINVAL && d.errors == 1, "%s: %s", error_cases[_i].what, ds);
		ck_assert_msg(strstr(ds, "D/c.conf:4: [cert.a] key_bits: ") != NULL, "%s: %s",
			      error_cases[_i].what, ds);
	} else {
		ck_assert_msg(strcmp(ds, error_cases[_i].want) == 0, "%s:\n got: %s\nwant: %s",
			      error_cases[_i].what, ds, error_cases[_i].want);
		ck_assert_msg((rc == 0) == (d.errors == 0), "%s: rc %d with %zu errors",
			      error_cases[_i].what, rc, d.errors);
	}
	conf_free(c);
	free(ds);
	diag_free(&d);
	free(path);
}
END_TEST

START_TEST(test_dropins_in_name_order)
{
	char *path = put("certd.conf", "[certd]\nlog_level = error\nttl = 1h\n"), *ds;
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;
	char *dd = tu_path(dir, "certd.conf.d");

	ck_assert_int_eq(mkdir(dd, 0755), 0);
	free(put("certd.conf.d/20-b.conf", "[certd]\nlog_level = debug\n"));
	free(put("certd.conf.d/10-a.conf", "[certd]\nlog_level = warning\n"
					   "[cert.a]\ncommon_name = a\ncert = /a\nkey = /b\n"));
	free(put("certd.conf.d/30-c.conf.disabled", "[certd]\nlog_level = nonsense\n"));
	free(put("certd.conf.d/.hidden.conf", "garbage\n"));
	ck_assert_int_eq(conf_load(path, &c, &d), 0);
	ds = diags(&d);
	ck_assert_str_eq(ds, "");
	ck_assert_int_eq(c->log_level, CONF_LOG_DEBUG);
	ck_assert_uint_eq(c->n_certs, 1);
	ck_assert_int_eq(c->certs[0].ttl, 3600);
	conf_free(c);
	free(ds);
	diag_free(&d);
	free(dd);
	free(path);
}
END_TEST

START_TEST(test_missing_file)
{
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;
	char *path = tu_path(dir, "absent.conf"), *ds;

	ck_assert_int_eq(conf_load(path, &c, &d), -ENOENT);
	ds = diags(&d);
	ck_assert_str_eq(ds, "D/absent.conf: cannot read: No such file or directory\n");
	free(ds);
	diag_free(&d);
	free(path);
}
END_TEST

START_TEST(test_template_file)
{
	char *tpl = put("t.mustache", "line one\n{{#x}}\n"), *text, *path, *ds;
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;

	text = xasprintf("[cert.a]\ncommon_name = a\ncert = /a\nkey = /b\n"
			 "[cert.a.output.t]\npath = /t\ntemplate_file = %s\n", tpl);
	path = put("c.conf", text);
	ck_assert_int_eq(conf_load(path, &c, &d), -EINVAL);
	ds = diags(&d);
	ck_assert_str_eq(ds, "D/t.mustache:2: [cert.a.output.t] template_file: unclosed "
			     "section \"x\" opened on line 2\n");
	free(ds);
	diag_free(&d);
	free(tpl);
	tpl = put("t.mustache", "{{cert}}{{key}}\n");
	ck_assert_int_eq(conf_load(path, &c, &d), 0);
	ck_assert_ptr_nonnull(c->certs[0].outputs[0].template.tmpl);
	conf_free(c);
	diag_free(&d);
	free(text);
	free(path);
	free(tpl);
}
END_TEST

/* ---------------------------------------------------------------- docs */

static const char *const md_heading[CONF_SEC_COUNT] = {
	"## [certd]", "## [local_ca]", "## [vault]", "## [cert.NAME]", "## [cert.NAME.output.OUT]",
	"## [cert.NAME.reload.ACTION]", "## [cert.NAME.kv.FIELD]",
};
static const char *const man_heading[CONF_SEC_COUNT] = {
	".SS \"[certd]\"", ".SS \"[local_ca]\"", ".SS \"[vault]\"", ".SS \"[cert.NAME]\"",
	".SS \"[cert.NAME.output.OUT]\"", ".SS \"[cert.NAME.reload.ACTION]\"",
	".SS \"[cert.NAME.kv.FIELD]\"",
};

/* "sec:key\n" lines of the schema, sorted by the table's order. */
static char *
schema_keys(void)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < conf_n_keys; i++)
		buf_printf(&b, "%d:%s\n", conf_keys[i].section, conf_keys[i].name);
	return buf_steal(&b);
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the lines of s in place (returns a new string). */
static char *
sorted(const char *s)
{
	char *copy = xstrdup(s), *save = NULL, *tok, **lines = NULL;
	struct buf b = BUF_INIT;
	size_t n = 0, i;

	for (tok = strtok_r(copy, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		lines = xreallocarray(lines, n + 1, sizeof(*lines));
		lines[n++] = tok;
	}
	qsort(lines, n, sizeof(*lines), cmp_line);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s\n", lines[i]);
	free(lines);
	free(copy);
	return buf_steal(&b);
}

/* Keys documented in a file: under each section heading, the rows that
 * start with "| `key`" (Markdown) or a ".B key" right after ".TP" (roff). */
static char *
doc_keys(const char *path, const char *const *headings, bool roff)
{
	char *text = tu_read_file(path, NULL), *save = NULL, *line, *prev = NULL;
	struct buf b = BUF_INIT;
	int sec = -1, k;

	ck_assert_msg(text != NULL, "cannot read %s", path);
	for (line = strtok_r(text, "\n", &save); line; prev = line, line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, roff ? ".S" : "#", roff ? 2 : 1) == 0) {
			sec = -1;
			for (k = 0; k < CONF_SEC_COUNT; k++)
				if (strcmp(line, headings[k]) == 0)
					sec = k;
			continue;
		}
		if (sec < 0)
			continue;
		if (!roff && strncmp(line, "| `", 3) == 0) {
			char *end = strchr(line + 3, '`');
			if (end != NULL)
				buf_printf(&b, "%d:%.*s\n", sec, (int)(end - line - 3), line + 3);
		} else if (roff && prev != NULL && strcmp(prev, ".TP") == 0 &&
			   strncmp(line, ".B ", 3) == 0) {
			buf_printf(&b, "%d:%s\n", sec, line + 3);
		}
	}
	free(text);
	return buf_steal(&b);
}

static void
check_doc(const char *rel, const char *const *headings, bool roff)
{
	char *path = xasprintf("%s/%s", SRCDIR, rel);
	char *want_raw = schema_keys(), *got_raw = doc_keys(path, headings, roff);
	char *want = sorted(want_raw), *got = sorted(got_raw);

	ck_assert_msg(strcmp(want, got) == 0,
		      "%s does not list exactly the schema's keys (section:key)\n"
		      "schema:\n%s\ndocumented:\n%s", rel, want, got);
	free(path);
	free(want_raw);
	free(got_raw);
	free(want);
	free(got);
}

START_TEST(test_reference_lists_every_key)
{
	check_doc("docs/config-reference.md", md_heading, false);
}
END_TEST

START_TEST(test_man_page_lists_every_key)
{
	check_doc("docs/certd.conf.5", man_heading, true);
}
END_TEST

/* Every shipped configuration loads without an error (warnings allowed). */
START_TEST(test_shipped_configs_load)
{
	const char *dir_rel = "config/examples";
	char *exdir = xasprintf("%s/%s", SRCDIR, dir_rel), *path;
	const char *top[] = {"config/certd.conf", "config/quickstart.conf"};
	struct dirent *de;
	DIR *d = opendir(exdir);
	size_t i, n = 0;

	ck_assert_ptr_nonnull(d);
	for (i = 0;; i++) {
		struct diag dg = DIAG_INIT;
		struct conf *c = NULL;
		int rc;

		if (i < 2) {
			path = xasprintf("%s/%s", SRCDIR, top[i]);
		} else {
			if ((de = readdir(d)) == NULL)
				break;
			if (strlen(de->d_name) < 6 ||
			    strcmp(de->d_name + strlen(de->d_name) - 5, ".conf") != 0)
				continue;
			path = xasprintf("%s/%s", exdir, de->d_name);
		}
		rc = conf_load(path, &c, &dg);
		if (rc != 0) {
			diag_print(&dg, stderr);
			ck_abort_msg("%s does not load", path);
		}
		conf_free(c);
		diag_free(&dg);
		free(path);
		n++;
	}
	closedir(d);
	free(exdir);
	ck_assert_uint_ge(n, 9);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("load");
	TCase *docs = tcase_create("docs");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good_config_binds);
	tcase_add_test(tc, test_four_errors_reported_together);
	tcase_add_loop_test(tc, test_errors, 0, sizeof(error_cases) / sizeof(error_cases[0]));
	tcase_add_test(tc, test_dropins_in_name_order);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_template_file);
	suite_add_tcase(s, tc);
	tcase_add_test(docs, test_reference_lists_every_key);
	tcase_add_test(docs, test_man_page_lists_every_key);
	tcase_add_test(docs, test_shipped_configs_load);
	suite_add_tcase(s, docs);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
