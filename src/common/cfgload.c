/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a configuration file by its table (cfgtable.h): sections as
 * their headers come, keys as inih hands them over, then the checks. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtable_int.h"
#include "inifile.h"

#define HDR_MAX 96

/* A section of the file. */
struct seen {
	const struct lbfo_cfg_section *sec; /* NULL: unknown */
	char hdr[HDR_MAX];                  /* the header's text */
	const char *name;                   /* into hdr, NULL for a singleton */
	int line;
	void *obj;
	bool keys;                          /* a key came in it */
};

/* A key set in a section. */
struct set {
	int seen;
	const struct lbfo_cfg_key *key;
	char as[64];   /* as written (a prefix key's suffix tells them apart) */
	int line;
};

struct lbfo_cfg_checker {
	const char *file;
	char *err;
	size_t errlen;
	int line;     /* of the finding kept, -1 = none yet */
	const struct seen *seen;
	int nseen;
	const struct set *set;
	int nset;
};

struct loader {
	const struct lbfo_cfg_table *t;
	void *user;
	const char *file;
	char *err;
	size_t errlen;
	int lineno;
	bool failed;
	int fail_line;
	int cont_line;  /* the last indented continuation line */
	struct seen *seen;
	int nseen, cap_seen;
	struct set *set;
	int nset, cap_set;
};

static void failf(struct loader *l, int line, const char *hdr, const char *key,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "FILE[:LINE]: [HDR]: KEY: why", the parts that are there. */
static void vmessage(char *buf, size_t len, const char *file, int line, const char *hdr,
		     const char *key, const char *fmt, va_list ap)
{
	char why[512], where[32] = "";

	vsnprintf(why, sizeof(why), fmt, ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	snprintf(buf, len, "%s%s: %s%s%s%s%s%s", file, where, hdr ? "[" : "", hdr ? hdr : "",
		 hdr ? "]: " : "", key ? key : "", key ? ": " : "", why);
}

/* The first error. */
static void failf(struct loader *l, int line, const char *hdr, const char *key,
		  const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return;
	va_start(ap, fmt);
	vmessage(l->err, l->errlen, l->file, line, hdr, key, fmt, ap);
	va_end(ap);
	l->failed = true;
	l->fail_line = line;
}

static struct seen *cur(struct loader *l)
{
	return l->nseen ? &l->seen[l->nseen - 1] : NULL;
}

static struct seen *push_seen(struct loader *l, const char *hdr, int line)
{
	struct seen *s;

	if (l->nseen == l->cap_seen) {
		int cap = l->cap_seen ? 2 * l->cap_seen : 16;
		struct seen *n = realloc(l->seen, (size_t)cap * sizeof(*n));

		int i;

		if (!n)
			return NULL;
		/* A named section's name points into its own hdr, which has
		 * just moved: point it there again. */
		for (i = 0; i < l->nseen; i++)
			if (n[i].name)
				n[i].name = n[i].hdr + strcspn(n[i].hdr, " ") + 1;
		l->seen = n;
		l->cap_seen = cap;
	}
	s = &l->seen[l->nseen++];
	memset(s, 0, sizeof(*s));
	snprintf(s->hdr, sizeof(s->hdr), "%s", hdr);
	s->line = line;
	return s;
}

/* An unknown section is reported at its first key (as [SECTION]: KEY), or
 * at its header when it has none. */
static void unknown_section(struct loader *l, const struct seen *s, int line, const char *key)
{
	char names[256];

	lbfo_cfg__section_names(l->t, names, sizeof(names));
	failf(l, line, s->hdr, key, "unknown section (expected %s)", names);
}

/* Is there an earlier section like s (same kind, same name)? */
static const struct seen *earlier(const struct loader *l, const struct seen *s)
{
	const struct seen *p;

	for (p = l->seen; p < s; p++)
		if (p->sec == s->sec && ((!p->name && !s->name) ||
					 (p->name && s->name && !strcmp(p->name, s->name))))
			return p;
	return NULL;
}

/* The name part of a header: checked, and pointed at in s->hdr. */
static int take_name(struct loader *l, struct seen *s, size_t wlen)
{
	const struct lbfo_cfg_section *sec = s->sec;
	size_t max = sec->name_max ? sec->name_max : LBFO_CFG_NAME_MAX_DEFAULT;
	bool has = s->hdr[wlen] == ' ';

	if (!sec->named) {
		if (has)
			failf(l, s->line, s->hdr, NULL, "[%s] takes no name", sec->name);
		return has ? -1 : 0;
	}
	if (!has || !s->hdr[wlen + 1]) {
		failf(l, s->line, s->hdr, NULL, "%s name (expected [%s NAME])",
		      has ? "empty" : "missing", sec->name);
		return -1;
	}
	s->name = s->hdr + wlen + 1;
	if (!lbfo_cfg_name_ok(s->name, max)) {
		failf(l, s->line, s->hdr, NULL, "invalid name '%s' (letters, digits, '-', '_' "
		      "and '.'; at most %zu characters)", s->name, max - 1);
		return -1;
	}
	return 0;
}

/* A header of a known section: its name, once only; its object, with the
 * section's defaults. */
static int open_section(struct loader *l, struct seen *s)
{
	struct lbfo_cfg_ctx ctx = { .user = l->user, .file = l->file, .line = s->line,
				    .section = s->hdr };
	const struct seen *first;
	size_t wlen = strcspn(s->hdr, " ");
	char word[HDR_MAX], why[512];

	snprintf(word, sizeof(word), "%.*s", (int)wlen, s->hdr);
	s->sec = lbfo_cfg_section_kind(l->t, word, s->hdr[wlen] == ' ');
	if (!s->sec)
		return 0; /* unknown: said at its first key, or at its end */
	if (take_name(l, s, wlen) < 0)
		return -1;
	first = earlier(l, s);
	if (first && s->name) {
		failf(l, s->line, s->hdr, NULL, "duplicate section (the first [%s] is at line %d; "
		      "one section per %s)", first->hdr, first->line, s->sec->name);
		return -1;
	}
	if (first) {
		failf(l, s->line, s->hdr, NULL, "duplicate section (the first [%s] is at line %d; "
		      "one [%s] per file)", first->hdr, first->line, s->sec->name);
		return -1;
	}
	ctx.name = s->name;
	s->obj = s->sec->open ? s->sec->open(&ctx, why, sizeof(why)) : l->user;
	if (!s->obj) {
		failf(l, s->line, s->hdr, NULL, "%s", why);
		return -1;
	}
	/* A new object gets the section's defaults; a singleton's object is
	 * the configuration itself, whose defaults its caller set before
	 * (and which may hold keys of a command line given before the
	 * file: they stay unless the file sets them). */
	if (s->sec->open)
		lbfo_cfg_defaults(s->sec, s->obj, l->user);
	return 0;
}

static int on_header(void *user, const char *text, int line)
{
	struct loader *l = user;
	struct seen *prev = cur(l), *s;

	if (prev && !prev->sec && !prev->keys) {
		unknown_section(l, prev, prev->line, NULL);
		return 0;
	}
	s = push_seen(l, text, line);
	if (!s) {
		failf(l, line, text, NULL, "out of memory");
		return 0;
	}
	return open_section(l, s) == 0;
}

static void on_continuation(void *user, int line)
{
	((struct loader *)user)->cont_line = line;
}

static int on_stop(void *user)
{
	return ((struct loader *)user)->failed;
}

/* Was this key given before in the section? (its line, or 0) */
static int given(const struct loader *l, const struct lbfo_cfg_key *k, const char *as)
{
	int i;

	for (i = 0; i < l->nset; i++)
		if (l->set[i].seen == l->nseen - 1 && l->set[i].key == k &&
		    (!(k->flags & LBFO_CFG_PREFIX) || !strcmp(l->set[i].as, as)))
			return l->set[i].line;
	return 0;
}

static int record(struct loader *l, const struct lbfo_cfg_key *k, const char *as)
{
	struct set *e;

	if (l->nset == l->cap_set) {
		int cap = l->cap_set ? 2 * l->cap_set : 32;
		struct set *n = realloc(l->set, (size_t)cap * sizeof(*n));

		if (!n)
			return -1;
		l->set = n;
		l->cap_set = cap;
	}
	e = &l->set[l->nset++];
	e->seen = l->nseen - 1;
	e->key = k;
	snprintf(e->as, sizeof(e->as), "%s", as);
	e->line = l->lineno;
	return 0;
}

/* A key of a known section. Returns 0, or -1 with why. */
static int set_key(struct loader *l, struct seen *s, const char *key, const char *value,
		   char *why, size_t len)
{
	struct lbfo_cfg_ctx ctx = { .user = l->user, .file = l->file, .line = l->lineno,
				    .section = s->hdr, .name = s->name, .key = key };
	const struct lbfo_cfg_key *k = lbfo_cfg__find_key(s->sec, key, &ctx.suffix);
	char names[512];
	int first;

	if (!k && s->sec->other)
		return s->sec->other(&ctx, s->obj, value, why, len);
	if (!k) {
		lbfo_cfg__key_names(s->sec, names, sizeof(names));
		snprintf(why, len, "unknown key (expected %.400s)", names);
		return -1;
	}
	first = (k->flags & LBFO_CFG_REPEAT) ? 0 : given(l, k, key);
	if (first) {
		snprintf(why, len, "given twice (first at line %d)", first);
		return -1;
	}
	if (lbfo_cfg__parse_value(k, &ctx, s->obj, value, why, len) < 0)
		return -1;
	if (record(l, k, key) < 0) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	return 0;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
	struct loader *l = user;
	struct seen *s = cur(l);
	char why[512];

	if (l->failed)
		return 0;
	if (!*section) {
		failf(l, l->lineno, NULL, key, "outside any section (a [SECTION] header comes "
		      "first)");
		return 0;
	}
	if (l->cont_line == l->lineno) {
		failf(l, l->lineno, section, key, "an indented line continues the value above it: "
		      "write a value on one line");
		return 0;
	}
	/* Should inih and the hooks ever disagree about a header. */
	if ((!s || strcmp(s->hdr, section)) && (!on_header(l, section, l->lineno) || !(s = cur(l))))
		return 0;
	s->keys = true;
	if (!s->sec) {
		unknown_section(l, s, l->lineno, key);
		return 0;
	}
	if (set_key(l, s, key, value, why, sizeof(why)) == 0)
		return 1;
	failf(l, l->lineno, s->hdr, key, "%s", why);
	return 0;
}

/* ---- after the file ------------------------------------------------------ */

void lbfo_cfg_found(struct lbfo_cfg_checker *chk, int line, const char *section,
		    const char *key, const char *fmt, ...)
{
	va_list ap;

	if (chk->line >= 0 && chk->line <= line)
		return;
	chk->line = line;
	va_start(ap, fmt);
	vmessage(chk->err, chk->errlen, chk->file, line, section, key, fmt, ap);
	va_end(ap);
}

int lbfo_cfg_section_line(const struct lbfo_cfg_checker *chk, const void *obj)
{
	int i;

	for (i = 0; i < chk->nseen; i++)
		if (chk->seen[i].sec && chk->seen[i].obj == obj)
			return chk->seen[i].line;
	return 0;
}

int lbfo_cfg_key_line(const struct lbfo_cfg_checker *chk, const void *obj, const char *key)
{
	int i;

	for (i = 0; i < chk->nset; i++)
		if (chk->seen[chk->set[i].seen].obj == obj && !strcmp(chk->set[i].key->key, key))
			return chk->set[i].line;
	return 0;
}

/* Required keys missing: at the section's line. */
static void check_required(struct lbfo_cfg_checker *chk)
{
	int i;
	size_t k;

	for (i = 0; i < chk->nseen; i++) {
		const struct seen *s = &chk->seen[i];

		for (k = 0; s->sec && k < s->sec->nkeys; k++) {
			const struct lbfo_cfg_key *key = &s->sec->keys[k];

			if ((key->flags & LBFO_CFG_REQUIRED) && !lbfo_cfg_key_line(chk, s->obj, key->key))
				lbfo_cfg_found(chk, s->line, s->hdr, key->key, "missing (%s)",
					       key->missing ? key->missing : key->doc);
		}
	}
}

static int finish(struct loader *l, int rc)
{
	struct lbfo_cfg_checker chk = {
		.file = l->file, .err = l->err, .errlen = l->errlen, .line = -1,
		.seen = l->seen, .nseen = l->nseen, .set = l->set, .nset = l->nset,
	};
	struct seen *last = cur(l);

	if (rc < 0)
		return -1; /* unreadable, or a line too long: inifile.c said so */
	if (last && !last->sec && !last->keys)
		unknown_section(l, last, last->line, NULL);
	if (rc > 0 && (!l->failed || rc < l->fail_line)) {
		snprintf(l->err, l->errlen, "%s:%d: syntax error (expected [SECTION], KEY = VALUE "
			 "or a ; comment)", l->file, rc);
		return -1;
	}
	if (l->failed)
		return -1;
	check_required(&chk);
	if (l->t->check)
		l->t->check(&chk, l->user);
	return chk.line >= 0 ? -1 : 0;
}

int lbfo_cfg_load(const struct lbfo_cfg_table *t, void *user, const char *file, char *err,
		  size_t errlen)
{
	static const struct lbfo_ini_hooks hooks = {
		.key = on_key, .section = on_header, .continuation = on_continuation,
		.stop = on_stop,
	};
	struct loader l = { .t = t, .user = user, .file = file, .err = err, .errlen = errlen };
	int rc = lbfo_ini_parse_hooks(file, &hooks, &l, &l.lineno, err, errlen);

	rc = finish(&l, rc);
	free(l.seen);
	free(l.set);
	return rc;
}
