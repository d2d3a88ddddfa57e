/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The LU's loop contract (lbfo/lu.h) and the thread that runs it for
 * lbfo_lu_start(). One service call does, in order: take new requests,
 * serve the control socket and the link watch, service every path
 * session (answers, logins, liveness), the team's timers, the fences, the
 * deadlines, then send what can go. The next timeout is the earliest of
 * every part's timers, so an idle LU sleeps until its next keepalive.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ctlserver.h"
#include "lu_internal.h"

#define TEAM_TICK_NS (100 * LBFO_NS_PER_MS)

int lbfo_lu_pollfds(struct lbfo_lu *lu, struct pollfd *pfd, int max)
{
	int i, n = 0;

	if (lu->wakefd >= 0 && n < max) {
		pfd[n].fd = lu->wakefd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	if (lu->link_fd >= 0 && n < max) {
		pfd[n].fd = lu->link_fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	if (lu->ctl && n < max) {
		pfd[n].fd = lbfo_ctl_server_fd(lu->ctl);
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	for (i = 0; i < lu->npaths && n < max; i++)
		n += lbfo_session_pollfds(&lu->paths[i].s, pfd + n, max - n);
	return n;
}

/* Every 100 ms: the team's timers (failback, dynamic shares), interface
 * counters, rates, the status file. */
static void tick(struct lbfo_lu *lu, uint64_t now)
{
	int i;

	if (now - lu->tick_ns < TEAM_TICK_NS)
		return;
	lu->tick_ns = now;
	if (lu->nadapters && now - lu->adapters_read_ns >= TEAM_TICK_NS) {
		uint64_t b;

		lu->adapters_read_ns = now;
		for (i = 0; i < lu->nadapters; i++)
			if (lu_read_if_bytes(lu->adapters[i].name, &b) == 0)
				lbfo_adapter_set_if_bytes(&lu->adapters[i], b);
	}
	lbfo_team_tick(&lu->team, now);
	lu_rates_tick(lu, now);
	if (lu->cfg.status_file[0] &&
	    now - lu->status_written_ns >= ms_ns(lu->cfg.status_interval_ms)) {
		lu->status_written_ns = now;
		lu_write_status_file(lu);
	}
}

void lbfo_lu_service(struct lbfo_lu *lu, const struct pollfd *pfd, int n, uint64_t now)
{
	uint64_t v;

	lu->now = now;
	if (lu->wakefd >= 0 && (lbfo_pollfd_revents(pfd, n, lu->wakefd) & POLLIN) &&
	    read(lu->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		/* nothing to do: the wake-up counter was already drained */
	}
	lu_take_submissions(lu);
	if (lu->ctl && ((lbfo_pollfd_revents(pfd, n, lbfo_ctl_server_fd(lu->ctl)) & POLLIN) ||
			now >= lbfo_ctl_server_next_deadline(lu->ctl)))
		lbfo_ctl_server_service(lu->ctl, now);
	/* Before the paths are serviced: a link that went down fails its
	 * paths now, not after nop_timeout. */
	if (lu->link_fd >= 0 && (lbfo_pollfd_revents(pfd, n, lu->link_fd) & POLLIN))
		lu_link_input(lu);
	if (lu->dead)
		return;
	lu_paths_service(lu, pfd, n, now);
	tick(lu, now);
	lu_fence_tick(lu, now);
	lu_expire(lu, now);
	lu_dispatch(lu, now);
	lu_update_urgency(lu);
}

int lbfo_lu_next_timeout(struct lbfo_lu *lu, uint64_t now)
{
	uint64_t t = lu->tick_ns + TEAM_TICK_NS, x;

	if (lu->ctl && (x = lbfo_ctl_server_next_deadline(lu->ctl)) < t)
		t = x;
	if (lu->dead)
		return t <= now ? 0 : 1000;
	if ((x = lu_paths_next_timer(lu)) < t)
		t = x;
	if ((x = lu_fence_next_timer(lu)) < t)
		t = x;
	if ((x = lu_dispatch_next_timer(lu)) < t)
		t = x;
	if (t <= now)
		return 0;
	/* +1: a deadline is due when now > deadline in some checks. */
	return (int)((t - now + LBFO_NS_PER_MS - 1) / LBFO_NS_PER_MS);
}

/* ---- the runner thread -------------------------------------------------------- */

#define MAX_FDS (3 + 2 * LBFO_MAX_MEMBERS)

static void *loop_main(void *arg)
{
	struct lbfo_lu *lu = arg;
	struct pollfd pfd[MAX_FDS];

	for (;;) {
		int n, timeout, rc;
		bool stop;

		pthread_mutex_lock(&lu->mu);
		n = lbfo_lu_pollfds(lu, pfd, MAX_FDS);
		timeout = lbfo_lu_next_timeout(lu, lbfo_now_ns());
		stop = lu->stopping;
		pthread_mutex_unlock(&lu->mu);
		if (stop)
			break;
		rc = lu->poll(pfd, (nfds_t)n, timeout);
		pthread_mutex_lock(&lu->mu);
		if (rc < 0 && errno != EINTR) {
			char why[LBFO_ERR_MAX];

			/* Nothing can be serviced any more: every I/O, queued,
			 * in flight or later, fails with EIO, and the log says why. */
			snprintf(why, sizeof(why), "event loop: poll: %s", strerror(errno));
			lbfo_lu_fatal(lu, why);
			pthread_mutex_unlock(&lu->mu);
			break;
		}
		lbfo_lu_service(lu, pfd, rc > 0 ? n : 0, lbfo_now_ns());
		pthread_mutex_unlock(&lu->mu);
	}
	return NULL;
}

struct lbfo_lu *lbfo_lu_start_env(const struct lbfo_lu_config *c, const struct lbfo_lu_probe *pr,
				  const struct lbfo_lu_env *env, char *err, size_t errlen)
{
	struct lbfo_lu *lu = lbfo_lu_create(c, pr, env, lbfo_now_ns(), err, errlen);

	if (!lu)
		return NULL;
	lu->poll = env && env->poll ? env->poll : poll;
	lu->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lu->wakefd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (!(env && env->no_control)) {
		if (lu_surface_open(lu, err, errlen) < 0)
			goto fail;
		lu->link_fd = c->link_watch ? lu_link_open() : -1;
		if (c->link_watch && lu->link_fd < 0)
			lu_log(lu, LBFO_LOG_WARNING, "link watch off: rtnetlink: %s; a link going "
			       "down is noticed by nop_timeout", strerror(errno));
	}
	if (lbfo_lu_lock(lu, err, errlen) < 0)
		goto fail;
	if (pthread_create(&lu->thread, NULL, loop_main, lu) != 0) {
		snprintf(err, errlen, "cannot start the event loop thread");
		goto fail;
	}
	lu->started = true;
	return lu;
fail:
	/* The control socket and metrics server here; destroy closes the
	 * link watch and the eventfd. */
	lu_surface_close(lu);
	lbfo_lu_destroy(lu);
	return NULL;
}

struct lbfo_lu *lbfo_lu_start(const struct lbfo_lu_config *c, const struct lbfo_lu_probe *pr,
			      char *err, size_t errlen)
{
	return lbfo_lu_start_env(c, pr, NULL, err, errlen);
}

void lbfo_lu_stop(struct lbfo_lu *lu)
{
	uint64_t one = 1;

	if (!lu)
		return;
	pthread_mutex_lock(&lu->mu);
	lu->stopping = true;
	pthread_mutex_unlock(&lu->mu);
	if (lu->wakefd >= 0 && write(lu->wakefd, &one, sizeof(one)) < 0) {
		/* saturated: a wake-up is pending anyway */
	}
	if (lu->started)
		pthread_join(lu->thread, NULL);
	lu_surface_close(lu);
	lbfo_lu_destroy(lu);
}
