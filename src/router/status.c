/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the router says about itself (lbfoctl status, services, nodes,
 * sessions, workers), as text tables and as JSON (src/common/json.h). The
 * figures of one moment: built in one go on the main loop from the
 * workers' snapshots (rt_workers_collect()) and the main thread's teams.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "json.h"
#include "lbfo/policy.h"
#include "router.h"

static void allow_text(const struct rt_service_cfg *s, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	if (s->allow_any) {
		snprintf(buf, len, "any");
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < s->nallow && off + 64 < len; i++) {
		char a[INET6_ADDRSTRLEN];
		unsigned p = s->allow[i].prefix;
		bool v4 = s->allow[i].net.b[10] == 0xff && p >= 96;

		rt_addr_text(&s->allow[i].net, a, sizeof(a));
		off += (size_t)snprintf(buf + off, len - off, "%s%s/%u", i ? "," : "", a,
					v4 ? p - 96 : p);
	}
}

static uint64_t ms_since(uint64_t now, uint64_t then)
{
	return then && now >= then ? (now - then) / LBFO_NS_PER_MS : 0;
}

void rt_services_text(struct router *r, FILE *f)
{
	int i, m;

	for (i = 0; i < r->nsvc; i++) {
		struct rt_service *s = &r->svc[i];
		char allow[512];

		allow_text(s->cfg, allow, sizeof(allow));
		fprintf(f, "service %s  listen %s  policy %s  allow %s  sticky %s  group %s\n",
			s->cfg->name, s->cfg->listen_text, lbfo_team_policy_name(&s->team),
			allow, rt_sticky_names[s->cfg->sticky], s->cfg->group);
		fprintf(f, "  active %u  accepted %" PRIu64 "  new sessions %" PRIu64
			"  sticky %" PRIu64 "  moved %" PRIu64 "  refused: acl %" PRIu64
			" limit %" PRIu64 " per-client %" PRIu64 " no-node %" PRIu64
			"  connect retries %" PRIu64 " failed %" PRIu64 "\n",
			s->st.active, s->st.accepted, s->st.new_sessions, s->st.sticky_hits, s->st.moved,
			s->st.refused_acl, s->st.refused_limit, s->st.refused_client_limit,
			s->st.refused_no_node, s->st.retries, s->st.failed_connect);
		fprintf(f, "  %-12s %-21s %-9s %6s %6s %10s %10s %12s %12s %8s\n", "NODE",
			"ADDRESS", "STATE", "WEIGHT", "ACTIVE", "SESSIONS", "CONNS", "BYTES IN",
			"BYTES OUT", "CONNFAIL");
		for (m = 0; m < s->team.n; m++) {
			const struct rt_node_cfg *nc = &r->cfg->node[s->member_node[m]];
			const struct rt_member_stats *ms = &s->st.ms[m];
			int port = nc->port[i] ? nc->port[i] : s->cfg->node_port;
			char addr[40];

			snprintf(addr, sizeof(addr), "%s:%d", nc->addr_text, port);
			fprintf(f, "  %-12s %-21s %-9s %6u %6u %10" PRIu64 " %10" PRIu64
				" %12" PRIu64 " %12" PRIu64 " %8" PRIu64 "\n",
				nc->name, addr, lbfo_member_state_name(s->team.m[m].state),
				s->team.m[m].weight, ms->active, ms->sessions, ms->conns,
				ms->bytes_in, ms->bytes_out, ms->connect_fail);
		}
	}
}

/* One node summed over the services it serves. */
struct node_sum {
	uint64_t active, sessions, conns, bytes_in, bytes_out, connect_fail;
};

static void node_sum(const struct router *r, int ni, struct node_sum *t)
{
	int k;

	memset(t, 0, sizeof(*t));
	for (k = 0; k < r->nsvc; k++) {
		int m = r->svc[k].node_member[ni];
		const struct rt_member_stats *ms;

		if (m < 0)
			continue;
		ms = &r->svc[k].st.ms[m];
		t->active += ms->active;
		t->sessions += ms->sessions;
		t->conns += ms->conns;
		t->bytes_in += ms->bytes_in;
		t->bytes_out += ms->bytes_out;
		t->connect_fail += ms->connect_fail;
	}
}

/* "web:2,load:1": the node's weight in each service it serves. */
static void node_weights(const struct router *r, int ni, char *buf, size_t len)
{
	size_t o = 0;
	int k;

	buf[0] = '\0';
	for (k = 0; k < r->nsvc && o < len; k++) {
		int m = r->svc[k].node_member[ni];
		int w;

		if (m < 0)
			continue;
		w = snprintf(buf + o, len - o, "%s%s:%u", o ? "," : "", r->svc[k].cfg->name,
			     r->svc[k].team.m[m].weight);
		if (w < 0)
			break;
		o += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

void rt_nodes_text(struct router *r, FILE *f, uint64_t now)
{
	int i;

	fprintf(f, "%-12s %-15s %-10s %8s %10s %-16s %6s %8s %12s %12s  %s\n", "NODE", "ADDRESS",
		"STATE", "PRIORITY", "HEARD(ms)", "WEIGHTS", "ACTIVE", "SESSIONS", "BYTES IN",
		"BYTES OUT", "REASON");
	for (i = 0; i < r->nnode; i++) {
		struct rt_node *n = &r->node[i];
		struct node_sum t;
		char heard[24], weights[128];

		node_sum(r, i, &t);
		node_weights(r, i, weights, sizeof(weights));
		if (n->last_hello_ns)
			snprintf(heard, sizeof(heard), "%" PRIu64, ms_since(now, n->last_hello_ns));
		else
			snprintf(heard, sizeof(heard), "-");
		fprintf(f, "%-12s %-15s %-10s %8u %10s %-16s %6" PRIu64 " %8" PRIu64 " %12" PRIu64
			" %12" PRIu64 "  %s\n", n->cfg->name, n->cfg->addr_text,
			rt_node_state_name(n->state), n->priority, heard, weights, t.active,
			t.sessions, t.bytes_in, t.bytes_out, n->reason);
	}
}

static const char *group_name(const struct router *r, uint16_t id)
{
	int k;

	for (k = 0; k < r->nsvc; k++)
		if (r->svc[k].cfg->group_id == id)
			return r->svc[k].cfg->group;
	return "?";
}

/* The session table's entries, copied shard by shard under each lock,
 * most recent first over all shards (within a shard, the table's own
 * order), at most limit of them. */
struct sess_row {
	struct sess s;
	uint64_t handle; /* table-wide */
	size_t pos;      /* order of collection: ties keep a shard's order */
};

struct sess_rows {
	struct sess_row *v;
	size_t n, limit;
	const struct rt_sessions *ss;
};

static void collect_shard(void *ctx, unsigned shard, struct sess_table *t)
{
	struct sess_rows *rows = ctx;
	const struct sess *s;
	size_t k = 0;

	for (s = sess_next(t, NULL); s && k < rows->limit; s = sess_next(t, s), k++) {
		struct sess_row *row = &rows->v[rows->n];

		row->s = *s;
		row->handle = rt_sessions_handle(rows->ss, shard, s->handle);
		row->pos = rows->n++;
	}
}

static int row_cmp(const void *a, const void *b)
{
	const struct sess_row *x = a, *y = b;

	if (x->s.last_ns != y->s.last_ns)
		return x->s.last_ns > y->s.last_ns ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Returns the rows (free them), NULL when there is no memory. */
static struct sess_row *collect_sessions(struct router *r, size_t limit,
					 struct rt_sessions_totals *tot, size_t *n)
{
	struct sess_rows rows = { .ss = &r->sessions };
	size_t per = limit;

	rt_sessions_totals(&r->sessions, tot);
	if (per > r->sessions.shard[0].t.cap)
		per = r->sessions.shard[0].t.cap; /* shard 0 is the largest */
	rows.limit = per;
	rows.v = calloc((size_t)r->sessions.nshard * per + 1, sizeof(*rows.v));
	if (!rows.v)
		return NULL;
	rt_sessions_visit(&r->sessions, collect_shard, &rows);
	if (r->sessions.nshard > 1)
		qsort(rows.v, rows.n, sizeof(*rows.v), row_cmp);
	*n = rows.n < limit ? rows.n : limit;
	return rows.v;
}

void rt_sessions_text(struct router *r, FILE *f, uint64_t now, size_t limit)
{
	struct rt_sessions_totals tot;
	struct sess_row *rows;
	size_t n = 0, i;

	rows = collect_sessions(r, limit, &tot, &n);
	fprintf(f, "sessions %zu / %zu  inserted %" PRIu64 "  expired %" PRIu64
		"  evicted %" PRIu64 "  idle timeout %u ms\n", tot.n, tot.cap,
		tot.inserted, tot.expired, tot.evicted, r->cfg->session_idle_ms);
	fprintf(f, "%-10s %-39s %6s %-10s %-12s %6s %8s %10s\n", "HANDLE", "CLIENT", "PORT",
		"GROUP", "NODE", "OPEN", "TOTAL", "IDLE(ms)");
	for (i = 0; i < n; i++) {
		const struct sess *s = &rows[i].s;
		char a[INET6_ADDRSTRLEN];
		struct rt_addr ra;
		const char *group = group_name(r, s->key.group);

		memcpy(ra.b, s->key.addr, 16);
		rt_addr_text(&ra, a, sizeof(a));
		fprintf(f, "%-10" PRIu64 " %-39s %6u %-10s %-12s %6u %8" PRIu64 " %10" PRIu64 "\n",
			rows[i].handle, a, s->key.port, group, r->cfg->node[s->node].name, s->conns,
			s->total, ms_since(now, s->last_ns));
	}
	if (n < tot.n)
		fprintf(f, "... %zu more\n", tot.n - n);
	free(rows);
}

static void disc_text(struct router *r, FILE *f)
{
	int e;

	fprintf(f, "discovery %s  cluster %u  received %" PRIu64 "  accepted %" PRIu64
		"  sent %" PRIu64 "  unknown-node %" PRIu64 "  unexpected %" PRIu64 "  dropped:",
		r->cfg->discovery ? "on" : "off", r->cfg->cluster_id, r->disc.rx, r->disc.ok,
		r->disc.tx, r->disc.unknown, r->disc.unexpected);
	for (e = 1; e < LBFO_DISC_E__MAX; e++)
		fprintf(f, " %s %" PRIu64, lbfo_disc_err_name(e), r->disc.drop[e]);
	fputc('\n', f);
}

/* One worker summed over its services. */
struct worker_sum {
	uint64_t accepted, new_sessions, sticky_hits, refused, bytes_in, bytes_out;
	uint32_t active;
};

static void worker_sum(const struct router *r, const struct rt_worker *w, struct worker_sum *t)
{
	int k, m;

	memset(t, 0, sizeof(*t));
	for (k = 0; k < r->nsvc; k++) {
		const struct rt_svc_stats *st = &w->snap.svc[k];

		t->accepted += st->accepted;
		t->new_sessions += st->new_sessions;
		t->sticky_hits += st->sticky_hits;
		t->refused += st->refused_acl + st->refused_limit + st->refused_client_limit +
			      st->refused_no_node;
		t->active += st->active;
		for (m = 0; m < r->svc[k].team.n; m++) {
			t->bytes_in += st->ms[m].bytes_in;
			t->bytes_out += st->ms[m].bytes_out;
		}
	}
}

/* Read after rt_workers_collect(): each worker's snap is the main thread's
 * to read until the next request (its lock is taken all the same). */
static void workers_text(struct router *r, FILE *f)
{
	int i;

	fprintf(f, "workers %d  session shards %u\n", r->nworker, r->sessions.nshard);
	fprintf(f, "  %-6s %-9s %6s %10s %10s %10s %8s %12s %12s\n", "WORKER", "STATE", "ACTIVE",
		"ACCEPTED", "SESSIONS", "STICKY", "REFUSED", "BYTES IN", "BYTES OUT");
	for (i = 0; i < r->nworker; i++) {
		struct rt_worker *w = r->w[i];
		struct worker_sum t;

		pthread_mutex_lock(&w->lock);
		worker_sum(r, w, &t);
		pthread_mutex_unlock(&w->lock);
		fprintf(f, "  %-6d %-9s %6u %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %8" PRIu64
			" %12" PRIu64 " %12" PRIu64 "\n", i, rt_worker_state_name(rt_worker_state(w)),
			t.active, t.accepted, t.new_sessions, t.sticky_hits, t.refused, t.bytes_in,
			t.bytes_out);
	}
}

void rt_status_text(struct router *r, FILE *f, uint64_t now)
{
	struct rt_sessions_totals tot;
	char ra[INET_ADDRSTRLEN], ma[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &r->cfg->router_addr, ra, sizeof(ra));
	inet_ntop(AF_INET, &r->cfg->mgmt_addr, ma, sizeof(ma));
	rt_sessions_totals(&r->sessions, &tot);
	fprintf(f, "router %s  management %s  up %" PRIu64 " s  connections %u  sessions %zu\n",
		ra, ma, (uint64_t)((now - r->start_ns) / LBFO_NS_PER_SEC), r->nconns_total, tot.n);
	disc_text(r, f);
	workers_text(r, f);
	rt_sync_text(&r->sync, f, now);
	fputc('\n', f);
	rt_services_text(r, f);
	fputc('\n', f);
	rt_nodes_text(r, f, now);
}

/* ---- JSON ------------------------------------------------------------------ */

static void member_json(struct lbfo_json *j, const struct rt_service *s, int m)
{
	const struct rt_member_stats *ms = &s->st.ms[m];

	lbfo_json_obj(j);
	lbfo_json_kv_str(j, "name", s->team.m[m].name);
	lbfo_json_kv_str(j, "state", lbfo_member_state_name(s->team.m[m].state));
	lbfo_json_kv_uint(j, "weight", s->team.m[m].weight);
	lbfo_json_kv_uint(j, "active", ms->active);
	lbfo_json_kv_uint(j, "sessions", ms->sessions);
	lbfo_json_kv_uint(j, "conns", ms->conns);
	lbfo_json_kv_uint(j, "bytes_in", ms->bytes_in);
	lbfo_json_kv_uint(j, "bytes_out", ms->bytes_out);
	lbfo_json_kv_uint(j, "connect_fail", ms->connect_fail);
	lbfo_json_end(j);
}

static void service_json(struct lbfo_json *j, const struct rt_service *s)
{
	char allow[512];
	int m;

	allow_text(s->cfg, allow, sizeof(allow));
	lbfo_json_obj(j);
	lbfo_json_kv_str(j, "name", s->cfg->name);
	lbfo_json_kv_str(j, "listen", s->cfg->listen_text);
	lbfo_json_kv_str(j, "policy", lbfo_team_policy_name(&s->team));
	lbfo_json_kv_str(j, "allow", allow);
	lbfo_json_kv_str(j, "sticky", rt_sticky_names[s->cfg->sticky]);
	lbfo_json_kv_str(j, "group", s->cfg->group);
	lbfo_json_kv_uint(j, "active", s->st.active);
	lbfo_json_kv_uint(j, "accepted", s->st.accepted);
	lbfo_json_kv_uint(j, "new_sessions", s->st.new_sessions);
	lbfo_json_kv_uint(j, "sticky_hits", s->st.sticky_hits);
	lbfo_json_kv_uint(j, "moved", s->st.moved);
	lbfo_json_key(j, "refused");
	lbfo_json_obj(j);
	lbfo_json_kv_uint(j, "acl", s->st.refused_acl);
	lbfo_json_kv_uint(j, "limit", s->st.refused_limit);
	lbfo_json_kv_uint(j, "client_limit", s->st.refused_client_limit);
	lbfo_json_kv_uint(j, "no_node", s->st.refused_no_node);
	lbfo_json_end(j);
	lbfo_json_kv_uint(j, "connect_retries", s->st.retries);
	lbfo_json_kv_uint(j, "connect_failed", s->st.failed_connect);
	lbfo_json_key(j, "nodes");
	lbfo_json_arr(j);
	for (m = 0; m < s->team.n; m++)
		member_json(j, s, m);
	lbfo_json_end(j);
	lbfo_json_end(j);
}

static void services_json(struct router *r, struct lbfo_json *j)
{
	int i;

	lbfo_json_arr(j);
	for (i = 0; i < r->nsvc; i++)
		service_json(j, &r->svc[i]);
	lbfo_json_end(j);
}

/* A node's weight and member state in each service it serves. */
static void node_services_json(struct router *r, struct lbfo_json *j, int ni)
{
	int k;

	lbfo_json_arr(j);
	for (k = 0; k < r->nsvc; k++) {
		int m = r->svc[k].node_member[ni];

		if (m < 0)
			continue;
		lbfo_json_obj(j);
		lbfo_json_kv_str(j, "service", r->svc[k].cfg->name);
		lbfo_json_kv_uint(j, "weight", r->svc[k].team.m[m].weight);
		lbfo_json_kv_str(j, "state", lbfo_member_state_name(r->svc[k].team.m[m].state));
		lbfo_json_end(j);
	}
	lbfo_json_end(j);
}

static void node_json(struct router *r, struct lbfo_json *j, int i, uint64_t now)
{
	const struct rt_node *n = &r->node[i];
	struct node_sum t;

	node_sum(r, i, &t);
	lbfo_json_obj(j);
	lbfo_json_kv_str(j, "name", n->cfg->name);
	lbfo_json_kv_str(j, "address", n->cfg->addr_text);
	lbfo_json_kv_str(j, "state", rt_node_state_name(n->state));
	lbfo_json_kv_uint(j, "priority", n->priority);
	if (n->last_hello_ns)
		lbfo_json_kv_uint(j, "heard_ms_ago", ms_since(now, n->last_hello_ns));
	else
		lbfo_json_kv_null(j, "heard_ms_ago");
	lbfo_json_kv_uint(j, "announcements", n->hellos);
	lbfo_json_kv_uint(j, "joins", n->joins);
	lbfo_json_kv_uint(j, "fails", n->fails);
	lbfo_json_kv_uint(j, "leaves", n->leaves);
	lbfo_json_kv_uint(j, "active", t.active);
	lbfo_json_kv_uint(j, "sessions", t.sessions);
	lbfo_json_kv_uint(j, "conns", t.conns);
	lbfo_json_kv_uint(j, "bytes_in", t.bytes_in);
	lbfo_json_kv_uint(j, "bytes_out", t.bytes_out);
	lbfo_json_kv_uint(j, "connect_fail", t.connect_fail);
	lbfo_json_key(j, "services");
	node_services_json(r, j, i);
	lbfo_json_kv_str(j, "reason", n->reason);
	lbfo_json_end(j);
}

static void nodes_json(struct router *r, struct lbfo_json *j, uint64_t now)
{
	int i;

	lbfo_json_arr(j);
	for (i = 0; i < r->nnode; i++)
		node_json(r, j, i, now);
	lbfo_json_end(j);
}

static void session_json(struct router *r, struct lbfo_json *j, const struct sess *s,
			 uint64_t handle, uint64_t now)
{
	char a[INET6_ADDRSTRLEN];
	struct rt_addr ra;

	memcpy(ra.b, s->key.addr, 16);
	rt_addr_text(&ra, a, sizeof(a));
	lbfo_json_obj(j);
	lbfo_json_kv_uint(j, "handle", handle);
	lbfo_json_kv_str(j, "client", a);
	lbfo_json_kv_uint(j, "port", s->key.port);
	lbfo_json_kv_str(j, "group", group_name(r, s->key.group));
	lbfo_json_kv_uint(j, "group_id", s->key.group);
	lbfo_json_kv_str(j, "node", r->cfg->node[s->node].name);
	lbfo_json_kv_uint(j, "open", s->conns);
	lbfo_json_kv_uint(j, "total", s->total);
	lbfo_json_kv_uint(j, "idle_ms", ms_since(now, s->last_ns));
	lbfo_json_end(j);
}

void rt_sessions_json(struct router *r, FILE *f, uint64_t now, size_t limit)
{
	struct rt_sessions_totals tot;
	struct sess_row *rows;
	struct lbfo_json j;
	size_t n = 0, i;

	rows = collect_sessions(r, limit, &tot, &n);
	lbfo_json_init(&j, f);
	lbfo_json_obj(&j);
	lbfo_json_kv_uint(&j, "count", tot.n);
	lbfo_json_kv_uint(&j, "capacity", tot.cap);
	lbfo_json_kv_uint(&j, "inserted", tot.inserted);
	lbfo_json_kv_uint(&j, "expired", tot.expired);
	lbfo_json_kv_uint(&j, "evicted", tot.evicted);
	lbfo_json_kv_uint(&j, "shards", r->sessions.nshard);
	lbfo_json_key(&j, "entries");
	lbfo_json_arr(&j);
	for (i = 0; i < n; i++)
		session_json(r, &j, &rows[i].s, rows[i].handle, now);
	lbfo_json_end(&j);
	lbfo_json_end(&j);
	lbfo_json_finish(&j);
	free(rows);
}

static void disc_json(struct router *r, struct lbfo_json *j)
{
	int e;

	lbfo_json_obj(j);
	lbfo_json_kv_bool(j, "enabled", r->cfg->discovery);
	lbfo_json_kv_uint(j, "cluster", r->cfg->cluster_id);
	lbfo_json_kv_uint(j, "received", r->disc.rx);
	lbfo_json_kv_uint(j, "accepted", r->disc.ok);
	lbfo_json_kv_uint(j, "sent", r->disc.tx);
	lbfo_json_kv_uint(j, "unknown_node", r->disc.unknown);
	lbfo_json_kv_uint(j, "unexpected", r->disc.unexpected);
	lbfo_json_key(j, "dropped");
	lbfo_json_obj(j);
	for (e = 1; e < LBFO_DISC_E__MAX; e++)
		lbfo_json_kv_uint(j, lbfo_disc_err_name(e), r->disc.drop[e]);
	lbfo_json_end(j);
	lbfo_json_end(j);
}

void rt_services_json(struct router *r, FILE *f)
{
	struct lbfo_json j;

	lbfo_json_init(&j, f);
	services_json(r, &j);
	lbfo_json_finish(&j);
}

void rt_nodes_json(struct router *r, FILE *f, uint64_t now)
{
	struct lbfo_json j;

	lbfo_json_init(&j, f);
	nodes_json(r, &j, now);
	lbfo_json_finish(&j);
}

/* Each worker: its state and counters, in total and per service. */
static void workers_json(struct router *r, struct lbfo_json *j)
{
	int i, k;

	lbfo_json_arr(j);
	for (i = 0; i < r->nworker; i++) {
		struct rt_worker *w = r->w[i];
		struct worker_sum t;

		pthread_mutex_lock(&w->lock);
		worker_sum(r, w, &t);
		lbfo_json_obj(j);
		lbfo_json_kv_uint(j, "id", (uint64_t)i);
		lbfo_json_kv_str(j, "state", rt_worker_state_name(rt_worker_state(w)));
		lbfo_json_kv_uint(j, "active", t.active);
		lbfo_json_kv_uint(j, "accepted", t.accepted);
		lbfo_json_kv_uint(j, "new_sessions", t.new_sessions);
		lbfo_json_kv_uint(j, "sticky_hits", t.sticky_hits);
		lbfo_json_kv_uint(j, "refused", t.refused);
		lbfo_json_kv_uint(j, "bytes_in", t.bytes_in);
		lbfo_json_kv_uint(j, "bytes_out", t.bytes_out);
		lbfo_json_key(j, "services");
		lbfo_json_arr(j);
		for (k = 0; k < r->nsvc; k++) {
			lbfo_json_obj(j);
			lbfo_json_kv_str(j, "name", r->svc[k].cfg->name);
			lbfo_json_kv_uint(j, "active", w->snap.svc[k].active);
			lbfo_json_kv_uint(j, "accepted", w->snap.svc[k].accepted);
			lbfo_json_end(j);
		}
		lbfo_json_end(j);
		lbfo_json_end(j);
		pthread_mutex_unlock(&w->lock);
	}
	lbfo_json_end(j);
}

void rt_status_json(struct router *r, FILE *f, uint64_t now)
{
	struct rt_sessions_totals tot;
	struct lbfo_json j;

	rt_sessions_totals(&r->sessions, &tot);
	lbfo_json_init(&j, f);
	lbfo_json_obj(&j);
	lbfo_json_kv_uint(&j, "uptime_s", (now - r->start_ns) / LBFO_NS_PER_SEC);
	lbfo_json_kv_uint(&j, "connections", r->nconns_total);
	lbfo_json_kv_uint(&j, "sessions", tot.n);
	lbfo_json_kv_uint(&j, "session_shards", r->sessions.nshard);
	lbfo_json_key(&j, "discovery");
	disc_json(r, &j);
	lbfo_json_key(&j, "sync");
	rt_sync_json(&r->sync, &j, now);
	lbfo_json_key(&j, "workers");
	workers_json(r, &j);
	lbfo_json_key(&j, "services");
	services_json(r, &j);
	lbfo_json_key(&j, "nodes");
	nodes_json(r, &j, now);
	lbfo_json_end(&j);
	lbfo_json_finish(&j);
}
