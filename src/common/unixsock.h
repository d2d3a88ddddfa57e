/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control sockets of lbfo's daemons (the LU, the router). */
#ifndef LBFO_UNIXSOCK_H
#define LBFO_UNIXSOCK_H

#include <stddef.h>

/*
 * Listen on a unix socket at `path` for an operator: mode 0600,
 * non-blocking, close-on-exec, missing parent directories made. A socket
 * that answers a connect belongs to a live instance and is refused; one
 * that does not is left over from a dead one and is replaced. Returns the
 * listening fd, or -1 with a message naming the path in err.
 */
int lbfo_unix_listen(const char *path, int backlog, char *err, size_t errlen);

#endif
