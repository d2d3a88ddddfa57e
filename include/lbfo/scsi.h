/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SCSI as the path session speaks it: the commands lbfo sends (built here,
 * so the real transport and the test target see the same bytes), what a
 * logical unit says about itself (identity and capabilities), and the one
 * table that decides what an answer means.
 *
 * Pure: no I/O, no libiscsi, no clock. Used by src/iscsi (the path
 * session), src/mpio (the LU) and the fake target of the unit tests.
 */
#ifndef LBFO_SCSI_H
#define LBFO_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LBFO_STR_MAX 256

/* What a client asks of the LU. */
enum lbfo_io_type {
	LBFO_IO_READ = 0,
	LBFO_IO_WRITE,
	LBFO_IO_FLUSH,
	LBFO_IO_TRIM,
	LBFO_IO_ZERO,
};

/* SCSI status (SAM-5), as the target returns it. */
enum lbfo_scsi_status {
	LBFO_SAM_GOOD = 0x00,
	LBFO_SAM_CHECK_CONDITION = 0x02,
	LBFO_SAM_CONDITION_MET = 0x04,
	LBFO_SAM_BUSY = 0x08,
	LBFO_SAM_RESERVATION_CONFLICT = 0x18,
	LBFO_SAM_TASK_SET_FULL = 0x28,
	LBFO_SAM_ACA_ACTIVE = 0x30,
	LBFO_SAM_TASK_ABORTED = 0x40,
};

/* Sense keys (SPC-4 4.5.6). */
enum lbfo_sense_key {
	LBFO_SK_NO_SENSE = 0x0,
	LBFO_SK_RECOVERED_ERROR = 0x1,
	LBFO_SK_NOT_READY = 0x2,
	LBFO_SK_MEDIUM_ERROR = 0x3,
	LBFO_SK_HARDWARE_ERROR = 0x4,
	LBFO_SK_ILLEGAL_REQUEST = 0x5,
	LBFO_SK_UNIT_ATTENTION = 0x6,
	LBFO_SK_DATA_PROTECT = 0x7,
	LBFO_SK_ABORTED_COMMAND = 0xb,
	LBFO_SK_MISCOMPARE = 0xe,
};

/* The outcome of one command as the transport delivers it. */
struct lbfo_scsi_result {
	int status;              /* enum lbfo_scsi_status */
	uint8_t sense_key;       /* with CHECK CONDITION */
	uint8_t asc, ascq;
	uint32_t residual;       /* bytes not transferred (underflow) */
	bool underflow;          /* the target moved fewer bytes than asked */
	bool overflow;
};

/*
 * What lbfo does with an answer. One table (lbfo_scsi_action, scsi.c;
 * docs/failover.md "Errors from the target" shows it), modelled on the
 * Linux SCSI midlayer (scsi_error.c) and dm-multipath's ALUA handler.
 */
enum lbfo_scsi_action {
	/* Done; the client gets success. */
	LBFO_ACT_OK = 0,
	/* Send again at once on any path (UNIT ATTENTION). Bounded per
	 * command by LBFO_UA_RETRIES, not by path flaps. */
	LBFO_ACT_RETRY_NOW,
	/* The LU is busy or in transition: send again after a backoff,
	 * until no_path_timeout (BUSY, TASK SET FULL, NOT READY becoming
	 * ready, ALUA transitioning, ABORTED COMMAND). */
	LBFO_ACT_RETRY_LATER,
	/* This path cannot serve the LU now but another may (ALUA standby or
	 * unavailable, LU offline on this controller, LU not supported on
	 * this port, medium not present here): the path fails for this LU
	 * and the command goes elsewhere with no client error. */
	LBFO_ACT_PATH_FAIL,
	/* The command failed for real: the client's error. */
	LBFO_ACT_ERROR_IO,       /* EIO: medium / hardware error */
	LBFO_ACT_ERROR_INVALID,  /* EINVAL: a genuine ILLEGAL REQUEST */
	LBFO_ACT_ERROR_NOSPC,    /* ENOSPC: LBA out of range, space allocation failed */
	LBFO_ACT_ERROR_ROFS,     /* EROFS: write protected */
	/* RESERVATION CONFLICT: the path's I_T nexus was preempted (our own
	 * fence, or someone else's): the path is failed and the command goes
	 * elsewhere; with no other path, EIO at the deadline. */
	LBFO_ACT_CONFLICT,
	LBFO_ACT__MAX
};

/* Side effects an answer asks for beyond the action. */
enum lbfo_scsi_event {
	LBFO_EV_NONE = 0,
	LBFO_EV_CAPACITY_CHANGED,   /* 2A/09: re-read the capacity */
	LBFO_EV_ALUA_CHANGED,       /* 2A/06, 2A/07: re-read the port groups */
	LBFO_EV_INQUIRY_CHANGED,    /* 3F/03: check the identity again */
	LBFO_EV_LUNS_CHANGED,       /* 3F/0E: rescan */
	LBFO_EV_RESERVATIONS,       /* 2A/03..05: reservations preempted/released */
};

/* UNIT ATTENTION retries of one command (each is a different condition
 * reported once per nexus; a target that keeps raising them is broken). */
#define LBFO_UA_RETRIES 16

enum lbfo_scsi_action lbfo_scsi_action(const struct lbfo_scsi_result *r,
				       enum lbfo_scsi_event *ev);
/* The table's rows, for the documentation check (ASC/ASCQ 0xff: any). */
struct lbfo_sense_row {
	uint8_t key, asc, ascq;
	enum lbfo_scsi_action act;
	enum lbfo_scsi_event ev;
	const char *what;
};
const struct lbfo_sense_row *lbfo_sense_rows(size_t *n);
const char *lbfo_sense_key_name(uint8_t key);
const char *lbfo_scsi_action_name(enum lbfo_scsi_action a);
/* "NOT READY 04/0B (standby)" etc. into buf; returns buf. */
const char *lbfo_scsi_describe(const struct lbfo_scsi_result *r, char *buf, size_t len);
/* Parse fixed or descriptor sense data into r (key, asc, ascq). */
void lbfo_sense_parse(const uint8_t *sb, size_t n, struct lbfo_scsi_result *r);

/* ALUA asymmetric access states (SPC-4 6.37). */
enum lbfo_alua_state {
	LBFO_ALUA_OPTIMIZED = 0x0,
	LBFO_ALUA_NON_OPTIMIZED = 0x1,
	LBFO_ALUA_STANDBY = 0x2,
	LBFO_ALUA_UNAVAILABLE = 0x3,
	LBFO_ALUA_LBA_DEPENDENT = 0x4,
	LBFO_ALUA_OFFLINE = 0xe,
	LBFO_ALUA_TRANSITIONING = 0xf,
	LBFO_ALUA_NONE = 0x10,      /* the target does no ALUA */
};
const char *lbfo_alua_state_name(int s);

/*
 * What a logical unit says about itself. `id` is its identity (paths are
 * grouped by it, never by configuration); the rest are capabilities, read
 * once per login and advertised only as the LU has them.
 */
struct lbfo_lu_ident {
	char id[LBFO_STR_MAX];        /* "naa.6001...", "eui.…", "t10.IET …", "serial.X" */
	char vendor[9], product[17];  /* standard INQUIRY, trimmed */
	uint8_t pdt, pq;              /* peripheral device type and qualifier: a disk is 0, 0 */
	uint64_t blocks;
	uint32_t block_size;
	/* Block Limits VPD (0xB0); 0 = not reported (no limit). */
	uint32_t max_xfer_blocks;
	uint32_t opt_xfer_blocks;
	uint32_t max_unmap_blocks;    /* MAXIMUM UNMAP LBA COUNT */
	uint32_t max_unmap_desc;      /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
	uint32_t unmap_granularity;   /* OPTIMAL UNMAP GRANULARITY, blocks */
	uint32_t unmap_alignment;     /* UNMAP GRANULARITY ALIGNMENT, if UGAVALID */
	uint64_t max_ws_blocks;       /* MAXIMUM WRITE SAME LENGTH; 0 = no limit reported */
	bool have_b0;
	/* Provisioning: READ CAPACITY(16) LBPME, Logical Block Provisioning
	 * VPD (0xB2) LBPU (UNMAP) and LBPWS (WRITE SAME with UNMAP). */
	bool lbpme, lbpu, lbpws, have_b2;
	/* MODE SENSE: DPOFUA (device-specific parameter bit 4) and the
	 * caching page's WCE (write cache enabled). */
	bool dpofua, wce, have_mode;
	/* ALUA: TPGS from standard INQUIRY (bit 4: implicit, bit 5:
	 * explicit); the port's target port group and relative port
	 * (VPD 0x83 designators of association 1, types 5 and 4). */
	uint8_t tpgs;
	int port_group;               /* -1 unknown */
	int rel_port;                 /* -1 unknown */
};

/* Identity and capability parsers. Return 0, or -1 when the page is
 * absent, malformed or truncated. */
int lbfo_ident_from_std_inquiry(const uint8_t *d, size_t n, struct lbfo_lu_ident *id);
int lbfo_ident_from_vpd83(const uint8_t *d, size_t n, char *id, size_t len);
/* The target port group and relative port of the port answering. */
void lbfo_ident_ports_from_vpd83(const uint8_t *d, size_t n, struct lbfo_lu_ident *id);
int lbfo_ident_from_vpd80(const uint8_t *d, size_t n, char *id, size_t len);
int lbfo_ident_from_rc16(const uint8_t *d, size_t n, struct lbfo_lu_ident *id);
int lbfo_ident_from_vpd_b0(const uint8_t *d, size_t n, struct lbfo_lu_ident *id);
int lbfo_ident_from_vpd_b2(const uint8_t *d, size_t n, struct lbfo_lu_ident *id);
/* MODE SENSE(10) answer for page 0x08 (caching). */
int lbfo_ident_from_mode_sense10(const uint8_t *d, size_t n, struct lbfo_lu_ident *id);

/* The same LU? 0 when yes; else -1 and a reason ("different LU identity
 * (a vs b)", "different block size (…)") in why. Capacity is not
 * identity: a grown LU is the same LU (see lbfo_ident_resized). */
int lbfo_ident_compare(const struct lbfo_lu_ident *a, const struct lbfo_lu_ident *b,
		       char *why, size_t len);

/* REPORT TARGET PORT GROUPS: the state of group `group`, or
 * LBFO_ALUA_NONE when the answer does not list it. */
int lbfo_alua_state_of(const uint8_t *d, size_t n, int group);

/*
 * Persistent reservations (SPC-4 6.15, 6.16). The type lbfo uses is
 * WRITE EXCLUSIVE - ALL REGISTRANTS: every registered I_T nexus may
 * write, an unregistered one (a preempted path) may not.
 */
#define LBFO_PR_TYPE_WE_AR 0x7
enum lbfo_pr_out_sa {
	LBFO_PR_REGISTER = 0x00,
	LBFO_PR_RESERVE = 0x01,
	LBFO_PR_RELEASE = 0x02,
	LBFO_PR_CLEAR = 0x03,
	LBFO_PR_PREEMPT = 0x04,
	LBFO_PR_REGISTER_IGNORE = 0x06,
};
enum lbfo_pr_in_sa {
	LBFO_PR_READ_KEYS = 0x00,
	LBFO_PR_READ_RESERVATION = 0x01,
};
#define LBFO_PR_OUT_PARAM_LEN 24
#define LBFO_PR_KEYS_MAX 32
struct lbfo_pr_keys {
	uint32_t generation;
	int nkeys;
	uint64_t keys[LBFO_PR_KEYS_MAX];
	bool truncated;
};
struct lbfo_pr_reservation {
	uint32_t generation;
	bool reserved;
	uint64_t key;
	uint8_t type;
};
int lbfo_pr_parse_keys(const uint8_t *d, size_t n, struct lbfo_pr_keys *k);
int lbfo_pr_parse_reservation(const uint8_t *d, size_t n, struct lbfo_pr_reservation *r);

/*
 * Commands. A command is a CDB, a data direction and a length; the data
 * buffer is the caller's. The builders fill `c` and return 0, or -1 when
 * the request does not fit the command (too many blocks).
 */
enum lbfo_xfer { LBFO_XFER_NONE = 0, LBFO_XFER_READ, LBFO_XFER_WRITE };
struct lbfo_cdb {
	uint8_t b[16];
	uint8_t len;
	enum lbfo_xfer dir;
	uint32_t xfer_len;   /* bytes the command moves */
};

enum lbfo_opcode {
	LBFO_OP_TEST_UNIT_READY = 0x00,
	LBFO_OP_INQUIRY = 0x12,
	LBFO_OP_MODE_SENSE10 = 0x5a,
	LBFO_OP_UNMAP = 0x42,
	LBFO_OP_PR_IN = 0x5e,
	LBFO_OP_PR_OUT = 0x5f,
	LBFO_OP_READ16 = 0x88,
	LBFO_OP_WRITE16 = 0x8a,
	LBFO_OP_SYNC_CACHE16 = 0x91,
	LBFO_OP_WRITE_SAME16 = 0x93,
	LBFO_OP_SERVICE_IN16 = 0x9e,    /* READ CAPACITY(16): SA 0x10 */
	LBFO_OP_REPORT_LUNS = 0xa0,
	LBFO_OP_MAINTENANCE_IN = 0xa3,  /* REPORT TARGET PORT GROUPS: SA 0x0a */
};

void lbfo_cdb_tur(struct lbfo_cdb *c);
void lbfo_cdb_inquiry(struct lbfo_cdb *c, bool evpd, uint8_t page, uint16_t alloc);
void lbfo_cdb_read_capacity16(struct lbfo_cdb *c, uint32_t alloc);
void lbfo_cdb_mode_sense10(struct lbfo_cdb *c, uint8_t page, uint16_t alloc);
void lbfo_cdb_report_tpg(struct lbfo_cdb *c, uint32_t alloc);
void lbfo_cdb_report_luns(struct lbfo_cdb *c, uint32_t alloc);
/* REPORT LUNS data: the LUNs (peripheral or flat addressing), ascending,
 * at most max; -1 when malformed. */
int lbfo_parse_report_luns(const uint8_t *d, size_t n, int *luns, int max);
int lbfo_cdb_rw16(struct lbfo_cdb *c, bool write, uint64_t lba, uint32_t blocks,
		  uint32_t block_size, bool fua);
void lbfo_cdb_sync_cache16(struct lbfo_cdb *c, uint64_t lba, uint32_t blocks);
/* WRITE SAME(16) of one block of zeroes (the caller sends block_size zero
 * bytes); unmap asks the LU to deallocate (LBPWS). */
void lbfo_cdb_write_same16(struct lbfo_cdb *c, uint64_t lba, uint32_t blocks,
			   uint32_t block_size, bool unmap);
/* UNMAP with one block descriptor: the parameter list (24 bytes) goes
 * into param. */
void lbfo_cdb_unmap(struct lbfo_cdb *c, uint64_t lba, uint32_t blocks, uint8_t param[24]);
void lbfo_cdb_pr_in(struct lbfo_cdb *c, enum lbfo_pr_in_sa sa, uint16_t alloc);
/* PERSISTENT RESERVE OUT: the 24-byte parameter list goes into param. */
void lbfo_cdb_pr_out(struct lbfo_cdb *c, enum lbfo_pr_out_sa sa, uint8_t type,
		     uint64_t key, uint64_t sa_key, uint8_t param[LBFO_PR_OUT_PARAM_LEN]);

/* Big-endian helpers (used by the parsers and the test target). */
static inline uint16_t lbfo_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t lbfo_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t lbfo_be64(const uint8_t *p)
{
	return (uint64_t)lbfo_be32(p) << 32 | lbfo_be32(p + 4);
}
static inline void lbfo_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void lbfo_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void lbfo_put_be64(uint8_t *p, uint64_t v)
{
	lbfo_put_be32(p, (uint32_t)(v >> 32));
	lbfo_put_be32(p + 4, (uint32_t)v);
}

#ifdef __cplusplus
}
#endif
#endif
