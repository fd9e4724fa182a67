/*
 * xalloc.h — allocation that cannot fail.
 *
 * Out of memory is not a condition certd can recover from in a useful way
 * (as in chrony, tmux and OpenSSH), so these abort with a message instead of
 * returning NULL.  Sizes that come from the network must be checked against
 * a cap by the caller before they reach these functions.
 */
#ifndef CERTD_XALLOC_H
#define CERTD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Like reallocarray(3): aborts on multiplication overflow. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string; never NULL. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipe len bytes at p in a way the compiler may not elide, then free(p). */
void xfree_secret(void *p, size_t len);

#endif
