/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router internals, shared by its files. The loop owns the modules and
 * calls down into them; no module calls the loop, and no two modules call
 * each other both ways (scripts/layers checks it). Lowest first:
 *
 *   state.c      clock, the event ring, node state names
 *   pipes.c      the pool of empty pipes, growing a bulk pipe
 *   conn.c       a proxied connection: forwarding both ways, closing (conn.h)
 *   connect.c    connecting to a node; on failure, the next one
 *   accept.c     services: listening, eligibility, limits, allocation
 *   nodes.c      node state changes applied to every service's team
 *   discovery.c  the discovery protocol (FIG 7-9); what it learns goes up
 *                through struct rt_disc_ops, which the loop gives it
 *   sync.c       replication of the session table to peer routers (sync.h)
 *   status.c     status, services, nodes, sessions: text and JSON
 *   metrics.c    Prometheus text exposition
 *   commands.c   the control requests (src/common/ctlcmds.h's router table)
 *   router.c     the loop: epoll, ticks, signals, the control server
 *   main.c       the command line
 *
 * Everything runs on one thread (the epoll loop); nothing is locked.
 */
#ifndef LBFO_ROUTER_ROUTER_H
#define LBFO_ROUTER_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lbfo/core.h"
#include "config.h"
#include "ctlserver.h"
#include "ev.h"
#include "events.h"
#include "proto.h"
#include "session.h"
#include "sync.h"

#define RT_EVENTS_MAX 256


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
	uint64_t agent_restarts; /* announcements from a new agent address or port */
	uint64_t last_stamp;     /* authenticated discovery: its last message's stamp */
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

/* What discovery tells whoever runs it (the loop: nodes.c applies it). */
struct rt_disc_ops {
	/* A node announced (joined, or came back): why says how. */
	void (*node_up)(void *ctx, int node, const char *why, uint64_t now);
	/* A node left or missed its announcements. */
	void (*node_failed)(void *ctx, int node, const char *why, uint64_t now);
	/* An up node announced another priority (0: drain). */
	void (*node_priority)(void *ctx, int node, uint16_t prio, uint64_t now);
};

/* The router's side of the discovery protocol (discovery.c). */
struct rt_disc {
	const struct rt_config *cfg;
	struct rt_node *node;       /* the router's nodes (cfg->nnode of them) */
	int nnode;
	struct lbfo_events *events;
	const struct rt_disc_ops *ops;
	void *ctx;
	int fd;                     /* -1: discovery off */
	struct rt_ev ev;
	uint64_t rx, ok, unknown, unexpected, tx;
	uint64_t tx_stamp;          /* the last stamp sent (authenticated discovery) */
	uint64_t drop[LBFO_DISC_E__MAX];
};

struct rt_conn;

struct router {
	struct rt_config *cfg;
	int ep;
	bool stop;
	uint64_t start_ns;
	uint64_t now;               /* of the loop's current round (for requests) */
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
	struct rt_disc disc;
	struct rt_sync sync;
	struct lbfo_ctl_server *ctl;
	struct rt_ev ctl_ev;
	int sig_fd;
	struct rt_ev sig_ev;
	struct lbfo_events events;
};

/* ---- router.c ------------------------------------------------------------ */
/* Open everything the configuration asks for. Returns 0, or -1 with err;
 * rt_router_free() undoes either. */
int rt_router_init(struct router *r, struct rt_config *cfg, char *err, size_t errlen);
/* The loop, until SIGTERM or SIGINT. Returns 0, or -1 when epoll fails. */
int rt_router_run(struct router *r);
void rt_router_free(struct router *r);

/* ---- state.c ------------------------------------------------------------- */
uint64_t rt_now_ns(void);
/* An event (lbfoctl events) at a syslog level; also on stderr. */
void rt_event(struct router *r, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *rt_node_state_name(enum rt_node_state s);

/* ---- pipes.c --------------------------------------------------------------- */
/* A pipe of the kernel's default size, from the pool when it has one.
 * Returns its size, or 0 when out of descriptors. */
size_t rt_pipe_get(struct router *r, int p[2]);
/* Back to the pool if small and empty, else closed. */
void rt_pipe_put(struct router *r, int p[2], size_t inpipe, size_t cap);
/* Once per direction: grow to pipe_size (counted, a refusal too). */
void rt_pipe_grow(struct router *r, int p[2], size_t *cap, bool *done);
void rt_pipes_free(struct router *r);

/* ---- accept.c --------------------------------------------------------------- */
/* The services' teams and listening sockets. */
int rt_services_open(struct router *r, char *err, size_t errlen);
void rt_services_close(struct router *r);
/* Accept every waiting client of a service. */
void rt_accept_all(struct router *r, struct rt_service *s, uint64_t now);
/* Services whose accept ran out of descriptors try again. */
void rt_accept_retry(struct router *r, uint64_t now);

/* ---- nodes.c ---------------------------------------------------------------- */
/* Node state changes, applied to every service's team. */
void rt_node_up(struct router *r, int n, const char *why, uint64_t now);
void rt_node_down(struct router *r, int n, enum rt_node_state st, const char *why,
		  uint64_t now);
void rt_node_priority(struct router *r, int n, uint16_t prio, uint64_t now);
/* An operator gives a node back: to discovery's judgement (up at its next
 * announcement), or up at once with discovery off. Says what it did. */
void rt_node_restore(struct router *r, int n, FILE *out, uint64_t now);
/* Index of the node called name, or -1. */
int rt_node_index(const struct router *r, const char *name);
/* The initial states: with discovery, unknown until announced; else up. */
void rt_nodes_init(struct router *r, uint64_t now);

/* ---- discovery.c -------------------------------------------------------------- */
/* Open the socket (none when discovery is off) and join the group. */
int rt_disc_open(struct rt_disc *d, int ep, char *err, size_t errlen);
void rt_disc_close(struct rt_disc *d);
void rt_disc_input(struct rt_disc *d, uint64_t now);
/* Nodes silent for the detection window are failed. */
void rt_disc_tick(struct rt_disc *d, uint64_t now);

/* ---- status.c ------------------------------------------------------------------ */
void rt_status_text(struct router *r, FILE *f, uint64_t now);
void rt_status_json(struct router *r, FILE *f, uint64_t now);
void rt_services_text(struct router *r, FILE *f);
void rt_services_json(struct router *r, FILE *f);
void rt_nodes_text(struct router *r, FILE *f, uint64_t now);
void rt_nodes_json(struct router *r, FILE *f, uint64_t now);
void rt_sessions_text(struct router *r, FILE *f, uint64_t now, size_t limit);
void rt_sessions_json(struct router *r, FILE *f, uint64_t now, size_t limit);

/* ---- metrics.c ----------------------------------------------------------------- */
void rt_metrics_text(struct router *r, FILE *f, uint64_t now);

/* ---- commands.c ----------------------------------------------------------------- */
/* The handlers of lbfo_router_commands[], app = the router. */
extern const lbfo_ctl_run_fn rt_ctl_handlers[];

#endif
