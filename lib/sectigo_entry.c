/*
 * sectigo_entry.c — parsing of the Sectigo plugin's entries (see the header).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sectigo_entry.h"
#include "xalloc.h"

/* A PEM field larger than this is not a certificate chain or key. */
#define PEM_FIELD_MAX (256 * 1024)

static const struct {
	const char *name;
	enum sectigo_status st;
} known_statuses[] = {
	{"Issued", SECTIGO_ST_ISSUED},
	{"Collected", SECTIGO_ST_ISSUED},
	{"TimedoutStateSaved", SECTIGO_ST_TIMEOUT},
	{"ErrorCode", SECTIGO_ST_ERROR},
	{"Applied", SECTIGO_ST_PENDING},
	{"Requested", SECTIGO_ST_PENDING},
	{"Pending", SECTIGO_ST_PENDING},
	{"Approved", SECTIGO_ST_PENDING},
	{"Submitted", SECTIGO_ST_PENDING},
	{"Enrolled", SECTIGO_ST_PENDING},
	{"Processing", SECTIGO_ST_PENDING},
	{"Revoked", SECTIGO_ST_REVOKED},
	{"Renewed", SECTIGO_ST_RENEWED},
	{"Replaced", SECTIGO_ST_RENEWED},
};

enum sectigo_status
sectigo_status_classify(const char *status)
{
	size_t i;

	if (status == NULL || *status == '\0')
		return SECTIGO_ST_NONE;
	for (i = 0; i < sizeof(known_statuses) / sizeof(known_statuses[0]); i++)
		if (strcasecmp(status, known_statuses[i].name) == 0)
			return known_statuses[i].st;
	return SECTIGO_ST_UNKNOWN;
}

const char *
sectigo_status_name(enum sectigo_status s)
{
	switch (s) {
	case SECTIGO_ST_NONE: return "none";
	case SECTIGO_ST_ISSUED: return "issued";
	case SECTIGO_ST_PENDING: return "pending";
	case SECTIGO_ST_TIMEOUT: return "timed out, state saved";
	case SECTIGO_ST_ERROR: return "error";
	case SECTIGO_ST_REVOKED: return "revoked";
	case SECTIGO_ST_RENEWED: return "renewed";
	case SECTIGO_ST_UNKNOWN: return "unknown";
	}
	return "?";
}

bool
sectigo_id_ok(const char *id)
{
	size_t n;

	if (id == NULL || *id == '\0' || *id == '.')
		return false;
	n = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
	return id[n] == '\0' && n < SECTIGO_ID_MAX;
}

static int
bad(struct err *e, const char *field, const char *what)
{
	return err_set(e, EBADMSG, "Sectigo entry: \"%s\" %s", field, what);
}

/* A printable copy of a string for status and logs: control characters
 * become '?', the copy is truncated to size. */
static void
copy_text(char *out, size_t size, const char *in)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < size; i++)
		out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
	out[i] = '\0';
}

/* A scalar field: a string, or an integer shown as one; absent or null
 * leaves "".  An id must be a plausible identifier (it becomes a path
 * segment); a text is made printable. */
static int
get_scalar(const json_t *o, const char *field, bool id, char *out, size_t size, struct err *e)
{
	const json_t *v = json_object_get(o, field);

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		snprintf(out, size, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (!json_is_string(v))
		return bad(e, field, id ? "is neither a string nor a number" : "is not a string");
	if (!id) {
		copy_text(out, size, json_string_value(v));
		return 0;
	}
	if (json_string_length(v) == 0)
		return 0;
	if (!sectigo_id_ok(json_string_value(v)))
		return bad(e, field, "is not a plausible identifier");
	snprintf(out, size, "%s", json_string_value(v));
	return 0;
}

#define get_id(o, f, out, size, e) get_scalar(o, f, true, out, size, e)
#define get_text(o, f, out, size, e) get_scalar(o, f, false, out, size, e)

/* A PEM field: NULL when absent, null or empty. */
static int
get_pem(const json_t *o, const char *field, char **out, struct err *e)
{
	const json_t *v = json_object_get(o, field);
	size_t n;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad(e, field, "is not a string");
	n = json_string_length(v);
	if (n == 0)
		return 0;
	if (n > PEM_FIELD_MAX)
		return bad(e, field, "is too large");
	if (memchr(json_string_value(v), '\0', n) != NULL)
		return bad(e, field, "holds a NUL byte");
	*out = xstrndup(json_string_value(v), n);
	return 0;
}

/* The error fields: top level ErrorCode/ErrorDescription, else the latest
 * state's error_code/error_description. */
static int
get_error(const json_t *o, const json_t *last, struct sectigo_entry *en, struct err *e)
{
	const char *code_f[] = {"ErrorCode", "error_code"};
	const char *desc_f[] = {"ErrorDescription", "error_description"};
	const json_t *srcs[] = {o, last};
	size_t i;

	for (i = 0; i < 2; i++) {
		const json_t *c, *src = srcs[i];
		if (src == NULL)
			continue;
		c = json_object_get(src, code_f[i]);
		if (c == NULL || json_is_null(c))
			continue;
		if (json_is_integer(c))
			en->error_code = (long long)json_integer_value(c);
		else if (json_is_string(c))
			en->error_code = strtoll(json_string_value(c), NULL, 10);
		else
			return bad(e, code_f[i], "is neither a number nor a string");
		en->has_error = true;
		if (get_text(src, desc_f[i], en->error_description, sizeof(en->error_description),
			     e) < 0)
			return -EBADMSG;
		return 0;
	}
	return 0;
}

int
sectigo_entry_parse(const json_t *data, struct sectigo_entry *out, struct err *e)
{
	const json_t *states, *last = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(data))
		return err_set(e, EBADMSG, "Sectigo entry: the answer's data is not an object");
	states = json_object_get(data, "state");
	if (states != NULL && !json_is_null(states)) {
		if (!json_is_array(states))
			return bad(e, "state", "is not an array");
		out->n_states = json_array_size(states);
		if (out->n_states > 0) {
			last = json_array_get(states, out->n_states - 1);
			if (!json_is_object(last)) {
				out->n_states = 0;	/* out is empty on failure */
				return bad(e, "state", "holds something that is not an object");
			}
		}
	}
	if ((rc = get_id(data, "cert_unique_id", out->id, sizeof(out->id), e)) < 0 ||
	    (rc = get_id(data, "ssl_id", out->ssl_id, sizeof(out->ssl_id), e)) < 0 ||
	    (out->ssl_id[0] == '\0' &&
	     (rc = get_id(data, "order_number", out->ssl_id, sizeof(out->ssl_id), e)) < 0) ||
	    (rc = get_id(data, "renew_id", out->renew_id, sizeof(out->renew_id), e)) < 0 ||
	    (rc = get_text(data, "certificate_type", out->certificate_type,
			   sizeof(out->certificate_type), e)) < 0 ||
	    (last != NULL &&
	     ((rc = get_text(last, "status", out->status, sizeof(out->status), e)) < 0 ||
	      (rc = get_text(last, "time_stamp", out->status_time, sizeof(out->status_time), e)) < 0)) ||
	    (rc = get_error(data, last, out, e)) < 0 ||
	    (rc = get_pem(data, "certificate", &out->certificate, e)) < 0 ||
	    (rc = get_pem(data, "private_key", &out->private_key, e)) < 0 ||
	    (rc = get_pem(data, "csr", &out->csr, e)) < 0) {
		sectigo_entry_free(out);
		return rc;
	}
	out->status_class = sectigo_status_classify(out->status);
	if (out->has_error && out->status_class != SECTIGO_ST_REVOKED)
		out->status_class = SECTIGO_ST_ERROR;
	return 0;
}

void
sectigo_entry_free(struct sectigo_entry *en)
{
	if (en == NULL)
		return;
	free(en->certificate);
	if (en->private_key != NULL)
		xfree_secret(en->private_key, strlen(en->private_key));
	free(en->csr);
	memset(en, 0, sizeof(*en));
}

json_t *
sectigo_list_ids(const json_t *data)
{
	const json_t *keys = json_object_get(data, "keys");
	json_t *out = json_array();
	const json_t *v;
	size_t i;

	if (out == NULL)
		abort();
	if (!json_is_array(keys))
		return out;
	json_array_foreach(keys, i, v)
		if (json_is_string(v) && sectigo_id_ok(json_string_value(v)))
			json_array_append_new(out, json_string(json_string_value(v)));
	return out;
}
