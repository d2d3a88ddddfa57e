/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Discovery as both NBD servers (the nbdkit plugin and lbfo-nbd) run and
 * report it before they serve.
 */
#ifndef LBFO_NBD_DISCOVER_H
#define LBFO_NBD_DISCOVER_H

#include "lbfo/host.h"

/* lbfo_san_discover, its report through cfg->lu.log: each warning line
 * (portals that did not answer: " (will retry)" when the SAN was found),
 * the targets SendTargets found, every LU. 0 with *san, or -1 with err. */
int lbfo_nbd_discover(const struct lbfo_host_config *cfg, struct lbfo_san **san, char *err,
		      size_t errlen);

/* The refusal of the default export ("") when there are several LUs,
 * as both servers word it. */
extern const char lbfo_nbd_no_default[];

#endif
