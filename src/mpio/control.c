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
	"events [json]                 the last events\n"
	"metrics                       Prometheus text exposition\n";

/* ---- socket set-up -------------------------------------------------- */

int lbfo_ctl_open(struct lbfo_lu *lu, char *err, size_t errlen)
{
	const char *path = lu->cfg.control;
	int i;

	lu->ctl_fd = -1;
	for (i = 0; i < LBFO_CTL_CLIENTS; i++)
		lu->ctl_clients[i] = -1;
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

/* ---- figures --------------------------------------------------------- */

static struct path *find_path(struct lbfo_lu *lu, const char *name)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (!strcmp(lu->paths[i].cfg.name, name))
			return &lu->paths[i];
	return NULL;
}

/* Upper bound of the bucket holding the q-quantile, milliseconds. */
double lu_lat_quantile_ms(const struct path *p, double q)
{
	uint64_t want, seen = 0;
	int b;

	if (!p->lat_count)
		return 0;
	want = (uint64_t)(q * (double)p->lat_count);
	if (want == 0)
		want = 1;
	for (b = 0; b < LBFO_LAT_BUCKETS; b++) {
		seen += p->lat_hist[b];
		if (seen >= want)
			return (double)(1ull << b) / 1000.0;
	}
	return (double)(1ull << (LBFO_LAT_BUCKETS - 1)) / 1000.0;
}

static void status_text(struct lbfo_lu *lu, FILE *f)
{
	int i;

	fprintf(f, "LU %s  target %s  LUN %d  %" PRIu64 " x %u B  policy %s (%s)\n",
		lu->ident.id, lu->cfg.target, lu->cfg.lun, lu->ident.blocks,
		lu->ident.block_size, lbfo_team_policy_name(&lu->team),
		lbfo_mode_name(lbfo_team_mode(&lu->team)));
	fprintf(f, "  outstanding %u  queued %u  I/O %" PRIu64 "  errors %" PRIu64
		"  failovers %" PRIu64 "  retried %" PRIu64 "  fences %" PRIu64 "%s\n",
		lu->team.outstanding, lu->queue.n, lu->ios, lu->io_errors, lu->failovers,
		lu->requeued, lu->fences, lu->no_path_since_ns ? "  NO PATH" : "");
	fprintf(f, "  %-8s %-22s %-9s %-9s %6s %6s %6s %8s %8s %5s %7s %7s %6s %7s\n",
		"PATH", "PORTAL", "STATE", "ROLE", "RD%", "WR%", "ACT%", "RD MB/s", "WR MB/s",
		"OUT", "P50 ms", "P99 ms", "ERR", "RETRY");
	{
		double tot = 0;

		for (i = 0; i < lu->npaths; i++)
			tot += lu->paths[i].rate[LBFO_READ] + lu->paths[i].rate[LBFO_WRITE];
		for (i = 0; i < lu->npaths; i++) {
			const struct path *p = &lu->paths[i];
			const struct lbfo_member *m = &lu->team.m[i];
			double r = p->rate[LBFO_READ] + p->rate[LBFO_WRITE];

			fprintf(f, "  %-8s %-22s %-9s %-9s %6.2f %6.2f %6.1f %8.1f %8.1f %5u %7.2f %7.2f %6" PRIu64
				" %7" PRIu64 "%s%s%s\n",
				p->cfg.name, p->portal, lbfo_member_state_name(m->state),
				lbfo_role_name(m->role), m->share[LBFO_READ] / 100.0,
				m->share[LBFO_WRITE] / 100.0, tot > 0 ? 100.0 * r / tot : 0,
				p->rate[LBFO_READ] / 1e6, p->rate[LBFO_WRITE] / 1e6, m->outstanding,
				lu_lat_quantile_ms(p, 0.5), lu_lat_quantile_ms(p, 0.99), p->errors,
				m->st.returned + p->retries, p->flapping ? "  flapping" : "",
				p->admin_down ? "  (operator)" : "",
				p->last_error[0] ? "" : "");
			if (p->last_error[0] && m->state != LBFO_MS_ACTIVE)
				fprintf(f, "           last error: %s\n", p->last_error);
		}
	}
}

static const char *level_name(int level)
{
	switch (level) {
	case LBFO_LOG_ERR: return "err";
	case LBFO_LOG_WARNING: return "warning";
	case LBFO_LOG_NOTICE: return "notice";
	case LBFO_LOG_INFO: return "info";
	default: return "debug";
	}
}

static void events_out(struct lbfo_lu *lu, FILE *f, bool json)
{
	unsigned k;

	if (json)
		fprintf(f, "{\"events\":[");
	for (k = 0; k < lu->ev_count; k++) {
		const struct lbfo_event *ev = &lu->events[(lu->ev_head + k) % LBFO_EVENTS_MAX];
		time_t secs = (time_t)(ev->wall_ns / LBFO_NS_PER_SEC);
		struct tm tm;
		char when[32];

		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		if (json) {
			fprintf(f, "%s{\"time\":\"%s.%03uZ\",\"level\":\"%s\",\"message\":",
				k ? "," : "", when,
				(unsigned)(ev->wall_ns % LBFO_NS_PER_SEC / 1000000),
				level_name(ev->level));
			lu_json_str(f, ev->text);
			fputc('}', f);
		} else {
			fprintf(f, "%s.%03uZ %-7s %s\n", when,
				(unsigned)(ev->wall_ns % LBFO_NS_PER_SEC / 1000000),
				level_name(ev->level), ev->text);
		}
	}
	if (json)
		fprintf(f, "]}\n");
}

void lbfo_metrics_text(struct lbfo_lu *lu, FILE *f)
{
	static const char *const states[] = { "active", "standby", "failed", "probing", "draining" };
	char lbl[LBFO_STR_MAX * 2];
	int i, s, d;

	fprintf(f, "# HELP lbfo_lu_ios_total Client requests completed.\n"
		   "# TYPE lbfo_lu_ios_total counter\n");
	fprintf(f, "lbfo_lu_ios_total{lu=\"%s\"} %" PRIu64 "\n", lu->ident.id, lu->ios);
	fprintf(f, "# HELP lbfo_lu_io_errors_total Client requests that failed.\n"
		   "# TYPE lbfo_lu_io_errors_total counter\n");
	fprintf(f, "lbfo_lu_io_errors_total{lu=\"%s\"} %" PRIu64 "\n", lu->ident.id, lu->io_errors);
	fprintf(f, "# HELP lbfo_lu_failovers_total Path failures that moved I/O.\n"
		   "# TYPE lbfo_lu_failovers_total counter\n");
	fprintf(f, "lbfo_lu_failovers_total{lu=\"%s\"} %" PRIu64 "\n", lu->ident.id, lu->failovers);
	fprintf(f, "# HELP lbfo_lu_retries_total Commands re-sent after a path failed.\n"
		   "# TYPE lbfo_lu_retries_total counter\n");
	fprintf(f, "lbfo_lu_retries_total{lu=\"%s\"} %" PRIu64 "\n", lu->ident.id, lu->requeued);
	fprintf(f, "# HELP lbfo_lu_outstanding Commands in flight on the LU.\n"
		   "# TYPE lbfo_lu_outstanding gauge\n");
	fprintf(f, "lbfo_lu_outstanding{lu=\"%s\"} %u\n", lu->ident.id, lu->team.outstanding);

	fprintf(f, "# HELP lbfo_path_bytes_total Bytes completed on a path.\n"
		   "# TYPE lbfo_path_bytes_total counter\n");
	for (i = 0; i < lu->npaths; i++)
		for (d = 0; d < LBFO_DIR__MAX; d++)
			fprintf(f, "lbfo_path_bytes_total{lu=\"%s\",path=\"%s\",dir=\"%s\"} %" PRIu64 "\n",
				lu->ident.id, lu->paths[i].cfg.name, lbfo_dir_name((enum lbfo_dir)d),
				lu->team.m[i].st.bytes[d]);
	fprintf(f, "# HELP lbfo_path_commands_total Commands completed on a path.\n"
		   "# TYPE lbfo_path_commands_total counter\n");
	for (i = 0; i < lu->npaths; i++)
		for (d = 0; d < LBFO_DIR__MAX; d++)
			fprintf(f, "lbfo_path_commands_total{lu=\"%s\",path=\"%s\",dir=\"%s\"} %" PRIu64 "\n",
				lu->ident.id, lu->paths[i].cfg.name, lbfo_dir_name((enum lbfo_dir)d),
				lu->team.m[i].st.cmds[d]);
	for (i = 0; i < lu->npaths; i++) {
		const struct path *p = &lu->paths[i];
		const struct lbfo_member *m = &lu->team.m[i];

		snprintf(lbl, sizeof(lbl), "lu=\"%s\",path=\"%s\"", lu->ident.id, p->cfg.name);
		fprintf(f, "lbfo_path_errors_total{%s} %" PRIu64 "\n", lbl, p->errors);
		fprintf(f, "lbfo_path_retries_total{%s} %" PRIu64 "\n", lbl, m->st.returned + p->retries);
		fprintf(f, "lbfo_path_failures_total{%s} %" PRIu64 "\n", lbl, m->st.failures);
		fprintf(f, "lbfo_path_outstanding{%s} %u\n", lbl, m->outstanding);
		fprintf(f, "lbfo_path_share_ratio{%s,dir=\"read\"} %.4f\n", lbl, m->share[LBFO_READ] / 10000.0);
		fprintf(f, "lbfo_path_share_ratio{%s,dir=\"write\"} %.4f\n", lbl, m->share[LBFO_WRITE] / 10000.0);
		for (s = 0; s < 5; s++)
			fprintf(f, "lbfo_path_state{%s,state=\"%s\"} %d\n", lbl, states[s],
				(int)m->state == s);
	}
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
			status_text(lu, f);
		return 0;
	}
	if (!strcmp(tok[0], "events") && n <= 2) {
		events_out(lu, f, n == 2 && !strcmp(tok[1], "json"));
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
			struct path *p;
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
		struct path *p = find_path(lu, tok[2]);
		struct lbfo_member *m;

		if (!p) {
			snprintf(err, errlen, "no path '%s'", tok[2]);
			return -1;
		}
		m = &lu->team.m[p->idx];
		if (!strcmp(tok[1], "fail")) {
			p->admin_down = true;
			if (p->st == PATH_UP || p->st == PATH_LOGIN)
				lu_path_fail(p, "operator");
			fprintf(f, "path %s failed by operator\n", p->cfg.name);
			return 0;
		}
		if (!strcmp(tok[1], "restore")) {
			bool was_down = p->admin_down;

			p->admin_down = false;
			p->next_attempt_ns = now;
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

void lbfo_ctl_service(struct lbfo_lu *lu, const struct pollfd *pfd, int n, uint64_t now)
{
	int i, k;

	if (n <= 0 || lu->ctl_fd < 0)
		return;
	if (pfd[0].revents & POLLIN) {
		int c = accept4(lu->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c >= 0) {
			struct timeval tv = { .tv_sec = 1 };

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
	}
	for (i = 1; i < n; i++) {
		char *buf;
		size_t *len;
		ssize_t r;
		bool line;

		if (!pfd[i].revents)
			continue;
		for (k = 0; k < LBFO_CTL_CLIENTS && lu->ctl_clients[k] != pfd[i].fd; k++)
			;
		if (k == LBFO_CTL_CLIENTS)
			continue;
		/* One request per connection: a line, read in as many pieces
		 * as it comes in; end of file also ends it. */
		buf = lu->ctl_buf[k];
		len = &lu->ctl_len[k];
		r = recv(pfd[i].fd, buf + *len, REQ_MAX + 1 - *len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r > 0)
			*len += (size_t)r;
		line = *len > 0 && memchr(buf, '\n', *len) != NULL;
		if (r > 0 && !line && *len <= REQ_MAX)
			continue; /* more to come */
		if (*len > REQ_MAX && !line) {
			lu->ctl_errors++;
			dprintf(pfd[i].fd, "error: request longer than %d bytes\n", REQ_MAX);
		} else if (*len > 0) {
			char *nl = memchr(buf, '\n', *len);
			size_t used = nl ? (size_t)(nl - buf) : *len;

			buf[used] = '\0';
			if (strlen(buf) != used) {
				lu->ctl_errors++;
				dprintf(pfd[i].fd, "error: request contains a NUL byte\n");
			} else {
				reply(lu, pfd[i].fd, buf, now);
			}
		}
		close(pfd[i].fd);
		lu->ctl_clients[k] = -1;
	}
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
