/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration of a multipath LU: one declarative table (src/common/
 * cfgtable.h, the same rules as every lbfo configuration file), read from
 * an INI file ([lu], [path NAME], [policy]) or key by key from the nbdkit
 * command line. The --help text and the reference in
 * docs/configuration.md come from the same table (a unit test checks the
 * docs). Every error names the key (and, from a file, the file, line and
 * section).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgtable.h"
#include "lbfo/lu.h"
#include "mpio.h"
#include "lbfo/policy.h"
#include "transport.h"

static const char *const fence_names[] = { "auto", "reinstate", "reservation", "none", NULL };

/* ---- values a type cannot say ------------------------------------------------ */

static int p_policy(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		    size_t len)
{
	struct lbfo_lu_config *c = ctx->user;

	(void)obj;
	if (!lbfo_policy_find(v)) {
		snprintf(why, len, "unknown policy '%s' (see --help)", v);
		return -1;
	}
	snprintf(c->policy, sizeof(c->policy), "%s", v);
	return 0;
}

static int p_lun(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why, size_t len)
{
	struct lbfo_lu_config *c = ctx->user;
	uint64_t n;

	(void)obj;
	if (lbfo_cfg_parse_uint(v, 0, 16383, &n, why, len) < 0)
		return -1;
	c->lun = (int)n;
	return 0;
}

static int p_failback(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		      size_t len)
{
	struct lbfo_lu_config *c = ctx->user;
	const char *e = "";

	(void)obj;
	if (lbfo_failback_parse(v, &c->failback, &c->failback_stable_ns, &e) < 0) {
		snprintf(why, len, "invalid value '%s': %s", v, e);
		return -1;
	}
	return 0;
}

static int p_control(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		     size_t len)
{
	struct lbfo_lu_config *c = obj;

	if (strlen(v) >= sizeof(c->control)) {
		snprintf(why, len, "invalid value: too long (at most %zu characters)",
			 sizeof(c->control) - 1);
		return -1;
	}
	snprintf(c->control, sizeof(c->control), "%s", v);
	/* Given by the user (not the default): a busy one is an error. */
	c->control_set = ctx->line || ctx->file || ctx->key;
	return 0;
}

static int p_portal(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		    size_t len)
{
	struct lbfo_path_config *p = obj;
	char norm[LBFO_STR_MAX];

	(void)ctx;
	if (!v[0] || strpbrk(v, " \t") || strlen(v) >= sizeof(p->portal) ||
	    lbfo_portal_normalise(v, norm, sizeof(norm)) < 0) {
		snprintf(why, len, "invalid value '%s': expected HOST[:PORT], or an IPv6 address "
			 "as [ADDRESS] or [ADDRESS]:PORT", v);
		return -1;
	}
	snprintf(p->portal, sizeof(p->portal), "%s", v);
	return 0;
}

/* Percent with up to two decimals -> basis points. Digits only: no sign,
 * no blank, no exponent, hex, "nan" or "inf" (what strtod would take). */
static int parse_share(const char *v, uint32_t *bp, char *why, size_t len)
{
	uint32_t whole = 0, frac = 0;
	const char *s = v;
	int fd = 0;

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
	snprintf(why, len, "invalid value '%s': expected a percentage 0..100 (digits, at most "
		 "two decimals)", v);
	return -1;
}

static int p_share(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		   size_t len)
{
	struct lbfo_path_config *p = obj;
	uint32_t bp;

	if (parse_share(v, &bp, why, len) < 0)
		return -1;
	if (strcmp(ctx->key, "write_share"))
		p->read_share_bp = bp;
	if (strcmp(ctx->key, "read_share"))
		p->write_share_bp = bp;
	return 0;
}

static int p_interface(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		       size_t len)
{
	struct lbfo_path_config *p = obj;

	(void)ctx;
	if (!v[0] || strchr(v, '/') || !strcmp(v, ".") || !strcmp(v, "..") ||
	    strlen(v) >= sizeof(p->interface)) {
		snprintf(why, len, "invalid value '%s': not an interface name", v);
		return -1;
	}
	snprintf(p->interface, sizeof(p->interface), "%s", v);
	return 0;
}

/* A [policy] key that is not `name`: a parameter of the policy, judged by
 * the policy itself at the check. */
static int p_policy_param(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
			  size_t len)
{
	struct lbfo_lu_config *c = ctx->user;

	(void)obj;
	if (c->npolicy_kv >= LBFO_MAX_POLICY_KV) {
		snprintf(why, len, "too many policy parameters (at most %d)", LBFO_MAX_POLICY_KV);
		return -1;
	}
	if (strlen(ctx->key) >= LBFO_NAME_MAX || strlen(v) >= LBFO_NAME_MAX) {
		snprintf(why, len, "a policy parameter's name and value are at most %d characters",
			 LBFO_NAME_MAX - 1);
		return -1;
	}
	snprintf(c->policy_keys[c->npolicy_kv], LBFO_NAME_MAX, "%s", ctx->key);
	snprintf(c->policy_values[c->npolicy_kv], LBFO_NAME_MAX, "%s", v);
	c->npolicy_kv++;
	return 0;
}

/* ---- the table ---------------------------------------------------------------- */

#define L(f) offsetof(struct lbfo_lu_config, f), sizeof(((struct lbfo_lu_config *)0)->f)
#define P(f) offsetof(struct lbfo_path_config, f), sizeof(((struct lbfo_path_config *)0)->f)
#define MS(k, f, lo, hi, d, text) { .key = k, .type = LBFO_CFG_DURATION, L(f), .min = lo, \
	.max = hi, .def = d, .doc = text }

static const struct lbfo_cfg_key lu_keys[] = {
	{ .key = "target", .type = LBFO_CFG_STRING, L(target), .syntax = "IQN",
	  .def_doc = "every target offered",
	  .doc = "serve this target only; when not given, every target the portals offer "
		 "(SendTargets discovery) is served" },
	{ .key = "lun", .type = LBFO_CFG_CUSTOM, .parse = p_lun, .syntax = "0..16383",
	  .def_doc = "every LUN",
	  .doc = "serve this logical unit number only; when not given, every LUN the targets "
		 "report (REPORT LUNS)" },
	{ .key = "initiator", .type = LBFO_CFG_STRING, L(initiator), .syntax = "IQN",
	  .def_doc = "iqn.2026-11.io.lbfo:HOSTNAME",
	  .doc = "initiator name, the same on every path (ISIDs and reservation keys derive "
		 "from it)" },
	{ .key = "policy", .type = LBFO_CFG_CUSTOM, .parse = p_policy, .syntax = "NAME",
	  .def = LBFO_DEFAULT_POLICY,
	  .doc = "path selection policy: failover, round-robin, weighted, static-share, "
		 "dynamic-share, quota-rr, speed-share, queue-depth, service-time" },
	{ .key = "failback", .type = LBFO_CFG_CUSTOM, .parse = p_failback,
	  .syntax = "immediate, manual, SECONDS or stable", .def = "immediate",
	  .doc = "when a restored path carries I/O again (stable = 10 s of stability)" },
	{ .key = "max_outstanding", .type = LBFO_CFG_UINT, L(max_outstanding), .min = 1,
	  .max = 4096, .def = "64", .doc = "commands in flight on the LU, over all paths" },
	{ .key = "max_transfer", .type = LBFO_CFG_UINT, L(max_transfer), .max = 32u << 20,
	  .def = "0", .doc = "largest command in bytes (0: the target's limit, at most 1 MiB)" },
	MS("no_path_timeout", no_path_timeout_ms, 0, 86400000, "30s",
	   "I/O waits this long for a path (and a write for a fence), then fails with EIO"),
	MS("nop_interval", nop_interval_ms, 10, 600000, "200ms", "NOP-Out keepalive period"),
	MS("nop_timeout", nop_timeout_ms, 50, 600000, "500ms",
	   "a path with no sign of life this long is failed (TCP user timeout: twice this)"),
	MS("cmd_timeout", cmd_timeout_ms, 100, 3600000, "10s",
	   "a command older than this fails its path"),
	MS("login_timeout", login_timeout_ms, 100, 600000, "3s",
	   "connect and login limit (also of a fencing login and of the start-up probe)"),
	MS("reconnect_min", reconnect_min_ms, 10, 600000, "250ms", "first retry after a failure"),
	MS("reconnect_max", reconnect_max_ms, 10, 3600000, "5s",
	   "longest retry interval (the interval doubles up to it)"),
	MS("flap_window", flap_window_ms, 0, 3600000, "30s",
	   "failing again this soon after coming back is flapping"),
	MS("flap_hold_max", flap_hold_max_ms, 0, 3600000, "60s",
	   "longest hold-down of a flapping path (never of the last usable one)"),
	{ .key = "link_watch", .type = LBFO_CFG_BOOL, L(link_watch), .def = "on",
	  .doc = "fail a path at once when the kernel reports its interface down or without "
		 "carrier (rtnetlink)" },
	{ .key = "fence", .type = LBFO_CFG_ENUM, L(fence), .names = fence_names, .def = "auto",
	  .doc = "how a path that failed with a write in flight is fenced: auto (reinstate "
		 "where the start-up check saw it work, else reservation unless another "
		 "initiator uses them, else none), reinstate, reservation, none" },
	{ .key = "header_digest", .type = LBFO_CFG_BOOL, L(header_digest), .def = "off",
	  .doc = "CRC32C header digest" },
	{ .key = "chap_user", .type = LBFO_CFG_STRING, L(chap_user), .doc = "one-way CHAP user" },
	{ .key = "chap_password", .type = LBFO_CFG_STRING, L(chap_password),
	  .doc = "one-way CHAP secret" },
	{ .key = "mutual_user", .type = LBFO_CFG_STRING, L(mutual_user),
	  .doc = "mutual CHAP: the target's user (needs one-way CHAP)" },
	{ .key = "mutual_password", .type = LBFO_CFG_STRING, L(mutual_password),
	  .doc = "mutual CHAP: the target's secret" },
	{ .key = "control", .type = LBFO_CFG_CUSTOM, .parse = p_control, .syntax = "PATH or none",
	  .def_doc = LBFO_DEFAULT_CONTROL,
	  .doc = "control socket for lbfoctl, mode 0600 (a busy socket is an error when given, "
		 "a warning by default)" },
	{ .key = "metrics_listen", .type = LBFO_CFG_STRING, L(metrics_listen),
	  .syntax = "IPV4:PORT", .doc = "serve Prometheus metrics at http://IP:PORT/metrics" },
	{ .key = "lock_dir", .type = LBFO_CFG_STRING, L(lock_dir), .syntax = "DIR or none",
	  .def = LBFO_DEFAULT_LOCK_DIR,
	  .doc = "where the LU's state file lives: locked while lbfo serves the LU (a second "
		 "instance is refused), read by a successor" },
	{ .key = "status_file", .type = LBFO_CFG_STRING, L(status_file), .syntax = "PATH",
	  .doc = "rewrite the status JSON there every status_interval" },
	MS("status_interval", status_interval_ms, 100, 3600000, "500ms",
	   "how often the status file is rewritten"),
};

static const struct lbfo_cfg_key path_keys[] = {
	{ .key = "portal", .type = LBFO_CFG_CUSTOM, .parse = p_portal,
	  .syntax = "HOST[:PORT] or [IPv6][:PORT]", .flags = LBFO_CFG_REQUIRED,
	  .missing = "the path's portal", .doc = "the target portal (port 3260 when not given)" },
	{ .key = "read_share", .type = LBFO_CFG_CUSTOM, .parse = p_share, .syntax = "PERCENT",
	  .def_doc = "even", .doc = "the path's share of read bytes (up to two decimals)" },
	{ .key = "write_share", .type = LBFO_CFG_CUSTOM, .parse = p_share, .syntax = "PERCENT",
	  .def_doc = "even", .doc = "the path's share of written bytes" },
	{ .key = "share", .type = LBFO_CFG_CUSTOM, .parse = p_share, .syntax = "PERCENT",
	  .def_doc = "even", .doc = "both shares" },
	{ .key = "weight", .type = LBFO_CFG_UINT, P(weight), .min = 1, .max = LBFO_WEIGHT_MAX,
	  .def = "1", .doc = "relative weight (weighted, service-time)" },
	{ .key = "interface", .type = LBFO_CFG_CUSTOM, .parse = p_interface, .syntax = "IF",
	  .doc = "the local interface the path leaves through: its byte counters feed "
		 "dynamic-share, and the link watch follows it" },
	{ .key = "chap_user", .type = LBFO_CFG_STRING, P(chap_user),
	  .def_doc = "the LU's", .doc = "one-way CHAP user of this path" },
	{ .key = "chap_password", .type = LBFO_CFG_STRING, P(chap_password),
	  .def_doc = "the LU's", .doc = "one-way CHAP secret of this path" },
	{ .key = "mutual_user", .type = LBFO_CFG_STRING, P(mutual_user),
	  .def_doc = "the LU's", .doc = "mutual CHAP user of this path" },
	{ .key = "mutual_password", .type = LBFO_CFG_STRING, P(mutual_password),
	  .def_doc = "the LU's", .doc = "mutual CHAP secret of this path" },
};

static const struct lbfo_cfg_key policy_keys[] = {
	{ .key = "name", .type = LBFO_CFG_CUSTOM, .parse = p_policy, .syntax = "NAME",
	  .def_doc = "`policy` of [lu]", .doc = "the policy (the same as `policy` in [lu])" },
};

static void *open_path(const struct lbfo_cfg_ctx *ctx, char *why, size_t len)
{
	return lbfo_lu_config_add_path(ctx->user, ctx->name, NULL, why, len);
}

const struct lbfo_cfg_section lbfo_lu_config_sections[3] = {
	{ .name = "lu", .doc = "The LU: target, timers, fencing, the operator's surface.",
	  .keys = lu_keys, .nkeys = sizeof(lu_keys) / sizeof(lu_keys[0]) },
	{ .name = "path", .named = true, .name_max = LBFO_NAME_MAX, .open = open_path,
	  .doc = "One path to the target; the first is primary.",
	  .keys = path_keys, .nkeys = sizeof(path_keys) / sizeof(path_keys[0]) },
	{ .name = "policy", .other = p_policy_param,
	  .doc = "The policy and its parameters (any key other than `name` is a parameter; "
		 "`nbdkit lbfo --help` lists each policy's).",
	  .keys = policy_keys, .nkeys = 1 },
};

const struct lbfo_cfg_table lbfo_lu_config_table = {
	.sections = lbfo_lu_config_sections,
	.nsections = sizeof(lbfo_lu_config_sections) / sizeof(lbfo_lu_config_sections[0]),
};

/* ---- the API ------------------------------------------------------------------ */

void lbfo_lu_config_defaults(struct lbfo_lu_config *c)
{
	char host[64] = "localhost";

	memset(c, 0, sizeof(*c));
	lbfo_cfg_defaults(&lbfo_lu_config_sections[0], c, c);
	c->lun = -1; /* every LUN */
	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");
	snprintf(c->initiator, sizeof(c->initiator), "iqn.2026-11.io.lbfo:%s", host);
	snprintf(c->control, sizeof(c->control), "%s", LBFO_DEFAULT_CONTROL);
	c->control_set = false;
}

struct lbfo_path_config *lbfo_lu_config_add_path(struct lbfo_lu_config *c,
						 const char *name,
						 const char *portal,
						 char *err, size_t errlen)
{
	struct lbfo_path_config *p;
	char why[LBFO_ERR_MAX];
	int i;

	if (c->npaths >= LBFO_MAX_PATHS) {
		snprintf(err, errlen, "too many paths (at most %d)", LBFO_MAX_PATHS);
		return NULL;
	}
	p = &c->paths[c->npaths];
	memset(p, 0, sizeof(*p));
	lbfo_cfg_defaults(&lbfo_lu_config_sections[1], p, c);
	if (name)
		snprintf(p->name, sizeof(p->name), "%s", name);
	else
		snprintf(p->name, sizeof(p->name), "p%d", c->npaths);
	for (i = 0; i < c->npaths; i++)
		if (!strcmp(c->paths[i].name, p->name)) {
			snprintf(err, errlen, "duplicate path name '%s'", p->name);
			return NULL;
		}
	if (portal) {
		struct lbfo_cfg_ctx ctx = { .user = c, .key = "portal" };

		if (p_portal(&ctx, p, portal, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "portal: %s", why);
			return NULL;
		}
	}
	c->npaths++;
	return p;
}

static bool is_path_key(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(path_keys) / sizeof(path_keys[0]); i++)
		if (!strcmp(path_keys[i].key, key))
			return true;
	return false;
}

static bool is_lu_key(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(lu_keys) / sizeof(lu_keys[0]); i++)
		if (!strcmp(lu_keys[i].key, key))
			return true;
	return false;
}

int lbfo_lu_config_set(struct lbfo_lu_config *c, struct lbfo_path_config *path,
		       const char *key, const char *v, bool policy_ok,
		       char *err, size_t errlen)
{
	struct lbfo_cfg_ctx ctx = { .user = c, .key = key };
	char why[LBFO_ERR_MAX];

	if (path)
		return lbfo_cfg_set_obj(&lbfo_lu_config_table, c, "path", path, key, v, err, errlen);
	if (!strcmp(key, "portal"))
		return lbfo_lu_config_add_path(c, NULL, v, err, errlen) ? 0 : -1;
	if (is_lu_key(key))
		return lbfo_cfg_set(&lbfo_lu_config_table, c, "lu", key, v, err, errlen);
	/* On the command line the keys only a path has apply to the last
	 * portal= before them (CHAP keys, which the LU has too, are the LU's). */
	if (is_path_key(key)) {
		if (c->npaths == 0) {
			snprintf(err, errlen, "'%s' is a path key: give it after the path's portal=", key);
			return -1;
		}
		return lbfo_cfg_set_obj(&lbfo_lu_config_table, c, "path",
					&c->paths[c->npaths - 1], key, v, err, errlen);
	}
	if (!policy_ok) {
		snprintf(err, errlen, "%s: unknown key", key);
		return -1;
	}
	if (p_policy_param(&ctx, c, v, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -1;
	}
	return 0;
}

int lbfo_lu_config_load(struct lbfo_lu_config *c, const char *file, char *err, size_t errlen)
{
	return lbfo_cfg_load(&lbfo_lu_config_table, c, file, err, errlen);
}

int lbfo_lu_config_check(const struct lbfo_lu_config *c, char *err, size_t errlen)
{
	int i;

	if (c->npaths == 0) {
		snprintf(err, errlen, "no path: give at least one 'portal'");
		return -1;
	}
	for (i = 0; i < c->npaths; i++)
		if (!c->paths[i].portal[0]) {
			snprintf(err, errlen, "path '%s' has no 'portal'", c->paths[i].name);
			return -1;
		}
	return lbfo_lu_config_check_settings(c, err, errlen);
}

int lbfo_lu_config_check_settings(const struct lbfo_lu_config *c, char *err, size_t errlen)
{
	struct lbfo_team t;
	struct lbfo_kv kv[LBFO_MAX_POLICY_KV];
	int i;
	uint32_t rsum = 0, wsum = 0;

	for (i = 0; i < c->npaths; i++) {
		rsum += c->paths[i].read_share_bp;
		wsum += c->paths[i].write_share_bp;
	}
	if (rsum > LBFO_SHARE_FULL || wsum > LBFO_SHARE_FULL) {
		snprintf(err, errlen, "path shares add up to more than 100%% (read %u.%02u%%, write %u.%02u%%)",
			 rsum / 100, rsum % 100, wsum / 100, wsum % 100);
		return -1;
	}
	if (c->mutual_user[0] && !c->chap_user[0]) {
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
