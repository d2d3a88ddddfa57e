/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario keys: one table per section (what each key parses as, its
 * range, the field it sets), sim_scenario_set() and the checks across
 * keys. Every key is checked; unknown keys, bad values and duplicates are
 * errors naming file, line, section and key. Reading the file is
 * scenario_ini.c, policy parameters scenario_params.c.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"
#include "sim.h"
#include "sim_internal.h"

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

/* Keys whose value is more than a number in range. obj is the struct the
 * key's table is for (struct sim_scenario, or struct sim_path_cfg). */
static int set_description(void *obj, const char *v, char *why, size_t wl)
{
	struct sim_scenario *sc = obj;

	if (strlen(v) >= sizeof(sc->description)) {
		snprintf(why, wl, "longer than %zu characters",
			 sizeof(sc->description) - 1);
		return -1;
	}
	snprintf(sc->description, sizeof(sc->description), "%s", v);
	return 0;
}

static int set_policy(void *obj, const char *v, char *why, size_t wl)
{
	struct sim_scenario *sc = obj;

	if (strcmp(v, "all") && !lbfo_policy_find(v)) {
		snprintf(why, wl, "unknown policy");
		return -1;
	}
	snprintf(sc->policy, sizeof(sc->policy), "%s", strcmp(v, "all") ? v : "");
	return 0;
}

static int set_failback(void *obj, const char *v, char *why, size_t wl)
{
	struct sim_scenario *sc = obj;
	const char *e = NULL;

	if (lbfo_failback_parse(v, &sc->failback, &sc->failback_stable_ns, &e) < 0) {
		snprintf(why, wl, "%s", e);
		return -1;
	}
	return 0;
}

/* `share` sets both directions. It is a key of its own: given with
 * read_share or write_share, the one given last wins. */
static int set_share(void *obj, const char *v, char *why, size_t wl)
{
	struct sim_path_cfg *p = obj;
	double d;

	if (parse_double(v, 0, 100, &d, why, wl) < 0)
		return -1;
	p->read_share = p->write_share = d;
	return 0;
}

static int set_sharing(void *obj, const char *v, char *why, size_t wl)
{
	struct sim_path_cfg *p = obj;

	return sim_parse_sharing(v, &p->fifo, why, wl);
}

enum key_type { KT_DOUBLE, KT_U32, KT_U64, KT_SIZE, KT_BOOL, KT_FUNC };

/* One key: how its value is parsed, the range, and the field it sets
 * (offset in the struct of its table). */
struct key {
	const char *name;
	enum key_type type;
	size_t off;
	double dmin, dmax;    /* KT_DOUBLE */
	uint64_t umin, umax;  /* KT_U32, KT_U64, KT_SIZE (bytes) */
	int (*set)(void *obj, const char *v, char *why, size_t wl); /* KT_FUNC */
};

#define K_DOUBLE(st, k, f, lo, hi) \
	{ .name = k, .type = KT_DOUBLE, .off = offsetof(st, f), .dmin = lo, .dmax = hi }
#define K_U32(st, k, f, lo, hi) \
	{ .name = k, .type = KT_U32, .off = offsetof(st, f), .umin = lo, .umax = hi }
#define K_U64(st, k, f, lo, hi) \
	{ .name = k, .type = KT_U64, .off = offsetof(st, f), .umin = lo, .umax = hi }
#define K_SIZE(st, k, f, lo, hi) \
	{ .name = k, .type = KT_SIZE, .off = offsetof(st, f), .umin = lo, .umax = hi }
#define K_BOOL(st, k, f) { .name = k, .type = KT_BOOL, .off = offsetof(st, f) }
#define K_FUNC(k, fn) { .name = k, .type = KT_FUNC, .set = fn }

/* A key's index in its table is its bit in the set_keys mask (a key given
 * twice is refused), and the tables' order is the order messages list
 * the keys in. */
#define SC struct sim_scenario
static const struct key scenario_keys[] = {
	K_FUNC("description", set_description),
	{ NULL },
};
static const struct key workload_keys[] = {
	K_U32(SC, "queue_depth", queue_depth, 1, 4096),
	K_DOUBLE(SC, "read_pct", read_pct, 0, 100),
	K_SIZE(SC, "request_size", request_size, 512, 64ull << 20),
	K_SIZE(SC, "request_size_max", request_size_max, 512, 64ull << 20),
	K_DOUBLE(SC, "duration_s", duration_s, 0.01, 3600),
	K_U64(SC, "seed", seed, 0, UINT64_MAX),
	K_DOUBLE(SC, "no_path_timeout_s", no_path_timeout_s, 0, 86400),
	{ NULL },
};
static const struct key team_keys[] = {
	K_FUNC("policy", set_policy),
	K_U32(SC, "max_outstanding", max_outstanding, 0, 65536),
	K_FUNC("failback", set_failback),
	K_BOOL(SC, "adapter_counters", adapter_counters),
	{ NULL },
};
#undef SC
#define PC struct sim_path_cfg
/* bandwidth_mbit first: sim_scenario_check() requires bit 0. */
static const struct key path_keys[] = {
	K_DOUBLE(PC, "bandwidth_mbit", bandwidth_mbit, 0.001, 1e6),
	K_DOUBLE(PC, "latency_ms", latency_ms, 0, 10000),
	K_U32(PC, "queue_limit", queue_limit, 0, 65536),
	K_FUNC("share", set_share),
	K_DOUBLE(PC, "read_share", read_share, 0, 100),
	K_DOUBLE(PC, "write_share", write_share, 0, 100),
	K_U32(PC, "weight", weight, 1, LBFO_WEIGHT_MAX),
	K_DOUBLE(PC, "fail_at_s", fail_at_s, 0, 1e6),
	K_DOUBLE(PC, "restore_at_s", restore_at_s, 0, 1e9),
	K_DOUBLE(PC, "detect_ms", detect_ms, 0, 1e9),
	K_DOUBLE(PC, "bg_mbit", bg_mbit, 0, 1e6),
	K_DOUBLE(PC, "bg_start_s", bg_start_s, 0, 1e6),
	K_DOUBLE(PC, "bg_stop_s", bg_stop_s, 0, 1e6),
	K_FUNC("sharing", set_sharing),
	{ NULL },
};
#undef PC

/* The sections. A name ending in a space is a prefix: the rest of the
 * section name is the path's or the policy's name. */
struct section {
	const char *name;
	const struct key *keys; /* NULL: [policy NAME], the policy's parameters */
	int mask;               /* index in sc->set_keys; -1: the path's own */
};

static const struct section sections[] = {
	{ "scenario", scenario_keys, 0 },
	{ "workload", workload_keys, 1 },
	{ "team", team_keys, 2 },
	{ "path ", path_keys, -1 },
	{ "policy ", NULL, -1 },
};

static const struct section *find_section(const char *section, const char **name)
{
	size_t i;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		const char *s = sections[i].name;
		size_t len = strlen(s);

		if (s[len - 1] == ' ' ? !strncmp(section, s, len) : !strcmp(section, s)) {
			*name = section + (s[len - 1] == ' ' ? len : 0);
			return &sections[i];
		}
	}
	return NULL;
}

static int key_index(const struct key *keys, const char *key)
{
	int i;

	for (i = 0; keys[i].name; i++)
		if (!strcmp(keys[i].name, key))
			return i;
	return -1;
}

static void list_keys(char *buf, size_t len, const struct key *keys)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; keys[i].name && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", keys[i].name);
}

/* Parse v as key k says into the struct at obj. */
static int set_value(const struct key *k, void *obj, const char *v, char *why, size_t wl)
{
	char *field = (char *)obj + k->off;
	uint64_t u;

	switch (k->type) {
	case KT_DOUBLE:
		return parse_double(v, k->dmin, k->dmax, (double *)(void *)field, why, wl);
	case KT_U32:
		if (parse_u64(v, k->umin, k->umax, &u, why, wl) < 0)
			return -1;
		*(uint32_t *)(void *)field = (uint32_t)u;
		return 0;
	case KT_U64:
		return parse_u64(v, k->umin, k->umax, (uint64_t *)(void *)field, why, wl);
	case KT_SIZE:
		return parse_size(v, k->umin, k->umax, (uint64_t *)(void *)field, why, wl);
	case KT_BOOL:
		return parse_bool(v, (bool *)(void *)field, why, wl);
	case KT_FUNC:
		return k->set(obj, v, why, wl);
	}
	snprintf(why, wl, "internal error");
	return -1;
}

/* "[SECTION]: " then fmt into err. */
static void scenario_errf(char *err, size_t errlen, const char *section,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void scenario_errf(char *err, size_t errlen, const char *section,
			  const char *fmt, ...)
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

static struct sim_path_cfg *find_path(struct sim_scenario *sc, const char *name,
				      int line, char *err, size_t errlen,
				      const char *section)
{
	int i;

	for (i = 0; i < sc->npaths; i++)
		if (!strcmp(sc->path[i].name, name))
			return &sc->path[i];
	if (!name[0] || strlen(name) >= LBFO_NAME_MAX) {
		scenario_errf(err, errlen, section, "path name must be 1..%d characters",
			      LBFO_NAME_MAX - 1);
		return NULL;
	}
	if (sc->npaths >= LBFO_MAX_PATHS) {
		scenario_errf(err, errlen, section, "too many paths (at most %d)",
			      LBFO_MAX_PATHS);
		return NULL;
	}
	path_defaults(&sc->path[sc->npaths], name, line);
	return &sc->path[sc->npaths++];
}

int sim_scenario_set(struct sim_scenario *sc, const char *section,
		     const char *key, const char *value, int line, char *err,
		     size_t errlen)
{
	const struct section *s;
	const char *name = NULL;
	char why[200] = "", known[400];
	uint32_t *mask;
	void *obj = sc;
	int k;

	s = find_section(section, &name);
	if (!s) {
		scenario_errf(err, errlen, section, "unknown section (known: [scenario], "
			      "[workload], [team], [path NAME], [policy NAME])");
		return -1;
	}
	if (!s->keys) {
		char msg[LBFO_ERR_MAX + 64];

		if (scenario_set_param(sc, name, key, value, line, msg, sizeof(msg)) < 0) {
			scenario_errf(err, errlen, section, "%s", msg);
			return -1;
		}
		return 0;
	}

	k = key_index(s->keys, key);
	if (k < 0) {
		list_keys(known, sizeof(known), s->keys);
		scenario_errf(err, errlen, section, "unknown key '%s' (known: %s)", key, known);
		return -1;
	}
	if (s->mask < 0) {
		struct sim_path_cfg *p = find_path(sc, name, line, err, errlen, section);

		if (!p)
			return -1;
		obj = p;
		mask = &p->set_keys;
	} else {
		mask = &sc->set_keys[s->mask];
	}
	if (*mask & (1u << k)) {
		scenario_errf(err, errlen, section, "key '%s' set twice", key);
		return -1;
	}
	*mask |= 1u << k;

	if (set_value(&s->keys[k], obj, value, why, sizeof(why)) < 0) {
		scenario_errf(err, errlen, section, "invalid value '%s' for '%s': %s", value, key, why);
		return -1;
	}
	return 0;
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
