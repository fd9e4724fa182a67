/*
 * control.h — the control socket: a Unix stream socket that accepts one
 * JSON request per line and answers one JSON line, then closes.
 *
 *   {"cmd": "status"}                          -> {"ok": true, "certs": [...]}
 *   {"cmd": "renew", "name": "web", "force": true}
 *   {"cmd": "reload"}
 *
 * The server side runs on the event loop (libevent bufferevents): it reads
 * at most CONTROL_MAX_REQUEST bytes, checks the peer's uid with
 * SO_PEERCRED against the allow list before reading anything, parses the
 * line with jansson, and hands the object to the handler, which returns
 * the reply object synchronously.  Oversized, malformed or non-object
 * requests get {"ok": false, "error": "..."} and never reach the handler.
 * Replies are capped at CONTROL_MAX_REPLY bytes.  The socket file is
 * created with the configured mode (0600 by default) and owner.
 *
 * The client side (control_call) is blocking: it is for the CLI process,
 * never for the daemon.
 */
#ifndef CERTD_CONTROL_H
#define CERTD_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "err.h"

struct event_base;
struct control;

#define CONTROL_MAX_REQUEST (64 * 1024)
#define CONTROL_MAX_REPLY (16 * 1024 * 1024)

/* Build the reply to req (a JSON object with a string "cmd").  The
 * returned object is owned by the caller (the control module); NULL or a
 * non-object is answered with an internal error.  Runs on the loop; it may
 * call control_free (the reply is still sent). */
typedef json_t *(*control_handler)(const json_t *req, uid_t peer_uid, void *arg);

struct control_config {
	const char *path;          /* socket path; an existing socket there is replaced */
	mode_t mode;               /* e.g. 0600 */
	uid_t uid;                 /* owner, (uid_t)-1: keep */
	gid_t gid;                 /* group, (gid_t)-1: keep */
	const uid_t *allow_uids;   /* peers allowed besides root and the daemon's own uid */
	size_t n_allow_uids;
	long timeout_ms;           /* a client that sends nothing for this long is dropped; 0: 5000 */
};

/* Listen.  Returns 0 and *out, or a negative errno with e naming the path:
 * -EEXIST when something other than a socket is at the path (it is left
 * alone), -EADDRINUSE when a process listens on the socket there.  The
 * process must ignore SIGPIPE (libevent writes with writev). */
int control_listen(struct event_base *base, const struct control_config *cfg,
		   control_handler handler, void *arg, struct control **out, struct err *e);
/* Close every connection, unlink the socket file, free. */
void control_free(struct control *c);

/* Client: connect to path, send req, wait up to timeout_ms for the reply.
 * timeout_ms <= 0 means 5000.  Returns 0 and *reply (caller decrefs), or a
 * negative errno with e set (cannot connect, -ETIMEDOUT, -EBADMSG when the
 * reply is not a JSON object, -EMSGSIZE when request or reply is too large). */
int control_call(const char *path, const json_t *req, long timeout_ms, json_t **reply,
		 struct err *e);

#endif
