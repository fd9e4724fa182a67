/*
 * vs_conf.c — vaultsrv's JSON config: loading, validation, and the small
 * JSON/duration helpers every module uses.
 *
 * The config is strict: an unknown key anywhere is an error naming its
 * place ("pki[1].roles.web: unknown key 'alow_any_name'"), so a typo in a
 * test's setup fails the test instead of silently changing what it tests.
 * Mount-specific sections are kept as JSON in mount->cfg and finished by
 * their module (vs_pki_setup, vs_auth_setup) once every mount exists,
 * because a cert auth entry may trust a PKI mount's CA and an intermediate
 * may be signed by another mount.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vs.h"
#include "xalloc.h"

const char *
vs_jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

long
vs_jint(json_t *o, const char *key, long def)
{
	json_t *v = json_object_get(o, key);
	long out;

	if (v == NULL || json_is_null(v))
		return def;
	if (json_is_integer(v))
		return (long)json_integer_value(v);
	if (vs_duration(v, &out) == 0)
		return out;
	return def;
}

bool
vs_jbool(json_t *o, const char *key, bool def)
{
	json_t *v = json_object_get(o, key);

	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
			return true;
		if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
			return false;
	}
	return def;
}

json_t *
vs_jlist(json_t *v)
{
	json_t *out = json_array();
	size_t i;
	json_t *x;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if (json_is_string(x) && json_string_length(x) > 0)
				json_array_append(out, x);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);

		while (*s != '\0') {
			const char *comma = strchr(s, ',');
			size_t n = comma ? (size_t)(comma - s) : strlen(s);

			while (n > 0 && isspace((unsigned char)*s)) {
				s++;
				n--;
			}
			while (n > 0 && isspace((unsigned char)s[n - 1]))
				n--;
			if (n > 0)
				json_array_append_new(out, json_stringn(s, n));
			s = comma ? comma + 1 : s + strlen(s);
		}
	}
	return out;
}

/* Go time.ParseDuration units plus Vault's "d". */
static double
unit_seconds(const char *u, size_t n)
{
	static const struct {
		const char *name;
		double sec;
	} units[] = {
		{"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1},
		{"m", 60}, {"h", 3600}, {"d", 86400},
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
			return units[i].sec;
	return -1;
}

int
vs_duration_str(const char *s, long *out)
{
	double total = 0;
	const char *p = s;
	char *end;

	if (*s == '\0')
		return -EINVAL;
	if (strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		total = (double)strtol(s, &end, 10);
		if (errno != 0)
			return -EINVAL;
		*out = (long)total;
		return 0;
	}
	while (*p != '\0') {
		double v, mult;
		const char *u;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return -EINVAL;
		v = strtod(p, &end);
		if (end == p)
			return -EINVAL;
		u = end;
		while (*end != '\0' && isalpha((unsigned char)*end))
			end++;
		if ((mult = unit_seconds(u, (size_t)(end - u))) < 0)
			return -EINVAL;
		total += v * mult;
		p = end;
	}
	if (total > 1e15)
		return -ERANGE;
	*out = (long)total;
	return 0;
}

int
vs_duration(json_t *v, long *out)
{
	if (json_is_integer(v)) {
		*out = (long)json_integer_value(v);
		return *out < 0 ? -EINVAL : 0;
	}
	if (json_is_real(v)) {
		*out = (long)json_real_value(v);
		return *out < 0 ? -EINVAL : 0;
	}
	if (json_is_string(v))
		return vs_duration_str(json_string_value(v), out);
	return -EINVAL;
}

char *
vs_read_file(const char *path, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *data = NULL;
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size > cap)
		goto fail;
	data = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		n = read(fd, data + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	data[got] = '\0';
	close(fd);
	if (len != NULL)
		*len = got;
	return data;
fail:
	close(fd);
	free(data);
	return NULL;
}

static int
check_keys(json_t *obj, const char *const *allowed, const char *where,
    struct err *e)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj))
		return err_set(e, EINVAL, "%s: expected an object", where);
	json_object_foreach(obj, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] == NULL)
			return err_set(e, EINVAL, "%s: unknown key '%s'", where, key);
	}
	return 0;
}

/* ---- PKI roles ---- */

enum field_type { F_BOOL, F_LIST, F_DUR, F_INT, F_STR };

static const struct role_field {
	const char *name;
	enum field_type type;
	const char *def;
} role_fields[] = {
	{"allow_any_name", F_BOOL, "false"},
	{"allow_bare_domains", F_BOOL, "false"},
	{"allow_glob_domains", F_BOOL, "false"},
	{"allow_ip_sans", F_BOOL, "true"},
	{"allow_localhost", F_BOOL, "true"},
	{"allow_subdomains", F_BOOL, "false"},
	{"allow_token_displayname", F_BOOL, "false"},
	{"allowed_domains", F_LIST, ""},
	{"allowed_domains_template", F_BOOL, "false"},
	{"allowed_other_sans", F_LIST, ""},
	{"allowed_serial_numbers", F_LIST, ""},
	{"allowed_uri_sans", F_LIST, ""},
	{"basic_constraints_valid_for_non_ca", F_BOOL, "false"},
	{"client_flag", F_BOOL, "true"},
	{"code_signing_flag", F_BOOL, "false"},
	{"country", F_LIST, ""},
	{"email_protection_flag", F_BOOL, "false"},
	{"enforce_hostnames", F_BOOL, "true"},
	{"ext_key_usage", F_LIST, ""},
	{"ext_key_usage_oids", F_LIST, ""},
	{"generate_lease", F_BOOL, "false"},
	{"key_bits", F_INT, "0"},
	{"key_type", F_STR, "rsa"},
	{"key_usage", F_LIST, "DigitalSignature,KeyAgreement,KeyEncipherment"},
	{"locality", F_LIST, ""},
	{"max_ttl", F_DUR, "0"},
	{"no_store", F_BOOL, "false"},
	{"not_before_duration", F_DUR, "30"},
	{"organization", F_LIST, ""},
	{"ou", F_LIST, ""},
	{"policy_identifiers", F_LIST, ""},
	{"postal_code", F_LIST, ""},
	{"province", F_LIST, ""},
	{"require_cn", F_BOOL, "true"},
	{"server_flag", F_BOOL, "true"},
	{"street_address", F_LIST, ""},
	{"ttl", F_DUR, "0"},
	{"use_csr_common_name", F_BOOL, "true"},
	{"use_csr_sans", F_BOOL, "true"},
};

static json_t *
field_value(const struct role_field *f, json_t *v, struct err *e)
{
	long n;
	json_t *def = NULL, *out;

	if (v == NULL || json_is_null(v)) {
		switch (f->type) {
		case F_BOOL: return json_boolean(strcmp(f->def, "true") == 0);
		case F_STR: return json_string(f->def);
		case F_LIST:
			def = json_string(f->def);
			out = vs_jlist(def);
			json_decref(def);
			return out;
		default:
			vs_duration_str(f->def, &n);
			return json_integer(n);
		}
	}
	switch (f->type) {
	case F_BOOL:
		if (json_is_boolean(v))
			return json_boolean(json_is_true(v));
		if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0)
			return json_true();
		if (json_is_string(v) && strcmp(json_string_value(v), "false") == 0)
			return json_false();
		break;
	case F_STR:
		if (json_is_string(v))
			return json_incref(v);
		break;
	case F_LIST:
		if (json_is_string(v) || json_is_array(v))
			return vs_jlist(v);
		break;
	case F_INT:
	case F_DUR:
		if (vs_duration(v, &n) == 0)
			return json_integer(n);
		break;
	}
	err_set(e, EINVAL, "field %s: invalid value", f->name);
	return NULL;
}

int
vs_role_normalize(json_t *in, json_t **out, struct err *e)
{
	json_t *r = json_object();
	const char *key, *kt;
	json_t *v;
	size_t i;
	long bits;

	json_object_foreach(in, key, v) {
		for (i = 0; i < sizeof(role_fields) / sizeof(role_fields[0]); i++)
			if (strcmp(role_fields[i].name, key) == 0)
				break;
		if (i == sizeof(role_fields) / sizeof(role_fields[0])) {
			json_decref(r);
			return err_set(e, EINVAL, "unknown role field '%s'", key);
		}
	}
	for (i = 0; i < sizeof(role_fields) / sizeof(role_fields[0]); i++) {
		json_t *fv = field_value(&role_fields[i],
		    json_object_get(in, role_fields[i].name), e);

		if (fv == NULL) {
			json_decref(r);
			return -EINVAL;
		}
		json_object_set_new(r, role_fields[i].name, fv);
	}
	kt = vs_jstr(r, "key_type");
	bits = vs_jint(r, "key_bits", 0);
	if (strcmp(kt, "rsa") != 0 && strcmp(kt, "ec") != 0 &&
	    strcmp(kt, "ed25519") != 0 && strcmp(kt, "any") != 0) {
		json_decref(r);
		return err_set(e, EINVAL, "unknown key type %s", kt);
	}
	if (bits == 0)
		bits = strcmp(kt, "ec") == 0 ? 256 :
		    strcmp(kt, "rsa") == 0 || strcmp(kt, "any") == 0 ? 2048 : 0;
	json_object_set_new(r, "key_bits", json_integer(bits));
	*out = r;
	return 0;
}

/* ---- mounts ---- */

struct vs_mount *
vs_mount_find(struct vs_state *st, const char *path, const char **rest)
{
	struct vs_mount *m, *best = NULL;
	size_t bestlen = 0;

	for (m = st->mounts; m != NULL; m = m->next) {
		size_t n = strlen(m->path);

		if (strncmp(path, m->path, n) != 0 ||
		    (path[n] != '\0' && path[n] != '/'))
			continue;
		if (n > bestlen) {
			best = m;
			bestlen = n;
		}
	}
	if (best != NULL && rest != NULL)
		*rest = path[bestlen] == '/' ? path + bestlen + 1 : path + bestlen;
	return best;
}

struct vs_mount *
vs_mount_by_name(struct vs_state *st, const char *name)
{
	struct vs_mount *m;

	for (m = st->mounts; m != NULL; m = m->next)
		if (strcmp(m->path, name) == 0)
			return m;
	return NULL;
}

static struct vs_mount *
mount_add(struct vs_state *st, const char *path, enum vs_mount_type type,
    json_t *cfg)
{
	struct vs_mount *m = xcalloc(1, sizeof(*m)), **tail;
	size_t n;

	m->path = xstrdup(path);
	n = strlen(m->path);
	while (n > 0 && m->path[n - 1] == '/')
		m->path[--n] = '\0';
	m->type = type;
	m->cfg = json_incref(cfg);
	for (tail = &st->mounts; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = m;
	return m;
}

static int
load_policies(struct vs_state *st, json_t *pol, struct err *e)
{
	static const char *const caps[] = {"create", "read", "update", "delete",
	    "list", "sudo", "deny", NULL};
	const char *name, *path;
	json_t *rules, *list, *c;
	size_t i, j;

	if (pol == NULL)
		return 0;
	if (!json_is_object(pol))
		return err_set(e, EINVAL, "policies: expected an object");
	json_object_foreach(pol, name, rules) {
		if (!json_is_object(rules))
			return err_set(e, EINVAL, "policies.%s: expected an object "
			    "of path -> capabilities", name);
		json_object_foreach(rules, path, list) {
			if (!json_is_array(list))
				return err_set(e, EINVAL, "policies.%s.%s: expected a "
				    "list of capabilities", name, path);
			json_array_foreach(list, i, c) {
				for (j = 0; caps[j] != NULL; j++)
					if (json_is_string(c) &&
					    strcmp(json_string_value(c), caps[j]) == 0)
						break;
				if (caps[j] == NULL)
					return err_set(e, EINVAL, "policies.%s.%s: unknown "
					    "capability", name, path);
			}
		}
	}
	json_object_update(st->policies, pol);
	return 0;
}

static int
load_tokens(struct vs_state *st, json_t *toks, struct err *e)
{
	static const char *const keys[] = {"id", "policies", "ttl", "renewable",
	    "explicit_max_ttl", "num_uses", "display_name", "meta", "orphan",
	    NULL};
	json_t *t, *pol;
	size_t i;
	char where[64];

	if (toks == NULL)
		return 0;
	if (!json_is_array(toks))
		return err_set(e, EINVAL, "tokens: expected a list");
	json_array_foreach(toks, i, t) {
		const char *id = vs_jstr(t, "id");
		long ttl = vs_jint(t, "ttl", 0), max = vs_jint(t, "explicit_max_ttl", 0);
		json_t *tok;
		bool root;

		snprintf(where, sizeof(where), "tokens[%zu]", i);
		if (check_keys(t, keys, where, e) < 0)
			return -EINVAL;
		if (id == NULL || *id == '\0')
			return err_set(e, EINVAL, "%s: id is required", where);
		pol = vs_jlist(json_object_get(t, "policies"));
		root = json_array_size(pol) == 1 &&
		    strcmp(json_string_value(json_array_get(pol, 0)), "root") == 0;
		tok = vs_token_create(st, id, pol, json_object_get(t, "meta"),
		    vs_jstr(t, "display_name") ? vs_jstr(t, "display_name") :
		    root ? "root" : "token",
		    root ? "auth/token/root" : "auth/token/create", ttl, max,
		    vs_jbool(t, "renewable", ttl > 0), vs_jint(t, "num_uses", 0));
		json_decref(pol);
		if (json_object_get(t, "orphan") != NULL)
			json_object_set_new(tok, "orphan",
			    json_boolean(vs_jbool(t, "orphan", false)));
	}
	return 0;
}

static int
load_pki(struct vs_state *st, json_t *list, struct err *e)
{
	static const char *const keys[] = {"path", "ca", "roles",
	    "ca_chain_include_root", "default_ttl", "max_ttl",
	    "issuing_certificates", "crl_distribution_points", NULL};
	json_t *m;
	size_t i;
	char where[64];

	if (list == NULL)
		return 0;
	if (!json_is_array(list))
		return err_set(e, EINVAL, "pki: expected a list of mounts");
	json_array_foreach(list, i, m) {
		snprintf(where, sizeof(where), "pki[%zu]", i);
		if (check_keys(m, keys, where, e) < 0)
			return -EINVAL;
		if (vs_jstr(m, "path") == NULL)
			return err_set(e, EINVAL, "%s: path is required", where);
		mount_add(st, vs_jstr(m, "path"), VS_MOUNT_PKI, m);
	}
	return 0;
}

static int
load_kv(struct vs_state *st, json_t *list, struct err *e)
{
	static const char *const keys[] = {"path", "version", "data",
	    "cas_required", "ttl", NULL};
	json_t *c, *val;
	const char *key;
	size_t i;
	char where[64];

	if (list == NULL)
		return 0;
	if (!json_is_array(list))
		return err_set(e, EINVAL, "kv: expected a list of mounts");
	json_array_foreach(list, i, c) {
		long version = vs_jint(c, "version", 1);
		struct vs_mount *m;

		snprintf(where, sizeof(where), "kv[%zu]", i);
		if (check_keys(c, keys, where, e) < 0)
			return -EINVAL;
		if (vs_jstr(c, "path") == NULL || (version != 1 && version != 2))
			return err_set(e, EINVAL, "%s: path and version 1 or 2 are "
			    "required", where);
		m = mount_add(st, vs_jstr(c, "path"),
		    version == 2 ? VS_MOUNT_KV2 : VS_MOUNT_KV1, c);
		m->kv = json_object();
		m->cas_required = vs_jbool(c, "cas_required", false);
		m->kv_ttl = vs_jint(c, "ttl", VS_SYSTEM_TTL);
		json_object_foreach(json_object_get(c, "data"), key, val) {
			if (vs_kv_put(m, key, val, e) < 0)
				return err_prefix(e, EINVAL, "%s.data.%s", where, key);
		}
	}
	return 0;
}

static int
load_sectigo(struct vs_state *st, json_t *list, struct err *e)
{
	static const char *const keys[] = {"path", "customer_uri", "ca",
	    "configs", "script", "scripts", "scm_profiles", "statuses", NULL};
	json_t *c;
	size_t i;
	char where[64];

	if (list == NULL)
		return 0;
	if (!json_is_array(list))
		return err_set(e, EINVAL, "sectigo: expected a list of mounts");
	json_array_foreach(list, i, c) {
		snprintf(where, sizeof(where), "sectigo[%zu]", i);
		if (check_keys(c, keys, where, e) < 0)
			return -EINVAL;
		mount_add(st, vs_jstr(c, "path") ? vs_jstr(c, "path") :
		    "sectigo-vault-pki", VS_MOUNT_SECTIGO, c);
	}
	return 0;
}

static const struct {
	const char *section;
	enum vs_mount_type type;
	const char *roles_key;
} auth_sections[] = {
	{"approle", VS_MOUNT_APPROLE, "roles"},
	{"cert", VS_MOUNT_CERT, "certs"},
	{"kubernetes", VS_MOUNT_K8S, "roles"},
	{"jwt", VS_MOUNT_JWT, "roles"},
};

static int
load_auth_one(struct vs_state *st, size_t s, json_t *c, const char *where,
    struct err *e)
{
	const char *const keys[] = {"path", auth_sections[s].roles_key, NULL};
	const char *path = vs_jstr(c, "path");
	char *full;
	struct vs_mount *m;

	if (check_keys(c, keys, where, e) < 0)
		return -EINVAL;
	full = xasprintf("auth/%s", path ? path : auth_sections[s].section);
	m = mount_add(st, full, auth_sections[s].type, c);
	free(full);
	m->roles = json_object();
	return 0;
}

static int
load_auth(struct vs_state *st, json_t *root, struct err *e)
{
	size_t s, i;
	json_t *sec, *c;
	char where[64];

	for (s = 0; s < sizeof(auth_sections) / sizeof(auth_sections[0]); s++) {
		sec = json_object_get(root, auth_sections[s].section);
		if (sec == NULL)
			continue;
		if (json_is_object(sec)) {
			if (load_auth_one(st, s, sec, auth_sections[s].section, e) < 0)
				return -EINVAL;
			continue;
		}
		json_array_foreach(sec, i, c) {
			snprintf(where, sizeof(where), "%s[%zu]",
			    auth_sections[s].section, i);
			if (load_auth_one(st, s, c, where, e) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

int
vs_conf_load(struct vs_state *st, const char *path, struct err *e)
{
	static const char *const keys[] = {"cluster_name", "sealed", "policies",
	    "tokens", "pki", "kv", "approle", "cert", "kubernetes", "jwt",
	    "sectigo", NULL};
	json_t *root = NULL;
	json_error_t jerr;
	int rc;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return err_set(e, EINVAL, "%s:%d: %s", path, jerr.line, jerr.text);
	if ((rc = check_keys(root, keys, path, e)) < 0)
		goto out;
	if (vs_jstr(root, "cluster_name") != NULL) {
		free(st->cluster_name);
		st->cluster_name = xstrdup(vs_jstr(root, "cluster_name"));
	}
	st->sealed = vs_jbool(root, "sealed", false);
	if ((rc = load_policies(st, json_object_get(root, "policies"), e)) < 0 ||
	    (rc = load_tokens(st, json_object_get(root, "tokens"), e)) < 0 ||
	    (rc = load_pki(st, json_object_get(root, "pki"), e)) < 0 ||
	    (rc = load_kv(st, json_object_get(root, "kv"), e)) < 0 ||
	    (rc = load_auth(st, root, e)) < 0 ||
	    (rc = load_sectigo(st, json_object_get(root, "sectigo"), e)) < 0 ||
	    (rc = vs_pki_setup(st, e)) < 0 ||
	    (rc = vs_auth_setup(st, e)) < 0 ||
	    (rc = vs_sectigo_setup(st, e)) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		err_prefix(e, EINVAL, "%s", path);
	json_decref(root);
	return rc;
}

void
vs_state_free(struct vs_state *st)
{
	struct vs_mount *m, *mn;
	struct vs_fault *f, *fn;

	for (m = st->mounts; m != NULL; m = mn) {
		mn = m->next;
		if (m->pki != NULL)
			vs_pki_free(m->pki);
		vs_cert_role_free(m->cert_roles);
		if (m->sectigo != NULL)
			vs_sectigo_free(m->sectigo);
		json_decref(m->kv);
		json_decref(m->roles);
		json_decref(m->cfg);
		free(m->path);
		free(m);
	}
	for (f = st->faults; f != NULL; f = fn) {
		fn = f->next;
		vs_fault_free(f);
	}
	json_decref(st->policies);
	json_decref(st->tokens);
	json_decref(st->secret_ids);
	json_decref(st->log);
	json_decref(st->counters);
	json_decref(st->issued);
	free(st->cluster_name);
	free(st->cluster_id);
	free(st->standby_redirect);
	free(st->config_path);
}
