/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The interface a path's socket leaves by, for the link watch: the host
 * (src/san/linkwatch.c) listens to the kernel's rtnetlink link messages
 * and fails the sessions that leave by an interface that went down, at
 * once rather than after the liveness timeout (target.c notes the
 * interface when a session comes up).
 */
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "lu_internal.h"

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
