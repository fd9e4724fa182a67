/*
 * publish_int.h — what publish.c shares with publish_gen.c, and nobody
 * else.  Same rules as publish.h: blocking file I/O, never logs.
 */
#ifndef CERTD_PUBLISH_INT_H
#define CERTD_PUBLISH_INT_H

#include <stddef.h>

#include "err.h"
#include "publish.h"

/* The checks publish_set makes before touching anything (paths, modes,
 * duplicates): 0 or -EINVAL with e naming the file. */
int publish_check_set(const struct publish_file *files, size_t n, struct err *e);

/* The directory part of an absolute path, without trailing slashes ("/"
 * at the top).  Caller frees. */
char *publish_dir_of(const char *path);

/* Refuse to replace what is not a regular file or symlink: -EISDIR,
 * -EINVAL, or a stat error.  An absent target (or parent) is fine. */
int publish_check_target(const char *path, struct err *e);

/* Create, fill, fsync and close the temporary ".<name>.certd-XXXXXX" for
 * f in dir, with f's owner and mode before the first byte.  On success
 * *tmp_out is its path (caller frees, then renames or unlinks it); on
 * failure nothing is left on disk. */
int publish_stage(const struct publish_file *f, const char *dir, char **tmp_out,
		  struct err *e);

#endif
