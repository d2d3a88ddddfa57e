/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router: the cluster router of seed 002.
 *
 * One thread, one epoll set (edge-triggered). For each client connection
 * on a service port: check eligibility (the service's ACL), the limits,
 * find the client's session (FIG 6) or allocate a node through the
 * service's lbfo_team (FIG 5's weights), connect to the node with a
 * deadline (retrying another node on failure), then move bytes both ways
 * with splice() through a pipe per direction: zero copy, and natural
 * backpressure (a full pipe stops reading its source until the
 * destination drains it). EOF on one side becomes shutdown(SHUT_WR) on
 * the other once the pipe is empty, so half-closed connections work.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "lbfo/policy.h"
#include "router.h"

/* One proxied connection: client <-> node. */
struct rt_conn {
	struct rt_conn *prev, *next; /* r->conns, or r->dead */
	struct rt_conn *kprev, *knext; /* r->connecting, while connecting */
	struct rt_service *svc;
	int cfd, bfd;
	struct rt_ev cev, bev;
	int p_up[2];   /* client -> node */
	int p_down[2]; /* node -> client */
	size_t in_up, in_down;   /* bytes in each pipe now */
	size_t cap_up, cap_down; /* each pipe's size */
	uint64_t moved_up, moved_down; /* bytes carried each way */
	bool c_eof, b_eof;    /* read side saw EOF */
	bool c_shut, b_shut;  /* we shut the write side */
	bool connecting, dead, started;
	bool new_session;     /* allocated afresh, not a sticky hit */
	bool grow_up, grow_down; /* pipe growth done or refused */
	bool bulk_up, bulk_down; /* splicing (else copying small messages) */
	uint32_t c_mask, b_mask;       /* epoll interest registered now */
	bool c_reg, b_reg;             /* fd is in the epoll set */
	uint64_t deadline_ns;
	int member;
	uint32_t tried;       /* members tried for this connection */
	struct lbfo_cmd cmd;  /* the connection in the core's accounting */
	struct sess_key key;
	uint64_t handle;      /* session handle, 0 = no session */
	struct rt_client *client;
	struct rt_addr caddr;
	uint16_t cport;
};

static const char *prog = "lbfo-router";

uint64_t rt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LBFO_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void rt_event(struct router *r, const char *fmt, ...)
{
	struct rt_event *e = &r->events[(r->ev_head + r->ev_n) % RT_EVENTS_MAX];
	va_list ap;

	if (r->ev_n == RT_EVENTS_MAX)
		r->ev_head = (r->ev_head + 1) % RT_EVENTS_MAX;
	else
		r->ev_n++;
	e->wall_ms = wall_ms();
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", prog, e->text);
}

/* ---- node states --------------------------------------------------------- */

const char *rt_node_state_name(enum rt_node_state s)
{
	static const char *const names[RT_NODE__MAX] = {
		[RT_NODE_UNKNOWN] = "unknown",
		[RT_NODE_UP] = "up",
		[RT_NODE_FAILED] = "failed",
		[RT_NODE_ADMIN_DOWN] = "admin-down",
	};

	return (unsigned)s < RT_NODE__MAX ? names[s] : "?";
}

static void set_node_state(struct rt_node *n, enum rt_node_state st, const char *why,
			   uint64_t now)
{
	n->state = st;
	n->since_ns = now;
	snprintf(n->reason, sizeof(n->reason), "%s", why);
}

/*
 * A failed node's connections keep running (it may only have lost its
 * agent), but the core handed their records back when it failed. When it
 * comes back, count them on it again, so that least connections sees the
 * node's real load rather than an empty node (and piles new ones onto it).
 */
static void recount_node(struct router *r, int ni, uint64_t now)
{
	struct rt_conn *c;

	for (c = r->conns; c; c = c->next) {
		struct rt_service *s = c->svc;

		if (c->started && c->cmd.state == LBFO_CMD_RETURNED &&
		    s->member_node[c->member] == ni && lbfo_member_usable(&s->team, c->member))
			lbfo_team_start(&s->team, &c->cmd, c->member, LBFO_READ, 0, now);
	}
}

void rt_node_up(struct router *r, int ni, const char *why, uint64_t now)
{
	struct rt_node *n = &r->node[ni];
	int i;

	set_node_state(n, RT_NODE_UP, why, now);
	n->joins++;
	for (i = 0; i < r->nsvc; i++) {
		struct rt_service *s = &r->svc[i];
		int m = s->node_member[ni];

		if (m < 0)
			continue;
		lbfo_team_member_restored(&s->team, m, -1, now);
		/* A node that announces again is back: no probation beyond
		 * the announcement itself (failback immediate). */
		if (s->team.m[m].state == LBFO_MS_PROBING)
			lbfo_team_member_reinstate(&s->team, m, now);
	}
	recount_node(r, ni, now);
	rt_node_priority(r, ni, n->priority, now);
	rt_event(r, "node %s %s: %s", n->cfg->name, n->joins > 1 ? "rejoined" : "joined", why);
}

void rt_node_down(struct router *r, int ni, enum rt_node_state st, const char *why,
		  uint64_t now)
{
	struct rt_node *n = &r->node[ni];
	int i;

	if (n->state == RT_NODE_UP)
		n->fails++;
	set_node_state(n, st, why, now);
	for (i = 0; i < r->nsvc; i++) {
		struct rt_service *s = &r->svc[i];
		struct lbfo_cmd *retry = NULL;
		int m = s->node_member[ni];

		if (m < 0 || s->team.m[m].state == LBFO_MS_FAILED)
			continue;
		/* Connections in flight keep running (the node may only have
		 * lost its agent); the core hands their commands back, so
		 * their completion is ignored (lbfo_team_complete() < 0). */
		lbfo_team_member_failed(&s->team, m, -1, now, &retry);
	}
	rt_event(r, "node %s %s: %s", n->cfg->name,
		 st == RT_NODE_ADMIN_DOWN ? "taken down" :
		 st == RT_NODE_UNKNOWN ? "waiting" : "failed", why);
}

/* Priority 0 asks for no new sessions (drain); > 0 is eligible. */
void rt_node_priority(struct router *r, int ni, uint16_t prio, uint64_t now)
{
	struct rt_node *n = &r->node[ni];
	int i;

	if (n->priority != prio)
		rt_event(r, "node %s priority %u -> %u%s", n->cfg->name, n->priority, prio,
			 prio == 0 ? " (draining: no new sessions)" : "");
	n->priority = prio;
	if (n->state != RT_NODE_UP)
		return;
	for (i = 0; i < r->nsvc; i++) {
		struct rt_service *s = &r->svc[i];
		int m = s->node_member[ni];

		if (m < 0)
			continue;
		if (prio == 0 && s->team.m[m].state == LBFO_MS_ACTIVE)
			lbfo_team_member_drain(&s->team, m, now);
		else if (prio > 0 && s->team.m[m].state == LBFO_MS_DRAINING)
			lbfo_team_member_reinstate(&s->team, m, now);
	}
}

/* ---- connections ---------------------------------------------------------- */

static struct rt_client **client_slot(struct router *r, int svc, const struct rt_addr *a)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < sizeof(a->b); i++)
		h = (h ^ a->b[i]) * 16777619u;
	h ^= (uint32_t)svc * 2654435761u;
	return &r->clients[h % (sizeof(r->clients) / sizeof(r->clients[0]))];
}

static struct rt_client *client_get(struct router *r, int svc, const struct rt_addr *a)
{
	struct rt_client **slot = client_slot(r, svc, a), *c;

	for (c = *slot; c; c = c->next)
		if (c->svc == svc && !memcmp(&c->addr, a, sizeof(*a)))
			return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->svc = svc;
	c->addr = *a;
	c->next = *slot;
	*slot = c;
	return c;
}

static void client_put(struct router *r, struct rt_client *c)
{
	struct rt_client **pp;

	if (!c || --c->conns > 0)
		return;
	for (pp = client_slot(r, c->svc, &c->addr); *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			free(c);
			return;
		}
}

/* A pipe of the kernel's default size (64 KiB), from the pool of empty
 * ones when there is one. Returns its size, or 0 when out of descriptors. */
static size_t get_pipe(struct router *r, int p[2])
{
	int sz;

	if (r->npool > 0) {
		r->npool--;
		p[0] = r->pool[r->npool][0];
		p[1] = r->pool[r->npool][1];
	} else if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		return 0;
	}
	sz = fcntl(p[0], F_GETPIPE_SZ);
	return sz > 0 ? (size_t)sz : 65536;
}

/*
 * Bulk transfers get a bigger pipe: a direction that has carried
 * RT_BULK_BYTES grows its pipe to pipe_size, so each splice moves more
 * per system call (on loopback 256 KiB pipes carried ~15 % more than
 * 64 KiB ones). Request/response traffic never gets there and keeps the
 * small pipe, so thousands of idle connections cost little pipe memory.
 * A refusal (the user's pipe-pages limit) keeps the pipe as it is.
 */
#define RT_BULK_BYTES (1u << 20)

static void grow_pipe(struct router *r, int p[2], size_t *cap, bool *done)
{
	int sz;

	*done = true; /* once: a refusal is not asked again */
	if (!r->cfg->pipe_size || *cap >= r->cfg->pipe_size)
		return;
	sz = fcntl(p[0], F_SETPIPE_SZ, (int)r->cfg->pipe_size);
	if (sz > 0) {
		*cap = (size_t)sz;
		r->pipes_grown++;
	} else {
		r->pipe_grow_refused++;
	}
}

static void put_pipe(struct router *r, int p[2], size_t inpipe, size_t cap)
{
	if (p[0] < 0)
		return;
	/* Only small, empty pipes go back to the pool: a grown one would
	 * hand its memory to a connection that does not need it. */
	int queued = -1;

	/* Only what the kernel says is empty is pooled: a pipe with bytes
	 * of a closed connection in it would feed them to the next one. */
	if (inpipe == 0 && cap <= 65536 && ioctl(p[0], FIONREAD, &queued) == 0 && queued == 0 &&
	    r->npool < (int)(sizeof(r->pool) / sizeof(r->pool[0]))) {
		r->pool[r->npool][0] = p[0];
		r->pool[r->npool][1] = p[1];
		r->npool++;
	} else {
		close(p[0]);
		close(p[1]);
	}
	p[0] = p[1] = -1;
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
static void set_connecting(struct router *r, struct rt_conn *c, bool on)
{
	if (on == c->connecting)
		return;
	c->connecting = on;
	if (on) {
		c->kprev = NULL;
		c->knext = r->connecting;
		if (r->connecting)
			r->connecting->kprev = c;
		r->connecting = c;
		return;
	}
	if (c->kprev)
		c->kprev->knext = c->knext;
	else
		r->connecting = c->knext;
	if (c->knext)
		c->knext->kprev = c->kprev;
	c->kprev = c->knext = NULL;
}

static void conn_push(struct rt_conn **head, struct rt_conn *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

/* Release the connection's claim on its member (core + counters). */
static void conn_release_member(struct router *r, struct rt_conn *c, uint64_t now)
{
	struct rt_service *s = c->svc;

	(void)r;
	if (!c->started)
		return;
	lbfo_team_complete(&s->team, &c->cmd, now); /* < 0: member failed meanwhile */
	s->ms[c->member].active--;
	c->started = false;
}

static void conn_close(struct router *r, struct rt_conn *c, uint64_t now)
{
	struct rt_service *s = c->svc;

	if (c->dead)
		return;
	c->dead = true;
	set_connecting(r, c, false);
	conn_release_member(r, c, now);
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->bfd >= 0)
		close(c->bfd);
	c->cfd = c->bfd = -1;
	put_pipe(r, c->p_up, c->in_up, c->cap_up);
	put_pipe(r, c->p_down, c->in_down, c->cap_down);
	if (c->handle) {
		struct sess *se = sess_find(&r->sessions, &c->key);

		if (se && se->handle == c->handle) {
			if (se->conns)
				se->conns--;
			sess_touch(&r->sessions, se, now);
		}
	}
	client_put(r, c->client);
	s->active--;
	r->nconns--;
	conn_unlink(&r->conns, c);
	conn_push(&r->dead, c);
}

static void conn_reap(struct router *r)
{
	while (r->dead) {
		struct rt_conn *c = r->dead;

		r->dead = c->next;
		free(c);
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
static int set_interest(struct router *r, int fd, struct rt_ev *ev, bool *reg,
			uint32_t *cur, uint32_t want, bool done)
{
	struct epoll_event e = { .events = want, .data.ptr = ev };

	if (done || want == 0) {
		if (*reg && epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL) < 0)
			return -1;
		*reg = false;
		return 0;
	}
	if (*reg && want == *cur)
		return 0;
	if (epoll_ctl(r->ep, *reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e) < 0)
		return -1;
	*reg = true;
	*cur = want;
	return 0;
}

static int conn_interest(struct router *r, struct rt_conn *c)
{
	uint32_t cm = 0, bm = 0;

	if (c->connecting) {
		/* Nothing moves until the node answers; the client's data
		 * waits in its socket. */
		return set_interest(r, c->bfd, &c->bev, &c->b_reg, &c->b_mask, EPOLLOUT, false);
	}
	if (!c->c_eof && c->in_up == 0)
		cm |= EPOLLIN;
	if (c->in_down > 0)
		cm |= EPOLLOUT;
	if (!c->b_eof && c->in_down == 0)
		bm |= EPOLLIN;
	if (c->in_up > 0)
		bm |= EPOLLOUT;
	if (set_interest(r, c->cfd, &c->cev, &c->c_reg, &c->c_mask, cm, c->c_eof && c->c_shut) < 0 ||
	    set_interest(r, c->bfd, &c->bev, &c->b_reg, &c->b_mask, bm, c->b_eof && c->b_shut) < 0)
		return -1;
	return 0;
}

/* Directions to pump after an event. */
#define PUMP_UP 1u   /* client -> node */
#define PUMP_DOWN 2u /* node -> client */

static void conn_pump(struct router *r, struct rt_conn *c, unsigned dirs, uint64_t now)
{
	struct rt_member_stats *ms = &c->svc->ms[c->member];

	if (c->dead || c->connecting)
		return;
	uint64_t up0 = ms->bytes_in, down0 = ms->bytes_out;

	if (((dirs & PUMP_UP) &&
	     pump(c->cfd, c->bfd, c->p_up, c->cap_up, &c->in_up, &c->c_eof, &c->b_shut,
		  &ms->bytes_in, &c->bulk_up) < 0) ||
	    ((dirs & PUMP_DOWN) &&
	     pump(c->bfd, c->cfd, c->p_down, c->cap_down, &c->in_down, &c->b_eof, &c->c_shut,
		  &ms->bytes_out, &c->bulk_down) < 0)) {
		conn_close(r, c, now);
		return;
	}
	c->moved_up += ms->bytes_in - up0;
	c->moved_down += ms->bytes_out - down0;
	if (c->moved_up >= RT_BULK_BYTES && !c->grow_up)
		grow_pipe(r, c->p_up, &c->cap_up, &c->grow_up);
	if (c->moved_down >= RT_BULK_BYTES && !c->grow_down)
		grow_pipe(r, c->p_down, &c->cap_down, &c->grow_down);
	if ((c->c_eof && c->b_eof && c->b_shut && c->c_shut) || conn_interest(r, c) < 0)
		conn_close(r, c, now);
}

/* Which directions an event on one side can move: readable -> from it;
 * writable -> towards it; errors and hang-ups -> both, so that they
 * surface (a reset shows as an error of splice). */
static unsigned event_dirs(uint32_t events, bool client)
{
	unsigned from = client ? PUMP_UP : PUMP_DOWN, to = client ? PUMP_DOWN : PUMP_UP;
	unsigned d = 0;

	if (events & (EPOLLERR | EPOLLHUP))
		return PUMP_UP | PUMP_DOWN;
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

static void tune_socket(int fd)
{
	int one = 1, idle = RT_KEEPIDLE_S, intvl = RT_KEEPINTVL_S, cnt = RT_KEEPCNT;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

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
	c->tried |= 1u << m;
	lbfo_team_start(&s->team, &c->cmd, m, LBFO_READ, 0, now);
	c->started = true;
	s->ms[m].active++;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	tune_socket(fd);
	c->bfd = fd;
	c->bev.kind = RT_EV_BACKEND;
	c->bev.ptr = c;
	c->b_reg = false;
	set_connecting(r, c, true);
	if (conn_interest(r, c) < 0)
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
static int pick_member(struct rt_service *s, uint32_t tried, uint64_t now)
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
	set_connecting(r, c, false);
	conn_release_member(r, c, now);
	if (s->ms[old].connect_fail <= 3 || s->ms[old].connect_fail % 1000 == 0)
		rt_event(r, "service %s: node %s: %s (%llu so far); trying another node",
			 s->cfg->name, s->team.m[old].name, why,
			 (unsigned long long)s->ms[old].connect_fail);
	m = pick_member(s, c->tried, now);
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
		conn_close(r, c, now);
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
			se->node = s->member_node[m];
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
	set_connecting(r, c, false);
	c->svc->ms[c->member].conns++;
	conn_pump(r, c, PUMP_UP | PUMP_DOWN, now);
}

static void check_connect_deadlines(struct router *r, uint64_t now)
{
	struct rt_conn *c, *next;

	for (c = r->connecting; c; c = next) {
		next = c->knext;
		if (now >= c->deadline_ns)
			conn_connect_failed(r, c, "connect timed out", now);
	}
}

/* Session key of a client for a service. */
static void make_key(const struct rt_service *s, const struct rt_addr *a, uint16_t port,
		     struct sess_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, a->b, sizeof(k->addr));
	k->group = (uint16_t)s->cfg->group_id;
	k->port = s->cfg->sticky == RT_STICKY_ADDRESS_PORT ? port : 0;
}

/* Choose the member for a new connection: the client's session node while
 * it is usable for this service, else a fresh allocation. Returns the
 * member or -1. */
static int allocate(struct router *r, struct rt_conn *c, uint64_t now)
{
	struct rt_service *s = c->svc;
	struct sess *se = NULL;
	int m;

	if (s->cfg->sticky != RT_STICKY_NONE) {
		make_key(s, &c->caddr, c->cport, &c->key);
		se = sess_find(&r->sessions, &c->key);
		if (se && se->node >= 0 && se->node < r->nnode) {
			m = s->node_member[se->node];
			/* A draining node (priority 0) takes no new sessions but
			 * keeps its clients: an FTP data connection must follow
			 * its control connection. */
			if (m >= 0 && (lbfo_member_usable(&s->team, m) ||
				       s->team.m[m].state == LBFO_MS_DRAINING)) {
				s->sticky_hits++;
				se->conns++;
				se->total++;
				sess_touch(&r->sessions, se, now);
				c->handle = se->handle;
				return m;
			}
			s->moved++; /* its node is gone: the session moves */
		}
	}
	m = pick_member(s, 0, now);
	if (m < 0)
		return -1;
	s->new_sessions++;
	s->ms[m].sessions++;
	c->new_session = true;
	if (s->cfg->sticky == RT_STICKY_NONE)
		return m;
	if (se) {
		se->node = s->member_node[m];
		sess_touch(&r->sessions, se, now);
	} else {
		struct sess ev;
		bool evicted;

		se = sess_insert(&r->sessions, &c->key, s->member_node[m], now, &ev, &evicted);
		if (evicted) {
			char a[INET6_ADDRSTRLEN];
			struct rt_addr ea;

			memcpy(ea.b, ev.key.addr, sizeof(ea.b));
			rt_addr_text(&ea, a, sizeof(a));
			/* Say what is evicted, without flooding the log. */
			if (r->sessions.evicted <= 10 || r->sessions.evicted % 10000 == 0)
				rt_event(r, "session table full (%zu): evicted session %llu "
					 "(%s port %u -> node %s, %u open connections); "
					 "%llu evictions so far",
					 r->sessions.cap, (unsigned long long)ev.handle, a,
					 ev.key.port, r->cfg->node[ev.node].name, ev.conns,
					 (unsigned long long)r->sessions.evicted);
		}
	}
	se->conns++;
	se->total++;
	c->handle = se->handle;
	return m;
}

static void accept_one(struct router *r, struct rt_service *s, int fd,
		       const struct sockaddr_storage *peer, uint64_t now)
{
	struct rt_conn *c;
	int m, si = (int)(s - r->svc);

	s->accepted++;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->svc = s;
	c->cfd = fd;
	c->bfd = -1;
	c->p_up[0] = c->p_up[1] = c->p_down[0] = c->p_down[1] = -1;
	rt_addr_from_sockaddr((const struct sockaddr *)peer, &c->caddr, &c->cport);
	/* Eligibility (FIG 5): a client the ACL refuses never reaches a node. */
	if (!rt_service_allows(s->cfg, &c->caddr)) {
		s->refused_acl++;
		goto refuse;
	}
	if ((r->cfg->max_conns && r->nconns >= r->cfg->max_conns) ||
	    (s->cfg->max_conns && s->active >= s->cfg->max_conns)) {
		s->refused_limit++;
		goto refuse;
	}
	c->client = client_get(r, si, &c->caddr);
	if (!c->client)
		goto refuse;
	if (s->cfg->max_conns_per_client && c->client->conns >= s->cfg->max_conns_per_client) {
		s->refused_client_limit++;
		client_put(r, (c->client->conns++, c->client));
		goto refuse;
	}
	m = allocate(r, c, now);
	if (m < 0) {
		s->refused_no_node++;
		client_put(r, (c->client->conns++, c->client));
		goto refuse;
	}
	c->client->conns++;
	c->cap_up = get_pipe(r, c->p_up);
	c->cap_down = c->cap_up ? get_pipe(r, c->p_down) : 0;
	if (!c->cap_up || !c->cap_down) {
		/* Out of descriptors: undo and refuse. */
		put_pipe(r, c->p_up, 1, 0);
		put_pipe(r, c->p_down, 1, 0);
		s->refused_limit++;
		client_put(r, c->client);
		if (c->handle) {
			struct sess *se = sess_find(&r->sessions, &c->key);

			if (se && se->handle == c->handle && se->conns)
				se->conns--;
		}
		goto refuse;
	}
	tune_socket(fd);
	c->cev.kind = RT_EV_CLIENT;
	c->cev.ptr = c;
	s->active++;
	r->nconns++;
	conn_push(&r->conns, c);
	/* The client joins the epoll set once its node has answered. */
	if (conn_connect(r, c, m, now) < 0)
		conn_connect_failed(r, c, "socket", now);
	return;
refuse:
	close(fd);
	free(c);
}

static void accept_all(struct router *r, struct rt_service *s, uint64_t now)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(s->fd, (struct sockaddr *)&peer, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				/* The listener is edge-triggered: clients already
				 * queued would wait for the next arrival. Try again
				 * on the next tick, when connections may have closed. */
				if (!s->accept_retry)
					rt_event(r, "service %s: accept: %s; retrying every tick",
						 s->cfg->name, strerror(errno));
				s->accept_retry = true;
				s->refused_limit++;
				return;
			}
			s->accept_retry = false;
			return;
		}
		accept_one(r, s, fd, &peer, now);
	}
}

/* ---- set-up ---------------------------------------------------------------- */

static int open_service(struct router *r, int i, char *err, size_t errlen)
{
	struct rt_service *s = &r->svc[i];
	struct rt_service_cfg *sc = &r->cfg->svc[i];
	struct lbfo_team_config tc = { .failback = LBFO_FAILBACK_IMMEDIATE };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	uint64_t now = rt_now_ns();
	int j, one = 1;

	s->cfg = sc;
	s->fd = -1;
	for (j = 0; j < RT_MAX_NODES; j++)
		s->node_member[j] = -1;
	if (lbfo_team_init(&s->team, sc->name, &tc, rt_policy_names[sc->policy], NULL, 0) < 0) {
		snprintf(err, errlen, "[service %s]: %s", sc->name, lbfo_team_error(&s->team));
		return -1;
	}
	for (j = 0; j < sc->nnodes; j++) {
		int ni = sc->nodes[j].node;
		int m = lbfo_team_add_member(&s->team, r->cfg->node[ni].name, 0, 0, now);

		if (m < 0) {
			snprintf(err, errlen, "[service %s]: %s", sc->name, lbfo_team_error(&s->team));
			return -1;
		}
		/* FIG 5's "allocate twice" is the member's weight. */
		if (lbfo_team_set_weight(&s->team, m, sc->nodes[j].weight, now) < 0) {
			snprintf(err, errlen, "[service %s]: %s", sc->name, lbfo_team_error(&s->team));
			return -1;
		}
		s->member_node[m] = ni;
		s->node_member[ni] = m;
	}
	lbfo_team_reset_shares(&s->team);
	s->fd = socket(sc->listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto sys;
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&sc->listen, sc->listen_len) < 0 ||
	    listen(s->fd, 4096) < 0)
		goto sys;
	s->ev.kind = RT_EV_LISTEN;
	s->ev.ptr = s;
	ev.data.ptr = &s->ev;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		goto sys;
	return 0;
sys:
	snprintf(err, errlen, "[service %s]: listen %s: %s", sc->name, sc->listen_text,
		 strerror(errno));
	return -1;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void router_free(struct router *r)
{
	uint64_t now = rt_now_ns();
	size_t i;
	int k;

	while (r->conns)
		conn_close(r, r->conns, now);
	conn_reap(r);
	for (k = 0; k < r->nsvc; k++) {
		if (r->svc[k].fd >= 0)
			close(r->svc[k].fd);
		lbfo_team_destroy(&r->svc[k].team);
	}
	for (i = 0; i < sizeof(r->clients) / sizeof(r->clients[0]); i++)
		while (r->clients[i]) {
			struct rt_client *c = r->clients[i];

			r->clients[i] = c->next;
			free(c);
		}
	for (k = 0; k < r->npool; k++) {
		close(r->pool[k][0]);
		close(r->pool[k][1]);
	}
	rt_ctl_close(r);
	if (r->disc_fd >= 0)
		close(r->disc_fd);
	sess_table_destroy(&r->sessions);
	if (r->ep >= 0)
		close(r->ep);
}

static const char usage[] =
"usage: lbfo-router -c FILE [--check] | --config-reference\n"
"\n"
"The cluster router of seed 002: forwards clients' TCP connections on each\n"
"[service] to a cluster node chosen by the policy table, keeps clients on\n"
"their node (session table), and learns nodes by discovery (lbfo-node).\n"
"  -c, --config FILE  configuration (see docs/router.md)\n"
"      --check        load and check the configuration, then exit\n"
"      --config-reference  print every section and key (Markdown), then exit\n"
"\n"
"Watch and steer it with lbfoctl --socket PATH (services, nodes, sessions,\n"
"events, metrics, node fail|restore, weight set); PATH is [router] control,\n"
"default /run/lbfo/router.sock. Events also go to stderr. SIGTERM or SIGINT\n"
"stops it; SIGHUP is ignored (the configuration is read at start only).\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "config-reference", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct rt_config cfg;
	static struct router rt;
	struct router *r = &rt;
	const char *file = NULL;
	char err[512];
	bool check = false;
	int c, i, sfd = -1, rc = 1;
	sigset_t mask;
	struct rt_ev sig_ev = { .kind = RT_EV_SIGNAL };
	uint64_t last_tick = 0;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'k': check = true; break;
		case 'r': rt_config_markdown(stdout); return 0;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!file || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	rt_config_defaults(&cfg);
	if (rt_config_load(&cfg, file, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK: %d service(s), %d node(s)\n", file, cfg.nsvc,
		       cfg.nnode);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	r->cfg = &cfg;
	r->disc_fd = r->ctl_fd = -1;
	r->start_ns = rt_now_ns();
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	if (r->ep < 0 || sess_table_init(&r->sessions, cfg.session_table_size) < 0) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		goto out;
	}
	r->nnode = cfg.nnode;
	for (i = 0; i < cfg.nnode; i++) {
		r->node[i].cfg = &cfg.node[i];
		r->node[i].priority = 1;
	}
	for (i = 0; i < cfg.nsvc; i++) {
		r->nsvc = i + 1;
		if (open_service(r, i, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", prog, err);
			goto out;
		}
	}
	/* With discovery, a node carries nothing until it has announced. */
	for (i = 0; i < r->nnode; i++) {
		if (cfg.discovery) {
			rt_node_down(r, i, RT_NODE_UNKNOWN, "no announcement yet", r->start_ns);
		} else {
			r->node[i].state = RT_NODE_UP;
			snprintf(r->node[i].reason, sizeof(r->node[i].reason), "static (discovery off)");
		}
	}
	if (rt_disc_open(r, err, sizeof(err)) < 0 || rt_ctl_open(r, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		goto out;
	}
	/* SIGTERM/SIGINT stop, SIGHUP is logged and ignored (no reload:
	 * restart to change the configuration; the default would kill the
	 * router and leave its control socket behind). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &sig_ev };

		if (sfd < 0 || epoll_ctl(r->ep, EPOLL_CTL_ADD, sfd, &ev) < 0) {
			fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
			goto out;
		}
	}
	rt_event(r, "router started: %d service(s), %d node(s), cluster %u, discovery %s",
		 r->nsvc, r->nnode, cfg.cluster_id, cfg.discovery ? "on" : "off");
	while (!r->stop) {
		struct epoll_event evs[256];
		int n = epoll_wait(r->ep, evs, 256, 50);
		uint64_t now = rt_now_ns();

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "%s: epoll_wait: %s\n", prog, strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct rt_ev *e = evs[i].data.ptr;
			struct rt_conn *cn;

			switch (e->kind) {
			case RT_EV_LISTEN:
				accept_all(r, e->ptr, now);
				break;
			case RT_EV_CLIENT:
				cn = e->ptr;
				conn_pump(r, cn, event_dirs(evs[i].events, true), now);
				break;
			case RT_EV_BACKEND:
				cn = e->ptr;
				if (cn->dead)
					break;
				if (cn->connecting)
					conn_connected(r, cn, now);
				else
					conn_pump(r, cn, event_dirs(evs[i].events, false), now);
				break;
			case RT_EV_DISC:
				rt_disc_input(r, now);
				break;
			case RT_EV_CTL:
				rt_ctl_accept(r, now);
				break;
			case RT_EV_CTL_CLIENT:
				rt_ctl_client_io(r, e, evs[i].events, now);
				break;
			case RT_EV_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						rt_event(r, "SIGHUP ignored: the router does not reload "
							 "its configuration; restart it");
					else
						r->stop = true;
				}
				break;
			}
			}
		}
		conn_reap(r);
		if (now - last_tick >= 50 * LBFO_NS_PER_MS) {
			last_tick = now;
			check_connect_deadlines(r, now);
			for (i = 0; i < r->nsvc; i++)
				if (r->svc[i].accept_retry)
					accept_all(r, &r->svc[i], now);
			conn_reap(r);
			rt_disc_tick(r, now);
			rt_ctl_tick(r, now);
			sess_expire(&r->sessions, now, (uint64_t)cfg.session_idle_ms * LBFO_NS_PER_MS);
			for (i = 0; i < r->nsvc; i++)
				lbfo_team_tick(&r->svc[i].team, now);
		}
	}
	rt_event(r, "router stopping");
	rc = 0;
out:
	router_free(r);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
