/* Unit tests of the per-command policies: quota-rr (004 claims 11-13),
 * speed-share (claims 14-16), and the policies users know from other
 * systems (round-robin, weighted, queue-depth, service-time). */
#include <math.h>

#include "testutil.h"

/* ---- quota-rr (claims 11-13) ------------------------------------------ */

static void test_quota_rr_stays_until_quota(void **state)
{
	const struct lbfo_kv kv[] = { { "max_cmds", "8" } };
	/* quota = share * max_cmds * mean length: 50 % * 8 * 4096 = 4 cmds */
	const int even[] = { 0, 0, 0, 0, 1, 1, 1, 1 };
	struct lbfo_team t;
	int i;

	(void)state;
	team_make(&t, NULL, "quota-rr", kv, 1, 2, NULL, NULL);
	for (i = 0; i < 40; i++)
		assert_int_equal(dispatch(&t, LBFO_READ, 4096, 0), even[i % 8]);
	lbfo_team_destroy(&t);

	/* 70/30: 0.7 * 8 * 4096 = 22937 bytes -> 6 commands; 0.3 * 8 * 4096
	 * = 9830 -> 3 commands; then round-robin. */
	team_make(&t, NULL, "quota-rr", kv, 1, 2, (const uint32_t[]){ 7000, 3000 }, NULL);
	for (i = 0; i < 45; i++)
		assert_int_equal(dispatch(&t, LBFO_WRITE, 4096, 0), i % 9 < 6 ? 0 : 1);
	lbfo_team_destroy(&t);
}

static void test_quota_rr_stays_until_max_cmds(void **state)
{
	const struct lbfo_kv kv[] = { { "max_cmds", "4" } };
	struct lbfo_team_config cfg = { .max_outstanding = 3 };
	struct lbfo_team t;
	int i;

	(void)state;
	/* A large first command makes member 0's mean length large, so its
	 * byte quota (50 % * 4 * mean) is far from met by the small ones that
	 * follow: max_cmds ends the turn. */
	team_make(&t, NULL, "quota-rr", kv, 1, 3, NULL, NULL);
	assert_int_equal(dispatch(&t, LBFO_READ, 1u << 20, 0), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(dispatch(&t, LBFO_READ, 512, 0), 0);
	assert_true(t.m[0].st.bytes[LBFO_READ] < 2u << 20);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 0), 1);
	lbfo_team_destroy(&t);

	/* max_cmds defaults to the LU's max outstanding (claim 11). */
	team_make(&t, &cfg, "quota-rr", NULL, 0, 2, NULL, NULL);
	assert_int_equal(dispatch(&t, LBFO_READ, 1u << 20, 0), 0);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 0), 0);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 0), 0);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 0), 1);
	lbfo_team_destroy(&t);
}

/* Round-robin order skips a failed member and comes back to it. */
static void test_quota_rr_skips_failed(void **state)
{
	const struct lbfo_kv kv[] = { { "max_cmds", "2" } };
	struct lbfo_team t;
	struct lbfo_cmd *retry;
	int i;

	(void)state;
	team_make(&t, NULL, "quota-rr", kv, 1, 3, NULL, NULL);
	lbfo_team_member_failed(&t, 1, -1, 0, &retry);
	for (i = 0; i < 20; i++)
		assert_int_not_equal(dispatch(&t, LBFO_READ, 4096, 0), 1);
	lbfo_team_member_restored(&t, 1, -1, 1);
	for (i = 0; i < 6; i++)
		if (dispatch(&t, LBFO_READ, 4096, 1) == 1)
			break;
	assert_true(i < 6);
	lbfo_team_destroy(&t);
}

/* ---- speed-share (claims 14-16) ------------------------------------- */

/*
 * A tiny fake clock: each member serves its commands one at a time at
 * rate[i] bytes per ns (FIFO); the team keeps `depth` commands in flight.
 * Member 0 moves 4x the bytes per busy ns of member 1.
 */
struct fakepath {
	double rate;
	uint64_t free_at;
};

enum { DEPTH = 8 };

struct fakebed {
	struct lbfo_team t;
	struct fakepath p[2];
	struct lbfo_cmd c[DEPTH];
	uint64_t done_at[DEPTH];
	uint64_t now, next_tick, tick_ns;
	uint64_t bytes[2];
};

static void fake_start(struct fakebed *b, int k, uint64_t bytes)
{
	int m = lbfo_team_select(&b->t, LBFO_READ, bytes, b->now);
	struct fakepath *p;

	assert_true(m >= 0 && m < 2);
	p = &b->p[m];
	lbfo_team_start(&b->t, &b->c[k], m, LBFO_READ, bytes, b->now);
	if (p->free_at < b->now)
		p->free_at = b->now;
	p->free_at += (uint64_t)((double)bytes / p->rate);
	b->done_at[k] = p->free_at;
}

static void fake_run(struct fakebed *b, uint64_t until)
{
	while (b->now < until) {
		int k, first = 0;

		for (k = 1; k < DEPTH; k++)
			if (b->done_at[k] < b->done_at[first])
				first = k;
		if (b->next_tick <= b->done_at[first]) {
			b->now = b->next_tick;
			lbfo_team_tick(&b->t, b->now);
			b->next_tick += b->tick_ns;
			continue;
		}
		b->now = b->done_at[first];
		b->bytes[b->c[first].member] += b->c[first].bytes;
		assert_int_equal(lbfo_team_complete(&b->t, &b->c[first], b->now), 0);
		fake_start(b, first, 65536);
	}
}

static void fake_make(struct fakebed *b, const char *period_ms)
{
	const struct lbfo_kv kv[] = { { "period_ms", period_ms } };
	int k;

	memset(b, 0, sizeof(*b));
	team_make(&b->t, NULL, "speed-share", kv, 1, 2, NULL, NULL);
	b->p[0].rate = 4.0; /* bytes per ns */
	b->p[1].rate = 1.0;
	b->tick_ns = 5 * NS_MS;
	lbfo_team_tick(&b->t, 0);
	b->next_tick = b->tick_ns;
	for (k = 0; k < DEPTH; k++)
		fake_start(b, k, 65536);
}

static void test_speed_share_converges_to_bandwidth_ratio(void **state)
{
	static struct fakebed b;
	double s0;

	(void)state;
	fake_make(&b, "20");
	assert_int_equal(b.t.m[0].share[LBFO_READ], 5000);
	fake_run(&b, 200 * NS_MS);
	s0 = b.t.m[0].share[LBFO_READ] / 10000.0;
	assert_true(fabs(s0 - 0.80) < 0.03);
	assert_shares_full(&b.t);
	/* And the bytes follow the shares from then on. */
	memset(b.bytes, 0, sizeof(b.bytes));
	fake_run(&b, 400 * NS_MS);
	assert_true(fabs(frac(b.bytes[0], b.bytes[0] + b.bytes[1]) - 0.80) < 0.03);
	lbfo_team_destroy(&b.t);
}

/* Claim 16: how often the speed is measured is tunable. */
static void test_speed_share_period_tunable(void **state)
{
	static struct fakebed b;

	(void)state;
	fake_make(&b, "100");
	fake_run(&b, 95 * NS_MS);
	assert_int_equal(b.t.m[0].share[LBFO_READ], 5000);
	fake_run(&b, 105 * NS_MS);
	assert_true(fabs(b.t.m[0].share[LBFO_READ] / 10000.0 - 0.80) < 0.03);
	lbfo_team_destroy(&b.t);

	fake_make(&b, "10");
	fake_run(&b, 12 * NS_MS);
	assert_int_not_equal(b.t.m[0].share[LBFO_READ], 5000);
	lbfo_team_destroy(&b.t);
}

/* ---- round-robin, weighted, queue-depth, service-time ---------------- */

static void test_round_robin_repeat(void **state)
{
	const struct lbfo_kv kv[] = { { "repeat", "3" } };
	struct lbfo_team t;
	struct lbfo_cmd *retry;
	int i;

	(void)state;
	team_make(&t, NULL, "round-robin", kv, 1, 3, NULL, NULL);
	for (i = 0; i < 27; i++)
		assert_int_equal(dispatch(&t, (enum lbfo_dir)(i & 1), 4096, 0), (i / 3) % 3);
	lbfo_team_destroy(&t);

	team_make(&t, NULL, "round-robin", NULL, 0, 3, NULL, NULL);
	for (i = 0; i < 9; i++)
		assert_int_equal(dispatch(&t, LBFO_READ, 4096, 0), i % 3);
	lbfo_team_member_failed(&t, 1, -1, 1, &retry);
	for (i = 0; i < 8; i++)
		assert_int_equal(dispatch(&t, LBFO_READ, 4096, 1), i % 2 ? 2 : 0);
	lbfo_team_destroy(&t);
}

static void test_weighted_two_to_one(void **state)
{
	const struct lbfo_kv kv[] = { { "weights", "2,1" } };
	const int cycle[3] = { 0, 1, 0 };
	struct lbfo_team t;
	int i, n[2] = { 0, 0 };

	(void)state;
	team_make(&t, NULL, "weighted", kv, 1, 2, NULL, NULL);
	for (i = 0; i < 30; i++) {
		int m = dispatch(&t, LBFO_READ, 4096, 0);

		assert_int_equal(m, cycle[i % 3]); /* interleaved: A B A */
		n[m]++;
		if (i % 3 == 2) {
			assert_int_equal(n[0], 2 * n[1]);
		}
	}
	lbfo_team_destroy(&t);

	/* The members' own weights when no list is given; 3:1 over a cycle
	 * of 4, never more than 3 in a row. */
	team_make(&t, NULL, "weighted", NULL, 0, 2, NULL, NULL);
	t.m[1].weight = 3;
	n[0] = n[1] = 0;
	for (i = 0; i < 40; i++)
		n[dispatch(&t, LBFO_WRITE, 4096, 0)]++;
	assert_int_equal(n[1], 30);
	assert_int_equal(n[0], 10);
	lbfo_team_destroy(&t);
}

static void test_queue_depth_least_outstanding(void **state)
{
	struct lbfo_team t;
	struct lbfo_cmd c[6];
	const int on[6] = { 0, 0, 0, 1, 2, 2 };
	int i;

	(void)state;
	memset(c, 0, sizeof(c));
	team_make(&t, NULL, "queue-depth", NULL, 0, 3, NULL, NULL);
	for (i = 0; i < 6; i++)
		lbfo_team_start(&t, &c[i], on[i], LBFO_READ, 1u << 20, 0);
	/* 3, 1, 2 outstanding: member 1, whatever the size. */
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 512, 1), 1);
	assert_int_equal(lbfo_team_select(&t, LBFO_WRITE, 1u << 24, 1), 1);
	for (i = 0; i < 6; i++)
		assert_int_equal(lbfo_team_complete(&t, &c[i], 2), 0);
	lbfo_team_destroy(&t);

	memset(c, 0, sizeof(c));
	team_make(&t, NULL, "queue-depth", NULL, 0, 3, NULL, NULL);
	lbfo_team_start(&t, &c[0], 0, LBFO_READ, 512, 0);
	lbfo_team_start(&t, &c[1], 0, LBFO_READ, 512, 0);
	lbfo_team_start(&t, &c[2], 2, LBFO_READ, 512, 0);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 1), 1);
	/* 2, 0, 1 -> 1 again (dispatch completed it) */
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 512, 1), 1);
	lbfo_team_start(&t, &c[3], 1, LBFO_READ, 512, 1);
	/* 2, 1, 1: tie between 1 and 2; 2 never picked -> 2 */
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 512, 1), 2);
	for (i = 0; i < 4; i++)
		assert_int_equal(lbfo_team_complete(&t, &c[i], 2), 0);
	assert_int_equal(t.outstanding, 0);
	lbfo_team_destroy(&t);
}

static void test_service_time(void **state)
{
	const struct lbfo_kv kv[] = { { "throughput", "weight" } };
	struct lbfo_team t;
	struct lbfo_cmd c[3];

	(void)state;
	memset(c, 0, sizeof(c));
	team_make(&t, NULL, "service-time", kv, 1, 2, NULL, NULL);
	t.m[0].weight = 1;
	t.m[1].weight = 4;
	lbfo_team_start(&t, &c[0], 1, LBFO_READ, 8192, 0);
	/* (0 + 4096) / 1 = 4096 vs (8192 + 4096) / 4 = 3072 -> member 1 */
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 4096, 1), 1);
	lbfo_team_start(&t, &c[1], 1, LBFO_READ, 8192, 1);
	/* 4096 vs (16384 + 4096) / 4 = 5120 -> member 0 */
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 4096, 1), 0);
	/* A small command: 512 vs 16896 / 4 = 4224 -> 0; a big one on an
	 * idle member 0 vs the weighted queue: (1 MiB) vs (1 MiB + 16 KiB)/4 -> 1. */
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 512, 1), 0);
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 1u << 20, 1), 1);
	assert_int_equal(lbfo_team_complete(&t, &c[0], 2), 0);
	assert_int_equal(lbfo_team_complete(&t, &c[1], 2), 0);
	lbfo_team_destroy(&t);

	/* throughput=auto before anything is measured: least outstanding
	 * bytes. */
	memset(c, 0, sizeof(c));
	team_make(&t, NULL, "service-time", NULL, 0, 3, NULL, NULL);
	lbfo_team_start(&t, &c[0], 0, LBFO_READ, 8192, 0);
	lbfo_team_start(&t, &c[1], 1, LBFO_READ, 4096, 0);
	lbfo_team_start(&t, &c[2], 2, LBFO_READ, 16384, 0);
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 4096, 1), 1);
	lbfo_team_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quota_rr_stays_until_quota),
		cmocka_unit_test(test_quota_rr_stays_until_max_cmds),
		cmocka_unit_test(test_quota_rr_skips_failed),
		cmocka_unit_test(test_speed_share_converges_to_bandwidth_ratio),
		cmocka_unit_test(test_speed_share_period_tunable),
		cmocka_unit_test(test_round_robin_repeat),
		cmocka_unit_test(test_weighted_two_to_one),
		cmocka_unit_test(test_queue_depth_least_outstanding),
		cmocka_unit_test(test_service_time),
	};
	return cmocka_run_group_tests_name("path policies", tests, NULL, NULL);
}
