/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Connecting a client's connection to its node, with a deadline; a node
 * that refuses or does not answer in time is skipped and the next one the
 * policy offers is tried (each at most once), the session following. A
 * connection no node accepted is closed and counts as no session.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "lbfo/policy.h"
#include "conn.h"

static struct sockaddr_in node_sockaddr(const struct rt_config *cfg, struct rt_service *s,
				       int m)
{
	int ni = s->member_node[m];
	const struct rt_node_cfg *nc = &cfg->node[ni];
	int si = s->idx;
	struct sockaddr_in sa = { .sin_family = AF_INET };

	sa.sin_addr = nc->addr;
	sa.sin_port = htons(nc->port[si] ? nc->port[si] : s->cfg->node_port);
	return sa;
}

static void conn_connect_failed(struct rt_worker *w, struct rt_conn *c, const char *why,
				uint64_t now);

/* Start a connection to member m. Returns 0 (connecting or connected),
 * -1 when the socket could not even be made. */
static int conn_connect(struct rt_worker *w, struct rt_conn *c, int m, uint64_t now)
{
	struct rt_service *s = c->svc;
	struct sockaddr_in sa = node_sockaddr(w->r->cfg, s, m);
	int fd;

	c->member = m;
	lbfo_mask_add(&c->tried, m);
	lbfo_team_start(&s->team, &c->cmd, m, LBFO_READ, 0, now);
	c->started = true;
	s->st.ms[m].active++;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rt_tune_socket(fd);
	c->bfd = fd;
	c->bev.kind = RT_EV_BACKEND;
	c->bev.ptr = c;
	c->b_reg = false;
	rt_conn_set_connecting(w, c, true);
	if (rt_conn_interest(w, c) < 0)
		return -1;
	c->deadline_ns = now + (uint64_t)s->cfg->connect_timeout_ms * LBFO_NS_PER_MS;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		char why[96];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		conn_connect_failed(w, c, why, now);
		return 0;
	}
	return 0;
}

/* A member for a new session, avoiding the ones already tried: the
 * policy's next best (weights and least connections still apply). */
int rt_pick_member(struct rt_service *s, const struct lbfo_mask *tried, uint64_t now)
{
	int m = lbfo_team_select_excluding(&s->team, LBFO_READ, 0, now, tried);

	return m >= 0 ? m : -1;
}

/* A new session no node took was never one: undo it. */
static void session_undo(struct rt_worker *w, struct rt_conn *c, int old)
{
	struct rt_service *s = c->svc;
	struct router *r = w->r;
	unsigned sh;
	struct sess *se;

	s->st.ms[old].sessions--;
	s->st.new_sessions--;
	if (!c->handle)
		return;
	se = rt_conn_session(r, c, &sh);
	if (se && se->total <= 1) {
		sess_remove(&r->sessions.shard[sh].t, se);
		c->handle = 0;
	}
	rt_sessions_unlock(&r->sessions, sh);
}

static void conn_connect_failed(struct rt_worker *w, struct rt_conn *c, const char *why,
				uint64_t now)
{
	struct rt_service *s = c->svc;
	struct rt_member_stats *ms = &s->st.ms[c->member];
	int old = c->member, m;

	ms->connect_fail++;
	if (c->bfd >= 0) {
		close(c->bfd); /* also leaves the epoll set */
		c->bfd = -1;
	}
	c->b_reg = false;
	rt_conn_set_connecting(w, c, false);
	rt_conn_release_member(c, now);
	if (ms->connect_fail <= 3 || ms->connect_fail % 1000 == 0)
		rt_event(w->r, LOG_WARNING, "service %s: node %s: %s (%llu so far on worker %d); "
			 "trying another node", s->cfg->name, s->team.m[old].name, why,
			 (unsigned long long)ms->connect_fail, w->id);
	m = rt_pick_member(s, &c->tried, now);
	if (m < 0) {
		s->st.failed_connect++;
		if (c->new_session)
			session_undo(w, c, old);
		rt_conn_close(w, c, now);
		return;
	}
	s->st.retries++;
	if (c->new_session) {
		/* The new session is counted where it lands. */
		ms->sessions--;
		s->st.ms[m].sessions++;
	}
	if (c->handle) {
		/* The session moves with the connection. */
		unsigned sh;
		struct sess *se = rt_conn_session(w->r, c, &sh);

		if (se)
			sess_set_node(&w->r->sessions.shard[sh].t, se, s->member_node[m], now);
		rt_sessions_unlock(&w->r->sessions, sh);
	}
	if (conn_connect(w, c, m, now) < 0)
		conn_connect_failed(w, c, "socket", now);
}

static void conn_connected(struct rt_worker *w, struct rt_conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		char why[96];

		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		conn_connect_failed(w, c, why, now);
		return;
	}
	rt_conn_set_connecting(w, c, false);
	c->svc->st.ms[c->member].conns++;
	rt_conn_pump(w, c, RT_PUMP_UP | RT_PUMP_DOWN, now);
}

void rt_connect_deadlines(struct rt_worker *w, uint64_t now)
{
	struct rt_conn *c, *next;

	for (c = w->connecting; c; c = next) {
		next = c->knext;
		if (now >= c->deadline_ns)
			conn_connect_failed(w, c, "connect timed out", now);
	}
}

void rt_conn_start(struct rt_worker *w, struct rt_conn *c, int m, uint64_t now)
{
	if (conn_connect(w, c, m, now) < 0)
		conn_connect_failed(w, c, "socket", now);
}

void rt_conn_event(struct rt_worker *w, struct rt_ev *e, uint32_t events, uint64_t now)
{
	struct rt_conn *c = e->ptr;

	if (e->kind == RT_EV_CLIENT) {
		rt_conn_pump(w, c, rt_conn_event_dirs(events, true), now);
		return;
	}
	if (c->dead)
		return;
	if (c->connecting)
		conn_connected(w, c, now);
	else
		rt_conn_pump(w, c, rt_conn_event_dirs(events, false), now);
}
