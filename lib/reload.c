/*
 * reload.c — reload actions: the op life cycle, signals to a pid file's
 * pid, HTTP requests, and the public API.  Commands are in
 * reload_command.c, everything over D-Bus in reload_systemd.c; what they
 * share is in reload_int.h.
 *
 * Owns, per struct reload_ctx, the ops in flight.
 *
 * Invariants:
 *  - Every result goes through reload_op_finish(), which only records it
 *    and activates the op's zero-timeout event; deliver() runs from that
 *    event and is the only place a user callback is called.  So no
 *    callback runs inside reload_start(), inside sd_bus_process() (a
 *    callback may free the context, and with it the bus), or twice.
 *  - An op leaves the list before its callback runs, so the callback may
 *    start, cancel, or free the context.
 *  - A pid file is read when the action starts, every time: a restarted
 *    service has a new pid.  It is opened without following a symlink and
 *    without blocking (a FIFO), and must be a regular file owned by root
 *    or the configured owner, not writable by group or others, holding a
 *    decimal pid > 1: whoever can write it chooses what certd signals.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "reload.h"
#include "reload_int.h"
#include "xalloc.h"

#define PIDFILE_MAX 64            /* "4194304\n" with room to spare */
#define BODY_EXCERPT 200

/* ------------------------------------------------------------ helpers */

void
reload_fmt_ms(char *dst, size_t len, long ms)
{
	if (ms % 1000 == 0)
		snprintf(dst, len, "%lds", ms / 1000);
	else
		snprintf(dst, len, "%ldms", ms);
}

struct timeval
reload_tv_ms(long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	return tv;
}

static const struct {
	const char *name;
	int signo;
} signals[] = {
	{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
	{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
	{"CONT", SIGCONT}, {"WINCH", SIGWINCH},
};

int
reload_signal_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return -EINVAL;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (strcasecmp(name, signals[i].name) == 0)
			return signals[i].signo;
	return -EINVAL;
}

const char *
reload_signal_abbrev(int signo)
{
	const char *s = sigabbrev_np(signo);

	return s != NULL ? s : "?";
}

/* ------------------------------------------------------------ op life */

static void on_defer(evutil_socket_t fd, short what, void *arg);

static struct reload_op *
op_new(struct reload_ctx *ctx, enum reload_kind kind, reload_done_cb cb, void *arg)
{
	struct reload_op *op = xcalloc(1, sizeof(*op));

	op->ctx = ctx;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->pid = -1;
	op->pidfd = -1;
	op->out_fd = -1;
	op->err_fd = -1;
	op->defer = event_new(ctx->base, -1, 0, on_defer, op);
	LIST_INSERT_HEAD(&ctx->ops, op, entry);
	return op;
}

/* Release everything but the result and the struct itself. */
static void
op_release(struct reload_op *op)
{
	if (op->defer != NULL)
		event_free(op->defer);
	if (op->timer != NULL)
		event_free(op->timer);
	if (op->child_ev != NULL)
		event_free(op->child_ev);
	if (op->out_ev != NULL)
		event_free(op->out_ev);
	op->defer = op->timer = op->child_ev = op->out_ev = NULL;
	if (op->pidfd >= 0)
		close(op->pidfd);
	if (op->out_fd >= 0)
		close(op->out_fd);
	if (op->err_fd >= 0)
		close(op->err_fd);
	op->pidfd = op->out_fd = op->err_fd = -1;
	op->call = sd_bus_slot_unref(op->call);
	if (op->hop != NULL)
		http_cancel(op->hop);
	op->hop = NULL;
}

void
reload_op_free(struct reload_op *op)
{
	LIST_REMOVE(op, entry);
	op_release(op);
	buf_free(&op->msg);
	buf_free(&op->out);
	free(op->unit);
	free(op->job_path);
	free(op->exe);
	free(op);
}

void
reload_op_finish(struct reload_op *op, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (op->finished)
		return;
	op->finished = true;
	op->ok = ok;
	va_start(ap, fmt);
	buf_vprintf(&op->msg, fmt, ap);
	va_end(ap);
	if (op->timer != NULL)
		event_del(op->timer);
	op->call = sd_bus_slot_unref(op->call);
	event_active(op->defer, EV_TIMEOUT, 1);
}

static void
deliver(struct reload_op *op)
{
	struct reload_result res;
	reload_done_cb cb = op->cb;

	LIST_REMOVE(op, entry);
	op_release(op);
	reload_systemd_idle(op->ctx);
	res.ok = op->ok;
	res.message = buf_str(&op->msg);
	res.output = buf_str(&op->out);
	res.output_len = op->out.len;
	res.output_truncated = op->truncated;
	op->in_cb = true;
	/* The op is off the list: the callback may free the context. */
	cb(&res, op->arg);
	buf_free(&op->msg);
	buf_free(&op->out);
	free(op->unit);
	free(op->job_path);
	free(op->exe);
	free(op);
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver(arg);
}

/* ------------------------------------------------------------ signal */

static int
parse_pid(const char *s, size_t len, pid_t *out)
{
	size_t i = 0;
	long v = 0;

	/* Digits, then at most trailing white space ("1234\n"). */
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (s[i] - '0');
		if (v > INT_MAX)
			return -ERANGE;
		i++;
	}
	if (i == 0)
		return -EINVAL;
	for (; i < len; i++)
		if (s[i] != '\n' && s[i] != '\r' && s[i] != ' ' && s[i] != '\t')
			return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

/* The pid in path, after checking what kind of file it is and who may
 * have written it: a pid file anyone could write would let them pick what
 * certd signals. */
static int
read_pidfile(const char *path, uid_t owner, bool owner_set, pid_t *out, struct err *e)
{
	char data[PIDFILE_MAX + 1];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int fd = -1, r;

	/* O_NONBLOCK: a FIFO in its place must not hang the loop. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		r = err_set(e, errno, "pid file %s: %s", path,
			    errno == ELOOP ? "is a symbolic link" : strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = err_set(e, errno, "pid file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_set(e, EINVAL, "pid file %s: not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0 && !(owner_set && st.st_uid == owner)) {
		if (owner_set)
			r = err_set(e, EPERM, "pid file %s: owned by uid %u, not root or uid %u",
				    path, (unsigned)st.st_uid, (unsigned)owner);
		else
			r = err_set(e, EPERM, "pid file %s: owned by uid %u, not root", path,
				    (unsigned)st.st_uid);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		r = err_set(e, EPERM, "pid file %s: writable by group or others (mode %03o)",
			    path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	while (len <= PIDFILE_MAX) {
		n = read(fd, data + len, sizeof(data) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_set(e, errno, "pid file %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > PIDFILE_MAX) {
		r = err_set(e, EFBIG, "pid file %s: longer than %d bytes", path, PIDFILE_MAX);
		goto out;
	}
	if (parse_pid(data, len, &pid) < 0) {
		r = err_set(e, EINVAL, "pid file %s: not a decimal pid", path);
		goto out;
	}
	if (pid <= 1) {
		r = err_set(e, EPERM, "pid file %s: refusing pid %d", path, (int)pid);
		goto out;
	}
	*out = pid;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static void
start_signal(struct reload_op *op, const struct reload_action *a)
{
	struct err e;
	pid_t pid = -1;
	int signo = reload_signal_from_name(a->signal);

	if (signo < 0) {
		reload_op_finish(op, false, "unknown signal \"%s\"", a->signal != NULL ? a->signal : "");
		return;
	}
	op->signo = signo;
	if ((a->pidfile != NULL) == (a->unit != NULL)) {
		reload_op_finish(op, false, "signal needs exactly one of a pid file and a unit");
		return;
	}
	if (a->unit != NULL) {
		op->unit = xstrdup(a->unit);
		op->timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : RELOAD_BUS_TIMEOUT_DEFAULT_MS;
		reload_systemd_start(op);
		return;
	}
	if (read_pidfile(a->pidfile, a->pidfile_owner, a->pidfile_owner_set, &pid, &e) < 0) {
		reload_op_finish(op, false, "%s", e.msg);
		return;
	}
	if (kill(pid, signo) < 0)
		reload_op_finish(op, false, "kill SIG%s pid %d (from %s): %s", reload_signal_abbrev(signo), (int)pid,
		       a->pidfile, strerror(errno));
	else
		reload_op_finish(op, true, "sent SIG%s to pid %d (from %s)", reload_signal_abbrev(signo), (int)pid,
		       a->pidfile);
}

/* ------------------------------------------------------------ http */

static void
on_http_done(struct http_response *resp, void *arg)
{
	struct reload_op *op = arg;
	struct buf excerpt = BUF_INIT;
	size_t i, n;

	op->hop = NULL;
	if (resp->outcome != HTTP_OUTCOME_OK) {
		reload_op_finish(op, false, "HTTP request failed: %s",
		       resp->error.msg[0] != '\0' ? resp->error.msg
						  : http_outcome_str(resp->outcome));
		return;
	}
	if (resp->status >= 200 && resp->status <= 299) {
		reload_op_finish(op, true, "HTTP %ld", resp->status);
		return;
	}
	/* The start of the body says why (APISIX: {"error_msg": ...}).
	 * NUL would end the message early. */
	n = resp->body.len < BODY_EXCERPT ? resp->body.len : BODY_EXCERPT;
	for (i = 0; i < n; i++)
		buf_putc(&excerpt, resp->body.data[i] != '\0' ? resp->body.data[i] : '?');
	reload_op_finish(op, false, "HTTP %ld%s%s%s", resp->status, n > 0 ? ": " : "", buf_str(&excerpt),
	       resp->body.len > n ? "..." : "");
	buf_free(&excerpt);
}

static void
start_http(struct reload_op *op, const struct reload_action *a)
{
	struct http_request req = a->http;

	if (op->ctx->http == NULL) {
		reload_op_finish(op, false, "no HTTP client");
		return;
	}
	if (a->timeout_ms > 0)
		req.timeout_ms = a->timeout_ms;
	/* Problems with the request come back through on_http_done. */
	if (http_start(op->ctx->http, &req, on_http_done, op, &op->hop) < 0)
		reload_op_finish(op, false, "HTTP request: no URL");
}

/* ------------------------------------------------------------ API */

struct reload_ctx *
reload_ctx_new(struct event_base *base, struct http *http)
{
	struct reload_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->base = base;
	ctx->http = http;
	ctx->use_pidfd = true;
	LIST_INIT(&ctx->ops);
	return ctx;
}

void
reload_ctx_set_bus_address(struct reload_ctx *ctx, const char *addr)
{
	free(ctx->bus_address);
	ctx->bus_address = addr != NULL ? xstrdup(addr) : NULL;
}

void
reload_ctx_set_use_pidfd(struct reload_ctx *ctx, bool use)
{
	ctx->use_pidfd = use;
}

void
reload_ctx_free(struct reload_ctx *ctx)
{
	struct reload_op *op;

	if (ctx == NULL)
		return;
	while ((op = LIST_FIRST(&ctx->ops)) != NULL) {
		if (op->pid > 0) {
			/* Shutting down: no time for TERM's grace. */
			kill(-op->pid, SIGKILL);
			while (waitpid(op->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		reload_op_free(op);
	}
	reload_systemd_close(ctx);
	if (ctx->sigchld != NULL)
		event_free(ctx->sigchld);
	free(ctx->bus_address);
	free(ctx);
}

int
reload_start(struct reload_ctx *ctx, const struct reload_action *a,
	     const struct reload_env *env, reload_done_cb cb, void *arg, struct reload_op **out)
{
	struct reload_op *op;

	if (ctx == NULL || a == NULL || cb == NULL || out == NULL)
		return -EINVAL;
	op = op_new(ctx, a->kind, cb, arg);
	switch (a->kind) {
	case RELOAD_SIGNAL:
		start_signal(op, a);
		break;
	case RELOAD_SYSTEMD_UNIT:
		op->unit = a->unit != NULL ? xstrdup(a->unit) : NULL;
		op->mode = a->mode;
		op->timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : RELOAD_UNIT_TIMEOUT_DEFAULT_MS;
		reload_systemd_start(op);
		break;
	case RELOAD_COMMAND:
		reload_command_start(op, a, env);
		break;
	case RELOAD_HTTP:
		start_http(op, a);
		break;
	default:
		reload_op_finish(op, false, "unknown reload kind %d", (int)a->kind);
		break;
	}
	*out = op;
	return 0;
}

void
reload_cancel(struct reload_op *op)
{
	struct timeval tv;

	if (op == NULL || op->in_cb)
		return;
	if (op->pid > 0) {
		/* Keep it listed, without callback, until it is reaped. */
		op->cb = NULL;
		event_del(op->defer);
		if (!op->timed_out) {
			op->timed_out = true;
			kill(-op->pid, SIGTERM);
			tv = reload_tv_ms(op->kill_after_ms);
			event_del(op->timer);
			event_add(op->timer, &tv);
		}
		return;
	}
	reload_op_free(op);
}

