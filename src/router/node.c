/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfo-node: the node agent of seed 002. Announces the node to the
 * router(s) every interval (FIG 7): unicast to a list, to a broadcast
 * address, or to a multicast group (sent out of --address's interface,
 * TTL --ttl, looped back to routers on this host). Learns the router's
 * address from its reply (FIG 8) and the router and management-node
 * addresses from FIG 9, and says so on stderr (and in --state FILE: the
 * router line from the first reply, the management line only once FIG 9
 * has told it, never a management address it does not know). When every
 * --router target is unicast, replies are taken from those targets only;
 * a broadcast or multicast target's router is not known in advance, so
 * then any sender is believed. On
 * SIGTERM/SIGINT it announces that it leaves, so the router fails it at
 * once rather than after the detection window.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "auth.h"
#include "proto.h"

#define MAX_TARGETS 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char usage[] =
"usage: lbfo-node --address IP --router IP:PORT [--router IP:PORT ...]\n"
"                 [--cluster ID] [--priority N] [--interval MS] [--ttl N]\n"
"                 [--state FILE] [--key-file PATH]\n"
"\n"
"Announces this node to lbfo-router(s) (discovery protocol, docs/protocol.md).\n"
"  --address IP       the node's address: announcements are sent from it and\n"
"                     name it as source (the router knows nodes by address)\n"
"  --router IP:PORT   where to announce: a router (repeat for a unicast list),\n"
"                     a broadcast address, or a multicast group (224.0.0.0/4;\n"
"                     sent out of --address's interface, which needs the\n"
"                     MULTICAST flag and a route for the group). When all\n"
"                     targets are unicast, replies are accepted from them\n"
"                     only (IP:PORT); others are dropped, the first reported.\n"
"                     With a broadcast or multicast target any router's\n"
"                     replies are accepted\n"
"  --cluster ID       cluster ID, 0..65535 (default 1)\n"
"  --priority N       0..65535 (default 100); 0 asks for no new sessions (drain)\n"
"  --interval MS      announcement period (default 1000)\n"
"  --ttl N            multicast TTL, 0..255 (default 1: this link only)\n"
"  --state FILE       rewrite 'router A\\n' there when a router answers (FIG 8),\n"
"                     'router A\\nmanagement B\\n' once it has also told the\n"
"                     management address (FIG 9); a management line is never\n"
"                     written before that\n"
"  --key-file PATH    the cluster's discovery key (the router's\n"
"                     discovery_key_file; 16..256 bytes, mode 0600): sign every\n"
"                     announcement (HMAC-SHA256 + a rising timestamp) and take\n"
"                     replies only when a router signed them, within 30 s of\n"
"                     this host's clock and newer than that router's last\n";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int parse_target(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* "router A" and, once known (FIG 9), "management B". */
static void write_state(const char *file, uint32_t router, bool mgmt_known, uint32_t mgmt)
{
	char tmp[4096], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	struct in_addr ra = { .s_addr = htonl(router) }, ma = { .s_addr = htonl(mgmt) };
	FILE *f;

	if (!file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	inet_ntop(AF_INET, &ra, a, sizeof(a));
	inet_ntop(AF_INET, &ma, b, sizeof(b));
	fprintf(f, "router %s\n", a);
	if (mgmt_known)
		fprintf(f, "management %s\n", b);
	if (fclose(f) == 0)
		rename(tmp, file);
}

/* Multicast sending options, set once when a target is a group. */
static int set_multicast(int fd, const struct sockaddr_in *to, struct in_addr self, int ttl)
{
	unsigned char t = (unsigned char)ttl, loop = 1;
	char g[INET_ADDRSTRLEN], a[INET_ADDRSTRLEN];
	const char *what;

	inet_ntop(AF_INET, &to->sin_addr, g, sizeof(g));
	inet_ntop(AF_INET, &self, a, sizeof(a));
	what = "IP_MULTICAST_IF";
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &self, sizeof(self)) < 0)
		goto bad;
	what = "IP_MULTICAST_TTL";
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &t, sizeof(t)) < 0)
		goto bad;
	what = "IP_MULTICAST_LOOP";
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "lbfo-node: multicast group %s: %s (interface %s): %s\n", g, what,
		a, strerror(errno));
	return -1;
}

/* Is the target a broadcast address: the limited one, or the broadcast
 * address of one of this host's interfaces? (A directed broadcast to a
 * remote subnet cannot be told from unicast; name its router instead.) */
static bool is_broadcast(struct in_addr a)
{
	struct ifaddrs *ifs, *i;
	bool yes = false;

	if (a.s_addr == htonl(INADDR_BROADCAST) || a.s_addr == htonl(INADDR_ANY))
		return true;
	if (getifaddrs(&ifs) < 0)
		return false;
	for (i = ifs; i && !yes; i = i->ifa_next)
		yes = (i->ifa_flags & IFF_BROADCAST) && i->ifa_broadaddr &&
		      i->ifa_broadaddr->sa_family == AF_INET &&
		      ((struct sockaddr_in *)i->ifa_broadaddr)->sin_addr.s_addr == a.s_addr;
	freeifaddrs(ifs);
	return yes;
}

/* Only a --router target may tell this agent where its router and
 * management node are, when every target is a unicast address. */
static bool from_target(const struct sockaddr_in *from, const struct sockaddr_in *to, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (from->sin_addr.s_addr == to[i].sin_addr.s_addr &&
		    from->sin_port == to[i].sin_port)
			return true;
	return false;
}

/* The agent: what it was told on the command line and what it learned. */
struct agent {
	struct sockaddr_in to[MAX_TARGETS], self;
	int nto;
	int send_err[MAX_TARGETS]; /* per target: errno of the last failed send */
	long cluster, prio, interval, ttl;
	const char *state;
	uint32_t router, mgmt;
	bool router_known, mgmt_known;
	bool only_targets;         /* every target unicast: replies from them only */
	uint64_t foreign;          /* replies from others, dropped */
	struct rt_key key;         /* --key-file; len 0: none */
	uint64_t tx_stamp;
	struct { uint32_t ip; uint16_t port; uint64_t last; } seen[MAX_TARGETS];
	uint64_t rejected;         /* replies refused: unauthenticated or stale */
};

static void announce(struct agent *g, int fd, uint16_t func)
{
	int i;

	for (i = 0; i < g->nto; i++) {
		const struct sockaddr_in *to = &g->to[i];
		struct lbfo_disc_msg m = { 0 };
		uint8_t buf[LBFO_DISC_AUTH_LEN];
		size_t len;

		m.src_ip = ntohl(g->self.sin_addr.s_addr);
		m.dst_ip = ntohl(to->sin_addr.s_addr);
		m.priority = (uint16_t)g->prio;
		m.cluster = (uint16_t)g->cluster;
		m.type = LBFO_DISC_ANNOUNCE;
		m.func = func;
		if (g->key.len) {
			m.flags = LBFO_DISC_F_AUTH;
			m.stamp = rt_disc_stamp(&g->tx_stamp);
		}
		len = lbfo_disc_encode(&m, buf, sizeof(buf));
		rt_disc_seal(&g->key, buf, len);
		if (sendto(fd, buf, len, 0, (const struct sockaddr *)to,
			   sizeof(*to)) == (ssize_t)len) {
			if (g->send_err[i])
				fprintf(stderr, "lbfo-node: announcing to %s:%u works again\n",
					inet_ntoa(to->sin_addr), ntohs(to->sin_port));
			g->send_err[i] = 0;
		} else if (errno != g->send_err[i]) {
			g->send_err[i] = errno;
			fprintf(stderr, "lbfo-node: announcing to %s:%u: %s%s\n",
				inet_ntoa(to->sin_addr), ntohs(to->sin_port), strerror(errno),
				IN_MULTICAST(ntohl(to->sin_addr.s_addr)) ?
				" (multicast needs the MULTICAST flag on the interface and a "
				"route for the group)" : "");
		}
	}
}

/* A whole number in min..max, or -1. */
static long number(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return !*s || *end || v < min || v > max ? -1 : v;
}

/* Returns 0, 1 when --help was shown, -1 on bad usage. */
static int parse_args(struct agent *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "router", required_argument, NULL, 'r' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "priority", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "state", required_argument, NULL, 's' },
		{ "ttl", required_argument, NULL, 't' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_self = false;
	int c;

	while ((c = getopt_long(argc, argv, "a:r:c:p:i:s:t:k:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			have_self = inet_pton(AF_INET, optarg, &g->self.sin_addr) == 1;
			if (!have_self)
				return -1;
			break;
		case 'r':
			if (g->nto >= MAX_TARGETS || parse_target(optarg, &g->to[g->nto]) < 0)
				return -1;
			g->nto++;
			break;
		case 'c': if ((g->cluster = number(optarg, 0, 65535)) < 0) return -1; break;
		case 'p': if ((g->prio = number(optarg, 0, 65535)) < 0) return -1; break;
		case 'i': if ((g->interval = number(optarg, 10, 600000)) < 0) return -1; break;
		case 't': if ((g->ttl = number(optarg, 0, 255)) < 0) return -1; break;
		case 's': g->state = optarg; break;
		case 'k': {
			char why[512];

			if (rt_key_load(optarg, &g->key, why, sizeof(why)) < 0) {
				fprintf(stderr, "lbfo-node: --key-file: %s\n", why);
				exit(2);
			}
			break;
		}
		case 'h': fputs(usage, stdout); return 1;
		default: return -1;
		}
	}
	return have_self && g->nto && optind == argc ? 0 : -1;
}

/* The socket, bound to --address; multicast options for a group target;
 * whether replies are taken from the targets only. Returns it, or -1. */
static int open_socket(struct agent *g)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, i;

	if (fd < 0) {
		perror("lbfo-node: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&g->self, sizeof(g->self)) < 0) {
		perror("lbfo-node: bind");
		close(fd);
		return -1;
	}
	g->only_targets = true;
	for (i = 0; i < g->nto; i++)
		if (IN_MULTICAST(ntohl(g->to[i].sin_addr.s_addr))) {
			g->only_targets = false;
			if (set_multicast(fd, &g->to[i], g->self.sin_addr, (int)g->ttl) < 0) {
				close(fd);
				return -1;
			}
			break;
		}
	for (i = 0; i < g->nto && g->only_targets; i++)
		if (is_broadcast(g->to[i].sin_addr))
			g->only_targets = false;
	return fd;
}

/* A reply (FIG 8) or an assignment (FIG 9) from a router it believes:
 * say what is new, and write the state file. */
static void learned(struct agent *g, const struct lbfo_disc_msg *m)
{
	bool assign = m->type == LBFO_DISC_ASSIGN;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	struct in_addr ra, ma;

	if (g->router_known && m->router_ip == g->router &&
	    (!assign || (g->mgmt_known && m->mgmt_ip == g->mgmt)))
		return;
	g->router = m->router_ip;
	g->router_known = true;
	if (assign) {
		g->mgmt = m->mgmt_ip;
		g->mgmt_known = true;
	}
	ra.s_addr = htonl(g->router);
	ma.s_addr = htonl(g->mgmt);
	inet_ntop(AF_INET, &ra, a, sizeof(a));
	inet_ntop(AF_INET, &ma, b, sizeof(b));
	fprintf(stderr, "lbfo-node: router %s management %s (%s)\n", a,
		g->mgmt_known ? b : "not told yet", lbfo_disc_type_name(m->type));
	write_state(g->state, g->router, g->mgmt_known, g->mgmt);
}

/* With a key: signed by a router, fresh, and newer than that router's
 * last (each router by address and port: their clocks differ). */
static bool authentic(struct agent *g, const uint8_t *buf, size_t len,
		      const struct lbfo_disc_msg *m, const struct sockaddr_in *from)
{
	uint32_t ip = ntohl(from->sin_addr.s_addr);
	uint16_t port = ntohs(from->sin_port);
	int i, slot = -1;

	for (i = 0; i < MAX_TARGETS && slot < 0; i++)
		if ((g->seen[i].ip == ip && g->seen[i].port == port) || !g->seen[i].port)
			slot = i;
	if (slot < 0)
		slot = (int)(ip % MAX_TARGETS); /* more routers than slots: share */
	if (rt_disc_verify(&g->key, buf, len, m->flags, m->stamp, rt_wall_us(), 30000000,
			   &g->seen[slot].last) == LBFO_DISC_OK) {
		g->seen[slot].ip = ip;
		g->seen[slot].port = port;
		return true;
	}
	if (!g->rejected++)
		fprintf(stderr, "lbfo-node: dropping %s from %s:%u: not signed with our key, or "
			"stale (reported once)\n", lbfo_disc_type_name(m->type),
			inet_ntoa(from->sin_addr), port);
	return false;
}

static void receive(struct agent *g, int fd)
{
	uint8_t buf[2048];
	struct lbfo_disc_msg m;
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

	if (n <= 0 || lbfo_disc_check(buf, (size_t)n, (uint16_t)g->cluster, &m))
		return;
	if (m.type != LBFO_DISC_REPLY && m.type != LBFO_DISC_ASSIGN)
		return;
	if (g->only_targets && !from_target(&from, g->to, g->nto)) {
		if (!g->foreign++)
			fprintf(stderr, "lbfo-node: ignoring %s from %s:%u, which is no --router "
				"target (reported once; further ones are dropped silently)\n",
				lbfo_disc_type_name(m.type), inet_ntoa(from.sin_addr),
				ntohs(from.sin_port));
		return;
	}
	/* Only now, for a reply from a router it believes: a signed message
	 * of another kind (its own announcement reflected back, another
	 * agent's) must not move a router's last stamp. */
	if (g->key.len && !authentic(g, buf, (size_t)n, &m, &from))
		return;
	learned(g, &m);
}

int main(int argc, char **argv)
{
	static struct agent g = { .self = { .sin_family = AF_INET }, .cluster = 1, .prio = 100,
				  .interval = 1000, .ttl = 1 };
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t next = 0;
	int fd, rc = parse_args(&g, argc, argv);

	if (rc) {
		if (rc < 0)
			fputs(usage, stderr);
		return rc < 0 ? 2 : 0;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = open_socket(&g);
	if (fd < 0)
		return 1;
	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ms();
		int wait = next > t ? (int)(next - t) : 0;

		if (t >= next) {
			announce(&g, fd, LBFO_DISC_F_HELLO);
			next = t + (uint64_t)g.interval;
			wait = (int)g.interval;
		}
		if (poll(&pfd, 1, wait) > 0)
			receive(&g, fd);
	}
	announce(&g, fd, LBFO_DISC_F_LEAVE);
	close(fd);
	return 0;
}
