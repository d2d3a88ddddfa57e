/* Helpers shared by the unit tests (header-only, static). */
#ifndef LBFO_TESTUTIL_H
#define LBFO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lbfo/core.h"
#include "lbfo/policy.h"

#define NS_S LBFO_NS_PER_SEC
#define NS_MS LBFO_NS_PER_MS
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Deterministic PRNG (xorshift64*), fixed seeds in every test. */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}

/* Uniform in [0, n). */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)((rng_next(r) >> 32) % n);
}

/* a / b, 0 when b is 0: a member's fraction of the bytes. */
static inline double frac(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0;
}

/* Build a team of n members named p0.. with the given shares (NULL: all
 * even) and assert it worked. */
static inline void team_make(struct lbfo_team *t, const struct lbfo_team_config *cfg,
			     const char *policy, const struct lbfo_kv *kv, size_t nkv,
			     int n, const uint32_t *rd, const uint32_t *wr)
{
	int i;

	if (lbfo_team_init(t, "lu", cfg, policy, kv, nkv) != 0)
		fail_msg("lbfo_team_init(%s): %s", policy, lbfo_team_error(t));
	for (i = 0; i < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(lbfo_team_add_member(t, name, rd ? rd[i] : 0,
						      wr ? wr[i] : (rd ? rd[i] : 0), 0), i);
	}
}

/* Sum of the ACTIVE members' shares in one direction, and assert that
 * every other member holds none. */
static inline uint32_t active_share_sum(const struct lbfo_team *t, enum lbfo_dir d)
{
	uint32_t sum = 0;
	int i;

	for (i = 0; i < t->n; i++) {
		if (t->m[i].state == LBFO_MS_ACTIVE)
			sum += t->m[i].share[d];
		else
			assert_int_equal(t->m[i].share[d], 0);
	}
	return sum;
}

static inline void assert_shares_full(const struct lbfo_team *t)
{
	if (lbfo_team_count(t, LBFO_MS_ACTIVE) == 0)
		return;
	assert_int_equal(active_share_sum(t, LBFO_READ), LBFO_SHARE_FULL);
	assert_int_equal(active_share_sum(t, LBFO_WRITE), LBFO_SHARE_FULL);
}

/* select + start + complete at once; returns the member. */
static inline int dispatch(struct lbfo_team *t, enum lbfo_dir d, uint64_t bytes,
			   uint64_t now)
{
	struct lbfo_cmd c;
	int m = lbfo_team_select(t, d, bytes, now);

	memset(&c, 0, sizeof(c));
	assert_true(m >= 0 && m < t->n);
	lbfo_team_start(t, &c, m, d, bytes, now);
	assert_int_equal(lbfo_team_complete(t, &c, now), 0);
	return m;
}

#endif
