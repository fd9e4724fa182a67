/*
 * fsutil.h — small blocking file helpers shared by the loaders.
 */
#ifndef CERTD_FSUTIL_H
#define CERTD_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

/* Append the whole file at path to out.  Fails with -EFBIG (message says
 * so) when it is larger than cap bytes, -ENOENT etc. otherwise; e names
 * the path.  A buffer that may hold a key must be freed with
 * buf_free_secret by the caller. */
int fsutil_read_file(const char *path, size_t cap, struct buf *out, struct err *e);

/* mkdir -p path; the last component is created with mode, parents 0755. */
int fsutil_mkdir_p(const char *path, mode_t mode, struct err *e);

/* mkdir -p of the directory that holds path (0755 for what is created). */
int fsutil_mkdir_parent(const char *path, struct err *e);

#endif
