/*
 * sectigo_record.h — the Sectigo back-end's durable record per certificate
 * (see issuer_sectigo.c and docs/design.md, "Sectigo").
 *
 * <state_dir>/sectigo/<name>.json (0600, in a 0700 directory) holds a JSON
 * object: the phase (idle, intent, pending, stuck), the ids, the latest
 * status and error, and a bounded history of events; <name>.key holds the
 * key of the order in flight when it was made here.  Both are written with
 * publish_set (temporary file, fsync, rename, directory fsync).  The store
 * keeps every record it has read in memory, so that the status can show it
 * without reading files.  Blocking file I/O on small files; never logs.
 */
#ifndef CERTD_SECTIGO_RECORD_H
#define CERTD_SECTIGO_RECORD_H

#include <jansson.h>
#include <openssl/evp.h>

#include "err.h"

struct sectigo_store;

struct sectigo_store *sectigo_store_new(const char *state_dir);
void sectigo_store_free(struct sectigo_store *st);
const char *sectigo_store_dir(const struct sectigo_store *st);

/* The record of name (borrowed): in memory, else from its file, else a new
 * idle one.  NULL with e set when the file exists but cannot be trusted:
 * the caller must then not call the plugin (it could order twice). */
json_t *sectigo_store_get(struct sectigo_store *st, const char *name, struct err *e);
/* Write rec (stamped "updated") durably.  0 or -errno with e set. */
int sectigo_store_save(struct sectigo_store *st, const char *name, json_t *rec, struct err *e);
/* The key of the order in flight: written 0600 before the order is placed. */
int sectigo_store_save_key(struct sectigo_store *st, const char *name, EVP_PKEY *key,
			   struct err *e);
/* NULL when there is none (or it does not parse). */
EVP_PKEY *sectigo_store_load_key(struct sectigo_store *st, const char *name);

/* Field helpers: a string (or NULL), an integer (or 0), set or delete. */
const char *sectigo_rec_str(const json_t *rec, const char *k);
long long sectigo_rec_int(const json_t *rec, const char *k);
void sectigo_rec_set_str(json_t *rec, const char *k, const char *v);
/* Append {time, event, id?, detail?} to the history (the oldest go). */
void sectigo_rec_event(json_t *rec, const char *event, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Append id to the array k (created when missing), keeping the last max. */
void sectigo_rec_push(json_t *rec, const char *k, const char *id, size_t max);

#endif
