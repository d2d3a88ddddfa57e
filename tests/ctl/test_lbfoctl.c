/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfoctl's pieces: its usage is generated from the daemons' tables and is
 * the one docs/lbfoctl.md shows; requests are found in the tables and
 * named as the messages name them; the LU's status JSON is read with
 * json-c; the kind of an instance is told from its help (also the help of
 * instances older than the tables).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client.h"
#include "ctlserver.h"
#include "usage.h"

static char *slurp(const char *path)
{
	FILE *in = fopen(path, "r");
	char *buf;
	long len;

	assert_non_null(in);
	fseek(in, 0, SEEK_END);
	len = ftell(in);
	rewind(in);
	buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, in), (size_t)len);
	fclose(in);
	return buf;
}

static void test_usage_is_documented(void **state)
{
	char *doc = slurp(SRCDIR "/docs/lbfoctl.md"), *gen = NULL, *b, *e;
	size_t len = 0;
	FILE *f = open_memstream(&gen, &len);

	(void)state;
	ctl_usage(f);
	fclose(f);
	b = strstr(doc, "\nusage: lbfoctl ");
	e = b ? strstr(b, "\n```") : NULL;
	if (!b || !e)
		fail_msg("docs/lbfoctl.md: no usage block");
	e[1] = '\0';
	if (strcmp(b + 1, gen))
		fail_msg("docs/lbfoctl.md's usage differs from lbfoctl --help:\n%s", gen);
	free(doc);
	free(gen);
}

/* Does the man page's tag line (".B path drain \\fIPATH\\fR ...") name cmd? */
static bool tag_names(const char *tag, const char *cmd)
{
	size_t n = strlen(cmd);

	return !strncmp(tag, cmd, n) && (!tag[n] || tag[n] == ' ' || tag[n] == '\\');
}

/* docs/man/lbfoctl.1.in is written by hand: its COMMANDS section has one
 * ".TP" / ".B NAME ..." item per command of the daemons' tables (and
 * lbfoctl's own watch), and no item for a command they do not have. It is
 * checked in the source, as written: the build changes only @VERSION@. */
static void test_man_page_commands(void **state)
{
	char *man = slurp(SRCDIR "/docs/man/lbfoctl.1.in"), *sec, *end, *p, *prev = NULL, *save;
	const char *tags[64];
	const struct lbfo_ctl_desc *tables[] = { lbfo_lu_commands, lbfo_router_commands };
	const size_t sizes[] = { LBFO_LU_CMD__MAX, LBFO_RT_CMD__MAX };
	size_t ntags = 0, t, i, k, n;
	bool found;

	(void)state;
	sec = strstr(man, "\n.SH COMMANDS\n");
	assert_non_null(sec);
	end = strstr(sec + 1, "\n.SH ");
	assert_non_null(end);
	*end = '\0';
	for (p = strtok_r(sec, "\n", &save); p; prev = p, p = strtok_r(NULL, "\n", &save)) {
		if (!prev || strcmp(prev, ".TP") || strncmp(p, ".B ", 3))
			continue;
		assert_true(ntags < sizeof(tags) / sizeof(tags[0]));
		tags[ntags++] = p + 3;
	}
	for (t = 0; t < 2; t++)
		for (i = 0; i < sizes[t]; i++) {
			for (k = 0, n = 0; k < ntags; k++)
				n += tag_names(tags[k], tables[t][i].name);
			if (n != 1)
				fail_msg("docs/man/lbfoctl.1.in: %zu items for '%s', not one", n,
					 tables[t][i].name);
		}
	for (k = 0, n = 0; k < ntags; k++)
		n += tag_names(tags[k], "watch");
	if (n != 1)
		fail_msg("docs/man/lbfoctl.1.in: %zu items for 'watch', not one", n);
	for (k = 0; k < ntags; k++) {
		found = tag_names(tags[k], "watch");
		for (t = 0; t < 2 && !found; t++)
			for (i = 0; i < sizes[t] && !found; i++)
				found = tag_names(tags[k], tables[t][i].name);
		if (!found)
			fail_msg("docs/man/lbfoctl.1.in: '.B %s' is no command of lbfoctl", tags[k]);
	}
	free(man);
}

static void test_verbs(void **state)
{
	char *w1[] = { "path", "drain", "p1" }, *w2[] = { "weight", "set", "web", "n2", "2" },
	     *w3[] = { "status" }, *w4[] = { "node", "drain", "n1" }, *w5[] = { "queueing", "off" };
	struct ctl_verb v;
	char buf[128];
	int used;

	(void)state;
	assert_true(ctl_verb_find(w1, 3, &v, &used));
	assert_string_equal(v.name, "path drain");
	assert_int_equal(used, 2);
	assert_non_null(v.lu);
	assert_null(v.rt);
	assert_int_equal(ctl_verb_short(&v), 10); /* 'path drain': the router has path too */
	assert_true(ctl_verb_arity_ok(&v, 1));
	assert_true(ctl_verb_arity_ok(&v, 2));   /* PATH [LU] */
	assert_false(ctl_verb_arity_ok(&v, 3));
	assert_true(ctl_verb_find(w2, 5, &v, &used));
	assert_true(v.rt && !v.lu);
	assert_int_equal(ctl_verb_short(&v), 6); /* 'weight' */
	assert_true(ctl_verb_arity_ok(&v, 3));
	assert_true(ctl_verb_find(w3, 1, &v, &used));
	assert_true(v.rt && v.lu && ctl_verb_json(&v));
	ctl_verb_synopsis(&v, buf, sizeof(buf));
	assert_string_equal(buf, "status [LU] [--json]");
	assert_false(ctl_verb_find(w4, 3, &v, &used));
	ctl_verb_next_words("node", buf, sizeof(buf));
	assert_string_equal(buf, "fail or restore");
	ctl_verb_next_words("path", buf, sizeof(buf));
	assert_string_equal(buf, "fail, restore or drain");
	ctl_verb_next_words("frob", buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_true(ctl_verb_find(w5, 2, &v, &used));
	assert_true(v.lu && !v.rt && !ctl_verb_json(&v));
	assert_int_equal(ctl_verb_short(&v), 8);
}

static void test_outstanding(void **state)
{
	static const char doc[] =
		"{\"lus\":[{\"id\":\"a\",\"paths\":[{\"name\":\"p0\",\"outstanding\":3},"
		"{\"name\":\"p\\\"1\",\"outstanding\":0}]},"
		"{\"id\":\"b\",\"paths\":[{\"name\":\"q0\",\"portal\":\"x\",\"outstanding\":12}]}]}\n";

	(void)state;
	assert_int_equal(ctl_path_outstanding(doc, "p0"), 3);
	assert_int_equal(ctl_path_outstanding(doc, "p\"1"), 0);
	assert_int_equal(ctl_path_outstanding(doc, "q0"), 12);
	assert_int_equal(ctl_path_outstanding(doc, "p9"), -1);
	/* A name that only occurs inside a string is no path. */
	assert_int_equal(ctl_path_outstanding("{\"lus\":[{\"paths\":[{\"name\":\"x\",\"note\":"
					      "\"{\\\"name\\\":\\\"p0\\\",\\\"outstanding\\\":7}\","
					      "\"outstanding\":1}]}]}", "p0"), -1);
	assert_int_equal(ctl_path_outstanding("{\"lus\":[", "p0"), -1);
	assert_int_equal(ctl_path_outstanding("[]", "p0"), -1);
	assert_int_equal(ctl_path_outstanding("{\"lus\":[{\"paths\":[{\"name\":\"p0\","
					      "\"outstanding\":\"3\"}]}]}", "p0"), -1);
}

static void test_kind_of_help(void **state)
{
	/* src/mpio/control.c's help, and the router's before the tables. */
	static const char old_lu[] =
		"status [json]                 paths, states, shares, MB/s, latency\n"
		"policy set NAME [KEY=VALUE...] switch the policy (shares recomputed)\n";
	static const char old_router[] =
		"status [json]            router, services, nodes\n"
		"services [json]          policy table and counters\n"
		"nodes [json]             nodes: state, priority, weight, connections, bytes\n";
	char *gen = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(ctl_kind_of_help(old_lu), CTL_KIND_LU);
	assert_int_equal(ctl_kind_of_help(old_router), CTL_KIND_ROUTER);
	assert_int_equal(ctl_kind_of_help("frob\n"), CTL_KIND_UNKNOWN);
	f = open_memstream(&gen, &len);
	lbfo_ctl_help(lbfo_router_commands, LBFO_RT_CMD__MAX, f);
	fclose(f);
	assert_int_equal(ctl_kind_of_help(gen), CTL_KIND_ROUTER);
	free(gen);
	f = open_memstream(&gen, &len);
	lbfo_ctl_help(lbfo_lu_commands, LBFO_LU_CMD__MAX, f);
	fclose(f);
	assert_int_equal(ctl_kind_of_help(gen), CTL_KIND_LU);
	free(gen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_is_documented),
		cmocka_unit_test(test_man_page_commands),
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_outstanding),
		cmocka_unit_test(test_kind_of_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
