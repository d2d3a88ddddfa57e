/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replication of the session table to the peer routers of a
 * high-availability group (docs/sync.md; messages in syncproto.h).
 *
 * Each router connects to every peer's [sync] listen address and sends,
 * on that connection only: HELLO, its whole table, then every change the
 * table's journal records. What a router receives comes in on the
 * connections it accepted. So each direction is one TCP stream with one
 * sender: no election, no connection pairing; a peer that (re)joins
 * connects, or is connected to, and gets the whole table at once.
 *
 * The module never calls the loop: the loop gives it the epoll set, the
 * table, the node and group maps (the configuration) and an event ring,
 * and calls rt_sync_* on its events and ticks. It runs on the main thread;
 * the table's shards are shared with the workers, so it reads and writes
 * each under its lock, and the workers wake it (an eventfd the shards
 * write when their journal gets keys).
 */
#ifndef LBFO_ROUTER_SYNC_H
#define LBFO_ROUTER_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "ev.h"
#include "events.h"
#include "json.h"
#include "session.h"
#include "sessions.h"
#include "syncproto.h"

#define RT_SYNC_MAX_IN (2 * RT_MAX_PEERS)

enum rt_sync_peer_state { RT_SYNC_IDLE, RT_SYNC_CONNECTING, RT_SYNC_CHALLENGED, RT_SYNC_UP };

/* Our connection to one peer: what we send. */
struct rt_sync_peer {
	int fd;
	enum rt_sync_peer_state st;
	struct rt_ev ev;
	uint8_t in[LBFO_SYNC_HDR + LBFO_SYNC_NONCE + LBFO_SYNC_MAC];
	size_t in_len;
	struct rt_key ckey;        /* this connection's key */
	uint64_t seq;
	uint8_t *out;              /* bytes not yet written */
	size_t out_len, out_off, out_cap;
	bool dumping;              /* the whole table is being sent */
	unsigned dump_shard;       /* next shard and pool slot in it */
	size_t dump_cursor;
	uint64_t next_try_ns, retry_ns;
	uint64_t st_was_up_ns;      /* when the connection just lost came up */
	uint64_t connects, msgs, entries, dumps;
	uint64_t since_ns, last_tx_ns;
	bool want_out;             /* EPOLLOUT armed */
	char err[160];             /* why it is not up (last) */
};

/* A connection a peer made to us: what we receive. */
struct rt_sync_in {
	int fd;
	struct rt_ev ev;
	int peer;                  /* index in cfg->sync.peer, by address */
	char from[64];
	uint8_t nonce[LBFO_SYNC_NONCE];
	struct rt_key ckey;
	uint64_t seq;              /* the last one accepted */
	bool hello;
	char name[LBFO_SYNC_NAME + 1];
	uint8_t *buf;
	size_t len;
	uint64_t since_ns;
	bool replaced;             /* the peer opened a new one: close after the batch */
};

struct rt_sync {
	const struct rt_config *cfg;
	struct rt_sessions *ss;    /* the workers' shared table */
	int wake_fd;               /* eventfd: a shard's journal got keys */
	struct rt_ev wake_ev;
	struct lbfo_events *events;
	int ep;
	int fd;                    /* listening; -1 when sync is off */
	struct rt_ev listen_ev;
	struct rt_sync_peer peer[RT_MAX_PEERS];
	struct rt_sync_in *in[RT_SYNC_MAX_IN];
	char name[LBFO_SYNC_NAME + 1];
	uint32_t ghash[RT_MAX_SERVICES]; /* session group id -> its name's hash */
	/* what came in */
	uint64_t rx_msgs, rx_entries, rx_applied, rx_unknown, rx_kept, rx_taken;
	uint64_t refused_foreign;  /* connections from no peer's address */
	uint64_t refused_full;     /* RT_SYNC_MAX_IN open already (or no memory) */
	uint64_t rejected[LBFO_SYNC_E__MAX]; /* malformed messages, by reason */
	uint64_t rejected_auth, rejected_order;
	uint64_t last_rx_ns;
	int64_t lag_ms, lag_max_ms; /* of the last message: receipt - sending */
	uint64_t journal_lost_seen;
	/* what went out */
	uint64_t tx_entries;
};

/* Listen (when cfg->sync.on) and start connecting to the peers.
 * Returns 0, or -1 with err. */
int rt_sync_open(struct rt_sync *y, const struct rt_config *cfg, struct rt_sessions *ss,
		 struct lbfo_events *events, int ep, uint64_t now, char *err, size_t errlen);
void rt_sync_close(struct rt_sync *y);
bool rt_sync_on(const struct rt_sync *y);
/* Epoll events on the listening socket, a peer connection, an accepted one. */
void rt_sync_accept(struct rt_sync *y, uint64_t now);
void rt_sync_peer_event(struct rt_sync *y, struct rt_sync_peer *p, uint32_t events, uint64_t now);
void rt_sync_in_event(struct rt_sync *y, struct rt_sync_in *c, uint64_t now);
/* The workers changed sessions (wake_fd): read it; rt_sync_flush sends. */
void rt_sync_wake(struct rt_sync *y);
/* Send what the journal holds to every peer that is up. Cheap when empty. */
void rt_sync_flush(struct rt_sync *y, uint64_t now);
/* Reconnect peers that are down; continue whole-table sends. */
void rt_sync_tick(struct rt_sync *y, uint64_t now);
/* Peers connected to us and past their HELLO. */
size_t rt_sync_inbound(const struct rt_sync *y);
/* Status: text and JSON (an object's members, after "sync":). */
void rt_sync_text(const struct rt_sync *y, FILE *f, uint64_t now);
void rt_sync_json(const struct rt_sync *y, struct lbfo_json *j, uint64_t now);

/* Wall clock, ms since the epoch. */
uint64_t rt_wall_ms(void);

#endif
