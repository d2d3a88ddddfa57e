/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-nbd's connections: a thread each for the handshake and the end,
 * the host's loop in between (nbdsrv.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lbfo/lu.h"
#include "nbdsrv.h"

#define HANDSHAKE_TIMEOUT_S 30  /* a client silent this long in the handshake is let go */
#define MAX_CONNS 1024

int nbd_server_init(struct nbd_server *s, struct lbfo_host *h, bool readonly, char *err,
		    size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	memset(s, 0, sizeof(*s));
	s->host = h;
	s->readonly = readonly;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->epfd < 0 || s->evfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev) < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		nbd_server_fini(s);
		return -1;
	}
	return 0;
}

void nbd_server_fini(struct nbd_server *s)
{
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->evfd >= 0)
		close(s->evfd);
	s->epfd = s->evfd = -1;
}

static void timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void *conn_main(void *arg)
{
	struct nbd_conn *c = arg;
	struct nbd_server *s = c->srv;

	timeouts(c->fd, HANDSHAKE_TIMEOUT_S);
	if (nbd_handshake(c) == 0) {
		c->client = lbfo_lu_client_open(c->lu);
		timeouts(c->fd, 0);
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		nbd_log(LBFO_LOG_INFO, "%s: serving export '%s'%s", c->peer, c->export,
			c->structured ? " (structured replies)" : "");
		nbd_conn_hand_over(c);
		pthread_mutex_lock(&c->mu);
		while (!c->done)
			pthread_cond_wait(&c->cv, &c->mu);
		pthread_mutex_unlock(&c->mu);
		lbfo_lu_client_close(c->lu, c->client);
		lbfo_host_close(s->host, c->lu);
		nbd_log(LBFO_LOG_INFO, "%s: connection closed", c->peer);
	}
	close(c->fd);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
	pthread_mutex_lock(&s->mu);
	s->nconns--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int nbd_server_accept(struct nbd_server *s, int fd, const char *peer)
{
	struct nbd_conn *c;
	pthread_attr_t at;
	pthread_t t;
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = s->stopping || s->nconns >= MAX_CONNS ? -1 : 0;
	if (!rc)
		s->nconns++;
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		nbd_log(LBFO_LOG_WARNING, "%s: refused: %s", peer,
			s->stopping ? "shutting down" : "too many connections");
		close(fd);
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->srv = s;
		c->fd = fd;
		c->client = -1;
		snprintf(c->peer, sizeof(c->peer), "%s", peer);
		pthread_mutex_init(&c->mu, NULL);
		pthread_cond_init(&c->cv, NULL);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256 * 1024);
		rc = pthread_create(&t, &at, conn_main, c);
		pthread_attr_destroy(&at);
		if (rc == 0)
			return 0;
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
	}
	nbd_log(LBFO_LOG_ERR, "%s: refused: cannot start its thread", peer);
	close(fd);
	pthread_mutex_lock(&s->mu);
	s->nconns--;
	pthread_mutex_unlock(&s->mu);
	return -1;
}

int nbd_server_stop(struct nbd_server *s, uint32_t timeout_ms)
{
	struct timespec ts;
	uint64_t one = 1;
	int left;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	if (write(s->evfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: a wake-up is pending anyway */
	}
	pthread_mutex_lock(&s->mu);
	while (s->nconns > 0 && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
		;
	left = s->nconns;
	pthread_mutex_unlock(&s->mu);
	return left;
}
