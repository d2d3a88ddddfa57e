/* Unit tests of parameter parsing: every policy refuses bad key=value
 * parameters with a message naming the key and the value; unknown keys
 * list the known ones; unknown policies list the policies; failback. */
#include "testutil.h"

static void expect_refused(const char *policy, const char *key, const char *value,
			   const char *msg)
{
	struct lbfo_team t;
	struct lbfo_kv kv = { key, value };

	assert_int_equal(lbfo_team_init(&t, "lu", NULL, policy, &kv, 1), -1);
	assert_string_equal(lbfo_team_error(&t), msg);
	/* The same through a run-time switch, which keeps the old policy. */
	assert_int_equal(lbfo_team_init(&t, "lu", NULL, "round-robin", NULL, 0), 0);
	assert_int_equal(lbfo_team_add_member(&t, "p0", 0, 0, 0), 0);
	assert_int_equal(lbfo_team_set_policy(&t, policy, &kv, 1, 0), -1);
	assert_string_equal(lbfo_team_error(&t), msg);
	assert_string_equal(lbfo_team_policy_name(&t), "round-robin");
	assert_int_equal(lbfo_team_select(&t, LBFO_READ, 512, 0), 0);
	lbfo_team_destroy(&t);
}

static void expect_accepted(const char *policy, const char *key, const char *value)
{
	struct lbfo_team t;
	struct lbfo_kv kv = { key, value };

	if (lbfo_team_init(&t, "lu", NULL, policy, &kv, 1) != 0)
		fail_msg("%s %s=%s refused: %s", policy, key, value, lbfo_team_error(&t));
	assert_string_equal(lbfo_team_policy_name(&t), policy);
	lbfo_team_destroy(&t);
}

static void test_bad_numbers(void **state)
{
	(void)state;
	expect_refused("dynamic-share", "interval_ms", "abc",
		       "dynamic-share: invalid value 'abc' for 'interval_ms': not a whole number");
	expect_refused("dynamic-share", "interval_ms", "10x",
		       "dynamic-share: invalid value '10x' for 'interval_ms': not a whole number");
	expect_refused("dynamic-share", "interval_ms", "-5",
		       "dynamic-share: invalid value '-5' for 'interval_ms': not a whole number");
	expect_refused("dynamic-share", "interval_ms", "",
		       "dynamic-share: invalid value '' for 'interval_ms': not a whole number");
	expect_refused("dynamic-share", "interval_ms", "1.5",
		       "dynamic-share: invalid value '1.5' for 'interval_ms': not a whole number");
	expect_refused("dynamic-share", "interval_ms", "99999999999999999999999",
		       "dynamic-share: invalid value '99999999999999999999999' for 'interval_ms': not a whole number");
	expect_refused("dynamic-share", "interval_ms", "5",
		       "dynamic-share: invalid value '5' for 'interval_ms': out of range 10..3600000");
	expect_refused("dynamic-share", "change_threshold", "five",
		       "dynamic-share: invalid value 'five' for 'change_threshold': not a number");
	expect_refused("dynamic-share", "change_threshold", "nan",
		       "dynamic-share: invalid value 'nan' for 'change_threshold': not a number");
	expect_refused("dynamic-share", "lb_change", "0",
		       "dynamic-share: invalid value '0' for 'lb_change': out of range 0.01..100");
	expect_refused("dynamic-share", "relax", "101",
		       "dynamic-share: invalid value '101' for 'relax': out of range 0..100");
	expect_refused("speed-share", "period_ms", "0",
		       "speed-share: invalid value '0' for 'period_ms': out of range 10..3600000");
	expect_refused("speed-share", "smoothing", "2",
		       "speed-share: invalid value '2' for 'smoothing': out of range 0.01..1");
	expect_refused("quota-rr", "max_cmds", "0",
		       "quota-rr: invalid value '0' for 'max_cmds': out of range 1..65536");
	expect_refused("round-robin", "repeat", "many",
		       "round-robin: invalid value 'many' for 'repeat': not a whole number");
	expect_refused("service-time", "throughput", "fast",
		       "service-time: invalid value 'fast' for 'throughput': expected 'auto' or 'weight'");
	expect_refused("service-time", "period_ms", "1e3",
		       "service-time: invalid value '1e3' for 'period_ms': not a whole number");
	expect_refused("weighted", "weights", "2,x",
		       "weighted: invalid value '2,x' for 'weights': expected a comma-separated list of 1..1000, at most 256");
	expect_refused("weighted", "weights", "0,1",
		       "weighted: invalid value '0,1' for 'weights': expected a comma-separated list of 1..1000, at most 256");

	expect_accepted("dynamic-share", "interval_ms", "10");
	expect_accepted("dynamic-share", "change_threshold", "2.5");
	expect_accepted("speed-share", "period_ms", "3600000");
	expect_accepted("weighted", "weights", "3,2,1");
	expect_accepted("service-time", "throughput", "weight");
	expect_accepted("round-robin", "repeat", "1000000");
}

/* An unknown key is refused naming it and every key the policy knows. */
static void test_unknown_key_lists_known(void **state)
{
	size_t n, i;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);

	(void)state;
	assert_true(n >= 9);
	expect_refused("dynamic-share", "intervall", "1",
		       "dynamic-share: unknown parameter 'intervall' (known: interval_ms, "
		       "change_threshold, lb_change, relax, min_share, min_bytes)");
	expect_refused("static-share", "x", "1",
		       "static-share: unknown parameter 'x' (known: none)");
	for (i = 0; i < n; i++) {
		struct lbfo_team t;
		struct lbfo_kv kv = { "bogus", "1" };
		const struct lbfo_param_desc *d;
		char prefix[128];

		assert_ptr_equal(lbfo_policy_find(tab[i]->name), tab[i]);
		assert_int_equal(lbfo_team_init(&t, "lu", NULL, tab[i]->name, &kv, 1), -1);
		snprintf(prefix, sizeof(prefix), "%s: unknown parameter 'bogus' (known: ",
			 tab[i]->name);
		assert_memory_equal(lbfo_team_error(&t), prefix, strlen(prefix));
		for (d = tab[i]->params; d->key; d++)
			assert_non_null(strstr(lbfo_team_error(&t), d->key));
		/* Every documented key with its documented default is accepted. */
		for (d = tab[i]->params; d->key; d++)
			if (d->def && d->def[0])
				expect_accepted(tab[i]->name, d->key, d->def);
		/* ... and so is no parameter at all. */
		assert_int_equal(lbfo_team_init(&t, "lu", NULL, tab[i]->name, NULL, 0), 0);
		lbfo_team_destroy(&t);
	}
}

static void test_unknown_policy_lists_policies(void **state)
{
	struct lbfo_team t;
	size_t n, i;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);

	(void)state;
	assert_int_equal(lbfo_team_init(&t, "lu", NULL, "fastest", NULL, 0), -1);
	assert_string_equal(lbfo_team_error(&t),
			    "unknown policy 'fastest' (known: failover, round-robin, weighted, "
			    "static-share, dynamic-share, quota-rr, speed-share, queue-depth, "
			    "service-time)");
	for (i = 0; i < n; i++)
		assert_non_null(strstr(lbfo_team_error(&t), tab[i]->name));
	assert_null(lbfo_policy_find("fastest"));
	assert_null(lbfo_policy_find(NULL));
	/* No name: the default policy. */
	assert_int_equal(lbfo_team_init(&t, "lu", NULL, NULL, NULL, 0), 0);
	assert_string_equal(lbfo_team_policy_name(&t), LBFO_DEFAULT_POLICY);
	lbfo_team_destroy(&t);
}

/* The helpers policies use, called directly. */
static void test_param_helpers(void **state)
{
	const struct lbfo_kv kv[] = { { "a", "7" }, { "b", "2.5" }, { "a", "9" }, { NULL, "x" } };
	char err[LBFO_ERR_MAX] = "";
	uint64_t u = 0;
	double d = 0;

	(void)state;
	assert_string_equal(lbfo_kv_get(kv, 4, "a"), "9"); /* last one wins */
	assert_null(lbfo_kv_get(kv, 4, "c"));
	assert_int_equal(lbfo_param_u64("p", kv, 4, "a", 1, 0, 10, &u, err, sizeof(err)), 0);
	assert_int_equal(u, 9);
	assert_int_equal(lbfo_param_u64("p", kv, 4, "c", 3, 0, 10, &u, err, sizeof(err)), 0);
	assert_int_equal(u, 3);
	assert_int_equal(lbfo_param_u64("p", kv, 4, "a", 1, 0, 8, &u, err, sizeof(err)), -1);
	assert_string_equal(err, "p: invalid value '9' for 'a': out of range 0..8");
	assert_int_equal(lbfo_param_u64("p", kv, 4, "b", 1, 0, 8, &u, err, sizeof(err)), -1);
	assert_string_equal(err, "p: invalid value '2.5' for 'b': not a whole number");
	assert_int_equal(lbfo_param_double("p", kv, 4, "b", 1, 0, 8, &d, err, sizeof(err)), 0);
	assert_true(d == 2.5);
	assert_int_equal(lbfo_param_double("p", kv, 4, "b", 1, 3, 8, &d, err, sizeof(err)), -1);
	assert_string_equal(err, "p: invalid value '2.5' for 'b': out of range 3..8");
	/* A NULL key is unknown, not a crash. */
	assert_int_equal(lbfo_param_check_keys(&lbfo_policy_round_robin, kv + 3, 1, err,
					       sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown parameter"));
	/* A tiny buffer truncates, never overflows. */
	{
		char small[12];
		const struct lbfo_kv k2 = { "zzz", "1" };

		assert_int_equal(lbfo_param_check_keys(&lbfo_policy_dynamic_share, &k2, 1,
						       small, sizeof(small)), -1);
		assert_int_equal(strlen(small), sizeof(small) - 1);
	}
}

static void test_failback_parse(void **state)
{
	enum lbfo_failback fb;
	uint64_t ns = 123;
	const char *err = NULL;

	(void)state;
	assert_int_equal(lbfo_failback_parse("immediate", &fb, &ns, &err), 0);
	assert_int_equal(fb, LBFO_FAILBACK_IMMEDIATE);
	assert_int_equal(lbfo_failback_parse("manual", &fb, &ns, &err), 0);
	assert_int_equal(fb, LBFO_FAILBACK_MANUAL);
	assert_int_equal(lbfo_failback_parse("30", &fb, &ns, &err), 0);
	assert_int_equal(fb, LBFO_FAILBACK_STABLE);
	assert_int_equal(ns, 30 * NS_S);
	assert_int_equal(lbfo_failback_parse("stable", &fb, &ns, &err), 0);
	assert_int_equal(fb, LBFO_FAILBACK_STABLE);
	assert_int_equal(ns, LBFO_FAILBACK_STABLE_DEFAULT_S * NS_S);
	assert_int_equal(lbfo_failback_parse("0", &fb, &ns, &err), 0);
	assert_int_equal(fb, LBFO_FAILBACK_IMMEDIATE);
	assert_int_equal(lbfo_failback_parse("86400", &fb, &ns, &err), 0);
	assert_int_equal(ns, 86400 * NS_S);
	{
		const char *bad[] = { "", "86401", "-1", "10s", " 5", "Manual", "1.5", NULL };
		int i;

		for (i = 0; i < (int)ARRAY_LEN(bad); i++) {
			err = NULL;
			fb = LBFO_FAILBACK_MANUAL;
			assert_int_equal(lbfo_failback_parse(bad[i], &fb, &ns, &err), -1);
			assert_non_null(err);
			assert_non_null(strstr(err, "immediate"));
			assert_int_equal(fb, LBFO_FAILBACK_MANUAL); /* untouched */
		}
	}
	assert_string_equal(lbfo_failback_name(LBFO_FAILBACK_STABLE), "stable");
	assert_string_equal(lbfo_failback_name((enum lbfo_failback)99), "?");
	assert_string_equal(lbfo_member_state_name(LBFO_MS_PROBING), "probing");
	assert_string_equal(lbfo_mode_name(LBFO_MODE_FAILOVER), "failover-only");
	assert_string_equal(lbfo_role_name(LBFO_ROLE_SECONDARY), "secondary");
	assert_string_equal(lbfo_dir_name(LBFO_WRITE), "write");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_unknown_key_lists_known),
		cmocka_unit_test(test_unknown_policy_lists_policies),
		cmocka_unit_test(test_param_helpers),
		cmocka_unit_test(test_failback_parse),
	};
	return cmocka_run_group_tests_name("params", tests, NULL, NULL);
}
