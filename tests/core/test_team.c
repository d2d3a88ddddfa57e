/* Unit tests of the team state machine: roles, failover, failback,
 * in-flight commands handed back for retry exactly once, select's return
 * codes, policy switches, and the share invariant under random events. */
#include "testutil.h"

static void test_first_member_is_primary(void **state)
{
	struct lbfo_team t;

	(void)state;
	assert_int_equal(lbfo_team_init(&t, "lu0", NULL, "round-robin", NULL, 0), 0);
	assert_int_equal(lbfo_team_add_member(&t, "p0", 0, 0, 0), 0);
	assert_int_equal(lbfo_team_add_member(&t, "p1", 0, 0, 0), 1);
	assert_int_equal(lbfo_team_add_member(&t, "p2", 0, 0, 0), 2);
	assert_int_equal(t.m[0].role, LBFO_ROLE_PRIMARY);
	assert_int_equal(t.m[1].role, LBFO_ROLE_SECONDARY);
	assert_int_equal(t.m[2].role, LBFO_ROLE_SECONDARY);
	assert_int_equal(lbfo_team_find(&t, "p2"), 2);
	assert_int_equal(lbfo_team_find(&t, "nope"), -1);
	assert_shares_full(&t);
	/* Even shares, largest remainder to the lower index. */
	assert_int_equal(t.m[0].share[LBFO_READ], 3334);
	assert_int_equal(t.m[1].share[LBFO_READ], 3333);
	assert_int_equal(t.m[2].share[LBFO_READ], 3333);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_BALANCE);
	lbfo_team_destroy(&t);
}

static void test_add_member_refusals(void **state)
{
	struct lbfo_team t;
	int i;

	(void)state;
	assert_int_equal(lbfo_team_init(&t, "lu0", NULL, "static-share", NULL, 0), 0);
	assert_int_equal(lbfo_team_add_member(&t, "p0", 0, 0, 0), 0);
	assert_int_equal(lbfo_team_add_member(&t, "p0", 0, 0, 0), -1);
	assert_non_null(strstr(lbfo_team_error(&t), "duplicate member name 'p0'"));
	assert_int_equal(lbfo_team_add_member(&t, "p1", 10001, 0, 0), -1);
	assert_non_null(strstr(lbfo_team_error(&t), "over 100%"));
	assert_int_equal(t.n, 1);
	for (i = 1; i < LBFO_MAX_MEMBERS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(lbfo_team_add_member(&t, name, 0, 0, 0), i);
	}
	assert_int_equal(lbfo_team_add_member(&t, "extra", 0, 0, 0), -1);
	assert_non_null(strstr(lbfo_team_error(&t), "is full"));
	assert_shares_full(&t);
	assert_int_equal(lbfo_team_set_shares(&t, LBFO_MAX_MEMBERS, 0, 0, 0), -1);
	assert_int_equal(lbfo_team_set_shares(&t, 0, 0, 20000, 0), -1);
	lbfo_team_destroy(&t);
}

/* A team of LBFO_MAX_MEMBERS (256) under every policy: each member is
 * reachable, members past the first 32 are excluded and failed by index
 * like the first ones, and the 257th is refused. */
static void test_max_members_every_policy(void **state)
{
	size_t npol, i;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&npol);

	(void)state;
	assert_int_equal(LBFO_MAX_MEMBERS, 256);
	for (i = 0; i < npol; i++) {
		struct lbfo_team t;
		struct lbfo_mask ex = { { 0 } };
		struct lbfo_cmd *retry;
		int k, m;

		team_make(&t, NULL, tab[i]->name, NULL, 0, LBFO_MAX_MEMBERS, NULL, NULL);
		assert_int_equal(t.n, LBFO_MAX_MEMBERS);
		assert_int_equal(lbfo_team_add_member(&t, "p256", 0, 0, 0), -1);
		assert_non_null(strstr(lbfo_team_error(&t), "is full (256 members)"));
		assert_shares_full(&t);
		/* Exclude all but 200 and 255: only they may answer. */
		for (k = 0; k < LBFO_MAX_MEMBERS; k++)
			if (k != 200 && k != 255)
				lbfo_mask_add(&ex, k);
		for (k = 0; k < 64; k++) {
			m = lbfo_team_select_excluding(&t, LBFO_READ, 4096, 0, &ex);
			if (m != 200 && m != 255)
				fail_msg("%s: got member %d", tab[i]->name, m);
		}
		assert_null(t.exclude);
		/* 255 fails: excluding everything else leaves 200 (or, in
		 * failover mode, the next healthy by order: also 200). */
		lbfo_team_member_failed(&t, 255, -1, 1, &retry);
		for (k = 0; k < 8; k++)
			assert_int_equal(lbfo_team_select_excluding(&t, LBFO_READ, 4096, 1, &ex), 200);
		lbfo_mask_add(&ex, 200);
		assert_int_equal(lbfo_team_select_excluding(&t, LBFO_READ, 4096, 1, &ex),
				 LBFO_SELECT_NO_PATH);
		lbfo_team_destroy(&t);
	}
}

/* Round-robin over 256: every member once per 256 picks. */
static void test_max_members_round_robin_reaches_all(void **state)
{
	struct lbfo_team t;
	int hits[LBFO_MAX_MEMBERS] = { 0 }, k;

	(void)state;
	team_make(&t, NULL, "round-robin", NULL, 0, LBFO_MAX_MEMBERS, NULL, NULL);
	for (k = 0; k < 2 * LBFO_MAX_MEMBERS; k++) {
		int m = lbfo_team_select(&t, LBFO_READ, 4096, 0);

		assert_in_range(m, 0, LBFO_MAX_MEMBERS - 1);
		hits[m]++;
	}
	for (k = 0; k < LBFO_MAX_MEMBERS; k++)
		assert_int_equal(hits[k], 2);
	lbfo_team_destroy(&t);
}

/* A configured 0 is "not set": the unset members split what the set ones
 * leave of 100 % evenly. */
static void test_unset_shares_take_the_rest(void **state)
{
	struct lbfo_team t;
	const uint32_t rd[3] = { 5000, 0, 0 };
	const uint32_t wr[3] = { 0, 6000, 0 };
	struct lbfo_cmd *retry;

	(void)state;
	team_make(&t, NULL, "static-share", NULL, 0, 3, rd, wr);
	assert_int_equal(t.m[0].share[LBFO_READ], 5000);
	assert_int_equal(t.m[1].share[LBFO_READ], 2500);
	assert_int_equal(t.m[2].share[LBFO_READ], 2500);
	assert_int_equal(t.m[0].share[LBFO_WRITE], 2000);
	assert_int_equal(t.m[1].share[LBFO_WRITE], 6000);
	assert_int_equal(t.m[2].share[LBFO_WRITE], 2000);
	/* The set member fails: the unset ones share everything. */
	assert_int_equal(lbfo_team_member_failed(&t, 0, -1, 1, &retry), 0);
	assert_int_equal(t.m[1].share[LBFO_READ], 5000);
	assert_int_equal(t.m[2].share[LBFO_READ], 5000);
	assert_int_equal(t.m[1].share[LBFO_WRITE], 6000);
	assert_int_equal(t.m[2].share[LBFO_WRITE], 4000);
	lbfo_team_destroy(&t);
}

/* Balance mode: a failure renormalises the configured shares over the
 * members left. */
static void test_balance_failure_renormalises(void **state)
{
	struct lbfo_team t;
	const uint32_t rd[3] = { 5000, 3000, 2000 };
	struct lbfo_cmd *retry;
	int i;

	(void)state;
	team_make(&t, NULL, "static-share", NULL, 0, 3, rd, NULL);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_BALANCE);
	assert_int_equal(lbfo_team_member_failed(&t, 0, -1, 1, &retry), 0);
	assert_null(retry);
	assert_int_equal(t.m[0].state, LBFO_MS_FAILED);
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[2].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[1].share[LBFO_READ], 6000);
	assert_int_equal(t.m[2].share[LBFO_READ], 4000);
	assert_int_equal(t.m[0].st.failures, 1);
	for (i = 0; i < 100; i++)
		assert_int_not_equal(dispatch(&t, LBFO_READ, 4096, 2), 0);
	lbfo_team_destroy(&t);
}

/* Failover policy: primary carries everything, secondaries stand by
 * (001 [0045], claim 5); a failure moves I/O to the secondary (claim 1). */
static void test_failover_uses_primary_then_secondary(void **state)
{
	struct lbfo_team t;
	struct lbfo_cmd *retry;
	int i;

	(void)state;
	team_make(&t, NULL, "failover", NULL, 0, 3, NULL, NULL);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_FAILOVER);
	assert_int_equal(t.m[0].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(t.m[2].state, LBFO_MS_STANDBY);
	assert_int_equal(t.m[0].share[LBFO_READ], LBFO_SHARE_FULL);
	assert_shares_full(&t);
	for (i = 0; i < 50; i++) {
		assert_int_equal(dispatch(&t, LBFO_READ, 4096, 1), 0);
		assert_int_equal(dispatch(&t, LBFO_WRITE, 65536, 1), 0);
	}
	assert_int_equal(lbfo_team_member_failed(&t, 0, -1, 2, &retry), 0);
	assert_int_equal(t.failovers, 1);
	assert_int_equal(t.m[0].state, LBFO_MS_FAILED);
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[2].state, LBFO_MS_STANDBY);
	assert_shares_full(&t);
	for (i = 0; i < 50; i++)
		assert_int_equal(dispatch(&t, i & 1 ? LBFO_READ : LBFO_WRITE, 4096, 3), 1);
	/* The secondary fails too: the third member, by order. */
	assert_int_equal(lbfo_team_member_failed(&t, 1, -1, 4, &retry), 0);
	assert_int_equal(t.m[2].state, LBFO_MS_ACTIVE);
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 5), 2);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_FAILOVER);
	/* All gone: no path. */
	assert_int_equal(lbfo_team_member_failed(&t, 2, -1, 6, &retry), 0);
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 4096, 7), LBFO_SELECT_NO_PATH);
	assert_int_equal(lbfo_team_select(&t, LBFO_WRITE, 4096, 7), LBFO_SELECT_NO_PATH);
	lbfo_team_destroy(&t);
}

/* Claims 3 and 8: the path-fail event names the member to use next. */
static void test_failover_to_suggested_member(void **state)
{
	struct lbfo_team t;
	struct lbfo_cmd *retry;

	(void)state;
	team_make(&t, NULL, "failover", NULL, 0, 3, NULL, NULL);
	assert_int_equal(lbfo_team_member_failed(&t, 0, 2, 1, &retry), 0);
	assert_int_equal(t.m[2].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(dispatch(&t, LBFO_WRITE, 512, 2), 2);
	/* A suggestion that is itself failed (or the failing member) is
	 * ignored: order decides. */
	assert_int_equal(lbfo_team_member_failed(&t, 2, 0, 3, &retry), 0);
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	assert_int_equal(dispatch(&t, LBFO_WRITE, 512, 4), 1);
	lbfo_team_destroy(&t);

	team_make(&t, NULL, "failover", NULL, 0, 2, NULL, NULL);
	assert_int_equal(lbfo_team_member_failed(&t, 0, 0, 1, &retry), 0);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 2), 1);
	lbfo_team_destroy(&t);
}

static void test_failback_immediate(void **state)
{
	struct lbfo_team_config cfg = { .failback = LBFO_FAILBACK_IMMEDIATE };
	struct lbfo_team t;
	struct lbfo_cmd *retry;

	(void)state;
	team_make(&t, &cfg, "failover", NULL, 0, 2, NULL, NULL);
	lbfo_team_member_failed(&t, 0, -1, 1 * NS_S, &retry);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 2 * NS_S), 1);
	lbfo_team_member_restored(&t, 0, -1, 3 * NS_S);
	assert_int_equal(t.m[0].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 3 * NS_S), 0);
	/* A secondary restored under a healthy primary stays standby. */
	lbfo_team_member_failed(&t, 1, -1, 4 * NS_S, &retry);
	lbfo_team_member_restored(&t, 1, -1, 5 * NS_S);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 5 * NS_S), 0);
	/* A restore of a member that is not failed changes nothing. */
	lbfo_team_member_restored(&t, 0, 1, 6 * NS_S);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 6 * NS_S), 0);
	lbfo_team_destroy(&t);
}

static void test_failback_after_stable_period(void **state)
{
	struct lbfo_team_config cfg = { .failback = LBFO_FAILBACK_STABLE,
					.failback_stable_ns = 5 * NS_S };
	struct lbfo_team t;
	struct lbfo_cmd *retry;
	uint64_t now;

	(void)state;
	team_make(&t, &cfg, "failover", NULL, 0, 2, NULL, NULL);
	lbfo_team_member_failed(&t, 0, -1, 1 * NS_S, &retry);
	lbfo_team_member_restored(&t, 0, -1, 10 * NS_S);
	assert_int_equal(t.m[0].state, LBFO_MS_PROBING);
	for (now = 10 * NS_S; now < 15 * NS_S; now += 100 * NS_MS) {
		lbfo_team_tick(&t, now);
		assert_int_equal(t.m[0].state, LBFO_MS_PROBING);
		assert_int_equal(dispatch(&t, LBFO_READ, 512, now), 1);
	}
	lbfo_team_tick(&t, 15 * NS_S - 1);
	assert_int_equal(t.m[0].state, LBFO_MS_PROBING);
	lbfo_team_tick(&t, 15 * NS_S);
	assert_int_equal(t.m[0].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 15 * NS_S), 0);

	/* Failing again while probing restarts the wait from the next
	 * restore. */
	lbfo_team_member_failed(&t, 0, -1, 20 * NS_S, &retry);
	lbfo_team_member_restored(&t, 0, -1, 21 * NS_S);
	lbfo_team_member_failed(&t, 0, -1, 23 * NS_S, &retry);
	lbfo_team_member_restored(&t, 0, -1, 24 * NS_S);
	lbfo_team_tick(&t, 26 * NS_S);
	assert_int_equal(t.m[0].state, LBFO_MS_PROBING);
	lbfo_team_tick(&t, 28 * NS_S);
	assert_int_equal(t.m[0].state, LBFO_MS_PROBING);
	lbfo_team_tick(&t, 29 * NS_S);
	assert_int_equal(t.m[0].state, LBFO_MS_ACTIVE);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 29 * NS_S), 0);
	lbfo_team_destroy(&t);
}

static void test_failback_manual(void **state)
{
	struct lbfo_team_config cfg = { .failback = LBFO_FAILBACK_MANUAL };
	struct lbfo_team t;
	struct lbfo_cmd *retry;
	uint64_t now;

	(void)state;
	team_make(&t, &cfg, "failover", NULL, 0, 2, NULL, NULL);
	lbfo_team_member_failed(&t, 0, -1, 1 * NS_S, &retry);
	/* Reinstating a failed member is refused: its path must restore it. */
	assert_int_equal(lbfo_team_member_reinstate(&t, 0, 1 * NS_S), -1);
	assert_non_null(strstr(lbfo_team_error(&t), "is failed"));
	lbfo_team_member_restored(&t, 0, -1, 2 * NS_S);
	for (now = 2 * NS_S; now < 3600 * NS_S; now += 7 * NS_S) {
		lbfo_team_tick(&t, now);
		assert_int_equal(t.m[0].state, LBFO_MS_PROBING);
		assert_int_equal(dispatch(&t, LBFO_WRITE, 512, now), 1);
	}
	assert_int_equal(lbfo_team_member_reinstate(&t, 0, now), 0);
	assert_int_equal(t.m[0].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(dispatch(&t, LBFO_WRITE, 512, now), 0);
	assert_int_equal(lbfo_team_member_reinstate(&t, 5, now), -1);
	lbfo_team_destroy(&t);
}

/* Claim 4: a restore notification that names a path decides where new
 * commands go; without one, the primary wins back. */
static void test_restore_names_new_path(void **state)
{
	struct lbfo_team_config cfg = { .failback = LBFO_FAILBACK_IMMEDIATE };
	struct lbfo_team_config man = { .failback = LBFO_FAILBACK_MANUAL };
	struct lbfo_team t;
	struct lbfo_cmd *retry;

	(void)state;
	team_make(&t, &cfg, "failover", NULL, 0, 3, NULL, NULL);
	lbfo_team_member_failed(&t, 0, -1, 1, &retry);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 2), 1);
	lbfo_team_member_restored(&t, 0, 2, 3);
	assert_int_equal(t.m[2].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[0].state, LBFO_MS_STANDBY);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 4), 2);
	/* The restored member itself may be named. */
	lbfo_team_member_failed(&t, 1, -1, 5, &retry);
	lbfo_team_member_restored(&t, 1, 1, 6);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 7), 1);
	lbfo_team_destroy(&t);

	/* Manual failback: the named path is used when the operator
	 * reinstates the restored member. */
	team_make(&t, &man, "failover", NULL, 0, 3, NULL, NULL);
	lbfo_team_member_failed(&t, 0, -1, 1, &retry);
	lbfo_team_member_restored(&t, 0, 2, 2);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 3), 1);
	assert_int_equal(lbfo_team_member_reinstate(&t, 0, 4), 0);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 5), 2);
	assert_int_equal(t.m[0].state, LBFO_MS_STANDBY);
	lbfo_team_destroy(&t);
}

/* 001 [0047]: a 100 % configured share is failover mode, and the member
 * holding it is the one that carries the I/O. */
static void test_full_share_is_failover_mode(void **state)
{
	struct lbfo_team t;
	const uint32_t rd[2] = { 0, LBFO_SHARE_FULL };
	struct lbfo_cmd *retry;
	int i;

	(void)state;
	team_make(&t, NULL, "static-share", NULL, 0, 2, rd, rd);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_FAILOVER);
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[0].state, LBFO_MS_STANDBY);
	for (i = 0; i < 20; i++)
		assert_int_equal(dispatch(&t, (enum lbfo_dir)(i & 1), 4096, 1), 1);
	lbfo_team_member_failed(&t, 1, -1, 2, &retry);
	assert_int_equal(t.m[0].state, LBFO_MS_ACTIVE);
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 3), 0);
	lbfo_team_member_restored(&t, 1, -1, 4);
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 5), 1);
	/* Back to balancing when the 100 % share is taken away. */
	assert_int_equal(lbfo_team_set_shares(&t, 1, 5000, 5000, 6), 0);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_BALANCE);
	assert_int_equal(t.m[0].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	assert_shares_full(&t);
	lbfo_team_destroy(&t);
}

/* 001 [0047]: with one healthy member left the team is in failover mode;
 * when others come back it balances again. */
static void test_one_healthy_member_is_failover_mode(void **state)
{
	struct lbfo_team t;
	struct lbfo_cmd *retry;

	(void)state;
	team_make(&t, NULL, "static-share", NULL, 0, 3, NULL, NULL);
	lbfo_team_member_failed(&t, 0, -1, 1, &retry);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_BALANCE);
	lbfo_team_member_failed(&t, 2, -1, 2, &retry);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_FAILOVER);
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[1].share[LBFO_READ], LBFO_SHARE_FULL);
	assert_int_equal(dispatch(&t, LBFO_READ, 4096, 3), 1);
	lbfo_team_member_restored(&t, 2, -1, 4);
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_BALANCE);
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[2].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[2].share[LBFO_READ], 5000);
	lbfo_team_destroy(&t);
}

/* Claims 2 and 9: every command in flight on a failed member is handed
 * back for retry exactly once, oldest first. */
static void test_inflight_returned_once(void **state)
{
	enum { K = 6 };
	struct lbfo_team t;
	struct lbfo_cmd c[K], other[2], *retry, *p;
	uint64_t bytes_on_1 = 0;
	int i, n;

	(void)state;
	memset(c, 0, sizeof(c));
	memset(other, 0, sizeof(other));
	team_make(&t, NULL, "round-robin", NULL, 0, 2, NULL, NULL);
	for (i = 0; i < K; i++)
		lbfo_team_start(&t, &c[i], 0, (enum lbfo_dir)(i & 1),
				4096u * (unsigned)(i + 1), 100 + (uint64_t)i);
	for (i = 0; i < 2; i++) {
		lbfo_team_start(&t, &other[i], 1, LBFO_READ, 512, 200);
		bytes_on_1 += 512;
	}
	assert_int_equal(t.m[0].outstanding, K);
	assert_int_equal(t.outstanding, K + 2);
	/* One completes normally before the failure; it is not returned. */
	assert_int_equal(lbfo_team_complete(&t, &c[2], 300), 0);

	n = lbfo_team_member_failed(&t, 0, -1, 400, &retry);
	assert_int_equal(n, K - 1);
	for (i = 0, p = retry; i < K; i++) {
		if (i == 2)
			continue;
		assert_ptr_equal(p, &c[i]); /* oldest first */
		assert_int_equal(p->state, LBFO_CMD_RETURNED);
		assert_int_equal(p->retries, 1);
		assert_int_equal(p->member, -1);
		p = p->retry_next;
	}
	assert_null(p);
	assert_int_equal(c[2].state, LBFO_CMD_IDLE);
	assert_int_equal(t.m[0].outstanding, 0);
	assert_int_equal(t.m[0].outstanding_bytes, 0);
	assert_null(t.m[0].inflight);
	assert_int_equal(t.m[0].st.returned, K - 1);
	assert_int_equal(t.outstanding, 2);
	assert_int_equal(t.m[1].outstanding_bytes, bytes_on_1);

	/* A late completion from the failed path is refused. */
	for (i = 0; i < K; i++)
		if (i != 2)
			assert_int_equal(lbfo_team_complete(&t, &c[i], 500), -1);
	assert_int_equal(t.outstanding, 2);
	/* Failing again hands back nothing. */
	assert_int_equal(lbfo_team_member_failed(&t, 0, -1, 600, &retry), 0);
	assert_null(retry);
	assert_int_equal(t.m[0].st.failures, 1);

	/* Retry every returned command on the other member. */
	for (p = retry = NULL, i = 0; i < K; i++) {
		int m;

		if (i == 2)
			continue;
		m = lbfo_team_select(&t, (enum lbfo_dir)c[i].dir, c[i].bytes, 700);
		assert_int_equal(m, 1);
		lbfo_team_start(&t, &c[i], m, (enum lbfo_dir)c[i].dir, c[i].bytes, 700);
		assert_int_equal(c[i].state, LBFO_CMD_INFLIGHT);
		assert_int_equal(c[i].retries, 1);
	}
	assert_int_equal(t.outstanding, K - 1 + 2);
	for (i = 0; i < K; i++)
		if (i != 2)
			assert_int_equal(lbfo_team_complete(&t, &c[i], 800), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(lbfo_team_complete(&t, &other[i], 800), 0);
	/* Completing twice is refused. */
	assert_int_equal(lbfo_team_complete(&t, &c[0], 900), -1);
	assert_int_equal(t.outstanding, 0);
	for (i = 0; i < t.n; i++) {
		assert_int_equal(t.m[i].outstanding, 0);
		assert_int_equal(t.m[i].outstanding_bytes, 0);
		assert_null(t.m[i].inflight);
	}
	/* Byte accounting: what completed on member 1. */
	assert_int_equal(t.m[1].st.bytes[LBFO_READ] + t.m[1].st.bytes[LBFO_WRITE],
			 bytes_on_1 + 4096u * (1 + 2 + 4 + 5 + 6));
	lbfo_team_destroy(&t);
}

/* Commands completed out of order leave the in-flight list consistent. */
static void test_inflight_list_out_of_order(void **state)
{
	enum { K = 32 };
	struct lbfo_team t;
	struct lbfo_cmd c[K], *retry, *p;
	bool done[K] = { false };
	struct rng r = { 0x1234567 };
	int i, n, left = K;

	(void)state;
	memset(c, 0, sizeof(c));
	team_make(&t, NULL, "queue-depth", NULL, 0, 2, NULL, NULL);
	for (i = 0; i < K; i++)
		lbfo_team_start(&t, &c[i], 0, LBFO_READ, 100 + (uint64_t)i, (uint64_t)i);
	for (i = 0; i < K / 2; i++) {
		int k = (int)rng_below(&r, K);

		if (done[k])
			continue;
		assert_int_equal(lbfo_team_complete(&t, &c[k], 1000), 0);
		done[k] = true;
		left--;
	}
	n = lbfo_team_member_failed(&t, 0, -1, 2000, &retry);
	assert_int_equal(n, left);
	for (i = 0, p = retry; i < K; i++) {
		if (done[i])
			continue;
		assert_ptr_equal(p, &c[i]);
		p = p->retry_next;
	}
	assert_null(p);
	assert_int_equal(t.m[0].outstanding_bytes, 0);
	assert_int_equal(t.outstanding, 0);
	lbfo_team_destroy(&t);
}

static void test_select_lu_full(void **state)
{
	struct lbfo_team_config cfg = { .max_outstanding = 4 };
	struct lbfo_team t;
	struct lbfo_cmd c[4];
	int i, m;

	(void)state;
	memset(c, 0, sizeof(c));
	team_make(&t, &cfg, "queue-depth", NULL, 0, 2, NULL, NULL);
	for (i = 0; i < 4; i++) {
		m = lbfo_team_select(&t, LBFO_READ, 4096, 1);
		assert_true(m >= 0);
		lbfo_team_start(&t, &c[i], m, LBFO_READ, 4096, 1);
	}
	assert_int_equal(t.m[0].outstanding, 2);
	assert_int_equal(t.m[1].outstanding, 2);
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 4096, 2), LBFO_SELECT_LU_FULL);
	assert_int_equal(lbfo_team_select(&t, LBFO_WRITE, 1, 2), LBFO_SELECT_LU_FULL);
	assert_int_equal(lbfo_team_complete(&t, &c[1], 3), 0);
	m = lbfo_team_select(&t, LBFO_READ, 4096, 4);
	assert_int_equal(m, c[1].member);
	for (i = 0; i < 4; i++)
		if (i != 1)
			lbfo_team_complete(&t, &c[i], 5);
	lbfo_team_destroy(&t);
}

/* A restored member that has not failed back yet carries I/O only when
 * nothing else can. */
static void test_probing_is_last_resort(void **state)
{
	struct lbfo_team_config cfg = { .failback = LBFO_FAILBACK_MANUAL };
	struct lbfo_team t;
	struct lbfo_cmd *retry, c;
	int i;

	(void)state;
	memset(&c, 0, sizeof(c));
	team_make(&t, &cfg, "round-robin", NULL, 0, 3, NULL, NULL);
	lbfo_team_member_failed(&t, 1, -1, 1, &retry);
	lbfo_team_member_restored(&t, 1, -1, 2);
	assert_int_equal(t.m[1].state, LBFO_MS_PROBING);
	for (i = 0; i < 20; i++)
		assert_int_not_equal(dispatch(&t, LBFO_READ, 512, 3), 1);
	lbfo_team_member_failed(&t, 0, -1, 4, &retry);
	lbfo_team_member_failed(&t, 2, -1, 4, &retry);
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 512, 5), 1);
	lbfo_team_start(&t, &c, 1, LBFO_READ, 512, 5);
	assert_int_equal(lbfo_team_complete(&t, &c, 6), 0);
	/* Two probing members: by discovery order. */
	lbfo_team_member_restored(&t, 0, -1, 7);
	assert_int_equal(lbfo_team_select(&t, LBFO_WRITE, 512, 8), 0);
	/* Once reinstated, the active member is used and probing ones not. */
	assert_int_equal(lbfo_team_member_reinstate(&t, 1, 9), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(dispatch(&t, LBFO_READ, 512, 10), 1);
	/* Nothing alive at all. */
	lbfo_team_member_failed(&t, 0, -1, 11, &retry);
	lbfo_team_member_failed(&t, 1, -1, 11, &retry);
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 512, 12), LBFO_SELECT_NO_PATH);
	lbfo_team_destroy(&t);
}

static void test_drain(void **state)
{
	struct lbfo_team t;
	struct lbfo_cmd c, *retry;
	int i;

	(void)state;
	memset(&c, 0, sizeof(c));
	team_make(&t, NULL, "round-robin", NULL, 0, 2, NULL, NULL);
	lbfo_team_start(&t, &c, 0, LBFO_WRITE, 4096, 1);
	assert_int_equal(lbfo_team_member_drain(&t, 0, 2), 0);
	assert_int_equal(t.m[0].state, LBFO_MS_DRAINING);
	assert_shares_full(&t);
	for (i = 0; i < 10; i++)
		assert_int_equal(dispatch(&t, LBFO_READ, 512, 3), 1);
	/* In flight on a drained member completes normally. */
	assert_int_equal(lbfo_team_complete(&t, &c, 4), 0);
	assert_int_equal(t.m[0].st.bytes[LBFO_WRITE], 4096);
	assert_int_equal(lbfo_team_member_reinstate(&t, 0, 5), 0);
	assert_int_equal(t.m[0].state, LBFO_MS_ACTIVE);
	assert_int_equal(lbfo_team_member_drain(&t, 7, 5), -1);
	lbfo_team_member_failed(&t, 0, -1, 6, &retry);
	assert_int_equal(lbfo_team_member_drain(&t, 0, 7), -1);
	lbfo_team_destroy(&t);
}

/* A failed switch keeps the old policy; a successful one recomputes the
 * shares (001 [0036]). */
static void test_policy_switch(void **state)
{
	const struct lbfo_kv bad[] = { { "interval_ms", "abc" } };
	const struct lbfo_kv dyn[] = { { "interval_ms", "1000" }, { "relax", "0" }, { "min_bytes", "0" } };
	const uint32_t rd[2] = { 6000, 4000 };
	struct lbfo_adapter a[2];
	struct lbfo_team t;
	int i;

	(void)state;
	team_make(&t, NULL, "failover", NULL, 0, 2, rd, rd);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(lbfo_team_set_policy(&t, "dynamic-share", bad, 1, 1), -1);
	assert_string_equal(lbfo_team_error(&t),
			    "dynamic-share: invalid value 'abc' for 'interval_ms': not a whole number");
	assert_string_equal(lbfo_team_policy_name(&t), "failover");
	assert_int_equal(lbfo_team_set_policy(&t, "no-such", NULL, 0, 1), -1);
	assert_string_equal(lbfo_team_policy_name(&t), "failover");
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(dispatch(&t, LBFO_READ, 512, 1), 0);

	assert_int_equal(lbfo_team_set_policy(&t, "dynamic-share", dyn, 3, 2), 0);
	assert_string_equal(lbfo_team_policy_name(&t), "dynamic-share");
	assert_string_equal(lbfo_team_error(&t), "");
	assert_int_equal(lbfo_team_mode(&t), LBFO_MODE_BALANCE);
	assert_int_equal(t.m[1].state, LBFO_MS_ACTIVE);
	assert_int_equal(t.m[0].share[LBFO_READ], 6000);
	assert_int_equal(t.m[1].share[LBFO_READ], 4000);

	/* Let dynamic-share move the shares (foreign traffic on p0)... */
	for (i = 0; i < 2; i++) {
		lbfo_adapter_init(&a[i], i ? "eth1" : "eth0");
		lbfo_member_set_adapter(&t, i, &a[i]);
	}
	lbfo_team_tick(&t, 0);
	lbfo_adapter_set_if_bytes(&a[0], 9000);
	lbfo_adapter_set_if_bytes(&a[1], 1000);
	lbfo_team_tick(&t, NS_S);
	assert_int_equal(t.m[0].share[LBFO_READ], 5500);
	assert_int_equal(t.m[1].share[LBFO_READ], 4500);
	/* ... and a switch puts the configured ones back. */
	assert_int_equal(lbfo_team_set_policy(&t, "static-share", NULL, 0, 2 * NS_S), 0);
	assert_int_equal(t.m[0].share[LBFO_READ], 6000);
	assert_int_equal(t.m[1].share[LBFO_READ], 4000);
	/* The FIG 4 epoch restarts on the new shares: each member's byte
	 * count is its new share of the total, so none gets a burst. */
	{
		uint64_t e0 = t.m[0].epoch_bytes[LBFO_READ], e1 = t.m[1].epoch_bytes[LBFO_READ];

		assert_true(e0 + e1 > 0);
		assert_true(e0 * 4000 <= e1 * 6000 + 6000 && e1 * 6000 <= e0 * 4000 + 6000);
	}
	/* Back to failover: the secondary stands by again. */
	assert_int_equal(lbfo_team_set_policy(&t, "failover", NULL, 0, 3 * NS_S), 0);
	assert_int_equal(t.m[1].state, LBFO_MS_STANDBY);
	assert_int_equal(t.m[0].share[LBFO_READ], LBFO_SHARE_FULL);
	lbfo_team_destroy(&t);
}

/* Every policy, asked to skip members, answers another usable member or
 * NO_PATH; never an excluded one, never a failed one; and the team's
 * exclusion does not outlive the call. */
static void test_select_excluding_every_policy(void **state)
{
	size_t npol, i;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&npol);

	(void)state;
	for (i = 0; i < npol; i++) {
		struct lbfo_team t;
		uint32_t mask;
		int k;

		team_make(&t, NULL, tab[i]->name, NULL, 0, 4, NULL, NULL);
		assert_int_equal(lbfo_team_member_failed(&t, 3, -1, 0, &(struct lbfo_cmd *){ NULL }), 0);
		for (mask = 0; mask < 16; mask++) {
			struct lbfo_mask ex = { { mask } };

			for (k = 0; k < 8; k++) {
				int m = lbfo_team_select_excluding(&t, LBFO_READ, 4096, 0, &ex);
				uint32_t left = ~mask & 7u; /* members 0..2 are up */

				if (!left) {
					if (m != LBFO_SELECT_NO_PATH)
						fail_msg("%s: mask %#x: got %d, want no path",
							 tab[i]->name, mask, m);
					continue;
				}
				if (m < 0 || m > 2 || (mask & (1u << m)))
					fail_msg("%s: mask %#x: got member %d", tab[i]->name, mask, m);
			}
		}
		assert_null(t.exclude);
		/* An unrestricted select still reaches every usable member. */
		assert_true(lbfo_member_usable(&t, 0));
		lbfo_team_destroy(&t);
	}
}

/* Excluding keeps the policy's preference among the rest: weighted 3:2:1
 * with the heaviest excluded splits 2:1 over the other two. */
static void test_select_excluding_keeps_weights(void **state)
{
	struct lbfo_team t;
	int hits[3] = { 0 }, k;

	(void)state;
	team_make(&t, NULL, "weighted", NULL, 0, 3, NULL, NULL);
	assert_int_equal(lbfo_team_set_weight(&t, 0, 3, 0), 0);
	assert_int_equal(lbfo_team_set_weight(&t, 1, 2, 0), 0);
	for (k = 0; k < 300; k++) {
		struct lbfo_mask ex = { { 1u << 0 } };
		int m = lbfo_team_select_excluding(&t, LBFO_READ, 0, 0, &ex);

		assert_in_range(m, 1, 2);
		hits[m]++;
	}
	assert_int_equal(hits[1], 200);
	assert_int_equal(hits[2], 100);
	lbfo_team_destroy(&t);
}

/* Weights changed at run time reach the policy at once; bad ones are
 * refused with a reason naming the member. */
static void test_set_weight(void **state)
{
	struct lbfo_team t;
	int hits[2] = { 0 }, k;

	(void)state;
	team_make(&t, NULL, "weighted", NULL, 0, 2, NULL, NULL);
	assert_int_equal(lbfo_team_set_weight(&t, 0, 0, 0), -1);
	assert_non_null(strstr(lbfo_team_error(&t), "member p0: weight 0 out of range 1..1000"));
	assert_int_equal(lbfo_team_set_weight(&t, 1, LBFO_WEIGHT_MAX + 1, 0), -1);
	assert_int_equal(lbfo_team_set_weight(&t, 2, 5, 0), -1);
	assert_non_null(strstr(lbfo_team_error(&t), "no member 2"));
	assert_int_equal(t.m[0].weight, 1);
	assert_int_equal(lbfo_team_set_weight(&t, 0, 2, 0), 0);
	for (k = 0; k < 300; k++)
		hits[lbfo_team_select(&t, LBFO_READ, 0, 0)]++;
	assert_int_equal(hits[0], 200);
	assert_int_equal(hits[1], 100);
	/* least connections per unit of weight follows too */
	assert_int_equal(lbfo_team_set_policy(&t, "queue-depth", NULL, 0, 0), 0);
	assert_int_equal(lbfo_team_set_weight(&t, 1, 4, 0), 0);
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 0, 0), 1);
	lbfo_team_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_member_is_primary),
		cmocka_unit_test(test_add_member_refusals),
		cmocka_unit_test(test_max_members_every_policy),
		cmocka_unit_test(test_max_members_round_robin_reaches_all),
		cmocka_unit_test(test_unset_shares_take_the_rest),
		cmocka_unit_test(test_balance_failure_renormalises),
		cmocka_unit_test(test_failover_uses_primary_then_secondary),
		cmocka_unit_test(test_failover_to_suggested_member),
		cmocka_unit_test(test_failback_immediate),
		cmocka_unit_test(test_failback_after_stable_period),
		cmocka_unit_test(test_failback_manual),
		cmocka_unit_test(test_restore_names_new_path),
		cmocka_unit_test(test_full_share_is_failover_mode),
		cmocka_unit_test(test_one_healthy_member_is_failover_mode),
		cmocka_unit_test(test_inflight_returned_once),
		cmocka_unit_test(test_inflight_list_out_of_order),
		cmocka_unit_test(test_select_lu_full),
		cmocka_unit_test(test_probing_is_last_resort),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_policy_switch),
		cmocka_unit_test(test_select_excluding_every_policy),
		cmocka_unit_test(test_select_excluding_keeps_weights),
		cmocka_unit_test(test_set_weight),
	};
	return cmocka_run_group_tests_name("team", tests, NULL, NULL);
}
