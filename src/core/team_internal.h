/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the team. Its modules, lowest first: each calls only
 * modules listed before it, never one after it (scripts/layers checks
 * that no two call each other and no circle forms):
 *
 *   account.c   a command from start to completion, handing back a failed
 *               member's commands, interval sampling, adapter bytes
 *   shares.c    share renormalisation: configured -> effective shares,
 *               shares from a policy's weights, FIG 4's byte epoch
 *   member.c    the member predicates (usable, count, mode) and the state
 *               machine: failover, failback, reinstatement, drain, the
 *               failback timer, bringing states in line (team_recompute)
 *   policy.c    the policy table and the helpers the policies share
 *               (parameters, tie-break, FIG 4, period, speeds)
 *   policy_*.c  one policy each
 *   select.c    choosing a member for a command
 *   team.c      life cycle, the policy, members and their configuration
 *               (shares, weights, adapters), the enums' names
 *
 * A policy's hooks are reached only through team->ops (on_start,
 * on_complete, on_member_change, select, ...), never by name: that is how
 * account.c and member.c tell the policy about a command or a member
 * without calling up. policy.c's table names the policies' ops structs:
 * data, no call.
 *
 * Pure like the rest of src/core. Not a public API.
 */
#ifndef LBFO_TEAM_INTERNAL_H
#define LBFO_TEAM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lbfo/core.h"

/* ACTIVE or STANDBY: could carry I/O now. */
static inline bool healthy(const struct lbfo_member *m)
{
	return m->state == LBFO_MS_ACTIVE || m->state == LBFO_MS_STANDBY;
}

/* Configured with 100 % in either direction. */
static inline bool full_share(const struct lbfo_member *m)
{
	return m->cfg_share[LBFO_READ] == LBFO_SHARE_FULL ||
	       m->cfg_share[LBFO_WRITE] == LBFO_SHARE_FULL;
}

/* t->err = fmt with two string arguments. Inline, so that member.c and
 * team.c both set errors without either calling the other. */
static inline void team_set_err(struct lbfo_team *t, const char *fmt,
				const char *a, const char *b)
{
	snprintf(t->err, sizeof(t->err), fmt, a, b);
}

/* member.c */
bool team_preferred_over(const struct lbfo_team *t, int a, int b);
void team_set_state(struct lbfo_member *m, enum lbfo_member_state s, uint64_t now);
void team_recompute(struct lbfo_team *t, int changed, uint64_t now);

/* account.c: unlink every command in flight on member mi, oldest first,
 * into a list on retry_next (each RETURNED, retries counted, member -1).
 * Returns the count. */
int team_hand_back(struct lbfo_team *t, int mi, uint64_t now, struct lbfo_cmd **head);

#endif
