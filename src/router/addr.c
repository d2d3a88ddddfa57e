/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Addresses of the router's configuration: IP:PORT, CIDRs and ACLs, the
 * 16-byte form (IPv4 v4-mapped) of session keys. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "cfgtable.h"
#include "config.h"

void rt_addr_from_sockaddr(const struct sockaddr *sa, struct rt_addr *a, uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		a->b[10] = a->b[11] = 0xff;
		memcpy(a->b + 12, &s4->sin_addr, 4);
		if (port)
			*port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		memcpy(a->b, &s6->sin6_addr, 16);
		if (port)
			*port = ntohs(s6->sin6_port);
	} else if (port) {
		*port = 0;
	}
}

void rt_addr_text(const struct rt_addr *a, char *buf, size_t len)
{
	static const uint8_t v4map[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(a->b, v4map, 12))
		inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
}

/* "A.B.C.D:PORT" or "[V6]:PORT". */
int rt_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;
	uint64_t port;
	char why[8];

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (lbfo_cfg_parse_uint(colon + 1, 1, 65535, &port, why, sizeof(why)) < 0)
		return -1;
	if (*s != '[') {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	}
	return 0;
}

/* "A.B.C.D[/N]" or "V6[/N]". */
int rt_parse_cidr(const char *s, struct rt_cidr *c)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t prefix;
	char why[8];
	bool v4;

	memset(c, 0, sizeof(*c));
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	v4 = !strchr(host, ':');
	if (v4) {
		c->net.b[10] = c->net.b[11] = 0xff;
		if (inet_pton(AF_INET, host, c->net.b + 12) != 1)
			return -1;
	} else if (inet_pton(AF_INET6, host, c->net.b) != 1) {
		return -1;
	}
	if (slash) {
		if (lbfo_cfg_parse_uint(slash + 1, 0, v4 ? 32 : 128, &prefix, why, sizeof(why)) < 0)
			return -1;
	} else {
		prefix = v4 ? 32 : 128;
	}
	c->prefix = (unsigned)(v4 ? prefix + 96 : prefix);
	/* Clear host bits so that 127.0.0.5/8 means 127.0.0.0/8. */
	{
		unsigned i;

		for (i = c->prefix; i < 128; i++)
			c->net.b[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	}
	return 0;
}

bool rt_cidr_match(const struct rt_cidr *c, const struct rt_addr *a)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (memcmp(c->net.b, a->b, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xffu << (8 - rest));

		return (c->net.b[full] & mask) == (a->b[full] & mask);
	}
	return true;
}

bool rt_service_allows(const struct rt_service_cfg *s, const struct rt_addr *a)
{
	int i;

	if (s->allow_any)
		return true;
	for (i = 0; i < s->nallow; i++)
		if (rt_cidr_match(&s->allow[i], a))
			return true;
	return false;
}
