/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of lbfo-sim. Its modules, lowest first: each calls only
 * modules listed before it, never one after it (scripts/layers checks
 * that no two call each other and no circle forms):
 *
 *   queue.c            the command lists and the event heap
 *   path.c             a path's fluid model: rates, transfers, its window
 *   result.c           what a run measures: ideal goodput, latencies,
 *                      gaps, per-second samples, the final figures
 *   sim.c              the discrete-event engine (model: sim.h): set-up,
 *                      the event loop, commands from issue to completion,
 *                      failure detection, the no-path deadline
 *   scenario_params.c  policy parameters ([policy NAME] and --param)
 *   scenario.c         scenario keys: one table per section, the value
 *                      parsers, sim_scenario_set, the cross-key checks
 *   scenario_ini.c     reading a scenario file (INI, line numbers)
 *   output.c           reports: table, JSON, CSV, plot
 *   main.c             lbfo-sim: options, then the runs
 *
 * The engine (queue.c to sim.c) and the scenario (scenario_params.c to
 * scenario_ini.c) do not call each other; they meet in struct
 * sim_scenario and in main.c. A lower module that has something to say
 * returns it: scenario_set_param() returns what is wrong with a policy
 * parameter, and sim_scenario_set() adds the section.
 *
 * Not a public API.
 */
#ifndef LBFO_SIM_INTERNAL_H
#define LBFO_SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"

/* scenario_params.c: a key of [policy NAME], the policy named `name`. On
 * error returns -1 with what is wrong in why, without the section: the
 * caller (sim_scenario_set) says where. */
int scenario_set_param(struct sim_scenario *sc, const char *name,
		       const char *key, const char *value, int line,
		       char *why, size_t whylen);

/* --- the engine (sim.c, queue.c, path.c, result.c) ---------------------- */

#define NS_PER_S 1e9

/* --- commands ------------------------------------------------------------ */

enum phase {
	PH_IDLE = 0,   /* slot free */
	PH_QUEUED,     /* in the team queue, not started */
	PH_PATHWAIT,   /* started in the core, waiting for the path's window */
	PH_DELAY1,     /* read request travelling to the target */
	PH_XFER,       /* data on the link */
	PH_DELAY2,     /* last byte / status travelling */
};

struct scmd {
	struct lbfo_cmd lc; /* the core's view; first member */
	uint64_t bytes;
	enum lbfo_dir dir;
	uint64_t issue_ns;  /* the client issued it */
	uint64_t queued_ns; /* entered the team queue (last time) */
	uint32_t gen;       /* bumps whenever the command is handed back */
	int path;
	enum phase ph;
	double remaining;   /* bytes still to transfer */
	int xidx;           /* index in its path's xfer array */
	struct scmd *prev, *next; /* team queue or path wait list */
};

struct list {
	struct scmd *head, *tail;
	uint32_t n;
};

/* --- paths --------------------------------------------------------------- */

struct spath {
	const struct sim_path_cfg *cfg;
	double cap;        /* goodput, bytes per ns */
	double bg;         /* background demand now, bytes per ns */
	uint64_t lat_ns;   /* one way */
	bool alive;
	struct scmd **xfer; /* commands transferring */
	int nx;
	struct list wait;  /* over the queue limit */
	uint32_t onwire;   /* commands past the window (delay or transfer) */
	uint64_t last_ns;  /* fluid state valid up to here */
	uint32_t xver;     /* version of the pending transfer event */
	double wire_bytes; /* team bytes moved on the link */
	double bg_bytes;   /* background bytes moved */
	struct lbfo_adapter ad;
	uint64_t sec_bytes; /* completed this second */
};

/* --- events -------------------------------------------------------------- */

enum ev_type {
	EV_END, EV_TICK, EV_SECOND, EV_FAIL, EV_DETECT, EV_RESTORE, EV_BG,
	EV_DELAY, EV_XFER, EV_NOPATH,
};

struct ev {
	uint64_t t, seq;
	enum ev_type type;
	int a;        /* path index, or on/off for EV_BG in b */
	uint32_t b;   /* version / generation */
	struct scmd *c;
};

struct heap {
	struct ev *v;
	size_t n, cap;
	uint64_t seq;
};

/* --- the run ------------------------------------------------------------- */

struct fail_win {
	uint64_t from, to; /* [failure, detection + 1 s] */
	double gap_ns;
};

struct sim {
	const struct sim_scenario *sc;
	struct lbfo_team *t;
	struct spath p[LBFO_MAX_PATHS];
	int np;
	struct scmd *cmds;
	struct list q; /* the team's queue: waiting for a member */
	struct heap h;
	uint64_t rng;
	uint64_t now, end_ns;
	bool oom;

	/* no path */
	bool nopath;
	uint64_t nopath_since;
	uint32_t nopath_ver;
	uint64_t nopath_timeout_ns;

	/* ideal: integral of the goodput available to the team */
	double ideal_rate; /* bytes per ns */
	uint64_t ideal_last;
	double ideal_bytes, sec_ideal_mark;
	uint64_t sec_last_ns;

	/* gaps */
	bool any_completion;
	uint64_t last_completion;
	struct fail_win fw[LBFO_MAX_PATHS];
	int nfw;

	uint64_t *lat;
	size_t nlat, latcap;

	struct sim_result *r;
	int sec_cap;
};

/* queue.c: the team queue and path wait lists, the event heap */
void list_push_back(struct list *l, struct scmd *c);
void list_push_front(struct list *l, struct scmd *c);
void list_remove(struct list *l, struct scmd *c);
/* Schedule an event at t; events at the same t run in the order pushed. */
void ev_push(struct sim *s, uint64_t t, enum ev_type type, int a, uint32_t b,
	     struct scmd *c);
struct ev heap_pop(struct heap *h);

/* path.c: the fluid model of one path */
double path_team_rate(const struct spath *p);
void path_advance(struct sim *s, struct spath *p);
void path_resched(struct sim *s, struct spath *p);
void xfer_add(struct sim *s, struct spath *p, struct scmd *c);
void xfer_remove(struct spath *p, struct scmd *c);
void path_begin(struct sim *s, struct spath *p, struct scmd *c);
void on_xfer(struct sim *s, int pi, uint32_t ver);

/* result.c: what a run measures */
void ideal_update(struct sim *s);
void record_latency(struct sim *s, uint64_t ns);
void gap_update(struct sim *s, uint64_t t, bool end);
void second_sample(struct sim *s);
/* The run is over (s->now is s->end_ns): close the measurements and fill
 * in the rest of s->r. */
void result_finish(struct sim *s);

#endif
