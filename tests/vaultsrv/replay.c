/*
 * replay.c — proves vaultsrv faithful to Vault 1.7.10 by replaying every
 * recorded exchange in tests/fixtures/vault-1.7.10/ against it.
 *
 * usage: replay [VAULTSRV [FIXTURE_DIR]]   (or $VAULTSRV, $VAULT_FIXTURES)
 *
 * It starts vaultsrv with its own config (the same mounts, roles, AppRole
 * ids and policies the recording used), then for each fixture, in name
 * order: puts the server in the state the exchange needs (the setup table
 * below: which token, which requests to make first), sends the recorded
 * method, path and body, and compares status, Content-Type/Cache-Control,
 * and the body — JSON by structure (same keys recursively, same JSON types,
 * arrays empty exactly when the recording's are, PEM where the recording
 * has PEM), bare PEM by block type and count.  Error messages under
 * "errors" must match exactly.  Issued certificates are also checked for
 * real: they parse, chain to the issuing CA, and match the returned key.
 * A fixture not in the table is replayed with the root token.  Every
 * failure names the fixture and the first differing JSON path; zero
 * fixtures is a failure; finally the server must exit 0 on SIGTERM (under
 * ASan that includes "no leaks").
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "replay.h"
#include "xalloc.h"

#define ROLE_ID "8c6163b4-5156-b079-cd9e-b22a9146250f"
#define SECRET_ID "7bb8148f-2cdd-ae0c-2dcb-fc9914091e19"
#define LIMITED_TOKEN "s.limitedreplaytoken0000"
#define BAD_TOKEN "s.notarealtoken000000000"

/* The recording's setup, rebuilt: a root and an intermediate PKI mount,
 * roles web / web-rsa / any, AppRole "certd" with the recorded ids, cert
 * auth "node" trusting pki_int, and a second, untrusted root (pki_other)
 * for the untrusted-client-cert case. */
static const char server_config[] =
    "{\n"
    " \"cluster_name\": \"vault-cluster-replay\",\n"
    " \"policies\": {\n"
    "  \"certd\": {\"pki_int/issue/web\": [\"update\"],\n"
    "            \"pki_int/sign/web\": [\"update\"],\n"
    "            \"secret/data/apisix/*\": [\"create\", \"read\", \"update\"]},\n"
    "  \"web\": {\"pki_int/issue/web\": [\"update\"]},\n"
    "  \"limited\": {\"pki_int/issue/web\": [\"update\"]}\n"
    " },\n"
    " \"tokens\": [\n"
    "  {\"id\": \"root\", \"policies\": [\"root\"]},\n"
    "  {\"id\": \"" LIMITED_TOKEN "\", \"policies\": [\"limited\", \"default\"],\n"
    "   \"ttl\": \"1h\"}\n"
    " ],\n"
    " \"pki\": [\n"
    "  {\"path\": \"pki\", \"ca\": {\"common_name\": \"Test Root CA\",\n"
    "   \"key_type\": \"ec\", \"key_bits\": 384, \"ttl\": \"87600h\"}},\n"
    "  {\"path\": \"pki_int\", \"ca\": {\"common_name\": \"Test Intermediate CA\",\n"
    "   \"issuer\": \"pki\", \"key_type\": \"ec\", \"ttl\": \"43800h\"},\n"
    "   \"issuing_certificates\": [\"http://127.0.0.1:8210/v1/pki_int/ca\"],\n"
    "   \"crl_distribution_points\": [\"http://127.0.0.1:8210/v1/pki_int/crl\"],\n"
    "   \"roles\": {\n"
    "    \"web\": {\"allowed_domains\": [\"example.com\"], \"allow_subdomains\": true,\n"
    "     \"key_type\": \"ec\", \"key_bits\": 256, \"ttl\": \"24h\", \"max_ttl\": \"72h\"},\n"
    "    \"web-rsa\": {\"allowed_domains\": \"example.com\", \"allow_subdomains\": true,\n"
    "     \"key_type\": \"rsa\", \"key_bits\": 2048, \"ttl\": \"24h\", \"max_ttl\": \"72h\"},\n"
    "    \"any\": {\"allow_any_name\": true, \"key_type\": \"ec\"}}},\n"
    "  {\"path\": \"pki_other\", \"ca\": {\"common_name\": \"Untrusted Root CA\"},\n"
    "   \"roles\": {\"client\": {\"allow_any_name\": true, \"key_type\": \"ec\"}}}\n"
    " ],\n"
    " \"kv\": [{\"path\": \"kv\", \"version\": 1}, {\"path\": \"secret\", \"version\": 2}],\n"
    " \"approle\": {\"roles\": {\"certd\": {\"role_id\": \"" ROLE_ID "\",\n"
    "   \"secret_ids\": [\"" SECRET_ID "\"], \"token_policies\": [\"certd\"],\n"
    "   \"token_ttl\": \"20m\", \"token_max_ttl\": \"1h\", \"secret_id_ttl\": \"24h\"}}},\n"
    " \"cert\": {\"certs\": {\"node\": {\"ca_mount\": \"pki_int\", \"policies\": [\"web\"],\n"
    "   \"ttl\": \"30m\"}}},\n"
    " \"jwt\": {\"roles\": {\"certd\": {\"jwt\": \"a.b.c\", \"policies\": [\"certd\"]}}}\n"
    "}\n";

struct server {
	pid_t pid;
	char *dir;
	char *http;
	char *https;
	char *ca_file;
};

struct client_cert {
	char *cert;
	char *key;
};

static const struct setup setups[] = {
	{"approle-login-bad-secret.txt", TOK_NONE, {{0}}, {0}, false, false, NULL},
	{"approle-login.txt", TOK_NONE, {{0}}, {0}, false, false, rp_check_auth},
	{"cert-login-client-cert.txt", TOK_NONE, {{0}}, {0}, false, false,
	    rp_check_auth},
	{"cert-login-no-client-cert.txt", TOK_NONE, {{0}}, {0}, false, false, NULL},
	{"cert-login-untrusted-client-cert.txt", TOK_NONE, {{0}}, {0}, false,
	    false, NULL},
	{"kv1-get-missing.txt", TOK_ROOT, {{"DELETE", "/v1/kv/apisix/none", NULL}},
	    {0}, false, false, NULL},
	{"kv1-get.txt", TOK_ROOT, {{"POST", "/v1/kv/apisix/ssl",
	    "{\"test.com.crt\":\"-----BEGIN CERTIFICATE-----\\n...\","
	    "\"test.com.key\":\"-----BEGIN PRIVATE KEY-----\\n...\"}"}}, {0}, false,
	    false, NULL},
	{"kv2-get.txt", TOK_ROOT, {{"POST", "/v1/secret/data/apisix/ssl",
	    "{\"data\":{\"crt\":\"x\",\"key\":\"y\"}}"}}, {0}, false, false, NULL},
	{"kv2-put-cas-mismatch.txt", TOK_ROOT, {{"POST",
	    "/v1/secret/data/apisix/ssl", "{\"data\":{\"crt\":\"x\",\"key\":\"y\"}}"}},
	    {0}, false, false, NULL},
	{"kv2-put.txt", TOK_ROOT, {{"DELETE", "/v1/secret/metadata/apisix/ssl",
	    NULL}}, {0}, false, false, NULL},
	{"pki-cert-serial.txt", TOK_ROOT, {{0}}, {0}, true, false, NULL},
	{"pki-certs-list.txt", TOK_ROOT, {{0}}, {0}, false, false, NULL},
	{"pki-issue-as-approle.txt", TOK_APPROLE, {{0}}, {0}, false, false,
	    rp_check_issued},
	{"pki-issue-bad-token.txt", TOK_BAD, {{0}}, {0}, false, false, NULL},
	{"pki-issue-der.txt", TOK_ROOT, {{0}}, {0}, false, false, rp_check_issued},
	{"pki-issue-ec.txt", TOK_ROOT, {{0}}, {0}, false, false, rp_check_issued},
	{"pki-issue-no-token.txt", TOK_NONE, {{0}}, {0}, false, false, NULL},
	{"pki-issue-pem-bundle.txt", TOK_ROOT, {{0}}, {0}, false, false,
	    rp_check_issued},
	{"pki-issue-permission-denied.txt", TOK_LIMITED, {{0}}, {0}, false, false,
	    NULL},
	{"pki-issue-rsa.txt", TOK_ROOT, {{0}}, {0}, false, false, rp_check_issued},
	{"pki-issue-sealed.txt", TOK_ROOT, {{"POST", "/_test/seal", NULL}},
	    {"POST", "/_test/unseal", NULL}, false, false, NULL},
	{"pki-issue-ttl-over-max.txt", TOK_ROOT, {{0}}, {0}, false, false,
	    rp_check_clamped},
	{"pki-revoke.txt", TOK_ROOT, {{0}}, {0}, true, false, NULL},
	{"pki-sign-bad-csr.txt", TOK_ROOT, {{0}}, {0}, false, true, NULL},
	{"pki-sign-verbatim.txt", TOK_ROOT, {{0}}, {0}, false, false, rp_check_issued},
	{"pki-sign.txt", TOK_ROOT, {{0}}, {0}, false, false, rp_check_issued},
	{"sys-health-sealed.txt", TOK_NONE, {{"POST", "/_test/seal", NULL}},
	    {"POST", "/_test/unseal", NULL}, false, false, NULL},
	{"sys-health.txt", TOK_NONE, {{0}}, {0}, false, false, NULL},
	{"token-lookup-self.txt", TOK_APPROLE, {{0}}, {0}, false, false, NULL},
	{"token-renew-self.txt", TOK_APPROLE, {{0}}, {0}, false, false, rp_check_auth},
	{"wrapping-unwrap-again.txt", TOK_WRAP_USED, {{0}}, {0}, false, false,
	    NULL},
	{"wrapping-unwrap.txt", TOK_WRAP, {{0}}, {0}, false, false, NULL},
};

static const struct setup default_setup = {NULL, TOK_ROOT, {{0}}, {0}, false,
	false, NULL};

/* ---- fixtures ---- */

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_steal(&b);
}

static void
fixture_free(struct fixture *f)
{
	free(f->name);
	free(f->method);
	free(f->path);
	free(f->mode);
	free(f->body);
	free(f->resp);
	json_decref(f->headers);
}

static char *
lower(const char *s, size_t n)
{
	char *out = xstrndup(s, n), *c;

	for (c = out; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	return out;
}

/* Parse the "# ..." header block and the body after the first blank line. */
static int
fixture_load(const char *dir, const char *name, struct fixture *f,
    struct buf *why)
{
	char *path = xasprintf("%s/%s", dir, name), *text, *line, *next;
	int rc = -EINVAL;

	memset(f, 0, sizeof(*f));
	f->name = xstrdup(name);
	f->headers = json_object();
	text = read_all(path);
	free(path);
	if (text == NULL) {
		rp_why(why, "cannot read the fixture");
		return -ENOENT;
	}
	for (line = text; line != NULL && *line == '#'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "# request: ", 11) == 0) {
			f->body = xstrdup(line + 11);
		} else if (strncmp(line, "# status: ", 10) == 0) {
			f->status = strtol(line + 10, NULL, 10);
		} else if (strncmp(line, "# header: ", 10) == 0) {
			const char *colon = strchr(line + 10, ':');
			char *key;

			if (colon == NULL)
				continue;
			key = lower(line + 10, (size_t)(colon - line - 10));
			json_object_set_new(f->headers, key, json_string(colon + 2));
			free(key);
		} else if (f->method == NULL) {
			char *sp = strchr(line + 2, ' '), *paren;

			if (sp == NULL)
				continue;
			f->method = xstrndup(line + 2, (size_t)(sp - line - 2));
			paren = strchr(sp + 1, ' ');
			f->path = paren ? xstrndup(sp + 1, (size_t)(paren - sp - 1)) :
			    xstrdup(sp + 1);
			if (paren != NULL && (paren = strrchr(paren, ',')) != NULL) {
				f->mode = xstrdup(paren + 2);
				if (strchr(f->mode, ')') != NULL)
					*strchr(f->mode, ')') = '\0';
			}
		}
	}
	if (f->method == NULL || f->status == 0) {
		rp_why(why, "no '# METHOD /path' or '# status:' line");
		goto out;
	}
	if (line != NULL && *line == '\n')
		line++;
	f->resp = xstrdup(line ? line : "");
	rc = 0;
out:
	free(text);
	return rc;
}

static const struct setup *
setup_for(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(setups) / sizeof(setups[0]); i++)
		if (strcmp(setups[i].file, name) == 0)
			return &setups[i];
	return &default_setup;
}

/* ---- the server ---- */

static char *
wait_port(struct server *s, const char *file, const char *scheme)
{
	char *path = xasprintf("%s/%s", s->dir, file), *port = NULL, *url = NULL;
	int i, status;

	for (i = 0; i < 300 && port == NULL; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = -1;
			break;
		}
		port = read_all(path);
		if (port == NULL)
			usleep(50000);
	}
	if (port != NULL) {
		port[strcspn(port, "\n")] = '\0';
		url = xasprintf("%s://127.0.0.1:%s", scheme, port);
	}
	free(port);
	free(path);
	return url;
}

static int
server_start(const char *bin, struct server *s)
{
	const char *tmp = getenv("TMPDIR");
	char *cfg;
	FILE *f;

	s->dir = xasprintf("%s/vaultsrv-replay-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(s->dir) == NULL)
		return -errno;
	cfg = xasprintf("%s/config.json", s->dir);
	f = fopen(cfg, "w");
	if (f == NULL || fputs(server_config, f) == EOF || fclose(f) != 0) {
		free(cfg);
		return -EIO;
	}
	s->ca_file = xasprintf("%s/ca.pem", s->dir);
	s->pid = fork();
	if (s->pid == 0) {
		char *port = xasprintf("%s/port", s->dir);
		char *tport = xasprintf("%s/tport", s->dir);
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		execl(bin, bin, "--config", cfg, "--port", "0", "--port-file", port,
		    "--tls-port", "0", "--tls-port-file", tport, "--tls-auto",
		    "pki_int", "--tls-ca-out", s->ca_file, "--quiet", (char *)NULL);
		fprintf(stderr, "replay: cannot execute %s: %s\n", bin,
		    strerror(errno));
		_exit(127);
	}
	free(cfg);
	if (s->pid < 0)
		return -errno;
	s->http = wait_port(s, "port", "http");
	s->https = s->http ? wait_port(s, "tport", "https") : NULL;
	return s->https != NULL ? 0 : -EIO;
}

static int
server_stop(struct server *s)
{
	int status = 0, i;

	if (s->pid <= 0)
		return -ECHILD;
	kill(s->pid, SIGTERM);
	for (i = 0; i < 200; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			break;
		usleep(50000);
	}
	if (i == 200) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
		return -ETIMEDOUT;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
rm_dir(const char *dir)
{
	static const char *const files[] = {"config.json", "port", "tport",
	    "ca.pem", NULL};
	size_t i;
	char *p;

	for (i = 0; files[i] != NULL; i++) {
		p = xasprintf("%s/%s", dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(dir);
}

/* ---- HTTP ---- */

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	buf_append(arg, data, size * n);
	return size * n;
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	size_t len = size * n, vlen;
	char *colon = memchr(data, ':', len), *key;
	const char *v;

	if (colon == NULL)
		return len;
	key = lower(data, (size_t)(colon - data));
	v = colon + 1;
	while (v < data + len && *v == ' ')
		v++;
	vlen = (size_t)(data + len - v);
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
		vlen--;
	json_object_set_new(r->headers, key, json_stringn(v, vlen));
	free(key);
	return len;
}

static int
http(struct server *s, bool tls, const char *method, const char *path,
    const char *token, const char *body, const struct client_cert *cc,
    const char *extra_header, struct response *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct curl_blob cert, key;
	char *url = xasprintf("%s%s", tls ? s->https : s->http, path);
	char *tok = NULL;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	r->headers = json_object();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ?
		    strlen(body) : 0));
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (token != NULL) {
		tok = xasprintf("X-Vault-Token: %s", token);
		hdrs = curl_slist_append(hdrs, tok);
	}
	if (extra_header != NULL)
		hdrs = curl_slist_append(hdrs, extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (tls) {
		curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
		if (cc != NULL) {
			cert.data = cc->cert;
			cert.len = strlen(cc->cert);
			cert.flags = CURL_BLOB_COPY;
			key.data = cc->key;
			key.len = strlen(cc->key);
			key.flags = CURL_BLOB_COPY;
			curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
			curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
			curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
			curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
		}
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	else
		buf_printf(&r->body, "curl: %s", curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(url);
	free(tok);
	return rc == CURLE_OK ? 0 : -EIO;
}

static void
response_free(struct response *r)
{
	json_decref(r->headers);
	buf_free_secret(&r->body);
}

/* Make a request expected to succeed and return one string from its JSON. */
static char *
fetch(struct server *s, const char *method, const char *path,
    const char *token, const char *body, const char *extra, const char *obj,
    const char *key, json_t **whole)
{
	struct response r;
	json_t *j = NULL;
	char *out = NULL;

	if (http(s, false, method, path, token, body, NULL, extra, &r) == 0 &&
	    r.status < 300) {
		j = json_loads(buf_str(&r.body), 0, NULL);
		if (json_string_value(json_object_get(json_object_get(j, obj), key)))
			out = xstrdup(json_string_value(json_object_get(
			    json_object_get(j, obj), key)));
	} else {
		fprintf(stderr, "replay: setup %s %s failed: %ld %s\n", method, path,
		    r.status, buf_str(&r.body));
	}
	if (whole != NULL)
		*whole = j;
	else
		json_decref(j);
	response_free(&r);
	return out;
}

static char *
approle_token(struct server *s)
{
	return fetch(s, "POST", "/v1/auth/approle/login", NULL,
	    "{\"role_id\":\"" ROLE_ID "\",\"secret_id\":\"" SECRET_ID "\"}", NULL,
	    "auth", "client_token", NULL);
}

static char *
wrapping_token(struct server *s, bool used)
{
	char *tok = fetch(s, "POST", "/v1/auth/approle/role/certd/secret-id",
	    "root", "{}", "X-Vault-Wrap-TTL: 120", "wrap_info", "token", NULL);
	struct response r;

	if (tok != NULL && used) {
		http(s, false, "POST", "/v1/sys/wrapping/unwrap", tok, NULL, NULL,
		    NULL, &r);
		response_free(&r);
	}
	return tok;
}

static int
client_cert(struct server *s, const char *mode, struct client_cert *cc)
{
	json_t *j = NULL;
	char *cert;

	memset(cc, 0, sizeof(*cc));
	if (strcmp(mode, "client-cert") == 0)
		cert = fetch(s, "POST", "/v1/pki_int/issue/web", "root",
		    "{\"common_name\":\"node1.example.com\"}", NULL, "data",
		    "certificate", &j);
	else if (strcmp(mode, "untrusted-client-cert") == 0)
		cert = fetch(s, "POST", "/v1/pki_other/issue/client", "root",
		    "{\"common_name\":\"node1.example.com\"}", NULL, "data",
		    "certificate", &j);
	else
		return 0;
	if (cert == NULL)
		return -EIO;
	cc->cert = cert;
	cc->key = xstrdup(json_string_value(json_object_get(json_object_get(j,
	    "data"), "private_key")));
	json_decref(j);
	return 0;
}

/* ---- one fixture ---- */

static char *
replace(const char *s, const char *from, const char *to)
{
	const char *at = s ? strstr(s, from) : NULL;

	if (s == NULL)
		return NULL;
	if (at == NULL || *from == '\0')
		return xstrdup(s);
	return xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

/* The serial a fixture names: last path segment or body serial_number. */
static char *
fixture_serial(const struct fixture *f)
{
	json_t *b = f->body ? json_loads(f->body, 0, NULL) : NULL;
	char *s = NULL;

	if (json_string_value(json_object_get(b, "serial_number")) != NULL)
		s = xstrdup(json_string_value(json_object_get(b, "serial_number")));
	else if (strrchr(f->path, '/') != NULL)
		s = xstrdup(strrchr(f->path, '/') + 1);
	json_decref(b);
	return s;
}

static int
run_call(struct server *s, const struct call *c)
{
	struct response r;
	int rc;

	if (c->method == NULL)
		return 0;
	rc = http(s, false, c->method, c->path, "root", c->body, NULL, NULL, &r);
	if (rc == 0 && r.status >= 300) {
		fprintf(stderr, "replay: setup %s %s: %ld %s\n", c->method, c->path,
		    r.status, buf_str(&r.body));
		rc = -EIO;
	}
	response_free(&r);
	return rc;
}

static int
replay_one(struct server *s, const struct fixture *f, struct buf *why)
{
	const struct setup *su = setup_for(f->name);
	struct client_cert cc = {0};
	struct response r = {0};
	char *token = NULL, *serial = NULL, *old = NULL, *path = NULL,
	    *body = NULL;
	bool tls = f->mode != NULL;
	int rc = -1, i;

	for (i = 0; i < 2; i++)
		if (run_call(s, &su->before[i]) < 0) {
			rp_why(why, "setup request failed");
			goto out;
		}
	switch (su->token) {
	case TOK_ROOT: token = xstrdup("root"); break;
	case TOK_BAD: token = xstrdup(BAD_TOKEN); break;
	case TOK_LIMITED: token = xstrdup(LIMITED_TOKEN); break;
	case TOK_APPROLE: token = approle_token(s); break;
	case TOK_WRAP: token = wrapping_token(s, false); break;
	case TOK_WRAP_USED: token = wrapping_token(s, true); break;
	case TOK_NONE: break;
	}
	if (su->token != TOK_NONE && token == NULL) {
		rp_why(why, "setup: could not obtain the token");
		goto out;
	}
	path = xstrdup(f->path);
	body = f->body ? xstrdup(f->body) : NULL;
	if (su->serial) {
		serial = fetch(s, "POST", "/v1/pki_int/issue/web", "root",
		    "{\"common_name\":\"www.example.com\"}", NULL, "data",
		    "serial_number", NULL);
		old = fixture_serial(f);
		if (serial == NULL || old == NULL) {
			rp_why(why, "setup: could not issue a certificate");
			goto out;
		}
		free(path);
		path = replace(f->path, old, serial);
		free(body);
		body = replace(f->body, old, serial);
	}
	if (tls && client_cert(s, f->mode, &cc) < 0) {
		rp_why(why, "setup: could not issue the client certificate");
		goto out;
	}
	if (http(s, tls, f->method, path, token, body, cc.cert ? &cc : NULL,
	    NULL, &r) < 0) {
		rp_why(why, "request failed: %s", buf_str(&r.body));
		goto out;
	}
	rc = rp_compare_response(f, su, &r, why);
out:
	if (run_call(s, &su->after) < 0 && rc == 0) {
		rp_why(why, "cleanup request failed");
		rc = -1;
	}
	response_free(&r);
	free(token);
	free(serial);
	free(old);
	free(path);
	free(body);
	free(cc.cert);
	if (cc.key != NULL)
		xfree_secret(cc.key, strlen(cc.key));
	return rc;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **
list_fixtures(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t len;

	*n = 0;
	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".txt") != 0)
			continue;
		names = xreallocarray(names, *n + 1, sizeof(*names));
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(names, *n, sizeof(*names), name_cmp);
	return names;
}

static const char *
default_path(const char *env, const char *rel)
{
	static char buf[2][4096];
	static int k;
	const char *v = getenv(env);

	if (v != NULL && *v != '\0')
		return v;
#if defined(BUILDDIR) && defined(SRCDIR)
	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s",
	    strcmp(env, "VAULTSRV") == 0 ? BUILDDIR : SRCDIR, rel);
	return buf[k];
#else
	(void)buf;
	(void)k;
	return rel;
#endif
}

int
main(int argc, char **argv)
{
	const char *bin = argc > 1 ? argv[1] :
	    default_path("VAULTSRV", "tests/vaultsrv/vaultsrv");
	const char *dir = argc > 2 ? argv[2] :
	    default_path("VAULT_FIXTURES", "tests/fixtures/vault-1.7.10");
	struct server s = {0};
	struct fixture f;
	struct buf why = BUF_INIT;
	char **names;
	size_t n, i, failed = 0;
	int rc;

	names = list_fixtures(dir, &n);
	if (n == 0) {
		fprintf(stderr, "FAIL: no *.txt fixtures in %s\n", dir);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (server_start(bin, &s) < 0) {
		fprintf(stderr, "FAIL: cannot start %s (see its stderr above)\n", bin);
		failed = n;
		goto out;
	}
	for (i = 0; i < n; i++) {
		int status;

		buf_reset(&why);
		rc = fixture_load(dir, names[i], &f, &why);
		if (rc == 0)
			rc = replay_one(&s, &f, &why);
		if (rc == 0) {
			printf("ok %zu - %s\n", i + 1, names[i]);
		} else {
			printf("not ok %zu - %s\n", i + 1, names[i]);
			fprintf(stderr, "FAIL %s: %s\n", names[i], buf_str(&why));
			failed++;
		}
		fixture_free(&f);
		if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
			fprintf(stderr, "FAIL: vaultsrv died during %s\n", names[i]);
			s.pid = -1;
			failed += n - i - 1;
			break;
		}
	}
	rc = server_stop(&s);
	if (rc != 0) {
		fprintf(stderr, "FAIL: vaultsrv did not exit cleanly on SIGTERM "
		    "(status %d)\n", rc);
		failed++;
	}
out:
	printf("1..%zu\n%zu fixture(s), %zu failure(s)\n", n, n, failed);
	if (s.dir != NULL)
		rm_dir(s.dir);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(s.dir);
	free(s.http);
	free(s.https);
	free(s.ca_file);
	buf_free(&why);
	curl_global_cleanup();
	return failed == 0 ? 0 : 1;
}
