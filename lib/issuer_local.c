/*
 * issuer_local.c — the embedded local CA, the issuer that needs no server.
 *
 * Owns <state_dir>/local-ca/: ca.key (EC P-256, 0600), ca.crt (0644),
 * issued.log (one line per certificate: serial, not_after, name) and
 * .lock.  Nothing is created before the first request, so --check-config
 * and a config that never uses the local CA leave the state dir alone.
 * Creation happens under an exclusive flock so that a `certd --once`
 * beside a running daemon cannot create two different CAs; the pair is
 * written with publish_set (key 0600 from its first byte).
 *
 * Signing copies the CSR's subject CN and subjectAltName (the CSR was
 * built by the job from the requested names, and the job verifies the
 * issued names against the request before publishing).  The lifetime is
 * the requested TTL, clamped to max_ttl and to the CA's own notAfter, with
 * notBefore backdated for clock skew (see BACKDATE_MAX).  Results are
 * delivered from a zero-timeout event, never from inside start().
 *
 * The file work here is blocking but small (a few hundred bytes, once per
 * process for the CA, one append per issuance).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "conf.h"
#include "fsutil.h"
#include "issuer.h"
#include "publish.h"
#include "xalloc.h"

/* notBefore is backdated for clock skew: 30 s as Vault does, but never
 * more than a tenth of the lifetime, so short test certificates keep a
 * sane renewal point. */
#define BACKDATE_MAX 30

struct local_ca {
	struct event_base *base;
	char *dir;
	char *common_name;
	int64_t max_ttl;
	int64_t ca_ttl;
	EVP_PKEY *key;
	X509 *cert;
	bool created;   /* made by this process: said once, with the next issuance */
};

struct local_op {
	struct local_ca *ca;
	struct issuer_op *op;
	struct event *ev;
	struct issuer_result *res;
};

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -EINVAL;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

/* A positive random 159-bit serial (RFC 5280 4.1.2.2: at most 20 octets). */
static int
random_serial(X509 *cert)
{
	unsigned char bytes[20];
	BIGNUM *bn = NULL;
	int rc = -EIO;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return rc;
	bytes[0] &= 0x7f;
	bytes[0] |= 0x01; /* never zero, never with a leading zero octet */
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

static int
set_validity(X509 *cert, time_t not_before, time_t not_after)
{
	if (X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &not_before) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), 0, 0, &not_after) == NULL)
		return -EINVAL;
	return 0;
}

static int
create_ca(struct local_ca *ca, const char *key_path, const char *crt_path, struct err *e)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	X509_NAME *name;
	struct buf key_pem = BUF_INIT, crt_pem = BUF_INIT;
	struct publish_file files[2];
	time_t now = time(NULL);
	int rc;

	rc = x509_key_generate(X509_KEY_EC_P256, &key, e);
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	cert = X509_new();
	if (cert == NULL || !X509_set_version(cert, X509_VERSION_3) || random_serial(cert) < 0)
		goto fail;
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)ca->common_name, -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key) ||
	    set_validity(cert, now - BACKDATE_MAX, now + ca->ca_ttl) < 0 ||
	    add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(cert, cert, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, cert, NID_authority_key_identifier, "keyid:always") < 0 ||
	    X509_sign(cert, key, EVP_sha256()) <= 0)
		goto fail;
	if ((rc = x509_key_to_pem(key, &key_pem, e)) < 0 ||
	    (rc = x509_cert_to_pem(cert, &crt_pem, e)) < 0)
		goto out;
	files[0] = (struct publish_file){crt_path, crt_pem.data, crt_pem.len, (uid_t)-1, (gid_t)-1, 0644};
	files[1] = (struct publish_file){key_path, key_pem.data, key_pem.len, (uid_t)-1, (gid_t)-1, 0600};
	rc = publish_set(files, 2, NULL, e);
	if (rc < 0)
		goto out;
	ca->key = key;
	ca->cert = cert;
	key = NULL;
	cert = NULL;
	goto out;
fail:
	err_set(e, EINVAL, "cannot build the local CA certificate");
	err_add_openssl(e);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	buf_free_secret(&key_pem);
	buf_free(&crt_pem);
	return rc;
}

static int
load_ca(struct local_ca *ca, const char *key_path, const char *crt_path, struct err *e)
{
	struct buf kb = BUF_INIT, cb = BUF_INIT;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct stat st;
	int rc;

	if (stat(key_path, &st) == 0 && (st.st_mode & 077) != 0) {
		rc = err_set(e, EPERM, "%s: mode %04o lets others read the CA key; chmod 600 it",
			     key_path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((rc = fsutil_read_file(key_path, 64 * 1024, &kb, e)) < 0 || (rc = fsutil_read_file(crt_path, 64 * 1024, &cb, e)) < 0)
		goto out;
	if ((rc = x509_key_from_pem(kb.data, kb.len, &key, e)) < 0) {
		err_prefix(e, rc, "%s", key_path);
		goto out;
	}
	if ((rc = x509_cert_from_pem(cb.data, cb.len, &cert, e)) < 0) {
		err_prefix(e, rc, "%s", crt_path);
		goto out;
	}
	if ((rc = x509_key_matches_cert(key, cert, e)) < 0) {
		err_prefix(e, rc, "%s and %s", key_path, crt_path);
		goto out;
	}
	ca->key = key;
	ca->cert = cert;
	key = NULL;
	cert = NULL;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	buf_free_secret(&kb);
	buf_free(&cb);
	return rc;
}

/* Load the CA, creating it on first use.  Idempotent. */
static int
ensure_ca(struct local_ca *ca, bool create, struct err *e)
{
	char *key_path = NULL, *crt_path = NULL, *lock_path = NULL;
	int lock = -1, rc;

	if (ca->cert != NULL)
		return 0;
	key_path = xasprintf("%s/ca.key", ca->dir);
	crt_path = xasprintf("%s/ca.crt", ca->dir);
	if (!create) {
		rc = access(crt_path, F_OK) == 0 ? load_ca(ca, key_path, crt_path, e) : -ENOENT;
		goto out;
	}
	if ((rc = fsutil_mkdir_p(ca->dir, 0700, e)) < 0)
		goto out;
	lock_path = xasprintf("%s/.lock", ca->dir);
	lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		rc = err_set(e, errno, "%s: %s", lock_path, strerror(errno));
		goto out;
	}
	if (access(crt_path, F_OK) == 0 || access(key_path, F_OK) == 0)
		rc = load_ca(ca, key_path, crt_path, e);
	else if ((rc = create_ca(ca, key_path, crt_path, e)) == 0)
		ca->created = true;
out:
	if (lock >= 0)
		close(lock);
	free(key_path);
	free(crt_path);
	free(lock_path);
	return rc;
}

static int
record_serial(struct local_ca *ca, X509 *cert, const char *name, struct err *e)
{
	char serial[64], *path = xasprintf("%s/issued.log", ca->dir);
	time_t nb, na;
	struct buf line = BUF_INIT;
	int fd, rc = 0;

	x509_serial_string(cert, serial, sizeof(serial));
	x509_lifetime(cert, &nb, &na, NULL);
	buf_printf(&line, "%s %lld %s\n", serial, (long long)na, name ? name : "-");
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line.data, line.len) != (ssize_t)line.len || fsync(fd) < 0)
		rc = err_set(e, errno ? errno : EIO, "%s: %s", path, strerror(errno ? errno : EIO));
	if (fd >= 0)
		close(fd);
	buf_free(&line);
	free(path);
	return rc;
}

static int
sign(struct local_ca *ca, const struct issuer_request *req, struct issuer_result *res,
     struct err *e)
{
	X509 *cert = NULL;
	EVP_PKEY *pub = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	time_t now = time(NULL), not_after, ca_nb, ca_na, backdate;
	int64_t ttl = req->ttl;
	int i, rc = -EINVAL;
	const char *ku;

	if (req->csr == NULL)
		return err_set(e, EINVAL, "the local CA signs CSRs only; it does not generate keys");
	pub = X509_REQ_get_pubkey(req->csr);
	if (pub == NULL || X509_REQ_verify(req->csr, pub) <= 0) {
		err_set(e, EINVAL, "CSR signature does not verify");
		err_add_openssl(e);
		goto out;
	}
	if (ttl > ca->max_ttl) {
		snprintf(res->warning, sizeof(res->warning),
			 "requested lifetime %llds is longer than the local CA's max_ttl %llds; issued for max_ttl",
			 (long long)ttl, (long long)ca->max_ttl);
		ttl = ca->max_ttl;
	}
	not_after = now + (time_t)ttl;
	if (x509_lifetime(ca->cert, &ca_nb, &ca_na, e) < 0)
		goto out;
	if (ca_na <= now)
		return err_set(e, EKEYEXPIRED, "the local CA certificate %s/ca.crt has expired",
			       ca->dir);
	if (not_after > ca_na) {
		not_after = ca_na;
		snprintf(res->warning, sizeof(res->warning),
			 "lifetime shortened to the local CA certificate's own expiry");
	}
	backdate = ttl / 10 < BACKDATE_MAX ? (time_t)(ttl / 10) : BACKDATE_MAX;
	cert = X509_new();
	if (cert == NULL || !X509_set_version(cert, X509_VERSION_3) || random_serial(cert) < 0 ||
	    !X509_set_subject_name(cert, X509_REQ_get_subject_name(req->csr)) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) ||
	    !X509_set_pubkey(cert, pub) || set_validity(cert, now - backdate, not_after) < 0)
		goto fail;
	exts = X509_REQ_get_extensions(req->csr);
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		ext = sk_X509_EXTENSION_value(exts, i);
		if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name &&
		    !X509_add_ext(cert, ext, -1))
			goto fail;
	}
	ku = EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA ? "critical,digitalSignature,keyEncipherment"
						     : "critical,digitalSignature";
	if (add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, ca->cert, NID_key_usage, ku) < 0 ||
	    add_ext(cert, ca->cert, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
	    add_ext(cert, ca->cert, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid:always") < 0 ||
	    X509_sign(cert, ca->key, EVP_sha256()) <= 0)
		goto fail;
	if ((rc = record_serial(ca, cert, req->cert_name, e)) < 0) {
		/* A full or read-only state disk can recover: not a refusal. */
		res->outcome = ISSUER_UNAVAILABLE;
		err_prefix(e, rc, "local CA");
		memcpy(res->reason, e->msg, sizeof(res->reason));
		rc = 0;
		goto out;
	}
	res->cert = cert;
	cert = NULL;
	res->chain = sk_X509_new_null();
	res->anchors = sk_X509_new_null();
	if (res->chain == NULL || res->anchors == NULL || !X509_up_ref(ca->cert) ||
	    !sk_X509_push(res->chain, ca->cert) || !X509_up_ref(ca->cert) ||
	    !sk_X509_push(res->anchors, ca->cert))
		abort();
	rc = 0;
	goto out;
fail:
	rc = err_set(e, EINVAL, "cannot sign the certificate");
	err_add_openssl(e);
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	EVP_PKEY_free(pub);
	X509_free(cert);
	return rc;
}

static void
deliver(evutil_socket_t fd, short what, void *arg)
{
	struct local_op *lop = arg;
	struct issuer_op *op = lop->op;
	struct issuer_result *res = lop->res;

	(void)fd;
	(void)what;
	event_free(lop->ev);
	free(lop);
	issuer_complete(op, res);
}

static int
local_start(void *impl, struct issuer_op *op, const struct issuer_request *req, struct err *e)
{
	struct local_ca *ca = impl;
	struct local_op *lop;
	struct issuer_result *res;
	struct timeval now = {0, 0};
	int rc;

	if ((rc = ensure_ca(ca, true, e)) < 0) {
		err_prefix(e, rc, "local CA");
		/* The state dir may come back (disk remounted): transient. */
		res = issuer_result_new(ISSUER_UNAVAILABLE);
		snprintf(res->reason, sizeof(res->reason), "%s", e->msg);
	} else {
		res = issuer_result_new(ISSUER_ISSUED);
		rc = sign(ca, req, res, e);
		if (rc < 0) {
			issuer_result_free(res);
			return rc;
		}
		if (ca->created && res->warning[0] == '\0') {
			/* On a first start, news; after a lost state dir, a new
			 * trust anchor the clients do not have yet. */
			snprintf(res->warning, sizeof(res->warning),
				 "created a new local CA in %s (none was there): clients must trust "
				 "%s/ca.crt; certificates of an earlier CA do not chain to it",
				 ca->dir, ca->dir);
			ca->created = false;
		}
	}
	lop = xcalloc(1, sizeof(*lop));
	lop->ca = ca;
	lop->op = op;
	lop->res = res;
	lop->ev = evtimer_new(ca->base, deliver, lop);
	if (lop->ev == NULL)
		abort();
	issuer_op_set_data(op, lop);
	evtimer_add(lop->ev, &now);
	return 0;
}

static void
local_cancel(void *impl, struct issuer_op *op)
{
	struct local_op *lop = issuer_op_data(op);

	(void)impl;
	if (lop == NULL)
		return;
	event_free(lop->ev);
	issuer_result_free(lop->res);
	free(lop);
}

static STACK_OF(X509) *
local_anchors(void *impl, const struct conf_cert *cc)
{
	struct local_ca *ca = impl;
	STACK_OF(X509) *sk;
	int rc = ensure_ca(ca, false, NULL);

	(void)cc;
	/* No CA (not yet, or no more: a state_dir lost or emptied), or one
	 * that cannot be loaded: unknown (NULL), not an empty set.  Files in
	 * place are then not judged against a CA that never signed them, so
	 * a valid set stays until it is due; the next request creates the
	 * CA, or says why it cannot. */
	if (rc < 0)
		return NULL;
	sk = sk_X509_new_null();
	if (sk == NULL || !X509_up_ref(ca->cert) || !sk_X509_push(sk, ca->cert))
		abort();
	return sk;
}

static void
local_free(void *impl)
{
	struct local_ca *ca = impl;

	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca->dir);
	free(ca->common_name);
	free(ca);
}

static const struct issuer_backend local_backend = {
	.name = "local",
	.start = local_start,
	.cancel = local_cancel,
	.anchors = local_anchors,
	.free = local_free,
};

int
issuer_local_new(struct event_base *base, const char *state_dir, const struct conf_local_ca *cfg,
		 struct issuer **out, struct err *e)
{
	struct local_ca *ca = xcalloc(1, sizeof(*ca));

	(void)e;
	ca->base = base;
	ca->dir = xasprintf("%s/local-ca", state_dir);
	ca->common_name = xstrdup(cfg->common_name);
	ca->max_ttl = cfg->max_ttl;
	ca->ca_ttl = cfg->ca_ttl;
	*out = issuer_new(&local_backend, ca, base);
	return 0;
}
