/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the simulator: determinism, no command lost, failover
 * without errors, the adaptive policies against round-robin on unequal
 * paths, scenario errors naming file:line and key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lbfo/policy.h"
#include "sim.h"

#ifndef SIM_SCENARIO_DIR
#define SIM_SCENARIO_DIR "sim/scenarios"
#endif

static struct sim_scenario *load(const char *name)
{
	struct sim_scenario *sc = calloc(1, sizeof(*sc));
	char path[512], err[1024];

	assert_non_null(sc);
	snprintf(path, sizeof(path), "%s/%s", SIM_SCENARIO_DIR, name);
	if (sim_scenario_load(sc, path, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return sc;
}

static struct sim_scenario *parse(const char *text)
{
	struct sim_scenario *sc = calloc(1, sizeof(*sc));
	char err[1024];

	assert_non_null(sc);
	if (sim_scenario_load_string(sc, "t.ini", text, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return sc;
}

static void run(const struct sim_scenario *sc, const char *policy,
		struct sim_result *r)
{
	struct lbfo_kv kv[SIM_MAX_PARAMS];
	size_t n = sim_policy_params(sc, policy, kv, SIM_MAX_PARAMS);
	char err[1024];

	if (sim_run(sc, policy, kv, n, r, err, sizeof(err)) < 0)
		fail_msg("%s: %s", policy, err);
}

/* Every command the client issued completed once, failed, or was still
 * pending at the end; bytes agree between the simulator and the core. */
static void assert_conserved(const struct sim_result *r)
{
	uint64_t per_path = 0, per_sec = 0;
	int i, j;

	assert_int_equal(r->bad_completions, 0);
	assert_int_equal(r->issued, r->completed + r->errors + r->pending);
	assert_int_equal(r->bytes, r->bytes_requested);
	assert_int_equal(r->bytes, r->core_bytes);
	for (i = 0; i < r->npaths; i++)
		per_path += r->path_bytes[i];
	assert_int_equal(per_path, r->bytes);
	for (j = 0; j < r->nsec; j++)
		for (i = 0; i < r->npaths; i++)
			per_sec += r->sec[j].bytes[i];
	assert_int_equal(per_sec, r->bytes);
}

static void test_deterministic(void **state)
{
	struct sim_scenario *sc = load("demo.ini");
	struct sim_result a, b, c;
	int j;

	(void)state;
	run(sc, "service-time", &a);
	run(sc, "service-time", &b);
	assert_int_equal(a.bytes, b.bytes);
	assert_int_equal(a.events, b.events);
	assert_int_equal(a.issued, b.issued);
	assert_int_equal(a.retried, b.retried);
	assert_true(a.p99_ms == b.p99_ms && a.p50_ms == b.p50_ms);
	assert_true(a.failover_gap_ms == b.failover_gap_ms);
	assert_int_equal(a.nsec, b.nsec);
	for (j = 0; j < a.nsec; j++)
		assert_memory_equal(a.sec[j].bytes, b.sec[j].bytes, sizeof(a.sec[j].bytes));
	/* Another seed gives another read/write sequence. */
	sc->seed = 12345;
	run(sc, "service-time", &c);
	assert_true(c.events != a.events || c.bytes != a.bytes || c.p99_ms != a.p99_ms);
	sim_result_free(&a);
	sim_result_free(&b);
	sim_result_free(&c);
	free(sc);
}

/* A run too short to complete anything reports zeroes (and sorts no
 * latencies: qsort on an empty, NULL array is undefined behaviour, which
 * the sanitizer build of this test catches). */
static void test_nothing_completed(void **state)
{
	struct sim_scenario *sc = load("demo.ini");
	struct sim_result r;

	(void)state;
	sc->duration_s = 0.0001;
	run(sc, "round-robin", &r);
	assert_true(r.p50_ms == 0 && r.p99_ms == 0 && r.max_ms == 0);
	sim_result_free(&r);
	free(sc);
}

static void test_no_command_lost(void **state)
{
	static const char *const files[] = { "failover.ini", "demo.ini", "congested.ini" };
	size_t n, k, f;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);

	(void)state;
	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		struct sim_scenario *sc = load(files[f]);

		for (k = 0; k < n; k++) {
			struct sim_result r;

			run(sc, tab[k]->name, &r);
			assert_conserved(&r);
			assert_true(r.completed > 100);
			sim_result_free(&r);
		}
		free(sc);
	}
}

static void test_failover_no_errors_bounded_gap(void **state)
{
	struct sim_scenario *sc = load("failover.ini");
	size_t n, k;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);
	/* detection + re-sending the whole queue (32 x 1 MiB) on the one
	 * 500 Mbit/s path left (~0.56 s) + slack */
	double bound = sc->path[0].detect_ms + 32 * 1048576 / (500e6 / 8 * SIM_GOODPUT) * 1e3 + 300;

	(void)state;
	for (k = 0; k < n; k++) {
		struct sim_result r;

		run(sc, tab[k]->name, &r);
		assert_int_equal(r.errors, 0);
		assert_true(r.retried > 0);
		if (r.failover_gap_ms <= 0 || r.failover_gap_ms > bound)
			fail_msg("%s: gap %.1f ms, bound %.1f ms", r.policy,
				 r.failover_gap_ms, bound);
		/* the path came back and carries I/O again at the end */
		assert_true(r.sec[r.nsec - 1].bytes[0] > 0);
		sim_result_free(&r);
	}
	free(sc);
}

static void test_failover_policy_waits_for_detection(void **state)
{
	struct sim_scenario *sc = load("failover.ini");
	struct sim_result r;

	(void)state;
	run(sc, "failover", &r);
	/* all I/O was on the failed primary: nothing completes until the
	 * failure is detected */
	assert_true(r.failover_gap_ms >= sc->path[0].detect_ms);
	assert_int_equal(r.retried, sc->queue_depth);
	sim_result_free(&r);
	free(sc);
}

static void test_adaptive_vs_round_robin_asymmetric(void **state)
{
	struct sim_scenario *sc = load("asymmetric-800-200.ini");
	struct sim_result st, qd, rr;

	(void)state;
	run(sc, "service-time", &st);
	run(sc, "queue-depth", &qd);
	run(sc, "round-robin", &rr);
	if (st.fraction < 0.85)
		fail_msg("service-time: %.1f%% of ideal", 100 * st.fraction);
	if (qd.fraction < 0.85)
		fail_msg("queue-depth: %.1f%% of ideal", 100 * qd.fraction);
	/* 50/50 over 800 + 200 is capped by the slow path: 2 x 200 / 1000 */
	if (rr.fraction >= 0.60)
		fail_msg("round-robin: %.1f%% of ideal", 100 * rr.fraction);
	/* service-time gives the fast path most of the bytes */
	assert_true(st.path_bytes[0] > 3 * st.path_bytes[1]);
	sim_result_free(&st);
	sim_result_free(&qd);
	sim_result_free(&rr);
	free(sc);
}

static void test_ideal_symmetric(void **state)
{
	struct sim_scenario *sc = load("symmetric-2x500.ini");
	struct sim_result r;

	(void)state;
	run(sc, "round-robin", &r);
	/* 2 x 500 Mbit/s x 0.956 = 119.5 MB/s */
	assert_true(r.ideal_mbps > 119.4 && r.ideal_mbps < 119.6);
	assert_true(r.fraction > 0.9 && r.fraction <= 1.0);
	sim_result_free(&r);
	free(sc);
}

/* Dynamic-share sees the foreign traffic only through the interface
 * counters fed as DataPathBytes. */
static void test_congestion_needs_adapter_counters(void **state)
{
	struct sim_scenario *sc = load("congested.ini");
	struct sim_result with, without;

	(void)state;
	run(sc, "dynamic-share", &with);
	sc->adapter_counters = false;
	run(sc, "dynamic-share", &without);
	/* policy share of the congested path b at the end: cut with the
	 * counters; without them the team's own bytes follow the shares
	 * and little moves */
	assert_true(with.sec[with.nsec - 1].policy_share[1] < 40);
	assert_true(without.sec[without.nsec - 1].policy_share[1] >
		    with.sec[with.nsec - 1].policy_share[1] + 10);
	assert_true(with.bytes > without.bytes);
	sim_result_free(&with);
	sim_result_free(&without);
	free(sc);
}

static void test_no_path_timeout_errors(void **state)
{
	struct sim_scenario *sc = parse(
		"[workload]\nqueue_depth = 4\nrequest_size = 64k\nduration_s = 5\n"
		"no_path_timeout_s = 1\n"
		"[path only]\nbandwidth_mbit = 100\nlatency_ms = 1\n"
		"fail_at_s = 1\ndetect_ms = 100\n");
	struct sim_result r;

	(void)state;
	run(sc, "round-robin", &r);
	assert_conserved(&r);
	/* stuck 4 at 1.1 s, failed at 2.1 s, 3.1 s, 4.1 s */
	assert_int_equal(r.errors, 12);
	assert_int_equal(r.pending, 4);
	sim_result_free(&r);

	/* back before the timeout: no error */
	free(sc);
	sc = parse("[workload]\nqueue_depth = 4\nrequest_size = 64k\nduration_s = 5\n"
		   "no_path_timeout_s = 1\n"
		   "[path only]\nbandwidth_mbit = 100\nlatency_ms = 1\n"
		   "fail_at_s = 1\ndetect_ms = 100\nrestore_at_s = 1.8\n");
	run(sc, "round-robin", &r);
	assert_conserved(&r);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.retried, 4);
	sim_result_free(&r);
	free(sc);
}

static void test_queue_limit_and_max_outstanding(void **state)
{
	const char *base = "[workload]\nqueue_depth = 8\nrequest_size = 1M\nduration_s = 4\n"
			   "read_pct = 100\n";
	char text[512];
	struct sim_scenario *sc;
	struct sim_result free_run, limited, lu;

	(void)state;
	snprintf(text, sizeof(text), "%s[path a]\nbandwidth_mbit = 500\nlatency_ms = 10\n", base);
	sc = parse(text);
	run(sc, "failover", &free_run);
	free(sc);
	snprintf(text, sizeof(text), "%s[path a]\nbandwidth_mbit = 500\nlatency_ms = 10\n"
		 "queue_limit = 1\n", base);
	sc = parse(text);
	run(sc, "failover", &limited);
	free(sc);
	snprintf(text, sizeof(text), "%s[team]\nmax_outstanding = 1\n"
		 "[path a]\nbandwidth_mbit = 500\nlatency_ms = 10\n", base);
	sc = parse(text);
	run(sc, "failover", &lu);
	free(sc);
	/* one command at a time pays the 20 ms round trip per 17.5 ms transfer */
	assert_true(free_run.fraction > 0.9);
	assert_true(limited.fraction < 0.55 && limited.fraction > 0.4);
	assert_true(lu.fraction < 0.55 && lu.fraction > 0.4);
	assert_conserved(&limited);
	assert_conserved(&lu);
	sim_result_free(&free_run);
	sim_result_free(&limited);
	sim_result_free(&lu);
}

static void test_configured_shares_and_weights(void **state)
{
	struct sim_scenario *sc = parse(
		"[path fast]\nbandwidth_mbit = 800\nshare = 80\nweight = 4\n"
		"[path slow]\nbandwidth_mbit = 200\nshare = 20\nweight = 1\n");
	struct sim_result ss, w;

	(void)state;
	run(sc, "static-share", &ss);
	run(sc, "weighted", &w);
	assert_true(ss.fraction > 0.9);
	assert_true(w.fraction > 0.9);
	sim_result_free(&ss);
	sim_result_free(&w);
	free(sc);
}

static void expect_error(const char *text, const char *const *needles)
{
	struct sim_scenario *sc = calloc(1, sizeof(*sc));
	char err[1024] = "";

	assert_non_null(sc);
	assert_int_equal(sim_scenario_load_string(sc, "sim/scenarios/x.ini", text,
						  err, sizeof(err)), -1);
	for (; *needles; needles++)
		if (!strstr(err, *needles))
			fail_msg("'%s' not in error '%s'", *needles, err);
	free(sc);
}

static void test_scenario_errors(void **state)
{
	(void)state;
	expect_error("[workload]\nqueue_depth = 8\n\n[path fast]\nbandwidth_mbit = 800\n"
		     "; comment\nbandwith = 5\n",
		     (const char *const[]){ "sim/scenarios/x.ini:7:", "[path fast]",
					    "unknown key 'bandwith'", NULL });
	expect_error("[path a]\nbandwidth_mbit = fast\n",
		     (const char *const[]){ "x.ini:2:", "[path a]", "'bandwidth_mbit'",
					    "not a number", NULL });
	expect_error("[workload]\nqueue_depth = 0\n[path a]\nbandwidth_mbit = 1\n",
		     (const char *const[]){ "x.ini:2:", "[workload]", "queue_depth",
					    "out of range", NULL });
	expect_error("[path a]\nbandwidth_mbit = 1\nbandwidth_mbit = 2\n",
		     (const char *const[]){ "x.ini:3:", "set twice", NULL });
	expect_error("[paths a]\nbandwidth_mbit = 1\n",
		     (const char *const[]){ "x.ini:2:", "[paths a]", "unknown section", NULL });
	expect_error("[policy service-time]\nperiod_ms = 1\n[path a]\nbandwidth_mbit = 1\n",
		     (const char *const[]){ "x.ini:2:", "[policy service-time]",
					    "period_ms", NULL });
	expect_error("[policy dynamic-share]\nspeed = 1\n",
		     (const char *const[]){ "x.ini:2:", "unknown parameter 'speed'", NULL });
	expect_error("[path a]\nlatency_ms = 1\n",
		     (const char *const[]){ "x.ini:2:", "[path a]", "missing key 'bandwidth_mbit'",
					    NULL });
	expect_error("[path a]\nbandwidth_mbit = 1\nfail_at_s = 2\ndetect_ms = 500\n"
		     "restore_at_s = 2.2\n",
		     (const char *const[]){ "[path a]", "restore_at_s", NULL });
	expect_error("[workload]\nduration_s 5\n",
		     (const char *const[]){ "x.ini:2:", "syntax", NULL });
	expect_error("", (const char *const[]){ "no paths", NULL });
}

static void test_params(void **state)
{
	struct sim_scenario *sc = load("asymmetric-800-200.ini");
	struct lbfo_kv kv[8];
	char err[1024];
	size_t n;

	(void)state;
	assert_int_equal(sim_scenario_add_param(sc, "nosuch=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nosuch"));
	assert_int_equal(sim_scenario_add_param(sc, "service-time:period_ms=5", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "period_ms"));
	assert_int_equal(sim_scenario_add_param(sc, "period_ms=100", err, sizeof(err)), 0);
	assert_int_equal(sim_scenario_add_param(sc, "dynamic-share:interval_ms=200", err, sizeof(err)), 0);
	/* unscoped: to every policy that has the key */
	assert_int_equal(sim_policy_params(sc, "service-time", kv, 8), 1);
	assert_int_equal(sim_policy_params(sc, "speed-share", kv, 8), 1);
	assert_int_equal(sim_policy_params(sc, "round-robin", kv, 8), 0);
	n = sim_policy_params(sc, "dynamic-share", kv, 8);
	assert_int_equal(n, 1);
	assert_string_equal(kv[0].key, "interval_ms");
	free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_nothing_completed),
		cmocka_unit_test(test_no_command_lost),
		cmocka_unit_test(test_failover_no_errors_bounded_gap),
		cmocka_unit_test(test_failover_policy_waits_for_detection),
		cmocka_unit_test(test_adaptive_vs_round_robin_asymmetric),
		cmocka_unit_test(test_ideal_symmetric),
		cmocka_unit_test(test_congestion_needs_adapter_counters),
		cmocka_unit_test(test_no_path_timeout_errors),
		cmocka_unit_test(test_queue_limit_and_max_outstanding),
		cmocka_unit_test(test_configured_shares_and_weights),
		cmocka_unit_test(test_scenario_errors),
		cmocka_unit_test(test_params),
	};
	return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
