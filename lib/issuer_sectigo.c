/*
 * issuer_sectigo.c — the Sectigo Vault PKI plugin behind the issuer
 * interface (shared/specs/sectigo-plugin.md; docs/design.md, "Sectigo").
 *
 * An SCM order can take minutes or days, and an enroll call can be cut
 * short by three timeouts while the order still goes through.  So this
 * back-end keeps, per certificate, a small durable record of where it is
 * (<state_dir>/sectigo/<name>.json, written atomically before and after
 * every call that creates something) and the key of the request in flight
 * (<name>.key, 0600), and each start() continues from that record:
 *
 *   idle ──enroll/renew/replace──► intent ──id known──► pending ──certificate──► idle
 *     ▲                              │ timeout, dropped:        │   ▲                (ISSUED)
 *     │                              ▼ list certs/, diff        │   │ re-read with backoff
 *     │                          (recovered id) ─► pending      ▼   │ (PENDING)
 *     │                                                        stuck (ErrorCode: a person
 *     └──────── revoked / refused ◄───────────────────────────  must act; slow re-reads)
 *
 * Rules: an order is created at most once per need — a call that may have
 * reached the plugin is never repeated; what it did is found by listing
 * certs/<config> and comparing with the list taken before the call.  Only
 * a request that certainly reached no server (connection refused, TLS
 * failure, 503 sealed, 429, or refused with 4xx) clears the intent.  An
 * intent whose order cannot be found even after twice sectigo_timeout is
 * given up, loudly, so that a lost request cannot block renewal forever.
 * "Issued" is decided by content: a certificate that parses, matches the
 * key and is valid now; the status string only picks the cadence.
 *
 * The record is written on the loop thread (a few hundred bytes, fsynced,
 * once per call): the price of never enrolling twice after a crash.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "buf.h"
#include "conf.h"
#include "fsutil.h"
#include "issuer.h"
#include "sectigo_entry.h"
#include "sectigo_record.h"
#include "state.h"
#include "vault.h"
#include "xalloc.h"

#define PREVIOUS_MAX 20
#define RECOVER_READS_MAX 8

struct sectigo_issuer {
	struct event_base *base;
	struct vault *vault;
	struct sectigo_store *store;
};

enum step {
	S_LIST_BEFORE,         /* listing ids before a call that creates an order */
	S_CALL,                /* enroll / renew / replace */
	S_LIST_AFTER,          /* recovering: listing ids after an uncertain call */
	S_RECOVER_READ,        /* recovering: reading a new id to see if it is ours */
	S_READ,                /* collecting: re-reading the entry */
	S_REFETCH,             /* the current entry again (its files were lost) */
	S_FETCH,               /* Vault lost the entry: fetch/ it back from SCM */
	S_REVOKE,
};

struct sop {
	struct sectigo_issuer *si;
	struct issuer_op *op;
	struct vault_op *req;
	const struct conf_cert *cc;
	char *name;
	json_t *rec;             /* borrowed from the store */
	enum step step;
	const char *call;        /* "enroll", "renew", "replace" */
	EVP_PKEY *key;           /* the request's key (local keys), or NULL */
	X509_REQ *csr;           /* for enroll/replace with a local key */
	EVP_PKEY *new_key;       /* the job's fresh key and CSR, for a new order */
	X509_REQ *new_csr;
	json_t *candidates;      /* recovering: new ids still to look at */
	size_t cand_i;
	char *reason;            /* revoke */
	bool renewal, forced;
};

/* ------------------------------------------------------------ op plumbing */

static void
sop_free(struct sop *p)
{
	free(p->name);
	free(p->reason);
	EVP_PKEY_free(p->key);
	X509_REQ_free(p->csr);
	EVP_PKEY_free(p->new_key);
	X509_REQ_free(p->new_csr);
	json_decref(p->candidates);
	free(p);
}

static void
finish(struct sop *p, struct issuer_result *res)
{
	struct issuer_op *op = p->op;

	sop_free(p);
	issuer_complete(op, res);
}

#define finishf(p, outcome, retry_after, ...) \
	finish((p), issuer_result_errorf((outcome), (retry_after), __VA_ARGS__))

/* Persist p's record; on failure end the op (UNAVAILABLE) and return -1. */
static int
save_or_fail(struct sop *p)
{
	struct err e = {{0}};

	if (sectigo_store_save(p->si->store, p->name, p->rec, &e) == 0)
		return 0;
	finishf(p, ISSUER_UNAVAILABLE, -1, "cannot record the Sectigo progress: %s", e.msg);
	return -1;
}

static char *
path_of(const struct sop *p, const char *what, const char *id)
{
	if (id != NULL)
		return xasprintf("%s/%s/%s/%s", p->cc->mount, what, p->cc->sectigo_config, id);
	return xasprintf("%s/%s/%s", p->cc->mount, what, p->cc->sectigo_config);
}

static void on_answer(struct vault_response *r, void *arg);

static void
sop_send(struct sop *p, enum step step, const char *method, const char *what, const char *id,
     const json_t *body, bool creates)
{
	struct vault_request_opts o = {0, false};
	char *path = path_of(p, what, id);

	if (creates) {
		o.once = true;
		o.timeout_ms = (long)p->cc->sectigo_timeout * 1000;
	}
	p->step = step;
	p->req = vault_request_opts(p->si->vault, method, path, body, &o, on_answer, p);
	free(path);
}

/* The next delay of a pending entry: sectigo_poll_initial doubling up to
 * sectigo_poll_max. */
static int64_t
next_poll(const struct sop *p)
{
	long long polls = sectigo_rec_int(p->rec, "polls");
	int64_t d = p->cc->sectigo_poll_initial;

	while (--polls > 0 && d < p->cc->sectigo_poll_max)
		d *= 2;
	return d > p->cc->sectigo_poll_max ? p->cc->sectigo_poll_max : d;
}

/* Did the request certainly not reach a server that could have acted? */
static bool
not_sent(const struct vault_response *r)
{
	if (r->status == 0)
		return r->outcome == HTTP_OUTCOME_OK || r->outcome == HTTP_OUTCOME_CONNECT_FAILED ||
		    r->outcome == HTTP_OUTCOME_TLS_ERROR;
	return r->status == 503 || r->status == 429 || r->status == 403 ||
	    (r->status >= 400 && r->status < 500 && r->status != 408);
}

/* ------------------------------------------------------------ judging an entry */

/* The certificate of en, judged by content.  Returns an ISSUED result,
 * or NULL with why set (then it is not ours, or not usable yet). */
static struct issuer_result *
judge_certificate(struct sop *p, const struct sectigo_entry *en, char *why, size_t whylen)
{
	struct issuer_result *res = issuer_result_new(ISSUER_ISSUED);
	STACK_OF(X509) *all = NULL;
	EVP_PKEY *key = NULL;
	struct err e = {{0}};

	if (x509_chain_from_pem(en->certificate, strlen(en->certificate), false, &all, &e) < 0) {
		snprintf(why, whylen, "its certificate does not parse: %s", e.msg);
		goto bad;
	}
	if (p->cc->sectigo_key == CONF_SECTIGO_KEY_PLUGIN) {
		if (en->private_key == NULL ||
		    x509_key_from_pem(en->private_key, strlen(en->private_key), &key, &e) < 0) {
			snprintf(why, whylen, "no usable private_key in the entry%s%s",
				 e.msg[0] ? ": " : "", e.msg);
			goto bad;
		}
	} else {
		if (p->key == NULL) {
			snprintf(why, whylen, "the key of this request is lost (%s/sectigo/%s.key)",
				 sectigo_store_dir(p->si->store), p->name);
			goto bad;
		}
		if (!EVP_PKEY_up_ref(p->key))
			abort();
		key = p->key;
	}
	res->cert = sk_X509_shift(all);
	res->chain = all;
	all = NULL;
	if (x509_key_matches_cert(key, res->cert, &e) < 0) {
		snprintf(why, whylen, "its certificate is not for the key certd sent: %s", e.msg);
		goto bad;
	}
	if (x509_check_valid_at(res->cert, time(NULL), &e) < 0) {
		snprintf(why, whylen, "its certificate is not valid now: %s", e.msg);
		goto bad;
	}
	res->key = key;
	key = NULL;
	if (issuer_result_set_anchors(res, p->cc, &e) < 0) {
		snprintf(why, whylen, "%s", e.msg);
		goto bad;
	}
	return res;
bad:
	x509_chain_free(all);
	EVP_PKEY_free(key);
	issuer_result_free(res);
	return NULL;
}

/* SCM's own numbers of the entry, kept with the id for the operator. */
static void
note_numbers(struct sop *p, const struct sectigo_entry *en)
{
	if (en == NULL)
		return;
	if (en->ssl_id[0] != '\0')
		sectigo_rec_set_str(p->rec, p->cc->sectigo_cert_type == CONF_SECTIGO_CLIENT
					    ? "order_number" : "ssl_id", en->ssl_id);
	if (en->renew_id[0] != '\0')
		sectigo_rec_set_str(p->rec, "renew_id", en->renew_id);
}

/* Move the record to pending on id, and write it: the id (and SCM's
 * numbers, from en when known) are recorded the moment they are known. */
static int
adopt_id(struct sop *p, const char *id, const char *how, const struct sectigo_entry *en)
{
	const char *from = sectigo_rec_str(p->rec, "from_id");

	note_numbers(p, en);
	sectigo_rec_set_str(p->rec, "phase", "pending");
	sectigo_rec_set_str(p->rec, "id", id);
	json_object_del(p->rec, "before");
	json_object_set_new(p->rec, "polls", json_integer(0));
	json_object_set_new(p->rec, "pending_since", json_integer((json_int_t)time(NULL)));
	sectigo_rec_event(p->rec, how, id, "%s%s%s", p->call ? p->call : "",
		  from != NULL ? " of " : "", from != NULL ? from : "");
	return save_or_fail(p);
}

/* Judge the entry en of the id in the record, and end the op. */
static void
evaluate(struct sop *p, const struct sectigo_entry *en)
{
	char id[SECTIGO_ID_MAX];
	const char *old_status = sectigo_rec_str(p->rec, "status");
	struct issuer_result *res;
	char why[700], serial[128];
	int64_t delay;
	bool replacing = p->call != NULL ? strcmp(p->call, "replace") == 0
					 : sectigo_rec_str(p->rec, "op") != NULL &&
					       strcmp(sectigo_rec_str(p->rec, "op"), "replace") == 0;

	/* A copy: the record's "id" may be deleted below. */
	snprintf(id, sizeof(id), "%s", sectigo_rec_str(p->rec, "id") ? sectigo_rec_str(p->rec, "id") : "");
	why[0] = '\0';
	note_numbers(p, en);
	if (en->status[0] != '\0' && (old_status == NULL || strcmp(old_status, en->status) != 0)) {
		sectigo_rec_event(p->rec, "status", id, "%s%s%s", en->status,
			  en->status_class == SECTIGO_ST_UNKNOWN ? " (a status certd does not know)"
								 : "", "");
		sectigo_rec_set_str(p->rec, "status", en->status);
	}
	if (en->certificate != NULL) {
		res = judge_certificate(p, en, why, sizeof(why));
		if (res != NULL) {
			x509_serial_string(res->cert, serial, sizeof(serial));
			if (sectigo_rec_str(p->rec, "current_id") != NULL &&
			    strcmp(sectigo_rec_str(p->rec, "current_id"), id) != 0)
				sectigo_rec_push(p->rec, "previous_ids",
						 sectigo_rec_str(p->rec, "current_id"), PREVIOUS_MAX);
			sectigo_rec_set_str(p->rec, "phase", "idle");
			sectigo_rec_set_str(p->rec, "current_id", id);
			sectigo_rec_set_str(p->rec, "serial", serial);
			json_object_del(p->rec, "error");
			json_object_del(p->rec, "op");
			json_object_del(p->rec, "from_id");
			json_object_set_new(p->rec, "polls", json_integer(0));
			sectigo_rec_event(p->rec, "collected", id, "serial %s", serial);
			if (save_or_fail(p) < 0) {
				issuer_result_free(res);
				return;
			}
			finish(p, res);
			return;
		}
		if (!replacing && en->status_class != SECTIGO_ST_ERROR) {
			/* A certificate that is not ours will not become ours. */
			sectigo_rec_set_str(p->rec, "phase", "stuck");
			json_object_set_new(p->rec, "error",
					    json_pack("{s:s}", "description", why));
			sectigo_rec_event(p->rec, "unusable", id, "%s", why);
			if (save_or_fail(p) < 0)
				return;
			finishf(p, ISSUER_REJECTED, p->cc->sectigo_poll_max,
				"Sectigo entry %s: %s", id, why);
			return;
		}
	}
	if (en->status_class == SECTIGO_ST_ERROR) {
		sectigo_rec_set_str(p->rec, "phase", "stuck");
		json_object_set_new(p->rec, "error",
				    json_pack("{s:I, s:s}", "code", (json_int_t)en->error_code,
					      "description", en->error_description));
		if (save_or_fail(p) < 0)
			return;
		finishf(p, ISSUER_REJECTED, p->cc->sectigo_poll_max,
			"Sectigo entry %s waits for a person: ErrorCode %lld: %s (re-read every %llds "
			"to pick up an approval)", id, en->error_code,
			en->error_description[0] ? en->error_description : "(no description)",
			(long long)p->cc->sectigo_poll_max);
		return;
	}
	if (en->status_class == SECTIGO_ST_REVOKED) {
		sectigo_rec_set_str(p->rec, "phase", "idle");
		json_object_del(p->rec, "id");
		sectigo_rec_event(p->rec, "revoked-at-ca", id, NULL);
		if (save_or_fail(p) < 0)
			return;
		finishf(p, ISSUER_REJECTED, -1, "Sectigo entry %s is revoked", id);
		return;
	}
	/* Pending: not collected yet. */
	if (strcmp(sectigo_rec_str(p->rec, "phase"), "stuck") == 0) {
		sectigo_rec_event(p->rec, "unstuck", id, NULL);
		json_object_del(p->rec, "error");
	}
	sectigo_rec_set_str(p->rec, "phase", "pending");
	json_object_set_new(p->rec, "polls", json_integer(sectigo_rec_int(p->rec, "polls") + 1));
	delay = next_poll(p);
	if (save_or_fail(p) < 0)
		return;
	finishf(p, ISSUER_PENDING, delay, "Sectigo entry %s not collected yet (status \"%s\"%s%s%s)",
		id, en->status[0] ? en->status : "none",
		en->status_class == SECTIGO_ST_UNKNOWN ? ", not a status certd knows: judged by content" : "",
		why[0] ? "; " : "", why);
}

/* ------------------------------------------------------------ calls */

static json_t *
comma_join(const struct conf_list *l, const char *first)
{
	struct buf b = BUF_INIT;
	json_t *s;
	size_t i;

	if (first != NULL)
		buf_puts(&b, first);
	for (i = 0; i < l->n; i++) {
		if (first != NULL && strcmp(l->v[i], first) == 0)
			continue;
		if (b.len > 0)
			buf_putc(&b, ',');
		buf_puts(&b, l->v[i]);
	}
	s = json_string(buf_str(&b));
	buf_free(&b);
	return s;
}

/* The body of enroll (and replace): the certificate's settings, then
 * sectigo_params with their JSON types, then the CSR. */
static json_t *
order_body(const struct sop *p, struct err *e)
{
	const struct conf_cert *cc = p->cc;
	const char *pre = cc->sectigo_cert_type == CONF_SECTIGO_CLIENT ? "sectigo_client_cert_"
								      : "sectigo_ssl_cert_";
	json_t *body = json_object(), *params = NULL;
	struct buf pem = BUF_INIT;
	char k[96];

	if (body == NULL)
		abort();
#define SET(suffix, value) \
	do { snprintf(k, sizeof(k), "%s%s", pre, suffix); json_object_set_new(body, k, value); } while (0)
	if (cc->sectigo_profile > 0)
		SET("type", json_integer(cc->sectigo_profile));
	SET("validity", json_integer((json_int_t)((cc->ttl + 86399) / 86400)));
	if (cc->sectigo_cert_type == CONF_SECTIGO_SSL) {
		SET("format_type", json_string("X509"));
		if (cc->alt_names.n > 0)
			SET("subject_alt_names", comma_join(&cc->alt_names, NULL));
	}
	if (cc->sectigo_comments != NULL)
		SET("comments", json_string(cc->sectigo_comments));
	if (cc->sectigo_requester != NULL)
		SET("external_requester", json_string(cc->sectigo_requester));
#undef SET
	if (cc->sectigo_params != NULL) {
		params = json_loads(cc->sectigo_params, 0, NULL);
		if (json_is_object(params))
			json_object_update(body, params);
		json_decref(params);
	}
	if (cc->sectigo_key == CONF_SECTIGO_KEY_PLUGIN) {
		const char *dom = cc->common_name ? cc->common_name
						  : cc->alt_names.n ? cc->alt_names.v[0] : NULL;
		bool rsa = cc->key_type >= X509_KEY_RSA_2048 && cc->key_type <= X509_KEY_RSA_4096;
		static const char *const bits[] = {"256", "384", "2048", "3072", "4096", ""};
		if (dom != NULL)
			json_object_set_new(body, "sectigo_csr_domain", json_string(dom));
		json_object_set_new(body, "sectigo_csr_key_algo", json_string(rsa ? "RSA" : "EC"));
		json_object_set_new(body, "sectigo_csr_key_size", json_string(bits[cc->key_type]));
		return body;
	}
	if (p->csr == NULL || x509_csr_to_pem(p->csr, &pem, e) < 0) {
		if (p->csr == NULL)
			err_set(e, EINVAL, "no CSR to send");
		json_decref(body);
		return NULL;
	}
	json_object_set_new(body, "sectigo_csr", json_string(buf_str(&pem)));
	buf_free(&pem);
	return body;
}

/* Persist the intent (and the request's key), then make the call. */
static void
call(struct sop *p)
{
	const char *from = sectigo_rec_str(p->rec, "from_id");
	struct err e = {{0}};
	json_t *body;

	if (strcmp(p->call, "renew") == 0) {
		body = json_object();
	} else if ((body = order_body(p, &e)) == NULL) {
		finishf(p, ISSUER_REJECTED, -1, "Sectigo %s: %s", p->call, e.msg);
		return;
	}
	if (p->key != NULL && strcmp(p->call, "renew") != 0 &&
	    sectigo_store_save_key(p->si->store, p->name, p->key, &e) < 0) {
		json_decref(body);
		finishf(p, ISSUER_UNAVAILABLE, -1, "cannot keep the request's key: %s", e.msg);
		return;
	}
	sectigo_rec_set_str(p->rec, "phase", "intent");
	sectigo_rec_set_str(p->rec, "op", p->call);
	json_object_set_new(p->rec, "intent_at", json_integer((json_int_t)time(NULL)));
	sectigo_rec_event(p->rec, p->call, from, NULL);
	if (save_or_fail(p) < 0) {
		json_decref(body);
		return;
	}
	sop_send(p, S_CALL, "POST", p->call, strcmp(p->call, "enroll") == 0 ? NULL : from, body, true);
	json_decref(body);
}

/* Begin a call that creates an order: first the list to compare with. */
static void
begin_call(struct sop *p, const char *what)
{
	p->call = what;
	if (strcmp(what, "renew") != 0 && p->cc->sectigo_key == CONF_SECTIGO_KEY_LOCAL) {
		/* A new order carries the job's new key. */
		if (p->new_key == NULL || p->new_csr == NULL) {
			finishf(p, ISSUER_REJECTED, -1, "Sectigo %s: no key and CSR to send", what);
			return;
		}
		EVP_PKEY_free(p->key);
		X509_REQ_free(p->csr);
		p->key = p->new_key;
		p->csr = p->new_csr;
		p->new_key = NULL;
		p->new_csr = NULL;
	}
	sop_send(p, S_LIST_BEFORE, "LIST", "certs", NULL, NULL, false);
}

static void
recover(struct sop *p)
{
	sop_send(p, S_LIST_AFTER, "LIST", "certs", NULL, NULL, false);
}

static void
read_entry(struct sop *p, enum step step, const char *id)
{
	bool readcert = p->cc->sectigo_read == CONF_SECTIGO_READ_READCERT && step == S_READ;

	sop_send(p, step, "GET", readcert ? "readcert" : "certs", id, NULL, false);
}

/* Recovery found nothing (yet).  Keep the intent, unless it is so old that
 * the call cannot still be running anywhere. */
static void
nothing_recovered(struct sop *p)
{
	long long age = (long long)time(NULL) - sectigo_rec_int(p->rec, "intent_at");
	const char *op = sectigo_rec_str(p->rec, "op");

	if (age > 2 * (long long)p->cc->sectigo_timeout) {
		sectigo_rec_set_str(p->rec, "phase", "idle");
		json_object_del(p->rec, "before");
		sectigo_rec_event(p->rec, "intent-abandoned", NULL,
			  "no new entry %llds after the %s call", age, op ? op : "?");
		if (save_or_fail(p) < 0)
			return;
		finishf(p, ISSUER_UNAVAILABLE, -1,
			"the Sectigo %s call of %llds ago left no entry in certs/%s; it is taken as "
			"never made, and the next attempt orders again", op ? op : "?", age,
			p->cc->sectigo_config);
		return;
	}
	if (op != NULL && strcmp(op, "replace") == 0 && sectigo_rec_str(p->rec, "from_id") != NULL) {
		/* replace may keep the id: watch that entry for our key. */
		p->call = "replace";
		if (adopt_id(p, sectigo_rec_str(p->rec, "from_id"), "recovered", NULL) < 0)
			return;
		read_entry(p, S_READ, sectigo_rec_str(p->rec, "id"));
		return;
	}
	finishf(p, ISSUER_PENDING, p->cc->sectigo_poll_initial,
		"the outcome of the Sectigo %s call is not known yet: no new entry in certs/%s; "
		"listing again later (never ordering again while it may still arrive)",
		op ? op : "?", p->cc->sectigo_config);
}

/* Recovering: is the entry in en the one our call created? */
static bool
entry_is_ours(const struct sop *p, const struct sectigo_entry *en, size_t n_new)
{
	X509_REQ *csr = NULL;
	EVP_PKEY *pub;
	bool ours;

	if (p->cc->sectigo_key == CONF_SECTIGO_KEY_PLUGIN || p->key == NULL)
		return n_new == 1;   /* nothing to compare: only an unambiguous answer */
	if (en->csr == NULL || x509_csr_from_pem(en->csr, strlen(en->csr), &csr, NULL) < 0)
		return false;
	pub = X509_REQ_get0_pubkey(csr);
	ours = pub != NULL && EVP_PKEY_eq(pub, p->key) == 1;
	X509_REQ_free(csr);
	return ours;
}

static void
next_candidate(struct sop *p)
{
	const json_t *id;

	if (p->candidates == NULL || p->cand_i >= json_array_size(p->candidates) ||
	    p->cand_i >= RECOVER_READS_MAX) {
		nothing_recovered(p);
		return;
	}
	id = json_array_get(p->candidates, p->cand_i++);
	read_entry(p, S_RECOVER_READ, json_string_value(id));
}

/* ------------------------------------------------------------ answers */

static void
on_list_before(struct sop *p, struct vault_response *r)
{
	json_t *ids;

	if (r->cls != VAULT_OK && r->status != 404) {
		finishf(p, r->cls == VAULT_TRANSIENT ? ISSUER_UNAVAILABLE : ISSUER_REJECTED,
			r->retry_after, "Sectigo: cannot list certs/%s before ordering: %s",
			p->cc->sectigo_config, r->error);
		return;
	}
	ids = sectigo_list_ids(r->cls == VAULT_OK ? r->data : NULL);
	json_object_set_new(p->rec, "before", ids);
	call(p);
}

static void
on_call(struct sop *p, struct vault_response *r)
{
	struct sectigo_entry en;
	struct err e = {{0}};

	if (r->cls == VAULT_OK && sectigo_entry_parse(r->data, &en, &e) == 0 && en.id[0] != '\0') {
		if (adopt_id(p, en.id, "ordered", &en) == 0)
			evaluate(p, &en);
		sectigo_entry_free(&en);
		return;
	}
	if (r->cls == VAULT_OK) {
		/* Something was done, but the answer does not say what. */
		sectigo_entry_free(&en);
		recover(p);
		return;
	}
	if (not_sent(r)) {
		sectigo_rec_set_str(p->rec, "phase", "idle");
		json_object_del(p->rec, "before");
		sectigo_rec_event(p->rec, "refused", sectigo_rec_str(p->rec, "from_id"), "%s", r->error);
		if (save_or_fail(p) < 0)
			return;
		finishf(p, r->cls == VAULT_TRANSIENT ? ISSUER_UNAVAILABLE : ISSUER_REJECTED,
			r->retry_after, "Sectigo %s: %s", p->call, r->error);
		return;
	}
	/* A timeout, a dropped connection or a server error: the order may
	 * exist.  Find it; never order again. */
	sectigo_rec_event(p->rec, "uncertain", sectigo_rec_str(p->rec, "from_id"), "%s", r->error);
	recover(p);
}

static void
on_list_after(struct sop *p, struct vault_response *r)
{
	const json_t *before = json_object_get(p->rec, "before"), *v, *b;
	json_t *ids;
	size_t i, j;

	if (r->cls != VAULT_OK && r->status != 404) {
		finishf(p, ISSUER_PENDING, p->cc->sectigo_poll_initial,
			"the outcome of the Sectigo %s call is not known yet (listing certs/%s: %s)",
			sectigo_rec_str(p->rec, "op"), p->cc->sectigo_config, r->error);
		return;
	}
	ids = sectigo_list_ids(r->cls == VAULT_OK ? r->data : NULL);
	json_decref(p->candidates);
	p->candidates = json_array();
	p->cand_i = 0;
	json_array_foreach(ids, i, v) {
		bool seen = false;
		json_array_foreach(before, j, b)
			if (json_equal(v, b))
				seen = true;
		if (!seen)
			json_array_append_new(p->candidates, json_string(json_string_value(v)));
	}
	json_decref(ids);
	next_candidate(p);
}

static void
on_recover_read(struct sop *p, struct vault_response *r)
{
	struct sectigo_entry en;
	struct err e = {{0}};

	if (r->cls != VAULT_OK || sectigo_entry_parse(r->data, &en, &e) < 0) {
		next_candidate(p);
		return;
	}
	if (!entry_is_ours(p, &en, json_array_size(p->candidates)) || en.id[0] == '\0') {
		sectigo_entry_free(&en);
		next_candidate(p);
		return;
	}
	if (p->call == NULL)
		p->call = sectigo_rec_str(p->rec, "op");
	if (adopt_id(p, en.id, "recovered", &en) == 0)
		evaluate(p, &en);
	sectigo_entry_free(&en);
}

static void
on_read(struct sop *p, struct vault_response *r)
{
	struct sectigo_entry en;
	struct err e = {{0}};
	const char *id = sectigo_rec_str(p->rec, "id");

	if (r->cls != VAULT_OK) {
		if (r->status == 404 && p->step == S_READ) {
			/* Deleted from Vault, but SCM still has the order:
			 * fetch/ stores it in Vault again (then reads it). */
			sectigo_rec_event(p->rec, "fetch", id, "%s", r->error);
			sop_send(p, S_FETCH, "POST", "fetch", id, NULL, false);
			return;
		}
		if (r->status == 404 || (p->step == S_FETCH && r->cls == VAULT_PERMANENT)) {
			/* Neither Vault nor SCM has it: stop waiting for it;
			 * the next attempt orders anew. */
			sectigo_rec_set_str(p->rec, "phase", "idle");
			sectigo_rec_event(p->rec, "gone", id, "%s", r->error);
			if (save_or_fail(p) < 0)
				return;
			finishf(p, ISSUER_UNAVAILABLE, -1, "Sectigo entry %s is gone: %s", id, r->error);
			return;
		}
		finishf(p, r->cls == VAULT_TRANSIENT ? ISSUER_UNAVAILABLE : ISSUER_REJECTED,
			r->retry_after, "Sectigo: reading entry %s: %s", id, r->error);
		return;
	}
	if (sectigo_entry_parse(r->data, &en, &e) < 0) {
		finishf(p, ISSUER_UNAVAILABLE, -1, "Sectigo entry %s: %s", id, e.msg);
		return;
	}
	if (en.id[0] != '\0' && strcmp(en.id, id) != 0) {
		/* An auto-renewal on the read answers the new entry: follow it. */
		sectigo_rec_event(p->rec, "moved", en.id, "from %s", id);
		sectigo_rec_set_str(p->rec, "id", en.id);
	}
	evaluate(p, &en);
	sectigo_entry_free(&en);
}

/* The files of the current certificate were lost (or never published):
 * the entry still has it, unless it is no longer valid — then renew. */
static void
on_refetch(struct sop *p, struct vault_response *r)
{
	const char *current = sectigo_rec_str(p->rec, "current_id");
	struct issuer_result *res = NULL;
	struct sectigo_entry en;
	struct err e = {{0}};
	char why[600];

	if (r->cls == VAULT_TRANSIENT) {
		finishf(p, ISSUER_UNAVAILABLE, r->retry_after, "Sectigo: reading entry %s: %s",
			current, r->error);
		return;
	}
	if (r->cls == VAULT_OK && sectigo_entry_parse(r->data, &en, &e) == 0) {
		if (en.certificate != NULL)
			res = judge_certificate(p, &en, why, sizeof(why));
		sectigo_entry_free(&en);
	}
	if (res != NULL) {
		finish(p, res);
		return;
	}
	if (r->cls == VAULT_OK) {
		sectigo_rec_set_str(p->rec, "from_id", current);
		begin_call(p, "renew");
		return;
	}
	begin_call(p, "enroll");
}

static void
on_revoked(struct sop *p, struct vault_response *r)
{
	char id[SECTIGO_ID_MAX];

	/* A copy: the record's string goes away with current_id below. */
	snprintf(id, sizeof(id), "%s", sectigo_rec_str(p->rec, "current_id"));
	if (r->cls != VAULT_OK) {
		finishf(p, r->cls == VAULT_TRANSIENT ? ISSUER_UNAVAILABLE : ISSUER_REJECTED,
			r->retry_after, "Sectigo: revoking %s: %s", id, r->error);
		return;
	}
	sectigo_rec_push(p->rec, "previous_ids", id, PREVIOUS_MAX);
	sectigo_rec_event(p->rec, "revoked", id, "%s", p->reason ? p->reason : "");
	json_object_del(p->rec, "current_id");
	json_object_del(p->rec, "id");
	sectigo_rec_set_str(p->rec, "phase", "idle");
	if (save_or_fail(p) < 0)
		return;
	finishf(p, ISSUER_ISSUED, -1, "Sectigo entry %s revoked (it stays in Vault)", id);
}

static void
on_answer(struct vault_response *r, void *arg)
{
	struct sop *p = arg;

	p->req = NULL;
	switch (p->step) {
	case S_LIST_BEFORE: on_list_before(p, r); break;
	case S_CALL: on_call(p, r); break;
	case S_LIST_AFTER: on_list_after(p, r); break;
	case S_RECOVER_READ: on_recover_read(p, r); break;
	case S_READ:
	case S_FETCH: on_read(p, r); break;
	case S_REFETCH: on_refetch(p, r); break;
	case S_REVOKE: on_revoked(p, r); break;
	}
}

/* ------------------------------------------------------------ back-end */

static struct sop *
sop_new(struct sectigo_issuer *si, struct issuer_op *op, const struct conf_cert *cc,
	struct err *e)
{
	struct sop *p;
	json_t *rec;

	if (cc->mount == NULL || cc->sectigo_config == NULL) {
		err_set(e, EINVAL, "sectigo: mount and sectigo_config are required");
		return NULL;
	}
	if ((rec = sectigo_store_get(si->store, cc->name, e)) == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->si = si;
	p->op = op;
	p->cc = cc;
	p->name = xstrdup(cc->name);
	p->rec = rec;
	issuer_op_set_data(op, p);
	return p;
}

static int
sectigo_start(void *impl, struct issuer_op *op, const struct issuer_request *req, struct err *e)
{
	struct sectigo_issuer *si = impl;
	const struct conf_cert *cc = req->cc;
	struct sop *p = sop_new(si, op, cc, e);
	const char *phase, *current;
	char fp[65];
	bool same;

	if (p == NULL)
		return -EINVAL;
	p->renewal = req->renewal;
	p->forced = req->forced;
	phase = sectigo_rec_str(p->rec, "phase");
	current = sectigo_rec_str(p->rec, "current_id");
	state_request_fingerprint(cc, fp);
	same = sectigo_rec_str(p->rec, "request_fp") != NULL && strcmp(sectigo_rec_str(p->rec, "request_fp"), fp) == 0;
	if (cc->sectigo_key == CONF_SECTIGO_KEY_LOCAL)
		p->key = sectigo_store_load_key(si->store, p->name);
	if (req->key != NULL && req->csr != NULL) {
		p->new_key = req->key;
		p->new_csr = X509_REQ_dup(req->csr);
		if (!EVP_PKEY_up_ref(p->new_key) || p->new_csr == NULL)
			abort();
	}

	if (strcmp(phase, "intent") == 0) {
		p->call = sectigo_rec_str(p->rec, "op");
		recover(p);
		return 0;
	}
	if (strcmp(phase, "pending") == 0 || strcmp(phase, "stuck") == 0) {
		p->call = NULL;
		read_entry(p, S_READ, sectigo_rec_str(p->rec, "id"));
		return 0;
	}
	/* Idle: a new order, a renewal of the current one, or the current
	 * one again (collected earlier, then lost before it was published). */
	if (current != NULL && same && (p->key != NULL || cc->sectigo_key == CONF_SECTIGO_KEY_PLUGIN)) {
		if (req->renewal) {
			sectigo_rec_set_str(p->rec, "from_id", current);
			begin_call(p, cc->rotate_key ? "replace" : "renew");
			return 0;
		}
		sop_send(p, S_REFETCH, "GET", "certs", current, NULL, false);
		return 0;
	}
	sectigo_rec_set_str(p->rec, "request_fp", fp);
	json_object_del(p->rec, "from_id");
	begin_call(p, "enroll");
	return 0;
}

static void
sectigo_cancel(void *impl, struct issuer_op *op)
{
	struct sop *p = issuer_op_data(op);

	(void)impl;
	if (p == NULL)
		return;
	vault_cancel(p->req);
	sop_free(p);
}

static int
sectigo_revoke(void *impl, struct issuer_op *op, const struct conf_cert *cc, const char *reason,
	       struct err *e)
{
	struct sectigo_issuer *si = impl;
	struct sop *p = sop_new(si, op, cc, e);
	const char *current;
	json_t *body;

	if (p == NULL)
		return -EINVAL;
	current = sectigo_rec_str(p->rec, "current_id");
	if (current == NULL) {
		issuer_op_set_data(op, NULL);
		sop_free(p);
		return err_set(e, ENOENT, "%s has no collected Sectigo certificate to revoke", cc->name);
	}
	if (strcmp(sectigo_rec_str(p->rec, "phase"), "idle") != 0) {
		issuer_op_set_data(op, NULL);
		sop_free(p);
		return err_set(e, EBUSY, "%s: a Sectigo order is in progress (%s); revoke when it is "
			       "over", cc->name, sectigo_rec_str(p->rec, "phase"));
	}
	p->reason = reason != NULL ? xstrdup(reason) : NULL;
	body = json_object();
	if (reason != NULL)
		json_object_set_new(body, "sectigo_revoke_reason", json_string(reason));
	sop_send(p, S_REVOKE, "POST", "revoke", current, body, false);
	json_decref(body);
	return 0;
}

static json_t *
sectigo_describe(void *impl, const struct conf_cert *cc)
{
	struct sectigo_issuer *si = impl;
	struct err e = {{0}};
	json_t *rec = sectigo_store_get(si->store, cc->name, &e), *out;

	if (rec == NULL)
		return json_pack("{s:s}", "error", e.msg);
	out = json_deep_copy(rec);
	json_object_del(out, "before");
	json_object_del(out, "request_fp");
	return out;
}

static STACK_OF(X509) *
sectigo_anchors(void *impl, const struct conf_cert *cc)
{
	struct err e = {{0}};

	(void)impl;
	return issuer_trust_anchor(cc, &e);
}

static bool
sectigo_wants_csr(void *impl, const struct conf_cert *cc)
{
	(void)impl;
	return cc == NULL || cc->sectigo_key == CONF_SECTIGO_KEY_LOCAL;
}

static void
sectigo_free(void *impl)
{
	struct sectigo_issuer *si = impl;

	sectigo_store_free(si->store);
	free(si);
}

static const struct issuer_backend sectigo_backend = {
	.name = "sectigo",
	.start = sectigo_start,
	.cancel = sectigo_cancel,
	.anchors = sectigo_anchors,
	.wants_csr = sectigo_wants_csr,
	.revoke = sectigo_revoke,
	.describe = sectigo_describe,
	.free = sectigo_free,
};

struct issuer *
issuer_sectigo_new(struct event_base *base, struct vault *v, const char *state_dir)
{
	struct sectigo_issuer *si = xcalloc(1, sizeof(*si));

	si->base = base;
	si->vault = v;
	si->store = sectigo_store_new(state_dir);
	return issuer_new(&sectigo_backend, si, base);
}
