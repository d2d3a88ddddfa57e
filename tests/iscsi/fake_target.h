/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fake iSCSI target and network for deterministic failover tests. It
 * implements the path session's transport (lbfo_xport_ops) over an
 * in-memory SCSI disk, with a clock the test sets (ft_now) and a network
 * the test breaks:
 *
 *  - FT_OK: commands reach the target at once and are answered after the
 *    portal's latency.
 *  - FT_DOWN: connections fail at once (a link down, a dead target).
 *  - FT_BLACKHOLE: nothing passes either way; what the initiator sends
 *    stays unacknowledged in its socket (abandon with SO_LINGER 0 drops
 *    it; a healed blackhole delivers it to a connection still held).
 *  - FT_HOLD: the network acknowledges the initiator's bytes and holds
 *    them (a relay): ft_release() delivers them later on the same
 *    target-side connection, even after the initiator gave the
 *    connection up — unless the target closed it meanwhile (session
 *    reinstatement), which is what a fence must achieve.
 *
 * Target-side state lives per controller: sessions (reinstatement closes
 * an older connection of the same initiator port in the same portal
 * group, when the controller implements it), and optionally the
 * persistent reservations. The disk is shared by all controllers (one
 * backing store), as two tgtd processes serving one file are.
 */
#ifndef LBFO_FAKE_TARGET_H
#define LBFO_FAKE_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "transport.h"

enum ft_net { FT_OK = 0, FT_DOWN, FT_BLACKHOLE, FT_HOLD };

#define FT_MAX_PORTALS 8
#define FT_MAX_CTRL 4

struct ft;

struct ft_ctrl_cfg {
	bool reinstate;             /* session reinstatement closes the old connection */
	bool reinstate_needs_secneg; /* only logins through the security stage (tgt) */
	bool offline;               /* LU offline here: NOT READY 3A/00 (removable, tgt) */
	int alua_state;             /* LBFO_ALUA_*; LBFO_ALUA_NONE: no ALUA */
};

struct ft *ft_new(uint64_t blocks, uint32_t block_size);
void ft_free(struct ft *t);
/* The transport to give the session (env = the ft). */
extern const struct lbfo_xport_ops ft_xport_ops;

/* A portal "addr" (e.g. "p1:3260") in portal group tpgt of controller
 * ctrl. Returns its index. */
int ft_portal(struct ft *t, const char *addr, int tpgt, int ctrl);
struct ft_ctrl_cfg *ft_ctrl(struct ft *t, int ctrl);
void ft_set_pr_shared(struct ft *t, bool shared);
void ft_set_latency(struct ft *t, int portal, uint32_t ms);
/* The portal's connections move data at this rate, one command after the
 * other (0: no limit, every command takes the latency alone). */
void ft_set_rate(struct ft *t, int portal, uint32_t bytes_per_ms);

void ft_now(struct ft *t, uint64_t now_ns);
void ft_set_net(struct ft *t, int portal, enum ft_net net);
/* Deliver the bytes held on a portal (FT_HOLD). Returns how many
 * commands the target carried out (the rest found their connection
 * closed, or were refused: RESERVATION CONFLICT). */
int ft_release(struct ft *t, int portal);

/* The next `count` commands of `opcode` (-1: any) arriving through
 * `portal` (-1: any) are answered with this status / sense instead of
 * being executed. */
void ft_inject(struct ft *t, int portal, int opcode, int count, int status,
	       uint8_t key, uint8_t asc, uint8_t ascq);
/* Grow (or shrink) the LU; every nexus gets UNIT ATTENTION 2A/09. */
void ft_set_blocks(struct ft *t, uint64_t blocks);
/* Capabilities the LU reports. */
struct ft_caps {
	bool dpofua, wce, lbpu, lbpws;
	uint32_t max_unmap_blocks, max_unmap_desc, unmap_granularity;
	uint64_t max_ws_blocks;
	uint32_t max_xfer_blocks;
	bool no_b0, no_b2, pr;      /* pr: persistent reservations supported */
	bool no_ws;                 /* WRITE SAME: INVALID OPERATION CODE */
	bool short_reads;           /* answer reads with a residual (half the data) */
};
struct ft_caps *ft_caps(struct ft *t);

/* Test observations. */
uint8_t *ft_block(struct ft *t, uint64_t lba);
uint32_t ft_block_size(const struct ft *t);
struct ft_stats {
	unsigned logins, logins_failed, reinstatements;
	unsigned writes, reads, dropped;   /* dropped: reached a closed connection */
	unsigned fua_writes, unmaps, write_sames, syncs;
	unsigned max_unmap_seen;           /* largest UNMAP, blocks */
	uint64_t max_ws_seen;              /* largest WRITE SAME, blocks */
	unsigned conflicts;                /* writes refused: RESERVATION CONFLICT */
	unsigned open_conns;               /* target-side connections open */
	unsigned live_xports;              /* initiator-side, not abandoned */
};
const struct ft_stats *ft_stats(const struct ft *t);
/* Registered keys / reservation (of controller 0's PR state). */
int ft_pr_keys(const struct ft *t, uint64_t *keys, int max);
bool ft_pr_reserved(const struct ft *t, uint64_t *holder_key, uint8_t *type);
/* A registration made by someone else (another host). */
void ft_pr_foreign(struct ft *t, uint64_t key, bool reserve);

#endif
