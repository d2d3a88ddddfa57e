/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Discovery parser: good messages, every refusal, truncations, bit flips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

static size_t sample(uint8_t *buf, uint16_t type, uint16_t func)
{
	struct lbfo_disc_msg m = {
		.src_ip = 0x7f00000b, .dst_ip = 0x7f000001, .priority = 100, .cluster = 7,
		.type = type, .func = func, .router_ip = 0x7f000001, .mgmt_ip = 0x7f000009,
		.src_port = 1234, .dst_port = 7400,
	};

	return lbfo_disc_encode(&m, buf, LBFO_DISC_LEN);
}

static void test_roundtrip(void **state)
{
	uint8_t buf[LBFO_DISC_LEN];
	struct lbfo_disc_msg m;

	(void)state;
	assert_int_equal(sample(buf, LBFO_DISC_ANNOUNCE, LBFO_DISC_F_HELLO), LBFO_DISC_LEN);
	/* The byte layout of docs/protocol.md. */
	assert_memory_equal(buf, "LBFO\x01\x00\x00\x24", 8);
	assert_memory_equal(buf + 8, "\x7f\x00\x00\x0b\x7f\x00\x00\x01", 8);
	assert_memory_equal(buf + 16, "\x00\x64\x00\x07\x00\x01\x00\x01", 8);
	assert_memory_equal(buf + 24, "\x7f\x00\x00\x01\x7f\x00\x00\x09\x04\xd2\x1c\xe8", 12);
	assert_int_equal(lbfo_disc_parse(buf, sizeof(buf), &m), LBFO_DISC_OK);
	assert_int_equal(m.src_ip, 0x7f00000b);
	assert_int_equal(m.dst_ip, 0x7f000001);
	assert_int_equal(m.priority, 100);
	assert_int_equal(m.cluster, 7);
	assert_int_equal(m.type, LBFO_DISC_ANNOUNCE);
	assert_int_equal(m.func, LBFO_DISC_F_HELLO);
	assert_int_equal(m.router_ip, 0x7f000001);
	assert_int_equal(m.mgmt_ip, 0x7f000009);
	assert_int_equal(m.src_port, 1234);
	assert_int_equal(m.dst_port, 7400);
	assert_int_equal(lbfo_disc_check(buf, sizeof(buf), 7, &m), LBFO_DISC_OK);
	sample(buf, LBFO_DISC_REPLY, LBFO_DISC_F_ACK);
	assert_int_equal(lbfo_disc_parse(buf, sizeof(buf), &m), LBFO_DISC_OK);
	sample(buf, LBFO_DISC_ASSIGN, LBFO_DISC_F_ADDRESSES);
	assert_int_equal(lbfo_disc_parse(buf, sizeof(buf), &m), LBFO_DISC_OK);
	assert_int_equal(lbfo_disc_encode(&m, buf, LBFO_DISC_LEN - 1), 0);
}

static void test_refusals(void **state)
{
	uint8_t buf[LBFO_DISC_LEN + 8], bad[LBFO_DISC_LEN];
	struct lbfo_disc_msg m;

	(void)state;
	sample(buf, LBFO_DISC_ANNOUNCE, LBFO_DISC_F_HELLO);
	assert_int_equal(lbfo_disc_parse(NULL, 0, &m), LBFO_DISC_E_SHORT);
	assert_int_equal(lbfo_disc_parse(buf, 0, &m), LBFO_DISC_E_SHORT);
	assert_int_equal(lbfo_disc_parse(buf, 7, &m), LBFO_DISC_E_SHORT);
	/* Truncated after the preamble: the length no longer matches. */
	assert_int_equal(lbfo_disc_parse(buf, 8, &m), LBFO_DISC_E_LENGTH);
	assert_int_equal(lbfo_disc_parse(buf, LBFO_DISC_LEN - 1, &m), LBFO_DISC_E_LENGTH);
	/* Trailing junk. */
	memset(buf + LBFO_DISC_LEN, 0, 8);
	assert_int_equal(lbfo_disc_parse(buf, LBFO_DISC_LEN + 1, &m), LBFO_DISC_E_LENGTH);
	memcpy(bad, buf, sizeof(bad));
	bad[0] = 'X';
	assert_int_equal(lbfo_disc_parse(bad, sizeof(bad), &m), LBFO_DISC_E_MAGIC);
	memcpy(bad, buf, sizeof(bad));
	bad[4] = 2;
	assert_int_equal(lbfo_disc_parse(bad, sizeof(bad), &m), LBFO_DISC_E_VERSION);
	bad[4] = 0;
	assert_int_equal(lbfo_disc_parse(bad, sizeof(bad), &m), LBFO_DISC_E_VERSION);
	memcpy(bad, buf, sizeof(bad));
	bad[7] = 40; /* length field says 40, datagram is 36 */
	assert_int_equal(lbfo_disc_parse(bad, sizeof(bad), &m), LBFO_DISC_E_LENGTH);
	memcpy(bad, buf, sizeof(bad));
	bad[21] = 9;
	assert_int_equal(lbfo_disc_parse(bad, sizeof(bad), &m), LBFO_DISC_E_TYPE);
	bad[21] = 0;
	assert_int_equal(lbfo_disc_parse(bad, sizeof(bad), &m), LBFO_DISC_E_TYPE);
	memcpy(bad, buf, sizeof(bad));
	bad[23] = LBFO_DISC_F_ACK; /* an announce cannot carry "ack" */
	assert_int_equal(lbfo_disc_parse(bad, sizeof(bad), &m), LBFO_DISC_E_FUNCTION);
	bad[23] = 0;
	assert_int_equal(lbfo_disc_parse(bad, sizeof(bad), &m), LBFO_DISC_E_FUNCTION);
	/* Another cluster. */
	assert_int_equal(lbfo_disc_check(buf, LBFO_DISC_LEN, 8, &m), LBFO_DISC_E_CLUSTER);
	assert_string_equal(lbfo_disc_err_name(LBFO_DISC_E_CLUSTER), "cluster");
	assert_string_equal(lbfo_disc_err_name((enum lbfo_disc_err)99), "?");
}

/* Every truncation and every single-bit flip: no crash, and a flip that
 * is accepted changed only a field without constraints. */
static void test_mutations(void **state)
{
	uint8_t buf[LBFO_DISC_LEN], bad[LBFO_DISC_LEN];
	struct lbfo_disc_msg m;
	size_t i, bit, accepted = 0;

	(void)state;
	sample(buf, LBFO_DISC_ANNOUNCE, LBFO_DISC_F_HELLO);
	for (i = 0; i < LBFO_DISC_LEN; i++)
		assert_int_not_equal(lbfo_disc_parse(buf, i, &m), LBFO_DISC_OK);
	for (i = 0; i < LBFO_DISC_LEN; i++)
		for (bit = 0; bit < 8; bit++) {
			enum lbfo_disc_err e;

			memcpy(bad, buf, sizeof(bad));
			bad[i] ^= (uint8_t)(1u << bit);
			e = lbfo_disc_parse(bad, sizeof(bad), &m);
			if (i < 4)
				assert_int_equal(e, LBFO_DISC_E_MAGIC);
			else if (i == 4)
				assert_int_equal(e, LBFO_DISC_E_VERSION);
			else if (i == 6 || i == 7)
				assert_int_equal(e, LBFO_DISC_E_LENGTH);
			else if (e == LBFO_DISC_OK)
				accepted++;
		}
	/* Flags and the 28 figure bytes minus type/function. */
	assert_true(accepted > 150);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
