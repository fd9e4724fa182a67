/*
 * reload_systemd.c — the reload actions that talk to systemd over sd-bus:
 * reload / restart / try-reload-or-restart of a unit, and the MainPID
 * lookup for a signal to a unit.
 *
 * Owns, per struct reload_ctx: the D-Bus connection, opened on first use
 * (the system bus, or reload_ctx_set_bus_address's), one libevent event
 * standing for its fd and timeout, and the JobRemoved match.
 *
 * Invariants:
 *  - sd_bus_process() runs only from on_bus_io(), until it returns 0;
 *    bus_arm() re-reads sd_bus_get_events()/sd_bus_get_timeout() after
 *    that and after every message queued, so the loop never blocks on the
 *    bus (no sd_bus_call).  Message handlers only record results
 *    (reload_op_finish); user callbacks run later, outside sd-bus.
 *  - A connection error fails every op that uses the bus and drops the
 *    connection; the next op opens a new one.
 *  - JobRemoved: the match and Manager.Subscribe are queued before the
 *    first job call on a connection.  dbus-daemon and systemd handle one
 *    client's messages in order, so the match is in place and we are
 *    subscribed before the job can finish, and the job call's reply (with
 *    the job path) arrives before its JobRemoved.  One match serves every
 *    job; ops are found by job path.
 *  - The timeout covers the whole action (call and job); on expiry the job
 *    is left to systemd, not cancelled.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-bus.h>

#include "err.h"
#include "reload.h"
#include "reload_int.h"
#include "xalloc.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_SERVICE "org.freedesktop.systemd1.Service"

static void bus_arm(struct reload_ctx *ctx);

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



void
reload_systemd_close(struct reload_ctx *ctx)
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

void
reload_systemd_idle(struct reload_ctx *ctx)
{
	struct reload_op *op;

	if (ctx->bus == NULL)
		return;
	LIST_FOREACH(op, &ctx->ops, entry)
		if (uses_bus(op) && !op->finished)
			return;
	reload_systemd_close(ctx);
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
		reload_op_finish(op, false, "D-Bus connection failed: %s", strerror(-r));
	}
	reload_systemd_close(ctx);
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
			reload_op_finish(op, true, "%s of %s: job result \"done\"", mode_names[op->mode],
			       op->unit);
		else
			reload_op_finish(op, false, "%s of %s: job result \"%s\"", mode_names[op->mode],
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
		reload_op_finish(op, false, "%s %s: %s", mode_methods[op->mode], op->unit, text);
		return 0;
	}
	if (sd_bus_message_read(m, "o", &path) < 0) {
		reload_op_finish(op, false, "%s %s: malformed reply", mode_methods[op->mode], op->unit);
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
		reload_op_finish(op, false, "MainPID of %s: %s", op->unit, text);
		return 0;
	}
	if (sd_bus_message_read(m, "v", "u", &pid) < 0) {
		reload_op_finish(op, false, "MainPID of %s: malformed reply", op->unit);
		return 0;
	}
	if (pid <= 1) {
		reload_op_finish(op, false, "%s has no main process (MainPID %u)", op->unit, pid);
		return 0;
	}
	if (kill((pid_t)pid, op->signo) < 0)
		reload_op_finish(op, false, "kill SIG%s pid %u (MainPID of %s): %s", reload_signal_abbrev(op->signo),
		       pid, op->unit, strerror(errno));
	else
		reload_op_finish(op, true, "sent SIG%s to pid %u (MainPID of %s)", reload_signal_abbrev(op->signo),
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
		reload_op_finish(op, false, "GetUnit %s: %s", op->unit, text);
		return 0;
	}
	if (sd_bus_message_read(m, "o", &path) < 0) {
		reload_op_finish(op, false, "GetUnit %s: malformed reply", op->unit);
		return 0;
	}
	op->step = STEP_GET_MAINPID;
	r = sd_bus_call_method_async(sd_bus_message_get_bus(m), &op->call, SD_DEST, path,
				     "org.freedesktop.DBus.Properties", "Get", on_mainpid_reply, op,
				     "ss", SD_SERVICE, "MainPID");
	if (r < 0)
		reload_op_finish(op, false, "MainPID of %s: %s", op->unit, strerror(-r));
	return 0;
}

static void
on_bus_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct reload_op *op = arg;
	char d[32];

	(void)fd;
	(void)what;
	reload_fmt_ms(d, sizeof(d), op->timeout_ms);
	if (op->kind == RELOAD_SIGNAL)
		reload_op_finish(op, false, "timed out after %s looking up MainPID of %s", d, op->unit);
	else if (op->step == STEP_JOB_WAIT)
		reload_op_finish(op, false, "timed out after %s waiting for the %s job of %s", d,
		       mode_names[op->mode], op->unit);
	else
		reload_op_finish(op, false, "timed out after %s waiting for %s %s", d,
		       mode_methods[op->mode], op->unit);
}

void
reload_systemd_start(struct reload_op *op)
{
	struct reload_ctx *ctx = op->ctx;
	struct err e;
	int r;

	if (op->kind == RELOAD_SYSTEMD_UNIT &&
	    (unsigned)op->mode >= sizeof(mode_names) / sizeof(mode_names[0])) {
		reload_op_finish(op, false, "unknown unit mode %d", (int)op->mode);
		return;
	}
	if (op->unit == NULL || op->unit[0] == '\0') {
		reload_op_finish(op, false, "no unit given");
		return;
	}
	if (bus_open(ctx, &e) < 0) {
		reload_op_finish(op, false, "%s", e.msg);
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
		reload_op_finish(op, false, "D-Bus call for %s: %s", op->unit, strerror(-r));
		return;
	}
	op->timer = event_new(ctx->base, -1, 0, on_bus_timeout, op);
	{
		struct timeval tv = reload_tv_ms(op->timeout_ms);

		event_add(op->timer, &tv);
	}
	bus_arm(ctx);
}

