/*
 * check_probe.c — probe_start against real TLS servers on loopback:
 * `openssl s_server` children serving certificates made here (one of them
 * switching certificate by SNI), a port nobody listens on, a listener that
 * never accepts (the handshake never starts), and an in-test server that
 * answers plain text.  What is asserted is what the caller would log: the
 * outcome, the message with both serials, the attempt count and how long
 * the retries took.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "probe.h"
#include "testutil.h"
#include "x509.h"
#include "xalloc.h"

#define MAX_SERVERS 4

static char *dir;
static EVP_PKEY *key_a, *key_b;
static X509 *cert_a, *cert_b, *cert_a2;	/* a2: same serial as a, another key */
static char serial_a[64], serial_b[64];
static char *pem_a, *pem_b, *pem_ka, *pem_kb;
static pid_t servers[MAX_SERVERS];
static struct event_base *base;

struct outcome {
	int calls;
	bool started;          /* probe_start had returned when cb ran */
	bool cb_before_return;
	struct probe_result res;
	double elapsed;        /* seconds from start to callback */
	struct timespec t0;
};

static double
since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static X509 *
mkcert(EVP_PKEY *key, long serial, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);

	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
	return x;
}

static char *
write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
	char *path = tu_path(dir, name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	if (x != NULL)
		ck_assert_int_eq(PEM_write_X509(f, x), 1);
	if (k != NULL)
		ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	return path;
}

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	dir = tu_mkdtemp();
	key_a = EVP_EC_gen("P-256");
	key_b = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(key_a);
	ck_assert_ptr_nonnull(key_b);
	cert_a = mkcert(key_a, 0x1001, "a.test");
	cert_b = mkcert(key_b, 0x2002, "b.test");
	cert_a2 = mkcert(key_b, 0x1001, "a.test");
	ck_assert_int_eq(x509_serial_string(cert_a, serial_a, sizeof(serial_a)), 0);
	ck_assert_int_eq(x509_serial_string(cert_b, serial_b, sizeof(serial_b)), 0);
	pem_a = write_pem("a.crt", cert_a, NULL);
	pem_b = write_pem("b.crt", cert_b, NULL);
	pem_ka = write_pem("a.key", NULL, key_a);
	pem_kb = write_pem("b.key", NULL, key_b);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	memset(servers, 0, sizeof(servers));
}

static void
teardown(void)
{
	int status;

	for (int i = 0; i < MAX_SERVERS; i++) {
		if (servers[i] <= 0)
			continue;
		kill(servers[i], SIGTERM);
		waitpid(servers[i], &status, 0);
	}
	event_base_free(base);
	X509_free(cert_a);
	X509_free(cert_b);
	X509_free(cert_a2);
	EVP_PKEY_free(key_a);
	EVP_PKEY_free(key_b);
	free(pem_a);
	free(pem_b);
	free(pem_ka);
	free(pem_kb);
	tu_rm_rf(dir);
	free(dir);
}

/* A loopback TCP port that was free a moment ago. */
static unsigned
free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ne(fd, -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* A listener on a fresh loopback port that never accepts: connect
 * completes in the kernel, the TLS handshake never gets an answer. */
static int
silent_listener(unsigned *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ne(fd, -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static bool
can_connect(unsigned port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	ck_assert_int_ne(fd, -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* openssl s_server on 127.0.0.1:port serving cert/key, and cert2/key2 to
 * clients that send SNI name (when name is not NULL). */
static void
start_server(unsigned port, const char *cert, const char *key, const char *name,
	     const char *cert2, const char *key2)
{
	char accept[64];
	const char *argv[20];
	int n = 0, slot, devnull, tries;
	pid_t pid;

	for (slot = 0; slot < MAX_SERVERS && servers[slot] > 0; slot++)
		;
	ck_assert_int_lt(slot, MAX_SERVERS);
	snprintf(accept, sizeof(accept), "127.0.0.1:%u", port);
	argv[n++] = "openssl";
	argv[n++] = "s_server";
	argv[n++] = "-accept";
	argv[n++] = accept;
	argv[n++] = "-cert";
	argv[n++] = cert;
	argv[n++] = "-key";
	argv[n++] = key;
	if (name != NULL) {
		argv[n++] = "-servername";
		argv[n++] = name;
		argv[n++] = "-cert2";
		argv[n++] = cert2;
		argv[n++] = "-key2";
		argv[n++] = key2;
	}
	argv[n++] = "-www";
	argv[n++] = "-quiet";
	argv[n] = NULL;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull == -1 || dup2(devnull, 0) == -1 || dup2(devnull, 1) == -1 ||
		    dup2(devnull, 2) == -1)
			_exit(127);
		execvp("openssl", (char *const *)argv);
		_exit(127);
	}
	servers[slot] = pid;
	for (tries = 0; tries < 500 && !can_connect(port); tries++)
		usleep(10000);
	ck_assert_msg(tries < 500, "openssl s_server did not listen on %s", accept);
}

static void
done_cb(const struct probe_result *res, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->cb_before_return = !o->started;
	o->res = *res;
	o->elapsed = since(&o->t0);
}

/* Start a probe and run the loop until nothing is left to do. */
static void
run_probe(const struct probe_request *req, struct outcome *o)
{
	struct probe *p;

	memset(o, 0, sizeof(*o));
	clock_gettime(CLOCK_MONOTONIC, &o->t0);
	p = probe_start(base, req, done_cb, o);
	ck_assert_ptr_nonnull(p);
	o->started = true;
	ck_assert_int_eq(o->calls, 0);
	ck_assert_int_ne(event_base_dispatch(base), -1);
	ck_assert_int_eq(o->calls, 1);
	ck_assert(!o->cb_before_return);
}

static struct probe_request
req_for(unsigned port, const char *sni, X509 *expect)
{
	struct probe_request r = {"127.0.0.1", port, sni, expect, 2000, 1, 50};

	return r;
}

START_TEST(test_match)
{
	unsigned port = free_port();
	struct probe_request req = req_for(port, NULL, cert_a);
	struct outcome o;

	start_server(port, pem_a, pem_ka, NULL, NULL, NULL);
	run_probe(&req, &o);
	ck_assert_msg(o.res.outcome == PROBE_OK, "outcome %s: %s",
		      probe_outcome_str(o.res.outcome), o.res.error.msg);
	ck_assert_uint_eq(o.res.attempts, 1);
	ck_assert_str_eq(o.res.served_serial, serial_a);
	ck_assert_str_eq(o.res.error.msg, "");
	ck_assert_uint_eq(strlen(o.res.served_sha256), 64);

	/* "localhost" is 127.0.0.1. */
	req.host = "localhost";
	run_probe(&req, &o);
	ck_assert_int_eq(o.res.outcome, PROBE_OK);
}
END_TEST

/* A mismatch is retried (a consumer may still be reloading) and the
 * message names both serials. */
START_TEST(test_mismatch)
{
	unsigned port = free_port();
	struct probe_request req = req_for(port, NULL, cert_a);
	struct outcome o;
	char *want = xasprintf("served serial %s, expected %s", serial_b, serial_a);

	start_server(port, pem_b, pem_kb, NULL, NULL, NULL);
	req.attempts = 2;
	run_probe(&req, &o);
	ck_assert_str_eq(probe_outcome_str(o.res.outcome), "mismatch");
	ck_assert_str_eq(o.res.error.msg, want);
	ck_assert_uint_eq(o.res.attempts, 2);
	ck_assert_str_eq(o.res.served_serial, serial_b);
	free(want);
}
END_TEST

/* Same serial, different certificate: compared by DER, not by serial. */
START_TEST(test_same_serial_other_cert)
{
	unsigned port = free_port();
	struct probe_request req = req_for(port, NULL, cert_a2);
	struct outcome o;

	start_server(port, pem_a, pem_ka, NULL, NULL, NULL);
	run_probe(&req, &o);
	ck_assert_int_eq(o.res.outcome, PROBE_MISMATCH);
	ck_assert_str_eq(o.res.served_serial, serial_a);
	ck_assert_msg(strstr(o.res.error.msg, "expected that serial with SHA-256") != NULL,
		      "%s", o.res.error.msg);
}
END_TEST

/* s_server switches to cert2 for SNI "b.test": the leaf compared is the
 * one served for the name sent. */
START_TEST(test_sni)
{
	unsigned port = free_port();
	struct probe_request req = req_for(port, "b.test", cert_b);
	struct outcome o;
	char *want;

	start_server(port, pem_a, pem_ka, "b.test", pem_b, pem_kb);
	run_probe(&req, &o);
	ck_assert_msg(o.res.outcome == PROBE_OK, "%s", o.res.error.msg);
	ck_assert_str_eq(o.res.served_serial, serial_b);

	/* Without SNI, or with another name: the default certificate. */
	req.sni = NULL;
	run_probe(&req, &o);
	want = xasprintf("served serial %s, expected %s", serial_a, serial_b);
	ck_assert_int_eq(o.res.outcome, PROBE_MISMATCH);
	ck_assert_str_eq(o.res.error.msg, want);
	req.sni = "other.test";
	req.expect = cert_a;
	run_probe(&req, &o);
	ck_assert_msg(o.res.outcome == PROBE_OK, "%s", o.res.error.msg);
	req.sni = "";	/* empty: no SNI */
	run_probe(&req, &o);
	ck_assert_int_eq(o.res.outcome, PROBE_OK);
	free(want);
}
END_TEST

/* The consumer starts serving the new certificate while the probe is
 * retrying (a slow reload): the probe passes on a later attempt. */
struct swap {
	unsigned port;
	bool done;
};

static void
swap_server(evutil_socket_t fd, short what, void *arg)
{
	struct swap *sw = arg;
	int status;

	(void)fd;
	(void)what;
	/* Blocking here is fine in a test: it only delays the probe. */
	kill(servers[0], SIGTERM);
	waitpid(servers[0], &status, 0);
	servers[0] = 0;
	start_server(sw->port, pem_a, pem_ka, NULL, NULL, NULL);
	sw->done = true;
}

START_TEST(test_passes_after_reload)
{
	struct swap sw = {free_port(), false};
	struct probe_request req = req_for(sw.port, NULL, cert_a);
	struct timeval tv = {0, 300000};
	struct outcome o;

	start_server(sw.port, pem_b, pem_kb, NULL, NULL, NULL);
	req.attempts = 20;
	req.retry_delay_ms = 200;
	ck_assert_int_eq(event_base_once(base, -1, EV_TIMEOUT, swap_server, &sw, &tv), 0);
	run_probe(&req, &o);
	ck_assert(sw.done);
	ck_assert_msg(o.res.outcome == PROBE_OK, "%s", o.res.error.msg);
	ck_assert_uint_ge(o.res.attempts, 2);
	ck_assert_uint_lt(o.res.attempts, 20);
	ck_assert_str_eq(o.res.served_serial, serial_a);
}
END_TEST

START_TEST(test_refused)
{
	struct probe_request req = req_for(free_port(), NULL, cert_a);
	struct outcome o;

	req.attempts = 3;
	req.retry_delay_ms = 150;
	run_probe(&req, &o);
	ck_assert_str_eq(probe_outcome_str(o.res.outcome), "refused");
	ck_assert_str_eq(o.res.error.msg, "connection refused");
	ck_assert_uint_eq(o.res.attempts, 3);
	ck_assert_str_eq(o.res.served_serial, "");
	/* Two delays between three attempts; refusal itself is immediate. */
	ck_assert_msg(o.elapsed >= 0.29 && o.elapsed < 2.0, "took %.3f s", o.elapsed);

	/* Defaults: 3 attempts, 1 s apart. */
	req.attempts = 0;
	req.retry_delay_ms = 0;
	run_probe(&req, &o);
	ck_assert_uint_eq(o.res.attempts, PROBE_ATTEMPTS_DEFAULT);
	ck_assert_msg(o.elapsed >= 1.95 && o.elapsed < 4.0, "took %.3f s", o.elapsed);

	/* No delay at all. */
	req.attempts = 4;
	req.retry_delay_ms = -1;
	run_probe(&req, &o);
	ck_assert_uint_eq(o.res.attempts, 4);
	ck_assert_msg(o.elapsed < 0.5, "took %.3f s", o.elapsed);
}
END_TEST

START_TEST(test_timeout)
{
	unsigned port;
	int lfd = silent_listener(&port);
	struct probe_request req = req_for(port, "a.test", cert_a);
	struct outcome o;

	req.timeout_ms = 200;
	req.attempts = 2;
	req.retry_delay_ms = 100;
	run_probe(&req, &o);
	ck_assert_str_eq(probe_outcome_str(o.res.outcome), "timeout");
	ck_assert_str_eq(o.res.error.msg, "timed out after 200 ms in the TLS handshake");
	ck_assert_uint_eq(o.res.attempts, 2);
	ck_assert_msg(o.elapsed >= 0.49 && o.elapsed < 2.0, "took %.3f s", o.elapsed);
	close(lfd);
}
END_TEST

/* An in-test server that answers every connection with plain text and
 * closes it, the way a consumer serving HTTP on the TLS port would. */
static void
on_plain_accept(evutil_socket_t lfd, short what, void *arg)
{
	static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	(void)what;
	(void)arg;
	if (fd == -1)
		return;
	if (write(fd, reply, sizeof(reply) - 1) < 0)
		fprintf(stderr, "check_probe: plain server write: %s\n", strerror(errno));
	close(fd);
}

START_TEST(test_handshake_failed)
{
	unsigned port;
	int lfd = silent_listener(&port);
	struct event *ev = event_new(base, lfd, EV_READ | EV_PERSIST, on_plain_accept, NULL);
	struct probe_request req = req_for(port, NULL, cert_a);
	struct outcome o;
	struct probe *p;

	event_add(ev, NULL);
	req.attempts = 2;
	memset(&o, 0, sizeof(o));
	p = probe_start(base, &req, done_cb, &o);
	o.started = true;
	/* The listener's event keeps the loop alive: run until the result. */
	while (o.calls == 0)
		ck_assert_int_ne(event_base_loop(base, EVLOOP_ONCE), -1);
	(void)p;
	ck_assert_str_eq(probe_outcome_str(o.res.outcome), "tls error");
	ck_assert_msg(strncmp(o.res.error.msg, "handshake failed: ", 18) == 0 &&
		      strlen(o.res.error.msg) > 18, "%s", o.res.error.msg);
	ck_assert_uint_eq(o.res.attempts, 2);
	event_free(ev);
	close(lfd);
}
END_TEST

static void
cancel_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	probe_cancel(arg);
}

/* Cancelled while the handshake waits: no callback, ever, and the loop
 * has nothing left to wait for (the socket and timers are gone). */
START_TEST(test_cancel)
{
	unsigned port;
	int lfd = silent_listener(&port);
	struct probe_request req = req_for(port, NULL, cert_a);
	struct timeval tv = {0, 100000};
	struct outcome o;
	struct probe *p;

	memset(&o, 0, sizeof(o));
	clock_gettime(CLOCK_MONOTONIC, &o.t0);
	p = probe_start(base, &req, done_cb, &o);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(event_base_once(base, -1, EV_TIMEOUT, cancel_cb, p, &tv), 0);
	ck_assert_int_ne(event_base_dispatch(base), -1);
	ck_assert_int_eq(o.calls, 0);
	ck_assert_msg(since(&o.t0) < 1.5, "loop ran %.3f s after the cancel", since(&o.t0));

	/* Cancelled before the loop ever ran: not even the kick-off fires. */
	p = probe_start(base, &req, done_cb, &o);
	probe_cancel(p);
	ck_assert_int_ne(event_base_dispatch(base), -1);
	ck_assert_int_eq(o.calls, 0);

	/* Cancelling during the delay between attempts. */
	req.port = free_port();
	req.attempts = 3;
	req.retry_delay_ms = 500;
	p = probe_start(base, &req, done_cb, &o);
	ck_assert_int_eq(event_base_once(base, -1, EV_TIMEOUT, cancel_cb, p, &tv), 0);
	ck_assert_int_ne(event_base_dispatch(base), -1);
	ck_assert_int_eq(o.calls, 0);
	probe_cancel(NULL);
	close(lfd);
}
END_TEST

/* Cancelling from its own callback is a no-op (the probe is freed after
 * the callback returns), and starting another probe from it works. */
static struct probe *self_probe;
static struct outcome chained;

static void
cancel_self_cb(const struct probe_result *res, void *arg)
{
	struct outcome *o = arg;
	struct probe_request req = req_for(free_port(), NULL, cert_a);

	done_cb(res, arg);
	probe_cancel(self_probe);
	(void)o;
	memset(&chained, 0, sizeof(chained));
	chained.started = true;
	ck_assert_ptr_nonnull(probe_start(base, &req, done_cb, &chained));
}

START_TEST(test_cancel_in_callback)
{
	struct probe_request req = req_for(free_port(), NULL, cert_a);
	struct outcome o;

	memset(&o, 0, sizeof(o));
	self_probe = probe_start(base, &req, cancel_self_cb, &o);
	o.started = true;
	ck_assert_int_ne(event_base_dispatch(base), -1);
	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(chained.calls, 1);
	ck_assert_int_eq(chained.res.outcome, PROBE_REFUSED);
}
END_TEST

static const struct {
	const char *host;
	unsigned port;
	bool expect;
	const char *msg;
} bad_requests[] = {
	{"example.com", 443, true, "host \"example.com\" is not a numeric IPv4/IPv6 address "
				   "or localhost (names are not resolved)"},
	{"", 443, true, "no host to probe"},
	{NULL, 443, true, "no host to probe"},
	{"127.0.0.1", 0, true, "port 0 out of range"},
	{"127.0.0.1", 65536, true, "port 65536 out of range"},
	{"127.0.0.1", 443, false, "no expected certificate"},
	{"127.0.0.1:443", 443, true, "host \"127.0.0.1:443\" is not a numeric IPv4/IPv6 "
				     "address or localhost (names are not resolved)"},
};

/* A bad request is answered through the callback, from the loop, after
 * probe_start has returned; nothing is attempted. */
START_TEST(test_bad_request)
{
	struct probe_request req = req_for(443, NULL, NULL);
	struct outcome o;

	req.host = bad_requests[_i].host;
	req.port = bad_requests[_i].port;
	req.expect = bad_requests[_i].expect ? cert_a : NULL;
	run_probe(&req, &o);
	ck_assert_str_eq(probe_outcome_str(o.res.outcome), "bad request");
	ck_assert_str_eq(o.res.error.msg, bad_requests[_i].msg);
	ck_assert_uint_eq(o.res.attempts, 0);
	ck_assert_ptr_null(probe_start(NULL, &req, done_cb, &o));
	ck_assert_ptr_null(probe_start(base, NULL, done_cb, &o));
	ck_assert_ptr_null(probe_start(base, &req, NULL, &o));
}
END_TEST

/* IPv6 loopback, when the host has one. */
START_TEST(test_ipv6)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	socklen_t len = sizeof(sin6);
	struct probe_request req = req_for(0, NULL, cert_a);
	struct outcome o;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin6.sin6_addr = in6addr_loopback;
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1) {
		fprintf(stderr, "check_probe: IPv6 case skipped (no ::1)\n");
		if (fd != -1)
			close(fd);
		return;
	}
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin6, &len), 0);
	close(fd);
	/* Nothing listens there now: refused, over IPv6. */
	req.host = "::1";
	req.port = ntohs(sin6.sin6_port);
	run_probe(&req, &o);
	ck_assert_int_eq(o.res.outcome, PROBE_REFUSED);
	ck_assert_uint_eq(o.res.attempts, 1);
}
END_TEST

static Suite *
probe_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_mismatch);
	tcase_add_test(tc, test_same_serial_other_cert);
	tcase_add_test(tc, test_sni);
	tcase_add_test(tc, test_passes_after_reload);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_handshake_failed);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_cancel_in_callback);
	tcase_add_loop_test(tc, test_bad_request, 0,
			    (int)(sizeof(bad_requests) / sizeof(bad_requests[0])));
	tcase_add_test(tc, test_ipv6);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(probe_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
