/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shares: configured shares -> effective shares over the ACTIVE members
 * (lbfo_team_reset_shares), shares from a policy's weights, and FIG 4's
 * byte epoch restarted when shares move. Calls no other module of the
 * team: the state machine (member.c) and the policies call down to it.
 */
#include "lbfo/core.h"
#include "lbfo/policy.h"

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
