/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router's main loop: one thread, one epoll set. It owns the modules
 * (router.h) and calls down into them: the workers (worker.c: each runs
 * the services' sockets and connections on a loop of its own), discovery
 * (discovery.c, whose findings come back through its ops and go to
 * nodes.c, which passes them on to the workers), the control server
 * (src/common/ctlserver.c, requests in commands.c), signals, the session
 * table's replication (sync.c: what the workers changed is sent as soon
 * as the main loop wakes for it); and every
 * 50 ms the deadlines: discovery's detection window, control clients,
 * idle sessions, its copies of the teams' timers.
 *
 * Control and discovery have a thread of their own rather than sharing
 * worker 0's: a long request (status with 100000 sessions) or a burst of
 * announcements then never delays a worker's connections, and every
 * worker is alike, so any of them can be drained.
 */
#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "lbfo/policy.h"
#include "conn.h"
#include "router.h"

#define TICK_NS (50 * LBFO_NS_PER_MS)

/* ---- what the modules report ----------------------------------------------- */

static void on_event(void *arg, const struct lbfo_event *e)
{
	(void)arg;
	fprintf(stderr, "lbfo-router: %s\n", e->text);
}

static void on_ctl_log(void *app, int level, const char *msg)
{
	rt_event(app, level, "%s", msg);
}

static void on_node_up(void *ctx, int node, const char *why, uint64_t now)
{
	rt_node_up(ctx, node, why, now);
}

static void on_node_failed(void *ctx, int node, const char *why, uint64_t now)
{
	rt_node_down(ctx, node, RT_NODE_FAILED, why, now);
}

static void on_node_priority(void *ctx, int node, uint16_t prio, uint64_t now)
{
	rt_node_priority(ctx, node, prio, now);
}

static const struct rt_disc_ops disc_ops = {
	.node_up = on_node_up,
	.node_failed = on_node_failed,
	.node_priority = on_node_priority,
};

/* ---- set-up ----------------------------------------------------------------- */

static int open_control(struct router *r, char *err, size_t errlen)
{
	struct lbfo_ctl_config cc = {
		.path = r->cfg->control, .listen_fd = -1,
		.cmds = lbfo_router_commands, .run = rt_ctl_handlers, .ncmds = LBFO_RT_CMD__MAX,
		.app = r, .log = on_ctl_log,
	};
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &r->ctl_ev };

	if (!r->cfg->control[0] || !strcmp(r->cfg->control, "none"))
		return 0;
	r->ctl = lbfo_ctl_server_new(&cc, err, errlen);
	if (!r->ctl)
		return -1;
	r->ctl_ev.kind = RT_EV_CTL;
	r->ctl_ev.ptr = r->ctl;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, lbfo_ctl_server_fd(r->ctl), &ev) < 0) {
		snprintf(err, errlen, "control socket: epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* SIGTERM/SIGINT stop, SIGHUP is logged and ignored (no reload: restart to
 * change the configuration; the default would kill the router and leave
 * its control socket behind). */
static int open_signals(struct router *r, char *err, size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &r->sig_ev };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	r->sig_ev.kind = RT_EV_SIGNAL;
	if (r->sig_fd < 0 || epoll_ctl(r->ep, EPOLL_CTL_ADD, r->sig_fd, &ev) < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void open_discovery(struct router *r)
{
	r->disc.cfg = r->cfg;
	r->disc.node = r->node;
	r->disc.nnode = r->nnode;
	r->disc.events = &r->events;
	r->disc.events_lock = &r->events_lock;
	r->disc.ops = &disc_ops;
	r->disc.ctx = r;
}

/* threads = N, or one per core. */
static int worker_count(const struct rt_config *cfg)
{
	long n = cfg->threads ? (long)cfg->threads : sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > RT_MAX_WORKERS ? RT_MAX_WORKERS : (int)n;
}

static void init_locks(struct router *r)
{
	int i;

	pthread_mutex_init(&r->events_lock, NULL);
	for (i = 0; i < RT_CLIENT_LOCKS; i++)
		pthread_mutex_init(&r->client_lock[i], NULL);
	rt_groups_init(r);
}

/* The main thread's copy of each service: its team, no socket. */
static int open_services(struct router *r, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < r->cfg->nsvc; i++) {
		r->nsvc = i + 1;
		if (rt_service_init(r, &r->svc[i], i, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int rt_router_init(struct router *r, struct rt_config *cfg, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->ep = r->sig_fd = r->disc.fd = r->sync.fd = -1;
	r->start_ns = r->now = rt_now_ns();
	init_locks(r);
	r->nworker = worker_count(cfg);
	if (lbfo_events_init(&r->events, RT_EVENTS_MAX) < 0)
		goto sys;
	lbfo_events_set_sink(&r->events, on_event, r);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	if (r->ep < 0 ||
	    rt_sessions_init(&r->sessions, cfg->session_table_size,
			     rt_sessions_shards_for(cfg->session_table_size,
						    (unsigned)r->nworker)) < 0)
		goto sys;
	if (open_services(r, err, errlen) < 0)
		return -1;
	rt_nodes_init(r, r->start_ns);
	if (rt_workers_open(r, err, errlen) < 0)
		return -1;
	open_discovery(r);
	if (rt_disc_open(&r->disc, r->ep, err, errlen) < 0 || open_control(r, err, errlen) < 0 ||
	    open_signals(r, err, errlen) < 0 ||
	    rt_sync_open(&r->sync, cfg, &r->sessions, &r->events, r->ep, r->start_ns, err,
			 errlen) < 0)
		return -1;
	rt_event(r, LOG_NOTICE, "router started: %d service(s), %d node(s), cluster %u, "
		 "discovery %s, %d worker thread(s), %u session shard(s)", r->nsvc, r->nnode,
		 cfg->cluster_id, cfg->discovery ? "on" : "off", r->nworker, r->sessions.nshard);
	return 0;
sys:
	snprintf(err, errlen, "%s", strerror(errno));
	return -1;
}

void rt_router_free(struct router *r)
{
	int i;

	rt_workers_stop(r);
	rt_workers_free(r);
	for (i = 0; i < r->nsvc; i++)
		rt_service_destroy(&r->svc[i]);
	r->nsvc = 0;
	rt_clients_free(r);
	lbfo_ctl_server_free(r->ctl);
	r->ctl = NULL;
	rt_disc_close(&r->disc);
	rt_sync_close(&r->sync);
	rt_sessions_destroy(&r->sessions);
	rt_groups_free(r);
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	if (r->ep >= 0)
		close(r->ep);
	lbfo_events_destroy(&r->events);
	for (i = 0; i < RT_CLIENT_LOCKS; i++)
		pthread_mutex_destroy(&r->client_lock[i]);
	pthread_mutex_destroy(&r->events_lock);
}

/* ---- the loop ------------------------------------------------------------------- */

static void read_signals(struct router *r)
{
	struct signalfd_siginfo si;

	while (read(r->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			rt_event(r, LOG_NOTICE, "SIGHUP ignored: the router does not reload its "
				 "configuration; restart it");
		else
			r->stop = true;
	}
}

static void dispatch(struct router *r, struct rt_ev *e, uint32_t events, uint64_t now)
{
	(void)events;
	switch (e->kind) {
	case RT_EV_DISC:
		rt_disc_input(&r->disc, now);
		break;
	case RT_EV_CTL:
		lbfo_ctl_server_service(r->ctl, now);
		break;
	case RT_EV_SIGNAL:
		read_signals(r);
		break;
	case RT_EV_SYNC_LISTEN:
		rt_sync_accept(&r->sync, now);
		break;
	case RT_EV_SYNC_PEER:
		rt_sync_peer_event(&r->sync, e->ptr, events, now);
		break;
	case RT_EV_SYNC_IN:
		rt_sync_in_event(&r->sync, e->ptr, now);
		break;
	case RT_EV_SYNC_WAKE:
		rt_sync_wake(&r->sync);
		break;
	default:
		break;
	}
}

static void tick(struct router *r, uint64_t now)
{
	int i;

	rt_disc_tick(&r->disc, now);
	rt_sync_tick(&r->sync, now);
	if (r->ctl && now >= lbfo_ctl_server_next_deadline(r->ctl))
		lbfo_ctl_server_service(r->ctl, now);
	rt_sessions_expire(&r->sessions, now, (uint64_t)r->cfg->session_idle_ms * LBFO_NS_PER_MS);
	for (i = 0; i < r->nsvc; i++)
		lbfo_team_tick(&r->svc[i].team, now);
}

int rt_router_run(struct router *r)
{
	uint64_t last_tick = 0;
	char err[256];

	if (rt_workers_start(r, err, sizeof(err)) < 0) {
		fprintf(stderr, "lbfo-router: %s\n", err);
		return -1;
	}
	while (!r->stop) {
		struct epoll_event evs[256];
		int n = epoll_wait(r->ep, evs, 256, (int)(TICK_NS / LBFO_NS_PER_MS)), i;
		uint64_t now = rt_now_ns();

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "lbfo-router: epoll_wait: %s\n", strerror(errno));
			return -1;
		}
		r->now = now;
		for (i = 0; i < n; i++)
			dispatch(r, evs[i].data.ptr, evs[i].events, now);
		/* What this batch (or the workers, who wake this loop for it)
		 * changed in the session table goes to the peers now, not at
		 * the next tick: that is the replication lag. */
		rt_sync_flush(&r->sync, now);
		if (now - last_tick >= TICK_NS) {
			last_tick = now;
			tick(r, now);
		}
	}
	rt_event(r, LOG_NOTICE, "router stopping");
	rt_workers_stop(r);
	return 0;
}
