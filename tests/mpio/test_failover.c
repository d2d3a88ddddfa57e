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
 * write, held writes released after a fence (reinstatement, and
 * reservations where the target does not reinstate), another owner's
 * reservation left alone, a stale write after the no-path deadline,
 * fences that fail and back off, a restarted instance, a resized LU.
 * test_answers.c has the rest of the cases.
 */
#include "harness.h"
#include "mpio.h"

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
	x->chk.reinstate_own = false;
	memset(x->chk.reinstate_cross, 0, sizeof(x->chk.reinstate_cross));
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
	assert_int_equal(x->lu->paths[0].tp->gen, 1);
	fx_free(x);
}

/* Another owner's reservations: lbfo does not use them (never fights). */
static void test_foreign_reservation_never_fought(void **state)
{
	struct fx *x = fx_new(2);
	uint64_t keys[8];

	(void)state;
	x->chk.reinstate_own = false;
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
	x->chk.reinstate_cross[0] = x->chk.reinstate_cross[1] = false;
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
	struct lbfo_tgt *tgt2;
	struct lbfo_lu_env env;
	struct lbfo_lu_pathspec ps[2];
	int paths[2] = { 0, 1 };
	uint32_t rnd0;
	uint16_t qual0;

	(void)state;
	snprintf(x->lockdir, sizeof(x->lockdir), "/tmp/lbfo-fx-XXXXXX");
	assert_non_null(mkdtemp(x->lockdir));
	snprintf(x->cfg.lock_dir, sizeof(x->cfg.lock_dir), "%s", x->lockdir);
	fx_start(x);
	up(x);
	tgt_path_isid(x->lu->paths[0].tp, &rnd0, &qual0);
	/* a second instance on the same LU, same initiator: refused (its
	 * own target object, never serviced: it logs in nowhere) */
	env = (struct lbfo_lu_env){ .xops = &ft_xport_ops, .xenv = x->t };
	tgt2 = lbfo_tgt_create(&x->cfg, x->cfg.target, "1", paths, 2, &x->chk, &env, x->now, err,
			       sizeof(err));
	assert_non_null(tgt2);
	ps[0] = (struct lbfo_lu_pathspec){ tgt2, 0, 1 };
	ps[1] = (struct lbfo_lu_pathspec){ tgt2, 1, 1 };
	second = lbfo_lu_create(&x->cfg, &x->id, ps, 2, &env, x->now, err, sizeof(err));
	assert_non_null(second);
	assert_int_equal(lbfo_lu_lock(second, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is already served by another lbfo process"));
	lbfo_lu_destroy(second);
	lbfo_tgt_destroy(tgt2);
	/* a write held on p0, then the process dies */
	ft_set_net(x->t, 0, FT_HOLD);
	r = write1(x, 6, 0xaa);
	step(x, 50);
	lbfo_tgt_shutdown(x->tgt);
	lbfo_lu_shutdown(x->lu, "killed");
	assert_true(lbfo_io_done(&r->io));
	assert_int_equal(r->io.result, -ESHUTDOWN);
	req_free(r);
	lbfo_lu_destroy(x->lu);
	lbfo_tgt_destroy(x->tgt);
	x->lu = NULL;
	x->tgt = NULL;
	/* the successor: same config, the relay still holding */
	y = calloc(1, sizeof(*y));
	memcpy(y, x, sizeof(*y));
	y->cfg.log_opaque = y;
	y->loglen = 0;
	y->log[0] = '\0';
	y->chk.reachable[0] = false;   /* p0 cannot log in: the relay holds */
	y->chk.cross_tested[0] = y->chk.cross_tested[1] = false;
	fx_start(y);
	{
		uint32_t rnd1;
		uint16_t qual1;

		tgt_path_isid(y->lu->paths[0].tp, &rnd1, &qual1);
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
	lbfo_tgt_shutdown(y->tgt);
	lbfo_lu_destroy(y->lu);
	lbfo_tgt_destroy(y->tgt);
	ft_free(y->t);
	free(y);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", x->lockdir);
		assert_int_equal(system(cmd), 0);
	}
	free(x);
}

/* lbfoctl resize on the LU: its reply holds `want`. */
static void resize_says(struct fx *x, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	lbfo_lu_op_resize(x->lu, f);
	fclose(f);
	if (!strstr(buf, want))
		fail_msg("resize said \"%s\", want \"%s\"", buf, want);
	free(buf);
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
	/* beyond the exported end: refused until the operator resizes */
	assert_int_equal(write_now(x, NBLOCKS + 5, 0x55, 500), -ENOSPC);
	resize_says(x, "2048 -> 4096 blocks of 512 B (2097152 bytes)");
	assert_int_equal(x->lu->ident.blocks, NBLOCKS * 2);
	assert_int_equal(lbfo_lu_export_bytes(x->lu), NBLOCKS * 2 * 512);
	assert_true(logged(x, "resized by operator: 2048 -> 4096 blocks"));
	assert_int_equal(write_now(x, NBLOCKS + 5, 0x55, 500), 0);
	assert_int_equal(disk(x, NBLOCKS + 5), 0x55);
	assert_int_equal(disk(x, 7), 0x77);
	resize_says(x, "size unchanged, 4096 blocks");
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
	};
	return cmocka_run_group_tests_name("failover", tests, NULL, NULL);
}
