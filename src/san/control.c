/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's operator surface: the control socket (lbfoctl), the status
 * document (every LU, or one), the Prometheus metrics over HTTP, the
 * status file.
 *
 * The control socket is the common control server (src/common/
 * ctlserver.h: non-blocking, deadlines, a slot limit, replies never cut
 * short silently), served from the host's loop; its requests are the
 * table in src/common/ctlcmds.c, bound here to handlers. A handler runs on
 * the loop thread with the host's lock held, at the loop's time. A
 * malformed, unknown or oversized request gets an error reply and never
 * touches I/O.
 *
 * Which LU a request is about: requests that act on one LU take its name
 * (WWID, export name or alias) as an optional argument; with one LU it
 * may be left out. A path named without an LU is the path for every LU:
 * `path fail p0` takes the portal's sessions out (the link's maintenance),
 * `path fail p0 LU` takes it out for that LU only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctlserver.h"
#include "lbfo/policy.h"
#include "san_internal.h"

/* ---- the status document ---------------------------------------------------------- */

static void lu_json(struct lbfo_host *h, struct host_lu *hl, struct lbfo_json *j)
{
	int total, up = lbfo_lu_paths_ready(hl->lu, &total);

	(void)h;
	lbfo_json_obj(j);
	lbfo_json_kv_str(j, "wwid", hl->wwid);
	lbfo_json_kv_str(j, "alias", hl->alias);
	lbfo_json_kv_str(j, "export", hl->export);
	lbfo_json_kv_uint(j, "size", lbfo_lu_export_bytes(hl->lu));
	lbfo_json_kv_int(j, "paths_up", up);
	lbfo_json_kv_int(j, "paths_total", total);
	lbfo_json_kv_int(j, "clients_open", hl->nopen);
	lbfo_json_kv_bool(j, "removed", hl->removed);
	lbfo_lu_json_fields(hl->lu, j);
	lbfo_json_end(j);
}

void host_status_json(struct lbfo_host *h, FILE *f, const struct host_lu *only)
{
	struct lbfo_json j;
	int i;

	lbfo_json_init(&j, f);
	lbfo_json_obj(&j);
	lbfo_json_key(&j, "host");
	lbfo_json_obj(&j);
	lbfo_json_kv_int(&j, "lus", h->nlus);
	lbfo_json_kv_int(&j, "targets", h->ntgts);
	lbfo_json_kv_bool(&j, "link_watch", h->link_fd >= 0);
	lbfo_json_kv_uint(&j, "link_downs", h->link_downs);
	lbfo_json_kv_bool(&j, "dead", h->dead != 0);
	lbfo_json_kv_fixed(&j, "uptime_s", (double)(h->now - h->started_ns) / 1e9, 1);
	lbfo_json_end(&j);
	lbfo_json_key(&j, "lus");
	lbfo_json_arr(&j);
	for (i = 0; i < h->nlus; i++)
		if (!only || h->lus[i] == only)
			lu_json(h, h->lus[i], &j);
	lbfo_json_end(&j);
	lbfo_json_end(&j);
	lbfo_json_finish(&j);
}

/* As `multipath -ll` shows a host: one block per LU, its paths under it. */
void host_status_text(struct lbfo_host *h, FILE *f, const struct host_lu *only)
{
	int i, shown = 0;

	for (i = 0; i < h->nlus; i++) {
		struct host_lu *hl = h->lus[i];
		int total, up;

		if (only && hl != only)
			continue;
		up = lbfo_lu_paths_ready(hl->lu, &total);
		if (shown++)
			fputc('\n', f);
		fprintf(f, "%s%s%s  export %s  paths up %d/%d%s%s\n", hl->alias[0] ? hl->alias : "",
			hl->alias[0] ? " " : "", hl->wwid, hl->export, up, total,
			hl->nopen ? "" : "  (not open)", hl->removed ? "  REMOVED" : "");
		lbfo_lu_text(hl->lu, f);
	}
	if (!shown)
		fprintf(f, "no LU\n");
}

int host_metrics_text(struct lbfo_host *h, FILE *f)
{
	static const struct lbfo_prom_family F_LUS = { "lbfo_host_lus", LBFO_PROM_GAUGE,
		"LUs served." };
	static const struct lbfo_prom_family F_LINK = { "lbfo_host_link_downs_total",
		LBFO_PROM_COUNTER, "Sessions failed because their link went down (rtnetlink)." };
	struct lbfo_lu **lus = calloc(h->nlus ? (size_t)h->nlus : 1, sizeof(*lus));
	struct lbfo_prom p;
	int i, rc;

	if (!lus)
		return -1;
	for (i = 0; i < h->nlus; i++)
		lus[i] = h->lus[i]->lu;
	lbfo_prom_init(&p, f);
	lbfo_prom_family(&p, &F_LUS);
	lbfo_prom_u64(&p, (uint64_t)h->nlus, NULL);
	lbfo_prom_family(&p, &F_LINK);
	lbfo_prom_u64(&p, h->link_downs, NULL);
	lbfo_lus_metrics(lus, h->nlus, &p);
	rc = lbfo_prom_finish(&p);
	free(lus);
	return rc;
}

/* Written, then renamed: a reader never sees half a document. */
void host_write_status_file(struct lbfo_host *h)
{
	char tmp[LBFO_STR_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%.*s.tmp", LBFO_STR_MAX - 1, h->cfg.lu.status_file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	host_status_json(h, f, NULL);
	if (fclose(f) == 0)
		rename(tmp, h->cfg.lu.status_file);
}

/* ---- which LU ---------------------------------------------------------------------- */

/* The LU a request names, or the only one. */
static struct host_lu *lu_of(struct lbfo_host *h, const char *name, const char *req, char *err,
			     size_t errlen)
{
	struct host_lu *hl;

	if (name) {
		if (!(hl = host_find_lu(h, name)))
			snprintf(err, errlen, "%s: no LU '%s' (status lists them)", req, name);
		return hl;
	}
	if (h->nlus == 1)
		return h->lus[0];
	snprintf(err, errlen, "%s: %d LUs: name one (WWID, export or alias)", req, h->nlus);
	return NULL;
}

/* ---- requests ----------------------------------------------------------------------- */

static int cmd_status(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_host *h = app;
	struct host_lu *only = NULL;
	bool json = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "json") && i == argc - 1)
			json = true;
		else if (i == 1 && !(only = lu_of(h, argv[i], "status", err, errlen)))
			return -1;
		else if (i > 1) {
			snprintf(err, errlen, "status: unknown argument '%s' (expected json)", argv[i]);
			return -1;
		}
	}
	if (json)
		host_status_json(h, out, only);
	else
		host_status_text(h, out, only);
	return 0;
}

static int cmd_events(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	return lbfo_ctl_events(&((struct lbfo_host *)app)->events, argc, argv, out, err, errlen);
}

static int cmd_metrics(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	(void)argc; (void)argv;
	if (host_metrics_text(app, out) < 0) {
		snprintf(err, errlen, "metrics: the exposition writer was misused (a bug)");
		return -1;
	}
	return 0;
}

static bool is_policy(const char *name)
{
	return lbfo_policy_find(name) != NULL;
}

/* policy set [LU] NAME [KEY=VALUE ..] */
static int cmd_policy_set(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_host *h = app;
	const char *lu_name = NULL;
	struct host_lu *hl;
	int a = 1;

	if (argc > 2 && !is_policy(argv[1]) && !strchr(argv[2], '='))
		lu_name = argv[a++];
	if (!(hl = lu_of(h, lu_name, "policy set", err, errlen)))
		return -1;
	return lbfo_lu_op_policy(hl->lu, argv[a], argc - a - 1, argv + a + 1, out, err, errlen);
}

/* shares set [LU] PATH=R[/W] .. */
static int cmd_shares_set(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_host *h = app;
	const char *lu_name = NULL;
	struct host_lu *hl;
	int a = 1;

	if (!strchr(argv[1], '='))
		lu_name = argv[a++];
	if (a >= argc) {
		snprintf(err, errlen, "shares set: give PATH=READ[/WRITE]");
		return -1;
	}
	if (!(hl = lu_of(h, lu_name, "shares set", err, errlen)))
		return -1;
	return lbfo_lu_op_shares(hl->lu, argc - a, argv + a, out, err, errlen);
}

static int cfg_path(struct lbfo_host *h, const char *name)
{
	int i;

	for (i = 0; i < h->cfg.lu.npaths; i++)
		if (!strcmp(h->cfg.lu.paths[i].name, name))
			return i;
	return -1;
}

/* The portal's sessions, for every LU: out (fail) or back (restore). */
static int path_all(struct lbfo_host *h, enum lbfo_lu_path_op op, const char *name, FILE *out,
		    char *err, size_t errlen)
{
	int cfg = cfg_path(h, name), t, i, n = 0;
	FILE *sink = fopen("/dev/null", "w");
	static const char *const what[] = { "failed by operator", "restored", "draining",
					     "failed by operator" };

	if (cfg < 0) {
		snprintf(err, errlen, "no path '%s'", name);
		if (sink)
			fclose(sink);
		return -1;
	}
	for (t = 0; t < h->ntgts; t++) {
		int tp = lbfo_tgt_path_of(h->tgts[t], cfg);

		if (tp < 0)
			continue;
		if (op == LBFO_LU_PATH_OP_FAIL) {
			lbfo_tgt_path_disable(h->tgts[t], tp, "operator");
			op = LBFO_LU_PATH_OP_SESSION_OFF;
		}
		for (i = 0; i < h->nlus; i++) {
			int p = lbfo_lu_path_over(h->lus[i]->lu, h->tgts[t], tp);

			if (p >= 0 && lbfo_lu_op_path(h->lus[i]->lu, op, lbfo_lu_path_name(h->lus[i]->lu, p),
						      sink ? sink : out, err, errlen) == 0)
				n++;
		}
		if (op == LBFO_LU_PATH_OP_RESTORE)
			lbfo_tgt_path_enable(h->tgts[t], tp, h->now);
	}
	if (sink)
		fclose(sink);
	fprintf(out, "path %s %s (%d LU%s)\n", name, what[op], n, n == 1 ? "" : "s");
	return 0;
}

static int path_cmd(void *app, enum lbfo_lu_path_op op, int argc, char **argv, FILE *out,
		    char *err, size_t errlen)
{
	struct lbfo_host *h = app;
	struct host_lu *hl;

	if (argc < 3)
		return path_all(h, op, argv[1], out, err, errlen);
	if (!(hl = lu_of(h, argv[2], "path", err, errlen)))
		return -1;
	return lbfo_lu_op_path(hl->lu, op, argv[1], out, err, errlen);
}

static int cmd_path_fail(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	return path_cmd(app, LBFO_LU_PATH_OP_FAIL, argc, argv, out, err, errlen);
}

static int cmd_path_restore(void *app, int argc, char **argv, FILE *out, char *err,
			    size_t errlen)
{
	return path_cmd(app, LBFO_LU_PATH_OP_RESTORE, argc, argv, out, err, errlen);
}

static int cmd_path_drain(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	return path_cmd(app, LBFO_LU_PATH_OP_DRAIN, argc, argv, out, err, errlen);
}

/* queueing on|off [LU]: without an LU, every LU. */
static int cmd_queueing(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_host *h = app;
	struct host_lu *hl = NULL;
	int failed = 0, i;
	bool on = !strcmp(argv[1], "on");

	if (!on && strcmp(argv[1], "off")) {
		snprintf(err, errlen, "queueing: '%s': expected on or off", argv[1]);
		return -1;
	}
	if (argc > 2 && !(hl = lu_of(h, argv[2], "queueing", err, errlen)))
		return -1;
	for (i = 0; i < h->nlus; i++)
		if (!hl || h->lus[i] == hl)
			failed += lbfo_lu_op_queueing(h->lus[i]->lu, on);
	if (failed)
		fprintf(out, "queueing %s: %d waiting command(s) failed with EIO\n", argv[1], failed);
	else
		fprintf(out, "queueing %s\n", argv[1]);
	return 0;
}

static int cmd_resize(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct host_lu *hl = lu_of(app, argc > 1 ? argv[1] : NULL, "resize", err, errlen);

	if (!hl)
		return -1;
	lbfo_lu_op_resize(hl->lu, out);
	return 0;
}

static int cmd_rescan(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	struct lbfo_host *h = app;

	(void)argc, (void)argv, (void)err, (void)errlen;
	host_rescan(h, "operator");
	fprintf(out, "rescan started (%s); lbfoctl events says what it found\n",
		h->rescan.again ? "after the one running" : "now");
	return 0;
}

static int cmd_reload(void *app, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	(void)argc, (void)argv;
	return host_reload(app, out, err, errlen);
}

static const lbfo_ctl_run_fn handlers[LBFO_LU_CMD__MAX] = {
	[LBFO_LU_STATUS] = cmd_status,
	[LBFO_LU_POLICY_SET] = cmd_policy_set,
	[LBFO_LU_SHARES_SET] = cmd_shares_set,
	[LBFO_LU_PATH_FAIL] = cmd_path_fail,
	[LBFO_LU_PATH_RESTORE] = cmd_path_restore,
	[LBFO_LU_PATH_DRAIN] = cmd_path_drain,
	[LBFO_LU_QUEUEING] = cmd_queueing,
	[LBFO_LU_RESIZE] = cmd_resize,
	[LBFO_LU_EVENTS] = cmd_events,
	[LBFO_LU_METRICS] = cmd_metrics,
	[LBFO_LU_RESCAN] = cmd_rescan,
	[LBFO_LU_RELOAD] = cmd_reload,
};

static void on_ctl_log(void *app, int level, const char *msg)
{
	host_log(app, level, "control: %s", msg);
}

/* ---- metrics over HTTP (libmicrohttpd, its own thread) ----------------- */

static enum MHD_Result metrics_http(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload, size_t *upload_len, void **con_cls)
{
	struct lbfo_host *h = cls;
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
		pthread_mutex_lock(&h->mu);
		host_metrics_text(h, f);
		pthread_mutex_unlock(&h->mu);
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

static int metrics_http_start(struct lbfo_host *h, char *err, size_t errlen)
{
	const char *listen = h->cfg.lu.metrics_listen;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon;
	unsigned long port;
	char *end;

	h->mhd = NULL;
	if (!listen[0])
		return 0;
	colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		goto bad;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		goto bad;
	sa.sin_port = htons((uint16_t)port);
	h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, metrics_http, h,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_CONNECTION_LIMIT, 16u,
				  MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "metrics_listen=%s: cannot listen (address in use?)", listen);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "invalid value '%s' for 'metrics_listen': expected IPV4:PORT", listen);
	return -1;
}

int host_surface_open(struct lbfo_host *h, char *err, size_t errlen)
{
	const struct lbfo_lu_config *c = &h->cfg.lu;
	struct lbfo_ctl_config cc = {
		.path = c->control, .listen_fd = -1, .cmds = lbfo_lu_commands,
		.run = handlers, .ncmds = LBFO_LU_CMD__MAX, .app = h, .log = on_ctl_log,
	};
	char cerr[LBFO_ERR_MAX];

	if (c->control[0] && strcmp(c->control, "none")) {
		h->ctl = lbfo_ctl_server_new(&cc, cerr, sizeof(cerr));
		if (!h->ctl && c->control_set) {
			snprintf(err, errlen, "%s", cerr);
			return -1;
		}
		if (!h->ctl)
			host_log(h, LBFO_LOG_WARNING, "%s; running without a control socket", cerr);
	}
	return metrics_http_start(h, err, errlen);
}

void host_surface_close(struct lbfo_host *h)
{
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	h->mhd = NULL;
	lbfo_ctl_server_free(h->ctl);
	h->ctl = NULL;
}
