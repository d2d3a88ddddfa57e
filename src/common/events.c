/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "events.h"
#include "json.h"

#define NS_PER_SEC 1000000000ull

int lbfo_events_init(struct lbfo_events *ev, unsigned cap)
{
	memset(ev, 0, sizeof(*ev));
	if (cap == 0)
		return -1;
	ev->ring = calloc(cap, sizeof(*ev->ring));
	if (!ev->ring)
		return -1;
	ev->cap = cap;
	return 0;
}

void lbfo_events_destroy(struct lbfo_events *ev)
{
	free(ev->ring);
	memset(ev, 0, sizeof(*ev));
}

void lbfo_events_set_sink(struct lbfo_events *ev, lbfo_event_sink sink, void *arg)
{
	ev->sink = sink;
	ev->sink_arg = arg;
}

/* The slot for a new event: the oldest goes when the ring is full. */
static struct lbfo_event *next_slot(struct lbfo_events *ev)
{
	struct lbfo_event *e = &ev->ring[(ev->head + ev->n) % ev->cap];

	if (ev->n == ev->cap)
		ev->head = (ev->head + 1) % ev->cap;
	else
		ev->n++;
	ev->total++;
	return e;
}

/* One line: a newline in a message (an error string from elsewhere)
 * would make two events of one in the text form. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static void added(struct lbfo_events *ev, struct lbfo_event *e)
{
	one_line(e->text);
	if (ev->sink)
		ev->sink(ev->sink_arg, e);
}

void lbfo_events_add_at(struct lbfo_events *ev, uint64_t wall_ns, int level,
			const char *text)
{
	struct lbfo_event *e;

	if (!ev->ring)
		return;
	e = next_slot(ev);
	e->wall_ns = wall_ns;
	e->level = level;
	snprintf(e->text, sizeof(e->text), "%s", text);
	added(ev, e);
}

void lbfo_events_vadd(struct lbfo_events *ev, int level, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct lbfo_event *e;

	if (!ev->ring)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	e = next_slot(ev);
	e->wall_ns = (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
	e->level = level;
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	added(ev, e);
}

void lbfo_events_add(struct lbfo_events *ev, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lbfo_events_vadd(ev, level, fmt, ap);
	va_end(ap);
}

const struct lbfo_event *lbfo_events_get(const struct lbfo_events *ev, unsigned k)
{
	if (k >= ev->n)
		return NULL;
	return &ev->ring[(ev->head + k) % ev->cap];
}

void lbfo_event_time(uint64_t wall_ns, char *buf, size_t len)
{
	time_t secs = (time_t)(wall_ns / NS_PER_SEC);
	struct tm tm;
	char when[24];

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", when, (unsigned)(wall_ns % NS_PER_SEC / 1000000));
}

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

const char *lbfo_log_level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "debug";
	return level_names[level];
}

int lbfo_log_level_parse(const char *name)
{
	int i;

	for (i = 0; i <= LOG_DEBUG; i++)
		if (!strcmp(level_names[i], name))
			return i;
	return -1;
}

void lbfo_events_text(const struct lbfo_events *ev, FILE *f)
{
	unsigned k;

	for (k = 0; k < ev->n; k++) {
		const struct lbfo_event *e = lbfo_events_get(ev, k);
		char when[32];

		lbfo_event_time(e->wall_ns, when, sizeof(when));
		fprintf(f, "%s %-7s %s\n", when, lbfo_log_level_name(e->level), e->text);
	}
}

void lbfo_events_json(const struct lbfo_events *ev, FILE *f)
{
	struct lbfo_json j;
	unsigned k;

	lbfo_json_init(&j, f);
	lbfo_json_obj(&j);
	lbfo_json_key(&j, "events");
	lbfo_json_arr(&j);
	for (k = 0; k < ev->n; k++) {
		const struct lbfo_event *e = lbfo_events_get(ev, k);
		char when[32];

		lbfo_event_time(e->wall_ns, when, sizeof(when));
		lbfo_json_obj(&j);
		lbfo_json_kv_str(&j, "time", when);
		lbfo_json_kv_str(&j, "level", lbfo_log_level_name(e->level));
		lbfo_json_kv_str(&j, "text", e->text);
		lbfo_json_end(&j);
	}
	lbfo_json_end(&j);
	lbfo_json_end(&j);
	lbfo_json_finish(&j);
}
