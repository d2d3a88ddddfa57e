/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtable_int.h"

/* ---- values -------------------------------------------------------------- */

int lbfo_cfg_parse_uint(const char *v, uint64_t min, uint64_t max, uint64_t *out, char *why,
			size_t len)
{
	uint64_t x = 0;
	const char *p;
	bool over = false;

	if (!*v)
		goto bad;
	for (p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			over = true;
		else
			x = x * 10 + (uint64_t)(*p - '0');
	}
	if (over || x < min || x > max) {
		snprintf(why, len, "invalid value '%s': out of range %llu..%llu", v,
			 (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = x;
	return 0;
bad:
	snprintf(why, len, "invalid value '%s': not a whole number", v);
	return -1;
}

int lbfo_cfg_parse_bool(const char *v, bool *out, char *why, size_t len)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
			*out = !strcmp(v, yes[i]);
			return 0;
		}
	}
	snprintf(why, len, "invalid value '%s': expected on or off (or yes/no, true/false, 1/0)", v);
	return -1;
}

void lbfo_cfg__ms_text(uint64_t ms, char *buf, size_t len)
{
	if (ms >= 1000 && ms % 1000 == 0)
		snprintf(buf, len, "%llu s", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
}

int lbfo_cfg_parse_duration(const char *v, uint64_t min_ms, uint64_t max_ms, uint64_t *ms,
			    char *why, size_t len)
{
	char num[24], lo[24], hi[24];
	size_t n = strspn(v, "0123456789");
	uint64_t x, mult = 1;
	char tmp[8];

	if (n == 0 || n >= sizeof(num) || (strcmp(v + n, "") && strcmp(v + n, "ms") &&
					   strcmp(v + n, "s"))) {
		snprintf(why, len, "invalid value '%s': expected a duration: whole milliseconds, "
			 "or a whole number and ms or s (250ms, 5s)", v);
		return -1;
	}
	if (!strcmp(v + n, "s"))
		mult = 1000;
	memcpy(num, v, n);
	num[n] = '\0';
	if (lbfo_cfg_parse_uint(num, 0, UINT64_MAX / 1000, &x, tmp, sizeof(tmp)) < 0 ||
	    x * mult < min_ms || x * mult > max_ms) {
		lbfo_cfg__ms_text(min_ms, lo, sizeof(lo));
		lbfo_cfg__ms_text(max_ms, hi, sizeof(hi));
		snprintf(why, len, "invalid value '%s': out of range %s..%s", v, lo, hi);
		return -1;
	}
	*ms = x * mult;
	return 0;
}

bool lbfo_cfg_name_ok(const char *n, size_t max)
{
	if (!*n || strlen(n) >= max)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

static void store_uint(void *p, size_t size, uint64_t v)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: *(uint16_t *)p = (uint16_t)v; break;
	case 4: *(uint32_t *)p = (uint32_t)v; break;
	default: *(uint64_t *)p = v; break;
	}
}

/* The largest value a field of this size holds. */
static uint64_t size_max(size_t size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

static int parse_enum(const struct lbfo_cfg_key *k, void *field, const char *v, char *why,
		      size_t len)
{
	size_t i, off;

	for (i = 0; k->names[i]; i++)
		if (!strcmp(k->names[i], v)) {
			*(int *)field = (int)i;
			return 0;
		}
	off = (size_t)snprintf(why, len, "invalid value '%s': expected ", v);
	for (i = 0; k->names[i] && off < len; i++)
		off += (size_t)snprintf(why + off, len - off, "%s%s", i == 0 ? "" :
					k->names[i + 1] ? ", " : " or ", k->names[i]);
	return -1;
}

static int parse_list(const struct lbfo_cfg_key *k, struct lbfo_cfg_ctx *ctx, void *obj,
		      const char *v, char *why, size_t len)
{
	char *buf = strdup(v), *tok, *save = NULL;
	unsigned n = 0;
	int rc = 0;

	if (!buf) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	for (tok = strtok_r(buf, ", \t", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (k->max && n >= k->max) {
			snprintf(why, len, "too many entries (at most %llu)",
				 (unsigned long long)k->max);
			rc = -1;
			break;
		}
		ctx->index = n++;
		rc = k->parse(ctx, obj, tok, why, len);
	}
	free(buf);
	if (rc == 0 && n == 0) {
		snprintf(why, len, "empty list");
		rc = -1;
	}
	return rc;
}

int lbfo_cfg__parse_value(const struct lbfo_cfg_key *k, struct lbfo_cfg_ctx *ctx, void *obj,
		       const char *v, char *why, size_t len)
{
	void *field = (char *)obj + k->off;
	uint64_t x;

	switch (k->type) {
	case LBFO_CFG_STRING:
		if (strlen(v) >= k->size) {
			snprintf(why, len, "invalid value: too long (at most %zu characters)",
				 k->size - 1);
			return -1;
		}
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case LBFO_CFG_UINT:
		if (lbfo_cfg_parse_uint(v, k->min, k->max < size_max(k->size) ? k->max :
					size_max(k->size), &x, why, len) < 0)
			return -1;
		store_uint(field, k->size, x);
		return 0;
	case LBFO_CFG_BOOL:
		return lbfo_cfg_parse_bool(v, field, why, len);
	case LBFO_CFG_DURATION:
		if (lbfo_cfg_parse_duration(v, k->min, k->max < size_max(k->size) ? k->max :
					    size_max(k->size), &x, why, len) < 0)
			return -1;
		store_uint(field, k->size, x);
		return 0;
	case LBFO_CFG_ENUM:
		return parse_enum(k, field, v, why, len);
	case LBFO_CFG_LIST:
		return parse_list(k, ctx, obj, v, why, len);
	case LBFO_CFG_CUSTOM:
		return k->parse(ctx, obj, v, why, len);
	}
	return -1;
}

/* ---- tables ---------------------------------------------------------------- */

const struct lbfo_cfg_section *lbfo_cfg_section(const struct lbfo_cfg_table *t,
						const char *name)
{
	return lbfo_cfg_section_kind(t, name, -1);
}

const struct lbfo_cfg_section *lbfo_cfg_section_kind(const struct lbfo_cfg_table *t,
						     const char *name, int named)
{
	const struct lbfo_cfg_section *any = NULL;
	size_t i;

	for (i = 0; i < t->nsections; i++) {
		if (strcmp(t->sections[i].name, name))
			continue;
		if (named < 0 || (int)t->sections[i].named == named)
			return &t->sections[i];
		if (!any)
			any = &t->sections[i];
	}
	return any;
}

const struct lbfo_cfg_key *lbfo_cfg__find_key(const struct lbfo_cfg_section *sec,
					      const char *key, const char **suffix)
{
	size_t i;

	*suffix = NULL;
	for (i = 0; i < sec->nkeys; i++) {
		const struct lbfo_cfg_key *k = &sec->keys[i];

		if (k->flags & LBFO_CFG_PREFIX) {
			size_t n = strcspn(k->key, ".") + 1;

			if (!strncmp(key, k->key, n)) {
				*suffix = key + n;
				return k;
			}
		} else if (!strcmp(key, k->key) || (k->alias && !strcmp(key, k->alias))) {
			return k;
		}
	}
	return NULL;
}

void lbfo_cfg_defaults(const struct lbfo_cfg_section *sec, void *obj, void *user)
{
	size_t i;

	for (i = 0; i < sec->nkeys; i++) {
		const struct lbfo_cfg_key *k = &sec->keys[i];
		struct lbfo_cfg_ctx ctx = { .user = user, .section = sec->name, .key = k->key };
		char why[256];

		/* The table's own defaults parse (tests/common checks it). */
		if (k->def)
			lbfo_cfg__parse_value(k, &ctx, obj, k->def, why, sizeof(why));
	}
}

void lbfo_cfg__key_names(const struct lbfo_cfg_section *sec, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < sec->nkeys && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					sec->keys[i].key);
}

void lbfo_cfg__section_names(const struct lbfo_cfg_table *t, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < t->nsections && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s[%s%s]",
					i == 0 ? "" : i + 1 < t->nsections ? ", " : " or ",
					t->sections[i].name, t->sections[i].named ? " NAME" : "");
}

int lbfo_cfg_set_obj(const struct lbfo_cfg_table *t, void *user, const char *section,
		     void *obj, const char *key, const char *value, char *err, size_t errlen)
{
	const struct lbfo_cfg_section *sec = lbfo_cfg_section(t, section);
	struct lbfo_cfg_ctx ctx = { .user = user, .section = section, .key = key };
	const struct lbfo_cfg_key *k;
	char why[512], names[512];

	if (!sec) {
		snprintf(err, errlen, "%s: no section [%s] to set it in", key, section);
		return -1;
	}
	k = lbfo_cfg__find_key(sec, key, &ctx.suffix);
	if (!k) {
		lbfo_cfg__key_names(sec, names, sizeof(names));
		snprintf(err, errlen, "%s: unknown key (expected %.400s)", key, names);
		return -1;
	}
	if (lbfo_cfg__parse_value(k, &ctx, obj, value, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", key, why);
	return -1;
}

int lbfo_cfg_set(const struct lbfo_cfg_table *t, void *user, const char *section,
		 const char *key, const char *value, char *err, size_t errlen)
{
	const struct lbfo_cfg_section *sec = lbfo_cfg_section_kind(t, section, 0);
	struct lbfo_cfg_ctx ctx = { .user = user, .section = section, .key = key };
	const struct lbfo_cfg_key *k;
	char why[512], names[512];
	void *obj = user;

	if (!sec || sec->named) {
		snprintf(err, errlen, "%s: no section [%s] to set it in", key, section);
		return -1;
	}
	if (sec->open && !(obj = sec->open(&ctx, why, sizeof(why))))
		goto bad;
	k = lbfo_cfg__find_key(sec, key, &ctx.suffix);
	if (!k && sec->other) {
		if (sec->other(&ctx, obj, value, why, sizeof(why)) < 0)
			goto bad;
		return 0;
	}
	if (!k) {
		lbfo_cfg__key_names(sec, names, sizeof(names));
		snprintf(why, sizeof(why), "unknown key (expected %.400s)", names);
		goto bad;
	}
	if (lbfo_cfg__parse_value(k, &ctx, obj, value, why, sizeof(why)) == 0)
		return 0;
bad:
	snprintf(err, errlen, "%s: %s", key, why);
	return -1;
}

/* A typed key's default, parsed as the file's value would be. */
static int check_default(const struct lbfo_cfg_key *k, char *why, size_t len)
{
	uint64_t x;
	bool b;
	size_t i;

	switch (k->type) {
	case LBFO_CFG_UINT:
		return lbfo_cfg_parse_uint(k->def, k->min, k->max, &x, why, len);
	case LBFO_CFG_DURATION:
		return lbfo_cfg_parse_duration(k->def, k->min, k->max, &x, why, len);
	case LBFO_CFG_BOOL:
		return lbfo_cfg_parse_bool(k->def, &b, why, len);
	case LBFO_CFG_STRING:
		if (strlen(k->def) < k->size)
			return 0;
		snprintf(why, len, "default too long");
		return -1;
	case LBFO_CFG_ENUM:
		for (i = 0; k->names[i]; i++)
			if (!strcmp(k->names[i], k->def))
				return 0;
		snprintf(why, len, "default is none of the words");
		return -1;
	default:
		return 0; /* parsed by the table's own function */
	}
}

static const char *key_mistake(const struct lbfo_cfg_key *k)
{
	bool sized = k->size == 1 || k->size == 2 || k->size == 4 || k->size == 8;

	if ((k->type == LBFO_CFG_UINT && !sized) ||
	    (k->type == LBFO_CFG_DURATION && k->size != 4 && k->size != 8) ||
	    (k->type == LBFO_CFG_STRING && k->size == 0))
		return "size does not fit the type";
	if ((k->type == LBFO_CFG_UINT || k->type == LBFO_CFG_DURATION) && k->min > k->max)
		return "empty range";
	if (k->type == LBFO_CFG_ENUM && (!k->names || !k->names[0]))
		return "enum without words";
	if ((k->type == LBFO_CFG_LIST || k->type == LBFO_CFG_CUSTOM) && !k->parse)
		return "no parse function";
	if ((k->flags & LBFO_CFG_REQUIRED) && !k->missing)
		return "required without its missing text";
	if (!k->doc || !k->doc[0])
		return "no doc line";
	return NULL;
}

int lbfo_cfg_table_check(const struct lbfo_cfg_table *t, char *err, size_t errlen)
{
	size_t i, j;

	for (i = 0; i < t->nsections; i++) {
		const struct lbfo_cfg_section *s = &t->sections[i];

		for (j = 0; j < s->nkeys; j++) {
			const struct lbfo_cfg_key *k = &s->keys[j];
			const char *m = key_mistake(k);
			char why[256];

			if (!m && k->def && check_default(k, why, sizeof(why)) < 0)
				m = why;
			if (m) {
				snprintf(err, errlen, "[%s] %s: %s", s->name, k->key, m);
				return -1;
			}
		}
	}
	return 0;
}
