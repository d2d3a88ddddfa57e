/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decision micro-benchmark: for each policy, N select + start + complete
 * cycles on a team of M members (default 4), with DEPTH commands in flight
 * (the oldest completes before each new decision), time advancing in fixed
 * 10 us steps and lbfo_team_tick() every 100 steps (1 ms), so the timed
 * policies (dynamic-share, speed-share, service-time) run their periods.
 * Command sizes and directions come from a fixed-seed PRNG.
 *
 *   decision [POLICY|all] [N] [MEMBERS]
 *
 * prints one line per policy: name, decisions (lbfo_team_select calls),
 * wall ns per cycle and a checksum of the picks. bench/callgrind runs it
 * under callgrind, counting the instructions inside lbfo_team_select.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lbfo/core.h"
#include "lbfo/policy.h"

#define DEPTH 8
#define STEP_NS 10000ull
#define TICK_EVERY 100u

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LBFO_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int run(const char *policy, unsigned long n, int members)
{
	static const uint32_t shares[4] = { 4000, 3000, 2000, 1000 };
	struct lbfo_team_config cfg = { .max_outstanding = 64 };
	struct lbfo_adapter ad[LBFO_MAX_MEMBERS];
	struct lbfo_cmd cmd[DEPTH];
	struct lbfo_team t;
	uint64_t now = 0, sum = 0, t0, t1, calls;
	unsigned long i;
	int k;

	rng_state = 0x2545f4914f6cdd1dull;
	memset(cmd, 0, sizeof(cmd));
	if (lbfo_team_init(&t, "bench", &cfg, policy, NULL, 0) < 0) {
		fprintf(stderr, "decision: %s\n", lbfo_team_error(&t));
		return -1;
	}
	for (k = 0; k < members; k++) {
		char name[16];
		uint32_t sh = members == 4 ? shares[k] : 0;

		snprintf(name, sizeof(name), "path%d", k);
		if (lbfo_team_add_member(&t, name, sh, sh, 0) < 0) {
			fprintf(stderr, "decision: %s\n", lbfo_team_error(&t));
			lbfo_team_destroy(&t);
			return -1;
		}
		t.m[k].weight = (uint32_t)(members - k);
		lbfo_adapter_init(&ad[k], name);
		lbfo_member_set_adapter(&t, k, &ad[k]);
	}
	lbfo_team_tick(&t, now);
	t0 = wall_ns();
	for (i = 0; i < n; i++) {
		struct lbfo_cmd *c = &cmd[i % DEPTH];
		uint64_t r = rng();
		enum lbfo_dir dir = (r & 0xff) < 179 ? LBFO_READ : LBFO_WRITE;
		uint64_t bytes = 512ull << ((r >> 8) % 8); /* 512 B .. 64 KiB */
		int m;

		now += STEP_NS;
		if (i % TICK_EVERY == 0)
			lbfo_team_tick(&t, now);
		if (c->state == LBFO_CMD_INFLIGHT)
			lbfo_team_complete(&t, c, now);
		m = lbfo_team_select(&t, dir, bytes, now);
		if (m < 0) {
			fprintf(stderr, "decision: %s: select returned %d\n", policy, m);
			lbfo_team_destroy(&t);
			return -1;
		}
		lbfo_team_start(&t, c, m, dir, bytes, now);
		sum = sum * 31 + (uint64_t)m + 1;
	}
	t1 = wall_ns();
	for (k = 0; k < DEPTH; k++)
		if (cmd[k].state == LBFO_CMD_INFLIGHT)
			lbfo_team_complete(&t, &cmd[k], now);
	calls = t.select_calls;
	printf("%-14s members=%d decisions=%llu ns_per_cycle=%.1f checksum=%016llx\n",
	       policy, members, (unsigned long long)calls,
	       n ? (double)(t1 - t0) / (double)n : 0.0, (unsigned long long)sum);
	lbfo_team_destroy(&t);
	return 0;
}

int main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "all";
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
	int members = argc > 3 ? atoi(argv[3]) : 4;
	size_t np, i;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&np);
	int rc = 0;

	if (members < 1 || members > LBFO_MAX_MEMBERS) {
		fprintf(stderr, "decision: MEMBERS must be 1..%d\n", LBFO_MAX_MEMBERS);
		return 2;
	}
	if (strcmp(which, "all"))
		return run(which, n, members) < 0 ? 1 : 0;
	for (i = 0; i < np; i++)
		if (run(tab[i]->name, n, members) < 0)
			rc = 1;
	return rc;
}
