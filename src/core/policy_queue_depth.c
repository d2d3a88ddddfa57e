/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * queue-depth: the ACTIVE member with the fewest commands in flight per
 * unit of weight (dm-multipath's queue-length; least-connections on the
 * router). A faster path drains its queue sooner and so receives more.
 * Ties go to the member picked least recently.
 */
#include "lbfo/policy.h"

static int qd_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		     void **priv, char *err, size_t errlen)
{
	(void)t, (void)kv, (void)nkv, (void)err, (void)errlen;
	*priv = NULL;
	return 0;
}

static int qd_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		     uint64_t bytes, uint64_t now)
{
	int i, best = -1;

	(void)priv, (void)dir, (void)bytes, (void)now;
	for (i = 0; i < t->n; i++) {
		uint64_t a, b;

		if (!lbfo_member_usable(t, i))
			continue;
		if (best < 0) {
			best = i;
			continue;
		}
		/* outstanding_i / weight_i < outstanding_best / weight_best,
		 * cross-multiplied (weights >= 1, counts < 2^32). */
		a = (uint64_t)t->m[i].outstanding * (t->m[best].weight ? t->m[best].weight : 1);
		b = (uint64_t)t->m[best].outstanding * (t->m[i].weight ? t->m[i].weight : 1);
		if (a < b || (a == b && lbfo_tie_prefer(t, i, best)))
			best = i;
	}
	return best;
}

static const struct lbfo_param_desc qd_params[] = { { NULL, NULL, NULL } };

const struct lbfo_policy_ops lbfo_policy_queue_depth = {
	.name = "queue-depth",
	.summary = "fewest commands in flight (per unit of weight)",
	.params = qd_params,
	.create = qd_create,
	.select = qd_select,
};
