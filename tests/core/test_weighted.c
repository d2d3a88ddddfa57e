/* Unit tests of the weighted policy (src/core/policy_weighted.c): exact
 * shares over a cycle, smoothness, exclusions, member changes, up to 256
 * members.
 *
 * The bound tested, which the policy's EDF over Pfair windows guarantees:
 * after any t picks of a cycle of W picks (W = sum of the weights), member
 * i's count n_i satisfies |n_i - t * w_i / W| < 1. Hence in any window of
 * L consecutive picks its count differs from L * w_i / W by less than 2,
 * and at t = W, n_i = w_i exactly; cycles repeat, so the same holds across
 * them. */
#include <stdlib.h>

#include "testutil.h"

#define MAXW 1000

/* A team of n members under "weighted" with the given weights. */
static void make(struct lbfo_team *t, int n, const uint32_t *w)
{
	int i;

	team_make(t, NULL, "weighted", NULL, 0, n, NULL, NULL);
	for (i = 0; i < n; i++)
		assert_int_equal(lbfo_team_set_weight(t, i, w[i], 0), 0);
}

static uint64_t sum_w(int n, const uint32_t *w)
{
	uint64_t s = 0;
	int i;

	for (i = 0; i < n; i++)
		s += w[i];
	return s;
}

/*
 * Pick `cycles` whole cycles and check, in exact integers (times W):
 *  - the lag bound |n_i * W - t * w_i| < W after every pick, for every
 *    member. t * w_i - n_i * W only grows between i's picks and only falls
 *    at them, so its largest value is just before a pick of i and its
 *    smallest just after: checking the picked member there (and every
 *    member at the end) checks every (t, i).
 *  - exact shares at the end of each cycle;
 *  - no member picked twice in a row while another member's weight is
 *    equal or larger.
 * seq (if not NULL) receives the picks.
 */
static void check_cycles(struct lbfo_team *t, int n, const uint32_t *w, int cycles, int *seq)
{
	uint64_t W = sum_w(n, w), k, total = W * (uint64_t)cycles;
	int64_t *cnt = calloc((size_t)n, sizeof(*cnt));
	uint32_t wmax = 0;
	int i, prev = -1, nmax = 0;

	assert_non_null(cnt);
	for (i = 0; i < n; i++)
		wmax = w[i] > wmax ? w[i] : wmax;
	for (i = 0; i < n; i++)
		nmax += w[i] == wmax;
	for (k = 0; k < total; k++) {
		int m = lbfo_team_select(t, LBFO_READ, 0, 0);
		int64_t lag;

		assert_in_range(m, 0, n - 1);
		if (seq)
			seq[k] = m;
		/* just before the pick: t = k picks done */
		lag = (int64_t)(k * w[m]) - cnt[m] * (int64_t)W;
		if (lag >= (int64_t)W || lag <= -(int64_t)W)
			fail_msg("pick %llu: member %d (w %u) lag %lld/%llu before its pick",
				 (unsigned long long)k, m, w[m], (long long)lag,
				 (unsigned long long)W);
		cnt[m]++;
		lag = (int64_t)((k + 1) * w[m]) - cnt[m] * (int64_t)W;
		if (lag >= (int64_t)W || lag <= -(int64_t)W)
			fail_msg("pick %llu: member %d (w %u) lag %lld/%llu after its pick",
				 (unsigned long long)k, m, w[m], (long long)lag,
				 (unsigned long long)W);
		if (m == prev && !(w[m] == wmax && nmax == 1))
			fail_msg("pick %llu: member %d (w %u) twice in a row, another weighs as much",
				 (unsigned long long)k, m, w[m]);
		prev = m;
		if ((k + 1) % W == 0)
			for (i = 0; i < n; i++)
				if (cnt[i] != (int64_t)w[i] * (int64_t)((k + 1) / W))
					fail_msg("cycle %llu: member %d has %lld picks, weight %u",
						 (unsigned long long)((k + 1) / W), i,
						 (long long)cnt[i], w[i]);
	}
	free(cnt);
}

/* Every window of every length over seq (len picks): each member's count
 * within 2 of the window's share (|c * W - L * w_i| < 2W). */
static void check_windows(const int *seq, uint64_t len, int n, const uint32_t *w)
{
	uint64_t W = sum_w(n, w), a, b;
	int64_t *c = calloc((size_t)n, sizeof(*c));
	int i;

	assert_non_null(c);
	for (a = 0; a < len; a++) {
		memset(c, 0, (size_t)n * sizeof(*c));
		for (b = a; b < len; b++) {
			c[seq[b]]++;
			for (i = 0; i < n; i++) {
				int64_t d = c[i] * (int64_t)W - (int64_t)((b - a + 1) * w[i]);

				if (d >= 2 * (int64_t)W || d <= -2 * (int64_t)W)
					fail_msg("window %llu..%llu: member %d: %lld picks",
						 (unsigned long long)a, (unsigned long long)b, i,
						 (long long)c[i]);
			}
		}
	}
	free(c);
}

/* 2:1 is A B A, A B A: interleaved, not in bursts. */
static void test_two_to_one(void **state)
{
	static const uint32_t w[2] = { 2, 1 };
	static const int want[9] = { 0, 1, 0, 0, 1, 0, 0, 1, 0 };
	struct lbfo_team t;
	int seq[9];

	(void)state;
	make(&t, 2, w);
	check_cycles(&t, 2, w, 3, seq);
	assert_memory_equal(seq, want, sizeof(want));
	check_windows(seq, 9, 2, w);
	lbfo_team_destroy(&t);
}

/* 5:3:1 and a few more small sets: every bound, every window. */
static void test_small_sets(void **state)
{
	static const uint32_t sets[][4] = {
		{ 5, 3, 1, 0 }, { 1, 1, 1, 0 }, { 3, 3, 1, 0 }, { 7, 2, 2, 1 },
		{ 1, 1000, 0, 0 }, { 999, 1000, 0, 0 }, { 4, 4, 4, 4 }, { 10, 1, 1, 1 },
	};
	size_t s;

	(void)state;
	for (s = 0; s < ARRAY_LEN(sets); s++) {
		struct lbfo_team t;
		int n = 0, *seq;
		uint64_t W;

		while (n < 4 && sets[s][n])
			n++;
		W = sum_w(n, sets[s]);
		seq = calloc(2 * W, sizeof(*seq));
		assert_non_null(seq);
		make(&t, n, sets[s]);
		check_cycles(&t, n, sets[s], 2, seq);
		if (W <= 64)
			check_windows(seq, 2 * W, n, sets[s]);
		lbfo_team_destroy(&t);
		free(seq);
	}
}

/* 256 members, random weights 1..1000 (fixed seed): two whole cycles
 * (about 256000 picks) within the bounds, and the same sequence again
 * from a second team (deterministic). */
static void test_256_random_weights(void **state)
{
	uint32_t w[LBFO_MAX_MEMBERS];
	struct rng r = { 0x5eed2560ull };
	struct lbfo_team a, b;
	uint64_t W, k;
	int i, *seq;

	(void)state;
	for (i = 0; i < LBFO_MAX_MEMBERS; i++)
		w[i] = 1 + rng_below(&r, MAXW);
	W = sum_w(LBFO_MAX_MEMBERS, w);
	seq = calloc(2 * W, sizeof(*seq));
	assert_non_null(seq);
	make(&a, LBFO_MAX_MEMBERS, w);
	check_cycles(&a, LBFO_MAX_MEMBERS, w, 2, seq);
	make(&b, LBFO_MAX_MEMBERS, w);
	for (k = 0; k < 2 * W; k++)
		if (lbfo_team_select(&b, LBFO_READ, 0, 0) != seq[k])
			fail_msg("pick %llu differs between two equal teams", (unsigned long long)k);
	lbfo_team_destroy(&a);
	lbfo_team_destroy(&b);
	free(seq);
}

/* weights=... with 256 entries takes the place of the members' weights. */
static void test_weights_parameter_256(void **state)
{
	char v[LBFO_MAX_MEMBERS * 5 + 1];
	uint32_t w[LBFO_MAX_MEMBERS];
	struct lbfo_kv kv = { "weights", v };
	struct lbfo_team t;
	size_t len = 0;
	int i;

	(void)state;
	for (i = 0; i < LBFO_MAX_MEMBERS; i++) {
		w[i] = 1 + (uint32_t)(i % 7);
		len += (size_t)snprintf(v + len, sizeof(v) - len, "%s%u", i ? "," : "", w[i]);
	}
	team_make(&t, NULL, "weighted", &kv, 1, LBFO_MAX_MEMBERS, NULL, NULL);
	check_cycles(&t, LBFO_MAX_MEMBERS, w, 2, NULL);
	lbfo_team_destroy(&t);
	/* One more is refused. */
	snprintf(v + len, sizeof(v) - len, ",1");
	assert_int_equal(lbfo_team_init(&t, "lu", NULL, "weighted", &kv, 1), -1);
	assert_non_null(strstr(lbfo_team_error(&t), "at most 256"));
}

/* Excluded members are skipped, keep their place and are not charged:
 * with member 0 of 5:3:1 excluded, 1 and 2 split 3:1; the moment the
 * exclusion ends, 0 has its turn at once, and the cycle still gives every
 * member its exact share. */
static void test_excluded_skipped(void **state)
{
	static const uint32_t w[3] = { 5, 3, 1 };
	struct lbfo_team t;
	struct lbfo_mask ex = { { 0 } };
	int hits[3] = { 0 }, k, m;

	(void)state;
	make(&t, 3, w);
	lbfo_mask_add(&ex, 0);
	for (k = 0; k < 400; k++) {
		m = lbfo_team_select_excluding(&t, LBFO_READ, 0, 0, &ex);
		assert_in_range(m, 1, 2);
		hits[m]++;
	}
	assert_in_range(hits[1], 297, 303);
	assert_int_equal(hits[1] + hits[2], 400);
	assert_null(t.exclude);
	/* A member change starts a fresh cycle, which is exact again. */
	assert_int_equal(lbfo_team_set_weight(&t, 2, 2, 0), 0);
	assert_int_equal(lbfo_team_set_weight(&t, 2, 1, 0), 0);
	check_cycles(&t, 3, w, 3, NULL);

	/* One select with the top member excluded: it is picked next. */
	memset(hits, 0, sizeof(hits));
	m = lbfo_team_select(&t, LBFO_READ, 0, 0);
	assert_int_equal(m, 0); /* 5:3:1 starts with member 0 */
	ex = (struct lbfo_mask){ { 0 } };
	lbfo_mask_add(&ex, 0);
	m = lbfo_team_select_excluding(&t, LBFO_READ, 0, 0, &ex);
	assert_int_equal(m, 1);
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 0, 0), 0);
	lbfo_team_destroy(&t);
}

/* Excluding members of a 256-member team: never an excluded one, and the
 * others still close to their proportion among themselves. */
static void test_excluded_many(void **state)
{
	uint32_t w[LBFO_MAX_MEMBERS];
	struct lbfo_team t;
	struct lbfo_mask ex = { { 0 } };
	uint64_t Wrest = 0;
	int hits[LBFO_MAX_MEMBERS] = { 0 }, i, k;
	const int picks = 100000;

	(void)state;
	for (i = 0; i < LBFO_MAX_MEMBERS; i++)
		w[i] = 1 + (uint32_t)(i % 10);
	make(&t, LBFO_MAX_MEMBERS, w);
	for (i = 0; i < LBFO_MAX_MEMBERS; i += 3)
		lbfo_mask_add(&ex, i);
	for (i = 0; i < LBFO_MAX_MEMBERS; i++)
		if (!lbfo_mask_has(&ex, i))
			Wrest += w[i];
	for (k = 0; k < picks; k++) {
		int m = lbfo_team_select_excluding(&t, LBFO_READ, 0, 0, &ex);

		assert_in_range(m, 0, LBFO_MAX_MEMBERS - 1);
		if (lbfo_mask_has(&ex, m))
			fail_msg("excluded member %d picked", m);
		hits[m]++;
	}
	for (i = 0; i < LBFO_MAX_MEMBERS; i++) {
		double want = (double)picks * w[i] / (double)Wrest;

		if (!lbfo_mask_has(&ex, i) && (hits[i] < want - 0.05 * want - 2 ||
					       hits[i] > want + 0.05 * want + 2))
			fail_msg("member %d (w %u): %d picks, want about %.0f", i, w[i], hits[i], want);
	}
	lbfo_team_destroy(&t);
}

/* Fail and restore: a failed member is never picked, the others keep
 * their exact shares in the cycles without it; restored, it is back in
 * the next cycle with its own. */
static void test_fail_restore(void **state)
{
	static const uint32_t w3[3] = { 5, 3, 1 };
	static const uint32_t w2[2] = { 5, 1 }; /* 0 and 2 */
	struct lbfo_team t;
	struct lbfo_cmd *retry;
	int k, hits[3] = { 0 };

	(void)state;
	make(&t, 3, w3);
	for (k = 0; k < 4; k++)
		(void)lbfo_team_select(&t, LBFO_READ, 0, 0); /* mid-cycle */
	lbfo_team_member_failed(&t, 1, -1, 1, &retry);
	for (k = 0; k < 6 * 10; k++) {
		int m = lbfo_team_select(&t, LBFO_READ, 0, 1);

		assert_true(m == 0 || m == 2);
		hits[m]++;
	}
	assert_int_equal(hits[0], 50);
	assert_int_equal(hits[2], 10);
	(void)w2;
	lbfo_team_member_restored(&t, 1, -1, 2); /* immediate failback */
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	check_cycles(&t, 3, w3, 2, NULL);
	/* Drained: out; reinstated: in. */
	assert_int_equal(lbfo_team_member_drain(&t, 0, 3), 0);
	for (k = 0; k < 40; k++)
		assert_int_not_equal(lbfo_team_select(&t, LBFO_READ, 0, 3), 0);
	assert_int_equal(lbfo_team_member_reinstate(&t, 0, 4), 0);
	check_cycles(&t, 3, w3, 2, NULL);
	lbfo_team_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_to_one),
		cmocka_unit_test(test_small_sets),
		cmocka_unit_test(test_256_random_weights),
		cmocka_unit_test(test_weights_parameter_256),
		cmocka_unit_test(test_excluded_skipped),
		cmocka_unit_test(test_excluded_many),
		cmocka_unit_test(test_fail_restore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
