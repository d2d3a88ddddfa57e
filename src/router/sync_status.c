/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session-table replication (sync.h): its state for lbfoctl status, as
 * text and JSON.
 */
#include "lbfo/core.h"
#include "sync_int.h"

static const char *const state_names[] = { "down", "connecting", "connecting", "up" };

size_t rt_sync_inbound(const struct rt_sync *y)
{
	size_t i, n = 0;

	for (i = 0; i < RT_SYNC_MAX_IN; i++)
		n += y->in[i] && y->in[i]->hello;
	return n;
}

void rt_sync_text(const struct rt_sync *y, FILE *f, uint64_t now)
{
	int i;

	if (!rt_sync_on(y)) {
		fprintf(f, "sync: off\n");
		return;
	}
	fprintf(f, "sync: listen %s  %s  inbound %zu  received %llu entries in %llu messages"
		"  applied %llu  unknown %llu  conflicts kept %llu taken %llu  lag %lld ms"
		" (max %lld)\n", y->cfg->sync.listen_text,
		rt_sync_keyed(y) ? "authenticated" : "NOT authenticated", rt_sync_inbound(y),
		(unsigned long long)y->rx_entries, (unsigned long long)y->rx_msgs,
		(unsigned long long)y->rx_applied, (unsigned long long)y->rx_unknown,
		(unsigned long long)y->rx_kept, (unsigned long long)y->rx_taken,
		(long long)y->lag_ms, (long long)y->lag_max_ms);
	fprintf(f, "  rejected: foreign %llu  full %llu  auth %llu  order %llu  malformed %llu\n",
		(unsigned long long)y->refused_foreign, (unsigned long long)y->refused_full,
		(unsigned long long)y->rejected_auth,
		(unsigned long long)y->rejected_order, (unsigned long long)(
		y->rejected[LBFO_SYNC_E_MAGIC] + y->rejected[LBFO_SYNC_E_VERSION] +
		y->rejected[LBFO_SYNC_E_LENGTH] + y->rejected[LBFO_SYNC_E_TYPE] +
		y->rejected[LBFO_SYNC_E_CLUSTER] + y->rejected[LBFO_SYNC_E_ENTRY]));
	for (i = 0; i < y->cfg->sync.npeer; i++) {
		const struct rt_sync_peer *p = &y->peer[i];

		fprintf(f, "  peer %-22s %-10s sent %llu entries (%llu messages, %llu whole "
			"tables)  unsent %zu B%s%s\n", y->cfg->sync.peer_text[i], state_names[p->st],
			(unsigned long long)p->entries, (unsigned long long)p->msgs,
			(unsigned long long)p->dumps, p->out_len - p->out_off,
			p->st != RT_SYNC_UP && p->err[0] ? "  why: " : "",
			p->st != RT_SYNC_UP ? p->err : "");
	}
	(void)now;
}

void rt_sync_json(const struct rt_sync *y, struct lbfo_json *j, uint64_t now)
{
	int i;

	lbfo_json_obj(j);
	lbfo_json_kv_bool(j, "on", rt_sync_on(y));
	if (!rt_sync_on(y)) {
		lbfo_json_end(j);
		return;
	}
	lbfo_json_kv_str(j, "listen", y->cfg->sync.listen_text);
	lbfo_json_kv_bool(j, "authenticated", rt_sync_keyed(y));
	lbfo_json_kv_uint(j, "inbound", rt_sync_inbound(y));
	lbfo_json_kv_uint(j, "rx_messages", y->rx_msgs);
	lbfo_json_kv_uint(j, "rx_entries", y->rx_entries);
	lbfo_json_kv_uint(j, "applied", y->rx_applied);
	lbfo_json_kv_uint(j, "unknown", y->rx_unknown);
	lbfo_json_kv_uint(j, "conflicts_kept", y->rx_kept);
	lbfo_json_kv_uint(j, "conflicts_taken", y->rx_taken);
	if (y->last_rx_ns)
		lbfo_json_kv_uint(j, "last_rx_ms_ago", (now - y->last_rx_ns) / LBFO_NS_PER_MS);
	else
		lbfo_json_kv_null(j, "last_rx_ms_ago");
	lbfo_json_kv_int(j, "lag_ms", y->lag_ms);
	lbfo_json_kv_int(j, "lag_max_ms", y->lag_max_ms);
	lbfo_json_kv_uint(j, "tx_entries", y->tx_entries);
	lbfo_json_key(j, "rejected");
	lbfo_json_obj(j);
	lbfo_json_kv_uint(j, "foreign", y->refused_foreign);
	lbfo_json_kv_uint(j, "full", y->refused_full);
	lbfo_json_kv_uint(j, "auth", y->rejected_auth);
	lbfo_json_kv_uint(j, "order", y->rejected_order);
	for (i = LBFO_SYNC_E_MAGIC; i < LBFO_SYNC_E__MAX; i++)
		lbfo_json_kv_uint(j, lbfo_sync_err_name(i), y->rejected[i]);
	lbfo_json_end(j);
	lbfo_json_key(j, "peers");
	lbfo_json_arr(j);
	for (i = 0; i < y->cfg->sync.npeer; i++) {
		const struct rt_sync_peer *p = &y->peer[i];

		lbfo_json_obj(j);
		lbfo_json_kv_str(j, "address", y->cfg->sync.peer_text[i]);
		lbfo_json_kv_str(j, "state", state_names[p->st]);
		lbfo_json_kv_uint(j, "connects", p->connects);
		lbfo_json_kv_uint(j, "messages", p->msgs);
		lbfo_json_kv_uint(j, "entries", p->entries);
		lbfo_json_kv_uint(j, "whole_tables", p->dumps);
		lbfo_json_kv_bool(j, "sending_whole_table", p->dumping);
		lbfo_json_kv_uint(j, "unsent_bytes", p->out_len - p->out_off);
		if (p->last_tx_ns)
			lbfo_json_kv_uint(j, "last_tx_ms_ago", (now - p->last_tx_ns) / LBFO_NS_PER_MS);
		else
			lbfo_json_kv_null(j, "last_tx_ms_ago");
		lbfo_json_kv_str(j, "error", p->st == RT_SYNC_UP ? "" : p->err);
		lbfo_json_end(j);
	}
	lbfo_json_end(j);
	lbfo_json_end(j);
}
