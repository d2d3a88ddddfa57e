/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration of a multipath LU: defaults, key=value parsing (shared by
 * the nbdkit command line and the INI file) and checks. Every error names
 * the key (and, from a file, the file, line and section).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inifile.h"
#include "lbfo/lu.h"
#include "lbfo/policy.h"
#include "transport.h"

const char lbfo_lu_config_help[] =
"LU keys (command line key=value, or [lu] in config=FILE):\n"
"  portal=HOST[:PORT]     a path to the target; repeat once per path (port 3260);\n"
"                         an IPv6 address as [ADDRESS] or [ADDRESS]:PORT\n"
"  target=IQN             target name (default: found by SendTargets discovery\n"
"                         when the portals offer exactly one target)\n"
"  lun=N                  logical unit number (default 0)\n"
"  initiator=IQN          initiator name (default iqn.2026-11.io.lbfo:HOSTNAME)\n"
"  policy=NAME            path selection policy (default " LBFO_DEFAULT_POLICY "):\n"
"                         failover round-robin weighted static-share dynamic-share\n"
"                         quota-rr speed-share queue-depth service-time\n"
"  failback=WHEN          immediate | manual | SECONDS of stability | stable (= 10 s)\n"
"                         (default immediate)\n"
"  max_outstanding=N      commands in flight on the LU (default 64)\n"
"  max_transfer=BYTES     largest command (default: the target's, at most 1 MiB)\n"
"  no_path_timeout=MS     queue I/O this long with no path, then EIO (default 30000)\n"
"  nop_interval=MS        NOP-Out keepalive period (default 200)\n"
"  nop_timeout=MS         a path with no sign of life this long is failed (default 500)\n"
"  link_watch=on|off      fail a path at once when the kernel reports its interface\n"
"                         down or without carrier (rtnetlink; default on)\n"
"  fence=METHOD           how a failed path is fenced before its writes go again:\n"
"                         auto (default: session reinstatement where the start-up\n"
"                         check saw it work, else SCSI persistent reservations if\n"
"                         no other initiator uses them, else none), reinstate,\n"
"                         reservation, none (docs/failover.md, Fencing)\n"
"  lock_dir=DIR           where the one-instance-per-LU lock and state live\n"
"                         (default " LBFO_DEFAULT_LOCK_DIR "; none = no lock)\n"
"  cmd_timeout=MS         a command older than this fails its path (default 10000)\n"
"  login_timeout=MS       connect + login limit (default 3000)\n"
"  reconnect_min=MS       first retry after a failure (default 250)\n"
"  reconnect_max=MS       longest retry interval (default 5000)\n"
"  flap_window=MS         failing again this soon after restore = flapping (default 30000)\n"
"  flap_hold_max=MS       longest hold-down for a flapping path (default 60000)\n"
"  chap_user=, chap_password=          one-way CHAP\n"
"  mutual_user=, mutual_password=      mutual CHAP (needs one-way CHAP)\n"
"  header_digest=on|off   CRC32C header digest (default off)\n"
"  control=PATH           control socket for lbfoctl, mode 0600 (default\n"
"                         " LBFO_DEFAULT_CONTROL "; none = no socket)\n"
"  metrics_listen=IP:PORT serve Prometheus metrics at http://IP:PORT/metrics\n"
"                         (default off; use 127.0.0.1)\n"
"  status_file=PATH       rewrite the status JSON there every status_interval\n"
"  status_interval=MS     (default 500)\n"
"  log=stderr|syslog      where events go, one line each with its syslog level\n"
"                         (nbdkit plugin; default stderr)\n"
"  KEY=VALUE              any other key is a parameter of the policy\n"
"Path keys ([path NAME] in config=FILE):\n"
"  portal=HOST[:PORT], read_share=PCT, write_share=PCT, share=PCT (both),\n"
"  weight=N, chap_user=, chap_password=, mutual_user=, mutual_password=,\n"
"  interface=IF           the local interface the path leaves through: its byte\n"
"                         counters count as the path's traffic for dynamic-share\n"
"                         (so other teams' and foreign traffic on it count)\n"
"On the command line, path keys apply to the last portal=: interface=IF after it.\n"
"Policy parameters in a file go in [policy].\n";

void lbfo_lu_config_defaults(struct lbfo_lu_config *c)
{
	char host[64] = "localhost";

	memset(c, 0, sizeof(*c));
	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");
	snprintf(c->initiator, sizeof(c->initiator), "iqn.2026-11.io.lbfo:%s", host);
	snprintf(c->policy, sizeof(c->policy), "%s", LBFO_DEFAULT_POLICY);
	c->failback = LBFO_FAILBACK_IMMEDIATE;
	c->max_outstanding = 64;
	c->no_path_timeout_ms = 30000;
	c->nop_interval_ms = 200;
	c->nop_timeout_ms = 500;
	c->link_watch = true;
	c->cmd_timeout_ms = 10000;
	c->login_timeout_ms = 3000;
	c->reconnect_min_ms = 250;
	c->reconnect_max_ms = 5000;
	c->flap_window_ms = 30000;
	c->flap_hold_max_ms = 60000;
	c->status_interval_ms = 500;
	c->fence = LBFO_FENCE_AUTO;
	snprintf(c->control, sizeof(c->control), "%s", LBFO_DEFAULT_CONTROL);
	snprintf(c->lock_dir, sizeof(c->lock_dir), "%s", LBFO_DEFAULT_LOCK_DIR);
}

static int copy_str(char *dst, size_t len, const char *key, const char *v,
		    char *err, size_t errlen)
{
	if (strlen(v) >= len) {
		snprintf(err, errlen, "value of '%s' is too long (max %zu)", key, len - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int parse_u32(const char *key, const char *v, uint32_t min, uint32_t max,
		     uint32_t *out, char *err, size_t errlen)
{
	return lbfo_ini_u32(key, v, min, max, out, err, errlen);
}

/* Percent with up to two decimals -> basis points. Digits only: no sign,
 * no blank, no exponent, hex, "nan" or "inf" (what strtod would take). */
static int parse_share(const char *key, const char *v, uint32_t *bp, char *err,
		       size_t errlen)
{
	uint32_t whole = 0, frac = 0;
	const char *s = v;
	int fd = 0;

	if (!*s)
		goto bad;
	for (; *s >= '0' && *s <= '9' && whole <= 100; s++)
		whole = whole * 10 + (uint32_t)(*s - '0');
	if (s == v)
		goto bad;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9' && fd < 2; s++, fd++)
			frac = frac * 10 + (uint32_t)(*s - '0');
		if (fd == 0)
			goto bad;
		if (fd == 1)
			frac *= 10;
	}
	if (*s || whole > 100 || (whole == 100 && frac))
		goto bad;
	*bp = whole * 100 + frac;
	return 0;
bad:
	snprintf(err, errlen, "invalid value '%s' for '%s': expected a percentage 0..100 "
		 "(digits, at most two decimals)", v, key);
	return -1;
}

static int parse_bool(const char *key, const char *v, bool *out, char *err,
		      size_t errlen)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else {
		snprintf(err, errlen, "invalid value '%s' for '%s': expected on or off", v, key);
		return -1;
	}
	return 0;
}

static int set_portal(struct lbfo_path_config *p, const char *v, char *err, size_t errlen)
{
	char norm[LBFO_STR_MAX];

	if (!v[0] || strpbrk(v, " \t") || lbfo_portal_normalise(v, norm, sizeof(norm)) < 0) {
		snprintf(err, errlen, "invalid value '%s' for 'portal': expected HOST[:PORT], "
			 "or an IPv6 address as [ADDRESS] or [ADDRESS]:PORT", v);
		return -1;
	}
	return copy_str(p->portal, sizeof(p->portal), "portal", v, err, errlen);
}

struct lbfo_path_config *lbfo_lu_config_add_path(struct lbfo_lu_config *c,
						 const char *name,
						 const char *portal,
						 char *err, size_t errlen)
{
	struct lbfo_path_config *p;
	int i;

	if (c->npaths >= LBFO_MAX_MEMBERS) {
		snprintf(err, errlen, "too many paths (at most %d)", LBFO_MAX_MEMBERS);
		return NULL;
	}
	p = &c->paths[c->npaths];
	memset(p, 0, sizeof(*p));
	if (name)
		snprintf(p->name, sizeof(p->name), "%s", name);
	else
		snprintf(p->name, sizeof(p->name), "p%d", c->npaths);
	for (i = 0; i < c->npaths; i++)
		if (!strcmp(c->paths[i].name, p->name)) {
			snprintf(err, errlen, "duplicate path name '%s'", p->name);
			return NULL;
		}
	if (portal && set_portal(p, portal, err, errlen) < 0)
		return NULL;
	c->npaths++;
	return p;
}

static int set_path_key(struct lbfo_path_config *p, const char *key,
			const char *v, char *err, size_t errlen)
{
	if (!strcmp(key, "portal"))
		return set_portal(p, v, err, errlen);
	if (!strcmp(key, "read_share"))
		return parse_share(key, v, &p->read_share_bp, err, errlen);
	if (!strcmp(key, "write_share"))
		return parse_share(key, v, &p->write_share_bp, err, errlen);
	if (!strcmp(key, "share")) {
		if (parse_share(key, v, &p->read_share_bp, err, errlen) < 0)
			return -1;
		p->write_share_bp = p->read_share_bp;
		return 0;
	}
	if (!strcmp(key, "weight"))
		return parse_u32(key, v, 1, LBFO_WEIGHT_MAX, &p->weight, err, errlen);
	if (!strcmp(key, "interface")) {
		if (!v[0] || strchr(v, '/') || !strcmp(v, ".") || !strcmp(v, "..")) {
			snprintf(err, errlen, "invalid value '%s' for 'interface': not an interface name", v);
			return -1;
		}
		return copy_str(p->interface, sizeof(p->interface), key, v, err, errlen);
	}
	if (!strcmp(key, "chap_user"))
		return copy_str(p->chap_user, sizeof(p->chap_user), key, v, err, errlen);
	if (!strcmp(key, "chap_password"))
		return copy_str(p->chap_password, sizeof(p->chap_password), key, v, err, errlen);
	if (!strcmp(key, "mutual_user"))
		return copy_str(p->mutual_user, sizeof(p->mutual_user), key, v, err, errlen);
	if (!strcmp(key, "mutual_password"))
		return copy_str(p->mutual_password, sizeof(p->mutual_password), key, v, err, errlen);
	snprintf(err, errlen, "unknown path key '%s'", key);
	return -1;
}

struct ms_key {
	const char *key;
	size_t off;
	uint32_t min, max;
};
#define MS(k, f, lo, hi) { k, offsetof(struct lbfo_lu_config, f), lo, hi }
static const struct ms_key ms_keys[] = {
	MS("no_path_timeout", no_path_timeout_ms, 0, 86400000),
	MS("nop_interval", nop_interval_ms, 10, 600000),
	MS("nop_timeout", nop_timeout_ms, 50, 600000),
	MS("cmd_timeout", cmd_timeout_ms, 100, 3600000),
	MS("login_timeout", login_timeout_ms, 100, 600000),
	MS("reconnect_min", reconnect_min_ms, 10, 600000),
	MS("reconnect_max", reconnect_max_ms, 10, 3600000),
	MS("flap_window", flap_window_ms, 0, 3600000),
	MS("flap_hold_max", flap_hold_max_ms, 0, 3600000),
	MS("max_outstanding", max_outstanding, 1, 4096),
	MS("max_transfer", max_transfer, 0, 32u << 20),
	MS("status_interval", status_interval_ms, 100, 3600000),
};

int lbfo_lu_config_set(struct lbfo_lu_config *c, struct lbfo_path_config *path,
		       const char *key, const char *v, bool policy_ok,
		       char *err, size_t errlen)
{
	size_t i;

	if (path)
		return set_path_key(path, key, v, err, errlen);
	/* Keys that only a path has apply, on the command line, to the path
	 * of the last portal= before them. */
	if (!strcmp(key, "interface") || !strcmp(key, "share") || !strcmp(key, "read_share") ||
	    !strcmp(key, "write_share") || !strcmp(key, "weight")) {
		if (c->npaths == 0) {
			snprintf(err, errlen, "'%s' is a path key: give it after the path's portal=", key);
			return -1;
		}
		return set_path_key(&c->paths[c->npaths - 1], key, v, err, errlen);
	}
	if (!strcmp(key, "portal"))
		return lbfo_lu_config_add_path(c, NULL, v, err, errlen) ? 0 : -1;
	if (!strcmp(key, "target"))
		return copy_str(c->target, sizeof(c->target), key, v, err, errlen);
	if (!strcmp(key, "initiator"))
		return copy_str(c->initiator, sizeof(c->initiator), key, v, err, errlen);
	if (!strcmp(key, "lun")) {
		uint32_t lun;

		if (parse_u32(key, v, 0, 16383, &lun, err, errlen) < 0)
			return -1;
		c->lun = (int)lun;
		return 0;
	}
	if (!strcmp(key, "policy")) {
		if (!lbfo_policy_find(v)) {
			snprintf(err, errlen, "unknown policy '%s' for 'policy' (see --help)", v);
			return -1;
		}
		return copy_str(c->policy, sizeof(c->policy), key, v, err, errlen);
	}
	if (!strcmp(key, "failback")) {
		const char *why = "";

		if (lbfo_failback_parse(v, &c->failback, &c->failback_stable_ns, &why) < 0) {
			snprintf(err, errlen, "invalid value '%s' for 'failback': %s", v, why);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "control")) {
		c->control_set = true;
		return copy_str(c->control, sizeof(c->control), key, v, err, errlen);
	}
	if (!strcmp(key, "metrics_listen"))
		return copy_str(c->metrics_listen, sizeof(c->metrics_listen), key, v, err, errlen);
	if (!strcmp(key, "status_file"))
		return copy_str(c->status_file, sizeof(c->status_file), key, v, err, errlen);
	if (!strcmp(key, "header_digest"))
		return parse_bool(key, v, &c->header_digest, err, errlen);
	if (!strcmp(key, "link_watch"))
		return parse_bool(key, v, &c->link_watch, err, errlen);
	if (!strcmp(key, "fence")) {
		int m;

		for (m = 0; m < LBFO_FENCE__MAX; m++)
			if (!strcmp(v, lbfo_fence_name((enum lbfo_fence_method)m))) {
				c->fence = (enum lbfo_fence_method)m;
				return 0;
			}
		snprintf(err, errlen, "invalid value '%s' for 'fence': expected auto, reinstate, "
			 "reservation or none", v);
		return -1;
	}
	if (!strcmp(key, "lock_dir"))
		return copy_str(c->lock_dir, sizeof(c->lock_dir), key, v, err, errlen);
	if (!strcmp(key, "chap_user"))
		return copy_str(c->chap_user, sizeof(c->chap_user), key, v, err, errlen);
	if (!strcmp(key, "chap_password"))
		return copy_str(c->chap_password, sizeof(c->chap_password), key, v, err, errlen);
	if (!strcmp(key, "mutual_user"))
		return copy_str(c->mutual_user, sizeof(c->mutual_user), key, v, err, errlen);
	if (!strcmp(key, "mutual_password"))
		return copy_str(c->mutual_password, sizeof(c->mutual_password), key, v, err, errlen);
	for (i = 0; i < sizeof(ms_keys) / sizeof(ms_keys[0]); i++)
		if (!strcmp(key, ms_keys[i].key))
			return parse_u32(key, v, ms_keys[i].min, ms_keys[i].max,
					 (uint32_t *)((char *)c + ms_keys[i].off), err, errlen);
	if (!policy_ok) {
		snprintf(err, errlen, "unknown key '%s'", key);
		return -1;
	}
	if (c->npolicy_kv >= LBFO_MAX_POLICY_KV) {
		snprintf(err, errlen, "too many policy parameters at '%s'", key);
		return -1;
	}
	if (copy_str(c->policy_keys[c->npolicy_kv], LBFO_NAME_MAX, key, key, err, errlen) < 0 ||
	    copy_str(c->policy_values[c->npolicy_kv], LBFO_NAME_MAX, key, v, err, errlen) < 0)
		return -1;
	c->npolicy_kv++;
	return 0;
}

struct ini_ctx {
	struct lbfo_lu_config *c;
	const char *file;
	char *err;
	size_t errlen;
	int failed;
	char section[LBFO_STR_MAX];
	struct lbfo_path_config *path;
	int lineno;
};

static int ini_cb(void *user, const char *section, const char *name,
		  const char *value)
{
	struct ini_ctx *x = user;
	int lineno = x->lineno;
	char why[LBFO_ERR_MAX] = "";
	int rc;

	if (x->failed)
		return 0;
	if (!section) /* never from inih; says so to GCC's -O2 + sanitizer build */
		section = "";
	if (strcmp(section, x->section)) {
		snprintf(x->section, sizeof(x->section), "%s", section);
		x->path = NULL;
		if (!strncmp(section, "path ", 5) || !strcmp(section, "path")) {
			const char *pname = section[4] ? section + 5 : NULL;
			int i;

			if (pname && (!*pname || strpbrk(pname, " \t"))) {
				snprintf(why, sizeof(why), "invalid path name '%s' (a name without "
					 "blanks after 'path ')", pname);
				goto fail;
			}

			for (i = 0; i < x->c->npaths; i++)
				if (pname && !strcmp(x->c->paths[i].name, pname))
					x->path = &x->c->paths[i];
			if (!x->path)
				x->path = lbfo_lu_config_add_path(x->c, pname, NULL, why, sizeof(why));
			if (!x->path)
				goto fail;
		} else if (strcmp(section, "lu") && strcmp(section, "policy")) {
			snprintf(why, sizeof(why), "unknown section (expected [lu], [policy] or [path NAME])");
			goto fail;
		}
	}
	if (!name) /* a section header alone (inih >= 48 reports them) */
		return 1;
	if (!strcmp(section, "policy")) {
		if (!strcmp(name, "name"))
			rc = lbfo_lu_config_set(x->c, NULL, "policy", value, false, why, sizeof(why));
		else
			rc = lbfo_lu_config_set(x->c, NULL, name, value, true, why, sizeof(why));
		/* A policy key that collides with an LU key is still a policy
		 * key inside [policy]. */
	} else if (x->path) {
		rc = lbfo_lu_config_set(x->c, x->path, name, value, false, why, sizeof(why));
	} else {
		if (!strcmp(name, "portal")) {
			snprintf(why, sizeof(why), "'portal' belongs in a [path NAME] section");
			rc = -1;
		} else {
			rc = lbfo_lu_config_set(x->c, NULL, name, value, false, why, sizeof(why));
		}
	}
	if (rc == 0)
		return 1;
fail:
	snprintf(x->err, x->errlen, "%s:%d: [%s]: %s", x->file, lineno, section, why);
	x->failed = 1;
	return 0;
}

int lbfo_lu_config_load(struct lbfo_lu_config *c, const char *file, char *err,
			size_t errlen)
{
	struct ini_ctx x = { .c = c, .file = file, .err = err, .errlen = errlen };
	int rc;

	rc = lbfo_ini_parse(file, ini_cb, &x, &x.lineno, err, errlen);
	if (x.failed || rc < 0)
		return -1;
	if (rc > 0) {
		snprintf(err, errlen, "%s:%d: syntax error", file, rc);
		return -1;
	}
	return 0;
}

int lbfo_lu_config_check(const struct lbfo_lu_config *c, char *err, size_t errlen)
{
	struct lbfo_team t;
	struct lbfo_kv kv[LBFO_MAX_POLICY_KV];
	int i;
	uint32_t rsum = 0, wsum = 0;

	if (c->npaths == 0) {
		snprintf(err, errlen, "no path: give at least one 'portal'");
		return -1;
	}
	for (i = 0; i < c->npaths; i++) {
		if (!c->paths[i].portal[0]) {
			snprintf(err, errlen, "path '%s' has no 'portal'", c->paths[i].name);
			return -1;
		}
		rsum += c->paths[i].read_share_bp;
		wsum += c->paths[i].write_share_bp;
	}
	if (rsum > LBFO_SHARE_FULL || wsum > LBFO_SHARE_FULL) {
		snprintf(err, errlen, "path shares add up to more than 100%% (read %u.%02u%%, write %u.%02u%%)",
			 rsum / 100, rsum % 100, wsum / 100, wsum % 100);
		return -1;
	}
	if ((c->mutual_user[0] && !c->chap_user[0])) {
		snprintf(err, errlen, "'mutual_user' needs one-way CHAP ('chap_user') too");
		return -1;
	}
	if (c->reconnect_min_ms > c->reconnect_max_ms) {
		snprintf(err, errlen, "'reconnect_min' (%u) is above 'reconnect_max' (%u)",
			 c->reconnect_min_ms, c->reconnect_max_ms);
		return -1;
	}
	/* Let the policy judge its own parameters now, not at first I/O. */
	for (i = 0; i < c->npolicy_kv; i++) {
		kv[i].key = c->policy_keys[i];
		kv[i].value = c->policy_values[i];
	}
	if (lbfo_team_init(&t, "check", NULL, c->policy, kv, (size_t)c->npolicy_kv) < 0) {
		snprintf(err, errlen, "%s", lbfo_team_error(&t));
		return -1;
	}
	lbfo_team_destroy(&t);
	return 0;
}
