/*
 * runner.c — process wiring of the jobs (see runner.h).
 *
 * The runner owns the event_base, the worker pool (key generation) and the
 * issuers, and holds one slot per certificate: its job, its timer and its
 * failure count.  Policy lives here, not in the job: what to do after a
 * pass (exit, schedule the renewal, back off) is decided in on_report().
 * Signals arrive as libevent events; SIGTERM/SIGINT stop the loop, and
 * freeing the jobs cancels whatever is in flight (no file is half-written:
 * publication is rename-based).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/rand.h>

#include "duration.h"
#include "issuer.h"
#include "job.h"
#include "log.h"
#include "runner.h"
#include "sched.h"
#include "worker.h"
#include "xalloc.h"

#define STUCK_RETRY 3600
#define PENDING_RETRY 60

struct slot {
	struct runner *r;
	const struct conf_cert *cc;
	struct job *job;
	struct event *timer;
	unsigned failures;
	bool done;           /* once mode: reported */
	enum job_result last;
};

struct runner {
	const struct conf *conf;
	struct event_base *base;
	struct worker *worker;
	struct issuer *local;
	struct event *sigterm, *sigint;
	struct slot *slots;
	size_t n_slots;
	size_t pending;      /* once mode: passes not yet reported */
	bool once;
	int exit_code;
};

static double
random_unit(void)
{
	unsigned char b[7];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0.5;
	return sched_stable_rnd(b, sizeof(b));
}

static void
format_when(time_t t, char *out, size_t len)
{
	char in[32];
	struct tm tm;
	size_t n;

	localtime_r(&t, &tm);
	n = strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
	duration_format((int64_t)(t - time(NULL)), in, sizeof(in));
	snprintf(out + n, len - n, " (in %s)", in);
}

static void
schedule(struct slot *s, int64_t delay)
{
	struct timeval tv;

	if (delay < 0)
		delay = 0;
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	evtimer_add(s->timer, &tv);
}

static void
on_report(struct job *j, const struct job_report *rep, void *arg)
{
	struct slot *s = arg;
	struct runner *r = s->r;
	time_t now = time(NULL);
	int64_t delay, remaining;
	char when[64];

	(void)j;
	s->last = rep->result;
	switch (rep->result) {
	case JOB_UNCHANGED:
	case JOB_ISSUED:
		s->failures = 0;
		format_when(rep->renew_at, when, sizeof(when));
		if (rep->result == JOB_UNCHANGED)
			log_info(s->cc->name, "valid, serial %s; next renewal %s", rep->serial, when);
		else
			log_info(s->cc->name, "next renewal %s", when);
		delay = (int64_t)(rep->renew_at - now);
		break;
	case JOB_PENDING:
		delay = rep->retry_after > 0 ? rep->retry_after : PENDING_RETRY;
		log_info(s->cc->name, "%s; collecting again in %llds", rep->reason, (long long)delay);
		break;
	case JOB_REJECTED:
		s->failures++;
		delay = STUCK_RETRY;
		log_error(s->cc->name, "%s; stuck, trying again in %llds", rep->reason,
			  (long long)delay);
		break;
	case JOB_FAILED:
	default:
		s->failures++;
		remaining = rep->not_after > now ? (int64_t)(rep->not_after - now) : 0;
		delay = sched_backoff(s->failures, remaining, random_unit());
		if (rep->retry_after > delay)
			delay = rep->retry_after;
		log_error(s->cc->name, "%s; %s, retrying in %llds (failure %u)", rep->reason,
			  rep->not_after > now ? "current certificate still valid" : "no valid certificate in place",
			  (long long)delay, s->failures);
		break;
	}
	if (r->once) {
		if (rep->result != JOB_UNCHANGED && rep->result != JOB_ISSUED)
			r->exit_code = EXIT_CERT_FAILED;
		s->done = true;
		if (--r->pending == 0)
			event_base_loopbreak(r->base);
		return;
	}
	schedule(s, delay);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;

	(void)fd;
	(void)what;
	if (!job_busy(s->job))
		job_run(s->job, JOB_IF_DUE);
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct runner *r = arg;

	(void)what;
	log_info(NULL, "received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	if (r->once)
		r->exit_code = EXIT_CERT_FAILED;
	event_base_loopbreak(r->base);
}

static int
runner_init(struct runner *r, const struct conf *c, bool once)
{
	struct err e = {{0}};

	memset(r, 0, sizeof(*r));
	r->conf = c;
	r->once = once;
	if (evthread_use_pthreads() < 0) {
		log_error(NULL, "libevent has no thread support");
		return -1;
	}
	r->base = event_base_new();
	if (r->base == NULL) {
		log_error(NULL, "cannot create the event loop");
		return -1;
	}
	r->worker = worker_new(r->base, 2);
	if (r->worker == NULL) {
		log_error(NULL, "cannot start worker threads");
		return -1;
	}
	if (issuer_local_new(r->base, c->state_dir, &c->local_ca, &r->local, &e) < 0) {
		log_error(NULL, "local CA: %s", e.msg);
		return -1;
	}
	r->sigterm = evsignal_new(r->base, SIGTERM, on_stop_signal, r);
	r->sigint = evsignal_new(r->base, SIGINT, on_stop_signal, r);
	evsignal_add(r->sigterm, NULL);
	evsignal_add(r->sigint, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
add_slot(struct runner *r, const struct conf_cert *cc)
{
	struct slot *s = &r->slots[r->n_slots++];

	s->r = r;
	s->cc = cc;
	s->job = job_new(cc, r->local, r->worker, r->base, on_report, s);
	s->timer = evtimer_new(r->base, on_timer, s);
	if (s->timer == NULL)
		abort();
}

static void
runner_fini(struct runner *r)
{
	size_t i;

	for (i = 0; i < r->n_slots; i++) {
		job_free(r->slots[i].job);
		event_free(r->slots[i].timer);
	}
	free(r->slots);
	/* After the jobs: a job freed mid-keygen is released by the pool. */
	worker_free(r->worker);
	issuer_free(r->local);
	if (r->sigterm != NULL)
		event_free(r->sigterm);
	if (r->sigint != NULL)
		event_free(r->sigint);
	if (r->base != NULL)
		event_base_free(r->base);
}

int
runner_once(const struct conf *c, char **names, int n, bool force)
{
	struct runner r;
	size_t i;
	int k;

	for (k = 0; k < n; k++) {
		if (conf_find_cert(c, names[k]) == NULL) {
			fprintf(stderr, "certd: no certificate named \"%s\" in %s\n", names[k],
				c->path);
			return EXIT_CONFIG;
		}
	}
	if (runner_init(&r, c, true) < 0) {
		runner_fini(&r);
		return EXIT_CERT_FAILED;
	}
	r.slots = xcalloc(c->n_certs ? c->n_certs : 1, sizeof(*r.slots));
	for (i = 0; i < c->n_certs; i++) {
		bool wanted = n == 0;
		for (k = 0; k < n && !wanted; k++)
			wanted = strcmp(names[k], c->certs[i].name) == 0;
		if (wanted)
			add_slot(&r, &c->certs[i]);
	}
	r.pending = r.n_slots;
	for (i = 0; i < r.n_slots; i++)
		job_run(r.slots[i].job, force ? JOB_FORCE : JOB_IF_DUE);
	if (r.pending > 0)
		event_base_dispatch(r.base);
	runner_fini(&r);
	return r.exit_code;
}

int
runner_daemon(const struct conf *c)
{
	struct runner r;
	size_t i;

	if (runner_init(&r, c, false) < 0) {
		runner_fini(&r);
		return EXIT_CERT_FAILED;
	}
	log_info(NULL, "certd %s managing %zu certificate(s), state in %s", PACKAGE_VERSION,
		 c->n_certs, c->state_dir);
	r.slots = xcalloc(c->n_certs ? c->n_certs : 1, sizeof(*r.slots));
	for (i = 0; i < c->n_certs; i++)
		add_slot(&r, &c->certs[i]);
	for (i = 0; i < r.n_slots; i++)
		job_run(r.slots[i].job, JOB_IF_DUE);
	event_base_dispatch(r.base);
	runner_fini(&r);
	log_info(NULL, "stopped");
	return EXIT_OK;
}
