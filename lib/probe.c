/*
 * probe.c — a TLS handshake on the libevent loop, to compare the leaf a
 * consumer serves with the one certd published.
 *
 * Owns, per probe: one SSL_CTX, and per attempt one non-blocking socket,
 * its SSL and its io event; one timer that is, in turn, the kick-off (so
 * the callback never runs inside probe_start), the attempt's deadline and
 * the delay before the next attempt.
 *
 * States: IDLE (timer = kick-off or delay) -> CONNECTING (io = writable,
 * timer = deadline) -> HANDSHAKE (io = what SSL_do_handshake wants, same
 * deadline) -> IDLE or done.  Exactly one of io/timer callbacks can run at
 * a time and each attempt ends through attempt_end(), which closes the
 * connection before scheduling anything else, so no event of an old
 * attempt can fire into a new one.
 *
 * Writes on the socket go through OpenSSL's socket BIO (write(2)), so the
 * process must ignore SIGPIPE, as the daemon does (runner.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "probe.h"
#include "x509.h"
#include "xalloc.h"

enum state { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE };

struct probe {
	struct event_base *base;
	probe_done_cb cb;
	void *arg;

	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *sni;               /* NULL: none */
	char want_sha256[65];
	char want_serial[64];
	long timeout_ms, delay_ms;
	unsigned attempts;
	bool fail_early;         /* res already says why: report it */

	enum state state;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	struct event *io;        /* NULL between attempts */
	struct event *timer;
	bool in_callback;
	struct probe_result res;
};

static void on_io(evutil_socket_t fd, short what, void *arg);

static struct timeval
tv_of_ms(long ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* Fill p->addr from host and port, or say why not in p->res. */
static bool
parse_target(struct probe *p, const char *host, unsigned port)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&p->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&p->addr;

	if (host == NULL || *host == '\0') {
		err_set(&p->res.error, EINVAL, "no host to probe");
		return false;
	}
	if (port == 0 || port > 65535) {
		err_set(&p->res.error, EINVAL, "port %u out of range", port);
		return false;
	}
	memset(&p->addr, 0, sizeof(p->addr));
	/* "localhost" is the only name: 127.0.0.1 by definition (RFC 6761
	 * 6.3), so no resolver is needed and none can block the loop. */
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		p->addrlen = sizeof(*in4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		p->addrlen = sizeof(*in6);
		return true;
	}
	err_set(&p->res.error, EINVAL, "host \"%.100s\" is not a numeric IPv4/IPv6 address "
		"or localhost (names are not resolved)", host);
	return false;
}

static bool
set_expected(struct probe *p, X509 *expect)
{
	if (expect == NULL) {
		err_set(&p->res.error, EINVAL, "no expected certificate");
		return false;
	}
	if (x509_fingerprint_sha256(expect, p->want_sha256) != 0 ||
	    x509_serial_string(expect, p->want_serial, sizeof(p->want_serial)) != 0) {
		err_set(&p->res.error, EINVAL, "cannot encode the expected certificate");
		ERR_clear_error();
		return false;
	}
	return true;
}

static bool
make_ctx(struct probe *p)
{
	p->ctx = SSL_CTX_new(TLS_client_method());
	if (p->ctx == NULL) {
		err_set(&p->res.error, ENOMEM, "cannot create a TLS context");
		err_add_openssl(&p->res.error);
		return false;
	}
	/* Only the leaf's bytes matter (see probe.h): no verification, so a
	 * self-signed or not-yet-trusted certificate can still be compared. */
	SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, NULL);
	return true;
}

static void
conn_close(struct probe *p)
{
	if (p->io != NULL) {
		event_free(p->io);
		p->io = NULL;
	}
	if (p->ssl != NULL) {
		SSL_free(p->ssl);
		p->ssl = NULL;
	}
	if (p->fd != -1) {
		close(p->fd);
		p->fd = -1;
	}
}

static void
probe_free(struct probe *p)
{
	conn_close(p);
	if (p->timer != NULL)
		event_free(p->timer);
	SSL_CTX_free(p->ctx);
	free(p->sni);
	free(p);
}

static void
finish(struct probe *p)
{
	p->in_callback = true;
	p->cb(&p->res, p->arg);
	probe_free(p);
}

/* The attempt is over (outcome and message are in p->res): report, or wait
 * and try again. */
static void
attempt_end(struct probe *p)
{
	struct timeval tv;

	conn_close(p);
	event_del(p->timer);
	p->state = ST_IDLE;
	if (p->res.outcome == PROBE_OK || p->res.attempts >= p->attempts) {
		finish(p);
		return;
	}
	tv = tv_of_ms(p->delay_ms);
	evtimer_add(p->timer, &tv);
}

static void
attempt_fail(struct probe *p, enum probe_outcome o, int errnum, const char *msg)
{
	p->res.outcome = o;
	err_set(&p->res.error, errnum, "%s", msg);
	attempt_end(p);
}

/* Wait for what on the socket (the deadline timer is already running). */
static void
want_io(struct probe *p, short what)
{
	if (p->io == NULL)
		p->io = event_new(p->base, p->fd, what, on_io, p);
	else
		event_assign(p->io, p->base, p->fd, what, on_io, p);
	if (p->io == NULL || event_add(p->io, NULL) != 0)
		attempt_fail(p, PROBE_CONNECT_FAILED, EIO, "cannot watch the socket");
}

static void
compare_leaf(struct probe *p)
{
	X509 *leaf = SSL_get1_peer_certificate(p->ssl);
	struct probe_result *r = &p->res;

	if (leaf == NULL) {
		attempt_fail(p, PROBE_TLS_ERROR, EPROTO,
			     "handshake completed but no certificate was served");
		return;
	}
	if (x509_fingerprint_sha256(leaf, r->served_sha256) != 0 ||
	    x509_serial_string(leaf, r->served_serial, sizeof(r->served_serial)) != 0) {
		X509_free(leaf);
		ERR_clear_error();
		attempt_fail(p, PROBE_TLS_ERROR, EPROTO,
			     "the served certificate cannot be encoded");
		return;
	}
	X509_free(leaf);
	/* Polite close: close_notify without waiting for the peer's. */
	ERR_clear_error();
	SSL_shutdown(p->ssl);
	ERR_clear_error();

	if (strcmp(r->served_sha256, p->want_sha256) == 0) {
		r->outcome = PROBE_OK;
		r->error.msg[0] = '\0';
	} else if (strcmp(r->served_serial, p->want_serial) != 0) {
		r->outcome = PROBE_MISMATCH;
		err_set(&r->error, EPROTO, "served serial %s, expected %s", r->served_serial,
			p->want_serial);
	} else {
		/* Same serial from another issuer (a re-created local CA). */
		r->outcome = PROBE_MISMATCH;
		err_set(&r->error, EPROTO, "served serial %s with SHA-256 %.16s..., expected "
			"that serial with SHA-256 %.16s...", r->served_serial, r->served_sha256,
			p->want_sha256);
	}
	attempt_end(p);
}

/* Why SSL_do_handshake failed, in words; clears OpenSSL's queue. */
static void
handshake_failed(struct probe *p, int ssl_err, int errnum)
{
	unsigned long code = ERR_peek_error();
	const char *why = NULL;
	char buf[256];

	if (code != 0) {
		why = ERR_reason_error_string(code);
		if (why == NULL) {
			ERR_error_string_n(code, buf, sizeof(buf));
			why = buf;
		}
	} else if (ssl_err == SSL_ERROR_SYSCALL && errnum != 0) {
		why = strerror(errnum);
	} else if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN) {
		why = "connection closed by the server";
	} else {
		why = "unknown error";
	}
	p->res.outcome = PROBE_TLS_ERROR;
	err_set(&p->res.error, EPROTO, "handshake failed: %s", why);
	ERR_clear_error();
	attempt_end(p);
}

static void
handshake_step(struct probe *p)
{
	int rc, ssl_err;

	/* The loop thread's queue may hold another module's leftovers. */
	ERR_clear_error();
	errno = 0;
	rc = SSL_do_handshake(p->ssl);
	if (rc == 1) {
		compare_leaf(p);
		return;
	}
	ssl_err = SSL_get_error(p->ssl, rc);
	if (ssl_err == SSL_ERROR_WANT_READ)
		want_io(p, EV_READ);
	else if (ssl_err == SSL_ERROR_WANT_WRITE)
		want_io(p, EV_WRITE);
	else
		handshake_failed(p, ssl_err, errno);
}

static void
connected(struct probe *p)
{
	p->state = ST_HANDSHAKE;
	p->ssl = SSL_new(p->ctx);
	if (p->ssl == NULL || SSL_set_fd(p->ssl, p->fd) != 1 ||
	    (p->sni != NULL && SSL_set_tlsext_host_name(p->ssl, p->sni) != 1)) {
		ERR_clear_error();
		attempt_fail(p, PROBE_TLS_ERROR, EIO, "cannot set up the TLS connection");
		return;
	}
	SSL_set_connect_state(p->ssl);
	handshake_step(p);
}

static void
connect_failed(struct probe *p, int errnum)
{
	if (errnum == ECONNREFUSED) {
		attempt_fail(p, PROBE_REFUSED, errnum, "connection refused");
		return;
	}
	p->res.outcome = PROBE_CONNECT_FAILED;
	err_set(&p->res.error, errnum, "connect: %s", strerror(errnum));
	attempt_end(p);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	socklen_t len = sizeof(int);
	int soerr = 0;

	(void)what;
	if (p->state == ST_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
			soerr = errno;
		if (soerr != 0)
			connect_failed(p, soerr);
		else
			connected(p);
		return;
	}
	handshake_step(p);
}

static void
attempt_start(struct probe *p)
{
	struct timeval tv = tv_of_ms(p->timeout_ms);

	p->res.attempts++;
	p->res.served_serial[0] = '\0';
	p->res.served_sha256[0] = '\0';
	p->state = ST_CONNECTING;
	/* The deadline covers connect and handshake together. */
	evtimer_add(p->timer, &tv);
	p->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd == -1) {
		p->res.outcome = PROBE_CONNECT_FAILED;
		err_set(&p->res.error, errno, "socket: %s", strerror(errno));
		attempt_end(p);
		return;
	}
	if (connect(p->fd, (struct sockaddr *)&p->addr, p->addrlen) == 0) {
		connected(p);
		return;
	}
	if (errno != EINPROGRESS && errno != EINTR) {
		connect_failed(p, errno);
		return;
	}
	want_io(p, EV_WRITE);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	(void)fd;
	(void)what;
	switch (p->state) {
	case ST_IDLE:
		if (p->fail_early)
			finish(p);
		else
			attempt_start(p);
		break;
	case ST_CONNECTING:
	case ST_HANDSHAKE:
		p->res.outcome = PROBE_TIMEOUT;
		err_set(&p->res.error, ETIMEDOUT, "timed out after %ld ms %s", p->timeout_ms,
			p->state == ST_CONNECTING ? "connecting" : "in the TLS handshake");
		attempt_end(p);
		break;
	}
}

struct probe *
probe_start(struct event_base *base, const struct probe_request *req, probe_done_cb cb,
	    void *arg)
{
	struct probe *p;
	struct timeval now = {0, 0};

	if (base == NULL || req == NULL || cb == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->cb = cb;
	p->arg = arg;
	p->fd = -1;
	p->state = ST_IDLE;
	p->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : PROBE_TIMEOUT_DEFAULT_MS;
	p->attempts = req->attempts > 0 ? req->attempts : PROBE_ATTEMPTS_DEFAULT;
	p->delay_ms = req->retry_delay_ms == 0 ? PROBE_RETRY_DELAY_DEFAULT_MS :
		      req->retry_delay_ms < 0 ? 0 : req->retry_delay_ms;
	if (req->sni != NULL && *req->sni != '\0')
		p->sni = xstrdup(req->sni);
	p->timer = evtimer_new(base, on_timer, p);
	if (p->timer == NULL)
		abort();	/* libevent allocation failure, as xmalloc */

	if (!parse_target(p, req->host, req->port) || !set_expected(p, req->expect)) {
		p->res.outcome = PROBE_BAD_REQUEST;
		p->fail_early = true;
	} else if (!make_ctx(p)) {
		p->res.outcome = PROBE_TLS_ERROR;
		p->fail_early = true;
	}
	/* Even a bad request is answered from the loop, never from here. */
	evtimer_add(p->timer, &now);
	return p;
}

void
probe_cancel(struct probe *p)
{
	if (p == NULL || p->in_callback)
		return;
	probe_free(p);
}

const char *
probe_outcome_str(enum probe_outcome o)
{
	switch (o) {
	case PROBE_OK:
		return "ok";
	case PROBE_MISMATCH:
		return "mismatch";
	case PROBE_REFUSED:
		return "refused";
	case PROBE_CONNECT_FAILED:
		return "connect failed";
	case PROBE_TLS_ERROR:
		return "tls error";
	case PROBE_TIMEOUT:
		return "timeout";
	case PROBE_BAD_REQUEST:
		return "bad request";
	}
	return "unknown";
}
