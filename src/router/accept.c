/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The services: their teams and listening sockets, and each new client
 * connection: eligibility (the service's ACL), the limits, its session
 * (FIG 6) or a node allocated by the service's lbfo_team (FIG 5's
 * weights), then connect.c takes it to the node.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "lbfo/policy.h"
#include "conn.h"

/* Session key of a client for a service. */
static void make_key(const struct rt_service *s, const struct rt_addr *a, uint16_t port,
		     struct sess_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, a->b, sizeof(k->addr));
	k->group = (uint16_t)s->cfg->group_id;
	k->port = s->cfg->sticky == RT_STICKY_ADDRESS_PORT ? port : 0;
}

/* Say what is evicted, without flooding the log. */
static void log_eviction(struct router *r, const struct sess *ev)
{
	char a[INET6_ADDRSTRLEN];
	struct rt_addr ea;

	if (r->sessions.evicted > 10 && r->sessions.evicted % 10000 != 0)
		return;
	memcpy(ea.b, ev->key.addr, sizeof(ea.b));
	rt_addr_text(&ea, a, sizeof(a));
	rt_event(r, LOG_WARNING, "session table full (%zu): evicted session %llu (%s port %u -> "
		 "node %s, %u open connections); %llu evictions so far", r->sessions.cap,
		 (unsigned long long)ev->handle, a, ev->key.port, r->cfg->node[ev->node].name,
		 ev->conns, (unsigned long long)r->sessions.evicted);
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
	m = rt_pick_member(s, 0, now);
	if (m < 0)
		return -1;
	s->new_sessions++;
	s->ms[m].sessions++;
	c->new_session = true;
	if (s->cfg->sticky == RT_STICKY_NONE)
		return m;
	if (se) {
		sess_set_node(&r->sessions, se, s->member_node[m], now);
		sess_touch(&r->sessions, se, now);
	} else {
		struct sess ev;
		bool evicted;

		se = sess_insert(&r->sessions, &c->key, s->member_node[m], now, &ev, &evicted);
		if (evicted)
			log_eviction(r, &ev);
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
	c->client = rt_client_get(r, si, &c->caddr);
	if (!c->client)
		goto refuse;
	if (s->cfg->max_conns_per_client && c->client->conns >= s->cfg->max_conns_per_client) {
		s->refused_client_limit++;
		rt_client_put(r, (c->client->conns++, c->client));
		goto refuse;
	}
	m = allocate(r, c, now);
	if (m < 0) {
		s->refused_no_node++;
		rt_client_put(r, (c->client->conns++, c->client));
		goto refuse;
	}
	c->client->conns++;
	c->cap_up = rt_pipe_get(r, c->p_up);
	c->cap_down = c->cap_up ? rt_pipe_get(r, c->p_down) : 0;
	if (!c->cap_up || !c->cap_down) {
		/* Out of descriptors: undo and refuse. */
		rt_pipe_put(r, c->p_up, 1, 0);
		rt_pipe_put(r, c->p_down, 1, 0);
		s->refused_limit++;
		rt_client_put(r, c->client);
		if (c->handle) {
			struct sess *se = sess_find(&r->sessions, &c->key);

			if (se && se->handle == c->handle && se->conns)
				se->conns--;
		}
		goto refuse;
	}
	rt_tune_socket(fd);
	c->cev.kind = RT_EV_CLIENT;
	c->cev.ptr = c;
	s->active++;
	r->nconns++;
	rt_conn_push(&r->conns, c);
	/* The client joins the epoll set once its node has answered. */
	rt_conn_start(r, c, m, now);
	return;
refuse:
	close(fd);
	free(c);
}

void rt_accept_all(struct router *r, struct rt_service *s, uint64_t now)
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
					rt_event(r, LOG_WARNING, "service %s: accept: %s; retrying every tick",
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

int rt_services_open(struct router *r, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < r->cfg->nsvc; i++) {
		r->nsvc = i + 1;
		if (open_service(r, i, err, errlen) < 0)
			return -1;
	}
	return 0;
}

void rt_services_close(struct router *r)
{
	int k;

	for (k = 0; k < r->nsvc; k++) {
		if (r->svc[k].fd >= 0)
			close(r->svc[k].fd);
		lbfo_team_destroy(&r->svc[k].team);
	}
	r->nsvc = 0;
}

void rt_accept_retry(struct router *r, uint64_t now)
{
	int i;

	for (i = 0; i < r->nsvc; i++)
		if (r->svc[i].accept_retry)
			rt_accept_all(r, &r->svc[i], now);
}
