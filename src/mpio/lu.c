/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The multipath LU's paths: what a session's events (logged in, failed)
 * mean for the LU over it, the identity check at each login, the path
 * checker. A session belongs to its target and may carry other LUs too
 * (target.c tells each of them). The failover rules it keeps
 * (docs/failover.md):
 *
 *  - A command in flight on a path that fails is handed back by the team
 *    (claims 2, 9) and sent again on another path; the client never sees
 *    an error while any path can carry it. Reads go again at once.
 *  - A path that fails with a write in flight owes a fence, whatever then
 *    happens to that write; no write goes out on any path until every
 *    debt is paid (fence.c).
 *  - With no path, I/O waits up to no_path_timeout, then fails with EIO.
 *  - Paths are grouped by the LU's identity (VPD 0x83 / 0x80) and block
 *    size, never by configuration alone; a grown LU is the same LU, its
 *    new size reported and not exported until the operator says so
 *    (lbfoctl resize, ops.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lbfo/policy.h"
#include "lu_internal.h"

#define CHECK_MAX_MS 5000

/* ---- a path becomes usable, or stops being ------------------------------ */

static void path_ready(struct lu_path *p, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;
	enum lbfo_member_state ms = lu->team.m[p->idx].state;

	if (p->s->st != LBFO_SS_UP || p->st != LP_IDENT)
		return; /* lost while registering */
	p->st = LP_UP;
	p->up_since_ns = now;
	if (ms == LBFO_MS_FAILED) {
		/* Claims 4, 10: the miniport reports the path restored. The
		 * first login of a path makes it a member at once. */
		lbfo_team_member_restored(&lu->team, p->idx, -1, now);
		if (p->ups == 1)
			lbfo_team_member_reinstate(&lu->team, p->idx, now);
	} else if (ms == LBFO_MS_DRAINING && !p->admin_down) {
		lbfo_team_member_reinstate(&lu->team, p->idx, now);
	}
	if (p->ups == 1)
		lu_log(lu, LBFO_LOG_NOTICE, "path %s (%s) logged in (%s)", p->cfg.name, p->portal,
		       lbfo_role_name(lu->team.m[p->idx].role));
	else
		lu_log(lu, LBFO_LOG_NOTICE, "path %s (%s) restored: %s (failback %s)", p->cfg.name,
		       p->portal, lbfo_member_state_name(lu->team.m[p->idx].state),
		       lbfo_failback_name(lu->cfg.failback));
	pthread_cond_broadcast(&lu->paths_cv);
}

/* The session is gone: the team hands back what was in flight. */
static void path_lost(struct lu_path *p, const char *reason, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;
	struct lbfo_cmd *ret = NULL;
	int n = 0;

	if (lu->team.m[p->idx].state != LBFO_MS_FAILED) {
		n = lbfo_team_member_failed(&lu->team, p->idx, -1, now, &ret);
		lu->failovers++;
	}
	if (p->st == LP_UP || p->st == LP_IDENT) {
		p->failures++;
		lu_log(lu, LBFO_LOG_WARNING, "path %s (%s) failed: %s; %d command(s) handed back%s",
		       p->cfg.name, p->portal, reason, n, p->s->flapping ? "; flapping, held out" : "");
	}
	if (p->st != LP_REFUSED)
		p->st = LP_DOWN;
	p->lu_failed = false;
	lu_requeue_returned(lu, p, ret, now);
}

/* ---- the path checker: TEST UNIT READY on a path failed by an answer ---- */

static void check_done(struct lbfo_scmd *sc, const struct lbfo_scsi_result *r, uint64_t now)
{
	struct lu_cmd *c = (struct lu_cmd *)sc;
	struct lu_path *p = &c->lu->paths[c->path];
	enum lbfo_scsi_event ev;
	enum lbfo_scsi_action act = r->status == LBFO_XS_PATH_LOST ? LBFO_ACT_PATH_FAIL :
		lbfo_scsi_action(r, &ev);

	free(c);
	if (!p->lu_failed || p->s->st != LBFO_SS_UP)
		return;
	if (act == LBFO_ACT_OK) {
		p->lu_failed = false;
		p->st = LP_IDENT;
		lu_log(p->lu, LBFO_LOG_NOTICE, "path %s: TEST UNIT READY succeeds again", p->cfg.name);
		path_ready(p, now);
		return;
	}
	if (act == LBFO_ACT_RETRY_NOW) {
		p->check_at_ns = now;
		return;
	}
	p->check_at_ns = now + ms_ns(CHECK_MAX_MS);
}

static void ident_done(struct lbfo_ident_reader *r, int rc, uint64_t now);

static void path_check(struct lu_path *p, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;
	struct lu_cmd *c;

	/* A path failed by an answer leaves the team once nothing of this
	 * LU is in flight on it any more. */
	if (p->lu_failed && lu->team.m[p->idx].state == LBFO_MS_DRAINING &&
	    !lu->team.m[p->idx].outstanding)
		lbfo_team_member_failed(&lu->team, p->idx, -1, now, NULL);
	if (!p->check_at_ns || now < p->check_at_ns || p->s->st != LBFO_SS_UP)
		return;
	p->check_at_ns = 0;
	if (p->st == LP_IDENT) {
		/* Reading the identity failed at login: read it again (the
		 * session carries other LUs; it is not failed for this). */
		if (!p->ident.busy && lbfo_ident_start(&p->ident, p->s, p->lun, ident_done, p,
						       now) < 0)
			p->check_at_ns = now + ms_ns(CHECK_MAX_MS);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->lu = lu;
	c->path = p->idx;
	c->sc.x.lun = p->lun;
	c->sc.done = check_done;
	lbfo_cdb_tur(&c->sc.x.cdb);
	if (lbfo_session_submit(p->s, &c->sc, now) < 0)
		free(c);
}

/* ---- a session's events, for this LU (target.c calls) ----------------------- */

void lu_path_on_up(struct lu_path *p, uint64_t now)
{
	p->ups++;
	if (p->st == LP_REFUSED || p->admin_down)
		return; /* out until an operator restores it */
	p->st = LP_IDENT;
	p->lu_failed = false;
	p->check_at_ns = 0;
	p->last_error[0] = '\0';
	lu_fence_on_login(p, now);
	if (lbfo_ident_start(&p->ident, p->s, p->lun, ident_done, p, now) < 0) {
		snprintf(p->last_error, sizeof(p->last_error), "%s", p->ident.err);
		p->check_at_ns = now + ms_ns(CHECK_MAX_MS);
	}
}

static bool alua_unusable(int alua)
{
	return alua == LBFO_ALUA_STANDBY || alua == LBFO_ALUA_UNAVAILABLE ||
	       alua == LBFO_ALUA_OFFLINE;
}

/* What the identity says, at login (LP_IDENT) or when a unit attention
 * asked to read it again (the path in use). */
static void ident_done(struct lbfo_ident_reader *r, int rc, uint64_t now)
{
	struct lu_path *p = r->priv;
	struct lbfo_lu *lu = p->lu;
	bool recheck = p->st != LP_IDENT;
	char why[LBFO_ERR_MAX];

	if (p->s->st != LBFO_SS_UP || p->st == LP_REFUSED || p->st == LP_DOWN)
		return; /* the session went away meanwhile */
	if (rc < 0) {
		if (!recheck) {
			/* Not the session's fault (it carries other LUs): this
			 * LU tries again later. */
			snprintf(p->last_error, sizeof(p->last_error), "%s", r->err);
			lu_log(lu, LBFO_LOG_WARNING, "path %s (%s): reading the LU's identity: %s; "
			       "tried again in %u ms", p->cfg.name, p->portal, r->err, CHECK_MAX_MS);
			p->check_at_ns = now + ms_ns(CHECK_MAX_MS);
		} else {
			lu_log(lu, LBFO_LOG_WARNING, "path %s: reading the identity again: %s",
			       p->cfg.name, r->err);
		}
		return;
	}
	if (lbfo_ident_compare(&lu->ident, &r->id, why, sizeof(why)) < 0) {
		if (recheck)
			lu_path_fail_lu(p, "refused: %.200s", why);
		p->st = LP_REFUSED;
		snprintf(p->last_error, sizeof(p->last_error), "refused: %.200s", why);
		lu_log(lu, LBFO_LOG_ERR, "path %s (%s) refused: it leads to another LU than the "
		       "team's (%s): %s", p->cfg.name, p->portal, lu->ident.id, why);
		return;
	}
	if (r->id.blocks && r->id.blocks != lu->target_blocks) {
		lu_log(lu, LBFO_LOG_WARNING, "LU %s capacity changed: %" PRIu64 " -> %" PRIu64
		       " blocks (seen by path %s); the export keeps %" PRIu64 " blocks until "
		       "lbfoctl resize", lu->ident.id, lu->target_blocks, r->id.blocks,
		       p->cfg.name, lu->ident.blocks);
		lu->target_blocks = r->id.blocks;
	}
	if (p->alua != r->alua_state && (recheck || r->alua_state != LBFO_ALUA_NONE))
		lu_log(lu, LBFO_LOG_NOTICE, "path %s: ALUA state %s", p->cfg.name,
		       lbfo_alua_state_name(r->alua_state));
	p->alua = r->alua_state;
	if (recheck) {
		if (alua_unusable(p->alua))
			lu_path_fail_lu(p, "ALUA state %s", lbfo_alua_state_name(p->alua));
		else if (p->lu_failed)
			p->check_at_ns = now; /* the checker puts it back */
		return;
	}
	if (alua_unusable(p->alua)) {
		p->st = LP_UP;
		lu_path_fail_lu(p, "ALUA state %s", lbfo_alua_state_name(p->alua));
		return;
	}
	lu_fence_path_ready(p, now, path_ready);
}

/* Side effects an answer asked for (dispatch.c leaves them in
 * p->pending_ev): a capacity, ALUA or identity change, … */
static void scsi_event(struct lu_path *p, enum lbfo_scsi_event ev, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;

	switch (ev) {
	case LBFO_EV_CAPACITY_CHANGED:
	case LBFO_EV_INQUIRY_CHANGED:
	case LBFO_EV_ALUA_CHANGED:
		/* Read what the LU says about itself again; the answer is
		 * judged in ident_done (identity, size, ALUA state). */
		if (p->s->st == LBFO_SS_UP && !p->ident.busy && p->st != LP_IDENT &&
		    lbfo_ident_start(&p->ident, p->s, p->lun, ident_done, p, now) < 0)
			lu_log(lu, LBFO_LOG_WARNING, "path %s: cannot read the identity again: %s",
			       p->cfg.name, p->ident.err);
		break;
	case LBFO_EV_RESERVATIONS:
		lu_log(lu, LBFO_LOG_NOTICE, "path %s: the LU's reservations changed (unit attention)",
		       p->cfg.name);
		break;
	case LBFO_EV_LUNS_CHANGED:
		/* The host rescans the target (lbfo_lu_luns_changed). */
		lu_log(lu, LBFO_LOG_INFO, "path %s: the target's LUNs changed", p->cfg.name);
		lu->luns_changed = true;
		break;
	default:
		break;
	}
}

void lu_path_on_down(struct lu_path *p, bool was_up, const char *reason, uint64_t now)
{
	snprintf(p->last_error, sizeof(p->last_error), "%s", reason);
	p->check_at_ns = 0;
	if (was_up) {
		path_lost(p, reason, now);
	} else if (p->st != LP_REFUSED) {
		p->st = LP_DOWN;
		if (p->ups)
			lu_log(p->lu, LBFO_LOG_INFO, "path %s (%s): %s", p->cfg.name, p->portal,
			       reason);
	}
}

/* ---- per-iteration work of the paths -------------------------------------- */

void lu_paths_service(struct lbfo_lu *lu, uint64_t now)
{
	int i;

	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *p = &lu->paths[i];

		while (p->pending_ev) {
			enum lbfo_scsi_event ev = (enum lbfo_scsi_event)__builtin_ctz(p->pending_ev);

			p->pending_ev &= ~(1u << ev);
			scsi_event(p, ev, now);
		}
		path_check(p, now);
	}
}

uint64_t lu_paths_next_timer(const struct lbfo_lu *lu)
{
	uint64_t t = UINT64_MAX;
	int i;

	for (i = 0; i < lu->npaths; i++) {
		const struct lu_path *p = &lu->paths[i];

		if (p->check_at_ns && p->check_at_ns < t)
			t = p->check_at_ns;
		if (p->pending_ev)
			t = 0;
	}
	return t;
}
