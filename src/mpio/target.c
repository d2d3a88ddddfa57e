/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A target: one path session per portal, carrying every LU of the target
 * that this process serves, as a real initiator does (one session per
 * path per target, not one per LU). The session's events go to each LU
 * over it (lu.c): logged in, failed, a fence ended. What belongs to the
 * session rather than to an LU lives here: the ISID and the nexus
 * generation, the portal group of the last login, the interface the
 * session leaves by (for the link watch), and whether any LU needs the
 * session so urgently that no flap hold-down may delay it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lu_internal.h"

void lbfo_tgt_check_init(struct lbfo_tgt_check *chk)
{
	int i;

	memset(chk, 0, sizeof(*chk));
	for (i = 0; i < LBFO_MAX_PORTALS; i++)
		chk->tpgt[i] = -1;
}

/* ---- the session's events, to every LU over it ------------------------------- */

static void on_up(struct lbfo_session *s, void *owner, int tpgt, uint64_t now)
{
	struct tgt_path *tp = owner;
	struct lbfo_tgt *t = tp->tgt;
	int fd = t->xops->socket(s->x), i;

	tp->tpgt_before = tp->tpgt;
	tp->tpgt = tpgt;
	/* A login with the ISID of the session before reinstates it; one
	 * with a new nexus (a reservation fence moved it on) ends nothing. */
	tp->same_nexus = !tp->gen_fresh;
	tp->gen_fresh = false;
	tp->logins++;
	/* The interface this session leaves by, for the link watch. */
	tp->ifindex = t->cfg.link_watch && fd >= 0 ?
		lu_link_of_socket(fd, tp->cfg.interface, tp->ifname, sizeof(tp->ifname)) : 0;
	if (t->cfg.link_watch && fd >= 0 && !tp->ifindex && tp->logins == 1)
		tgt_log(t, LBFO_LOG_INFO, "path %s (%s): link watch cannot tell its interface "
			"(set interface=); a link going down is found by nop_timeout",
			tp->cfg.name, tp->portal);
	for (i = 0; i < tp->nusers && s->st == LBFO_SS_UP; i++)
		lu_path_on_up(tp->users[i], now);
}

static void on_down(struct lbfo_session *s, void *owner, bool was_up, const char *reason,
		    uint64_t now)
{
	struct tgt_path *tp = owner;
	int i;

	(void)s;
	for (i = 0; i < tp->nusers; i++)
		lu_path_on_down(tp->users[i], was_up, reason, now);
}

/* A fence of the session ended. Reinstated: every LU that owed a fence
 * for this session's failure is paid (the old session is gone, with
 * whatever of theirs it carried). Failed: those that were waiting for it
 * back off. */
static void on_fenced(struct lbfo_session *s, void *owner, bool ok, const char *why,
		      uint64_t now)
{
	struct tgt_path *tp = owner;
	int i;

	(void)s;
	for (i = 0; i < tp->nusers; i++) {
		struct lu_path *p = tp->users[i];

		if (p->owes_fence && (ok || p->fence_running))
			lu_fence_on_fenced(p, ok, why, now);
	}
}

static void on_log(struct lbfo_session *s, void *owner, int level, const char *msg)
{
	(void)s;
	tgt_log(((struct tgt_path *)owner)->tgt, level, "%s", msg);
}

static const struct lbfo_session_ops session_ops = {
	.up = on_up, .down = on_down, .fenced = on_fenced, .log = on_log,
};

/* ---- the LUs over a session ----------------------------------------------------- */

void tgt_attach(struct tgt_path *tp, struct lu_path *p)
{
	if (tp->nusers == tp->users_cap) {
		int cap = tp->users_cap ? tp->users_cap * 2 : 4;
		struct lu_path **u = realloc(tp->users, (size_t)cap * sizeof(*u));

		if (!u)
			abort(); /* a few pointers: nothing sensible to do without them */
		tp->users = u;
		tp->users_cap = cap;
	}
	tp->users[tp->nusers++] = p;
	/* Joining a session that is up already: the LU reads its identity
	 * over it at once. */
	if (tp->s.st == LBFO_SS_UP && !tp->s.failing)
		lu_path_on_up(p, tp->tgt->now);
}

void tgt_detach(struct tgt_path *tp, struct lu_path *p)
{
	int i;

	for (i = 0; i < tp->nusers; i++)
		if (tp->users[i] == p) {
			tp->users[i] = tp->users[--tp->nusers];
			return;
		}
}

/* ---- life ------------------------------------------------------------------------- */

static void session_config(const struct lbfo_tgt *t, const struct tgt_path *tp,
			   struct lbfo_session_config *sc)
{
	const struct lbfo_lu_config *c = &t->cfg;
	const struct lbfo_path_config *pc = &tp->cfg;

	memset(sc, 0, sizeof(*sc));
	snprintf(sc->name, sizeof(sc->name), "%s", pc->name);
	sc->xops = t->xops;
	sc->xenv = t->xenv;
	sc->xp.initiator = c->initiator;
	sc->xp.target = t->name;
	sc->xp.portal = tp->portal;
	sc->xp.chap_user = pc->chap_user[0] ? pc->chap_user : c->chap_user;
	sc->xp.chap_password = pc->chap_user[0] ? pc->chap_password : c->chap_password;
	sc->xp.mutual_user = pc->mutual_user[0] ? pc->mutual_user : c->mutual_user;
	sc->xp.mutual_password = pc->mutual_user[0] ? pc->mutual_password : c->mutual_password;
	sc->xp.header_digest = c->header_digest;
	sc->xp.security_stage = true;
	sc->xp.tcp_user_timeout_ms = c->nop_timeout_ms * 2;
	tgt_path_isid(tp, &sc->xp.isid_rnd, &sc->xp.isid_qual);
	sc->login_timeout_ms = c->login_timeout_ms;
	sc->nop_interval_ms = c->nop_interval_ms;
	sc->nop_timeout_ms = c->nop_timeout_ms;
	sc->cmd_timeout_ms = c->cmd_timeout_ms;
	sc->reconnect_min_ms = c->reconnect_min_ms;
	sc->reconnect_max_ms = c->reconnect_max_ms;
	sc->flap_window_ms = c->flap_window_ms;
	sc->flap_hold_max_ms = c->flap_hold_max_ms;
}

struct lbfo_tgt *lbfo_tgt_create(const struct lbfo_lu_config *c, const char *target,
				 const char *scope, const int *paths, int npaths,
				 const struct lbfo_tgt_check *chk, const struct lbfo_lu_env *env,
				 uint64_t now, char *err, size_t errlen)
{
	struct lbfo_tgt *t;
	int i;

	if (npaths < 1 || npaths > LBFO_MAX_PORTALS) {
		snprintf(err, errlen, "target %s: %d paths (1 to %d)", target, npaths,
			 LBFO_MAX_PORTALS);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->paths = calloc((size_t)npaths, sizeof(*t->paths)))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->cfg = *c;
	snprintf(t->name, sizeof(t->name), "%s", target);
	if (chk)
		t->chk = *chk;
	else
		lbfo_tgt_check_init(&t->chk);
	t->xops = env && env->xops ? env->xops : &lbfo_xport_libiscsi;
	t->xenv = env ? env->xenv : NULL;
	t->npaths = npaths;
	t->now = now;
	for (i = 0; i < npaths; i++) {
		struct tgt_path *tp = &t->paths[i];

		if (paths[i] < 0 || paths[i] >= c->npaths) {
			snprintf(err, errlen, "target %s: no path %d", target, paths[i]);
			goto fail;
		}
		tp->idx = i;
		tp->cfg_idx = paths[i];
		tp->tgt = t;
		tp->cfg = c->paths[paths[i]];
		tp->tpgt = tp->tpgt_before = t->chk.tpgt[i];
		if (lbfo_portal_normalise(tp->cfg.portal, tp->portal, sizeof(tp->portal)) < 0) {
			snprintf(err, errlen, "path %s: portal '%s': write an IPv6 address as "
				 "[ADDRESS]:PORT", tp->cfg.name, tp->cfg.portal);
			goto fail;
		}
	}
	tgt_identity_init(t, scope ? scope : "");
	for (i = 0; i < npaths; i++) {
		struct lbfo_session_config sc;

		session_config(t, &t->paths[i], &sc);
		lbfo_session_init(&t->paths[i].s, &sc, &session_ops, &t->paths[i], now);
	}
	return t;
fail:
	free(t->paths);
	free(t);
	return NULL;
}

void lbfo_tgt_shutdown(struct lbfo_tgt *t)
{
	int i;

	if (!t)
		return;
	/* Abandoned at once (SO_LINGER 0); what was in flight gets its
	 * done(PATH_LOST); no op is called and no login follows. */
	for (i = 0; i < t->npaths; i++)
		lbfo_session_destroy(&t->paths[i].s);
}

void lbfo_tgt_destroy(struct lbfo_tgt *t)
{
	int i;

	if (!t)
		return;
	for (i = 0; i < t->npaths; i++) {
		lbfo_session_destroy(&t->paths[i].s);
		free(t->paths[i].users);
	}
	free(t->paths);
	free(t);
}

const char *lbfo_tgt_name(const struct lbfo_tgt *t)
{
	return t->name;
}

int lbfo_tgt_npaths(const struct lbfo_tgt *t)
{
	return t->npaths;
}

int lbfo_tgt_path_of(const struct lbfo_tgt *t, int cfg)
{
	int i;

	for (i = 0; i < t->npaths; i++)
		if (t->paths[i].cfg_idx == cfg)
			return i;
	return -1;
}

int lbfo_tgt_path_cfg(const struct lbfo_tgt *t, int path)
{
	return path >= 0 && path < t->npaths ? t->paths[path].cfg_idx : -1;
}

/* ---- the loop contract ---------------------------------------------------------- */

int lbfo_tgt_pollfds(struct lbfo_tgt *t, struct pollfd *pfd, int max)
{
	int i, n = 0;

	for (i = 0; i < t->npaths && n < max; i++)
		n += lbfo_session_pollfds(&t->paths[i].s, pfd + n, max - n);
	return n;
}

/* Urgent while any LU over the session has I/O waiting and no path to
 * carry it: then no flap hold-down delays its login (the last usable
 * path is never held out). */
static void urgency(struct tgt_path *tp, uint64_t now)
{
	bool urgent = false;
	int i;

	for (i = 0; i < tp->nusers && !urgent; i++)
		urgent = tp->users[i]->lu->urgent;
	if (urgent != tp->s.urgent)
		lbfo_session_set_urgent(&tp->s, urgent, now);
}

void lbfo_tgt_service(struct lbfo_tgt *t, const struct pollfd *pfd, int n, uint64_t now)
{
	int i;

	t->now = now;
	for (i = 0; i < t->npaths; i++) {
		urgency(&t->paths[i], now);
		lbfo_session_service(&t->paths[i].s, pfd, n, now);
	}
}

void lbfo_tgt_flush(struct lbfo_tgt *t)
{
	int i;

	for (i = 0; i < t->npaths; i++)
		lbfo_session_flush(&t->paths[i].s);
}

uint64_t lbfo_tgt_next_timer(const struct lbfo_tgt *t)
{
	uint64_t next = UINT64_MAX;
	int i;

	for (i = 0; i < t->npaths; i++) {
		uint64_t x = lbfo_session_next_timer(&t->paths[i].s);

		if (x < next)
			next = x;
	}
	return next;
}

int lbfo_tgt_link_down(struct lbfo_tgt *t, unsigned ifindex, const char *what)
{
	int i, n = 0;

	for (i = 0; i < t->npaths; i++) {
		struct tgt_path *tp = &t->paths[i];

		if (tp->ifindex != ifindex || tp->s.st != LBFO_SS_UP || tp->s.failing)
			continue;
		lbfo_session_fail(&tp->s, "link %s %s (rtnetlink)", tp->ifname, what);
		n++;
	}
	return n;
}

void lbfo_tgt_path_disable(struct lbfo_tgt *t, int path, const char *why)
{
	if (path < 0 || path >= t->npaths)
		return;
	t->paths[path].off = true;
	lbfo_session_disable(&t->paths[path].s, why);
}

void lbfo_tgt_path_enable(struct lbfo_tgt *t, int path, uint64_t now)
{
	if (path < 0 || path >= t->npaths)
		return;
	t->paths[path].off = false;
	lbfo_session_enable(&t->paths[path].s, now);
}
