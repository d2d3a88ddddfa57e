/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The services: their teams (a worker's, or the main thread's copy) and a
 * worker's listening sockets (steer.c opens them), node states applied to
 * one team, and each new client connection: eligibility (the service's
 * ACL), the limits, its session (FIG 6, in the shared table: the shard's
 * lock held while it is looked up and made) or a node allocated by the
 * worker's lbfo_team (FIG 5's weights), then connect.c takes it to the node.
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
static void log_eviction(struct router *r, unsigned shard, const struct sess *ev)
{
	uint64_t n = atomic_fetch_add_explicit(&r->evictions, 1, memory_order_relaxed) + 1;
	char a[INET6_ADDRSTRLEN];
	struct rt_addr ea;

	if (n > 10 && n % 10000 != 0)
		return;
	memcpy(ea.b, ev->key.addr, sizeof(ea.b));
	rt_addr_text(&ea, a, sizeof(a));
	rt_event(r, LOG_WARNING, "session table full (%zu): evicted session %llu (%s port %u -> "
		 "node %s, %u open connections); %llu evictions so far", r->sessions.cap,
		 (unsigned long long)rt_sessions_handle(&r->sessions, shard, ev->handle),
		 a, ev->key.port, r->cfg->node[ev->node].name, ev->conns, (unsigned long long)n);
}

/* The client's session node while it is usable for this service (a
 * sticky hit, counted on the session), or -1. Shard locked. */
static int sticky_member(struct rt_service *s, struct sess_table *t, struct sess *se,
			 int nnode, struct rt_conn *c, uint64_t now)
{
	int m;

	if (!se || se->node < 0 || se->node >= nnode)
		return -1;
	m = s->node_member[se->node];
	/* A draining node (priority 0) takes no new sessions but keeps its
	 * clients: an FTP data connection must follow its control connection. */
	if (m >= 0 && (lbfo_member_usable(&s->team, m) ||
		       s->team.m[m].state == LBFO_MS_DRAINING)) {
		s->st.sticky_hits++;
		se->conns++;
		se->total++;
		sess_touch(t, se, now);
		c->handle = se->handle;
		return m;
	}
	s->st.moved++; /* its node is gone: the session moves */
	return -1;
}

/* Choose the member for a new connection: the client's session node while
 * it is usable for this service, else a fresh allocation. The session's
 * shard is locked throughout, so two workers' connections of one new
 * client make one session. Returns the member or -1. */
static int allocate(struct rt_worker *w, struct rt_conn *c, uint64_t now)
{
	struct router *r = w->r;
	struct rt_service *s = c->svc;
	struct sess_table *t;
	struct sess *se, ev;
	unsigned sh;
	bool evicted;
	int m;

	if (s->cfg->sticky == RT_STICKY_NONE) {
		m = rt_pick_member(s, 0, now);
		if (m >= 0) {
			s->st.new_sessions++;
			s->st.ms[m].sessions++;
			c->new_session = true;
		}
		return m;
	}
	make_key(s, &c->caddr, c->cport, &c->key);
	t = rt_sessions_lock_key(&r->sessions, &c->key, &sh);
	se = sess_find(t, &c->key);
	m = sticky_member(s, t, se, r->nnode, c, now);
	if (m >= 0)
		goto out;
	m = rt_pick_member(s, 0, now);
	if (m < 0)
		goto out;
	s->st.new_sessions++;
	s->st.ms[m].sessions++;
	c->new_session = true;
	if (se) {
		sess_set_node(t, se, s->member_node[m], now);
		sess_touch(t, se, now);
	} else {
		se = sess_insert(t, &c->key, s->member_node[m], now, &ev, &evicted);
		if (evicted)
			log_eviction(r, sh, &ev);
	}
	se->conns++;
	se->total++;
	c->handle = se->handle;
out:
	rt_sessions_unlock(&r->sessions, sh);
	return m;
}

/* The router's and the service's connection limits (max_conns): counted
 * over every worker, only when one is set. False: over a limit. */
static bool within_limits(struct router *r, struct rt_service *s, struct rt_conn *c)
{
	unsigned all, mine;

	if (!r->cfg->max_conns && !s->cfg->max_conns)
		return true;
	all = atomic_fetch_add_explicit(&r->nconns, 1, memory_order_relaxed);
	mine = atomic_fetch_add_explicit(&r->svc_active[s->idx], 1, memory_order_relaxed);
	c->counted = true;
	if ((r->cfg->max_conns && all >= r->cfg->max_conns) ||
	    (s->cfg->max_conns && mine >= s->cfg->max_conns)) {
		atomic_fetch_sub_explicit(&r->nconns, 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(&r->svc_active[s->idx], 1, memory_order_relaxed);
		c->counted = false;
		return false;
	}
	return true;
}

/* Undo what allocate() did for a connection refused after it. */
static void unallocate(struct router *r, struct rt_conn *c)
{
	unsigned sh;
	struct sess *se;

	if (!c->handle)
		return;
	se = rt_conn_session(r, c, &sh);
	if (se && se->conns)
		se->conns--;
	rt_sessions_unlock(&r->sessions, sh);
}

static void accept_one(struct rt_worker *w, struct rt_service *s, int fd,
		       const struct sockaddr_storage *peer, uint64_t now)
{
	struct router *r = w->r;
	struct rt_conn *c;
	bool over;
	int m;

	s->st.accepted++;
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
		s->st.refused_acl++;
		goto refuse;
	}
	if (!within_limits(r, s, c)) {
		s->st.refused_limit++;
		goto refuse;
	}
	if (s->cfg->max_conns_per_client) {
		c->client = rt_client_acquire(r, s->idx, &c->caddr, s->cfg->max_conns_per_client,
					      &over);
		if (!c->client) {
			if (over)
				s->st.refused_client_limit++;
			goto refuse;
		}
	}
	m = allocate(w, c, now);
	if (m < 0) {
		s->st.refused_no_node++;
		goto refuse;
	}
	c->cap_up = rt_pipe_get(w, c->p_up);
	c->cap_down = c->cap_up ? rt_pipe_get(w, c->p_down) : 0;
	if (!c->cap_up || !c->cap_down) {
		/* Out of descriptors: undo and refuse. */
		rt_pipe_put(w, c->p_up, 1, 0);
		rt_pipe_put(w, c->p_down, 1, 0);
		s->st.refused_limit++;
		unallocate(r, c);
		goto refuse;
	}
	rt_tune_socket(fd);
	c->cev.kind = RT_EV_CLIENT;
	c->cev.ptr = c;
	s->st.active++;
	w->nconns++;
	rt_conn_push(&w->conns, c);
	/* The client joins the epoll set once its node has answered. */
	rt_conn_start(w, c, m, now);
	return;
refuse:
	rt_client_release(r, c->client);
	rt_conn_unlimit(r, c);
	close(fd);
	free(c);
}

void rt_accept_all(struct rt_worker *w, struct rt_service *s, uint64_t now)
{
	if (s->fd < 0)
		return;
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
					rt_event(w->r, LOG_WARNING, "service %s: accept: %s; retrying "
						 "every tick", s->cfg->name, strerror(errno));
				s->accept_retry = true;
				s->st.refused_limit++;
				return;
			}
			s->accept_retry = false;
			return;
		}
		accept_one(w, s, fd, &peer, now);
	}
}

int rt_service_init(struct router *r, struct rt_service *s, int i, char *err, size_t errlen)
{
	struct rt_service_cfg *sc = &r->cfg->svc[i];
	struct lbfo_team_config tc = { .failback = LBFO_FAILBACK_IMMEDIATE };
	uint64_t now = rt_now_ns();
	int j;

	s->cfg = sc;
	s->idx = i;
	s->fd = -1;
	for (j = 0; j < RT_MAX_NODES; j++)
		s->node_member[j] = -1;
	if (lbfo_team_init(&s->team, sc->name, &tc, rt_policy_names[sc->policy], NULL, 0) < 0)
		goto fail;
	for (j = 0; j < sc->nnodes; j++) {
		int ni = sc->nodes[j].node;
		int m = lbfo_team_add_member(&s->team, r->cfg->node[ni].name, 0, 0, now);

		/* FIG 5's "allocate twice" is the member's weight. */
		if (m < 0 || lbfo_team_set_weight(&s->team, m, sc->nodes[j].weight, now) < 0)
			goto fail;
		s->member_node[m] = ni;
		s->node_member[ni] = m;
	}
	lbfo_team_reset_shares(&s->team);
	return 0;
fail:
	snprintf(err, errlen, "[service %s]: %s", sc->name, lbfo_team_error(&s->team));
	return -1;
}

void rt_service_destroy(struct rt_service *s)
{
	if (s->cfg)
		lbfo_team_destroy(&s->team);
	s->cfg = NULL;
}

/* A worker's copy of a service: the team as the router's is now (node
 * states, weights), and its listening socket. */
static int open_service(struct rt_worker *w, int i, char *err, size_t errlen)
{
	struct router *r = w->r;
	struct rt_service *s = &w->svc[i];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = &s->ev };
	uint64_t now = rt_now_ns();
	int m;

	if (rt_service_init(r, s, i, err, errlen) < 0)
		return -1;
	for (m = 0; m < s->team.n; m++) {
		const struct rt_node *n = &r->node[s->member_node[m]];

		lbfo_team_set_weight(&s->team, m, r->svc[i].team.m[m].weight, now);
		if (n->state != RT_NODE_UP)
			rt_svc_node_down(s, s->member_node[m], now);
		else
			rt_svc_node_priority(s, s->member_node[m], n->priority, now);
	}
	s->fd = rt_listen_open(r, i, w->id, err, errlen);
	if (s->fd < 0)
		return -1;
	s->ev.kind = RT_EV_LISTEN;
	s->ev.ptr = s;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		snprintf(err, errlen, "[service %s]: epoll: %s", s->cfg->name, strerror(errno));
		return -1;
	}
	w->listening++;
	return 0;
}

int rt_services_open(struct rt_worker *w, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < w->r->cfg->nsvc; i++) {
		w->nsvc = i + 1;
		if (open_service(w, i, err, errlen) < 0)
			return -1;
	}
	return 0;
}

void rt_services_close(struct rt_worker *w)
{
	int k;

	for (k = 0; k < w->nsvc; k++) {
		if (w->svc[k].fd >= 0)
			rt_group_leave(w->r, k, w->id, true);
		w->svc[k].fd = -1;
		rt_service_destroy(&w->svc[k]);
	}
	w->nsvc = 0;
}

void rt_accept_retry(struct rt_worker *w, uint64_t now)
{
	int i;

	for (i = 0; i < w->nsvc; i++)
		if (w->svc[i].accept_retry)
			rt_accept_all(w, &w->svc[i], now);
}

/* ---- node states on one service's team ------------------------------------------- */

void rt_svc_node_up(struct rt_service *s, int ni, uint16_t prio, uint64_t now)
{
	int m = s->node_member[ni];

	if (m < 0)
		return;
	lbfo_team_member_restored(&s->team, m, -1, now);
	/* A node that announces again is back: no probation beyond the
	 * announcement itself (failback immediate). */
	if (s->team.m[m].state == LBFO_MS_PROBING)
		lbfo_team_member_reinstate(&s->team, m, now);
	rt_svc_node_priority(s, ni, prio, now);
}

void rt_svc_node_down(struct rt_service *s, int ni, uint64_t now)
{
	struct lbfo_cmd *retry = NULL;
	int m = s->node_member[ni];

	if (m < 0 || s->team.m[m].state == LBFO_MS_FAILED)
		return;
	/* Connections in flight keep running (the node may only have lost
	 * its agent); the core hands their commands back, so their
	 * completion is ignored (lbfo_team_complete() < 0). */
	lbfo_team_member_failed(&s->team, m, -1, now, &retry);
}

/* Priority 0 asks for no new sessions (drain); > 0 is eligible. */
void rt_svc_node_priority(struct rt_service *s, int ni, uint16_t prio, uint64_t now)
{
	int m = s->node_member[ni];

	if (m < 0)
		return;
	if (prio == 0 && s->team.m[m].state == LBFO_MS_ACTIVE)
		lbfo_team_member_drain(&s->team, m, now);
	else if (prio > 0 && s->team.m[m].state == LBFO_MS_DRAINING)
		lbfo_team_member_reinstate(&s->team, m, now);
}
