/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The identity reader: one command at a time, each answer moves `step`
 * on. See ident.h.
 */
#include <stdio.h>
#include <string.h>

#include "ident.h"

enum step {
	ST_STD = 0,    /* standard INQUIRY */
	ST_VPD83,
	ST_VPD80,      /* only when 0x83 names no LU designator */
	ST_RC16,
	ST_VPDB0,
	ST_VPDB2,
	ST_MODE,
	ST_RTPG,       /* only when TPGS says the LU does ALUA */
	ST_DONE,
};

static int send_step(struct lbfo_ident_reader *r)
{
	struct lbfo_scmd *c = &r->cmd;
	uint16_t alloc = (uint16_t)sizeof(r->buf);

	memset(c, 0, sizeof(*c));
	c->x.lun = r->lun;
	switch (r->step) {
	case ST_STD: lbfo_cdb_inquiry(&c->x.cdb, false, 0, 96); break;
	case ST_VPD83: lbfo_cdb_inquiry(&c->x.cdb, true, 0x83, alloc); break;
	case ST_VPD80: lbfo_cdb_inquiry(&c->x.cdb, true, 0x80, 255); break;
	case ST_RC16: lbfo_cdb_read_capacity16(&c->x.cdb, 32); break;
	case ST_VPDB0: lbfo_cdb_inquiry(&c->x.cdb, true, 0xb0, 64); break;
	case ST_VPDB2: lbfo_cdb_inquiry(&c->x.cdb, true, 0xb2, 64); break;
	case ST_MODE: lbfo_cdb_mode_sense10(&c->x.cdb, 0x08, 128); break;
	case ST_RTPG: lbfo_cdb_report_tpg(&c->x.cdb, alloc); break;
	default: return -1;
	}
	memset(r->buf, 0, sizeof(r->buf));
	r->iov.iov_base = r->buf;
	r->iov.iov_len = c->x.cdb.xfer_len;
	c->x.iov = &r->iov;
	c->x.niov = 1;
	c->done = NULL; /* set below: the reader's own callback */
	return 0;
}

static void cmd_done(struct lbfo_scmd *c, const struct lbfo_scsi_result *res, uint64_t now);

static int submit(struct lbfo_ident_reader *r, uint64_t now)
{
	if (send_step(r) < 0)
		return -1;
	r->cmd.done = cmd_done;
	if (lbfo_session_submit(r->s, &r->cmd, now) < 0) {
		snprintf(r->err, sizeof(r->err), "cannot queue an identity command: %.200s",
			 r->s->fail_reason[0] ? r->s->fail_reason : "path not up");
		return -1;
	}
	return 0;
}

static void finish(struct lbfo_ident_reader *r, int rc, uint64_t now)
{
	r->busy = false;
	r->done(r, rc, now);
}

/* The next step after a successful answer of `step`. */
static int next_step(struct lbfo_ident_reader *r, const uint8_t *d, size_t n)
{
	struct lbfo_lu_ident *id = &r->id;

	switch (r->step) {
	case ST_STD:
		if (lbfo_ident_from_std_inquiry(d, n, id) < 0) {
			snprintf(r->err, sizeof(r->err), "standard INQUIRY: short answer");
			return -1;
		}
		if (id->pq != 0 || id->pdt != 0) {
			/* A controller (tgt's LUN 0), a tape, no LU connected here. */
			snprintf(r->err, sizeof(r->err), "LUN %d is not a disk (peripheral device "
				 "type 0x%02x, qualifier %u)", r->lun, id->pdt, id->pq);
			return -1;
		}
		return ST_VPD83;
	case ST_VPD83:
		lbfo_ident_ports_from_vpd83(d, n, id);
		return lbfo_ident_from_vpd83(d, n, id->id, sizeof(id->id)) == 0 ? ST_RC16
										  : ST_VPD80;
	case ST_VPD80:
		if (lbfo_ident_from_vpd80(d, n, id->id, sizeof(id->id)) < 0) {
			snprintf(r->err, sizeof(r->err), "the LU has no identity (neither VPD 0x83 "
				 "designator nor serial number)");
			return -1;
		}
		return ST_RC16;
	case ST_RC16:
		if (lbfo_ident_from_rc16(d, n, id) < 0) {
			snprintf(r->err, sizeof(r->err), "READ CAPACITY(16): unusable answer");
			return -1;
		}
		return ST_VPDB0;
	case ST_VPDB0:
		lbfo_ident_from_vpd_b0(d, n, id);
		return ST_VPDB2;
	case ST_VPDB2:
		lbfo_ident_from_vpd_b2(d, n, id);
		return ST_MODE;
	case ST_MODE:
		lbfo_ident_from_mode_sense10(d, n, id);
		return (id->tpgs && id->port_group >= 0) ? ST_RTPG : ST_DONE;
	case ST_RTPG:
		r->alua_state = lbfo_alua_state_of(d, n, id->port_group);
		return ST_DONE;
	default:
		return ST_DONE;
	}
}

static bool optional_step(int step)
{
	return step == ST_VPDB0 || step == ST_VPDB2 || step == ST_MODE || step == ST_RTPG;
}

static void cmd_done(struct lbfo_scmd *c, const struct lbfo_scsi_result *res, uint64_t now)
{
	struct lbfo_ident_reader *r = (struct lbfo_ident_reader *)c; /* cmd is first */
	enum lbfo_scsi_event ev;
	enum lbfo_scsi_action act;
	char what[96];
	int next;

	if (res->status == LBFO_XS_PATH_LOST) {
		snprintf(r->err, sizeof(r->err), "path lost while reading the LU identity");
		finish(r, -1, now);
		return;
	}
	act = lbfo_scsi_action(res, &ev);
	if (act == LBFO_ACT_RETRY_NOW && ++r->retries <= LBFO_UA_RETRIES) {
		if (submit(r, now) < 0)
			finish(r, -1, now);
		return;
	}
	r->retries = 0;
	if (act != LBFO_ACT_OK) {
		if (r->step == ST_VPD83) {
			next = ST_VPD80; /* no 0x83 page: try the serial number */
		} else if (optional_step(r->step)) {
			next = r->step == ST_MODE && !(r->id.tpgs && r->id.port_group >= 0) ?
				ST_DONE : r->step + 1;
		} else {
			snprintf(r->err, sizeof(r->err), "%s on LUN %d: %s",
				 r->step == ST_RC16 ? "READ CAPACITY(16)" : "INQUIRY", r->lun,
				 lbfo_scsi_describe(res, what, sizeof(what)));
			if (r->step == ST_RC16 && res->sense_key == LBFO_SK_ILLEGAL_REQUEST)
				snprintf(r->err + strlen(r->err), sizeof(r->err) - strlen(r->err),
					 " (not a disk? a target's LUN 0 is often its controller: set lun=)");
			finish(r, -1, now);
			return;
		}
	} else {
		size_t n = c->x.cdb.xfer_len - (res->underflow ? res->residual : 0);

		next = next_step(r, r->buf, n <= sizeof(r->buf) ? n : sizeof(r->buf));
		if (next < 0) {
			finish(r, -1, now);
			return;
		}
	}
	r->step = next;
	if (r->step == ST_DONE) {
		finish(r, 0, now);
		return;
	}
	if (submit(r, now) < 0)
		finish(r, -1, now);
}

static int start(struct lbfo_ident_reader *r, struct lbfo_session *s, int lun, int step,
		 lbfo_ident_cb done, void *priv, uint64_t now)
{
	if (r->busy)
		return -1;
	if (step == ST_STD) {
		memset(&r->id, 0, sizeof(r->id));
		r->id.port_group = r->id.rel_port = -1;
	}
	r->s = s;
	r->lun = lun;
	r->step = step;
	r->retries = 0;
	r->alua_state = LBFO_ALUA_NONE;
	r->err[0] = '\0';
	r->done = done;
	r->priv = priv;
	if (submit(r, now) < 0)
		return -1;
	r->busy = true;
	return 0;
}

int lbfo_ident_start(struct lbfo_ident_reader *r, struct lbfo_session *s, int lun,
		     lbfo_ident_cb done, void *priv, uint64_t now)
{
	return start(r, s, lun, ST_STD, done, priv, now);
}

int lbfo_ident_start_alua(struct lbfo_ident_reader *r, struct lbfo_session *s, int lun,
			  lbfo_ident_cb done, void *priv, uint64_t now)
{
	if (!(r->id.tpgs && r->id.port_group >= 0))
		return -1;
	return start(r, s, lun, ST_RTPG, done, priv, now);
}
