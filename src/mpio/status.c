/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Views of a running LU, read-only: the status document (JSON and text),
 * the event log, the Prometheus figures, the status file. Called on the
 * loop thread (or with the LU's lock held).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lbfo/policy.h"
#include "lu_internal.h"

void lu_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

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

static const char *b(bool v) { return v ? "true" : "false"; }

static void fence_json(const struct lbfo_lu *lu, FILE *f)
{
	const struct lu_fence *fe = &lu->fence;

	fprintf(f, ",\"fence\":{\"method\":\"%s\",\"configured\":\"%s\",\"why\":",
		lbfo_fence_name(fe->method), lbfo_fence_name(lu->cfg.fence));
	lu_json_str(f, fe->why);
	fprintf(f, ",\"reinstate_own\":%s,\"debts\":%u,\"stale_keys\":%d,\"fences\":%" PRIu64
		",\"longest_ms\":%.3f}", b(fe->reinstate_own), fe->debts, fe->nstale, fe->fences,
		(double)fe->longest_ns / 1e6);
}

static void path_json(const struct lbfo_lu *lu, const struct lu_path *p, FILE *f)
{
	const struct lbfo_member *m = &lu->team.m[p->idx];
	uint32_t rnd;
	uint16_t qual;

	lu_fence_isid(lu, p, &rnd, &qual);
	fprintf(f, "{\"name\":");
	lu_json_str(f, p->cfg.name);
	fprintf(f, ",\"portal\":");
	lu_json_str(f, p->portal);
	fprintf(f, ",\"state\":\"%s\",\"session\":\"%s\",\"lu_state\":\"%s\",\"role\":\"%s\","
		"\"read_share\":%.2f,\"write_share\":%.2f,\"bytes_read\":%" PRIu64
		",\"bytes_written\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"writes\":%" PRIu64
		",\"outstanding\":%u,\"failures\":%" PRIu64 ",\"retries\":%" PRIu64
		",\"returned\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"logins\":%" PRIu64
		",\"flapping\":%s,\"owes_fence\":%s,\"last_fence_ms\":%.3f,\"read_MBps\":%.2f,"
		"\"write_MBps\":%.2f,\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,"
		"\"operator_down\":%s,\"tpgt\":%d,\"alua\":\"%s\",\"isid\":\"80%06x%04x\","
		"\"reservation_key\":\"%016" PRIx64 "\",\"conflicts\":%" PRIu64 ",\"last_error\":",
		lbfo_member_state_name(m->state), lbfo_session_state_name(p->s.st),
		lu_path_state_names[p->st], lbfo_role_name(m->role), m->share[LBFO_READ] / 100.0,
		m->share[LBFO_WRITE] / 100.0, m->st.bytes[LBFO_READ], m->st.bytes[LBFO_WRITE],
		m->st.cmds[LBFO_READ], m->st.cmds[LBFO_WRITE], m->outstanding, m->st.failures,
		p->retries, m->st.returned, p->errors, p->logins, b(p->s.flapping), b(p->owes_fence),
		(double)p->last_fence_ns / 1e6, p->rate[LBFO_READ] / 1e6, p->rate[LBFO_WRITE] / 1e6,
		lu_lat_quantile_ms(p, 0.5), lu_lat_quantile_ms(p, 0.99), b(p->admin_down), p->tpgt,
		lbfo_alua_state_name(p->alua), rnd, qual, p->pr_key, p->conflicts);
	lu_json_str(f, p->last_error[0] ? p->last_error : p->s.last_error);
	fprintf(f, ",\"interface\":");
	lu_json_str(f, p->ifname);
	fputc('}', f);
}

static void caps_json(const struct lbfo_lu *lu, FILE *f)
{
	const struct lbfo_lu_ident *id = &lu->ident;

	fprintf(f, ",\"vendor\":");
	lu_json_str(f, id->vendor);
	fprintf(f, ",\"product\":");
	lu_json_str(f, id->product);
	fprintf(f, ",\"capabilities\":{\"fua\":\"%s\",\"write_cache\":%s,\"trim\":%s,"
		"\"max_unmap_blocks\":%u,\"unmap_granularity\":%u,\"write_same\":%s,"
		"\"max_write_same_blocks\":%" PRIu64 ",\"alua\":%s}",
		id->dpofua ? "native" : id->wce ? "emulated (flush)" : "not needed (write-through)",
		b(id->wce), b(id->have_b2 ? id->lbpu : id->lbpme), id->max_unmap_blocks,
		id->unmap_granularity, b(!lu->ws_unsupported), id->max_ws_blocks, b(id->tpgs != 0));
}

void lu_status_json(struct lbfo_lu *lu, FILE *f)
{
	int i;
	bool first = true;

	fprintf(f, "{\"lus\":[{\"id\":");
	lu_json_str(f, lu->ident.id);
	fprintf(f, ",\"target\":");
	lu_json_str(f, lu->cfg.target);
	fprintf(f, ",\"lun\":%d,\"policy\":", lu->cfg.lun);
	lu_json_str(f, lbfo_team_policy_name(&lu->team));
	fprintf(f, ",\"mode\":\"%s\",\"blocks\":%" PRIu64 ",\"target_blocks\":%" PRIu64
		",\"block_size\":%u,\"max_transfer\":%u,\"outstanding\":%u,\"queued\":%u,"
		"\"parked\":%u,\"ios\":%" PRIu64 ",\"io_errors\":%" PRIu64 ",\"failovers\":%" PRIu64
		",\"requeued\":%" PRIu64 ",\"short_transfers\":%" PRIu64 ",\"fences\":%" PRIu64
		",\"longest_fence_ms\":%.3f,\"no_path\":%s,\"queueing\":%s,\"dead\":%s,"
		"\"link_watch\":%s,\"link_downs\":%" PRIu64,
		lbfo_mode_name(lbfo_team_mode(&lu->team)), lu->ident.blocks, lu->target_blocks,
		lu->ident.block_size, lu->max_xfer, lu->team.outstanding, lu->queue.n, lu->parked.n,
		lu->ios, lu->io_errors, lu->failovers, lu->requeued, lu->short_transfers,
		lu->fence.fences, (double)lu->fence.longest_ns / 1e6, b(lu->no_path_since_ns),
		b(lu->queueing), b(lu->dead), b(lu->link_fd >= 0), lu->link_downs);
	caps_json(lu, f);
	fence_json(lu, f);
	fprintf(f, ",\"paths\":[");
	for (i = 0; i < lu->npaths; i++) {
		if (i)
			fputc(',', f);
		path_json(lu, &lu->paths[i], f);
	}
	fprintf(f, "],\"clients\":[");
	for (i = 0; i < LBFO_MAX_CLIENTS; i++) {
		if (!lu->clients[i].open)
			continue;
		fprintf(f, "%s{\"id\":%d,\"ios\":%" PRIu64 ",\"errors\":%" PRIu64
			",\"bytes_read\":%" PRIu64 ",\"bytes_written\":%" PRIu64 "}",
			first ? "" : ",", i, lu->clients[i].ios, lu->clients[i].errors,
			lu->clients[i].bytes[LBFO_READ], lu->clients[i].bytes[LBFO_WRITE]);
		first = false;
	}
	fprintf(f, "],\"clients_total\":%" PRIu64 "}]}\n", lu->clients_total);
}

void lbfo_lu_status_json(struct lbfo_lu *lu, FILE *f)
{
	pthread_mutex_lock(&lu->mu);
	lu_status_json(lu, f);
	pthread_mutex_unlock(&lu->mu);
}

void lu_status_text(struct lbfo_lu *lu, FILE *f)
{
	double tot = 0;
	int i;

	fprintf(f, "LU %s  target %s  LUN %d  %" PRIu64 " x %u B  policy %s (%s)\n",
		lu->ident.id, lu->cfg.target, lu->cfg.lun, lu->ident.blocks,
		lu->ident.block_size, lbfo_team_policy_name(&lu->team),
		lbfo_mode_name(lbfo_team_mode(&lu->team)));
	if (lu->target_blocks != lu->ident.blocks)
		fprintf(f, "  the target now reports %" PRIu64 " blocks: re-export to use them\n",
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
		const char *err = p->last_error[0] ? p->last_error : p->s.last_error;

		fprintf(f, "  %-8s %-22s %-9s %-9s %6.2f %6.2f %6.1f %8.1f %8.1f %5u %7.2f %7.2f %6"
			PRIu64 " %7" PRIu64 "%s%s%s\n",
			p->cfg.name, p->portal, lbfo_member_state_name(m->state),
			lbfo_role_name(m->role), m->share[LBFO_READ] / 100.0,
			m->share[LBFO_WRITE] / 100.0, tot > 0 ? 100.0 * r / tot : 0,
			p->rate[LBFO_READ] / 1e6, p->rate[LBFO_WRITE] / 1e6, m->outstanding,
			lu_lat_quantile_ms(p, 0.5), lu_lat_quantile_ms(p, 0.99), p->errors,
			m->st.returned + p->retries, p->s.flapping ? "  flapping" : "",
			p->admin_down ? "  (operator)" : "", p->owes_fence ? "  owes a fence" : "");
		if (err[0] && m->state != LBFO_MS_ACTIVE)
			fprintf(f, "           last error: %s\n", err);
	}
}

static const char *level_name(int level)
{
	switch (level) {
	case LBFO_LOG_ERR: return "err";
	case LBFO_LOG_WARNING: return "warning";
	case LBFO_LOG_NOTICE: return "notice";
	case LBFO_LOG_INFO: return "info";
	default: return "debug";
	}
}

void lu_events_out(struct lbfo_lu *lu, FILE *f, bool json)
{
	unsigned k;

	if (json)
		fprintf(f, "{\"events\":[");
	for (k = 0; k < lu->ev_count; k++) {
		const struct lbfo_event *ev = &lu->events[(lu->ev_head + k) % LBFO_EVENTS_MAX];
		time_t secs = (time_t)(ev->wall_ns / LBFO_NS_PER_SEC);
		struct tm tm;
		char when[32];

		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		if (json) {
			fprintf(f, "%s{\"time\":\"%s.%03uZ\",\"level\":\"%s\",\"message\":",
				k ? "," : "", when,
				(unsigned)(ev->wall_ns % LBFO_NS_PER_SEC / 1000000),
				level_name(ev->level));
			lu_json_str(f, ev->text);
			fputc('}', f);
		} else {
			fprintf(f, "%s.%03uZ %-7s %s\n", when,
				(unsigned)(ev->wall_ns % LBFO_NS_PER_SEC / 1000000),
				level_name(ev->level), ev->text);
		}
	}
	if (json)
		fprintf(f, "]}\n");
}

/* ---- Prometheus ------------------------------------------------------------- */

/* A label value, escaped as the text exposition format asks. */
static void label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void lu_sample(FILE *f, const struct lbfo_lu *lu, const char *name, uint64_t v)
{
	fprintf(f, "%s{", name);
	label(f, "lu", lu->ident.id);
	fprintf(f, "} %" PRIu64 "\n", v);
}

static void path_labels(FILE *f, const struct lbfo_lu *lu, const struct lu_path *p)
{
	label(f, "lu", lu->ident.id);
	fputc(',', f);
	label(f, "path", p->cfg.name);
}

struct path_metric {
	const char *name, *type, *help;
	double (*get)(const struct lbfo_lu *lu, const struct lu_path *p);
};

static double m_errors(const struct lbfo_lu *lu, const struct lu_path *p) { (void)lu; return (double)p->errors; }
static double m_retries(const struct lbfo_lu *lu, const struct lu_path *p) { return (double)(lu->team.m[p->idx].st.returned + p->retries); }
static double m_failures(const struct lbfo_lu *lu, const struct lu_path *p) { return (double)lu->team.m[p->idx].st.failures; }
static double m_outstanding(const struct lbfo_lu *lu, const struct lu_path *p) { return lu->team.m[p->idx].outstanding; }
static double m_owes(const struct lbfo_lu *lu, const struct lu_path *p) { (void)lu; return p->owes_fence; }

static const struct path_metric path_metrics[] = {
	{ "lbfo_path_errors_total", "counter", "Commands that failed on the target through a path.", m_errors },
	{ "lbfo_path_retries_total", "counter", "Commands sent again after a path failed or the target asked for a retry.", m_retries },
	{ "lbfo_path_failures_total", "counter", "Times a path failed.", m_failures },
	{ "lbfo_path_outstanding", "gauge", "Commands in flight on a path.", m_outstanding },
	{ "lbfo_path_owes_fence", "gauge", "1 while a path owes a fence (writes wait).", m_owes },
};

void lbfo_metrics_text(struct lbfo_lu *lu, FILE *f)
{
	static const char *const states[] = { "active", "standby", "failed", "probing", "draining" };
	size_t k;
	int i, s, d;

	family(f, "lbfo_lu_ios_total", "counter", "Client requests completed.");
	lu_sample(f, lu, "lbfo_lu_ios_total", lu->ios);
	family(f, "lbfo_lu_io_errors_total", "counter", "Client requests that failed.");
	lu_sample(f, lu, "lbfo_lu_io_errors_total", lu->io_errors);
	family(f, "lbfo_lu_failovers_total", "counter", "Path failures that moved I/O.");
	lu_sample(f, lu, "lbfo_lu_failovers_total", lu->failovers);
	family(f, "lbfo_lu_retries_total", "counter", "Commands re-sent after a path failed.");
	lu_sample(f, lu, "lbfo_lu_retries_total", lu->requeued);
	family(f, "lbfo_lu_fences_total", "counter", "Fences paid (a failed path's writes released).");
	lu_sample(f, lu, "lbfo_lu_fences_total", lu->fence.fences);
	family(f, "lbfo_lu_outstanding", "gauge", "Commands in flight on the LU.");
	lu_sample(f, lu, "lbfo_lu_outstanding", lu->team.outstanding);
	family(f, "lbfo_lu_parked", "gauge", "Writes waiting for a fence.");
	lu_sample(f, lu, "lbfo_lu_parked", lu->parked.n);
	family(f, "lbfo_path_bytes_total", "counter", "Bytes completed on a path.");
	for (i = 0; i < lu->npaths; i++)
		for (d = 0; d < LBFO_DIR__MAX; d++) {
			fprintf(f, "lbfo_path_bytes_total{");
			path_labels(f, lu, &lu->paths[i]);
			fprintf(f, ",dir=\"%s\"} %" PRIu64 "\n", lbfo_dir_name((enum lbfo_dir)d),
				lu->team.m[i].st.bytes[d]);
		}
	family(f, "lbfo_path_commands_total", "counter", "Commands completed on a path.");
	for (i = 0; i < lu->npaths; i++)
		for (d = 0; d < LBFO_DIR__MAX; d++) {
			fprintf(f, "lbfo_path_commands_total{");
			path_labels(f, lu, &lu->paths[i]);
			fprintf(f, ",dir=\"%s\"} %" PRIu64 "\n", lbfo_dir_name((enum lbfo_dir)d),
				lu->team.m[i].st.cmds[d]);
		}
	for (k = 0; k < sizeof(path_metrics) / sizeof(path_metrics[0]); k++) {
		family(f, path_metrics[k].name, path_metrics[k].type, path_metrics[k].help);
		for (i = 0; i < lu->npaths; i++) {
			fprintf(f, "%s{", path_metrics[k].name);
			path_labels(f, lu, &lu->paths[i]);
			fprintf(f, "} %g\n", path_metrics[k].get(lu, &lu->paths[i]));
		}
	}
	family(f, "lbfo_path_share_ratio", "gauge", "A path's share of the LU's commands (0..1).");
	for (i = 0; i < lu->npaths; i++)
		for (d = 0; d < LBFO_DIR__MAX; d++) {
			fprintf(f, "lbfo_path_share_ratio{");
			path_labels(f, lu, &lu->paths[i]);
			fprintf(f, ",dir=\"%s\"} %.4f\n", d == LBFO_READ ? "read" : "write",
				lu->team.m[i].share[d] / 10000.0);
		}
	family(f, "lbfo_path_state", "gauge", "1 for the state a path's member is in.");
	for (i = 0; i < lu->npaths; i++)
		for (s = 0; s < 5; s++) {
			fprintf(f, "lbfo_path_state{");
			path_labels(f, lu, &lu->paths[i]);
			fprintf(f, ",state=\"%s\"} %d\n", states[s], (int)lu->team.m[i].state == s);
		}
}

/* Written, then renamed: a reader never sees half a document. */
void lu_write_status_file(struct lbfo_lu *lu)
{
	char tmp[LBFO_STR_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%.*s.tmp", LBFO_STR_MAX - 1, lu->cfg.status_file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	lu_status_json(lu, f);
	if (fclose(f) == 0)
		rename(tmp, lu->cfg.status_file);
}
