/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session-table replication (sync.h, docs/sync.md), the sending side: the
 * connections to the peers (challenge, HELLO, the whole table, then the
 * journal), and the module's life cycle. Receiving: sync_in.c; shared
 * helpers: sync_map.c; status: sync_status.c.
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

#define OUT_MAX (16u << 20)       /* unsent bytes to a peer before it is dropped */
#define DUMP_CHUNK (256u << 10)   /* whole-table bytes queued per pump */
#define RETRY_NS (500 * LBFO_NS_PER_MS)
#define HANDSHAKE_NS (2 * LBFO_NS_PER_SEC)
#define BATCH 512

/* ---- sending ------------------------------------------------------------------- */

static void peer_down(struct rt_sync *y, struct rt_sync_peer *p, uint64_t now, const char *why)
{
	const char *name = y->cfg->sync.peer_text[p - y->peer];

	if (p->st == RT_SYNC_UP) {
		p->st_was_up_ns = p->since_ns;
		lbfo_events_add(y->events, LOG_WARNING, "sync: peer %s lost: %s", name, why);
	} else if (strcmp(p->err, why)) {
		lbfo_events_add(y->events, LOG_INFO, "sync: peer %s not reached: %s", name, why);
	}
	snprintf(p->err, sizeof(p->err), "%s", why);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->st = RT_SYNC_IDLE;
	p->out_len = p->out_off = p->in_len = 0;
	p->dumping = p->want_out = false;
	/* Again soon; but a peer that keeps ending the connection at once
	 * (another key, say) is retried less and less often, up to 4 s. A
	 * peer that connects to us is connected to at the next tick
	 * (sync_in.c). */
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
		.type = type, .flags = rt_sync_keyed(y) ? LBFO_SYNC_F_MAC : 0, .cluster = y->cfg->cluster_id,
		.count = count, .seq = ++p->seq, .sent_ms = rt_wall_ms(),
	};

	lbfo_sync_hdr_put(m, &h, blen);
	if (rt_sync_keyed(y))
		rt_mac(&p->ckey, m, LBFO_SYNC_HDR + blen, m + LBFO_SYNC_HDR + blen);
	p->out_len += LBFO_SYNC_HDR + blen + (rt_sync_keyed(y) ? LBFO_SYNC_MAC : 0);
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

			if (s && rt_sync_entry_of(y, &s->key, s, now, wall, &e[n]))
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
		rt_sync_ep_set(y, p->fd, &p->ev, EPOLLIN | (want ? EPOLLOUT : 0), EPOLL_CTL_MOD);
	}
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
	rt_sync_keepalive(fd);
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
	rt_sync_ep_set(y, fd, &p->ev, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
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
	if (rt_sync_keyed(y))
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
			rt_sync_keyed(y) ? " (authenticated)" : "", rt_sync_sessions_n(y));
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
		rt_sync_ep_set(y, p->fd, &p->ev, EPOLLIN, EPOLL_CTL_MOD);
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
			if (rt_sync_entry_of(y, &k[j], sess_find(t, &k[j]), now, wall, &e[m]))
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
			rt_sync_in_close(y, y->in[j], "replaced by the peer's new connection");
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

/* ---- life cycle ------------------------------------------------------------------ */

static int open_listen(struct rt_sync *y, char *err, size_t errlen)
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
	rt_sync_ep_set(y, y->fd, &y->listen_ev, EPOLLIN, EPOLL_CTL_ADD);
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
	rt_sync_ep_set(y, y->wake_fd, &y->wake_ev, EPOLLIN, EPOLL_CTL_ADD);
	ss->wake_fd = y->wake_fd;
	if (open_listen(y, err, errlen) < 0)
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
			rt_sync_in_close(y, y->in[i], NULL);
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
			rt_sync_in_close(y, y->in[i], "no HELLO within 2 s");
}

