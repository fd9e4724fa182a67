/*
 * render.c — build the template context and the bytes of every output.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "render.h"
#include "xalloc.h"

static json_t *
string_list(const struct conf_list *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static void
set_time(json_t *ctx, const char *key, const char *unix_key, time_t t)
{
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(ctx, key, json_string(s));
	json_object_set_new(ctx, unix_key, json_integer((json_int_t)t));
}

/* jansson keeps its own copy of every string; wipe the key's copy in place
 * before the context is released (the buffer is jansson's, of strlen+1). */
static void
wipe_string(json_t *ctx, const char *key)
{
	json_t *v = json_object_get(ctx, key);

	if (json_is_string(v))
		OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
}

static void
add_file(struct render_out *out, const char *path, struct buf *content, uid_t uid, gid_t gid,
	 mode_t mode)
{
	size_t i = out->n++;

	out->bufs[i] = *content;
	*content = (struct buf)BUF_INIT;
	out->files[i] = (struct publish_file){
		.path = path, .data = buf_str(&out->bufs[i]), .len = out->bufs[i].len,
		.uid = uid, .gid = gid, .mode = mode,
	};
}

json_t *
render_context(const struct conf_cert *cc, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
	       struct err *e)
{
	struct buf cert_pem = BUF_INIT, key_pem = BUF_INIT, chain_pem = BUF_INIT;
	struct buf full = BUF_INIT, ca_pem = BUF_INIT;
	char serial[128], fpr[65], cn[256];
	json_t *ctx = NULL;
	time_t nb, na;

	if (x509_cert_to_pem(cert, &cert_pem, e) < 0 || x509_key_to_pem(key, &key_pem, e) < 0 ||
	    x509_chain_to_pem(chain, &chain_pem, e) < 0 || x509_lifetime(cert, &nb, &na, e) < 0)
		goto out;
	if (sk_X509_num(chain) > 0 &&
	    x509_cert_to_pem(sk_X509_value(chain, sk_X509_num(chain) - 1), &ca_pem, e) < 0)
		goto out;
	buf_append(&full, buf_str(&cert_pem), cert_pem.len);
	buf_append(&full, buf_str(&chain_pem), chain_pem.len);
	x509_serial_string(cert, serial, sizeof(serial));
	x509_fingerprint_sha256(cert, fpr);
	x509_subject_cn(cert, cn, sizeof(cn));

	ctx = json_object();
	json_object_set_new(ctx, "name", json_string(cc->name));
	json_object_set_new(ctx, "issuer", json_string(cc->issuer));
	json_object_set_new(ctx, "common_name", json_string(cn));
	json_object_set_new(ctx, "alt_names", string_list(&cc->alt_names));
	json_object_set_new(ctx, "ip_sans", string_list(&cc->ip_sans));
	json_object_set_new(ctx, "uri_sans", string_list(&cc->uri_sans));
	json_object_set_new(ctx, "serial", json_string(serial));
	json_object_set_new(ctx, "fingerprint_sha256", json_string(fpr));
	set_time(ctx, "not_before", "not_before_unix", nb);
	set_time(ctx, "not_after", "not_after_unix", na);
	json_object_set_new(ctx, "cert", json_stringn(buf_str(&cert_pem), cert_pem.len));
	json_object_set_new(ctx, "key", json_stringn(buf_str(&key_pem), key_pem.len));
	json_object_set_new(ctx, "chain", json_stringn(buf_str(&chain_pem), chain_pem.len));
	json_object_set_new(ctx, "fullchain", json_stringn(buf_str(&full), full.len));
	json_object_set_new(ctx, "ca", json_stringn(buf_str(&ca_pem), ca_pem.len));
out:
	buf_free(&cert_pem);
	buf_free_secret(&key_pem);
	buf_free(&chain_pem);
	buf_free(&full);
	buf_free(&ca_pem);
	return ctx;
}

void
render_context_free(json_t *ctx)
{
	if (ctx == NULL)
		return;
	wipe_string(ctx, "key");
	json_decref(ctx);
}

int
render_outputs(const struct conf_cert *cc, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
	       struct render_out *out, struct err *e)
{
	struct buf tmp = BUF_INIT;
	json_t *ctx;
	size_t i, total = 4 + cc->n_outputs;

	ctx = render_context(cc, cert, chain, key, e);
	if (ctx == NULL)
		return -EINVAL;
	out->files = xcalloc(total, sizeof(*out->files));
	out->bufs = xcalloc(total, sizeof(*out->bufs));
	out->n = 0;
	/* The order of conf_cert_paths: cert, chain, fullchain, templates, key. */
#define FIELD(k) json_string_value(json_object_get(ctx, k)), json_string_length(json_object_get(ctx, k))
	buf_append(&tmp, FIELD("cert"));
	add_file(out, cc->cert_path, &tmp, cc->owner.uid, cc->owner.gid, cc->mode);
	if (cc->chain_path != NULL) {
		buf_append(&tmp, FIELD("chain"));
		add_file(out, cc->chain_path, &tmp, cc->owner.uid, cc->owner.gid, cc->mode);
	}
	if (cc->fullchain_path != NULL) {
		buf_append(&tmp, FIELD("fullchain"));
		add_file(out, cc->fullchain_path, &tmp, cc->owner.uid, cc->owner.gid, cc->mode);
	}
	for (i = 0; i < cc->n_outputs; i++) {
		const struct conf_output *o = &cc->outputs[i];
		if (tmpl_render(o->template.tmpl, ctx, o->escape, &tmp, e) < 0) {
			err_prefix(e, E2BIG, "[cert.%s.output.%s] %s", cc->name, o->name, o->path);
			buf_free_secret(&tmp);
			render_context_free(ctx);
			render_out_free(out);
			return -E2BIG;
		}
		add_file(out, o->path, &tmp, o->owner.uid, o->owner.gid, o->mode);
	}
	buf_append(&tmp, FIELD("key"));
	add_file(out, cc->key_path, &tmp, cc->owner.uid, cc->owner.gid, cc->key_mode);
#undef FIELD
	buf_free_secret(&tmp);
	render_context_free(ctx);
	return 0;
}

void
render_out_free(struct render_out *out)
{
	size_t i;

	if (out->bufs != NULL)
		for (i = 0; i < out->n; i++)
			buf_free_secret(&out->bufs[i]);
	free(out->bufs);
	free(out->files);
	out->bufs = NULL;
	out->files = NULL;
	out->n = 0;
}
