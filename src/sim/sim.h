/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-sim: a deterministic discrete-event simulator that runs the core's
 * policies (src/core) unmodified over modelled paths. Time is simulated
 * nanoseconds; nothing here reads a clock.
 *
 * Model (see docs/simulator.md):
 *  - N paths, each one pipe with a nominal bandwidth; TCP goodput is
 *    SIM_GOODPUT x nominal. Background traffic takes its rate first
 *    (capped at the goodput); the team's commands on the path get the
 *    rest, either one after another in order (sharing=fifo, the default:
 *    one TCP connection, and tgtd sends a read's Data-In PDUs to the end
 *    before the next task's) or all at once in equal parts (sharing=ps,
 *    fluid processor sharing).
 *  - Each command also pays the path's round trip: a read waits one-way
 *    latency, transfers, then waits one-way latency; a write transfers,
 *    then waits a round trip (last byte to the target, status back).
 *  - An optional per-path queue limit (commands on the wire at once, like
 *    an iSCSI session's command window): excess commands wait at the path,
 *    already started in the core (they count as outstanding there).
 *  - A failure stops the path at once: whatever is on it is stuck until
 *    the failure is detected (detect_ms later); then the core's
 *    lbfo_team_member_failed() hands the commands back and they are
 *    requeued at the front of the queue. A restore calls
 *    lbfo_team_member_restored().
 *  - Workload: closed loop with queue_depth commands, read/write mix and
 *    request size from a seeded PRNG (splitmix64).
 */
#ifndef LBFO_SIM_H
#define LBFO_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbfo/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tbf at rate R gives 0.956 x R of TCP goodput (DESIGN.md, measured). */
#define SIM_GOODPUT 0.956
/* The team's timers run every 10 ms of simulated time. */
#define SIM_TICK_NS (10 * LBFO_NS_PER_MS)
#define SIM_MAX_PARAMS 64
#define SIM_PATH_MAX 512

struct sim_path_cfg {
	char name[LBFO_NAME_MAX];
	double bandwidth_mbit;  /* nominal, Mbit/s (10^6 bit/s) */
	double latency_ms;      /* one way */
	uint32_t queue_limit;   /* commands on the wire at once; 0 = no limit */
	bool fifo;              /* sharing=fifo (default): one transfer at a time,
				 * in order; false: processor sharing */
	double read_share;      /* percent; < 0 = not set (even) */
	double write_share;
	uint32_t weight;        /* 1.. (default 1) */
	double fail_at_s;       /* < 0 = never */
	double detect_ms;       /* failure detection delay */
	double restore_at_s;    /* < 0 = never */
	double bg_mbit;         /* background traffic, Mbit/s; 0 = none */
	double bg_start_s;
	double bg_stop_s;       /* < 0 = until the end */
	int line;               /* line of its first key, for messages */
	uint32_t set_keys;      /* bitmask: keys given (duplicates refused) */
};

/* A policy parameter from a [policy NAME] section or the command line. */
struct sim_param {
	char policy[LBFO_NAME_MAX]; /* "" = every policy that accepts key */
	char key[64];
	char value[128];
	char where[SIM_PATH_MAX + 32]; /* "file:line" or "--param" */
};

struct sim_scenario {
	char file[SIM_PATH_MAX];
	char description[160];
	/* [workload] */
	uint32_t queue_depth;
	double read_pct;
	uint64_t request_size;     /* bytes */
	uint64_t request_size_max; /* > request_size: uniform in 4 KiB steps */
	double duration_s;
	uint64_t seed;
	double no_path_timeout_s;
	/* [team] */
	char policy[LBFO_NAME_MAX]; /* "" = all */
	uint32_t max_outstanding;
	enum lbfo_failback failback;
	uint64_t failback_stable_ns;
	bool adapter_counters;
	/* [path NAME] */
	struct sim_path_cfg path[LBFO_MAX_PATHS];
	int npaths;
	/* [policy NAME] */
	struct sim_param param[SIM_MAX_PARAMS];
	int nparams;
	uint32_t set_keys[4]; /* scenario, workload, team: duplicates */
};

/* Fill in the defaults (no paths). */
void sim_scenario_defaults(struct sim_scenario *sc);
/* Parse an INI file into sc (defaults first) and check it. Returns 0, or
 * -1 with a message "FILE:LINE: [SECTION]: ..." in err. */
int sim_scenario_load(struct sim_scenario *sc, const char *file, char *err,
		      size_t errlen);
/* Same from a string; `name` stands for the file name in messages. */
int sim_scenario_load_string(struct sim_scenario *sc, const char *name,
			     const char *text, char *err, size_t errlen);
/* Set one key as the INI parser does (section e.g. "path fast"). Returns
 * 0, or -1 with "[SECTION]: ..." in err. */
int sim_scenario_set(struct sim_scenario *sc, const char *section,
		     const char *key, const char *value, int line, char *err,
		     size_t errlen);
/* Cross-key checks after parsing. Returns 0 or -1 with err. */
int sim_scenario_check(const struct sim_scenario *sc, char *err, size_t errlen);
/* "ps" or "fifo" (the path key `sharing`). Returns 0 or -1 with why. */
int sim_parse_sharing(const char *v, bool *fifo, char *why, size_t whylen);
/* Add a parameter "[POLICY:]key=value" (command line). Returns 0 or -1. */
int sim_scenario_add_param(struct sim_scenario *sc, const char *arg,
			   char *err, size_t errlen);

/* One second of a run. */
struct sim_second {
	double mbps;        /* completed, MB/s (10^6 B/s) */
	double ideal_mbps;  /* available to the team */
	uint64_t bytes[LBFO_MAX_PATHS];
	double policy_share[LBFO_MAX_PATHS]; /* core's read share at the end, % */
};

struct sim_result {
	char policy[LBFO_NAME_MAX];
	int npaths;
	char path_name[LBFO_MAX_PATHS][LBFO_NAME_MAX];
	double duration_s;
	uint64_t bytes;         /* completed bytes */
	double ideal_bytes;     /* integral of available goodput */
	double mbps, ideal_mbps, fraction;
	double p50_ms, p99_ms, max_ms;
	uint64_t issued;        /* commands the client issued */
	uint64_t completed;     /* completed exactly once */
	uint64_t errors;        /* failed with EIO (no path for too long) */
	uint64_t retried;       /* times a command was handed back */
	uint64_t pending;       /* queued or in flight at the end */
	uint64_t bad_completions; /* completion the core refused: must be 0 */
	uint64_t bytes_requested; /* sum of sizes of the completed commands */
	uint64_t core_bytes;    /* completed bytes by the core's member stats */
	double max_gap_ms;      /* longest time with no completion (after the first) */
	double failover_gap_ms; /* longest such gap around a failure; 0 if none */
	uint64_t path_bytes[LBFO_MAX_PATHS];
	uint64_t events;
	int nsec;
	struct sim_second *sec;
};

/* Run one policy over the scenario. kv: policy parameters (may be NULL).
 * Returns 0, or -1 with err (e.g. the policy refused a parameter). */
int sim_run(const struct sim_scenario *sc, const char *policy,
	    const struct lbfo_kv *kv, size_t nkv, struct sim_result *r,
	    char *err, size_t errlen);
void sim_result_free(struct sim_result *r);

/* Build the kv list for `policy` from the scenario's parameters: unscoped
 * ones only if the policy accepts the key. Returns the count. */
size_t sim_policy_params(const struct sim_scenario *sc, const char *policy,
			 struct lbfo_kv *kv, size_t max);

#ifdef __cplusplus
}
#endif
#endif
