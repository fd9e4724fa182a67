/*
 * conf.h — certd's parsed, validated, immutable configuration.
 *
 * conf_load() reads `certd.conf` and then `<certd.conf>.d/` (files ending in .conf) in name
 * order, binds every assignment through the schema table (conf_schema.c),
 * validates the result as a whole and returns either a complete config or
 * every problem found, each located as `file:line: [section] key: message`.
 * Nothing outside the state of the returned object is touched, so
 * --check-config and SIGHUP can load a candidate without side effects.
 *
 * Sections:
 *   [certd]                    process-wide settings and per-certificate defaults
 *   [local_ca]                 the embedded local CA
 *   [cert.NAME]                one managed certificate
 *   [cert.NAME.output.OUT]     an extra file of that certificate, from a template
 */
#ifndef CERTD_CONF_H
#define CERTD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "diag.h"
#include "tmpl.h"
#include "x509.h"

struct conf_list {
	char **v;
	size_t n;
};

/* Where a file goes and who owns it.  uid/gid (uid_t)-1 when not set. */
struct conf_owner {
	uid_t uid;
	gid_t gid;
};

struct conf_template {
	char *text;
	struct tmpl *tmpl;   /* compiled; never NULL in a loaded config */
};

struct conf_output {
	char *name;
	char *file;          /* where the section was declared */
	unsigned line;
	char *path;
	struct conf_template template;
	char *template_file;
	enum tmpl_escape escape;
	char *escape_name;
	struct conf_owner owner;
	char *owner_name, *group_name;
	mode_t mode;
};

struct conf_cert {
	char *name;
	char *file;
	unsigned line;

	char *issuer;               /* "local" */
	char *common_name;          /* may be NULL */
	struct conf_list alt_names; /* DNS names */
	struct conf_list ip_sans;
	struct conf_list uri_sans;
	bool exclude_cn_from_sans;
	int64_t ttl;
	char *key_type_name;
	unsigned key_bits;
	enum x509_key_type key_type;

	char *cert_path, *key_path, *chain_path, *fullchain_path;
	char *owner_name, *group_name;
	struct conf_owner owner;
	mode_t mode;                /* cert, chain, fullchain */
	mode_t key_mode;

	int64_t renew_before;       /* 0: only the lifetime fraction applies */
	unsigned renew_at_percent;  /* of the lifetime, default 67 */
	unsigned jitter_percent;    /* of the lifetime, default 5 */

	struct conf_output *outputs;
	size_t n_outputs;
};

struct conf_local_ca {
	char *common_name;
	int64_t max_ttl;
	int64_t ca_ttl;
};

enum conf_log_level {
	CONF_LOG_ERROR = 0,
	CONF_LOG_WARNING,
	CONF_LOG_INFO,
	CONF_LOG_DEBUG,
};

struct conf {
	char *path;                 /* the main file */
	char *state_dir;
	char *log_level_name;
	enum conf_log_level log_level;
	struct conf_local_ca local_ca;
	struct conf_cert *certs;
	size_t n_certs;
};

/* Load and validate.  On success returns 0 and *out (free with conf_free);
 * warnings may still have been added to d.  On failure returns -EINVAL (or
 * -ENOENT / -EACCES for the main file) with every error in d.  Blocking
 * (reads files, resolves user and group names): call at start-up or from
 * the SIGHUP handler, not from a latency-sensitive callback. */
int conf_load(const char *path, struct conf **out, struct diag *d);
void conf_free(struct conf *c);

/* The certificate named name, or NULL. */
const struct conf_cert *conf_find_cert(const struct conf *c, const char *name);

/* Every output path of cert in publication order (cert, chain, fullchain,
 * template outputs, key last): the key is renamed into place last so that
 * a reader who sees the new key also sees the new certificate. */
size_t conf_cert_paths(const struct conf_cert *cert, const char **paths, size_t max);

#endif
