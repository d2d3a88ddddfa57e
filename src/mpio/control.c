/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket of a running LU (lbfoctl talks to it), its event log
 * and its metrics. Everything here runs on the LU's loop thread with
 * lu->mu held, except the metrics HTTP handler, which takes lu->mu itself.
 *
 * Protocol: the client sends one line (at most 4 KiB) and reads the reply
 * until the server closes: "ok\n" then the body, or "error: MESSAGE\n".
 *
 *   status [json]                 paths, states, shares, rates, latency
 *   policy set NAME [KEY=VALUE]…  switch policy (shares recomputed)
 *   shares set PATH=R[/W]…        configured shares in percent
 *   path fail|restore|drain PATH  maintenance
 *   queueing on|off               fail queued I/O now (multipathd's disablequeueing)
 *   events [json]                 the last 256 events
 *   metrics                       Prometheus text exposition
 *   help
 *
 * A malformed, unknown or oversized request gets an error reply and never
 * touches I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "lbfo/policy.h"
#include "lu_internal.h"

#include "unixsock.h"

#define REQ_MAX 4096

static const char ctl_help[] =
	"status [json]                 paths, states, shares, MB/s, latency\n"
	"policy set NAME [KEY=VALUE...] switch the policy (shares recomputed)\n"
	"shares set PATH=R[/W] ...     configured read[/write] shares, percent\n"
	"path fail PATH                take a path out (no reconnect until restore)\n"
	"path restore PATH             put it back (also: reinstate after manual failback)\n"
	"path drain PATH               no new commands; in-flight ones finish\n"
	"queueing on|off               off: fail queued I/O now, and new I/O at once while\n"
	"                              no path can carry it; on: queue up to no_path_timeout\n"
	"events [json]                 the last events\n"
	"metrics                       Prometheus text exposition\n";

/* ---- socket set-up -------------------------------------------------- */

int lbfo_ctl_open(struct lbfo_lu *lu, char *err, size_t errlen)
{
	const char *path = lu->cfg.control;

	if (!path[0] || !strcmp(path, "none"))
		return 0;
	lu->ctl_fd = lbfo_unix_listen(path, 8, err, errlen);
	if (lu->ctl_fd < 0)
		return -1;
	snprintf(lu->ctl_path, sizeof(lu->ctl_path), "%s", path);
	return 0;
}

void lbfo_ctl_close(struct lbfo_lu *lu)
{
	int i;

	for (i = 0; i < LBFO_CTL_CLIENTS; i++)
		if (lu->ctl_clients[i] >= 0) {
			close(lu->ctl_clients[i]);
			lu->ctl_clients[i] = -1;
		}
	if (lu->ctl_fd >= 0) {
		close(lu->ctl_fd);
		unlink(lu->ctl_path);
		lu->ctl_fd = -1;
	}
}

int lbfo_ctl_pollfds(struct lbfo_lu *lu, struct pollfd *pfd, int max)
{
	int i, n = 0;

	if (lu->ctl_fd < 0 || max < 1)
		return 0;
	pfd[n].fd = lu->ctl_fd;
	pfd[n].events = POLLIN;
	pfd[n++].revents = 0;
	for (i = 0; i < LBFO_CTL_CLIENTS && n < max; i++)
		if (lu->ctl_clients[i] >= 0) {
			pfd[n].fd = lu->ctl_clients[i];
			pfd[n].events = POLLIN;
			pfd[n++].revents = 0;
		}
	return n;
}

static struct lu_path *find_path(struct lbfo_lu *lu, const char *name)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (!strcmp(lu->paths[i].cfg.name, name))
			return &lu->paths[i];
	return NULL;
}

/* ---- requests ---------------------------------------------------------- */

static int split(char *line, char **tok, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, " \t\r\n", &save); t && n < max; t = strtok_r(NULL, " \t\r\n", &save))
		tok[n++] = t;
	return n;
}

/* Returns 0 with a body in f, or -1 with a message in err. */
static int handle(struct lbfo_lu *lu, char *line, FILE *f, char *err, size_t errlen,
		  uint64_t now)
{
	char *tok[LBFO_MAX_POLICY_KV + 4];
	int n = split(line, tok, (int)(sizeof(tok) / sizeof(tok[0])));

	if (n == 0) {
		snprintf(err, errlen, "empty request (try 'help')");
		return -1;
	}
	if (!strcmp(tok[0], "help")) {
		fputs(ctl_help, f);
		return 0;
	}
	if (!strcmp(tok[0], "status") && n <= 2) {
		if (n == 2 && strcmp(tok[1], "json")) {
			snprintf(err, errlen, "status: unknown argument '%s'", tok[1]);
			return -1;
		}
		if (n == 2)
			lu_status_json(lu, f);
		else
			lu_status_text(lu, f);
		return 0;
	}
	if (!strcmp(tok[0], "events") && n <= 2) {
		lu_events_out(lu, f, n == 2 && !strcmp(tok[1], "json"));
		return 0;
	}
	if (!strcmp(tok[0], "queueing") && n == 2 &&
	    (!strcmp(tok[1], "on") || !strcmp(tok[1], "off"))) {
		int failed = lu_set_queueing(lu, !strcmp(tok[1], "on"));

		fprintf(f, "queueing %s%s", tok[1], failed ? "" : "\n");
		if (failed)
			fprintf(f, ": %d waiting command(s) failed with EIO\n", failed);
		return 0;
	}
	if (!strcmp(tok[0], "metrics") && n == 1) {
		lbfo_metrics_text(lu, f);
		return 0;
	}
	if (!strcmp(tok[0], "policy") && n >= 3 && !strcmp(tok[1], "set")) {
		struct lbfo_kv kv[LBFO_MAX_POLICY_KV];
		int i;

		for (i = 3; i < n; i++) {
			char *eq = strchr(tok[i], '=');

			if (!eq || eq == tok[i]) {
				snprintf(err, errlen, "policy set: '%s' is not KEY=VALUE", tok[i]);
				return -1;
			}
			*eq = '\0';
			kv[i - 3].key = tok[i];
			kv[i - 3].value = eq + 1;
		}
		if (lbfo_team_set_policy(&lu->team, tok[2], kv, (size_t)(n - 3), now) < 0) {
			snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
			return -1;
		}
		lu_log(lu, LBFO_LOG_NOTICE, "policy set to %s (operator)", tok[2]);
		fprintf(f, "policy %s\n", tok[2]);
		return 0;
	}
	if (!strcmp(tok[0], "shares") && n >= 3 && !strcmp(tok[1], "set")) {
		uint32_t rd[LBFO_MAX_MEMBERS], wr[LBFO_MAX_MEMBERS];
		bool set[LBFO_MAX_MEMBERS] = { false };
		int i;

		/* Parse all first: a bad one changes nothing. */
		for (i = 2; i < n; i++) {
			char *eq = strchr(tok[i], '='), *slash, *end;
			struct lu_path *p;
			double r, w;

			if (!eq) {
				snprintf(err, errlen, "shares set: '%s' is not PATH=READ[/WRITE]", tok[i]);
				return -1;
			}
			*eq = '\0';
			p = find_path(lu, tok[i]);
			if (!p) {
				snprintf(err, errlen, "shares set: no path '%s'", tok[i]);
				return -1;
			}
			slash = strchr(eq + 1, '/');
			r = strtod(eq + 1, &end);
			if (end == eq + 1 || (*end && end != slash) || r < 0 || r > 100)
				goto badshare;
			w = r;
			if (slash) {
				w = strtod(slash + 1, &end);
				if (end == slash + 1 || *end || w < 0 || w > 100)
					goto badshare;
			}
			rd[p->idx] = (uint32_t)(r * 100 + 0.5);
			wr[p->idx] = (uint32_t)(w * 100 + 0.5);
			set[p->idx] = true;
			continue;
badshare:
			snprintf(err, errlen, "shares set: bad share '%s' for path %s (percent 0..100)",
				 eq + 1, tok[i]);
			return -1;
		}
		for (i = 0; i < lu->npaths; i++)
			if (set[i] && lbfo_team_set_shares(&lu->team, i, rd[i], wr[i], now) < 0) {
				snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
				return -1;
			}
		lu_log(lu, LBFO_LOG_NOTICE, "shares set (operator)");
		fprintf(f, "shares set\n");
		return 0;
	}
	if (!strcmp(tok[0], "path") && n == 3) {
		struct lu_path *p = find_path(lu, tok[2]);
		struct lbfo_member *m;

		if (!p) {
			snprintf(err, errlen, "no path '%s'", tok[2]);
			return -1;
		}
		m = &lu->team.m[p->idx];
		if (!strcmp(tok[1], "fail")) {
			p->admin_down = true;
			lbfo_session_disable(&p->s, "operator");
			fprintf(f, "path %s failed by operator\n", p->cfg.name);
			return 0;
		}
		if (!strcmp(tok[1], "restore")) {
			bool was_down = p->admin_down || p->st == LP_REFUSED || p->lu_failed;

			p->admin_down = false;
			if (p->st == LP_REFUSED)
				p->st = LP_DOWN;
			if (p->lu_failed) /* log in again: identity, registration, all afresh */
				lbfo_session_fail(&p->s, "restored by operator: logging in again");
			lbfo_session_enable(&p->s, now);
			if ((m->state == LBFO_MS_PROBING || m->state == LBFO_MS_DRAINING) &&
			    lbfo_team_member_reinstate(&lu->team, p->idx, now) < 0) {
				snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
				return -1;
			}
			lu_log(lu, LBFO_LOG_NOTICE, "path %s restored by operator%s", p->cfg.name,
			       was_down ? " (reconnecting)" : "");
			fprintf(f, "path %s %s\n", p->cfg.name, lbfo_member_state_name(m->state));
			return 0;
		}
		if (!strcmp(tok[1], "drain")) {
			if (lbfo_team_member_drain(&lu->team, p->idx, now) < 0) {
				snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
				return -1;
			}
			lu_log(lu, LBFO_LOG_NOTICE, "path %s draining (operator): %u in flight",
			       p->cfg.name, m->outstanding);
			fprintf(f, "path %s draining, %u in flight\n", p->cfg.name, m->outstanding);
			return 0;
		}
	}
	snprintf(err, errlen, "unknown request '%.60s' (try 'help')", tok[0]);
	return -1;
}

static void reply(struct lbfo_lu *lu, int fd, char *req, uint64_t now)
{
	char err[LBFO_ERR_MAX] = "", *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	int rc;

	lu->ctl_requests++;
	if (!f)
		return;
	rc = handle(lu, req, f, err, sizeof(err), now);
	fclose(f);
	if (rc < 0) {
		lu->ctl_errors++;
		dprintf(fd, "error: %s\n", err);
	} else {
		size_t off = 0;

		if (write(fd, "ok\n", 3) == 3)
			while (off < len) {
				ssize_t w = write(fd, body + off, len - off);

				if (w <= 0)
					break;
				off += (size_t)w;
			}
	}
	free(body);
}

static short revents_of(const struct pollfd *pfd, int n, int fd)
{
	int i;

	for (i = 0; fd >= 0 && i < n; i++)
		if (pfd[i].fd == fd)
			return pfd[i].revents;
	return 0;
}

static void ctl_accept(struct lbfo_lu *lu)
{
	int c = accept4(lu->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct timeval tv = { .tv_sec = 1 };
	int k;

	if (c < 0)
		return;
	/* A reply must never block the loop for long. */
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (k = 0; k < LBFO_CTL_CLIENTS && lu->ctl_clients[k] >= 0; k++)
		;
	if (k < LBFO_CTL_CLIENTS) {
		lu->ctl_clients[k] = c;
		lu->ctl_len[k] = 0;
	} else {
		dprintf(c, "error: too many control clients\n");
		close(c);
	}
}

/* One request per connection: a line, read in as many pieces as it comes
 * in; end of file also ends it. */
static void ctl_read(struct lbfo_lu *lu, int k, uint64_t now)
{
	int fd = lu->ctl_clients[k];
	char *buf = lu->ctl_buf[k];
	size_t *len = &lu->ctl_len[k];
	ssize_t r = recv(fd, buf + *len, REQ_MAX + 1 - *len, 0);
	bool line;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0)
		*len += (size_t)r;
	line = *len > 0 && memchr(buf, '\n', *len) != NULL;
	if (r > 0 && !line && *len <= REQ_MAX)
		return; /* more to come */
	if (*len > REQ_MAX && !line) {
		lu->ctl_errors++;
		dprintf(fd, "error: request longer than %d bytes\n", REQ_MAX);
	} else if (*len > 0) {
		char *nl = memchr(buf, '\n', *len);
		size_t used = nl ? (size_t)(nl - buf) : *len;

		buf[used] = '\0';
		if (strlen(buf) != used) {
			lu->ctl_errors++;
			dprintf(fd, "error: request contains a NUL byte\n");
		} else {
			reply(lu, fd, buf, now);
		}
	}
	close(fd);
	lu->ctl_clients[k] = -1;
}

void lbfo_ctl_service(struct lbfo_lu *lu, const struct pollfd *pfd, int n, uint64_t now)
{
	int k;

	if (n <= 0 || lu->ctl_fd < 0)
		return;
	if (revents_of(pfd, n, lu->ctl_fd) & POLLIN)
		ctl_accept(lu);
	for (k = 0; k < LBFO_CTL_CLIENTS; k++)
		if (lu->ctl_clients[k] >= 0 && revents_of(pfd, n, lu->ctl_clients[k]))
			ctl_read(lu, k, now);
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
		lbfo_metrics_text(lu, f);
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

int lbfo_metrics_http_start(struct lbfo_lu *lu, char *err, size_t errlen)
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

void lbfo_metrics_http_stop(struct lbfo_lu *lu)
{
	if (lu->mhd)
		MHD_stop_daemon(lu->mhd);
	lu->mhd = NULL;
}
