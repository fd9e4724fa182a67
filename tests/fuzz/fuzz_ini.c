/*
 * fuzz_ini.c — libFuzzer harness for the INI lexer (lib/ini.c).
 *
 * Input: the bytes of a config file, given to ini_parse() as a buffer.
 * Besides the sanitizers, it checks what ini.h promises the config loader:
 * every item has a section of [A-Za-z0-9_.-]+, every key is [a-z0-9_]+,
 * value[value_len] is the terminator, lines never go backwards, and the
 * return value is the number of errors added to the diag list.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t size;
	unsigned last_line;
	size_t items;
};

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_ini: invariant violated: %s\n", what);
	abort();
}

static int
only(const char *s, const char *allowed_extra, int upper)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		    (upper && *s >= 'A' && *s <= 'Z') || strchr(allowed_extra, *s) != NULL)
			continue;
		return 0;
	}
	return 1;
}

static void
on_item(void *arg, const struct ini_item *it)
{
	struct seen *s = arg;

	s->items++;
	if (it->section == NULL || !only(it->section, ".-", 1))
		fail("section name");
	if (it->line < s->last_line || it->line == 0)
		fail("line numbers go backwards");
	s->last_line = it->line;
	if (strcmp(it->file, "certd.conf") != 0)
		fail("file name");
	if (it->key == NULL)
		return;
	if (!only(it->key, "", 0))
		fail("key name");
	if (it->value == NULL || it->value[it->value_len] != '\0')
		fail("value not terminated at value_len");
	/* A value is never longer than the input it came from. */
	if (it->value_len > s->size)
		fail("value longer than the input");
	if (it->value_line < it->line)
		fail("value_line before line");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d = DIAG_INIT;
	struct seen s = {size, 0, 0};
	static const char empty[1];
	const char *text = size > 0 ? (const char *)data : empty;
	unsigned errors;
	size_t i;

	errors = ini_parse("certd.conf", text, size, on_item, &s, &d);
	if (errors != d.errors)
		fail("return value is not the number of errors added");
	if (memchr(text, '\0', size) != NULL && (errors != 1 || s.items != 0))
		fail("a NUL byte must be one error and no items");
	for (i = 0; i < d.n; i++) {
		char *msg = diag_format(&d, i);
		if (msg == NULL || strncmp(msg, "certd.conf:", 11) != 0)
			fail("diagnostic not located in the file");
		free(msg);
	}
	diag_free(&d);
	return 0;
}
