/*
 * sectigo_entry.h — what a Sectigo Vault PKI plugin entry says, parsed
 * from the untrusted JSON "data" object of enroll/renew/replace/revoke/
 * fetch answers and of certs/ and readcert/ reads.
 *
 * The plugin is closed source (shared/specs/sectigo-plugin.md): only the
 * field names of a stored entry are documented.  The parser therefore
 * takes what it can and judges nothing but shape: ids may be numbers or
 * strings, the status history may be missing, the certificate may be
 * absent or empty while the order is pending.  Whether a certificate is
 * issued is decided by the caller from its content (it parses, matches the
 * key, is valid), not from the status string; the status only picks the
 * cadence and the words in status and logs.
 *
 * Every string is bounded and printable-checked where it will be shown;
 * private_key is wiped when the entry is freed.  Leaf module: no I/O.
 */
#ifndef CERTD_SECTIGO_ENTRY_H
#define CERTD_SECTIGO_ENTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"

/* What the latest status means to certd. */
enum sectigo_status {
	SECTIGO_ST_NONE = 0,   /* no status history */
	SECTIGO_ST_ISSUED,     /* "Issued" (or a renamed success) */
	SECTIGO_ST_PENDING,    /* applied, requested, approved, pending... */
	SECTIGO_ST_TIMEOUT,    /* TimedoutStateSaved: the plugin will collect on a re-read */
	SECTIGO_ST_ERROR,      /* ErrorCode: a person must act (approval, refusal) */
	SECTIGO_ST_REVOKED,
	SECTIGO_ST_RENEWED,    /* replaced by a renewal (another id) */
	SECTIGO_ST_UNKNOWN,    /* a string certd does not know: judged by content */
};

#define SECTIGO_ID_MAX 128
#define SECTIGO_STATUS_MAX 64
#define SECTIGO_TEXT_MAX 512

struct sectigo_entry {
	char id[SECTIGO_ID_MAX];          /* cert_unique_id; "" when absent */
	char ssl_id[SECTIGO_ID_MAX];      /* ssl_id, or order_number (client_cert) */
	char renew_id[SECTIGO_ID_MAX];
	char certificate_type[32];
	char status[SECTIGO_STATUS_MAX];  /* latest status string, "" when none */
	char status_time[64];
	enum sectigo_status status_class;
	size_t n_states;                  /* length of the status history */
	bool has_error;                   /* an ErrorCode is set on the entry */
	long long error_code;
	char error_description[SECTIGO_TEXT_MAX];
	char *certificate;                /* PEM (leaf then CA certificates), NULL when none */
	char *private_key;                /* PEM, NULL when none; secret: wiped on free */
	char *csr;                        /* PEM, NULL when none */
};

/* Parse data (the response's "data" object).  Returns 0, or -EBADMSG with e
 * set when data is not an object or a field has an impossible type or size;
 * out is then empty (and needs no free, though freeing is harmless).  An
 * entry without any field is parsed (all empty). */
int sectigo_entry_parse(const json_t *data, struct sectigo_entry *out, struct err *e);
void sectigo_entry_free(struct sectigo_entry *en);

/* Classify a status string. */
enum sectigo_status sectigo_status_classify(const char *status);
const char *sectigo_status_name(enum sectigo_status s);

/* The cert_unique_id strings of a LIST answer's data ({"keys": [...]}),
 * into a new JSON array of strings (ids that are not plausible are
 * dropped).  NULL data (404: nothing listed) gives an empty array. */
json_t *sectigo_list_ids(const json_t *data);

/* A plausible cert_unique_id or config name: 1..127 of [A-Za-z0-9_.-]
 * (it becomes a path segment). */
bool sectigo_id_ok(const char *id);

#endif
