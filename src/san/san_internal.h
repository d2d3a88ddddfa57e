/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the host: a whole SAN served by one process. The files:
 *
 *   probe.c     the synchronous probe: one (target, portal), its LUNs and
 *               their identities; the reinstatement check
 *   discover.c  discovery: SendTargets on every portal, a probe per
 *               (target, portal), the LUs grouped by identity
 *   names.c     export names from WWIDs
 *   linkwatch.c rtnetlink link messages
 *   host.c      the registry of LUs and exports, readiness, the event log
 *   control.c   the control socket, the status document, the metrics
 *   build.c     targets and LUs made from what discovery found
 *   rescan.c    discovery again on a thread of its own; what it found applied
 *   reload.c    the configuration read again and applied to running LUs
 *   loop.c      the host's life: the loop and its thread
 *
 * Not a public API.
 */
#ifndef LBFO_SAN_INTERNAL_H
#define LBFO_SAN_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "events.h"
#include "ident.h"
#include "lbfo/host.h"
#include "mpio.h"
#include "path_session.h"

#define LBFO_SAN_MAX_LUNS 2048       /* per target (REPORT LUNS) */

/* ---- probe.c ---------------------------------------------------------------------- */

struct probe_lun {
	int lun;
	int rc;                           /* 0: id read */
	struct lbfo_lu_ident id;
	int alua;
	char why[LBFO_ERR_MAX];
};

struct probe {
	struct lbfo_session s;
	struct lbfo_ident_reader r;
	struct lbfo_scmd rl;              /* REPORT LUNS */
	uint8_t rlbuf[16384];
	struct iovec iov;
	unsigned rl_retries;
	int path;                         /* in the configuration's paths */
	char portal[LBFO_STR_MAX];
	bool up, down, reading, done;
	int tpgt;
	struct probe_lun *luns;
	int nluns, cur;
	char why[LBFO_ERR_MAX];
};

void probe_init(struct probe *p, const struct lbfo_lu_config *c, const char *target, int path,
		const char *portal, uint16_t qual, const struct lbfo_xport_ops *xops, void *xenv,
		uint64_t now);
void probe_fini(struct probe *p);
void probe_run(struct probe **ps, int n, bool (*done)(struct probe **, int, void *), void *ctx,
	       uint64_t deadline);
/* done() for probe_run: every probe has read its LUNs; ctx: int *only_lun or NULL. */
bool probe_read_all(struct probe **ps, int n, void *ctx);
void probe_check_reinstatement(const struct lbfo_lu_config *c, const char *target,
			       struct probe *pp, int n, struct lbfo_tgt_check *chk,
			       const struct lbfo_xport_ops *xops, void *xenv);

/* ---- discover.c: what discovery found ---------------------------------------------- */

struct san_target {
	char iqn[LBFO_STR_MAX];
	int paths[LBFO_MAX_PORTALS];      /* its portals: indexes into the configuration's paths */
	int npaths;
	struct lbfo_tgt_check chk;        /* indexed like paths[] */
	/* What each path's probe read: it answered, and the LUNs it reported
	 * (a rescan tells a removed LUN from an unreachable one). */
	bool answered[LBFO_MAX_PORTALS];
	int *luns[LBFO_MAX_PORTALS];
	int nluns[LBFO_MAX_PORTALS];
	bool checked_before;              /* a rescan: the host knew it (no check again) */
};

struct san_path {
	int target;                       /* index into targets */
	int tpath;                        /* the target's path */
	int lun;
};

struct san_lu {
	struct lbfo_lu_ident id;
	struct san_path paths[LBFO_MAX_PATHS];
	int npaths;
	int seen;                         /* paths whose probe read it */
};

struct lbfo_san {
	struct san_target *targets;
	int ntargets;
	struct san_lu *lus;
	int nlus;
	bool portal_answered[LBFO_MAX_PATHS]; /* SendTargets (or the target configured) */
};

/* A rescan: targets already known are not checked again; finding no LU
 * is no error (every LUN may be gone). known: the host's targets' IQNs. */
int san_discover(const struct lbfo_host_config *c, const struct lbfo_lu_env *env,
		 const char *const *known, int nknown, struct lbfo_san **out, char *warn,
		 size_t warnlen, char *err, size_t errlen);
/* Did the probe of target iqn through configuration path cfg answer, and
 * does it report lun? -1: not asked (unreachable), 0: answered without
 * it, 1: answered with it. */
int san_reports(const struct lbfo_san *s, const char *iqn, int cfg, int lun);

/* ---- names.c ---------------------------------------------------------------------- */

/* The export name of an LU: its WWID, lower-case hex after naa./eui.,
 * anything but letters, digits and . _ : - made '_' (T10 vendor IDs have
 * spaces), runs of '_' collapsed. Stable: a function of the WWID. */
void lbfo_export_name(const char *wwid, char *out, size_t len);

/* ---- linkwatch.c ------------------------------------------------------------------ */

int host_link_open(void);
/* Read the pending link messages; fail the sessions of the targets whose
 * interface went down. Returns how many sessions failed. */
int host_link_input(int fd, struct lbfo_tgt **tgts, int ntgts);

/* ---- host.c ------------------------------------------------------------------------- */

/* An LU as the host serves it: its export, its clients. */
struct host_lu {
	struct lbfo_host *host;
	struct lbfo_lu *lu;
	char wwid[LBFO_STR_MAX];
	char alias[LBFO_NAME_MAX];
	char export[LBFO_STR_MAX];
	int nopen;                        /* clients with the export open */
	bool removed;                     /* gone from the SAN: no new opens */
	int expect;                       /* paths that answered at discovery */
};

struct lbfo_host {
	struct lbfo_host_config cfg;
	struct lbfo_tgt **tgts;
	int ntgts;
	struct host_lu **lus;
	int nlus;
	int rr;                           /* which LU is serviced first (fairness) */
	bool multi;                       /* discovery found several LUs */
	bool rescan_wanted;               /* a unit attention said the LUNs changed */

	pthread_mutex_t mu;               /* everything, and every LU */
	pthread_cond_t cv;                /* an LU's paths came up, or it went */
	pthread_t thread;
	bool started, stopping;
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout);
	struct lbfo_lu_env env;           /* the LUs' and targets': transport, lock, wake-up */
	int lock_fds[256];                /* one per target (build.c lock_target) */
	int nlocks;
	char refused[512];                /* why a target was left to another process */
	lbfo_reload_fn reloader;
	void *reloader_arg;
	volatile sig_atomic_t reload_asked; /* SIGHUP */
	struct {
		pthread_t thread;
		bool running, done, again;
		struct rescan_job *job;
		uint64_t last_ns, count;
	} rescan;
	int wakefd;
	struct lbfo_host_guest guest;     /* fd -1: none (lbfo_host_set_guest) */
	int link_fd;
	uint64_t link_downs;
	uint64_t now;
	int dead;                         /* 0, or the errno every I/O gets */

	struct lbfo_events events;
	struct lbfo_ctl_server *ctl;
	void *mhd;
	uint64_t status_written_ns;
	uint64_t started_ns;
};

/* host.c: the log, the registry, wake-ups of the loop (any thread) */
void host_wake(void *arg);
int host_log_init(struct lbfo_host *h);
void host_log(struct lbfo_host *h, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The log functions of the targets (opaque: the host) and LUs (the host_lu). */
void host_tgt_log_hook(int level, const char *msg, void *opaque);
void host_lu_log_hook(int level, const char *msg, void *opaque);
struct host_lu *host_find_lu(struct lbfo_host *h, const char *name);

/* build.c: targets and LUs from what discovery found */
int host_target_index(const struct lbfo_host *h, const char *iqn);
/* The targets of san the host does not have yet. */
int host_add_targets(struct lbfo_host *h, const struct lbfo_san *san, uint64_t now, char *err,
		     size_t errlen);
/* Every LU of san (at start): one refused by its lock is left out, unless
 * it is the only one. */
int host_add_lus(struct lbfo_host *h, const struct lbfo_san *san, uint64_t now, char *err,
		 size_t errlen);
/* One LU a rescan found: 0 added, 1 blacklisted (or refused by its
 * lock), -1 with err. */
int host_add_lu(struct lbfo_host *h, const struct lbfo_san *san, const struct san_lu *sl,
		uint64_t now, char *err, size_t errlen);
struct host_lu *host_make_lu(struct lbfo_host *h, const struct lbfo_san *san,
			     const struct san_lu *sl, uint64_t now, char *err, size_t errlen);

/* rescan.c */
struct rescan_job;
void host_rescan(struct lbfo_host *h, const char *why);
void host_rescan_service(struct lbfo_host *h, uint64_t now);
uint64_t host_rescan_next_timer(const struct lbfo_host *h);
void host_rescan_fini(struct lbfo_host *h);

/* reload.c: 0 with a line of what changed to out, or -1 with err */
int host_reload(struct lbfo_host *h, FILE *out, char *err, size_t errlen);

/* ---- control.c -------------------------------------------------------------------- */

int host_surface_open(struct lbfo_host *h, char *err, size_t errlen);
void host_surface_close(struct lbfo_host *h);
void host_status_json(struct lbfo_host *h, FILE *f, const struct host_lu *only);
void host_status_text(struct lbfo_host *h, FILE *f, const struct host_lu *only);
int host_metrics_text(struct lbfo_host *h, FILE *f);
void host_write_status_file(struct lbfo_host *h);

#endif
