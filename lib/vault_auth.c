/*
 * vault_auth.c — the Vault client's token: the login methods, the secret
 * input files they read, and the token's lifecycle.
 *
 * Login methods (one login at a time; user requests wait in vault.c):
 *   token       VAULT_TOKEN (read once, by vault_new) or token_file, re-read
 *               whenever its identity (inode, size, mtime, ctime) changes;
 *               "logging in" is GET auth/token/lookup-self with the
 *               candidate, which tells its TTL and whether it is renewable
 *               (a root token has TTL 0: it never expires, nothing to renew;
 *               a token without the default policy may not look itself up:
 *               it is used as it is, without renewals)
 *   approle     POST auth/<mount>/login {role_id, secret_id}; a wrapped
 *               secret ID is first unwrapped (POST sys/wrapping/unwrap with
 *               the wrapping token as X-Vault-Token, no body)
 *   cert        POST auth/<mount>/login {"name"} over a fresh connection, so
 *               that a client certificate renewed on disk is the one shown
 *   kubernetes, jwt
 *               POST auth/<mount>/login {role, jwt}, the JWT read from
 *               jwt_file at every login (projected tokens rotate)
 *
 * Secret input files (token, secret ID, JWT) must be regular files owned by
 * us or root with no permission bits for group or others; role_id_file is
 * not secret and only has to be a regular file.  Their contents are trimmed
 * of surrounding whitespace and must be printable ASCII (they end up in a
 * header or a JSON body).  A missing file is transient (an orchestrator may
 * not have written it yet); any other problem denies the login.
 *
 * The secret ID is kept in memory, wiped on free, only when the file cannot
 * be read again: remove_secret_id_file (deleted once read), or a wrapped
 * secret ID (the wrapping token in the file is single-use; what is kept is
 * the unwrapped secret ID).  Re-logins use the kept copy unless the file has
 * changed (a new one was delivered).  When Vault refuses a kept secret ID
 * (it was single-use, or expired), it is dropped and the login is denied
 * with a message that says a new secret ID must be delivered.  Otherwise the
 * file is re-read at every login and nothing is kept.
 *
 * Lifecycle of a token with a TTL: renew-self at 2/3 of it, asking for the
 * TTL it was issued with.  A renewal that comes back shorter (the max TTL
 * is near), a token that is not renewable, or a renewal refused (4xx) leads
 * to a login well before expiry (login methods) or, for the token method,
 * to forgetting the token at expiry, so that the file is read again.  A
 * renewal that fails transiently is retried at a third of what is left.  A
 * login in the background keeps the old token in use until the new one
 * arrives.  Re-login is internal to the client: nothing is re-issued.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "vault.h"
#include "vault_int.h"
#include "xalloc.h"

#define CRED_MAX (64 * 1024)     /* bytes read from a credential file */
#define REDACT_MIN 8             /* shorter secrets would redact ordinary words */
#define RELOGIN_RETRY_MS 30000   /* a failed background login, at most this apart */
#define K8S_JWT_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"

enum timer_action {
	T_NONE,
	T_RENEW,
	T_RELOGIN,
	T_EXPIRE,
};

struct file_id {
	bool set;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct vault_auth {
	const struct vault_auth_config *cfg;
	const char *method;           /* "token", "approle", ... for messages */
	char *mount_path;             /* auth/<mount> */
	char *login_path;             /* auth/<mount>/login */
	const char *jwt_file;

	char *token;                  /* in use; NULL: a login must come first */
	uint64_t gen;                 /* counts tokens adopted */
	int64_t expire_ms;            /* monotonic; 0: never */
	int64_t increment;            /* seconds asked for at renew-self */
	bool renewable;

	char *env_token;              /* VAULT_TOKEN at vault_new */
	struct file_id token_fid;     /* token_file as last read */
	char *candidate;              /* token method: being looked up */
	struct file_id cand_fid;

	char *sid;                    /* secret ID or wrapping token, when kept */
	bool sid_wrapped;             /* sid is still the wrapping token */
	bool sid_from_memory;         /* this login uses a kept copy */
	bool sid_consumed;            /* we removed the file */
	struct file_id sid_fid;       /* of the file sid came from */
	char *role_id;

	bool login_running;
	char *relogin_why;            /* for the RELOGIN event at the next login */
	struct vault_op *step;        /* login step in flight */
	struct event *kick;           /* starts a login from the loop */

	struct event *timer;
	enum timer_action action;
	struct vault_op *renew;
};

static void login_begin(struct vault *v);

/* ------------------------------------------------------------ helpers */

static void
wipe_str(char **s)
{
	if (*s != NULL)
		xfree_secret(*s, strlen(*s));
	*s = NULL;
}

static void
fid_from(struct file_id *f, const struct stat *st)
{
	f->set = true;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime = st->st_mtim;
	f->ctime = st->st_ctim;
}

static bool
fid_same(const struct file_id *f, const struct stat *st)
{
	return f->set && f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
	    f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	    f->ctime.tv_sec == st->st_ctim.tv_sec && f->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Trimmed copy of s[0..n) when it is one printable ASCII word. */
static char *
cred_value(const char *s, size_t n)
{
	size_t i;

	while (n > 0 && strchr(" \t\r\n", *s) != NULL) {
		s++;
		n--;
	}
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		n--;
	if (n == 0)
		return NULL;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return NULL;
	return xstrndup(s, n);
}

/* Read a credential file (see the top of the file).  key names it as the
 * configuration does.  Returns 0 and *out, or a negative errno with e set
 * (never quoting the content). */
static int
read_cred(const char *key, const char *path, bool secret, char **out, struct file_id *fid,
	  struct err *e)
{
	struct buf b = BUF_INIT;
	struct stat st;
	int rc;

	if (stat(path, &st) < 0)
		return err_set(e, errno, "%s %s: %s", key, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, EINVAL, "%s %s: not a regular file", key, path);
	if (secret && (st.st_mode & 077) != 0)
		return err_set(e, EPERM,
			       "%s %s: mode %04o gives group or others access to a secret; "
			       "refusing to use it (chmod 600)",
			       key, path, (unsigned)(st.st_mode & 07777));
	if (secret && st.st_uid != geteuid() && st.st_uid != 0)
		return err_set(e, EPERM, "%s %s: owned by uid %u, neither us (uid %u) nor root",
			       key, path, (unsigned)st.st_uid, (unsigned)geteuid());
	/* Room for all of it up front: a growing buffer leaves copies. */
	buf_reserve(&b, CRED_MAX);
	rc = fsutil_read_file(path, CRED_MAX, &b, e);
	if (rc < 0) {
		err_prefix(e, -rc, "%s", key);
		goto out;
	}
	*out = cred_value(b.data != NULL ? b.data : "", b.len);
	if (*out == NULL) {
		rc = err_set(e, EINVAL, "%s %s: %s", key, path,
			     b.len == 0 ? "empty" : "not a single word of printable ASCII");
		goto out;
	}
	if (fid != NULL)
		fid_from(fid, &st);
out:
	buf_free_secret(&b);
	return rc;
}

static void
schedule(struct vault_auth *a, enum timer_action action, int64_t ms)
{
	struct timeval tv;

	evtimer_del(a->timer);
	a->action = action;
	if (action == T_NONE)
		return;
	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	evtimer_add(a->timer, &tv);
}

/* Forget the token: the next request waits for a login. */
static void
token_drop(struct vault *v)
{
	struct vault_auth *a = v->auth;

	wipe_str(&a->token);
	schedule(a, T_NONE, 0);
	if (a->renew != NULL) {
		vault_cancel(a->renew);
		a->renew = NULL;
	}
}

static int64_t
remaining_ms(const struct vault_auth *a)
{
	return a->expire_ms == 0 ? INT64_MAX : a->expire_ms - vault_now_ms();
}

static json_int_t
jint(const json_t *o, const char *key)
{
	const json_t *j = json_object_get(o, key);

	return json_is_integer(j) ? json_integer_value(j) : 0;
}

static void
set_why(struct vault_auth *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_why(struct vault_auth *a, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(a->relogin_why);
	a->relogin_why = buf_steal(&b);
}

/* ------------------------------------------------------------ lifecycle */

/* Plan what happens to a token with ttl seconds left. */
static void
plan(struct vault *v, int64_t ttl, bool capped)
{
	struct vault_auth *a = v->auth;
	int64_t at = ttl * 1000 * 2 / 3;

	a->expire_ms = ttl > 0 ? vault_now_ms() + ttl * 1000 : 0;
	if (ttl <= 0) {
		schedule(a, T_NONE, 0);       /* never expires */
	} else if (a->renewable && !capped) {
		schedule(a, T_RENEW, at);
	} else if (a->cfg->method != VAULT_AUTH_TOKEN) {
		set_why(a, "the token %s", capped ? "reached its max TTL" : "is not renewable");
		schedule(a, T_RELOGIN, at);
	} else {
		schedule(a, T_EXPIRE, ttl * 1000);
	}
}

static void
adopt(struct vault *v, char *token, int64_t ttl, bool renewable, int64_t increment,
      const char *source)
{
	struct vault_auth *a = v->auth;

	token_drop(v);
	a->token = token;
	a->gen++;
	a->renewable = renewable;
	a->increment = increment > 0 ? increment : ttl;
	a->login_running = false;
	plan(v, ttl, false);
	v->stats.logins++;
	if (ttl > 0)
		vault_emit(v, VAULT_EV_LOGIN, "%s: token ttl %llds, %s", source, (long long)ttl,
			   renewable ? "renewable" : "not renewable");
	else
		vault_emit(v, VAULT_EV_LOGIN, "%s: token never expires", source);
	if (v->freed)
		return;
	vault_login_done(v, NULL);
}

/* The login failed: report it, tell the waiting requests.  from: the
 * answer of the step that failed (status, address, Retry-After), or NULL
 * when nothing was sent. */
static void
login_fail(struct vault *v, enum vault_class cls, const struct vault_response *from,
	   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
login_fail(struct vault *v, enum vault_class cls, const struct vault_response *from,
	   const char *fmt, ...)
{
	struct vault_auth *a = v->auth;
	struct vault_response r;
	struct buf b = BUF_INIT;
	int64_t left;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	memset(&r, 0, sizeof(r));
	r.cls = cls;
	r.status = from != NULL ? from->status : 0;
	r.retry_after = from != NULL ? from->retry_after : -1;
	r.address = from != NULL ? from->address : NULL;
	vault_set_error(v, &r, "%s", buf_str(&b));
	buf_free(&b);
	a->login_running = false;
	wipe_str(&a->candidate);
	if (a->token != NULL) {
		/* A background login: the old token serves while it lasts. */
		left = remaining_ms(a);
		if (left > 2000) {
			set_why(a, "retrying the failed login");
			schedule(a, T_RELOGIN,
				 left / 2 < RELOGIN_RETRY_MS ? left / 2 : RELOGIN_RETRY_MS);
		} else {
			token_drop(v);
		}
	}
	vault_emit(v, VAULT_EV_LOGIN_FAILED, "%s", r.error);
	if (v->freed)
		return;
	vault_login_done(v, &r);
}

static void
on_renew(struct vault_response *r, void *arg)
{
	struct vault *v = arg;
	struct vault_auth *a = v->auth;
	const json_t *auth = json_object_get(r->json, "auth");
	int64_t ttl, left;
	bool capped;

	a->renew = NULL;
	if (r->cls == VAULT_OK && json_is_object(auth)) {
		ttl = (int64_t)jint(auth, "lease_duration");
		capped = ttl < a->increment;
		a->renewable = json_is_true(json_object_get(auth, "renewable"));
		v->stats.renewals++;
		plan(v, ttl, capped);
		vault_emit(v, VAULT_EV_RENEWED, "token ttl %llds%s", (long long)ttl,
			   capped ? ", capped by its max TTL" : "");
		return;
	}
	if (r->cls == VAULT_TRANSIENT || r->cls == VAULT_OK) {
		left = remaining_ms(a);
		if (left > 3000) {
			schedule(a, T_RENEW, left / 3);
			return;
		}
	}
	if (a->cfg->method == VAULT_AUTH_TOKEN) {
		/* Nothing else to do with it: read the file again. */
		token_drop(v);
		return;
	}
	set_why(a, "token renewal failed: %s", r->error);
	vault_auth_login(v);
}

static void
renew_start(struct vault *v)
{
	struct vault_auth *a = v->auth;
	struct vault_iop o = {0};
	struct buf body = BUF_INIT;

	buf_printf(&body, "{\"increment\":\"%llds\"}", (long long)a->increment);
	o.method = "POST";
	o.path = "auth/token/renew-self";
	o.body = &body;
	o.token = a->token;
	a->renew = vault_iop_start(v, &o, on_renew, v);
	buf_free(&body);
}

static void
timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct vault *v = arg;
	struct vault_auth *a = v->auth;
	enum timer_action action = a->action;

	(void)fd;
	(void)what;
	vault_enter(v);
	a->action = T_NONE;
	switch (action) {
	case T_RENEW:
		if (a->token != NULL && a->renew == NULL)
			renew_start(v);
		break;
	case T_RELOGIN:
		vault_auth_login(v);
		break;
	case T_EXPIRE:
		token_drop(v);
		break;
	case T_NONE:
		break;
	}
	vault_leave(v);
}

/* ------------------------------------------------------------ login steps */

static enum vault_class
cred_errno_class(int rc)
{
	return rc == -ENOENT ? VAULT_TRANSIENT : VAULT_DENIED;
}

static void
on_login(struct vault_response *r, void *arg)
{
	struct vault *v = arg;
	struct vault_auth *a = v->auth;
	const json_t *auth = json_object_get(r->json, "auth");
	const json_t *tok = json_object_get(auth, "client_token");
	const char *hint = "";
	char *source;

	a->step = NULL;
	if (r->cls == VAULT_OK && json_is_string(tok) && json_string_length(tok) > 0) {
		if (!(a->cfg->remove_secret_id_file || a->cfg->secret_id_wrapped))
			wipe_str(&a->sid);
		source = xasprintf("%s login at %s", a->method, a->mount_path);
		adopt(v, xstrdup(json_string_value(tok)), (int64_t)jint(auth, "lease_duration"),
		      json_is_true(json_object_get(auth, "renewable")),
		      (int64_t)jint(auth, "lease_duration"), source);
		free(source);
		return;
	}
	if (r->cls == VAULT_OK) {
		login_fail(v, VAULT_TRANSIENT, r, "%s: the login response has no auth.client_token",
			   a->login_path);
		return;
	}
	if (r->cls != VAULT_TRANSIENT && a->cfg->method == VAULT_AUTH_APPROLE) {
		/* A kept secret ID that Vault no longer takes is of no use. */
		if (a->sid_from_memory && a->sid_consumed)
			hint = " (the secret ID file was consumed: re-login is impossible until "
			       "a new secret ID is written to it)";
		else if (a->sid_from_memory)
			hint = " (the kept secret ID was refused; the file is read again at the "
			       "next login)";
		wipe_str(&a->sid);
	}
	if (r->cls == VAULT_TRANSIENT)
		login_fail(v, VAULT_TRANSIENT, r, "%s", r->error);
	else
		login_fail(v, VAULT_DENIED, r, "%s login at %s refused: %s%s", a->method,
			   a->mount_path, r->error, hint);
}

static void
login_post(struct vault *v, const struct buf *body, bool fresh)
{
	struct vault_auth *a = v->auth;
	struct vault_iop o = {0};

	o.method = "POST";
	o.path = a->login_path;
	o.body = body;
	o.fresh_connect = fresh;
	a->step = vault_iop_start(v, &o, on_login, v);
}

static void
on_lookup(struct vault_response *r, void *arg)
{
	struct vault *v = arg;
	struct vault_auth *a = v->auth;
	bool blind = r->cls == VAULT_DENIED;
	char *token, *what;

	a->step = NULL;
	if (r->cls == VAULT_TRANSIENT || (r->cls == VAULT_OK && !json_is_object(r->data))) {
		login_fail(v, VAULT_TRANSIENT, r, "%s",
			   r->cls == VAULT_OK ? "auth/token/lookup-self: no data in the response"
					      : r->error);
		return;
	}
	if (r->cls != VAULT_OK && !blind) {
		login_fail(v, VAULT_DENIED, r, "auth/token/lookup-self with the token from %s: %s",
			   a->cfg->token_file != NULL ? a->cfg->token_file : "VAULT_TOKEN",
			   r->error);
		return;
	}
	/* 403: a token without the default policy may not look itself up
	 * (nor renew itself), yet be good for the requests.  Used as it is,
	 * with no lifecycle; a request it cannot make says so itself. */
	token = a->candidate;
	a->candidate = NULL;
	a->token_fid = a->cand_fid;
	what = xasprintf("token from %s%s%s", a->cfg->token_file != NULL ? "token_file " : "",
			 a->cfg->token_file != NULL ? a->cfg->token_file : "VAULT_TOKEN",
			 blind ? " (lookup-self denied, TTL unknown)" : "");
	if (blind)
		adopt(v, token, 0, false, 0, what);
	else
		adopt(v, token, (int64_t)jint(r->data, "ttl"),
		      json_is_true(json_object_get(r->data, "renewable")),
		      (int64_t)jint(r->data, "creation_ttl"), what);
	free(what);
}

static void
login_token(struct vault *v)
{
	struct vault_auth *a = v->auth;
	struct vault_iop o = {0};
	struct err e = {{0}};
	int rc;

	wipe_str(&a->candidate);
	memset(&a->cand_fid, 0, sizeof(a->cand_fid));
	if (a->cfg->token_file != NULL) {
		rc = read_cred("token_file", a->cfg->token_file, true, &a->candidate, &a->cand_fid,
			       &e);
		if (rc < 0) {
			login_fail(v, cred_errno_class(rc), NULL, "%s", e.msg);
			return;
		}
	} else if (a->env_token != NULL) {
		a->candidate = xstrdup(a->env_token);
	} else {
		login_fail(v, VAULT_DENIED, NULL,
			   "token auth: VAULT_TOKEN is not set (or not a valid token) and no "
			   "token_file is configured");
		return;
	}
	o.method = "GET";
	o.path = "auth/token/lookup-self";
	o.token = a->candidate;
	a->step = vault_iop_start(v, &o, on_lookup, v);
}

static void
approle_post(struct vault *v)
{
	struct vault_auth *a = v->auth;
	struct buf body = BUF_INIT;
	size_t n = strlen(a->role_id) + (a->sid != NULL ? strlen(a->sid) : 0);

	buf_reserve(&body, 64 + 6 * n);    /* \u00XX at worst: never regrown */
	buf_puts(&body, "{\"role_id\":");
	vault_json_str(&body, a->role_id);
	if (a->sid != NULL) {
		buf_puts(&body, ",\"secret_id\":");
		vault_json_str(&body, a->sid);
	}
	buf_putc(&body, '}');
	login_post(v, &body, false);
	buf_free_secret(&body);
}

static void
on_unwrap(struct vault_response *r, void *arg)
{
	struct vault *v = arg;
	struct vault_auth *a = v->auth;
	const json_t *sid = json_object_get(r->data, "secret_id");
	const char *file = a->cfg->secret_id_file;

	a->step = NULL;
	if (r->cls == VAULT_OK && json_is_string(sid) && json_string_length(sid) > 0) {
		wipe_str(&a->sid);
		a->sid = xstrdup(json_string_value(sid));
		a->sid_wrapped = false;
		approle_post(v);
		return;
	}
	if (r->cls == VAULT_TRANSIENT) {
		/* The wrapping token was not used: keep it for the next try. */
		login_fail(v, VAULT_TRANSIENT, r, "%s", r->error);
		return;
	}
	wipe_str(&a->sid);
	if (r->cls == VAULT_OK)
		login_fail(v, VAULT_DENIED, r,
			   "unwrapping the secret ID from %s: the wrapped response has no "
			   "data.secret_id", file);
	else
		login_fail(v, VAULT_DENIED, r, "unwrapping the secret ID from %s: %s", file,
			   r->error);
}

/* Set a->sid from the file or the kept copy.  Returns 0, or a negative
 * errno with e set. */
static int
secret_id_get(struct vault_auth *a, struct err *e)
{
	const char *file = a->cfg->secret_id_file;
	struct file_id fid = {0};
	struct stat st;
	char *s = NULL;
	int rc;

	a->sid_from_memory = false;
	if (stat(file, &st) == 0 && !(a->sid != NULL && fid_same(&a->sid_fid, &st))) {
		rc = read_cred("secret_id_file", file, true, &s, &fid, e);
		if (rc < 0)
			return rc;
		wipe_str(&a->sid);
		a->sid = s;
		a->sid_fid = fid;
		a->sid_wrapped = a->cfg->secret_id_wrapped;
		if (a->cfg->remove_secret_id_file) {
			if (unlink(file) < 0)
				return err_set(e, errno,
					       "secret_id_file %s: cannot remove it as "
					       "remove_secret_id_file asks: %s",
					       file, strerror(errno));
			a->sid_consumed = true;
		}
		return 0;
	}
	if (a->sid != NULL) {
		a->sid_from_memory = true;
		return 0;
	}
	if (a->sid_consumed)
		return err_set(e, EPERM,
			       "secret_id_file %s was consumed (remove_secret_id_file) and no "
			       "secret ID is left: re-login is impossible until a new one is "
			       "written there", file);
	return err_set(e, errno, "secret_id_file %s: %s", file, strerror(errno));
}

static void
login_approle(struct vault *v)
{
	struct vault_auth *a = v->auth;
	struct vault_iop o = {0};
	struct err e = {{0}};
	int rc;

	free(a->role_id);
	a->role_id = NULL;
	if (a->cfg->role_id_file == NULL) {
		login_fail(v, VAULT_DENIED, NULL, "approle auth: role_id_file is not configured");
		return;
	}
	rc = read_cred("role_id_file", a->cfg->role_id_file, false, &a->role_id, NULL, &e);
	if (rc == 0 && a->cfg->secret_id_file != NULL)
		rc = secret_id_get(a, &e);
	if (rc < 0) {
		login_fail(v, cred_errno_class(rc), NULL, "%s", e.msg);
		return;
	}
	if (a->sid == NULL || !a->sid_wrapped) {
		approle_post(v);
		return;
	}
	o.method = "POST";
	o.path = "sys/wrapping/unwrap";
	o.token = a->sid;
	a->step = vault_iop_start(v, &o, on_unwrap, v);
}

static void
login_jwt(struct vault *v)
{
	struct vault_auth *a = v->auth;
	struct buf body = BUF_INIT;
	struct err e = {{0}};
	char *jwt = NULL;
	int rc;

	if (a->cfg->role == NULL || a->jwt_file == NULL) {
		login_fail(v, VAULT_DENIED, NULL, "%s auth: %s is not configured", a->method,
			   a->cfg->role == NULL ? "role" : "jwt_file");
		return;
	}
	/* The kubelet projects service-account tokens 0644 (0640 with an
	 * fsGroup) and owns them: the file's mode is not ours to demand.
	 * A JWT certd is handed by other means must be private. */
	rc = read_cred("jwt_file", a->jwt_file, a->cfg->method != VAULT_AUTH_KUBERNETES, &jwt, NULL,
		       &e);
	if (rc < 0) {
		login_fail(v, cred_errno_class(rc), NULL, "%s", e.msg);
		return;
	}
	buf_reserve(&body, 64 + 6 * (strlen(a->cfg->role) + strlen(jwt)));
	buf_puts(&body, "{\"role\":");
	vault_json_str(&body, a->cfg->role);
	buf_puts(&body, ",\"jwt\":");
	vault_json_str(&body, jwt);
	buf_putc(&body, '}');
	wipe_str(&jwt);
	login_post(v, &body, false);
	buf_free_secret(&body);
}

static void
login_cert(struct vault *v)
{
	struct vault_auth *a = v->auth;
	struct buf body = BUF_INIT;

	buf_putc(&body, '{');
	if (a->cfg->cert_role != NULL) {
		buf_puts(&body, "\"name\":");
		vault_json_str(&body, a->cfg->cert_role);
	}
	buf_putc(&body, '}');
	login_post(v, &body, true);
	buf_free(&body);
}

static void
login_begin(struct vault *v)
{
	switch (v->auth->cfg->method) {
	case VAULT_AUTH_TOKEN:
		login_token(v);
		break;
	case VAULT_AUTH_APPROLE:
		login_approle(v);
		break;
	case VAULT_AUTH_CERT:
		login_cert(v);
		break;
	case VAULT_AUTH_KUBERNETES:
	case VAULT_AUTH_JWT:
		login_jwt(v);
		break;
	default:
		login_fail(v, VAULT_DENIED, NULL, "unknown auth method %d",
			   (int)v->auth->cfg->method);
		break;
	}
}

static void
kick_event(evutil_socket_t fd, short what, void *arg)
{
	struct vault *v = arg;
	struct vault_auth *a = v->auth;
	char *why = a->relogin_why;

	(void)fd;
	(void)what;
	vault_enter(v);
	a->relogin_why = NULL;
	if (why != NULL)
		vault_emit(v, VAULT_EV_RELOGIN, "%s", why);
	free(why);
	if (!v->freed)
		login_begin(v);
	vault_leave(v);
}

/* ------------------------------------------------------------ vault_int.h */

int
vault_auth_new(struct vault *v)
{
	struct vault_auth *a = xcalloc(1, sizeof(*a));
	static const char *const names[] = {
	    [VAULT_AUTH_TOKEN] = "token",         [VAULT_AUTH_APPROLE] = "approle",
	    [VAULT_AUTH_CERT] = "cert",           [VAULT_AUTH_KUBERNETES] = "kubernetes",
	    [VAULT_AUTH_JWT] = "jwt",
	};
	const char *mount, *env;
	size_t n;

	v->auth = a;
	a->cfg = &v->cfg->auth;
	a->method = (unsigned)a->cfg->method < sizeof(names) / sizeof(names[0])
			? names[a->cfg->method]
			: "unknown";
	/* "approle", "auth/approle" or "/approle/" all name auth/approle. */
	mount = a->cfg->mount != NULL ? a->cfg->mount : a->method;
	while (*mount == '/')
		mount++;
	if (strncmp(mount, "auth/", 5) == 0)
		mount += 5;
	n = strlen(mount);
	while (n > 0 && mount[n - 1] == '/')
		n--;
	a->mount_path = xasprintf("auth/%.*s", (int)n, mount);
	a->login_path = xasprintf("%s/login", a->mount_path);
	a->jwt_file = a->cfg->jwt_file;
	if (a->jwt_file == NULL && a->cfg->method == VAULT_AUTH_KUBERNETES)
		a->jwt_file = K8S_JWT_FILE;
	if (a->cfg->method == VAULT_AUTH_TOKEN && a->cfg->token_file == NULL &&
	    (env = getenv("VAULT_TOKEN")) != NULL)
		a->env_token = cred_value(env, strlen(env));
	a->kick = event_new(v->base, -1, 0, kick_event, v);
	a->timer = event_new(v->base, -1, 0, timer_event, v);
	if (a->kick == NULL || a->timer == NULL)
		abort();
	return 0;
}

void
vault_auth_stop(struct vault *v)
{
	struct vault_auth *a = v->auth;

	/* vault_free has cancelled every op, ours included. */
	a->step = NULL;
	a->renew = NULL;
	evtimer_del(a->kick);
	evtimer_del(a->timer);
}

void
vault_auth_free(struct vault *v)
{
	struct vault_auth *a = v->auth;

	if (a == NULL)
		return;
	event_free(a->kick);
	event_free(a->timer);
	wipe_str(&a->token);
	wipe_str(&a->env_token);
	wipe_str(&a->candidate);
	wipe_str(&a->sid);
	free(a->role_id);
	free(a->relogin_why);
	free(a->login_path);
	free(a->mount_path);
	free(a);
	v->auth = NULL;
}

const char *
vault_auth_token(struct vault *v, uint64_t *gen)
{
	struct vault_auth *a = v->auth;
	struct stat st;

	/* A rewritten token file: look the new token up before using it.  A
	 * file that is gone for a moment (being replaced) changes nothing. */
	if (a->token != NULL && a->cfg->method == VAULT_AUTH_TOKEN && a->cfg->token_file != NULL &&
	    stat(a->cfg->token_file, &st) == 0 && !fid_same(&a->token_fid, &st))
		token_drop(v);
	if (a->token == NULL)
		return NULL;
	*gen = a->gen;
	return a->token;
}

void
vault_auth_login(struct vault *v)
{
	struct vault_auth *a = v->auth;
	struct timeval now = {0, 0};

	if (a->login_running || v->freed)
		return;
	a->login_running = true;
	evtimer_add(a->kick, &now);
}

bool
vault_auth_denied(struct vault *v, uint64_t gen, const char *path)
{
	struct vault_auth *a = v->auth;
	struct stat st;

	if (a->token != NULL && gen != a->gen)
		return true;            /* a newer token is there already */
	if (a->cfg->method == VAULT_AUTH_TOKEN) {
		/* Only a different token can help. */
		if (a->cfg->token_file == NULL || stat(a->cfg->token_file, &st) < 0 ||
		    fid_same(&a->token_fid, &st))
			return false;
		token_drop(v);
		return true;
	}
	token_drop(v);
	if (!a->login_running)
		set_why(a, "Vault refused the token on %s", path);
	vault_auth_login(v);
	return true;
}

static void
redact(struct buf *b, const char *secret)
{
	static const char mark[] = "[redacted]";
	size_t n = secret != NULL ? strlen(secret) : 0, at;
	struct buf out = BUF_INIT;
	const char *p, *hit;

	if (n < REDACT_MIN || b->data == NULL || strstr(b->data, secret) == NULL)
		return;
	for (p = b->data; (hit = strstr(p, secret)) != NULL; p = hit + n) {
		at = (size_t)(hit - p);
		buf_append(&out, p, at);
		buf_puts(&out, mark);
	}
	buf_puts(&out, p);
	buf_free_secret(b);
	*b = out;
}

void
vault_auth_redact(const struct vault *v, struct buf *b)
{
	const struct vault_auth *a = v->auth;

	if (a == NULL)
		return;
	redact(b, a->token);
	redact(b, a->candidate);
	redact(b, a->env_token);
	redact(b, a->sid);
}
