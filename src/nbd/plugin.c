/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nbdkit-lbfo-plugin: serve a host's iSCSI LUs, each reached over several
 * paths and balanced / failed over by lbfo, as NBD exports.
 *
 *   nbdkit lbfo portal=198.18.1.2 portal=198.18.2.2              # the whole SAN
 *   nbdkit lbfo portal=198.18.1.2 portal=198.18.2.2 target=IQN lun=1   # one LU
 *   nbdkit lbfo config=/etc/lbfo/lbfo.conf
 *
 * Before nbdkit forks, discovery finds every target the portals offer and
 * every LUN (or the ones target= and lun= name) and groups the paths by
 * the LU's identity (src/san). Each LU is an export named by its WWID;
 * the default export ("") is served when there is exactly one LU, so the
 * one-LU command line works as it always did.
 *
 * Thread model: parallel. Every request is handed to the host's loop
 * thread and the nbdkit worker waits for its completion; an LU keeps all
 * connections' requests in one queue, so multi-conn is safe (a flush
 * covers the LU's cache, whichever path carries it).
 *
 * Shutdown: nbdkit waits for the plugin calls in flight before it
 * unloads, and a request may wait for a path up to no_path_timeout. A
 * watcher thread sleeps in nbdkit_nanosleep(), which returns early only
 * when the server shuts down (the thread belongs to no connection); it
 * then fails every request of every LU at once, so nbdkit exits within
 * moments of SIGTERM whatever the paths are doing.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "discover.h"
#include "lbfo/host.h"
#include "notify.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct lbfo_host_config cfg;
static struct lbfo_san *san;          /* discovery's result, until the host takes it */
static struct lbfo_host *host;
static bool use_syslog;
static pthread_t watcher;
static bool watching;
static volatile bool unloading;

static void lbfo_log(int level, const char *msg, void *opaque)
{
	static const char *const names[] = {
		[LBFO_LOG_ERR] = "error", [LBFO_LOG_WARNING] = "warning",
		[LBFO_LOG_NOTICE] = "notice", [LBFO_LOG_INFO] = "info",
		[LBFO_LOG_DEBUG] = "debug",
	};

	(void)opaque;
	if (use_syslog) {
		syslog(level, "%s", msg);
		return;
	}
	if (level >= LBFO_LOG_DEBUG) {
		nbdkit_debug("%s", msg);
		return;
	}
	fprintf(stderr, "nbdkit: lbfo: %s: %s\n",
		level >= LBFO_LOG_ERR && level <= LBFO_LOG_DEBUG ? names[level] : "log", msg);
}

/* Generated from the configuration table (build/src/nbd/config_help.c). */
extern const char lbfo_plugin_config_help[];

static void lbfo_load(void)
{
	lbfo_host_config_defaults(&cfg);
	cfg.lu.log = lbfo_log;
}

/* ---- the command line, kept for a reload --------------------------------------- */

static struct { char *key, *value; } *args;
static int nargs;

static int remember(const char *key, const char *value)
{
	void *na = realloc(args, (size_t)(nargs + 1) * sizeof(*args));

	if (!na) {
		nbdkit_error("out of memory");
		return -1;
	}
	args = na;
	args[nargs].key = strdup(key);
	args[nargs].value = strdup(value);
	if (!args[nargs].key || !args[nargs].value) {
		nbdkit_error("out of memory");
		return -1;
	}
	nargs++;
	return 0;
}

static int apply_key(struct lbfo_host_config *c, const char *key, const char *value, char *err,
		     size_t errlen)
{
	if (!strcmp(key, "config"))
		return lbfo_host_config_load(c, value, err, errlen);
	return lbfo_host_config_set(c, key, value, err, errlen);
}

/* lbfoctl reload, SIGHUP: the same command line, config= files read
 * again (on the host's loop thread). */
static int reread(void *arg, struct lbfo_host_config *c, char *err, size_t errlen)
{
	int i;

	(void)arg;
	for (i = 0; i < nargs; i++)
		if (apply_key(c, args[i].key, args[i].value, err, errlen) < 0)
			return -1;
	return lbfo_host_config_check(c, err, errlen);
}

static void on_sighup(int sig)
{
	(void)sig;
	if (host)
		lbfo_host_request_reload(host);
}

static int lbfo_config(const char *key, const char *value)
{
	char err[LBFO_ERR_MAX];
	int rc;

	if (!strcmp(key, "log")) {
		if (!strcmp(value, "syslog")) {
			use_syslog = true;
			openlog("nbdkit-lbfo", LOG_PID, LOG_DAEMON);
			return 0;
		}
		if (!strcmp(value, "stderr")) {
			use_syslog = false;
			return 0;
		}
		nbdkit_error("invalid value '%s' for 'log': expected stderr or syslog", value);
		return -1;
	}
	rc = apply_key(&cfg, key, value, err, sizeof(err));
	if (rc < 0) {
		nbdkit_error("%s", err);
		return -1;
	}
	return remember(key, value);
}

static int lbfo_config_complete(void)
{
	char err[LBFO_ERR_MAX];

	if (lbfo_host_config_check(&cfg, err, sizeof(err)) < 0) {
		nbdkit_error("%s", err);
		return -1;
	}
	return 0;
}

/* Before nbdkit forks: find the SAN (every path that answers, every LU,
 * each LU's paths leading to it alone). Threads start later. */
static int lbfo_get_ready(void)
{
	static char err[4096];

	if (lbfo_nbd_discover(&cfg, &san, err, sizeof(err)) < 0) {
		nbdkit_error("%s", err);
		return -1;
	}
	return 0;
}

/* Wakes only when the server shuts down (or every second to see whether
 * the plugin is being unloaded without a shutdown). */
static void *watch_shutdown(void *arg)
{
	(void)arg;
	while (!unloading) {
		if (nbdkit_nanosleep(1, 0) < 0) {
			lbfo_host_shutdown(host, "nbdkit is shutting down");
			break;
		}
	}
	return NULL;
}

static int lbfo_after_fork(void)
{
	char err[LBFO_ERR_MAX];
	int lus_ready, lus, up, total;

	host = lbfo_host_start(&cfg, san, err, sizeof(err));
	san = NULL; /* the host has it */
	if (!host) {
		nbdkit_error("%s", err);
		return -1;
	}
	watching = pthread_create(&watcher, NULL, watch_shutdown, NULL) == 0;
	/* SIGHUP reloads the configuration (nbdkit's own handler would quit:
	 * a service's reload must not stop it; SIGTERM still does). */
	lbfo_host_set_reloader(host, reread, NULL);
	{
		struct sigaction sa = { .sa_handler = on_sighup, .sa_flags = SA_RESTART };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGHUP, &sa, NULL);
	}
	/* Serve once the paths that answered discovery are logged in (or
	 * the login timeout passes; the rest come up in the background). */
	lbfo_host_wait_ready(host, cfg.lu.login_timeout_ms);
	/* Under systemd (Type=notify): serving from now on (notify.h). */
	lbfo_host_counts(host, &lus_ready, &lus, &up, &total);
	if (lbfo_sd_notify_ready(lus_ready, lus, up, total, cfg.lu.login_timeout_ms) < 0)
		fprintf(stderr, "nbdkit: lbfo: warning: READY=1 to $NOTIFY_SOCKET: %s\n",
			strerror(errno));
	return 0;
}

static void lbfo_cleanup(void)
{
	(void)lbfo_sd_notify("STOPPING=1");
	unloading = true;
	if (watching)
		pthread_join(watcher, NULL);
	watching = false;
	{
		struct lbfo_host *h = host;

		host = NULL; /* a late SIGHUP finds none */
		lbfo_host_stop(h);
	}
	lbfo_san_free(san);
	san = NULL;
	lbfo_host_config_free(&cfg);
	while (nargs > 0) {
		nargs--;
		free(args[nargs].key);
		free(args[nargs].value);
	}
	free(args);
	args = NULL;
}

/* ---- exports ------------------------------------------------------------------- */

static void add_export(void *arg, const char *name, const char *description)
{
	nbdkit_add_export(arg, name, description);
}

static int lbfo_list_exports(int readonly, int is_tls, struct nbdkit_exports *exports)
{
	(void)readonly, (void)is_tls;
	lbfo_host_list_exports(host, add_export, exports);
	return 0;
}

static void first_export(void *arg, const char *name, const char *description)
{
	const char **first = arg;

	(void)description;
	if (!*first)
		*first = nbdkit_strdup_intern(name);
}

/* The default export ("") is the only LU, when there is one. */
static const char *lbfo_default_export(int readonly, int is_tls)
{
	const char *name = NULL;

	(void)readonly, (void)is_tls;
	if (!lbfo_host_has_default(host)) {
		nbdkit_error("%s", lbfo_nbd_no_default);
		return NULL;
	}
	lbfo_host_list_exports(host, first_export, &name);
	return name;
}

/* One per NBD connection: its LU and its client context there. */
struct handle {
	struct lbfo_lu *lu;
	const struct lbfo_lu_ident *ident;
	int client;
};

static void *lbfo_open(int readonly)
{
	struct handle *h = malloc(sizeof(*h));
	const char *name = nbdkit_export_name();
	char err[LBFO_ERR_MAX];

	(void)readonly;
	if (!h || !name) {
		free(h);
		nbdkit_error("out of memory");
		return NULL;
	}
	h->lu = lbfo_host_open(host, name, err, sizeof(err));
	if (!h->lu) {
		free(h);
		nbdkit_error("%s", err);
		return NULL;
	}
	h->ident = lbfo_lu_identity(h->lu);
	h->client = lbfo_lu_client_open(h->lu);
	return h;
}

static void lbfo_close(void *handle)
{
	struct handle *h = handle;

	lbfo_lu_client_close(h->lu, h->client);
	lbfo_host_close(host, h->lu);
	free(h);
}

static int64_t lbfo_get_size(void *handle)
{
	/* lbfoctl resize changes it under a running server */
	return (int64_t)lbfo_lu_export_bytes(((struct handle *)handle)->lu);
}

static int lbfo_block_size(void *handle, uint32_t *minimum, uint32_t *preferred,
			   uint32_t *maximum)
{
	const struct lbfo_lu_ident *ident = ((struct handle *)handle)->ident;

	*minimum = ident->block_size;
	*preferred = ident->block_size > 4096 ? ident->block_size : 4096;
	if (ident->opt_xfer_blocks && ident->opt_xfer_blocks * ident->block_size > *preferred &&
	    ident->opt_xfer_blocks * ident->block_size <= (32u << 20))
		*preferred = ident->opt_xfer_blocks * ident->block_size;
	*maximum = 0xffffffff;
	return 0;
}

static int lbfo_can_write(void *handle) { (void)handle; return 1; }
static int lbfo_can_flush(void *handle) { (void)handle; return 1; }
static int lbfo_can_multi_conn(void *handle) { (void)handle; return 1; }
static int lbfo_can_zero(void *handle) { (void)handle; return 1; }

/* FUA as the LU has it: native with DPOFUA; a write-through LU (no WCE)
 * makes every write durable, so the flag costs nothing; otherwise nbdkit
 * emulates it with a flush after the write. */
static int lbfo_can_fua(void *handle)
{
	const struct lbfo_lu_ident *ident = ((struct handle *)handle)->ident;

	if (ident->dpofua || (ident->have_mode && !ident->wce))
		return NBDKIT_FUA_NATIVE;
	return NBDKIT_FUA_EMULATE;
}

/* UNMAP only where the Logical Block Provisioning VPD says LBPU (or,
 * without that page, READ CAPACITY(16) says provisioning is enabled). */
static int lbfo_can_trim(void *handle)
{
	const struct lbfo_lu_ident *ident = ((struct handle *)handle)->ident;

	return ident->have_b2 ? ident->lbpu : ident->lbpme;
}

static int do_io(void *handle, enum lbfo_io_type type, void *buf, uint32_t count,
		 uint64_t offset, uint32_t flags, const char *what)
{
	struct lbfo_io io;
	int rc;

	lbfo_io_init(&io, type, offset, count, buf, (flags & NBDKIT_FLAG_FUA) != 0);
	io.may_trim = (flags & NBDKIT_FLAG_MAY_TRIM) != 0;
	io.client = ((struct handle *)handle)->client;
	lbfo_lu_submit(((struct handle *)handle)->lu, &io);
	rc = lbfo_io_wait(&io);
	lbfo_io_fini(&io);
	if (rc == -EOPNOTSUPP && type == LBFO_IO_ZERO) {
		/* WRITE SAME refused: nbdkit writes zeroes with pwrite. */
		nbdkit_set_error(EOPNOTSUPP);
		return -1;
	}
	if (rc < 0) {
		nbdkit_set_error(-rc);
		nbdkit_error("%s of %u bytes at offset %llu failed: %s", what, count,
			     (unsigned long long)offset, strerror(-rc));
		return -1;
	}
	return 0;
}

static int lbfo_pread(void *handle, void *buf, uint32_t count, uint64_t offset,
		      uint32_t flags)
{
	return do_io(handle, LBFO_IO_READ, buf, count, offset, flags, "read");
}

static int lbfo_pwrite(void *handle, const void *buf, uint32_t count,
		       uint64_t offset, uint32_t flags)
{
	return do_io(handle, LBFO_IO_WRITE, (void *)buf, count, offset, flags, "write");
}

static int lbfo_flush(void *handle, uint32_t flags)
{
	return do_io(handle, LBFO_IO_FLUSH, NULL, 0, 0, flags, "flush");
}

static int lbfo_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	if (do_io(handle, LBFO_IO_TRIM, NULL, count, offset, 0, "trim") < 0)
		return -1;
	/* UNMAP has no FUA bit: honour FUA with a cache flush. */
	return flags & NBDKIT_FLAG_FUA ? do_io(handle, LBFO_IO_FLUSH, NULL, 0, 0, 0, "flush") : 0;
}

static int lbfo_zero(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	if (do_io(handle, LBFO_IO_ZERO, NULL, count, offset, flags & NBDKIT_FLAG_MAY_TRIM,
		  "zero") < 0)
		return -1;
	/* WRITE SAME (16) as issued has no FUA: flush instead. */
	return flags & NBDKIT_FLAG_FUA ? do_io(handle, LBFO_IO_FLUSH, NULL, 0, 0, 0, "flush") : 0;
}

static struct nbdkit_plugin plugin = {
	.name = "lbfo",
	.longname = "lbfo: a host's iSCSI LUs, each over several paths, balanced and failed over",
	.version = "0.1.0",
	.description = "Serves every iSCSI LU the portals lead to (or the one named), each "
		       "reached over several network paths; spreads commands over them and "
		       "keeps I/O going when a path fails.",
	.load = lbfo_load,
	.config = lbfo_config,
	.config_complete = lbfo_config_complete,
	.config_help = lbfo_plugin_config_help,
	.magic_config_key = "portal",
	.get_ready = lbfo_get_ready,
	.after_fork = lbfo_after_fork,
	.cleanup = lbfo_cleanup,
	.list_exports = lbfo_list_exports,
	.default_export = lbfo_default_export,
	.open = lbfo_open,
	.close = lbfo_close,
	.get_size = lbfo_get_size,
	.block_size = lbfo_block_size,
	.can_write = lbfo_can_write,
	.can_flush = lbfo_can_flush,
	.can_fua = lbfo_can_fua,
	.can_multi_conn = lbfo_can_multi_conn,
	.can_trim = lbfo_can_trim,
	.can_zero = lbfo_can_zero,
	.pread = lbfo_pread,
	.pwrite = lbfo_pwrite,
	.flush = lbfo_flush,
	.trim = lbfo_trim,
	.zero = lbfo_zero,
	.errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
