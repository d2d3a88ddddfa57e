/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router configuration file: parsing and checks. Every error names
 * the file, the line, the section and the key.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>

#include "inifile.h"
#include "lbfo/policy.h"
#include "config.h"

void rt_config_defaults(struct rt_config *c)
{
	memset(c, 0, sizeof(*c));
	c->cluster_id = 1;
	c->discovery = false;
	c->disc_listen.sin_family = AF_INET;
	c->disc_listen.sin_port = htons(7400);
	c->disc_listen.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->router_addr.s_addr = htonl(INADDR_ANY);
	c->announce_interval_ms = 1000;
	c->miss_limit = 3;
	c->session_idle_ms = 300000;
	c->session_table_size = 65536;
	c->pipe_size = 0;
	snprintf(c->control, sizeof(c->control), "/run/lbfo/router.sock");
}

/* ---- value parsers ---------------------------------------------------- */

/* The key is in the message's prefix already (FILE:LINE: [SECTION]: KEY). */
static int parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out,
		     char *why, size_t len)
{
	return lbfo_ini_u32(NULL, v, min, max, out, why, len);
}

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
	uint32_t port;
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
	if (parse_u32(colon + 1, 1, 65535, &port, why, sizeof(why)) < 0)
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
	uint32_t prefix;
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
		if (parse_u32(slash + 1, 0, v4 ? 32 : 128, &prefix, why, sizeof(why)) < 0)
			return -1;
	} else {
		prefix = v4 ? 32 : 128;
	}
	c->prefix = v4 ? prefix + 96 : prefix;
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

/* ---- sections ----------------------------------------------------------- */

/* The service called name; with add, a new one when there is none. */
static struct rt_service_cfg *find_service(struct rt_config *c, const char *name,
					   bool add, int line)
{
	int i;

	for (i = 0; i < c->nsvc; i++)
		if (!strcmp(c->svc[i].name, name))
			return &c->svc[i];
	if (!add || c->nsvc >= RT_MAX_SERVICES || strlen(name) >= LBFO_NAME_MAX)
		return NULL;
	{
		struct rt_service_cfg *s = &c->svc[c->nsvc++];

		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", name);
		snprintf(s->policy, sizeof(s->policy), "weighted");
		s->connect_timeout_ms = 1000;
		s->sticky = RT_STICKY_ADDRESS;
		s->group_id = -1;
		s->line = line;
		return s;
	}
}

/* The node called name; with add, a new one (not yet declared by a [node]
 * section: 'nodes =' may name it before its section). */
static struct rt_node_cfg *find_node(struct rt_config *c, const char *name, bool add)
{
	int i;

	for (i = 0; i < c->nnode; i++)
		if (!strcmp(c->node[i].name, name))
			return &c->node[i];
	if (!add || c->nnode >= RT_MAX_NODES || strlen(name) >= LBFO_NAME_MAX)
		return NULL;
	memset(&c->node[c->nnode], 0, sizeof(c->node[0]));
	snprintf(c->node[c->nnode].name, LBFO_NAME_MAX, "%s", name);
	return &c->node[c->nnode++];
}

static int valid_name(const char *n)
{
	if (!*n || strlen(n) >= LBFO_NAME_MAX)
		return 0;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return 0;
	return 1;
}

static int parse_ipv4(const char *v, struct in_addr *a, char *why, size_t len)
{
	if (inet_pton(AF_INET, v, a) != 1) {
		snprintf(why, len, "invalid value '%s': expected an IPv4 address", v);
		return -1;
	}
	return 0;
}

bool rt_disc_is_multicast(const struct rt_config *c)
{
	return c->discovery && IN_MULTICAST(ntohl(c->disc_listen.sin_addr.s_addr));
}

/* A multicast discovery group: any of 224.0.0.0/4 except the blocks an
 * any-source join (IP_ADD_MEMBERSHIP) cannot or must not use. */
static int check_group(const char *v, struct in_addr g, char *why, size_t len)
{
	uint32_t a = ntohl(g.s_addr);

	if ((a & 0xffffff00u) == 0xe0000000u) {
		snprintf(why, len, "invalid value '%s': 224.0.0.0/24 is reserved for local "
			 "network control protocols; choose a group such as one in "
			 "239.255.0.0/16 (organization-local scope)", v);
		return -1;
	}
	if ((a & 0xff000000u) == 0xe8000000u) {
		snprintf(why, len, "invalid value '%s': 232.0.0.0/8 is for source-specific "
			 "multicast, which needs a per-source join; choose a group such as "
			 "one in 239.255.0.0/16", v);
		return -1;
	}
	return 0;
}

/* discovery_interface: "any" / 0.0.0.0, or an address of this host (the
 * kernel picks the interface that has it). Local = bindable. */
static int set_disc_iface(struct rt_config *c, const char *v, char *why, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, rc, e;

	if (!strcmp(v, "any")) {
		c->disc_iface.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (parse_ipv4(v, &sa.sin_addr, why, len) < 0)
		return -1;
	if (IN_MULTICAST(ntohl(sa.sin_addr.s_addr)) ||
	    sa.sin_addr.s_addr == htonl(INADDR_BROADCAST)) {
		snprintf(why, len, "invalid value '%s': expected an address of this host "
			 "(the interface to join the group on), or any", v);
		return -1;
	}
	if (sa.sin_addr.s_addr != htonl(INADDR_ANY)) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(why, len, "cannot check '%s': socket: %s", v, strerror(errno));
			return -1;
		}
		rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		e = errno;
		close(fd);
		if (rc < 0) {
			snprintf(why, len, "invalid value '%s': not an address of this host "
				 "(bind: %s)", v, strerror(e));
			return -1;
		}
	}
	c->disc_iface = sa.sin_addr;
	return 0;
}

static int set_router(struct rt_config *c, const char *k, const char *v, int line,
		      char *why, size_t len)
{
	uint32_t x;

	if (!strcmp(k, "cluster_id")) {
		if (parse_u32(v, 0, 65535, &x, why, len) < 0)
			return -1;
		c->cluster_id = (uint16_t)x;
	} else if (!strcmp(k, "discovery")) {
		struct sockaddr_storage ss;
		socklen_t sl;

		c->disc_line = line;
		if (!strcmp(v, "off") || !strcmp(v, "none")) {
			c->discovery = false;
			return 0;
		}
		if (rt_parse_hostport(v, &ss, &sl) < 0 || ss.ss_family != AF_INET) {
			snprintf(why, len, "invalid value '%s': expected IPv4:PORT, "
				 "MULTICAST-GROUP:PORT or off", v);
			return -1;
		}
		memcpy(&c->disc_listen, &ss, sizeof(c->disc_listen));
		if (IN_MULTICAST(ntohl(c->disc_listen.sin_addr.s_addr)) &&
		    check_group(v, c->disc_listen.sin_addr, why, len) < 0)
			return -1;
		c->discovery = true;
	} else if (!strcmp(k, "discovery_interface")) {
		c->disc_iface_line = line;
		return set_disc_iface(c, v, why, len);
	} else if (!strcmp(k, "address")) {
		return parse_ipv4(v, &c->router_addr, why, len);
	} else if (!strcmp(k, "management")) {
		return parse_ipv4(v, &c->mgmt_addr, why, len);
	} else if (!strcmp(k, "announce_interval_ms")) {
		return parse_u32(v, 10, 600000, &c->announce_interval_ms, why, len);
	} else if (!strcmp(k, "miss_limit")) {
		return parse_u32(v, 1, 1000, &c->miss_limit, why, len);
	} else if (!strcmp(k, "session_idle_ms")) {
		return parse_u32(v, 1, 86400000, &c->session_idle_ms, why, len);
	} else if (!strcmp(k, "session_table_size")) {
		return parse_u32(v, 1, 16u << 20, &c->session_table_size, why, len);
	} else if (!strcmp(k, "max_conns")) {
		return parse_u32(v, 0, 1000000, &c->max_conns, why, len);
	} else if (!strcmp(k, "pipe_size")) {
		return parse_u32(v, 0, 16u << 20, &c->pipe_size, why, len);
	} else if (!strcmp(k, "control")) {
		if (strlen(v) >= sizeof(c->control)) {
			snprintf(why, len, "value is too long");
			return -1;
		}
		snprintf(c->control, sizeof(c->control), "%s", v);
	} else {
		snprintf(why, len, "unknown key (expected cluster_id, discovery, "
			 "discovery_interface, address, management, announce_interval_ms, miss_limit, session_idle_ms, "
			 "session_table_size, max_conns, pipe_size, control)");
		return -1;
	}
	return 0;
}

static int set_nodes(struct rt_config *c, struct rt_service_cfg *s, const char *v,
		     int line, char *why, size_t len)
{
	char buf[1024], *tok, *save = NULL;

	if (strlen(v) >= sizeof(buf)) {
		snprintf(why, len, "value is too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	s->nnodes = 0;
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		char *colon = strchr(tok, ':');
		uint32_t w = 1;
		struct rt_node_cfg *n;
		int i;

		if (colon) {
			*colon = '\0';
			if (parse_u32(colon + 1, 1, LBFO_WEIGHT_MAX, &w, why, len) < 0)
				return -1;
		}
		if (!valid_name(tok)) {
			snprintf(why, len, "invalid node name '%s'", tok);
			return -1;
		}
		if (s->nnodes >= LBFO_MAX_MEMBERS) {
			snprintf(why, len, "too many nodes (max %d per service)", LBFO_MAX_MEMBERS);
			return -1;
		}
		n = find_node(c, tok, true);
		if (!n) {
			snprintf(why, len, "too many nodes (max %d)", RT_MAX_NODES);
			return -1;
		}
		if (!n->declared && !n->ref_line) {
			n->ref_svc = (int)(s - c->svc);
			n->ref_line = line;
		}
		for (i = 0; i < s->nnodes; i++)
			if (s->nodes[i].node == (int)(n - c->node)) {
				snprintf(why, len, "node '%s' listed twice", tok);
				return -1;
			}
		s->nodes[s->nnodes].node = (int)(n - c->node);
		s->nodes[s->nnodes++].weight = w;
	}
	if (!s->nnodes) {
		snprintf(why, len, "empty node list");
		return -1;
	}
	s->nodes_line = line;
	return 0;
}

static int set_allow(struct rt_service_cfg *s, const char *v, char *why, size_t len)
{
	char buf[2048], *tok, *save = NULL;

	s->allow_any = false;
	s->nallow = 0;
	if (!strcmp(v, "any")) {
		s->allow_any = true;
		return 0;
	}
	if (strlen(v) >= sizeof(buf)) {
		snprintf(why, len, "value is too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (s->nallow >= RT_MAX_ACL) {
			snprintf(why, len, "too many entries (max %d)", RT_MAX_ACL);
			return -1;
		}
		if (rt_parse_cidr(tok, &s->allow[s->nallow]) < 0) {
			snprintf(why, len, "invalid CIDR '%s' (expected ADDR[/PREFIX] or any)", tok);
			return -1;
		}
		s->nallow++;
	}
	if (!s->nallow) {
		snprintf(why, len, "empty (use 'any' for no authorization required)");
		return -1;
	}
	return 0;
}

static int set_service(struct rt_config *c, struct rt_service_cfg *s, const char *k,
		       const char *v, int line, char *why, size_t len)
{
	uint32_t x;

	if (!strcmp(k, "listen")) {
		if (rt_parse_hostport(v, &s->listen, &s->listen_len) < 0) {
			snprintf(why, len, "invalid value '%s': expected ADDR:PORT or [V6]:PORT", v);
			return -1;
		}
		snprintf(s->listen_text, sizeof(s->listen_text), "%s", v);
		s->listen_line = line;
	} else if (!strcmp(k, "policy")) {
		if (strcmp(v, "weighted") && strcmp(v, "round-robin") && strcmp(v, "queue-depth")) {
			snprintf(why, len, "invalid value '%s': expected weighted, round-robin or "
				 "queue-depth (least connections)", v);
			return -1;
		}
		snprintf(s->policy, sizeof(s->policy), "%s", v);
	} else if (!strcmp(k, "allow")) {
		return set_allow(s, v, why, len);
	} else if (!strcmp(k, "nodes")) {
		return set_nodes(c, s, v, line, why, len);
	} else if (!strcmp(k, "port")) {
		if (parse_u32(v, 1, 65535, &x, why, len) < 0)
			return -1;
		s->node_port = (uint16_t)x;
	} else if (!strcmp(k, "connect_timeout_ms")) {
		return parse_u32(v, 1, 600000, &s->connect_timeout_ms, why, len);
	} else if (!strcmp(k, "max_conns")) {
		return parse_u32(v, 0, 1000000, &s->max_conns, why, len);
	} else if (!strcmp(k, "max_conns_per_client")) {
		return parse_u32(v, 0, 1000000, &s->max_conns_per_client, why, len);
	} else if (!strcmp(k, "sticky")) {
		if (!strcmp(v, "address"))
			s->sticky = RT_STICKY_ADDRESS;
		else if (!strcmp(v, "address+port"))
			s->sticky = RT_STICKY_ADDRESS_PORT;
		else if (!strcmp(v, "none"))
			s->sticky = RT_STICKY_NONE;
		else {
			snprintf(why, len, "invalid value '%s': expected address, address+port or none", v);
			return -1;
		}
	} else if (!strcmp(k, "group")) {
		if (!valid_name(v)) {
			snprintf(why, len, "invalid value '%s': expected a name", v);
			return -1;
		}
		snprintf(s->group, sizeof(s->group), "%s", v);
	} else {
		snprintf(why, len, "unknown key (expected listen, policy, allow, nodes, port, "
			 "connect_timeout_ms, max_conns, max_conns_per_client, sticky, group)");
		return -1;
	}
	return 0;
}

/* port.SERVICE is kept by name: the [service] may come later in the file,
 * or not at all (rt_config_check says so). */
static int set_node(struct rt_node_cfg *n, const char *k, const char *v, int line,
		    char *why, size_t len)
{
	if (!strcmp(k, "address")) {
		if (parse_ipv4(v, &n->addr, why, len) < 0)
			return -1;
		inet_ntop(AF_INET, &n->addr, n->addr_text, sizeof(n->addr_text));
		n->addr_line = line;
		return 0;
	}
	if (!strncmp(k, "port.", 5)) {
		struct rt_port_key *pk = NULL;
		uint32_t x;
		int i;

		if (!valid_name(k + 5)) {
			snprintf(why, len, "invalid service name in '%s'", k);
			return -1;
		}
		if (parse_u32(v, 1, 65535, &x, why, len) < 0)
			return -1;
		for (i = 0; i < n->nport_key; i++)
			if (!strcmp(n->port_key[i].service, k + 5))
				pk = &n->port_key[i];
		if (!pk) {
			if (n->nport_key >= RT_MAX_SERVICES) {
				snprintf(why, len, "too many port.SERVICE keys (max %d, one per "
					 "service)", RT_MAX_SERVICES);
				return -1;
			}
			pk = &n->port_key[n->nport_key++];
			snprintf(pk->service, sizeof(pk->service), "%s", k + 5);
		}
		pk->port = (uint16_t)x;
		pk->line = line;
		return 0;
	}
	snprintf(why, len, "unknown key (expected address or port.SERVICE)");
	return -1;
}

/* ---- file ------------------------------------------------------------------ */

/* A section header line: "[NAME]" as inih reads it. */
struct ini_hdr {
	char name[64];
	int line;
};

struct ini_ctx {
	struct rt_config *c;
	const char *file;
	char *err;
	size_t errlen;
	bool failed;
	int lineno;
	struct ini_hdr *hdr; /* every section header, in file order */
	int nhdr, next_hdr;  /* next_hdr: the first not yet opened */
};

/*
 * libinih calls the handler for keys only, never for a section header, so
 * an empty section or a second [node n1] would go unseen. The headers are
 * found here first, by inih's own rules (INI_MAX_LINE pieces as inih reads
 * them; src/common/inifile.c stops at a longer line anyway; a leading BOM; comments ';' '#';
 * an indented line after a key continues its value; "[" up to "]" unless a
 * " ;" comment comes first), and opened in line order as parsing passes
 * them. Returns -1 only when out of memory.
 */
static int scan_headers(struct ini_ctx *x)
{
	char line[INI_MAX_LINE];
	FILE *f = fopen(x->file, "r");
	int lineno = 0, cap = 0;
	bool after_key = false;

	if (!f)
		return 0; /* lbfo_ini_parse says why */
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *e;

		lineno++;
		if (lineno == 1 && !strncmp(p, "\xEF\xBB\xBF", 3))
			p += 3;
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p || *p == ';' || *p == '#')
			continue;
		if (after_key && p > line)
			continue;
		if (*p != '[') {
			after_key = true;
			continue;
		}
		for (e = p + 1; *e && *e != ']' && !(*e == ';' && isspace((unsigned char)e[-1])); e++)
			;
		if (*e != ']')
			continue; /* inih: syntax error */
		after_key = false;
		if (x->nhdr == cap) {
			struct ini_hdr *h;

			cap = cap ? 2 * cap : 16;
			h = realloc(x->hdr, (size_t)cap * sizeof(*h));
			if (!h) {
				fclose(f);
				snprintf(x->err, x->errlen, "%s: out of memory", x->file);
				return -1;
			}
			x->hdr = h;
		}
		snprintf(x->hdr[x->nhdr].name, sizeof(x->hdr[0].name), "%.*s", (int)(e - p - 1),
			 p + 1);
		x->hdr[x->nhdr++].line = lineno;
	}
	fclose(f);
	return 0;
}

/* A [service NAME] or [node NAME] header: the section exists from here on,
 * once. Other sections are judged by their keys (ini_cb). */
static int open_section(struct ini_ctx *x, const struct ini_hdr *h)
{
	struct rt_config *c = x->c;
	char why[LBFO_ERR_MAX] = "";

	if (!strncmp(h->name, "service ", 8)) {
		const char *name = h->name + 8;
		struct rt_service_cfg *s = find_service(c, name, false, 0);

		if (!valid_name(name))
			snprintf(why, sizeof(why), "invalid service name");
		else if (s)
			snprintf(why, sizeof(why), "duplicate section (the first [service %s] "
				 "is at line %d; one section per service)", name, s->line);
		else if (!find_service(c, name, true, h->line))
			snprintf(why, sizeof(why), "too many services (max %d)", RT_MAX_SERVICES);
	} else if (!strncmp(h->name, "node ", 5)) {
		const char *name = h->name + 5;
		struct rt_node_cfg *n = find_node(c, name, false);

		if (!valid_name(name))
			snprintf(why, sizeof(why), "invalid node name");
		else if (n && n->declared)
			snprintf(why, sizeof(why), "duplicate section (the first [node %s] is "
				 "at line %d; one section per node)", name, n->line);
		else if (!n && !(n = find_node(c, name, true)))
			snprintf(why, sizeof(why), "too many nodes (max %d)", RT_MAX_NODES);
		if (!why[0]) {
			n->declared = true;
			n->line = h->line;
		}
	}
	if (!why[0])
		return 0;
	snprintf(x->err, x->errlen, "%s:%d: [%s]: %s", x->file, h->line, h->name, why);
	x->failed = true;
	return -1;
}

/* Open the section headers above line `before`. */
static int open_sections(struct ini_ctx *x, int before)
{
	while (x->next_hdr < x->nhdr && x->hdr[x->next_hdr].line < before) {
		if (open_section(x, &x->hdr[x->next_hdr]) < 0)
			return -1;
		x->next_hdr++;
	}
	return 0;
}

static int ini_cb(void *user, const char *section, const char *name,
		  const char *value)
{
	struct ini_ctx *x = user;
	char why[LBFO_ERR_MAX] = "";
	int rc = -1;

	if (x->failed || open_sections(x, x->lineno) < 0)
		return 0;
	if (!strcmp(section, "router")) {
		rc = name ? set_router(x->c, name, value, x->lineno, why, sizeof(why)) : 0;
	} else if (!strncmp(section, "service ", 8)) {
		struct rt_service_cfg *s;

		/* Opened at its header; created here only should the scan
		 * and inih ever disagree about a header. */
		if (!valid_name(section + 8)) {
			snprintf(why, sizeof(why), "invalid service name");
		} else if (!(s = find_service(x->c, section + 8, true, x->lineno))) {
			snprintf(why, sizeof(why), "too many services (max %d)", RT_MAX_SERVICES);
		} else {
			rc = name ? set_service(x->c, s, name, value, x->lineno, why, sizeof(why)) : 0;
		}
	} else if (!strncmp(section, "node ", 5)) {
		struct rt_node_cfg *n;

		if (!valid_name(section + 5)) {
			snprintf(why, sizeof(why), "invalid node name");
		} else if (!(n = find_node(x->c, section + 5, true))) {
			snprintf(why, sizeof(why), "too many nodes (max %d)", RT_MAX_NODES);
		} else {
			if (!n->declared) {
				n->declared = true;
				n->line = x->lineno;
			}
			rc = name ? set_node(n, name, value, x->lineno, why, sizeof(why)) : 0;
		}
	} else {
		snprintf(why, sizeof(why), "unknown section (expected [router], [service NAME] "
			 "or [node NAME])");
	}
	if (rc == 0)
		return 1;
	if (name)
		snprintf(x->err, x->errlen, "%s:%d: [%s]: %s: %s", x->file, x->lineno,
			 section, name, why);
	else
		snprintf(x->err, x->errlen, "%s:%d: [%s]: %s", x->file, x->lineno, section, why);
	x->failed = true;
	return 0;
}

/* The discovery keys together, with the line of the key at fault. */
static int check_discovery(struct rt_config *c, const char *file, char *err,
			   size_t errlen)
{
	char g[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &c->disc_listen.sin_addr, g, sizeof(g));
	if (c->disc_iface_line && !rt_disc_is_multicast(c)) {
		snprintf(err, errlen, "%s:%d: [router]: discovery_interface: only used when "
			 "discovery is a multicast group (discovery is %s)", file,
			 c->disc_iface_line, c->discovery ? g : "off");
		return -1;
	}
	if (rt_disc_is_multicast(c) && !c->router_addr.s_addr) {
		if (!c->disc_iface.s_addr) {
			snprintf(err, errlen, "%s:%d: [router]: discovery: %s is a multicast "
				 "group, not the router's address: set 'address' (told to "
				 "nodes, FIG 8/9) or 'discovery_interface'", file,
				 c->disc_line, g);
			return -1;
		}
		c->router_addr = c->disc_iface;
	}
	return 0;
}

int rt_config_load(struct rt_config *c, const char *file, char *err, size_t errlen)
{
	struct ini_ctx x = { .c = c, .file = file, .err = err, .errlen = errlen };
	int rc;

	snprintf(c->file, sizeof(c->file), "%s", file);
	if (scan_headers(&x) < 0)
		return -1;
	rc = lbfo_ini_parse(file, ini_cb, &x, &x.lineno, err, errlen);
	/* Headers after the last key, up to a syntax error: empty sections. */
	if (!x.failed && rc >= 0)
		open_sections(&x, rc > 0 ? rc : x.lineno + 1);
	free(x.hdr);
	if (x.failed || rc < 0)
		return -1;
	if (rc > 0) {
		snprintf(err, errlen, "%s:%d: syntax error", file, rc);
		return -1;
	}
	if (check_discovery(c, file, err, errlen) < 0)
		return -1;
	return rt_config_check(c, err, errlen);
}

/* ---- cross-checks ------------------------------------------------------------ */

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

/* Take out nodes that no section declares and no service names (a 'nodes'
 * key given twice names nodes the second one dropped). */
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

/* The cross-checks' findings: the one at the first line is reported. */
struct check_err {
	char *err;
	size_t errlen;
	int line; /* of the finding kept, 0 = none yet */
};

static void found(struct check_err *e, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void found(struct check_err *e, int line, const char *fmt, ...)
{
	va_list ap;

	if (e->line && e->line <= line)
		return;
	e->line = line;
	va_start(ap, fmt);
	vsnprintf(e->err, e->errlen, fmt, ap);
	va_end(ap);
}

int rt_config_check(struct rt_config *c, char *err, size_t errlen)
{
	const char *file = c->file[0] ? c->file : "(configuration)";
	struct check_err e = { .err = err, .errlen = errlen };
	int i, j;

	if (!c->nsvc) {
		snprintf(err, errlen, "%s: no [service NAME] section", file);
		return -1;
	}
	for (i = 0; i < c->nsvc; i++) {
		struct rt_service_cfg *s = &c->svc[i];

		if (!s->listen_len)
			found(&e, s->line, "%s:%d: [service %s]: listen: missing (IP:PORT or "
			      "[IPv6]:PORT to accept clients on)", file, s->line, s->name);
		if (!s->allow_any && !s->nallow)
			found(&e, s->line, "%s:%d: [service %s]: allow: missing (a CIDR list, "
			      "or 'any' for no authorization required)", file, s->line, s->name);
		if (!s->nnodes)
			found(&e, s->line, "%s:%d: [service %s]: nodes: missing "
			      "(NAME[:WEIGHT], ...)", file, s->line, s->name);
		for (j = 0; j < s->nnodes; j++)
			if (!c->node[s->nodes[j].node].declared)
				found(&e, s->nodes_line, "%s:%d: [service %s]: nodes: no [node %s] "
				      "section", file, s->nodes_line, s->name,
				      c->node[s->nodes[j].node].name);
		for (j = 0; j < c->nsvc && s->listen_len; j++)
			if (c->svc[j].listen_len && c->svc[j].listen_line < s->listen_line &&
			    listen_overlap(&c->svc[j], s))
				found(&e, s->listen_line, "%s:%d: [service %s]: listen: %s is taken "
				      "by [service %s] (listen = %s, line %d)", file, s->listen_line,
				      s->name, s->listen_text, c->svc[j].name,
				      c->svc[j].listen_text, c->svc[j].listen_line);
	}
	for (i = 0; i < c->nnode; i++) {
		struct rt_node_cfg *n = &c->node[i];

		if (!n->declared)
			continue; /* named by a service (found above) or by nobody */
		if (!n->addr.s_addr)
			found(&e, n->line, "%s:%d: [node %s]: address: missing (the node's "
			      "IPv4 address)", file, n->line, n->name);
		for (j = 0; j < c->nnode && n->addr.s_addr; j++)
			if (c->node[j].declared && c->node[j].addr.s_addr == n->addr.s_addr &&
			    c->node[j].addr_line < n->addr_line)
				found(&e, n->addr_line, "%s:%d: [node %s]: address: %s is also the "
				      "address of [node %s] (line %d); discovery tells nodes "
				      "apart by address", file, n->addr_line, n->name,
				      n->addr_text, c->node[j].name, c->node[j].addr_line);
		for (j = 0; j < n->nport_key; j++) {
			const struct rt_port_key *pk = &n->port_key[j];

			if (!find_service(c, pk->service, false, 0))
				found(&e, pk->line, "%s:%d: [node %s]: port.%s: no [service %s]",
				      file, pk->line, n->name, pk->service, pk->service);
		}
	}
	if (e.line)
		return -1;

	drop_stray_nodes(c);
	for (i = 0; i < c->nnode; i++) {
		struct rt_node_cfg *n = &c->node[i];

		memset(n->port, 0, sizeof(n->port));
		for (j = 0; j < n->nport_key; j++)
			n->port[find_service(c, n->port_key[j].service, false, 0) - c->svc] =
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
			s->node_port = s->listen.ss_family == AF_INET ?
				ntohs(((struct sockaddr_in *)&s->listen)->sin_port) :
				ntohs(((struct sockaddr_in6 *)&s->listen)->sin6_port);
	}
	if (!c->router_addr.s_addr)
		c->router_addr = c->disc_listen.sin_addr;
	return 0;
}
