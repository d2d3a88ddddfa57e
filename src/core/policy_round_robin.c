/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * round-robin: `repeat` commands on one member, then the next ACTIVE one
 * in index order (dm-multipath's round-robin with rr_min_io_rq). A member
 * with weight w gets repeat * w commands per turn.
 */
#include <stdlib.h>

#include "lbfo/policy.h"

struct rr {
	uint64_t repeat;
	int cur;
	uint64_t count; /* commands sent on cur this turn */
};

static int rr_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		     void **priv, char *err, size_t errlen)
{
	struct rr *s;
	uint64_t repeat;

	(void)t;
	if (lbfo_param_u64("round-robin", kv, nkv, "repeat", 1, 1, 1000000,
			   &repeat, err, errlen) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->repeat = repeat;
	s->cur = -1;
	*priv = s;
	return 0;
}

static int rr_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		     uint64_t bytes, uint64_t now)
{
	struct rr *s = priv;
	int i, k;

	(void)dir, (void)bytes, (void)now;
	if (lbfo_member_usable(t, s->cur) &&
	    s->count < s->repeat * (t->m[s->cur].weight ? t->m[s->cur].weight : 1)) {
		s->count++;
		return s->cur;
	}
	for (k = 1; k <= t->n; k++) {
		i = ((s->cur < 0 ? -1 : s->cur) + k) % t->n;
		if (lbfo_member_usable(t, i)) {
			s->cur = i;
			s->count = 1;
			return i;
		}
	}
	return LBFO_SELECT_NO_PATH;
}

static const struct lbfo_param_desc rr_params[] = {
	{ "repeat", "1", "commands sent on a member before moving to the next (x its weight)" },
	{ NULL, NULL, NULL },
};

const struct lbfo_policy_ops lbfo_policy_round_robin = {
	.name = "round-robin",
	.summary = "each active member in turn, `repeat` commands at a time",
	.params = rr_params,
	.create = rr_create,
	.destroy = free,
	.select = rr_select,
};
