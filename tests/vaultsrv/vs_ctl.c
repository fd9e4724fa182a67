/*
 * vs_ctl.c — the test-control API under /_test/, a prefix Vault never
 * uses.  Plain JSON in and out, no token, never logged, never faulted,
 * answered even while "sealed" or "standby".
 *
 *   POST   /_test/seal | /_test/unseal
 *   POST   /_test/standby        {"enabled": true, "redirect": "http://.."}
 *   GET    /_test/state
 *   POST   /_test/faults         add a fault, returns {"id": n}
 *   GET    /_test/faults         list (with hits/applied counts)
 *   DELETE /_test/faults[/<id>]  remove all / one
 *   POST   /_test/tokens         create a token (config "tokens" fields)
 *   POST   /_test/revoke-token   {"token": id or accessor}
 *   POST   /_test/expire-token   {"token": id, "ttl": seconds left}
 *   GET    /_test/requests[?since=SEQ]   the request log; DELETE clears
 *   GET    /_test/counters       per "METHOD /path" and per path; DELETE
 *   GET    /_test/sectigo        Sectigo mounts: counters, scripts, entries
 *   POST   /_test/sectigo/script | approve | error    (see vs_sectigo.c)
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vs.h"
#include "xalloc.h"

static const struct {
	const char *name;
	enum vs_fault_action action;
} fault_actions[] = {
	{"status", VS_FAULT_STATUS}, {"delay", VS_FAULT_DELAY},
	{"hang", VS_FAULT_HANG}, {"drop", VS_FAULT_DROP},
	{"truncate", VS_FAULT_TRUNCATE}, {"nonjson", VS_FAULT_NONJSON},
	{"huge", VS_FAULT_HUGE}, {"close", VS_FAULT_CLOSE},
	{"mutate", VS_FAULT_MUTATE},
};

/* "kind" of a "mutate" fault (see vs_pki_mutate). */
static const struct {
	const char *name;
	enum vs_mutate kind;
} mutate_kinds[] = {
	{"wrong_key", VS_MUTATE_WRONG_KEY},
	{"wrong_name", VS_MUTATE_WRONG_NAME},
	{"expired", VS_MUTATE_EXPIRED}, {"bad_chain", VS_MUTATE_BAD_CHAIN},
	{"trailing_garbage", VS_MUTATE_TRAILING_GARBAGE},
};

void
vs_fault_free(struct vs_fault *f)
{
	free(f->method);
	free(f->path);
	free(f->body);
	free(f->content_type);
	json_decref(f->headers);
	free(f);
}

static bool
fault_path_match(const char *pat, const char *path)
{
	size_t n = strlen(pat);

	if (n > 0 && pat[n - 1] == '*')
		return strncmp(pat, path, n - 1) == 0;
	return strcmp(pat, path) == 0;
}

struct vs_fault *
vs_fault_match(struct vs_state *st, struct vs_req *r)
{
	struct vs_fault *f;

	for (f = st->faults; f != NULL; f = f->next) {
		if (f->method != NULL && strcasecmp(f->method, r->method_name) != 0)
			continue;
		if (!fault_path_match(f->path, r->uri_path))
			continue;
		if (++f->hits <= f->skip)
			continue;
		if (f->count != 0 && f->applied >= f->count)
			continue;
		f->applied++;
		return f;
	}
	return NULL;
}

static json_t *
fault_json(struct vs_fault *f)
{
	size_t i;
	json_t *o = json_pack("{sI ss ss sI sI sI sI}", "id", (json_int_t)f->id,
	    "path", f->path, "action", fault_actions[f->action].name,
	    "skip", (json_int_t)f->skip, "count", (json_int_t)f->count,
	    "hits", (json_int_t)f->hits, "applied", (json_int_t)f->applied);

	json_object_set_new(o, "method", f->method ? json_string(f->method) :
	    json_null());
	if (f->action == VS_FAULT_STATUS)
		json_object_set_new(o, "status", json_integer(f->status));
	for (i = 0; f->action == VS_FAULT_MUTATE &&
	    i < sizeof(mutate_kinds) / sizeof(mutate_kinds[0]); i++)
		if (mutate_kinds[i].kind == f->mutate)
			json_object_set_new(o, "kind",
			    json_string(mutate_kinds[i].name));
	return o;
}

static int
fault_add(struct vs_state *st, json_t *in, struct vs_fault **out,
    const char **msg)
{
	struct vs_fault *f, **tail;
	const char *action = vs_jstr(in, "action"), *path = vs_jstr(in, "path");
	const char *kind = vs_jstr(in, "kind");
	json_t *body = json_object_get(in, "json");
	enum vs_mutate mutate = VS_MUTATE_NONE;
	size_t i, k;

	if (path == NULL || action == NULL) {
		*msg = "path and action are required";
		return -EINVAL;
	}
	for (i = 0; i < sizeof(fault_actions) / sizeof(fault_actions[0]); i++)
		if (strcmp(fault_actions[i].name, action) == 0)
			break;
	if (i == sizeof(fault_actions) / sizeof(fault_actions[0])) {
		*msg = "unknown action (status, delay, hang, drop, truncate, "
		    "nonjson, huge, close, mutate)";
		return -EINVAL;
	}
	if (fault_actions[i].action == VS_FAULT_MUTATE) {
		for (k = 0; kind != NULL &&
		    k < sizeof(mutate_kinds) / sizeof(mutate_kinds[0]); k++)
			if (strcmp(mutate_kinds[k].name, kind) == 0)
				mutate = mutate_kinds[k].kind;
		if (mutate == VS_MUTATE_NONE) {
			*msg = "mutate needs a kind (wrong_key, wrong_name, "
			    "expired, bad_chain, trailing_garbage)";
			return -EINVAL;
		}
	}
	f = xcalloc(1, sizeof(*f));
	f->id = ++st->fault_seq;
	f->action = fault_actions[i].action;
	f->path = path[0] == '/' ? xstrdup(path) : xasprintf("/v1/%s", path);
	if (vs_jstr(in, "method") != NULL)
		f->method = xstrdup(vs_jstr(in, "method"));
	f->status = (int)vs_jint(in, "status", f->action == VS_FAULT_STATUS ?
	    500 : 0);
	if (body != NULL)
		f->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	else if (vs_jstr(in, "body") != NULL)
		f->body = xstrdup(vs_jstr(in, "body"));
	if (vs_jstr(in, "content_type") != NULL)
		f->content_type = xstrdup(vs_jstr(in, "content_type"));
	f->headers = json_object_get(in, "headers") ?
	    json_deep_copy(json_object_get(in, "headers")) : json_object();
	if (json_object_get(in, "retry_after") != NULL) {
		char ra[32];

		snprintf(ra, sizeof(ra), "%ld", vs_jint(in, "retry_after", 0));
		json_object_set_new(f->headers, "Retry-After", json_string(ra));
	}
	f->delay_ms = vs_jint(in, "delay_ms", 1000);
	f->size = (size_t)vs_jint(in, "size", 0);
	f->mutate = mutate;
	f->skip = (unsigned long)vs_jint(in, "skip", 0);
	f->count = (unsigned long)vs_jint(in, "count", 1);
	for (tail = &st->faults; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = f;
	*out = f;
	return 0;
}

static void
faults(struct vs_req *r, json_t *in, const char *rest)
{
	struct vs_state *st = r->st;
	struct vs_fault *f, **pp;
	const char *msg = NULL;
	json_t *list;
	long id;

	if (r->method == VS_POST || r->method == VS_PUT) {
		if (fault_add(st, in, &f, &msg) < 0)
			vs_reply_error(r, 400, msg);
		else
			vs_reply_json(r, 200, fault_json(f));
		return;
	}
	if (r->method == VS_DELETE) {
		id = *rest ? strtol(rest, NULL, 10) : 0;
		for (pp = &st->faults; *pp != NULL;) {
			f = *pp;
			if (id == 0 || (long)f->id == id) {
				*pp = f->next;
				vs_fault_free(f);
			} else {
				pp = &f->next;
			}
		}
		vs_reply_204(r);
		return;
	}
	list = json_array();
	for (f = st->faults; f != NULL; f = f->next)
		json_array_append_new(list, fault_json(f));
	vs_reply_json(r, 200, json_pack("{so}", "faults", list));
}

static void
requests(struct vs_req *r)
{
	json_t *out = json_array(), *rec;
	char buf[32];
	long since = 0;
	size_t i;

	if (r->method == VS_DELETE) {
		json_array_clear(r->st->log);
		vs_reply_204(r);
		return;
	}
	if (vs_query(r, "since", buf, sizeof(buf)) != NULL)
		vs_duration_str(buf, &since);
	json_array_foreach(r->st->log, i, rec)
		if (vs_jint(rec, "seq", 0) > since)
			json_array_append(out, rec);
	vs_reply_json(r, 200, json_pack("{so}", "requests", out));
}

static void
counters(struct vs_req *r)
{
	struct vs_state *st = r->st;
	json_t *paths = json_object(), *v;
	const char *key, *sp;
	long total = 0;

	if (r->method == VS_DELETE) {
		json_object_clear(st->counters);
		json_object_clear(st->issued);
		vs_sectigo_counters_reset(st);
		vs_reply_204(r);
		return;
	}
	json_object_foreach(st->counters, key, v) {
		sp = strchr(key, ' ');
		sp = sp ? sp + 1 : key;
		json_object_set_new(paths, sp, json_integer(vs_jint(paths, sp, 0) +
		    json_integer_value(v)));
		total += (long)json_integer_value(v);
	}
	vs_reply_json(r, 200, json_pack("{sO so sO sI so}", "requests",
	    st->counters, "paths", paths, "issued", st->issued, "total",
	    (json_int_t)total, "sectigo", vs_sectigo_counters(st)));
}

static void
tokens(struct vs_req *r, json_t *in)
{
	json_t *pol = vs_jlist(json_object_get(in, "policies")), *tok;
	long ttl = vs_jint(in, "ttl", 0);

	tok = vs_token_create(r->st, vs_jstr(in, "id"), pol,
	    json_object_get(in, "meta"), vs_jstr(in, "display_name") ?
	    vs_jstr(in, "display_name") : "token", "auth/token/create", ttl,
	    vs_jint(in, "explicit_max_ttl", 0), vs_jbool(in, "renewable", ttl > 0),
	    vs_jint(in, "num_uses", 0));
	json_decref(pol);
	vs_reply_json(r, 200, vs_token_auth(tok));
}

static void
state(struct vs_req *r)
{
	struct vs_state *st = r->st;
	struct vs_req *p;
	long pending = 0;

	for (p = st->pending; p != NULL; p = p->next)
		pending++;
	vs_reply_json(r, 200, json_pack("{sb sb ss sI sI sI}",
	    "sealed", st->sealed, "standby", st->standby,
	    "standby_redirect", st->standby_redirect ? st->standby_redirect : "",
	    "pending_requests", (json_int_t)pending,
	    "tokens", (json_int_t)json_object_size(st->tokens),
	    "logged_requests", (json_int_t)json_array_size(st->log)));
}

void
vs_ctl_handle(struct vs_req *r)
{
	struct vs_state *st = r->st;
	const char *op = r->uri_path + (strlen(r->uri_path) > 7 ? 7 : 6);
	json_t *in = NULL, *tok;
	const char *id;
	bool post = r->method == VS_POST || r->method == VS_PUT;

	if (r->body_len > 0) {
		in = json_loadb(r->body, r->body_len, 0, NULL);
		if (!json_is_object(in)) {
			json_decref(in);
			vs_reply_error(r, 400, "error parsing JSON");
			return;
		}
	}
	if (in == NULL)
		in = json_object();
	id = vs_jstr(in, "token");
	if (post && strcmp(op, "seal") == 0) {
		st->sealed = true;
		vs_reply_204(r);
	} else if (post && strcmp(op, "unseal") == 0) {
		st->sealed = false;
		vs_reply_204(r);
	} else if (post && strcmp(op, "standby") == 0) {
		st->standby = vs_jbool(in, "enabled", true);
		if (vs_jstr(in, "redirect") != NULL) {
			free(st->standby_redirect);
			st->standby_redirect = xstrdup(vs_jstr(in, "redirect"));
		}
		vs_reply_204(r);
	} else if (strcmp(op, "state") == 0) {
		state(r);
	} else if (strcmp(op, "faults") == 0 || strncmp(op, "faults/", 7) == 0) {
		faults(r, in, op[6] == '/' ? op + 7 : "");
	} else if (post && strcmp(op, "tokens") == 0) {
		tokens(r, in);
	} else if (post && strcmp(op, "revoke-token") == 0) {
		if (id != NULL && vs_token_revoke(st, id) == 0)
			vs_reply_204(r);
		else
			vs_reply_error(r, 404, "no such token");
	} else if (post && strcmp(op, "expire-token") == 0) {
		tok = id ? vs_token_find(st, id) : NULL;
		if (tok == NULL) {
			vs_reply_error(r, 404, "no such token");
		} else {
			json_object_set_new(tok, "_expire", json_integer(
			    (json_int_t)time(NULL) + vs_jint(in, "ttl", 0)));
			vs_reply_204(r);
		}
	} else if (strcmp(op, "requests") == 0) {
		requests(r);
	} else if (strcmp(op, "counters") == 0) {
		counters(r);
	} else if (strcmp(op, "sectigo") == 0 || strncmp(op, "sectigo/", 8) == 0) {
		vs_sectigo_ctl(r, in, op + 7);
	} else {
		vs_reply_error(r, 404, "unknown control endpoint");
	}
	json_decref(in);
}
