/*
 * log.h — the daemon's one way to say something.
 *
 * Messages go to stderr as "certd: LEVEL: [NAME] text", or, when stderr
 * is connected to the journal (systemd sets $JOURNAL_STREAM to its
 * device:inode), straight to the journal with PRIORITY= and the structured
 * fields CERTD_CERT=, CERTD_ISSUER=, CERTD_SERIAL=.  Only
 * the job and the daemon call these; leaf modules return struct err.
 * Text that came from outside (a CA's error string, command output) must
 * be passed through log_escape() first.  Never format a secret.
 */
#ifndef CERTD_LOG_H
#define CERTD_LOG_H

#include "buf.h"

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARNING,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* What a message is about; any field may be NULL. */
struct log_ctx {
	const char *cert;
	const char *issuer;
	const char *serial;
};

void log_set_level(enum log_level level);
/* Decide once, at start-up, whether stderr is the journal. */
void log_init(void);
void log_msg(enum log_level level, const char *cert, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_msgx(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(cert, ...) log_msg(LOG_LVL_ERROR, cert, __VA_ARGS__)
#define log_warning(cert, ...) log_msg(LOG_LVL_WARNING, cert, __VA_ARGS__)
#define log_info(cert, ...) log_msg(LOG_LVL_INFO, cert, __VA_ARGS__)
#define log_debug(cert, ...) log_msg(LOG_LVL_DEBUG, cert, __VA_ARGS__)

/* Append s to out with control characters, backslashes and non-ASCII
 * bytes escaped (\n, \t, \xNN), at most max input bytes ("..." after). */
void log_escape(const char *s, size_t max, struct buf *out);

#endif
