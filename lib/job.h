/*
 * job.h — one managed certificate's renewal pipeline:
 *
 *   assess ─► keygen (worker thread) ─► submit (issuer) ─► verify ─► publish ─► deliver
 *
 * deliver (lib/deliver.c): Vault KV, reload actions, probe; a failed probe
 * restores the previous files.  A set whose delivery failed (or was never
 * confirmed) is delivered again by the next pass, without a new issuance.
 *
 * job_run() starts one pass; the job's callback fires exactly once per
 * pass, from the event loop, with what happened.  What to do next (a timer
 * for the renewal time, a backoff, exit) is the caller's policy.  The job
 * logs at its boundary, once per event, with the certificate's name.
 *
 * Assessment reads the files in place: a certificate that is present,
 * parses, matches its key, carries exactly the requested names and key
 * type, chains to the issuer's CA and is not yet due is left alone.
 */
#ifndef CERTD_JOB_H
#define CERTD_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "issuer.h"
#include "worker.h"

enum job_mode {
	JOB_IF_DUE = 0,   /* issue when missing, invalid, not matching the request or due */
	JOB_FORCE,        /* always */
};

enum job_result {
	JOB_UNCHANGED = 0, /* valid and not due: nothing done */
	JOB_ISSUED,        /* a new certificate was verified and published */
	JOB_PENDING,       /* the CA accepted the request; collect later */
	JOB_FAILED,        /* transient failure: retry with backoff */
	JOB_REJECTED,      /* permanent refusal by the CA, or a local error */
};

struct job_report {
	enum job_result result;
	time_t not_before, not_after; /* of the certificate in place now; 0 when none */
	time_t renew_at;              /* when that certificate is due; 0 when none */
	int64_t retry_after;          /* hint from the CA, -1 when none */
	char serial[128];
	char pair_sha256[65];         /* of the cert and key files in place, once verified */
	char delivered_sha256[65];    /* the pair the consumers have, when known */
	char reason[768];             /* FAILED/REJECTED: why */
};

struct job;
typedef void (*job_done_cb)(struct job *j, const struct job_report *r, void *arg);

struct reload_ctx;
struct coalesce;
struct vault;

/* What jobs share; everything must outlive them. */
struct job_env {
	struct event_base *base;
	struct worker *worker;
	struct reload_ctx *reload;   /* NULL: no reload actions possible */
	struct coalesce *coalesce;   /* batches reloads of a shared consumer; may be NULL */
	struct vault *vault;         /* NULL: no KV output possible */
	const char *state_dir;       /* previous generations, intent records */
};

/* cc and iss must outlive the job.  env is copied.  Never NULL. */
struct job *job_new(const struct conf_cert *cc, struct issuer *iss, const struct job_env *env,
		    job_done_cb cb, void *arg);
/* Start a pass.  Must not be called while one is in progress.  why: with
 * JOB_FORCE, the reason logged (NULL: "forced"). */
void job_run(struct job *j, enum job_mode mode, const char *why);
bool job_busy(const struct job *j);
/* What was verified about a (cert file, key file) pair: when the files
 * still hash to pair, the key matches the certificate, the chain and names
 * were checked, and serial and lifetime are these, so nothing is parsed
 * again.  (Parsing a key and a certificate costs OpenSSL 3 about 0.5 ms;
 * 10,000 of them at start-up would not fit the budget.)  The runner seeds
 * it from saved state, only when the request has not changed since; the
 * job keeps it current itself. */
struct job_known {
	char pair[65];
	char serial[128];
	time_t not_before, not_after;
	char delivered[65];   /* the pair last delivered to the consumers, "" if none */
};
void job_set_known(struct job *j, const struct job_known *k);
const char *job_name(const struct job *j);
/* Cancels a pass in progress (its callback will not fire). */
void job_free(struct job *j);

#endif
