/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router's metrics, Prometheus text exposition (src/common/prom.h):
 * every family declared once below with its type and help.
 */
#include "lbfo/policy.h"
#include "prom.h"
#include "router.h"

#define FAM(var, name, type, help) \
	static const struct lbfo_prom_family var = { name, LBFO_PROM_##type, help }

FAM(F_UPTIME, "lbfo_router_uptime_seconds", GAUGE, "Seconds since the router started.");
FAM(F_CONNS, "lbfo_router_connections", GAUGE, "Open proxied connections.");
FAM(F_SESSIONS, "lbfo_router_sessions", GAUGE, "Entries in the session table.");
FAM(F_EVICT, "lbfo_router_session_evictions_total", COUNTER,
    "Sessions evicted because the table was full.");
FAM(F_EXPIRE, "lbfo_router_session_expired_total", COUNTER,
    "Sessions expired after the idle timeout.");
FAM(F_GROWN, "lbfo_router_pipes_grown_total", COUNTER,
    "Bulk connections' pipes grown to pipe_size.");
FAM(F_GROW_REFUSED, "lbfo_router_pipe_grow_refused_total", COUNTER,
    "Pipe growths the kernel refused (pipe-pages limit).");
FAM(F_ACCEPTED, "lbfo_router_service_accepted_total", COUNTER,
    "Client connections accepted on a service port.");
FAM(F_REFUSED, "lbfo_router_service_refused_total", COUNTER,
    "Client connections refused, by reason.");
FAM(F_SVC_ACTIVE, "lbfo_router_service_active", GAUGE, "Open connections per service.");
FAM(F_STICKY, "lbfo_router_service_sticky_total", COUNTER,
    "Connections sent to their session's node.");
FAM(F_RETRIES, "lbfo_router_service_connect_retries_total", COUNTER,
    "Connections retried on another node.");
FAM(F_W_RUNNING, "lbfo_router_worker_running", GAUGE,
    "1 while the worker accepts, 0 once draining or stopped.");
FAM(F_W_CONNS, "lbfo_router_worker_connections", GAUGE, "Open connections per worker.");
FAM(F_W_ACCEPTED, "lbfo_router_worker_accepted_total", COUNTER,
    "Client connections a worker accepted, per service.");
FAM(F_W_SESSIONS, "lbfo_router_worker_new_sessions_total", COUNTER,
    "New sessions a worker allocated, per service.");
FAM(F_W_BYTES_IN, "lbfo_router_worker_bytes_in_total", COUNTER,
    "Bytes client to node a worker carried.");
FAM(F_W_BYTES_OUT, "lbfo_router_worker_bytes_out_total", COUNTER,
    "Bytes node to client a worker carried.");
FAM(F_NODE_UP, "lbfo_router_node_up", GAUGE, "1 when the node is announcing (or static).");
FAM(F_NODE_PRIO, "lbfo_router_node_priority", GAUGE, "Last announced priority.");
FAM(F_NODE_FAILS, "lbfo_router_node_fails_total", COUNTER, "Times the node was failed.");
FAM(F_DISC_RX, "lbfo_router_discovery_received_total", COUNTER,
    "Discovery datagrams received.");
FAM(F_DISC_OK, "lbfo_router_discovery_accepted_total", COUNTER,
    "Valid announcements from known nodes.");
FAM(F_DISC_DROP, "lbfo_router_discovery_dropped_total", COUNTER,
    "Discovery datagrams dropped, by reason.");
FAM(F_SYNC_PEER_UP, "lbfo_router_sync_peer_up", GAUGE,
    "1 when this router's connection to the sync peer is up (its table sent).");
FAM(F_SYNC_TX, "lbfo_router_sync_sent_entries_total", COUNTER,
    "Session entries sent to the sync peer.");
FAM(F_SYNC_UNSENT, "lbfo_router_sync_unsent_bytes", GAUGE,
    "Bytes queued for the sync peer and not yet written.");
FAM(F_SYNC_RX, "lbfo_router_sync_received_entries_total", COUNTER,
    "Session entries received from peers.");
FAM(F_SYNC_INBOUND, "lbfo_router_sync_inbound_peers", GAUGE,
    "Peers connected to this router and sending (after HELLO).");
FAM(F_SYNC_REJECT, "lbfo_router_sync_rejected_total", COUNTER,
    "Sync connections and messages refused, by reason.");
FAM(F_SYNC_LAG, "lbfo_router_sync_lag_seconds", GAUGE,
    "Receipt minus sending time of the last sync message (the peers' clocks).");
FAM(F_SYNC_LAST, "lbfo_router_sync_last_message_age_seconds", GAUGE,
    "Seconds since the last sync message arrived.");
FAM(F_CTL_REQ, "lbfo_router_control_requests_total", COUNTER,
    "Control requests handled (lbfoctl).");
FAM(F_CTL_ERR, "lbfo_router_control_errors_total", COUNTER,
    "Control requests answered with an error.");
FAM(F_CTL_BUSY, "lbfo_router_control_busy_total", COUNTER,
    "Control clients refused: too many at once.");
FAM(F_CTL_TIMEOUT, "lbfo_router_control_timed_out_total", COUNTER,
    "Control clients closed with no complete request in time.");
FAM(F_CTL_CUT, "lbfo_router_control_cut_off_total", COUNTER,
    "Control clients cut off: they stopped taking their reply.");

/* Per (service, node): what each family counts. */
enum member_what { M_SESSIONS, M_CONNS, M_ACTIVE, M_BYTES_IN, M_BYTES_OUT, M_CONNFAIL,
		   M_WEIGHT, M_USABLE };

static const struct member_family {
	struct lbfo_prom_family fam;
	enum member_what what;
} member_families[] = {
	{ { "lbfo_router_node_sessions_total", LBFO_PROM_COUNTER,
	    "New sessions allocated to the node." }, M_SESSIONS },
	{ { "lbfo_router_node_connections_total", LBFO_PROM_COUNTER,
	    "Connections carried by the node." }, M_CONNS },
	{ { "lbfo_router_node_active", LBFO_PROM_GAUGE, "Open connections on the node." },
	  M_ACTIVE },
	{ { "lbfo_router_node_bytes_in_total", LBFO_PROM_COUNTER, "Bytes client to node." },
	  M_BYTES_IN },
	{ { "lbfo_router_node_bytes_out_total", LBFO_PROM_COUNTER, "Bytes node to client." },
	  M_BYTES_OUT },
	{ { "lbfo_router_node_connect_failures_total", LBFO_PROM_COUNTER,
	    "Failed connects to the node." }, M_CONNFAIL },
	{ { "lbfo_router_node_weight", LBFO_PROM_GAUGE, "Configured weight (allocate N times)." },
	  M_WEIGHT },
	{ { "lbfo_router_node_usable", LBFO_PROM_GAUGE, "1 when the node may get new sessions." },
	  M_USABLE },
};

static uint64_t member_value(const struct rt_service *s, int m, enum member_what w)
{
	const struct rt_member_stats *ms = &s->st.ms[m];

	switch (w) {
	case M_SESSIONS: return ms->sessions;
	case M_CONNS: return ms->conns;
	case M_ACTIVE: return ms->active;
	case M_BYTES_IN: return ms->bytes_in;
	case M_BYTES_OUT: return ms->bytes_out;
	case M_CONNFAIL: return ms->connect_fail;
	case M_WEIGHT: return s->team.m[m].weight;
	case M_USABLE: return lbfo_member_usable(&s->team, m) ? 1 : 0;
	}
	return 0;
}

static void one(struct lbfo_prom *p, const struct lbfo_prom_family *f, uint64_t v)
{
	lbfo_prom_family(p, f);
	lbfo_prom_u64(p, v, NULL);
}

static void router_metrics(struct router *r, struct lbfo_prom *p, uint64_t now)
{
	const struct lbfo_ctl_stats *cs = r->ctl ? lbfo_ctl_server_stats(r->ctl) : NULL;
	struct rt_sessions_totals tot;

	one(p, &F_UPTIME, (now - r->start_ns) / LBFO_NS_PER_SEC);
	rt_sessions_totals(&r->sessions, &tot);
	one(p, &F_CONNS, r->nconns_total);
	one(p, &F_SESSIONS, tot.n);
	one(p, &F_EVICT, tot.evicted);
	one(p, &F_EXPIRE, tot.expired);
	one(p, &F_GROWN, r->pipes_grown);
	one(p, &F_GROW_REFUSED, r->pipe_grow_refused);
	if (!cs)
		return;
	one(p, &F_CTL_REQ, cs->requests);
	one(p, &F_CTL_ERR, cs->errors);
	one(p, &F_CTL_BUSY, cs->busy);
	one(p, &F_CTL_TIMEOUT, cs->timed_out);
	one(p, &F_CTL_CUT, cs->cut_off);
}

static void service_metrics(struct router *r, struct lbfo_prom *p)
{
	int i;

	lbfo_prom_family(p, &F_ACCEPTED);
	for (i = 0; i < r->nsvc; i++)
		lbfo_prom_u64(p, r->svc[i].st.accepted, "service", r->svc[i].cfg->name, NULL);
	lbfo_prom_family(p, &F_REFUSED);
	for (i = 0; i < r->nsvc; i++) {
		const struct rt_service *s = &r->svc[i];
		const char *n = s->cfg->name;

		lbfo_prom_u64(p, s->st.refused_acl, "service", n, "reason", "acl", NULL);
		lbfo_prom_u64(p, s->st.refused_limit, "service", n, "reason", "limit", NULL);
		lbfo_prom_u64(p, s->st.refused_client_limit, "service", n, "reason", "client_limit",
			      NULL);
		lbfo_prom_u64(p, s->st.refused_no_node, "service", n, "reason", "no_node", NULL);
		lbfo_prom_u64(p, s->st.failed_connect, "service", n, "reason", "connect", NULL);
	}
	lbfo_prom_family(p, &F_SVC_ACTIVE);
	for (i = 0; i < r->nsvc; i++)
		lbfo_prom_u64(p, r->svc[i].st.active, "service", r->svc[i].cfg->name, NULL);
	lbfo_prom_family(p, &F_STICKY);
	for (i = 0; i < r->nsvc; i++)
		lbfo_prom_u64(p, r->svc[i].st.sticky_hits, "service", r->svc[i].cfg->name, NULL);
	lbfo_prom_family(p, &F_RETRIES);
	for (i = 0; i < r->nsvc; i++)
		lbfo_prom_u64(p, r->svc[i].st.retries, "service", r->svc[i].cfg->name, NULL);
}

static void member_metrics(struct router *r, struct lbfo_prom *p)
{
	size_t k;
	int i, m;

	for (k = 0; k < sizeof(member_families) / sizeof(member_families[0]); k++) {
		lbfo_prom_family(p, &member_families[k].fam);
		for (i = 0; i < r->nsvc; i++)
			for (m = 0; m < r->svc[i].team.n; m++)
				lbfo_prom_u64(p, member_value(&r->svc[i], m, member_families[k].what),
					      "service", r->svc[i].cfg->name,
					      "node", r->svc[i].team.m[m].name, NULL);
	}
}

static void node_metrics(struct router *r, struct lbfo_prom *p)
{
	int i, e;

	lbfo_prom_family(p, &F_NODE_UP);
	for (i = 0; i < r->nnode; i++)
		lbfo_prom_u64(p, r->node[i].state == RT_NODE_UP, "node", r->node[i].cfg->name, NULL);
	lbfo_prom_family(p, &F_NODE_PRIO);
	for (i = 0; i < r->nnode; i++)
		lbfo_prom_u64(p, r->node[i].priority, "node", r->node[i].cfg->name, NULL);
	lbfo_prom_family(p, &F_NODE_FAILS);
	for (i = 0; i < r->nnode; i++)
		lbfo_prom_u64(p, r->node[i].fails, "node", r->node[i].cfg->name, NULL);
	one(p, &F_DISC_RX, r->disc.rx);
	one(p, &F_DISC_OK, r->disc.ok);
	lbfo_prom_family(p, &F_DISC_DROP);
	for (e = 1; e < LBFO_DISC_E__MAX; e++)
		lbfo_prom_u64(p, r->disc.drop[e], "reason", lbfo_disc_err_name(e), NULL);
	lbfo_prom_u64(p, r->disc.unknown, "reason", "unknown_node", NULL);
	lbfo_prom_u64(p, r->disc.unexpected, "reason", "unexpected", NULL);
}

static void sync_metrics(struct router *r, struct lbfo_prom *p, uint64_t now)
{
	const struct rt_sync *y = &r->sync;
	size_t i;
	int e;

	if (!rt_sync_on(y))
		return;
	lbfo_prom_family(p, &F_SYNC_PEER_UP);
	for (i = 0; i < (size_t)r->cfg->sync.npeer; i++)
		lbfo_prom_u64(p, y->peer[i].st == RT_SYNC_UP, "peer", r->cfg->sync.peer_text[i], NULL);
	lbfo_prom_family(p, &F_SYNC_TX);
	for (i = 0; i < (size_t)r->cfg->sync.npeer; i++)
		lbfo_prom_u64(p, y->peer[i].entries, "peer", r->cfg->sync.peer_text[i], NULL);
	lbfo_prom_family(p, &F_SYNC_UNSENT);
	for (i = 0; i < (size_t)r->cfg->sync.npeer; i++)
		lbfo_prom_u64(p, y->peer[i].out_len - y->peer[i].out_off, "peer",
			      r->cfg->sync.peer_text[i], NULL);
	one(p, &F_SYNC_RX, y->rx_entries);
	one(p, &F_SYNC_INBOUND, rt_sync_inbound(y));
	lbfo_prom_family(p, &F_SYNC_REJECT);
	lbfo_prom_u64(p, y->refused_foreign, "reason", "foreign", NULL);
	lbfo_prom_u64(p, y->refused_full, "reason", "full", NULL);
	lbfo_prom_u64(p, y->rejected_auth, "reason", "auth", NULL);
	lbfo_prom_u64(p, y->rejected_order, "reason", "order", NULL);
	for (e = LBFO_SYNC_E_MAGIC; e < LBFO_SYNC_E__MAX; e++)
		lbfo_prom_u64(p, y->rejected[e], "reason", lbfo_sync_err_name(e), NULL);
	lbfo_prom_family(p, &F_SYNC_LAG);
	lbfo_prom_double(p, (double)y->lag_ms / 1000.0, NULL);
	if (y->last_rx_ns) {
		lbfo_prom_family(p, &F_SYNC_LAST);
		lbfo_prom_double(p, (double)(now - y->last_rx_ns) / 1e9, NULL);
	}
}

/* Each worker's families, from its last snapshot. */
static uint64_t worker_bytes(const struct router *r, const struct rt_worker *w, bool in)
{
	uint64_t b = 0;
	int k, m;

	for (k = 0; k < r->nsvc; k++)
		for (m = 0; m < r->svc[k].team.n; m++)
			b += in ? w->snap.svc[k].ms[m].bytes_in : w->snap.svc[k].ms[m].bytes_out;
	return b;
}

static void worker_metrics(struct router *r, struct lbfo_prom *p)
{
	char id[RT_MAX_WORKERS][12];
	int i, k;

	for (i = 0; i < r->nworker; i++) {
		snprintf(id[i], sizeof(id[i]), "%d", i);
		pthread_mutex_lock(&r->w[i]->lock); /* held over the families below */
	}
	lbfo_prom_family(p, &F_W_RUNNING);
	for (i = 0; i < r->nworker; i++)
		lbfo_prom_u64(p, rt_worker_state(r->w[i]) == RT_W_RUNNING, "worker", id[i], NULL);
	lbfo_prom_family(p, &F_W_CONNS);
	for (i = 0; i < r->nworker; i++)
		lbfo_prom_u64(p, r->w[i]->snap.nconns, "worker", id[i], NULL);
	lbfo_prom_family(p, &F_W_ACCEPTED);
	for (i = 0; i < r->nworker; i++)
		for (k = 0; k < r->nsvc; k++)
			lbfo_prom_u64(p, r->w[i]->snap.svc[k].accepted, "worker", id[i], "service",
				      r->svc[k].cfg->name, NULL);
	lbfo_prom_family(p, &F_W_SESSIONS);
	for (i = 0; i < r->nworker; i++)
		for (k = 0; k < r->nsvc; k++)
			lbfo_prom_u64(p, r->w[i]->snap.svc[k].new_sessions, "worker", id[i],
				      "service", r->svc[k].cfg->name, NULL);
	lbfo_prom_family(p, &F_W_BYTES_IN);
	for (i = 0; i < r->nworker; i++)
		lbfo_prom_u64(p, worker_bytes(r, r->w[i], true), "worker", id[i], NULL);
	lbfo_prom_family(p, &F_W_BYTES_OUT);
	for (i = 0; i < r->nworker; i++)
		lbfo_prom_u64(p, worker_bytes(r, r->w[i], false), "worker", id[i], NULL);
	for (i = r->nworker; i-- > 0;)
		pthread_mutex_unlock(&r->w[i]->lock);
}

void rt_metrics_text(struct router *r, FILE *f, uint64_t now)
{
	struct lbfo_prom p;

	lbfo_prom_init(&p, f);
	router_metrics(r, &p, now);
	service_metrics(r, &p);
	member_metrics(r, &p);
	worker_metrics(r, &p);
	node_metrics(r, &p);
	sync_metrics(r, &p, now);
	lbfo_prom_finish(&p);
}
