/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A path's fitness for the LU, asked by every other part: is it ready to
 * carry I/O, is any path, fail it for this LU (an answer said "not here"),
 * and the urgency that keeps the last usable path from being held out.
 */
#include <stdarg.h>
#include <stdio.h>

#include "lu_internal.h"

#define CHECK_MIN_MS 250

bool lu_path_ready(const struct lu_path *p)
{
	return p->st == LP_UP && p->s->st == LBFO_SS_UP && !p->s->failing;
}

bool lu_any_usable(const struct lbfo_lu *lu)
{
	int i;

	for (i = 0; i < lu->team.n; i++)
		if ((lu->team.m[i].state == LBFO_MS_ACTIVE || lu->team.m[i].state == LBFO_MS_PROBING ||
		     lu->team.m[i].state == LBFO_MS_STANDBY) && lu_path_ready(&lu->paths[i]))
			return true;
	return false;
}

/* The last usable path is never held out while I/O waits for one: the
 * LU says it needs its paths; the target makes a session urgent while
 * any LU over it does (target.c). */
void lu_update_urgency(struct lbfo_lu *lu)
{
	lu->urgent = !lu_any_usable(lu) && (lu->queue.n || lu->parked.n);
}

void lu_path_fail_lu(struct lu_path *p, const char *fmt, ...)
{
	struct lbfo_lu *lu = p->lu;
	char why[LBFO_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(p->last_error, sizeof(p->last_error), "%s", why);
	if (p->lu_failed || p->st != LP_UP)
		return;
	/* The session is alive and may carry other LUs: only this LU stops
	 * using the path. What is in flight on it finishes there (answers
	 * that say "not here" are sent elsewhere); then the member fails. */
	p->lu_failed = true;
	p->st = LP_DOWN;
	p->check_at_ns = lu->now + ms_ns(CHECK_MIN_MS);
	if (lbfo_member_usable(&lu->team, p->idx) || lu->team.m[p->idx].state == LBFO_MS_PROBING)
		lbfo_team_member_drain(&lu->team, p->idx, lu->now);
	lu->failovers++;
	lu_log(lu, LBFO_LOG_WARNING, "path %s (%s) failed for this LU: %s (session kept; "
	       "checked again with TEST UNIT READY)", p->cfg.name, p->portal, why);
}

