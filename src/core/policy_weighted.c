/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * weighted: smooth weighted round-robin over the ACTIVE members by their
 * weights (seed 002's "allocate twice / allocate once"). Each pick adds
 * every member's weight to its credit, takes the member with the most
 * credit and charges it the total, so a 2:1 weighting gives A B A, A B A,
 * interleaved rather than in bursts.
 *
 * weights=W1,W2,... sets the weights by member index; otherwise each
 * member's own weight is used (default 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"

struct wrr {
	uint32_t w[LBFO_MAX_MEMBERS]; /* 0 = use the member's weight */
	int64_t credit[LBFO_MAX_MEMBERS];
};

static int parse_weights(const char *v, uint32_t *w, char *err, size_t errlen)
{
	const char *p = v;
	int i = 0;

	while (*p) {
		char *end;
		unsigned long x;

		if (i >= LBFO_MAX_MEMBERS || *p < '0' || *p > '9')
			goto bad;
		x = strtoul(p, &end, 10);
		if (x < 1 || x > LBFO_WEIGHT_MAX)
			goto bad;
		w[i++] = (uint32_t)x;
		if (*end == ',')
			end++;
		else if (*end != '\0')
			goto bad;
		p = end;
	}
	return 0;
bad:
	snprintf(err, errlen, "weighted: invalid value '%s' for 'weights': "
		 "expected a comma-separated list of 1..%d, at most %d",
		 v, LBFO_WEIGHT_MAX, LBFO_MAX_MEMBERS);
	return -1;
}

static int wrr_create(struct lbfo_team *t, const struct lbfo_kv *kv, size_t nkv,
		      void **priv, char *err, size_t errlen)
{
	struct wrr *s = calloc(1, sizeof(*s));
	const char *v = lbfo_kv_get(kv, nkv, "weights");

	(void)t;
	if (!s)
		return -1;
	if (v && parse_weights(v, s->w, err, errlen) < 0) {
		free(s);
		return -1;
	}
	*priv = s;
	return 0;
}

static int64_t weight_of(const struct lbfo_team *t, const struct wrr *s, int i)
{
	if (s->w[i])
		return s->w[i];
	return t->m[i].weight ? t->m[i].weight : 1;
}

static int wrr_select(struct lbfo_team *t, void *priv, enum lbfo_dir dir,
		      uint64_t bytes, uint64_t now)
{
	struct wrr *s = priv;
	int64_t total = 0;
	int i, best = -1;

	(void)dir, (void)bytes, (void)now;
	for (i = 0; i < t->n; i++) {
		if (!lbfo_member_usable(t, i))
			continue;
		s->credit[i] += weight_of(t, s, i);
		total += weight_of(t, s, i);
		if (best < 0 || s->credit[i] > s->credit[best])
			best = i;
	}
	if (best >= 0)
		s->credit[best] -= total;
	return best;
}

static void wrr_change(struct lbfo_team *t, void *priv, int m, uint64_t now)
{
	struct wrr *s = priv;

	(void)t, (void)m, (void)now;
	/* A new set of members starts a fresh cycle. */
	memset(s->credit, 0, sizeof(s->credit));
}

static const struct lbfo_param_desc wrr_params[] = {
	{ "weights", "", "comma-separated weights by member order (default: each member's weight, 1)" },
	{ NULL, NULL, NULL },
};

const struct lbfo_policy_ops lbfo_policy_weighted = {
	.name = "weighted",
	.summary = "smooth weighted round-robin by member weight",
	.params = wrr_params,
	.create = wrr_create,
	.destroy = free,
	.select = wrr_select,
	.on_member_change = wrr_change,
};
