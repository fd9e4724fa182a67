/*
 * sectigo_record.c — the Sectigo back-end's durable records (see the header).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "publish.h"
#include "sectigo_record.h"
#include "x509.h"
#include "xalloc.h"

#define HISTORY_MAX 40
#define STATE_FILE_MAX (256 * 1024)

struct sectigo_store {
	char *state_dir;
	json_t *records;       /* certificate name -> record (mirrors the files) */
};

struct sectigo_store *
sectigo_store_new(const char *state_dir)
{
	struct sectigo_store *st = xcalloc(1, sizeof(*st));

	st->state_dir = xstrdup(state_dir);
	st->records = json_object();
	if (st->records == NULL)
		abort();
	return st;
}

void
sectigo_store_free(struct sectigo_store *st)
{
	if (st == NULL)
		return;
	json_decref(st->records);
	free(st->state_dir);
	free(st);
}

const char *
sectigo_store_dir(const struct sectigo_store *st)
{
	return st->state_dir;
}

void
sectigo_rec_push(json_t *rec, const char *k, const char *id, size_t max)
{
	json_t *a = json_object_get(rec, k);

	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(rec, k, a);
	}
	json_array_append_new(a, json_string(id));
	while (json_array_size(a) > max)
		json_array_remove(a, 0);
}


const char *
sectigo_rec_str(const json_t *rec, const char *k)
{
	const json_t *v = json_object_get(rec, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long
sectigo_rec_int(const json_t *rec, const char *k)
{
	const json_t *v = json_object_get(rec, k);

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

void
sectigo_rec_set_str(json_t *rec, const char *k, const char *v)
{
	if (v == NULL)
		json_object_del(rec, k);
	else
		json_object_set_new(rec, k, json_string(v));
}

static char *
rec_path(const struct sectigo_store *si, const char *name, const char *ext)
{
	return xasprintf("%s/sectigo/%s.%s", si->state_dir, name, ext);
}

/* Append to the record's history (bounded: the oldest entries go). */
void
sectigo_rec_event(json_t *rec, const char *event, const char *id, const char *fmt, ...)
{
	json_t *h = json_object_get(rec, "history"), *ev;
	char detail[600];
	va_list ap;

	if (!json_is_array(h)) {
		h = json_array();
		json_object_set_new(rec, "history", h);
	}
	detail[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	ev = json_pack("{s:I, s:s}", "time", (json_int_t)time(NULL), "event", event);
	if (ev == NULL)
		abort();
	if (id != NULL)
		json_object_set_new(ev, "id", json_string(id));
	if (detail[0] != '\0')
		json_object_set_new(ev, "detail", json_string(detail));
	json_array_append_new(h, ev);
	while (json_array_size(h) > HISTORY_MAX)
		json_array_remove(h, 0);
}

static int
write_file(const char *path, const void *data, size_t len, struct err *e)
{
	struct publish_file f = {.path = path, .data = data, .len = len,
				 .uid = (uid_t)-1, .gid = (gid_t)-1, .mode = 0600};
	char *dir = xstrdup(path);
	int rc;

	*strrchr(dir, '/') = '\0';
	rc = fsutil_mkdir_p(dir, 0700, e);
	free(dir);
	if (rc == 0)
		rc = publish_set(&f, 1, NULL, e);
	return rc;
}

/* Write the record of name durably.  Returns 0 or -errno with e set. */
int
sectigo_store_save(struct sectigo_store *si, const char *name, json_t *rec, struct err *e)
{
	char *path = rec_path(si, name, "json"), *text;
	int rc;

	json_object_set_new(rec, "updated", json_integer((json_int_t)time(NULL)));
	text = json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL)
		abort();
	rc = write_file(path, text, strlen(text), e);
	free(text);
	free(path);
	return rc;
}

/* The record of name: in memory, else from its file, else a new one.
 * NULL with e set when the file exists but cannot be trusted: then no
 * call is made (it could enroll a second time). */
json_t *
sectigo_store_get(struct sectigo_store *si, const char *name, struct err *e)
{
	json_t *rec = json_object_get(si->records, name);
	struct buf b = BUF_INIT;
	json_error_t jerr;
	char *path;

	if (rec != NULL)
		return rec;
	path = rec_path(si, name, "json");
	if (fsutil_read_file(path, STATE_FILE_MAX, &b, e) < 0) {
		if (access(path, F_OK) == 0 || errno != ENOENT) {
			free(path);
			buf_free(&b);
			return NULL;
		}
		rec = json_pack("{s:s}", "phase", "idle");
	} else {
		rec = json_loadb(b.data != NULL ? b.data : "", b.len, 0, &jerr);
		if (!json_is_object(rec) || sectigo_rec_str(rec, "phase") == NULL) {
			err_set(e, EBADMSG, "%s is damaged (%s): certd will not call the plugin "
				"until it is repaired or removed (removing it may order a second "
				"certificate)", path, rec == NULL ? jerr.text : "no phase");
			json_decref(rec);
			free(path);
			buf_free(&b);
			return NULL;
		}
	}
	free(path);
	buf_free(&b);
	json_object_set_new(si->records, name, rec);
	return rec;
}

int
sectigo_store_save_key(struct sectigo_store *si, const char *name, EVP_PKEY *key, struct err *e)
{
	struct buf pem = BUF_INIT;
	char *path = rec_path(si, name, "key");
	int rc = x509_key_to_pem(key, &pem, e);

	if (rc == 0)
		rc = write_file(path, pem.data, pem.len, e);
	buf_free_secret(&pem);
	free(path);
	return rc;
}

EVP_PKEY *
sectigo_store_load_key(struct sectigo_store *si, const char *name)
{
	struct buf pem = BUF_INIT;
	char *path = rec_path(si, name, "key");
	EVP_PKEY *key = NULL;
	struct err e = {{0}};

	if (fsutil_read_file(path, 64 * 1024, &pem, &e) == 0)
		x509_key_from_pem(pem.data, pem.len, &key, &e);
	buf_free_secret(&pem);
	free(path);
	return key;
}

