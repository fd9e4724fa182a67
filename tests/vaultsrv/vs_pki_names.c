/*
 * vs_pki_names.c — which names a PKI role allows: a transcription of Vault
 * 1.7's validateNames() (builtin/logical/pki/cert_util.go).
 *
 * Order matters and is Vault's: e-mail addresses are reduced to their
 * domain, a leading "*." marks a wildcard, enforce_hostnames applies even
 * with allow_any_name, then localhost, then allowed_domains with
 * allow_bare_domains / allow_subdomains / allow_glob_domains.  IDNA
 * conversion is not done: names must already be ASCII.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "vs.h"

bool
vs_glob(const char *p, const char *s)
{
	/* Go's ryanuber/go-glob: only '*' is special. */
	const char *star = NULL, *mark = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = p++;
			mark = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star + 1;
			s = ++mark;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* Vault's hostnameRegex plus idna.VerifyDNSLength. */
bool
vs_pki_hostname(const char *name)
{
	const char *p = name, *label;
	size_t n;

	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (*p == '\0' || strlen(p) > 253)
		return false;
	for (;;) {
		label = p;
		while (*p != '\0' && *p != '.') {
			if (!isalnum((unsigned char)*p) && *p != '-')
				return false;
			p++;
		}
		n = (size_t)(p - label);
		if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
			return false;
		if (*p == '\0')
			return true;
		p++;
	}
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ".base" suffix match without building a string. */
static bool
subdomain_of(const char *s, const char *base)
{
	size_t n = strlen(s), m = strlen(base);

	return n > m + 1 && s[n - m - 1] == '.' && strcmp(s + n - m, base) == 0;
}

static bool
name_allowed(json_t *role, const char *name)
{
	const char *sanitized = name, *email_domain = name, *at;
	bool is_email = false, is_wildcard = false;
	json_t *domains = json_object_get(role, "allowed_domains"), *d;
	size_t i;

	if ((at = strchr(name, '@')) != NULL) {
		if (strchr(at + 1, '@') != NULL)
			return false;
		sanitized = email_domain = at + 1;
		is_email = true;
	}
	if (strncmp(sanitized, "*.", 2) == 0) {
		sanitized += 2;
		is_wildcard = true;
	}
	if (is_email && is_wildcard)
		return false;
	if (vs_jbool(role, "enforce_hostnames", true) &&
	    !vs_pki_hostname(sanitized))
		return false;
	if (vs_jbool(role, "allow_any_name", false))
		return true;
	if (vs_jbool(role, "allow_localhost", true)) {
		if (strcmp(name, "localhost") == 0 ||
		    strcmp(name, "localdomain") == 0 ||
		    (is_email && strcmp(email_domain, "localhost") == 0) ||
		    (is_email && strcmp(email_domain, "localdomain") == 0))
			return true;
		if (vs_jbool(role, "allow_subdomains", false) &&
		    (has_suffix(sanitized, ".localhost") ||
		    (is_wildcard && strcmp(sanitized, "localhost") == 0) ||
		    has_suffix(sanitized, ".localdomain") ||
		    (is_wildcard && strcmp(sanitized, "localdomain") == 0)))
			return true;
	}
	json_array_foreach(domains, i, d) {
		const char *cur = json_string_value(d);

		if (cur == NULL || *cur == '\0')
			continue;
		if (vs_jbool(role, "allow_bare_domains", false) &&
		    (strcmp(name, cur) == 0 ||
		    (is_email && strcmp(email_domain, cur) == 0)))
			return true;
		if (vs_jbool(role, "allow_subdomains", false) &&
		    (subdomain_of(sanitized, cur) ||
		    (is_wildcard && strcmp(sanitized, cur) == 0)))
			return true;
		if (vs_jbool(role, "allow_glob_domains", false) &&
		    strchr(cur, '*') != NULL && vs_glob(cur, name))
			return true;
	}
	return false;
}

const char *
vs_pki_bad_name(json_t *role, json_t *names)
{
	size_t i;
	json_t *v;

	json_array_foreach(names, i, v)
		if (!name_allowed(role, json_string_value(v)))
			return json_string_value(v);
	return NULL;
}
