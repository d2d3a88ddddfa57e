/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The path session: login with backoff, liveness, command age, flap
 * hold-down, and the reinstating fence login. See session.h.
 *
 * Failures found inside transport callbacks are deferred (failing +
 * reason) and acted on at the end of lbfo_session_service(), outside any
 * callback: the connection is abandoned (SO_LINGER 0), every command in
 * flight gets done(PATH_LOST), then the owner hears ops->down().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "path_session.h"

#define NS_PER_MS 1000000ull
static uint64_t ms_ns(uint32_t ms) { return (uint64_t)ms * NS_PER_MS; }

#define LOG_ERR 3
#define LOG_WARNING 4
#define LOG_NOTICE 5
#define LOG_INFO 6

const char *lbfo_session_state_name(enum lbfo_session_state s)
{
	static const char *const names[LBFO_SS__MAX] = {
		[LBFO_SS_DOWN] = "down", [LBFO_SS_LOGIN] = "login", [LBFO_SS_UP] = "up",
		[LBFO_SS_OFF] = "off",
	};
	return (unsigned)s < LBFO_SS__MAX ? names[s] : "?";
}

static void slog(struct lbfo_session *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void slog(struct lbfo_session *s, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->ops->log)
		s->ops->log(s, s->owner, level, msg);
}

void lbfo_session_init(struct lbfo_session *s, const struct lbfo_session_config *cfg,
		       const struct lbfo_session_ops *ops, void *owner, uint64_t now)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->ops = ops;
	s->owner = owner;
	s->st = LBFO_SS_DOWN;
	s->tpgt = -1;
	s->fence_tpgt = -1;
	s->next_attempt_ns = now;
}

void lbfo_session_fail(struct lbfo_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failing)
		return;
	s->failing = true;
	va_start(ap, fmt);
	vsnprintf(s->fail_reason, sizeof(s->fail_reason), fmt, ap);
	va_end(ap);
}

/* ---- commands ---------------------------------------------------------- */

static void unlink_cmd(struct lbfo_session *s, struct lbfo_scmd *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	c->prev = c->next = NULL;
	c->s = NULL;
	s->inflight--;
}

static void xcmd_done(struct lbfo_xport_cmd *xc, const struct lbfo_scsi_result *r)
{
	struct lbfo_scmd *c = (struct lbfo_scmd *)xc; /* x is the first member */
	struct lbfo_session *s = c->s;
	uint64_t now = s->now;

	unlink_cmd(s, c);
	s->last_life_ns = now; /* an answer is life */
	c->done(c, r, now);
}

int lbfo_session_submit(struct lbfo_session *s, struct lbfo_scmd *c, uint64_t now)
{
	if (s->st != LBFO_SS_UP || s->failing)
		return -1;
	c->x.done = xcmd_done;
	c->s = s;
	c->start_ns = now;
	c->next = NULL;
	c->prev = s->tail;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->inflight++;
	if (s->cfg.xops->submit(s->x, &c->x) < 0) {
		unlink_cmd(s, c);
		lbfo_session_fail(s, "cannot queue a command: %s", s->cfg.xops->error(s->x));
		return -1;
	}
	return 0;
}

bool lbfo_session_flush(struct lbfo_session *s)
{
	const struct lbfo_xport_ops *xo = s->cfg.xops;

	if (!s->x || s->st != LBFO_SS_UP || s->failing || !(xo->events(s->x) & POLLOUT))
		return false;
	if (xo->service(s->x, POLLOUT) < 0) {
		lbfo_session_fail(s, "%s", xo->error(s->x));
		return true;
	}
	return (xo->events(s->x) & POLLOUT) != 0;
}

/* Every command in flight gets done(PATH_LOST), oldest first. */
static void lose_inflight(struct lbfo_session *s, uint64_t now)
{
	struct lbfo_scsi_result lost = { .status = LBFO_XS_PATH_LOST };

	while (s->head) {
		struct lbfo_scmd *c = s->head;

		unlink_cmd(s, c);
		c->x.xt = NULL;
		c->done(c, &lost, now);
	}
}

/* ---- login and failure ------------------------------------------------- */

static void schedule_retry(struct lbfo_session *s, uint64_t now)
{
	uint32_t wait = s->backoff_ms ? s->backoff_ms : s->cfg.reconnect_min_ms;

	s->backoff_ms = wait * 2 > s->cfg.reconnect_max_ms ? s->cfg.reconnect_max_ms : wait * 2;
	if (s->hold_ms > wait && !s->urgent)
		wait = s->hold_ms;
	s->next_attempt_ns = now + ms_ns(wait);
}

static void login_cb(struct lbfo_xport *x, bool ok, int tpgt, void *priv)
{
	struct lbfo_session *s = priv;

	if (x != s->x || s->st != LBFO_SS_LOGIN)
		return;
	if (!ok) {
		lbfo_session_fail(s, "%s", s->cfg.xops->error(x));
		return;
	}
	s->tpgt = tpgt;
	s->st = LBFO_SS_UP;
	s->logins++;
	/* The initiator port of this session: a fence of it later must log
	 * in as this port, whatever the next login's ISID is. */
	s->nexus_rnd = s->cfg.xp.isid_rnd;
	s->nexus_qual = s->cfg.xp.isid_qual;
	s->backoff_ms = 0;
	s->nop_out = false;
	s->last_acked = 0;
	s->acked_at_ns = 0;
	s->last_error[0] = '\0';
	/* up_since, last_life and the NOP clock are set by the service call
	 * that delivered this (it knows the time). */
	s->up_since_ns = 0;
}

static void connect(struct lbfo_session *s, uint64_t now)
{
	char err[LBFO_ERR_LEN];

	s->x = s->cfg.xops->open(s->cfg.xenv, &s->cfg.xp, login_cb, s, err, sizeof(err));
	if (!s->x) {
		snprintf(s->last_error, sizeof(s->last_error), "%s", err);
		schedule_retry(s, now);
		if (s->ops->down)
			s->ops->down(s, s->owner, false, err, now);
		return;
	}
	s->st = LBFO_SS_LOGIN;
	s->login_deadline_ns = now + ms_ns(s->cfg.login_timeout_ms);
}

/* Act on a deferred failure: abandon, hand back, tell the owner. */
static void reap(struct lbfo_session *s, uint64_t now)
{
	bool was_up = s->st == LBFO_SS_UP;
	struct lbfo_xport *x = s->x;

	if (!s->failing)
		return;
	s->failing = false;
	snprintf(s->last_error, sizeof(s->last_error), "%s", s->fail_reason);
	s->x = NULL;
	s->st = s->want_off ? LBFO_SS_OFF : LBFO_SS_DOWN;
	s->want_off = false;
	s->nop_out = false;
	if (x)
		s->cfg.xops->abandon(x);
	if (was_up) {
		s->failures++;
		/* Failing again soon after coming back: flapping. */
		if (s->failures > 1 && s->up_since_ns &&
		    now - s->up_since_ns < ms_ns(s->cfg.flap_window_ms)) {
			s->flapping = true;
			s->hold_ms = s->hold_ms ? s->hold_ms * 2 : 2000;
			if (s->hold_ms > s->cfg.flap_hold_max_ms)
				s->hold_ms = s->cfg.flap_hold_max_ms;
		}
	}
	schedule_retry(s, now);
	lose_inflight(s, now);
	if (s->ops->down)
		s->ops->down(s, s->owner, was_up, s->last_error, now);
}

void lbfo_session_disable(struct lbfo_session *s, const char *why)
{
	if (s->st == LBFO_SS_UP || s->st == LBFO_SS_LOGIN) {
		lbfo_session_fail(s, "%s", why);
		s->want_off = true;
	} else {
		s->st = LBFO_SS_OFF;
		snprintf(s->last_error, sizeof(s->last_error), "%s", why);
	}
}

void lbfo_session_enable(struct lbfo_session *s, uint64_t now)
{
	if (s->st != LBFO_SS_OFF)
		return;
	s->st = LBFO_SS_DOWN;
	s->next_attempt_ns = now;
	s->backoff_ms = 0;
}

void lbfo_session_set_urgent(struct lbfo_session *s, bool urgent, uint64_t now)
{
	if (urgent && !s->urgent && s->st == LBFO_SS_DOWN && s->hold_ms) {
		/* Drop the hold-down: the next attempt follows the backoff. */
		uint64_t plain = now + ms_ns(s->backoff_ms ? s->backoff_ms : s->cfg.reconnect_min_ms);

		if (s->next_attempt_ns > plain)
			s->next_attempt_ns = plain;
		slog(s, LOG_NOTICE, "path %s: last usable path, flap hold-down skipped",
		     s->cfg.name);
	}
	s->urgent = urgent;
}

void lbfo_session_set_isid(struct lbfo_session *s, uint32_t rnd, uint16_t qual)
{
	s->cfg.xp.isid_rnd = rnd & 0xffffff;
	s->cfg.xp.isid_qual = qual;
}

/* ---- fencing --------------------------------------------------------- */

static void fence_login_cb(struct lbfo_xport *x, bool ok, int tpgt, void *priv)
{
	struct lbfo_session *s = priv;

	if (x != s->fx || s->fence_st != FENCE_LOGIN)
		return;
	if (!ok) {
		s->fence_st = FENCE_FAILED;
		snprintf(s->fence_err, sizeof(s->fence_err), "%s", s->cfg.xops->error(x));
		return;
	}
	/* A session is its ISID within one portal group: a login through
	 * another group opens a new session and fences nothing. */
	if (s->tpgt >= 0 && tpgt >= 0 && tpgt != s->tpgt) {
		s->fence_st = FENCE_FAILED;
		snprintf(s->fence_err, sizeof(s->fence_err),
			 "login through portal group %d, the path's is %d: not a reinstatement",
			 tpgt, s->tpgt);
		return;
	}
	s->fence_tpgt = tpgt;
	s->fence_st = FENCE_OK;
}

int lbfo_session_fence(struct lbfo_session *s, const struct lbfo_session *via, uint64_t now)
{
	struct lbfo_xport_params p = via->cfg.xp;
	char err[LBFO_ERR_LEN];

	if (s->fence_st == FENCE_LOGIN || s->st == LBFO_SS_LOGIN || s->st == LBFO_SS_UP)
		return -1;
	/* via's portal and credentials, s's initiator port: the ISID of its
	 * last session (the next login may be a new nexus). */
	p.isid_rnd = s->logins ? s->nexus_rnd : s->cfg.xp.isid_rnd;
	p.isid_qual = s->logins ? s->nexus_qual : s->cfg.xp.isid_qual;
	p.initiator = s->cfg.xp.initiator;
	p.security_stage = true;
	snprintf(s->fence_via, sizeof(s->fence_via), "%s", via->cfg.name);
	s->fence_start_ns = now;
	s->fence_deadline_ns = now + ms_ns(s->cfg.login_timeout_ms);
	s->fence_err[0] = '\0';
	s->fx = s->cfg.xops->open(s->cfg.xenv, &p, fence_login_cb, s, err, sizeof(err));
	if (!s->fx) {
		s->fence_st = FENCE_FAILED;
		snprintf(s->fence_err, sizeof(s->fence_err), "%s", err);
		return 0; /* reported at the next service */
	}
	s->fence_st = FENCE_LOGIN;
	return 0;
}

bool lbfo_session_fencing(const struct lbfo_session *s)
{
	return s->fence_st != FENCE_IDLE;
}

static void fence_finish(struct lbfo_session *s, uint64_t now)
{
	bool ok = s->fence_st == FENCE_OK;
	char why[LBFO_ERR_LEN + 64];

	if (s->fence_st != FENCE_OK && s->fence_st != FENCE_FAILED) {
		if (s->fence_st != FENCE_LOGIN || now < s->fence_deadline_ns)
			return;
		snprintf(s->fence_err, sizeof(s->fence_err), "no login within %u ms",
			 s->cfg.login_timeout_ms);
	}
	/* The reinstatement happened at login; the fencing session itself
	 * is given up at once. */
	if (s->fx)
		s->cfg.xops->abandon(s->fx);
	s->fx = NULL;
	s->fence_st = FENCE_IDLE;
	snprintf(why, sizeof(why), "%s", ok ? "reinstated" : s->fence_err);
	if (s->ops->fenced)
		s->ops->fenced(s, s->owner, ok, why, now);
}

/* ---- timers and service ---------------------------------------------- */

/* Liveness: any reply, or bytes acknowledged out of the socket, count as
 * life, so a NOP queued behind a long transfer on a busy path does not
 * fail it. Returns false when the session was failed. */
static bool check_life(struct lbfo_session *s, uint64_t now)
{
	const struct lbfo_xport_ops *xo = s->cfg.xops;
	uint64_t acked;
	bool expecting;
	int unacked;

	if (s->nop_out && xo->nops_in_flight(s->x) == 0) {
		s->nop_out = false;
		s->last_life_ns = now;
	}
	/* Life seen lately (an answer, a NOP-In): the socket's counters are
	 * asked (two system calls) only when the path has been quiet a while,
	 * not on every turn of a busy loop. */
	if (now - s->last_life_ns < ms_ns(s->cfg.nop_timeout_ms) / 4)
		goto age;
	unacked = xo->unacked(s->x);
	acked = xo->acked(s->x);
	if (acked != UINT64_MAX) {
		/* Growth since a sample taken after the last sign of life is
		 * life; a sample older than that is only a new baseline. */
		if (s->acked_at_ns >= s->last_life_ns && acked > s->last_acked)
			s->last_life_ns = now;
		s->last_acked = acked;
		s->acked_at_ns = now;
	}
	expecting = s->nop_out || s->inflight > 0 || unacked > 0 || xo->queued(s->x) > 0;
	if (!expecting) {
		s->last_life_ns = now;
	} else if (now > s->last_life_ns && now - s->last_life_ns > ms_ns(s->cfg.nop_timeout_ms)) {
		lbfo_session_fail(s, "no response for %llu ms (NOP timeout %u ms)",
				  (unsigned long long)((now - s->last_life_ns) / NS_PER_MS),
				  s->cfg.nop_timeout_ms);
		return false;
	}
age:
	/* Each command has its own deadline: a path that answers NOPs but
	 * not I/O is caught here. */
	if (s->head && now > s->head->start_ns &&
	    now - s->head->start_ns > ms_ns(s->cfg.cmd_timeout_ms)) {
		lbfo_session_fail(s, "command outstanding for %llu ms (cmd_timeout %u ms)",
				  (unsigned long long)((now - s->head->start_ns) / NS_PER_MS),
				  s->cfg.cmd_timeout_ms);
		return false;
	}
	return true;
}

static void tick_up(struct lbfo_session *s, uint64_t now)
{
	if (!s->up_since_ns) { /* logged in during this service call */
		s->up_since_ns = now;
		s->last_life_ns = now;
		s->nop_next_ns = now + ms_ns(s->cfg.nop_interval_ms);
		if (s->ops->up)
			s->ops->up(s, s->owner, s->tpgt, now);
		if (s->st != LBFO_SS_UP || s->failing)
			return;
	}
	if (!check_life(s, now))
		return;
	/* NOP-Out keepalive, also on standby paths (001 [0045]). */
	if (!s->nop_out && now >= s->nop_next_ns) {
		if (s->cfg.xops->nop(s->x) == 0)
			s->nop_out = true;
		s->nop_next_ns = now + ms_ns(s->cfg.nop_interval_ms);
	}
	if (s->flapping && now - s->up_since_ns > ms_ns(s->cfg.flap_window_ms)) {
		s->flapping = false;
		s->hold_ms = 0;
		slog(s, LOG_INFO, "path %s stable again", s->cfg.name);
	}
}

short lbfo_pollfd_revents(const struct pollfd *pfd, int n, int fd)
{
	int i;

	for (i = 0; fd >= 0 && i < n; i++)
		if (pfd[i].fd == fd)
			return pfd[i].revents;
	return 0;
}

void lbfo_session_service(struct lbfo_session *s, const struct pollfd *pfd, int n,
			  uint64_t now)
{
	const struct lbfo_xport_ops *xo = s->cfg.xops;

	s->now = now;
	if (s->fx && s->fence_st == FENCE_LOGIN &&
	    xo->service(s->fx, lbfo_pollfd_revents(pfd, n, xo->fd(s->fx))) < 0 &&
	    s->fence_st == FENCE_LOGIN) {
		s->fence_st = FENCE_FAILED;
		snprintf(s->fence_err, sizeof(s->fence_err), "%s", xo->error(s->fx));
	}
	fence_finish(s, now);
	if (s->x && (s->st == LBFO_SS_LOGIN || s->st == LBFO_SS_UP)) {
		short ev = lbfo_pollfd_revents(pfd, n, xo->fd(s->x));

		if (s->st == LBFO_SS_UP && (ev & POLLIN))
			s->last_life_ns = now; /* a reply is life */
		if (xo->service(s->x, ev) < 0)
			lbfo_session_fail(s, "%s", xo->error(s->x));
	}
	switch (s->st) {
	case LBFO_SS_DOWN:
		if (now >= s->next_attempt_ns && s->fence_st == FENCE_IDLE && !s->failing)
			connect(s, now);
		break;
	case LBFO_SS_LOGIN:
		if (now > s->login_deadline_ns)
			lbfo_session_fail(s, "no login within %u ms", s->cfg.login_timeout_ms);
		break;
	case LBFO_SS_UP:
		if (!s->failing)
			tick_up(s, now);
		break;
	default:
		break;
	}
	reap(s, now);
}

int lbfo_session_pollfds(const struct lbfo_session *s, struct pollfd *pfd, int max)
{
	const struct lbfo_xport_ops *xo = s->cfg.xops;
	struct lbfo_xport *xs[2] = { s->x, s->fx };
	int i, k = 0;

	for (i = 0; i < 2 && k < max; i++) {
		if (!xs[i] || xo->fd(xs[i]) < 0)
			continue;
		pfd[k].fd = xo->fd(xs[i]);
		pfd[k].events = xo->events(xs[i]);
		pfd[k].revents = 0;
		k++;
	}
	return k;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t lbfo_session_next_timer(const struct lbfo_session *s)
{
	uint64_t t = UINT64_MAX;

	if (s->failing)
		return 0;
	if (s->fence_st == FENCE_LOGIN)
		t = s->fence_deadline_ns;
	else if (s->fence_st != FENCE_IDLE)
		return 0;
	switch (s->st) {
	case LBFO_SS_DOWN:
		if (s->fence_st == FENCE_IDLE)
			t = min_u64(t, s->next_attempt_ns);
		break;
	case LBFO_SS_LOGIN:
		t = min_u64(t, s->login_deadline_ns + 1);
		break;
	case LBFO_SS_UP:
		if (!s->up_since_ns)
			return 0;
		t = min_u64(t, s->nop_next_ns);
		/* liveness is judged at the NOP clock and at the deadline */
		t = min_u64(t, s->last_life_ns + ms_ns(s->cfg.nop_timeout_ms) + 1);
		if (s->head)
			t = min_u64(t, s->head->start_ns + ms_ns(s->cfg.cmd_timeout_ms) + 1);
		if (s->flapping)
			t = min_u64(t, s->up_since_ns + ms_ns(s->cfg.flap_window_ms) + 1);
		break;
	default:
		break;
	}
	return t;
}

void lbfo_session_destroy(struct lbfo_session *s)
{
	if (s->fx)
		s->cfg.xops->abandon(s->fx);
	s->fx = NULL;
	if (s->x)
		s->cfg.xops->abandon(s->x);
	s->x = NULL;
	s->st = LBFO_SS_OFF;
	lose_inflight(s, s->now);
}
