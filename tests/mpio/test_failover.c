/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The multipath LU's failover, driven deterministically: the real LU and
 * path session code over a fake target and network (tests/iscsi/
 * fake_target.c) on a fake clock, serviced every millisecond. Each test
 * scripts one interleaving of sends, deaths, timers, fences and late
 * bytes, and checks what a client would: the bytes on the disk, the
 * answer it got, and when.
 *
 * The cases are the data-safety issue's (docs/failover.md): the ghost
 * write, held writes released after a fence, a stale write after the
 * no-path deadline, fences that fail, a restarted instance, a resized
 * LU, the sense table, the last path held out, a fatal loop error,
 * capabilities, short transfers, request arithmetic, shutdown.
 */
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
	struct lbfo_lu *lu;
	struct lbfo_lu_config cfg;
	struct lbfo_lu_probe pr;
	uint64_t now;
	char log[1 << 16];
	size_t loglen;
	char lockdir[64];
};

static void cap_log(int level, const char *msg, void *opaque)
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

static bool logged(const struct fx *x, const char *s) { return strstr(x->log, s) != NULL; }

/* Two portals of one portal group on one controller, like one tgtd. */
static struct fx *fx_new(int npaths)
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
		x->pr.reachable[i] = true;
		x->pr.tpgt[i] = 1;
		x->pr.reinstate_cross[i] = x->pr.cross_tested[i] = npaths > 1;
	}
	/* What lbfo_lu_probe reports on this target (the fake reinstates). */
	x->pr.reinstate_own = true;
	x->pr.checked = true;
	snprintf(x->pr.ident.id, sizeof(x->pr.ident.id), "naa.6001405fa47e00010000000000000001");
	x->pr.ident.blocks = NBLOCKS;
	x->pr.ident.block_size = BS;
	x->pr.ident.dpofua = true;
	x->pr.ident.wce = true;
	x->pr.ident.have_mode = true;
	return x;
}

static void fx_start(struct fx *x)
{
	struct lbfo_lu_env env = { .xops = &ft_xport_ops, .xenv = x->t, .no_control = true };
	char err[512];

	x->lu = lbfo_lu_create(&x->cfg, &x->pr, &env, x->now, err, sizeof(err));
	if (!x->lu)
		fprintf(stderr, "create: %s\n", err);
	assert_non_null(x->lu);
	if (lbfo_lu_lock(x->lu, err, sizeof(err)) < 0) {
		fprintf(stderr, "lock: %s\n", err);
		fail();
	}
}

/* Advance the clock ms milliseconds, servicing the LU every millisecond. */
static void step(struct fx *x, unsigned ms)
{
	unsigned k;

	for (k = 0; k < ms; k++) {
		x->now += MS;
		ft_now(x->t, x->now);
		lbfo_lu_service(x->lu, NULL, 0, x->now);
		/* never a fence and the path's own login at once */
		for (int i = 0; i < x->lu->npaths; i++)
			assert_false(x->lu->paths[i].s.st == LBFO_SS_LOGIN &&
				     lbfo_session_fencing(&x->lu->paths[i].s));
	}
}

#define STEP_UNTIL(x, cond, max_ms) \
	do { unsigned k_ = 0; while (!(cond) && k_++ < (max_ms)) step(x, 1); } while (0)

static void fx_free(struct fx *x)
{
	lbfo_lu_destroy(x->lu);
	ft_free(x->t);
	free(x);
}

static int paths_up(struct fx *x)
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

static struct req *submit(struct fx *x, enum lbfo_io_type type, uint64_t lba, uint32_t blocks,
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

static struct req *write1(struct fx *x, uint64_t lba, uint8_t fill)
{
	return submit(x, LBFO_IO_WRITE, lba, 1, fill);
}

/* Wait (fake time) until done; returns the result, or 1 if not done. */
static int await(struct fx *x, struct req *r, unsigned max_ms)
{
	STEP_UNTIL(x, lbfo_io_done(&r->io), max_ms);
	return lbfo_io_done(&r->io) ? r->io.result : 1;
}

static void req_free(struct req *r)
{
	lbfo_io_fini(&r->io);
	free(r);
}

/* Write, wait, free: the result. */
static int write_now(struct fx *x, uint64_t lba, uint8_t fill, unsigned max_ms)
{
	struct req *r = write1(x, lba, fill);
	int rc = await(x, r, max_ms);

	assert_int_not_equal(rc, 1);
	req_free(r);
	return rc;
}

static void up(struct fx *x)
{
	STEP_UNTIL(x, paths_up(x) == x->lu->npaths, 2000);
	assert_int_equal(paths_up(x), x->lu->npaths);
	/* the power-on unit attention of each new nexus, taken */
	assert_int_equal(write_now(x, NBLOCKS - 1, 0, 100), 0);
}

static uint8_t disk(struct fx *x, uint64_t lba) { return ft_block(x->t, lba)[0]; }

/* ---- the cases ------------------------------------------------------------- */

/* The headline: a silent blackhole on the primary; the write caught on it
 * completes on the other path after the fence; a newer write; the
 * blackhole heals: the newest data stays. */
static void test_ghost_write_blackhole(void **state)
{
	struct fx *x = fx_new(2);
	struct req *r;

	(void)state;
	fx_start(x);
	up(x);
	assert_int_equal(write_now(x, 5, 0x11, 100), 0);
	ft_set_net(x->t, 0, FT_BLACKHOLE);
	r = write1(x, 5, 0xaa);
	assert_int_equal(await(x, r, 3000), 0);
	assert_true(x->now - r->t0 < 1000 * MS); /* NOP timeout + fence */
	req_free(r);
	assert_true(logged(x, "path p0 owes a fence"));
	assert_true(logged(x, "path p0 fenced (session reinstated via path p1)"));
	assert_int_equal(write_now(x, 5, 0xbb, 100), 0);
	ft_set_net(x->t, 0, FT_OK);
	step(x, 1000);
	assert_int_equal(disk(x, 5), 0xbb);
	fx_free(x);
}

/* A relay holds p0's bytes (acknowledged, delivered later on the same
 * connection). The fence closes that connection at the target: the late
 * write meets a closed connection. */
static void test_held_write_released_after_fence(void **state)
{
	struct fx *x = fx_new(2);
	struct req *r;

	(void)state;
	fx_start(x);
	up(x);
	assert_int_equal(write_now(x, 9, 0x11, 100), 0);
	ft_set_net(x->t, 0, FT_HOLD);
	r = write1(x, 9, 0xaa);
	assert_int_equal(await(x, r, 3000), 0);
	req_free(r);
	assert_int_equal(write_now(x, 9, 0xbb, 100), 0);
	step(x, 800);
	assert_int_equal(ft_release(x->t, 0), 0);
	assert_true(ft_stats(x->t)->dropped >= 1);
	assert_int_equal(disk(x, 9), 0xbb);
	fx_free(x);
}

/* Without a fence nothing could stop it: on a target that does not
 * reinstate, the start-up check says so; with reservations the late
 * write meets RESERVATION CONFLICT. */
static void test_held_write_fenced_by_reservation(void **state)
{
	struct fx *x = fx_new(2);
	struct req *r;
	uint64_t keys[8];

	(void)state;
	ft_ctrl(x->t, 0)->reinstate = false;
	x->pr.reinstate_own = false;
	memset(x->pr.reinstate_cross, 0, sizeof(x->pr.reinstate_cross));
	fx_start(x);
	assert_int_equal(x->lu->fence.method, LBFO_FENCE_RESERVATION);
	up(x);
	assert_int_equal(ft_pr_keys(x->t, keys, 8), 2);
	assert_int_equal(write_now(x, 9, 0x11, 100), 0);
	ft_set_net(x->t, 0, FT_HOLD);
	r = write1(x, 9, 0xaa);
	assert_int_equal(await(x, r, 3000), 0);
	req_free(r);
	assert_true(logged(x, "preempted via path p1"));
	assert_true(ft_pr_reserved(x->t, NULL, NULL));
	assert_int_equal(write_now(x, 9, 0xbb, 100), 0);
	/* the stale one is refused: its nexus lost its registration (a
	 * unit attention, then RESERVATION CONFLICT) */
	assert_int_equal(ft_release(x->t, 0), 0);
	assert_int_equal(disk(x, 9), 0xbb);
	/* p0 comes back as a new nexus with a key of its own */
	ft_set_net(x->t, 0, FT_OK);
	STEP_UNTIL(x, paths_up(x) == 2, 5000);
	assert_int_equal(paths_up(x), 2);
	assert_int_equal(ft_pr_keys(x->t, keys, 8), 2);
	assert_int_equal(x->lu->paths[0].gen, 1);
	fx_free(x);
}

/* Another owner's reservations: lbfo does not use them (never fights). */
static void test_foreign_reservation_never_fought(void **state)
{
	struct fx *x = fx_new(2);
	uint64_t keys[8];

	(void)state;
	x->pr.reinstate_own = false;
	ft_pr_foreign(x->t, 0xabcdef0000000001ull, false);
	fx_start(x);
	up(x);
	assert_int_equal(x->lu->fence.method, LBFO_FENCE_NONE);
	assert_true(logged(x, "another initiator's key 0xabcdef0000000001"));
	assert_int_equal(write_now(x, 1, 0x42, 100), 0);
	/* its key is still there, untouched */
	assert_true(ft_pr_keys(x->t, keys, 8) >= 1);
	assert_true(keys[0] == 0xabcdef0000000001ull || keys[1] == 0xabcdef0000000001ull ||
		    keys[2] == 0xabcdef0000000001ull);
	fx_free(x);
}

/* Case 1: the write on p0 fails to the client at the no-path deadline
 * (p1 is down too); p1 comes back; a newer write must wait for p0's
 * fence, and the stale one, released later, must not land. */
static void test_stale_write_after_give_up(void **state)
{
	struct fx *x = fx_new(2);
	struct req *r;
	int rc;

	(void)state;
	fx_start(x);
	up(x);
	ft_set_net(x->t, 1, FT_DOWN);
	step(x, 5);
	ft_set_net(x->t, 0, FT_HOLD);
	r = write1(x, 3, 0xaa);
	rc = await(x, r, 5000);
	assert_int_equal(rc, -EIO);
	assert_true(x->now - r->t0 >= 2000 * MS);
	req_free(r);
	ft_set_net(x->t, 1, FT_OK);
	STEP_UNTIL(x, lu_path_ready(&x->lu->paths[1]), 2000);
	r = write1(x, 3, 0xbb);
	assert_int_equal(await(x, r, 5000), 0);
	req_free(r);
	assert_true(logged(x, "path p0 fenced"));
	assert_int_equal(ft_release(x->t, 0), 0);
	assert_int_equal(disk(x, 3), 0xbb);
	fx_free(x);
}

/* Case 2: fences that keep failing back off; the path's own re-login
 * pays the debt; parked writes fail at no_path_timeout meanwhile. */
static void test_failing_fence_backs_off(void **state)
{
	struct fx *x = fx_new(2);
	struct req *r;
	unsigned attempts;

	(void)state;
	/* reinstatement through p1 was not seen at start-up: no fence
	 * through it counts; only p0's own re-login can pay */
	x->pr.reinstate_cross[0] = x->pr.reinstate_cross[1] = false;
	fx_start(x);
	up(x);
	ft_set_net(x->t, 0, FT_HOLD);
	r = write1(x, 4, 0xaa);
	STEP_UNTIL(x, x->lu->paths[0].owes_fence, 2000);
	assert_true(x->lu->paths[0].owes_fence);
	assert_int_equal(await(x, r, 5000), -EIO); /* parked, then the deadline */
	req_free(r);
	attempts = x->lu->paths[0].fence_attempts;
	assert_true(attempts <= 1);
	/* the path's own re-login pays (held bytes never reach the target:
	 * the reinstatement closes the old connection first) */
	ft_set_net(x->t, 0, FT_OK);
	STEP_UNTIL(x, !x->lu->paths[0].owes_fence, 5000);
	assert_false(x->lu->paths[0].owes_fence);
	assert_true(logged(x, "own re-login reinstated the old session"));
	assert_int_equal(write_now(x, 4, 0xbb, 500), 0);
	assert_int_equal(ft_release(x->t, 0), 0);
	assert_int_equal(disk(x, 4), 0xbb);
	fx_free(x);
}

/* Fence attempts that fail are retried with a backoff, not every tick. */
static void test_fence_retry_backoff(void **state)
{
	struct fx *x = fx_new(2);
	struct req *r;

	(void)state;
	fx_start(x);
	up(x);
	ft_set_net(x->t, 0, FT_HOLD);
	r = write1(x, 4, 0xaa);
	STEP_UNTIL(x, x->lu->paths[0].owes_fence, 2000);
	ft_set_net(x->t, 0, FT_DOWN);   /* no own login either */
	ft_set_net(x->t, 1, FT_BLACKHOLE); /* fence logins through p1 hang */
	step(x, 10000);
	/* 10 s: logins time out after 1 s and then back off (100 ms, 200 ms,
	 * … 5 s): a handful of attempts, not one every 20 ms */
	assert_true(x->lu->paths[0].fence_attempts >= 1);
	assert_true(x->lu->paths[0].fence_attempts <= 8);
	assert_true(lbfo_io_done(&r->io));
	assert_int_equal(r->io.result, -EIO);
	req_free(r);
	fx_free(x);
}

/* Case 4: a restarted instance (same initiator name) fences what its
 * predecessor left; a second live instance is refused. */
static void test_restart_fences_predecessor(void **state)
{
	struct fx *x = fx_new(2), *y;
	struct req *r;
	char err[512];
	struct lbfo_lu *second;
	struct lbfo_lu_env env;
	uint32_t rnd0;
	uint16_t qual0;

	(void)state;
	snprintf(x->lockdir, sizeof(x->lockdir), "/tmp/lbfo-fx-XXXXXX");
	assert_non_null(mkdtemp(x->lockdir));
	snprintf(x->cfg.lock_dir, sizeof(x->cfg.lock_dir), "%s", x->lockdir);
	fx_start(x);
	up(x);
	lu_fence_isid(x->lu, &x->lu->paths[0], &rnd0, &qual0);
	/* a second instance on the same LU, same initiator: refused */
	env = (struct lbfo_lu_env){ .xops = &ft_xport_ops, .xenv = x->t, .no_control = true };
	second = lbfo_lu_create(&x->cfg, &x->pr, &env, x->now, err, sizeof(err));
	assert_non_null(second);
	assert_int_equal(lbfo_lu_lock(second, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is already served by another lbfo process"));
	lbfo_lu_destroy(second);
	/* a write held on p0, then the process dies */
	ft_set_net(x->t, 0, FT_HOLD);
	r = write1(x, 6, 0xaa);
	step(x, 50);
	lbfo_lu_shutdown(x->lu, "killed");
	assert_int_equal(await(x, r, 10), -ESHUTDOWN);
	req_free(r);
	lbfo_lu_destroy(x->lu);
	x->lu = NULL;
	/* the successor: same config, the relay still holding */
	y = calloc(1, sizeof(*y));
	memcpy(y, x, sizeof(*y));
	y->cfg.log_opaque = y;
	y->loglen = 0;
	y->log[0] = '\0';
	y->pr.reachable[0] = false;   /* p0 cannot log in: the relay holds */
	y->pr.cross_tested[0] = y->pr.cross_tested[1] = false;
	fx_start(y);
	{
		uint32_t rnd1;
		uint16_t qual1;

		lu_fence_isid(y->lu, &y->lu->paths[0], &rnd1, &qual1);
		assert_int_equal(rnd1, rnd0); /* the same initiator ports */
		assert_int_equal(qual1, qual0);
	}
	assert_true(logged(y, "did not end cleanly"));
	r = write1(y, 6, 0xbb);
	assert_int_equal(await(y, r, 8000), 0);
	req_free(r);
	assert_true(logged(y, "path p0 fenced"));
	assert_int_equal(ft_release(y->t, 0), 0);
	assert_int_equal(disk(y, 6), 0xbb);
	lbfo_lu_destroy(y->lu);
	ft_free(y->t);
	free(y);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", x->lockdir);
		assert_int_equal(system(cmd), 0);
	}
	free(x);
}

/* Case 5: the LU grows under a running lbfo: CAPACITY DATA HAS CHANGED
 * and a re-login both accept it; the export keeps its size. */
static void test_resized_lu(void **state)
{
	struct fx *x = fx_new(2);

	(void)state;
	fx_start(x);
	up(x);
	ft_set_blocks(x->t, NBLOCKS * 2);
	assert_int_equal(write_now(x, 7, 0x77, 500), 0); /* through the unit attention */
	step(x, 50);
	assert_int_equal(x->lu->target_blocks, NBLOCKS * 2);
	assert_int_equal(x->lu->ident.blocks, NBLOCKS);
	assert_true(logged(x, "capacity changed: 2048 -> 4096 blocks"));
	/* a re-login sees the new size too and is not refused */
	ft_set_net(x->t, 0, FT_DOWN);
	step(x, 5);
	ft_set_net(x->t, 0, FT_OK);
	STEP_UNTIL(x, paths_up(x) == 2, 3000);
	assert_int_equal(paths_up(x), 2);
	assert_int_equal(x->lu->paths[0].st, LP_UP);
	assert_int_equal(disk(x, 7), 0x77);
	fx_free(x);
}

/* Case 6: the sense table in action. */
static void test_unit_attention_bounded_not_by_flaps(void **state)
{
	struct fx *x = fx_new(2);

	(void)state;
	fx_start(x);
	up(x);
	/* a few unit attentions: retried at once, success */
	ft_inject(x->t, -1, LBFO_OP_WRITE16, 5, LBFO_SAM_CHECK_CONDITION, 6, 0x29, 0);
	assert_int_equal(write_now(x, 1, 1, 50), 0);
	/* a target that never stops: EIO after LBFO_UA_RETRIES, quickly */
	ft_inject(x->t, -1, LBFO_OP_WRITE16, 100, LBFO_SAM_CHECK_CONDITION, 6, 0x29, 0);
	assert_int_equal(write_now(x, 1, 1, 50), -EIO);
	fx_free(x);
}

static void test_not_ready_retried_with_backoff_until_deadline(void **state)
{
	struct fx *x = fx_new(1);
	struct req *r;

	(void)state;
	fx_start(x);
	up(x);
	ft_inject(x->t, -1, LBFO_OP_WRITE16, 3, LBFO_SAM_CHECK_CONDITION, 2, 0x04, 0x01);
	assert_int_equal(write_now(x, 1, 1, 500), 0);
	ft_inject(x->t, -1, LBFO_OP_WRITE16, 1000, LBFO_SAM_BUSY, 0, 0, 0);
	r = write1(x, 1, 2);
	assert_int_equal(await(x, r, 5000), -EIO);
	assert_true(x->now - r->t0 >= 2000 * MS); /* up to no_path_timeout */
	assert_true(x->lu->paths[0].retries < 60); /* with backoff: not 64 in a row */
	req_free(r);
	fx_free(x);
}

static void test_path_level_answer_moves_to_other_path(void **state)
{
	static const uint8_t asc[][2] = { { 0x04, 0x0b }, { 0x04, 0x0c }, { 0x3a, 0x00 } };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(asc) / sizeof(asc[0]); i++) {
		struct fx *x = fx_new(2);

		fx_start(x);
		up(x);
		/* failover mode: p0 carries I/O; it answers "not here" */
		ft_inject(x->t, 0, LBFO_OP_WRITE16, 1000, LBFO_SAM_CHECK_CONDITION, 2,
			  asc[i][0], asc[i][1]);
		assert_int_equal(write_now(x, 2, 0x22, 500), 0);
		assert_int_equal(disk(x, 2), 0x22);
		assert_true(x->lu->paths[0].lu_failed);
		assert_int_equal(x->lu->paths[0].s.st, LBFO_SS_UP); /* session kept */
		assert_true(logged(x, "failed for this LU: NOT READY"));
		fx_free(x);
	}
}

static void test_lu_not_supported_is_not_einval(void **state)
{
	struct fx *x = fx_new(2);

	(void)state;
	fx_start(x);
	up(x);
	ft_inject(x->t, 0, LBFO_OP_WRITE16, 1000, LBFO_SAM_CHECK_CONDITION, 5, 0x25, 0x00);
	assert_int_equal(write_now(x, 2, 0x25, 500), 0);
	ft_inject(x->t, -1, LBFO_OP_WRITE16, 1, LBFO_SAM_CHECK_CONDITION, 5, 0x24, 0x00);
	assert_int_equal(write_now(x, 2, 0x26, 500), -EINVAL);
	ft_inject(x->t, -1, LBFO_OP_WRITE16, 1, LBFO_SAM_CHECK_CONDITION, 3, 0x11, 0x00);
	assert_int_equal(write_now(x, 2, 0x27, 500), -EIO);
	fx_free(x);
}

/* Case 7: the only path flaps; while I/O waits for it, its hold-down is
 * skipped: the write completes long before the hold would end. */
static void test_last_path_not_held_out(void **state)
{
	struct fx *x = fx_new(1);
	struct req *r;
	int i;

	(void)state;
	x->cfg.no_path_timeout_ms = 30000;
	x->cfg.flap_hold_max_ms = 60000;
	fx_start(x);
	up(x);
	for (i = 0; i < 3; i++) { /* fail again soon after each login */
		ft_set_net(x->t, 0, FT_DOWN);
		step(x, 5);
		ft_set_net(x->t, 0, FT_OK);
		STEP_UNTIL(x, paths_up(x) == 1, 70000);
	}
	ft_set_net(x->t, 0, FT_DOWN);
	step(x, 5);
	assert_true(x->lu->paths[0].s.flapping);
	assert_true(x->lu->paths[0].s.hold_ms >= 8000);
	ft_set_net(x->t, 0, FT_OK);
	r = submit(x, LBFO_IO_READ, 1, 1, 0);
	assert_int_equal(await(x, r, 3000), 0);
	assert_true(x->now - r->t0 < 1500 * MS);
	assert_true(logged(x, "last usable path, flap hold-down skipped"));
	req_free(r);
	fx_free(x);
}

/* Case 8: a fatal error of the loop thread: queued and later I/O fail
 * with EIO at once, and the log says why. */
static int failing_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	(void)fds; (void)n; (void)timeout;
	errno = ENOMEM;
	return -1;
}

static void test_loop_death_fails_io(void **state)
{
	struct fx *x = fx_new(1);
	struct lbfo_lu_env env = { .xops = &ft_xport_ops, .xenv = x->t, .no_control = true,
				   .poll = failing_poll };
	struct lbfo_io io;
	uint8_t buf[BS];
	char err[256];

	(void)state;
	x->lu = lbfo_lu_start_env(&x->cfg, &x->pr, &env, err, sizeof(err));
	assert_non_null(x->lu);
	lbfo_io_init(&io, LBFO_IO_READ, 0, BS, buf, false);
	lbfo_lu_submit(x->lu, &io);
	assert_int_equal(lbfo_io_timedwait(&io, 5000), 1);
	assert_int_equal(io.result, -EIO);
	lbfo_io_fini(&io);
	lbfo_io_init(&io, LBFO_IO_READ, 0, BS, buf, false);
	lbfo_lu_submit(x->lu, &io);
	assert_int_equal(lbfo_io_timedwait(&io, 1000), 1);
	assert_int_equal(io.result, -EIO);
	lbfo_io_fini(&io);
	lbfo_lu_stop(x->lu); /* joins the loop thread: its log is complete */
	assert_true(logged(x, "event loop: poll: Cannot allocate memory"));
	ft_free(x->t);
	free(x);
}

/* Case 9: capabilities as the LU reports them. */
static void test_capabilities(void **state)
{
	struct fx *x = fx_new(1);
	struct req *r;

	(void)state;
	x->pr.ident.dpofua = false;
	x->pr.ident.max_unmap_blocks = 64;
	x->pr.ident.unmap_granularity = 8;
	x->pr.ident.lbpu = x->pr.ident.have_b2 = true;
	x->pr.ident.max_ws_blocks = 0; /* no limit reported: WRITE SAME still works */
	ft_caps(x->t)->max_unmap_blocks = 64;
	fx_start(x);
	up(x);
	/* FUA without DPOFUA: not sent (nbdkit emulates it with a flush) */
	r = submit(x, LBFO_IO_WRITE, 10, 1, 0x55);
	r->io.fua = true;
	assert_int_equal(await(x, r, 100), 0);
	req_free(r);
	assert_int_equal(ft_stats(x->t)->fua_writes, 0);
	/* a large trim: split to 64 blocks, inner aligned part only */
	memset(ft_block(x->t, 0), 0x99, (size_t)1000 * BS);
	r = submit(x, LBFO_IO_TRIM, 3, 990, 0); /* [3, 993): granules [8, 992) */

	assert_int_equal(await(x, r, 500), 0);
	req_free(r);
	assert_int_equal(ft_stats(x->t)->unmaps, 16); /* 984 blocks by 64 */
	assert_true(ft_stats(x->t)->max_unmap_seen <= 64);
	assert_int_equal(ft_block(x->t, 7)[0], 0x99);  /* before the first granule */
	assert_int_equal(ft_block(x->t, 8)[0], 0);
	assert_int_equal(ft_block(x->t, 991)[0], 0);
	assert_int_equal(ft_block(x->t, 992)[0], 0x99); /* after the last */
	/* WRITE SAME with MAXIMUM WRITE SAME LENGTH 0: used, not refused */
	r = submit(x, LBFO_IO_ZERO, 0, 8, 0);
	assert_int_equal(await(x, r, 100), 0);
	req_free(r);
	assert_int_equal(ft_stats(x->t)->write_sames, 1);
	/* a target without WRITE SAME: EOPNOTSUPP (nbdkit writes zeroes) */
	ft_caps(x->t)->no_ws = true;
	r = submit(x, LBFO_IO_ZERO, 0, 8, 0);
	assert_int_equal(await(x, r, 100), -EOPNOTSUPP);
	req_free(r);
	r = submit(x, LBFO_IO_ZERO, 0, 8, 0);
	assert_int_equal(await(x, r, 100), -EOPNOTSUPP);
	req_free(r);
	fx_free(x);
}

static void test_write_same_split_to_limit(void **state)
{
	struct fx *x = fx_new(1);
	struct req *r;

	(void)state;
	x->pr.ident.max_ws_blocks = 16;
	ft_caps(x->t)->max_ws_blocks = 16;
	fx_start(x);
	up(x);
	r = submit(x, LBFO_IO_ZERO, 0, 100, 0);
	assert_int_equal(await(x, r, 100), 0);
	req_free(r);
	assert_int_equal(ft_stats(x->t)->write_sames, 7);
	assert_int_equal(ft_stats(x->t)->max_ws_seen, 16);
	fx_free(x);
}

/* Case 10: a read whose residual says bytes are missing is no success. */
static void test_short_transfer_is_not_success(void **state)
{
	struct fx *x = fx_new(1);
	struct req *r;

	(void)state;
	fx_start(x);
	up(x);
	ft_caps(x->t)->short_reads = true;
	r = submit(x, LBFO_IO_READ, 0, 2, 0);
	assert_int_equal(await(x, r, 200), -EIO);
	req_free(r);
	assert_true(x->lu->short_transfers > 1);
	ft_caps(x->t)->short_reads = false;
	r = submit(x, LBFO_IO_READ, 0, 2, 0);
	assert_int_equal(await(x, r, 200), 0);
	req_free(r);
	fx_free(x);
}

/* Case 11: offset + len that wraps around is refused, nothing sent. */
static void test_wrapping_request_refused(void **state)
{
	struct fx *x = fx_new(1);
	unsigned before;
	struct req *r;

	(void)state;
	fx_start(x);
	up(x);
	before = ft_stats(x->t)->writes;
	r = calloc(1, sizeof(*r));
	lbfo_io_init(&r->io, LBFO_IO_WRITE, UINT64_MAX - BS + 1, 2 * BS, r->buf, false);
	lbfo_lu_submit(x->lu, &r->io);
	assert_int_equal(await(x, r, 10), -ENOSPC);
	req_free(r);
	assert_int_equal(ft_stats(x->t)->writes, before);
	fx_free(x);
}

/* Operator: queueing off fails what waits for a path, at once. */
static void test_queueing_off(void **state)
{
	struct fx *x = fx_new(1);
	struct req *r;

	(void)state;
	x->cfg.no_path_timeout_ms = 60000;
	fx_start(x);
	up(x);
	ft_set_net(x->t, 0, FT_DOWN);
	step(x, 5);
	r = submit(x, LBFO_IO_READ, 0, 1, 0);
	step(x, 100);
	assert_false(lbfo_io_done(&r->io));
	lbfo_lu_set_queueing(x->lu, false);
	assert_int_equal(await(x, r, 1), -EIO);
	req_free(r);
	r = submit(x, LBFO_IO_READ, 0, 1, 0);
	assert_int_equal(await(x, r, 2), -EIO);
	req_free(r);
	lbfo_lu_set_queueing(x->lu, true);
	ft_set_net(x->t, 0, FT_OK);
	r = submit(x, LBFO_IO_READ, 0, 1, 0);
	assert_int_equal(await(x, r, 3000), 0);
	req_free(r);
	fx_free(x);
}

/* Shutdown: everything, parked or in flight, ends at once. */
static void test_shutdown_ends_everything(void **state)
{
	struct fx *x = fx_new(2);
	struct req *a, *b, *c;

	(void)state;
	x->cfg.no_path_timeout_ms = 60000;
	fx_start(x);
	up(x);
	ft_set_net(x->t, 0, FT_BLACKHOLE);
	ft_set_net(x->t, 1, FT_BLACKHOLE);
	a = write1(x, 1, 1);
	step(x, 600); /* p0 failed with a: parked behind its fence */
	b = write1(x, 2, 2);
	c = submit(x, LBFO_IO_READ, 3, 1, 0);
	step(x, 5);
	lbfo_lu_shutdown(x->lu, "nbdkit is shutting down");
	assert_true(lbfo_io_done(&a->io) && lbfo_io_done(&b->io) && lbfo_io_done(&c->io));
	assert_int_equal(a->io.result, -ESHUTDOWN);
	assert_int_equal(b->io.result, -ESHUTDOWN);
	assert_int_equal(c->io.result, -ESHUTDOWN);
	req_free(a);
	req_free(b);
	req_free(c);
	fx_free(x);
}

/* ALUA: with an active/optimized path, the non-optimized one is not used. */
static void test_alua_prefers_optimized(void **state)
{
	struct fx *x = fx_new(2);
	int i;

	(void)state;
	ft_free(x->t);
	x->t = ft_new(NBLOCKS, BS);
	ft_now(x->t, x->now);
	ft_portal(x->t, "p0:3260", 1, 0);
	ft_portal(x->t, "p1:3260", 2, 1);
	ft_ctrl(x->t, 0)->alua_state = LBFO_ALUA_NON_OPTIMIZED;
	ft_ctrl(x->t, 1)->alua_state = LBFO_ALUA_OPTIMIZED;
	snprintf(x->cfg.policy, sizeof(x->cfg.policy), "round-robin");
	x->pr.tpgt[1] = 2;
	fx_start(x);
	up(x);
	for (i = 0; i < 20; i++)
		assert_int_equal(write_now(x, (uint64_t)i, 1, 50), 0);
	assert_true(x->lu->team.m[1].st.cmds[LBFO_WRITE] >= 20);
	assert_int_equal(x->lu->team.m[0].st.cmds[LBFO_WRITE], 0);
	/* controller 1 goes standby: its commands move to p0 */
	ft_ctrl(x->t, 1)->alua_state = LBFO_ALUA_STANDBY;
	assert_int_equal(write_now(x, 30, 3, 500), 0);
	assert_int_equal(disk(x, 30), 3);
	assert_true(x->lu->team.m[0].st.cmds[LBFO_WRITE] >= 1);
	fx_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ghost_write_blackhole),
		cmocka_unit_test(test_held_write_released_after_fence),
		cmocka_unit_test(test_held_write_fenced_by_reservation),
		cmocka_unit_test(test_foreign_reservation_never_fought),
		cmocka_unit_test(test_stale_write_after_give_up),
		cmocka_unit_test(test_failing_fence_backs_off),
		cmocka_unit_test(test_fence_retry_backoff),
		cmocka_unit_test(test_restart_fences_predecessor),
		cmocka_unit_test(test_resized_lu),
		cmocka_unit_test(test_unit_attention_bounded_not_by_flaps),
		cmocka_unit_test(test_not_ready_retried_with_backoff_until_deadline),
		cmocka_unit_test(test_path_level_answer_moves_to_other_path),
		cmocka_unit_test(test_lu_not_supported_is_not_einval),
		cmocka_unit_test(test_last_path_not_held_out),
		cmocka_unit_test(test_loop_death_fails_io),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_write_same_split_to_limit),
		cmocka_unit_test(test_short_transfer_is_not_success),
		cmocka_unit_test(test_wrapping_request_refused),
		cmocka_unit_test(test_queueing_off),
		cmocka_unit_test(test_shutdown_ends_everything),
		cmocka_unit_test(test_alua_prefers_optimized),
	};
	return cmocka_run_group_tests_name("failover", tests, NULL, NULL);
}
