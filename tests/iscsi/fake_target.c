/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake target and network of the failover unit tests (see
 * fake_target.h): set-up, the scriptable network with sessions and
 * reinstatement per controller, and the transport lbfo's path session
 * drives. The LU itself (SCSI, reservations, unit attentions) is in
 * fake_scsi.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_internal.h"

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
void ft_set_rate(struct ft *t, int portal, uint32_t bytes_per_ms) { t->portal[portal].bytes_per_ms = bytes_per_ms; }
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

void ft_set_blocks(struct ft *t, uint64_t blocks)
{
	int i;

	t->disk = realloc(t->disk, blocks * t->bs);
	if (blocks > t->blocks)
		memset(t->disk + t->blocks * t->bs, 0, (blocks - t->blocks) * t->bs);
	t->blocks = blocks;
	for (i = 0; i < t->nnexus; i++)
		ft_ua_push(&t->nexus[i], 0x2a, 0x09);
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

void ft_pr_foreign(struct ft *t, uint64_t key, bool reserve)
{
	struct pr_state *pr = &t->pr[0];
	int n = ft_nexus_get(t, "iqn.2026-12.io.lbfo:another-host", 1, 1, 1);

	pr->reg[pr->nregs].nexus = n;
	pr->reg[pr->nregs].key = key;
	pr->nregs++;
	if (reserve) {
		pr->reserved = true;
		pr->type = 0x1; /* WRITE EXCLUSIVE */
		pr->holder_key = key;
	}
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
		ft_arrive(t, p);
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
			ft_arrive(t, p);
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
	tc->nexus = ft_nexus_get(t, p->initiator, p->isid_rnd, p->isid_qual, t->portal[portal].tpgt);
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
		ft_arrive(t, p);
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
	case FT_OK: ft_arrive(x->tc->t, p); break;
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
