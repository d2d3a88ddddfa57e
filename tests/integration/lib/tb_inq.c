/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tb_inq: the test bed's look at what an LU says about itself, in bytes.
 * iscsi-inq prints binary designators with %s (tgt's NAA designators show
 * as "`" and "0"), so the test bed compiles this on demand (testbed_san.sh,
 * tb_inq) against libiscsi:
 *
 *   tb_inq id URL          VPD 0x83 designators of the LU (association 0),
 *                          one a line: naa.HEX, eui.HEX, t10.ASCII, name.ASCII;
 *                          then serial.ASCII (VPD 0x80) and "wwid ID", the
 *                          designator lbfo names the LU by (src/iscsi/scsi.c:
 *                          NAA 5/6 > NAA 2 > EUI-64 > SCSI name > T10 > NAA 3)
 *   tb_inq luns URL        REPORT LUNS: "luns 0 1 2"
 *   tb_inq ua URL FILE S   log in, print "ready", wait (<= S s) until FILE
 *                          exists, then TEST UNIT READY until it is GOOD (at
 *                          most 4): "tur good" / "tur check KEY ASC ASCQ" (hex);
 *                          then REPORT LUNS as above
 *
 * Exit 0 on success, 1 on any failure (message on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

static struct iscsi_context *ctx;

static void die(const char *what)
{
	fprintf(stderr, "tb_inq: %s: %s\n", what, ctx ? iscsi_get_error(ctx) : "");
	exit(1);
}

static int login(const char *url_s)
{
	struct iscsi_url *url;
	int lun;

	ctx = iscsi_create_context("iqn.2026-11.io.lbfo:tb-inq");
	if (!ctx)
		die("context");
	url = iscsi_parse_full_url(ctx, url_s);
	if (!url)
		die("url");
	iscsi_set_targetname(ctx, url->target);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (url->user[0])
		iscsi_set_initiator_username_pwd(ctx, url->user, url->passwd);
	if (url->target_user[0])
		iscsi_set_target_username_pwd(ctx, url->target_user, url->target_passwd);
	iscsi_set_timeout(ctx, 10);
	/* libiscsi's connect sends TEST UNIT READY until the power-on UA is consumed */
	if (iscsi_full_connect_sync(ctx, url->portal, url->lun) != 0)
		die("login");
	lun = url->lun;
	iscsi_destroy_url(url);
	return lun;
}

static void put_hex(const char *pfx, const uint8_t *d, int n, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "%s", pfx);

	for (int i = 0; i < n && o + 3 <= len; i++)
		o += (size_t)snprintf(out + o, len - o, "%02x", d[i]);
}

static void put_ascii(const char *pfx, const uint8_t *d, int n, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "%s", pfx);

	while (n > 0 && (d[n - 1] == ' ' || d[n - 1] == 0))
		n--;
	for (int i = 0; i < n && o + 2 <= len; i++)
		out[o++] = d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : '.';
	out[o] = '\0';
}

/* lbfo's preference among LU designators (src/iscsi/scsi.c, designator_rank) */
static int rank(const uint8_t *de)
{
	switch (de[1] & 0x0f) {
	case 3: return (de[4] >> 4) == 5 || (de[4] >> 4) == 6 ? 6 : (de[4] >> 4) == 2 ? 5 : 1;
	case 2: return 4;
	case 8: return 3;
	case 1: return 2;
	default: return 0;
	}
}

static int cmd_id(int lun)
{
	struct scsi_task *t;
	char line[300], best[300] = "";
	int best_rank = 0;

	t = iscsi_inquiry_sync(ctx, lun, 1, 0x83, 1024);
	if (!t || t->status != SCSI_STATUS_GOOD)
		die("INQUIRY VPD 0x83");
	const uint8_t *d = t->datain.data;
	int n = t->datain.size, plen = n >= 4 ? ((d[2] << 8) | d[3]) + 4 : 0;

	if (plen < n)
		n = plen;
	for (int off = 4; off + 4 <= n && off + 4 + d[off + 3] <= n; off += 4 + d[off + 3]) {
		const uint8_t *de = d + off;
		int type = de[1] & 0x0f, len = de[3];

		if (((de[1] >> 4) & 3) != 0 || len == 0)
			continue; /* a port's or target's designator, not the LU's */
		switch (type) {
		case 3: put_hex("naa.", de + 4, len, line, sizeof(line)); break;
		case 2: put_hex("eui.", de + 4, len, line, sizeof(line)); break;
		case 8: put_ascii("name.", de + 4, len, line, sizeof(line)); break;
		case 1: put_ascii("t10.", de + 4, len, line, sizeof(line)); break;
		default: snprintf(line, sizeof(line), "type%d", type); break;
		}
		printf("%s\n", line);
		if (rank(de) > best_rank) {
			best_rank = rank(de);
			/* lbfo writes a T10 vendor id as "t10.ASCII" and a SCSI name as is */
			if (type == 8)
				put_ascii("", de + 4, len, best, sizeof(best));
			else
				snprintf(best, sizeof(best), "%s", line);
		}
	}
	scsi_free_scsi_task(t);
	t = iscsi_inquiry_sync(ctx, lun, 1, 0x80, 255);
	if (t && t->status == SCSI_STATUS_GOOD && t->datain.size > 4) {
		const uint8_t *s = t->datain.data + 4;
		int sl = t->datain.data[3];

		if (sl > t->datain.size - 4)
			sl = t->datain.size - 4;
		while (sl > 0 && *s == ' ') { /* tgt right-aligns the serial in blanks */
			s++;
			sl--;
		}
		put_ascii("serial.", s, sl, line, sizeof(line));
		printf("%s\n", line);
	}
	if (t)
		scsi_free_scsi_task(t);
	if (!best[0])
		die("no LU designator");
	printf("wwid %s\n", best);
	return 0;
}

static int cmd_luns(void)
{
	struct scsi_task *t = iscsi_reportluns_sync(ctx, 0, 4096);
	struct scsi_reportluns_list *l;

	if (!t || t->status != SCSI_STATUS_GOOD)
		die("REPORT LUNS");
	l = scsi_datain_unmarshall(t);
	if (!l)
		die("REPORT LUNS data");
	printf("luns");
	for (uint32_t i = 0; i < l->num; i++)
		printf(" %u", l->luns[i]);
	printf("\n");
	scsi_free_scsi_task(t);
	return 0;
}

static int cmd_ua(int lun, const char *file, double secs)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };

	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < (int)(secs * 20) && access(file, F_OK) != 0; i++)
		nanosleep(&nap, NULL);
	if (access(file, F_OK) != 0) {
		fprintf(stderr, "tb_inq: %s did not appear within %.0f s\n", file, secs);
		return 1;
	}
	for (int i = 0; i < 4; i++) {
		struct scsi_task *t = iscsi_testunitready_sync(ctx, lun);

		if (!t)
			die("TEST UNIT READY");
		if (t->status == SCSI_STATUS_GOOD) {
			printf("tur good\n");
			scsi_free_scsi_task(t);
			break;
		}
		if (t->status != SCSI_STATUS_CHECK_CONDITION)
			die("TEST UNIT READY status");
		printf("tur check %x %02x %02x\n", t->sense.key, (t->sense.ascq >> 8) & 0xff,
		       t->sense.ascq & 0xff);
		scsi_free_scsi_task(t);
	}
	return cmd_luns();
}

int main(int argc, char **argv)
{
	int lun, rc;

	if (argc < 3 || (strcmp(argv[1], "ua") == 0 && argc < 5)) {
		fprintf(stderr, "usage: tb_inq id|luns URL | tb_inq ua URL FILE SECS\n");
		return 2;
	}
	lun = login(argv[2]);
	if (strcmp(argv[1], "id") == 0)
		rc = cmd_id(lun);
	else if (strcmp(argv[1], "luns") == 0)
		rc = cmd_luns();
	else if (strcmp(argv[1], "ua") == 0)
		rc = cmd_ua(lun, argv[3], atof(argv[4]));
	else
		rc = 2;
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
	return rc;
}
