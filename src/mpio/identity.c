/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The instance's identity on the SAN: the ISID of each target's path
 * (stable per initiator name, target, scope and portal, so a restarted
 * lbfo logs in as the same initiator ports as its predecessor and so
 * reinstates, i.e. fences, what it left; the scope is what part of the
 * target the process serves: all of it, or one LUN, so two processes
 * serving two LUNs of one target never reinstate each other's sessions),
 * the reservation keys (stable per initiator name, so a successor
 * recognises its predecessor's), and each LU's state file under
 * lock_dir: locked while the process lives (a second live instance on the
 * LU is refused), telling a successor which paths its predecessor had
 * sessions on, what it saw of the target, and whether it ended cleanly.
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

void tgt_path_isid(const struct tgt_path *tp, uint32_t *rnd, uint16_t *qual)
{
	*rnd = tp->tgt->isid_rnd;
	*qual = (uint16_t)((tp->isid_slot & 0x7ff) << 4 | (tp->gen & 0xf));
}

void tgt_path_new_nexus(struct tgt_path *tp)
{
	uint32_t rnd;
	uint16_t qual;

	if (tp->gen_fresh)
		return; /* another LU over the session asked already */
	tp->gen++;
	tp->gen_fresh = true;
	tgt_path_isid(tp, &rnd, &qual);
	lbfo_session_set_isid(&tp->s, rnd, qual);
}

uint64_t lu_fence_key(const struct lbfo_lu *lu, const struct lu_path *p)
{
	return lu->fence.key_prefix | (uint64_t)(p->tp->isid_slot & 0x7ff) << 4 |
	       (p->tp->gen & 0xf);
}

/* Stable per portal; two portals of one target never share a slot. */
static void assign_slots(struct lbfo_tgt *t)
{
	int i, k;

	for (i = 0; i < t->npaths; i++) {
		uint16_t slot = (uint16_t)(fnv1a(FNV_BASIS, t->paths[i].portal) % 0x7ff) + 1;

		for (k = 0; k < i; k++)
			if (t->paths[k].isid_slot == slot) {
				slot = (uint16_t)(slot % 0x7ff + 1);
				k = -1; /* look again from the start */
			}
		t->paths[i].isid_slot = slot;
	}
}

void tgt_identity_init(struct lbfo_tgt *t, const char *scope)
{
	uint64_t h;

	/* The scope is part of the ISID: two processes serving two LUNs
	 * of one target never reinstate each other's sessions. A process
	 * serving one LUN keeps the ISIDs lbfo always used for it. */
	h = fnv1a(fnv1a(fnv1a(FNV_BASIS, t->cfg.initiator), t->name), scope[0] ? scope : "*");
	t->isid_rnd = (uint32_t)(h ^ h >> 24 ^ h >> 48) & 0xffffff;
	assign_slots(t);
}

/* ---- the state file ------------------------------------------------------------- */

void lu_fence_state_write(struct lbfo_lu *lu, bool clean)
{
	struct lu_fence *f = &lu->fence;
	char buf[2048];
	size_t n;
	int i;

	if (f->lock_fd < 0)
		return;
	n = (size_t)snprintf(buf, sizeof(buf), "lbfo-state 1\npid %d\nclean %d\nlu %s\nown %d\n",
			     (int)getpid(), clean ? 1 : 0, lu->ident.id, f->reinstate_own ? 1 : 0);
	/* path SLOT TPGT CROSS ISID: the paths this process had a session on,
	 * whether a login through another portal of the group reinstated,
	 * and the target's ISID base (one portal may lead to two targets). */
	for (i = 0; i < lu->npaths && n < sizeof(buf); i++)
		if (lu->paths[i].ups || f->reinstate_cross[i])
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "path %u %d %d %06x\n",
					      lu->paths[i].tp->isid_slot, lu->paths[i].tp->tpgt,
					      f->reinstate_cross[i] ? 1 : 0,
					      lu->paths[i].tp->tgt->isid_rnd);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (ftruncate(f->lock_fd, 0) == 0 && pwrite(f->lock_fd, buf, n, 0) == (ssize_t)n)
		fdatasync(f->lock_fd);
}

static struct lu_path *path_of_slot(struct lbfo_lu *lu, unsigned slot, unsigned rnd)
{
	int i;

	for (i = 0; i < lu->npaths; i++)
		if (lu->paths[i].tp->isid_slot == slot &&
		    (rnd == ~0u || lu->paths[i].tp->tgt->isid_rnd == rnd))
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
static void state_read(struct lbfo_lu *lu)
{
	char buf[2048], *line, *save = NULL;
	ssize_t n = pread(lu->fence.lock_fd, buf, sizeof(buf) - 1, 0);
	int clean = 1, pid = 0;

	if (n <= 0)
		return; /* no predecessor */
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned slot, rnd = ~0u;
		int tpgt, cross = 0;
		struct lu_path *p;
		struct tgt_path *tp;

		if (sscanf(line, "clean %d", &clean) == 1 || sscanf(line, "pid %d", &pid) == 1)
			continue;
		if (sscanf(line, "path %u %d %d %x", &slot, &tpgt, &cross, &rnd) < 2 ||
		    !(p = path_of_slot(lu, slot, rnd)))
			continue;
		tp = p->tp;
		if (tp->tpgt < 0)
			tp->tpgt = tpgt;
		if (!tp->tgt->chk.cross_tested[tp->idx] && tp->tpgt == tpgt)
			lu->fence.reinstate_cross[p->idx] |= cross == 1 && lu->fence.reinstate_own;
		if (clean)
			continue;
		if (lu->fence.method == LBFO_FENCE_RESERVATION) {
			/* Its keys are found and preempted by the first path up. */
			lu->fence.nstale_unknown = true;
			continue;
		}
		p->pred_owes = true; /* fence.c turns it into a debt */
	}
	lu->fence.pred_pid = pid;
}

int lu_state_lock(struct lbfo_lu *lu, char *err, size_t errlen)
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
	state_read(lu);
	lu_fence_state_write(lu, false);
	return 0;
}

void lu_fence_identity_init(struct lbfo_lu *lu)
{
	struct lu_fence *f = &lu->fence;

	f->key_prefix = (fnv1a(FNV_BASIS, lu->cfg.initiator) & 0xffffffff00000000ull) |
			(uint64_t)KEY_MARK << 16;
	f->lock_fd = -1;
}
