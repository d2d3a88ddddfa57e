/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-sim's reports. MB is 10^6 bytes; Mbit is 10^6 bits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "output.h"

static void size_str(char *buf, size_t len, uint64_t b)
{
	if (b >= 1048576 && b % 1048576 == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(b / 1048576));
	else if (b >= 1024 && b % 1024 == 0)
		snprintf(buf, len, "%llu KiB", (unsigned long long)(b / 1024));
	else
		snprintf(buf, len, "%llu B", (unsigned long long)b);
}

static double path_pct(const struct sim_result *r, int i)
{
	return r->bytes ? 100.0 * (double)r->path_bytes[i] / (double)r->bytes : 0;
}

void sim_print_header(FILE *f, const struct sim_scenario *sc)
{
	char sz[32], szmax[32];
	int i;

	fprintf(f, "scenario: %s%s%s\n", sc->file, sc->description[0] ? " - " : "",
		sc->description);
	size_str(sz, sizeof(sz), sc->request_size);
	if (sc->request_size_max > sc->request_size) {
		size_str(szmax, sizeof(szmax), sc->request_size_max);
		fprintf(f, "workload: closed loop, queue depth %u, %s..%s, %.0f%% reads, "
			"%g s, seed %llu", sc->queue_depth, sz, szmax, sc->read_pct,
			sc->duration_s, (unsigned long long)sc->seed);
	} else {
		fprintf(f, "workload: closed loop, queue depth %u, %s, %.0f%% reads, %g s, seed %llu",
			sc->queue_depth, sz, sc->read_pct, sc->duration_s,
			(unsigned long long)sc->seed);
	}
	if (sc->max_outstanding)
		fprintf(f, ", max outstanding %u", sc->max_outstanding);
	fprintf(f, "\n");
	for (i = 0; i < sc->npaths; i++) {
		const struct sim_path_cfg *p = &sc->path[i];

		fprintf(f, "path %-8s %7g Mbit/s, %g ms one way", p->name,
			p->bandwidth_mbit, p->latency_ms);
		if (p->queue_limit)
			fprintf(f, ", queue limit %u", p->queue_limit);
		if (p->bg_mbit > 0) {
			fprintf(f, ", background %g Mbit/s from %g s", p->bg_mbit, p->bg_start_s);
			if (p->bg_stop_s >= 0)
				fprintf(f, " to %g s", p->bg_stop_s);
		}
		if (p->fail_at_s >= 0) {
			fprintf(f, ", fails at %g s (detected after %g ms)", p->fail_at_s,
				p->detect_ms);
			if (p->restore_at_s >= 0)
				fprintf(f, ", restored at %g s", p->restore_at_s);
		}
		fprintf(f, "\n");
	}
}

void sim_print_table(FILE *f, const struct sim_scenario *sc,
		     const struct sim_result *r, int n)
{
	int k, i;
	bool failures = false;

	for (i = 0; i < sc->npaths; i++)
		failures |= sc->path[i].fail_at_s >= 0 && sc->path[i].fail_at_s < sc->duration_s;
	if (n > 0)
		fprintf(f, "ideal (goodput available to the team): %.1f MB/s on average\n\n",
			r[0].ideal_mbps);
	fprintf(f, "%-14s %7s %7s %8s %8s %6s %7s %8s  %s\n", "policy", "MB/s",
		"%ideal", "p50 ms", "p99 ms", "errors", "retried",
		failures ? "gap ms" : "max gap", "bytes per path");
	for (k = 0; k < n; k++) {
		const struct sim_result *x = &r[k];

		fprintf(f, "%-14s %7.1f %6.1f%% %8.1f %8.1f %6llu %7llu %8.1f ",
			x->policy, x->mbps, 100 * x->fraction, x->p50_ms, x->p99_ms,
			(unsigned long long)x->errors, (unsigned long long)x->retried,
			failures ? x->failover_gap_ms : x->max_gap_ms);
		for (i = 0; i < x->npaths; i++)
			fprintf(f, " %s %.1f%%", x->path_name[i], path_pct(x, i));
		fprintf(f, "\n");
	}
	fprintf(f, "\n%%ideal: completed bytes / bytes the live paths could carry "
		"(goodput %.3f x nominal, minus background traffic).\n", SIM_GOODPUT);
	fprintf(f, "%s\n", failures ?
		"gap ms: longest time without any completion around a failure "
		"(from the failure to 1 s after its detection)." :
		"max gap: longest time without any completion after the first one.");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void sim_print_json(FILE *f, const struct sim_scenario *sc,
		    const struct sim_result *r, int n)
{
	int k, i, j;

	fprintf(f, "{\n  \"scenario\": ");
	json_str(f, sc->file);
	fprintf(f, ",\n  \"description\": ");
	json_str(f, sc->description);
	fprintf(f, ",\n  \"workload\": {\"queue_depth\": %u, \"read_pct\": %g, "
		"\"request_size\": %llu, \"request_size_max\": %llu, \"duration_s\": %g, "
		"\"seed\": %llu, \"no_path_timeout_s\": %g},\n",
		sc->queue_depth, sc->read_pct, (unsigned long long)sc->request_size,
		(unsigned long long)sc->request_size_max, sc->duration_s,
		(unsigned long long)sc->seed, sc->no_path_timeout_s);
	fprintf(f, "  \"paths\": [");
	for (i = 0; i < sc->npaths; i++) {
		const struct sim_path_cfg *p = &sc->path[i];

		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_str(f, p->name);
		fprintf(f, ", \"bandwidth_mbit\": %g, \"latency_ms\": %g, \"queue_limit\": %u, "
			"\"weight\": %u, \"fail_at_s\": %g, \"detect_ms\": %g, "
			"\"restore_at_s\": %g, \"bg_mbit\": %g, \"bg_start_s\": %g, "
			"\"bg_stop_s\": %g}", p->bandwidth_mbit, p->latency_ms,
			p->queue_limit, p->weight, p->fail_at_s, p->detect_ms,
			p->restore_at_s, p->bg_mbit, p->bg_start_s, p->bg_stop_s);
	}
	fprintf(f, "\n  ],\n  \"results\": [");
	for (k = 0; k < n; k++) {
		const struct sim_result *x = &r[k];

		fprintf(f, "%s\n    {\"policy\": ", k ? "," : "");
		json_str(f, x->policy);
		fprintf(f, ", \"throughput_MBps\": %.3f, \"ideal_MBps\": %.3f, "
			"\"fraction_of_ideal\": %.4f,\n", x->mbps, x->ideal_mbps, x->fraction);
		fprintf(f, "     \"latency_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f},\n",
			x->p50_ms, x->p99_ms, x->max_ms);
		fprintf(f, "     \"commands\": {\"issued\": %llu, \"completed\": %llu, "
			"\"errors\": %llu, \"retried\": %llu, \"pending_at_end\": %llu},\n",
			(unsigned long long)x->issued, (unsigned long long)x->completed,
			(unsigned long long)x->errors, (unsigned long long)x->retried,
			(unsigned long long)x->pending);
		fprintf(f, "     \"bytes\": %llu, \"max_gap_ms\": %.3f, \"failover_gap_ms\": %.3f,\n",
			(unsigned long long)x->bytes, x->max_gap_ms, x->failover_gap_ms);
		fprintf(f, "     \"path_bytes_share\": {");
		for (i = 0; i < x->npaths; i++) {
			fprintf(f, "%s", i ? ", " : "");
			json_str(f, x->path_name[i]);
			fprintf(f, ": %.4f", path_pct(x, i) / 100);
		}
		fprintf(f, "},\n     \"per_second\": [");
		for (j = 0; j < x->nsec; j++) {
			const struct sim_second *s = &x->sec[j];
			uint64_t tot = 0;

			for (i = 0; i < x->npaths; i++)
				tot += s->bytes[i];
			fprintf(f, "%s\n       {\"t\": %d, \"MBps\": %.3f, \"ideal_MBps\": %.3f, "
				"\"share\": [", j ? "," : "", j + 1, s->mbps, s->ideal_mbps);
			for (i = 0; i < x->npaths; i++)
				fprintf(f, "%s%.4f", i ? ", " : "",
					tot ? (double)s->bytes[i] / (double)tot : 0);
			fprintf(f, "], \"policy_read_share\": [");
			for (i = 0; i < x->npaths; i++)
				fprintf(f, "%s%.4f", i ? ", " : "", s->policy_share[i] / 100);
			fprintf(f, "]}");
		}
		fprintf(f, "\n     ]}");
	}
	fprintf(f, "\n  ]\n}\n");
}

static void csv_rows(FILE *f, const struct sim_result *x)
{
	int i, j;

	for (j = 0; j < x->nsec; j++) {
		const struct sim_second *s = &x->sec[j];
		uint64_t tot = 0;

		for (i = 0; i < x->npaths; i++)
			tot += s->bytes[i];
		fprintf(f, "%s,%d,%.3f,%.3f", x->policy, j + 1, s->mbps, s->ideal_mbps);
		for (i = 0; i < x->npaths; i++)
			fprintf(f, ",%.2f", tot ? 100.0 * (double)s->bytes[i] / (double)tot : 0);
		for (i = 0; i < x->npaths; i++)
			fprintf(f, ",%.2f", s->policy_share[i]);
		fprintf(f, "\n");
	}
}

int sim_write_csv(const char *file, const struct sim_result *r, int n,
		  char *err, size_t errlen)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "w") : stdout;
	int k, i;

	if (!f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	fprintf(f, "policy,second,MBps,ideal_MBps");
	for (i = 0; n > 0 && i < r[0].npaths; i++)
		fprintf(f, ",share_%s_pct", r[0].path_name[i]);
	for (i = 0; n > 0 && i < r[0].npaths; i++)
		fprintf(f, ",policy_read_share_%s_pct", r[0].path_name[i]);
	fprintf(f, "\n");
	for (k = 0; k < n; k++)
		csv_rows(f, &r[k]);
	if (f == stdout) {
		fflush(f);
		return 0;
	}
	if (ferror(f) | fclose(f)) {
		snprintf(err, errlen, "%s: write error", file);
		return -1;
	}
	return 0;
}

/* gnuplot strings in single quotes: double any quote. */
static void gp_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

int sim_plot(const char *png, const struct sim_scenario *sc,
	     const struct sim_result *r, int n, char *err, size_t errlen)
{
	FILE *g;
	int k, i, j, st, rows = n, height = 260 * n + 60;
	double ymax = 0;

	for (k = 0; k < n; k++)
		for (j = 0; j < r[k].nsec; j++) {
			if (r[k].sec[j].mbps > ymax)
				ymax = r[k].sec[j].mbps;
			if (r[k].sec[j].ideal_mbps > ymax)
				ymax = r[k].sec[j].ideal_mbps;
		}
	ymax = ymax > 0 ? ymax * 1.15 : 1;
	/* Check the file can be written before gnuplot tries. */
	g = fopen(png, "w");
	if (!g) {
		snprintf(err, errlen, "%s: %s", png, strerror(errno));
		return -1;
	}
	fclose(g);
	fflush(stdout);
	g = popen("gnuplot", "w");
	if (!g) {
		snprintf(err, errlen, "cannot run gnuplot: %s", strerror(errno));
		return -1;
	}
	fprintf(g, "set terminal pngcairo size 900,%d font 'sans,9'\n", height);
	fprintf(g, "set output ");
	gp_str(g, png);
	fprintf(g, "\n");
	for (k = 0; k < n; k++) {
		fprintf(g, "$d%d << EOD\n", k);
		for (j = 0; j < r[k].nsec; j++) {
			const struct sim_second *s = &r[k].sec[j];
			uint64_t tot = 0;

			for (i = 0; i < r[k].npaths; i++)
				tot += s->bytes[i];
			/* the value covers the second that ends at j + 1 */
			fprintf(g, "%g %g %g", j + 0.5, s->mbps, s->ideal_mbps);
			for (i = 0; i < r[k].npaths; i++)
				fprintf(g, " %g", tot ? 100.0 * (double)s->bytes[i] / (double)tot : 0);
			fprintf(g, "\n");
		}
		fprintf(g, "EOD\n");
	}
	fprintf(g, "set multiplot layout %d,1 title ", rows);
	gp_str(g, sc->file);
	fprintf(g, "\nset grid\nset key outside right top vertical\n"
		"set xlabel 'time (s)'\nset ylabel 'MB/s'\nset y2label 'share of bytes (%%)'\n"
		"set ytics nomirror\nset y2tics 0,25,100\nset y2range [0:100]\n"
		"set yrange [0:%g]\nset xrange [0:%g]\n", ymax, sc->duration_s);
	for (k = 0; k < n; k++) {
		fprintf(g, "set title ");
		gp_str(g, r[k].policy);
		fprintf(g, "\nplot $d%d using 1:2 with linespoints lw 2 pt 7 ps 0.5 "
			"title 'MB/s', $d%d using 1:3 with lines dt 2 lw 2 title 'ideal MB/s'",
			k, k);
		for (i = 0; i < r[k].npaths; i++) {
			fprintf(g, ", $d%d using 1:%d axes x1y2 with linespoints lw 1 pt 6 ps 0.4 title ", k, 4 + i);
			{
				char t[LBFO_NAME_MAX + 16];

				snprintf(t, sizeof(t), "%s %%", r[k].path_name[i]);
				gp_str(g, t);
			}
		}
		fprintf(g, "\n");
	}
	fprintf(g, "unset multiplot\nset output\n");
	st = pclose(g);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "gnuplot failed (status %d) writing %s", st, png);
		return -1;
	}
	return 0;
}
