/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control requests of both daemons, described once: name (one or more
 * words), argument synopsis, one help line. No handlers here: each daemon
 * binds its handlers to its table (src/common/ctlserver.h, indexed by the
 * enums below), the control server generates its `help` from it, and
 * lbfoctl generates its usage and tells which daemon knows a request from
 * the same tables.
 *
 * Argument synopses: WORD in capitals is a value, [..] is optional, a
 * word with ".." repeats, a|b is one of the words; the control server
 * checks the number of arguments from it, the handler their values.
 */
#ifndef LBFO_CTLCMDS_H
#define LBFO_CTLCMDS_H

#include <stddef.h>

/* Default control sockets (the LU's equals LBFO_DEFAULT_CONTROL of
 * include/lbfo/lu.h; tests/common/test_ctlserver.c checks it). */
#define LBFO_CTL_LU_SOCKET "/run/lbfo/lbfo.sock"
#define LBFO_CTL_ROUTER_SOCKET "/run/lbfo/router.sock"

struct lbfo_ctl_desc {
	const char *name; /* "path fail" */
	const char *args; /* "NAME", "" for none */
	const char *help; /* one line */
};

/* The storage LU's requests (nbdkit plugin, control=PATH). */
enum lbfo_lu_cmd {
	LBFO_LU_STATUS,
	LBFO_LU_POLICY_SET,
	LBFO_LU_SHARES_SET,
	LBFO_LU_PATH_FAIL,
	LBFO_LU_PATH_RESTORE,
	LBFO_LU_PATH_DRAIN,
	LBFO_LU_QUEUEING,
	LBFO_LU_RESIZE,
	LBFO_LU_EVENTS,
	LBFO_LU_METRICS,
	LBFO_LU_RESCAN,
	LBFO_LU_RELOAD,
	LBFO_LU_CMD__MAX
};
extern const struct lbfo_ctl_desc lbfo_lu_commands[LBFO_LU_CMD__MAX];

/* The cluster router's requests (lbfo-router, [router] control). */
enum lbfo_router_cmd {
	LBFO_RT_STATUS,
	LBFO_RT_SERVICES,
	LBFO_RT_NODES,
	LBFO_RT_SESSIONS,
	LBFO_RT_EVENTS,
	LBFO_RT_METRICS,
	LBFO_RT_NODE_FAIL,
	LBFO_RT_NODE_RESTORE,
	LBFO_RT_PATH_FAIL,
	LBFO_RT_PATH_RESTORE,
	LBFO_RT_WEIGHT_SET,
	LBFO_RT_WORKER_STOP,
	LBFO_RT_CMD__MAX
};
extern const struct lbfo_ctl_desc lbfo_router_commands[LBFO_RT_CMD__MAX];

/* The entry of `table` (n entries) named `name`, or NULL. */
const struct lbfo_ctl_desc *lbfo_ctl_find(const struct lbfo_ctl_desc *table, size_t n,
					  const char *name);

#endif
