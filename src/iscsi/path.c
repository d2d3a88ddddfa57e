/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One iSCSI path over libiscsi: context set-up, SCSI command issue,
 * identity parsing and a bounded synchronous probe.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "path.h"

void lbfo_portal_normalise(const char *in, char *out, size_t len)
{
	const char *colon = strrchr(in, ':');

	/* An IPv6 literal is bracketed: [::1]:3260. */
	if (colon && (in[0] != '[' || colon > strchr(in, ']')))
		snprintf(out, len, "%s", in);
	else
		snprintf(out, len, "%s:3260", in);
}

struct iscsi_context *lbfo_iscsi_context(const struct lbfo_iscsi_params *p,
					 char *err, size_t errlen)
{
	struct iscsi_context *ctx = iscsi_create_context(p->initiator);

	if (!ctx) {
		snprintf(err, errlen, "cannot create an iSCSI context (out of memory?)");
		return NULL;
	}
	if (iscsi_set_targetname(ctx, p->target) ||
	    iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL) ||
	    iscsi_set_header_digest(ctx, p->header_digest ? ISCSI_HEADER_DIGEST_CRC32C
							  : ISCSI_HEADER_DIGEST_NONE) ||
	    iscsi_set_isid_random(ctx, p->isid_rnd & 0xffffff, p->isid_qualifier))
		goto fail;
	if (p->chap_user && p->chap_user[0] &&
	    iscsi_set_initiator_username_pwd(ctx, p->chap_user,
					     p->chap_password ? p->chap_password : ""))
		goto fail;
	if (p->mutual_user && p->mutual_user[0] &&
	    iscsi_set_target_username_pwd(ctx, p->mutual_user,
					  p->mutual_password ? p->mutual_password : ""))
		goto fail;
	/* lbfo decides when a path is back; libiscsi must not reconnect
	 * behind its back (a reconnect would replay commands the team has
	 * already handed to another path). */
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_reconnect_max_retries(ctx, 0);
	if (p->tcp_user_timeout_ms)
		iscsi_set_tcp_user_timeout(ctx, (int)p->tcp_user_timeout_ms);
	iscsi_set_tcp_keepidle(ctx, 1);
	iscsi_set_tcp_keepintvl(ctx, 1);
	iscsi_set_tcp_keepcnt(ctx, 3);
	iscsi_set_tcp_syncnt(ctx, 2);
	return ctx;
fail:
	snprintf(err, errlen, "iSCSI context set-up: %s", iscsi_get_error(ctx));
	iscsi_destroy_context(ctx);
	return NULL;
}

struct scsi_task *lbfo_iscsi_submit(struct iscsi_context *ctx, int lun,
				    const struct lbfo_scsi_req *r,
				    iscsi_command_cb cb, void *priv)
{
	static unsigned char zero_block[65536];
	uint32_t len = r->blocks * r->block_size;
	struct unmap_list ul = { .lba = r->lba, .num = r->blocks };

	switch (r->type) {
	case LBFO_IO_READ:
		/* libiscsi keeps a pointer to the iovec array, not a copy. */
		return iscsi_read16_iov_task(ctx, lun, r->lba, len, (int)r->block_size,
					     0, 0, r->fua, 0, 0, cb, priv, r->iov, 1);
	case LBFO_IO_WRITE:
		return iscsi_write16_iov_task(ctx, lun, r->lba, NULL, len, (int)r->block_size,
					      0, 0, r->fua, 0, 0, cb, priv, r->iov, 1);
	case LBFO_IO_FLUSH:
		return iscsi_synchronizecache16_task(ctx, lun, 0, 0, 0, 0, cb, priv);
	case LBFO_IO_TRIM:
		return iscsi_unmap_task(ctx, lun, 0, 0, &ul, 1, cb, priv);
	case LBFO_IO_ZERO:
		if (r->block_size > sizeof(zero_block))
			return NULL;
		return iscsi_writesame16_task(ctx, lun, r->lba, zero_block, r->block_size,
					      r->blocks, 0, 0, 0, 0, cb, priv);
	}
	return NULL;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void hex(const unsigned char *d, size_t n, char *out, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 3 <= len; i++)
		o += (size_t)snprintf(out + o, len - o, "%02x", d[i]);
}

static void ascii(const unsigned char *d, size_t n, char *out, size_t len)
{
	size_t i, o = 0;

	while (n > 0 && (d[n - 1] == ' ' || d[n - 1] == '\0'))
		n--;
	for (i = 0; i < n && o + 1 < len; i++)
		out[o++] = d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : '.';
	out[o] = '\0';
}

/*
 * INQUIRY VPD 0x83 (SPC-4 7.8.6): designation descriptors from byte 4,
 * each: [0] protocol id | code set, [1] PIV | association | type,
 * [3] length, then the designator. We use designators of the logical
 * unit itself (association 0), the most globally unique first:
 * NAA IEEE registered (5, 6) or extended (2), EUI-64, SCSI name string,
 * T10 vendor id, and last NAA "locally assigned" (3), which targets build
 * from their own target and LUN numbers (tgt does) and so repeats across
 * arrays: grouping paths by it could merge different LUs.
 */
static int designator_rank(const unsigned char *de)
{
	switch (de[1] & 0x0f) {
	case 3:
		switch (de[4] >> 4) {
		case 5: case 6: return 6;
		case 2: return 5;
		default: return 1; /* NAA 3, locally assigned */
		}
	case 2: return 4;
	case 8: return 3;
	case 1: return 2;
	default: return 0;
	}
}

int lbfo_ident_from_vpd83(const unsigned char *d, size_t n, char *id, size_t len)
{
	const unsigned char *best = NULL;
	size_t off, plen;

	if (n < 4 || d[1] != 0x83)
		return -1;
	plen = (size_t)d[2] << 8 | d[3];
	if (plen + 4 < n)
		n = plen + 4;
	for (off = 4; off + 4 <= n; off += 4u + d[off + 3]) {
		const unsigned char *de = d + off;
		int assoc = (de[1] >> 4) & 3;

		if (off + 4u + de[3] > n)
			return -1; /* truncated descriptor */
		if (assoc != 0 || de[3] == 0 || designator_rank(de) == 0)
			continue;
		if (!best || designator_rank(de) > designator_rank(best))
			best = de;
	}
	if (!best)
		return -1;
	switch (best[1] & 0x0f) {
	case 3:
		snprintf(id, len, "naa.");
		hex(best + 4, best[3], id + 4, len - 4);
		break;
	case 2:
		snprintf(id, len, "eui.");
		hex(best + 4, best[3], id + 4, len - 4);
		break;
	case 8:
		ascii(best + 4, best[3], id, len);
		break;
	default:
		snprintf(id, len, "t10.");
		ascii(best + 4, best[3], id + 4, len - 4);
		break;
	}
	return 0;
}

int lbfo_ident_from_vpd80(const unsigned char *d, size_t n, char *id, size_t len)
{
	size_t plen;

	if (n < 4 || d[1] != 0x80)
		return -1;
	plen = d[3];
	if (plen == 0 || plen + 4 > n)
		return -1;
	snprintf(id, len, "serial.");
	ascii(d + 4, plen, id + 7, len - 7);
	return 0;
}

int lbfo_ident_from_rc16(const unsigned char *d, size_t n, struct lbfo_lu_ident *id)
{
	if (n < 32)
		return -1;
	id->blocks = be64(d) + 1;
	id->block_size = be32(d + 8);
	if (id->block_size == 0 || id->block_size % 512)
		return -1;
	/* LBPME (byte 14 bit 7): thin provisioning, UNMAP may work. */
	id->unmap = (d[14] & 0x80) != 0;
	return 0;
}

void lbfo_ident_from_vpd_b0(const unsigned char *d, size_t n, struct lbfo_lu_ident *id)
{
	if (n < 16 || d[1] != 0xb0)
		return;
	id->max_xfer_blocks = be32(d + 8);
	if (n >= 28 && be32(d + 20) == 0)
		id->unmap = false; /* MAXIMUM UNMAP LBA COUNT 0: no UNMAP */
	if (n >= 44)
		id->write_same = be64(d + 36) > 0;
}

int lbfo_ident_compare(const struct lbfo_lu_ident *a, const struct lbfo_lu_ident *b,
		       char *why, size_t len)
{
	if (strcmp(a->id, b->id)) {
		snprintf(why, len, "different LU identity (%s vs %s)", a->id, b->id);
		return -1;
	}
	if (a->block_size != b->block_size) {
		snprintf(why, len, "different block size (%u vs %u)", a->block_size,
			 b->block_size);
		return -1;
	}
	if (a->blocks != b->blocks) {
		snprintf(why, len, "different capacity (%llu vs %llu blocks)",
			 (unsigned long long)a->blocks, (unsigned long long)b->blocks);
		return -1;
	}
	return 0;
}

enum lbfo_scsi_verdict lbfo_scsi_classify(int status, const struct scsi_task *t)
{
	switch (status) {
	case SCSI_STATUS_GOOD:
	case SCSI_STATUS_CONDITION_MET:
		return LBFO_SCSI_OK;
	case SCSI_STATUS_BUSY:
	case SCSI_STATUS_TASK_SET_FULL:
	case SCSI_STATUS_TASK_ABORTED:
		return LBFO_SCSI_RETRY;
	case SCSI_STATUS_RESERVATION_CONFLICT:
		return LBFO_SCSI_MEDIUM_ERROR;
	case SCSI_STATUS_CHECK_CONDITION:
		if (!t)
			return LBFO_SCSI_PATH_ERROR;
		switch ((int)t->sense.key) {
		case SCSI_SENSE_UNIT_ATTENTION:
		case SCSI_SENSE_NOT_READY:
		case 0x0b: /* ABORTED COMMAND */
			return LBFO_SCSI_RETRY;
		case SCSI_SENSE_ILLEGAL_REQUEST:
			return LBFO_SCSI_INVALID;
		default:
			return LBFO_SCSI_MEDIUM_ERROR;
		}
	default:
		/* CANCELLED, ERROR, TIMEOUT: the transport failed. */
		return LBFO_SCSI_PATH_ERROR;
	}
}

/*
 * The probe: connect + login (full connect, which also clears unit
 * attentions), VPD 0x83 (else 0x80), READ CAPACITY(16), VPD 0xB0, logout.
 * Driven by a local poll loop with a deadline, so an unreachable portal
 * costs at most timeout_ms.
 */
struct probe {
	int step;       /* 0 login, 1 vpd83, 2 vpd80, 3 rc16, 4 b0, 5 logout, 6 done */
	int failed;
	char err[LBFO_ERR_MAX];
	struct lbfo_lu_ident *id;
	int lun;
};

static void probe_next(struct iscsi_context *ctx, struct probe *pr);

static void probe_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct probe *pr = priv;
	struct scsi_task *t = data;

	if (pr->step >= 6)
		return; /* full_connect's second call on tear-down */
	if (pr->step == 0) {
		if (status != SCSI_STATUS_GOOD) {
			snprintf(pr->err, sizeof(pr->err), "login failed: %s",
				 iscsi_get_error(ctx));
			pr->failed = 1;
			return;
		}
		pr->step = 1;
		probe_next(ctx, pr);
		return;
	}
	if (pr->step == 5) { /* logout: its result does not matter */
		pr->step = 6;
		return;
	}
	if (status == SCSI_STATUS_GOOD && t) {
		const unsigned char *d = t->datain.data;
		size_t n = (size_t)t->datain.size;

		if (pr->step == 1 && lbfo_ident_from_vpd83(d, n, pr->id->id, sizeof(pr->id->id)) == 0)
			pr->step = 3;
		else if (pr->step == 1)
			pr->step = 2;
		else if (pr->step == 2) {
			if (lbfo_ident_from_vpd80(d, n, pr->id->id, sizeof(pr->id->id)) < 0)
				goto noid;
			pr->step = 3;
		} else if (pr->step == 3) {
			if (lbfo_ident_from_rc16(d, n, pr->id) < 0) {
				snprintf(pr->err, sizeof(pr->err), "READ CAPACITY(16): unusable answer");
				pr->failed = 1;
			}
			pr->step = 4;
		} else if (pr->step == 4) {
			lbfo_ident_from_vpd_b0(d, n, pr->id);
			pr->step = 5;
		}
	} else if (pr->step == 1) {
		pr->step = 2;
	} else if (pr->step == 2) {
		goto noid;
	} else if (pr->step == 3) {
		snprintf(pr->err, sizeof(pr->err), "READ CAPACITY(16) failed on LUN %d: %s%s",
			 pr->lun, iscsi_get_error(ctx),
			 t && t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST ?
			 " (not a disk? a target's LUN 0 is often its controller: set lun=)" : "");
		pr->failed = 1;
	} else if (pr->step == 4) {
		pr->step = 5; /* no block limits page: no limits */
	}
	if (t)
		scsi_free_scsi_task(t);
	if (!pr->failed)
		probe_next(ctx, pr);
	return;
noid:
	if (t)
		scsi_free_scsi_task(t);
	snprintf(pr->err, sizeof(pr->err),
		 "the LU has no identity (neither VPD 0x83 designator nor serial number)");
	pr->failed = 1;
}

static void probe_next(struct iscsi_context *ctx, struct probe *pr)
{
	struct scsi_task *t = NULL;

	switch (pr->step) {
	case 1:
		t = iscsi_inquiry_task(ctx, pr->lun, 1, 0x83, 255, probe_cb, pr);
		break;
	case 2:
		t = iscsi_inquiry_task(ctx, pr->lun, 1, 0x80, 255, probe_cb, pr);
		break;
	case 3:
		t = iscsi_readcapacity16_task(ctx, pr->lun, probe_cb, pr);
		break;
	case 4:
		t = iscsi_inquiry_task(ctx, pr->lun, 1, 0xb0, 64, probe_cb, pr);
		break;
	case 5:
		if (iscsi_logout_async(ctx, probe_cb, pr) != 0)
			pr->step = 6;
		return;
	default:
		return;
	}
	if (!t) {
		snprintf(pr->err, sizeof(pr->err), "cannot queue a command: %s",
			 iscsi_get_error(ctx));
		pr->failed = 1;
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int lbfo_iscsi_probe(const struct lbfo_iscsi_params *p, uint32_t timeout_ms,
		     struct lbfo_lu_ident *id, char *err, size_t errlen)
{
	struct probe pr = { .id = id, .lun = p->lun };
	struct iscsi_context *ctx;
	uint64_t deadline = mono_ms() + timeout_ms;
	int rc = -1;

	memset(id, 0, sizeof(*id));
	ctx = lbfo_iscsi_context(p, err, errlen);
	if (!ctx)
		return -1;
	if (iscsi_full_connect_async(ctx, p->portal, p->lun, probe_cb, &pr) != 0) {
		snprintf(err, errlen, "connect failed: %s", iscsi_get_error(ctx));
		goto out;
	}
	while (!pr.failed && pr.step < 6) {
		struct pollfd pfd = { .fd = iscsi_get_fd(ctx), .events = (short)iscsi_which_events(ctx) };
		uint64_t now = mono_ms();
		int n;

		if (now >= deadline) {
			snprintf(err, errlen, "no answer within %u ms%s%s", timeout_ms,
				 pr.step == 0 ? " (connect/login)" : "",
				 pr.step == 5 ? " (logout)" : "");
			if (pr.step == 5) /* identity read: usable */
				rc = 0;
			goto out;
		}
		n = poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)(deadline - now < 100 ? deadline - now : 100));
		if (n < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto out;
		}
		if (iscsi_service(ctx, n > 0 ? pfd.revents : 0) < 0 && pr.step == 0) {
			snprintf(err, errlen, "%s", iscsi_get_error(ctx));
			goto out;
		}
	}
	if (pr.failed) {
		snprintf(err, errlen, "%s", pr.err);
		goto out;
	}
	rc = 0;
out:
	iscsi_destroy_context(ctx);
	return rc;
}

/* SendTargets discovery: connect, log in (discovery session), ask, log
 * out; driven like the probe, bounded by timeout_ms. */
struct disc {
	int step; /* 0 connect, 1 login, 2 discovery, 3 done */
	int failed;
	int n;
	char *targets;
	size_t len, used;
	char err[LBFO_ERR_MAX];
};

static void disc_cb(struct iscsi_context *ctx, int status, void *data, void *priv)
{
	struct disc *d = priv;

	if (d->step >= 3 || d->failed)
		return;
	if (status != SCSI_STATUS_GOOD) {
		snprintf(d->err, sizeof(d->err), "%s failed: %s",
			 d->step == 0 ? "connect" : d->step == 1 ? "discovery login" : "SendTargets",
			 iscsi_get_error(ctx));
		d->failed = 1;
		return;
	}
	if (d->step == 0) {
		d->step = 1;
		if (iscsi_login_async(ctx, disc_cb, d) != 0)
			goto fail;
	} else if (d->step == 1) {
		d->step = 2;
		if (iscsi_discovery_async(ctx, disc_cb, d) != 0)
			goto fail;
	} else {
		const struct iscsi_discovery_address *a;

		for (a = data; a; a = a->next) {
			if (d->used < d->len)
				d->used += (size_t)snprintf(d->targets + d->used, d->len - d->used,
							    "%s\n", a->target_name);
			d->n++;
		}
		d->step = 3;
	}
	return;
fail:
	snprintf(d->err, sizeof(d->err), "%s", iscsi_get_error(ctx));
	d->failed = 1;
}

int lbfo_iscsi_discover(const struct lbfo_iscsi_params *p, uint32_t timeout_ms,
			char *targets, size_t len, char *err, size_t errlen)
{
	struct disc d = { .targets = targets, .len = len };
	struct iscsi_context *ctx = iscsi_create_context(p->initiator);
	uint64_t deadline = mono_ms() + timeout_ms;
	int rc = -1;

	if (len)
		targets[0] = '\0';
	if (!ctx) {
		snprintf(err, errlen, "cannot create an iSCSI context");
		return -1;
	}
	iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_tcp_syncnt(ctx, 2);
	if (p->chap_user && p->chap_user[0])
		iscsi_set_initiator_username_pwd(ctx, p->chap_user,
						 p->chap_password ? p->chap_password : "");
	if (iscsi_connect_async(ctx, p->portal, disc_cb, &d) != 0) {
		snprintf(err, errlen, "connect failed: %s", iscsi_get_error(ctx));
		goto out;
	}
	while (!d.failed && d.step < 3) {
		struct pollfd pfd = { .fd = iscsi_get_fd(ctx), .events = (short)iscsi_which_events(ctx) };
		uint64_t now = mono_ms();
		int n;

		if (now >= deadline) {
			snprintf(err, errlen, "no answer within %u ms (discovery)", timeout_ms);
			goto out;
		}
		n = poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)(deadline - now < 100 ? deadline - now : 100));
		if (n < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto out;
		}
		iscsi_service(ctx, n > 0 ? pfd.revents : 0);
	}
	if (d.failed) {
		snprintf(err, errlen, "%s", d.err);
		goto out;
	}
	rc = d.n;
out:
	iscsi_destroy_context(ctx);
	return rc;
}
