/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo core: a team of members (data paths) to one logical unit, their
 * states, and the policy that picks the member for each command.
 *
 * This layer is pure: no I/O, no threads, no clock reads, no allocation on
 * the per-command path. Time is passed in as nanoseconds from any monotonic
 * origin. The simulator, the unit tests and the daemons all drive it the
 * same way:
 *
 *   m = lbfo_team_select(t, dir, bytes, now);      pick a member (or < 0)
 *   lbfo_team_start(t, &cmd, m, dir, bytes, now);  the command is in flight
 *   ...
 *   lbfo_team_complete(t, &cmd, now);              it finished on its member
 *
 *   lbfo_team_member_failed(t, m, suggested, now, &retry);   claims 1-3, 7-9
 *   lbfo_team_member_restored(t, m, suggested, now);         claims 4, 10
 *   lbfo_team_tick(t, now);                                  timers (FIG 5)
 *
 * A team is not thread-safe; its owner serialises calls (one event loop).
 */
#ifndef LBFO_CORE_H
#define LBFO_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Members of one team: a router service's nodes. A team's arrays (and its
 * policy's) are sized by the members it has, not by this. */
#define LBFO_MAX_MEMBERS 256
/* Paths of one multipath LU (src/mpio, src/san, lbfo-sim): an LU embeds
 * per-path state, so its limit stays small and apart from the team's. */
#define LBFO_MAX_PATHS 16
/* Largest member weight (lbfo_team_set_weight, config files). */
#define LBFO_WEIGHT_MAX 1000
#define LBFO_NAME_MAX 32
#define LBFO_ERR_MAX 256

/* Shares are kept in basis points (1/100 of a percent) so that the
 * shares of the usable members sum to exactly 10000 (100 %). */
#define LBFO_SHARE_FULL 10000u

#define LBFO_NS_PER_SEC 1000000000ull
#define LBFO_NS_PER_MS 1000000ull

/* Return codes of lbfo_team_select() (a member index is >= 0). */
#define LBFO_SELECT_NO_PATH (-1) /* no member can carry I/O now */
#define LBFO_SELECT_LU_FULL (-2) /* the LU's max outstanding commands reached */

enum lbfo_dir { LBFO_READ = 0, LBFO_WRITE = 1, LBFO_DIR__MAX };

/*
 * Member states. Exactly one at a time.
 */
enum lbfo_member_state {
	/* Healthy and eligible to carry commands under the policy. */
	LBFO_MS_ACTIVE = 0,
	/* Healthy, logged in and kept alive, but not chosen: a secondary in
	 * failover-only mode (001 [0045]). It takes over when the current
	 * member fails. */
	LBFO_MS_STANDBY,
	/* Failed: the path layer reported it dead. Never selected. Its
	 * in-flight commands were handed back for retry. */
	LBFO_MS_FAILED,
	/* Restored by the path layer, waiting for the failback condition
	 * (immediate, N seconds stable, or an operator). Not selected while
	 * another member is ACTIVE or STANDBY; used as a last resort rather
	 * than failing I/O when it is the only live member. */
	LBFO_MS_PROBING,
	/* Drained by an operator: carries no new commands; the ones in flight
	 * complete normally. */
	LBFO_MS_DRAINING,
	LBFO_MS__MAX
};

/* Role by discovery order (claim 5): the first member is primary. */
enum lbfo_role { LBFO_ROLE_PRIMARY = 0, LBFO_ROLE_SECONDARY, LBFO_ROLE__MAX };

/* When a restored member carries I/O again. */
enum lbfo_failback {
	LBFO_FAILBACK_IMMEDIATE = 0, /* at once */
	LBFO_FAILBACK_STABLE,        /* after failback_stable_ns without failing */
	LBFO_FAILBACK_MANUAL,        /* only when an operator reinstates it */
	LBFO_FAILBACK__MAX
};

/* Team mode (001 [0042], [0047]). Derived, never set directly: a failover
 * policy, or one member holding 100 % of a share, is failover-only mode. */
enum lbfo_mode { LBFO_MODE_BALANCE = 0, LBFO_MODE_FAILOVER, LBFO_MODE__MAX };

const char *lbfo_member_state_name(enum lbfo_member_state s);
const char *lbfo_role_name(enum lbfo_role r);
const char *lbfo_failback_name(enum lbfo_failback f);
const char *lbfo_mode_name(enum lbfo_mode m);
const char *lbfo_dir_name(enum lbfo_dir d);
/* Parse "immediate", "manual", "stable" (stable after
 * LBFO_FAILBACK_STABLE_DEFAULT_S) or a number of seconds N (stable after
 * N s; 0 = immediate). Returns 0, or -1 with *err set. */
#define LBFO_FAILBACK_STABLE_DEFAULT_S 10u
int lbfo_failback_parse(const char *s, enum lbfo_failback *fb,
			uint64_t *stable_ns, const char **err);

/*
 * A command in flight. The caller embeds it in its own request; the core
 * links it into the member's in-flight list without allocating.
 */
enum lbfo_cmd_state {
	LBFO_CMD_IDLE = 0,     /* not started, or completed */
	LBFO_CMD_INFLIGHT,     /* started on cmd->member */
	LBFO_CMD_RETURNED,     /* handed back for retry after a member failed */
};

struct lbfo_cmd {
	struct lbfo_cmd *prev, *next; /* member in-flight list */
	struct lbfo_cmd *retry_next;  /* chain returned by member_failed */
	uint64_t start_ns;
	uint64_t bytes;
	int member;
	uint8_t dir;
	uint8_t state; /* enum lbfo_cmd_state */
	uint16_t retries; /* times handed back */
};

/*
 * Traffic accounting of one local adapter (interface), shared by every
 * member of every team whose path leaves through it. Dynamic-share reads
 * DataPathBytes from here so that other teams' traffic counts (001 [0037]),
 * and, when the owner feeds the interface's own counters, foreign traffic
 * too. Zero-initialise; no allocation.
 */
struct lbfo_adapter {
	char name[LBFO_NAME_MAX];
	uint64_t accounted_bytes; /* bytes of all lbfo teams through it */
	uint64_t if_bytes;        /* interface counter (rx+tx), if fed */
	bool if_fed;              /* if_bytes is authoritative */
};
void lbfo_adapter_init(struct lbfo_adapter *a, const char *name);
/* Feed the interface's own byte counter (e.g. rx_bytes + tx_bytes). */
void lbfo_adapter_set_if_bytes(struct lbfo_adapter *a, uint64_t bytes);
/* Bytes that left through the adapter, by whatever counter is best. */
uint64_t lbfo_adapter_bytes(const struct lbfo_adapter *a);

struct lbfo_member_stats {
	uint64_t bytes[LBFO_DIR__MAX];   /* completed bytes */
	uint64_t cmds[LBFO_DIR__MAX];    /* completed commands */
	uint64_t dispatched_bytes;       /* bytes started (for share tracking) */
	uint64_t returned;               /* commands handed back on failure */
	uint64_t failures;               /* times it failed */
	uint64_t busy_ns;                /* time with >= 1 command in flight */
	uint64_t latency_ns_sum;         /* sum of completion latencies */
};

struct lbfo_member {
	char name[LBFO_NAME_MAX];
	int index;
	enum lbfo_member_state state;
	enum lbfo_role role;
	int order; /* discovery order; primary = 0 */

	/* Configured shares (basis points, as given by the user; 0 = "not
	 * set", spread evenly). The effective shares below are these
	 * renormalised over the usable members, then moved by policies. */
	uint32_t cfg_share[LBFO_DIR__MAX];
	uint32_t share[LBFO_DIR__MAX];

	/* Relative weight for weighted / service-time (default 1). */
	uint32_t weight;

	uint32_t outstanding;          /* commands in flight */
	uint64_t outstanding_bytes;    /* bytes in flight */
	struct lbfo_cmd *inflight;     /* list head */

	struct lbfo_member_stats st;

	/* Share tracking for static-share (FIG 4): bytes dispatched per
	 * direction since the shares last changed (the epoch). */
	uint64_t epoch_bytes[LBFO_DIR__MAX];

	/* Interval accounting for dynamic policies (DataPathBytes). */
	struct lbfo_adapter *adapter;  /* optional, shared */
	uint64_t adapter_mark;         /* lbfo_adapter_bytes() at last tick */
	uint64_t own_mark;             /* completed bytes at last tick */
	uint64_t interval_bytes;       /* DataPathBytes of the last interval */
	uint64_t interval_own_bytes;   /* this team's part of it */
	uint64_t interval_busy_ns;     /* busy time in the last interval */
	uint64_t busy_mark;            /* st.busy_ns at last sample */
	uint64_t last_pick;            /* t->select_calls when last chosen */

	uint64_t busy_since_ns;        /* when outstanding went 0 -> 1 */
	uint64_t state_since_ns;       /* last state change */
	uint64_t restored_ns;          /* last restore event */
	int restore_suggested;         /* member named by the restore, or -1 */
};

/*
 * A set of members by index, one bit each (LBFO_MAX_MEMBERS bits, 32
 * bytes). Zero-initialise for the empty set.
 */
struct lbfo_mask {
	uint64_t w[(LBFO_MAX_MEMBERS + 63) / 64];
};

static inline void lbfo_mask_add(struct lbfo_mask *s, int m)
{
	if (m >= 0 && m < LBFO_MAX_MEMBERS)
		s->w[m >> 6] |= 1ull << (m & 63);
}

static inline bool lbfo_mask_has(const struct lbfo_mask *s, int m)
{
	return m >= 0 && m < LBFO_MAX_MEMBERS && (s->w[m >> 6] >> (m & 63)) & 1;
}

struct lbfo_policy_ops;

struct lbfo_team_config {
	uint32_t max_outstanding;      /* per LU; 0 = unlimited */
	enum lbfo_failback failback;
	uint64_t failback_stable_ns;   /* for LBFO_FAILBACK_STABLE */
};

struct lbfo_team {
	char name[LBFO_NAME_MAX];
	struct lbfo_member *m;   /* n of them (cap allocated), at most LBFO_MAX_MEMBERS */
	int n, cap;
	struct lbfo_team_config cfg;

	const struct lbfo_policy_ops *ops;
	void *priv; /* policy state */

	/* Failover-only mode: the member currently carrying I/O. */
	int current;

	uint32_t outstanding;
	uint64_t last_tick_ns;
	uint64_t failovers;      /* member_failed events that moved I/O */
	uint64_t select_calls;
	uint64_t rotor;          /* tie-breaker state, advances on select */
	/* Members this select skips (lbfo_team_select_excluding), NULL when
	 * none; set only for the duration of that call. */
	const struct lbfo_mask *exclude;
	/* Counts by state, kept by every state change (team_recompute), so
	 * that select need not walk the members: ACTIVE ones, healthy ones
	 * (ACTIVE or STANDBY), ones configured with a 100 % share. */
	int nactive, nhealthy, nfull;
	char err[LBFO_ERR_MAX];
};

/* A parsed key=value parameter. */
struct lbfo_kv {
	const char *key;
	const char *value;
};

/*
 * Team life cycle. lbfo_team_init() allocates the policy's state, adding a
 * member grows the members' array (no allocation happens per command).
 * Returns 0, or -1 with t->err set.
 */
int lbfo_team_init(struct lbfo_team *t, const char *name,
		   const struct lbfo_team_config *cfg, const char *policy,
		   const struct lbfo_kv *kv, size_t nkv);
void lbfo_team_destroy(struct lbfo_team *t);
const char *lbfo_team_error(const struct lbfo_team *t);

/* Add a member in the ACTIVE state; the first one is primary.
 * Shares are in basis points, 0 = even. Returns its index or -1. */
int lbfo_team_add_member(struct lbfo_team *t, const char *name,
			 uint32_t read_share_bp, uint32_t write_share_bp,
			 uint64_t now);
int lbfo_team_find(const struct lbfo_team *t, const char *name);
void lbfo_member_set_adapter(struct lbfo_team *t, int m, struct lbfo_adapter *a);

/* Switch policy at run time (001 [0036]): shares are recomputed. On error
 * the old policy stays. Returns 0 or -1 with t->err. */
int lbfo_team_set_policy(struct lbfo_team *t, const char *policy,
			 const struct lbfo_kv *kv, size_t nkv, uint64_t now);
/* Set a member's relative weight (1..LBFO_WEIGHT_MAX; seed 002's
 * "allocate twice" = 2) and tell the policy, as a member change does.
 * Returns 0 or -1 with t->err. */
int lbfo_team_set_weight(struct lbfo_team *t, int m, uint32_t weight, uint64_t now);
/* Set configured shares (basis points; 0 = even) and recompute. */
int lbfo_team_set_shares(struct lbfo_team *t, int m, uint32_t read_bp,
			 uint32_t write_bp, uint64_t now);

/* Per-command path. select() never changes member state; it returns a
 * member index, LBFO_SELECT_NO_PATH or LBFO_SELECT_LU_FULL. */
int lbfo_team_select(struct lbfo_team *t, enum lbfo_dir dir, uint64_t bytes,
		     uint64_t now);
/* As lbfo_team_select(), skipping the members in `exclude` (NULL: none):
 * a caller retrying elsewhere (the router after a refused connect) asks
 * the same policy for its next-best member. The policy's own ordering is
 * kept; if it still answers an excluded member the first usable other
 * member by order is taken. */
int lbfo_team_select_excluding(struct lbfo_team *t, enum lbfo_dir dir,
			       uint64_t bytes, uint64_t now,
			       const struct lbfo_mask *exclude);
void lbfo_team_start(struct lbfo_team *t, struct lbfo_cmd *c, int m,
		     enum lbfo_dir dir, uint64_t bytes, uint64_t now);
/* Returns 0, or -1 if the command was not in flight (already handed back
 * for retry, or never started): the caller must then drop the completion,
 * because the command's copy on the new path owns the result. */
int lbfo_team_complete(struct lbfo_team *t, struct lbfo_cmd *c, uint64_t now);

/*
 * Events from the path layer.
 * member_failed: the member goes FAILED; every command in flight on it is
 * unlinked, marked RETURNED and chained through retry_next into *retry
 * (oldest first) so the caller requeues each exactly once (claims 2, 9).
 * `suggested` (claim 3, 8) names the member to carry I/O next in failover
 * mode, or -1. Returns the number of commands handed back.
 */
int lbfo_team_member_failed(struct lbfo_team *t, int m, int suggested,
			    uint64_t now, struct lbfo_cmd **retry);
/* member_restored: FAILED -> PROBING, then usable per the failback
 * setting. `suggested` (claim 4): in failover mode, the member to carry
 * new I/O once this one is back (-1: by order, primary first). */
void lbfo_team_member_restored(struct lbfo_team *t, int m, int suggested,
			       uint64_t now);
/* Operator actions. reinstate: PROBING or DRAINING -> usable now.
 * drain: no new commands. fail: as member_failed with no suggestion. */
int lbfo_team_member_reinstate(struct lbfo_team *t, int m, uint64_t now);
int lbfo_team_member_drain(struct lbfo_team *t, int m, uint64_t now);

/* Timers: failback after N seconds stable, interval accounting, and the
 * policy's own tick (dynamic-share's TimerInterval, speed-share's update
 * period). Call at least every 100 ms; cheap when nothing is due. */
void lbfo_team_tick(struct lbfo_team *t, uint64_t now);

/* Current mode (derived). */
enum lbfo_mode lbfo_team_mode(const struct lbfo_team *t);
/* True when the member may be chosen by a policy right now. */
bool lbfo_member_usable(const struct lbfo_team *t, int m);
/* Number of members in a state. */
int lbfo_team_count(const struct lbfo_team *t, enum lbfo_member_state s);
const char *lbfo_team_policy_name(const struct lbfo_team *t);

/* Shares of one direction after renormalisation: recompute from the
 * configured shares over the usable members (sum exactly 10000). Used on
 * member changes and policy switches; policies may call it. */
void lbfo_team_reset_shares(struct lbfo_team *t);

/* Feed bytes of this member's adapter into interval accounting: called by
 * the team on completion; exposed for the adapter's other users. */
void lbfo_adapter_account(struct lbfo_adapter *a, uint64_t bytes);

#ifdef __cplusplus
}
#endif
#endif
