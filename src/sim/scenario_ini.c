/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a scenario file: INI by libinih, each key handed to
 * sim_scenario_set() with its line number, then sim_scenario_check().
 */
#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

struct ini_ctx {
	struct sim_scenario *sc;
	char msg[1024];
	int nkeys;
	bool failed;
	const char *text; /* for line numbers */
	int line;         /* line of the current key (counted by us) */
	const char *pos;
};

/* inih (as packaged) gives no line numbers to the handler; find the line
 * of the next `key` in `[section]` by scanning forward in the text. Keys
 * arrive in file order, so a forward scan from the last hit is exact. */
static int locate(struct ini_ctx *c, const char *key)
{
	const char *p = c->pos;
	int line = c->line;
	size_t kl = strlen(key);

	while (p && *p) {
		const char *s = p, *nl = strchr(p, '\n');

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != ';' && *s != '#' && *s != '[' && !strncmp(s, key, kl)) {
			const char *q = s + kl;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '=' || *q == ':') {
				c->pos = nl ? nl + 1 : s + strlen(s);
				c->line = line + 1;
				return line;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
		line++;
	}
	return c->line;
}

static int on_ini_key(void *user, const char *section, const char *name,
		       const char *value)
{
	struct ini_ctx *c = user;
	char err[400];
	int line;

	if (c->failed)
		return 1; /* keep only the first error */
	line = locate(c, name);
	if (sim_scenario_set(c->sc, section, name, value, line, err, sizeof(err)) < 0) {
		snprintf(c->msg, sizeof(c->msg), "%s:%d: %s", c->sc->file, line, err);
		c->failed = true;
		return 0;
	}
	c->nkeys++;
	return 1;
}

int sim_scenario_load_string(struct sim_scenario *sc, const char *name,
			     const char *text, char *err, size_t errlen)
{
	struct ini_ctx c;
	int rc;

	sim_scenario_defaults(sc);
	snprintf(sc->file, sizeof(sc->file), "%s", name);
	memset(&c, 0, sizeof(c));
	c.sc = sc;
	c.text = c.pos = text;
	c.line = 1;
	rc = ini_parse_string(text, on_ini_key, &c);
	if (c.failed) {
		snprintf(err, errlen, "%s", c.msg);
		return -1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: syntax error (expected [section], "
			 "key = value, or a comment)", name, rc);
		return -1;
	}
	return sim_scenario_check(sc, err, errlen);
}

int sim_scenario_load(struct sim_scenario *sc, const char *file, char *err,
		      size_t errlen)
{
	FILE *f = fopen(file, "r");
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (cap - len < 4097) {
			char *n;

			cap = cap ? cap * 2 : 8192;
			n = realloc(text, cap);
			if (!n) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", file);
				return -1;
			}
			text = n;
		}
		got = fread(text + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
		if (len > (1u << 20)) {
			free(text);
			fclose(f);
			snprintf(err, errlen, "%s: larger than 1 MiB", file);
			return -1;
		}
	}
	if (ferror(f)) {
		free(text);
		fclose(f);
		snprintf(err, errlen, "%s: read error", file);
		return -1;
	}
	fclose(f);
	text[len] = '\0';
	rc = sim_scenario_load_string(sc, file, text, err, errlen);
	free(text);
	return rc;
}
