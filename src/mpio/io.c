/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Requests and their pieces: the io API a client thread uses (init,
 * wait, fini), the finishing of pieces and requests, and the command
 * queues. Below everything else in src/mpio but the log.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
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

/*
 * A request's completion is one futex word, not a mutex and a condition
 * variable: the loop finishing a request stores 1 and makes a wake-up
 * call only when the waiter went to sleep (it then set 2). The waiter's
 * request may be on its stack: after the store the finisher touches
 * only the word's address in the wake-up call, which wakes whoever
 * sleeps on it (futex waiters allow spurious wake-ups).
 */
enum { IO_PENDING = 0, IO_DONE = 1, IO_SLEEPER = 2 };

static long futex(uint32_t *w, int op, uint32_t val, const struct timespec *rel)
{
	return syscall(SYS_futex, w, op, val, rel, NULL, 0);
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
}

/* Sleep until done or the relative deadline (NULL: none) passes. */
static void io_sleep(struct lbfo_io *io, const struct timespec *rel)
{
	uint32_t v = IO_PENDING;

	if (__atomic_compare_exchange_n(&io->done, &v, IO_SLEEPER, false, __ATOMIC_ACQUIRE,
					__ATOMIC_ACQUIRE) || v == IO_SLEEPER)
		futex(&io->done, FUTEX_WAIT_PRIVATE, IO_SLEEPER, rel);
}

int lbfo_io_wait(struct lbfo_io *io)
{
	while (__atomic_load_n(&io->done, __ATOMIC_ACQUIRE) != IO_DONE)
		io_sleep(io, NULL);
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
	uint64_t end = lbfo_now_ns() + (uint64_t)timeout_ms * LBFO_NS_PER_MS, now;

	while (__atomic_load_n(&io->done, __ATOMIC_ACQUIRE) != IO_DONE &&
	       (now = lbfo_now_ns()) < end) {
		struct timespec rel = { (time_t)((end - now) / LBFO_NS_PER_SEC),
					(long)((end - now) % LBFO_NS_PER_SEC) };

		io_sleep(io, &rel);
	}
	return __atomic_load_n(&io->done, __ATOMIC_ACQUIRE) == IO_DONE;
}

bool lbfo_io_done(struct lbfo_io *io)
{
	return __atomic_load_n(&io->done, __ATOMIC_ACQUIRE) == IO_DONE;
}

void lbfo_io_fini(struct lbfo_io *io)
{
	(void)io;
}

void lu_io_finish(struct lbfo_io *io)
{
	if (io->complete) {
		io->complete(io);
		return;
	}
	if (__atomic_exchange_n(&io->done, IO_DONE, __ATOMIC_RELEASE) == IO_SLEEPER)
		futex(&io->done, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
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

