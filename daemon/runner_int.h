/*
 * runner_int.h — the runner's shared state, between runner.c (passes,
 * scheduling, reload) and surfaces.c (status, control socket, metrics,
 * systemd notifications).  Internal to daemon/.
 */
#ifndef CERTD_RUNNER_INT_H
#define CERTD_RUNNER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "issuer.h"
#include "job.h"
#include "state.h"
#include "vault.h"

struct runner;

struct slot {
	struct runner *r;
	const struct conf_cert *cc;
	struct job *job;
	struct event *timer;
	char fp[65];              /* request fingerprint of cc */
	struct state_record st;   /* persisted */
	time_t next_at;           /* when the timer fires; 0: not scheduled */
	time_t renew_at;          /* renewal time of the certificate in place */
	enum job_result last;
	unsigned long long failures_total;  /* failed passes since start (metrics) */
	bool reported;            /* has finished at least one pass */
	bool busy;
	bool queued;
	enum job_mode mode;
	char why[128];
	struct issuer_op *revoke_op;   /* certd revoke in progress */
	bool revoke_reissue;
	bool revoke_wait;         /* requested during a pass: starts when it ends */
	char revoke_reason[256];
	char revoke[300];         /* "": none; "revoking", "revoked", "failed: why" */
	struct timespec pass_started;
	struct slot *next_queued;
};

/* Latency buckets (seconds) of passes that went to a CA. */
#define LANE_BUCKETS 8
extern const double lane_bucket_bounds[LANE_BUCKETS];

/* Passes per issuer: at most max at once, the rest wait in order. */
struct lane {
	const char *name;
	unsigned max;
	unsigned running;
	struct slot *head, *tail;
	/* metrics of passes that reached the CA, by result */
	unsigned long long results[JOB_REJECTED + 1];
	unsigned long long buckets[LANE_BUCKETS];
	unsigned long long count;
	double sum;
};

struct runner {
	const struct conf *conf;
	struct conf *owned_conf;     /* daemon: the config in use (freed on reload) */
	struct conf *reload;         /* a validated config waiting for passes to end */
	const char *config_path;
	struct event_base *base;
	struct worker *worker;
	struct issuer *local;
	struct http *http;
	struct reload_ctx *reloader;
	struct coalesce *coalesce;
	struct vault_config vault_cfg;
	struct vault *vault;
	struct issuer *vault_pki;
	struct issuer *sectigo;
	struct lane lanes[2];        /* 0: local CA, 1: Vault */
	struct event *sigterm, *sigint;
	struct slot *slots;
	size_t n_slots;
	size_t first_pass_left;      /* slots that have not reported yet */
	size_t running;
	bool once;
	bool ready;                  /* READY=1 sent */
	int exit_code;
	time_t started;
	/* surfaces.c */
	struct control *control;
	struct metrics *metrics;
	struct event *watchdog;
	char *control_key;           /* the settings the open socket was made with */
	char *metrics_key;
};

/* runner.c */
void runner_format_when(time_t t, char *out, size_t len);
void runner_renew(struct slot *s, bool force);
/* Start revoking s's certificate at its CA (the result lands in s->revoke,
 * the log and, with reissue, a forced renewal; without, s is held).
 * Returns 0, or -1 with why set when it cannot start. */
int runner_revoke(struct slot *s, const char *reason, bool reissue, char *why, size_t whylen);
struct issuer *runner_issuer_for(struct runner *r, const struct conf_cert *cc);
/* Load the config file again; 0 when it is valid (applied now or when the
 * passes in progress end), -1 when it has errors (logged; nothing changes). */
int runner_request_reload(struct runner *r);
void runner_apply_reload(struct runner *r);
void runner_slot_fini(struct slot *s);

/* surfaces.c */
int runner_surfaces_init(struct runner *r);
void runner_surfaces_reload(struct runner *r);
void runner_surfaces_fini(struct runner *r);
/* STATUS= to systemd; with ready, READY=1 as well (once after start, and
 * after each reload). */
void runner_notify_status(struct runner *r, bool ready);
void runner_log_status(struct runner *r);
/* The status of every certificate as a JSON array (caller decrefs). */
json_t *runner_status_json(struct runner *r);

#endif
