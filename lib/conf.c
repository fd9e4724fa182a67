/*
 * conf.c — loading, binding and validating the configuration.
 *
 * Three passes, all errors collected into one diag list:
 *   1. lex certd.conf, then the .conf files of certd.conf.d in name order;
 *      a key set twice in one file is an error, a later file overrides;
 *   2. bind every section through the schema table (conf_schema.c): values
 *      are parsed by type, defaults are config text parsed the same way, a
 *      [cert.NAME] key flagged defaultable falls back to [certd];
 *   3. validate what no single key can: names, key type and bits, unique
 *      output paths, TTL against the local CA's max_ttl.
 * The result is immutable; conf_free() walks the schema to release it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "conf_schema.h"
#include "duration.h"
#include "fsutil.h"
#include "ini.h"
#include "reload.h"
#include "xalloc.h"

#define CONF_FILE_MAX (16 * 1024 * 1024)
#define TEMPLATE_FILE_MAX (1024 * 1024)

struct raw {
	char *file;
	unsigned file_index;
	unsigned line;
	unsigned value_line;
	char *section;
	char *key;
	char *value;
};

struct rawsec {
	size_t seq;         /* declaration order, to keep the first of repeats */
	char *name;
	char *file;
	unsigned line;
};

struct loader {
	struct diag *d;
	struct raw *items;
	size_t n, cap;
	struct rawsec *secs;
	size_t nsec, capsec;
	unsigned file_index;
	size_t parse_diags;  /* diagnostics from parsing values (before validation) */
};

/* ------------------------------------------------------------ reading */

static void
on_item(void *arg, const struct ini_item *it)
{
	struct loader *ld = arg;
	struct raw *r;

	if (it->key == NULL) {
		if (ld->nsec == ld->capsec) {
			ld->capsec = ld->capsec ? ld->capsec * 2 : 16;
			ld->secs = xreallocarray(ld->secs, ld->capsec, sizeof(*ld->secs));
		}
		ld->secs[ld->nsec].seq = ld->nsec;
		ld->secs[ld->nsec].name = xstrdup(it->section);
		ld->secs[ld->nsec].file = xstrdup(it->file);
		ld->secs[ld->nsec].line = it->line;
		ld->nsec++;
		return;
	}
	if (ld->n == ld->cap) {
		ld->cap = ld->cap ? ld->cap * 2 : 64;
		ld->items = xreallocarray(ld->items, ld->cap, sizeof(*ld->items));
	}
	r = &ld->items[ld->n++];
	r->file = xstrdup(it->file);
	r->file_index = ld->file_index;
	r->line = it->line;
	r->value_line = it->value_line;
	r->section = xstrdup(it->section);
	r->key = xstrdup(it->key);
	r->value = xstrndup(it->value, it->value_len);
}

static void
raw_free(struct raw *r)
{
	free(r->file);
	free(r->section);
	free(r->key);
	free(r->value);
}

static int
cmp_raw(const void *a, const void *b)
{
	const struct raw *x = a, *y = b;
	int c = strcmp(x->section, y->section);

	if (c == 0)
		c = strcmp(x->key, y->key);
	if (c == 0)
		c = x->file_index < y->file_index ? -1 : x->file_index > y->file_index;
	if (c == 0)
		c = x->line < y->line ? -1 : x->line > y->line;
	return c;
}

static int
cmp_rawsec(const void *a, const void *b)
{
	const struct rawsec *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/*
 * Sort items by (section, key, file, line) so that lookups are binary
 * searches, then resolve repeats: within one file a repeat is an error,
 * a later file overrides an earlier one.  Sections are de-duplicated the
 * same way, keeping their first declaration.
 */
static void
resolve_items(struct loader *ld)
{
	size_t i, w = 0;

	if (ld->n > 1)
		qsort(ld->items, ld->n, sizeof(*ld->items), cmp_raw);
	for (i = 0; i < ld->n; i++) {
		struct raw *r = &ld->items[i];
		if (w > 0 && strcmp(ld->items[w - 1].section, r->section) == 0 &&
		    strcmp(ld->items[w - 1].key, r->key) == 0) {
			struct raw *prev = &ld->items[w - 1];
			if (prev->file_index == r->file_index) {
				diag_add(ld->d, r->file, r->line, r->section, r->key,
					 "set more than once (first on line %u)", prev->line);
				raw_free(r);
				continue;
			}
			raw_free(prev);
			*prev = *r;
			continue;
		}
		ld->items[w++] = *r;
	}
	ld->n = w;
	if (ld->nsec > 1)
		qsort(ld->secs, ld->nsec, sizeof(*ld->secs), cmp_rawsec);
	for (i = 0, w = 0; i < ld->nsec; i++) {
		if (w > 0 && strcmp(ld->secs[w - 1].name, ld->secs[i].name) == 0) {
			free(ld->secs[i].name);
			free(ld->secs[i].file);
			continue;
		}
		ld->secs[w++] = ld->secs[i];
	}
	ld->nsec = w;
}

static int
lex_file(struct loader *ld, const char *path, bool required)
{
	struct buf text = BUF_INIT;
	int rc;

	rc = fsutil_read_file(path, CONF_FILE_MAX, &text, NULL);
	if (rc < 0) {
		if (rc == -EFBIG)
			diag_add(ld->d, path, 0, NULL, NULL, "file is larger than %d bytes",
				 CONF_FILE_MAX);
		else if (required || rc != -ENOENT)
			diag_add(ld->d, path, 0, NULL, NULL, "cannot read: %s", strerror(-rc));
		buf_free(&text);
		return rc;
	}
	ld->file_index++;
	ini_parse(path, buf_str(&text), text.len, on_item, ld, ld->d);
	buf_free(&text);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* certd.conf.d next to the main file: its .conf files in strcmp order. */
static void
lex_dropins(struct loader *ld, const char *main_path)
{
	char *dir = xasprintf("%s.d", main_path);
	char **names = NULL, *p;
	size_t n = 0, cap = 0, i, len;
	struct dirent *de;
	DIR *dh;

	dh = opendir(dir);
	if (dh == NULL) {
		if (errno != ENOENT)
			diag_add(ld->d, dir, 0, NULL, NULL, "cannot open directory: %s",
				 strerror(errno));
		free(dir);
		return;
	}
	while ((de = readdir(dh)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dh);
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		p = xasprintf("%s/%s", dir, names[i]);
		lex_file(ld, p, true);
		free(p);
		free(names[i]);
	}
	free(names);
	free(dir);
}

/* ------------------------------------------------------------ values */

struct loc {
	const char *file;
	unsigned line;
	unsigned value_line;
	const char *section;
	const char *key;
};

static bool
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

static bool
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static void
parse_list(const char *s, struct conf_list *out)
{
	const char *p = s, *e, *ts, *te;

	while (*p != '\0') {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		ts = p;
		te = e;
		while (ts < te && isspace((unsigned char)*ts))
			ts++;
		while (te > ts && isspace((unsigned char)te[-1]))
			te--;
		if (te > ts) {
			out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
			out->v[out->n++] = xstrndup(ts, (size_t)(te - ts));
		}
		p = *e ? e + 1 : e;
	}
}

static int
choice_index(const char *choices, const char *s)
{
	size_t len = strlen(s);
	const char *p = choices, *e;
	int i = 0;

	for (;;) {
		e = strchr(p, '|');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) == len && strncmp(p, s, len) == 0)
			return i;
		if (*e == '\0')
			return -1;
		p = e + 1;
		i++;
	}
}

static void
template_error(struct diag *d, const struct loc *l, const char *file, unsigned base_line,
	       unsigned err_line, const struct err *e)
{
	diag_add(d, file, base_line + (err_line ? err_line - 1 : 0), l->section, l->key,
		 "%s", e->msg);
}

/* Parse value into base + k->offset (and aux).  Errors go to d at l. */
static void
bind_value(struct diag *d, const struct conf_key *k, void *base, const char *value,
	   const struct loc *l)
{
	char *field = (char *)base + k->offset;
	char *aux = (char *)base + k->aux_offset;
	unsigned long ul;
	int64_t dur;
	int rc, idx;
	unsigned err_line = 0;
	struct err e = {{0}};
	struct passwd *pw;
	struct group *gr;
	struct buf text = BUF_INIT;

	switch (k->type) {
	case CONF_T_STRING:
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		break;
	case CONF_T_PATH:
		if (value[0] != '/') {
			diag_add(d, l->file, l->line, l->section, l->key,
				 "\"%s\" is not an absolute path", value);
			break;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		break;
	case CONF_T_BOOL:
		if (!parse_bool(value, (bool *)field))
			diag_add(d, l->file, l->line, l->section, l->key,
				 "\"%s\" is not a boolean (true/false, yes/no, on/off, 1/0)", value);
		break;
	case CONF_T_DURATION:
		rc = duration_parse(value, &dur);
		if (rc == -ERANGE)
			diag_add(d, l->file, l->line, l->section, l->key,
				 "duration \"%s\" is too long", value);
		else if (rc < 0)
			diag_add(d, l->file, l->line, l->section, l->key,
				 "\"%s\" is not a duration (examples: 90s, 15m, 72h, 30d, 1h30m)", value);
		else
			*(int64_t *)field = dur;
		break;
	case CONF_T_UINT:
	case CONF_T_PERCENT:
		if (!parse_uint(value, k->type == CONF_T_PERCENT ? 100 : 0xffffffffUL, &ul))
			diag_add(d, l->file, l->line, l->section, l->key, "\"%s\" is not %s", value,
				 k->type == CONF_T_PERCENT ? "a whole number from 0 to 100"
							  : "a non-negative integer");
		else
			*(unsigned *)field = (unsigned)ul;
		break;
	case CONF_T_MODE:
		ul = 0;
		rc = value[0] == '\0' || strlen(value) > 4;
		for (const char *p = value; *p && !rc; p++) {
			if (*p < '0' || *p > '7')
				rc = 1;
			else
				ul = ul * 8 + (unsigned long)(*p - '0');
		}
		if (rc || ul > 07777)
			diag_add(d, l->file, l->line, l->section, l->key,
				 "\"%s\" is not an octal file mode like 0640", value);
		else
			*(mode_t *)field = (mode_t)ul;
		break;
	case CONF_T_LIST:
		parse_list(value, (struct conf_list *)field);
		break;
	case CONF_T_ENUM:
		idx = choice_index(k->choices, value);
		if (idx < 0) {
			diag_add(d, l->file, l->line, l->section, l->key,
				 "\"%s\" is not one of %s", value, k->choices);
			break;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		if (k->aux_offset)
			*(int *)aux = idx;
		break;
	case CONF_T_USER:
		if (parse_uint(value, 0x7fffffffUL, &ul)) {
			*(uid_t *)aux = (uid_t)ul;
		} else if ((pw = getpwnam(value)) != NULL) {
			*(uid_t *)aux = pw->pw_uid;
		} else {
			diag_add(d, l->file, l->line, l->section, l->key, "no such user \"%s\"", value);
			break;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		break;
	case CONF_T_GROUP:
		if (parse_uint(value, 0x7fffffffUL, &ul)) {
			*(gid_t *)aux = (gid_t)ul;
		} else if ((gr = getgrnam(value)) != NULL) {
			*(gid_t *)aux = gr->gr_gid;
		} else {
			diag_add(d, l->file, l->line, l->section, l->key, "no such group \"%s\"", value);
			break;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		break;
	case CONF_T_TEMPLATE:
		if (*(struct tmpl **)aux != NULL) {
			diag_add(d, l->file, l->line, l->section, l->key,
				 "template and template_file are both set; keep one");
			break;
		}
		if (tmpl_compile(value, strlen(value), (struct tmpl **)aux, &err_line, &e) < 0) {
			template_error(d, l, l->file, l->value_line, err_line, &e);
			break;
		}
		*(char **)field = xstrdup(value);
		break;
	case CONF_T_TEMPLATE_FILE:
		if (value[0] != '/') {
			diag_add(d, l->file, l->line, l->section, l->key,
				 "\"%s\" is not an absolute path", value);
			break;
		}
		if (*(struct tmpl **)aux != NULL) {
			diag_add(d, l->file, l->line, l->section, l->key,
				 "template and template_file are both set; keep one");
			break;
		}
		rc = fsutil_read_file(value, TEMPLATE_FILE_MAX, &text, NULL);
		if (rc < 0) {
			diag_add(d, l->file, l->line, l->section, l->key, "cannot read \"%s\": %s",
				 value, rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		} else if (tmpl_compile(buf_str(&text), text.len, (struct tmpl **)aux, &err_line,
					&e) < 0) {
			template_error(d, l, value, 1, err_line, &e);
		} else {
			*(char **)field = xstrdup(value);
		}
		buf_free(&text);
		break;
	}
}

static void
free_fields(enum conf_section_kind sec, void *base)
{
	const struct conf_key *k;
	struct conf_list *list;
	size_t i, j;

	for (i = 0; i < conf_n_keys; i++) {
		k = &conf_keys[i];
		if (k->section != sec)
			continue;
		switch (k->type) {
		case CONF_T_LIST:
			list = (struct conf_list *)((char *)base + k->offset);
			for (j = 0; j < list->n; j++)
				free(list->v[j]);
			free(list->v);
			list->v = NULL;
			list->n = 0;
			break;
		case CONF_T_TEMPLATE:
		case CONF_T_TEMPLATE_FILE:
			tmpl_free(*(struct tmpl **)((char *)base + k->aux_offset));
			*(struct tmpl **)((char *)base + k->aux_offset) = NULL;
			/* fall through */
		case CONF_T_STRING:
		case CONF_T_PATH:
		case CONF_T_ENUM:
		case CONF_T_USER:
		case CONF_T_GROUP:
			free(*(char **)((char *)base + k->offset));
			*(char **)((char *)base + k->offset) = NULL;
			break;
		default:
			break;
		}
	}
}

/* ------------------------------------------------------------ binding */

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, tmp, best;
	size_t row[64];

	if (lb >= sizeof(row) / sizeof(row[0]) || la >= 64)
		return (size_t)-1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

static bool
key_allowed(const struct conf_key *k, enum conf_section_kind sec)
{
	return k->section == sec ||
	       (sec == CONF_SEC_CERTD && k->section == CONF_SEC_CERT && (k->flags & CONF_F_DEFAULTABLE));
}

static const struct conf_key *
find_key(enum conf_section_kind sec, const char *name)
{
	size_t i;

	for (i = 0; i < conf_n_keys; i++)
		if (key_allowed(&conf_keys[i], sec) && strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static void
unknown_key(struct diag *d, const struct raw *r, enum conf_section_kind sec)
{
	const char *best = NULL;
	size_t i, dist, best_dist = (size_t)-1, limit;

	for (i = 0; i < conf_n_keys; i++) {
		if (!key_allowed(&conf_keys[i], sec))
			continue;
		dist = edit_distance(r->key, conf_keys[i].name);
		if (dist < best_dist) {
			best_dist = dist;
			best = conf_keys[i].name;
		}
	}
	limit = strlen(r->key) / 3 > 2 ? strlen(r->key) / 3 : 2;
	if (best != NULL && best_dist <= limit)
		diag_add(d, r->file, r->line, r->section, r->key,
			 "unknown key; did you mean \"%s\"?", best);
	else
		diag_add(d, r->file, r->line, r->section, r->key, "unknown key");
}

/* First item of section (items are sorted), or ld->n. */
static size_t
section_start(const struct loader *ld, const char *section)
{
	size_t lo = 0, hi = ld->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(ld->items[mid].section, section) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct raw *
find_raw(const struct loader *ld, const char *section, const char *key)
{
	size_t i;

	for (i = section_start(ld, section); i < ld->n; i++) {
		if (strcmp(ld->items[i].section, section) != 0)
			break;
		if (strcmp(ld->items[i].key, key) == 0)
			return &ld->items[i];
	}
	return NULL;
}

/* Bind every schema key of kind sec for section name into base. */
static void
bind_section(struct loader *ld, enum conf_section_kind sec, const char *name, void *base,
	     const char *decl_file, unsigned decl_line)
{
	const struct conf_key *k;
	const struct raw *r;
	struct loc l;
	size_t i;

	for (i = section_start(ld, name); i < ld->n; i++) {
		r = &ld->items[i];
		if (strcmp(r->section, name) != 0)
			break;
		if (find_key(sec, r->key) == NULL)
			unknown_key(ld->d, r, sec);
	}
	for (i = 0; i < conf_n_keys; i++) {
		k = &conf_keys[i];
		if (k->section != sec)
			continue;
		r = find_raw(ld, name, k->name);
		if (r == NULL && (k->flags & CONF_F_DEFAULTABLE))
			r = find_raw(ld, "certd", k->name);
		if (r != NULL) {
			l = (struct loc){r->file, r->line, r->value_line, r->section, r->key};
			bind_value(ld->d, k, base, r->value, &l);
		} else if (k->def != NULL) {
			l = (struct loc){"(built-in default)", 0, 0, name, k->name};
			bind_value(ld->d, k, base, k->def, &l);
		} else if (k->flags & CONF_F_REQUIRED) {
			diag_add(ld->d, decl_file, decl_line, name, k->name, "required key is missing");
		}
	}
}

static bool
valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* Split "cert.NAME" / "cert.NAME.output.OUT".  Returns the kind or -1. */
static int
classify(const char *s, char **cert, char **out)
{
	const char *p, *q;

	*cert = *out = NULL;
	if (strcmp(s, "certd") == 0)
		return CONF_SEC_CERTD;
	if (strcmp(s, "local_ca") == 0)
		return CONF_SEC_LOCAL_CA;
	if (strcmp(s, "vault") == 0)
		return CONF_SEC_VAULT;
	if (strncmp(s, "cert.", 5) != 0)
		return -1;
	p = s + 5;
	q = strchr(p, '.');
	if (q == NULL) {
		if (!valid_name(p, strlen(p)))
			return -1;
		*cert = xstrdup(p);
		return CONF_SEC_CERT;
	}
	static const struct {
		const char *infix;
		int kind;
	} kinds[] = {
		{".output.", CONF_SEC_OUTPUT},
		{".reload.", CONF_SEC_RELOAD},
		{".kv.", CONF_SEC_KV},
	};
	size_t k, len;

	if (!valid_name(p, (size_t)(q - p)))
		return -1;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		len = strlen(kinds[k].infix);
		if (strncmp(q, kinds[k].infix, len) != 0 || !valid_name(q + len, strlen(q + len)))
			continue;
		*cert = xstrndup(p, (size_t)(q - p));
		*out = xstrdup(q + len);
		return kinds[k].kind;
	}
	return -1;
}

static struct conf_cert *
cert_by_name(struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_certs; i++)
		if (strcmp(c->certs[i].name, name) == 0)
			return &c->certs[i];
	return NULL;
}

/* ------------------------------------------------------------ validation */

static bool
plausible_dns_name(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_' &&
		    !(s[i] == '*' && i == 0))
			return false;
	}
	return true;
}

static bool
is_ip(const char *s)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

/* A diagnostic at the line of key in section, or at file:line. */
static void __attribute__((format(printf, 7, 0)))
key_diagv(struct loader *ld, const char *file, unsigned line, const char *section, const char *key,
	  int warning, const char *fmt, va_list ap)
{
	const struct raw *r = find_raw(ld, section, key);
	size_t i;

	/* A value that already failed to parse is not judged again. */
	for (i = 0; i < ld->parse_diags && i < ld->d->n; i++) {
		const struct diag_item *it = &ld->d->items[i];
		if (!it->warning && it->section && it->key && strcmp(it->section, section) == 0 &&
		    strcmp(it->key, key) == 0)
			return;
	}
	diag_addv(ld->d, warning, r ? r->file : file, r ? r->line : line, section, key, fmt, ap);
}

static void
key_diagv2(struct loader *ld, const char *file, unsigned line, const char *section,
	   const char *key, const char *msg)
{
	const struct raw *r = find_raw(ld, section, key);

	diag_add(ld->d, r ? r->file : file, r ? r->line : line, section, key, "%s", msg);
}

static void __attribute__((format(printf, 5, 6)))
key_diag(struct loader *ld, const char *file, const char *section, const char *key,
	 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	key_diagv(ld, file, 0, section, key, 0, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 6, 7)))
cert_diag(struct loader *ld, const struct conf_cert *cc, const char *section, const char *key,
	  int warning, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	key_diagv(ld, cc->file, cc->line, section, key, warning, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 5, 6)))
vault_diag(struct loader *ld, const struct conf *c, const char *key, int warning,
	   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	key_diagv(ld, c->path, 0, "vault", key, warning, fmt, ap);
	va_end(ap);
}

static void
validate_reload(struct loader *ld, const struct conf_reload *rl, const char *section)
{
	if (rl->type_name == NULL)
		return;
	switch (rl->type) {
	case CONF_RELOAD_SIGNAL:
		/* The same table the reload module sends from. */
		if (rl->signal == NULL || reload_signal_from_name(rl->signal) < 0)
			key_diagv2(ld, rl->file, rl->line, section, "signal",
				   "not a signal certd sends (HUP INT QUIT KILL USR1 USR2 ALRM TERM CONT WINCH)");
		if (rl->pidfile == NULL && rl->unit == NULL)
			key_diagv2(ld, rl->file, rl->line, section, "pidfile",
				   "set pidfile, or unit to signal its main process");
		if (rl->pidfile != NULL && rl->unit != NULL)
			key_diagv2(ld, rl->file, rl->line, section, "unit",
				   "set pidfile or unit, not both");
		break;
	case CONF_RELOAD_SYSTEMD_UNIT:
		if (rl->unit == NULL)
			key_diagv2(ld, rl->file, rl->line, section, "unit", "required with type = systemd_unit");
		break;
	case CONF_RELOAD_COMMAND:
		if (rl->command == NULL || rl->command[0] == '\0')
			key_diagv2(ld, rl->file, rl->line, section, "command", "required with type = command");
		else if (!rl->shell && rl->command[0] != '/')
			key_diagv2(ld, rl->file, rl->line, section, "command",
				   "the program must be an absolute path (or set shell = true)");
		break;
	case CONF_RELOAD_HTTP:
		if (rl->url == NULL || (strncmp(rl->url, "https://", 8) != 0 &&
					strncmp(rl->url, "http://", 7) != 0))
			key_diagv2(ld, rl->file, rl->line, section, "url",
				   "required with type = http: an http:// or https:// URL");
		break;
	default:
		break;
	}
}

/* [vault] is checked only when something uses it. */
static void
validate_vault(struct loader *ld, const struct conf *c)
{
	const struct conf_vault *v = &c->vault;
	bool used = v->address.n > 0;
	size_t i;

	for (i = 0; i < c->n_certs && !used; i++)
		used = c->certs[i].issuer_kind != CONF_ISSUER_LOCAL;
	if (!used)
		return;
	for (i = 0; i < v->address.n; i++) {
		const char *a = v->address.v[i];
		if (strncmp(a, "https://", 8) != 0 && strncmp(a, "http://", 7) != 0)
			vault_diag(ld, c, "address", 0, "\"%s\" is not an http:// or https:// URL", a);
		else if (strncmp(a, "http://", 7) == 0 && strncmp(a + 7, "127.", 4) != 0 &&
			 strncmp(a + 7, "localhost", 9) != 0 && strncmp(a + 7, "[::1]", 5) != 0)
			vault_diag(ld, c, "address", 1,
				   "\"%s\" is plain HTTP: the token crosses the network in clear", a);
	}
	if (v->tls_skip_verify)
		vault_diag(ld, c, "tls_skip_verify", 1,
			   "Vault's TLS certificate will not be verified; anyone on the path can "
			   "impersonate Vault");
	if ((v->client_cert == NULL) != (v->client_key == NULL))
		vault_diag(ld, c, v->client_cert ? "client_key" : "client_cert", 0,
			   "client_cert and client_key go together");
	switch (v->auth_method) {
	case 1: /* approle */
		if (v->role_id_file == NULL)
			vault_diag(ld, c, "role_id_file", 0, "required with auth_method = approle");
		if (v->secret_id_file == NULL)
			vault_diag(ld, c, "secret_id_file", 0, "required with auth_method = approle");
		break;
	case 2: /* cert */
		if (v->client_cert == NULL)
			vault_diag(ld, c, "client_cert", 0, "required with auth_method = cert");
		break;
	case 3: /* kubernetes */
	case 4: /* jwt */
		if (v->role == NULL)
			vault_diag(ld, c, "role", 0, "required with auth_method = %s",
				   v->auth_method_name);
		if (v->jwt_file == NULL)
			vault_diag(ld, c, "jwt_file", 0, "required with auth_method = %s",
				   v->auth_method_name);
		break;
	default:
		break;
	}
}

struct sectigo_report_ctx {
	struct loader *ld;
	const struct conf_cert *cc;
	const char *section;
};

static void
sectigo_report(void *ctx, const char *key, int warning, const char *msg)
{
	struct sectigo_report_ctx *rc = ctx;

	cert_diag(rc->ld, rc->cc, rc->section, key, warning, "%s", msg);
}

static void
validate_cert(struct loader *ld, const struct conf *c, const struct conf_cert *cc,
	      const char *section)
{
	struct err e = {{0}};
	enum x509_key_type kt;
	size_t i;

	if (cc->common_name == NULL && cc->alt_names.n == 0 && cc->ip_sans.n == 0 &&
	    cc->uri_sans.n == 0)
		diag_add(ld->d, cc->file, cc->line, section, NULL,
			 "no name requested: set common_name, alt_names, ip_sans or uri_sans");
	for (i = 0; i < cc->alt_names.n; i++)
		if (!plausible_dns_name(cc->alt_names.v[i]))
			cert_diag(ld, cc, section, "alt_names", 0, "\"%s\" is not a DNS name",
				 cc->alt_names.v[i]);
	for (i = 0; i < cc->ip_sans.n; i++)
		if (!is_ip(cc->ip_sans.v[i]))
			cert_diag(ld, cc, section, "ip_sans", 0, "\"%s\" is not an IPv4 or IPv6 address",
				 cc->ip_sans.v[i]);
	for (i = 0; i < cc->uri_sans.n; i++)
		if (strchr(cc->uri_sans.v[i], ':') == NULL)
			cert_diag(ld, cc, section, "uri_sans", 0, "\"%s\" is not a URI (no scheme)",
				 cc->uri_sans.v[i]);
	if (cc->key_type_name != NULL &&
	    x509_key_type_parse(cc->key_type_name, cc->key_bits, &kt, &e) < 0)
		cert_diag(ld, cc, section, "key_bits", 0, "%s", e.msg);
	if (cc->ttl <= 0)
		cert_diag(ld, cc, section, "ttl", 0, "must be longer than 0s");
	if (cc->issuer_kind == CONF_ISSUER_VAULT_PKI) {
		if (cc->mount == NULL)
			cert_diag(ld, cc, section, "mount", 0, "required with issuer = vault-pki");
		if (cc->role == NULL)
			cert_diag(ld, cc, section, "role", 0, "required with issuer = vault-pki");
		if (c->vault.address.n == 0)
			cert_diag(ld, cc, section, "issuer", 0,
				  "vault-pki needs [vault] address, which is not set");
		if (cc->trust_anchor != NULL && access(cc->trust_anchor, R_OK) < 0)
			cert_diag(ld, cc, section, "trust_anchor", 0, "cannot read %s: %s",
				  cc->trust_anchor, strerror(errno));
	}
	if (cc->issuer_kind == CONF_ISSUER_SECTIGO) {
		struct sectigo_report_ctx rc = {ld, cc, section};
		if (c->vault.address.n == 0)
			cert_diag(ld, cc, section, "issuer", 0,
				  "sectigo needs [vault] address, which is not set");
		conf_sectigo_check(cc, sectigo_report, &rc);
	}
	if (cc->n_kv_fields > 0 && cc->kv_path == NULL)
		cert_diag(ld, cc, section, "kv_path", 0, "required by its [cert.%s.kv.*] sections",
			  cc->name);
	if (cc->kv_path != NULL && cc->n_kv_fields == 0)
		cert_diag(ld, cc, section, "kv_path", 0,
			  "no [cert.%s.kv.FIELD] section says what to write there", cc->name);
	if (cc->kv_path != NULL && c->vault.address.n == 0)
		cert_diag(ld, cc, section, "kv_path", 0, "needs [vault] address, which is not set");
	if (cc->kv_version != 1 && cc->kv_version != 2)
		cert_diag(ld, cc, section, "kv_version", 0, "must be 1 or 2");
	if (cc->probe != NULL) {
		const char *colon = strrchr(cc->probe, ':');
		unsigned long port = 0;
		char host[64] = "";
		size_t hl = colon ? (size_t)(colon - cc->probe) : 0;

		if (hl >= 2 && cc->probe[0] == '[' && cc->probe[hl - 1] == ']' && hl - 2 < sizeof(host))
			memcpy(host, cc->probe + 1, hl - 2);
		else if (hl > 0 && hl < sizeof(host))
			memcpy(host, cc->probe, hl);
		if (colon == NULL || !parse_uint(colon + 1, 65535, &port) || port == 0)
			cert_diag(ld, cc, section, "probe", 0, "\"%s\" is not host:port", cc->probe);
		else if (!is_ip(host) && strcmp(host, "localhost") != 0)
			cert_diag(ld, cc, section, "probe", 0,
				  "\"%s\": the host must be an IP address (or localhost), so that "
				  "probing never waits on DNS", cc->probe);
	}
	if (cc->kv_path != NULL) {
		const char *q;
		bool bad = cc->kv_path[0] == '/' || strstr(cc->kv_path, "..") != NULL;
		for (q = cc->kv_path; *q && !bad; q++)
			bad = !isalnum((unsigned char)*q) && strchr("_-./", *q) == NULL;
		if (bad)
			cert_diag(ld, cc, section, "kv_path", 0,
				  "\"%s\" is not a Vault path (letters, digits, _ - . /; no leading /, no ..)",
				  cc->kv_path);
	}
	if (cc->probe_attempts == 0)
		cert_diag(ld, cc, section, "probe_attempts", 0, "must be at least 1");
	if (cc->issuer_kind == CONF_ISSUER_LOCAL && cc->ttl > c->local_ca.max_ttl)
		cert_diag(ld, cc, section, "ttl", 1,
			  "longer than [local_ca] max_ttl; certificates will be issued for max_ttl");
	if (cc->renew_at_percent == 0)
		cert_diag(ld, cc, section, "renew_at_percent", 0, "must be at least 1");
}

struct path_owner {
	const char *path;
	const struct conf_cert *cert;
};

static int
cmp_path_owner(const void *a, const void *b)
{
	const struct path_owner *x = a, *y = b;
	int r = strcmp(x->path, y->path);

	if (r != 0)
		return r;
	return x->cert < y->cert ? -1 : x->cert > y->cert;
}

/* Two outputs (of any certificates) must not write the same path.  Sorted,
 * not pairwise, so that 10,000 certificates load in well under a second. */
static void
validate_paths(struct loader *ld, const struct conf *c)
{
	struct path_owner *all = NULL;
	const char *paths[64];
	size_t n_all = 0, i, j, n;

	for (i = 0; i < c->n_certs; i++) {
		n = conf_cert_paths(&c->certs[i], paths, 64);
		all = xreallocarray(all, n_all + n, sizeof(*all));
		for (j = 0; j < n; j++)
			all[n_all++] = (struct path_owner){paths[j], &c->certs[i]};
	}
	if (n_all > 1)
		qsort(all, n_all, sizeof(*all), cmp_path_owner);
	for (i = 1; i < n_all; i++) {
		if (strcmp(all[i - 1].path, all[i].path) != 0)
			continue;
		if (all[i - 1].cert == all[i].cert)
			diag_add(ld->d, all[i].cert->file, all[i].cert->line, NULL, NULL,
				 "[cert.%s] writes %s more than once", all[i].cert->name,
				 all[i].path);
		else
			diag_add(ld->d, all[i].cert->file, all[i].cert->line, NULL, NULL,
				 "[cert.%s] writes %s, which [cert.%s] also writes",
				 all[i].cert->name, all[i].path, all[i - 1].cert->name);
	}
	free(all);
}

/* A [cert.NAME.reload.ACTION] or [cert.NAME.kv.FIELD] section: appended to
 * its certificate (sections come sorted, so in name order).  Takes name. */
static void
bind_child(struct loader *ld, struct conf *c, int kind, const struct rawsec *sec,
	   const char *cert_name, char *name)
{
	struct conf_cert *cc = cert_by_name(c, cert_name);
	struct conf_reload *rl;
	struct conf_kv_field *kf;

	if (cc == NULL) {
		diag_add(ld->d, sec->file, sec->line, sec->name, NULL,
			 "belongs to certificate \"%s\", which has no [cert.%s] section", cert_name,
			 cert_name);
		free(name);
		return;
	}
	if (kind == CONF_SEC_RELOAD) {
		cc->reloads = xreallocarray(cc->reloads, cc->n_reloads + 1, sizeof(*cc->reloads));
		rl = memset(&cc->reloads[cc->n_reloads++], 0, sizeof(*rl));
		rl->name = name;
		rl->file = xstrdup(sec->file);
		rl->line = sec->line;
		rl->pidfile_uid = (uid_t)-1;
		bind_section(ld, CONF_SEC_RELOAD, sec->name, rl, rl->file, rl->line);
		validate_reload(ld, rl, sec->name);
		return;
	}
	cc->kv_fields = xreallocarray(cc->kv_fields, cc->n_kv_fields + 1, sizeof(*cc->kv_fields));
	kf = memset(&cc->kv_fields[cc->n_kv_fields++], 0, sizeof(*kf));
	kf->name = name;
	kf->file = xstrdup(sec->file);
	kf->line = sec->line;
	bind_section(ld, CONF_SEC_KV, sec->name, kf, kf->file, kf->line);
}

/* ------------------------------------------------------------ public */

int
conf_load(const char *path, struct conf **out, struct diag *d)
{
	struct loader ld = {.d = d};
	struct conf *c = xcalloc(1, sizeof(*c));
	struct conf_cert *cc;
	struct conf_output *co;
	size_t i, errors_before = d->errors;
	char *cert_name, *out_name;
	int kind, rc;

	c->path = xstrdup(path);
	rc = lex_file(&ld, path, true);
	if (rc < 0)
		goto out;
	lex_dropins(&ld, path);
	resolve_items(&ld);

	/* Sections first, so that certificates exist before their outputs. */
	for (i = 0; i < ld.nsec; i++) {
		kind = classify(ld.secs[i].name, &cert_name, &out_name);
		if (kind < 0)
			diag_add(d, ld.secs[i].file, ld.secs[i].line, ld.secs[i].name, NULL,
				 "unknown section; expected [certd], [local_ca], [vault], [cert.NAME], "
				 "[cert.NAME.output.OUT], [cert.NAME.reload.ACTION] or "
				 "[cert.NAME.kv.FIELD] (NAME: letters, digits, _ -)");
		if (kind == CONF_SEC_CERT) {
			c->certs = xreallocarray(c->certs, c->n_certs + 1, sizeof(*c->certs));
			cc = memset(&c->certs[c->n_certs++], 0, sizeof(*cc));
			cc->name = cert_name;
			cert_name = NULL;
			cc->file = xstrdup(ld.secs[i].file);
			cc->line = ld.secs[i].line;
		}
		free(cert_name);
		free(out_name);
	}

	bind_section(&ld, CONF_SEC_CERTD, "certd", c, path, 0);
	bind_section(&ld, CONF_SEC_LOCAL_CA, "local_ca", &c->local_ca, path, 0);
	bind_section(&ld, CONF_SEC_VAULT, "vault", &c->vault, path, 0);
	for (i = 0; i < c->n_certs; i++) {
		char *sec = xasprintf("cert.%s", c->certs[i].name);
		cc = &c->certs[i];
		cc->owner.uid = (uid_t)-1;
		cc->owner.gid = (gid_t)-1;
		bind_section(&ld, CONF_SEC_CERT, sec, cc, cc->file, cc->line);
		free(sec);
	}
	for (i = 0; i < ld.nsec; i++) {
		kind = classify(ld.secs[i].name, &cert_name, &out_name);
		if (kind == CONF_SEC_RELOAD || kind == CONF_SEC_KV) {
			bind_child(&ld, c, kind, &ld.secs[i], cert_name, out_name);
			out_name = NULL;
			goto next;
		}
		if (kind != CONF_SEC_OUTPUT)
			goto next;
		cc = cert_by_name(c, cert_name);
		if (cc == NULL) {
			diag_add(d, ld.secs[i].file, ld.secs[i].line, ld.secs[i].name, NULL,
				 "output of certificate \"%s\", which has no [cert.%s] section",
				 cert_name, cert_name);
			goto next;
		}
		cc->outputs = xreallocarray(cc->outputs, cc->n_outputs + 1, sizeof(*cc->outputs));
		co = memset(&cc->outputs[cc->n_outputs++], 0, sizeof(*co));
		co->name = out_name;
		out_name = NULL;
		co->file = xstrdup(ld.secs[i].file);
		co->line = ld.secs[i].line;
		co->owner.uid = (uid_t)-1;
		co->owner.gid = (gid_t)-1;
		bind_section(&ld, CONF_SEC_OUTPUT, ld.secs[i].name, co, co->file, co->line);
		if (co->template.tmpl == NULL && co->template_file == NULL &&
		    find_raw(&ld, ld.secs[i].name, "template") == NULL &&
		    find_raw(&ld, ld.secs[i].name, "template_file") == NULL)
			diag_add(d, co->file, co->line, ld.secs[i].name, NULL,
				 "set template or template_file");
		if (co->owner.uid == (uid_t)-1)
			co->owner.uid = cc->owner.uid;
		if (co->owner.gid == (gid_t)-1)
			co->owner.gid = cc->owner.gid;
next:
		free(cert_name);
		free(out_name);
	}
	ld.parse_diags = d->n;
	for (i = 0; i < c->n_certs; i++) {
		char *sec = xasprintf("cert.%s", c->certs[i].name);
		validate_cert(&ld, c, &c->certs[i], sec);
		free(sec);
	}
	validate_paths(&ld, c);
	validate_vault(&ld, c);
	if ((c->control_socket_mode & ~0777u) != 0)
		key_diag(&ld, c->path, "certd", "control_socket_mode",
			 "only permission bits (at most 0777) apply to a socket");
	if (c->local_ca.max_in_flight == 0)
		key_diag(&ld, c->path, "local_ca", "max_in_flight", "must be at least 1");
	if (c->vault.max_in_flight == 0)
		key_diag(&ld, c->path, "vault", "max_in_flight", "must be at least 1");
	for (i = 0; i < c->control_allow_users.n; i++) {
		if (getpwnam(c->control_allow_users.v[i]) == NULL)
			key_diag(&ld, c->path, "certd", "control_allow_users", "no such user \"%s\"",
				 c->control_allow_users.v[i]);
	}
	if (c->n_certs == 0)
		diag_warn(d, path, 0, NULL, NULL, "no [cert.NAME] section: nothing to manage");
	rc = d->errors > errors_before ? -EINVAL : 0;
	diag_sort(d);
out:
	for (i = 0; i < ld.n; i++)
		raw_free(&ld.items[i]);
	free(ld.items);
	for (i = 0; i < ld.nsec; i++) {
		free(ld.secs[i].name);
		free(ld.secs[i].file);
	}
	free(ld.secs);
	if (rc < 0) {
		conf_free(c);
		return rc;
	}
	for (i = 0; i < c->n_certs; i++)
		x509_key_type_parse(c->certs[i].key_type_name, c->certs[i].key_bits,
				    &c->certs[i].key_type, NULL);
	*out = c;
	return 0;
}

void
conf_free(struct conf *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_certs; i++) {
		for (j = 0; j < c->certs[i].n_outputs; j++) {
			free_fields(CONF_SEC_OUTPUT, &c->certs[i].outputs[j]);
			free(c->certs[i].outputs[j].name);
			free(c->certs[i].outputs[j].file);
		}
		free(c->certs[i].outputs);
		for (j = 0; j < c->certs[i].n_reloads; j++) {
			free_fields(CONF_SEC_RELOAD, &c->certs[i].reloads[j]);
			free(c->certs[i].reloads[j].name);
			free(c->certs[i].reloads[j].file);
		}
		free(c->certs[i].reloads);
		for (j = 0; j < c->certs[i].n_kv_fields; j++) {
			free_fields(CONF_SEC_KV, &c->certs[i].kv_fields[j]);
			free(c->certs[i].kv_fields[j].name);
			free(c->certs[i].kv_fields[j].file);
		}
		free(c->certs[i].kv_fields);
		free_fields(CONF_SEC_CERT, &c->certs[i]);
		free(c->certs[i].name);
		free(c->certs[i].file);
	}
	free(c->certs);
	free_fields(CONF_SEC_LOCAL_CA, &c->local_ca);
	free_fields(CONF_SEC_VAULT, &c->vault);
	free_fields(CONF_SEC_CERTD, c);
	free(c->path);
	free(c);
}

const struct conf_cert *
conf_find_cert(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_certs; i++)
		if (strcmp(c->certs[i].name, name) == 0)
			return &c->certs[i];
	return NULL;
}

size_t
conf_cert_paths(const struct conf_cert *cc, const char **paths, size_t max)
{
	size_t n = 0, i;

#define ADD(p) do { if ((p) != NULL && n < max) paths[n++] = (p); } while (0)
	ADD(cc->cert_path);
	ADD(cc->chain_path);
	ADD(cc->fullchain_path);
	for (i = 0; i < cc->n_outputs; i++)
		ADD(cc->outputs[i].path);
	ADD(cc->key_path);
#undef ADD
	return n;
}
