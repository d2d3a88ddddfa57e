/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The discovery protocol of seed 002 (FIG 7-9): one fixed-size UDP
 * message, big-endian, laid out byte by byte in docs/protocol.md.
 *
 *   offset  size  field
 *    0      4     magic "LBFO" (0x4C42464F)
 *    4      1     version (1)
 *    5      1     flags (0; receivers ignore unknown bits)
 *    6      2     length of the whole message in bytes (36 for version 1)
 *    8      4     source IPv4 address                       FIG 7 word 0
 *   12      4     destination IPv4 address                  FIG 7 word 1
 *   16      2     priority                                  FIG 7 word 2
 *   18      2     cluster ID
 *   20      2     packet type (enum lbfo_disc_type)         FIG 7 word 3
 *   22      2     function (enum lbfo_disc_func)
 *   24      4     router IPv4 address                       FIG 8, 9
 *   28      4     management-node IPv4 address              FIG 9
 *   32      2     source port                               FIG 7 last word
 *   34      2     destination port
 * and, with flag LBFO_DISC_F_AUTH (length 76):
 *   36      8     stamp: the sender's wall clock in microseconds, rising
 *   44     32     HMAC-SHA256 of bytes 0..43 under the shared key (auth.h)
 *
 * The parser is pure (bytes in, struct or error out) so that it can be
 * unit-tested and fuzzed on its own.
 */
#ifndef LBFO_ROUTER_PROTO_H
#define LBFO_ROUTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define LBFO_DISC_MAGIC 0x4C42464Fu /* "LBFO" */
#define LBFO_DISC_VERSION 1
#define LBFO_DISC_LEN 36
#define LBFO_DISC_AUTH_LEN 76  /* with LBFO_DISC_F_AUTH: + stamp + MAC */
#define LBFO_DISC_STAMP_OFF 36
#define LBFO_DISC_MAC_OFF 44
#define LBFO_DISC_F_AUTH 0x01  /* flags: a stamp and a MAC follow */

/* Packet type (offset 20). */
enum lbfo_disc_type {
	LBFO_DISC_ANNOUNCE = 1, /* node -> router(s): FIG 7 */
	LBFO_DISC_REPLY = 2,    /* router -> node, answer to an announce: FIG 8 */
	LBFO_DISC_ASSIGN = 3,   /* router -> node: router + management node: FIG 9 */
};

/* Function (offset 22): what the packet asks for. */
enum lbfo_disc_func {
	LBFO_DISC_F_HELLO = 1,     /* announce: "I am here, I serve" (periodic) */
	LBFO_DISC_F_LEAVE = 2,     /* announce: "I am going away" (graceful) */
	LBFO_DISC_F_ACK = 3,       /* reply: the router heard the node */
	LBFO_DISC_F_ADDRESSES = 4, /* assign: use these router / management addresses */
};

/* Why a message was refused. The order is the order of the checks. */
enum lbfo_disc_err {
	LBFO_DISC_OK = 0,
	LBFO_DISC_E_SHORT,    /* fewer bytes than the fixed header */
	LBFO_DISC_E_MAGIC,    /* not an lbfo discovery message */
	LBFO_DISC_E_VERSION,  /* a version this parser does not speak */
	LBFO_DISC_E_LENGTH,   /* length field != datagram size, or != 36 for v1 */
	LBFO_DISC_E_TYPE,     /* unknown packet type */
	LBFO_DISC_E_FUNCTION, /* function not allowed for that packet type */
	LBFO_DISC_E_CLUSTER,  /* another cluster's message (lbfo_disc_check) */
	LBFO_DISC_E_SOURCE,   /* source field != the datagram's sender (router) */
	LBFO_DISC_E_AUTH,     /* a key is set: no MAC, or a wrong one (auth.h) */
	LBFO_DISC_E_REPLAY,   /* authenticated but stale: stamp too old, too new, or not rising */
	LBFO_DISC_E__MAX
};

struct lbfo_disc_msg {
	uint8_t version;
	uint8_t flags;
	uint16_t length;
	uint32_t src_ip;  /* host byte order */
	uint32_t dst_ip;
	uint16_t priority;
	uint16_t cluster;
	uint16_t type;
	uint16_t func;
	uint32_t router_ip;
	uint32_t mgmt_ip;
	uint16_t src_port;
	uint16_t dst_port;
	uint64_t stamp;   /* with LBFO_DISC_F_AUTH */
};

/* Parse len bytes. Returns LBFO_DISC_OK with *m filled, or the reason
 * (and *m untouched beyond what was read). Never reads past len. */
enum lbfo_disc_err lbfo_disc_parse(const uint8_t *buf, size_t len,
				   struct lbfo_disc_msg *m);
/* Serialise (version, length and magic are set here). Returns the number
 * of bytes written (LBFO_DISC_LEN, or LBFO_DISC_AUTH_LEN with flag
 * LBFO_DISC_F_AUTH: the stamp written, the MAC zero for the caller to
 * fill) or 0 when cap is too small. */
size_t lbfo_disc_encode(const struct lbfo_disc_msg *m, uint8_t *buf, size_t cap);
/* Parse, then check the cluster ID. */
enum lbfo_disc_err lbfo_disc_check(const uint8_t *buf, size_t len,
				   uint16_t cluster, struct lbfo_disc_msg *m);
const char *lbfo_disc_err_name(enum lbfo_disc_err e);
const char *lbfo_disc_type_name(uint16_t type);
const char *lbfo_disc_func_name(uint16_t func);

#endif
