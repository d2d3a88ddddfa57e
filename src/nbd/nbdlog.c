/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-nbd's log: one sink for the server's modules (the program's:
 * stderr or syslog; a test's: its capture).
 */
#include <stdarg.h>
#include <stdio.h>

#include "nbdsrv.h"

static void (*sink)(int level, const char *msg, void *opaque);

void nbd_log_to(void (*fn)(int level, const char *msg, void *opaque))
{
	sink = fn;
}

void nbd_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (sink)
		sink(level, msg, NULL);
	else
		fprintf(stderr, "lbfo-nbd: %s\n", msg);
}
