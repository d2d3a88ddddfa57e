/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fencing by SCSI persistent reservations (fence.c says when): each
 * path's I_T nexus registers a key as it comes up; the LU's reservation
 * state is read once, and another initiator's keys or reservation mean
 * the method is not used (lbfo never fights another owner); a fence
 * reserves the LU (WRITE EXCLUSIVE - ALL REGISTRANTS) and preempts the
 * failed nexus's key through a healthy registered path. The commands go
 * out as internal commands of the LU over the path sessions, one after
 * the other (a small sequence: pr_op).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lu_internal.h"

struct pr_step {
	bool in;              /* PERSISTENT RESERVE IN */
	uint8_t sa, type;
	uint64_t key, sa_key;
};

struct pr_op {
	struct lu_cmd c;      /* first: the session's command */
	struct lu_path *via;
	struct lu_path *target;
	uint64_t stale;       /* the key being preempted */
	struct pr_step steps[3];
	int nsteps, step;
	unsigned retries;
	uint8_t data[520];
	struct lbfo_pr_keys keys;
	struct lbfo_pr_reservation resv;
	void (*done)(struct pr_op *op, bool ok, const struct lbfo_scsi_result *r, uint64_t now);
	void (*ready)(struct lu_path *p, uint64_t now);
	lu_fenced_fn fenced;  /* a preempt of a path's old key ended */
};

static void pr_answer(struct lbfo_scmd *sc, const struct lbfo_scsi_result *r, uint64_t now);

static int pr_send(struct pr_op *op, uint64_t now)
{
	struct lu_cmd *c = &op->c;
	const struct pr_step *s = &op->steps[op->step];

	memset(&c->sc, 0, sizeof(c->sc));
	c->sc.x.lun = op->via->lun;
	if (s->in) {
		lbfo_cdb_pr_in(&c->sc.x.cdb, s->sa, sizeof(op->data) - 8);
		c->iov.iov_base = op->data;
		c->iov.iov_len = sizeof(op->data) - 8;
	} else {
		lbfo_cdb_pr_out(&c->sc.x.cdb, s->sa, s->type, s->key, s->sa_key, c->param);
		c->iov.iov_base = c->param;
		c->iov.iov_len = LBFO_PR_OUT_PARAM_LEN;
	}
	c->sc.x.iov = &c->iov;
	c->sc.x.niov = 1;
	c->sc.done = pr_answer;
	return lbfo_session_submit(op->via->s, &c->sc, now);
}

static void pr_finish(struct pr_op *op, bool ok, const struct lbfo_scsi_result *r, uint64_t now)
{
	if (op->via->pr_cmd == &op->c)
		op->via->pr_cmd = NULL;
	op->done(op, ok, r, now);
	free(op);
}

static void pr_answer(struct lbfo_scmd *sc, const struct lbfo_scsi_result *r, uint64_t now)
{
	struct pr_op *op = (struct pr_op *)sc;
	enum lbfo_scsi_event ev;
	enum lbfo_scsi_action a;

	if (r->status == LBFO_XS_PATH_LOST) {
		pr_finish(op, false, r, now);
		return;
	}
	a = lbfo_scsi_action(r, &ev);
	if (a == LBFO_ACT_RETRY_NOW && ++op->retries <= LBFO_UA_RETRIES) {
		if (pr_send(op, now) < 0)
			pr_finish(op, false, r, now);
		return;
	}
	if (a != LBFO_ACT_OK) {
		pr_finish(op, false, r, now);
		return;
	}
	if (op->steps[op->step].in && op->steps[op->step].sa == LBFO_PR_READ_KEYS)
		lbfo_pr_parse_keys(op->data, sizeof(op->data) - 8, &op->keys);
	else if (op->steps[op->step].in)
		lbfo_pr_parse_reservation(op->data, sizeof(op->data) - 8, &op->resv);
	op->retries = 0;
	if (++op->step == op->nsteps) {
		pr_finish(op, true, r, now);
		return;
	}
	if (pr_send(op, now) < 0)
		pr_finish(op, false, r, now);
}

static struct pr_op *pr_new(struct lu_path *via, void (*done)(struct pr_op *, bool,
							      const struct lbfo_scsi_result *, uint64_t))
{
	struct pr_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->c.lu = via->lu;
	op->c.path = via->idx;
	op->via = via;
	op->done = done;
	return op;
}

static int pr_start(struct pr_op *op, uint64_t now)
{
	if (pr_send(op, now) < 0) {
		free(op);
		return -1;
	}
	op->via->pr_cmd = &op->c;
	return 0;
}

static bool our_key(const struct lbfo_lu *lu, uint64_t key)
{
	return (key & 0xffffffffffff0000ull) == lu->fence.key_prefix;
}

static bool current_key(const struct lbfo_lu *lu, uint64_t key)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (lu->paths[i].pr_key == key)
			return true;
	return false;
}

static void give_up_reservations(struct lbfo_lu *lu, const char *why)
{
	struct lu_fence *f = &lu->fence;
	int i;

	f->method = LBFO_FENCE_NONE;
	snprintf(f->why, sizeof(f->why), "%s", why);
	f->nstale = 0;
	f->nstale_unknown = false;
	for (i = 0; i < lu->npaths; i++)
		lu->paths[i].stale_key = 0;
	lu_log(lu, LBFO_LOG_WARNING, "fencing: none (%s); a failed path's writes wait until "
	       "no_path_timeout before they are sent again", why);
}

/* The LU's reservation state, read once after the first registration:
 * another owner's keys or reservation mean hands off; our own prefix on
 * a key no path holds is a predecessor's nexus, preempted before writes. */
static void pr_state_read(struct pr_op *op, bool ok, const struct lbfo_scsi_result *r, uint64_t now)
{
	struct lbfo_lu *lu = op->c.lu;
	struct lu_fence *f = &lu->fence;
	char why[LBFO_STR_MAX];
	int i;

	(void)r;
	f->pr_checked = true;
	f->nstale_unknown = false;
	if (!ok) {
		give_up_reservations(lu, "the LU's reservation state cannot be read");
		op->ready(op->via, now);
		return;
	}
	for (i = 0; i < op->keys.nkeys; i++) {
		uint64_t k = op->keys.keys[i];

		if (!our_key(lu, k)) {
			snprintf(why, sizeof(why), "another initiator's key 0x%016" PRIx64 " is "
				 "registered on the LU: lbfo never fights another owner's reservations", k);
			give_up_reservations(lu, why);
			op->ready(op->via, now);
			return;
		}
		if (!current_key(lu, k) && f->nstale < (int)(sizeof(f->stale_keys) / sizeof(f->stale_keys[0])))
			f->stale_keys[f->nstale++] = k;
	}
	if (op->resv.reserved && op->resv.type != LBFO_PR_TYPE_WE_AR &&
	    !our_key(lu, op->resv.key)) {
		snprintf(why, sizeof(why), "the LU is reserved (type %u) by key 0x%016" PRIx64
			 ": lbfo never fights another owner's reservation", op->resv.type,
			 op->resv.key);
		give_up_reservations(lu, why);
	} else if (f->nstale) {
		lu_log(lu, LBFO_LOG_WARNING, "%d reservation key(s) of a previous lbfo are still "
		       "registered: preempted before any write", f->nstale);
	}
	op->ready(op->via, now);
}

static void pr_registered(struct pr_op *op, bool ok, const struct lbfo_scsi_result *r, uint64_t now)
{
	struct lu_path *p = op->via;
	struct lbfo_lu *lu = p->lu;
	char what[96];

	if (!ok) {
		lbfo_scsi_describe(r, what, sizeof(what));
		if (r->status == LBFO_XS_PATH_LOST)
			return; /* the path went; it registers when it is back */
		give_up_reservations(lu, r->sense_key == LBFO_SK_ILLEGAL_REQUEST ?
				     "the LU does not support persistent reservations" :
				     "registering a reservation key failed");
		op->ready(p, now);
		return;
	}
	p->pr_key = op->steps[0].sa_key;
	if (!lu->fence.pr_checked) {
		struct pr_op *rd = pr_new(p, pr_state_read);

		if (rd) {
			rd->ready = op->ready;
			rd->steps[0] = (struct pr_step){ .in = true, .sa = LBFO_PR_READ_KEYS };
			rd->steps[1] = (struct pr_step){ .in = true, .sa = LBFO_PR_READ_RESERVATION };
			rd->nsteps = 2;
			if (pr_start(rd, now) == 0)
				return;
		}
		give_up_reservations(lu, "the LU's reservation state cannot be read");
	}
	op->ready(p, now);
}

void lu_fence_path_ready(struct lu_path *p, uint64_t now, void (*ready)(struct lu_path *p, uint64_t now))
{
	struct lbfo_lu *lu = p->lu;
	struct pr_op *op;

	if (lu->fence.method != LBFO_FENCE_RESERVATION) {
		ready(p, now);
		return;
	}
	op = pr_new(p, pr_registered);
	if (!op) {
		lbfo_session_fail(p->s, "out of memory");
		return;
	}
	op->ready = ready;
	op->steps[0] = (struct pr_step){ .sa = LBFO_PR_REGISTER_IGNORE, .sa_key = lu_fence_key(lu, p) };
	op->nsteps = 1;
	if (pr_start(op, now) < 0)
		lbfo_session_fail(p->s, "cannot queue the reservation key's registration");
}

/* A preempt ended: of a path's old nexus (target) or a predecessor's key. */
static void pr_preempted(struct pr_op *op, bool ok, const struct lbfo_scsi_result *r, uint64_t now)
{
	struct lbfo_lu *lu = op->c.lu;
	struct lu_path *t = op->target;
	char how[LBFO_STR_MAX], what[96];
	int i;

	/* PREEMPT of a key no longer registered answers RESERVATION
	 * CONFLICT: that nexus cannot write any more either (the RESERVE
	 * before it succeeded), so it is fenced all the same. */
	if (!ok && op->step == 1 && r->status == LBFO_SAM_RESERVATION_CONFLICT)
		ok = true;
	if (!t) {
		if (!ok)
			return; /* tried again by the next tick */
		for (i = 0; i < lu->fence.nstale; i++)
			if (lu->fence.stale_keys[i] == op->stale)
				lu->fence.stale_keys[i] = lu->fence.stale_keys[--lu->fence.nstale];
		lu_log(lu, LBFO_LOG_NOTICE, "a previous lbfo's key 0x%016" PRIx64 " preempted via "
		       "path %s", op->stale, op->via->cfg.name);
		return;
	}
	snprintf(t->fence_via, sizeof(t->fence_via), "%s", op->via->cfg.name);
	if (ok)
		snprintf(how, sizeof(how), "key 0x%016" PRIx64 " preempted via path %s", op->stale,
			 op->via->cfg.name);
	op->fenced(t, ok, ok ? how : r->status == LBFO_XS_PATH_LOST ? "path lost" :
		   lbfo_scsi_describe(r, what, sizeof(what)), now);
}

int lu_pr_preempt(struct lu_path *via, struct lu_path *target, uint64_t stale, uint64_t now,
		  lu_fenced_fn fenced)
{
	struct pr_op *op = pr_new(via, pr_preempted);

	if (!op)
		return -1;
	op->fenced = fenced;
	op->target = target;
	op->stale = stale;
	op->steps[0] = (struct pr_step){ .sa = LBFO_PR_RESERVE, .type = LBFO_PR_TYPE_WE_AR,
					 .key = via->pr_key };
	op->steps[1] = (struct pr_step){ .sa = LBFO_PR_PREEMPT, .type = LBFO_PR_TYPE_WE_AR,
					 .key = via->pr_key, .sa_key = stale };
	op->nsteps = 2;
	return pr_start(op, now);
}

struct lu_path *lu_pr_registered_path(struct lbfo_lu *lu)
{
	int i;

	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *v = &lu->paths[i];

		if (v->pr_key && v->s->st == LBFO_SS_UP && !v->s->failing && !v->pr_cmd &&
		    v->st != LP_REFUSED)
			return v;
	}
	return NULL;
}

