/*
 * reload.h — reload actions: make a consumer load a newly published
 * certificate.
 *
 * Four kinds, filled in by the caller from the configuration:
 *   signal        a named signal to the pid in a pid file (re-read and
 *                 checked every time) or to a systemd unit's MainPID;
 *   systemd_unit  reload / restart / try-reload-or-restart through the
 *                 systemd Manager over sd-bus, waiting for the job's
 *                 JobRemoved signal and reporting its result;
 *   command       argv executed directly (a shell only when asked), in
 *                 its own process group, with a minimal environment, a
 *                 timeout (TERM, then KILL) and output captured up to
 *                 RELOAD_OUTPUT_MAX bytes;
 *   http          one request through lib/http.h (the APISIX Admin API
 *                 PUT), successful when the status is 2xx.
 *
 * Asynchronous shape as everywhere: reload_start() returns a handle, the
 * callback fires exactly once from the loop, never from inside
 * reload_start(), and never after reload_cancel().  All D-Bus I/O is
 * driven by the event loop (no blocking sd_bus_call).
 *
 * Leaf module: never logs.  Result messages and command output are
 * untrusted text (D-Bus error strings, response bodies, what a command
 * printed): the caller escapes them before logging.  Header values and
 * request bodies never appear in a message.
 */
#ifndef CERTD_RELOAD_H
#define CERTD_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http.h"

struct event_base;
struct reload_ctx;
struct reload_op;

#define RELOAD_OUTPUT_MAX 4096                  /* command output kept */
#define RELOAD_COMMAND_TIMEOUT_DEFAULT_MS 30000L
#define RELOAD_KILL_AFTER_DEFAULT_MS 5000L      /* TERM -> KILL grace */
#define RELOAD_UNIT_TIMEOUT_DEFAULT_MS 90000L   /* systemd job, like
						 * DefaultTimeoutStartSec */
#define RELOAD_BUS_TIMEOUT_DEFAULT_MS 25000L    /* MainPID lookup */
#define RELOAD_COMMAND_PATH "/usr/sbin:/usr/bin:/sbin:/bin"

enum reload_kind {
	RELOAD_SIGNAL,
	RELOAD_SYSTEMD_UNIT,
	RELOAD_COMMAND,
	RELOAD_HTTP,
};

enum reload_unit_mode {
	RELOAD_UNIT_RELOAD,                 /* Manager.ReloadUnit */
	RELOAD_UNIT_RESTART,                /* Manager.RestartUnit */
	RELOAD_UNIT_TRY_RELOAD_OR_RESTART,  /* Manager.ReloadOrTryRestartUnit */
};

struct reload_action {
	enum reload_kind kind;
	long timeout_ms;           /* 0: the kind's default (above; for http
				    * http.timeout_ms, then http.h's) */

	/* signal: signal plus exactly one of pidfile and unit */
	const char *signal;        /* "HUP", "SIGUSR1", ... (reload_signal_from_name) */
	const char *pidfile;       /* regular file, not a symlink, owned by
				    * root or pidfile_owner, not writable by
				    * group or others, holding a decimal pid > 1 */
	uid_t pidfile_owner;       /* a second accepted owner, when ... */
	bool pidfile_owner_set;    /* ... this is true */

	/* systemd_unit (and signal to a unit's MainPID) */
	const char *unit;          /* "nginx.service" */
	enum reload_unit_mode mode;

	/* command */
	const char *const *argv;   /* NULL-terminated; argv[0] absolute, or a
				    * name looked up in RELOAD_COMMAND_PATH */
	bool shell;                /* argv holds exactly one string, run as
				    * /bin/sh -c STRING */
	long kill_after_ms;        /* TERM -> KILL grace; 0: default */

	/* http: everything but timeout_ms as in lib/http.h; mark secret
	 * headers (an APISIX X-API-KEY) so that they are not sent on a
	 * cross-origin redirect. */
	struct http_request http;
};

/* What the command's environment says about the certificate.  NULL
 * members are left out.  Nothing secret belongs here. */
struct reload_env {
	const char *cert_name;       /* CERTD_CERT_NAME */
	const char *cert_file;       /* CERTD_CERT_FILE */
	const char *key_file;        /* CERTD_KEY_FILE (the path, not the key) */
	const char *chain_file;      /* CERTD_CHAIN_FILE */
	const char *fullchain_file;  /* CERTD_FULLCHAIN_FILE */
};

struct reload_result {
	bool ok;
	const char *message;       /* never NULL: "sent SIGHUP to pid 123 (from
				    * /run/nginx.pid)", "/usr/sbin/nginx: exited
				    * with status 1", "HTTP 500: <first 200 body
				    * bytes>", "reload of nginx.service: job
				    * result \"failed\"".  May hold untrusted
				    * text (D-Bus errors, a response body, even
				    * newlines): escape it before logging */
	const char *output;        /* command: what it printed on stdout and
				    * stderr, NUL-terminated, at most
				    * RELOAD_OUTPUT_MAX bytes; "" otherwise */
	size_t output_len;
	bool output_truncated;     /* more was printed and discarded */
};

/* res and its strings are valid during the call only. */
typedef void (*reload_done_cb)(const struct reload_result *res, void *arg);

/* A context bound to base.  http (shared, not owned; may be NULL when no
 * http action will run) must outlive the context.  The D-Bus connection is
 * opened on first use: the system bus, or the address set below.  Never
 * NULL. */
struct reload_ctx *reload_ctx_new(struct event_base *base, struct http *http);

/* Use this D-Bus address ("unix:path=/run/x/bus") instead of the system
 * bus for connections opened from now on.  addr is copied. */
void reload_ctx_set_bus_address(struct reload_ctx *ctx, const char *addr);

/* Tests: reap children through SIGCHLD (a libevent signal event) instead
 * of pidfds, the fallback for kernels without pidfd_open(). */
void reload_ctx_set_use_pidfd(struct reload_ctx *ctx, bool use);

/* Cancel everything in flight (no callback fires), close the D-Bus
 * connection and free ctx.  Running commands get SIGKILL and are reaped
 * here, which waits for them to die.  NULL is a no-op.  May be called from
 * a reload_done_cb. */
void reload_ctx_free(struct reload_ctx *ctx);

/* Start action a.  a and env (may be NULL) and what they point to are
 * copied; the caller may free them when this returns.  Every problem,
 * including an invalid action, is reported through cb.  Returns 0 and
 * *out, valid until the callback returns or reload_cancel(); -EINVAL only
 * for a NULL ctx, a, cb or out.  May be called from a loop callback. */
int reload_start(struct reload_ctx *ctx, const struct reload_action *a,
		 const struct reload_env *env, reload_done_cb cb, void *arg,
		 struct reload_op **out);

/* Abandon op; its callback never fires.  A command still running gets
 * SIGTERM (its process group), SIGKILL after the grace period, and is
 * reaped from the loop.  NULL is a no-op, and so is calling it from op's
 * own callback. */
void reload_cancel(struct reload_op *op);

/* "HUP", "SIGHUP", "hup" -> SIGHUP.  Accepted: HUP INT QUIT KILL USR1 USR2
 * ALRM TERM CONT WINCH.  Returns the number or -EINVAL.  For config
 * validation too. */
int reload_signal_from_name(const char *name);

/* "reload", "restart", "try-reload-or-restart".  Returns 0 or -EINVAL. */
int reload_unit_mode_from_name(const char *name, enum reload_unit_mode *out);

#endif
