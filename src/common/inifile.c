/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inifile.h"

struct lines {
	FILE *f;
	int *lineno;
	int too_long; /* the line number of a line the parser cannot hold */
	int max;
	const struct lbfo_ini_hooks *h;
	void *user;
	bool after_key; /* the last line that was no comment held a key */
	bool stopped;
};

/* What the line is to inih, for the hooks: a section header, an indented
 * continuation of the last key's value, a key, or nothing (blank,
 * comment, a syntax error). Returns 0 to stop reading. */
static int look_at(struct lines *l, char *buf)
{
	char *p = buf, *e;

	if (*l->lineno == 1 && !strncmp(p, "\xEF\xBB\xBF", 3))
		p += 3;
	while (*p && isspace((unsigned char)*p))
		p++;
	if (!*p || *p == ';' || *p == '#')
		return 1;
	if (l->after_key && p > buf) {
		if (l->h->continuation)
			l->h->continuation(l->user, *l->lineno);
		return 1;
	}
	if (*p != '[') {
		if (strpbrk(p, "=:"))
			l->after_key = true; /* else inih's syntax error */
		return 1;
	}
	for (e = p + 1; *e && *e != ']' && !(*e == ';' && isspace((unsigned char)e[-1])); e++)
		;
	if (*e != ']')
		return 1; /* inih: syntax error */
	l->after_key = false;
	{
		char name[INI_MAX_LINE];
		int rc;

		snprintf(name, sizeof(name), "%.*s", (int)(e - p - 1), p + 1);
		rc = l->h->section(l->user, name, *l->lineno);
		return rc;
	}
}

/* One line per call, counted. A line longer than the parser's buffer would
 * reach it in pieces, each taken for a line of its own (and the count
 * would drift): stop there instead, and say which line it is. */
static char *read_line(char *buf, int size, void *stream)
{
	struct lines *l = stream;
	char *r;
	size_t n;

	if (l->stopped || (l->h && l->h->stop && l->h->stop(l->user)))
		return NULL;
	r = fgets(buf, size, l->f);
	if (!r)
		return NULL;
	(*l->lineno)++;
	n = strlen(buf);
	if (n == (size_t)size - 1 && buf[n - 1] != '\n' && !feof(l->f)) {
		l->too_long = *l->lineno;
		l->max = size - 2;
		return NULL;
	}
	if (l->h && l->h->section && !look_at(l, buf)) {
		l->stopped = true;
		return NULL;
	}
	return r;
}

static int parse(const char *file, ini_handler handler, const struct lbfo_ini_hooks *h,
		 void *user, int *lineno, char *err, size_t errlen)
{
	struct lines l = { .lineno = lineno, .h = h, .user = user };
	int rc;

	*lineno = 0;
	l.f = fopen(file, "r");
	if (!l.f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(read_line, &l, handler, user);
	fclose(l.f);
	if (l.too_long && (rc == 0 || rc > l.too_long)) {
		snprintf(err, errlen, "%s:%d: line too long (at most %d characters)", file,
			 l.too_long, l.max);
		*lineno = l.too_long;
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot parse (out of memory?)", file);
		return -1;
	}
	return rc;
}

int lbfo_ini_parse(const char *file, ini_handler handler, void *user, int *lineno,
		   char *err, size_t errlen)
{
	return parse(file, handler, NULL, user, lineno, err, errlen);
}

int lbfo_ini_parse_hooks(const char *file, const struct lbfo_ini_hooks *h, void *user,
			 int *lineno, char *err, size_t errlen)
{
	return parse(file, h->key, h, user, lineno, err, errlen);
}

int lbfo_ini_u32(const char *key, const char *v, uint32_t min, uint32_t max,
		 uint32_t *out, char *err, size_t errlen)
{
	unsigned long long x;
	char *end;

	errno = 0;
	if (v[0] < '0' || v[0] > '9')
		goto bad;
	x = strtoull(v, &end, 10);
	if (errno || *end)
		goto bad;
	if (x < min || x > max) {
		snprintf(err, errlen, "invalid value '%s'%s%s%s: out of range %u..%u", v,
			 key ? " for '" : "", key ? key : "", key ? "'" : "", min, max);
		return -1;
	}
	*out = (uint32_t)x;
	return 0;
bad:
	snprintf(err, errlen, "invalid value '%s'%s%s%s: not a whole number", v,
		 key ? " for '" : "", key ? key : "", key ? "'" : "");
	return -1;
}
