/*
 * vs_sectigo.c — the paths of the Sectigo Vault PKI plugin, with SCM (the
 * Sectigo Certificate Manager behind it) simulated in memory and its slow,
 * manual or failing behaviour scriptable.
 *
 * The plugin is closed source; shared/seeds/sectigo-vault-plugin.md and
 * shared/specs/sectigo-plugin.md say what is documented.  Where they are
 * silent this file makes a guess and names it a knob, so that a test can
 * try the other answer.  Served under a mount (default
 * "sectigo-vault-pki"):
 *
 *   configs[/<name>]                    LIST, read, write, delete
 *   enroll/<config>                     write: new SCM order, then collect
 *   certs/<config>                      LIST (404 when empty, as Vault)
 *   certs/<config>/<id>                 read (collect; auto-renew), delete
 *   readcert/<config>/<id>              read local storage only
 *   renew|replace|revoke|fetch/<config>/<id>   write
 *   profile/<config>[/<profile_id>]     LIST, obtain (write), read, delete
 *
 * An entry is the JSON object the plugin shows (cert_unique_id,
 * certificate, certificate_type, csr, domain, private_key, renew_id,
 * ssl_format, ssl_id or order_number, state[]) plus internal fields whose
 * names start with '_' and are never served.  Entries are kept by
 * cert_unique_id; "_in_vault" false means SCM has it and Vault does not
 * (deleted from Vault, so fetch can bring it back).
 *
 * Collecting: every enroll, renew and replace tries once; every read of
 * certs/… (and of readcert/… with readcert_collects) tries again.  The
 * try succeeds when the entry has been read collect_after_reads times
 * since it was ordered and collect_after seconds have passed, and no
 * error (ErrorCode) is pending on it; an error stays until
 * POST /_test/sectigo/approve.  A successful try signs the CSR with the
 * mount's own CA (certificate = leaf PEM + CA PEM) and sets the issued
 * status; an unsuccessful one sets pending_status, or the timeout status
 * (TimedoutStateSaved) when timeout_on_enroll / timeout_on_read say so.
 * The status history only grows when the status changes.
 *
 * Script knobs (mount "script", per config "scripts": {name: {...}}, and
 * POST /_test/sectigo/script): see script_keys[] and the README.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "vs.h"
#include "xalloc.h"

#define DEFAULT_MOUNT "sectigo-vault-pki"
#define FIRST_ID 44166L

struct vs_sectigo {
	struct vs_mount *m;
	char *customer_uri;        /* used when a config has no sectigo_cm_uri */
	X509 *ca;
	EVP_PKEY *ca_key;
	json_t *configs;           /* name -> config entry as written */
	json_t *entries;           /* cert_unique_id -> entry */
	json_t *profiles;          /* config -> {profile id -> profile} */
	json_t *scm_profiles;      /* profile id -> profile, SCM side */
	json_t *script;            /* mount-wide knobs */
	json_t *scripts;           /* config -> knobs overriding the mount's */
	json_t *statuses;          /* role -> status string */
	json_t *counters;          /* config -> {operation -> calls} */
	long next_id;
};

/* Knobs; "validate" checks the JSON type. */
enum knob_type { K_INT, K_DUR, K_BOOL, K_STR, K_ERROR, K_DELAYS };

static const struct {
	const char *name;
	enum knob_type type;
} script_keys[] = {
	{"collect_after_reads", K_INT},    /* reads before a try succeeds */
	{"collect_after", K_DUR},          /* seconds after the order */
	{"timeout_on_enroll", K_BOOL},     /* pending order: TimedoutStateSaved */
	{"timeout_on_read", K_BOOL},       /* pending re-read: the same */
	{"pending_status", K_STR},         /* else: this status ("Applied") */
	{"error", K_ERROR},                /* new orders need approval */
	{"answer_delay_ms", K_DELAYS},     /* {"enroll": ms, ...}; -1: never */
	{"auto_renew", K_BOOL},            /* renew on a certs/ read ... */
	{"renew_window", K_DUR},           /* ... this close to notAfter */
	{"validity", K_DUR},               /* overrides the requested days */
	{"readcert_collects", K_BOOL},     /* readcert/ tries to collect too */
	{"replace_new_id", K_BOOL},        /* replace gives a new SCM id */
	{"pending_certificate", K_STR},    /* "absent" or "empty" */
};

/* Status strings, renamable per mount ("statuses"). */
static const struct {
	const char *role;
	const char *def;
} status_roles[] = {
	{"applied", "Applied"},
	{"issued", "Issued"},
	{"timeout", "TimedoutStateSaved"},
	{"error", "ErrorCode"},
	{"revoked", "Revoked"},
	{"renewed", "Renewed"},
	{"replaced", "Replaced"},
};

static const char *const counter_names[] = {"enroll", "renew", "replace",
    "revoke", "fetch", "read", "readcert", "collect", "issued", "auto_renew",
    "delete", NULL};

/* ---- small helpers ---- */

static json_t *
knob(struct vs_sectigo *s, const char *config, const char *key)
{
	json_t *v = json_object_get(json_object_get(s->scripts, config), key);

	return v != NULL ? v : json_object_get(s->script, key);
}

static long
knob_int(struct vs_sectigo *s, const char *config, const char *key, long def)
{
	json_t *v = knob(s, config, key);
	long n;

	if (v == NULL || json_is_null(v) || vs_duration(v, &n) < 0)
		return def;
	return n;
}

static bool
knob_bool(struct vs_sectigo *s, const char *config, const char *key)
{
	return json_is_true(knob(s, config, key));
}

static const char *
status_name(struct vs_sectigo *s, const char *role)
{
	const char *v = vs_jstr(s->statuses, role);
	size_t i;

	if (v != NULL)
		return v;
	for (i = 0; i < sizeof(status_roles) / sizeof(status_roles[0]); i++)
		if (strcmp(status_roles[i].role, role) == 0)
			return status_roles[i].def;
	return role;
}

/* A config's counters, all zero at first so tests can assert a 0. */
static json_t *
counters_of(struct vs_sectigo *s, const char *config)
{
	json_t *c = json_object_get(s->counters, config);
	size_t i;

	if (c == NULL) {
		c = json_object();
		for (i = 0; counter_names[i] != NULL; i++)
			json_object_set_new(c, counter_names[i], json_integer(0));
		json_object_set_new(s->counters, config, c);
	}
	return c;
}

static void
count(struct vs_sectigo *s, const char *config, const char *op)
{
	json_t *c = counters_of(s, config);

	json_object_set_new(c, op, json_integer(vs_jint(c, op, 0) + 1));
}

static int
validate_script(json_t *in, const char *where, struct err *e)
{
	const char *key, *k2;
	json_t *v, *d;
	size_t i;
	long n;

	if (!json_is_object(in))
		return err_set(e, EINVAL, "%s: expected an object", where);
	json_object_foreach(in, key, v) {
		for (i = 0; i < sizeof(script_keys) / sizeof(script_keys[0]); i++)
			if (strcmp(script_keys[i].name, key) == 0)
				break;
		if (i == sizeof(script_keys) / sizeof(script_keys[0]))
			return err_set(e, EINVAL, "%s: unknown key '%s'", where, key);
		if (json_is_null(v))
			continue;	/* removes the knob */
		switch (script_keys[i].type) {
		case K_INT:
		case K_DUR:
			if (vs_duration(v, &n) < 0)
				return err_set(e, EINVAL, "%s.%s: expected a number or "
				    "a duration", where, key);
			break;
		case K_BOOL:
			if (!json_is_boolean(v))
				return err_set(e, EINVAL, "%s.%s: expected true or false",
				    where, key);
			break;
		case K_STR:
			if (!json_is_string(v))
				return err_set(e, EINVAL, "%s.%s: expected a string",
				    where, key);
			break;
		case K_ERROR:
			if (!json_is_object(v) && !json_is_boolean(v))
				return err_set(e, EINVAL, "%s.%s: expected {\"code\", "
				    "\"description\"} or a boolean", where, key);
			break;
		case K_DELAYS:
			if (!json_is_object(v))
				return err_set(e, EINVAL, "%s.%s: expected {\"enroll\": "
				    "ms, ...}", where, key);
			json_object_foreach(v, k2, d)
				if (!json_is_integer(d))
					return err_set(e, EINVAL, "%s.%s.%s: expected "
					    "milliseconds (-1: never)", where, key, k2);
			break;
		}
	}
	return 0;
}

/* Merge knobs into *dst; a null value removes one. */
static void
merge_script(json_t *dst, json_t *src)
{
	const char *key;
	json_t *v;

	json_object_foreach(src, key, v) {
		if (json_is_null(v))
			json_object_del(dst, key);
		else
			json_object_set(dst, key, v);
	}
}

static char *
now_str(void)
{
	return vs_rfc3339(time(NULL), 0);
}

static const char *
customer_uri(struct vs_sectigo *s, const char *config)
{
	const char *u = vs_jstr(json_object_get(s->configs, config),
	    "sectigo_cm_uri");

	return u != NULL && *u != '\0' ? u : s->customer_uri;
}

static bool
is_client(json_t *ent)
{
	const char *t = vs_jstr(ent, "certificate_type");

	return t != NULL && strcmp(t, "client_cert") == 0;
}

/* What the plugin shows: the entry without the '_' fields. */
static json_t *
render(struct vs_sectigo *s, json_t *ent)
{
	json_t *out = json_object(), *v;
	const char *key, *pc;

	json_object_foreach(ent, key, v)
		if (key[0] != '_')
			json_object_set(out, key, v);
	pc = json_string_value(knob(s, vs_jstr(ent, "_config"),
	    "pending_certificate"));
	if (json_object_get(out, "certificate") == NULL && pc != NULL &&
	    strcmp(pc, "empty") == 0)
		json_object_set_new(out, "certificate", json_string(""));
	return out;
}

static void
reply_entry(struct vs_req *r, struct vs_sectigo *s, json_t *ent,
    const char *delay_op)
{
	struct vs_resp resp = {0};
	json_t *delays = delay_op ? knob(s, vs_jstr(ent, "_config"),
	    "answer_delay_ms") : NULL;
	long ms = vs_jint(delays, delay_op ? delay_op : "", 0);

	resp.data = render(s, ent);
	vs_reply_json_after(r, 200, vs_envelope(&resp), ms);
}

/* Append to the status history when the status changes. */
static void
set_status(json_t *ent, const char *status)
{
	json_t *hist = json_object_get(ent, "state");
	json_t *last = json_array_get(hist, json_array_size(hist) - 1);
	char *t;

	if (json_array_size(hist) > 0 && vs_jstr(last, "status") != NULL &&
	    strcmp(vs_jstr(last, "status"), status) == 0)
		return;
	t = now_str();
	json_array_append_new(hist, json_pack("{ss ss}", "status", status,
	    "time_stamp", t));
	free(t);
}

static bool
entry_done(json_t *ent)
{
	return vs_jbool(ent, "_issued", false) || vs_jbool(ent, "_revoked", false);
}

/* ---- keys and CSRs ---- */

static int __attribute__((format(printf, 3, 4)))
user_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static X509_REQ *
parse_csr(const char *pem, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	EVP_PKEY *pub;

	BIO_free(bio);
	if (req == NULL) {
		user_err(err, errlen, "sectigo_csr: not a PEM certificate request");
	} else if ((pub = X509_REQ_get0_pubkey(req)) == NULL ||
	    X509_REQ_verify(req, pub) != 1) {
		user_err(err, errlen, "sectigo_csr: the signature is invalid");
		X509_REQ_free(req);
		req = NULL;
	}
	ERR_clear_error();
	return req;
}

/* sectigo_csr_key_algo / _key_size (strings or numbers) -> a new key. */
static EVP_PKEY *
gen_key(json_t *in, char *err, size_t errlen)
{
	const char *algo = vs_jstr(in, "sectigo_csr_key_algo");
	long bits = vs_jint(in, "sectigo_csr_key_size", 0);
	EVP_PKEY *k = NULL;
	struct err e = {{0}};
	const char *type = "rsa";

	if (algo != NULL && (strcasecmp(algo, "EC") == 0 ||
	    strcasecmp(algo, "ECDSA") == 0))
		type = "ec";
	else if (algo != NULL && strcasecmp(algo, "RSA") != 0) {
		user_err(err, errlen, "sectigo_csr_key_algo: unsupported %s", algo);
		return NULL;
	}
	if (vs_keygen(type, bits, &k, &e) < 0)
		user_err(err, errlen, "sectigo_csr_key_size: %s", e.msg);
	return k;
}

static void
name_add(X509_NAME *n, const char *field, const char *v)
{
	if (v != NULL && *v != '\0')
		X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
		    (const unsigned char *)v, -1, -1, 0);
}

/* The CSR the plugin builds from the sectigo_csr_* fields. */
static X509_REQ *
make_csr(json_t *in, EVP_PKEY *key, const char *domain, char *err,
    size_t errlen)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();

	name_add(n, "C", vs_jstr(in, "sectigo_csr_country"));
	name_add(n, "ST", vs_jstr(in, "sectigo_csr_state"));
	name_add(n, "L", vs_jstr(in, "sectigo_csr_location"));
	name_add(n, "O", vs_jstr(in, "sectigo_csr_organization"));
	name_add(n, "OU", vs_jstr(in, "sectigo_csr_organization_unit"));
	name_add(n, "CN", domain);
	name_add(n, "emailAddress", vs_jstr(in, "sectigo_csr_email_address"));
	if (X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, n) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
		user_err(err, errlen, "cannot build the CSR");
		X509_REQ_free(req);
		req = NULL;
	}
	X509_NAME_free(n);
	ERR_clear_error();
	return req;
}

static char *
csr_pem(X509_REQ *req)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	PEM_write_bio_X509_REQ(bio, req);
	n = BIO_get_mem_data(bio, &p);
	s = xstrndup(p, n > 0 ? (size_t)n : 0);
	BIO_free(bio);
	return s;
}

/*
 * The CSR and key of an order: sectigo_csr and/or sectigo_private_key
 * when given (they must match), else a key and CSR made from the
 * sectigo_csr_* fields.  *key_pem is "" when the plugin holds no key.
 */
static int
order_csr(json_t *in, const char *domain_def, X509_REQ **out, char **key_pem,
    char **domain, char *err, size_t errlen)
{
	const char *csr = vs_jstr(in, "sectigo_csr");
	const char *kp = vs_jstr(in, "sectigo_private_key");
	const char *dom = vs_jstr(in, "sectigo_csr_domain");
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	int rc = 0;

	if (kp != NULL && *kp != '\0' && (key = vs_pem_to_key(kp)) == NULL) {
		ERR_clear_error();
		return user_err(err, errlen, "sectigo_private_key: not a PEM "
		    "private key");
	}
	if (csr != NULL && *csr != '\0') {
		if ((req = parse_csr(csr, err, errlen)) == NULL) {
			rc = -EINVAL;
			goto out;
		}
		if (key != NULL &&
		    EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key) != 1) {
			rc = user_err(err, errlen, "sectigo_private_key does not "
			    "match sectigo_csr");
			goto out;
		}
	} else {
		if (dom == NULL || *dom == '\0')
			dom = domain_def;
		if (dom == NULL || *dom == '\0') {
			rc = user_err(err, errlen, "sectigo_csr_domain is required "
			    "when no sectigo_csr is given");
			goto out;
		}
		if (key == NULL && (key = gen_key(in, err, errlen)) == NULL) {
			rc = -EINVAL;
			goto out;
		}
		if ((req = make_csr(in, key, dom, err, errlen)) == NULL) {
			rc = -EINVAL;
			goto out;
		}
	}
	*key_pem = key ? vs_pem_key(key, false) : xstrdup("");
	*domain = vs_name_cn(X509_REQ_get_subject_name(req));
	if (**domain == '\0' && dom != NULL) {
		free(*domain);
		*domain = xstrdup(dom);
	}
	*out = req;
	req = NULL;
out:
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

/* ---- profiles ---- */

static bool
profile_key_ok(json_t *prof, EVP_PKEY *pub)
{
	json_t *kt = json_object_get(prof, "keyTypes"), *sizes, *v;
	const char *type = strcmp(vs_key_type(pub), "rsa") == 0 ? "RSA" :
	    strcmp(vs_key_type(pub), "ec") == 0 ? "EC" : "?";
	char bits[16], pbits[20];
	size_t i;

	if (!json_is_object(kt) || json_object_size(kt) == 0)
		return true;
	if ((sizes = json_object_get(kt, type)) == NULL)
		return false;
	if (json_array_size(sizes) == 0)
		return true;
	snprintf(bits, sizeof(bits), "%d", EVP_PKEY_get_bits(pub));
	snprintf(pbits, sizeof(pbits), "P-%d", EVP_PKEY_get_bits(pub));
	json_array_foreach(sizes, i, v) {
		if (json_is_integer(v) &&
		    json_integer_value(v) == EVP_PKEY_get_bits(pub))
			return true;
		if (json_is_string(v) && (strcmp(json_string_value(v), bits) == 0 ||
		    strcmp(json_string_value(v), pbits) == 0))
			return true;
	}
	return false;
}

/* enroll/replace are checked against a profile stored for the config. */
static int
profile_check(struct vs_sectigo *s, const char *config, json_t *in,
    X509_REQ *req, char *err, size_t errlen)
{
	json_t *type = json_object_get(in, "sectigo_ssl_cert_type"), *prof, *t;
	long days = vs_jint(in, "sectigo_ssl_cert_validity", 0);
	char pid[32];
	size_t i;
	bool term_ok = false;

	if (json_is_integer(type))
		snprintf(pid, sizeof(pid), "%lld", (long long)json_integer_value(type));
	else if (json_is_string(type))
		snprintf(pid, sizeof(pid), "%s", json_string_value(type));
	else
		return 0;
	prof = json_object_get(json_object_get(s->profiles, config), pid);
	if (prof == NULL)
		return 0;
	if (!profile_key_ok(prof, X509_REQ_get0_pubkey(req)))
		return user_err(err, errlen, "the key of the CSR is not allowed by "
		    "certificate profile %s", pid);
	if (days == 0 || json_array_size(json_object_get(prof, "terms")) == 0)
		return 0;
	json_array_foreach(json_object_get(prof, "terms"), i, t)
		if (json_is_integer(t) && json_integer_value(t) == days)
			term_ok = true;
	if (!term_ok)
		return user_err(err, errlen, "validity of %ld days is not a term of "
		    "certificate profile %s", days, pid);
	return 0;
}

/* ---- collecting ---- */

static int
issue(struct vs_sectigo *s, struct vs_state *st, json_t *ent, char *err,
    size_t errlen)
{
	struct vs_certspec spec = {0};
	X509_REQ *req = parse_csr(vs_jstr(ent, "csr"), err, errlen);
	X509 *x = NULL;
	struct err e = {{0}};
	char *cn = NULL, *leaf, *ca;
	json_t *ips = NULL, *uris = NULL, *v;
	time_t now = time(NULL);
	size_t i;
	int rc;

	if (req == NULL)
		return -EINVAL;
	vs_csr_names(req, &cn, &spec.dns, &ips, &spec.emails, &uris);
	json_array_foreach(json_object_get(ent, "_sans"), i, v)
		json_array_append(spec.dns, v);
	if (*cn != '\0' && !is_client(ent) && vs_pki_hostname(cn))
		json_array_insert_new(spec.dns, 0, json_string(cn));
	spec.subject = X509_REQ_get_subject_name(req);
	spec.pubkey = X509_REQ_get0_pubkey(req);
	spec.ips = ips;
	spec.not_before = now - 30;
	spec.not_after = now + vs_jint(ent, "_validity", 365L * 86400);
	spec.max_path_len = -1;
	spec.ku = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
	spec.eku = is_client(ent) ? VS_EKU_CLIENT | VS_EKU_EMAIL :
	    VS_EKU_SERVER | VS_EKU_CLIENT;
	if ((rc = vs_sign_cert(&spec, s->ca, s->ca_key, &x, &e)) < 0) {
		user_err(err, errlen, "SCM could not issue: %s", e.msg);
		goto out;
	}
	leaf = vs_pem_cert(x);
	ca = vs_pem_cert(s->ca);
	json_object_set_new(ent, "certificate", json_sprintf("%s\n%s\n", leaf,
	    ca));
	free(leaf);
	free(ca);
	json_object_set_new(ent, "_issued", json_true());
	json_object_set_new(ent, "_not_after", json_integer(
	    (json_int_t)spec.not_after));
	json_object_set_new(st->issued, s->m->path, json_integer(
	    vs_jint(st->issued, s->m->path, 0) + 1));
	count(s, vs_jstr(ent, "_config"), "issued");
out:
	X509_free(x);
	X509_REQ_free(req);
	json_decref(spec.dns);
	json_decref(spec.emails);
	json_decref(ips);
	json_decref(uris);
	free(cn);
	return rc;
}

static void
set_error(struct vs_sectigo *s, json_t *ent, long code, const char *desc)
{
	json_t *hist = json_object_get(ent, "state"), *last;

	set_status(ent, status_name(s, "error"));
	last = json_array_get(hist, json_array_size(hist) - 1);
	json_object_set_new(last, "error_code", json_integer(code));
	json_object_set_new(last, "error_description", json_string(desc));
	json_object_set_new(ent, "ErrorCode", json_integer(code));
	json_object_set_new(ent, "ErrorDescription", json_string(desc));
}

/* One attempt to collect the certificate from SCM.  ordered: the attempt
 * of enroll/renew/replace itself, which is not a re-read. */
static void
collect(struct vs_sectigo *s, struct vs_state *st, json_t *ent, bool ordered)
{
	const char *config = vs_jstr(ent, "_config");
	json_t *error = json_object_get(ent, "_error");
	long reads = vs_jint(ent, "_reads", 0);
	time_t age = time(NULL) - (time_t)vs_jint(ent, "_created", 0);
	char err[512];

	if (entry_done(ent))
		return;
	if (!ordered) {
		json_object_set_new(ent, "_reads", json_integer(++reads));
		count(s, config, "collect");
	}
	if (error != NULL) {
		set_error(s, ent, vs_jint(error, "code", -1),
		    vs_jstr(error, "description") ? vs_jstr(error, "description") :
		    "Certificate request requires manual approval");
		return;
	}
	if (reads >= knob_int(s, config, "collect_after_reads", 0) &&
	    age >= knob_int(s, config, "collect_after", 0)) {
		if (issue(s, st, ent, err, sizeof(err)) < 0) {
			set_error(s, ent, -1, err);
			return;
		}
		json_object_del(ent, "ErrorCode");
		json_object_del(ent, "ErrorDescription");
		set_status(ent, status_name(s, "issued"));
		return;
	}
	if (knob_bool(s, config, ordered ? "timeout_on_enroll" : "timeout_on_read"))
		set_status(ent, status_name(s, "timeout"));
	else
		set_status(ent, json_string_value(knob(s, config, "pending_status")) ?
		    json_string_value(knob(s, config, "pending_status")) :
		    status_name(s, "applied"));
}

/* The script's "error" for a new order (or a replaced CSR). */
static void
script_error(struct vs_sectigo *s, const char *config, json_t *ent)
{
	json_t *error = knob(s, config, "error");

	if (json_is_object(error))
		json_object_set(ent, "_error", error);
	else if (json_is_true(error))
		json_object_set_new(ent, "_error", json_object());
}

/* A new SCM order: a new id, the request's CSR and key, a first try. */
static json_t *
new_entry(struct vs_sectigo *s, const char *config, json_t *in,
    X509_REQ *req, const char *key_pem, const char *domain, json_t *like)
{
	json_t *cfg = json_object_get(s->configs, config), *ent, *sans;
	const char *type = vs_jstr(cfg, "sectigo_config_type");
	long id = s->next_id++, days, validity;
	char *uid, *renew_id = vs_random_id("", 20), *pem = csr_pem(req);

	if (like != NULL)
		type = vs_jstr(like, "certificate_type");
	if (type == NULL || *type == '\0')
		type = "ssl_cert";
	uid = xasprintf("%ld_%s", id, customer_uri(s, config));
	ent = json_pack("{ss ss ss ss ss ss s[] ss sb sI sI}",
	    "cert_unique_id", uid, "certificate_type", type, "csr", pem,
	    "domain", domain, "private_key", key_pem, "renew_id", renew_id,
	    "state", "_config", config, "_in_vault", 1,
	    "_created", (json_int_t)time(NULL), "_reads", (json_int_t)0);
	if (strcmp(type, "client_cert") == 0) {
		json_object_set_new(ent, "order_number", json_integer(id));
	} else {
		json_object_set_new(ent, "ssl_id", json_integer(id));
		json_object_set_new(ent, "ssl_format", json_string(
		    vs_jstr(in, "sectigo_ssl_cert_format_type") ?
		    vs_jstr(in, "sectigo_ssl_cert_format_type") :
		    like && vs_jstr(like, "ssl_format") ?
		    vs_jstr(like, "ssl_format") : "X509"));
	}
	sans = like ? json_incref(json_object_get(like, "_sans")) :
	    vs_jlist(json_object_get(in, "sectigo_ssl_cert_subject_alt_names"));
	json_object_set_new(ent, "_sans", sans ? sans : json_array());
	days = vs_jint(in, "sectigo_ssl_cert_validity",
	    vs_jint(in, "sectigo_client_cert_validity", 0));
	validity = days > 0 ? days * 86400 :
	    like ? vs_jint(like, "_validity", 365L * 86400) : 365L * 86400;
	validity = knob_int(s, config, "validity", validity);
	json_object_set_new(ent, "_validity", json_integer(validity));
	script_error(s, config, ent);
	json_object_set_new(s->entries, uid, ent);
	free(uid);
	free(renew_id);
	free(pem);
	return ent;
}

/* ---- the plugin's paths ---- */

static json_t *
find_entry(struct vs_sectigo *s, const char *config, const char *id,
    bool in_vault)
{
	json_t *ent = json_object_get(s->entries, id);

	if (ent == NULL || strcmp(vs_jstr(ent, "_config"), config) != 0 ||
	    (in_vault && !vs_jbool(ent, "_in_vault", false)))
		return NULL;
	return ent;
}

static void
configs(struct vs_req *r, struct vs_sectigo *s, const char *name)
{
	json_t *cfg, *out, *keys;
	const char *k, *type;

	if (*name == '\0' || r->method == VS_LIST) {
		if (r->method != VS_LIST || *name != '\0') {
			vs_reply_errorf(r, 405, "unsupported operation");
			return;
		}
		keys = json_array();
		json_object_foreach(s->configs, k, cfg)
			json_array_append_new(keys, json_string(k));
		if (json_array_size(keys) == 0) {
			json_decref(keys);
			vs_reply_error(r, 404, NULL);
			return;
		}
		vs_reply_data(r, json_pack("{so}", "keys", keys));
		return;
	}
	cfg = json_object_get(s->configs, name);
	switch (r->method) {
	case VS_GET:
	case VS_HEAD:
		if (cfg == NULL) {
			vs_reply_error(r, 404, NULL);
			return;
		}
		/* Guess: the SCM password is not shown back. */
		out = json_deep_copy(cfg);
		json_object_del(out, "sectigo_cm_password");
		vs_reply_data(r, out);
		return;
	case VS_POST:
	case VS_PUT:
		type = vs_jstr(r->json, "sectigo_config_type");
		if (type != NULL && strcmp(type, "ssl_cert") != 0 &&
		    strcmp(type, "client_cert") != 0) {
			vs_reply_error(r, 400, "sectigo_config_type must be ssl_cert "
			    "or client_cert");
			return;
		}
		json_object_set_new(s->configs, name, json_deep_copy(r->json));
		counters_of(s, name);
		vs_reply_204(r);
		return;
	case VS_DELETE:
		json_object_del(s->configs, name);
		vs_reply_204(r);
		return;
	default:
		vs_reply_errorf(r, 405, "unsupported operation");
	}
}

static void
enroll(struct vs_req *r, struct vs_sectigo *s, const char *config)
{
	X509_REQ *req = NULL;
	char *key_pem = NULL, *domain = NULL;
	char err[512];
	json_t *ent;

	count(s, config, "enroll");
	if (json_object_get(s->configs, config) == NULL) {
		vs_reply_errorf(r, 400, "config entry %s not found", config);
		return;
	}
	if (order_csr(r->json, NULL, &req, &key_pem, &domain, err,
	    sizeof(err)) < 0 ||
	    profile_check(s, config, r->json, req, err, sizeof(err)) < 0) {
		vs_reply_error(r, 400, err);
		goto out;
	}
	ent = new_entry(s, config, r->json, req, key_pem, domain, NULL);
	collect(s, r->st, ent, true);
	reply_entry(r, s, ent, "enroll");
out:
	X509_REQ_free(req);
	if (key_pem != NULL)
		xfree_secret(key_pem, strlen(key_pem));
	free(domain);
}

static void
list_certs(struct vs_req *r, struct vs_sectigo *s, const char *config)
{
	json_t *keys = json_array(), *ent;
	const char *id;

	json_object_foreach(s->entries, id, ent)
		if (strcmp(vs_jstr(ent, "_config"), config) == 0 &&
		    vs_jbool(ent, "_in_vault", false))
			json_array_append_new(keys, json_string(id));
	if (json_array_size(keys) == 0) {
		json_decref(keys);
		vs_reply_error(r, 404, NULL);
		return;
	}
	vs_reply_data(r, json_pack("{so}", "keys", keys));
}

/* renew/<config>/<id> and the auto-renewal of a read: a new SCM order
 * with the same CSR and key. */
static json_t *
renew_entry(struct vs_sectigo *s, struct vs_state *st, json_t *old)
{
	const char *config = vs_jstr(old, "_config");
	X509_REQ *req = parse_csr(vs_jstr(old, "csr"), NULL, 0);
	json_t *in = json_object(), *ent;

	ent = new_entry(s, config, in, req, vs_jstr(old, "private_key"),
	    vs_jstr(old, "domain"), old);
	json_decref(in);
	X509_REQ_free(req);
	set_status(old, status_name(s, "renewed"));
	json_object_set(old, "_renewed_to", json_object_get(ent,
	    "cert_unique_id"));
	collect(s, st, ent, true);
	return ent;
}

static void
read_cert(struct vs_req *r, struct vs_sectigo *s, const char *config,
    json_t *ent, bool local)
{
	long window = knob_int(s, config, "renew_window", 30L * 86400);

	count(s, config, local ? "readcert" : "read");
	if (!local && vs_jbool(ent, "_issued", false) &&
	    !vs_jbool(ent, "_revoked", false) &&
	    knob_bool(s, config, "auto_renew") &&
	    json_object_get(ent, "_renewed_to") == NULL &&
	    vs_jint(ent, "_not_after", 0) - (long)time(NULL) < window) {
		count(s, config, "auto_renew");
		ent = renew_entry(s, r->st, ent);
	} else if (!local || knob_bool(s, config, "readcert_collects")) {
		collect(s, r->st, ent, false);
	}
	reply_entry(r, s, ent, NULL);
}

static void
replace(struct vs_req *r, struct vs_sectigo *s, const char *config,
    json_t *ent)
{
	X509_REQ *req = NULL;
	char *key_pem = NULL, *domain = NULL;
	char err[512];
	json_t *in;

	if (order_csr(r->json, vs_jstr(ent, "domain"), &req, &key_pem, &domain,
	    err, sizeof(err)) < 0 ||
	    profile_check(s, config, r->json, req, err, sizeof(err)) < 0) {
		vs_reply_error(r, 400, err);
		goto out;
	}
	set_status(ent, status_name(s, "replaced"));
	if (knob_bool(s, config, "replace_new_id")) {
		in = json_deep_copy(r->json);
		ent = new_entry(s, config, in, req, key_pem, domain, ent);
		json_decref(in);
	} else {
		char *pem = csr_pem(req);

		json_object_set_new(ent, "csr", json_string(pem));
		json_object_set_new(ent, "private_key", json_string(key_pem));
		json_object_set_new(ent, "domain", json_string(domain));
		json_object_del(ent, "certificate");
		json_object_del(ent, "_issued");
		json_object_del(ent, "_not_after");
		json_object_set_new(ent, "_reads", json_integer(0));
		json_object_set_new(ent, "_created", json_integer(
		    (json_int_t)time(NULL)));
		free(pem);
		script_error(s, config, ent);
	}
	collect(s, r->st, ent, true);
	reply_entry(r, s, ent, "replace");
out:
	X509_REQ_free(req);
	if (key_pem != NULL)
		xfree_secret(key_pem, strlen(key_pem));
	free(domain);
}

/* <op>/<config>/<id> for certs (read, delete), readcert, renew, replace,
 * revoke and fetch. */
static void
cert_op(struct vs_req *r, struct vs_sectigo *s, const char *op,
    const char *config, const char *id)
{
	bool write = r->method == VS_POST || r->method == VS_PUT;
	bool get = r->method == VS_GET || r->method == VS_HEAD;
	bool fetch = strcmp(op, "fetch") == 0;
	json_t *ent;

	if (strcmp(op, "certs") == 0 && r->method == VS_DELETE) {
		count(s, config, "delete");
		if ((ent = find_entry(s, config, id, true)) != NULL)
			json_object_set_new(ent, "_in_vault", json_false());
		vs_reply_204(r);
		return;
	}
	if ((strcmp(op, "certs") == 0 || strcmp(op, "readcert") == 0) ? !get :
	    !write) {
		vs_reply_errorf(r, 405, "unsupported operation");
		return;
	}
	if (write)
		count(s, config, op);
	ent = find_entry(s, config, id, !fetch);
	if (ent == NULL) {
		if (get)
			vs_reply_error(r, 404, NULL);
		else
			vs_reply_errorf(r, 400, "certificate %s not found under "
			    "config %s", id, config);
		return;
	}
	if (get) {
		read_cert(r, s, config, ent, strcmp(op, "readcert") == 0);
	} else if (fetch) {
		json_object_set_new(ent, "_in_vault", json_true());
		collect(s, r->st, ent, false);
		reply_entry(r, s, ent, "fetch");
	} else if (strcmp(op, "revoke") == 0) {
		if (!vs_jbool(ent, "_revoked", false)) {
			json_object_set_new(ent, "_revoked", json_true());
			set_status(ent, status_name(s, "revoked"));
		}
		reply_entry(r, s, ent, "revoke");
	} else if (vs_jbool(ent, "_revoked", false)) {
		vs_reply_errorf(r, 400, "certificate %s is revoked", id);
	} else if (strcmp(op, "renew") == 0) {
		reply_entry(r, s, renew_entry(s, r->st, ent), "renew");
	} else {
		replace(r, s, config, ent);
	}
}

static void
profile(struct vs_req *r, struct vs_sectigo *s, const char *config,
    const char *pid)
{
	json_t *stored = json_object_get(s->profiles, config), *p, *keys;
	const char *k;

	if (*pid == '\0') {
		if (r->method != VS_LIST) {
			vs_reply_errorf(r, 405, "unsupported operation");
			return;
		}
		keys = json_array();
		json_object_foreach(stored, k, p)
			json_array_append_new(keys, json_string(k));
		if (json_array_size(keys) == 0) {
			json_decref(keys);
			vs_reply_error(r, 404, NULL);
			return;
		}
		vs_reply_data(r, json_pack("{so}", "keys", keys));
		return;
	}
	switch (r->method) {
	case VS_GET:
	case VS_HEAD:
		if ((p = json_object_get(stored, pid)) == NULL)
			vs_reply_error(r, 404, NULL);
		else
			vs_reply_data(r, json_deep_copy(p));
		return;
	case VS_POST:
	case VS_PUT:
		if (json_object_get(s->configs, config) == NULL) {
			vs_reply_errorf(r, 400, "config entry %s not found", config);
			return;
		}
		if ((p = json_object_get(s->scm_profiles, pid)) == NULL) {
			vs_reply_errorf(r, 400, "certificate profile %s not found "
			    "in SCM", pid);
			return;
		}
		if (stored == NULL) {
			stored = json_object();
			json_object_set_new(s->profiles, config, stored);
		}
		json_object_set_new(stored, pid, json_deep_copy(p));
		vs_reply_data(r, json_deep_copy(p));
		return;
	case VS_DELETE:
		json_object_del(stored, pid);
		vs_reply_204(r);
		return;
	default:
		vs_reply_errorf(r, 405, "unsupported operation");
	}
}

void
vs_sectigo_handle(struct vs_req *r, struct vs_mount *m, const char *rest)
{
	struct vs_sectigo *s = m->sectigo;
	const char *slash = strchr(rest, '/'), *arg = slash ? slash + 1 : "";
	char *op = slash ? xstrndup(rest, (size_t)(slash - rest)) :
	    xstrdup(rest), *config = NULL;
	const char *id;

	/* <op>/<config>[/<id>]: config and id are single segments. */
	slash = strchr(arg, '/');
	config = slash ? xstrndup(arg, (size_t)(slash - arg)) : xstrdup(arg);
	id = slash ? slash + 1 : NULL;
	if (strcmp(op, "configs") == 0 && id == NULL)
		configs(r, s, config);
	else if (*config == '\0' || (id != NULL && (*id == '\0' ||
	    strchr(id, '/') != NULL)))
		vs_reply_errorf(r, 404, "no handler for route '%s'", r->path);
	else if (strcmp(op, "enroll") == 0 && id == NULL &&
	    (r->method == VS_POST || r->method == VS_PUT))
		enroll(r, s, config);
	else if (strcmp(op, "certs") == 0 && id == NULL && r->method == VS_LIST)
		list_certs(r, s, config);
	else if (id != NULL && (strcmp(op, "certs") == 0 ||
	    strcmp(op, "readcert") == 0 || strcmp(op, "renew") == 0 ||
	    strcmp(op, "replace") == 0 || strcmp(op, "revoke") == 0 ||
	    strcmp(op, "fetch") == 0))
		cert_op(r, s, op, config, id);
	else if (strcmp(op, "profile") == 0)
		profile(r, s, config, id ? id : "");
	else
		vs_reply_errorf(r, 404, "no handler for route '%s'", r->path);
	free(op);
	free(config);
}

/* ---- set-up ---- */

void
vs_sectigo_free(struct vs_sectigo *s)
{
	X509_free(s->ca);
	EVP_PKEY_free(s->ca_key);
	json_decref(s->configs);
	json_decref(s->entries);
	json_decref(s->profiles);
	json_decref(s->scm_profiles);
	json_decref(s->script);
	json_decref(s->scripts);
	json_decref(s->statuses);
	json_decref(s->counters);
	free(s->customer_uri);
	free(s);
}

static int
make_ca(struct vs_sectigo *s, json_t *ca, const char *where, struct err *e)
{
	static const char *const keys[] = {"common_name", "key_type", "key_bits",
	    NULL};
	struct vs_certspec spec = {0};
	X509_NAME *name;
	const char *cn = vs_jstr(ca, "common_name"), *k;
	char *dflt = NULL;
	time_t now = time(NULL);
	json_t *v;
	size_t i;
	int rc;

	json_object_foreach(ca, k, v) {
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(keys[i], k) == 0)
				break;
		if (keys[i] == NULL)
			return err_set(e, EINVAL, "%s.ca: unknown key '%s'", where, k);
	}
	if ((rc = vs_keygen(vs_jstr(ca, "key_type") ? vs_jstr(ca, "key_type") :
	    "ec", vs_jint(ca, "key_bits", 0), &s->ca_key, e)) < 0)
		return rc;
	if (cn == NULL)
		cn = dflt = xasprintf("vaultsrv Sectigo test CA (%s)", s->m->path);
	name = X509_NAME_new();
	name_add(name, "O", "vaultsrv SCM");
	name_add(name, "CN", cn);
	spec.subject = name;
	spec.pubkey = s->ca_key;
	spec.not_before = now - 30;
	spec.not_after = now + 87600L * 3600;
	spec.is_ca = true;
	spec.max_path_len = -1;
	spec.ku = KU_KEY_CERT_SIGN | KU_CRL_SIGN;
	rc = vs_sign_cert(&spec, NULL, s->ca_key, &s->ca, e);
	X509_NAME_free(name);
	free(dflt);
	return rc;
}

static int
setup_mount(struct vs_mount *m, struct err *e)
{
	struct vs_sectigo *s = xcalloc(1, sizeof(*s));
	json_t *cfg = m->cfg, *v;
	const char *key, *uri = vs_jstr(cfg, "customer_uri");
	char where[128];
	size_t i;
	int rc;

	m->sectigo = s;
	s->m = m;
	s->next_id = FIRST_ID;
	s->customer_uri = xstrdup(uri ? uri : "vaultsrv");
	s->configs = json_object();
	s->entries = json_object();
	s->profiles = json_object();
	s->counters = json_object();
	s->scm_profiles = json_object_get(cfg, "scm_profiles") ?
	    json_deep_copy(json_object_get(cfg, "scm_profiles")) : json_object();
	s->script = json_object();
	s->scripts = json_object();
	s->statuses = json_object();
	snprintf(where, sizeof(where), "sectigo %s", m->path);
	if ((rc = make_ca(s, json_object_get(cfg, "ca"), where, e)) < 0)
		return rc;
	json_object_foreach(json_object_get(cfg, "configs"), key, v) {
		if (!json_is_object(v))
			return err_set(e, EINVAL, "%s.configs.%s: expected an object",
			    where, key);
		json_object_set_new(s->configs, key, json_deep_copy(v));
		counters_of(s, key);
	}
	if ((v = json_object_get(cfg, "script")) != NULL) {
		snprintf(where, sizeof(where), "sectigo %s.script", m->path);
		if ((rc = validate_script(v, where, e)) < 0)
			return rc;
		merge_script(s->script, v);
	}
	json_object_foreach(json_object_get(cfg, "scripts"), key, v) {
		snprintf(where, sizeof(where), "sectigo %s.scripts.%s", m->path, key);
		if ((rc = validate_script(v, where, e)) < 0)
			return rc;
		json_object_set_new(s->scripts, key, json_object());
		merge_script(json_object_get(s->scripts, key), v);
	}
	json_object_foreach(json_object_get(cfg, "statuses"), key, v) {
		for (i = 0; i < sizeof(status_roles) / sizeof(status_roles[0]); i++)
			if (strcmp(status_roles[i].role, key) == 0)
				break;
		if (i == sizeof(status_roles) / sizeof(status_roles[0]) ||
		    !json_is_string(v))
			return err_set(e, EINVAL, "sectigo %s.statuses.%s: unknown "
			    "status or not a string", m->path, key);
		json_object_set(s->statuses, key, v);
	}
	return 0;
}

int
vs_sectigo_setup(struct vs_state *st, struct err *e)
{
	struct vs_mount *m;
	int rc;

	for (m = st->mounts; m != NULL; m = m->next)
		if (m->type == VS_MOUNT_SECTIGO && (rc = setup_mount(m, e)) < 0)
			return rc;
	return 0;
}

/* ---- control API ---- */

json_t *
vs_sectigo_counters(struct vs_state *st)
{
	json_t *out = json_object();
	struct vs_mount *m;

	for (m = st->mounts; m != NULL; m = m->next)
		if (m->type == VS_MOUNT_SECTIGO)
			json_object_set_new(out, m->path,
			    json_deep_copy(m->sectigo->counters));
	return out;
}

void
vs_sectigo_counters_reset(struct vs_state *st)
{
	struct vs_mount *m;
	json_t *c, *v;
	const char *config, *op;

	for (m = st->mounts; m != NULL; m = m->next) {
		if (m->type != VS_MOUNT_SECTIGO)
			continue;
		json_object_foreach(m->sectigo->counters, config, c)
			json_object_foreach(c, op, v)
				json_object_set_new(c, op, json_integer(0));
	}
}

static struct vs_sectigo *
ctl_mount(struct vs_state *st, json_t *in)
{
	const char *want = vs_jstr(in, "mount");
	struct vs_mount *m;

	for (m = st->mounts; m != NULL; m = m->next)
		if (m->type == VS_MOUNT_SECTIGO &&
		    (want == NULL || strcmp(m->path, want) == 0))
			return m->sectigo;
	return NULL;
}

static json_t *
ctl_state(struct vs_state *st)
{
	json_t *out = json_object(), *names;
	struct vs_mount *m;
	struct vs_sectigo *s;
	const char *k;
	json_t *v;

	for (m = st->mounts; m != NULL; m = m->next) {
		if (m->type != VS_MOUNT_SECTIGO)
			continue;
		s = m->sectigo;
		names = json_array();
		json_object_foreach(s->configs, k, v)
			json_array_append_new(names, json_string(k));
		json_object_set_new(out, m->path, json_pack("{sO sO sO so sO sO}",
		    "counters", s->counters, "script", s->script,
		    "scripts", s->scripts, "configs", names,
		    "entries", s->entries, "profiles", s->profiles));
	}
	return json_pack("{so}", "mounts", out);
}

/*
 *   GET    /_test/sectigo           {"mounts": {path: {counters, script,
 *                                    scripts, configs, entries, profiles}}}
 *   DELETE /_test/sectigo           reset the counters
 *   POST   /_test/sectigo/script    {"mount"?, "config"?, "script": {...},
 *                                    "replace"?: false}: merge (null removes)
 *   POST   /_test/sectigo/approve   {"mount"?, "id"}: clear the entry's error
 *   POST   /_test/sectigo/error     {"mount"?, "id", "code"?, "description"?}
 * "mount" defaults to the first Sectigo mount.
 */
void
vs_sectigo_ctl(struct vs_req *r, json_t *in, const char *op)
{
	struct vs_sectigo *s = ctl_mount(r->st, in);
	bool post = r->method == VS_POST || r->method == VS_PUT;
	const char *config = vs_jstr(in, "config"), *id = vs_jstr(in, "id");
	json_t *script = json_object_get(in, "script"), *dst, *ent = NULL;
	struct err e = {{0}};

	if (*op == '\0' && r->method == VS_GET) {
		vs_reply_json(r, 200, ctl_state(r->st));
		return;
	}
	if (*op == '\0' && r->method == VS_DELETE) {
		vs_sectigo_counters_reset(r->st);
		vs_reply_204(r);
		return;
	}
	if (s == NULL) {
		vs_reply_error(r, 404, "no such Sectigo mount");
		return;
	}
	if (id != NULL)
		ent = json_object_get(s->entries, id);
	if (post && strcmp(op, "/script") == 0) {
		if (script == NULL)
			script = json_object();
		if (validate_script(script, "script", &e) < 0) {
			vs_reply_error(r, 400, e.msg);
			return;
		}
		dst = s->script;
		if (config != NULL) {
			if ((dst = json_object_get(s->scripts, config)) == NULL) {
				dst = json_object();
				json_object_set_new(s->scripts, config, dst);
			}
		}
		if (vs_jbool(in, "replace", false))
			json_object_clear(dst);
		merge_script(dst, script);
		vs_reply_json(r, 200, json_deep_copy(dst));
	} else if (post && strcmp(op, "/approve") == 0) {
		if (ent == NULL) {
			vs_reply_error(r, 404, "no such certificate");
			return;
		}
		json_object_del(ent, "_error");
		vs_reply_204(r);
	} else if (post && strcmp(op, "/error") == 0) {
		if (ent == NULL) {
			vs_reply_error(r, 404, "no such certificate");
			return;
		}
		json_object_set_new(ent, "_error", json_pack("{sI ss}", "code",
		    (json_int_t)vs_jint(in, "code", -1), "description",
		    vs_jstr(in, "description") ? vs_jstr(in, "description") :
		    "Certificate request requires manual approval"));
		vs_reply_204(r);
	} else {
		vs_reply_error(r, 404, "unknown control endpoint");
	}
}
