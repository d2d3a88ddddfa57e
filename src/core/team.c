/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The team: its life cycle and policy, its members and their configuration
 * (shares, weights, adapters), and the names of the enums. The top of
 * src/core: the member state machine is in member.c, selection in
 * select.c, command accounting in account.c, share renormalisation in
 * shares.c (team_internal.h). Pure: no I/O, no clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/core.h"
#include "lbfo/policy.h"
#include "team_internal.h"

static const char *const state_names[LBFO_MS__MAX] = {
	[LBFO_MS_ACTIVE] = "active",
	[LBFO_MS_STANDBY] = "standby",
	[LBFO_MS_FAILED] = "failed",
	[LBFO_MS_PROBING] = "probing",
	[LBFO_MS_DRAINING] = "draining",
};
static const char *const role_names[LBFO_ROLE__MAX] = {
	[LBFO_ROLE_PRIMARY] = "primary",
	[LBFO_ROLE_SECONDARY] = "secondary",
};
static const char *const failback_names[LBFO_FAILBACK__MAX] = {
	[LBFO_FAILBACK_IMMEDIATE] = "immediate",
	[LBFO_FAILBACK_STABLE] = "stable",
	[LBFO_FAILBACK_MANUAL] = "manual",
};
static const char *const mode_names[LBFO_MODE__MAX] = {
	[LBFO_MODE_BALANCE] = "failover+balancing",
	[LBFO_MODE_FAILOVER] = "failover-only",
};

#define NAME_OF(tab, i) \
	((unsigned)(i) < sizeof(tab) / sizeof(tab[0]) && tab[i] ? tab[i] : "?")

const char *lbfo_member_state_name(enum lbfo_member_state s) { return NAME_OF(state_names, s); }
const char *lbfo_role_name(enum lbfo_role r) { return NAME_OF(role_names, r); }
const char *lbfo_failback_name(enum lbfo_failback f) { return NAME_OF(failback_names, f); }
const char *lbfo_mode_name(enum lbfo_mode m) { return NAME_OF(mode_names, m); }
const char *lbfo_dir_name(enum lbfo_dir d) { return d == LBFO_WRITE ? "write" : "read"; }

int lbfo_failback_parse(const char *s, enum lbfo_failback *fb,
			uint64_t *stable_ns, const char **err)
{
	char *end;
	unsigned long long secs;

	if (!s)
		goto bad;
	if (!strcmp(s, "immediate")) {
		*fb = LBFO_FAILBACK_IMMEDIATE;
		return 0;
	}
	if (!strcmp(s, "manual")) {
		*fb = LBFO_FAILBACK_MANUAL;
		return 0;
	}
	if (!strcmp(s, "stable")) {
		*fb = LBFO_FAILBACK_STABLE;
		*stable_ns = LBFO_FAILBACK_STABLE_DEFAULT_S * LBFO_NS_PER_SEC;
		return 0;
	}
	if (s[0] < '0' || s[0] > '9')
		goto bad;
	secs = strtoull(s, &end, 10);
	if (*end != '\0' || secs > 86400)
		goto bad;
	*fb = secs ? LBFO_FAILBACK_STABLE : LBFO_FAILBACK_IMMEDIATE;
	*stable_ns = secs * LBFO_NS_PER_SEC;
	return 0;
bad:
	*err = "expected 'immediate', 'manual', 'stable' or seconds of stability (0..86400)";
	return -1;
}

const char *lbfo_team_error(const struct lbfo_team *t) { return t->err; }

const char *lbfo_team_policy_name(const struct lbfo_team *t)
{
	return t->ops ? t->ops->name : "none";
}

static int make_policy(struct lbfo_team *t, const char *policy,
		       const struct lbfo_kv *kv, size_t nkv,
		       const struct lbfo_policy_ops **ops, void **priv)
{
	const struct lbfo_policy_ops *o;
	char err[LBFO_ERR_MAX] = "";

	o = lbfo_policy_find(policy ? policy : LBFO_DEFAULT_POLICY);
	if (!o) {
		size_t n, i, len = 0;
		const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);
		char known[160] = "";

		for (i = 0; i < n && len < sizeof(known); i++)
			len += (size_t)snprintf(known + len, sizeof(known) - len,
						"%s%s", i ? ", " : "", tab[i]->name);
		team_set_err(t, "unknown policy '%s' (known: %s)", policy, known);
		return -1;
	}
	if (lbfo_param_check_keys(o, kv, nkv, err, sizeof(err)) < 0 ||
	    o->create(t, kv, nkv, priv, err, sizeof(err)) < 0) {
		team_set_err(t, "%s%s", err, "");
		return -1;
	}
	*ops = o;
	return 0;
}

int lbfo_team_init(struct lbfo_team *t, const char *name,
		   const struct lbfo_team_config *cfg, const char *policy,
		   const struct lbfo_kv *kv, size_t nkv)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "team");
	if (cfg)
		t->cfg = *cfg;
	t->current = -1;
	return make_policy(t, policy, kv, nkv, &t->ops, &t->priv);
}

static void free_policy(struct lbfo_team *t)
{
	if (t->ops && t->ops->destroy)
		t->ops->destroy(t->priv);
	t->ops = NULL;
	t->priv = NULL;
}

void lbfo_team_destroy(struct lbfo_team *t)
{
	free_policy(t);
	free(t->m);
	t->m = NULL;
	t->n = t->cap = 0;
}

int lbfo_team_set_policy(struct lbfo_team *t, const char *policy,
			 const struct lbfo_kv *kv, size_t nkv, uint64_t now)
{
	const struct lbfo_policy_ops *ops;
	void *priv = NULL;

	if (make_policy(t, policy, kv, nkv, &ops, &priv) < 0)
		return -1;
	free_policy(t);
	t->ops = ops;
	t->priv = priv;
	t->err[0] = '\0';
	/* A switch recomputes the shares. */
	team_recompute(t, -1, now);
	return 0;
}

static int check_share(struct lbfo_team *t, uint32_t bp)
{
	if (bp > LBFO_SHARE_FULL) {
		snprintf(t->err, sizeof(t->err),
			 "share %u.%02u%% is over 100%%", bp / 100, bp % 100);
		return -1;
	}
	return 0;
}

int lbfo_team_add_member(struct lbfo_team *t, const char *name,
			 uint32_t read_share_bp, uint32_t write_share_bp,
			 uint64_t now)
{
	struct lbfo_member *m;

	if (t->n >= LBFO_MAX_MEMBERS) {
		snprintf(t->err, sizeof(t->err), "team '%s' is full (%d members)",
			 t->name, LBFO_MAX_MEMBERS);
		return -1;
	}
	if (lbfo_team_find(t, name) >= 0) {
		team_set_err(t, "duplicate member name '%s'%s", name, "");
		return -1;
	}
	if (check_share(t, read_share_bp) < 0 || check_share(t, write_share_bp) < 0)
		return -1;
	/* As many members as the team has, not the most it could (a host
	 * serving many LUs of two paths each keeps two). */
	if (t->n == t->cap) {
		int cap = t->cap ? 2 * t->cap : 2;
		struct lbfo_member *nm;

		if (cap > LBFO_MAX_MEMBERS)
			cap = LBFO_MAX_MEMBERS;
		/* The policy's per-member state first: grown and unused is
		 * harmless, the other way round it would be short. */
		if (t->ops && t->ops->grow && t->ops->grow(t, t->priv, cap) < 0) {
			snprintf(t->err, sizeof(t->err), "team '%s': out of memory", t->name);
			return -1;
		}
		nm = realloc(t->m, (size_t)cap * sizeof(*nm));
		if (!nm) {
			snprintf(t->err, sizeof(t->err), "team '%s': out of memory", t->name);
			return -1;
		}
		t->m = nm;
		t->cap = cap;
	}
	m = &t->m[t->n];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->index = t->n;
	m->order = t->n;
	m->role = t->n == 0 ? LBFO_ROLE_PRIMARY : LBFO_ROLE_SECONDARY;
	m->state = LBFO_MS_ACTIVE;
	m->state_since_ns = now;
	m->cfg_share[LBFO_READ] = read_share_bp;
	m->cfg_share[LBFO_WRITE] = write_share_bp;
	m->weight = 1;
	m->restore_suggested = -1;
	t->n++;
	/* A member configured with 100 % is the one failover mode uses
	 * (lbfo_team_mode). */
	if (full_share(m))
		t->current = m->index;
	team_recompute(t, m->index, now);
	return m->index;
}

int lbfo_team_find(const struct lbfo_team *t, const char *name)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->m[i].name, name))
			return i;
	return -1;
}

void lbfo_member_set_adapter(struct lbfo_team *t, int m, struct lbfo_adapter *a)
{
	t->m[m].adapter = a;
	t->m[m].adapter_mark = a ? lbfo_adapter_bytes(a) : 0;
}

int lbfo_team_set_shares(struct lbfo_team *t, int m, uint32_t read_bp,
			 uint32_t write_bp, uint64_t now)
{
	if (m < 0 || m >= t->n) {
		snprintf(t->err, sizeof(t->err), "no member %d", m);
		return -1;
	}
	if (check_share(t, read_bp) < 0 || check_share(t, write_bp) < 0)
		return -1;
	t->m[m].cfg_share[LBFO_READ] = read_bp;
	t->m[m].cfg_share[LBFO_WRITE] = write_bp;
	/* Given 100 %, a healthy member carries the I/O of failover mode
	 * from now on (lbfo_team_mode). */
	if (full_share(&t->m[m]) && healthy(&t->m[m]))
		t->current = m;
	team_recompute(t, -1, now);
	return 0;
}

int lbfo_team_set_weight(struct lbfo_team *t, int m, uint32_t weight, uint64_t now)
{
	if (m < 0 || m >= t->n) {
		snprintf(t->err, sizeof(t->err), "no member %d", m);
		return -1;
	}
	if (weight < 1 || weight > LBFO_WEIGHT_MAX) {
		snprintf(t->err, sizeof(t->err), "member %s: weight %u out of range 1..%u",
			 t->m[m].name, weight, LBFO_WEIGHT_MAX);
		return -1;
	}
	if (t->m[m].weight == weight)
		return 0;
	t->m[m].weight = weight;
	team_recompute(t, m, now);
	return 0;
}
