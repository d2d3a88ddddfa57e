/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario files (INI, parsed by libinih). Every key is checked; unknown
 * keys, bad values and duplicates are errors naming file, line, section
 * and key.
 */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"
#include "sim.h"

void sim_scenario_defaults(struct sim_scenario *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->queue_depth = 32;
	sc->read_pct = 70;
	sc->request_size = 1024 * 1024;
	sc->duration_s = 10;
	sc->seed = 1;
	sc->no_path_timeout_s = 30;
	sc->failback = LBFO_FAILBACK_IMMEDIATE;
	sc->adapter_counters = true;
}

static void path_defaults(struct sim_path_cfg *p, const char *name, int line)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->read_share = p->write_share = -1;
	p->weight = 1;
	p->fifo = true;
	p->fail_at_s = -1;
	p->restore_at_s = -1;
	p->detect_ms = 0;
	p->bg_stop_s = -1;
	p->line = line;
}

/* --- value parsers: strict, no trailing junk ------------------------- */

static int parse_double(const char *v, double min, double max, double *out,
			char *why, size_t whylen)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || *end != '\0' || !isfinite(x)) {
		snprintf(why, whylen, "not a number");
		return -1;
	}
	if (x < min || x > max) {
		snprintf(why, whylen, "out of range %g..%g", min, max);
		return -1;
	}
	*out = x;
	return 0;
}

static int parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out,
		     char *why, size_t whylen)
{
	char *end;
	unsigned long long x;

	errno = 0;
	if (v[0] < '0' || v[0] > '9') {
		snprintf(why, whylen, "not a whole number");
		return -1;
	}
	x = strtoull(v, &end, 10);
	if (errno || *end != '\0') {
		snprintf(why, whylen, "not a whole number");
		return -1;
	}
	if (x < min || x > max) {
		snprintf(why, whylen, "out of range %llu..%llu",
			 (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = x;
	return 0;
}

/* Bytes with an optional binary suffix: 4096, 256k, 256KiB, 1M, 1MiB. */
static int parse_size(const char *v, uint64_t min, uint64_t max, uint64_t *out,
		      char *why, size_t whylen)
{
	static const struct { const char *s; uint64_t mul; } suf[] = {
		{ "", 1 }, { "k", 1024 }, { "K", 1024 }, { "KiB", 1024 },
		{ "m", 1048576 }, { "M", 1048576 }, { "MiB", 1048576 },
	};
	char *end;
	unsigned long long x;
	size_t i;

	errno = 0;
	if (v[0] < '0' || v[0] > '9')
		goto bad;
	x = strtoull(v, &end, 10);
	if (errno)
		goto bad;
	for (i = 0; i < sizeof(suf) / sizeof(suf[0]); i++) {
		if (strcmp(end, suf[i].s))
			continue;
		if (x > max / suf[i].mul || x * suf[i].mul < min ||
		    x * suf[i].mul > max) {
			snprintf(why, whylen, "out of range %llu..%llu bytes",
				 (unsigned long long)min, (unsigned long long)max);
			return -1;
		}
		*out = x * suf[i].mul;
		return 0;
	}
bad:
	snprintf(why, whylen, "expected bytes, optionally with k/KiB or M/MiB");
	return -1;
}

int sim_parse_sharing(const char *v, bool *fifo, char *why, size_t whylen)
{
	if (!strcmp(v, "ps") || !strcmp(v, "fifo")) {
		*fifo = !strcmp(v, "fifo");
		return 0;
	}
	snprintf(why, whylen, "expected 'fifo' or 'ps' (processor sharing)");
	return -1;
}

static int parse_bool(const char *v, bool *out, char *why, size_t whylen)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	snprintf(why, whylen, "expected yes or no");
	return -1;
}

/* --- keys ------------------------------------------------------------- */

enum sec_kind { SEC_SCENARIO, SEC_WORKLOAD, SEC_TEAM, SEC_PATH, SEC_POLICY };

static const char *const scenario_keys[] = { "description", NULL };
static const char *const workload_keys[] = {
	"queue_depth", "read_pct", "request_size", "request_size_max",
	"duration_s", "seed", "no_path_timeout_s", NULL,
};
static const char *const team_keys[] = {
	"policy", "max_outstanding", "failback", "adapter_counters", NULL,
};
static const char *const path_keys[] = {
	"bandwidth_mbit", "latency_ms", "queue_limit", "share", "read_share",
	"write_share", "weight", "fail_at_s", "restore_at_s", "detect_ms",
	"bg_mbit", "bg_start_s", "bg_stop_s", "sharing", NULL,
};

static int key_index(const char *const *keys, const char *key)
{
	int i;

	for (i = 0; keys[i]; i++)
		if (!strcmp(keys[i], key))
			return i;
	return -1;
}

static void list_keys(char *buf, size_t len, const char *const *keys)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; keys[i] && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", keys[i]);
}

static void errf(char *err, size_t errlen, const char *section, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void errf(char *err, size_t errlen, const char *section, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	n = (size_t)snprintf(err, errlen, "[%s]: ", section);
	if (n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
}

/* Try the policy with this one parameter so that a bad value is reported
 * where it was written. */
static int trial_param(const char *policy, const char *key, const char *value,
		       char *msg, size_t msglen)
{
	struct lbfo_team *t = calloc(1, sizeof(*t));
	struct lbfo_kv kv = { key, value };
	int rc;

	if (!t) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	rc = lbfo_team_init(t, "check", NULL, policy, &kv, 1);
	if (rc < 0)
		snprintf(msg, msglen, "%s", lbfo_team_error(t));
	lbfo_team_destroy(t);
	free(t);
	return rc;
}

static bool policy_accepts(const struct lbfo_policy_ops *o, const char *key)
{
	const struct lbfo_param_desc *d;

	for (d = o->params; d && d->key; d++)
		if (!strcmp(d->key, key))
			return true;
	return false;
}

static int add_param(struct sim_scenario *sc, const char *policy,
		     const char *key, const char *value, const char *where,
		     char *err, size_t errlen)
{
	struct sim_param *p;

	if (sc->nparams >= SIM_MAX_PARAMS) {
		snprintf(err, errlen, "too many policy parameters (at most %d)",
			 SIM_MAX_PARAMS);
		return -1;
	}
	if (strlen(key) >= sizeof(p->key) || strlen(value) >= sizeof(p->value)) {
		snprintf(err, errlen, "parameter '%s' too long", key);
		return -1;
	}
	p = &sc->param[sc->nparams++];
	snprintf(p->policy, sizeof(p->policy), "%s", policy);
	snprintf(p->key, sizeof(p->key), "%s", key);
	snprintf(p->value, sizeof(p->value), "%s", value);
	snprintf(p->where, sizeof(p->where), "%s", where);
	return 0;
}

static struct sim_path_cfg *find_path(struct sim_scenario *sc, const char *name,
				      int line, char *err, size_t errlen,
				      const char *section)
{
	int i;

	for (i = 0; i < sc->npaths; i++)
		if (!strcmp(sc->path[i].name, name))
			return &sc->path[i];
	if (!name[0] || strlen(name) >= LBFO_NAME_MAX) {
		errf(err, errlen, section, "path name must be 1..%d characters",
		     LBFO_NAME_MAX - 1);
		return NULL;
	}
	if (sc->npaths >= LBFO_MAX_MEMBERS) {
		errf(err, errlen, section, "too many paths (at most %d)",
		     LBFO_MAX_MEMBERS);
		return NULL;
	}
	path_defaults(&sc->path[sc->npaths], name, line);
	return &sc->path[sc->npaths++];
}

static int set_path_key(struct sim_path_cfg *p, int k, const char *v,
			char *why, size_t wl)
{
	uint64_t u;
	double d;

	switch (k) {
	case 0: return parse_double(v, 0.001, 1e6, &p->bandwidth_mbit, why, wl);
	case 1: return parse_double(v, 0, 10000, &p->latency_ms, why, wl);
	case 2:
		if (parse_u64(v, 0, 65536, &u, why, wl) < 0)
			return -1;
		p->queue_limit = (uint32_t)u;
		return 0;
	case 3:
		if (parse_double(v, 0, 100, &d, why, wl) < 0)
			return -1;
		p->read_share = p->write_share = d;
		return 0;
	case 4: return parse_double(v, 0, 100, &p->read_share, why, wl);
	case 5: return parse_double(v, 0, 100, &p->write_share, why, wl);
	case 6:
		if (parse_u64(v, 1, LBFO_WEIGHT_MAX, &u, why, wl) < 0)
			return -1;
		p->weight = (uint32_t)u;
		return 0;
	case 7: return parse_double(v, 0, 1e6, &p->fail_at_s, why, wl);
	case 8: return parse_double(v, 0, 1e9, &p->restore_at_s, why, wl);
	case 9: return parse_double(v, 0, 1e9, &p->detect_ms, why, wl);
	case 10: return parse_double(v, 0, 1e6, &p->bg_mbit, why, wl);
	case 11: return parse_double(v, 0, 1e6, &p->bg_start_s, why, wl);
	case 12: return parse_double(v, 0, 1e6, &p->bg_stop_s, why, wl);
	case 13: return sim_parse_sharing(v, &p->fifo, why, wl);
	}
	return -1;
}

int sim_scenario_set(struct sim_scenario *sc, const char *section,
		     const char *key, const char *value, int line, char *err,
		     size_t errlen)
{
	const char *const *keys;
	const char *name = NULL;
	enum sec_kind kind;
	char why[200] = "", known[400];
	uint32_t *mask;
	int k;

	if (!strcmp(section, "scenario")) {
		kind = SEC_SCENARIO;
		keys = scenario_keys;
		mask = &sc->set_keys[0];
	} else if (!strcmp(section, "workload")) {
		kind = SEC_WORKLOAD;
		keys = workload_keys;
		mask = &sc->set_keys[1];
	} else if (!strcmp(section, "team")) {
		kind = SEC_TEAM;
		keys = team_keys;
		mask = &sc->set_keys[2];
	} else if (!strncmp(section, "path ", 5)) {
		kind = SEC_PATH;
		keys = path_keys;
		name = section + 5;
		mask = NULL;
	} else if (!strncmp(section, "policy ", 7)) {
		kind = SEC_POLICY;
		keys = NULL;
		name = section + 7;
		mask = NULL;
	} else {
		errf(err, errlen, section, "unknown section (known: [scenario], "
		     "[workload], [team], [path NAME], [policy NAME])");
		return -1;
	}

	if (kind == SEC_POLICY) {
		const struct lbfo_policy_ops *o = lbfo_policy_find(name);
		char msg[LBFO_ERR_MAX], where[SIM_PATH_MAX + 32];
		int i;

		if (!o) {
			errf(err, errlen, section, "unknown policy '%s'", name);
			return -1;
		}
		for (i = 0; i < sc->nparams; i++)
			if (!strcmp(sc->param[i].policy, name) &&
			    !strcmp(sc->param[i].key, key)) {
				errf(err, errlen, section, "key '%s' set twice", key);
				return -1;
			}
		if (trial_param(name, key, value, msg, sizeof(msg)) < 0) {
			errf(err, errlen, section, "%s", msg);
			return -1;
		}
		snprintf(where, sizeof(where), "%s:%d", sc->file, line);
		if (add_param(sc, name, key, value, where, why, sizeof(why)) < 0) {
			errf(err, errlen, section, "%s", why);
			return -1;
		}
		return 0;
	}

	k = key_index(keys, key);
	if (k < 0) {
		list_keys(known, sizeof(known), keys);
		errf(err, errlen, section, "unknown key '%s' (known: %s)", key, known);
		return -1;
	}
	if (kind == SEC_PATH) {
		struct sim_path_cfg *p = find_path(sc, name, line, err, errlen, section);

		if (!p)
			return -1;
		mask = &p->set_keys;
		/* share sets both directions: count it as both. */
	}
	if (*mask & (1u << k)) {
		errf(err, errlen, section, "key '%s' set twice", key);
		return -1;
	}
	*mask |= 1u << k;

	switch (kind) {
	case SEC_SCENARIO:
		if (strlen(value) >= sizeof(sc->description)) {
			snprintf(why, sizeof(why), "longer than %zu characters",
				 sizeof(sc->description) - 1);
			goto bad;
		}
		snprintf(sc->description, sizeof(sc->description), "%s", value);
		return 0;
	case SEC_WORKLOAD: {
		uint64_t u;

		switch (k) {
		case 0:
			if (parse_u64(value, 1, 4096, &u, why, sizeof(why)) < 0)
				goto bad;
			sc->queue_depth = (uint32_t)u;
			return 0;
		case 1:
			if (parse_double(value, 0, 100, &sc->read_pct, why, sizeof(why)) < 0)
				goto bad;
			return 0;
		case 2:
			if (parse_size(value, 512, 64ull << 20, &sc->request_size, why, sizeof(why)) < 0)
				goto bad;
			return 0;
		case 3:
			if (parse_size(value, 512, 64ull << 20, &sc->request_size_max, why, sizeof(why)) < 0)
				goto bad;
			return 0;
		case 4:
			if (parse_double(value, 0.01, 3600, &sc->duration_s, why, sizeof(why)) < 0)
				goto bad;
			return 0;
		case 5:
			if (parse_u64(value, 0, UINT64_MAX, &sc->seed, why, sizeof(why)) < 0)
				goto bad;
			return 0;
		case 6:
			if (parse_double(value, 0, 86400, &sc->no_path_timeout_s, why, sizeof(why)) < 0)
				goto bad;
			return 0;
		}
		break;
	}
	case SEC_TEAM:
		switch (k) {
		case 0:
			if (strcmp(value, "all") && !lbfo_policy_find(value)) {
				snprintf(why, sizeof(why), "unknown policy");
				goto bad;
			}
			snprintf(sc->policy, sizeof(sc->policy), "%s",
				 strcmp(value, "all") ? value : "");
			return 0;
		case 1: {
			uint64_t u;

			if (parse_u64(value, 0, 65536, &u, why, sizeof(why)) < 0)
				goto bad;
			sc->max_outstanding = (uint32_t)u;
			return 0;
		}
		case 2: {
			const char *e = NULL;

			if (lbfo_failback_parse(value, &sc->failback,
						&sc->failback_stable_ns, &e) < 0) {
				snprintf(why, sizeof(why), "%s", e);
				goto bad;
			}
			return 0;
		}
		case 3:
			if (parse_bool(value, &sc->adapter_counters, why, sizeof(why)) < 0)
				goto bad;
			return 0;
		}
		break;
	case SEC_PATH: {
		struct sim_path_cfg *p = find_path(sc, name, line, err, errlen, section);

		if (!p)
			return -1;
		if (set_path_key(p, k, value, why, sizeof(why)) < 0)
			goto bad;
		return 0;
	}
	case SEC_POLICY:
		break;
	}
	snprintf(why, sizeof(why), "internal error");
bad:
	errf(err, errlen, section, "invalid value '%s' for '%s': %s", value, key, why);
	return -1;
}

int sim_scenario_add_param(struct sim_scenario *sc, const char *arg,
			   char *err, size_t errlen)
{
	char buf[256], policy[LBFO_NAME_MAX] = "", msg[LBFO_ERR_MAX];
	char *eq, *key = buf, *colon;
	size_t n, i;
	const struct lbfo_policy_ops *const *tab = lbfo_policy_table(&n);
	bool any = false;

	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "--param '%s': too long", arg);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", arg);
	eq = strchr(buf, '=');
	if (!eq || eq == buf) {
		snprintf(err, errlen, "--param '%s': expected [POLICY:]KEY=VALUE", arg);
		return -1;
	}
	*eq = '\0';
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		if (!lbfo_policy_find(buf)) {
			snprintf(err, errlen, "--param '%s': unknown policy '%s'", arg, buf);
			return -1;
		}
		snprintf(policy, sizeof(policy), "%.*s", (int)sizeof(policy) - 1, buf);
		key = colon + 1;
	}
	for (i = 0; i < n; i++) {
		if (policy[0] && strcmp(policy, tab[i]->name))
			continue;
		if (!policy[0] && !policy_accepts(tab[i], key))
			continue;
		any = true;
		if (trial_param(tab[i]->name, key, eq + 1, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "--param '%s': %s", arg, msg);
			return -1;
		}
	}
	if (!any) {
		snprintf(err, errlen, "--param '%s': no policy has a parameter '%s'",
			 arg, key);
		return -1;
	}
	if (add_param(sc, policy, key, eq + 1, "--param", msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "--param '%s': %s", arg, msg);
		return -1;
	}
	return 0;
}

size_t sim_policy_params(const struct sim_scenario *sc, const char *policy,
			 struct lbfo_kv *kv, size_t max)
{
	const struct lbfo_policy_ops *o = lbfo_policy_find(policy);
	size_t n = 0;
	int i;

	if (!o)
		return 0;
	for (i = 0; i < sc->nparams && n < max; i++) {
		const struct sim_param *p = &sc->param[i];

		if (p->policy[0] ? strcmp(p->policy, policy) : !policy_accepts(o, p->key))
			continue;
		kv[n].key = p->key;
		kv[n].value = p->value;
		n++;
	}
	return n;
}

int sim_scenario_check(const struct sim_scenario *sc, char *err, size_t errlen)
{
	uint32_t rsum = 0, wsum = 0;
	bool rset = false, wset = false;
	int i;

	if (sc->npaths == 0) {
		snprintf(err, errlen, "no paths: add a [path NAME] section with bandwidth_mbit");
		return -1;
	}
	if (sc->request_size_max && sc->request_size_max < sc->request_size) {
		snprintf(err, errlen, "[workload]: request_size_max is below request_size");
		return -1;
	}
	for (i = 0; i < sc->npaths; i++) {
		const struct sim_path_cfg *p = &sc->path[i];
		char sec[LBFO_NAME_MAX + 8];

		snprintf(sec, sizeof(sec), "path %s", p->name);
		if (!(p->set_keys & 1u)) {
			snprintf(err, errlen, "%s:%d: [%s]: missing key 'bandwidth_mbit'",
				 sc->file, p->line, sec);
			return -1;
		}
		if (p->restore_at_s >= 0 && p->fail_at_s < 0) {
			snprintf(err, errlen, "%s:%d: [%s]: restore_at_s without fail_at_s",
				 sc->file, p->line, sec);
			return -1;
		}
		if (p->restore_at_s >= 0 &&
		    p->restore_at_s * 1e3 <= p->fail_at_s * 1e3 + p->detect_ms) {
			snprintf(err, errlen, "%s:%d: [%s]: restore_at_s must come after "
				 "fail_at_s + detect_ms (the failure is detected first)",
				 sc->file, p->line, sec);
			return -1;
		}
		if (p->bg_stop_s >= 0 && p->bg_stop_s <= p->bg_start_s) {
			snprintf(err, errlen, "%s:%d: [%s]: bg_stop_s must be after bg_start_s",
				 sc->file, p->line, sec);
			return -1;
		}
		if (p->read_share >= 0) {
			rset = true;
			rsum += (uint32_t)lround(p->read_share * 100);
		}
		if (p->write_share >= 0) {
			wset = true;
			wsum += (uint32_t)lround(p->write_share * 100);
		}
	}
	if ((rset && rsum > LBFO_SHARE_FULL + 1) || (wset && wsum > LBFO_SHARE_FULL + 1)) {
		snprintf(err, errlen, "%s: configured shares sum to more than 100%%",
			 sc->file);
		return -1;
	}
	return 0;
}

/* --- INI ---------------------------------------------------------------- */

struct ini_ctx {
	struct sim_scenario *sc;
	char msg[1024];
	int nkeys;
	bool failed;
	const char *text; /* for line numbers */
	int line;         /* line of the current key (counted by us) */
	const char *pos;
};

/* inih (as packaged) gives no line numbers to the handler; find the line
 * of the next `key` in `[section]` by scanning forward in the text. Keys
 * arrive in file order, so a forward scan from the last hit is exact. */
static int locate(struct ini_ctx *c, const char *key)
{
	const char *p = c->pos;
	int line = c->line;
	size_t kl = strlen(key);

	while (p && *p) {
		const char *s = p, *nl = strchr(p, '\n');

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != ';' && *s != '#' && *s != '[' && !strncmp(s, key, kl)) {
			const char *q = s + kl;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '=' || *q == ':') {
				c->pos = nl ? nl + 1 : s + strlen(s);
				c->line = line + 1;
				return line;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
		line++;
	}
	return c->line;
}

static int on_ini_key(void *user, const char *section, const char *name,
		       const char *value)
{
	struct ini_ctx *c = user;
	char err[400];
	int line;

	if (c->failed)
		return 1; /* keep only the first error */
	line = locate(c, name);
	if (sim_scenario_set(c->sc, section, name, value, line, err, sizeof(err)) < 0) {
		snprintf(c->msg, sizeof(c->msg), "%s:%d: %s", c->sc->file, line, err);
		c->failed = true;
		return 0;
	}
	c->nkeys++;
	return 1;
}

int sim_scenario_load_string(struct sim_scenario *sc, const char *name,
			     const char *text, char *err, size_t errlen)
{
	struct ini_ctx c;
	int rc;

	sim_scenario_defaults(sc);
	snprintf(sc->file, sizeof(sc->file), "%s", name);
	memset(&c, 0, sizeof(c));
	c.sc = sc;
	c.text = c.pos = text;
	c.line = 1;
	rc = ini_parse_string(text, on_ini_key, &c);
	if (c.failed) {
		snprintf(err, errlen, "%s", c.msg);
		return -1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: syntax error (expected [section], "
			 "key = value, or a comment)", name, rc);
		return -1;
	}
	return sim_scenario_check(sc, err, errlen);
}

int sim_scenario_load(struct sim_scenario *sc, const char *file, char *err,
		      size_t errlen)
{
	FILE *f = fopen(file, "r");
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (cap - len < 4097) {
			char *n;

			cap = cap ? cap * 2 : 8192;
			n = realloc(text, cap);
			if (!n) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", file);
				return -1;
			}
			text = n;
		}
		got = fread(text + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
		if (len > (1u << 20)) {
			free(text);
			fclose(f);
			snprintf(err, errlen, "%s: larger than 1 MiB", file);
			return -1;
		}
	}
	if (ferror(f)) {
		free(text);
		fclose(f);
		snprintf(err, errlen, "%s: read error", file);
		return -1;
	}
	fclose(f);
	text[len] = '\0';
	rc = sim_scenario_load_string(sc, file, text, err, errlen);
	free(text);
	return rc;
}
