/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The LU's log: every event goes into its ring (lbfoctl events, the
 * common event ring of src/common/events.c) and, through the ring's sink,
 * to the configured log function (nbdkit's stderr or syslog). The lowest
 * module of src/mpio: it calls no other.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "lu_internal.h"

uint64_t lbfo_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LBFO_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

const char *lbfo_fence_name(enum lbfo_fence_method m)
{
	static const char *const names[LBFO_FENCE__MAX] = {
		[LBFO_FENCE_AUTO] = "auto", [LBFO_FENCE_REINSTATE] = "reinstate",
		[LBFO_FENCE_RESERVATION] = "reservation", [LBFO_FENCE_NONE] = "none",
	};
	return (unsigned)m < LBFO_FENCE__MAX ? names[m] : "?";
}

const char *const lu_path_state_names[LP__MAX] = {
	[LP_DOWN] = "down", [LP_IDENT] = "identifying", [LP_UP] = "up",
	[LP_REFUSED] = "refused",
};

static void sink(void *arg, const struct lbfo_event *e)
{
	struct lbfo_lu *lu = arg;

	if (lu->cfg.log)
		lu->cfg.log(e->level, e->text, lu->cfg.log_opaque);
	else
		fprintf(stderr, "lbfo: %s\n", e->text);
}

int lu_log_init(struct lbfo_lu *lu)
{
	if (lbfo_events_init(&lu->events, LBFO_EVENTS_MAX) < 0)
		return -1;
	lbfo_events_set_sink(&lu->events, sink, lu);
	return 0;
}

void lu_log(struct lbfo_lu *lu, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lbfo_events_vadd(&lu->events, level, fmt, ap);
	va_end(ap);
}
