/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transmission phase on the host's loop thread (a guest of the host,
 * under its lock): requests are read from every ready connection, checked,
 * submitted to the LU with lbfo_lu_submit_held (the LU's service dispatches
 * them in the same pass of the loop), and answered from the completion
 * callback into the connection's reply list, which the guest's flush
 * writes with writev at the end of the pass — many replies a system call
 * under load, none of them a thread switch.
 *
 * Back-pressure: a connection with MAX_PENDING requests or MAX_PENDING_BYTES
 * of data unanswered or unwritten is not read until its replies are
 * written. A write's payload is read into its own buffer; one the server
 * refuses (out of range, unaligned) is read and dropped, so the stream
 * stays in step. A client that goes away mid-request: what it sent whole
 * is finished (and its answer dropped), the rest is not submitted; the
 * connection ends once the LU is done with every buffer of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lbfo/lu.h"
#include "nbdsrv.h"

#define MAX_PENDING 512
#define MAX_PENDING_BYTES (64ull << 20)
#define READS_PER_PASS 64        /* read(2) calls on one connection in one pass */
#define ZERO_CHUNK (1u << 20)    /* zeroes written by WRITE when WRITE SAME is refused */
#define IOV_BATCH 64

enum stage { ST_MAIN, ST_ZERO_WRITE, ST_FLUSH };

struct nbd_req {
	struct lbfo_io io;           /* first: the completion's io is the request */
	struct nbd_conn *c;
	struct nbd_request r;
	uint8_t *buf;                /* a read's data, a write's payload */
	uint32_t error;              /* the answer's NBD error */
	enum stage stage;
	uint64_t zoff;               /* ST_ZERO_WRITE: bytes of zeroes written */
	uint8_t hdr[32];
	uint32_t hdr_len;
	struct nbd_req *next;
};

static uint8_t zeroes[ZERO_CHUNK]; /* read only */

static void mark_dirty(struct nbd_conn *c)
{
	if (c->in_dirty)
		return;
	c->in_dirty = true;
	c->next_dirty = c->srv->dirty;
	c->srv->dirty = c;
}

static void req_free(struct nbd_conn *c, struct nbd_req *q)
{
	if (q->buf)
		c->pending_bytes -= q->r.count;
	free(q->buf);
	free(q);
}

/* The request's answer joins the reply list (or goes, if the client did). */
static void answer(struct nbd_req *q, uint32_t error)
{
	struct nbd_conn *c = q->c;
	bool data = !error && q->r.type == NBD_CMD_READ;

	c->pending--;
	mark_dirty(c);
	if (c->broken) {
		req_free(c, q);
		return;
	}
	q->error = error;
	if (!c->structured)
		q->hdr_len = (uint32_t)nbd_simple_reply(q->hdr, error, q->r.handle);
	else if (data)
		q->hdr_len = (uint32_t)nbd_chunk_data(q->hdr, q->r.handle, q->r.offset, q->r.count,
						      true);
	else if (error)
		q->hdr_len = (uint32_t)nbd_chunk_error(q->hdr, q->r.handle, error);
	else
		q->hdr_len = (uint32_t)nbd_chunk_done(q->hdr, q->r.handle);
	if (!data && q->buf) {
		/* a write's payload, a failed read's buffer: not sent */
		c->pending_bytes -= q->r.count;
		free(q->buf);
		q->buf = NULL;
	}
	q->next = NULL;
	if (c->out_tail)
		c->out_tail->next = q;
	else
		c->out_head = q;
	c->out_tail = q;
}

static void req_complete(struct lbfo_io *io);

static void submit(struct nbd_req *q, enum lbfo_io_type type, uint64_t off, uint32_t len,
		   void *buf, bool fua, bool may_trim)
{
	lbfo_io_init(&q->io, type, off, len, buf, fua);
	q->io.may_trim = may_trim;
	q->io.client = q->c->client;
	q->io.complete = req_complete;
	lbfo_lu_submit_held(q->c->lu, &q->io);
}

/* The next piece of zeroes written as data (WRITE SAME refused). */
static void zero_write_next(struct nbd_req *q)
{
	uint64_t left = q->r.count - q->zoff;
	uint32_t n = left > ZERO_CHUNK ? ZERO_CHUNK : (uint32_t)left;

	q->stage = ST_ZERO_WRITE;
	q->zoff += n;
	submit(q, LBFO_IO_WRITE, q->r.offset + q->zoff - n, n, zeroes, false, false);
}

/* FUA the LU cannot carry (no DPOFUA, a write-back cache; UNMAP and WRITE
 * SAME as issued have no FUA bit): a flush after the command. */
static bool needs_flush(const struct nbd_req *q)
{
	if (!(q->r.flags & NBD_CMD_FLAG_FUA) || q->r.type == NBD_CMD_READ)
		return false; /* FUA on a read: nothing to make durable */
	return q->r.type != NBD_CMD_WRITE || q->c->flush_for_fua;
}

static void req_complete(struct lbfo_io *io)
{
	struct nbd_req *q = (struct nbd_req *)io;
	int rc = io->result;

	if (rc == -EOPNOTSUPP && q->stage == ST_MAIN && q->r.type == NBD_CMD_WRITE_ZEROES) {
		/* WRITE SAME refused: zeroes written as data, a piece at a time */
		q->stage = ST_ZERO_WRITE;
		rc = 0;
	}
	if (rc) {
		if (q->r.type != NBD_CMD_READ || rc != -EINVAL)
			nbd_log(LBFO_LOG_WARNING, "%s: %s: request 0x%x of %u bytes at %llu: %s",
				q->c->peer, q->c->export, q->r.type, q->r.count,
				(unsigned long long)q->r.offset, strerror(-rc));
		answer(q, nbd_errno(-rc));
		return;
	}
	if (q->stage == ST_ZERO_WRITE && q->zoff < q->r.count) {
		zero_write_next(q);
		return;
	}
	if (q->stage != ST_FLUSH && needs_flush(q)) {
		q->stage = ST_FLUSH;
		submit(q, LBFO_IO_FLUSH, 0, 0, NULL, false, false);
		return;
	}
	answer(q, 0);
}

/* A whole request (a write's payload read): to the LU. */
static void start(struct nbd_req *q)
{
	const struct nbd_request *r = &q->r;
	bool fua = (r->flags & NBD_CMD_FLAG_FUA) != 0;

	switch (r->type) {
	case NBD_CMD_READ:
		submit(q, LBFO_IO_READ, r->offset, r->count, q->buf, false, false);
		break;
	case NBD_CMD_WRITE:
		submit(q, LBFO_IO_WRITE, r->offset, r->count, q->buf,
		       fua && !q->c->flush_for_fua, false);
		break;
	case NBD_CMD_FLUSH:
		q->stage = ST_FLUSH;
		submit(q, LBFO_IO_FLUSH, 0, 0, NULL, false, false);
		break;
	case NBD_CMD_TRIM:
		submit(q, LBFO_IO_TRIM, r->offset, r->count, NULL, false, false);
		break;
	default: /* NBD_CMD_WRITE_ZEROES */
		submit(q, LBFO_IO_ZERO, r->offset, r->count, NULL, false,
		       !(r->flags & NBD_CMD_FLAG_NO_HOLE));
		break;
	}
}

/* A request header: checked, then read on (a write's payload) or started. */
static void request(struct nbd_conn *c, const struct nbd_request *r)
{
	struct nbd_req *q = calloc(1, sizeof(*q));
	uint32_t err;

	if (r->type == NBD_CMD_DISC) {
		free(q);
		c->disc = true;
		mark_dirty(c);
		return;
	}
	if (!q) {
		/* no memory even to answer: end the connection */
		c->broken = true;
		return;
	}
	err = nbd_check_request(r, c->size, c->min_block, c->srv->readonly, c->can_trim,
				c->structured);
	q->c = c;
	q->r = *r;
	c->pending++;
	if (!err && (r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE)) {
		q->buf = malloc(r->count);
		if (q->buf)
			c->pending_bytes += r->count;
		else
			err = NBD_ENOMEM;
	}
	if (err) {
		if (r->type == NBD_CMD_WRITE && r->count) {
			/* answered once its payload is read: a client may read
			 * answers only after it has sent the whole request */
			c->skip = r->count;
			c->skipping = q;
			q->error = err;
			return;
		}
		answer(q, err);
		return;
	}
	if (r->type == NBD_CMD_WRITE) {
		c->reading = q;
		c->reading_got = 0;
		return;
	}
	start(q);
}

static bool throttled(const struct nbd_conn *c)
{
	return c->pending >= MAX_PENDING || c->pending_bytes >= MAX_PENDING_BYTES;
}

/* Take what c->in holds: payloads, skips, headers. */
static void parse(struct nbd_conn *c)
{
	uint32_t off = 0;

	while (!c->broken) {
		uint32_t avail = c->in_len - off;

		if (c->skip) {
			uint32_t n = c->skip < avail ? (uint32_t)c->skip : avail;

			off += n;
			c->skip -= n;
			if (c->skip)
				break;
			if (c->skipping) {
				answer(c->skipping, c->skipping->error);
				c->skipping = NULL;
			}
		} else if (c->reading) {
			struct nbd_req *q = c->reading;
			uint32_t need = q->r.count - c->reading_got, n = need < avail ? need : avail;

			memcpy(q->buf + c->reading_got, c->in + off, n);
			c->reading_got += n;
			off += n;
			if (c->reading_got < q->r.count)
				break;
			c->reading = NULL;
			start(q);
		} else if (c->disc || throttled(c) || avail < NBD_REQUEST_SIZE) {
			break;
		} else {
			struct nbd_request r;

			if (nbd_parse_request(c->in + off, &r) < 0) {
				nbd_log(LBFO_LOG_WARNING, "%s: bad request magic 0x%08x: "
					"connection closed", c->peer, nbd_get32(c->in + off));
				c->broken = true;
				mark_dirty(c);
				break;
			}
			off += NBD_REQUEST_SIZE;
			request(c, &r);
		}
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

static void conn_read(struct nbd_conn *c)
{
	int i;

	for (i = 0; i < READS_PER_PASS; i++) {
		ssize_t n;

		parse(c);
		if (c->broken || c->eof || (!c->reading && !c->skip && (c->disc || throttled(c))))
			break;
		if (c->reading && c->in_len == 0 &&
		    c->reading->r.count - c->reading_got >= sizeof(c->in) / 2) {
			/* a large payload: straight into its buffer */
			struct nbd_req *q = c->reading;

			n = read(c->fd, q->buf + c->reading_got, q->r.count - c->reading_got);
			if (n > 0) {
				c->reading_got += (uint32_t)n;
				if (c->reading_got == q->r.count) {
					c->reading = NULL;
					start(q);
				}
				continue;
			}
		} else {
			n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
			if (n > 0) {
				c->in_len += (uint32_t)n;
				continue;
			}
		}
		if (n == 0) {
			c->eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			nbd_log(LBFO_LOG_NOTICE, "%s: read: %s", c->peer, strerror(errno));
			c->broken = true;
		}
		if (n == 0 || (errno != EINTR))
			break;
	}
	/* settle() watches for what the connection can take now */
	if (c->eof || c->broken || throttled(c))
		mark_dirty(c);
}

/* Write replies: 0 when all went, 1 when the socket is full, -1 broken. */
static int conn_write(struct nbd_conn *c)
{
	while (c->out_head) {
		struct iovec iov[IOV_BATCH];
		struct nbd_req *q;
		size_t skip = c->out_off;
		ssize_t n;
		int k = 0;

		for (q = c->out_head; q && k + 2 <= IOV_BATCH; q = q->next) {
			iov[k].iov_base = q->hdr;
			iov[k++].iov_len = q->hdr_len;
			if (q->buf)
				iov[k].iov_base = q->buf, iov[k++].iov_len = q->r.count;
		}
		/* what of the head was written before */
		while (skip) {
			size_t s = skip < iov[0].iov_len ? skip : iov[0].iov_len;

			iov[0].iov_base = (uint8_t *)iov[0].iov_base + s;
			iov[0].iov_len -= s;
			skip -= s;
			if (!iov[0].iov_len)
				memmove(iov, iov + 1, (size_t)--k * sizeof(*iov));
		}
		n = writev(c->fd, iov, k);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		if (n <= 0) {
			nbd_log(LBFO_LOG_NOTICE, "%s: write: %s", c->peer,
				n < 0 ? strerror(errno) : "nothing written");
			return -1;
		}
		c->out_off += (uint32_t)n;
		while ((q = c->out_head) &&
		       c->out_off >= q->hdr_len + (q->buf ? q->r.count : 0)) {
			c->out_off -= q->hdr_len + (q->buf ? q->r.count : 0);
			c->out_head = q->next;
			if (!c->out_head)
				c->out_tail = NULL;
			req_free(c, q);
		}
	}
	return 0;
}

static void drop_replies(struct nbd_conn *c)
{
	struct nbd_req *q;

	while ((q = c->out_head)) {
		c->out_head = q->next;
		req_free(c, q);
	}
	c->out_tail = NULL;
	c->out_off = 0;
}

static void set_events(struct nbd_conn *c, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = c };

	if (want != c->events && epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = want;
}

/* The loop is done with the connection: its thread closes it. */
static void end(struct nbd_conn *c)
{
	struct nbd_conn **pp;

	drop_replies(c);
	epoll_ctl(c->srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	for (pp = &c->srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* After replies were queued or the connection changed: write, watch, end. */
static void settle(struct nbd_conn *c)
{
	int w = 0;

	if (!c->broken && c->out_head) {
		w = conn_write(c);
		if (w < 0)
			c->broken = true;
	}
	if (c->broken)
		drop_replies(c);
	if ((c->broken || c->eof) && (c->reading || c->skipping)) {
		/* the client went mid-payload: that write is not submitted */
		c->pending--;
		req_free(c, c->reading ? c->reading : c->skipping);
		c->reading = c->skipping = NULL;
	}
	/* Everything read is answered (the LU holds no buffer of it) and
	 * written: a connection that is over can go. */
	if ((c->broken || c->eof || c->disc) && !c->pending && !c->out_head) {
		end(c);
		return;
	}
	if (!c->broken && !c->eof && !c->disc && !throttled(c) &&
	    (c->in_len >= NBD_REQUEST_SIZE || ((c->reading || c->skip) && c->in_len))) {
		/* Requests read while the connection was held back: no new
		 * input will announce them. What they submit is dispatched by
		 * the LU's next service: come back at once. */
		parse(c);
		c->srv->again = true;
	}
	set_events(c, (!c->broken && !c->eof && !c->disc && !throttled(c) ? EPOLLIN : 0) |
		      (w > 0 ? EPOLLOUT : 0));
}

static void adopt(struct nbd_server *s)
{
	struct nbd_conn *c, *next;
	uint64_t v;
	bool stopping;

	if (read(s->evfd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing new */
	}
	pthread_mutex_lock(&s->mu);
	c = s->adopt;
	s->adopt = NULL;
	stopping = s->stopping;
	pthread_mutex_unlock(&s->mu);
	for (; c; c = next) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		next = c->next;
		c->next = s->conns;
		s->conns = c;
		c->events = EPOLLIN;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			nbd_log(LBFO_LOG_ERR, "%s: epoll: %s", c->peer, strerror(errno));
			c->broken = true;
		}
		mark_dirty(c);
	}
	if (stopping)
		for (c = s->conns; c; c = c->next) {
			c->disc = true;
			mark_dirty(c);
		}
}

void nbd_conn_service(void *arg, bool readable, uint64_t now)
{
	struct nbd_server *s = arg;
	struct epoll_event ev[64];
	int i, n;

	(void)now;
	if (!readable)
		return;
	n = epoll_wait(s->epfd, ev, 64, 0);
	for (i = 0; i < n; i++) {
		struct nbd_conn *c = ev[i].data.ptr;

		if (!c) {
			adopt(s);
			continue;
		}
		if (ev[i].events & EPOLLOUT)
			mark_dirty(c);
		if (!(ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			continue;
		conn_read(c);
		/* Hung up while not being read (answers pending, or after
		 * NBD_CMD_DISC): epoll reports that whatever it is asked, so
		 * the connection would come back every pass. Nobody can take
		 * the answers any more: it is over. */
		if ((ev[i].events & (EPOLLHUP | EPOLLERR)) && !c->eof && !c->broken &&
		    !c->reading && !c->skip && (c->disc || throttled(c))) {
			c->broken = true;
			mark_dirty(c);
		}
	}
}

void nbd_conn_flush(void *arg, uint64_t now)
{
	struct nbd_server *s = arg;

	(void)now;
	while (s->dirty) {
		struct nbd_conn *c = s->dirty;

		s->dirty = c->next_dirty;
		c->in_dirty = false;
		settle(c);
	}
	if (s->again) {
		uint64_t one = 1;

		s->again = false;
		if (write(s->evfd, &one, sizeof(one)) < 0) {
			/* EAGAIN: a wake-up is pending anyway */
		}
	}
}

void nbd_conn_hand_over(struct nbd_conn *c)
{
	struct nbd_server *s = c->srv;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	c->next = s->adopt;
	s->adopt = c;
	pthread_mutex_unlock(&s->mu);
	if (write(s->evfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: a wake-up is pending anyway */
	}
}
