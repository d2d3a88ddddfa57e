/* Unit tests of the share policies against the seeds: FIG 4, static-share
 * (001 [0022]-[0026]), and FIG 5, dynamic-share (001 [0027]-[0035]). The
 * per-command policies are in test_path_policies.c. */
#include <math.h>

#include "testutil.h"

/* ---- FIG 4: static-share ------------------------------------------- */

/* The pick is the member with the maximum LoadBalancingValue =
 * (TotalTeamBytes / DataPathBytes) * LoadBalancingShare, computed as the
 * pseudocode of [0026] reads, against random bytes and shares. */
static void test_fig4_picks_max_value(void **state)
{
	struct lbfo_team t;
	struct rng r = { 42 };
	int iter, i, checked = 0;

	(void)state;
	team_make(&t, NULL, "static-share", NULL, 0, 4, NULL, NULL);
	for (iter = 0; iter < 2000; iter++) {
		long double total = 0, val[4], max = -1, second = -1;
		int want = -1;

		for (i = 0; i < 4; i++)
			assert_int_equal(lbfo_team_set_shares(&t, i, 1 + rng_below(&r, 9999),
							      1 + rng_below(&r, 9999), 0), 0);
		for (i = 0; i < 4; i++) {
			t.m[i].epoch_bytes[LBFO_WRITE] = 1 + rng_below(&r, 1u << 30);
			total += t.m[i].epoch_bytes[LBFO_WRITE];
		}
		for (i = 0; i < 4; i++) {
			val[i] = total / t.m[i].epoch_bytes[LBFO_WRITE] * t.m[i].share[LBFO_WRITE];
			if (val[i] > max) {
				second = max;
				max = val[i];
				want = i;
			} else if (val[i] > second) {
				second = val[i];
			}
		}
		if (max - second < max * 1e-12L)
			continue; /* a near tie: the tie rule decides */
		checked++;
		assert_int_equal(lbfo_fig4_select(&t, LBFO_WRITE), want);
		assert_int_equal(lbfo_team_select(&t, LBFO_WRITE, 4096, 0), want);
	}
	assert_true(checked > 1900);
	/* A member with no bytes yet has an infinite value. */
	t.m[2].epoch_bytes[LBFO_WRITE] = 0;
	assert_int_equal(lbfo_fig4_select(&t, LBFO_WRITE), 2);
	lbfo_team_destroy(&t);
}

/* Ties (documented in policy.c): the member picked least recently, then
 * the lower index. */
static void test_fig4_ties(void **state)
{
	struct lbfo_team t;
	int i;

	(void)state;
	team_make(&t, NULL, "static-share", NULL, 0, 3, NULL, NULL);
	/* Exactly equal shares (3334/3333/3333 would not tie). */
	for (i = 0; i < 3; i++)
		t.m[i].share[LBFO_READ] = 3333;
	/* Equal shares, equal sizes: strict rotation, lower index first. */
	for (i = 0; i < 12; i++)
		assert_int_equal(dispatch(&t, LBFO_READ, 4096, 0), i % 3);

	/* A tie where the least recently picked has the highest index. */
	lbfo_team_shares_changed(&t);
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 0), 0); /* all tied: lower index */
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 0), 1); /* infinite values */
	assert_int_equal(dispatch(&t, LBFO_READ, 8192, 0), 2);
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 0), 0); /* 0 and 1 tie; 0 older */
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 0), 1);
	/* Now all three hold 8192 bytes; 2 was picked least recently. */
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 0), 2);

	/* Direct: equal values and equal last picks -> lower index. */
	for (i = 0; i < 3; i++) {
		t.m[i].epoch_bytes[LBFO_READ] = 1000;
		t.m[i].last_pick = 7;
	}
	assert_int_equal(lbfo_fig4_select(&t, LBFO_READ), 0);
	t.m[0].last_pick = 9;
	assert_int_equal(lbfo_fig4_select(&t, LBFO_READ), 1);
	t.m[1].last_pick = 8;
	assert_int_equal(lbfo_fig4_select(&t, LBFO_READ), 2);
	lbfo_team_destroy(&t);
}

/* Over many commands of random sizes the byte split matches the shares. */
static void test_fig4_split_matches_shares(void **state)
{
	const uint32_t rd[3] = { 5000, 3000, 2000 };
	uint64_t bytes[3] = { 0 }, total = 0;
	struct lbfo_team t;
	struct rng r = { 7 };
	int i;

	(void)state;
	team_make(&t, NULL, "static-share", NULL, 0, 2,
		  (const uint32_t[]){ 7000, 3000 }, NULL);
	for (i = 0; i < 20000; i++) {
		uint64_t b = 512u << rng_below(&r, 12); /* 512 B .. 1 MiB */

		bytes[dispatch(&t, LBFO_READ, b, (uint64_t)i)] += b;
		total += b;
	}
	assert_true(fabs(frac(bytes[0], total) - 0.70) < 0.01);
	assert_true(fabs(frac(bytes[1], total) - 0.30) < 0.01);
	assert_int_equal(t.m[0].st.bytes[LBFO_READ], bytes[0]);
	lbfo_team_destroy(&t);

	memset(bytes, 0, sizeof(bytes));
	total = 0;
	team_make(&t, NULL, "static-share", NULL, 0, 3, rd, NULL);
	for (i = 0; i < 20000; i++) {
		uint64_t b = 4096 + rng_below(&r, 60000);

		bytes[dispatch(&t, LBFO_WRITE, b, (uint64_t)i)] += b;
		total += b;
	}
	for (i = 0; i < 3; i++)
		assert_true(fabs(frac(bytes[i], total) - rd[i] / 10000.0) < 0.01);
	lbfo_team_destroy(&t);
}

/* 001 [0025]: read and write shares are separate; interleaved reads and
 * writes each converge to their own split. */
static void test_fig4_read_write_independent(void **state)
{
	const uint32_t rd[2] = { 7000, 3000 }, wr[2] = { 2000, 8000 };
	uint64_t bytes[2][2] = { { 0 } }, total[2] = { 0 };
	struct lbfo_team t;
	struct rng r = { 99 };
	int i;

	(void)state;
	team_make(&t, NULL, "static-share", NULL, 0, 2, rd, wr);
	for (i = 0; i < 20000; i++) {
		enum lbfo_dir d = rng_below(&r, 3) ? LBFO_READ : LBFO_WRITE;
		uint64_t b = 512u << rng_below(&r, 9);

		bytes[d][dispatch(&t, d, b, (uint64_t)i)] += b;
		total[d] += b;
	}
	assert_true(fabs(frac(bytes[LBFO_READ][0], total[LBFO_READ]) - 0.70) < 0.01);
	assert_true(fabs(frac(bytes[LBFO_READ][1], total[LBFO_READ]) - 0.30) < 0.01);
	assert_true(fabs(frac(bytes[LBFO_WRITE][0], total[LBFO_WRITE]) - 0.20) < 0.01);
	assert_true(fabs(frac(bytes[LBFO_WRITE][1], total[LBFO_WRITE]) - 0.80) < 0.01);
	lbfo_team_destroy(&t);
}

/* ---- FIG 5: dynamic-share ------------------------------------------- */

struct dynbed {
	struct lbfo_team t;
	struct lbfo_adapter a[LBFO_MAX_MEMBERS];
	uint64_t fed[LBFO_MAX_MEMBERS];
	uint64_t now;
};

static void dyn_make(struct dynbed *b, int n, const uint32_t *sh, const char *relax)
{
	/* min_bytes=0: the seed's arithmetic on these small byte counts. */
	const struct lbfo_kv kv[] = {
		{ "interval_ms", "1000" }, { "change_threshold", "5" },
		{ "lb_change", "5" }, { "relax", relax }, { "min_bytes", "0" },
	};
	int i;

	memset(b, 0, sizeof(*b));
	team_make(&b->t, NULL, "dynamic-share", kv, ARRAY_LEN(kv), n, sh, sh);
	for (i = 0; i < n; i++) {
		lbfo_adapter_init(&b->a[i], "if");
		lbfo_member_set_adapter(&b->t, i, &b->a[i]);
	}
	lbfo_team_tick(&b->t, 0); /* timer armed */
}

/* One TimerInterval in which each member's adapter counted bytes[i]
 * (DataPathBytes, fed as the interface's own counter). */
static void dyn_interval(struct dynbed *b, const uint64_t *bytes)
{
	int i;

	for (i = 0; i < b->t.n; i++) {
		b->fed[i] += bytes[i];
		lbfo_adapter_set_if_bytes(&b->a[i], b->fed[i]);
	}
	b->now += NS_S;
	lbfo_team_tick(&b->t, b->now);
}

static void assert_shares(const struct lbfo_team *t, const uint32_t *want)
{
	int i;

	for (i = 0; i < t->n; i++) {
		assert_int_equal(t->m[i].share[LBFO_READ], want[i]);
		assert_int_equal(t->m[i].share[LBFO_WRITE], want[i]);
	}
	assert_shares_full(t);
}

/*
 * The [0033] example: DifferenceLB -15 %, +15 %, +10 %; the members over
 * their share by more than ChangeThreshold (5) lose LBChange (5 points)
 * each and the -15 % member gains. ActualLBShare sums to 100 % over the
 * team, so DifferenceLB sums to 0: the example's three values need a
 * fourth member at -10 % to be exact (below), and with three members the
 * lowest is -25 %.
 */
static void test_dyn_0033_example(void **state)
{
	static struct dynbed b;

	(void)state;
	dyn_make(&b, 4, (const uint32_t[]){ 2500, 2500, 2500, 2500 }, "0");
	/* Actual 10/40/35/15 % -> DifferenceLB -15, +15, +10, -10. */
	dyn_interval(&b, (const uint64_t[]){ 1000000, 4000000, 3500000, 1500000 });
	assert_shares(&b.t, (const uint32_t[]){ 3500, 2000, 2000, 2500 });
	lbfo_team_destroy(&b.t);

	dyn_make(&b, 3, (const uint32_t[]){ 5000, 2500, 2500 }, "0");
	/* Actual 25/40/35 % -> DifferenceLB -25, +15, +10. */
	dyn_interval(&b, (const uint64_t[]){ 2500, 4000, 3500 });
	assert_shares(&b.t, (const uint32_t[]){ 6000, 2000, 2000 });
	/* The same congestion again: cut again (DifferenceLB is measured
	 * against the new shares: 25-60, 40-20, 35-20). */
	dyn_interval(&b, (const uint64_t[]){ 2500, 4000, 3500 });
	assert_shares(&b.t, (const uint32_t[]){ 7000, 1500, 1500 });
	lbfo_team_destroy(&b.t);
}

/* Ties on the lowest DifferenceLB go to the highest ActualLBShare. */
static void test_dyn_tie_highest_actual(void **state)
{
	static struct dynbed b;

	(void)state;
	dyn_make(&b, 4, (const uint32_t[]){ 4000, 3000, 2000, 1000 }, "0");
	/* Actual 55/25/15/5: DifferenceLB +15, -5, -5, -5. */
	dyn_interval(&b, (const uint64_t[]){ 5500, 2500, 1500, 500 });
	assert_shares(&b.t, (const uint32_t[]){ 3500, 3500, 2000, 1000 });
	lbfo_team_destroy(&b.t);

	dyn_make(&b, 4, (const uint32_t[]){ 4000, 1000, 2000, 3000 }, "0");
	/* Actual 55/5/15/25: the tie is won by member 3. */
	dyn_interval(&b, (const uint64_t[]){ 5500, 500, 1500, 2500 });
	assert_shares(&b.t, (const uint32_t[]){ 3500, 1000, 2000, 3500 });
	lbfo_team_destroy(&b.t);
}

/* [0035] step 2: cut only when DifferenceLB > ChangeThreshold (the
 * pseudocode, not [0033]'s prose). */
static void test_dyn_threshold(void **state)
{
	static struct dynbed b;

	(void)state;
	dyn_make(&b, 2, (const uint32_t[]){ 5000, 5000 }, "0");
	dyn_interval(&b, (const uint64_t[]){ 5500, 4500 }); /* exactly 5 points */
	assert_shares(&b.t, (const uint32_t[]){ 5000, 5000 });
	dyn_interval(&b, (const uint64_t[]){ 5000, 5000 });
	assert_shares(&b.t, (const uint32_t[]){ 5000, 5000 });
	dyn_interval(&b, (const uint64_t[]){ 4000, 6000 }); /* under its share */
	assert_shares(&b.t, (const uint32_t[]){ 5500, 4500 });
	/* Now 55/45: exactly 5 points over is no cut, 5.01 points is. */
	dyn_interval(&b, (const uint64_t[]){ 6000, 4000 });
	assert_shares(&b.t, (const uint32_t[]){ 5500, 4500 });
	dyn_interval(&b, (const uint64_t[]){ 6001 * 1000, 3999 * 1000 });
	assert_shares(&b.t, (const uint32_t[]){ 5000, 5000 });
	/* No traffic at all: nothing to measure, nothing changes. */
	dyn_interval(&b, (const uint64_t[]){ 0, 0 });
	assert_shares(&b.t, (const uint32_t[]){ 5000, 5000 });
	/* The timer only fires every TimerInterval. */
	lbfo_adapter_set_if_bytes(&b.a[0], b.fed[0] + 1000000);
	b.now += NS_S / 2;
	lbfo_team_tick(&b.t, b.now);
	assert_shares(&b.t, (const uint32_t[]){ 5000, 5000 });
	b.now += NS_S / 2;
	lbfo_team_tick(&b.t, b.now);
	assert_shares(&b.t, (const uint32_t[]){ 4500, 5500 });
	lbfo_team_destroy(&b.t);
}

/*
 * Congestion from outside the team: the team routes its own commands by
 * FIG 4, and foreign traffic on member 1's adapter (the interface counter,
 * lbfo_adapter_set_if_bytes) makes it carry more than its share. Its share
 * shrinks every interval while that lasts. Afterwards relax=0 keeps the
 * shares (the seed), relax>0 drifts them back.
 */
static void run_congestion(struct dynbed *b, uint64_t *own, int intervals,
			   uint64_t foreign)
{
	int k, i;

	for (k = 0; k < intervals; k++) {
		uint64_t bytes[2];
		uint64_t before[2] = { own[0], own[1] };

		for (i = 0; i < 200; i++) {
			int m = dispatch(&b->t, LBFO_WRITE, 65536, b->now);

			own[m] += 65536;
		}
		bytes[0] = own[0] - before[0];
		bytes[1] = own[1] - before[1] + foreign;
		dyn_interval(b, bytes);
	}
}

static void test_dyn_foreign_congestion_and_relax(void **state)
{
	static struct dynbed b;
	uint64_t own[2] = { 0 };
	uint32_t prev;
	int k;

	(void)state;
	dyn_make(&b, 2, (const uint32_t[]){ 5000, 5000 }, "0");
	prev = b.t.m[1].share[LBFO_WRITE];
	for (k = 0; k < 4; k++) {
		run_congestion(&b, own, 1, 40 * 65536);
		assert_int_equal(b.t.m[1].share[LBFO_WRITE], prev - 500);
		prev = b.t.m[1].share[LBFO_WRITE];
		assert_shares_full(&b.t);
	}
	assert_int_equal(b.t.m[1].share[LBFO_WRITE], 3000);
	/* Congestion gone; relax=0: the shares stay where they are, and
	 * FIG 4 now follows them (30 % of the bytes on member 1). */
	memset(own, 0, sizeof(own));
	run_congestion(&b, own, 5, 0);
	assert_int_equal(b.t.m[0].share[LBFO_WRITE], 7000);
	assert_int_equal(b.t.m[1].share[LBFO_WRITE], 3000);
	assert_true(fabs(frac(own[1], own[0] + own[1]) - 0.30) < 0.01);
	lbfo_team_destroy(&b.t);

	dyn_make(&b, 2, (const uint32_t[]){ 5000, 5000 }, "1");
	run_congestion(&b, own, 4, 40 * 65536);
	assert_int_equal(b.t.m[1].share[LBFO_WRITE], 3000);
	/* relax=1: one point per quiet interval back to 50/50. */
	for (k = 1; k <= 20; k++) {
		run_congestion(&b, own, 1, 0);
		assert_int_equal(b.t.m[1].share[LBFO_WRITE], 3000 + 100 * k);
		assert_shares_full(&b.t);
	}
	run_congestion(&b, own, 3, 0);
	assert_int_equal(b.t.m[1].share[LBFO_WRITE], 5000);
	lbfo_team_destroy(&b.t);
}

/*
 * Read and write shares are separate ([0025]) and FIG 5 runs on top of
 * them: with reads at 70/30 and writes at 20/80 and no foreign traffic,
 * each direction carries exactly its shares, so nothing is cut. Foreign
 * traffic on member 1 cuts member 1 in both directions.
 */
static void test_dyn_separate_read_write_shares(void **state)
{
	static struct dynbed b;
	const struct lbfo_kv kv[] = { { "relax", "0" }, { "min_bytes", "0" } };
	struct rng r = { 5 };
	uint64_t own[2], base[2];
	int k, i;

	(void)state;
	memset(&b, 0, sizeof(b));
	team_make(&b.t, NULL, "dynamic-share", kv, 2, 2,
		  (const uint32_t[]){ 7000, 3000 }, (const uint32_t[]){ 2000, 8000 });
	for (i = 0; i < 2; i++) {
		lbfo_adapter_init(&b.a[i], "if");
		lbfo_member_set_adapter(&b.t, i, &b.a[i]);
	}
	lbfo_team_tick(&b.t, 0);
	for (k = 0; k < 6; k++) {
		uint64_t foreign = k < 3 ? 0 : 400 * 65536;

		for (i = 0; i < 2; i++)
			base[i] = b.t.m[i].st.bytes[LBFO_READ] + b.t.m[i].st.bytes[LBFO_WRITE];
		for (i = 0; i < 1000; i++) {
			enum lbfo_dir d = rng_below(&r, 2) ? LBFO_READ : LBFO_WRITE;

			dispatch(&b.t, d, 65536, b.now);
		}
		/* The interface counters: our bytes plus foreign ones. */
		for (i = 0; i < 2; i++)
			own[i] = b.t.m[i].st.bytes[LBFO_READ] + b.t.m[i].st.bytes[LBFO_WRITE] - base[i];
		b.fed[0] += own[0];
		b.fed[1] += own[1] + foreign;
		lbfo_adapter_set_if_bytes(&b.a[0], b.fed[0]);
		lbfo_adapter_set_if_bytes(&b.a[1], b.fed[1]);
		b.now += NS_S;
		lbfo_team_tick(&b.t, b.now);
		if (k < 3) {
			assert_int_equal(b.t.m[0].share[LBFO_READ], 7000);
			assert_int_equal(b.t.m[0].share[LBFO_WRITE], 2000);
		}
	}
	assert_true(b.t.m[1].share[LBFO_READ] < 3000);
	assert_true(b.t.m[1].share[LBFO_WRITE] < 8000);
	assert_shares_full(&b.t);
	lbfo_team_destroy(&b.t);
}

/* Without an interface counter, DataPathBytes is what all lbfo teams put
 * through the adapter: another team's traffic on member 1's adapter
 * counts. */
static void test_dyn_shared_adapter_accounting(void **state)
{
	const struct lbfo_kv kv[] = { { "relax", "0" }, { "min_bytes", "0" } };
	struct lbfo_team t;
	struct lbfo_adapter a[2];
	int i;

	(void)state;
	team_make(&t, NULL, "dynamic-share", kv, 2, 2, NULL, NULL);
	lbfo_adapter_init(&a[0], "eth0");
	lbfo_adapter_init(&a[1], "eth1");
	lbfo_member_set_adapter(&t, 0, &a[0]);
	lbfo_member_set_adapter(&t, 1, &a[1]);
	lbfo_team_tick(&t, 0);
	for (i = 0; i < 100; i++)
		dispatch(&t, LBFO_READ, 4096, 1);
	assert_int_equal(lbfo_adapter_bytes(&a[0]), 50 * 4096);
	lbfo_adapter_account(&a[1], 100 * 4096); /* another team */
	lbfo_team_tick(&t, NS_S);
	assert_int_equal(t.m[0].interval_bytes, 50 * 4096);
	assert_int_equal(t.m[1].interval_bytes, 150 * 4096);
	assert_int_equal(t.m[1].interval_own_bytes, 50 * 4096);
	assert_int_equal(t.m[1].share[LBFO_READ], 4500);
	assert_int_equal(t.m[0].share[LBFO_READ], 5500);
	lbfo_team_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fig4_picks_max_value),
		cmocka_unit_test(test_fig4_ties),
		cmocka_unit_test(test_fig4_split_matches_shares),
		cmocka_unit_test(test_fig4_read_write_independent),
		cmocka_unit_test(test_dyn_0033_example),
		cmocka_unit_test(test_dyn_tie_highest_actual),
		cmocka_unit_test(test_dyn_threshold),
		cmocka_unit_test(test_dyn_foreign_congestion_and_relax),
		cmocka_unit_test(test_dyn_separate_read_write_shares),
		cmocka_unit_test(test_dyn_shared_adapter_accounting),
	};
	return cmocka_run_group_tests_name("share policies", tests, NULL, NULL);
}
