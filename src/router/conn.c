/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A proxied connection once connected: bytes both ways, small messages
 * copied, bulk transfers spliced through a pipe per direction (zero copy,
 * and natural backpressure: a full pipe stops reading its source until
 * the destination drains it). EOF on one side becomes shutdown(SHUT_WR)
 * on the other once the pipe is empty, so half-closed connections work.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "lbfo/policy.h"
#include "conn.h"

/* Bytes a direction carries before its pipe grows to pipe_size (pipes.c). */
#define RT_BULK_BYTES (1u << 20)

static size_t client_slot(int svc, const struct rt_addr *a)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < sizeof(a->b); i++)
		h = (h ^ a->b[i]) * 16777619u;
	h ^= (uint32_t)svc * 2654435761u;
	return h % RT_CLIENT_SLOTS;
}

struct rt_client *rt_client_acquire(struct router *r, int svc, const struct rt_addr *a,
				    uint32_t limit, bool *over)
{
	size_t slot = client_slot(svc, a);
	pthread_mutex_t *lock = &r->client_lock[slot % RT_CLIENT_LOCKS];
	struct rt_client *c;

	*over = false;
	pthread_mutex_lock(lock);
	for (c = r->clients[slot]; c; c = c->next)
		if (c->svc == svc && !memcmp(&c->addr, a, sizeof(*a)))
			break;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (c) {
			c->svc = svc;
			c->addr = *a;
			c->next = r->clients[slot];
			r->clients[slot] = c;
		}
	}
	if (c && limit && c->conns >= limit) {
		*over = true; /* it has connections: the entry stays */
		c = NULL;
	} else if (c) {
		c->conns++;
	}
	pthread_mutex_unlock(lock);
	return c;
}

void rt_client_release(struct router *r, struct rt_client *c)
{
	size_t slot;
	struct rt_client **pp;

	if (!c)
		return;
	slot = client_slot(c->svc, &c->addr);
	pthread_mutex_lock(&r->client_lock[slot % RT_CLIENT_LOCKS]);
	if (--c->conns == 0)
		for (pp = &r->clients[slot]; *pp; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				free(c);
				break;
			}
	pthread_mutex_unlock(&r->client_lock[slot % RT_CLIENT_LOCKS]);
}

void rt_conn_unlimit(struct router *r, struct rt_conn *c)
{
	if (!c->counted)
		return;
	atomic_fetch_sub_explicit(&r->nconns, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&r->svc_active[c->svc->idx], 1, memory_order_relaxed);
	c->counted = false;
}

struct sess *rt_conn_session(struct router *r, struct rt_conn *c, unsigned *shard)
{
	struct sess_table *t = rt_sessions_lock_key(&r->sessions, &c->key, shard);
	struct sess *se = sess_find(t, &c->key);

	return se && se->handle == c->handle ? se : NULL;
}

static void conn_unlink(struct rt_conn **head, struct rt_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* The connecting list: only its members have a connect deadline, so the
 * tick checks them and not every connection. */
void rt_conn_set_connecting(struct rt_worker *w, struct rt_conn *c, bool on)
{
	if (on == c->connecting)
		return;
	c->connecting = on;
	if (on) {
		c->kprev = NULL;
		c->knext = w->connecting;
		if (w->connecting)
			w->connecting->kprev = c;
		w->connecting = c;
		return;
	}
	if (c->kprev)
		c->kprev->knext = c->knext;
	else
		w->connecting = c->knext;
	if (c->knext)
		c->knext->kprev = c->kprev;
	c->kprev = c->knext = NULL;
}

void rt_conn_push(struct rt_conn **head, struct rt_conn *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

void rt_conn_release_member(struct rt_conn *c, uint64_t now)
{
	struct rt_service *s = c->svc;

	if (!c->started)
		return;
	lbfo_team_complete(&s->team, &c->cmd, now); /* < 0: member failed meanwhile */
	s->st.ms[c->member].active--;
	c->started = false;
}

void rt_conn_close(struct rt_worker *w, struct rt_conn *c, uint64_t now)
{
	struct router *r = w->r;
	struct rt_service *s = c->svc;

	if (c->dead)
		return;
	c->dead = true;
	rt_conn_set_connecting(w, c, false);
	rt_conn_release_member(c, now);
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->bfd >= 0)
		close(c->bfd);
	c->cfd = c->bfd = -1;
	rt_pipe_put(w, c->p_up, c->in_up, c->cap_up);
	rt_pipe_put(w, c->p_down, c->in_down, c->cap_down);
	if (c->handle) {
		unsigned sh;
		struct sess *se = rt_conn_session(r, c, &sh);

		if (se) {
			if (se->conns)
				se->conns--;
			sess_touch(&r->sessions.shard[sh].t, se, now);
		}
		rt_sessions_unlock(&r->sessions, sh);
	}
	rt_client_release(r, c->client);
	rt_conn_unlimit(r, c);
	s->st.active--;
	w->nconns--;
	conn_unlink(&w->conns, c);
	rt_conn_push(&w->dead, c);
}

void rt_conn_reap(struct rt_worker *w)
{
	while (w->dead) {
		struct rt_conn *c = w->dead;

		w->dead = c->next;
		free(c);
	}
}

/*
 * A failed node's connections keep running (it may only have lost its
 * agent), but the core handed their records back when it failed. When it
 * comes back, count them on it again, so that least connections sees the
 * node's real load rather than an empty node (and piles new ones onto it).
 */
void rt_conn_recount(struct rt_worker *w, int ni, uint64_t now)
{
	struct rt_conn *c;

	for (c = w->conns; c; c = c->next) {
		struct rt_service *s = c->svc;

		if (c->started && c->cmd.state == LBFO_CMD_RETURNED &&
		    s->member_node[c->member] == ni && lbfo_member_usable(&s->team, c->member))
			lbfo_team_start(&s->team, &c->cmd, c->member, LBFO_READ, 0, now);
	}
}

/*
 * Forwarding, level-triggered. Each socket's epoll interest says what it
 * is waiting for:
 *   EPOLLIN  on a source while its pipe is empty and no EOF was read;
 *   EPOLLOUT on a destination while bytes wait in the pipe towards it.
 * A pipe with bytes in it waits for its destination alone: its source is
 * read again once the pipe is empty (backpressure). Reading a source
 * into a partly full pipe would gain nothing (the destination is the
 * bottleneck) and, level-triggered, would wake the loop for every byte
 * the source has ready while the destination is full.
 * A short read or write can stop at once (epoll will say when there is
 * more), and in the steady state of request/response traffic a message
 * costs one splice in and one splice out, with no epoll_ctl.
 * A socket done both ways (EOF read, write side shut) leaves the set.
 */
#define PUMP_ROUNDS 4

/* One direction: src -> pipe -> dst. Returns -1 on a hard error. */
/*
 * Small messages are copied: recv() into a buffer on the stack and send()
 * on at once costs less than two splices for a few KiB. What the
 * destination does not take goes into the (empty) pipe, which drains as in
 * the bulk case. A read that fills the buffer means a bulk transfer: the
 * direction splices from then on, until a splice brings less than the
 * buffer's worth (the burst is over).
 */
#define RT_COPY_BUF (16u << 10)

static ssize_t copy_in(int src, int dst, int p[2], size_t cap, size_t *inpipe,
		       uint64_t *bytes, bool *more)
{
	char buf[RT_COPY_BUF];
	/* At most what the empty pipe holds, so the rest always fits: the
	 * kernel hands out 8 KiB pipes to a user over its pipe-pages limit. */
	size_t want = cap < sizeof(buf) ? cap : sizeof(buf);
	ssize_t n = recv(src, buf, want, 0), w;

	if (n <= 0)
		return n;
	*bytes += (uint64_t)n;
	*more = (size_t)n == want;
	w = send(dst, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -2;
		w = 0;
	}
	if (w < n) {
		ssize_t k = write(p[1], buf + w, (size_t)(n - w));

		if (k > 0)
			*inpipe = (size_t)k;
		if (k != n - w)
			return -2; /* cannot happen (the rest fits); never silently */
	}
	return n;
}

static int pump(int src, int dst, int p[2], size_t cap, size_t *inpipe, bool *src_eof,
		bool *dst_shut, uint64_t *bytes, bool *bulk)
{
	int round;

	for (round = 0; round < PUMP_ROUNDS; round++) {
		bool more = false;
		ssize_t n;

		if (*inpipe > 0) {
			n = splice(p[0], NULL, dst, NULL, *inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0)
				*inpipe -= (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (*inpipe > 0)
				break; /* dst is full: EPOLLOUT will tell */
		}
		if (!*src_eof && !*bulk) {
			n = copy_in(src, dst, p, cap, inpipe, bytes, &more);
			*bulk = more;
			if (n == 0)
				*src_eof = true;
			else if (n == -2 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return -1;
		} else if (!*src_eof) {
			n = splice(src, NULL, p[1], NULL, cap, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				*inpipe = (size_t)n;
				*bytes += (uint64_t)n;
				more = (size_t)n == cap; /* maybe more waiting */
				*bulk = (size_t)n >= RT_COPY_BUF;
			} else if (n == 0) {
				*src_eof = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -1;
			}
			if (*inpipe > 0) {
				n = splice(p[0], NULL, dst, NULL, *inpipe,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
				if (n > 0)
					*inpipe -= (size_t)n;
				else if (n < 0 && errno != EAGAIN && errno != EINTR)
					return -1;
			}
		}
		if (*src_eof && *inpipe == 0 && !*dst_shut) {
			/* Half-close: pass the EOF on, keep the other way open. */
			shutdown(dst, SHUT_WR);
			*dst_shut = true;
		}
		if (!more || *inpipe > 0)
			break;
	}
	return 0;
}

/* Register, change or drop one socket's interest. A socket that waits
 * for nothing leaves the set: level-triggered epoll would otherwise keep
 * reporting a hang-up that nobody can act on. */
static int set_interest(struct rt_worker *w, int fd, struct rt_ev *ev, bool *reg,
			uint32_t *cur, uint32_t want, bool done)
{
	struct epoll_event e = { .events = want, .data.ptr = ev };

	if (done || want == 0) {
		if (*reg && epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL) < 0)
			return -1;
		*reg = false;
		return 0;
	}
	if (*reg && want == *cur)
		return 0;
	if (epoll_ctl(w->ep, *reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e) < 0)
		return -1;
	*reg = true;
	*cur = want;
	return 0;
}

int rt_conn_interest(struct rt_worker *w, struct rt_conn *c)
{
	uint32_t cm = 0, bm = 0;

	if (c->connecting) {
		/* Nothing moves until the node answers; the client's data
		 * waits in its socket. */
		return set_interest(w, c->bfd, &c->bev, &c->b_reg, &c->b_mask, EPOLLOUT, false);
	}
	if (!c->c_eof && c->in_up == 0)
		cm |= EPOLLIN;
	if (c->in_down > 0)
		cm |= EPOLLOUT;
	if (!c->b_eof && c->in_down == 0)
		bm |= EPOLLIN;
	if (c->in_up > 0)
		bm |= EPOLLOUT;
	if (set_interest(w, c->cfd, &c->cev, &c->c_reg, &c->c_mask, cm, c->c_eof && c->c_shut) < 0 ||
	    set_interest(w, c->bfd, &c->bev, &c->b_reg, &c->b_mask, bm, c->b_eof && c->b_shut) < 0)
		return -1;
	return 0;
}

void rt_conn_pump(struct rt_worker *w, struct rt_conn *c, unsigned dirs, uint64_t now)
{
	struct rt_member_stats *ms = &c->svc->st.ms[c->member];

	if (c->dead || c->connecting)
		return;
	uint64_t up0 = ms->bytes_in, down0 = ms->bytes_out;

	if (((dirs & RT_PUMP_UP) &&
	     pump(c->cfd, c->bfd, c->p_up, c->cap_up, &c->in_up, &c->c_eof, &c->b_shut,
		  &ms->bytes_in, &c->bulk_up) < 0) ||
	    ((dirs & RT_PUMP_DOWN) &&
	     pump(c->bfd, c->cfd, c->p_down, c->cap_down, &c->in_down, &c->b_eof, &c->c_shut,
		  &ms->bytes_out, &c->bulk_down) < 0)) {
		rt_conn_close(w, c, now);
		return;
	}
	c->moved_up += ms->bytes_in - up0;
	c->moved_down += ms->bytes_out - down0;
	if (c->moved_up >= RT_BULK_BYTES && !c->grow_up)
		rt_pipe_grow(w, c->p_up, &c->cap_up, &c->grow_up);
	if (c->moved_down >= RT_BULK_BYTES && !c->grow_down)
		rt_pipe_grow(w, c->p_down, &c->cap_down, &c->grow_down);
	if ((c->c_eof && c->b_eof && c->b_shut && c->c_shut) || rt_conn_interest(w, c) < 0)
		rt_conn_close(w, c, now);
}

/* Which directions an event on one side can move: readable -> from it;
 * writable -> towards it; errors and hang-ups -> both, so that they
 * surface (a reset shows as an error of splice). */
unsigned rt_conn_event_dirs(uint32_t events, bool client)
{
	unsigned from = client ? RT_PUMP_UP : RT_PUMP_DOWN, to = client ? RT_PUMP_DOWN : RT_PUMP_UP;
	unsigned d = 0;

	if (events & (EPOLLERR | EPOLLHUP))
		return RT_PUMP_UP | RT_PUMP_DOWN;
	if (events & EPOLLIN)
		d |= from;
	if (events & EPOLLOUT)
		d |= to;
	return d;
}

/*
 * TCP options of both sockets of a connection: no Nagle delay (the router
 * must not add latency to small messages), and keepalive, so that a peer
 * that vanished without a reset (a host gone, a half-closed client that
 * never returns) is noticed after about two minutes instead of holding
 * its descriptors and pipes for ever.
 */
#define RT_KEEPIDLE_S 60
#define RT_KEEPINTVL_S 10
#define RT_KEEPCNT 6

void rt_tune_socket(int fd)
{
	int one = 1, idle = RT_KEEPIDLE_S, intvl = RT_KEEPINTVL_S, cnt = RT_KEEPCNT;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void rt_conns_free(struct rt_worker *w)
{
	uint64_t now = rt_now_ns();

	while (w->conns)
		rt_conn_close(w, w->conns, now);
	rt_conn_reap(w);
}

void rt_clients_free(struct router *r)
{
	size_t i;

	for (i = 0; i < RT_CLIENT_SLOTS; i++)
		while (r->clients[i]) {
			struct rt_client *c = r->clients[i];

			r->clients[i] = c->next;
			free(c);
		}
}
