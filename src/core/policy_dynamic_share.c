/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dynamic-share: 001 FIG 5 / [0035], on top of static-share (FIG 4).
 *
 * Every TimerInterval (interval_ms) the shares are recomputed:
 *   1. for each member: ActualLBshare = DataPathBytes / TotalTeamBytes * 100
 *                       DifferenceLB  = ActualLBshare - LoadBalancingShare
 *   2. for each member, in order:
 *        if (LoadBalancingShare < ActualLBshare &&
 *            DifferenceLB > ChangeThreshold)
 *          reduce its share by LBChange (percentage points), and increase
 *          the share of the member with the lowest DifferenceLB (negative
 *          values included; ties: the highest ActualLBshare) by as much.
 *   3. between timer fires, commands are routed by FIG 4 on these shares.
 *
 * Where 001's prose ([0033]: "less than a change threshold") and the
 * pseudocode ([0035]: DifferenceLB > ChangeThreshold) disagree we follow
 * the pseudocode: a share is cut only when the member carries *more* than
 * its share by over the threshold. The DifferenceLB values of step 1 are
 * used throughout step 2, as in the pseudocode.
 *
 * DataPathBytes is what left through the member's adapter in the interval
 * (all lbfo teams on it, or the interface's own counters when fed, so
 * foreign traffic counts), else the member's own bytes. Read and write
 * shares are separate ([0025]), so it is taken per direction: the
 * member's own bytes in that direction plus the adapter's foreign bytes
 * in the proportion that direction has of the team's bytes (see
 * dyn_tick()). With no other
 * traffic, FIG 4 makes ActualLBshare equal the share, so this policy keeps
 * its shares: it corrects congestion from *other* traffic, not unequal
 * link speeds (speed-share and service-time do that).
 *
 * The seed never moves a share back once the congestion is gone (no
 * member then exceeds its share). `relax` (percentage points per
 * interval, applied only in an interval where no share was cut) drifts
 * the shares back towards the configured ones; relax=0 is the seed's
 * behaviour exactly. `min_share` keeps a floor (0 = none, as the seed).
 */
#include <stdlib.h>

#include "lbfo/policy.h"

struct dyn {
	uint64_t interval_ns;
	double threshold_bp; /* ChangeThreshold, basis points */
	uint32_t change_bp;  /* LBChange, basis points */
	uint32_t relax_bp;
	uint32_t min_bp;
	uint64_t min_bytes; /* an interval with less traffic tells nothing */
	struct lbfo_period period;
	uint64_t rounds, cuts;
	/* Per member, cap of each (dyn_grow): */
	uint32_t *base[LBFO_DIR__MAX];     /* configured, renormalised */
	uint64_t *own_mark[LBFO_DIR__MAX]; /* st.bytes at last fire */
	/* dyn_tick's and relax()'s scratch, here rather than on the stack: */
	uint64_t *own[LBFO_DIR__MAX];
	double *path[LBFO_DIR__MAX], *foreign, *actual, *diff, *w;
	int cap;
};

static int dyn_grow(struct lbfo_team *t, void *priv, int cap)
{
	struct dyn *s = priv;
	int d;

#define GROW(f) LBFO_POLICY_GROW(f, s->cap, cap)
	(void)t;
	for (d = 0; d < LBFO_DIR__MAX; d++) {
		GROW(s->base[d]);
		GROW(s->own_mark[d]);
		GROW(s->own[d]);
		GROW(s->path[d]);
	}
	GROW(s->foreign);
	GROW(s->actual);
	GROW(s->diff);
	GROW(s->w);
#undef GROW
	s->cap = cap;
	return 0;
}

static void dyn_destroy(void *priv)
{
	struct dyn *s = priv;
	int d;

	if (!s)
		return;
	for (d = 0; d < LBFO_DIR__MAX; d++) {
		free(s->base[d]);
		free(s->own_mark[d]);
		free(s->own[d]);
		free(s->path[d]);
	}
	free(s->foreign);
	free(s->actual);
	free(s->diff);
	free(s->w);
	free(s);
}

static int dyn_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		      void **priv, char *err, size_t errlen)
{
	struct dyn *s;
	uint64_t ms;
	double thr, chg, relax, minsh;
	uint64_t minb;
	const char *p = "dynamic-share";

	if (lbfo_param_u64(p, kv, nkv, "interval_ms", 1000, 10, 3600000, &ms, err, errlen) < 0 ||
	    lbfo_param_double(p, kv, nkv, "change_threshold", 5, 0, 100, &thr, err, errlen) < 0 ||
	    lbfo_param_double(p, kv, nkv, "lb_change", 5, 0.01, 100, &chg, err, errlen) < 0 ||
	    lbfo_param_double(p, kv, nkv, "relax", 1, 0, 100, &relax, err, errlen) < 0 ||
	    lbfo_param_double(p, kv, nkv, "min_share", 0, 0, 50, &minsh, err, errlen) < 0 ||
	    lbfo_param_u64(p, kv, nkv, "min_bytes", 65536, 0, 1ull << 40, &minb, err, errlen) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	if (dyn_grow(t, s, t->cap) < 0) {
		dyn_destroy(s);
		return -1;
	}
	s->interval_ns = ms * LBFO_NS_PER_MS;
	s->threshold_bp = thr * 100;
	s->change_bp = (uint32_t)(chg * 100 + 0.5);
	s->relax_bp = (uint32_t)(relax * 100 + 0.5);
	s->min_bp = (uint32_t)(minsh * 100 + 0.5);
	s->min_bytes = minb;
	*priv = s;
	return 0;
}

static int dyn_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		      uint64_t bytes, uint64_t now)
{
	(void)priv, (void)bytes, (void)now;
	return lbfo_fig4_select(t, dir);
}

static void dyn_change(struct lbfo_team *t, void *priv, int m, uint64_t now)
{
	struct dyn *s = priv;
	int d, i;

	(void)m, (void)now;
	/* The team has just renormalised the configured shares: remember
	 * them as where `relax` returns to. */
	for (d = 0; d < LBFO_DIR__MAX; d++)
		for (i = 0; i < t->n; i++)
			s->base[d][i] = t->m[i].share[d];
}

/* Step 2 of [0035] for one direction. Returns the number of cuts. */
static int adjust(struct lbfo_team *t, struct dyn *s, enum lbfo_dir d,
		  const double *actual, const double *diff)
{
	int i, j, cuts = 0;

	for (i = 0; i < t->n; i++) {
		struct lbfo_member *m = &t->m[i];
		uint32_t dec;
		int low = -1;

		if (m->state != LBFO_MS_ACTIVE)
			continue;
		if (!(m->share[d] < actual[i] && diff[i] > s->threshold_bp))
			continue;
		if (m->share[d] <= s->min_bp)
			continue;
		dec = s->change_bp;
		if (dec > m->share[d] - s->min_bp)
			dec = m->share[d] - s->min_bp;
		for (j = 0; j < t->n; j++) {
			if (j == i || t->m[j].state != LBFO_MS_ACTIVE)
				continue;
			if (low < 0 || diff[j] < diff[low] ||
			    (diff[j] == diff[low] && actual[j] > actual[low]))
				low = j;
		}
		if (low < 0)
			continue;
		m->share[d] -= dec;
		t->m[low].share[d] += dec;
		cuts++;
	}
	return cuts;
}

static void relax(struct lbfo_team *t, struct dyn *s, enum lbfo_dir d)
{
	double *w = s->w;
	bool moved = false;
	int i;

	for (i = 0; i < t->n; i++) {
		int64_t cur = t->m[i].share[d], base = s->base[d][i];
		int64_t step = base - cur;

		if (step > (int64_t)s->relax_bp)
			step = s->relax_bp;
		if (step < -(int64_t)s->relax_bp)
			step = -(int64_t)s->relax_bp;
		moved |= step != 0;
		w[i] = (double)(cur + step);
	}
	if (moved)
		lbfo_team_shares_from_weights(t, d, w);
}

/* This interval's completed bytes of member i in direction d. */
static uint64_t own_dir_bytes(const struct lbfo_team *t, struct dyn *s, int d, int i)
{
	uint64_t b = t->m[i].st.bytes[d], x = b - s->own_mark[d][i];

	s->own_mark[d][i] = b;
	return x;
}

static void dyn_tick(struct lbfo_team *t, void *priv, uint64_t now)
{
	struct dyn *s = priv;
	double *actual = s->actual, *diff = s->diff, *foreign = s->foreign;
	double *const *path = s->path;
	uint64_t *const *own = s->own;
	double own_dir[LBFO_DIR__MAX] = { 0, 0 }, own_all, total;
	int d, i, cuts = 0;

	if (!s->period.started) {
		/* The first call starts the first interval: mark the
		 * per-direction byte counts too. */
		lbfo_period_due(t, &s->period, now, s->interval_ns);
		for (d = 0; d < LBFO_DIR__MAX; d++)
			for (i = 0; i < t->n; i++)
				(void)own_dir_bytes(t, s, d, i);
		return;
	}
	if (!lbfo_period_due(t, &s->period, now, s->interval_ns))
		return;
	s->rounds++;

	/*
	 * DataPathBytes per direction. Shares are kept separately for reads
	 * and writes ([0025]) but an adapter counts bytes of both, and of
	 * other traffic: a member's DataPathBytes in direction d is its own
	 * bytes in d plus the foreign bytes on its adapter (adapter bytes
	 * beyond its own) in the proportion d has of the team's bytes. With
	 * no foreign traffic each direction's ActualLBshare is then its own
	 * split, which FIG 4 keeps at the shares: no cut. With no traffic of
	 * the team at all, the foreign bytes count in both directions.
	 */
	for (d = 0; d < LBFO_DIR__MAX; d++)
		for (i = 0; i < t->n; i++) {
			own[d][i] = own_dir_bytes(t, s, d, i);
			if (t->m[i].state == LBFO_MS_ACTIVE)
				own_dir[d] += (double)own[d][i];
		}
	own_all = own_dir[LBFO_READ] + own_dir[LBFO_WRITE];
	for (i = 0; i < t->n; i++) {
		const struct lbfo_member *m = &t->m[i];

		foreign[i] = m->interval_bytes > m->interval_own_bytes ?
			(double)(m->interval_bytes - m->interval_own_bytes) : 0;
		for (d = 0; d < LBFO_DIR__MAX; d++)
			path[d][i] = (double)own[d][i] +
				(own_all > 0 ? foreign[i] * own_dir[d] / own_all : foreign[i]);
	}

	for (d = 0; d < LBFO_DIR__MAX; d++) {
		/* Step 1. */
		total = 0;
		for (i = 0; i < t->n; i++)
			if (t->m[i].state == LBFO_MS_ACTIVE)
				total += path[d][i];
		/* Too little traffic in this direction (keepalives, say): its
		 * split is noise, not congestion. Shares stay as they are. */
		if (total <= 0 || total < (double)s->min_bytes)
			continue;
		for (i = 0; i < t->n; i++) {
			actual[i] = t->m[i].state == LBFO_MS_ACTIVE ?
				path[d][i] * LBFO_SHARE_FULL / total : 0;
			diff[i] = actual[i] - t->m[i].share[d];
		}
		/* Step 2. */
		if (adjust(t, s, (enum lbfo_dir)d, actual, diff) > 0)
			cuts++;
		else if (s->relax_bp)
			relax(t, s, (enum lbfo_dir)d);
	}
	s->cuts += (uint64_t)cuts;
	/* Step 3: FIG 4 routes on the new shares from a fresh epoch. */
	lbfo_team_shares_changed(t);
}

static const struct lbfo_param_desc dyn_params[] = {
	{ "interval_ms", "1000", "TimerInterval: how often shares are recomputed (ms, 10..3600000)" },
	{ "change_threshold", "5", "ChangeThreshold: percentage points a member may exceed its share (0..100)" },
	{ "lb_change", "5", "LBChange%: percentage points moved per cut (0.01..100)" },
	{ "relax", "1", "percentage points per quiet interval back to the configured shares (0 = seed exact)" },
	{ "min_share", "0", "floor for a cut share, percent (0..50)" },
	{ "min_bytes", "65536", "an interval in which a direction's DataPathBytes add up to less changes nothing (bytes)" },
	{ NULL, NULL, NULL },
};

const struct lbfo_policy_ops lbfo_policy_dynamic_share = {
	.name = "dynamic-share",
	.summary = "FIG 5: cut the share of a member whose adapter carries more than its share",
	.params = dyn_params,
	.create = dyn_create,
	.destroy = dyn_destroy,
	.grow = dyn_grow,
	.select = dyn_select,
	.on_tick = dyn_tick,
	.on_member_change = dyn_change,
};
