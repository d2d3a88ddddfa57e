/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policies (path selectors). One file per policy in src/core/policy_*.c,
 * each exporting one `const struct lbfo_policy_ops`, all listed in the
 * table in src/core/policy.c. Like the kernel's dm path selectors: a small
 * set of hooks around an opaque state.
 *
 * Every hook is called by the team with the team serialised (one thread);
 * none may block, read a clock or allocate except create().
 */
#ifndef LBFO_POLICY_H
#define LBFO_POLICY_H

#include "lbfo/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A parameter a policy accepts: key, default (as text), unit and help. */
struct lbfo_param_desc {
	const char *key;
	const char *def;
	const char *help;
};

struct lbfo_policy_ops {
	const char *name;
	const char *summary;
	/* Accepted parameters, terminated by { NULL }. Unknown keys are
	 * refused by the team before create() is called. */
	const struct lbfo_param_desc *params;
	/* True for a policy that is failover-only mode by definition. */
	bool failover_only;

	/* Parse parameters and allocate state into *priv. Called with the
	 * members the team has now (possibly none): per-member state is
	 * sized for t->cap members and grown by grow(). Return 0, or -1 with
	 * a message in err that names the key at fault. */
	int (*create)(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		      void **priv, char *err, size_t errlen);
	void (*destroy)(void *priv);
	/* Optional; required of a policy with per-member state. The team is
	 * about to grow its members' array to cap (cap > every earlier cap;
	 * t->n members exist): grow per-member state to cap entries, the new
	 * ones zero. The only hook besides create() that may allocate. Return
	 * 0, or -1 when out of memory (the member is then not added). */
	int (*grow)(struct lbfo_team *t, void *priv, int cap);

	/* Pick a member among the ACTIVE ones (at least one exists) for a
	 * command of `bytes` in direction `dir`. O(members), no allocation.
	 * Return a member index. */
	int (*select)(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		      uint64_t bytes, uint64_t now);

	/* Optional. A command started / completed on member m. */
	void (*on_start)(struct lbfo_team *t, void *priv, int m,
			 enum lbfo_dir dir, uint64_t bytes, uint64_t now);
	void (*on_complete)(struct lbfo_team *t, void *priv, int m,
			    enum lbfo_dir dir, uint64_t bytes,
			    uint64_t latency_ns, uint64_t now);
	/* Optional. Called from lbfo_team_tick(). */
	void (*on_tick)(struct lbfo_team *t, void *priv, uint64_t now);
	/* Optional. The set of usable members changed (m changed state, or
	 * -1 for a policy switch / share change). Shares have already been
	 * renormalised from the configured ones when this is called. */
	void (*on_member_change)(struct lbfo_team *t, void *priv, int m,
				 uint64_t now);
};

/* The table of built-in policies, in a fixed order. */
const struct lbfo_policy_ops *const *lbfo_policy_table(size_t *n);
const struct lbfo_policy_ops *lbfo_policy_find(const char *name);
/* The default when none is named: needs no tuning and does well on
 * unequal paths (see docs/policies.md). */
#define LBFO_DEFAULT_POLICY "service-time"

/*
 * Parameter helpers for create(). Each looks `key` up in kv; when absent
 * it uses the descriptor's default. Numbers are parsed strictly (no
 * trailing junk, in range). On error they write
 *   "<policy>: invalid value '<v>' for '<key>': <why>"
 * into err and return -1.
 */
const char *lbfo_kv_get(const struct lbfo_kv *kv, size_t nkv, const char *key);
int lbfo_param_u64(const char *policy, const struct lbfo_kv *kv, size_t nkv,
		   const char *key, uint64_t def, uint64_t min, uint64_t max,
		   uint64_t *out, char *err, size_t errlen);
int lbfo_param_double(const char *policy, const struct lbfo_kv *kv, size_t nkv,
		      const char *key, double def, double min, double max,
		      double *out, char *err, size_t errlen);
/* Refuse keys not in the descriptor list:
 *   "<policy>: unknown parameter '<key>' (known: a, b, c)". */
int lbfo_param_check_keys(const struct lbfo_policy_ops *ops,
			  const struct lbfo_kv *kv, size_t nkv, char *err,
			  size_t errlen);

/*
 * Helpers policies share.
 */
/* Tie-break between two candidate members a and b: true when a should
 * win, i.e. a was picked less recently (never-picked first), then lower
 * index. Gives round-robin fairness among equals. */
bool lbfo_tie_prefer(const struct lbfo_team *t, int a, int b);
/* Snapshot interval accounting for every member: fills interval_bytes
 * (DataPathBytes: adapter bytes when the member has an adapter, else its
 * own completed bytes), interval_own_bytes and interval_busy_ns since the
 * previous call, and starts a new interval. */
void lbfo_team_sample_interval(struct lbfo_team *t, uint64_t now);
/* A periodic timer for on_tick: returns true once per period, after
 * sampling the interval (lbfo_team_sample_interval); the first call only
 * starts the first interval and returns false. Zero-initialise. */
struct lbfo_period {
	uint64_t last_ns;
	bool started;
};
bool lbfo_period_due(struct lbfo_team *t, struct lbfo_period *p, uint64_t now,
		     uint64_t period_ns);
/* Claim 15's data transfer speed: update each member's smoothed speed
 * (bytes per busy ns; 0 = not measured) from the sampled interval,
 * speed = alpha * sample + (1 - alpha) * speed. A member that moved fewer
 * than min_bytes in the interval keeps its speed. */
void lbfo_speeds_update(const struct lbfo_team *t, double *speed, double alpha,
			uint64_t min_bytes);
/* For create() and grow(): p (an array of oldcap elements of elem bytes,
 * or NULL) reallocated to newcap elements, the new ones zero. Returns the
 * new array, or NULL (p untouched) when out of memory. */
void *lbfo_policy_array(void *p, size_t elem, int oldcap, int newcap);
/* In a policy's grow(): f (an array of oldcap entries) grown to newcap by
 * lbfo_policy_array, or return -1 from the grow() on failure. */
#define LBFO_POLICY_GROW(f, oldcap, newcap) do {				\
		void *p_ = lbfo_policy_array((f), sizeof(*(f)), (oldcap), (newcap)); \
		if (!p_)							\
			return -1;						\
		(f) = p_;							\
	} while (0)
/* A policy moved shares itself: restart FIG 4's byte epoch. */
void lbfo_team_shares_changed(struct lbfo_team *t);
/* Set member shares from per-member weights (any unit), largest
 * remainder so that the ACTIVE members' shares sum to exactly 10000.
 * Members with weight 0 get 0 unless all are 0 (then even). */
void lbfo_team_shares_from_weights(struct lbfo_team *t, enum lbfo_dir dir,
				   const double *w);

/* The built-in policies. */
extern const struct lbfo_policy_ops lbfo_policy_failover;
extern const struct lbfo_policy_ops lbfo_policy_static_share;
extern const struct lbfo_policy_ops lbfo_policy_dynamic_share;
extern const struct lbfo_policy_ops lbfo_policy_quota_rr;
extern const struct lbfo_policy_ops lbfo_policy_speed_share;
extern const struct lbfo_policy_ops lbfo_policy_round_robin;
extern const struct lbfo_policy_ops lbfo_policy_queue_depth;
extern const struct lbfo_policy_ops lbfo_policy_service_time;
extern const struct lbfo_policy_ops lbfo_policy_weighted;

/* FIG 4 selection over the ACTIVE members for `dir`, using their current
 * shares and epoch bytes. Shared by static-share, dynamic-share and
 * speed-share. */
int lbfo_fig4_select(struct lbfo_team *t, enum lbfo_dir dir);

#ifdef __cplusplus
}
#endif
#endif
