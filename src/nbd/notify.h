/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram of "KEY=VALUE\n..." lines to the unix socket named by
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). nbdkit 1.32
 * tells systemd nothing, so the plugin says READY=1 itself once the LUs'
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

/* READY=1 with a STATUS= line "started with R of N LUs ready, UP of TOTAL
 * paths up" (it is sent once: `lbfoctl status` has the paths now); when
 * an LU is not ready (fewer paths up than answered at discovery), that
 * the login deadline passed first, and when fewer paths than all are up,
 * that the rest keep trying. Returns what lbfo_sd_notify() returns. */
int lbfo_sd_notify_ready(int lus_ready, int lus, int up, int total, uint32_t deadline_ms);

#endif
