/*
 * replay.h — shared by the two halves of the fixture replay test:
 * replay.c (server, fixtures, setup table, requests) and replay_check.c
 * (comparison of a response with the recording).
 */
#ifndef VAULTSRV_REPLAY_H
#define VAULTSRV_REPLAY_H

#include <stdbool.h>

#include <jansson.h>

#include "buf.h"

enum token_kind { TOK_ROOT, TOK_NONE, TOK_BAD, TOK_LIMITED, TOK_APPROLE,
	TOK_WRAP, TOK_WRAP_USED };

struct call {
	const char *method;
	const char *path;
	const char *body;
};

struct fixture {
	char *name;
	char *method;
	char *path;
	char *mode;                /* "(over TLS, client-cert)" -> "client-cert" */
	char *body;                /* NULL: no request body */
	long status;
	json_t *headers;           /* lower-case name -> value */
	char *resp;
};

typedef int (*check_fn)(const struct fixture *, json_t *, struct buf *);

struct setup {
	const char *file;
	enum token_kind token;
	struct call before[2];     /* made with the root token */
	struct call after;
	bool serial;               /* substitute a freshly issued serial */
	bool errors_prefix;        /* compare errors[] up to the first ':' */
	check_fn check;
};

struct response {
	long status;
	json_t *headers;
	struct buf body;
};

/* Replace why's content with a formatted message. */
void rp_why(struct buf *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Compare a response with the recording: 0, or -1 with why set to the
 * first difference ("$.data.ca_chain: expected ..."). */
int rp_compare_response(const struct fixture *f, const struct setup *su,
    struct response *r, struct buf *why);
/* Value checks run after the shape matched. */
int rp_check_issued(const struct fixture *f, json_t *got, struct buf *why);
int rp_check_clamped(const struct fixture *f, json_t *got, struct buf *why);
int rp_check_auth(const struct fixture *f, json_t *got, struct buf *why);

#endif
