/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's targets and LUs, made from what discovery found: at start,
 * and for what a rescan finds new. A target is one lbfo_tgt (its path
 * sessions); an LU one lbfo_lu over its targets' sessions, with the
 * host's log, lock and wake-up, its export named from its WWID.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "san_internal.h"

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	h ^= 0xff;
	return h * 0x100000001b3ull;
}

/*
 * One process per (initiator name, target, scope): two processes serving
 * the same part of a target would log in with the same ISIDs and end each
 * other's sessions over and over (each login reinstates the other's). A
 * lock under lock_dir, held while the process lives, refuses the second:
 * its LUs of that target are left out. Returns 0 (locked, or no lock_dir),
 * 1 when another process holds it (pid in *other), -1 on an error that
 * only costs the check (said in the log).
 */
static int lock_target(struct lbfo_host *h, const char *iqn, const char *scope, int *other)
{
	const struct lbfo_lu_config *c = &h->cfg.lu;
	char path[LBFO_STR_MAX + 64], buf[32];
	uint64_t k;
	ssize_t n;
	int fd;

	*other = 0;
	if (!c->lock_dir[0] || !strcmp(c->lock_dir, "none"))
		return 0;
	if (mkdir(c->lock_dir, 0755) < 0 && errno != EEXIST)
		return -1;
	k = fnv1a(fnv1a(fnv1a(0xcbf29ce484222325ull, c->initiator), iqn), scope[0] ? scope : "*");
	snprintf(path, sizeof(path), "%.*s/target-%016" PRIx64 ".lock", LBFO_STR_MAX - 1,
		 c->lock_dir, k);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		*other = atoi(buf);
		close(fd);
		return 1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		/* the pid is only for the other's message */
	}
	if (h->nlocks < (int)(sizeof(h->lock_fds) / sizeof(h->lock_fds[0])))
		h->lock_fds[h->nlocks++] = fd;
	else
		close(fd); /* more targets than locks kept: the check is lost, said nowhere */
	return 0;
}

/* The host's target with this IQN, or -1. */
int host_target_index(const struct lbfo_host *h, const char *iqn)
{
	int t;

	for (t = 0; t < h->ntgts; t++)
		if (!strcmp(lbfo_tgt_name(h->tgts[t]), iqn))
			return t;
	return -1;
}

int host_add_targets(struct lbfo_host *h, const struct lbfo_san *san, uint64_t now, char *err,
		     size_t errlen)
{
	struct lbfo_lu_config tc = h->cfg.lu;
	char scope[16] = "";
	int t;

	tc.log = host_tgt_log_hook;
	tc.log_opaque = h;
	if (h->cfg.lu.lun >= 0)
		snprintf(scope, sizeof(scope), "%d", h->cfg.lu.lun);
	for (t = 0; t < san->ntargets; t++) {
		const struct san_target *st = &san->targets[t];
		struct lbfo_tgt **nt;

		int other, lk;

		if (host_target_index(h, st->iqn) >= 0)
			continue;
		lk = lock_target(h, st->iqn, scope, &other);
		if (lk > 0) {
			snprintf(h->refused, sizeof(h->refused), "target %.100s%s%s is already served "
				 "by another lbfo process (pid %d) under initiator name %.80s: a second "
				 "instance is refused", st->iqn, scope[0] ? " LUN " : "", scope, other,
				 h->cfg.lu.initiator);
			host_log(h, LBFO_LOG_WARNING, "%s; its LUs are not served here", h->refused);
			continue;
		}
		if (lk < 0)
			host_log(h, LBFO_LOG_WARNING, "target %s: lock under %s: %s; a second lbfo "
				 "process on it cannot be refused", st->iqn, h->cfg.lu.lock_dir,
				 strerror(errno));
		nt = realloc(h->tgts, (size_t)(h->ntgts + 1) * sizeof(*nt));
		if (!nt) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		h->tgts = nt;
		h->tgts[h->ntgts] = lbfo_tgt_create(&tc, st->iqn, scope, st->paths, st->npaths,
						    &st->chk, &h->env, now, err, errlen);
		if (!h->tgts[h->ntgts])
			return -1;
		h->ntgts++;
	}
	return 0;
}

/* The LU's paths over the host's targets (each path of discovery's
 * target t is the host target of the same IQN, path of the same portal). */
static int pathspecs(const struct lbfo_host *h, const struct lbfo_san *san,
		     const struct san_lu *sl, struct lbfo_lu_pathspec *ps, int *expect)
{
	int i, n = 0;

	*expect = 0;
	for (i = 0; i < sl->npaths; i++) {
		const struct san_target *st = &san->targets[sl->paths[i].target];
		int t = host_target_index(h, st->iqn), tp;

		if (t < 0 || (tp = lbfo_tgt_path_of(h->tgts[t], st->paths[sl->paths[i].tpath])) < 0)
			continue; /* a portal the host's target does not have (a rescan) */
		ps[n].tgt = h->tgts[t];
		ps[n].tpath = tp;
		ps[n].lun = sl->paths[i].lun;
		*expect += st->chk.reachable[sl->paths[i].tpath];
		n++;
	}
	return n;
}

static bool pathspecs_any(const struct lbfo_host *h, const struct lbfo_san *san,
			  const struct san_lu *sl)
{
	struct lbfo_lu_pathspec ps[LBFO_MAX_PATHS];
	int expect;

	return pathspecs(h, san, sl, ps, &expect) > 0;
}

struct host_lu *host_make_lu(struct lbfo_host *h, const struct lbfo_san *san,
			     const struct san_lu *sl, uint64_t now, char *err, size_t errlen)
{
	struct lbfo_lu_pathspec ps[LBFO_MAX_PATHS];
	struct host_lu *hl = calloc(1, sizeof(*hl));
	struct lbfo_lu_config *c;
	int n;

	if (!hl || !(c = malloc(sizeof(*c)))) {
		free(hl);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	hl->host = h;
	snprintf(hl->wwid, sizeof(hl->wwid), "%s", sl->id.id);
	lbfo_export_name(sl->id.id, hl->export, sizeof(hl->export));
	n = pathspecs(h, san, sl, ps, &hl->expect);
	/* The defaults, and its [lu NAME] section (checked when the file
	 * was read: an error here is a bug, said and not hidden). */
	if (lbfo_host_lu_config(&h->cfg, hl->wwid, hl->export, c, hl->alias, sizeof(hl->alias),
				err, errlen) < 0) {
		free(c);
		free(hl);
		return NULL;
	}
	c->log = host_lu_log_hook;
	c->log_opaque = hl;
	hl->lu = n ? lbfo_lu_create(c, &sl->id, ps, n, &h->env, now, err, errlen) : NULL;
	if (!n)
		snprintf(err, errlen, "LU %s: no path over the host's targets", sl->id.id);
	free(c);
	if (!hl->lu) {
		free(hl);
		return NULL;
	}
	return hl;
}

/* Take the LU's lock and add it; a second instance on it: left out. */
static int add_lu(struct lbfo_host *h, struct host_lu *hl, bool only, char *err, size_t errlen)
{
	char lerr[LBFO_ERR_MAX];
	struct host_lu **nl;

	if (lbfo_lu_lock(hl->lu, lerr, sizeof(lerr)) < 0) {
		lbfo_lu_destroy(hl->lu);
		free(hl);
		if (only) {
			snprintf(err, errlen, "%s", lerr);
			return -1;
		}
		host_log(h, LBFO_LOG_WARNING, "%s: not served here", lerr);
		return 0;
	}
	nl = realloc(h->lus, (size_t)(h->nlus + 1) * sizeof(*nl));
	if (!nl) {
		lbfo_lu_destroy(hl->lu);
		free(hl);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->lus = nl;
	h->lus[h->nlus++] = hl;
	return 1;
}

/* The blacklist says no: said once, and the LU is left alone. */
static bool blacklisted(struct lbfo_host *h, const struct san_lu *sl)
{
	char why[LBFO_STR_MAX];

	if (!lbfo_host_blacklisted(&h->cfg, &sl->id, why, sizeof(why)))
		return false;
	host_log(h, LBFO_LOG_NOTICE, "LU %s (%s %s) blacklisted (%s): not served", sl->id.id,
		 sl->id.vendor, sl->id.product, why);
	return true;
}

int host_add_lus(struct lbfo_host *h, const struct lbfo_san *san, uint64_t now, char *err,
		 size_t errlen)
{
	int k, listed = 0;

	h->multi = san->nlus > 1;
	for (k = 0; k < san->nlus; k++) {
		struct host_lu *hl;

		if (blacklisted(h, &san->lus[k])) {
			listed++;
			continue;
		}
		hl = host_make_lu(h, san, &san->lus[k], now, err, errlen);
		if (!hl && !pathspecs_any(h, san, &san->lus[k])) {
			/* every target of it is another process's: said above */
			if (san->nlus == 1) {
				snprintf(err, errlen, "%s", h->refused);
				return -1;
			}
			listed++;
			continue;
		}
		if (!hl || add_lu(h, hl, san->nlus == 1, err, errlen) < 0)
			return -1;
	}
	if (!h->nlus) {
		snprintf(err, errlen, "no LU to serve: of %d found, %d blacklisted or of a target "
			 "another lbfo process serves, the others served by another lbfo process",
			 san->nlus, listed);
		return -1;
	}
	return 0;
}

int host_add_lu(struct lbfo_host *h, const struct lbfo_san *san, const struct san_lu *sl,
		uint64_t now, char *err, size_t errlen)
{
	struct host_lu *hl;

	if (blacklisted(h, sl))
		return 1;
	hl = host_make_lu(h, san, sl, now, err, errlen);
	if (!hl)
		return -1;
	h->multi = true;
	switch (add_lu(h, hl, false, err, errlen)) {
	case 1: return 0;
	case 0: return 1; /* another process serves it */
	default: return -1;
	}
}
