/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NBD protocol's byte layouts (nbdproto.h): fixed newstyle handshake,
 * requests, simple and structured replies.
 */
#include <errno.h>
#include <string.h>

#include "nbdproto.h"

void nbd_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void nbd_put32(uint8_t *p, uint32_t v)
{
	nbd_put16(p, (uint16_t)(v >> 16));
	nbd_put16(p + 2, (uint16_t)v);
}

void nbd_put64(uint8_t *p, uint64_t v)
{
	nbd_put32(p, (uint32_t)(v >> 32));
	nbd_put32(p + 4, (uint32_t)v);
}

uint16_t nbd_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t nbd_get32(const uint8_t *p)
{
	return (uint32_t)nbd_get16(p) << 16 | nbd_get16(p + 2);
}

uint64_t nbd_get64(const uint8_t *p)
{
	return (uint64_t)nbd_get32(p) << 32 | nbd_get32(p + 4);
}

int nbd_parse_request(const uint8_t *p, struct nbd_request *r)
{
	if (nbd_get32(p) != NBD_REQUEST_MAGIC)
		return -1;
	r->flags = nbd_get16(p + 4);
	r->type = nbd_get16(p + 6);
	r->handle = nbd_get64(p + 8);
	r->offset = nbd_get64(p + 16);
	r->count = nbd_get32(p + 24);
	return 0;
}

uint32_t nbd_errno(int err)
{
	switch (err) {
	case 0: return 0;
	case EPERM: case EROFS: return NBD_EPERM;
	case ENOMEM: return NBD_ENOMEM;
	case EINVAL: return NBD_EINVAL;
	case ENOSPC: case EFBIG: case EDQUOT: return NBD_ENOSPC;
	case EOVERFLOW: return NBD_EOVERFLOW;
	case ENOTSUP: return NBD_ENOTSUP;
	case ESHUTDOWN: return NBD_ESHUTDOWN;
	default: return NBD_EIO;
	}
}

size_t nbd_simple_reply(uint8_t *p, uint32_t error, uint64_t handle)
{
	nbd_put32(p, NBD_SIMPLE_MAGIC);
	nbd_put32(p + 4, error);
	nbd_put64(p + 8, handle);
	return 16;
}

static size_t chunk(uint8_t *p, uint16_t flags, uint16_t type, uint64_t handle, uint32_t len)
{
	nbd_put32(p, NBD_STRUCTURED_MAGIC);
	nbd_put16(p + 4, flags);
	nbd_put16(p + 6, type);
	nbd_put64(p + 8, handle);
	nbd_put32(p + 16, len);
	return 20;
}

size_t nbd_chunk_data(uint8_t *p, uint64_t handle, uint64_t offset, uint32_t count, bool done)
{
	size_t n = chunk(p, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_DATA, handle,
			 count + 8);

	nbd_put64(p + n, offset);
	return n + 8;
}

size_t nbd_chunk_done(uint8_t *p, uint64_t handle)
{
	return chunk(p, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, handle, 0);
}

size_t nbd_chunk_error(uint8_t *p, uint64_t handle, uint32_t error)
{
	size_t n = chunk(p, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, handle, 6);

	nbd_put32(p + n, error);
	nbd_put16(p + n + 4, 0); /* no message */
	return n + 6;
}

size_t nbd_greeting(uint8_t *p)
{
	nbd_put64(p, NBD_MAGIC);
	nbd_put64(p + 8, NBD_IHAVEOPT);
	nbd_put16(p + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	return 18;
}

size_t nbd_option_reply(uint8_t *p, uint32_t option, uint32_t type, uint32_t len)
{
	nbd_put64(p, NBD_REP_MAGIC);
	nbd_put32(p + 8, option);
	nbd_put32(p + 12, type);
	nbd_put32(p + 16, len);
	return 20;
}

int nbd_parse_go(const uint8_t *data, uint32_t len, struct nbd_go *g)
{
	uint32_t namelen, i;
	uint16_t nreq;

	memset(g, 0, sizeof(*g));
	if (len < 6)
		return -1;
	namelen = nbd_get32(data);
	if (namelen > len - 6 || namelen >= sizeof(g->name))
		return -1;
	memcpy(g->name, data + 4, namelen);
	g->name[namelen] = 0;
	if (memchr(g->name, 0, namelen))
		return -1; /* a NUL inside the name */
	nreq = nbd_get16(data + 4 + namelen);
	if ((uint64_t)len != 6ull + namelen + 2ull * nreq)
		return -1;
	for (i = 0; i < nreq; i++) {
		uint16_t q = nbd_get16(data + 6 + namelen + 2 * i);

		g->want_name |= q == NBD_INFO_NAME;
		g->want_description |= q == NBD_INFO_DESCRIPTION;
		g->want_block_size |= q == NBD_INFO_BLOCK_SIZE;
	}
	return 0;
}

size_t nbd_info_export(uint8_t *p, uint64_t size, uint16_t flags)
{
	nbd_put16(p, NBD_INFO_EXPORT);
	nbd_put64(p + 2, size);
	nbd_put16(p + 10, flags);
	return 12;
}

size_t nbd_info_block_size(uint8_t *p, uint32_t min, uint32_t preferred, uint32_t max)
{
	nbd_put16(p, NBD_INFO_BLOCK_SIZE);
	nbd_put32(p + 2, min);
	nbd_put32(p + 6, preferred);
	nbd_put32(p + 10, max);
	return 14;
}

/* The flags each command may carry. FUA on any: the spec has the server
 * accept it on every command once NBD_FLAG_SEND_FUA is given (clients set
 * it on reads and flushes; nothing to do there). */
static uint16_t allowed_flags(uint16_t type, bool structured)
{
	switch (type) {
	case NBD_CMD_READ: return NBD_CMD_FLAG_FUA | (structured ? NBD_CMD_FLAG_DF : 0);
	case NBD_CMD_WRITE_ZEROES: return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE;
	default: return NBD_CMD_FLAG_FUA;
	}
}

uint32_t nbd_check_request(const struct nbd_request *r, uint64_t size, uint32_t min_block,
			   bool readonly, bool can_trim, bool structured)
{
	bool writes = r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
		      r->type == NBD_CMD_WRITE_ZEROES;

	switch (r->type) {
	case NBD_CMD_READ: case NBD_CMD_WRITE: case NBD_CMD_FLUSH: case NBD_CMD_WRITE_ZEROES:
		break;
	case NBD_CMD_TRIM:
		if (!can_trim)
			return NBD_EINVAL;
		break;
	default:
		return NBD_EINVAL; /* CACHE, BLOCK_STATUS (not offered), unknown */
	}
	if (r->flags & ~allowed_flags(r->type, structured))
		return NBD_EINVAL;
	if (readonly && writes)
		return NBD_EPERM;
	if (r->type == NBD_CMD_FLUSH)
		return 0;
	if (!r->count || r->offset % min_block || r->count % min_block)
		return NBD_EINVAL;
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) && r->count > NBD_MAX_PAYLOAD)
		return NBD_EOVERFLOW;
	if (r->offset > size || r->count > size - r->offset)
		return writes ? NBD_ENOSPC : NBD_EINVAL;
	return 0;
}
