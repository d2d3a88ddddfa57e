/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fencing: no write may be overtaken by a stale copy from a failed path.
 *
 * The rule. A path that fails with a write in flight owes a fence,
 * whatever then happens to that write (sent again elsewhere, failed to
 * the client at its deadline, aborted at shutdown). While any path owes
 * one, no write goes out on any path (reads do); writes wait in
 * lu->parked, each with its no_path_timeout deadline.
 *
 * The methods (docs/failover.md "Fencing"):
 *  - reinstate: a login with the failed path's initiator port (ISID)
 *    through a healthy portal of the same portal group makes the target
 *    end the old session; the failed path's own re-login does too. Used
 *    only where the start-up check saw the target do it (src/san/probe.c).
 *  - reservation: each path's I_T nexus registers a key; a fence reserves
 *    the LU (WRITE EXCLUSIVE - ALL REGISTRANTS) and preempts the failed
 *    path's key through a healthy path, so the old nexus can no longer
 *    write. The path comes back as a new nexus (a new ISID) with a new
 *    key. Another owner's registrations or reservation are never touched:
 *    seen at start, the method is not used.
 *  - none: a debt is released after no_path_timeout (documented limit).
 *
 * The instance's identity: ISIDs and keys derive from the initiator name
 * (and target, LUN, portal), so a restarted lbfo logs in as the same
 * initiator ports as its predecessor (reinstating what it left) and
 * recognises its predecessor's keys. A state file under lock_dir, locked
 * while the process lives, refuses a second live instance on the same LU
 * and tells a successor which paths its predecessor had sessions on and
 * whether it ended cleanly.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lu_internal.h"

#define FENCE_BACKOFF_MIN_MS 100
#define FENCE_BACKOFF_MAX_MS 5000

/* ---- set-up -------------------------------------------------------------------- */

/* What the start-up checks saw, over the LU's paths: own re-login fences
 * only where every target of the LU proved it; a fence through another
 * path only within one target and portal group that proved it. */
static void gather_checks(struct lbfo_lu *lu, char *note, size_t len)
{
	struct lu_fence *f = &lu->fence;
	bool own = lu->npaths > 0, checked = true;
	int i;

	note[0] = '\0';
	for (i = 0; i < lu->npaths; i++) {
		const struct tgt_path *tp = lu->paths[i].tp;
		const struct lbfo_tgt_check *chk = &tp->tgt->chk;

		own &= chk->reinstate_own;
		checked &= chk->checked;
		f->reinstate_cross[i] = chk->reinstate_cross[tp->idx];
		if (!note[0] || !chk->reinstate_own)
			snprintf(note, len, "%s", chk->checked ? chk->note : "not checked");
	}
	f->reinstate_own = own && checked;
}

static void choose_method(struct lbfo_lu *lu)
{
	struct lu_fence *f = &lu->fence;
	enum lbfo_fence_method want = lu->cfg.fence;
	char note[LBFO_STR_MAX];

	gather_checks(lu, note, sizeof(note));
	if (want == LBFO_FENCE_NONE) {
		f->method = LBFO_FENCE_NONE;
		snprintf(f->why, sizeof(f->why), "fence=none");
	} else if ((want == LBFO_FENCE_AUTO || want == LBFO_FENCE_REINSTATE) && f->reinstate_own) {
		f->method = LBFO_FENCE_REINSTATE;
		snprintf(f->why, sizeof(f->why), "session reinstatement seen at start-up (%.200s)",
			 note);
	} else if (want == LBFO_FENCE_REINSTATE) {
		f->method = LBFO_FENCE_NONE;
		snprintf(f->why, sizeof(f->why), "fence=reinstate, but the target did not "
			 "reinstate sessions at start-up (%.160s)", note);
	} else {
		/* reservation, or auto without reinstatement: checked when the
		 * first path registers (foreign state: none). */
		f->method = LBFO_FENCE_RESERVATION;
		snprintf(f->why, sizeof(f->why), "%s", want == LBFO_FENCE_RESERVATION ?
			 "fence=reservation" : "auto: no session reinstatement at start-up");
	}
}

int lbfo_lu_lock(struct lbfo_lu *lu, char *err, size_t errlen)
{
	int i, owed = 0;

	if (lu_state_lock(lu, err, errlen) < 0)
		return -1;
	for (i = 0; i < lu->npaths; i++)
		if (lu->paths[i].pred_owes) {
			lu->paths[i].pred_owes = false;
			lu_fence_owe(&lu->paths[i], lu->now);
			owed++;
		}
	if (owed)
		lu_log(lu, LBFO_LOG_WARNING, "a previous lbfo (pid %d) serving this LU did not end "
		       "cleanly: its sessions on %d path(s) are fenced before any write",
		       lu->fence.pred_pid, owed);
	return 0;
}

int lu_fence_init(struct lbfo_lu *lu, char *err, size_t errlen)
{
	struct lu_fence *f = &lu->fence;

	lu_fence_identity_init(lu);
	choose_method(lu);
	(void)err;
	(void)errlen;
	lu_log(lu, f->method == LBFO_FENCE_NONE ? LBFO_LOG_WARNING : LBFO_LOG_NOTICE,
	       "fencing: %s (%s)%s", lbfo_fence_name(f->method), f->why,
	       f->method == LBFO_FENCE_NONE ? "; a failed path's writes wait until no_path_timeout "
	       "before they are sent again, and a stale write held longer in the network could "
	       "still land" : "");
	return 0;
}

void lu_fence_fini(struct lbfo_lu *lu)
{
	struct lu_fence *f = &lu->fence;

	if (f->lock_fd < 0)
		return;
	lu_fence_state_write(lu, !f->debts && !f->nstale && !f->unclean);
	close(f->lock_fd);
	f->lock_fd = -1;
}

/* ---- debts ------------------------------------------------------------------------- */

bool lu_fence_clear(const struct lbfo_lu *lu)
{
	const struct lu_fence *f = &lu->fence;

	return !f->debts && !f->nstale && !f->nstale_unknown;
}

void lu_fence_owe(struct lu_path *p, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;

	if (p->owes_fence)
		return;
	p->owes_fence = true;
	p->owed_since_ns = now;
	p->fence_next_ns = now;
	p->fence_backoff_ms = 0;
	p->fence_attempts = 0;
	lu->fence.debts++;
	if (lu->fence.method == LBFO_FENCE_RESERVATION && p->pr_key) {
		/* The old nexus is preempted by its key; the path comes back
		 * as a new nexus (new ISID) with a key of its own. */
		p->stale_key = p->pr_key;
		p->pr_key = 0;
		tgt_path_new_nexus(p->tp);
	}
	lu_log(lu, LBFO_LOG_NOTICE, "path %s owes a fence (%s): no write goes out until it is "
	       "fenced", p->cfg.name, lbfo_fence_name(lu->fence.method));
}

static void pay(struct lu_path *p, const char *how, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;
	struct lu_fence *f = &lu->fence;
	uint64_t took = now - p->owed_since_ns;

	if (!p->owes_fence)
		return;
	p->owes_fence = false;
	p->fence_running = false;
	p->stale_key = 0;
	p->last_fence_ns = took;
	f->debts--;
	f->fences++;
	if (took > f->longest_ns)
		f->longest_ns = took;
	lu_log(lu, LBFO_LOG_INFO, "path %s fenced (%s) after %" PRIu64 " ms", p->cfg.name, how,
	       (uint64_t)(took / LBFO_NS_PER_MS));
	/* The writes parked behind the barrier go when dispatch sees it lifted. */
}

void lu_fence_on_login(struct lu_path *p, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;
	int old = p->tp->tpgt_before;

	if (lu->fence.lock_fd >= 0 && p->ups == 1)
		lu_fence_state_write(lu, false);
	if (!p->owes_fence || lu->fence.method != LBFO_FENCE_REINSTATE || !lu->fence.reinstate_own)
		return;
	/* The same ISID, the same portal group: the target ended the old
	 * session before it answered this login. (Another LU over the
	 * session may have moved it to a new nexus: then nothing ended.) */
	if (!p->tp->same_nexus || (old >= 0 && p->tp->tpgt >= 0 && old != p->tp->tpgt))
		return;
	pay(p, "own re-login reinstated the old session", now);
}

/* A preempt of the path's old key ended (reservation.c). */
static void preempted(struct lu_path *p, bool ok, const char *how, uint64_t now)
{
	if (!p)
		return; /* a predecessor's key: the barrier lifts when none is left */
	p->fence_running = false;
	if (ok)
		pay(p, how, now);
	else
		lu_fence_on_fenced(p, false, how, now);
}

void lu_fence_on_fenced(struct lu_path *p, bool ok, const char *why, uint64_t now)
{
	char how[LBFO_STR_MAX];

	p->fence_running = false;
	if (ok) {
		snprintf(p->fence_via, sizeof(p->fence_via), "%s", p->s->fence_via);
		snprintf(how, sizeof(how), "session reinstated via path %s", p->fence_via);
		pay(p, how, now);
		return;
	}
	p->fence_backoff_ms = p->fence_backoff_ms ? p->fence_backoff_ms * 2 : FENCE_BACKOFF_MIN_MS;
	if (p->fence_backoff_ms > FENCE_BACKOFF_MAX_MS)
		p->fence_backoff_ms = FENCE_BACKOFF_MAX_MS;
	p->fence_next_ns = now + ms_ns(p->fence_backoff_ms);
	/* Say it at the 1st, 2nd, 4th, 8th … attempt, not every time. */
	if (!(p->fence_attempts & (p->fence_attempts - 1)))
		lu_log(p->lu, LBFO_LOG_WARNING, "path %s: fence via %s failed (%s); attempt %u, next "
		       "in %u ms", p->cfg.name, p->fence_via[0] ? p->fence_via : p->s->fence_via, why, p->fence_attempts,
		       p->fence_backoff_ms);
}

/* ---- the fence clock ----------------------------------------------------------------- */

static struct lu_path *reinstate_via(struct lbfo_lu *lu, const struct lu_path *p)
{
	int i;

	if (p->tp->tpgt < 0 || !lu->fence.reinstate_cross[p->idx])
		return NULL;
	/* Only a session of the same target and portal group reinstates. */
	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *v = &lu->paths[(p->idx + 1 + i) % lu->npaths];

		if (v != p && v->tp->tgt == p->tp->tgt && v->s->st == LBFO_SS_UP &&
		    !v->s->failing && v->tp->tpgt == p->tp->tpgt && lu->fence.reinstate_cross[v->idx])
			return v;
	}
	return NULL;
}

static void fence_one(struct lbfo_lu *lu, struct lu_path *p, uint64_t now)
{
	struct lu_path *v;

	switch (lu->fence.method) {
	case LBFO_FENCE_REINSTATE:
		if (p->s->st == LBFO_SS_LOGIN)
			return; /* its own login may pay; never both at once */
		if (lbfo_session_fencing(p->s)) {
			/* Another LU over the session started it: the target
			 * tells every LU over the session how it ended. */
			p->fence_running = true;
			return;
		}
		v = reinstate_via(lu, p);
		if (!v)
			return; /* its own re-login will pay */
		if (lbfo_session_fence(p->s, v->s, now) == 0) {
			p->fence_running = true;
			p->fence_attempts++;
		}
		return;
	case LBFO_FENCE_RESERVATION:
		v = lu_pr_registered_path(lu);
		if (!v || !p->stale_key)
			return;
		if (lu_pr_preempt(v, p, p->stale_key, now, preempted) == 0) {
			p->fence_running = true;
			p->fence_attempts++;
		}
		return;
	default:
		if (now - p->owed_since_ns >= ms_ns(lu->cfg.no_path_timeout_ms))
			pay(p, "no fence method: released after no_path_timeout", now);
		return;
	}
}

void lu_fence_tick(struct lbfo_lu *lu, uint64_t now)
{
	int i;

	if (!lu->fence.debts && !lu->fence.nstale)
		return;
	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *p = &lu->paths[i];

		if (p->owes_fence && !p->fence_running && now >= p->fence_next_ns)
			fence_one(lu, p, now);
	}
	if (lu->fence.method == LBFO_FENCE_RESERVATION && lu->fence.nstale) {
		struct lu_path *v = lu_pr_registered_path(lu);

		if (v)
			lu_pr_preempt(v, NULL, lu->fence.stale_keys[0], now, preempted);
	}
}

uint64_t lu_fence_next_timer(const struct lbfo_lu *lu)
{
	uint64_t t = UINT64_MAX;
	int i;

	for (i = 0; i < lu->npaths; i++) {
		const struct lu_path *p = &lu->paths[i];
		uint64_t when = p->fence_next_ns;

		if (!p->owes_fence || p->fence_running)
			continue;
		if (lu->fence.method == LBFO_FENCE_NONE)
			when = p->owed_since_ns + ms_ns(lu->cfg.no_path_timeout_ms);
		if (when < t)
			t = when;
	}
	return t;
}
