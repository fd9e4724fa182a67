/*
 * ini.c — line-oriented INI lexer (see ini.h for the syntax).
 *
 * Written for certd rather than taken from libinih because Debian's libinih
 * is built with a 200-byte line buffer and silently cuts longer lines; a
 * template or a SAN list is longer.  Lines are scanned in place; only
 * values that need unescaping or joining are copied.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ini.h"
#include "xalloc.h"

struct lexer {
	const char *file;
	const char *p, *end;
	unsigned line;      /* line number of the line at p */
	char *section;
	unsigned section_line;
	unsigned errors;
	bool skip;          /* inside a malformed section: ignore its keys */
	struct diag *d;
	ini_cb cb;
	void *arg;
};

/* Return the next line [*s, *e) without its terminator, advance. */
static bool
next_line(struct lexer *lx, const char **s, const char **e)
{
	const char *nl;

	if (lx->p >= lx->end)
		return false;
	*s = lx->p;
	nl = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
	*e = nl ? nl : lx->end;
	lx->p = nl ? nl + 1 : lx->end;
	if (*e > *s && (*e)[-1] == '\r')
		(*e)--;
	lx->line++;
	return true;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

static bool
is_section_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static void
error(struct lexer *lx, unsigned line, const char *key, const char *msg)
{
	diag_add(lx->d, lx->file, line, lx->section, key, "%s", msg);
	lx->errors++;
}

static void
emit(struct lexer *lx, unsigned line, const char *key, const char *value, size_t len,
     unsigned value_line)
{
	struct ini_item it = {
		.file = lx->file,
		.line = line,
		.section = lx->section,
		.section_line = lx->section_line,
		.key = key,
		.value = value,
		.value_len = len,
		.value_line = value_line,
	};

	lx->cb(lx->arg, &it);
}

static void
section_header(struct lexer *lx, const char *s, const char *e)
{
	const char *q;

	/* s points at '['; keys up to the next good header are ignored so
	 * that one typo does not cascade into an error per key. */
	lx->skip = true;
	if (e[-1] != ']' || e - s < 3) {
		free(lx->section);
		lx->section = NULL;
		error(lx, lx->line, NULL, "malformed section header: expected [name]");
		return;
	}
	for (q = s + 1; q < e - 1; q++) {
		if (!is_section_char(*q)) {
			free(lx->section);
			lx->section = NULL;
			error(lx, lx->line, NULL,
			      "invalid character in section name (allowed: letters, digits, _ . -)");
			return;
		}
	}
	free(lx->section);
	lx->section = xstrndup(s + 1, (size_t)(e - s - 2));
	lx->section_line = lx->line;
	lx->skip = false;
	emit(lx, lx->line, NULL, NULL, 0, lx->line);
}

/* A double-quoted value: s points after the opening quote. */
static bool
quoted_value(struct lexer *lx, const char *key, const char *s, const char *e, struct buf *out)
{
	const char *q;

	for (q = s; q < e; q++) {
		if (*q == '"') {
			q++;
			while (q < e && is_blank(*q))
				q++;
			if (q != e) {
				error(lx, lx->line, key, "unexpected text after closing quote");
				return false;
			}
			return true;
		}
		if (*q != '\\') {
			buf_putc(out, *q);
			continue;
		}
		if (++q == e)
			break;
		switch (*q) {
		case '\\': buf_putc(out, '\\'); break;
		case '"': buf_putc(out, '"'); break;
		case 'n': buf_putc(out, '\n'); break;
		case 't': buf_putc(out, '\t'); break;
		default:
			error(lx, lx->line, key, "unknown escape in quoted value (allowed: \\\\ \\\" \\n \\t)");
			return false;
		}
	}
	error(lx, lx->line, key, "unterminated quoted value");
	return false;
}

/* A here-document: the lines after the key up to the terminator line. */
static bool
heredoc_value(struct lexer *lx, const char *key, const char *tag, size_t taglen, struct buf *out)
{
	unsigned start = lx->line;
	const char *s, *e, *ts, *te;

	for (size_t i = 0; i < taglen; i++) {
		if (!is_section_char(tag[i])) {
			error(lx, lx->line, key, "here-document tag must be letters, digits, _ . -");
			return false;
		}
	}
	while (next_line(lx, &s, &e)) {
		ts = s;
		te = e;
		trim(&ts, &te);
		if ((size_t)(te - ts) == taglen && memcmp(ts, tag, taglen) == 0)
			return true;
		buf_append(out, s, (size_t)(e - s));
		buf_putc(out, '\n');
	}
	diag_add(lx->d, lx->file, start, lx->section, key,
		 "here-document not terminated: no line \"%.*s\" before end of file", (int)taglen, tag);
	lx->errors++;
	return false;
}

static void
assignment(struct lexer *lx, const char *s, const char *e)
{
	const char *eq, *ks, *ke, *vs, *ve;
	unsigned line = lx->line, value_line = lx->line;
	struct buf value = BUF_INIT;
	char *key = NULL;
	bool ok = true;

	eq = memchr(s, '=', (size_t)(e - s));
	if (eq == NULL) {
		error(lx, line, NULL, "expected key = value");
		return;
	}
	ks = s;
	ke = eq;
	trim(&ks, &ke);
	if (ks == ke) {
		error(lx, line, NULL, "missing key before '='");
		return;
	}
	key = xstrndup(ks, (size_t)(ke - ks));
	for (const char *q = ks; q < ke; q++) {
		if (!is_key_char(*q)) {
			error(lx, line, key, "invalid key name (allowed: a-z 0-9 _)");
			goto out;
		}
	}
	if (lx->section == NULL && lx->skip)
		goto out;
	if (lx->section == NULL) {
		error(lx, line, key, "key outside of any section");
		goto out;
	}
	vs = eq + 1;
	ve = e;
	trim(&vs, &ve);
	if (ve - vs >= 2 && vs[0] == '<' && vs[1] == '<') {
		value_line = line + 1;
		ok = heredoc_value(lx, key, vs + 2, (size_t)(ve - vs - 2), &value);
	} else if (vs < ve && *vs == '"') {
		ok = quoted_value(lx, key, vs + 1, ve, &value);
	} else {
		buf_append(&value, vs, (size_t)(ve - vs));
	}
	if (ok)
		emit(lx, line, key, buf_str(&value), value.len, value_line);
out:
	free(key);
	buf_free(&value);
}

unsigned
ini_parse(const char *file, const char *text, size_t len, ini_cb cb, void *arg, struct diag *d)
{
	struct lexer lx = {
		.file = file, .p = text, .end = text + len, .d = d, .cb = cb, .arg = arg,
	};
	const char *s, *e, *nul;

	nul = memchr(text, '\0', len);
	if (nul != NULL) {
		unsigned line = 1;
		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		diag_add(d, file, line, NULL, NULL, "NUL byte in configuration file");
		return 1;
	}
	while (next_line(&lx, &s, &e)) {
		trim(&s, &e);
		if (s == e || *s == '#' || *s == ';')
			continue;
		if (*s == '[')
			section_header(&lx, s, e);
		else
			assignment(&lx, s, e);
	}
	free(lx.section);
	return lx.errors;
}
