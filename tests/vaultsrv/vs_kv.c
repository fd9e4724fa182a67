/*
 * vs_kv.c — the KV secrets engine, versions 1 and 2.
 *
 * KV v1 keeps path -> data.  KV v2 keeps path -> {versions, current,
 * created, updated} and serves data/, metadata/ and delete/ the way Vault
 * does, including check-and-set: options.cas must equal the current version
 * (0 = "must not exist yet"), a mismatch is 400, and a mount with
 * cas_required refuses writes without it.  A missing key is 404 with an
 * empty errors list, as Vault answers a nil response.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vs.h"
#include "xalloc.h"

static json_t *
version_entry(json_t *e, long v)
{
	char key[32];

	snprintf(key, sizeof(key), "%ld", v);
	return json_object_get(json_object_get(e, "versions"), key);
}

static json_t *
version_meta(json_t *ver, long v)
{
	return json_pack("{sO sO sO sI}",
	    "created_time", json_object_get(ver, "created_time"),
	    "deletion_time", json_object_get(ver, "deletion_time"),
	    "destroyed", json_object_get(ver, "destroyed"),
	    "version", (json_int_t)v);
}

static json_t *
kv2_write(struct vs_mount *m, const char *path, json_t *data)
{
	json_t *e = json_object_get(m->kv, path), *ver;
	long v;
	time_t now;
	long nsec;
	char *t, key[32];

	vs_now(&now, &nsec);
	t = vs_rfc3339(now, nsec);
	if (e == NULL) {
		e = json_pack("{so sI ss}", "versions", json_object(), "current",
		    (json_int_t)0, "created_time", t);
		json_object_set_new(m->kv, path, e);
	}
	v = vs_jint(e, "current", 0) + 1;
	ver = json_pack("{sO ss ss sb}", "data", data, "created_time", t,
	    "deletion_time", "", "destroyed", 0);
	snprintf(key, sizeof(key), "%ld", v);
	json_object_set_new(json_object_get(e, "versions"), key, ver);
	json_object_set_new(e, "current", json_integer(v));
	json_object_set_new(e, "updated_time", json_string(t));
	free(t);
	return version_meta(ver, v);
}

int
vs_kv_put(struct vs_mount *m, const char *path, json_t *data, struct err *e)
{
	if (!json_is_object(data))
		return err_set(e, EINVAL, "expected an object");
	if (m->type == VS_MOUNT_KV1)
		json_object_set_new(m->kv, path, json_deep_copy(data));
	else
		json_decref(kv2_write(m, path, data));
	return 0;
}

bool
vs_kv_exists(struct vs_mount *m, const char *rest)
{
	json_t *e;

	if (m->type == VS_MOUNT_KV1)
		return json_object_get(m->kv, rest) != NULL;
	if (strncmp(rest, "data/", 5) != 0)
		return true;
	e = json_object_get(m->kv, rest + 5);
	return e != NULL && vs_jint(e, "current", 0) > 0;
}

/* LIST: immediate children of dir, sub-directories with a trailing '/'. */
static void
kv_list(struct vs_req *r, json_t *store, const char *dir)
{
	json_t *keys = json_array(), *v, *k;
	const char *path;
	size_t n = strlen(dir), i;
	char *child;
	bool dup;

	json_object_foreach(store, path, v) {
		const char *rest, *slash;

		if (n > 0 && (strncmp(path, dir, n) != 0 || path[n] != '/'))
			continue;
		rest = n > 0 ? path + n + 1 : path;
		slash = strchr(rest, '/');
		child = slash ? xstrndup(rest, (size_t)(slash - rest + 1)) :
		    xstrdup(rest);
		dup = false;
		json_array_foreach(keys, i, k)
			if (strcmp(json_string_value(k), child) == 0)
				dup = true;
		if (!dup)
			json_array_append_new(keys, json_string(child));
		free(child);
	}
	if (json_array_size(keys) == 0) {
		json_decref(keys);
		vs_reply_error(r, 404, NULL);
		return;
	}
	vs_reply_data(r, json_pack("{so}", "keys", keys));
}

static void
kv1(struct vs_req *r, struct vs_mount *m, const char *path)
{
	json_t *d;
	struct vs_resp resp = {0};

	switch (r->method) {
	case VS_GET:
	case VS_HEAD:
		if ((d = json_object_get(m->kv, path)) == NULL) {
			vs_reply_error(r, 404, NULL);
			return;
		}
		resp.data = json_deep_copy(d);
		resp.lease_duration = m->kv_ttl;
		vs_reply_resp(r, &resp);
		return;
	case VS_POST:
	case VS_PUT:
		json_object_set_new(m->kv, path, json_deep_copy(r->json));
		vs_reply_204(r);
		return;
	case VS_DELETE:
		json_object_del(m->kv, path);
		vs_reply_204(r);
		return;
	case VS_LIST:
		kv_list(r, m->kv, path);
		return;
	default:
		vs_reply_errorf(r, 405, "unsupported operation");
	}
}

static void
kv2_read(struct vs_req *r, json_t *e)
{
	char buf[32];
	long v = vs_jint(e, "current", 0), want;
	json_t *ver, *data;

	if (vs_query(r, "version", buf, sizeof(buf)) != NULL &&
	    vs_duration_str(buf, &want) == 0 && want > 0)
		v = want;
	ver = version_entry(e, v);
	if (ver == NULL) {
		vs_reply_error(r, 404, NULL);
		return;
	}
	data = json_pack("{sO so}", "data", json_object_get(ver, "data"),
	    "metadata", version_meta(ver, v));
	if (*vs_jstr(ver, "deletion_time") != '\0' ||
	    vs_jbool(ver, "destroyed", false)) {
		/* Vault answers a deleted version with 404 and its metadata. */
		char *id = vs_uuid();
		json_t *body;

		json_object_set_new(data, "data", json_null());
		body = json_pack("{ss ss sb si so sn sn sn}", "request_id", id,
		    "lease_id", "", "renewable", 0, "lease_duration", 0,
		    "data", data, "wrap_info", "warnings", "auth");
		free(id);
		vs_reply_json(r, 404, body);
		return;
	}
	vs_reply_data(r, data);
}

static void
kv2_data(struct vs_req *r, struct vs_mount *m, const char *path)
{
	json_t *e = json_object_get(m->kv, path), *cas, *data, *ver;
	long cur = e ? vs_jint(e, "current", 0) : 0;
	time_t now;
	char *t;

	switch (r->method) {
	case VS_GET:
	case VS_HEAD:
		if (e == NULL || cur == 0)
			vs_reply_error(r, 404, NULL);
		else
			kv2_read(r, e);
		return;
	case VS_POST:
	case VS_PUT:
		data = json_object_get(r->json, "data");
		cas = json_object_get(json_object_get(r->json, "options"), "cas");
		if (!json_is_object(data)) {
			vs_reply_error(r, 400, "no data provided");
			return;
		}
		if (cas == NULL && m->cas_required) {
			vs_reply_error(r, 400, "check-and-set parameter required for "
			    "this call");
			return;
		}
		if (cas != NULL && vs_jint(json_object_get(r->json, "options"),
		    "cas", -1) != cur) {
			vs_reply_error(r, 400, "check-and-set parameter did not match "
			    "the current version");
			return;
		}
		vs_reply_data(r, kv2_write(m, path, data));
		return;
	case VS_DELETE:
		if (e != NULL && (ver = version_entry(e, cur)) != NULL) {
			vs_now(&now, NULL);
			t = vs_rfc3339(now, 0);
			json_object_set_new(ver, "deletion_time", json_string(t));
			free(t);
		}
		vs_reply_204(r);
		return;
	default:
		vs_reply_errorf(r, 405, "unsupported operation");
	}
}

static void
kv2_metadata(struct vs_req *r, struct vs_mount *m, const char *path)
{
	json_t *e = json_object_get(m->kv, path), *vers, *v;
	const char *k;

	switch (r->method) {
	case VS_GET:
		if (e == NULL) {
			vs_reply_error(r, 404, NULL);
			return;
		}
		vers = json_object();
		json_object_foreach(json_object_get(e, "versions"), k, v)
			json_object_set_new(vers, k, json_pack("{sO sO sO}",
			    "created_time", json_object_get(v, "created_time"),
			    "deletion_time", json_object_get(v, "deletion_time"),
			    "destroyed", json_object_get(v, "destroyed")));
		vs_reply_data(r, json_pack("{sb sO sI ss si sI sO so}",
		    "cas_required", m->cas_required,
		    "created_time", json_object_get(e, "created_time"),
		    "current_version", (json_int_t)vs_jint(e, "current", 0),
		    "delete_version_after", "0s", "max_versions", 0,
		    "oldest_version", (json_int_t)1,
		    "updated_time", json_object_get(e, "updated_time"),
		    "versions", vers));
		return;
	case VS_DELETE:
		json_object_del(m->kv, path);
		vs_reply_204(r);
		return;
	case VS_LIST:
		kv_list(r, m->kv, path);
		return;
	default:
		vs_reply_errorf(r, 405, "unsupported operation");
	}
}

void
vs_kv_handle(struct vs_req *r, struct vs_mount *m, const char *rest)
{
	if (m->type == VS_MOUNT_KV1) {
		kv1(r, m, rest);
		return;
	}
	if (strncmp(rest, "data/", 5) == 0)
		kv2_data(r, m, rest + 5);
	else if (strncmp(rest, "metadata/", 9) == 0)
		kv2_metadata(r, m, rest + 9);
	else if (strcmp(rest, "metadata") == 0 && r->method == VS_LIST)
		kv_list(r, m->kv, "");
	else
		vs_reply_errorf(r, 404, "no handler for route '%s'", r->path);
}
