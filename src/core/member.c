/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The member state machine: which members are healthy, the team's mode,
 * failover (a member failed), failback (restored, then ACTIVE again at
 * once, after a stable time, or by the operator), drain, and bringing
 * every member's state in line after each of these (team_recompute).
 */
#include <stdio.h>

#include "lbfo/core.h"
#include "lbfo/policy.h"
#include "team_internal.h"

bool lbfo_member_usable(const struct lbfo_team *t, int m)
{
	return m >= 0 && m < t->n && t->m[m].state == LBFO_MS_ACTIVE &&
	       !(t->exclude && lbfo_mask_has(t->exclude, m));
}

int lbfo_team_count(const struct lbfo_team *t, enum lbfo_member_state s)
{
	int i, c = 0;

	for (i = 0; i < t->n; i++)
		c += t->m[i].state == s;
	return c;
}

/* 001 [0047]: a failover policy, a configured 100 % share, or only one
 * healthy member left means failover-only mode. */
enum lbfo_mode lbfo_team_mode(const struct lbfo_team *t)
{
	int i, nhealthy = 0;

	if (t->ops && t->ops->failover_only)
		return LBFO_MODE_FAILOVER;
	for (i = 0; i < t->n; i++) {
		if (t->m[i].cfg_share[LBFO_READ] == LBFO_SHARE_FULL ||
		    t->m[i].cfg_share[LBFO_WRITE] == LBFO_SHARE_FULL)
			return LBFO_MODE_FAILOVER;
		nhealthy += healthy(&t->m[i]);
	}
	return nhealthy == 1 ? LBFO_MODE_FAILOVER : LBFO_MODE_BALANCE;
}

/* The member failover mode prefers: one with a configured 100 % share,
 * else the lowest discovery order (the primary). */
bool team_preferred_over(const struct lbfo_team *t, int a, int b)
{
	bool fa = full_share(&t->m[a]);
	bool fb = full_share(&t->m[b]);

	if (fa != fb)
		return fa;
	return t->m[a].order < t->m[b].order;
}

static int best_healthy(const struct lbfo_team *t)
{
	int i, best = -1;

	for (i = 0; i < t->n; i++)
		if (healthy(&t->m[i]) && (best < 0 || team_preferred_over(t, i, best)))
			best = i;
	return best;
}

void team_set_state(struct lbfo_member *m, enum lbfo_member_state s,
		    uint64_t now)
{
	if (m->state != s) {
		m->state = s;
		m->state_since_ns = now;
	}
}

/*
 * Member mi has just become ACTIVE again after a restore. Claim 4: a
 * restore that names a new path moves failover mode's current member
 * there; otherwise the preferred member (primary) wins back.
 */
static void take_back(struct lbfo_team *t, int mi)
{
	struct lbfo_member *m = &t->m[mi];

	if (m->restore_suggested >= 0 &&
	    healthy(&t->m[m->restore_suggested]))
		t->current = m->restore_suggested;
	else if (t->current < 0 || !healthy(&t->m[t->current]) ||
		 team_preferred_over(t, mi, t->current))
		t->current = mi;
	m->restore_suggested = -1;
}

/*
 * Bring states in line after any event: promote restored members whose
 * failback condition holds, pick the current member in failover mode,
 * mark the others ACTIVE or STANDBY, renormalise shares and tell the
 * policy. `changed` is the member whose event triggered this, or -1.
 */
void team_recompute(struct lbfo_team *t, int changed, uint64_t now)
{
	int i, best;

	for (i = 0; i < t->n; i++) {
		struct lbfo_member *m = &t->m[i];

		if (m->state != LBFO_MS_PROBING)
			continue;
		if (t->cfg.failback == LBFO_FAILBACK_IMMEDIATE ||
		    (t->cfg.failback == LBFO_FAILBACK_STABLE &&
		     now - m->restored_ns >= t->cfg.failback_stable_ns)) {
			team_set_state(m, LBFO_MS_ACTIVE, now);
			take_back(t, i);
		}
	}

	if (t->current >= 0 && !healthy(&t->m[t->current]))
		t->current = -1;
	best = best_healthy(t);
	if (t->current < 0)
		t->current = best;

	if (lbfo_team_mode(t) == LBFO_MODE_FAILOVER) {
		for (i = 0; i < t->n; i++)
			if (healthy(&t->m[i]))
				team_set_state(&t->m[i], i == t->current ?
					       LBFO_MS_ACTIVE : LBFO_MS_STANDBY, now);
	} else {
		for (i = 0; i < t->n; i++)
			if (t->m[i].state == LBFO_MS_STANDBY)
				team_set_state(&t->m[i], LBFO_MS_ACTIVE, now);
	}

	/* The counts select reads instead of walking the members. */
	t->nactive = t->nhealthy = t->nfull = 0;
	for (i = 0; i < t->n; i++) {
		t->nactive += t->m[i].state == LBFO_MS_ACTIVE;
		t->nhealthy += healthy(&t->m[i]);
		t->nfull += full_share(&t->m[i]);
	}

	lbfo_team_reset_shares(t);
	if (t->ops && t->ops->on_member_change)
		t->ops->on_member_change(t, t->priv, changed, now);
}

int lbfo_team_member_failed(struct lbfo_team *t, int mi, int suggested,
			    uint64_t now, struct lbfo_cmd **retry)
{
	struct lbfo_member *m;
	struct lbfo_cmd *head;
	int n;

	if (retry)
		*retry = NULL;
	if (mi < 0 || mi >= t->n)
		return 0;
	m = &t->m[mi];
	n = team_hand_back(t, mi, now, &head);
	if (retry)
		*retry = head;
	if (m->state == LBFO_MS_FAILED)
		return n;

	if (t->current == mi) {
		t->failovers++;
		t->current = -1;
		if (suggested >= 0 && suggested < t->n && suggested != mi &&
		    healthy(&t->m[suggested]))
			t->current = suggested; /* the failed path named it */
	}
	m->st.failures++;
	team_set_state(m, LBFO_MS_FAILED, now);
	team_recompute(t, mi, now);
	return n;
}

void lbfo_team_member_restored(struct lbfo_team *t, int mi, int suggested,
			       uint64_t now)
{
	struct lbfo_member *m;

	if (mi < 0 || mi >= t->n)
		return;
	m = &t->m[mi];
	if (m->state != LBFO_MS_FAILED)
		return;
	m->restored_ns = now;
	m->restore_suggested = suggested >= 0 && suggested < t->n ? suggested : -1;
	team_set_state(m, LBFO_MS_PROBING, now);
	team_recompute(t, mi, now);
}

int lbfo_team_member_reinstate(struct lbfo_team *t, int mi, uint64_t now)
{
	struct lbfo_member *m;

	if (mi < 0 || mi >= t->n) {
		snprintf(t->err, sizeof(t->err), "no member %d", mi);
		return -1;
	}
	m = &t->m[mi];
	if (m->state == LBFO_MS_FAILED) {
		team_set_err(t, "member '%s' is failed; it must be restored by its path first%s",
			     m->name, "");
		return -1;
	}
	if (m->state == LBFO_MS_PROBING || m->state == LBFO_MS_DRAINING) {
		team_set_state(m, LBFO_MS_ACTIVE, now);
		/* A restore that named a path decides where new I/O goes
		 * once this member is back, also when an operator brings it
		 * back (manual failback). */
		take_back(t, mi);
		team_recompute(t, mi, now);
	}
	return 0;
}

int lbfo_team_member_drain(struct lbfo_team *t, int mi, uint64_t now)
{
	if (mi < 0 || mi >= t->n) {
		snprintf(t->err, sizeof(t->err), "no member %d", mi);
		return -1;
	}
	if (t->m[mi].state == LBFO_MS_FAILED) {
		team_set_err(t, "member '%s' is failed%s", t->m[mi].name, "");
		return -1;
	}
	team_set_state(&t->m[mi], LBFO_MS_DRAINING, now);
	team_recompute(t, mi, now);
	return 0;
}

void lbfo_team_tick(struct lbfo_team *t, uint64_t now)
{
	int i;
	bool due = false;

	if (t->cfg.failback == LBFO_FAILBACK_STABLE)
		for (i = 0; i < t->n; i++)
			if (t->m[i].state == LBFO_MS_PROBING &&
			    now - t->m[i].restored_ns >= t->cfg.failback_stable_ns)
				due = true;
	if (due)
		team_recompute(t, -1, now);
	if (t->ops->on_tick)
		t->ops->on_tick(t, t->priv, now);
	t->last_tick_ns = now;
}
