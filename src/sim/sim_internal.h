/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of lbfo-sim. Its files and what each owns:
 *
 *   scenario.c         scenario keys: one table per section, the value
 *                      parsers, sim_scenario_set, the cross-key checks
 *   scenario_params.c  policy parameters ([policy NAME] and --param)
 *   scenario_ini.c     reading a scenario file (INI, line numbers)
 *   sim.c              the discrete-event engine (model: sim.h)
 *   output.c           reports: table, JSON, CSV, plot
 *   main.c             lbfo-sim: options, then the runs
 *
 * Not a public API.
 */
#ifndef LBFO_SIM_INTERNAL_H
#define LBFO_SIM_INTERNAL_H

#include <stddef.h>

#include "sim.h"

/* "[SECTION]: " then fmt into err. */
void scenario_errf(char *err, size_t errlen, const char *section, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A key of [policy NAME] (scenario_params.c); errors as sim_scenario_set. */
int scenario_set_param(struct sim_scenario *sc, const char *section,
		       const char *name, const char *key, const char *value,
		       int line, char *err, size_t errlen);

#endif
