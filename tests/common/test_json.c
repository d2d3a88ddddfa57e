/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON writer: commas, escaping, numbers, misuse; every document it
 * writes is read back with json-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "json.h"

struct doc {
	char *buf;
	size_t len;
	FILE *f;
	struct lbfo_json j;
};

static void doc_open(struct doc *d)
{
	d->buf = NULL;
	d->f = open_memstream(&d->buf, &d->len);
	assert_non_null(d->f);
	lbfo_json_init(&d->j, d->f);
}

/* Finish, close; returns lbfo_json_finish()'s answer. */
static int doc_close(struct doc *d)
{
	int rc = lbfo_json_finish(&d->j);

	fclose(d->f);
	return rc;
}

static void test_nesting_and_commas(void **state)
{
	struct doc d;
	json_object *o, *v;

	(void)state;
	doc_open(&d);
	lbfo_json_obj(&d.j);
	lbfo_json_kv_str(&d.j, "name", "web");
	lbfo_json_kv_uint(&d.j, "big", UINT64_MAX);
	lbfo_json_kv_int(&d.j, "neg", -5);
	lbfo_json_kv_bool(&d.j, "on", true);
	lbfo_json_kv_null(&d.j, "never");
	lbfo_json_key(&d.j, "list");
	lbfo_json_arr(&d.j);
	lbfo_json_uint(&d.j, 1);
	lbfo_json_obj(&d.j);
	lbfo_json_end(&d.j);
	lbfo_json_arr(&d.j);
	lbfo_json_end(&d.j);
	lbfo_json_str(&d.j, "x");
	lbfo_json_end(&d.j);
	lbfo_json_kv_fixed(&d.j, "rate", 12.345, 1);
	lbfo_json_kv_double(&d.j, "ratio", 0.25);
	lbfo_json_end(&d.j);
	assert_int_equal(doc_close(&d), 0);
	assert_string_equal(d.buf, "{\"name\":\"web\",\"big\":18446744073709551615,\"neg\":-5,"
			    "\"on\":true,\"never\":null,\"list\":[1,{},[],\"x\"],"
			    "\"rate\":12.3,\"ratio\":0.25}\n");
	o = json_tokener_parse(d.buf);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "list", &v));
	assert_int_equal(json_object_array_length(v), 4);
	json_object_put(o);
	free(d.buf);
}

/* Whatever a string holds, the document parses and says the same. */
static void test_escaping(void **state)
{
	static const char *const in[] = {
		"quote \" backslash \\ slash /",
		"newline\nreturn\rtab\tbell\a esc\x1b del\x7f",
		"UTF-8: gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct doc d;
		json_object *o;

		doc_open(&d);
		lbfo_json_str(&d.j, in[i]);
		assert_int_equal(doc_close(&d), 0);
		o = json_tokener_parse(d.buf);
		assert_non_null(o);
		assert_string_equal(json_object_get_string(o), in[i]);
		json_object_put(o);
		free(d.buf);
	}
}

/* Bytes that are no UTF-8 (a lone continuation byte, a truncated
 * sequence, an overlong '/', a surrogate) become U+FFFD. */
static void test_invalid_utf8(void **state)
{
	struct doc d;
	json_object *o;

	(void)state;
	doc_open(&d);
	lbfo_json_str(&d.j, "a\x80z \xc3 \xc0\xaf \xed\xa0\x80.");
	assert_int_equal(doc_close(&d), 0);
	assert_string_equal(d.buf, "\"a\\ufffdz \\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd.\"\n");
	o = json_tokener_parse(d.buf);
	assert_non_null(o);
	json_object_put(o);
	free(d.buf);
}

static void test_numbers(void **state)
{
	struct doc d;

	(void)state;
	doc_open(&d);
	lbfo_json_arr(&d.j);
	lbfo_json_double(&d.j, 1e6);
	lbfo_json_double(&d.j, 0.0 / 0.0);
	lbfo_json_double(&d.j, 1.0 / 0.0);
	lbfo_json_fixed(&d.j, -1.0 / 0.0, 2);
	lbfo_json_fixed(&d.j, 2.0 / 3.0, 4);
	lbfo_json_int(&d.j, INT64_MIN);
	lbfo_json_end(&d.j);
	assert_int_equal(doc_close(&d), 0);
	assert_string_equal(d.buf, "[1000000,null,null,null,0.6667,-9223372036854775808]\n");
	free(d.buf);
}

/* Misuse writes nothing more and is reported. */
static void test_misuse(void **state)
{
	struct doc d;

	(void)state;
	doc_open(&d);
	lbfo_json_obj(&d.j);
	lbfo_json_uint(&d.j, 1); /* a value without its key */
	assert_int_equal(doc_close(&d), -1);
	free(d.buf);

	doc_open(&d);
	lbfo_json_arr(&d.j);
	lbfo_json_key(&d.j, "k"); /* a key in an array */
	assert_int_equal(doc_close(&d), -1);
	free(d.buf);

	doc_open(&d);
	lbfo_json_obj(&d.j); /* left open */
	assert_int_equal(doc_close(&d), -1);
	free(d.buf);

	doc_open(&d);
	lbfo_json_end(&d.j); /* nothing open */
	assert_int_equal(doc_close(&d), -1);
	free(d.buf);

	doc_open(&d);
	lbfo_json_null(&d.j);
	lbfo_json_null(&d.j); /* two top-level values */
	assert_int_equal(doc_close(&d), -1);
	assert_string_equal(d.buf, "null\n");
	free(d.buf);
}

static void test_too_deep(void **state)
{
	struct doc d;
	int i;

	(void)state;
	doc_open(&d);
	for (i = 0; i <= LBFO_JSON_DEPTH; i++)
		lbfo_json_arr(&d.j);
	for (i = 0; i <= LBFO_JSON_DEPTH; i++)
		lbfo_json_end(&d.j);
	assert_int_equal(doc_close(&d), -1);
	free(d.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_too_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
