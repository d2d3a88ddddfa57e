/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The queue: every command waits here for a path (and for the LU's
 * window, max_outstanding), goes out on the member the team's policy picks, and
 * comes back with an answer that the SCSI table (src/iscsi/scsi.c) turns
 * into an action: done, retry at once, retry after a backoff, try another
 * path, or the client's error.
 *
 * Two deadlines end every wait: the LU-wide one (no usable path for
 * no_path_timeout: everything waiting fails with EIO and new I/O fails at
 * once until a path is back) and one per command (a write parked behind a
 * fence, a command the LU keeps calling busy: EIO after no_path_timeout).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lu_internal.h"

#define RETRY_LATER_MIN_MS 10
#define RETRY_LATER_MAX_MS 1000
#define WS_ZERO_MAX 65536

static const uint8_t zero_block[WS_ZERO_MAX];

bool lu_is_write(const struct lu_cmd *c)
{
	return c->type != LBFO_IO_READ;
}

static enum lbfo_dir cmd_dir(const struct lu_cmd *c)
{
	return c->type == LBFO_IO_READ ? LBFO_READ : LBFO_WRITE;
}

static struct lu_cmd *of_core(struct lbfo_cmd *c)
{
	return (struct lu_cmd *)((char *)c - offsetof(struct lu_cmd, core));
}

void lu_requeue_returned(struct lbfo_lu *lu, struct lu_path *p, struct lbfo_cmd *ret,
			 uint64_t now)
{
	struct cmdq reads = { 0 }, writes = { 0 };
	struct lbfo_cmd *rc, *next;

	for (rc = ret; rc; rc = next) {
		struct lu_cmd *c = of_core(rc);

		next = rc->retry_next;
		c->in_team = false;
		c->path = -1;
		lu->requeued++;
		/* A parked write waits no longer than no_path_timeout. */
		if (lu_is_write(c) && !c->deadline_ns)
			c->deadline_ns = now + ms_ns(lu->cfg.no_path_timeout_ms);
		q_push(lu_is_write(c) ? &writes : &reads, c);
	}
	/* A write was in flight: whatever happens to it now, a stale copy
	 * may still reach the target until the path is fenced. */
	if (writes.n)
		lu_fence_owe(p, now);
	/* Retried commands go to the front, oldest first. */
	q_prepend_all(&lu->queue, &reads);
	q_prepend_all(&lu->parked, &writes);
	if (reads.n || writes.n)
		lu_log(lu, LBFO_LOG_INFO, "path %s: %u read(s) re-sent at once, %u write(s) wait "
		       "for the fence", p->cfg.name, reads.n, writes.n);
}

/* ---- sending ---------------------------------------------------------------- */

static void answer(struct lbfo_scmd *sc, const struct lbfo_scsi_result *r, uint64_t now);

static void build(struct lbfo_lu *lu, struct lu_cmd *c, int lun)
{
	struct lbfo_xport_cmd *x = &c->sc.x;
	uint32_t bs = lu->ident.block_size;

	memset(&c->sc, 0, sizeof(c->sc));
	x->lun = lun;
	x->iov = &c->iov;
	x->niov = 0;
	switch (c->type) {
	case LBFO_IO_READ:
	case LBFO_IO_WRITE:
		lbfo_cdb_rw16(&x->cdb, c->type == LBFO_IO_WRITE, c->lba, c->blocks, bs, c->fua);
		c->iov.iov_base = c->buf;
		c->iov.iov_len = (size_t)c->blocks * bs;
		x->niov = 1;
		break;
	case LBFO_IO_FLUSH:
		lbfo_cdb_sync_cache16(&x->cdb, 0, 0);
		break;
	case LBFO_IO_TRIM:
		lbfo_cdb_unmap(&x->cdb, c->lba, c->blocks, c->param);
		c->iov.iov_base = c->param;
		c->iov.iov_len = sizeof(c->param);
		x->niov = 1;
		break;
	case LBFO_IO_ZERO:
		lbfo_cdb_write_same16(&x->cdb, c->lba, c->blocks, bs, c->unmap);
		c->iov.iov_base = (void *)zero_block;
		c->iov.iov_len = bs;
		x->niov = 1;
		break;
	}
	c->sc.done = answer;
}

static void send_on(struct lbfo_lu *lu, struct lu_cmd *c, int m, uint64_t now)
{
	struct lu_path *p = &lu->paths[m];

	build(lu, c, p->lun);
	lbfo_team_start(&lu->team, &c->core, m, cmd_dir(c), c->bytes, now);
	c->in_team = true;
	c->path = m;
	/* A session that cannot take it fails; the team still has the
	 * command in flight on the member, so the hand-back requeues it. */
	lbfo_session_submit(p->s, &c->sc, now);
}

/* ALUA: with an active/optimized path usable, the others are not chosen
 * (dm-multipath's group_by_prio does the same). */
static uint32_t alua_mask(const struct lbfo_lu *lu)
{
	uint32_t mask = 0;
	bool optimized = false;
	int i;

	for (i = 0; i < lu->npaths; i++)
		optimized |= lu->paths[i].alua == LBFO_ALUA_OPTIMIZED &&
			     lbfo_member_usable(&lu->team, i) && lu_path_ready(&lu->paths[i]);
	if (!optimized)
		return 0;
	for (i = 0; i < lu->npaths; i++)
		if (lu->paths[i].alua != LBFO_ALUA_OPTIMIZED)
			mask |= 1u << i;
	return mask;
}

/* No member the policy may choose: a drained path that is up is still
 * better than no path (the last usable path is never held out). */
static int last_resort(const struct lbfo_lu *lu)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (lu->team.m[i].state == LBFO_MS_DRAINING && lu->paths[i].admin_down == false &&
		    !lu->paths[i].lu_failed && lu_path_ready(&lu->paths[i]))
			return i;
	for (i = 0; i < lu->npaths; i++)
		if (lu->team.m[i].state == LBFO_MS_DRAINING && lu_path_ready(&lu->paths[i]))
			return i;
	return -1;
}

/* The member for c: the policy's choice among the usable paths whose
 * session takes one more command of this LU (lu_path_may_send), else the
 * last resort; -1 when none can take it now. */
static int pick(struct lbfo_lu *lu, const struct lu_cmd *c, uint32_t mask, uint64_t now)
{
	int tries, m = -1;

	for (tries = 0; tries <= lu->npaths; tries++) {
		/* A path is a member of the same index; paths fit a word. */
		struct lbfo_mask ex = { { mask } };

		_Static_assert(LBFO_MAX_PATHS <= 32, "an LU's path mask is a uint32_t");
		m = lbfo_team_select_excluding(&lu->team, cmd_dir(c), c->bytes, now,
					       mask ? &ex : NULL);
		if (m == LBFO_SELECT_NO_PATH)
			m = last_resort(lu);
		if (m < 0 || !lu_path_ready(&lu->paths[m]))
			return -1;
		if (lu_path_may_send(&lu->paths[m]))
			return m;
		mask |= 1u << m; /* its session is full: another path, or wait */
	}
	return -1;
}

static void no_path_clock(struct lbfo_lu *lu, uint64_t now)
{
	if (lu_any_usable(lu)) {
		if (lu->no_path_since_ns)
			lu_log(lu, LBFO_LOG_NOTICE, "a path is back after %" PRIu64 " ms without any",
			       (uint64_t)((now - lu->no_path_since_ns) / LBFO_NS_PER_MS));
		lu->no_path_since_ns = 0;
		lu->no_path_expired = false;
	} else if (!lu->no_path_since_ns && (lu->queue.n || lu->parked.n)) {
		lu->no_path_since_ns = now;
		lu_log(lu, LBFO_LOG_WARNING, "no path to the LU: I/O waits up to %u ms",
		       lu->cfg.no_path_timeout_ms);
	}
}

void lu_dispatch(struct lbfo_lu *lu, uint64_t now)
{
	struct cmdq later = { 0 };
	bool barrier = !lu_fence_clear(lu);
	uint32_t mask = alua_mask(lu);
	struct lu_cmd *c;

	no_path_clock(lu, now);
	if (!barrier && lu->parked.n) {
		/* Every debt paid: the parked writes go, oldest first, before
		 * anything else. */
		lu_log(lu, LBFO_LOG_INFO, "fence barrier lifted: %u write(s) sent", lu->parked.n);
		q_prepend_all(&lu->queue, &lu->parked);
	}
	while ((c = q_pop(&lu->queue))) {
		int m;

		if (c->not_before_ns > now) {
			q_push(&later, c);
			continue;
		}
		if (barrier && lu_is_write(c)) {
			/* Behind the fence barrier: waits, with a deadline. */
			if (!c->deadline_ns)
				c->deadline_ns = now + ms_ns(lu->cfg.no_path_timeout_ms);
			q_push(&lu->parked, c);
			continue;
		}
		m = pick(lu, c, mask, now);
		if (m < 0) {
			q_push_front(&lu->queue, c);
			break;
		}
		send_on(lu, c, m, now);
	}
	/* Delayed retries go back in front of the rest. */
	q_prepend_all(&lu->queue, &later);
}

/* ---- answers ---------------------------------------------------------------- */

static void retry_later(struct lbfo_lu *lu, struct lu_cmd *c, uint64_t now, const char *what)
{
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RETRY_LATER_MIN_MS;
	if (c->backoff_ms > RETRY_LATER_MAX_MS)
		c->backoff_ms = RETRY_LATER_MAX_MS;
	if (!c->deadline_ns)
		c->deadline_ns = now + ms_ns(lu->cfg.no_path_timeout_ms);
	if (now >= c->deadline_ns) {
		lu_log(lu, LBFO_LOG_ERR, "command at LBA %" PRIu64 " still refused after %u ms (%s): "
		       "EIO", c->lba, lu->cfg.no_path_timeout_ms, what);
		lu_cmd_done(lu, c, -EIO);
		return;
	}
	c->not_before_ns = now + ms_ns(c->backoff_ms);
	q_push_front(&lu->queue, c);
}

static int error_of(enum lbfo_scsi_action a)
{
	switch (a) {
	case LBFO_ACT_ERROR_INVALID: return -EINVAL;
	case LBFO_ACT_ERROR_NOSPC: return -ENOSPC;
	case LBFO_ACT_ERROR_ROFS: return -EROFS;
	default: return -EIO;
	}
}

static void record_latency(struct lu_path *p, const struct lu_cmd *c, uint64_t now)
{
	uint64_t us = (now - c->core.start_ns) / 1000;
	int b = us ? 64 - __builtin_clzll(us) : 0;

	p->lat_hist[b < LBFO_LAT_BUCKETS ? b : LBFO_LAT_BUCKETS - 1]++;
	p->lat_count++;
}

static void act(struct lbfo_lu *lu, struct lu_path *p, struct lu_cmd *c,
		enum lbfo_scsi_action a, const struct lbfo_scsi_result *r, uint64_t now)
{
	char what[96];

	lbfo_scsi_describe(r, what, sizeof(what));
	switch (a) {
	case LBFO_ACT_OK:
		record_latency(p, c, now);
		lu_cmd_done(lu, c, 0);
		return;
	case LBFO_ACT_RETRY_NOW:
		p->retries++;
		if (++c->ua_retries <= LBFO_UA_RETRIES) {
			q_push_front(&lu->queue, c);
			return;
		}
		lu_log(lu, LBFO_LOG_ERR, "command at LBA %" PRIu64 " answered %s %u times: EIO",
		       c->lba, what, c->ua_retries);
		lu_cmd_done(lu, c, -EIO);
		return;
	case LBFO_ACT_RETRY_LATER:
		p->retries++;
		retry_later(lu, c, now, what);
		return;
	case LBFO_ACT_PATH_FAIL:
	case LBFO_ACT_CONFLICT:
		/* Not executed there: another path may take it. */
		if (a == LBFO_ACT_CONFLICT) {
			p->conflicts++;
			lu_path_fail_lu(p, "reservation conflict: the path's I_T nexus is not "
					"registered (preempted); it stays failed until `lbfoctl path "
					"restore %s`", p->cfg.name);
		} else {
			lu_path_fail_lu(p, "%s", what);
		}
		q_push_front(&lu->queue, c);
		return;
	default:
		p->errors++;
		if (c->type == LBFO_IO_ZERO && r->sense_key == LBFO_SK_ILLEGAL_REQUEST &&
		    (r->asc == 0x20 || r->asc == 0x24)) {
			lu->ws_unsupported = true;
			lu_log(lu, LBFO_LOG_NOTICE, "WRITE SAME refused (%s): zeroes are written "
			       "instead from now on", what);
			lu_cmd_done(lu, c, -EOPNOTSUPP);
			return;
		}
		lu_log(lu, LBFO_LOG_ERR, "%s at LBA %" PRIu64 " failed on the target: %s",
		       c->type == LBFO_IO_READ ? "read" : "command", c->lba, what);
		lu_cmd_done(lu, c, error_of(a));
	}
}

static void answer(struct lbfo_scmd *sc, const struct lbfo_scsi_result *r, uint64_t now)
{
	struct lu_cmd *c = (struct lu_cmd *)sc;
	struct lbfo_lu *lu = c->lu;
	struct lu_path *p = &lu->paths[c->path];
	enum lbfo_scsi_event ev = LBFO_EV_NONE;
	enum lbfo_scsi_action a;

	/* Lost with its path: the team hands it back when the owner hears
	 * of the failure (ops->down, right after this). */
	if (r->status == LBFO_XS_PATH_LOST)
		return;
	if (c->in_team && lbfo_team_complete(&lu->team, &c->core, now) < 0)
		return; /* handed back already: its new attempt owns the result */
	c->in_team = false;
	c->path = -1;
	a = lbfo_scsi_action(r, &ev);
	if (ev != LBFO_EV_NONE)
		p->pending_ev |= 1u << ev; /* acted on by the path's service (lu.c) */
	/* A transfer shorter than asked is not a success (SCSI residual). */
	if (a == LBFO_ACT_OK && r->underflow && r->residual &&
	    (c->type == LBFO_IO_READ || c->type == LBFO_IO_WRITE)) {
		lu->short_transfers++;
		lu_log(lu, LBFO_LOG_WARNING, "path %s: %s at LBA %" PRIu64 " moved %u bytes "
		       "less than asked: sent again", p->cfg.name,
		       c->type == LBFO_IO_READ ? "read" : "write", c->lba, r->residual);
		a = LBFO_ACT_RETRY_NOW;
	}
	act(lu, p, c, a, r, now);
}

/* ---- deadlines --------------------------------------------------------------- */

static int expire_queue(struct lbfo_lu *lu, struct cmdq *q, uint64_t now)
{
	struct cmdq keep = { 0 };
	struct lu_cmd *c;
	int n = 0;

	while ((c = q_pop(q))) {
		if (c->deadline_ns && now >= c->deadline_ns) {
			lu_cmd_done(lu, c, -EIO);
			n++;
		} else {
			q_push(&keep, c);
		}
	}
	*q = keep;
	return n;
}

void lu_expire(struct lbfo_lu *lu, uint64_t now)
{
	int n;

	n = expire_queue(lu, &lu->parked, now);
	if (n)
		lu_log(lu, LBFO_LOG_ERR, "%d write(s) waited %u ms for a fence: failed with EIO "
		       "(the fence debt stands: later writes wait for it too)", n,
		       lu->cfg.no_path_timeout_ms);
	n = expire_queue(lu, &lu->queue, now);
	if (n)
		lu_log(lu, LBFO_LOG_ERR, "%d command(s) busy for %u ms: failed with EIO", n,
		       lu->cfg.no_path_timeout_ms);
	if (!lu->no_path_since_ns || lu->no_path_expired ||
	    now - lu->no_path_since_ns < ms_ns(lu->cfg.no_path_timeout_ms))
		return;
	lu->no_path_expired = true;
	n = lu_fail_waiting(lu, -EIO);
	lu_log(lu, LBFO_LOG_ERR, "no path for %u ms: %d command(s) failed with EIO; "
	       "new I/O fails until a path is back", lu->cfg.no_path_timeout_ms, n);
}

uint64_t lu_dispatch_next_timer(const struct lbfo_lu *lu)
{
	uint64_t t = UINT64_MAX;
	const struct lu_cmd *c;

	for (c = lu->queue.head; c; c = c->next) {
		if (c->not_before_ns && c->not_before_ns < t)
			t = c->not_before_ns;
		if (c->deadline_ns && c->deadline_ns < t)
			t = c->deadline_ns;
	}
	for (c = lu->parked.head; c; c = c->next)
		if (c->deadline_ns && c->deadline_ns < t)
			t = c->deadline_ns;
	if (lu->no_path_since_ns && !lu->no_path_expired) {
		uint64_t d = lu->no_path_since_ns + ms_ns(lu->cfg.no_path_timeout_ms);

		if (d < t)
			t = d;
	}
	return t;
}
