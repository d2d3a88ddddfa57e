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
 *   loop.c      the host's life: targets and LUs made, the loop, its thread
 *
 * Not a public API.
 */
#ifndef LBFO_SAN_INTERNAL_H
#define LBFO_SAN_INTERNAL_H

#include <poll.h>
#include <pthread.h>
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
};

struct san_path {
	int target;                       /* index into targets */
	int tpath;                        /* the target's path */
	int lun;
};

struct san_lu {
	struct lbfo_lu_ident id;
	struct san_path paths[LBFO_MAX_MEMBERS];
	int npaths;
	int seen;                         /* paths whose probe read it */
};

struct lbfo_san {
	struct san_target *targets;
	int ntargets;
	struct san_lu *lus;
	int nlus;
};

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
	uint64_t size;                    /* bytes exported */
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
	int wakefd;
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

/* host.c: the log and the registry */
int host_log_init(struct lbfo_host *h);
void host_log(struct lbfo_host *h, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The log functions of the targets (opaque: the host) and LUs (the host_lu). */
void host_tgt_log_hook(int level, const char *msg, void *opaque);
void host_lu_log_hook(int level, const char *msg, void *opaque);
struct host_lu *host_find_lu(struct lbfo_host *h, const char *name);

/* ---- control.c -------------------------------------------------------------------- */

int host_surface_open(struct lbfo_host *h, char *err, size_t errlen);
void host_surface_close(struct lbfo_host *h);
void host_status_json(struct lbfo_host *h, FILE *f, const struct host_lu *only);
void host_status_text(struct lbfo_host *h, FILE *f, const struct host_lu *only);
int host_metrics_text(struct lbfo_host *h, FILE *f);
void host_write_status_file(struct lbfo_host *h);

#endif
