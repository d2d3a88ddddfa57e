/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The LU's part of the loop contract (lbfo/lu.h). Its targets' sessions
 * are serviced first by whoever runs the loop (answers, logins,
 * liveness: their events reach the LU through target.c); then one service
 * call of the LU does, in order: take new requests, the paths' pending
 * work (unit attentions' side effects, the path checker), the team's
 * timers, the fences, the deadlines, then send what can go.
 *
 * The next timer is the earliest of every part's. The team's tick runs
 * every 100 ms while the LU moves data or a member is in transition, and
 * once a second when it is idle, so an idle LU costs nothing but that.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lu_internal.h"

#define TICK_BUSY_NS (100 * LBFO_NS_PER_MS)
#define TICK_IDLE_NS LBFO_NS_PER_SEC

/* Does the team need its timers soon: data moving, commands waiting, a
 * member between states (failback, probing, draining), shares that move
 * with the traffic? */
static bool busy(const struct lbfo_lu *lu, uint64_t bytes)
{
	int i;

	if (lu->team.outstanding || lu->queue.n || lu->parked.n || bytes != lu->tick_bytes)
		return true;
	for (i = 0; i < lu->team.n; i++)
		if (lu->team.m[i].state == LBFO_MS_PROBING || lu->team.m[i].state == LBFO_MS_DRAINING)
			return true;
	return false;
}

static uint64_t moved(const struct lbfo_lu *lu)
{
	uint64_t b = 0;
	int i;

	for (i = 0; i < lu->team.n; i++)
		b += lu->team.m[i].st.bytes[LBFO_READ] + lu->team.m[i].st.bytes[LBFO_WRITE];
	return b;
}

/* The team's timers (failback, dynamic shares), interface counters, rates. */
static void tick(struct lbfo_lu *lu, uint64_t now)
{
	uint64_t bytes;
	int i;

	if (now < lu->tick_ns + (lu->ticking ? TICK_BUSY_NS : TICK_IDLE_NS))
		return;
	lu->tick_ns = now;
	if (lu->nadapters && now - lu->adapters_read_ns >= TICK_BUSY_NS) {
		uint64_t b;

		lu->adapters_read_ns = now;
		for (i = 0; i < lu->nadapters; i++)
			if (lu_read_if_bytes(lu->adapters[i].name, &b) == 0)
				lbfo_adapter_set_if_bytes(&lu->adapters[i], b);
	}
	lbfo_team_tick(&lu->team, now);
	lu_rates_tick(lu, now);
	bytes = moved(lu);
	lu->ticking = busy(lu, bytes) || lu->nadapters;
	lu->tick_bytes = bytes;
}

void lbfo_lu_service(struct lbfo_lu *lu, uint64_t now)
{
	lu->now = now;
	lu_take_submissions(lu);
	if (lu->dead)
		return;
	lu_paths_service(lu, now);
	if (lu->queue.n || lu->parked.n || lu->team.outstanding)
		lu->ticking = true;
	tick(lu, now);
	lu_fence_tick(lu, now);
	lu_expire(lu, now);
	lu_dispatch(lu, now);
	lu_update_urgency(lu);
}

uint64_t lbfo_lu_next_timer(const struct lbfo_lu *lu)
{
	uint64_t t = lu->tick_ns + (lu->ticking ? TICK_BUSY_NS : TICK_IDLE_NS), x;

	if (lu->dead)
		return UINT64_MAX;
	if ((x = lu_paths_next_timer(lu)) < t)
		t = x;
	if ((x = lu_fence_next_timer(lu)) < t)
		t = x;
	if ((x = lu_dispatch_next_timer(lu)) < t)
		t = x;
	return t;
}

bool lbfo_lu_luns_changed(struct lbfo_lu *lu)
{
	bool c = lu->luns_changed;

	lu->luns_changed = false;
	return c;
}
