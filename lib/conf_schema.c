/*
 * conf_schema.c — the key table (see conf_schema.h).  Keep docs in step:
 * tests/check_conf.c fails when docs/config-reference.md or
 * docs/certd.conf.5 misses a key of this table or lists one it lacks.
 */
#include "config.h"

#include <stddef.h>

#include "conf.h"
#include "conf_schema.h"

#define G(field) offsetof(struct conf, field)
#define CA(field) offsetof(struct conf_local_ca, field)
#define V(field) offsetof(struct conf_vault, field)
#define C(field) offsetof(struct conf_cert, field)
#define O(field) offsetof(struct conf_output, field)
#define R(field) offsetof(struct conf_reload, field)
#define K(field) offsetof(struct conf_kv_field, field)

const struct conf_key conf_keys[] = {
	/* [certd] */
	{CONF_SEC_CERTD, "state_dir", CONF_T_PATH, G(state_dir), 0, LOCALSTATEDIR "/lib/certd", NULL, 0,
	 "Directory for certd's own state: the local CA, issued serials, per-certificate records."},
	{CONF_SEC_CERTD, "log_level", CONF_T_ENUM, G(log_level_name), G(log_level), "info",
	 "error|warning|info|debug", 0, "Least severe message that is logged."},
	{CONF_SEC_CERTD, "control_socket", CONF_T_PATH, G(control_socket), 0,
	 RUNSTATEDIR "/certd/control.sock", NULL, 0,
	 "Unix socket of `certd status`, `certd renew` and `certd reload`."},
	{CONF_SEC_CERTD, "control_socket_mode", CONF_T_MODE, G(control_socket_mode), 0, "0600", NULL, 0,
	 "Permission bits of the control socket."},
	{CONF_SEC_CERTD, "control_socket_group", CONF_T_GROUP, G(control_socket_group_name),
	 G(control_socket_gid), NULL, NULL, 0, "Group of the control socket (with a mode such as 0660)."},
	{CONF_SEC_CERTD, "control_allow_users", CONF_T_LIST, G(control_allow_users), 0, NULL, NULL, 0,
	 "Users (besides root and certd's own user) whose commands the control socket accepts."},
	{CONF_SEC_CERTD, "reload_debounce", CONF_T_DURATION, G(reload_debounce), 0, "2s", NULL, 0,
	 "Certificates of one consumer renewed within this window share one reload, after all their files are in place."},
	{CONF_SEC_CERTD, "metrics_listen", CONF_T_STRING, G(metrics_listen), 0, NULL, NULL, 0,
	 "Address of the Prometheus endpoint, e.g. 127.0.0.1:9118; unset: no endpoint."},

	/* [local_ca] */
	{CONF_SEC_LOCAL_CA, "max_in_flight", CONF_T_UINT, CA(max_in_flight), 0, "4", NULL, 0,
	 "Certificates the local CA works on at once."},
	{CONF_SEC_LOCAL_CA, "common_name", CONF_T_STRING, CA(common_name), 0, "certd local CA", NULL, 0,
	 "Subject CN of the local CA certificate, used when the CA is first created."},
	{CONF_SEC_LOCAL_CA, "max_ttl", CONF_T_DURATION, CA(max_ttl), 0, "90d", NULL, 0,
	 "Longest lifetime the local CA signs; longer requests are shortened to it (with a warning)."},
	{CONF_SEC_LOCAL_CA, "ca_ttl", CONF_T_DURATION, CA(ca_ttl), 0, "3650d", NULL, 0,
	 "Lifetime of the local CA certificate when it is first created."},

	/* [vault] */
	{CONF_SEC_VAULT, "max_in_flight", CONF_T_UINT, V(max_in_flight), 0, "4", NULL, 0,
	 "Certificates requested from Vault at once, so that a renewal wave cannot flood it."},
	{CONF_SEC_VAULT, "address", CONF_T_LIST, V(address), 0, NULL, NULL, 0,
	 "Vault API addresses (https://host:8200), comma-separated, tried in order when one is unreachable."},
	{CONF_SEC_VAULT, "namespace", CONF_T_STRING, V(namespace_), 0, NULL, NULL, 0,
	 "Vault Enterprise namespace, sent as X-Vault-Namespace."},
	{CONF_SEC_VAULT, "ca_cert", CONF_T_PATH, V(ca_cert), 0, NULL, NULL, 0,
	 "PEM bundle of the CAs that sign Vault's TLS certificate (then the only ones trusted)."},
	{CONF_SEC_VAULT, "ca_path", CONF_T_PATH, V(ca_path), 0, NULL, NULL, 0,
	 "Directory of hashed CA certificates (c_rehash) trusted for Vault's TLS certificate."},
	{CONF_SEC_VAULT, "client_cert", CONF_T_PATH, V(client_cert), 0, NULL, NULL, 0,
	 "Client certificate (PEM) presented to Vault (mTLS, and cert auth); re-read at each connection."},
	{CONF_SEC_VAULT, "client_key", CONF_T_PATH, V(client_key), 0, NULL, NULL, 0,
	 "Key of client_cert (PEM)."},
	{CONF_SEC_VAULT, "tls_server_name", CONF_T_STRING, V(tls_server_name), 0, NULL, NULL, 0,
	 "Name expected in Vault's certificate (and sent as SNI) when the address is an IP or another name."},
	{CONF_SEC_VAULT, "tls_skip_verify", CONF_T_BOOL, V(tls_skip_verify), 0, "false", NULL, 0,
	 "Do not verify Vault's certificate. Insecure; logged as a warning at every start."},
	{CONF_SEC_VAULT, "connect_timeout", CONF_T_DURATION, V(connect_timeout), 0, "10s", NULL, 0,
	 "Time allowed to connect to one address."},
	{CONF_SEC_VAULT, "request_timeout", CONF_T_DURATION, V(request_timeout), 0, "60s", NULL, 0,
	 "Time allowed for one request, redirects included."},
	{CONF_SEC_VAULT, "auth_method", CONF_T_ENUM, V(auth_method_name), V(auth_method), "token",
	 "token|approle|cert|kubernetes|jwt", 0, "How certd logs in to Vault."},
	{CONF_SEC_VAULT, "auth_mount", CONF_T_STRING, V(auth_mount), 0, NULL, NULL, 0,
	 "Mount path of the auth method (default: the method's name)."},
	{CONF_SEC_VAULT, "token_file", CONF_T_PATH, V(token_file), 0, NULL, NULL, 0,
	 "token: file holding the token, re-read when it changes (e.g. a Vault Agent sink); default: $VAULT_TOKEN."},
	{CONF_SEC_VAULT, "role_id_file", CONF_T_PATH, V(role_id_file), 0, NULL, NULL, 0,
	 "approle: file holding the role ID."},
	{CONF_SEC_VAULT, "secret_id_file", CONF_T_PATH, V(secret_id_file), 0, NULL, NULL, 0,
	 "approle: file holding the secret ID (mode 0600 or stricter)."},
	{CONF_SEC_VAULT, "secret_id_wrapped", CONF_T_BOOL, V(secret_id_wrapped), 0, "false", NULL, 0,
	 "approle: secret_id_file holds a response-wrapping token, unwrapped through sys/wrapping/unwrap."},
	{CONF_SEC_VAULT, "remove_secret_id_file", CONF_T_BOOL, V(remove_secret_id_file), 0, "false",
	 NULL, 0, "approle: delete secret_id_file once it has been read."},
	{CONF_SEC_VAULT, "cert_role", CONF_T_STRING, V(cert_role), 0, NULL, NULL, 0,
	 "cert: the certificate role to log in with (\"name\"); default: any matching role."},
	{CONF_SEC_VAULT, "role", CONF_T_STRING, V(role), 0, NULL, NULL, 0,
	 "kubernetes, jwt: the role to log in with."},
	{CONF_SEC_VAULT, "jwt_file", CONF_T_PATH, V(jwt_file), 0, NULL, NULL, 0,
	 "kubernetes, jwt: file holding the JWT, re-read at every login."},

	/* [cert.NAME] */
	{CONF_SEC_CERT, "issuer", CONF_T_ENUM, C(issuer), C(issuer_kind), "local",
	 "local|vault-pki|sectigo", CONF_F_DEFAULTABLE,
	 "Who signs the certificate: the embedded local CA, Vault's PKI engine, or the Sectigo Vault PKI plugin."},
	{CONF_SEC_CERT, "mount", CONF_T_STRING, C(mount), 0, NULL, NULL, CONF_F_DEFAULTABLE,
	 "vault-pki, sectigo: mount path of the PKI secrets engine (e.g. pki_int) or of the Sectigo plugin."},
	{CONF_SEC_CERT, "role", CONF_T_STRING, C(role), 0, NULL, NULL, CONF_F_DEFAULTABLE,
	 "vault-pki: the PKI role to issue under."},
	{CONF_SEC_CERT, "pki_mode", CONF_T_ENUM, C(pki_mode_name), C(pki_mode), "sign", "sign|issue",
	 CONF_F_DEFAULTABLE,
	 "vault-pki: sign (key made here, CSR to <mount>/sign/<role>; the key never leaves the host) or issue (<mount>/issue/<role>: Vault makes the key)."},
	{CONF_SEC_CERT, "trust_anchor", CONF_T_PATH, C(trust_anchor), 0, NULL, NULL, CONF_F_DEFAULTABLE,
	 "vault-pki, sectigo: PEM bundle of CAs the issued chain must verify to (default: the top of the chain returned)."},
	{CONF_SEC_CERT, "sectigo_config", CONF_T_STRING, C(sectigo_config), 0, NULL, NULL,
	 CONF_F_DEFAULTABLE, "sectigo: name of the plugin's config entry (configs/<name>) holding the SCM account."},
	{CONF_SEC_CERT, "sectigo_cert_type", CONF_T_ENUM, C(sectigo_cert_type_name), C(sectigo_cert_type),
	 "ssl_cert", "ssl_cert|client_cert", CONF_F_DEFAULTABLE,
	 "sectigo: certificate type; must match the config entry's sectigo_config_type."},
	{CONF_SEC_CERT, "sectigo_profile", CONF_T_UINT, C(sectigo_profile), 0, "0", NULL,
	 CONF_F_DEFAULTABLE, "sectigo: SCM certificate profile id (sent as sectigo_ssl_cert_type); 0: not sent."},
	{CONF_SEC_CERT, "sectigo_comments", CONF_T_STRING, C(sectigo_comments), 0, NULL, NULL, 0,
	 "sectigo: comments stored with the SCM order."},
	{CONF_SEC_CERT, "sectigo_requester", CONF_T_STRING, C(sectigo_requester), 0, NULL, NULL,
	 CONF_F_DEFAULTABLE, "sectigo: external requester (e-mail) stored with the SCM order."},
	{CONF_SEC_CERT, "sectigo_params", CONF_T_STRING, C(sectigo_params), 0, NULL, NULL,
	 CONF_F_DEFAULTABLE,
	 "sectigo: JSON object of further sectigo_* request fields, sent with their JSON types (no credentials, no keys)."},
	{CONF_SEC_CERT, "sectigo_key", CONF_T_ENUM, C(sectigo_key_name), C(sectigo_key), "local",
	 "local|plugin", CONF_F_DEFAULTABLE,
	 "sectigo: local (key made here, only the CSR is sent) or plugin (the plugin makes the key and returns it)."},
	{CONF_SEC_CERT, "sectigo_read", CONF_T_ENUM, C(sectigo_read_name), C(sectigo_read), "certs",
	 "certs|readcert", CONF_F_DEFAULTABLE,
	 "sectigo: path pending entries are re-read through: certs (the plugin collects on a read) or readcert (local storage; newer plugins)."},
	{CONF_SEC_CERT, "sectigo_poll_initial", CONF_T_DURATION, C(sectigo_poll_initial), 0, "30s",
	 NULL, CONF_F_DEFAULTABLE, "sectigo: first delay before a pending entry is re-read; it doubles each time."},
	{CONF_SEC_CERT, "sectigo_poll_max", CONF_T_DURATION, C(sectigo_poll_max), 0, "1h", NULL,
	 CONF_F_DEFAULTABLE,
	 "sectigo: slowest cadence of re-reads of a pending entry, and of an entry waiting for a person (ErrorCode)."},
	{CONF_SEC_CERT, "sectigo_timeout", CONF_T_DURATION, C(sectigo_timeout), 0, "600s", NULL,
	 CONF_F_DEFAULTABLE, "sectigo: HTTP timeout of enroll, renew and replace (longer than Vault's request limit)."},
	{CONF_SEC_CERT, "sectigo_vault_limit", CONF_T_DURATION, C(sectigo_vault_limit), 0, "90s", NULL,
	 CONF_F_DEFAULTABLE,
	 "sectigo: Vault's maximum request duration, checked at start-up against sectigo_timeout and the plugin's sectigo_max_timeout."},
	{CONF_SEC_CERT, "rotate_key", CONF_T_BOOL, C(rotate_key), 0, "false", NULL, CONF_F_DEFAULTABLE,
	 "sectigo: renew with replace and a new key, instead of renew (same key)."},
	{CONF_SEC_CERT, "common_name", CONF_T_STRING, C(common_name), 0, NULL, NULL, 0,
	 "Subject CN; also added as a DNS SAN unless exclude_cn_from_sans."},
	{CONF_SEC_CERT, "alt_names", CONF_T_LIST, C(alt_names), 0, NULL, NULL, 0,
	 "DNS subject alternative names, comma-separated."},
	{CONF_SEC_CERT, "ip_sans", CONF_T_LIST, C(ip_sans), 0, NULL, NULL, 0,
	 "IP subject alternative names (IPv4 or IPv6), comma-separated."},
	{CONF_SEC_CERT, "uri_sans", CONF_T_LIST, C(uri_sans), 0, NULL, NULL, 0,
	 "URI subject alternative names, comma-separated."},
	{CONF_SEC_CERT, "exclude_cn_from_sans", CONF_T_BOOL, C(exclude_cn_from_sans), 0, "false", NULL,
	 CONF_F_DEFAULTABLE, "Do not add the CN to the DNS SANs."},
	{CONF_SEC_CERT, "ttl", CONF_T_DURATION, C(ttl), 0, "30d", NULL, CONF_F_DEFAULTABLE,
	 "Requested lifetime of the certificate."},
	{CONF_SEC_CERT, "key_type", CONF_T_ENUM, C(key_type_name), 0, "ec", "ec|rsa|ed25519",
	 CONF_F_DEFAULTABLE, "Type of the private key generated on this host."},
	{CONF_SEC_CERT, "key_bits", CONF_T_UINT, C(key_bits), 0, "0", NULL, CONF_F_DEFAULTABLE,
	 "Key size: ec 256 or 384, rsa 2048, 3072 or 4096; 0 picks the type's default (ec 256, rsa 2048)."},
	{CONF_SEC_CERT, "cert", CONF_T_PATH, C(cert_path), 0, NULL, NULL, CONF_F_REQUIRED,
	 "Where the leaf certificate (PEM) is written."},
	{CONF_SEC_CERT, "key", CONF_T_PATH, C(key_path), 0, NULL, NULL, CONF_F_REQUIRED,
	 "Where the private key (PKCS#8 PEM) is written."},
	{CONF_SEC_CERT, "chain", CONF_T_PATH, C(chain_path), 0, NULL, NULL, 0,
	 "Where the issuing CA chain (PEM, leaf excluded) is written."},
	{CONF_SEC_CERT, "fullchain", CONF_T_PATH, C(fullchain_path), 0, NULL, NULL, 0,
	 "Where the leaf followed by the chain (PEM) is written."},
	{CONF_SEC_CERT, "owner", CONF_T_USER, C(owner_name), C(owner.uid), NULL, NULL, CONF_F_DEFAULTABLE,
	 "Owner of the written files (name or uid); default: certd's own user."},
	{CONF_SEC_CERT, "group", CONF_T_GROUP, C(group_name), C(owner.gid), NULL, NULL,
	 CONF_F_DEFAULTABLE, "Group of the written files (name or gid); default: certd's own group."},
	{CONF_SEC_CERT, "mode", CONF_T_MODE, C(mode), 0, "0644", NULL, CONF_F_DEFAULTABLE,
	 "Permission bits of the certificate, chain and fullchain files."},
	{CONF_SEC_CERT, "key_mode", CONF_T_MODE, C(key_mode), 0, "0600", NULL, CONF_F_DEFAULTABLE,
	 "Permission bits of the key file."},
	{CONF_SEC_CERT, "renew_before", CONF_T_DURATION, C(renew_before), 0, "0s", NULL,
	 CONF_F_DEFAULTABLE,
	 "Renew at the latest this long before expiry (0s: only renew_at_percent applies)."},
	{CONF_SEC_CERT, "renew_at_percent", CONF_T_PERCENT, C(renew_at_percent), 0, "67", NULL,
	 CONF_F_DEFAULTABLE, "Renew once this share of the lifetime has passed (or renew_before, whichever is earlier)."},
	{CONF_SEC_CERT, "jitter_percent", CONF_T_PERCENT, C(jitter_percent), 0, "5", NULL,
	 CONF_F_DEFAULTABLE, "Renew up to this share of the lifetime earlier, at random, to spread fleets."},

	{CONF_SEC_CERT, "probe", CONF_T_STRING, C(probe), 0, NULL, NULL, 0,
	 "host:port of a TLS service to check after the reloads: it must serve the new certificate, else the previous set is restored."},
	{CONF_SEC_CERT, "probe_sni", CONF_T_STRING, C(probe_sni), 0, NULL, NULL, 0,
	 "Server name sent by the probe (default: none)."},
	{CONF_SEC_CERT, "probe_timeout", CONF_T_DURATION, C(probe_timeout), 0, "10s", NULL,
	 CONF_F_DEFAULTABLE, "Time allowed for one probe attempt."},
	{CONF_SEC_CERT, "probe_attempts", CONF_T_UINT, C(probe_attempts), 0, "5", NULL,
	 CONF_F_DEFAULTABLE, "Probe attempts, one second apart, before the probe fails."},
	{CONF_SEC_CERT, "kv_path", CONF_T_STRING, C(kv_path), 0, NULL, NULL, 0,
	 "Vault KV path the [cert.NAME.kv.FIELD] fields are written to (KV v2: mount/data/path)."},
	{CONF_SEC_CERT, "kv_version", CONF_T_UINT, C(kv_version), 0, "2", NULL, CONF_F_DEFAULTABLE,
	 "KV engine version at kv_path: 1, or 2 (written with check-and-set)."},

	/* [cert.NAME.output.OUT] */
	{CONF_SEC_OUTPUT, "path", CONF_T_PATH, O(path), 0, NULL, NULL, CONF_F_REQUIRED,
	 "Where the rendered file is written."},
	{CONF_SEC_OUTPUT, "template", CONF_T_TEMPLATE, O(template.text), O(template.tmpl), NULL, NULL, 0,
	 "Mustache template text (use a <<END here-document for several lines)."},
	{CONF_SEC_OUTPUT, "template_file", CONF_T_TEMPLATE_FILE, O(template_file), O(template.tmpl), NULL,
	 NULL, 0, "Absolute path of a Mustache template file, read when the config is loaded."},
	{CONF_SEC_OUTPUT, "escape", CONF_T_ENUM, O(escape_name), O(escape), "none", "none|html|json", 0,
	 "Escaping of {{name}} values: none (PEM files), html, json (inside a JSON string)."},
	{CONF_SEC_OUTPUT, "owner", CONF_T_USER, O(owner_name), O(owner.uid), NULL, NULL, 0,
	 "Owner of the file; default: the certificate's owner."},
	{CONF_SEC_OUTPUT, "group", CONF_T_GROUP, O(group_name), O(owner.gid), NULL, NULL, 0,
	 "Group of the file; default: the certificate's group."},
	{CONF_SEC_OUTPUT, "mode", CONF_T_MODE, O(mode), 0, "0600", NULL, 0,
	 "Permission bits of the file (0600 by default: a template may hold the key)."},

	/* [cert.NAME.reload.ACTION] */
	{CONF_SEC_RELOAD, "type", CONF_T_ENUM, R(type_name), R(type), NULL,
	 "signal|systemd_unit|command|http", CONF_F_REQUIRED, "What the action does."},
	{CONF_SEC_RELOAD, "signal", CONF_T_STRING, R(signal), 0, "HUP", NULL, 0,
	 "signal: the signal sent (HUP, USR1, USR2, ...)."},
	{CONF_SEC_RELOAD, "pidfile", CONF_T_PATH, R(pidfile), 0, NULL, NULL, 0,
	 "signal: file holding the pid, re-read every time; without it, the main pid of unit."},
	{CONF_SEC_RELOAD, "pidfile_owner", CONF_T_USER, R(pidfile_owner_name), R(pidfile_uid), NULL,
	 NULL, 0, "signal: user who may own the pid file besides root."},
	{CONF_SEC_RELOAD, "unit", CONF_T_STRING, R(unit), 0, NULL, NULL, 0,
	 "systemd_unit: the unit (e.g. nginx.service); signal: whose main pid gets the signal."},
	{CONF_SEC_RELOAD, "unit_mode", CONF_T_ENUM, R(unit_mode_name), R(unit_mode), "reload",
	 "reload|restart|try-reload-or-restart", 0, "systemd_unit: what systemd is asked to do."},
	{CONF_SEC_RELOAD, "command", CONF_T_STRING, R(command), 0, NULL, NULL, 0,
	 "command: program and arguments, split on blanks (no shell unless shell = true)."},
	{CONF_SEC_RELOAD, "shell", CONF_T_BOOL, R(shell), 0, "false", NULL, 0,
	 "command: run it with /bin/sh -c."},
	{CONF_SEC_RELOAD, "method", CONF_T_ENUM, R(method_name), 0, "PUT", "GET|POST|PUT|PATCH|DELETE",
	 0, "http: the request method."},
	{CONF_SEC_RELOAD, "url", CONF_T_STRING, R(url), 0, NULL, NULL, 0, "http: the URL."},
	{CONF_SEC_RELOAD, "headers", CONF_T_STRING, R(headers), 0, NULL, NULL, 0,
	 "http: request headers, one \"Name: value\" per line (a here-document)."},
	{CONF_SEC_RELOAD, "body", CONF_T_TEMPLATE, R(body.text), R(body.tmpl), NULL, NULL, 0,
	 "http: the request body, a template over the certificate's context."},
	{CONF_SEC_RELOAD, "body_escape", CONF_T_ENUM, R(body_escape_name), R(body_escape), "json",
	 "none|html|json", 0, "http: escaping of {{name}} values in the body."},
	{CONF_SEC_RELOAD, "ca_cert", CONF_T_PATH, R(ca_cert), 0, NULL, NULL, 0,
	 "http: CA bundle that signs the server's certificate (default: the system's)."},
	{CONF_SEC_RELOAD, "timeout", CONF_T_DURATION, R(timeout), 0, "30s", NULL, 0,
	 "Time the action may take (a command is sent SIGTERM, then SIGKILL)."},

	/* [cert.NAME.kv.FIELD] */
	{CONF_SEC_KV, "key", CONF_T_STRING, K(key), 0, NULL, NULL, CONF_F_REQUIRED,
	 "Name of the field at kv_path (e.g. test.com.crt)."},
	{CONF_SEC_KV, "template", CONF_T_TEMPLATE, K(template.text), K(template.tmpl), NULL, NULL,
	 CONF_F_REQUIRED, "Its value, a template over the certificate's context (e.g. {{cert}}{{chain}})."},
};

const size_t conf_n_keys = sizeof(conf_keys) / sizeof(conf_keys[0]);

const char *
conf_section_kind_name(enum conf_section_kind k)
{
	switch (k) {
	case CONF_SEC_CERTD: return "[certd]";
	case CONF_SEC_LOCAL_CA: return "[local_ca]";
	case CONF_SEC_VAULT: return "[vault]";
	case CONF_SEC_CERT: return "[cert.NAME]";
	case CONF_SEC_OUTPUT: return "[cert.NAME.output.OUT]";
	case CONF_SEC_RELOAD: return "[cert.NAME.reload.ACTION]";
	case CONF_SEC_KV: return "[cert.NAME.kv.FIELD]";
	default: return "?";
	}
}

const char *
conf_type_name(enum conf_type t)
{
	switch (t) {
	case CONF_T_STRING: return "string";
	case CONF_T_PATH: return "path";
	case CONF_T_BOOL: return "boolean";
	case CONF_T_DURATION: return "duration";
	case CONF_T_UINT: return "integer";
	case CONF_T_PERCENT: return "percent";
	case CONF_T_MODE: return "mode";
	case CONF_T_LIST: return "list";
	case CONF_T_ENUM: return "enum";
	case CONF_T_USER: return "user";
	case CONF_T_GROUP: return "group";
	case CONF_T_TEMPLATE: return "template";
	case CONF_T_TEMPLATE_FILE: return "path";
	default: return "?";
	}
}
