/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Weighted selection micro-benchmark: the cost of one pick against the
 * number of members, the old smooth weighted round-robin (credits, O(n) a
 * pick, as src/core/policy_weighted.c had it until the EDF heaps) against
 * the current "weighted" policy (O(log n)).
 *
 *   weighted [PICKS] [N...]          (default 2000000 picks; n = 16 64 256)
 *
 * Each n: a team of n members with weights 1..1000 from a fixed seed.
 * Three figures, wall ns per pick (median of 5 runs):
 *   old_policy   the old credit loop alone, over the team (it called
 *                lbfo_member_usable for each member, as here)
 *   old_select   what lbfo_team_select cost with it: the old select's own
 *                pass over the members (counting ACTIVE / healthy / 100 %
 *                members) and then the credit loop
 *   new_select   lbfo_team_select on the team with the current policy
 *                (the team keeps its counts; the policy pops a heap)
 * and checks that both give each member exactly its weight over a whole
 * cycle (sum of the weights picks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lbfo/core.h"
#include "lbfo/policy.h"

#define RUNS 5

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LBFO_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The old policy's state and select, verbatim but for the names. */
struct old_wrr {
	int64_t credit[LBFO_MAX_MEMBERS];
};

static int old_select(struct lbfo_team *t, struct old_wrr *s)
{
	int64_t total = 0;
	int i, best = -1;

	for (i = 0; i < t->n; i++) {
		if (!lbfo_member_usable(t, i))
			continue;
		s->credit[i] += t->m[i].weight;
		total += t->m[i].weight;
		if (best < 0 || s->credit[i] > s->credit[best])
			best = i;
	}
	if (best >= 0)
		s->credit[best] -= total;
	return best;
}

/* The old lbfo_team_select's pass before the policy (select.c). */
static int old_team_pass(struct lbfo_team *t)
{
	int i, nactive = 0, nhealthy = 0;
	bool failover = false;

	for (i = 0; i < t->n; i++) {
		const struct lbfo_member *m = &t->m[i];

		nactive += m->state == LBFO_MS_ACTIVE;
		nhealthy += m->state == LBFO_MS_ACTIVE || m->state == LBFO_MS_STANDBY;
		failover |= m->cfg_share[LBFO_READ] == LBFO_SHARE_FULL ||
			    m->cfg_share[LBFO_WRITE] == LBFO_SHARE_FULL;
	}
	return nactive + nhealthy + failover;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum which { OLD_POLICY, OLD_SELECT, NEW_SELECT };

/* ns per pick of one run; *sum gets a checksum of the picks. */
static double one_run(struct lbfo_team *t, enum which w, unsigned long picks, uint64_t *sum)
{
	static struct old_wrr s;
	volatile int sink = 0;
	uint64_t t0, t1, acc = 0;
	unsigned long k;

	memset(&s, 0, sizeof(s));
	t0 = wall_ns();
	for (k = 0; k < picks; k++) {
		int m;

		if (w == NEW_SELECT) {
			m = lbfo_team_select(t, LBFO_READ, 0, 0);
		} else {
			if (w == OLD_SELECT)
				sink += old_team_pass(t);
			m = old_select(t, &s);
		}
		acc = acc * 31 + (uint64_t)m;
	}
	t1 = wall_ns();
	(void)sink;
	*sum = acc;
	return (double)(t1 - t0) / (double)picks;
}

/* A whole cycle gives each member exactly its weight. */
static int check_cycle(struct lbfo_team *t, enum which w, uint64_t W)
{
	static struct old_wrr s;
	int *hits = calloc((size_t)t->n, sizeof(*hits)), i, bad = 0;
	uint64_t k;

	memset(&s, 0, sizeof(s));
	for (k = 0; k < W; k++) {
		int m = w == NEW_SELECT ? lbfo_team_select(t, LBFO_READ, 0, 0) : old_select(t, &s);

		hits[m]++;
	}
	for (i = 0; i < t->n; i++)
		bad += hits[i] != (int)t->m[i].weight;
	free(hits);
	return bad;
}

static int bench(int n, unsigned long picks)
{
	static const char *const names[] = { "old_policy", "old_select", "new_select" };
	struct lbfo_team t;
	uint64_t rng = 0x9e3779b97f4a7c15ull, W = 0, sum = 0;
	double ns[3];
	int i, w;

	if (lbfo_team_init(&t, "bench", NULL, "weighted", NULL, 0) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "m%d", i);
		rng ^= rng >> 12;
		rng ^= rng << 25;
		rng ^= rng >> 27;
		if (lbfo_team_add_member(&t, name, 0, 0, 0) < 0 ||
		    lbfo_team_set_weight(&t, i, 1 + (uint32_t)((rng * 2685821657736338717ull >> 33) % 1000),
					 0) < 0) {
			fprintf(stderr, "weighted: %s\n", lbfo_team_error(&t));
			lbfo_team_destroy(&t);
			return -1;
		}
		W += t.m[i].weight;
	}
	for (w = 0; w < 3; w++) {
		double r[RUNS];
		int k;

		if (w != OLD_SELECT && check_cycle(&t, (enum which)w, W)) {
			fprintf(stderr, "weighted: %s: a cycle did not give every weight\n", names[w]);
			lbfo_team_destroy(&t);
			return -1;
		}
		for (k = 0; k < RUNS; k++)
			r[k] = one_run(&t, (enum which)w, picks, &sum);
		qsort(r, RUNS, sizeof(r[0]), cmp_double);
		ns[w] = r[RUNS / 2];
	}
	printf("n=%-4d W=%-7llu old_policy=%7.1f ns  old_select=%7.1f ns  new_select=%6.1f ns"
	       "  (old/new %.1fx)  checksum=%016llx\n",
	       n, (unsigned long long)W, ns[0], ns[1], ns[2], ns[1] / ns[2],
	       (unsigned long long)sum);
	lbfo_team_destroy(&t);
	return 0;
}

int main(int argc, char **argv)
{
	static const int def[] = { 16, 64, 256 };
	unsigned long picks = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	int i, rc = 0;

	if (picks == 0) {
		fprintf(stderr, "usage: weighted [PICKS] [N...]\n");
		return 2;
	}
	if (argc > 2) {
		for (i = 2; i < argc; i++) {
			int n = atoi(argv[i]);

			if (n < 1 || n > LBFO_MAX_MEMBERS) {
				fprintf(stderr, "weighted: N must be 1..%d\n", LBFO_MAX_MEMBERS);
				return 2;
			}
			rc |= bench(n, picks) < 0;
		}
		return rc;
	}
	for (i = 0; i < (int)(sizeof(def) / sizeof(def[0])); i++)
		rc |= bench(def[i], picks) < 0;
	return rc;
}
