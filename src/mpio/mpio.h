/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the layers above src/mpio (the host of src/san) use of an LU
 * beyond the public lbfo/lu.h: its part of the status document and of
 * the metrics, and the operator's actions on it (lbfoctl's requests).
 * All of it with the LU's lock held (lbfo_lu_mutex), on the loop thread.
 */
#ifndef LBFO_MPIO_H
#define LBFO_MPIO_H

#include <stdio.h>

#include "cfgtable.h"
#include "json.h"
#include "lbfo/lu.h"
#include "prom.h"

/* The LU's sections of a configuration file ([lu], [path NAME],
 * [policy]), for the host's table. */
extern const struct lbfo_cfg_section lbfo_lu_config_sections[3];

/* The LU's fields of its object in the status document (the caller opens
 * and closes the object, and may add fields of its own). */
void lbfo_lu_json_fields(struct lbfo_lu *lu, struct lbfo_json *j);
/* The LU in the text status. */
void lbfo_lu_text(struct lbfo_lu *lu, FILE *f);
/* The LUs' metric families, each once with every LU's samples. */
void lbfo_lus_metrics(struct lbfo_lu *const *lus, int n, struct lbfo_prom *p);

/* How many of the LU's paths carry I/O, of how many. */
int lbfo_lu_paths_ready(struct lbfo_lu *lu, int *total);
/* Nothing of the LU is waiting or in flight (it may be destroyed
 * without shutting its targets down). */
bool lbfo_lu_idle(const struct lbfo_lu *lu);
/* The LU's path over target t's path tpath, or -1. */
int lbfo_lu_path_over(const struct lbfo_lu *lu, const struct lbfo_tgt *t, int tpath);
/* A path's name (index < paths), and where it goes. */
const char *lbfo_lu_path_name(const struct lbfo_lu *lu, int path);
void lbfo_lu_path_info(const struct lbfo_lu *lu, int path, struct lbfo_tgt **tgt, int *tpath,
		       int *lun);

/* Operator's actions: 0, or -1 with err; a line of result to out. */
int lbfo_lu_op_policy(struct lbfo_lu *lu, const char *policy, int nkv, char **kv, FILE *out,
		      char *err, size_t errlen);
/* "PATH=R[/W]" percents; all or nothing. */
int lbfo_lu_op_shares(struct lbfo_lu *lu, int n, char **set, FILE *out, char *err,
		      size_t errlen);
enum lbfo_lu_path_op {
	LBFO_LU_PATH_OP_FAIL,         /* out for this LU; the session stays for others */
	LBFO_LU_PATH_OP_RESTORE,
	LBFO_LU_PATH_OP_DRAIN,
	LBFO_LU_PATH_OP_SESSION_OFF,  /* the operator takes the session out: noted */
};
int lbfo_lu_op_path(struct lbfo_lu *lu, enum lbfo_lu_path_op op, const char *path, FILE *out,
		    char *err, size_t errlen);
/* A reloaded configuration: what can change in a running LU does (the
 * policy and its parameters, shares and weights, no_path_timeout,
 * max_outstanding, failback): listed in applied; what cannot (fence,
 * max_transfer) in later, for the next start. Returns 1 when anything
 * differed (and logs it), 0 when nothing did. */
int lbfo_lu_reconfigure(struct lbfo_lu *lu, const struct lbfo_lu_config *c, char *applied,
			size_t alen, char *later, size_t llen);
/* Returns the number of waiting commands failed (queueing off). */
int lbfo_lu_op_queueing(struct lbfo_lu *lu, bool on);
/* Export the size the target reports now (lbfoctl resize). */
void lbfo_lu_op_resize(struct lbfo_lu *lu, FILE *out);

#endif
