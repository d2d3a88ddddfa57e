/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration files described by one declarative table, read with
 * libinih (src/common/inifile.c: line numbers, over-long lines refused).
 * Every daemon's file follows the same rules, and its reference in the
 * documentation is generated from the same table (lbfo_cfg_markdown), so
 * code and docs cannot drift.
 *
 * The rules:
 *  - sections: a singleton ([router], [lu]) at most once; a named section
 *    ([service NAME], [path NAME]) once per name. One word may be both, a
 *    singleton and a named section ([lu] and [lu NAME]). A name is letters,
 *    digits, '-', '_' and '.'; "[path ]" (no name) and "[router x]" (a
 *    name where none belongs) are refused. A key outside any section, an
 *    unknown section or key, a key given twice in a section (unless the
 *    table says it repeats) and an indented continuation line are errors.
 *  - whole numbers: decimal digits only: no sign, space, hex, fraction,
 *    nan or trailing junk; out of range says the range.
 *  - booleans: on/off, yes/no, true/false, 1/0.
 *  - durations: whole milliseconds ("1500"), or with a unit: "1500ms",
 *    "2s" (no space, no fraction). Keys are named without a unit.
 *  - enums: one of the listed words; lists: items separated by commas
 *    and/or blanks.
 * Errors read "FILE:LINE: [SECTION]: KEY: message" (without KEY for a
 * section's own errors; without FILE:LINE for a command line's key).
 *
 * Loading: defaults are applied to each new section object (a named
 * section's, made by its open()) when its header is read; a singleton's
 * object is the configuration the caller set defaults in (keys given
 * before the file, on a command line, stay unless the file sets them); after the file, missing required keys and the table's own
 * cross-checks (check) are reported, the finding at the first line first.
 */
#ifndef LBFO_CFGTABLE_H
#define LBFO_CFGTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum lbfo_cfg_type {
	LBFO_CFG_STRING,   /* char[size] */
	LBFO_CFG_UINT,     /* unsigned, size 1, 2, 4 or 8 bytes, in min..max */
	LBFO_CFG_BOOL,     /* bool */
	LBFO_CFG_DURATION, /* milliseconds, size 4 or 8 bytes, in min..max ms */
	LBFO_CFG_ENUM,     /* int: the index of the word in names[] */
	LBFO_CFG_LIST,     /* each item to parse() (ctx->index), at most max items */
	LBFO_CFG_CUSTOM,   /* the whole value to parse() */
};

/* Where a value comes from, for parse functions and section openers. */
struct lbfo_cfg_ctx {
	void *user;          /* the whole configuration */
	const char *file;    /* NULL: defaults or a command line */
	int line;            /* 0: not from a file */
	const char *section; /* the header's text: "service web" */
	const char *name;    /* "web"; NULL for a singleton */
	const char *key;     /* as written: "port.web", "announce_interval_ms" */
	const char *suffix;  /* of a LBFO_CFG_PREFIX key: what follows the prefix */
	unsigned index;      /* of a list item */
};

/* Parse value into obj (the section's object). Returns 0, or -1 with the
 * reason in why ("invalid value 'x': expected ..."). */
typedef int (*lbfo_cfg_parse_fn)(const struct lbfo_cfg_ctx *ctx, void *obj, const char *value,
				 char *why, size_t len);

#define LBFO_CFG_REQUIRED 1u /* missing is an error (says `missing`) */
#define LBFO_CFG_PREFIX 2u   /* "port.SERVICE": any key beginning "port." */
#define LBFO_CFG_REPEAT 4u   /* may be given more than once in a section */

struct lbfo_cfg_key {
	const char *key;
	const char *alias;         /* an older name also read, or NULL */
	enum lbfo_cfg_type type;
	size_t off, size;          /* where in the section's object, how big */
	uint64_t min, max;         /* UINT, DURATION: range; LIST: max items */
	const char *const *names;  /* ENUM: the words, NULL-terminated */
	lbfo_cfg_parse_fn parse;   /* LIST: each item; CUSTOM: the value */
	const char *syntax;        /* the value column (generated for typed keys) */
	const char *def;           /* default as written in a file; NULL: none */
	const char *def_doc;       /* default column when def cannot say it */
	const char *doc;           /* one line */
	const char *missing;       /* REQUIRED: what to give ("IP:PORT to ...") */
	unsigned flags;
};

struct lbfo_cfg_section {
	const char *name;          /* the header's first word */
	const char *doc;           /* one line */
	bool named;                /* [WORD NAME] */
	size_t name_max;           /* longest name + 1 (0: 32) */
	/* The object the section's keys go to (NULL: user), e.g. a new
	 * service; NULL return with why. Defaults are applied to it. */
	void *(*open)(const struct lbfo_cfg_ctx *ctx, char *why, size_t len);
	/* Keys the table does not list (e.g. policy parameters); NULL: such
	 * a key is unknown. */
	lbfo_cfg_parse_fn other;
	const struct lbfo_cfg_key *keys;
	size_t nkeys;
};

/* Cross-checks once the whole file is read. */
struct lbfo_cfg_checker;

struct lbfo_cfg_table {
	const struct lbfo_cfg_section *sections;
	size_t nsections;
	/* Report findings with lbfo_cfg_found(); NULL: none. */
	void (*check)(struct lbfo_cfg_checker *chk, void *user);
};

/* Read file into user. Returns 0, or -1 with one message in err. */
int lbfo_cfg_load(const struct lbfo_cfg_table *t, void *user, const char *file, char *err,
		  size_t errlen);
/* One key of a singleton section from elsewhere (a command line's
 * key=value): the file's rules, errors "KEY: message". */
int lbfo_cfg_set(const struct lbfo_cfg_table *t, void *user, const char *section,
		 const char *key, const char *value, char *err, size_t errlen);
/* One key of a section on a given object (a named section's object made
 * by the caller: a path from a command line's portal=). The file's rules;
 * errors "KEY: message". */
int lbfo_cfg_set_obj(const struct lbfo_cfg_table *t, void *user, const char *section,
		     void *obj, const char *key, const char *value, char *err, size_t errlen);
/* Apply a section's defaults to obj. */
void lbfo_cfg_defaults(const struct lbfo_cfg_section *sec, void *obj, void *user);
const struct lbfo_cfg_section *lbfo_cfg_section(const struct lbfo_cfg_table *t,
						const char *name);
/* A word may name a singleton and a named section both ([lu], [lu NAME]):
 * named 1 the named one, 0 the singleton, -1 whichever comes first. */
const struct lbfo_cfg_section *lbfo_cfg_section_kind(const struct lbfo_cfg_table *t,
						     const char *name, int named);

/* A finding of a cross-check: "FILE:LINE: [SECTION]: KEY: message" (line 0:
 * the whole file, no LINE; section or key NULL: left out). Of several, the
 * one at the first line is reported. */
void lbfo_cfg_found(struct lbfo_cfg_checker *chk, int line, const char *section,
		    const char *key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The line of a section object's header, or where one of its keys was
 * set (the key's table name), 0 when not. */
int lbfo_cfg_section_line(const struct lbfo_cfg_checker *chk, const void *obj);
int lbfo_cfg_key_line(const struct lbfo_cfg_checker *chk, const void *obj, const char *key);

/* A table's own mistakes (for its unit test): a typed key's default that
 * does not parse, a size that does not fit the type, an enum without
 * words, a list or custom key without parse, a required key without its
 * missing text. Returns 0, or -1 naming the key in err. */
int lbfo_cfg_table_check(const struct lbfo_cfg_table *t, char *err, size_t errlen);

/* The reference: per section a heading, its doc, and a table of keys
 * (key, value, default, meaning). */
void lbfo_cfg_markdown(const struct lbfo_cfg_table *t, FILE *f);

/* The same as plain text for a --help: per section its header and doc,
 * per key "  key=VALUE  doc (default X)", one line each. */
void lbfo_cfg_help(const struct lbfo_cfg_table *t, FILE *f);

/* The same for a man page: per section an .SS heading and its doc, per
 * key a .TP item "key=VALUE" and its doc with the default. */
void lbfo_cfg_roff(const struct lbfo_cfg_table *t, FILE *f);

/* The value parsers, for parse functions of their own. */
int lbfo_cfg_parse_uint(const char *v, uint64_t min, uint64_t max, uint64_t *out, char *why,
			size_t len);
int lbfo_cfg_parse_bool(const char *v, bool *out, char *why, size_t len);
int lbfo_cfg_parse_duration(const char *v, uint64_t min_ms, uint64_t max_ms, uint64_t *ms,
			    char *why, size_t len);
/* Letters, digits, '-', '_', '.'; 1..max-1 characters. */
bool lbfo_cfg_name_ok(const char *name, size_t max);

#endif
