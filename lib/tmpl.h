/*
 * tmpl.h — Mustache templates over a jansson object.
 *
 * Supported: variables {{x}}, unescaped {{{x}}} and {{& x}}, dotted names,
 * implicit iterator {{.}}, sections over lists/objects/booleans, inverted
 * sections, comments, set-delimiter, and the spec's standalone-line rules.
 * Partials and lambdas are not supported ({{> x}} is a compile error).
 *
 * Escaping is chosen per render: none (PEM files, the default), html (what
 * the Mustache spec expects), json (the inside of a JSON string literal).
 *
 * Pure functions: no I/O, no logging; safe to call from a loop callback.
 */
#ifndef CERTD_TMPL_H
#define CERTD_TMPL_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"

enum tmpl_escape {
	TMPL_ESCAPE_NONE = 0,
	TMPL_ESCAPE_HTML,
	TMPL_ESCAPE_JSON,
};

struct tmpl;

/* Compile len bytes of template text.  On success *out is a new template
 * owned by the caller (free with tmpl_free).  On a syntax error returns
 * -EINVAL, sets *err_line to the 1-based line of the template where the
 * problem is (the opening tag of an unclosed section, the bad tag...) and
 * describes it in e, e.g. "unclosed section \"items\"". */
int tmpl_compile(const char *text, size_t len, struct tmpl **out, unsigned *err_line,
		 struct err *e);

/* Render t with ctx (any JSON value; normally an object) into out
 * (appended).  Returns 0, or -E2BIG with e set and nothing appended when
 * the render would exceed TMPL_MAX_OUTPUT bytes or TMPL_MAX_VISITS node
 * visits (k sections nested over a list of n items render n^k times). */
#define TMPL_MAX_OUTPUT (4u * 1024 * 1024)
#define TMPL_MAX_VISITS 2000000ul
int tmpl_render(const struct tmpl *t, const json_t *ctx, enum tmpl_escape esc, struct buf *out,
		struct err *e);

void tmpl_free(struct tmpl *t);

/* "none", "html", "json" -> value.  Returns 0 or -EINVAL. */
int tmpl_escape_parse(const char *name, enum tmpl_escape *out);
const char *tmpl_escape_name(enum tmpl_escape esc);

#endif
