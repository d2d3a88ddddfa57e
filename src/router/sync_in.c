/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session-table replication (sync.h), the receiving side: the connections
 * the peers open to this router (challenge, HELLO, entries) and how a
 * received entry meets the local table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "lbfo/core.h"
#include "sync_int.h"

/* A peer's entry meets ours. Sets and deletes are applied with the journal
 * muted, so that nothing is echoed back. When both have the client on
 * different nodes (a split brain, or two routers that both served it), the
 * more recent use wins, and on a tie the lower node address
 * (lbfo_sync_theirs_wins): every router ends with the same choice whichever
 * order the entries come in. A delete removes only an entry not used after
 * it and with no connection open here. */
static void apply(struct rt_sync *y, const struct lbfo_sync_entry *e, uint64_t now, uint64_t wall)
{
	struct sess_table *t;
	struct sess_key k;
	struct sess *s;
	uint64_t age_ns, last_ns;
	unsigned sh;
	int g = rt_sync_group_by_hash(y, e->group), n = -1;

	if (g < 0 || e->port ||
	    (e->op == LBFO_SYNC_SET && (n = rt_config_node_by_ip(y->cfg, e->node_ip)) < 0)) {
		y->rx_unknown++;
		return;
	}
	memset(&k, 0, sizeof(k));
	memcpy(k.addr, e->addr, 16);
	k.group = (uint16_t)g;
	age_ns = (wall > e->last_ms ? wall - e->last_ms : 0) * LBFO_NS_PER_MS;
	last_ns = now > age_ns ? now - age_ns : 0;
	t = rt_sessions_lock_key(y->ss, &k, &sh);
	t->journal_mute = true;
	s = sess_find(t, &k);
	if (e->op == LBFO_SYNC_DEL) {
		if (s && s->conns == 0 && rt_sync_stamp_of(s, now, wall) <= e->last_ms)
			sess_remove(t, s);
	} else if (!s || s->node == n ||
		   lbfo_sync_theirs_wins(rt_sync_stamp_of(s, now, wall), rt_sync_node_ip(y, s->node),
					 e->last_ms, e->node_ip)) {
		if (!s) {
			s = sess_insert(t, &k, n, now, NULL, NULL);
			s->last_ns = last_ns;
		} else {
			if (s->node != n)
				y->rx_taken++;
			s->node = n;
			if (last_ns > s->last_ns)
				sess_touch(t, s, last_ns);
		}
		if (s->last_ns <= last_ns) {
			s->stamp_ms = e->last_ms;
			s->stamp_ns = s->last_ns;
		}
	} else {
		y->rx_kept++;
	}
	t->journal_mute = false;
	rt_sessions_unlock(y->ss, sh);
	y->rx_applied++;
}

void rt_sync_in_close(struct rt_sync *y, struct rt_sync_in *c, const char *why)
{
	int i;

	if (why)
		lbfo_events_add(y->events, LOG_WARNING, "sync: connection from %s%s%s dropped: %s",
				c->from, c->name[0] ? " " : "", c->name, why);
	close(c->fd);
	for (i = 0; i < RT_SYNC_MAX_IN; i++)
		if (y->in[i] == c)
			y->in[i] = NULL;
	free(c->buf);
	free(c);
}

/* The peer an address belongs to (its IP; any port), or -1. Compared in
 * the 16-byte form (rt_addr), so that a dual-stack listener's
 * ::ffff:a.b.c.d is the IPv4 peer a.b.c.d. */
static int peer_of(const struct rt_sync *y, const struct sockaddr_storage *ss)
{
	struct rt_addr a, p;
	int i;

	rt_addr_from_sockaddr((const struct sockaddr *)ss, &a, NULL);
	for (i = 0; i < y->cfg->sync.npeer; i++) {
		rt_addr_from_sockaddr((const struct sockaddr *)&y->cfg->sync.peer[i], &p, NULL);
		if (!memcmp(&a, &p, sizeof(a)))
			return i;
	}
	return -1;
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	struct rt_addr a;

	rt_addr_from_sockaddr((const struct sockaddr *)ss, &a, NULL);
	rt_addr_text(&a, buf, len);
}

static void in_open(struct rt_sync *y, int fd, const struct sockaddr_storage *ss, uint64_t now)
{
	struct lbfo_sync_hdr h = { .type = LBFO_SYNC_CHALLENGE, .cluster = y->cfg->cluster_id };
	uint8_t m[LBFO_SYNC_HDR + LBFO_SYNC_NONCE];
	struct rt_sync_in *c = calloc(1, sizeof(*c));
	int i, slot = -1;

	for (i = 0; i < RT_SYNC_MAX_IN && slot < 0; i++)
		if (!y->in[i])
			slot = i;
	if (!c || slot < 0 || !(c->buf = malloc(LBFO_SYNC_MAX)) ||
	    rt_random(c->nonce, sizeof(c->nonce)) < 0) {
		if (c)
			free(c->buf);
		free(c);
		close(fd);
		y->refused_full++;
		if ((y->refused_full & (y->refused_full - 1)) == 0)
			lbfo_events_add(y->events, LOG_WARNING, "sync: refused a peer's connection: "
					"%d connections open already, or out of memory (%llu so far)",
					RT_SYNC_MAX_IN, (unsigned long long)y->refused_full);
		return;
	}
	rt_sync_keepalive(fd);
	c->fd = fd;
	c->peer = peer_of(y, ss);
	c->since_ns = now;
	addr_text(ss, c->from, sizeof(c->from));
	y->in[slot] = c;
	h.sent_ms = rt_wall_ms();
	lbfo_sync_hdr_put(m, &h, LBFO_SYNC_NONCE);
	memcpy(m + LBFO_SYNC_HDR, c->nonce, LBFO_SYNC_NONCE);
	if (send(fd, m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
		rt_sync_in_close(y, c, "cannot send the challenge");
		return;
	}
	if (rt_sync_keyed(y))
		rt_key_derive(&y->cfg->sync.key, c->nonce, LBFO_SYNC_NONCE, &c->ckey);
	c->ev.kind = RT_EV_SYNC_IN;
	c->ev.ptr = c;
	rt_sync_ep_set(y, fd, &c->ev, EPOLLIN, EPOLL_CTL_ADD);
}

void rt_sync_accept(struct rt_sync *y, uint64_t now)
{
	int n;

	for (n = 0; n < 64; n++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(y->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (peer_of(y, &ss) < 0) {
			char a[64];

			y->refused_foreign++;
			addr_text(&ss, a, sizeof(a));
			if ((y->refused_foreign & (y->refused_foreign - 1)) == 0)
				lbfo_events_add(y->events, LOG_WARNING, "sync: refused a connection "
						"from %s, which is no peer (%llu so far)", a,
						(unsigned long long)y->refused_foreign);
			close(fd);
			continue;
		}
		in_open(y, fd, &ss, now);
	}
}

/* A peer said HELLO on a new connection: its older ones are dead (it would
 * not open a second one otherwise), and if it is back after a while, our
 * own connection to it need not wait for its back-off. */
static void hello_from(struct rt_sync *y, struct rt_sync_in *c, uint64_t now)
{
	struct rt_sync_peer *p;
	int i;

	/* Closed after this batch of events (rt_sync_flush): one of them may
	 * still be for that connection. */
	for (i = 0; i < RT_SYNC_MAX_IN; i++)
		if (y->in[i] && y->in[i] != c && y->in[i]->peer == c->peer)
			y->in[i]->replaced = true;
	if (c->peer < 0)
		return;
	p = &y->peer[c->peer];
	if (p->st == RT_SYNC_IDLE) {
		p->retry_ns = 0;
		p->next_try_ns = now; /* the next tick (50 ms) connects */
	}
}

/* One whole message at c->buf. Returns 0, or -1 with why (drop the
 * connection: a stream that went wrong cannot be trusted further). */
static int in_message(struct rt_sync *y, struct rt_sync_in *c, const struct lbfo_sync_hdr *h,
		      uint64_t now, const char **why)
{
	size_t blen = h->length - LBFO_SYNC_HDR - ((h->flags & LBFO_SYNC_F_MAC) ? LBFO_SYNC_MAC : 0);
	uint64_t wall = rt_wall_ms();
	size_t i;

	if (rt_sync_keyed(y) && (!(h->flags & LBFO_SYNC_F_MAC) ||
			 !rt_mac_ok(&c->ckey, c->buf, LBFO_SYNC_HDR + blen,
				    c->buf + LBFO_SYNC_HDR + blen))) {
		y->rejected_auth++;
		*why = (h->flags & LBFO_SYNC_F_MAC) ? "bad MAC (another key?)"
						    : "not authenticated, and this router has a key";
		return -1;
	}
	if (h->seq != c->seq + 1 || (!c->hello) != (h->type == LBFO_SYNC_HELLO)) {
		y->rejected_order++;
		*why = "out of order (a HELLO first, then sequence numbers one by one)";
		return -1;
	}
	c->seq = h->seq;
	y->rx_msgs++;
	y->last_rx_ns = now;
	y->lag_ms = (int64_t)wall - (int64_t)h->sent_ms;
	if (y->lag_ms > y->lag_max_ms)
		y->lag_max_ms = y->lag_ms;
	if (h->type == LBFO_SYNC_HELLO) {
		c->hello = true;
		memcpy(c->name, c->buf + LBFO_SYNC_HDR, LBFO_SYNC_NAME);
		c->name[LBFO_SYNC_NAME] = '\0';
		for (i = 0; c->name[i]; i++)
			if (c->name[i] < 0x21 || c->name[i] > 0x7e)
				c->name[i] = '?';
		lbfo_events_add(y->events, LOG_NOTICE, "sync: peer %s (%s) connected%s", c->from,
				c->name, rt_sync_keyed(y) ? " (authenticated)" : "");
		hello_from(y, c, now);
		return 0;
	}
	if (h->type != LBFO_SYNC_ENTRIES) {
		y->rejected[LBFO_SYNC_E_TYPE]++;
		*why = "unexpected message type";
		return -1;
	}
	for (i = 0; i < h->count; i++) {
		struct lbfo_sync_entry e;

		lbfo_sync_entry_get(c->buf + LBFO_SYNC_HDR, i, &e);
		apply(y, &e, now, wall);
	}
	y->rx_entries += h->count;
	return 0;
}

void rt_sync_in_event(struct rt_sync *y, struct rt_sync_in *c, uint64_t now)
{
	int reads;

	/* At most 16 reads (1 MiB) per event: the loop comes back (EPOLLIN is
	 * level-triggered), and the clients' traffic is served in between. */
	for (reads = 0; reads < 16; reads++) {
		struct lbfo_sync_hdr h;
		enum lbfo_sync_err e;
		const char *why = NULL;
		ssize_t n = recv(c->fd, c->buf + c->len, LBFO_SYNC_MAX - c->len, 0);

		if (n == 0) {
			rt_sync_in_close(y, c, c->hello ? "closed by the peer" : NULL);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				rt_sync_in_close(y, c, strerror(errno));
			return;
		}
		c->len += (size_t)n;
		while ((e = lbfo_sync_parse(c->buf, c->len, y->cfg->cluster_id, &h)) == LBFO_SYNC_OK) {
			if (in_message(y, c, &h, now, &why) < 0) {
				rt_sync_in_close(y, c, why);
				return;
			}
			memmove(c->buf, c->buf + h.length, c->len - h.length);
			c->len -= h.length;
		}
		if (e != LBFO_SYNC_E_SHORT) {
			char w[96];

			y->rejected[e]++;
			snprintf(w, sizeof(w), "malformed message (%s)", lbfo_sync_err_name(e));
			rt_sync_in_close(y, c, w);
			return;
		}
	}
}

