/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every part of the router uses: the clock, the event ring (any
 * thread), the names of node and worker states. Calls nothing of the
 * router's. */
#include <stdarg.h>
#include <time.h>

#include "router.h"

uint64_t rt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LBFO_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

void rt_event(struct router *r, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&r->events_lock);
	lbfo_events_vadd(&r->events, level, fmt, ap);
	pthread_mutex_unlock(&r->events_lock);
	va_end(ap);
}

const char *rt_node_state_name(enum rt_node_state s)
{
	static const char *const names[RT_NODE__MAX] = {
		[RT_NODE_UNKNOWN] = "unknown",
		[RT_NODE_UP] = "up",
		[RT_NODE_FAILED] = "failed",
		[RT_NODE_ADMIN_DOWN] = "admin-down",
	};

	return (unsigned)s < RT_NODE__MAX ? names[s] : "?";
}

const char *rt_worker_state_name(enum rt_worker_state s)
{
	static const char *const names[RT_W__MAX] = {
		[RT_W_RUNNING] = "running",
		[RT_W_DRAINING] = "draining",
		[RT_W_STOPPED] = "stopped",
	};

	return (unsigned)s < RT_W__MAX ? names[s] : "?";
}
