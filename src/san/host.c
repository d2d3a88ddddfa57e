/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's registry and its log: the LUs it serves as exports (listing,
 * opening by WWID, export name or alias, closing), their readiness, and
 * the one event ring of the host, its targets and its LUs. The host's
 * life and loop are in loop.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ctlserver.h"
#include "san_internal.h"

#define LBFO_HOST_EVENTS 1024

/* ---- the log: one ring for the host, its targets and its LUs ------------------ */

static void sink(void *arg, const struct lbfo_event *e)
{
	struct lbfo_host *h = arg;

	if (h->cfg.lu.log)
		h->cfg.lu.log(e->level, e->text, h->cfg.lu.log_opaque);
	else
		fprintf(stderr, "lbfo: %s\n", e->text);
}

int host_log_init(struct lbfo_host *h)
{
	if (lbfo_events_init(&h->events, LBFO_HOST_EVENTS) < 0)
		return -1;
	lbfo_events_set_sink(&h->events, sink, h);
	return 0;
}

void host_log(struct lbfo_host *h, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lbfo_events_vadd(&h->events, level, fmt, ap);
	va_end(ap);
}

void host_tgt_log_hook(int level, const char *msg, void *opaque)
{
	host_log(opaque, level, "%s", msg);
}

/* With several LUs a line says which one it is about. */
void host_lu_log_hook(int level, const char *msg, void *opaque)
{
	struct host_lu *hl = opaque;
	struct lbfo_host *h = hl->host;

	if (h->nlus > 1 || h->multi)
		host_log(h, level, "LU %s: %s", hl->alias[0] ? hl->alias : hl->export, msg);
	else
		host_log(h, level, "%s", msg);
}

/* ---- wake-ups from other threads ----------------------------------------------- */

void host_wake(void *arg)
{
	struct lbfo_host *h = arg;
	uint64_t one = 1;

	if (h->wakefd >= 0 && write(h->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wake-up is pending. */
	}
}

void lbfo_host_request_reload(struct lbfo_host *h)
{
	h->reload_asked = 1;
	host_wake(h); /* write(2) on an eventfd: async-signal-safe */
}

/* ---- readiness ------------------------------------------------------------------- */

static bool lu_ready(struct host_lu *hl)
{
	int want = hl->expect > 0 ? hl->expect : 1;

	return lbfo_lu_paths_ready(hl->lu, NULL) >= want;
}

int lbfo_host_wait_ready(struct lbfo_host *h, uint32_t timeout_ms)
{
	uint64_t deadline = lbfo_now_ns() + (uint64_t)timeout_ms * LBFO_NS_PER_MS;
	int i, ready;

	for (;;) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		pthread_mutex_lock(&h->mu);
		for (i = ready = 0; i < h->nlus; i++)
			ready += lu_ready(h->lus[i]);
		i = h->nlus;
		pthread_mutex_unlock(&h->mu);
		if (ready == i || h->dead || lbfo_now_ns() >= deadline)
			return ready;
		nanosleep(&ts, NULL);
	}
}

void lbfo_host_counts(struct lbfo_host *h, int *lus_ready, int *lus, int *up, int *total)
{
	int i;

	*lus_ready = *up = *total = 0;
	pthread_mutex_lock(&h->mu);
	*lus = h->nlus;
	for (i = 0; i < h->nlus; i++) {
		int t;

		*lus_ready += lu_ready(h->lus[i]);
		*up += lbfo_lu_paths_ready(h->lus[i]->lu, &t);
		*total += t;
	}
	pthread_mutex_unlock(&h->mu);
}

/* ---- exports ---------------------------------------------------------------------- */

struct host_lu *host_find_lu(struct lbfo_host *h, const char *name)
{
	int i;

	for (i = 0; i < h->nlus; i++) {
		struct host_lu *hl = h->lus[i];

		if (!strcmp(hl->export, name) || !strcmp(hl->wwid, name) ||
		    (hl->alias[0] && !strcmp(hl->alias, name)))
			return hl;
	}
	return NULL;
}

static void describe(struct host_lu *hl, char *buf, size_t len)
{
	const struct lbfo_lu_ident *id = lbfo_lu_identity(hl->lu);
	int total, up = lbfo_lu_paths_ready(hl->lu, &total);

	snprintf(buf, len, "%s %s, %" PRIu64 " bytes, paths up %d/%d%s%.160s", id->vendor,
		 id->product, lbfo_lu_export_bytes(hl->lu), up, total, hl->alias[0] ? ", wwid " : "",
		 hl->alias[0] ? hl->wwid : "");
}

int lbfo_host_list_exports(struct lbfo_host *h, lbfo_export_fn fn, void *arg)
{
	char desc[512];
	int i, n = 0;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < h->nlus; i++) {
		struct host_lu *hl = h->lus[i];

		if (hl->removed)
			continue;
		describe(hl, desc, sizeof(desc));
		fn(arg, hl->export, desc);
		n++;
		if (hl->alias[0]) {
			fn(arg, hl->alias, desc);
			n++;
		}
	}
	pthread_mutex_unlock(&h->mu);
	return n;
}

bool lbfo_host_has_default(struct lbfo_host *h)
{
	bool one;

	pthread_mutex_lock(&h->mu);
	one = h->nlus == 1 && !h->lus[0]->removed;
	pthread_mutex_unlock(&h->mu);
	return one;
}

struct lbfo_lu *lbfo_host_open(struct lbfo_host *h, const char *name, char *err, size_t errlen)
{
	struct host_lu *hl = NULL;
	struct lbfo_lu *lu = NULL;

	pthread_mutex_lock(&h->mu);
	if (!name[0]) {
		if (h->nlus == 1)
			hl = h->lus[0];
		else
			snprintf(err, errlen, "this server has %d exports, so no default one: name "
				 "one (nbdinfo --list shows them)", h->nlus);
	} else if (!(hl = host_find_lu(h, name))) {
		snprintf(err, errlen, "no export '%s' (nbdinfo --list shows them)", name);
	}
	if (hl && hl->removed) {
		snprintf(err, errlen, "export '%s': the LU %s is gone from the SAN", name, hl->wwid);
		hl = NULL;
	}
	if (hl) {
		hl->nopen++;
		lu = hl->lu;
	}
	pthread_mutex_unlock(&h->mu);
	return lu;
}

void lbfo_host_close(struct lbfo_host *h, struct lbfo_lu *lu)
{
	int i;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < h->nlus; i++)
		if (h->lus[i]->lu == lu && h->lus[i]->nopen > 0)
			h->lus[i]->nopen--;
	pthread_mutex_unlock(&h->mu);
}
