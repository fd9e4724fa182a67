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
 *   [vault]                    the Vault cluster and how certd authenticates to it
 *   [cert.NAME]                one managed certificate
 *   [cert.NAME.output.OUT]     an extra file of that certificate, from a template
 *   [cert.NAME.reload.ACTION]  what to do once its files are in place (name order)
 *   [cert.NAME.kv.FIELD]       a field written to Vault KV at kv_path
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

enum conf_reload_type {
	CONF_RELOAD_SIGNAL = 0,
	CONF_RELOAD_SYSTEMD_UNIT,
	CONF_RELOAD_COMMAND,
	CONF_RELOAD_HTTP,
};

struct conf_reload {
	char *name;
	char *file;
	unsigned line;
	char *type_name;
	int type;                   /* enum conf_reload_type */
	char *signal;               /* signal: HUP, USR1... */
	char *pidfile;              /* signal: where the pid is; else the unit's MainPID */
	char *pidfile_owner_name;
	uid_t pidfile_uid;          /* who may own the pid file besides root */
	char *unit;                 /* systemd_unit; signal without pidfile */
	char *unit_mode_name;
	int unit_mode;              /* 0 reload, 1 restart, 2 try-reload-or-restart */
	char *command;              /* command: argv split on blanks, or a shell line */
	bool shell;
	char *method_name;          /* http */
	char *url;
	char *headers;              /* "Name: value" lines */
	struct conf_template body;
	char *body_escape_name;
	enum tmpl_escape body_escape;
	char *ca_cert;
	int64_t timeout;
};

struct conf_kv_field {
	char *name;
	char *file;
	unsigned line;
	char *key;                  /* the KV field name, e.g. test.com.crt */
	struct conf_template template;
};

struct conf_cert {
	char *name;
	char *file;
	unsigned line;

	char *issuer;               /* "local", "vault-pki", "sectigo" */
	int issuer_kind;            /* index in the issuer choices: CONF_ISSUER_* */
	char *common_name;          /* may be NULL */
	struct conf_list alt_names; /* DNS names */
	struct conf_list ip_sans;
	struct conf_list uri_sans;
	bool exclude_cn_from_sans;
	int64_t ttl;
	char *key_type_name;
	unsigned key_bits;
	enum x509_key_type key_type;

	/* vault-pki */
	char *mount;
	char *role;
	char *pki_mode_name;
	int pki_mode;               /* CONF_PKI_SIGN, CONF_PKI_ISSUE */
	char *trust_anchor;         /* PEM bundle the issued chain must verify to */

	/* sectigo (also mount, trust_anchor): conf_sectigo.c checks them */
	char *sectigo_config;       /* the plugin's config entry (configs/<name>) */
	char *sectigo_cert_type_name;
	int sectigo_cert_type;      /* CONF_SECTIGO_SSL, CONF_SECTIGO_CLIENT */
	unsigned sectigo_profile;   /* SCM profile id (…_cert_type); 0: the plugin's default */
	char *sectigo_comments;
	char *sectigo_requester;
	char *sectigo_params;       /* JSON object of further sectigo_* request fields */
	char *sectigo_key_name;
	int sectigo_key;            /* CONF_SECTIGO_KEY_LOCAL, _PLUGIN */
	char *sectigo_read_name;
	int sectigo_read;           /* CONF_SECTIGO_READ_CERTS, _READCERT */
	int64_t sectigo_poll_initial, sectigo_poll_max;
	int64_t sectigo_timeout;    /* HTTP timeout of enroll/renew/replace */
	int64_t sectigo_vault_limit;/* Vault's max request duration, for the nesting check */
	bool rotate_key;            /* renewals use replace with a new key */

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

	/* after publication */
	struct conf_reload *reloads;
	size_t n_reloads;
	char *probe;                /* host:port */
	char *probe_sni;
	int64_t probe_timeout;
	unsigned probe_attempts;
	char *kv_path;              /* Vault KV path (v2: mount/data/...) */
	unsigned kv_version;
	struct conf_kv_field *kv_fields;
	size_t n_kv_fields;
};

enum conf_issuer_kind {
	CONF_ISSUER_LOCAL = 0,
	CONF_ISSUER_VAULT_PKI,
	CONF_ISSUER_SECTIGO,
};

enum { CONF_SECTIGO_SSL = 0, CONF_SECTIGO_CLIENT };
enum { CONF_SECTIGO_KEY_LOCAL = 0, CONF_SECTIGO_KEY_PLUGIN };
enum { CONF_SECTIGO_READ_CERTS = 0, CONF_SECTIGO_READ_READCERT };

/* conf_sectigo.c: the Sectigo keys of cc.  report is called once per
 * problem (warning 1: not fatal). */
typedef void (*conf_report_fn)(void *ctx, const char *key, int warning, const char *msg);
void conf_sectigo_check(const struct conf_cert *cc, conf_report_fn report, void *ctx);
/* The plugin's sectigo_max_timeout from cc's sectigo_params, in seconds,
 * or -1 when not set. */
long long conf_sectigo_max_timeout(const struct conf_cert *cc);

enum conf_pki_mode {
	CONF_PKI_SIGN = 0,   /* key generated here, CSR to <mount>/sign/<role> */
	CONF_PKI_ISSUE,      /* <mount>/issue/<role>: Vault generates the key */
};

/* Auth methods, in the order of enum vault_auth_method. */
struct conf_vault {
	unsigned max_in_flight;
	struct conf_list address;
	char *namespace_;
	char *ca_cert, *ca_path;
	char *client_cert, *client_key;
	char *tls_server_name;
	bool tls_skip_verify;
	int64_t connect_timeout, request_timeout;
	char *auth_method_name;
	int auth_method;
	char *auth_mount;
	char *token_file;
	char *role_id_file, *secret_id_file;
	bool secret_id_wrapped, remove_secret_id_file;
	char *cert_role;
	char *role;
	char *jwt_file;
};

struct conf_local_ca {
	unsigned max_in_flight;
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
	char *control_socket;
	mode_t control_socket_mode;
	char *control_socket_group_name;
	gid_t control_socket_gid;
	struct conf_list control_allow_users;
	char *metrics_listen;
	int64_t reload_debounce;
	struct conf_local_ca local_ca;
	struct conf_vault vault;
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
