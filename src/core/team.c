/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The team: members, their states, failover and failback, in-flight
 * command tracking, share renormalisation. Pure: no I/O, no clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/core.h"
#include "lbfo/policy.h"

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

void lbfo_adapter_init(struct lbfo_adapter *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name ? name : "");
}

void lbfo_adapter_set_if_bytes(struct lbfo_adapter *a, uint64_t bytes)
{
	a->if_bytes = bytes;
	a->if_fed = true;
}

uint64_t lbfo_adapter_bytes(const struct lbfo_adapter *a)
{
	return a->if_fed ? a->if_bytes : a->accounted_bytes;
}

void lbfo_adapter_account(struct lbfo_adapter *a, uint64_t bytes)
{
	a->accounted_bytes += bytes;
}

static void set_err(struct lbfo_team *t, const char *fmt, const char *a,
		    const char *b)
{
	snprintf(t->err, sizeof(t->err), fmt, a, b);
}

const char *lbfo_team_error(const struct lbfo_team *t) { return t->err; }

const char *lbfo_team_policy_name(const struct lbfo_team *t)
{
	return t->ops ? t->ops->name : "none";
}

static bool healthy(const struct lbfo_member *m)
{
	return m->state == LBFO_MS_ACTIVE || m->state == LBFO_MS_STANDBY;
}

bool lbfo_member_usable(const struct lbfo_team *t, int m)
{
	return m >= 0 && m < t->n && t->m[m].state == LBFO_MS_ACTIVE &&
	       !(t->exclude & (1u << m));
}

int lbfo_team_count(const struct lbfo_team *t, enum lbfo_member_state s)
{
	int i, c = 0;

	for (i = 0; i < t->n; i++)
		c += t->m[i].state == s;
	return c;
}

/* 001 [0047]: a failover policy, a configured 100 % share, or only one
 * healthy member left means failover-only mode. */
enum lbfo_mode lbfo_team_mode(const struct lbfo_team *t)
{
	int i, nhealthy = 0;

	if (t->ops && t->ops->failover_only)
		return LBFO_MODE_FAILOVER;
	for (i = 0; i < t->n; i++) {
		if (t->m[i].cfg_share[LBFO_READ] == LBFO_SHARE_FULL ||
		    t->m[i].cfg_share[LBFO_WRITE] == LBFO_SHARE_FULL)
			return LBFO_MODE_FAILOVER;
		nhealthy += healthy(&t->m[i]);
	}
	return nhealthy == 1 ? LBFO_MODE_FAILOVER : LBFO_MODE_BALANCE;
}

static bool full_share(const struct lbfo_member *m)
{
	return m->cfg_share[LBFO_READ] == LBFO_SHARE_FULL ||
	       m->cfg_share[LBFO_WRITE] == LBFO_SHARE_FULL;
}

/* The member failover mode prefers: one with a configured 100 % share,
 * else the lowest discovery order (the primary). */
static bool preferred_over(const struct lbfo_team *t, int a, int b)
{
	bool fa = full_share(&t->m[a]);
	bool fb = full_share(&t->m[b]);

	if (fa != fb)
		return fa;
	return t->m[a].order < t->m[b].order;
}

static int best_healthy(const struct lbfo_team *t)
{
	int i, best = -1;

	for (i = 0; i < t->n; i++)
		if (healthy(&t->m[i]) && (best < 0 || preferred_over(t, i, best)))
			best = i;
	return best;
}

static void set_state(struct lbfo_member *m, enum lbfo_member_state s,
		      uint64_t now)
{
	if (m->state != s) {
		m->state = s;
		m->state_since_ns = now;
	}
}

/*
 * Start a new FIG 4 epoch after the shares moved. Zeroing the byte counts
 * would make every member "infinitely" under its share for a moment, so
 * each would get a command at once whatever its share (a slow path would
 * receive one extra command per share update). Instead each member starts
 * exactly on its new share of the bytes counted so far, capped so that
 * the counts stay small and recent.
 */
void lbfo_team_shares_changed(struct lbfo_team *t)
{
	int d, i;

	for (d = 0; d < LBFO_DIR__MAX; d++) {
		uint64_t total = 0;

		for (i = 0; i < t->n; i++)
			total += t->m[i].epoch_bytes[d];
		if (total > (1ull << 32))
			total = 1ull << 32;
		for (i = 0; i < t->n; i++)
			t->m[i].epoch_bytes[d] = t->m[i].state == LBFO_MS_ACTIVE ?
				(uint64_t)((unsigned __int128)t->m[i].share[d] * total /
					   LBFO_SHARE_FULL) : 0;
	}
}

/*
 * Largest-remainder apportionment of 10000 basis points over the ACTIVE
 * members in proportion to w[i]; inactive members get 0.
 */
void lbfo_team_shares_from_weights(struct lbfo_team *t, enum lbfo_dir dir,
				   const double *w)
{
	double sum = 0, rem[LBFO_MAX_MEMBERS];
	uint32_t given = 0;
	int i, nact = 0;

	for (i = 0; i < t->n; i++) {
		if (t->m[i].state != LBFO_MS_ACTIVE)
			continue;
		nact++;
		if (w[i] > 0)
			sum += w[i];
	}
	for (i = 0; i < t->n; i++) {
		double exact;

		t->m[i].share[dir] = 0;
		rem[i] = -1;
		if (t->m[i].state != LBFO_MS_ACTIVE)
			continue;
		if (sum > 0)
			exact = (w[i] > 0 ? w[i] : 0) * LBFO_SHARE_FULL / sum;
		else
			exact = (double)LBFO_SHARE_FULL / nact;
		t->m[i].share[dir] = (uint32_t)exact;
		rem[i] = exact - t->m[i].share[dir];
		given += t->m[i].share[dir];
	}
	/* Hand out what rounding left (fewer units than members), largest
	 * remainder first, ties to the lower index. */
	while (given < LBFO_SHARE_FULL) {
		int best = -1;

		for (i = 0; i < t->n; i++)
			if (rem[i] >= 0 && (best < 0 || rem[i] > rem[best]))
				best = i;
		if (best < 0)
			break;
		t->m[best].share[dir]++;
		rem[best] = -1;
		given++;
	}
	lbfo_team_shares_changed(t);
}

/*
 * Configured shares -> effective shares. A configured 0 means "not set":
 * the members left unset split what the set ones leave of 100 % evenly
 * (all unset: even shares; set ones summing to 100 % or more: unset ones
 * get 0). Then everything is renormalised over the ACTIVE members.
 */
void lbfo_team_reset_shares(struct lbfo_team *t)
{
	double w[LBFO_MAX_MEMBERS];
	int d, i;

	for (d = 0; d < LBFO_DIR__MAX; d++) {
		double set = 0, unset_w = 0;
		int nunset = 0;

		for (i = 0; i < t->n; i++) {
			if (t->m[i].state != LBFO_MS_ACTIVE)
				continue;
			if (t->m[i].cfg_share[d])
				set += t->m[i].cfg_share[d];
			else
				nunset++;
		}
		if (nunset && set < LBFO_SHARE_FULL)
			unset_w = (LBFO_SHARE_FULL - set) / nunset;
		for (i = 0; i < t->n; i++)
			w[i] = t->m[i].cfg_share[d] ? t->m[i].cfg_share[d] : unset_w;
		lbfo_team_shares_from_weights(t, (enum lbfo_dir)d, w);
	}
}

/*
 * Bring states in line after any event: promote restored members whose
 * failback condition holds, pick the current member in failover mode,
 * mark the others ACTIVE or STANDBY, renormalise shares and tell the
 * policy. `changed` is the member whose event triggered this, or -1.
 */
static void recompute(struct lbfo_team *t, int changed, uint64_t now)
{
	int i, best;

	for (i = 0; i < t->n; i++) {
		struct lbfo_member *m = &t->m[i];

		if (m->state != LBFO_MS_PROBING)
			continue;
		if (t->cfg.failback == LBFO_FAILBACK_IMMEDIATE ||
		    (t->cfg.failback == LBFO_FAILBACK_STABLE &&
		     now - m->restored_ns >= t->cfg.failback_stable_ns)) {
			set_state(m, LBFO_MS_ACTIVE, now);
			/* Claim 4: a restore that names a new path moves
			 * failover mode's current member there; otherwise
			 * the preferred member (primary) wins back. */
			if (m->restore_suggested >= 0 &&
			    healthy(&t->m[m->restore_suggested]))
				t->current = m->restore_suggested;
			else if (t->current < 0 || !healthy(&t->m[t->current]) ||
				 preferred_over(t, i, t->current))
				t->current = i;
			m->restore_suggested = -1;
		}
	}

	if (t->current >= 0 && !healthy(&t->m[t->current]))
		t->current = -1;
	best = best_healthy(t);
	if (t->current < 0)
		t->current = best;

	if (lbfo_team_mode(t) == LBFO_MODE_FAILOVER) {
		for (i = 0; i < t->n; i++)
			if (healthy(&t->m[i]))
				set_state(&t->m[i], i == t->current ?
					  LBFO_MS_ACTIVE : LBFO_MS_STANDBY, now);
	} else {
		for (i = 0; i < t->n; i++)
			if (t->m[i].state == LBFO_MS_STANDBY)
				set_state(&t->m[i], LBFO_MS_ACTIVE, now);
	}

	lbfo_team_reset_shares(t);
	if (t->ops && t->ops->on_member_change)
		t->ops->on_member_change(t, t->priv, changed, now);
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
		set_err(t, "unknown policy '%s' (known: %s)", policy, known);
		return -1;
	}
	if (lbfo_param_check_keys(o, kv, nkv, err, sizeof(err)) < 0 ||
	    o->create(t, kv, nkv, priv, err, sizeof(err)) < 0) {
		set_err(t, "%s%s", err, "");
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

void lbfo_team_destroy(struct lbfo_team *t)
{
	if (t->ops && t->ops->destroy)
		t->ops->destroy(t->priv);
	t->ops = NULL;
	t->priv = NULL;
}

int lbfo_team_set_policy(struct lbfo_team *t, const char *policy,
			 const struct lbfo_kv *kv, size_t nkv, uint64_t now)
{
	const struct lbfo_policy_ops *ops;
	void *priv = NULL;

	if (make_policy(t, policy, kv, nkv, &ops, &priv) < 0)
		return -1;
	lbfo_team_destroy(t);
	t->ops = ops;
	t->priv = priv;
	t->err[0] = '\0';
	/* 001 [0036]: a switch recomputes the shares. */
	recompute(t, -1, now);
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
		set_err(t, "duplicate member name '%s'%s", name, "");
		return -1;
	}
	if (check_share(t, read_share_bp) < 0 || check_share(t, write_share_bp) < 0)
		return -1;
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
	/* 001 [0047]: a member configured with 100 % is the one failover
	 * mode uses. */
	if (full_share(m))
		t->current = m->index;
	recompute(t, m->index, now);
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
	/* 001 [0047]: given 100 %, a healthy member carries the I/O of
	 * failover mode from now on. */
	if (full_share(&t->m[m]) && healthy(&t->m[m]))
		t->current = m;
	recompute(t, -1, now);
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
	recompute(t, m, now);
	return 0;
}

int lbfo_team_select_excluding(struct lbfo_team *t, enum lbfo_dir dir, uint64_t bytes,
			       uint64_t now, uint32_t exclude)
{
	int i, pick;

	t->exclude = exclude;
	pick = lbfo_team_select(t, dir, bytes, now);
	if (pick == LBFO_SELECT_NO_PATH || (pick >= 0 && (exclude & (1u << pick)))) {
		/* Only excluded members had a share, or failover mode's
		 * current member is excluded and the rest stand by: the
		 * next healthy member, active ones first, then by order. */
		pick = LBFO_SELECT_NO_PATH;
		for (i = 0; i < t->n; i++) {
			const struct lbfo_member *m = &t->m[i];

			if (!healthy(m) || (exclude & (1u << i)))
				continue;
			if (pick < 0 ||
			    (m->state == LBFO_MS_ACTIVE) > (t->m[pick].state == LBFO_MS_ACTIVE) ||
			    ((m->state == LBFO_MS_ACTIVE) == (t->m[pick].state == LBFO_MS_ACTIVE) &&
			     m->order < t->m[pick].order))
				pick = i;
		}
	}
	t->exclude = 0;
	return pick;
}

int lbfo_team_select(struct lbfo_team *t, enum lbfo_dir dir, uint64_t bytes,
		     uint64_t now)
{
	int i, pick = -1, nactive = 0, nhealthy = 0;
	bool cur_ok, failover;

	if (t->cfg.max_outstanding && t->outstanding >= t->cfg.max_outstanding)
		return LBFO_SELECT_LU_FULL;
	t->select_calls++;
	failover = t->ops->failover_only;
	cur_ok = failover && lbfo_member_usable(t, t->current);
	if (!cur_ok) {
		/* One pass for what lbfo_team_mode() and lbfo_team_count()
		 * would each walk the members for: the per-command path. */
		for (i = 0; i < t->n; i++) {
			const struct lbfo_member *m = &t->m[i];

			nactive += m->state == LBFO_MS_ACTIVE && !(t->exclude & (1u << i));
			nhealthy += healthy(m);
			failover |= full_share(m);
		}
		failover |= nhealthy == 1;
		cur_ok = failover && lbfo_member_usable(t, t->current);
	}
	if (cur_ok) {
		pick = t->current;
	} else if (nactive > 0) {
		pick = t->ops->select(t, t->priv, dir, bytes, now);
	} else {
		/* Last resort: a member that is back but not yet failed
		 * back carries I/O rather than the LU having no path. */
		for (i = 0; i < t->n; i++)
			if (t->m[i].state == LBFO_MS_PROBING &&
			    (pick < 0 || t->m[i].order < t->m[pick].order))
				pick = i;
		if (pick < 0)
			return LBFO_SELECT_NO_PATH;
	}
	if (pick >= 0 && pick < t->n)
		t->m[pick].last_pick = t->select_calls;
	return pick;
}

void lbfo_team_start(struct lbfo_team *t, struct lbfo_cmd *c, int mi,
		     enum lbfo_dir dir, uint64_t bytes, uint64_t now)
{
	struct lbfo_member *m = &t->m[mi];

	c->member = mi;
	c->dir = (uint8_t)dir;
	c->bytes = bytes;
	c->start_ns = now;
	c->state = LBFO_CMD_INFLIGHT;
	c->retry_next = NULL;
	c->prev = NULL;
	c->next = m->inflight;
	if (m->inflight)
		m->inflight->prev = c;
	m->inflight = c;

	if (m->outstanding++ == 0)
		m->busy_since_ns = now;
	m->outstanding_bytes += bytes;
	m->epoch_bytes[dir] += bytes;
	m->st.dispatched_bytes += bytes;
	t->outstanding++;
	if (t->ops->on_start)
		t->ops->on_start(t, t->priv, mi, dir, bytes, now);
}

static void unlink_cmd(struct lbfo_team *t, struct lbfo_cmd *c, uint64_t now)
{
	struct lbfo_member *m = &t->m[c->member];

	if (c->prev)
		c->prev->next = c->next;
	else
		m->inflight = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	m->outstanding--;
	m->outstanding_bytes -= c->bytes;
	if (m->outstanding == 0)
		m->st.busy_ns += now - m->busy_since_ns;
	t->outstanding--;
}

int lbfo_team_complete(struct lbfo_team *t, struct lbfo_cmd *c, uint64_t now)
{
	struct lbfo_member *m;
	uint64_t lat;

	if (c->state != LBFO_CMD_INFLIGHT || c->member < 0 || c->member >= t->n)
		return -1;
	m = &t->m[c->member];
	unlink_cmd(t, c, now);
	c->state = LBFO_CMD_IDLE;
	lat = now - c->start_ns;
	m->st.bytes[c->dir] += c->bytes;
	m->st.cmds[c->dir]++;
	m->st.latency_ns_sum += lat;
	if (m->adapter)
		lbfo_adapter_account(m->adapter, c->bytes);
	if (t->ops->on_complete)
		t->ops->on_complete(t, t->priv, c->member,
				    (enum lbfo_dir)c->dir, c->bytes, lat, now);
	return 0;
}

int lbfo_team_member_failed(struct lbfo_team *t, int mi, int suggested,
			    uint64_t now, struct lbfo_cmd **retry)
{
	struct lbfo_member *m;
	struct lbfo_cmd *c, *head = NULL, **tail = &head;
	int n = 0;

	if (retry)
		*retry = NULL;
	if (mi < 0 || mi >= t->n)
		return 0;
	m = &t->m[mi];
	/* Oldest first: the list is newest-first, so walk to its end. */
	for (c = m->inflight; c && c->next; c = c->next)
		;
	while (c) {
		struct lbfo_cmd *prev = c->prev;

		unlink_cmd(t, c, now);
		c->state = LBFO_CMD_RETURNED;
		c->retries++;
		c->member = -1;
		c->retry_next = NULL;
		*tail = c;
		tail = &c->retry_next;
		n++;
		c = prev;
	}
	m->st.returned += (uint64_t)n;
	if (retry)
		*retry = head;
	if (m->state == LBFO_MS_FAILED)
		return n;

	if (t->current == mi) {
		t->failovers++;
		t->current = -1;
		if (suggested >= 0 && suggested < t->n && suggested != mi &&
		    healthy(&t->m[suggested]))
			t->current = suggested; /* claims 3, 8 */
	}
	m->st.failures++;
	set_state(m, LBFO_MS_FAILED, now);
	recompute(t, mi, now);
	return n;
}

void lbfo_team_member_restored(struct lbfo_team *t, int mi, int suggested,
			       uint64_t now)
{
	struct lbfo_member *m;

	if (mi < 0 || mi >= t->n)
		return;
	m = &t->m[mi];
	if (m->state != LBFO_MS_FAILED)
		return;
	m->restored_ns = now;
	m->restore_suggested = suggested >= 0 && suggested < t->n ? suggested : -1;
	set_state(m, LBFO_MS_PROBING, now);
	recompute(t, mi, now);
}

int lbfo_team_member_reinstate(struct lbfo_team *t, int mi, uint64_t now)
{
	struct lbfo_member *m;

	if (mi < 0 || mi >= t->n) {
		snprintf(t->err, sizeof(t->err), "no member %d", mi);
		return -1;
	}
	m = &t->m[mi];
	if (m->state == LBFO_MS_FAILED) {
		set_err(t, "member '%s' is failed; it must be restored by its path first%s",
			m->name, "");
		return -1;
	}
	if (m->state == LBFO_MS_PROBING || m->state == LBFO_MS_DRAINING) {
		set_state(m, LBFO_MS_ACTIVE, now);
		/* Claim 4: a restore that named a path decides where new I/O
		 * goes once this member is back, also when an operator brings
		 * it back (manual failback). */
		if (m->restore_suggested >= 0 &&
		    healthy(&t->m[m->restore_suggested]))
			t->current = m->restore_suggested;
		else if (t->current < 0 || !healthy(&t->m[t->current]) ||
			 preferred_over(t, mi, t->current))
			t->current = mi;
		m->restore_suggested = -1;
		recompute(t, mi, now);
	}
	return 0;
}

int lbfo_team_member_drain(struct lbfo_team *t, int mi, uint64_t now)
{
	if (mi < 0 || mi >= t->n) {
		snprintf(t->err, sizeof(t->err), "no member %d", mi);
		return -1;
	}
	if (t->m[mi].state == LBFO_MS_FAILED) {
		set_err(t, "member '%s' is failed%s", t->m[mi].name, "");
		return -1;
	}
	set_state(&t->m[mi], LBFO_MS_DRAINING, now);
	recompute(t, mi, now);
	return 0;
}

void lbfo_team_sample_interval(struct lbfo_team *t, uint64_t now)
{
	int i;

	for (i = 0; i < t->n; i++) {
		struct lbfo_member *m = &t->m[i];
		uint64_t own = m->st.bytes[LBFO_READ] + m->st.bytes[LBFO_WRITE];
		uint64_t busy = m->st.busy_ns;

		/* Count the running busy period up to now. */
		if (m->outstanding > 0) {
			busy += now - m->busy_since_ns;
			m->st.busy_ns += now - m->busy_since_ns;
			m->busy_since_ns = now;
		}
		m->interval_own_bytes = own - m->own_mark;
		m->own_mark = own;
		m->interval_busy_ns = busy - m->busy_mark;
		m->busy_mark = busy;
		if (m->adapter) {
			uint64_t ab = lbfo_adapter_bytes(m->adapter);

			/* An interface counter that went backwards was
			 * reset: count from zero. */
			m->interval_bytes = ab >= m->adapter_mark ? ab - m->adapter_mark : ab;
			m->adapter_mark = ab;
		} else {
			m->interval_bytes = m->interval_own_bytes;
		}
	}
}

void lbfo_team_tick(struct lbfo_team *t, uint64_t now)
{
	int i;
	bool due = false;

	if (t->cfg.failback == LBFO_FAILBACK_STABLE)
		for (i = 0; i < t->n; i++)
			if (t->m[i].state == LBFO_MS_PROBING &&
			    now - t->m[i].restored_ns >= t->cfg.failback_stable_ns)
				due = true;
	if (due)
		recompute(t, -1, now);
	if (t->ops->on_tick)
		t->ops->on_tick(t, t->priv, now);
	t->last_tick_ns = now;
}

bool lbfo_tie_prefer(const struct lbfo_team *t, int a, int b)
{
	if (t->m[a].last_pick != t->m[b].last_pick)
		return t->m[a].last_pick < t->m[b].last_pick;
	return a < b;
}
