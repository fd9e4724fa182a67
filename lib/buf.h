/*
 * buf.h — a growable byte buffer, always NUL-terminated.
 *
 * Used for rendered templates, PEM text and (later) HTTP bodies.  A buffer
 * that has held secret material is released with buf_free_secret().
 */
#ifndef CERTD_BUF_H
#define CERTD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;  /* NUL-terminated; NULL until the first append */
	size_t len;  /* bytes used, not counting the terminator */
	size_t cap;  /* bytes allocated */
};

#define BUF_INIT {NULL, 0, 0}

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Ensure room for `extra` more bytes plus the terminator. */
void buf_reserve(struct buf *b, size_t extra);
/* Keep the allocation, forget the content. */
void buf_reset(struct buf *b);
/* Return the content as a string owned by the caller (never NULL). */
char *buf_steal(struct buf *b);
/* Give the content a terminator and return it (never NULL; "" when empty). */
const char *buf_str(struct buf *b);
void buf_free(struct buf *b);
/* Wipe the whole allocation before freeing it. */
void buf_free_secret(struct buf *b);

#endif
