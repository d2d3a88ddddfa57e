/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Views of a running LU, read-only: its part of the status document (JSON
 * and text) and of the Prometheus figures. Called on the loop thread (or
 * with the LU's lock held); the owner writes the document around them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lbfo/policy.h"
#include "lu_internal.h"
#include "mpio.h"

/* Upper bound of the bucket holding the q-quantile, milliseconds. */
double lu_lat_quantile_ms(const struct lu_path *p, double q)
{
	uint64_t want, seen = 0;
	int b;

	if (!p->lat_count)
		return 0;
	want = (uint64_t)(q * (double)p->lat_count);
	if (want == 0)
		want = 1;
	for (b = 0; b < LBFO_LAT_BUCKETS; b++) {
		seen += p->lat_hist[b];
		if (seen >= want)
			return (double)(1ull << b) / 1000.0;
	}
	return (double)(1ull << (LBFO_LAT_BUCKETS - 1)) / 1000.0;
}

void lu_rates_tick(struct lbfo_lu *lu, uint64_t now)
{
	double secs;
	int i, d;

	if (now - lu->rate_mark_ns < LBFO_NS_PER_SEC)
		return;
	secs = (double)(now - lu->rate_mark_ns) / 1e9;
	for (i = 0; i < lu->npaths; i++)
		for (d = 0; d < LBFO_DIR__MAX; d++) {
			struct lu_path *p = &lu->paths[i];
			uint64_t b = lu->team.m[i].st.bytes[d];

			p->rate[d] = lu->rate_mark_ns ? (double)(b - p->rate_mark_bytes[d]) / secs : 0;
			p->rate_mark_bytes[d] = b;
		}
	lu->rate_mark_ns = now;
}

static void fence_json(const struct lbfo_lu *lu, struct lbfo_json *j)
{
	const struct lu_fence *fe = &lu->fence;

	lbfo_json_key(j, "fence");
	lbfo_json_obj(j);
	lbfo_json_kv_str(j, "method", lbfo_fence_name(fe->method));
	lbfo_json_kv_str(j, "configured", lbfo_fence_name(lu->cfg.fence));
	lbfo_json_kv_str(j, "why", fe->why);
	lbfo_json_kv_bool(j, "reinstate_own", fe->reinstate_own);
	lbfo_json_kv_uint(j, "debts", fe->debts);
	lbfo_json_kv_int(j, "stale_keys", fe->nstale);
	lbfo_json_kv_uint(j, "fences", fe->fences);
	lbfo_json_kv_fixed(j, "longest_ms", (double)fe->longest_ns / 1e6, 3);
	lbfo_json_end(j);
}

static void path_counters_json(const struct lbfo_lu *lu, const struct lu_path *p,
			       struct lbfo_json *j)
{
	const struct lbfo_member *m = &lu->team.m[p->idx];

	lbfo_json_kv_fixed(j, "read_share", m->share[LBFO_READ] / 100.0, 2);
	lbfo_json_kv_fixed(j, "write_share", m->share[LBFO_WRITE] / 100.0, 2);
	lbfo_json_kv_uint(j, "bytes_read", m->st.bytes[LBFO_READ]);
	lbfo_json_kv_uint(j, "bytes_written", m->st.bytes[LBFO_WRITE]);
	lbfo_json_kv_uint(j, "reads", m->st.cmds[LBFO_READ]);
	lbfo_json_kv_uint(j, "writes", m->st.cmds[LBFO_WRITE]);
	lbfo_json_kv_uint(j, "outstanding", m->outstanding);
	lbfo_json_kv_uint(j, "failures", m->st.failures);
	lbfo_json_kv_uint(j, "retries", p->retries);
	lbfo_json_kv_uint(j, "returned", m->st.returned);
	lbfo_json_kv_uint(j, "errors", p->errors);
	lbfo_json_kv_uint(j, "logins", p->ups);
	lbfo_json_kv_uint(j, "conflicts", p->conflicts);
	lbfo_json_kv_fixed(j, "read_MBps", p->rate[LBFO_READ] / 1e6, 2);
	lbfo_json_kv_fixed(j, "write_MBps", p->rate[LBFO_WRITE] / 1e6, 2);
	lbfo_json_kv_fixed(j, "latency_p50_ms", lu_lat_quantile_ms(p, 0.5), 3);
	lbfo_json_kv_fixed(j, "latency_p99_ms", lu_lat_quantile_ms(p, 0.99), 3);
}

static void path_json(const struct lbfo_lu *lu, const struct lu_path *p, struct lbfo_json *j)
{
	const struct lbfo_member *m = &lu->team.m[p->idx];
	char isid[16], key[20];
	uint32_t rnd;
	uint16_t qual;

	tgt_path_isid(p->tp, &rnd, &qual);
	snprintf(isid, sizeof(isid), "80%06x%04x", rnd, qual);
	snprintf(key, sizeof(key), "%016" PRIx64, p->pr_key);
	lbfo_json_obj(j);
	lbfo_json_kv_str(j, "name", p->cfg.name);
	lbfo_json_kv_str(j, "portal", p->portal);
	lbfo_json_kv_str(j, "target", p->tp->tgt->name);
	lbfo_json_kv_int(j, "lun", p->lun);
	lbfo_json_kv_str(j, "state", lbfo_member_state_name(m->state));
	lbfo_json_kv_str(j, "session", lbfo_session_state_name(p->s->st));
	lbfo_json_kv_str(j, "lu_state", lu_path_state_names[p->st]);
	lbfo_json_kv_str(j, "role", lbfo_role_name(m->role));
	path_counters_json(lu, p, j);
	lbfo_json_kv_bool(j, "flapping", p->s->flapping);
	lbfo_json_kv_bool(j, "owes_fence", p->owes_fence);
	lbfo_json_kv_fixed(j, "last_fence_ms", (double)p->last_fence_ns / 1e6, 3);
	lbfo_json_kv_bool(j, "operator_down", p->admin_down);
	lbfo_json_kv_int(j, "tpgt", p->tp->tpgt);
	lbfo_json_kv_str(j, "alua", lbfo_alua_state_name(p->alua));
	lbfo_json_kv_str(j, "isid", isid);
	lbfo_json_kv_str(j, "reservation_key", key);
	lbfo_json_kv_str(j, "last_error", p->last_error[0] ? p->last_error : p->s->last_error);
	lbfo_json_kv_str(j, "interface", p->tp->ifname);
	lbfo_json_end(j);
}

static void caps_json(const struct lbfo_lu *lu, struct lbfo_json *j)
{
	const struct lbfo_lu_ident *id = &lu->ident;

	lbfo_json_kv_str(j, "vendor", id->vendor);
	lbfo_json_kv_str(j, "product", id->product);
	lbfo_json_key(j, "capabilities");
	lbfo_json_obj(j);
	lbfo_json_kv_str(j, "fua", id->dpofua ? "native" : id->have_mode && !id->wce ?
			 "not needed (write-through)" : "emulated (flush)");
	lbfo_json_kv_bool(j, "write_cache", id->wce);
	lbfo_json_kv_bool(j, "trim", id->have_b2 ? id->lbpu : id->lbpme);
	lbfo_json_kv_uint(j, "max_unmap_blocks", id->max_unmap_blocks);
	lbfo_json_kv_uint(j, "unmap_granularity", id->unmap_granularity);
	lbfo_json_kv_bool(j, "write_same", !lu->ws_unsupported);
	lbfo_json_kv_uint(j, "max_write_same_blocks", id->max_ws_blocks);
	lbfo_json_kv_bool(j, "alua", id->tpgs != 0);
	lbfo_json_end(j);
}

static void lu_counters_json(const struct lbfo_lu *lu, struct lbfo_json *j)
{
	lbfo_json_kv_str(j, "mode", lbfo_mode_name(lbfo_team_mode(&lu->team)));
	lbfo_json_kv_uint(j, "blocks", lu->ident.blocks);
	lbfo_json_kv_uint(j, "target_blocks", lu->target_blocks);
	lbfo_json_kv_uint(j, "block_size", lu->ident.block_size);
	lbfo_json_kv_uint(j, "max_transfer", lu->max_xfer);
	lbfo_json_kv_uint(j, "outstanding", lu->team.outstanding);
	lbfo_json_kv_uint(j, "queued", lu->queue.n);
	lbfo_json_kv_uint(j, "parked", lu->parked.n);
	lbfo_json_kv_uint(j, "ios", lu->ios);
	lbfo_json_kv_uint(j, "io_errors", lu->io_errors);
	lbfo_json_kv_uint(j, "failovers", lu->failovers);
	lbfo_json_kv_uint(j, "requeued", lu->requeued);
	lbfo_json_kv_uint(j, "short_transfers", lu->short_transfers);
	lbfo_json_kv_uint(j, "fences", lu->fence.fences);
	lbfo_json_kv_fixed(j, "longest_fence_ms", (double)lu->fence.longest_ns / 1e6, 3);
	lbfo_json_kv_bool(j, "no_path", lu->no_path_since_ns != 0);
	lbfo_json_kv_bool(j, "queueing", lu->queueing);
	lbfo_json_kv_bool(j, "dead", lu->dead != 0);
}

static void clients_json(const struct lbfo_lu *lu, struct lbfo_json *j)
{
	int i;

	lbfo_json_key(j, "clients");
	lbfo_json_arr(j);
	for (i = 0; i < LBFO_MAX_CLIENTS; i++) {
		if (!lu->clients[i].open)
			continue;
		lbfo_json_obj(j);
		lbfo_json_kv_int(j, "id", i);
		lbfo_json_kv_uint(j, "ios", lu->clients[i].ios);
		lbfo_json_kv_uint(j, "errors", lu->clients[i].errors);
		lbfo_json_kv_uint(j, "bytes_read", lu->clients[i].bytes[LBFO_READ]);
		lbfo_json_kv_uint(j, "bytes_written", lu->clients[i].bytes[LBFO_WRITE]);
		lbfo_json_end(j);
	}
	lbfo_json_end(j);
	lbfo_json_kv_uint(j, "clients_total", lu->clients_total);
}

void lbfo_lu_json_fields(struct lbfo_lu *lu, struct lbfo_json *j)
{
	int i;

	lbfo_json_kv_str(j, "id", lu->ident.id);
	lbfo_json_kv_str(j, "target", lu->paths[0].tp->tgt->name);
	lbfo_json_kv_int(j, "lun", lu->paths[0].lun);
	lbfo_json_kv_str(j, "policy", lbfo_team_policy_name(&lu->team));
	lu_counters_json(lu, j);
	caps_json(lu, j);
	fence_json(lu, j);
	lbfo_json_key(j, "paths");
	lbfo_json_arr(j);
	for (i = 0; i < lu->npaths; i++)
		path_json(lu, &lu->paths[i], j);
	lbfo_json_end(j);
	clients_json(lu, j);
}

void lbfo_lu_text(struct lbfo_lu *lu, FILE *f)
{
	double tot = 0;
	int i;

	fprintf(f, "LU %s  target %s  LUN %d  %" PRIu64 " x %u B  policy %s (%s)\n",
		lu->ident.id, lu->paths[0].tp->tgt->name, lu->paths[0].lun, lu->ident.blocks,
		lu->ident.block_size, lbfo_team_policy_name(&lu->team),
		lbfo_mode_name(lbfo_team_mode(&lu->team)));
	if (lu->target_blocks != lu->ident.blocks)
		fprintf(f, "  the target now reports %" PRIu64 " blocks: lbfoctl resize exports them\n",
			lu->target_blocks);
	fprintf(f, "  outstanding %u  queued %u  parked %u  I/O %" PRIu64 "  errors %" PRIu64
		"  failovers %" PRIu64 "  retried %" PRIu64 "  fences %" PRIu64 "%s%s\n",
		lu->team.outstanding, lu->queue.n, lu->parked.n, lu->ios, lu->io_errors,
		lu->failovers, lu->requeued, lu->fence.fences, lu->no_path_since_ns ? "  NO PATH" : "",
		lu->queueing ? "" : "  QUEUEING OFF");
	fprintf(f, "  fencing: %s (%s)%s\n", lbfo_fence_name(lu->fence.method), lu->fence.why,
		lu->fence.debts ? "  -- writes wait for a fence" : "");
	fprintf(f, "  %-8s %-22s %-9s %-9s %6s %6s %6s %8s %8s %5s %7s %7s %6s %7s\n",
		"PATH", "PORTAL", "STATE", "ROLE", "RD%", "WR%", "ACT%", "RD MB/s", "WR MB/s",
		"OUT", "P50 ms", "P99 ms", "ERR", "RETRY");
	for (i = 0; i < lu->npaths; i++)
		tot += lu->paths[i].rate[LBFO_READ] + lu->paths[i].rate[LBFO_WRITE];
	for (i = 0; i < lu->npaths; i++) {
		const struct lu_path *p = &lu->paths[i];
		const struct lbfo_member *m = &lu->team.m[i];
		double r = p->rate[LBFO_READ] + p->rate[LBFO_WRITE];
		const char *err = p->last_error[0] ? p->last_error : p->s->last_error;

		fprintf(f, "  %-8s %-22s %-9s %-9s %6.2f %6.2f %6.1f %8.1f %8.1f %5u %7.2f %7.2f %6"
			PRIu64 " %7" PRIu64 "%s%s%s\n",
			p->cfg.name, p->portal, lbfo_member_state_name(m->state),
			lbfo_role_name(m->role), m->share[LBFO_READ] / 100.0,
			m->share[LBFO_WRITE] / 100.0, tot > 0 ? 100.0 * r / tot : 0,
			p->rate[LBFO_READ] / 1e6, p->rate[LBFO_WRITE] / 1e6, m->outstanding,
			lu_lat_quantile_ms(p, 0.5), lu_lat_quantile_ms(p, 0.99), p->errors,
			m->st.returned + p->retries, p->s->flapping ? "  flapping" : "",
			p->admin_down ? "  (operator)" : "", p->owes_fence ? "  owes a fence" : "");
		if (err[0] && m->state != LBFO_MS_ACTIVE)
			fprintf(f, "           last error: %s\n", err);
	}
}

/* ---- Prometheus ------------------------------------------------------------- */

static const struct lbfo_prom_family F_IOS = { "lbfo_lu_ios_total", LBFO_PROM_COUNTER,
	"Client requests completed." };
static const struct lbfo_prom_family F_IO_ERRORS = { "lbfo_lu_io_errors_total", LBFO_PROM_COUNTER,
	"Client requests that failed." };
static const struct lbfo_prom_family F_FAILOVERS = { "lbfo_lu_failovers_total", LBFO_PROM_COUNTER,
	"Path failures that moved I/O." };
static const struct lbfo_prom_family F_RETRIES = { "lbfo_lu_retries_total", LBFO_PROM_COUNTER,
	"Commands re-sent after a path failed." };
static const struct lbfo_prom_family F_FENCES = { "lbfo_lu_fences_total", LBFO_PROM_COUNTER,
	"Fences paid (a failed path's writes released)." };
static const struct lbfo_prom_family F_OUTSTANDING = { "lbfo_lu_outstanding", LBFO_PROM_GAUGE,
	"Commands in flight on the LU." };
static const struct lbfo_prom_family F_PARKED = { "lbfo_lu_parked", LBFO_PROM_GAUGE,
	"Writes waiting for a fence." };
static const struct lbfo_prom_family F_BYTES = { "lbfo_path_bytes_total", LBFO_PROM_COUNTER,
	"Bytes completed on a path." };
static const struct lbfo_prom_family F_CMDS = { "lbfo_path_commands_total", LBFO_PROM_COUNTER,
	"Commands completed on a path." };
static const struct lbfo_prom_family F_SHARE = { "lbfo_path_share_ratio", LBFO_PROM_GAUGE,
	"A path's share of the LU's commands (0..1)." };
static const struct lbfo_prom_family F_STATE = { "lbfo_path_state", LBFO_PROM_GAUGE,
	"1 for the state a path's member is in." };

struct path_metric {
	struct lbfo_prom_family fam;
	double (*get)(const struct lbfo_lu *lu, const struct lu_path *p);
};

static double m_errors(const struct lbfo_lu *lu, const struct lu_path *p) { (void)lu; return (double)p->errors; }
static double m_retries(const struct lbfo_lu *lu, const struct lu_path *p) { return (double)(lu->team.m[p->idx].st.returned + p->retries); }
static double m_failures(const struct lbfo_lu *lu, const struct lu_path *p) { return (double)lu->team.m[p->idx].st.failures; }
static double m_outstanding(const struct lbfo_lu *lu, const struct lu_path *p) { return lu->team.m[p->idx].outstanding; }
static double m_owes(const struct lbfo_lu *lu, const struct lu_path *p) { (void)lu; return p->owes_fence; }

static const struct path_metric path_metrics[] = {
	{ { "lbfo_path_errors_total", LBFO_PROM_COUNTER,
	    "Commands that failed on the target through a path." }, m_errors },
	{ { "lbfo_path_retries_total", LBFO_PROM_COUNTER,
	    "Commands sent again after a path failed or the target asked for a retry." }, m_retries },
	{ { "lbfo_path_failures_total", LBFO_PROM_COUNTER, "Times a path failed." }, m_failures },
	{ { "lbfo_path_outstanding", LBFO_PROM_GAUGE, "Commands in flight on a path." }, m_outstanding },
	{ { "lbfo_path_owes_fence", LBFO_PROM_GAUGE,
	    "1 while a path owes a fence (writes wait)." }, m_owes },
};

struct lu_metric {
	const struct lbfo_prom_family *fam;
	uint64_t (*get)(const struct lbfo_lu *lu);
};

static uint64_t l_ios(const struct lbfo_lu *lu) { return lu->ios; }
static uint64_t l_errors(const struct lbfo_lu *lu) { return lu->io_errors; }
static uint64_t l_failovers(const struct lbfo_lu *lu) { return lu->failovers; }
static uint64_t l_requeued(const struct lbfo_lu *lu) { return lu->requeued; }
static uint64_t l_fences(const struct lbfo_lu *lu) { return lu->fence.fences; }
static uint64_t l_outstanding(const struct lbfo_lu *lu) { return lu->team.outstanding; }
static uint64_t l_parked(const struct lbfo_lu *lu) { return lu->parked.n; }

static const struct lu_metric lu_metrics_tab[] = {
	{ &F_IOS, l_ios }, { &F_IO_ERRORS, l_errors }, { &F_FAILOVERS, l_failovers },
	{ &F_RETRIES, l_requeued }, { &F_FENCES, l_fences }, { &F_OUTSTANDING, l_outstanding },
	{ &F_PARKED, l_parked },
};

/* Each family once, with the samples of every LU (the exposition format
 * wants a family's samples together). */
static void path_dir_metrics(struct lbfo_lu *const *lus, int nlu, struct lbfo_prom *p)
{
	static const char *const states[] = { "active", "standby", "failed", "probing", "draining" };
	int k, i, d, s;

	lbfo_prom_family(p, &F_BYTES);
	for (k = 0; k < nlu; k++)
		for (i = 0; i < lus[k]->npaths; i++)
			for (d = 0; d < LBFO_DIR__MAX; d++)
				lbfo_prom_u64(p, lus[k]->team.m[i].st.bytes[d], "lu", lus[k]->ident.id,
					      "path", lus[k]->paths[i].cfg.name, "dir",
					      lbfo_dir_name((enum lbfo_dir)d), NULL);
	lbfo_prom_family(p, &F_CMDS);
	for (k = 0; k < nlu; k++)
		for (i = 0; i < lus[k]->npaths; i++)
			for (d = 0; d < LBFO_DIR__MAX; d++)
				lbfo_prom_u64(p, lus[k]->team.m[i].st.cmds[d], "lu", lus[k]->ident.id,
					      "path", lus[k]->paths[i].cfg.name, "dir",
					      lbfo_dir_name((enum lbfo_dir)d), NULL);
	lbfo_prom_family(p, &F_SHARE);
	for (k = 0; k < nlu; k++)
		for (i = 0; i < lus[k]->npaths; i++)
			for (d = 0; d < LBFO_DIR__MAX; d++)
				lbfo_prom_double(p, lus[k]->team.m[i].share[d] / 10000.0, "lu",
						 lus[k]->ident.id, "path", lus[k]->paths[i].cfg.name,
						 "dir", d == LBFO_READ ? "read" : "write", NULL);
	lbfo_prom_family(p, &F_STATE);
	for (k = 0; k < nlu; k++)
		for (i = 0; i < lus[k]->npaths; i++)
			for (s = 0; s < 5; s++)
				lbfo_prom_u64(p, (int)lus[k]->team.m[i].state == s, "lu",
					      lus[k]->ident.id, "path", lus[k]->paths[i].cfg.name,
					      "state", states[s], NULL);
}

void lbfo_lus_metrics(struct lbfo_lu *const *lus, int nlu, struct lbfo_prom *p)
{
	size_t m;
	int k, i;

	for (m = 0; m < sizeof(lu_metrics_tab) / sizeof(lu_metrics_tab[0]); m++) {
		lbfo_prom_family(p, lu_metrics_tab[m].fam);
		for (k = 0; k < nlu; k++)
			lbfo_prom_u64(p, lu_metrics_tab[m].get(lus[k]), "lu", lus[k]->ident.id, NULL);
	}
	path_dir_metrics(lus, nlu, p);
	for (m = 0; m < sizeof(path_metrics) / sizeof(path_metrics[0]); m++) {
		lbfo_prom_family(p, &path_metrics[m].fam);
		for (k = 0; k < nlu; k++)
			for (i = 0; i < lus[k]->npaths; i++)
				lbfo_prom_double(p, path_metrics[m].get(lus[k], &lus[k]->paths[i]),
						 "lu", lus[k]->ident.id, "path",
						 lus[k]->paths[i].cfg.name, NULL);
	}
}
