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
"                 [--state FILE]\n"
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
"                     written before that\n";

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

/* Per target: the errno of the last failed send, to say so once per change. */
static int send_err[MAX_TARGETS];

static void announce(int fd, const struct sockaddr_in *to, int n, uint32_t self,
		     uint16_t cluster, uint16_t prio, uint16_t func)
{
	int i;

	for (i = 0; i < n; i++) {
		struct lbfo_disc_msg m = { 0 };
		uint8_t buf[LBFO_DISC_LEN];

		m.src_ip = self;
		m.dst_ip = ntohl(to[i].sin_addr.s_addr);
		m.priority = prio;
		m.cluster = cluster;
		m.type = LBFO_DISC_ANNOUNCE;
		m.func = func;
		lbfo_disc_encode(&m, buf, sizeof(buf));
		if (sendto(fd, buf, sizeof(buf), 0, (const struct sockaddr *)&to[i],
			   sizeof(to[i])) == (ssize_t)sizeof(buf)) {
			if (send_err[i])
				fprintf(stderr, "lbfo-node: announcing to %s:%u works again\n",
					inet_ntoa(to[i].sin_addr), ntohs(to[i].sin_port));
			send_err[i] = 0;
		} else if (errno != send_err[i]) {
			send_err[i] = errno;
			fprintf(stderr, "lbfo-node: announcing to %s:%u: %s%s\n",
				inet_ntoa(to[i].sin_addr), ntohs(to[i].sin_port), strerror(errno),
				IN_MULTICAST(ntohl(to[i].sin_addr.s_addr)) ?
				" (multicast needs the MULTICAST flag on the interface and a "
				"route for the group)" : "");
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "router", required_argument, NULL, 'r' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "priority", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "state", required_argument, NULL, 's' },
		{ "ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in to[MAX_TARGETS], self = { .sin_family = AF_INET };
	int nto = 0, c, fd, one = 1;
	long cluster = 1, prio = 100, interval = 1000, ttl = 1;
	const char *state = NULL;
	uint32_t router = 0, mgmt = 0;
	bool have_self = false, router_known = false, mgmt_known = false;
	bool only_targets = true; /* every target unicast: replies from them only */
	uint64_t foreign = 0;
	uint64_t next = 0;
	struct sigaction sa = { .sa_handler = on_signal };

	while ((c = getopt_long(argc, argv, "a:r:c:p:i:s:t:h", opts, NULL)) != -1) {
		char *end = NULL;

		switch (c) {
		case 'a':
			have_self = inet_pton(AF_INET, optarg, &self.sin_addr) == 1;
			if (!have_self)
				goto bad;
			break;
		case 'r':
			if (nto >= MAX_TARGETS || parse_target(optarg, &to[nto]) < 0)
				goto bad;
			nto++;
			break;
		case 'c':
			cluster = strtol(optarg, &end, 10);
			if (*end || cluster < 0 || cluster > 65535)
				goto bad;
			break;
		case 'p':
			prio = strtol(optarg, &end, 10);
			if (*end || prio < 0 || prio > 65535)
				goto bad;
			break;
		case 'i':
			interval = strtol(optarg, &end, 10);
			if (*end || interval < 10 || interval > 600000)
				goto bad;
			break;
		case 's':
			state = optarg;
			break;
		case 't':
			ttl = strtol(optarg, &end, 10);
			if (*end || !*optarg || ttl < 0 || ttl > 255)
				goto bad;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (!have_self || !nto || optind != argc)
		goto bad;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("lbfo-node: socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&self, sizeof(self)) < 0) {
		perror("lbfo-node: bind");
		close(fd);
		return 1;
	}
	for (c = 0; c < nto; c++)
		if (IN_MULTICAST(ntohl(to[c].sin_addr.s_addr))) {
			only_targets = false;
			if (set_multicast(fd, &to[c], self.sin_addr, (int)ttl) < 0) {
				close(fd);
				return 1;
			}
			break;
		}
	for (c = 0; c < nto && only_targets; c++)
		if (is_broadcast(to[c].sin_addr))
			only_targets = false;
	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ms();
		int wait = next > t ? (int)(next - t) : 0;

		if (t >= next) {
			announce(fd, to, nto, ntohl(self.sin_addr.s_addr), (uint16_t)cluster,
				 (uint16_t)prio, LBFO_DISC_F_HELLO);
			next = t + (uint64_t)interval;
			wait = (int)interval;
		}
		if (poll(&pfd, 1, wait) > 0) {
			uint8_t buf[2048];
			struct lbfo_disc_msg m;
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			bool assign;

			if (n <= 0 || lbfo_disc_check(buf, (size_t)n, (uint16_t)cluster, &m))
				continue;
			if (m.type != LBFO_DISC_REPLY && m.type != LBFO_DISC_ASSIGN)
				continue;
			if (only_targets && !from_target(&from, to, nto)) {
				if (!foreign++)
					fprintf(stderr, "lbfo-node: ignoring %s from %s:%u, which is "
						"no --router target (reported once; further ones "
						"are dropped silently)\n", lbfo_disc_type_name(m.type),
						inet_ntoa(from.sin_addr), ntohs(from.sin_port));
				continue;
			}
			assign = m.type == LBFO_DISC_ASSIGN;
			if (!router_known || m.router_ip != router ||
			    (assign && (!mgmt_known || m.mgmt_ip != mgmt))) {
				char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
				struct in_addr ra, ma;

				router = m.router_ip;
				router_known = true;
				if (assign) {
					mgmt = m.mgmt_ip;
					mgmt_known = true;
				}
				ra.s_addr = htonl(router);
				ma.s_addr = htonl(mgmt);
				inet_ntop(AF_INET, &ra, a, sizeof(a));
				inet_ntop(AF_INET, &ma, b, sizeof(b));
				fprintf(stderr, "lbfo-node: router %s management %s (%s)\n", a,
					mgmt_known ? b : "not told yet", lbfo_disc_type_name(m.type));
				write_state(state, router, mgmt_known, mgmt);
			}
		}
	}
	announce(fd, to, nto, ntohl(self.sin_addr.s_addr), (uint16_t)cluster, (uint16_t)prio,
		 LBFO_DISC_F_LEAVE);
	close(fd);
	return 0;
bad:
	fputs(usage, stderr);
	return 2;
}
