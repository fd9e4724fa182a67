/*
 * check_tmpl.c — tests for lib/tmpl.c.
 *
 * Part one runs every case of the Mustache spec modules certd claims to
 * implement (interpolation, sections, inverted, comments, delimiters) from
 * $MUSTACHE_SPEC_DIR (default SRCDIR/tests/mustache-spec), HTML-escaped as
 * the spec expects; each case is its own Check test named after its file.
 * Cases that need partials must be refused with "partials are not
 * supported", which is what certd promises instead.  A missing or empty
 * spec file is a failure, not a skip.
 *
 * Part two is certd's own table: the json and none escape modes, value
 * formatting, compile errors with their lines and messages, the nesting
 * cap, and a PEM bundle rendered byte for byte.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "tmpl.h"
#include "xalloc.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* ------------------------------------------------------------ helpers */

/* Append s as a C string literal so that whitespace differences show. */
static void
show(struct buf *b, const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	buf_putc(b, '"');
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\r')
			buf_puts(b, "\\r");
		else if (c == '\t')
			buf_puts(b, "\\t");
		else if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_putc(b, (char)c);
	}
	buf_putc(b, '"');
}

/* Fail with the text in msg (freed either way) unless ok.  The message is
 * copied first so that a failing assertion leaks nothing. */
static void
assert_msg(int ok, struct buf *msg)
{
	char text[4000];

	snprintf(text, sizeof(text), "%s", buf_str(msg));
	buf_free(msg);
	ck_assert_msg(ok, "%s", text);
}

static json_t *
json_parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	ck_assert_msg(v != NULL, "bad test JSON %s: %s", text, jerr.text);
	return v;
}

/* Compile and render; returns the compile result.  *got is set either way
 * (empty on a compile error). */
static int
compile_render(const char *tpl, size_t len, const json_t *data,
    enum tmpl_escape esc, struct buf *got, unsigned *line, struct err *e)
{
	struct tmpl *t = NULL;
	int r;

	e->msg[0] = '\0';
	*line = 0;
	r = tmpl_compile(tpl, len, &t, line, e);
	if (r == 0) {
		tmpl_render(t, data, esc, got, NULL);
		tmpl_free(t);
	}
	buf_str(got);
	return r;
}

/* ------------------------------------------------------- Mustache spec */

struct spec_file {
	const char *name;
	json_t *root;
	const json_t *tests;
	char error[512];
};

static struct spec_file spec_files[] = {
	{"interpolation.json", NULL, NULL, ""},
	{"sections.json", NULL, NULL, ""},
	{"inverted.json", NULL, NULL, ""},
	{"comments.json", NULL, NULL, ""},
	{"delimiters.json", NULL, NULL, ""},
};
#define N_SPEC_FILES (sizeof(spec_files) / sizeof(spec_files[0]))

struct spec_case {
	const struct spec_file *file;
	const json_t *test;
};

static struct spec_case *spec_cases;
static size_t n_spec_cases;

static void
spec_load(struct spec_file *f, const char *dir)
{
	json_error_t jerr;
	char *path = xasprintf("%s/%s", dir, f->name);
	size_t i;

	f->root = json_load_file(path, 0, &jerr);
	if (f->root == NULL) {
		snprintf(f->error, sizeof(f->error), "%s: cannot load: %s", path,
		    jerr.text);
		goto out;
	}
	f->tests = json_object_get(f->root, "tests");
	if (!json_is_array(f->tests) || json_array_size(f->tests) == 0) {
		snprintf(f->error, sizeof(f->error), "%s: no \"tests\" array or "
		    "zero tests", path);
		goto out;
	}
	for (i = 0; i < json_array_size(f->tests); i++) {
		spec_cases = xreallocarray(spec_cases, n_spec_cases + 1,
		    sizeof(*spec_cases));
		spec_cases[n_spec_cases].file = f;
		spec_cases[n_spec_cases].test = json_array_get(f->tests, i);
		n_spec_cases++;
	}
out:
	free(path);
}

START_TEST(test_spec_files_present)
{
	struct buf msg = BUF_INIT;
	size_t i;
	int ok = 1;

	for (i = 0; i < N_SPEC_FILES; i++) {
		if (spec_files[i].error[0] == '\0')
			continue;
		buf_printf(&msg, "%s%s", ok ? "" : "\n", spec_files[i].error);
		ok = 0;
	}
	assert_msg(ok, &msg);
}
END_TEST

static const char *
spec_str(const json_t *test, const char *key)
{
	const char *s = json_string_value(json_object_get(test, key));

	return s != NULL ? s : "";
}

START_TEST(test_spec_case)
{
	const struct spec_case *c = &spec_cases[_i];
	const char *name = spec_str(c->test, "name");
	const char *tpl = spec_str(c->test, "template");
	const char *expected = spec_str(c->test, "expected");
	const json_t *data = json_object_get(c->test, "data");
	const json_t *partials = json_object_get(c->test, "partials");
	struct buf got = BUF_INIT, again = BUF_INIT, msg = BUF_INIT;
	struct tmpl *t = NULL;
	struct err e = {""};
	unsigned line = 0;
	int r, ok;

	buf_printf(&msg, "%s: \"%s\": template ", c->file->name, name);
	show(&msg, tpl, strlen(tpl));
	r = tmpl_compile(tpl, strlen(tpl), &t, &line, &e);
	if (json_object_size(partials) > 0) {
		/* certd refuses partials; that refusal is what we check */
		ok = r == -EINVAL && strcmp(e.msg, "partials are not supported") == 0;
		buf_printf(&msg, "\nexpected: compile error \"partials are not "
		    "supported\"\ngot:      r=%d \"%s\"", r, r < 0 ? e.msg : "");
		tmpl_free(t);
		assert_msg(ok, &msg);
		return;
	}
	if (r != 0) {
		buf_printf(&msg, "\nexpected: ");
		show(&msg, expected, strlen(expected));
		buf_printf(&msg, "\ngot:      compile error on line %u: %s", line,
		    e.msg);
		assert_msg(0, &msg);
		return;
	}
	tmpl_render(t, data, TMPL_ESCAPE_HTML, &got, NULL);
	tmpl_render(t, data, TMPL_ESCAPE_HTML, &again, NULL);
	buf_str(&got);
	buf_str(&again);
	ok = got.len == strlen(expected) && memcmp(got.data, expected, got.len) == 0;
	buf_printf(&msg, "\nexpected: ");
	show(&msg, expected, strlen(expected));
	buf_printf(&msg, "\ngot:      ");
	show(&msg, got.data, got.len);
	if (ok && (again.len != got.len || memcmp(again.data, got.data, got.len))) {
		ok = 0;
		buf_printf(&msg, "\nsecond render of the same template: ");
		show(&msg, again.data, again.len);
	}
	tmpl_free(t);
	buf_free(&got);
	buf_free(&again);
	assert_msg(ok, &msg);
}
END_TEST

/* -------------------------------------------------------- render table */

struct render_case {
	const char *name;
	const char *tpl;
	const char *data;
	enum tmpl_escape esc;
	const char *expected;
};

static const struct render_case render_cases[] = {
	{"json: quote, backslash and control characters", "{{v}}",
	    "{\"v\": \"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f\\u0008\"}",
	    TMPL_ESCAPE_JSON, "a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f\\u0008"},
	{"json: html characters and slash untouched", "{{v}}",
	    "{\"v\": \"<a href='/x'>&</a>\"}", TMPL_ESCAPE_JSON,
	    "<a href='/x'>&</a>"},
	{"json: non-ASCII passes through", "{{v}}", "{\"v\": \"\\u00e9 \\u2713\"}",
	    TMPL_ESCAPE_JSON, "\xc3\xa9 \xe2\x9c\x93"},
	{"json: triple and ampersand are never escaped", "{{{v}}}|{{& v}}",
	    "{\"v\": \"\\\"\\n\"}", TMPL_ESCAPE_JSON, "\"\n|\"\n"},
	{"json: inside a JSON document", "{\"pem\": \"{{pem}}\"}\n",
	    "{\"pem\": \"-----BEGIN X-----\\nQUJD\\n-----END X-----\\n\"}",
	    TMPL_ESCAPE_JSON,
	    "{\"pem\": \"-----BEGIN X-----\\nQUJD\\n-----END X-----\\n\"}\n"},
	{"none: nothing is escaped", "{{v}}",
	    "{\"v\": \"<a href=\\\"x\\\">&amp;</a>\\\\\\n\"}", TMPL_ESCAPE_NONE,
	    "<a href=\"x\">&amp;</a>\\\n"},
	{"html: only & < > \" are escaped", "{{v}}", "{\"v\": \"it's <&\\\">\"}",
	    TMPL_ESCAPE_HTML, "it's &lt;&amp;&quot;&gt;"},
	{"values: integers, booleans, null, missing", "{{i}} {{j}} {{t}} {{f}} "
	    "[{{n}}] [{{missing}}]", "{\"i\": -42, \"j\": 9223372036854775807, "
	    "\"t\": true, \"f\": false, \"n\": null}", TMPL_ESCAPE_NONE,
	    "-42 9223372036854775807 true false [] []"},
	{"values: reals in shortest round-trip form", "{{a}} {{b}} {{c}} {{d}} "
	    "{{e}} {{f}} {{g}} {{h}} {{i}}", "{\"a\": 1.21, \"b\": 100.0, "
	    "\"c\": 1e21, \"d\": -2.5, \"e\": 0.30000000000000004, \"f\": 0.1, "
	    "\"g\": 1e16, \"h\": 1.5e-5, \"i\": -0.0}", TMPL_ESCAPE_NONE,
	    "1.21 100 1e+21 -2.5 0.30000000000000004 0.1 10000000000000000 "
	    "1.5e-05 -0"},
	{"values: lists and objects interpolate as nothing", "[{{l}}][{{o}}]",
	    "{\"l\": [1, 2], \"o\": {\"a\": 1}}", TMPL_ESCAPE_NONE, "[][]"},
	{"sections: empty string is falsey, zero is truthy",
	    "{{#s}}yes{{/s}}{{^s}}no{{/s}} {{#z}}[{{.}}]{{/z}}",
	    "{\"s\": \"\", \"z\": 0}", TMPL_ESCAPE_NONE, "no [0]"},
	{"sections: list of objects with parent lookup",
	    "{{#sans}}{{name}}.{{domain}}\n{{/sans}}",
	    "{\"domain\": \"example.org\", \"sans\": [{\"name\": \"www\"}, "
	    "{\"name\": \"api\", \"domain\": \"example.net\"}]}", TMPL_ESCAPE_NONE,
	    "www.example.org\napi.example.net\n"},
	{"sections: dotted section name", "{{#a.b}}{{c}}{{/a.b}}",
	    "{\"a\": {\"b\": {\"c\": \"deep\"}}}", TMPL_ESCAPE_NONE, "deep"},
	{"null context renders text only", "{{a}}x{{#b}}y{{/b}}{{^c}}z{{/c}}",
	    "null", TMPL_ESCAPE_NONE, "xz"},
	{"standalone lines with CRLF", "{{#a}}\r\nx\r\n{{/a}}\r\n{{! c }}\r\ny",
	    "{\"a\": true}", TMPL_ESCAPE_NONE, "x\r\ny"},
	{"set-delimiter with triple and escaped tags", "{{=<% %>=}}<%{v}%>|<%v%>"
	    "|{{v}}", "{\"v\": \"<\"}", TMPL_ESCAPE_HTML, "<|&lt;|{{v}}"},
	{"empty template", "", "{}", TMPL_ESCAPE_NONE, ""},
};

START_TEST(test_render_table)
{
	const struct render_case *c = &render_cases[_i];
	json_t *data = json_parse(c->data);
	struct buf got = BUF_INIT, msg = BUF_INIT;
	struct err e;
	unsigned line;
	int r, ok;

	r = compile_render(c->tpl, strlen(c->tpl), data, c->esc, &got, &line, &e);
	ok = r == 0 && got.len == strlen(c->expected) &&
	    memcmp(got.data, c->expected, got.len) == 0;
	buf_printf(&msg, "%s (%s): template ", c->name, tmpl_escape_name(c->esc));
	show(&msg, c->tpl, strlen(c->tpl));
	buf_printf(&msg, "\nexpected: ");
	show(&msg, c->expected, strlen(c->expected));
	if (r != 0)
		buf_printf(&msg, "\ngot:      compile error on line %u: %s", line,
		    e.msg);
	else {
		buf_printf(&msg, "\ngot:      ");
		show(&msg, got.data, got.len);
	}
	buf_free(&got);
	json_decref(data);
	assert_msg(ok, &msg);
}
END_TEST

/* --------------------------------------------------------- error table */

struct error_case {
	const char *name;
	const char *tpl;
	unsigned line;
	const char *msg;
};

static const struct error_case error_cases[] = {
	{"unclosed section on line 3", "first\nsecond\n{{#items}}\n{{name}}\n",
	    3, "unclosed section \"items\" opened on line 3"},
	{"unclosed inverted section", "{{^a}}\n  {{#b}}x{{/b}}\n", 1,
	    "unclosed section \"a\" opened on line 1"},
	{"mismatched close tag", "{{#a}}\nx\n{{/b}}\n", 3,
	    "closing tag \"b\" does not match open section \"a\" opened on line 1"},
	{"sections closed in the wrong order", "{{#a}}\n{{#b}}\n{{/a}}\n{{/b}}",
	    3, "closing tag \"a\" does not match open section \"b\" opened on "
	    "line 2"},
	{"close tag without open section", "x\n{{/a}}", 2,
	    "closing tag \"a\" has no open section"},
	{"unclosed tag", "a\nb {{x\n", 2, "unclosed tag: no \"}}\" after \"{{\""},
	{"unclosed triple mustache", "{{{x}}", 1,
	    "unclosed tag: no \"}}}\" after \"{{{\""},
	{"unclosed tag with custom delimiters", "{{=<% %>=}}\n<%x}}", 2,
	    "unclosed tag: no \"%>\" after \"<%\""},
	{"partial tag refused", "a\n{{> header}}\n", 2,
	    "partials are not supported"},
	{"partial tag refused with custom delimiters", "{{=| |=}}\n|>x|", 2,
	    "partials are not supported"},
	{"inheritance refused", "{{$block}}x{{/block}}", 1,
	    "template inheritance is not supported"},
	{"set-delimiter with one delimiter", "x\n{{=<%=}}", 2,
	    "bad set-delimiter tag \"<%\": expected two delimiters without spaces "
	    "or '=', e.g. {{=<% %>=}}"},
	{"set-delimiter with three delimiters", "{{=a b c=}}", 1,
	    "bad set-delimiter tag \"a b c\": expected two delimiters without "
	    "spaces or '=', e.g. {{=<% %>=}}"},
	{"set-delimiter containing '='", "{{=a= b=}}", 1,
	    "bad set-delimiter tag \"a= b\": expected two delimiters without "
	    "spaces or '=', e.g. {{=<% %>=}}"},
	{"empty variable", "{{}}", 1, "empty tag name"},
	{"blank variable", "\n{{ }}", 2, "empty tag name"},
	{"empty section", "{{#}}{{/}}", 1, "empty tag name"},
	{"empty close", "{{#a}}{{/ }}", 1, "empty tag name"},
	{"empty triple", "{{{ }}}", 1, "empty tag name"},
	{"empty ampersand", "{{&}}", 1, "empty tag name"},
	{"name with a space", "{{a b}}", 1, "invalid tag name \"a b\""},
	{"name with an empty part", "{{#a..b}}{{/a..b}}", 1,
	    "invalid tag name \"a..b\""},
	{"name with a leading dot", "{{.a}}", 1, "invalid tag name \".a\""},
	{"name with a trailing dot", "{{a.}}", 1, "invalid tag name \"a.\""},
	{"line counted past removed standalone lines", "{{#a}}\n{{/a}}\n\n{{x",
	    4, "unclosed tag: no \"}}\" after \"{{\""},
	{"line counted over CRLF", "a\r\nb\r\n{{#s}}", 3,
	    "unclosed section \"s\" opened on line 3"},
};

START_TEST(test_error_table)
{
	const struct error_case *c = &error_cases[_i];
	struct buf got = BUF_INIT, msg = BUF_INIT;
	struct err e;
	unsigned line;
	int r, ok;

	r = compile_render(c->tpl, strlen(c->tpl), NULL, TMPL_ESCAPE_NONE, &got,
	    &line, &e);
	ok = r == -EINVAL && line == c->line && strcmp(e.msg, c->msg) == 0;
	buf_printf(&msg, "%s: template ", c->name);
	show(&msg, c->tpl, strlen(c->tpl));
	buf_printf(&msg, "\nexpected: -EINVAL, line %u: %s\ngot:      r=%d, "
	    "line %u: %s", c->line, c->msg, r, line, r < 0 ? e.msg : "");
	buf_free(&got);
	assert_msg(ok, &msg);
}
END_TEST

/* ----------------------------------------------------- single scenarios */

static char *
nested(unsigned depth)
{
	struct buf b = BUF_INIT;
	unsigned i;

	for (i = 0; i < depth; i++)
		buf_puts(&b, "{{#a}}\n");
	buf_puts(&b, "x\n");
	for (i = 0; i < depth; i++)
		buf_puts(&b, "{{/a}}\n");
	return buf_steal(&b);
}

START_TEST(test_nesting_cap)
{
	char *ok_tpl = nested(100), *bad_tpl = nested(101);
	json_t *data = json_parse("{\"a\": true}");
	struct buf got = BUF_INIT;
	struct err e;
	unsigned line;
	int r;

	r = compile_render(ok_tpl, strlen(ok_tpl), data, TMPL_ESCAPE_NONE, &got,
	    &line, &e);
	ck_assert_msg(r == 0, "100 nested sections refused: line %u: %s", line,
	    e.msg);
	ck_assert_str_eq(got.data, "x\n");
	buf_reset(&got);
	r = compile_render(bad_tpl, strlen(bad_tpl), data, TMPL_ESCAPE_NONE, &got,
	    &line, &e);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_uint_eq(line, 101);
	ck_assert_str_eq(e.msg, "sections nested deeper than 100");
	buf_free(&got);
	json_decref(data);
	free(ok_tpl);
	free(bad_tpl);
}
END_TEST

#define CERT "-----BEGIN CERTIFICATE-----\n" \
	"MIIBszCCAVmgAwIBAgIUQ+/z0Z8x4Y1x9yA3GdJm0Hc7lDswCgYIKoZIzj0EAwIw\n" \
	"EjEQMA4GA1UEAwwHdGVzdC1jYTAeFw0yNDAxMDEwMDAwMDBaFw0yNTAxMDEwMDAw\n" \
	"-----END CERTIFICATE-----\n"
#define CHAIN "-----BEGIN CERTIFICATE-----\n" \
	"MIIBkTCCATegAwIBAgIUcA==\n" \
	"-----END CERTIFICATE-----\n" \
	"-----BEGIN CERTIFICATE-----\n" \
	"MIIBijCCATCgAwIBAgIU/+8=\n" \
	"-----END CERTIFICATE-----\n"
#define KEY "-----BEGIN PRIVATE KEY-----\n" \
	"MC4CAQAwBQYDK2VwBCIEIOb+2Q8k0Lw3C/4E8+9oQ5S6t3Vv8b0kO2e1G7hB3mQ=\n" \
	"-----END PRIVATE KEY-----\n"

START_TEST(test_pem_bundle)
{
	static const char tpl[] = "{{cert}}{{chain}}{{key}}";
	static const char expected[] = CERT CHAIN KEY;
	json_t *data = json_pack("{s:s, s:s, s:s}", "cert", CERT, "chain", CHAIN,
	    "key", KEY);
	json_t *other = json_pack("{s:s, s:s, s:s}", "cert", "C\n", "chain", "",
	    "key", "K\n");
	struct tmpl *t = NULL;
	struct buf got = BUF_INIT;
	struct err e;
	unsigned line = 0;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(tmpl_compile(tpl, strlen(tpl), &t, &line, &e), 0);
	/* one compiled template, rendered for several certificates */
	tmpl_render(t, data, TMPL_ESCAPE_NONE, &got, NULL);
	ck_assert_uint_eq(got.len, strlen(expected));
	ck_assert_msg(memcmp(got.data, expected, got.len) == 0,
	    "PEM bundle differs:\n%s", got.data);
	buf_reset(&got);
	tmpl_render(t, other, TMPL_ESCAPE_NONE, &got, NULL);
	ck_assert_str_eq(buf_str(&got), "C\nK\n");
	/* render appends to what the buffer already holds */
	tmpl_render(t, other, TMPL_ESCAPE_NONE, &got, NULL);
	ck_assert_str_eq(buf_str(&got), "C\nK\nC\nK\n");
	buf_free_secret(&got);
	tmpl_free(t);
	json_decref(data);
	json_decref(other);
}
END_TEST

START_TEST(test_pem_fullchain_optional_chain)
{
	static const char tpl[] =
	    "{{cert}}\n"
	    "{{#chain}}\n"
	    "{{chain}}\n"
	    "{{/chain}}\n";
	json_t *with = json_pack("{s:s, s:s}", "cert", CERT, "chain", CHAIN);
	json_t *without = json_pack("{s:s, s:s}", "cert", CERT, "chain", "");
	struct tmpl *t = NULL;
	struct buf got = BUF_INIT;
	struct err e;
	unsigned line = 0;

	ck_assert_int_eq(tmpl_compile(tpl, strlen(tpl), &t, &line, &e), 0);
	tmpl_render(t, with, TMPL_ESCAPE_NONE, &got, NULL);
	ck_assert_str_eq(buf_str(&got), CERT "\n" CHAIN "\n");
	buf_reset(&got);
	tmpl_render(t, without, TMPL_ESCAPE_NONE, &got, NULL);
	ck_assert_str_eq(buf_str(&got), CERT "\n");
	buf_free(&got);
	tmpl_free(t);
	json_decref(with);
	json_decref(without);
}
END_TEST

START_TEST(test_embedded_nul)
{
	static const char tpl[] = "a\0b{{v}}\0";
	json_t *data = json_parse("{\"v\": \"x\"}");
	struct buf got = BUF_INIT;
	struct err e;
	unsigned line;

	ck_assert_int_eq(compile_render(tpl, sizeof(tpl) - 1, data,
	    TMPL_ESCAPE_NONE, &got, &line, &e), 0);
	ck_assert_uint_eq(got.len, 5);
	ck_assert(memcmp(got.data, "a\0bx\0", 5) == 0);
	buf_free(&got);
	json_decref(data);
}
END_TEST

START_TEST(test_error_out_params)
{
	struct tmpl *t = (struct tmpl *)&t;

	/* NULL err and err_line are allowed; *out is left alone on error */
	ck_assert_int_eq(tmpl_compile("{{#a}}", 6, &t, NULL, NULL), -EINVAL);
	ck_assert_ptr_eq(t, (struct tmpl *)&t);
	tmpl_free(NULL);
}
END_TEST

START_TEST(test_escape_names)
{
	static const struct {
		const char *name;
		int r;
		enum tmpl_escape esc;
	} cases[] = {
		{"none", 0, TMPL_ESCAPE_NONE},
		{"html", 0, TMPL_ESCAPE_HTML},
		{"json", 0, TMPL_ESCAPE_JSON},
		{"HTML", -EINVAL, TMPL_ESCAPE_NONE},
		{"", -EINVAL, TMPL_ESCAPE_NONE},
		{"xml", -EINVAL, TMPL_ESCAPE_NONE},
	};
	enum tmpl_escape esc;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		esc = (enum tmpl_escape)99;
		ck_assert_int_eq(tmpl_escape_parse(cases[i].name, &esc), cases[i].r);
		if (cases[i].r != 0) {
			ck_assert_int_eq(esc, 99);
			continue;
		}
		ck_assert_int_eq(esc, cases[i].esc);
		ck_assert_str_eq(tmpl_escape_name(esc), cases[i].name);
	}
}
END_TEST

/* ---------------------------------------------------------------- main */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Sections nested over a list multiply: 16 levels over 3 names would be
 * 3^16 renders (hundreds of MB, found by tests/fuzz/fuzz_tmpl).  The render
 * stops at its budget, says so, and leaves nothing in the buffer. */
START_TEST(test_render_budget)
{
	json_t *data = json_pack("{s:[s,s,s], s:s}", "alt_names", "a", "b", "c", "x", "y");
	struct buf text = BUF_INIT, got = BUF_INIT;
	struct tmpl *t = NULL;
	struct err e = {{0}};
	unsigned line = 0;
	int i;

	for (i = 0; i < 16; i++)
		buf_puts(&text, "{{#alt_names}}");
	buf_puts(&text, "{{.}} and some text to make it grow\n");
	for (i = 0; i < 16; i++)
		buf_puts(&text, "{{/alt_names}}");
	ck_assert_int_eq(tmpl_compile(text.data, text.len, &t, &line, &e), 0);
	buf_puts(&got, "kept:");
	ck_assert_int_eq(tmpl_render(t, data, TMPL_ESCAPE_NONE, &got, &e), -E2BIG);
	ck_assert_str_eq(buf_str(&got), "kept:");
	ck_assert_msg(strstr(e.msg, "sections nested over lists multiply") != NULL, "%s", e.msg);
	tmpl_free(t);
	/* Four levels (81 lines) are fine. */
	buf_reset(&text);
	buf_reset(&got);
	for (i = 0; i < 4; i++)
		buf_puts(&text, "{{#alt_names}}");
	buf_puts(&text, "{{.}}\n");
	for (i = 0; i < 4; i++)
		buf_puts(&text, "{{/alt_names}}");
	ck_assert_int_eq(tmpl_compile(text.data, text.len, &t, &line, &e), 0);
	ck_assert_int_eq(tmpl_render(t, data, TMPL_ESCAPE_NONE, &got, &e), 0);
	ck_assert_uint_eq(got.len, 81 * 2);
	tmpl_free(t);
	buf_free(&text);
	buf_free(&got);
	json_decref(data);
}
END_TEST

static Suite *
tmpl_suite(void)
{
	Suite *s = suite_create("tmpl");
	TCase *tc;
	size_t i, first, n;

	tc = tcase_create("spec-files");
	tcase_add_test(tc, test_spec_files_present);
	suite_add_tcase(s, tc);
	for (i = 0, first = 0; i < N_SPEC_FILES; i++, first += n) {
		n = json_array_size(spec_files[i].tests);
		if (spec_files[i].error[0] != '\0' || n == 0) {
			n = 0;
			continue;
		}
		tc = tcase_create(spec_files[i].name);
		tcase_add_loop_test(tc, test_spec_case, (int)first, (int)(first + n));
		suite_add_tcase(s, tc);
	}

	tc = tcase_create("own");
	tcase_add_loop_test(tc, test_render_table, 0, (int)NELEM(render_cases));
	tcase_add_loop_test(tc, test_error_table, 0, (int)NELEM(error_cases));
	tcase_add_test(tc, test_nesting_cap);
	tcase_add_test(tc, test_pem_bundle);
	tcase_add_test(tc, test_pem_fullchain_optional_chain);
	tcase_add_test(tc, test_embedded_nul);
	tcase_add_test(tc, test_error_out_params);
	tcase_add_test(tc, test_escape_names);
	tcase_add_test(tc, test_render_budget);
	suite_add_tcase(s, tc);
	return s;
}

/* Print "file: passed/total" per test case group, the counts the spec
 * modules are judged by. */
static void
print_counts(SRunner *sr)
{
	TestResult **res = srunner_results(sr);
	int n = srunner_ntests_run(sr), i, pass, total;
	size_t f;

	for (f = 0; f < N_SPEC_FILES + 1; f++) {
		const char *name = f < N_SPEC_FILES ? spec_files[f].name : "own";

		for (i = 0, pass = 0, total = 0; i < n; i++) {
			if (strcmp(tr_tcname(res[i]), name) != 0)
				continue;
			total++;
			pass += tr_rtype(res[i]) == CK_PASS;
		}
		printf("%-20s %d/%d passed\n", name, pass, total);
	}
	free(res);
}

int
main(void)
{
	const char *dir = getenv("MUSTACHE_SPEC_DIR");
	SRunner *sr;
	size_t i;
	int failed;

	if (dir == NULL || *dir == '\0')
		dir = SRCDIR "/tests/mustache-spec";
	for (i = 0; i < N_SPEC_FILES; i++)
		spec_load(&spec_files[i], dir);

	sr = srunner_create(tmpl_suite());
	srunner_run_all(sr, CK_NORMAL);
	print_counts(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	for (i = 0; i < N_SPEC_FILES; i++)
		json_decref(spec_files[i].root);
	free(spec_cases);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
