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

static struct sockaddr_in node_sockaddr(struct router *r, struct rt_service *s, int m)
{
	int ni = s->member_node[m];
	const struct rt_node_cfg *nc = &r->cfg->node[ni];
	int si = (int)(s - r->svc);
	struct sockaddr_in sa = { .sin_family = AF_INET };

	sa.sin_addr = nc->addr;
	sa.sin_port = htons(nc->port[si] ? nc->port[si] : s->cfg->node_port);
	return sa;
}

static void conn_connect_failed(struct router *r, struct rt_conn *c, const char *why,
				uint64_t now);

/* Start a connection to member m. Returns 0 (connecting or connected),
 * -1 when the socket could not even be made. */
static int conn_connect(struct router *r, struct rt_conn *c, int m, uint64_t now)
{
	struct rt_service *s = c->svc;
	struct sockaddr_in sa = node_sockaddr(r, s, m);
	int fd;

	c->member = m;
	lbfo_mask_add(&c->tried, m);
	lbfo_team_start(&s->team, &c->cmd, m, LBFO_READ, 0, now);
	c->started = true;
	s->ms[m].active++;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rt_tune_socket(fd);
	c->bfd = fd;
	c->bev.kind = RT_EV_BACKEND;
	c->bev.ptr = c;
	c->b_reg = false;
	rt_conn_set_connecting(r, c, true);
	if (rt_conn_interest(r, c) < 0)
		return -1;
	c->deadline_ns = now + (uint64_t)s->cfg->connect_timeout_ms * LBFO_NS_PER_MS;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		char why[96];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		conn_connect_failed(r, c, why, now);
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

static void conn_connect_failed(struct router *r, struct rt_conn *c, const char *why,
				uint64_t now)
{
	struct rt_service *s = c->svc;
	int old = c->member, m;

	s->ms[old].connect_fail++;
	if (c->bfd >= 0) {
		close(c->bfd); /* also leaves the epoll set */
		c->bfd = -1;
	}
	c->b_reg = false;
	rt_conn_set_connecting(r, c, false);
	rt_conn_release_member(c, now);
	if (s->ms[old].connect_fail <= 3 || s->ms[old].connect_fail % 1000 == 0)
		rt_event(r, LOG_WARNING, "service %s: node %s: %s (%llu so far); trying another node",
			 s->cfg->name, s->team.m[old].name, why,
			 (unsigned long long)s->ms[old].connect_fail);
	m = rt_pick_member(s, &c->tried, now);
	if (m < 0) {
		s->failed_connect++;
		if (c->new_session) {
			/* No node took it: it was never a session. */
			struct sess *se = c->handle ? sess_find(&r->sessions, &c->key) : NULL;

			s->ms[old].sessions--;
			s->new_sessions--;
			if (se && se->handle == c->handle && se->total <= 1) {
				sess_remove(&r->sessions, se);
				c->handle = 0;
			}
		}
		rt_conn_close(r, c, now);
		return;
	}
	s->retries++;
	if (c->new_session) {
		/* The new session is counted where it lands. */
		s->ms[old].sessions--;
		s->ms[m].sessions++;
	}
	if (c->handle) {
		/* The session moves with the connection. */
		struct sess *se = sess_find(&r->sessions, &c->key);

		if (se && se->handle == c->handle)
			sess_set_node(&r->sessions, se, s->member_node[m], now);
	}
	if (conn_connect(r, c, m, now) < 0)
		conn_connect_failed(r, c, "socket", now);
}

static void conn_connected(struct router *r, struct rt_conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		char why[96];

		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		conn_connect_failed(r, c, why, now);
		return;
	}
	rt_conn_set_connecting(r, c, false);
	c->svc->ms[c->member].conns++;
	rt_conn_pump(r, c, RT_PUMP_UP | RT_PUMP_DOWN, now);
}

void rt_connect_deadlines(struct router *r, uint64_t now)
{
	struct rt_conn *c, *next;

	for (c = r->connecting; c; c = next) {
		next = c->knext;
		if (now >= c->deadline_ns)
			conn_connect_failed(r, c, "connect timed out", now);
	}
}

void rt_conn_start(struct router *r, struct rt_conn *c, int m, uint64_t now)
{
	if (conn_connect(r, c, m, now) < 0)
		conn_connect_failed(r, c, "socket", now);
}

void rt_conn_event(struct router *r, struct rt_ev *e, uint32_t events, uint64_t now)
{
	struct rt_conn *c = e->ptr;

	if (e->kind == RT_EV_CLIENT) {
		rt_conn_pump(r, c, rt_conn_event_dirs(events, true), now);
		return;
	}
	if (c->dead)
		return;
	if (c->connecting)
		conn_connected(r, c, now);
	else
		rt_conn_pump(r, c, rt_conn_event_dirs(events, false), now);
}
