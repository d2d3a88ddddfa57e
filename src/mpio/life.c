/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The LU's life cycle and its thread-safe API: create (team, adapters,
 * fencing, one path session per path), destroy, the ends of every state
 * (shutdown, a fatal loop error), clients, waiting for paths, operator
 * actions taken under the LU's lock.
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
	if (lbfo_team_init(&lu->team, c->target, &tc, c->policy, kv, (size_t)c->npolicy_kv) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
		return -1;
	}
	/* Members in configuration order: the first is primary.
	 * They start failed and are restored as their paths come up. */
	for (i = 0; i < c->npaths; i++) {
		if (lbfo_team_add_member(&lu->team, c->paths[i].name, c->paths[i].read_share_bp,
					 c->paths[i].write_share_bp, now) < 0 ||
		    lbfo_team_set_weight(&lu->team, i, c->paths[i].weight ? c->paths[i].weight : 1,
					 now) < 0) {
			snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
			return -1;
		}
	}
	for (i = 0; i < c->npaths; i++)
		lbfo_team_member_failed(&lu->team, i, -1, now, NULL);
	lu->team.failovers = 0;
	for (i = 0; i < c->npaths; i++)
		lu->team.m[i].st.failures = 0;
	return 0;
}

/* Paths through a named interface share one adapter per interface, fed
 * from the interface's own counters. */
static int setup_adapters(struct lbfo_lu *lu, char *err, size_t errlen)
{
	const struct lbfo_lu_config *c = &lu->cfg;
	int i, k;

	for (i = 0; i < c->npaths; i++) {
		if (!c->paths[i].interface[0])
			continue;
		for (k = 0; k < lu->nadapters && strcmp(lu->adapters[k].name, c->paths[i].interface); k++)
			;
		if (k == lu->nadapters) {
			uint64_t b;

			lbfo_adapter_init(&lu->adapters[k], c->paths[i].interface);
			if (lu_read_if_bytes(c->paths[i].interface, &b) < 0) {
				snprintf(err, errlen, "path %s: interface '%s' has no byte counters "
					 "(/sys/class/net/%s/statistics): %s", c->paths[i].name,
					 c->paths[i].interface, c->paths[i].interface, strerror(errno));
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

struct lbfo_lu *lbfo_lu_create(const struct lbfo_lu_config *c, const struct lbfo_lu_probe *pr,
			       const struct lbfo_lu_env *env, uint64_t now,
			       char *err, size_t errlen)
{
	struct lbfo_lu *lu = calloc(1, sizeof(*lu));
	int i;

	if (!lu) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	lu->cfg = *c;
	lu->probe = *pr;
	lu->ident = pr->ident;
	lu->target_blocks = pr->ident.blocks;
	lu->max_xfer = max_transfer(c, &pr->ident);
	lu->xops = env && env->xops ? env->xops : &lbfo_xport_libiscsi;
	lu->xenv = env ? env->xenv : NULL;
	lu->queueing = true;
	lu->now = now;
	lu->wakefd = lu->link_fd = lu->fence.lock_fd = -1;
	if (lu_log_init(lu) < 0) {
		snprintf(err, errlen, "out of memory");
		free(lu);
		return NULL;
	}
	pthread_mutex_init(&lu->sub_mu, NULL);
	pthread_mutex_init(&lu->mu, NULL);
	pthread_cond_init(&lu->paths_cv, NULL);
	if (setup_team(lu, now, err, errlen) < 0) {
		lbfo_events_destroy(&lu->events);
		free(lu);
		return NULL;
	}
	lu->npaths = c->npaths;
	for (i = 0; i < c->npaths; i++) {
		struct lu_path *p = &lu->paths[i];

		p->idx = i;
		p->lu = lu;
		p->cfg = c->paths[i];
		p->tpgt = pr->tpgt[i];
		p->alua = LBFO_ALUA_NONE;
		if (lbfo_portal_normalise(p->cfg.portal, p->portal, sizeof(p->portal)) < 0) {
			snprintf(err, errlen, "path %s: portal '%s': write an IPv6 address as "
				 "[ADDRESS]:PORT", p->cfg.name, p->cfg.portal);
			goto fail;
		}
	}
	if (setup_adapters(lu, err, errlen) < 0 || lu_fence_init(lu, pr, err, errlen) < 0)
		goto fail;
	for (i = 0; i < c->npaths; i++)
		lu_path_init_session(lu, &lu->paths[i], now);
	lu->tick_ns = now;
	return lu;
fail:
	lu_fence_fini(lu);
	lbfo_team_destroy(&lu->team);
	lbfo_events_destroy(&lu->events);
	pthread_mutex_destroy(&lu->sub_mu);
	pthread_mutex_destroy(&lu->mu);
	pthread_cond_destroy(&lu->paths_cv);
	free(lu);
	return NULL;
}

/* Fail every command the LU holds, in any state, with `err`: the queue,
 * the parked writes, and what is in flight (the paths are abandoned). */
static int fail_everything(struct lbfo_lu *lu, int err)
{
	int i, n = lu_fail_waiting(lu, err);

	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *p = &lu->paths[i];
		struct lbfo_cmd *ret = NULL, *rc, *rn;

		/* In flight: the session is given up first (so no buffer is
		 * referenced any more), then the team hands the commands back.
		 * A write in flight owes a fence, for a successor to pay. */
		lbfo_session_destroy(&p->s);
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

	if (!lu)
		return;
	/* Nothing may be left waiting forever. */
	for (io = lu_detach_submissions(lu); io; io = next) {
		next = io->next;
		io->result = -ESHUTDOWN;
		lu_io_finish(io);
	}
	fail_everything(lu, -ESHUTDOWN);
	lu_fence_fini(lu);
	lbfo_team_destroy(&lu->team);
	if (lu->link_fd >= 0)
		close(lu->link_fd);
	if (lu->wakefd >= 0)
		close(lu->wakefd);
	pthread_mutex_destroy(&lu->sub_mu);
	pthread_mutex_destroy(&lu->mu);
	pthread_cond_destroy(&lu->paths_cv);
	lbfo_events_destroy(&lu->events);
	free(lu);
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
	pthread_mutex_lock(&lu->mu);
	go_dead(lu, -ESHUTDOWN, why);
	pthread_mutex_unlock(&lu->mu);
}

int lbfo_lu_client_open(struct lbfo_lu *lu)
{
	int i;

	pthread_mutex_lock(&lu->mu);
	for (i = 0; i < LBFO_MAX_CLIENTS && lu->clients[i].open; i++)
		;
	if (i < LBFO_MAX_CLIENTS) {
		memset(&lu->clients[i], 0, sizeof(lu->clients[i]));
		lu->clients[i].open = true;
		lu->clients_total++;
	} else {
		i = -1;
	}
	pthread_mutex_unlock(&lu->mu);
	return i;
}

void lbfo_lu_client_close(struct lbfo_lu *lu, int id)
{
	if (id < 0 || id >= LBFO_MAX_CLIENTS)
		return;
	pthread_mutex_lock(&lu->mu);
	lu->clients[id].open = false;
	pthread_mutex_unlock(&lu->mu);
}

int lbfo_lu_wait_paths(struct lbfo_lu *lu, int want, uint32_t timeout_ms)
{
	struct timespec ts;
	int i, up = 0;

	lu_deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&lu->mu);
	for (;;) {
		up = 0;
		for (i = 0; i < lu->npaths; i++)
			up += lu_path_ready(&lu->paths[i]);
		if (up >= want || lu->dead)
			break;
		if (pthread_cond_timedwait(&lu->paths_cv, &lu->mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&lu->mu);
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

	pthread_mutex_lock(&lu->mu);
	rc = lbfo_team_set_policy(&lu->team, policy, kv, nkv, lbfo_now_ns());
	if (rc < 0)
		snprintf(err, errlen, "%s", lbfo_team_error(&lu->team));
	else
		lu_log(lu, LBFO_LOG_NOTICE, "policy set to %s (operator)", policy);
	pthread_mutex_unlock(&lu->mu);
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

	pthread_mutex_lock(&lu->mu);
	n = lu_set_queueing(lu, on);
	pthread_mutex_unlock(&lu->mu);
	return n;
}
