/*
 * control.c — the control socket: one JSON request line in, one JSON reply
 * line out, then close.
 *
 * Owns: the socket file at cfg->path (from bind until control_free, which
 * unlinks it only while it is still the file this module bound), the
 * listening socket and every accepted connection.
 *
 * Invariants:
 *  - The socket file is never wider than cfg->mode, not even between bind
 *    and chmod: it is bound under a umask derived from the mode.  (umask is
 *    process-wide; another thread creating a file in that instant could
 *    only get a narrower mode, never a wider one.)
 *  - Only a socket is ever removed at the path, and only one that nobody
 *    listens on any more: a regular file there, or a live socket (another
 *    certd), makes control_listen fail instead.
 *  - A peer's uid is checked (SO_PEERCRED, as it was at connect time)
 *    before a byte of its request is read; a refused peer gets one error
 *    line and is closed.
 *  - A connection buffers at most CONTROL_MAX_REQUEST + 1 bytes (the read
 *    high-watermark stops reading there), so the request cap is a memory
 *    bound too.  Input is only ever parsed by jansson with a length; the
 *    handler sees nothing but a JSON object with a string "cmd".
 *  - At most MAX_CONNS connections are open at once; an idle or non-reading
 *    client is dropped after the timeout.
 *  - The handler may call control_free (a "reload" that moves the socket
 *    does): the connection being served is then detached (k->c = NULL)
 *    rather than freed, still sends its reply and frees itself, and
 *    nothing touches the struct control after the handler returns.
 *
 * The client (control_call) is blocking, for the CLI process only: poll(2)
 * with one deadline for connect, send and receive, MSG_NOSIGNAL so that a
 * server closing early is an error, not SIGPIPE.  It keeps reading after a
 * failed send: a server that refuses a peer answers before reading.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "buf.h"
#include "control.h"
#include "xalloc.h"

#define DEFAULT_TIMEOUT_MS 5000
#define LISTEN_BACKLOG 16
#define MAX_CONNS 64
/* After accept(2) fails (EMFILE...), wait this long before accepting again
 * rather than spin on a listener that stays readable. */
#define ACCEPT_PAUSE_MS 500

struct conn;

struct control {
	struct event_base *base;
	struct evconnlistener *lev;
	struct event *resume;        /* re-enables accepting after a pause */
	char *path;
	dev_t dev;                   /* of the socket file we bound */
	ino_t ino;
	control_handler handler;
	void *arg;
	uid_t *allow;
	size_t n_allow;
	struct timeval timeout;
	struct conn *conns;
	size_t n_conns;
	struct conn *current;        /* whose request the handler is running */
};

struct conn {
	struct control *c;           /* NULL once detached by control_free */
	struct bufferevent *bev;
	uid_t uid;
	size_t scanned;              /* input bytes already known to hold no '\n' */
	bool replied;                /* reading is over: close once written */
	bool lingering;              /* reply sent, write side shut: discarding input */
	size_t discarded;
	struct conn *prev, *next;
};

static void
conn_detach(struct conn *k)
{
	struct control *c = k->c;

	if (c == NULL)
		return;
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		c->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	c->n_conns--;
	k->c = NULL;
	k->prev = k->next = NULL;
}

static void
conn_free(struct conn *k)
{
	conn_detach(k);
	bufferevent_free(k->bev);
	free(k);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *k = arg;

	if (!k->replied || k->lingering || evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	/* Lingering close: a client still sending (a request over the cap)
	 * would get a reset, and lose the reply, if we closed with its bytes
	 * unread.  Shut our side, then discard what comes until it closes or
	 * the timeout drops it. */
	k->lingering = true;
	if (shutdown(bufferevent_getfd(bev), SHUT_WR) < 0) {
		conn_free(k);
		return;
	}
	bufferevent_enable(bev, EV_READ);
}

/* Queue reply (a JSON text without the newline), stop reading, close once
 * it is written. */
static void
conn_send(struct conn *k, const char *text, size_t len)
{
	struct evbuffer *in = bufferevent_get_input(k->bev);

	k->replied = true;
	bufferevent_disable(k->bev, EV_READ);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (bufferevent_write(k->bev, text, len) != 0 || bufferevent_write(k->bev, "\n", 1) != 0) {
		conn_free(k);
		return;
	}
	/* A client that does not read its reply is dropped by the write
	 * timeout, which bufferevent_enable(EV_WRITE) keeps armed. */
	bufferevent_enable(k->bev, EV_WRITE);
}

/* {"ok": false, "error": msg}.  msg may hold request bytes (jansson quotes
 * the offending token): if they are not UTF-8, fall back to plain. */
static void
conn_error(struct conn *k, const char *msg, const char *plain)
{
	json_t *o = json_object(), *s = json_string(msg);
	char *text;

	if (s == NULL)
		s = json_string(plain);
	if (o == NULL || s == NULL || json_object_set_new(o, "ok", json_false()) != 0 ||
	    json_object_set_new(o, "error", s) != 0)
		abort();	/* allocation failure, as xalloc does */
	text = json_dumps(o, JSON_COMPACT);
	if (text == NULL)
		abort();
	conn_send(k, text, strlen(text));
	free(text);
	json_decref(o);
}

static void
conn_dispatch(struct conn *k, const char *line, size_t len)
{
	struct control *c = k->c;
	json_error_t jerr;
	json_t *req, *reply = NULL;
	const json_t *cmd;
	char *text = NULL, *msg = NULL;
	size_t n;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		msg = xasprintf("request is not valid JSON: %s", jerr.text);
		conn_error(k, msg, "request is not valid JSON");
		goto out;
	}
	if (!json_is_object(req)) {
		conn_error(k, "request is not a JSON object", NULL);
		goto out;
	}
	cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd)) {
		conn_error(k, cmd == NULL ? "request has no \"cmd\"" : "\"cmd\" is not a string",
			   NULL);
		goto out;
	}

	c->current = k;
	reply = c->handler(req, k->uid, c->arg);
	/* c may be gone now (see the top); k is still here. */
	if (k->c != NULL)
		k->c->current = NULL;
	if (!json_is_object(reply)) {
		conn_error(k, "internal error: no reply", NULL);
		goto out;
	}
	text = json_dumps(reply, JSON_COMPACT);
	if (text == NULL) {
		conn_error(k, "internal error: cannot format the reply", NULL);
		goto out;
	}
	n = strlen(text);
	/* The client refuses more than CONTROL_MAX_REPLY bytes, newline
	 * included: say what happened instead of sending what it drops. */
	if (n >= CONTROL_MAX_REPLY) {
		conn_error(k, "reply too large", NULL);
		goto out;
	}
	conn_send(k, text, n);

out:
	free(msg);
	free(text);
	json_decref(reply);
	json_decref(req);
}

/* Look for a complete line; eof: take what there is as the last line. */
static void
conn_process(struct conn *k, bool eof)
{
	struct evbuffer *in = bufferevent_get_input(k->bev);
	size_t len = evbuffer_get_length(in), n;
	struct evbuffer_ptr start, nl;
	const unsigned char *line;

	if (k->replied)
		return;
	nl.pos = -1;
	if (k->scanned < len &&
	    evbuffer_ptr_set(in, &start, k->scanned, EVBUFFER_PTR_SET) == 0)
		nl = evbuffer_search(in, "\n", 1, &start);
	if (nl.pos < 0) {
		k->scanned = len;
		if (len > CONTROL_MAX_REQUEST) {
			conn_error(k, "request too large", NULL);
			return;
		}
		if (!eof)
			return;
		if (len == 0) {
			conn_free(k);
			return;
		}
		n = len;
	} else {
		n = (size_t)nl.pos;
	}
	if (n > CONTROL_MAX_REQUEST) {
		conn_error(k, "request too large", NULL);
		return;
	}
	/* Make the line contiguous; n == 0 is an empty request, which
	 * jansson rejects like any other non-JSON. */
	line = n > 0 ? evbuffer_pullup(in, (ev_ssize_t)n) : (const unsigned char *)"";
	if (line == NULL) {
		conn_free(k);
		return;
	}
	conn_dispatch(k, (const char *)line, n);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *k = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (k->lingering) {
		k->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (k->discarded > 64 * CONTROL_MAX_REQUEST)
			conn_free(k);
		return;
	}
	if (k->replied)
		return;
	conn_process(k, false);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *k = arg;

	(void)bev;
	/* The client shut down its side: what it sent is the whole request
	 * (a line without its newline is still one request). */
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && !k->replied) {
		conn_process(k, true);
		return;
	}
	/* Error, timeout, or EOF while writing: nothing more to do. */
	conn_free(k);
}

static bool
peer_allowed(const struct control *c, uid_t uid)
{
	size_t i;

	if (uid == 0 || uid == geteuid())
		return true;
	for (i = 0; i < c->n_allow; i++)
		if (c->allow[i] == uid)
			return true;
	return false;
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
	  void *arg)
{
	struct control *c = arg;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct conn *k;
	char *msg;

	(void)lev;
	(void)sa;
	(void)salen;
	if (c->n_conns >= MAX_CONNS) {
		evutil_closesocket(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1 ||
	    clen != sizeof(cred)) {
		evutil_closesocket(fd);
		return;
	}
	k = xcalloc(1, sizeof(*k));
	k->c = c;
	k->uid = cred.uid;
	k->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (k->bev == NULL) {
		evutil_closesocket(fd);
		free(k);
		return;
	}
	k->next = c->conns;
	if (c->conns != NULL)
		c->conns->prev = k;
	c->conns = k;
	c->n_conns++;

	bufferevent_setcb(k->bev, conn_read_cb, conn_write_cb, conn_event_cb, k);
	/* Stop reading one byte past the cap: enough to know it is exceeded. */
	bufferevent_setwatermark(k->bev, EV_READ, 0, CONTROL_MAX_REQUEST + 1);
	bufferevent_set_timeouts(k->bev, &c->timeout, &c->timeout);

	if (!peer_allowed(c, cred.uid)) {
		msg = xasprintf("uid %ju is not allowed to use this socket",
				(uintmax_t)cred.uid);
		conn_error(k, msg, NULL);
		free(msg);
		return;
	}
	bufferevent_enable(k->bev, EV_READ);
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(c->lev);
}

static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct control *c = arg;
	struct timeval tv = {ACCEPT_PAUSE_MS / 1000, (ACCEPT_PAUSE_MS % 1000) * 1000};

	/* Out of descriptors or memory: the pending connection stays queued
	 * and the listener readable.  Pause instead of spinning; leaves don't
	 * log, and the next accept that works is the recovery. */
	evconnlistener_disable(lev);
	evtimer_add(c->resume, &tv);
}

static int
fill_addr(const char *path, struct sockaddr_un *sun, struct err *e)
{
	size_t len;

	if (path == NULL || *path == '\0')
		return err_set(e, EINVAL, "empty control socket path");
	len = strlen(path);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (len >= sizeof(sun->sun_path))
		return err_set(e, ENAMETOOLONG, "%s: longer than %zu bytes, the limit of a "
			       "Unix socket path", path, sizeof(sun->sun_path) - 1);
	memcpy(sun->sun_path, path, len + 1);
	return 0;
}

/* Make room at the path: nothing there, or a socket nobody listens on
 * (left by a certd that did not exit cleanly). */
static int
clear_path(const struct sockaddr_un *sun, struct err *e)
{
	const char *path = sun->sun_path;
	struct stat st;
	int fd, rc = 0, errnum;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, errno, "%s: stat: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return err_set(e, EEXIST, "%s: exists and is not a socket; refusing to remove it",
			       path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return err_set(e, errno, "%s: socket: %s", path, strerror(errno));
	/* Connecting to a Unix socket completes or fails at once.  EAGAIN
	 * (backlog full) means someone is listening as much as success does. */
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 || errno == EAGAIN) {
		rc = err_set(e, EADDRINUSE, "%s: another process is listening on it", path);
	} else if (errno != ECONNREFUSED) {
		errnum = errno;
		rc = err_set(e, errnum, "%s: probe existing socket: %s", path, strerror(errnum));
	} else if (unlink(path) == -1 && errno != ENOENT) {
		rc = err_set(e, errno, "%s: remove stale socket: %s", path, strerror(errno));
	}
	close(fd);
	return rc;
}

int
control_listen(struct event_base *base, const struct control_config *cfg,
	       control_handler handler, void *arg, struct control **out, struct err *e)
{
	struct control *c = NULL;
	struct sockaddr_un sun;
	struct stat st;
	mode_t old_mask;
	bool bound = false;
	long ms;
	int fd = -1, rc, errnum;

	if (base == NULL || cfg == NULL || handler == NULL ||
	    (cfg->n_allow_uids > 0 && cfg->allow_uids == NULL))
		return err_set(e, EINVAL, "control socket: missing argument");
	if ((rc = fill_addr(cfg->path, &sun, e)) != 0)
		return rc;
	if ((cfg->mode & ~(mode_t)0777) != 0)
		return err_set(e, EINVAL, "%s: mode %o is not permission bits", cfg->path,
			       (unsigned)cfg->mode);
	if (cfg->timeout_ms < 0)
		return err_set(e, EINVAL, "%s: negative timeout", cfg->path);
	if ((rc = clear_path(&sun, e)) != 0)
		return rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return err_set(e, errno, "%s: socket: %s", cfg->path, strerror(errno));
	/* The socket file gets 0777 & ~umask: with this umask it is born with
	 * the final mode, never wider. */
	old_mask = umask(~cfg->mode & 0777);
	if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) == -1) {
		errnum = errno;
		umask(old_mask);
		rc = err_set(e, errnum, "%s: bind: %s", cfg->path, strerror(errnum));
		goto out;
	}
	umask(old_mask);
	bound = true;

	/* Remember which file we bound: control_free removes only that one.
	 * chown and chmod below go by name, so check it is still a socket. */
	if (lstat(cfg->path, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		rc = err_set(e, EEXIST, "%s: replaced while being set up", cfg->path);
		bound = false;	/* not ours to remove any more */
		goto out;
	}
	if ((cfg->uid != (uid_t)-1 || cfg->gid != (gid_t)-1) &&
	    lchown(cfg->path, cfg->uid, cfg->gid) == -1) {
		rc = err_set(e, errno, "%s: set owner: %s", cfg->path, strerror(errno));
		goto out;
	}
	/* The umask already gave this mode; say it explicitly all the same,
	 * so the result does not depend on how bind(2) applies the umask. */
	if (chmod(cfg->path, cfg->mode) == -1) {
		rc = err_set(e, errno, "%s: set mode %04o: %s", cfg->path, (unsigned)cfg->mode,
			     strerror(errno));
		goto out;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		rc = err_set(e, errno, "%s: listen: %s", cfg->path, strerror(errno));
		goto out;
	}

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->path = xstrdup(cfg->path);
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->handler = handler;
	c->arg = arg;
	if (cfg->n_allow_uids > 0) {
		c->allow = xreallocarray(NULL, cfg->n_allow_uids, sizeof(*c->allow));
		memcpy(c->allow, cfg->allow_uids, cfg->n_allow_uids * sizeof(*c->allow));
		c->n_allow = cfg->n_allow_uids;
	}
	ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->timeout.tv_sec = ms / 1000;
	c->timeout.tv_usec = (ms % 1000) * 1000;
	c->resume = evtimer_new(base, resume_cb, c);
	/* backlog 0: the socket already listens.  CLOSE_ON_EXEC makes
	 * accept4 give every connection SOCK_CLOEXEC. */
	c->lev = c->resume == NULL ? NULL :
	    evconnlistener_new(base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
			       0, fd);
	if (c->lev == NULL) {
		rc = err_set(e, ENOMEM, "%s: cannot watch the socket", cfg->path);
		goto out;
	}
	fd = -1;	/* the listener owns it now */
	evconnlistener_set_error_cb(c->lev, accept_error_cb);
	*out = c;
	c = NULL;
	rc = 0;

out:
	if (c != NULL) {
		if (c->resume != NULL)
			event_free(c->resume);
		free(c->allow);
		free(c->path);
		free(c);
	}
	if (fd != -1)
		close(fd);
	if (rc != 0 && bound)
		unlink(cfg->path);
	return rc;
}

void
control_free(struct control *c)
{
	struct stat st;

	if (c == NULL)
		return;
	/* Called from the handler: the connection it serves lives on. */
	if (c->current != NULL)
		conn_detach(c->current);
	while (c->conns != NULL)
		conn_free(c->conns);
	evconnlistener_free(c->lev);
	event_free(c->resume);
	/* Only our own socket: a newer certd may already have replaced it. */
	if (lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		unlink(c->path);
	free(c->allow);
	free(c->path);
	free(c);
}

/* ---- client ---- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
ms_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* connect(2) on a blocking Unix socket waits for backlog room up to
 * SO_SNDTIMEO; a non-blocking one would fail with EAGAIN at once. */
static int
client_connect(int fd, const struct sockaddr_un *sun, int64_t deadline, struct err *e)
{
	int left = ms_left(deadline), flags;
	struct timeval tv;

	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_usec = 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return err_set(e, errno, "%s: set timeout: %s", sun->sun_path, strerror(errno));
	while (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == -1) {
		if (errno == EINTR && ms_left(deadline) > 0)
			continue;
		if (errno == EAGAIN || errno == EINPROGRESS || errno == EINTR)
			return err_set(e, ETIMEDOUT, "%s: connect: timed out (server busy)",
				       sun->sun_path);
		return err_set(e, errno, "%s: connect: %s", sun->sun_path, strerror(errno));
	}
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return err_set(e, errno, "%s: fcntl: %s", sun->sun_path, strerror(errno));
	return 0;
}

/* Send what can be sent without blocking.  Returns 0, or -1 when the server
 * no longer reads (it may still have answered: read on). */
static int
client_send(int fd, const char *data, size_t len, size_t *off)
{
	ssize_t w;

	while (*off < len) {
		w = send(fd, data + *off, len - *off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		*off += (size_t)w;
	}
	return 0;
}

/* Read what is there.  Returns 1 at end of stream (EOF or reset), 0 to
 * wait for more, or a negative errno. */
static int
client_recv(int fd, struct buf *in, const char *path, struct err *e)
{
	char chunk[16384];
	ssize_t r;

	for (;;) {
		r = recv(fd, chunk, sizeof(chunk), 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ECONNRESET)
				return 1;
			return err_set(e, errno, "%s: receive: %s", path, strerror(errno));
		}
		if (r == 0)
			return 1;
		if (in->len + (size_t)r > CONTROL_MAX_REPLY)
			return err_set(e, EMSGSIZE, "%s: reply larger than %d bytes", path,
				       CONTROL_MAX_REPLY);
		buf_append(in, chunk, (size_t)r);
		if (memchr(chunk, '\n', (size_t)r) != NULL)
			return 1;
	}
}

int
control_call(const char *path, const json_t *req, long timeout_ms, json_t **reply,
	     struct err *e)
{
	long ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
	struct sockaddr_un sun;
	struct buf out = BUF_INIT, in = BUF_INIT;
	struct pollfd pfd;
	json_error_t jerr;
	json_t *r = NULL;
	char *text = NULL, *nl;
	size_t off = 0, n;
	bool sending = true;
	int64_t deadline;
	int fd = -1, rc, p, left;

	if ((rc = fill_addr(path, &sun, e)) != 0)
		return rc;
	if (req == NULL || (text = json_dumps(req, JSON_COMPACT)) == NULL)
		return err_set(e, EINVAL, "%s: no request to send", path);
	buf_puts(&out, text);
	buf_putc(&out, '\n');
	if (out.len > CONTROL_MAX_REQUEST) {
		rc = err_set(e, EMSGSIZE, "%s: request larger than %d bytes", path,
			     CONTROL_MAX_REQUEST);
		goto out;
	}

	deadline = now_ms() + ms;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		rc = err_set(e, errno, "%s: socket: %s", path, strerror(errno));
		goto out;
	}
	if ((rc = client_connect(fd, &sun, deadline, e)) != 0)
		goto out;

	for (;;) {
		/* A failed send ends sending, not the call: see the top. */
		if (sending && (client_send(fd, out.data, out.len, &off) != 0 || off == out.len))
			sending = false;
		if ((left = ms_left(deadline)) == 0) {
			rc = err_set(e, ETIMEDOUT, "%s: no reply within %ld ms", path, ms);
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLIN | (sending ? POLLOUT : 0);
		pfd.revents = 0;
		p = poll(&pfd, 1, left);
		if (p < 0 && errno != EINTR) {
			rc = err_set(e, errno, "%s: poll: %s", path, strerror(errno));
			goto out;
		}
		if (p <= 0 || (pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
			continue;	/* the deadline check reports a timeout */
		if ((rc = client_recv(fd, &in, path, e)) < 0)
			goto out;
		if (rc == 1)
			break;
	}

	if (in.len == 0) {
		rc = err_set(e, ECONNRESET, "%s: connection closed without a reply", path);
		goto out;
	}
	nl = memchr(in.data, '\n', in.len);
	n = nl != NULL ? (size_t)(nl - in.data) : in.len;
	r = json_loadb(in.data, n, JSON_REJECT_DUPLICATES, &jerr);
	if (r == NULL) {
		rc = err_set(e, EBADMSG, "%s: reply is not valid JSON: %s", path, jerr.text);
		goto out;
	}
	if (!json_is_object(r)) {
		json_decref(r);
		rc = err_set(e, EBADMSG, "%s: reply is not a JSON object", path);
		goto out;
	}
	*reply = r;
	rc = 0;

out:
	if (fd != -1)
		close(fd);
	buf_free(&in);
	buf_free(&out);
	free(text);
	return rc;
}
