/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration table: every rule of src/common/cfgtable.h with its
 * error text, on a small table of every type: sections once (named ones
 * once per name), names, booleans, whole numbers, durations, enums,
 * lists, prefix keys and aliases, required keys and cross-checks, and the
 * reference generated from the table.
 */
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

#include "cfgtable.h"

struct path_cfg {
	char name[16];
	char portal[32];
	uint32_t weight;
	uint16_t port_a, port_b;
};

struct conf {
	char target[16];
	uint16_t lun;
	bool link_watch;
	uint32_t timeout_ms;
	uint64_t flap_ms;
	int mode;
	uint64_t big;
	char tag[4][8];
	int ntag;
	struct path_cfg path[4];
	int npath;
	char extra[64];
};

static const char *const modes[] = { "immediate", "manual", "stable", NULL };

static int tag_item(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		    size_t len)
{
	struct conf *c = obj;

	if (strlen(v) >= sizeof(c->tag[0])) {
		snprintf(why, len, "invalid tag '%s'", v);
		return -1;
	}
	if (ctx->index == 0)
		c->ntag = 0;
	snprintf(c->tag[c->ntag++], sizeof(c->tag[0]), "%s", v);
	return 0;
}

static int port_key(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		    size_t len)
{
	struct path_cfg *p = obj;
	uint64_t x;

	if (lbfo_cfg_parse_uint(v, 1, 65535, &x, why, len) < 0)
		return -1;
	if (!strcmp(ctx->suffix, "a"))
		p->port_a = (uint16_t)x;
	else if (!strcmp(ctx->suffix, "b"))
		p->port_b = (uint16_t)x;
	else {
		snprintf(why, len, "no service '%s'", ctx->suffix);
		return -1;
	}
	return 0;
}

static void *open_path(const struct lbfo_cfg_ctx *ctx, char *why, size_t len)
{
	struct conf *c = ctx->user;
	struct path_cfg *p;

	if (c->npath == 4) {
		snprintf(why, len, "too many paths (at most 4)");
		return NULL;
	}
	p = &c->path[c->npath++];
	snprintf(p->name, sizeof(p->name), "%s", ctx->name);
	return p;
}

static int other_key(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		     size_t len)
{
	struct conf *c = obj;

	(void)why, (void)len;
	snprintf(c->extra, sizeof(c->extra), "%s=%s", ctx->key, v);
	return 0;
}

#define C(f) offsetof(struct conf, f), sizeof(((struct conf *)0)->f)
#define P(f) offsetof(struct path_cfg, f), sizeof(((struct path_cfg *)0)->f)

static const struct lbfo_cfg_key main_keys[] = {
	{ .key = "target", .type = LBFO_CFG_STRING, C(target), .flags = LBFO_CFG_REQUIRED,
	  .missing = "the target's name", .doc = "target name" },
	{ .key = "lun", .type = LBFO_CFG_UINT, C(lun), .min = 0, .max = 16383, .def = "0",
	  .doc = "logical unit" },
	{ .key = "link_watch", .type = LBFO_CFG_BOOL, C(link_watch), .def = "on",
	  .doc = "watch links" },
	{ .key = "timeout", .alias = "timeout_ms", .type = LBFO_CFG_DURATION, C(timeout_ms),
	  .min = 10, .max = 600000, .def = "1s", .doc = "a timeout | with a bar" },
	{ .key = "flap", .type = LBFO_CFG_DURATION, C(flap_ms), .min = 0,
	  .max = UINT64_MAX / 1000, .def = "30s", .doc = "flap window" },
	{ .key = "mode", .type = LBFO_CFG_ENUM, C(mode), .names = modes, .def = "immediate",
	  .doc = "failback" },
	{ .key = "big", .type = LBFO_CFG_UINT, C(big), .min = 0, .max = UINT64_MAX,
	  .def_doc = "none", .doc = "a big number" },
	{ .key = "tags", .type = LBFO_CFG_LIST, .max = 4, .parse = tag_item,
	  .syntax = "TAG, ..", .doc = "tags" },
};

static const struct lbfo_cfg_key path_keys[] = {
	{ .key = "portal", .type = LBFO_CFG_STRING, P(portal), .flags = LBFO_CFG_REQUIRED,
	  .missing = "HOST[:PORT]", .doc = "where" },
	{ .key = "weight", .type = LBFO_CFG_UINT, P(weight), .min = 1, .max = 1000, .def = "1",
	  .doc = "weight" },
	{ .key = "port.SERVICE", .type = LBFO_CFG_CUSTOM, .parse = port_key,
	  .flags = LBFO_CFG_PREFIX, .syntax = "PORT", .doc = "a port per service" },
};

static const struct lbfo_cfg_section sections[] = {
	{ .name = "main", .doc = "The LU.", .keys = main_keys,
	  .nkeys = sizeof(main_keys) / sizeof(main_keys[0]) },
	{ .name = "path", .doc = "One path.", .named = true, .name_max = 16, .open = open_path,
	  .keys = path_keys, .nkeys = sizeof(path_keys) / sizeof(path_keys[0]) },
	{ .name = "policy", .doc = "Parameters.", .other = other_key },
};

/* A cross-check: two paths with one portal (at the second's line). */
static void check(struct lbfo_cfg_checker *chk, void *user)
{
	struct conf *c = user;
	int i, j;

	for (i = 0; i < c->npath; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(c->path[i].portal, c->path[j].portal)) {
				char hdr[32];

				snprintf(hdr, sizeof(hdr), "path %s", c->path[i].name);
				lbfo_cfg_found(chk, lbfo_cfg_key_line(chk, &c->path[i], "portal"),
					       hdr, "portal", "%s is also [path %s]'s (line %d)",
					       c->path[i].portal, c->path[j].name,
					       lbfo_cfg_section_line(chk, &c->path[j]));
			}
}

static const struct lbfo_cfg_table table = {
	.sections = sections, .nsections = 3, .check = check,
};

static char path[64];

static int load(const char *text, struct conf *c, char *err, size_t len)
{
	FILE *f;
	int fd, rc;

	snprintf(path, sizeof(path), "/tmp/lbfo-cfgtable-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	memset(c, 0, sizeof(*c));
	lbfo_cfg_defaults(&sections[0], c, c);
	rc = lbfo_cfg_load(&table, c, path, err, len);
	unlink(path);
	return rc;
}

/* The whole message, with the file's name where it belongs. */
static void expect(const char *text, const char *want)
{
	struct conf c;
	char err[1024] = "", full[1200];

	assert_int_equal(load(text, &c, err, sizeof(err)), -1);
	snprintf(full, sizeof(full), "%s%s", path, want);
	if (strcmp(err, full))
		fail_msg("got  '%s'\nwant '%s'", err, full);
}

static void test_good(void **state)
{
	struct conf c;
	char err[512] = "";

	(void)state;
	assert_int_equal(load("; comment\n[main]\ntarget = iqn.x\nlun = 007\nlink_watch = no\n"
			      "timeout_ms = 250ms\nmode = stable\nbig = 18446744073709551615\n"
			      "tags = a, b c\n[path p0]\nportal = 1.2.3.4\nport.a = 80\n"
			      "port.b = 81\n[path p1]\nportal = 1.2.3.5\nweight = 3\n"
			      "[policy]\nrepeat = 4\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.target, "iqn.x");
	assert_int_equal(c.lun, 7);
	assert_false(c.link_watch);
	assert_int_equal(c.timeout_ms, 250);
	assert_int_equal(c.flap_ms, 30000); /* default */
	assert_int_equal(c.mode, 2);
	assert_true(c.big == UINT64_MAX);
	assert_int_equal(c.ntag, 3);
	assert_string_equal(c.tag[2], "c");
	assert_int_equal(c.npath, 2);
	assert_string_equal(c.path[0].name, "p0");
	assert_int_equal(c.path[0].weight, 1); /* default, applied at the header */
	assert_int_equal(c.path[0].port_a, 80);
	assert_int_equal(c.path[0].port_b, 81);
	assert_int_equal(c.path[1].weight, 3);
	assert_string_equal(c.extra, "repeat=4");
	assert_int_equal(lbfo_cfg_table_check(&table, err, sizeof(err)), 0);
}

static void test_sections(void **state)
{
	(void)state;
	expect("[main]\ntarget = x\n[main]\nlun = 1\n",
	       ":3: [main]: duplicate section (the first [main] is at line 1; one [main] per file)");
	expect("[main]\ntarget = x\n[main]\n",
	       ":3: [main]: duplicate section (the first [main] is at line 1; one [main] per file)");
	expect("[main]\ntarget = x\n[path a]\nportal = p\n\n[path a]\nportal = q\n",
	       ":6: [path a]: duplicate section (the first [path a] is at line 3; one section "
	       "per path)");
	expect("[main]\ntarget = x\n[path ]\nportal = p\n",
	       ":3: [path ]: empty name (expected [path NAME])");
	expect("[main]\ntarget = x\n[path]\n", ":3: [path]: missing name (expected [path NAME])");
	expect("[main]\ntarget = x\n[path a/b]\n",
	       ":3: [path a/b]: invalid name 'a/b' (letters, digits, '-', '_' and '.'; at most 15 "
	       "characters)");
	expect("[path abcdefghijklmnop]\n",
	       ":1: [path abcdefghijklmnop]: invalid name 'abcdefghijklmnop' (letters, digits, "
	       "'-', '_' and '.'; at most 15 characters)");
	expect("[main x]\ntarget = x\n", ":1: [main x]: [main] takes no name");
	expect("[main]\ntarget = x\n[frob]\nx = 1\n",
	       ":4: [frob]: x: unknown section (expected [main], [path NAME] or [policy])");
	expect("[main]\ntarget = x\n[frob]\n[path a]\nportal = p\n",
	       ":3: [frob]: unknown section (expected [main], [path NAME] or [policy])");
	expect("[main]\ntarget = x\n[frob]\n",
	       ":3: [frob]: unknown section (expected [main], [path NAME] or [policy])");
	expect("lun = 1\n[main]\n", ":1: lun: outside any section (a [SECTION] header comes first)");
	expect("[path a]\nportal = p\n[path b]\nportal = q\n[path c]\nportal = r\n[path d]\n"
	       "portal = s\n[path e]\n", ":9: [path e]: too many paths (at most 4)");
}

static void test_keys(void **state)
{
	(void)state;
	expect("[main]\ntarget = x\nbogus = 1\n",
	       ":3: [main]: bogus: unknown key (expected target, lun, link_watch, timeout, flap, "
	       "mode, big, tags)");
	expect("[main]\ntarget = x\nlun = 1\n\nlun = 2\n", ":5: [main]: lun: given twice (first at "
	       "line 3)");
	expect("[main]\ntarget = x\ntimeout = 1s\ntimeout_ms = 2s\n",
	       ":4: [main]: timeout_ms: given twice (first at line 3)");
	expect("[main]\ntarget = x\ntags = a,\n  b\n",
	       ":4: [main]: tags: an indented line continues the value above it: write a value "
	       "on one line");
	expect("[main]\ntarget = x\n[path a]\nportal = p\nport.a = 1\nport.a = 2\n",
	       ":6: [path a]: port.a: given twice (first at line 5)");
	expect("[main]\ntarget = x\n[path a]\nportal = p\nport.c = 1\n",
	       ":5: [path a]: port.c: no service 'c'");
	expect("[main]\ntarget = abcdefghijklmnop\n",
	       ":2: [main]: target: invalid value: too long (at most 15 characters)");
	expect("[main]\ntarget = x\nmode = later\n",
	       ":3: [main]: mode: invalid value 'later': expected immediate, manual or stable");
	expect("[main]\ntarget = x\ntags = a b c d e\n",
	       ":3: [main]: tags: too many entries (at most 4)");
	expect("[main]\ntarget = x\ntags = ,\n", ":3: [main]: tags: empty list");
	expect("[main]\ntarget = x\ntags = a, toolongtag\n",
	       ":3: [main]: tags: invalid tag 'toolongtag'");
}

static void test_booleans(void **state)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };
	struct conf c;
	char text[128], err[512];
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "[main]\ntarget = x\nlink_watch = %s\n", no[i]);
		assert_int_equal(load(text, &c, err, sizeof(err)), 0);
		assert_false(c.link_watch);
		snprintf(text, sizeof(text), "[main]\ntarget = x\nlink_watch = %s\n", yes[i]);
		assert_int_equal(load(text, &c, err, sizeof(err)), 0);
		assert_true(c.link_watch);
	}
	expect("[main]\ntarget = x\nlink_watch = enabled\n",
	       ":3: [main]: link_watch: invalid value 'enabled': expected on or off (or yes/no, "
	       "true/false, 1/0)");
	expect("[main]\ntarget = x\nlink_watch = ON\n",
	       ":3: [main]: link_watch: invalid value 'ON': expected on or off (or yes/no, "
	       "true/false, 1/0)");
}

static void test_numbers(void **state)
{
	static const char *const bad[] = { "+1", "-1", "1 2", "0x10", "nan", "1.5", "12abc",
					   "1e3", "\xd9\xa3" };
	char text[128], want[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[main]\ntarget = x\nlun = %s\n", bad[i]);
		snprintf(want, sizeof(want), ":3: [main]: lun: invalid value '%s': not a whole "
			 "number", bad[i]);
		expect(text, want);
	}
	expect("[main]\ntarget = x\nlun =\n", ":3: [main]: lun: invalid value '': not a whole number");
	expect("[main]\ntarget = x\nlun = 16384\n",
	       ":3: [main]: lun: invalid value '16384': out of range 0..16383");
	expect("[main]\ntarget = x\nbig = 18446744073709551616\n",
	       ":3: [main]: big: invalid value '18446744073709551616': out of range "
	       "0..18446744073709551615");
	expect("[path a]\nportal = p\nweight = 0\n",
	       ":3: [path a]: weight: invalid value '0': out of range 1..1000");
}

static void test_durations(void **state)
{
	static const char *const bad[] = { "2 s", "1.5s", "2m", "-1", "s", "ms", "5sec", "5S",
					   "0x10" };
	struct conf c;
	char text[128], want[256], err[512];
	size_t i;

	(void)state;
	assert_int_equal(load("[main]\ntarget = x\ntimeout = 1500\nflap = 0\n", &c, err,
			      sizeof(err)), 0);
	assert_int_equal(c.timeout_ms, 1500);
	assert_int_equal(c.flap_ms, 0);
	assert_int_equal(load("[main]\ntarget = x\ntimeout = 1500ms\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.timeout_ms, 1500);
	assert_int_equal(load("[main]\ntarget = x\ntimeout = 600s\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.timeout_ms, 600000);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[main]\ntarget = x\ntimeout = %s\n", bad[i]);
		snprintf(want, sizeof(want), ":3: [main]: timeout: invalid value '%s': expected a "
			 "duration: whole milliseconds, or a whole number and ms or s (250ms, 5s)",
			 bad[i]);
		expect(text, want);
	}
	expect("[main]\ntarget = x\ntimeout = 601s\n",
	       ":3: [main]: timeout: invalid value '601s': out of range 10 ms..600 s");
	expect("[main]\ntarget = x\ntimeout = 9\n",
	       ":3: [main]: timeout: invalid value '9': out of range 10 ms..600 s");
	expect("[main]\ntarget = x\nflap = 99999999999999999999s\n",
	       ":3: [main]: flap: invalid value '99999999999999999999s': out of range "
	       "0 ms..18446744073709551 ms");
}

/* Missing keys at their section's line; of several findings (these and
 * the cross-checks) the one at the first line. */
static void test_checks(void **state)
{
	(void)state;
	expect("[main]\nlun = 1\n", ":1: [main]: target: missing (the target's name)");
	expect("\n[path a]\nweight = 2\n[main]\ntarget = x\n",
	       ":2: [path a]: portal: missing (HOST[:PORT])");
	expect("[main]\ntarget = x\n[path a]\nportal = p\n[path b]\nportal = p\n[path c]\n",
	       ":6: [path b]: portal: p is also [path a]'s (line 3)");
	expect("[main]\ntarget = x\n[path c]\n[path a]\nportal = p\n[path b]\nportal = p\n",
	       ":3: [path c]: portal: missing (HOST[:PORT])");
}

/* inih's syntax errors, at their line, ordered with the table's. */
static void test_syntax(void **state)
{
	char text[1024];

	(void)state;
	expect("[main]\ntarget = x\nthis is not ini\n",
	       ":3: syntax error (expected [SECTION], KEY = VALUE or a ; comment)");
	expect("[main]\nnot ini\nlun = x\n",
	       ":2: syntax error (expected [SECTION], KEY = VALUE or a ; comment)");
	expect("[main]\nlun = x\nnot ini\n", ":2: [main]: lun: invalid value 'x': not a whole number");
	expect("[main]\n[main\n", ":2: syntax error (expected [SECTION], KEY = VALUE or a ; comment)");
	snprintf(text, sizeof(text), "[main]\n; %0300d\nlun = x\n", 0);
	expect(text, ":2: line too long (at most 198 characters)");
}

static void test_command_line(void **state)
{
	struct conf c;
	char err[512];

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(lbfo_cfg_set(&table, &c, "main", "timeout_ms", "2s", err, sizeof(err)), 0);
	assert_int_equal(c.timeout_ms, 2000);
	assert_int_equal(lbfo_cfg_set(&table, &c, "main", "lun", "x", err, sizeof(err)), -1);
	assert_string_equal(err, "lun: invalid value 'x': not a whole number");
	assert_int_equal(lbfo_cfg_set(&table, &c, "main", "nope", "1", err, sizeof(err)), -1);
	assert_string_equal(err, "nope: unknown key (expected target, lun, link_watch, timeout, "
			    "flap, mode, big, tags)");
	assert_int_equal(lbfo_cfg_set(&table, &c, "policy", "repeat", "4", err, sizeof(err)), 0);
	assert_string_equal(c.extra, "repeat=4");
	assert_int_equal(lbfo_cfg_set(&table, &c, "path", "weight", "4", err, sizeof(err)), -1);
}

static void test_missing_file(void **state)
{
	struct conf c;
	char err[512];

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(lbfo_cfg_load(&table, &c, "/nonexistent/x.ini", err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/x.ini: No such file or directory");
}

static void test_markdown(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	lbfo_cfg_markdown(&table, f);
	fclose(f);
	assert_string_equal(buf,
		"### `[main]`\n\nThe LU.\n\n| key | value | default | meaning |\n|---|---|---|---|\n"
		"| `target` | text | required | target name |\n"
		"| `lun` | 0..16383 | 0 | logical unit |\n"
		"| `link_watch` | on, off | on | watch links |\n"
		"| `timeout` (or `timeout_ms`) | 10 ms..600 s | 1s | a timeout \\| with a bar |\n"
		"| `flap` | 0 ms..18446744073709551 ms | 30s | flap window |\n"
		"| `mode` | `immediate`, `manual`, `stable` | immediate | failback |\n"
		"| `big` | 0..18446744073709551615 | none | a big number |\n"
		"| `tags` | TAG, .. | — | tags |\n"
		"\n### `[path NAME]`\n\nOne path.\n\n| key | value | default | meaning |\n"
		"|---|---|---|---|\n"
		"| `portal` | text | required | where |\n"
		"| `weight` | 1..1000 | 1 | weight |\n"
		"| `port.SERVICE` | PORT | — | a port per service |\n"
		"\n### `[policy]`\n\nParameters.\n\n| key | value | default | meaning |\n"
		"|---|---|---|---|\n");
	free(buf);
}

static void test_help(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	lbfo_cfg_help(&table, f);
	fclose(f);
	assert_string_equal(buf,
		"[main]  The LU.\n"
		"  target=text  target name (required)\n"
		"  lun=0..16383  logical unit (default 0)\n"
		"  link_watch=on, off  watch links (default on)\n"
		"  timeout=10 ms..600 s  a timeout | with a bar (default 1s)\n"
		"  flap=0 ms..18446744073709551 ms  flap window (default 30s)\n"
		"  mode=immediate|manual|stable  failback (default immediate)\n"
		"  big=0..18446744073709551615  a big number (default none)\n"
		"  tags=TAG, ..  tags\n"
		"\n[path NAME]  One path.\n"
		"  portal=text  where (required)\n"
		"  weight=1..1000  weight (default 1)\n"
		"  port.SERVICE=PORT  a port per service\n"
		"\n[policy]  Parameters.\n");
	free(buf);
}

static void test_table_mistakes(void **state)
{
	static const struct lbfo_cfg_key bad_def[] = {
		{ .key = "n", .type = LBFO_CFG_UINT, .size = 4, .max = 9, .def = "10", .doc = "x" },
	};
	static const struct lbfo_cfg_key bad_size[] = {
		{ .key = "n", .type = LBFO_CFG_UINT, .size = 3, .max = 9, .doc = "x" },
	};
	static const struct lbfo_cfg_key bad_req[] = {
		{ .key = "n", .type = LBFO_CFG_STRING, .size = 4, .flags = LBFO_CFG_REQUIRED,
		  .doc = "x" },
	};
	struct lbfo_cfg_section s = { .name = "s", .doc = "d", .keys = bad_def, .nkeys = 1 };
	struct lbfo_cfg_table t = { .sections = &s, .nsections = 1 };
	char err[256];

	(void)state;
	assert_int_equal(lbfo_cfg_table_check(&t, err, sizeof(err)), -1);
	assert_string_equal(err, "[s] n: invalid value '10': out of range 0..9");
	s.keys = bad_size;
	assert_int_equal(lbfo_cfg_table_check(&t, err, sizeof(err)), -1);
	assert_string_equal(err, "[s] n: size does not fit the type");
	s.keys = bad_req;
	assert_int_equal(lbfo_cfg_table_check(&t, err, sizeof(err)), -1);
	assert_string_equal(err, "[s] n: required without its missing text");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_table_mistakes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
