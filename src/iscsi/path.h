/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One iSCSI path (the seeds' "miniport"): a libiscsi context per path,
 * created with the path's ISID, CHAP, digests and TCP timeouts; SCSI
 * commands issued through one call with named fields; the LU identity
 * parsed from INQUIRY VPD 0x83/0x80, READ CAPACITY(16) and VPD 0xB0.
 */
#ifndef LBFO_ISCSI_PATH_H
#define LBFO_ISCSI_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "lbfo/lu.h"

struct lbfo_iscsi_params {
	const char *initiator;
	const char *target;
	const char *portal;
	int lun;
	const char *chap_user, *chap_password;
	const char *mutual_user, *mutual_password;
	bool header_digest;
	uint32_t isid_rnd;       /* 24 bits: per LU instance */
	uint16_t isid_qualifier; /* per path */
	uint32_t tcp_user_timeout_ms;
};

/* A context ready to connect: no auto-reconnect (lbfo decides when a
 * path is back), ISID set, CHAP, digest, TCP user timeout and keepalive. */
struct iscsi_context *lbfo_iscsi_context(const struct lbfo_iscsi_params *p,
					 char *err, size_t errlen);

/* A data command, one call instead of libiscsi's positional flags. */
struct lbfo_scsi_req {
	enum lbfo_io_type type;
	uint64_t lba;
	uint32_t blocks;
	uint32_t block_size;
	struct scsi_iovec *iov; /* buffer to read into / write from: the
				 * caller keeps it until the callback */
	bool fua;
};
struct scsi_task *lbfo_iscsi_submit(struct iscsi_context *ctx, int lun,
				    const struct lbfo_scsi_req *r,
				    iscsi_command_cb cb, void *priv);

/* Parse identity pages. Pure; return 0 or -1. */
int lbfo_ident_from_vpd83(const unsigned char *d, size_t n, char *id, size_t len);
int lbfo_ident_from_vpd80(const unsigned char *d, size_t n, char *id, size_t len);
int lbfo_ident_from_rc16(const unsigned char *d, size_t n, struct lbfo_lu_ident *id);
void lbfo_ident_from_vpd_b0(const unsigned char *d, size_t n, struct lbfo_lu_ident *id);
/* Compare: 0 when the same LU; else a reason ("identity", "capacity",
 * "block size") in why. */
int lbfo_ident_compare(const struct lbfo_lu_ident *a, const struct lbfo_lu_ident *b,
		       char *why, size_t len);

/* Log in on one portal, read the identity, log out: all within
 * timeout_ms. Returns 0, or -1 with the reason in err. */
int lbfo_iscsi_probe(const struct lbfo_iscsi_params *p, uint32_t timeout_ms,
		     struct lbfo_lu_ident *id, char *err, size_t errlen);

/* SendTargets discovery on one portal (a discovery session, CHAP as
 * given): writes the target names, one per line, into `targets`.
 * Returns the number of targets, or -1 with the reason in err. */
int lbfo_iscsi_discover(const struct lbfo_iscsi_params *p, uint32_t timeout_ms,
			char *targets, size_t len, char *err, size_t errlen);

/* "host" -> "host:3260"; keeps an explicit port. */
void lbfo_portal_normalise(const char *in, char *out, size_t len);

/* Is this SCSI status/sense a path problem (retry elsewhere), a passing
 * condition on the same LU (retry), or the command's own error? */
enum lbfo_scsi_verdict {
	LBFO_SCSI_OK = 0,
	LBFO_SCSI_PATH_ERROR,   /* transport: fail the path, retry elsewhere */
	LBFO_SCSI_RETRY,        /* unit attention, busy, not ready: retry */
	LBFO_SCSI_MEDIUM_ERROR, /* the command failed for real: EIO */
	LBFO_SCSI_INVALID,      /* illegal request: EINVAL */
};
enum lbfo_scsi_verdict lbfo_scsi_classify(int status, const struct scsi_task *t);

#endif
