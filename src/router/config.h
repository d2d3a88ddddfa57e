/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-router configuration: the policy table of seed 002 (FIG 5) as an
 * INI file, read by the table in config.c (src/common/cfgtable.h: the
 * rules every lbfo file follows). docs/router.md's reference is generated
 * from that table (lbfo-router --config-reference) and checked against it.
 *
 *   [router]        cluster_id, discovery, address, management, ...
 *   [service NAME]  listen, policy, allow, nodes = NAME:WEIGHT,...
 *   [node NAME]     address, port.SERVICE = PORT
 */
#ifndef LBFO_ROUTER_CONFIG_H
#define LBFO_ROUTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>

#include "lbfo/core.h"
#include "auth.h"

#define RT_MAX_SERVICES 32
/* Nodes in all (a service has up to LBFO_MAX_MEMBERS of them). */
#define RT_MAX_NODES 1024
#define RT_MAX_ACL 32
#define RT_STR_MAX 256
#define RT_MAX_PEERS 8

/* An address as 16 bytes (IPv4 v4-mapped) for ACLs and session keys. */
struct rt_addr {
	uint8_t b[16];
};

struct rt_cidr {
	struct rt_addr net;
	unsigned prefix; /* 0..128 over the 16-byte form */
};

/* Session key of a service (rt_sticky_names[]). */
enum rt_sticky { RT_STICKY_ADDRESS = 0, RT_STICKY_ADDRESS_PORT, RT_STICKY_NONE };
extern const char *const rt_sticky_names[];
/* The core policies a service may use (rt_policy_names[i]). */
extern const char *const rt_policy_names[];

struct rt_service_node {
	int node;        /* index into cfg->nodes */
	uint32_t weight; /* "allocate twice" = 2 */
	int line;        /* the `nodes` line that lists it */
};

struct rt_service_cfg {
	char name[LBFO_NAME_MAX];
	struct sockaddr_storage listen;
	socklen_t listen_len;
	char listen_text[64];
	int policy;              /* index in rt_policy_names */
	bool allow_any;          /* "no authorization required" */
	struct rt_cidr allow[RT_MAX_ACL];
	int nallow;
	struct rt_service_node nodes[LBFO_MAX_MEMBERS];
	int nnodes;
	uint16_t node_port;      /* default port on the nodes (0 = listen port) */
	uint32_t connect_timeout_ms;
	uint32_t max_conns;      /* 0 = unlimited */
	uint32_t max_conns_per_client;
	int sticky;              /* enum rt_sticky */
	char group[LBFO_NAME_MAX]; /* session group (default: the service) */
	int group_id;
	int listen_line, nodes_line; /* where those keys were set (0 = not; nodes:
				      * the last of its lines) */
};

/* A port.SERVICE key, kept by name until every [service] is known. */
struct rt_port_key {
	char service[LBFO_NAME_MAX];
	uint16_t port;
	int line;
};

struct rt_node_cfg {
	char name[LBFO_NAME_MAX];
	struct in_addr addr;
	char addr_text[INET_ADDRSTRLEN];
	uint16_t port[RT_MAX_SERVICES]; /* static port per service, 0 = default */
	int line;                /* its [node NAME] line (0 = no such section) */
	int addr_line;           /* where address was set (0 = not) */
	bool declared;           /* has a [node NAME] section */
	struct rt_port_key port_key[RT_MAX_SERVICES]; /* port.SERVICE as read */
	int nport_key;
};

/* [sync]: replication of the session table to peer routers (sync.c). */
struct rt_sync_cfg {
	bool on;                         /* a [sync] section was given */
	struct sockaddr_storage listen;
	socklen_t listen_len;
	char listen_text[64];
	struct sockaddr_storage peer[RT_MAX_PEERS];
	socklen_t peer_len[RT_MAX_PEERS];
	char peer_text[RT_MAX_PEERS][64];
	int npeer;
	char key_file[RT_STR_MAX];
	struct rt_key key;               /* len 0: messages are not authenticated */
	uint32_t refresh_ms;             /* a session in use is sent again this often */
	int line;                        /* of the [sync] section */
};

struct rt_config {
	uint16_t cluster_id;
	bool discovery;                  /* false: nodes are static, always up */
	struct sockaddr_in disc_listen;  /* UDP; may be an IPv4 multicast group */
	struct in_addr disc_iface;       /* discovery_interface: joins the group there */
	int disc_line, disc_iface_line;  /* where discovery keys were set (0 = not) */
	struct in_addr router_addr;      /* told to nodes (FIG 8, 9) */
	struct in_addr mgmt_addr;        /* management node (FIG 9) */
	uint32_t announce_interval_ms;   /* nodes' period, expected */
	uint32_t miss_limit;             /* N missed announcements = failed */
	uint32_t session_idle_ms;
	uint32_t session_table_size;
	uint32_t max_conns;              /* whole router, 0 = unlimited */
	uint32_t pipe_size;              /* splice pipe, bytes */
	uint32_t threads;                /* workers; 0 = one per core */
	char control[RT_STR_MAX];        /* unix socket, "none" = off */
	char disc_key_file[RT_STR_MAX];  /* discovery_key_file ("" = none) */
	struct rt_key disc_key;          /* len 0: discovery is not authenticated */
	uint32_t disc_skew_ms;           /* authenticated: how old a message may be */
	struct rt_sync_cfg sync;
	struct rt_service_cfg svc[RT_MAX_SERVICES];
	int nsvc;
	struct rt_node_cfg node[RT_MAX_NODES];
	int nnode;
	int ngroups;
};

void rt_config_defaults(struct rt_config *c);
/* Load file; errors read "FILE:LINE: [SECTION]: KEY: why" (a whole
 * section's: "FILE:LINE: [SECTION]: why"). After the file: required keys
 * set, every node named in 'nodes' and every port.SERVICE has its section,
 * no two nodes share an address, no two services a listen address, the
 * discovery keys fit together; of several findings the first line's. */
int rt_config_load(struct rt_config *c, const char *file, char *err, size_t errlen);
/* The reference of every section and key, in Markdown (docs/router.md). */
void rt_config_markdown(FILE *f);

/* Index of the node whose address is ip (host order), or -1: discovery
 * and the session sync know nodes by address. */
int rt_config_node_by_ip(const struct rt_config *c, uint32_t ip);

/* Helpers, exported for the unit tests. */
int rt_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len);
int rt_parse_cidr(const char *s, struct rt_cidr *c);
/* True when the discovery address is an IPv4 multicast group (224.0.0.0/4). */
bool rt_disc_is_multicast(const struct rt_config *c);
void rt_addr_from_sockaddr(const struct sockaddr *sa, struct rt_addr *a, uint16_t *port);
bool rt_cidr_match(const struct rt_cidr *c, const struct rt_addr *a);
/* True when the service admits the client (allow = any, or a CIDR match). */
bool rt_service_allows(const struct rt_service_cfg *s, const struct rt_addr *a);
void rt_addr_text(const struct rt_addr *a, char *buf, size_t len);

#endif
