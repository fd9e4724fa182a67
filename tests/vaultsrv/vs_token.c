/*
 * vs_token.c — tokens, policies (ACL) and response wrapping of vaultsrv:
 * the token store, auth/token/{lookup,renew,revoke,create}[-self],
 * sys/wrapping/{unwrap,lookup}, and Vault's "default" policy.
 *
 * A token is a JSON object in the shape of auth/token/lookup-self; fields
 * starting with '_' are internal (expiry as epoch, wrapped response) and
 * are stripped before anything is returned.  ACL evaluation follows Vault:
 * an exact path rule wins over a glob, the longest glob wins over shorter
 * ones, capabilities of equal rules in different policies are merged, and
 * "deny" beats everything.  Renewal is capped by the token's max TTL (the
 * explicit one, else 768h from issue) with Vault's warning text.  A wrapping
 * token is single-use and only opens sys/wrapping/... paths.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "vs.h"
#include "xalloc.h"

/* Vault's built-in "default" policy, the parts a client of certd uses. */
static const char default_policy[] =
    "{\"auth/token/lookup-self\": [\"read\"],"
    " \"auth/token/renew-self\": [\"update\"],"
    " \"auth/token/revoke-self\": [\"update\"],"
    " \"sys/capabilities-self\": [\"update\"],"
    " \"sys/leases/renew\": [\"update\"],"
    " \"sys/leases/lookup\": [\"update\"],"
    " \"sys/renew\": [\"update\"],"
    " \"sys/wrapping/wrap\": [\"update\"],"
    " \"sys/wrapping/lookup\": [\"update\"],"
    " \"sys/wrapping/unwrap\": [\"update\"],"
    " \"cubbyhole/*\": [\"create\", \"read\", \"update\", \"delete\", \"list\"]}";

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *
vs_policy_list(json_t *in, bool add_default)
{
	json_t *src = vs_jlist(in), *out = json_array();
	const char **v;
	size_t n = json_array_size(src), i, k = 0;

	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[k++] = json_string_value(json_array_get(src, i));
	if (add_default)
		v[k++] = "default";
	qsort(v, k, sizeof(*v), strp_cmp);
	for (i = 0; i < k; i++)
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			json_array_append_new(out, json_string(v[i]));
	free(v);
	json_decref(src);
	return out;
}

/* ---- tokens ---- */

json_t *
vs_token_create(struct vs_state *st, const char *id, json_t *policies,
    json_t *meta, const char *display_name, const char *path, long ttl,
    long max_ttl, bool renewable, long num_uses)
{
	char *tid = id ? xstrdup(id) : vs_random_id("s.", 24);
	char *acc = vs_random_id("", 24), *ent = vs_uuid();
	time_t now;
	long nsec;
	char *issue;
	json_t *t;

	vs_now(&now, &nsec);
	issue = vs_rfc3339(now, nsec);
	if (max_ttl > 0 && ttl > max_ttl)
		ttl = max_ttl;
	t = json_pack("{ss sI sI ss ss sI ss ss sO sI sb ss ss sb ss sI sI sI}",
	    "accessor", acc,
	    "creation_time", (json_int_t)now,
	    "creation_ttl", (json_int_t)ttl,
	    "display_name", display_name,
	    "entity_id", ent,
	    "explicit_max_ttl", (json_int_t)max_ttl,
	    "id", tid,
	    "issue_time", issue,
	    "meta", json_is_object(meta) ? meta : json_null(),
	    "num_uses", (json_int_t)num_uses,
	    "orphan", 1,
	    "path", path,
	    "type", "service",
	    "renewable", renewable && ttl > 0,
	    "policies", "",
	    "_expire", (json_int_t)(ttl > 0 ? now + ttl : 0),
	    "_max_expire", (json_int_t)(ttl > 0 ? now + (max_ttl > 0 ? max_ttl :
	    VS_SYSTEM_TTL) : 0),
	    "_issue", (json_int_t)now);
	json_object_set_new(t, "policies", vs_policy_list(policies, false));
	json_object_set_new(st->tokens, tid, t);
	free(tid);
	free(acc);
	free(ent);
	free(issue);
	return t;
}

json_t *
vs_token_find(struct vs_state *st, const char *id)
{
	return json_object_get(st->tokens, id);
}

bool
vs_token_valid(json_t *tok)
{
	long exp = vs_jint(tok, "_expire", 0);

	return tok != NULL && (exp == 0 || time(NULL) < exp);
}

int
vs_token_revoke(struct vs_state *st, const char *key)
{
	const char *id;
	json_t *t;

	if (json_object_get(st->tokens, key) != NULL)
		return json_object_del(st->tokens, key) == 0 ? 0 : -ENOENT;
	json_object_foreach(st->tokens, id, t) {
		const char *acc = vs_jstr(t, "accessor");

		if (acc != NULL && strcmp(acc, key) == 0)
			return json_object_del(st->tokens, id) == 0 ? 0 : -ENOENT;
	}
	return -ENOENT;
}

static long
token_ttl(json_t *tok)
{
	long exp = vs_jint(tok, "_expire", 0), now = (long)time(NULL);

	return exp == 0 ? 0 : exp > now ? exp - now : 0;
}

/* The public lookup view of a token. */
static json_t *
token_view(json_t *tok)
{
	json_t *o = json_object(), *v;
	const char *key;
	long exp = vs_jint(tok, "_expire", 0);
	char *t;

	json_object_foreach(tok, key, v)
		if (key[0] != '_')
			json_object_set(o, key, v);
	if (exp != 0) {
		t = vs_rfc3339((time_t)exp, 0);
		json_object_set_new(o, "expire_time", json_string(t));
		free(t);
	} else {
		json_object_set_new(o, "expire_time", json_null());
	}
	json_object_set_new(o, "ttl", json_integer(token_ttl(tok)));
	return o;
}

json_t *
vs_token_auth(json_t *tok)
{
	json_t *pol = json_object_get(tok, "policies");
	json_t *meta = json_object_get(tok, "meta");

	return json_pack("{ss ss sO sO sO sI sb ss ss sb}",
	    "client_token", vs_jstr(tok, "id"),
	    "accessor", vs_jstr(tok, "accessor"),
	    "policies", pol,
	    "token_policies", pol,
	    "metadata", meta ? meta : json_null(),
	    "lease_duration", (json_int_t)token_ttl(tok),
	    "renewable", vs_jbool(tok, "renewable", false),
	    "entity_id", vs_jstr(tok, "entity_id"),
	    "token_type", "service",
	    "orphan", vs_jbool(tok, "orphan", true));
}

void
vs_reply_auth(struct vs_req *r, json_t *tok, json_t *warnings)
{
	struct vs_resp resp = {0};

	resp.auth = vs_token_auth(tok);
	resp.warnings = warnings;
	vs_reply_resp(r, &resp);
}

/* ---- ACL ---- */

static bool
is_glob(const char *pat)
{
	return strchr(pat, '+') != NULL ||
	    (*pat != '\0' && pat[strlen(pat) - 1] == '*');
}

/* Vault path patterns: '+' is one segment, a trailing '*' any suffix. */
static bool
pattern_match(const char *pat, const char *path)
{
	while (*pat != '\0') {
		if (*pat == '*' && pat[1] == '\0')
			return true;
		if (*pat == '+') {
			while (*path != '\0' && *path != '/')
				path++;
			pat++;
			continue;
		}
		if (*pat != *path)
			return false;
		pat++;
		path++;
	}
	return *path == '\0';
}

static json_t *
policy_rules(struct vs_state *st, const char *name, json_t **builtin)
{
	json_t *rules = json_object_get(st->policies, name);

	if (rules == NULL && strcmp(name, "default") == 0) {
		if (*builtin == NULL)
			*builtin = json_loads(default_policy, 0, NULL);
		rules = *builtin;
	}
	return rules;
}

bool
vs_acl_allows(struct vs_state *st, json_t *tok, const char *path,
    const char *cap)
{
	json_t *pols = json_object_get(tok, "policies"), *rules, *caps, *c;
	json_t *builtin = NULL;
	const char *best = NULL, *pat;
	bool best_exact = false, allow = false, deny = false;
	size_t i, j;

	json_array_foreach(pols, i, c)
		if (strcmp(json_string_value(c), "root") == 0)
			return true;
	/* Pass 1: the most specific matching pattern over all policies. */
	json_array_foreach(pols, i, c) {
		rules = policy_rules(st, json_string_value(c), &builtin);
		json_object_foreach(rules, pat, caps) {
			bool exact = !is_glob(pat);

			if (!pattern_match(pat, path))
				continue;
			if (best == NULL || (exact && !best_exact) ||
			    (exact == best_exact && strlen(pat) > strlen(best))) {
				best = pat;
				best_exact = exact;
			}
		}
	}
	if (best == NULL)
		goto out;
	/* Pass 2: merge the capabilities of that pattern across policies. */
	json_array_foreach(pols, i, c) {
		rules = policy_rules(st, json_string_value(c), &builtin);
		json_array_foreach(json_object_get(rules, best), j, caps) {
			const char *s = json_string_value(caps);

			if (strcmp(s, "deny") == 0)
				deny = true;
			else if (strcmp(s, cap) == 0)
				allow = true;
		}
	}
out:
	json_decref(builtin);
	return allow && !deny;
}

/* ---- auth/token/... ---- */

static void
token_renew(struct vs_req *r, json_t *tok)
{
	json_t *inc = json_object_get(r->json, "increment"), *warn = NULL;
	long ttl = 0, now = (long)time(NULL), maxexp;

	if (!vs_jbool(tok, "renewable", false)) {
		vs_reply_error(r, 400, "lease is not renewable");
		return;
	}
	if (inc != NULL && vs_duration(inc, &ttl) < 0) {
		vs_reply_error(r, 400, "invalid increment");
		return;
	}
	if (ttl == 0)
		ttl = vs_jint(tok, "creation_ttl", 0);
	maxexp = vs_jint(tok, "_max_expire", 0);
	if (maxexp > 0 && now + ttl > maxexp) {
		char *msg = xasprintf("TTL of \"%lds\" exceeded the effective "
		    "max_ttl of \"%lds\"; TTL value is capped accordingly", ttl,
		    maxexp - now);

		warn = json_pack("[s]", msg);
		free(msg);
		ttl = maxexp - now;
	}
	json_object_set_new(tok, "_expire", json_integer(now + ttl));
	vs_reply_auth(r, tok, warn);
}

static void
token_create(struct vs_req *r)
{
	json_t *in = r->json, *pol, *tok;
	bool nodef = vs_jbool(in, "no_default_policy", false);
	long ttl = vs_jint(in, "ttl", VS_SYSTEM_TTL);
	const char *dn = vs_jstr(in, "display_name");
	char *name;

	pol = json_object_get(in, "policies") ?
	    vs_policy_list(json_object_get(in, "policies"), !nodef) :
	    json_incref(json_object_get(r->token, "policies"));
	name = xasprintf("token%s%s", dn ? "-" : "", dn ? dn : "");
	tok = vs_token_create(r->st, vs_jstr(in, "id"), pol,
	    json_object_get(in, "meta"), name, "auth/token/create", ttl,
	    vs_jint(in, "explicit_max_ttl", 0),
	    vs_jbool(in, "renewable", true), vs_jint(in, "num_uses", 0));
	json_decref(pol);
	free(name);
	vs_reply_auth(r, tok, NULL);
}

void
vs_token_handle(struct vs_req *r, const char *rest)
{
	struct vs_state *st = r->st;
	json_t *tok = r->token;
	const char *other = vs_jstr(r->json, "token");

	if (strcmp(rest, "lookup") == 0 || strcmp(rest, "renew") == 0 ||
	    strcmp(rest, "revoke") == 0) {
		tok = other ? vs_token_find(st, other) : NULL;
		if (tok == NULL || !vs_token_valid(tok)) {
			vs_reply_error(r, 400, "bad token");
			return;
		}
	}
	if (tok == NULL) {
		vs_reply_error(r, 403, "permission denied");
		return;
	}
	if ((strcmp(rest, "lookup-self") == 0 && r->method == VS_GET) ||
	    strcmp(rest, "lookup") == 0) {
		vs_reply_data(r, token_view(tok));
	} else if (strcmp(rest, "renew-self") == 0 || strcmp(rest, "renew") == 0) {
		token_renew(r, tok);
	} else if (strcmp(rest, "revoke-self") == 0 ||
	    strcmp(rest, "revoke") == 0) {
		char *id = xstrdup(vs_jstr(tok, "id"));

		vs_token_revoke(st, id);
		free(id);
		vs_reply_204(r);
	} else if (strcmp(rest, "create") == 0 || strcmp(rest, "create-orphan") == 0) {
		token_create(r);
	} else {
		vs_reply_errorf(r, 405, "unsupported operation");
	}
}

/* ---- response wrapping ---- */

json_t *
vs_wrap_response(struct vs_state *st, const char *id, json_t *response,
    long ttl, const char *creation_path)
{
	json_t *pol = json_pack("[s]", "response-wrapping"), *tok, *data;
	const char *wrapped_acc = "";
	char *ct;

	tok = vs_token_create(st, id, pol, NULL, "response-wrapping", "",
	    ttl, ttl, false, 1);
	json_decref(pol);
	json_object_set_new(tok, "_wrapping", json_true());
	json_object_set_new(tok, "_wrapped", json_deep_copy(response));
	json_object_set_new(tok, "_creation_path", json_string(creation_path));
	data = json_object_get(response, "data");
	if (vs_jstr(data, "secret_id_accessor") != NULL)
		wrapped_acc = vs_jstr(data, "secret_id_accessor");
	else if (vs_jstr(json_object_get(response, "auth"), "accessor") != NULL)
		wrapped_acc = vs_jstr(json_object_get(response, "auth"), "accessor");
	ct = vs_rfc3339((time_t)vs_jint(tok, "_issue", 0), 0);
	data = json_pack("{ss ss sI ss ss ss}",
	    "token", vs_jstr(tok, "id"),
	    "accessor", vs_jstr(tok, "accessor"),
	    "ttl", (json_int_t)ttl,
	    "creation_time", ct,
	    "creation_path", creation_path,
	    "wrapped_accessor", wrapped_acc);
	free(ct);
	return data;
}

/* The wrapping token of an unwrap/lookup request, or NULL after replying. */
static json_t *
wrapping_token(struct vs_req *r, const char **id)
{
	const char *body_tok = vs_jstr(r->json, "token");
	json_t *tok;

	*id = body_tok ? body_tok : r->token_id;
	if (*id == NULL) {
		vs_reply_error(r, 400, "missing client token");
		return NULL;
	}
	tok = vs_token_find(r->st, *id);
	if (tok == NULL || !vs_token_valid(tok) ||
	    !vs_jbool(tok, "_wrapping", false)) {
		vs_reply_error(r, 400, "wrapping token is not valid or does not "
		    "exist");
		return NULL;
	}
	return tok;
}

void
vs_unwrap(struct vs_req *r)
{
	const char *id;
	json_t *tok, *resp;
	char *rid, *tid;

	if (vs_jstr(r->json, "token") != NULL) {
		/* Unwrapping on someone's behalf needs a token of one's own. */
		json_t *own = r->token_id ? vs_token_find(r->st, r->token_id) : NULL;

		if (r->token_id == NULL) {
			vs_reply_error(r, 400, "missing client token");
			return;
		}
		if (own == NULL || !vs_token_valid(own) ||
		    !vs_acl_allows(r->st, own, "sys/wrapping/unwrap", "update")) {
			vs_reply_error(r, 403, "permission denied");
			return;
		}
	}
	if ((tok = wrapping_token(r, &id)) == NULL)
		return;
	resp = json_incref(json_object_get(tok, "_wrapped"));
	tid = xstrdup(id);
	vs_token_revoke(r->st, tid);	/* single use */
	free(tid);
	rid = vs_uuid();
	json_object_set_new(resp, "request_id", json_string(rid));
	free(rid);
	vs_reply_json(r, 200, resp);
}

void
vs_wrap_lookup(struct vs_req *r)
{
	const char *id;
	json_t *tok;
	char *ct;

	if ((tok = wrapping_token(r, &id)) == NULL)
		return;
	ct = vs_rfc3339((time_t)vs_jint(tok, "_issue", 0), 0);
	vs_reply_data(r, json_pack("{sssssI}",
	    "creation_path", vs_jstr(tok, "_creation_path"),
	    "creation_time", ct,
	    "creation_ttl", (json_int_t)vs_jint(tok, "creation_ttl", 0)));
	free(ct);
}
