/*
 * worker.h — run CPU-bound work (key generation) off the event-loop thread.
 *
 * A small pool of threads takes tasks in order; when a task's work
 * function returns, its done function runs on the loop thread (from a
 * libevent callback).  worker_cancel() guarantees done never runs; the
 * task's discard function releases its argument instead, once the work
 * function has returned.  Requires evthread_use_pthreads() before the
 * event_base is created.
 */
#ifndef CERTD_WORKER_H
#define CERTD_WORKER_H

#include <event2/event.h>

struct worker;
struct worker_task;

typedef void (*worker_fn)(void *arg);

/* threads: 1..16.  Returns NULL only when threads cannot be started. */
struct worker *worker_new(struct event_base *base, unsigned threads);
/* Waits for running work to finish; queued tasks are discarded. */
void worker_free(struct worker *w);

/* work runs on a pool thread; done (or, after cancel, discard — may be
 * NULL) runs on the loop thread.  Never calls done from inside submit. */
struct worker_task *worker_submit(struct worker *w, worker_fn work, worker_fn done,
				  worker_fn discard, void *arg);
void worker_cancel(struct worker_task *t);

#endif
