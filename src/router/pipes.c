/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pipes connections splice through: a pool of empty small ones for
 * reuse, and bulk transfers' pipes grown to pipe_size.
 */
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "router.h"

size_t rt_pipe_get(struct rt_worker *w, int p[2])
{
	int sz;

	if (w->npool > 0) {
		w->npool--;
		p[0] = w->pool[w->npool][0];
		p[1] = w->pool[w->npool][1];
	} else if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		return 0;
	}
	sz = fcntl(p[0], F_GETPIPE_SZ);
	return sz > 0 ? (size_t)sz : 65536;
}

/*
 * Bulk transfers get a bigger pipe: a direction that has carried
 * RT_BULK_BYTES (conn.c) grows its pipe to pipe_size, so each splice
 * moves more per system call (on loopback 256 KiB pipes carried ~15 %
 * more than 64 KiB ones). Request/response traffic never gets there and
 * keeps the small pipe, so thousands of idle connections cost little pipe
 * memory. A refusal (the user's pipe-pages limit) keeps the pipe as it is.
 */
void rt_pipe_grow(struct rt_worker *w, int p[2], size_t *cap, bool *done)
{
	int sz;

	*done = true; /* once: a refusal is not asked again */
	if (!w->r->cfg->pipe_size || *cap >= w->r->cfg->pipe_size)
		return;
	sz = fcntl(p[0], F_SETPIPE_SZ, (int)w->r->cfg->pipe_size);
	if (sz > 0) {
		*cap = (size_t)sz;
		w->pipes_grown++;
	} else {
		w->pipe_grow_refused++;
	}
}

void rt_pipe_put(struct rt_worker *w, int p[2], size_t inpipe, size_t cap)
{
	int queued = -1;

	if (p[0] < 0)
		return;
	/* Only small, empty pipes go back to the pool: a grown one would
	 * hand its memory to a connection that does not need it, and only
	 * what the kernel says is empty: a pipe with bytes of a closed
	 * connection in it would feed them to the next one. */
	if (inpipe == 0 && cap <= 65536 && ioctl(p[0], FIONREAD, &queued) == 0 && queued == 0 &&
	    w->npool < (int)(sizeof(w->pool) / sizeof(w->pool[0]))) {
		w->pool[w->npool][0] = p[0];
		w->pool[w->npool][1] = p[1];
		w->npool++;
	} else {
		close(p[0]);
		close(p[1]);
	}
	p[0] = p[1] = -1;
}

void rt_pipes_free(struct rt_worker *w)
{
	int k;

	for (k = 0; k < w->npool; k++) {
		close(w->pool[k][0]);
		close(w->pool[k][1]);
	}
	w->npool = 0;
}
