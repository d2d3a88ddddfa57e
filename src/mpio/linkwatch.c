/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Link watch: fail a path the moment the kernel says its interface went
 * down, instead of after the liveness timeout.
 *
 * An established TCP connection gets no error when its link goes down:
 * the kernel keeps the socket and retransmits into the void, so the path
 * layer would notice only when nop_timeout passes without a reply (500 ms
 * by default). The kernel does announce the link change on rtnetlink
 * (RTMGRP_LINK) at once. When a path's session comes up we note the
 * interface its socket leaves by (the one holding the socket's local
 * address); a link message for that interface without IFF_UP or
 * IFF_RUNNING (carrier) fails the path with the interface named in the
 * reason. The writes caught on it are fenced and re-sent as for any other
 * failure. Coming back is left to the normal reconnect: a link that is up
 * again is not yet a path that works.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "lu_internal.h"

int lu_link_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The interface a connected socket leaves by: the path's configured
 * interface= if any; for an IPv6 link-local address, its scope; else the
 * interface holding the socket's local address. An address on a loopback
 * interface (a route's src= on lo or a dummy) says nothing about the link
 * the packets take: unknown then. Returns the index (name in `name`) or 0.
 */
unsigned lu_link_of_socket(int sockfd, const char *configured, char *name, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ifaddrs *ifa, *i;
	unsigned idx = 0;

	name[0] = '\0';
	if (configured && configured[0]) {
		idx = if_nametoindex(configured);
		if (idx)
			snprintf(name, len, "%s", configured);
		return idx;
	}
	if (sockfd < 0 || getsockname(sockfd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&ss)->sin6_scope_id) {
		idx = ((struct sockaddr_in6 *)&ss)->sin6_scope_id;
		if (!if_indextoname(idx, name))
			return 0;
		return idx;
	}
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i && !idx; i = i->ifa_next) {
		if (i->ifa_flags & IFF_LOOPBACK)
			continue;
		if (!i->ifa_addr || i->ifa_addr->sa_family != ss.ss_family || !i->ifa_name)
			continue;
		if (ss.ss_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
		    ((struct sockaddr_in *)&ss)->sin_addr.s_addr)
			idx = if_nametoindex(i->ifa_name);
		else if (ss.ss_family == AF_INET6 &&
			 !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
				 &((struct sockaddr_in6 *)&ss)->sin6_addr, sizeof(struct in6_addr)))
			idx = if_nametoindex(i->ifa_name);
		if (idx)
			snprintf(name, len, "%s", i->ifa_name);
	}
	freeifaddrs(ifa);
	return idx;
}

/* One link message: fail the paths whose interface it says is down. */
static void link_msg(struct lbfo_lu *lu, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	bool down;
	int i;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	/* AF_BRIDGE messages speak of bridge ports (a DELLINK when a port
	 * leaves its bridge, the link still up): not of the link. */
	if (ifi->ifi_family != AF_UNSPEC)
		return;
	down = h->nlmsg_type == RTM_DELLINK || !(ifi->ifi_flags & IFF_UP) ||
	       !(ifi->ifi_flags & IFF_RUNNING);
	if (!down || ifi->ifi_index <= 0)
		return;
	for (i = 0; i < lu->npaths; i++) {
		struct lu_path *p = &lu->paths[i];

		if (p->ifindex != (unsigned)ifi->ifi_index || p->s.st != LBFO_SS_UP || p->s.failing)
			continue;
		lu->link_downs++;
		lbfo_session_fail(&p->s, "link %s %s (rtnetlink)", p->ifname,
			     h->nlmsg_type == RTM_DELLINK ? "removed" :
			     !(ifi->ifi_flags & IFF_UP) ? "down" : "lost its carrier");
	}
}

void lu_link_input(struct lbfo_lu *lu)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));
	int round;

	/* Bounded: a burst of link messages is read in a few rounds; the
	 * rest waits for the next poll. */
	for (round = 0; round < 16; round++) {
		ssize_t n = recv(lu->link_fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *h;

		if (n < 0) {
			if (errno == ENOBUFS) /* overrun: messages lost, carry on */
				continue;
			return;
		}
		if (n == 0)
			return;
		for (size_t off = 0; off + sizeof(*h) <= (size_t)n;) {
			h = (const struct nlmsghdr *)(buf + off);
			if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > (size_t)n - off)
				break; /* malformed: drop the rest */
			if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK)
				link_msg(lu, h);
			off += NLMSG_ALIGN(h->nlmsg_len);
		}
	}
}
