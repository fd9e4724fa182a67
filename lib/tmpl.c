/*
 * tmpl.c — Mustache templates compiled once to a node tree, rendered many
 * times against a jansson value.
 *
 * Owns: a private copy of the template text (struct tmpl.src) and the node
 * tree.  Text nodes and the raw names of tags point into src, so src lives
 * exactly as long as the tree.  Names are split once at compile time into
 * NUL-separated parts (node.parts); the implicit iterator "." has no parts.
 *
 * Invariants:
 *  - The tree is never deeper than TMPL_MAX_DEPTH sections; compile refuses
 *    deeper templates, so the (recursive) render and free are bounded.
 *    Compile itself is iterative: open sections live on a fixed stack.
 *  - Every node is linked into the tree the moment it is created, so a
 *    compile error frees everything through the one tmpl_free() path.
 *  - Rendering cannot fail and allocates only through buf (which aborts on
 *    OOM).  The values it appends may be secrets (private keys): nothing is
 *    copied anywhere except into the caller's buffer.
 *
 * Semantics follow the Mustache spec (github.com/mustache/spec), modules
 * interpolation, sections, inverted, comments and delimiters.  Choices the
 * spec leaves to the implementation:
 *  - falsey: missing, null, false, an empty list and the empty string
 *    (so an optional "chain" field can guard a section); 0 and {} are truthy.
 *  - lists and objects interpolate as nothing; reals use the shortest
 *    "%.*g" form that reads back to the same double (1.21 -> "1.21").
 *  - a tag name is any run of bytes without whitespace, NUL, empty dotted
 *    parts ("a..b", ".a", "a.") — anything else is a compile error.
 * Number formatting assumes LC_NUMERIC is "C" (certd never changes it).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"
#include "xalloc.h"

#define TMPL_MAX_DEPTH 100
/* How much of a tag name goes into an error message. */
#define NAME_MAX_MSG 64
/* Record the template line of a compile error and describe it. */
#define FAIL(p, line, ...) \
	((p)->err_line = (line), err_set((p)->e, EINVAL, __VA_ARGS__))

enum node_type {
	NODE_TEXT,
	NODE_VAR,      /* {{x}}: escaped per render mode */
	NODE_RAW,      /* {{{x}}} and {{& x}}: never escaped */
	NODE_SECTION,  /* {{#x}}...{{/x}} */
	NODE_INVERTED, /* {{^x}}...{{/x}} */
};

struct node {
	enum node_type type;
	const char *text;    /* TEXT: the bytes; others: the raw name (in src) */
	size_t len;
	char *parts;         /* the name split at dots, NUL-separated */
	size_t nparts;       /* 0 for the implicit iterator "." */
	struct node *child;  /* sections: first node of the body */
	struct node *next;
};

struct tmpl {
	char *src;
	struct node *root;
};

/* A tag found in the text.  [start, end) is the whole tag, delimiters
 * included; name/nlen is the content with the sigil and padding removed. */
struct tag {
	size_t start, end;
	char sigil;  /* '#', '^', '/', '!', '=', '>', '&', '{' or 0 */
	const char *name;
	size_t nlen;
};

struct open_section {
	struct node *sec;
	unsigned line;
};

struct parser {
	const char *src;
	size_t len;
	size_t pos;               /* first byte not yet consumed */
	const char *otag, *ctag;  /* current delimiters (point into src) */
	size_t olen, clen;
	size_t lc_pos;            /* line counting: lines before lc_pos */
	unsigned lc_line;
	struct node **tail;       /* where the next node is linked */
	struct open_section stack[TMPL_MAX_DEPTH];
	size_t depth;
	unsigned err_line;
	struct err *e;
};

/* frames of the context stack live on the C stack of the renderer */
struct frame {
	const json_t *v;
	const struct frame *up;
};

static const char *const escape_names[] = {
	[TMPL_ESCAPE_NONE] = "none",
	[TMPL_ESCAPE_HTML] = "html",
	[TMPL_ESCAPE_JSON] = "json",
};

/* ------------------------------------------------------------- compile */

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

/* Length of a name as quoted in an error message ("%.*s"). */
static int
msg_len(size_t n)
{
	return n < NAME_MAX_MSG ? (int)n : NAME_MAX_MSG;
}

static unsigned
line_at(struct parser *p, size_t off)
{
	for (; p->lc_pos < off; p->lc_pos++)
		if (p->src[p->lc_pos] == '\n')
			p->lc_line++;
	return p->lc_line;
}

static struct node *
node_add(struct parser *p, enum node_type type)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->type = type;
	*p->tail = n;
	p->tail = &n->next;
	return n;
}

static void
text_add(struct parser *p, size_t start, size_t end)
{
	struct node *n;

	if (end <= start)
		return;
	n = node_add(p, NODE_TEXT);
	n->text = p->src + start;
	n->len = end - start;
}

/* Find `pre` (if not 0) immediately followed by the closing delimiter, at
 * or after from.  Returns the offset of the match or (size_t)-1. */
static size_t
find_close(const struct parser *p, size_t from, char pre)
{
	const char *s = p->src + from, *end = p->src + p->len, *q;

	while ((q = memmem(s, (size_t)(end - s), p->ctag, p->clen)) != NULL) {
		if (pre == 0)
			return (size_t)(q - p->src);
		if (q > p->src + from && q[-1] == pre)
			return (size_t)(q - 1 - p->src);
		s = q + 1;
	}
	return (size_t)-1;
}

/* Locate the next tag at or after p->pos.  Returns 1 and fills t, 0 when
 * the rest is plain text, or -EINVAL for a tag that is never closed. */
static int
tag_next(struct parser *p, struct tag *t)
{
	const char *o;
	size_t cs, ce;
	char pre = 0;

	o = memmem(p->src + p->pos, p->len - p->pos, p->otag, p->olen);
	if (o == NULL)
		return 0;
	t->start = (size_t)(o - p->src);
	cs = t->start + p->olen;
	t->sigil = 0;
	if (cs < p->len && p->src[cs] != '\0' &&
	    strchr("#^/!=>&{<$", p->src[cs]) != NULL)
		t->sigil = p->src[cs++];
	/* {{{x}}} ends at "}" + close, {{=a b=}} at "=" + close */
	if (t->sigil == '{' || t->sigil == '=')
		pre = t->sigil == '{' ? '}' : '=';
	ce = find_close(p, cs, pre);
	if (ce == (size_t)-1)
		return FAIL(p, line_at(p, t->start),
		    "unclosed tag: no \"%s%.*s\" after \"%.*s\"",
		    pre == '}' ? "}" : pre == '=' ? "=" : "", (int)p->clen,
		    p->ctag, (int)(cs - t->start), o);
	t->end = ce + (pre != 0) + p->clen;
	while (cs < ce && is_ws(p->src[cs]))
		cs++;
	while (ce > cs && is_ws(p->src[ce - 1]))
		ce--;
	t->name = p->src + cs;
	t->nlen = ce - cs;
	return 1;
}

/* A section, inverted, close, comment or delimiter tag alone on its line
 * (only spaces and tabs around it) vanishes with that whitespace and the
 * line's "\n" or "\r\n".  On success [*ls, *le) is the span to drop. */
static int
standalone(const struct parser *p, const struct tag *t, size_t *ls, size_t *le)
{
	size_t a = t->start, b = t->end;

	if (t->sigil == 0 || t->sigil == '&' || t->sigil == '{')
		return 0;
	while (a > 0 && (p->src[a - 1] == ' ' || p->src[a - 1] == '\t'))
		a--;
	if (a > 0 && p->src[a - 1] != '\n')
		return 0;
	while (b < p->len && (p->src[b] == ' ' || p->src[b] == '\t'))
		b++;
	if (b < p->len && p->src[b] == '\n')
		b++;
	else if (b + 1 < p->len && p->src[b] == '\r' && p->src[b + 1] == '\n')
		b += 2;
	else if (b < p->len)
		return 0;
	*ls = a;
	*le = b;
	return 1;
}

/* Validate a tag name and split it into n->parts. */
static int
name_set(struct parser *p, struct node *n, const struct tag *t, unsigned line)
{
	size_t i;
	int empty_part = 0;

	n->text = t->name;
	n->len = t->nlen;
	if (t->nlen == 0)
		return FAIL(p, line, "empty tag name");
	if (t->nlen == 1 && t->name[0] == '.')
		return 0;
	for (i = 0; i < t->nlen; i++) {
		if (is_ws(t->name[i]) || t->name[i] == '\0')
			break;
		if (t->name[i] == '.' &&
		    (i == 0 || i + 1 == t->nlen || t->name[i + 1] == '.'))
			empty_part = 1;
	}
	if (i < t->nlen || empty_part)
		return FAIL(p, line, "invalid tag name \"%.*s\"",
		    msg_len(t->nlen), t->name);
	n->parts = xmalloc(t->nlen + 1);
	memcpy(n->parts, t->name, t->nlen);
	n->parts[t->nlen] = '\0';
	n->nparts = 1;
	for (i = 0; i < t->nlen; i++) {
		if (n->parts[i] == '.') {
			n->parts[i] = '\0';
			n->nparts++;
		}
	}
	return 0;
}

/* {{=<% %>=}}: exactly two non-empty delimiters, no whitespace or '='. */
static int
delims_set(struct parser *p, const struct tag *t, unsigned line)
{
	const char *s = t->name, *end = t->name + t->nlen, *o, *c;
	size_t olen, clen;

	o = s;
	while (s < end && !is_ws(*s) && *s != '=')
		s++;
	olen = (size_t)(s - o);
	while (s < end && is_ws(*s))
		s++;
	c = s;
	while (s < end && !is_ws(*s) && *s != '=')
		s++;
	clen = (size_t)(s - c);
	if (olen == 0 || clen == 0 || s != end)
		return FAIL(p, line, "bad set-delimiter tag \"%.*s\": expected "
		    "two delimiters without spaces or '=', e.g. {{=<%% %%>=}}",
		    msg_len(t->nlen), t->name);
	p->otag = o;
	p->olen = olen;
	p->ctag = c;
	p->clen = clen;
	return 0;
}

static int
section_open(struct parser *p, const struct tag *t, unsigned line)
{
	struct node *n;
	int r;

	if (p->depth == TMPL_MAX_DEPTH)
		return FAIL(p, line, "sections nested deeper than %d",
		    TMPL_MAX_DEPTH);
	n = node_add(p, t->sigil == '#' ? NODE_SECTION : NODE_INVERTED);
	if ((r = name_set(p, n, t, line)) < 0)
		return r;
	p->stack[p->depth].sec = n;
	p->stack[p->depth].line = line;
	p->depth++;
	p->tail = &n->child;
	return 0;
}

static int
section_close(struct parser *p, const struct tag *t, unsigned line)
{
	const struct open_section *o;

	if (t->nlen == 0)
		return FAIL(p, line, "empty tag name");
	if (p->depth == 0)
		return FAIL(p, line, "closing tag \"%.*s\" has no open section",
		    msg_len(t->nlen), t->name);
	o = &p->stack[p->depth - 1];
	if (o->sec->len != t->nlen || memcmp(o->sec->text, t->name, t->nlen) != 0)
		return FAIL(p, line, "closing tag \"%.*s\" does not match open "
		    "section \"%.*s\" opened on line %u", msg_len(t->nlen), t->name,
		    msg_len(o->sec->len), o->sec->text, o->line);
	p->tail = &o->sec->next;
	p->depth--;
	return 0;
}

static int
tag_handle(struct parser *p, const struct tag *t, unsigned line)
{
	struct node *n;

	switch (t->sigil) {
	case '!':
		return 0;
	case '=':
		return delims_set(p, t, line);
	case '#':
	case '^':
		return section_open(p, t, line);
	case '/':
		return section_close(p, t, line);
	case '>':
		return FAIL(p, line, "partials are not supported");
	case '<':
	case '$':
		return FAIL(p, line, "template inheritance is not supported");
	default:
		n = node_add(p, t->sigil == 0 ? NODE_VAR : NODE_RAW);
		return name_set(p, n, t, line);
	}
}

int
tmpl_compile(const char *text, size_t len, struct tmpl **out, unsigned *err_line,
	     struct err *e)
{
	struct tmpl *t = NULL;
	struct parser *p = NULL;
	struct tag tag;
	size_t ls, le;
	unsigned line;
	int r;

	t = xcalloc(1, sizeof(*t));
	t->src = xmalloc(len + 1);
	if (len > 0)
		memcpy(t->src, text, len);
	t->src[len] = '\0';

	p = xcalloc(1, sizeof(*p));
	p->src = t->src;
	p->len = len;
	p->otag = "{{";
	p->ctag = "}}";
	p->olen = p->clen = 2;
	p->lc_line = 1;
	p->tail = &t->root;
	p->e = e;

	while ((r = tag_next(p, &tag)) == 1) {
		line = line_at(p, tag.start);
		if (standalone(p, &tag, &ls, &le)) {
			text_add(p, p->pos, ls);
			p->pos = le;
		} else {
			text_add(p, p->pos, tag.start);
			p->pos = tag.end;
		}
		if ((r = tag_handle(p, &tag, line)) < 0)
			goto out;
	}
	if (r < 0)
		goto out;
	text_add(p, p->pos, len);
	if (p->depth > 0) {
		const struct open_section *o = &p->stack[p->depth - 1];

		r = FAIL(p, o->line, "unclosed section \"%.*s\" opened on line %u",
		    msg_len(o->sec->len), o->sec->text, o->line);
		goto out;
	}
	*out = t;
	t = NULL;
	r = 0;
out:
	if (r < 0 && err_line != NULL)
		*err_line = p->err_line;
	free(p);
	tmpl_free(t);
	return r;
}

/* -------------------------------------------------------------- render */

/* The first part is looked up through the context stack, innermost first;
 * the rest strictly inside the value found (spec: "Dotted Names"). */
static const json_t *
lookup(const struct node *n, const struct frame *f)
{
	const char *part = n->parts;
	const json_t *v = NULL;
	size_t i;

	if (n->nparts == 0)
		return f->v;
	for (; f != NULL; f = f->up)
		if (json_is_object(f->v) && (v = json_object_get(f->v, part)) != NULL)
			break;
	for (i = 1; v != NULL && i < n->nparts; i++) {
		part += strlen(part) + 1;
		v = json_is_object(v) ? json_object_get(v, part) : NULL;
	}
	return v;
}

static int
truthy(const json_t *v)
{
	if (v == NULL || json_is_null(v) || json_is_false(v))
		return 0;
	if (json_is_array(v))
		return json_array_size(v) > 0;
	if (json_is_string(v))
		return json_string_length(v) > 0;
	return 1;
}

/* Shortest "%.*g" that reads back as the same double: 1.21 -> "1.21",
 * 0.1 -> "0.1", 1e21 -> "1e+21".  %g picks the exponent form as soon as
 * the exponent reaches the precision (100.0 -> "1e+02"), so where "%.17g"
 * would print plainly we widen the precision instead: 100.0 -> "100". */
static size_t
real_format(char *s, size_t size, double d)
{
	const char *e;
	long x;
	int prec, n = 0;

	for (prec = 1; prec <= 17; prec++) {
		n = snprintf(s, size, "%.*g", prec, d);
		if (strtod(s, NULL) == d)
			break;
	}
	if (n > 0 && (e = strchr(s, 'e')) != NULL) {
		x = strtol(e + 1, NULL, 10);
		if (x >= prec && x < 17)
			n = snprintf(s, size, "%.*g", (int)x + 1, d);
	}
	return n > 0 ? (size_t)n : 0;
}

static void
put_escaped(struct buf *out, const char *s, size_t n, enum tmpl_escape esc)
{
	const char *special = esc == TMPL_ESCAPE_HTML ? "&<>\"" : "\"\\";
	const char *rep;
	char u[8];
	size_t i, run = 0;
	unsigned char c;

	if (esc == TMPL_ESCAPE_NONE) {
		buf_append(out, s, n);
		return;
	}
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (!(esc == TMPL_ESCAPE_JSON && c < 0x20) &&
		    (c == '\0' || strchr(special, c) == NULL))
			continue;
		buf_append(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = esc == TMPL_ESCAPE_HTML ? "&quot;" : "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		default:
			snprintf(u, sizeof(u), "\\u%04x", c);
			rep = u;
			break;
		}
		buf_puts(out, rep);
	}
	buf_append(out, s + run, n - run);
}

static void
put_value(struct buf *out, const json_t *v, enum tmpl_escape esc)
{
	char num[64];
	const char *s;
	size_t n;
	int k;

	if (v == NULL)
		return;
	switch (json_typeof(v)) {
	case JSON_STRING:
		s = json_string_value(v);
		n = json_string_length(v);
		break;
	case JSON_INTEGER:
		k = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		s = num;
		n = k > 0 ? (size_t)k : 0;
		break;
	case JSON_REAL:
		n = real_format(num, sizeof(num), json_real_value(v));
		s = num;
		break;
	case JSON_TRUE:
		s = "true";
		n = 4;
		break;
	case JSON_FALSE:
		s = "false";
		n = 5;
		break;
	default:
		/* null, lists and objects render as nothing */
		return;
	}
	put_escaped(out, s, n, esc);
}

/* Nested sections over lists multiply (n items, k levels: n^k), so a
 * render has a budget of node visits and output bytes; a template that
 * exceeds it fails instead of stalling the loop or filling memory. */
struct rstate {
	enum tmpl_escape esc;
	struct buf *out;
	size_t start;       /* out->len when the render began */
	unsigned long visits;
	bool over;
};

static void render_nodes(const struct node *n, const struct frame *f, struct rstate *st);

static void
render_section(const struct node *n, const struct frame *f, struct rstate *st)
{
	const json_t *v = lookup(n, f);
	struct frame inner = {v, f};
	size_t i;

	if (!truthy(v))
		return;
	if (!json_is_array(v)) {
		render_nodes(n->child, &inner, st);
		return;
	}
	for (i = 0; i < json_array_size(v) && !st->over; i++) {
		inner.v = json_array_get(v, i);
		render_nodes(n->child, &inner, st);
	}
}

static void
render_nodes(const struct node *n, const struct frame *f, struct rstate *st)
{
	enum tmpl_escape esc = st->esc;
	struct buf *out = st->out;

	for (; n != NULL && !st->over; n = n->next) {
		if (++st->visits > TMPL_MAX_VISITS || out->len - st->start > TMPL_MAX_OUTPUT) {
			st->over = true;
			return;
		}
		switch (n->type) {
		case NODE_TEXT:
			buf_append(out, n->text, n->len);
			break;
		case NODE_VAR:
			put_value(out, lookup(n, f), esc);
			break;
		case NODE_RAW:
			put_value(out, lookup(n, f), TMPL_ESCAPE_NONE);
			break;
		case NODE_SECTION:
			render_section(n, f, st);
			break;
		case NODE_INVERTED:
			if (!truthy(lookup(n, f)))
				render_nodes(n->child, f, st);
			break;
		}
	}
}

int
tmpl_render(const struct tmpl *t, const json_t *ctx, enum tmpl_escape esc, struct buf *out,
	    struct err *e)
{
	struct frame root = {ctx, NULL};
	struct rstate st = {esc, out, 0, 0, false};

	buf_reserve(out, 0);
	st.start = out->len;
	render_nodes(t->root, &root, &st);
	if (st.over) {
		out->len = st.start;
		out->data[out->len] = '\0';
		return err_set(e, E2BIG, "the template renders to more than %u KiB or %lu "
			       "steps (sections nested over lists multiply)",
			       (unsigned)(TMPL_MAX_OUTPUT / 1024), (unsigned long)TMPL_MAX_VISITS);
	}
	return 0;
}

/* ---------------------------------------------------------------- misc */

static void
node_free(struct node *n)
{
	struct node *next;

	for (; n != NULL; n = next) {
		next = n->next;
		node_free(n->child);
		free(n->parts);
		free(n);
	}
}

void
tmpl_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	node_free(t->root);
	free(t->src);
	free(t);
}

int
tmpl_escape_parse(const char *name, enum tmpl_escape *out)
{
	size_t i;

	for (i = 0; i < sizeof(escape_names) / sizeof(escape_names[0]); i++) {
		if (strcmp(name, escape_names[i]) == 0) {
			*out = (enum tmpl_escape)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
tmpl_escape_name(enum tmpl_escape esc)
{
	if ((size_t)esc >= sizeof(escape_names) / sizeof(escape_names[0]))
		return "?";
	return escape_names[esc];
}
