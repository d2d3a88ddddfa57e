/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Requests and their pieces: the io API a client thread uses (init,
 * wait, fini), the finishing of pieces and requests, and the command
 * queues. Below everything else in src/mpio but the log.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lu_internal.h"

void q_push(struct cmdq *q, struct lu_cmd *c)
{
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->n++;
}

void q_push_front(struct cmdq *q, struct lu_cmd *c)
{
	c->next = q->head;
	q->head = c;
	if (!q->tail)
		q->tail = c;
	q->n++;
}

/* Move all of src, in order, in front of dst. O(1). */
void q_prepend_all(struct cmdq *dst, struct cmdq *src)
{
	if (!src->n)
		return;
	src->tail->next = dst->head;
	dst->head = src->head;
	if (!dst->tail)
		dst->tail = src->tail;
	dst->n += src->n;
	src->head = src->tail = NULL;
	src->n = 0;
}

struct lu_cmd *q_pop(struct cmdq *q)
{
	struct lu_cmd *c = q->head;

	if (c) {
		q->head = c->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		c->next = NULL;
	}
	return c;
}

void lbfo_io_init(struct lbfo_io *io, enum lbfo_io_type type, uint64_t offset,
		  uint32_t len, void *buf, bool fua)
{
	memset(io, 0, sizeof(*io));
	io->client = -1;
	io->type = type;
	io->offset = offset;
	io->len = len;
	io->buf = buf;
	io->fua = fua;
	pthread_mutex_init(&io->mu, NULL);
	pthread_cond_init(&io->cv, NULL);
}

int lbfo_io_wait(struct lbfo_io *io)
{
	pthread_mutex_lock(&io->mu);
	while (!io->done)
		pthread_cond_wait(&io->cv, &io->mu);
	pthread_mutex_unlock(&io->mu);
	return io->result;
}

void lu_deadline_after(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int lbfo_io_timedwait(struct lbfo_io *io, uint32_t timeout_ms)
{
	struct timespec ts;
	int done;

	lu_deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&io->mu);
	while (!io->done)
		if (pthread_cond_timedwait(&io->cv, &io->mu, &ts) == ETIMEDOUT)
			break;
	done = io->done;
	pthread_mutex_unlock(&io->mu);
	return done;
}

bool lbfo_io_done(struct lbfo_io *io)
{
	bool done;

	pthread_mutex_lock(&io->mu);
	done = io->done;
	pthread_mutex_unlock(&io->mu);
	return done;
}

void lbfo_io_fini(struct lbfo_io *io)
{
	pthread_mutex_destroy(&io->mu);
	pthread_cond_destroy(&io->cv);
}

void lu_io_finish(struct lbfo_io *io)
{
	pthread_mutex_lock(&io->mu);
	io->done = true;
	pthread_cond_signal(&io->cv);
	pthread_mutex_unlock(&io->mu);
}

void lu_io_completed(struct lbfo_lu *lu, struct lbfo_io *io)
{
	lu->ios++;
	if (io->result)
		lu->io_errors++;
	if (io->client >= 0 && io->client < LBFO_MAX_CLIENTS) {
		lu->clients[io->client].ios++;
		lu->clients[io->client].errors += io->result != 0;
		if (!io->result && (io->type == LBFO_IO_READ || io->type == LBFO_IO_WRITE))
			lu->clients[io->client].bytes[io->type == LBFO_IO_READ ?
						      LBFO_READ : LBFO_WRITE] += io->len;
	}
	lu_io_finish(io);
}

void lu_cmd_done(struct lbfo_lu *lu, struct lu_cmd *c, int result)
{
	struct lbfo_io *io = c->io;

	free(c);
	if (!io)
		return;
	if (result && !io->result)
		io->result = result;
	if (--io->pending == 0)
		lu_io_completed(lu, io);
}

int lu_fail_waiting(struct lbfo_lu *lu, int err)
{
	struct lu_cmd *c;
	int n = 0;

	while ((c = q_pop(&lu->queue))) {
		lu_cmd_done(lu, c, err);
		n++;
	}
	while ((c = q_pop(&lu->parked))) {
		lu_cmd_done(lu, c, err);
		n++;
	}
	return n;
}

