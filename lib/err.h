/*
 * err.h — the one-message error carrier of the leaf modules.
 *
 * Leaves (parsers, x509, templates, file writers) never log.  A fallible
 * function returns 0 or a negative errno and, when given a struct err,
 * writes a human-readable reason into it.  The caller that knows the
 * certificate's name logs it once.
 */
#ifndef CERTD_ERR_H
#define CERTD_ERR_H

#include <stdarg.h>
#include <stddef.h>

struct err {
	char msg[512];
};

/* Format a message into e (may be NULL).  Returns -code so that callers can
 * write `return err_set(e, -EINVAL, "...")`.  code is a positive errno. */
int err_set(struct err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in e with "prefix: ".  Returns -code. */
int err_prefix(struct err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append OpenSSL's queued error reasons (if any) to e and clear the queue. */
void err_add_openssl(struct err *e);

#endif
