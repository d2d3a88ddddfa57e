/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * quota-rr: seed 004 claims 11-13. Each member has a data quota derived
 * from its share and the mean data length of the commands it carried
 * (claim 12):
 *
 *   quota_i = share_i * max_cmds * mean_len_i
 *
 * i.e. its share of one "round" of max_cmds commands. Commands go to the
 * current member until its quota is met or it has been sent max_cmds
 * commands this turn (claim 13); then the next ACTIVE member in round-robin
 * order takes over. max_cmds is the LU's maximum number of outstanding
 * commands (claim 11): the team's max_outstanding, or this parameter.
 * A turn always carries at least one command.
 */
#include <stdlib.h>

#include "lbfo/policy.h"

struct qrr {
	uint64_t max_cmds;
	int cur;
	uint64_t sent_bytes, sent_cmds; /* this turn */
	uint64_t *mean_len; /* per member (cap of them): bytes, 0 = none yet */
	int cap;
};

static int qrr_grow(struct lbfo_team *t, void *priv, int cap)
{
	struct qrr *s = priv;
	uint64_t *ml = lbfo_policy_array(s->mean_len, sizeof(*ml), s->cap, cap);

	(void)t;
	if (!ml)
		return -1;
	s->mean_len = ml;
	s->cap = cap;
	return 0;
}

static void qrr_destroy(void *priv)
{
	struct qrr *s = priv;

	if (s)
		free(s->mean_len);
	free(s);
}

static int qrr_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		      void **priv, char *err, size_t errlen)
{
	struct qrr *s;
	uint64_t max;

	if (lbfo_param_u64("quota-rr", kv, nkv, "max_cmds",
			   t->cfg.max_outstanding ? t->cfg.max_outstanding : 32,
			   1, 65536, &max, err, errlen) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s || qrr_grow(t, s, t->cap) < 0) {
		free(s);
		return -1;
	}
	s->max_cmds = max;
	s->cur = -1;
	*priv = s;
	return 0;
}

static uint64_t quota(const struct lbfo_team *t, const struct qrr *s, int i,
		      enum lbfo_dir dir, uint64_t bytes)
{
	uint64_t mean = s->mean_len[i] ? s->mean_len[i] : bytes;

	return (uint64_t)((unsigned __int128)t->m[i].share[dir] * s->max_cmds *
			  mean / LBFO_SHARE_FULL);
}

static int qrr_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		      uint64_t bytes, uint64_t now)
{
	struct qrr *s = priv;
	int k;

	(void)now;
	if (lbfo_member_usable(t, s->cur) && t->m[s->cur].share[dir] > 0 &&
	    s->sent_bytes < quota(t, s, s->cur, dir, bytes) &&
	    s->sent_cmds < s->max_cmds)
		return s->cur;
	for (k = 1; k <= t->n; k++) {
		int i = ((s->cur < 0 ? -1 : s->cur) + k) % t->n;

		if (lbfo_member_usable(t, i) && t->m[i].share[dir] > 0) {
			s->cur = i;
			s->sent_bytes = s->sent_cmds = 0;
			return i;
		}
	}
	return LBFO_SELECT_NO_PATH;
}

static void qrr_start(struct lbfo_team *t, void *priv, int m, enum lbfo_dir dir,
		      uint64_t bytes, uint64_t now)
{
	struct qrr *s = priv;

	(void)t, (void)dir, (void)now;
	if (m == s->cur) {
		s->sent_bytes += bytes;
		s->sent_cmds++;
	}
	/* Mean data length per member (claim 12): a running mean over about
	 * the last 8 commands, in integers. */
	if (s->mean_len[m] == 0)
		s->mean_len[m] = bytes;
	else
		s->mean_len[m] = s->mean_len[m] - s->mean_len[m] / 8 + bytes / 8;
}

static const struct lbfo_param_desc qrr_params[] = {
	{ "max_cmds", "32", "maximum commands per turn (claim 11); when not set: the team's max_outstanding if it has one (the nbdkit plugin's: 64), else 32" },
	{ NULL, NULL, NULL },
};

const struct lbfo_policy_ops lbfo_policy_quota_rr = {
	.name = "quota-rr",
	.summary = "claims 11-13: round-robin, staying on a member until its data quota or max commands",
	.params = qrr_params,
	.create = qrr_create,
	.destroy = qrr_destroy,
	.grow = qrr_grow,
	.select = qrr_select,
	.on_start = qrr_start,
};
