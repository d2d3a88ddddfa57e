/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfoctl: see and steer a running lbfo instance through its control
 * socket: a storage LU (nbdkit lbfo ... control=PATH) or the cluster
 * router (lbfo-router, [router] control = PATH). Both speak the same
 * protocol (one request line; "ok\n" + body or "error: MESSAGE\n"), so
 * lbfoctl does not need to know which one it talks to: each verb is
 * one request, and an instance that does not know a request says so.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lbfo/lu.h"

static const char usage[] =
"usage: lbfoctl [--socket PATH] [--json] COMMAND [ARGS]\n"
"\n"
"Talks to a running lbfo instance over its control socket: a storage LU\n"
"(nbdkit lbfo ... control=PATH) or the cluster router (lbfo-router, [router]\n"
"control = PATH, default /run/lbfo/router.sock). The socket: --socket PATH,\n"
"else $LBFO_SOCKET, else " LBFO_DEFAULT_CONTROL ".\n"
"\n"
"commands for both an LU and the router:\n"
"  status [--json]                  LU: per path: state, role, read/write share,\n"
"                                   actual share and MB/s over the last second,\n"
"                                   commands in flight, latency p50/p99, errors,\n"
"                                   retries. Router: discovery, services, nodes\n"
"  watch [--interval S] [--count N] status, refreshed (default every 1 s, until Ctrl-C)\n"
"  events [--json]                  the last state changes, with time and reason\n"
"  metrics                          Prometheus text exposition\n"
"  path fail NAME                   take a path (router: a node) out; it stays out\n"
"                                   until restore\n"
"  path restore NAME                put it back (LU: also reinstates after manual\n"
"                                   failback; router: the same as node restore)\n"
"\n"
"commands for a storage LU only:\n"
"  policy set NAME [KEY=VALUE ...]  switch the policy at run time (shares recomputed)\n"
"  shares set PATH=R[/W] ...        configured read[/write] shares in percent\n"
"  path drain PATH [--timeout S]    stop new commands on PATH and wait (default 30 s)\n"
"                                   until none is in flight; then print 'drained'\n"
"\n"
"commands for the router (lbfo-router) only:\n"
"  services [--json]                per service: listen address, policy, ACL,\n"
"                                   counters; per node: state, weight, connections,\n"
"                                   bytes\n"
"  nodes [--json]                   per node: state, priority, last heard, weight in\n"
"                                   each service, connections, sessions, bytes, reason\n"
"  sessions [--json]                the session table, most recent first: client,\n"
"                                   port, group, node, connections, idle time\n"
"  node fail NAME                   take a node out of every service; it stays out\n"
"                                   (whatever it announces) until restore\n"
"  node restore NAME                put it back (discovery off: at once; on: at its\n"
"                                   next announcement)\n"
"  weight set SERVICE NODE N        allocate N times (1..1000) to NODE in SERVICE from\n"
"                                   now on; existing sessions stay where they are\n"
"\n"
"A command the instance at the socket does not know (a router command sent to\n"
"an LU's socket, or the other way round) is refused: lbfoctl prints the\n"
"instance's error with the socket path and exits 1.\n"
"\n"
"exit status: 0 done, 1 the instance refused the request or a wait timed out,\n"
"2 bad usage, 3 no instance at the socket.\n";

static const char *sock_path;

/* Send one request, read the whole reply. Returns 0 ok (body in *out),
 * 1 error reply (message in *out), 3 cannot connect. */
static int request(const char *req, char **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, rc, send_err = 0;

	*out = NULL;
	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "lbfoctl: socket path too long: %s\n", sock_path);
		return 3;
	}
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "lbfoctl: no lbfo instance at %s: %s\n", sock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 3;
	}
	{
		size_t n = strlen(req);
		char *line = malloc(n + 2);

		if (!line) {
			close(fd);
			return 3;
		}
		memcpy(line, req, n);
		line[n] = '\n';
		rc = send(fd, line, n + 1, MSG_NOSIGNAL) == (ssize_t)(n + 1) ? 0 : -1;
		free(line);
	}
	if (rc < 0) {
		/* The instance may have answered and closed before reading
		 * (e.g. "too many control clients"): its answer is still
		 * there to read. */
		send_err = errno;
		if (send_err != EPIPE && send_err != ECONNRESET) {
			fprintf(stderr, "lbfoctl: %s: %s\n", sock_path, strerror(send_err));
			close(fd);
			return 3;
		}
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 10000) <= 0) {
			fprintf(stderr, "lbfoctl: %s: no reply within 10 s\n", sock_path);
			free(buf);
			close(fd);
			return 3;
		}
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			buf = realloc(buf, cap);
			if (!buf) {
				close(fd);
				return 3;
			}
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (!buf || len == 0) {
		fprintf(stderr, "lbfoctl: %s: %s\n", sock_path,
			send_err ? strerror(send_err) : "empty reply");
		free(buf);
		return 3;
	}
	buf[len] = '\0';
	if (!strncmp(buf, "ok\n", 3)) {
		memmove(buf, buf + 3, len - 2);
		rc = 0;
	} else if (!strncmp(buf, "error: ", 7)) {
		memmove(buf, buf + 7, len - 6);
		rc = 1;
	} else {
		fprintf(stderr, "lbfoctl: %s: unexpected reply\n", sock_path);
		free(buf);
		return 3;
	}
	*out = buf;
	return rc;
}

/* Requests only one kind of instance knows: 'R' the router, 'L' a
 * storage LU; 'B' both. */
static char request_kind(const char *req)
{
	static const char *const router_only[] = { "services", "nodes", "sessions", "node",
						   "weight" };
	static const char *const lu_only[] = { "policy", "shares" };
	size_t w = strcspn(req, " ");
	size_t i;

	for (i = 0; i < sizeof(router_only) / sizeof(router_only[0]); i++)
		if (strlen(router_only[i]) == w && !strncmp(req, router_only[i], w))
			return 'R';
	for (i = 0; i < sizeof(lu_only) / sizeof(lu_only[0]); i++)
		if (strlen(lu_only[i]) == w && !strncmp(req, lu_only[i], w))
			return 'L';
	if (!strncmp(req, "path drain ", 11))
		return 'L';
	return 'B';
}

/* The instance refused `req` with `msg`: say so, naming the socket, and
 * when the request is one the other kind of instance would know, say
 * which kind the socket seems to belong to. */
static void refused(const char *req, const char *msg)
{
	size_t n = strlen(msg);
	char kind = request_kind(req);
	int w = !strncmp(req, "path drain ", 11) ? 10 : (int)strcspn(req, " ");
	bool unknown = !strncmp(msg, "unknown request", 15);

	fprintf(stderr, "lbfoctl: %s: %s%s", sock_path, n ? msg : "refused (no reason given)",
		n && msg[n - 1] == '\n' ? "" : "\n");
	if (kind == 'R' && unknown)
		fprintf(stderr, "lbfoctl: '%.*s' is a command of the cluster router (lbfo-router); "
			"%s seems to be a storage LU's control socket\n", w, req, sock_path);
	else if (kind == 'L' && (unknown || !strncmp(msg, "no node ", 8) ||
				 !strncmp(msg, "node: ", 6)))
		fprintf(stderr, "lbfoctl: '%.*s' is a command of a storage LU; "
			"%s seems to be the cluster router's control socket\n", w, req, sock_path);
}

static int simple(const char *req)
{
	char *out;
	int rc = request(req, &out);

	if (rc == 0)
		fputs(out, stdout);
	else if (rc == 1)
		refused(req, out);
	free(out);
	return rc;
}

/* Join argv[from..] into one request line. */
static char *join(const char *head, int argc, char **argv, int from)
{
	size_t len = strlen(head) + 1;
	char *s;
	int i;

	for (i = from; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = malloc(len + 1);
	if (!s)
		exit(3);
	strcpy(s, head);
	for (i = from; i < argc; i++) {
		if (strchr(argv[i], '\n')) {
			fprintf(stderr, "lbfoctl: argument contains a newline\n");
			exit(2);
		}
		strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* The "outstanding" of path `name` in a status JSON document, or -1. */
static long path_outstanding(const char *json, const char *name)
{
	char key[LBFO_NAME_MAX + 16];
	const char *p, *o;

	snprintf(key, sizeof(key), "{\"name\":\"%s\"", name);
	p = strstr(json, key);
	if (!p)
		return -1;
	o = strstr(p, "\"outstanding\":");
	if (!o)
		return -1;
	return strtol(o + 14, NULL, 10);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int drain(const char *name, double timeout_s)
{
	char req[LBFO_NAME_MAX + 32], *out;
	long n = -1;
	int rc, i, rounds = (int)(timeout_s * 10);

	snprintf(req, sizeof(req), "path drain %s", name);
	rc = simple(req);
	if (rc)
		return rc;
	for (i = 0; i <= rounds; i++) {
		rc = request("status json", &out);
		if (rc) {
			if (rc == 1)
				refused("status json", out);
			free(out);
			return rc;
		}
		n = path_outstanding(out, name);
		free(out);
		if (n == 0) {
			printf("path %s drained: no command in flight\n", name);
			return 0;
		}
		sleep_ms(100);
	}
	fprintf(stderr, "lbfoctl: path %s still has %ld command(s) in flight after %.0f s\n",
		name, n, timeout_s);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	double interval = 1, timeout_s = 30;
	long count = -1;
	const char *cmd;
	int c;

	sock_path = getenv("LBFO_SOCKET");
	if (!sock_path || !*sock_path)
		sock_path = LBFO_DEFAULT_CONTROL;
	/* Options may come before or after the command. */
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[optind++];
	{
		/* Trailing options of the command. */
		int i, j = optind;

		for (i = optind; i < argc; i++) {
			if (!strcmp(argv[i], "--json")) {
				json = true;
			} else if ((!strcmp(argv[i], "--interval") || !strcmp(argv[i], "--count") ||
				    !strcmp(argv[i], "--timeout") || !strcmp(argv[i], "--socket")) &&
				   i + 1 < argc) {
				char *end;
				double v = strtod(argv[i + 1], &end);

				if (!strcmp(argv[i], "--socket")) {
					sock_path = argv[++i];
					continue;
				}
				if (*end || v <= 0) {
					fprintf(stderr, "lbfoctl: bad value '%s' for %s\n", argv[i + 1], argv[i]);
					return 2;
				}
				if (!strcmp(argv[i], "--interval"))
					interval = v;
				else if (!strcmp(argv[i], "--count"))
					count = (long)v;
				else
					timeout_s = v;
				i++;
			} else {
				argv[j++] = argv[i];
			}
		}
		argc = j;
	}

	if (!strcmp(cmd, "status") && optind == argc)
		return simple(json ? "status json" : "status");
	if (!strcmp(cmd, "events") && optind == argc)
		return simple(json ? "events json" : "events");
	if (!strcmp(cmd, "metrics") && optind == argc)
		return simple("metrics");
	/* The router's tables. */
	if ((!strcmp(cmd, "services") || !strcmp(cmd, "nodes") || !strcmp(cmd, "sessions")) &&
	    optind == argc) {
		char req[32];

		snprintf(req, sizeof(req), "%s%s", cmd, json ? " json" : "");
		return simple(req);
	}
	if (!strcmp(cmd, "node") && optind + 2 == argc) {
		const char *what = argv[optind], *name = argv[optind + 1];
		char req[LBFO_STR_MAX];

		if (strcmp(what, "fail") && strcmp(what, "restore")) {
			fprintf(stderr, "lbfoctl: node: expected fail or restore, not '%s'\n", what);
			return 2;
		}
		if (!*name || strpbrk(name, " \t\r\n") || strlen(name) > LBFO_STR_MAX - 16) {
			fprintf(stderr, "lbfoctl: node: bad node name '%s'\n", name);
			return 2;
		}
		snprintf(req, sizeof(req), "node %s %s", what, name);
		return simple(req);
	}
	if (!strcmp(cmd, "weight") && optind + 4 == argc && !strcmp(argv[optind], "set")) {
		char req[3 * LBFO_STR_MAX];
		int k;

		for (k = optind + 1; k < argc; k++)
			if (!*argv[k] || strpbrk(argv[k], " \t\r\n") || strlen(argv[k]) >= LBFO_STR_MAX) {
				fprintf(stderr, "lbfoctl: weight set: bad argument '%s'\n", argv[k]);
				return 2;
			}
		snprintf(req, sizeof(req), "weight %s %s %s", argv[optind + 1], argv[optind + 2],
			 argv[optind + 3]);
		return simple(req);
	}
	if (!strcmp(cmd, "watch") && optind == argc) {
		long n;

		for (n = 0; count < 0 || n < count; n++) {
			char *out;
			int rc = request("status", &out);

			if (rc) {
				if (rc == 1)
					refused("status", out);
				free(out);
				return rc;
			}
			printf("\033[H\033[2J%s", out);
			fflush(stdout);
			free(out);
			if (count < 0 || n + 1 < count)
				sleep_ms((long)(interval * 1000));
		}
		return 0;
	}
	if ((!strcmp(cmd, "policy") || !strcmp(cmd, "shares")) && optind < argc &&
	    !strcmp(argv[optind], "set") && optind + 1 < argc) {
		char *req = join(cmd, argc, argv, optind);
		int rc = simple(req);

		free(req);
		return rc;
	}
	if (!strcmp(cmd, "path") && optind + 2 == argc) {
		const char *what = argv[optind], *name = argv[optind + 1];
		char req[LBFO_STR_MAX];

		if (!strcmp(what, "drain"))
			return drain(name, timeout_s);
		if (strcmp(what, "fail") && strcmp(what, "restore")) {
			fprintf(stderr, "lbfoctl: path: expected fail, restore or drain, not '%s'\n", what);
			return 2;
		}
		if (!*name || strpbrk(name, " \t\r\n") || strlen(name) > LBFO_STR_MAX - 16) {
			fprintf(stderr, "lbfoctl: path: bad name '%s'\n", name);
			return 2;
		}
		snprintf(req, sizeof(req), "path %s %s", what, name);
		return simple(req);
	}
	fprintf(stderr, "lbfoctl: bad command line (see lbfoctl --help)\n");
	return 2;
}
