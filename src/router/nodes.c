/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Node states (discovery's, an operator's): the router's view (r->node,
 * the main thread's copy of every service's team), then every worker's
 * teams by message (worker.c). A node that fails leaves every team it is
 * a member of, one that comes back returns; priority 0 drains it.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "lbfo/policy.h"
#include "conn.h"

static void set_node_state(struct rt_node *n, enum rt_node_state st, const char *why,
			   uint64_t now)
{
	n->state = st;
	n->since_ns = now;
	snprintf(n->reason, sizeof(n->reason), "%s", why);
}

/* The change to every worker's teams (they apply it on their loops). */
static void tell_workers(struct router *r, int ni, bool up, bool joined)
{
	struct rt_msg m = { .kind = RT_MSG_NODE, .node = ni, .up = up, .joined = joined,
			    .prio = r->node[ni].priority };

	rt_worker_post(r, -1, &m);
}

void rt_node_up(struct router *r, int ni, const char *why, uint64_t now)
{
	struct rt_node *n = &r->node[ni];
	int i;

	set_node_state(n, RT_NODE_UP, why, now);
	n->joins++;
	for (i = 0; i < r->nsvc; i++)
		rt_svc_node_up(&r->svc[i], ni, n->priority, now);
	tell_workers(r, ni, true, true);
	rt_event(r, LOG_NOTICE, "node %s %s: %s", n->cfg->name,
		 n->joins > 1 ? "rejoined" : "joined", why);
}

void rt_node_down(struct router *r, int ni, enum rt_node_state st, const char *why,
		  uint64_t now)
{
	struct rt_node *n = &r->node[ni];
	int i;

	if (n->state == RT_NODE_UP)
		n->fails++;
	set_node_state(n, st, why, now);
	for (i = 0; i < r->nsvc; i++)
		rt_svc_node_down(&r->svc[i], ni, now);
	tell_workers(r, ni, false, false);
	rt_event(r, st == RT_NODE_UNKNOWN ? LOG_INFO : LOG_WARNING, "node %s %s: %s", n->cfg->name,
		 st == RT_NODE_ADMIN_DOWN ? "taken down" :
		 st == RT_NODE_UNKNOWN ? "waiting" : "failed", why);
}

/* Priority 0 asks for no new sessions (drain); > 0 is eligible. */
void rt_node_priority(struct router *r, int ni, uint16_t prio, uint64_t now)
{
	struct rt_node *n = &r->node[ni];
	int i;

	if (n->priority != prio)
		rt_event(r, LOG_NOTICE, "node %s priority %u -> %u%s", n->cfg->name, n->priority, prio,
			 prio == 0 ? " (draining: no new sessions)" : "");
	n->priority = prio;
	if (n->state != RT_NODE_UP)
		return;
	for (i = 0; i < r->nsvc; i++)
		rt_svc_node_priority(&r->svc[i], ni, prio, now);
	tell_workers(r, ni, true, false);
}

void rt_node_restore(struct router *r, int ni, FILE *out, uint64_t now)
{
	struct rt_node *n = &r->node[ni];

	if (n->state == RT_NODE_UP) {
		fprintf(out, "node %s already up\n", n->cfg->name);
	} else if (r->cfg->discovery) {
		/* Back to the discovery's judgement: up at its next announcement. */
		n->state = RT_NODE_FAILED;
		snprintf(n->reason, sizeof(n->reason),
			 "restored by operator; waiting for an announcement");
		rt_event(r, LOG_NOTICE, "node %s restored by operator; up at its next announcement",
			 n->cfg->name);
		fprintf(out, "node %s: up at its next announcement\n", n->cfg->name);
	} else {
		rt_node_up(r, ni, "restored by operator (discovery off)", now);
		fprintf(out, "node %s up\n", n->cfg->name);
	}
}

int rt_node_index(const struct router *r, const char *name)
{
	int i;

	for (i = 0; i < r->nnode; i++)
		if (!strcmp(r->node[i].cfg->name, name))
			return i;
	return -1;
}

void rt_nodes_init(struct router *r, uint64_t now)
{
	int i;

	r->nnode = r->cfg->nnode;
	for (i = 0; i < r->nnode; i++) {
		r->node[i].cfg = &r->cfg->node[i];
		r->node[i].priority = 1;
	}
	/* With discovery, a node carries nothing until it has announced. */
	for (i = 0; i < r->nnode; i++) {
		if (r->cfg->discovery) {
			rt_node_down(r, i, RT_NODE_UNKNOWN, "no announcement yet", now);
		} else {
			r->node[i].state = RT_NODE_UP;
			snprintf(r->node[i].reason, sizeof(r->node[i].reason),
				 "static (discovery off)");
		}
	}
}
