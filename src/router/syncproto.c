/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session-table replication messages (syncproto.h, docs/sync.md).
 * Pure: no I/O, no allocation, no global state.
 */
#include <string.h>

#include "syncproto.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* The body length a type must have (count entries for ENTRIES). */
static size_t body_len(uint8_t type, uint16_t count)
{
	switch (type) {
	case LBFO_SYNC_CHALLENGE: return LBFO_SYNC_NONCE;
	case LBFO_SYNC_HELLO: return LBFO_SYNC_NAME;
	case LBFO_SYNC_ENTRIES: return (size_t)count * LBFO_SYNC_ENTRY;
	default: return 0;
	}
}

enum lbfo_sync_err lbfo_sync_parse(const uint8_t *buf, size_t len, uint16_t cluster,
				   struct lbfo_sync_hdr *h)
{
	struct lbfo_sync_hdr x;
	size_t mac;

	/* Magic, version and length first, each as soon as its bytes are
	 * there: a stream of junk is refused before 32 bytes of it. */
	if (len >= 4 && get32(buf) != LBFO_SYNC_MAGIC)
		return LBFO_SYNC_E_MAGIC;
	if (len >= 5 && buf[4] != LBFO_SYNC_VERSION)
		return LBFO_SYNC_E_VERSION;
	if (len < LBFO_SYNC_HDR)
		return LBFO_SYNC_E_SHORT;
	memset(&x, 0, sizeof(x));
	x.version = buf[4];
	x.type = buf[5];
	x.flags = get16(buf + 6);
	x.length = get32(buf + 8);
	x.cluster = get16(buf + 12);
	x.count = get16(buf + 14);
	x.seq = get64(buf + 16);
	x.sent_ms = get64(buf + 24);
	if (x.type < LBFO_SYNC_CHALLENGE || x.type > LBFO_SYNC_ENTRIES)
		return LBFO_SYNC_E_TYPE;
	mac = (x.flags & LBFO_SYNC_F_MAC) ? LBFO_SYNC_MAC : 0;
	if (x.length > LBFO_SYNC_MAX || x.count > LBFO_SYNC_MAX_ENTRIES ||
	    (x.type != LBFO_SYNC_ENTRIES && x.count) ||
	    x.length != LBFO_SYNC_HDR + body_len(x.type, x.count) + mac)
		return LBFO_SYNC_E_LENGTH;
	if (x.cluster != cluster)
		return LBFO_SYNC_E_CLUSTER;
	if (len < x.length)
		return LBFO_SYNC_E_SHORT;
	if (x.type == LBFO_SYNC_ENTRIES) {
		struct lbfo_sync_entry e;
		size_t i;

		for (i = 0; i < x.count; i++)
			if (lbfo_sync_entry_get(buf + LBFO_SYNC_HDR, i, &e) != LBFO_SYNC_OK)
				return LBFO_SYNC_E_ENTRY;
	}
	*h = x;
	return LBFO_SYNC_OK;
}

enum lbfo_sync_err lbfo_sync_entry_get(const uint8_t *body, size_t i, struct lbfo_sync_entry *e)
{
	const uint8_t *p = body + i * LBFO_SYNC_ENTRY;

	if ((p[18] != LBFO_SYNC_SET && p[18] != LBFO_SYNC_DEL) || p[19] || get32(p + 28))
		return LBFO_SYNC_E_ENTRY;
	memcpy(e->addr, p, 16);
	e->port = get16(p + 16);
	e->op = p[18];
	e->group = get32(p + 20);
	e->node_ip = get32(p + 24);
	e->last_ms = get64(p + 32);
	return LBFO_SYNC_OK;
}

void lbfo_sync_entry_put(uint8_t *p, const struct lbfo_sync_entry *e)
{
	memset(p, 0, LBFO_SYNC_ENTRY);
	memcpy(p, e->addr, 16);
	put16(p + 16, e->port);
	p[18] = e->op;
	put32(p + 20, e->group);
	put32(p + 24, e->node_ip);
	put64(p + 32, e->last_ms);
}

size_t lbfo_sync_hdr_put(uint8_t *p, const struct lbfo_sync_hdr *h, size_t blen)
{
	size_t len = LBFO_SYNC_HDR + blen + ((h->flags & LBFO_SYNC_F_MAC) ? LBFO_SYNC_MAC : 0);

	if (len > LBFO_SYNC_MAX)
		return 0;
	put32(p, LBFO_SYNC_MAGIC);
	p[4] = LBFO_SYNC_VERSION;
	p[5] = h->type;
	put16(p + 6, h->flags);
	put32(p + 8, (uint32_t)len);
	put16(p + 12, h->cluster);
	put16(p + 14, h->count);
	put64(p + 16, h->seq);
	put64(p + 24, h->sent_ms);
	return LBFO_SYNC_HDR;
}

bool lbfo_sync_theirs_wins(uint64_t mine_ms, uint32_t mine_ip, uint64_t theirs_ms,
			   uint32_t theirs_ip)
{
	if (theirs_ms != mine_ms)
		return theirs_ms > mine_ms;
	return theirs_ip < mine_ip;
}

uint32_t lbfo_sync_group_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++) {
		h ^= (uint8_t)*name;
		h *= 16777619u;
	}
	return h;
}

static const char *const err_names[LBFO_SYNC_E__MAX] = {
	[LBFO_SYNC_OK] = "ok",
	[LBFO_SYNC_E_SHORT] = "short",
	[LBFO_SYNC_E_MAGIC] = "magic",
	[LBFO_SYNC_E_VERSION] = "version",
	[LBFO_SYNC_E_LENGTH] = "length",
	[LBFO_SYNC_E_TYPE] = "type",
	[LBFO_SYNC_E_CLUSTER] = "cluster",
	[LBFO_SYNC_E_ENTRY] = "entry",
};

const char *lbfo_sync_err_name(enum lbfo_sync_err e)
{
	if ((unsigned)e >= LBFO_SYNC_E__MAX)
		return "?";
	return err_names[e];
}
