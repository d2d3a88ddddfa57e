/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by cfgtable.c (values, tables), cfgload.c (files), cfgdoc.c
 * (the reference). Not for users of cfgtable.h. */
#ifndef LBFO_CFGTABLE_INT_H
#define LBFO_CFGTABLE_INT_H

#include "cfgtable.h"

#define LBFO_CFG_NAME_MAX_DEFAULT 32

/* Parse v as key k into obj (ctx->index is set for list items). */
int lbfo_cfg__parse_value(const struct lbfo_cfg_key *k, struct lbfo_cfg_ctx *ctx, void *obj,
			  const char *v, char *why, size_t len);
/* The key `key` names in sec: its name, its alias, or a prefix key's
 * prefix (*suffix: what follows it). */
const struct lbfo_cfg_key *lbfo_cfg__find_key(const struct lbfo_cfg_section *sec,
					      const char *key, const char **suffix);
/* "a, b, c": the section's keys; "[router], [service NAME] or [node NAME]". */
void lbfo_cfg__key_names(const struct lbfo_cfg_section *sec, char *buf, size_t len);
void lbfo_cfg__section_names(const struct lbfo_cfg_table *t, char *buf, size_t len);
/* "1500 ms", "2 s". */
void lbfo_cfg__ms_text(uint64_t ms, char *buf, size_t len);

#endif
