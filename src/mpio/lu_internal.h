/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the multipath LU and of the targets whose sessions the
 * LUs share. The files and what each owns:
 *
 *   lu.c        the paths' state per LU, what a session's events mean for
 *               the LU, the path checker
 *   life.c      create, destroy, shutdown, the thread-safe API
 *   intake.c    client requests: split into commands, completion
 *   dispatch.c  the queue: send through the team's choice, answers, retry,
 *               the no-path deadline
 *   fence.c     fence debts, the write barrier, the fence clock
 *   reservation.c  fencing by persistent reservations
 *   identity.c  ISIDs, reservation keys, the state file and lock
 *   target.c    a target: one path session per portal, carrying every LU
 *               of the target that the process serves; its events go to
 *               each LU over it
 *   service.c   the LU's part of the loop contract (timers, dispatch)
 *   status.c    status JSON, text and metrics (read-only views)
 *   ops.c       the operator's actions on an LU (lbfoctl's requests)
 *   linkwatch.c rtnetlink link messages
 *   config.c    configuration keys
 *
 * Not a public API.
 */
#ifndef LBFO_LU_INTERNAL_H
#define LBFO_LU_INTERNAL_H

#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "lbfo/lu.h"
#include "events.h"
#include "ident.h"
#include "path_session.h"

#define LBFO_LAT_BUCKETS 40 /* log2 microseconds */

static inline uint64_t ms_ns(uint32_t ms) { return (uint64_t)ms * LBFO_NS_PER_MS; }

/* A piece of a client request (at most max_transfer long), or an
 * internal command of the LU (fence, registration, path check). */
struct lu_cmd {
	struct lbfo_scmd sc;       /* the session's view; first */
	struct lbfo_cmd core;      /* the team's in-flight tracking */
	struct lbfo_lu *lu;
	struct lbfo_io *io;        /* NULL for an internal command */
	enum lbfo_io_type type;
	uint64_t lba;
	uint32_t blocks;
	void *buf;
	struct iovec iov;          /* the transport points at it during an attempt */
	uint8_t param[24];         /* UNMAP parameter list; zero block source */
	bool fua, unmap;
	uint64_t bytes;
	int path;                  /* path of the current attempt, -1 when queued */
	bool in_team;              /* started on the team (lbfo_team_start) */
	unsigned ua_retries;       /* RETRY_NOW answers so far */
	uint32_t backoff_ms;       /* RETRY_LATER backoff */
	uint64_t not_before_ns;    /* retry delay */
	uint64_t deadline_ns;      /* EIO at this time while waiting (0: none) */
	struct lu_cmd *next;
};

struct cmdq {
	struct lu_cmd *head, *tail;
	uint32_t n;
};

void q_push(struct cmdq *q, struct lu_cmd *c);
void q_push_front(struct cmdq *q, struct lu_cmd *c);
void q_prepend_all(struct cmdq *dst, struct cmdq *src);
struct lu_cmd *q_pop(struct cmdq *q);

/*
 * A path's state for this LU (the session's state is its own: up does
 * not mean usable for the LU).
 */
enum lu_path_state {
	/* The session is not up, or the LU failed the path (a path-level
	 * answer, a reservation conflict): no I/O; checked again later. */
	LP_DOWN = 0,
	/* The session is up; the LU's identity is being read or checked
	 * (and the path registered, with reservations). */
	LP_IDENT,
	/* A team member carrying I/O (the team says active, standby or
	 * probing). */
	LP_UP,
	/* Leads to another LU: never used until an operator restores it. */
	LP_REFUSED,
	LP__MAX
};

struct tgt_path;

struct lu_path {
	int idx;
	struct lbfo_lu *lu;
	struct lbfo_path_config cfg;  /* name, shares, weight of the portal's path */
	char portal[LBFO_STR_MAX];
	struct tgt_path *tp;          /* the target's path: its session */
	struct lbfo_session *s;       /* = &tp->s, shared with the target's other LUs */
	int lun;                      /* the LU's number behind this path */
	struct lbfo_ident_reader ident;
	enum lu_path_state st;
	bool admin_down;           /* failed by an operator */
	bool lu_failed;            /* failed by the LU (answer), session kept */
	uint64_t check_at_ns;      /* when a path failed by an answer is checked again */
	char last_error[LBFO_ERR_MAX];
	unsigned pending_ev;       /* 1 << enum lbfo_scsi_event: answers asked for it */
	int alua;                  /* LBFO_ALUA_*; NONE when the LU does no ALUA */
	uint64_t ups;              /* session logins this LU has seen */

	/* fencing (fence.c) */
	bool owes_fence;           /* failed with a write in flight */
	bool pred_owes;            /* a predecessor left a session here (identity.c) */
	bool fence_running;
	uint64_t owed_since_ns;
	uint64_t fence_next_ns;
	uint32_t fence_backoff_ms;
	unsigned fence_attempts;
	char fence_via[LBFO_NAME_MAX];
	uint64_t last_fence_ns;    /* duration of the last fence */
	uint64_t pr_key;           /* our key on this nexus; 0: not registered */
	uint64_t stale_key;        /* the old nexus's key, preempted by the fence */
	struct lu_cmd *pr_cmd;     /* reservation command in flight through this path */

	uint64_t retries, errors, failures, conflicts;
	uint64_t lat_hist[LBFO_LAT_BUCKETS];
	uint64_t lat_count;
	uint64_t rate_mark_bytes[LBFO_DIR__MAX];
	double rate[LBFO_DIR__MAX];
	uint64_t up_since_ns;
};

/*
 * A target's path: one session to one portal, carrying every LU of the
 * target over it (target.c). Its ISID is the target's plus the portal's
 * slot and a nexus generation (a new I_T nexus after a reservation
 * fence); the session logs in with the current one.
 */
struct tgt_path {
	int idx;                   /* in the target */
	int cfg_idx;               /* in the configuration's paths */
	struct lbfo_tgt *tgt;
	struct lbfo_path_config cfg;
	char portal[LBFO_STR_MAX];
	struct lbfo_session s;
	uint16_t isid_slot;        /* stable per portal */
	uint16_t gen;              /* nexus generation */
	bool gen_fresh;            /* gen moved on since the last login */
	bool same_nexus;           /* the last login used the ISID of the one before */
	int tpgt, tpgt_before;     /* portal group of the last login, and the one before */
	uint64_t logins;
	unsigned ifindex;          /* the interface the session leaves by (link watch) */
	char ifname[IF_NAMESIZE];
	struct lu_path **users;    /* the LUs' paths over this session */
	int nusers, users_cap;
	bool off;                  /* taken out by an operator */
};

struct lbfo_tgt {
	char name[LBFO_STR_MAX];   /* the target's IQN */
	struct lbfo_lu_config cfg; /* initiator, CHAP, timers (paths: the portals) */
	uint32_t isid_rnd;         /* initiator, target, scope */
	struct lbfo_tgt_check chk; /* indexed by the target's paths */
	const struct lbfo_xport_ops *xops;
	void *xenv;
	struct tgt_path *paths;
	int npaths;
	uint64_t now;
};


/* What the LU knows of fencing on its target. */
struct lu_fence {
	enum lbfo_fence_method method;   /* in use (never AUTO) */
	char why[LBFO_STR_MAX];          /* why this method, or none */
	bool reinstate_own;
	bool reinstate_cross[LBFO_MAX_PATHS];
	uint64_t key_prefix;             /* reservation keys: upper 48 bits */
	bool pr_checked;                 /* reservation state read at start */
	uint64_t stale_keys[8];          /* a predecessor's keys to preempt */
	int nstale;
	bool nstale_unknown;             /* a predecessor's keys not read yet */
	int pred_pid;                    /* of a predecessor that left debts */
	bool unclean;                    /* writes were in flight at the end */
	unsigned debts;                  /* paths owing a fence */
	uint64_t fences, longest_ns;
	int lock_fd;
	char lock_path[LBFO_STR_MAX];
};

struct lbfo_lu {
	struct lbfo_lu_config cfg;
	struct lbfo_lu_ident ident;      /* exported size and capabilities */
	uint64_t target_blocks;          /* what the target says now */
	uint32_t max_xfer;
	struct lbfo_team team;
	struct lu_path *paths;           /* as many as it has */
	int npaths;
	struct lu_fence fence;

	/* the loop: whoever services the LU holds *mu (lbfo_lu.h) */
	pthread_mutex_t own_mu;
	pthread_mutex_t *mu;             /* everything below, and team/paths */
	pthread_cond_t paths_cv;         /* a path came up */
	pthread_mutex_t sub_mu;          /* submissions */
	struct lbfo_io *sub_head, *sub_tail;
	void (*wake)(void *arg);
	void *wake_arg;
	bool inline_submit;              /* a submitter that gets *mu sends at once (intake.c) */
	uint64_t now;                    /* of the service call under way */
	uint64_t link_downs;

	struct cmdq queue;               /* waiting for a path / the LU window */
	struct cmdq parked;              /* writes behind the fence barrier */
	uint64_t no_path_since_ns;
	bool no_path_expired;
	bool queueing;                   /* operator: queue I/O with no path */
	bool urgent;                     /* I/O waits and no path can carry it */
	bool luns_changed;               /* a unit attention said so: rescan */
	int dead;                        /* 0, or the errno every I/O gets */
	char dead_why[LBFO_STR_MAX];
	bool ws_unsupported;             /* WRITE SAME refused: emulate */

	uint64_t ios, io_errors, failovers, requeued, short_transfers;
	uint64_t rate_mark_ns;
	uint64_t tick_ns;                /* the team's and rates' clock */
	bool ticking;                    /* the team's timers or rates need the tick */
	uint64_t tick_bytes;             /* bytes moved, at the last tick */

	struct lbfo_adapter adapters[LBFO_MAX_PATHS];
	int nadapters;
	uint64_t adapters_read_ns;

	struct {
		bool open;
		uint64_t ios, errors, bytes[LBFO_DIR__MAX];
	} clients[LBFO_MAX_CLIENTS];
	uint64_t clients_total;
};


/*
 * The modules, lowest first. Each calls only modules above it in this
 * list (scripts/layers checks it); a lower one tells a higher one
 * something through data it leaves (a pending event, a flag) or a
 * function pointer it was given, as the path session does.
 */

/* log.c */
void lu_log(struct lbfo_lu *lu, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tgt_log(struct lbfo_tgt *t, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
extern const char *const lu_path_state_names[];

/* io.c */
void q_push(struct cmdq *q, struct lu_cmd *c);
void q_push_front(struct cmdq *q, struct lu_cmd *c);
void q_prepend_all(struct cmdq *dst, struct cmdq *src);
struct lu_cmd *q_pop(struct cmdq *q);
/* A piece is finished (result 0 or -errno): free it, maybe finish its io. */
void lu_cmd_done(struct lbfo_lu *lu, struct lu_cmd *c, int result);
void lu_io_finish(struct lbfo_io *io);
/* *ts = CLOCK_REALTIME + ms: a pthread_cond_timedwait deadline. */
void lu_deadline_after(struct timespec *ts, uint32_t ms);
/* Count a finished request (its last piece, or refused whole) and wake its waiter. */
void lu_io_completed(struct lbfo_lu *lu, struct lbfo_io *io);
/* Fail everything waiting (queue, parked) with `err`. */
int lu_fail_waiting(struct lbfo_lu *lu, int err);
bool lu_is_write(const struct lu_cmd *c);

/* pathst.c */
/* The path carries I/O for the LU (a usable team member over an up session). */
bool lu_path_ready(const struct lu_path *p);
bool lu_any_usable(const struct lbfo_lu *lu);
/* The session's window and the LU's share of it allow one more command. */
bool lu_path_may_send(const struct lu_path *p);
/* Fail the path for this LU (answer-level): no new commands; its session stays. */
void lu_path_fail_lu(struct lu_path *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void lu_update_urgency(struct lbfo_lu *lu);

/* identity.c */
void lu_fence_identity_init(struct lbfo_lu *lu);
/* A target's ISID base and each path's slot. */
void tgt_identity_init(struct lbfo_tgt *t, const char *scope);
/* The ISID of a target's path for its current nexus generation. */
void tgt_path_isid(const struct tgt_path *tp, uint32_t *rnd, uint16_t *qual);
/* A new nexus for the path's next login (a reservation fence): once per failure. */
void tgt_path_new_nexus(struct tgt_path *tp);
/* The LU's reservation key on a path's current nexus. */
uint64_t lu_fence_key(const struct lbfo_lu *lu, const struct lu_path *p);
/* Take the lock and read what a predecessor left (paths: pred_owes). */
int lu_state_lock(struct lbfo_lu *lu, char *err, size_t errlen);
void lu_fence_state_write(struct lbfo_lu *lu, bool clean);

/* reservation.c */
/* A preempt of a path's old key ended (target NULL: a predecessor's key). */
typedef void (*lu_fenced_fn)(struct lu_path *target, bool ok, const char *how, uint64_t now);
struct lu_path *lu_pr_registered_path(struct lbfo_lu *lu);
int lu_pr_preempt(struct lu_path *via, struct lu_path *target, uint64_t stale, uint64_t now,
		  lu_fenced_fn fenced);
/* The path is identified: register its reservation key when fencing by
 * reservations; ready() is called (maybe later) when the path may carry I/O. */
void lu_fence_path_ready(struct lu_path *p, uint64_t now, void (*ready)(struct lu_path *p, uint64_t now));

/* fence.c */
int lu_fence_init(struct lbfo_lu *lu, char *err, size_t errlen);
void lu_fence_fini(struct lbfo_lu *lu);
void lu_fence_owe(struct lu_path *p, uint64_t now);
/* The path logged in again (own re-login): pays its debt where proven. */
void lu_fence_on_login(struct lu_path *p, uint64_t now);
void lu_fence_on_fenced(struct lu_path *p, bool ok, const char *why, uint64_t now);
void lu_fence_tick(struct lbfo_lu *lu, uint64_t now);
uint64_t lu_fence_next_timer(const struct lbfo_lu *lu);
/* Writes may go out (no debt anywhere). */
bool lu_fence_clear(const struct lbfo_lu *lu);

/* dispatch.c */
void lu_dispatch(struct lbfo_lu *lu, uint64_t now);
void lu_expire(struct lbfo_lu *lu, uint64_t now);
uint64_t lu_dispatch_next_timer(const struct lbfo_lu *lu);
/* The path failed: requeue what the team hands back (writes owe a fence). */
void lu_requeue_returned(struct lbfo_lu *lu, struct lu_path *p, struct lbfo_cmd *ret,
			 uint64_t now);

/* intake.c */
void lu_take_submissions(struct lbfo_lu *lu);
struct lbfo_io *lu_detach_submissions(struct lbfo_lu *lu);
void lu_enqueue_io(struct lbfo_lu *lu, struct lbfo_io *io);

/* linkwatch.c */
unsigned lu_link_of_socket(int sockfd, const char *configured, char *name, size_t len);

/* lu.c: what a session's events mean for an LU over it (called by target.c) */
void lu_path_on_up(struct lu_path *p, uint64_t now);
void lu_path_on_down(struct lu_path *p, bool was_up, const char *reason, uint64_t now);
void lu_paths_service(struct lbfo_lu *lu, uint64_t now);
uint64_t lu_paths_next_timer(const struct lbfo_lu *lu);

/* status.c */
double lu_lat_quantile_ms(const struct lu_path *p, double q);
void lu_rates_tick(struct lbfo_lu *lu, uint64_t now);

/* life.c */
int lu_read_if_bytes(const char *ifname, uint64_t *bytes);
int lu_set_queueing(struct lbfo_lu *lu, bool on);

/* target.c */
void tgt_attach(struct tgt_path *tp, struct lu_path *p);
void tgt_detach(struct tgt_path *tp, struct lu_path *p);

#endif
