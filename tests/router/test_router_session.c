/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Session table: lookup, LRU eviction with a report, idle expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "session.h"

static struct sess_key key(uint8_t a, uint16_t port)
{
	struct sess_key k;

	memset(&k, 0, sizeof(k));
	k.addr[10] = k.addr[11] = 0xff;
	k.addr[12] = 127;
	k.addr[15] = a;
	k.port = port;
	return k;
}

static void test_basic(void **state)
{
	struct sess_table t;
	struct sess_key k1 = key(1, 0), k2 = key(2, 0), k3 = key(1, 5);
	struct sess *s1, *s2;

	(void)state;
	assert_int_equal(sess_table_init(&t, 0), -1);
	assert_int_equal(sess_table_init(&t, 4), 0);
	assert_null(sess_find(&t, &k1));
	s1 = sess_insert(&t, &k1, 3, 100, NULL, NULL);
	s2 = sess_insert(&t, &k2, 4, 200, NULL, NULL);
	assert_non_null(s1);
	assert_ptr_equal(sess_find(&t, &k1), s1);
	assert_ptr_equal(sess_find(&t, &k2), s2);
	assert_null(sess_find(&t, &k3)); /* the port is part of the key */
	assert_int_equal(s1->node, 3);
	assert_int_not_equal(s1->handle, s2->handle);
	assert_int_equal(t.n, 2);
	/* Most recent first. */
	assert_ptr_equal(sess_next(&t, NULL), s2);
	sess_touch(&t, s1, 300);
	assert_ptr_equal(sess_next(&t, NULL), s1);
	assert_ptr_equal(sess_next(&t, s1), s2);
	assert_null(sess_next(&t, s2));
	sess_remove(&t, s1);
	assert_null(sess_find(&t, &k1));
	assert_int_equal(t.n, 1);
	sess_table_destroy(&t);
}

static void test_evict(void **state)
{
	struct sess_table t;
	struct sess ev, *s;
	bool did;
	int i;

	(void)state;
	assert_int_equal(sess_table_init(&t, 3), 0);
	for (i = 1; i <= 3; i++) {
		struct sess_key k = key((uint8_t)i, 0);

		sess_insert(&t, &k, i, (uint64_t)i, &ev, &did);
		assert_false(did);
	}
	{
		struct sess_key k1 = key(1, 0);

		sess_touch(&t, sess_find(&t, &k1), 10); /* 2 is now the oldest */
	}
	{
		struct sess_key k4 = key(4, 0), k2 = key(2, 0);

		s = sess_insert(&t, &k4, 4, 11, &ev, &did);
		assert_true(did);
		assert_int_equal(ev.node, 2);
		assert_int_equal(ev.key.addr[15], 2);
		assert_null(sess_find(&t, &k2));
		assert_ptr_equal(sess_find(&t, &k4), s);
	}
	assert_int_equal(t.n, 3);
	assert_int_equal(t.evicted, 1);
	/* Many more inserts than room: the table stays bounded and whole. */
	for (i = 0; i < 1000; i++) {
		struct sess_key k = key((uint8_t)(i % 250), (uint16_t)i);

		if (!sess_find(&t, &k))
			assert_non_null(sess_insert(&t, &k, 0, 20 + (uint64_t)i, NULL, NULL));
		assert_true(t.n <= 3);
	}
	sess_table_destroy(&t);
}

static void test_expire(void **state)
{
	struct sess_table t;
	struct sess_key k1 = key(1, 0), k2 = key(2, 0), k3 = key(3, 0);
	struct sess *s2;

	(void)state;
	assert_int_equal(sess_table_init(&t, 8), 0);
	sess_insert(&t, &k1, 1, 1000, NULL, NULL);
	s2 = sess_insert(&t, &k2, 2, 1000, NULL, NULL);
	sess_insert(&t, &k3, 3, 5000, NULL, NULL);
	s2->conns = 1; /* an open connection keeps its session */
	assert_int_equal(sess_expire(&t, 3000, 3000), 0);
	assert_int_equal(sess_expire(&t, 4500, 3000), 1);
	assert_null(sess_find(&t, &k1));
	assert_non_null(sess_find(&t, &k2));
	assert_non_null(sess_find(&t, &k3));
	/* In use when the pass reached it: last use 4500, now the newest. */
	assert_int_equal(s2->last_ns, 4500);
	assert_ptr_equal(sess_next(&t, NULL), s2);
	s2->conns = 0;
	assert_int_equal(sess_expire(&t, 7000, 3000), 0); /* k2 idle 2500 */
	assert_int_equal(sess_expire(&t, 8000, 3000), 2); /* k3 idle since 5000, k2 4500 */
	assert_null(sess_find(&t, &k3));
	assert_null(sess_find(&t, &k2));
	assert_int_equal(t.n, 0);
	assert_int_equal(t.expired, 3);
	sess_table_destroy(&t);
}

/* A full table evicts the oldest entry without open connections: a client
 * still connected keeps its node. With every entry busy, the oldest goes. */
static void test_evict_prefers_idle(void **state)
{
	struct sess_table t;
	struct sess ev;
	bool did;
	int i;

	(void)state;
	assert_int_equal(sess_table_init(&t, 3), 0);
	for (i = 1; i <= 3; i++) {
		struct sess_key k = key((uint8_t)i, 0);
		struct sess *s = sess_insert(&t, &k, i, (uint64_t)i, NULL, NULL);

		s->conns = i == 3 ? 0 : 1; /* 1 and 2 (the oldest) are connected */
	}
	{
		struct sess_key k4 = key(4, 0), k1 = key(1, 0), k3 = key(3, 0);

		assert_non_null(sess_insert(&t, &k4, 4, 10, &ev, &did));
		assert_true(did);
		assert_int_equal(ev.key.addr[15], 3);
		assert_non_null(sess_find(&t, &k1));
		assert_null(sess_find(&t, &k3));
		sess_find(&t, &k4)->conns = 1;
	}
	{
		struct sess_key k5 = key(5, 0), k1 = key(1, 0);

		assert_non_null(sess_insert(&t, &k5, 5, 11, &ev, &did));
		assert_true(did);
		assert_int_equal(ev.key.addr[15], 1); /* all busy: the oldest */
		assert_null(sess_find(&t, &k1));
	}
	assert_int_equal(t.evicted, 2);
	sess_table_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_evict),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_evict_prefers_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
