/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy parameters of a scenario: [policy NAME] keys and --param. Each is
 * tried on its policy when it is given, so that a bad value is reported
 * where it was written; a run gets the ones for its policy
 * (sim_policy_params).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfo/policy.h"
#include "sim.h"
#include "sim_internal.h"

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

/* A key of [policy NAME]: a parameter of that policy, tried on it now.
 * The message says what is wrong; the caller (scenario.c) says where. */
int scenario_set_param(struct sim_scenario *sc, const char *name,
		       const char *key, const char *value, int line,
		       char *why, size_t whylen)
{
	const struct lbfo_policy_ops *o = lbfo_policy_find(name);
	char msg[LBFO_ERR_MAX], where[SIM_PATH_MAX + 32], full[200] = "";
	int i;

	if (!o) {
		snprintf(why, whylen, "unknown policy '%s'", name);
		return -1;
	}
	for (i = 0; i < sc->nparams; i++)
		if (!strcmp(sc->param[i].policy, name) &&
		    !strcmp(sc->param[i].key, key)) {
			snprintf(why, whylen, "key '%s' set twice", key);
			return -1;
		}
	if (trial_param(name, key, value, msg, sizeof(msg)) < 0) {
		snprintf(why, whylen, "%s", msg);
		return -1;
	}
	snprintf(where, sizeof(where), "%s:%d", sc->file, line);
	if (add_param(sc, name, key, value, where, full, sizeof(full)) < 0) {
		snprintf(why, whylen, "%s", full);
		return -1;
	}
	return 0;
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
