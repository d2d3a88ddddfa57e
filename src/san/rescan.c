/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rescans: the SAN changes under a running host. A target says so with
 * the unit attention REPORTED LUNS DATA HAS CHANGED (3F/0E) on its
 * sessions; an operator with `lbfoctl rescan`; a timer (rescan_interval)
 * when one is set. Discovery runs again on a thread of its own, with the
 * probes' own sessions (the LUs' I/O goes on, and the loop does not
 * wait); the loop applies what it found:
 *
 *  - a new LU gets its export (over the sessions of a target the host
 *    has, or of a new one);
 *  - an LU that every path's target positively no longer reports (the
 *    probe through that portal answered, without the LU's LUN; or the
 *    portal no longer offers the target) is removed: no new opens, and it
 *    goes once its clients have closed it and nothing of it is in flight.
 *    An LU whose paths could not be probed at all is kept: unreachable is
 *    not gone;
 *  - a removed LU that comes back before it went is served again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "san_internal.h"

struct rescan_job {
	struct lbfo_host *h;
	struct lbfo_host_config cfg;
	char **known;
	int nknown;
	struct lbfo_san *san;
	char warn[8192], err[LBFO_ERR_MAX];
	int rc;
};

static void *rescan_main(void *arg)
{
	struct rescan_job *j = arg;

	j->rc = san_discover(&j->cfg, j->h->env.xops ? &j->h->env : NULL,
			     (const char *const *)j->known, j->nknown, &j->san, j->warn,
			     sizeof(j->warn), j->err, sizeof(j->err));
	pthread_mutex_lock(&j->h->mu);
	j->h->rescan.done = true;
	pthread_mutex_unlock(&j->h->mu);
	host_wake(j->h);
	return NULL;
}

static void job_free(struct rescan_job *j)
{
	int i;

	if (!j)
		return;
	for (i = 0; i < j->nknown; i++)
		free(j->known[i]);
	free(j->known);
	lbfo_san_free(j->san);
	free(j);
}

/* Start one unless one runs (then another follows it). */
void host_rescan(struct lbfo_host *h, const char *why)
{
	struct rescan_job *j;
	int i;

	if (h->rescan.running) {
		h->rescan.again = true;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->known = calloc(h->ntgts ? (size_t)h->ntgts : 1, sizeof(char *)))) {
		free(j);
		host_log(h, LBFO_LOG_WARNING, "rescan (%s): out of memory", why);
		return;
	}
	j->h = h;
	j->cfg = h->cfg; /* discovery reads only what is not an array */
	j->cfg.lus = NULL;
	j->cfg.blacklist = j->cfg.exceptions = NULL;
	j->cfg.nlus = j->cfg.nblacklist = j->cfg.nexceptions = 0;
	for (i = 0; i < h->ntgts; i++)
		if ((j->known[j->nknown] = strdup(lbfo_tgt_name(h->tgts[i]))))
			j->nknown++;
	if (pthread_create(&h->rescan.thread, NULL, rescan_main, j) != 0) {
		host_log(h, LBFO_LOG_WARNING, "rescan (%s): cannot start its thread", why);
		job_free(j);
		return;
	}
	h->rescan.job = j;
	h->rescan.running = true;
	h->rescan.done = false;
	h->rescan.count++;
	host_log(h, LBFO_LOG_INFO, "rescan (%s)", why);
}

/* ---- what it found ---------------------------------------------------------------- */

static bool found(const struct lbfo_san *s, const char *wwid)
{
	int k;

	for (k = 0; k < s->nlus; k++)
		if (!strcmp(s->lus[k].id.id, wwid))
			return true;
	return false;
}

/* Every path of the LU positively gone: its target answered through the
 * path's portal without the LU's LUN, or no longer offers the target. */
static bool gone(const struct lbfo_host *h, const struct lbfo_san *s, const struct host_lu *hl)
{
	int i, total;

	lbfo_lu_paths_ready(hl->lu, &total);
	for (i = 0; i < total; i++) {
		struct lbfo_tgt *t;
		int tpath, lun;

		lbfo_lu_path_info(hl->lu, i, &t, &tpath, &lun);
		if (san_reports(s, lbfo_tgt_name(t), lbfo_tgt_path_cfg(t, tpath), lun) != 0)
			return false;
	}
	(void)h;
	return total > 0;
}

/* What discovery warned of (a path refused, a portal unreachable), a line each. */
static void log_warnings(struct lbfo_host *h, const char *warn)
{
	const char *p = warn, *nl;

	for (; *p; p = nl + 1) {
		nl = strchrnul(p, '\n');
		if (nl > p)
			host_log(h, LBFO_LOG_WARNING, "rescan: %.*s", (int)(nl - p), p);
		if (!*nl)
			break;
	}
}

static void apply(struct lbfo_host *h, struct rescan_job *j)
{
	char err[LBFO_ERR_MAX];
	int k, i, added = 0, removed = 0;

	log_warnings(h, j->warn);
	if (j->rc < 0) {
		host_log(h, LBFO_LOG_WARNING, "rescan: %s", j->err);
		return;
	}
	if (host_add_targets(h, j->san, h->now, err, sizeof(err)) < 0)
		host_log(h, LBFO_LOG_WARNING, "rescan: %s", err);
	for (k = 0; k < j->san->nlus; k++) {
		const struct san_lu *sl = &j->san->lus[k];
		struct host_lu *hl = host_find_lu(h, sl->id.id);

		if (hl && hl->removed) {
			hl->removed = false;
			host_log(h, LBFO_LOG_NOTICE, "LU %s (export %s) is back", hl->wwid, hl->export);
		} else if (!hl) {
			int rc = host_add_lu(h, j->san, sl, h->now, err, sizeof(err));

			if (rc < 0)
				host_log(h, LBFO_LOG_WARNING, "rescan: LU %s: %s", sl->id.id, err);
			if (rc)
				continue; /* failed, or blacklisted */
			hl = host_find_lu(h, sl->id.id);
			if (hl)
				host_log(h, LBFO_LOG_NOTICE, "LU %s found: export %s", hl->wwid,
					 hl->export);
			added++;
		}
	}
	for (i = 0; i < h->nlus; i++) {
		struct host_lu *hl = h->lus[i];

		if (hl->removed || found(j->san, hl->wwid) || !gone(h, j->san, hl))
			continue;
		hl->removed = true;
		removed++;
		host_log(h, LBFO_LOG_NOTICE, "LU %s (export %s) is gone from the SAN: no new opens; "
			 "it goes once its %d client(s) have closed it", hl->wwid, hl->export,
			 hl->nopen);
	}
	host_log(h, LBFO_LOG_INFO, "rescan done: %d LU(s) found, %d removed; %d served", added,
		 removed, h->nlus);
}

/* The loop: a finished rescan is applied (and another started when one
 * was asked for meanwhile); the timer and unit attentions start one. */
void host_rescan_service(struct lbfo_host *h, uint64_t now)
{
	struct rescan_job *j = h->rescan.job;

	if (h->rescan.running && h->rescan.done) {
		pthread_join(h->rescan.thread, NULL);
		h->rescan.running = false;
		h->rescan.job = NULL;
		apply(h, j);
		job_free(j);
		h->rescan.last_ns = now;
		if (h->rescan.again) {
			h->rescan.again = false;
			host_rescan(h, "asked again while one ran");
		}
	}
	if (h->rescan_wanted) {
		h->rescan_wanted = false;
		host_rescan(h, "the target's LUNs changed (unit attention)");
	}
	if (h->cfg.rescan_interval_ms && !h->rescan.running &&
	    now - h->rescan.last_ns >= (uint64_t)h->cfg.rescan_interval_ms * LBFO_NS_PER_MS) {
		h->rescan.last_ns = now;
		host_rescan(h, "rescan_interval");
	}
}

uint64_t host_rescan_next_timer(const struct lbfo_host *h)
{
	if (!h->cfg.rescan_interval_ms || h->rescan.running)
		return UINT64_MAX;
	return h->rescan.last_ns + (uint64_t)h->cfg.rescan_interval_ms * LBFO_NS_PER_MS;
}

/* At the end (the loop has stopped; the lock is not held): wait for a
 * running rescan (bounded by its logins' and commands' timeouts), drop
 * what it found. */
void host_rescan_fini(struct lbfo_host *h)
{
	if (!h->rescan.running)
		return;
	pthread_join(h->rescan.thread, NULL);
	h->rescan.running = false;
	job_free(h->rescan.job);
	h->rescan.job = NULL;
}
