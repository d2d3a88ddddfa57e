/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "json.h"

void lbfo_json_init(struct lbfo_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes
 * there are no valid sequence (overlong forms and surrogates included). */
static int utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	int n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

void lbfo_json_write_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	while (*p) {
		int n = utf8_len(p);

		if (n == 0) {
			fputs("\\ufffd", f); /* not UTF-8: the replacement character */
			p++;
			continue;
		}
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fwrite(p, 1, (size_t)n, f);
		}
		p += n;
	}
	fputc('"', f);
}

/* Before a value: the comma, if it is not the first in its container.
 * Returns false (and marks the writer bad) when no value may come here. */
static bool value_slot(struct lbfo_json *j)
{
	if (j->bad)
		return false;
	if (j->depth == 0) {
		if (j->top_done) {
			j->bad = true;
			return false;
		}
		j->top_done = true;
		return true;
	}
	if (j->is_obj[j->depth - 1]) {
		if (!j->key_done) {
			j->bad = true; /* a value in an object needs its key first */
			return false;
		}
		j->key_done = false;
		return true;
	}
	if (j->any[j->depth - 1])
		fputc(',', j->f);
	j->any[j->depth - 1] = true;
	return true;
}

static void open_container(struct lbfo_json *j, bool obj)
{
	if (j->depth >= LBFO_JSON_DEPTH) {
		j->bad = true;
		return;
	}
	if (!value_slot(j))
		return;
	fputc(obj ? '{' : '[', j->f);
	j->is_obj[j->depth] = obj;
	j->any[j->depth] = false;
	j->depth++;
}

void lbfo_json_obj(struct lbfo_json *j)
{
	open_container(j, true);
}

void lbfo_json_arr(struct lbfo_json *j)
{
	open_container(j, false);
}

void lbfo_json_end(struct lbfo_json *j)
{
	if (j->bad || j->depth == 0 || j->key_done) {
		j->bad = true;
		return;
	}
	j->depth--;
	fputc(j->is_obj[j->depth] ? '}' : ']', j->f);
}

void lbfo_json_key(struct lbfo_json *j, const char *key)
{
	if (j->bad || j->depth == 0 || !j->is_obj[j->depth - 1] || j->key_done) {
		j->bad = true;
		return;
	}
	if (j->any[j->depth - 1])
		fputc(',', j->f);
	j->any[j->depth - 1] = true;
	lbfo_json_write_string(j->f, key);
	fputc(':', j->f);
	j->key_done = true;
}

void lbfo_json_str(struct lbfo_json *j, const char *s)
{
	if (value_slot(j))
		lbfo_json_write_string(j->f, s);
}

void lbfo_json_int(struct lbfo_json *j, int64_t v)
{
	if (value_slot(j))
		fprintf(j->f, "%" PRId64, v);
}

void lbfo_json_uint(struct lbfo_json *j, uint64_t v)
{
	if (value_slot(j))
		fprintf(j->f, "%" PRIu64, v);
}

void lbfo_json_double(struct lbfo_json *j, double v)
{
	if (!value_slot(j))
		return;
	if (isfinite(v))
		fprintf(j->f, "%.15g", v);
	else
		fputs("null", j->f);
}

void lbfo_json_fixed(struct lbfo_json *j, double v, int decimals)
{
	if (!value_slot(j))
		return;
	if (decimals < 0)
		decimals = 0;
	if (decimals > 9)
		decimals = 9;
	if (isfinite(v))
		fprintf(j->f, "%.*f", decimals, v);
	else
		fputs("null", j->f);
}

void lbfo_json_bool(struct lbfo_json *j, bool v)
{
	if (value_slot(j))
		fputs(v ? "true" : "false", j->f);
}

void lbfo_json_null(struct lbfo_json *j)
{
	if (value_slot(j))
		fputs("null", j->f);
}

void lbfo_json_kv_str(struct lbfo_json *j, const char *key, const char *s)
{
	lbfo_json_key(j, key);
	lbfo_json_str(j, s);
}

void lbfo_json_kv_int(struct lbfo_json *j, const char *key, int64_t v)
{
	lbfo_json_key(j, key);
	lbfo_json_int(j, v);
}

void lbfo_json_kv_uint(struct lbfo_json *j, const char *key, uint64_t v)
{
	lbfo_json_key(j, key);
	lbfo_json_uint(j, v);
}

void lbfo_json_kv_double(struct lbfo_json *j, const char *key, double v)
{
	lbfo_json_key(j, key);
	lbfo_json_double(j, v);
}

void lbfo_json_kv_fixed(struct lbfo_json *j, const char *key, double v, int decimals)
{
	lbfo_json_key(j, key);
	lbfo_json_fixed(j, v, decimals);
}

void lbfo_json_kv_bool(struct lbfo_json *j, const char *key, bool v)
{
	lbfo_json_key(j, key);
	lbfo_json_bool(j, v);
}

void lbfo_json_kv_null(struct lbfo_json *j, const char *key)
{
	lbfo_json_key(j, key);
	lbfo_json_null(j);
}

int lbfo_json_finish(struct lbfo_json *j)
{
	fputc('\n', j->f);
	return j->bad || j->depth || j->key_done ? -1 : 0;
}
