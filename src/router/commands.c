/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router's control requests: the handlers bound to
 * lbfo_router_commands[] (src/common/ctlcmds.h), which names them, gives
 * their synopsis and help; the control server (src/common/ctlserver.h)
 * has checked the number of arguments. app is the router; a request runs
 * on the loop, between connections' events, at the loop's time r->now.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "lbfo/policy.h"
#include "router.h"

static int cmd_status(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct router *r = app;
	int json = lbfo_ctl_json_arg(argc, argv, err, errlen);

	if (json < 0)
		return -1;
	rt_workers_collect(r);
	if (json)
		rt_status_json(r, out, r->now);
	else
		rt_status_text(r, out, r->now);
	return 0;
}

static int cmd_services(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct router *r = app;
	int json = lbfo_ctl_json_arg(argc, argv, err, errlen);

	if (json < 0)
		return -1;
	rt_workers_collect(r);
	if (json)
		rt_services_json(r, out);
	else
		rt_services_text(r, out);
	return 0;
}

static int cmd_nodes(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct router *r = app;
	int json = lbfo_ctl_json_arg(argc, argv, err, errlen);

	if (json < 0)
		return -1;
	rt_workers_collect(r);
	if (json)
		rt_nodes_json(r, out, r->now);
	else
		rt_nodes_text(r, out, r->now);
	return 0;
}

/* Text: the first 1000 sessions; JSON: the first 100000 (some 15 MB). */
static int cmd_sessions(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct router *r = app;
	int json = lbfo_ctl_json_arg(argc, argv, err, errlen);

	if (json < 0)
		return -1;
	if (json)
		rt_sessions_json(r, out, r->now, 100000);
	else
		rt_sessions_text(r, out, r->now, 1000);
	return 0;
}

static int cmd_events(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct router *r = app;
	int rc;

	pthread_mutex_lock(&r->events_lock);
	rc = lbfo_ctl_events(&r->events, argc, argv, out, err, errlen);
	pthread_mutex_unlock(&r->events_lock);
	return rc;
}

static int cmd_metrics(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	(void)argc, (void)argv, (void)err, (void)errlen;
	rt_workers_collect(app);
	rt_metrics_text(app, out, ((struct router *)app)->now);
	return 0;
}

static int node_arg(struct router *r, const char *name, char *err, size_t errlen)
{
	int ni = rt_node_index(r, name);

	if (ni < 0)
		snprintf(err, errlen, "no node '%s'", name);
	return ni;
}

/* node fail NODE (path fail NODE): out of every service until restored,
 * whatever it announces. */
static int cmd_fail(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct router *r = app;
	int ni = node_arg(r, argv[1], err, errlen);

	(void)argc;
	if (ni < 0)
		return -1;
	rt_node_down(r, ni, RT_NODE_ADMIN_DOWN, "operator", r->now);
	rt_workers_sync(r, 1000); /* answered once every worker knows */
	fprintf(out, "node %s down\n", argv[1]);
	return 0;
}

static int cmd_restore(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct router *r = app;
	int ni = node_arg(r, argv[1], err, errlen);

	(void)argc;
	if (ni < 0)
		return -1;
	rt_node_restore(r, ni, out, r->now);
	rt_workers_sync(r, 1000);
	return 0;
}

/* weight set SERVICE NODE N: FIG 5's "allocate N times", changed at run
 * time. Existing sessions stay where they are; new ones follow the new
 * weight. */
static int cmd_weight(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct router *r = app;
	struct rt_service *s = NULL;
	struct rt_msg msg = { .kind = RT_MSG_WEIGHT };
	unsigned long w;
	char *end;
	int i, ni, m;

	(void)argc;
	for (i = 0; i < r->nsvc; i++)
		if (!strcmp(r->svc[i].cfg->name, argv[1]))
			s = &r->svc[i];
	if (!s) {
		snprintf(err, errlen, "no service '%s'", argv[1]);
		return -1;
	}
	ni = rt_node_index(r, argv[2]);
	m = ni < 0 ? -1 : s->node_member[ni];
	if (m < 0) {
		snprintf(err, errlen, "node '%s' does not serve service '%s'", argv[2], argv[1]);
		return -1;
	}
	errno = 0;
	w = strtoul(argv[3], &end, 10);
	if (errno || *end || end == argv[3] || argv[3][0] == '-' || w > UINT32_MAX ||
	    lbfo_team_set_weight(&s->team, m, (uint32_t)w, r->now) < 0) {
		snprintf(err, errlen, "weight '%s' for node %s: expected 1..%u", argv[3], argv[2],
			 LBFO_WEIGHT_MAX);
		return -1;
	}
	msg.svc = (int)(s - r->svc);
	msg.member = m;
	msg.weight = (uint32_t)w;
	rt_worker_post(r, -1, &msg);
	rt_workers_sync(r, 1000);
	rt_event(r, LOG_NOTICE, "service %s: node %s weight set to %lu by operator", argv[1],
		 argv[2], w);
	fprintf(out, "service %s: node %s weight %lu\n", argv[1], argv[2], w);
	return 0;
}

/* worker stop N: drain worker N (worker.c), with no connection lost. */
static int cmd_worker_stop(void *app, int argc, char **argv, FILE *out, char *err,
			   size_t errlen)
{
	struct router *r = app;
	unsigned long n;
	char *end;

	(void)argc;
	errno = 0;
	n = strtoul(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || argv[1][0] == '-' || n >= (unsigned long)r->nworker) {
		snprintf(err, errlen, "no worker '%s' (0..%d)", argv[1], r->nworker - 1);
		return -1;
	}
	return rt_worker_drain(r, (int)n, out, err, errlen);
}

const lbfo_ctl_run_fn rt_ctl_handlers[LBFO_RT_CMD__MAX] = {
	[LBFO_RT_STATUS] = cmd_status,
	[LBFO_RT_SERVICES] = cmd_services,
	[LBFO_RT_NODES] = cmd_nodes,
	[LBFO_RT_SESSIONS] = cmd_sessions,
	[LBFO_RT_EVENTS] = cmd_events,
	[LBFO_RT_METRICS] = cmd_metrics,
	[LBFO_RT_NODE_FAIL] = cmd_fail,
	[LBFO_RT_NODE_RESTORE] = cmd_restore,
	[LBFO_RT_PATH_FAIL] = cmd_fail,
	[LBFO_RT_PATH_RESTORE] = cmd_restore,
	[LBFO_RT_WEIGHT_SET] = cmd_weight,
	[LBFO_RT_WORKER_STOP] = cmd_worker_stop,
};
