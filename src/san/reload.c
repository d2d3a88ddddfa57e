/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reloading the configuration without a restart (lbfoctl reload, SIGHUP):
 * whoever started the host reads the configuration again (the plugin:
 * its command line and config= file, lbfo_host_set_reloader); a file with
 * a mistake is refused with its error and the running one kept. A good
 * one is applied with I/O running:
 *
 *  - each LU's settings (the defaults and its [lu NAME] section): what a
 *    running LU can change does (src/mpio/ops.c lbfo_lu_reconfigure:
 *    policy, shares, weights, no_path_timeout, max_outstanding, failback);
 *    the rest is said to apply at the next start;
 *  - aliases: the new ones are export names from now on;
 *  - the blacklist: an LU it now matches gets no new opens and goes once
 *    its clients close it; one it no longer matches is found by the
 *    rescan that follows every reload, as are new LUs;
 *  - rescan_interval and discovery's CHAP: from now on;
 *  - portals, initiator name, the sessions' CHAP and timers, the control
 *    socket, metrics: said to apply at the next start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "san_internal.h"

void lbfo_host_set_reloader(struct lbfo_host *h, lbfo_reload_fn fn, void *arg)
{
	pthread_mutex_lock(&h->mu);
	h->reloader = fn;
	h->reloader_arg = arg;
	pthread_mutex_unlock(&h->mu);
}

/* What differs in what only a restart applies. */
static void restart_keys(const struct lbfo_lu_config *o, const struct lbfo_lu_config *n,
			 char *buf, size_t len)
{
	size_t k = 0;
	int i;

#define DIFF(cond, name) \
	do { if ((cond) && k < len) k += (size_t)snprintf(buf + k, len - k, " %s", name); } while (0)
	buf[0] = '\0';
	DIFF(o->npaths != n->npaths, "paths");
	for (i = 0; i < o->npaths && i < n->npaths; i++)
		DIFF(strcmp(o->paths[i].portal, n->paths[i].portal) ||
		     strcmp(o->paths[i].name, n->paths[i].name) ||
		     strcmp(o->paths[i].interface, n->paths[i].interface), o->paths[i].name);
	DIFF(strcmp(o->initiator, n->initiator), "initiator");
	DIFF(strcmp(o->target, n->target) || o->lun != n->lun, "target/lun");
	DIFF(strcmp(o->chap_user, n->chap_user) || strcmp(o->chap_password, n->chap_password),
	     "chap");
	DIFF(o->nop_interval_ms != n->nop_interval_ms || o->nop_timeout_ms != n->nop_timeout_ms ||
	     o->cmd_timeout_ms != n->cmd_timeout_ms || o->login_timeout_ms != n->login_timeout_ms,
	     "session timers");
	DIFF(strcmp(o->control, n->control), "control");
	DIFF(strcmp(o->metrics_listen, n->metrics_listen), "metrics_listen");
	DIFF(o->link_watch != n->link_watch, "link_watch");
#undef DIFF
}

/* Into n: o's session-level keys and portals, with n's shares and
 * weights of the paths of the same name. */
static void keep_running(const struct lbfo_lu_config *o, struct lbfo_lu_config *n)
{
	struct lbfo_lu_config *c = malloc(sizeof(*c));
	int i, k;

	if (!c)
		return;
	*c = *o;
	memcpy(c->policy, n->policy, sizeof(c->policy));
	memcpy(c->policy_keys, n->policy_keys, sizeof(c->policy_keys));
	memcpy(c->policy_values, n->policy_values, sizeof(c->policy_values));
	c->npolicy_kv = n->npolicy_kv;
	c->failback = n->failback;
	c->failback_stable_ns = n->failback_stable_ns;
	c->max_outstanding = n->max_outstanding;
	c->no_path_timeout_ms = n->no_path_timeout_ms;
	c->status_interval_ms = n->status_interval_ms;
	for (i = 0; i < c->npaths; i++)
		for (k = 0; k < n->npaths; k++)
			if (!strcmp(c->paths[i].name, n->paths[k].name)) {
				c->paths[i].read_share_bp = n->paths[k].read_share_bp;
				c->paths[i].write_share_bp = n->paths[k].write_share_bp;
				c->paths[i].weight = n->paths[k].weight;
			}
	*n = *c;
	free(c);
}

static void apply_lus(struct lbfo_host *h, const struct lbfo_host_config *nc, FILE *out)
{
	struct lbfo_lu_config *c = malloc(sizeof(*c));
	char alias[LBFO_NAME_MAX], err[LBFO_ERR_MAX], why[LBFO_STR_MAX];
	char applied[LBFO_STR_MAX], later[LBFO_STR_MAX];
	int i, changed = 0, gone = 0;

	if (!c)
		return;
	for (i = 0; i < h->nlus; i++) {
		struct host_lu *hl = h->lus[i];

		if (lbfo_host_blacklisted(nc, lbfo_lu_identity(hl->lu), why, sizeof(why))) {
			if (!hl->removed) {
				hl->removed = true;
				gone++;
				host_log(h, LBFO_LOG_NOTICE, "LU %s now blacklisted (%s): no new opens; "
					 "it goes once its %d client(s) have closed it", hl->wwid, why,
					 hl->nopen);
			}
			continue;
		}
		if (lbfo_host_lu_config(nc, hl->wwid, hl->export, c, alias, sizeof(alias), err,
					sizeof(err)) < 0) {
			host_log(h, LBFO_LOG_ERR, "reload: LU %s: %s (kept as it was)", hl->wwid, err);
			continue;
		}
		c->log = h->cfg.lu.log;
		changed += lbfo_lu_reconfigure(hl->lu, c, applied, sizeof(applied), later,
					       sizeof(later));
		if (strcmp(alias, hl->alias)) {
			host_log(h, LBFO_LOG_NOTICE, "LU %s: alias %s", hl->wwid, alias[0] ? alias :
				 "(none)");
			snprintf(hl->alias, sizeof(hl->alias), "%s", alias);
			changed++;
		}
	}
	fprintf(out, "reloaded: %d LU setting(s) changed, %d LU(s) now blacklisted", changed, gone);
	free(c);
}

int host_reload(struct lbfo_host *h, FILE *out, char *err, size_t errlen)
{
	struct lbfo_host_config nc;
	char restart[LBFO_STR_MAX];

	if (!h->reloader) {
		snprintf(err, errlen, "reload: this host has no configuration to read again");
		return -1;
	}
	lbfo_host_config_defaults(&nc);
	if (h->reloader(h->reloader_arg, &nc, err, errlen) < 0) {
		host_log(h, LBFO_LOG_ERR, "reload refused, the running configuration kept: %s", err);
		lbfo_host_config_free(&nc);
		return -1;
	}
	nc.lu.log = h->cfg.lu.log;
	nc.lu.log_opaque = h->cfg.lu.log_opaque;
	apply_lus(h, &nc, out);
	restart_keys(&h->cfg.lu, &nc.lu, restart, sizeof(restart));
	if (restart[0]) {
		host_log(h, LBFO_LOG_WARNING, "reload: changed, taking effect at the next start:%s",
			 restart);
		fprintf(out, "; at the next start:%s", restart);
	}
	/* What the running sessions and surfaces use stays as it is; the
	 * LUs' defaults, the sections, the blacklist and discovery's keys are
	 * the new configuration's (LUs a rescan finds are made with them). */
	keep_running(&h->cfg.lu, &nc.lu);
	lbfo_host_config_free(&h->cfg);
	h->cfg = nc;
	host_log(h, LBFO_LOG_NOTICE, "configuration reloaded; a rescan follows");
	host_rescan(h, "reload");
	fputc('\n', out);
	return 0;
}
