/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The path session (the seeds' "miniport"): one iSCSI session to one
 * target portal, kept alive and watched. It logs in (and again, with
 * backoff, after a failure), sends NOP-Out keepalives, fails itself when
 * it shows no sign of life or a command takes too long, holds a flapping
 * path out, and carries SCSI commands for whoever submits them — one LU
 * today, every LU of the target later. It can also fence another session
 * by reinstating it through its own portal.
 *
 * It knows nothing of LUs, queues or policies. It speaks upward only
 * through the ops its owner gives it (logged in, failed, fence done, a
 * log line) and through each command's done(). It takes the time as an
 * argument and never reads a clock, so the unit tests drive it with a
 * fake transport and a fake clock.
 *
 * Every submitted command gets exactly one done(): the target's answer,
 * or LBFO_XS_PATH_LOST when the session fails under it (then done() comes
 * before ops->down()). A command must not be submitted again before its
 * done().
 */
#ifndef LBFO_ISCSI_SESSION_H
#define LBFO_ISCSI_SESSION_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "lbfo/scsi.h"
#include "transport.h"

#define LBFO_NAME_LEN 32
#define LBFO_ERR_LEN 256

/* A pseudo status: the path was lost with the command in flight. */
#define LBFO_XS_PATH_LOST (-1)

/*
 * Session states. Exactly one at a time.
 */
enum lbfo_session_state {
	/* No connection. The next login attempt is at next_attempt_ns:
	 * after reconnect backoff, and for a flapping path after its
	 * hold-down (skipped while the owner marks the session urgent). */
	LBFO_SS_DOWN = 0,
	/* TCP connect and iSCSI login in progress; it must finish within
	 * login_timeout or the session fails. */
	LBFO_SS_LOGIN,
	/* Logged in: carries commands; liveness and command age watched. */
	LBFO_SS_UP,
	/* Taken out by its owner (an operator, or a path that leads to
	 * another LU): no login until lbfo_session_enable(). */
	LBFO_SS_OFF,
	LBFO_SS__MAX
};
const char *lbfo_session_state_name(enum lbfo_session_state s);

struct lbfo_session;

/* A command as the session carries it. Embed it; x must stay first. */
struct lbfo_scmd {
	struct lbfo_xport_cmd x;
	struct lbfo_session *s;       /* while in flight */
	uint64_t start_ns;
	struct lbfo_scmd *prev, *next; /* the session's in-flight list, oldest first */
	/* The answer, or status LBFO_XS_PATH_LOST. */
	void (*done)(struct lbfo_scmd *c, const struct lbfo_scsi_result *r, uint64_t now);
};

struct lbfo_session_ops {
	/* Logged in (first time or again). tpgt: the portal group the target
	 * named in its login response (-1 unknown). */
	void (*up)(struct lbfo_session *s, void *owner, int tpgt, uint64_t now);
	/* Failed (was_up: after being up; else a login attempt failed).
	 * Every command in flight has had its done(PATH_LOST) already. */
	void (*down)(struct lbfo_session *s, void *owner, bool was_up, const char *reason,
		     uint64_t now);
	/* A fence started by lbfo_session_fence() ended. ok: the target
	 * accepted the reinstating login through `via`'s portal, in the
	 * failed session's portal group. */
	void (*fenced)(struct lbfo_session *s, void *owner, bool ok, const char *why,
		       uint64_t now);
	/* A log line (syslog level). */
	void (*log)(struct lbfo_session *s, void *owner, int level, const char *msg);
};

struct lbfo_session_config {
	char name[LBFO_NAME_LEN];     /* the path's name, for logs */
	const struct lbfo_xport_ops *xops;
	void *xenv;
	/* The connection's parameters; the strings must outlive the session. */
	struct lbfo_xport_params xp;
	uint32_t login_timeout_ms;
	uint32_t nop_interval_ms;     /* NOP-Out keepalive period */
	uint32_t nop_timeout_ms;      /* no sign of life this long = dead */
	uint32_t cmd_timeout_ms;      /* one command may take this long */
	uint32_t reconnect_min_ms, reconnect_max_ms;
	uint32_t flap_window_ms;      /* failing again this soon after login = flapping */
	uint32_t flap_hold_max_ms;    /* longest hold-down of a flapping path */
};

struct lbfo_session {
	struct lbfo_session_config cfg;
	const struct lbfo_session_ops *ops;
	void *owner;
	enum lbfo_session_state st;
	struct lbfo_xport *x;
	int tpgt;                     /* of the current / last login, -1 unknown */
	uint32_t nexus_rnd;           /* the ISID of the current / last login */
	uint16_t nexus_qual;

	/* login and reconnect */
	uint64_t login_deadline_ns;
	uint64_t next_attempt_ns;
	uint32_t backoff_ms;
	uint32_t hold_ms;             /* flap hold-down */
	bool flapping;
	bool urgent;                  /* the owner needs it: no hold-down */
	uint64_t up_since_ns;

	uint64_t now;                 /* of the service call under way */
	bool want_off;                /* disabled while up: OFF once reaped */

	/* liveness */
	uint64_t last_life_ns;
	uint64_t last_acked;          /* bytes the peer acknowledged, last seen */
	uint64_t acked_at_ns;         /* ... when */
	bool nop_out;
	uint64_t nop_next_ns;

	/* commands in flight, oldest first */
	struct lbfo_scmd *head, *tail;
	uint32_t inflight;

	/* deferred failure: reaped outside transport callbacks */
	bool failing;
	char fail_reason[LBFO_ERR_LEN];
	char last_error[LBFO_ERR_LEN];

	/* a fence of this session through another portal */
	struct lbfo_xport *fx;
	char fence_via[LBFO_NAME_LEN];
	int fence_tpgt;
	uint64_t fence_start_ns, fence_deadline_ns;
	enum { FENCE_IDLE, FENCE_LOGIN, FENCE_OK, FENCE_FAILED } fence_st;
	char fence_err[LBFO_ERR_LEN];

	uint64_t logins, failures;
};

/* Set up (state DOWN, first attempt at `now`); no I/O yet. */
void lbfo_session_init(struct lbfo_session *s, const struct lbfo_session_config *cfg,
		       const struct lbfo_session_ops *ops, void *owner, uint64_t now);
/* Tear down at once (abandon the connections, done(PATH_LOST) for what
 * is in flight, no ops called). */
void lbfo_session_destroy(struct lbfo_session *s);

/* Loop contract: the fds to poll (at most 2), then service with the
 * revents of those fds (matched by fd; revents 0 is fine: timers run),
 * then the next time anything is due (absolute ns). */
int lbfo_session_pollfds(const struct lbfo_session *s, struct pollfd *pfd, int max);
void lbfo_session_service(struct lbfo_session *s, const struct pollfd *pfd, int n,
			  uint64_t now);
uint64_t lbfo_session_next_timer(const struct lbfo_session *s);
/* The revents of fd in a poll set (0 if fd is absent or negative): for
 * loops that poll sessions' fds beside their own. */
short lbfo_pollfd_revents(const struct pollfd *pfd, int n, int fd);

/* Queue a command (state UP only). 0, or -1: not up, or the connection
 * refused it (then the session fails; done() is NOT called). */
int lbfo_session_submit(struct lbfo_session *s, struct lbfo_scmd *c, uint64_t now);

/* Write what the transport holds for the target now, from the thread
 * that queued it (under the owner's lock), instead of at the loop's next
 * POLLOUT. true: some is left (or the session failed): the loop must
 * poll again (its poll set may not ask for POLLOUT). */
bool lbfo_session_flush(struct lbfo_session *s);

/* Fail the session (deferred to the next service; reason kept). */
void lbfo_session_fail(struct lbfo_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Owner's controls. disable: OFF (fails it first when up). enable: DOWN,
 * next attempt now. urgent: the owner has no other usable path, so no
 * flap hold-down applies (the last usable path is never held out). */
void lbfo_session_disable(struct lbfo_session *s, const char *why);
void lbfo_session_enable(struct lbfo_session *s, uint64_t now);
void lbfo_session_set_urgent(struct lbfo_session *s, bool urgent, uint64_t now);
/* The ISID the next login uses (a new I_T nexus when changed). */
void lbfo_session_set_isid(struct lbfo_session *s, uint32_t rnd, uint16_t qual);

/*
 * Fence `s` (failed) by logging in through `via`'s portal with s's
 * initiator name and ISID: a target that implements session
 * reinstatement closes s's old connection and drops its tasks before it
 * answers. The result comes through ops->fenced. Refused (-1) while s is
 * logging in on its own or a fence is already running: the two never
 * run at once on one path.
 */
int lbfo_session_fence(struct lbfo_session *s, const struct lbfo_session *via, uint64_t now);
bool lbfo_session_fencing(const struct lbfo_session *s);

#endif
