/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Session-table replication: the message codec (every malformed case is
 * refused with its reason), the table's change journal, HMAC-SHA256 and
 * key files. The sync module itself runs in test_router_sync.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "auth.h"
#include "proto.h"
#include "session.h"
#include "syncproto.h"

static size_t build(uint8_t *buf, uint8_t type, uint16_t count, bool mac)
{
	struct lbfo_sync_hdr h = { .type = type, .flags = mac ? LBFO_SYNC_F_MAC : 0,
				   .cluster = 9, .count = count, .seq = 7, .sent_ms = 1234 };
	size_t blen = type == LBFO_SYNC_CHALLENGE ? LBFO_SYNC_NONCE
		    : type == LBFO_SYNC_HELLO ? LBFO_SYNC_NAME : (size_t)count * LBFO_SYNC_ENTRY;
	size_t i;

	assert_int_equal(lbfo_sync_hdr_put(buf, &h, blen), LBFO_SYNC_HDR);
	for (i = 0; i < count; i++) {
		struct lbfo_sync_entry e = { .port = 0, .op = LBFO_SYNC_SET, .group = 42,
					     .node_ip = 0x7f000001u + (uint32_t)i, .last_ms = 99 };

		e.addr[15] = (uint8_t)i;
		lbfo_sync_entry_put(buf + LBFO_SYNC_HDR + i * LBFO_SYNC_ENTRY, &e);
	}
	if (type != LBFO_SYNC_ENTRIES)
		memset(buf + LBFO_SYNC_HDR, 'x', blen);
	return LBFO_SYNC_HDR + blen + (mac ? LBFO_SYNC_MAC : 0);
}

static void test_roundtrip(void **state)
{
	static uint8_t buf[LBFO_SYNC_MAX];
	struct lbfo_sync_hdr h;
	struct lbfo_sync_entry e;
	size_t len = build(buf, LBFO_SYNC_ENTRIES, 3, true);

	(void)state;
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_OK);
	assert_int_equal(h.type, LBFO_SYNC_ENTRIES);
	assert_int_equal(h.count, 3);
	assert_int_equal(h.length, len);
	assert_int_equal(h.seq, 7);
	assert_int_equal(h.sent_ms, 1234);
	assert_int_equal(lbfo_sync_entry_get(buf + LBFO_SYNC_HDR, 2, &e), LBFO_SYNC_OK);
	assert_int_equal(e.node_ip, 0x7f000003u);
	assert_int_equal(e.addr[15], 2);
	assert_int_equal(e.group, 42);
	assert_int_equal(e.last_ms, 99);
	/* a message in pieces: short until the last byte, with more after it fine */
	assert_int_equal(lbfo_sync_parse(buf, 3, 9, &h), LBFO_SYNC_E_SHORT);
	assert_int_equal(lbfo_sync_parse(buf, len - 1, 9, &h), LBFO_SYNC_E_SHORT);
	assert_int_equal(lbfo_sync_parse(buf, len + 5, 9, &h), LBFO_SYNC_OK);
	/* the largest message fits in LBFO_SYNC_MAX, one more entry does not */
	len = build(buf, LBFO_SYNC_ENTRIES, LBFO_SYNC_MAX_ENTRIES, true);
	assert_true(len <= LBFO_SYNC_MAX);
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_OK);
	assert_int_equal(lbfo_sync_hdr_put(buf, &(struct lbfo_sync_hdr){ .flags = LBFO_SYNC_F_MAC },
					   (LBFO_SYNC_MAX_ENTRIES + 1) * LBFO_SYNC_ENTRY), 0);
}

static void test_malformed(void **state)
{
	static uint8_t buf[LBFO_SYNC_MAX + 64];
	struct lbfo_sync_hdr h;
	size_t len;

	(void)state;
	len = build(buf, LBFO_SYNC_HELLO, 0, false);
	buf[0] = 'G';
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_E_MAGIC);
	assert_int_equal(lbfo_sync_parse(buf, 4, 9, &h), LBFO_SYNC_E_MAGIC); /* early */
	len = build(buf, LBFO_SYNC_HELLO, 0, false);
	buf[4] = 2;
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_E_VERSION);
	len = build(buf, LBFO_SYNC_HELLO, 0, false);
	buf[5] = 9;
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_E_TYPE);
	len = build(buf, LBFO_SYNC_HELLO, 0, false);
	assert_int_equal(lbfo_sync_parse(buf, len, 10, &h), LBFO_SYNC_E_CLUSTER);
	/* length that disagrees with the type, the count, the MAC flag */
	len = build(buf, LBFO_SYNC_HELLO, 0, false);
	buf[11] += 1;
	assert_int_equal(lbfo_sync_parse(buf, len + 1, 9, &h), LBFO_SYNC_E_LENGTH);
	len = build(buf, LBFO_SYNC_ENTRIES, 2, false);
	buf[15] = 3; /* count 3, length for 2 */
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_E_LENGTH);
	len = build(buf, LBFO_SYNC_ENTRIES, 2, false);
	buf[7] |= LBFO_SYNC_F_MAC;
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_E_LENGTH);
	/* a huge length is refused at once, not waited for */
	len = build(buf, LBFO_SYNC_HELLO, 0, false);
	buf[8] = 0x7f;
	assert_int_equal(lbfo_sync_parse(buf, LBFO_SYNC_HDR, 9, &h), LBFO_SYNC_E_LENGTH);
	/* a count on a HELLO */
	len = build(buf, LBFO_SYNC_HELLO, 0, false);
	buf[15] = 1;
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_E_LENGTH);
	/* entries: unknown op, reserved bytes set */
	len = build(buf, LBFO_SYNC_ENTRIES, 2, false);
	buf[LBFO_SYNC_HDR + LBFO_SYNC_ENTRY + 18] = 7;
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_E_ENTRY);
	len = build(buf, LBFO_SYNC_ENTRIES, 2, false);
	buf[LBFO_SYNC_HDR + 19] = 1;
	assert_int_equal(lbfo_sync_parse(buf, len, 9, &h), LBFO_SYNC_E_ENTRY);
	assert_string_equal(lbfo_sync_err_name(LBFO_SYNC_E_ENTRY), "entry");
}

/* Random bytes never crash the parser or read past what they are given. */
static void test_random_bytes(void **state)
{
	uint8_t *buf;
	struct lbfo_sync_hdr h;
	int i;

	(void)state;
	srand(7);
	for (i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand() % 200), j;

		buf = malloc(len ? len : 1);
		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)rand();
		if (len >= 5 && (i & 1)) { /* get past magic and version */
			memcpy(buf, "LBSY\x01", 5);
		}
		(void)lbfo_sync_parse(buf, len, 9, &h);
		free(buf);
	}
}

static struct sess_key key(uint8_t a)
{
	struct sess_key k;

	memset(&k, 0, sizeof(k));
	k.addr[15] = a;
	return k;
}

static void test_journal(void **state)
{
	struct sess_table t;
	struct sess_key k1 = key(1), k2 = key(2), got[8];
	struct sess *s;
	size_t i;

	(void)state;
	assert_int_equal(sess_table_init(&t, 4), 0);
	/* off: nothing recorded */
	s = sess_insert(&t, &k1, 1, 100, NULL, NULL);
	assert_int_equal(sess_journal_take(&t, got, 8), 0);
	assert_int_equal(sess_journal_init(&t, 4, 1000), 0);
	/* insert, touch (not before touch_ns since the last record), remove */
	sess_insert(&t, &k2, 2, 200, NULL, NULL);
	sess_touch(&t, s, 500);           /* 400 since its insert at 100: not yet */
	sess_touch(&t, s, 1100);          /* 1000: recorded */
	assert_int_equal(sess_journal_take(&t, got, 8), 2);
	assert_memory_equal(&got[0], &k2, sizeof(k2));
	assert_memory_equal(&got[1], &k1, sizeof(k1));
	sess_remove(&t, sess_find(&t, &k2));
	assert_int_equal(sess_journal_take(&t, got, 8), 1);
	assert_memory_equal(&got[0], &k2, sizeof(k2));
	/* muted: a peer's entries are not echoed */
	t.journal_mute = true;
	sess_insert(&t, &k2, 3, 300, NULL, NULL);
	t.journal_mute = false;
	assert_int_equal(sess_journal_take(&t, got, 8), 0);
	/* full: the oldest go and the loss is counted */
	for (i = 0; i < 6; i++)
		sess_journal_note(&t, s);
	assert_int_equal(t.journal_lost, 2);
	assert_int_equal(sess_journal_take(&t, got, 8), 4);
	/* the slot walk sees every live entry once */
	{
		size_t live = 0, j;

		for (i = 0; i < t.cap; i++) {
			if (!sess_slot(&t, i))
				continue;
			live++;
			for (j = 0; j < i; j++)
				if (sess_slot(&t, j))
					assert_memory_not_equal(&sess_slot(&t, j)->key,
								&sess_slot(&t, i)->key, sizeof(k1));
		}
		assert_int_equal(live, t.n);
		assert_int_equal(live, 2);
		assert_null(sess_slot(&t, t.cap));
	}
	/* a move is journaled at once, whatever the refresh */
	s = sess_find(&t, &k1);
	sess_set_node(&t, s, 9, 1200);
	assert_int_equal(sess_journal_take(&t, got, 8), 1);
	assert_memory_equal(&got[0], &k1, sizeof(k1));
	sess_set_node(&t, s, 9, 1300); /* no move, nothing */
	assert_int_equal(sess_journal_take(&t, got, 8), 0);
	/* expiry and eviction are each router's own: not journaled */
	assert_int_equal(sess_expire(&t, 100000, 1000), 2);
	assert_int_equal(t.n, 0);
	assert_int_equal(sess_journal_take(&t, got, 8), 0);
	for (i = 0; i < 5; i++) {
		struct sess_key kk = key((uint8_t)(10 + i));

		sess_insert(&t, &kk, 1, 200000 + i, NULL, NULL);
	}
	assert_int_equal(t.evicted, 1);
	assert_int_equal(sess_journal_take(&t, got, 8), 4); /* 5 inserts, ring of 4 */
	sess_table_destroy(&t);
}

/* The merge rule: newer wins, ties to the lower node address, and it is
 * antisymmetric (two routers comparing the same pair decide alike). */
static void test_merge_rule(void **state)
{
	static const uint64_t ms[] = { 0, 1, 1000, 1000, 1001, UINT64_MAX };
	static const uint32_t ip[] = { 0x7f000001u, 0x7f000002u, 0xc6120001u };
	size_t a, b, c, d;

	(void)state;
	assert_true(lbfo_sync_theirs_wins(1000, 0x7f000002u, 1001, 0x7f000009u));
	assert_false(lbfo_sync_theirs_wins(1001, 0x7f000002u, 1000, 0x7f000001u));
	assert_true(lbfo_sync_theirs_wins(1000, 0x7f000002u, 1000, 0x7f000001u));
	assert_false(lbfo_sync_theirs_wins(1000, 0x7f000001u, 1000, 0x7f000002u));
	for (a = 0; a < 6; a++)
		for (b = 0; b < 3; b++)
			for (c = 0; c < 6; c++)
				for (d = 0; d < 3; d++) {
					bool x = lbfo_sync_theirs_wins(ms[a], ip[b], ms[c], ip[d]);
					bool y = lbfo_sync_theirs_wins(ms[c], ip[d], ms[a], ip[b]);

					if (ms[a] == ms[c] && ip[b] == ip[d])
						assert_false(x || y);
					else
						assert_true(x != y);
				}
}

/* RFC 4231 test case 2: key "Jefe". */
static void test_hmac(void **state)
{
	struct rt_key k = { .len = 4 };
	const char *msg = "what do ya want for nothing?";
	static const uint8_t want[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
		0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
		0x64, 0xec, 0x38, 0x43 };
	uint8_t mac[RT_MAC_LEN];

	(void)state;
	memcpy(k.b, "Jefe", 4);
	rt_mac(&k, (const uint8_t *)msg, strlen(msg), mac);
	assert_memory_equal(mac, want, 32);
	assert_true(rt_mac_ok(&k, (const uint8_t *)msg, strlen(msg), want));
	mac[31] ^= 1;
	assert_false(rt_mac_ok(&k, (const uint8_t *)msg, strlen(msg), mac));
}

static void write_file(const char *path, const char *s, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	fclose(f);
	chmod(path, mode);
}

static void test_key_file(void **state)
{
	char path[] = "/tmp/lbfo-key-XXXXXX", why[256];
	struct rt_key k;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "0123456789abcdef0123\n", 0600);
	assert_int_equal(rt_key_load(path, &k, why, sizeof(why)), 0);
	assert_int_equal(k.len, 20); /* the newline is not part of it */
	write_file(path, "0123456789abcdef0123\n", 0640);
	assert_int_equal(rt_key_load(path, &k, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "mode 0640"));
	write_file(path, "short\n", 0600);
	assert_int_equal(rt_key_load(path, &k, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "has 5 bytes"));
	unlink(path);
	assert_int_equal(rt_key_load(path, &k, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "cannot open"));
}

/* Discovery with a key: signed, checked, replays and forgeries refused. */
static void test_disc_auth(void **state)
{
	struct rt_key k = { .len = 16 }, other = { .len = 16 }, none = { .len = 0 };
	struct lbfo_disc_msg m = { .src_ip = 0x7f000001, .priority = 5, .cluster = 7,
				   .type = LBFO_DISC_ANNOUNCE, .func = LBFO_DISC_F_HELLO };
	struct lbfo_disc_msg got;
	uint8_t buf[LBFO_DISC_AUTH_LEN], plain[LBFO_DISC_LEN];
	uint64_t last = 0, now = 1700000000000000ull, skew = 30000000ull;
	size_t len;

	(void)state;
	memset(k.b, 'k', 16);
	memset(other.b, 'o', 16);
	assert_int_equal(lbfo_disc_encode(&m, plain, sizeof(plain)), LBFO_DISC_LEN);
	m.flags = LBFO_DISC_F_AUTH;
	m.stamp = now;
	assert_int_equal(lbfo_disc_encode(&m, buf, sizeof(plain)), 0); /* too small */
	len = lbfo_disc_encode(&m, buf, sizeof(buf));
	assert_int_equal(len, LBFO_DISC_AUTH_LEN);
	rt_disc_seal(&k, buf, len);
	assert_int_equal(lbfo_disc_check(buf, len, 7, &got), LBFO_DISC_OK);
	assert_int_equal(got.stamp, now);
	assert_int_equal(rt_disc_verify(&k, buf, len, got.flags, got.stamp, now, skew, &last),
			 LBFO_DISC_OK);
	assert_int_equal(last, now);
	/* the same message again: a replay */
	assert_int_equal(rt_disc_verify(&k, buf, len, got.flags, got.stamp, now, skew, &last),
			 LBFO_DISC_E_REPLAY);
	/* too old or too new for the clock, even for an unknown sender */
	assert_int_equal(rt_disc_verify(&k, buf, len, got.flags, got.stamp, now + skew + 1, skew,
					 NULL), LBFO_DISC_E_REPLAY);
	assert_int_equal(rt_disc_verify(&k, buf, len, got.flags, got.stamp, now - skew - 1, skew,
					 NULL), LBFO_DISC_E_REPLAY);
	/* another key; one bit changed; no MAC at all */
	last = 0;
	assert_int_equal(rt_disc_verify(&other, buf, len, got.flags, got.stamp, now, skew, &last),
			 LBFO_DISC_E_AUTH);
	buf[17] ^= 1; /* the priority */
	assert_int_equal(rt_disc_verify(&k, buf, len, got.flags, got.stamp, now, skew, &last),
			 LBFO_DISC_E_AUTH);
	assert_int_equal(rt_disc_verify(&k, plain, LBFO_DISC_LEN, 0, 0, now, skew, &last),
			 LBFO_DISC_E_AUTH);
	/* no key: everything goes, signed or not */
	assert_int_equal(rt_disc_verify(&none, plain, LBFO_DISC_LEN, 0, 0, now, skew, &last),
			 LBFO_DISC_OK);
	/* the flag and the length must agree */
	plain[5] = LBFO_DISC_F_AUTH;
	assert_int_equal(lbfo_disc_check(plain, LBFO_DISC_LEN, 7, &got), LBFO_DISC_E_LENGTH);
	buf[5] = 0;
	assert_int_equal(lbfo_disc_check(buf, LBFO_DISC_AUTH_LEN, 7, &got), LBFO_DISC_E_LENGTH);
	/* stamps rise even when the clock does not */
	last = UINT64_MAX - 5;
	assert_int_equal(rt_disc_stamp(&last), UINT64_MAX - 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_merge_rule),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_disc_auth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
