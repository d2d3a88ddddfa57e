/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lbfo-nbd's server (src/nbd/nbd*.c): the protocol's byte
 * layouts, then the whole server — handshake thread, the host's loop as
 * its guest — over a socketpair, the host on the fake target
 * (tests/iscsi/fake_target.c). The test is the NBD client, byte by byte:
 * what it reads back equals what the fake LU holds; refused requests keep
 * the stream in step; a client gone mid-write leaves the LU untouched and
 * the server clean.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_target.h"
#include "nbdsrv.h"
#include "san_internal.h"

#define BS 512
#define NBLOCKS 2048

static char logbuf[1 << 16];
static size_t loglen;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void cap_log(int level, const char *msg, void *opaque)
{
	int n;

	(void)level, (void)opaque;
	pthread_mutex_lock(&log_mu);
	n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", msg);
	if (n > 0 && loglen + (size_t)n < sizeof(logbuf))
		loglen += (size_t)n;
	pthread_mutex_unlock(&log_mu);
	if (getenv("FX_LOG"))
		fprintf(stderr, "%s\n", msg);
}

static bool logged(const char *s)
{
	bool yes;

	pthread_mutex_lock(&log_mu);
	yes = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return yes;
}

/* ---- the codec ------------------------------------------------------------------ */

static void test_request_and_replies(void **state)
{
	uint8_t b[64] = { 0x25, 0x60, 0x95, 0x13, 0, 1, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8,
			  0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0 };
	struct nbd_request r;

	(void)state;
	assert_int_equal(nbd_parse_request(b, &r), 0);
	assert_int_equal(r.flags, NBD_CMD_FLAG_FUA);
	assert_int_equal(r.type, NBD_CMD_WRITE);
	assert_true(r.handle == 0x0102030405060708ull);
	assert_int_equal(r.offset, 4096);
	assert_int_equal(r.count, 4096);
	b[0] = 0x26;
	assert_int_equal(nbd_parse_request(b, &r), -1);

	assert_int_equal(nbd_simple_reply(b, NBD_EIO, 7), 16);
	assert_int_equal(nbd_get32(b), NBD_SIMPLE_MAGIC);
	assert_int_equal(nbd_get32(b + 4), 5);
	assert_true(nbd_get64(b + 8) == 7);
	assert_int_equal(nbd_chunk_data(b, 9, 1024, 512, true), 28);
	assert_int_equal(nbd_get32(b), NBD_STRUCTURED_MAGIC);
	assert_int_equal(nbd_get16(b + 4), NBD_REPLY_FLAG_DONE);
	assert_int_equal(nbd_get16(b + 6), NBD_REPLY_TYPE_OFFSET_DATA);
	assert_int_equal(nbd_get32(b + 16), 520);
	assert_true(nbd_get64(b + 20) == 1024);
	assert_int_equal(nbd_chunk_error(b, 9, NBD_EINVAL), 26);
	assert_int_equal(nbd_get16(b + 6), NBD_REPLY_TYPE_ERROR);
	assert_int_equal(nbd_get32(b + 16), 6);
	assert_int_equal(nbd_get32(b + 20), 22);
	assert_int_equal(nbd_chunk_done(b, 9), 20);
	assert_int_equal(nbd_get16(b + 6), NBD_REPLY_TYPE_NONE);
	assert_int_equal(nbd_errno(ENOSPC), NBD_ENOSPC);
	assert_int_equal(nbd_errno(ESHUTDOWN), NBD_ESHUTDOWN);
	assert_int_equal(nbd_errno(ETIMEDOUT), NBD_EIO);
}

static void test_go_data(void **state)
{
	uint8_t d[32];
	struct nbd_go g;

	(void)state;
	nbd_put32(d, 3);
	memcpy(d + 4, "abc", 3);
	nbd_put16(d + 7, 2);
	nbd_put16(d + 9, NBD_INFO_BLOCK_SIZE);
	nbd_put16(d + 11, NBD_INFO_NAME);
	assert_int_equal(nbd_parse_go(d, 13, &g), 0);
	assert_string_equal(g.name, "abc");
	assert_true(g.want_block_size && g.want_name && !g.want_description);
	assert_int_equal(nbd_parse_go(d, 12, &g), -1);   /* one request short */
	assert_int_equal(nbd_parse_go(d, 14, &g), -1);   /* a byte too many */
	nbd_put32(d, 100);
	assert_int_equal(nbd_parse_go(d, 13, &g), -1);   /* name longer than the data */
	nbd_put32(d, 3);
	d[5] = 0;
	assert_int_equal(nbd_parse_go(d, 13, &g), -1);   /* NUL in the name */
	assert_int_equal(nbd_parse_go(d, 5, &g), -1);
}

static void test_check_request(void **state)
{
	struct nbd_request r = { .type = NBD_CMD_READ, .offset = 512, .count = 512 };
	const uint64_t size = 1 << 20;

	(void)state;
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), 0);
	r.offset = 100;
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), NBD_EINVAL);
	r.offset = size - 512;
	r.count = 1024;
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), NBD_EINVAL);
	r.type = NBD_CMD_WRITE;
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), NBD_ENOSPC);
	r.offset = UINT64_MAX - 511; /* no wrap-around */
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), NBD_ENOSPC);
	r.offset = 0;
	assert_int_equal(nbd_check_request(&r, size, 512, true, false, false), NBD_EPERM);
	r.flags = NBD_CMD_FLAG_NO_HOLE; /* only for WRITE_ZEROES */
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), NBD_EINVAL);
	r.type = NBD_CMD_WRITE_ZEROES;
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), 0);
	r.type = NBD_CMD_READ;
	r.flags = NBD_CMD_FLAG_DF; /* only with structured replies */
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), NBD_EINVAL);
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, true), 0);
	r.flags = NBD_CMD_FLAG_FUA; /* valid on every command, a read too */
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), 0);
	r.flags = 0;
	r.type = NBD_CMD_TRIM;
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), NBD_EINVAL);
	assert_int_equal(nbd_check_request(&r, size, 512, false, true, false), 0);
	r.type = NBD_CMD_BLOCK_STATUS;
	assert_int_equal(nbd_check_request(&r, size, 512, false, true, true), NBD_EINVAL);
	r.type = NBD_CMD_READ;
	r.count = NBD_MAX_PAYLOAD + 512;
	assert_int_equal(nbd_check_request(&r, 1ull << 40, 512, false, false, false),
			 NBD_EOVERFLOW);
	r.count = 0;
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), NBD_EINVAL);
	r.type = NBD_CMD_FLUSH;
	assert_int_equal(nbd_check_request(&r, size, 512, false, false, false), 0);
}

/* ---- the server over a socketpair ------------------------------------------------ */

struct bed {
	struct ft *ft;
	struct lbfo_host *h;
	struct nbd_server srv;
	int fd;             /* the client's end */
};

static struct lbfo_san *one_lu(void)
{
	struct lbfo_san *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->targets = calloc(1, sizeof(*s->targets));
	s->lus = calloc(1, sizeof(*s->lus));
	assert_non_null(s->targets);
	assert_non_null(s->lus);
	s->ntargets = s->nlus = 1;
	snprintf(s->targets[0].iqn, sizeof(s->targets[0].iqn), "iqn.2026-12.io.lbfo:fake");
	lbfo_tgt_check_init(&s->targets[0].chk);
	s->targets[0].chk.reachable[0] = true;
	s->targets[0].npaths = s->lus[0].npaths = 1;
	s->lus[0].paths[0] = (struct san_path){ 0, 0, 1 };
	snprintf(s->lus[0].id.id, sizeof(s->lus[0].id.id), "naa.6001405fa47e00010000000000000001");
	s->lus[0].id.blocks = NBLOCKS;
	s->lus[0].id.block_size = BS;
	return s;
}

/* The fake transport has no file descriptors: the loop must look often
 * (the connections' real sockets still wake it at once). */
static struct ft *the_ft; /* its clock: the loop's (real) one */

static int fast_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int rc = poll(fds, n, timeout < 0 || timeout > 1 ? 1 : timeout);

	ft_now(the_ft, lbfo_now_ns());
	return rc;
}

static void bed_up(struct bed *b)
{
	static struct lbfo_lu_env env;
	struct lbfo_host_config hc;
	struct timeval tv = { .tv_sec = 60 }; /* valgrind is slow */
	char err[256];
	int sv[2];

	nbd_log_to(cap_log);
	b->ft = ft_new(NBLOCKS, BS);
	the_ft = b->ft;
	ft_now(b->ft, lbfo_now_ns());
	env = (struct lbfo_lu_env){ .xops = &ft_xport_ops, .xenv = b->ft, .poll = fast_poll };
	lbfo_host_config_defaults(&hc);
	snprintf(hc.lu.target, sizeof(hc.lu.target), "iqn.2026-12.io.lbfo:fake");
	snprintf(hc.lu.initiator, sizeof(hc.lu.initiator), "iqn.2026-12.io.lbfo:host");
	snprintf(hc.lu.control, sizeof(hc.lu.control), "none");
	snprintf(hc.lu.lock_dir, sizeof(hc.lu.lock_dir), "none");
	hc.lu.link_watch = false;
	hc.lu.log = cap_log;
	assert_non_null(lbfo_lu_config_add_path(&hc.lu, NULL, "p0:3260", err, sizeof(err)));
	assert_int_equal(lbfo_host_config_set(&hc, "fence", "none", err, sizeof(err)), 0);
	ft_portal(b->ft, "p0:3260", 1, 0);
	b->h = lbfo_host_start_env(&hc, one_lu(), &env, err, sizeof(err));
	lbfo_host_config_free(&hc);
	assert_non_null(b->h);
	assert_int_equal(lbfo_host_wait_ready(b->h, 5000), 1);
	assert_int_equal(nbd_server_init(&b->srv, b->h, false, err, sizeof(err)), 0);
	lbfo_host_set_guest(b->h, &(struct lbfo_host_guest){ .fd = b->srv.epfd,
		.service = nbd_conn_service, .flush = nbd_conn_flush, .arg = &b->srv });
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	b->fd = sv[0];
	assert_int_equal(nbd_server_accept(&b->srv, sv[1], "test client"), 0);
}

static void bed_down(struct bed *b)
{
	if (b->fd >= 0)
		close(b->fd);
	assert_int_equal(nbd_server_stop(&b->srv, 5000), 0);
	lbfo_host_set_guest(b->h, NULL);
	lbfo_host_stop(b->h);
	nbd_server_fini(&b->srv);
	ft_free(b->ft);
}

static void send_all(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void recv_all(int fd, void *p, size_t n)
{
	uint8_t *q = p;

	while (n) {
		ssize_t k = read(fd, q, n);

		assert_true(k > 0);
		q += k;
		n -= (size_t)k;
	}
}

static void option_send(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];

	nbd_put64(h, NBD_IHAVEOPT);
	nbd_put32(h + 8, opt);
	nbd_put32(h + 12, len);
	send_all(fd, h, 16);
	if (len)
		send_all(fd, data, len);
}

/* One reply to opt: its type, its data into out (at most cap bytes). */
static uint32_t option_reply(int fd, uint32_t opt, void *out, uint32_t cap, uint32_t *outlen)
{
	uint8_t h[20];
	uint32_t n;

	recv_all(fd, h, 20);
	assert_true(nbd_get64(h) == NBD_REP_MAGIC);
	assert_int_equal(nbd_get32(h + 8), opt);
	n = nbd_get32(h + 16);
	assert_true(n < cap);
	recv_all(fd, out, n);
	((uint8_t *)out)[n] = 0;
	if (outlen)
		*outlen = n;
	return nbd_get32(h + 12);
}

static uint32_t option(int fd, uint32_t opt, const void *data, uint32_t len, void *out,
		       uint32_t cap, uint32_t *outlen)
{
	option_send(fd, opt, data, len);
	return option_reply(fd, opt, out, cap, outlen);
}

static void greet(int fd)
{
	uint8_t g[18];

	recv_all(fd, g, 18);
	assert_true(nbd_get64(g) == NBD_MAGIC);
	assert_true(nbd_get64(g + 8) == NBD_IHAVEOPT);
	assert_int_equal(nbd_get16(g + 16), NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	nbd_put32(g, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	send_all(fd, g, 4);
}

/* GO (or INFO) on name: the export's size and flags; the block size
 * minimum into *min. Returns the final reply's type. */
static uint32_t go(int fd, uint32_t opt, const char *name, uint64_t *size, uint16_t *flags,
		   uint32_t *min, char *msg, size_t msglen)
{
	uint8_t d[600];
	uint32_t t, n, nl = (uint32_t)strlen(name);

	nbd_put32(d, nl);
	memcpy(d + 4, name, nl);
	nbd_put16(d + 4 + nl, 1);
	nbd_put16(d + 6 + nl, NBD_INFO_BLOCK_SIZE);
	option_send(fd, opt, d, 8 + nl);
	while ((t = option_reply(fd, opt, d, sizeof(d), &n)) == NBD_REP_INFO) {
		if (nbd_get16(d) == NBD_INFO_EXPORT) {
			*size = nbd_get64(d + 2);
			*flags = nbd_get16(d + 10);
		} else if (nbd_get16(d) == NBD_INFO_BLOCK_SIZE) {
			*min = nbd_get32(d + 2);
		}
	}
	if (msg)
		snprintf(msg, msglen, "%.*s", (int)msglen - 1, (char *)d);
	return t;
}

/* The greeting, then GO on export "" (structured replies first if asked). */
static void handshake(int fd, bool structured)
{
	uint8_t d[64];
	uint64_t size = 0;
	uint16_t flags = 0;
	uint32_t min = 0;

	greet(fd);
	if (structured)
		assert_int_equal(option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, d, sizeof(d), NULL),
				 NBD_REP_ACK);
	assert_int_equal(go(fd, NBD_OPT_GO, "", &size, &flags, &min, NULL, 0), NBD_REP_ACK);
	assert_true(size == (uint64_t)NBLOCKS * BS);
	assert_true(flags & NBD_FLAG_CAN_MULTI_CONN);
	assert_true(flags & NBD_FLAG_SEND_FUA);
	assert_int_equal(min, BS);
}

static void request(int fd, uint16_t type, uint16_t flags, uint64_t handle, uint64_t off,
		    uint32_t count)
{
	uint8_t r[NBD_REQUEST_SIZE];

	nbd_put32(r, NBD_REQUEST_MAGIC);
	nbd_put16(r + 4, flags);
	nbd_put16(r + 6, type);
	nbd_put64(r + 8, handle);
	nbd_put64(r + 16, off);
	nbd_put32(r + 24, count);
	send_all(fd, r, sizeof(r));
}

/* A simple reply: its error; handle checked. */
static uint32_t simple_reply(int fd, uint64_t handle)
{
	uint8_t h[16];

	recv_all(fd, h, 16);
	assert_int_equal(nbd_get32(h), NBD_SIMPLE_MAGIC);
	assert_true(nbd_get64(h + 8) == handle);
	return nbd_get32(h + 4);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

/* Every server connection thread has ended (at most 5 s). */
static bool conns_gone(struct bed *b)
{
	int i, n = 1;

	for (i = 0; i < 500 && n; i++) {
		pthread_mutex_lock(&b->srv.mu);
		n = b->srv.nconns;
		pthread_mutex_unlock(&b->srv.mu);
		if (n)
			usleep(10000);
	}
	return n == 0;
}

static void test_handshake_options(void **state)
{
	struct bed b;
	uint8_t d[1024];
	char msg[512];
	uint64_t size;
	uint16_t flags;
	uint32_t min, n;

	(void)state;
	bed_up(&b);
	greet(b.fd);
	/* LIST: the export by WWID with its description, then ACK */
	assert_int_equal(option(b.fd, NBD_OPT_LIST, NULL, 0, d, sizeof(d), &n), NBD_REP_SERVER);
	assert_int_equal(nbd_get32(d), strlen("naa.6001405fa47e00010000000000000001"));
	assert_memory_equal(d + 4, "naa.6001405fa47e00010000000000000001", 36);
	assert_int_equal(option_reply(b.fd, NBD_OPT_LIST, d, sizeof(d), NULL), NBD_REP_ACK);
	/* refusals keep the handshake going */
	assert_int_equal(option(b.fd, NBD_OPT_STARTTLS, NULL, 0, d, sizeof(d), NULL),
			 NBD_REP_ERR_UNSUP);
	assert_int_equal(option(b.fd, 77, "x", 1, d, sizeof(d), NULL), NBD_REP_ERR_UNSUP);
	assert_int_equal(option(b.fd, NBD_OPT_GO, "\0\0", 2, d, sizeof(d), NULL),
			 NBD_REP_ERR_INVALID);
	assert_int_equal(go(b.fd, NBD_OPT_INFO, "naa.nosuch", &size, &flags, &min, msg,
			    sizeof(msg)), NBD_REP_ERR_UNKNOWN);
	assert_non_null(strstr(msg, "no export 'naa.nosuch'"));
	/* INFO by WWID, then GO on it */
	size = 0;
	assert_int_equal(go(b.fd, NBD_OPT_INFO, "naa.6001405fa47e00010000000000000001", &size,
			    &flags, &min, NULL, 0), NBD_REP_ACK);
	assert_true(size == (uint64_t)NBLOCKS * BS);
	assert_false(flags & NBD_FLAG_READ_ONLY);
	assert_int_equal(go(b.fd, NBD_OPT_GO, "naa.6001405fa47e00010000000000000001", &size,
			    &flags, &min, NULL, 0), NBD_REP_ACK);
	request(b.fd, NBD_CMD_FLUSH, 0, 1, 0, 0);
	assert_int_equal(simple_reply(b.fd, 1), 0);
	request(b.fd, NBD_CMD_DISC, 0, 2, 0, 0);
	assert_true(conns_gone(&b));
	bed_down(&b);
}

static void test_write_read_simple(void **state)
{
	struct bed b;
	uint8_t w[8192], r[8192];

	(void)state;
	bed_up(&b);
	handshake(b.fd, false);
	fill(w, sizeof(w), 1);
	request(b.fd, NBD_CMD_WRITE, 0, 10, 4096, sizeof(w));
	send_all(b.fd, w, sizeof(w));
	assert_int_equal(simple_reply(b.fd, 10), 0);
	assert_memory_equal(ft_block(b.ft, 8), w, sizeof(w)); /* on the LU */
	request(b.fd, NBD_CMD_READ, 0, 11, 4096, sizeof(r));
	assert_int_equal(simple_reply(b.fd, 11), 0);
	recv_all(b.fd, r, sizeof(r));
	assert_memory_equal(r, w, sizeof(w));
	/* FUA on an LU without DPOFUA and a write-back cache: a flush follows */
	{
		unsigned syncs = ft_stats(b.ft)->syncs;

		request(b.fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 12, 0, 512);
		send_all(b.fd, w, 512);
		assert_int_equal(simple_reply(b.fd, 12), 0);
		assert_int_equal(ft_stats(b.ft)->syncs, syncs + 1);
	}
	bed_down(&b);
}

static void test_structured_read(void **state)
{
	struct bed b;
	uint8_t h[28], r[1024];

	(void)state;
	bed_up(&b);
	fill(ft_block(b.ft, 2), 1024, 5);
	handshake(b.fd, true);
	request(b.fd, NBD_CMD_READ, NBD_CMD_FLAG_DF, 20, 1024, 1024);
	recv_all(b.fd, h, 28);
	assert_int_equal(nbd_get32(h), NBD_STRUCTURED_MAGIC);
	assert_int_equal(nbd_get16(h + 4), NBD_REPLY_FLAG_DONE);
	assert_int_equal(nbd_get16(h + 6), NBD_REPLY_TYPE_OFFSET_DATA);
	assert_true(nbd_get64(h + 8) == 20);
	assert_int_equal(nbd_get32(h + 16), 1024 + 8);
	assert_true(nbd_get64(h + 20) == 1024);
	recv_all(b.fd, r, sizeof(r));
	assert_memory_equal(r, ft_block(b.ft, 2), 1024);
	/* an error: one ERROR chunk, DONE */
	request(b.fd, NBD_CMD_READ, 0, 21, 100, 512);
	recv_all(b.fd, h, 26);
	assert_int_equal(nbd_get16(h + 6), NBD_REPLY_TYPE_ERROR);
	assert_int_equal(nbd_get16(h + 4), NBD_REPLY_FLAG_DONE);
	assert_int_equal(nbd_get32(h + 20), NBD_EINVAL);
	bed_down(&b);
}

/* Refused requests keep the stream in step: a refused write's payload is
 * read and dropped, and the next request is served. */
static void test_refused_keep_step(void **state)
{
	struct bed b;
	uint8_t w[4096], r[512], before[4096];

	(void)state;
	bed_up(&b);
	handshake(b.fd, false);
	fill(w, sizeof(w), 9);
	memcpy(before, ft_block(b.ft, NBLOCKS - 8), sizeof(before));
	/* past the end: ENOSPC, payload dropped; the answer only once the
	 * whole payload is in (a client reads answers after sending) */
	request(b.fd, NBD_CMD_WRITE, 0, 30, (uint64_t)(NBLOCKS - 4) * BS, sizeof(w));
	send_all(b.fd, w, sizeof(w) / 2);
	{
		struct pollfd p = { .fd = b.fd, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 200), 0); /* nothing answered yet */
	}
	send_all(b.fd, w + sizeof(w) / 2, sizeof(w) / 2);
	assert_int_equal(simple_reply(b.fd, 30), NBD_ENOSPC);
	assert_memory_equal(ft_block(b.ft, NBLOCKS - 8), before, sizeof(before));
	/* unaligned: EINVAL */
	request(b.fd, NBD_CMD_WRITE, 0, 31, 100, 512);
	send_all(b.fd, w, 512);
	assert_int_equal(simple_reply(b.fd, 31), NBD_EINVAL);
	request(b.fd, NBD_CMD_READ, 0, 32, 0, 100);
	assert_int_equal(simple_reply(b.fd, 32), NBD_EINVAL);
	request(b.fd, NBD_CMD_BLOCK_STATUS, 0, 33, 0, 512);
	assert_int_equal(simple_reply(b.fd, 33), NBD_EINVAL);
	/* still in step */
	request(b.fd, NBD_CMD_READ, 0, 34, 0, 512);
	assert_int_equal(simple_reply(b.fd, 34), 0);
	recv_all(b.fd, r, sizeof(r));
	assert_memory_equal(r, ft_block(b.ft, 0), 512);
	bed_down(&b);
}

/* More requests at once than the server reads ahead (512): every one is
 * answered, each by its own handle, the data right. */
static void test_pipelined_backpressure(void **state)
{
	struct bed b;
	enum { N = 1500 };
	static uint8_t seen[N];
	uint8_t r[512];
	int i;

	(void)state;
	bed_up(&b);
	handshake(b.fd, false);
	for (i = 0; i < NBLOCKS; i++)
		fill(ft_block(b.ft, (uint64_t)i), BS, (unsigned)i);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < N; i++)
		request(b.fd, NBD_CMD_READ, 0, (uint64_t)i, (uint64_t)(i % NBLOCKS) * BS, BS);
	for (i = 0; i < N; i++) {
		uint8_t h[16];
		uint64_t k;

		recv_all(b.fd, h, 16);
		assert_int_equal(nbd_get32(h), NBD_SIMPLE_MAGIC);
		assert_int_equal(nbd_get32(h + 4), 0);
		k = nbd_get64(h + 8);
		assert_true(k < N && !seen[k]);
		seen[k] = 1;
		recv_all(b.fd, r, BS);
		assert_memory_equal(r, ft_block(b.ft, k % NBLOCKS), BS);
	}
	bed_down(&b);
}

/* A client gone mid-write: the half-sent write never reaches the LU, the
 * connection ends, the server serves the next one. */
static void test_disconnect_mid_write(void **state)
{
	struct bed b;
	uint8_t w[65536], before[65536];
	int sv[2];

	(void)state;
	bed_up(&b);
	handshake(b.fd, false);
	memcpy(before, ft_block(b.ft, 64), sizeof(before));
	fill(w, sizeof(w), 3);
	request(b.fd, NBD_CMD_WRITE, 0, 40, 64 * BS, sizeof(w));
	send_all(b.fd, w, sizeof(w) / 2);
	close(b.fd);
	b.fd = -1;
	assert_true(conns_gone(&b));
	assert_memory_equal(ft_block(b.ft, 64), before, sizeof(before));
	/* the next client */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	b.fd = sv[0];
	assert_int_equal(nbd_server_accept(&b.srv, sv[1], "second client"), 0);
	handshake(b.fd, false);
	request(b.fd, NBD_CMD_FLUSH, 0, 41, 0, 0);
	assert_int_equal(simple_reply(b.fd, 41), 0);
	bed_down(&b);
}

static void test_bad_magic_closes(void **state)
{
	struct bed b;
	uint8_t junk[NBD_REQUEST_SIZE] = { 1, 2, 3, 4 };

	(void)state;
	bed_up(&b);
	handshake(b.fd, false);
	send_all(b.fd, junk, sizeof(junk));
	assert_int_equal(read(b.fd, junk, 1), 0); /* closed by the server */
	assert_true(conns_gone(&b));
	assert_true(logged("test client: bad request magic 0x01020304"));
	bed_down(&b);
}

/* Writes of zeroes where WRITE SAME is refused: written as data. */
static void test_zero_fallback(void **state)
{
	struct bed b;
	uint8_t z[4096] = { 0 };

	(void)state;
	bed_up(&b);
	ft_caps(b.ft)->no_ws = true;
	fill(ft_block(b.ft, 100), sizeof(z), 4);
	handshake(b.fd, false);
	request(b.fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 50, 100 * BS, sizeof(z));
	assert_int_equal(simple_reply(b.fd, 50), 0);
	assert_memory_equal(ft_block(b.ft, 100), z, sizeof(z));
	bed_down(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_and_replies),
		cmocka_unit_test(test_go_data),
		cmocka_unit_test(test_check_request),
		cmocka_unit_test(test_handshake_options),
		cmocka_unit_test(test_write_read_simple),
		cmocka_unit_test(test_structured_read),
		cmocka_unit_test(test_refused_keep_step),
		cmocka_unit_test(test_pipelined_backpressure),
		cmocka_unit_test(test_disconnect_mid_write),
		cmocka_unit_test(test_bad_magic_closes),
		cmocka_unit_test(test_zero_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
