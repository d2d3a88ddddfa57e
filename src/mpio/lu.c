/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The multipath LU: one event-loop thread drives every path's libiscsi
 * context, the team (src/core) picks the path of each command, and the
 * failover rules of DESIGN.md hold:
 *
 *  - A command in flight on a path that fails is handed back by the team
 *    (claims 2, 9) and re-sent on another path; the client never sees an
 *    error while any path can carry it.
 *  - Reads are re-sent at once. Writes wait until the failed path is
 *    fenced, so that the stale copy cannot land after the retry: we log in
 *    through a healthy portal with the failed path's ISID (same initiator
 *    name, TSIH 0), which makes the target reinstate the session — it
 *    closes the failed path's connection and drops the tasks it has not
 *    started (RFC 7143 6.3.5) — and then close that fencing session. The
 *    failed path's own re-login (same ISID) fences it too. Limits: (1) a
 *    write the target had already handed to its backing store is not
 *    recalled; it finishes within its own service time, unordered against
 *    our retry of the same data, so only a newer write to the same blocks
 *    issued in that window could be overtaken; (2) reinstatement needs the
 *    same target portal group (a session is ISID + TPGT): through a portal
 *    of another group the login makes a new session and fences nothing,
 *    so give a team portals of one portal group (tgt has one); (3) with no
 *    healthy portal, writes wait for the failed path's own re-login, or
 *    fail with EIO after no_path_timeout.
 *  - With no path at all, I/O waits up to no_path_timeout, then fails
 *    with EIO; new I/O fails at once until a path is back.
 *  - A path is failed on a socket error at once, when it shows no sign of
 *    life (a reply, or acknowledged bytes leaving its socket) for
 *    nop_timeout while something is expected of it, or when one command
 *    takes longer than cmd_timeout. It is reconnected with backoff; one
 *    that fails again soon after coming back is held out longer
 *    (flapping).
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "lbfo/lu.h"
#include "lbfo/policy.h"
#include "path.h"
#include "lu_internal.h"

#define TICK_NS (20 * LBFO_NS_PER_MS)
#define MAX_RETRIES 64
#define DEFAULT_MAX_XFER (1u << 20)

uint64_t lbfo_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LBFO_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t ms_ns(uint32_t ms) { return (uint64_t)ms * LBFO_NS_PER_MS; }


static void q_push(struct cmdq *q, struct lu_cmd *c)
{
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->n++;
}

static void q_push_front(struct cmdq *q, struct lu_cmd *c)
{
	c->next = q->head;
	q->head = c;
	if (!q->tail)
		q->tail = c;
	q->n++;
}

/* Move all of src, in order, in front of dst. O(1). */
static void q_prepend_all(struct cmdq *dst, struct cmdq *src)
{
	if (!src->n)
		return;
	src->tail->next = dst->head;
	dst->head = src->head;
	if (!dst->tail)
		dst->tail = src->tail;
	dst->n += src->n;
	src->head = src->tail = NULL;
	src->n = 0;
}

static struct lu_cmd *q_pop(struct cmdq *q)
{
	struct lu_cmd *c = q->head;

	if (c) {
		q->head = c->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		c->next = NULL;
	}
	return c;
}


const char *const lu_path_state_names[PATH_STATE__MAX] = {
	[PATH_DOWN] = "down", [PATH_LOGIN] = "login", [PATH_UP] = "up",
	[PATH_REFUSED] = "refused",
};

static void write_status_file(struct lbfo_lu *lu);

void lu_log(struct lbfo_lu *lu, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	struct lbfo_event *ev;
	struct timespec ts;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Keep the last LBFO_EVENTS_MAX events for `lbfoctl events`. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ev = &lu->events[(lu->ev_head + lu->ev_count) % LBFO_EVENTS_MAX];
	if (lu->ev_count < LBFO_EVENTS_MAX)
		lu->ev_count++;
	else
		lu->ev_head = (lu->ev_head + 1) % LBFO_EVENTS_MAX;
	ev->wall_ns = (uint64_t)ts.tv_sec * LBFO_NS_PER_SEC + (uint64_t)ts.tv_nsec;
	ev->level = level;
	snprintf(ev->text, sizeof(ev->text), "%.239s", msg);
	if (lu->cfg.log)
		lu->cfg.log(level, msg, lu->cfg.log_opaque);
	else
		fprintf(stderr, "lbfo: %s\n", msg);
}

void lbfo_io_init(struct lbfo_io *io, enum lbfo_io_type type, uint64_t offset,
		  uint32_t len, void *buf, bool fua)
{
	memset(io, 0, sizeof(*io));
	io->client = -1;
	io->type = type;
	io->offset = offset;
	io->len = len;
	io->buf = buf;
	io->fua = fua;
	pthread_mutex_init(&io->mu, NULL);
	pthread_cond_init(&io->cv, NULL);
}

int lbfo_io_wait(struct lbfo_io *io)
{
	pthread_mutex_lock(&io->mu);
	while (!io->done)
		pthread_cond_wait(&io->cv, &io->mu);
	pthread_mutex_unlock(&io->mu);
	return io->result;
}

void lbfo_io_fini(struct lbfo_io *io)
{
	pthread_mutex_destroy(&io->mu);
	pthread_cond_destroy(&io->cv);
}

static void io_finish(struct lbfo_io *io)
{
	pthread_mutex_lock(&io->mu);
	io->done = true;
	pthread_cond_signal(&io->cv);
	pthread_mutex_unlock(&io->mu);
}

/* A piece is finished (result 0 or -errno): free it, maybe finish its io. */
static void cmd_done(struct lbfo_lu *lu, struct lu_cmd *c, int result)
{
	struct lbfo_io *io = c->io;

	if (result && !io->result)
		io->result = result;
	if (result)
		lu->io_errors++;
	free(c);
	if (--io->pending == 0) {
		lu->ios++;
		if (io->client >= 0 && io->client < LBFO_MAX_CLIENTS) {
			lu->clients[io->client].ios++;
			lu->clients[io->client].errors += io->result != 0;
			if (!io->result && (io->type == LBFO_IO_READ || io->type == LBFO_IO_WRITE))
				lu->clients[io->client].bytes[io->type == LBFO_IO_READ ?
							      LBFO_READ : LBFO_WRITE] += io->len;
		}
		io_finish(io);
	}
}

static enum lbfo_dir cmd_dir(const struct lu_cmd *c)
{
	return c->type == LBFO_IO_READ ? LBFO_READ : LBFO_WRITE;
}

static struct lbfo_iscsi_params path_params(const struct lbfo_lu *lu,
					    const struct path *p,
					    const char *portal)
{
	const struct lbfo_lu_config *c = &lu->cfg;
	struct lbfo_iscsi_params ip = {
		.initiator = c->initiator,
		.target = c->target,
		.portal = portal,
		.lun = c->lun,
		.chap_user = p->cfg.chap_user[0] ? p->cfg.chap_user : c->chap_user,
		.chap_password = p->cfg.chap_user[0] ? p->cfg.chap_password : c->chap_password,
		.mutual_user = p->cfg.mutual_user[0] ? p->cfg.mutual_user : c->mutual_user,
		.mutual_password = p->cfg.mutual_user[0] ? p->cfg.mutual_password : c->mutual_password,
		.header_digest = c->header_digest,
		.isid_rnd = lu->isid_rnd,
		.isid_qualifier = (uint16_t)(0x100 + p->idx),
		.tcp_user_timeout_ms = c->nop_timeout_ms * 2,
	};
	return ip;
}

/* ---- path failure and recovery -------------------------------------- */

/* Record a failure; acted on by path_reap() outside libiscsi callbacks. */
void lu_path_fail(struct path *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failing)
		return;
	p->failing = true;
	va_start(ap, fmt);
	vsnprintf(p->fail_reason, sizeof(p->fail_reason), fmt, ap);
	va_end(ap);
}

static void schedule_retry(struct lbfo_lu *lu, struct path *p, uint64_t now)
{
	uint32_t wait = p->backoff_ms ? p->backoff_ms : lu->cfg.reconnect_min_ms;

	if (p->hold_ms > wait)
		wait = p->hold_ms;
	p->next_attempt_ns = now + ms_ns(wait);
	p->backoff_ms = wait * 2 > lu->cfg.reconnect_max_ms ? lu->cfg.reconnect_max_ms : wait * 2;
}

static void requeue_returned(struct lbfo_lu *lu, struct path *p,
			     struct lbfo_cmd *ret, uint64_t now)
{
	struct lbfo_cmd *c, *next;
	struct cmdq reads = { 0 };
	int nreads = 0, nwrites = 0;

	for (c = ret; c; c = next) {
		struct lu_cmd *lc = (struct lu_cmd *)c; /* core is the first member */

		next = c->retry_next;
		lc->task = NULL;
		lc->path = -1;
		lu->requeued++;
		if (lc->type == LBFO_IO_READ) {
			q_push(&reads, lc);
			nreads++;
		} else {
			/* Writes, flushes, trims, zeroes: wait for the fence. */
			if (!p->fenced.n)
				p->fenced_since_ns = now;
			q_push(&p->fenced, lc);
			nwrites++;
		}
	}
	/* Retried commands go to the front, oldest first. */
	q_prepend_all(&lu->queue, &reads);
	if (nreads || nwrites)
		lu_log(lu, LBFO_LOG_INFO, "path %s: %d read(s) re-sent at once, %d write(s) wait for the fence",
		       p->cfg.name, nreads, nwrites);
}

static void path_reap(struct lbfo_lu *lu, struct path *p, uint64_t now)
{
	struct lbfo_cmd *ret = NULL;
	bool was_up = p->st == PATH_UP;
	int n = 0;

	if (p->st == PATH_REFUSED && p->ctx) {
		struct iscsi_context *ctx = p->ctx;

		p->ctx = NULL;
		iscsi_destroy_context(ctx);
	}
	if (!p->failing)
		return;
	p->failing = false;
	snprintf(p->last_error, sizeof(p->last_error), "%s", p->fail_reason);
	if (was_up) {
		p->failures++;
		/* Claims 1, 2, 7, 9: the miniport reports the failure, every
		 * command in flight is handed back for retry. */
		n = lbfo_team_member_failed(&lu->team, p->idx, -1, now, &ret);
		lu->failovers++;
		/* Failing again soon after being restored: flapping. */
		if (p->failures > 1 && now - p->up_since_ns < ms_ns(lu->cfg.flap_window_ms)) {
			p->flapping = true;
			p->hold_ms = p->hold_ms ? p->hold_ms * 2 : 2000;
			if (p->hold_ms > lu->cfg.flap_hold_max_ms)
				p->hold_ms = lu->cfg.flap_hold_max_ms;
		}
		lu_log(lu, LBFO_LOG_WARNING, "path %s (%s) failed: %s; %d command(s) handed back%s",
		       p->cfg.name, p->portal, p->fail_reason, n,
		       p->flapping ? "; flapping, held out" : "");
	} else {
		lu_log(lu, LBFO_LOG_NOTICE, "path %s (%s): %s", p->cfg.name, p->portal,
		       p->fail_reason);
	}
	/* Destroy the session before anything is re-sent: libiscsi calls
	 * back every task with CANCELLED, and those tasks are no longer
	 * ours (cmd->task was cleared by the hand-back below). */
	{
		struct lbfo_cmd *c;

		for (c = ret; c; c = c->retry_next)
			((struct lu_cmd *)c)->task = NULL;
	}
	if (p->ctx) {
		struct iscsi_context *ctx = p->ctx;

		/* Detach first: callbacks of the dying context see a
		 * context that is no longer the path's and ignore it. */
		p->ctx = NULL;
		p->st = PATH_DOWN;
		iscsi_destroy_context(ctx);
	}
	p->st = PATH_DOWN;
	p->nop_out = false;
	schedule_retry(lu, p, now);
	requeue_returned(lu, p, ret, now);
}

static void login_cb(struct iscsi_context *ctx, int status, void *data, void *priv);

static void path_connect(struct lbfo_lu *lu, struct path *p, uint64_t now)
{
	struct lbfo_iscsi_params ip = path_params(lu, p, p->portal);
	char err[LBFO_ERR_MAX];

	p->ctx = lbfo_iscsi_context(&ip, err, sizeof(err));
	if (!p->ctx) {
		snprintf(p->last_error, sizeof(p->last_error), "%s", err);
		schedule_retry(lu, p, now);
		return;
	}
	p->st = PATH_LOGIN;
	p->login_step = 0;
	p->login_deadline_ns = now + ms_ns(lu->cfg.login_timeout_ms);
	if (iscsi_full_connect_async(p->ctx, p->portal, lu->cfg.lun, login_cb, p) != 0)
		lu_path_fail(p, "connect failed: %s", iscsi_get_error(p->ctx));
}

static void release_fenced(struct lbfo_lu *lu, struct path *p, const char *how)
{
	uint32_t n = p->fenced.n;

	/* Oldest first, in front of everything else. */
	q_prepend_all(&lu->queue, &p->fenced);
	if (n)
		lu_log(lu, LBFO_LOG_INFO, "path %s fenced (%s): %u write(s) re-sent", p->cfg.name,
		       how, n);
}

static void path_up(struct lbfo_lu *lu, struct path *p, uint64_t now)
{
	char why[LBFO_ERR_MAX];

	if (lbfo_ident_compare(&lu->ident, &p->ident, why, sizeof(why)) < 0) {
		p->st = PATH_REFUSED;
		snprintf(p->last_error, sizeof(p->last_error), "refused: %.200s", why);
		lu_log(lu, LBFO_LOG_ERR, "path %s (%s) refused: it leads to another LU than "
		       "the team's (%s): %s", p->cfg.name, p->portal, lu->ident.id, why);
		return; /* path_reap() drops the session (not inside its callback) */
	}
	p->st = PATH_UP;
	p->logins++;
	p->backoff_ms = 0;
	/* The interface this session leaves by, for the link watch. */
	p->ifindex = lu->link_fd >= 0 ?
		lu_link_of_socket(iscsi_get_fd(p->ctx), p->cfg.interface, p->ifname,
				  sizeof(p->ifname)) : 0;
	if (lu->link_fd >= 0 && !p->ifindex)
		lu_log(lu, LBFO_LOG_INFO, "path %s (%s): link watch cannot tell its interface "
		       "(set interface=); a link going down is found by nop_timeout",
		       p->cfg.name, p->portal);
	p->up_since_ns = now;
	p->last_life_ns = now;
	p->last_outq = 0;
	p->nop_next_ns = now + ms_ns(lu->cfg.nop_interval_ms);
	p->last_error[0] = '\0';
	/* Our own login used the same ISID: the target reinstated (closed)
	 * any old session of this path, so parked writes are safe. */
	release_fenced(lu, p, "own re-login");
	if (p->fence_ctx) {
		iscsi_destroy_context(p->fence_ctx);
		p->fence_ctx = NULL;
	}
	if (!p->ever_up) {
		/* First login: a member from the start, no failback wait. */
		p->ever_up = true;
		lbfo_team_member_restored(&lu->team, p->idx, -1, now);
		lbfo_team_member_reinstate(&lu->team, p->idx, now);
		lu_log(lu, LBFO_LOG_NOTICE, "path %s (%s) logged in (%s)", p->cfg.name,
		       p->portal, lbfo_role_name(lu->team.m[p->idx].role));
	} else {
		/* Claims 4, 10: the miniport reports the path restored. */
		lbfo_team_member_restored(&lu->team, p->idx, -1, now);
		lu_log(lu, LBFO_LOG_NOTICE, "path %s (%s) restored: %s (failback %s)",
		       p->cfg.name, p->portal,
		       lbfo_member_state_name(lu->team.m[p->idx].state),
		       lbfo_failback_name(lu->cfg.failback));
	}
	pthread_cond_broadcast(&lu->paths_cv);
}

static void login_next(struct path *p)
{
	struct scsi_task *t = NULL;
	int lun = p->lu->cfg.lun;

	switch (p->login_step) {
	case 1:
		t = iscsi_inquiry_task(p->ctx, lun, 1, 0x83, 255, login_cb, p);
		break;
	case 2:
		t = iscsi_inquiry_task(p->ctx, lun, 1, 0x80, 255, login_cb, p);
		break;
	case 3:
		t = iscsi_readcapacity16_task(p->ctx, lun, login_cb, p);
		break;
	}
	if (!t)
		lu_path_fail(p, "cannot queue identity command: %s", iscsi_get_error(p->ctx));
}

static void login_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct path *p = priv;
	struct scsi_task *t = p->login_step > 0 ? data : NULL;
	uint64_t now = lbfo_now_ns();

	if (p->st != PATH_LOGIN || ctx != p->ctx) {
		/* full_connect's second call: the session broke later. */
		if (p->st == PATH_UP && ctx == p->ctx && status != SCSI_STATUS_GOOD)
			lu_path_fail(p, "connection lost: %s", iscsi_get_error(ctx));
		if (t)
			scsi_free_scsi_task(t);
		return;
	}
	if (p->login_step == 0) {
		if (status != SCSI_STATUS_GOOD) {
			lu_path_fail(p, "login failed: %s", iscsi_get_error(ctx));
			return;
		}
		memset(&p->ident, 0, sizeof(p->ident));
		p->login_step = 1;
		login_next(p);
		return;
	}
	if (status == SCSI_STATUS_GOOD && t) {
		const unsigned char *d = t->datain.data;
		size_t n = (size_t)t->datain.size;

		if (p->login_step == 1)
			p->login_step = lbfo_ident_from_vpd83(d, n, p->ident.id,
							      sizeof(p->ident.id)) == 0 ? 3 : 2;
		else if (p->login_step == 2)
			p->login_step = lbfo_ident_from_vpd80(d, n, p->ident.id,
							      sizeof(p->ident.id)) == 0 ? 3 : -1;
		else if (p->login_step == 3)
			p->login_step = lbfo_ident_from_rc16(d, n, &p->ident) == 0 ? 4 : -1;
	} else {
		p->login_step = p->login_step == 1 ? 2 : -1;
	}
	if (t)
		scsi_free_scsi_task(t);
	if (p->login_step < 0)
		lu_path_fail(p, "cannot read the LU identity: %s", iscsi_get_error(ctx));
	else if (p->login_step == 4)
		path_up(p->lu, p, now);
	else
		login_next(p);
}

/* ---- fencing ----------------------------------------------------------- */

static void fence_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct path *p = priv;

	(void)data;
	if (ctx != p->fence_ctx || p->fence_done || p->fence_failed)
		return;
	if (status == SCSI_STATUS_GOOD)
		p->fence_done = true;
	else
		p->fence_failed = true;
}

static void fence_tick(struct lbfo_lu *lu, struct path *p, uint64_t now)
{
	int i, via = -1;

	if (!p->fenced.n)
		return;
	if (p->fence_ctx) {
		if (p->fence_done) {
			uint64_t took = now - p->fence_start_ns;

			p->last_fence_ns = took;
			if (took > lu->longest_fence_ns)
				lu->longest_fence_ns = took;
			lu->fences++;
			/* The reinstatement happened at login; closing the
			 * fencing session's socket ends it. */
			iscsi_destroy_context(p->fence_ctx);
			p->fence_ctx = NULL;
			release_fenced(lu, p, "session reinstated via another portal");
			return;
		}
		if (!p->fence_failed && now < p->fence_deadline_ns)
			return;
		lu_log(lu, LBFO_LOG_WARNING, "path %s: fencing via %s %s; trying again",
		       p->cfg.name, lu->paths[p->fence_via].cfg.name,
		       p->fence_failed ? "failed" : "timed out");
		iscsi_destroy_context(p->fence_ctx);
		p->fence_ctx = NULL;
	}
	/* A healthy portal to log in through, other than the failed one. */
	for (i = 0; i < lu->npaths; i++) {
		int k = (p->fence_via + 1 + i) % lu->npaths;

		if (k != p->idx && lu->paths[k].st == PATH_UP) {
			via = k;
			break;
		}
	}
	if (via < 0)
		return; /* no path: the failed path's own re-login will fence */
	{
		struct lbfo_iscsi_params ip = path_params(lu, &lu->paths[via], lu->paths[via].portal);
		char err[LBFO_ERR_MAX];

		/* The healthy path's portal and credentials, the failed
		 * path's ISID (same initiator name): to the target this is
		 * the failed session's reinstatement. */
		ip.isid_qualifier = (uint16_t)(0x100 + p->idx);
		p->fence_ctx = lbfo_iscsi_context(&ip, err, sizeof(err));
		if (!p->fence_ctx)
			return;
		p->fence_via = via;
		p->fence_done = p->fence_failed = false;
		p->fence_start_ns = now;
		p->fence_deadline_ns = now + ms_ns(lu->cfg.login_timeout_ms);
		if (iscsi_full_connect_async(p->fence_ctx, lu->paths[via].portal, lu->cfg.lun,
					     fence_cb, p) != 0)
			p->fence_failed = true;
	}
}

/* ---- commands -------------------------------------------------------- */

static void cmd_cb(struct iscsi_context *ctx, int status, void *data, void *priv);

static int cmd_send(struct lbfo_lu *lu, struct lu_cmd *c, int m, uint64_t now)
{
	struct path *p = &lu->paths[m];
	struct lbfo_scsi_req r = {
		.type = c->type, .lba = c->lba, .blocks = c->blocks,
		.block_size = lu->ident.block_size, .iov = &c->iov, .fua = c->fua,
	};

	c->iov.iov_base = c->buf;
	c->iov.iov_len = (size_t)c->blocks * lu->ident.block_size;

	lbfo_team_start(&lu->team, &c->core, m, cmd_dir(c), c->bytes, now);
	c->path = m;
	c->attempts++;
	c->task = lbfo_iscsi_submit(p->ctx, lu->cfg.lun, &r, cmd_cb, c);
	if (!c->task) {
		/* The session cannot take it: a path problem. The command is
		 * in flight on the member, so the hand-back requeues it. */
		lu_path_fail(p, "cannot queue a command: %s", iscsi_get_error(p->ctx));
		return -1;
	}
	return 0;
}

static void cmd_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct lu_cmd *c = priv;
	struct scsi_task *t = data;
	struct lbfo_lu *lu;
	struct path *p;
	uint64_t now;
	enum lbfo_scsi_verdict v;

	(void)ctx;
	if (!c || c->task != t || !t) {
		/* A stale attempt: the command was handed back and now
		 * belongs to another path's attempt (or is done). */
		if (t)
			scsi_free_scsi_task(t);
		return;
	}
	lu = c->lu;
	p = &lu->paths[c->path];
	now = lbfo_now_ns();
	v = lbfo_scsi_classify(status, t);
	if (v == LBFO_SCSI_PATH_ERROR) {
		/* Leave it in flight: the hand-back at reap time requeues it. */
		c->task = NULL;
		scsi_free_scsi_task(t);
		lu_path_fail(p, "%s: %s", status == SCSI_STATUS_CANCELLED ? "session dropped" :
			  status == SCSI_STATUS_TIMEOUT ? "command timed out" : "transport error",
			  iscsi_get_error(p->ctx));
		return;
	}
	p->last_life_ns = now;
	c->task = NULL;
	if (lbfo_team_complete(&lu->team, &c->core, now) < 0) {
		scsi_free_scsi_task(t);
		return;
	}
	switch (v) {
	case LBFO_SCSI_OK:
		{
			uint64_t us = (now - c->core.start_ns) / 1000;
			int b = us ? 64 - __builtin_clzll(us) : 0;

			p->lat_hist[b < LBFO_LAT_BUCKETS ? b : LBFO_LAT_BUCKETS - 1]++;
			p->lat_count++;
		}
		scsi_free_scsi_task(t);
		cmd_done(lu, c, 0);
		return;
	case LBFO_SCSI_RETRY:
		p->retries++;
		if (c->attempts < MAX_RETRIES) {
			c->path = -1;
			c->not_before_ns = status == SCSI_STATUS_BUSY ||
				status == SCSI_STATUS_TASK_SET_FULL ? now + 10 * LBFO_NS_PER_MS : 0;
			scsi_free_scsi_task(t);
			q_push_front(&lu->queue, c);
			return;
		}
		lu_log(lu, LBFO_LOG_ERR, "command at LBA %" PRIu64 " still not accepted after %u tries",
		       c->lba, c->attempts);
		break;
	case LBFO_SCSI_INVALID:
		p->errors++;
		lu_log(lu, LBFO_LOG_ERR, "%s at LBA %" PRIu64 " rejected by the target: %s",
		       c->type == LBFO_IO_READ ? "read" : "command", c->lba,
		       scsi_sense_key_str(t->sense.key));
		scsi_free_scsi_task(t);
		cmd_done(lu, c, -EINVAL);
		return;
	default:
		p->errors++;
		lu_log(lu, LBFO_LOG_ERR, "command at LBA %" PRIu64 " failed on the target: %s",
		       c->lba, scsi_sense_key_str(t->sense.key));
		break;
	}
	scsi_free_scsi_task(t);
	cmd_done(lu, c, -EIO);
}

static bool any_usable(const struct lbfo_lu *lu)
{
	int i;

	for (i = 0; i < lu->team.n; i++)
		if (lu->team.m[i].state == LBFO_MS_ACTIVE || lu->team.m[i].state == LBFO_MS_PROBING)
			return true;
	return false;
}

/* Writes parked for a fence wait for a path too: they count for the
 * no-path clock, or they could wait forever. */
static bool fenced_waiting(const struct lbfo_lu *lu)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (lu->paths[i].fenced.n)
			return true;
	return false;
}

static void dispatch(struct lbfo_lu *lu, uint64_t now)
{
	struct cmdq later = { 0 };
	struct lu_cmd *c;

	if (any_usable(lu)) {
		if (lu->no_path_since_ns)
			lu_log(lu, LBFO_LOG_NOTICE, "a path is back after %" PRIu64 " ms without any",
			       (uint64_t)((now - lu->no_path_since_ns) / LBFO_NS_PER_MS));
		lu->no_path_since_ns = 0;
		lu->no_path_expired = false;
	} else if (!lu->no_path_since_ns && (lu->queue.n || fenced_waiting(lu))) {
		lu->no_path_since_ns = now;
		lu_log(lu, LBFO_LOG_WARNING, "no path to the LU: I/O waits up to %u ms",
		       lu->cfg.no_path_timeout_ms);
	}
	while ((c = q_pop(&lu->queue))) {
		int m;

		if (lu->no_path_expired) {
			cmd_done(lu, c, -EIO);
			continue;
		}
		if (c->not_before_ns > now) {
			q_push(&later, c);
			continue;
		}
		m = lbfo_team_select(&lu->team, cmd_dir(c), c->bytes, now);
		if (m < 0 || lu->paths[m].st != PATH_UP || !lu->paths[m].ctx) {
			q_push_front(&lu->queue, c);
			break;
		}
		cmd_send(lu, c, m, now);
	}
	/* Delayed retries go back in front of the rest. */
	q_prepend_all(&lu->queue, &later);
}

/* Split a client request into commands of at most max_xfer bytes. */
static void enqueue_io(struct lbfo_lu *lu, struct lbfo_io *io)
{
	uint32_t bs = lu->ident.block_size;
	uint64_t off = io->offset, end = io->offset + io->len;

	io->pending = 1; /* guard while splitting */
	if (lu->no_path_expired) {
		io->result = -EIO;
		lu->io_errors++;
	} else if ((io->type != LBFO_IO_FLUSH) && (io->offset % bs || io->len % bs)) {
		io->result = -EINVAL;
	} else if (io->type != LBFO_IO_FLUSH && end > lu->ident.blocks * bs) {
		io->result = -ENOSPC;
	} else if (io->type == LBFO_IO_FLUSH) {
		struct lu_cmd *c = calloc(1, sizeof(*c));

		if (!c) {
			io->result = -ENOMEM;
		} else {
			c->lu = lu;
			c->io = io;
			c->type = LBFO_IO_FLUSH;
			c->path = -1;
			io->pending++;
			q_push(&lu->queue, c);
		}
	} else {
		while (off < end) {
			uint64_t len = end - off;
			uint32_t maxb = io->type == LBFO_IO_TRIM ? 0xffffffffu : lu->max_xfer;
			struct lu_cmd *c;

			if (len > maxb)
				len = maxb;
			c = calloc(1, sizeof(*c));
			if (!c) {
				io->result = -ENOMEM;
				break;
			}
			c->lu = lu;
			c->io = io;
			c->type = io->type;
			c->lba = off / bs;
			c->blocks = (uint32_t)(len / bs);
			c->buf = io->buf ? (char *)io->buf + (off - io->offset) : NULL;
			c->fua = io->fua;
			c->bytes = io->type == LBFO_IO_READ || io->type == LBFO_IO_WRITE ? len : 0;
			c->path = -1;
			io->pending++;
			q_push(&lu->queue, c);
			off += len;
		}
	}
	if (--io->pending == 0) {
		if (io->result)
			lu->io_errors++;
		io_finish(io);
	}
}

/* ---- per-path timers --------------------------------------------------- */

static void path_tick(struct lbfo_lu *lu, struct path *p, uint64_t now)
{
	const struct lbfo_member *m = &lu->team.m[p->idx];

	switch (p->st) {
	case PATH_REFUSED:
		return;
	case PATH_DOWN:
		if (now >= p->next_attempt_ns && !p->fence_ctx && !p->admin_down)
			path_connect(lu, p, now);
		return;
	case PATH_LOGIN:
		if (now > p->login_deadline_ns)
			lu_path_fail(p, "no login within %u ms", lu->cfg.login_timeout_ms);
		return;
	case PATH_UP:
		break;
	default:
		return;
	}

	/* Liveness: any reply (seen as POLLIN) or bytes acknowledged out of
	 * the socket count as life, so a NOP queued behind a long transfer
	 * on a busy path does not fail it. */
	{
		int outq = 0, fd = iscsi_get_fd(p->ctx);
		bool expecting;

		if (fd >= 0 && ioctl(fd, SIOCOUTQ, &outq) == 0) {
			if (outq < p->last_outq)
				p->last_life_ns = now;
			p->last_outq = outq;
		}
		expecting = p->nop_out || m->outstanding > 0 || outq > 0 ||
			    iscsi_out_queue_length(p->ctx) > 0;
		if (!expecting)
			p->last_life_ns = now;
		else if (now > p->last_life_ns &&
			 now - p->last_life_ns > ms_ns(lu->cfg.nop_timeout_ms)) {
			lu_path_fail(p, "no response for %" PRIu64 " ms (NOP timeout %u ms)",
				  (uint64_t)((now - p->last_life_ns) / LBFO_NS_PER_MS), lu->cfg.nop_timeout_ms);
			return;
		}
	}
	/* Each command has its own deadline: a path that answers NOPs but
	 * not I/O is caught here. */
	if (m->outstanding) {
		const struct lbfo_cmd *c, *oldest = NULL;

		for (c = m->inflight; c; c = c->next)
			oldest = c;
		if (oldest && now > oldest->start_ns &&
		    now - oldest->start_ns > ms_ns(lu->cfg.cmd_timeout_ms)) {
			lu_path_fail(p, "command outstanding for %" PRIu64 " ms (cmd_timeout %u ms)",
				  (uint64_t)((now - oldest->start_ns) / LBFO_NS_PER_MS), lu->cfg.cmd_timeout_ms);
			return;
		}
	}
	/* NOP-Out keepalive, also on standby paths (001 [0045]). */
	if (!p->nop_out && now >= p->nop_next_ns) {
		if (iscsi_nop_out_async(p->ctx, NULL, NULL, 0, NULL) == 0)
			p->nop_out = true;
		p->nop_next_ns = now + ms_ns(lu->cfg.nop_interval_ms);
	}
	if (p->nop_out && iscsi_get_nops_in_flight(p->ctx) == 0) {
		p->nop_out = false;
		p->last_life_ns = now;
	}
	if (p->flapping && now - p->up_since_ns > ms_ns(lu->cfg.flap_window_ms)) {
		p->flapping = false;
		p->hold_ms = 0;
		lu_log(lu, LBFO_LOG_INFO, "path %s stable again", p->cfg.name);
	}
}

static void expire_no_path(struct lbfo_lu *lu, uint64_t now)
{
	struct lu_cmd *c;
	int i, n = 0;

	if (!lu->no_path_since_ns || lu->no_path_expired ||
	    now - lu->no_path_since_ns < ms_ns(lu->cfg.no_path_timeout_ms))
		return;
	lu->no_path_expired = true;
	while ((c = q_pop(&lu->queue))) {
		cmd_done(lu, c, -EIO);
		n++;
	}
	for (i = 0; i < lu->npaths; i++)
		while ((c = q_pop(&lu->paths[i].fenced))) {
			cmd_done(lu, c, -EIO);
			n++;
		}
	lu_log(lu, LBFO_LOG_ERR, "no path for %u ms: %d command(s) failed with EIO; "
	       "new I/O fails until a path is back", lu->cfg.no_path_timeout_ms, n);
}

/* rx + tx bytes of a network interface. */
static int read_if_bytes(const char *ifname, uint64_t *bytes)
{
	static const char *const which[] = { "rx_bytes", "tx_bytes" };
	char path[LBFO_STR_MAX];
	uint64_t sum = 0;
	int i;

	for (i = 0; i < 2; i++) {
		unsigned long long v;
		FILE *f;
		int ok;

		snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, which[i]);
		f = fopen(path, "r");
		if (!f)
			return -1;
		ok = fscanf(f, "%llu", &v) == 1;
		fclose(f);
		if (!ok) {
			errno = EINVAL;
			return -1;
		}
		sum += v;
	}
	*bytes = sum;
	return 0;
}

/* Push newly queued PDUs out without waiting for the next poll. Returns
 * true when something is left for the loop: unsent PDUs (the socket was
 * full) or a path that failed meanwhile. Called with lu->mu held. */
static bool push_out(struct lbfo_lu *lu)
{
	bool left = false;
	int i;

	for (i = 0; i < lu->npaths; i++) {
		struct path *p = &lu->paths[i];

		if (p->ctx && p->st != PATH_DOWN && iscsi_out_queue_length(p->ctx) > 0 &&
		    iscsi_service(p->ctx, POLLOUT) < 0)
			lu_path_fail(p, "%s", iscsi_get_error(p->ctx));
		if (p->failing || (p->ctx && iscsi_out_queue_length(p->ctx) > 0))
			left = true;
	}
	return left;
}

/* ---- the loop ---------------------------------------------------------- */

/* Take every submitted request off the shared list. */
static struct lbfo_io *detach_submissions(struct lbfo_lu *lu)
{
	struct lbfo_io *io;

	pthread_mutex_lock(&lu->sub_mu);
	io = lu->sub_head;
	lu->sub_head = lu->sub_tail = NULL;
	pthread_mutex_unlock(&lu->sub_mu);
	return io;
}

static void take_submissions(struct lbfo_lu *lu)
{
	struct lbfo_io *io, *next;
	uint64_t v;

	if (read(lu->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	for (io = detach_submissions(lu); io; io = next) {
		next = io->next;
		io->next = NULL;
		enqueue_io(lu, io);
	}
}

static void *loop_main(void *arg)
{
	struct lbfo_lu *lu = arg;
	struct pollfd pfd[1 + 2 * LBFO_MAX_MEMBERS + 1 + LBFO_CTL_CLIENTS + 1];
	struct iscsi_context *pctx[1 + 2 * LBFO_MAX_MEMBERS];
	int owner[1 + 2 * LBFO_MAX_MEMBERS];

	for (;;) {
		uint64_t now;
		int i, n = 1, rc, nctl;
		bool stop;

		pthread_mutex_lock(&lu->mu);
		pfd[0].fd = lu->wakefd;
		pfd[0].events = POLLIN;
		for (i = 0; i < lu->npaths; i++) {
			struct path *p = &lu->paths[i];
			struct iscsi_context *cs[2] = { p->ctx, p->fence_ctx };
			int k;

			for (k = 0; k < 2; k++) {
				if (!cs[k] || iscsi_get_fd(cs[k]) < 0)
					continue;
				pfd[n].fd = iscsi_get_fd(cs[k]);
				pfd[n].events = (short)iscsi_which_events(cs[k]);
				pfd[n].revents = 0;
				pctx[n] = cs[k];
				owner[n] = i;
				n++;
			}
		}
		nctl = lbfo_ctl_pollfds(lu, pfd + n, 1 + LBFO_CTL_CLIENTS);
		/* The link watch, last. */
		pfd[n + nctl].fd = lu->link_fd;
		pfd[n + nctl].events = POLLIN;
		pfd[n + nctl].revents = 0;
		stop = lu->stopping;
		pthread_mutex_unlock(&lu->mu);
		if (stop)
			break;

		rc = poll(pfd, (nfds_t)(n + nctl + 1), (int)(TICK_NS / LBFO_NS_PER_MS));
		if (rc < 0 && errno != EINTR)
			break;

		pthread_mutex_lock(&lu->mu);
		now = lbfo_now_ns();
		if (rc > 0 && (pfd[0].revents & POLLIN))
			take_submissions(lu);
		if (rc > 0 && nctl)
			lbfo_ctl_service(lu, pfd + n, nctl, now);
		/* Before the paths are serviced: a link that went down fails
		 * its paths now, not after nop_timeout. */
		if (rc > 0 && (pfd[n + nctl].revents & POLLIN))
			lu_link_input(lu);
		for (i = 1; i < n; i++) {
			struct path *p = &lu->paths[owner[i]];

			/* The context may have been replaced meanwhile. */
			if (pctx[i] != p->ctx && pctx[i] != p->fence_ctx)
				continue;
			if (pfd[i].revents || pctx[i] == p->ctx) {
				short ev = pfd[i].revents;
				int src = iscsi_service(pctx[i], ev);

				/* With auto-reconnect off, libiscsi drops the
				 * session on a socket error and still returns 0:
				 * an error or hang-up fails the path at once. */
				if (pctx[i] != p->ctx)
					p->fence_failed |= src < 0 || (ev & (POLLERR | POLLHUP)) != 0;
				else if (src < 0 || (ev & (POLLERR | POLLHUP | POLLNVAL)))
					lu_path_fail(p, "socket %s: %s",
						  ev & POLLHUP ? "closed" : "error",
						  iscsi_get_error(pctx[i]));
				else if (ev & POLLIN)
					p->last_life_ns = now; /* a reply is life */
			}
		}
		if (now - lu->last_tick_ns >= TICK_NS) {
			lu->last_tick_ns = now;
			for (i = 0; i < lu->npaths; i++) {
				path_tick(lu, &lu->paths[i], now);
				fence_tick(lu, &lu->paths[i], now);
			}
			/* Interface counters (a sysfs read each) every 100 ms. */
			if (lu->nadapters && now - lu->adapters_read_ns >= 100 * LBFO_NS_PER_MS) {
				uint64_t b;

				lu->adapters_read_ns = now;
				for (i = 0; i < lu->nadapters; i++)
					if (read_if_bytes(lu->adapters[i].name, &b) == 0)
						lbfo_adapter_set_if_bytes(&lu->adapters[i], b);
			}
			lbfo_team_tick(&lu->team, now);
			expire_no_path(lu, now);
			if (now - lu->rate_mark_ns >= LBFO_NS_PER_SEC) {
				double secs = (double)(now - lu->rate_mark_ns) / 1e9;
				int d;

				for (i = 0; i < lu->npaths; i++)
					for (d = 0; d < LBFO_DIR__MAX; d++) {
						struct path *p = &lu->paths[i];
						uint64_t b = lu->team.m[i].st.bytes[d];

						p->rate[d] = lu->rate_mark_ns ?
							(double)(b - p->rate_mark_bytes[d]) / secs : 0;
						p->rate_mark_bytes[d] = b;
					}
				lu->rate_mark_ns = now;
			}
			if (lu->cfg.status_file[0] &&
			    now - lu->status_written_ns >= ms_ns(lu->cfg.status_interval_ms)) {
				lu->status_written_ns = now;
				write_status_file(lu);
			}
		}
		for (i = 0; i < lu->npaths; i++)
			path_reap(lu, &lu->paths[i], now);
		dispatch(lu, now);
		push_out(lu);
		for (i = 0; i < lu->npaths; i++)
			path_reap(lu, &lu->paths[i], now);
		pthread_mutex_unlock(&lu->mu);
	}
	return NULL;
}

/* ---- life cycle --------------------------------------------------------- */

int lbfo_lu_discover_target(struct lbfo_lu_config *c, char *err, size_t errlen)
{
	char targets[2048], why[LBFO_ERR_MAX], portal[LBFO_STR_MAX];
	size_t el;
	int i, n;

	if (c->target[0])
		return 0;
	el = (size_t)snprintf(err, errlen, "no 'target' given and SendTargets discovery failed:");
	for (i = 0; i < c->npaths; i++) {
		struct lbfo_iscsi_params ip = {
			.initiator = c->initiator, .portal = portal,
			.chap_user = c->paths[i].chap_user[0] ? c->paths[i].chap_user : c->chap_user,
			.chap_password = c->paths[i].chap_user[0] ? c->paths[i].chap_password : c->chap_password,
		};

		lbfo_portal_normalise(c->paths[i].portal, portal, sizeof(portal));
		n = lbfo_iscsi_discover(&ip, c->login_timeout_ms, targets, sizeof(targets),
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

int lbfo_lu_probe(const struct lbfo_lu_config *c, struct lbfo_lu_ident *ident,
		  char *warn, size_t warnlen, char *err, size_t errlen)
{
	struct lbfo_lu_ident id;
	size_t wl = 0, el = 0;
	int i, first = -1;
	char why[LBFO_ERR_MAX];
	char failures[LBFO_MAX_MEMBERS][LBFO_ERR_MAX];

	if (warnlen)
		warn[0] = '\0';
	for (i = 0; i < c->npaths; i++) {
		char portal[LBFO_STR_MAX];
		struct lbfo_iscsi_params ip = {
			.initiator = c->initiator, .target = c->target, .lun = c->lun,
			.portal = portal,
			.chap_user = c->paths[i].chap_user[0] ? c->paths[i].chap_user : c->chap_user,
			.chap_password = c->paths[i].chap_user[0] ? c->paths[i].chap_password : c->chap_password,
			.mutual_user = c->paths[i].mutual_user[0] ? c->paths[i].mutual_user : c->mutual_user,
			.mutual_password = c->paths[i].mutual_user[0] ? c->paths[i].mutual_password : c->mutual_password,
			.header_digest = c->header_digest,
			.isid_rnd = 0x1bf0, .isid_qualifier = (uint16_t)(0x200 + i),
		};

		lbfo_portal_normalise(c->paths[i].portal, portal, sizeof(portal));
		failures[i][0] = '\0';
		if (lbfo_iscsi_probe(&ip, c->login_timeout_ms, &id, failures[i],
				     sizeof(failures[i])) < 0) {
			if (wl < warnlen)
				wl += (size_t)snprintf(warn + wl, warnlen - wl,
						       "path %s (%s) unreachable at start-up: %s\n",
						       c->paths[i].name, portal, failures[i]);
			continue;
		}
		if (first < 0) {
			first = i;
			*ident = id;
		} else if (lbfo_ident_compare(ident, &id, why, sizeof(why)) < 0) {
			char p0[LBFO_STR_MAX];

			lbfo_portal_normalise(c->paths[first].portal, p0, sizeof(p0));
			snprintf(err, errlen, "paths lead to different LUs: path %s (%s) and path %s (%s): %s",
				 c->paths[first].name, p0, c->paths[i].name, portal, why);
			return -1;
		}
	}
	if (first >= 0)
		return 0;
	el = (size_t)snprintf(err, errlen, "no portal answered for target %s LUN %d:", c->target,
			      c->lun);
	for (i = 0; i < c->npaths && el < errlen; i++)
		el += (size_t)snprintf(err + el, errlen - el, " %s (%s): %s;", c->paths[i].name,
				       c->paths[i].portal, failures[i]);
	return -1;
}

struct lbfo_lu *lbfo_lu_start(const struct lbfo_lu_config *c,
			      const struct lbfo_lu_ident *ident,
			      char *err, size_t errlen)
{
	struct lbfo_lu *lu = calloc(1, sizeof(*lu));
	struct lbfo_team_config tc = {
		.max_outstanding = c->max_outstanding,
		.failback = c->failback,
		.failback_stable_ns = c->failback_stable_ns,
	};
	struct lbfo_kv kv[LBFO_MAX_POLICY_KV];
	uint64_t now = lbfo_now_ns();
	int i;

	if (!lu) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	lu->cfg = *c;
	lu->ident = *ident;
	lu->max_xfer = c->max_transfer ? c->max_transfer : DEFAULT_MAX_XFER;
	if (ident->max_xfer_blocks &&
	    (uint64_t)ident->max_xfer_blocks * ident->block_size < lu->max_xfer)
		lu->max_xfer = ident->max_xfer_blocks * ident->block_size;
	lu->max_xfer -= lu->max_xfer % ident->block_size;
	if (lu->max_xfer < ident->block_size)
		lu->max_xfer = ident->block_size;
	lu->isid_rnd = (uint32_t)((uint64_t)getpid() * 2654435761u ^ now) & 0xffffff;
	for (i = 0; i < c->npolicy_kv; i++) {
		kv[i].key = c->policy_keys[i];
		kv[i].value = c->policy_values[i];
	}
	if (lbfo_team_init(&lu->team, c->target, &tc, c->policy, kv, (size_t)c->npolicy_kv) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
		free(lu);
		return NULL;
	}
	/* Members in configuration order: the first is primary (claim 5).
	 * They start failed and are restored as their logins complete. */
	lu->npaths = c->npaths;
	for (i = 0; i < c->npaths; i++) {
		struct path *p = &lu->paths[i];

		p->idx = i;
		p->lu = lu;
		p->cfg = c->paths[i];
		p->fence_via = i;
		lbfo_portal_normalise(p->cfg.portal, p->portal, sizeof(p->portal));
		if (lbfo_team_add_member(&lu->team, p->cfg.name, p->cfg.read_share_bp,
					 p->cfg.write_share_bp, now) < 0) {
			snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
			goto fail;
		}
		if (lbfo_team_set_weight(&lu->team, i, p->cfg.weight ? p->cfg.weight : 1, now) < 0) {
			snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
			goto fail;
		}
	}
	/* Paths through a named interface share one adapter per interface,
	 * fed from the interface's own counters. */
	for (i = 0; i < c->npaths; i++) {
		int k;

		if (!c->paths[i].interface[0])
			continue;
		for (k = 0; k < lu->nadapters && strcmp(lu->adapters[k].name, c->paths[i].interface); k++)
			;
		if (k == lu->nadapters) {
			uint64_t b;

			lbfo_adapter_init(&lu->adapters[k], c->paths[i].interface);
			if (read_if_bytes(c->paths[i].interface, &b) < 0) {
				snprintf(err, errlen, "path %s: interface '%s' has no byte counters "
					 "(/sys/class/net/%s/statistics): %s", c->paths[i].name,
					 c->paths[i].interface, c->paths[i].interface, strerror(errno));
				goto fail;
			}
			lbfo_adapter_set_if_bytes(&lu->adapters[k], b);
			lu->nadapters++;
		}
		lbfo_member_set_adapter(&lu->team, i, &lu->adapters[k]);
	}
	for (i = 0; i < c->npaths; i++)
		lbfo_team_member_failed(&lu->team, i, -1, now, NULL);
	lu->team.failovers = 0;
	for (i = 0; i < c->npaths; i++)
		lu->team.m[i].st.failures = 0;

	lu->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lu->wakefd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&lu->sub_mu, NULL);
	pthread_mutex_init(&lu->mu, NULL);
	pthread_cond_init(&lu->paths_cv, NULL);
	{
		char cerr[LBFO_ERR_MAX];

		if (lbfo_ctl_open(lu, cerr, sizeof(cerr)) < 0) {
			if (c->control_set) {
				snprintf(err, errlen, "%s", cerr);
				close(lu->wakefd);
				goto fail;
			}
			lu_log(lu, LBFO_LOG_WARNING, "%s; running without a control socket", cerr);
		}
		if (lbfo_metrics_http_start(lu, cerr, sizeof(cerr)) < 0) {
			snprintf(err, errlen, "%s", cerr);
			lbfo_ctl_close(lu);
			close(lu->wakefd);
			goto fail;
		}
	}
	lu->link_fd = c->link_watch ? lu_link_open() : -1;
	if (c->link_watch && lu->link_fd < 0)
		lu_log(lu, LBFO_LOG_WARNING, "link watch off: rtnetlink: %s; a link going down "
		       "is noticed by nop_timeout", strerror(errno));
	if (pthread_create(&lu->thread, NULL, loop_main, lu) != 0) {
		snprintf(err, errlen, "cannot start the event loop thread");
		if (lu->link_fd >= 0)
			close(lu->link_fd);
		close(lu->wakefd);
		goto fail;
	}
	lu->started = true;
	return lu;
fail:
	lbfo_team_destroy(&lu->team);
	free(lu);
	return NULL;
}

static void wake(struct lbfo_lu *lu)
{
	uint64_t one = 1;

	if (write(lu->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wake-up is pending. */
	}
}

int lbfo_lu_client_open(struct lbfo_lu *lu)
{
	int i;

	pthread_mutex_lock(&lu->mu);
	for (i = 0; i < LBFO_MAX_CLIENTS && lu->clients[i].open; i++)
		;
	if (i < LBFO_MAX_CLIENTS) {
		memset(&lu->clients[i], 0, sizeof(lu->clients[i]));
		lu->clients[i].open = true;
		lu->clients_total++;
	} else {
		i = -1;
	}
	pthread_mutex_unlock(&lu->mu);
	return i;
}

void lbfo_lu_client_close(struct lbfo_lu *lu, int id)
{
	if (id < 0 || id >= LBFO_MAX_CLIENTS)
		return;
	pthread_mutex_lock(&lu->mu);
	lu->clients[id].open = false;
	pthread_mutex_unlock(&lu->mu);
}

void lbfo_lu_submit(struct lbfo_lu *lu, struct lbfo_io *io)
{
	bool was_empty;

	io->submit_ns = lbfo_now_ns();
	io->next = NULL;
	pthread_mutex_lock(&lu->sub_mu);
	was_empty = !lu->sub_head;
	if (lu->sub_tail)
		lu->sub_tail->next = io;
	else
		lu->sub_head = io;
	lu->sub_tail = io;
	pthread_mutex_unlock(&lu->sub_mu);
	/* The loop takes the whole list after each wake-up: only the first
	 * request of a batch needs to wake it (one syscall fewer per I/O
	 * under load). */
	if (was_empty)
		wake(lu);
}

int lbfo_lu_wait_paths(struct lbfo_lu *lu, int want, uint32_t timeout_ms)
{
	struct timespec ts;
	int i, up = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lu->mu);
	for (;;) {
		up = 0;
		for (i = 0; i < lu->npaths; i++)
			up += lu->paths[i].st == PATH_UP;
		if (up >= want)
			break;
		if (pthread_cond_timedwait(&lu->paths_cv, &lu->mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&lu->mu);
	return up;
}

const struct lbfo_lu_ident *lbfo_lu_identity(const struct lbfo_lu *lu)
{
	return &lu->ident;
}

void lbfo_lu_stop(struct lbfo_lu *lu)
{
	struct lu_cmd *c;
	struct lbfo_io *io, *next;
	int i;

	if (!lu)
		return;
	pthread_mutex_lock(&lu->mu);
	lu->stopping = true;
	pthread_mutex_unlock(&lu->mu);
	wake(lu);
	if (lu->started)
		pthread_join(lu->thread, NULL);
	lbfo_metrics_http_stop(lu);
	lbfo_ctl_close(lu);
	/* Nothing may be left waiting forever. */
	for (io = detach_submissions(lu); io; io = next) {
		next = io->next;
		io->result = -ESHUTDOWN;
		io_finish(io);
	}
	for (i = 0; i < lu->npaths; i++) {
		struct path *p = &lu->paths[i];
		struct lbfo_cmd *ret = NULL, *rc, *rn;

		lbfo_team_member_failed(&lu->team, i, -1, lbfo_now_ns(), &ret);
		for (rc = ret; rc; rc = rc->retry_next)
			((struct lu_cmd *)rc)->task = NULL;
		if (p->ctx)
			iscsi_destroy_context(p->ctx);
		if (p->fence_ctx)
			iscsi_destroy_context(p->fence_ctx);
		for (rc = ret; rc; rc = rn) {
			rn = rc->retry_next;
			cmd_done(lu, (struct lu_cmd *)rc, -ESHUTDOWN);
		}
		while ((c = q_pop(&p->fenced)))
			cmd_done(lu, c, -ESHUTDOWN);
	}
	while ((c = q_pop(&lu->queue)))
		cmd_done(lu, c, -ESHUTDOWN);
	lbfo_team_destroy(&lu->team);
	close(lu->wakefd);
	if (lu->link_fd >= 0)
		close(lu->link_fd);
	pthread_mutex_destroy(&lu->sub_mu);
	pthread_mutex_destroy(&lu->mu);
	pthread_cond_destroy(&lu->paths_cv);
	free(lu);
}

int lbfo_lu_set_policy(struct lbfo_lu *lu, const char *policy,
		       const struct lbfo_kv *kv, size_t nkv, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&lu->mu);
	rc = lbfo_team_set_policy(&lu->team, policy, kv, nkv, lbfo_now_ns());
	if (rc < 0)
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
	else
		lu_log(lu, LBFO_LOG_NOTICE, "policy set to %s (operator)", policy);
	pthread_mutex_unlock(&lu->mu);
	return rc;
}

void lu_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

void lu_status_json(struct lbfo_lu *lu, FILE *f)
{
	int i;

	fprintf(f, "{\"lus\":[{\"id\":");
	lu_json_str(f, lu->ident.id);
	fprintf(f, ",\"target\":");
	lu_json_str(f, lu->cfg.target);
	fprintf(f, ",\"lun\":%d,\"policy\":", lu->cfg.lun);
	lu_json_str(f, lbfo_team_policy_name(&lu->team));
	fprintf(f, ",\"mode\":\"%s\",\"blocks\":%" PRIu64 ",\"block_size\":%u,"
		"\"max_transfer\":%u,\"outstanding\":%u,\"queued\":%u,\"ios\":%" PRIu64
		",\"io_errors\":%" PRIu64 ",\"failovers\":%" PRIu64 ",\"requeued\":%" PRIu64
		",\"fences\":%" PRIu64 ",\"longest_fence_ms\":%.3f,\"no_path\":%s,"
		"\"link_watch\":%s,\"link_downs\":%" PRIu64 ",\"paths\":[",
		lbfo_mode_name(lbfo_team_mode(&lu->team)), lu->ident.blocks,
		lu->ident.block_size, lu->max_xfer, lu->team.outstanding, lu->queue.n,
		lu->ios, lu->io_errors, lu->failovers, lu->requeued, lu->fences,
		(double)lu->longest_fence_ns / 1e6, lu->no_path_since_ns ? "true" : "false",
		lu->link_fd >= 0 ? "true" : "false", lu->link_downs);
	for (i = 0; i < lu->npaths; i++) {
		const struct path *p = &lu->paths[i];
		const struct lbfo_member *m = &lu->team.m[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		lu_json_str(f, p->cfg.name);
		fprintf(f, ",\"portal\":");
		lu_json_str(f, p->portal);
		fprintf(f, ",\"state\":\"%s\",\"session\":\"%s\",\"role\":\"%s\","
			"\"read_share\":%.2f,\"write_share\":%.2f,\"bytes_read\":%" PRIu64
			",\"bytes_written\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"writes\":%" PRIu64
			",\"outstanding\":%u,\"failures\":%" PRIu64 ",\"retries\":%" PRIu64
			",\"returned\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"logins\":%" PRIu64
			",\"flapping\":%s,\"last_fence_ms\":%.3f,\"read_MBps\":%.2f,"
			"\"write_MBps\":%.2f,\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,"
			"\"operator_down\":%s,\"last_error\":",
			lbfo_member_state_name(m->state), lu_path_state_names[p->st],
			lbfo_role_name(m->role), m->share[LBFO_READ] / 100.0,
			m->share[LBFO_WRITE] / 100.0, m->st.bytes[LBFO_READ],
			m->st.bytes[LBFO_WRITE], m->st.cmds[LBFO_READ], m->st.cmds[LBFO_WRITE],
			m->outstanding, m->st.failures, p->retries, m->st.returned, p->errors,
			p->logins, p->flapping ? "true" : "false",
			(double)p->last_fence_ns / 1e6, p->rate[LBFO_READ] / 1e6,
			p->rate[LBFO_WRITE] / 1e6, lu_lat_quantile_ms(p, 0.5),
			lu_lat_quantile_ms(p, 0.99), p->admin_down ? "true" : "false");
		lu_json_str(f, p->last_error);
		fprintf(f, ",\"interface\":");
		lu_json_str(f, p->ifname);
		fputc('}', f);
	}
	fprintf(f, "],\"clients\":[");
	{
		bool first = true;

		for (i = 0; i < LBFO_MAX_CLIENTS; i++) {
			if (!lu->clients[i].open)
				continue;
			fprintf(f, "%s{\"id\":%d,\"ios\":%" PRIu64 ",\"errors\":%" PRIu64
				",\"bytes_read\":%" PRIu64 ",\"bytes_written\":%" PRIu64 "}",
				first ? "" : ",", i, lu->clients[i].ios, lu->clients[i].errors,
				lu->clients[i].bytes[LBFO_READ], lu->clients[i].bytes[LBFO_WRITE]);
			first = false;
		}
	}
	fprintf(f, "],\"clients_total\":%" PRIu64 "}]}\n", lu->clients_total);
}

void lbfo_lu_status_json(struct lbfo_lu *lu, FILE *f)
{
	pthread_mutex_lock(&lu->mu);
	lu_status_json(lu, f);
	pthread_mutex_unlock(&lu->mu);
}

/* Called on the loop thread with lu->mu held: write, then rename, so a
 * reader never sees half a document. */
static void write_status_file(struct lbfo_lu *lu)
{
	char tmp[LBFO_STR_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%.*s.tmp", LBFO_STR_MAX - 1, lu->cfg.status_file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	lu_status_json(lu, f);
	if (fclose(f) == 0)
		rename(tmp, lu->cfg.status_file);
}
