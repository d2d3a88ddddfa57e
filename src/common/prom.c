/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "prom.h"

void lbfo_prom_init(struct lbfo_prom *p, FILE *f)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
}

static bool name_ok(const char *s, bool metric)
{
	const char *c;

	if (!s || !*s || (!metric && !strncmp(s, "__", 2)))
		return false; /* "__" names are Prometheus' own */
	for (c = s; *c; c++) {
		bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
			     (metric && *c == ':');

		if (!alpha && !(c > s && *c >= '0' && *c <= '9'))
			return false;
	}
	return true;
}

void lbfo_prom_escape(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* HELP text: backslash and newline escaped (quotes stay). */
static void help_escape(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void lbfo_prom_family(struct lbfo_prom *p, const struct lbfo_prom_family *fam)
{
	int i;

	p->cur = NULL;
	if (!fam || !name_ok(fam->name, true) || p->nseen >= LBFO_PROM_MAX_FAMILIES) {
		p->bad = true;
		return;
	}
	for (i = 0; i < p->nseen; i++)
		if (!strcmp(p->seen[i], fam->name)) {
			p->bad = true; /* a family's samples must stay together */
			return;
		}
	p->seen[p->nseen++] = fam->name;
	p->cur = fam;
	fprintf(p->f, "# HELP %s ", fam->name);
	help_escape(p->f, fam->help);
	fprintf(p->f, "\n# TYPE %s %s\n", fam->name,
		fam->type == LBFO_PROM_COUNTER ? "counter" : "gauge");
}

/* One sample line; value already formatted. */
static void sample(struct lbfo_prom *p, const struct lbfo_prom_label *l, size_t n,
		   const char *value)
{
	size_t i;

	if (!p->cur || n > LBFO_PROM_MAX_LABELS) {
		p->bad = true;
		return;
	}
	for (i = 0; i < n; i++)
		if (!name_ok(l[i].name, false) || !l[i].value) {
			p->bad = true;
			return;
		}
	fputs(p->cur->name, p->f);
	for (i = 0; i < n; i++) {
		fprintf(p->f, "%s%s=\"", i ? "," : "{", l[i].name);
		lbfo_prom_escape(p->f, l[i].value);
		fputc('"', p->f);
	}
	fprintf(p->f, "%s %s\n", n ? "}" : "", value);
}

static void fmt_double(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (isinf(v))
		snprintf(buf, len, "%sInf", v > 0 ? "+" : "-");
	else
		snprintf(buf, len, "%.15g", v);
}

void lbfo_prom_sample(struct lbfo_prom *p, const struct lbfo_prom_label *labels, size_t n,
		      double v)
{
	char buf[48];

	fmt_double(v, buf, sizeof(buf));
	sample(p, labels, n, buf);
}

void lbfo_prom_sample_u64(struct lbfo_prom *p, const struct lbfo_prom_label *labels, size_t n,
			  uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	sample(p, labels, n, buf);
}

/* Name, value pairs up to NULL. Returns how many, or -1 (too many). */
static int collect(va_list ap, struct lbfo_prom_label *l)
{
	int n = 0;
	const char *name;

	while ((name = va_arg(ap, const char *))) {
		if (n == LBFO_PROM_MAX_LABELS)
			return -1;
		l[n].name = name;
		l[n++].value = va_arg(ap, const char *);
	}
	return n;
}

static void sample_va(struct lbfo_prom *p, const char *value, va_list ap)
{
	struct lbfo_prom_label l[LBFO_PROM_MAX_LABELS];
	int n = collect(ap, l);

	if (n < 0) {
		p->bad = true;
		return;
	}
	sample(p, l, (size_t)n, value);
}

void lbfo_prom_u64(struct lbfo_prom *p, uint64_t v, ...)
{
	char buf[24];
	va_list ap;

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	va_start(ap, v);
	sample_va(p, buf, ap);
	va_end(ap);
}

void lbfo_prom_i64(struct lbfo_prom *p, int64_t v, ...)
{
	char buf[24];
	va_list ap;

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	va_start(ap, v);
	sample_va(p, buf, ap);
	va_end(ap);
}

void lbfo_prom_double(struct lbfo_prom *p, double v, ...)
{
	char buf[48];
	va_list ap;

	fmt_double(v, buf, sizeof(buf));
	va_start(ap, v);
	sample_va(p, buf, ap);
	va_end(ap);
}

int lbfo_prom_finish(struct lbfo_prom *p)
{
	return p->bad ? -1 : 0;
}
