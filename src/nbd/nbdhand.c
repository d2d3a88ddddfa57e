/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fixed newstyle handshake (proto.md, "Option haggling"), on the
 * connection's own thread with blocking I/O under a deadline: a client
 * that stalls in the handshake holds only its thread, never the loop.
 * Options: EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED_REPLY, and
 * LIST/SET_META_CONTEXT (answered with no context: no block status).
 * STARTTLS is refused (NBD_REP_ERR_UNSUP): lbfo-nbd has no TLS, the nbdkit
 * plugin has (docs/nbd.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "discover.h"
#include "lbfo/lu.h"
#include "nbdsrv.h"

#define MAX_OPTIONS 256 /* options in one handshake */

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int reply(struct nbd_conn *c, uint32_t opt, uint32_t type, const void *data,
		 uint32_t len)
{
	uint8_t h[20];

	nbd_option_reply(h, opt, type, len);
	if (write_all(c->fd, h, sizeof(h)) < 0)
		return -1;
	return len ? write_all(c->fd, data, len) : 0;
}

/* An error reply with a message for the client's user. */
static int reply_err(struct nbd_conn *c, uint32_t opt, uint32_t type, const char *msg)
{
	return reply(c, opt, type, msg, (uint32_t)strlen(msg));
}

/* ---- exports --------------------------------------------------------------------- */

struct listing {
	uint8_t *buf;      /* REP_SERVER payloads, each after its 4-byte length */
	size_t len, cap;
	int n;
	const char *want;  /* find: this name's description into desc */
	char desc[512];
	bool found;
};

static void collect(void *arg, const char *name, const char *description)
{
	struct listing *l = arg;
	size_t nl = strlen(name), dl = strlen(description), need = 4 + 4 + nl + dl;

	if (l->want) {
		/* the default export ("") is the only LU: the first listed */
		if (!strcmp(l->want, name) || (!l->want[0] && !l->found)) {
			snprintf(l->desc, sizeof(l->desc), "%s", description);
			l->found = true;
		}
		return;
	}
	if (l->len + need > l->cap) {
		size_t cap = (l->cap + need) * 2;
		uint8_t *nb = realloc(l->buf, cap);

		if (!nb)
			return;
		l->buf = nb;
		l->cap = cap;
	}
	nbd_put32(l->buf + l->len, (uint32_t)(4 + nl + dl)); /* the reply's length */
	nbd_put32(l->buf + l->len + 4, (uint32_t)nl);
	memcpy(l->buf + l->len + 8, name, nl);
	memcpy(l->buf + l->len + 8 + nl, description, dl);
	l->len += need;
	l->n++;
}

static int opt_list(struct nbd_conn *c, uint32_t len)
{
	struct listing l = { 0 };
	size_t off = 0;
	int rc = 0;

	if (len)
		return reply_err(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "LIST takes no data");
	lbfo_host_list_exports(c->srv->host, collect, &l);
	while (off < l.len && rc == 0) {
		uint32_t n = nbd_get32(l.buf + off);

		rc = reply(c, NBD_OPT_LIST, NBD_REP_SERVER, l.buf + off + 4, n);
		off += 4 + n;
	}
	free(l.buf);
	return rc ? rc : reply(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

static uint16_t export_flags(const struct nbd_conn *c)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
		     NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN;

	if (c->can_trim)
		f |= NBD_FLAG_SEND_TRIM;
	if (c->structured)
		f |= NBD_FLAG_SEND_DF;
	if (c->srv->readonly)
		f |= NBD_FLAG_READ_ONLY;
	return f;
}

/* Open the export for this connection: 0, or -1 with err. */
static int open_export(struct nbd_conn *c, const char *name, char *err, size_t errlen)
{
	const struct lbfo_lu_ident *id;

	if (!name[0] && !lbfo_host_has_default(c->srv->host)) {
		snprintf(err, errlen, "%s", lbfo_nbd_no_default); /* as the plugin says it */
		return -1;
	}
	c->lu = lbfo_host_open(c->srv->host, name, err, errlen);
	if (!c->lu)
		return -1;
	id = lbfo_lu_identity(c->lu);
	c->size = lbfo_lu_export_bytes(c->lu);
	c->min_block = id->block_size ? id->block_size : 512;
	/* As the plugin's can_trim and can_fua. */
	c->can_trim = id->have_b2 ? id->lbpu : id->lbpme;
	c->flush_for_fua = !(id->dpofua || (id->have_mode && !id->wce));
	snprintf(c->export, sizeof(c->export), "%s", name);
	return 0;
}

static void close_export(struct nbd_conn *c)
{
	if (c->lu)
		lbfo_host_close(c->srv->host, c->lu);
	c->lu = NULL;
}

static uint32_t preferred_block(const struct lbfo_lu_ident *id)
{
	uint32_t p = id->block_size > 4096 ? id->block_size : 4096;

	if (id->opt_xfer_blocks && (uint64_t)id->opt_xfer_blocks * id->block_size > p &&
	    (uint64_t)id->opt_xfer_blocks * id->block_size <= NBD_MAX_PAYLOAD)
		p = id->opt_xfer_blocks * id->block_size;
	return p;
}

/* NBD_OPT_INFO / NBD_OPT_GO: 1 when GO chose the export, 0 to go on
 * haggling, -1 on a broken connection. */
static int opt_go(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	struct nbd_go g;
	struct listing l = { 0 };
	char err[LBFO_ERR_MAX];
	uint8_t info[16];
	const struct lbfo_lu_ident *id;

	if (nbd_parse_go(data, len, &g) < 0)
		return reply_err(c, opt, NBD_REP_ERR_INVALID, "malformed INFO/GO request");
	if (open_export(c, g.name, err, sizeof(err)) < 0) {
		nbd_log(LBFO_LOG_NOTICE, "%s: export '%s' refused: %s", c->peer, g.name, err);
		return reply_err(c, opt, NBD_REP_ERR_UNKNOWN, err);
	}
	id = lbfo_lu_identity(c->lu);
	if (reply(c, opt, NBD_REP_INFO, info, (uint32_t)nbd_info_export(info, c->size,
									 export_flags(c))) < 0 ||
	    reply(c, opt, NBD_REP_INFO, info, (uint32_t)nbd_info_block_size(
			  info, c->min_block, preferred_block(id), NBD_MAX_PAYLOAD)) < 0)
		goto broken;
	if (g.want_name) {
		uint8_t nm[2 + sizeof(g.name)];
		size_t n = strlen(g.name);

		nbd_put16(nm, NBD_INFO_NAME);
		memcpy(nm + 2, g.name, n);
		if (reply(c, opt, NBD_REP_INFO, nm, (uint32_t)(2 + n)) < 0)
			goto broken;
	}
	if (g.want_description) {
		uint8_t d[2 + sizeof(l.desc)];
		size_t n;

		l.want = g.name;
		lbfo_host_list_exports(c->srv->host, collect, &l);
		n = strlen(l.desc);
		nbd_put16(d, NBD_INFO_DESCRIPTION);
		memcpy(d + 2, l.desc, n);
		if (reply(c, opt, NBD_REP_INFO, d, (uint32_t)(2 + n)) < 0)
			goto broken;
	}
	if (reply(c, opt, NBD_REP_ACK, NULL, 0) < 0)
		goto broken;
	if (opt == NBD_OPT_GO)
		return 1;
	close_export(c);
	return 0;
broken:
	close_export(c);
	return -1;
}

/* NBD_OPT_EXPORT_NAME: the old way in; a refusal can only close. */
static int opt_export_name(struct nbd_conn *c, const uint8_t *data, uint32_t len,
			   bool no_zeroes)
{
	char name[4097], err[LBFO_ERR_MAX];
	uint8_t out[10 + 124] = { 0 };

	if (len >= sizeof(name) || memchr(data, 0, len)) {
		nbd_log(LBFO_LOG_NOTICE, "%s: malformed EXPORT_NAME", c->peer);
		return -1;
	}
	memcpy(name, data, len);
	name[len] = 0;
	if (open_export(c, name, err, sizeof(err)) < 0) {
		nbd_log(LBFO_LOG_NOTICE, "%s: export '%s' refused: %s", c->peer, name, err);
		return -1;
	}
	nbd_put64(out, c->size);
	nbd_put16(out + 8, export_flags(c));
	if (write_all(c->fd, out, no_zeroes ? 10 : sizeof(out)) < 0) {
		close_export(c);
		return -1;
	}
	return 1;
}

/* One option: 1 when an export was chosen, 0 to go on, -1 to end. */
static int option(struct nbd_conn *c, uint32_t opt, uint8_t *data, uint32_t len,
		  bool no_zeroes)
{
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return opt_export_name(c, data, len, no_zeroes);
	case NBD_OPT_ABORT:
		(void)reply(c, opt, NBD_REP_ACK, NULL, 0);
		return -1;
	case NBD_OPT_LIST:
		return opt_list(c, len) < 0 ? -1 : 0;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return opt_go(c, opt, data, len);
	case NBD_OPT_STRUCTURED_REPLY:
		if (len)
			return reply_err(c, opt, NBD_REP_ERR_INVALID, "takes no data") < 0 ? -1 : 0;
		c->structured = true;
		return reply(c, opt, NBD_REP_ACK, NULL, 0) < 0 ? -1 : 0;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		/* No metadata context is offered (no NBD_CMD_BLOCK_STATUS). */
		if (!c->structured)
			return reply_err(c, opt, NBD_REP_ERR_INVALID,
					 "structured replies first") < 0 ? -1 : 0;
		return reply(c, opt, NBD_REP_ACK, NULL, 0) < 0 ? -1 : 0;
	case NBD_OPT_STARTTLS:
		return reply_err(c, opt, NBD_REP_ERR_UNSUP, "this server has no TLS (lbfo-nbd); "
				 "the nbdkit plugin serves TLS") < 0 ? -1 : 0;
	default:
		return reply_err(c, opt, NBD_REP_ERR_UNSUP, "unknown option") < 0 ? -1 : 0;
	}
}

/* Drop len bytes of input. */
static int skip_input(int fd, uint64_t len)
{
	uint8_t junk[4096];

	while (len) {
		size_t n = len > sizeof(junk) ? sizeof(junk) : (size_t)len;

		if (read_all(fd, junk, n) < 0)
			return -1;
		len -= n;
	}
	return 0;
}

int nbd_handshake(struct nbd_conn *c)
{
	uint8_t buf[20], *data = NULL; /* the greeting (18), an option header (16) */
	uint32_t cflags;
	int i, rc = -1;

	if (write_all(c->fd, buf, nbd_greeting(buf)) < 0 || read_all(c->fd, buf, 4) < 0)
		return -1;
	cflags = nbd_get32(buf);
	if (!(cflags & NBD_FLAG_FIXED_NEWSTYLE) ||
	    (cflags & ~(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES))) {
		nbd_log(LBFO_LOG_NOTICE, "%s: client flags 0x%x refused (fixed newstyle only)",
			c->peer, cflags);
		return -1;
	}
	for (i = 0; i < MAX_OPTIONS; i++) {
		uint32_t opt, len;

		if (read_all(c->fd, buf, NBD_OPTION_HEADER_SIZE) < 0)
			break;
		if (nbd_get64(buf) != NBD_IHAVEOPT) {
			nbd_log(LBFO_LOG_NOTICE, "%s: bad option magic: closed", c->peer);
			break;
		}
		opt = nbd_get32(buf + 8);
		len = nbd_get32(buf + 12);
		if (len > NBD_OPTION_MAX_DATA) {
			if (skip_input(c->fd, len) < 0 ||
			    reply_err(c, opt, NBD_REP_ERR_TOO_BIG, "option data too long") < 0)
				break;
			continue;
		}
		free(data);
		data = malloc(len ? len : 1);
		if (!data || read_all(c->fd, data, len) < 0)
			break;
		rc = option(c, opt, data, len, cflags & NBD_FLAG_NO_ZEROES);
		if (rc != 0)
			break;
		rc = -1;
	}
	if (i == MAX_OPTIONS)
		nbd_log(LBFO_LOG_NOTICE, "%s: more than %d options: closed", c->peer, MAX_OPTIONS);
	free(data);
	return rc > 0 ? 0 : -1;
}
