/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A path's fluid model (sim.h): background traffic takes its rate first,
 * the team's transfers share the rest one after another (fifo) or all at
 * once (ps); a command waits for a place in the path's window, then pays
 * the round trip around its transfer.
 */
#include <math.h>

#include "sim.h"
#include "sim_internal.h"

double path_team_rate(const struct spath *p)
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
void path_advance(struct sim *s, struct spath *p)
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
void path_resched(struct sim *s, struct spath *p)
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
	ev_push(s, s->now + dt, EV_XFER, (int)(p - s->p), p->xver, NULL);
}

void xfer_add(struct sim *s, struct spath *p, struct scmd *c)
{
	path_advance(s, p);
	c->ph = PH_XFER;
	c->remaining = (double)c->bytes;
	c->xidx = p->nx;
	p->xfer[p->nx++] = c;
	path_resched(s, p);
}

void xfer_remove(struct spath *p, struct scmd *c)
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
void path_begin(struct sim *s, struct spath *p, struct scmd *c)
{
	p->onwire++;
	if (c->dir == LBFO_READ) {
		c->ph = PH_DELAY1;
		ev_push(s, s->now + p->lat_ns, EV_DELAY, 0, c->gen, c);
	} else {
		xfer_add(s, p, c);
	}
}

void on_xfer(struct sim *s, int pi, uint32_t ver)
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
		ev_push(s, s->now + (c->dir == LBFO_READ ? p->lat_ns : 2 * p->lat_ns),
			EV_DELAY, 0, c->gen, c);
	}
	path_resched(s, p);
}
