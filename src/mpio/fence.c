/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fencing: no write may be overtaken by a stale copy from a failed path.
 *
 * The rule. A path that fails with a write in flight owes a fence,
 * whatever then happens to that write (sent again elsewhere, failed to
 * the client at its deadline, aborted at shutdown). While any path owes
 * one, no write goes out on any path (reads do); writes wait in
 * lu->parked, each with its no_path_timeout deadline.
 *
 * The methods (docs/failover.md "Fencing"):
 *  - reinstate: a login with the failed path's initiator port (ISID)
 *    through a healthy portal of the same portal group makes the target
 *    end the old session; the failed path's own re-login does too. Used
 *    only where the start-up check saw the target do it (probe.c).
 *  - reservation: each path's I_T nexus registers a key; a fence reserves
 *    the LU (WRITE EXCLUSIVE - ALL REGISTRANTS) and preempts the failed
 *    path's key through a healthy path, so the old nexus can no longer
 *    write. The path comes back as a new nexus (a new ISID) with a new
 *    key. Another owner's registrations or reservation are never touched:
 *    seen at start, the method is not used.
 *  - none: a debt is released after no_path_timeout (documented limit).
 *
 * The instance's identity: ISIDs and keys derive from the initiator name
 * (and target, LUN, portal), so a restarted lbfo logs in as the same
 * initiator ports as its predecessor (reinstating what it left) and
 * recognises its predecessor's keys. A state file under lock_dir, locked
 * while the process lives, refuses a second live instance on the same LU
 * and tells a successor which paths its predecessor had sessions on and
 * whether it ended cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lu_internal.h"

#define FENCE_BACKOFF_MIN_MS 100
#define FENCE_BACKOFF_MAX_MS 5000
#define KEY_MARK 0x1bf0u

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	h ^= 0xff; /* a separator, so "ab","c" differs from "a","bc" */
	return h * 0x100000001b3ull;
}

#define FNV_BASIS 0xcbf29ce484222325ull

/* ---- identity ----------------------------------------------------------------- */

void lu_fence_isid(const struct lbfo_lu *lu, const struct lu_path *p, uint32_t *rnd,
		   uint16_t *qual)
{
	*rnd = lu->fence.isid_rnd;
	*qual = (uint16_t)((p->isid_slot & 0x7ff) << 4 | (p->gen & 0xf));
}

static uint64_t key_of(const struct lbfo_lu *lu, const struct lu_path *p)
{
	return lu->fence.key_prefix | (uint64_t)(p->isid_slot & 0x7ff) << 4 | (p->gen & 0xf);
}

/* Stable per portal; two portals of one LU never share a slot. */
static void assign_slots(struct lbfo_lu *lu)
{
	int i, k;

	for (i = 0; i < lu->npaths; i++) {
		uint16_t slot = (uint16_t)(fnv1a(FNV_BASIS, lu->paths[i].portal) % 0x7ff) + 1;

		for (k = 0; k < i; k++)
			if (lu->paths[k].isid_slot == slot) {
				slot = (uint16_t)(slot % 0x7ff + 1);
				k = -1; /* look again from the start */
			}
		lu->paths[i].isid_slot = slot;
	}
}

/* ---- the state file ------------------------------------------------------------- */

static void state_write(struct lbfo_lu *lu, bool clean)
{
	struct lu_fence *f = &lu->fence;
	char buf[2048];
	size_t n;
	int i;

	if (f->lock_fd < 0)
		return;
	n = (size_t)snprintf(buf, sizeof(buf), "lbfo-state 1\npid %d\nclean %d\nlu %s\nown %d\n",
			     (int)getpid(), clean ? 1 : 0, lu->ident.id, f->reinstate_own ? 1 : 0);
	/* path SLOT TPGT CROSS: the paths this process had a session on, and
	 * whether a login through another portal of the group reinstated. */
	for (i = 0; i < lu->npaths && n < sizeof(buf); i++)
		if (lu->paths[i].logins || f->reinstate_cross[i])
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "path %u %d %d\n",
					      lu->paths[i].isid_slot, lu->paths[i].tpgt,
					      f->reinstate_cross[i] ? 1 : 0);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (ftruncate(f->lock_fd, 0) == 0 && pwrite(f->lock_fd, buf, n, 0) == (ssize_t)n)
		fdatasync(f->lock_fd);
}

static struct lu_path *path_of_slot(struct lbfo_lu *lu, unsigned slot)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (lu->paths[i].isid_slot == slot)
			return &lu->paths[i];
	return NULL;
}

/*
 * What a predecessor left. Its observations of the target stand for the
 * paths this start could not check (unreachable now): the portal group
 * of a portal and whether reinstatement through another portal of the
 * group worked. And unless it ended cleanly, every path it had a session
 * on owes a fence: a write of its may still be on the way.
 */
static void state_read(struct lbfo_lu *lu, const struct lbfo_lu_probe *pr, uint64_t now)
{
	char buf[2048], *line, *save = NULL;
	ssize_t n = pread(lu->fence.lock_fd, buf, sizeof(buf) - 1, 0);
	int clean = 1, pid = 0, owed = 0;

	if (n <= 0)
		return; /* no predecessor */
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned slot;
		int tpgt, cross = 0;
		struct lu_path *p;

		if (sscanf(line, "clean %d", &clean) == 1 || sscanf(line, "pid %d", &pid) == 1)
			continue;
		if (sscanf(line, "path %u %d %d", &slot, &tpgt, &cross) < 2 ||
		    !(p = path_of_slot(lu, slot)))
			continue;
		if (p->tpgt < 0)
			p->tpgt = tpgt;
		if (!pr->cross_tested[p->idx] && p->tpgt == tpgt)
			lu->fence.reinstate_cross[p->idx] |= cross == 1 && lu->fence.reinstate_own;
		if (clean)
			continue;
		if (lu->fence.method == LBFO_FENCE_RESERVATION) {
			/* Its keys are found and preempted by the first path up. */
			lu->fence.nstale_unknown = true;
			continue;
		}
		lu_fence_owe(p, now);
		owed++;
	}
	if (owed)
		lu_log(lu, LBFO_LOG_WARNING, "a previous lbfo (pid %d) serving this LU did not end "
		       "cleanly: its sessions on %d path(s) are fenced before any write", pid, owed);
}

static int lock_open(struct lbfo_lu *lu, const struct lbfo_lu_probe *pr, uint64_t now,
		     char *err, size_t errlen)
{
	struct lu_fence *f = &lu->fence;
	uint64_t h = fnv1a(fnv1a(FNV_BASIS, lu->cfg.initiator), lu->ident.id);
	char other[64] = "";

	if (!lu->cfg.lock_dir[0] || !strcmp(lu->cfg.lock_dir, "none"))
		return 0;
	if (mkdir(lu->cfg.lock_dir, 0755) < 0 && errno != EEXIST) {
		lu_log(lu, LBFO_LOG_WARNING, "lock directory %s: %s; a second instance on this "
		       "LU cannot be refused", lu->cfg.lock_dir, strerror(errno));
		return 0;
	}
	snprintf(f->lock_path, sizeof(f->lock_path), "%.200s/lu-%016" PRIx64 ".state",
		 lu->cfg.lock_dir, h);
	f->lock_fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f->lock_fd < 0) {
		lu_log(lu, LBFO_LOG_WARNING, "%s: %s; a second instance on this LU cannot be "
		       "refused", f->lock_path, strerror(errno));
		return 0;
	}
	if (flock(f->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(f->lock_fd, other, sizeof(other) - 1, 0);
		const char *pid;
		int opid = 0;
		char who[32] = "";

		other[n > 0 ? n : 0] = '\0';
		pid = strstr(other, "pid ");
		if (pid && sscanf(pid, "pid %d", &opid) == 1 && opid > 0)
			snprintf(who, sizeof(who), " (pid %d)", opid);
		snprintf(err, errlen, "LU %s is already served by another lbfo process%s under "
			 "initiator name %s: a second instance is refused (lock %s)", lu->ident.id,
			 who, lu->cfg.initiator, f->lock_path);
		close(f->lock_fd);
		f->lock_fd = -1;
		return -1;
	}
	state_read(lu, pr, now);
	state_write(lu, false);
	return 0;
}

/* ---- set-up -------------------------------------------------------------------- */

static void choose_method(struct lbfo_lu *lu, const struct lbfo_lu_probe *pr)
{
	struct lu_fence *f = &lu->fence;
	enum lbfo_fence_method want = lu->cfg.fence;

	f->reinstate_own = pr->reinstate_own;
	memcpy(f->reinstate_cross, pr->reinstate_cross, sizeof(f->reinstate_cross));
	if (want == LBFO_FENCE_NONE) {
		f->method = LBFO_FENCE_NONE;
		snprintf(f->why, sizeof(f->why), "fence=none");
	} else if ((want == LBFO_FENCE_AUTO || want == LBFO_FENCE_REINSTATE) && pr->reinstate_own) {
		f->method = LBFO_FENCE_REINSTATE;
		snprintf(f->why, sizeof(f->why), "session reinstatement seen at start-up (%.200s)",
			 pr->note);
	} else if (want == LBFO_FENCE_REINSTATE) {
		f->method = LBFO_FENCE_NONE;
		snprintf(f->why, sizeof(f->why), "fence=reinstate, but the target did not "
			 "reinstate sessions at start-up (%.160s)", pr->checked ? pr->note : "not checked");
	} else {
		/* reservation, or auto without reinstatement: checked when the
		 * first path registers (foreign state: none). */
		f->method = LBFO_FENCE_RESERVATION;
		snprintf(f->why, sizeof(f->why), "%s", want == LBFO_FENCE_RESERVATION ?
			 "fence=reservation" : "auto: no session reinstatement at start-up");
	}
}

int lbfo_lu_lock(struct lbfo_lu *lu, char *err, size_t errlen)
{
	return lock_open(lu, &lu->probe, lu->now, err, errlen);
}

int lu_fence_init(struct lbfo_lu *lu, const struct lbfo_lu_probe *pr, char *err, size_t errlen)
{
	struct lu_fence *f = &lu->fence;
	char lun[16];
	uint64_t h;

	snprintf(lun, sizeof(lun), "%d", lu->cfg.lun);
	/* The LUN is part of the ISID: two processes serving two LUNs of
	 * one target never reinstate each other's sessions. */
	h = fnv1a(fnv1a(fnv1a(FNV_BASIS, lu->cfg.initiator), lu->cfg.target), lun);
	f->isid_rnd = (uint32_t)(h ^ h >> 24 ^ h >> 48) & 0xffffff;
	f->key_prefix = (fnv1a(FNV_BASIS, lu->cfg.initiator) & 0xffffffff00000000ull) |
			(uint64_t)KEY_MARK << 16;
	f->lock_fd = -1;
	assign_slots(lu);
	choose_method(lu, pr);
	(void)err;
	(void)errlen;
	lu_log(lu, f->method == LBFO_FENCE_NONE ? LBFO_LOG_WARNING : LBFO_LOG_NOTICE,
	       "fencing: %s (%s)%s", lbfo_fence_name(f->method), f->why,
	       f->method == LBFO_FENCE_NONE ? "; a failed path's writes wait until no_path_timeout "
	       "before they are sent again, and a stale write held longer in the network could "
	       "still land" : "");
	return 0;
}

void lu_fence_fini(struct lbfo_lu *lu)
{
	struct lu_fence *f = &lu->fence;

	if (f->lock_fd < 0)
		return;
	state_write(lu, !f->debts && !f->nstale && !f->unclean);
	close(f->lock_fd);
	f->lock_fd = -1;
}

/* ---- debts ------------------------------------------------------------------------- */

void lu_fence_release(struct lbfo_lu *lu, const char *how)
{
	uint32_t n = lu->parked.n;

	/* Oldest first, in front of everything else. */
	q_prepend_all(&lu->queue, &lu->parked);
	if (n)
		lu_log(lu, LBFO_LOG_INFO, "fence barrier lifted (%s): %u write(s) sent", how, n);
}

bool lu_fence_clear(const struct lbfo_lu *lu)
{
	const struct lu_fence *f = &lu->fence;

	return !f->debts && !f->nstale && !f->nstale_unknown;
}

void lu_fence_owe(struct lu_path *p, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;

	if (p->owes_fence)
		return;
	p->owes_fence = true;
	p->owed_since_ns = now;
	p->fence_next_ns = now;
	p->fence_backoff_ms = 0;
	p->fence_attempts = 0;
	lu->fence.debts++;
	if (lu->fence.method == LBFO_FENCE_RESERVATION && p->pr_key) {
		/* The old nexus is preempted by its key; the path comes back
		 * as a new nexus (new ISID) with a key of its own. */
		p->stale_key = p->pr_key;
		p->pr_key = 0;
		p->gen++;
		lbfo_session_set_isid(&p->s, lu->fence.isid_rnd,
				      (uint16_t)((p->isid_slot & 0x7ff) << 4 | (p->gen & 0xf)));
	}
	lu_log(lu, LBFO_LOG_NOTICE, "path %s owes a fence (%s): no write goes out until it is "
	       "fenced", p->cfg.name, lbfo_fence_name(lu->fence.method));
}

static void pay(struct lu_path *p, const char *how, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;
	struct lu_fence *f = &lu->fence;
	uint64_t took = now - p->owed_since_ns;

	if (!p->owes_fence)
		return;
	p->owes_fence = false;
	p->fence_running = false;
	p->stale_key = 0;
	p->last_fence_ns = took;
	f->debts--;
	f->fences++;
	if (took > f->longest_ns)
		f->longest_ns = took;
	lu_log(lu, LBFO_LOG_INFO, "path %s fenced (%s) after %" PRIu64 " ms", p->cfg.name, how,
	       (uint64_t)(took / LBFO_NS_PER_MS));
	if (lu_fence_clear(lu))
		lu_fence_release(lu, how);
}

void lu_fence_on_login(struct lu_path *p, uint64_t now)
{
	struct lbfo_lu *lu = p->lu;
	int old = p->tpgt_before;

	if (lu->fence.lock_fd >= 0 && p->logins == 1)
		state_write(lu, false);
	if (!p->owes_fence || lu->fence.method != LBFO_FENCE_REINSTATE || !lu->fence.reinstate_own)
		return;
	/* The same ISID, the same portal group: the target ended the old
	 * session before it answered this login. */
	if (old >= 0 && p->tpgt >= 0 && old != p->tpgt)
		return;
	pay(p, "own re-login reinstated the old session", now);
}

void lu_fence_on_fenced(struct lu_path *p, bool ok, const char *why, uint64_t now)
{
	char how[LBFO_STR_MAX];

	p->fence_running = false;
	if (ok) {
		snprintf(how, sizeof(how), "session reinstated via path %s", p->s.fence_via);
		pay(p, how, now);
		return;
	}
	p->fence_backoff_ms = p->fence_backoff_ms ? p->fence_backoff_ms * 2 : FENCE_BACKOFF_MIN_MS;
	if (p->fence_backoff_ms > FENCE_BACKOFF_MAX_MS)
		p->fence_backoff_ms = FENCE_BACKOFF_MAX_MS;
	p->fence_next_ns = now + ms_ns(p->fence_backoff_ms);
	/* Say it at the 1st, 2nd, 4th, 8th … attempt, not every time. */
	if (!(p->fence_attempts & (p->fence_attempts - 1)))
		lu_log(p->lu, LBFO_LOG_WARNING, "path %s: fence via %s failed (%s); attempt %u, next "
		       "in %u ms", p->cfg.name, p->s.fence_via, why, p->fence_attempts,
		       p->fence_backoff_ms);
}

/* ---- reservations ------------------------------------------------------------------ */

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
};

static void pr_answer(struct lbfo_scmd *sc, const struct lbfo_scsi_result *r, uint64_t now);

static int pr_send(struct pr_op *op, uint64_t now)
{
	struct lu_cmd *c = &op->c;
	const struct pr_step *s = &op->steps[op->step];

	memset(&c->sc, 0, sizeof(c->sc));
	c->sc.x.lun = c->lu->cfg.lun;
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
	return lbfo_session_submit(&op->via->s, &c->sc, now);
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
	if (lu_fence_clear(lu))
		lu_fence_release(lu, "no fence method");
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
		lbfo_session_fail(&p->s, "out of memory");
		return;
	}
	op->ready = ready;
	op->steps[0] = (struct pr_step){ .sa = LBFO_PR_REGISTER_IGNORE, .sa_key = key_of(lu, p) };
	op->nsteps = 1;
	if (pr_start(op, now) < 0)
		lbfo_session_fail(&p->s, "cannot queue the reservation key's registration");
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
		if (lu_fence_clear(lu))
			lu_fence_release(lu, "predecessor's keys preempted");
		return;
	}
	snprintf(t->s.fence_via, sizeof(t->s.fence_via), "%s", op->via->cfg.name);
	if (ok) {
		snprintf(how, sizeof(how), "key 0x%016" PRIx64 " preempted via path %s", op->stale,
			 op->via->cfg.name);
		t->fence_running = false;
		pay(t, how, now);
		return;
	}
	lu_fence_on_fenced(t, false, r->status == LBFO_XS_PATH_LOST ? "path lost" :
			   lbfo_scsi_describe(r, what, sizeof(what)), now);
}

static int preempt(struct lu_path *via, struct lu_path *target, uint64_t stale, uint64_t now)
{
	struct pr_op *op = pr_new(via, pr_preempted);

	if (!op)
		return -1;
	op->target = target;
	op->stale = stale;
	op->steps[0] = (struct pr_step){ .sa = LBFO_PR_RESERVE, .type = LBFO_PR_TYPE_WE_AR,
					 .key = via->pr_key };
	op->steps[1] = (struct pr_step){ .sa = LBFO_PR_PREEMPT, .type = LBFO_PR_TYPE_WE_AR,
					 .key = via->pr_key, .sa_key = stale };
	op->nsteps = 2;
	return pr_start(op, now);
}

/* ---- the fence clock ----------------------------------------------------------------- */

static struct lu_path *reinstate_via(struct lbfo_lu *lu, const struct lu_path *p)
{
	int i;

	if (p->tpgt < 0 || !lu->fence.reinstate_cross[p->idx])
		return NULL;
	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *v = &lu->paths[(p->idx + 1 + i) % lu->npaths];

		if (v != p && v->s.st == LBFO_SS_UP && !v->s.failing && v->tpgt == p->tpgt &&
		    lu->fence.reinstate_cross[v->idx])
			return v;
	}
	return NULL;
}

static struct lu_path *registered_path(struct lbfo_lu *lu)
{
	int i;

	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *v = &lu->paths[i];

		if (v->pr_key && v->s.st == LBFO_SS_UP && !v->s.failing && !v->pr_cmd &&
		    v->st != LP_REFUSED)
			return v;
	}
	return NULL;
}

static void fence_one(struct lbfo_lu *lu, struct lu_path *p, uint64_t now)
{
	struct lu_path *v;

	switch (lu->fence.method) {
	case LBFO_FENCE_REINSTATE:
		if (p->s.st == LBFO_SS_LOGIN)
			return; /* its own login may pay; never both at once */
		v = reinstate_via(lu, p);
		if (!v)
			return; /* its own re-login will pay */
		if (lbfo_session_fence(&p->s, &v->s, now) == 0) {
			p->fence_running = true;
			p->fence_attempts++;
		}
		return;
	case LBFO_FENCE_RESERVATION:
		v = registered_path(lu);
		if (!v || !p->stale_key)
			return;
		if (preempt(v, p, p->stale_key, now) == 0) {
			p->fence_running = true;
			p->fence_attempts++;
		}
		return;
	default:
		if (now - p->owed_since_ns >= ms_ns(lu->cfg.no_path_timeout_ms))
			pay(p, "no fence method: released after no_path_timeout", now);
		return;
	}
}

void lu_fence_tick(struct lbfo_lu *lu, uint64_t now)
{
	int i;

	if (!lu->fence.debts && !lu->fence.nstale)
		return;
	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *p = &lu->paths[i];

		if (p->owes_fence && !p->fence_running && now >= p->fence_next_ns)
			fence_one(lu, p, now);
	}
	if (lu->fence.method == LBFO_FENCE_RESERVATION && lu->fence.nstale) {
		struct lu_path *v = registered_path(lu);

		if (v)
			preempt(v, NULL, lu->fence.stale_keys[0], now);
	}
}

uint64_t lu_fence_next_timer(const struct lbfo_lu *lu)
{
	uint64_t t = UINT64_MAX;
	int i;

	for (i = 0; i < lu->npaths; i++) {
		const struct lu_path *p = &lu->paths[i];
		uint64_t when = p->fence_next_ns;

		if (!p->owes_fence || p->fence_running)
			continue;
		if (lu->fence.method == LBFO_FENCE_NONE)
			when = p->owed_since_ns + ms_ns(lu->cfg.no_path_timeout_ms);
		if (when < t)
			t = when;
	}
	return t;
}
