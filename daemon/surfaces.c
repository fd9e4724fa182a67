/*
 * surfaces.c — what the daemon shows the outside: the status table
 * (SIGUSR1, `certd status`), the control socket, the Prometheus endpoint,
 * and systemd's READY/STATUS/WATCHDOG notifications.  Everything reads the
 * runner's slots; nothing here changes a certificate except through
 * runner_renew() and runner_request_reload().
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "control.h"
#include "duration.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "runner_int.h"
#include "xalloc.h"

static const char *
slot_state(const struct slot *s)
{
	if (s->busy || s->queued)
		return "renewing";
	if (s->st.held[0] != '\0')
		return "held";
	if (!s->reported)
		return "starting";
	switch (s->last) {
	case JOB_UNCHANGED:
	case JOB_ISSUED: return "valid";
	case JOB_PENDING: return "pending";
	case JOB_FAILED: return "failing";
	case JOB_REJECTED: return "stuck";
	default: return "?";
	}
}

/* certd_cert_state: 0 valid, 1 renewing/starting, 2 pending, 3 failing, 4 stuck, 5 held */
static int
slot_state_code(const struct slot *s)
{
	static const char *const names[] = {"valid", "renewing", "pending", "failing", "stuck",
					    "held"};
	const char *st = slot_state(s);
	int i;

	if (strcmp(st, "starting") == 0)
		return 1;
	for (i = 0; i < 6; i++)
		if (strcmp(st, names[i]) == 0)
			return i;
	return 1;
}

static void
iso_time(time_t t, char *out, size_t len)
{
	struct tm tm;

	if (t == 0) {
		snprintf(out, len, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *
runner_status_json(struct runner *r)
{
	json_t *a = json_array();
	char t1[32], t2[32], t3[32];
	size_t i;

	for (i = 0; i < r->n_slots; i++) {
		const struct slot *s = &r->slots[i];
		json_t *o, *ca;
		iso_time((time_t)s->st.not_after, t1, sizeof(t1));
		iso_time(s->next_at, t2, sizeof(t2));
		iso_time((time_t)s->st.last_success, t3, sizeof(t3));
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:I, s:s, s:I}",
			"name", s->cc->name, "issuer", s->cc->issuer, "state", slot_state(s),
			"serial", s->st.serial, "not_after_unix", (json_int_t)s->st.not_after,
			"not_after", t1, "next_renewal_unix", (json_int_t)s->next_at,
			"next_renewal", t2, "last_success", t3,
			"failures", (json_int_t)s->st.failures, "last_error", s->st.last_error,
			"issued_total", (json_int_t)s->st.issued_total);
		if (o == NULL)
			abort();
		if (s->st.held[0] != '\0')
			json_object_set_new(o, "held", json_string(s->st.held));
		if (s->revoke[0] != '\0')
			json_object_set_new(o, "revoke", json_string(s->revoke));
		/* The CA's own view (Sectigo: ids, status, history). */
		ca = issuer_describe(runner_issuer_for(r, s->cc), s->cc);
		if (ca != NULL)
			json_object_set_new(o, s->cc->issuer, ca);
		json_array_append_new(a, o);
	}
	return a;
}

void
runner_log_status(struct runner *r)
{
	char t1[32], t2[32];
	size_t i;

	log_info(NULL, "status of %zu certificate(s):", r->n_slots);
	for (i = 0; i < r->n_slots; i++) {
		const struct slot *s = &r->slots[i];
		iso_time((time_t)s->st.not_after, t1, sizeof(t1));
		iso_time(s->next_at, t2, sizeof(t2));
		log_info(s->cc->name, "%s, issuer %s, serial %s, expires %s, next %s, failures %u%s%s",
			 slot_state(s), s->cc->issuer, s->st.serial[0] ? s->st.serial : "-", t1, t2,
			 s->st.failures, s->st.last_error[0] ? ", last error: " : "", s->st.last_error);
	}
}

/* "12 valid, next: web in 3h12m, 1 failing: api" */
void
runner_notify_status(struct runner *r, bool ready)
{
	struct buf b = BUF_INIT;
	size_t i, valid = 0, failing = 0;
	const struct slot *next = NULL, *first_failing = NULL;
	char in[32];

	if (r->once)
		return;
	for (i = 0; i < r->n_slots; i++) {
		const struct slot *s = &r->slots[i];
		const char *st = slot_state(s);
		if (strcmp(st, "valid") == 0)
			valid++;
		if (strcmp(st, "failing") == 0 || strcmp(st, "stuck") == 0) {
			failing++;
			if (first_failing == NULL)
				first_failing = s;
		}
		if (s->next_at != 0 && (next == NULL || s->next_at < next->next_at))
			next = s;
	}
	buf_printf(&b, "STATUS=%zu valid", valid);
	if (next != NULL) {
		duration_format((int64_t)(next->next_at - time(NULL)), in, sizeof(in));
		buf_printf(&b, ", next: %s in %s", next->cc->name, in);
	}
	if (failing > 0)
		buf_printf(&b, ", %zu failing: %s", failing, first_failing->cc->name);
	if (ready) {
		buf_puts(&b, "\nREADY=1");
		r->ready = true;
	}
	sd_notify(0, buf_str(&b));
	buf_free(&b);
}

/* ------------------------------------------------------------ control */

static struct slot *
find_slot(struct runner *r, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < r->n_slots; i++)
		if (strcmp(r->slots[i].cc->name, name) == 0)
			return &r->slots[i];
	return NULL;
}

static json_t *
error_reply(const char *msg, const char *arg)
{
	struct buf b = BUF_INIT;
	json_t *reply;

	buf_printf(&b, "%s \"%s\"", msg, arg);
	reply = json_pack("{s:b, s:s}", "ok", 0, "error", buf_str(&b));
	buf_free(&b);
	return reply;
}

static json_t *
on_control(const json_t *req, uid_t peer, void *arg)
{
	struct runner *r = arg;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	const char *name = json_string_value(json_object_get(req, "name"));
	struct slot *s;

	(void)peer;
	if (strcmp(cmd, "status") == 0)
		return json_pack("{s:b, s:o}", "ok", 1, "certs", runner_status_json(r));
	if (strcmp(cmd, "renew") == 0) {
		s = find_slot(r, name);
		if (s == NULL)
			return error_reply("no certificate named", name ? name : "");
		log_info(s->cc->name, "renewal requested over the control socket%s",
			 json_is_true(json_object_get(req, "force")) ? " (forced)" : "");
		runner_renew(s, json_is_true(json_object_get(req, "force")));
		return json_pack("{s:b, s:s}", "ok", 1, "state", slot_state(s));
	}
	if (strcmp(cmd, "revoke") == 0) {
		const char *reason = json_string_value(json_object_get(req, "reason"));
		char why[256];
		s = find_slot(r, name);
		if (s == NULL)
			return error_reply("no certificate named", name ? name : "");
		if (runner_revoke(s, reason, json_is_true(json_object_get(req, "reissue")), why,
				  sizeof(why)) < 0)
			return json_pack("{s:b, s:s}", "ok", 0, "error", why);
		return json_pack("{s:b, s:s}", "ok", 1, "revoke", s->revoke);
	}
	if (strcmp(cmd, "reload") == 0) {
		if (runner_request_reload(r) < 0)
			return error_reply("the configuration has errors (see the daemon's log); kept the running one:",
					   r->config_path);
		return json_pack("{s:b}", "ok", 1);
	}
	return error_reply("unknown command (status, renew, revoke, reload):", cmd);
}

/* ------------------------------------------------------------ metrics */

static void
render_metrics(struct buf *out, void *arg)
{
	struct runner *r = arg;
	char n[32];
	size_t i;
	int k, b;

	metrics_header(out, "certd_cert_not_after_seconds", "gauge",
		       "Expiry of the certificate in place (unix time).");
	for (i = 0; i < r->n_slots; i++)
		metrics_sample(out, "certd_cert_not_after_seconds", (double)r->slots[i].st.not_after,
			       "name", r->slots[i].cc->name, NULL);
	metrics_header(out, "certd_cert_next_renewal_seconds", "gauge",
		       "When the next pass is due (unix time; 0 when not scheduled).");
	for (i = 0; i < r->n_slots; i++)
		metrics_sample(out, "certd_cert_next_renewal_seconds", (double)r->slots[i].next_at,
			       "name", r->slots[i].cc->name, NULL);
	metrics_header(out, "certd_cert_last_success_seconds", "gauge",
		       "Last pass that left a valid set in place (unix time).");
	for (i = 0; i < r->n_slots; i++)
		metrics_sample(out, "certd_cert_last_success_seconds",
			       (double)r->slots[i].st.last_success, "name", r->slots[i].cc->name, NULL);
	metrics_header(out, "certd_cert_renewal_failures_total", "counter",
		       "Failed passes since the daemon started.");
	for (i = 0; i < r->n_slots; i++)
		metrics_sample(out, "certd_cert_renewal_failures_total",
			       (double)r->slots[i].failures_total, "name", r->slots[i].cc->name, NULL);
	metrics_header(out, "certd_cert_consecutive_failures", "gauge",
		       "Failed passes since the last success.");
	for (i = 0; i < r->n_slots; i++)
		metrics_sample(out, "certd_cert_consecutive_failures", (double)r->slots[i].st.failures,
			       "name", r->slots[i].cc->name, NULL);
	metrics_header(out, "certd_cert_issued_total", "counter", "Certificates issued.");
	for (i = 0; i < r->n_slots; i++)
		metrics_sample(out, "certd_cert_issued_total", (double)r->slots[i].st.issued_total,
			       "name", r->slots[i].cc->name, NULL);
	metrics_header(out, "certd_cert_state", "gauge",
		       "0 valid, 1 renewing, 2 pending, 3 failing, 4 stuck.");
	for (i = 0; i < r->n_slots; i++)
		metrics_sample(out, "certd_cert_state", (double)slot_state_code(&r->slots[i]), "name",
			       r->slots[i].cc->name, "state", slot_state(&r->slots[i]), NULL);
	metrics_header(out, "certd_issuer_requests_total", "counter",
		       "Passes that went to the CA, by result.");
	for (k = 0; k < 2; k++) {
		static const char *const res[] = {"unchanged", "issued", "pending", "failed", "rejected"};
		for (b = JOB_ISSUED; b <= JOB_REJECTED; b++)
			metrics_sample(out, "certd_issuer_requests_total", (double)r->lanes[k].results[b],
				       "issuer", r->lanes[k].name, "result", res[b], NULL);
	}
	metrics_header(out, "certd_issuer_request_duration_seconds", "histogram",
		       "Time from the start of a pass to the CA's answer, verification and publication included.");
	for (k = 0; k < 2; k++) {
		for (b = 0; b < LANE_BUCKETS; b++) {
			snprintf(n, sizeof(n), "%g", lane_bucket_bounds[b]);
			metrics_sample(out, "certd_issuer_request_duration_seconds_bucket",
				       (double)r->lanes[k].buckets[b], "issuer", r->lanes[k].name, "le", n,
				       NULL);
		}
		metrics_sample(out, "certd_issuer_request_duration_seconds_bucket",
			       (double)r->lanes[k].count, "issuer", r->lanes[k].name, "le", "+Inf", NULL);
		metrics_sample(out, "certd_issuer_request_duration_seconds_sum", r->lanes[k].sum,
			       "issuer", r->lanes[k].name, NULL);
		metrics_sample(out, "certd_issuer_request_duration_seconds_count",
			       (double)r->lanes[k].count, "issuer", r->lanes[k].name, NULL);
	}
	metrics_header(out, "certd_process_start_time_seconds", "gauge", "Start of the daemon (unix time).");
	metrics_sample(out, "certd_process_start_time_seconds", (double)r->started, NULL);
	metrics_header(out, "certd_build_info", "gauge", "Version of certd.");
	metrics_sample(out, "certd_build_info", 1, "version", PACKAGE_VERSION, NULL);
}

/* ------------------------------------------------------------ set-up */

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

static int
open_control(struct runner *r)
{
	const struct conf *c = r->conf;
	struct control_config cc = {0};
	uid_t *uids = NULL;
	struct err e = {{0}};
	size_t i, n_uids = 0;
	int rc;

	uids = xcalloc(c->control_allow_users.n + 1, sizeof(*uids));
	for (i = 0; i < c->control_allow_users.n; i++) {
		/* Checked when the config was loaded; a user deleted since is skipped. */
		struct passwd *pw = getpwnam(c->control_allow_users.v[i]);
		if (pw != NULL)
			uids[n_uids++] = pw->pw_uid;
	}
	cc.path = c->control_socket;
	cc.mode = c->control_socket_mode;
	cc.uid = (uid_t)-1;
	cc.gid = c->control_socket_group_name ? c->control_socket_gid : (gid_t)-1;
	cc.allow_uids = uids;
	cc.n_allow_uids = n_uids;
	rc = fsutil_mkdir_parent(c->control_socket, &e);
	if (rc == 0)
		rc = control_listen(r->base, &cc, on_control, r, &r->control, &e);
	free(uids);
	if (rc < 0)
		log_error(NULL, "control socket: %s", e.msg);
	return rc;
}

static int
open_metrics(struct runner *r)
{
	struct err e = {{0}};
	int rc;

	if (r->conf->metrics_listen == NULL)
		return 0;
	rc = metrics_listen(r->base, r->conf->metrics_listen, render_metrics, r, &r->metrics, &e);
	if (rc < 0)
		log_error(NULL, "metrics: %s", e.msg);
	else
		log_info(NULL, "metrics on http://%s/metrics", r->conf->metrics_listen);
	return rc;
}

static char *control_key(const struct conf *c);
static char *metrics_key(const struct conf *c);

int
runner_surfaces_init(struct runner *r)
{
	uint64_t usec = 0;
	struct timeval tv;

	r->started = time(NULL);
	r->control_key = control_key(r->conf);
	r->metrics_key = metrics_key(r->conf);
	if (open_control(r) < 0 || open_metrics(r) < 0)
		return -1;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		usec /= 2;
		tv.tv_sec = (time_t)(usec / 1000000);
		tv.tv_usec = (suseconds_t)(usec % 1000000);
		r->watchdog = event_new(r->base, -1, EV_PERSIST, on_watchdog, r);
		event_add(r->watchdog, &tv);
	}
	return 0;
}

static char *
control_key(const struct conf *c)
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_printf(&b, "%s|%o|%s|", c->control_socket, (unsigned)c->control_socket_mode,
		   c->control_socket_group_name ? c->control_socket_group_name : "");
	for (i = 0; i < c->control_allow_users.n; i++)
		buf_printf(&b, "%s,", c->control_allow_users.v[i]);
	return buf_steal(&b);
}

static char *
metrics_key(const struct conf *c)
{
	return xstrdup(c->metrics_listen ? c->metrics_listen : "");
}

/* A reload reopens the socket or the metrics listener only when its
 * settings changed: closing the socket would also cut off replies still
 * being written (a `certd reload` answered just before the new config is
 * applied). */
void
runner_surfaces_reload(struct runner *r)
{
	char *ck = control_key(r->conf), *mk = metrics_key(r->conf);

	if (r->control_key == NULL || strcmp(ck, r->control_key) != 0) {
		control_free(r->control);
		r->control = NULL;
		open_control(r);
	}
	if (r->metrics_key == NULL || strcmp(mk, r->metrics_key) != 0) {
		metrics_free(r->metrics);
		r->metrics = NULL;
		open_metrics(r);
	}
	free(r->control_key);
	free(r->metrics_key);
	r->control_key = ck;
	r->metrics_key = mk;
}

void
runner_surfaces_fini(struct runner *r)
{
	control_free(r->control);
	metrics_free(r->metrics);
	free(r->control_key);
	free(r->metrics_key);
	r->control_key = r->metrics_key = NULL;
	if (r->watchdog != NULL)
		event_free(r->watchdog);
	r->control = NULL;
	r->metrics = NULL;
	r->watchdog = NULL;
}
