/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The LU's life cycle and its thread-safe API: create (team, adapters,
 * fencing, its paths over its targets' sessions), destroy, the ends of
 * every state (shutdown, a fatal loop error), clients, waiting for paths,
 * operator actions taken under the LU's lock.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lbfo/policy.h"
#include "lu_internal.h"

#define DEFAULT_MAX_XFER (1u << 20)

/* rx + tx bytes of a network interface. */
int lu_read_if_bytes(const char *ifname, uint64_t *bytes)
{
	static const char *const which[] = { "rx_bytes", "tx_bytes" };
	char path[LBFO_STR_MAX];
	uint64_t sum = 0;
	int i;

	for (i = 0; i < 2; i++) {
		unsigned long long v;
		FILE *f;
		int ok;

		snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, which[i]);
		f = fopen(path, "r");
		if (!f)
			return -1;
		ok = fscanf(f, "%llu", &v) == 1;
		fclose(f);
		if (!ok) {
			errno = EINVAL;
			return -1;
		}
		sum += v;
	}
	*bytes = sum;
	return 0;
}

static int setup_team(struct lbfo_lu *lu, uint64_t now, char *err, size_t errlen)
{
	const struct lbfo_lu_config *c = &lu->cfg;
	struct lbfo_team_config tc = {
		.max_outstanding = c->max_outstanding,
		.failback = c->failback,
		.failback_stable_ns = c->failback_stable_ns,
	};
	struct lbfo_kv kv[LBFO_MAX_POLICY_KV];
	int i;

	for (i = 0; i < c->npolicy_kv; i++) {
		kv[i].key = c->policy_keys[i];
		kv[i].value = c->policy_values[i];
	}
	if (lbfo_team_init(&lu->team, lu->ident.id, &tc, c->policy, kv, (size_t)c->npolicy_kv) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
		return -1;
	}
	/* Members in the paths' order: the first is primary.
	 * They start failed and are restored as their paths come up. */
	for (i = 0; i < lu->npaths; i++) {
		const struct lbfo_path_config *pc = &lu->paths[i].cfg;

		if (lbfo_team_add_member(&lu->team, pc->name, pc->read_share_bp, pc->write_share_bp,
					 now) < 0 ||
		    lbfo_team_set_weight(&lu->team, i, pc->weight ? pc->weight : 1, now) < 0) {
			snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
			return -1;
		}
	}
	for (i = 0; i < lu->npaths; i++)
		lbfo_team_member_failed(&lu->team, i, -1, now, NULL);
	lu->team.failovers = 0;
	for (i = 0; i < lu->npaths; i++)
		lu->team.m[i].st.failures = 0;
	return 0;
}

/* Paths through a named interface share one adapter per interface, fed
 * from the interface's own counters. */
static int setup_adapters(struct lbfo_lu *lu, char *err, size_t errlen)
{
	int i, k;

	for (i = 0; i < lu->npaths; i++) {
		const struct lbfo_path_config *pc = &lu->paths[i].cfg;

		if (!pc->interface[0])
			continue;
		for (k = 0; k < lu->nadapters && strcmp(lu->adapters[k].name, pc->interface); k++)
			;
		if (k == lu->nadapters) {
			uint64_t b;

			lbfo_adapter_init(&lu->adapters[k], pc->interface);
			if (lu_read_if_bytes(pc->interface, &b) < 0) {
				snprintf(err, errlen, "path %s: interface '%s' has no byte counters "
					 "(/sys/class/net/%s/statistics): %s", pc->name,
					 pc->interface, pc->interface, strerror(errno));
				return -1;
			}
			lbfo_adapter_set_if_bytes(&lu->adapters[k], b);
			lu->nadapters++;
		}
		lbfo_member_set_adapter(&lu->team, i, &lu->adapters[k]);
	}
	return 0;
}

static uint32_t max_transfer(const struct lbfo_lu_config *c, const struct lbfo_lu_ident *id)
{
	uint32_t mx = c->max_transfer ? c->max_transfer : DEFAULT_MAX_XFER;

	if (id->max_xfer_blocks && (uint64_t)id->max_xfer_blocks * id->block_size < mx)
		mx = id->max_xfer_blocks * id->block_size;
	mx -= mx % id->block_size;
	return mx < id->block_size ? id->block_size : mx;
}

/* The LU's paths over its targets' sessions; a portal reached through
 * two targets gives two paths, the second named NAME.2. */
static int setup_paths(struct lbfo_lu *lu, const struct lbfo_lu_pathspec *ps, int nps,
		       char *err, size_t errlen)
{
	int i, k;

	lu->paths = calloc((size_t)nps, sizeof(*lu->paths));
	if (!lu->paths) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	lu->npaths = nps;
	for (i = 0; i < nps; i++) {
		struct lu_path *p = &lu->paths[i];
		int dup = 1;

		if (!ps[i].tgt || ps[i].tpath < 0 || ps[i].tpath >= ps[i].tgt->npaths) {
			snprintf(err, errlen, "LU %s: path %d: no such target path", lu->ident.id, i);
			return -1;
		}
		p->idx = i;
		p->lu = lu;
		p->tp = &ps[i].tgt->paths[ps[i].tpath];
		p->s = &p->tp->s;
		p->lun = ps[i].lun;
		p->cfg = lu->cfg.paths[p->tp->cfg_idx];
		p->alua = LBFO_ALUA_NONE;
		snprintf(p->portal, sizeof(p->portal), "%s", p->tp->portal);
		for (k = 0; k < i; k++)
			dup += lu->paths[k].tp->cfg_idx == p->tp->cfg_idx;
		if (dup > 1)
			snprintf(p->cfg.name, sizeof(p->cfg.name), "%.*s.%d", LBFO_NAME_MAX - 5,
				 lu->cfg.paths[p->tp->cfg_idx].name, dup % 100);
	}
	return 0;
}

static void free_lu(struct lbfo_lu *lu)
{
	lu_fence_fini(lu);
	lbfo_team_destroy(&lu->team);
	pthread_mutex_destroy(&lu->sub_mu);
	pthread_mutex_destroy(&lu->own_mu);
	pthread_cond_destroy(&lu->paths_cv);
	free(lu->paths);
	free(lu);
}

struct lbfo_lu *lbfo_lu_create(const struct lbfo_lu_config *c, const struct lbfo_lu_ident *id,
			       const struct lbfo_lu_pathspec *ps, int nps,
			       const struct lbfo_lu_env *env, uint64_t now,
			       char *err, size_t errlen)
{
	struct lbfo_lu *lu = calloc(1, sizeof(*lu));
	int i;

	if (!lu) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (nps < 1 || nps > LBFO_MAX_PATHS) {
		snprintf(err, errlen, "LU %s: %d paths (1 to %d)", id->id, nps, LBFO_MAX_PATHS);
		free(lu);
		return NULL;
	}
	lu->cfg = *c;
	lu->ident = *id;
	lu->target_blocks = id->blocks;
	lu->max_xfer = max_transfer(c, id);
	lu->queueing = true;
	lu->now = now;
	lu->fence.lock_fd = -1;
	lu->wake = env ? env->wake : NULL;
	lu->wake_arg = env ? env->wake_arg : NULL;
	pthread_mutex_init(&lu->sub_mu, NULL);
	pthread_mutex_init(&lu->own_mu, NULL);
	pthread_cond_init(&lu->paths_cv, NULL);
	lu->mu = env && env->lock ? env->lock : &lu->own_mu;
	/* A shared loop (the host's, on the real clock; the tests that drive
	 * an LU's loop on a fake clock give no lock): submitters may send. */
	lu->inline_submit = env && env->lock && env->wake;
	if (setup_paths(lu, ps, nps, err, errlen) < 0 || setup_team(lu, now, err, errlen) < 0 ||
	    setup_adapters(lu, err, errlen) < 0 || lu_fence_init(lu, err, errlen) < 0) {
		free_lu(lu);
		return NULL;
	}
	lu->tick_ns = now;
	/* Over the targets' sessions: from now on the LU hears of them. */
	for (i = 0; i < lu->npaths; i++)
		tgt_attach(lu->paths[i].tp, &lu->paths[i]);
	return lu;
}

pthread_mutex_t *lbfo_lu_mutex(struct lbfo_lu *lu)
{
	return lu->mu;
}

/* Fail every command the LU holds, in any state, with `err`: the queue,
 * the parked writes, and what is in flight. What is in flight is given
 * back only once the sessions no longer reference it: the owner has shut
 * the LU's targets down (lbfo_tgt_shutdown) first, or nothing of the LU
 * is in flight. */
static int fail_everything(struct lbfo_lu *lu, int err)
{
	int i, n = lu_fail_waiting(lu, err);

	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *p = &lu->paths[i];
		struct lbfo_cmd *ret = NULL, *rc, *rn;

		/* A write in flight owes a fence, for a successor to pay. */
		if (lu->team.m[p->idx].state != LBFO_MS_FAILED)
			lbfo_team_member_failed(&lu->team, p->idx, -1, lu->now, &ret);
		for (rc = ret; rc; rc = rn) {
			struct lu_cmd *c = (struct lu_cmd *)((char *)rc - offsetof(struct lu_cmd, core));

			rn = rc->retry_next;
			if (c->type != LBFO_IO_READ)
				lu->fence.unclean = true; /* a successor fences it */
			c->in_team = false;
			lu_cmd_done(lu, c, err);
			n++;
		}
		p->st = p->st == LP_REFUSED ? LP_REFUSED : LP_DOWN;
	}
	return n;
}

void lbfo_lu_destroy(struct lbfo_lu *lu)
{
	struct lbfo_io *io, *next;
	int i;

	if (!lu)
		return;
	/* Nothing may be left waiting forever. */
	for (io = lu_detach_submissions(lu); io; io = next) {
		next = io->next;
		io->result = -ESHUTDOWN;
		lu_io_finish(io);
	}
	fail_everything(lu, -ESHUTDOWN);
	for (i = 0; i < lu->npaths; i++)
		tgt_detach(lu->paths[i].tp, &lu->paths[i]);
	free_lu(lu);
}

static void go_dead(struct lbfo_lu *lu, int err, const char *why)
{
	struct lbfo_io *io, *next;
	int n;

	if (lu->dead)
		return;
	/* Under the submission lock: a submit either lands in the list
	 * drained below, or sees `dead` and fails at once. */
	pthread_mutex_lock(&lu->sub_mu);
	lu->dead = err;
	pthread_mutex_unlock(&lu->sub_mu);
	for (io = lu_detach_submissions(lu); io; io = next) {
		next = io->next;
		io->result = err;
		lu_io_finish(io);
	}
	snprintf(lu->dead_why, sizeof(lu->dead_why), "%s", why);
	n = fail_everything(lu, err);
	lu_log(lu, err == -ESHUTDOWN ? LBFO_LOG_NOTICE : LBFO_LOG_ERR,
	       "%s: %d command(s) failed with %s; every later I/O fails at once", why, n,
	       err == -ESHUTDOWN ? "ESHUTDOWN" : "EIO");
	pthread_cond_broadcast(&lu->paths_cv);
}

void lbfo_lu_fatal(struct lbfo_lu *lu, const char *why)
{
	go_dead(lu, -EIO, why);
}

void lbfo_lu_shutdown(struct lbfo_lu *lu, const char *why)
{
	go_dead(lu, -ESHUTDOWN, why);
}

int lbfo_lu_client_open(struct lbfo_lu *lu)
{
	int i;

	pthread_mutex_lock(lu->mu);
	for (i = 0; i < LBFO_MAX_CLIENTS && lu->clients[i].open; i++)
		;
	if (i < LBFO_MAX_CLIENTS) {
		memset(&lu->clients[i], 0, sizeof(lu->clients[i]));
		lu->clients[i].open = true;
		lu->clients_total++;
	} else {
		i = -1;
	}
	pthread_mutex_unlock(lu->mu);
	return i;
}

void lbfo_lu_client_close(struct lbfo_lu *lu, int id)
{
	if (id < 0 || id >= LBFO_MAX_CLIENTS)
		return;
	pthread_mutex_lock(lu->mu);
	lu->clients[id].open = false;
	pthread_mutex_unlock(lu->mu);
}

int lbfo_lu_wait_paths(struct lbfo_lu *lu, int want, uint32_t timeout_ms)
{
	struct timespec ts;
	int i, up = 0;

	lu_deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(lu->mu);
	for (;;) {
		up = 0;
		for (i = 0; i < lu->npaths; i++)
			up += lu_path_ready(&lu->paths[i]);
		if (up >= want || lu->dead)
			break;
		if (pthread_cond_timedwait(&lu->paths_cv, lu->mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(lu->mu);
	return up;
}

const struct lbfo_lu_ident *lbfo_lu_identity(const struct lbfo_lu *lu)
{
	return &lu->ident;
}

int lbfo_lu_set_policy(struct lbfo_lu *lu, const char *policy,
		       const struct lbfo_kv *kv, size_t nkv, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(lu->mu);
	rc = lbfo_team_set_policy(&lu->team, policy, kv, nkv, lbfo_now_ns());
	if (rc < 0)
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
	else
		lu_log(lu, LBFO_LOG_NOTICE, "policy set to %s (operator)", policy);
	pthread_mutex_unlock(lu->mu);
	return rc;
}

int lu_set_queueing(struct lbfo_lu *lu, bool on)
{
	int n = 0;

	lu->queueing = on;
	if (!on) {
		n = lu_fail_waiting(lu, -EIO);
		lu_log(lu, LBFO_LOG_WARNING, "queueing off (operator): %d waiting command(s) "
		       "failed with EIO; new I/O fails at once while no path can carry it", n);
	} else {
		lu_log(lu, LBFO_LOG_NOTICE, "queueing on (operator): I/O waits up to %u ms "
		       "for a path", lu->cfg.no_path_timeout_ms);
	}
	return n;
}

int lbfo_lu_set_queueing(struct lbfo_lu *lu, bool on)
{
	int n;

	pthread_mutex_lock(lu->mu);
	n = lu_set_queueing(lu, on);
	pthread_mutex_unlock(lu->mu);
	return n;
}
