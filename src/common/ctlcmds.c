/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "ctlcmds.h"

const struct lbfo_ctl_desc lbfo_lu_commands[LBFO_LU_CMD__MAX] = {
	[LBFO_LU_STATUS] = { "status", "[LU] [json]",
		"every LU (or one): paths, state, role, shares, MB/s, in flight, latency p50/p99, "
		"errors" },
	[LBFO_LU_POLICY_SET] = { "policy set", "[LU] NAME [KEY=VALUE ..]",
		"switch an LU's policy at run time (shares recomputed)" },
	[LBFO_LU_SHARES_SET] = { "shares set", "[LU] PATH=R[/W] ..",
		"configured read[/write] shares of an LU's paths, in percent" },
	[LBFO_LU_PATH_FAIL] = { "path fail", "PATH [LU]",
		"take a path out (for every LU, or one); it stays out (no reconnect) until restore" },
	[LBFO_LU_PATH_RESTORE] = { "path restore", "PATH [LU]",
		"put a path back (also: reinstate it after manual failback)" },
	[LBFO_LU_PATH_DRAIN] = { "path drain", "PATH [LU]",
		"no new commands on PATH; those in flight finish" },
	[LBFO_LU_QUEUEING] = { "queueing", "on|off [LU]",
		"off: fail every queued I/O now and new I/O at once while no path is up; "
		"on: queue again up to no_path_timeout" },
	[LBFO_LU_RESIZE] = { "resize", "[LU]",
		"export the size the target now reports (after the LU grew or shrank on it); "
		"clients see it from their next connection" },
	[LBFO_LU_EVENTS] = { "events", "[json]", "the last events, oldest first" },
	[LBFO_LU_METRICS] = { "metrics", "", "Prometheus text exposition" },
	[LBFO_LU_RESCAN] = { "rescan", "",
		"discover the SAN again: new LUs get their export, LUs gone from it are "
		"removed once their clients close them" },
	[LBFO_LU_RELOAD] = { "reload", "",
		"read the configuration again and apply it with I/O running (as SIGHUP); a file "
		"with a mistake is refused and the running one kept" },
};

const struct lbfo_ctl_desc lbfo_router_commands[LBFO_RT_CMD__MAX] = {
	[LBFO_RT_STATUS] = { "status", "[json]", "router, discovery, services, nodes" },
	[LBFO_RT_SERVICES] = { "services", "[json]",
		"per service: listen, policy, ACL, counters; per node: state, weight, "
		"connections, bytes" },
	[LBFO_RT_NODES] = { "nodes", "[json]",
		"per node: state, priority, last heard, weights, connections, sessions, bytes, "
		"reason" },
	[LBFO_RT_SESSIONS] = { "sessions", "[json]",
		"the session table, most recent first" },
	[LBFO_RT_EVENTS] = { "events", "[json]", "the last events, oldest first" },
	[LBFO_RT_METRICS] = { "metrics", "", "Prometheus text exposition" },
	[LBFO_RT_NODE_FAIL] = { "node fail", "NODE",
		"take a node out of every service; it stays out (whatever it announces) until "
		"restore" },
	[LBFO_RT_NODE_RESTORE] = { "node restore", "NODE",
		"put a node back (discovery off: at once; on: at its next announcement)" },
	[LBFO_RT_PATH_FAIL] = { "path fail", "NODE", "the same as node fail" },
	[LBFO_RT_PATH_RESTORE] = { "path restore", "NODE", "the same as node restore" },
	[LBFO_RT_WEIGHT_SET] = { "weight set", "SERVICE NODE N",
		"allocate N times (1..1000) to NODE in SERVICE from now on; sessions keep "
		"their node" },
	[LBFO_RT_WORKER_STOP] = { "worker stop", "N",
		"stop worker thread N without losing a connection: new ones go to the other "
		"workers, it accepts what is queued on its sockets, closes them, and ends when "
		"its connections have" },
};

const struct lbfo_ctl_desc *lbfo_ctl_find(const struct lbfo_ctl_desc *table, size_t n,
					  const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (table[i].name && !strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}
