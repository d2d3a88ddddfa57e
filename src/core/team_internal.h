/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the team. Its files and what each owns:
 *
 *   team.c      life cycle, the policy, members and their configuration
 *               (shares, weights, adapters), share renormalisation, names
 *   member.c    the member state machine: mode, failover, failback,
 *               reinstatement, drain, the failback timer
 *   select.c    choosing a member for a command
 *   account.c   a command from start to completion, handing back a failed
 *               member's commands, interval sampling, adapter bytes
 *   policy.c    the policy table and what the policies share
 *   policy_*.c  one policy each
 *
 * Pure like the rest of src/core. Not a public API.
 */
#ifndef LBFO_TEAM_INTERNAL_H
#define LBFO_TEAM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

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

/* t->err = fmt with two string arguments. */
void team_set_err(struct lbfo_team *t, const char *fmt, const char *a, const char *b);

/* member.c */
bool team_preferred_over(const struct lbfo_team *t, int a, int b);
void team_set_state(struct lbfo_member *m, enum lbfo_member_state s, uint64_t now);
void team_recompute(struct lbfo_team *t, int changed, uint64_t now);

/* account.c: unlink every command in flight on member mi, oldest first,
 * into a list on retry_next (each RETURNED, retries counted, member -1).
 * Returns the count. */
int team_hand_back(struct lbfo_team *t, int mi, uint64_t now, struct lbfo_cmd **head);

#endif
