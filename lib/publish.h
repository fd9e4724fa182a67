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
 * before them can leave temporaries behind.  publish_set_durable (below)
 * adds what makes both recoverable.  A failure to fsync a directory after
 * the renames is returned too, though the files are in place (durability
 * is unknown).
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

/*
 * Generations and crash-safe publication (publish_gen.c).
 *
 * Per set, named like its certificate (letters, digits, '_', '-'):
 *
 *   <state_dir>/generations/<name>/           0700
 *       intent.json    only while a set is being replaced
 *       prev/          0700: the previous generation
 *           manifest.json   [{index, path, existed, mode, uid, gid, sha256}]
 *           0, 1, ...       copies (0600) of the files as they were
 *
 * publish_set_durable, when at least one file changes:
 *  1. copies every target of the set that exists (content, and owner and
 *     mode in the manifest) into prev/, then writes the manifest
 *     atomically: the manifest is the commit point of the generation, and
 *     prev/ holds nothing valid while it is absent;
 *  2. stages the temporaries, as publish_set does;
 *  3. writes intent.json (each target, its temporary and the SHA-256 of
 *     the new content) atomically, fsync'd with its directory;
 *  4. renames the temporaries in order and fsyncs their directories;
 *  5. removes intent.json and fsyncs its directory.
 * A crash before 3 leaves every target as it was (and temporaries that
 * publish_recover sweeps); after 3, publish_recover finishes or undoes it.
 * A symlink target is captured by what it points to and restored as a
 * regular file (publish_set had replaced the link by a file anyway); a
 * dangling one counts as absent.
 *
 * All of these block on file I/O and fsync: call them from --once code, at
 * start-up, or from a worker, not from a loop callback.  Never log.
 */

enum publish_recovery {
	PUBLISH_RECOVERY_NOTHING,      /* no interrupted publication */
	PUBLISH_RECOVERY_COMPLETED,    /* every new file was in place or
					* staged intact: the set was finished */
	PUBLISH_RECOVERY_ROLLED_BACK,  /* a staged file was lost or damaged:
					* every file was restored from prev/ */
};

/* TEST ONLY.  When >= 0, the renames/unlinks of step 4 (of any intent:
 * publish_set_durable, publish_rollback, the rollback in publish_recover)
 * stop after this many and the function returns -EINTR at once, leaving
 * temporaries and intent.json exactly as a crash at that point would.
 * -1 (the default) in all real use. */
extern int publish_test_crash_after;

/* publish_set, with the previous generation kept in prev/ and an intent
 * record around the renames (see above).  Same rules, same res, same
 * messages for the files themselves.  When nothing changes, prev/ and the
 * files are left alone.  -EBUSY when an intent record is already there
 * (call publish_recover first); -EINVAL for a bad name or state_dir; a
 * failure to copy a current file into prev/ happens before any target is
 * touched.  If a rename fails part-way, the files already replaced are
 * restored from prev/ at once (e says whether that worked; if it did not,
 * the intent record stays for publish_recover). */
int publish_set_durable(const char *state_dir, const char *name,
			const struct publish_file *files, size_t n,
			struct publish_result *res, struct err *e);

/* At start-up, before anything publishes name's set: if intent.json is
 * there, complete the set when every listed file is either in place with
 * the recorded hash or still staged intact, else roll every file of the
 * set back to prev/ (a file that did not exist before is removed); then
 * remove the intent.  Without an intent, temporaries left next to the
 * targets of the set by a crash before its intent was written are
 * removed.  *out (may be NULL) is written on success only.  -ENOENT when
 * a rollback is needed but prev/ has no manifest, -EBADMSG when intent or
 * manifest is malformed or a prev/ copy is damaged (e says which). */
int publish_recover(const char *state_dir, const char *name, enum publish_recovery *out,
		    struct err *e);

/* Put the previous generation of name's set back (after a failed probe):
 * every file in the manifest gets its old content, owner and mode through
 * its own temporary and rename, under an intent record like a publication
 * (so a crash half-way is finished by publish_recover); a file that did
 * not exist before is removed; files already equal are left alone.  prev/
 * is kept, so doing it twice is harmless.  -ENOENT when there is no
 * previous generation, -EBUSY when an intent record is there. */
int publish_rollback(const char *state_dir, const char *name, struct err *e);

/* "nothing", "completed", "rolled back" (static strings, for logs). */
const char *publish_recovery_str(enum publish_recovery r);

#endif
