/*
 * runner.c — process wiring and policy (see runner.h).
 *
 * The runner owns the event_base, the worker pool (key generation), the
 * HTTP/Vault clients and the issuers, and one slot per certificate: its
 * job, its timer, its persisted state record.  The job does one pass;
 * what follows a pass is decided here, in on_report():
 *
 *   UNCHANGED/ISSUED  timer at the renewal time of the certificate in place
 *   FAILED            timer after sched_backoff() (or the CA's Retry-After)
 *   REJECTED          "stuck": retried at a slow cadence (STUCK_RETRY)
 *   PENDING           timer after the CA's hint (PENDING_RETRY by default)
 *
 * Passes wait in a per-issuer queue so that at most max_in_flight run
 * against one CA at a time.  State is saved after every pass; a changed
 * request fingerprint forces one re-issue.  SIGHUP builds a new config,
 * and swaps it in only when it is valid and no pass is running: unchanged
 * certificates keep their timers, removed ones stop, added ones start.
 * SIGTERM/SIGINT stop the loop; freeing the jobs cancels what is in flight
 * (publication is rename-based, so nothing is left half-written).
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/rand.h>
#include <systemd/sd-daemon.h>

#include "coalesce.h"
#include "control.h"
#include "diag.h"
#include "duration.h"
#include "fsutil.h"
#include "http.h"
#include "issuer.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "publish.h"
#include "reload.h"
#include "runner.h"
#include "runner_int.h"
#include "sched.h"
#include "state.h"
#include "vault.h"
#include "worker.h"
#include "xalloc.h"

#define STUCK_RETRY 3600
#define PENDING_RETRY 60

static double
random_unit(void)
{
	unsigned char b[7];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0.5;
	return sched_stable_rnd(b, sizeof(b));
}

void
runner_format_when(time_t t, char *out, size_t len)
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
	s->next_at = time(NULL) + (time_t)delay;
	evtimer_add(s->timer, &tv);
}

/* ------------------------------------------------------------ queues */

static struct lane *
lane_of(struct runner *r, const struct slot *s)
{
	return &r->lanes[s->cc->issuer_kind != CONF_ISSUER_LOCAL ? 1 : 0];
}

const double lane_bucket_bounds[LANE_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60};

static void
start_pass(struct slot *s)
{
	struct runner *r = s->r;

	clock_gettime(CLOCK_MONOTONIC, &s->pass_started);
	lane_of(r, s)->running++;
	r->running++;
	s->busy = true;
	job_run(s->job, s->mode, s->why[0] ? s->why : NULL);
}

/* Start s's pass now if its issuer has room, else queue it. */
static void
request_run(struct slot *s, enum job_mode mode, const char *why)
{
	struct runner *r = s->r;
	struct lane *l = lane_of(r, s);

	if (s->queued || s->busy)
		return;
	if (r->reload != NULL)
		return; /* the reload reschedules everything */
	if (s->st.held[0] != '\0' && mode != JOB_FORCE)
		return; /* not managed any more (renew --force resumes) */
	if (s->revoke_op != NULL) {
		/* One call to the CA per certificate at a time. */
		schedule(s, 5);
		return;
	}
	evtimer_del(s->timer);
	s->mode = mode;
	snprintf(s->why, sizeof(s->why), "%s", why ? why : "");
	if (l->running < l->max) {
		start_pass(s);
		return;
	}
	s->queued = true;
	s->next_queued = NULL;
	if (l->tail != NULL)
		l->tail->next_queued = s;
	else
		l->head = s;
	l->tail = s;
}

/* Count a pass that reached the CA (not one that found the files valid). */
static void
account(struct lane *l, const struct slot *s, enum job_result result)
{
	struct timespec now;
	double secs;
	int i;

	if (result == JOB_UNCHANGED)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - s->pass_started.tv_sec) +
	       (double)(now.tv_nsec - s->pass_started.tv_nsec) / 1e9;
	l->results[result]++;
	l->count++;
	l->sum += secs;
	for (i = 0; i < LANE_BUCKETS; i++)
		if (secs <= lane_bucket_bounds[i])
			l->buckets[i]++;
}

static void
pass_finished(struct slot *s, enum job_result result)
{
	struct runner *r = s->r;
	struct lane *l = lane_of(r, s);
	struct slot *n;

	account(l, s, result);
	s->busy = false;
	l->running--;
	r->running--;
	while (l->running < l->max && (n = l->head) != NULL) {
		l->head = n->next_queued;
		if (l->head == NULL)
			l->tail = NULL;
		n->queued = false;
		start_pass(n);
	}
}

/* ------------------------------------------------------------ state */

static void
save_state(struct slot *s)
{
	struct err e = {{0}};

	if (state_save(s->r->conf->state_dir, s->cc->name, &s->st, &e) < 0)
		log_error(s->cc->name, "cannot save state: %s", e.msg);
}

/*
 * A pass that found the set valid, as it was last saved, changes nothing
 * worth an fsync: its times stay in memory (status, metrics) and reach the
 * disk with the next real change.  10,000 certificates judged at start-up
 * would otherwise mean 10,000 synchronous writes.
 */
static bool
unchanged_pass(const struct slot *s, const struct job_report *rep)
{
	return rep->result == JOB_UNCHANGED && s->st.failures == 0 &&
	       strcmp(s->st.serial, rep->serial) == 0 &&
	       strcmp(s->st.pair_sha256, rep->pair_sha256) == 0 &&
	       strcmp(s->st.delivered_sha256, rep->delivered_sha256) == 0 &&
	       strcmp(s->st.request_fp, s->fp) == 0;
}

static void
update_state(struct slot *s, const struct job_report *rep)
{
	time_t now = time(NULL);
	bool quiet = unchanged_pass(s, rep);

	s->st.last_attempt = now;
	/* A pass that failed before delivering says nothing about what the
	 * consumers have: keep what was known. */
	if (rep->delivered_sha256[0] != '\0')
		memcpy(s->st.delivered_sha256, rep->delivered_sha256, sizeof(s->st.delivered_sha256));
	if (rep->not_after != 0) {
		snprintf(s->st.serial, sizeof(s->st.serial), "%s", rep->serial);
		s->st.not_before = rep->not_before;
		s->st.not_after = rep->not_after;
	}
	switch (rep->result) {
	case JOB_ISSUED:
		s->st.last_issued = now;
		s->st.issued_total++;
		/* Issued for the request as it is now. */
		memcpy(s->st.request_fp, s->fp, sizeof(s->st.request_fp));
		/* fall through */
	case JOB_UNCHANGED:
		/* An unchanged set does not apply a changed request: the old
		 * fingerprint stays until an issuance for the new one. */
		if (s->st.request_fp[0] == '\0')
			memcpy(s->st.request_fp, s->fp, sizeof(s->st.request_fp));
		memcpy(s->st.pair_sha256, rep->pair_sha256, sizeof(s->st.pair_sha256));
		s->st.last_success = now;
		s->st.failures = 0;
		s->st.last_error[0] = '\0';
		break;
	case JOB_PENDING:
		break;
	case JOB_FAILED:
	case JOB_REJECTED:
	default:
		s->st.failures++;
		s->failures_total++;
		snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", rep->reason);
		break;
	}
	if (!quiet)
		save_state(s);
}

/* ------------------------------------------------------------ passes */

static void start_revoke(struct slot *s);

static void
on_report(struct job *j, const struct job_report *rep, void *arg)
{
	struct slot *s = arg;
	struct runner *r = s->r;
	time_t now = time(NULL);
	int64_t delay, remaining;
	char when[64];

	(void)j;
	pass_finished(s, rep->result);
	s->last = rep->result;
	s->renew_at = rep->renew_at;
	update_state(s, rep);
	switch (rep->result) {
	case JOB_UNCHANGED:
	case JOB_ISSUED:
		runner_format_when(rep->renew_at, when, sizeof(when));
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
		/* A CA that is waiting for a person says how often to look. */
		delay = rep->retry_after > 0 ? rep->retry_after : STUCK_RETRY;
		log_error(s->cc->name, "%s; stuck, trying again in %llds", rep->reason,
			  (long long)delay);
		break;
	case JOB_FAILED:
	default:
		remaining = rep->not_after > now ? (int64_t)(rep->not_after - now) : 0;
		delay = sched_backoff(s->st.failures, remaining, random_unit());
		if (rep->retry_after > delay)
			delay = rep->retry_after;
		log_error(s->cc->name, "%s; %s, retrying in %llds (failure %u)", rep->reason,
			  rep->not_after > now ? "current certificate still valid"
					       : "no valid certificate in place",
			  (long long)delay, s->st.failures);
		break;
	}
	if (!s->reported) {
		s->reported = true;
		r->first_pass_left--;
	}
	if (r->once) {
		if (rep->result != JOB_UNCHANGED && rep->result != JOB_ISSUED)
			r->exit_code = EXIT_CERT_FAILED;
		if (r->first_pass_left == 0)
			event_base_loopbreak(r->base);
		return;
	}
	schedule(s, delay);
	if (s->revoke_wait)
		start_revoke(s);
	/* The summary walks every slot: not once per certificate of the first
	 * pass (quadratic with 10,000 of them), only when it is complete. */
	if (r->first_pass_left == 0)
		runner_notify_status(r, !r->ready);
	if (r->reload != NULL && r->running == 0)
		runner_apply_reload(r);
}

static bool
request_changed(const struct slot *s)
{
	return s->st.request_fp[0] != '\0' && strcmp(s->st.request_fp, s->fp) != 0;
}

/* A pass for s: forced while a changed request has not been issued yet. */
static void
run_due(struct slot *s)
{
	if (request_changed(s))
		request_run(s, JOB_FORCE, "the request in the configuration changed");
	else
		request_run(s, JOB_IF_DUE, NULL);
}

/* ------------------------------------------------------------ clock */

/*
 * Timers run on the monotonic clock; renewal times are wall-clock times.
 * When the wall clock jumps (an NTP step after a boot without a real-time
 * clock, `date -s`, a resume from suspend), a timer still fires at its old
 * monotonic deadline, and a certificate that the new time has made due, or
 * expired, would wait for it, possibly for weeks.  So the daemon compares
 * how far each clock moved since it last looked and, when they disagree,
 * arms every waiting slot's timer again from its wall-clock due time (a
 * time already past fires at once).  It looks when the kernel says the
 * clock was set (a CLOCK_REALTIME timerfd with TFD_TIMER_CANCEL_ON_SET:
 * readable on every change, no cost while nothing happens) and whenever a
 * slot's timer fires.  One watch per process: only the daemon starts it.
 */
#define CLOCK_JUMP_MIN 2	/* seconds: time() counts whole seconds */

static struct {
	struct runner *r;	/* NULL: not watching (--once) */
	struct event *ev;
	int fd;
	time_t wall;		/* the wall clock when last looked at... */
	struct timespec mono;	/* ...and the monotonic clock then */
} clock_watch = {.fd = -1};

static void
clock_check(bool was_set)
{
	struct runner *r = clock_watch.r;
	struct timespec mono;
	time_t now = time(NULL);
	int64_t elapsed, jump, size;
	char d[32];
	size_t i;

	if (r == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	elapsed = (int64_t)(mono.tv_sec - clock_watch.mono.tv_sec);
	jump = (int64_t)(now - clock_watch.wall) - elapsed;
	size = jump < 0 ? -jump : jump;
	clock_watch.wall = now;
	clock_watch.mono = mono;
	/* NTP slews by at most 500 ppm: a drift under 1% of the time since
	 * the last look is not a jump. */
	if (size < CLOCK_JUMP_MIN + elapsed / 100) {
		if (!was_set)
			return;
	} else {
		duration_format(size, d, sizeof(d));
		log_warning(NULL, "the system clock jumped %s by about %s; rescheduling every "
			    "certificate from its renewal time", jump < 0 ? "back" : "forward", d);
	}
	for (i = 0; i < r->n_slots; i++) {
		struct slot *s = &r->slots[i];

		if (s->next_at != 0 && !s->busy && !s->queued && evtimer_pending(s->timer, NULL))
			schedule(s, (int64_t)(s->next_at - now));
	}
}

static void
clock_watch_arm(void)
{
	/* Far in the future: only a change of the clock makes it readable. */
	struct itimerspec its = {.it_value = {.tv_sec = (time_t)1 << 40}};

	if (timerfd_settime(clock_watch.fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its,
			    NULL) < 0)
		log_warning(NULL, "cannot watch the system clock for changes: %s", strerror(errno));
}

static void
on_clock_set(evutil_socket_t fd, short what, void *arg)
{
	unsigned long long ticks;

	(void)what;
	(void)arg;
	/* ECANCELED: the clock was set (the timer stays armed, but arm it
	 * again all the same); EAGAIN: nothing after all. */
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	clock_watch_arm();
	clock_check(true);
}

static void
clock_watch_start(struct runner *r)
{
	clock_watch.r = r;
	clock_watch.wall = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &clock_watch.mono);
	clock_watch.fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (clock_watch.fd < 0) {
		log_warning(NULL, "cannot watch the system clock for changes: %s", strerror(errno));
		return;
	}
	clock_watch_arm();
	clock_watch.ev = event_new(r->base, clock_watch.fd, EV_READ | EV_PERSIST, on_clock_set,
				   NULL);
	event_add(clock_watch.ev, NULL);
}

static void
clock_watch_stop(void)
{
	if (clock_watch.ev != NULL)
		event_free(clock_watch.ev);
	if (clock_watch.fd >= 0)
		close(clock_watch.fd);
	clock_watch.ev = NULL;
	clock_watch.fd = -1;
	clock_watch.r = NULL;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;

	(void)fd;
	(void)what;
	clock_check(false);
	s->next_at = 0;
	run_due(s);
}

void
runner_renew(struct slot *s, bool force)
{
	if (force && s->st.held[0] != '\0') {
		log_info(s->cc->name, "managed again (it was held: %s)", s->st.held);
		s->st.held[0] = '\0';
		save_state(s);
	}
	request_run(s, force ? JOB_FORCE : JOB_IF_DUE, force ? "forced by the operator" : NULL);
}

static void
on_revoked(struct issuer_result *res, void *arg)
{
	struct slot *s = arg;
	struct buf why = BUF_INIT;

	s->revoke_op = NULL;
	log_escape(res->reason, 400, &why);
	if (res->outcome != ISSUER_ISSUED) {
		snprintf(s->revoke, sizeof(s->revoke), "failed: %s", buf_str(&why));
		log_error(s->cc->name, "revocation failed: %s", buf_str(&why));
	} else if (s->revoke_reissue) {
		snprintf(s->revoke, sizeof(s->revoke), "revoked");
		log_warning(s->cc->name, "%s; ordering a new certificate", buf_str(&why));
		runner_renew(s, true);
	} else {
		snprintf(s->revoke, sizeof(s->revoke), "revoked");
		snprintf(s->st.held, sizeof(s->st.held), "revoked by the operator: %s", buf_str(&why));
		evtimer_del(s->timer);
		s->next_at = 0;
		save_state(s);
		log_warning(s->cc->name, "%s; no longer renewed (certd renew %s --force resumes)",
			    buf_str(&why), s->cc->name);
	}
	buf_free(&why);
	issuer_result_free(res);
	runner_notify_status(s->r, false);
}

static void
start_revoke(struct slot *s)
{
	s->revoke_wait = false;
	s->revoke_op = issuer_revoke(runner_issuer_for(s->r, s->cc), s->cc,
				     s->revoke_reason[0] ? s->revoke_reason : NULL, on_revoked, s);
}

int
runner_revoke(struct slot *s, const char *reason, bool reissue, char *why, size_t whylen)
{
	if (s->revoke_op != NULL || s->revoke_wait) {
		snprintf(why, whylen, "%s is being revoked already", s->cc->name);
		return -1;
	}
	log_warning(s->cc->name, "revocation requested over the control socket%s%s%s%s",
		    reason ? " (reason: " : "", reason ? reason : "", reason ? ")" : "",
		    s->busy || s->queued ? "; it starts when the pass in progress ends" : "");
	snprintf(s->revoke, sizeof(s->revoke), "revoking");
	snprintf(s->revoke_reason, sizeof(s->revoke_reason), "%s", reason ? reason : "");
	s->revoke_reissue = reissue;
	/* One call to the CA per certificate at a time: after the pass. */
	if (s->busy || s->queued)
		s->revoke_wait = true;
	else
		start_revoke(s);
	return 0;
}

/* The first pass of a slot: a request changed since the last issuance is
 * re-issued once, whatever its files say. */
static void
first_run(struct slot *s, bool force)
{
	struct runner *r = s->r;

	if (s->st.held[0] != '\0' && !force) {
		log_info(s->cc->name, "held, not renewed: %s", s->st.held);
		if (!s->reported) {
			s->reported = true;
			if (--r->first_pass_left == 0 && !r->once)
				runner_notify_status(r, true);
		}
		return;
	}
	if (force && s->st.held[0] != '\0') {
		s->st.held[0] = '\0';
		save_state(s);
	}
	if (force)
		request_run(s, JOB_FORCE, NULL);
	else
		run_due(s);
}

/* ------------------------------------------------------------ set-up */

static void
on_vault_event(enum vault_event ev, const char *detail, void *arg)
{
	struct buf b = BUF_INIT;

	(void)arg;
	log_escape(detail, 400, &b);
	switch (ev) {
	case VAULT_EV_LOGIN:
		log_info(NULL, "vault: logged in (%s)", buf_str(&b));
		break;
	case VAULT_EV_RENEWED:
		log_info(NULL, "vault: token renewed (%s)", buf_str(&b));
		break;
	case VAULT_EV_RELOGIN:
		log_info(NULL, "vault: logging in again: %s", buf_str(&b));
		break;
	case VAULT_EV_FAILOVER:
		log_warning(NULL, "vault: %s", buf_str(&b));
		break;
	case VAULT_EV_LOGIN_FAILED:
		log_error(NULL, "vault: login failed: %s", buf_str(&b));
		break;
	}
	buf_free(&b);
}

/* The issuers of config c: the local CA always, Vault when configured. */
static void
issuers_init(struct runner *r, const struct conf *c)
{
	const struct conf_vault *cv = &c->vault;
	struct vault_config *vc = &r->vault_cfg;
	struct err e = {{0}};

	if (r->http == NULL)
		r->http = http_new(r->base);
	if (r->reloader == NULL)
		r->reloader = reload_ctx_new(r->base, r->http);
	if (r->coalesce == NULL)
		r->coalesce = coalesce_new(r->base, r->reloader, c->reload_debounce * 1000);
	issuer_local_new(r->base, c->state_dir, &c->local_ca, &r->local, &e);
	r->lanes[0].name = "local";
	r->lanes[0].max = c->local_ca.max_in_flight;
	r->lanes[1].name = "vault-pki";
	r->lanes[1].max = cv->max_in_flight;
	if (cv->address.n == 0)
		return;
	memset(vc, 0, sizeof(*vc));
	vc->addresses = (const char *const *)cv->address.v;
	vc->n_addresses = cv->address.n;
	vc->namespace_ = cv->namespace_;
	vc->tls.ca_file = cv->ca_cert;
	vc->tls.ca_path = cv->ca_path;
	vc->tls.cert_file = cv->client_cert;
	vc->tls.key_file = cv->client_key;
	vc->tls.server_name = cv->tls_server_name;
	vc->tls.insecure = cv->tls_skip_verify;
	vc->connect_timeout_ms = (long)cv->connect_timeout * 1000;
	vc->timeout_ms = (long)cv->request_timeout * 1000;
	vc->auth.method = (enum vault_auth_method)cv->auth_method;
	vc->auth.mount = cv->auth_mount;
	vc->auth.token_file = cv->token_file;
	vc->auth.role_id_file = cv->role_id_file;
	vc->auth.secret_id_file = cv->secret_id_file;
	vc->auth.secret_id_wrapped = cv->secret_id_wrapped;
	vc->auth.remove_secret_id_file = cv->remove_secret_id_file;
	vc->auth.cert_role = cv->cert_role;
	vc->auth.role = cv->role;
	vc->auth.jwt_file = cv->jwt_file;
	if (cv->tls_skip_verify)
		log_warning(NULL, "vault: tls_skip_verify is set: Vault's certificate is not verified");
	r->vault = vault_new(r->base, r->http, vc);
	vault_set_event_cb(r->vault, on_vault_event, r);
	r->vault_pki = issuer_vault_new(r->base, r->vault);
	r->sectigo = issuer_sectigo_new(r->base, r->vault, c->state_dir);
}

static void
issuers_fini(struct runner *r)
{
	issuer_free(r->local);
	issuer_free(r->vault_pki);
	issuer_free(r->sectigo);
	vault_free(r->vault);
	r->local = r->vault_pki = r->sectigo = NULL;
	r->vault = NULL;
}

struct issuer *
runner_issuer_for(struct runner *r, const struct conf_cert *cc)
{
	switch (cc->issuer_kind) {
	case CONF_ISSUER_VAULT_PKI: return r->vault_pki;
	case CONF_ISSUER_SECTIGO: return r->sectigo;
	default: return r->local;
	}
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct runner *r = arg;

	(void)what;
	log_info(NULL, "received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	if (r->once)
		r->exit_code = EXIT_CERT_FAILED;
	else
		sd_notify(0, "STOPPING=1");
	event_base_loopbreak(r->base);
}

static void
slot_init(struct runner *r, struct slot *s, const struct conf_cert *cc)
{
	struct job_env env = {r->base, r->worker, r->reloader, r->coalesce, r->vault,
			      r->conf->state_dir};
	enum publish_recovery rec;
	struct err e = {{0}};
	int rc;

	memset(s, 0, sizeof(*s));
	s->r = r;
	s->cc = cc;
	/* A set left half-published by a crash is finished or undone before
	 * anything judges the files. */
	if (publish_recover(r->conf->state_dir, cc->name, &rec, &e) < 0)
		log_error(cc->name, "recovering an interrupted publication: %s", e.msg);
	else if (rec != PUBLISH_RECOVERY_NOTHING)
		log_warning(cc->name, "an interrupted publication was found and %s",
			    publish_recovery_str(rec));
	state_request_fingerprint(cc, s->fp);
	rc = state_load(r->conf->state_dir, cc->name, &s->st, &e);
	if (rc < 0 && rc != -ENOENT)
		log_warning(cc->name, "ignoring its saved state: %s", e.msg);
	s->job = job_new(cc, runner_issuer_for(r, cc), &env, on_report, s);
	/* Only a pair published for the request we have now counts as verified. */
	if (strcmp(s->st.request_fp, s->fp) == 0 && s->st.pair_sha256[0] != '\0') {
		struct job_known k = {.not_before = (time_t)s->st.not_before,
				      .not_after = (time_t)s->st.not_after};
		memcpy(k.pair, s->st.pair_sha256, sizeof(k.pair));
		memcpy(k.serial, s->st.serial, sizeof(k.serial));
		memcpy(k.delivered, s->st.delivered_sha256, sizeof(k.delivered));
		job_set_known(s->job, &k);
	}
	s->timer = evtimer_new(r->base, on_timer, s);
	if (s->timer == NULL)
		abort();
}

void
runner_slot_fini(struct slot *s)
{
	issuer_cancel(s->revoke_op);
	s->revoke_op = NULL;
	job_free(s->job);
	if (s->timer != NULL)
		event_free(s->timer);
	state_record_clear(&s->st);
	s->job = NULL;
	s->timer = NULL;
}

static int
runner_init(struct runner *r, const struct conf *c, bool once)
{
	struct err e = {{0}};

	memset(r, 0, sizeof(*r));
	r->conf = c;
	r->once = once;
	/* The state directory: records, previous generations, the local CA. */
	if (fsutil_mkdir_p(c->state_dir, 0700, &e) < 0) {
		log_error(NULL, "state_dir: %s", e.msg);
		return -1;
	}
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
	issuers_init(r, c);
	r->sigterm = evsignal_new(r->base, SIGTERM, on_stop_signal, r);
	r->sigint = evsignal_new(r->base, SIGINT, on_stop_signal, r);
	evsignal_add(r->sigterm, NULL);
	evsignal_add(r->sigint, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
runner_fini(struct runner *r)
{
	size_t i;

	runner_surfaces_fini(r);
	for (i = 0; i < r->n_slots; i++)
		runner_slot_fini(&r->slots[i]);
	free(r->slots);
	/* After the jobs: a job freed mid-keygen is released by the pool. */
	worker_free(r->worker);
	issuers_fini(r);
	coalesce_free(r->coalesce);
	reload_ctx_free(r->reloader);
	http_free(r->http);
	if (r->sigterm != NULL)
		event_free(r->sigterm);
	if (r->sigint != NULL)
		event_free(r->sigint);
	if (r->base != NULL)
		event_base_free(r->base);
}

/* ------------------------------------------------------------ reload */

/*
 * Build slots for the pending config, carrying over from old slots of the
 * same name their state and, when the request is unchanged, their timer.
 * Called only when no pass runs (so no queue, no busy job).
 */
void
runner_apply_reload(struct runner *r)
{
	struct conf *nc = r->reload, *old = r->owned_conf;
	struct slot *old_slots = r->slots, *s, *o;
	size_t n_old = r->n_slots, i, k;
	time_t now = time(NULL);

	r->reload = NULL;
	issuers_fini(r);
	r->conf = nc;
	r->owned_conf = nc;
	issuers_init(r, nc);
	r->slots = xcalloc(nc->n_certs ? nc->n_certs : 1, sizeof(*r->slots));
	r->n_slots = nc->n_certs;
	for (i = 0; i < nc->n_certs; i++) {
		s = &r->slots[i];
		slot_init(r, s, &nc->certs[i]);
		s->reported = true;
		o = NULL;
		for (k = 0; k < n_old; k++)
			if (strcmp(old_slots[k].cc->name, nc->certs[i].name) == 0)
				o = &old_slots[k];
		if (o == NULL) {
			log_info(s->cc->name, "added by the new configuration");
			first_run(s, false);
			continue;
		}
		s->last = o->last;
		s->renew_at = o->renew_at;
		s->failures_total = o->failures_total;
		if (strcmp(o->fp, s->fp) != 0 || o->next_at == 0) {
			run_due(s);
		} else {
			s->next_at = o->next_at;
			schedule(s, (int64_t)(o->next_at - now));
		}
	}
	for (k = 0; k < n_old; k++) {
		bool kept = false;
		for (i = 0; i < nc->n_certs && !kept; i++)
			kept = strcmp(old_slots[k].cc->name, nc->certs[i].name) == 0;
		if (!kept)
			log_info(old_slots[k].cc->name, "removed by the new configuration; no longer managed");
		runner_slot_fini(&old_slots[k]);
	}
	free(old_slots);
	conf_free(old);
	log_set_level((enum log_level)nc->log_level);
	runner_surfaces_reload(r);
	log_info(NULL, "configuration reloaded: %zu certificate(s)", nc->n_certs);
	runner_notify_status(r, true);
}

int
runner_request_reload(struct runner *r)
{
	struct diag d = DIAG_INIT;
	struct conf *nc = NULL;
	size_t i;

	sd_notify(0, "RELOADING=1");
	log_info(NULL, "reloading %s", r->config_path);
	if (conf_load(r->config_path, &nc, &d) < 0) {
		for (i = 0; i < d.n; i++) {
			char *line = diag_format(&d, i);
			log_error(NULL, "%s", line);
			free(line);
		}
		log_error(NULL, "%s: %zu error(s); keeping the running configuration", r->config_path,
			  d.errors);
		diag_free(&d);
		sd_notify(0, "READY=1");
		return -1;
	}
	diag_free(&d);
	conf_free(r->reload);
	r->reload = nc;
	if (r->running == 0)
		runner_apply_reload(r);
	else
		log_info(NULL, "new configuration valid; applied when the %zu pass(es) in progress end",
			 r->running);
	return 0;
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	runner_request_reload(arg);
}

static void
on_sigusr1(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	runner_log_status(arg);
}

/* ------------------------------------------------------------ public */

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
			slot_init(&r, &r.slots[r.n_slots++], &c->certs[i]);
	}
	r.first_pass_left = r.n_slots;
	for (i = 0; i < r.n_slots; i++)
		first_run(&r.slots[i], force);
	if (r.first_pass_left > 0)
		event_base_dispatch(r.base);
	runner_fini(&r);
	return r.exit_code;
}

int
runner_daemon(struct conf *c, const char *config_path)
{
	struct runner r;
	struct event *hup = NULL, *usr1 = NULL;
	size_t i;

	if (runner_init(&r, c, false) < 0) {
		runner_fini(&r);
		conf_free(c);
		return EXIT_CERT_FAILED;
	}
	r.owned_conf = c;
	r.config_path = config_path;
	log_info(NULL, "certd %s managing %zu certificate(s), state in %s", PACKAGE_VERSION,
		 c->n_certs, c->state_dir);
	if (runner_surfaces_init(&r) < 0) {
		runner_fini(&r);
		conf_free(c);
		return EXIT_CERT_FAILED;
	}
	hup = evsignal_new(r.base, SIGHUP, on_sighup, &r);
	usr1 = evsignal_new(r.base, SIGUSR1, on_sigusr1, &r);
	evsignal_add(hup, NULL);
	evsignal_add(usr1, NULL);
	r.slots = xcalloc(c->n_certs ? c->n_certs : 1, sizeof(*r.slots));
	r.n_slots = c->n_certs;
	for (i = 0; i < c->n_certs; i++)
		slot_init(&r, &r.slots[i], &c->certs[i]);
	r.first_pass_left = r.n_slots;
	for (i = 0; i < r.n_slots; i++)
		first_run(&r.slots[i], false);
	if (r.n_slots == 0)
		runner_notify_status(&r, true);
	clock_watch_start(&r);
	event_base_dispatch(r.base);
	clock_watch_stop();
	event_free(hup);
	event_free(usr1);
	runner_fini(&r);
	conf_free(r.reload);
	conf_free(r.owned_conf);
	log_info(NULL, "stopped");
	return EXIT_OK;
}
