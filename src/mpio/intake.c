/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Client requests: handed over from any thread, split into commands the
 * LU's limits allow (max_transfer; the Block Limits VPD for UNMAP and
 * WRITE SAME), and finished when their last piece is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lu_internal.h"

/* WRITE SAME with no reported limit: at most this many bytes a command,
 * so that one command stays well within cmd_timeout. */
#define WS_UNLIMITED_BYTES (256u << 20)

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

int lbfo_io_timedwait(struct lbfo_io *io, uint32_t timeout_ms)
{
	struct timespec ts;
	int done;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
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

static void io_completed(struct lbfo_lu *lu, struct lbfo_io *io)
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
		io_completed(lu, io);
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

/* ---- submissions ----------------------------------------------------------- */

static void wake(struct lbfo_lu *lu)
{
	uint64_t one = 1;

	if (lu->wakefd >= 0 && write(lu->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wake-up is pending. */
	}
}

void lbfo_lu_submit(struct lbfo_lu *lu, struct lbfo_io *io)
{
	bool was_empty;

	io->submit_ns = lbfo_now_ns();
	io->next = NULL;
	pthread_mutex_lock(&lu->sub_mu);
	if (lu->dead) {
		/* No loop takes it any more (shut down, or a fatal error). */
		pthread_mutex_unlock(&lu->sub_mu);
		io->result = lu->dead;
		lu_io_finish(io);
		return;
	}
	was_empty = !lu->sub_head;
	if (lu->sub_tail)
		lu->sub_tail->next = io;
	else
		lu->sub_head = io;
	lu->sub_tail = io;
	pthread_mutex_unlock(&lu->sub_mu);
	/* The loop takes the whole list after each wake-up: only the first
	 * request of a batch needs to wake it. */
	if (was_empty)
		wake(lu);
}

struct lbfo_io *lu_detach_submissions(struct lbfo_lu *lu)
{
	struct lbfo_io *io;

	pthread_mutex_lock(&lu->sub_mu);
	io = lu->sub_head;
	lu->sub_head = lu->sub_tail = NULL;
	pthread_mutex_unlock(&lu->sub_mu);
	return io;
}

void lu_take_submissions(struct lbfo_lu *lu)
{
	struct lbfo_io *io, *next;

	for (io = lu_detach_submissions(lu); io; io = next) {
		next = io->next;
		io->next = NULL;
		lu_enqueue_io(lu, io);
	}
}

/* ---- splitting ------------------------------------------------------------- */

static struct lu_cmd *new_cmd(struct lbfo_lu *lu, struct lbfo_io *io, uint64_t lba,
			      uint32_t blocks)
{
	struct lu_cmd *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->lu = lu;
	c->io = io;
	c->type = io->type;
	c->lba = lba;
	c->blocks = blocks;
	c->path = -1;
	io->pending++;
	q_push(&lu->queue, c);
	return c;
}

/* Pieces of at most `max` blocks over [lba, lba + n). */
static int split(struct lbfo_lu *lu, struct lbfo_io *io, uint64_t lba, uint64_t n, uint32_t max)
{
	uint32_t bs = lu->ident.block_size;

	while (n) {
		uint32_t k = n > max ? max : (uint32_t)n;
		struct lu_cmd *c = new_cmd(lu, io, lba, k);

		if (!c)
			return -ENOMEM;
		if (io->buf)
			c->buf = (char *)io->buf + (lba * bs - io->offset);
		/* FUA is sent only where the LU honours it (DPOFUA); on a
		 * write-through LU (no WCE) every write is durable anyway.
		 * Otherwise the plugin asks nbdkit to emulate it by a flush. */
		c->fua = io->fua && lu->ident.dpofua;
		c->unmap = io->type == LBFO_IO_ZERO && io->may_trim && lu->ident.lbpws;
		c->bytes = io->type == LBFO_IO_READ || io->type == LBFO_IO_WRITE ? (uint64_t)k * bs : 0;
		lba += k;
		n -= k;
	}
	return 0;
}

/* UNMAP is advisory: the part not aligned to the LU's granularity is
 * left alone (never rounded outwards into data the client keeps). */
static int split_trim(struct lbfo_lu *lu, struct lbfo_io *io, uint64_t lba, uint64_t n)
{
	const struct lbfo_lu_ident *id = &lu->ident;
	uint64_t g = id->unmap_granularity > 1 ? id->unmap_granularity : 1;
	uint64_t a = id->unmap_alignment % g, end = lba + n;
	uint64_t first = lba < a ? a : lba + (g - (lba - a) % g) % g;
	uint64_t last = end < a ? 0 : end - (end - a) % g;

	if (last <= first)
		return 0;
	return split(lu, io, first, last - first,
		     id->max_unmap_blocks ? id->max_unmap_blocks : UINT32_MAX);
}

void lu_enqueue_io(struct lbfo_lu *lu, struct lbfo_io *io)
{
	uint32_t bs = lu->ident.block_size;
	uint64_t size = lu->ident.blocks * bs;
	uint64_t lba = io->offset / bs, n = io->len / bs;
	int rc = 0;

	io->pending = 1; /* guard while splitting */
	if (lu->dead) {
		rc = lu->dead;
	} else if ((lu->no_path_expired || !lu->queueing) && !lu_any_usable(lu)) {
		rc = -EIO;
	} else if (io->type == LBFO_IO_FLUSH) {
		rc = new_cmd(lu, io, 0, 0) ? 0 : -ENOMEM;
	} else if (io->offset % bs || io->len % bs) {
		rc = -EINVAL;
	} else if (io->offset > size || io->len > size - io->offset) {
		/* no wrap-around: offset + len is never computed unchecked */
		rc = -ENOSPC;
	} else if (io->type == LBFO_IO_READ || io->type == LBFO_IO_WRITE) {
		rc = split(lu, io, lba, n, lu->max_xfer / bs);
	} else if (io->type == LBFO_IO_TRIM) {
		rc = split_trim(lu, io, lba, n);
	} else if (io->type == LBFO_IO_ZERO && lu->ws_unsupported) {
		rc = -EOPNOTSUPP; /* the plugin writes zeroes instead */
	} else if (io->type == LBFO_IO_ZERO) {
		uint64_t max = lu->ident.max_ws_blocks ? lu->ident.max_ws_blocks :
			WS_UNLIMITED_BYTES / bs;

		rc = split(lu, io, lba, n, max > UINT32_MAX ? UINT32_MAX : (uint32_t)max);
	}
	if (rc && !io->result)
		io->result = rc;
	if (--io->pending == 0)
		io_completed(lu, io);
}
