/*
 * fuzz_tmpl.c — libFuzzer harness for the Mustache templates (lib/tmpl.c).
 *
 * Input: one byte choosing the escape mode (none, html, json), then the
 * template text.  It is compiled, and when it compiles it is rendered
 * twice against a fixed context shaped like render.c's (strings, PEM-like
 * text, name lists, integers) plus the other JSON types the renderer
 * handles (real, true/false, null, nested objects, lists of objects).
 *
 * Invariants checked (tmpl.h): a compile error is -EINVAL with a message
 * and a 1-based line and leaves *out alone; rendering is deterministic; a
 * template without any "{{" renders to exactly its own text.
 *
 * Known, not fixed: rendering is exponential in the nesting of sections
 * over lists (k nested sections over a list of n items render n^k times;
 * tmpl.c bounds the depth at 100, not the work).  Templates come from the
 * operator's config, not from the network, and certd does not cap that
 * work today (the fuzzing results, finding 3).  So that every long run
 * does not stop on it, the harness renders only templates whose
 * worst-case work (every section taken as a list of LIST_MAX items) stays
 * under WORK_MAX node visits, and only compiles the others.  tmpl.c is
 * compiled into the harness (#include) to read the node tree for that
 * estimate; nothing else of it is used directly.
 */
#include "../../lib/tmpl.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The longest list in the context below, and the render budget. */
#define LIST_MAX 3
#define WORK_MAX 1000000.0

static const char context_json[] =
    "{\"name\": \"web\", \"issuer\": \"local\", \"common_name\": \"www.example.com\","
    " \"alt_names\": [\"www.example.com\", \"example.com\"], \"ip_sans\": [\"192.0.2.1\"],"
    " \"uri_sans\": [], \"serial\": \"5c:1e:0b:77\","
    " \"fingerprint_sha256\": \"00ff\", \"not_before\": \"2026-01-01T00:00:00Z\","
    " \"not_after\": \"2026-12-25T10:00:00Z\", \"not_before_unix\": 1767225600,"
    " \"not_after_unix\": 1798192800,"
    " \"cert\": \"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\","
    " \"key\": \"-----BEGIN PRIVATE KEY-----\\nMIGH\\n-----END PRIVATE KEY-----\\n\","
    " \"chain\": \"\", \"fullchain\": \"x\\ny\\n\", \"ca\": \"<ca & \\\"root\\\">\","
    " \"real\": 1.21, \"big\": 1e300, \"neg\": -3, \"t\": true, \"f\": false, \"n\": null,"
    " \"ctrl\": \"\\u0001\\t\\r\\n\\\\\\\"\", \"empty\": [], \"zero\": 0, \"obj\": {},"
    " \"a\": {\"b\": {\"c\": \"deep\"}}, \"list\": [{\"item\": 1}, {\"item\": \"two\"}, 3],"
    " \"person\": {\"name\": \"Joe\"}, \"data\": \"d\", \"section\": true}";

static json_t *ctx;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_tmpl: invariant violated: %s\n", what);
	abort();
}

/* Upper bound of the node visits of rendering n and its siblings. */
static double
work(const struct node *n)
{
	double w = 0;

	for (; n != NULL && w <= WORK_MAX; n = n->next) {
		if (n->type == NODE_SECTION)
			w += LIST_MAX * (1 + work(n->child));
		else
			w += 1 + work(n->child);
	}
	return w;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tmpl *t = (struct tmpl *)&ctx, *sentinel = t;
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct err e = {{0}};
	enum tmpl_escape esc;
	const char *text;
	unsigned line = 0;
	size_t len;
	int rc, ra, rb;

	if (ctx == NULL && (ctx = json_loads(context_json, 0, NULL)) == NULL)
		fail("context does not parse");
	if (size == 0)
		return 0;
	esc = (enum tmpl_escape)(data[0] % 3);
	text = (const char *)data + 1;
	len = size - 1;

	rc = tmpl_compile(text, len, &t, &line, &e);
	if (rc < 0) {
		if (rc != -EINVAL || line == 0 || e.msg[0] == '\0' || t != sentinel)
			fail("compile error contract");
		return 0;
	}
	if (rc != 0 || t == sentinel || t == NULL)
		fail("compile success contract");
	if (work(t->root) > WORK_MAX) {
		tmpl_free(t);
		return 0;
	}
	ra = tmpl_render(t, ctx, esc, &a, NULL);
	rb = tmpl_render(t, ctx, esc, &b, NULL);
	if (ra != rb || (ra != 0 && ra != -E2BIG))
		fail("render result is not 0 or -E2BIG, or not deterministic");
	if (ra != 0 && (a.len != 0 || b.len != 0))
		fail("a refused render left output");
	if (a.len != b.len || (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
		fail("render is not deterministic");
	if (memmem(text, len, "{{", 2) == NULL &&
	    (a.len != len || (len > 0 && memcmp(a.data, text, len) != 0)))
		fail("text without tags is not rendered as is");
	buf_free(&a);
	buf_free(&b);
	tmpl_free(t);
	return 0;
}
