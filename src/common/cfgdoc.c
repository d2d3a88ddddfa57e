/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The configuration reference, from the table itself: Markdown for the
 * docs, plain text for a --help, roff for a man page. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtable_int.h"

/* A table cell: '|' would end it. In plain text nothing is escaped, and
 * Markdown's backquotes go. */
static void cell(FILE *f, const char *s, bool plain)
{
	for (; s && *s; s++) {
		if (*s == '|' && !plain)
			fputs("\\|", f);
		else if (*s != '`' || !plain)
			fputc(*s, f);
	}
}

/* The value column of a key: its syntax, or what its type says. */
static void value_cell(FILE *f, const struct lbfo_cfg_key *k, bool plain)
{
	char lo[32], hi[32];
	size_t i;

	if (k->syntax) {
		cell(f, k->syntax, plain);
		return;
	}
	switch (k->type) {
	case LBFO_CFG_UINT:
		fprintf(f, "%llu..%llu", (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	case LBFO_CFG_DURATION:
		lbfo_cfg__ms_text(k->min, lo, sizeof(lo));
		lbfo_cfg__ms_text(k->max, hi, sizeof(hi));
		fprintf(f, "%s..%s", lo, hi);
		break;
	case LBFO_CFG_BOOL:
		fputs("on, off", f);
		break;
	case LBFO_CFG_ENUM:
		for (i = 0; k->names[i]; i++)
			fprintf(f, plain ? "%s%s" : "%s`%s`", i ? (plain ? "|" : ", ") : "",
				k->names[i]);
		break;
	case LBFO_CFG_STRING:
		fputs("text", f);
		break;
	default:
		break;
	}
}

static void key_row(FILE *f, const struct lbfo_cfg_key *k)
{
	fprintf(f, "| `%s`", k->key);
	if (k->alias)
		fprintf(f, " (or `%s`)", k->alias);
	fputs(" | ", f);
	value_cell(f, k, false);
	fputs(" | ", f);
	if (k->def_doc)
		cell(f, k->def_doc, false);
	else if (k->def)
		cell(f, k->def, false);
	else
		fputs(k->flags & LBFO_CFG_REQUIRED ? "required" : "—", f);
	fputs(" | ", f);
	cell(f, k->doc, false);
	fputs(" |\n", f);
}

void lbfo_cfg_markdown(const struct lbfo_cfg_table *t, FILE *f)
{
	size_t i, j;

	for (i = 0; i < t->nsections; i++) {
		const struct lbfo_cfg_section *s = &t->sections[i];

		fprintf(f, "%s### `[%s%s]`\n\n%s\n\n| key | value | default | meaning |\n"
			"|---|---|---|---|\n", i ? "\n" : "", s->name, s->named ? " NAME" : "",
			s->doc);
		for (j = 0; j < s->nkeys; j++)
			key_row(f, &s->keys[j]);
	}
}

static void help_line(FILE *f, const struct lbfo_cfg_key *k)
{
	fprintf(f, "  %s=", k->key);
	value_cell(f, k, true);
	fputs("  ", f);
	cell(f, k->doc, true);
	if (k->def_doc || k->def) {
		fputs(" (default ", f);
		cell(f, k->def_doc ? k->def_doc : k->def, true);
		fputc(')', f);
	} else if (k->flags & LBFO_CFG_REQUIRED) {
		fputs(" (required)", f);
	}
	fputc('\n', f);
}

void lbfo_cfg_help(const struct lbfo_cfg_table *t, FILE *f)
{
	size_t i, j;

	for (i = 0; i < t->nsections; i++) {
		const struct lbfo_cfg_section *s = &t->sections[i];

		fprintf(f, "%s[%s%s]  ", i ? "\n" : "", s->name, s->named ? " NAME" : "");
		cell(f, s->doc, true);
		fputc('\n', f);
		for (j = 0; j < s->nkeys; j++)
			help_line(f, &s->keys[j]);
	}
}

/* Text for a man page: backslashes and minus signs escaped, `code` in
 * bold, a '.' or '\'' at the start of a line kept from being a request. */
static void roff(FILE *f, const char *s, bool bol)
{
	bool code = false;

	for (; s && *s; s++) {
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", f);
		bol = *s == '\n';
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else if (*s == '`')
			fputs((code = !code) ? "\\fB" : "\\fR", f);
		else
			fputc(*s, f);
	}
	if (code)
		fputs("\\fR", f);
}

static void roff_key(FILE *f, const struct lbfo_cfg_key *k)
{
	char *value = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&value, &len);

	if (m) {
		value_cell(m, k, true);
		fclose(m);
	}
	fputs(".TP\n\\fB", f);
	roff(f, k->key, false);
	fputs("\\fR=\\fI", f);
	roff(f, value, false);
	fputs("\\fR", f);
	if (k->alias) {
		fputs(" (or \\fB", f);
		roff(f, k->alias, false);
		fputs("\\fR)", f);
	}
	fputc('\n', f);
	roff(f, k->doc, true);
	if (k->def_doc || k->def) {
		fputs(" (default ", f);
		roff(f, k->def_doc ? k->def_doc : k->def, false);
		fputc(')', f);
	} else if (k->flags & LBFO_CFG_REQUIRED) {
		fputs(" (required)", f);
	}
	fputc('\n', f);
	free(value);
}

void lbfo_cfg_roff(const struct lbfo_cfg_table *t, FILE *f)
{
	size_t i, j;

	for (i = 0; i < t->nsections; i++) {
		const struct lbfo_cfg_section *s = &t->sections[i];

		fprintf(f, ".SS \"[%s%s]\"\n", s->name, s->named ? " NAME" : "");
		roff(f, s->doc, true);
		fputc('\n', f);
		for (j = 0; j < s->nkeys; j++)
			roff_key(f, &s->keys[j]);
	}
}
