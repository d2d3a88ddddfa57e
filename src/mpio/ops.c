/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The operator's actions on one LU (lbfoctl's requests, bound by the host
 * in src/san/control.c): switch the policy, set shares, take one of the
 * LU's paths out or put it back, drain it, turn queueing off. A path
 * taken out here is out for this LU only: the session stays up for the
 * target's other LUs, and what this LU has in flight on it finishes
 * there (a drain), so nothing needs a fence. Taking a path out for every
 * LU (the session itself) is the target's (lbfo_tgt_path_disable).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"
#include "lu_internal.h"
#include "mpio.h"

static struct lu_path *find_path(struct lbfo_lu *lu, const char *name, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (!strcmp(lu->paths[i].cfg.name, name))
			return &lu->paths[i];
	snprintf(err, errlen, "no path '%s' on LU %s", name, lu->ident.id);
	return NULL;
}

int lbfo_lu_paths_ready(struct lbfo_lu *lu, int *total)
{
	int i, up = 0;

	for (i = 0; i < lu->npaths; i++)
		up += lu_path_ready(&lu->paths[i]);
	if (total)
		*total = lu->npaths;
	return up;
}

bool lbfo_lu_idle(const struct lbfo_lu *lu)
{
	int i;

	if (lu->queue.n || lu->parked.n || lu->team.outstanding ||
	    __atomic_load_n(&lu->sub_head, __ATOMIC_RELAXED))
		return false;
	for (i = 0; i < lu->npaths; i++)
		if (lu->paths[i].ident.busy || lu->paths[i].pr_cmd || lu->paths[i].check_at_ns)
			return false;
	return true;
}

int lbfo_lu_path_over(const struct lbfo_lu *lu, const struct lbfo_tgt *t, int tpath)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (lu->paths[i].tp->tgt == t && lu->paths[i].tp->idx == tpath)
			return i;
	return -1;
}

const char *lbfo_lu_path_name(const struct lbfo_lu *lu, int path)
{
	return path >= 0 && path < lu->npaths ? lu->paths[path].cfg.name : "?";
}

void lbfo_lu_path_info(const struct lbfo_lu *lu, int path, struct lbfo_tgt **tgt, int *tpath,
		       int *lun)
{
	const struct lu_path *p = &lu->paths[path];

	*tgt = p->tp->tgt;
	*tpath = p->tp->idx;
	*lun = p->lun;
}

int lbfo_lu_op_policy(struct lbfo_lu *lu, const char *policy, int nkv, char **kvs, FILE *out,
		      char *err, size_t errlen)
{
	struct lbfo_kv kv[LBFO_MAX_POLICY_KV];
	int i;

	if (nkv > LBFO_MAX_POLICY_KV) {
		snprintf(err, errlen, "policy set: at most %d parameters", LBFO_MAX_POLICY_KV);
		return -1;
	}
	for (i = 0; i < nkv; i++) {
		char *eq = strchr(kvs[i], '=');

		if (!eq || eq == kvs[i]) {
			snprintf(err, errlen, "policy set: '%s' is not KEY=VALUE", kvs[i]);
			return -1;
		}
		*eq = '\0';
		kv[i].key = kvs[i];
		kv[i].value = eq + 1;
	}
	if (lbfo_team_set_policy(&lu->team, policy, kv, (size_t)nkv, lu->now) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
		return -1;
	}
	lu_log(lu, LBFO_LOG_NOTICE, "policy set to %s (operator)", policy);
	fprintf(out, "policy %s\n", policy);
	return 0;
}

/* "R[/W]" in percent -> basis points. */
static int parse_rw(const char *v, uint32_t *rd, uint32_t *wr)
{
	char *slash, *end;
	double r, w;

	slash = strchr(v, '/');
	r = strtod(v, &end);
	if (end == v || (*end && end != slash) || r < 0 || r > 100)
		return -1;
	w = r;
	if (slash) {
		w = strtod(slash + 1, &end);
		if (end == slash + 1 || *end || w < 0 || w > 100)
			return -1;
	}
	*rd = (uint32_t)(r * 100 + 0.5);
	*wr = (uint32_t)(w * 100 + 0.5);
	return 0;
}

int lbfo_lu_op_shares(struct lbfo_lu *lu, int n, char **set_args, FILE *out, char *err,
		      size_t errlen)
{
	uint32_t rd[LBFO_MAX_PATHS], wr[LBFO_MAX_PATHS];
	bool set[LBFO_MAX_PATHS] = { false };
	int i;

	/* Parse all first: a bad one changes nothing. */
	for (i = 0; i < n; i++) {
		char *eq = strchr(set_args[i], '=');
		struct lu_path *p;

		if (!eq) {
			snprintf(err, errlen, "shares set: '%s' is not PATH=READ[/WRITE]", set_args[i]);
			return -1;
		}
		*eq = '\0';
		if (!(p = find_path(lu, set_args[i], err, errlen))) {
			snprintf(err, errlen, "shares set: no path '%s'", set_args[i]);
			return -1;
		}
		if (parse_rw(eq + 1, &rd[p->idx], &wr[p->idx]) < 0) {
			snprintf(err, errlen, "shares set: bad share '%s' for path %s (percent 0..100)",
				 eq + 1, set_args[i]);
			return -1;
		}
		set[p->idx] = true;
	}
	for (i = 0; i < lu->npaths; i++)
		if (set[i] && lbfo_team_set_shares(&lu->team, i, rd[i], wr[i], lu->now) < 0) {
			snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
			return -1;
		}
	lu_log(lu, LBFO_LOG_NOTICE, "shares set (operator)");
	fprintf(out, "shares set\n");
	return 0;
}

/* Out for this LU: no new commands; what is in flight finishes on it
 * (the checker fails the member once it is drained, as for a path an
 * answer failed). */
static void path_fail(struct lbfo_lu *lu, struct lu_path *p, FILE *out)
{
	p->admin_down = true;
	if (p->st == LP_UP || p->st == LP_IDENT)
		p->st = LP_DOWN;
	p->lu_failed = true;
	p->check_at_ns = 0;
	if (lbfo_member_usable(&lu->team, p->idx) || lu->team.m[p->idx].state == LBFO_MS_PROBING)
		lbfo_team_member_drain(&lu->team, p->idx, lu->now);
	if (!lu->team.m[p->idx].outstanding && lu->team.m[p->idx].state != LBFO_MS_FAILED)
		lbfo_team_member_failed(&lu->team, p->idx, -1, lu->now, NULL);
	lu_log(lu, LBFO_LOG_NOTICE, "path %s failed by operator (this LU)", p->cfg.name);
	fprintf(out, "path %s failed by operator\n", p->cfg.name);
}

static int path_restore(struct lbfo_lu *lu, struct lu_path *p, FILE *out, char *err,
			size_t errlen)
{
	struct lbfo_member *m = &lu->team.m[p->idx];
	bool was_down = p->admin_down || p->st == LP_REFUSED || p->lu_failed;

	p->admin_down = false;
	p->lu_failed = false;
	if (p->st == LP_REFUSED)
		p->st = LP_DOWN;
	if (was_down && p->s->st == LBFO_SS_UP && !p->s->failing && p->st == LP_DOWN)
		lu_path_on_up(p, lu->now); /* identity, registration, all afresh */
	if ((m->state == LBFO_MS_PROBING || m->state == LBFO_MS_DRAINING) &&
	    lbfo_team_member_reinstate(&lu->team, p->idx, lu->now) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
		return -1;
	}
	lu_log(lu, LBFO_LOG_NOTICE, "path %s restored by operator%s", p->cfg.name,
	       was_down ? " (reconnecting)" : "");
	fprintf(out, "path %s %s\n", p->cfg.name, lbfo_member_state_name(m->state));
	return 0;
}

int lbfo_lu_op_path(struct lbfo_lu *lu, enum lbfo_lu_path_op op, const char *name, FILE *out,
		    char *err, size_t errlen)
{
	struct lu_path *p = find_path(lu, name, err, errlen);
	unsigned n;

	if (!p)
		return -1;
	switch (op) {
	case LBFO_LU_PATH_OP_FAIL:
		path_fail(lu, p, out);
		return 0;
	case LBFO_LU_PATH_OP_RESTORE:
		return path_restore(lu, p, out, err, errlen);
	case LBFO_LU_PATH_OP_SESSION_OFF:
		/* The session's failure does the rest (hand-back, fence). */
		p->admin_down = true;
		return 0;
	case LBFO_LU_PATH_OP_DRAIN:
		if (lbfo_team_member_drain(&lu->team, p->idx, lu->now) < 0) {
			snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
			return -1;
		}
		n = lu->team.m[p->idx].outstanding;
		lu_log(lu, LBFO_LOG_NOTICE, "path %s draining (operator): %u in flight", p->cfg.name,
		       n);
		fprintf(out, "path %s draining, %u in flight\n", p->cfg.name, n);
		return 0;
	}
	return -1;
}

int lbfo_lu_op_queueing(struct lbfo_lu *lu, bool on)
{
	return lu_set_queueing(lu, on);
}

/*
 * A capacity change is only noted when a path sees it (lu.c): the export
 * keeps its size, as a block device keeps its size until `multipathd resize
 * map`. This is that step. Clients connected now keep the size they were
 * told; I/O beyond the exported end is refused here (intake.c), so a shrink
 * cannot let an old client write past it.
 */
uint64_t lbfo_lu_export_bytes(const struct lbfo_lu *lu)
{
	return __atomic_load_n(&lu->ident.blocks, __ATOMIC_RELAXED) * lu->ident.block_size;
}

void lbfo_lu_op_resize(struct lbfo_lu *lu, FILE *out)
{
	uint64_t was = lu->ident.blocks, now = lu->target_blocks;
	uint32_t bs = lu->ident.block_size;

	if (now == was) {
		fprintf(out, "LU %s: size unchanged, %" PRIu64 " blocks of %u B (%" PRIu64
			" bytes)\n", lu->ident.id, was, bs, was * bs);
		return;
	}
	__atomic_store_n(&lu->ident.blocks, now, __ATOMIC_RELAXED);
	lu_log(lu, LBFO_LOG_NOTICE, "LU %s resized by operator: %" PRIu64 " -> %" PRIu64
	       " blocks (%" PRIu64 " bytes)", lu->ident.id, was, now, now * bs);
	fprintf(out, "LU %s resized: %" PRIu64 " -> %" PRIu64 " blocks of %u B (%" PRIu64
		" bytes); clients see it from their next connection\n", lu->ident.id, was, now, bs,
		now * bs);
}

/* ---- a reloaded configuration ----------------------------------------------------- */

static bool same_policy(const struct lbfo_lu_config *a, const struct lbfo_lu_config *b)
{
	int i;

	if (strcmp(a->policy, b->policy) || a->npolicy_kv != b->npolicy_kv)
		return false;
	for (i = 0; i < a->npolicy_kv; i++)
		if (strcmp(a->policy_keys[i], b->policy_keys[i]) ||
		    strcmp(a->policy_values[i], b->policy_values[i]))
			return false;
	return true;
}

static int apply_policy(struct lbfo_lu *lu, const struct lbfo_lu_config *c, char *err,
			size_t errlen)
{
	struct lbfo_kv kv[LBFO_MAX_POLICY_KV];
	int i;

	for (i = 0; i < c->npolicy_kv; i++) {
		kv[i].key = c->policy_keys[i];
		kv[i].value = c->policy_values[i];
	}
	if (lbfo_team_set_policy(&lu->team, c->policy, kv, (size_t)c->npolicy_kv, lu->now) < 0) {
		snprintf(err, errlen, "policy %s: %s", c->policy, lbfo_team_error(&lu->team));
		return -1;
	}
	return 0;
}

/* The paths' shares and weights, by path name (the LU's paths are named
 * after the configuration's). */
static int apply_paths(struct lbfo_lu *lu, const struct lbfo_lu_config *c, int *changed)
{
	int i, k;

	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *p = &lu->paths[i];

		for (k = 0; k < c->npaths && strcmp(c->paths[k].name, lu->cfg.paths[p->tp->cfg_idx].name); k++)
			;
		if (k == c->npaths)
			continue;
		if (c->paths[k].read_share_bp != p->cfg.read_share_bp ||
		    c->paths[k].write_share_bp != p->cfg.write_share_bp) {
			if (lbfo_team_set_shares(&lu->team, i, c->paths[k].read_share_bp,
						 c->paths[k].write_share_bp, lu->now) < 0)
				return -1;
			p->cfg.read_share_bp = c->paths[k].read_share_bp;
			p->cfg.write_share_bp = c->paths[k].write_share_bp;
			(*changed)++;
		}
		if (c->paths[k].weight != p->cfg.weight) {
			if (lbfo_team_set_weight(&lu->team, i, c->paths[k].weight ? c->paths[k].weight : 1,
						 lu->now) < 0)
				return -1;
			p->cfg.weight = c->paths[k].weight;
			(*changed)++;
		}
	}
	return 0;
}

int lbfo_lu_reconfigure(struct lbfo_lu *lu, const struct lbfo_lu_config *c, char *applied,
			size_t alen, char *later, size_t llen)
{
	char err[LBFO_ERR_MAX];
	size_t a = 0, l = 0;
	int paths = 0;

#define SAID(buf, n, len, ...) ((n) += (n) < (len) ? (size_t)snprintf((buf) + (n), (len) - (n), __VA_ARGS__) : 0)
	if (alen)
		applied[0] = '\0';
	if (llen)
		later[0] = '\0';
	if (!same_policy(&lu->cfg, c)) {
		if (apply_policy(lu, c, err, sizeof(err)) < 0) {
			SAID(later, l, llen, " %s (refused);", err);
		} else {
			SAID(applied, a, alen, " policy %s;", c->policy);
			memcpy(lu->cfg.policy, c->policy, sizeof(c->policy));
			memcpy(lu->cfg.policy_keys, c->policy_keys, sizeof(c->policy_keys));
			memcpy(lu->cfg.policy_values, c->policy_values, sizeof(c->policy_values));
			lu->cfg.npolicy_kv = c->npolicy_kv;
		}
	}
	if (apply_paths(lu, c, &paths) < 0)
		SAID(later, l, llen, " shares: %s;", lbfo_team_error(&lu->team));
	else if (paths)
		SAID(applied, a, alen, " shares and weights of %d path(s);", paths);
	if (c->no_path_timeout_ms != lu->cfg.no_path_timeout_ms) {
		lu->cfg.no_path_timeout_ms = c->no_path_timeout_ms;
		SAID(applied, a, alen, " no_path_timeout %u ms;", c->no_path_timeout_ms);
	}
	if (c->max_outstanding != lu->cfg.max_outstanding) {
		lu->cfg.max_outstanding = lu->team.cfg.max_outstanding = c->max_outstanding;
		SAID(applied, a, alen, " max_outstanding %u;", c->max_outstanding);
	}
	if (c->failback != lu->cfg.failback || c->failback_stable_ns != lu->cfg.failback_stable_ns) {
		lu->cfg.failback = lu->team.cfg.failback = c->failback;
		lu->cfg.failback_stable_ns = lu->team.cfg.failback_stable_ns = c->failback_stable_ns;
		SAID(applied, a, alen, " failback %s;", lbfo_failback_name(c->failback));
	}
	if (c->fence != lu->cfg.fence)
		SAID(later, l, llen, " fence;");
	if (c->max_transfer != lu->cfg.max_transfer)
		SAID(later, l, llen, " max_transfer;");
#undef SAID
	if (a || l)
		lu_log(lu, LBFO_LOG_NOTICE, "configuration reloaded:%s%s%s%s",
		       a ? applied : " nothing to change", l ? " -- at the next start only:" : "",
		       l ? later : "", "");
	return a || l;
}
