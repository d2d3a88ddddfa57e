/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake target's insides, shared by its two halves: fake_scsi.c (the
 * LU: SCSI commands, reservations, unit attentions per nexus) and
 * fake_target.c (set-up, the scriptable network, the transport).
 */
#ifndef LBFO_TESTS_FAKE_INTERNAL_H
#define LBFO_TESTS_FAKE_INTERNAL_H

#include "fake_target.h"

#define FT_LUN 1
#define MAX_REGS 32
#define MAX_NEXUS 64
#define MAX_UA 8
#define NS_PER_MS 1000000ull

struct nexus {
	char init[LBFO_STR_MAX];
	uint32_t rnd;
	uint16_t qual;
	int tpgt;
	struct { uint8_t asc, ascq; } ua[MAX_UA];
	int nua;
};

struct pr_state {
	int nregs;
	struct { int nexus; uint64_t key; } reg[MAX_REGS];
	bool reserved;
	uint8_t type;
	uint64_t holder_key;
};

struct pkt;

struct tconn {
	struct ft *t;
	int portal;
	int nexus;
	bool target_open;       /* the target's side of the connection */
	bool logged_in;
	bool secneg;
	uint64_t login_due;
	uint64_t wire_free_ns;  /* the connection's data moves one command after the other */
	struct lbfo_xport *x;   /* the initiator's side; NULL once abandoned */
	struct pkt *pkts, *last;
	struct tconn *next;
};

struct pkt {
	struct tconn *tc;
	struct lbfo_xport_cmd *xc; /* NULL once the initiator gave it up */
	bool nop;
	int lun;
	struct lbfo_cdb cdb;
	uint8_t *out;           /* data out (a copy: the network has the bytes) */
	uint8_t *in;            /* data in, filled at execution */
	uint32_t in_len;
	struct lbfo_scsi_result res;
	enum { P_UNACKED, P_HELD, P_EXECUTED, P_DONE } st;
	uint64_t due_ns;
	struct pkt *next;
};

struct lbfo_xport {
	struct tconn *tc;
	lbfo_xport_login_cb cb;
	void *priv;
	enum { X_LOGIN, X_UP, X_BROKEN } st;
	uint64_t acked;
	int unacked;
	int nops;
	char err[256];
};

struct inject {
	int portal, opcode, count, status;
	uint8_t key, asc, ascq;
};

struct ft {
	uint64_t now;
	uint64_t blocks;
	uint32_t bs;
	uint8_t *disk;
	struct { char addr[64]; int tpgt, ctrl; enum ft_net net; uint32_t lat_ms, bytes_per_ms; } portal[FT_MAX_PORTALS];
	int nportals;
	struct ft_ctrl_cfg ctrl[FT_MAX_CTRL];
	bool pr_shared;
	struct pr_state pr[FT_MAX_CTRL];
	struct nexus nexus[MAX_NEXUS];
	int nnexus;
	struct tconn *conns;
	struct inject inj[8];
	int ninj;
	struct ft_caps caps;
	struct ft_stats st;
};

void ft_ua_push(struct nexus *n, uint8_t asc, uint8_t ascq);
struct pr_state *ft_pr_of(struct ft *t, int portal);
int ft_nexus_get(struct ft *t, const char *init, uint32_t rnd, uint16_t qual, int tpgt);
/* A command reaches the target: executed, or dropped on a closed connection. */
void ft_arrive(struct ft *t, struct pkt *p);

#endif
