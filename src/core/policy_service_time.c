/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-time: the ACTIVE member expected to finish this command first,
 * (outstanding_bytes + bytes) / throughput, as dm-multipath's service-time.
 *
 * throughput=auto (default): each member's throughput is measured like
 * speed-share's (completed bytes / busy time, smoothed every period_ms);
 * until measured, members count as equal, which is least outstanding
 * bytes. throughput=weight: the members' configured weights, as dm's
 * relative_throughput.
 *
 * The default policy: it needs no tuning, moves load off a slow or
 * congested path within one period and keeps every path busy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"

#define MIN_SAMPLE_BYTES (64u << 10)

struct st {
	bool automatic;
	uint64_t period_ns;
	double alpha;
	struct lbfo_period period;
	double *thr; /* per member (cap of them): bytes per ns, 0 = not measured */
	int cap;
};

static int st_grow(struct lbfo_team *t, void *priv, int cap)
{
	struct st *s = priv;
	double *thr = lbfo_policy_array(s->thr, sizeof(*thr), s->cap, cap);

	(void)t;
	if (!thr)
		return -1;
	s->thr = thr;
	s->cap = cap;
	return 0;
}

static void st_destroy(void *priv)
{
	struct st *s = priv;

	if (s)
		free(s->thr);
	free(s);
}

static int st_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		     void **priv, char *err, size_t errlen)
{
	struct st *s;
	uint64_t ms;
	double alpha;
	const char *mode = lbfo_kv_get(kv, nkv, "throughput");
	const char *p = "service-time";

	if (mode && strcmp(mode, "auto") && strcmp(mode, "weight")) {
		snprintf(err, errlen, "%s: invalid value '%s' for 'throughput': "
			 "expected 'auto' or 'weight'", p, mode);
		return -1;
	}
	if (lbfo_param_u64(p, kv, nkv, "period_ms", 200, 10, 3600000, &ms, err, errlen) < 0 ||
	    lbfo_param_double(p, kv, nkv, "smoothing", 0.3, 0.01, 1, &alpha, err, errlen) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s || st_grow(t, s, t->cap) < 0) {
		free(s);
		return -1;
	}
	s->automatic = !mode || !strcmp(mode, "auto");
	s->period_ns = ms * LBFO_NS_PER_MS;
	s->alpha = alpha;
	*priv = s;
	return 0;
}

static double thr_of(const struct lbfo_team *t, const struct st *s, int i,
		     double avg)
{
	if (!s->automatic)
		return t->m[i].weight ? t->m[i].weight : 1;
	return s->thr[i] > 0 ? s->thr[i] : avg;
}

static int st_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		     uint64_t bytes, uint64_t now)
{
	struct st *s = priv;
	double known = 0, avg = 1, best_cost = 0;
	int i, nknown = 0, best = -1;

	(void)dir, (void)now;
	for (i = 0; i < t->n; i++)
		if (s->thr[i] > 0 && lbfo_member_usable(t, i)) {
			known += s->thr[i];
			nknown++;
		}
	if (nknown)
		avg = known / nknown;
	for (i = 0; i < t->n; i++) {
		double cost;

		if (!lbfo_member_usable(t, i))
			continue;
		cost = (double)(t->m[i].outstanding_bytes + bytes) / thr_of(t, s, i, avg);
		if (best < 0 || cost < best_cost ||
		    (cost == best_cost && lbfo_tie_prefer(t, i, best))) {
			best = i;
			best_cost = cost;
		}
	}
	return best;
}

static void st_tick(struct lbfo_team *t, void *priv, uint64_t now)
{
	struct st *s = priv;
	int i;

	if (!s->automatic)
		return;
	if (!lbfo_period_due(t, &s->period, now, s->period_ns))
		return;
	/* A few small commands say more about latency than about
	 * throughput: below MIN_SAMPLE_BYTES an estimate is kept. */
	lbfo_speeds_update(t, s->thr, s->alpha, MIN_SAMPLE_BYTES);
	/* A member rated so low that it gets no commands would never be
	 * measured again: while idle, its estimate drifts half-way to the
	 * average each period until it is tried (and measured) again. */
	{
		double sum = 0;
		int nk = 0;

		for (i = 0; i < t->n; i++)
			if (s->thr[i] > 0 && lbfo_member_usable(t, i)) {
				sum += s->thr[i];
				nk++;
			}
		for (i = 0; i < t->n; i++)
			if (nk && lbfo_member_usable(t, i) && s->thr[i] > 0 &&
			    t->m[i].interval_own_bytes == 0 && s->thr[i] < sum / nk)
				s->thr[i] += (sum / nk - s->thr[i]) / 2;
	}
}

static void st_change(struct lbfo_team *t, void *priv, int m, uint64_t now)
{
	(void)now;
	if (m >= 0 && t->m[m].state != LBFO_MS_ACTIVE)
		((struct st *)priv)->thr[m] = 0;
}

static const struct lbfo_param_desc st_params[] = {
	{ "throughput", "auto", "'auto' (measured per member) or 'weight' (the members' weights)" },
	{ "period_ms", "200", "how often measured throughput is updated (ms, 10..3600000)" },
	{ "smoothing", "0.3", "weight of the newest throughput sample (0.01..1)" },
	{ NULL, NULL, NULL },
};

const struct lbfo_policy_ops lbfo_policy_service_time = {
	.name = "service-time",
	.summary = "shortest expected completion: (bytes in flight + this) / throughput",
	.params = st_params,
	.create = st_create,
	.destroy = st_destroy,
	.grow = st_grow,
	.select = st_select,
	.on_tick = st_tick,
	.on_member_change = st_change,
};
