/*
 * reload.c — reload actions (signal, systemd unit, command, http).
 *
 * Owns, per struct reload_ctx: the ops in flight; the D-Bus connection,
 * opened on first use, with one libevent event standing for its fd and
 * timeout, the JobRemoved match and the Subscribe done on it; and, when
 * pidfds are not available, one SIGCHLD signal event.
 *
 * Invariants:
 *  - Every result goes through finish(), which only records it and
 *    activates the op's zero-timeout event; deliver() runs from that event
 *    and is the only place a user callback is called.  So no callback runs
 *    inside reload_start(), inside sd_bus_process() (a callback may free
 *    the context, and with it the bus), or twice.
 *  - sd_bus_process() runs only from on_bus_io(), until it returns 0;
 *    bus_arm() re-reads sd_bus_get_events()/sd_bus_get_timeout() after
 *    that and after every message queued, so the loop never blocks on the
 *    bus.  A connection error fails every op that uses the bus and drops
 *    the connection; the next op opens a new one.
 *  - JobRemoved: the match and Manager.Subscribe are queued before the
 *    first job call on a connection.  dbus-daemon and systemd handle one
 *    client's messages in order, so the match is in place and we are
 *    subscribed before the job can finish, and the job call's reply (with
 *    the job path) arrives before its JobRemoved.
 *  - Commands run through fork() and execve(); between the two the child
 *    makes async-signal-safe calls only (the daemon has threads).  It gets
 *    every signal back to its default disposition (ignored ones included,
 *    e.g. SIGPIPE; posix_spawn() was not used because glibc leaves its two
 *    internal signals ignored across the exec), an empty mask, fds 0-2
 *    only (/dev/null, the pipe, the pipe), cwd "/", and its own process
 *    group, so that the timeout's TERM and KILL reach what a shell started
 *    too.  An execve() failure comes back as errno over a close-on-exec
 *    pipe, read once the child is reaped: nothing blocks on it.
 *  - A child is reaped from the loop: its pidfd becomes readable when it
 *    exits (the pid cannot be reused while we have not reaped it), or, as
 *    a fallback, SIGCHLD arrives as a libevent signal event and every
 *    child of ours is tried with waitpid(WNOHANG).  The result is reported
 *    once the child is reaped; output still in the pipe is drained then
 *    (bounded), and output from grandchildren still running is not waited
 *    for.  A cancelled command stays listed, without callback, until it is
 *    reaped.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-bus.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "reload.h"
#include "xalloc.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_SERVICE "org.freedesktop.systemd1.Service"

#define PIDFILE_MAX 64            /* "4194304\n" with room to spare */
#define DRAIN_MAX (64 * 1024)     /* read after the child exited */
#define BODY_EXCERPT 200
#define READ_PER_WAKEUP 16384

struct reload_ctx {
	struct event_base *base;
	struct http *http;
	char *bus_address;            /* NULL: the system bus */
	bool use_pidfd;
	sd_bus *bus;                  /* NULL until first use, or after an error */
	struct event *bus_ev;         /* fd and timeout of bus */
	sd_bus_slot *job_match;       /* JobRemoved on bus */
	struct event *sigchld;        /* fallback reaper, NULL unless needed */
	LIST_HEAD(, reload_op) ops;
};

enum bus_step {
	STEP_NONE,
	STEP_JOB_CALL,      /* ReloadUnit & co. sent */
	STEP_JOB_WAIT,      /* job path known, waiting for JobRemoved */
	STEP_GET_UNIT,      /* signal: GetUnit sent */
	STEP_GET_MAINPID,   /* signal: Properties.Get MainPID sent */
};

struct reload_op {
	struct reload_ctx *ctx;
	LIST_ENTRY(reload_op) entry;
	reload_done_cb cb;            /* NULL: cancelled, waiting for reaping */
	void *arg;
	enum reload_kind kind;
	struct event *defer;          /* delivers the result */
	struct event *timer;          /* timeout; then the KILL grace */
	long timeout_ms;
	bool finished, in_cb;
	bool ok;
	struct buf msg;
	struct buf out;
	bool truncated;

	/* signal, systemd_unit */
	int signo;
	char *unit;
	enum reload_unit_mode mode;
	enum bus_step step;
	sd_bus_slot *call;
	char *job_path;

	/* command */
	char *exe;                    /* argv[0] as resolved */
	pid_t pid;                    /* > 0 until reaped */
	int pidfd;
	struct event *child_ev;
	int out_fd;
	int err_fd;                   /* execve's errno, if it failed */
	struct event *out_ev;
	long kill_after_ms;
	bool timed_out, killed;

	/* http */
	struct http_op *hop;
};

static void bus_arm(struct reload_ctx *ctx);

/* ------------------------------------------------------------ helpers */

static void
fmt_ms(char *dst, size_t len, long ms)
{
	if (ms % 1000 == 0)
		snprintf(dst, len, "%lds", ms / 1000);
	else
		snprintf(dst, len, "%ldms", ms);
}

static struct timeval
tv_ms(long ms)
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

static const char *
signal_name(int signo)
{
	const char *s = sigabbrev_np(signo);

	return s != NULL ? s : "?";
}

static const char *const mode_names[] = {
	[RELOAD_UNIT_RELOAD] = "reload",
	[RELOAD_UNIT_RESTART] = "restart",
	[RELOAD_UNIT_TRY_RELOAD_OR_RESTART] = "try-reload-or-restart",
};

/* Note the last one: systemctl's try-reload-or-restart is
 * ReloadOrTryRestartUnit; ReloadOrRestartUnit would start a stopped unit. */
static const char *const mode_methods[] = {
	[RELOAD_UNIT_RELOAD] = "ReloadUnit",
	[RELOAD_UNIT_RESTART] = "RestartUnit",
	[RELOAD_UNIT_TRY_RELOAD_OR_RESTART] = "ReloadOrTryRestartUnit",
};

int
reload_unit_mode_from_name(const char *name, enum reload_unit_mode *out)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*out = (enum reload_unit_mode)i;
			return 0;
		}
	}
	return -EINVAL;
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

static void
op_free(struct reload_op *op)
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

/* Record the result and schedule its delivery.  Later calls are ignored. */
static void finish(struct reload_op *op, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
finish(struct reload_op *op, bool ok, const char *fmt, ...)
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

/* ------------------------------------------------------------ D-Bus */

static void
bus_drop(struct reload_ctx *ctx)
{
	ctx->job_match = sd_bus_slot_unref(ctx->job_match);
	if (ctx->bus_ev != NULL)
		event_free(ctx->bus_ev);
	ctx->bus_ev = NULL;
	if (ctx->bus != NULL)
		ctx->bus = sd_bus_close_unref(ctx->bus);
}

static bool
uses_bus(const struct reload_op *op)
{
	return op->step != STEP_NONE;
}

/* The connection failed: fail whoever waits on it and start afresh next
 * time. */
static void
bus_fail(struct reload_ctx *ctx, int r)
{
	struct reload_op *op;

	LIST_FOREACH(op, &ctx->ops, entry) {
		if (!uses_bus(op) || op->finished)
			continue;
		op->call = sd_bus_slot_unref(op->call);
		finish(op, false, "D-Bus connection failed: %s", strerror(-r));
	}
	bus_drop(ctx);
}

static void
on_bus_io(evutil_socket_t fd, short what, void *arg)
{
	struct reload_ctx *ctx = arg;
	int r;

	(void)fd;
	(void)what;
	do
		r = sd_bus_process(ctx->bus, NULL);
	while (r > 0);
	if (r < 0) {
		bus_fail(ctx, r);
		return;
	}
	bus_arm(ctx);
}

static void
bus_arm(struct reload_ctx *ctx)
{
	struct timeval tv, *tvp = NULL;
	struct timespec now;
	uint64_t until, now_us;
	short what = 0;
	int fd, events, r;

	if (ctx->bus == NULL)
		return;
	fd = sd_bus_get_fd(ctx->bus);
	events = sd_bus_get_events(ctx->bus);
	r = sd_bus_get_timeout(ctx->bus, &until);
	if (fd < 0 || events < 0 || r < 0) {
		bus_fail(ctx, fd < 0 ? fd : events < 0 ? events : r);
		return;
	}
	if (events & POLLIN)
		what |= EV_READ;
	if (events & POLLOUT)
		what |= EV_WRITE;
	if (until != UINT64_MAX) {
		/* sd-bus gives an absolute CLOCK_MONOTONIC time; 0: now. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		now_us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
		until = until > now_us ? until - now_us : 0;
		tv.tv_sec = (time_t)(until / 1000000u);
		tv.tv_usec = (suseconds_t)(until % 1000000u);
		tvp = &tv;
	}
	event_del(ctx->bus_ev);
	event_assign(ctx->bus_ev, ctx->base, fd, what, on_bus_io, ctx);
	event_add(ctx->bus_ev, tvp);
}

static int
bus_open(struct reload_ctx *ctx, struct err *e)
{
	sd_bus *b = NULL;
	int r;

	if (ctx->bus != NULL)
		return 0;
	if (ctx->bus_address != NULL) {
		r = sd_bus_new(&b);
		if (r < 0)
			goto out;
		r = sd_bus_set_address(b, ctx->bus_address);
		if (r >= 0)
			r = sd_bus_set_bus_client(b, 1);
		if (r >= 0)
			r = sd_bus_set_description(b, "certd-reload");
		if (r >= 0)
			r = sd_bus_start(b);
	} else {
		r = sd_bus_open_system_with_description(&b, "certd-reload");
	}
	if (r < 0)
		goto out;
	ctx->bus = b;
	b = NULL;
	ctx->bus_ev = event_new(ctx->base, -1, 0, on_bus_io, ctx);
	bus_arm(ctx);
	if (ctx->bus == NULL)
		r = -ENOTCONN;
out:
	sd_bus_unref(b);
	if (r < 0)
		return err_set(e, -r, "cannot connect to %s: %s",
			       ctx->bus_address != NULL ? "the D-Bus bus" : "the system bus",
			       strerror(-r));
	return 0;
}

/* A method error's text: "Name: message", untrusted. */
static void
bus_error_text(sd_bus_message *m, char *dst, size_t len)
{
	const sd_bus_error *be = sd_bus_message_get_error(m);

	snprintf(dst, len, "%s: %s", be != NULL && be->name != NULL ? be->name : "error",
		 be != NULL && be->message != NULL ? be->message : "no message");
}

static int
on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct reload_ctx *ctx = userdata;
	struct reload_op *op;
	const char *path, *unit, *result;
	uint32_t id;

	(void)ret_error;
	if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	LIST_FOREACH(op, &ctx->ops, entry) {
		if (op->finished || op->step != STEP_JOB_WAIT || strcmp(op->job_path, path) != 0)
			continue;
		if (strcmp(result, "done") == 0)
			finish(op, true, "%s of %s: job result \"done\"", mode_names[op->mode],
			       op->unit);
		else
			finish(op, false, "%s of %s: job result \"%s\"", mode_names[op->mode],
			       op->unit, result);
	}
	return 0;
}

/* Once per connection, before the first job: see the top of the file. */
static int
bus_subscribe(struct reload_ctx *ctx)
{
	int r;

	if (ctx->job_match != NULL)
		return 0;
	r = sd_bus_match_signal_async(ctx->bus, &ctx->job_match, SD_DEST, SD_PATH, SD_MANAGER,
				      "JobRemoved", on_job_removed, NULL, ctx);
	if (r < 0)
		return r;
	/* No reply wanted: a systemd that refuses Subscribe still sends
	 * JobRemoved to the client that queued the job. */
	return sd_bus_call_method_async(ctx->bus, NULL, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe",
					NULL, NULL, "");
}

static int
on_job_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct reload_op *op = userdata;
	const char *path;
	char text[512];

	(void)ret_error;
	op->call = sd_bus_slot_unref(op->call);
	if (sd_bus_message_is_method_error(m, NULL)) {
		bus_error_text(m, text, sizeof(text));
		finish(op, false, "%s %s: %s", mode_methods[op->mode], op->unit, text);
		return 0;
	}
	if (sd_bus_message_read(m, "o", &path) < 0) {
		finish(op, false, "%s %s: malformed reply", mode_methods[op->mode], op->unit);
		return 0;
	}
	op->job_path = xstrdup(path);
	op->step = STEP_JOB_WAIT;
	return 0;
}

static int
on_mainpid_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct reload_op *op = userdata;
	uint32_t pid;
	char text[512];

	(void)ret_error;
	op->call = sd_bus_slot_unref(op->call);
	if (sd_bus_message_is_method_error(m, NULL)) {
		bus_error_text(m, text, sizeof(text));
		finish(op, false, "MainPID of %s: %s", op->unit, text);
		return 0;
	}
	if (sd_bus_message_read(m, "v", "u", &pid) < 0) {
		finish(op, false, "MainPID of %s: malformed reply", op->unit);
		return 0;
	}
	if (pid <= 1) {
		finish(op, false, "%s has no main process (MainPID %u)", op->unit, pid);
		return 0;
	}
	if (kill((pid_t)pid, op->signo) < 0)
		finish(op, false, "kill SIG%s pid %u (MainPID of %s): %s", signal_name(op->signo),
		       pid, op->unit, strerror(errno));
	else
		finish(op, true, "sent SIG%s to pid %u (MainPID of %s)", signal_name(op->signo),
		       pid, op->unit);
	return 0;
}

static int
on_get_unit_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct reload_op *op = userdata;
	const char *path;
	char text[512];
	int r;

	(void)ret_error;
	op->call = sd_bus_slot_unref(op->call);
	if (sd_bus_message_is_method_error(m, NULL)) {
		bus_error_text(m, text, sizeof(text));
		finish(op, false, "GetUnit %s: %s", op->unit, text);
		return 0;
	}
	if (sd_bus_message_read(m, "o", &path) < 0) {
		finish(op, false, "GetUnit %s: malformed reply", op->unit);
		return 0;
	}
	op->step = STEP_GET_MAINPID;
	r = sd_bus_call_method_async(sd_bus_message_get_bus(m), &op->call, SD_DEST, path,
				     "org.freedesktop.DBus.Properties", "Get", on_mainpid_reply, op,
				     "ss", SD_SERVICE, "MainPID");
	if (r < 0)
		finish(op, false, "MainPID of %s: %s", op->unit, strerror(-r));
	return 0;
}

static void
on_bus_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct reload_op *op = arg;
	char d[32];

	(void)fd;
	(void)what;
	fmt_ms(d, sizeof(d), op->timeout_ms);
	if (op->kind == RELOAD_SIGNAL)
		finish(op, false, "timed out after %s looking up MainPID of %s", d, op->unit);
	else if (op->step == STEP_JOB_WAIT)
		finish(op, false, "timed out after %s waiting for the %s job of %s", d,
		       mode_names[op->mode], op->unit);
	else
		finish(op, false, "timed out after %s waiting for %s %s", d,
		       mode_methods[op->mode], op->unit);
}

static void
start_bus_op(struct reload_op *op)
{
	struct reload_ctx *ctx = op->ctx;
	struct err e;
	int r;

	if (op->unit == NULL || op->unit[0] == '\0') {
		finish(op, false, "no unit given");
		return;
	}
	if (bus_open(ctx, &e) < 0) {
		finish(op, false, "%s", e.msg);
		return;
	}
	if (op->kind == RELOAD_SIGNAL) {
		op->step = STEP_GET_UNIT;
		r = sd_bus_call_method_async(ctx->bus, &op->call, SD_DEST, SD_PATH, SD_MANAGER,
					     "GetUnit", on_get_unit_reply, op, "s", op->unit);
	} else {
		op->step = STEP_JOB_CALL;
		r = bus_subscribe(ctx);
		if (r >= 0)
			r = sd_bus_call_method_async(ctx->bus, &op->call, SD_DEST, SD_PATH,
						     SD_MANAGER, mode_methods[op->mode],
						     on_job_reply, op, "ss", op->unit, "replace");
	}
	if (r < 0) {
		finish(op, false, "D-Bus call for %s: %s", op->unit, strerror(-r));
		return;
	}
	op->timer = event_new(ctx->base, -1, 0, on_bus_timeout, op);
	{
		struct timeval tv = tv_ms(op->timeout_ms);

		event_add(op->timer, &tv);
	}
	bus_arm(ctx);
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
		finish(op, false, "unknown signal \"%s\"", a->signal != NULL ? a->signal : "");
		return;
	}
	op->signo = signo;
	if ((a->pidfile != NULL) == (a->unit != NULL)) {
		finish(op, false, "signal needs exactly one of a pid file and a unit");
		return;
	}
	if (a->unit != NULL) {
		op->unit = xstrdup(a->unit);
		op->timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : RELOAD_BUS_TIMEOUT_DEFAULT_MS;
		start_bus_op(op);
		return;
	}
	if (read_pidfile(a->pidfile, a->pidfile_owner, a->pidfile_owner_set, &pid, &e) < 0) {
		finish(op, false, "%s", e.msg);
		return;
	}
	if (kill(pid, signo) < 0)
		finish(op, false, "kill SIG%s pid %d (from %s): %s", signal_name(signo), (int)pid,
		       a->pidfile, strerror(errno));
	else
		finish(op, true, "sent SIG%s to pid %d (from %s)", signal_name(signo), (int)pid,
		       a->pidfile);
}

/* ------------------------------------------------------------ command */

static void
read_output(struct reload_op *op, size_t limit)
{
	char chunk[4096];
	size_t total = 0, keep;
	ssize_t n;

	while (op->out_fd >= 0 && total < limit) {
		n = read(op->out_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* EOF or error: nothing more will come. */
			if (op->out_ev != NULL)
				event_free(op->out_ev);
			op->out_ev = NULL;
			close(op->out_fd);
			op->out_fd = -1;
			return;
		}
		total += (size_t)n;
		keep = RELOAD_OUTPUT_MAX - op->out.len;
		if ((size_t)n > keep)
			op->truncated = true;
		else
			keep = (size_t)n;
		buf_append(&op->out, chunk, keep);
	}
}

static void
on_output(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	/* One pass per wake-up: a chatty child does not starve the loop. */
	read_output(arg, READ_PER_WAKEUP);
}

/* The errno the child sent when execve failed, else 0.  The child is gone:
 * whatever it wrote is in the pipe. */
static int
read_exec_errno(struct reload_op *op)
{
	int code = 0;

	if (op->err_fd < 0 || read(op->err_fd, &code, sizeof(code)) != (ssize_t)sizeof(code))
		code = 0;
	return code;
}

static void
child_exited(struct reload_op *op, int status, bool known)
{
	char d[32], how[96];
	int exec_errno;

	op->pid = -1;
	if (op->child_ev != NULL)
		event_free(op->child_ev);
	op->child_ev = NULL;
	if (op->pidfd >= 0)
		close(op->pidfd);
	op->pidfd = -1;
	if (op->timer != NULL)
		event_del(op->timer);
	read_output(op, DRAIN_MAX);
	exec_errno = read_exec_errno(op);
	if (op->cb == NULL) {
		/* Cancelled: nobody to tell. */
		op_free(op);
		return;
	}
	if (exec_errno != 0) {
		finish(op, false, "cannot execute %s: %s", op->exe, strerror(exec_errno));
		return;
	}
	if (!known)
		snprintf(how, sizeof(how), "exit status unknown (reaped elsewhere)");
	else if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d (SIG%s)", WTERMSIG(status),
			 signal_name(WTERMSIG(status)));
	else
		snprintf(how, sizeof(how), "ended with wait status 0x%x", (unsigned)status);
	if (op->timed_out) {
		fmt_ms(d, sizeof(d), op->timeout_ms);
		finish(op, false, "%s: timed out after %s, %s", op->exe, d, how);
	} else {
		finish(op, known && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s",
		       op->exe, how);
	}
}

/* Returns true when op's child was reaped (op may be gone). */
static bool
try_reap(struct reload_op *op)
{
	pid_t r;
	int status = 0;

	do
		r = waitpid(op->pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return false;
	child_exited(op, status, r > 0);
	return true;
}

static void
on_pidfd(evutil_socket_t fd, short what, void *arg)
{
	struct reload_op *op = arg;

	(void)fd;
	(void)what;
	if (!try_reap(op))
		event_add(op->child_ev, NULL);
}

static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct reload_ctx *ctx = arg;
	struct reload_op *op, *next;

	(void)fd;
	(void)what;
	/* SIGCHLD does not say whose: try every child of ours.  Reaping
	 * only finishes or frees an op, and frees only the op itself. */
	for (op = LIST_FIRST(&ctx->ops); op != NULL; op = next) {
		next = LIST_NEXT(op, entry);
		if (op->kind == RELOAD_COMMAND && op->pid > 0 && op->pidfd < 0)
			try_reap(op);
	}
}

static void
on_command_timer(evutil_socket_t fd, short what, void *arg)
{
	struct reload_op *op = arg;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (op->pid <= 0)
		return;
	if (!op->timed_out) {
		/* The whole process group: a shell's children too. */
		op->timed_out = true;
		kill(-op->pid, SIGTERM);
		tv = tv_ms(op->kill_after_ms);
		event_add(op->timer, &tv);
	} else if (!op->killed) {
		op->killed = true;
		kill(-op->pid, SIGKILL);
	}
}

/* name without a slash: the first executable regular file in
 * RELOAD_COMMAND_PATH, the PATH the child gets. */
static char *
resolve(const char *name)
{
	const char *p = RELOAD_COMMAND_PATH, *colon;
	struct stat st;
	char *path;

	if (strchr(name, '/') != NULL)
		return xstrdup(name);
	for (; *p != '\0'; p = *colon != '\0' ? colon + 1 : colon) {
		colon = strchr(p, ':');
		if (colon == NULL)
			colon = p + strlen(p);
		path = xasprintf("%.*s/%s", (int)(colon - p), p, name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

static void
env_add(char **envp, size_t *n, const char *name, const char *value)
{
	if (value != NULL)
		envp[(*n)++] = xasprintf("%s=%s", name, value);
}

static char **
make_env(const struct reload_env *env)
{
	char **envp = xcalloc(7, sizeof(*envp));
	size_t n = 0;

	envp[n++] = xstrdup("PATH=" RELOAD_COMMAND_PATH);
	if (env != NULL) {
		env_add(envp, &n, "CERTD_CERT_NAME", env->cert_name);
		env_add(envp, &n, "CERTD_CERT_FILE", env->cert_file);
		env_add(envp, &n, "CERTD_KEY_FILE", env->key_file);
		env_add(envp, &n, "CERTD_CHAIN_FILE", env->chain_file);
		env_add(envp, &n, "CERTD_FULLCHAIN_FILE", env->fullchain_file);
	}
	return envp;
}

static void
free_strv(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* fd, moved above 3 if it is not: the child sets up 0-3 by number. */
static int
above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > 3)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 4);
	close(fd);
	return nfd;
}

/*
 * The child, between fork() and execve(): async-signal-safe calls only
 * (the daemon has threads; another one may hold malloc's lock).  fd 3
 * carries errno back if execve fails; it is close-on-exec, so the parent
 * reads nothing when the exec worked.
 */
static void __attribute__((noreturn))
child_exec(const char *exe, char *const *argv, char *const *envp, int null_fd, int out_fd,
	   int err_fd, int max_fd)
{
	struct sigaction sa;
	sigset_t none;
	int sig, fd, e;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	/* KILL and STOP fail, and glibc refuses its own two (32 and 33);
	 * handled signals are reset by execve anyway. */
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	/* Blocked since fork (see spawn); only now safe to let through. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 ||
	    dup2(err_fd, 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0 || chdir("/") < 0)
		goto fail;
	if (close_range(4, ~0U, 0) < 0)
		for (fd = 4; fd <= max_fd; fd++)
			close(fd);
	execve(exe, argv, envp);
fail:
	e = errno;
	if (write(3, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static int
spawn(struct reload_op *op, char *const *argv, char *const *envp, struct err *e)
{
	int out[2] = {-1, -1}, errp[2] = {-1, -1}, null_fd = -1, fork_errno, r;
	sigset_t all, old;
	long max_fd = sysconf(_SC_OPEN_MAX);

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		r = err_set(e, errno, "pipe: %s", strerror(errno));
		goto out;
	}
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	out[0] = above_stdio(out[0]);
	out[1] = above_stdio(out[1]);
	errp[0] = above_stdio(errp[0]);
	errp[1] = above_stdio(errp[1]);
	null_fd = above_stdio(null_fd);
	if (null_fd < 0 || out[0] < 0 || out[1] < 0 || errp[0] < 0 || errp[1] < 0 ||
	    fcntl(out[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(errp[0], F_SETFL, O_NONBLOCK) < 0) {
		r = err_set(e, errno, "command set-up: %s", strerror(errno));
		goto out;
	}
	/* Signals stay blocked from fork until the child has reset every
	 * handler: one of ours running in the child could do harm (Check's
	 * SIGTERM handler, for one, signals the whole process group). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	op->pid = fork();
	if (op->pid == 0)
		child_exec(op->exe, argv, envp, null_fd, out[1], errp[1],
			   max_fd > 0 && max_fd < INT_MAX ? (int)max_fd : 65536);
	fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (op->pid < 0) {
		r = err_set(e, fork_errno, "fork: %s", strerror(fork_errno));
		goto out;
	}
	/* Here too, so that kill(-pid) works before the child ran. */
	setpgid(op->pid, op->pid);
	op->out_fd = out[0];
	op->err_fd = errp[0];
	out[0] = errp[0] = -1;
	r = 0;
out:
	if (op->pid < 0)
		op->pid = -1;
	if (null_fd >= 0)
		close(null_fd);
	if (out[0] >= 0)
		close(out[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (errp[0] >= 0)
		close(errp[0]);
	if (errp[1] >= 0)
		close(errp[1]);
	return r;
}

static void
watch_child(struct reload_op *op)
{
	struct reload_ctx *ctx = op->ctx;

	if (ctx->use_pidfd) {
		op->pidfd = pidfd_open(op->pid, 0);
		if (op->pidfd < 0 && errno == ENOSYS)
			ctx->use_pidfd = false;
	}
	if (op->pidfd >= 0) {
		op->child_ev = event_new(ctx->base, op->pidfd, EV_READ, on_pidfd, op);
		event_add(op->child_ev, NULL);
		return;
	}
	if (ctx->sigchld == NULL) {
		ctx->sigchld = evsignal_new(ctx->base, SIGCHLD, on_sigchld, ctx);
		evsignal_add(ctx->sigchld, NULL);
	}
	/* A child that exited before the handler was there sent its SIGCHLD
	 * to nobody: look once from the loop. */
	event_active(ctx->sigchld, EV_SIGNAL, 1);
}

static void
start_command(struct reload_op *op, const struct reload_action *a, const struct reload_env *env)
{
	const char *sh[] = {"/bin/sh", "-c", NULL, NULL};
	const char *const *argv = a->argv;
	char **envp = NULL;
	struct err e;
	struct timeval tv;

	if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0') {
		finish(op, false, "command: empty argv");
		return;
	}
	if (a->shell) {
		if (argv[1] != NULL) {
			finish(op, false, "command: shell takes one command line, not %s",
			       "several arguments");
			return;
		}
		sh[2] = argv[0];
		argv = sh;
	}
	op->exe = resolve(argv[0]);
	if (op->exe == NULL) {
		finish(op, false, "%s: not found in %s", argv[0], RELOAD_COMMAND_PATH);
		return;
	}
	op->timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : RELOAD_COMMAND_TIMEOUT_DEFAULT_MS;
	op->kill_after_ms = a->kill_after_ms > 0 ? a->kill_after_ms : RELOAD_KILL_AFTER_DEFAULT_MS;
	envp = make_env(env);
	/* execve's argv is char *const *: it does not write to it. */
	if (spawn(op, (char *const *)(uintptr_t)argv, envp, &e) < 0) {
		finish(op, false, "%s", e.msg);
		goto out;
	}
	op->out_ev = event_new(op->ctx->base, op->out_fd, EV_READ | EV_PERSIST, on_output, op);
	event_add(op->out_ev, NULL);
	op->timer = event_new(op->ctx->base, -1, 0, on_command_timer, op);
	tv = tv_ms(op->timeout_ms);
	event_add(op->timer, &tv);
	watch_child(op);
out:
	free_strv(envp);
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
		finish(op, false, "HTTP request failed: %s",
		       resp->error.msg[0] != '\0' ? resp->error.msg
						  : http_outcome_str(resp->outcome));
		return;
	}
	if (resp->status >= 200 && resp->status <= 299) {
		finish(op, true, "HTTP %ld", resp->status);
		return;
	}
	/* The start of the body says why (APISIX: {"error_msg": ...}).
	 * NUL would end the message early. */
	n = resp->body.len < BODY_EXCERPT ? resp->body.len : BODY_EXCERPT;
	for (i = 0; i < n; i++)
		buf_putc(&excerpt, resp->body.data[i] != '\0' ? resp->body.data[i] : '?');
	finish(op, false, "HTTP %ld%s%s%s", resp->status, n > 0 ? ": " : "", buf_str(&excerpt),
	       resp->body.len > n ? "..." : "");
	buf_free(&excerpt);
}

static void
start_http(struct reload_op *op, const struct reload_action *a)
{
	struct http_request req = a->http;

	if (op->ctx->http == NULL) {
		finish(op, false, "no HTTP client");
		return;
	}
	if (a->timeout_ms > 0)
		req.timeout_ms = a->timeout_ms;
	/* Problems with the request come back through on_http_done. */
	if (http_start(op->ctx->http, &req, on_http_done, op, &op->hop) < 0)
		finish(op, false, "HTTP request: no URL");
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
		op_free(op);
	}
	bus_drop(ctx);
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
		if ((unsigned)a->mode >= sizeof(mode_names) / sizeof(mode_names[0])) {
			finish(op, false, "unknown unit mode %d", (int)a->mode);
			break;
		}
		op->unit = a->unit != NULL ? xstrdup(a->unit) : NULL;
		op->mode = a->mode;
		op->timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : RELOAD_UNIT_TIMEOUT_DEFAULT_MS;
		start_bus_op(op);
		break;
	case RELOAD_COMMAND:
		start_command(op, a, env);
		break;
	case RELOAD_HTTP:
		start_http(op, a);
		break;
	default:
		finish(op, false, "unknown reload kind %d", (int)a->kind);
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
			tv = tv_ms(op->kill_after_ms);
			event_del(op->timer);
			event_add(op->timer, &tv);
		}
		return;
	}
	op_free(op);
}
