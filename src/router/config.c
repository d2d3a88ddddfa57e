/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router configuration file: its table (src/common/cfgtable.h) and
 * the parsers of the values a table type cannot say (addresses, ACLs,
 * node lists). The checks once the file is read are in config_check.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "cfgtable.h"
#include "config_int.h"
#include "lbfo/policy.h"

const char *const rt_policy_names[] = { "weighted", "round-robin", "queue-depth", NULL };
const char *const rt_sticky_names[] = { "address", "address+port", "none", NULL };

/* ---- values ----------------------------------------------------------------- */

static int parse_ipv4(const char *v, struct in_addr *a, char *why, size_t len)
{
	if (inet_pton(AF_INET, v, a) != 1) {
		snprintf(why, len, "invalid value '%s': expected an IPv4 address", v);
		return -1;
	}
	return 0;
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

static int p_discovery(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		       size_t len)
{
	struct rt_config *c = obj;
	struct sockaddr_storage ss;
	socklen_t sl;

	c->disc_line = ctx->line;
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
	return 0;
}

/* Can this host bind the address (is it one of its own)? */
static int local_address(const char *v, struct sockaddr_in *sa, char *why, size_t len)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc, e;

	if (fd < 0) {
		snprintf(why, len, "cannot check '%s': socket: %s", v, strerror(errno));
		return -1;
	}
	rc = bind(fd, (struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(fd);
	if (rc < 0) {
		snprintf(why, len, "invalid value '%s': not an address of this host (bind: %s)", v,
			 strerror(e));
		return -1;
	}
	return 0;
}

/* discovery_interface: "any" / 0.0.0.0, or an address of this host (the
 * kernel picks the interface that has it). */
static int p_disc_iface(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
			size_t len)
{
	struct rt_config *c = obj;
	struct sockaddr_in sa = { .sin_family = AF_INET };

	c->disc_iface_line = ctx->line;
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
	if (sa.sin_addr.s_addr != htonl(INADDR_ANY) && local_address(v, &sa, why, len) < 0)
		return -1;
	c->disc_iface = sa.sin_addr;
	return 0;
}

static int p_address(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		     size_t len)
{
	(void)ctx;
	return parse_ipv4(v, &((struct rt_config *)obj)->router_addr, why, len);
}

static int p_management(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
			size_t len)
{
	(void)ctx;
	return parse_ipv4(v, &((struct rt_config *)obj)->mgmt_addr, why, len);
}

/* An address to listen on, and its text as given. */
static int parse_listen(const char *v, struct sockaddr_storage *ss, socklen_t *sl, char *text,
			size_t textlen, char *why, size_t len)
{
	if (rt_parse_hostport(v, ss, sl) < 0) {
		snprintf(why, len, "invalid value '%s': expected ADDR:PORT or [V6]:PORT", v);
		return -1;
	}
	snprintf(text, textlen, "%s", v);
	return 0;
}

static int p_listen(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		    size_t len)
{
	struct rt_service_cfg *s = obj;

	s->listen_line = ctx->line;
	return parse_listen(v, &s->listen, &s->listen_len, s->listen_text,
			    sizeof(s->listen_text), why, len);
}

/* allow: CIDRs, or "any" alone ("no authorization required"). */
static int p_allow(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		   size_t len)
{
	struct rt_service_cfg *s = obj;

	if (ctx->index == 0) {
		s->allow_any = false;
		s->nallow = 0;
	}
	if (!strcmp(v, "any") || s->allow_any) {
		if (ctx->index > 0) {
			snprintf(why, len, "'any' stands alone (no authorization required)");
			return -1;
		}
		s->allow_any = true;
		return 0;
	}
	if (rt_parse_cidr(v, &s->allow[s->nallow]) < 0) {
		snprintf(why, len, "invalid CIDR '%s' (expected ADDR[/PREFIX] or any)", v);
		return -1;
	}
	s->nallow++;
	return 0;
}

/* The node called name; a new one (no [node] section yet: 'nodes =' may
 * name it before its section) when there is none. NULL when full. */
static struct rt_node_cfg *node_named(struct rt_config *c, const char *name)
{
	int i;

	for (i = 0; i < c->nnode; i++)
		if (!strcmp(c->node[i].name, name))
			return &c->node[i];
	if (c->nnode >= RT_MAX_NODES)
		return NULL;
	memset(&c->node[c->nnode], 0, sizeof(c->node[0]));
	snprintf(c->node[c->nnode].name, LBFO_NAME_MAX, "%s", name);
	return &c->node[c->nnode++];
}

/* nodes: NAME[:WEIGHT], one item. The key may be given on several lines
 * of the section (a line holds at most 198 characters, 256 nodes do not
 * fit one): each adds to the list. */
static int p_nodes(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		   size_t len)
{
	struct rt_config *c = ctx->user;
	struct rt_service_cfg *s = obj;
	char name[LBFO_NAME_MAX + 1];
	const char *colon = strchr(v, ':');
	uint64_t w = 1;
	struct rt_node_cfg *n;
	int i;

	if (s->nnodes >= LBFO_MAX_MEMBERS) {
		snprintf(why, len, "too many nodes for one service (max %d)", LBFO_MAX_MEMBERS);
		return -1;
	}
	snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - v) : (int)strlen(v), v);
	if (colon && lbfo_cfg_parse_uint(colon + 1, 1, LBFO_WEIGHT_MAX, &w, why, len) < 0)
		return -1;
	if (!lbfo_cfg_name_ok(name, LBFO_NAME_MAX)) {
		snprintf(why, len, "invalid node name '%s'", name);
		return -1;
	}
	n = node_named(c, name);
	if (!n) {
		snprintf(why, len, "too many nodes (max %d)", RT_MAX_NODES);
		return -1;
	}
	for (i = 0; i < s->nnodes; i++)
		if (s->nodes[i].node == (int)(n - c->node)) {
			snprintf(why, len, "node '%s' listed twice", name);
			return -1;
		}
	s->nodes[s->nnodes].node = (int)(n - c->node);
	s->nodes[s->nnodes].line = ctx->line;
	s->nodes[s->nnodes++].weight = (uint32_t)w;
	s->nodes_line = ctx->line;
	return 0;
}

static int p_group(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		   size_t len)
{
	struct rt_service_cfg *s = obj;

	(void)ctx;
	if (!lbfo_cfg_name_ok(v, sizeof(s->group))) {
		snprintf(why, len, "invalid value '%s': expected a name", v);
		return -1;
	}
	snprintf(s->group, sizeof(s->group), "%s", v);
	return 0;
}

static int p_node_address(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
			  size_t len)
{
	struct rt_node_cfg *n = obj;

	if (parse_ipv4(v, &n->addr, why, len) < 0)
		return -1;
	inet_ntop(AF_INET, &n->addr, n->addr_text, sizeof(n->addr_text));
	n->addr_line = ctx->line;
	return 0;
}

/* port.SERVICE is kept by name: the [service] may come later in the file,
 * or not at all (config_check.c says so). */
static int p_port(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		  size_t len)
{
	struct rt_node_cfg *n = obj;
	struct rt_port_key *pk;
	uint64_t x;

	if (!lbfo_cfg_name_ok(ctx->suffix, LBFO_NAME_MAX)) {
		snprintf(why, len, "invalid service name in '%s'", ctx->key);
		return -1;
	}
	if (lbfo_cfg_parse_uint(v, 1, 65535, &x, why, len) < 0)
		return -1;
	if (n->nport_key >= RT_MAX_SERVICES) {
		snprintf(why, len, "too many port.SERVICE keys (max %d, one per service)",
			 RT_MAX_SERVICES);
		return -1;
	}
	pk = &n->port_key[n->nport_key++];
	snprintf(pk->service, sizeof(pk->service), "%s", ctx->suffix);
	pk->port = (uint16_t)x;
	pk->line = ctx->line;
	return 0;
}

/* key_file / discovery_key_file: read now, so that a bad one is an error
 * of the file, at its line. */
static int load_key(const char *v, char *path, size_t pathlen, struct rt_key *k, char *why,
		    size_t len)
{
	if (strlen(v) >= pathlen) {
		snprintf(why, len, "path too long (max %zu bytes)", pathlen - 1);
		return -1;
	}
	snprintf(path, pathlen, "%s", v);
	return rt_key_load(v, k, why, len);
}

static int p_disc_key(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		      size_t len)
{
	struct rt_config *c = obj;

	(void)ctx;
	return load_key(v, c->disc_key_file, sizeof(c->disc_key_file), &c->disc_key, why, len);
}

static int p_sync_key(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
		      size_t len)
{
	struct rt_sync_cfg *y = obj;

	(void)ctx;
	return load_key(v, y->key_file, sizeof(y->key_file), &y->key, why, len);
}

static int p_sync_listen(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
			 size_t len)
{
	struct rt_sync_cfg *y = obj;

	(void)ctx;
	return parse_listen(v, &y->listen, &y->listen_len, y->listen_text,
			    sizeof(y->listen_text), why, len);
}

static int p_sync_peers(const struct lbfo_cfg_ctx *ctx, void *obj, const char *v, char *why,
			size_t len)
{
	struct rt_sync_cfg *y = obj;
	int i = (int)ctx->index;

	if (i == 0)
		y->npeer = 0;
	if (rt_parse_hostport(v, &y->peer[i], &y->peer_len[i]) < 0) {
		snprintf(why, len, "invalid peer '%s': expected ADDR:PORT or [V6]:PORT", v);
		return -1;
	}
	snprintf(y->peer_text[i], sizeof(y->peer_text[i]), "%s", v);
	y->npeer = i + 1;
	return 0;
}

/* ---- sections ------------------------------------------------------------------ */

static void *open_service(const struct lbfo_cfg_ctx *ctx, char *why, size_t len)
{
	struct rt_config *c = ctx->user;
	struct rt_service_cfg *s;

	if (c->nsvc >= RT_MAX_SERVICES) {
		snprintf(why, len, "too many services (max %d)", RT_MAX_SERVICES);
		return NULL;
	}
	s = &c->svc[c->nsvc++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", ctx->name);
	s->group_id = -1;
	return s;
}

static void *open_sync(const struct lbfo_cfg_ctx *ctx, char *why, size_t len)
{
	struct rt_config *c = ctx->user;

	(void)why, (void)len;
	c->sync.on = true;
	c->sync.line = ctx->line;
	return &c->sync;
}

static void *open_node(const struct lbfo_cfg_ctx *ctx, char *why, size_t len)
{
	struct rt_node_cfg *n = node_named(ctx->user, ctx->name);

	if (!n) {
		snprintf(why, len, "too many nodes (max %d)", RT_MAX_NODES);
		return NULL;
	}
	n->declared = true;
	n->line = ctx->line;
	return n;
}

/* ---- the table ------------------------------------------------------------------- */

#define R(f) offsetof(struct rt_config, f), sizeof(((struct rt_config *)0)->f)
#define S(f) offsetof(struct rt_service_cfg, f), sizeof(((struct rt_service_cfg *)0)->f)

static const struct lbfo_cfg_key router_keys[] = {
	{ .key = "cluster_id", .type = LBFO_CFG_UINT, R(cluster_id), .max = 65535, .def = "1",
	  .doc = "cluster ID; discovery messages of other clusters are dropped" },
	{ .key = "discovery", .type = LBFO_CFG_CUSTOM, .parse = p_discovery, .def = "off",
	  .syntax = "IP:PORT, GROUP:PORT or off",
	  .doc = "where to hear announcements (UDP): `IP:PORT` (unicast; `0.0.0.0:PORT` also "
		 "hears broadcast), `GROUP:PORT` with an IPv4 multicast group (224.0.0.0/4, "
		 "not 224.0.0.0/24 or 232.0.0.0/8; e.g. `239.255.78.1:7400`) to join, or "
		 "`off`: nodes are static and always eligible" },
	{ .key = "discovery_interface", .type = LBFO_CFG_CUSTOM, .parse = p_disc_iface,
	  .def = "any", .syntax = "IPv4 or any",
	  .doc = "with a multicast `discovery`: the local address of the interface to join "
		 "the group on; `any` lets the route for the group choose. Must be an address "
		 "of this host; an error with a unicast `discovery`" },
	{ .key = "address", .type = LBFO_CFG_CUSTOM, .parse = p_address, .syntax = "IPv4",
	  .def_doc = "the discovery IP",
	  .doc = "the router's address told to nodes (FIG 8, 9). With a multicast "
		 "`discovery` it defaults to `discovery_interface`; one of the two is "
		 "required, since a group is nobody's address" },
	{ .key = "management", .type = LBFO_CFG_CUSTOM, .parse = p_management,
	  .syntax = "IPv4", .def = "0.0.0.0",
	  .doc = "the management node's address told to nodes (FIG 9)" },
	{ .key = "announce_interval", .alias = "announce_interval_ms", .type = LBFO_CFG_DURATION,
	  R(announce_interval_ms), .min = 10, .max = 600000, .def = "1s",
	  .doc = "the nodes' announcement period" },
	{ .key = "miss_limit", .type = LBFO_CFG_UINT, R(miss_limit), .min = 1, .max = 1000,
	  .def = "3", .doc = "announcements missed before a node is failed (detection window "
			     "= `miss_limit` × `announce_interval`)" },
	{ .key = "session_idle", .alias = "session_idle_ms", .type = LBFO_CFG_DURATION,
	  R(session_idle_ms), .min = 1, .max = 86400000, .def = "300s",
	  .doc = "a session with no open connection and unused this long expires" },
	{ .key = "session_table_size", .type = LBFO_CFG_UINT, R(session_table_size), .min = 1,
	  .max = 16u << 20, .def = "65536",
	  .doc = "session table capacity; when full, the least recently used session is "
		 "evicted (counted, logged)" },
	{ .key = "max_conns", .type = LBFO_CFG_UINT, R(max_conns), .max = 1000000, .def = "0",
	  .doc = "connections through the whole router (0 = unlimited)" },
	{ .key = "pipe_size", .type = LBFO_CFG_UINT, R(pipe_size), .max = 16u << 20,
	  .def = "262144",
	  .doc = "pipe size, in bytes, for bulk transfers: each direction of a connection "
		 "splices through a pipe of the kernel's default size (64 KiB) and grows it "
		 "to `pipe_size` once it has carried 1 MiB, so large transfers take fewer "
		 "system calls while request/response connections keep small pipes; 0 = "
		 "never grow. Growths and refusals (the kernel's per-user pipe-pages limit) "
		 "are counted in `lbfo_router_pipes_grown_total` / "
		 "`lbfo_router_pipe_grow_refused_total`" },
	{ .key = "threads", .type = LBFO_CFG_UINT, R(threads), .min = 1, .max = 64,
	  .def_doc = "the number of cores",
	  .doc = "worker threads, each accepting on its own `SO_REUSEPORT` socket per service "
		 "with its own event loop, connections and copy of every service's team; the "
		 "session table is shared (a client keeps its node whichever worker accepts "
		 "it). Control, discovery and signals run on the main thread. "
		 "`lbfoctl worker stop N` drains one (see Threads)" },
	{ .key = "control", .type = LBFO_CFG_STRING, R(control), .def = "/run/lbfo/router.sock",
	  .syntax = "PATH or none", .doc = "control socket (mode 0600), `none` = off" },
	{ .key = "discovery_key_file", .type = LBFO_CFG_CUSTOM, .parse = p_disc_key,
	  .syntax = "PATH", .def_doc = "none",
	  .doc = "a shared key (16 to 256 bytes; mode 0600) that authenticates discovery: "
		 "every message carries an HMAC-SHA256 and a timestamp; the router drops "
		 "(and counts: `auth`, `replay`) announcements without a valid one and signs "
		 "its replies. Give the nodes the same key (`lbfo-node --key-file`). Without a "
		 "key anyone who can send a UDP datagram from a node's address can keep that "
		 "node alive or make it leave (docs/protocol.md)" },
	{ .key = "discovery_max_skew", .type = LBFO_CFG_DURATION, R(disc_skew_ms), .min = 100,
	  .max = 3600000, .def = "30s",
	  .doc = "with `discovery_key_file`: an authenticated message whose timestamp is this "
		 "far from the router's clock (older or newer) is dropped as a replay (`replay`); "
		 "so is one not newer than the node's last" },
};

#define Y(f) offsetof(struct rt_sync_cfg, f), sizeof(((struct rt_sync_cfg *)0)->f)

static const struct lbfo_cfg_key sync_keys[] = {
	{ .key = "listen", .type = LBFO_CFG_CUSTOM, .parse = p_sync_listen,
	  .syntax = "IP:PORT or [IPv6]:PORT", .flags = LBFO_CFG_REQUIRED,
	  .missing = "IP:PORT where the peers connect",
	  .doc = "where this router takes its peers' connections (TCP); connections from "
		 "other addresses than the peers' are refused and counted" },
	{ .key = "peers", .type = LBFO_CFG_LIST, .parse = p_sync_peers, .max = RT_MAX_PEERS,
	  .syntax = "IP:PORT, ..", .flags = LBFO_CFG_REQUIRED,
	  .missing = "the other routers' [sync] listen addresses",
	  .doc = "the other routers' `listen` addresses; this router connects to each, sends "
		 "its whole table, then every change. List every other router of the group "
		 "(a peer does not forward what it receives)" },
	{ .key = "key_file", .type = LBFO_CFG_CUSTOM, .parse = p_sync_key, .syntax = "PATH",
	  .def_doc = "none",
	  .doc = "a shared key (16 to 256 bytes; mode 0600; the same on every router): each "
		 "message carries an HMAC-SHA256 under a key derived from the receiver's "
		 "random challenge, so a message is good on one connection only; a receiver "
		 "with a key refuses unauthenticated or forged messages (counted) and closes "
		 "the connection. Without a key, anyone who can reach `listen` from a peer's "
		 "address can rewrite the session table" },
	{ .key = "refresh", .type = LBFO_CFG_DURATION, Y(refresh_ms), .min = 10,
	  .max = 3600000, .def = "1s",
	  .doc = "a session in use is sent again at most this often, so that the peers' "
		 "copies expire when the original does (new sessions, moves and removals "
		 "are sent at once)" },
};

static const struct lbfo_cfg_key service_keys[] = {
	{ .key = "listen", .type = LBFO_CFG_CUSTOM, .parse = p_listen,
	  .syntax = "IP:PORT or [IPv6]:PORT", .flags = LBFO_CFG_REQUIRED,
	  .missing = "IP:PORT or [IPv6]:PORT to accept clients on",
	  .doc = "where clients connect" },
	{ .key = "policy", .type = LBFO_CFG_ENUM, S(policy), .names = rt_policy_names,
	  .def = "weighted",
	  .doc = "`weighted` (smooth weighted round-robin: weight 2 = \"allocate twice\"), "
		 "`round-robin`, `queue-depth` (least connections: the core counts each "
		 "connection as an outstanding command)" },
	{ .key = "allow", .type = LBFO_CFG_LIST, .parse = p_allow, .max = RT_MAX_ACL,
	  .syntax = "CIDR, .. or any", .flags = LBFO_CFG_REQUIRED,
	  .missing = "a CIDR list, or 'any' for no authorization required",
	  .doc = "eligibility: a list of CIDRs (`127.0.0.0/8, 198.18.0.0/15, ::1`) or `any` "
		 "(\"no authorization required\"). Required, so that forgetting it does not "
		 "open a service. A client outside the list is closed at once, counted "
		 "(`refused acl`) and never reaches a node" },
	{ .key = "nodes", .type = LBFO_CFG_LIST, .parse = p_nodes, .max = LBFO_MAX_MEMBERS,
	  .syntax = "NAME[:WEIGHT], ..", .flags = LBFO_CFG_REQUIRED | LBFO_CFG_REPEAT,
	  .missing = "NAME[:WEIGHT], ...",
	  .doc = "the nodes serving it, each with a weight 1..1000 (default 1); each needs a "
		 "`[node NAME]` section. Up to 256 nodes (1024 in the whole file). A line "
		 "holds at most 198 characters, so a long list is given on several `nodes` "
		 "lines of the section, each adding to it (`nodes = n1:2, n2, ...` then "
		 "`nodes = n17, ...`); a node listed twice is an error" },
	{ .key = "port", .type = LBFO_CFG_UINT, S(node_port), .min = 1, .max = 65535,
	  .def_doc = "the listen port", .doc = "the port on the nodes" },
	{ .key = "connect_timeout", .alias = "connect_timeout_ms", .type = LBFO_CFG_DURATION,
	  S(connect_timeout_ms), .min = 1, .max = 600000, .def = "1s",
	  .doc = "connecting to a node longer than this fails the attempt; a new connection "
		 "is then retried on another node (each node at most once)" },
	{ .key = "max_conns", .type = LBFO_CFG_UINT, S(max_conns), .max = 1000000, .def = "0",
	  .doc = "open connections of the service (0 = unlimited); over it: refused, counted "
		 "(`limit`)" },
	{ .key = "max_conns_per_client", .type = LBFO_CFG_UINT, S(max_conns_per_client),
	  .max = 1000000, .def = "0",
	  .doc = "open connections per client address (0 = unlimited); counted "
		 "(`client_limit`)" },
	{ .key = "sticky", .type = LBFO_CFG_ENUM, S(sticky), .names = rt_sticky_names,
	  .def = "address",
	  .doc = "session key: `address` (client IP), `address+port` (each client connection "
		 "is its own session), `none` (no session table: every connection is "
		 "allocated afresh)" },
	{ .key = "group", .type = LBFO_CFG_CUSTOM, .parse = p_group, .syntax = "NAME",
	  .def_doc = "the service name",
	  .doc = "services with the same group share sessions: an FTP client's data "
		 "connections (`[service ftp-data] group = ftp`) follow its control "
		 "connection" },
};

static const struct lbfo_cfg_key node_keys[] = {
	{ .key = "address", .type = LBFO_CFG_CUSTOM, .parse = p_node_address, .syntax = "IPv4",
	  .flags = LBFO_CFG_REQUIRED, .missing = "the node's IPv4 address",
	  .doc = "the node's IPv4 address (also how discovery recognises it); different for "
		 "every node" },
	{ .key = "port.SERVICE", .type = LBFO_CFG_CUSTOM, .parse = p_port, .syntax = "PORT",
	  .flags = LBFO_CFG_PREFIX,
	  .doc = "a static port for that service on this node (overrides the service's "
		 "`port`); `SERVICE` must be a `[service]` of the file" },
};

static const struct lbfo_cfg_section sections[] = {
	{ .name = "router", .doc = "The router itself: discovery, limits, the control socket.",
	  .keys = router_keys, .nkeys = sizeof(router_keys) / sizeof(router_keys[0]) },
	{ .name = "service", .named = true, .name_max = LBFO_NAME_MAX, .open = open_service,
	  .doc = "One row of the policy table (FIG 5): where clients come in, who may, and "
		 "which nodes serve them.",
	  .keys = service_keys, .nkeys = sizeof(service_keys) / sizeof(service_keys[0]) },
	{ .name = "sync", .open = open_sync,
	  .doc = "Replication of the session table to the other routers of a high-availability "
		 "group (docs/router.md, docs/sync.md). Without this section the router keeps "
		 "its table to itself.",
	  .keys = sync_keys, .nkeys = sizeof(sync_keys) / sizeof(sync_keys[0]) },
	{ .name = "node", .named = true, .name_max = LBFO_NAME_MAX, .open = open_node,
	  .doc = "A cluster node: its address (how discovery knows it) and static ports.",
	  .keys = node_keys, .nkeys = sizeof(node_keys) / sizeof(node_keys[0]) },
};

const struct lbfo_cfg_table rt_config_table = {
	.sections = sections,
	.nsections = sizeof(sections) / sizeof(sections[0]),
	.check = rt_config_check,
};

void rt_config_defaults(struct rt_config *c)
{
	memset(c, 0, sizeof(*c));
	c->disc_listen.sin_family = AF_INET;
	c->disc_listen.sin_port = htons(7400);
	c->disc_listen.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->router_addr.s_addr = htonl(INADDR_ANY);
	lbfo_cfg_defaults(&sections[0], c, c);
}

int rt_config_load(struct rt_config *c, const char *file, char *err, size_t errlen)
{
	if (lbfo_cfg_load(&rt_config_table, c, file, err, errlen) < 0)
		return -1;
	rt_config_finish(c);
	return 0;
}

void rt_config_markdown(FILE *f)
{
	lbfo_cfg_markdown(&rt_config_table, f);
}

int rt_config_node_by_ip(const struct rt_config *c, uint32_t ip)
{
	int i;

	for (i = 0; i < c->nnode; i++)
		if (ntohl(c->node[i].addr.s_addr) == ip)
			return i;
	return -1;
}
