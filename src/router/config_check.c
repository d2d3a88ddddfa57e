/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router configuration: the checks made once the whole file is read
 * (reported at the line of the key at fault, or of the section when a
 * required key is missing; of several, the first line's), and what is
 * derived from several keys.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "config_int.h"

static struct rt_service_cfg *service_named(struct rt_config *c, const char *name)
{
	int i;

	for (i = 0; i < c->nsvc; i++)
		if (!strcmp(c->svc[i].name, name))
			return &c->svc[i];
	return NULL;
}

bool rt_disc_is_multicast(const struct rt_config *c)
{
	return c->discovery && IN_MULTICAST(ntohl(c->disc_listen.sin_addr.s_addr));
}

/* The discovery keys together. Returns -1 with a finding. */
static int check_discovery(struct lbfo_cfg_checker *chk, struct rt_config *c)
{
	char g[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &c->disc_listen.sin_addr, g, sizeof(g));
	if (c->disc_iface_line && !rt_disc_is_multicast(c)) {
		lbfo_cfg_found(chk, c->disc_iface_line, "router", "discovery_interface",
			       "only used when discovery is a multicast group (discovery is %s)",
			       c->discovery ? g : "off");
		return -1;
	}
	if (rt_disc_is_multicast(c) && !c->router_addr.s_addr && !c->disc_iface.s_addr) {
		lbfo_cfg_found(chk, c->disc_line, "router", "discovery",
			       "%s is a multicast group, not the router's address: set 'address' "
			       "(told to nodes, FIG 8/9) or 'discovery_interface'", g);
		return -1;
	}
	return 0;
}

/* Would two listen addresses take the same port? Equal addresses, or one
 * the wildcard of the other's family ([::] is dual-stack: it takes IPv4's
 * port as well). */
static bool listen_overlap(const struct rt_service_cfg *a, const struct rt_service_cfg *b)
{
	static const uint8_t v4map[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[16];
	struct rt_addr x, y;
	uint16_t px, py;
	bool x4, y4;

	rt_addr_from_sockaddr((const struct sockaddr *)&a->listen, &x, &px);
	rt_addr_from_sockaddr((const struct sockaddr *)&b->listen, &y, &py);
	if (px != py)
		return false;
	if (!memcmp(&x, &y, sizeof(x)) || !memcmp(x.b, zero, 16) || !memcmp(y.b, zero, 16))
		return true;
	x4 = !memcmp(x.b, v4map, 12);
	y4 = !memcmp(y.b, v4map, 12);
	return x4 && y4 && (!memcmp(x.b + 12, zero, 4) || !memcmp(y.b + 12, zero, 4));
}

static void check_service(struct lbfo_cfg_checker *chk, struct rt_config *c,
			  const struct rt_service_cfg *s)
{
	char hdr[LBFO_NAME_MAX + 16];
	int j;

	snprintf(hdr, sizeof(hdr), "service %s", s->name);
	for (j = 0; j < s->nnodes; j++)
		if (!c->node[s->nodes[j].node].declared)
			lbfo_cfg_found(chk, s->nodes[j].line, hdr, "nodes", "no [node %s] section",
				       c->node[s->nodes[j].node].name);
	for (j = 0; j < c->nsvc && s->listen_len; j++)
		if (c->svc[j].listen_len && c->svc[j].listen_line < s->listen_line &&
		    listen_overlap(&c->svc[j], s))
			lbfo_cfg_found(chk, s->listen_line, hdr, "listen", "%s is taken by "
				       "[service %s] (listen = %s, line %d)", s->listen_text,
				       c->svc[j].name, c->svc[j].listen_text,
				       c->svc[j].listen_line);
}

static void check_node(struct lbfo_cfg_checker *chk, struct rt_config *c,
		       const struct rt_node_cfg *n)
{
	char hdr[LBFO_NAME_MAX + 16];
	int j;

	snprintf(hdr, sizeof(hdr), "node %s", n->name);
	for (j = 0; j < c->nnode && n->addr.s_addr; j++)
		if (c->node[j].declared && c->node[j].addr.s_addr == n->addr.s_addr &&
		    c->node[j].addr_line < n->addr_line)
			lbfo_cfg_found(chk, n->addr_line, hdr, "address", "%s is also the address "
				       "of [node %s] (line %d); discovery tells nodes apart by "
				       "address", n->addr_text, c->node[j].name,
				       c->node[j].addr_line);
	for (j = 0; j < n->nport_key; j++) {
		const struct rt_port_key *pk = &n->port_key[j];
		char key[LBFO_NAME_MAX + 8];

		snprintf(key, sizeof(key), "port.%s", pk->service);
		if (!service_named(c, pk->service))
			lbfo_cfg_found(chk, pk->line, hdr, key, "no [service %s]", pk->service);
	}
}

void rt_config_check(struct lbfo_cfg_checker *chk, void *user)
{
	struct rt_config *c = user;
	int i;

	if (check_discovery(chk, c) < 0)
		return;
	if (!c->nsvc) {
		lbfo_cfg_found(chk, 0, NULL, NULL, "no [service NAME] section");
		return;
	}
	for (i = 0; i < c->nsvc; i++)
		check_service(chk, c, &c->svc[i]);
	for (i = 0; i < c->nnode; i++)
		if (c->node[i].declared) /* else named by a service (found above) */
			check_node(chk, c, &c->node[i]);
}

/* Take out nodes that no section declares (none is named by a service:
 * the checks said so). */
static void drop_stray_nodes(struct rt_config *c)
{
	int map[RT_MAX_NODES], i, j, k = 0;

	for (i = 0; i < c->nnode; i++) {
		map[i] = -1;
		if (!c->node[i].declared)
			continue;
		if (k != i)
			c->node[k] = c->node[i];
		map[i] = k++;
	}
	if (k == c->nnode)
		return;
	c->nnode = k;
	for (i = 0; i < c->nsvc; i++)
		for (j = 0; j < c->svc[i].nnodes; j++)
			c->svc[i].nodes[j].node = map[c->svc[i].nodes[j].node];
}

static uint16_t listen_port(const struct rt_service_cfg *s)
{
	return s->listen.ss_family == AF_INET ?
		ntohs(((const struct sockaddr_in *)&s->listen)->sin_port) :
		ntohs(((const struct sockaddr_in6 *)&s->listen)->sin6_port);
}

void rt_config_finish(struct rt_config *c)
{
	int i, j;

	drop_stray_nodes(c);
	for (i = 0; i < c->nnode; i++) {
		struct rt_node_cfg *n = &c->node[i];

		memset(n->port, 0, sizeof(n->port));
		for (j = 0; j < n->nport_key; j++)
			n->port[service_named(c, n->port_key[j].service) - c->svc] =
				n->port_key[j].port;
	}
	c->ngroups = 0;
	for (i = 0; i < c->nsvc; i++) {
		struct rt_service_cfg *s = &c->svc[i];

		if (!s->group[0])
			memcpy(s->group, s->name, sizeof(s->group));
		s->group_id = -1;
		for (j = 0; j < i; j++)
			if (!strcmp(c->svc[j].group, s->group))
				s->group_id = c->svc[j].group_id;
		if (s->group_id < 0)
			s->group_id = c->ngroups++;
		if (!s->node_port)
			s->node_port = listen_port(s);
	}
	/* The router's address told to nodes: a multicast group is nobody's. */
	if (rt_disc_is_multicast(c) && !c->router_addr.s_addr)
		c->router_addr = c->disc_iface;
	if (!c->router_addr.s_addr)
		c->router_addr = c->disc_listen.sin_addr;
}
