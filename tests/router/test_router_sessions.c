/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sharded session table: shard choice, capacity split, handles unique
 * over the shards, the visit under each shard's lock, and workers
 * inserting and finding at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sessions.h"

static struct sess_key key(uint32_t a, uint16_t port)
{
	struct sess_key k;

	memset(&k, 0, sizeof(k));
	k.addr[10] = k.addr[11] = 0xff;
	k.addr[12] = 127;
	k.addr[13] = (uint8_t)(a >> 16);
	k.addr[14] = (uint8_t)(a >> 8);
	k.addr[15] = (uint8_t)a;
	k.port = port;
	return k;
}

static void test_shards_for(void **state)
{
	(void)state;
	assert_int_equal(rt_sessions_shards_for(65536, 1), 1);
	assert_int_equal(rt_sessions_shards_for(65536, 2), 8);
	assert_int_equal(rt_sessions_shards_for(65536, 4), 16);
	assert_int_equal(rt_sessions_shards_for(1 << 24, 64), 64);
	/* Small tables stay whole: exact LRU. */
	assert_int_equal(rt_sessions_shards_for(100, 8), 1);
	assert_int_equal(rt_sessions_shards_for(4096, 8), 4);
}

static void test_init_split(void **state)
{
	struct rt_sessions ss;
	struct rt_sessions_totals t;
	unsigned i;
	size_t sum = 0;

	(void)state;
	assert_int_equal(rt_sessions_init(&ss, 0, 4), -1);
	assert_int_equal(rt_sessions_init(&ss, 10, 4), 0);
	assert_int_equal(ss.nshard, 4);
	for (i = 0; i < ss.nshard; i++)
		sum += ss.shard[i].t.cap;
	assert_int_equal(sum, 10);
	assert_int_equal(ss.shard[0].t.cap, 3);
	assert_int_equal(ss.shard[3].t.cap, 2);
	rt_sessions_totals(&ss, &t);
	assert_int_equal(t.cap, 10);
	assert_int_equal(t.n, 0);
	rt_sessions_destroy(&ss);
	/* Not a power of two: rounded down; never more shards than entries. */
	assert_int_equal(rt_sessions_init(&ss, 1000, 6), 0);
	assert_int_equal(ss.nshard, 4);
	rt_sessions_destroy(&ss);
	assert_int_equal(rt_sessions_init(&ss, 2, 16), 0);
	assert_int_equal(ss.nshard, 2);
	rt_sessions_destroy(&ss);
}

/* Same key, same shard; keys spread over every shard, evenly enough. */
static void test_shard_of(void **state)
{
	struct rt_sessions ss;
	unsigned count[16] = { 0 }, i;

	(void)state;
	assert_int_equal(rt_sessions_init(&ss, 1 << 16, 16), 0);
	for (i = 0; i < 16000; i++) {
		struct sess_key k = key(i, 0);
		unsigned s = rt_sessions_shard_of(&ss, &k);

		assert_true(s < 16);
		assert_int_equal(rt_sessions_shard_of(&ss, &k), s);
		count[s]++;
	}
	for (i = 0; i < 16; i++)
		assert_in_range(count[i], 800, 1200);
	rt_sessions_destroy(&ss);
}

/* Handles over the shards: unique, and one shard keeps its own numbers. */
static void test_handles(void **state)
{
	struct rt_sessions ss;
	uint64_t *seen = calloc(4000, sizeof(*seen));
	unsigned i, j;

	(void)state;
	assert_non_null(seen);
	assert_int_equal(rt_sessions_init(&ss, 8000, 8), 0);
	for (i = 0; i < 4000; i++) {
		struct sess_key k = key(i, 0);
		unsigned sh;
		struct sess_table *t = rt_sessions_lock_key(&ss, &k, &sh);
		struct sess *s = sess_insert(t, &k, 1, 100, NULL, NULL);

		seen[i] = rt_sessions_handle(&ss, sh, s->handle);
		rt_sessions_unlock(&ss, sh);
		assert_true(seen[i] > 0);
	}
	for (i = 0; i < 4000; i++)
		for (j = i + 1; j < 4000; j++)
			assert_true(seen[i] != seen[j]);
	rt_sessions_destroy(&ss);
	assert_int_equal(rt_sessions_init(&ss, 100, 1), 0);
	assert_int_equal(rt_sessions_handle(&ss, 0, 7), 7);
	assert_int_equal(rt_sessions_handle(&ss, 0, 0), 0);
	rt_sessions_destroy(&ss);
	free(seen);
}

struct visit_seen {
	unsigned shards;
	size_t n;
	bool locked_each;
	struct rt_sessions *ss;
};

static void on_visit(void *ctx, unsigned shard, struct sess_table *t)
{
	struct visit_seen *v = ctx;

	/* The visitor runs under the shard's lock: trylock must fail. */
	if (pthread_mutex_trylock(&v->ss->shard[shard].lock) == 0) {
		v->locked_each = false;
		pthread_mutex_unlock(&v->ss->shard[shard].lock);
	}
	assert_ptr_equal(t, &v->ss->shard[shard].t);
	v->shards++;
	v->n += t->n;
}

static void count_recent(void *ctx, unsigned shard, struct sess_table *t)
{
	const struct sess *s;

	(void)shard;
	for (s = sess_next(t, NULL); s; s = sess_next(t, s))
		*(size_t *)ctx += s->last_ns == 5000;
}

/* Visit, expiry, eviction per shard. */
static void test_visit_expire(void **state)
{
	struct rt_sessions ss;
	struct rt_sessions_totals tot;
	struct visit_seen v = { .locked_each = true, .ss = &ss };
	unsigned i;

	(void)state;
	assert_int_equal(rt_sessions_init(&ss, 64, 4), 0);
	for (i = 0; i < 100; i++) {
		struct sess_key k = key(i, 0);
		unsigned sh;
		struct sess_table *t = rt_sessions_lock_key(&ss, &k, &sh);

		sess_insert(t, &k, 1, i < 50 ? 100 : 5000, NULL, NULL);
		rt_sessions_unlock(&ss, sh);
	}
	rt_sessions_visit(&ss, on_visit, &v);
	assert_int_equal(v.shards, 4);
	assert_true(v.locked_each);
	assert_true(v.n <= 64);
	rt_sessions_totals(&ss, &tot);
	assert_int_equal(tot.n, v.n);
	assert_int_equal(tot.inserted, 100);
	assert_int_equal(tot.evicted, 100 - tot.n);
	/* At 5500 with 1000 ns idle the entries last used at 100 go, those at
	 * 5000 stay (the old ones went first when shards were full). */
	{
		size_t recent = 0;
		struct visit_seen v2 = { .locked_each = true, .ss = &ss };

		rt_sessions_visit(&ss, count_recent, &recent);
		assert_int_equal(rt_sessions_expire(&ss, 5500, 1000), tot.n - recent);
		rt_sessions_visit(&ss, on_visit, &v2);
		assert_int_equal(v2.n, recent);
		assert_in_range(recent, 1, 50);
	}
	rt_sessions_expire(&ss, 6000, 1000);
	rt_sessions_totals(&ss, &tot);
	assert_int_equal(tot.n, 0);
	assert_int_equal(tot.expired + tot.evicted, 100);
	rt_sessions_destroy(&ss);
}

/* Four workers at once, as the router's: every key a worker inserts is
 * found by the others, with the node it was given, and the counts add
 * up (ASan/valgrind runs catch a shard touched outside its lock only by
 * luck; the assertions catch lost updates). */
struct worker_arg {
	struct rt_sessions *ss;
	unsigned id;
	unsigned found;
};

#define KEYS 2000

static void *worker(void *p)
{
	struct worker_arg *a = p;
	unsigned round, i;

	for (round = 0; round < 4; round++)
		for (i = 0; i < KEYS; i++) {
			struct sess_key k = key(i, 0);
			unsigned sh;
			struct sess_table *t = rt_sessions_lock_key(a->ss, &k, &sh);
			struct sess *s = sess_find(t, &k);

			if (!s)
				s = sess_insert(t, &k, (int)(i % 7), round, NULL, NULL);
			else if (s->node == (int)(i % 7))
				a->found++;
			s->conns++;
			s->total++;
			rt_sessions_unlock(a->ss, sh);
		}
	return NULL;
}

static void total_conns(void *ctx, unsigned shard, struct sess_table *t)
{
	const struct sess *s;

	(void)shard;
	for (s = sess_next(t, NULL); s; s = sess_next(t, s))
		*(uint64_t *)ctx += s->conns;
}

static void test_threads(void **state)
{
	struct rt_sessions ss;
	struct worker_arg a[4];
	pthread_t th[4];
	struct rt_sessions_totals tot;
	uint64_t conns = 0;
	unsigned i, found = 0;

	(void)state;
	assert_int_equal(rt_sessions_init(&ss, KEYS * 2, 8), 0);
	for (i = 0; i < 4; i++) {
		a[i] = (struct worker_arg){ .ss = &ss, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &a[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		found += a[i].found;
	}
	rt_sessions_totals(&ss, &tot);
	assert_int_equal(tot.n, KEYS);
	assert_int_equal(tot.inserted, KEYS);
	assert_int_equal(tot.evicted, 0);
	/* Each key inserted once, found by the other 15 of its 16 uses. */
	assert_int_equal(found, KEYS * 15);
	rt_sessions_visit(&ss, total_conns, &conns);
	assert_int_equal(conns, KEYS * 16);
	rt_sessions_destroy(&ss);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shards_for),
		cmocka_unit_test(test_init_split),
		cmocka_unit_test(test_shard_of),
		cmocka_unit_test(test_handles),
		cmocka_unit_test(test_visit_expire),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
