/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The configuration reference in Markdown, from the table itself. */
#include <string.h>

#include "cfgtable_int.h"

/* A table cell: '|' would end it. */
static void cell(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else
			fputc(*s, f);
	}
}

/* The value column of a key: its syntax, or what its type says. */
static void value_cell(FILE *f, const struct lbfo_cfg_key *k)
{
	char lo[32], hi[32];
	size_t i;

	if (k->syntax) {
		cell(f, k->syntax);
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
			fprintf(f, "%s`%s`", i ? ", " : "", k->names[i]);
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
	value_cell(f, k);
	fputs(" | ", f);
	if (k->def_doc)
		cell(f, k->def_doc);
	else if (k->def)
		cell(f, k->def);
	else
		fputs(k->flags & LBFO_CFG_REQUIRED ? "required" : "—", f);
	fputs(" | ", f);
	cell(f, k->doc);
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
