/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the multipath LU shared by lu.c (event loop, failover),
 * control.c (control socket, events, metrics). Not a public API.
 */
#ifndef LBFO_LU_INTERNAL_H
#define LBFO_LU_INTERNAL_H

#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "lbfo/lu.h"

#define LBFO_EVENTS_MAX 256
#define LBFO_LAT_BUCKETS 40 /* log2 microseconds */
#define LBFO_CTL_CLIENTS 8

/* Event log entry (lbfoctl events). */
struct lbfo_event {
	uint64_t wall_ns;   /* CLOCK_REALTIME */
	int level;
	char text[240];
};

/* A piece of a client request, at most max_transfer long. */
struct lu_cmd {
	struct lbfo_cmd core;      /* the team's in-flight tracking; first */
	struct lbfo_lu *lu;
	struct lbfo_io *io;
	enum lbfo_io_type type;
	uint64_t lba;
	uint32_t blocks;
	void *buf;
	struct scsi_iovec iov;     /* libiscsi points at it during an attempt */
	bool fua;
	uint64_t bytes;
	struct scsi_task *task;    /* current attempt's task, NULL when none */
	int path;                  /* path of the current attempt, -1 queued */
	uint32_t attempts;
	uint64_t not_before_ns;    /* retry delay (BUSY) */
	struct lu_cmd *next;
};

struct cmdq {
	struct lu_cmd *head, *tail;
	uint32_t n;
};

/*
 * Path states of the "miniport". The team's member state says whether
 * the path may carry I/O; this says what the session is doing.
 */
enum path_state {
	PATH_DOWN = 0,    /* no session; waiting for the next attempt */
	PATH_LOGIN,       /* connecting + logging in + reading identity */
	PATH_UP,          /* logged in, identity checked: a team member */
	PATH_REFUSED,     /* leads to another LU: never used */
	PATH_STATE__MAX
};

struct path {
	int idx;
	struct lbfo_lu *lu;
	struct lbfo_path_config cfg;
	char portal[LBFO_STR_MAX];
	struct iscsi_context *ctx;
	enum path_state st;
	int login_step;            /* 0 login, 1 vpd83, 2 vpd80, 3 rc16 */
	struct lbfo_lu_ident ident;
	uint64_t login_deadline_ns;
	uint64_t next_attempt_ns;
	uint32_t backoff_ms;
	uint32_t hold_ms;          /* flapping hold-down */
	bool flapping;
	bool ever_up;
	uint64_t up_since_ns;

	/* liveness */
	uint64_t last_life_ns;
	int last_outq;
	bool nop_out;
	uint64_t nop_next_ns;

	/* deferred failure (set inside libiscsi callbacks) */
	bool failing;
	char fail_reason[LBFO_ERR_MAX];
	char last_error[LBFO_ERR_MAX];

	/* fencing of writes returned from this path */
	struct cmdq fenced;        /* writes parked until the fence holds */
	struct iscsi_context *fence_ctx;
	int fence_via;
	bool fence_done, fence_failed;
	uint64_t fence_start_ns, fence_deadline_ns, fenced_since_ns;
	uint64_t last_fence_ns;    /* duration of the last fence */

	uint64_t logins, failures, retries, errors;
	bool admin_down;           /* failed by an operator: no reconnect */

	/* link watch: the interface the session's socket leaves by */
	unsigned ifindex;          /* 0: unknown */
	char ifname[IF_NAMESIZE];

	/* completion latency, log2(microseconds) buckets */
	uint64_t lat_hist[LBFO_LAT_BUCKETS];
	uint64_t lat_count;

	/* throughput over the last second, bytes/s */
	uint64_t rate_mark_bytes[LBFO_DIR__MAX];
	double rate[LBFO_DIR__MAX];
};

struct lbfo_lu {
	struct lbfo_lu_config cfg;
	struct lbfo_lu_ident ident;
	uint32_t max_xfer;
	struct lbfo_team team;
	struct path paths[LBFO_MAX_MEMBERS];
	int npaths;
	uint32_t isid_rnd;

	pthread_t thread;
	bool started;
	int wakefd;
	int link_fd;                /* rtnetlink link messages, or -1 */
	uint64_t link_downs;        /* paths failed by the link watch */
	pthread_mutex_t sub_mu;     /* submissions */
	struct lbfo_io *sub_head, *sub_tail;
	bool stopping;

	pthread_mutex_t mu;         /* everything below, and team/paths */
	pthread_cond_t paths_cv;    /* a path came up */
	struct cmdq queue;          /* waiting for a path / the LU window */
	uint64_t no_path_since_ns;
	bool no_path_expired;
	uint64_t last_tick_ns;

	uint64_t ios, io_errors, failovers, fences, requeued;
	uint64_t longest_fence_ns;
	uint64_t rate_mark_ns;
	uint64_t status_written_ns;

	/* events (lu_log) */
	struct lbfo_event events[LBFO_EVENTS_MAX];
	unsigned ev_head, ev_count;

	/* local interfaces the paths leave through (path key interface=):
	 * their counters feed the members' adapters (DataPathBytes) */
	struct lbfo_adapter adapters[LBFO_MAX_MEMBERS];
	int nadapters;
	uint64_t adapters_read_ns;

	/* per-client contexts (FIG 7) */
	struct {
		bool open;
		uint64_t ios, errors, bytes[LBFO_DIR__MAX];
	} clients[LBFO_MAX_CLIENTS];
	uint64_t clients_total;

	/* control socket */
	int ctl_fd;
	int ctl_clients[LBFO_CTL_CLIENTS];
	char ctl_buf[LBFO_CTL_CLIENTS][4097];  /* a request being read */
	size_t ctl_len[LBFO_CTL_CLIENTS];
	char ctl_path[LBFO_STR_MAX];
	void *mhd;                  /* metrics HTTP daemon */
	uint64_t ctl_requests, ctl_errors;
};


struct lbfo_ctl;

void lu_log(struct lbfo_lu *lu, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void lu_path_fail(struct path *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void lu_status_json(struct lbfo_lu *lu, FILE *f);

/* linkwatch.c */
int lu_link_open(void);
unsigned lu_link_of_socket(int sockfd, const char *configured, char *name, size_t len);
void lu_link_input(struct lbfo_lu *lu);
/* Write s as a JSON string (quoted, escaped). */
void lu_json_str(FILE *f, const char *s);
extern const char *const lu_path_state_names[];

/* control.c: the control socket, run on the loop thread. */
int lbfo_ctl_open(struct lbfo_lu *lu, char *err, size_t errlen);
/* Add the control fds to a poll set; returns how many were added. */
int lbfo_ctl_pollfds(struct lbfo_lu *lu, struct pollfd *pfd, int max);
/* Handle readiness on the fds added by lbfo_ctl_pollfds(). */
void lbfo_ctl_service(struct lbfo_lu *lu, const struct pollfd *pfd, int n, uint64_t now);
void lbfo_ctl_close(struct lbfo_lu *lu);
/* Upper bound of the bucket holding the q-quantile of a path's
 * completion latency, milliseconds (0 when nothing completed). */
double lu_lat_quantile_ms(const struct path *p, double q);
/* Prometheus text exposition of the LU's figures. */
void lbfo_metrics_text(struct lbfo_lu *lu, FILE *f);
int lbfo_metrics_http_start(struct lbfo_lu *lu, char *err, size_t errlen);
void lbfo_metrics_http_stop(struct lbfo_lu *lu);

#endif
