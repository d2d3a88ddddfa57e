/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router: the cluster router of seed 002. For each client connection
 * on a service port: check eligibility (the service's ACL), the limits,
 * find the client's session (FIG 6) or allocate a node through the
 * service's lbfo_team (FIG 5's weights), connect to the node with a
 * deadline (retrying another node on failure), then move bytes both ways.
 * This file is the command line; router.c is the loop.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>

#include "router.h"

static const char usage[] =
"usage: lbfo-router -c FILE [--check] | --config-reference\n"
"\n"
"The cluster router of seed 002: forwards clients' TCP connections on each\n"
"[service] to a cluster node chosen by the policy table, keeps clients on\n"
"their node (session table), and learns nodes by discovery (lbfo-node).\n"
"  -c, --config FILE  configuration (see docs/router.md)\n"
"      --check        load and check the configuration, then exit\n"
"      --config-reference  print every section and key (Markdown), then exit\n"
"\n"
"Watch and steer it with lbfoctl --socket PATH (services, nodes, sessions,\n"
"events, metrics, node fail|restore, weight set); PATH is [router] control,\n"
"default " LBFO_CTL_ROUTER_SOCKET ". Events also go to stderr. SIGTERM or SIGINT\n"
"stops it; SIGHUP is ignored (the configuration is read at start only).\n";

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Returns the config file, or NULL when main should exit with *rc. */
static const char *options(int argc, char **argv, bool *check, int *rc)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "config-reference", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	int c;

	*rc = 0;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'k': *check = true; break;
		case 'r': rt_config_markdown(stdout); return NULL;
		case 'h': fputs(usage, stdout); return NULL;
		default: fputs(usage, stderr); *rc = 2; return NULL;
		}
	}
	if (!file || optind != argc) {
		fputs(usage, stderr);
		*rc = 2;
		return NULL;
	}
	return file;
}

int main(int argc, char **argv)
{
	static struct rt_config cfg;
	static struct router rt;
	bool check = false;
	char err[512];
	int rc;
	const char *file = options(argc, argv, &check, &rc);

	if (!file)
		return rc;
	rt_config_defaults(&cfg);
	if (rt_config_load(&cfg, file, err, sizeof(err)) < 0) {
		fprintf(stderr, "lbfo-router: %s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK: %d service(s), %d node(s)\n", file, cfg.nsvc,
		       cfg.nnode);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	rc = rt_router_init(&rt, &cfg, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "lbfo-router: %s\n", err);
	else
		rc = rt_router_run(&rt);
	rt_router_free(&rt);
	return rc < 0 ? 1 : 0;
}
