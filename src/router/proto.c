/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Discovery message parser and encoder (see proto.h, docs/protocol.md).
 * Pure: no I/O, no allocation, no global state.
 */
#include <string.h>

#include "proto.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Which functions each packet type may carry. */
static int func_ok(uint16_t type, uint16_t func)
{
	switch (type) {
	case LBFO_DISC_ANNOUNCE:
		return func == LBFO_DISC_F_HELLO || func == LBFO_DISC_F_LEAVE;
	case LBFO_DISC_REPLY:
		return func == LBFO_DISC_F_ACK;
	case LBFO_DISC_ASSIGN:
		return func == LBFO_DISC_F_ADDRESSES;
	default:
		return 0;
	}
}

enum lbfo_disc_err lbfo_disc_parse(const uint8_t *buf, size_t len,
				   struct lbfo_disc_msg *m)
{
	struct lbfo_disc_msg x;

	/* Magic, version and length come first so that a later version
	 * with a longer message is recognised as such, not as junk. */
	if (!buf || len < 8)
		return LBFO_DISC_E_SHORT;
	if (get32(buf) != LBFO_DISC_MAGIC)
		return LBFO_DISC_E_MAGIC;
	memset(&x, 0, sizeof(x));
	x.version = buf[4];
	x.flags = buf[5];
	x.length = get16(buf + 6);
	if (x.version != LBFO_DISC_VERSION)
		return LBFO_DISC_E_VERSION;
	if (x.length != len ||
	    len != ((x.flags & LBFO_DISC_F_AUTH) ? LBFO_DISC_AUTH_LEN : LBFO_DISC_LEN))
		return LBFO_DISC_E_LENGTH;
	x.src_ip = get32(buf + 8);
	x.dst_ip = get32(buf + 12);
	x.priority = get16(buf + 16);
	x.cluster = get16(buf + 18);
	x.type = get16(buf + 20);
	x.func = get16(buf + 22);
	x.router_ip = get32(buf + 24);
	x.mgmt_ip = get32(buf + 28);
	x.src_port = get16(buf + 32);
	x.dst_port = get16(buf + 34);
	if (x.flags & LBFO_DISC_F_AUTH)
		x.stamp = (uint64_t)get32(buf + LBFO_DISC_STAMP_OFF) << 32 |
			  get32(buf + LBFO_DISC_STAMP_OFF + 4);
	if (x.type < LBFO_DISC_ANNOUNCE || x.type > LBFO_DISC_ASSIGN)
		return LBFO_DISC_E_TYPE;
	if (!func_ok(x.type, x.func))
		return LBFO_DISC_E_FUNCTION;
	*m = x;
	return LBFO_DISC_OK;
}

enum lbfo_disc_err lbfo_disc_check(const uint8_t *buf, size_t len,
				   uint16_t cluster, struct lbfo_disc_msg *m)
{
	struct lbfo_disc_msg x;
	enum lbfo_disc_err e = lbfo_disc_parse(buf, len, &x);

	if (e != LBFO_DISC_OK)
		return e;
	if (x.cluster != cluster)
		return LBFO_DISC_E_CLUSTER;
	*m = x;
	return LBFO_DISC_OK;
}

size_t lbfo_disc_encode(const struct lbfo_disc_msg *m, uint8_t *buf, size_t cap)
{
	size_t len = (m->flags & LBFO_DISC_F_AUTH) ? LBFO_DISC_AUTH_LEN : LBFO_DISC_LEN;

	if (cap < len)
		return 0;
	put32(buf, LBFO_DISC_MAGIC);
	buf[4] = LBFO_DISC_VERSION;
	buf[5] = m->flags;
	put16(buf + 6, (uint16_t)len);
	put32(buf + 8, m->src_ip);
	put32(buf + 12, m->dst_ip);
	put16(buf + 16, m->priority);
	put16(buf + 18, m->cluster);
	put16(buf + 20, m->type);
	put16(buf + 22, m->func);
	put32(buf + 24, m->router_ip);
	put32(buf + 28, m->mgmt_ip);
	put16(buf + 32, m->src_port);
	put16(buf + 34, m->dst_port);
	if (len == LBFO_DISC_AUTH_LEN) {
		put32(buf + LBFO_DISC_STAMP_OFF, (uint32_t)(m->stamp >> 32));
		put32(buf + LBFO_DISC_STAMP_OFF + 4, (uint32_t)m->stamp);
		memset(buf + LBFO_DISC_MAC_OFF, 0, LBFO_DISC_AUTH_LEN - LBFO_DISC_MAC_OFF);
	}
	return len;
}

static const char *const err_names[LBFO_DISC_E__MAX] = {
	[LBFO_DISC_OK] = "ok",
	[LBFO_DISC_E_SHORT] = "short",
	[LBFO_DISC_E_MAGIC] = "magic",
	[LBFO_DISC_E_VERSION] = "version",
	[LBFO_DISC_E_LENGTH] = "length",
	[LBFO_DISC_E_TYPE] = "type",
	[LBFO_DISC_E_FUNCTION] = "function",
	[LBFO_DISC_E_CLUSTER] = "cluster",
	[LBFO_DISC_E_SOURCE] = "source",
	[LBFO_DISC_E_AUTH] = "auth",
	[LBFO_DISC_E_REPLAY] = "replay",
};

const char *lbfo_disc_err_name(enum lbfo_disc_err e)
{
	if ((unsigned)e >= LBFO_DISC_E__MAX)
		return "?";
	return err_names[e];
}

const char *lbfo_disc_type_name(uint16_t type)
{
	switch (type) {
	case LBFO_DISC_ANNOUNCE: return "announce";
	case LBFO_DISC_REPLY: return "reply";
	case LBFO_DISC_ASSIGN: return "assign";
	default: return "?";
	}
}

const char *lbfo_disc_func_name(uint16_t func)
{
	switch (func) {
	case LBFO_DISC_F_HELLO: return "hello";
	case LBFO_DISC_F_LEAVE: return "leave";
	case LBFO_DISC_F_ACK: return "ack";
	case LBFO_DISC_F_ADDRESSES: return "addresses";
	default: return "?";
	}
}
