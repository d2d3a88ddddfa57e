/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The multipath LU (the seeds' "filter driver"): one iSCSI logical unit
 * reached over several paths (one iSCSI session each, the "miniports"),
 * balanced and failed over by a src/core team.
 *
 * Threads: one event-loop thread per LU owns every libiscsi context, the
 * team and all state. Any thread may submit I/O with lbfo_lu_submit() and
 * wait for it with lbfo_io_wait(); lbfo_lu_status() copies a consistent
 * snapshot out under the LU lock.
 */
#ifndef LBFO_LU_H
#define LBFO_LU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lbfo/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LBFO_STR_MAX 256
#define LBFO_DEFAULT_CONTROL "/run/lbfo/lbfo.sock"
#define LBFO_MAX_POLICY_KV 32

struct lbfo_path_config {
	char name[LBFO_NAME_MAX];
	char portal[LBFO_STR_MAX];     /* host[:port], port 3260 by default */
	uint32_t read_share_bp;        /* 0 = even */
	uint32_t write_share_bp;
	uint32_t weight;               /* 0 = 1 */
	/* Local network interface the path leaves through: its counters
	 * (/sys/class/net/IF/statistics) become the path's DataPathBytes
	 * for dynamic-share, so other teams' and foreign traffic count. */
	char interface[LBFO_NAME_MAX];
	char chap_user[LBFO_STR_MAX];  /* empty = LU default */
	char chap_password[LBFO_STR_MAX];
	char mutual_user[LBFO_STR_MAX];
	char mutual_password[LBFO_STR_MAX];
};

struct lbfo_lu_config {
	char target[LBFO_STR_MAX];     /* target IQN (required) */
	int lun;
	char initiator[LBFO_STR_MAX];  /* initiator IQN (default derived) */
	char chap_user[LBFO_STR_MAX];
	char chap_password[LBFO_STR_MAX];
	char mutual_user[LBFO_STR_MAX];
	char mutual_password[LBFO_STR_MAX];
	bool header_digest;            /* CRC32C header digest */
	bool link_watch;               /* fail a path when its interface goes down */

	char policy[LBFO_NAME_MAX];
	char policy_keys[LBFO_MAX_POLICY_KV][LBFO_NAME_MAX];
	char policy_values[LBFO_MAX_POLICY_KV][LBFO_NAME_MAX];
	int npolicy_kv;

	enum lbfo_failback failback;
	uint64_t failback_stable_ns;
	uint32_t max_outstanding;      /* per LU (claim 11) */
	uint32_t max_transfer;         /* bytes per command, 0 = target's */

	/* Timers, milliseconds. */
	uint32_t no_path_timeout_ms;   /* queue with no path, then EIO */
	uint32_t nop_interval_ms;      /* NOP-Out keepalive period */
	uint32_t nop_timeout_ms;       /* no sign of life for this long = dead */
	uint32_t cmd_timeout_ms;       /* one command may take this long */
	uint32_t login_timeout_ms;
	uint32_t reconnect_min_ms;     /* backoff after a failure */
	uint32_t reconnect_max_ms;
	uint32_t flap_window_ms;       /* failing again within this = flapping */
	uint32_t flap_hold_max_ms;     /* longest hold-down of a flapping path */

	struct lbfo_path_config paths[LBFO_MAX_MEMBERS];
	int npaths;

	/* Control socket for lbfoctl ("none": no socket). control_set: the
	 * user chose it, so a busy one is an error rather than a warning. */
	char control[LBFO_STR_MAX];
	bool control_set;
	/* Prometheus metrics over HTTP on IPV4:PORT (empty: off). */
	char metrics_listen[64];

	/* When set, the status JSON is rewritten (atomically) this often. */
	char status_file[LBFO_STR_MAX];
	uint32_t status_interval_ms;

	/* Events (path failed / restored, fencing, ...) are reported here;
	 * NULL prints to stderr. Called on the loop thread. */
	void (*log)(int level, const char *msg, void *opaque);
	void *log_opaque;
};

/* Defaults for everything (no paths, no target). */
void lbfo_lu_config_defaults(struct lbfo_lu_config *c);

/*
 * Set one configuration key, as given on the nbdkit command line or in
 * an INI file. `path` selects a path's section (NULL = LU level; an
 * unknown key at LU level that is not an LU key is a policy parameter if
 * policy_ok). Returns 0, or -1 with a message in err naming the key.
 */
int lbfo_lu_config_set(struct lbfo_lu_config *c, struct lbfo_path_config *path,
		       const char *key, const char *value, bool policy_ok,
		       char *err, size_t errlen);
/* Add a path from "host[:port]" (name "pN" unless given). */
struct lbfo_path_config *lbfo_lu_config_add_path(struct lbfo_lu_config *c,
						 const char *name,
						 const char *portal,
						 char *err, size_t errlen);
/* Read an INI file: [lu], [policy] and [path NAME] sections. Errors name
 * the file, line, section and key. */
int lbfo_lu_config_load(struct lbfo_lu_config *c, const char *file,
			char *err, size_t errlen);
/* Check required keys and consistency. */
int lbfo_lu_config_check(const struct lbfo_lu_config *c, char *err,
			 size_t errlen);
/* The help text for every key (printed by --help / nbdkit lbfo --help). */
extern const char lbfo_lu_config_help[];

enum lbfo_io_type {
	LBFO_IO_READ = 0,
	LBFO_IO_WRITE,
	LBFO_IO_FLUSH,
	LBFO_IO_TRIM,
	LBFO_IO_ZERO,
};

/* One client request. The caller owns it and its buffer until
 * lbfo_io_wait() returns. */
struct lbfo_io {
	enum lbfo_io_type type;
	uint64_t offset;
	uint32_t len;
	void *buf;
	bool fua;
	int client;                   /* per-client context index (FIG 7) */

	int result;                   /* 0 or a negative errno */
	/* internal */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	uint32_t pending;             /* sub-commands not yet finished */
	uint64_t submit_ns;
	struct lbfo_io *next;
};

void lbfo_io_init(struct lbfo_io *io, enum lbfo_io_type type, uint64_t offset,
		  uint32_t len, void *buf, bool fua);
int lbfo_io_wait(struct lbfo_io *io);
void lbfo_io_fini(struct lbfo_io *io);

struct lbfo_lu;

/* LU identity as read from the target. */
struct lbfo_lu_ident {
	char id[LBFO_STR_MAX];        /* "naa.6001...", "t10.IET ..." or "serial.X" */
	uint64_t blocks;
	uint32_t block_size;
	uint32_t max_xfer_blocks;     /* 0 = no limit given */
	bool unmap;                   /* LBPU: UNMAP supported */
	bool write_same;              /* WRITE SAME (16) supported */
};

/*
 * When no target is configured: SendTargets discovery on the portals, in
 * order, until one answers. Exactly one target offered: it is used (and
 * written into c->target). Several: an error listing them. None answers:
 * an error naming every portal and why. Returns 0 or -1.
 */
int lbfo_lu_discover_target(struct lbfo_lu_config *c, char *err, size_t errlen);

/*
 * Probe every portal synchronously (login, identity, logout) within the
 * login timeout. Fills *ident from the first path that answers. Paths
 * whose identity, size or block size differ are refused: error naming
 * both portals. Unreachable portals are reported in `warn` (one line
 * each) but are no error while one portal answers; when none does, the
 * error names every portal and why.
 */
int lbfo_lu_probe(const struct lbfo_lu_config *c, struct lbfo_lu_ident *ident,
		  char *warn, size_t warnlen, char *err, size_t errlen);

/* Create and start (event-loop thread, logins in the background). */
struct lbfo_lu *lbfo_lu_start(const struct lbfo_lu_config *c,
			      const struct lbfo_lu_ident *ident,
			      char *err, size_t errlen);
void lbfo_lu_stop(struct lbfo_lu *lu);
/* Per-client contexts (001 FIG 7: one context per host/connection): a
 * client opens one, tags its I/O with it (io->client) and closes it.
 * Returns an id >= 0, or -1 when all LBFO_MAX_CLIENTS are in use (the
 * client's I/O is then counted under no context). */
#define LBFO_MAX_CLIENTS 64
int lbfo_lu_client_open(struct lbfo_lu *lu);
void lbfo_lu_client_close(struct lbfo_lu *lu, int id);

/* Submit from any thread; completion via lbfo_io_wait(). */
void lbfo_lu_submit(struct lbfo_lu *lu, struct lbfo_io *io);
/* Wait until at least `n` paths are logged in, or timeout. Returns the
 * number logged in. */
int lbfo_lu_wait_paths(struct lbfo_lu *lu, int n, uint32_t timeout_ms);
const struct lbfo_lu_ident *lbfo_lu_identity(const struct lbfo_lu *lu);

/* Write a JSON status document (LU, policy, paths, counters). */
void lbfo_lu_status_json(struct lbfo_lu *lu, FILE *out);

/* Operator actions, executed on the loop thread; return 0 or -1 with err. */
int lbfo_lu_set_policy(struct lbfo_lu *lu, const char *policy,
		       const struct lbfo_kv *kv, size_t nkv, char *err,
		       size_t errlen);

/* Log levels (syslog's numbers). */
#define LBFO_LOG_ERR 3
#define LBFO_LOG_WARNING 4
#define LBFO_LOG_NOTICE 5
#define LBFO_LOG_INFO 6
#define LBFO_LOG_DEBUG 7

uint64_t lbfo_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif
