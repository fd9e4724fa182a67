/*
 * check_control.c — the control socket as a client sees it: replies to
 * good and bad requests, who may connect, the socket file's mode and
 * lifetime, and the blocking client's limits.
 *
 * The server runs on an event_base in the test process; every client runs
 * in a forked child (control_call blocks, and refusing a uid needs a
 * process that setuid()s) and reports what it saw as one line of text
 * through a pipe the loop watches.  The cases that need root (another uid,
 * chown) are skipped with a note on stderr otherwise.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "control.h"
#include "err.h"
#include "testutil.h"
#include "xalloc.h"

#define NOBODY 65534

static char *dir, *sock;
static struct event_base *base;
static struct control *ctl;
static struct control_config cur_cfg;   /* of the last start() */

/* What the handler saw. */
static unsigned calls;
static json_t *last_req;
static uid_t last_uid;

static json_t *
handler(const json_t *req, uid_t uid, void *arg)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	json_t *reply;
	char *blob;

	ck_assert_ptr_eq(arg, &calls);
	calls++;
	json_decref(last_req);
	last_req = json_deep_copy(req);
	last_uid = uid;
	if (strcmp(cmd, "null") == 0)
		return NULL;
	/* A reload that closes (and maybe reopens) the socket from here. */
	if (strcmp(cmd, "free") == 0 || strcmp(cmd, "reopen") == 0) {
		control_free(ctl);
		ctl = NULL;
		if (strcmp(cmd, "reopen") == 0 &&
		    control_listen(base, &cur_cfg, handler, &calls, &ctl, NULL) != 0)
			return NULL;
		return json_pack("{s:b,s:s}", "ok", 1, "cmd", cmd);
	}
	if (strcmp(cmd, "array") == 0)
		return json_array();
	if (strcmp(cmd, "big") == 0) {
		blob = xmalloc(CONTROL_MAX_REPLY);
		memset(blob, 'x', CONTROL_MAX_REPLY - 1);
		blob[CONTROL_MAX_REPLY - 1] = '\0';
		reply = json_pack("{s:b,s:s}", "ok", 1, "blob", blob);
		free(blob);
		return reply;
	}
	if (strcmp(cmd, "status") == 0)
		return json_pack("{s:b,s:[{s:s,s:s}]}", "ok", 1, "certs", "name", "web",
				 "state", "valid");
	return json_pack("{s:b,s:s,s:i}", "ok", 1, "cmd", cmd, "uid", (int)uid);
}

static void
setup(void)
{
	/* As the daemon does: a client gone early must not kill the server. */
	signal(SIGPIPE, SIG_IGN);
	dir = tu_mkdtemp();
	sock = tu_path(dir, "control.sock");
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	calls = 0;
	last_req = NULL;
	last_uid = (uid_t)-1;
	ctl = NULL;
}

static void
teardown(void)
{
	control_free(ctl);
	ctl = NULL;
	json_decref(last_req);
	last_req = NULL;
	event_base_free(base);
	base = NULL;
	tu_rm_rf(dir);
	free(dir);
	free(sock);
}

static struct control_config
config(mode_t mode)
{
	struct control_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.path = sock;
	cfg.mode = mode;
	cfg.uid = (uid_t)-1;
	cfg.gid = (gid_t)-1;
	cfg.timeout_ms = 2000;
	return cfg;
}

static void
start(const struct control_config *cfg)
{
	struct err e = {""};

	cur_cfg = *cfg;
	ck_assert_msg(control_listen(base, cfg, handler, &calls, &ctl, &e) == 0,
		      "control_listen: %s", e.msg);
}

/* ---- children ---- */

typedef char *(*client_fn)(const void *arg);

struct pipe_read {
	struct buf b;
	bool done;
};

static void
pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pipe_read *pr = arg;
	char chunk[4096];
	ssize_t r;

	(void)what;
	r = read(fd, chunk, sizeof(chunk));
	if (r < 0 && errno == EINTR)
		return;
	if (r > 0) {
		buf_append(&pr->b, chunk, (size_t)r);
		return;
	}
	pr->done = true;
	event_base_loopbreak(base);
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

/* Run fn in a child while the loop serves; returns what fn returned. */
static char *
run_client(client_fn fn, const void *arg)
{
	struct pipe_read pr = {BUF_INIT, false};
	struct timeval guard_tv = {15, 0};
	struct event *ev, *guard;
	int p[2], status;
	pid_t pid;
	char *s;
	size_t off = 0, len;
	ssize_t w;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		s = fn(arg);
		len = strlen(s);
		while (off < len && (w = write(p[1], s + off, len - off)) > 0)
			off += (size_t)w;
		_exit(0);
	}
	close(p[1]);
	ev = event_new(base, p[0], EV_READ | EV_PERSIST, pipe_cb, &pr);
	guard = evtimer_new(base, guard_cb, NULL);
	event_add(ev, NULL);
	evtimer_add(guard, &guard_tv);
	event_base_loop(base, 0);
	event_free(ev);
	event_free(guard);
	close(p[0]);
	if (!pr.done)
		kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(pr.done, "client did not finish");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client died: %d", status);
	return buf_steal(&pr.b);
}

/* control_call with req (JSON text): "OK <reply, keys sorted>" or
 * "ERR <rc> <message>". */
static char *
call_text(const char *path, const char *req_text, long timeout_ms)
{
	json_t *req = json_loads(req_text, 0, NULL), *reply = NULL;
	struct err e = {""};
	char *text, *s;
	int rc;

	rc = control_call(path, req, timeout_ms, &reply, &e);
	json_decref(req);
	if (rc != 0)
		return xasprintf("ERR %d %s", rc, e.msg);
	text = json_dumps(reply, JSON_COMPACT | JSON_SORT_KEYS);
	s = xasprintf("OK %s", text);
	free(text);
	json_decref(reply);
	return s;
}

static char *
client_call(const void *arg)
{
	return call_text(sock, arg, 5000);
}

static char *
call(const char *req_text)
{
	return run_client(client_call, req_text);
}

struct raw {
	const char *data;
	size_t len;
	bool shut;      /* shutdown(SHUT_WR) after sending */
	int wait_ms;    /* for the reply */
};

/* Send raw bytes; "REPLY <first line>", "EOF", "TIMEOUT" or "ERR ...". */
static char *
raw_exchange(const struct raw *r)
{
	struct sockaddr_un sun;
	struct buf in = BUF_INIT;
	struct pollfd pfd;
	char chunk[4096];
	size_t off = 0;
	ssize_t n;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		return xasprintf("ERR connect %s", strerror(errno));
	/* The server may stop reading (and close) before all is sent. */
	while (off < r->len) {
		n = send(fd, r->data + off, r->len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (r->shut)
		shutdown(fd, SHUT_WR);
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, r->wait_ms) <= 0) {
			close(fd);
			buf_free(&in);
			return xstrdup("TIMEOUT");
		}
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			break;		/* EOF, or reset after the reply */
		buf_append(&in, chunk, (size_t)n);
		if (memchr(chunk, '\n', (size_t)n) != NULL)
			break;
	}
	close(fd);
	if (in.len == 0)
		return xstrdup("EOF");
	return xasprintf("REPLY %.*s", (int)strcspn(buf_str(&in), "\n"), buf_str(&in));
}

static char *
client_raw(const void *arg)
{
	return raw_exchange(arg);
}

static char *
raw(const char *data, size_t len, bool shut)
{
	struct raw r = {data, len, shut, 5000};

	return run_client(client_raw, &r);
}

static void
assert_status_works(void)
{
	unsigned before = calls;
	char *s = call("{\"cmd\": \"status\"}");

	ck_assert_str_eq(s, "OK {\"certs\":[{\"name\":\"web\",\"state\":\"valid\"}],\"ok\":true}");
	ck_assert_uint_eq(calls, before + 1);
	free(s);
}

static void
assert_mode(const char *path, mode_t want)
{
	struct stat st;

	ck_assert_msg(lstat(path, &st) == 0, "stat %s", path);
	ck_assert_msg(S_ISSOCK(st.st_mode), "%s: not a socket", path);
	ck_assert_msg((st.st_mode & 07777) == want, "%s: mode %04o, want %04o", path,
		      (unsigned)(st.st_mode & 07777), (unsigned)want);
}

/* ---- tests ---- */

START_TEST(test_status_round_trip)
{
	struct control_config cfg = config(0600);

	start(&cfg);
	assert_status_works();
	ck_assert_ptr_nonnull(last_req);
	ck_assert_str_eq(json_string_value(json_object_get(last_req, "cmd")), "status");
	ck_assert_uint_eq(last_uid, geteuid());
	/* And again: one connection per request, the server keeps serving. */
	assert_status_works();
}
END_TEST

START_TEST(test_handler_sees_request)
{
	struct control_config cfg = config(0600);
	json_t *want = json_pack("{s:s,s:s,s:b}", "cmd", "renew", "name", "web", "force", 1);
	char *s;

	start(&cfg);
	s = call("{\"cmd\": \"renew\", \"name\": \"web\", \"force\": true}");
	ck_assert_uint_eq(calls, 1);
	ck_assert(json_equal(last_req, want));
	ck_assert_uint_eq(last_uid, geteuid());
	ck_assert_ptr_nonnull(strstr(s, "\"cmd\":\"renew\""));
	free(s);
	json_decref(want);
}
END_TEST

/* A line without its newline, then end of stream, is still a request. */
START_TEST(test_request_at_eof)
{
	struct control_config cfg = config(0600);
	const char req[] = "{\"cmd\": \"reload\"}";
	char *s;

	start(&cfg);
	s = raw(req, strlen(req), true);
	ck_assert_msg(strncmp(s, "REPLY {\"ok\":true,\"cmd\":\"reload\",", 32) == 0, "got: %s", s);
	ck_assert_uint_eq(calls, 1);
	free(s);
	/* Connect and hang up without a byte: no reply, no call. */
	s = raw("", 0, true);
	ck_assert_str_eq(s, "EOF");
	ck_assert_uint_eq(calls, 1);
	free(s);
}
END_TEST

static const struct {
	const char *req;
	size_t len;          /* 0: strlen */
	const char *error;   /* expected in the reply's "error" */
} bad_requests[] = {
	{"not json\n", 0, "not valid JSON"},
	{"\n", 0, "not valid JSON"},
	{"{\"cmd\": \"status\"\n", 0, "not valid JSON"},
	{"[\"status\"]\n", 0, "not a JSON object"},
	{"\"status\"\n", 0, "not valid JSON"},
	{"{}\n", 0, "no \\\"cmd\\\""},
	{"{\"name\": \"web\"}\n", 0, "no \\\"cmd\\\""},
	{"{\"cmd\": 5}\n", 0, "\\\"cmd\\\" is not a string"},
	{"{\"cmd\": null}\n", 0, "\\\"cmd\\\" is not a string"},
	{"{\"cmd\": \"status\", \"cmd\": \"reload\"}\n", 0, "duplicate"},
	{"{\"cmd\": \"\xff\xfe\"}\n", 0, "not valid JSON"},
	{"\xff\xfe\xfd\n", 0, "not valid JSON"},
	{"{\"cmd\": \"st\0tus\"}\n", 19, "not valid JSON"},
	{"{\"cmd\": \"\\u0000\"}\n", 0, "not valid JSON"},
	{"{\"cmd\": \"status\"} trailing\n", 0, "not valid JSON"},
};

START_TEST(test_bad_request)
{
	struct control_config cfg = config(0600);
	size_t len = bad_requests[_i].len ? bad_requests[_i].len : strlen(bad_requests[_i].req);
	char *s;

	start(&cfg);
	s = raw(bad_requests[_i].req, len, false);
	ck_assert_msg(strncmp(s, "REPLY {\"ok\":false,\"error\":\"", 27) == 0, "got: %s", s);
	ck_assert_msg(strstr(s, bad_requests[_i].error) != NULL, "want %s in: %s",
		      bad_requests[_i].error, s);
	ck_assert_uint_eq(calls, 0);
	free(s);
	assert_status_works();
}
END_TEST

/* 1 MB without a newline: refused after CONTROL_MAX_REQUEST bytes. */
START_TEST(test_request_too_large)
{
	struct control_config cfg = config(0600);
	size_t len = 1024 * 1024;
	char *big = xmalloc(len), *s;

	memset(big, 'a', len);
	start(&cfg);
	s = raw(big, len, false);
	ck_assert_str_eq(s, "REPLY {\"ok\":false,\"error\":\"request too large\"}");
	ck_assert_uint_eq(calls, 0);
	free(s);

	/* Valid JSON, but the newline comes too late. */
	big[0] = '{';
	memcpy(big + 1, "\"cmd\": \"status\"", 15);
	memset(big + 16, ' ', CONTROL_MAX_REQUEST);
	big[16 + CONTROL_MAX_REQUEST] = '}';
	big[17 + CONTROL_MAX_REQUEST] = '\n';
	s = raw(big, 18 + CONTROL_MAX_REQUEST, false);
	ck_assert_str_eq(s, "REPLY {\"ok\":false,\"error\":\"request too large\"}");
	ck_assert_uint_eq(calls, 0);
	free(s);

	/* Just under the cap is fine. */
	memset(big + 16, ' ', CONTROL_MAX_REQUEST - 18);
	big[CONTROL_MAX_REQUEST - 2] = '}';
	big[CONTROL_MAX_REQUEST - 1] = '\n';
	s = raw(big, CONTROL_MAX_REQUEST, false);
	ck_assert_str_eq(s, "REPLY {\"ok\":true,\"certs\":[{\"name\":\"web\",\"state\":\"valid\"}]}");
	ck_assert_uint_eq(calls, 1);
	free(s);
	free(big);
	assert_status_works();
}
END_TEST

/* Random bytes, one connection each, in one child: every one gets one
 * error line (or is dropped), and the server survives to answer status. */
static char *
client_fuzz(const void *arg)
{
	unsigned seed = 12345, i, j, replies = 0, timeouts = 0;
	char data[600];
	struct raw r;
	char *s;

	(void)arg;
	for (i = 0; i < 300; i++) {
		r.len = (size_t)(rand_r(&seed) % (sizeof(data) - 1));
		for (j = 0; j < r.len; j++)
			data[j] = (char)(rand_r(&seed) & 0xff);
		/* Bias towards JSON-looking input half the time. */
		if (i % 2 == 0 && r.len > 2) {
			data[0] = '{';
			for (j = 1; j < r.len; j++)
				if ((unsigned char)data[j] % 3 == 0)
					data[j] = "\"{}[]:,\\cmd"[(unsigned char)data[j] % 11];
		}
		data[r.len++] = '\n';
		r.data = data;
		r.shut = i % 3 == 0;
		r.wait_ms = 3000;
		s = raw_exchange(&r);
		if (strncmp(s, "REPLY {\"ok\":false,\"error\":", 26) == 0)
			replies++;
		else if (strcmp(s, "TIMEOUT") == 0)
			timeouts++;
		free(s);
	}
	return xasprintf("replies %u timeouts %u", replies, timeouts);
}

START_TEST(test_random_input)
{
	struct control_config cfg = config(0600);
	char *s;

	start(&cfg);
	s = run_client(client_fuzz, NULL);
	ck_assert_str_eq(s, "replies 300 timeouts 0");
	free(s);
	assert_status_works();
}
END_TEST

START_TEST(test_handler_reply_problems)
{
	struct control_config cfg = config(0600);
	char *s;

	start(&cfg);
	s = call("{\"cmd\": \"null\"}");
	ck_assert_str_eq(s, "OK {\"error\":\"internal error: no reply\",\"ok\":false}");
	free(s);
	s = call("{\"cmd\": \"array\"}");
	ck_assert_str_eq(s, "OK {\"error\":\"internal error: no reply\",\"ok\":false}");
	free(s);
	s = call("{\"cmd\": \"big\"}");
	ck_assert_str_eq(s, "OK {\"error\":\"reply too large\",\"ok\":false}");
	free(s);
	ck_assert_uint_eq(calls, 3);
	assert_status_works();
}
END_TEST

START_TEST(test_socket_mode)
{
	struct control_config cfg = config(0600);
	struct err e = {""};
	mode_t old = umask(0);	/* a permissive umask must not widen it */

	start(&cfg);
	assert_mode(sock, 0600);
	control_free(ctl);
	ctl = NULL;

	cfg.mode = 0660;
	start(&cfg);
	assert_mode(sock, 0660);
	assert_status_works();
	control_free(ctl);
	ctl = NULL;
	umask(old);

	cfg.mode = 01777;
	ck_assert_int_eq(control_listen(base, &cfg, handler, &calls, &ctl, &e), -EINVAL);
}
END_TEST

START_TEST(test_socket_owner)
{
	struct control_config cfg = config(0660);
	struct stat st;

	if (geteuid() != 0) {
		fprintf(stderr, "check_control: not root, socket owner case skipped\n");
		return;
	}
	cfg.uid = NOBODY;
	cfg.gid = NOBODY;
	start(&cfg);
	ck_assert_int_eq(lstat(sock, &st), 0);
	ck_assert_uint_eq(st.st_uid, NOBODY);
	ck_assert_uint_eq(st.st_gid, NOBODY);
	assert_mode(sock, 0660);
}
END_TEST

static char *
client_as_nobody(const void *arg)
{
	(void)arg;
	if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
		return xasprintf("ERR setuid %s", strerror(errno));
	return call_text(sock, "{\"cmd\": \"status\"}", 5000);
}

START_TEST(test_peer_refused)
{
	struct control_config cfg = config(0666);
	uid_t allow[2] = {1234, NOBODY};
	char *s;

	if (geteuid() != 0) {
		fprintf(stderr, "check_control: not root, cannot connect as another uid; "
			"peer check case skipped\n");
		return;
	}
	/* Let nobody reach the socket file: only SO_PEERCRED stands between. */
	ck_assert_int_eq(chmod(dir, 0711), 0);
	start(&cfg);
	s = run_client(client_as_nobody, NULL);
	ck_assert_str_eq(s, "OK {\"error\":\"uid 65534 is not allowed to use this socket\","
			 "\"ok\":false}");
	ck_assert_uint_eq(calls, 0);
	free(s);
	assert_status_works();	/* root still is */
	control_free(ctl);
	ctl = NULL;

	/* On the allow list: served, and the handler is told who asks. */
	cfg.allow_uids = allow;
	cfg.n_allow_uids = 2;
	calls = 0;
	start(&cfg);
	s = run_client(client_as_nobody, NULL);
	ck_assert_str_eq(s, "OK {\"certs\":[{\"name\":\"web\",\"state\":\"valid\"}],\"ok\":true}");
	ck_assert_uint_eq(calls, 1);
	ck_assert_uint_eq(last_uid, NOBODY);
	free(s);
}
END_TEST

static int
bind_at(const char *path, bool do_listen)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	if (do_listen)
		ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

START_TEST(test_stale_socket_replaced)
{
	struct control_config cfg = config(0600);
	struct stat st;

	/* Left behind by a certd that died: bound, nobody listening. */
	close(bind_at(sock, false));
	ck_assert_int_eq(lstat(sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	start(&cfg);
	assert_mode(sock, 0600);
	assert_status_works();
}
END_TEST

START_TEST(test_live_socket_kept)
{
	struct control_config cfg = config(0600);
	struct err e = {""};
	struct stat before, after;
	int fd = bind_at(sock, true);

	ck_assert_int_eq(lstat(sock, &before), 0);
	ck_assert_int_eq(control_listen(base, &cfg, handler, &calls, &ctl, &e), -EADDRINUSE);
	ck_assert_ptr_nonnull(strstr(e.msg, sock));
	ck_assert_int_eq(lstat(sock, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	close(fd);
}
END_TEST

START_TEST(test_regular_file_refused)
{
	struct control_config cfg = config(0600);
	struct err e = {""};
	char *text;

	tu_write_file(sock, "precious\n", 0644);
	ck_assert_int_eq(control_listen(base, &cfg, handler, &calls, &ctl, &e), -EEXIST);
	ck_assert_ptr_null(ctl);
	ck_assert_msg(strstr(e.msg, sock) != NULL && strstr(e.msg, "not a socket") != NULL,
		      "message: %s", e.msg);
	text = tu_read_file(sock, NULL);
	ck_assert_str_eq(text, "precious\n");
	free(text);

	/* Nor a directory. */
	ck_assert_int_eq(unlink(sock), 0);
	ck_assert_int_eq(mkdir(sock, 0700), 0);
	ck_assert_int_eq(control_listen(base, &cfg, handler, &calls, &ctl, &e), -EEXIST);
}
END_TEST

START_TEST(test_bad_path)
{
	struct control_config cfg = config(0600);
	struct err e = {""};
	char *longp = xasprintf("%s/%0200d/%0200d.sock", dir, 0, 0);

	cfg.path = longp;
	ck_assert_int_eq(control_listen(base, &cfg, handler, &calls, &ctl, &e), -ENAMETOOLONG);
	cfg.path = "";
	ck_assert_int_eq(control_listen(base, &cfg, handler, &calls, &ctl, &e), -EINVAL);
	cfg.path = "/nonexistent-dir/certd/control.sock";
	ck_assert_int_eq(control_listen(base, &cfg, handler, &calls, &ctl, &e), -ENOENT);
	ck_assert_ptr_nonnull(strstr(e.msg, "bind"));
	free(longp);
}
END_TEST

START_TEST(test_free_unlinks)
{
	struct control_config cfg = config(0600);
	struct stat st;
	char *text;

	start(&cfg);
	ck_assert_int_eq(lstat(sock, &st), 0);
	control_free(ctl);
	ctl = NULL;
	ck_assert_int_eq(lstat(sock, &st), -1);
	ck_assert_int_eq(errno, ENOENT);

	/* A file that replaced ours meanwhile is not ours to remove. */
	start(&cfg);
	ck_assert_int_eq(unlink(sock), 0);
	tu_write_file(sock, "other\n", 0600);
	control_free(ctl);
	ctl = NULL;
	text = tu_read_file(sock, NULL);
	ck_assert_str_eq(text, "other\n");
	free(text);
}
END_TEST

/* Connections still open when the server goes away are closed. */
static char *
client_idle(const void *arg)
{
	struct raw r = {arg, strlen(arg), false, 5000};

	return raw_exchange(&r);
}

static void
free_soon_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	control_free(ctl);
	ctl = NULL;
}

START_TEST(test_free_with_open_connection)
{
	struct control_config cfg = config(0600);
	struct timeval tv = {0, 200000};
	char *s;

	cfg.timeout_ms = 10000;
	start(&cfg);
	event_base_once(base, -1, EV_TIMEOUT, free_soon_cb, NULL, &tv);
	s = run_client(client_idle, "{\"cmd\":");
	ck_assert_str_eq(s, "EOF");
	ck_assert_uint_eq(calls, 0);
	free(s);
}
END_TEST

/* The handler may close the server (a reload does): it still replies. */
START_TEST(test_free_from_handler)
{
	struct control_config cfg = config(0600);
	struct stat st;
	char *s;

	start(&cfg);
	s = call("{\"cmd\": \"reopen\"}");
	ck_assert_str_eq(s, "OK {\"cmd\":\"reopen\",\"ok\":true}");
	free(s);
	ck_assert_ptr_nonnull(ctl);
	assert_status_works();

	s = call("{\"cmd\": \"free\"}");
	ck_assert_str_eq(s, "OK {\"cmd\":\"free\",\"ok\":true}");
	free(s);
	ck_assert_ptr_null(ctl);
	ck_assert_int_eq(lstat(sock, &st), -1);
	s = call("{\"cmd\": \"status\"}");
	ck_assert_msg(strncmp(s, "ERR -2 ", 7) == 0, "got: %s", s);
	free(s);
}
END_TEST

START_TEST(test_idle_client_dropped)
{
	struct control_config cfg = config(0600);
	struct timespec t0, t1;
	double secs;
	char *s;

	cfg.timeout_ms = 200;
	start(&cfg);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = run_client(client_idle, "");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_str_eq(s, "EOF");
	ck_assert_msg(secs >= 0.15 && secs < 3, "dropped after %.3fs", secs);
	free(s);
	/* Half a request, then silence: dropped too, never handled. */
	s = run_client(client_idle, "{\"cmd\": \"sta");
	ck_assert_str_eq(s, "EOF");
	ck_assert_uint_eq(calls, 0);
	free(s);
	assert_status_works();
}
END_TEST

/* ---- client only ---- */

START_TEST(test_client_timeout)
{
	struct timespec t0, t1;
	double secs;
	char *s;
	int fd;

	/* Listening, never accepting, never answering. */
	fd = bind_at(sock, true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = call_text(sock, "{\"cmd\": \"status\"}", 300);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(strncmp(s, "ERR -110 ", 9) == 0, "got: %s", s);	/* ETIMEDOUT */
	ck_assert_ptr_nonnull(strstr(s, sock));
	ck_assert_msg(secs >= 0.25 && secs < 3, "gave up after %.3fs", secs);
	free(s);
	close(fd);
}
END_TEST

START_TEST(test_client_no_server)
{
	char *s;

	s = call_text(sock, "{\"cmd\": \"status\"}", 1000);
	ck_assert_msg(strncmp(s, "ERR -2 ", 7) == 0, "got: %s", s);	/* ENOENT */
	ck_assert_ptr_nonnull(strstr(s, sock));
	free(s);
	close(bind_at(sock, false));
	s = call_text(sock, "{\"cmd\": \"status\"}", 1000);
	ck_assert_msg(strncmp(s, "ERR -111 ", 9) == 0, "got: %s", s);	/* ECONNREFUSED */
	free(s);
}
END_TEST

/* A fake server answering with fixed bytes, in a child. */
struct fake {
	int lfd;
	const char *reply;
	size_t len;
};

static void
fake_serve(const struct fake *f)
{
	char chunk[256];
	size_t off = 0;
	ssize_t n;
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		_exit(1);
	n = recv(fd, chunk, sizeof(chunk), 0);
	(void)n;
	while (off < f->len && (n = send(fd, f->reply + off, f->len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
	close(fd);
	_exit(0);
}

static char *
call_fake(const char *reply, size_t len)
{
	struct fake f;
	pid_t pid;
	char *s;
	int status;

	f.lfd = bind_at(sock, true);
	f.reply = reply;
	f.len = len;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		fake_serve(&f);
	s = call_text(sock, "{\"cmd\": \"status\"}", 5000);
	waitpid(pid, &status, 0);
	close(f.lfd);
	unlink(sock);
	return s;
}

START_TEST(test_client_bad_replies)
{
	size_t big = CONTROL_MAX_REPLY + 10;
	char *blob, *s;

	s = call_fake("{\"ok\": true}\n", 13);
	ck_assert_str_eq(s, "OK {\"ok\":true}");
	free(s);
	/* Without a newline, up to the end of the stream. */
	s = call_fake("{\"ok\": true}", 12);
	ck_assert_str_eq(s, "OK {\"ok\":true}");
	free(s);
	s = call_fake("garbage\n", 8);
	ck_assert_msg(strncmp(s, "ERR -74 ", 8) == 0, "got: %s", s);	/* EBADMSG */
	free(s);
	s = call_fake("[1]\n", 4);
	ck_assert_msg(strncmp(s, "ERR -74 ", 8) == 0, "got: %s", s);
	free(s);
	s = call_fake("", 0);
	ck_assert_msg(strncmp(s, "ERR -104 ", 9) == 0, "got: %s", s);	/* ECONNRESET */
	free(s);
	blob = xmalloc(big);
	memset(blob, ' ', big);
	s = call_fake(blob, big);
	ck_assert_msg(strncmp(s, "ERR -90 ", 8) == 0, "got: %s", s);	/* EMSGSIZE */
	free(s);
	free(blob);
}
END_TEST

START_TEST(test_client_bad_args)
{
	json_t *req = json_pack("{s:s}", "cmd", "status"), *reply = NULL;
	struct err e = {""};
	char *longp = xasprintf("/%0200d/%0200d", 0, 0);
	struct buf b = BUF_INIT;
	size_t i;

	ck_assert_int_eq(control_call(longp, req, 100, &reply, &e), -ENAMETOOLONG);
	ck_assert_int_eq(control_call("", req, 100, &reply, &e), -EINVAL);
	ck_assert_int_eq(control_call(sock, NULL, 100, &reply, &e), -EINVAL);
	for (i = 0; i < CONTROL_MAX_REQUEST; i++)
		buf_putc(&b, 'a');
	json_object_set_new(req, "pad", json_string(buf_str(&b)));
	ck_assert_int_eq(control_call(sock, req, 100, &reply, &e), -EMSGSIZE);
	ck_assert_ptr_null(reply);
	buf_free(&b);
	json_decref(req);
	free(longp);
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("server");
	TCase *tl = tcase_create("client");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_status_round_trip);
	tcase_add_test(tc, test_handler_sees_request);
	tcase_add_test(tc, test_request_at_eof);
	tcase_add_loop_test(tc, test_bad_request, 0,
			    (int)(sizeof(bad_requests) / sizeof(bad_requests[0])));
	tcase_add_test(tc, test_request_too_large);
	tcase_add_test(tc, test_random_input);
	tcase_add_test(tc, test_handler_reply_problems);
	tcase_add_test(tc, test_socket_mode);
	tcase_add_test(tc, test_socket_owner);
	tcase_add_test(tc, test_peer_refused);
	tcase_add_test(tc, test_stale_socket_replaced);
	tcase_add_test(tc, test_live_socket_kept);
	tcase_add_test(tc, test_regular_file_refused);
	tcase_add_test(tc, test_bad_path);
	tcase_add_test(tc, test_free_unlinks);
	tcase_add_test(tc, test_free_with_open_connection);
	tcase_add_test(tc, test_free_from_handler);
	tcase_add_test(tc, test_idle_client_dropped);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tl, setup, teardown);
	tcase_set_timeout(tl, 60);
	tcase_add_test(tl, test_client_timeout);
	tcase_add_test(tl, test_client_no_server);
	tcase_add_test(tl, test_client_bad_replies);
	tcase_add_test(tl, test_client_bad_args);
	suite_add_tcase(s, tl);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(control_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
