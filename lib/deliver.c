/*
 * deliver.c — KV, reload actions and probe for one published set (see
 * deliver.h).  A small state machine: step() starts the next thing, each
 * completion callback records the outcome and calls step() again; finish()
 * defers the one callback through a zero-timeout event.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "coalesce.h"
#include "deliver.h"
#include "probe.h"
#include "publish.h"
#include "reload.h"
#include "render.h"
#include "tmpl.h"
#include "vault.h"
#include "xalloc.h"

#define KV_CAS_ATTEMPTS 3

enum step {
	ST_KV_READ = 0,
	ST_KV_WRITE,
	ST_RELOAD,
	ST_PROBE,
	ST_ROLLBACK_RELOAD,
	ST_DONE,
};

struct deliver {
	struct deliver_env env;
	const struct conf_cert *cc;
	deliver_done_cb cb;
	void *arg;
	enum step step;
	size_t reload_i;
	unsigned cas_attempts;
	json_int_t kv_version;      /* current version at kv_path (v2) */
	json_t *kv_data;            /* rendered fields (secrets: wiped on free) */
	char **bodies;              /* rendered http bodies, per reload action */
	X509 *expect;
	struct vault_op *vop;
	struct reload_op *rop;
	struct coalesce_member *member;
	struct probe *probe;
	struct event *done_ev;
	struct event *kick_ev;
	struct deliver_result res;
	char probe_failure[640];
	bool consumer_absent;      /* a pid file is missing: the service is not running */
};

bool
deliver_needed(const struct conf_cert *cc)
{
	return cc->n_kv_fields > 0 || cc->n_reloads > 0 || cc->probe != NULL;
}

static void step(struct deliver *d);

static void
fire(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *d = arg;
	struct deliver_result res = d->res;
	deliver_done_cb cb = d->cb;
	void *cbarg = d->arg;

	(void)fd;
	(void)what;
	d->cb = NULL;
	deliver_cancel(d);
	cb(&res, cbarg);
}

static void
finish(struct deliver *d, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
finish(struct deliver *d, bool ok, const char *fmt, ...)
{
	struct timeval now = {0, 0};
	va_list ap;

	d->res.ok = ok;
	d->res.consumer_absent = d->consumer_absent;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(d->res.reason, sizeof(d->res.reason), fmt, ap);
		va_end(ap);
	}
	d->step = ST_DONE;
	evtimer_add(d->done_ev, &now);
}

/* ------------------------------------------------------------ KV */

static void on_kv(struct vault_response *r, void *arg);

static void
kv_write(struct deliver *d)
{
	json_t *body;

	d->step = ST_KV_WRITE;
	if (d->cc->kv_version == 1) {
		d->vop = vault_request(d->env.vault, "PUT", d->cc->kv_path, d->kv_data, on_kv, d);
		return;
	}
	body = json_pack("{s:{s:I}, s:O}", "options", "cas", d->kv_version, "data", d->kv_data);
	d->vop = vault_request(d->env.vault, "POST", d->cc->kv_path, body, on_kv, d);
	json_decref(body);
}

static void
on_kv(struct vault_response *r, void *arg)
{
	struct deliver *d = arg;
	json_t *v;

	d->vop = NULL;
	if (d->step == ST_KV_READ) {
		/* A path never written is version 0 for check-and-set. */
		v = json_object_get(json_object_get(r->data, "metadata"), "version");
		if (r->cls == VAULT_OK && json_is_integer(v))
			d->kv_version = json_integer_value(v);
		else if (r->cls == VAULT_PERMANENT && r->status == 404)
			d->kv_version = 0;
		else {
			finish(d, false, "kv: reading %s: %s", d->cc->kv_path, r->error);
			return;
		}
		kv_write(d);
		return;
	}
	if (r->cls == VAULT_OK) {
		d->step = ST_RELOAD;
		step(d);
		return;
	}
	/* KV v2 answers a check-and-set mismatch with 400: another writer
	 * changed the secret since we read it.  Read again and retry. */
	if (d->cc->kv_version == 2 && r->status == 400 && strstr(r->error, "check-and-set") &&
	    ++d->cas_attempts < KV_CAS_ATTEMPTS) {
		d->step = ST_KV_READ;
		d->vop = vault_request(d->env.vault, "GET", d->cc->kv_path, NULL, on_kv, d);
		return;
	}
	finish(d, false, "kv: writing %s: %s", d->cc->kv_path, r->error);
}

/* ------------------------------------------------------------ reloads */

static void
on_reload(const struct reload_result *res, void *arg)
{
	struct deliver *d = arg;
	const struct conf_reload *rl = &d->cc->reloads[d->reload_i];

	d->rop = NULL;
	d->member = NULL;
	if (!res->ok) {
		if (d->step == ST_ROLLBACK_RELOAD) {
			finish(d, false, "%s; the previous files are back but reload %s failed: %s",
			       d->probe_failure, rl->name, res->message);
			return;
		}
		finish(d, false, "reload %s: %s%s%s", rl->name, res->message,
		       res->output_len ? "; output: " : "", res->output_len ? res->output : "");
		return;
	}
	d->reload_i++;
	step(d);
}

static void
split_argv(const char *cmd, bool shell, char ***out)
{
	char **argv = NULL, *copy, *save = NULL, *tok;
	size_t n = 0;

	if (shell) {
		argv = xcalloc(2, sizeof(*argv));
		argv[0] = xstrdup(cmd);
		*out = argv;
		return;
	}
	copy = xstrdup(cmd);
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		argv = xreallocarray(argv, n + 2, sizeof(*argv));
		argv[n++] = xstrdup(tok);
		argv[n] = NULL;
	}
	free(copy);
	*out = argv;
}

static void
free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* "Name: value" lines into headers (names and values copied). */
static size_t
parse_headers(const char *text, struct http_header **out)
{
	struct http_header *h = NULL;
	const char *p = text, *nl, *colon;
	size_t n = 0;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		colon = memchr(p, ':', (size_t)((nl ? nl : p + strlen(p)) - p));
		if (colon != NULL && colon > p) {
			const char *v = colon + 1;
			size_t vlen = (size_t)((nl ? nl : p + strlen(p)) - v);
			while (vlen > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vlen--;
			}
			while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			h = xreallocarray(h, n + 1, sizeof(*h));
			h[n].name = xstrndup(p, (size_t)(colon - p));
			h[n].value = xstrndup(v, vlen);
			/* Header values (API keys) are never logged; keep them off redirects. */
			h[n].secret = true;
			n++;
		}
		p = nl ? nl + 1 : NULL;
	}
	*out = h;
	return n;
}

static void
start_reload(struct deliver *d)
{
	const struct conf_reload *rl = &d->cc->reloads[d->reload_i];
	struct reload_action a = {0};
	struct reload_env env = {
		.cert_name = d->cc->name, .cert_file = d->cc->cert_path, .key_file = d->cc->key_path,
		.chain_file = d->cc->chain_path, .fullchain_file = d->cc->fullchain_path,
	};
	struct http_header *headers = NULL;
	size_t n_headers = 0, i;
	char **argv = NULL;
	char key[4096];

	a.timeout_ms = (long)rl->timeout * 1000;
	switch (rl->type) {
	case CONF_RELOAD_SIGNAL:
		a.kind = RELOAD_SIGNAL;
		a.signal = rl->signal;
		a.pidfile = rl->pidfile;
		a.unit = rl->pidfile ? NULL : rl->unit;
		a.pidfile_owner = rl->pidfile_uid;
		a.pidfile_owner_set = rl->pidfile_owner_name != NULL;
		break;
	case CONF_RELOAD_SYSTEMD_UNIT:
		a.kind = RELOAD_SYSTEMD_UNIT;
		a.unit = rl->unit;
		a.mode = (enum reload_unit_mode)rl->unit_mode;
		break;
	case CONF_RELOAD_COMMAND:
		a.kind = RELOAD_COMMAND;
		split_argv(rl->command, rl->shell, &argv);
		a.argv = (const char *const *)argv;
		a.shell = rl->shell;
		break;
	case CONF_RELOAD_HTTP:
	default:
		a.kind = RELOAD_HTTP;
		a.http.method = rl->method_name;
		a.http.url = rl->url;
		n_headers = rl->headers ? parse_headers(rl->headers, &headers) : 0;
		a.http.headers = headers;
		a.http.n_headers = n_headers;
		if (d->bodies[d->reload_i] != NULL) {
			a.http.body = d->bodies[d->reload_i];
			a.http.body_len = strlen(d->bodies[d->reload_i]);
		}
		a.http.tls.ca_file = rl->ca_cert;
		a.http.timeout_ms = a.timeout_ms;
		break;
	}
	coalesce_key(rl, key, sizeof(key));
	if (d->env.coalesce != NULL && key[0] != '\0')
		d->member = coalesce_join(d->env.coalesce, rl, &a, &env, on_reload, d);
	else
		reload_start(d->env.reload, &a, &env, on_reload, d, &d->rop);
	free_argv(argv);
	for (i = 0; i < n_headers; i++) {
		free((char *)headers[i].name);
		OPENSSL_cleanse((char *)headers[i].value, strlen(headers[i].value));
		free((char *)headers[i].value);
	}
	free(headers);
}

/* ------------------------------------------------------------ probe */

static void
on_probe(const struct probe_result *res, void *arg)
{
	struct deliver *d = arg;
	struct err e = {{0}};

	d->probe = NULL;
	if (res->outcome == PROBE_OK) {
		finish(d, true, NULL);
		return;
	}
	snprintf(d->probe_failure, sizeof(d->probe_failure), "probe %s: %s", d->cc->probe,
		 res->error.msg);
	/* The consumer does not serve the new set: put the old one back and
	 * make the consumer load it again. */
	if (publish_rollback(d->env.state_dir, d->cc->name, &e) < 0) {
		finish(d, false, "%s; restoring the previous files failed: %s", d->probe_failure,
		       e.msg);
		return;
	}
	d->res.rolled_back = true;
	d->step = ST_ROLLBACK_RELOAD;
	d->reload_i = 0;
	step(d);
}

static void
start_probe(struct deliver *d)
{
	char *host = xstrdup(d->cc->probe), *colon = strrchr(host, ':');
	struct probe_request req = {0};

	*colon = '\0';
	if (host[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	req.host = host;
	req.port = (unsigned)strtoul(colon + 1, NULL, 10);
	req.sni = d->cc->probe_sni;
	req.expect = d->expect;
	req.timeout_ms = (long)d->cc->probe_timeout * 1000;
	req.attempts = d->cc->probe_attempts;
	d->probe = probe_start(d->env.base, &req, on_probe, d);
	free(host);
}

/* ------------------------------------------------------------ driver */

static void
step(struct deliver *d)
{
	switch (d->step) {
	case ST_KV_READ:
		if (d->cc->kv_path == NULL) {
			d->step = ST_RELOAD;
			step(d);
		} else if (d->cc->kv_version == 1) {
			kv_write(d);
		} else {
			d->vop = vault_request(d->env.vault, "GET", d->cc->kv_path, NULL, on_kv, d);
		}
		return;
	case ST_RELOAD:
	case ST_ROLLBACK_RELOAD:
		/* A service that is not running (its pid file is gone) loads the
		 * files when it starts: nothing to signal, nothing to probe. */
		while (d->reload_i < d->cc->n_reloads &&
		       d->cc->reloads[d->reload_i].type == CONF_RELOAD_SIGNAL &&
		       d->cc->reloads[d->reload_i].pidfile != NULL &&
		       access(d->cc->reloads[d->reload_i].pidfile, F_OK) < 0 && errno == ENOENT) {
			d->consumer_absent = true;
			d->reload_i++;
		}
		if (d->reload_i < d->cc->n_reloads) {
			start_reload(d);
			return;
		}
		if (d->step == ST_ROLLBACK_RELOAD) {
			finish(d, false, "%s; the previous files are back in place and reloaded",
			       d->probe_failure);
			return;
		}
		d->step = ST_PROBE;
		/* fall through */
	case ST_PROBE:
		if (d->cc->probe != NULL && !d->consumer_absent) {
			start_probe(d);
			return;
		}
		finish(d, true, NULL);
		return;
	default:
		return;
	}
}

static void
kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	step(arg);
}

struct deliver *
deliver_start(const struct deliver_env *env, const struct conf_cert *cc, X509 *cert,
	      STACK_OF(X509) *chain, EVP_PKEY *key, deliver_done_cb cb, void *arg)
{
	struct deliver *d = xcalloc(1, sizeof(*d));
	struct timeval now = {0, 0};
	struct buf b = BUF_INIT;
	struct err e = {{0}};
	json_t *ctx;
	size_t i;

	d->env = *env;
	d->cc = cc;
	d->cb = cb;
	d->arg = arg;
	d->done_ev = evtimer_new(env->base, fire, d);
	d->kick_ev = evtimer_new(env->base, kick, d);
	d->bodies = xcalloc(cc->n_reloads + 1, sizeof(*d->bodies));
	if (d->done_ev == NULL || d->kick_ev == NULL || !X509_up_ref(cert))
		abort();
	d->expect = cert;
	ctx = render_context(cc, cert, chain, key, &e);
	if (ctx == NULL) {
		finish(d, false, "render: %s", e.msg);
		return d;
	}
	if (cc->n_kv_fields > 0)
		d->kv_data = json_object();
	for (i = 0; i < cc->n_kv_fields; i++) {
		buf_reset(&b);
		if (tmpl_render(cc->kv_fields[i].template.tmpl, ctx, TMPL_ESCAPE_NONE, &b, &e) < 0) {
			finish(d, false, "[cert.%s.kv.%s]: %s", cc->name, cc->kv_fields[i].name, e.msg);
			goto rendered;
		}
		json_object_set_new(d->kv_data, cc->kv_fields[i].key, json_stringn(buf_str(&b), b.len));
	}
	for (i = 0; i < cc->n_reloads; i++) {
		if (cc->reloads[i].type != CONF_RELOAD_HTTP || cc->reloads[i].body.tmpl == NULL)
			continue;
		buf_reset(&b);
		if (tmpl_render(cc->reloads[i].body.tmpl, ctx, cc->reloads[i].body_escape, &b, &e) < 0) {
			finish(d, false, "[cert.%s.reload.%s] body: %s", cc->name, cc->reloads[i].name,
			       e.msg);
			goto rendered;
		}
		d->bodies[i] = xstrdup(buf_str(&b));
	}
rendered:
	buf_free_secret(&b);
	render_context_free(ctx);
	if (d->step == ST_DONE)
		return d;
	d->step = ST_KV_READ;
	/* Start from the loop, so that nothing completes inside deliver_start. */
	d->res.ok = false;
	evtimer_add(d->kick_ev, &now);
	return d;
}

static void
wipe_json_strings(json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
}

void
deliver_cancel(struct deliver *d)
{
	size_t i;

	if (d == NULL)
		return;
	vault_cancel(d->vop);
	reload_cancel(d->rop);
	coalesce_leave(d->member);
	probe_cancel(d->probe);
	if (d->kv_data != NULL) {
		wipe_json_strings(d->kv_data);
		json_decref(d->kv_data);
	}
	for (i = 0; i < d->cc->n_reloads; i++) {
		if (d->bodies[i] != NULL)
			OPENSSL_cleanse(d->bodies[i], strlen(d->bodies[i]));
		free(d->bodies[i]);
	}
	free(d->bodies);
	X509_free(d->expect);
	event_free(d->done_ev);
	event_free(d->kick_ev);
	free(d);
}
