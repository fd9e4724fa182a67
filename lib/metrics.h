/*
 * metrics.h — the opt-in Prometheus endpoint: an HTTP listener on the
 * event loop (libevent evhttp) that answers GET /metrics with the text
 * exposition format produced by a callback, 404 elsewhere, 405 for other
 * methods.  No request body is read; headers are capped.
 *
 * The text is built by the caller (it knows the jobs); metrics_* helpers
 * below format samples correctly (label escaping, HELP/TYPE lines).
 */
#ifndef CERTD_METRICS_H
#define CERTD_METRICS_H

#include "buf.h"
#include "err.h"

struct event_base;
struct metrics;

typedef void (*metrics_render_cb)(struct buf *out, void *arg);

/* listen: "127.0.0.1:9118", "[::1]:9118" or ":9118" (all addresses, IPv6
 * and IPv4); numeric addresses only, port 0..65535 (0: the kernel picks).
 * cb runs on base's loop, once per GET or HEAD of /metrics.
 * Returns 0 and *out (free with metrics_free), or a negative errno with e
 * set: -EINVAL for a malformed address, the bind/listen errno (e.g.
 * -EADDRINUSE) with the address in the message. */
int metrics_listen(struct event_base *base, const char *listen, metrics_render_cb cb, void *arg,
		   struct metrics **out, struct err *e);
/* The port actually bound (useful with port 0 in tests). */
int metrics_port(const struct metrics *m);
/* Closes the listener and any open connection.  NULL is a no-op.  May be
 * called from a loop callback, but not from inside cb. */
void metrics_free(struct metrics *m);

/* "# HELP name help\n# TYPE name type\n"; help may be NULL (no HELP line)
 * and is escaped (\\ \n).  An invalid name or type aborts: they come from
 * code, and one bad line makes Prometheus reject the whole scrape. */
void metrics_header(struct buf *out, const char *name, const char *type, const char *help);
/* name{k1="v1",k2="v2"} value\n — labels as NULL-terminated k,v,k,v,...,NULL;
 * values escaped (\\ \" \n).  value: NaN, +Inf, -Inf; integers up to 2^53
 * in plain digits; otherwise the shortest form that reads back exactly.
 * Invalid metric or label names (or a NULL label value) abort. */
void metrics_sample(struct buf *out, const char *name, double value, ...)
    __attribute__((sentinel));

#endif
