/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The workers: each a thread with its own epoll loop over its listening
 * socket per service (steer.c) and the connections it accepted
 * (accept.c, connect.c, conn.c), its own copy of every service's team,
 * pipes and counters. The main thread talks to it through a queue of
 * messages under the worker's lock and an eventfd that wakes its loop:
 * node states, weights, snapshot requests, drain, exit. Each message has
 * a sequence number; the worker publishes the last one it handled
 * (seq_done) with a fresh copy of its counters (snap), so the main thread
 * can wait until a change has reached every worker (operator requests)
 * or read counters no older than its question (status, metrics).
 *
 * Draining: the main thread steers new connections away from the
 * worker's sockets (steer.c), then tells it. The worker keeps accepting
 * for RT_DRAIN_GRACE_NS (connections whose handshake began before the
 * steering), then accepts what is queued and closes each socket once
 * nothing is (checked under the group's lock, just before the close).
 * Its connections run to their end; then its thread ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "lbfo/policy.h"
#include "conn.h"

#define TICK_NS (50 * LBFO_NS_PER_MS)
#define RT_DRAIN_GRACE_NS (500 * LBFO_NS_PER_MS)

int rt_worker_state(const struct rt_worker *w)
{
	return atomic_load_explicit(&w->state, memory_order_acquire);
}

/* ---- messages ------------------------------------------------------------------ */

/* Counters to w->snap. Worker's lock held. */
static void snapshot(struct rt_worker *w)
{
	int i;

	for (i = 0; i < w->nsvc; i++)
		w->snap.svc[i] = w->svc[i].st;
	w->snap.nconns = w->nconns;
	w->snap.pipes_grown = w->pipes_grown;
	w->snap.pipe_grow_refused = w->pipe_grow_refused;
}

static void apply_node(struct rt_worker *w, const struct rt_msg *m, uint64_t now)
{
	int i;

	for (i = 0; i < w->nsvc; i++) {
		if (!m->up)
			rt_svc_node_down(&w->svc[i], m->node, now);
		else if (m->joined)
			rt_svc_node_up(&w->svc[i], m->node, m->prio, now);
		else
			rt_svc_node_priority(&w->svc[i], m->node, m->prio, now);
	}
	if (m->up && m->joined)
		rt_conn_recount(w, m->node, now);
}

static void handle(struct rt_worker *w, const struct rt_msg *m, uint64_t now)
{
	switch (m->kind) {
	case RT_MSG_NODE:
		apply_node(w, m, now);
		break;
	case RT_MSG_WEIGHT:
		if (m->svc < w->nsvc)
			lbfo_team_set_weight(&w->svc[m->svc].team, m->member, m->weight, now);
		break;
	case RT_MSG_SNAPSHOT:
		break; /* every batch ends with one */
	case RT_MSG_DRAIN:
		if (rt_worker_state(w) == RT_W_RUNNING) {
			w->drain_ns = now;
			atomic_store_explicit(&w->state, RT_W_DRAINING, memory_order_release);
		}
		break;
	case RT_MSG_EXIT:
		w->stop = true;
		break;
	}
}

static void read_messages(struct rt_worker *w, uint64_t now)
{
	struct rt_msg *m, *next;
	uint64_t n, last = 0;

	if (read(w->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		rt_event(w->r, LOG_ERR, "worker %d: eventfd: %s", w->id, strerror(errno));
	pthread_mutex_lock(&w->lock);
	m = w->mq_head;
	w->mq_head = w->mq_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	for (; m; m = next) {
		next = m->next;
		handle(w, m, now);
		last = m->seq;
		free(m);
	}
	pthread_mutex_lock(&w->lock);
	snapshot(w);
	if (last > w->seq_done)
		w->seq_done = last;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void rt_worker_post(struct router *r, int wi, const struct rt_msg *m)
{
	uint64_t one = 1;
	int i;

	for (i = 0; i < r->nworker; i++) {
		struct rt_worker *w = r->w[i];
		struct rt_msg *c;

		if ((wi >= 0 && i != wi) || !w)
			continue;
		c = malloc(sizeof(*c));
		if (!c) {
			rt_event(r, LOG_ERR, "worker %d: no memory for a message: it missed a "
				 "change", i);
			continue;
		}
		*c = *m;
		c->next = NULL;
		pthread_mutex_lock(&w->lock);
		if (w->seq_done == UINT64_MAX) {
			/* Its thread has ended: nobody would read it. */
			pthread_mutex_unlock(&w->lock);
			free(c);
			continue;
		}
		c->seq = ++w->seq_sent;
		if (w->mq_tail)
			w->mq_tail->next = c;
		else
			w->mq_head = c;
		w->mq_tail = c;
		pthread_mutex_unlock(&w->lock);
		if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			rt_event(r, LOG_ERR, "worker %d: eventfd: %s", i, strerror(errno));
	}
}

int rt_workers_sync(struct router *r, int timeout_ms)
{
	struct timespec dl;
	int i, rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	for (i = 0; i < r->nworker; i++) {
		struct rt_worker *w = r->w[i];

		if (!w || !w->started)
			continue;
		pthread_mutex_lock(&w->lock);
		while (w->seq_done < w->seq_sent)
			if (pthread_cond_timedwait(&w->cond, &w->lock, &dl) == ETIMEDOUT) {
				rc = -1;
				break;
			}
		pthread_mutex_unlock(&w->lock);
	}
	return rc;
}

static void add_stats(struct rt_svc_stats *to, const struct rt_svc_stats *from, int nm)
{
	int m;

	to->accepted += from->accepted;
	to->refused_acl += from->refused_acl;
	to->refused_limit += from->refused_limit;
	to->refused_client_limit += from->refused_client_limit;
	to->refused_no_node += from->refused_no_node;
	to->failed_connect += from->failed_connect;
	to->retries += from->retries;
	to->sticky_hits += from->sticky_hits;
	to->moved += from->moved;
	to->new_sessions += from->new_sessions;
	to->active += from->active;
	for (m = 0; m < nm; m++) {
		to->ms[m].sessions += from->ms[m].sessions;
		to->ms[m].conns += from->ms[m].conns;
		to->ms[m].bytes_in += from->ms[m].bytes_in;
		to->ms[m].bytes_out += from->ms[m].bytes_out;
		to->ms[m].connect_fail += from->ms[m].connect_fail;
		to->ms[m].active += from->ms[m].active;
	}
}

void rt_workers_collect(struct router *r)
{
	struct rt_msg m = { .kind = RT_MSG_SNAPSHOT };
	int i, k;

	rt_worker_post(r, -1, &m);
	if (rt_workers_sync(r, 1000) < 0)
		rt_event(r, LOG_WARNING, "a worker did not answer within 1 s: its counters "
			 "are older");
	for (k = 0; k < r->nsvc; k++)
		memset(&r->svc[k].st, 0, sizeof(r->svc[k].st));
	r->nconns_total = 0;
	r->pipes_grown = r->pipe_grow_refused = 0;
	for (i = 0; i < r->nworker; i++) {
		struct rt_worker *w = r->w[i];

		if (!w)
			continue;
		pthread_mutex_lock(&w->lock);
		for (k = 0; k < r->nsvc; k++)
			add_stats(&r->svc[k].st, &w->snap.svc[k], r->svc[k].team.n);
		r->nconns_total += w->snap.nconns;
		r->pipes_grown += w->snap.pipes_grown;
		r->pipe_grow_refused += w->snap.pipe_grow_refused;
		pthread_mutex_unlock(&w->lock);
	}
}

/* ---- the loop -------------------------------------------------------------------- */

/* A draining worker: past the grace time, accept what is queued and
 * close each socket that has nothing queued; once every socket is closed
 * and every connection has ended, the worker stops. */
static void drain_step(struct rt_worker *w, uint64_t now)
{
	int i;

	if (w->listening > 0 && now - w->drain_ns >= RT_DRAIN_GRACE_NS) {
		for (i = 0; i < w->nsvc; i++) {
			struct rt_service *s = &w->svc[i];

			if (s->fd < 0)
				continue;
			rt_accept_all(w, s, now);
			if (rt_group_leave(w->r, i, w->id, false) < 0)
				continue; /* more came: accept them on the next tick */
			s->fd = -1; /* closed: that also took it out of the epoll set */
			w->listening--;
		}
		if (w->listening == 0)
			rt_event(w->r, LOG_NOTICE, "worker %d: every queued connection accepted, its "
				 "sockets closed; %u connection(s) finishing", w->id, w->nconns);
	}
	if (w->listening == 0 && w->nconns == 0) {
		rt_event(w->r, LOG_NOTICE, "worker %d stopped", w->id);
		w->stop = true;
	}
}

static void tick(struct rt_worker *w, uint64_t now)
{
	int i;

	rt_connect_deadlines(w, now);
	rt_accept_retry(w, now);
	rt_conn_reap(w);
	for (i = 0; i < w->nsvc; i++)
		lbfo_team_tick(&w->svc[i].team, now);
	if (rt_worker_state(w) == RT_W_DRAINING)
		drain_step(w, now);
}

static void dispatch(struct rt_worker *w, struct rt_ev *e, uint32_t events, uint64_t now)
{
	switch (e->kind) {
	case RT_EV_LISTEN:
		rt_accept_all(w, e->ptr, now);
		break;
	case RT_EV_CLIENT:
	case RT_EV_BACKEND:
		rt_conn_event(w, e, events, now);
		break;
	case RT_EV_MSG:
		read_messages(w, now);
		break;
	default:
		break;
	}
}

static void *worker_main(void *arg)
{
	struct rt_worker *w = arg;
	uint64_t last_tick = 0;

	while (!w->stop) {
		struct epoll_event evs[256];
		int n = epoll_wait(w->ep, evs, 256, (int)(TICK_NS / LBFO_NS_PER_MS)), i;
		uint64_t now = rt_now_ns();

		if (n < 0 && errno != EINTR) {
			rt_event(w->r, LOG_ERR, "worker %d: epoll_wait: %s; it stops", w->id,
				 strerror(errno));
			break;
		}
		for (i = 0; i < n; i++)
			dispatch(w, evs[i].data.ptr, evs[i].events, now);
		rt_conn_reap(w);
		if (now - last_tick >= TICK_NS) {
			last_tick = now;
			tick(w, now);
		}
	}
	/* Its last counters, and no one waits for it any more. */
	pthread_mutex_lock(&w->lock);
	snapshot(w);
	w->seq_done = UINT64_MAX;
	if (w->listening == 0)
		atomic_store_explicit(&w->state, RT_W_STOPPED, memory_order_release);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ---- life ---------------------------------------------------------------------- */

static int open_worker(struct router *r, int wi, char *err, size_t errlen)
{
	struct rt_worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };
	pthread_condattr_t ca;

	if (!w) {
		snprintf(err, errlen, "worker %d: %s", wi, strerror(errno));
		return -1;
	}
	r->w[wi] = w;
	w->r = r;
	w->id = wi;
	w->ep = w->efd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&w->state, RT_W_RUNNING);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->efd_ev.kind = RT_EV_MSG;
	ev.data.ptr = &w->efd_ev;
	if (w->ep < 0 || w->efd < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->efd, &ev) < 0) {
		snprintf(err, errlen, "worker %d: %s", wi, strerror(errno));
		return -1;
	}
	return rt_services_open(w, err, errlen);
}

int rt_workers_open(struct router *r, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < r->nworker; i++)
		if (open_worker(r, i, err, errlen) < 0)
			return -1;
	return 0;
}

int rt_workers_start(struct router *r, char *err, size_t errlen)
{
	int i, e;

	for (i = 0; i < r->nworker; i++) {
		e = pthread_create(&r->w[i]->th, NULL, worker_main, r->w[i]);
		if (e) {
			snprintf(err, errlen, "worker %d: pthread_create: %s", i, strerror(e));
			return -1;
		}
		r->w[i]->started = true;
	}
	return 0;
}

void rt_workers_stop(struct router *r)
{
	struct rt_msg m = { .kind = RT_MSG_EXIT };
	int i;

	rt_worker_post(r, -1, &m);
	for (i = 0; i < r->nworker; i++)
		if (r->w[i] && r->w[i]->started) {
			pthread_join(r->w[i]->th, NULL);
			r->w[i]->started = false;
		}
}

void rt_workers_free(struct router *r)
{
	int i;

	for (i = 0; i < r->nworker; i++) {
		struct rt_worker *w = r->w[i];

		if (!w)
			continue;
		rt_conns_free(w);
		rt_services_close(w);
		rt_pipes_free(w);
		while (w->mq_head) {
			struct rt_msg *m = w->mq_head;

			w->mq_head = m->next;
			free(m);
		}
		if (w->efd >= 0)
			close(w->efd);
		if (w->ep >= 0)
			close(w->ep);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		r->w[i] = NULL;
	}
}

int rt_worker_drain(struct router *r, int wi, FILE *out, char *err, size_t errlen)
{
	struct rt_msg m = { .kind = RT_MSG_DRAIN };
	int i, others = 0;

	if (wi < 0 || wi >= r->nworker) {
		snprintf(err, errlen, "no worker %d (0..%d)", wi, r->nworker - 1);
		return -1;
	}
	if (rt_worker_state(r->w[wi]) != RT_W_RUNNING) {
		fprintf(out, "worker %d already %s\n", wi,
			rt_worker_state_name(rt_worker_state(r->w[wi])));
		return 0;
	}
	for (i = 0; i < r->nworker; i++)
		others += i != wi && rt_worker_state(r->w[i]) == RT_W_RUNNING;
	if (!others) {
		snprintf(err, errlen, "worker %d is the last one accepting: stopping it would "
			 "refuse new connections (stop the router instead)", wi);
		return -1;
	}
	for (i = 0; i < r->nsvc; i++)
		rt_group_drain(r, i, wi);
	rt_worker_post(r, wi, &m);
	rt_workers_sync(r, 1000);
	rt_event(r, LOG_NOTICE, "worker %d draining: new connections go to the other workers; "
		 "it accepts what is queued on its sockets, closes them, and stops when its "
		 "connections have ended", wi);
	fprintf(out, "worker %d draining\n", wi);
	return 0;
}
