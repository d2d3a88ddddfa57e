/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfoctl: see and steer a running lbfo instance through its control
 * socket: a storage LU (nbdkit lbfo ... control=PATH) or the cluster
 * router (lbfo-router, [router] control = PATH). Both speak the same
 * protocol (one request line; "ok\n" + body or "error: MESSAGE\n"), and
 * their requests are described in src/common/ctlcmds.h: lbfoctl's verbs,
 * usage and hints come from those tables (usage.c). Each verb is one
 * request; an instance that does not know a request says so, and lbfoctl
 * says which kind of instance knows it.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "usage.h"

struct opts {
	const char *sock;
	bool json;
	double interval, timeout;
	long count;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The kind of instance at the socket, asked with `help`. */
static enum ctl_kind ask_kind(const char *sock)
{
	char *help;
	enum ctl_kind k = CTL_KIND_UNKNOWN;

	if (ctl_request(sock, "help", &help) == 0)
		k = ctl_kind_of_help(help);
	free(help);
	return k;
}

/* The instance refused the request with msg: say so, naming the socket;
 * when it does not know the request, say who does. */
static void refused(const char *sock, const struct ctl_verb *v, const char *msg)
{
	size_t n = strlen(msg);
	bool unknown = !strncmp(msg, "unknown request", 15) || !strncmp(msg, "unknown command", 15);
	int w = ctl_verb_short(v);
	enum ctl_kind mine = v->lu && v->rt ? CTL_KIND_UNKNOWN : v->lu ? CTL_KIND_LU :
			     CTL_KIND_ROUTER;
	enum ctl_kind there;

	fprintf(stderr, "lbfoctl: %s: %s%s", sock, n ? msg : "refused (no reason given)",
		n && msg[n - 1] == '\n' ? "" : "\n");
	if (!unknown && !(mine == CTL_KIND_LU && (!strncmp(msg, "no node ", 8) ||
						  !strncmp(msg, "node: ", 6))))
		return;
	there = ask_kind(sock);
	if (mine == CTL_KIND_ROUTER && there != CTL_KIND_ROUTER)
		fprintf(stderr, "lbfoctl: '%.*s' is a command of the cluster router (lbfo-router); "
			"%s seems to be a storage LU's control socket\n", w, v->name, sock);
	else if (mine == CTL_KIND_LU && there != CTL_KIND_LU)
		fprintf(stderr, "lbfoctl: '%.*s' is a command of a storage LU; %s seems to be the "
			"cluster router's control socket\n", w, v->name, sock);
	else if (unknown)
		fprintf(stderr, "lbfoctl: '%s' is a command of %s, but the one at %s does not know "
			"it: is it older than this lbfoctl?\n", v->name,
			there == CTL_KIND_ROUTER ? "the cluster router" : "a storage LU", sock);
}

static int simple(const struct opts *o, const struct ctl_verb *v, const char *req)
{
	char *out;
	int rc = ctl_request(o->sock, req, &out);

	if (rc == 0)
		fputs(out, stdout);
	else if (rc == 1)
		refused(o->sock, v, out);
	free(out);
	return rc;
}

/* path drain NAME: the request, then wait until nothing is in flight on
 * the path (the LU's status JSON, read with json-c). */
static int drain(const struct opts *o, const struct ctl_verb *v, const char *req,
		 const char *name)
{
	struct ctl_verb st = { .name = "status" };
	long n = -1;
	int rc, i, rounds = (int)(o->timeout * 10);

	rc = simple(o, v, req);
	for (i = 0; rc == 0 && i <= rounds; i++) {
		char *out;

		rc = ctl_request(o->sock, "status json", &out);
		if (rc == 1)
			refused(o->sock, &st, out);
		if (rc == 0)
			n = ctl_path_outstanding(out, name);
		free(out);
		if (rc == 0 && n == 0) {
			printf("path %s drained: no command in flight\n", name);
			return 0;
		}
		if (rc == 0)
			sleep_ms(100);
	}
	if (rc)
		return rc;
	fprintf(stderr, "lbfoctl: path %s still has %ld command(s) in flight after %.0f s\n",
		name, n, o->timeout);
	return 1;
}

static int watch(const struct opts *o)
{
	struct ctl_verb st = { .name = "status" };
	long n;

	for (n = 0; o->count < 0 || n < o->count; n++) {
		char *out;
		int rc = ctl_request(o->sock, "status", &out);

		if (rc) {
			if (rc == 1)
				refused(o->sock, &st, out);
			free(out);
			return rc;
		}
		printf("\033[H\033[2J%s", out);
		fflush(stdout);
		free(out);
		if (o->count < 0 || n + 1 < o->count)
			sleep_ms((long)(o->interval * 1000));
	}
	return 0;
}

/* The request line of a verb and its arguments; NULL (and a message) when
 * an argument cannot be one word of it. */
static char *request_line(const struct opts *o, const struct ctl_verb *v, char **args, int n)
{
	size_t len = strlen(v->name) + 6;
	char *s;
	int i;

	for (i = 0; i < n; i++) {
		if (!*args[i] || strpbrk(args[i], " \t\r\n")) {
			fprintf(stderr, "lbfoctl: %s: bad argument '%s'\n", v->name, args[i]);
			return NULL;
		}
		len += strlen(args[i]) + 1;
	}
	s = malloc(len);
	if (!s)
		return NULL;
	strcpy(s, v->name);
	for (i = 0; i < n; i++) {
		strcat(s, " ");
		strcat(s, args[i]);
	}
	/* --json: the request's last word (after an LU named, if any). */
	if (o->json && ctl_verb_json(v) && (n == 0 || strcmp(args[n - 1], "json")))
		strcat(s, " json");
	return s;
}

/* words[0..n): a verb and its arguments. Returns the exit status. */
static int run(const struct opts *o, char **words, int n)
{
	struct ctl_verb v;
	char *req, next[128], syn[160];
	int used, rc;

	if (n == 1 && !strcmp(words[0], "watch"))
		return watch(o);
	if (!ctl_verb_find(words, n, &v, &used)) {
		ctl_verb_next_words(words[0], next, sizeof(next));
		if (next[0] && n > 1)
			fprintf(stderr, "lbfoctl: %s: expected %s, not '%s'\n", words[0], next, words[1]);
		else if (next[0])
			fprintf(stderr, "lbfoctl: %s: expected %s\n", words[0], next);
		else
			fprintf(stderr, "lbfoctl: unknown command '%s' (see lbfoctl --help)\n", words[0]);
		return 2;
	}
	if (!ctl_verb_arity_ok(&v, n - used)) {
		ctl_verb_synopsis(&v, syn, sizeof(syn));
		fprintf(stderr, "lbfoctl: bad command line: usage: lbfoctl %s\n", syn);
		return 2;
	}
	req = request_line(o, &v, words + used, n - used);
	if (!req)
		return 2;
	if (!strcmp(v.name, "path drain"))
		rc = drain(o, &v, req, words[used]);
	else
		rc = simple(o, &v, req);
	free(req);
	return rc;
}

/* An option after the command (--json, --interval S, ...). Returns how many
 * words it took (0: not one of them), -1 on a bad value. */
static int trailing_option(struct opts *o, char **argv, int i, int argc)
{
	const char *opt = argv[i];
	char *end;
	double v;

	if (!strcmp(opt, "--json")) {
		o->json = true;
		return 1;
	}
	if ((strcmp(opt, "--interval") && strcmp(opt, "--count") && strcmp(opt, "--timeout") &&
	     strcmp(opt, "--socket")) || i + 1 >= argc)
		return 0;
	if (!strcmp(opt, "--socket")) {
		o->sock = argv[i + 1];
		return 2;
	}
	v = strtod(argv[i + 1], &end);
	if (*end || v <= 0) {
		fprintf(stderr, "lbfoctl: bad value '%s' for %s\n", argv[i + 1], opt);
		return -1;
	}
	if (!strcmp(opt, "--interval"))
		o->interval = v;
	else if (!strcmp(opt, "--count"))
		o->count = (long)v;
	else
		o->timeout = v;
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .interval = 1, .timeout = 30, .count = -1 };
	int c, i, n = 0;

	o.sock = getenv("LBFO_SOCKET");
	if (!o.sock || !*o.sock)
		o.sock = LBFO_CTL_LU_SOCKET;
	/* Options may come before or after the command. */
	while ((c = getopt_long(argc, argv, "+s:jh", lopts, NULL)) != -1) {
		switch (c) {
		case 's': o.sock = optarg; break;
		case 'j': o.json = true; break;
		case 'h': ctl_usage(stdout); return 0;
		default: ctl_usage(stderr); return 2;
		}
	}
	for (i = optind; i < argc; i++) {
		int k = trailing_option(&o, argv, i, argc);

		if (k < 0)
			return 2;
		if (k == 0)
			argv[optind + n++] = argv[i];
		else
			i += k - 1;
	}
	if (n == 0) {
		ctl_usage(stderr);
		return 2;
	}
	return run(&o, argv + optind, n);
}
