/*
 * fuzz_control.c — libFuzzer harness for the control socket's server side
 * (lib/control.c): reading a request line from a client, the size cap,
 * JSON parsing, the checks before the handler, the reply and the close.
 *
 * control.c is compiled into this harness (#include) so that the harness
 * can see when the server has let go of a connection (c->n_conns); nothing
 * in it is called except through the public API and the event loop.  One
 * listener on a socket in a temporary directory serves the whole run; each
 * input is sent by a fresh client connection (non-blocking, on the same
 * loop), followed by a shutdown of the write side, and the reply is read
 * to the end.
 *
 * Invariants checked (control.h): exactly one reply line, a JSON object
 * with a boolean "ok"; the handler runs exactly when the first line is at
 * most CONTROL_MAX_REQUEST bytes and is a JSON object (no duplicate keys)
 * with a string "cmd", and then sees that cmd and its reply is the one
 * sent; an empty input gets no reply; the server lets go of every
 * connection.  cmd "detach" makes the handler call control_free() (a
 * reload that moves the socket) and "none" makes it return NULL.
 */
#include "../../lib/control.c"

#include <signal.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HANG_MS 8000	/* under run.sh's -timeout=10 */

static struct event_base *base;
static struct control *ctl;
static char dir[4096], sock_path[4200];

/* what the handler saw */
static bool handled;
static char *handled_cmd;
static bool detached;

struct client {
	int fd;
	const uint8_t *data;
	size_t size, off;
	bool sending;
	bool eof;
	struct buf reply;
	struct event *rev, *wev;
};

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_control: invariant violated: %s\n", what);
	abort();
}

static json_t *
handler(const json_t *req, uid_t peer, void *arg)
{
	const char *cmd;

	(void)peer;
	(void)arg;
	if (handled)
		fail("handler called twice for one connection");
	if (!json_is_object(req) || !json_is_string(json_object_get(req, "cmd")))
		fail("handler got something else than an object with a string cmd");
	cmd = json_string_value(json_object_get(req, "cmd"));
	handled = true;
	handled_cmd = xstrdup(cmd);
	if (strcmp(cmd, "none") == 0)
		return NULL;
	if (strcmp(cmd, "detach") == 0) {
		control_free(ctl);
		ctl = NULL;
		detached = true;
	}
	return json_pack("{s:b, s:s}", "ok", 1, "echo", cmd);
}

static void
listen_once(void)
{
	struct control_config cfg = {0};
	struct err e = {{0}};

	cfg.path = sock_path;
	cfg.mode = 0600;
	cfg.uid = (uid_t)-1;
	cfg.gid = (gid_t)-1;
	cfg.timeout_ms = 5000;
	if (control_listen(base, &cfg, handler, NULL, &ctl, &e) < 0) {
		fprintf(stderr, "fuzz_control: %s\n", e.msg);
		abort();
	}
}

static void
cleanup(void)
{
	control_free(ctl);
	ctl = NULL;
	rmdir(dir);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");

	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "%s/certd-fuzz-ctl.XXXXXX",
		 tmp != NULL && *tmp != '\0' && strlen(tmp) < 60 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_control: mkdtemp");
		abort();
	}
	snprintf(sock_path, sizeof(sock_path), "%s/c.sock", dir);
	base = event_base_new();
	if (base == NULL)
		abort();
	listen_once();
	atexit(cleanup);
}

static void
client_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	char chunk[16384];
	ssize_t r;

	(void)what;
	for (;;) {
		r = recv(fd, chunk, sizeof(chunk), 0);
		if (r > 0) {
			buf_append(&cl->reply, chunk, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		/* EOF or reset: the server is done with us. */
		cl->eof = true;
		event_del(cl->rev);
		event_del(cl->wev);
		return;
	}
}

static void
client_write(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	ssize_t w;

	(void)what;
	while (cl->off < cl->size) {
		w = send(fd, cl->data + cl->off, cl->size - cl->off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w < 0) {
			/* The server closed early (it answers before reading
			 * everything when a request is too large). */
			cl->sending = false;
			event_del(cl->wev);
			return;
		}
		cl->off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	cl->sending = false;
	event_del(cl->wev);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the server must do with this input. */
static bool
expect_handler(const uint8_t *data, size_t size, char **cmd)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl != NULL ? (size_t)(nl - data) : size;
	json_t *req, *c;
	bool ok;

	*cmd = NULL;
	if (n > CONTROL_MAX_REQUEST)
		return false;
	req = json_loadb((const char *)data, n, JSON_REJECT_DUPLICATES, NULL);
	c = json_object_get(req, "cmd");
	ok = json_is_object(req) && json_is_string(c);
	if (ok)
		*cmd = xstrdup(json_string_value(c));
	json_decref(req);
	return ok;
}

static void
check_reply(const struct client *cl, bool expect, const char *want_cmd)
{
	const char *text = buf_str((struct buf *)&cl->reply);
	const char *nl = memchr(text, '\n', cl->reply.len);
	json_t *r, *ok, *echo;

	if (cl->size == 0) {
		if (cl->reply.len != 0)
			fail("a reply to an empty connection");
		if (handled)
			fail("handler ran for an empty connection");
		return;
	}
	if (nl == NULL || (size_t)(nl - text) != cl->reply.len - 1)
		fail("the reply is not exactly one line");
	r = json_loadb(text, cl->reply.len - 1, JSON_REJECT_DUPLICATES, NULL);
	ok = json_object_get(r, "ok");
	if (!json_is_object(r) || !json_is_boolean(ok))
		fail("the reply is not an object with a boolean ok");
	if (handled != expect)
		fail(expect ? "a valid request did not reach the handler"
			    : "an invalid request reached the handler");
	if (expect && strcmp(handled_cmd, want_cmd) != 0)
		fail("the handler saw another cmd");
	if (expect && strcmp(want_cmd, "none") != 0) {
		echo = json_object_get(r, "echo");
		if (!json_is_true(ok) || !json_is_string(echo) ||
		    strcmp(json_string_value(echo), want_cmd) != 0)
			fail("the handler's reply was not sent");
	} else if (!json_is_false(ok) || !json_is_string(json_object_get(r, "error"))) {
		fail("a refused request without ok false and an error");
	}
	json_decref(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client cl = {.fd = -1, .data = data, .size = size, .sending = true};
	struct sockaddr_un sun;
	char *want_cmd = NULL;
	bool expect;
	int64_t deadline;

	if (base == NULL)
		setup();
	handled = false;
	detached = false;
	expect = expect_handler(data, size, &want_cmd);

	cl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	if (cl.fd < 0 || connect(cl.fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror("fuzz_control: connect");
		abort();
	}
	cl.rev = event_new(base, cl.fd, EV_READ | EV_PERSIST, client_read, &cl);
	cl.wev = event_new(base, cl.fd, EV_WRITE | EV_PERSIST, client_write, &cl);
	event_add(cl.rev, NULL);
	event_add(cl.wev, NULL);

	deadline = mono_ms() + HANG_MS;
	while (!cl.eof) {
		event_base_loop(base, EVLOOP_ONCE);
		if (mono_ms() > deadline)
			fail("no reply and no close within the deadline");
	}
	event_free(cl.rev);
	event_free(cl.wev);
	close(cl.fd);
	/* The server sees our close and lets go of the connection. */
	while (ctl != NULL && ctl->n_conns > 0) {
		event_base_loop(base, EVLOOP_ONCE);
		if (mono_ms() > deadline)
			fail("the server keeps a closed connection");
	}
	if (detached) {
		/* The detached connection frees itself once it sees our close. */
		struct timeval tick = {0, 1000};
		int i;

		for (i = 0; i < 10; i++) {
			event_base_loopexit(base, &tick);
			event_base_loop(base, 0);
		}
	}
	check_reply(&cl, expect, want_cmd);
	if (ctl == NULL)
		listen_once();
	buf_free(&cl.reply);
	free(want_cmd);
	free(handled_cmd);
	handled_cmd = NULL;
	return 0;
}
