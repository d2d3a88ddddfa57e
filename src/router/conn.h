/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A proxied connection, client <-> node: conn.c forwards and closes it,
 * connect.c connects it to a node, accept.c makes it. */
#ifndef LBFO_ROUTER_CONN_H
#define LBFO_ROUTER_CONN_H

#include "router.h"

struct rt_conn {
	struct rt_conn *prev, *next; /* w->conns, or w->dead */
	struct rt_conn *kprev, *knext; /* w->connecting, while connecting */
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
	struct lbfo_mask tried; /* members tried for this connection */
	struct lbfo_cmd cmd;  /* the connection in the core's accounting */
	struct sess_key key;
	uint64_t handle;      /* session handle in its shard, 0 = no session */
	bool counted;         /* in r->nconns / r->svc_active (limits) */
	struct rt_client *client;
	struct rt_addr caddr;
	uint16_t cport;
};

/* Directions to pump after an event. */
#define RT_PUMP_UP 1u   /* client -> node */
#define RT_PUMP_DOWN 2u /* node -> client */

/* ---- conn.c ---- */
void rt_conn_push(struct rt_conn **head, struct rt_conn *c);
/* In or out of w->connecting: only its members have a connect deadline. */
void rt_conn_set_connecting(struct rt_worker *w, struct rt_conn *c, bool on);
/* Release the connection's claim on its member (core + counters). */
void rt_conn_release_member(struct rt_conn *c, uint64_t now);
/* Register what each socket waits for (or take it out of the set). */
int rt_conn_interest(struct rt_worker *w, struct rt_conn *c);
void rt_conn_pump(struct rt_worker *w, struct rt_conn *c, unsigned dirs, uint64_t now);
/* Which directions an epoll event on one side can move. */
unsigned rt_conn_event_dirs(uint32_t events, bool client);
/* Closed now, freed by rt_conn_reap() after the epoll batch. */
void rt_conn_close(struct rt_worker *w, struct rt_conn *c, uint64_t now);
void rt_conn_reap(struct rt_worker *w);
/* Close every connection (the worker stops). */
void rt_conns_free(struct rt_worker *w);
/* Count a node's running connections on it again (it came back). */
void rt_conn_recount(struct rt_worker *w, int ni, uint64_t now);
/* No Nagle delay, TCP keepalive. */
void rt_tune_socket(int fd);
/* Open connections per (service, client address), shared by the workers:
 * one more for the client unless it has limit already (0 = no limit).
 * Returns the client, or NULL: *over says whether for the limit (else
 * memory). */
struct rt_client *rt_client_acquire(struct router *r, int svc, const struct rt_addr *a,
				    uint32_t limit, bool *over);
/* One fewer (NULL: none); the last one frees the entry. */
void rt_client_release(struct router *r, struct rt_client *c);
void rt_clients_free(struct router *r);
/* The connection leaves the router-wide and service counts the limits
 * keep (max_conns), if it was in them. */
void rt_conn_unlimit(struct router *r, struct rt_conn *c);
/* The connection's session, locked (unlock with rt_sessions_unlock(.., *shard)),
 * or NULL (still locked) when its entry is gone or another's now. */
struct sess *rt_conn_session(struct router *r, struct rt_conn *c, unsigned *shard);

/* ---- connect.c ---- */
/* A member for a new session, avoiding those tried (NULL: none; -1: no
 * member). */
int rt_pick_member(struct rt_service *s, const struct lbfo_mask *tried, uint64_t now);
/* Start connecting to member m; a failure moves on to another member. */
void rt_conn_start(struct rt_worker *w, struct rt_conn *c, int m, uint64_t now);
/* A connection's socket is ready (e: its client's or backend's). */
void rt_conn_event(struct rt_worker *w, struct rt_ev *e, uint32_t events, uint64_t now);
/* Connects past their deadline fail over to the next member. */
void rt_connect_deadlines(struct rt_worker *w, uint64_t now);

#endif
