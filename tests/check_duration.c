/*
 * check_duration.c — duration parsing and formatting, table-driven.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

static const struct {
	const char *in;
	int rc;
	int64_t secs;
} parse_cases[] = {
	{"90s", 0, 90},
	{"15m", 0, 900},
	{"72h", 0, 259200},
	{"30d", 0, 2592000},
	{"2w", 0, 1209600},
	{"1h30m", 0, 5400},
	{"1d2h3m4s", 0, 93784},
	{"45", 0, 45},
	{"0s", 0, 0},
	{"", -EINVAL, 0},
	{"s", -EINVAL, 0},
	{"10x", -EINVAL, 0},
	{"1.5h", -EINVAL, 0},
	{"-5s", -EINVAL, 0},
	{"5 s", -EINVAL, 0},
	{"1h30", -EINVAL, 0},
	{"36600d", 0, 3162240000},
	{"99999999999d", -ERANGE, 0},
	{"40000d", -ERANGE, 0},
};

START_TEST(test_parse)
{
	int64_t out = -1;
	int rc = duration_parse(parse_cases[_i].in, &out);

	ck_assert_msg(rc == parse_cases[_i].rc, "\"%s\": rc %d, want %d", parse_cases[_i].in, rc,
		      parse_cases[_i].rc);
	if (rc == 0)
		ck_assert_msg(out == parse_cases[_i].secs, "\"%s\": %lld, want %lld",
			      parse_cases[_i].in, (long long)out, (long long)parse_cases[_i].secs);
	else
		ck_assert_int_eq(out, -1);
}
END_TEST

static const struct {
	int64_t secs;
	const char *out;
} format_cases[] = {
	{0, "0s"},
	{45, "45s"},
	{90, "1m30s"},
	{3600, "1h"},
	{11520, "3h12m"},
	{11525, "3h12m"},
	{86400 * 2 + 3600 * 3, "2d3h"},
	{-40, "-40s"},
};

START_TEST(test_format)
{
	char buf[32];

	duration_format(format_cases[_i].secs, buf, sizeof(buf));
	ck_assert_str_eq(buf, format_cases[_i].out);
}
END_TEST

START_TEST(test_format_small_buffer)
{
	char buf[4];

	duration_format(86400 * 365, buf, sizeof(buf));
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("duration");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_parse, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_loop_test(tc, test_format, 0, sizeof(format_cases) / sizeof(format_cases[0]));
	tcase_add_test(tc, test_format_small_buffer);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
