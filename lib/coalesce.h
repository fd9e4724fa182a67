/*
 * coalesce.h — one reload for several certificates that share a consumer.
 *
 * When certificates served by the same nginx renew together, nginx should
 * be reloaded once, after all their files are in place.  A delivery that
 * reaches a reload action joins the batch of that action's consumer (same
 * signal and pid file or unit, same unit and mode, same command); the
 * first to join opens a window (the debounce, default 2 s); when it ends,
 * the action runs once and every member gets its result.  HTTP actions
 * carry a per-certificate body and are never batched.
 *
 * Asynchronous shape: coalesce_join() returns a cancellable handle, the
 * callback fires exactly once from the loop.  A member that cancels leaves
 * the batch; the action still runs for the others.
 */
#ifndef CERTD_COALESCE_H
#define CERTD_COALESCE_H

#include <stdint.h>

#include "conf.h"
#include "reload.h"

struct event_base;
struct coalesce;
struct coalesce_member;

struct coalesce *coalesce_new(struct event_base *base, struct reload_ctx *reload,
			      int64_t window_ms);
/* Cancels every pending batch (no callback fires). */
void coalesce_free(struct coalesce *c);

/* Run a (built from rl by the caller) as part of rl's consumer batch.
 * env describes the certificate that joins (used when it is the one whose
 * action runs).  Never NULL. */
struct coalesce_member *coalesce_join(struct coalesce *c, const struct conf_reload *rl,
				      const struct reload_action *a, const struct reload_env *env,
				      reload_done_cb cb, void *arg);
void coalesce_leave(struct coalesce_member *m);

/* The consumer key of rl: "" for actions that are not batched. */
void coalesce_key(const struct conf_reload *rl, char *out, size_t len);

#endif
