/*
 * diag.h — a list of located diagnostics, collected before anything fails.
 *
 * The config loader and everything it validates (durations, templates,
 * paths) add to one list so that an operator sees every mistake of a file
 * in one run.  Each item prints as `file:line: [section] key: message`.
 */
#ifndef CERTD_DIAG_H
#define CERTD_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct diag_item {
	char *file;     /* may be NULL */
	unsigned line;  /* 0: no line */
	char *section;  /* may be NULL */
	char *key;      /* may be NULL */
	char *msg;
	int warning;    /* 1: a warning, does not make the config invalid */
};

struct diag {
	struct diag_item *items;
	size_t n, cap;
	size_t errors;
};

#define DIAG_INIT {NULL, 0, 0, 0}

void diag_add(struct diag *d, const char *file, unsigned line, const char *section,
	      const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void diag_warn(struct diag *d, const char *file, unsigned line, const char *section,
	       const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The va_list form of both; warning: 1 for a warning. */
void diag_addv(struct diag *d, int warning, const char *file, unsigned line, const char *section,
	       const char *key, const char *fmt, va_list ap) __attribute__((format(printf, 7, 0)));
/* Order items by file, then line (stable), as an operator reads them. */
void diag_sort(struct diag *d);
/* Write every item, one per line, to f ("warning: " before warnings). */
void diag_print(const struct diag *d, FILE *f);
/* Format item i into a new string (caller frees). */
char *diag_format(const struct diag *d, size_t i);
void diag_free(struct diag *d);

#endif
