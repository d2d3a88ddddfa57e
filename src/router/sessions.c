/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sharded session table (sessions.h): S session.h tables, a mutex each. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sessions.h"

/* Each shard holds at least this many entries before a table is split. */
#define SHARD_MIN_ENTRIES 1024

unsigned rt_sessions_shards_for(size_t cap, unsigned nworker)
{
	unsigned s = 1;

	if (nworker <= 1)
		return 1;
	while (s * 2 <= nworker * 4 && s * 2 <= RT_SESS_SHARDS_MAX &&
	       cap / (s * 2) >= SHARD_MIN_ENTRIES)
		s *= 2;
	return s;
}

int rt_sessions_init(struct rt_sessions *ss, size_t cap, unsigned nshard)
{
	unsigned i, s = 1;

	memset(ss, 0, sizeof(*ss));
	ss->wake_fd = -1;
	if (cap == 0)
		return -1;
	while (s * 2 <= nshard && s * 2 <= RT_SESS_SHARDS_MAX && s * 2 <= cap)
		s *= 2;
	ss->shard = calloc(s, sizeof(*ss->shard));
	if (!ss->shard)
		return -1;
	for (i = 0; i < s; i++) {
		/* The first cap % s shards take one more entry each. */
		size_t c = cap / s + (i < cap % s ? 1 : 0);

		if (sess_table_init(&ss->shard[i].t, c) < 0) {
			ss->nshard = i;
			rt_sessions_destroy(ss);
			return -1;
		}
		pthread_mutex_init(&ss->shard[i].lock, NULL);
		ss->nshard = i + 1;
	}
	ss->cap = cap;
	return 0;
}

void rt_sessions_destroy(struct rt_sessions *ss)
{
	unsigned i;

	for (i = 0; i < ss->nshard; i++) {
		sess_table_destroy(&ss->shard[i].t);
		pthread_mutex_destroy(&ss->shard[i].lock);
	}
	free(ss->shard);
	memset(ss, 0, sizeof(*ss));
}

/*
 * The shard of a key: FNV-1a over its fields, then a 64-bit finaliser,
 * taking high bits. session.c indexes its buckets with the low bits of
 * its own FNV-1a: a shard chosen by those same bits would leave each
 * shard's table using 1/S of its buckets.
 */
unsigned rt_sessions_shard_of(const struct rt_sessions *ss, const struct sess_key *k)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < sizeof(k->addr); i++)
		h = (h ^ k->addr[i]) * 1099511628211ull;
	h = (h ^ (k->port & 0xff)) * 1099511628211ull;
	h = (h ^ (k->port >> 8)) * 1099511628211ull;
	h = (h ^ (k->group & 0xff)) * 1099511628211ull;
	h = (h ^ (k->group >> 8)) * 1099511628211ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (unsigned)(h >> 40) & (ss->nshard - 1);
}

struct sess_table *rt_sessions_lock_shard(struct rt_sessions *ss, unsigned i)
{
	pthread_mutex_lock(&ss->shard[i].lock);
	return &ss->shard[i].t;
}

void rt_sessions_unlock(struct rt_sessions *ss, unsigned i)
{
	struct rt_sess_shard *sh = &ss->shard[i];
	bool poke = ss->wake_fd >= 0 && sh->t.journal_n && !sh->poked;

	if (poke)
		sh->poked = true;
	pthread_mutex_unlock(&sh->lock);
	if (poke) {
		uint64_t one = 1;

		if (write(ss->wake_fd, &one, sizeof(one)) < 0) {
			/* a full counter still wakes the reader */
		}
	}
}

struct sess_table *rt_sessions_lock_key(struct rt_sessions *ss, const struct sess_key *k,
					unsigned *shard)
{
	*shard = rt_sessions_shard_of(ss, k);
	return rt_sessions_lock_shard(ss, *shard);
}

void rt_sessions_visit(struct rt_sessions *ss,
		       void (*fn)(void *ctx, unsigned shard, struct sess_table *t), void *ctx)
{
	unsigned i;

	for (i = 0; i < ss->nshard; i++) {
		fn(ctx, i, rt_sessions_lock_shard(ss, i));
		rt_sessions_unlock(ss, i);
	}
}

uint64_t rt_sessions_handle(const struct rt_sessions *ss, unsigned i, uint64_t h)
{
	return h ? (h - 1) * ss->nshard + i + 1 : 0;
}

struct expiry {
	uint64_t now, idle_ns;
	size_t n;
};

static void expire_shard(void *ctx, unsigned shard, struct sess_table *t)
{
	struct expiry *x = ctx;

	(void)shard;
	x->n += sess_expire(t, x->now, x->idle_ns);
}

size_t rt_sessions_expire(struct rt_sessions *ss, uint64_t now, uint64_t idle_ns)
{
	struct expiry x = { .now = now, .idle_ns = idle_ns };

	rt_sessions_visit(ss, expire_shard, &x);
	return x.n;
}

static void add_totals(void *ctx, unsigned shard, struct sess_table *t)
{
	struct rt_sessions_totals *s = ctx;

	(void)shard;
	s->n += t->n;
	s->cap += t->cap;
	s->inserted += t->inserted;
	s->expired += t->expired;
	s->evicted += t->evicted;
}

void rt_sessions_totals(struct rt_sessions *ss, struct rt_sessions_totals *t)
{
	memset(t, 0, sizeof(*t));
	rt_sessions_visit(ss, add_totals, t);
}
