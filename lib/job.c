/*
 * job.c — one certificate's pass: assess, keygen, submit, verify, publish.
 *
 * States of a pass (docs/design.md has the table):
 *
 *   IDLE ─run─► ASSESS ─valid─────────────────────────────► report UNCHANGED
 *                  │ missing/invalid/changed/due/forced
 *                  ▼
 *               KEYGEN (worker thread) ─► SUBMIT (issuer) ─┬─ issued ─► VERIFY ─► PUBLISH ─► report ISSUED
 *                                                          ├─ pending ─────────────────────► report PENDING
 *                                                          ├─ rejected ────────────────────► report REJECTED
 *                                                          └─ unavailable ─────────────────► report FAILED
 *
 * Every exit goes through report(), which fires the callback once from a
 * loop callback (a zero-timeout event when the pass had nothing
 * asynchronous to wait for).  Nothing is written unless every check of
 * VERIFY passed; publish_set then writes the set or nothing.
 *
 * Key generation and publication (its fsyncs) run on the worker pool;
 * assessment reads a few small local files on the loop thread.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <openssl/sha.h>

#include "buf.h"
#include "deliver.h"
#include "duration.h"
#include "fsutil.h"
#include "job.h"
#include "log.h"
#include "publish.h"
#include "render.h"
#include "sched.h"
#include "xalloc.h"

#define PEM_FILE_MAX (256 * 1024)

enum job_state {
	JS_IDLE = 0,
	JS_KEYGEN,
	JS_SUBMIT,
	JS_PUBLISH,
	JS_DELIVER,
	JS_REPORT,
};

struct job {
	const struct conf_cert *cc;
	struct issuer *iss;
	struct job_env env;
	struct worker *worker;
	struct event_base *base;
	struct deliver *deliver;
	struct job_known before;     /* the set in place before publishing (rollback) */
	job_done_cb cb;
	void *arg;

	enum job_state state;
	enum job_mode mode;
	bool renewal;    /* a valid set of this request is in place (due or forced) */
	struct job_report report;
	struct event *report_ev;
	struct worker_task *task;
	struct issuer_op *op;

	/* Keygen input and product.  The worker thread touches only these
	 * (never cc, which a config reload may free while it runs). */
	enum x509_key_type key_type;
	EVP_PKEY *key;
	X509_REQ *csr;
	int keygen_rc;
	struct err keygen_err;

	bool warned;  /* the CA's last warning was logged; not repeated each pass */
	struct {
		struct issuer_result *res;   /* what is being published */
		struct render_out out;       /* the bytes, wiped when done */
		struct publish_result result;
		struct err err;
		int rc;
	} pub;
	enum job_result result_after_delivery;
	struct job_known known;  /* see job_set_known() */
};

static void
remember_verified(struct job *j)
{
	memcpy(j->known.pair, j->report.pair_sha256, sizeof(j->known.pair));
	memcpy(j->known.serial, j->report.serial, sizeof(j->known.serial));
	j->known.not_before = j->report.not_before;
	j->known.not_after = j->report.not_after;
}

/* SHA-256 of a followed by b, as 64 hex characters. */
static void
pair_hash(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	size_t i;

	out[0] = '\0';
	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, a, alen) || !EVP_DigestUpdate(ctx, b, blen) ||
	    !EVP_DigestFinal_ex(ctx, md, &len)) {
		EVP_MD_CTX_free(ctx);
		return;
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static struct x509_names
requested_names(const struct conf_cert *cc)
{
	return (struct x509_names){
		.common_name = cc->common_name,
		.dns = (const char *const *)cc->alt_names.v,
		.n_dns = cc->alt_names.n,
		.ips = (const char *const *)cc->ip_sans.v,
		.n_ips = cc->ip_sans.n,
		.uris = (const char *const *)cc->uri_sans.v,
		.n_uris = cc->uri_sans.n,
	};
}

static struct sched_policy
policy(const struct conf_cert *cc)
{
	return (struct sched_policy){cc->renew_before, cc->renew_at_percent, cc->jitter_percent};
}

/* The jitter of a certificate comes from the hash of its (cert, key) pair:
 * stable across restarts, different between certificates and hosts, and
 * known without parsing anything. */
static void
set_renew_at(struct job_report *r, const struct conf_cert *cc)
{
	unsigned char bytes[7] = {0};
	struct sched_policy p = policy(cc);
	size_t i;

	for (i = 0; i < sizeof(bytes) && r->pair_sha256[2 * i] != '\0'; i++) {
		unsigned v = 0;
		sscanf(r->pair_sha256 + 2 * i, "%2x", &v);
		bytes[i] = (unsigned char)v;
	}
	r->renew_at = sched_renew_time(&p, r->not_before, r->not_after,
				       sched_stable_rnd(bytes, sizeof(bytes)));
}

static void
fill_current(struct job_report *r, X509 *cert)
{
	if (x509_lifetime(cert, &r->not_before, &r->not_after, NULL) < 0)
		return;
	x509_serial_string(cert, r->serial, sizeof(r->serial));
}

/* ------------------------------------------------------------ report */

static void
fire_report(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct job_report r = j->report;

	(void)fd;
	(void)what;
	j->state = JS_IDLE;
	j->cb(j, &r, j->arg);
}

/* End the pass: the callback fires from the loop, never from here. */
static void
report(struct job *j, enum job_result result)
{
	struct timeval now = {0, 0};

	j->report.result = result;
	j->state = JS_REPORT;
	evtimer_add(j->report_ev, &now);
}

static void
fail(struct job *j, enum job_result result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct job *j, enum job_result result, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->report.reason, sizeof(j->report.reason), fmt, ap);
	va_end(ap);
	report(j, result);
}

/* ------------------------------------------------------------ assess */

enum verdict {
	V_VALID = 0,
	V_DUE,
	V_MISSING,
	V_INVALID,
	V_CHANGED,
};

static int
load_pem_file(const char *path, struct buf *b, struct err *e)
{
	return fsutil_read_file(path, PEM_FILE_MAX, b, e);
}

/* Due or valid, from the facts in the report. */
static enum verdict
judge_time(struct job *j, time_t now, char *why, size_t whylen)
{
	char left[32];

	set_renew_at(&j->report, j->cc);
	if (now < j->report.not_before || now >= j->report.not_after) {
		snprintf(why, whylen, "%s", now < j->report.not_before ? "not valid yet" : "expired");
		return V_INVALID;
	}
	if (now >= j->report.renew_at) {
		duration_format((int64_t)(j->report.not_after - now), left, sizeof(left));
		snprintf(why, whylen, "due for renewal (expires in %s)", left);
		return V_DUE;
	}
	return V_VALID;
}

/*
 * Decide from the files in place.  why explains any verdict but VALID.
 *
 * Fast path: when the (cert, key) files hash to a pair this job verified
 * before (in this process, or as recorded in the state for the current
 * request), the facts of that verification stand and nothing is parsed.
 * Otherwise: parse, match key and certificate, check the key's mode and
 * type, the chain against the issuer's CA, the names and the lifetime.
 */
static enum verdict
assess(struct job *j, char *why, size_t whylen)
{
	const struct conf_cert *cc = j->cc;
	struct x509_names want = requested_names(cc);
	struct buf cb = BUF_INIT, kb = BUF_INIT, chb = BUF_INIT;
	STACK_OF(X509) *chain = NULL, *anchors = NULL;
	enum x509_key_type kt;
	enum verdict v = V_INVALID;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct err e = {{0}};
	struct stat st;
	time_t now = time(NULL);

	if (load_pem_file(cc->cert_path, &cb, &e) < 0) {
		v = access(cc->cert_path, F_OK) < 0 && errno == ENOENT ? V_MISSING : V_INVALID;
		snprintf(why, whylen, "%s", v == V_MISSING ? "no certificate yet" : e.msg);
		goto out;
	}
	if (lstat(cc->key_path, &st) < 0) {
		snprintf(why, whylen, "%s: cannot read the key: %s", cc->key_path, strerror(errno));
		goto out;
	}
	if (load_pem_file(cc->key_path, &kb, &e) < 0) {
		snprintf(why, whylen, "cannot read the key: %s", e.msg);
		goto out;
	}
	pair_hash(cb.data, cb.len, kb.data ? kb.data : "", kb.len, j->report.pair_sha256);
	if ((st.st_mode & 07777 & ~cc->key_mode) != 0) {
		/* A key that was readable by more than intended is treated as
		 * exposed: replace it, with a new key, rather than chmod it. */
		snprintf(why, whylen, "%s has mode %04o, wider than key_mode %04o", cc->key_path,
			 (unsigned)(st.st_mode & 07777), (unsigned)cc->key_mode);
		goto out;
	}
	if (j->known.pair[0] != '\0' && strcmp(j->known.pair, j->report.pair_sha256) == 0 &&
	    j->known.not_after != 0) {
		snprintf(j->report.serial, sizeof(j->report.serial), "%s", j->known.serial);
		j->report.not_before = j->known.not_before;
		j->report.not_after = j->known.not_after;
		v = judge_time(j, now, why, whylen);
		goto out;
	}
	if (x509_cert_from_pem(cb.data, cb.len, &cert, &e) < 0) {
		snprintf(why, whylen, "%s: %s", cc->cert_path, e.msg);
		goto out;
	}
	fill_current(&j->report, cert);
	set_renew_at(&j->report, cc);
	if (x509_key_from_pem(kb.data, kb.len, &key, &e) < 0) {
		snprintf(why, whylen, "%s: %s", cc->key_path, e.msg);
		goto out;
	}
	if (x509_key_matches_cert(key, cert, &e) < 0) {
		snprintf(why, whylen, "%s does not match %s: %s", cc->key_path, cc->cert_path, e.msg);
		goto out;
	}
	if (x509_check_valid_at(cert, now, &e) < 0) {
		snprintf(why, whylen, "%s", e.msg);
		goto out;
	}
	if (cc->chain_path != NULL && load_pem_file(cc->chain_path, &chb, &e) == 0)
		x509_chain_from_pem(chb.data, chb.len, true, &chain, NULL);
	anchors = issuer_anchors(j->iss, cc);
	if (anchors != NULL && x509_verify_chain(cert, chain, anchors, now, &e) < 0) {
		snprintf(why, whylen, "does not verify against the %s issuer's CA: %s",
			 issuer_name(j->iss), e.msg);
		goto out;
	}
	v = V_CHANGED;
	/* In issue mode the CA picks the key type (its role's), not us. */
	if (issuer_wants_csr(j->iss, cc) && (x509_key_type_of(key, &kt) < 0 || kt != cc->key_type)) {
		snprintf(why, whylen, "key type changed to %s", x509_key_type_name(cc->key_type));
		goto out;
	}
	if (x509_check_names(cert, &want, cc->exclude_cn_from_sans, &e) < 0) {
		snprintf(why, whylen, "names changed: %s", e.msg);
		goto out;
	}
	v = judge_time(j, now, why, whylen);
out:
	if (v == V_VALID || v == V_DUE)
		remember_verified(j);
	else
		j->report.pair_sha256[0] = '\0';
	buf_free(&cb);
	buf_free_secret(&kb);
	buf_free(&chb);
	x509_chain_free(chain);
	x509_chain_free(anchors);
	EVP_PKEY_free(key);
	X509_free(cert);
	return v;
}

/* ------------------------------------------------------------ deliver */

static void
on_delivered(const struct deliver_result *res, void *arg)
{
	struct job *j = arg;

	j->deliver = NULL;
	if (res->ok) {
		memcpy(j->known.delivered, j->report.pair_sha256, sizeof(j->known.delivered));
		memcpy(j->report.delivered_sha256, j->known.delivered, sizeof(j->known.delivered));
		if (res->consumer_absent)
			log_info(j->cc->name, "delivered: %sthe service is not running (no pid file): "
				 "nothing reloaded or probed; it loads the files when it starts",
				 j->cc->n_kv_fields ? "Vault KV written; " : "");
		else
			log_info(j->cc->name, "delivered: %s%s%s",
				 j->cc->n_kv_fields ? "Vault KV written, " : "",
				 j->cc->n_reloads ? "reloaded, " : "",
				 j->cc->probe ? "the probe sees the new certificate" : "done");
		report(j, j->result_after_delivery);
		return;
	}
	if (res->rolled_back) {
		/* The previous set is back on disk: report it, and judge the
		 * files afresh next time. */
		j->known = j->before;
		j->known.delivered[0] = '\0';
		snprintf(j->report.serial, sizeof(j->report.serial), "%s", j->before.serial);
		j->report.not_before = j->before.not_before;
		j->report.not_after = j->before.not_after;
		memcpy(j->report.pair_sha256, j->before.pair, sizeof(j->report.pair_sha256));
		j->known.pair[0] = '\0';
	}
	{
		struct buf why = BUF_INIT;
		log_escape(res->reason, 700, &why);
		fail(j, JOB_FAILED, "delivery failed: %s", buf_str(&why));
		buf_free(&why);
	}
}

/* Hand the set to its consumers, then report result (ISSUED/UNCHANGED). */
static void
start_delivery(struct job *j, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
	       enum job_result result)
{
	struct deliver_env env = {j->base, j->env.reload, j->env.coalesce, j->env.vault,
				  j->env.state_dir};

	if (!deliver_needed(j->cc)) {
		report(j, result);
		return;
	}
	j->result_after_delivery = result;
	j->state = JS_DELIVER;
	j->deliver = deliver_start(&env, j->cc, cert, chain, key, on_delivered, j);
}

/* A valid set the consumers may not have: load it and deliver it. */
static void
redeliver(struct job *j)
{
	const struct conf_cert *cc = j->cc;
	struct buf cb = BUF_INIT, kb = BUF_INIT, chb = BUF_INIT;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct err e = {{0}};

	log_info(cc->name, "delivering serial %s, which its consumers are not known to have",
		 j->report.serial);
	if (fsutil_read_file(cc->cert_path, PEM_FILE_MAX, &cb, &e) < 0 ||
	    fsutil_read_file(cc->key_path, PEM_FILE_MAX, &kb, &e) < 0 ||
	    x509_cert_from_pem(cb.data, cb.len, &cert, &e) < 0 ||
	    x509_key_from_pem(kb.data, kb.len, &key, &e) < 0) {
		fail(j, JOB_FAILED, "delivery: cannot load the set: %s", e.msg);
		goto out;
	}
	if (cc->chain_path != NULL && fsutil_read_file(cc->chain_path, PEM_FILE_MAX, &chb, &e) == 0)
		x509_chain_from_pem(chb.data, chb.len, true, &chain, NULL);
	if (chain == NULL && (chain = sk_X509_new_null()) == NULL)
		abort();
	j->before = j->known;
	start_delivery(j, cert, chain, key, JOB_UNCHANGED);
out:
	buf_free(&cb);
	buf_free_secret(&kb);
	buf_free(&chb);
	x509_chain_free(chain);
	EVP_PKEY_free(key);
	X509_free(cert);
}

/* ------------------------------------------------------------ publish */

static void job_discard(void *arg);

/* Worker thread: directories, then the durable publication (fsyncs).
 * Touches only j->pub and the strings of j->cc, which outlive the task. */
static void
publish_work(void *arg)
{
	struct job *j = arg;
	struct render_out *out = &j->pub.out;
	size_t i;

	j->pub.rc = 0;
	for (i = 0; i < out->n && j->pub.rc == 0; i++)
		j->pub.rc = fsutil_mkdir_parent(out->files[i].path, &j->pub.err);
	if (j->pub.rc == 0)
		j->pub.rc = publish_set_durable(j->env.state_dir, j->cc->name, out->files, out->n,
						&j->pub.result, &j->pub.err);
}

/* What the issuance left for the publication: freed once it is over. */
static void
release_issued(struct job *j)
{
	render_out_free(&j->pub.out);
	issuer_result_free(j->pub.res);
	j->pub.res = NULL;
	EVP_PKEY_free(j->key);
	X509_REQ_free(j->csr);
	j->key = NULL;
	j->csr = NULL;
}

/* Loop thread, once the files are in place (or not). */
static void
publish_done(void *arg)
{
	struct job *j = arg;
	const struct conf_cert *cc = j->cc;
	struct issuer_result *res = j->pub.res;
	EVP_PKEY *key = res->key != NULL ? res->key : j->key;
	char until[32], left[32];
	time_t now = time(NULL);
	struct tm tm;

	j->task = NULL;
	render_out_free(&j->pub.out);
	if (j->pub.rc < 0) {
		fail(j, JOB_FAILED, "publish: %s", j->pub.err.msg);
		release_issued(j);
		return;
	}
	fill_current(&j->report, res->cert);
	set_renew_at(&j->report, cc);
	remember_verified(j);
	gmtime_r(&j->report.not_after, &tm);
	strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%SZ", &tm);
	duration_format((int64_t)(j->report.not_after - now), left, sizeof(left));
	{
		struct log_ctx ctx = {cc->name, issuer_name(j->iss), j->report.serial};
		log_msgx(LOG_LVL_INFO, &ctx, "issued serial %s by the %s CA, valid until %s (%s); "
			 "verified key, chain and names; wrote %u file(s), %u unchanged",
			 j->report.serial, issuer_name(j->iss), until, left, j->pub.result.written,
			 j->pub.result.unchanged);
	}
	j->known.delivered[0] = '\0';
	start_delivery(j, res->cert, res->chain, key, JOB_ISSUED);
	release_issued(j);
}

/* Verify what the CA returned, render the outputs, and hand the blocking
 * publication to the worker pool.  Returns true when res was taken (it is
 * released when the publication is over). */
static bool
verify_and_publish(struct job *j, struct issuer_result *res)
{
	const struct conf_cert *cc = j->cc;
	struct x509_names want = requested_names(cc);
	EVP_PKEY *key = res->key != NULL ? res->key : j->key;
	struct render_out *out = &j->pub.out;
	struct err e = {{0}};
	time_t now = time(NULL);

	if (key == NULL) {
		fail(j, JOB_FAILED, "the %s issuer returned no key", issuer_name(j->iss));
		return false;
	}
	if (x509_key_matches_cert(key, res->cert, &e) < 0 ||
	    x509_verify_chain(res->cert, res->chain, res->anchors, now, &e) < 0 ||
	    x509_check_names(res->cert, &want, cc->exclude_cn_from_sans, &e) < 0 ||
	    x509_check_valid_at(res->cert, now, &e) < 0) {
		fail(j, JOB_FAILED, "the %s issuer returned a certificate that fails verification: %s",
		     issuer_name(j->iss), e.msg);
		return false;
	}
	memset(out, 0, sizeof(*out));
	if (render_outputs(cc, res->cert, res->chain, key, out, &e) < 0) {
		fail(j, JOB_FAILED, "render: %s", e.msg);
		return false;
	}
	/* cert is the first output and key the last (conf_cert_paths order). */
	pair_hash(out->files[0].data, out->files[0].len, out->files[out->n - 1].data,
		  out->files[out->n - 1].len, j->report.pair_sha256);
	j->before = j->known;
	j->pub.res = res;
	j->state = JS_PUBLISH;
	j->task = worker_submit(j->worker, publish_work, publish_done, job_discard, j);
	return true;
}

/* ------------------------------------------------------------ submit */

static void
on_issued(struct issuer_result *res, void *arg)
{
	struct job *j = arg;
	struct buf why = BUF_INIT;

	j->op = NULL;
	if (res->outcome != ISSUER_ISSUED) {
		log_escape(res->reason, 400, &why);
		j->report.retry_after = res->retry_after;
	}
	switch (res->outcome) {
	case ISSUER_ISSUED:
		if (res->warning[0] != '\0' && !j->warned) {
			log_escape(res->warning, 400, &why);
			log_warning(j->cc->name, "%s", buf_str(&why));
		}
		j->warned = res->warning[0] != '\0';
		if (verify_and_publish(j, res)) {
			/* res, the key and the CSR now belong to the publication. */
			buf_free(&why);
			return;
		}
		break;
	case ISSUER_PENDING:
		fail(j, JOB_PENDING, "the %s CA has the request pending: %s", issuer_name(j->iss),
		     buf_str(&why));
		break;
	case ISSUER_REJECTED:
		fail(j, JOB_REJECTED, "the %s CA refused the request: %s", issuer_name(j->iss),
		     buf_str(&why));
		break;
	case ISSUER_UNAVAILABLE:
		fail(j, JOB_FAILED, "the %s CA is unavailable: %s", issuer_name(j->iss),
		     buf_str(&why));
		break;
	}
	buf_free(&why);
	issuer_result_free(res);
	EVP_PKEY_free(j->key);
	X509_REQ_free(j->csr);
	j->key = NULL;
	j->csr = NULL;
}

static void
keygen_work(void *arg)
{
	struct job *j = arg;

	j->keygen_rc = x509_key_generate(j->key_type, &j->key, &j->keygen_err);
}

static void
keygen_done(void *arg)
{
	struct job *j = arg;
	struct issuer_request req = {
		.cc = j->cc,
		.cert_name = j->cc->name,
		.names = requested_names(j->cc),
		.exclude_cn_from_sans = j->cc->exclude_cn_from_sans,
		.ttl = j->cc->ttl,
		.renewal = j->renewal,
		.forced = j->mode == JOB_FORCE,
	};

	j->task = NULL;
	if (j->key == NULL && j->keygen_rc == 0) {
		/* The CA generates the key (issue mode): no CSR. */
		j->state = JS_SUBMIT;
		j->op = issuer_start(j->iss, &req, on_issued, j);
		return;
	}
	if (j->keygen_rc == 0)
		j->keygen_rc = x509_csr_create(j->key, &req.names, j->cc->exclude_cn_from_sans,
					       &j->csr, &j->keygen_err);
	if (j->keygen_rc < 0) {
		fail(j, JOB_REJECTED, "key generation: %s", j->keygen_err.msg);
		return;
	}
	req.csr = j->csr;
	req.key = j->key;
	j->state = JS_SUBMIT;
	j->op = issuer_start(j->iss, &req, on_issued, j);
}

/* A worker task of a job that was freed meanwhile (job_free): release
 * what the job still owned, then the job. */
static void
job_discard(void *arg)
{
	struct job *j = arg;

	release_issued(j);
	free(j);
}

/* ------------------------------------------------------------ public */

struct job *
job_new(const struct conf_cert *cc, struct issuer *iss, const struct job_env *env, job_done_cb cb,
	void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->cc = cc;
	j->iss = iss;
	j->env = *env;
	j->worker = env->worker;
	j->base = env->base;
	j->cb = cb;
	j->arg = arg;
	j->report_ev = evtimer_new(j->base, fire_report, j);
	if (j->report_ev == NULL)
		abort();
	return j;
}

void
job_run(struct job *j, enum job_mode mode, const char *force_why)
{
	char why[768];
	enum verdict v;

	memset(&j->report, 0, sizeof(j->report));
	j->report.retry_after = -1;
	j->mode = mode;
	why[0] = '\0';
	v = assess(j, why, sizeof(why));
	j->renewal = v == V_VALID || v == V_DUE;
	if (v == V_VALID && mode == JOB_IF_DUE) {
		memcpy(j->report.delivered_sha256, j->known.delivered, sizeof(j->known.delivered));
		if (deliver_needed(j->cc) && strcmp(j->known.delivered, j->report.pair_sha256) != 0) {
			redeliver(j);
			return;
		}
		report(j, JOB_UNCHANGED);
		return;
	}
	if (v == V_VALID)
		log_info(j->cc->name, "re-issuing: %s (serial %s)", force_why ? force_why : "forced",
			 j->report.serial);
	else if (v == V_MISSING)
		log_info(j->cc->name, "issuing: %s", why);
	else
		log_info(j->cc->name, "re-issuing: %s", why);
	j->state = JS_KEYGEN;
	j->key_type = j->cc->key_type;
	j->keygen_rc = 0;
	if (!issuer_wants_csr(j->iss, j->cc)) {
		/* Nothing to generate: go straight to the CA, from the loop. */
		keygen_done(j);
		return;
	}
	j->task = worker_submit(j->worker, keygen_work, keygen_done, job_discard, j);
}

void
job_set_known(struct job *j, const struct job_known *k)
{
	if (k == NULL)
		memset(&j->known, 0, sizeof(j->known));
	else
		j->known = *k;
}

bool
job_busy(const struct job *j)
{
	return j->state != JS_IDLE;
}

const char *
job_name(const struct job *j)
{
	return j->cc->name;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	event_free(j->report_ev);
	issuer_cancel(j->op);
	deliver_cancel(j->deliver);
	if (j->task != NULL) {
		/* The worker may be running keygen_work or publish_work on j
		 * right now: job_discard frees j when it is done. */
		worker_cancel(j->task);
		return;
	}
	release_issued(j);
	free(j);
}
