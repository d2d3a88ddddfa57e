/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host: a whole SAN served by one process, as dm-multipath serves a
 * host's. Discovery finds every target the portals offer (SendTargets),
 * every LUN of each (REPORT LUNS), reads what each LUN says about itself
 * and groups the paths by the LU's identity (VPD 0x83 / 0x80), not by
 * target name or LUN number. The host then logs in once per (target,
 * portal) — one path session carrying all of the target's LUs — and
 * serves each LU as one export, named by its WWID.
 *
 * Loop contract (as the LU's): lbfo_host_create makes everything and runs
 * nothing; pollfds / service / next_timeout drive it (the unit tests do,
 * on a fake clock); lbfo_host_start does that on one thread. All LUs and
 * all sessions share that one loop: a fixed number of threads whatever
 * the size of the SAN.
 *
 * Threads: the loop owns everything. The functions marked "any thread"
 * take the host's lock.
 */
#ifndef LBFO_HOST_H
#define LBFO_HOST_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lbfo/lu.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LBFO_MAX_LU_SECTIONS 1024
#define LBFO_LU_SECTION_KEYS 32
#define LBFO_MAX_MATCHES 256

/* One [lu NAME] section: an LU's settings over the defaults. */
struct lbfo_lu_settings {
	char name[LBFO_STR_MAX];          /* the LU's WWID or export name */
	char alias[LBFO_NAME_MAX];
	int line;                         /* of its header */
	int nkv;
	struct {
		char key[2 * LBFO_NAME_MAX];
		char value[LBFO_STR_MAX];
		int line;
	} kv[LBFO_LU_SECTION_KEYS];
};

/* A blacklist entry: a WWID glob, or vendor and product globs. */
struct lbfo_match {
	char wwid[LBFO_STR_MAX];
	char vendor[16], product[32];
};

struct lbfo_host_config {
	/* First: the global keys, the portals (paths) and every LU's
	 * defaults; target= and lun= narrow what is served. */
	struct lbfo_lu_config lu;
	/* [discovery]: discover again this often (0: only when a target
	 * says its LUNs changed, or an operator asks: lbfoctl rescan), and
	 * SendTargets' own CHAP (empty: the sessions'). */
	uint32_t rescan_interval_ms;
	char discovery_chap_user[LBFO_STR_MAX];
	char discovery_chap_password[LBFO_STR_MAX];
	/* [lu NAME] sections, [blacklist], [blacklist_exceptions] */
	struct lbfo_lu_settings *lus;
	int nlus;
	struct lbfo_match *blacklist, *exceptions;
	int nblacklist, nexceptions;
};

void lbfo_host_config_defaults(struct lbfo_host_config *c);
void lbfo_host_config_free(struct lbfo_host_config *c);
/* A deep copy (dst's arrays are its own): 0, or -1 out of memory. */
int lbfo_host_config_copy(struct lbfo_host_config *dst, const struct lbfo_host_config *src);
/* One key=value of the command line: the LU's keys (lbfo_lu_config_set,
 * portal= adds a path), rescan_interval=, discovery_chap_user=,
 * discovery_chap_password=. 0, or -1 with err naming the key. */
int lbfo_host_config_set(struct lbfo_host_config *c, const char *key, const char *value,
			 char *err, size_t errlen);
/* An INI file: [lu], [path NAME], [policy], [discovery], [lu NAME],
 * [blacklist], [blacklist_exceptions]. Errors name file, line, section
 * and key; an [lu NAME] key that does not apply (a path it names, a
 * policy parameter) is found once the whole file is read. */
int lbfo_host_config_load(struct lbfo_host_config *c, const char *file, char *err,
			  size_t errlen);
int lbfo_host_config_check(const struct lbfo_host_config *c, char *err, size_t errlen);
/* An LU's configuration: the defaults with its [lu NAME] section (by WWID
 * or export name) over them, and its alias. */
int lbfo_host_lu_config(const struct lbfo_host_config *c, const char *wwid, const char *export,
			struct lbfo_lu_config *out, char *alias, size_t alen, char *err,
			size_t errlen);
/* The blacklist says no (and no exception yes): why, in why. */
bool lbfo_host_blacklisted(const struct lbfo_host_config *c, const struct lbfo_lu_ident *id,
			   char *why, size_t len);
const char *lbfo_host_config_help(void);
void lbfo_host_config_markdown(FILE *f);
void lbfo_host_config_roff(FILE *f);
int lbfo_host_config_table_check(char *err, size_t errlen);

/* ---- discovery (synchronous, bounded; before the loop runs) ------------------------ */

struct lbfo_san;

/*
 * Find the SAN: targets (SendTargets on every portal, or the one
 * configured), LUNs (REPORT LUNS, or the one configured), each LUN's
 * identity through each portal, the LUs grouped by identity, and for
 * each target what the reinstatement check saw. Portals that do not
 * answer are reported in warn (one line each) and kept (they are logged
 * in later); none answering is an error naming each. With target= and
 * lun= both given, every path must lead to the same LU (else an error
 * naming two paths and why); otherwise paths whose identity matches but
 * whose block size differs are refused (a warn line naming both). No LU
 * found is an error. Returns 0 with *out, or -1 with err.
 */
int lbfo_san_discover(const struct lbfo_host_config *c, const struct lbfo_lu_env *env,
		      struct lbfo_san **out, char *warn, size_t warnlen, char *err,
		      size_t errlen);
int lbfo_san_count(const struct lbfo_san *s);
int lbfo_san_ntargets(const struct lbfo_san *s);
const char *lbfo_san_target(const struct lbfo_san *s, int t);
/* The identity of LU k (0 <= k < count). */
const struct lbfo_lu_ident *lbfo_san_lu(const struct lbfo_san *s, int k);
void lbfo_san_free(struct lbfo_san *s);

/* ---- the host -------------------------------------------------------------------- */

struct lbfo_host;

/* The targets and LUs of san (taken over: freed by the host), not running
 * yet. The LUs' locks are taken (a second instance on an LU is refused:
 * with one LU an error, with several that LU is left out, with a warning).
 * env: the transport (tests); NULL for libiscsi. no_surface: no control
 * socket, metrics or link watch (unit tests). */
struct lbfo_host *lbfo_host_create(const struct lbfo_host_config *c, struct lbfo_san *san,
				   const struct lbfo_lu_env *env, bool no_surface,
				   uint64_t now, char *err, size_t errlen);
void lbfo_host_destroy(struct lbfo_host *h);
int lbfo_host_pollfds(struct lbfo_host *h, struct pollfd *pfd, int max);
void lbfo_host_service(struct lbfo_host *h, const struct pollfd *pfd, int n, uint64_t now);
/* Milliseconds until the host needs service again (0: at once). */
int lbfo_host_next_timeout(struct lbfo_host *h, uint64_t now);

/* Create and run on a thread of its own; stop joins it and destroys. */
struct lbfo_host *lbfo_host_start(const struct lbfo_host_config *c, struct lbfo_san *san,
				  char *err, size_t errlen);
/* The same over env's transport and poll (tests), without the operator's
 * surface. */
struct lbfo_host *lbfo_host_start_env(const struct lbfo_host_config *c, struct lbfo_san *san,
				      const struct lbfo_lu_env *env, char *err, size_t errlen);
void lbfo_host_stop(struct lbfo_host *h);

/* The server is going away: every session is given up abortively, every
 * I/O of every LU fails with ESHUTDOWN now and later. Any thread. */
void lbfo_host_shutdown(struct lbfo_host *h, const char *why);
/* Wait until every LU has as many paths carrying I/O as answered at
 * discovery (at least one), or timeout. Returns how many LUs are ready.
 * Any thread. */
int lbfo_host_wait_ready(struct lbfo_host *h, uint32_t timeout_ms);
/* LUs ready (lbfo_host_wait_ready's sense) of all, paths up of all. Any thread. */
void lbfo_host_counts(struct lbfo_host *h, int *lus_ready, int *lus, int *up, int *total);

/* ---- a guest on the loop ------------------------------------------------------------ */

/*
 * Another event source served on the host's loop thread under its lock:
 * lbfo-nbd's client connections, so that a request is read, dispatched
 * and answered without changing threads. fd (an epoll set, say) is
 * polled for POLLIN; service runs after the sessions were serviced
 * (answers taken) and before the LUs (whose service dispatches what the
 * guest submitted with lbfo_lu_submit_held); flush runs last, after
 * everything the LUs sent went out.
 */
struct lbfo_host_guest {
	int fd;
	void (*service)(void *arg, bool readable, uint64_t now);
	void (*flush)(void *arg, uint64_t now);
	void *arg;
};
/* Any thread; NULL takes the guest off the loop. */
void lbfo_host_set_guest(struct lbfo_host *h, const struct lbfo_host_guest *g);

/* ---- reloading the configuration ----------------------------------------------- */

/* Read the configuration again into c (defaults already in it): 0, or -1
 * with err (the running configuration is then kept). */
typedef int (*lbfo_reload_fn)(void *arg, struct lbfo_host_config *c, char *err, size_t errlen);
/* Who can read it again (the plugin: its command line and config= file);
 * without one, lbfoctl reload is refused. Any thread. */
void lbfo_host_set_reloader(struct lbfo_host *h, lbfo_reload_fn fn, void *arg);
/* Ask the loop for a reload: async-signal-safe (a SIGHUP handler). */
void lbfo_host_request_reload(struct lbfo_host *h);

/* ---- exports (any thread) ---------------------------------------------------------- */

/* Each LU's export: its name (the WWID, see docs/san.md) and a
 * description (vendor, product, size, paths up / total); an LU with an
 * alias is listed under its alias too. Returns how many exports. */
typedef void (*lbfo_export_fn)(void *arg, const char *name, const char *description);
int lbfo_host_list_exports(struct lbfo_host *h, lbfo_export_fn fn, void *arg);
/* The default export ("") is served only when there is exactly one LU. */
bool lbfo_host_has_default(struct lbfo_host *h);
/* Open an export by name (WWID, alias, or "" for the only LU): the LU, or
 * NULL with err (no such export; removed from the SAN). */
struct lbfo_lu *lbfo_host_open(struct lbfo_host *h, const char *name, char *err, size_t errlen);
void lbfo_host_close(struct lbfo_host *h, struct lbfo_lu *lu);

#ifdef __cplusplus
}
#endif
#endif
