/*
 * state.h — what certd remembers about each certificate between runs.
 *
 * One JSON file per certificate, <state_dir>/certs/<name>.json, mode 0600,
 * replaced atomically (temporary file in the same directory, fsync, rename,
 * directory fsync).  A missing file is not an error: the certificate is
 * then judged from its files alone.  A damaged file is reported and
 * ignored (the next save replaces it), never fatal.
 *
 * The request fingerprint covers everything that, when changed in the
 * config, must cause one re-issue even though the files in place are still
 * valid: issuer, names, key type, TTL and the issuer's own settings.
 *
 * Blocking file I/O on small files; never logs.
 */
#ifndef CERTD_STATE_H
#define CERTD_STATE_H

#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "err.h"

struct state_record {
	char serial[128];          /* of the certificate in place, "" when none */
	int64_t not_before;        /* unix seconds, 0 when none */
	int64_t not_after;
	char request_fp[65];       /* state_request_fingerprint() when it was issued */
	char pair_sha256[65];      /* SHA-256 of the cert file then the key file as
				    * published and verified; "" when unknown */
	char delivered_sha256[65]; /* the pair its consumers were last given */
	int64_t last_success;      /* last pass that ended with a valid set in place */
	int64_t last_attempt;
	int64_t last_issued;       /* last issuance */
	uint64_t issued_total;
	unsigned failures;         /* consecutive failed passes */
	char last_error[768];      /* reason of the last failure, "" after a success */
	char held[256];            /* non-empty: not renewed any more, and why (e.g.
				    * revoked by the operator); renew --force clears it */
	json_t *issuer_state;      /* the issuer's own progress (e.g. Sectigo ids), or NULL */
};

/* Load name's record.  Returns 0, -ENOENT when there is none, or another
 * negative errno with e set (unreadable, not JSON, wrong types); *out is
 * zeroed first in every case.  Free with state_record_clear(). */
int state_load(const char *state_dir, const char *name, struct state_record *out,
	       struct err *e);

/* Replace name's record atomically (creates <state_dir>/certs/ 0700 when
 * missing).  Returns 0 or a negative errno with e naming the path. */
int state_save(const char *state_dir, const char *name, const struct state_record *r,
	       struct err *e);

/* Remove name's record (a certificate taken out of the config).  -ENOENT
 * is not an error. */
int state_remove(const char *state_dir, const char *name, struct err *e);

void state_record_clear(struct state_record *r);

/* SHA-256 (64 hex chars + NUL) over a canonical description of cc's request:
 * issuer, common_name, sorted alt_names/ip_sans/uri_sans,
 * exclude_cn_from_sans, key type (sign mode only), ttl, mount, role,
 * pki_mode.  Not covered: output paths, modes, owners, templates,
 * renewal timing (changing those re-renders, it does not re-issue). */
void state_request_fingerprint(const struct conf_cert *cc, char out[65]);

#endif
