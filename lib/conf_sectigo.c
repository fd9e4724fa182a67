/*
 * conf_sectigo.c — checks of a [cert.NAME] with issuer = sectigo.
 *
 * Beyond types (the schema's job): the mount and config name become path
 * segments; sectigo_params must be a JSON object of sectigo_* fields that
 * carries no credential and no key (those belong in the plugin's config
 * entry, and a read would put them in a URL); and the three timeouts of an
 * enrollment must nest — the plugin's sectigo_max_timeout inside Vault's
 * request limit inside certd's own HTTP timeout — or an enrollment that
 * the plugin would still finish is cut short and looks failed.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "duration.h"
#include "sectigo_entry.h"

/* Fields certd sends itself, or that must never be in certd's config. */
static const char *const refused_params[] = {
	"sectigo_csr", "sectigo_private_key", "sectigo_cm_password", "sectigo_cm_user",
};

static void
reportf(conf_report_fn report, void *ctx, const char *key, int warning, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
reportf(conf_report_fn report, void *ctx, const char *key, int warning, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(ctx, key, warning, msg);
}

static bool
mount_ok(const char *m)
{
	const char *p;

	if (m == NULL || *m == '\0' || *m == '/' || strstr(m, "..") != NULL)
		return false;
	for (p = m; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("_-./", *p) != NULL))
			return false;
	return m[strlen(m) - 1] != '/';
}

static void
check_params(const struct conf_cert *cc, conf_report_fn report, void *ctx)
{
	json_error_t jerr;
	json_t *o, *v;
	const char *k;
	size_t i;

	o = json_loads(cc->sectigo_params, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		reportf(report, ctx, "sectigo_params", 0, "not valid JSON: %s (column %d)", jerr.text,
			jerr.column);
		return;
	}
	if (!json_is_object(o)) {
		reportf(report, ctx, "sectigo_params", 0, "must be a JSON object");
		json_decref(o);
		return;
	}
	json_object_foreach(o, k, v) {
		bool refused = strncmp(k, "sectigo_", 8) != 0 || strstr(k, "password") != NULL;
		for (i = 0; i < sizeof(refused_params) / sizeof(refused_params[0]) && !refused; i++)
			refused = strcmp(k, refused_params[i]) == 0;
		if (refused) {
			reportf(report, ctx, "sectigo_params", 0,
				"\"%s\" is not allowed here: only sectigo_* fields, and no credentials "
				"(they belong in the plugin's config entry) or keys (certd sends the CSR)",
				k);
			continue;
		}
		if (json_is_object(v) || json_is_array(v))
			reportf(report, ctx, "sectigo_params", 0,
				"\"%s\": only strings, numbers, booleans and null are sent", k);
	}
	json_decref(o);
}

long long
conf_sectigo_max_timeout(const struct conf_cert *cc)
{
	json_t *o, *v;
	long long n = -1;

	if (cc->sectigo_params == NULL)
		return -1;
	o = json_loads(cc->sectigo_params, 0, NULL);
	v = json_object_get(o, "sectigo_max_timeout");
	if (json_is_integer(v))
		n = (long long)json_integer_value(v);
	else if (json_is_string(v))
		sscanf(json_string_value(v), "%lld", &n);
	json_decref(o);
	return n;
}

void
conf_sectigo_check(const struct conf_cert *cc, conf_report_fn report, void *ctx)
{
	char a[32], b[32];
	long long max;

	if (cc->mount == NULL)
		reportf(report, ctx, "mount", 0, "required with issuer = sectigo (the plugin's mount path)");
	else if (!mount_ok(cc->mount))
		reportf(report, ctx, "mount", 0, "\"%s\" is not a Vault mount path", cc->mount);
	if (cc->sectigo_config == NULL)
		reportf(report, ctx, "sectigo_config", 0,
			"required with issuer = sectigo (the plugin's config entry name)");
	else if (!sectigo_id_ok(cc->sectigo_config))
		reportf(report, ctx, "sectigo_config", 0,
			"\"%s\" is not a config entry name (letters, digits, _ . -)", cc->sectigo_config);
	if (cc->trust_anchor != NULL && access(cc->trust_anchor, R_OK) < 0)
		reportf(report, ctx, "trust_anchor", 0, "cannot read %s: %s", cc->trust_anchor,
			strerror(errno));
	if (cc->sectigo_params != NULL)
		check_params(cc, report, ctx);
	if (cc->sectigo_key == CONF_SECTIGO_KEY_PLUGIN && cc->key_type_name != NULL &&
	    strcasecmp(cc->key_type_name, "ed25519") == 0)
		reportf(report, ctx, "key_type", 0,
			"ed25519 keys cannot be made by the Sectigo plugin (rsa or ec)");
	if (cc->sectigo_poll_initial <= 0)
		reportf(report, ctx, "sectigo_poll_initial", 0, "must be longer than 0s");
	else if (cc->sectigo_poll_max < cc->sectigo_poll_initial)
		reportf(report, ctx, "sectigo_poll_max", 0, "shorter than sectigo_poll_initial");
	if (cc->sectigo_timeout <= 0)
		reportf(report, ctx, "sectigo_timeout", 0, "must be longer than 0s");
	/* The nesting of the three timeouts of an enrollment. */
	duration_format(cc->sectigo_timeout, a, sizeof(a));
	duration_format(cc->sectigo_vault_limit, b, sizeof(b));
	if (cc->sectigo_vault_limit >= cc->sectigo_timeout)
		reportf(report, ctx, "sectigo_timeout", 1,
			"%s is not longer than Vault's request limit (sectigo_vault_limit = %s): "
			"certd may give up on an enrollment Vault is still working on", a, b);
	max = conf_sectigo_max_timeout(cc);
	if (max >= 0 && max >= (long long)cc->sectigo_vault_limit)
		reportf(report, ctx, "sectigo_params", 1,
			"the plugin's sectigo_max_timeout (%llds) does not fit inside Vault's request "
			"limit (sectigo_vault_limit = %s): Vault cuts enrollments short before the "
			"plugin can save its state", max, b);
	if (max >= 0 && max >= (long long)cc->sectigo_timeout)
		reportf(report, ctx, "sectigo_params", 1,
			"the plugin's sectigo_max_timeout (%llds) does not fit inside certd's "
			"sectigo_timeout (%s)", max, a);
}
