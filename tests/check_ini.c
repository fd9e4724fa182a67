/*
 * check_ini.c — the INI lexer: what it reports for each construct, and the
 * errors it finds (each with its line), table-driven.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "ini.h"

/* Items as "section:key=value@line/value_line;" and headers as "[section]@line;". */
static void
collect(void *arg, const struct ini_item *it)
{
	struct buf *b = arg;

	if (it->key == NULL)
		buf_printf(b, "[%s]@%u;", it->section, it->line);
	else
		buf_printf(b, "%s:%s=%s@%u/%u;", it->section, it->key, it->value, it->line,
			   it->value_line);
}

static char *
errors_of(struct diag *d)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < d->n; i++) {
		char *s = diag_format(d, i);
		buf_printf(&b, "%s|", s);
		free(s);
	}
	return buf_steal(&b);
}

static const struct {
	const char *what;
	const char *text;
	const char *items;
	const char *errors;
} cases[] = {
	{"simple", "[certd]\nstate_dir = /var/lib/certd\n",
	 "[certd]@1;certd:state_dir=/var/lib/certd@2/2;", ""},
	{"comments and blanks", "# c\n; c\n\n  [a]  \n\tk=v\t\n",
	 "[a]@4;a:k=v@5/5;", ""},
	{"crlf", "[a]\r\nk = v\r\n", "[a]@1;a:k=v@2/2;", ""},
	{"no trailing newline", "[a]\nk = v", "[a]@1;a:k=v@2/2;", ""},
	{"empty value", "[a]\nk =\n", "[a]@1;a:k=@2/2;", ""},
	{"value keeps inner = and #", "[a]\nurl = https://x/?a=b#c\n",
	 "[a]@1;a:url=https://x/?a=b#c@2/2;", ""},
	{"dotted section", "[cert.web.output.pem]\npath = /x\n",
	 "[cert.web.output.pem]@1;cert.web.output.pem:path=/x@2/2;", ""},
	{"quoted", "[a]\nk = \"  sp \\\"q\\\" \\\\ \\n\"\n",
	 "[a]@1;a:k=  sp \"q\" \\ \n@2/2;", ""},
	{"heredoc", "[a]\nt = <<END\nline1\n  line2\nEND\nk = v\n",
	 "[a]@1;a:t=line1\n  line2\n@2/3;a:k=v@6/6;", ""},
	{"heredoc indented end", "[a]\nt = <<X\nbody\n   X\n", "[a]@1;a:t=body\n@2/3;", ""},
	{"empty heredoc", "[a]\nt = <<E\nE\n", "[a]@1;a:t=@2/3;", ""},
	{"long line", NULL, NULL, ""},
	{"missing =", "[a]\njunk\nk = v\n", "[a]@1;a:k=v@3/3;", "f.conf:2: [a] expected key = value|"},
	{"key outside section", "k = v\n[a]\n", "[a]@2;", "f.conf:1: k: key outside of any section|"},
	{"bad key", "[a]\nKey = v\n", "[a]@1;", "f.conf:2: [a] Key: invalid key name (allowed: a-z 0-9 _)|"},
	{"bad section then keys skipped", "[a b]\nk = v\n[c]\nk = w\n", "[c]@3;c:k=w@4/4;",
	 "f.conf:1: invalid character in section name (allowed: letters, digits, _ . -)|"},
	{"unclosed section header", "[a\nk = v\n", "",
	 "f.conf:1: malformed section header: expected [name]|"},
	{"unterminated heredoc", "[a]\n\nt = <<END\nx\n", "[a]@1;",
	 "f.conf:3: [a] t: here-document not terminated: no line \"END\" before end of file|"},
	{"unterminated quote", "[a]\nk = \"abc\n", "[a]@1;", "f.conf:2: [a] k: unterminated quoted value|"},
	{"text after quote", "[a]\nk = \"abc\" x\n", "[a]@1;",
	 "f.conf:2: [a] k: unexpected text after closing quote|"},
	{"bad escape", "[a]\nk = \"\\q\"\n", "[a]@1;",
	 "f.conf:2: [a] k: unknown escape in quoted value (allowed: \\\\ \\\" \\n \\t)|"},
	{"missing key", "[a]\n= v\n", "[a]@1;", "f.conf:2: [a] missing key before '='|"},
	{"empty section name", "[]\n", "", "f.conf:1: malformed section header: expected [name]|"},
	{"all errors collected", "x\n[a]\n= 1\ny\n", "[a]@2;",
	 "f.conf:1: expected key = value|f.conf:3: [a] missing key before '='|f.conf:4: [a] expected key = value|"},
};

START_TEST(test_cases)
{
	struct buf got = BUF_INIT, text = BUF_INIT, want = BUF_INIT;
	struct diag d = DIAG_INIT;
	char *errs;
	int i;

	if (cases[_i].text == NULL) {
		/* 100 KB on one line: libinih would cut it at 200 bytes. */
		buf_puts(&text, "[a]\nsans = ");
		buf_puts(&want, "[a]@1;a:sans=");
		for (i = 0; i < 10000; i++) {
			buf_printf(&text, "h%04d.ex,", i);
			buf_printf(&want, "h%04d.ex,", i);
		}
		buf_puts(&text, "\n");
		buf_puts(&want, "@2/2;");
	} else {
		buf_puts(&text, cases[_i].text);
		buf_puts(&want, cases[_i].items);
	}
	ini_parse("f.conf", buf_str(&text), text.len, collect, &got, &d);
	errs = errors_of(&d);
	ck_assert_msg(strcmp(buf_str(&got), buf_str(&want)) == 0, "%s: items\n got: %s\nwant: %s",
		      cases[_i].what, buf_str(&got), buf_str(&want));
	ck_assert_msg(strcmp(errs, cases[_i].errors) == 0, "%s: errors\n got: %s\nwant: %s",
		      cases[_i].what, errs, cases[_i].errors);
	free(errs);
	diag_free(&d);
	buf_free(&got);
	buf_free(&text);
	buf_free(&want);
}
END_TEST

START_TEST(test_nul_byte)
{
	struct buf got = BUF_INIT;
	struct diag d = DIAG_INIT;
	const char text[] = "[a]\nk = v\nx\0y\n";
	char *errs;

	ck_assert_uint_eq(ini_parse("f.conf", text, sizeof(text) - 1, collect, &got, &d), 1);
	errs = errors_of(&d);
	ck_assert_str_eq(errs, "f.conf:3: NUL byte in configuration file|");
	ck_assert_str_eq(buf_str(&got), "");
	free(errs);
	diag_free(&d);
	buf_free(&got);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ini");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_nul_byte);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
