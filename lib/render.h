/*
 * render.h — from an issued certificate to the bytes of every output file.
 *
 * The plain outputs (cert, key, chain, fullchain) are PEM written as is;
 * template outputs are rendered from one JSON context, documented in
 * docs/config-reference.md:
 *   name issuer common_name alt_names ip_sans uri_sans serial
 *   fingerprint_sha256 not_before not_after not_before_unix not_after_unix
 *   cert key chain fullchain ca
 * The key is in the context only while rendering and is wiped afterwards.
 * Pure computation, no I/O: safe on the loop thread.
 */
#ifndef CERTD_RENDER_H
#define CERTD_RENDER_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "buf.h"
#include "conf.h"
#include "err.h"
#include "publish.h"

struct render_out {
	struct publish_file *files;  /* in conf_cert_paths order */
	struct buf *bufs;            /* the bytes files[i].data points into */
	size_t n;
};

/* The template context of an issued set (see the top of this file).  The
 * caller owns it and releases it with render_context_free(), which wipes
 * the key.  NULL with e set on failure. */
json_t *render_context(const struct conf_cert *cc, X509 *cert, STACK_OF(X509) *chain,
		       EVP_PKEY *key, struct err *e);
void render_context_free(json_t *ctx);

/* Fill out (zeroed by the caller) for cc.  Returns 0 or a negative errno. */
int render_outputs(const struct conf_cert *cc, X509 *cert, STACK_OF(X509) *chain,
		   EVP_PKEY *key, struct render_out *out, struct err *e);
/* Wipes every buffer (they may hold the key) and frees. */
void render_out_free(struct render_out *out);

#endif
