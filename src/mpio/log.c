/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The log of an LU or a target: one line to the configured log function
 * (whoever owns the LU keeps the events: the host's ring, nbdkit's stderr
 * or syslog). The lowest module of src/mpio: it calls no other.
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

static void emit(const struct lbfo_lu_config *c, int level, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (c->log)
		c->log(level, msg, c->log_opaque);
	else
		fprintf(stderr, "lbfo: %s\n", msg);
}

void lu_log(struct lbfo_lu *lu, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(&lu->cfg, level, fmt, ap);
	va_end(ap);
}

void tgt_log(struct lbfo_tgt *t, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(&t->cfg, level, fmt, ap);
	va_end(ap);
}
