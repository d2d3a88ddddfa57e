/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfoctl: see and steer a running lbfo instance through its control
 * socket (nbdkit lbfo ... control=PATH).
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
"usage: lbfoctl [--socket PATH] COMMAND [ARGS]\n"
"\n"
"Talks to a running lbfo instance over its control socket: --socket PATH,\n"
"else $LBFO_SOCKET, else " LBFO_DEFAULT_CONTROL ".\n"
"\n"
"commands:\n"
"  status [--json]                  per path: state, role, read/write share, actual\n"
"                                   share and MB/s over the last second, commands in\n"
"                                   flight, latency p50/p99, errors, retries\n"
"  watch [--interval S] [--count N] status, refreshed (default every 1 s, until Ctrl-C)\n"
"  policy set NAME [KEY=VALUE ...]  switch the policy at run time (shares recomputed)\n"
"  shares set PATH=R[/W] ...        configured read[/write] shares in percent\n"
"  path fail PATH                   take a path out; it stays out until restore\n"
"  path restore PATH                put it back (also reinstates after manual failback)\n"
"  path drain PATH [--timeout S]    stop new commands on PATH and wait (default 30 s)\n"
"                                   until none is in flight; then print 'drained'\n"
"  events [--json]                  the last state changes, with time and reason\n"
"  metrics                          Prometheus text exposition\n"
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
	int fd, rc;

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
		fprintf(stderr, "lbfoctl: %s: %s\n", sock_path, strerror(errno));
		close(fd);
		return 3;
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
	if (!buf) {
		fprintf(stderr, "lbfoctl: %s: empty reply\n", sock_path);
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

static int simple(const char *req)
{
	char *out;
	int rc = request(req, &out);

	if (rc == 0)
		fputs(out, stdout);
	else if (rc == 1)
		fprintf(stderr, "lbfoctl: %s", out);
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
	if (!strcmp(cmd, "watch") && optind == argc) {
		long n;

		for (n = 0; count < 0 || n < count; n++) {
			char *out;
			int rc = request("status", &out);

			if (rc) {
				if (rc == 1)
					fprintf(stderr, "lbfoctl: %s", out);
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
		snprintf(req, sizeof(req), "path %s %s", what, name);
		return simple(req);
	}
	fprintf(stderr, "lbfoctl: bad command line (see lbfoctl --help)\n");
	return 2;
}
