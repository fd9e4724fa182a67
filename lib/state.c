/*
 * state.c — per-certificate state records and the request fingerprint.
 *
 * Owns: <state_dir>/certs/ (created 0700) and the <name>.json files in it.
 *
 * Invariants:
 *  - A record file only changes through publish_set(): a temporary in the
 *    same directory, mode 0600 before the first byte, fsync, rename,
 *    directory fsync.  A reader (or a crash) sees the old record or the new
 *    one, never a mixture.  This module has no second copy of that code.
 *  - Names are [A-Za-z0-9_-]+ and nothing else reaches a path: the config
 *    validates them too, but a name with '/' or ".." must never make this
 *    module read, write or remove a file outside certs/.
 *  - Loading is strict about types and lenient about presence: a field
 *    that is missing reads as zero / empty (so new fields can be added
 *    without a version bump), an unknown field is ignored, and a field of
 *    the wrong type makes the whole record unusable (-EBADMSG naming the
 *    file and the field), because half a record could make the job skip a
 *    needed re-issue.
 *  - Strings written are valid UTF-8 (jansson refuses anything else): an
 *    error message cut at 511 bytes can end in half a character, and CA
 *    reasons are untrusted bytes, so invalid sequences become '?'.
 *  - The fingerprint is over a length-prefixed text, not JSON, so that no
 *    value (whatever its bytes) can be confused with a neighbouring field,
 *    and sorted lists make the order in the config irrelevant.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "fsutil.h"
#include "publish.h"
#include "state.h"
#include "xalloc.h"

#define STATE_VERSION 1

/* A record is a few hundred bytes; issuer_state holds a handful of ids.
 * Anything near this is not ours. */
#define STATE_MAX_FILE (1024 * 1024)

static const char *const issuer_names[] = {
	[CONF_ISSUER_LOCAL] = "local",
	[CONF_ISSUER_VAULT_PKI] = "vault-pki",
	[CONF_ISSUER_SECTIGO] = "sectigo",
};

static const char *const pki_mode_names[] = {
	[CONF_PKI_SIGN] = "sign",
	[CONF_PKI_ISSUE] = "issue",
};

static int
check_name(const char *name, struct err *e)
{
	const char *p;

	if (name == NULL || *name == '\0')
		return err_set(e, EINVAL, "empty certificate name");
	for (p = name; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
			continue;
		return err_set(e, EINVAL, "certificate name \"%.64s\": only letters, "
			       "digits, '_' and '-' are allowed", name);
	}
	return 0;
}

static int
check_dir(const char *state_dir, struct err *e)
{
	if (state_dir == NULL || *state_dir == '\0')
		return err_set(e, EINVAL, "empty state directory");
	/* publish_set only takes absolute paths; say so here, by name. */
	if (state_dir[0] != '/')
		return err_set(e, EINVAL, "state directory %s: not an absolute path",
			       state_dir);
	return 0;
}

static char *
certs_dir(const char *state_dir)
{
	size_t n = strlen(state_dir);

	while (n > 1 && state_dir[n - 1] == '/')
		n--;
	return xasprintf("%.*s/certs", (int)n, state_dir);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when p does not
 * start one.  RFC 3629: no overlongs, no surrogates, nothing above
 * U+10FFFF.  p is NUL-terminated, and NUL is never a continuation byte, so
 * the look-ahead stops at the end. */
static size_t
utf8_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* A JSON string of the first max bytes of s, invalid UTF-8 replaced. */
static json_t *
json_text(const char *s, size_t max)
{
	size_t len = strnlen(s, max), i, n;
	json_t *j;
	char *copy;

	if ((j = json_stringn(s, len)) != NULL)
		return j;
	copy = xstrndup(s, len);
	for (i = 0; i < len; i += n) {
		if ((n = utf8_len((const unsigned char *)copy + i)) == 0) {
			copy[i] = '?';
			n = 1;
		}
	}
	j = json_stringn(copy, len);
	free(copy);
	if (j == NULL)
		abort();	/* only allocation failure is left */
	return j;
}

static void
set_new(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, key, v) != 0)
		abort();	/* allocation failure: as xalloc does */
}

static json_t *
record_to_json(const struct state_record *r)
{
	json_t *o = json_object();
	uint64_t total = r->issued_total;

	if (o == NULL)
		abort();
	set_new(o, "version", json_integer(STATE_VERSION));
	set_new(o, "serial", json_text(r->serial, sizeof(r->serial)));
	set_new(o, "not_before", json_integer(r->not_before));
	set_new(o, "not_after", json_integer(r->not_after));
	set_new(o, "request_fp", json_text(r->request_fp, sizeof(r->request_fp)));
	set_new(o, "pair_sha256", json_text(r->pair_sha256, sizeof(r->pair_sha256)));
	set_new(o, "delivered_sha256", json_text(r->delivered_sha256, sizeof(r->delivered_sha256)));
	set_new(o, "last_success", json_integer(r->last_success));
	set_new(o, "last_attempt", json_integer(r->last_attempt));
	set_new(o, "last_issued", json_integer(r->last_issued));
	/* json_int_t is signed; a count beyond it is not reachable anyway. */
	set_new(o, "issued_total", json_integer(total > INT64_MAX ? INT64_MAX : (json_int_t)total));
	set_new(o, "failures", json_integer(r->failures));
	set_new(o, "last_error", json_text(r->last_error, sizeof(r->last_error)));
	if (r->held[0] != '\0')
		set_new(o, "held", json_text(r->held, sizeof(r->held)));
	if (r->issuer_state != NULL)
		set_new(o, "issuer_state", json_incref(r->issuer_state));
	return o;
}

int
state_save(const char *state_dir, const char *name, const struct state_record *r,
	   struct err *e)
{
	struct publish_file f;
	char *dir = NULL, *path = NULL, *text = NULL;
	json_t *o = NULL;
	struct buf b = BUF_INIT;
	int rc;

	if ((rc = check_dir(state_dir, e)) != 0 || (rc = check_name(name, e)) != 0)
		return rc;
	if (r->issuer_state != NULL && !json_is_object(r->issuer_state))
		return err_set(e, EINVAL, "%s: issuer_state is not a JSON object", name);

	dir = certs_dir(state_dir);
	path = xasprintf("%s/%s.json", dir, name);
	if ((rc = fsutil_mkdir_p(dir, 0700, e)) != 0)
		goto out;

	o = record_to_json(r);
	/* Indented: an operator reads this file when a certificate is stuck. */
	text = json_dumps(o, JSON_INDENT(2));
	if (text == NULL) {
		rc = err_set(e, ENOMEM, "%s: cannot format the record", path);
		goto out;
	}
	buf_puts(&b, text);
	buf_putc(&b, '\n');

	f.path = path;
	f.data = b.data;
	f.len = b.len;
	f.uid = (uid_t)-1;
	f.gid = (gid_t)-1;
	f.mode = 0600;
	rc = publish_set(&f, 1, NULL, e);

out:
	buf_free(&b);
	free(text);
	json_decref(o);
	free(path);
	free(dir);
	return rc;
}

/* Field readers: absent or null leaves the zero value; a wrong type or an
 * out-of-range value is -EBADMSG naming path and field. */
static int
bad_field(struct err *e, const char *path, const char *field, const char *what)
{
	return err_set(e, EBADMSG, "%s: field \"%s\": %s", path, field, what);
}

static int
get_int(const json_t *o, const char *path, const char *field, int64_t min, int64_t max,
	int64_t *out, struct err *e)
{
	const json_t *v = json_object_get(o, field);
	json_int_t i;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return bad_field(e, path, field, "expected an integer");
	i = json_integer_value(v);
	if (i < min || i > max)
		return bad_field(e, path, field, "out of range");
	*out = i;
	return 0;
}

static int
get_str(const json_t *o, const char *path, const char *field, char *out, size_t size,
	bool truncate, struct err *e)
{
	const json_t *v = json_object_get(o, field);
	size_t len;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad_field(e, path, field, "expected a string");
	len = json_string_length(v);
	if (memchr(json_string_value(v), '\0', len) != NULL)
		return bad_field(e, path, field, "contains a NUL character");
	if (len >= size) {
		if (!truncate)
			return bad_field(e, path, field, "too long");
		len = size - 1;
	}
	memcpy(out, json_string_value(v), len);
	out[len] = '\0';
	return 0;
}

static int
record_from_json(const json_t *o, const char *path, struct state_record *r, struct err *e)
{
	const json_t *v;
	int64_t i;
	size_t k;
	int rc;

	if (!json_is_object(o))
		return err_set(e, EBADMSG, "%s: not a JSON object", path);
	v = json_object_get(o, "version");
	if (v == NULL)
		return bad_field(e, path, "version", "missing");
	if (!json_is_integer(v))
		return bad_field(e, path, "version", "expected an integer");
	if (json_integer_value(v) != STATE_VERSION)
		return err_set(e, EBADMSG, "%s: field \"version\": %" JSON_INTEGER_FORMAT
			       " is not supported (expected %d)", path,
			       json_integer_value(v), STATE_VERSION);

	if ((rc = get_str(o, path, "serial", r->serial, sizeof(r->serial), false, e)) != 0 ||
	    (rc = get_int(o, path, "not_before", INT64_MIN, INT64_MAX, &r->not_before, e)) != 0 ||
	    (rc = get_int(o, path, "not_after", INT64_MIN, INT64_MAX, &r->not_after, e)) != 0 ||
	    (rc = get_str(o, path, "request_fp", r->request_fp, sizeof(r->request_fp),
			  false, e)) != 0 ||
	    (rc = get_str(o, path, "pair_sha256", r->pair_sha256, sizeof(r->pair_sha256),
			  false, e)) != 0 ||
	    (rc = get_str(o, path, "delivered_sha256", r->delivered_sha256,
			  sizeof(r->delivered_sha256), false, e)) != 0 ||
	    (rc = get_int(o, path, "last_success", INT64_MIN, INT64_MAX, &r->last_success, e)) != 0 ||
	    (rc = get_int(o, path, "last_attempt", INT64_MIN, INT64_MAX, &r->last_attempt, e)) != 0 ||
	    (rc = get_int(o, path, "last_issued", INT64_MIN, INT64_MAX, &r->last_issued, e)) != 0 ||
	    (rc = get_str(o, path, "last_error", r->last_error, sizeof(r->last_error),
			  true, e)) != 0 ||
	    (rc = get_str(o, path, "held", r->held, sizeof(r->held), true, e)) != 0)
		return rc;

	/* A fingerprint that is not one would never match: say so now. */
	for (k = 0; r->request_fp[k] != '\0'; k++)
		if (!((r->request_fp[k] >= '0' && r->request_fp[k] <= '9') ||
		      (r->request_fp[k] >= 'a' && r->request_fp[k] <= 'f')))
			break;
	if (r->request_fp[k] != '\0' || (k != 0 && k != 64))
		return bad_field(e, path, "request_fp", "not a SHA-256 in hex");

	i = 0;
	if ((rc = get_int(o, path, "issued_total", 0, INT64_MAX, &i, e)) != 0)
		return rc;
	r->issued_total = (uint64_t)i;
	i = 0;
	if ((rc = get_int(o, path, "failures", 0, UINT_MAX, &i, e)) != 0)
		return rc;
	r->failures = (unsigned)i;

	v = json_object_get(o, "issuer_state");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_object(v))
			return bad_field(e, path, "issuer_state", "expected an object");
		r->issuer_state = json_incref((json_t *)v);
	}
	return 0;
}

int
state_load(const char *state_dir, const char *name, struct state_record *out,
	   struct err *e)
{
	struct state_record r;
	struct buf b = BUF_INIT;
	char *dir = NULL, *path = NULL;
	json_error_t jerr;
	json_t *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if ((rc = check_dir(state_dir, e)) != 0 || (rc = check_name(name, e)) != 0)
		return rc;

	dir = certs_dir(state_dir);
	path = xasprintf("%s/%s.json", dir, name);
	if ((rc = fsutil_read_file(path, STATE_MAX_FILE, &b, e)) != 0)
		goto out;
	o = json_loadb(b.data != NULL ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		rc = err_set(e, EBADMSG, "%s: line %d column %d: %s", path, jerr.line,
			     jerr.column, jerr.text);
		goto out;
	}
	if ((rc = record_from_json(o, path, &r, e)) != 0) {
		state_record_clear(&r);
		goto out;
	}
	*out = r;

out:
	json_decref(o);
	buf_free(&b);
	free(path);
	free(dir);
	return rc;
}

int
state_remove(const char *state_dir, const char *name, struct err *e)
{
	char *dir = NULL, *path = NULL;
	int rc = 0, fd = -1;

	if ((rc = check_dir(state_dir, e)) != 0 || (rc = check_name(name, e)) != 0)
		return rc;
	dir = certs_dir(state_dir);
	path = xasprintf("%s/%s.json", dir, name);
	if (unlink(path) == -1) {
		if (errno != ENOENT)
			rc = err_set(e, errno, "%s: remove: %s", path, strerror(errno));
		goto out;
	}
	/* Make the removal durable, or a crash brings the record back (and
	 * with it, issuer progress for a certificate no longer managed). */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		rc = err_set(e, errno, "%s: open to fsync it: %s", dir, strerror(errno));
		goto out;
	}
	if (fsync(fd) == -1 && errno != EINVAL)
		rc = err_set(e, errno, "%s: fsync: %s", dir, strerror(errno));

out:
	if (fd != -1)
		close(fd);
	free(path);
	free(dir);
	return rc;
}

void
state_record_clear(struct state_record *r)
{
	json_decref(r->issuer_state);
	memset(r, 0, sizeof(*r));
}

/* Fingerprint text: one field per line, every value length-prefixed. */
static void
fp_value(struct buf *b, const char *key, const char *v)
{
	if (v == NULL)
		buf_printf(b, "%s -\n", key);
	else
		buf_printf(b, "%s %zu:%s\n", key, strlen(v), v);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, exact duplicates once: the CSR and Vault drop them too. */
static void
fp_list(struct buf *b, const char *key, const struct conf_list *l)
{
	char **v = NULL;
	size_t i, n = 0;

	if (l->n > 0) {
		v = xcalloc(l->n, sizeof(*v));
		for (i = 0; i < l->n; i++)
			if (l->v[i] != NULL)
				v[n++] = l->v[i];
		qsort(v, n, sizeof(*v), cmp_str);
	}
	buf_printf(b, "%s\n", key);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
			continue;
		fp_value(b, " -", v[i]);
	}
	buf_puts(b, " .\n");
	free(v);
}

static const char *
name_of(const char *const *names, size_t n, int i, char *tmp, size_t tmplen)
{
	if (i >= 0 && (size_t)i < n && names[i] != NULL)
		return names[i];
	snprintf(tmp, tmplen, "#%d", i);
	return tmp;
}

void
state_request_fingerprint(const struct conf_cert *cc, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	struct buf b = BUF_INIT;
	char tmp[32];
	bool vault = cc->issuer_kind == CONF_ISSUER_VAULT_PKI;
	/* The key type is part of the request only where the key is made
	 * here: the local CA and Vault's sign mode.  In issue mode the role
	 * decides it, and the key_type setting is not sent. */
	bool sectigo = cc->issuer_kind == CONF_ISSUER_SECTIGO;
	bool own_key = sectigo ? cc->sectigo_key == CONF_SECTIGO_KEY_LOCAL
			       : !vault || cc->pki_mode == CONF_PKI_SIGN;

	buf_puts(&b, "certd-request 1\n");
	fp_value(&b, "issuer", name_of(issuer_names, sizeof(issuer_names) / sizeof(issuer_names[0]),
				       cc->issuer_kind, tmp, sizeof(tmp)));
	fp_value(&b, "common_name", cc->common_name);
	fp_list(&b, "alt_names", &cc->alt_names);
	fp_list(&b, "ip_sans", &cc->ip_sans);
	fp_list(&b, "uri_sans", &cc->uri_sans);
	buf_printf(&b, "exclude_cn_from_sans %d\n", cc->exclude_cn_from_sans ? 1 : 0);
	if (own_key)
		fp_value(&b, "key_type", x509_key_type_name(cc->key_type));
	buf_printf(&b, "ttl %" PRId64 "\n", cc->ttl);
	/* Vault's settings mean nothing to the local CA: a default mount or
	 * role inherited from [certd] must not re-issue a local certificate. */
	if (vault) {
		fp_value(&b, "mount", cc->mount);
		fp_value(&b, "role", cc->role);
		fp_value(&b, "pki_mode",
			 name_of(pki_mode_names, sizeof(pki_mode_names) / sizeof(pki_mode_names[0]),
				 cc->pki_mode, tmp, sizeof(tmp)));
	}
	if (sectigo) {
		fp_value(&b, "mount", cc->mount);
		fp_value(&b, "sectigo_config", cc->sectigo_config);
		buf_printf(&b, "sectigo_cert_type %d\nsectigo_profile %u\nsectigo_key %d\n",
			   cc->sectigo_cert_type, cc->sectigo_profile, cc->sectigo_key);
		fp_value(&b, "sectigo_params", cc->sectigo_params);
	}

	if (EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		abort();	/* SHA-256 is always there; only memory can fail */
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[64] = '\0';
	buf_free(&b);
}
