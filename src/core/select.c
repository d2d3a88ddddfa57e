/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Choosing a member for a command: failover mode's current member, else
 * the policy among the ACTIVE members, else a member back but not yet
 * failed back. On the per-command path: no allocation, and no walk over
 * the members (the team keeps its counts by state, team_recompute), so a
 * select costs what the policy's costs.
 */
#include "lbfo/core.h"
#include "lbfo/policy.h"
#include "team_internal.h"

/* ACTIVE members in the exclusion set: a walk over its set bits only. */
static int excluded_active(const struct lbfo_team *t, const struct lbfo_mask *ex)
{
	int w, c = 0;

	for (w = 0; w < (int)(sizeof(ex->w) / sizeof(ex->w[0])) && w * 64 < t->n; w++) {
		uint64_t bits = ex->w[w];

		while (bits) {
			int i = w * 64 + __builtin_ctzll(bits);

			bits &= bits - 1;
			c += i < t->n && t->m[i].state == LBFO_MS_ACTIVE;
		}
	}
	return c;
}

int lbfo_team_select_excluding(struct lbfo_team *t, enum lbfo_dir dir, uint64_t bytes,
			       uint64_t now, const struct lbfo_mask *exclude)
{
	int i, pick;

	t->exclude = exclude;
	pick = lbfo_team_select(t, dir, bytes, now);
	if (exclude && (pick == LBFO_SELECT_NO_PATH || (pick >= 0 && lbfo_mask_has(exclude, pick)))) {
		/* Only excluded members had a share, or failover mode's
		 * current member is excluded and the rest stand by: the
		 * next healthy member, active ones first, then by order. */
		pick = LBFO_SELECT_NO_PATH;
		for (i = 0; i < t->n; i++) {
			const struct lbfo_member *m = &t->m[i];

			if (!healthy(m) || lbfo_mask_has(exclude, i))
				continue;
			if (pick < 0 ||
			    (m->state == LBFO_MS_ACTIVE) > (t->m[pick].state == LBFO_MS_ACTIVE) ||
			    ((m->state == LBFO_MS_ACTIVE) == (t->m[pick].state == LBFO_MS_ACTIVE) &&
			     m->order < t->m[pick].order))
				pick = i;
		}
	}
	t->exclude = NULL;
	return pick;
}

int lbfo_team_select(struct lbfo_team *t, enum lbfo_dir dir, uint64_t bytes,
		     uint64_t now)
{
	int i, pick = -1, nactive;
	bool cur_ok, failover;

	if (t->cfg.max_outstanding && t->outstanding >= t->cfg.max_outstanding)
		return LBFO_SELECT_LU_FULL;
	t->select_calls++;
	/* lbfo_team_mode(), from the counts team_recompute keeps. */
	failover = t->ops->failover_only || t->nfull > 0 || t->nhealthy == 1;
	cur_ok = failover && lbfo_member_usable(t, t->current);
	nactive = t->nactive;
	if (!cur_ok && t->exclude)
		nactive -= excluded_active(t, t->exclude);
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
