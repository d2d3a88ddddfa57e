/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Between config.c (the table, the values) and config_check.c (what is
 * checked and derived once the whole file is read). */
#ifndef LBFO_ROUTER_CONFIG_INT_H
#define LBFO_ROUTER_CONFIG_INT_H

#include "cfgtable.h"
#include "config.h"

extern const struct lbfo_cfg_table rt_config_table;

/* The table's cross-checks (lbfo_cfg_table.check). */
void rt_config_check(struct lbfo_cfg_checker *chk, void *user);
/* After a file passed every check: drop nodes no section declares, ports
 * per service, session groups, defaults that depend on other keys. */
void rt_config_finish(struct rt_config *c);

#endif
