/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * weighted: smooth weighted round-robin over the ACTIVE members by their
 * weights (seed 002's "allocate twice / allocate once"), O(log n) a pick.
 *
 * The members' weights w_i sum to W; a cycle is W picks, in which member i
 * gets exactly w_i. Within the cycle, after t picks of which n_i went to
 * member i, member i's next pick is a job with
 *
 *   release  floor(n_i * W / w_i)     (the first pick t it may take)
 *   deadline (n_i + 1) / w_i          (in units of W picks)
 *
 * and each pick goes to the member with the earliest deadline among those
 * released (n_i * W < (t + 1) * w_i), ties to the earlier exact release
 * n_i / w_i, then to the lower index. That is EDF over the Pfair windows
 * of a uniprocessor with utilisation exactly 1 (each member's share
 * w_i / W is its rate; the windows are [floor((k-1)/p), ceil(k/p)) for
 * its k-th pick, p = w_i / W). EDF is optimal on one processor for unit
 * jobs with integer releases and deadlines, and the Pfair windows are
 * feasible at utilisation 1, so every pick lands in its window, which
 * means the lag stays under one pick:
 *
 *   | n_i(t) - t * w_i / W | < 1       after every t picks of a cycle,
 *
 * so in any window of consecutive picks a member's count is within 2 of
 * its weight's proportion, and at t = W, n_i = w_i exactly. Someone is
 * always released: if none were, sum n_i * W >= (t + 1) * W, but sum n_i
 * is t. Weights 2:1 give A B A, A B A: interleaved, not in bursts.
 *
 * Two binary heaps of member indices hold the members of the cycle: the
 * released ones by deadline ("ready"), the others by release ("waiting").
 * A pick moves the waiting members released by now to ready, pops the top
 * of ready, and pushes the member back where its next release puts it:
 * O(log n) (amortised: each member moves from waiting to ready at most
 * once per pick of its own). At the end of a cycle every count is its
 * weight, and the state is rebuilt from zero: O(n) once per W >= n picks.
 * A change of the member set, a state or a weight (on_member_change)
 * rebuilds likewise and starts a fresh cycle, as the old credit-based
 * implementation reset its credits.
 *
 * Members excluded for one select (lbfo_team_select_excluding) are popped
 * and pushed back unchanged: they keep their place and are not charged.
 * If every released member is excluded, the cycle skips ahead to the next
 * release of a member that is not (as if the excluded ones had taken the
 * picks between), or, when every other member has had its whole weight,
 * a new cycle starts. So under a lasting exclusion (an ALUA mask) the
 * others still get their exact weights in each cycle; the excluded ones'
 * missed picks are forgiven, not paid back in a burst. The lag bound above
 * holds for selects without exclusions: while a member is excluded the
 * others take its picks (weights 999:2 with the first excluded for three
 * selects give the second three picks in a row, and that cycle ends early).
 *
 * weights=W1,W2,... sets the weights by member index (up to
 * LBFO_MAX_MEMBERS); otherwise each member's own weight is used (default 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"

/*
 * Heap entries are 64-bit keys, compared as plain integers, with the
 * member index in the low 8 bits (LBFO_MAX_MEMBERS is 256):
 *
 *   ready:   D << 18 | w << 8 | index,  D = floor((n + 1) * 2^20 / w)
 *   waiting: r << 8 | index,            r = floor(n * W / w), the release
 *
 * D orders the deadlines (n + 1) / w exactly: two different fractions of
 * denominators <= 1000 differ by at least 1 / 10^6 > 2^-20, so their
 * floors differ, and equal fractions have equal floors. Between equal
 * deadlines the earlier release n / w = (n + 1) / w - 1 / w is the smaller
 * weight: hence w next, then the index. n stays below 2^18 (at most a
 * cycle, W <= 256000, plus one cycle's surplus), so D < 2^38 and the key
 * < 2^56; r < 2^36.
 */
#define IDX_BITS 8
#define IDX_MASK ((1u << IDX_BITS) - 1)
#define D_SHIFT 20
_Static_assert(LBFO_MAX_MEMBERS <= (1 << IDX_BITS), "a member index fits a heap key");
_Static_assert(LBFO_WEIGHT_MAX < (1 << 10), "a weight fits a heap key");

struct wrr {
	uint32_t *pw;  /* weights= by index (npw of them), or NULL */
	int npw;
	int cap;       /* of the per-member arrays below */
	/* Per member index: */
	uint64_t *n;   /* picks in this cycle */
	uint32_t *w;   /* weight in this cycle (0: not in it) */
	/* Heaps of keys (above). */
	uint64_t *ready, *wait;
	int nready, nwait;
	uint64_t *side; /* keys of excluded members popped for one select */
	uint64_t t;    /* picks in this cycle */
	uint64_t W;    /* sum of the cycle's weights */
};

static int parse_weights(struct wrr *s, const char *v, char *err, size_t errlen)
{
	const char *p = v;
	int n = 0;

	s->pw = calloc(LBFO_MAX_MEMBERS, sizeof(*s->pw));
	if (!s->pw) {
		snprintf(err, errlen, "weighted: out of memory");
		return -1;
	}
	while (*p) {
		char *end;
		unsigned long x;

		if (n >= LBFO_MAX_MEMBERS || *p < '0' || *p > '9')
			goto bad;
		x = strtoul(p, &end, 10);
		if (x < 1 || x > LBFO_WEIGHT_MAX)
			goto bad;
		s->pw[n++] = (uint32_t)x;
		if (*end == ',')
			end++;
		else if (*end != '\0')
			goto bad;
		p = end;
	}
	s->npw = n;
	return 0;
bad:
	snprintf(err, errlen, "weighted: invalid value '%.64s%s' for 'weights': "
		 "expected a comma-separated list of 1..%d, at most %d",
		 v, strlen(v) > 64 ? "..." : "", LBFO_WEIGHT_MAX, LBFO_MAX_MEMBERS);
	return -1;
}

static void wrr_destroy(void *priv)
{
	struct wrr *s = priv;

	if (!s)
		return;
	free(s->pw);
	free(s->n);
	free(s->w);
	free(s->ready);
	free(s->wait);
	free(s->side);
	free(s);
}

static int wrr_grow(struct lbfo_team *t, void *priv, int cap)
{
	struct wrr *s = priv;

#define GROW(f) LBFO_POLICY_GROW(f, s->cap, cap)
	(void)t;
	GROW(s->n);
	GROW(s->w);
	GROW(s->ready);
	GROW(s->wait);
	GROW(s->side);
#undef GROW
	s->cap = cap;
	return 0;
}

static int wrr_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		      void **priv, char *err, size_t errlen)
{
	struct wrr *s = calloc(1, sizeof(*s));
	const char *v = lbfo_kv_get(kv, nkv, "weights");

	if (!s)
		return -1;
	if ((v && parse_weights(s, v, err, errlen) < 0) || wrr_grow(t, s, t->cap) < 0) {
		wrr_destroy(s);
		return -1;
	}
	*priv = s;
	return 0;
}

static uint32_t weight_of(const struct lbfo_team *t, const struct wrr *s, int i)
{
	if (i < s->npw)
		return s->pw[i];
	return t->m[i].weight ? t->m[i].weight : 1;
}

static uint64_t ready_key(const struct wrr *s, int m)
{
	return (((s->n[m] + 1) << D_SHIFT) / s->w[m]) << 18 | (uint64_t)s->w[m] << IDX_BITS |
	       (unsigned)m;
}

/* Released for pick t when n * W < (t + 1) * w, i.e. from pick
 * floor(n * W / w) on. */
static uint64_t release(const struct wrr *s, int m)
{
	return s->n[m] * s->W / s->w[m];
}

static void heap_push(uint64_t *h, int *nh, uint64_t key)
{
	int i = (*nh)++;

	while (i > 0) {
		int parent = (i - 1) / 2;

		if (h[parent] <= key)
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = key;
}

static uint64_t heap_pop(uint64_t *h, int *nh)
{
	uint64_t top = h[0], last = h[--*nh];
	int i = 0;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= *nh)
			break;
		if (c + 1 < *nh && h[c + 1] < h[c])
			c++;
		if (last <= h[c])
			break;
		h[i] = h[c];
		i = c;
	}
	if (*nh > 0)
		h[i] = last;
	return top;
}

/* Member m, n[m] picks into the cycle, into the heap its release puts it. */
static void place(struct wrr *s, int m)
{
	uint64_t r = release(s, m);

	if (r <= s->t)
		heap_push(s->ready, &s->nready, ready_key(s, m));
	else
		heap_push(s->wait, &s->nwait, r << IDX_BITS | (unsigned)m);
}

/* A new cycle over the ACTIVE members with the counts in n[] (members not
 * in the cycle have w = 0 and are left out). */
static void rebuild(struct lbfo_team *t, struct wrr *s)
{
	int i;

	s->nready = s->nwait = 0;
	s->t = 0;
	s->W = 0;
	for (i = 0; i < t->n && i < s->cap; i++) {
		s->w[i] = t->m[i].state == LBFO_MS_ACTIVE ? weight_of(t, s, i) : 0;
		s->W += s->w[i];
	}
	for (i = 0; i < t->n && i < s->cap; i++)
		if (s->w[i])
			place(s, i);
}

static void wrr_change(struct lbfo_team *t, void *priv, int m, uint64_t now)
{
	struct wrr *s = priv;

	(void)m, (void)now;
	/* A new set of members (or weights) starts a fresh cycle. */
	memset(s->n, 0, (size_t)s->cap * sizeof(*s->n));
	rebuild(t, s);
}

static bool excluded(const struct lbfo_team *t, int m)
{
	return t->exclude && lbfo_mask_has(t->exclude, m);
}

/* The first key of heap h whose member is not excluded, popped; the keys
 * of excluded ones popped on the way are pushed back. -1 when none. */
static int pop_allowed(struct lbfo_team *t, struct wrr *s, uint64_t *h, int *nh)
{
	int nside = 0, m = -1, i;

	while (*nh > 0) {
		uint64_t key = heap_pop(h, nh);

		if (!excluded(t, (int)(key & IDX_MASK))) {
			m = (int)(key & IDX_MASK);
			break;
		}
		s->side[nside++] = key;
	}
	/* Back where they were, unchanged: not charged, keeping their place. */
	for (i = 0; i < nside; i++)
		heap_push(h, nh, s->side[i]);
	return m;
}

static int wrr_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		      uint64_t bytes, uint64_t now)
{
	struct wrr *s = priv;
	int pick;

	(void)dir, (void)bytes, (void)now;
	/* Members whose next pick is released by now. */
	while (s->nwait > 0 && s->wait[0] >> IDX_BITS <= s->t)
		heap_push(s->ready, &s->nready,
			  ready_key(s, (int)(heap_pop(s->wait, &s->nwait) & IDX_MASK)));
	if (t->exclude) {
		pick = pop_allowed(t, s, s->ready, &s->nready);
		if (pick < 0) {
			/* Every released member is excluded: the cycle skips
			 * ahead to the next release of another member, as if
			 * the excluded ones had taken the picks between. */
			int m = pop_allowed(t, s, s->wait, &s->nwait);

			if (m < 0)
				return -1; /* the team said a member is usable */
			if (release(s, m) >= s->W) {
				/* They all had their whole weight: a new cycle. */
				memset(s->n, 0, (size_t)s->cap * sizeof(*s->n));
				rebuild(t, s);
			} else {
				s->t = release(s, m);
				heap_push(s->ready, &s->nready, ready_key(s, m));
				while (s->nwait > 0 && s->wait[0] >> IDX_BITS <= s->t)
					heap_push(s->ready, &s->nready,
						  ready_key(s, (int)(heap_pop(s->wait, &s->nwait) &
								     IDX_MASK)));
			}
			pick = pop_allowed(t, s, s->ready, &s->nready);
			if (pick < 0)
				return -1; /* not reached: m is released now */
		}
	} else {
		if (s->nready == 0)
			return -1; /* someone is always released: not reached */
		pick = (int)(heap_pop(s->ready, &s->nready) & IDX_MASK);
	}
	s->n[pick]++;
	s->t++;
	if (s->t < s->W) {
		place(s, pick);
		return pick;
	}
	/* The end of a cycle: every count is its weight (or less, for the
	 * picks an exclusion skipped). The next starts from zero. */
	memset(s->n, 0, (size_t)s->cap * sizeof(*s->n));
	rebuild(t, s);
	return pick;
}

static const struct lbfo_param_desc wrr_params[] = {
	{ "weights", "", "comma-separated weights by member order, 1..1000 each, up to 256 (default: each member's weight, 1)" },
	{ NULL, NULL, NULL },
};

const struct lbfo_policy_ops lbfo_policy_weighted = {
	.name = "weighted",
	.summary = "smooth weighted round-robin by member weight (earliest deadline first, O(log n))",
	.params = wrr_params,
	.create = wrr_create,
	.destroy = wrr_destroy,
	.grow = wrr_grow,
	.select = wrr_select,
	.on_member_change = wrr_change,
};
