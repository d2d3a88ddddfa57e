/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-sim: run lbfo's policies over a simulated scenario and compare them.
 * First the command line (parse_options, load_scenario, policy_names),
 * then the runs and the reports (run_and_report).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"
#include "output.h"
#include "sim.h"

static void usage(FILE *f)
{
	size_t n, i;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);

	fprintf(f,
"usage: lbfo-sim SCENARIO.ini [options]\n"
"\n"
"Runs lbfo's path-selection policies (src/core, unmodified) over the paths and\n"
"workload of a scenario in a deterministic discrete-event simulation (simulated\n"
"time: a run takes milliseconds of wall time) and prints, per policy: throughput\n"
"(MB/s, 10^6 bytes/s), throughput as a fraction of the ideal (the goodput the\n"
"live paths could carry, minus background traffic), p50/p99 latency (issue to\n"
"completion), I/O errors (no path for no_path_timeout_s), commands retried\n"
"(handed back by a failed path), the longest gap without a completion around a\n"
"failure, and each path's share of the bytes. See docs/simulator.md.\n"
"\n"
"options:\n"
"  -p, --policy NAME|all  policy to run (default: [team] policy in the\n"
"                         scenario, else all); 'all' runs every policy\n"
"  -P, --param [POLICY:]KEY=VALUE\n"
"                         policy parameter (repeatable; after the scenario's\n"
"                         [policy NAME] sections, so it wins). Without POLICY:\n"
"                         given to every policy run that has KEY\n"
"  -s, --seed N           override [workload] seed\n"
"  -S, --sharing fifo|ps  override every path's `sharing`: how commands on one\n"
"                         path share its goodput (fifo, the default: one after\n"
"                         another, as one TCP connection sending each command's\n"
"                         data in order; ps: all at once in equal parts)\n"
"  -j, --json             print one JSON document instead of the table\n"
"                         (includes per-second throughput and path shares)\n"
"  -c, --csv FILE         write per-second throughput and shares as CSV\n"
"                         ('-' = standard output)\n"
"  -o, --plot FILE.png    draw throughput and path shares over time (gnuplot)\n"
"  -h, --help             this help\n"
"\n"
"policies and their parameters:\n");
	for (i = 0; i < n; i++) {
		const struct lbfo_param_desc *d;

		fprintf(f, "  %-14s %s\n", tab[i]->name, tab[i]->summary);
		for (d = tab[i]->params; d && d->key; d++)
			fprintf(f, "      %s=%s  %s\n", d->key, d->def, d->help);
	}
	fprintf(f, "\nexit status: 0 on success, 1 on a run error, 2 on bad input.\n");
}

/* What the command line asks for. */
struct options {
	const char *scenario;
	const char *policy, *csv, *plot, *seed, *sharing;
	const char *params[SIM_MAX_PARAMS];
	int nparams;
	bool json;
};

/* Read argv into o. Returns -1 when there is something to run, else the
 * exit status (0 after --help, 2 after a message). */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "param", required_argument, NULL, 'P' },
		{ "seed", required_argument, NULL, 's' },
		{ "sharing", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "csv", required_argument, NULL, 'c' },
		{ "plot", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "p:P:s:S:jc:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->policy = optarg;
			break;
		case 'P':
			if (o->nparams >= SIM_MAX_PARAMS) {
				fprintf(stderr, "lbfo-sim: too many --param (at most %d)\n",
					SIM_MAX_PARAMS);
				return 2;
			}
			o->params[o->nparams++] = optarg;
			break;
		case 's':
			o->seed = optarg;
			break;
		case 'S':
			o->sharing = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'c':
			o->csv = optarg;
			break;
		case 'o':
			o->plot = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'lbfo-sim --help'.\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "lbfo-sim: %s\nTry 'lbfo-sim --help'.\n",
			optind >= argc ? "missing SCENARIO file" : "exactly one SCENARIO file expected");
		return 2;
	}
	o->scenario = argv[optind];
	return -1;
}

/* Load the scenario, then apply --seed, --sharing and --param to it.
 * Returns 0, or -1 after a message. */
static int load_scenario(const struct options *o, struct sim_scenario *sc)
{
	char err[1024];
	int i;

	if (sim_scenario_load(sc, o->scenario, err, sizeof(err)) < 0)
		goto bad;
	if (o->seed) {
		char *end;

		errno = 0;
		sc->seed = strtoull(o->seed, &end, 10);
		if (errno || end == o->seed || *end || o->seed[0] < '0' || o->seed[0] > '9') {
			fprintf(stderr, "lbfo-sim: --seed '%s': not a whole number\n", o->seed);
			return -1;
		}
	}
	if (o->sharing) {
		bool fifo;

		if (sim_parse_sharing(o->sharing, &fifo, err, sizeof(err)) < 0) {
			fprintf(stderr, "lbfo-sim: --sharing '%s': %s\n", o->sharing, err);
			return -1;
		}
		for (i = 0; i < sc->npaths; i++)
			sc->path[i].fifo = fifo;
	}
	for (i = 0; i < o->nparams; i++)
		if (sim_scenario_add_param(sc, o->params[i], err, sizeof(err)) < 0)
			goto bad;
	return 0;
bad:
	fprintf(stderr, "lbfo-sim: %s\n", err);
	return -1;
}

/* The policies to run, into names (at most max): --policy, else the
 * scenario's [team] policy, else all. Returns how many, or -1 after a
 * message. */
static int policy_names(const char *policy, const struct sim_scenario *sc,
			const char **names, int max)
{
	size_t n, k;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);
	int nnames = 0;

	if (!policy)
		policy = sc->policy[0] ? sc->policy : "all";
	if (!strcmp(policy, "all")) {
		for (k = 0; k < n && k < (size_t)max; k++)
			names[nnames++] = tab[k]->name;
		return nnames;
	}
	if (!lbfo_policy_find(policy)) {
		fprintf(stderr, "lbfo-sim: unknown policy '%s' (known: all", policy);
		for (k = 0; k < n; k++)
			fprintf(stderr, ", %s", tab[k]->name);
		fprintf(stderr, ")\n");
		return -1;
	}
	names[nnames++] = policy;
	return nnames;
}

/* Run each policy over the scenario, then print and write the reports.
 * Returns the exit status: 0, or 1 when a run or a report failed. */
static int run_and_report(const struct options *o, const struct sim_scenario *sc,
			  const char *const *names, int nnames)
{
	struct sim_result res[32];
	char err[1024];
	int nres = 0, i, rc = 0;

	for (i = 0; i < nnames; i++) {
		struct lbfo_kv kv[SIM_MAX_PARAMS];
		size_t nkv = sim_policy_params(sc, names[i], kv, SIM_MAX_PARAMS);

		if (sim_run(sc, names[i], kv, nkv, &res[nres], err, sizeof(err)) < 0) {
			fprintf(stderr, "lbfo-sim: %s: policy %s: %s\n", sc->file, names[i], err);
			rc = 1;
			goto out;
		}
		nres++;
	}

	if (o->json) {
		sim_print_json(stdout, sc, res, nres);
	} else {
		sim_print_header(stdout, sc);
		sim_print_table(stdout, sc, res, nres);
	}
	if (o->csv && sim_write_csv(o->csv, res, nres, err, sizeof(err)) < 0) {
		fprintf(stderr, "lbfo-sim: %s\n", err);
		rc = 1;
	}
	if (o->plot && sim_plot(o->plot, sc, res, nres, err, sizeof(err)) < 0) {
		fprintf(stderr, "lbfo-sim: %s\n", err);
		rc = 1;
	}
out:
	for (i = 0; i < nres; i++)
		sim_result_free(&res[i]);
	fflush(stdout);
	return rc;
}

int main(int argc, char **argv)
{
	struct sim_scenario *sc = calloc(1, sizeof(*sc));
	const char *names[32];
	struct options o;
	int nnames, rc;

	if (!sc) {
		fprintf(stderr, "lbfo-sim: out of memory\n");
		return 1;
	}
	memset(&o, 0, sizeof(o));
	rc = parse_options(argc, argv, &o);
	if (rc < 0) {
		nnames = load_scenario(&o, sc) < 0 ? -1 :
			 policy_names(o.policy, sc, names, 32);
		rc = nnames < 0 ? 2 : run_and_report(&o, sc, names, nnames);
	}
	free(sc);
	return rc;
}
