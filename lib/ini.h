/*
 * ini.h — the INI lexer of certd's config files.
 *
 * Syntax (one construct per line; no length limit on lines or values):
 *
 *   # comment            ; comment        (only at the start of a line)
 *   [section]            [cert.web]       [cert.web.output.haproxy]
 *   key = value          surrounding blanks trimmed; no inline comments
 *   key = "va\"lue"      double quotes: \\ \" \n \t escapes, rest of line blank
 *   key = <<END          here-document: the following lines verbatim, each
 *   ...                  with its newline, up to a line that is exactly END
 *   END                  (leading blanks allowed before END)
 *
 * Section names are [A-Za-z0-9_.-]+, keys [a-z0-9_]+.  The lexer knows no
 * schema: it reports each assignment through a callback and every syntax
 * error to a diag list, and keeps going after errors.
 *
 * Pure function of its input: no I/O, no logging.
 */
#ifndef CERTD_INI_H
#define CERTD_INI_H

#include <stddef.h>

#include "diag.h"

struct ini_item {
	const char *file;
	unsigned line;        /* line of the key */
	const char *section;  /* never NULL: items outside a section are errors */
	unsigned section_line;
	const char *key;
	const char *value;    /* NUL-terminated; may contain newlines */
	size_t value_len;
	unsigned value_line;  /* line where the value text starts (heredoc: line+1) */
};

/* Called for every assignment, and with key == NULL once for every section
 * header (so empty sections are seen too). */
typedef void (*ini_cb)(void *arg, const struct ini_item *item);

/* Lex len bytes of text from file.  Returns the number of syntax errors
 * added to d (0 when clean).  A NUL byte in the text is an error. */
unsigned ini_parse(const char *file, const char *text, size_t len, ini_cb cb, void *arg,
		   struct diag *d);

#endif
