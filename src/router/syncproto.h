/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The session-table replication protocol between routers (docs/sync.md):
 * messages on a TCP connection from a router to each of its peers, every
 * field big-endian. A message is a 32-byte header, a body and, when the
 * sender has a key, a 32-byte HMAC-SHA256 (auth.h).
 *
 *   offset  size  field
 *    0      4     magic "LBSY" (0x4C425359)
 *    4      1     version (1)
 *    5      1     type (enum lbfo_sync_type)
 *    6      2     flags (LBFO_SYNC_F_MAC: a MAC follows the body)
 *    8      4     length of the whole message, MAC included (<= 65536)
 *   12      2     cluster ID
 *   14      2     entry count (ENTRIES), else 0
 *   16      8     sequence number: 0 for CHALLENGE, 1 for HELLO, +1 each
 *   24      8     sender's wall clock at sending, ms since the epoch
 *   32      ...   body
 *
 * Bodies: CHALLENGE 16 bytes (a random nonce), HELLO 32 bytes (the
 * sender's name, NUL-padded), ENTRIES count x 40 bytes:
 *
 *    0  16  client address (IPv4 as v4-mapped IPv6)
 *   16   2  client port (0: the session is the address's)
 *   18   1  op: 1 = set (the client's node is...), 2 = delete
 *   19   1  0
 *   20   4  session group: FNV-1a 32 of the group's name
 *   24   4  node IPv4 address
 *   28   4  0
 *   32   8  last use, sender's wall clock, ms since the epoch
 *
 * Pure: bytes in, struct or error out; no I/O, no allocation.
 */
#ifndef LBFO_ROUTER_SYNCPROTO_H
#define LBFO_ROUTER_SYNCPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LBFO_SYNC_MAGIC 0x4C425359u /* "LBSY" */
#define LBFO_SYNC_VERSION 1
#define LBFO_SYNC_HDR 32
#define LBFO_SYNC_MAC 32
#define LBFO_SYNC_MAX 65536          /* a whole message, at most */
#define LBFO_SYNC_ENTRY 40
#define LBFO_SYNC_NONCE 16
#define LBFO_SYNC_NAME 32
/* Entries in one message: what fits in LBFO_SYNC_MAX with header and MAC. */
#define LBFO_SYNC_MAX_ENTRIES ((LBFO_SYNC_MAX - LBFO_SYNC_HDR - LBFO_SYNC_MAC) / LBFO_SYNC_ENTRY)

#define LBFO_SYNC_F_MAC 0x0001

enum lbfo_sync_type {
	LBFO_SYNC_CHALLENGE = 1, /* receiver -> sender, first: a nonce the MACs cover */
	LBFO_SYNC_HELLO = 2,     /* sender -> receiver, first: who it is */
	LBFO_SYNC_ENTRIES = 3,   /* sender -> receiver: session entries */
};

enum lbfo_sync_op { LBFO_SYNC_SET = 1, LBFO_SYNC_DEL = 2 };

enum lbfo_sync_err {
	LBFO_SYNC_OK = 0,
	LBFO_SYNC_E_SHORT,   /* fewer bytes than the header, or than its length (need more) */
	LBFO_SYNC_E_MAGIC,
	LBFO_SYNC_E_VERSION,
	LBFO_SYNC_E_LENGTH,  /* length < header, > LBFO_SYNC_MAX, or != what the type needs */
	LBFO_SYNC_E_TYPE,
	LBFO_SYNC_E_CLUSTER, /* another cluster's (lbfo_sync_check) */
	LBFO_SYNC_E_ENTRY,   /* an entry with an unknown op or non-zero reserved bytes */
	LBFO_SYNC_E__MAX
};

struct lbfo_sync_hdr {
	uint8_t version, type;
	uint16_t flags;
	uint32_t length;
	uint16_t cluster, count;
	uint64_t seq;
	uint64_t sent_ms;
};

struct lbfo_sync_entry {
	uint8_t addr[16];
	uint16_t port;
	uint8_t op;
	uint32_t group;
	uint32_t node_ip;   /* host order */
	uint64_t last_ms;
};

/* The message at the start of buf: LBFO_SYNC_E_SHORT while fewer than
 * its length are there (read more), else OK with *h, or what is wrong.
 * The body starts at buf + LBFO_SYNC_HDR; its length is h->length minus
 * the header and, with LBFO_SYNC_F_MAC, the MAC. */
enum lbfo_sync_err lbfo_sync_parse(const uint8_t *buf, size_t len, uint16_t cluster,
				   struct lbfo_sync_hdr *h);
/* Entry i of an ENTRIES message's body (parsed by lbfo_sync_parse). */
enum lbfo_sync_err lbfo_sync_entry_get(const uint8_t *body, size_t i, struct lbfo_sync_entry *e);
void lbfo_sync_entry_put(uint8_t *p, const struct lbfo_sync_entry *e);
/* Write a header for a body of body_len bytes (+ a MAC when flags say);
 * returns LBFO_SYNC_HDR, or 0 when the message would exceed LBFO_SYNC_MAX. */
size_t lbfo_sync_hdr_put(uint8_t *p, const struct lbfo_sync_hdr *h, size_t body_len);
/* The merge rule (docs/sync.md): true when a peer's entry (last use
 * theirs_ms on node theirs_ip) replaces ours for the same client on
 * another node: the more recent use wins, on a tie the lower node address.
 * Antisymmetric, so two routers that swap their entries agree. */
bool lbfo_sync_theirs_wins(uint64_t mine_ms, uint32_t mine_ip, uint64_t theirs_ms,
			   uint32_t theirs_ip);
/* FNV-1a 32 of a session group's name (the group field). */
uint32_t lbfo_sync_group_hash(const char *name);
const char *lbfo_sync_err_name(enum lbfo_sync_err e);

#endif
