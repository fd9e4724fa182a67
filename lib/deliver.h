/*
 * deliver.h — after a certificate set is on disk: hand it to its
 * consumers and check that they took it.
 *
 * Steps, in order, each asynchronous on the loop:
 *   1. Vault KV: the [cert.NAME.kv.FIELD] templates written to kv_path
 *      (KV v1: PUT; KV v2: POST with check-and-set, re-read and retried
 *      when another writer got there first);
 *   2. the reload actions, in name order (lib/reload.c);
 *   3. the probe: a TLS handshake to `probe` must be served the new leaf.
 * A signal action whose pid file does not exist is skipped, and so is the
 * probe: the service is not running and will load the files when it starts.
 * When the probe fails, the previous generation of the files is restored
 * (publish_rollback), the reload actions run again so that the consumer
 * serves the old set, and the delivery fails with the reason.
 *
 * One shape: deliver_start() returns a cancellable handle and the callback
 * fires exactly once, from the loop, never from inside deliver_start().
 * The templates are rendered at start (the key is in the context only
 * then, and wiped); the rollback does blocking file I/O on the loop (a
 * few small files).
 */
#ifndef CERTD_DELIVER_H
#define CERTD_DELIVER_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "conf.h"

struct event_base;
struct reload_ctx;
struct coalesce;
struct vault;
struct deliver;

struct deliver_env {
	struct event_base *base;
	struct reload_ctx *reload;   /* may be NULL when no reload action is configured */
	struct coalesce *coalesce;   /* batches reloads per consumer; NULL: none */
	struct vault *vault;         /* may be NULL when no kv_path is configured */
	const char *state_dir;       /* where publish keeps the previous generation */
};

struct deliver_result {
	bool ok;
	bool rolled_back;            /* the previous files are back in place */
	bool consumer_absent;        /* a pid file was missing: nothing signalled or probed */
	char reason[768];            /* when !ok; untrusted parts included: escape */
};

typedef void (*deliver_done_cb)(const struct deliver_result *res, void *arg);

/* Anything to deliver for cc at all? */
bool deliver_needed(const struct conf_cert *cc);

/* Start delivering the set (cert, chain, key: borrowed for the call only).
 * Never NULL. */
struct deliver *deliver_start(const struct deliver_env *env, const struct conf_cert *cc,
			      X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
			      deliver_done_cb cb, void *arg);
/* The callback will not fire; what runs is stopped. */
void deliver_cancel(struct deliver *d);

#endif
