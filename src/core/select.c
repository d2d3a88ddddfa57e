/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Choosing a member for a command: failover mode's current member, else
 * the policy among the ACTIVE members, else a member back but not yet
 * failed back. On the per-command path: no allocation, one pass.
 */
#include "lbfo/core.h"
#include "lbfo/policy.h"
#include "team_internal.h"

int lbfo_team_select_excluding(struct lbfo_team *t, enum lbfo_dir dir, uint64_t bytes,
			       uint64_t now, uint32_t exclude)
{
	int i, pick;

	t->exclude = exclude;
	pick = lbfo_team_select(t, dir, bytes, now);
	if (pick == LBFO_SELECT_NO_PATH || (pick >= 0 && (exclude & (1u << pick)))) {
		/* Only excluded members had a share, or failover mode's
		 * current member is excluded and the rest stand by: the
		 * next healthy member, active ones first, then by order. */
		pick = LBFO_SELECT_NO_PATH;
		for (i = 0; i < t->n; i++) {
			const struct lbfo_member *m = &t->m[i];

			if (!healthy(m) || (exclude & (1u << i)))
				continue;
			if (pick < 0 ||
			    (m->state == LBFO_MS_ACTIVE) > (t->m[pick].state == LBFO_MS_ACTIVE) ||
			    ((m->state == LBFO_MS_ACTIVE) == (t->m[pick].state == LBFO_MS_ACTIVE) &&
			     m->order < t->m[pick].order))
				pick = i;
		}
	}
	t->exclude = 0;
	return pick;
}

int lbfo_team_select(struct lbfo_team *t, enum lbfo_dir dir, uint64_t bytes,
		     uint64_t now)
{
	int i, pick = -1, nactive = 0, nhealthy = 0;
	bool cur_ok, failover;

	if (t->cfg.max_outstanding && t->outstanding >= t->cfg.max_outstanding)
		return LBFO_SELECT_LU_FULL;
	t->select_calls++;
	failover = t->ops->failover_only;
	cur_ok = failover && lbfo_member_usable(t, t->current);
	if (!cur_ok) {
		/* One pass for what lbfo_team_mode() and lbfo_team_count()
		 * would each walk the members for: the per-command path. */
		for (i = 0; i < t->n; i++) {
			const struct lbfo_member *m = &t->m[i];

			nactive += m->state == LBFO_MS_ACTIVE && !(t->exclude & (1u << i));
			nhealthy += healthy(m);
			failover |= full_share(m);
		}
		failover |= nhealthy == 1;
		cur_ok = failover && lbfo_member_usable(t, t->current);
	}
	if (cur_ok) {
		pick = t->current;
	} else if (nactive > 0) {
		pick = t->ops->select(t, t->priv, dir, bytes, now);
	} else {
		/* Last resort: a member that is back but not yet failed
		 * back carries I/O rather than the LU having no path. */
		for (i = 0; i < t->n; i++)
			if (t->m[i].state == LBFO_MS_PROBING &&
			    (pick < 0 || t->m[i].order < t->m[pick].order))
				pick = i;
		if (pick < 0)
			return LBFO_SELECT_NO_PATH;
	}
	if (pick >= 0 && pick < t->n)
		t->m[pick].last_pick = t->select_calls;
	return pick;
}
