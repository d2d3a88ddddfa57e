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

/* ---- submissions ----------------------------------------------------------- */

static void wake(struct lbfo_lu *lu)
{
	if (lu->wake)
		lu->wake(lu->wake_arg);
}

/*
 * The submitting thread sends the request itself when the LU is idle and
 * the loop is not servicing (the lock is free): it takes what was
 * submitted, dispatches,
 * and writes the commands to their sessions' sockets, so a request costs
 * no wake-up of the loop thread and no pass of its poll. The loop still
 * reads the answers. It is woken when it has to look: a command is left
 * waiting (no path, the window full: its timers), data is left unsent
 * (its poll set must ask for POLLOUT), the team's tick must start (the
 * loop's timeout was computed for an idle LU), or the LU is dead.
 */
static bool submit_inline(struct lbfo_lu *lu)
{
	uint64_t now = lbfo_now_ns();
	bool wake_loop = !lu->ticking;
	int i;

	lu->now = now;
	lu_take_submissions(lu);
	if (lu->dead)
		return true;
	lu_dispatch(lu, now);
	lu_update_urgency(lu);
	for (i = 0; i < lu->npaths; i++)
		wake_loop |= lbfo_session_flush(&lu->paths[i].tp->s);
	return wake_loop || lu->queue.n || lu->parked.n;
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
		__atomic_store_n(&lu->sub_head, io, __ATOMIC_RELAXED); /* read as a hint unlocked */
	lu->sub_tail = io;
	pthread_mutex_unlock(&lu->sub_mu);
	/* Inline only while the LU has nothing in flight (a hint, read
	 * unlocked; exact under the lock): with commands in flight the loop
	 * wakes for their answers anyway and sends in batches, cheaper per
	 * request than each submitter taking the lock and the socket. */
	if (lu->inline_submit && !__atomic_load_n(&lu->team.outstanding, __ATOMIC_RELAXED) &&
	    pthread_mutex_trylock(lu->mu) == 0) {
		bool wake_loop = true;

		if (!lu->team.outstanding)
			wake_loop = submit_inline(lu);
		pthread_mutex_unlock(lu->mu);
		if (wake_loop)
			wake(lu);
		return;
	}
	/* The loop takes the whole list after each wake-up: only the first
	 * request of a batch needs to wake it. */
	if (was_empty)
		wake(lu);
}

void lbfo_lu_submit_held(struct lbfo_lu *lu, struct lbfo_io *io)
{
	io->submit_ns = lbfo_now_ns();
	io->next = NULL;
	lu_enqueue_io(lu, io);
}

struct lbfo_io *lu_detach_submissions(struct lbfo_lu *lu)
{
	struct lbfo_io *io;

	pthread_mutex_lock(&lu->sub_mu);
	io = lu->sub_head;
	__atomic_store_n(&lu->sub_head, NULL, __ATOMIC_RELAXED);
	lu->sub_tail = NULL;
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
		lu_io_completed(lu, io);
}
