/*
 * reload_int.h — what reload.c, reload_command.c and reload_systemd.c
 * share.  Not for use outside lib/reload*.c.
 */
#ifndef CERTD_RELOAD_INT_H
#define CERTD_RELOAD_INT_H

#include <stdbool.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "buf.h"
#include "http.h"
#include "reload.h"

struct event;

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

/* Record op's result and schedule its delivery from the loop.  Later
 * calls are ignored.  Stops op's timer and drops its pending D-Bus call. */
void reload_op_finish(struct reload_op *op, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Unlist and free op without a callback. */
void reload_op_free(struct reload_op *op);

/* "300ms", "30s" */
void reload_fmt_ms(char *dst, size_t len, long ms);
struct timeval reload_tv_ms(long ms);
/* "HUP" for SIGHUP, "?" when unknown */
const char *reload_signal_abbrev(int signo);

/* op->unit, op->mode (systemd_unit), op->signo (signal), op->timeout_ms
 * are set.  Sends the calls; the result comes through reload_op_finish. */
void reload_systemd_start(struct reload_op *op);
/* Close ctx's connection (ops using it must be gone or failed). */
void reload_systemd_close(struct reload_ctx *ctx);
/* Close the bus connection when no action waits on it: subscribed, certd
 * would otherwise wake up for every job systemd runs on the host. */
void reload_systemd_idle(struct reload_ctx *ctx);

/* Start a command; the result comes through reload_op_finish once the
 * child is reaped. */
void reload_command_start(struct reload_op *op, const struct reload_action *a,
			  const struct reload_env *env);

#endif
