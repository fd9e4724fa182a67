/*
 * diag.c — collected, located diagnostics (see diag.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "xalloc.h"

void
diag_addv(struct diag *d, int warning, const char *file, unsigned line, const char *section,
	  const char *key, const char *fmt, va_list ap)
{
	struct diag_item *it;
	struct buf msg = BUF_INIT;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->items = xreallocarray(d->items, d->cap, sizeof(*d->items));
	}
	buf_vprintf(&msg, fmt, ap);
	it = &d->items[d->n++];
	it->file = file ? xstrdup(file) : NULL;
	it->line = line;
	it->section = section ? xstrdup(section) : NULL;
	it->key = key ? xstrdup(key) : NULL;
	it->msg = buf_steal(&msg);
	it->warning = warning;
	if (!warning)
		d->errors++;
}

void
diag_add(struct diag *d, const char *file, unsigned line, const char *section, const char *key,
	 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_addv(d, 0, file, line, section, key, fmt, ap);
	va_end(ap);
}

void
diag_warn(struct diag *d, const char *file, unsigned line, const char *section, const char *key,
	  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_addv(d, 1, file, line, section, key, fmt, ap);
	va_end(ap);
}

char *
diag_format(const struct diag *d, size_t i)
{
	const struct diag_item *it = &d->items[i];
	struct buf b = BUF_INIT;

	if (it->file != NULL) {
		buf_puts(&b, it->file);
		if (it->line > 0)
			buf_printf(&b, ":%u", it->line);
		buf_puts(&b, ": ");
	}
	if (it->warning)
		buf_puts(&b, "warning: ");
	if (it->section != NULL)
		buf_printf(&b, "[%s] ", it->section);
	if (it->key != NULL)
		buf_printf(&b, "%s: ", it->key);
	buf_puts(&b, it->msg);
	return buf_steal(&b);
}

void
diag_print(const struct diag *d, FILE *f)
{
	size_t i;
	char *s;

	for (i = 0; i < d->n; i++) {
		s = diag_format(d, i);
		fprintf(f, "%s\n", s);
		free(s);
	}
}

void
diag_free(struct diag *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->items[i].file);
		free(d->items[i].section);
		free(d->items[i].key);
		free(d->items[i].msg);
	}
	free(d->items);
	d->items = NULL;
	d->n = d->cap = d->errors = 0;
}

static int
item_before(const struct diag_item *a, const struct diag_item *b)
{
	int c;

	if (a->file == NULL || b->file == NULL)
		return a->file != NULL && b->file == NULL;
	c = strcmp(a->file, b->file);
	if (c != 0)
		return c < 0;
	return a->line < b->line;
}

void
diag_sort(struct diag *d)
{
	struct diag_item tmp;
	size_t i, j;

	/* Insertion sort: stable, and a config has few diagnostics. */
	for (i = 1; i < d->n; i++) {
		tmp = d->items[i];
		for (j = i; j > 0 && item_before(&tmp, &d->items[j - 1]); j--)
			d->items[j] = d->items[j - 1];
		d->items[j] = tmp;
	}
}
