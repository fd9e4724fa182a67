/*
 * reload_command.c — the command reload action: run a program, capture
 * what it prints, time it out, reap it, all from the event loop.
 *
 * Owns, per struct reload_ctx, the SIGCHLD signal event of the fallback
 * reaper (created only when pidfds are not available).
 *
 * Invariants:
 *  - fork() and execve(); between the two the child makes async-signal-
 *    safe calls only (the daemon has threads).  All signals are blocked in
 *    the parent across fork(), so that no handler of ours runs in the
 *    child before it has reset them.  The child gets every signal back to
 *    its default disposition (ignored ones included, e.g. SIGPIPE;
 *    posix_spawn() was not used because glibc leaves its two internal
 *    signals ignored across the exec), an empty mask, fds 0-2 only
 *    (/dev/null, the pipe, the pipe), cwd "/", and its own process group,
 *    so that the timeout's TERM and KILL reach what a shell started too.
 *  - The environment is PATH=RELOAD_COMMAND_PATH and the CERTD_* variables
 *    of struct reload_env, nothing inherited.  A bare argv[0] is looked up
 *    in that PATH here, before the fork.
 *  - An execve() failure comes back as errno over a close-on-exec pipe,
 *    read once the child is reaped: nothing blocks on it.
 *  - A child is reaped from the loop: its pidfd becomes readable when it
 *    exits (the pid cannot be reused while we have not reaped it), or, as
 *    a fallback, SIGCHLD arrives as a libevent signal event and every
 *    child of ours is tried with waitpid(WNOHANG).  The result is reported
 *    once the child is reaped; output still in the pipe is drained then
 *    (bounded), and output from grandchildren still running is not waited
 *    for.  Output past RELOAD_OUTPUT_MAX is read and discarded, so a
 *    chatty child never blocks on a full pipe.
 *  - A cancelled command stays listed, without callback, until it is
 *    reaped (TERM, then KILL after the grace period).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "err.h"
#include "reload.h"
#include "reload_int.h"
#include "xalloc.h"

#define DRAIN_MAX (64 * 1024)     /* read after the child exited */
#define READ_PER_WAKEUP 16384


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
		reload_op_free(op);
		return;
	}
	if (exec_errno != 0) {
		reload_op_finish(op, false, "cannot execute %s: %s", op->exe, strerror(exec_errno));
		return;
	}
	if (!known)
		snprintf(how, sizeof(how), "exit status unknown (reaped elsewhere)");
	else if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d (SIG%s)", WTERMSIG(status),
			 reload_signal_abbrev(WTERMSIG(status)));
	else
		snprintf(how, sizeof(how), "ended with wait status 0x%x", (unsigned)status);
	if (op->timed_out) {
		reload_fmt_ms(d, sizeof(d), op->timeout_ms);
		reload_op_finish(op, false, "%s: timed out after %s, %s", op->exe, d, how);
	} else {
		reload_op_finish(op, known && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s",
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
		tv = reload_tv_ms(op->kill_after_ms);
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
	/* An ignored 32 or 33 is inherited through execve, and glibc's
	 * sigaction() will not touch them: ask the kernel directly.  An
	 * all-zero kernel sigaction is SIG_DFL, no flags, empty mask on
	 * every architecture; the size argument is the kernel's sigset. */
	for (sig = 32; sig <= 33; sig++) {
		unsigned long ksa[8] = {0};
		syscall(SYS_rt_sigaction, sig, ksa, NULL, (size_t)(64 / 8));
	}
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

void
reload_command_start(struct reload_op *op, const struct reload_action *a, const struct reload_env *env)
{
	const char *sh[] = {"/bin/sh", "-c", NULL, NULL};
	const char *const *argv = a->argv;
	char **envp = NULL;
	struct err e;
	struct timeval tv;

	if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0') {
		reload_op_finish(op, false, "command: empty argv");
		return;
	}
	if (a->shell) {
		if (argv[1] != NULL) {
			reload_op_finish(op, false, "command: shell takes one command line, not %s",
			       "several arguments");
			return;
		}
		sh[2] = argv[0];
		argv = sh;
	}
	op->exe = resolve(argv[0]);
	if (op->exe == NULL) {
		reload_op_finish(op, false, "%s: not found in %s", argv[0], RELOAD_COMMAND_PATH);
		return;
	}
	op->timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : RELOAD_COMMAND_TIMEOUT_DEFAULT_MS;
	op->kill_after_ms = a->kill_after_ms > 0 ? a->kill_after_ms : RELOAD_KILL_AFTER_DEFAULT_MS;
	envp = make_env(env);
	/* execve's argv is char *const *: it does not write to it. */
	if (spawn(op, (char *const *)(uintptr_t)argv, envp, &e) < 0) {
		reload_op_finish(op, false, "%s", e.msg);
		goto out;
	}
	op->out_ev = event_new(op->ctx->base, op->out_fd, EV_READ | EV_PERSIST, on_output, op);
	event_add(op->out_ev, NULL);
	op->timer = event_new(op->ctx->base, -1, 0, on_command_timer, op);
	tv = reload_tv_ms(op->timeout_ms);
	event_add(op->timer, &tv);
	watch_child(op);
out:
	free_strv(envp);
}

