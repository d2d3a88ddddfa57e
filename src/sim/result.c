/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a run measures: the ideal (the goodput the live paths could carry,
 * integrated over time), each command's latency, the gaps without a
 * completion (around failures in particular), one sample per second, and
 * at the end the figures of struct sim_result.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "sim_internal.h"

void ideal_update(struct sim *s)
{
	int i;

	s->ideal_bytes += (double)(s->now - s->ideal_last) * s->ideal_rate;
	s->ideal_last = s->now;
	s->ideal_rate = 0;
	for (i = 0; i < s->np; i++)
		s->ideal_rate += path_team_rate(&s->p[i]);
}

void record_latency(struct sim *s, uint64_t ns)
{
	if (s->nlat == s->latcap) {
		size_t nc = s->latcap ? s->latcap * 2 : 4096;
		uint64_t *n = realloc(s->lat, nc * sizeof(*n));

		if (!n) {
			s->oom = true;
			return;
		}
		s->lat = n;
		s->latcap = nc;
	}
	s->lat[s->nlat++] = ns;
}

void gap_update(struct sim *s, uint64_t t, bool end)
{
	int i;

	if (s->any_completion) {
		uint64_t gap = t - s->last_completion;

		if (!end && (double)gap > s->r->max_gap_ms)
			s->r->max_gap_ms = (double)gap;
		for (i = 0; i < s->nfw; i++)
			if (s->last_completion < s->fw[i].to && t > s->fw[i].from &&
			    (double)gap > s->fw[i].gap_ns)
				s->fw[i].gap_ns = (double)gap;
	}
	if (!end) {
		s->any_completion = true;
		s->last_completion = t;
	}
}

void second_sample(struct sim *s)
{
	struct sim_second *x;
	double ideal, span;
	int i;

	if (s->r->nsec == s->sec_cap) {
		int nc = s->sec_cap ? s->sec_cap * 2 : 64;
		struct sim_second *n = realloc(s->r->sec, (size_t)nc * sizeof(*n));

		if (!n) {
			s->oom = true;
			return;
		}
		s->r->sec = n;
		s->sec_cap = nc;
	}
	ideal_update(s);
	ideal = s->ideal_bytes - s->sec_ideal_mark;
	s->sec_ideal_mark = s->ideal_bytes;
	span = (double)(s->now - s->sec_last_ns) / NS_PER_S;
	s->sec_last_ns = s->now;
	x = &s->r->sec[s->r->nsec++];
	memset(x, 0, sizeof(*x));
	for (i = 0; i < s->np; i++) {
		x->bytes[i] = s->p[i].sec_bytes;
		x->mbps += (double)s->p[i].sec_bytes / 1e6 / span;
		s->p[i].sec_bytes = 0;
		x->policy_share[i] = s->t->m[i].share[LBFO_READ] / 100.0;
	}
	x->ideal_mbps = ideal / 1e6 / span;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)ceil(q * (double)n) - 1;
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1e6;
}

void result_finish(struct sim *s)
{
	const struct sim_scenario *sc = s->sc;
	struct sim_result *r = s->r;
	int i;
	uint32_t k;

	ideal_update(s);
	gap_update(s, s->end_ns, true);

	r->duration_s = sc->duration_s;
	r->ideal_bytes = s->ideal_bytes;
	r->mbps = (double)r->bytes / 1e6 / sc->duration_s;
	r->ideal_mbps = s->ideal_bytes / 1e6 / sc->duration_s;
	r->fraction = s->ideal_bytes > 0 ? (double)r->bytes / s->ideal_bytes : 0;
	r->max_gap_ms /= 1e6;
	for (i = 0; i < s->nfw; i++)
		if (s->fw[i].gap_ns / 1e6 > r->failover_gap_ms)
			r->failover_gap_ms = s->fw[i].gap_ns / 1e6;
	if (s->nlat) /* qsort(NULL, 0, ...) is undefined behaviour */
		qsort(s->lat, s->nlat, sizeof(*s->lat), cmp_u64);
	r->p50_ms = pct_ms(s->lat, s->nlat, 0.50);
	r->p99_ms = pct_ms(s->lat, s->nlat, 0.99);
	r->max_ms = s->nlat ? (double)s->lat[s->nlat - 1] / 1e6 : 0;
	for (k = 0; k < sc->queue_depth; k++)
		if (s->cmds[k].ph != PH_IDLE)
			r->pending++;
	for (i = 0; i < s->t->n; i++)
		r->core_bytes += s->t->m[i].st.bytes[LBFO_READ] + s->t->m[i].st.bytes[LBFO_WRITE];
}
