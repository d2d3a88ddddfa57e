/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sd_notify protocol in a few lines of socket code (notify.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

int lbfo_sd_notify(const char *state)
{
	const char *where = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	ssize_t sent;
	int fd, saved;

	if (!where || !*where)
		return 0;
	n = strlen(where);
	if (!state || (where[0] != '/' && where[0] != '@') || n < 2 ||
	    n > sizeof(sa.sun_path) - (where[0] == '/')) {
		errno = EINVAL;
		return -1;
	}
	memcpy(sa.sun_path, where, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: the length ends the name */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	saved = errno;
	close(fd);
	if (sent < 0) {
		errno = saved;
		return -1;
	}
	if ((size_t)sent != strlen(state)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int lbfo_sd_notify_ready(int lus_ready, int lus, int up, int total, uint32_t deadline_ms)
{
	char msg[320];
	int n;

	/* Said once, so it says what held at start: "started with". */
	n = snprintf(msg, sizeof(msg), "READY=1\nSTATUS=started with %d of %d LU%s ready, %d of %d "
		     "paths up", lus_ready, lus, lus == 1 ? "" : "s", up, total);
	if (lus_ready < lus)
		snprintf(msg + n, sizeof(msg) - (size_t)n,
			 ": the login deadline (%u ms) passed first; the rest keep trying in "
			 "the background", deadline_ms);
	else if (up < total)
		snprintf(msg + n, sizeof(msg) - (size_t)n,
			 "; the others did not answer at start-up and keep trying in the "
			 "background");
	return lbfo_sd_notify(msg);
}
