/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router's side of the discovery protocol (seed 002, FIG 7-9; bytes
 * in docs/protocol.md). Nodes announce (FIG 7); the router answers each
 * announcement with its address (FIG 8) and, when a node joins or
 * rejoins, tells it the router and management-node addresses (FIG 9);
 * also when a node's agent announces from another address or port than
 * before: a restarted agent, which knows neither address yet, whose node
 * is still up because it came back within the detection window.
 * A node that misses miss_limit announcement periods is failed through
 * the core; an announcement brings it back.
 *
 * Nodes address announcements to the router (unicast), to a broadcast
 * address, or to a multicast group: with `discovery = GROUP:PORT` the
 * socket is bound to the group (so it hears that group only) and joins it
 * on discovery_interface. Replies always go back by unicast to the
 * announcing agent's address and port.
 *
 * What it learns about nodes goes up through struct rt_disc_ops (the loop
 * applies it to the services' teams); this file knows no team.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "router.h"

/* Join the discovery group; on failure say which group, where and why. */
/* An event in the router's ring, which the workers write too. */
__attribute__((format(printf, 3, 4)))
static void disc_event(struct rt_disc *d, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(d->events_lock);
	lbfo_events_vadd(d->events, level, fmt, ap);
	pthread_mutex_unlock(d->events_lock);
	va_end(ap);
}

static int join_group(struct rt_disc *d, char *err, size_t errlen)
{
	struct ip_mreqn mr = { .imr_address = d->cfg->disc_iface };
	char g[INET_ADDRSTRLEN], i[INET_ADDRSTRLEN];
	int zero = 0;

	mr.imr_multiaddr = d->cfg->disc_listen.sin_addr;
	inet_ntop(AF_INET, &mr.imr_multiaddr, g, sizeof(g));
	if (mr.imr_address.s_addr)
		inet_ntop(AF_INET, &mr.imr_address, i, sizeof(i));
	else
		snprintf(i, sizeof(i), "any");
	if (setsockopt(d->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
		int e = errno;

		snprintf(err, errlen, "discovery: cannot join multicast group %s on interface "
			 "%s (IP_ADD_MEMBERSHIP): %s%s", g, i, strerror(e),
			 e == ENODEV ? " (the interface needs the MULTICAST flag and a "
			 "route for the group, e.g. ip route add 224.0.0.0/4 dev IF)" : "");
		return -1;
	}
	/* Only this socket's own groups, not every group the host joined. */
	if (setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero)) < 0) {
		snprintf(err, errlen, "discovery: multicast group %s: IP_MULTICAST_ALL: %s",
			 g, strerror(errno));
		return -1;
	}
	disc_event(d, LOG_INFO, "discovery: joined multicast group %s:%u on "
			"interface %s", g, ntohs(d->cfg->disc_listen.sin_port), i);
	return 0;
}

int rt_disc_open(struct rt_disc *d, int ep, char *err, size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	const struct rt_config *c = d->cfg;
	int one = 1;

	d->fd = -1;
	if (!c->discovery)
		return 0;
	d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0)
		goto sys;
	setsockopt(d->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(d->fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	/* Which local address each announcement reached: replies leave from
	 * it, so an agent that only trusts its --router targets hears them
	 * also when this socket is bound to 0.0.0.0. */
	setsockopt(d->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (bind(d->fd, (const struct sockaddr *)&c->disc_listen, sizeof(c->disc_listen)) < 0)
		goto sys;
	if (rt_disc_is_multicast(c) && join_group(d, err, errlen) < 0)
		return -1;
	d->ev.kind = RT_EV_DISC;
	d->ev.ptr = d;
	ev.data.ptr = &d->ev;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, d->fd, &ev) < 0)
		goto sys;
	return 0;
sys:
	{
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &c->disc_listen.sin_addr, a, sizeof(a));
		snprintf(err, errlen, "discovery socket %s:%u: %s", a,
			 ntohs(c->disc_listen.sin_port), strerror(errno));
	}
	return -1;
}

void rt_disc_close(struct rt_disc *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static void send_msg(struct rt_disc *d, struct rt_node *n, uint16_t type, uint16_t func)
{
	struct lbfo_disc_msg m = { 0 };
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint8_t buf[LBFO_DISC_AUTH_LEN];
	size_t len;

	m.src_ip = ntohl(d->cfg->router_addr.s_addr);
	m.dst_ip = n->agent_ip;
	m.cluster = d->cfg->cluster_id;
	m.type = type;
	m.func = func;
	m.router_ip = ntohl(d->cfg->router_addr.s_addr);
	if (type == LBFO_DISC_ASSIGN)
		m.mgmt_ip = ntohl(d->cfg->mgmt_addr.s_addr);
	m.src_port = ntohs(d->cfg->disc_listen.sin_port);
	m.dst_port = n->agent_port;
	if (d->cfg->disc_key.len) {
		m.flags = LBFO_DISC_F_AUTH;
		m.stamp = rt_disc_stamp(&d->tx_stamp);
	}
	len = lbfo_disc_encode(&m, buf, sizeof(buf));
	rt_disc_seal(&d->cfg->disc_key, buf, len);
	to.sin_addr.s_addr = htonl(n->agent_ip);
	to.sin_port = htons(n->agent_port);
	{
		struct iovec iov = { .iov_base = buf, .iov_len = len };
		union {
			char b[CMSG_SPACE(sizeof(struct in_pktinfo))];
			struct cmsghdr align;
		} ctl;
		struct msghdr mh = { .msg_name = &to, .msg_namelen = sizeof(to),
				     .msg_iov = &iov, .msg_iovlen = 1 };

		if (n->reply_src) {
			struct cmsghdr *cm;
			struct in_pktinfo pi = { .ipi_spec_dst.s_addr = n->reply_src };

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.b;
			mh.msg_controllen = sizeof(ctl.b);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		}
		if (sendmsg(d->fd, &mh, MSG_DONTWAIT) == (ssize_t)len)
			d->tx++;
	}
}

/* The node's agent announces from somewhere new (address or port; the
 * address is the node's, so in practice a new port): it was restarted and
 * lost what FIG 9 told its predecessor. Tell it again. */
static void agent_restarted(struct rt_disc *d, int ni, uint32_t old_ip, uint16_t old_port)
{
	struct rt_node *n = &d->node[ni];
	char was[32], now[32];
	uint64_t k = ++n->agent_restarts;

	if (old_ip == n->agent_ip) {
		snprintf(was, sizeof(was), "%u", old_port);
		snprintf(now, sizeof(now), "%u", n->agent_port);
	} else {
		struct in_addr a = { .s_addr = htonl(old_ip) }, b = { .s_addr = htonl(n->agent_ip) };
		char as[INET_ADDRSTRLEN], bs[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a, as, sizeof(as));
		inet_ntop(AF_INET, &b, bs, sizeof(bs));
		snprintf(was, sizeof(was), "%s:%u", as, old_port);
		snprintf(now, sizeof(now), "%s:%u", bs, n->agent_port);
	}
	send_msg(d, n, LBFO_DISC_ASSIGN, LBFO_DISC_F_ADDRESSES); /* FIG 9 */
	/* Two agents for one node would alternate on every announcement:
	 * the first 10, then every 1000th. */
	if (k <= 10 || k % 1000 == 0)
		disc_event(d, LOG_NOTICE, "agent of node %s restarted (%s %s -> %s): "
				"told router and management again (restart %llu of its agent; "
				"node still %s)",
			 n->cfg->name, old_ip == n->agent_ip ? "port" : "address", was, now,
			 (unsigned long long)k, rt_node_state_name(n->state));
}

static void handle(struct rt_disc *d, const struct lbfo_disc_msg *m,
		   const struct sockaddr_in *from, uint32_t local, int ni, uint64_t now)
{
	struct rt_node *n;
	uint32_t old_ip;
	uint16_t old_port;
	bool moved;

	if (m->type != LBFO_DISC_ANNOUNCE) {
		d->unexpected++; /* replies are for nodes, not routers */
		return;
	}
	if (ni < 0) {
		char a[INET_ADDRSTRLEN];
		struct in_addr ia = { .s_addr = htonl(m->src_ip) };

		d->unknown++;
		if (d->unknown <= 5 || d->unknown % 1000 == 0) {
			inet_ntop(AF_INET, &ia, a, sizeof(a));
			disc_event(d, LOG_WARNING, "announcement from %s, which is no "
					"[node] of this router (%llu so far); ignored", a,
					(unsigned long long)d->unknown);
		}
		return;
	}
	n = &d->node[ni];
	d->ok++;
	n->hellos++;
	n->last_hello_ns = now;
	old_ip = n->agent_ip;
	old_port = n->agent_port;
	n->agent_ip = ntohl(from->sin_addr.s_addr);
	n->agent_port = ntohs(from->sin_port);
	n->reply_src = local;
	/* Heard before (port 0 = never), and now from somewhere else. */
	moved = old_port && (old_ip != n->agent_ip || old_port != n->agent_port);
	if (m->func == LBFO_DISC_F_LEAVE) {
		send_msg(d, n, LBFO_DISC_REPLY, LBFO_DISC_F_ACK);
		n->leaves++;
		if (n->state == RT_NODE_UP)
			d->ops->node_failed(d->ctx, ni, "left (announced leave)", now);
		return;
	}
	send_msg(d, n, LBFO_DISC_REPLY, LBFO_DISC_F_ACK); /* FIG 8 */
	if (n->state == RT_NODE_UNKNOWN || n->state == RT_NODE_FAILED) {
		char why[96];

		n->priority = m->priority;
		snprintf(why, sizeof(why), "announced (priority %u)", m->priority);
		d->ops->node_up(d->ctx, ni, why, now);
		send_msg(d, n, LBFO_DISC_ASSIGN, LBFO_DISC_F_ADDRESSES); /* FIG 9 */
		return;
	}
	/* Up (or admin-down): a new agent gets FIG 9 as well. */
	if (moved)
		agent_restarted(d, ni, old_ip, old_port);
	if (n->state == RT_NODE_UP && m->priority != n->priority)
		d->ops->node_priority(d->ctx, ni, m->priority, now);
}

void rt_disc_input(struct rt_disc *d, uint64_t now)
{
	for (;;) {
		uint8_t buf[2048];
		struct sockaddr_in from;
		struct lbfo_disc_msg m;
		enum lbfo_disc_err e;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		union {
			char b[CMSG_SPACE(sizeof(struct in_pktinfo))];
			struct cmsghdr align;
		} ctl;
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *cm;
		uint32_t local = 0;
		int ni;
		ssize_t n = recvmsg(d->fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		d->rx++;
		/* The local address the announcement reached (for a unicast
		 * one, its destination; for a broadcast or multicast one, the
		 * receiving interface's address). */
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				local = pi.ipi_spec_dst.s_addr;
			}
		e = lbfo_disc_check(buf, (size_t)n, d->cfg->cluster_id, &m);
		/* The source field must be the sender: a node speaks for itself. */
		if (e == LBFO_DISC_OK && m.type == LBFO_DISC_ANNOUNCE &&
		    m.src_ip != ntohl(from.sin_addr.s_addr))
			e = LBFO_DISC_E_SOURCE;
		ni = e == LBFO_DISC_OK ? rt_config_node_by_ip(d->cfg, m.src_ip) : -1;
		/* With a key: authentic, and newer than the node's last. */
		if (e == LBFO_DISC_OK && d->cfg->disc_key.len) {
			e = rt_disc_verify(&d->cfg->disc_key, buf, (size_t)n, m.flags, m.stamp,
					   rt_wall_us(), (uint64_t)d->cfg->disc_skew_ms * 1000,
					   ni >= 0 ? &d->node[ni].last_stamp : NULL);
		}
		if (e != LBFO_DISC_OK) {
			d->drop[e]++;
			continue;
		}
		handle(d, &m, &from, local, ni, now);
	}
}

void rt_disc_tick(struct rt_disc *d, uint64_t now)
{
	uint64_t window = (uint64_t)d->cfg->miss_limit * d->cfg->announce_interval_ms *
			  LBFO_NS_PER_MS;
	int i;

	if (!d->cfg->discovery)
		return;
	for (i = 0; i < d->nnode; i++) {
		struct rt_node *n = &d->node[i];

		if (n->state == RT_NODE_UP && now - n->last_hello_ns > window) {
			char why[128];

			snprintf(why, sizeof(why), "missed %u announcements (none for %llu ms)",
				 d->cfg->miss_limit,
				 (unsigned long long)((now - n->last_hello_ns) / LBFO_NS_PER_MS));
			d->ops->node_failed(d->ctx, i, why, now);
		}
	}
}
