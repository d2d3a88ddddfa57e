/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-sim: run lbfo's policies over a simulated scenario and compare them.
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

int main(int argc, char **argv)
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
	struct sim_scenario *sc = calloc(1, sizeof(*sc));
	struct sim_result res[32];
	const char *policy = NULL, *csv = NULL, *plot = NULL, *seed = NULL;
	const char *sharing = NULL;
	const char *params[SIM_MAX_PARAMS];
	const char *names[32];
	char err[1024];
	bool json = false;
	int nparams = 0, nnames = 0, nres = 0, c, i, rc = 0;

	if (!sc) {
		fprintf(stderr, "lbfo-sim: out of memory\n");
		return 1;
	}
	while ((c = getopt_long(argc, argv, "p:P:s:S:jc:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy = optarg;
			break;
		case 'P':
			if (nparams >= SIM_MAX_PARAMS) {
				fprintf(stderr, "lbfo-sim: too many --param (at most %d)\n",
					SIM_MAX_PARAMS);
				free(sc);
				return 2;
			}
			params[nparams++] = optarg;
			break;
		case 's':
			seed = optarg;
			break;
		case 'S':
			sharing = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'c':
			csv = optarg;
			break;
		case 'o':
			plot = optarg;
			break;
		case 'h':
			usage(stdout);
			free(sc);
			return 0;
		default:
			fprintf(stderr, "Try 'lbfo-sim --help'.\n");
			free(sc);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "lbfo-sim: %s\nTry 'lbfo-sim --help'.\n",
			optind >= argc ? "missing SCENARIO file" : "exactly one SCENARIO file expected");
		free(sc);
		return 2;
	}
	if (sim_scenario_load(sc, argv[optind], err, sizeof(err)) < 0)
		goto bad;
	if (seed) {
		char *end;

		errno = 0;
		sc->seed = strtoull(seed, &end, 10);
		if (errno || end == seed || *end || seed[0] < '0' || seed[0] > '9') {
			fprintf(stderr, "lbfo-sim: --seed '%s': not a whole number\n", seed);
			free(sc);
			return 2;
		}
	}
	if (sharing) {
		bool fifo;

		if (sim_parse_sharing(sharing, &fifo, err, sizeof(err)) < 0) {
			fprintf(stderr, "lbfo-sim: --sharing '%s': %s\n", sharing, err);
			free(sc);
			return 2;
		}
		for (i = 0; i < sc->npaths; i++)
			sc->path[i].fifo = fifo;
	}
	for (i = 0; i < nparams; i++)
		if (sim_scenario_add_param(sc, params[i], err, sizeof(err)) < 0)
			goto bad;

	if (!policy)
		policy = sc->policy[0] ? sc->policy : "all";
	if (!strcmp(policy, "all")) {
		size_t n, k;
		const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);

		for (k = 0; k < n && k < 32; k++)
			names[nnames++] = tab[k]->name;
	} else {
		if (!lbfo_policy_find(policy)) {
			size_t n, k;
			const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);

			fprintf(stderr, "lbfo-sim: unknown policy '%s' (known: all", policy);
			for (k = 0; k < n; k++)
				fprintf(stderr, ", %s", tab[k]->name);
			fprintf(stderr, ")\n");
			free(sc);
			return 2;
		}
		names[nnames++] = policy;
	}

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

	if (json) {
		sim_print_json(stdout, sc, res, nres);
	} else {
		sim_print_header(stdout, sc);
		sim_print_table(stdout, sc, res, nres);
	}
	if (csv && sim_write_csv(csv, res, nres, err, sizeof(err)) < 0) {
		fprintf(stderr, "lbfo-sim: %s\n", err);
		rc = 1;
	}
	if (plot && sim_plot(plot, sc, res, nres, err, sizeof(err)) < 0) {
		fprintf(stderr, "lbfo-sim: %s\n", err);
		rc = 1;
	}
out:
	for (i = 0; i < nres; i++)
		sim_result_free(&res[i]);
	free(sc);
	fflush(stdout);
	return rc;
bad:
	fprintf(stderr, "lbfo-sim: %s\n", err);
	free(sc);
	return 2;
}
