/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The path session against the fake target, on a fake clock: login and
 * identity, liveness, command age, flap hold-down, the reinstating fence
 * and its limits (portal groups, targets that do not reinstate).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_target.h"
#include "ident.h"
#include "path_session.h"

#define MS 1000000ull

struct h {
	struct ft *t;
	struct lbfo_session s[3];
	int ns;
	uint64_t now;
	int ups[3], downs[3], fenced_ok[3], fenced_fail[3];
	char why[3][256];
	char log[4096];
};

static int idx(struct h *h, struct lbfo_session *s) { return (int)(s - h->s); }

static void on_up(struct lbfo_session *s, void *o, int tpgt, uint64_t now)
{
	(void)tpgt; (void)now;
	((struct h *)o)->ups[idx(o, s)]++;
}

static void on_down(struct lbfo_session *s, void *o, bool was_up, const char *reason, uint64_t now)
{
	struct h *h = o;

	(void)was_up; (void)now;
	h->downs[idx(h, s)]++;
	snprintf(h->why[idx(h, s)], sizeof(h->why[0]), "%s", reason);
}

static void on_fenced(struct lbfo_session *s, void *o, bool ok, const char *why, uint64_t now)
{
	struct h *h = o;

	(void)now;
	if (ok)
		h->fenced_ok[idx(h, s)]++;
	else
		h->fenced_fail[idx(h, s)]++;
	snprintf(h->why[idx(h, s)], sizeof(h->why[0]), "%s", why);
}

static void on_log(struct lbfo_session *s, void *o, int level, const char *msg)
{
	struct h *h = o;
	size_t n = strlen(h->log);

	(void)s; (void)level;
	snprintf(h->log + n, sizeof(h->log) - n, "%s\n", msg);
}

static const struct lbfo_session_ops ops = {
	.up = on_up, .down = on_down, .fenced = on_fenced, .log = on_log,
};

static const char *portals[] = { "p0:3260", "p1:3260", "p2:3260" };

static struct h *setup_h(int n, const int *tpgt)
{
	struct h *h = calloc(1, sizeof(*h));
	int i;

	h->t = ft_new(1024, 512);
	h->ns = n;
	h->now = 1000 * MS;
	ft_now(h->t, h->now);
	for (i = 0; i < n; i++) {
		struct lbfo_session_config c = {
			.xops = &ft_xport_ops, .xenv = h->t,
			.xp = { .initiator = "iqn.2026-12.io.lbfo:test", .target = "iqn.t",
				.portal = portals[i], .isid_rnd = 0x1bf0, .isid_qual = (uint16_t)(i + 1),
				.security_stage = true },
			.login_timeout_ms = 1000, .nop_interval_ms = 100, .nop_timeout_ms = 300,
			.cmd_timeout_ms = 2000, .reconnect_min_ms = 50, .reconnect_max_ms = 400,
			.flap_window_ms = 5000, .flap_hold_max_ms = 8000,
		};

		snprintf(c.name, sizeof(c.name), "p%d", i);
		ft_portal(h->t, portals[i], tpgt ? tpgt[i] : 1, 0);
		lbfo_session_init(&h->s[i], &c, &ops, h, h->now);
	}
	return h;
}

static void teardown_h(struct h *h)
{
	int i;

	for (i = 0; i < h->ns; i++)
		lbfo_session_destroy(&h->s[i]);
	ft_free(h->t);
	free(h);
}

/* Advance the fake clock ms milliseconds, servicing every session each ms. */
static void step(struct h *h, unsigned ms)
{
	unsigned k;
	int i;

	for (k = 0; k < ms; k++) {
		h->now += MS;
		ft_now(h->t, h->now);
		for (i = 0; i < h->ns; i++)
			lbfo_session_service(&h->s[i], NULL, 0, h->now);
	}
}

/* Advance until cond holds (checked every ms), at most max_ms. */
#define STEP_UNTIL(h, cond, max_ms) \
	do { unsigned k_ = 0; while (!(cond) && k_++ < (max_ms)) step(h, 1); } while (0)

struct rec {
	struct lbfo_scmd c;
	int calls, status;
	uint8_t buf[512];
	struct iovec iov;
};

static void rec_done(struct lbfo_scmd *c, const struct lbfo_scsi_result *r, uint64_t now)
{
	struct rec *x = (struct rec *)c;

	(void)now;
	x->calls++;
	x->status = r->status;
}

static int write_block(struct h *h, int s, struct rec *r, uint64_t lba, uint8_t fill)
{
	memset(r, 0, sizeof(*r));
	memset(r->buf, fill, sizeof(r->buf));
	r->iov.iov_base = r->buf;
	r->iov.iov_len = 512;
	r->c.x.lun = 1;
	r->c.x.iov = &r->iov;
	r->c.x.niov = 1;
	r->c.done = rec_done;
	lbfo_cdb_rw16(&r->c.x.cdb, true, lba, 1, 512, false);
	return lbfo_session_submit(&h->s[s], &r->c, h->now);
}

/* A new nexus has a power-on UNIT ATTENTION pending: take it. */
static void clear_ua(struct h *h, int s)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.c.x.lun = 1;
	r.c.done = rec_done;
	lbfo_cdb_tur(&r.c.x.cdb);
	assert_int_equal(lbfo_session_submit(&h->s[s], &r.c, h->now), 0);
	step(h, 2);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, LBFO_SAM_CHECK_CONDITION);
}

static int ident_rc = 99;
static void ident_done(struct lbfo_ident_reader *r, int rc, uint64_t now)
{
	(void)r; (void)now;
	ident_rc = rc;
}

static void test_login_and_identity(void **state)
{
	struct h *h = setup_h(1, NULL);
	struct lbfo_ident_reader r = { 0 };

	(void)state;
	ft_caps(h->t)->max_unmap_blocks = 64;
	ft_caps(h->t)->lbpu = true;
	ft_caps(h->t)->dpofua = false;
	step(h, 5);
	assert_int_equal(h->s[0].st, LBFO_SS_UP);
	assert_int_equal(h->ups[0], 1);
	assert_int_equal(h->s[0].tpgt, 1);
	assert_int_equal(lbfo_ident_start(&r, &h->s[0], 1, ident_done, NULL, h->now), 0);
	step(h, 20);
	assert_int_equal(ident_rc, 0);
	assert_string_equal(r.id.id, "naa.6001405fa47e00010000000000000001");
	assert_int_equal(r.id.blocks, 1024);
	assert_int_equal(r.id.block_size, 512);
	assert_int_equal(r.id.max_unmap_blocks, 64);
	assert_true(r.id.lbpu);
	assert_true(r.id.lbpme);
	assert_false(r.id.dpofua);
	assert_true(r.id.wce);
	assert_int_equal(r.id.port_group, 1);
	assert_string_equal(r.id.vendor, "LBFO");
	teardown_h(h);
}

static void test_blackhole_fails_by_nop_timeout(void **state)
{
	struct h *h = setup_h(1, NULL);
	struct rec w0, w;

	(void)state;
	step(h, 5);
	clear_ua(h, 0);
	assert_int_equal(write_block(h, 0, &w0, 0, 0x11), 0);
	step(h, 2);
	assert_int_equal(w0.calls, 1);
	ft_set_net(h->t, 0, FT_BLACKHOLE);
	assert_int_equal(write_block(h, 0, &w, 0, 0xaa), 0);
	step(h, 299);
	assert_int_equal(h->downs[0], 0);
	step(h, 3);
	assert_int_equal(h->downs[0], 1);
	assert_non_null(strstr(h->why[0], "no response for"));
	/* the command got its PATH_LOST before the owner heard of it */
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.status, LBFO_XS_PATH_LOST);
	/* SO_LINGER 0: a healed blackhole delivers nothing of it */
	ft_set_net(h->t, 0, FT_OK);
	step(h, 5);
	assert_int_equal(ft_block(h->t, 0)[0], 0x11);
	teardown_h(h);
}

/* A busy path whose answers come late (a NOP queued behind long
 * transfers) is alive while the peer keeps acknowledging its bytes; a
 * silent one is failed by the NOP timeout, counted from its last sign of
 * life, not from a baseline sampled after it. */
static void test_acknowledged_bytes_are_life(void **state)
{
	struct h *h = setup_h(1, NULL);
	struct rec w[12];
	uint64_t last;
	int i;

	(void)state;
	step(h, 5);
	clear_ua(h, 0);
	ft_set_latency(h->t, 0, 1500); /* every answer, NOPs too, 1.5 s late */
	for (i = 0; i < 12; i++) {
		assert_int_equal(write_block(h, 0, &w[i], (uint64_t)i, 0x5a), 0);
		step(h, 50);
	}
	assert_int_equal(h->downs[0], 0); /* 600 ms, nop_timeout 300: bytes flowed */
	last = h->now - 50 * MS; /* the last write's bytes were acknowledged then */
	ft_set_net(h->t, 0, FT_BLACKHOLE);
	STEP_UNTIL(h, h->downs[0] == 1, 1000);
	assert_int_equal(h->downs[0], 1);
	/* failed nop_timeout after the last sign of life, give or take the
	 * 75 ms between samples of a quiet socket */
	assert_true(h->now - last >= 300 * MS && h->now - last <= 400 * MS);
	assert_non_null(strstr(h->why[0], "no response for 3"));
	teardown_h(h);
}

static void test_cmd_timeout(void **state)
{
	struct h *h = setup_h(1, NULL);
	struct rec w;

	(void)state;
	step(h, 5);
	/* one command answered after 2.5 s; NOPs at once */
	ft_set_latency(h->t, 0, 2500);
	assert_int_equal(write_block(h, 0, &w, 0, 0x11), 0);
	ft_set_latency(h->t, 0, 1);
	step(h, 1500);
	assert_int_equal(h->downs[0], 0); /* NOPs answered: alive */
	step(h, 600);
	assert_int_equal(h->downs[0], 1);
	assert_non_null(strstr(h->why[0], "cmd_timeout"));
	teardown_h(h);
}

static void test_reinstating_fence_closes_old_connection(void **state)
{
	struct h *h = setup_h(2, NULL);
	struct rec w;

	(void)state;
	step(h, 5);
	ft_set_net(h->t, 0, FT_HOLD); /* a relay holds p0's bytes */
	assert_int_equal(write_block(h, 0, &w, 7, 0xaa), 0);
	STEP_UNTIL(h, h->downs[0] == 1, 1000);
	assert_int_equal(h->downs[0], 1);
	ft_set_net(h->t, 0, FT_DOWN); /* keep p0's own login away */
	assert_int_equal(lbfo_session_fence(&h->s[0], &h->s[1], h->now), 0);
	step(h, 5);
	assert_int_equal(h->fenced_ok[0], 1);
	assert_int_equal(ft_stats(h->t)->reinstatements, 1);
	/* the held write now meets a closed connection */
	assert_int_equal(ft_release(h->t, 0), 0);
	assert_int_equal(ft_stats(h->t)->dropped, 1);
	assert_int_equal(ft_block(h->t, 7)[0], 0);
	teardown_h(h);
}

static void test_fence_through_other_portal_group_is_refused(void **state)
{
	static const int tpgt[] = { 1, 2 };
	struct h *h = setup_h(2, tpgt);

	(void)state;
	step(h, 5);
	ft_set_net(h->t, 0, FT_BLACKHOLE);
	step(h, 400);
	assert_int_equal(h->downs[0], 1);
	assert_int_equal(lbfo_session_fence(&h->s[0], &h->s[1], h->now), 0);
	step(h, 5);
	assert_int_equal(h->fenced_fail[0], 1);
	assert_non_null(strstr(h->why[0], "portal group 2, the path's is 1"));
	teardown_h(h);
}

static void test_fence_and_own_login_never_at_once(void **state)
{
	struct h *h = setup_h(2, NULL);

	(void)state;
	step(h, 5);
	ft_set_net(h->t, 0, FT_DOWN);
	step(h, 2);
	assert_int_equal(h->downs[0], 1);
	/* the own login attempt is due after 50 ms; start a fence first */
	ft_set_latency(h->t, 1, 200);
	assert_int_equal(lbfo_session_fence(&h->s[0], &h->s[1], h->now), 0);
	ft_set_net(h->t, 0, FT_OK);
	step(h, 100);
	assert_int_equal(h->s[0].st, LBFO_SS_DOWN); /* no own login while fencing */
	step(h, 150);
	assert_int_equal(h->fenced_ok[0], 1);
	step(h, 60);
	assert_int_equal(h->s[0].st, LBFO_SS_UP);
	/* and no fence while the own login runs */
	ft_set_latency(h->t, 0, 300);
	ft_set_net(h->t, 0, FT_DOWN);
	step(h, 2);
	ft_set_net(h->t, 0, FT_OK);
	/* failing again soon after login: held out 2 s (flapping) first */
	STEP_UNTIL(h, h->s[0].st == LBFO_SS_LOGIN, 3000);
	assert_int_equal(h->s[0].st, LBFO_SS_LOGIN);
	assert_int_equal(lbfo_session_fence(&h->s[0], &h->s[1], h->now), -1);
	teardown_h(h);
}

static void test_flapping_held_out_unless_urgent(void **state)
{
	struct h *h = setup_h(1, NULL);
	int i;

	(void)state;
	step(h, 5);
	for (i = 0; i < 2; i++) { /* fail twice soon after login */
		ft_set_net(h->t, 0, FT_DOWN);
		step(h, 2);
		ft_set_net(h->t, 0, FT_OK);
		step(h, 500);
	}
	ft_set_net(h->t, 0, FT_DOWN);
	step(h, 2);
	ft_set_net(h->t, 0, FT_OK);
	assert_true(h->s[0].flapping);
	assert_true(h->s[0].hold_ms >= 2000);
	step(h, 1000);
	assert_int_equal(h->s[0].st, LBFO_SS_DOWN); /* held out */
	lbfo_session_set_urgent(&h->s[0], true, h->now);
	step(h, 500);
	assert_int_equal(h->s[0].st, LBFO_SS_UP); /* the last usable path is not held out */
	assert_non_null(strstr(h->log, "flap hold-down skipped"));
	teardown_h(h);
}

static void test_no_reinstatement_without_security_stage(void **state)
{
	struct h *h = setup_h(2, NULL);

	(void)state;
	ft_ctrl(h->t, 0)->reinstate_needs_secneg = true;
	h->s[1].cfg.xp.security_stage = false;
	step(h, 5);
	/* a plain second login with p0's ISID through p1, no security stage */
	h->s[1].cfg.xp.isid_qual = h->s[0].cfg.xp.isid_qual;
	lbfo_session_fail(&h->s[1], "test");
	step(h, 100);
	assert_int_equal(h->s[1].st, LBFO_SS_UP);
	assert_int_equal(ft_stats(h->t)->reinstatements, 0);
	assert_int_equal(h->s[0].st, LBFO_SS_UP);
	/* the fence always logs in through the security stage */
	ft_set_net(h->t, 0, FT_HOLD);
	step(h, 400);
	assert_int_equal(h->downs[0], 1);
	ft_set_net(h->t, 0, FT_DOWN);
	assert_int_equal(lbfo_session_fence(&h->s[0], &h->s[1], h->now), 0);
	step(h, 5);
	assert_int_equal(ft_stats(h->t)->reinstatements, 2); /* p0's and p1's old ones */
	teardown_h(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_and_identity),
		cmocka_unit_test(test_blackhole_fails_by_nop_timeout),
		cmocka_unit_test(test_acknowledged_bytes_are_life),
		cmocka_unit_test(test_cmd_timeout),
		cmocka_unit_test(test_reinstating_fence_closes_old_connection),
		cmocka_unit_test(test_fence_through_other_portal_group_is_refused),
		cmocka_unit_test(test_fence_and_own_login_never_at_once),
		cmocka_unit_test(test_flapping_held_out_unless_urgent),
		cmocka_unit_test(test_no_reinstatement_without_security_stage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
