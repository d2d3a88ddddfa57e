/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The session table shared by the router's workers: S shards, each a
 * struct sess_table (session.h, single-threaded) behind its own mutex. A
 * key's shard is a hash of the key, so a client finds its session
 * whichever worker accepted its connection, and two workers contend only
 * when their clients' keys fall in the same shard. The capacity is split
 * evenly over the shards; LRU eviction and idle expiry are per shard.
 *
 * Handles: each shard numbers its own sessions 1, 2, ...; the handle the
 * router shows is (local - 1) * S + shard + 1: unique over the table and
 * never reused, and with one shard the same as the shard's own.
 *
 * Whoever holds a shard's lock may use its table with session.h's calls
 * (the router's accept and close paths; a replication module draining a
 * shard's journal or applying a peer's entries: rt_sessions_visit()).
 * Pure apart from the mutexes: time is passed in, no I/O.
 */
#ifndef LBFO_ROUTER_SESSIONS_H
#define LBFO_ROUTER_SESSIONS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

#define RT_SESS_SHARDS_MAX 64

struct rt_sess_shard {
	pthread_mutex_t lock;
	struct sess_table t;
	bool poked;       /* wake_fd told of this shard's journal (under lock) */
};

struct rt_sessions {
	struct rt_sess_shard *shard;
	unsigned nshard;  /* power of two */
	size_t cap;       /* the sum of the shards' */
	/* An eventfd (-1: none) written when a shard's journal gets its first
	 * key since the reader last cleared poked: the replication module on
	 * the main thread wakes for what the workers changed. */
	int wake_fd;
};

/* Figures summed over the shards (each read under its lock). */
struct rt_sessions_totals {
	size_t n, cap;
	uint64_t inserted, expired, evicted;
};

/* How many shards for a table of cap entries used by nworker threads:
 * one for one thread or a small table (LRU exact over the whole table,
 * as before threads); else a power of two up to 4 per worker (max 64),
 * each shard holding at least 1024 entries. */
unsigned rt_sessions_shards_for(size_t cap, unsigned nworker);
/* nshard is rounded down to a power of two, and to at most cap and
 * RT_SESS_SHARDS_MAX. Returns 0, or -1 (cap 0, no memory). */
int rt_sessions_init(struct rt_sessions *ss, size_t cap, unsigned nshard);
void rt_sessions_destroy(struct rt_sessions *ss);
/* The shard of a key. */
unsigned rt_sessions_shard_of(const struct rt_sessions *ss, const struct sess_key *k);
/* Lock shard i and return its table; rt_sessions_unlock(ss, i) after
 * (which writes wake_fd, after unlocking, when the journal got keys). */
struct sess_table *rt_sessions_lock_shard(struct rt_sessions *ss, unsigned i);
void rt_sessions_unlock(struct rt_sessions *ss, unsigned i);
/* Lock the shard of k; *shard says which (to unlock). */
struct sess_table *rt_sessions_lock_key(struct rt_sessions *ss, const struct sess_key *k,
					unsigned *shard);
/* fn on every shard in turn, under its lock. */
void rt_sessions_visit(struct rt_sessions *ss,
		       void (*fn)(void *ctx, unsigned shard, struct sess_table *t), void *ctx);
/* The table-wide handle of shard i's local handle h (0 stays 0). */
uint64_t rt_sessions_handle(const struct rt_sessions *ss, unsigned i, uint64_t h);
/* sess_expire() on every shard; returns how many expired. */
size_t rt_sessions_expire(struct rt_sessions *ss, uint64_t now, uint64_t idle_ns);
void rt_sessions_totals(struct rt_sessions *ss, struct rt_sessions_totals *t);

#endif
