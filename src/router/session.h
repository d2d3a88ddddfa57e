/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The session table of seed 002 (FIG 6): client address (and port, for a
 * service with sticky = address+port) -> node, session handle, last use.
 *
 * Bounded: at most `cap` entries, all allocated up front. When it is
 * full, inserting evicts the least recently used entry without open
 * connections (else the least recently used) and says so. Idle entries
 * (no open connection, unused for idle_ns) expire; one with connections
 * open counts as used when the expiry pass reaches it.
 * Pure: time is passed in, no I/O, no clock reads.
 */
#ifndef LBFO_ROUTER_SESSION_H
#define LBFO_ROUTER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Key: session group (services that share stickiness, e.g. ftp control
 * and data), client address (IPv4 as v4-mapped IPv6), port or 0. */
struct sess_key {
	uint8_t addr[16];
	uint16_t port;
	uint16_t group;
};

struct sess {
	struct sess_key key;
	int node;           /* router's node index */
	uint64_t handle;    /* session handle (FIG 6): unique, never reused */
	uint64_t created_ns;
	uint64_t last_ns;   /* last use: a connection opened or closed */
	uint32_t conns;     /* open connections */
	uint64_t total;     /* connections it has carried */
	uint64_t synced_ns; /* last_ns when the journal last took it */
	uint64_t stamp_ms;  /* replication (sync.c): the wall-clock last use as sent or
			     * received, fixed until the next use (stamp_ns = last_ns
			     * then), so that two routers compare the same numbers */
	uint64_t stamp_ns;
	/* internal */
	struct sess *hnext;
	struct sess *lru_prev, *lru_next; /* head = most recent */
	bool used;
};

struct sess_table {
	struct sess *pool;
	struct sess *free_list;  /* through hnext */
	struct sess **bucket;
	size_t nbucket;          /* power of two */
	size_t cap, n;
	struct sess *lru_head, *lru_tail;
	uint64_t next_handle;
	uint64_t evicted, expired, inserted;
	/* Change journal (off until sess_journal_init): the keys of entries
	 * inserted, moved to another node (sess_set_node), removed by
	 * sess_remove (not expired or evicted: every router does that on its
	 * own), or used again at least journal_touch_ns after the last time
	 * the journal took them, for a
	 * replication module to read back (sess_journal_take) and send the
	 * entry's state of that moment. A ring: when it is full the oldest
	 * keys are lost and journal_lost says so (the reader then sends the
	 * whole table). journal_mute: changes are not journaled (applying a
	 * peer's entries must not echo them back). */
	struct sess_key *journal;
	size_t journal_cap, journal_head, journal_n;
	uint64_t journal_touch_ns;
	uint64_t journal_lost;
	bool journal_mute;
};

/* Returns 0, or -1 when cap is 0 or memory is short. */
int sess_table_init(struct sess_table *t, size_t cap);
void sess_table_destroy(struct sess_table *t);
/* Find a live entry (no side effect on its last use). */
struct sess *sess_find(struct sess_table *t, const struct sess_key *k);
/* Mark used at now (moves it to the head of the LRU). */
void sess_touch(struct sess_table *t, struct sess *s, uint64_t now);
/* Insert a new entry for k -> node. When the table is full the least
 * recently used entry is evicted first and copied to *evicted (if
 * non-NULL) with *did_evict = true. Returns the entry (never NULL once
 * initialised). k must not be in the table. */
struct sess *sess_insert(struct sess_table *t, const struct sess_key *k,
			 int node, uint64_t now, struct sess *evicted,
			 bool *did_evict);
void sess_remove(struct sess_table *t, struct sess *s);
/* The client's session moves to another node (journaled at once). */
void sess_set_node(struct sess_table *t, struct sess *s, int node, uint64_t now);
/* Drop entries with no open connection unused for idle_ns or longer.
 * Walks from the LRU tail, so it stops at the first recent entry.
 * Returns the number expired. */
size_t sess_expire(struct sess_table *t, uint64_t now, uint64_t idle_ns);
/* Iterate from most to least recent: s = NULL starts. */
struct sess *sess_next(const struct sess_table *t, const struct sess *s);

/* Turn the change journal on, with room for cap keys (see struct
 * sess_table). Returns 0, or -1 when memory is short. */
int sess_journal_init(struct sess_table *t, size_t cap, uint64_t touch_ns);
/* Record a change of s (its node moved, say) by hand. */
void sess_journal_note(struct sess_table *t, const struct sess *s);
/* Take up to max journaled keys, oldest first. Returns how many. A key
 * may come more than once; one no longer in the table was removed. */
size_t sess_journal_take(struct sess_table *t, struct sess_key *out, size_t max);
/* The entry in pool slot i (0 <= i < cap) if it is live, else NULL: a walk
 * over the whole table that survives changes between two calls. */
struct sess *sess_slot(struct sess_table *t, size_t i);

#endif
