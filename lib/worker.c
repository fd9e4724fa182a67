/*
 * worker.c — a thread pool whose completions come back through the loop.
 *
 * Threads take tasks from a FIFO under a mutex.  A finished task moves to
 * the done list and one persistent event (no fd) is activated with
 * event_active(), which libevent makes safe across threads once
 * evthread_use_pthreads() is on; the loop-side callback drains the done
 * list and runs done() or, for a cancelled task, discard().  Cancellation
 * only sets a flag under the mutex: a running task is never interrupted.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "worker.h"
#include "xalloc.h"

struct worker_task {
	struct worker *w;
	worker_fn work, done, discard;
	void *arg;
	bool cancelled;
	struct worker_task *next;
};

struct worker {
	struct event_base *base;
	struct event *notify;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct worker_task *queue_head, *queue_tail;
	struct worker_task *done_head, *done_tail;
	bool stopping;
	unsigned nthreads;
	pthread_t threads[16];
};

static void
push(struct worker_task **head, struct worker_task **tail, struct worker_task *t)
{
	t->next = NULL;
	if (*tail != NULL)
		(*tail)->next = t;
	else
		*head = t;
	*tail = t;
}

static void *
thread_main(void *arg)
{
	struct worker *w = arg;
	struct worker_task *t;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->queue_head == NULL && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stopping)
			break;
		t = w->queue_head;
		w->queue_head = t->next;
		if (w->queue_head == NULL)
			w->queue_tail = NULL;
		if (!t->cancelled) {
			pthread_mutex_unlock(&w->mu);
			t->work(t->arg);
			pthread_mutex_lock(&w->mu);
		}
		push(&w->done_head, &w->done_tail, t);
		event_active(w->notify, 0, 0);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void
finish(struct worker_task *t)
{
	if (!t->cancelled)
		t->done(t->arg);
	else if (t->discard != NULL)
		t->discard(t->arg);
	free(t);
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_task *list, *t;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->mu);
	list = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	while ((t = list) != NULL) {
		list = t->next;
		finish(t);
	}
}

struct worker *
worker_new(struct event_base *base, unsigned threads)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	unsigned i;

	if (threads < 1)
		threads = 1;
	if (threads > 16)
		threads = 16;
	w->base = base;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->notify = event_new(base, -1, EV_PERSIST, on_notify, w);
	if (w->notify == NULL)
		abort();
	for (i = 0; i < threads; i++) {
		if (pthread_create(&w->threads[i], NULL, thread_main, w) != 0)
			break;
		w->nthreads++;
	}
	if (w->nthreads == 0) {
		worker_free(w);
		return NULL;
	}
	return w;
}

void
worker_free(struct worker *w)
{
	struct worker_task *t;
	unsigned i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	/* Nothing runs any more: discard whatever was queued or finished. */
	while ((t = w->queue_head) != NULL) {
		w->queue_head = t->next;
		t->cancelled = true;
		finish(t);
	}
	while ((t = w->done_head) != NULL) {
		w->done_head = t->next;
		t->cancelled = true;
		finish(t);
	}
	event_free(w->notify);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

struct worker_task *
worker_submit(struct worker *w, worker_fn work, worker_fn done, worker_fn discard, void *arg)
{
	struct worker_task *t = xcalloc(1, sizeof(*t));

	t->w = w;
	t->work = work;
	t->done = done;
	t->discard = discard;
	t->arg = arg;
	pthread_mutex_lock(&w->mu);
	push(&w->queue_head, &w->queue_tail, t);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return t;
}

void
worker_cancel(struct worker_task *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->w->mu);
	t->cancelled = true;
	pthread_mutex_unlock(&t->w->mu);
}
