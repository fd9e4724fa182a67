/*
 * testutil.h — small helpers shared by the Check suites.
 */
#ifndef CERTD_TESTUTIL_H
#define CERTD_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Create a fresh directory under $TMPDIR (or /tmp); returns its path
 * (caller frees).  Aborts the test on failure. */
char *tu_mkdtemp(void);
/* Remove a directory tree (best effort). */
void tu_rm_rf(const char *path);
/* Read a whole file; returns NULL when it cannot be read.  *len may be NULL. */
char *tu_read_file(const char *path, size_t *len);
/* Write a whole file with mode; aborts the test on failure. */
void tu_write_file(const char *path, const char *data, mode_t mode);
/* Join dir and name into a new string. */
char *tu_path(const char *dir, const char *name);

#endif
