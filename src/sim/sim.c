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

#define NS_PER_S 1e9

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

/* --- commands ------------------------------------------------------------ */

enum phase {
	PH_IDLE = 0,   /* slot free */
	PH_QUEUED,     /* in the team queue, not started */
	PH_PATHWAIT,   /* started in the core, waiting for the path's window */
	PH_DELAY1,     /* read request travelling to the target */
	PH_XFER,       /* data on the link */
	PH_DELAY2,     /* last byte / status travelling */
};

struct scmd {
	struct lbfo_cmd lc; /* the core's view; first member */
	uint64_t bytes;
	enum lbfo_dir dir;
	uint64_t issue_ns;  /* the client issued it */
	uint64_t queued_ns; /* entered the team queue (last time) */
	uint32_t gen;       /* bumps whenever the command is handed back */
	int path;
	enum phase ph;
	double remaining;   /* bytes still to transfer */
	int xidx;           /* index in its path's xfer array */
	struct scmd *prev, *next; /* team queue or path wait list */
};

struct list {
	struct scmd *head, *tail;
	uint32_t n;
};

static void list_push_back(struct list *l, struct scmd *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

static void list_push_front(struct list *l, struct scmd *c)
{
	c->prev = NULL;
	c->next = l->head;
	if (l->head)
		l->head->prev = c;
	else
		l->tail = c;
	l->head = c;
	l->n++;
}

static void list_remove(struct list *l, struct scmd *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n--;
}

/* --- paths --------------------------------------------------------------- */

struct spath {
	const struct sim_path_cfg *cfg;
	double cap;        /* goodput, bytes per ns */
	double bg;         /* background demand now, bytes per ns */
	uint64_t lat_ns;   /* one way */
	bool alive;
	struct scmd **xfer; /* commands transferring */
	int nx;
	struct list wait;  /* over the queue limit */
	uint32_t onwire;   /* commands past the window (delay or transfer) */
	uint64_t last_ns;  /* fluid state valid up to here */
	uint32_t xver;     /* version of the pending transfer event */
	double wire_bytes; /* team bytes moved on the link */
	double bg_bytes;   /* background bytes moved */
	struct lbfo_adapter ad;
	uint64_t sec_bytes; /* completed this second */
};

/* --- events -------------------------------------------------------------- */

enum ev_type {
	EV_END, EV_TICK, EV_SECOND, EV_FAIL, EV_DETECT, EV_RESTORE, EV_BG,
	EV_DELAY, EV_XFER, EV_NOPATH,
};

struct ev {
	uint64_t t, seq;
	enum ev_type type;
	int a;        /* path index, or on/off for EV_BG in b */
	uint32_t b;   /* version / generation */
	struct scmd *c;
};

struct heap {
	struct ev *v;
	size_t n, cap;
	uint64_t seq;
};

static bool ev_less(const struct ev *x, const struct ev *y)
{
	return x->t != y->t ? x->t < y->t : x->seq < y->seq;
}

static int heap_push(struct heap *h, struct ev e)
{
	size_t i;

	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 256;
		struct ev *nv = realloc(h->v, nc * sizeof(*nv));

		if (!nv)
			return -1;
		h->v = nv;
		h->cap = nc;
	}
	e.seq = h->seq++;
	i = h->n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ev_less(&e, &h->v[p]))
			break;
		h->v[i] = h->v[p];
		i = p;
	}
	h->v[i] = e;
	return 0;
}

static struct ev heap_pop(struct heap *h)
{
	struct ev top = h->v[0], last = h->v[--h->n];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct ev *mv = &last;

		if (l < h->n && ev_less(&h->v[l], mv)) {
			m = l;
			mv = &h->v[l];
		}
		if (r < h->n && ev_less(&h->v[r], mv))
			m = r;
		if (m == i)
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

/* --- the run ------------------------------------------------------------- */

struct fail_win {
	uint64_t from, to; /* [failure, detection + 1 s] */
	double gap_ns;
};

struct sim {
	const struct sim_scenario *sc;
	struct lbfo_team *t;
	struct spath p[LBFO_MAX_MEMBERS];
	int np;
	struct scmd *cmds;
	struct list q; /* the team's queue: waiting for a member */
	struct heap h;
	uint64_t rng;
	uint64_t now, end_ns;
	bool oom;

	/* no path */
	bool nopath;
	uint64_t nopath_since;
	uint32_t nopath_ver;
	uint64_t nopath_timeout_ns;

	/* ideal: integral of the goodput available to the team */
	double ideal_rate; /* bytes per ns */
	uint64_t ideal_last;
	double ideal_bytes, sec_ideal_mark;
	uint64_t sec_last_ns;

	/* gaps */
	bool any_completion;
	uint64_t last_completion;
	struct fail_win fw[LBFO_MAX_MEMBERS];
	int nfw;

	uint64_t *lat;
	size_t nlat, latcap;

	struct sim_result *r;
	int sec_cap;
};

static void push(struct sim *s, uint64_t t, enum ev_type type, int a,
		 uint32_t b, struct scmd *c)
{
	struct ev e = { .t = t, .type = type, .a = a, .b = b, .c = c };

	if (heap_push(&s->h, e) < 0)
		s->oom = true;
}

static double path_team_rate(const struct spath *p)
{
	double avail;

	if (!p->alive)
		return 0;
	avail = p->cap - p->bg;
	return avail > 0 ? avail : 0;
}

static double path_bg_rate(const struct spath *p)
{
	if (!p->alive)
		return 0;
	return p->bg < p->cap ? p->bg : p->cap;
}

/* Bring the fluid state of path p up to now. */
static void path_advance(struct sim *s, struct spath *p)
{
	double dt = (double)(s->now - p->last_ns), rate;
	int i;

	p->last_ns = s->now;
	if (dt <= 0)
		return;
	p->bg_bytes += dt * path_bg_rate(p);
	if (p->nx == 0)
		return;
	rate = path_team_rate(p);
	p->wire_bytes += dt * rate;
	if (p->cfg->fifo) {
		/* One transfer at a time, in order; events stop at its end. */
		p->xfer[0]->remaining -= dt * rate;
		return;
	}
	rate /= p->nx;
	for (i = 0; i < p->nx; i++)
		p->xfer[i]->remaining -= dt * rate;
}

/* Schedule the next transfer completion on p (invalidating the old one). */
static void path_resched(struct sim *s, struct spath *p)
{
	double rate, min = 0;
	uint64_t dt;
	int i;

	p->xver++;
	rate = path_team_rate(p);
	if (p->nx == 0 || rate <= 0)
		return;
	if (!p->cfg->fifo)
		rate /= p->nx;
	for (i = 0; i < (p->cfg->fifo ? 1 : p->nx); i++)
		if (i == 0 || p->xfer[i]->remaining < min)
			min = p->xfer[i]->remaining;
	dt = min > 0 ? (uint64_t)ceil(min / rate) : 0;
	push(s, s->now + dt, EV_XFER, (int)(p - s->p), p->xver, NULL);
}

static void xfer_add(struct sim *s, struct spath *p, struct scmd *c)
{
	path_advance(s, p);
	c->ph = PH_XFER;
	c->remaining = (double)c->bytes;
	c->xidx = p->nx;
	p->xfer[p->nx++] = c;
	path_resched(s, p);
}

static void xfer_remove(struct spath *p, struct scmd *c)
{
	int i;

	/* Keep the order (FIFO service needs it). */
	for (i = c->xidx; i + 1 < p->nx; i++) {
		p->xfer[i] = p->xfer[i + 1];
		p->xfer[i]->xidx = i;
	}
	p->nx--;
	c->xidx = -1;
}

/* The command gets a place in the path's window: it goes on the wire. */
static void path_begin(struct sim *s, struct spath *p, struct scmd *c)
{
	p->onwire++;
	if (c->dir == LBFO_READ) {
		c->ph = PH_DELAY1;
		push(s, s->now + p->lat_ns, EV_DELAY, 0, c->gen, c);
	} else {
		xfer_add(s, p, c);
	}
}

static void ideal_update(struct sim *s)
{
	int i;

	s->ideal_bytes += (double)(s->now - s->ideal_last) * s->ideal_rate;
	s->ideal_last = s->now;
	s->ideal_rate = 0;
	for (i = 0; i < s->np; i++)
		s->ideal_rate += path_team_rate(&s->p[i]);
}

static void record_latency(struct sim *s, uint64_t ns)
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
		push(s, first, EV_NOPATH, 0, s->nopath_ver, NULL);
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

static void gap_update(struct sim *s, uint64_t t, bool end)
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

static void on_xfer(struct sim *s, int pi, uint32_t ver)
{
	struct spath *p = &s->p[pi];
	int i;

	if (ver != p->xver || !p->alive)
		return;
	path_advance(s, p);
	for (i = 0; i < p->nx;) {
		struct scmd *c = p->xfer[i];

		/* Sub-byte remainders are rounding of the fluid model. */
		if (c->remaining > 0.5) {
			i++;
			continue;
		}
		xfer_remove(p, c);
		c->ph = PH_DELAY2;
		push(s, s->now + (c->dir == LBFO_READ ? p->lat_ns : 2 * p->lat_ns),
		     EV_DELAY, 0, c->gen, c);
	}
	path_resched(s, p);
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

static void second_sample(struct sim *s)
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

static uint64_t s2ns(double sec)
{
	return (uint64_t)llround(sec * NS_PER_S);
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
	for (k = 0; k < sc->npaths; k++) {
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

		if (pc->fail_at_s >= 0 && s2ns(pc->fail_at_s) < s->end_ns) {
			uint64_t f = s2ns(pc->fail_at_s);
			uint64_t d = f + (uint64_t)llround(pc->detect_ms * 1e6);

			push(s, f, EV_FAIL, k, 0, NULL);
			push(s, d, EV_DETECT, k, 0, NULL);
			s->fw[s->nfw].from = f;
			s->fw[s->nfw].to = d + LBFO_NS_PER_SEC;
			s->nfw++;
			if (pc->restore_at_s >= 0)
				push(s, s2ns(pc->restore_at_s), EV_RESTORE, k, 0, NULL);
		}
		if (pc->bg_mbit > 0) {
			push(s, s2ns(pc->bg_start_s), EV_BG, k, 1, NULL);
			if (pc->bg_stop_s >= 0)
				push(s, s2ns(pc->bg_stop_s), EV_BG, k, 0, NULL);
		}
	}
	s->r->npaths = s->np;
	s->rng = sc->seed;
	s->nopath_timeout_ns = s2ns(sc->no_path_timeout_s);
	ideal_update(s);
	push(s, 0, EV_TICK, 0, 0, NULL);
	push(s, LBFO_NS_PER_SEC, EV_SECOND, 0, 0, NULL);
	push(s, s->end_ns, EV_END, 0, 0, NULL);
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
			push(s, s->now + SIM_TICK_NS, EV_TICK, 0, 0, NULL);
			break;
		case EV_SECOND:
			second_sample(s);
			push(s, s->now + LBFO_NS_PER_SEC, EV_SECOND, 0, 0, NULL);
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
	uint32_t k;

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
	qsort(s->lat, s->nlat, sizeof(*s->lat), cmp_u64);
	r->p50_ms = pct_ms(s->lat, s->nlat, 0.50);
	r->p99_ms = pct_ms(s->lat, s->nlat, 0.99);
	r->max_ms = s->nlat ? (double)s->lat[s->nlat - 1] / 1e6 : 0;
	for (k = 0; k < sc->queue_depth; k++)
		if (s->cmds[k].ph != PH_IDLE)
			r->pending++;
	for (i = 0; i < s->t->n; i++)
		r->core_bytes += s->t->m[i].st.bytes[LBFO_READ] + s->t->m[i].st.bytes[LBFO_WRITE];
	rc = 0;
out:
	if (s->t) {
		lbfo_team_destroy(s->t);
		free(s->t);
	}
	for (i = 0; i < LBFO_MAX_MEMBERS; i++)
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
