/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake target's LU: the SCSI commands lbfo sends, persistent
 * reservations (WRITE EXCLUSIVE - ALL REGISTRANTS), unit attentions per
 * nexus, injected failures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_internal.h"

void ft_ua_push(struct nexus *n, uint8_t asc, uint8_t ascq)
{
	if (n->nua < MAX_UA) {
		n->ua[n->nua].asc = asc;
		n->ua[n->nua].ascq = ascq;
		n->nua++;
	}
}

struct pr_state *ft_pr_of(struct ft *t, int portal)
{
	return &t->pr[t->pr_shared ? 0 : t->portal[portal].ctrl];
}

int ft_nexus_get(struct ft *t, const char *init, uint32_t rnd, uint16_t qual, int tpgt)
{
	int i;

	for (i = 0; i < t->nnexus; i++)
		if (!strcmp(t->nexus[i].init, init) && t->nexus[i].rnd == rnd &&
		    t->nexus[i].qual == qual && t->nexus[i].tpgt == tpgt)
			return i;
	if (t->nnexus == MAX_NEXUS)
		abort();
	i = t->nnexus++;
	memset(&t->nexus[i], 0, sizeof(t->nexus[i]));
	snprintf(t->nexus[i].init, sizeof(t->nexus[i].init), "%s", init);
	t->nexus[i].rnd = rnd;
	t->nexus[i].qual = qual;
	t->nexus[i].tpgt = tpgt;
	ft_ua_push(&t->nexus[i], 0x29, 0x00); /* power on, reset: the first command sees it */
	return i;
}

/* ---- SCSI ---------------------------------------------------------------- */

static void check(struct lbfo_scsi_result *r, uint8_t key, uint8_t asc, uint8_t ascq)
{
	r->status = LBFO_SAM_CHECK_CONDITION;
	r->sense_key = key;
	r->asc = asc;
	r->ascq = ascq;
}

static int reg_find(const struct pr_state *pr, int nexus)
{
	int i;

	for (i = 0; i < pr->nregs; i++)
		if (pr->reg[i].nexus == nexus)
			return i;
	return -1;
}

static void reg_remove(struct pr_state *pr, int i)
{
	pr->reg[i] = pr->reg[--pr->nregs];
}

static void pr_out(struct ft *t, struct pkt *p, struct pr_state *pr, int nexus)
{
	uint8_t sa = p->cdb.b[1] & 0x1f, type = p->cdb.b[2] & 0x0f;
	uint64_t key = lbfo_be64(p->out), sa_key = lbfo_be64(p->out + 8);
	int me = reg_find(pr, nexus), i;
	struct lbfo_scsi_result *r = &p->res;

	if (sa == LBFO_PR_REGISTER || sa == LBFO_PR_REGISTER_IGNORE) {
		if (sa == LBFO_PR_REGISTER && ((me < 0 && key) || (me >= 0 && pr->reg[me].key != key))) {
			r->status = LBFO_SAM_RESERVATION_CONFLICT;
			return;
		}
		if (!sa_key) {
			if (me >= 0)
				reg_remove(pr, me);
		} else if (me >= 0) {
			pr->reg[me].key = sa_key;
		} else if (pr->nregs < MAX_REGS) {
			pr->reg[pr->nregs].nexus = nexus;
			pr->reg[pr->nregs++].key = sa_key;
		}
		return;
	}
	if (me < 0 || pr->reg[me].key != key) {
		r->status = LBFO_SAM_RESERVATION_CONFLICT;
		return;
	}
	switch (sa) {
	case LBFO_PR_RESERVE:
		if (pr->reserved && pr->type != type)
			r->status = LBFO_SAM_RESERVATION_CONFLICT;
		else if (!pr->reserved) {
			pr->reserved = true;
			pr->type = type;
			pr->holder_key = key;
		}
		return;
	case LBFO_PR_PREEMPT: {
		bool found = false;

		for (i = pr->nregs - 1; i >= 0; i--) {
			if (pr->reg[i].key != sa_key || i == me)
				continue;
			ft_ua_push(&t->nexus[pr->reg[i].nexus], 0x2a, 0x05);
			reg_remove(pr, i);
			found = true;
		}
		if (!found)
			r->status = LBFO_SAM_RESERVATION_CONFLICT;
		if (pr->reserved && pr->holder_key == sa_key && pr->type != LBFO_PR_TYPE_WE_AR) {
			pr->holder_key = key;
			pr->type = type;
		}
		return;
	}
	case LBFO_PR_RELEASE:
		pr->reserved = false;
		return;
	case LBFO_PR_CLEAR:
		pr->reserved = false;
		pr->nregs = 0;
		return;
	default:
		check(r, LBFO_SK_ILLEGAL_REQUEST, 0x24, 0);
	}
}

static void pr_in(struct pkt *p, struct pr_state *pr)
{
	uint8_t *d = p->in;
	int i;

	lbfo_put_be32(d, 7);
	if ((p->cdb.b[1] & 0x1f) == LBFO_PR_READ_KEYS) {
		lbfo_put_be32(d + 4, (uint32_t)pr->nregs * 8);
		for (i = 0; i < pr->nregs && 8 + 8 * (uint32_t)i + 8 <= p->in_len; i++)
			lbfo_put_be64(d + 8 + 8 * i, pr->reg[i].key);
	} else if (pr->reserved && p->in_len >= 24) {
		lbfo_put_be32(d + 4, 16);
		lbfo_put_be64(d + 8, pr->type == LBFO_PR_TYPE_WE_AR ? 0 : pr->holder_key);
		d[21] = pr->type;
	}
}

static void inquiry(struct ft *t, struct pkt *p)
{
	uint8_t *d = p->in;
	const struct ft_ctrl_cfg *cc = &t->ctrl[t->portal[p->tc->portal].ctrl];

	if (!(p->cdb.b[1] & 1)) {
		d[0] = 0;
		d[2] = 5;
		d[4] = 91;
		d[5] = cc->alua_state != LBFO_ALUA_NONE ? 0x10 : 0;
		memcpy(d + 8, "LBFO    FAKE DISK       ", 24);
		return;
	}
	d[1] = p->cdb.b[2];
	switch (p->cdb.b[2]) {
	case 0x83: {
		uint8_t *e = d + 4;

		e[0] = 0x01; e[1] = 0x03; e[3] = 16; /* NAA 6, binary, the LU */
		memcpy(e + 4, "\x60\x01\x40\x5f\xa4\x7e\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01", 16);
		e += 20;
		e[0] = 0x61; e[1] = 0x94; e[3] = 4;  /* relative target port */
		lbfo_put_be16(e + 6, (uint16_t)(p->tc->portal + 1));
		e += 8;
		e[0] = 0x61; e[1] = 0x95; e[3] = 4;  /* target port group */
		lbfo_put_be16(e + 6, (uint16_t)(t->portal[p->tc->portal].ctrl + 1));
		e += 8;
		lbfo_put_be16(d + 2, (uint16_t)(e - d - 4));
		return;
	}
	case 0x80:
		d[3] = 8;
		memcpy(d + 4, "FAKE0001", 8);
		return;
	case 0xb0:
		if (t->caps.no_b0)
			break;
		lbfo_put_be16(d + 2, 0x3c);
		lbfo_put_be32(d + 8, t->caps.max_xfer_blocks);
		lbfo_put_be32(d + 20, t->caps.max_unmap_blocks);
		lbfo_put_be32(d + 24, t->caps.max_unmap_desc);
		lbfo_put_be32(d + 28, t->caps.unmap_granularity);
		lbfo_put_be64(d + 36, t->caps.max_ws_blocks);
		return;
	case 0xb2:
		if (t->caps.no_b2)
			break;
		lbfo_put_be16(d + 2, 4);
		d[5] = (uint8_t)((t->caps.lbpu ? 0x80 : 0) | (t->caps.lbpws ? 0x40 : 0));
		return;
	default:
		break;
	}
	check(&p->res, LBFO_SK_ILLEGAL_REQUEST, 0x24, 0);
}

static void rtpg(struct ft *t, struct pkt *p)
{
	uint8_t *d = p->in;
	int c, off = 4;

	for (c = 0; c < FT_MAX_CTRL && off + 8 <= (int)p->in_len; c++) {
		d[off] = (uint8_t)(t->ctrl[c].alua_state & 0x0f);
		lbfo_put_be16(d + off + 2, (uint16_t)(c + 1));
		off += 8;
	}
	lbfo_put_be32(d, (uint32_t)off - 4);
}

static bool media_access(uint8_t op)
{
	return op != LBFO_OP_INQUIRY && op != LBFO_OP_REPORT_LUNS && op != LBFO_OP_PR_IN &&
	       op != LBFO_OP_PR_OUT && op != LBFO_OP_MAINTENANCE_IN;
}

static bool is_write(uint8_t op)
{
	return op == LBFO_OP_WRITE16 || op == LBFO_OP_WRITE_SAME16 || op == LBFO_OP_UNMAP ||
	       op == LBFO_OP_SYNC_CACHE16;
}

static bool injected(struct ft *t, struct pkt *p)
{
	int i;

	for (i = 0; i < t->ninj; i++) {
		struct inject *j = &t->inj[i];

		if (!j->count || (j->portal >= 0 && j->portal != p->tc->portal) ||
		    (j->opcode >= 0 && j->opcode != p->cdb.b[0]))
			continue;
		j->count--;
		p->res.status = j->status;
		p->res.sense_key = j->key;
		p->res.asc = j->asc;
		p->res.ascq = j->ascq;
		return true;
	}
	return false;
}

static void rw(struct ft *t, struct pkt *p)
{
	uint8_t op = p->cdb.b[0];
	uint64_t lba = lbfo_be64(p->cdb.b + 2);
	uint32_t n = lbfo_be32(p->cdb.b + 10);

	if (op == LBFO_OP_UNMAP) {
		lba = lbfo_be64(p->out + 8);
		n = lbfo_be32(p->out + 16);
		if (t->caps.max_unmap_blocks && n > t->caps.max_unmap_blocks) {
			check(&p->res, LBFO_SK_ILLEGAL_REQUEST, 0x24, 0);
			return;
		}
	}
	if (op == LBFO_OP_SYNC_CACHE16) {
		t->st.syncs++;
		return;
	}
	if (lba > t->blocks || n > t->blocks - lba) {
		check(&p->res, LBFO_SK_ILLEGAL_REQUEST, 0x21, 0);
		return;
	}
	if (op == LBFO_OP_READ16) {
		memcpy(p->in, t->disk + lba * t->bs, (size_t)n * t->bs);
		t->st.reads++;
		if (t->caps.short_reads) {
			p->res.underflow = true;
			p->res.residual = (uint32_t)n * t->bs / 2;
		}
		return;
	}
	if (op == LBFO_OP_WRITE16) {
		memcpy(t->disk + lba * t->bs, p->out, (size_t)n * t->bs);
		t->st.fua_writes += (p->cdb.b[1] & 0x08) != 0;
	} else if (op == LBFO_OP_WRITE_SAME16) {
		uint32_t i;

		if (t->caps.no_ws) {
			check(&p->res, LBFO_SK_ILLEGAL_REQUEST, 0x20, 0);
			return;
		}
		if (t->caps.max_ws_blocks && n > t->caps.max_ws_blocks) {
			check(&p->res, LBFO_SK_ILLEGAL_REQUEST, 0x24, 0);
			return;
		}
		t->st.write_sames++;
		if (n > t->st.max_ws_seen)
			t->st.max_ws_seen = n;
		for (i = 0; i < n; i++)
			memcpy(t->disk + (lba + i) * t->bs, p->out, t->bs);
	} else {
		memset(t->disk + lba * t->bs, 0, (size_t)n * t->bs);
		t->st.unmaps++;
		if (n > t->st.max_unmap_seen)
			t->st.max_unmap_seen = n;
	}
	t->st.writes++;
}

static void execute(struct ft *t, struct pkt *p)
{
	struct tconn *tc = p->tc;
	const struct ft_ctrl_cfg *cc = &t->ctrl[t->portal[tc->portal].ctrl];
	struct nexus *nx = &t->nexus[tc->nexus];
	struct pr_state *pr = ft_pr_of(t, tc->portal);
	uint8_t op = p->cdb.b[0];

	p->st = P_EXECUTED;
	p->due_ns = t->now + t->portal[tc->portal].lat_ms * NS_PER_MS;
	if (t->portal[tc->portal].bytes_per_ms && !p->nop) {
		/* A wire of that rate: the data of the commands on one
		 * connection moves one after the other. */
		uint64_t start = tc->wire_free_ns > t->now ? tc->wire_free_ns : t->now;

		tc->wire_free_ns = start + (uint64_t)p->cdb.xfer_len * NS_PER_MS /
			t->portal[tc->portal].bytes_per_ms;
		p->due_ns = tc->wire_free_ns + t->portal[tc->portal].lat_ms * NS_PER_MS;
	}
	if (p->nop)
		return;
	if (p->lun != FT_LUN) {
		check(&p->res, LBFO_SK_ILLEGAL_REQUEST, 0x25, 0);
		return;
	}
	if (injected(t, p))
		return;
	if (media_access(op) && nx->nua) {
		check(&p->res, LBFO_SK_UNIT_ATTENTION, nx->ua[0].asc, nx->ua[0].ascq);
		memmove(nx->ua, nx->ua + 1, sizeof(nx->ua[0]) * (size_t)--nx->nua);
		return;
	}
	if (media_access(op) && cc->offline) {
		check(&p->res, LBFO_SK_NOT_READY, 0x3a, 0);
		return;
	}
	if (media_access(op) && cc->alua_state == LBFO_ALUA_STANDBY) {
		check(&p->res, LBFO_SK_NOT_READY, 0x04, 0x0b);
		return;
	}
	if (is_write(op) && pr->reserved && reg_find(pr, tc->nexus) < 0) {
		p->res.status = LBFO_SAM_RESERVATION_CONFLICT;
		t->st.conflicts++;
		return;
	}
	switch (op) {
	case LBFO_OP_TEST_UNIT_READY:
		return;
	case LBFO_OP_INQUIRY:
		inquiry(t, p);
		return;
	case LBFO_OP_SERVICE_IN16:
		lbfo_put_be64(p->in, t->blocks - 1);
		lbfo_put_be32(p->in + 8, t->bs);
		p->in[14] = t->caps.lbpu || t->caps.lbpws ? 0x80 : 0;
		return;
	case LBFO_OP_MODE_SENSE10:
		lbfo_put_be16(p->in, 8 + 20 - 2);
		p->in[3] = t->caps.dpofua ? 0x10 : 0;
		p->in[8] = 0x08;
		p->in[9] = 0x12;
		p->in[10] = t->caps.wce ? 0x04 : 0;
		return;
	case LBFO_OP_MAINTENANCE_IN:
		rtpg(t, p);
		return;
	case LBFO_OP_PR_IN:
	case LBFO_OP_PR_OUT:
		if (!t->caps.pr)
			check(&p->res, LBFO_SK_ILLEGAL_REQUEST, 0x20, 0);
		else if (op == LBFO_OP_PR_IN)
			pr_in(p, pr);
		else
			pr_out(t, p, pr, tc->nexus);
		return;
	default:
		rw(t, p);
	}
}

void ft_arrive(struct ft *t, struct pkt *p)
{
	if (!p->tc->target_open) {
		p->st = P_DONE;
		t->st.dropped += !p->nop;
		return;
	}
	execute(t, p);
}
