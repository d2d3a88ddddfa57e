/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram of "KEY=VALUE\n..." lines to the unix socket named by
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). nbdkit 1.32
 * tells systemd nothing, so the plugin says READY=1 itself once the LU's
 * paths are up, and STOPPING=1 when it is unloaded.
 */
#ifndef LBFO_NBD_NOTIFY_H
#define LBFO_NBD_NOTIFY_H

#include <stdint.h>

/* Send `state` to $NOTIFY_SOCKET. 0 when sent, and 0 when the variable
 * is unset or empty (not started by systemd: nothing to do); -1 with
 * errno on failure (EINVAL: an address that is neither a path nor '@').
 * Thread-safe; the variable is left in place for later messages. */
int lbfo_sd_notify(const char *state);

/* READY=1 with a STATUS= line "started with UP of TOTAL paths up" (it is
 * sent once: `lbfoctl status` has the paths now); when fewer than `want`
 * (the paths that answered the start-up probe) came up, that the login
 * deadline passed first, and when fewer than all, that the rest keep
 * trying. Returns what lbfo_sd_notify() returns. */
int lbfo_sd_notify_ready(int up, int want, int total, uint32_t deadline_ms);

#endif
