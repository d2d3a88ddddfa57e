/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Prometheus text exposition (format 0.0.4) for both daemons' metrics.
 * A family is declared once, as a constant, with its name, type and help;
 * opening it writes its "# HELP" and "# TYPE" lines, and the samples that
 * follow carry its name and their labels:
 *
 *	static const struct lbfo_prom_family F_ACTIVE = {
 *		"lbfo_router_service_active", LBFO_PROM_GAUGE,
 *		"Open connections per service." };
 *
 *	lbfo_prom_init(&p, f);
 *	lbfo_prom_family(&p, &F_ACTIVE);
 *	lbfo_prom_u64(&p, s->active, "service", s->name, NULL);
 *	return lbfo_prom_finish(&p);
 *
 * Label values are escaped as the format asks (backslash, double quote,
 * newline), so a name cannot break the exposition. Names are checked
 * (metric: [a-zA-Z_:][a-zA-Z0-9_:]*, label: [a-zA-Z_][a-zA-Z0-9_]*, no
 * "__" prefix), a family opened twice in one exposition or a sample with
 * no family open is refused: such mistakes write nothing and make
 * lbfo_prom_finish() return -1 (tests check it, promtool checks the rest).
 */
#ifndef LBFO_PROM_H
#define LBFO_PROM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LBFO_PROM_MAX_FAMILIES 128
#define LBFO_PROM_MAX_LABELS 8

enum lbfo_prom_type {
	LBFO_PROM_COUNTER, /* only goes up (name ends in _total) */
	LBFO_PROM_GAUGE,   /* goes up and down */
};

struct lbfo_prom_family {
	const char *name;
	enum lbfo_prom_type type;
	const char *help; /* one line */
};

struct lbfo_prom_label {
	const char *name;
	const char *value;
};

struct lbfo_prom {
	FILE *f;
	const struct lbfo_prom_family *cur;  /* the family samples go to */
	const char *seen[LBFO_PROM_MAX_FAMILIES];
	int nseen;
	bool bad;
};

void lbfo_prom_init(struct lbfo_prom *p, FILE *f);
/* Open a family: its # HELP and # TYPE lines. */
void lbfo_prom_family(struct lbfo_prom *p, const struct lbfo_prom_family *fam);

/* One sample of the open family. Labels as name, value pairs ending with
 * NULL (at most LBFO_PROM_MAX_LABELS): lbfo_prom_u64(&p, 3, "node", "n1", NULL). */
void lbfo_prom_u64(struct lbfo_prom *p, uint64_t v, ...);
void lbfo_prom_i64(struct lbfo_prom *p, int64_t v, ...);
void lbfo_prom_double(struct lbfo_prom *p, double v, ...);
/* The same with an array of labels (n of them). */
void lbfo_prom_sample(struct lbfo_prom *p, const struct lbfo_prom_label *labels, size_t n,
		      double v);
void lbfo_prom_sample_u64(struct lbfo_prom *p, const struct lbfo_prom_label *labels, size_t n,
			  uint64_t v);

/* Returns 0, or -1 when a family or a sample was refused. */
int lbfo_prom_finish(struct lbfo_prom *p);

/* Write s escaped as a label value (without the quotes). */
void lbfo_prom_escape(FILE *f, const char *s);

#endif
