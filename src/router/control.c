/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router's control socket (lbfoctl talks to it), status and metrics.
 * Same protocol as the storage side (src/mpio/control.c): the client
 * sends one line, reads the reply until the server closes: "ok\n" then
 * the body, or "error: MESSAGE\n".
 *
 *   status [json]             router, services, nodes (all of the below)
 *   services [json]           policy table (FIG 5) and counters
 *   nodes [json]              discovery state, priority, per-service figures
 *   sessions [json]           session table (FIG 6), most recent first
 *   events [json]             the last 256 events
 *   metrics                   Prometheus text exposition
 *   node fail|restore NAME    operator: take a node out / put it back
 *   path fail|restore NAME    the same (lbfoctl's words)
 *   help
 *
 * The loop forwards every client's bytes, so no control client may hold
 * it: a control client is served from the loop like a connection, its
 * socket non-blocking. Its request is gathered as it comes, the reply is
 * built in memory at once when the line is complete (the figures of one
 * moment), then sent as the client takes it. A client gets CTL_DEADLINE_S
 * from its accept to send its request line (one still short of a line
 * then is told so, best effort, and closed), and then CTL_DEADLINE_S from
 * each part of its reply it takes (one that stops reading is cut off, and
 * an event says how much it got): a trickling, idle or non-reading
 * client costs a slot, never the loop. At
 * most RT_CTL_CLIENTS at once: a newcomer beyond them is told
 * "too many control clients" and closed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "unixsock.h"
#include "lbfo/policy.h"
#include "router.h"

#define REQ_MAX 4096
/* Generous for a human or a scraper: a request is one short line, and even
 * sessions json (100000 entries, some 15 MB) is read in well under that. */
#define CTL_DEADLINE_S 5

/* One control client: reading its request line (reply == NULL), then
 * sending the reply. */
struct rt_ctl_client {
	int fd;
	int slot;                /* its index in r->ctl_client */
	struct rt_ev ev;
	uint64_t deadline_ns;
	size_t len;              /* request bytes so far */
	char req[REQ_MAX + 1];
	char *reply;             /* "ok\n" + body, or "error: ...\n" */
	size_t reply_len, sent;
};

static const char ctl_help[] =
	"status [json]            router, services, nodes\n"
	"services [json]          policy table and counters\n"
	"nodes [json]             nodes: state, priority, weight, connections, bytes\n"
	"sessions [json]          session table, most recent first\n"
	"events [json]            the last events\n"
	"metrics                  Prometheus text exposition\n"
	"node fail|restore NAME   take a node out (until restore) / put it back\n"
	"path fail|restore NAME   the same (lbfoctl's storage verb)\n"
	"weight SERVICE NODE N    allocate N times (1..1000) to NODE in SERVICE\n";

int rt_ctl_open(struct router *r, char *err, size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN };
	const char *path = r->cfg->control;

	r->ctl_fd = -1;
	if (!path[0] || !strcmp(path, "none"))
		return 0;
	r->ctl_fd = lbfo_unix_listen(path, 16, err, errlen);
	if (r->ctl_fd < 0)
		return -1;
	snprintf(r->ctl_path, sizeof(r->ctl_path), "%s", path);
	r->ctl_ev.kind = RT_EV_CTL;
	r->ctl_ev.ptr = r;
	ev.data.ptr = &r->ctl_ev;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, r->ctl_fd, &ev) < 0)
		goto sys;
	return 0;
sys:
	snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
	return -1;
}

static void client_free(struct router *r, struct rt_ctl_client *c);

void rt_ctl_close(struct router *r)
{
	int i;

	for (i = 0; i < RT_CTL_CLIENTS; i++)
		if (r->ctl_client[i])
			client_free(r, r->ctl_client[i]);
	if (r->ctl_fd >= 0) {
		close(r->ctl_fd);
		unlink(r->ctl_path);
		r->ctl_fd = -1;
	}
}

/* ---- figures ---------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static const char *sticky_name(enum rt_sticky s)
{
	return s == RT_STICKY_ADDRESS ? "address" :
	       s == RT_STICKY_ADDRESS_PORT ? "address+port" : "none";
}

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

static void services_text(struct router *r, FILE *f)
{
	int i, m;

	for (i = 0; i < r->nsvc; i++) {
		struct rt_service *s = &r->svc[i];
		char allow[512];

		allow_text(s->cfg, allow, sizeof(allow));
		fprintf(f, "service %s  listen %s  policy %s  allow %s  sticky %s  group %s\n",
			s->cfg->name, s->cfg->listen_text, lbfo_team_policy_name(&s->team),
			allow, sticky_name(s->cfg->sticky), s->cfg->group);
		fprintf(f, "  active %u  accepted %" PRIu64 "  new sessions %" PRIu64
			"  sticky %" PRIu64 "  moved %" PRIu64 "  refused: acl %" PRIu64
			" limit %" PRIu64 " per-client %" PRIu64 " no-node %" PRIu64
			"  connect retries %" PRIu64 " failed %" PRIu64 "\n",
			s->active, s->accepted, s->new_sessions, s->sticky_hits, s->moved,
			s->refused_acl, s->refused_limit, s->refused_client_limit,
			s->refused_no_node, s->retries, s->failed_connect);
		fprintf(f, "  %-12s %-21s %-9s %6s %6s %10s %10s %12s %12s %8s\n", "NODE",
			"ADDRESS", "STATE", "WEIGHT", "ACTIVE", "SESSIONS", "CONNS", "BYTES IN",
			"BYTES OUT", "CONNFAIL");
		for (m = 0; m < s->team.n; m++) {
			const struct rt_node_cfg *nc = &r->cfg->node[s->member_node[m]];
			const struct rt_member_stats *ms = &s->ms[m];
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
		ms = &r->svc[k].ms[m];
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

static void nodes_text(struct router *r, FILE *f, uint64_t now)
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

static void sessions_text(struct router *r, FILE *f, uint64_t now, size_t limit)
{
	const struct sess *s;
	size_t n = 0;

	fprintf(f, "sessions %zu / %zu  inserted %" PRIu64 "  expired %" PRIu64
		"  evicted %" PRIu64 "  idle timeout %u ms\n", r->sessions.n, r->sessions.cap,
		r->sessions.inserted, r->sessions.expired, r->sessions.evicted,
		r->cfg->session_idle_ms);
	fprintf(f, "%-10s %-39s %6s %-10s %-12s %6s %8s %10s\n", "HANDLE", "CLIENT", "PORT",
		"GROUP", "NODE", "OPEN", "TOTAL", "IDLE(ms)");
	for (s = sess_next(&r->sessions, NULL); s && n < limit; s = sess_next(&r->sessions, s), n++) {
		char a[INET6_ADDRSTRLEN];
		struct rt_addr ra;
		const char *group = group_name(r, s->key.group);

		memcpy(ra.b, s->key.addr, 16);
		rt_addr_text(&ra, a, sizeof(a));
		fprintf(f, "%-10" PRIu64 " %-39s %6u %-10s %-12s %6u %8" PRIu64 " %10" PRIu64 "\n",
			s->handle, a, s->key.port, group, r->cfg->node[s->node].name, s->conns,
			s->total, ms_since(now, s->last_ns));
	}
	if (n < r->sessions.n)
		fprintf(f, "... %zu more\n", r->sessions.n - n);
}

static void disc_text(struct router *r, FILE *f)
{
	int e;

	fprintf(f, "discovery %s  cluster %u  received %" PRIu64 "  accepted %" PRIu64
		"  sent %" PRIu64 "  unknown-node %" PRIu64 "  unexpected %" PRIu64 "  dropped:",
		r->cfg->discovery ? "on" : "off", r->cfg->cluster_id, r->disc_rx, r->disc_ok,
		r->disc_tx, r->disc_unknown, r->disc_unexpected);
	for (e = 1; e < LBFO_DISC_E__MAX; e++)
		fprintf(f, " %s %" PRIu64, lbfo_disc_err_name(e), r->disc_drop[e]);
	fputc('\n', f);
}

void rt_status_text(struct router *r, FILE *f, uint64_t now)
{
	char ra[INET_ADDRSTRLEN], ma[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &r->cfg->router_addr, ra, sizeof(ra));
	inet_ntop(AF_INET, &r->cfg->mgmt_addr, ma, sizeof(ma));
	fprintf(f, "router %s  management %s  up %" PRIu64 " s  connections %u  sessions %zu\n",
		ra, ma, (uint64_t)((now - r->start_ns) / LBFO_NS_PER_SEC), r->nconns, r->sessions.n);
	disc_text(r, f);
	fputc('\n', f);
	services_text(r, f);
	fputc('\n', f);
	nodes_text(r, f, now);
}

static void services_json(struct router *r, FILE *f)
{
	int i, m;

	fprintf(f, "[");
	for (i = 0; i < r->nsvc; i++) {
		struct rt_service *s = &r->svc[i];
		char allow[512];

		allow_text(s->cfg, allow, sizeof(allow));
		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, s->cfg->name);
		fprintf(f, ",\"listen\":");
		json_str(f, s->cfg->listen_text);
		fprintf(f, ",\"policy\":\"%s\",\"allow\":", lbfo_team_policy_name(&s->team));
		json_str(f, allow);
		fprintf(f, ",\"sticky\":\"%s\",\"group\":", sticky_name(s->cfg->sticky));
		json_str(f, s->cfg->group);
		fprintf(f, ",\"active\":%u,\"accepted\":%" PRIu64 ",\"new_sessions\":%" PRIu64
			",\"sticky_hits\":%" PRIu64 ",\"moved\":%" PRIu64
			",\"refused\":{\"acl\":%" PRIu64 ",\"limit\":%" PRIu64
			",\"client_limit\":%" PRIu64 ",\"no_node\":%" PRIu64 "}"
			",\"connect_retries\":%" PRIu64 ",\"connect_failed\":%" PRIu64
			",\"nodes\":[",
			s->active, s->accepted, s->new_sessions, s->sticky_hits, s->moved,
			s->refused_acl, s->refused_limit, s->refused_client_limit,
			s->refused_no_node, s->retries, s->failed_connect);
		for (m = 0; m < s->team.n; m++) {
			const struct rt_member_stats *ms = &s->ms[m];

			fprintf(f, "%s{\"name\":", m ? "," : "");
			json_str(f, s->team.m[m].name);
			fprintf(f, ",\"state\":\"%s\",\"weight\":%u,\"active\":%u,\"sessions\":%" PRIu64
				",\"conns\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
				",\"connect_fail\":%" PRIu64 "}",
				lbfo_member_state_name(s->team.m[m].state), s->team.m[m].weight,
				ms->active, ms->sessions, ms->conns, ms->bytes_in, ms->bytes_out,
				ms->connect_fail);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]");
}

static void nodes_json(struct router *r, FILE *f, uint64_t now)
{
	int i, k;

	fprintf(f, "[");
	for (i = 0; i < r->nnode; i++) {
		struct rt_node *n = &r->node[i];
		struct node_sum t;
		bool first = true;

		node_sum(r, i, &t);
		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, n->cfg->name);
		fprintf(f, ",\"address\":\"%s\",\"state\":\"%s\",\"priority\":%u,\"heard_ms_ago\":",
			n->cfg->addr_text, rt_node_state_name(n->state), n->priority);
		if (n->last_hello_ns)
			fprintf(f, "%" PRIu64, ms_since(now, n->last_hello_ns));
		else
			fprintf(f, "null");
		fprintf(f, ",\"announcements\":%" PRIu64 ",\"joins\":%" PRIu64 ",\"fails\":%" PRIu64
			",\"leaves\":%" PRIu64 ",\"active\":%" PRIu64 ",\"sessions\":%" PRIu64
			",\"conns\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
			",\"connect_fail\":%" PRIu64 ",\"services\":[",
			n->hellos, n->joins, n->fails, n->leaves, t.active, t.sessions, t.conns,
			t.bytes_in, t.bytes_out, t.connect_fail);
		for (k = 0; k < r->nsvc; k++) {
			int m = r->svc[k].node_member[i];

			if (m < 0)
				continue;
			fprintf(f, "%s{\"service\":", first ? "" : ",");
			json_str(f, r->svc[k].cfg->name);
			fprintf(f, ",\"weight\":%u,\"state\":\"%s\"}", r->svc[k].team.m[m].weight,
				lbfo_member_state_name(r->svc[k].team.m[m].state));
			first = false;
		}
		fprintf(f, "],\"reason\":");
		json_str(f, n->reason);
		fprintf(f, "}");
	}
	fprintf(f, "]");
}

static void sessions_json(struct router *r, FILE *f, uint64_t now, size_t limit)
{
	const struct sess *s;
	size_t n = 0;

	fprintf(f, "{\"count\":%zu,\"capacity\":%zu,\"inserted\":%" PRIu64 ",\"expired\":%"
		PRIu64 ",\"evicted\":%" PRIu64 ",\"entries\":[", r->sessions.n, r->sessions.cap,
		r->sessions.inserted, r->sessions.expired, r->sessions.evicted);
	for (s = sess_next(&r->sessions, NULL); s && n < limit; s = sess_next(&r->sessions, s), n++) {
		char a[INET6_ADDRSTRLEN];
		struct rt_addr ra;

		memcpy(ra.b, s->key.addr, 16);
		rt_addr_text(&ra, a, sizeof(a));
		fprintf(f, "%s{\"handle\":%" PRIu64 ",\"client\":\"%s\",\"port\":%u,\"group\":",
			n ? "," : "", s->handle, a, s->key.port);
		json_str(f, group_name(r, s->key.group));
		fprintf(f, ",\"group_id\":%u,\"node\":", s->key.group);
		json_str(f, r->cfg->node[s->node].name);
		fprintf(f, ",\"open\":%u,\"total\":%" PRIu64 ",\"idle_ms\":%" PRIu64 "}",
			s->conns, s->total, ms_since(now, s->last_ns));
	}
	fprintf(f, "]}");
}

static void disc_json(struct router *r, FILE *f)
{
	int e;

	fprintf(f, "{\"enabled\":%s,\"cluster\":%u,\"received\":%" PRIu64 ",\"accepted\":%" PRIu64
		",\"sent\":%" PRIu64 ",\"unknown_node\":%" PRIu64 ",\"unexpected\":%" PRIu64
		",\"dropped\":{", r->cfg->discovery ? "true" : "false", r->cfg->cluster_id,
		r->disc_rx, r->disc_ok, r->disc_tx, r->disc_unknown, r->disc_unexpected);
	for (e = 1; e < LBFO_DISC_E__MAX; e++)
		fprintf(f, "%s\"%s\":%" PRIu64, e > 1 ? "," : "", lbfo_disc_err_name(e),
			r->disc_drop[e]);
	fprintf(f, "}}");
}

void rt_status_json(struct router *r, FILE *f, uint64_t now)
{
	fprintf(f, "{\"uptime_s\":%" PRIu64 ",\"connections\":%u,\"sessions\":%zu,"
		"\"discovery\":", (uint64_t)((now - r->start_ns) / LBFO_NS_PER_SEC), r->nconns,
		r->sessions.n);
	disc_json(r, f);
	fprintf(f, ",\"services\":");
	services_json(r, f);
	fprintf(f, ",\"nodes\":");
	nodes_json(r, f, now);
	fprintf(f, "}\n");
}

static void events_out(struct router *r, FILE *f, bool json)
{
	unsigned k;

	if (json)
		fprintf(f, "{\"events\":[");
	for (k = 0; k < r->ev_n; k++) {
		const struct rt_event *e = &r->events[(r->ev_head + k) % RT_EVENTS_MAX];
		time_t t = (time_t)(e->wall_ms / 1000);
		struct tm tm;
		char ts[32];

		localtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		if (json) {
			fprintf(f, "%s{\"time_ms\":%" PRIu64 ",\"text\":", k ? "," : "", e->wall_ms);
			json_str(f, e->text);
			fprintf(f, "}");
		} else {
			fprintf(f, "%s.%03u %s\n", ts, (unsigned)(e->wall_ms % 1000), e->text);
		}
	}
	if (json)
		fprintf(f, "]}\n");
}

void rt_metrics_text(struct router *r, FILE *f, uint64_t now)
{
	int i, m, e;

#define HDR(name, type, help) fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")
	HDR("lbfo_router_uptime_seconds", "gauge", "Seconds since the router started.");
	fprintf(f, "lbfo_router_uptime_seconds %" PRIu64 "\n", (uint64_t)((now - r->start_ns) / LBFO_NS_PER_SEC));
	HDR("lbfo_router_connections", "gauge", "Open proxied connections.");
	fprintf(f, "lbfo_router_connections %u\n", r->nconns);
	HDR("lbfo_router_sessions", "gauge", "Entries in the session table.");
	fprintf(f, "lbfo_router_sessions %zu\n", r->sessions.n);
	HDR("lbfo_router_session_evictions_total", "counter", "Sessions evicted because the table was full.");
	fprintf(f, "lbfo_router_session_evictions_total %" PRIu64 "\n", r->sessions.evicted);
	HDR("lbfo_router_session_expired_total", "counter", "Sessions expired after the idle timeout.");
	fprintf(f, "lbfo_router_session_expired_total %" PRIu64 "\n", r->sessions.expired);
	HDR("lbfo_router_pipes_grown_total", "counter", "Bulk connections' pipes grown to pipe_size.");
	fprintf(f, "lbfo_router_pipes_grown_total %" PRIu64 "\n", r->pipes_grown);
	HDR("lbfo_router_pipe_grow_refused_total", "counter", "Pipe growths the kernel refused (pipe-pages limit).");
	fprintf(f, "lbfo_router_pipe_grow_refused_total %" PRIu64 "\n", r->pipe_grow_refused);
	HDR("lbfo_router_service_accepted_total", "counter", "Client connections accepted on a service port.");
	for (i = 0; i < r->nsvc; i++)
		fprintf(f, "lbfo_router_service_accepted_total{service=\"%s\"} %" PRIu64 "\n",
			r->svc[i].cfg->name, r->svc[i].accepted);
	HDR("lbfo_router_service_refused_total", "counter", "Client connections refused, by reason.");
	for (i = 0; i < r->nsvc; i++) {
		struct rt_service *s = &r->svc[i];

		fprintf(f, "lbfo_router_service_refused_total{service=\"%s\",reason=\"acl\"} %" PRIu64 "\n"
			"lbfo_router_service_refused_total{service=\"%s\",reason=\"limit\"} %" PRIu64 "\n"
			"lbfo_router_service_refused_total{service=\"%s\",reason=\"client_limit\"} %" PRIu64 "\n"
			"lbfo_router_service_refused_total{service=\"%s\",reason=\"no_node\"} %" PRIu64 "\n"
			"lbfo_router_service_refused_total{service=\"%s\",reason=\"connect\"} %" PRIu64 "\n",
			s->cfg->name, s->refused_acl, s->cfg->name, s->refused_limit,
			s->cfg->name, s->refused_client_limit, s->cfg->name, s->refused_no_node,
			s->cfg->name, s->failed_connect);
	}
	HDR("lbfo_router_service_active", "gauge", "Open connections per service.");
	for (i = 0; i < r->nsvc; i++)
		fprintf(f, "lbfo_router_service_active{service=\"%s\"} %u\n", r->svc[i].cfg->name,
			r->svc[i].active);
	HDR("lbfo_router_service_sticky_total", "counter", "Connections sent to their session's node.");
	for (i = 0; i < r->nsvc; i++)
		fprintf(f, "lbfo_router_service_sticky_total{service=\"%s\"} %" PRIu64 "\n",
			r->svc[i].cfg->name, r->svc[i].sticky_hits);
	HDR("lbfo_router_service_connect_retries_total", "counter", "Connections retried on another node.");
	for (i = 0; i < r->nsvc; i++)
		fprintf(f, "lbfo_router_service_connect_retries_total{service=\"%s\"} %" PRIu64 "\n",
			r->svc[i].cfg->name, r->svc[i].retries);

#define PER_MEMBER(NAME_, type, help, fmt, expr)                                       \
	HDR(NAME_, type, help);                                                        \
	for (i = 0; i < r->nsvc; i++)                                                  \
		for (m = 0; m < r->svc[i].team.n; m++)                                 \
			fprintf(f, NAME_ "{service=\"%s\",node=\"%s\"} " fmt "\n",     \
				r->svc[i].cfg->name, r->svc[i].team.m[m].name, expr)
	PER_MEMBER("lbfo_router_node_sessions_total", "counter", "New sessions allocated to the node.",
		   "%" PRIu64, r->svc[i].ms[m].sessions);
	PER_MEMBER("lbfo_router_node_connections_total", "counter", "Connections carried by the node.",
		   "%" PRIu64, r->svc[i].ms[m].conns);
	PER_MEMBER("lbfo_router_node_active", "gauge", "Open connections on the node.",
		   "%u", r->svc[i].ms[m].active);
	PER_MEMBER("lbfo_router_node_bytes_in_total", "counter", "Bytes client to node.",
		   "%" PRIu64, r->svc[i].ms[m].bytes_in);
	PER_MEMBER("lbfo_router_node_bytes_out_total", "counter", "Bytes node to client.",
		   "%" PRIu64, r->svc[i].ms[m].bytes_out);
	PER_MEMBER("lbfo_router_node_connect_failures_total", "counter", "Failed connects to the node.",
		   "%" PRIu64, r->svc[i].ms[m].connect_fail);
	PER_MEMBER("lbfo_router_node_weight", "gauge", "Configured weight (allocate N times).",
		   "%u", r->svc[i].team.m[m].weight);
	PER_MEMBER("lbfo_router_node_usable", "gauge", "1 when the node may get new sessions.",
		   "%d", lbfo_member_usable(&r->svc[i].team, m) ? 1 : 0);
#undef PER_MEMBER
	HDR("lbfo_router_node_up", "gauge", "1 when the node is announcing (or static).");
	for (i = 0; i < r->nnode; i++)
		fprintf(f, "lbfo_router_node_up{node=\"%s\"} %d\n", r->node[i].cfg->name,
			r->node[i].state == RT_NODE_UP);
	HDR("lbfo_router_node_priority", "gauge", "Last announced priority.");
	for (i = 0; i < r->nnode; i++)
		fprintf(f, "lbfo_router_node_priority{node=\"%s\"} %u\n", r->node[i].cfg->name,
			r->node[i].priority);
	HDR("lbfo_router_node_fails_total", "counter", "Times the node was failed.");
	for (i = 0; i < r->nnode; i++)
		fprintf(f, "lbfo_router_node_fails_total{node=\"%s\"} %" PRIu64 "\n",
			r->node[i].cfg->name, r->node[i].fails);
	HDR("lbfo_router_discovery_received_total", "counter", "Discovery datagrams received.");
	fprintf(f, "lbfo_router_discovery_received_total %" PRIu64 "\n", r->disc_rx);
	HDR("lbfo_router_discovery_accepted_total", "counter", "Valid announcements from known nodes.");
	fprintf(f, "lbfo_router_discovery_accepted_total %" PRIu64 "\n", r->disc_ok);
	HDR("lbfo_router_discovery_dropped_total", "counter", "Discovery datagrams dropped, by reason.");
	for (e = 1; e < LBFO_DISC_E__MAX; e++)
		fprintf(f, "lbfo_router_discovery_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
			lbfo_disc_err_name(e), r->disc_drop[e]);
	fprintf(f, "lbfo_router_discovery_dropped_total{reason=\"unknown_node\"} %" PRIu64 "\n"
		"lbfo_router_discovery_dropped_total{reason=\"unexpected\"} %" PRIu64 "\n",
		r->disc_unknown, r->disc_unexpected);
#undef HDR
}

/* ---- requests ------------------------------------------------------------------ */

static int node_index(struct router *r, const char *name)
{
	int i;

	for (i = 0; i < r->nnode; i++)
		if (!strcmp(r->node[i].cfg->name, name))
			return i;
	return -1;
}

/* weight SERVICE NODE N: FIG 5's "allocate N times", changed at run time.
 * Existing sessions stay where they are; new ones follow the new weight. */
static int ctl_weight(struct router *r, int n, char **tok, FILE *f, char *err,
		      size_t errlen, uint64_t now)
{
	struct rt_service *s = NULL;
	unsigned long w;
	char *end;
	int i, ni, m;

	if (n != 4) {
		snprintf(err, errlen, "usage: weight SERVICE NODE N");
		return -1;
	}
	for (i = 0; i < r->nsvc; i++)
		if (!strcmp(r->svc[i].cfg->name, tok[1]))
			s = &r->svc[i];
	if (!s) {
		snprintf(err, errlen, "no service '%s'", tok[1]);
		return -1;
	}
	ni = node_index(r, tok[2]);
	m = ni < 0 ? -1 : s->node_member[ni];
	if (m < 0) {
		snprintf(err, errlen, "node '%s' does not serve service '%s'", tok[2], tok[1]);
		return -1;
	}
	errno = 0;
	w = strtoul(tok[3], &end, 10);
	if (errno || *end || end == tok[3] || w > UINT32_MAX ||
	    lbfo_team_set_weight(&s->team, m, (uint32_t)w, now) < 0) {
		snprintf(err, errlen, "weight '%s' for node %s: expected 1..%u", tok[3], tok[2],
			 LBFO_WEIGHT_MAX);
		return -1;
	}
	rt_event(r, "service %s: node %s weight set to %lu by operator", tok[1], tok[2], w);
	fprintf(f, "service %s: node %s weight %lu\n", tok[1], tok[2], w);
	return 0;
}

/* Handle one request line; the reply body goes to f. Returns 0, or -1
 * with a message in err. */
static int ctl_do(struct router *r, char *line, FILE *f, char *err, size_t errlen,
		  uint64_t now)
{
	char *tok[8], *save = NULL, *t;
	int n = 0;
	bool json;

	for (t = strtok_r(line, " \t\r\n", &save); t && n < 8; t = strtok_r(NULL, " \t\r\n", &save))
		tok[n++] = t;
	if (n == 0) {
		snprintf(err, errlen, "empty request (try 'help')");
		return -1;
	}
	json = n == 2 && !strcmp(tok[1], "json");
	if (strcmp(tok[0], "node") && strcmp(tok[0], "path") && strcmp(tok[0], "weight") &&
	    (n > 2 || (n == 2 && !json)))
		goto bad;
	if (!strcmp(tok[0], "help") && n == 1) {
		fputs(ctl_help, f);
	} else if (!strcmp(tok[0], "status")) {
		if (json)
			rt_status_json(r, f, now);
		else
			rt_status_text(r, f, now);
	} else if (!strcmp(tok[0], "services")) {
		if (json) {
			services_json(r, f);
			fputc('\n', f);
		} else {
			services_text(r, f);
		}
	} else if (!strcmp(tok[0], "nodes")) {
		if (json) {
			nodes_json(r, f, now);
			fputc('\n', f);
		} else {
			nodes_text(r, f, now);
		}
	} else if (!strcmp(tok[0], "sessions")) {
		if (json) {
			sessions_json(r, f, now, 100000);
			fputc('\n', f);
		} else {
			sessions_text(r, f, now, 1000);
		}
	} else if (!strcmp(tok[0], "events")) {
		events_out(r, f, json);
	} else if (!strcmp(tok[0], "metrics") && n == 1) {
		rt_metrics_text(r, f, now);
	} else if (!strcmp(tok[0], "weight")) {
		return ctl_weight(r, n, tok, f, err, errlen, now);
	} else if (!strcmp(tok[0], "node") || !strcmp(tok[0], "path")) {
		int ni;

		if (n != 3)
			goto bad;
		ni = node_index(r, tok[2]);
		if (ni < 0) {
			snprintf(err, errlen, "no node '%s'", tok[2]);
			return -1;
		}
		if (!strcmp(tok[1], "fail")) {
			rt_node_down(r, ni, RT_NODE_ADMIN_DOWN, "operator", now);
			fprintf(f, "node %s down\n", tok[2]);
		} else if (!strcmp(tok[1], "restore")) {
			if (r->node[ni].state == RT_NODE_UP) {
				fprintf(f, "node %s already up\n", tok[2]);
			} else if (r->cfg->discovery) {
				/* Back to the discovery's judgement: up at its next
				 * announcement. */
				r->node[ni].state = RT_NODE_FAILED;
				snprintf(r->node[ni].reason, sizeof(r->node[ni].reason),
					 "restored by operator; waiting for an announcement");
				rt_event(r, "node %s restored by operator; up at its next announcement",
					 tok[2]);
				fprintf(f, "node %s: up at its next announcement\n", tok[2]);
			} else {
				rt_node_up(r, ni, "restored by operator (discovery off)", now);
				fprintf(f, "node %s up\n", tok[2]);
			}
		} else {
			snprintf(err, errlen, "%s: expected fail or restore, not '%s'", tok[0], tok[1]);
			return -1;
		}
	} else {
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "unknown request '%s' (try 'help')", tok[0]);
	return -1;
}

/* ---- clients ------------------------------------------------------------------- */

/* Closing the socket also takes it out of the epoll set (nothing else holds
 * the descriptor). An epoll batch has at most one event per registration,
 * the one being handled if any, so a client may go at once, mid-batch. */
static void client_free(struct router *r, struct rt_ctl_client *c)
{
	r->ctl_client[c->slot] = NULL;
	close(c->fd);
	free(c->reply);
	free(c);
}

/* The reply to what c->req holds: a line (its end found), or REQ_MAX bytes
 * without one, or less and the client has stopped sending. The figures are
 * taken now, in one piece, whatever pace the client reads them at. */
static int client_build(struct router *r, struct rt_ctl_client *c, uint64_t now)
{
	char *nl = memchr(c->req, '\n', c->len);
	FILE *f = open_memstream(&c->reply, &c->reply_len);

	if (!f)
		return -1;
	if (!nl) {
		fprintf(f, "error: %s\n", c->len >= REQ_MAX ? "request too long" :
			"incomplete request (one line, ending in a newline)");
	} else {
		char err[256], *body = NULL;
		size_t blen = 0;
		FILE *out = open_memstream(&body, &blen);

		*nl = '\0';
		if (out && ctl_do(r, c->req, out, err, sizeof(err), now) == 0) {
			fclose(out);
			fprintf(f, "ok\n");
			fwrite(body, 1, blen, f);
		} else {
			if (out)
				fclose(out);
			fprintf(f, "error: %s\n", out ? err : "out of memory");
		}
		free(body);
	}
	/* A failed write (memory) shows at fclose; then nothing is sent
	 * rather than half a reply. */
	if (fclose(f) != 0) {
		free(c->reply);
		c->reply = NULL;
		return -1;
	}
	return 0;
}

/* Send what the socket takes. Returns 1 when all is sent, 0 to wait for
 * EPOLLOUT, -1 when the client is gone. */
static int client_send(struct rt_ctl_client *c)
{
	while (c->sent < c->reply_len) {
		ssize_t k = send(c->fd, c->reply + c->sent, c->reply_len - c->sent, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (k <= 0)
			return -1;
		c->sent += (size_t)k;
	}
	return 1;
}

/* The request is complete (or can be no more): build the reply and send
 * it, most often all at once; what the socket does not take waits for
 * EPOLLOUT. Frees the client when done or gone. */
static void client_reply(struct router *r, struct rt_ctl_client *c, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = &c->ev };
	int rc = client_build(r, c, now) < 0 ? -1 : client_send(c);

	c->deadline_ns = now + (uint64_t)CTL_DEADLINE_S * LBFO_NS_PER_SEC; /* to take it */
	if (rc == 0 && epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		return;
	client_free(r, c);
}

void rt_ctl_client_io(struct router *r, struct rt_ev *e, uint32_t events, uint64_t now)
{
	struct rt_ctl_client *c = e->ptr;
	ssize_t k;

	/* Level-triggered: the read or send below tells all the event bits
	 * would, EPOLLHUP and EPOLLERR included. */
	(void)events;
	if (c->reply) {
		size_t before = c->sent;
		int rc = client_send(c);

		if (rc != 0) {
			client_free(r, c);
			return;
		}
		if (c->sent > before) /* progress: a slow reader is no dead one */
			c->deadline_ns = now + (uint64_t)CTL_DEADLINE_S * LBFO_NS_PER_SEC;
		return;
	}
	k = read(c->fd, c->req + c->len, REQ_MAX - c->len);
	if (k < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_free(r, c);
		return;
	}
	if (k == 0) {
		/* Half-closed without a newline: it may still read the error. */
		client_reply(r, c, now);
		return;
	}
	c->len += (size_t)k;
	if (c->len >= REQ_MAX || memchr(c->req + c->len - (size_t)k, '\n', (size_t)k))
		client_reply(r, c, now);
}

void rt_ctl_tick(struct router *r, uint64_t now)
{
	int i;

	if (r->ctl_paused) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &r->ctl_ev };

		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, r->ctl_fd, &ev) == 0)
			r->ctl_paused = false;
	}

	for (i = 0; i < RT_CTL_CLIENTS; i++) {
		struct rt_ctl_client *c = r->ctl_client[i];

		if (!c || now < c->deadline_ns)
			continue;
		/* Still writing its request: say why, if the socket takes it
		 * now. A reply partly sent is cut short; the client sees the
		 * end of the stream, so the event says it was incomplete. */
		if (c->reply) {
			rt_event(r, "control client cut off: it took %zu of its reply's %zu bytes "
				 "and then nothing for %d s; what it got is incomplete",
				 c->sent, c->reply_len, CTL_DEADLINE_S);
		} else {
			char late[64];
			int n = snprintf(late, sizeof(late),
					 "error: no complete request within %d s\n",
					 CTL_DEADLINE_S);

			send(c->fd, late, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		client_free(r, c);
	}
}

void rt_ctl_accept(struct router *r, uint64_t now)
{
	static const char too_many[] = "error: too many control clients\n";

	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct rt_ctl_client *c;
		int i, fd = accept4(r->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && !r->ctl_paused &&
			    epoll_ctl(r->ep, EPOLL_CTL_DEL, r->ctl_fd, NULL) == 0) {
				/* Out of descriptors: the waiting client would
				 * make level-triggered epoll report the socket
				 * for ever. Listen again on the next tick. */
				r->ctl_paused = true;
				rt_event(r, "control socket: accept: %s; paused until the next tick",
					 strerror(errno));
			}
			return;
		}
		for (i = 0; i < RT_CTL_CLIENTS && r->ctl_client[i]; i++)
			;
		if (i == RT_CTL_CLIENTS) {
			/* Full: say so if the socket takes it at once, and close;
			 * the client's request, sent or not, is not read. */
			send(fd, too_many, sizeof(too_many) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->slot = i;
		c->ev.kind = RT_EV_CTL_CLIENT;
		c->ev.ptr = c;
		c->deadline_ns = now + (uint64_t)CTL_DEADLINE_S * LBFO_NS_PER_SEC;
		ev.data.ptr = &c->ev;
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		r->ctl_client[i] = c;
	}
}
