/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading what a logical unit says about itself over a path session:
 * standard INQUIRY (vendor, product, ALUA support), VPD 0x83 (identity,
 * the answering port's target port group), VPD 0x80 when 0x83 names
 * nothing, READ CAPACITY(16), the Block Limits (0xB0) and Logical Block
 * Provisioning (0xB2) pages, the caching mode page (DPOFUA, WCE) and,
 * where the LU does ALUA, REPORT TARGET PORT GROUPS. Asynchronous: one
 * command at a time over the session, the result through done().
 *
 * The optional pages are optional: an LU that refuses one is taken to
 * lack that capability. The identity and READ CAPACITY are not.
 */
#ifndef LBFO_ISCSI_IDENT_H
#define LBFO_ISCSI_IDENT_H

#include "path_session.h"

struct lbfo_ident_reader;
typedef void (*lbfo_ident_cb)(struct lbfo_ident_reader *r, int rc, uint64_t now);

struct lbfo_ident_reader {
	struct lbfo_scmd cmd;         /* first */
	struct lbfo_session *s;
	int lun;
	int step;
	unsigned retries;             /* UNIT ATTENTION retries of this step */
	bool busy;
	uint8_t buf[1024];
	struct iovec iov;
	struct lbfo_lu_ident id;      /* the result when rc == 0 */
	int alua_state;               /* of this port's group; LBFO_ALUA_NONE */
	char err[LBFO_ERR_LEN];       /* the reason when rc < 0 */
	lbfo_ident_cb done;
	void *priv;
};

/* Start reading LUN `lun` over session s (which must be up). Returns 0,
 * or -1 (err set) when the first command cannot be queued; done() is
 * then not called. */
int lbfo_ident_start(struct lbfo_ident_reader *r, struct lbfo_session *s, int lun,
		     lbfo_ident_cb done, void *priv, uint64_t now);
/* Read only the port groups' states again (an ALUA state change). */
int lbfo_ident_start_alua(struct lbfo_ident_reader *r, struct lbfo_session *s, int lun,
			  lbfo_ident_cb done, void *priv, uint64_t now);

#endif
