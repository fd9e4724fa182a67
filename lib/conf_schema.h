/*
 * conf_schema.h — the table of every configuration key.
 *
 * One row per (section kind, key): its type, where the parsed value is
 * stored, its default (as config text, parsed by the same code as user
 * input), the allowed values of an enum, and a one-line description.  The
 * loader, the "did you mean" suggestions and the docs test all read this
 * one table.
 */
#ifndef CERTD_CONF_SCHEMA_H
#define CERTD_CONF_SCHEMA_H

#include <stddef.h>

enum conf_section_kind {
	CONF_SEC_CERTD = 0,   /* [certd] */
	CONF_SEC_LOCAL_CA,    /* [local_ca] */
	CONF_SEC_VAULT,       /* [vault] */
	CONF_SEC_CERT,        /* [cert.NAME] */
	CONF_SEC_OUTPUT,      /* [cert.NAME.output.OUT] */
	CONF_SEC_RELOAD,      /* [cert.NAME.reload.ACTION] */
	CONF_SEC_KV,          /* [cert.NAME.kv.FIELD] */
	CONF_SEC_COUNT,
};

enum conf_type {
	CONF_T_STRING,
	CONF_T_PATH,      /* absolute path */
	CONF_T_BOOL,      /* true/false/yes/no/on/off/1/0 */
	CONF_T_DURATION,  /* 90s 15m 72h 30d, sums like 1h30m */
	CONF_T_UINT,
	CONF_T_PERCENT,   /* 0..100 */
	CONF_T_MODE,      /* octal permission bits, e.g. 0640 */
	CONF_T_LIST,      /* comma-separated */
	CONF_T_ENUM,      /* one of choices */
	CONF_T_USER,      /* user name or numeric uid */
	CONF_T_GROUP,     /* group name or numeric gid */
	CONF_T_TEMPLATE,  /* Mustache text, compiled at load */
	CONF_T_TEMPLATE_FILE, /* absolute path of a Mustache file, read and compiled at load */
};

/* CONF_T_ENUM with an aux field stores the index of the value in choices;
 * the choices are listed in the order of the enum they map to. */
/* A [cert.NAME] key with this flag may also be set in [certd], where it is
 * the default for every certificate. */
#define CONF_F_DEFAULTABLE 0x1
/* Value is required (after defaults are applied). */
#define CONF_F_REQUIRED 0x2

struct conf_key {
	enum conf_section_kind section;
	const char *name;
	enum conf_type type;
	size_t offset;        /* into the section's struct */
	size_t aux_offset;    /* CONF_T_USER/GROUP/ENUM/TEMPLATE: where the parsed form goes */
	const char *def;      /* NULL: unset */
	const char *choices;  /* CONF_T_ENUM: "a|b|c" */
	unsigned flags;
	const char *doc;
};

extern const struct conf_key conf_keys[];
extern const size_t conf_n_keys;

/* "[certd]", "[local_ca]", "[cert.NAME]", "[cert.NAME.output.OUT]". */
const char *conf_section_kind_name(enum conf_section_kind k);
/* Human name of a type for docs and errors ("duration", "path"...). */
const char *conf_type_name(enum conf_type t);

#endif
