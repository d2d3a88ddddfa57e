/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router internals, shared by its files:
 *   router.c    event loop, accepting, allocation, splice forwarding
 *   discovery.c the router's side of the discovery protocol (FIG 7-9)
 *   control.c   control socket (lbfoctl), status, events, metrics
 * Everything runs on one thread (the epoll loop); nothing is locked.
 */
#ifndef LBFO_ROUTER_ROUTER_H
#define LBFO_ROUTER_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lbfo/core.h"
#include "config.h"
#include "proto.h"
#include "session.h"

#define RT_EVENTS_MAX 256
#define RT_CTL_CLIENTS 8

/* What an epoll registration points at. */
enum rt_ev_kind { RT_EV_LISTEN, RT_EV_CLIENT, RT_EV_BACKEND, RT_EV_DISC,
		  RT_EV_CTL, RT_EV_CTL_CLIENT, RT_EV_SIGNAL };

struct rt_ev {
	enum rt_ev_kind kind;
	void *ptr;
};

/* Discovery state of a node. */
enum rt_node_state {
	RT_NODE_UNKNOWN = 0, /* never announced: not selected (discovery on) */
	RT_NODE_UP,          /* announcing: eligible */
	RT_NODE_FAILED,      /* missed miss_limit announcements, or left */
	RT_NODE_ADMIN_DOWN,  /* failed by an operator; stays down until restored */
	RT_NODE__MAX
};

struct rt_node {
	const struct rt_node_cfg *cfg;
	enum rt_node_state state;
	char reason[128];        /* why it is in that state */
	uint64_t since_ns;
	uint64_t last_hello_ns;  /* 0 = never */
	uint16_t priority;       /* last announced; 0 = "drain me" */
	uint32_t agent_ip;       /* where its agent announces from (host order) */
	uint16_t agent_port;
	uint32_t reply_src;      /* local address its announcements reach (network order) */
	uint64_t hellos, joins, fails, leaves;
};

/* Per (service, member) counters next to the core's own. */
struct rt_member_stats {
	uint64_t sessions;       /* new sessions allocated to it */
	uint64_t conns;          /* connections carried */
	uint64_t bytes_in;       /* client -> node */
	uint64_t bytes_out;      /* node -> client */
	uint64_t connect_fail;
	uint32_t active;
};

struct rt_service {
	struct rt_service_cfg *cfg;
	int fd;
	struct rt_ev ev;
	struct lbfo_team team;
	int member_node[LBFO_MAX_MEMBERS]; /* member -> node index */
	int node_member[RT_MAX_NODES];     /* node -> member, or -1 */
	struct rt_member_stats ms[LBFO_MAX_MEMBERS];
	uint64_t accepted, refused_acl, refused_limit, refused_client_limit,
		 refused_no_node, failed_connect, retries, sticky_hits, moved,
		 new_sessions;
	uint32_t active;
	bool accept_retry; /* accept() ran out of descriptors: retry on the tick */
};

/* Active connections per (service, client address), for max_conns_per_client. */
struct rt_client {
	struct rt_client *next;
	int svc;
	struct rt_addr addr;
	uint32_t conns;
};

struct rt_event {
	uint64_t wall_ms;
	char text[200];
};

struct rt_conn;
struct rt_ctl_client; /* control.c */

struct router {
	struct rt_config *cfg;
	int ep;
	bool stop;
	uint64_t start_ns;
	struct rt_service svc[RT_MAX_SERVICES];
	int nsvc;
	struct rt_node node[RT_MAX_NODES];
	int nnode;
	struct sess_table sessions;
	struct rt_client *clients[4096];
	struct rt_conn *conns;      /* all live connections */
	struct rt_conn *connecting; /* those waiting for their node's answer */
	struct rt_conn *dead;       /* closed during this batch, freed after */
	uint32_t nconns;
	int pool[256][2];           /* empty pipes kept for reuse */
	int npool;
	uint64_t pipes_grown, pipe_grow_refused; /* bulk pipes (pipe_size) */

	/* discovery */
	int disc_fd;
	struct rt_ev disc_ev;
	uint64_t disc_rx, disc_ok, disc_unknown, disc_unexpected, disc_tx;
	uint64_t disc_drop[LBFO_DISC_E__MAX];

	/* control */
	int ctl_fd;
	struct rt_ev ctl_ev;
	char ctl_path[RT_STR_MAX];
	struct rt_ctl_client *ctl_client[RT_CTL_CLIENTS];
	bool ctl_paused; /* listener out of the epoll set (no descriptors) */

	struct rt_event events[RT_EVENTS_MAX];
	unsigned ev_head, ev_n;
	uint64_t evictions_logged;
};

uint64_t rt_now_ns(void);
void rt_event(struct router *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Node state changes, applied to every service's team. */
void rt_node_up(struct router *r, int n, const char *why, uint64_t now);
void rt_node_down(struct router *r, int n, enum rt_node_state st,
		  const char *why, uint64_t now);
void rt_node_priority(struct router *r, int n, uint16_t prio, uint64_t now);
const char *rt_node_state_name(enum rt_node_state s);

int rt_disc_open(struct router *r, char *err, size_t errlen);
void rt_disc_input(struct router *r, uint64_t now);
void rt_disc_tick(struct router *r, uint64_t now);

int rt_ctl_open(struct router *r, char *err, size_t errlen);
void rt_ctl_close(struct router *r);
void rt_ctl_accept(struct router *r, uint64_t now);
/* A control client's socket is ready (e->ptr: its struct rt_ctl_client). */
void rt_ctl_client_io(struct router *r, struct rt_ev *e, uint32_t events, uint64_t now);
/* Deadlines of control clients; called every tick. */
void rt_ctl_tick(struct router *r, uint64_t now);
/* Exposed for tests and the status file. */
void rt_status_text(struct router *r, FILE *f, uint64_t now);
void rt_status_json(struct router *r, FILE *f, uint64_t now);
void rt_metrics_text(struct router *r, FILE *f, uint64_t now);

#endif
