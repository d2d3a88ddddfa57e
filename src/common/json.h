/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One JSON writer for every daemon's replies (status, events, tables).
 * It writes straight to a FILE* (an open_memstream() in the daemons) and
 * places the commas itself, so callers only say what comes next:
 *
 *	struct lbfo_json j;
 *
 *	lbfo_json_init(&j, f);
 *	lbfo_json_obj(&j);
 *	lbfo_json_kv_str(&j, "name", "web");
 *	lbfo_json_key(&j, "nodes");
 *	lbfo_json_arr(&j);
 *	...
 *	lbfo_json_end(&j);		(closes the array)
 *	lbfo_json_end(&j);		(closes the object)
 *	lbfo_json_finish(&j);		(a newline; -1 if it was misused)
 *
 * Strings are escaped here and nowhere else: '"', '\\', control
 * characters (\n, \t, ... or \u00XX), and bytes that are not valid UTF-8
 * become U+FFFD, so whatever a name or an error message holds, the
 * document parses. Doubles that JSON cannot hold (NaN, infinities) are
 * written as null. Misuse (a value where a key is due, an end with
 * nothing open, nesting deeper than LBFO_JSON_DEPTH) writes nothing and
 * is remembered: lbfo_json_finish() returns -1.
 */
#ifndef LBFO_JSON_H
#define LBFO_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LBFO_JSON_DEPTH 32

struct lbfo_json {
	FILE *f;
	int depth;                     /* containers open */
	bool is_obj[LBFO_JSON_DEPTH];  /* per level: object (keys) or array */
	bool any[LBFO_JSON_DEPTH];     /* per level: a member written already */
	bool key_done;                 /* a key was written; its value is due */
	bool top_done;                 /* the one top-level value is written */
	bool bad;                      /* misused: see lbfo_json_finish() */
};

void lbfo_json_init(struct lbfo_json *j, FILE *f);

/* Containers: open an object or an array; lbfo_json_end() closes the
 * innermost one. */
void lbfo_json_obj(struct lbfo_json *j);
void lbfo_json_arr(struct lbfo_json *j);
void lbfo_json_end(struct lbfo_json *j);

/* Inside an object: the key of the next value. */
void lbfo_json_key(struct lbfo_json *j, const char *key);

/* Values. */
void lbfo_json_str(struct lbfo_json *j, const char *s);
void lbfo_json_int(struct lbfo_json *j, int64_t v);
void lbfo_json_uint(struct lbfo_json *j, uint64_t v);
/* %.15g: integers up to 2^53 exactly, and no "1e+06" for round figures. */
void lbfo_json_double(struct lbfo_json *j, double v);
/* With a fixed number of decimals (0..9), e.g. MB/s with 1. */
void lbfo_json_fixed(struct lbfo_json *j, double v, int decimals);
void lbfo_json_bool(struct lbfo_json *j, bool v);
void lbfo_json_null(struct lbfo_json *j);

/* Key and value in one call. */
void lbfo_json_kv_str(struct lbfo_json *j, const char *key, const char *s);
void lbfo_json_kv_int(struct lbfo_json *j, const char *key, int64_t v);
void lbfo_json_kv_uint(struct lbfo_json *j, const char *key, uint64_t v);
void lbfo_json_kv_double(struct lbfo_json *j, const char *key, double v);
void lbfo_json_kv_fixed(struct lbfo_json *j, const char *key, double v, int decimals);
void lbfo_json_kv_bool(struct lbfo_json *j, const char *key, bool v);
void lbfo_json_kv_null(struct lbfo_json *j, const char *key);

/* Ends the document with a newline. Returns 0, or -1 when the writer was
 * misused or a container is still open. */
int lbfo_json_finish(struct lbfo_json *j);

/* Write s as a quoted, escaped JSON string to f: for a caller that lays
 * out its own document (prefer the writer above). */
void lbfo_json_write_string(FILE *f, const char *s);

#endif
