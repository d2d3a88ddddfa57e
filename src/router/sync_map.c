/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session-table replication (sync.h): what the sending side (sync.c) and
 * the receiving side (sync_in.c) share: the clocks, a session's wire form
 * and the maps from addresses and group names to the router's nodes and
 * groups.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "lbfo/core.h"
#include "sync_int.h"

uint64_t rt_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool rt_sync_on(const struct rt_sync *y)
{
	return y->fd >= 0;
}

bool rt_sync_keyed(const struct rt_sync *y)
{
	return y->cfg->sync.key.len > 0;
}

void rt_sync_ep_set(struct rt_sync *y, int fd, struct rt_ev *ev, uint32_t events, int op)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	epoll_ctl(y->ep, op, fd, &e);
}

/* ---- entries ----------------------------------------------------------------- */

uint32_t rt_sync_node_ip(const struct rt_sync *y, int node)
{
	return ntohl(y->cfg->node[node].addr.s_addr);
}

int rt_sync_group_by_hash(const struct rt_sync *y, uint32_t h)
{
	int i;

	for (i = 0; i < y->cfg->ngroups; i++)
		if (y->ghash[i] == h)
			return i;
	return -1;
}

/* A session's last use on the wall clock, fixed until it is used again:
 * what we send is what we compare with (apply), so that two routers
 * deciding a conflict compare the same two numbers. */
uint64_t rt_sync_stamp_of(struct sess *s, uint64_t now, uint64_t wall)
{
	if (!s->stamp_ms || s->stamp_ns != s->last_ns) {
		s->stamp_ms = wall - (now > s->last_ns ? (now - s->last_ns) / LBFO_NS_PER_MS : 0);
		s->stamp_ns = s->last_ns;
	}
	return s->stamp_ms;
}

/* The wire form of a key's state now: set (node, last use) or, when the
 * table no longer has it (sess_remove), delete. False for sessions not
 * replicated: a per-connection session (sticky = address+port) ends with
 * its connection, which a takeover ends anyway. */
bool rt_sync_entry_of(const struct rt_sync *y, const struct sess_key *k, struct sess *s,
		     uint64_t now, uint64_t wall, struct lbfo_sync_entry *e)
{
	if (k->port || k->group >= RT_MAX_SERVICES)
		return false;
	memset(e, 0, sizeof(*e));
	memcpy(e->addr, k->addr, 16);
	e->group = y->ghash[k->group];
	if (!s) {
		e->op = LBFO_SYNC_DEL;
		e->last_ms = wall;
		return true;
	}
	e->op = LBFO_SYNC_SET;
	e->node_ip = rt_sync_node_ip(y, s->node);
	e->last_ms = rt_sync_stamp_of(s, now, wall);
	return true;
}

size_t rt_sync_sessions_n(const struct rt_sync *y)
{
	struct rt_sessions_totals tot;

	rt_sessions_totals(y->ss, &tot);
	return tot.n;
}

/* A peer that vanishes (its host died, a partition ate the FIN) is found
 * by TCP keepalive within about 11 s; unsent data gives up after 10 s. */
void rt_sync_keepalive(int fd)
{
	int one = 1, idle = 5, intvl = 2, cnt = 3, uto = 10000;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
}
