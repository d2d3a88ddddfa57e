/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * static-share: 001 FIG 4 / [0026]. Each member has a read share and a
 * write share (percent of the team's bytes, summing to 100 %, set per
 * member; even when not set). Each command goes to the member with the
 * highest LoadBalancingValue = TotalTeamBytes / DataPathBytes * Share,
 * computed separately for reads and writes. See lbfo_fig4_select().
 */
#include "lbfo/policy.h"

static int ss_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		     void **priv, char *err, size_t errlen)
{
	(void)t, (void)kv, (void)nkv, (void)err, (void)errlen;
	*priv = NULL;
	return 0;
}

static int ss_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		     uint64_t bytes, uint64_t now)
{
	(void)priv, (void)bytes, (void)now;
	return lbfo_fig4_select(t, dir);
}

static const struct lbfo_param_desc ss_params[] = { { NULL, NULL, NULL } };

const struct lbfo_policy_ops lbfo_policy_static_share = {
	.name = "static-share",
	.summary = "FIG 4: keep each member at its configured read/write share of bytes",
	.params = ss_params,
	.create = ss_create,
	.select = ss_select,
};
