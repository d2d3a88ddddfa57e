/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The discrete-event engine of lbfo-sim. See sim.h for the model. One run
 * drives one lbfo_team through lbfo_team_select / _start / _complete,
 * _member_failed / _member_restored and _tick, exactly as a daemon would,
 * with simulated time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"
#include "sim.h"
#include "sim_internal.h"

/* --- PRNG: splitmix64 (deterministic, seeded) ---------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) /* [0, 1) */
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* --- commands: the closed loop, the team queue, completion -------------- */

static void issue(struct sim *s, struct scmd *c)
{
	uint64_t size = s->sc->request_size;

	if (s->sc->request_size_max > s->sc->request_size) {
		uint64_t steps = (s->sc->request_size_max - s->sc->request_size) / 4096;

		size += 4096 * (rng_next(&s->rng) % (steps + 1));
	}
	memset(&c->lc, 0, sizeof(c->lc));
	c->lc.member = -1;
	c->bytes = size;
	c->dir = rng_unit(&s->rng) * 100 < s->sc->read_pct ? LBFO_READ : LBFO_WRITE;
	c->issue_ns = c->queued_ns = s->now;
	c->path = -1;
	c->ph = PH_QUEUED;
	c->gen++;
	list_push_back(&s->q, c);
	s->r->issued++;
}

/* A slot is free again: the closed loop issues the next command. */
static void slot_free(struct sim *s, struct scmd *c)
{
	c->ph = PH_IDLE;
	if (s->now < s->end_ns)
		issue(s, c);
}

static bool have_path(const struct lbfo_team *t)
{
	return lbfo_team_count(t, LBFO_MS_ACTIVE) + lbfo_team_count(t, LBFO_MS_PROBING) > 0;
}

/* Fail commands that waited with no path for no_path_timeout; schedule
 * the next deadline. */
static void nopath_check(struct sim *s)
{
	struct scmd *c, *next;
	uint64_t first = UINT64_MAX;

	if (!s->nopath)
		return;
	for (c = s->q.head; c; c = next) {
		uint64_t from = c->queued_ns > s->nopath_since ? c->queued_ns : s->nopath_since;
		uint64_t dl = from + s->nopath_timeout_ns;

		next = c->next;
		if (dl <= s->now) {
			list_remove(&s->q, c);
			s->r->errors++;
			slot_free(s, c);
			/* a new command joined the tail: its deadline is later */
		} else if (dl < first) {
			first = dl;
		}
	}
	s->nopath_ver++;
	if (first != UINT64_MAX)
		ev_push(s, first, EV_NOPATH, 0, s->nopath_ver, NULL);
}

static void enter_nopath(struct sim *s)
{
	if (!s->nopath) {
		s->nopath = true;
		s->nopath_since = s->now;
	}
	nopath_check(s);
}

static void dispatch(struct sim *s)
{
	if (!have_path(s->t)) {
		enter_nopath(s);
		return;
	}
	s->nopath = false;
	while (s->q.head) {
		struct scmd *c = s->q.head;
		struct spath *p;
		int m = lbfo_team_select(s->t, c->dir, c->bytes, s->now);

		if (m == LBFO_SELECT_LU_FULL)
			break; /* wait for a completion */
		if (m == LBFO_SELECT_NO_PATH) {
			/* A policy can refuse although a member is active
			 * (e.g. every active share is 0 for this direction):
			 * the same no-path rules apply. */
			enter_nopath(s);
			break;
		}
		if (m < 0 || m >= s->np) {
			s->oom = true; /* a policy returned garbage: stop */
			break;
		}
		list_remove(&s->q, c);
		lbfo_team_start(s->t, &c->lc, m, c->dir, c->bytes, s->now);
		c->path = m;
		p = &s->p[m];
		if (p->cfg->queue_limit && p->onwire >= p->cfg->queue_limit) {
			c->ph = PH_PATHWAIT;
			list_push_back(&p->wait, c);
		} else {
			path_begin(s, p, c);
		}
	}
}

static void complete(struct sim *s, struct scmd *c)
{
	struct spath *p = &s->p[c->path];
	int m = c->path;

	p->onwire--;
	if (lbfo_team_complete(s->t, &c->lc, s->now) < 0) {
		s->r->bad_completions++;
	} else {
		s->r->completed++;
		s->r->bytes += c->bytes;
		s->r->bytes_requested += c->bytes;
		s->r->path_bytes[m] += c->bytes;
		p->sec_bytes += c->bytes;
		record_latency(s, s->now - c->issue_ns);
		gap_update(s, s->now, false);
	}
	c->path = -1;
	if (p->wait.head && (!p->cfg->queue_limit || p->onwire < p->cfg->queue_limit)) {
		struct scmd *w = p->wait.head;

		list_remove(&p->wait, w);
		path_begin(s, p, w);
	}
	slot_free(s, c);
}

static void on_delay(struct sim *s, struct scmd *c, uint32_t gen)
{
	struct spath *p;

	if (c->gen != gen || c->path < 0)
		return; /* handed back since: stale */
	p = &s->p[c->path];
	if (!p->alive)
		return; /* stuck on a dead path until detection */
	if (c->ph == PH_DELAY1)
		xfer_add(s, p, c);
	else if (c->ph == PH_DELAY2)
		complete(s, c);
}

static void on_detect(struct sim *s, int pi)
{
	struct spath *p = &s->p[pi];
	struct lbfo_cmd *retry = NULL, *lc;
	struct scmd *back[4096], *c;
	int n, k = 0, i;

	path_advance(s, p);
	n = lbfo_team_member_failed(s->t, pi, -1, s->now, &retry);
	s->r->retried += (uint64_t)n;
	for (lc = retry; lc; lc = lc->retry_next) {
		c = (struct scmd *)(void *)lc; /* lc is the first member */
		if (c->ph == PH_PATHWAIT)
			list_remove(&p->wait, c);
		else if (c->ph == PH_XFER)
			xfer_remove(p, c);
		if (c->ph != PH_PATHWAIT && p->onwire > 0)
			p->onwire--;
		c->gen++;
		c->path = -1;
		c->ph = PH_QUEUED;
		c->queued_ns = s->now;
		if (k < (int)(sizeof(back) / sizeof(back[0])))
			back[k++] = c;
		else
			s->oom = true;
	}
	/* Oldest first at the very front of the queue. */
	for (i = k - 1; i >= 0; i--)
		list_push_front(&s->q, back[i]);
	/* Everything on the path was in the core's in-flight list. */
	if (p->nx || p->wait.n || p->onwire)
		s->r->bad_completions++;
	path_resched(s, p);
	dispatch(s);
}

static void tick(struct sim *s)
{
	int i;

	if (s->sc->adapter_counters)
		for (i = 0; i < s->np; i++) {
			path_advance(s, &s->p[i]);
			lbfo_adapter_set_if_bytes(&s->p[i].ad,
				(uint64_t)(s->p[i].wire_bytes + s->p[i].bg_bytes));
		}
	lbfo_team_tick(s->t, s->now);
	dispatch(s);
}

static uint64_t s2ns(double sec)
{
	return (uint64_t)llround(sec * NS_PER_S);
}

/* The path's scheduled events: its failure, the failure's detection and
 * its restore, background traffic on and off. */
static void schedule_path(struct sim *s, int k)
{
	const struct sim_path_cfg *pc = &s->sc->path[k];

	if (pc->fail_at_s >= 0 && s2ns(pc->fail_at_s) < s->end_ns) {
		uint64_t f = s2ns(pc->fail_at_s);
		uint64_t d = f + (uint64_t)llround(pc->detect_ms * 1e6);

		ev_push(s, f, EV_FAIL, k, 0, NULL);
		ev_push(s, d, EV_DETECT, k, 0, NULL);
		s->fw[s->nfw].from = f;
		s->fw[s->nfw].to = d + LBFO_NS_PER_SEC;
		s->nfw++;
		if (pc->restore_at_s >= 0)
			ev_push(s, s2ns(pc->restore_at_s), EV_RESTORE, k, 0, NULL);
	}
	if (pc->bg_mbit > 0) {
		ev_push(s, s2ns(pc->bg_start_s), EV_BG, k, 1, NULL);
		if (pc->bg_stop_s >= 0)
			ev_push(s, s2ns(pc->bg_stop_s), EV_BG, k, 0, NULL);
	}
}

/* Path k: member k of the team (shares, weight, adapter) and its model. */
static int setup_path(struct sim *s, int k, char *err, size_t errlen)
{
	const struct sim_scenario *sc = s->sc;
	const struct sim_path_cfg *pc = &sc->path[k];
	struct spath *p = &s->p[k];
	uint32_t rs = pc->read_share >= 0 ? (uint32_t)lround(pc->read_share * 100) : 0;
	uint32_t ws = pc->write_share >= 0 ? (uint32_t)lround(pc->write_share * 100) : 0;
	int m = lbfo_team_add_member(s->t, pc->name, rs, ws, 0);

	if (m != k) {
		snprintf(err, errlen, "path '%s': %s", pc->name, lbfo_team_error(s->t));
		return -1;
	}
	if (lbfo_team_set_weight(s->t, m, pc->weight, 0) < 0) {
		snprintf(err, errlen, "path '%s': %s", pc->name, lbfo_team_error(s->t));
		return -1;
	}
	p->cfg = pc;
	p->cap = pc->bandwidth_mbit * 1e6 / 8 * SIM_GOODPUT / NS_PER_S;
	p->lat_ns = (uint64_t)llround(pc->latency_ms * 1e6);
	p->alive = true;
	p->xfer = calloc(sc->queue_depth, sizeof(*p->xfer));
	if (!p->xfer) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sc->adapter_counters) {
		lbfo_adapter_init(&p->ad, pc->name);
		lbfo_adapter_set_if_bytes(&p->ad, 0);
		lbfo_member_set_adapter(s->t, m, &p->ad);
	}
	snprintf(s->r->path_name[k], LBFO_NAME_MAX, "%s", pc->name);
	schedule_path(s, k);
	return 0;
}

static int setup(struct sim *s, const char *policy, const struct lbfo_kv *kv,
		 size_t nkv, char *err, size_t errlen)
{
	const struct sim_scenario *sc = s->sc;
	struct lbfo_team_config cfg = {
		.max_outstanding = sc->max_outstanding,
		.failback = sc->failback,
		.failback_stable_ns = sc->failback_stable_ns,
	};
	uint32_t i;
	int k;

	s->t = calloc(1, sizeof(*s->t));
	s->cmds = calloc(sc->queue_depth, sizeof(*s->cmds));
	if (!s->t || !s->cmds) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (lbfo_team_init(s->t, "sim", &cfg, policy, kv, nkv) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(s->t));
		return -1;
	}
	s->np = sc->npaths;
	for (k = 0; k < sc->npaths; k++)
		if (setup_path(s, k, err, errlen) < 0)
			return -1;
	s->r->npaths = s->np;
	s->rng = sc->seed;
	s->nopath_timeout_ns = s2ns(sc->no_path_timeout_s);
	ideal_update(s);
	ev_push(s, 0, EV_TICK, 0, 0, NULL);
	ev_push(s, LBFO_NS_PER_SEC, EV_SECOND, 0, 0, NULL);
	ev_push(s, s->end_ns, EV_END, 0, 0, NULL);
	for (i = 0; i < sc->queue_depth; i++) {
		s->cmds[i].xidx = -1;
		s->cmds[i].path = -1;
		issue(s, &s->cmds[i]);
	}
	return 0;
}

static void run_loop(struct sim *s)
{
	while (s->h.n && !s->oom) {
		struct ev e = heap_pop(&s->h);
		struct spath *p = &s->p[e.a];

		s->now = e.t;
		s->r->events++;
		switch (e.type) {
		case EV_END:
			return;
		case EV_TICK:
			tick(s);
			ev_push(s, s->now + SIM_TICK_NS, EV_TICK, 0, 0, NULL);
			break;
		case EV_SECOND:
			second_sample(s);
			ev_push(s, s->now + LBFO_NS_PER_SEC, EV_SECOND, 0, 0, NULL);
			break;
		case EV_FAIL:
			path_advance(s, p);
			p->alive = false;
			path_resched(s, p);
			ideal_update(s);
			break;
		case EV_DETECT:
			on_detect(s, e.a);
			break;
		case EV_RESTORE:
			path_advance(s, p);
			p->alive = true;
			ideal_update(s);
			lbfo_team_member_restored(s->t, e.a, -1, s->now);
			dispatch(s);
			break;
		case EV_BG:
			path_advance(s, p);
			p->bg = e.b ? p->cfg->bg_mbit * 1e6 / 8 / NS_PER_S : 0;
			path_resched(s, p);
			ideal_update(s);
			break;
		case EV_DELAY:
			on_delay(s, e.c, e.b);
			dispatch(s);
			break;
		case EV_XFER:
			on_xfer(s, e.a, e.b);
			break;
		case EV_NOPATH:
			if (e.b == s->nopath_ver) {
				nopath_check(s);
				dispatch(s);
			}
			break;
		}
	}
}

int sim_run(const struct sim_scenario *sc, const char *policy,
	    const struct lbfo_kv *kv, size_t nkv, struct sim_result *r,
	    char *err, size_t errlen)
{
	struct sim *s = calloc(1, sizeof(*s));
	int i, rc = -1;

	memset(r, 0, sizeof(*r));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(r->policy, sizeof(r->policy), "%s", policy ? policy : LBFO_DEFAULT_POLICY);
	s->sc = sc;
	s->r = r;
	s->end_ns = s2ns(sc->duration_s);
	if (setup(s, policy, kv, nkv, err, errlen) < 0)
		goto out;
	run_loop(s);
	if (!s->oom && s->now > s->sec_last_ns) {
		s->now = s->end_ns;
		second_sample(s); /* the last (possibly partial) second */
	}
	if (s->oom) {
		snprintf(err, errlen, "simulation aborted (out of memory or invalid member from the policy)");
		goto out;
	}
	s->now = s->end_ns;
	result_finish(s);
	rc = 0;
out:
	if (s->t) {
		lbfo_team_destroy(s->t);
		free(s->t);
	}
	for (i = 0; i < LBFO_MAX_PATHS; i++)
		free(s->p[i].xfer);
	free(s->cmds);
	free(s->h.v);
	free(s->lat);
	free(s);
	if (rc < 0)
		sim_result_free(r);
	return rc;
}

void sim_result_free(struct sim_result *r)
{
	free(r->sec);
	r->sec = NULL;
	r->nsec = 0;
}
