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
 * into a side list and pushed back unchanged: they keep their place and
 * are not charged. If every released member is excluded, the non-excluded
 * member released soonest takes the pick early; the counts of such a
 * cycle no longer add up to the weights at t = W, so a cycle ends when t
 * reaches W, each count less its weight (a member that got more keeps the
 * surplus into the next cycle; one owed picks is forgiven rather than
 * given them in a burst).
 *
 * weights=W1,W2,... sets the weights by member index (up to
 * LBFO_MAX_MEMBERS); otherwise each member's own weight is used (default 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"

struct wrr {
	uint32_t *pw;  /* weights= by index (npw of them), or NULL */
	int npw;
	int cap;       /* of the per-member arrays below */
	/* Per member index: */
	uint64_t *n;   /* picks in this cycle */
	uint64_t *rel; /* release (pick number) of its next pick, when waiting */
	uint32_t *w;   /* weight in this cycle (0: not in it) */
	/* Heaps of member indices. */
	int *ready, nready;
	int *wait, nwait;
	int *side;     /* excluded members popped for one select */
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
	free(s->rel);
	free(s->w);
	free(s->ready);
	free(s->wait);
	free(s->side);
	free(s);
}

static int wrr_grow(struct lbfo_team *t, void *priv, int cap)
{
	struct wrr *s = priv;

#define GROW(f) do {								\
		void *p_ = lbfo_policy_array((f), sizeof(*(f)), s->cap, cap);	\
		if (!p_)							\
			return -1;						\
		(f) = p_;							\
	} while (0)
	(void)t;
	GROW(s->n);
	GROW(s->rel);
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

/* Ready order: a's deadline (n_a + 1) / w_a before b's, then the earlier
 * release n / w, then the lower index. Cross-multiplied: n <= 2 * W <=
 * 2 * 256 * 1000, w <= 1000, far from overflow. */
static bool ready_before(const struct wrr *s, int a, int b)
{
	uint64_t da = (s->n[a] + 1) * s->w[b], db = (s->n[b] + 1) * s->w[a];
	uint64_t ra = s->n[a] * s->w[b], rb = s->n[b] * s->w[a];

	if (da != db)
		return da < db;
	if (ra != rb)
		return ra < rb;
	return a < b;
}

/* Waiting order: the earlier release, then as ready. */
static bool wait_before(const struct wrr *s, int a, int b)
{
	if (s->rel[a] != s->rel[b])
		return s->rel[a] < s->rel[b];
	return ready_before(s, a, b);
}

typedef bool (*before_fn)(const struct wrr *s, int a, int b);

static void heap_push(const struct wrr *s, int *h, int *nh, int m, before_fn before)
{
	int i = (*nh)++;

	while (i > 0) {
		int parent = (i - 1) / 2;

		if (!before(s, m, h[parent]))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = m;
}

static int heap_pop(const struct wrr *s, int *h, int *nh, before_fn before)
{
	int top = h[0], last = h[--*nh], i = 0;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= *nh)
			break;
		if (c + 1 < *nh && before(s, h[c + 1], h[c]))
			c++;
		if (!before(s, h[c], last))
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
	/* Released for pick t when n * W < (t + 1) * w, i.e. from pick
	 * floor(n * W / w) on. */
	s->rel[m] = s->n[m] * s->W / s->w[m];
	if (s->rel[m] <= s->t)
		heap_push(s, s->ready, &s->nready, m, ready_before);
	else
		heap_push(s, s->wait, &s->nwait, m, wait_before);
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

/* The first member of heap h that is not excluded, popped; excluded ones
 * popped on the way go to the side list (*nside). -1 when none. */
static int pop_allowed(struct lbfo_team *t, struct wrr *s, int *h, int *nh,
		       before_fn before, int *nside)
{
	while (*nh > 0) {
		int m = heap_pop(s, h, nh, before);

		if (!excluded(t, m))
			return m;
		s->side[(*nside)++] = m;
	}
	return -1;
}

static int wrr_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		      uint64_t bytes, uint64_t now)
{
	struct wrr *s = priv;
	int pick, nside = 0, i;

	(void)dir, (void)bytes, (void)now;
	/* Members whose next pick is released by now. */
	while (s->nwait > 0 && s->rel[s->wait[0]] <= s->t)
		heap_push(s, s->ready, &s->nready,
			  heap_pop(s, s->wait, &s->nwait, wait_before), ready_before);
	pick = pop_allowed(t, s, s->ready, &s->nready, ready_before, &nside);
	/* Excluded members go back where they were, unchanged (a waiting
	 * one's release has not come: it goes back to waiting). */
	for (i = 0; i < nside; i++)
		heap_push(s, s->ready, &s->nready, s->side[i], ready_before);
	if (pick < 0) {
		/* Every released member is excluded: the one released soonest
		 * of the rest takes this pick early. */
		nside = 0;
		pick = pop_allowed(t, s, s->wait, &s->nwait, wait_before, &nside);
		for (i = 0; i < nside; i++)
			heap_push(s, s->wait, &s->nwait, s->side[i], wait_before);
		if (pick < 0)
			return -1; /* the team said a member is usable: not reached */
	}
	s->n[pick]++;
	s->t++;
	if (s->t < s->W) {
		place(s, pick);
		return pick;
	}
	/* The end of a cycle: every count is its weight (less after early
	 * picks: see the top of the file). The next starts from the rest. */
	for (i = 0; i < t->n && i < s->cap; i++)
		s->n[i] = s->n[i] > s->w[i] ? s->n[i] - s->w[i] : 0;
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
