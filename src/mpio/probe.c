/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Start-up, synchronous and bounded: find the target (SendTargets) when
 * none is given, read the LU's identity through every portal, and check
 * how the target treats a second login with one ISID.
 *
 * The check (docs/failover.md "Is the fence real?"): log in through
 * portal A with a probe ISID, log in again through A with the same ISID:
 * a target that reinstates closes the first connection (own re-login
 * fences). Then log in through each other portal of A's portal group with
 * that ISID: a target that reinstates across portals closes the session
 * on A (a fence through another path works). Nothing is assumed: what was
 * not seen is not counted.
 *
 * Built on the same path session and identity reader as the LU (the
 * synchronous layer over the asynchronous one), driven by a local poll
 * loop with a deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lu_internal.h"

#define PROBE_QUAL 0x8000   /* probe ISIDs never collide with a path's */
#define CLOSE_WAIT_MS 1000

struct probe {
	struct lbfo_session s;
	struct lbfo_ident_reader r;
	bool up, down, ident_done;
	int ident_rc;
	int tpgt;
	char why[LBFO_ERR_MAX];
};

static void p_up(struct lbfo_session *s, void *o, int tpgt, uint64_t now)
{
	struct probe *p = o;

	(void)s; (void)now;
	p->up = true;
	p->tpgt = tpgt;
}

static void p_down(struct lbfo_session *s, void *o, bool was_up, const char *reason, uint64_t now)
{
	struct probe *p = o;

	(void)was_up; (void)now;
	p->down = true;
	snprintf(p->why, sizeof(p->why), "%s", reason);
	lbfo_session_disable(s, reason); /* a probe never logs in twice */
}

static void p_ident(struct lbfo_ident_reader *r, int rc, uint64_t now)
{
	struct probe *p = r->priv;

	(void)now;
	p->ident_done = true;
	p->ident_rc = rc;
	if (rc < 0)
		snprintf(p->why, sizeof(p->why), "%s", r->err);
}

static const struct lbfo_session_ops probe_ops = { .up = p_up, .down = p_down };

static void probe_init(struct probe *p, const struct lbfo_lu_config *c, int path,
		       const char *portal, uint16_t qual, uint64_t now)
{
	const struct lbfo_path_config *pc = &c->paths[path];
	struct lbfo_session_config sc = {
		.xops = &lbfo_xport_libiscsi,
		.xp = {
			.initiator = c->initiator, .target = c->target, .portal = portal,
			.chap_user = pc->chap_user[0] ? pc->chap_user : c->chap_user,
			.chap_password = pc->chap_user[0] ? pc->chap_password : c->chap_password,
			.mutual_user = pc->mutual_user[0] ? pc->mutual_user : c->mutual_user,
			.mutual_password = pc->mutual_user[0] ? pc->mutual_password : c->mutual_password,
			.header_digest = c->header_digest, .security_stage = true,
			.isid_rnd = 0x1bf0 ^ (uint32_t)c->lun, .isid_qual = qual,
		},
		.login_timeout_ms = c->login_timeout_ms, .nop_interval_ms = 60000,
		.nop_timeout_ms = 120000, .cmd_timeout_ms = c->login_timeout_ms,
		.reconnect_min_ms = 60000, .reconnect_max_ms = 60000,
	};

	memset(p, 0, sizeof(*p));
	p->tpgt = -1;
	snprintf(sc.name, sizeof(sc.name), "%s", pc->name);
	lbfo_session_init(&p->s, &sc, &probe_ops, p, now);
}

/* Drive the probes until done(ctx) or the deadline. */
static void run(struct probe **ps, int n, bool (*done)(struct probe **, int, void *), void *ctx,
		uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd[2 * LBFO_MAX_MEMBERS + 4];
		uint64_t now = lbfo_now_ns();
		int i, k = 0, ms;

		for (i = 0; i < n; i++)
			lbfo_session_service(&ps[i]->s, NULL, 0, now);
		if (done(ps, n, ctx) || now >= deadline)
			return;
		for (i = 0; i < n; i++)
			k += lbfo_session_pollfds(&ps[i]->s, pfd + k, 2);
		ms = (int)((deadline - now) / LBFO_NS_PER_MS);
		if (poll(pfd, (nfds_t)k, ms > 50 ? 50 : ms + 1) < 0 && errno != EINTR)
			return;
		now = lbfo_now_ns();
		for (i = 0; i < n; i++)
			lbfo_session_service(&ps[i]->s, pfd, k, now);
	}
}

/* Identity: every probe has read it (or failed). Starts the reading on
 * each probe that has logged in. */
static bool ident_all(struct probe **ps, int n, void *ctx)
{
	bool all = true;
	int i;

	(void)ctx;
	for (i = 0; i < n; i++) {
		struct probe *p = ps[i];

		if (p->up && !p->ident_done && !p->r.busy && !p->down && p->s.st == LBFO_SS_UP &&
		    lbfo_ident_start(&p->r, &p->s, p->r.lun, p_ident, p, lbfo_now_ns()) < 0) {
			p->ident_done = true;
			p->ident_rc = -1;
			snprintf(p->why, sizeof(p->why), "%s", p->r.err);
		}
		if (!p->down && !p->ident_done)
			all = false;
	}
	return all;
}

int lbfo_lu_discover_target(struct lbfo_lu_config *c, char *err, size_t errlen)
{
	char targets[2048], why[LBFO_ERR_MAX], portal[LBFO_STR_MAX];
	size_t el;
	int i, n;

	if (c->target[0])
		return 0;
	el = (size_t)snprintf(err, errlen, "no 'target' given and SendTargets discovery failed:");
	for (i = 0; i < c->npaths; i++) {
		struct lbfo_xport_params xp = {
			.initiator = c->initiator, .portal = portal,
			.chap_user = c->paths[i].chap_user[0] ? c->paths[i].chap_user : c->chap_user,
			.chap_password = c->paths[i].chap_user[0] ? c->paths[i].chap_password : c->chap_password,
		};

		if (lbfo_portal_normalise(c->paths[i].portal, portal, sizeof(portal)) < 0)
			continue;
		n = lbfo_iscsi_discover(&xp, c->login_timeout_ms, targets, sizeof(targets),
					why, sizeof(why));
		if (n == 1) {
			targets[strcspn(targets, "\n")] = '\0';
			snprintf(c->target, sizeof(c->target), "%.255s", targets);
			return 0;
		}
		if (n > 1) {
			char *nl;

			while ((nl = strchr(targets, '\n')) && nl[1])
				*nl = ' ';
			targets[strcspn(targets, "\n")] = '\0';
			snprintf(err, errlen, "no 'target' given and portal %s offers %d targets (%s): "
				 "set target=IQN", portal, n, targets);
			return -1;
		}
		if (n == 0)
			snprintf(why, sizeof(why), "no target offered");
		if (el < errlen)
			el += (size_t)snprintf(err + el, errlen - el, " %s (%s): %s;",
					       c->paths[i].name, portal, why);
	}
	return -1;
}

/* ---- the reinstatement check ---------------------------------------------------- */

struct closed_ctx { struct probe *old, *neu; uint64_t up_at; };

/* The new login is through, and the old session was closed (or the
 * new login failed: then nothing can be told). */
static bool closed_or_failed(struct probe **ps, int n, void *ctx)
{
	struct closed_ctx *x = ctx;

	(void)ps; (void)n;
	if (x->neu->down)
		return true;
	if (!x->neu->up)
		return false;
	if (!x->up_at)
		x->up_at = lbfo_now_ns();
	return x->old->down || lbfo_now_ns() - x->up_at > ms_ns(CLOSE_WAIT_MS);
}

/* A second login with old's ISID through `portal`: did the target end old? */
static bool second_login_closes(const struct lbfo_lu_config *c, struct probe *old, int path,
				const char *portal, struct probe *neu)
{
	struct closed_ctx x = { old, neu, 0 };
	struct probe *ps[2] = { old, neu };

	probe_init(neu, c, path, portal, old->s.cfg.xp.isid_qual, lbfo_now_ns());
	run(ps, 2, closed_or_failed, &x, lbfo_now_ns() + ms_ns(c->login_timeout_ms + CLOSE_WAIT_MS));
	return neu->up && !neu->down && old->down;
}

static void check_reinstatement(const struct lbfo_lu_config *c, struct probe *pp,
				const char portals[][LBFO_STR_MAX], struct lbfo_lu_probe *pr)
{
	struct probe *a = NULL, *b, *cur;
	int i, ia = -1, ncross = 0;

	for (i = 0; i < c->npaths && !a; i++)
		if (pp[i].up && !pp[i].down && pp[i].ident_done && pp[i].ident_rc == 0) {
			a = &pp[i];
			ia = i;
		}
	if (!a)
		return;
	pr->checked = true;
	b = calloc(2, sizeof(*b));
	if (!b)
		return;
	pr->reinstate_own = second_login_closes(c, a, ia, portals[ia], &b[0]);
	cur = &b[0];
	for (i = 0; pr->reinstate_own && i < c->npaths; i++) {
		struct probe *nx = cur == &b[0] ? &b[1] : &b[0];

		if (i == ia || !pp[i].up || pp[i].tpgt < 0 || pp[i].tpgt != a->tpgt)
			continue;
		if (nx->s.x || nx->s.st != LBFO_SS_OFF)
			lbfo_session_destroy(&nx->s);
		pr->cross_tested[ia] = pr->cross_tested[i] = true;
		if (second_login_closes(c, cur, i, portals[i], nx)) {
			pr->reinstate_cross[ia] = pr->reinstate_cross[i] = true;
			ncross++;
			cur = nx;
		}
	}
	snprintf(pr->note, sizeof(pr->note), "%s; %s", pr->reinstate_own ?
		 "a second login with one ISID closed the first" :
		 "a second login with one ISID left the first open",
		 !pr->reinstate_own ? "fencing through another portal not counted" :
		 ncross ? "also through another portal of the same group" :
		 "no other portal of the same group to check");
	lbfo_session_destroy(&b[0].s);
	lbfo_session_destroy(&b[1].s);
	free(b);
}

/* ---- the probe -------------------------------------------------------------------- */

static int compare_paths(const struct lbfo_lu_config *c, struct probe *pp,
			 const char portals[][LBFO_STR_MAX], struct lbfo_lu_probe *pr,
			 char *err, size_t errlen)
{
	char why[LBFO_ERR_MAX];
	int i, first = -1;

	for (i = 0; i < c->npaths; i++) {
		if (!pp[i].up || !pp[i].ident_done || pp[i].ident_rc != 0 || pp[i].down)
			continue;
		pr->reachable[i] = true;
		pr->tpgt[i] = pp[i].tpgt;
		if (first < 0) {
			first = i;
			pr->ident = pp[i].r.id;
		} else if (lbfo_ident_compare(&pr->ident, &pp[i].r.id, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "paths lead to different LUs: path %s (%s) and path %s "
				 "(%s): %s", c->paths[first].name, portals[first], c->paths[i].name,
				 portals[i], why);
			return -2;
		}
	}
	return first;
}

int lbfo_lu_probe(const struct lbfo_lu_config *c, struct lbfo_lu_probe *pr,
		  char *warn, size_t warnlen, char *err, size_t errlen)
{
	char portals[LBFO_MAX_MEMBERS][LBFO_STR_MAX];
	struct probe *pp = calloc((size_t)c->npaths, sizeof(*pp));
	struct probe *ps[LBFO_MAX_MEMBERS];
	uint64_t now = lbfo_now_ns();
	size_t wl = 0, el;
	int i, first, rc = -1;

	memset(pr, 0, sizeof(*pr));
	if (errlen)
		err[0] = '\0';
	if (warnlen)
		warn[0] = '\0';
	if (!pp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < LBFO_MAX_MEMBERS; i++)
		pr->tpgt[i] = -1;
	for (i = 0; i < c->npaths; i++) {
		if (lbfo_portal_normalise(c->paths[i].portal, portals[i], sizeof(portals[i])) < 0) {
			snprintf(err, errlen, "path %s: portal '%s': write an IPv6 address as "
				 "[ADDRESS]:PORT", c->paths[i].name, c->paths[i].portal);
			goto out;
		}
		probe_init(&pp[i], c, i, portals[i], (uint16_t)(PROBE_QUAL | 0x100 | i), now);
		pp[i].r.lun = c->lun;
		ps[i] = &pp[i];
	}
	run(ps, c->npaths, ident_all, NULL, now + ms_ns(c->login_timeout_ms));
	first = compare_paths(c, pp, (const char (*)[LBFO_STR_MAX])portals, pr, err, errlen);
	if (first == -2)
		goto out;
	for (i = 0; i < c->npaths; i++) {
		if (pr->reachable[i])
			continue;
		if (!pp[i].why[0])
			snprintf(pp[i].why, sizeof(pp[i].why), "no answer within %u ms",
				 c->login_timeout_ms);
		if (wl < warnlen)
			wl += (size_t)snprintf(warn + wl, warnlen - wl,
					       "path %s (%s) unreachable at start-up: %s\n",
					       c->paths[i].name, portals[i], pp[i].why);
	}
	if (first < 0) {
		el = (size_t)snprintf(err, errlen, "no portal answered for target %s LUN %d:",
				      c->target, c->lun);
		for (i = 0; i < c->npaths && el < errlen; i++)
			el += (size_t)snprintf(err + el, errlen - el, " %s (%s): %s;",
					       c->paths[i].name, portals[i], pp[i].why);
		goto out;
	}
	if (c->fence == LBFO_FENCE_AUTO || c->fence == LBFO_FENCE_REINSTATE)
		check_reinstatement(c, pp, (const char (*)[LBFO_STR_MAX])portals, pr);
	rc = 0;
out:
	for (i = 0; i < c->npaths; i++)
		lbfo_session_destroy(&pp[i].s);
	free(pp);
	return rc;
}
