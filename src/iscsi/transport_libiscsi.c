/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport over libiscsi: one iscsi_context per connection, driven
 * through libiscsi's three loop functions (fd, which events, service).
 *
 * libiscsi's own reconnect is off: lbfo decides when a path is back (a
 * reconnect behind its back would replay commands the LU has already
 * handed to another path). Every command goes through
 * iscsi_scsi_command_async with a CDB built by src/iscsi/scsi.c and the
 * caller's iovecs, so no data is copied.
 *
 * The target portal group tag is read from the login response. libiscsi
 * does not keep it, but it logs every key of a login reply at level 6
 * ("TargetLoginReply: KEY=VALUE"); during login the context's log level
 * is 6 and a hook picks the key out. The hook has no context argument, so
 * the connection being serviced is held in a thread-local pointer around
 * every libiscsi call that can process a login reply.
 */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "transport.h"

struct xtask;

struct lbfo_xport {
	struct iscsi_context *ctx;
	lbfo_xport_login_cb login_cb;
	void *priv;
	enum { LX_CONNECT, LX_LOGIN, LX_UP, LX_FAILED } stage;
	int tpgt;
	char err[256];
	struct xtask *tasks;     /* commands in flight (doubly linked) */
};

/* One command in flight: the task and whom to tell. c is NULL once the
 * connection is abandoned (libiscsi then cancels the task; nobody is told). */
struct xtask {
	struct lbfo_xport_cmd *c;
	struct lbfo_xport *x;
	struct scsi_task *task;
	struct xtask *prev, *next;
};

static __thread struct lbfo_xport *servicing;

static void log_hook(int level, const char *msg)
{
	const char *k = "TargetLoginReply: TargetPortalGroupTag=";
	const char *p;

	(void)level;
	if (!servicing || !(p = strstr(msg, k)))
		return;
	servicing->tpgt = atoi(p + strlen(k));
}

static void set_err(struct lbfo_xport *x, const char *what)
{
	const char *e = iscsi_get_error(x->ctx);

	snprintf(x->err, sizeof(x->err), "%s%s%s", what, e && e[0] ? ": " : "", e ? e : "");
}

static void login_done(struct lbfo_xport *x, bool ok)
{
	if (x->stage == LX_UP || x->stage == LX_FAILED)
		return;
	x->stage = ok ? LX_UP : LX_FAILED;
	iscsi_set_log_level(x->ctx, 0);
	x->login_cb(x, ok, x->tpgt, x->priv);
}

static void login_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct lbfo_xport *x = priv;

	(void)data;
	if (x->ctx != ctx)
		return;
	if (status != SCSI_STATUS_GOOD)
		set_err(x, "login failed");
	login_done(x, status == SCSI_STATUS_GOOD);
}

static void connect_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct lbfo_xport *x = priv;

	(void)data;
	if (x->ctx != ctx || x->stage != LX_CONNECT)
		return;
	if (status != SCSI_STATUS_GOOD) {
		set_err(x, "connect failed");
		login_done(x, false);
		return;
	}
	x->stage = LX_LOGIN;
	if (iscsi_login_async(ctx, login_cb, x) != 0) {
		set_err(x, "login failed");
		login_done(x, false);
	}
}

static int setup(struct iscsi_context *ctx, const struct lbfo_xport_params *p)
{
	if (iscsi_set_targetname(ctx, p->target) ||
	    iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL) ||
	    iscsi_set_header_digest(ctx, p->header_digest ? ISCSI_HEADER_DIGEST_CRC32C
							  : ISCSI_HEADER_DIGEST_NONE) ||
	    iscsi_set_isid_random(ctx, p->isid_rnd & 0xffffff, p->isid_qual))
		return -1;
	if (p->chap_user && p->chap_user[0]) {
		if (iscsi_set_initiator_username_pwd(ctx, p->chap_user,
						     p->chap_password ? p->chap_password : ""))
			return -1;
	} else if (p->security_stage) {
		/* libiscsi starts in the security stage only when it has a
		 * CHAP user and secret (an empty secret clears both); it then
		 * offers AuthMethod=CHAP,None, and a target without an account
		 * for us picks None. Neither is sent unless the target insists
		 * on CHAP, and then the login fails as it would have anyway. */
		if (iscsi_set_initiator_username_pwd(ctx, p->initiator, "lbfo-no-chap-account"))
			return -1;
	}
	if (p->mutual_user && p->mutual_user[0] &&
	    iscsi_set_target_username_pwd(ctx, p->mutual_user,
					  p->mutual_password ? p->mutual_password : ""))
		return -1;
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_reconnect_max_retries(ctx, 0);
	if (p->tcp_user_timeout_ms)
		iscsi_set_tcp_user_timeout(ctx, (int)p->tcp_user_timeout_ms);
	iscsi_set_tcp_keepidle(ctx, 1);
	iscsi_set_tcp_keepintvl(ctx, 1);
	iscsi_set_tcp_keepcnt(ctx, 3);
	iscsi_set_tcp_syncnt(ctx, 2);
	iscsi_set_log_fn(ctx, log_hook);
	iscsi_set_log_level(ctx, 6);
	return 0;
}

static struct lbfo_xport *lx_open(void *env, const struct lbfo_xport_params *p,
				  lbfo_xport_login_cb cb, void *priv, char *err, size_t errlen)
{
	struct lbfo_xport *x = calloc(1, sizeof(*x));

	(void)env;
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->ctx = iscsi_create_context(p->initiator);
	if (!x->ctx) {
		snprintf(err, errlen, "cannot create an iSCSI context (out of memory?)");
		free(x);
		return NULL;
	}
	x->login_cb = cb;
	x->priv = priv;
	x->tpgt = -1;
	if (setup(x->ctx, p) < 0) {
		snprintf(err, errlen, "iSCSI context set-up: %s", iscsi_get_error(x->ctx));
		goto fail;
	}
	servicing = x;
	if (iscsi_connect_async(x->ctx, p->portal, connect_cb, x) != 0) {
		servicing = NULL;
		snprintf(err, errlen, "connect failed: %s", iscsi_get_error(x->ctx));
		goto fail;
	}
	servicing = NULL;
	return x;
fail:
	iscsi_destroy_context(x->ctx);
	free(x);
	return NULL;
}

static void unlink_task(struct lbfo_xport *x, struct xtask *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		x->tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

static void lx_abandon(struct lbfo_xport *x)
{
	struct xtask *t, *next;
	int fd;

	if (!x)
		return;
	x->stage = LX_FAILED; /* a cancelled login is not reported either */
	/* Nobody is told about the tasks libiscsi cancels below, and no
	 * buffer of theirs is touched once we return (the tasks die with
	 * the context). */
	for (t = x->tasks; t; t = t->next) {
		if (t->c)
			t->c->xt = NULL;
		t->c = NULL;
	}
	fd = iscsi_get_fd(x->ctx);
	if (fd >= 0) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		/* A reset, not a FIN: the kernel discards what it has not
		 * sent or has not had acknowledged. */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	iscsi_destroy_context(x->ctx);
	for (t = x->tasks; t; t = next) { /* any task libiscsi did not call back */
		next = t->next;
		free(t);
	}
	free(x);
}

static void cmd_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct xtask *t = priv;
	struct scsi_task *task = data;
	struct lbfo_xport *x = t->x;
	struct lbfo_xport_cmd *c = t->c;
	struct lbfo_scsi_result r = { 0 };

	(void)ctx;
	unlink_task(x, t);
	free(t);
	if (!c) {
		if (task)
			scsi_free_scsi_task(task);
		return;
	}
	c->xt = NULL;
	if (status == SCSI_STATUS_CANCELLED || status == SCSI_STATUS_ERROR ||
	    status == SCSI_STATUS_TIMEOUT || !task) {
		/* The session broke under the command: the connection is
		 * failed; the command is handed back by the path session, not
		 * completed here. */
		set_err(x, status == SCSI_STATUS_TIMEOUT ? "command timed out" : "session dropped");
		x->stage = LX_FAILED;
		if (task)
			scsi_free_scsi_task(task);
		return;
	}
	r.status = status;
	if (status == SCSI_STATUS_CHECK_CONDITION) {
		r.sense_key = (uint8_t)task->sense.key;
		r.asc = (uint8_t)(task->sense.ascq >> 8);
		r.ascq = (uint8_t)task->sense.ascq;
	}
	if (task->residual_status == SCSI_RESIDUAL_UNDERFLOW) {
		r.underflow = true;
		r.residual = (uint32_t)task->residual;
	} else if (task->residual_status == SCSI_RESIDUAL_OVERFLOW) {
		r.overflow = true;
		r.residual = (uint32_t)task->residual;
	}
	scsi_free_scsi_task(task);
	c->done(c, &r);
}

static int lx_submit(struct lbfo_xport *x, struct lbfo_xport_cmd *c)
{
	static const int dir[] = {
		[LBFO_XFER_NONE] = SCSI_XFER_NONE, [LBFO_XFER_READ] = SCSI_XFER_READ,
		[LBFO_XFER_WRITE] = SCSI_XFER_WRITE,
	};
	struct xtask *t;
	struct scsi_task *task;

	if (x->stage != LX_UP) {
		snprintf(x->err, sizeof(x->err), "not logged in");
		return -1;
	}
	t = calloc(1, sizeof(*t));
	task = t ? scsi_create_task(c->cdb.len, c->cdb.b, dir[c->cdb.dir],
				    (int)c->cdb.xfer_len) : NULL;
	if (!task) {
		free(t);
		snprintf(x->err, sizeof(x->err), "out of memory");
		return -1;
	}
	/* struct scsi_iovec is laid out as struct iovec (libiscsi says so):
	 * libiscsi keeps the caller's array, it does not copy it. */
	if (c->niov && c->cdb.dir == LBFO_XFER_READ)
		scsi_task_set_iov_in(task, (struct scsi_iovec *)c->iov, c->niov);
	else if (c->niov && c->cdb.dir == LBFO_XFER_WRITE)
		scsi_task_set_iov_out(task, (struct scsi_iovec *)c->iov, c->niov);
	t->c = c;
	t->x = x;
	t->task = task;
	if (iscsi_scsi_command_async(x->ctx, c->lun, task, cmd_cb, NULL, t) != 0) {
		set_err(x, "cannot queue a command");
		scsi_free_scsi_task(task);
		free(t);
		return -1;
	}
	t->next = x->tasks;
	if (x->tasks)
		x->tasks->prev = t;
	x->tasks = t;
	c->xt = t;
	return 0;
}

static int lx_nop(struct lbfo_xport *x)
{
	return x->stage == LX_UP ? iscsi_nop_out_async(x->ctx, NULL, NULL, 0, NULL) : -1;
}

static int lx_nops_in_flight(struct lbfo_xport *x)
{
	return iscsi_get_nops_in_flight(x->ctx);
}

static int lx_fd(struct lbfo_xport *x) { return iscsi_get_fd(x->ctx); }
static short lx_events(struct lbfo_xport *x) { return (short)iscsi_which_events(x->ctx); }

static int lx_service(struct lbfo_xport *x, short revents)
{
	int rc;

	if (x->stage == LX_FAILED)
		return -1;
	servicing = x;
	rc = iscsi_service(x->ctx, revents);
	servicing = NULL;
	if (x->stage == LX_FAILED)
		return -1;
	/* With reconnect off, libiscsi drops the session on a socket error
	 * and may still return 0: an error or a hang-up is a failure. */
	if (rc < 0 || (revents & (POLLERR | POLLHUP | POLLNVAL))) {
		set_err(x, revents & POLLHUP ? "socket closed" : "socket error");
		if (x->stage != LX_UP)
			login_done(x, false);
		x->stage = LX_FAILED;
		return -1;
	}
	return 0;
}

static size_t lx_queued(struct lbfo_xport *x)
{
	return (size_t)iscsi_out_queue_length(x->ctx);
}

static int lx_unacked(struct lbfo_xport *x)
{
	int fd = iscsi_get_fd(x->ctx), n = 0;

	if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) < 0)
		return -1;
	return n;
}

static uint64_t lx_acked(struct lbfo_xport *x)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int fd = iscsi_get_fd(x->ctx);

	memset(&ti, 0, sizeof(ti));
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
		return UINT64_MAX;
	return ti.tcpi_bytes_acked;
}

static int lx_socket(struct lbfo_xport *x) { return iscsi_get_fd(x->ctx); }
static const char *lx_error(struct lbfo_xport *x) { return x->err[0] ? x->err : "no error"; }

const struct lbfo_xport_ops lbfo_xport_libiscsi = {
	.name = "libiscsi",
	.open = lx_open,
	.abandon = lx_abandon,
	.submit = lx_submit,
	.nop = lx_nop,
	.nops_in_flight = lx_nops_in_flight,
	.fd = lx_fd,
	.events = lx_events,
	.service = lx_service,
	.queued = lx_queued,
	.unacked = lx_unacked,
	.acked = lx_acked,
	.socket = lx_socket,
	.error = lx_error,
};

int lbfo_portal_normalise(const char *in, char *out, size_t len)
{
	const char *colon = strrchr(in, ':');
	const char *rb = strchr(in, ']');

	if (in[0] == '[') {
		if (!rb || (rb[1] && (rb[1] != ':' || !rb[2])))
			return -1;
		if (rb[1])
			snprintf(out, len, "%s", in);
		else
			snprintf(out, len, "%s:3260", in);
		return 0;
	}
	if (colon && strchr(in, ':') != colon)
		return -1; /* a bare IPv6 address: its last group reads as a port */
	if (colon && !colon[1])
		return -1;
	if (colon)
		snprintf(out, len, "%s", in);
	else
		snprintf(out, len, "%s:3260", in);
	return 0;
}

/* ---- SendTargets -------------------------------------------------------- */

struct disc {
	int step; /* 0 connect, 1 login, 2 discovery, 3 done */
	int failed;
	int n;
	char *targets;
	size_t len, used;
	char err[256];
};

static void disc_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct disc *d = priv;

	if (d->step >= 3 || d->failed)
		return;
	if (status != SCSI_STATUS_GOOD) {
		snprintf(d->err, sizeof(d->err), "%s failed: %s",
			 d->step == 0 ? "connect" : d->step == 1 ? "discovery login" : "SendTargets",
			 iscsi_get_error(ctx));
		d->failed = 1;
		return;
	}
	if (d->step == 0) {
		d->step = 1;
		if (iscsi_login_async(ctx, disc_cb, d) != 0)
			goto fail;
	} else if (d->step == 1) {
		d->step = 2;
		if (iscsi_discovery_async(ctx, disc_cb, d) != 0)
			goto fail;
	} else {
		const struct iscsi_discovery_address *a;

		for (a = data; a; a = a->next) {
			if (d->used < d->len)
				d->used += (size_t)snprintf(d->targets + d->used, d->len - d->used,
							    "%s\n", a->target_name);
			d->n++;
		}
		d->step = 3;
	}
	return;
fail:
	snprintf(d->err, sizeof(d->err), "%s", iscsi_get_error(ctx));
	d->failed = 1;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int lbfo_iscsi_discover(const struct lbfo_xport_params *p, uint32_t timeout_ms,
			char *targets, size_t len, char *err, size_t errlen)
{
	struct disc d = { .targets = targets, .len = len };
	struct iscsi_context *ctx = iscsi_create_context(p->initiator);
	uint64_t deadline = mono_ms() + timeout_ms;
	int rc = -1;

	if (len)
		targets[0] = '\0';
	if (!ctx) {
		snprintf(err, errlen, "cannot create an iSCSI context");
		return -1;
	}
	iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_tcp_syncnt(ctx, 2);
	if (p->chap_user && p->chap_user[0])
		iscsi_set_initiator_username_pwd(ctx, p->chap_user,
						 p->chap_password ? p->chap_password : "");
	if (iscsi_connect_async(ctx, p->portal, disc_cb, &d) != 0) {
		snprintf(err, errlen, "connect failed: %s", iscsi_get_error(ctx));
		goto out;
	}
	while (!d.failed && d.step < 3) {
		struct pollfd pfd = { .fd = iscsi_get_fd(ctx), .events = (short)iscsi_which_events(ctx) };
		uint64_t now = mono_ms();
		int n;

		if (now >= deadline) {
			snprintf(err, errlen, "no answer within %u ms (discovery)", timeout_ms);
			goto out;
		}
		n = poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)(deadline - now < 100 ? deadline - now : 100));
		if (n < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto out;
		}
		iscsi_service(ctx, n > 0 ? pfd.revents : 0);
	}
	if (d.failed) {
		snprintf(err, errlen, "%s", d.err);
		goto out;
	}
	rc = d.n;
out:
	iscsi_destroy_context(ctx);
	return rc;
}
