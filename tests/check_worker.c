/*
 * check_worker.c — the key-generation pool: work runs off the loop thread,
 * done runs on it exactly once per task and never inside submit, and a
 * cancelled task gets discard instead of done.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "worker.h"

struct task {
	pthread_t loop_thread;
	pthread_t work_thread;
	int worked, done, discarded;
	useconds_t sleep_us;
};

static void
work(void *arg)
{
	struct task *t = arg;

	t->work_thread = pthread_self();
	if (t->sleep_us)
		usleep(t->sleep_us);
	t->worked++;
}

static void
done(void *arg)
{
	struct task *t = arg;

	ck_assert(pthread_equal(pthread_self(), t->loop_thread));
	t->done++;
}

static void
discard(void *arg)
{
	struct task *t = arg;

	t->discarded++;
}

static struct event_base *
new_base(void)
{
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	return event_base_new();
}

START_TEST(test_done_once_on_loop_thread)
{
	struct event_base *base = new_base();
	struct worker *w = worker_new(base, 2);
	struct task t[20] = {{0}};
	int i;

	for (i = 0; i < 20; i++) {
		t[i].loop_thread = pthread_self();
		worker_submit(w, work, done, discard, &t[i]);
		ck_assert_int_eq(t[i].done, 0);
	}
	while (1) {
		int all = 1;
		for (i = 0; i < 20; i++)
			all &= t[i].done == 1;
		if (all)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(t[i].worked, 1);
		ck_assert_int_eq(t[i].done, 1);
		ck_assert_int_eq(t[i].discarded, 0);
		ck_assert(!pthread_equal(t[i].work_thread, pthread_self()));
	}
	worker_free(w);
	event_base_free(base);
}
END_TEST

START_TEST(test_cancel_discards)
{
	struct event_base *base = new_base();
	struct worker *w = worker_new(base, 1);
	struct task slow = {.loop_thread = pthread_self(), .sleep_us = 200000};
	struct task queued = {.loop_thread = pthread_self()};
	struct task keep = {.loop_thread = pthread_self()};
	struct worker_task *a, *b;

	a = worker_submit(w, work, done, discard, &slow);
	b = worker_submit(w, work, done, discard, &queued);
	worker_submit(w, work, done, discard, &keep);
	usleep(50000); /* slow is running now */
	worker_cancel(a);
	worker_cancel(b);
	while (keep.done == 0)
		event_base_loop(base, EVLOOP_ONCE);
	while (slow.discarded == 0 || queued.discarded == 0)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ck_assert_int_eq(slow.worked, 1);     /* a running task is not interrupted */
	ck_assert_int_eq(slow.done, 0);
	ck_assert_int_eq(queued.worked, 0);   /* a queued one never runs */
	ck_assert_int_eq(queued.done, 0);
	ck_assert_int_eq(keep.done, 1);
	worker_free(w);
	event_base_free(base);
}
END_TEST

START_TEST(test_free_discards_pending)
{
	struct event_base *base = new_base();
	struct worker *w = worker_new(base, 1);
	struct task slow = {.loop_thread = pthread_self(), .sleep_us = 100000};
	struct task queued = {.loop_thread = pthread_self()};

	worker_submit(w, work, done, discard, &slow);
	worker_submit(w, work, done, discard, &queued);
	usleep(20000);
	worker_free(w);
	ck_assert_int_eq(slow.done + slow.discarded, 1);
	ck_assert_int_eq(slow.done, 0);
	ck_assert_int_eq(queued.discarded, 1);
	ck_assert_int_eq(queued.worked, 0);
	event_base_free(base);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_done_once_on_loop_thread);
	tcase_add_test(tc, test_cancel_discards);
	tcase_add_test(tc, test_free_discards_pending);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
