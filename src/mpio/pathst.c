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

/* Commands one session takes at most, over all the LUs it carries. More
 * would only queue in the connection (and in front of every other LU's
 * next command); they wait in their LUs and go turn by turn. */
#define SESSION_WINDOW 128
/* What an LU may always have on a busy session. */
#define SESSION_MIN_SHARE 4

bool lu_path_ready(const struct lu_path *p)
{
	return p->st == LP_UP && p->s->st == LBFO_SS_UP && !p->s->failing;
}

/*
 * May the LU send one more command over this path's session? Not when
 * the session has its window full; and while other LUs over it have
 * commands waiting or in flight, not beyond an equal share of the
 * window (a busy LU cannot fill the session in front of the others).
 */
bool lu_path_may_send(const struct lu_path *p)
{
	const struct tgt_path *tp = p->tp;
	unsigned mine = p->lu->team.m[p->idx].outstanding, active = 0, share;
	int i;

	if (p->s->inflight >= SESSION_WINDOW)
		return false;
	if (mine < SESSION_MIN_SHARE)
		return true;
	for (i = 0; i < tp->nusers; i++) {
		const struct lu_path *u = tp->users[i];

		/* Requests submitted and not yet taken count too (a hint read
		 * without the submission lock: a pointer, checked again at the
		 * next command). */
		active += u == p || u->lu->queue.n || u->lu->team.m[u->idx].outstanding ||
			  __atomic_load_n(&u->lu->sub_head, __ATOMIC_RELAXED);
	}
	if (active <= 1)
		return true;
	share = SESSION_WINDOW / active;
	return mine < (share > SESSION_MIN_SHARE ? share : SESSION_MIN_SHARE);
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

