/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A service's SO_REUSEPORT group: one listening socket per worker, all
 * bound to the service's address. The kernel picks the socket of each
 * new connection (a hash of its addresses) and queues it there: a socket
 * that closes resets what is queued on it, since no other socket of the
 * group gets those connections. So a worker that stops first has new
 * connections steered away from its socket, by a classic BPF program
 * attached to the group (SO_ATTACH_REUSEPORT_CBPF) that picks among the
 * other sockets only, then accepts what was already queued (worker.c),
 * and only then closes it (rt_group_leave()).
 *
 * The program returns an index into the kernel's array of the group's
 * sockets, which is the order they started listening in; a socket that
 * leaves is replaced by the last one. struct rt_group mirrors that array
 * under its lock, and every change to it attaches a program made from the
 * new order. An index past the end makes the kernel fall back to its own
 * hash over every socket, so the program is replaced before that can
 * happen with a draining socket in the group: under the same lock as the
 * close.
 *
 * Listening sockets also get IP_FREEBIND / IPV6_FREEBIND: a backup router
 * listens on a virtual address before keepalived moves it to this host.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "router.h"

/* The program: a random choice among the sockets at idx[0..k-1].
 *   A = random; A %= k; A == 0 ? return idx[0] : A == 1 ? ... */
static int attach_program(int fd, const int *idx, int k)
{
	struct sock_filter f[2 + 2 * RT_MAX_WORKERS + 1];
	struct sock_fprog prog = { .filter = f };
	int j, n = 0;

	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)k);
	for (j = 0; j < k; j++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)j, 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)idx[j]);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)idx[0]);
	prog.len = (unsigned short)n;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

/* Attach the program the group's order and draining sockets call for.
 * Group locked. */
static void steer(struct router *r, int i)
{
	struct rt_group *g = &r->group[i];
	int idx[RT_MAX_WORKERS], k = 0, j;

	for (j = 0; j < g->n; j++)
		if (!g->draining[j])
			idx[k++] = j;
	if (k == 0 || (k == g->n && !g->steered))
		return; /* nowhere else to go / the kernel's own choice will do */
	if (attach_program(g->fd[idx[0]], idx, k) < 0) {
		rt_event(r, LOG_ERR, "service %s: cannot steer new connections "
			 "(SO_ATTACH_REUSEPORT_CBPF): %s; a draining worker's socket may "
			 "still get some", r->cfg->svc[i].name, strerror(errno));
		return;
	}
	g->steered = true;
}

static int set_freebind(int fd, int family)
{
	int one = 1;

	if (family == AF_INET6)
		return setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
	return setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
}

int rt_listen_open(struct router *r, int i, int wi, char *err, size_t errlen)
{
	const struct rt_service_cfg *sc = &r->cfg->svc[i];
	struct rt_group *g = &r->group[i];
	int fd, one = 1;

	fd = socket(sc->listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto sys;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* One worker: no SO_REUSEPORT, so that a second router started on
	 * the same address fails instead of sharing its clients. */
	if ((r->nworker > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    set_freebind(fd, sc->listen.ss_family) < 0 ||
	    bind(fd, (const struct sockaddr *)&sc->listen, sc->listen_len) < 0 ||
	    listen(fd, 4096) < 0)
		goto sys;
	pthread_mutex_lock(&g->lock);
	g->fd[g->n] = fd;
	g->worker[g->n] = wi;
	g->draining[g->n] = false;
	g->n++;
	pthread_mutex_unlock(&g->lock);
	return fd;
sys:
	snprintf(err, errlen, "[service %s]: listen %s: %s", sc->name, sc->listen_text,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

void rt_group_drain(struct router *r, int i, int wi)
{
	struct rt_group *g = &r->group[i];
	int j;

	pthread_mutex_lock(&g->lock);
	for (j = 0; j < g->n; j++)
		if (g->worker[j] == wi)
			g->draining[j] = true;
	steer(r, i);
	pthread_mutex_unlock(&g->lock);
}

/* A listening socket's tcpi_unacked is its accept queue's length. */
static int listen_queued(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return (int)ti.tcpi_unacked;
}

int rt_group_leave(struct router *r, int i, int wi, bool force)
{
	struct rt_group *g = &r->group[i];
	int j, rc = 0;

	pthread_mutex_lock(&g->lock);
	for (j = 0; j < g->n; j++)
		if (g->worker[j] == wi)
			break;
	/* Checked under the lock, just before the close: a connection
	 * queued since the worker's last accept is accepted first. */
	if (j < g->n && !force && listen_queued(g->fd[j]) > 0) {
		rc = -1;
	} else if (j < g->n) {
		close(g->fd[j]);
		/* As the kernel does: the last socket takes the hole. */
		g->n--;
		g->fd[j] = g->fd[g->n];
		g->worker[j] = g->worker[g->n];
		g->draining[j] = g->draining[g->n];
		steer(r, i);
	}
	pthread_mutex_unlock(&g->lock);
	return rc;
}

void rt_groups_init(struct router *r)
{
	int i;

	for (i = 0; i < RT_MAX_SERVICES; i++)
		pthread_mutex_init(&r->group[i].lock, NULL);
}

/* Sockets still open (workers that never started) close here. */
void rt_groups_free(struct router *r)
{
	int i, j;

	for (i = 0; i < RT_MAX_SERVICES; i++) {
		for (j = 0; j < r->group[i].n; j++)
			close(r->group[i].fd[j]);
		r->group[i].n = 0;
		pthread_mutex_destroy(&r->group[i].lock);
	}
}
