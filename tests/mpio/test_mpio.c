/* Unit tests of the data plane's pure parts: LU identity parsing, the SCSI
 * answer table, configuration parsing and its error messages, the link
 * watch. The failover behaviour is tested on a fake target and a fake
 * clock in test_failover.c; the integration tests run the whole thing
 * against a real tgtd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>


#include "cfgtable.h"
#include "lbfo/lu.h"
#include "lu_internal.h"
#include "transport.h"

static void test_vpd83_prefers_naa(void **state)
{
	/* header, then a T10 vendor id and an NAA designator, both LU */
	unsigned char d[64] = { 0x00, 0x83, 0x00, 0x00 };
	size_t n = 4;
	char id[128];

	(void)state;
	d[n++] = 0x02; d[n++] = 0x01; d[n++] = 0; d[n++] = 12; /* ascii, t10 */
	memcpy(d + n, "LBFO    0001", 12); n += 12;
	d[n++] = 0x01; d[n++] = 0x03; d[n++] = 0; d[n++] = 8; /* binary, naa */
	memcpy(d + n, "\x60\x01\x40\x51\x23\x45\x67\x89", 8); n += 8;
	d[3] = (unsigned char)(n - 4);
	assert_int_equal(lbfo_ident_from_vpd83(d, n, id, sizeof(id)), 0);
	assert_string_equal(id, "naa.6001405123456789");
}

static void test_vpd83_t10_and_port_ignored(void **state)
{
	unsigned char d[64] = { 0x00, 0x83, 0x00, 0x00 };
	size_t n = 4;
	char id[128];

	(void)state;
	/* an NAA of the target port (association 1) must not be used */
	d[n++] = 0x01; d[n++] = 0x13; d[n++] = 0; d[n++] = 8;
	memcpy(d + n, "\x50\x00\x00\x00\x00\x00\x00\x01", 8); n += 8;
	d[n++] = 0x02; d[n++] = 0x01; d[n++] = 0; d[n++] = 16;
	memcpy(d + n, "IET     00010001", 16); n += 16;
	d[3] = (unsigned char)(n - 4);
	assert_int_equal(lbfo_ident_from_vpd83(d, n, id, sizeof(id)), 0);
	assert_string_equal(id, "t10.IET     00010001");
}

static void test_vpd83_local_naa_last(void **state)
{
	/* tgt's page: NAA 3 (locally assigned, from target/LUN numbers),
	 * then the T10 vendor id: the T10 id is the more unique one. */
	unsigned char d[64] = { 0x00, 0x83, 0x00, 0x00 };
	size_t n = 4;
	char id[128];

	(void)state;
	d[n++] = 0x01; d[n++] = 0x03; d[n++] = 0; d[n++] = 8;
	memcpy(d + n, "\x30\x00\x00\x01\x00\x00\x00\x01", 8); n += 8;
	d[n++] = 0x02; d[n++] = 0x01; d[n++] = 0; d[n++] = 16;
	memcpy(d + n, "lbfo-a-t1l1     ", 16); n += 16;
	d[3] = (unsigned char)(n - 4);
	assert_int_equal(lbfo_ident_from_vpd83(d, n, id, sizeof(id)), 0);
	assert_string_equal(id, "t10.lbfo-a-t1l1");
}

static void test_vpd83_truncated_refused(void **state)
{
	unsigned char d[12] = { 0x00, 0x83, 0x00, 0x08, 0x01, 0x03, 0, 20, 1, 2, 3, 4 };
	char id[64];

	(void)state;
	assert_int_equal(lbfo_ident_from_vpd83(d, sizeof(d), id, sizeof(id)), -1);
	assert_int_equal(lbfo_ident_from_vpd83(d, 3, id, sizeof(id)), -1);
}

static void test_vpd80_and_rc16(void **state)
{
	unsigned char s[] = { 0, 0x80, 0, 6, 'b', 'e', 'e', 'f', ' ', ' ' };
	unsigned char rc[32] = { 0 };
	struct lbfo_lu_ident id = { 0 };
	char ser[64];

	(void)state;
	assert_int_equal(lbfo_ident_from_vpd80(s, sizeof(s), ser, sizeof(ser)), 0);
	assert_string_equal(ser, "serial.beef");
	/* last LBA 0x7ffff, 512-byte blocks, LBPME */
	rc[5] = 0x07; rc[6] = 0xff; rc[7] = 0xff;
	rc[10] = 0x02;
	rc[14] = 0x80;
	assert_int_equal(lbfo_ident_from_rc16(rc, sizeof(rc), &id), 0);
	assert_int_equal(id.blocks, 0x80000);
	assert_int_equal(id.block_size, 512);
	assert_true(id.lbpme);
	rc[10] = 0; rc[11] = 100; /* a block size that is not a multiple of 512 */
	assert_int_equal(lbfo_ident_from_rc16(rc, sizeof(rc), &id), -1);
}

static void test_ident_compare_names_the_difference(void **state)
{
	struct lbfo_lu_ident a = { .id = "naa.1", .blocks = 100, .block_size = 512 };
	struct lbfo_lu_ident b = a;
	char why[128];

	(void)state;
	assert_int_equal(lbfo_ident_compare(&a, &b, why, sizeof(why)), 0);
	snprintf(b.id, sizeof(b.id), "naa.2");
	assert_int_equal(lbfo_ident_compare(&a, &b, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "different LU identity (naa.1 vs naa.2)"));
	/* A grown LU is the same LU (identity is the VPD names, not the
	 * size): accepted, its new size reported, the export's kept. */
	b = a;
	b.blocks = 200;
	assert_int_equal(lbfo_ident_compare(&a, &b, why, sizeof(why)), 0);
	b = a;
	b.block_size = 4096;
	assert_int_equal(lbfo_ident_compare(&a, &b, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "block size"));
}

/* One answer: status, sense key, ASC, ASCQ -> action (and event). */
static enum lbfo_scsi_action act_of(int status, int key, int asc, int ascq,
				    enum lbfo_scsi_event *ev)
{
	struct lbfo_scsi_result r = { .status = status, .sense_key = (uint8_t)key,
				      .asc = (uint8_t)asc, .ascq = (uint8_t)ascq };
	enum lbfo_scsi_event e;

	return lbfo_scsi_action(&r, ev ? ev : &e);
}

static void test_sense_table(void **state)
{
	enum lbfo_scsi_event ev;
	const int CC = LBFO_SAM_CHECK_CONDITION;

	(void)state;
	assert_int_equal(act_of(LBFO_SAM_GOOD, 0, 0, 0, NULL), LBFO_ACT_OK);
	assert_int_equal(act_of(LBFO_SAM_BUSY, 0, 0, 0, NULL), LBFO_ACT_RETRY_LATER);
	assert_int_equal(act_of(LBFO_SAM_TASK_SET_FULL, 0, 0, 0, NULL), LBFO_ACT_RETRY_LATER);
	assert_int_equal(act_of(LBFO_SAM_RESERVATION_CONFLICT, 0, 0, 0, NULL), LBFO_ACT_CONFLICT);
	/* UNIT ATTENTION: at once, with what it asks for */
	assert_int_equal(act_of(CC, 6, 0x29, 0, &ev), LBFO_ACT_RETRY_NOW);
	assert_int_equal(ev, LBFO_EV_NONE);
	assert_int_equal(act_of(CC, 6, 0x2a, 0x09, &ev), LBFO_ACT_RETRY_NOW);
	assert_int_equal(ev, LBFO_EV_CAPACITY_CHANGED);
	assert_int_equal(act_of(CC, 6, 0x2a, 0x06, &ev), LBFO_ACT_RETRY_NOW);
	assert_int_equal(ev, LBFO_EV_ALUA_CHANGED);
	assert_int_equal(act_of(CC, 6, 0x3f, 0x03, &ev), LBFO_ACT_RETRY_NOW);
	assert_int_equal(ev, LBFO_EV_INQUIRY_CHANGED);
	/* NOT READY: passing (backoff) or this path's (another path) */
	assert_int_equal(act_of(CC, 2, 0x04, 0x01, NULL), LBFO_ACT_RETRY_LATER);
	assert_int_equal(act_of(CC, 2, 0x04, 0x0a, NULL), LBFO_ACT_RETRY_LATER);
	assert_int_equal(act_of(CC, 2, 0x04, 0x0b, NULL), LBFO_ACT_PATH_FAIL);
	assert_int_equal(act_of(CC, 2, 0x04, 0x0c, NULL), LBFO_ACT_PATH_FAIL);
	assert_int_equal(act_of(CC, 2, 0x04, 0x03, NULL), LBFO_ACT_PATH_FAIL);
	assert_int_equal(act_of(CC, 2, 0x3a, 0x00, NULL), LBFO_ACT_PATH_FAIL);
	/* ILLEGAL REQUEST: LU not behind this port, or the client's error */
	assert_int_equal(act_of(CC, 5, 0x25, 0x00, NULL), LBFO_ACT_PATH_FAIL);
	assert_int_equal(act_of(CC, 5, 0x24, 0x00, NULL), LBFO_ACT_ERROR_INVALID);
	assert_int_equal(act_of(CC, 3, 0x11, 0x00, NULL), LBFO_ACT_ERROR_IO);
	assert_int_equal(act_of(CC, 7, 0x27, 0x00, NULL), LBFO_ACT_ERROR_ROFS);
	assert_int_equal(act_of(CC, 7, 0x27, 0x07, NULL), LBFO_ACT_ERROR_NOSPC);
	assert_int_equal(act_of(CC, 0xb, 0x47, 0x00, NULL), LBFO_ACT_RETRY_LATER);
	assert_int_equal(act_of(CC, 1, 0x17, 0x00, NULL), LBFO_ACT_OK);
}

/* A row of the answer table as docs/failover.md shows it. */
static void sense_row_text(const struct lbfo_sense_row *r, char *buf, size_t len)
{
	char code[16];

	if (r->asc == 0xff)
		snprintf(code, sizeof(code), "any");
	else if (r->ascq == 0xff)
		snprintf(code, sizeof(code), "%02X/any", r->asc);
	else
		snprintf(code, sizeof(code), "%02X/%02X", r->asc, r->ascq);
	snprintf(buf, len, "| %s | %s | %s | %s |", lbfo_sense_key_name(r->key), code, r->what,
		 lbfo_scsi_action_name(r->act));
}

/* The table in the code and in docs/failover.md are the same table. */
static void test_sense_table_documented(void **state)
{
	char path[512], *doc = NULL, row[256];
	size_t n, i, len = 0;
	const struct lbfo_sense_row *rows = lbfo_sense_rows(&n);
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/docs/failover.md", SRCDIR);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(getdelim(&doc, &len, '\0', f) > 0, 1);
	fclose(f);
	for (i = 0; i < n; i++) {
		sense_row_text(&rows[i], row, sizeof(row));
		if (!strstr(doc, row))
			fprintf(stderr, "docs/failover.md lacks the row: %s\n", row);
		assert_non_null(strstr(doc, row));
	}
	free(doc);
}

/* The LU's configuration table is sound (the reference in
 * docs/configuration.md is the host's, checked in tests/san). */
static void test_config_table(void **state)
{
	extern const struct lbfo_cfg_table lbfo_lu_config_table;
	char err[256];

	(void)state;
	if (lbfo_cfg_table_check(&lbfo_lu_config_table, err, sizeof(err)) < 0)
		fail_msg("LU config table: %s", err);
}

static void test_sense_parse_and_describe(void **state)
{
	const uint8_t fixed[18] = { 0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x0b };
	const uint8_t desc[8] = { 0x72, 0x06, 0x2a, 0x09 };
	struct lbfo_scsi_result r = { .status = LBFO_SAM_CHECK_CONDITION };
	char buf[96];

	(void)state;
	lbfo_sense_parse(fixed, sizeof(fixed), &r);
	assert_int_equal(r.sense_key, 2);
	assert_int_equal(r.asc, 0x04);
	assert_int_equal(r.ascq, 0x0b);
	assert_string_equal(lbfo_scsi_describe(&r, buf, sizeof(buf)),
			    "NOT READY 04/0B (target port in standby state)");
	lbfo_sense_parse(desc, sizeof(desc), &r);
	assert_int_equal(r.sense_key, 6);
	assert_int_equal(r.asc, 0x2a);
	assert_int_equal(r.ascq, 0x09);
	r.status = LBFO_SAM_BUSY;
	assert_string_equal(lbfo_scsi_describe(&r, buf, sizeof(buf)), "BUSY (0x08)");
}

static void test_capability_pages(void **state)
{
	uint8_t b0[64] = { 0, 0xb0, 0, 0x3c }, b2[8] = { 0, 0xb2, 0, 4 };
	uint8_t ms[28] = { 0, 26, 0, 0x10, 0, 0, 0, 0, 0x08, 0x12, 0x04 };
	struct lbfo_lu_ident id;

	(void)state;
	memset(&id, 0, sizeof(id));
	b0[11] = 0x80;                          /* max transfer 128 blocks */
	b0[23] = 0x40;                          /* max unmap LBA count 64 */
	b0[27] = 1;                             /* one descriptor */
	b0[31] = 8;                             /* granularity 8 */
	b0[32] = 0x80; b0[35] = 2;              /* UGAVALID, alignment 2 */
	assert_int_equal(lbfo_ident_from_vpd_b0(b0, sizeof(b0), &id), 0);
	assert_int_equal(id.max_xfer_blocks, 128);
	assert_int_equal(id.max_unmap_blocks, 64);
	assert_int_equal(id.max_unmap_desc, 1);
	assert_int_equal(id.unmap_granularity, 8);
	assert_int_equal(id.unmap_alignment, 2);
	/* MAXIMUM WRITE SAME LENGTH 0 = no limit reported, not "no WRITE SAME" */
	assert_int_equal(id.max_ws_blocks, 0);
	b2[5] = 0x80;
	assert_int_equal(lbfo_ident_from_vpd_b2(b2, sizeof(b2), &id), 0);
	assert_true(id.lbpu);
	assert_false(id.lbpws);
	assert_int_equal(lbfo_ident_from_mode_sense10(ms, sizeof(ms), &id), 0);
	assert_true(id.dpofua);
	assert_true(id.wce);
	ms[3] = 0;
	ms[10] = 0;
	assert_int_equal(lbfo_ident_from_mode_sense10(ms, sizeof(ms), &id), 0);
	assert_false(id.dpofua);
	assert_false(id.wce);
	/* a short (old) B0 page: only what it has */
	memset(&id, 0, sizeof(id));
	b0[3] = 0x0c;
	assert_int_equal(lbfo_ident_from_vpd_b0(b0, 16, &id), 0);
	assert_int_equal(id.max_xfer_blocks, 128);
	assert_int_equal(id.max_unmap_blocks, 0);
}

static void test_portal_normalise(void **state)
{
	char out[64];

	(void)state;
	lbfo_portal_normalise("198.18.1.2", out, sizeof(out));
	assert_string_equal(out, "198.18.1.2:3260");
	lbfo_portal_normalise("198.18.1.2:3261", out, sizeof(out));
	assert_string_equal(out, "198.18.1.2:3261");
	lbfo_portal_normalise("[::1]", out, sizeof(out));
	assert_string_equal(out, "[::1]:3260");
	lbfo_portal_normalise("[::1]:3262", out, sizeof(out));
	assert_string_equal(out, "[::1]:3262");
	/* a bare IPv6 address: its last group would read as a port */
	assert_int_equal(lbfo_portal_normalise("fd00::2", out, sizeof(out)), -1);
	assert_int_equal(lbfo_portal_normalise("[::1", out, sizeof(out)), -1);
	assert_int_equal(lbfo_portal_normalise("198.18.1.2:", out, sizeof(out)), -1);
}

static void test_config_keys_and_errors(void **state)
{
	struct lbfo_lu_config c;
	char err[256];

	(void)state;
	lbfo_lu_config_defaults(&c);
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "portal", "198.18.1.2", true, err, sizeof(err)), 0);
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "portal", "198.18.2.2", true, err, sizeof(err)), 0);
	assert_int_equal(c.npaths, 2);
	assert_string_equal(c.paths[1].name, "p1");
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "nop_timeout", "abc", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nop_timeout: invalid value 'abc': expected a duration"));
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "policy", "fastest", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown policy 'fastest'"));
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "failback", "soon", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "failback: invalid value 'soon'"));
	/* no target: allowed, it is discovered at start-up */
	assert_int_equal(lbfo_lu_config_check(&c, err, sizeof(err)), 0);
	assert_string_equal(c.target, "");
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "target", "iqn.2026-11.io.lbfo:t", true, err, sizeof(err)), 0);
	/* an unknown key goes to the policy, which refuses it by name */
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "policy", "dynamic-share", true, err, sizeof(err)), 0);
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "interval_msec", "5", true, err, sizeof(err)), 0);
	assert_int_equal(lbfo_lu_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "dynamic-share: unknown parameter 'interval_msec'"));
	c.npolicy_kv = 0;
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "interval_ms", "500", true, err, sizeof(err)), 0);
	assert_int_equal(lbfo_lu_config_check(&c, err, sizeof(err)), 0);
}

/* The share keys take what the whole-number keys take: digits (and up to
 * two decimals), nothing else. A bare IPv6 portal and an empty path name
 * are refused, naming the key. */
static void test_config_input_refused(void **state)
{
	static const char *const bad_shares[] = { "nan", "0x32", " 50", "50 ", "+5", "-0",
						  "1e1", "inf", "50.", "33.333", "100.01", "" };
	struct lbfo_lu_config c;
	char err[256];
	size_t i;

	(void)state;
	lbfo_lu_config_defaults(&c);
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "portal", "198.18.1.2", true, err, sizeof(err)), 0);
	for (i = 0; i < sizeof(bad_shares) / sizeof(bad_shares[0]); i++) {
		assert_int_equal(lbfo_lu_config_set(&c, NULL, "share", bad_shares[i], true, err,
						    sizeof(err)), -1);
		assert_non_null(strstr(err, "share: invalid value"));
		assert_non_null(strstr(err, "expected a percentage"));
	}
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "read_share", "33.5", true, err, sizeof(err)), 0);
	assert_int_equal(c.paths[0].read_share_bp, 3350);
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "write_share", "100", true, err, sizeof(err)), 0);
	assert_int_equal(c.paths[0].write_share_bp, 10000);
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "portal", "fd00::1:2", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "portal: invalid value 'fd00::1:2'"));
	assert_non_null(strstr(err, "[ADDRESS]:PORT"));
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "portal", "[fd00::1]:3261", true, err, sizeof(err)), 0);
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "fence", "sometimes", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fence: invalid value 'sometimes'"));
	assert_non_null(strstr(err, "auto, reinstate, reservation"));
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "fence", "reservation", true, err, sizeof(err)), 0);
	assert_int_equal(c.fence, LBFO_FENCE_RESERVATION);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_config_file_errors_name_file_line_key(void **state)
{
	char path[] = "/tmp/lbfo-test-XXXXXX";
	struct lbfo_lu_config c;
	char err[256];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path,
		   "[lu]\n"
		   "target = iqn.2026-11.io.lbfo:t\n"
		   "[path fast]\n"
		   "portal = 198.18.1.2\n"
		   "read_share = 80\n"
		   "bandwith = 800\n");
	lbfo_lu_config_defaults(&c);
	assert_int_equal(lbfo_lu_config_load(&c, path, err, sizeof(err)), -1);
	{
		char want[300];

		snprintf(want, sizeof(want), "%s:6: [path fast]: bandwith: unknown key", path);
		assert_non_null(strstr(err, want));
	}
	write_file(path,
		   "[lu]\n"
		   "target = iqn.2026-11.io.lbfo:t\n"
		   "policy = static-share\n"
		   "[path fast]\n"
		   "portal = 198.18.1.2\n"
		   "read_share = 80\n"
		   "write_share = 70\n"
		   "[path slow]\n"
		   "portal = 198.18.2.2:3261\n"
		   "share = 20\n"
		   "[policy]\n");
	lbfo_lu_config_defaults(&c);
	assert_int_equal(lbfo_lu_config_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.npaths, 2);
	assert_string_equal(c.paths[0].name, "fast");
	assert_int_equal(c.paths[0].read_share_bp, 8000);
	assert_int_equal(c.paths[0].write_share_bp, 7000);
	assert_int_equal(c.paths[1].write_share_bp, 2000);
	assert_int_equal(lbfo_lu_config_check(&c, err, sizeof(err)), 0);
	write_file(path, "[lu]\ntarget = x\n[path ]\nportal = 198.18.1.2\n");
	lbfo_lu_config_defaults(&c);
	assert_int_equal(lbfo_lu_config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":3: [path ]: empty name"));
	write_file(path, "[lu]\ntarget = x\n[volume]\nsize = 1\n");
	lbfo_lu_config_defaults(&c);
	assert_int_equal(lbfo_lu_config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":4: [volume]: size: unknown section"));
	unlink(path);
	assert_int_equal(lbfo_lu_config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

static void test_shares_over_100_refused(void **state)
{
	struct lbfo_lu_config c;
	char err[256];

	(void)state;
	lbfo_lu_config_defaults(&c);
	snprintf(c.target, sizeof(c.target), "iqn.2026-11.io.lbfo:t");
	lbfo_lu_config_add_path(&c, "a", "198.18.1.2", err, sizeof(err));
	lbfo_lu_config_add_path(&c, "b", "198.18.2.2", err, sizeof(err));
	c.paths[0].read_share_bp = 8000;
	c.paths[1].read_share_bp = 3000;
	assert_int_equal(lbfo_lu_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 100%"));
	assert_null(lbfo_lu_config_add_path(&c, "a", "198.18.3.2", err, sizeof(err)));
	assert_non_null(strstr(err, "duplicate path name 'a'"));
}

/* REPORT LUNS: peripheral and flat addressing, sorted, duplicates once,
 * other forms skipped, a list longer than the buffer read as far as it
 * goes, a malformed length refused. */
static void test_report_luns(void **state)
{
	uint8_t d[8 + 6 * 8] = { 0 };
	int luns[8];

	(void)state;
	lbfo_put_be32(d, 6 * 8);
	d[8 + 0 * 8 + 1] = 3;                      /* peripheral, LUN 3 */
	d[8 + 1 * 8 + 0] = 0x40 | 0x01;            /* flat, LUN 0x105 */
	d[8 + 1 * 8 + 1] = 0x05;
	d[8 + 2 * 8 + 1] = 1;                      /* peripheral, LUN 1 */
	d[8 + 3 * 8 + 0] = 0x80;                   /* logical unit addressing: skipped */
	d[8 + 3 * 8 + 1] = 7;
	d[8 + 4 * 8 + 1] = 3;                      /* LUN 3 again */
	d[8 + 5 * 8 + 0] = 0x02;                   /* peripheral, bus 2: skipped */
	d[8 + 5 * 8 + 1] = 9;
	assert_int_equal(lbfo_parse_report_luns(d, sizeof(d), luns, 8), 3);
	assert_int_equal(luns[0], 1);
	assert_int_equal(luns[1], 3);
	assert_int_equal(luns[2], 0x105);
	assert_int_equal(lbfo_parse_report_luns(d, 8 + 2 * 8, luns, 8), 2); /* cut short */
	assert_int_equal(lbfo_parse_report_luns(d, sizeof(d), luns, 1), 1);  /* at most max */
	lbfo_put_be32(d, 13);
	assert_int_equal(lbfo_parse_report_luns(d, sizeof(d), luns, 8), -1);
	assert_int_equal(lbfo_parse_report_luns(d, 4, luns, 8), -1);
}

/* A request's completion (io.c, a futex word): a waiter asleep is woken,
 * one that comes late does not sleep, a timed wait ends at its deadline;
 * and many finishes racing their waiters lose none. */
static void *finish_later(void *arg)
{
	struct lbfo_io *io = arg;

	usleep(20000);
	io->result = -EIO;
	lu_io_finish(io);
	return NULL;
}

static void *finish_now(void *arg)
{
	lu_io_finish(arg);
	return NULL;
}

static void test_io_completion(void **state)
{
	struct lbfo_io io;
	pthread_t t;
	uint64_t t0;
	int i;

	(void)state;
	lbfo_io_init(&io, LBFO_IO_READ, 0, 512, NULL, false);
	t0 = lbfo_now_ns();
	assert_int_equal(lbfo_io_timedwait(&io, 30), 0);
	assert_true(lbfo_now_ns() - t0 >= 30 * 1000000ull);
	assert_false(lbfo_io_done(&io));
	assert_int_equal(pthread_create(&t, NULL, finish_later, &io), 0);
	assert_int_equal(lbfo_io_wait(&io), -EIO); /* asleep when it finishes */
	pthread_join(t, NULL);
	assert_true(lbfo_io_done(&io));
	assert_int_equal(lbfo_io_timedwait(&io, 1000), 1);
	lbfo_io_fini(&io);
	for (i = 0; i < 2000; i++) {
		lbfo_io_init(&io, LBFO_IO_READ, 0, 512, NULL, false);
		assert_int_equal(pthread_create(&t, NULL, finish_now, &io), 0);
		if (i % 2)
			usleep(1);
		assert_int_equal(lbfo_io_wait(&io), 0);
		pthread_join(t, NULL);
		lbfo_io_fini(&io);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_completion),
		cmocka_unit_test(test_report_luns),
		cmocka_unit_test(test_vpd83_prefers_naa),
		cmocka_unit_test(test_vpd83_t10_and_port_ignored),
		cmocka_unit_test(test_vpd83_local_naa_last),
		cmocka_unit_test(test_vpd83_truncated_refused),
		cmocka_unit_test(test_vpd80_and_rc16),
		cmocka_unit_test(test_ident_compare_names_the_difference),
		cmocka_unit_test(test_sense_table),
		cmocka_unit_test(test_sense_parse_and_describe),
		cmocka_unit_test(test_sense_table_documented),
		cmocka_unit_test(test_config_table),
		cmocka_unit_test(test_capability_pages),
		cmocka_unit_test(test_config_input_refused),
		cmocka_unit_test(test_portal_normalise),
		cmocka_unit_test(test_config_keys_and_errors),
		cmocka_unit_test(test_config_file_errors_name_file_line_key),
		cmocka_unit_test(test_shares_over_100_refused),
	};
	return cmocka_run_group_tests_name("mpio", tests, NULL, NULL);
}
