/*
 * check_reload.c — reload actions against real processes and servers:
 * commands run for real (/bin/sh, sleep, env), signals go to a forked
 * child that reports every signal it takes, HTTP goes to an evhttp
 * listener on 127.0.0.1 sharing the loop, and systemd is tests/fake_systemd
 * (a STAND-IN for org.freedesktop.systemd1.Manager, not systemd) on a
 * private dbus-daemon listening on a socket in the test's directory.
 *
 * Every action goes through run(), which asserts that the callback does
 * not fire inside reload_start() and fires exactly once.  The stand-in is
 * found through $FAKE_SYSTEMD, else ./fake_systemd, else tests/fake_systemd.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "buf.h"
#include "http.h"
#include "reload.h"
#include "testutil.h"
#include "xalloc.h"

struct result {
	int calls;
	bool ok;
	char *message;
	char *output;
	size_t output_len;
	bool truncated;
};

static struct event_base *base;
static struct http *client;
static struct reload_ctx *ctx;
static char *tmpdir;
static bool in_start;

/* ------------------------------------------------------------ running */

static void
on_done(const struct reload_result *res, void *arg)
{
	struct result *r = arg;

	ck_assert_msg(!in_start, "callback inside reload_start");
	r->calls++;
	r->ok = res->ok;
	free(r->message);
	free(r->output);
	r->message = xstrdup(res->message);
	r->output = xstrndup(res->output, res->output_len);
	r->output_len = res->output_len;
	r->truncated = res->output_truncated;
	ck_assert_uint_eq(strlen(res->output), res->output_len);
}

static void
result_free(struct result *r)
{
	free(r->message);
	free(r->output);
	memset(r, 0, sizeof(*r));
}

static struct reload_op *
start(const struct reload_action *a, const struct reload_env *env, struct result *r)
{
	struct reload_op *op = NULL;

	in_start = true;
	ck_assert_int_eq(reload_start(ctx, a, env, on_done, r, &op), 0);
	in_start = false;
	ck_assert_ptr_nonnull(op);
	ck_assert_int_eq(r->calls, 0);
	return op;
}

static void
wait_done(struct result *r)
{
	while (r->calls == 0)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_int_eq(r->calls, 1);
}

static void
run(const struct reload_action *a, const struct reload_env *env, struct result *r)
{
	start(a, env, r);
	wait_done(r);
}

/* Run the loop for ms milliseconds. */
static void
spin(long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "\"%s\" not in \"%s\"", (needle), (hay))

static void
setup(void)
{
	struct err e;

	ck_assert_int_eq(http_global_init(&e), 0);
	base = event_base_new();
	client = http_new(base);
	ctx = reload_ctx_new(base, client);
	tmpdir = tu_mkdtemp();
}

static void
teardown(void)
{
	reload_ctx_free(ctx);
	http_free(client);
	event_base_free(base);
	tu_rm_rf(tmpdir);
	free(tmpdir);
}

/* ------------------------------------------------------------ command */

static struct reload_action
command(const char *const *argv)
{
	struct reload_action a = {.kind = RELOAD_COMMAND, .argv = argv};

	return a;
}

static const struct {
	const char *argv[6];
	bool shell;
	bool ok;
	const char *message;
	const char *output;
} cmd_cases[] = {
	{{"/bin/echo", "hello"}, false, true, "/bin/echo: exited with status 0", "hello\n"},
	{{"echo", "looked up"}, false, true, "/usr/bin/echo: exited with status 0",
	 "looked up\n"},
	{{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, false, false,
	 "/bin/sh: exited with status 3", "out\nerr\n"},
	{{"echo out; exit 4"}, true, false, "/bin/sh: exited with status 4", "out\n"},
	{{"kill -USR1 $$"}, true, false, "/bin/sh: killed by signal 10 (SIGUSR1)", ""},
	/* No shell: ";", "$" and quotes reach the program as they are. */
	{{"/bin/echo", "a;", "echo", "$HOME", "'q'"}, false, true, "exited with status 0",
	 "a; echo $HOME 'q'\n"},
	/* stdin is /dev/null: cat ends at once. */
	{{"/bin/cat"}, false, true, "exited with status 0", ""},
	/* Default dispositions and an empty mask, though the test process
	 * ignores SIGPIPE and blocks SIGUSR2 (main). */
	{{"/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"}, false, true, "status 0",
	 "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"},
	/* Only 0-2 are open (the test process holds more, see main). */
	{{"/bin/ls", "/proc/self/fd"}, false, true, "status 0", "0\n1\n2\n3\n"},
	{{"/nonexistent/prog"}, false, false, "cannot execute /nonexistent/prog: No such file",
	 ""},
	{{"no-such-program-certd"}, false, false,
	 "no-such-program-certd: not found in /usr/sbin:/usr/bin:/sbin:/bin", ""},
	{{""}, false, false, "command: empty argv", ""},
	{{"echo a", "b"}, true, false, "shell takes one command line", ""},
};

START_TEST(test_command)
{
	struct reload_action a = command(cmd_cases[_i].argv);
	struct result r = {0};

	a.shell = cmd_cases[_i].shell;
	run(&a, NULL, &r);
	ck_assert_msg(r.ok == cmd_cases[_i].ok, "ok=%d: %s", r.ok, r.message);
	assert_has(r.message, cmd_cases[_i].message);
	ck_assert_str_eq(r.output, cmd_cases[_i].output);
	ck_assert(!r.truncated);
	result_free(&r);
}
END_TEST

START_TEST(test_command_env)
{
	const char *argv[] = {"/usr/bin/env", NULL};
	const char *sh[] = {"echo \"$CERTD_CERT_NAME|$CERTD_KEY_FILE|${FOO-unset}\"", NULL};
	struct reload_env env = {
	    .cert_name = "web",
	    .cert_file = "/etc/ssl/web.crt",
	    .key_file = "/etc/ssl/web.key",
	    .chain_file = "/etc/ssl/chain.pem",
	    .fullchain_file = "/etc/ssl/full.pem",
	};
	struct reload_action a = command(argv);
	struct result r = {0};

	setenv("FOO", "bar", 1);
	setenv("VAULT_TOKEN", "s.secret", 1);
	run(&a, &env, &r);
	ck_assert(r.ok);
	ck_assert_str_eq(r.output, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
				   "CERTD_CERT_NAME=web\n"
				   "CERTD_CERT_FILE=/etc/ssl/web.crt\n"
				   "CERTD_KEY_FILE=/etc/ssl/web.key\n"
				   "CERTD_CHAIN_FILE=/etc/ssl/chain.pem\n"
				   "CERTD_FULLCHAIN_FILE=/etc/ssl/full.pem\n");
	result_free(&r);

	a = command(sh);
	a.shell = true;
	run(&a, &env, &r);
	ck_assert(r.ok);
	ck_assert_str_eq(r.output, "web|/etc/ssl/web.key|unset\n");
	result_free(&r);

	/* Members left NULL are left out. */
	env.chain_file = env.fullchain_file = NULL;
	a = command(argv);
	run(&a, &env, &r);
	ck_assert(strstr(r.output, "CHAIN") == NULL);
	result_free(&r);
}
END_TEST

START_TEST(test_command_output_cap)
{
	/* 100 kB: more than the pipe holds, so the cap must drain, not stop
	 * reading (the child would block and time out). */
	const char *sh[] = {"head -c 100000 /dev/zero | tr '\\0' a; echo done >&2", NULL};
	struct reload_action a = command(sh);
	struct result r = {0};
	size_t i;

	a.shell = true;
	a.timeout_ms = 10000;
	run(&a, NULL, &r);
	ck_assert_msg(r.ok, "%s", r.message);
	ck_assert_uint_eq(r.output_len, RELOAD_OUTPUT_MAX);
	ck_assert(r.truncated);
	for (i = 0; i < r.output_len; i++)
		ck_assert_int_eq(r.output[i], 'a');
	result_free(&r);
}
END_TEST

START_TEST(test_command_timeout_term)
{
	const char *argv[] = {"/bin/sleep", "100", NULL};
	struct reload_action a = command(argv);
	struct result r = {0};
	double t0 = now_s();

	a.timeout_ms = 300;
	run(&a, NULL, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.message, "/bin/sleep: timed out after 300ms, killed by signal 15 "
				    "(SIGTERM)");
	ck_assert(now_s() - t0 < 3.0);
	result_free(&r);
}
END_TEST

START_TEST(test_command_timeout_kill)
{
	/* The shell and its sleeps ignore TERM (inherited): only KILL of the
	 * process group ends them. */
	const char *sh[] = {"trap '' TERM; echo started; while :; do sleep 0.05; done", NULL};
	struct reload_action a = command(sh);
	struct result r = {0};
	double t0 = now_s(), dt;

	a.shell = true;
	a.timeout_ms = 300;
	a.kill_after_ms = 400;
	run(&a, NULL, &r);
	dt = now_s() - t0;
	ck_assert(!r.ok);
	ck_assert_str_eq(r.message, "/bin/sh: timed out after 300ms, killed by signal 9 "
				    "(SIGKILL)");
	ck_assert_str_eq(r.output, "started\n");
	ck_assert_msg(dt >= 0.65 && dt < 4.0, "took %.2fs", dt);
	result_free(&r);
}
END_TEST

/* Two commands at once, with pidfds and with the SIGCHLD fallback. */
START_TEST(test_command_concurrent)
{
	const char *slow[] = {"sleep 0.3; echo slow", NULL};
	const char *fast[] = {"echo fast; exit 2", NULL};
	struct reload_action a = command(slow), b = command(fast);
	struct result ra = {0}, rb = {0};

	reload_ctx_set_use_pidfd(ctx, _i == 0);
	a.shell = b.shell = true;
	start(&a, NULL, &ra);
	start(&b, NULL, &rb);
	wait_done(&rb);
	ck_assert_int_eq(ra.calls, 0);
	wait_done(&ra);
	ck_assert(ra.ok);
	ck_assert_str_eq(ra.output, "slow\n");
	ck_assert(!rb.ok);
	ck_assert_str_eq(rb.message, "/bin/sh: exited with status 2");
	ck_assert_str_eq(rb.output, "fast\n");
	result_free(&ra);
	result_free(&rb);
}
END_TEST

static pid_t
read_pid_file(const char *path)
{
	char *s = NULL;
	double t0 = now_s();
	long pid;

	while ((s = tu_read_file(path, NULL)) == NULL || strchr(s, '\n') == NULL) {
		free(s);
		ck_assert_msg(now_s() - t0 < 5.0, "no %s", path);
		spin(10);
	}
	pid = strtol(s, NULL, 10);
	free(s);
	return (pid_t)pid;
}

/* Cancelled: no callback, and the child is still terminated and reaped
 * (a zombie would still answer kill(pid, 0)). */
START_TEST(test_command_cancel)
{
	char *pidf = tu_path(tmpdir, "child.pid");
	char *line = xasprintf("echo $$ > %s; exec sleep 100", pidf);
	const char *sh[] = {line, NULL};
	struct reload_action a = command(sh);
	struct result r = {0};
	struct reload_op *op;
	double t0;
	pid_t pid;

	reload_ctx_set_use_pidfd(ctx, _i == 0);
	a.shell = true;
	op = start(&a, NULL, &r);
	pid = read_pid_file(pidf);
	ck_assert_int_gt(pid, 1);
	reload_cancel(op);
	t0 = now_s();
	while (kill(pid, 0) == 0) {
		ck_assert_msg(now_s() - t0 < 5.0, "child %d not reaped", (int)pid);
		spin(20);
	}
	ck_assert_int_eq(errno, ESRCH);
	spin(50);
	ck_assert_int_eq(r.calls, 0);
	free(line);
	free(pidf);
}
END_TEST

/* Freeing the context kills and reaps what still runs, without callback. */
START_TEST(test_command_ctx_free)
{
	char *pidf = tu_path(tmpdir, "child.pid");
	char *line = xasprintf("echo $$ > %s; exec sleep 100", pidf);
	const char *sh[] = {line, NULL};
	struct reload_action a = command(sh);
	struct result r = {0};
	pid_t pid;

	a.shell = true;
	start(&a, NULL, &r);
	pid = read_pid_file(pidf);
	reload_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	spin(20);
	ck_assert_int_eq(r.calls, 0);
	free(line);
	free(pidf);
}
END_TEST

/* ------------------------------------------------------------ signal */

struct counter {
	pid_t pid;
	int fd;   /* one byte per signal taken: 'H' HUP, 'U' USR1 */
};

/* A child that blocks HUP, USR1 and TERM, says 'r' when ready, then
 * reports each HUP and USR1 until TERM. */
static struct counter
counter_start(void)
{
	struct counter c;
	sigset_t set;
	int p[2], sig;
	char ch;

	ck_assert_int_eq(pipe(p), 0);
	c.pid = fork();
	ck_assert_int_ge(c.pid, 0);
	if (c.pid == 0) {
		close(p[0]);
		sigemptyset(&set);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGUSR1);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		for (;;) {
			if (sigwait(&set, &sig) != 0 || sig == SIGTERM)
				_exit(0);
			ch = sig == SIGHUP ? 'H' : 'U';
			if (write(p[1], &ch, 1) != 1)
				_exit(1);
		}
	}
	close(p[1]);
	c.fd = p[0];
	ck_assert_int_eq(read(c.fd, &ch, 1), 1);
	ck_assert_int_eq(ch, 'r');
	return c;
}

/* The next signal the counter reports, or 0 after a second. */
static char
counter_next(struct counter *c)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	char ch = 0;

	if (poll(&pfd, 1, 1000) == 1 && read(c->fd, &ch, 1) != 1)
		ch = 0;
	return ch;
}

static void
counter_stop(struct counter *c)
{
	kill(c->pid, SIGTERM);
	waitpid(c->pid, NULL, 0);
	close(c->fd);
}

START_TEST(test_signal_pidfile)
{
	struct counter c = counter_start();
	char *pidf = tu_path(tmpdir, "svc.pid");
	char *content = xasprintf("%d\n", (int)c.pid);
	char *want = xasprintf("sent SIGHUP to pid %d (from %s)", (int)c.pid, pidf);
	struct reload_action a = {.kind = RELOAD_SIGNAL, .signal = "HUP", .pidfile = pidf};
	struct result r = {0};

	tu_write_file(pidf, content, 0644);
	run(&a, NULL, &r);
	ck_assert_msg(r.ok, "%s", r.message);
	ck_assert_str_eq(r.message, want);
	ck_assert_int_eq(counter_next(&c), 'H');
	result_free(&r);

	/* Re-read every time: a restarted service has a new pid. */
	a.signal = "SIGUSR1";
	run(&a, NULL, &r);
	ck_assert(r.ok);
	ck_assert_int_eq(counter_next(&c), 'U');
	result_free(&r);

	counter_stop(&c);
	run(&a, NULL, &r);
	ck_assert(!r.ok);
	assert_has(r.message, "No such process");
	result_free(&r);
	free(want);
	free(content);
	free(pidf);
}
END_TEST

enum pidf_kind { PIDF_FILE, PIDF_DIR, PIDF_FIFO, PIDF_SYMLINK, PIDF_MISSING };

static const struct {
	enum pidf_kind kind;
	const char *content;   /* "%d" stands for the counter's pid */
	mode_t mode;
	uid_t uid;             /* chown to this (needs root) */
	bool owner_set;
	uid_t owner;
	const char *signal;
	bool ok;
	const char *message;
} pf_cases[] = {
	{PIDF_FILE, "%d\n", 0644, 0, false, 0, "HUP", true, "sent SIGHUP"},
	{PIDF_FILE, "%d", 0600, 0, false, 0, "hup", true, "sent SIGHUP"},
	{PIDF_FILE, "1\n", 0644, 0, false, 0, "HUP", false, "refusing pid 1"},
	{PIDF_FILE, "0\n", 0644, 0, false, 0, "HUP", false, "refusing pid 0"},
	{PIDF_FILE, "abc\n", 0644, 0, false, 0, "HUP", false, "not a decimal pid"},
	{PIDF_FILE, "12abc\n", 0644, 0, false, 0, "HUP", false, "not a decimal pid"},
	{PIDF_FILE, " 12\n", 0644, 0, false, 0, "HUP", false, "not a decimal pid"},
	{PIDF_FILE, "-5\n", 0644, 0, false, 0, "HUP", false, "not a decimal pid"},
	{PIDF_FILE, "", 0644, 0, false, 0, "HUP", false, "not a decimal pid"},
	{PIDF_FILE, "99999999999\n", 0644, 0, false, 0, "HUP", false, "not a decimal pid"},
	{PIDF_FILE, "%d\n%d\n", 0644, 0, false, 0, "HUP", false, "not a decimal pid"},
	{PIDF_FILE, "%d\n", 0664, 0, false, 0, "HUP", false, "writable by group or others"},
	{PIDF_FILE, "%d\n", 0646, 0, false, 0, "HUP", false, "writable by group or others"},
	{PIDF_FILE, "%d\n", 0644, 65534, false, 0, "HUP", false, "owned by uid 65534, not root"},
	{PIDF_FILE, "%d\n", 0644, 65534, true, 1000, "HUP", false,
	 "owned by uid 65534, not root or uid 1000"},
	{PIDF_FILE, "%d\n", 0644, 65534, true, 65534, "HUP", true, "sent SIGHUP"},
	{PIDF_FILE, "%d\n", 0644, 0, false, 0, "BOGUS", false, "unknown signal \"BOGUS\""},
	{PIDF_DIR, NULL, 0755, 0, false, 0, "HUP", false, "not a regular file"},
	{PIDF_FIFO, NULL, 0644, 0, false, 0, "HUP", false, "not a regular file"},
	{PIDF_SYMLINK, "%d\n", 0644, 0, false, 0, "HUP", false, "is a symbolic link"},
	{PIDF_MISSING, NULL, 0, 0, false, 0, "HUP", false, "No such file or directory"},
};

/* tmpl with every "%d" replaced by pid */
static char *
subst_pid(const char *tmpl, pid_t pid)
{
	struct buf b = BUF_INIT;
	const char *p;

	for (p = tmpl; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'd') {
			buf_printf(&b, "%d", (int)pid);
			p++;
		} else {
			buf_putc(&b, *p);
		}
	}
	return buf_steal(&b);
}

START_TEST(test_signal_pidfile_checks)
{
	struct counter c = counter_start();
	char *pidf = tu_path(tmpdir, "svc.pid"), *real = tu_path(tmpdir, "real.pid");
	char *content = NULL;
	struct reload_action a = {.kind = RELOAD_SIGNAL, .pidfile = pidf};
	struct result r = {0};

	if (pf_cases[_i].uid != 0 && geteuid() != 0) {
		counter_stop(&c);
		free(pidf);
		free(real);
		return;   /* chown needs root */
	}
	a.signal = pf_cases[_i].signal;
	a.pidfile_owner = pf_cases[_i].owner;
	a.pidfile_owner_set = pf_cases[_i].owner_set;
	if (pf_cases[_i].content != NULL) {
		content = subst_pid(pf_cases[_i].content, c.pid);
	}
	switch (pf_cases[_i].kind) {
	case PIDF_FILE:
		tu_write_file(pidf, content, 0600);
		ck_assert_int_eq(chmod(pidf, pf_cases[_i].mode), 0);
		if (geteuid() == 0)
			ck_assert_int_eq(chown(pidf, pf_cases[_i].uid, 0), 0);
		break;
	case PIDF_DIR:
		ck_assert_int_eq(mkdir(pidf, 0755), 0);
		break;
	case PIDF_FIFO:
		ck_assert_int_eq(mkfifo(pidf, 0644), 0);
		break;
	case PIDF_SYMLINK:
		tu_write_file(real, content, 0644);
		ck_assert_int_eq(symlink(real, pidf), 0);
		break;
	case PIDF_MISSING:
		break;
	}
	if (geteuid() != 0 && pf_cases[_i].kind != PIDF_MISSING && pf_cases[_i].ok) {
		/* Not root: the file is ours, so name ourselves the owner. */
		a.pidfile_owner = geteuid();
		a.pidfile_owner_set = true;
	}
	run(&a, NULL, &r);
	ck_assert_msg(r.ok == pf_cases[_i].ok, "ok=%d: %s", r.ok, r.message);
	assert_has(r.message, pf_cases[_i].message);
	if (reload_signal_from_name(a.signal) > 0)
		assert_has(r.message, pidf);
	ck_assert_int_eq(counter_next(&c), pf_cases[_i].ok ? 'H' : 0);
	counter_stop(&c);
	result_free(&r);
	free(content);
	free(real);
	free(pidf);
}
END_TEST

START_TEST(test_signal_bad_action)
{
	struct reload_action a = {.kind = RELOAD_SIGNAL, .signal = "HUP"};
	struct result r = {0};

	run(&a, NULL, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.message, "signal needs exactly one of a pid file and a unit");
	result_free(&r);
}
END_TEST

START_TEST(test_signal_names)
{
	enum reload_unit_mode m;

	ck_assert_int_eq(reload_signal_from_name("HUP"), SIGHUP);
	ck_assert_int_eq(reload_signal_from_name("SIGUSR2"), SIGUSR2);
	ck_assert_int_eq(reload_signal_from_name("winch"), SIGWINCH);
	ck_assert_int_eq(reload_signal_from_name("QUIT"), SIGQUIT);
	ck_assert_int_eq(reload_signal_from_name("SIG"), -EINVAL);
	ck_assert_int_eq(reload_signal_from_name("SEGV"), -EINVAL);
	ck_assert_int_eq(reload_signal_from_name("1"), -EINVAL);
	ck_assert_int_eq(reload_signal_from_name(NULL), -EINVAL);
	ck_assert_int_eq(reload_unit_mode_from_name("try-reload-or-restart", &m), 0);
	ck_assert_int_eq(m, RELOAD_UNIT_TRY_RELOAD_OR_RESTART);
	ck_assert_int_eq(reload_unit_mode_from_name("restart", &m), 0);
	ck_assert_int_eq(m, RELOAD_UNIT_RESTART);
	ck_assert_int_eq(reload_unit_mode_from_name("start", &m), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------ http */

struct seen {
	int requests;
	char method[16];
	char uri[128];
	char api_key[64];
	char content_type[64];
	char *body;
};

static struct seen seen;
static int http_port;
static struct evhttp *server;

static void
on_request(struct evhttp_request *req, void *arg)
{
	static const char *methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE",
					"OPTIONS", "TRACE", "CONNECT", "PATCH"};
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	const char *uri = evhttp_request_get_uri(req), *v;
	int cmd = evhttp_request_get_command(req), i;
	size_t len = evbuffer_get_length(in);

	(void)arg;
	seen.requests++;
	for (i = 0; i < 9; i++)
		if (cmd == 1 << i)
			snprintf(seen.method, sizeof(seen.method), "%s", methods[i]);
	snprintf(seen.uri, sizeof(seen.uri), "%s", uri);
	v = evhttp_find_header(hdrs, "X-API-KEY");
	snprintf(seen.api_key, sizeof(seen.api_key), "%s", v != NULL ? v : "");
	v = evhttp_find_header(hdrs, "Content-Type");
	snprintf(seen.content_type, sizeof(seen.content_type), "%s", v != NULL ? v : "");
	free(seen.body);
	seen.body = xcalloc(1, len + 1);
	evbuffer_remove(in, seen.body, len);
	if (strncmp(uri, "/fail", 5) == 0) {
		evbuffer_add_printf(out, "{\"error_msg\":\"invalid configuration\"}");
		for (i = 0; i < 40; i++)
			evbuffer_add_printf(out, "0123456789");
		evhttp_send_reply(req, 500, "Internal Server Error", out);
	} else if (strncmp(uri, "/created", 8) == 0) {
		evhttp_send_reply(req, 201, "Created", out);
	} else if (strncmp(uri, "/slow", 5) == 0) {
		/* never answered: the connection closes with the server */
	} else {
		evbuffer_add_printf(out, "{\"value\":{}}");
		evhttp_send_reply(req, 200, "OK", out);
	}
	evbuffer_free(out);
}

static void
setup_http(void)
{
	struct evhttp_bound_socket *s;
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);

	setup();
	memset(&seen, 0, sizeof(seen));
	server = evhttp_new(base);
	evhttp_set_gencb(server, on_request, NULL);
	evhttp_set_allowed_methods(server, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
						   EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
	s = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss,
				     &len),
			 0);
	http_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
teardown_http(void)
{
	evhttp_free(server);
	free(seen.body);
	teardown();
}

static const char apisix_body[] = "{\"cert\":\"-----BEGIN CERTIFICATE-----\\n...\","
				  "\"key\":\"-----BEGIN PRIVATE KEY-----\\n...\","
				  "\"snis\":[\"test.com\"]}";

static struct reload_action
http_action(const char *path, const struct http_header *h, size_t nh, char **url)
{
	struct reload_action a = {.kind = RELOAD_HTTP};

	*url = xasprintf("http://127.0.0.1:%d%s", http_port, path);
	a.http.method = "PUT";
	a.http.url = *url;
	a.http.headers = h;
	a.http.n_headers = nh;
	a.http.body = apisix_body;
	a.http.body_len = strlen(apisix_body);
	return a;
}

START_TEST(test_http_put)
{
	struct http_header h[] = {
	    {"X-API-KEY", "edd1c9f034335f136f87ad84b625c8f1", true},
	    {"Content-Type", "application/json", false},
	};
	char *url;
	struct reload_action a = http_action("/apisix/admin/ssls/1", h, 2, &url);
	struct result r = {0};

	run(&a, NULL, &r);
	ck_assert_msg(r.ok, "%s", r.message);
	ck_assert_str_eq(r.message, "HTTP 200");
	ck_assert_str_eq(r.output, "");
	ck_assert_int_eq(seen.requests, 1);
	ck_assert_str_eq(seen.method, "PUT");
	ck_assert_str_eq(seen.uri, "/apisix/admin/ssls/1");
	ck_assert_str_eq(seen.api_key, "edd1c9f034335f136f87ad84b625c8f1");
	ck_assert_str_eq(seen.content_type, "application/json");
	ck_assert_str_eq(seen.body, apisix_body);
	result_free(&r);
	free(url);

	a = http_action("/created", h, 2, &url);
	run(&a, NULL, &r);
	ck_assert(r.ok);
	ck_assert_str_eq(r.message, "HTTP 201");
	result_free(&r);
	free(url);
}
END_TEST

START_TEST(test_http_500)
{
	struct http_header h[] = {{"X-API-KEY", "edd1c9f034335f136f87ad84b625c8f1", true}};
	char *url, *want;
	struct reload_action a = http_action("/fail", h, 1, &url);
	struct result r = {0};
	const char *prefix = "{\"error_msg\":\"invalid configuration\"}";

	run(&a, NULL, &r);
	ck_assert(!r.ok);
	/* status, then the first 200 bytes of the body, then "..." */
	want = xasprintf("HTTP 500: %s%.*s...", prefix, (int)(200 - strlen(prefix)),
			 "0123456789012345678901234567890123456789012345678901234567890123456789"
			 "0123456789012345678901234567890123456789012345678901234567890123456789"
			 "0123456789012345678901234567890123456789");
	ck_assert_str_eq(r.message, want);
	ck_assert(strstr(r.message, "edd1c9f0") == NULL);
	result_free(&r);
	free(want);
	free(url);
}
END_TEST

START_TEST(test_http_failures)
{
	struct result r = {0};
	char *url;
	struct reload_action a = http_action("/slow", NULL, 0, &url);
	struct reload_ctx *bare;

	/* timeout_ms applies to the request */
	a.timeout_ms = 300;
	run(&a, NULL, &r);
	ck_assert(!r.ok);
	assert_has(r.message, "HTTP request failed:");
	assert_has(r.message, "timed out");
	result_free(&r);
	free(url);

	/* nothing listens on port 1 */
	a.http.url = "http://127.0.0.1:1/";
	a.timeout_ms = 0;
	run(&a, NULL, &r);
	ck_assert(!r.ok);
	assert_has(r.message, "HTTP request failed:");
	result_free(&r);

	/* a context without an HTTP client */
	bare = reload_ctx_new(base, NULL);
	{
		struct reload_op *op = NULL;

		ck_assert_int_eq(reload_start(bare, &a, NULL, on_done, &r, &op), 0);
		ck_assert_int_eq(r.calls, 0);
		wait_done(&r);
	}
	ck_assert(!r.ok);
	ck_assert_str_eq(r.message, "no HTTP client");
	result_free(&r);
	reload_ctx_free(bare);
}
END_TEST

/* Cancel before anything happened, for every kind: no callback. */
START_TEST(test_cancel_before_loop)
{
	const char *argv[] = {"/bin/true", NULL};
	char *url = xasprintf("http://127.0.0.1:%d/x", http_port);
	struct reload_action acts[] = {
	    {.kind = RELOAD_COMMAND, .argv = argv},
	    {.kind = RELOAD_SIGNAL, .signal = "HUP", .pidfile = "/nonexistent"},
	    {.kind = RELOAD_HTTP, .http = {.url = url}},
	    {.kind = RELOAD_SYSTEMD_UNIT, .unit = "x.service"},
	};
	struct result r = {0};
	size_t i;

	reload_ctx_set_bus_address(ctx, "unix:path=/nonexistent/bus");
	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		reload_cancel(start(&acts[i], NULL, &r));
	spin(300);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(seen.requests, 0);
	reload_cancel(NULL);
	free(url);
}
END_TEST

START_TEST(test_start_einval)
{
	struct reload_action a = {.kind = RELOAD_COMMAND};
	struct reload_op *op = NULL;

	ck_assert_int_eq(reload_start(NULL, &a, NULL, on_done, NULL, &op), -EINVAL);
	ck_assert_int_eq(reload_start(ctx, NULL, NULL, on_done, NULL, &op), -EINVAL);
	ck_assert_int_eq(reload_start(ctx, &a, NULL, NULL, NULL, &op), -EINVAL);
	ck_assert_int_eq(reload_start(ctx, &a, NULL, on_done, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(op);
}
END_TEST

/* A callback may free the context. */
static void
on_done_free(const struct reload_result *res, void *arg)
{
	on_done(res, arg);
	reload_ctx_free(ctx);
	ctx = NULL;
}

START_TEST(test_free_from_callback)
{
	const char *fast[] = {"/bin/true", NULL};
	const char *slow[] = {"/bin/sleep", "100", NULL};
	struct reload_action a = command(fast), b = command(slow);
	struct result ra = {0}, rb = {0};
	struct reload_op *op = NULL;

	in_start = true;
	ck_assert_int_eq(reload_start(ctx, &a, NULL, on_done_free, &ra, &op), 0);
	in_start = false;
	start(&b, NULL, &rb);
	wait_done(&ra);
	ck_assert_ptr_null(ctx);
	spin(50);
	ck_assert_int_eq(rb.calls, 0);
	result_free(&ra);
}
END_TEST

/* ------------------------------------------------------------ systemd */

static pid_t dbus_pid = -1, fake_pid = -1;
static char *bus_addr, *call_log;

/* One line from fd (blocking, before the loop runs), or abort. */
static char *
read_line(int fd, const char *who)
{
	char buf[512];
	size_t n = 0;
	struct pollfd pfd = {fd, POLLIN, 0};

	while (n < sizeof(buf) - 1) {
		ck_assert_msg(poll(&pfd, 1, 5000) == 1, "%s did not start", who);
		ck_assert_msg(read(fd, buf + n, 1) == 1, "%s exited", who);
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return xstrdup(buf);
}

/* argv[0] with stdout to a pipe; returns the first line it prints. */
static char *
spawn_reading(char *const argv[], pid_t *pid, const char *errfile)
{
	int p[2];
	char *line;

	ck_assert_int_eq(pipe(p), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		dup2(p[1], 1);
		if (errfile != NULL)
			freopen(errfile, "a", stderr);
		close(p[0]);
		close(p[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	line = read_line(p[0], argv[0]);
	close(p[0]);
	return line;
}

static void
setup_bus(void)
{
	char *conf, *xml, *sock, *errf;
	char *argv[4] = {"/usr/bin/dbus-daemon", NULL, "--nofork", "--print-address"};
	char *args[5];

	setup();
	sock = tu_path(tmpdir, "bus");
	conf = tu_path(tmpdir, "bus.conf");
	xml = xasprintf("<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus "
			"Configuration 1.0//EN\"\n"
			" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
			"<busconfig>\n"
			"  <type>certd-test</type>\n"
			"  <listen>unix:path=%s</listen>\n"
			"  <auth>EXTERNAL</auth>\n"
			"  <policy context=\"default\">\n"
			"    <allow user=\"*\"/>\n"
			"    <allow own=\"*\"/>\n"
			"    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
			"    <allow eavesdrop=\"true\"/>\n"
			"  </policy>\n"
			"</busconfig>\n",
			sock);
	tu_write_file(conf, xml, 0644);
	args[0] = argv[0];
	args[1] = xasprintf("--config-file=%s", conf);
	args[2] = argv[2];
	args[3] = argv[3];
	args[4] = NULL;
	errf = tu_path(tmpdir, "dbus-daemon.err");
	bus_addr = spawn_reading(args, &dbus_pid, errf);
	free(errf);
	ck_assert_msg(strncmp(bus_addr, "unix:", 5) == 0, "address %s", bus_addr);
	reload_ctx_set_bus_address(ctx, bus_addr);
	call_log = tu_path(tmpdir, "calls.log");
	free(args[1]);
	free(xml);
	free(conf);
	free(sock);
}

static void
stop_child(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

static void
teardown_bus(void)
{
	teardown();
	stop_child(&fake_pid);
	stop_child(&dbus_pid);
	free(bus_addr);
	free(call_log);
}

static const char *
fake_path(void)
{
	const char *env = getenv("FAKE_SYSTEMD");

	if (env != NULL && *env != '\0')
		return env;
	if (access("./fake_systemd", X_OK) == 0)
		return "./fake_systemd";
	return "tests/fake_systemd";
}

/* Start the stand-in with extra options (NULL-terminated). */
static void
start_fake(const char *opt, ...)
{
	char *argv[32];
	char *line;
	va_list ap;
	size_t n = 0;

	argv[n++] = (char *)(uintptr_t)fake_path();
	argv[n++] = bus_addr;
	argv[n++] = call_log;
	va_start(ap, opt);
	for (; opt != NULL && n < 31; opt = va_arg(ap, const char *))
		argv[n++] = (char *)(uintptr_t)opt;
	va_end(ap);
	argv[n] = NULL;
	line = spawn_reading(argv, &fake_pid, NULL);
	ck_assert_str_eq(line, "ready");
	free(line);
}

static char *
calls(void)
{
	char *s = tu_read_file(call_log, NULL);

	return s != NULL ? s : xstrdup("");
}

static const struct {
	const char *unit;
	enum reload_unit_mode mode;
	bool ok;
	const char *message;
	const char *call;
} unit_cases[] = {
	{"nginx.service", RELOAD_UNIT_RELOAD, true, "reload of nginx.service: job result \"done\"",
	 "Subscribe\nReloadUnit nginx.service replace\n"},
	{"nginx.service", RELOAD_UNIT_RESTART, true, "restart of nginx.service: job result \"done\"",
	 "Subscribe\nRestartUnit nginx.service replace\n"},
	{"nginx.service", RELOAD_UNIT_TRY_RELOAD_OR_RESTART, true,
	 "try-reload-or-restart of nginx.service: job result \"done\"",
	 "Subscribe\nReloadOrTryRestartUnit nginx.service replace\n"},
	{"broken.service", RELOAD_UNIT_RELOAD, false,
	 "reload of broken.service: job result \"failed\"",
	 "Subscribe\nReloadUnit broken.service replace\n"},
	{"odd.service", RELOAD_UNIT_RESTART, false, "restart of odd.service: job result \"canceled\"",
	 "Subscribe\nRestartUnit odd.service replace\n"},
	{"gone.service", RELOAD_UNIT_RELOAD, false,
	 "ReloadUnit gone.service: org.freedesktop.systemd1.NoSuchUnit: Unit gone.service not "
	 "found.",
	 "Subscribe\nReloadUnit gone.service replace\n"},
	{"hang.service", RELOAD_UNIT_RELOAD, false,
	 "timed out after 500ms waiting for the reload job of hang.service",
	 "Subscribe\nReloadUnit hang.service replace\n"},
};

START_TEST(test_unit)
{
	struct reload_action a = {.kind = RELOAD_SYSTEMD_UNIT, .timeout_ms = 500};
	struct result r = {0};
	char *log;

	start_fake("--fail", "broken.service", "--result", "odd.service=canceled", "--missing",
		   "gone.service", "--hang", "hang.service", NULL);
	a.unit = unit_cases[_i].unit;
	a.mode = unit_cases[_i].mode;
	run(&a, NULL, &r);
	ck_assert_msg(r.ok == unit_cases[_i].ok, "%s", r.message);
	ck_assert_str_eq(r.message, unit_cases[_i].message);
	log = calls();
	ck_assert_str_eq(log, unit_cases[_i].call);
	free(log);
	result_free(&r);
}
END_TEST

/* Several jobs on one connection: each finds its own JobRemoved, and
 * Subscribe is sent once for them.  Once none waits, the connection is
 * closed (so that certd does not wake up for every job on the host); the
 * next action connects and subscribes again. */
START_TEST(test_unit_concurrent)
{
	struct reload_action a = {.kind = RELOAD_SYSTEMD_UNIT, .unit = "a.service"};
	struct reload_action b = {.kind = RELOAD_SYSTEMD_UNIT, .unit = "b.service"};
	struct result ra = {0}, rb = {0};
	char *log;

	start_fake("--fail", "b.service", NULL);
	start(&a, NULL, &ra);
	start(&b, NULL, &rb);
	wait_done(&ra);
	wait_done(&rb);
	ck_assert(ra.ok);
	ck_assert(!rb.ok);
	assert_has(rb.message, "b.service: job result \"failed\"");
	result_free(&ra);
	result_free(&rb);
	run(&a, NULL, &ra);
	ck_assert(ra.ok);
	log = calls();
	ck_assert_str_eq(log, "Subscribe\nReloadUnit a.service replace\n"
			      "ReloadUnit b.service replace\n"
			      "Subscribe\nReloadUnit a.service replace\n");
	free(log);
	result_free(&ra);
}
END_TEST

START_TEST(test_unit_cancel)
{
	struct reload_action a = {.kind = RELOAD_SYSTEMD_UNIT, .unit = "nginx.service"};
	struct result r = {0}, r2 = {0};
	struct reload_op *op;

	start_fake("--delay-ms", "100", NULL);
	op = start(&a, NULL, &r);
	spin(30);   /* the call is out, the job not finished */
	reload_cancel(op);
	spin(300);
	ck_assert_int_eq(r.calls, 0);
	/* the connection still serves */
	run(&a, NULL, &r2);
	ck_assert(r2.ok);
	result_free(&r2);
}
END_TEST

START_TEST(test_unit_bus_lost)
{
	struct reload_action a = {.kind = RELOAD_SYSTEMD_UNIT, .unit = "hang.service"};
	struct result r = {0};

	start_fake("--hang", "hang.service", NULL);
	start(&a, NULL, &r);
	spin(100);
	ck_assert_int_eq(r.calls, 0);
	stop_child(&dbus_pid);
	wait_done(&r);
	ck_assert(!r.ok);
	assert_has(r.message, "D-Bus");
	result_free(&r);
}
END_TEST

START_TEST(test_unit_no_bus)
{
	struct reload_action a = {.kind = RELOAD_SYSTEMD_UNIT, .unit = "nginx.service"};
	struct result r = {0};
	char *addr = xasprintf("unix:path=%s/nobus", tmpdir);

	reload_ctx_set_bus_address(ctx, addr);
	run(&a, NULL, &r);
	ck_assert(!r.ok);
	assert_has(r.message, "cannot connect to the D-Bus bus");
	result_free(&r);
	a.unit = NULL;
	run(&a, NULL, &r);
	ck_assert_str_eq(r.message, "no unit given");
	result_free(&r);
	free(addr);
}
END_TEST

START_TEST(test_signal_unit)
{
	struct counter c = counter_start();
	char *opt = xasprintf("counter.service=%d", (int)c.pid);
	char *want = xasprintf("sent SIGHUP to pid %d (MainPID of counter.service)", (int)c.pid);
	struct reload_action a = {.kind = RELOAD_SIGNAL, .signal = "HUP",
				  .unit = "counter.service"};
	struct result r = {0};
	char *log;

	start_fake("--unit", opt, "--unit", "stopped.service=0", NULL);
	run(&a, NULL, &r);
	ck_assert_msg(r.ok, "%s", r.message);
	ck_assert_str_eq(r.message, want);
	ck_assert_int_eq(counter_next(&c), 'H');
	result_free(&r);

	a.unit = "stopped.service";
	run(&a, NULL, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.message, "stopped.service has no main process (MainPID 0)");
	result_free(&r);

	a.unit = "unknown.service";
	run(&a, NULL, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.message, "GetUnit unknown.service: org.freedesktop.systemd1."
				    "NoSuchUnit: Unit unknown.service not loaded.");
	result_free(&r);

	log = calls();
	ck_assert_str_eq(log, "GetUnit counter.service\nGetUnit stopped.service\n"
			      "GetUnit unknown.service\n");
	free(log);
	ck_assert_int_eq(counter_next(&c), 0);
	counter_stop(&c);
	free(want);
	free(opt);
}
END_TEST

/* ------------------------------------------------------------ main */

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *cmd = tcase_create("command");
	TCase *sig = tcase_create("signal");
	TCase *web = tcase_create("http");
	TCase *sd = tcase_create("systemd");

	tcase_add_checked_fixture(cmd, setup, teardown);
	tcase_add_checked_fixture(sig, setup, teardown);
	tcase_add_checked_fixture(web, setup_http, teardown_http);
	tcase_add_checked_fixture(sd, setup_bus, teardown_bus);
	tcase_set_timeout(cmd, 30);
	tcase_set_timeout(sig, 30);
	tcase_set_timeout(web, 30);
	tcase_set_timeout(sd, 30);
	suite_add_tcase(s, cmd);
	suite_add_tcase(s, sig);
	suite_add_tcase(s, web);
	suite_add_tcase(s, sd);

	tcase_add_loop_test(cmd, test_command, 0, sizeof(cmd_cases) / sizeof(cmd_cases[0]));
	tcase_add_test(cmd, test_command_env);
	tcase_add_test(cmd, test_command_output_cap);
	tcase_add_test(cmd, test_command_timeout_term);
	tcase_add_test(cmd, test_command_timeout_kill);
	tcase_add_loop_test(cmd, test_command_concurrent, 0, 2);
	tcase_add_loop_test(cmd, test_command_cancel, 0, 2);
	tcase_add_test(cmd, test_command_ctx_free);
	tcase_add_test(cmd, test_free_from_callback);
	tcase_add_test(cmd, test_start_einval);

	tcase_add_test(sig, test_signal_pidfile);
	tcase_add_loop_test(sig, test_signal_pidfile_checks, 0,
			    sizeof(pf_cases) / sizeof(pf_cases[0]));
	tcase_add_test(sig, test_signal_bad_action);
	tcase_add_test(sig, test_signal_names);

	tcase_add_test(web, test_http_put);
	tcase_add_test(web, test_http_500);
	tcase_add_test(web, test_http_failures);
	tcase_add_test(web, test_cancel_before_loop);

	tcase_add_loop_test(sd, test_unit, 0, sizeof(unit_cases) / sizeof(unit_cases[0]));
	tcase_add_test(sd, test_unit_concurrent);
	tcase_add_test(sd, test_unit_cancel);
	tcase_add_test(sd, test_unit_bus_lost);
	tcase_add_test(sd, test_unit_no_bus);
	tcase_add_test(sd, test_signal_unit);
	return s;
}

int
main(void)
{
	SRunner *sr;
	sigset_t usr2;
	int failed;

	/* Loopback must not go through a proxy from the environment. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	/* What a daemon may have and a child must not inherit: an ignored
	 * SIGPIPE, a blocked signal, an fd without O_CLOEXEC. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, NULL);
	if (open("/dev/null", O_RDONLY) < 0)
		return EXIT_FAILURE;
	sr = srunner_create(reload_suite());
	srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY=verbose lists every test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
