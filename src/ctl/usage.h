/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lbfoctl's commands, from the daemons' tables (src/common/ctlcmds.h): its
 * usage, and which daemon knows a request. lbfoctl adds only what is its
 * own: watch, and waiting after path drain.
 */
#ifndef LBFO_CTL_USAGE_H
#define LBFO_CTL_USAGE_H

#include <stdbool.h>
#include <stdio.h>

#include "ctlcmds.h"

/* A request as lbfoctl knows it: its entries in the two tables (one of
 * them may be NULL). */
struct ctl_verb {
	const char *name;                 /* "path fail" */
	const struct lbfo_ctl_desc *lu;   /* the storage LU's entry, or NULL */
	const struct lbfo_ctl_desc *rt;   /* the router's entry, or NULL */
};

/* The verb whose name's words begin words[0..n): the longest such, with
 * *used its number of words. Returns false when none. */
bool ctl_verb_find(char **words, int n, struct ctl_verb *v, int *used);
/* The second words of the verbs whose first word is `first` ("fail,
 * restore or drain"), for a message; "" when there are none. */
void ctl_verb_next_words(const char *first, char *buf, size_t len);
/* Whether the verb's arguments take n words (either table's synopsis). */
bool ctl_verb_arity_ok(const struct ctl_verb *v, int n);
/* Its synopsis as lbfoctl spells it ("[json]" is "[--json]"). */
void ctl_verb_synopsis(const struct ctl_verb *v, char *buf, size_t len);
/* Takes the optional json word (its synopsis has "[json]"). */
bool ctl_verb_json(const struct ctl_verb *v);
/* The shortest start of its name no verb of the other kind begins with
 * ('policy' for policy set, 'path drain'): how messages name it. */
int ctl_verb_short(const struct ctl_verb *v);

void ctl_usage(FILE *f);

#endif
