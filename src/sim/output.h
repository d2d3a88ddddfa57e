/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lbfo-sim's reports: human table, JSON, CSV and a gnuplot PNG. */
#ifndef LBFO_SIM_OUTPUT_H
#define LBFO_SIM_OUTPUT_H

#include <stdio.h>

#include "sim.h"

void sim_print_header(FILE *f, const struct sim_scenario *sc);
void sim_print_table(FILE *f, const struct sim_scenario *sc,
		     const struct sim_result *r, int n);
void sim_print_json(FILE *f, const struct sim_scenario *sc,
		    const struct sim_result *r, int n);
int sim_write_csv(const char *file, const struct sim_result *r, int n,
		  char *err, size_t errlen);
int sim_plot(const char *png, const struct sim_scenario *sc,
	     const struct sim_result *r, int n, char *err, size_t errlen);

#endif
