/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * failover: failover-only mode (001 FIG 6, [0045]). All I/O goes to one
 * member, the primary while it is healthy; the others stay logged in and
 * kept alive as STANDBY and take over, in discovery order (or the member a
 * path-fail event suggests), when it fails. The team does the work: this
 * policy only declares the mode.
 */
#include "lbfo/policy.h"

static int fo_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		     void **priv, char *err, size_t errlen)
{
	(void)t, (void)kv, (void)nkv, (void)err, (void)errlen;
	*priv = NULL;
	return 0;
}

static int fo_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		     uint64_t bytes, uint64_t now)
{
	int i;

	(void)priv, (void)dir, (void)bytes, (void)now;
	if (lbfo_member_usable(t, t->current))
		return t->current;
	for (i = 0; i < t->n; i++)
		if (lbfo_member_usable(t, i))
			return i;
	return LBFO_SELECT_NO_PATH;
}

static const struct lbfo_param_desc fo_params[] = { { NULL, NULL, NULL } };

const struct lbfo_policy_ops lbfo_policy_failover = {
	.name = "failover",
	.summary = "all I/O on the primary; secondaries on standby take over in order",
	.params = fo_params,
	.failover_only = true,
	.create = fo_create,
	.select = fo_select,
};
