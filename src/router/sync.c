/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session-table replication (sync.h, docs/sync.md): the connections to the
 * peers (sending), the connections from them (receiving), and how a
 * received entry meets the local table.
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
#include "sync.h"

#define OUT_MAX (16u << 20)       /* unsent bytes to a peer before it is dropped */
#define DUMP_CHUNK (256u << 10)   /* whole-table bytes queued per pump */
#define RETRY_NS (500 * LBFO_NS_PER_MS)
#define HANDSHAKE_NS (2 * LBFO_NS_PER_SEC)
#define BATCH 512

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

static bool keyed(const struct rt_sync *y)
{
	return y->cfg->sync.key.len > 0;
}

static void ep_set(struct rt_sync *y, int fd, struct rt_ev *ev, uint32_t events, int op)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	epoll_ctl(y->ep, op, fd, &e);
}

/* ---- entries ----------------------------------------------------------------- */

static uint32_t node_ip(const struct rt_sync *y, int node)
{
	return ntohl(y->cfg->node[node].addr.s_addr);
}

static int node_by_ip(const struct rt_sync *y, uint32_t ip)
{
	int i;

	for (i = 0; i < y->cfg->nnode; i++)
		if (node_ip(y, i) == ip)
			return i;
	return -1;
}

static int group_by_hash(const struct rt_sync *y, uint32_t h)
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
static uint64_t stamp_of(struct sess *s, uint64_t now, uint64_t wall)
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
static bool entry_of(const struct rt_sync *y, const struct sess_key *k, struct sess *s,
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
	e->node_ip = node_ip(y, s->node);
	e->last_ms = stamp_of(s, now, wall);
	return true;
}

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
	int g = group_by_hash(y, e->group), n = -1;

	if (g < 0 || e->port || (e->op == LBFO_SYNC_SET && (n = node_by_ip(y, e->node_ip)) < 0)) {
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
		if (s && s->conns == 0 && stamp_of(s, now, wall) <= e->last_ms)
			sess_remove(t, s);
	} else if (!s || s->node == n ||
		   lbfo_sync_theirs_wins(stamp_of(s, now, wall), node_ip(y, s->node), e->last_ms,
					 e->node_ip)) {
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

static size_t sessions_n(const struct rt_sync *y)
{
	struct rt_sessions_totals tot;

	rt_sessions_totals(y->ss, &tot);
	return tot.n;
}

/* ---- sending ------------------------------------------------------------------- */

static void in_close(struct rt_sync *y, struct rt_sync_in *c, const char *why);

static void peer_down(struct rt_sync *y, struct rt_sync_peer *p, uint64_t now, const char *why)
{
	const char *name = y->cfg->sync.peer_text[p - y->peer];

	if (p->st == RT_SYNC_UP) {
		p->st_was_up_ns = p->since_ns;
		lbfo_events_add(y->events, LOG_WARNING, "sync: peer %s lost: %s", name, why);
	}
	else if (strcmp(p->err, why))
		lbfo_events_add(y->events, LOG_INFO, "sync: peer %s not reached: %s", name, why);
	snprintf(p->err, sizeof(p->err), "%s", why);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->st = RT_SYNC_IDLE;
	p->out_len = p->out_off = p->in_len = 0;
	p->dumping = p->want_out = false;
	/* Again soon; but a peer that keeps ending the connection at once
	 * (another key, say) is retried less and less often, up to 4 s. A
	 * peer that connects to us is connected to at once (rt_sync_in). */
	if (p->st_was_up_ns && now - p->st_was_up_ns > 4 * RETRY_NS)
		p->retry_ns = 0;
	p->retry_ns = p->retry_ns ? (p->retry_ns * 2 > 8 * RETRY_NS ? 8 * RETRY_NS
								   : p->retry_ns * 2) : RETRY_NS;
	p->st_was_up_ns = 0;
	p->next_try_ns = now + p->retry_ns;
}

/* Room for n more bytes at the end of the output. */
static uint8_t *out_room(struct rt_sync_peer *p, size_t n)
{
	if (p->out_off && p->out_off == p->out_len)
		p->out_off = p->out_len = 0;
	if (p->out_len + n > p->out_cap) {
		size_t cap = p->out_cap ? p->out_cap : 65536;
		uint8_t *b;

		if (p->out_off) {
			memmove(p->out, p->out + p->out_off, p->out_len - p->out_off);
			p->out_len -= p->out_off;
			p->out_off = 0;
		}
		while (cap < p->out_len + n)
			cap *= 2;
		if (cap != p->out_cap) {
			b = realloc(p->out, cap);
			if (!b)
				return NULL;
			p->out = b;
			p->out_cap = cap;
		}
	}
	return p->out + p->out_len;
}

/* Append a message whose body (blen bytes) the caller wrote at m + HDR. */
static void msg_close(struct rt_sync *y, struct rt_sync_peer *p, uint8_t *m, uint8_t type,
		      uint16_t count, size_t blen)
{
	struct lbfo_sync_hdr h = {
		.type = type, .flags = keyed(y) ? LBFO_SYNC_F_MAC : 0, .cluster = y->cfg->cluster_id,
		.count = count, .seq = ++p->seq, .sent_ms = rt_wall_ms(),
	};

	lbfo_sync_hdr_put(m, &h, blen);
	if (keyed(y))
		rt_mac(&p->ckey, m, LBFO_SYNC_HDR + blen, m + LBFO_SYNC_HDR + blen);
	p->out_len += LBFO_SYNC_HDR + blen + (keyed(y) ? LBFO_SYNC_MAC : 0);
	p->msgs++;
	p->entries += count;
	y->tx_entries += count;
}

static int send_entries(struct rt_sync *y, struct rt_sync_peer *p,
			const struct lbfo_sync_entry *e, size_t n)
{
	size_t i;
	uint8_t *m = out_room(p, LBFO_SYNC_HDR + n * LBFO_SYNC_ENTRY + LBFO_SYNC_MAC);

	if (!m)
		return -1;
	for (i = 0; i < n; i++)
		lbfo_sync_entry_put(m + LBFO_SYNC_HDR + i * LBFO_SYNC_ENTRY, &e[i]);
	msg_close(y, p, m, LBFO_SYNC_ENTRIES, (uint16_t)n, n * LBFO_SYNC_ENTRY);
	return 0;
}

/* The next part of the whole table: from the pool slot where the last one
 * stopped, so that changes in between do not upset the walk (what changes
 * behind the cursor is in the journal). */
static int dump_more(struct rt_sync *y, struct rt_sync_peer *p, uint64_t now)
{
	struct lbfo_sync_entry e[BATCH];
	uint64_t wall = rt_wall_ms();

	while (p->dumping && p->out_len - p->out_off < DUMP_CHUNK) {
		struct sess_table *t = rt_sessions_lock_shard(y->ss, p->dump_shard);
		size_t n = 0;
		bool end;

		while (n < BATCH && p->dump_cursor < t->cap) {
			struct sess *s = sess_slot(t, p->dump_cursor++);

			if (s && entry_of(y, &s->key, s, now, wall, &e[n]))
				n++;
		}
		end = p->dump_cursor >= t->cap;
		rt_sessions_unlock(y->ss, p->dump_shard);
		if (n && send_entries(y, p, e, n) < 0)
			return -1;
		if (end) {
			p->dump_cursor = 0;
			if (++p->dump_shard >= y->ss->nshard) {
				p->dump_shard = 0;
				p->dumping = false;
				p->dumps++;
			}
		}
	}
	return 0;
}

/* Write what is queued; while the whole table is being sent, at most 1 MiB
 * of it per call, then back to the loop (EPOLLOUT brings us back), so a
 * large table does not hold up the clients' traffic. */
static void pump(struct rt_sync *y, struct rt_sync_peer *p, uint64_t now)
{
	int refills = 0;
	bool want;

	if (dump_more(y, p, now) < 0) {
		peer_down(y, p, now, "out of memory");
		return;
	}
	while (p->out_off < p->out_len) {
		ssize_t w = send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			char why[96];

			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			peer_down(y, p, now, why);
			return;
		}
		p->out_off += (size_t)w;
		p->last_tx_ns = now;
		if (p->out_off == p->out_len && p->dumping && ++refills < 4 &&
		    dump_more(y, p, now) < 0) {
			peer_down(y, p, now, "out of memory");
			return;
		}
	}
	if (p->out_len - p->out_off > OUT_MAX) {
		peer_down(y, p, now, "peer too slow: 16 MiB unsent");
		return;
	}
	want = p->out_off < p->out_len || p->dumping;
	if (want != p->want_out) {
		p->want_out = want;
		ep_set(y, p->fd, &p->ev, EPOLLIN | (want ? EPOLLOUT : 0), EPOLL_CTL_MOD);
	}
}

/* A peer that vanishes (its host died, a partition ate the FIN) is found
 * by TCP keepalive within about 11 s; unsent data gives up after 10 s. */
static void keepalive(int fd)
{
	int one = 1, idle = 5, intvl = 2, cnt = 3, uto = 10000;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
}

static void peer_connect(struct rt_sync *y, struct rt_sync_peer *p, uint64_t now)
{
	int i = (int)(p - y->peer), one = 1;
	const struct sockaddr_storage *a = &y->cfg->sync.peer[i];
	int fd = socket(a->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		peer_down(y, p, now, strerror(errno));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	keepalive(fd);
	/* From our own [sync] listen address: that is how the peer knows us. */
	if (a->ss_family == y->cfg->sync.listen.ss_family) {
		struct sockaddr_storage src = y->cfg->sync.listen;

		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&src)->sin6_port = 0;
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		bind(fd, (struct sockaddr *)&src, y->cfg->sync.listen_len);
	}
	p->fd = fd;
	p->st = RT_SYNC_CONNECTING;
	p->since_ns = now;
	p->seq = 0;
	if (connect(fd, (const struct sockaddr *)a, y->cfg->sync.peer_len[i]) < 0 &&
	    errno != EINPROGRESS) {
		char why[96];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		peer_down(y, p, now, why);
		return;
	}
	p->ev.kind = RT_EV_SYNC_PEER;
	p->ev.ptr = p;
	ep_set(y, fd, &p->ev, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
	p->want_out = true;
}

/* The receiver's challenge came: say hello, then the whole table. */
static void peer_challenged(struct rt_sync *y, struct rt_sync_peer *p, uint64_t now)
{
	struct lbfo_sync_hdr h;
	enum lbfo_sync_err e = lbfo_sync_parse(p->in, p->in_len, y->cfg->cluster_id, &h);
	uint8_t *m;

	if (e == LBFO_SYNC_E_SHORT && p->in_len < sizeof(p->in))
		return;
	if (e != LBFO_SYNC_OK || h.type != LBFO_SYNC_CHALLENGE) {
		char why[96];

		snprintf(why, sizeof(why), "bad challenge (%s)",
			 e != LBFO_SYNC_OK ? lbfo_sync_err_name(e) : "type");
		peer_down(y, p, now, why);
		return;
	}
	if (keyed(y))
		rt_key_derive(&y->cfg->sync.key, p->in + LBFO_SYNC_HDR, LBFO_SYNC_NONCE, &p->ckey);
	m = out_room(p, LBFO_SYNC_HDR + LBFO_SYNC_NAME + LBFO_SYNC_MAC);
	if (!m) {
		peer_down(y, p, now, "out of memory");
		return;
	}
	memset(m + LBFO_SYNC_HDR, 0, LBFO_SYNC_NAME);
	memcpy(m + LBFO_SYNC_HDR, y->name, strlen(y->name));
	msg_close(y, p, m, LBFO_SYNC_HELLO, 0, LBFO_SYNC_NAME);
	p->st = RT_SYNC_UP;
	p->since_ns = now;
	p->connects++;
	p->err[0] = '\0';
	p->dumping = true;
	p->dump_shard = 0;
	p->dump_cursor = 0;
	lbfo_events_add(y->events, LOG_NOTICE, "sync: connected to peer %s%s; sending the whole "
			"table (%zu sessions)", y->cfg->sync.peer_text[p - y->peer],
			keyed(y) ? " (authenticated)" : "", sessions_n(y));
	pump(y, p, now);
}

void rt_sync_peer_event(struct rt_sync *y, struct rt_sync_peer *p, uint32_t events, uint64_t now)
{
	if (p->st == RT_SYNC_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			char why[96];

			snprintf(why, sizeof(why), "connect: %s", strerror(err));
			peer_down(y, p, now, why);
			return;
		}
		p->st = RT_SYNC_CHALLENGED;
		p->want_out = false;
		ep_set(y, p->fd, &p->ev, EPOLLIN, EPOLL_CTL_MOD);
		return;
	}
	if (events & EPOLLIN) {
		uint8_t junk[64];
		uint8_t *dst = p->st == RT_SYNC_CHALLENGED ? p->in + p->in_len : junk;
		size_t room = p->st == RT_SYNC_CHALLENGED ? sizeof(p->in) - p->in_len : sizeof(junk);
		ssize_t n = recv(p->fd, dst, room, 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			peer_down(y, p, now, n == 0 ? "closed by the peer" : strerror(errno));
			return;
		}
		if (n > 0 && p->st != RT_SYNC_CHALLENGED) {
			peer_down(y, p, now, "the peer sent data after its challenge");
			return;
		}
		if (n > 0) {
			p->in_len += (size_t)n;
			peer_challenged(y, p, now);
			return;
		}
	}
	if (p->st == RT_SYNC_UP && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		pump(y, p, now);
}

/* Send what the journal of one shard holds (under its lock) to every
 * peer that is up. */
static void flush_shard(struct rt_sync *y, unsigned i, uint64_t now, uint64_t wall,
			uint64_t *lost)
{
	struct sess_key k[BATCH];
	struct lbfo_sync_entry e[BATCH];
	struct sess_table *t = rt_sessions_lock_shard(y->ss, i);
	size_t n, j, m;
	int q;

	*lost += t->journal_lost;
	y->ss->shard[i].poked = false;
	while ((n = sess_journal_take(t, k, BATCH)) > 0) {
		for (j = m = 0; j < n; j++)
			if (entry_of(y, &k[j], sess_find(t, &k[j]), now, wall, &e[m]))
				m++;
		for (q = 0; m && q < y->cfg->sync.npeer; q++) {
			struct rt_sync_peer *p = &y->peer[q];

			if (p->st == RT_SYNC_UP && send_entries(y, p, e, m) < 0)
				peer_down(y, p, now, "out of memory");
		}
	}
	rt_sessions_unlock(y->ss, i);
}

void rt_sync_wake(struct rt_sync *y)
{
	uint64_t v;

	if (read(y->wake_fd, &v, sizeof(v)) < 0) {
		/* nothing to read: woken already */
	}
}

void rt_sync_flush(struct rt_sync *y, uint64_t now)
{
	uint64_t wall, lost = 0;
	unsigned i;
	int j;

	if (!rt_sync_on(y))
		return;
	for (j = 0; j < RT_SYNC_MAX_IN; j++)
		if (y->in[j] && y->in[j]->replaced)
			in_close(y, y->in[j], "replaced by the peer's new connection");
	wall = rt_wall_ms();
	for (i = 0; i < y->ss->nshard; i++)
		flush_shard(y, i, now, wall, &lost);
	if (lost != y->journal_lost_seen) {
		/* Changes were lost: send everything again, also to a peer in
		 * the middle of a walk (what changed behind its cursor). */
		y->journal_lost_seen = lost;
		for (j = 0; j < y->cfg->sync.npeer; j++)
			if (y->peer[j].st == RT_SYNC_UP) {
				y->peer[j].dumping = true;
				y->peer[j].dump_shard = 0;
				y->peer[j].dump_cursor = 0;
			}
	}
	for (j = 0; j < y->cfg->sync.npeer; j++)
		if (y->peer[j].st == RT_SYNC_UP)
			pump(y, &y->peer[j], now);
}

/* ---- receiving ---------------------------------------------------------------- */

static void in_close(struct rt_sync *y, struct rt_sync_in *c, const char *why)
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

static int peer_of(const struct rt_sync *y, const struct sockaddr_storage *in)
{
	struct sockaddr_storage v4;
	const struct sockaddr_storage *ss = in;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)in;
	int i;

	/* A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d. */
	if (in->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&v4;

		memset(&v4, 0, sizeof(v4));
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		ss = &v4;
	}

	for (i = 0; i < y->cfg->sync.npeer; i++) {
		const struct sockaddr_storage *p = &y->cfg->sync.peer[i];

		if (p->ss_family != ss->ss_family)
			continue;
		if (ss->ss_family == AF_INET &&
		    ((const struct sockaddr_in *)p)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)ss)->sin_addr.s_addr)
			return i;
		if (ss->ss_family == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)p)->sin6_addr,
			    &((const struct sockaddr_in6 *)ss)->sin6_addr, 16))
			return i;
	}
	return -1;
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof(a));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof(a));
	snprintf(buf, len, "%s", a);
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
	keepalive(fd);
	c->fd = fd;
	c->peer = peer_of(y, ss);
	c->since_ns = now;
	addr_text(ss, c->from, sizeof(c->from));
	y->in[slot] = c;
	h.sent_ms = rt_wall_ms();
	lbfo_sync_hdr_put(m, &h, LBFO_SYNC_NONCE);
	memcpy(m + LBFO_SYNC_HDR, c->nonce, LBFO_SYNC_NONCE);
	if (send(fd, m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
		in_close(y, c, "cannot send the challenge");
		return;
	}
	if (keyed(y))
		rt_key_derive(&y->cfg->sync.key, c->nonce, LBFO_SYNC_NONCE, &c->ckey);
	c->ev.kind = RT_EV_SYNC_IN;
	c->ev.ptr = c;
	ep_set(y, fd, &c->ev, EPOLLIN, EPOLL_CTL_ADD);
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
		peer_connect(y, p, now);
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

	if (keyed(y) && (!(h->flags & LBFO_SYNC_F_MAC) ||
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
				c->name, keyed(y) ? " (authenticated)" : "");
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
			in_close(y, c, c->hello ? "closed by the peer" : NULL);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				in_close(y, c, strerror(errno));
			return;
		}
		c->len += (size_t)n;
		while ((e = lbfo_sync_parse(c->buf, c->len, y->cfg->cluster_id, &h)) == LBFO_SYNC_OK) {
			if (in_message(y, c, &h, now, &why) < 0) {
				in_close(y, c, why);
				return;
			}
			memmove(c->buf, c->buf + h.length, c->len - h.length);
			c->len -= h.length;
		}
		if (e != LBFO_SYNC_E_SHORT) {
			char w[96];

			y->rejected[e]++;
			snprintf(w, sizeof(w), "malformed message (%s)", lbfo_sync_err_name(e));
			in_close(y, c, w);
			return;
		}
	}
}

/* ---- life cycle ------------------------------------------------------------------ */

static int open_listen(struct rt_sync *y, int ep, char *err, size_t errlen)
{
	const struct rt_sync_cfg *sc = &y->cfg->sync;
	int one = 1;

	y->fd = socket(sc->listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (y->fd < 0)
		goto fail;
	setsockopt(y->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* A router may listen before it has its address (keepalived). */
	setsockopt(y->fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(y->fd, (const struct sockaddr *)&sc->listen, sc->listen_len) < 0 ||
	    listen(y->fd, 16) < 0)
		goto fail;
	y->listen_ev.kind = RT_EV_SYNC_LISTEN;
	y->listen_ev.ptr = y;
	ep_set(y, y->fd, &y->listen_ev, EPOLLIN, EPOLL_CTL_ADD);
	(void)ep;
	return 0;
fail:
	snprintf(err, errlen, "[sync] listen %s: %s", sc->listen_text, strerror(errno));
	if (y->fd >= 0)
		close(y->fd);
	y->fd = -1;
	return -1;
}

int rt_sync_open(struct rt_sync *y, const struct rt_config *cfg, struct rt_sessions *ss,
		 struct lbfo_events *events, int ep, uint64_t now, char *err, size_t errlen)
{
	size_t jcap = 65536 / ss->nshard < 1024 ? 1024 : 65536 / ss->nshard;
	unsigned sh;
	int i;

	memset(y, 0, sizeof(*y));
	y->cfg = cfg;
	y->ss = ss;
	y->wake_fd = -1;
	y->events = events;
	y->ep = ep;
	y->fd = -1;
	for (i = 0; i < RT_MAX_PEERS; i++)
		y->peer[i].fd = -1;
	if (!cfg->sync.on)
		return 0;
	for (i = 0; i < cfg->nsvc; i++)
		if (cfg->svc[i].group_id >= 0 && cfg->svc[i].group_id < RT_MAX_SERVICES)
			y->ghash[cfg->svc[i].group_id] = lbfo_sync_group_hash(cfg->svc[i].group);
	if (gethostname(y->name, sizeof(y->name) - 1) < 0)
		snprintf(y->name, sizeof(y->name), "lbfo-router");
	for (sh = 0; sh < ss->nshard; sh++) {
		struct sess_table *t = rt_sessions_lock_shard(ss, sh);
		int rc = sess_journal_init(t, jcap, (uint64_t)cfg->sync.refresh_ms * LBFO_NS_PER_MS);

		rt_sessions_unlock(ss, sh);
		if (rc < 0) {
			snprintf(err, errlen, "[sync]: out of memory");
			return -1;
		}
	}
	y->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (y->wake_fd < 0) {
		snprintf(err, errlen, "[sync]: eventfd: %s", strerror(errno));
		return -1;
	}
	y->wake_ev.kind = RT_EV_SYNC_WAKE;
	y->wake_ev.ptr = y;
	ep_set(y, y->wake_fd, &y->wake_ev, EPOLLIN, EPOLL_CTL_ADD);
	ss->wake_fd = y->wake_fd;
	if (open_listen(y, ep, err, errlen) < 0)
		return -1;
	for (i = 0; i < cfg->sync.npeer; i++)
		peer_connect(y, &y->peer[i], now);
	return 0;
}

void rt_sync_close(struct rt_sync *y)
{
	int i;

	if (!y->cfg)
		return; /* never opened */
	for (i = 0; i < RT_SYNC_MAX_IN; i++)
		if (y->in[i])
			in_close(y, y->in[i], NULL);
	for (i = 0; i < RT_MAX_PEERS; i++) {
		if (y->peer[i].fd >= 0)
			close(y->peer[i].fd);
		free(y->peer[i].out);
		y->peer[i].out = NULL;
		y->peer[i].fd = -1;
	}
	if (y->fd >= 0)
		close(y->fd);
	y->fd = -1;
	if (y->wake_fd >= 0) {
		y->ss->wake_fd = -1;
		close(y->wake_fd);
	}
	y->wake_fd = -1;
}

void rt_sync_tick(struct rt_sync *y, uint64_t now)
{
	int i;

	if (!rt_sync_on(y))
		return;
	for (i = 0; i < y->cfg->sync.npeer; i++) {
		struct rt_sync_peer *p = &y->peer[i];

		if (p->st == RT_SYNC_IDLE && now >= p->next_try_ns)
			peer_connect(y, p, now);
		else if ((p->st == RT_SYNC_CONNECTING || p->st == RT_SYNC_CHALLENGED) &&
			 now - p->since_ns > HANDSHAKE_NS)
			peer_down(y, p, now, p->st == RT_SYNC_CONNECTING ? "connect: timed out"
									 : "no challenge within 2 s");
		else if (p->st == RT_SYNC_UP && p->dumping)
			pump(y, p, now);
	}
	for (i = 0; i < RT_SYNC_MAX_IN; i++)
		if (y->in[i] && !y->in[i]->hello && now - y->in[i]->since_ns > HANDSHAKE_NS)
			in_close(y, y->in[i], "no HELLO within 2 s");
}

/* ---- status ----------------------------------------------------------------------- */

static const char *const state_names[] = { "down", "connecting", "connecting", "up" };

static size_t inbound(const struct rt_sync *y)
{
	size_t i, n = 0;

	for (i = 0; i < RT_SYNC_MAX_IN; i++)
		n += y->in[i] && y->in[i]->hello;
	return n;
}

void rt_sync_text(const struct rt_sync *y, FILE *f, uint64_t now)
{
	int i;

	if (!rt_sync_on(y)) {
		fprintf(f, "sync: off\n");
		return;
	}
	fprintf(f, "sync: listen %s  %s  inbound %zu  received %llu entries in %llu messages"
		"  applied %llu  unknown %llu  conflicts kept %llu taken %llu  lag %lld ms"
		" (max %lld)\n", y->cfg->sync.listen_text,
		keyed(y) ? "authenticated" : "NOT authenticated", inbound(y),
		(unsigned long long)y->rx_entries, (unsigned long long)y->rx_msgs,
		(unsigned long long)y->rx_applied, (unsigned long long)y->rx_unknown,
		(unsigned long long)y->rx_kept, (unsigned long long)y->rx_taken,
		(long long)y->lag_ms, (long long)y->lag_max_ms);
	fprintf(f, "  rejected: foreign %llu  full %llu  auth %llu  order %llu  malformed %llu\n",
		(unsigned long long)y->refused_foreign, (unsigned long long)y->refused_full,
		(unsigned long long)y->rejected_auth,
		(unsigned long long)y->rejected_order, (unsigned long long)(
		y->rejected[LBFO_SYNC_E_MAGIC] + y->rejected[LBFO_SYNC_E_VERSION] +
		y->rejected[LBFO_SYNC_E_LENGTH] + y->rejected[LBFO_SYNC_E_TYPE] +
		y->rejected[LBFO_SYNC_E_CLUSTER] + y->rejected[LBFO_SYNC_E_ENTRY]));
	for (i = 0; i < y->cfg->sync.npeer; i++) {
		const struct rt_sync_peer *p = &y->peer[i];

		fprintf(f, "  peer %-22s %-10s sent %llu entries (%llu messages, %llu whole "
			"tables)  unsent %zu B%s%s\n", y->cfg->sync.peer_text[i], state_names[p->st],
			(unsigned long long)p->entries, (unsigned long long)p->msgs,
			(unsigned long long)p->dumps, p->out_len - p->out_off,
			p->st != RT_SYNC_UP && p->err[0] ? "  why: " : "",
			p->st != RT_SYNC_UP ? p->err : "");
	}
	(void)now;
}

void rt_sync_json(const struct rt_sync *y, struct lbfo_json *j, uint64_t now)
{
	int i;

	lbfo_json_obj(j);
	lbfo_json_kv_bool(j, "on", rt_sync_on(y));
	if (!rt_sync_on(y)) {
		lbfo_json_end(j);
		return;
	}
	lbfo_json_kv_str(j, "listen", y->cfg->sync.listen_text);
	lbfo_json_kv_bool(j, "authenticated", keyed(y));
	lbfo_json_kv_uint(j, "inbound", inbound(y));
	lbfo_json_kv_uint(j, "rx_messages", y->rx_msgs);
	lbfo_json_kv_uint(j, "rx_entries", y->rx_entries);
	lbfo_json_kv_uint(j, "applied", y->rx_applied);
	lbfo_json_kv_uint(j, "unknown", y->rx_unknown);
	lbfo_json_kv_uint(j, "conflicts_kept", y->rx_kept);
	lbfo_json_kv_uint(j, "conflicts_taken", y->rx_taken);
	if (y->last_rx_ns)
		lbfo_json_kv_uint(j, "last_rx_ms_ago", (now - y->last_rx_ns) / LBFO_NS_PER_MS);
	else
		lbfo_json_kv_null(j, "last_rx_ms_ago");
	lbfo_json_kv_int(j, "lag_ms", y->lag_ms);
	lbfo_json_kv_int(j, "lag_max_ms", y->lag_max_ms);
	lbfo_json_kv_uint(j, "tx_entries", y->tx_entries);
	lbfo_json_key(j, "rejected");
	lbfo_json_obj(j);
	lbfo_json_kv_uint(j, "foreign", y->refused_foreign);
	lbfo_json_kv_uint(j, "full", y->refused_full);
	lbfo_json_kv_uint(j, "auth", y->rejected_auth);
	lbfo_json_kv_uint(j, "order", y->rejected_order);
	for (i = LBFO_SYNC_E_MAGIC; i < LBFO_SYNC_E__MAX; i++)
		lbfo_json_kv_uint(j, lbfo_sync_err_name(i), y->rejected[i]);
	lbfo_json_end(j);
	lbfo_json_key(j, "peers");
	lbfo_json_arr(j);
	for (i = 0; i < y->cfg->sync.npeer; i++) {
		const struct rt_sync_peer *p = &y->peer[i];

		lbfo_json_obj(j);
		lbfo_json_kv_str(j, "address", y->cfg->sync.peer_text[i]);
		lbfo_json_kv_str(j, "state", state_names[p->st]);
		lbfo_json_kv_uint(j, "connects", p->connects);
		lbfo_json_kv_uint(j, "messages", p->msgs);
		lbfo_json_kv_uint(j, "entries", p->entries);
		lbfo_json_kv_uint(j, "whole_tables", p->dumps);
		lbfo_json_kv_bool(j, "sending_whole_table", p->dumping);
		lbfo_json_kv_uint(j, "unsent_bytes", p->out_len - p->out_off);
		if (p->last_tx_ns)
			lbfo_json_kv_uint(j, "last_tx_ms_ago", (now - p->last_tx_ns) / LBFO_NS_PER_MS);
		else
			lbfo_json_kv_null(j, "last_tx_ms_ago");
		lbfo_json_kv_str(j, "error", p->st == RT_SYNC_UP ? "" : p->err);
		lbfo_json_end(j);
	}
	lbfo_json_end(j);
	lbfo_json_end(j);
}
