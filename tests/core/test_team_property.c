/* The team's invariants under thousands of random events: failures,
 * restores, drains, policy switches, share changes, ticks, dispatches
 * and completions in any order. */
#include "testutil.h"

/*
 * Property: after every event the ACTIVE members' shares sum to exactly
 * 10000 bp in both directions (the others hold none), failover mode has
 * exactly one ACTIVE member, balance mode no STANDBY one, the in-flight
 * accounting matches the commands the test holds, and select only picks
 * an ACTIVE member (or a PROBING one when no member is ACTIVE).
 */
enum { NCMD = 48 };

struct world {
	struct lbfo_team t;
	struct lbfo_cmd c[NCMD];
	struct lbfo_adapter a[3];
	uint64_t now;
	struct rng r;
};

static void check_world(struct world *w)
{
	struct lbfo_team *t = &w->t;
	uint64_t ob[LBFO_MAX_MEMBERS] = { 0 };
	uint32_t oc[LBFO_MAX_MEMBERS] = { 0 }, tot = 0;
	int i, act = lbfo_team_count(t, LBFO_MS_ACTIVE);

	assert_shares_full(t);
	if (lbfo_team_mode(t) == LBFO_MODE_FAILOVER &&
	    act + lbfo_team_count(t, LBFO_MS_STANDBY) > 0)
		assert_int_equal(act, 1);
	if (lbfo_team_mode(t) == LBFO_MODE_BALANCE)
		assert_int_equal(lbfo_team_count(t, LBFO_MS_STANDBY), 0);
	for (i = 0; i < NCMD; i++) {
		if (w->c[i].state != LBFO_CMD_INFLIGHT)
			continue;
		assert_true(w->c[i].member >= 0 && w->c[i].member < t->n);
		ob[w->c[i].member] += w->c[i].bytes;
		oc[w->c[i].member]++;
		tot++;
	}
	assert_int_equal(t->outstanding, tot);
	for (i = 0; i < t->n; i++) {
		assert_int_equal(t->m[i].outstanding, oc[i]);
		assert_int_equal(t->m[i].outstanding_bytes, ob[i]);
	}
}

/* A member fails: the commands it held come back once each, as RETURNED. */
static void ev_fail(struct world *w, int m, int sug)
{
	struct lbfo_team *t = &w->t;
	struct lbfo_cmd *retry, *p;
	int was_failed, k, n;

	if (!t->n) {
		/* no member: the call refuses (the test reads no member) */
		assert_int_equal(lbfo_team_member_failed(t, m, sug, w->now, &retry), 0);
		return;
	}
	was_failed = t->m[m].state == LBFO_MS_FAILED;
	n = lbfo_team_member_failed(t, m, sug, w->now, &retry);

	for (k = 0, p = retry; p; p = p->retry_next, k++) {
		assert_int_equal(p->state, LBFO_CMD_RETURNED);
		assert_int_equal(lbfo_team_complete(t, p, w->now), -1);
		p->state = LBFO_CMD_IDLE; /* back to the test's pool */
	}
	assert_int_equal(k, n);
	if (was_failed)
		assert_int_equal(n, 0);
	assert_int_equal(t->m[m].outstanding, 0);
}

/* A command is dispatched: select answers a usable member or says why not. */
static void ev_dispatch(struct world *w)
{
	struct lbfo_team *t = &w->t;
	enum lbfo_dir d = (enum lbfo_dir)rng_below(&w->r, 2);
	uint64_t bytes = 512u << rng_below(&w->r, 10);
	int i, pick = t->n ? lbfo_team_select(t, d, bytes, w->now) : LBFO_SELECT_NO_PATH;

	if (pick == LBFO_SELECT_NO_PATH) {
		for (i = 0; i < t->n; i++)
			assert_true(t->m[i].state != LBFO_MS_ACTIVE &&
				    t->m[i].state != LBFO_MS_PROBING);
		return;
	}
	if (pick == LBFO_SELECT_LU_FULL) {
		assert_true(t->outstanding >= t->cfg.max_outstanding);
		return;
	}
	assert_true(pick >= 0 && pick < t->n);
	if (lbfo_team_count(t, LBFO_MS_ACTIVE))
		assert_int_equal(t->m[pick].state, LBFO_MS_ACTIVE);
	else
		assert_int_equal(t->m[pick].state, LBFO_MS_PROBING);
	for (i = 0; i < NCMD; i++)
		if (w->c[i].state == LBFO_CMD_IDLE) {
			lbfo_team_start(t, &w->c[i], pick, d, bytes, w->now);
			return;
		}
}

static void random_event(struct world *w, const char *const *pol, size_t npol)
{
	struct lbfo_team *t = &w->t;
	uint32_t ev = rng_below(&w->r, 20);
	int m = t->n ? (int)rng_below(&w->r, (uint32_t)t->n) : 0;
	int sug = (int)rng_below(&w->r, (uint32_t)t->n + 1) - 1;
	uint32_t shares[] = { 0, 0, 1, 2500, 3333, 5000, 7000, 9999, LBFO_SHARE_FULL };
	int i;

	w->now += rng_below(&w->r, 20) * NS_MS;
	switch (ev) {
	case 0:
		if (t->n < 8) {
			char name[16];

			snprintf(name, sizeof(name), "m%d", t->n);
			i = lbfo_team_add_member(t, name,
						 shares[rng_below(&w->r, ARRAY_LEN(shares))],
						 shares[rng_below(&w->r, ARRAY_LEN(shares))],
						 w->now);
			assert_true(i >= 0);
			if (rng_below(&w->r, 2))
				lbfo_member_set_adapter(t, i, &w->a[rng_below(&w->r, 3)]);
		}
		break;
	case 1:
	case 2:
		ev_fail(w, m, sug);
		break;
	case 3:
	case 4:
		lbfo_team_member_restored(t, m, sug, w->now);
		break;
	case 5:
		lbfo_team_member_reinstate(t, m, w->now);
		break;
	case 6:
		lbfo_team_member_drain(t, m, w->now);
		break;
	case 7: {
		const struct lbfo_kv kv[] = { { "interval_ms", "10" }, { "relax", "2" } };
		const char *name = pol[rng_below(&w->r, (uint32_t)npol)];
		int dyn = !strcmp(name, "dynamic-share");

		assert_int_equal(lbfo_team_set_policy(t, name, kv, dyn ? 2 : 0, w->now), 0);
		break;
	}
	case 8:
		if (t->n)
			assert_int_equal(lbfo_team_set_shares(t, m,
					 shares[rng_below(&w->r, ARRAY_LEN(shares))],
					 shares[rng_below(&w->r, ARRAY_LEN(shares))],
					 w->now), 0);
		break;
	case 9:
	case 10:
		for (i = 0; i < 3; i++)
			lbfo_adapter_set_if_bytes(&w->a[i], lbfo_adapter_bytes(&w->a[i]) +
						  rng_below(&w->r, 1u << 20));
		lbfo_team_tick(t, w->now);
		break;
	case 11:
	case 12:
	case 13:
	case 14:
		ev_dispatch(w);
		break;
	default:
		for (i = 0; i < 4; i++) {
			struct lbfo_cmd *c = &w->c[rng_below(&w->r, NCMD)];

			if (c->state == LBFO_CMD_INFLIGHT)
				assert_int_equal(lbfo_team_complete(t, c, w->now), 0);
			else
				assert_int_equal(lbfo_team_complete(t, c, w->now), -1);
		}
		break;
	}
}

static void test_shares_sum_property(void **state)
{
	static struct world w;
	size_t npol, i;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&npol);
	const char *pol[16];
	int run, ev;

	(void)state;
	for (i = 0; i < npol; i++)
		pol[i] = tab[i]->name;
	for (run = 0; run < 6; run++) {
		struct lbfo_team_config cfg = {
			.failback = (enum lbfo_failback)(run % 3),
			.failback_stable_ns = 50 * NS_MS,
			.max_outstanding = run < 3 ? 0 : 16,
		};

		memset(&w, 0, sizeof(w));
		w.r.s = 0x9e3779b97f4a7c15ull + (uint64_t)run;
		for (i = 0; i < 3; i++)
			lbfo_adapter_init(&w.a[i], "if");
		assert_int_equal(lbfo_team_init(&w.t, "lu", &cfg, pol[(size_t)run % npol],
						NULL, 0), 0);
		for (ev = 0; ev < 4000; ev++) {
			random_event(&w, pol, npol);
			check_world(&w);
		}
		/* Drain the world: every command completes or is returned. */
		for (i = 0; i < NCMD; i++)
			if (w.c[i].state == LBFO_CMD_INFLIGHT)
				assert_int_equal(lbfo_team_complete(&w.t, &w.c[i], w.now), 0);
		assert_int_equal(w.t.outstanding, 0);
		lbfo_team_destroy(&w.t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_sum_property),
	};
	return cmocka_run_group_tests_name("team property", tests, NULL, NULL);
}
