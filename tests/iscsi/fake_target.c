/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake target and network of the failover unit tests (see
 * fake_target.h). Deliberately small: one LU, the commands lbfo sends,
 * sessions and reinstatement per controller, persistent reservations of
 * type WRITE EXCLUSIVE - ALL REGISTRANTS, unit attentions per nexus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_target.h"

#define FT_LUN 1
#define MAX_REGS 32
#define MAX_NEXUS 64
#define MAX_UA 8
#define NS_PER_MS 1000000ull

struct nexus {
	char init[LBFO_STR_MAX];
	uint32_t rnd;
	uint16_t qual;
	int tpgt;
	struct { uint8_t asc, ascq; } ua[MAX_UA];
	int nua;
};

struct pr_state {
	int nregs;
	struct { int nexus; uint64_t key; } reg[MAX_REGS];
	bool reserved;
	uint8_t type;
	uint64_t holder_key;
};

struct pkt;

struct tconn {
	struct ft *t;
	int portal;
	int nexus;
	bool target_open;       /* the target's side of the connection */
	bool logged_in;
	bool secneg;
	uint64_t login_due;
	struct lbfo_xport *x;   /* the initiator's side; NULL once abandoned */
	struct pkt *pkts, *last;
	struct tconn *next;
};

struct pkt {
	struct tconn *tc;
	struct lbfo_xport_cmd *xc; /* NULL once the initiator gave it up */
	bool nop;
	int lun;
	struct lbfo_cdb cdb;
	uint8_t *out;           /* data out (a copy: the network has the bytes) */
	uint8_t *in;            /* data in, filled at execution */
	uint32_t in_len;
	struct lbfo_scsi_result res;
	enum { P_UNACKED, P_HELD, P_EXECUTED, P_DONE } st;
	uint64_t due_ns;
	struct pkt *next;
};

struct lbfo_xport {
	struct tconn *tc;
	lbfo_xport_login_cb cb;
	void *priv;
	enum { X_LOGIN, X_UP, X_BROKEN } st;
	uint64_t acked;
	int unacked;
	int nops;
	char err[256];
};

struct inject {
	int portal, opcode, count, status;
	uint8_t key, asc, ascq;
};

struct ft {
	uint64_t now;
	uint64_t blocks;
	uint32_t bs;
	uint8_t *disk;
	struct { char addr[64]; int tpgt, ctrl; enum ft_net net; uint32_t lat_ms; } portal[FT_MAX_PORTALS];
	int nportals;
	struct ft_ctrl_cfg ctrl[FT_MAX_CTRL];
	bool pr_shared;
	struct pr_state pr[FT_MAX_CTRL];
	struct nexus nexus[MAX_NEXUS];
	int nnexus;
	struct tconn *conns;
	struct inject inj[8];
	int ninj;
	struct ft_caps caps;
	struct ft_stats st;
};

/* ---- set-up ----------------------------------------------------------- */

struct ft *ft_new(uint64_t blocks, uint32_t bs)
{
	struct ft *t = calloc(1, sizeof(*t));
	int i;

	t->blocks = blocks;
	t->bs = bs;
	t->disk = calloc(blocks, bs);
	t->pr_shared = true;
	for (i = 0; i < FT_MAX_CTRL; i++) {
		t->ctrl[i].reinstate = true;
		t->ctrl[i].alua_state = LBFO_ALUA_NONE;
	}
	t->caps.pr = true;
	t->caps.wce = true;
	t->caps.dpofua = true;
	return t;
}

static void free_pkts(struct tconn *tc)
{
	struct pkt *p, *n;

	for (p = tc->pkts; p; p = n) {
		n = p->next;
		free(p->out);
		free(p->in);
		free(p);
	}
	tc->pkts = tc->last = NULL;
}

void ft_free(struct ft *t)
{
	struct tconn *tc, *n;

	for (tc = t->conns; tc; tc = n) {
		n = tc->next;
		free_pkts(tc);
		free(tc);
	}
	free(t->disk);
	free(t);
}

int ft_portal(struct ft *t, const char *addr, int tpgt, int ctrl)
{
	int i = t->nportals++;

	snprintf(t->portal[i].addr, sizeof(t->portal[i].addr), "%s", addr);
	t->portal[i].tpgt = tpgt;
	t->portal[i].ctrl = ctrl;
	t->portal[i].lat_ms = 1;
	return i;
}

struct ft_ctrl_cfg *ft_ctrl(struct ft *t, int ctrl) { return &t->ctrl[ctrl]; }
void ft_set_pr_shared(struct ft *t, bool shared) { t->pr_shared = shared; }
void ft_set_latency(struct ft *t, int portal, uint32_t ms) { t->portal[portal].lat_ms = ms; }
struct ft_caps *ft_caps(struct ft *t) { return &t->caps; }
void ft_now(struct ft *t, uint64_t now) { t->now = now; }
uint8_t *ft_block(struct ft *t, uint64_t lba) { return t->disk + lba * t->bs; }
uint32_t ft_block_size(const struct ft *t) { return t->bs; }

const struct ft_stats *ft_stats(const struct ft *t)
{
	struct ft *w = (struct ft *)t;
	struct tconn *tc;

	w->st.open_conns = w->st.live_xports = 0;
	for (tc = w->conns; tc; tc = tc->next) {
		w->st.open_conns += tc->target_open && tc->logged_in;
		w->st.live_xports += tc->x != NULL;
	}
	return &w->st;
}

void ft_inject(struct ft *t, int portal, int opcode, int count, int status,
	       uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct inject *j = &t->inj[t->ninj++];

	*j = (struct inject){ portal, opcode, count, status, key, asc, ascq };
}

static void ua_push(struct nexus *n, uint8_t asc, uint8_t ascq)
{
	if (n->nua < MAX_UA) {
		n->ua[n->nua].asc = asc;
		n->ua[n->nua].ascq = ascq;
		n->nua++;
	}
}

void ft_set_blocks(struct ft *t, uint64_t blocks)
{
	int i;

	t->disk = realloc(t->disk, blocks * t->bs);
	if (blocks > t->blocks)
		memset(t->disk + t->blocks * t->bs, 0, (blocks - t->blocks) * t->bs);
	t->blocks = blocks;
	for (i = 0; i < t->nnexus; i++)
		ua_push(&t->nexus[i], 0x2a, 0x09);
}

static struct pr_state *pr_of(struct ft *t, int portal)
{
	return &t->pr[t->pr_shared ? 0 : t->portal[portal].ctrl];
}

int ft_pr_keys(const struct ft *t, uint64_t *keys, int max)
{
	int i;

	for (i = 0; i < t->pr[0].nregs && i < max; i++)
		keys[i] = t->pr[0].reg[i].key;
	return t->pr[0].nregs;
}

bool ft_pr_reserved(const struct ft *t, uint64_t *holder_key, uint8_t *type)
{
	if (holder_key)
		*holder_key = t->pr[0].holder_key;
	if (type)
		*type = t->pr[0].type;
	return t->pr[0].reserved;
}

static int nexus_get(struct ft *t, const char *init, uint32_t rnd, uint16_t qual, int tpgt)
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
	ua_push(&t->nexus[i], 0x29, 0x00); /* power on, reset: the first command sees it */
	return i;
}

void ft_pr_foreign(struct ft *t, uint64_t key, bool reserve)
{
	struct pr_state *pr = &t->pr[0];
	int n = nexus_get(t, "iqn.2026-12.io.lbfo:another-host", 1, 1, 1);

	pr->reg[pr->nregs].nexus = n;
	pr->reg[pr->nregs].key = key;
	pr->nregs++;
	if (reserve) {
		pr->reserved = true;
		pr->type = 0x1; /* WRITE EXCLUSIVE */
		pr->holder_key = key;
	}
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
			ua_push(&t->nexus[pr->reg[i].nexus], 0x2a, 0x05);
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
	struct pr_state *pr = pr_of(t, tc->portal);
	uint8_t op = p->cdb.b[0];

	p->st = P_EXECUTED;
	p->due_ns = t->now + t->portal[tc->portal].lat_ms * NS_PER_MS;
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

/* A command reaches the target: executed, or dropped on a closed connection. */
static void arrive(struct ft *t, struct pkt *p)
{
	if (!p->tc->target_open) {
		p->st = P_DONE;
		t->st.dropped += !p->nop;
		return;
	}
	execute(t, p);
}

/* ---- the network ---------------------------------------------------------- */

static void close_target_side(struct tconn *tc, const char *why)
{
	tc->target_open = false;
	if (tc->x && tc->x->st != X_BROKEN) {
		tc->x->st = X_BROKEN;
		snprintf(tc->x->err, sizeof(tc->x->err), "socket closed: %s", why);
	}
}

/* The login reaches the target: a session, maybe a reinstatement. */
static void login_arrives(struct ft *t, struct tconn *tc)
{
	const struct ft_ctrl_cfg *cc = &t->ctrl[t->portal[tc->portal].ctrl];
	struct tconn *o;

	for (o = t->conns; o; o = o->next) {
		if (o == tc || !o->target_open || !o->logged_in || o->nexus != tc->nexus ||
		    t->portal[o->portal].ctrl != t->portal[tc->portal].ctrl)
			continue;
		if (cc->reinstate && (!cc->reinstate_needs_secneg || tc->secneg)) {
			close_target_side(o, "session reinstated");
			t->st.reinstatements++;
		}
	}
	tc->logged_in = true;
	t->st.logins++;
}

static void deliver_unacked(struct ft *t, struct tconn *tc)
{
	struct pkt *p;

	for (p = tc->pkts; p; p = p->next) {
		if (p->st != P_UNACKED)
			continue;
		if (tc->x) {
			tc->x->acked += p->cdb.xfer_len + 48;
			tc->x->unacked -= (int)(p->cdb.xfer_len + 48);
		}
		arrive(t, p);
	}
}

void ft_set_net(struct ft *t, int portal, enum ft_net net)
{
	struct tconn *tc;

	t->portal[portal].net = net;
	for (tc = t->conns; tc; tc = tc->next) {
		if (tc->portal != portal)
			continue;
		if (net == FT_DOWN && tc->x && tc->x->st != X_BROKEN) {
			tc->x->st = X_BROKEN;
			snprintf(tc->x->err, sizeof(tc->x->err), "socket error: link down");
		}
		if (net == FT_OK && tc->x)
			deliver_unacked(t, tc);
	}
}

int ft_release(struct ft *t, int portal)
{
	struct tconn *tc;
	struct pkt *p;
	int n = 0;

	for (tc = t->conns; tc; tc = tc->next) {
		if (tc->portal != portal)
			continue;
		for (p = tc->pkts; p; p = p->next) {
			if (p->st != P_HELD)
				continue;
			arrive(t, p);
			n += p->st == P_EXECUTED && !p->nop && p->res.status == LBFO_SAM_GOOD;
		}
	}
	return n;
}

/* ---- the transport ----------------------------------------------------- */

static int portal_find(struct ft *t, const char *addr)
{
	int i;

	for (i = 0; i < t->nportals; i++)
		if (!strcmp(t->portal[i].addr, addr))
			return i;
	return -1;
}

static struct lbfo_xport *fx_open(void *env, const struct lbfo_xport_params *p,
				  lbfo_xport_login_cb cb, void *priv, char *err, size_t errlen)
{
	struct ft *t = env;
	int portal = portal_find(t, p->portal);
	struct lbfo_xport *x;
	struct tconn *tc;

	if (portal < 0) {
		snprintf(err, errlen, "connect failed: no such portal %s", p->portal);
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	tc = calloc(1, sizeof(*tc));
	tc->t = t;
	tc->portal = portal;
	tc->nexus = nexus_get(t, p->initiator, p->isid_rnd, p->isid_qual, t->portal[portal].tpgt);
	tc->target_open = true;
	tc->secneg = p->security_stage || (p->chap_user && p->chap_user[0]);
	tc->login_due = t->now + t->portal[portal].lat_ms * NS_PER_MS;
	tc->x = x;
	tc->next = t->conns;
	t->conns = tc;
	x->tc = tc;
	x->cb = cb;
	x->priv = priv;
	x->st = X_LOGIN;
	if (t->portal[portal].net == FT_DOWN) {
		x->st = X_BROKEN;
		snprintf(x->err, sizeof(x->err), "connect failed: no route to host");
		tc->target_open = false;
	}
	return x;
}

static void fx_abandon(struct lbfo_xport *x)
{
	struct tconn *tc = x->tc;
	struct pkt *p;

	for (p = tc->pkts; p; p = p->next) {
		if (p->xc)
			p->xc->xt = NULL;
		p->xc = NULL;
		if (p->st == P_UNACKED)
			p->st = P_DONE; /* SO_LINGER 0: the kernel drops what it holds */
	}
	/* The reset reaches the target only through a working network. */
	if (tc->t->portal[tc->portal].net == FT_OK)
		tc->target_open = false;
	tc->x = NULL;
	free(x);
}

static int fx_submit(struct lbfo_xport *x, struct lbfo_xport_cmd *c)
{
	struct tconn *tc = x->tc;
	struct ft *t = tc->t;
	struct pkt *p;
	size_t i, off = 0;

	if (x->st != X_UP) {
		snprintf(x->err, sizeof(x->err), "not logged in");
		return -1;
	}
	p = calloc(1, sizeof(*p));
	p->tc = tc;
	p->xc = c;
	p->lun = c->lun;
	p->cdb = c->cdb;
	p->in_len = c->cdb.dir == LBFO_XFER_READ ? c->cdb.xfer_len : 0;
	p->in = calloc(1, p->in_len + 64);
	if (c->cdb.dir == LBFO_XFER_WRITE) {
		p->out = calloc(1, c->cdb.xfer_len + 1);
		for (i = 0; i < (size_t)c->niov && off < c->cdb.xfer_len; i++) {
			size_t n = c->iov[i].iov_len;

			if (n > c->cdb.xfer_len - off)
				n = c->cdb.xfer_len - off;
			memcpy(p->out + off, c->iov[i].iov_base, n);
			off += n;
		}
	}
	if (tc->last)
		tc->last->next = p;
	else
		tc->pkts = p;
	tc->last = p;
	c->xt = p;
	switch (t->portal[tc->portal].net) {
	case FT_OK:
		x->acked += c->cdb.xfer_len + 48;
		arrive(t, p);
		break;
	case FT_HOLD:
		x->acked += c->cdb.xfer_len + 48;
		p->st = P_HELD;
		break;
	default:
		x->unacked += (int)(c->cdb.xfer_len + 48);
		p->st = P_UNACKED;
		break;
	}
	return 0;
}

static int fx_nop(struct lbfo_xport *x)
{
	struct pkt *p;

	if (x->st != X_UP)
		return -1;
	p = calloc(1, sizeof(*p));
	p->tc = x->tc;
	p->nop = true;
	if (x->tc->last)
		x->tc->last->next = p;
	else
		x->tc->pkts = p;
	x->tc->last = p;
	x->nops++;
	switch (x->tc->t->portal[x->tc->portal].net) {
	case FT_OK: arrive(x->tc->t, p); break;
	case FT_HOLD: p->st = P_HELD; break;
	default: p->st = P_UNACKED; x->unacked += 48; break;
	}
	return 0;
}

static void answer(struct lbfo_xport *x, struct pkt *p)
{
	struct lbfo_xport_cmd *c = p->xc;
	size_t i, off = 0, len = p->in_len - (p->res.underflow ? p->res.residual : 0);

	p->st = P_DONE;
	if (p->nop) {
		x->nops--;
		return;
	}
	if (!c)
		return;
	p->xc = NULL;
	c->xt = NULL;
	for (i = 0; i < (size_t)c->niov && off < len && p->res.status == LBFO_SAM_GOOD; i++) {
		size_t n = c->iov[i].iov_len;

		if (n > len - off)
			n = len - off;
		memcpy(c->iov[i].iov_base, p->in + off, n);
		off += n;
	}
	c->done(c, &p->res);
}

static int fx_service(struct lbfo_xport *x, short revents)
{
	struct tconn *tc = x->tc;
	struct ft *t = tc->t;
	enum ft_net net = t->portal[tc->portal].net;
	struct pkt *p;

	(void)revents;
	if (x->st == X_BROKEN) {
		lbfo_xport_login_cb cb = x->cb;

		if (cb) { /* the login never finished: say so once */
			x->cb = NULL;
			t->st.logins_failed++;
			cb(x, false, -1, x->priv);
		}
		return -1;
	}
	if (x->st == X_LOGIN) {
		if (net != FT_OK || t->now < tc->login_due)
			return 0;
		login_arrives(t, tc);
		x->st = X_UP;
		x->cb(x, true, t->portal[tc->portal].tpgt, x->priv);
		x->cb = NULL;
		return 0;
	}
	if (net != FT_OK)
		return 0;
	/* Answers due, in order. A done() may abandon nothing (the session
	 * defers that), but it may submit: walk by pointer, re-read next. */
	for (p = tc->pkts; p; p = p->next)
		if (p->st == P_EXECUTED && p->due_ns <= t->now && x->st != X_BROKEN)
			answer(x, p);
	return x->st == X_BROKEN ? -1 : 0;
}

static int fx_nops_in_flight(struct lbfo_xport *x) { return x->nops; }
static int fx_fd(struct lbfo_xport *x) { (void)x; return -1; }
static short fx_events(struct lbfo_xport *x) { (void)x; return 0; }
static size_t fx_queued(struct lbfo_xport *x) { (void)x; return 0; }
static int fx_unacked(struct lbfo_xport *x) { return x->unacked; }
static uint64_t fx_acked(struct lbfo_xport *x) { return x->acked; }
static int fx_socket(struct lbfo_xport *x) { (void)x; return -1; }
static const char *fx_error(struct lbfo_xport *x) { return x->err[0] ? x->err : "no error"; }

const struct lbfo_xport_ops ft_xport_ops = {
	.name = "fake",
	.open = fx_open,
	.abandon = fx_abandon,
	.submit = fx_submit,
	.nop = fx_nop,
	.nops_in_flight = fx_nops_in_flight,
	.fd = fx_fd,
	.events = fx_events,
	.service = fx_service,
	.queued = fx_queued,
	.unacked = fx_unacked,
	.acked = fx_acked,
	.socket = fx_socket,
	.error = fx_error,
};
