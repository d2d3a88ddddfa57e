/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The harness of the LU's deterministic failover tests: the real LU and
 * path session code over the fake target (tests/iscsi/fake_target.c) on a
 * fake clock, serviced every millisecond.
 */
#ifndef LBFO_TEST_HARNESS_H
#define LBFO_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <cmocka.h>

#include "fake_target.h"
#include "lbfo/lu.h"
#include "lu_internal.h"

#define MS 1000000ull
#define BS 512
#define NBLOCKS 2048

struct fx {
	struct ft *t;
	struct lbfo_tgt *tgt;
	struct lbfo_lu *lu;
	struct lbfo_lu_config cfg;
	struct lbfo_lu_ident id;       /* what discovery would have read */
	struct lbfo_tgt_check chk;     /* what the reinstatement check would have seen */
	uint64_t now;
	char log[1 << 16];
	size_t loglen;
	char lockdir[64];
};

static inline void cap_log(int level, const char *msg, void *opaque)
{
	struct fx *x = opaque;
	int n;

	(void)level;
	n = snprintf(x->log + x->loglen, sizeof(x->log) - x->loglen, "%s\n", msg);
	if (n > 0 && x->loglen + (size_t)n < sizeof(x->log))
		x->loglen += (size_t)n;
	if (getenv("FX_LOG"))
		fprintf(stderr, "[%llu ms] %s\n", (unsigned long long)(x->now / MS % 1000000), msg);
}

static inline bool logged(const struct fx *x, const char *s) { return strstr(x->log, s) != NULL; }

/* Two portals of one portal group on one controller, like one tgtd. */
static inline struct fx *fx_new(int npaths)
{
	struct fx *x = calloc(1, sizeof(*x));
	char err[256];
	int i;

	x->t = ft_new(NBLOCKS, BS);
	x->now = 1000 * MS;
	ft_now(x->t, x->now);
	lbfo_lu_config_defaults(&x->cfg);
	snprintf(x->cfg.target, sizeof(x->cfg.target), "iqn.2026-12.io.lbfo:fake");
	snprintf(x->cfg.initiator, sizeof(x->cfg.initiator), "iqn.2026-12.io.lbfo:host");
	x->cfg.lun = 1;
	lbfo_tgt_check_init(&x->chk);
	x->cfg.policy[0] = '\0';
	snprintf(x->cfg.policy, sizeof(x->cfg.policy), "failover");
	x->cfg.nop_interval_ms = 100;
	x->cfg.nop_timeout_ms = 300;
	x->cfg.login_timeout_ms = 1000;
	x->cfg.reconnect_min_ms = 50;
	x->cfg.reconnect_max_ms = 400;
	x->cfg.no_path_timeout_ms = 2000;
	x->cfg.cmd_timeout_ms = 5000;
	x->cfg.link_watch = false;
	snprintf(x->cfg.control, sizeof(x->cfg.control), "none");
	snprintf(x->cfg.lock_dir, sizeof(x->cfg.lock_dir), "none");
	x->cfg.log = cap_log;
	x->cfg.log_opaque = x;
	for (i = 0; i < npaths; i++) {
		char portal[24];

		snprintf(portal, sizeof(portal), "p%d:3260", i);
		assert_non_null(lbfo_lu_config_add_path(&x->cfg, NULL, portal, err, sizeof(err)));
		ft_portal(x->t, portal, 1, 0);
		x->chk.reachable[i] = true;
		x->chk.tpgt[i] = 1;
		x->chk.reinstate_cross[i] = x->chk.cross_tested[i] = npaths > 1;
	}
	/* What discovery reports on this target (the fake reinstates). */
	x->chk.reinstate_own = true;
	x->chk.checked = true;
	snprintf(x->id.id, sizeof(x->id.id), "naa.6001405fa47e00010000000000000001");
	x->id.blocks = NBLOCKS;
	x->id.block_size = BS;
	x->id.dpofua = true;
	x->id.wce = true;
	x->id.have_mode = true;
	return x;
}

/* The target (one session per portal) and the LU over it. */
static inline void fx_start(struct fx *x)
{
	struct lbfo_lu_env env = { .xops = &ft_xport_ops, .xenv = x->t };
	struct lbfo_lu_pathspec ps[LBFO_MAX_PATHS];
	int paths[LBFO_MAX_PATHS], i;
	char err[512];

	for (i = 0; i < x->cfg.npaths; i++) {
		paths[i] = i;
		ps[i] = (struct lbfo_lu_pathspec){ .tpath = i, .lun = 1 };
	}
	x->tgt = lbfo_tgt_create(&x->cfg, x->cfg.target, "1", paths, x->cfg.npaths, &x->chk, &env,
				 x->now, err, sizeof(err));
	if (!x->tgt)
		fprintf(stderr, "target: %s\n", err);
	assert_non_null(x->tgt);
	for (i = 0; i < x->cfg.npaths; i++)
		ps[i].tgt = x->tgt;
	x->lu = lbfo_lu_create(&x->cfg, &x->id, ps, x->cfg.npaths, &env, x->now, err, sizeof(err));
	if (!x->lu)
		fprintf(stderr, "create: %s\n", err);
	assert_non_null(x->lu);
	if (lbfo_lu_lock(x->lu, err, sizeof(err)) < 0) {
		fprintf(stderr, "lock: %s\n", err);
		fail();
	}
}

/* Advance the clock ms milliseconds, servicing the LU every millisecond. */
static inline void step(struct fx *x, unsigned ms)
{
	unsigned k;

	for (k = 0; k < ms; k++) {
		x->now += MS;
		ft_now(x->t, x->now);
		lbfo_tgt_service(x->tgt, NULL, 0, x->now);
		lbfo_lu_service(x->lu, x->now);
		/* never a fence and the path's own login at once */
		for (int i = 0; i < x->lu->npaths; i++)
			assert_false(x->lu->paths[i].s->st == LBFO_SS_LOGIN &&
				     lbfo_session_fencing(x->lu->paths[i].s));
	}
}

#define STEP_UNTIL(x, cond, max_ms) \
	do { unsigned k_ = 0; while (!(cond) && k_++ < (max_ms)) step(x, 1); } while (0)

/* As the host does: the sessions first (nothing in flight references a
 * buffer any more), then the LU, then the target. */
static inline void fx_free(struct fx *x)
{
	lbfo_tgt_shutdown(x->tgt);
	lbfo_lu_destroy(x->lu);
	lbfo_tgt_destroy(x->tgt);
	ft_free(x->t);
	free(x);
}

static inline int paths_up(struct fx *x)
{
	int i, n = 0;

	for (i = 0; i < x->lu->npaths; i++)
		n += lu_path_ready(&x->lu->paths[i]);
	return n;
}

/* ---- client requests ------------------------------------------------------ */

struct req {
	struct lbfo_io io;
	uint8_t buf[8 * BS];
	uint64_t t0;
};

static inline struct req *submit(struct fx *x, enum lbfo_io_type type, uint64_t lba, uint32_t blocks,
			  uint8_t fill)
{
	struct req *r = calloc(1, sizeof(*r));

	memset(r->buf, fill, sizeof(r->buf));
	lbfo_io_init(&r->io, type, lba * BS, blocks * BS,
		     type == LBFO_IO_READ || type == LBFO_IO_WRITE ? r->buf : NULL, false);
	r->t0 = x->now;
	lbfo_lu_submit(x->lu, &r->io);
	return r;
}

static inline struct req *write1(struct fx *x, uint64_t lba, uint8_t fill)
{
	return submit(x, LBFO_IO_WRITE, lba, 1, fill);
}

/* Wait (fake time) until done; returns the result, or 1 if not done. */
static inline int await(struct fx *x, struct req *r, unsigned max_ms)
{
	STEP_UNTIL(x, lbfo_io_done(&r->io), max_ms);
	return lbfo_io_done(&r->io) ? r->io.result : 1;
}

static inline void req_free(struct req *r)
{
	lbfo_io_fini(&r->io);
	free(r);
}

/* Write, wait, free: the result. */
static inline int write_now(struct fx *x, uint64_t lba, uint8_t fill, unsigned max_ms)
{
	struct req *r = write1(x, lba, fill);
	int rc = await(x, r, max_ms);

	assert_int_not_equal(rc, 1);
	req_free(r);
	return rc;
}

static inline void up(struct fx *x)
{
	STEP_UNTIL(x, paths_up(x) == x->lu->npaths, 2000);
	assert_int_equal(paths_up(x), x->lu->npaths);
	/* the power-on unit attention of each new nexus, taken */
	assert_int_equal(write_now(x, NBLOCKS - 1, 0, 100), 0);
}

static inline uint8_t disk(struct fx *x, uint64_t lba) { return ft_block(x->t, lba)[0]; }


#endif
