/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Discovery: what the SAN offers this host, found before anything is
 * served. SendTargets on every portal (or the one target configured)
 * says which targets each portal leads to; one probe per (target, portal)
 * lists the target's LUNs (REPORT LUNS, or the one LUN configured) and
 * reads each LUN's identity; the LUs are then grouped by that identity
 * (VPD 0x83 designators, else the VPD 0x80 serial), never by target name
 * or LUN number: the same LU may sit behind different LUN numbers, even
 * different targets, on different ports. Last, for each target, the
 * reinstatement check (probe.c).
 *
 * A target's LUN numbers are the same through each of its portals, so a
 * portal that did not answer still gets a path to each LU the target
 * showed elsewhere: it is logged in later, and its identity checked then.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "san_internal.h"

#define DISCOVER_MAX_TARGETS 256

struct disc {
	const struct lbfo_host_config *hc;
	const struct lbfo_lu_config *c;
	const struct lbfo_lu_env *env;
	char portals[LBFO_MAX_PATHS][LBFO_STR_MAX];
	char why[LBFO_MAX_PATHS][LBFO_ERR_MAX];   /* a portal's discovery failure */
	struct lbfo_san *san;
	struct probe *probes;                       /* per target, per its path */
	int *first;                                 /* target t's probes: probes + first[t] */
	int nprobes;
	char *warn, *err;
	size_t warnlen, errlen, wl;
};

static void warnf(struct disc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warnf(struct disc *d, const char *fmt, ...)
{
	va_list ap;

	if (d->wl >= d->warnlen)
		return;
	va_start(ap, fmt);
	d->wl += (size_t)vsnprintf(d->warn + d->wl, d->warnlen - d->wl, fmt, ap);
	va_end(ap);
	if (d->wl < d->warnlen)
		d->wl += (size_t)snprintf(d->warn + d->wl, d->warnlen - d->wl, "\n");
}

/* ---- targets -------------------------------------------------------------------- */

static struct san_target *target_get(struct disc *d, const char *iqn)
{
	struct lbfo_san *s = d->san;
	struct san_target *t;
	int i;

	for (i = 0; i < s->ntargets; i++)
		if (!strcmp(s->targets[i].iqn, iqn))
			return &s->targets[i];
	if (s->ntargets == DISCOVER_MAX_TARGETS)
		return NULL;
	t = realloc(s->targets, (size_t)(s->ntargets + 1) * sizeof(*t));
	if (!t)
		return NULL;
	s->targets = t;
	t = &s->targets[s->ntargets++];
	memset(t, 0, sizeof(*t));
	snprintf(t->iqn, sizeof(t->iqn), "%s", iqn);
	lbfo_tgt_check_init(&t->chk);
	return t;
}

static void target_add_path(struct san_target *t, int path)
{
	int i;

	for (i = 0; i < t->npaths; i++)
		if (t->paths[i] == path)
			return;
	if (t->npaths < LBFO_MAX_PORTALS)
		t->paths[t->npaths++] = path;
}

/* SendTargets through every portal: which targets each leads to. */
static int find_targets(struct disc *d)
{
	const struct lbfo_lu_config *c = d->c;
	char targets[8192];
	int i, answered = 0;

	for (i = 0; i < c->npaths; i++) {
		const struct lbfo_path_config *pc = &c->paths[i];
		struct lbfo_xport_params xp = {
			.initiator = c->initiator, .portal = d->portals[i],
			.chap_user = pc->chap_user[0] ? pc->chap_user : c->chap_user,
			.chap_password = pc->chap_user[0] ? pc->chap_password : c->chap_password,
		};

		if (d->hc->discovery_chap_user[0]) {
			xp.chap_user = d->hc->discovery_chap_user;
			xp.chap_password = d->hc->discovery_chap_password;
		}
		char *line, *save = NULL;
		int n;

		if (c->target[0]) {
			/* The one target configured, through every portal. */
			d->san->portal_answered[i] = true;
			if (!target_get(d, c->target))
				return -1;
			target_add_path(target_get(d, c->target), i);
			continue;
		}
		n = lbfo_iscsi_discover(&xp, c->login_timeout_ms, targets, sizeof(targets),
					d->why[i], sizeof(d->why[i]));
		if (n <= 0) {
			if (n == 0)
				snprintf(d->why[i], sizeof(d->why[i]), "no target offered");
			warnf(d, "path %s (%s): SendTargets discovery: %s", pc->name, d->portals[i],
			      d->why[i]);
			continue;
		}
		answered++;
		d->san->portal_answered[i] = true;
		for (line = strtok_r(targets, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			struct san_target *t = target_get(d, line);

			if (!t) {
				snprintf(d->err, d->errlen, "more than %d targets", DISCOVER_MAX_TARGETS);
				return -1;
			}
			target_add_path(t, i);
		}
	}
	if (!c->target[0] && !answered) {
		size_t el = (size_t)snprintf(d->err, d->errlen, "no target found: SendTargets "
					     "discovery failed on every portal:");

		for (i = 0; i < c->npaths && el < d->errlen; i++)
			el += (size_t)snprintf(d->err + el, d->errlen - el, " %s (%s): %s;",
					       c->paths[i].name, d->portals[i], d->why[i]);
		return -1;
	}
	return 0;
}

/* ---- probes ---------------------------------------------------------------------- */

static int probe_all(struct disc *d)
{
	struct lbfo_san *s = d->san;
	const struct lbfo_xport_ops *xops = d->env ? d->env->xops : NULL;
	void *xenv = d->env ? d->env->xenv : NULL;
	struct probe **ps;
	uint64_t now = lbfo_now_ns();
	int t, i, n = 0, only = d->c->lun;

	d->first = calloc((size_t)s->ntargets + 1, sizeof(*d->first));
	for (t = 0; t < s->ntargets; t++) {
		d->first[t] = n;
		n += s->targets[t].npaths;
	}
	if (d->first)
		d->first[s->ntargets] = n;
	d->nprobes = n;
	d->probes = calloc(n ? (size_t)n : 1, sizeof(*d->probes));
	ps = calloc(n ? (size_t)n : 1, sizeof(*ps));
	if (!d->first || !d->probes || !ps) {
		d->nprobes = 0;
		free(ps);
		snprintf(d->err, d->errlen, "out of memory");
		return -1;
	}
	for (t = 0; t < s->ntargets; t++)
		for (i = 0; i < s->targets[t].npaths; i++) {
			int k = d->first[t] + i, path = s->targets[t].paths[i];

			probe_init(&d->probes[k], d->c, s->targets[t].iqn, path, d->portals[path],
				   (uint16_t)((t & 0x7f) << 8 | 0x80 | (i & 0x7f)), xops, xenv, now);
			ps[k] = &d->probes[k];
		}
	/* Logins are bounded by login_timeout; the reading by the commands'
	 * own timeout (the probe's cmd_timeout is login_timeout too). */
	probe_run(ps, n, probe_read_all, only >= 0 ? &only : NULL,
		  now + (uint64_t)(2 * d->c->login_timeout_ms + 5000) * LBFO_NS_PER_MS);
	free(ps);
	return 0;
}

/* ---- grouping ---------------------------------------------------------------------- */

static struct san_lu *lu_find(struct lbfo_san *s, const char *id)
{
	int i;

	for (i = 0; i < s->nlus; i++)
		if (!strcmp(s->lus[i].id.id, id))
			return &s->lus[i];
	return NULL;
}

static struct san_lu *lu_new(struct lbfo_san *s, const struct lbfo_lu_ident *id)
{
	struct san_lu *l = realloc(s->lus, (size_t)(s->nlus + 1) * sizeof(*l));

	if (!l)
		return NULL;
	s->lus = l;
	l = &s->lus[s->nlus++];
	memset(l, 0, sizeof(*l));
	l->id = *id;
	return l;
}

static bool lu_has_path(const struct san_lu *l, int target, int tpath)
{
	int i;

	for (i = 0; i < l->npaths; i++)
		if (l->paths[i].target == target && l->paths[i].tpath == tpath)
			return true;
	return false;
}

static void lu_add_path(struct san_lu *l, int target, int tpath, int lun)
{
	if (l->npaths < LBFO_MAX_PATHS && !lu_has_path(l, target, tpath))
		l->paths[l->npaths++] = (struct san_path){ target, tpath, lun };
}

/* With target= and lun= both given the paths must all lead to the one LU
 * the operator named: a different one is an error, as it always was. */
static int one_lu_only(struct disc *d, const struct probe *first, const struct probe_lun *fl,
		       const struct probe *p, const struct probe_lun *pl)
{
	char why[LBFO_ERR_MAX];

	if (lbfo_ident_compare(&fl->id, &pl->id, why, sizeof(why)) == 0)
		return 0;
	snprintf(d->err, d->errlen, "paths lead to different LUs: path %s (%s) and path %s "
		 "(%s): %s", d->c->paths[first->path].name, first->portal, d->c->paths[p->path].name,
		 p->portal, why);
	return -1;
}

static int group_one(struct disc *d, int t, int i, struct probe *p, struct probe_lun *pl,
		     const struct probe **seen_by)
{
	struct lbfo_san *s = d->san;
	struct san_lu *l = lu_find(s, pl->id.id);
	char why[LBFO_ERR_MAX];

	if (!l) {
		if (!(l = lu_new(s, &pl->id)))
			return -1;
		seen_by[l - s->lus] = p;
	} else if (lbfo_ident_compare(&l->id, &pl->id, why, sizeof(why)) < 0) {
		const struct probe *q = seen_by[l - s->lus];

		warnf(d, "LU %s: path %s (%s, target %s, LUN %d) refused: %s (path %s (%s) "
		      "says otherwise)", l->id.id, d->c->paths[p->path].name, p->portal,
		      s->targets[t].iqn, pl->lun, why, q ? d->c->paths[q->path].name : "?",
		      q ? q->portal : "?");
		return 0;
	}
	lu_add_path(l, t, i, pl->lun);
	l->seen++;
	return 0;
}

static int group(struct disc *d)
{
	struct lbfo_san *s = d->san;
	const struct probe **seen_by = NULL;
	const struct probe *first = NULL;
	const struct probe_lun *first_lun = NULL;
	bool narrow = d->c->target[0] && d->c->lun >= 0;
	int t, i, k, rc = -1, cap = 0;

	for (t = 0; t < s->ntargets; t++)
		for (i = 0; i < s->targets[t].npaths; i++) {
			struct probe *p = &d->probes[d->first[t] + i];

			for (k = 0; k < p->nluns; k++) {
				struct probe_lun *pl = &p->luns[k];

				if (pl->rc != 0)
					continue;
				if (narrow && first && one_lu_only(d, first, first_lun, p, pl) < 0)
					goto out;
				if (!first) {
					first = p;
					first_lun = pl;
				}
				if (s->nlus + 1 > cap) {
					cap = cap ? cap * 2 : 64;
					const struct probe **nb = realloc(seen_by,
									  (size_t)cap * sizeof(*nb));

					if (!nb)
						goto oom;
					seen_by = nb;
				}
				if (group_one(d, t, i, p, pl, seen_by) < 0)
					goto oom;
			}
		}
	rc = 0;
	goto out;
oom:
	snprintf(d->err, d->errlen, "out of memory");
out:
	free(seen_by);
	return rc;
}

/* A portal of a target that did not answer: it leads to the same LUNs as
 * the target's others (LUN numbers are the target's, not the portal's). */
static void add_unanswered(struct disc *d)
{
	struct lbfo_san *s = d->san;
	int k, j, i;

	for (k = 0; k < s->nlus; k++) {
		struct san_lu *l = &s->lus[k];
		int n = l->npaths;

		for (j = 0; j < n; j++) {
			struct san_target *t = &s->targets[l->paths[j].target];

			for (i = 0; i < t->npaths; i++) {
				const struct probe *p = &d->probes[d->first[l->paths[j].target] + i];

				if (!p->up || p->down)
					lu_add_path(l, l->paths[j].target, i, l->paths[j].lun);
			}
		}
	}
}

/* The LU's paths in the configuration's order of portals (the first is
 * primary), then by target. */
static int path_cmp(const void *a, const void *b, void *arg)
{
	const struct san_path *x = a, *y = b;
	const struct lbfo_san *s = arg;
	int px = s->targets[x->target].paths[x->tpath], py = s->targets[y->target].paths[y->tpath];

	if (px != py)
		return px < py ? -1 : 1;
	return x->target < y->target ? -1 : x->target > y->target;
}

/* ---- reachability and the checks ------------------------------------------------- */

static void report_unreachable(struct disc *d)
{
	struct lbfo_san *s = d->san;
	int t, i, k;

	for (t = 0; t < s->ntargets; t++)
		for (i = 0; i < s->targets[t].npaths; i++) {
			struct probe *p = &d->probes[d->first[t] + i];

			s->targets[t].chk.reachable[i] = p->up && !p->down;
			s->targets[t].chk.tpgt[i] = p->tpgt;
			s->targets[t].answered[i] = p->done && !p->down && !p->why[0];
			if (s->targets[t].answered[i] && p->nluns &&
			    (s->targets[t].luns[i] = malloc((size_t)p->nluns * sizeof(int)))) {
				for (k = 0; k < p->nluns; k++)
					s->targets[t].luns[i][k] = p->luns[k].lun;
				s->targets[t].nluns[i] = p->nluns;
			}
			if (p->up && !p->down) {
				/* LUNs that are not disks (a controller) are no LU
				 * to serve: said nothing of. */
				for (k = 0; k < p->nluns; k++)
					if (p->luns[k].rc != 0 && !p->luns[k].id.pdt &&
					    !p->luns[k].id.pq)
						warnf(d, "path %s (%s), target %s, LUN %d: %s",
						      d->c->paths[p->path].name, p->portal,
						      s->targets[t].iqn, p->luns[k].lun, p->luns[k].why);
				if (p->why[0])
					warnf(d, "path %s (%s), target %s: %s", d->c->paths[p->path].name,
					      p->portal, s->targets[t].iqn, p->why);
				continue;
			}
			if (!p->why[0])
				snprintf(p->why, sizeof(p->why), "no answer within %u ms",
					 d->c->login_timeout_ms);
			warnf(d, "path %s (%s) unreachable at start-up (target %s): %s",
			      d->c->paths[p->path].name, p->portal, s->targets[t].iqn, p->why);
		}
}

static int nothing_found(struct disc *d)
{
	struct lbfo_san *s = d->san;
	size_t el;
	int t, i;

	if (d->c->target[0] && d->c->lun >= 0)
		el = (size_t)snprintf(d->err, d->errlen, "no portal answered for target %s LUN %d:",
				      d->c->target, d->c->lun);
	else
		el = (size_t)snprintf(d->err, d->errlen, "no LU found%s%s:", d->c->target[0] ?
				      " on target " : "", d->c->target);
	for (t = 0; t < s->ntargets; t++)
		for (i = 0; i < s->targets[t].npaths && el < d->errlen; i++) {
			const struct probe *p = &d->probes[d->first[t] + i];
			const char *why = p->why[0] ? p->why : p->nluns == 0 ? "no LUN reported" :
				p->luns[0].why;

			el += (size_t)snprintf(d->err + el, d->errlen - el, " %s (%s): %s;",
					       d->c->paths[p->path].name, p->portal, why);
		}
	return -1;
}

static void checks(struct disc *d)
{
	struct lbfo_san *s = d->san;
	const struct lbfo_xport_ops *xops = d->env ? d->env->xops : NULL;
	void *xenv = d->env ? d->env->xenv : NULL;
	int t;

	if (d->c->fence != LBFO_FENCE_AUTO && d->c->fence != LBFO_FENCE_REINSTATE)
		return;
	for (t = 0; t < s->ntargets; t++)
		if (!s->targets[t].checked_before)
			probe_check_reinstatement(d->c, s->targets[t].iqn, &d->probes[d->first[t]],
						  s->targets[t].npaths, &s->targets[t].chk, xops, xenv);
}

int lbfo_san_discover(const struct lbfo_host_config *hc, const struct lbfo_lu_env *env,
		      struct lbfo_san **out, char *warn, size_t warnlen, char *err,
		      size_t errlen)
{
	return san_discover(hc, env, NULL, -1, out, warn, warnlen, err, errlen);
}

int san_discover(const struct lbfo_host_config *hc, const struct lbfo_lu_env *env,
		 const char *const *known, int nknown, struct lbfo_san **out, char *warn,
		 size_t warnlen, char *err, size_t errlen)
{
	struct disc d = { .hc = hc, .c = &hc->lu, .env = env, .warn = warn, .err = err,
			  .warnlen = warnlen, .errlen = errlen };
	int i, k, rc = -1;

	*out = NULL;
	if (warnlen)
		warn[0] = '\0';
	if (errlen)
		err[0] = '\0';
	d.san = calloc(1, sizeof(*d.san));
	if (!d.san) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < d.c->npaths; i++)
		if (lbfo_portal_normalise(d.c->paths[i].portal, d.portals[i], sizeof(d.portals[i])) < 0) {
			snprintf(err, errlen, "path %s: portal '%s': write an IPv6 address as "
				 "[ADDRESS]:PORT", d.c->paths[i].name, d.c->paths[i].portal);
			goto out;
		}
	if (find_targets(&d) < 0)
		goto out;
	for (i = 0; i < d.san->ntargets; i++)
		for (k = 0; k < nknown; k++)
			if (!strcmp(d.san->targets[i].iqn, known[k]))
				d.san->targets[i].checked_before = true;
	if (probe_all(&d) < 0)
		goto out;
	report_unreachable(&d);
	if (group(&d) < 0)
		goto out;
	if (!d.san->nlus && nknown < 0) {
		nothing_found(&d);
		goto out;
	}
	add_unanswered(&d);
	for (k = 0; k < d.san->nlus; k++)
		qsort_r(d.san->lus[k].paths, (size_t)d.san->lus[k].npaths, sizeof(struct san_path),
			path_cmp, d.san);
	checks(&d);
	*out = d.san;
	d.san = NULL;
	rc = 0;
out:
	for (i = 0; d.probes && i < d.nprobes; i++)
		probe_fini(&d.probes[i]);
	free(d.probes);
	free(d.first);
	lbfo_san_free(d.san);
	return rc;
}

int lbfo_san_count(const struct lbfo_san *s)
{
	return s ? s->nlus : 0;
}

int lbfo_san_ntargets(const struct lbfo_san *s)
{
	return s ? s->ntargets : 0;
}

const char *lbfo_san_target(const struct lbfo_san *s, int t)
{
	return s->targets[t].iqn;
}

const struct lbfo_lu_ident *lbfo_san_lu(const struct lbfo_san *s, int k)
{
	return &s->lus[k].id;
}

int san_reports(const struct lbfo_san *s, const char *iqn, int cfg, int lun)
{
	int t, i, k;

	for (t = 0; t < s->ntargets; t++) {
		const struct san_target *st = &s->targets[t];

		if (strcmp(st->iqn, iqn))
			continue;
		for (i = 0; i < st->npaths; i++) {
			if (st->paths[i] != cfg)
				continue;
			if (!st->answered[i])
				return -1;
			for (k = 0; k < st->nluns[i]; k++)
				if (st->luns[i][k] == lun)
					return 1;
			return 0;
		}
	}
	/* The target is not offered through that portal any more, if the
	 * portal answered SendTargets at all. */
	return cfg >= 0 && cfg < LBFO_MAX_PATHS && s->portal_answered[cfg] ? 0 : -1;
}

void lbfo_san_free(struct lbfo_san *s)
{
	int t, i;

	if (!s)
		return;
	for (t = 0; t < s->ntargets; t++)
		for (i = 0; i < s->targets[t].npaths; i++)
			free(s->targets[t].luns[i]);
	free(s->targets);
	free(s->lus);
	free(s);
}
