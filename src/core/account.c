/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A command's accounting on its member: in flight from lbfo_team_start to
 * lbfo_team_complete (or handed back when the member fails), bytes and
 * busy time, the per-interval counters the timed policies read, and the
 * adapters whose byte counters those policies can read instead.
 */
#include <stdio.h>
#include <string.h>

#include "lbfo/core.h"
#include "lbfo/policy.h"
#include "team_internal.h"

void lbfo_adapter_init(struct lbfo_adapter *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name ? name : "");
}

void lbfo_adapter_set_if_bytes(struct lbfo_adapter *a, uint64_t bytes)
{
	a->if_bytes = bytes;
	a->if_fed = true;
}

uint64_t lbfo_adapter_bytes(const struct lbfo_adapter *a)
{
	return a->if_fed ? a->if_bytes : a->accounted_bytes;
}

void lbfo_adapter_account(struct lbfo_adapter *a, uint64_t bytes)
{
	a->accounted_bytes += bytes;
}

void lbfo_team_start(struct lbfo_team *t, struct lbfo_cmd *c, int mi,
		     enum lbfo_dir dir, uint64_t bytes, uint64_t now)
{
	struct lbfo_member *m = &t->m[mi];

	c->member = mi;
	c->dir = (uint8_t)dir;
	c->bytes = bytes;
	c->start_ns = now;
	c->state = LBFO_CMD_INFLIGHT;
	c->retry_next = NULL;
	c->prev = NULL;
	c->next = m->inflight;
	if (m->inflight)
		m->inflight->prev = c;
	m->inflight = c;

	if (m->outstanding++ == 0)
		m->busy_since_ns = now;
	m->outstanding_bytes += bytes;
	m->epoch_bytes[dir] += bytes;
	m->st.dispatched_bytes += bytes;
	t->outstanding++;
	if (t->ops->on_start)
		t->ops->on_start(t, t->priv, mi, dir, bytes, now);
}

static void unlink_cmd(struct lbfo_team *t, struct lbfo_cmd *c, uint64_t now)
{
	struct lbfo_member *m = &t->m[c->member];

	if (c->prev)
		c->prev->next = c->next;
	else
		m->inflight = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	m->outstanding--;
	m->outstanding_bytes -= c->bytes;
	if (m->outstanding == 0)
		m->st.busy_ns += now - m->busy_since_ns;
	t->outstanding--;
}

int team_hand_back(struct lbfo_team *t, int mi, uint64_t now, struct lbfo_cmd **head)
{
	struct lbfo_member *m = &t->m[mi];
	struct lbfo_cmd *c, **tail = head;
	int n = 0;

	*head = NULL;
	/* Oldest first: the list is newest-first, so walk to its end. */
	for (c = m->inflight; c && c->next; c = c->next)
		;
	while (c) {
		struct lbfo_cmd *prev = c->prev;

		unlink_cmd(t, c, now);
		c->state = LBFO_CMD_RETURNED;
		c->retries++;
		c->member = -1;
		c->retry_next = NULL;
		*tail = c;
		tail = &c->retry_next;
		n++;
		c = prev;
	}
	m->st.returned += (uint64_t)n;
	return n;
}

int lbfo_team_complete(struct lbfo_team *t, struct lbfo_cmd *c, uint64_t now)
{
	struct lbfo_member *m;
	uint64_t lat;

	if (c->state != LBFO_CMD_INFLIGHT || c->member < 0 || c->member >= t->n)
		return -1;
	m = &t->m[c->member];
	unlink_cmd(t, c, now);
	c->state = LBFO_CMD_IDLE;
	lat = now - c->start_ns;
	m->st.bytes[c->dir] += c->bytes;
	m->st.cmds[c->dir]++;
	m->st.latency_ns_sum += lat;
	if (m->adapter)
		lbfo_adapter_account(m->adapter, c->bytes);
	if (t->ops->on_complete)
		t->ops->on_complete(t, t->priv, c->member,
				    (enum lbfo_dir)c->dir, c->bytes, lat, now);
	return 0;
}

void lbfo_team_sample_interval(struct lbfo_team *t, uint64_t now)
{
	int i;

	for (i = 0; i < t->n; i++) {
		struct lbfo_member *m = &t->m[i];
		uint64_t own = m->st.bytes[LBFO_READ] + m->st.bytes[LBFO_WRITE];
		uint64_t busy = m->st.busy_ns;

		/* Count the running busy period up to now. */
		if (m->outstanding > 0) {
			busy += now - m->busy_since_ns;
			m->st.busy_ns += now - m->busy_since_ns;
			m->busy_since_ns = now;
		}
		m->interval_own_bytes = own - m->own_mark;
		m->own_mark = own;
		m->interval_busy_ns = busy - m->busy_mark;
		m->busy_mark = busy;
		if (m->adapter) {
			uint64_t ab = lbfo_adapter_bytes(m->adapter);

			/* An interface counter that went backwards was
			 * reset: count from zero. */
			m->interval_bytes = ab >= m->adapter_mark ? ab - m->adapter_mark : ab;
			m->adapter_mark = ab;
		} else {
			m->interval_bytes = m->interval_own_bytes;
		}
	}
}
