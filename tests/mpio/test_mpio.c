/* Unit tests of the data plane's pure parts: LU identity parsing, SCSI
 * status classification, configuration parsing and its error messages.
 * The integration tests run the whole thing against a real tgtd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lbfo/lu.h"
#include "path.h"
#include "lu_internal.h"

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
	assert_true(id.unmap);
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
	b = a;
	b.blocks = 200;
	assert_int_equal(lbfo_ident_compare(&a, &b, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "capacity"));
	b = a;
	b.block_size = 4096;
	assert_int_equal(lbfo_ident_compare(&a, &b, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "block size"));
}

static void test_classify(void **state)
{
	struct scsi_task t;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(lbfo_scsi_classify(SCSI_STATUS_GOOD, &t), LBFO_SCSI_OK);
	assert_int_equal(lbfo_scsi_classify(SCSI_STATUS_CANCELLED, &t), LBFO_SCSI_PATH_ERROR);
	assert_int_equal(lbfo_scsi_classify(SCSI_STATUS_TIMEOUT, &t), LBFO_SCSI_PATH_ERROR);
	assert_int_equal(lbfo_scsi_classify(SCSI_STATUS_BUSY, &t), LBFO_SCSI_RETRY);
	t.sense.key = SCSI_SENSE_UNIT_ATTENTION;
	assert_int_equal(lbfo_scsi_classify(SCSI_STATUS_CHECK_CONDITION, &t), LBFO_SCSI_RETRY);
	t.sense.key = SCSI_SENSE_ILLEGAL_REQUEST;
	assert_int_equal(lbfo_scsi_classify(SCSI_STATUS_CHECK_CONDITION, &t), LBFO_SCSI_INVALID);
	t.sense.key = SCSI_SENSE_MEDIUM_ERROR;
	assert_int_equal(lbfo_scsi_classify(SCSI_STATUS_CHECK_CONDITION, &t),
			 LBFO_SCSI_MEDIUM_ERROR);
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
	assert_string_equal(err, "invalid value 'abc' for 'nop_timeout': not a whole number");
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "policy", "fastest", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown policy 'fastest'"));
	assert_int_equal(lbfo_lu_config_set(&c, NULL, "failback", "soon", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'failback'"));
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

		snprintf(want, sizeof(want), "%s:6: [path fast]: unknown path key 'bandwith'", path);
		assert_string_equal(err, want);
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
	write_file(path, "[lu]\ntarget = x\n[volume]\nsize = 1\n");
	lbfo_lu_config_defaults(&c);
	assert_int_equal(lbfo_lu_config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":4: [volume]: unknown section"));
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

/* ---- link watch: rtnetlink link messages -> path failures ---------------- */

/* Queue one link message (as the kernel would send it) on fd. */
static void send_link(int fd, uint16_t type, unsigned char family, int ifindex,
		      unsigned flags, size_t cut)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nlmsg_len = NLMSG_LENGTH(sizeof(m.i));
	m.h.nlmsg_type = type;
	m.i.ifi_family = family;
	m.i.ifi_index = ifindex;
	m.i.ifi_flags = flags;
	assert_int_equal(send(fd, &m, sizeof(m) - cut, 0), (ssize_t)(sizeof(m) - cut));
}

static void test_link_watch(void **state)
{
	struct lbfo_lu *lu = calloc(1, sizeof(*lu));
	int sv[2], i;

	(void)state;
	assert_non_null(lu);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	lu->link_fd = sv[0];
	lu->npaths = 3;
	for (i = 0; i < 3; i++) {
		lu->paths[i].st = PATH_UP;
		snprintf(lu->paths[i].ifname, sizeof(lu->paths[i].ifname), "veth%d", i);
	}
	lu->paths[0].ifindex = 7;
	lu->paths[1].ifindex = 8;
	lu->paths[2].ifindex = 7;
	lu->paths[2].st = PATH_LOGIN; /* not up: nothing to fail */

	/* Up and running, another interface, a bridge port leaving its
	 * bridge (AF_BRIDGE DELLINK, link still up), a cut message: nothing. */
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 7, IFF_UP | IFF_RUNNING, 0);
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 9, 0, 0);
	send_link(sv[1], RTM_DELLINK, AF_BRIDGE, 7, IFF_UP | IFF_RUNNING, 0);
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 7, 0, 4);
	lu_link_input(lu);
	for (i = 0; i < 3; i++)
		assert_false(lu->paths[i].failing);
	assert_int_equal(lu->link_downs, 0);

	/* veth0's carrier gone: path 0 fails, named; path 1 does not. */
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 7, IFF_UP, 0);
	lu_link_input(lu);
	assert_true(lu->paths[0].failing);
	assert_string_equal(lu->paths[0].fail_reason, "link veth0 lost its carrier (rtnetlink)");
	assert_false(lu->paths[1].failing);
	assert_false(lu->paths[2].failing);
	/* Administratively down, then removed. */
	send_link(sv[1], RTM_NEWLINK, AF_UNSPEC, 8, 0, 0);
	lu_link_input(lu);
	assert_string_equal(lu->paths[1].fail_reason, "link veth1 down (rtnetlink)");
	lu->paths[1].failing = false;
	send_link(sv[1], RTM_DELLINK, AF_UNSPEC, 8, 0, 0);
	lu_link_input(lu);
	assert_string_equal(lu->paths[1].fail_reason, "link veth1 removed (rtnetlink)");
	assert_int_equal(lu->link_downs, 3);
	close(sv[0]);
	close(sv[1]);
	free(lu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_watch),
		cmocka_unit_test(test_vpd83_prefers_naa),
		cmocka_unit_test(test_vpd83_t10_and_port_ignored),
		cmocka_unit_test(test_vpd83_local_naa_last),
		cmocka_unit_test(test_vpd83_truncated_refused),
		cmocka_unit_test(test_vpd80_and_rc16),
		cmocka_unit_test(test_ident_compare_names_the_difference),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_portal_normalise),
		cmocka_unit_test(test_config_keys_and_errors),
		cmocka_unit_test(test_config_file_errors_name_file_line_key),
		cmocka_unit_test(test_shares_over_100_refused),
	};
	return cmocka_run_group_tests_name("mpio", tests, NULL, NULL);
}
