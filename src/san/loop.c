/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's life and loop: every target and LU that discovery found, on
 * one loop. The targets own the path sessions (one per portal, shared by
 * the target's LUs); the LUs own their queues, teams and fences; the host
 * runs the loop contract of all of them, the link watch, the control
 * socket and the metrics.
 *
 * One service call: take wake-ups, serve the control socket and the link
 * watch, service every target's sessions (their events reach the LUs over
 * them), then every LU (new requests, timers, dispatch), starting with a
 * different LU each time so that none is always first to fill a shared
 * session. An idle host sleeps until the earliest timer of all of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ctlserver.h"
#include "san_internal.h"

struct lbfo_host *lbfo_host_create(const struct lbfo_host_config *c, struct lbfo_san *san,
				   const struct lbfo_lu_env *env, bool no_surface,
				   uint64_t now, char *err, size_t errlen)
{
	struct lbfo_host *h = calloc(1, sizeof(*h));
	struct lbfo_lu_env e = { 0 };

	if (!h || host_log_init(h) < 0) {
		free(h);
		lbfo_san_free(san);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->now = h->started_ns = h->rescan.last_ns = now;
	if (lbfo_host_config_copy(&h->cfg, c) < 0) {
		free(h);
		lbfo_san_free(san);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->link_fd = -1;
	h->guest.fd = -1;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (env)
		e = *env;
	e.lock = &h->mu;
	e.wake = host_wake;
	e.wake_arg = h;
	if (h->wakefd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	/* The control socket first: a second instance on the same socket is
	 * told so before anything else. */
	if (!no_surface && host_surface_open(h, err, errlen) < 0)
		goto fail;
	h->env = e;
	if (host_add_targets(h, san, now, err, errlen) < 0 ||
	    host_add_lus(h, san, now, err, errlen) < 0)
		goto fail;
	if (!no_surface) {
		h->link_fd = c->lu.link_watch ? host_link_open() : -1;
		if (c->lu.link_watch && h->link_fd < 0)
			host_log(h, LBFO_LOG_WARNING, "link watch off: rtnetlink: %s; a link going "
				 "down is noticed by nop_timeout", strerror(errno));
	}
	lbfo_san_free(san);
	return h;
fail:
	lbfo_san_free(san);
	lbfo_host_destroy(h);
	return NULL;
}

void lbfo_host_destroy(struct lbfo_host *h)
{
	int i;

	if (!h)
		return;
	host_rescan_fini(h);
	host_surface_close(h);
	/* The sessions first: nothing references the LUs' buffers any more;
	 * then every LU fails what it holds and goes. */
	for (i = 0; i < h->ntgts; i++)
		lbfo_tgt_shutdown(h->tgts[i]);
	for (i = 0; i < h->nlus; i++) {
		lbfo_lu_destroy(h->lus[i]->lu);
		free(h->lus[i]);
	}
	for (i = 0; i < h->ntgts; i++)
		lbfo_tgt_destroy(h->tgts[i]);
	free(h->lus);
	free(h->tgts);
	for (i = 0; i < h->nlocks; i++)
		close(h->lock_fds[i]);
	if (h->link_fd >= 0)
		close(h->link_fd);
	if (h->wakefd >= 0)
		close(h->wakefd);
	lbfo_events_destroy(&h->events);
	lbfo_host_config_free(&h->cfg);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

/* ---- the loop contract ------------------------------------------------------------ */

int lbfo_host_pollfds(struct lbfo_host *h, struct pollfd *pfd, int max)
{
	int i, n = 0;

	if (h->wakefd >= 0 && n < max) {
		pfd[n].fd = h->wakefd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	if (h->guest.fd >= 0 && n < max) {
		pfd[n].fd = h->guest.fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	if (h->link_fd >= 0 && n < max) {
		pfd[n].fd = h->link_fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	if (h->ctl && n < max) {
		pfd[n].fd = lbfo_ctl_server_fd(h->ctl);
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	for (i = 0; i < h->ntgts && n < max; i++)
		n += lbfo_tgt_pollfds(h->tgts[i], pfd + n, max - n);
	return n;
}

/* An LU gone from the SAN goes once nobody has it open and nothing of it
 * is in flight. */
static void reap_removed(struct lbfo_host *h)
{
	int i;

	for (i = 0; i < h->nlus; i++) {
		struct host_lu *hl = h->lus[i];

		if (!hl->removed || hl->nopen || !lbfo_lu_idle(hl->lu))
			continue;
		host_log(h, LBFO_LOG_NOTICE, "LU %s (export %s) removed", hl->wwid, hl->export);
		lbfo_lu_destroy(hl->lu);
		free(hl);
		h->lus[i--] = h->lus[--h->nlus];
	}
}

void lbfo_host_service(struct lbfo_host *h, const struct pollfd *pfd, int n, uint64_t now)
{
	uint64_t v;
	int i;

	h->now = now;
	if (h->wakefd >= 0 && (lbfo_pollfd_revents(pfd, n, h->wakefd) & POLLIN) &&
	    read(h->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		/* nothing to do: the wake-up counter was already drained */
	}
	if (h->ctl && ((lbfo_pollfd_revents(pfd, n, lbfo_ctl_server_fd(h->ctl)) & POLLIN) ||
		       now >= lbfo_ctl_server_next_deadline(h->ctl)))
		lbfo_ctl_server_service(h->ctl, now);
	/* Before the sessions are serviced: a link that went down fails its
	 * sessions now, not after nop_timeout. */
	if (h->link_fd >= 0 && (lbfo_pollfd_revents(pfd, n, h->link_fd) & POLLIN))
		h->link_downs += (uint64_t)host_link_input(h->link_fd, h->tgts, h->ntgts);
	for (i = 0; i < h->ntgts && !h->dead; i++)
		lbfo_tgt_service(h->tgts[i], pfd, n, now);
	if (h->guest.service)
		h->guest.service(h->guest.arg,
				 (lbfo_pollfd_revents(pfd, n, h->guest.fd) & POLLIN) != 0, now);
	for (i = 0; i < h->nlus; i++) {
		struct host_lu *hl = h->lus[(h->rr + i) % h->nlus];

		lbfo_lu_service(hl->lu, now);
		if (lbfo_lu_luns_changed(hl->lu))
			h->rescan_wanted = true;
	}
	/* What the LUs sent goes out now, not after another pass of poll
	 * for POLLOUT (what does not fit in the socket waits for it). */
	for (i = 0; i < h->ntgts && !h->dead; i++)
		lbfo_tgt_flush(h->tgts[i]);
	if (h->guest.flush)
		h->guest.flush(h->guest.arg, now);
	if (h->nlus)
		h->rr = (h->rr + 1) % h->nlus;
	if (h->reload_asked) {
		FILE *sink = fopen("/dev/null", "w");
		char err[LBFO_ERR_MAX];

		h->reload_asked = 0;
		host_log(h, LBFO_LOG_NOTICE, "SIGHUP: reloading the configuration");
		if (sink) {
			host_reload(h, sink, err, sizeof(err));
			fclose(sink);
		}
	}
	host_rescan_service(h, now);
	reap_removed(h);
	if (h->cfg.lu.status_file[0] &&
	    now - h->status_written_ns >= (uint64_t)h->cfg.lu.status_interval_ms * LBFO_NS_PER_MS) {
		h->status_written_ns = now;
		host_write_status_file(h);
	}
}

int lbfo_host_next_timeout(struct lbfo_host *h, uint64_t now)
{
	uint64_t t = UINT64_MAX, x;
	int i;

	if (h->ctl && (x = lbfo_ctl_server_next_deadline(h->ctl)) < t)
		t = x;
	if (h->cfg.lu.status_file[0] &&
	    (x = h->status_written_ns + (uint64_t)h->cfg.lu.status_interval_ms * LBFO_NS_PER_MS) < t)
		t = x;
	if ((x = host_rescan_next_timer(h)) < t)
		t = x;
	for (i = 0; i < h->ntgts && !h->dead; i++)
		if ((x = lbfo_tgt_next_timer(h->tgts[i])) < t)
			t = x;
	for (i = 0; i < h->nlus; i++)
		if ((x = lbfo_lu_next_timer(h->lus[i]->lu)) < t)
			t = x;
	if (t <= now)
		return 0;
	if (t == UINT64_MAX)
		return -1;
	/* +1: a deadline is due when now > deadline in some checks. */
	x = (t - now + LBFO_NS_PER_MS - 1) / LBFO_NS_PER_MS;
	return x > 60000 ? 60000 : (int)x;
}

/* ---- the ends of every state ------------------------------------------------------ */

static void go_dead(struct lbfo_host *h, int err, const char *why)
{
	int i;

	if (h->dead)
		return;
	h->dead = err;
	/* The sessions first (abandoned: nothing in flight references a
	 * buffer any more), then each LU fails what it holds. */
	for (i = 0; i < h->ntgts; i++)
		lbfo_tgt_shutdown(h->tgts[i]);
	for (i = 0; i < h->nlus; i++)
		if (err == -ESHUTDOWN)
			lbfo_lu_shutdown(h->lus[i]->lu, why);
		else
			lbfo_lu_fatal(h->lus[i]->lu, why);
	pthread_cond_broadcast(&h->cv);
}

void lbfo_host_set_guest(struct lbfo_host *h, const struct lbfo_host_guest *g)
{
	pthread_mutex_lock(&h->mu);
	if (g)
		h->guest = *g;
	else
		h->guest = (struct lbfo_host_guest){ .fd = -1 };
	pthread_mutex_unlock(&h->mu);
	host_wake(h);
}

void lbfo_host_shutdown(struct lbfo_host *h, const char *why)
{
	pthread_mutex_lock(&h->mu);
	go_dead(h, -ESHUTDOWN, why);
	pthread_mutex_unlock(&h->mu);
}

/* ---- the runner thread ------------------------------------------------------------ */

static void *loop_main(void *arg)
{
	struct lbfo_host *h = arg;
	struct pollfd *pfd = NULL;
	int cap = 0;

	for (;;) {
		int n, timeout, rc, want;
		bool stop;

		pthread_mutex_lock(&h->mu);
		want = 4 + 2 * LBFO_MAX_PORTALS * (h->ntgts ? h->ntgts : 1);
		if (want > cap) {
			struct pollfd *np = realloc(pfd, (size_t)want * sizeof(*pfd));

			if (np) {
				pfd = np;
				cap = want;
			}
		}
		n = pfd ? lbfo_host_pollfds(h, pfd, cap) : 0;
		timeout = lbfo_host_next_timeout(h, lbfo_now_ns());
		stop = h->stopping;
		pthread_mutex_unlock(&h->mu);
		if (stop)
			break;
		rc = h->poll(pfd, (nfds_t)n, timeout);
		pthread_mutex_lock(&h->mu);
		if (rc < 0 && errno != EINTR) {
			char why[LBFO_ERR_MAX];

			/* Nothing can be serviced any more: every I/O, queued,
			 * in flight or later, fails with EIO, and the log says why. */
			snprintf(why, sizeof(why), "event loop: poll: %s", strerror(errno));
			go_dead(h, -EIO, why);
			pthread_mutex_unlock(&h->mu);
			break;
		}
		lbfo_host_service(h, pfd, rc > 0 ? n : 0, lbfo_now_ns());
		pthread_mutex_unlock(&h->mu);
	}
	free(pfd);
	return NULL;
}

static struct lbfo_host *start(const struct lbfo_host_config *c, struct lbfo_san *san,
			       const struct lbfo_lu_env *env, char *err, size_t errlen)
{
	struct lbfo_host *h = lbfo_host_create(c, san, env, env != NULL, lbfo_now_ns(), err,
					       errlen);

	if (!h)
		return NULL;
	h->poll = env && env->poll ? env->poll : poll;
	if (pthread_create(&h->thread, NULL, loop_main, h) != 0) {
		snprintf(err, errlen, "cannot start the event loop thread");
		lbfo_host_destroy(h);
		return NULL;
	}
	h->started = true;
	return h;
}

struct lbfo_host *lbfo_host_start(const struct lbfo_host_config *c, struct lbfo_san *san,
				  char *err, size_t errlen)
{
	return start(c, san, NULL, err, errlen);
}

struct lbfo_host *lbfo_host_start_env(const struct lbfo_host_config *c, struct lbfo_san *san,
				      const struct lbfo_lu_env *env, char *err, size_t errlen)
{
	return start(c, san, env, err, errlen);
}

void lbfo_host_stop(struct lbfo_host *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_mutex_unlock(&h->mu);
	host_wake(h);
	if (h->started)
		pthread_join(h->thread, NULL);
	lbfo_host_destroy(h);
}

