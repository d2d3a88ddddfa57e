/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inifile.h"

struct lines {
	FILE *f;
	int *lineno;
	int too_long; /* the line number of a line the parser cannot hold */
	int max;
};

/* One line per call, counted. A line longer than the parser's buffer would
 * reach it in pieces, each taken for a line of its own (and the count
 * would drift): stop there instead, and say which line it is. */
static char *read_line(char *buf, int size, void *stream)
{
	struct lines *l = stream;
	char *r = fgets(buf, size, l->f);
	size_t n;

	if (!r)
		return NULL;
	(*l->lineno)++;
	n = strlen(buf);
	if (n == (size_t)size - 1 && buf[n - 1] != '\n' && !feof(l->f)) {
		l->too_long = *l->lineno;
		l->max = size - 2;
		return NULL;
	}
	return r;
}

int lbfo_ini_parse(const char *file, ini_handler handler, void *user, int *lineno,
		   char *err, size_t errlen)
{
	struct lines l = { .lineno = lineno };
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
