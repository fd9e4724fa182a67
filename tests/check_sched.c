/*
 * check_sched.c — renewal time and backoff policy, table-driven.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "sched.h"

static const struct {
	const char *what;
	struct sched_policy p;
	time_t nb, na;
	double rnd;
	time_t want;
} renew_cases[] = {
	{"two thirds, no jitter", {0, 67, 0}, 1000, 1300, 0.0, 1201},
	{"two thirds of 30d", {0, 67, 5}, 0, 2592000, 0.0, 1736640},
	{"renew_before is earlier", {4 * 86400, 67, 0}, 0, 10 * 86400, 0.0, 6 * 86400},
	{"renew_before is later", {86400, 67, 0}, 0, 90 * 86400, 0.0, 5209920},
	{"full jitter takes 5%", {0, 50, 5}, 0, 1000, 0.999999, 451},
	{"half jitter", {0, 50, 10}, 0, 1000, 0.5, 450},
	{"loop guard: renew_before beyond the lifetime", {5000, 67, 0}, 100, 400, 0.0, 200},
	{"loop guard: clamped 72h with renew_before 7d", {7 * 86400, 67, 5}, 0, 72 * 3600, 0.9, 24 * 3600},
	{"zero lifetime", {0, 67, 5}, 100, 100, 0.3, 100},
	{"100 percent", {0, 100, 0}, 0, 60, 0.0, 60},
	{"jitter cannot cross the guard", {0, 34, 50}, 0, 300, 0.99, 100},
};

START_TEST(test_renew)
{
	time_t got = sched_renew_time(&renew_cases[_i].p, renew_cases[_i].nb, renew_cases[_i].na,
				      renew_cases[_i].rnd);

	ck_assert_msg(got == renew_cases[_i].want, "%s: got %lld, want %lld", renew_cases[_i].what,
		      (long long)got, (long long)renew_cases[_i].want);
}
END_TEST

static const struct {
	const char *what;
	unsigned failures;
	int64_t remaining;
	double rnd;
	int64_t want;
} backoff_cases[] = {
	{"first retry, top of range", 1, 30 * 86400, 0.999999, 29},
	{"second retry doubles", 2, 30 * 86400, 0.999999, 59},
	{"capped at one hour", 20, 30 * 86400, 0.999999, 3599},
	{"capped at 10% of remaining", 20, 1000, 0.999999, 99},
	{"expired: five minute cap", 20, 0, 0.5, 150},
	{"never below a second", 1, 30 * 86400, 0.0, 1},
	{"tiny remaining", 5, 5, 0.9, 1},
};

START_TEST(test_backoff)
{
	int64_t got = sched_backoff(backoff_cases[_i].failures, backoff_cases[_i].remaining,
				    backoff_cases[_i].rnd);

	ck_assert_msg(got == backoff_cases[_i].want, "%s: got %lld, want %lld",
		      backoff_cases[_i].what, (long long)got, (long long)backoff_cases[_i].want);
}
END_TEST

START_TEST(test_stable_rnd)
{
	const unsigned char zero[8] = {0}, ones[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const unsigned char half[8] = {0x80};

	ck_assert(sched_stable_rnd(zero, 8) == 0.0);
	ck_assert(sched_stable_rnd(ones, 8) < 1.0);
	ck_assert(sched_stable_rnd(ones, 8) > 0.99);
	ck_assert(sched_stable_rnd(half, 8) == 0.5);
	ck_assert(sched_stable_rnd(ones, 0) == 0.0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_renew, 0, sizeof(renew_cases) / sizeof(renew_cases[0]));
	tcase_add_loop_test(tc, test_backoff, 0, sizeof(backoff_cases) / sizeof(backoff_cases[0]));
	tcase_add_test(tc, test_stable_rnd);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
