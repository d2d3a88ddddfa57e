/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "inifile.h"

struct lines {
	FILE *f;
	int *lineno;
};

static char *read_line(char *buf, int size, void *stream)
{
	struct lines *l = stream;
	char *r = fgets(buf, size, l->f);

	if (r)
		(*l->lineno)++;
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
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot parse (out of memory?)", file);
		return -1;
	}
	return rc;
}
