/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The event ring: wrap-around, the text and JSON forms, the sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "events.h"

/* 2026-11-23T20:52:10.417Z */
#define T0 (1795467130ull * 1000000000ull + 417000000ull)

static char *render(const struct lbfo_events *ev, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		lbfo_events_json(ev, f);
	else
		lbfo_events_text(ev, f);
	fclose(f);
	return buf;
}

static void test_forms(void **state)
{
	struct lbfo_events ev;
	char *s;
	json_object *o, *arr, *e0, *v;

	(void)state;
	assert_int_equal(lbfo_events_init(&ev, 4), 0);
	lbfo_events_add_at(&ev, T0, LOG_WARNING, "path p0 failed: \"no\" response\nsecond line");
	lbfo_events_add_at(&ev, T0 + 1000000, LOG_NOTICE, "policy set");
	s = render(&ev, false);
	assert_string_equal(s, "2026-11-23T20:52:10.417Z warning path p0 failed: \"no\" response second line\n"
			    "2026-11-23T20:52:10.418Z notice  policy set\n");
	free(s);
	s = render(&ev, true);
	assert_string_equal(s, "{\"events\":[{\"time\":\"2026-11-23T20:52:10.417Z\",\"level\":\"warning\","
			    "\"text\":\"path p0 failed: \\\"no\\\" response second line\"},"
			    "{\"time\":\"2026-11-23T20:52:10.418Z\",\"level\":\"notice\",\"text\":\"policy set\"}]}\n");
	o = json_tokener_parse(s);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "events", &arr));
	e0 = json_object_array_get_idx(arr, 0);
	assert_true(json_object_object_get_ex(e0, "level", &v));
	assert_string_equal(json_object_get_string(v), "warning");
	json_object_put(o);
	free(s);
	lbfo_events_destroy(&ev);
}

static void test_wrap(void **state)
{
	struct lbfo_events ev;
	char text[16];
	int i;

	(void)state;
	assert_int_equal(lbfo_events_init(&ev, 3), 0);
	for (i = 0; i < 7; i++) {
		snprintf(text, sizeof(text), "e%d", i);
		lbfo_events_add_at(&ev, T0 + (uint64_t)i, LOG_INFO, text);
	}
	assert_int_equal(ev.n, 3);
	assert_int_equal(ev.total, 7);
	assert_string_equal(lbfo_events_get(&ev, 0)->text, "e4");
	assert_string_equal(lbfo_events_get(&ev, 2)->text, "e6");
	assert_null(lbfo_events_get(&ev, 3));
	lbfo_events_destroy(&ev);
	assert_int_equal(lbfo_events_init(&ev, 0), -1);
}

struct seen {
	int n;
	int level;
	char text[LBFO_EVENT_TEXT_MAX];
};

static void sink(void *arg, const struct lbfo_event *e)
{
	struct seen *s = arg;

	s->n++;
	s->level = e->level;
	snprintf(s->text, sizeof(s->text), "%s", e->text);
}

static void test_sink_and_clock(void **state)
{
	struct lbfo_events ev;
	struct seen seen = { 0 };
	struct timespec ts;
	char big[400];

	(void)state;
	assert_int_equal(lbfo_events_init(&ev, 2), 0);
	lbfo_events_set_sink(&ev, sink, &seen);
	clock_gettime(CLOCK_REALTIME, &ts);
	lbfo_events_add(&ev, LOG_ERR, "node %s failed: %d", "n1", 3);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.level, LOG_ERR);
	assert_string_equal(seen.text, "node n1 failed: 3");
	/* Stamped now, by the real-time clock. */
	assert_true(lbfo_events_get(&ev, 0)->wall_ns / 1000000000ull >= (uint64_t)ts.tv_sec);
	assert_true(lbfo_events_get(&ev, 0)->wall_ns / 1000000000ull <= (uint64_t)ts.tv_sec + 5);
	/* Long text is cut to the ring's size, never overflows it. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	lbfo_events_add(&ev, LOG_INFO, "%s", big);
	assert_int_equal(strlen(lbfo_events_get(&ev, 1)->text), LBFO_EVENT_TEXT_MAX - 1);
	lbfo_events_destroy(&ev);
}

static void test_levels(void **state)
{
	(void)state;
	assert_string_equal(lbfo_log_level_name(LOG_ERR), "err");
	assert_string_equal(lbfo_log_level_name(LOG_WARNING), "warning");
	assert_string_equal(lbfo_log_level_name(LOG_NOTICE), "notice");
	assert_string_equal(lbfo_log_level_name(LOG_INFO), "info");
	assert_string_equal(lbfo_log_level_name(99), "debug");
	assert_int_equal(lbfo_log_level_parse("notice"), LOG_NOTICE);
	assert_int_equal(lbfo_log_level_parse("loud"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_sink_and_clock),
		cmocka_unit_test(test_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
