/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the LU does with the target's answers, on the fake target and a
 * fake clock (harness.h): the answer table in action (unit attentions,
 * NOT READY and BUSY with backoff, path-level answers), the last path
 * never held out, a fatal loop error, capabilities (FUA, UNMAP and WRITE
 * SAME limits), short transfers, request arithmetic, queueing off,
 * shutdown, ALUA.
 */
#include "harness.h"

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
		assert_int_equal(x->lu->paths[0].s->st, LBFO_SS_UP); /* session kept */
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
	assert_true(x->lu->paths[0].s->flapping);
	assert_true(x->lu->paths[0].s->hold_ms >= 8000);
	ft_set_net(x->t, 0, FT_OK);
	r = submit(x, LBFO_IO_READ, 1, 1, 0);
	assert_int_equal(await(x, r, 3000), 0);
	assert_true(x->now - r->t0 < 1500 * MS);
	assert_true(logged(x, "last usable path, flap hold-down skipped"));
	req_free(r);
	fx_free(x);
}

/* Case 9: capabilities as the LU reports them. */
static void test_capabilities(void **state)
{
	struct fx *x = fx_new(1);
	struct req *r;

	(void)state;
	x->id.dpofua = false;
	x->id.max_unmap_blocks = 64;
	x->id.unmap_granularity = 8;
	x->id.lbpu = x->id.have_b2 = true;
	x->id.max_ws_blocks = 0; /* no limit reported: WRITE SAME still works */
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
	x->id.max_ws_blocks = 16;
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
	x->chk.tpgt[1] = 2;
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
		cmocka_unit_test(test_unit_attention_bounded_not_by_flaps),
		cmocka_unit_test(test_not_ready_retried_with_backoff_until_deadline),
		cmocka_unit_test(test_path_level_answer_moves_to_other_path),
		cmocka_unit_test(test_lu_not_supported_is_not_einval),
		cmocka_unit_test(test_last_path_not_held_out),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_write_same_split_to_limit),
		cmocka_unit_test(test_short_transfer_is_not_success),
		cmocka_unit_test(test_wrapping_request_refused),
		cmocka_unit_test(test_queueing_off),
		cmocka_unit_test(test_shutdown_ends_everything),
		cmocka_unit_test(test_alua_prefers_optimized),
	};
	return cmocka_run_group_tests_name("answers", tests, NULL, NULL);
}
