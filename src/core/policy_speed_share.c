/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * speed-share: seed 004 claims 14-16. Every `period_ms` (tunable, claim
 * 16) each member's data transfer speed is measured as the bytes it
 * completed divided by the time it spent transferring them (time with at
 * least one command in flight; claim 15). Shares follow the speeds
 * (claim 14) and commands are routed on them by FIG 4.
 *
 * Speeds are smoothed (speed = a * sample + (1 - a) * speed). A member
 * that carried nothing in a period keeps its last speed. `min_share` keeps
 * a trickle on every member so that a path that became faster again is
 * measured and can win its share back.
 */
#include <stdlib.h>

#include "lbfo/policy.h"

struct spd {
	uint64_t period_ns;
	double alpha;
	double min_frac;
	struct lbfo_period period;
	double *speed; /* per member (cap of them): bytes per ns, 0 = not measured */
	double *w;     /* scratch for spd_apply, cap of them */
	int cap;
};

static int spd_grow(struct lbfo_team *t, void *priv, int cap)
{
	struct spd *s = priv;
	double *sp = lbfo_policy_array(s->speed, sizeof(*sp), s->cap, cap), *w;

	(void)t;
	if (!sp)
		return -1;
	s->speed = sp;
	w = lbfo_policy_array(s->w, sizeof(*w), s->cap, cap);
	if (!w)
		return -1;
	s->w = w;
	s->cap = cap;
	return 0;
}

static void spd_destroy(void *priv)
{
	struct spd *s = priv;

	if (s) {
		free(s->speed);
		free(s->w);
	}
	free(s);
}

static int spd_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		      void **priv, char *err, size_t errlen)
{
	struct spd *s;
	uint64_t ms;
	double alpha, minsh;
	const char *p = "speed-share";

	if (lbfo_param_u64(p, kv, nkv, "period_ms", 500, 10, 3600000, &ms, err, errlen) < 0 ||
	    lbfo_param_double(p, kv, nkv, "smoothing", 0.5, 0.01, 1, &alpha, err, errlen) < 0 ||
	    lbfo_param_double(p, kv, nkv, "min_share", 2, 0, 50, &minsh, err, errlen) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s || spd_grow(t, s, t->cap) < 0) {
		if (s)
			spd_destroy(s);
		return -1;
	}
	s->period_ns = ms * LBFO_NS_PER_MS;
	s->alpha = alpha;
	s->min_frac = minsh / 100;
	*priv = s;
	return 0;
}

static int spd_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		      uint64_t bytes, uint64_t now)
{
	(void)priv, (void)bytes, (void)now;
	return lbfo_fig4_select(t, dir);
}

static void spd_apply(struct lbfo_team *t, struct spd *s)
{
	double *w = s->w, sum = 0, known = 0;
	int i, nknown = 0, d;

	for (i = 0; i < t->n; i++)
		if (t->m[i].state == LBFO_MS_ACTIVE && s->speed[i] > 0) {
			known += s->speed[i];
			nknown++;
		}
	if (nknown == 0)
		return; /* nothing measured yet: keep the configured shares */
	for (i = 0; i < t->n; i++) {
		/* An unmeasured member is assumed average until measured. */
		w[i] = s->speed[i] > 0 ? s->speed[i] : known / nknown;
		if (t->m[i].state == LBFO_MS_ACTIVE)
			sum += w[i];
	}
	for (i = 0; i < t->n; i++)
		if (w[i] < s->min_frac * sum)
			w[i] = s->min_frac * sum;
	for (d = 0; d < LBFO_DIR__MAX; d++)
		lbfo_team_shares_from_weights(t, (enum lbfo_dir)d, w);
}

static void spd_tick(struct lbfo_team *t, void *priv, uint64_t now)
{
	struct spd *s = priv;

	if (!lbfo_period_due(t, &s->period, now, s->period_ns))
		return;
	lbfo_speeds_update(t, s->speed, s->alpha, 0);
	spd_apply(t, s);
}

static void spd_change(struct lbfo_team *t, void *priv, int m, uint64_t now)
{
	(void)now;
	/* A member coming back is measured afresh; the others keep their
	 * speeds, so the shares stay speed-based across a failover. */
	if (m >= 0 && t->m[m].state != LBFO_MS_ACTIVE)
		((struct spd *)priv)->speed[m] = 0;
	spd_apply(t, priv);
}

static const struct lbfo_param_desc spd_params[] = {
	{ "period_ms", "500", "how often speeds and shares are updated (ms, 10..3600000; claim 16)" },
	{ "smoothing", "0.5", "weight of the newest speed sample (0.01..1)" },
	{ "min_share", "2", "floor share of every active member, percent (0..50)" },
	{ NULL, NULL, NULL },
};

const struct lbfo_policy_ops lbfo_policy_speed_share = {
	.name = "speed-share",
	.summary = "claims 14-16: shares follow each member's measured bytes / busy time",
	.params = spd_params,
	.create = spd_create,
	.destroy = spd_destroy,
	.grow = spd_grow,
	.select = spd_select,
	.on_tick = spd_tick,
	.on_member_change = spd_change,
};
