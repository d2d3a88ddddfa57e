/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the path session needs from one iSCSI connection, and nothing more:
 * log in, carry SCSI commands, send NOPs, tell how much is unacknowledged,
 * and be abandoned at once. The real one is libiscsi
 * (transport_libiscsi.c); the unit tests give the session a fake target
 * (tests/iscsi/fake_target.c, fake_scsi.c) through the same operations, so every
 * failover interleaving can be scripted with a fake clock.
 *
 * Threads: none. A transport is driven by its owner's loop: fd + events,
 * then service(revents). Callbacks (login, command completion) are called
 * from inside service() only.
 */
#ifndef LBFO_ISCSI_TRANSPORT_H
#define LBFO_ISCSI_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "lbfo/scsi.h"

struct lbfo_xport;

/* An iSCSI session of one connection. */
struct lbfo_xport_params {
	const char *initiator;        /* initiator IQN */
	const char *target;           /* target IQN */
	const char *portal;           /* "host:port" or "[v6]:port" */
	/* ISID (RFC 7143 11.12.5), random format: 24 bits + qualifier. The
	 * initiator name and ISID name the initiator port: one I_T nexus. */
	uint32_t isid_rnd;
	uint16_t isid_qual;
	const char *chap_user, *chap_password;
	const char *mutual_user, *mutual_password;
	bool header_digest;
	/* Begin the login in the security negotiation stage even without
	 * CHAP (offering AuthMethod=CHAP,None; a target with no account for
	 * us answers None). tgt reinstates an existing session of the same
	 * initiator and ISID only in that stage (login_security_done() in
	 * usr/iscsi/iscsid.c); a login that starts in operational
	 * negotiation opens a second session beside the old one. */
	bool security_stage;
	uint32_t tcp_user_timeout_ms; /* 0: the kernel's default */
};

/* A SCSI command. The caller owns it and its data buffers until done()
 * is called or the transport is abandoned, whichever comes first. */
struct lbfo_xport_cmd {
	int lun;
	struct lbfo_cdb cdb;
	struct iovec *iov;            /* data in (reads) or out (writes) */
	int niov;
	void (*done)(struct lbfo_xport_cmd *c, const struct lbfo_scsi_result *r);
	void *xt;                     /* the transport's; NULL when not in flight */
};

/*
 * The login's outcome: ok, or failed (reason in error()). tpgt is the
 * target portal group tag the target named in its login response, or -1.
 */
typedef void (*lbfo_xport_login_cb)(struct lbfo_xport *x, bool ok, int tpgt, void *priv);

struct lbfo_xport_ops {
	const char *name;
	/* Start connect + login. NULL with err when it cannot even start. */
	struct lbfo_xport *(*open)(void *env, const struct lbfo_xport_params *p,
				   lbfo_xport_login_cb cb, void *priv, char *err, size_t errlen);
	/* Give the connection up at once: the socket is closed with
	 * SO_LINGER 0, so that nothing unsent or unacknowledged leaves this
	 * host later (no retransmission can deliver a stale write after a
	 * blackhole heals). No callback is called afterwards, and no command
	 * buffer is referenced once it returns. */
	void (*abandon)(struct lbfo_xport *x);
	/* Queue a command. 0, or -1 (reason in error()). */
	int (*submit)(struct lbfo_xport *x, struct lbfo_xport_cmd *c);
	/* Send a NOP-Out; 0 or -1. */
	int (*nop)(struct lbfo_xport *x);
	int (*nops_in_flight)(struct lbfo_xport *x);
	/* Loop integration: the fd to poll (-1: none) and the events. */
	int (*fd)(struct lbfo_xport *x);
	short (*events)(struct lbfo_xport *x);
	/* Handle readiness (revents may be 0). 0, or -1 when the connection
	 * is broken: a socket error or hang-up, the session dropped. */
	int (*service)(struct lbfo_xport *x, short revents);
	/* PDUs not yet handed to the socket, and bytes in the socket not yet
	 * acknowledged by the peer (-1: unknown). */
	size_t (*queued)(struct lbfo_xport *x);
	int (*unacked)(struct lbfo_xport *x);
	/* Bytes the peer has acknowledged since the connection began
	 * (monotonic; UINT64_MAX: unknown): progress seen at any sampling
	 * rate, unlike the size of the send queue. */
	uint64_t (*acked)(struct lbfo_xport *x);
	/* The socket (for the link watch), -1 when none. */
	int (*socket)(struct lbfo_xport *x);
	const char *(*error)(struct lbfo_xport *x);
};

extern const struct lbfo_xport_ops lbfo_xport_libiscsi;

/* "host" -> "host:3260"; keeps an explicit port; "[v6]" -> "[v6]:3260".
 * A bare IPv6 address (more than one colon, no brackets) is refused:
 * returns -1 (write it as [addr]:port). */
int lbfo_portal_normalise(const char *in, char *out, size_t len);

/* SendTargets discovery on one portal (libiscsi, synchronous, bounded by
 * timeout_ms): the target names, one per line, into `targets`. Returns
 * the number of targets, or -1 with the reason in err. */
int lbfo_iscsi_discover(const struct lbfo_xport_params *p, uint32_t timeout_ms,
			char *targets, size_t len, char *err, size_t errlen);

#endif
