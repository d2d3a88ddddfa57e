/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The multipath LU (the seeds' "filter driver"): one iSCSI logical unit
 * reached over several paths (one path session each, the "miniports"),
 * balanced and failed over by a src/core team.
 *
 * Loop contract (as libiscsi's): an LU does nothing on its own. Its owner
 * asks for the fds to poll (lbfo_lu_pollfds), services them
 * (lbfo_lu_service, with the time) and sleeps at most until
 * lbfo_lu_next_timeout. lbfo_lu_start() does exactly that on a thread of
 * its own (src/mpio/loop.c); the unit tests do it with a fake clock.
 *
 * Threads: the loop that services an LU owns it. Any thread may submit
 * I/O (lbfo_lu_submit) and wait for it (lbfo_io_wait); the functions
 * marked "any thread" take the LU's lock.
 */
#ifndef LBFO_LU_H
#define LBFO_LU_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lbfo/core.h"
#include "lbfo/scsi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LBFO_DEFAULT_CONTROL "/run/lbfo/lbfo.sock"
#define LBFO_DEFAULT_LOCK_DIR "/run/lbfo"
#define LBFO_MAX_POLICY_KV 32

/*
 * How a failed path is fenced before the writes it carried are sent
 * again (docs/failover.md "Fencing").
 */
enum lbfo_fence_method {
	/* Reinstatement where the start-up check proved it, else
	 * reservations where the LU supports them and nobody else uses
	 * them, else none. */
	LBFO_FENCE_AUTO = 0,
	/* iSCSI session reinstatement (a login with the failed path's
	 * ISID): only where proven at start-up. */
	LBFO_FENCE_REINSTATE,
	/* SCSI persistent reservations: a key per path, WRITE EXCLUSIVE -
	 * ALL REGISTRANTS, PREEMPT of the failed path's key. */
	LBFO_FENCE_RESERVATION,
	/* No fence: a failed path's writes wait until its connection is
	 * known closed by the target, or until no_path_timeout. */
	LBFO_FENCE_NONE,
	LBFO_FENCE__MAX
};
const char *lbfo_fence_name(enum lbfo_fence_method m);

struct lbfo_path_config {
	char name[LBFO_NAME_MAX];
	char portal[LBFO_STR_MAX];     /* host[:port] or [v6][:port], port 3260 by default */
	uint32_t read_share_bp;        /* 0 = even */
	uint32_t write_share_bp;
	uint32_t weight;               /* 0 = 1 */
	/* Local network interface the path leaves through: its counters
	 * (/sys/class/net/IF/statistics) become the path's DataPathBytes
	 * for dynamic-share, so other teams' and foreign traffic count. */
	char interface[LBFO_NAME_MAX];
	char chap_user[LBFO_STR_MAX];  /* empty = LU default */
	char chap_password[LBFO_STR_MAX];
	char mutual_user[LBFO_STR_MAX];
	char mutual_password[LBFO_STR_MAX];
};

struct lbfo_lu_config {
	char target[LBFO_STR_MAX];     /* serve this target only ("": every one offered) */
	int lun;                       /* serve this LUN only (-1: every one) */
	char initiator[LBFO_STR_MAX];  /* initiator IQN (default derived) */
	char chap_user[LBFO_STR_MAX];
	char chap_password[LBFO_STR_MAX];
	char mutual_user[LBFO_STR_MAX];
	char mutual_password[LBFO_STR_MAX];
	bool header_digest;            /* CRC32C header digest */
	bool link_watch;               /* fail a path when its interface goes down */
	enum lbfo_fence_method fence;

	char policy[LBFO_NAME_MAX];
	char policy_keys[LBFO_MAX_POLICY_KV][LBFO_NAME_MAX];
	char policy_values[LBFO_MAX_POLICY_KV][LBFO_NAME_MAX];
	int npolicy_kv;

	enum lbfo_failback failback;
	uint64_t failback_stable_ns;
	uint32_t max_outstanding;      /* commands in flight on the LU */
	uint32_t max_transfer;         /* bytes per command, 0 = target's */

	/* Timers, milliseconds. */
	uint32_t no_path_timeout_ms;   /* queue with no path, then EIO */
	uint32_t nop_interval_ms;      /* NOP-Out keepalive period */
	uint32_t nop_timeout_ms;       /* no sign of life for this long = dead */
	uint32_t cmd_timeout_ms;       /* one command may take this long */
	uint32_t login_timeout_ms;
	uint32_t reconnect_min_ms;     /* backoff after a failure */
	uint32_t reconnect_max_ms;
	uint32_t flap_window_ms;       /* failing again within this = flapping */
	uint32_t flap_hold_max_ms;     /* longest hold-down of a flapping path */

	struct lbfo_path_config paths[LBFO_MAX_PATHS];
	int npaths;

	/* Control socket for lbfoctl ("none": no socket). control_set: the
	 * user chose it, so a busy one is an error rather than a warning. */
	char control[LBFO_STR_MAX];
	bool control_set;
	/* Prometheus metrics over HTTP on IPV4:PORT (empty: off). */
	char metrics_listen[64];
	/* Where the one-instance-per-LU lock lives ("none": no lock). */
	char lock_dir[LBFO_STR_MAX];

	/* When set, the status JSON is rewritten (atomically) this often. */
	char status_file[LBFO_STR_MAX];
	uint32_t status_interval_ms;

	/* Events (path failed / restored, fencing, ...) are reported here;
	 * NULL prints to stderr. Called on the loop thread. */
	void (*log)(int level, const char *msg, void *opaque);
	void *log_opaque;
};

/* Defaults for everything (no paths, no target). */
void lbfo_lu_config_defaults(struct lbfo_lu_config *c);

/*
 * Set one configuration key, as given on the nbdkit command line or in
 * an INI file. `path` selects a path's section (NULL = LU level; an
 * unknown key at LU level that is not an LU key is a policy parameter if
 * policy_ok). Returns 0, or -1 with a message in err naming the key.
 */
int lbfo_lu_config_set(struct lbfo_lu_config *c, struct lbfo_path_config *path,
		       const char *key, const char *value, bool policy_ok,
		       char *err, size_t errlen);
/* Add a path from "host[:port]" (name "pN" unless given). */
struct lbfo_path_config *lbfo_lu_config_add_path(struct lbfo_lu_config *c,
						 const char *name,
						 const char *portal,
						 char *err, size_t errlen);
/* Read an INI file: [lu], [policy] and [path NAME] sections. Errors name
 * the file, line, section and key. */
int lbfo_lu_config_load(struct lbfo_lu_config *c, const char *file,
			char *err, size_t errlen);
/* Check required keys and consistency. */
int lbfo_lu_config_check(const struct lbfo_lu_config *c, char *err,
			 size_t errlen);
/* The same without the paths' presence: shares, CHAP, timers, the
 * policy's parameters (one LU's settings over the defaults). */
int lbfo_lu_config_check_settings(const struct lbfo_lu_config *c, char *err, size_t errlen);

/* One client request. The caller owns it and its buffer until
 * lbfo_io_wait() returns (or, with complete set, until complete runs). */
struct lbfo_io {
	enum lbfo_io_type type;
	uint64_t offset;
	uint32_t len;
	void *buf;
	bool fua;
	bool may_trim;                /* a zero may deallocate */
	int client;                   /* per-client context index, or -1 */
	/* Called when the request is done, instead of waking a waiter: on the
	 * loop thread with the LU's lock held (or in lbfo_lu_submit_held
	 * itself, when the request is refused at once). NULL: lbfo_io_wait. */
	void (*complete)(struct lbfo_io *io);

	int result;                   /* 0 or a negative errno */
	/* internal */
	uint32_t done;                /* futex word: 0 pending, 1 done, 2 pending, a waiter sleeps */
	uint32_t pending;             /* pieces not yet finished */
	uint64_t submit_ns;
	struct lbfo_io *next;
};

void lbfo_io_init(struct lbfo_io *io, enum lbfo_io_type type, uint64_t offset,
		  uint32_t len, void *buf, bool fua);
int lbfo_io_wait(struct lbfo_io *io);
/* Wait at most timeout_ms: 1 when done (result in io->result), 0 not yet. */
int lbfo_io_timedwait(struct lbfo_io *io, uint32_t timeout_ms);
bool lbfo_io_done(struct lbfo_io *io);
void lbfo_io_fini(struct lbfo_io *io);

struct lbfo_lu;
struct lbfo_tgt;

/*
 * What the start-up check saw of session reinstatement on a target
 * (docs/failover.md "Is the fence real?"), per portal of the target
 * (indexed as the target's portals).
 */
#define LBFO_MAX_PORTALS LBFO_MAX_PATHS
struct lbfo_tgt_check {
	bool reachable[LBFO_MAX_PORTALS];
	int tpgt[LBFO_MAX_PORTALS];     /* portal group from the login, -1 unknown */
	/* A second login with one ISID through the same portal closed the
	 * first connection (own), and through another portal of the same
	 * group (cross: that portal's group was proven). */
	bool reinstate_own;
	bool reinstate_cross[LBFO_MAX_PORTALS];
	bool cross_tested[LBFO_MAX_PORTALS]; /* a partner portal was there to test with */
	bool checked;                   /* the check ran (else: unknown) */
	char note[LBFO_STR_MAX];        /* what the check saw, for the log */
};
void lbfo_tgt_check_init(struct lbfo_tgt_check *chk);

/*
 * The transport the sessions use (default: libiscsi). Tests give a fake
 * one. Opaque here: see src/iscsi/transport.h.
 */
struct lbfo_xport_ops;
struct lbfo_lu_env {
	const struct lbfo_xport_ops *xops;  /* NULL: libiscsi */
	void *xenv;
	/* The lock the LU's loop holds while it services the LU (NULL: the
	 * LU's own). A host serving many LUs on one loop gives them all its
	 * lock. */
	pthread_mutex_t *lock;
	/* Called (any thread) when a request was submitted and the loop
	 * should take it (NULL: nothing; the owner polls). */
	void (*wake)(void *arg);
	void *wake_arg;
	/* The loop thread's poll (NULL: poll(2)); tests make it fail. */
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout);
};

/*
 * A target: one path session per portal, carrying every LU of the
 * target that this process serves (as real initiators do: one session
 * per path per target, not one per LU). The session's events (logged
 * in, failed, fenced) go to each LU over it. The ISIDs derive from the
 * initiator name, the target, the portal and `scope` (what part of the
 * target this process serves: "" for all of it, the LUN when one), so a
 * restarted process logs in as the same initiator ports.
 *
 * c gives the initiator, CHAP, timers and the portals (c->paths);
 * `paths` lists which of them lead to this target (indexes into
 * c->paths, at most LBFO_MAX_PORTALS), chk what the start-up check saw
 * (indexed like `paths`).
 */
struct lbfo_tgt *lbfo_tgt_create(const struct lbfo_lu_config *c, const char *target,
				 const char *scope, const int *paths, int npaths,
				 const struct lbfo_tgt_check *chk, const struct lbfo_lu_env *env,
				 uint64_t now, char *err, size_t errlen);
/* Every LU over it must be destroyed first. */
void lbfo_tgt_destroy(struct lbfo_tgt *t);
const char *lbfo_tgt_name(const struct lbfo_tgt *t);
int lbfo_tgt_npaths(const struct lbfo_tgt *t);
/* Loop contract of the sessions: fds (at most 2 per portal), service,
 * next timer (absolute ns). */
int lbfo_tgt_pollfds(struct lbfo_tgt *t, struct pollfd *pfd, int max);
void lbfo_tgt_service(struct lbfo_tgt *t, const struct pollfd *pfd, int n, uint64_t now);
uint64_t lbfo_tgt_next_timer(const struct lbfo_tgt *t);
/* After servicing: write what its sessions hold now (not at the next POLLOUT). */
void lbfo_tgt_flush(struct lbfo_tgt *t);
/* The link watch: fail the sessions leaving by interface ifindex (an
 * rtnetlink message said it is down). Returns how many failed. */
int lbfo_tgt_link_down(struct lbfo_tgt *t, unsigned ifindex, const char *what);
/* Operator: take path `path` (index in the target) out for every LU, or
 * put it back. */
void lbfo_tgt_path_disable(struct lbfo_tgt *t, int path, const char *why);
void lbfo_tgt_path_enable(struct lbfo_tgt *t, int path, uint64_t now);
/* The target's path whose configuration index (c->paths) is `cfg`, or -1;
 * and the other way round. */
int lbfo_tgt_path_of(const struct lbfo_tgt *t, int cfg);
int lbfo_tgt_path_cfg(const struct lbfo_tgt *t, int path);
/* Give every session up at once (shutdown): abandoned, no more logins. */
void lbfo_tgt_shutdown(struct lbfo_tgt *t);

/* One path of an LU: LUN `lun` of target `tgt` through its path `tpath`. */
struct lbfo_lu_pathspec {
	struct lbfo_tgt *tgt;
	int tpath;
	int lun;
};

/*
 * Create the LU over the given paths (no thread, no I/O yet): the team's
 * members in the order given (the first is primary). c is the LU's
 * configuration (c->paths: the shares, weights and interfaces of the
 * portals the paths go through). id: the identity the probe read.
 */
struct lbfo_lu *lbfo_lu_create(const struct lbfo_lu_config *c, const struct lbfo_lu_ident *id,
			       const struct lbfo_lu_pathspec *ps, int nps,
			       const struct lbfo_lu_env *env, uint64_t now,
			       char *err, size_t errlen);
/* Take the one-instance lock under lock_dir (refused: -1, err names the
 * live instance) and learn what a predecessor left (its unfenced
 * sessions become fence debts). */
int lbfo_lu_lock(struct lbfo_lu *lu, char *err, size_t errlen);
void lbfo_lu_destroy(struct lbfo_lu *lu);
/* The LU's part of the loop contract: after its targets' sessions were
 * serviced, take new requests, run its timers and send what can go; then
 * the next time it needs service (absolute ns; UINT64_MAX: none). The
 * caller holds the LU's lock. */
void lbfo_lu_service(struct lbfo_lu *lu, uint64_t now);
uint64_t lbfo_lu_next_timer(const struct lbfo_lu *lu);
/* A unit attention said the target's LUNs changed (since the last ask):
 * the owner rescans. Loop thread. */
bool lbfo_lu_luns_changed(struct lbfo_lu *lu);
/* The lock the LU is serviced under (its env's, or its own). */
pthread_mutex_t *lbfo_lu_mutex(struct lbfo_lu *lu);

/* Per-client contexts (001 FIG 7: one context per host/connection): a
 * client opens one, tags its I/O with it (io->client) and closes it.
 * Returns an id >= 0, or -1 when all LBFO_MAX_CLIENTS are in use (the
 * client's I/O is then counted under no context). Any thread. */
#define LBFO_MAX_CLIENTS 64
int lbfo_lu_client_open(struct lbfo_lu *lu);
void lbfo_lu_client_close(struct lbfo_lu *lu, int id);

/* Submit from any thread; completion via lbfo_io_wait(). */
void lbfo_lu_submit(struct lbfo_lu *lu, struct lbfo_io *io);
/* Submit on the loop thread, the LU's lock held (a server that reads its
 * clients on the LU's own loop): the request joins the LU's queue at
 * once, without a wake-up, and the LU's next service dispatches it; io's
 * complete callback reports it. */
void lbfo_lu_submit_held(struct lbfo_lu *lu, struct lbfo_io *io);
/* Fail every I/O, queued, parked or in flight, with ESHUTDOWN now and
 * any later one at once: the server is going away (nbdkit quits). The
 * paths are given up abortively. Any thread. */
void lbfo_lu_shutdown(struct lbfo_lu *lu, const char *why);
/* A fatal error of the loop: every I/O fails with EIO from now on, and
 * the log says why. Loop thread. */
void lbfo_lu_fatal(struct lbfo_lu *lu, const char *why);
/* Wait until at least `n` paths carry I/O, or timeout. Returns the
 * number that do. Any thread. */
int lbfo_lu_wait_paths(struct lbfo_lu *lu, int n, uint32_t timeout_ms);
/* The identity, capabilities and exported size (blocks: what the LU
 * exports; only lbfoctl resize changes it, so read it through
 * lbfo_lu_export_bytes from other threads). */
const struct lbfo_lu_ident *lbfo_lu_identity(const struct lbfo_lu *lu);
/* The exported size in bytes. Any thread. */
uint64_t lbfo_lu_export_bytes(const struct lbfo_lu *lu);

/* Operator actions; return 0 or -1 with err. Any thread. */
int lbfo_lu_set_policy(struct lbfo_lu *lu, const char *policy,
		       const struct lbfo_kv *kv, size_t nkv, char *err,
		       size_t errlen);
/* queueing off: fail every queued and parked I/O now, and new I/O at
 * once while no path can carry it (multipathd's disablequeueing). */
int lbfo_lu_set_queueing(struct lbfo_lu *lu, bool on);

/* Log levels (syslog's numbers). */
#define LBFO_LOG_ERR 3
#define LBFO_LOG_WARNING 4
#define LBFO_LOG_NOTICE 5
#define LBFO_LOG_INFO 6
#define LBFO_LOG_DEBUG 7

uint64_t lbfo_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif
