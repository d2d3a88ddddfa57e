/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NBD protocol as lbfo-nbd speaks it (the NBD project's proto.md):
 * the fixed newstyle handshake and the transmission phase's requests and
 * replies, simple and structured. Pure: byte layouts in and out, no I/O,
 * so that tests/nbd checks every field and every malformed case.
 */
#ifndef LBFO_NBD_PROTO_H
#define LBFO_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBD_MAGIC            0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_IHAVEOPT         0x49484156454F5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC        0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC    0x25609513u
#define NBD_SIMPLE_MAGIC     0x67446698u
#define NBD_STRUCTURED_MAGIC 0x668e33efu

/* handshake flags (server) and client flags */
#define NBD_FLAG_FIXED_NEWSTYLE 1u
#define NBD_FLAG_NO_ZEROES      2u

/* options */
enum {
	NBD_OPT_EXPORT_NAME = 1, NBD_OPT_ABORT = 2, NBD_OPT_LIST = 3, NBD_OPT_STARTTLS = 5,
	NBD_OPT_INFO = 6, NBD_OPT_GO = 7, NBD_OPT_STRUCTURED_REPLY = 8,
	NBD_OPT_LIST_META_CONTEXT = 9, NBD_OPT_SET_META_CONTEXT = 10,
};
/* option replies */
#define NBD_REP_ERR(n) (0x80000000u | (n))
enum {
	NBD_REP_ACK = 1, NBD_REP_SERVER = 2, NBD_REP_INFO = 3,
	NBD_REP_ERR_UNSUP = NBD_REP_ERR(1), NBD_REP_ERR_POLICY = NBD_REP_ERR(2),
	NBD_REP_ERR_INVALID = NBD_REP_ERR(3), NBD_REP_ERR_TLS_REQD = NBD_REP_ERR(5),
	NBD_REP_ERR_UNKNOWN = NBD_REP_ERR(6), NBD_REP_ERR_TOO_BIG = NBD_REP_ERR(9),
};
enum { NBD_INFO_EXPORT = 0, NBD_INFO_NAME = 1, NBD_INFO_DESCRIPTION = 2,
       NBD_INFO_BLOCK_SIZE = 3 };

/* transmission flags */
enum {
	NBD_FLAG_HAS_FLAGS = 1 << 0, NBD_FLAG_READ_ONLY = 1 << 1, NBD_FLAG_SEND_FLUSH = 1 << 2,
	NBD_FLAG_SEND_FUA = 1 << 3, NBD_FLAG_SEND_TRIM = 1 << 5,
	NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6, NBD_FLAG_SEND_DF = 1 << 7,
	NBD_FLAG_CAN_MULTI_CONN = 1 << 8,
};

/* commands and their flags */
enum {
	NBD_CMD_READ = 0, NBD_CMD_WRITE = 1, NBD_CMD_DISC = 2, NBD_CMD_FLUSH = 3,
	NBD_CMD_TRIM = 4, NBD_CMD_CACHE = 5, NBD_CMD_WRITE_ZEROES = 6, NBD_CMD_BLOCK_STATUS = 7,
};
enum {
	NBD_CMD_FLAG_FUA = 1 << 0, NBD_CMD_FLAG_NO_HOLE = 1 << 1, NBD_CMD_FLAG_DF = 1 << 2,
	NBD_CMD_FLAG_REQ_ONE = 1 << 3, NBD_CMD_FLAG_FAST_ZERO = 1 << 4,
};

/* structured reply chunks */
#define NBD_REPLY_FLAG_DONE 1u
enum { NBD_REPLY_TYPE_NONE = 0, NBD_REPLY_TYPE_OFFSET_DATA = 1,
       NBD_REPLY_TYPE_ERROR = 32769 };

/* NBD's error numbers (not the host's errno values) */
enum { NBD_EPERM = 1, NBD_EIO = 5, NBD_ENOMEM = 12, NBD_EINVAL = 22, NBD_ENOSPC = 28,
       NBD_EOVERFLOW = 75, NBD_ENOTSUP = 95, NBD_ESHUTDOWN = 108 };

#define NBD_REQUEST_SIZE 28
#define NBD_OPTION_HEADER_SIZE 16
#define NBD_OPTION_MAX_DATA 65536      /* longer option data: NBD_REP_ERR_TOO_BIG */
#define NBD_MAX_PAYLOAD (32u << 20)    /* the block size maximum lbfo-nbd advertises */

struct nbd_request {
	uint16_t flags, type;
	uint64_t handle, offset;
	uint32_t count;
};

/* Big-endian fields. */
void nbd_put16(uint8_t *p, uint16_t v);
void nbd_put32(uint8_t *p, uint32_t v);
void nbd_put64(uint8_t *p, uint64_t v);
uint16_t nbd_get16(const uint8_t *p);
uint32_t nbd_get32(const uint8_t *p);
uint64_t nbd_get64(const uint8_t *p);

/* A request header (NBD_REQUEST_SIZE bytes): 0, or -1 on a wrong magic. */
int nbd_parse_request(const uint8_t *p, struct nbd_request *r);
/* The host's errno (positive) as NBD's error number (EIO for the rest). */
uint32_t nbd_errno(int err);

/* Reply headers; each returns its length. A simple reply is 16 bytes,
 * followed for a successful read by the data. */
size_t nbd_simple_reply(uint8_t *p, uint32_t error, uint64_t handle);
/* A structured read's data chunk header (28 bytes; then count bytes). */
size_t nbd_chunk_data(uint8_t *p, uint64_t handle, uint64_t offset, uint32_t count, bool done);
/* A structured NONE chunk with the DONE flag (20 bytes). */
size_t nbd_chunk_done(uint8_t *p, uint64_t handle);
/* A structured error chunk with the DONE flag and no message (26 bytes). */
size_t nbd_chunk_error(uint8_t *p, uint64_t handle, uint32_t error);

/* The handshake */
size_t nbd_greeting(uint8_t *p);      /* 18 bytes: magic, IHAVEOPT, flags */
/* An option reply header (20 bytes) for `len` bytes of data. */
size_t nbd_option_reply(uint8_t *p, uint32_t option, uint32_t type, uint32_t len);

/*
 * The data of NBD_OPT_INFO / NBD_OPT_GO: name and the information
 * requests. 0 (name points into data, NUL-terminated into name_buf), or -1
 * when the lengths do not add up (NBD_REP_ERR_INVALID).
 */
struct nbd_go {
	char name[4097];
	bool want_name, want_description, want_block_size;
};
int nbd_parse_go(const uint8_t *data, uint32_t len, struct nbd_go *g);

/* NBD_INFO_EXPORT (12 bytes), NBD_INFO_BLOCK_SIZE (14 bytes) */
size_t nbd_info_export(uint8_t *p, uint64_t size, uint16_t flags);
size_t nbd_info_block_size(uint8_t *p, uint32_t min, uint32_t preferred, uint32_t max);

/* A request's validity against the export before it reaches the LU:
 * 0, or the NBD error to answer with. can_trim: NBD_FLAG_SEND_TRIM was
 * given; structured: structured replies were negotiated (DF is known). */
uint32_t nbd_check_request(const struct nbd_request *r, uint64_t size, uint32_t min_block,
			   bool readonly, bool can_trim, bool structured);

#endif
