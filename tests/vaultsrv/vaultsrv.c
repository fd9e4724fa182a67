/*
 * vaultsrv.c — main of the Vault-compatible test server: options,
 * listeners (HTTP and/or HTTPS on 127.0.0.1), TLS context, signals and an
 * orderly shutdown that frees everything (the replay test runs it under
 * ASan and treats a leak as a failure).
 *
 * TLS is as Vault's listener: a client certificate is requested but not
 * required, and any certificate is accepted at the TLS layer; auth/cert/login
 * decides whether it is trusted.  --tls-require-client-cert with
 * --tls-client-ca gives Vault's tls_require_and_verify_client_cert instead.
 * Port files are written by rename so a test polling for them never reads
 * half a number.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "vs.h"
#include "xalloc.h"

struct options {
	const char *config;
	long port;                 /* -1: no HTTP listener */
	long tls_port;             /* -1: no HTTPS listener */
	const char *port_file;
	const char *tls_port_file;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_auto;
	const char *tls_ca_out;
	const char *tls_client_ca;
	bool tls_require_client;
	bool quiet;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vaultsrv [--config FILE] [--port N] [--port-file FILE]\n"
	    "                [--tls-port N] [--tls-port-file FILE]\n"
	    "                [--tls-cert FILE --tls-key FILE | --tls-auto MOUNT]\n"
	    "                [--tls-ca-out FILE] [--tls-client-ca FILE]\n"
	    "                [--tls-require-client-cert] [--quiet]\n"
	    "A Vault 1.7-compatible test server.  Port 0 picks a free port.\n"
	    "Without --port or --tls-port, HTTP listens on a free port.\n");
}

static int
parse_port(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 65535)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"port", required_argument, NULL, 'p'},
		{"port-file", required_argument, NULL, 'f'},
		{"tls-port", required_argument, NULL, 'P'},
		{"tls-port-file", required_argument, NULL, 'F'},
		{"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},
		{"tls-auto", required_argument, NULL, 'A'},
		{"tls-ca-out", required_argument, NULL, 'O'},
		{"tls-client-ca", required_argument, NULL, 'R'},
		{"tls-require-client-cert", no_argument, NULL, 'Q'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	o->port = o->tls_port = -1;
	while ((c = getopt_long(argc, argv, "c:p:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'p':
			if (parse_port(optarg, &o->port) < 0)
				return -EINVAL;
			break;
		case 'P':
			if (parse_port(optarg, &o->tls_port) < 0)
				return -EINVAL;
			break;
		case 'f': o->port_file = optarg; break;
		case 'F': o->tls_port_file = optarg; break;
		case 'C': o->tls_cert = optarg; break;
		case 'K': o->tls_key = optarg; break;
		case 'A': o->tls_auto = optarg; break;
		case 'O': o->tls_ca_out = optarg; break;
		case 'R': o->tls_client_ca = optarg; break;
		case 'Q': o->tls_require_client = true; break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (optind != argc)
		return -EINVAL;
	if (o->port < 0 && o->tls_port < 0)
		o->port = 0;
	if (o->tls_port >= 0 && o->tls_auto == NULL &&
	    (o->tls_cert == NULL || o->tls_key == NULL))
		return -EINVAL;
	return 0;
}

/* Write a small file by rename, so readers see all of it or nothing. */
static int
write_file_atomic(const char *path, const char *content)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	int rc = 0;

	if (f == NULL) {
		free(tmp);
		return -errno;
	}
	if (fputs(content, f) == EOF)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int
tls_accept_any(int preverify_ok, X509_STORE_CTX *ctx)
{
	(void)preverify_ok;
	(void)ctx;
	return 1;	/* the cert auth method decides, as in Vault */
}

static int
tls_setup(struct vs_state *st, const struct options *o, SSL_CTX **out,
    struct err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	STACK_OF(X509) *chain = NULL;
	char *pem;
	int rc = 0, i;

	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (o->tls_auto != NULL) {
		if ((rc = vs_pki_server_cert(st, o->tls_auto, &cert, &key, &chain,
		    e)) < 0)
			goto out;
		if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, key) != 1) {
			rc = err_set(e, EIO, "cannot use the generated TLS key pair");
			goto out;
		}
		for (i = 0; i < sk_X509_num(chain); i++)
			SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i));
		if (o->tls_ca_out != NULL) {
			char *root = vs_pem_cert(sk_X509_value(chain,
			    sk_X509_num(chain) - 1));

			pem = xasprintf("%s\n", root);
			free(root);
			rc = write_file_atomic(o->tls_ca_out, pem);
			free(pem);
			if (rc < 0) {
				err_set(e, -rc, "cannot write %s", o->tls_ca_out);
				goto out;
			}
		}
	} else if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1) {
		rc = err_set(e, EINVAL, "cannot load %s / %s", o->tls_cert,
		    o->tls_key);
		err_add_openssl(e);
		goto out;
	}
	if (o->tls_client_ca != NULL &&
	    SSL_CTX_load_verify_locations(ctx, o->tls_client_ca, NULL) != 1) {
		rc = err_set(e, EINVAL, "cannot load %s", o->tls_client_ca);
		goto out;
	}
	if (o->tls_require_client)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_accept_any);
	*out = ctx;
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

static struct bufferevent *
tls_bevcb(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);
	struct bufferevent *bev;

	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static struct evhttp *
listen_on(struct vs_state *st, long port, SSL_CTX *ctx, const char *port_file,
    const char *label, bool quiet, struct err *e)
{
	struct evhttp *http = evhttp_new(st->base);
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char line[32];

	evhttp_set_allowed_methods(http, 0xffff);	/* LIST arrives as unknown */
	evhttp_set_max_body_size(http, VS_MAX_BODY);
	evhttp_set_timeout(http, 300);
	evhttp_set_gencb(http, vs_http_cb, st);
	if (ctx != NULL)
		evhttp_set_bevcb(http, tls_bevcb, ctx);
	bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
	if (bs == NULL || getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&sin, &len) < 0) {
		err_set(e, EADDRINUSE, "cannot listen on 127.0.0.1:%ld (%s)", port,
		    label);
		evhttp_free(http);
		return NULL;
	}
	snprintf(line, sizeof(line), "%u\n", (unsigned)ntohs(sin.sin_port));
	if (port_file != NULL && write_file_atomic(port_file, line) < 0) {
		err_set(e, EIO, "cannot write %s", port_file);
		evhttp_free(http);
		return NULL;
	}
	if (!quiet) {
		printf("vaultsrv: %s listening on 127.0.0.1:%s", label, line);
		fflush(stdout);
	}
	return http;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static void
state_init(struct vs_state *st)
{
	char *id = vs_uuid();

	st->policies = json_object();
	st->tokens = json_object();
	st->secret_ids = json_object();
	st->log = json_array();
	st->counters = json_object();
	st->issued = json_object();
	st->cluster_id = vs_uuid();
	st->cluster_name = xasprintf("vault-cluster-%.8s", id);
	free(id);
}

int
main(int argc, char **argv)
{
	struct options o = {0};
	struct vs_state st = {0};
	struct evhttp *http = NULL, *https = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	SSL_CTX *ctx = NULL;
	struct err e = {{0}};
	int rc = 1;

	if (parse_options(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	st.base = event_base_new();
	state_init(&st);
	if (o.config != NULL && vs_conf_load(&st, o.config, &e) < 0) {
		fprintf(stderr, "vaultsrv: %s\n", e.msg);
		rc = 2;
		goto out;
	}
	if (json_object_size(st.tokens) == 0) {
		json_t *root = json_pack("[s]", "root");

		vs_token_create(&st, "root", root, NULL, "root", "auth/token/root", 0,
		    0, false, 0);
		json_decref(root);
	}
	if (o.tls_port >= 0 && tls_setup(&st, &o, &ctx, &e) < 0)
		goto fail;
	if (o.port >= 0 && (http = listen_on(&st, o.port, NULL, o.port_file,
	    "http", o.quiet, &e)) == NULL)
		goto fail;
	if (o.tls_port >= 0 && (https = listen_on(&st, o.tls_port, ctx,
	    o.tls_port_file, "https", o.quiet, &e)) == NULL)
		goto fail;
	sigterm = evsignal_new(st.base, SIGTERM, on_signal, st.base);
	sigint = evsignal_new(st.base, SIGINT, on_signal, st.base);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	event_base_dispatch(st.base);
	vs_http_flush_pending(&st);
	/* Give the last replies a chance to leave before the sockets close. */
	event_base_loop(st.base, EVLOOP_NONBLOCK);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "vaultsrv: %s\n", e.msg);
out:
	if (http != NULL)
		evhttp_free(http);
	if (https != NULL)
		evhttp_free(https);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	SSL_CTX_free(ctx);
	vs_state_free(&st);
	event_base_free(st.base);
	libevent_global_shutdown();
	return rc;
}
