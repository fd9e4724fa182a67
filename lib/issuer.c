/*
 * issuer.c — the generic half of the issuer interface: op handles, the
 * exactly-once, never-synchronous delivery of results, result lifetime.
 *
 * Invariant: every op is either cancelled by its owner or completed by its
 * back-end, exactly once; both paths free it.  A synchronous refusal from a
 * back-end's start() becomes a REJECTED result delivered by a zero-timeout
 * event so that the caller's callback never runs inside issuer_start().
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "fsutil.h"
#include "issuer.h"
#include "xalloc.h"

struct issuer {
	const struct issuer_backend *backend;
	void *impl;
	struct event_base *base;
};

struct issuer_op {
	struct issuer *iss;
	issuer_done_cb cb;
	void *arg;
	void *data;                 /* back-end's */
	struct event *deferred;     /* pending synchronous-refusal delivery */
	struct issuer_result *deferred_res;
};

struct issuer *
issuer_new(const struct issuer_backend *backend, void *impl, struct event_base *base)
{
	struct issuer *iss = xcalloc(1, sizeof(*iss));

	iss->backend = backend;
	iss->impl = impl;
	iss->base = base;
	return iss;
}

void
issuer_free(struct issuer *iss)
{
	if (iss == NULL)
		return;
	if (iss->backend->free != NULL)
		iss->backend->free(iss->impl);
	free(iss);
}

const char *
issuer_name(const struct issuer *iss)
{
	return iss->backend->name;
}

struct event_base *
issuer_base(const struct issuer *iss)
{
	return iss->base;
}

static void
op_free(struct issuer_op *op)
{
	if (op->deferred != NULL)
		event_free(op->deferred);
	issuer_result_free(op->deferred_res);
	free(op);
}

static void
deliver_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct issuer_op *op = arg;
	struct issuer_result *res = op->deferred_res;

	(void)fd;
	(void)what;
	op->deferred_res = NULL;
	issuer_complete(op, res);
}

static struct issuer_op *
op_new(struct issuer *iss, issuer_done_cb cb, void *arg)
{
	struct issuer_op *op = xcalloc(1, sizeof(*op));

	op->iss = iss;
	op->cb = cb;
	op->arg = arg;
	return op;
}

/* A refusal before anything started: delivered from the loop, REJECTED. */
static void
op_refuse(struct issuer_op *op, const char *why)
{
	struct timeval now = {0, 0};

	op->deferred_res = issuer_result_new(ISSUER_REJECTED);
	snprintf(op->deferred_res->reason, sizeof(op->deferred_res->reason), "%s", why);
	op->deferred = evtimer_new(op->iss->base, deliver_deferred, op);
	if (op->deferred == NULL)
		abort();
	evtimer_add(op->deferred, &now);
}

struct issuer_result *
issuer_result_errorf(enum issuer_outcome outcome, int64_t retry_after, const char *fmt, ...)
{
	struct issuer_result *res = issuer_result_new(outcome);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	res->retry_after = retry_after;
	return res;
}

struct issuer_op *
issuer_start(struct issuer *iss, const struct issuer_request *req, issuer_done_cb cb, void *arg)
{
	struct issuer_op *op = op_new(iss, cb, arg);
	struct err e = {{0}};

	if (iss->backend->start(iss->impl, op, req, &e) < 0)
		op_refuse(op, e.msg);
	return op;
}

struct issuer_op *
issuer_revoke(struct issuer *iss, const struct conf_cert *cc, const char *reason,
	      issuer_done_cb cb, void *arg)
{
	struct issuer_op *op = op_new(iss, cb, arg);
	struct err e = {{0}};

	if (iss->backend->revoke == NULL)
		err_set(&e, ENOTSUP, "the %s issuer cannot revoke certificates", iss->backend->name);
	if (iss->backend->revoke == NULL || iss->backend->revoke(iss->impl, op, cc, reason, &e) < 0)
		op_refuse(op, e.msg);
	return op;
}

json_t *
issuer_describe(struct issuer *iss, const struct conf_cert *cc)
{
	if (iss->backend->describe == NULL)
		return NULL;
	return iss->backend->describe(iss->impl, cc);
}

void
issuer_cancel(struct issuer_op *op)
{
	if (op == NULL)
		return;
	if (op->deferred == NULL && op->iss->backend->cancel != NULL)
		op->iss->backend->cancel(op->iss->impl, op);
	op_free(op);
}

STACK_OF(X509) *
issuer_anchors(struct issuer *iss, const struct conf_cert *cc)
{
	if (iss->backend->anchors == NULL)
		return NULL;
	return iss->backend->anchors(iss->impl, cc);
}

bool
issuer_wants_csr(struct issuer *iss, const struct conf_cert *cc)
{
	if (iss->backend->wants_csr == NULL)
		return true;
	return iss->backend->wants_csr(iss->impl, cc);
}

void
issuer_op_set_data(struct issuer_op *op, void *data)
{
	op->data = data;
}

void *
issuer_op_data(const struct issuer_op *op)
{
	return op->data;
}

void
issuer_complete(struct issuer_op *op, struct issuer_result *res)
{
	issuer_done_cb cb = op->cb;
	void *arg = op->arg;

	op_free(op);
	cb(res, arg);
}

struct issuer_result *
issuer_result_new(enum issuer_outcome outcome)
{
	struct issuer_result *res = xcalloc(1, sizeof(*res));

	res->outcome = outcome;
	res->retry_after = -1;
	return res;
}

void
issuer_result_free(struct issuer_result *res)
{
	if (res == NULL)
		return;
	X509_free(res->cert);
	x509_chain_free(res->chain);
	x509_chain_free(res->anchors);
	EVP_PKEY_free(res->key);
	free(res);
}

const char *
issuer_outcome_name(enum issuer_outcome o)
{
	switch (o) {
	case ISSUER_ISSUED: return "issued";
	case ISSUER_PENDING: return "pending";
	case ISSUER_REJECTED: return "rejected";
	case ISSUER_UNAVAILABLE: return "unavailable";
	default: return "?";
	}
}

STACK_OF(X509) *
issuer_trust_anchor(const struct conf_cert *cc, struct err *e)
{
	struct buf b = BUF_INIT;
	STACK_OF(X509) *sk = NULL;

	if (cc == NULL || cc->trust_anchor == NULL)
		return NULL;
	if (fsutil_read_file(cc->trust_anchor, 1024 * 1024, &b, e) == 0 &&
	    x509_chain_from_pem(b.data, b.len, false, &sk, e) < 0)
		err_prefix(e, EBADMSG, "trust_anchor %s", cc->trust_anchor);
	buf_free(&b);
	return sk;
}

int
issuer_result_set_anchors(struct issuer_result *res, const struct conf_cert *cc, struct err *e)
{
	X509 *top;

	if (cc->trust_anchor != NULL) {
		res->anchors = issuer_trust_anchor(cc, e);
		return res->anchors != NULL ? 0 : -EINVAL;
	}
	res->anchors = sk_X509_new_null();
	if (res->anchors == NULL)
		abort();
	if (sk_X509_num(res->chain) == 0)
		return err_set(e, EBADMSG, "the CA returned no CA certificate to verify against");
	top = sk_X509_value(res->chain, sk_X509_num(res->chain) - 1);
	if (!X509_up_ref(top) || !sk_X509_push(res->anchors, top))
		abort();
	return 0;
}
