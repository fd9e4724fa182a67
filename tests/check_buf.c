/*
 * check_buf.c — the growable buffer and the error carrier.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "err.h"
#include "log.h"

START_TEST(test_append_and_terminator)
{
	struct buf b = BUF_INIT;
	int i;

	ck_assert_str_eq(buf_str(&b), "");
	for (i = 0; i < 1000; i++)
		buf_puts(&b, "ab");
	ck_assert_uint_eq(b.len, 2000);
	ck_assert_uint_eq(strlen(b.data), 2000);
	buf_printf(&b, "%d-%s", 42, "x");
	ck_assert_str_eq(b.data + 2000, "42-x");
	buf_reset(&b);
	ck_assert_str_eq(buf_str(&b), "");
	buf_append(&b, "a\0b", 3);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(memcmp(b.data, "a\0b", 4), 0);
	buf_free_secret(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_steal)
{
	struct buf b = BUF_INIT;
	char *s;

	s = buf_steal(&b);
	ck_assert_str_eq(s, "");
	free(s);
	buf_puts(&b, "hello");
	s = buf_steal(&b);
	ck_assert_str_eq(s, "hello");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
}
END_TEST

START_TEST(test_err)
{
	struct err e = {{0}};
	char longmsg[2000];

	ck_assert_int_eq(err_set(&e, EINVAL, "bad %s", "thing"), -EINVAL);
	ck_assert_str_eq(e.msg, "bad thing");
	ck_assert_int_eq(err_prefix(&e, ENOENT, "/etc/x"), -ENOENT);
	ck_assert_str_eq(e.msg, "/etc/x: bad thing");
	ck_assert_int_eq(err_set(NULL, EIO, "ignored"), -EIO);
	memset(longmsg, 'z', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	err_set(&e, EINVAL, "%s", longmsg);
	ck_assert_uint_eq(strlen(e.msg), sizeof(e.msg) - 1);
	err_prefix(&e, EINVAL, "p");
	ck_assert_uint_eq(strlen(e.msg), sizeof(e.msg) - 1);
	ck_assert(strncmp(e.msg, "p: zzz", 6) == 0);
}
END_TEST

START_TEST(test_diag_format)
{
	struct diag d = DIAG_INIT;
	char *s;

	diag_add(&d, "/etc/certd/certd.conf", 12, "cert.web", "ttl", "bad %s", "duration");
	diag_add(&d, "/etc/certd/certd.conf", 3, NULL, NULL, "expected key = value");
	diag_warn(&d, "/x.conf", 0, "certd", NULL, "careful");
	ck_assert_uint_eq(d.errors, 2);
	s = diag_format(&d, 0);
	ck_assert_str_eq(s, "/etc/certd/certd.conf:12: [cert.web] ttl: bad duration");
	free(s);
	s = diag_format(&d, 1);
	ck_assert_str_eq(s, "/etc/certd/certd.conf:3: expected key = value");
	free(s);
	s = diag_format(&d, 2);
	ck_assert_str_eq(s, "/x.conf: warning: [certd] careful");
	free(s);
	diag_free(&d);
}
END_TEST

START_TEST(test_log_escape)
{
	struct buf b = BUF_INIT;

	log_escape("role \"web\"\n\tnot allowed\x01\xff\\", 100, &b);
	ck_assert_str_eq(buf_str(&b), "role \"web\"\\n\\tnot allowed\\x01\\xff\\\\");
	buf_reset(&b);
	log_escape("abcdef", 3, &b);
	ck_assert_str_eq(buf_str(&b), "abc...");
	buf_free(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_append_and_terminator);
	tcase_add_test(tc, test_steal);
	tcase_add_test(tc, test_err);
	tcase_add_test(tc, test_diag_format);
	tcase_add_test(tc, test_log_escape);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
