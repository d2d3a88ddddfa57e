/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fairness between the LUs of one target: they share one session per
 * path (as real initiators do), so what one LU sends waits behind what
 * the others sent before it. A session takes at most its window of
 * commands; the rest wait in their LUs and go out turn by turn. Without
 * the window, eight LUs each keeping 64 large writes in flight put 512
 * commands ahead of any new one: a read of a ninth LU waits for all of
 * them. On the fake target with a wire of fixed rate (one command's data
 * after the other) and a fake clock.
 */
#include "harness.h"
#include "mpio.h"

#define NLU 8
#define WRITES 64
#define WSIZE (64 * 1024)
#define RATE (100 * 1000)            /* bytes per ms: 100 MB/s */

struct bed {
	struct fx *x;
	struct lbfo_lu *lu[NLU + 1];    /* lu[0] is x->lu */
};

static void step_all(struct bed *b, unsigned ms)
{
	unsigned k;
	int i;

	for (k = 0; k < ms; k++) {
		b->x->now += MS;
		ft_now(b->x->t, b->x->now);
		lbfo_tgt_service(b->x->tgt, NULL, 0, b->x->now);
		for (i = 0; i <= NLU; i++)
			lbfo_lu_service(b->lu[(i + k) % (NLU + 1)], b->x->now);
	}
}

static struct bed *bed_new(void)
{
	struct bed *b = calloc(1, sizeof(*b));
	struct lbfo_lu_env env = { .xops = &ft_xport_ops };
	struct lbfo_lu_pathspec ps = { .tpath = 0, .lun = 1 };
	char err[256];
	int i, k;

	b->x = fx_new(1);
	env.xenv = b->x->t;
	ft_set_rate(b->x->t, 0, RATE);
	fx_start(b->x);
	b->lu[0] = b->x->lu;
	ps.tgt = b->x->tgt;
	for (i = 1; i <= NLU; i++) {
		b->lu[i] = lbfo_lu_create(&b->x->cfg, &b->x->id, &ps, 1, &env, b->x->now, err,
					  sizeof(err));
		assert_non_null(b->lu[i]);
	}
	for (k = 0; k < 3000; k++) {
		int up = 0;

		step_all(b, 1);
		for (i = 0; i <= NLU; i++)
			up += lbfo_lu_paths_ready(b->lu[i], NULL);
		if (up == NLU + 1)
			break;
	}
	/* the power-on unit attention of the nexus, taken */
	assert_int_equal(write_now(b->x, NBLOCKS - 1, 0, 200), 0);
	return b;
}

static void bed_free(struct bed *b)
{
	int i;

	lbfo_tgt_shutdown(b->x->tgt);
	for (i = 1; i <= NLU; i++)
		lbfo_lu_destroy(b->lu[i]);
	fx_free(b->x);
	free(b);
}

static void test_busy_lus_do_not_starve_another(void **state)
{
	struct bed *b = bed_new();
	struct lbfo_io *w[NLU][WRITES], rd;
	uint8_t *buf = calloc(1, WSIZE), rbuf[4096];
	uint64_t t0, read_ms, done_ms[NLU];
	int i, k, done;

	(void)state;
	for (i = 0; i < NLU; i++)
		for (k = 0; k < WRITES; k++) {
			w[i][k] = calloc(1, sizeof(struct lbfo_io));
			lbfo_io_init(w[i][k], LBFO_IO_WRITE, (uint64_t)k * WSIZE % (NBLOCKS * BS / 2),
				     WSIZE, buf, false);
			lbfo_lu_submit(b->lu[i + 1], w[i][k]);
		}
	step_all(b, 2); /* the writes are sent */
	t0 = b->x->now;
	lbfo_io_init(&rd, LBFO_IO_READ, 0, sizeof(rbuf), rbuf, false);
	lbfo_lu_submit(b->lu[0], &rd);
	memset(done_ms, 0, sizeof(done_ms));
	read_ms = 0;
	for (k = 0; k < 20000 && (!read_ms || !done_ms[NLU - 1] || !done_ms[0]); k++) {
		step_all(b, 1);
		if (!read_ms && lbfo_io_done(&rd))
			read_ms = (b->x->now - t0) / MS;
		for (i = 0; i < NLU; i++) {
			for (done = 0; done < WRITES && lbfo_io_done(w[i][done]); done++)
				;
			if (done == WRITES && !done_ms[i])
				done_ms[i] = (b->x->now - t0) / MS;
		}
	}
	/* Everything moved: 8 x 64 x 64 KiB at 100 MB/s is some 340 ms. */
	assert_int_equal(rd.result, 0);
	for (i = 0; i < NLU; i++)
		assert_true(done_ms[i] > 0);
	/* The read waits for a session's window of writes, not for all 512
	 * (which alone take 335 ms on the wire). */
	if (read_ms > 150)
		fail_msg("the ninth LU's read took %llu ms behind the others' writes",
			 (unsigned long long)read_ms);
	/* The busy LUs share the session: none is done long before another. */
	{
		uint64_t lo = done_ms[0], hi = done_ms[0];

		for (i = 1; i < NLU; i++) {
			lo = done_ms[i] < lo ? done_ms[i] : lo;
			hi = done_ms[i] > hi ? done_ms[i] : hi;
		}
		if (hi * 10 > lo * 15)
			fail_msg("busy LUs finished between %llu and %llu ms", (unsigned long long)lo,
				 (unsigned long long)hi);
	}
	lbfo_io_fini(&rd);
	for (i = 0; i < NLU; i++)
		for (k = 0; k < WRITES; k++) {
			lbfo_io_fini(w[i][k]);
			free(w[i][k]);
		}
	free(buf);
	bed_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_lus_do_not_starve_another),
	};
	return cmocka_run_group_tests_name("fairness", tests, NULL, NULL);
}
