/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SCSI as lbfo speaks it: the answer table, identity and capability pages,
 * command builders. Pure (see include/lbfo/scsi.h).
 */
#include <stdio.h>
#include <string.h>

#include "lbfo/scsi.h"

/* ---- the answer table ------------------------------------------------ */

/*
 * One row per condition, most specific first: key, ASC, ASCQ (0xff = any
 * ASCQ; asc 0xff = any ASC), action, event. Checked top to bottom; the
 * first row whose key, ASC and ASCQ match wins; a key with no matching
 * row takes its catch-all (asc 0xff). docs/failover.md shows this table.
 */
#define ANY 0xff
static const struct lbfo_sense_row sense_table[] = {
	/* UNIT ATTENTION: a condition reported once per nexus. Send again. */
	{ LBFO_SK_UNIT_ATTENTION, 0x2a, 0x09, LBFO_ACT_RETRY_NOW, LBFO_EV_CAPACITY_CHANGED,
	  "capacity data has changed" },
	{ LBFO_SK_UNIT_ATTENTION, 0x2a, 0x06, LBFO_ACT_RETRY_NOW, LBFO_EV_ALUA_CHANGED,
	  "asymmetric access state changed" },
	{ LBFO_SK_UNIT_ATTENTION, 0x2a, 0x07, LBFO_ACT_RETRY_NOW, LBFO_EV_ALUA_CHANGED,
	  "implicit asymmetric access state transition failed" },
	{ LBFO_SK_UNIT_ATTENTION, 0x2a, 0x03, LBFO_ACT_RETRY_NOW, LBFO_EV_RESERVATIONS,
	  "reservations preempted" },
	{ LBFO_SK_UNIT_ATTENTION, 0x2a, 0x04, LBFO_ACT_RETRY_NOW, LBFO_EV_RESERVATIONS,
	  "reservations released" },
	{ LBFO_SK_UNIT_ATTENTION, 0x2a, 0x05, LBFO_ACT_RETRY_NOW, LBFO_EV_RESERVATIONS,
	  "registrations preempted" },
	{ LBFO_SK_UNIT_ATTENTION, 0x3f, 0x03, LBFO_ACT_RETRY_NOW, LBFO_EV_INQUIRY_CHANGED,
	  "inquiry data has changed" },
	{ LBFO_SK_UNIT_ATTENTION, 0x3f, 0x0e, LBFO_ACT_RETRY_NOW, LBFO_EV_LUNS_CHANGED,
	  "reported LUNs data has changed" },
	{ LBFO_SK_UNIT_ATTENTION, ANY, ANY, LBFO_ACT_RETRY_NOW, LBFO_EV_NONE, "unit attention" },
	/* NOT READY: passing on the LU, or this path's own state. */
	{ LBFO_SK_NOT_READY, 0x04, 0x01, LBFO_ACT_RETRY_LATER, LBFO_EV_NONE,
	  "becoming ready" },
	{ LBFO_SK_NOT_READY, 0x04, 0x0a, LBFO_ACT_RETRY_LATER, LBFO_EV_ALUA_CHANGED,
	  "asymmetric access state transition" },
	{ LBFO_SK_NOT_READY, 0x04, 0x0b, LBFO_ACT_PATH_FAIL, LBFO_EV_ALUA_CHANGED,
	  "target port in standby state" },
	{ LBFO_SK_NOT_READY, 0x04, 0x0c, LBFO_ACT_PATH_FAIL, LBFO_EV_ALUA_CHANGED,
	  "target port in unavailable state" },
	{ LBFO_SK_NOT_READY, 0x04, 0x03, LBFO_ACT_PATH_FAIL, LBFO_EV_NONE,
	  "manual intervention required" },
	{ LBFO_SK_NOT_READY, 0x04, 0x02, LBFO_ACT_PATH_FAIL, LBFO_EV_NONE,
	  "initializing command required" },
	{ LBFO_SK_NOT_READY, 0x04, 0x12, LBFO_ACT_PATH_FAIL, LBFO_EV_NONE, "offline" },
	{ LBFO_SK_NOT_READY, 0x04, ANY, LBFO_ACT_RETRY_LATER, LBFO_EV_NONE,
	  "not ready (in progress)" },
	{ LBFO_SK_NOT_READY, 0x3a, ANY, LBFO_ACT_PATH_FAIL, LBFO_EV_NONE,
	  "medium not present" },
	{ LBFO_SK_NOT_READY, ANY, ANY, LBFO_ACT_PATH_FAIL, LBFO_EV_NONE, "not ready" },
	/* ILLEGAL REQUEST: the LU is not behind this port, or a real error. */
	{ LBFO_SK_ILLEGAL_REQUEST, 0x25, 0x00, LBFO_ACT_PATH_FAIL, LBFO_EV_NONE,
	  "logical unit not supported" },
	{ LBFO_SK_ILLEGAL_REQUEST, 0x21, 0x00, LBFO_ACT_ERROR_IO, LBFO_EV_NONE,
	  "LBA out of range" },
	{ LBFO_SK_ILLEGAL_REQUEST, ANY, ANY, LBFO_ACT_ERROR_INVALID, LBFO_EV_NONE,
	  "illegal request" },
	/* Real errors of the command. */
	{ LBFO_SK_MEDIUM_ERROR, ANY, ANY, LBFO_ACT_ERROR_IO, LBFO_EV_NONE, "medium error" },
	{ LBFO_SK_HARDWARE_ERROR, ANY, ANY, LBFO_ACT_ERROR_IO, LBFO_EV_NONE, "hardware error" },
	{ LBFO_SK_DATA_PROTECT, 0x27, 0x07, LBFO_ACT_ERROR_NOSPC, LBFO_EV_NONE,
	  "space allocation failed" },
	{ LBFO_SK_DATA_PROTECT, 0x27, ANY, LBFO_ACT_ERROR_ROFS, LBFO_EV_NONE, "write protected" },
	{ LBFO_SK_DATA_PROTECT, ANY, ANY, LBFO_ACT_ERROR_IO, LBFO_EV_NONE, "data protect" },
	{ LBFO_SK_MISCOMPARE, ANY, ANY, LBFO_ACT_ERROR_IO, LBFO_EV_NONE, "miscompare" },
	/* Passing conditions of the transport or the target. */
	{ LBFO_SK_ABORTED_COMMAND, ANY, ANY, LBFO_ACT_RETRY_LATER, LBFO_EV_NONE,
	  "aborted command" },
	{ LBFO_SK_RECOVERED_ERROR, ANY, ANY, LBFO_ACT_OK, LBFO_EV_NONE, "recovered error" },
	{ LBFO_SK_NO_SENSE, ANY, ANY, LBFO_ACT_RETRY_NOW, LBFO_EV_NONE, "no sense" },
};

static const struct lbfo_sense_row *sense_lookup(uint8_t key, uint8_t asc, uint8_t ascq)
{
	size_t i;

	for (i = 0; i < sizeof(sense_table) / sizeof(sense_table[0]); i++) {
		const struct lbfo_sense_row *r = &sense_table[i];

		if (r->key == key && (r->asc == ANY || r->asc == asc) &&
		    (r->ascq == ANY || r->ascq == ascq))
			return r;
	}
	return NULL;
}

enum lbfo_scsi_action lbfo_scsi_action(const struct lbfo_scsi_result *r,
				       enum lbfo_scsi_event *ev)
{
	const struct lbfo_sense_row *row;

	*ev = LBFO_EV_NONE;
	switch (r->status) {
	case LBFO_SAM_GOOD:
	case LBFO_SAM_CONDITION_MET:
		return LBFO_ACT_OK;
	case LBFO_SAM_BUSY:
	case LBFO_SAM_TASK_SET_FULL:
	case LBFO_SAM_ACA_ACTIVE:
	case LBFO_SAM_TASK_ABORTED:
		return LBFO_ACT_RETRY_LATER;
	case LBFO_SAM_RESERVATION_CONFLICT:
		return LBFO_ACT_CONFLICT;
	case LBFO_SAM_CHECK_CONDITION:
		row = sense_lookup(r->sense_key, r->asc, r->ascq);
		if (!row) /* a sense key with no row: COPY ABORTED, VOLUME OVERFLOW, … */
			return LBFO_ACT_ERROR_IO;
		*ev = row->ev;
		return row->act;
	default:
		return LBFO_ACT_ERROR_IO;
	}
}

const struct lbfo_sense_row *lbfo_sense_rows(size_t *n)
{
	*n = sizeof(sense_table) / sizeof(sense_table[0]);
	return sense_table;
}

const char *lbfo_scsi_action_name(enum lbfo_scsi_action a)
{
	static const char *const names[LBFO_ACT__MAX] = {
		[LBFO_ACT_OK] = "ok", [LBFO_ACT_RETRY_NOW] = "retry now",
		[LBFO_ACT_RETRY_LATER] = "retry after a backoff",
		[LBFO_ACT_PATH_FAIL] = "fail the path, retry elsewhere",
		[LBFO_ACT_ERROR_IO] = "EIO", [LBFO_ACT_ERROR_INVALID] = "EINVAL",
		[LBFO_ACT_ERROR_NOSPC] = "ENOSPC", [LBFO_ACT_ERROR_ROFS] = "EROFS",
		[LBFO_ACT_CONFLICT] = "reservation conflict: fail the path, retry elsewhere",
	};
	return (unsigned)a < LBFO_ACT__MAX && names[a] ? names[a] : "?";
}

static const char *status_name(int s)
{
	switch (s) {
	case LBFO_SAM_GOOD: return "GOOD";
	case LBFO_SAM_CHECK_CONDITION: return "CHECK CONDITION";
	case LBFO_SAM_CONDITION_MET: return "CONDITION MET";
	case LBFO_SAM_BUSY: return "BUSY";
	case LBFO_SAM_RESERVATION_CONFLICT: return "RESERVATION CONFLICT";
	case LBFO_SAM_TASK_SET_FULL: return "TASK SET FULL";
	case LBFO_SAM_ACA_ACTIVE: return "ACA ACTIVE";
	case LBFO_SAM_TASK_ABORTED: return "TASK ABORTED";
	default: return "status";
	}
}

const char *lbfo_sense_key_name(uint8_t k)
{
	static const char *const names[16] = {
		"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR", "HARDWARE ERROR",
		"ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK",
		"VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND", "sense 0x0c",
		"VOLUME OVERFLOW", "MISCOMPARE", "sense 0x0f",
	};
	return names[k & 0x0f];
}

const char *lbfo_scsi_describe(const struct lbfo_scsi_result *r, char *buf, size_t len)
{
	const struct lbfo_sense_row *row;

	if (r->status != LBFO_SAM_CHECK_CONDITION) {
		snprintf(buf, len, "%s (0x%02x)", status_name(r->status), (unsigned)r->status);
		return buf;
	}
	row = sense_lookup(r->sense_key, r->asc, r->ascq);
	snprintf(buf, len, "%s %02X/%02X (%s)", lbfo_sense_key_name(r->sense_key), r->asc, r->ascq,
		 row ? row->what : "unlisted");
	return buf;
}

void lbfo_sense_parse(const uint8_t *sb, size_t n, struct lbfo_scsi_result *r)
{
	uint8_t code;

	r->sense_key = 0;
	r->asc = r->ascq = 0;
	if (n < 2)
		return;
	code = sb[0] & 0x7f;
	if ((code == 0x72 || code == 0x73) && n >= 4) { /* descriptor format */
		r->sense_key = sb[1] & 0x0f;
		r->asc = sb[2];
		r->ascq = sb[3];
	} else if ((code == 0x70 || code == 0x71) && n >= 14) { /* fixed format */
		r->sense_key = sb[2] & 0x0f;
		r->asc = sb[12];
		r->ascq = sb[13];
	} else if ((code == 0x70 || code == 0x71) && n >= 3) {
		r->sense_key = sb[2] & 0x0f;
	}
}

const char *lbfo_alua_state_name(int s)
{
	switch (s) {
	case LBFO_ALUA_OPTIMIZED: return "active/optimized";
	case LBFO_ALUA_NON_OPTIMIZED: return "active/non-optimized";
	case LBFO_ALUA_STANDBY: return "standby";
	case LBFO_ALUA_UNAVAILABLE: return "unavailable";
	case LBFO_ALUA_LBA_DEPENDENT: return "lba-dependent";
	case LBFO_ALUA_OFFLINE: return "offline";
	case LBFO_ALUA_TRANSITIONING: return "transitioning";
	default: return "none";
	}
}

/* ---- identity and capabilities --------------------------------------- */

static void hex(const uint8_t *d, size_t n, char *out, size_t len)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < n && o + 3 <= len; i++)
		o += (size_t)snprintf(out + o, len - o, "%02x", d[i]);
}

/* Printable ASCII, trailing blanks and NULs dropped. */
static void ascii(const uint8_t *d, size_t n, char *out, size_t len)
{
	size_t i, o = 0;

	if (!len)
		return;
	while (n > 0 && (d[n - 1] == ' ' || d[n - 1] == '\0'))
		n--;
	for (i = 0; i < n && o + 1 < len; i++)
		out[o++] = d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : '.';
	out[o] = '\0';
}

int lbfo_ident_from_std_inquiry(const uint8_t *d, size_t n, struct lbfo_lu_ident *id)
{
	if (n < 36)
		return -1;
	id->pq = d[0] >> 5;
	id->pdt = d[0] & 0x1f;
	id->tpgs = (d[5] >> 4) & 3;
	ascii(d + 8, 8, id->vendor, sizeof(id->vendor));
	ascii(d + 16, 16, id->product, sizeof(id->product));
	return 0;
}

/* The usable length of a VPD page: what the header claims, at most n. */
static size_t vpd_len(const uint8_t *d, size_t n, uint8_t page)
{
	size_t plen;

	if (n < 4 || d[1] != page)
		return 0;
	plen = (size_t)lbfo_be16(d + 2) + 4;
	return plen < n ? plen : n;
}

/*
 * INQUIRY VPD 0x83 (SPC-4 7.8.6): designation descriptors from byte 4,
 * each: [0] protocol id | code set, [1] PIV | association | type,
 * [3] length, then the designator. The LU's identity comes from
 * designators of the logical unit itself (association 0), the most
 * globally unique first: NAA IEEE registered (5, 6) or extended (2),
 * EUI-64, SCSI name string, T10 vendor id, and last NAA "locally
 * assigned" (3), which targets build from their own target and LUN
 * numbers (tgt does) and so repeats across arrays: grouping paths by it
 * could merge different LUs.
 */
static int designator_rank(const uint8_t *de)
{
	switch (de[1] & 0x0f) {
	case 3:
		switch (de[4] >> 4) {
		case 5: case 6: return 6;
		case 2: return 5;
		default: return 1; /* NAA 3, locally assigned */
		}
	case 2: return 4;
	case 8: return 3;
	case 1: return 2;
	default: return 0;
	}
}

int lbfo_ident_from_vpd83(const uint8_t *d, size_t n, char *id, size_t len)
{
	const uint8_t *best = NULL;
	size_t off;

	n = vpd_len(d, n, 0x83);
	if (!n)
		return -1;
	for (off = 4; off + 4 <= n; off += 4u + d[off + 3]) {
		const uint8_t *de = d + off;
		int assoc = (de[1] >> 4) & 3;

		if (off + 4u + de[3] > n)
			return -1; /* truncated descriptor */
		if (assoc != 0 || de[3] == 0 || designator_rank(de) == 0)
			continue;
		if (!best || designator_rank(de) > designator_rank(best))
			best = de;
	}
	if (!best || len < 8)
		return -1;
	switch (best[1] & 0x0f) {
	case 3:
		snprintf(id, len, "naa.");
		hex(best + 4, best[3], id + 4, len - 4);
		break;
	case 2:
		snprintf(id, len, "eui.");
		hex(best + 4, best[3], id + 4, len - 4);
		break;
	case 8:
		ascii(best + 4, best[3], id, len);
		break;
	default:
		snprintf(id, len, "t10.");
		ascii(best + 4, best[3], id + 4, len - 4);
		break;
	}
	return 0;
}

void lbfo_ident_ports_from_vpd83(const uint8_t *d, size_t n, struct lbfo_lu_ident *id)
{
	size_t off;

	id->port_group = -1;
	id->rel_port = -1;
	n = vpd_len(d, n, 0x83);
	for (off = 4; n && off + 4 <= n; off += 4u + d[off + 3]) {
		const uint8_t *de = d + off;

		if (off + 4u + de[3] > n)
			return;
		if (((de[1] >> 4) & 3) != 1 || de[3] < 4)
			continue; /* not a designator of the target port */
		if ((de[1] & 0x0f) == 5)
			id->port_group = lbfo_be16(de + 6);
		else if ((de[1] & 0x0f) == 4)
			id->rel_port = lbfo_be16(de + 6);
	}
}

int lbfo_ident_from_vpd80(const uint8_t *d, size_t n, char *id, size_t len)
{
	size_t plen;

	if (n < 4 || d[1] != 0x80 || len < 8)
		return -1;
	plen = d[3];
	if (plen == 0 || plen + 4 > n)
		return -1;
	snprintf(id, len, "serial.");
	ascii(d + 4, plen, id + 7, len - 7);
	return id[7] ? 0 : -1;
}

int lbfo_ident_from_rc16(const uint8_t *d, size_t n, struct lbfo_lu_ident *id)
{
	uint64_t last;

	if (n < 32)
		return -1;
	last = lbfo_be64(d);
	if (last == UINT64_MAX)
		return -1;
	id->blocks = last + 1;
	id->block_size = lbfo_be32(d + 8);
	if (id->block_size == 0 || id->block_size % 512 || id->block_size > (1u << 20))
		return -1;
	/* LBPME (byte 14 bit 7): logical block provisioning is enabled. */
	id->lbpme = (d[14] & 0x80) != 0;
	return 0;
}

/*
 * Block Limits (SBC-4 6.6.4). A field of 0 means "no limit reported"
 * (for MAXIMUM WRITE SAME LENGTH too: SBC says so, it does not mean that
 * WRITE SAME is unsupported). The page may be short (0x10 bytes from
 * older targets): only the fields it has are read.
 */
int lbfo_ident_from_vpd_b0(const uint8_t *d, size_t n, struct lbfo_lu_ident *id)
{
	n = vpd_len(d, n, 0xb0);
	if (n < 16)
		return -1;
	id->have_b0 = true;
	id->max_xfer_blocks = lbfo_be32(d + 8);
	id->opt_xfer_blocks = lbfo_be32(d + 12);
	if (n >= 36) {
		id->max_unmap_blocks = lbfo_be32(d + 20);
		id->max_unmap_desc = lbfo_be32(d + 24);
		id->unmap_granularity = lbfo_be32(d + 28);
		id->unmap_alignment = (d[32] & 0x80) ? lbfo_be32(d + 32) & 0x7fffffff : 0;
	}
	if (n >= 44)
		id->max_ws_blocks = lbfo_be64(d + 36);
	return 0;
}

/* Logical Block Provisioning (SBC-4 6.6.7): byte 5 bit 7 LBPU (UNMAP),
 * bit 6 LBPWS (WRITE SAME(16) with UNMAP). */
int lbfo_ident_from_vpd_b2(const uint8_t *d, size_t n, struct lbfo_lu_ident *id)
{
	n = vpd_len(d, n, 0xb2);
	if (n < 8)
		return -1;
	id->have_b2 = true;
	id->lbpu = (d[5] & 0x80) != 0;
	id->lbpws = (d[5] & 0x40) != 0;
	return 0;
}

int lbfo_ident_from_mode_sense10(const uint8_t *d, size_t n, struct lbfo_lu_ident *id)
{
	size_t len, off;

	if (n < 8)
		return -1;
	len = (size_t)lbfo_be16(d) + 2;
	if (len < n)
		n = len;
	id->have_mode = true;
	id->dpofua = (d[3] & 0x10) != 0;
	id->wce = false;
	off = 8 + (size_t)lbfo_be16(d + 6); /* past the block descriptors */
	while (off + 2 <= n) {
		uint8_t page = d[off] & 0x3f;
		size_t plen = (size_t)d[off + 1] + 2;

		if (d[off] & 0x40) /* SPF: subpage format, 4-byte header */
			plen = off + 4 <= n ? (size_t)lbfo_be16(d + off + 2) + 4 : n;
		if (page == 0x08 && off + 3 <= n && plen >= 3)
			id->wce = (d[off + 2] & 0x04) != 0;
		if (off + plen > n || plen < 2)
			break;
		off += plen;
	}
	return 0;
}

int lbfo_ident_compare(const struct lbfo_lu_ident *a, const struct lbfo_lu_ident *b,
		       char *why, size_t len)
{
	if (strcmp(a->id, b->id)) {
		snprintf(why, len, "different LU identity (%s vs %s)", a->id, b->id);
		return -1;
	}
	if (a->block_size != b->block_size) {
		snprintf(why, len, "different block size (%u vs %u bytes)", a->block_size,
			 b->block_size);
		return -1;
	}
	return 0;
}

int lbfo_alua_state_of(const uint8_t *d, size_t n, int group)
{
	size_t off, len;

	if (n < 4)
		return LBFO_ALUA_NONE;
	len = (size_t)lbfo_be32(d) + 4;
	if (len < n)
		n = len;
	for (off = 4; off + 8 <= n;) {
		const uint8_t *g = d + off;

		if (lbfo_be16(g + 2) == group)
			return g[0] & 0x0f;
		off += 8u + 4u * g[7];
	}
	return LBFO_ALUA_NONE;
}

int lbfo_pr_parse_keys(const uint8_t *d, size_t n, struct lbfo_pr_keys *k)
{
	size_t len, off;

	memset(k, 0, sizeof(*k));
	if (n < 8)
		return -1;
	k->generation = lbfo_be32(d);
	len = lbfo_be32(d + 4);
	if (len % 8)
		return -1;
	for (off = 8; off + 8 <= 8 + len; off += 8) {
		if (off + 8 > n || k->nkeys == LBFO_PR_KEYS_MAX) {
			k->truncated = true;
			break;
		}
		k->keys[k->nkeys++] = lbfo_be64(d + off);
	}
	return 0;
}

int lbfo_pr_parse_reservation(const uint8_t *d, size_t n, struct lbfo_pr_reservation *r)
{
	memset(r, 0, sizeof(*r));
	if (n < 8)
		return -1;
	r->generation = lbfo_be32(d);
	if (lbfo_be32(d + 4) == 0)
		return 0;
	if (n < 24)
		return -1;
	r->reserved = true;
	r->key = lbfo_be64(d + 8);
	r->type = d[21] & 0x0f;
	return 0;
}

/* ---- commands -------------------------------------------------------- */

static void cdb_init(struct lbfo_cdb *c, uint8_t len, uint8_t op, enum lbfo_xfer dir,
		     uint32_t xfer)
{
	memset(c, 0, sizeof(*c));
	c->len = len;
	c->b[0] = op;
	c->dir = dir;
	c->xfer_len = xfer;
}

void lbfo_cdb_tur(struct lbfo_cdb *c)
{
	cdb_init(c, 6, LBFO_OP_TEST_UNIT_READY, LBFO_XFER_NONE, 0);
}

void lbfo_cdb_report_luns(struct lbfo_cdb *c, uint32_t alloc)
{
	cdb_init(c, 12, LBFO_OP_REPORT_LUNS, LBFO_XFER_READ, alloc);
	c->b[2] = 0x00; /* SELECT REPORT: the logical units of the nexus */
	lbfo_put_be32(c->b + 6, alloc);
}

void lbfo_cdb_inquiry(struct lbfo_cdb *c, bool evpd, uint8_t page, uint16_t alloc)
{
	cdb_init(c, 6, LBFO_OP_INQUIRY, LBFO_XFER_READ, alloc);
	c->b[1] = evpd ? 1 : 0;
	c->b[2] = evpd ? page : 0;
	lbfo_put_be16(c->b + 3, alloc);
}

void lbfo_cdb_read_capacity16(struct lbfo_cdb *c, uint32_t alloc)
{
	cdb_init(c, 16, LBFO_OP_SERVICE_IN16, LBFO_XFER_READ, alloc);
	c->b[1] = 0x10;
	lbfo_put_be32(c->b + 10, alloc);
}

void lbfo_cdb_mode_sense10(struct lbfo_cdb *c, uint8_t page, uint16_t alloc)
{
	cdb_init(c, 10, LBFO_OP_MODE_SENSE10, LBFO_XFER_READ, alloc);
	c->b[1] = 0x08; /* DBD: no block descriptors */
	c->b[2] = page & 0x3f; /* current values */
	lbfo_put_be16(c->b + 7, alloc);
}

void lbfo_cdb_report_tpg(struct lbfo_cdb *c, uint32_t alloc)
{
	cdb_init(c, 12, LBFO_OP_MAINTENANCE_IN, LBFO_XFER_READ, alloc);
	c->b[1] = 0x0a;
	lbfo_put_be32(c->b + 6, alloc);
}

int lbfo_cdb_rw16(struct lbfo_cdb *c, bool write, uint64_t lba, uint32_t blocks,
		  uint32_t block_size, bool fua)
{
	uint64_t bytes = (uint64_t)blocks * block_size;

	if (bytes > UINT32_MAX)
		return -1;
	cdb_init(c, 16, write ? LBFO_OP_WRITE16 : LBFO_OP_READ16,
		 write ? LBFO_XFER_WRITE : LBFO_XFER_READ, (uint32_t)bytes);
	c->b[1] = fua ? 0x08 : 0;
	lbfo_put_be64(c->b + 2, lba);
	lbfo_put_be32(c->b + 10, blocks);
	return 0;
}

void lbfo_cdb_sync_cache16(struct lbfo_cdb *c, uint64_t lba, uint32_t blocks)
{
	cdb_init(c, 16, LBFO_OP_SYNC_CACHE16, LBFO_XFER_NONE, 0);
	lbfo_put_be64(c->b + 2, lba);
	lbfo_put_be32(c->b + 10, blocks);
}

void lbfo_cdb_write_same16(struct lbfo_cdb *c, uint64_t lba, uint32_t blocks,
			   uint32_t block_size, bool unmap)
{
	cdb_init(c, 16, LBFO_OP_WRITE_SAME16, LBFO_XFER_WRITE, block_size);
	c->b[1] = unmap ? 0x08 : 0;
	lbfo_put_be64(c->b + 2, lba);
	lbfo_put_be32(c->b + 10, blocks);
}

void lbfo_cdb_unmap(struct lbfo_cdb *c, uint64_t lba, uint32_t blocks, uint8_t param[24])
{
	cdb_init(c, 10, LBFO_OP_UNMAP, LBFO_XFER_WRITE, 24);
	lbfo_put_be16(c->b + 7, 24);
	memset(param, 0, 24);
	lbfo_put_be16(param, 22);      /* UNMAP data length: n - 2 */
	lbfo_put_be16(param + 2, 16);  /* block descriptor data length */
	lbfo_put_be64(param + 8, lba);
	lbfo_put_be32(param + 16, blocks);
}

void lbfo_cdb_pr_in(struct lbfo_cdb *c, enum lbfo_pr_in_sa sa, uint16_t alloc)
{
	cdb_init(c, 10, LBFO_OP_PR_IN, LBFO_XFER_READ, alloc);
	c->b[1] = (uint8_t)sa;
	lbfo_put_be16(c->b + 7, alloc);
}

void lbfo_cdb_pr_out(struct lbfo_cdb *c, enum lbfo_pr_out_sa sa, uint8_t type,
		     uint64_t key, uint64_t sa_key, uint8_t param[LBFO_PR_OUT_PARAM_LEN])
{
	cdb_init(c, 10, LBFO_OP_PR_OUT, LBFO_XFER_WRITE, LBFO_PR_OUT_PARAM_LEN);
	c->b[1] = (uint8_t)sa;
	c->b[2] = type & 0x0f; /* scope 0: the logical unit */
	lbfo_put_be32(c->b + 5, LBFO_PR_OUT_PARAM_LEN);
	memset(param, 0, LBFO_PR_OUT_PARAM_LEN);
	lbfo_put_be64(param, key);
	lbfo_put_be64(param + 8, sa_key);
}

/*
 * REPORT LUNS parameter data (SPC-4 6.33): a 4-byte list length, 4
 * reserved, then 8 bytes per LUN. The first two bytes of each say it:
 * peripheral device addressing (00b, bus 0) holds the LUN in byte 1,
 * flat space addressing (01b) in the low 14 bits. Other forms (extended,
 * logical unit addressing, a bus other than 0) are skipped: lbfo does not
 * address them. Returns how many LUNs were stored, ascending, at most
 * max; -1 when the data is malformed.
 */
int lbfo_parse_report_luns(const uint8_t *d, size_t n, int *luns, int max)
{
	size_t len, off;
	int k = 0, i, j;

	if (n < 8)
		return -1;
	len = lbfo_be32(d);
	if (len % 8)
		return -1;
	if (len > n - 8)
		len = n - 8; /* more than the buffer holds: what fits */
	for (off = 8; off + 8 <= 8 + len && k < max; off += 8) {
		const uint8_t *e = d + off;
		int lun;

		if ((e[0] >> 6) == 0 && (e[0] & 0x3f) == 0)
			lun = e[1];
		else if ((e[0] >> 6) == 1)
			lun = (e[0] & 0x3f) << 8 | e[1];
		else
			continue;
		for (i = 0; i < k && luns[i] < lun; i++)
			;
		if (i < k && luns[i] == lun)
			continue;
		for (j = k; j > i; j--)
			luns[j] = luns[j - 1];
		luns[i] = lun;
		k++;
	}
	return k;
}
