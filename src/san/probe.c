/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The synchronous probe, bounded in time: log in to one target through
 * one portal with a probe ISID, ask REPORT LUNS (or take the one LUN the
 * configuration names), read what each LUN says about itself (identity,
 * size, capabilities), and keep the session for the reinstatement check.
 * Many probes run at once in one local poll loop: every (target, portal)
 * of the SAN in parallel.
 *
 * The reinstatement check (docs/failover.md "Is the fence real?"): log in
 * through portal A with a probe ISID, log in again through A with the
 * same ISID: a target that reinstates closes the first connection (own
 * re-login fences). Then log in through each other portal of A's portal
 * group with that ISID: a target that reinstates across portals closes
 * the session on A (a fence through another path works). Nothing is
 * assumed: what was not seen is not counted.
 *
 * Built on the same path session and identity reader as the LU (the
 * synchronous layer over the asynchronous one).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "san_internal.h"

#define PROBE_QUAL 0x8000   /* probe ISIDs never collide with a path's */
#define CLOSE_WAIT_MS 1000
#define RL_BUF 16384        /* REPORT LUNS: 2047 LUNs */

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
	if (!p->why[0])
		snprintf(p->why, sizeof(p->why), "%s", reason);
	lbfo_session_disable(s, reason); /* a probe never logs in twice */
}

static const struct lbfo_session_ops probe_ops = { .up = p_up, .down = p_down };

/* The probe ISID: this process's (two processes probing one target at once
 * never reinstate each other's probes), qualifier PROBE_QUAL | which. */
static uint32_t probe_rnd(void)
{
	return (0x1bf000u ^ (uint32_t)getpid() * 2654435761u) & 0xffffff;
}

void probe_init(struct probe *p, const struct lbfo_lu_config *c, const char *target, int path,
		const char *portal, uint16_t qual, const struct lbfo_xport_ops *xops, void *xenv,
		uint64_t now)
{
	const struct lbfo_path_config *pc = &c->paths[path];
	struct lbfo_session_config sc = {
		.xops = xops ? xops : &lbfo_xport_libiscsi,
		.xenv = xenv,
		.xp = {
			.initiator = c->initiator, .target = target, .portal = portal,
			.chap_user = pc->chap_user[0] ? pc->chap_user : c->chap_user,
			.chap_password = pc->chap_user[0] ? pc->chap_password : c->chap_password,
			.mutual_user = pc->mutual_user[0] ? pc->mutual_user : c->mutual_user,
			.mutual_password = pc->mutual_user[0] ? pc->mutual_password : c->mutual_password,
			.header_digest = c->header_digest, .security_stage = true,
			.isid_rnd = probe_rnd(), .isid_qual = (uint16_t)(PROBE_QUAL | qual),
		},
		.login_timeout_ms = c->login_timeout_ms, .nop_interval_ms = 60000,
		.nop_timeout_ms = 120000, .cmd_timeout_ms = c->login_timeout_ms,
		.reconnect_min_ms = 60000, .reconnect_max_ms = 60000,
	};

	memset(p, 0, sizeof(*p));
	p->tpgt = -1;
	p->path = path;
	p->cur = -1;
	snprintf(p->portal, sizeof(p->portal), "%s", portal);
	snprintf(sc.name, sizeof(sc.name), "%s", pc->name);
	lbfo_session_init(&p->s, &sc, &probe_ops, p, now);
}

void probe_fini(struct probe *p)
{
	lbfo_session_destroy(&p->s);
	free(p->luns);
}

/* ---- what a probe reads: the LUN list, then each LUN --------------------------- */

static void next_lun(struct probe *p, uint64_t now);

static void ident_done(struct lbfo_ident_reader *r, int rc, uint64_t now)
{
	struct probe *p = r->priv;
	struct probe_lun *l = &p->luns[p->cur];

	l->rc = rc;
	l->id = r->id; /* also on failure: the peripheral type tells a non-disk */
	if (rc == 0)
		l->alua = r->alua_state;
	else
		snprintf(l->why, sizeof(l->why), "%s", r->err);
	next_lun(p, now);
}

static void next_lun(struct probe *p, uint64_t now)
{
	while (++p->cur < p->nluns) {
		struct probe_lun *l = &p->luns[p->cur];

		if (lbfo_ident_start(&p->r, &p->s, l->lun, ident_done, p, now) == 0)
			return;
		l->rc = -1;
		snprintf(l->why, sizeof(l->why), "%s", p->r.err);
	}
	p->done = true;
}

static int set_luns(struct probe *p, const int *luns, int n)
{
	int i;

	p->luns = calloc(n ? (size_t)n : 1, sizeof(*p->luns));
	if (!p->luns)
		return -1;
	for (i = 0; i < n; i++) {
		p->luns[i].lun = luns[i];
		p->luns[i].rc = -1;
	}
	p->nluns = n;
	return 0;
}

static void report_luns_done(struct lbfo_scmd *sc, const struct lbfo_scsi_result *r, uint64_t now)
{
	struct probe *p = (struct probe *)((char *)sc - offsetof(struct probe, rl));
	int luns[LBFO_SAN_MAX_LUNS], n = -1;
	enum lbfo_scsi_event ev;
	enum lbfo_scsi_action a = r->status == LBFO_XS_PATH_LOST ? LBFO_ACT_PATH_FAIL :
		lbfo_scsi_action(r, &ev);

	if (a == LBFO_ACT_RETRY_NOW && ++p->rl_retries <= LBFO_UA_RETRIES) {
		if (lbfo_session_submit(&p->s, &p->rl, now) == 0)
			return;
	}
	if (a == LBFO_ACT_OK)
		n = lbfo_parse_report_luns(p->rlbuf, sizeof(p->rlbuf) - r->residual, luns,
					   LBFO_SAN_MAX_LUNS);
	if (n < 0 || set_luns(p, luns, n) < 0) {
		char what[96];

		snprintf(p->why, sizeof(p->why), "REPORT LUNS: %s", a == LBFO_ACT_OK ?
			 "malformed answer" : lbfo_scsi_describe(r, what, sizeof(what)));
		p->done = true;
		return;
	}
	next_lun(p, now);
}

/* Logged in: the LUN list (asked, or the one configured), then each LUN. */
static void probe_start_reading(struct probe *p, int only_lun, uint64_t now)
{
	p->reading = true;
	if (only_lun >= 0) {
		if (set_luns(p, &only_lun, 1) < 0) {
			snprintf(p->why, sizeof(p->why), "out of memory");
			p->done = true;
			return;
		}
		next_lun(p, now);
		return;
	}
	memset(&p->rl, 0, sizeof(p->rl));
	lbfo_cdb_report_luns(&p->rl.x.cdb, sizeof(p->rlbuf));
	p->rl.x.lun = 0;
	p->iov.iov_base = p->rlbuf;
	p->iov.iov_len = sizeof(p->rlbuf);
	p->rl.x.iov = &p->iov;
	p->rl.x.niov = 1;
	p->rl.done = report_luns_done;
	if (lbfo_session_submit(&p->s, &p->rl, now) < 0) {
		snprintf(p->why, sizeof(p->why), "REPORT LUNS could not be sent");
		p->done = true;
	}
}

/* ---- the local loop ----------------------------------------------------------------- */

void probe_run(struct probe **ps, int n, bool (*done)(struct probe **, int, void *), void *ctx,
	       uint64_t deadline)
{
	struct pollfd *pfd = calloc((size_t)n * 2 + 1, sizeof(*pfd));

	if (!pfd)
		return;
	for (;;) {
		uint64_t now = lbfo_now_ns();
		int i, k = 0, ms;

		for (i = 0; i < n; i++)
			lbfo_session_service(&ps[i]->s, NULL, 0, now);
		if (done(ps, n, ctx) || now >= deadline)
			break;
		for (i = 0; i < n; i++)
			k += lbfo_session_pollfds(&ps[i]->s, pfd + k, 2);
		ms = (int)((deadline - now) / LBFO_NS_PER_MS);
		if (poll(pfd, (nfds_t)k, ms > 50 ? 50 : ms + 1) < 0 && errno != EINTR)
			break;
		now = lbfo_now_ns();
		for (i = 0; i < n; i++)
			lbfo_session_service(&ps[i]->s, pfd, k, now);
	}
	free(pfd);
}

/* Every probe has read what it could (or failed). Starts the reading on
 * each probe that has logged in. ctx: the one LUN to read, or NULL. */
bool probe_read_all(struct probe **ps, int n, void *ctx)
{
	const int *only = ctx;
	bool all = true;
	int i;

	for (i = 0; i < n; i++) {
		struct probe *p = ps[i];

		if (p->up && !p->reading && !p->down && p->s.st == LBFO_SS_UP)
			probe_start_reading(p, only ? *only : -1, lbfo_now_ns());
		if (!p->down && !p->done)
			all = false;
	}
	return all;
}

/* ---- the reinstatement check ------------------------------------------------------ */

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
	return x->old->down || lbfo_now_ns() - x->up_at > (uint64_t)CLOSE_WAIT_MS * LBFO_NS_PER_MS;
}

/* A second login with old's ISID through neu's portal: did the target end old? */
static bool second_login_closes(const struct lbfo_lu_config *c, const char *target,
				struct probe *old, int path, const char *portal, struct probe *neu,
				const struct lbfo_xport_ops *xops, void *xenv)
{
	struct closed_ctx x = { old, neu, 0 };
	struct probe *ps[2] = { old, neu };

	probe_init(neu, c, target, path, portal, old->s.cfg.xp.isid_qual & 0x7fff, xops, xenv,
		   lbfo_now_ns());
	probe_run(ps, 2, closed_or_failed, &x, lbfo_now_ns() +
		  (uint64_t)(c->login_timeout_ms + CLOSE_WAIT_MS) * LBFO_NS_PER_MS);
	return neu->up && !neu->down && old->down;
}

/* pp: the target's probes (indexed like the target's paths), logged in. */
void probe_check_reinstatement(const struct lbfo_lu_config *c, const char *target,
			       struct probe *pp, int n, struct lbfo_tgt_check *chk,
			       const struct lbfo_xport_ops *xops, void *xenv)
{
	struct probe *a = NULL, *b, *cur;
	int i, ia = -1, ncross = 0;

	for (i = 0; i < n && !a; i++)
		if (pp[i].up && !pp[i].down) {
			a = &pp[i];
			ia = i;
		}
	if (!a)
		return;
	chk->checked = true;
	b = calloc(2, sizeof(*b));
	if (!b)
		return;
	chk->reinstate_own = second_login_closes(c, target, a, a->path, a->portal, &b[0], xops,
						 xenv);
	cur = &b[0];
	for (i = 0; chk->reinstate_own && i < n; i++) {
		struct probe *nx = cur == &b[0] ? &b[1] : &b[0];

		if (i == ia || !pp[i].up || pp[i].tpgt < 0 || pp[i].tpgt != a->tpgt)
			continue;
		if (nx->s.x || nx->s.st != LBFO_SS_OFF)
			probe_fini(nx);
		chk->cross_tested[ia] = chk->cross_tested[i] = true;
		if (second_login_closes(c, target, cur, pp[i].path, pp[i].portal, nx, xops, xenv)) {
			chk->reinstate_cross[ia] = chk->reinstate_cross[i] = true;
			ncross++;
			cur = nx;
		}
	}
	snprintf(chk->note, sizeof(chk->note), "%s; %s", chk->reinstate_own ?
		 "a second login with one ISID closed the first" :
		 "a second login with one ISID left the first open",
		 !chk->reinstate_own ? "fencing through another portal not counted" :
		 ncross ? "also through another portal of the same group" :
		 "no other portal of the same group to check");
	probe_fini(&b[0]);
	probe_fini(&b[1]);
	free(b);
}
