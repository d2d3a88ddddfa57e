/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Prometheus writer: HELP and TYPE for every family, label values
 * escaped, mistakes refused; the output passes `promtool check metrics`
 * (package prometheus, installed by scripts/setup). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "prom.h"

static const struct lbfo_prom_family F_BYTES = {
	"lbfo_path_bytes_total", LBFO_PROM_COUNTER, "Bytes completed on a path \\ by direction.",
};
static const struct lbfo_prom_family F_STATE = {
	"lbfo_path_state", LBFO_PROM_GAUGE, "1 for the path's current state.\nOne line.",
};
static const struct lbfo_prom_family F_UP = {
	"lbfo_up", LBFO_PROM_GAUGE, "1.",
};

struct out {
	char *buf;
	size_t len;
	FILE *f;
	struct lbfo_prom p;
};

static void out_open(struct out *o)
{
	o->buf = NULL;
	o->f = open_memstream(&o->buf, &o->len);
	assert_non_null(o->f);
	lbfo_prom_init(&o->p, o->f);
}

static int out_close(struct out *o)
{
	fclose(o->f);
	return lbfo_prom_finish(&o->p);
}

/* A name with every character the format must escape. */
static const char nasty[] = "p\"0\\x\ny";

static void write_sample(struct out *o)
{
	struct lbfo_prom_label l[] = { { "lu", "naa.6001" }, { "path", nasty }, { "dir", "read" } };

	lbfo_prom_family(&o->p, &F_BYTES);
	lbfo_prom_sample_u64(&o->p, l, 3, 18446744073709551615ull);
	lbfo_prom_u64(&o->p, 5, "lu", "naa.6001", "path", "p1", "dir", "write", NULL);
	lbfo_prom_family(&o->p, &F_STATE);
	lbfo_prom_double(&o->p, 0.25, "path", "p1", "state", "active", NULL);
	lbfo_prom_i64(&o->p, -1, "path", "p1", "state", "failed", NULL);
	lbfo_prom_family(&o->p, &F_UP);
	lbfo_prom_double(&o->p, 1.0 / 0.0, NULL);
}

static void test_exposition(void **state)
{
	struct out o;

	(void)state;
	out_open(&o);
	write_sample(&o);
	assert_int_equal(out_close(&o), 0);
	assert_string_equal(o.buf,
		"# HELP lbfo_path_bytes_total Bytes completed on a path \\\\ by direction.\n"
		"# TYPE lbfo_path_bytes_total counter\n"
		"lbfo_path_bytes_total{lu=\"naa.6001\",path=\"p\\\"0\\\\x\\ny\",dir=\"read\"} 18446744073709551615\n"
		"lbfo_path_bytes_total{lu=\"naa.6001\",path=\"p1\",dir=\"write\"} 5\n"
		"# HELP lbfo_path_state 1 for the path's current state.\\nOne line.\n"
		"# TYPE lbfo_path_state gauge\n"
		"lbfo_path_state{path=\"p1\",state=\"active\"} 0.25\n"
		"lbfo_path_state{path=\"p1\",state=\"failed\"} -1\n"
		"# HELP lbfo_up 1.\n"
		"# TYPE lbfo_up gauge\n"
		"lbfo_up +Inf\n");
	free(o.buf);
}

static void test_refusals(void **state)
{
	static const struct lbfo_prom_family bad_name = { "2bad", LBFO_PROM_GAUGE, "x" };
	struct out o;

	(void)state;
	out_open(&o); /* a sample before any family */
	lbfo_prom_u64(&o.p, 1, NULL);
	assert_int_equal(out_close(&o), -1);
	assert_string_equal(o.buf, "");
	free(o.buf);

	out_open(&o); /* a family twice */
	lbfo_prom_family(&o.p, &F_UP);
	lbfo_prom_u64(&o.p, 1, NULL);
	lbfo_prom_family(&o.p, &F_UP);
	lbfo_prom_u64(&o.p, 2, NULL);
	assert_int_equal(out_close(&o), -1);
	assert_null(strstr(o.buf, " 2\n"));
	free(o.buf);

	out_open(&o); /* bad metric and label names */
	lbfo_prom_family(&o.p, &bad_name);
	assert_int_equal(lbfo_prom_finish(&o.p), -1);
	lbfo_prom_init(&o.p, o.f);
	lbfo_prom_family(&o.p, &F_UP);
	lbfo_prom_u64(&o.p, 1, "bad-label", "x", NULL);
	assert_int_equal(lbfo_prom_finish(&o.p), -1);
	lbfo_prom_init(&o.p, o.f);
	lbfo_prom_family(&o.p, &F_STATE);
	lbfo_prom_u64(&o.p, 1, "__reserved", "x", NULL);
	assert_int_equal(out_close(&o), -1);
	free(o.buf);
}

/* promtool reads what the writer wrote: no parse error, no lint finding
 * (every family has HELP and TYPE, counters end in _total). */
static void test_promtool(void **state)
{
	char file[] = "/tmp/lbfo-prom-XXXXXX", cmd[256];
	struct out o;
	FILE *f;
	int fd;

	(void)state;
	if (system("command -v promtool >/dev/null 2>&1") != 0)
		fail_msg("promtool not found (package prometheus; scripts/setup installs it)");
	out_open(&o);
	write_sample(&o);
	assert_int_equal(out_close(&o), 0);
	fd = mkstemp(file);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(o.buf, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", file);
	assert_int_equal(system(cmd), 0);
	unlink(file);
	free(o.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_promtool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
