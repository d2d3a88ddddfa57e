/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router internals, shared by its files. The loop owns the modules and
 * calls down into them; no module calls the loop, and no two modules call
 * each other both ways (scripts/layers checks it). Lowest first:
 *
 *   state.c      clock, the event ring (locked: every thread logs), node
 *                state names
 *   sessions.c   the session table shared by the workers (sessions.h)
 *   pipes.c      a worker's pool of empty pipes, growing a bulk pipe
 *   conn.c       a proxied connection: forwarding both ways, closing (conn.h)
 *   connect.c    connecting to a node; on failure, the next one
 *   accept.c     services: their teams, eligibility, limits, allocation;
 *                node state changes applied to one service's team
 *   steer.c      a service's SO_REUSEPORT group: the workers' listening
 *                sockets, steering new connections away from a draining one
 *   worker.c     a worker thread: its loop, the messages the main thread
 *                sends it (node states, weights, snapshots, stop), draining
 *   nodes.c      node state changes: the router's view, then every worker's
 *   discovery.c  the discovery protocol (FIG 7-9); what it learns goes up
 *                through struct rt_disc_ops, which the loop gives it
 *   sync.c       replication of the session table to peer routers (sync.h)
 *   status.c     status, services, nodes, sessions, workers: text and JSON
 *   metrics.c    Prometheus text exposition
 *   commands.c   the control requests (src/common/ctlcmds.h's router table)
 *   router.c     the main loop: epoll, ticks, signals, the control server,
 *                discovery; starts and stops the workers
 *   main.c       the command line
 *
 * Threads. The main thread runs router.c's loop: control requests,
 * discovery, signals, session expiry. Each of `threads` workers runs its
 * own epoll loop over its own listening socket per service (SO_REUSEPORT)
 * and the connections it accepted. What they share is either immutable
 * after start (the configuration), per worker (its services' teams and
 * counters, connections, pipes), under a lock that is never held across
 * a system call on the hot path (a session shard; the per-client table;
 * the event ring; a service's group when a worker leaves it), or atomic
 * (the router-wide connection counts for the limits, a worker's state).
 * Node state reaches the workers as messages (worker.c): each worker owns
 * an lbfo_team per service and applies them on its own loop; the main
 * thread keeps its own copy of each team for status and for checking
 * operator requests. Counters reach the main thread the same way: it asks
 * each worker for a snapshot and waits for it (status, metrics).
 */
#ifndef LBFO_ROUTER_ROUTER_H
#define LBFO_ROUTER_ROUTER_H

#include <pthread.h>
#include <stdatomic.h>
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
#include "sessions.h"
#include "sync.h"

#define RT_EVENTS_MAX 256
#define RT_MAX_WORKERS 64


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

/* A service's counters in one worker (status sums the workers'). */
struct rt_svc_stats {
	uint64_t accepted, refused_acl, refused_limit, refused_client_limit,
		 refused_no_node, failed_connect, retries, sticky_hits, moved,
		 new_sessions;
	uint32_t active;
	struct rt_member_stats ms[LBFO_MAX_MEMBERS];
};

/* A service in a worker (its listening socket, team, counters), or the
 * main thread's copy (fd -1; its team is the router's view for status
 * and operator requests, its counters the sum of the workers'). */
struct rt_service {
	struct rt_service_cfg *cfg;
	int idx;           /* in cfg->svc */
	int fd;
	struct rt_ev ev;
	struct lbfo_team team;
	int member_node[LBFO_MAX_MEMBERS]; /* member -> node index */
	int node_member[RT_MAX_NODES];     /* node -> member, or -1 */
	struct rt_svc_stats st;
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
	pthread_mutex_t *events_lock; /* the ring is shared with the workers */
	const struct rt_disc_ops *ops;
	void *ctx;
	int fd;                     /* -1: discovery off */
	struct rt_ev ev;
	uint64_t rx, ok, unknown, unexpected, tx;
	uint64_t tx_stamp;          /* the last stamp sent (authenticated discovery) */
	uint64_t drop[LBFO_DISC_E__MAX];
};

struct rt_conn;
struct router;

/* A worker's life: accepting; draining (new connections steered to the
 * others, its queue accepted, then its sockets closed, its connections
 * finishing); stopped (thread ended, counters kept). */
enum rt_worker_state { RT_W_RUNNING, RT_W_DRAINING, RT_W_STOPPED, RT_W__MAX };

/* What the main thread asks of a worker (worker.c). */
enum rt_msg_kind {
	RT_MSG_NODE,     /* node's state (up, down) and priority */
	RT_MSG_WEIGHT,   /* a member's weight in a service */
	RT_MSG_SNAPSHOT, /* copy the counters to snap */
	RT_MSG_DRAIN,    /* stop: drain, then end */
	RT_MSG_EXIT,     /* the router stops: end now */
};

struct rt_msg {
	struct rt_msg *next;
	enum rt_msg_kind kind;
	uint64_t seq;
	int node, svc, member;
	bool up;      /* RT_MSG_NODE: up (else down) */
	bool joined;  /* up: it has just come up (else a new priority) */
	uint16_t prio;
	uint32_t weight;
};

/* A worker's counters as the main thread sees them. */
struct rt_worker_stats {
	struct rt_svc_stats svc[RT_MAX_SERVICES];
	uint32_t nconns;
	uint64_t pipes_grown, pipe_grow_refused;
};

struct rt_worker {
	struct router *r;
	int id;
	pthread_t th;
	bool started;
	int ep;
	bool stop;
	struct rt_service svc[RT_MAX_SERVICES];
	int nsvc;
	struct rt_conn *conns;      /* all live connections */
	struct rt_conn *connecting; /* those waiting for their node's answer */
	struct rt_conn *dead;       /* closed during this batch, freed after */
	uint32_t nconns;
	int pool[256][2];           /* empty pipes kept for reuse */
	int npool;
	uint64_t pipes_grown, pipe_grow_refused; /* bulk pipes (pipe_size) */
	uint64_t drain_ns;          /* when it was told to drain */
	int listening;              /* services whose socket is still open */
	/* From the main thread: a queue under lock, an eventfd to wake it. */
	int efd;
	struct rt_ev efd_ev;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rt_msg *mq_head, *mq_tail; /* under lock */
	uint64_t seq_sent;          /* main thread only */
	uint64_t seq_done;          /* under lock */
	struct rt_worker_stats snap; /* under lock */
	_Atomic int state;          /* enum rt_worker_state */
};

/* A service's SO_REUSEPORT group (steer.c): the workers' listening
 * sockets in the kernel's order, which a steering program's indices
 * refer to. */
struct rt_group {
	pthread_mutex_t lock;
	int n;
	int fd[RT_MAX_WORKERS];
	int worker[RT_MAX_WORKERS];
	bool draining[RT_MAX_WORKERS];
	bool steered;               /* a program is attached */
};

#define RT_CLIENT_SLOTS 4096
#define RT_CLIENT_LOCKS 64

struct router {
	struct rt_config *cfg;
	int ep;
	bool stop;
	uint64_t start_ns;
	uint64_t now;               /* of the main loop's current round (for requests) */
	struct rt_service svc[RT_MAX_SERVICES]; /* the main thread's copies */
	int nsvc;
	struct rt_node node[RT_MAX_NODES];
	int nnode;
	struct rt_sessions sessions;
	atomic_uint_fast64_t evictions; /* logged ones are numbered over all shards */
	/* Open connections per (service, client address), for
	 * max_conns_per_client; slot i under client_lock[i % RT_CLIENT_LOCKS]. */
	struct rt_client *clients[RT_CLIENT_SLOTS];
	pthread_mutex_t client_lock[RT_CLIENT_LOCKS];
	/* Router-wide and per service open connections, kept only when a
	 * limit needs them (max_conns). */
	atomic_uint nconns;
	atomic_uint svc_active[RT_MAX_SERVICES];
	struct rt_worker *w[RT_MAX_WORKERS];
	int nworker;
	struct rt_group group[RT_MAX_SERVICES];
	uint32_t nconns_total;      /* sum of the last snapshots */
	uint64_t pipes_grown, pipe_grow_refused;
	struct rt_disc disc;
	struct rt_sync sync;
	struct lbfo_ctl_server *ctl;
	struct rt_ev ctl_ev;
	int sig_fd;
	struct rt_ev sig_ev;
	pthread_mutex_t events_lock;
	struct lbfo_events events;
};

/* ---- router.c ------------------------------------------------------------ */
/* Open everything the configuration asks for. Returns 0, or -1 with err;
 * rt_router_free() undoes either. */
int rt_router_init(struct router *r, struct rt_config *cfg, char *err, size_t errlen);
/* Start the workers, then the main loop until SIGTERM or SIGINT; the
 * workers are stopped before it returns. Returns 0, or -1 when epoll
 * fails or a worker cannot start. */
int rt_router_run(struct router *r);
void rt_router_free(struct router *r);

/* ---- state.c ------------------------------------------------------------- */
uint64_t rt_now_ns(void);
/* An event (lbfoctl events) at a syslog level; also on stderr. Any thread. */
void rt_event(struct router *r, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *rt_node_state_name(enum rt_node_state s);
const char *rt_worker_state_name(enum rt_worker_state s);

/* ---- pipes.c --------------------------------------------------------------- */
/* A pipe of the kernel's default size, from the pool when it has one.
 * Returns its size, or 0 when out of descriptors. */
size_t rt_pipe_get(struct rt_worker *w, int p[2]);
/* Back to the pool if small and empty, else closed. */
void rt_pipe_put(struct rt_worker *w, int p[2], size_t inpipe, size_t cap);
/* Once per direction: grow to pipe_size (counted, a refusal too). */
void rt_pipe_grow(struct rt_worker *w, int p[2], size_t *cap, bool *done);
void rt_pipes_free(struct rt_worker *w);

/* ---- accept.c --------------------------------------------------------------- */
/* A service's team (the main thread's copy or a worker's). */
int rt_service_init(struct router *r, struct rt_service *s, int i, char *err, size_t errlen);
void rt_service_destroy(struct rt_service *s);
/* A worker's services: teams, and its listening sockets (steer.c) in its
 * epoll set. */
int rt_services_open(struct rt_worker *w, char *err, size_t errlen);
void rt_services_close(struct rt_worker *w);
/* Accept every waiting client of a service. */
void rt_accept_all(struct rt_worker *w, struct rt_service *s, uint64_t now);
/* Services whose accept ran out of descriptors try again. */
void rt_accept_retry(struct rt_worker *w, uint64_t now);
/* Node ni's state applied to one service's team: up (with its priority),
 * down, a new priority (0: drain) while up. */
void rt_svc_node_up(struct rt_service *s, int ni, uint16_t prio, uint64_t now);
void rt_svc_node_down(struct rt_service *s, int ni, uint64_t now);
void rt_svc_node_priority(struct rt_service *s, int ni, uint16_t prio, uint64_t now);

/* ---- steer.c ---------------------------------------------------------------- */
/* Worker wi's listening socket for service i, joining the service's
 * group (SO_REUSEPORT with more than one worker; IP_FREEBIND). Returns
 * the socket or -1 with err. Called in worker order before they start. */
int rt_listen_open(struct router *r, int i, int wi, char *err, size_t errlen);
/* Steer the service's new connections away from worker wi's socket. */
void rt_group_drain(struct router *r, int i, int wi);
/* Worker wi's socket leaves the group (closed); the steering follows.
 * Unless forced, not while connections are queued on it: -1, accept them
 * first. */
int rt_group_leave(struct router *r, int i, int wi, bool force);
void rt_groups_init(struct router *r);
void rt_groups_free(struct router *r);

/* ---- worker.c ----------------------------------------------------------------- */
/* The workers: made (sockets, epoll, queues) before the threads start. */
int rt_workers_open(struct router *r, char *err, size_t errlen);
int rt_workers_start(struct router *r, char *err, size_t errlen);
/* Tell every worker to end, and wait for them. */
void rt_workers_stop(struct router *r);
void rt_workers_free(struct router *r);
/* Queue m for worker w (or all, w < 0). */
void rt_worker_post(struct router *r, int w, const struct rt_msg *m);
/* Wait (at most timeout_ms) until every live worker has handled what was
 * posted to it. Returns 0, or -1 when one did not in time. */
int rt_workers_sync(struct router *r, int timeout_ms);
/* Fresh counters of every worker into its snap and summed into the main
 * thread's services (r->svc[].st, r->nconns_total, pipes). */
void rt_workers_collect(struct router *r);
/* Stop worker wi without losing a queued connection. Says what it did;
 * returns -1 with err when it cannot. */
int rt_worker_drain(struct router *r, int wi, FILE *out, char *err, size_t errlen);
int rt_worker_state(const struct rt_worker *w);

/* ---- nodes.c ---------------------------------------------------------------- */
/* Node state changes: the router's view, then every worker's teams. */
void rt_node_up(struct router *r, int n, const char *why, uint64_t now);
void rt_node_down(struct router *r, int n, enum rt_node_state st, const char *why,
		  uint64_t now);
void rt_node_priority(struct router *r, int n, uint16_t prio, uint64_t now);
/* An operator gives a node back: to discovery's judgement (up at its next
 * announcement), or up at once with discovery off. Says what it did. */
void rt_node_restore(struct router *r, int n, FILE *out, uint64_t now);
/* Index of the node called name, or -1. */
int rt_node_index(const struct router *r, const char *name);
/* The initial states: with discovery, unknown until announced; else up.
 * Before the workers are made (they copy the main thread's teams). */
void rt_nodes_init(struct router *r, uint64_t now);

/* ---- discovery.c -------------------------------------------------------------- */
/* Open the socket (none when discovery is off) and join the group. */
int rt_disc_open(struct rt_disc *d, int ep, char *err, size_t errlen);
void rt_disc_close(struct rt_disc *d);
void rt_disc_input(struct rt_disc *d, uint64_t now);
/* Nodes silent for the detection window are failed. */
void rt_disc_tick(struct rt_disc *d, uint64_t now);

/* ---- status.c ------------------------------------------------------------------ */
/* All of them read the last snapshots (rt_workers_collect() first). */
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
