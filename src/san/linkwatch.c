/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Link watch: fail a path the moment the kernel says its interface went
 * down, instead of after the liveness timeout.
 *
 * An established TCP connection gets no error when its link goes down:
 * the kernel keeps the socket and retransmits into the void, so the path
 * layer would notice only when nop_timeout passes without a reply (500 ms
 * by default). The kernel does announce the link change on rtnetlink
 * (RTMGRP_LINK) at once. When a session comes up its target notes the
 * interface it leaves by (src/mpio/target.c); a link message for that
 * interface without IFF_UP or IFF_RUNNING (carrier) fails the session,
 * with the interface named in the reason, for every LU over it. The
 * writes caught on it are fenced and re-sent as for any other failure.
 * Coming back is left to the normal reconnect: a link that is up again is
 * not yet a path that works.
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "san_internal.h"

int host_link_open(void)
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

/* One link message: fail the sessions whose interface it says is down. */
static int link_msg(const struct nlmsghdr *h, struct lbfo_tgt **tgts, int ntgts)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	int i, n = 0;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	/* AF_BRIDGE messages speak of bridge ports (a DELLINK when a port
	 * leaves its bridge, the link still up): not of the link. */
	if (ifi->ifi_family != AF_UNSPEC)
		return 0;
	if (!(h->nlmsg_type == RTM_DELLINK || !(ifi->ifi_flags & IFF_UP) ||
	      !(ifi->ifi_flags & IFF_RUNNING)) || ifi->ifi_index <= 0)
		return 0;
	for (i = 0; i < ntgts; i++)
		n += lbfo_tgt_link_down(tgts[i], (unsigned)ifi->ifi_index,
					h->nlmsg_type == RTM_DELLINK ? "removed" :
					!(ifi->ifi_flags & IFF_UP) ? "down" : "lost its carrier");
	return n;
}

int host_link_input(int fd, struct lbfo_tgt **tgts, int ntgts)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct nlmsghdr))));
	int round, n = 0;

	/* Bounded: a burst of link messages is read in a few rounds; the
	 * rest waits for the next poll. */
	for (round = 0; round < 16; round++) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *h;

		if (len < 0) {
			if (errno == ENOBUFS) /* overrun: messages lost, carry on */
				continue;
			return n;
		}
		if (len == 0)
			return n;
		for (size_t off = 0; off + sizeof(*h) <= (size_t)len;) {
			h = (const struct nlmsghdr *)(buf + off);
			if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > (size_t)len - off)
				break; /* malformed: drop the rest */
			if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK)
				n += link_msg(h, tgts, ntgts);
			off += NLMSG_ALIGN(h->nlmsg_len);
		}
	}
	return n;
}
