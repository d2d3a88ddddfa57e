/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The operator's surface of a running LU: the control socket (lbfoctl)
 * and the metrics over HTTP.
 *
 * The control socket is the common control server (src/common/
 * ctlserver.h: non-blocking, deadlines, a slot limit, replies never cut
 * short silently), served from the LU's loop; its requests are the LU's
 * table in src/common/ctlcmds.c, bound here to handlers. A handler runs on
 * the loop thread with the LU's lock held, at the loop's time lu->now.
 * A malformed, unknown or oversized request gets an error reply and never
 * touches I/O.
 */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "ctlserver.h"
#include "lbfo/policy.h"
#include "lu_internal.h"

static struct lu_path *find_path(struct lbfo_lu *lu, const char *name, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (!strcmp(lu->paths[i].cfg.name, name))
			return &lu->paths[i];
	snprintf(err, errlen, "no path '%s'", name);
	return NULL;
}

static int cmd_status(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	int json = lbfo_ctl_json_arg(argc, argv, err, errlen);

	if (json < 0)
		return -1;
	if (json)
		lu_status_json(app, out);
	else
		lu_status_text(app, out);
	return 0;
}

static int cmd_events(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_lu *lu = app;

	return lbfo_ctl_events(&lu->events, argc, argv, out, err, errlen);
}

static int cmd_metrics(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	(void)argc; (void)argv;
	if (lu_metrics_text(app, out) < 0) {
		snprintf(err, errlen, "metrics: the exposition writer was misused (a bug)");
		return -1;
	}
	return 0;
}

static int cmd_policy_set(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_lu *lu = app;
	struct lbfo_kv kv[LBFO_MAX_POLICY_KV];
	int i;

	if (argc - 2 > LBFO_MAX_POLICY_KV) {
		snprintf(err, errlen, "policy set: at most %d parameters", LBFO_MAX_POLICY_KV);
		return -1;
	}
	for (i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i]) {
			snprintf(err, errlen, "policy set: '%s' is not KEY=VALUE", argv[i]);
			return -1;
		}
		*eq = '\0';
		kv[i - 2].key = argv[i];
		kv[i - 2].value = eq + 1;
	}
	if (lbfo_team_set_policy(&lu->team, argv[1], kv, (size_t)(argc - 2), lu->now) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
		return -1;
	}
	lu_log(lu, LBFO_LOG_NOTICE, "policy set to %s (operator)", argv[1]);
	fprintf(out, "policy %s\n", argv[1]);
	return 0;
}

/* "R[/W]" in percent -> basis points. */
static int parse_rw(const char *v, uint32_t *rd, uint32_t *wr)
{
	char *slash, *end;
	double r, w;

	slash = strchr(v, '/');
	r = strtod(v, &end);
	if (end == v || (*end && end != slash) || r < 0 || r > 100)
		return -1;
	w = r;
	if (slash) {
		w = strtod(slash + 1, &end);
		if (end == slash + 1 || *end || w < 0 || w > 100)
			return -1;
	}
	*rd = (uint32_t)(r * 100 + 0.5);
	*wr = (uint32_t)(w * 100 + 0.5);
	return 0;
}

static int cmd_shares_set(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_lu *lu = app;
	uint32_t rd[LBFO_MAX_MEMBERS], wr[LBFO_MAX_MEMBERS];
	bool set[LBFO_MAX_MEMBERS] = { false };
	int i;

	/* Parse all first: a bad one changes nothing. */
	for (i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		struct lu_path *p;

		if (!eq) {
			snprintf(err, errlen, "shares set: '%s' is not PATH=READ[/WRITE]", argv[i]);
			return -1;
		}
		*eq = '\0';
		if (!(p = find_path(lu, argv[i], err, errlen))) {
			snprintf(err, errlen, "shares set: no path '%s'", argv[i]);
			return -1;
		}
		if (parse_rw(eq + 1, &rd[p->idx], &wr[p->idx]) < 0) {
			snprintf(err, errlen, "shares set: bad share '%s' for path %s (percent 0..100)",
				 eq + 1, argv[i]);
			return -1;
		}
		set[p->idx] = true;
	}
	for (i = 0; i < lu->npaths; i++)
		if (set[i] && lbfo_team_set_shares(&lu->team, i, rd[i], wr[i], lu->now) < 0) {
			snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
			return -1;
		}
	lu_log(lu, LBFO_LOG_NOTICE, "shares set (operator)");
	fprintf(out, "shares set\n");
	return 0;
}

static int cmd_path_fail(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lu_path *p = find_path(app, argv[1], err, errlen);

	(void)argc;
	if (!p)
		return -1;
	p->admin_down = true;
	lbfo_session_disable(&p->s, "operator");
	fprintf(out, "path %s failed by operator\n", p->cfg.name);
	return 0;
}

static int cmd_path_restore(void *app, int argc, char **argv, FILE *out, char *err,
			    size_t errlen)
{
	struct lbfo_lu *lu = app;
	struct lu_path *p = find_path(lu, argv[1], err, errlen);
	struct lbfo_member *m;
	bool was_down;

	(void)argc;
	if (!p)
		return -1;
	m = &lu->team.m[p->idx];
	was_down = p->admin_down || p->st == LP_REFUSED || p->lu_failed;
	p->admin_down = false;
	if (p->st == LP_REFUSED)
		p->st = LP_DOWN;
	if (p->lu_failed) /* log in again: identity, registration, all afresh */
		lbfo_session_fail(&p->s, "restored by operator: logging in again");
	lbfo_session_enable(&p->s, lu->now);
	if ((m->state == LBFO_MS_PROBING || m->state == LBFO_MS_DRAINING) &&
	    lbfo_team_member_reinstate(&lu->team, p->idx, lu->now) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
		return -1;
	}
	lu_log(lu, LBFO_LOG_NOTICE, "path %s restored by operator%s", p->cfg.name,
	       was_down ? " (reconnecting)" : "");
	fprintf(out, "path %s %s\n", p->cfg.name, lbfo_member_state_name(m->state));
	return 0;
}

static int cmd_path_drain(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_lu *lu = app;
	struct lu_path *p = find_path(lu, argv[1], err, errlen);
	unsigned n;

	(void)argc;
	if (!p)
		return -1;
	if (lbfo_team_member_drain(&lu->team, p->idx, lu->now) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
		return -1;
	}
	n = lu->team.m[p->idx].outstanding;
	lu_log(lu, LBFO_LOG_NOTICE, "path %s draining (operator): %u in flight", p->cfg.name, n);
	fprintf(out, "path %s draining, %u in flight\n", p->cfg.name, n);
	return 0;
}

static int cmd_queueing(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	int failed;

	(void)argc;
	if (strcmp(argv[1], "on") && strcmp(argv[1], "off")) {
		snprintf(err, errlen, "queueing: '%s': expected on or off", argv[1]);
		return -1;
	}
	failed = lu_set_queueing(app, !strcmp(argv[1], "on"));
	if (failed)
		fprintf(out, "queueing %s: %d waiting command(s) failed with EIO\n", argv[1], failed);
	else
		fprintf(out, "queueing %s\n", argv[1]);
	return 0;
}

static const lbfo_ctl_run_fn handlers[LBFO_LU_CMD__MAX] = {
	[LBFO_LU_STATUS] = cmd_status,
	[LBFO_LU_POLICY_SET] = cmd_policy_set,
	[LBFO_LU_SHARES_SET] = cmd_shares_set,
	[LBFO_LU_PATH_FAIL] = cmd_path_fail,
	[LBFO_LU_PATH_RESTORE] = cmd_path_restore,
	[LBFO_LU_PATH_DRAIN] = cmd_path_drain,
	[LBFO_LU_QUEUEING] = cmd_queueing,
	[LBFO_LU_EVENTS] = cmd_events,
	[LBFO_LU_METRICS] = cmd_metrics,
};

static void on_ctl_log(void *app, int level, const char *msg)
{
	lu_log(app, level, "control: %s", msg);
}

/* ---- metrics over HTTP (libmicrohttpd, its own thread) ----------------- */

static enum MHD_Result metrics_http(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload, size_t *upload_len, void **con_cls)
{
	struct lbfo_lu *lu = cls;
	struct MHD_Response *resp;
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	enum MHD_Result ret;
	unsigned code = MHD_HTTP_OK;

	(void)version, (void)upload, (void)upload_len, (void)con_cls;
	f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	if (strcmp(method, "GET")) {
		code = MHD_HTTP_METHOD_NOT_ALLOWED;
		fputs("only GET\n", f);
	} else if (strcmp(url, "/metrics")) {
		code = MHD_HTTP_NOT_FOUND;
		fputs("metrics are at /metrics\n", f);
	} else {
		pthread_mutex_lock(&lu->mu);
		lu_metrics_text(lu, f);
		pthread_mutex_unlock(&lu->mu);
	}
	fclose(f);
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int metrics_http_start(struct lbfo_lu *lu, char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon;
	unsigned long port;
	char *end;

	lu->mhd = NULL;
	if (!lu->cfg.metrics_listen[0])
		return 0;
	colon = strrchr(lu->cfg.metrics_listen, ':');
	if (!colon || (size_t)(colon - lu->cfg.metrics_listen) >= sizeof(host))
		goto bad;
	memcpy(host, lu->cfg.metrics_listen, (size_t)(colon - lu->cfg.metrics_listen));
	host[colon - lu->cfg.metrics_listen] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		goto bad;
	sa.sin_port = htons((uint16_t)port);
	lu->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
				   0, NULL, NULL, metrics_http, lu,
				   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				   MHD_OPTION_CONNECTION_LIMIT, 16u,
				   MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
	if (!lu->mhd) {
		snprintf(err, errlen, "metrics_listen=%s: cannot listen (address in use?)",
			 lu->cfg.metrics_listen);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "invalid value '%s' for 'metrics_listen': expected IPV4:PORT",
		 lu->cfg.metrics_listen);
	return -1;
}

static void metrics_http_stop(struct lbfo_lu *lu)
{
	if (lu->mhd)
		MHD_stop_daemon(lu->mhd);
	lu->mhd = NULL;
}

int lu_surface_open(struct lbfo_lu *lu, char *err, size_t errlen)
{
	struct lbfo_ctl_config cc = {
		.path = lu->cfg.control, .listen_fd = -1, .cmds = lbfo_lu_commands,
		.run = handlers, .ncmds = LBFO_LU_CMD__MAX, .app = lu, .log = on_ctl_log,
	};
	char cerr[LBFO_ERR_MAX];

	if (lu->cfg.control[0] && strcmp(lu->cfg.control, "none")) {
		lu->ctl = lbfo_ctl_server_new(&cc, cerr, sizeof(cerr));
		if (!lu->ctl && lu->cfg.control_set) {
			snprintf(err, errlen, "%s", cerr);
			return -1;
		}
		if (!lu->ctl)
			lu_log(lu, LBFO_LOG_WARNING, "%s; running without a control socket", cerr);
	}
	return metrics_http_start(lu, err, errlen);
}

void lu_surface_close(struct lbfo_lu *lu)
{
	metrics_http_stop(lu);
	lbfo_ctl_server_free(lu->ctl);
	lu->ctl = NULL;
}
