/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The event ring of a daemon (lbfoctl events): the last N state changes,
 * each with its wall-clock time, its syslog level and one line of text.
 * One text form and one JSON form, the same for the LU and the router:
 *
 *   2026-11-23T20:52:10.417Z warning path p0 (198.18.1.2:3260) failed: ...
 *   {"events":[{"time":"2026-11-23T20:52:10.417Z","level":"warning","text":"..."}]}
 *
 * Oldest first; the time is UTC, ISO 8601 with milliseconds. Levels are
 * syslog's (LOG_ERR .. LOG_DEBUG from <syslog.h>). A sink, when set, gets
 * every event as it is added (to log it to stderr or syslog), so that the
 * ring and the log never say different things.
 *
 * Not locked: the owner serialises (the router has one thread; the LU
 * holds its mutex).
 */
#ifndef LBFO_EVENTS_H
#define LBFO_EVENTS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LBFO_EVENT_TEXT_MAX 240

struct lbfo_event {
	uint64_t wall_ns;                /* CLOCK_REALTIME */
	int level;                       /* LOG_ERR .. LOG_DEBUG */
	char text[LBFO_EVENT_TEXT_MAX];  /* one line (newlines become spaces) */
};

typedef void (*lbfo_event_sink)(void *arg, const struct lbfo_event *e);

struct lbfo_events {
	struct lbfo_event *ring;
	unsigned cap, head, n;
	uint64_t total;                  /* added since init (the ring keeps cap) */
	lbfo_event_sink sink;
	void *sink_arg;
};

/* A ring of cap events (cap >= 1). Returns 0, or -1 when out of memory. */
int lbfo_events_init(struct lbfo_events *ev, unsigned cap);
void lbfo_events_destroy(struct lbfo_events *ev);
void lbfo_events_set_sink(struct lbfo_events *ev, lbfo_event_sink sink, void *arg);

/* Add an event stamped now (CLOCK_REALTIME); the oldest goes when full. */
void lbfo_events_add(struct lbfo_events *ev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void lbfo_events_vadd(struct lbfo_events *ev, int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* With a given stamp (tests, replay). */
void lbfo_events_add_at(struct lbfo_events *ev, uint64_t wall_ns, int level,
			const char *text);

/* The k-th event, oldest first (k < ev->n), or NULL. */
const struct lbfo_event *lbfo_events_get(const struct lbfo_events *ev, unsigned k);

/* "2026-11-23T20:52:10.417Z" (buf of at least 25 bytes). */
void lbfo_event_time(uint64_t wall_ns, char *buf, size_t len);
/* "err", "warning", "notice", "info", "debug" (and emerg, alert, crit). */
const char *lbfo_log_level_name(int level);
/* The level named so, or -1. */
int lbfo_log_level_parse(const char *name);

/* One line per event: TIME LEVEL(padded to 7) TEXT. */
void lbfo_events_text(const struct lbfo_events *ev, FILE *f);
/* {"events":[{"time":..,"level":..,"text":..},...]} and a newline. */
void lbfo_events_json(const struct lbfo_events *ev, FILE *f);

#endif
