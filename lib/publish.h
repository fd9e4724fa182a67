/*
 * publish.h — write a set of files so that each path holds either its old
 * or its complete new content, never a mixture, with the final owner and
 * mode from the first byte.
 *
 * For every changed file: a temporary file is created in the target's own
 * directory (O_CREAT|O_EXCL|O_CLOEXEC, mode 0600), fchown/fchmod to the
 * final owner and mode, the content written and fsync'd.  Only when every
 * temporary of the set is complete are they renamed over their targets, in
 * order, and then each distinct directory is fsync'd.  A failure before the
 * renames unlinks every temporary and leaves all targets untouched.
 *
 * A file whose current content, owner and mode already equal the new ones
 * is not rewritten (its mtime is kept).
 *
 * Paths must be absolute, non-empty, not end in '/', not end in "." or
 * "..", and not appear twice in one set; mode is permission bits only
 * (07777).  A bad set is rejected with -EINVAL before anything is touched.
 * Directories are never created: a missing parent fails at "create
 * temporary" (-ENOENT, or -ENOTDIR when a component is not a directory).
 * A target that is a directory is refused (-EISDIR), as is a FIFO, socket
 * or device (-EINVAL).  A target that is a symlink is replaced by a regular
 * file: the link itself is renamed over, never followed, and a symlink is
 * never "current".
 *
 * Temporaries are named ".<name>.certd-XXXXXX" (name cut to 200 bytes) and
 * none is left behind when publish_set returns, whatever it returns.
 *
 * Not atomic as a set: if a rename fails part-way, the files before it are
 * already replaced (e names them), it and the later ones keep their old
 * content, their temporaries are unlinked, and an error is returned.  A
 * crash between renames leaves the same kind of mixed set, and a crash
 * before them can leave temporaries behind.  Recovering from both is the
 * job of the intent record written around publish_set (a later issue), not
 * of this module.  A failure to fsync a directory after the renames is
 * returned too, though the files are in place (durability is unknown).
 *
 * Blocking file I/O: call from --once code or a worker, not from a loop
 * callback that must stay short.  Never logs.
 */
#ifndef CERTD_PUBLISH_H
#define CERTD_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct publish_file {
	const char *path;   /* absolute */
	const void *data;
	size_t len;
	uid_t uid;          /* (uid_t)-1: keep the process's own */
	gid_t gid;          /* (gid_t)-1: keep the process's own */
	mode_t mode;        /* permission bits, e.g. 0600 */
};

struct publish_result {
	unsigned written;   /* files renamed into place */
	unsigned unchanged; /* files left alone because identical */
};

/* Publish n files as one set.  Returns 0, or a negative errno with e naming
 * the path and the failing step ("/etc/ssl/x.key: create temporary in
 * /etc/ssl: Permission denied", "/etc/ssl/x.key: write: No space left on
 * device").  res may be NULL; it is written only when 0 is returned.  The
 * caller keeps ownership of files and their data. */
int publish_set(const struct publish_file *files, size_t n, struct publish_result *res,
		struct err *e);

/* true when path is a regular file (not a symlink) with exactly this
 * content and mode, and this uid/gid where they are not -1.  Reads at most
 * len+1 bytes of the existing file; any error means false. */
bool publish_is_current(const struct publish_file *f);

#endif
