/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The table of built-in policies and the helpers they share: parameters,
 * the tie-break, FIG 4 selection, the periodic timer and speeds.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"

/* Explicit, fixed order: this is the order `lbfo-sim --policy all` and
 * the docs list them in. */
static const struct lbfo_policy_ops *const policies[] = {
	&lbfo_policy_failover,
	&lbfo_policy_round_robin,
	&lbfo_policy_weighted,
	&lbfo_policy_static_share,
	&lbfo_policy_dynamic_share,
	&lbfo_policy_quota_rr,
	&lbfo_policy_speed_share,
	&lbfo_policy_queue_depth,
	&lbfo_policy_service_time,
};

const struct lbfo_policy_ops *const *lbfo_policy_table(size_t *n)
{
	*n = sizeof(policies) / sizeof(policies[0]);
	return policies;
}

const struct lbfo_policy_ops *lbfo_policy_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (!strcmp(policies[i]->name, name))
			return policies[i];
	return NULL;
}

const char *lbfo_kv_get(const struct lbfo_kv *kv, size_t nkv, const char *key)
{
	size_t i;
	const char *v = NULL;

	/* The last occurrence wins, as on a command line. */
	for (i = 0; i < nkv; i++)
		if (kv[i].key && !strcmp(kv[i].key, key))
			v = kv[i].value;
	return v;
}

int lbfo_param_check_keys(const struct lbfo_policy_ops *ops,
			  const struct lbfo_kv *kv, size_t nkv, char *err,
			  size_t errlen)
{
	size_t i;

	for (i = 0; i < nkv; i++) {
		const struct lbfo_param_desc *d;
		size_t len;

		for (d = ops->params; d && d->key && kv[i].key; d++)
			if (!strcmp(d->key, kv[i].key))
				break;
		if (kv[i].key && d && d->key)
			continue;
		len = (size_t)snprintf(err, errlen, "%s: unknown parameter '%s' (known: ",
				       ops->name, kv[i].key ? kv[i].key : "(null)");
		for (d = ops->params; d && d->key && len < errlen; d++)
			len += (size_t)snprintf(err + len, errlen - len, "%s%s",
						d == ops->params ? "" : ", ", d->key);
		if (!ops->params || !ops->params[0].key)
			len += (size_t)snprintf(err + len, len < errlen ? errlen - len : 0,
						"none");
		if (len < errlen)
			snprintf(err + len, errlen - len, ")");
		return -1;
	}
	return 0;
}

int lbfo_param_u64(const char *policy, const struct lbfo_kv *kv, size_t nkv,
		   const char *key, uint64_t def, uint64_t min, uint64_t max,
		   uint64_t *out, char *err, size_t errlen)
{
	const char *v = lbfo_kv_get(kv, nkv, key);
	unsigned long long x;
	char *end;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	if (v[0] < '0' || v[0] > '9')
		goto bad;
	x = strtoull(v, &end, 10);
	if (errno || *end != '\0')
		goto bad;
	if (x < min || x > max) {
		snprintf(err, errlen, "%s: invalid value '%s' for '%s': out of range %llu..%llu",
			 policy, v, key, (unsigned long long)min,
			 (unsigned long long)max);
		return -1;
	}
	*out = x;
	return 0;
bad:
	snprintf(err, errlen, "%s: invalid value '%s' for '%s': not a whole number",
		 policy, v, key);
	return -1;
}

int lbfo_param_double(const char *policy, const struct lbfo_kv *kv, size_t nkv,
		      const char *key, double def, double min, double max,
		      double *out, char *err, size_t errlen)
{
	const char *v = lbfo_kv_get(kv, nkv, key);
	double x;
	char *end;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || *end != '\0' || !isfinite(x)) {
		snprintf(err, errlen, "%s: invalid value '%s' for '%s': not a number",
			 policy, v, key);
		return -1;
	}
	if (x < min || x > max) {
		snprintf(err, errlen, "%s: invalid value '%s' for '%s': out of range %g..%g",
			 policy, v, key, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

void *lbfo_policy_array(void *p, size_t elem, int oldcap, int newcap)
{
	size_t n = newcap > 0 ? (size_t)newcap : 1;
	char *a = realloc(p, n * elem);

	if (!a)
		return NULL;
	if (!p)
		oldcap = 0;
	if ((size_t)oldcap < n)
		memset(a + (size_t)oldcap * elem, 0, (n - (size_t)oldcap) * elem);
	return a;
}

/* The member selected least recently wins (lbfo_team_select() stamps
 * last_pick), then the lower index: round-robin among equals. */
bool lbfo_tie_prefer(const struct lbfo_team *t, int a, int b)
{
	if (t->m[a].last_pick != t->m[b].last_pick)
		return t->m[a].last_pick < t->m[b].last_pick;
	return a < b;
}

/*
 * FIG 4 / 001 [0026]:
 *   LoadBalancingValue = (TotalTeamBytes / DataPathBytes) * LoadBalancingShare
 * and the command goes to the member with the maximum value.
 *
 * TotalTeamBytes is common to all members, so it cancels out of the
 * comparison; we compare share_a / bytes_a against share_b / bytes_b by
 * cross-multiplying (share_a * bytes_b vs share_b * bytes_a) in 128 bits:
 * no division, no overflow (shares < 2^14, bytes < 2^64). A member with no
 * bytes yet and a non-zero share has an infinite value. A zero share is a
 * value of 0: never chosen.
 *
 * DataPathBytes counts bytes *dispatched* on the member in the current
 * epoch (since the shares last changed), so the split follows the shares
 * at once rather than lagging behind completions.
 *
 * Ties (001 [0023] allows any technique): the member selected least
 * recently wins, which spreads equal members round-robin.
 */
int lbfo_fig4_select(struct lbfo_team *t, enum lbfo_dir dir)
{
	int i, best = -1;

	for (i = 0; i < t->n; i++) {
		const struct lbfo_member *m = &t->m[i], *b;
		unsigned __int128 lhs, rhs;

		/* A zero share is a value of 0: never chosen. The ACTIVE
		 * members' shares sum to 10000, so one has a share. */
		if (!lbfo_member_usable(t, i) || m->share[dir] == 0)
			continue;
		if (best < 0) {
			best = i;
			continue;
		}
		b = &t->m[best];
		lhs = (unsigned __int128)m->share[dir] * b->epoch_bytes[dir];
		rhs = (unsigned __int128)b->share[dir] * m->epoch_bytes[dir];
		if (m->epoch_bytes[dir] == 0 && b->epoch_bytes[dir] == 0) {
			/* both infinite (or both zero share): larger share */
			lhs = m->share[dir];
			rhs = b->share[dir];
		}
		if (lhs > rhs || (lhs == rhs && lbfo_tie_prefer(t, i, best)))
			best = i;
	}
	return best;
}

bool lbfo_period_due(struct lbfo_team *t, struct lbfo_period *p, uint64_t now,
		     uint64_t period_ns)
{
	if (!p->started) {
		p->started = true;
		p->last_ns = now;
		lbfo_team_sample_interval(t, now);
		return false;
	}
	if (now - p->last_ns < period_ns)
		return false;
	p->last_ns = now;
	lbfo_team_sample_interval(t, now);
	return true;
}

void lbfo_speeds_update(const struct lbfo_team *t, double *speed, double alpha,
			uint64_t min_bytes)
{
	int i;

	for (i = 0; i < t->n; i++) {
		const struct lbfo_member *m = &t->m[i];
		double sample;

		if (m->interval_busy_ns == 0 || m->interval_own_bytes == 0 ||
		    m->interval_own_bytes < min_bytes)
			continue;
		sample = (double)m->interval_own_bytes / (double)m->interval_busy_ns;
		speed[i] = speed[i] > 0 ? alpha * sample + (1 - alpha) * speed[i] : sample;
	}
}
